// ClientSession: one RTMP connection, client side, sans-IO (STYLE rule 2): it publishes or
// plays, as ClientConfig::role says.
//
// Drive order is the ServerSession's: receive(bytes, now) -> drain next_event() ->
// write pending_output() / consume_output(n) -> wait for readability or next_timeout().
// The handshake bytes (C0C1) are queued by the constructor.
//
// Publish exchange (as ffmpeg and rtmp2sink publish):
//   C0C1 -> S0S1S2 -> C2, [Set Chunk Size], connect(app, flashVer, tcUrl, E-RTMP caps)
//   _result(Connect.Success)  -> releaseStream, FCPublish, createStream   (pipelined)
//   _result(createStream id)  -> publish(name, "live")
//   onStatus Publish.Start    -> event PublishStarted; media may flow
//   stop() -> FCUnpublish, deleteStream
// Play exchange (as librtmp and rtmp2src play; ffmpeg sends the same commands):
//   connect(app, flashVer, tcUrl, fpad, capabilities, audioCodecs, videoCodecs,
//           videoFunction, E-RTMP caps: what we can receive)
//   _result(Connect.Success)  -> Set Buffer Length(0, 300 ms), [FCSubscribe(name)],
//                                createStream
//   _result(createStream id)  -> play(name, start, duration, reset) on csid 8,
//                                Set Buffer Length(id, buffer_ms)
//   onStatus Play.Start       -> event PlayStarted (also on the first media, for servers that
//                                send none); then MediaReceived / MetadataReceived (aggregates
//                                unpacked), StatusReceived for every onStatus and onPlayStatus
//                                (Play.Reset/Stop/PublishNotify/UnpublishNotify, Data.Start,
//                                Pause.Notify, Seek.Notify, Play.Complete...),
//                                StreamControlReceived for Stream Begin/EOF/Dry/Is Recorded,
//                                SampleAccessReceived for |RtmpSampleAccess
//   pause / seek / receive_audio / receive_video / set_buffer_length / play2 while playing
//   stop() -> deleteStream
// Acknowledgements at the server's window and ping responses are sent in both roles.
// Any `_error` to connect/createStream/publish/play or onStatus with level "error"
// (BadName, Unauthorized, StreamNotFound, Play.Failed, Rejected) ends the session with a
// ClientClosed event carrying the server's code, never a silent success. `_error` answers to
// the historical extras (releaseStream, FCPublish, FCSubscribe, getStreamLength) are only a
// ClientWarning, as ffmpeg treats them.
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
#include "protocol/control.h"
#include "protocol/error.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/stream_message.h"
#include "protocol/url.h"

