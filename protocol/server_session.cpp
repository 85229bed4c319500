#include "protocol/server_session.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "protocol/aggregate.h"
#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/handshake.h"
#include "protocol/session_io.h"
#include "protocol/stream_message.h"

namespace rtmp {
namespace {

// Chunk stream ids we send on, as nginx-rtmp and SRS do: 2 protocol control, 3 commands,
// 5 stream status, 4 audio, 6 video, 5 data.
constexpr uint32_t kCsidCommand = 3;
constexpr uint32_t kCsidStatus = 5;
constexpr uint32_t kCsidAudio = 4;
constexpr uint32_t kCsidVideo = 6;
constexpr uint32_t kCsidData = 5;

enum class Phase : uint8_t { kHandshake, kAwaitConnect, kConnected, kClosed };

enum class StreamState : uint8_t { kCreated, kPublishPending, kPublishing, kPlayPending, kPlaying };

struct StreamSlot {
  StreamState state = StreamState::kCreated;
  std::string name;
  bool play_reset = true;  // the pending play asked for a playlist reset
  PlayState play;          // kPlaying only
};

// Most FCPublish names remembered for their deferred onFCPublish (one per stream a client
// announces; real publishers send one). Bounds what a client can make us keep.
constexpr size_t kMaxFcPublishNames = 16;

// "play"/"pause"/"seek" positions are numbers of ms; an absent or non-finite one is 0.
double finite_or(std::optional<double> v, double fallback) {
  return v && std::isfinite(*v) ? *v : fallback;
}

// "key?token=1&x=2" -> ("key", "token=1&x=2").
std::pair<std::string, std::string> split_query(const std::string& name) {
  auto q = name.find('?');
  if (q == std::string::npos) return {name, {}};
  return {name.substr(0, q), name.substr(q + 1)};
}

}  // namespace

struct ServerSession::Impl {
  explicit Impl(ServerConfig c, uint64_t now)
      : cfg(std::move(c)), reader(cfg.limits), start_ms(now), last_rx_ms(now) {
    reader.set_message_limits(
        std::min(cfg.limits.max_message_size, cfg.limits.max_message_size_before_publish),
        std::min(cfg.limits.max_buffered_bytes, cfg.limits.max_buffered_bytes_before_publish));
  }
  // The first accepted publish or play lifts the pre-publish message bounds.
  void stream_accepted() {
    if (!any_stream_live) {
      reader.set_message_limits(cfg.limits.max_message_size, cfg.limits.max_buffered_bytes);
    }
    any_stream_live = true;
  }

  ServerConfig cfg;
  Phase phase = Phase::kHandshake;
  ServerHandshake handshake;
  ChunkReader reader;
  ChunkWriter writer;
  AckTracker acks;

  detail::OutputBuffer output;
  std::vector<uint8_t>& out = output.buffer();
  std::vector<ChunkWriter::Borrowed> borrowed;  // scratch for send_media_borrowed
  detail::EventQueue<ServerEvent> events;
  std::optional<Error> fatal;

  uint64_t start_ms;
  uint64_t last_rx_ms;
  uint64_t handshake_done_ms = 0;
  uint64_t bytes_in = 0;
  bool any_stream_live = false;  // a publish or play was accepted once
  bool closing_after_flush = false;

  std::string app, tc_url, flash_ver;
  PeerCapabilities peer_caps;
  double object_encoding = 0;
  uint32_t next_stream_id = 1;
  std::map<uint32_t, StreamSlot> streams;
  // Media and data that arrived for a publish still awaiting accept/reject (clients that do
  // not wait for Publish.Start, or a burst read in one receive()). Released in order on
  // accept, dropped on reject; bounded by Limits::max_bytes_before_publish.
  std::vector<Message> held;
  size_t held_bytes = 0;
  // Stream names announced with FCPublish, answered with onFCPublish only on accept_publish.
  std::vector<std::string> fc_published;

  // --- output -----------------------------------------------------------------------------
  void send(const Message& m) { writer.write(m, out); }
  void send_command(uint32_t stream_id, uint32_t csid, const Command& c) {
    Message m = build_command_message(c);
    m.stream_id = stream_id;
    m.csid = csid;
    send(m);
  }

  void send_status(uint32_t stream_id, std::string_view level, std::string_view code,
                   std::string description, const std::string& details) {
    amf::Value info = amf::Value::object({
        {"level", amf::Value(std::string(level))},
        {"code", amf::Value(std::string(code))},
        {"description", amf::Value(std::move(description))},
    });
    if (!details.empty()) info.set("details", amf::Value(details));
    send_command(stream_id, kCsidStatus, make_on_status(std::move(info)));
  }

  // One message for an accepted play (send_media / send_media_borrowed).
  Status send_media(uint32_t stream_id, const Message& header, Bytes payload, bool borrow) {
    RTMP_TRY(StreamSlot * slot, decision_slot(stream_id, StreamState::kPlaying));
    const bool video = header.kind() == MessageType::kVideo;
    const bool audio = header.kind() == MessageType::kAudio;
    if ((video || audio) && (slot->play.paused || (video && !slot->play.receive_video) ||
                             (audio && !slot->play.receive_audio))) {
      return Ok{};  // the player asked not to get it (PlayState)
    }
    Message m;
    m.type = header.type;
    m.stream_id = stream_id;
    m.timestamp = header.timestamp;
    m.csid = video ? kCsidVideo : audio ? kCsidAudio : kCsidData;
    if (!borrow) {
      writer.write(m, payload, out);  // no intermediate copy of the payload
      return Ok{};
    }
    borrowed.clear();
    writer.write(m, Bytes(), payload, out, &borrowed);
    for (const auto& b : borrowed) output.borrow_at(b.at, b.bytes);
    return Ok{};
  }

  // --- failure ----------------------------------------------------------------------------
  Error fail(Error e) {
    if (phase != Phase::kClosed) {
      phase = Phase::kClosed;
      fatal = e;
      events.push(SessionClosed{e});
    }
    return e;
  }
  void warn(Errc code, std::string detail, const Message* m = nullptr) {
    Error e = make_error(code, std::move(detail));
    if (m) {
      e.csid = m->csid;
      e.msg_type = m->type;
    }
    events.push(SessionWarning{std::move(e)});
  }

  // --- input ------------------------------------------------------------------------------
  Status receive(Bytes data, uint64_t now) {
    if (phase == Phase::kClosed) {
      if (fatal) return *fatal;
      return make_error(Errc::kInvalidState, "session closed");
    }
    last_rx_ms = now;
    bytes_in += data.size();
    if (phase != Phase::kConnected && bytes_in > cfg.limits.max_bytes_before_connect) {
      return fail(make_error(Errc::kLimitExceeded,
                             "more than " + std::to_string(cfg.limits.max_bytes_before_connect) +
                                 " bytes before connect",
                             bytes_in));
    }
    if (phase == Phase::kConnected && !any_stream_live &&
        bytes_in > cfg.limits.max_bytes_before_publish) {
      return fail(make_error(Errc::kLimitExceeded,
                             "more than " + std::to_string(cfg.limits.max_bytes_before_publish) +
                                 " bytes before publish",
                             bytes_in));
    }

    if (phase == Phase::kHandshake) {
      auto consumed = handshake.receive(data);
      if (!consumed.ok()) return fail(std::move(consumed).error());
      Bytes hs_out = handshake.pending_output();
      out.insert(out.end(), hs_out.begin(), hs_out.end());
      handshake.consume_output(hs_out.size());
      data = data.subspan(*consumed);
      if (!handshake.done()) return Ok{};
      phase = Phase::kAwaitConnect;
      handshake_done_ms = now;
    }
    if (data.empty()) return Ok{};

    RTMP_CHECK(feed_chunks(data));
    // Acknowledgements count every byte of the connection, handshake included.
    if (auto ack = acks.on_bytes(bytes_in)) send(make_acknowledgement(*ack));
    if (phase == Phase::kClosed && fatal) return *fatal;
    return Ok{};
  }

  Status feed_chunks(Bytes data) {
    auto r = reader.receive(data);
    // Deliver what was complete before the fault, then fail.
    while (auto m = reader.next_message()) {
      handle_message(std::move(*m));
      if (phase == Phase::kClosed) return Ok{};
    }
    if (!r.ok()) return fail(std::move(r).error());
    return Ok{};
  }

  void handle_message(Message&& m) {
    switch (m.kind()) {
      case MessageType::kSetChunkSize:
      case MessageType::kAbort:
      case MessageType::kAcknowledgement:
        return;  // chunk size / abort applied by the reader; acks need no action from a server
      case MessageType::kWindowAckSize: {
        auto w = parse_window_ack_size(m.payload);
        if (w.ok()) acks.set_window(*w);
        return;
      }
      case MessageType::kSetPeerBandwidth:
        return;
      case MessageType::kUserControl:
        return handle_user_control(m);
      case MessageType::kCommandAmf0:
      case MessageType::kCommandAmf3:
        return handle_command(m);
      case MessageType::kDataAmf0:
      case MessageType::kDataAmf3:
        return handle_data(std::move(m));
      case MessageType::kAudio:
      case MessageType::kVideo:
        return handle_media(std::move(m));
      case MessageType::kAggregate:
        return handle_aggregate(std::move(m));
      case MessageType::kSharedObjectAmf0:
      case MessageType::kSharedObjectAmf3:
        return warn(Errc::kUnsupported, "shared object message ignored", &m);
    }
    warn(Errc::kUnsupported, "unknown message type " + std::to_string(m.type) + " ignored", &m);
  }

  void handle_user_control(const Message& m) {
    auto ev = parse_user_control(m.payload);
    if (!ev.ok()) return warn(Errc::kMalformed, "bad user control event", &m);
    if (ev->type == UserControlType::kPingRequest) send(make_ping_response(ev->value));
    if (ev->type == UserControlType::kSetBufferLength) {
      // librtmp and rtmp2src send one for stream 0 before createStream: nothing to keep.
      if (StreamSlot* slot = slot_in(ev->value, StreamState::kPlaying)) {
        slot->play.buffer_ms = ev->buffer_ms;
      }
      if (ev->value != 0) events.push(BufferLengthSet{ev->value, ev->buffer_ms});
    }
  }

  bool is_publishing(uint32_t stream_id) const {
    auto it = streams.find(stream_id);
    return it != streams.end() && it->second.state == StreamState::kPublishing;
  }

  // Keeps a message for a publish awaiting the caller's decision. Returns false when the
  // message is not for such a stream.
  bool hold_if_pending(Message& m) {
    auto it = streams.find(m.stream_id);
    if (it == streams.end() || it->second.state != StreamState::kPublishPending) return false;
    held_bytes += m.payload.size();
    if (held_bytes > cfg.limits.max_bytes_before_publish) {
      fail(make_error(Errc::kLimitExceeded,
                      "more than " + std::to_string(cfg.limits.max_bytes_before_publish) +
                          " bytes of media before the publish was accepted"));
      return true;
    }
    held.push_back(std::move(m));
    return true;
  }

  void release_held(uint32_t stream_id) {
    std::vector<Message> msgs;
    msgs.swap(held);
    held_bytes = 0;
    for (auto& m : msgs) {
      if (m.stream_id != stream_id) {
        held_bytes += m.payload.size();
        held.push_back(std::move(m));
      } else if (m.kind() == MessageType::kAudio || m.kind() == MessageType::kVideo) {
        handle_media(std::move(m));
      } else {
        handle_data(std::move(m));
      }
    }
  }

  void handle_media(Message&& m) {
    if (hold_if_pending(m)) return;
    if (!is_publishing(m.stream_id)) {
      return warn(Errc::kProtocolViolation,
                  "media on stream " + std::to_string(m.stream_id) + " that is not publishing", &m);
    }
    events.push(parse_media_message(std::move(m)));
  }

  void handle_data(Message&& m) {
    if (hold_if_pending(m)) return;
    const uint32_t csid = m.csid;
    const uint8_t type = m.type;
    const bool publishing = is_publishing(m.stream_id);
    auto data = parse_metadata_message(std::move(m), cfg.limits);
    if (!data.ok()) {
      Error e = make_error(Errc::kMalformed, "bad data message: " + data.error().to_string());
      e.csid = csid;
      e.msg_type = type;
      return events.push(SessionWarning{std::move(e)});
    }
    if (!publishing) {
      return warn(Errc::kProtocolViolation, "data message before publish ignored", &data->message);
    }
    events.push(std::move(data).value());
  }

  void handle_aggregate(Message&& m) {
    auto subs = parse_aggregate(m);
    if (!subs.ok()) {
      return warn(Errc::kMalformed, "bad aggregate: " + subs.error().to_string(), &m);
    }
    for (auto& sub : *subs) {
      if (sub.kind() == MessageType::kAudio || sub.kind() == MessageType::kVideo) {
        handle_media(std::move(sub));
      } else if (sub.kind() == MessageType::kDataAmf0 || sub.kind() == MessageType::kDataAmf3) {
        handle_data(std::move(sub));
      }
    }
  }

  // --- commands ---------------------------------------------------------------------------
  void reply_result(uint32_t stream_id, double txn, amf::Value value) {
    if (txn == 0) return;  // transaction 0 expects no reply
    send_command(stream_id, kCsidCommand, make_result(txn, amf::Value::null(), std::move(value)));
  }

