// ServerSession: one RTMP connection, server side, sans-IO (STYLE rule 2).
//
// Drive order (the contract every caller follows):
//   1. receive(bytes, now) with everything read from the socket;
//   2. drain next_event() until empty, making decisions (accept_publish / reject_publish, ...);
//   3. write pending_output() to the socket and consume_output(n) what was written;
//   4. sleep until the socket is readable or next_timeout(), then handle_timeout(now).
// Time is always an argument (milliseconds on any monotonic clock). Nothing here blocks,
// allocates per chunk, or calls back into the caller.
//
// Publish exchange (Adobe RTMP 2012 §7.2, as nginx-rtmp and SRS answer real publishers):
//   C0C1 -> S0S1S2, C2
//   connect        -> Window Ack Size, Set Peer Bandwidth, Stream Begin(0), _result
//                     (NetConnection.Connect.Success + our E-RTMP capabilities), Set Chunk Size
//   releaseStream  -> _result;  FCPublish -> _result (onFCPublish waits for the decision)
//   createStream   -> _result(stream id)
//   publish        -> event PublishRequested; accept_publish -> [onFCPublish Publish.Start if
//                     the client sent FCPublish] + Stream Begin(id) + onStatus Publish.Start;
//                     reject_publish -> only the onStatus error, then close. Nothing that says
//                     "Publish.Start" leaves before accept_publish.
//   media/data     -> MediaReceived / MetadataReceived
//   FCUnpublish / deleteStream / closeStream -> PublishEnded
//
// Play exchange (serving players: ffmpeg/ffplay, librtmp/rtmpdump, rtmp2src, VLC, OBS):
//   createStream, [getStreamLength, FCSubscribe: harmless answers], play(name, start,
//   duration, reset) -> event PlayRequested (with the player's E-RTMP caps from connect);
//   accept_play    -> [Stream Is Recorded(id)], Stream Begin(id), [onStatus Play.Reset when the
//                     play asked for a reset], onStatus Play.Start, data |RtmpSampleAccess
//                     (true, true)   (SRS's order; nginx-rtmp sends no Reset. SRS's data
//                     onStatus Data.Start is left out: ffmpeg 5.1 makes an extra data stream
//                     of it)
//   reject_play    -> onStatus error (Play.StreamNotFound by default), then close (as nginx)
//   send_media     -> the caller's audio/video/data for the player (PlayCache, play_cache.h,
//                     builds the late joiner's start)
//   notify_play    -> Stream EOF / Stream Begin / Stream Dry user controls and
//                     Play.UnpublishNotify / Play.PublishNotify / Play.Stop as the source changes
//   receiveAudio / receiveVideo / pause / seek / Set Buffer Length from the player -> events,
//                     and kept in play_state(): send_media drops what the player turned off
//                     or paused. Pause is answered at once (Pause.Notify + Stream EOF,
//                     Unpause.Notify + Stream Begin, as SRS); seek waits for accept_seek.
//   play2          -> the current play ends (PlayEnded "play2") and a new PlayRequested
//                     follows for the same stream id (nginx-rtmp's switch semantics)
//   closeStream / deleteStream on a playing stream -> PlayEnded
// A playing session has no idle timeout on input (players send nothing but acks, and only
// every window); a dead player is found by its growing output (PlayerGate, play_cache.h).
//
// Peer oddities tolerated (ertmp-wire.md B.4): Set Chunk Size before connect (OBS), pipelined
// releaseStream/FCPublish/createStream (ffmpeg), createStream before FCPublish (appliances),
// unknown commands answered with _result (never a disconnect), E-RTMP media with no
// negotiation (OBS), play start values in seconds*1000 (-2000 ffmpeg, -1000 librtmp live).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/caps.h"
#include "protocol/error.h"
#include "protocol/flv_tag.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/stream_message.h"

namespace rtmp {

struct ServerConfig {
  Limits limits;
  uint32_t out_chunk_size = 4096;
  uint32_t window_ack_size = 2'500'000;
  uint32_t peer_bandwidth = 2'500'000;
  std::string fms_version = "FMS/3,5,7,7009";
  // What we tell a client that negotiates E-RTMP; echoed as the intersection with its own.
  PeerCapabilities capabilities = default_server_capabilities();
};

// Why a publish is refused; picks the onStatus code a publisher understands.
enum class PublishRejection : uint8_t {
  kBadName,       // NetStream.Publish.BadName: no such app/key, or key already live
  kUnauthorized,  // NetStream.Publish.Unauthorized (wording librtmp/OBS display)
  kDenied,        // NetStream.Publish.Denied
};

struct ConnectRequested {
  std::string app;
  std::string tc_url;
  std::string flash_ver;
  PeerCapabilities peer_caps;  // what the client negotiated (present_any false for OBS)
};

struct PublishRequested {
  uint32_t stream_id = 0;  // message stream id; the handle for accept/reject
  std::string app;
  std::string stream_name;   // without the query
  std::string query;         // raw text after '?', empty when none
  std::string publish_type;  // "live", "record", "append"
  std::string tc_url;
  std::string flash_ver;
  PeerCapabilities peer_caps;
};

// Why a play is refused; picks the onStatus code (level "error") a player understands.
enum class PlayRejection : uint8_t {
  kStreamNotFound,    // NetStream.Play.StreamNotFound: nothing published under that name
  kFailed,            // NetStream.Play.Failed: refused for another reason (auth, policy)
  kNoSupportedTrack,  // NetStream.Play.NoSupportedTrackFound: the stream has only codecs the
                      // player did not advertise (a legacy player and an HEVC/Opus stream)
};

struct PlayRequested {
  uint32_t stream_id = 0;  // message stream id; the handle for accept/reject/send_media
  std::string app;
  std::string stream_name;  // without the query
  std::string query;        // raw text after '?', empty when none
  // Start position in ms: -2 live or recorded, -1 live only, >= 0 recorded from there.
  // ffmpeg sends -2000 and librtmp -1000 for live: any negative value means "live is fine".
  double start = -2;
  double duration = -1;  // ms to play, -1 = to the end
  bool reset = true;     // flush any playlist (asks for onStatus Play.Reset)
  std::string tc_url;
  std::string flash_ver;
  // What the player advertised in connect: decides what it may receive (admit_tag in
  // play_cache.h). present_any false = a legacy player (ffmpeg < 6.1, librtmp, rtmp2src).
  PeerCapabilities peer_caps;
  // play2 (NetStreamPlayOptions): the transition ("switch", "swap", ...) and the stream it
  // replaces; empty for play.
  std::string transition;
  std::string old_stream_name;
};

// How an accepted play is presented to the player.
struct PlayAccept {
  bool recorded = false;  // Stream Is Recorded before Stream Begin; Play.Complete at the end
};

// The source of an accepted play changed (notify_play).
enum class PlayNotice : uint8_t {
  kUnpublished,  // the publisher left: Stream EOF + onStatus Play.UnpublishNotify; the play
                 // stays open for a publisher that comes back
  kPublished,    // a publisher (re)started: Stream Begin + onStatus Play.PublishNotify
  kDry,          // nothing to send for a while (Stream Dry)
  kStopped,      // the stream is over: Stream EOF, [data onPlayStatus Play.Complete when
                 // recorded], onStatus Play.Stop; the play ends (send_media refused after)
};

// What the player of an accepted play asked for (receiveAudio/receiveVideo/pause/seek/Set
// Buffer Length). send_media drops audio/video that is turned off, and both while paused.
struct PlayState {
  bool receive_audio = true;
  bool receive_video = true;
  bool paused = false;
  bool recorded = false;
  uint32_t buffer_ms = 0;  // 0 until the player sent Set Buffer Length for this stream
};

// A player stopped playing a stream: closeStream, deleteStream, or play2 replacing it.
struct PlayEnded {
  uint32_t stream_id = 0;
  std::string reason;  // "closeStream", "deleteStream", "play2"
};

// receiveAudio(flag) / receiveVideo(flag) from a player. Turning a kind back on restarts it
// at the player's next sequence headers / keyframe: see PlayerGate::restart (play_cache.h).
struct ReceiveChanged {
  uint32_t stream_id = 0;
  bool video = false;
  bool enabled = true;
};

// pause(flag, position) from a player; already answered (Pause.Notify / Unpause.Notify).
// On unpause a live source resumes at a keyframe (PlayerGate::restart).
struct PlayPaused {
  uint32_t stream_id = 0;
  bool paused = true;
  double position_ms = 0;
};

// seek(position) from a player: answer with accept_seek (then send media from there), or
// ignore it (nginx-rtmp ignores seeks on live streams, and players carry on).
struct SeekRequested {
  uint32_t stream_id = 0;
  double position_ms = 0;
};

// Set Buffer Length user control (3) from a player: how much it buffers, in ms.
struct BufferLengthSet {
  uint32_t stream_id = 0;
  uint32_t buffer_ms = 0;
};

struct PublishEnded {
  uint32_t stream_id = 0;
  std::string reason;  // "FCUnpublish", "deleteStream", "closeStream"
};

// Non-fatal oddity worth a log line (unknown command, skipped message, ...).
struct SessionWarning {
  Error error;
};

// The session is over: `error` is empty after a clean close (peer deleteStream + close, or
// our reject), set for a peer fault or a timeout. Pending output (the goodbye) should still
// be flushed before the socket is closed.
struct SessionClosed {
  std::optional<Error> error;
};

using ServerEvent =
    std::variant<ConnectRequested, PublishRequested, PlayRequested, MediaReceived, MetadataReceived,
                 PublishEnded, SessionWarning, SessionClosed, PlayEnded, ReceiveChanged, PlayPaused,
                 SeekRequested, BufferLengthSet>;

class ServerSession {
 public:
  explicit ServerSession(ServerConfig config, uint64_t now_ms);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Consumes all of `data`. A peer fault closes the session (SessionClosed event with the
  // error; a goodbye may be queued) and is also returned; later calls return the same error.
  Status receive(Bytes data, uint64_t now_ms);

  std::optional<ServerEvent> next_event();

  // Bytes to send, in order. The view is valid until the next non-const call.
  Bytes pending_output() const;
  void consume_output(size_t n);
  // The pending output in order as at most `max_pieces` pieces; returns their total size.
  size_t pending_output_pieces(std::vector<Bytes>& pieces, size_t max_pieces) const;
  // Bytes queued and not consumed yet (borrowed ones included): a player's backlog.
  size_t pending_output_size() const;

  // Decisions on a PublishRequested (by its stream id). Unknown ids are kInvalidArgument.
  Status accept_publish(uint32_t stream_id);
  Status reject_publish(uint32_t stream_id, PublishRejection why, std::string description);
  // Decisions on a PlayRequested (by its stream id). Unknown ids are kInvalidArgument.
  Status accept_play(uint32_t stream_id);
  Status accept_play(uint32_t stream_id, const PlayAccept& how);
  // Play.StreamNotFound; closes the session unless another stream of it is live.
  Status reject_play(uint32_t stream_id, std::string description);
  Status reject_play(uint32_t stream_id, PlayRejection why, std::string description);
  // One message (audio 8, video 9, data 18/15; payload and timestamp as given) for an
  // accepted play: audio on csid 4, video on 6, data on 5. Dropped (still Ok) when the player
  // turned that kind off or paused. kInvalidArgument when the stream is not playing.
  Status send_media(uint32_t stream_id, const Message& message);
  // Zero-copy send_media: the header fields come from `header` (its payload is ignored) and
  // `payload` is not copied at all; the output refers to it between the chunk headers, so it
  // must stay valid until the output has been consumed past it: bytes_sent() +
  // pending_output_size() right after this call is that point. With borrowed bytes queued,
  // pending_output() is only the next contiguous piece: use pending_output_pieces() for a
  // vectored write. (One shared message, many players: each chunks it without a copy.)
  Status send_media_borrowed(uint32_t stream_id, const Message& header, Bytes payload);
  // Tells the player that its source changed (see PlayNotice).
  Status notify_play(uint32_t stream_id, PlayNotice notice);
  // Answers a SeekRequested: Stream EOF, onStatus Seek.Notify, Stream Begin (nginx-rtmp's
  // order); the caller then sends media from `position_ms`.
  Status accept_seek(uint32_t stream_id, double position_ms);
  // The player's requests for an accepted play; nothing for other streams.
  std::optional<PlayState> play_state(uint32_t stream_id) const;
  // What the client advertised in connect (present_any false before connect or for a
  // legacy peer).
  const PeerCapabilities& peer_capabilities() const;

  // E-RTMP Reconnect Request (ertmp-wire.md A.7); `tc_url` empty = reconnect to the same URL.
  Status request_reconnect(std::string tc_url, std::string description);

  std::optional<uint64_t> next_timeout() const;
  void handle_timeout(uint64_t now_ms);

  // Ends the session from our side (element stopping): queues nothing further.
  void close();
  bool closed() const;

  // Counters for stats.
  uint64_t bytes_received() const;
  uint64_t bytes_sent() const;
  bool handshake_done() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtmp
