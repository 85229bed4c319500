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
// Exchange (Adobe RTMP 2012 §7.2, as nginx-rtmp and SRS answer real publishers):
//   C0C1 -> S0S1S2, C2
//   connect        -> Window Ack Size, Set Peer Bandwidth, Stream Begin(0), _result
//                     (NetConnection.Connect.Success + our E-RTMP capabilities), Set Chunk Size
//   releaseStream  -> _result;  FCPublish -> onFCPublish + _result
//   createStream   -> _result(stream id)
//   publish        -> event PublishRequested; accept_publish -> Stream Begin(id) +
//                     onStatus NetStream.Publish.Start; reject_publish -> onStatus error, close
//   media/data     -> MediaReceived / MetadataReceived
//   FCUnpublish / deleteStream / closeStream -> PublishEnded
// Peer oddities tolerated (ertmp-wire.md B.4): Set Chunk Size before connect (OBS), pipelined
// releaseStream/FCPublish/createStream (ffmpeg), createStream before FCPublish (appliances),
// unknown commands answered with _result (never a disconnect), E-RTMP media with no
// negotiation (OBS).
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

struct PlayRequested {
  uint32_t stream_id = 0;
  std::string app;
  std::string stream_name;
  std::string query;
  double start = -2;
  double duration = -1;
  bool reset = true;
};

// One audio or video message of an accepted publish. `message.payload` is owned and may be
// moved out (gst/ adopts it without a copy); `tag` views index into that payload.
struct MediaReceived {
  Message message;
  FlvTag tag;
  // Set when the tag could not be parsed (unknown FourCC, reserved packet type, malformed):
  // the caller warns and skips this message; the session and the rest of the stream go on.
  std::optional<Error> tag_error;
};

// `@setDataFrame onMetaData ...` (prefix stripped) or any other data message on the stream.
struct MetadataReceived {
  Message message;                 // raw bytes as received (for FLV passthrough)
  std::string handler;             // "onMetaData", "onTextData", ...
  std::vector<amf::Value> values;  // the values after the handler name
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

using ServerEvent = std::variant<ConnectRequested, PublishRequested, PlayRequested, MediaReceived,
                                 MetadataReceived, PublishEnded, SessionWarning, SessionClosed>;

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

  // Decisions on a PublishRequested (by its stream id). Unknown ids are kInvalidArgument.
  Status accept_publish(uint32_t stream_id);
  Status reject_publish(uint32_t stream_id, PublishRejection why, std::string description);
  // Decisions on a PlayRequested, and media for an accepted play.
  Status accept_play(uint32_t stream_id);
  Status reject_play(uint32_t stream_id, std::string description);
  Status send_media(uint32_t stream_id, const Message& message);

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