  void handle_command(const Message& m) {
    auto parsed = parse_command(m, cfg.limits);
    if (!parsed.ok()) {
      // An undecodable command is a peer fault: nothing after it can be trusted to be in sync.
      fail(std::move(parsed).error());
      return;
    }
    Command& c = *parsed;
    const std::string& name = c.name;
    if (name == "connect") return on_connect(m, c);
    if (phase != Phase::kConnected) {
      fail(make_error(Errc::kProtocolViolation, "command '" + name + "' before connect"));
      return;
    }
    if (name == "releaseStream") return reply_result(m.stream_id, c.transaction_id, amf::Value());
    if (name == "FCPublish") {
      // The onFCPublish that says "Publish.Start" waits for accept_publish (SRS sends it at
      // once, before the key is checked; nginx-rtmp never sends it and every client copes).
      std::string stream = split_query(c.arg_string(0)).first;
      bool live = false;
      for (const auto& [id, slot] : streams) {
        live |= slot.state == StreamState::kPublishing && slot.name == stream;
      }
      if (live) {
        send_fc_publish(stream);
      } else if (std::find(fc_published.begin(), fc_published.end(), stream) ==
                 fc_published.end()) {
        if (fc_published.size() >= kMaxFcPublishNames) fc_published.erase(fc_published.begin());
        fc_published.push_back(std::move(stream));
      }
      return reply_result(m.stream_id, c.transaction_id, amf::Value());
    }
    if (name == "createStream") return on_create_stream(m, c);
    if (name == "publish") return on_publish(m, c);
    if (name == "play") return on_play(m, c);
    if (name == "play2") return on_play2(m, c);
    if (name == "receiveAudio" || name == "receiveVideo") return on_receive(m, c);
    if (name == "pause" || name == "pauseRaw" || name == "pauseraw") return on_pause(m, c);
    if (name == "seek") return on_seek(m, c);
    if (name == "FCSubscribe" || name == "FCUnsubscribe") {
      // Akamai/Limelight-era CDN subscription (ffmpeg sends it for rtmp_live=live): the
      // play itself carries everything we need.
      return reply_result(m.stream_id, c.transaction_id, amf::Value());
    }
    if (name == "FCUnpublish") {
      std::string stream = split_query(c.arg_string(0)).first;
      for (auto& [id, slot] : streams) {
        if (slot.state == StreamState::kPublishing && slot.name == stream) end_stream(id, name);
      }
      amf::Value info = amf::Value::object({{"code", amf::Value("NetStream.Unpublish.Success")},
                                            {"description", amf::Value(stream)}});
      send_command(m.stream_id, kCsidCommand,
                   make_command("onFCUnpublish", 0, amf::Value::null(), {std::move(info)}));
      return reply_result(m.stream_id, c.transaction_id, amf::Value());
    }
    if (name == "deleteStream") {
      auto id = c.arg_number(0);
      if (id && *id >= 0 && *id < 4294967296.0) {
        uint32_t sid = static_cast<uint32_t>(*id);
        end_play(sid, name);
        end_stream(sid, name);
        streams.erase(sid);
      }
      return;
    }
    if (name == "closeStream") {
      end_play(m.stream_id, name);
      end_stream(m.stream_id, name);
      return;
    }
    if (name == "getStreamLength")
      return reply_result(m.stream_id, c.transaction_id, amf::Value(0.0));
    if (name == "_checkbw") return reply_result(m.stream_id, c.transaction_id, amf::Value());
    if (name == "_result" || name == "_error" || name == "onStatus" || name == "onBWDone" ||
        name == "@setDataFrame") {
      return;  // replies to us or misplaced data: nothing to answer
    }
    // Unknown: answer harmlessly (real encoders send oddities; ertmp-wire.md B.4 #6).
    warn(Errc::kUnsupported, "unknown command '" + name + "' answered with _result", &m);
    reply_result(m.stream_id, c.transaction_id, amf::Value());
  }

  void on_connect(const Message& m, const Command& c) {
    if (phase == Phase::kConnected) {
      warn(Errc::kProtocolViolation, "second connect ignored", &m);
      return;
    }
    const amf::Value& obj = c.command_object;
    app = obj.get_string("app");
    tc_url = obj.get_string("tcUrl");
    flash_ver = obj.get_string("flashVer");
    object_encoding = obj.get_number("objectEncoding").value_or(0);
    peer_caps = parse_capabilities(obj);
    // A trailing slash or an instance path is kept: clients put what they want in `app`.

    send(make_window_ack_size(cfg.window_ack_size));
    send(make_set_peer_bandwidth(cfg.peer_bandwidth, PeerBandwidthLimit::kDynamic));
    send(make_user_control(UserControlType::kStreamBegin, 0));

    amf::Value props = amf::Value::object({{"fmsVer", amf::Value(cfg.fms_version)},
                                           {"capabilities", amf::Value(31.0)},
                                           {"mode", amf::Value(1.0)}});
    amf::Value info = amf::Value::object({
        {"level", amf::Value("status")},
        {"code", amf::Value("NetConnection.Connect.Success")},
        {"description", amf::Value("Connection succeeded.")},
        {"objectEncoding", amf::Value(object_encoding)},
    });
    // E-RTMP: echo only to a client that negotiated; OBS negotiates nothing (A.6).
    if (peer_caps.present_any) add_capabilities(props, server_echo(cfg.capabilities, peer_caps));
    send_command(0, kCsidCommand, make_result(c.transaction_id, std::move(props), std::move(info)));

    send(make_set_chunk_size(cfg.out_chunk_size));
    writer.set_chunk_size(cfg.out_chunk_size);

    phase = Phase::kConnected;
    events.push(ConnectRequested{app, tc_url, flash_ver, peer_caps});
  }

  void on_create_stream(const Message& m, const Command& c) {
    if (streams.size() >= 16) {
      fail(make_error(Errc::kLimitExceeded, "too many createStream calls"));
      return;
    }
    uint32_t id = next_stream_id++;
    streams[id] = StreamSlot{};
    reply_result(m.stream_id, c.transaction_id, amf::Value(static_cast<double>(id)));
  }

  void on_publish(const Message& m, const Command& c) {
    uint32_t id = m.stream_id;
    if (id == 0) {
      send_status(0, "error", "NetStream.Publish.BadName", "publish on stream 0", "");
      return;
    }
    auto it = streams.find(id);
    if (it == streams.end()) {
      // Some clients publish on a stream id they assume; accept it as created.
      if (streams.size() >= 16) {
        fail(make_error(Errc::kLimitExceeded, "too many streams"));
        return;
      }
      it = streams.emplace(id, StreamSlot{}).first;
    }
    if (it->second.state != StreamState::kCreated) {
      warn(Errc::kProtocolViolation, "publish on a stream already in use", &m);
      return;
    }
    std::string full = c.arg_string(0);
    auto [stream_name, query] = split_query(full);
    it->second.state = StreamState::kPublishPending;
    it->second.name = stream_name;
    PublishRequested ev;
    ev.stream_id = id;
    ev.app = app;
    ev.stream_name = std::move(stream_name);
    ev.query = std::move(query);
    ev.publish_type = c.args.size() > 1 ? c.arg_string(1) : "live";
    if (ev.publish_type.empty()) ev.publish_type = "live";
    ev.tc_url = tc_url;
    ev.flash_ver = flash_ver;
    ev.peer_caps = peer_caps;
    events.push(std::move(ev));
  }

  void on_play(const Message& m, const Command& c) {
    uint32_t id = m.stream_id;
    auto it = streams.find(id);
    if (id == 0 || it == streams.end()) {
      send_status(id, "error", "NetStream.Play.Failed", "play on a stream not created", "");
      return;
    }
    if (it->second.state != StreamState::kCreated) {
      // nginx-rtmp ignores a second play on a joined stream too ("already joined").
      warn(Errc::kProtocolViolation, "play on a stream already in use ignored", &m);
      return;
    }
    PlayRequested ev;
    ev.start = finite_or(c.arg_number(1), -2);
    ev.duration = finite_or(c.arg_number(2), -1);
    ev.reset = c.arg_bool(3).value_or(true);
    request_play(id, c.arg_string(0), std::move(ev));
  }

  // play2(NetStreamPlayOptions{streamName, oldStreamName, start, len, transition}): nginx-rtmp
  // ends the current play and starts the new one; so do we.
  void on_play2(const Message& m, const Command& c) {
    const amf::Value* opts = c.args.empty() ? nullptr : &c.args[0];
    auto it = streams.find(m.stream_id);
    if (!opts || !opts->properties() || m.stream_id == 0 || it == streams.end()) {
      warn(Errc::kMalformed, "play2 without options or on a stream not created", &m);
      return;
    }
    if (it->second.state == StreamState::kPlayPending) {
      warn(Errc::kProtocolViolation, "play2 before the play was decided ignored", &m);
      return;
    }
    if (it->second.state != StreamState::kCreated && it->second.state != StreamState::kPlaying) {
      warn(Errc::kProtocolViolation, "play2 on a publishing stream ignored", &m);
      return;
    }
    end_play(m.stream_id, "play2");
    PlayRequested ev;
    ev.start = finite_or(opts->get_number("start"), -2);
    ev.duration = finite_or(opts->get_number("len"), -1);
    ev.reset = false;
    ev.transition = opts->get_string("transition");
    ev.old_stream_name = opts->get_string("oldStreamName");
    request_play(m.stream_id, opts->get_string("streamName"), std::move(ev));
  }

  void request_play(uint32_t id, const std::string& full_name, PlayRequested&& ev) {
    StreamSlot& slot = streams[id];
    auto [stream_name, query] = split_query(full_name);
    slot.state = StreamState::kPlayPending;
    slot.name = stream_name;
    slot.play_reset = ev.reset;
    ev.stream_id = id;
    ev.app = app;
    ev.stream_name = std::move(stream_name);
    ev.query = std::move(query);
    ev.tc_url = tc_url;
    ev.flash_ver = flash_ver;
    ev.peer_caps = peer_caps;
    events.push(std::move(ev));
  }

  void on_receive(const Message& m, const Command& c) {
    StreamSlot* slot = slot_in(m.stream_id, StreamState::kPlaying);
    auto flag = c.arg_bool(0);
    if (!slot || !flag) {
      warn(Errc::kProtocolViolation, c.name + " without a flag or outside a play ignored", &m);
      return;
    }
    bool video = c.name == "receiveVideo";
    (video ? slot->play.receive_video : slot->play.receive_audio) = *flag;
    events.push(ReceiveChanged{m.stream_id, video, *flag});
  }

  void on_pause(const Message& m, const Command& c) {
    StreamSlot* slot = slot_in(m.stream_id, StreamState::kPlaying);
    auto flag = c.arg_bool(0);
    if (!slot || !flag) {
      warn(Errc::kProtocolViolation, "pause without a flag or outside a play ignored", &m);
      return;
    }
    double position = finite_or(c.arg_number(1), 0);
    slot->play.paused = *flag;
    // SRS's answers: Pause.Notify + Stream EOF; Unpause.Notify + Stream Begin.
    if (*flag) {
      send_status(m.stream_id, "status", "NetStream.Pause.Notify", "Paused " + slot->name,
                  slot->name);
      send(make_user_control(UserControlType::kStreamEof, m.stream_id));
    } else {
      send_status(m.stream_id, "status", "NetStream.Unpause.Notify", "Unpaused " + slot->name,
                  slot->name);
      send(make_user_control(UserControlType::kStreamBegin, m.stream_id));
    }
    events.push(PlayPaused{m.stream_id, *flag, position});
  }

  void on_seek(const Message& m, const Command& c) {
    if (!slot_in(m.stream_id, StreamState::kPlaying)) {
      warn(Errc::kProtocolViolation, "seek outside a play ignored", &m);
      return;
    }
    events.push(SeekRequested{m.stream_id, finite_or(c.arg_number(0), 0)});
  }

  void send_fc_publish(const std::string& stream) {
    amf::Value info = amf::Value::object(
        {{"code", amf::Value("NetStream.Publish.Start")}, {"description", amf::Value(stream)}});
    send_command(0, kCsidCommand,
                 make_command("onFCPublish", 0, amf::Value::null(), {std::move(info)}));
  }

  // The player left a stream (closeStream / deleteStream / play2).
  void end_play(uint32_t id, const std::string& reason) {
    auto it = streams.find(id);
    if (it == streams.end()) return;
    StreamState was = it->second.state;
    if (was != StreamState::kPlaying && was != StreamState::kPlayPending) return;
    it->second.state = StreamState::kCreated;
    it->second.play = PlayState{};
    // A pending play ends unanswered: the PlayRequested decision then fails harmlessly.
    if (was == StreamState::kPlaying) events.push(PlayEnded{id, reason});
  }

  bool any_other_live(uint32_t id) const {
    for (const auto& [sid, slot] : streams) {
      if (sid != id &&
          (slot.state == StreamState::kPublishing || slot.state == StreamState::kPlaying)) {
        return true;
      }
    }
    return false;
  }

  void end_stream(uint32_t id, const std::string& reason) {
    auto it = streams.find(id);
    if (it == streams.end()) return;
    bool was_publishing = it->second.state == StreamState::kPublishing;
    it->second.state = StreamState::kCreated;
    if (was_publishing) events.push(PublishEnded{id, reason});
  }

  StreamSlot* slot_in(uint32_t id, StreamState want) {
    auto it = streams.find(id);
    if (it == streams.end() || it->second.state != want) return nullptr;
    return &it->second;
  }

  // The slot of a stream in `want` for a caller's decision; the errors a decision returns.
  Result<StreamSlot*> decision_slot(uint32_t id, StreamState want) {
    if (phase == Phase::kClosed) return make_error(Errc::kInvalidState, "session closed");
    StreamSlot* slot = slot_in(id, want);
    if (!slot) {
      return make_error(Errc::kInvalidArgument, want == StreamState::kPlaying
                                                    ? "stream is not playing"
                                                    : "no pending play on that stream");
    }
    return slot;
  }

  bool any_playing() const {
    for (const auto& [sid, slot] : streams) {
      if (slot.state == StreamState::kPlaying) return true;
    }
    return false;
  }

  // --- timeouts ---------------------------------------------------------------------------
  std::optional<uint64_t> next_timeout() const {
    if (phase == Phase::kClosed) return std::nullopt;
    std::optional<uint64_t> t;
    auto consider = [&t](uint64_t at) { t = t ? std::min(*t, at) : at; };
    const Limits& l = cfg.limits;
    if (phase == Phase::kHandshake && l.handshake_timeout_ms) {
      consider(start_ms + l.handshake_timeout_ms);
    }
    if (phase != Phase::kHandshake && !any_stream_live && l.connect_to_publish_timeout_ms) {
      consider(handshake_done_ms + l.connect_to_publish_timeout_ms);
    }
    if (l.idle_timeout_ms && !any_playing()) consider(last_rx_ms + l.idle_timeout_ms);
    return t;
  }

