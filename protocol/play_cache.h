// Serving one published stream to many players (pure logic, no I/O; STYLE rule 2):
//
//  PlayCache   fed every published message in order; join() gives a player that arrives
//              late what it needs before live media: (1) the current onMetaData, (2) the
//              sequence headers in force at the start of the cached GOP (video and audio,
//              per E-RTMP track, plus MultichannelConfig and video Metadata/colorInfo),
//              (3) the GOP: every message since the last keyframe of the reference video
//              track, headers that changed inside it in place. Then the caller sends live.
//              nginx-rtmp sends (1)+(2) and waits for the next keyframe; SRS's gop_cache
//              sends all three: so do we, within bounds.
//  admit_tag   whether a tag may go to a player, from what it advertised in connect
//              (ertmp-wire.md A.6: "support for a FourCC codec MUST be signaled").
//  PlayerGate  one player's send policy: video starts at a keyframe per track, a slow player
//              is cut back to the next keyframe, a player that stopped reading is dropped.
//
// How a serving element drives it (one PlayCache per published stream, one PlayerGate per
// player; ServerSession per connection, server_session.h):
//   publisher message m     -> item = cache.push(m); for each playing player p:
//                              if admit_tag(*item, p.caps) == kAllowed and
//                              p.gate.offer(*item, p.queued_bytes, now) == kSend:
//                                p.session.send_media(p.stream_id, item->message)
//                              (kDrop: close that player's connection)
//   PlayRequested           -> if cache.admit(req.peer_caps) != kAllowed: reject_play(
//                              kNoSupportedTrack, admission_reason(...)); else accept_play,
//                              then each item of cache.join() through admit_tag + offer +
//                              send_media exactly as live ones
//   PlayPaused(false) / ReceiveChanged(video, true) -> p.gate.restart()
//   publisher gone          -> notify_play(kUnpublished) to players; cache.reset()
// Items are shared (std::shared_ptr): the cache and every player's send path see one copy
// of each message; send_media chunks from it.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/caps.h"
#include "protocol/flv_tag.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/stream_message.h"

namespace rtmp {

// What a published message is to a player.
enum class ItemKind : uint8_t {
  kMetadata,       // onMetaData (sent to players without "@setDataFrame")
  kClearMetadata,  // @clearDataFrame: the metadata is gone
  kHeader,         // SequenceStart / MultichannelConfig / video Metadata / MPEG2TS start
  kSequenceEnd,    // the track's codec ended (its header is forgotten)
  kKeyframe,       // video coded frames, every unit a keyframe
  kInterframe,     // other video coded frames (and video command frames)
  kAudio,          // audio coded frames (and legacy silence)
  kData,           // other data messages (onTextData, onCuePoint, ...)
  kUnparsed,       // audio/video whose tag did not parse: forwarded as is, never cached
};

// One published message as players get it, classified once.
struct StreamItem {
  Message message;  // data messages: "@setDataFrame" already stripped
  FlvTag tag;       // audio/video only
  ItemKind kind = ItemKind::kData;
  bool video = false;
  uint8_t track = 0;  // the first unit's track id (E-RTMP multitrack; 0 for legacy)
};
using SharedItem = std::shared_ptr<const StreamItem>;

// Whether a player may receive a tag, from what it advertised in connect.
enum class Admission : uint8_t {
  kAllowed,
  kNeedsEnhancedRtmp,        // an ExHeader tag to a player that negotiated no E-RTMP
  kCodecNotAdvertised,       // an E-RTMP tag whose FourCC the player did not list
  kMultitrackNotAdvertised,  // a multitrack tag without capsEx Multitrack
  kModExNotAdvertised,       // a TimestampOffsetNano (ModEx) tag without capsEx ModEx
};
// Legacy tags (FLV 10.1 codec ids, de-facto HEVC 12 included) go to every player; E-RTMP
// tags only where the player's fourCcList / info maps name the FourCC (CanDecode or
// CanForward) and capsEx has the features the tag uses. Data messages always pass.
Admission admit_tag(const StreamItem& item, const PeerCapabilities& player);
const char* admission_reason(Admission a);

struct PlayCacheLimits {
  // Media payload bytes kept for the GOP. A GOP that grows past this is dropped: joiners then
  // get metadata + headers and start at the next keyframe (PlayerGate). Memory: this, plus
  // one message per header entry and the metadata. Stops: a stream with huge or endless GOPs
  // (keyframes never come) growing the cache without bound. 16 MiB holds a 10 s GOP at
  // 12 Mbit/s.
  size_t max_gop_bytes = 16u * 1024 * 1024;
  // Time span (timestamp of the newest message minus the keyframe's) of the GOP, ms; past it
  // the GOP is dropped the same way. A joiner would otherwise start that far behind live.
  uint64_t max_gop_ms = 10'000;
  // Messages in the GOP, whatever their size. Stops: a publisher sending empty or tiny
  // messages at one timestamp (neither bound above grows, but each kept message costs about
  // 200 bytes of bookkeeping). 16384 is 10 s of 60 fps video with 8 audio tracks.
  size_t max_gop_messages = 16384;
  // Header entries kept (one per track and header kind; a ManyTracks message is one entry).
  // Stops: a publisher cycling through 256 track ids x kinds. The oldest entry goes first.
  size_t max_header_entries = 64;
};

class PlayCache {
 public:
  explicit PlayCache(PlayCacheLimits limits = {}, Limits amf_limits = {});