namespace rtmp {

enum class ClientRole : uint8_t {
  kPublish,  // send a stream (rtmp2sink, ffmpeg -f flv rtmp://)
  kPlay,     // receive one (rtmp2src, ffplay, rtmpdump)
};

// The play command and what goes with it (ClientRole::kPlay).
struct PlayOptions {
  // Start position in ms: -2 live or recorded (rtmp2src), -1 live only, >= 0 recorded from
  // there. Sent as given (ffmpeg sends -2000 / -1000; servers treat any negative as live).
  double start = -2;
  double duration = -1;  // ms to play, -1 = to the end
  bool reset = true;     // flush the server-side playlist (Adobe play's 4th argument)
  // Set Buffer Length for the play stream, ms: how far a server may run ahead on recorded
  // streams. 3000 is ffmpeg's default (librtmp and rtmp2src use 30000).
  uint32_t buffer_ms = 3000;
  // FCSubscribe(name) before createStream: Akamai/Limelight-era CDNs want it for live
  // streams (ffmpeg sends it with -rtmp_live live). Harmless elsewhere.
  bool fc_subscribe = false;
};

struct ClientConfig {
  ClientRole role = ClientRole::kPublish;
  PlayOptions play;  // kPlay only
  Url url;           // parsed rtmp[s]:// location (app, stream with its query, tcUrl)
  std::string flash_ver = "FMLE/3.0 (compatible; gst-ertmp)";
  uint32_t out_chunk_size = 4096;
  bool digest_handshake = false;
  // E-RTMP capabilities sent in connect; `present_any == false` sends none (legacy server).
  // A publisher names what it sends (client_capabilities); a player what it can receive
  // (default_server_capabilities() = everything protocol/ parses, CanDecode|CanForward, and
  // every capsEx flag: right for a player that forwards into GStreamer).
  PeerCapabilities capabilities;
  // Extra values appended to connect after the command object (librtmp conn=... style).
  std::vector<amf::Value> extra_connect_args;
  // Adobe auth: credentials, and the state carried from a previous attempt (see AuthRetry).
  std::string username;
  std::string password;
  std::string auth_query;  // appended to app on this attempt ("?authmod=adobe&user=..")
  Limits limits;
  // Handshake + connect + publish (or play, up to PlayStarted) must finish within this.
  uint64_t timeout_ms = 10'000;
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
// Play role: the server started the play (onStatus Play.Start, or the first media of a
// server that sends no status). Media may arrive before this event only in that last case.
struct PlayStarted {
  uint32_t stream_id = 0;
};
// Play role: Stream Begin / EOF / Dry / Is Recorded (user control 0, 1, 2, 4) from the
// server. A live source that stops publishing gives Stream EOF (nginx-rtmp, SRS), often with
// Play.UnpublishNotify; rtmp2src ends on Stream EOF for stream 1.
struct StreamControlReceived {
  UserControlType type = UserControlType::kStreamBegin;
  uint32_t stream_id = 0;
};
// Play role: the server's |RtmpSampleAccess(audio, video) data message (nginx-rtmp sends
// true/true, SRS false/false): whether a Flash player could read the decoded samples.
struct SampleAccessReceived {
  bool audio = false;
  bool video = false;
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
// onStatus (command or data message) or onPlayStatus from the server.
struct StatusReceived {
  std::string level;
  std::string code;
  std::string description;
  uint32_t stream_id = 0;  // the message stream it came on (0 = NetConnection)
};
struct ClientWarning {
  Error error;
};
// Session over. `error` empty after a clean stop(); else the fault (kAuthFailed for a server
// rejection: BadName, Unauthorized, StreamNotFound, Play.Failed, Rejected, an `_error` to
// connect/createStream/publish/play; the server's status code is in status_code and the
// detail; kTimeout; a peer fault).
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

using ClientEvent =
    std::variant<ClientConnected, PublishStarted, AuthRetry, ReconnectRequested, StatusReceived,
                 ClientWarning, ClientClosed, PlayStarted, StreamControlReceived,
                 SampleAccessReceived, MediaReceived, MetadataReceived>;

// play2's NetStreamPlayOptions (Adobe): switch a playing stream to another one.
struct Play2Options {
  std::string stream_name;            // the stream to play (with its query)
  std::string old_stream_name;        // the one it replaces; empty = the current one
  double start = -2;                  // as PlayOptions::start
  double len = -1;                    // as PlayOptions::duration
  std::string transition = "switch";  // "switch", "swap", "reset", "stop", "append", ...
};

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
  bool playing() const;  // play role, after PlayStarted
  bool closed() const;
  // The stream id createStream gave us (0 before).
  uint32_t stream_id() const;

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

  // Play role, once PlayStarted: NetStream commands on the play stream (Adobe RTMP 2012
  // §7.2.2). kInvalidState before that or in the publish role.
  // pause(true/false, position): the server answers Pause.Notify / Unpause.Notify.
  Status pause(bool paused, double position_ms);
  // seek(position) in a recorded stream: the server answers Seek.Notify (or nothing, live).
  Status seek(double position_ms);
  Status receive_audio(bool enabled);
  Status receive_video(bool enabled);
  // Set Buffer Length (user control 3) for the play stream.
  Status set_buffer_length(uint32_t buffer_ms);
  // play2: switch to another stream without a new createStream.
  Status play2(const Play2Options& options);

  // Clean stop: FCUnpublish + deleteStream (publish) or deleteStream (play); ClientClosed{}
  // follows.
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