  void handle_timeout(uint64_t now) {
    if (phase == Phase::kClosed) return;
    const Limits& l = cfg.limits;
    if (phase == Phase::kHandshake && l.handshake_timeout_ms &&
        now >= start_ms + l.handshake_timeout_ms) {
      fail(make_error(Errc::kTimeout, "handshake not completed in " +
                                          std::to_string(l.handshake_timeout_ms) + " ms"));
      return;
    }
    if (phase != Phase::kHandshake && !any_stream_live && l.connect_to_publish_timeout_ms &&
        now >= handshake_done_ms + l.connect_to_publish_timeout_ms) {
      fail(make_error(Errc::kTimeout, "no publish within " +
                                          std::to_string(l.connect_to_publish_timeout_ms) +
                                          " ms of connecting"));
      return;
    }
    if (l.idle_timeout_ms && !any_playing() && now >= last_rx_ms + l.idle_timeout_ms) {
      fail(make_error(Errc::kTimeout,
                      "nothing received for " + std::to_string(l.idle_timeout_ms) + " ms"));
    }
  }
};

ServerSession::ServerSession(ServerConfig config, uint64_t now_ms)
    : impl_(std::make_unique<Impl>(std::move(config), now_ms)) {}
ServerSession::~ServerSession() = default;

Status ServerSession::receive(Bytes data, uint64_t now_ms) {
  return impl_->receive(data, now_ms);
}

std::optional<ServerEvent> ServerSession::next_event() {
  return impl_->events.pop();
}

Bytes ServerSession::pending_output() const {
  return impl_->output.pending();
}

void ServerSession::consume_output(size_t n) {
  impl_->output.consume(n);
}

size_t ServerSession::pending_output_pieces(std::vector<Bytes>& pieces, size_t max_pieces) const {
  return impl_->output.gather(pieces, max_pieces);
}

size_t ServerSession::pending_output_size() const {
  return impl_->output.size();
}

Status ServerSession::accept_publish(uint32_t stream_id) {
  Impl& s = *impl_;
  if (s.phase == Phase::kClosed) return make_error(Errc::kInvalidState, "session closed");
  StreamSlot* slot = s.slot_in(stream_id, StreamState::kPublishPending);
  if (!slot) return make_error(Errc::kInvalidArgument, "no pending publish on that stream");
  slot->state = StreamState::kPublishing;
  s.stream_accepted();
  auto fc = std::find(s.fc_published.begin(), s.fc_published.end(), slot->name);
  if (fc != s.fc_published.end()) {
    s.fc_published.erase(fc);
    s.send_fc_publish(slot->name);
  }
  s.send(make_user_control(UserControlType::kStreamBegin, stream_id));
  s.send_status(stream_id, "status", "NetStream.Publish.Start", slot->name + " is now published.",
                slot->name);
  s.release_held(stream_id);
  return Ok{};
}

Status ServerSession::reject_publish(uint32_t stream_id, PublishRejection why,
                                     std::string description) {
  Impl& s = *impl_;
  if (s.phase == Phase::kClosed) return make_error(Errc::kInvalidState, "session closed");
  StreamSlot* slot = s.slot_in(stream_id, StreamState::kPublishPending);
  if (!slot) return make_error(Errc::kInvalidArgument, "no pending publish on that stream");
  std::string_view code = why == PublishRejection::kBadName ? "NetStream.Publish.BadName"
                          : why == PublishRejection::kUnauthorized
                              ? "NetStream.Publish.Unauthorized"
                              : "NetStream.Publish.Denied";
  s.send_status(stream_id, "error", code, std::move(description), slot->name);
  slot->state = StreamState::kCreated;
  s.held.clear();
  s.held_bytes = 0;
  // A rejected publisher is done: close cleanly once the caller flushed our answer.
  s.phase = Phase::kClosed;
  s.events.push(SessionClosed{std::nullopt});
  return Ok{};
}

Status ServerSession::accept_play(uint32_t stream_id) {
  return accept_play(stream_id, PlayAccept{});
}

Status ServerSession::accept_play(uint32_t stream_id, const PlayAccept& how) {
  Impl& s = *impl_;
  RTMP_TRY(StreamSlot * slot, s.decision_slot(stream_id, StreamState::kPlayPending));
  slot->state = StreamState::kPlaying;
  slot->play = PlayState{};
  slot->play.recorded = how.recorded;
  s.stream_accepted();
  // Adobe RTMP 2012 §7.3.2.1 Figure 5 for the controls; the statuses in SRS's order.
  if (how.recorded) s.send(make_user_control(UserControlType::kStreamIsRecorded, stream_id));
  s.send(make_user_control(UserControlType::kStreamBegin, stream_id));
  if (slot->play_reset) {
    s.send_status(stream_id, "status", "NetStream.Play.Reset",
                  "Playing and resetting " + slot->name, slot->name);
  }
  s.send_status(stream_id, "status", "NetStream.Play.Start", "Started playing " + slot->name,
                slot->name);
  // No data onStatus NetStream.Data.Start after it, although SRS sends one: ffmpeg 5.1 turns
  // that data message into an extra "unknown" data stream (play_peers_test).
  Message access = build_data_message("|RtmpSampleAccess", {amf::Value(true), amf::Value(true)});
  access.stream_id = stream_id;
  access.csid = kCsidData;
  s.send(access);
  return Ok{};
}

Status ServerSession::reject_play(uint32_t stream_id, std::string description) {
  return reject_play(stream_id, PlayRejection::kStreamNotFound, std::move(description));
}

Status ServerSession::reject_play(uint32_t stream_id, PlayRejection why, std::string description) {
  Impl& s = *impl_;
  RTMP_TRY(StreamSlot * slot, s.decision_slot(stream_id, StreamState::kPlayPending));
  std::string_view code = why == PlayRejection::kStreamNotFound ? "NetStream.Play.StreamNotFound"
                          : why == PlayRejection::kFailed       ? "NetStream.Play.Failed"
                                                          : "NetStream.Play.NoSupportedTrackFound";
  s.send_status(stream_id, "error", code, std::move(description), slot->name);
  slot->state = StreamState::kCreated;
  // A refused player is done (nginx-rtmp closes it too), unless this connection also carries
  // a live publish or play.
  if (!s.any_other_live(stream_id)) {
    s.phase = Phase::kClosed;
    s.events.push(SessionClosed{std::nullopt});
  }
  return Ok{};
}

Status ServerSession::send_media(uint32_t stream_id, const Message& message) {
  return impl_->send_media(stream_id, message, message.payload, false);
}

Status ServerSession::send_media_borrowed(uint32_t stream_id, const Message& header,
                                          Bytes payload) {
  return impl_->send_media(stream_id, header, payload, true);
}

Status ServerSession::notify_play(uint32_t stream_id, PlayNotice notice) {
  Impl& s = *impl_;
  RTMP_TRY(StreamSlot * slot, s.decision_slot(stream_id, StreamState::kPlaying));
  const std::string& name = slot->name;
  switch (notice) {
    case PlayNotice::kUnpublished:
      s.send(make_user_control(UserControlType::kStreamEof, stream_id));
      s.send_status(stream_id, "status", "NetStream.Play.UnpublishNotify",
                    name + " is now unpublished.", name);
      break;
    case PlayNotice::kPublished:
      s.send(make_user_control(UserControlType::kStreamBegin, stream_id));
      s.send_status(stream_id, "status", "NetStream.Play.PublishNotify",
                    name + " is now published.", name);
      break;
    case PlayNotice::kDry:
      s.send(make_user_control(UserControlType::kStreamDry, stream_id));
      break;
    case PlayNotice::kStopped: {
      s.send(make_user_control(UserControlType::kStreamEof, stream_id));
      if (slot->play.recorded) {
        // nginx-rtmp's end of a recorded file: onPlayStatus Play.Complete, then Play.Stop.
        Message complete = build_data_message(
            "onPlayStatus",
            {amf::Value::object({{"level", amf::Value("status")},
                                 {"code", amf::Value("NetStream.Play.Complete")}})});
        complete.stream_id = stream_id;
        complete.csid = kCsidData;
        s.send(complete);
      }
      s.send_status(stream_id, "status", "NetStream.Play.Stop", "Stopped playing " + name, name);
      slot->state = StreamState::kCreated;
      slot->play = PlayState{};
      break;
    }
  }
  return Ok{};
}

Status ServerSession::accept_seek(uint32_t stream_id, double position_ms) {
  Impl& s = *impl_;
  RTMP_TRY(StreamSlot * slot, s.decision_slot(stream_id, StreamState::kPlaying));
  s.send(make_user_control(UserControlType::kStreamEof, stream_id));
  (void)position_ms;  // the position is the caller's business; the answer is the same
  s.send_status(stream_id, "status", "NetStream.Seek.Notify", "Seeking " + slot->name, slot->name);
  s.send(make_user_control(UserControlType::kStreamBegin, stream_id));
  return Ok{};
}

std::optional<PlayState> ServerSession::play_state(uint32_t stream_id) const {
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end() || it->second.state != StreamState::kPlaying) return std::nullopt;
  return it->second.play;
}