  // Feeds the next published message (audio, video, data; other types are ignored and give
  // nullptr). Returns the item to forward live to the current players.
  SharedItem push(Message message);
  // The same when the tag is already parsed (a ServerSession MediaReceived: no second parse).
  SharedItem push(MediaReceived media);

  // What a player that joins now gets first, in send order (see the top of this file).
  std::vector<SharedItem> join() const;

  // Whether a player with these connect caps can play the stream: kAllowed when, for each of
  // video and audio that has headers, at least one track's header passes admit_tag;
  // otherwise the refusal of the first header of the kind that has none.
  Admission admit(const PeerCapabilities& player) const;

  // Forgets everything (the publisher left; a new one sends its own headers).
  void reset();

  // Payload bytes the cache holds (metadata, headers, GOP; shared items counted once each
  // where they are referenced), the GOP's share, and whether a GOP is cached.
  size_t bytes() const;
  size_t gop_bytes() const { return gop_bytes_; }
  uint64_t gop_duration_ms() const;
  bool has_gop() const { return gop_valid_; }

 private:
  struct HeaderKey {
    bool video = false;
    uint8_t track = 0;
    PacketKind packet = PacketKind::kSequenceStart;
    bool operator==(const HeaderKey&) const = default;
  };
  struct HeaderEntry {
    SharedItem item;
    std::vector<HeaderKey> keys;  // what it still provides (newer headers take keys away)
  };
  SharedItem classify_and_store(std::shared_ptr<StreamItem> item);
  void store_header(const SharedItem& item);
  void forget_header(bool video, uint8_t track);
  void add_to_gop(const SharedItem& item);
  void drop_gop();

  PlayCacheLimits limits_;
  Limits amf_limits_;
  SharedItem metadata_;
  std::vector<HeaderEntry> headers_;
  std::vector<SharedItem> gop_headers_;  // headers_ as the GOP started
  std::deque<SharedItem> gop_;
  size_t gop_bytes_ = 0;
  bool gop_valid_ = false;
  uint64_t gop_start_ms_ = 0;
  uint64_t gop_last_ms_ = 0;
  std::optional<uint8_t> reference_track_;  // the video track whose keyframes start GOPs
};

struct PlayerGateLimits {
  // Bytes queued for this player (its session's pending output) above which it is cut back:
  // audio and video are skipped until the queue is below half of this, then video resumes
  // at each track's next keyframe. Headers and metadata always go. Stops: one slow player
  // making the sender buffer without bound, or seeing ever older media.
  size_t cut_bytes = 4u * 1024 * 1024;
  // Queued bytes at which the player is dropped outright (it stopped reading).
  size_t drop_bytes = 32u * 1024 * 1024;
  // A player cut back for longer than this is dropped (it cannot keep up at all), ms.
  uint64_t drop_after_ms = 30'000;
};

enum class GateVerdict : uint8_t { kSend, kSkip, kDrop };

class PlayerGate {
 public:
  explicit PlayerGate(PlayerGateLimits limits = {}) : limits_(limits) {}

  // Call for every item offered to this player, join() items included, in order.
  // `queued_bytes` is what the player's connection has not written yet.
  GateVerdict offer(const StreamItem& item, size_t queued_bytes, uint64_t now_ms);
  // Video starts over at each track's next keyframe (after an unpause, receiveVideo(true)).
  void restart() { started_.reset(); }

  bool cut_back() const { return cut_; }
  uint64_t skipped() const { return skipped_; }

 private:
  PlayerGateLimits limits_;
  std::bitset<256> started_;  // video tracks that had their keyframe
  bool cut_ = false;
  bool dropped_ = false;
  uint64_t cut_since_ms_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace rtmp
