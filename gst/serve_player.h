// One player's send path, on its connection's I/O loop (rtmppushsink mode=listener): which
// items of the stream (gst/serve_stream.h) it may receive and when, and the items its
// session's output still refers to.
//
//   offer(item): admit_tag (E-RTMP codecs only to a player that advertised them; data always)
//                -> PlayerGate (video from a keyframe; a slow player cut back, then dropped)
//                -> ServerSession::send_media_borrowed: the chunk headers are the player's,
//                   the payload is the shared item's, referenced until the socket took it.
//   sent_up_to(bytes_sent): lets go of the items the socket has taken.
//
// Memory per player: the chunk headers of what is queued plus one reference per queued
// message; the payload bytes are shared with the cache and the other players. The gate's
// cut_bytes bounds how much a slow player makes the process keep alive.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "protocol/play_cache.h"
#include "protocol/server_session.h"

namespace gst_ertmp {

class PlayerFeed {
 public:
  explicit PlayerFeed(rtmp::PlayerGateLimits limits) : limits_(limits), gate_(limits) {}

  // A new play on `stream_id` of a player that advertised `caps`.
  void start(uint32_t stream_id, const rtmp::PeerCapabilities& caps);
  // The play ended. Items still queued stay referenced until sent (or the connection goes).
  void stop() { playing_ = false; }
  bool playing() const { return playing_; }
  uint32_t stream_id() const { return stream_id_; }
  // Video starts over at each track's next keyframe (unpause, receiveVideo(true), resync).
  void restart() { gate_.restart(); }

  // Offers the next item of the stream. kSkip: not for this player (codec not advertised,
  // gated); kDrop: the player cannot keep up (PlayerGate) and must be dropped.
  rtmp::GateVerdict offer(rtmp::ServerSession& session, const rtmp::SharedItem& item,
                          uint64_t now_ms);
  // The session's output was consumed up to `bytes_sent` (ServerSession::bytes_sent()).
  void sent_up_to(uint64_t bytes_sent);

  // Figures.
  uint64_t sent() const { return sent_; }
  uint64_t skipped() const { return gate_.skipped(); }
  uint64_t not_admitted() const { return not_admitted_; }
  bool cut_back() const { return gate_.cut_back(); }
  size_t held_items() const { return held_.size(); }

 private:
  const rtmp::PlayerGateLimits limits_;
  rtmp::PlayerGate gate_;
  rtmp::PeerCapabilities caps_;
  uint32_t stream_id_ = 0;
  bool playing_ = false;
  // Items the output refers to, with the output position (bytes_sent) they end at.
  std::deque<std::pair<uint64_t, rtmp::SharedItem>> held_;
  uint64_t sent_ = 0;
  uint64_t not_admitted_ = 0;
};

}  // namespace gst_ertmp
