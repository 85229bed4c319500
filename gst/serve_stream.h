// One stream served to many players (rtmppushsink mode=listener), between the thread that
// produces it and the I/O loops that send it.
//
//   producer (the sink's streaming thread)      players (each on its connection's I/O loop)
//   push(message) -> PlayCache::push -> item    subscribe(): PlayCache::join() + a waiting list
//                    appended to every          take(): the items waiting, in order
//                    player's waiting list,     unsubscribe()
//                    its loop woken once
//
// Items are shared (rtmp::SharedItem): the cache and every player refer to one copy of each
// message; a player's session chunks it without copying (ServerSession::send_media_borrowed).
// Nothing here blocks the producer: a player whose loop falls behind loses media from its
// waiting list (never headers), bounded by ServeLimits, and restarts at the next keyframe.
// What a player does with its items (codec admission, the slow-player gate) is
// gst/serve_player.h.
//
// Threads: every call takes the stream's lock; Waker::wake() is called with it held.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "protocol/play_cache.h"

namespace gst_ertmp {

struct ServeLimits {
  rtmp::PlayCacheLimits cache;
  // Payload bytes handed to one player and not yet taken by its loop. Past it the player's
  // waiting media is dropped (headers and metadata stay) and it resynchronises at the next
  // keyframe. Stops: a loop that cannot run (a starved machine) growing a list per push
  // without bound; normally a loop takes its items within a wake-up.
  size_t max_waiting_bytes = 8u * 1024 * 1024;
};

class ServeStream {
 public:
  // How a player's loop is told that items wait. Implemented by its connection.
  class Waker {
   public:
    virtual ~Waker() = default;
    // Called from the producer's thread with the stream's lock held, once until the next
    // take(): must not block or call into the stream (post to the loop).
    virtual void wake() = 0;
  };
  struct Player;  // one subscription (opaque)

  explicit ServeStream(ServeLimits limits = {});
  ~ServeStream();
  ServeStream(const ServeStream&) = delete;
  ServeStream& operator=(const ServeStream&) = delete;

  // --- producer -------------------------------------------------------------------------
  // The next message of the stream: audio, video, or data ("@setDataFrame onMetaData" is
  // stripped for players by the cache). Other types are ignored. Ends an end() (a new stream).
  void push(rtmp::Message message);
  // End of stream: each player is told (Taken::ended) after the items it has; plays asked
  // for meanwhile are refused (ended()) until the next push().
  void end();

  // --- players --------------------------------------------------------------------------
  // Whether a player that advertised `caps` can play what the stream carries (see
  // PlayCache::admit); kAllowed before the stream has headers.
  rtmp::Admission admit(const rtmp::PeerCapabilities& caps) const;
  bool ended() const;
  // Registers a player; `join` gets what it must send first (PlayCache::join), taken under the
  // same lock, so the first item of its next take() follows the last one of `join`.
  std::shared_ptr<Player> subscribe(Waker* waker, std::vector<rtmp::SharedItem>* join);
  // After this returns, the player's waker is never called again.
  void unsubscribe(const std::shared_ptr<Player>& player);
  struct Taken {
    bool resync = false;  // media was dropped from the waiting list: restart at a keyframe
    bool ended = false;   // end() came after these items
  };
  // Appends the items waiting for `player` to `out`, in order, and re-arms its wake-up.
  Taken take(Player& player, std::vector<rtmp::SharedItem>& out);

  struct Stats {
    size_t players = 0;
    uint64_t messages = 0;     // pushed and kept (items)
    size_t cache_bytes = 0;    // payload held by the late-joiner cache
    size_t waiting_bytes = 0;  // payload waiting for loops, all players
    uint64_t resyncs = 0;      // waiting lists cut (players that lost media to a slow loop)
  };
  Stats stats() const;

 private:
  const ServeLimits limits_;
  mutable std::mutex mu_;
  rtmp::PlayCache cache_;
  std::vector<std::shared_ptr<Player>> players_;
  bool ended_ = false;
  uint64_t messages_ = 0;
  uint64_t resyncs_ = 0;
};

}  // namespace gst_ertmp
