// ClientSession: one RTMP connection, publishing client side, sans-IO (STYLE rule 2).
//
// Drive order is the ServerSession's: receive(bytes, now) -> drain next_event() ->
// write pending_output() / consume_output(n) -> wait for readability or next_timeout().
// The handshake bytes (C0C1) are queued by the constructor.
//
// Exchange (as ffmpeg and rtmp2sink publish):
//   C0C1 -> S0S1S2 -> C2, [Set Chunk Size], connect(app, flashVer, tcUrl, E-RTMP caps)
//   _result(Connect.Success)  -> releaseStream, FCPublish, createStream   (pipelined)
//   _result(createStream id)  -> publish(name, "live")
//   onStatus Publish.Start    -> event PublishStarted; media may flow
//   stop() -> FCUnpublish, deleteStream
// Any `_error` or onStatus with level "error" (BadName, Unauthorized, Rejected) is reported as
// a SessionFailed-style ClientClosed event with the server's code, never a silent success.
// Adobe authentication (authmod=adobe) needs new TCP connections: the session reports
// AuthRetry with the app string to use next, and the caller starts a new ClientSession.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/caps.h"
#include "protocol/error.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/url.h"

namespace rtmp {

struct ClientConfig {
  Url url;  // parsed rtmp[s]:// location (app, stream, tcUrl)
  std::string flash_ver = "FMLE/3.0 (compatible; gst-ertmp)";
  uint32_t out_chunk_size = 4096;
  bool digest_handshake = false;
  // E-RTMP capabilities sent in connect; `present_any == false` sends none (legacy server).
  PeerCapabilities capabilities;
  // Extra values appended to connect after the command object (librtmp conn=... style).
  std::vector<amf::Value> extra_connect_args;
  // Adobe auth: credentials, and the state carried from a previous attempt (see AuthRetry).
  std::string username;
  std::string password;
  std::string auth_query;  // appended to app on this attempt ("?authmod=adobe&user=..")
  Limits limits;
  uint64_t timeout_ms = 10'000;  // handshake + connect + publish must finish within this
  // Limelight-style secureToken: when the connect _result carries a `secureToken` challenge,
  // the answer (crypto.h secure_token_response) goes back as `secureTokenResponse`, as
  // librtmp and rtmp2 do. A challenge without a token here fails the session (kAuthFailed),
  // as rtmp2 does: the server would drop us.
  std::string secure_token;
  // Random bytes for the handshake; empty = a fixed pattern (tests). The caller supplies
  // 1528 bytes from a real random source in production (sans-IO: no entropy source here).
  std::vector<uint8_t> random;
};

struct ClientConnected {
  std::string fms_ver;
  PeerCapabilities server_caps;
};
struct PublishStarted {
  uint32_t stream_id = 0;
};
// The server asked us to authenticate (adobe): reconnect with `auth_query` on the app.
struct AuthRetry {
  std::string auth_query;
};
// E-RTMP NetConnection.Connect.ReconnectRequest; tc_url resolved against ours.
struct ReconnectRequested {
  std::string tc_url;
  std::string description;
};
struct StatusReceived {
  std::string level;
  std::string code;
  std::string description;
};
struct ClientWarning {
  Error error;
};
// Session over. `error` empty after a clean stop(); else the fault (kAuthFailed for a server
// rejection, with the server's status code in the detail; kTimeout; a peer fault).
struct ClientClosed {
  std::optional<Error> error;
  std::string status_code;  // e.g. "NetStream.Publish.BadName", empty when none
};

// The commands stop() sends (rtmp2sink's `stop-commands` flags).
struct StopCommands {
  bool fc_unpublish = true;
  bool close_stream = false;
  bool delete_stream = true;
};

// Connection counters, named as GStreamer's rtmp2 reports them in `stats`.
struct ClientStats {
  uint32_t in_chunk_size = 128;
  uint32_t out_chunk_size = 128;
  uint32_t in_window_ack_size = 0;   // the server's Window Ack Size: we ack every this many
  uint32_t out_window_ack_size = 0;  // ours, sent in answer to Set Peer Bandwidth
  uint64_t in_bytes_total = 0;
  uint64_t out_bytes_total = 0;  // handed to the socket (consumed output)
  uint64_t in_bytes_acked = 0;   // the last sequence number we acknowledged
  uint64_t out_bytes_acked = 0;  // the last sequence number the server acknowledged
};

using ClientEvent = std::variant<ClientConnected, PublishStarted, AuthRetry, ReconnectRequested,
                                 StatusReceived, ClientWarning, ClientClosed>;

class ClientSession {
 public:
  ClientSession(ClientConfig config, uint64_t now_ms);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  Status receive(Bytes data, uint64_t now_ms);
  std::optional<ClientEvent> next_event();
  Bytes pending_output() const;  // empty when nothing is pending
  void consume_output(size_t n);
  std::optional<uint64_t> next_timeout() const;
  void handle_timeout(uint64_t now_ms);

  bool publishing() const;
  bool closed() const;

  // Media (valid once PublishStarted): an FLV tag body (legacy or E-RTMP, see flv_tag.h) and
  // its DTS in ms. Audio on csid 4, video on csid 6, data on csid 5 (as ffmpeg/OBS).
  Status send_audio(Bytes body, uint64_t dts_ms);
  Status send_video(Bytes body, uint64_t dts_ms);
  // `@setDataFrame onMetaData <object>` (the object is an ECMA array on the wire).
  Status send_metadata(const amf::Value& metadata, uint64_t dts_ms);
  // A raw message (type 8, 9, 18) on the publish stream; used for FLV passthrough.
  Status send_message(MessageType type, Bytes body, uint64_t dts_ms);
  // The same with the body in two parts (tag header, then media bytes the caller owns): the
  // media is chunked straight from `tail`, one copy.
  Status send_message(MessageType type, Bytes head, Bytes tail, uint64_t dts_ms);
  // Zero-copy: `tail` is not copied at all; the output then refers to it between the chunk
  // headers, so `tail` must stay valid until the output has been consumed past it. With
  // borrowed bytes queued, pending_output() is only the next contiguous piece; use
  // pending_output_pieces() for a vectored write (sendmsg/writev).
  Status send_message_borrowed(MessageType type, Bytes head, Bytes tail, uint64_t dts_ms);
  // The pending output in order as at most `max_pieces` pieces; returns their total size.
  size_t pending_output_pieces(std::vector<Bytes>& pieces, size_t max_pieces) const;

  // Clean stop: FCUnpublish + deleteStream; ClientClosed{} follows.
  void stop();
  // The same with a choice of commands: FCUnpublish (csid 3, stream 0, with the stream name),
  // closeStream (on the publish stream) and deleteStream (stream 0, with the stream id), in
  // that order; none at all is allowed.
  void stop(const StopCommands& commands);

  // Changes the outgoing chunk size: before the handshake ends it replaces the configured one;
  // later a Set Chunk Size goes out and every following chunk uses `n` (1 .. 0x7FFFFFFF).
  void set_chunk_size(uint32_t n);

  ClientStats stats() const;

  uint64_t bytes_received() const;
  uint64_t bytes_sent() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtmp
