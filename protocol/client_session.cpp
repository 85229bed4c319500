#include "protocol/client_session.h"

#include <algorithm>
#include <map>

#include "protocol/aggregate.h"
#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/crypto.h"
#include "protocol/handshake.h"
#include "protocol/session_io.h"

namespace rtmp {
namespace {

// Chunk stream ids as ffmpeg's rtmpproto uses them: 2 control, 3 commands, 4 audio? no:
// ffmpeg sends audio and video both on csid 4/6 depending on version; OBS uses 4 for audio,
// 6 for video, 5 for data. We follow OBS.
constexpr uint32_t kCsidCommand = 3;
constexpr uint32_t kCsidAudio = 4;
constexpr uint32_t kCsidData = 5;
constexpr uint32_t kCsidVideo = 6;
// play and the other NetStream commands of a player: librtmp and ffmpeg both use 8.
constexpr uint32_t kCsidPlay = 8;

// What a player says it can take in connect (ffmpeg's and rtmp2src's values; librtmp sends
// the same): fpad false, capabilities 15, audioCodecs 0x0FE7 (every Flash audio codec but
// the unused bits), videoCodecs 0xFC (Sorenson..H.264), videoFunction 1 (client seek).
constexpr double kPlayCapabilities = 15;
constexpr double kPlayAudioCodecs = 4071;
constexpr double kPlayVideoCodecs = 252;
constexpr double kPlayVideoFunction = 1;

// Librtmp's and rtmp2src's buffer hint for stream 0, sent before createStream.
constexpr uint32_t kConnectionBufferMs = 300;

enum class Phase : uint8_t {
  kHandshake,
  kConnecting,      // connect sent, waiting for its _result
  kCreatingStream,  // createStream sent
  kPublishing,      // publish sent, waiting for Publish.Start
  kLive,            // Publish.Start received
  kPlaySent,        // play sent, waiting for Play.Start
  kPlaying,         // Play.Start (or media) received
  kClosed,
};

// "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=u&salt=S&challenge=C"
// -> value of `key`, empty when absent.
std::string query_value(const std::string& text, const std::string& key) {
  auto q = text.find('?');
  std::string_view rest =
      q == std::string::npos ? std::string_view(text) : std::string_view(text).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key) {
      return std::string(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

}  // namespace

struct ClientSession::Impl {
  Impl(ClientConfig c, uint64_t now) : cfg(std::move(c)), reader(cfg.limits), start_ms(now) {
    HandshakeOptions opts;
    opts.digest = cfg.digest_handshake;
    opts.random = cfg.random;
    handshake.emplace(opts, static_cast<uint32_t>(now));
    pull_handshake_output();
  }

  ClientConfig cfg;
  Phase phase = Phase::kHandshake;
  std::optional<ClientHandshake> handshake;
  ChunkReader reader;
  ChunkWriter writer;
  AckTracker acks;
  detail::OutputBuffer output;
  std::vector<uint8_t>& out = output.buffer();
  std::vector<ChunkWriter::Borrowed> borrowed;  // scratch for send_message_borrowed
  detail::EventQueue<ClientEvent> events;
  std::optional<Error> fatal;
  uint64_t start_ms;
  uint64_t bytes_in = 0;
  double next_txn = 1;
  double connect_txn = 0, create_txn = 0;
  // Commands that may get a _result/_error, by transaction id (a handful at a time).
  std::map<double, std::string> pending;
  uint32_t stream_id = 0;
  bool stop_requested = false;
  uint32_t out_window = 0;     // the Window Ack Size we sent
  uint64_t acked_by_us = 0;    // last Acknowledgement we sent
  uint64_t acked_by_peer = 0;  // last Acknowledgement the server sent
  bool play_role() const { return cfg.role == ClientRole::kPlay; }

  void pull_handshake_output() {
    Bytes b = handshake->pending_output();
    out.insert(out.end(), b.begin(), b.end());
    handshake->consume_output(b.size());
  }
  void send(Message m) { writer.write(m, out); }
  void send_command(uint32_t sid, Command c) {
    Message m = build_command_message(c);
    m.stream_id = sid;
    m.csid = kCsidCommand;
    send(std::move(m));
  }
  double txn() { return next_txn++; }
  // A command whose answer we track: its transaction id.
  double tracked(const char* name) {
    double t = txn();
    pending[t] = name;
    return t;
  }
  // A NetStream command of a player (transaction 0, null, args) on the play stream.
  Status player_command(const char* name, std::vector<amf::Value> args) {
    if (phase != Phase::kPlaying) return make_error(Errc::kInvalidState, "not playing");
    Message m = build_command_message(make_command(name, 0, amf::Value::null(), std::move(args)));
    m.stream_id = stream_id;
    m.csid = kCsidPlay;
    send(std::move(m));
    return Ok{};
  }

  Error fail(Error e, std::string status_code = {}) {
    if (phase != Phase::kClosed) {
      phase = Phase::kClosed;
      fatal = e;
      events.push(ClientClosed{e, std::move(status_code)});
    }
    return e;
  }

  std::string app_for_connect() const { return cfg.url.app + cfg.auth_query; }

  void send_connect() {
    // Set Chunk Size first, as OBS does, so our connect already uses large chunks.
    send(make_set_chunk_size(cfg.out_chunk_size));
    writer.set_chunk_size(cfg.out_chunk_size);
    amf::Value obj = play_role() ? amf::Value::object({
                                       {"app", amf::Value(app_for_connect())},
                                       {"flashVer", amf::Value(cfg.flash_ver)},
                                       {"tcUrl", amf::Value(cfg.url.tc_url() + cfg.auth_query)},
                                       {"fpad", amf::Value(false)},
                                       {"capabilities", amf::Value(kPlayCapabilities)},
                                       {"audioCodecs", amf::Value(kPlayAudioCodecs)},
                                       {"videoCodecs", amf::Value(kPlayVideoCodecs)},
                                       {"videoFunction", amf::Value(kPlayVideoFunction)},
                                   })
                                 : amf::Value::object({
                                       {"app", amf::Value(app_for_connect())},
                                       {"type", amf::Value("nonprivate")},
                                       {"flashVer", amf::Value(cfg.flash_ver)},
                                       {"tcUrl", amf::Value(cfg.url.tc_url() + cfg.auth_query)},
                                   });
    if (cfg.capabilities.present_any) add_capabilities(obj, cfg.capabilities);
    connect_txn = tracked("connect");
    Command c = make_command("connect", connect_txn, std::move(obj), cfg.extra_connect_args);
    send_command(0, std::move(c));
    phase = Phase::kConnecting;
  }

  Status receive(Bytes data, uint64_t now) {
    (void)now;
    bytes_in += data.size();
    if (phase == Phase::kClosed) {
      if (fatal) return *fatal;
      return make_error(Errc::kInvalidState, "session closed");
    }
    if (phase == Phase::kHandshake) {
      auto consumed = handshake->receive(data);
      if (!consumed.ok()) return fail(std::move(consumed).error());
      pull_handshake_output();
      data = data.subspan(*consumed);
      if (!handshake->done()) return Ok{};
      send_connect();
    }
    if (data.empty()) return Ok{};
    auto r = reader.receive(data);
    while (auto m = reader.next_message()) {
      handle_message(std::move(*m));
      if (phase == Phase::kClosed) break;
    }
    if (!r.ok()) return fail(std::move(r).error());
    if (auto ack = acks.on_bytes(bytes_in)) {
      acked_by_us = *ack;
      send(make_acknowledgement(*ack));
    }
    if (phase == Phase::kClosed && fatal) return *fatal;
    return Ok{};
  }

  void handle_message(Message&& m) {
    switch (m.kind()) {
      case MessageType::kWindowAckSize: {
        auto w = parse_window_ack_size(m.payload);
        if (w.ok()) acks.set_window(*w);
        return;
      }
      case MessageType::kSetPeerBandwidth: {
        // Answer with our Window Ack Size equal to the peer's bandwidth, as clients do.
        auto bw = parse_set_peer_bandwidth(m.payload);
        if (bw.ok()) {
          out_window = bw->window;
          send(make_window_ack_size(bw->window));
        }
        return;
      }
      case MessageType::kAcknowledgement: {
        auto seq = parse_acknowledgement(m.payload);
        if (seq.ok()) acked_by_peer = *seq;
        return;
      }
      case MessageType::kUserControl: {
        auto ev = parse_user_control(m.payload);
        if (ev.ok() && ev->type == UserControlType::kPingRequest) {
          send(make_ping_response(ev->value));
        }
        if (ev.ok() && play_role() &&
            (ev->type == UserControlType::kStreamBegin || ev->type == UserControlType::kStreamEof ||
             ev->type == UserControlType::kStreamDry ||
             ev->type == UserControlType::kStreamIsRecorded)) {
          events.push(StreamControlReceived{ev->type, ev->value});
        }
        return;
      }
      case MessageType::kCommandAmf0:
      case MessageType::kCommandAmf3:
        return handle_command(m);
      case MessageType::kAudio:
      case MessageType::kVideo:
      case MessageType::kDataAmf0:
      case MessageType::kDataAmf3:
        if (play_role()) return handle_stream_message(std::move(m));
        return;  // media or data to a publisher: nothing to do
      case MessageType::kAggregate:
        if (play_role()) return handle_aggregate(std::move(m));
        return;
      default:
        return;  // chunk size/abort applied by the reader; acks need nothing from a client
    }
  }

  // --- play: what the server streams to us -------------------------------------------------
  void warn(Errc code, std::string detail, const Message& m) {
    Error e = make_error(code, std::move(detail));
    e.csid = m.csid;
    e.msg_type = m.type;
    events.push(ClientWarning{std::move(e)});
  }

  // Media, metadata and the data-message statuses of the play stream.
  void handle_stream_message(Message&& m) {
    if (phase != Phase::kPlaySent && phase != Phase::kPlaying) {
      return warn(Errc::kProtocolViolation, "media or data before play ignored", m);
    }
    if (m.kind() == MessageType::kAudio || m.kind() == MessageType::kVideo) {
      if (phase == Phase::kPlaySent) start_playing();  // a server that sends no Play.Start
      events.push(parse_media_message(std::move(m)));
      return;
    }
    auto data = parse_metadata_message(std::move(m), cfg.limits);
    if (!data.ok()) {
      Error e = std::move(data).error();
      events.push(ClientWarning{make_error(e.code, "bad data message: " + e.to_string())});
      return;
    }
    MetadataReceived& md = *data;
    if (md.handler == "|RtmpSampleAccess") {
      SampleAccessReceived sa;
      if (!md.values.empty()) sa.audio = md.values[0].as_bool().value_or(false);
      if (md.values.size() > 1) sa.video = md.values[1].as_bool().value_or(false);
      events.push(sa);
      return;
    }
    if (md.handler == "onStatus" || md.handler == "onPlayStatus") {
      // SRS sends NetStream.Data.Start as a data onStatus; onPlayStatus carries
      // Play.Complete / Play.Switch / Play.TransitionComplete.
      if (!md.values.empty()) on_status_info(md.values[0], md.message.stream_id);
      return;
    }
    events.push(std::move(md));
  }

  void handle_aggregate(Message&& m) {
    auto subs = parse_aggregate(m, cfg.limits);
    if (!subs.ok()) {
      return warn(Errc::kMalformed, "bad aggregate: " + subs.error().to_string(), m);
    }
    for (auto& sub : *subs) {
      if (phase == Phase::kClosed) return;
      handle_stream_message(std::move(sub));
    }
  }

  void start_playing() {
    phase = Phase::kPlaying;
    events.push(PlayStarted{stream_id});
  }

  void handle_command(const Message& m) {
    auto parsed = parse_command(m, cfg.limits);
    if (!parsed.ok()) {
      fail(std::move(parsed).error());
      return;
    }
    Command& c = *parsed;
    if (c.name == "_result") return on_result(c);
    if (c.name == "_error") return on_error(c);
    if (c.name == "onStatus") return on_status(c, m.stream_id);
    // onBWDone, onFCPublish, |RtmpSampleAccess...: nothing to do.
  }

  void on_result(const Command& c) {
    pending.erase(c.transaction_id);
    if (phase == Phase::kConnecting && c.transaction_id == connect_txn) {
      ClientConnected ev;
      ev.fms_ver = c.command_object.get_string("fmsVer");
      const amf::Value* info = c.args.empty() ? nullptr : &c.args[0];
      ev.server_caps = parse_capabilities(c.command_object);
      if (!ev.server_caps.present_any && info) ev.server_caps = parse_capabilities(*info);
      events.push(std::move(ev));
      if (info && info->get("secureToken")) {
        std::string challenge = info->get_string("secureToken");
        if (cfg.secure_token.empty()) {
          fail(make_error(Errc::kAuthFailed, "server requires secureToken but no token given"));
          return;
        }
        send_command(
            0, make_command("secureTokenResponse", 0, amf::Value::null(),
                            {amf::Value(secure_token_response(cfg.secure_token, challenge))}));
      }
      const std::string& stream = cfg.url.stream;
      if (play_role()) {
        send(make_set_buffer_length(0, kConnectionBufferMs));
        if (cfg.play.fc_subscribe) {
          send_command(0, make_command("FCSubscribe", tracked("FCSubscribe"), amf::Value::null(),
                                       {amf::Value(stream)}));
        }
      } else {
        send_command(0, make_command("releaseStream", tracked("releaseStream"), amf::Value::null(),
                                     {amf::Value(stream)}));
        send_command(0, make_command("FCPublish", tracked("FCPublish"), amf::Value::null(),
                                     {amf::Value(stream)}));
      }
      create_txn = tracked("createStream");
      send_command(0, make_command("createStream", create_txn, amf::Value::null(), {}));
      phase = Phase::kCreatingStream;
      return;
    }
    if (phase == Phase::kCreatingStream && c.transaction_id == create_txn) {
      auto id = c.arg_number(0);
      if (!id || !(*id >= 1 && *id <= 4294967295.0)) {  // NaN fails too (fuzzer-found UB)
        fail(make_error(Errc::kMalformed, "createStream _result without a stream id"));
        return;
      }
      stream_id = static_cast<uint32_t>(*id);
      if (play_role()) {
        const PlayOptions& o = cfg.play;
        Message play =
            build_command_message(make_command("play", tracked("play"), amf::Value::null(),
                                               {amf::Value(cfg.url.stream), amf::Value(o.start),
                                                amf::Value(o.duration), amf::Value(o.reset)}));
        play.stream_id = stream_id;
        play.csid = kCsidPlay;
        send(std::move(play));
        send(make_set_buffer_length(stream_id, o.buffer_ms));
        phase = Phase::kPlaySent;
        return;
      }
      send_command(stream_id, make_command("publish", tracked("publish"), amf::Value::null(),
                                           {amf::Value(cfg.url.stream), amf::Value("live")}));
      phase = Phase::kPublishing;
    }
  }

  void on_error(const Command& c) {
    const amf::Value* info = c.args.empty() ? nullptr : &c.args[0];
    std::string code = info ? info->get_string("code") : std::string();
    std::string desc = info ? info->get_string("description") : std::string();
    auto it = pending.find(c.transaction_id);
    std::string method = it == pending.end() ? std::string() : it->second;
    if (it != pending.end()) pending.erase(it);
    if (method == "releaseStream" || method == "FCPublish" || method == "FCSubscribe") {
      // Historical extras some servers refuse; ffmpeg ignores these errors too.
      events.push(ClientWarning{
          make_error(Errc::kUnsupported, "server refused " + method + ": " + code + " " + desc)});
      return;
    }
    if (phase == Phase::kConnecting && handle_auth_reject(code, desc)) return;
    fail(make_error(Errc::kAuthFailed, "server error " + code + ": " + desc), code);
  }

  // Adobe auth (as ffmpeg's rtmpproto and rtmp2): the first reject names the method, the
  // second carries salt and challenge.
  bool handle_auth_reject(const std::string& code, const std::string& desc) {
    if (code != "NetConnection.Connect.Rejected" || cfg.username.empty()) return false;
    if (desc.find("authmod=adobe") == std::string::npos) return false;
    if (desc.find("?reason=needauth") == std::string::npos) {
      if (cfg.auth_query.empty()) {
        events.push(AuthRetry{"?authmod=adobe&user=" + cfg.username});
        close_quietly();
        return true;
      }
      return false;  // already tried: a real failure
    }
    if (desc.find("reason=authfailed") != std::string::npos) return false;
    std::string salt = query_value(desc, "salt");
    std::string challenge = query_value(desc, "challenge");
    std::string opaque = query_value(desc, "opaque");
    // response = b64(md5(b64(md5(user + salt + pass)) + (opaque or challenge) + client_ch))
    // The client challenge: 8 hex digits that differ per connection (from its handshake
    // random bytes, which the elements draw from a real random source), as ffmpeg's do; a
    // fixed one would let a recorded response be replayed against the same server challenge.
    std::vector<uint8_t> seed(cfg.random.begin(), cfg.random.end());
    seed.insert(seed.end(), challenge.begin(), challenge.end());
    const Md5Digest seed_md5 = md5(Bytes(seed.data(), seed.size()));
    std::string client_challenge = to_hex(Bytes(seed_md5.data(), 4));
    std::string h1 = base64_encode(md5(cfg.username + salt + cfg.password));
    std::string h2 =
        base64_encode(md5(h1 + (opaque.empty() ? challenge : opaque) + client_challenge));
    std::string q = "?authmod=adobe&user=" + cfg.username + "&challenge=" + client_challenge +
                    "&response=" + h2;
    if (!opaque.empty()) q += "&opaque=" + opaque;
    events.push(AuthRetry{std::move(q)});
    close_quietly();
    return true;
  }

  void close_quietly() {
    phase = Phase::kClosed;
    events.push(ClientClosed{});
  }

  void on_status(const Command& c, uint32_t on_stream) {
    if (!c.args.empty()) on_status_info(c.args[0], on_stream);
  }

  void on_status_info(const amf::Value& info, uint32_t on_stream) {
    StatusReceived st{info.get_string("level"), info.get_string("code"),
                      info.get_string("description"), on_stream};
    if (st.code == "NetConnection.Connect.ReconnectRequest") {
      std::string target = info.get_string("tcUrl");
      auto resolved = resolve_reconnect_url(cfg.url, target);
      events.push(ReconnectRequested{resolved.ok() ? resolved->tc_url() : cfg.url.tc_url(),
                                     st.description});
      return;
    }
    if (st.level == "error") {
      events.push(st);
      fail(make_error(Errc::kAuthFailed, "server refused: " + st.code + " " + st.description),
           st.code);
      return;
    }
    if (phase == Phase::kPublishing && st.code == "NetStream.Publish.Start") {
      phase = Phase::kLive;
      events.push(st);
      events.push(PublishStarted{stream_id});
      return;
    }
    if (phase == Phase::kPlaySent && st.code == "NetStream.Play.Start") {
      events.push(st);
      start_playing();
      return;
    }
    events.push(std::move(st));
  }

  Status send_media(MessageType type, uint32_t csid, Bytes body, uint64_t dts, Bytes tail = Bytes(),
                    bool borrow_tail = false) {
    if (phase != Phase::kLive) return make_error(Errc::kInvalidState, "not publishing");
    Message m;
    m.type = static_cast<uint8_t>(type);
    m.stream_id = stream_id;
    m.csid = csid;
    m.timestamp = dts;
    if (!borrow_tail) {
      writer.write(m, body, tail, out);  // chunked straight from the caller's bytes: one copy
      return Ok{};
    }
    borrowed.clear();
    writer.write(m, body, tail, out, &borrowed);
    for (const auto& b : borrowed) output.borrow_at(b.at, b.bytes);
    return Ok{};
  }
};

namespace {
uint32_t csid_for(MessageType type) {
  return type == MessageType::kVideo   ? kCsidVideo
         : type == MessageType::kAudio ? kCsidAudio
                                       : kCsidData;
}
}  // namespace

ClientSession::ClientSession(ClientConfig config, uint64_t now_ms)
    : impl_(std::make_unique<Impl>(std::move(config), now_ms)) {}
ClientSession::~ClientSession() = default;

Status ClientSession::receive(Bytes data, uint64_t now_ms) {
  return impl_->receive(data, now_ms);
}

std::optional<ClientEvent> ClientSession::next_event() {
  return impl_->events.pop();
}

Bytes ClientSession::pending_output() const {
  return impl_->output.pending();
}

void ClientSession::consume_output(size_t n) {
  impl_->output.consume(n);
}

std::optional<uint64_t> ClientSession::next_timeout() const {
  const Impl& s = *impl_;
  if (s.phase == Phase::kClosed || s.phase == Phase::kLive || s.phase == Phase::kPlaying ||
      s.cfg.timeout_ms == 0) {
    return std::nullopt;
  }
  return s.start_ms + s.cfg.timeout_ms;
}

void ClientSession::handle_timeout(uint64_t now_ms) {
  Impl& s = *impl_;
  auto t = next_timeout();
  if (!t || now_ms < *t) return;
  const char* stage = s.phase == Phase::kHandshake    ? "handshake"
                      : s.phase == Phase::kConnecting ? "connect"
                      : s.play_role()                 ? "play"
                                                      : "publish";
  s.fail(make_error(Errc::kTimeout, std::string("no answer to ") + stage + " within " +
                                        std::to_string(s.cfg.timeout_ms) + " ms"));
}

bool ClientSession::publishing() const {
  return impl_->phase == Phase::kLive;
}
bool ClientSession::playing() const {
  return impl_->phase == Phase::kPlaying;
}
bool ClientSession::closed() const {
  return impl_->phase == Phase::kClosed;
}
uint32_t ClientSession::stream_id() const {
  return impl_->stream_id;
}

Status ClientSession::pause(bool paused, double position_ms) {
  return impl_->player_command("pause", {amf::Value(paused), amf::Value(position_ms)});
}
Status ClientSession::seek(double position_ms) {
  return impl_->player_command("seek", {amf::Value(position_ms)});
}
Status ClientSession::receive_audio(bool enabled) {
  return impl_->player_command("receiveAudio", {amf::Value(enabled)});
}
Status ClientSession::receive_video(bool enabled) {
  return impl_->player_command("receiveVideo", {amf::Value(enabled)});
}
Status ClientSession::set_buffer_length(uint32_t buffer_ms) {
  if (!playing()) return make_error(Errc::kInvalidState, "not playing");
  impl_->send(make_set_buffer_length(impl_->stream_id, buffer_ms));
  return Ok{};
}
Status ClientSession::play2(const Play2Options& o) {
  amf::Value opts = amf::Value::object({
      {"streamName", amf::Value(o.stream_name)},
      {"oldStreamName",
       amf::Value(o.old_stream_name.empty() ? impl_->cfg.url.stream : o.old_stream_name)},
      {"start", amf::Value(o.start)},
      {"len", amf::Value(o.len)},
      {"transition", amf::Value(o.transition)},
  });
  return impl_->player_command("play2", {std::move(opts)});
}

Status ClientSession::send_audio(Bytes body, uint64_t dts_ms) {
  return impl_->send_media(MessageType::kAudio, kCsidAudio, body, dts_ms);
}
Status ClientSession::send_video(Bytes body, uint64_t dts_ms) {
  return impl_->send_media(MessageType::kVideo, kCsidVideo, body, dts_ms);
}
Status ClientSession::send_metadata(const amf::Value& metadata, uint64_t dts_ms) {
  Message m = build_set_data_frame(metadata);
  return impl_->send_media(MessageType::kDataAmf0, kCsidData, m.payload, dts_ms);
}
Status ClientSession::send_message(MessageType type, Bytes body, uint64_t dts_ms) {
  return send_message(type, body, Bytes(), dts_ms);
}
Status ClientSession::send_message(MessageType type, Bytes head, Bytes tail, uint64_t dts_ms) {
  return impl_->send_media(type, csid_for(type), head, dts_ms, tail);
}
Status ClientSession::send_message_borrowed(MessageType type, Bytes head, Bytes tail,
                                            uint64_t dts_ms) {
  return impl_->send_media(type, csid_for(type), head, dts_ms, tail, true);
}
size_t ClientSession::pending_output_pieces(std::vector<Bytes>& pieces, size_t max_pieces) const {
  return impl_->output.gather(pieces, max_pieces);
}

void ClientSession::stop() {
  stop(StopCommands{});
}

void ClientSession::stop(const StopCommands& commands) {
  Impl& s = *impl_;
  if (s.phase == Phase::kClosed) return;
  if (s.stream_id != 0) {
    if (commands.fc_unpublish && !s.play_role()) {
      s.send_command(0, make_command("FCUnpublish", s.txn(), amf::Value::null(),
                                     {amf::Value(s.cfg.url.stream)}));
    }
    if (commands.close_stream && !s.play_role()) {
      s.send_command(s.stream_id, make_command("closeStream", 0, amf::Value::null(), {}));
    }
    if (commands.delete_stream) {
      s.send_command(0, make_command("deleteStream", s.txn(), amf::Value::null(),
                                     {amf::Value(static_cast<double>(s.stream_id))}));
    }
  }
  s.phase = Phase::kClosed;
  s.events.push(ClientClosed{});
}

void ClientSession::set_chunk_size(uint32_t n) {
  Impl& s = *impl_;
  n = std::clamp<uint32_t>(n, 1, 0x7FFFFFFF);
  if (s.phase == Phase::kHandshake) {
    s.cfg.out_chunk_size = n;
    return;
  }
  if (s.phase == Phase::kClosed || n == s.writer.chunk_size()) return;
  s.send(make_set_chunk_size(n));
  s.writer.set_chunk_size(n);
}

ClientStats ClientSession::stats() const {
  const Impl& s = *impl_;
  ClientStats st;
  st.in_chunk_size = s.reader.chunk_size();
  st.out_chunk_size = s.writer.chunk_size();
  st.in_window_ack_size = s.acks.window();
  st.out_window_ack_size = s.out_window;
  st.in_bytes_total = s.reader.bytes_received();
  st.out_bytes_total = s.output.consumed();
  st.in_bytes_acked = s.acked_by_us;
  st.out_bytes_acked = s.acked_by_peer;
  return st;
}

uint64_t ClientSession::bytes_received() const {
  return impl_->reader.bytes_received();
}
uint64_t ClientSession::bytes_sent() const {
  return impl_->output.consumed();
}

}  // namespace rtmp