const PeerCapabilities& ServerSession::peer_capabilities() const {
  return impl_->peer_caps;
}

Status ServerSession::request_reconnect(std::string tc_url, std::string description) {
  Impl& s = *impl_;
  if (s.phase != Phase::kConnected) return make_error(Errc::kInvalidState, "not connected");
  amf::Value info = amf::Value::object({
      {"level", amf::Value("status")},
      {"code", amf::Value("NetConnection.Connect.ReconnectRequest")},
      {"description", amf::Value(std::move(description))},
  });
  if (!tc_url.empty()) info.set("tcUrl", amf::Value(std::move(tc_url)));
  s.send_command(0, kCsidCommand, make_on_status(std::move(info)));
  return Ok{};
}

std::optional<uint64_t> ServerSession::next_timeout() const {
  return impl_->next_timeout();
}
void ServerSession::handle_timeout(uint64_t now_ms) {
  impl_->handle_timeout(now_ms);
}

void ServerSession::close() {
  Impl& s = *impl_;
  if (s.phase == Phase::kClosed) return;
  s.phase = Phase::kClosed;
  s.events.push(SessionClosed{std::nullopt});
}

bool ServerSession::closed() const {
  return impl_->phase == Phase::kClosed;
}
uint64_t ServerSession::bytes_received() const {
  return impl_->bytes_in;
}
uint64_t ServerSession::bytes_sent() const {
  return impl_->output.consumed();
}
bool ServerSession::handshake_done() const {
  return impl_->phase != Phase::kHandshake;
}

}  // namespace rtmp
