#include "protocol/server_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/flv_tag.h"
#include "protocol/handshake.h"
#include "tests/protocol/amf_tables.h"
#include "tests/protocol/session_pair.h"
#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::SessionPair;

void accept_all(ServerSession& s, const ServerEvent& ev) {
  if (auto p = std::get_if<PublishRequested>(&ev)) {
    ASSERT_TRUE(s.accept_publish(p->stream_id).ok());
  }
}

std::vector<uint8_t> avc_frame(bool key, size_t size, uint8_t fill) {
  std::vector<uint8_t> nalus(size, fill);
  VideoTagSpec s;
  s.frame_type = key ? VideoFrameType::kKey : VideoFrameType::kInter;
  s.units = {{0, Codec::kAvc, 40, nalus}};
  std::vector<uint8_t> out;
  EXPECT_TRUE(build_video_tag(s, out).ok());
  return out;
}

TEST(ServerSession, AcceptsAPublishAndDeliversMediaAtEveryChunkSize) {
  for (uint32_t chunk : {1u, 128u, 4096u, 65536u}) {
    auto cc = test::client_config("rtmp://127.0.0.1/live/key?token=abc");
    cc.out_chunk_size = chunk;
    ServerConfig sc;
    sc.out_chunk_size = chunk;
    sc.limits.max_chunk_size = 65536;
    SessionPair p(cc, sc, 1000);
    p.on_server_event = accept_all;
    ASSERT_TRUE(p.drive());
    auto req = p.server_of<PublishRequested>();
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].app, "live");
    EXPECT_EQ(req[0].stream_name, "key");
    EXPECT_EQ(req[0].query, "token=abc");
    EXPECT_EQ(req[0].tc_url, "rtmp://127.0.0.1/live");
    EXPECT_EQ(req[0].publish_type, "live");
    ASSERT_TRUE(p.client.publishing());
    ASSERT_EQ(p.client_of<PublishStarted>().size(), 1u);

    std::vector<std::vector<uint8_t>> sent;
    for (int i = 0; i < 30; ++i) {
      sent.push_back(
          avc_frame(i % 10 == 0, 100 + 977 * static_cast<size_t>(i), static_cast<uint8_t>(i)));
      ASSERT_TRUE(p.client.send_video(sent.back(), 33 * static_cast<uint64_t>(i)).ok());
    }
    ASSERT_TRUE(p.drive());
    auto media = p.server_of<MediaReceived>();
    ASSERT_EQ(media.size(), sent.size()) << "chunk " << chunk;
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(media[i].message.payload, sent[i]);
      EXPECT_EQ(media[i].message.timestamp, 33 * i);
      ASSERT_FALSE(media[i].tag_error);
      EXPECT_EQ(media[i].tag.units[0].composition_time, 40);
      EXPECT_EQ(media[i].tag.units[0].keyframe, i % 10 == 0);
    }
  }
}

// The zero-copy send path: the client borrows the frames (vectored output). The wire bytes
// equal those of the copying path, in pieces or walked with pending_output(), and every frame
// arrives intact at a server fed 64 KiB at a time, which keeps acknowledging.
TEST(ServerSession, ZeroCopySendAndReceiveCarryTheSameBytes) {
  auto publish = [](SessionPair& p) {
    p.on_server_event = accept_all;
    ASSERT_TRUE(p.drive());
    ASSERT_TRUE(p.client.publishing());
  };
  auto cc = test::client_config("rtmp://127.0.0.1/live/key");
  cc.out_chunk_size = 65536;
  ServerConfig sc;
  sc.limits.max_chunk_size = 65536;
  sc.peer_bandwidth = 1'000'000;  // the client's window: several server acks during the frames
  SessionPair copy(cc, sc), zero(cc, sc);
  publish(copy);
  publish(zero);

  std::vector<std::vector<uint8_t>> sent;
  std::mt19937 rng(3);
  for (int i = 0; i < 8; ++i) {
    std::vector<uint8_t> f(300'000 + 70'001 * static_cast<size_t>(i));
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    sent.push_back(std::move(f));
  }
  const uint8_t head[5] = {0x17, 1, 0, 0, 0};
  const size_t before_copy = copy.c2s_log.size();
  for (size_t i = 0; i < sent.size(); ++i) {
    ASSERT_TRUE(
        copy.client.send_message(MessageType::kVideo, head, sent[i], 33 * static_cast<uint64_t>(i))
            .ok());
  }
  ASSERT_TRUE(copy.drive());
  std::vector<uint8_t> copied_wire(copy.c2s_log.begin() + static_cast<long>(before_copy),
                                   copy.c2s_log.end());

  // Zero-copy: frames borrowed, output taken piece-wise (as writev would), received through
  // the window loop with reads of at most 64 KiB.
  for (size_t i = 0; i < sent.size(); ++i) {
    ASSERT_TRUE(zero.client
                    .send_message_borrowed(MessageType::kVideo, head, sent[i],
                                           33 * static_cast<uint64_t>(i))
                    .ok());
  }
  std::vector<Bytes> pieces;
  std::vector<uint8_t> wire;
  size_t total = zero.client.pending_output_pieces(pieces, 1 << 20);
  EXPECT_GT(pieces.size(), sent.size() * 4);  // headers and frame slices alternate
  for (auto piece : pieces) wire.insert(wire.end(), piece.begin(), piece.end());
  EXPECT_EQ(total, wire.size());
  // Consume in odd steps across piece boundaries; pending_output() walks the same bytes.
  std::vector<uint8_t> walked;
  for (size_t step = 1; !zero.client.pending_output().empty(); step = step * 3 % 70'001 + 1) {
    Bytes b = zero.client.pending_output();
    size_t n = std::min(b.size(), step);
    walked.insert(walked.end(), b.begin(), b.begin() + static_cast<long>(n));
    zero.client.consume_output(n);
  }
  EXPECT_EQ(walked, wire);
  EXPECT_EQ(wire, copied_wire);
  EXPECT_EQ(zero.client.pending_output_pieces(pieces, 16), 0u);

  for (size_t pos = 0; pos < wire.size(); pos += 64 * 1024) {
    const size_t n = std::min<size_t>(wire.size() - pos, 64 * 1024);
    ASSERT_TRUE(zero.server.receive(Bytes(wire).subspan(pos, n), zero.now).ok());
  }
  while (auto ev = zero.server.next_event()) zero.server_events.push_back(std::move(*ev));
  auto a = copy.server_of<MediaReceived>();
  auto b = zero.server_of<MediaReceived>();
  ASSERT_EQ(a.size(), sent.size());
  ASSERT_EQ(b.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(b[i].message.payload, a[i].message.payload) << i;
    EXPECT_EQ(b[i].message.timestamp, 33 * i);
  }
  // Acknowledgements (their values follow the read sizes): the last one is within a window of
  // everything received.
  Bytes acks = zero.server.pending_output();
  ASSERT_GE(acks.size(), 4u);
  const auto* t = acks.data() + acks.size() - 4;
  const uint64_t last_ack =
      uint64_t{t[0]} << 24 | uint64_t{t[1]} << 16 | uint64_t{t[2]} << 8 | t[3];
  EXPECT_LE(last_ack, zero.server.bytes_received());
  EXPECT_GT(last_ack + sc.peer_bandwidth, zero.server.bytes_received());
  EXPECT_EQ(zero.server.bytes_received(), copy.server.bytes_received());
}

TEST(ServerSession, RejectionReachesTheClientAsAnErrorWithTheCode) {
  SessionPair p(test::client_config("rtmp://h/live/wrong"), ServerConfig{});
  p.on_server_event = [](ServerSession& s, const ServerEvent& ev) {
    if (auto r = std::get_if<PublishRequested>(&ev)) {
      ASSERT_TRUE(s.reject_publish(r->stream_id, PublishRejection::kBadName, "no such key").ok());
    }
  };
  ASSERT_TRUE(p.drive());
  EXPECT_TRUE(p.server.closed());
  auto closed = p.client_of<ClientClosed>();
  ASSERT_EQ(closed.size(), 1u);
  ASSERT_TRUE(closed[0].error);
  EXPECT_EQ(closed[0].error->code, Errc::kAuthFailed);
  EXPECT_EQ(closed[0].status_code, "NetStream.Publish.BadName");
  EXPECT_FALSE(p.client.publishing());
}

TEST(ServerSession, MetadataIsParsedWithSetDataFrameStripped) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  ASSERT_TRUE(p.client
                  .send_metadata(amf::Value::object({{"width", amf::Value(1920.0)},
                                                     {"encoder", amf::Value("obs")}}),
                                 0)
                  .ok());
  ASSERT_TRUE(p.drive());
  auto md = p.server_of<MetadataReceived>();
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].handler, "onMetaData");
  ASSERT_EQ(md[0].values.size(), 1u);
  EXPECT_EQ(md[0].values[0].get_number("width"), 1920.0);
}

TEST(ServerSession, CleanStopEndsThePublish) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  p.client.stop();
  ASSERT_TRUE(p.drive());
  auto ended = p.server_of<PublishEnded>();
  ASSERT_EQ(ended.size(), 1u);  // FCUnpublish then deleteStream: reported once
  EXPECT_EQ(ended[0].reason, "FCUnpublish");
}

TEST(ServerSession, EchoesErtmpCapabilitiesOnlyToNegotiatingClients) {
  auto cc = test::client_config("rtmp://h/live/k");
  cc.capabilities = client_capabilities({"hvc1", "av01"}, {"Opus"}, kCapsExMultitrack);
  SessionPair p(cc, ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  auto conn = p.client_of<ClientConnected>();
  ASSERT_EQ(conn.size(), 1u);
  EXPECT_TRUE(conn[0].server_caps.present_any);
  EXPECT_EQ(conn[0].server_caps.caps_ex, kCapsExMultitrack);
  EXPECT_TRUE(conn[0].server_caps.supports_video("hvc1", kCanForward));
  auto req = p.server_of<PublishRequested>();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_TRUE(req[0].peer_caps.supports_audio("Opus", kCanEncode));

  SessionPair legacy(test::client_config("rtmp://h/live/k"), ServerConfig{});
  legacy.on_server_event = accept_all;
  ASSERT_TRUE(legacy.drive());
  ASSERT_EQ(legacy.client_of<ClientConnected>().size(), 1u);
  EXPECT_FALSE(legacy.client_of<ClientConnected>()[0].server_caps.present_any);
}

TEST(ServerSession, ErtmpMediaWithoutNegotiationIsAccepted) {
  // OBS sends HEVC/AV1 Ex tags without any negotiation (ertmp-wire.md A.6).
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  std::vector<uint8_t> hevc = {0x91, 'h', 'v', 'c', '1', 0, 0, 0, 1, 2, 3};
  std::vector<uint8_t> opus = {0x95, 0x01, 'O', 'p', 'u', 's', 0x01, 0xFC, 0xFF};  // track 1
  ASSERT_TRUE(p.client.send_video(hevc, 0).ok());
  ASSERT_TRUE(p.client.send_audio(opus, 0).ok());
  ASSERT_TRUE(p.drive());
  auto media = p.server_of<MediaReceived>();
  ASSERT_EQ(media.size(), 2u);
  EXPECT_EQ(media[0].tag.units[0].codec, Codec::kHevc);
  EXPECT_EQ(media[1].tag.units[0].codec, Codec::kOpus);
  EXPECT_EQ(media[1].tag.units[0].track_id, 1);
}

TEST(ServerSession, UnknownFourCcIsAWarningOnTheMessageNotTheSession) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  std::vector<uint8_t> weird = {0x91, 'z', 'z', 'z', '1', 9};
  ASSERT_TRUE(p.client.send_video(weird, 0).ok());
  ASSERT_TRUE(p.client.send_video(avc_frame(true, 10, 1), 33).ok());
  ASSERT_TRUE(p.drive());
  auto media = p.server_of<MediaReceived>();
  ASSERT_EQ(media.size(), 2u);
  ASSERT_TRUE(media[0].tag_error);
  EXPECT_EQ(media[0].tag_error->code, Errc::kUnsupported);
  EXPECT_FALSE(media[1].tag_error);
  EXPECT_FALSE(p.server.closed());
}

// Drives the server by hand with raw chunks, as a misbehaving or unusual client would.
struct RawClient {
  ServerSession server;
  ChunkWriter w;
  std::vector<ServerEvent> events;
  ChunkReader out_reader{Limits{}};
  std::vector<Message> out;  // every message the server sent after the handshake
  explicit RawClient(ServerConfig sc = {}) : server(std::move(sc), 0) {
    ClientHandshake hs;
    std::vector<uint8_t> c0c1(hs.pending_output().begin(), hs.pending_output().end());
    hs.consume_output(c0c1.size());
    EXPECT_TRUE(server.receive(c0c1, 0).ok());
    Bytes s = server.pending_output();
    std::vector<uint8_t> s012(s.begin(), s.end());
    server.consume_output(s.size());
    auto used = hs.receive(s012);
    EXPECT_TRUE(used.ok());
    Bytes c2 = hs.pending_output();
    std::vector<uint8_t> c2v(c2.begin(), c2.end());
    EXPECT_TRUE(server.receive(c2v, 0).ok());
    EXPECT_TRUE(server.handshake_done());
  }
  Status send(Message m, uint64_t now = 0) {
    std::vector<uint8_t> wire;
    w.write(m, wire);
    Status st = server.receive(wire, now);
    while (auto ev = server.next_event()) events.push_back(std::move(*ev));
    drain();
    return st;
  }
  // Moves the server's pending output into `out` (decoded with our own chunk reader).
  void drain() {
    Bytes b = server.pending_output();
    std::vector<uint8_t> bytes(b.begin(), b.end());
    server.consume_output(bytes.size());
    EXPECT_TRUE(out_reader.receive(bytes).ok());
    while (auto m = out_reader.next_message()) out.push_back(std::move(*m));
    while (auto ev = server.next_event()) events.push_back(std::move(*ev));
  }
  // The index of the next message the server sends (everything before is in `out`).
  size_t mark() {
    drain();
    return out.size();
  }
  // Output since `from` (an index into out), then forgets nothing.
  std::vector<Message> since(size_t from) {
    drain();
    return std::vector<Message>(out.begin() + static_cast<long>(from), out.end());
  }
  Status command(std::string name, double txn, amf::Value obj, std::vector<amf::Value> args,
                 uint32_t stream = 0) {
    Message m =
        build_command_message(make_command(std::move(name), txn, std::move(obj), std::move(args)));
    m.stream_id = stream;
    return send(std::move(m));
  }
  template <class T>
  size_t count() const {
    size_t n = 0;
    for (const auto& e : events) n += std::holds_alternative<T>(e);
    return n;
  }
};

TEST(ServerSession, ToleratesObsAndAppliancesOrdering) {
  RawClient c;
  // OBS: Set Chunk Size before connect.
  ASSERT_TRUE(c.send(make_set_chunk_size(4096)).ok());
  c.w.set_chunk_size(4096);
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  // Appliance: createStream before FCPublish, unknown commands in between.
  ASSERT_TRUE(c.command("createStream", 2, amf::Value::null(), {}).ok());
  ASSERT_TRUE(c.command("FCPublish", 3, amf::Value::null(), {amf::Value("k")}).ok());
  ASSERT_TRUE(c.command("someVendorThing", 4, amf::Value::null(), {}).ok());
  ASSERT_TRUE(c.command("_checkbw", 5, amf::Value::null(), {}).ok());
  ASSERT_TRUE(
      c.command("publish", 6, amf::Value::null(), {amf::Value("k"), amf::Value("live")}, 1).ok());
  EXPECT_EQ(c.count<PublishRequested>(), 1u);
  EXPECT_EQ(c.count<SessionWarning>(), 1u);  // the vendor command
  EXPECT_FALSE(c.server.closed());
}

TEST(ServerSession, MediaPipelinedAfterPublishWaitsForTheDecision) {
  for (bool accept : {true, false}) {
    RawClient c;
    ASSERT_TRUE(
        c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
    ASSERT_TRUE(c.command("createStream", 2, amf::Value::null(), {}).ok());
    // publish + metadata + two frames in one read, before anyone decided.
    std::vector<uint8_t> burst;
    Message pub = build_command_message(
        make_command("publish", 3, amf::Value::null(), {amf::Value("k"), amf::Value("live")}));
    pub.stream_id = 1;
    c.w.write(pub, burst);
    Message md = build_set_data_frame(amf::Value::object({{"width", amf::Value(2.0)}}));
    md.stream_id = 1;
    c.w.write(md, burst);
    for (int i = 0; i < 2; ++i) {
      Message v;
      v.type = 9;
      v.csid = 6;
      v.stream_id = 1;
      v.timestamp = 33 * static_cast<uint64_t>(i);
      v.payload = avc_frame(i == 0, 50, 1);
      c.w.write(v, burst);
    }
    ASSERT_TRUE(c.server.receive(burst, 0).ok());
    std::vector<ServerEvent> evs;
    while (auto ev = c.server.next_event()) evs.push_back(std::move(*ev));
    ASSERT_EQ(evs.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<PublishRequested>(evs[0]));
    if (accept) {
      ASSERT_TRUE(c.server.accept_publish(1).ok());
    } else {
      ASSERT_TRUE(c.server.reject_publish(1, PublishRejection::kBadName, "no").ok());
    }
    size_t media = 0, metadata = 0;
    while (auto ev = c.server.next_event()) {
      media += std::holds_alternative<MediaReceived>(*ev);
      metadata += std::holds_alternative<MetadataReceived>(*ev);
    }
    EXPECT_EQ(media, accept ? 2u : 0u);
    EXPECT_EQ(metadata, accept ? 1u : 0u);
  }
}

TEST(ServerSession, CommandBeforeConnectIsAProtocolViolation) {
  RawClient c;
  auto st = c.command("publish", 1, amf::Value::null(), {amf::Value("k")}, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kProtocolViolation);
  EXPECT_TRUE(c.server.closed());
  EXPECT_EQ(c.count<SessionClosed>(), 1u);
}

TEST(ServerSession, MediaBeforePublishIsWarnedAndDropped) {
  RawClient c;
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  Message m;
  m.type = 9;
  m.csid = 6;
  m.stream_id = 1;
  m.payload = avc_frame(true, 10, 0);
  ASSERT_TRUE(c.send(m).ok());
  EXPECT_EQ(c.count<MediaReceived>(), 0u);
  EXPECT_EQ(c.count<SessionWarning>(), 1u);
}

TEST(ServerSession, AmfDepthBombClosesTheSessionWithAClearError) {
  RawClient c;
  Message m;
  m.type = 20;
  m.csid = 3;
  std::vector<uint8_t> body = {0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't',
                               0x00, 0x3F, 0xF0, 0,   0,   0,   0,   0,   0};
  for (int i = 0; i < 5000; ++i) body.insert(body.end(), {0x0A, 0, 0, 0, 1});
  m.payload = body;
  auto st = c.send(m);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kLimitExceeded);
}

TEST(ServerSession, BytesBeforeConnectLimitAtNAndNPlusOne) {
  for (uint64_t extra : {0u, 1u}) {
    ServerConfig sc;
    // Handshake = 1537 + 1536 bytes; allow exactly that plus one 40-byte-payload message.
    sc.limits.max_bytes_before_connect = 1537 + 1536 + 12 + 40 - 1 + extra;
    RawClient c(sc);
    Message m;
    m.type = 8;
    m.csid = 4;
    m.payload.assign(40, 0);
    auto st = c.send(m);
    EXPECT_EQ(st.ok(), extra == 1) << extra;
  }
}

TEST(ServerSession, TimeoutsForHandshakeConnectAndIdle) {
  ServerConfig sc;
  sc.limits.handshake_timeout_ms = 1000;
  ServerSession s(sc, 0);
  ASSERT_TRUE(s.next_timeout());
  EXPECT_EQ(*s.next_timeout(), 1000u);
  s.handle_timeout(999);
  EXPECT_FALSE(s.closed());
  s.handle_timeout(1000);
  EXPECT_TRUE(s.closed());
  auto ev = s.next_event();
  ASSERT_TRUE(ev);
  auto closed = std::get_if<SessionClosed>(&*ev);
  ASSERT_TRUE(closed && closed->error);
  EXPECT_EQ(closed->error->code, Errc::kTimeout);

  ServerConfig sc2;
  sc2.limits.connect_to_publish_timeout_ms = 500;
  RawClient c(sc2);
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  c.server.handle_timeout(499);
  EXPECT_FALSE(c.server.closed());
  c.server.handle_timeout(500);
  EXPECT_TRUE(c.server.closed());
}

TEST(ServerSession, AnswersPingsAndSendsAcksAtTheWindow) {
  RawClient c;
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  std::vector<uint8_t> out;
  c.w.write(make_window_ack_size(1000), out);
  c.w.write(make_ping_request(77), out);
  ASSERT_TRUE(c.server.receive(out, 0).ok());
  Bytes reply = c.server.pending_output();
  std::vector<uint8_t> r(reply.begin(), reply.end());
  c.server.consume_output(r.size());
  ChunkReader reader{Limits{}};
  ASSERT_TRUE(reader.receive(r).ok());
  bool pong = false, ack = false;
  while (auto m = reader.next_message()) {
    if (m->kind() == MessageType::kUserControl) {
      auto ev = parse_user_control(m->payload);
      pong |= ev.ok() && ev->type == UserControlType::kPingResponse && ev->value == 77;
    }
    if (m->kind() == MessageType::kAcknowledgement) ack = true;
  }
  EXPECT_TRUE(pong);
  EXPECT_TRUE(ack);  // the handshake alone passed the 1000-byte window
}

TEST(ServerSession, GarbageAfterHandshakeNeverCrashes) {
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    RawClient c;
    auto junk = test::random_bytes(rng, rng() % 2000);
    (void)c.server.receive(junk, 0);
    while (c.server.next_event()) {
    }
  }
}

TEST(ServerSession, BadHandshakeVersionIsAnError) {
  ServerSession s(ServerConfig{}, 0);
  std::vector<uint8_t> http = test::bytes_of("GET / HTTP/1.1\r\n\r\n");
  auto st = s.receive(http, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kBadVersion);
  EXPECT_TRUE(s.closed());
}

// --- serving players ------------------------------------------------------------------------

using test::cat;
using test::hex;
namespace t = test::amf;

// A client connected (optionally with E-RTMP caps) and a stream created: stream id 1.
struct Player : RawClient {
  explicit Player(amf::Value connect_obj = amf::Value::object({{"app", amf::Value("live")}}),
                  ServerConfig sc = {})
      : RawClient(std::move(sc)) {
    EXPECT_TRUE(command("connect", 1, std::move(connect_obj), {}).ok());
    EXPECT_TRUE(command("createStream", 2, amf::Value::null(), {}).ok());
  }
  // play(name, start, duration, reset) on stream 1, as librtmp/ffmpeg send it (csid 8).
  Status play(std::string name, double start = -2000, double duration = -1, bool reset = true) {
    Message m = build_command_message(make_command(
        "play", 3, amf::Value::null(),
        {amf::Value(std::move(name)), amf::Value(start), amf::Value(duration), amf::Value(reset)}));
    m.stream_id = 1;
    m.csid = 8;
    return send(std::move(m));
  }
  Status netstream(std::string name, std::vector<amf::Value> args) {
    return command(std::move(name), 0, amf::Value::null(), std::move(args), 1);
  }
  template <class T>
  std::vector<T> all() const {
    std::vector<T> v;
    for (const auto& e : events) {
      if (auto p = std::get_if<T>(&e)) v.push_back(*p);
    }
    return v;
  }
};

// Expects `got` to be exactly the messages in `want` (type, message stream id, payload).
struct Expect {
  uint8_t type;
  uint32_t stream_id;
  std::vector<uint8_t> payload;
};
void expect_messages(const std::vector<Message>& got, const std::vector<Expect>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].type, want[i].type) << i;
    EXPECT_EQ(got[i].stream_id, want[i].stream_id) << i;
    EXPECT_EQ(got[i].payload, want[i].payload) << i;
  }
}

TEST(ServerSession, PlayRequestCarriesTheNameQueryPositionsAndThePlayersCaps) {
  PeerCapabilities caps;
  caps.fourcc_list = {"hvc1", "Opus"};
  caps.caps_ex = kCapsExMultitrack;
  caps.present_any = true;
  amf::Value obj = amf::Value::object({{"app", amf::Value("live")},
                                       {"tcUrl", amf::Value("rtmp://h/live")},
                                       {"flashVer", amf::Value("LNX 9,0,124,2")}});
  add_capabilities(obj, caps);
  Player c(obj);
  ASSERT_TRUE(c.play("key?token=7", -1000, 5000, false).ok());
  auto req = c.all<PlayRequested>();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].stream_id, 1u);
  EXPECT_EQ(req[0].app, "live");
  EXPECT_EQ(req[0].stream_name, "key");
  EXPECT_EQ(req[0].query, "token=7");
  EXPECT_EQ(req[0].start, -1000);
  EXPECT_EQ(req[0].duration, 5000);
  EXPECT_FALSE(req[0].reset);
  EXPECT_EQ(req[0].tc_url, "rtmp://h/live");
  EXPECT_EQ(req[0].flash_ver, "LNX 9,0,124,2");
  EXPECT_TRUE(req[0].peer_caps.supports_video("hvc1"));
  EXPECT_EQ(req[0].peer_caps.caps_ex, kCapsExMultitrack);
  EXPECT_TRUE(req[0].transition.empty());
  EXPECT_EQ(c.server.peer_capabilities(), req[0].peer_caps);
  EXPECT_FALSE(c.server.play_state(1));  // not accepted yet
}

TEST(ServerSession, AcceptPlaySendsStreamBeginResetStartAndSampleAccessByteForByte) {
  Player c;
  ASSERT_TRUE(c.play("k").ok());
  const size_t from = c.mark();
  ASSERT_TRUE(c.server.accept_play(1).ok());
  expect_messages(
      c.since(from),
      {
          // User Control Stream Begin (event 0) for stream 1.
          {4, 0, hex("0000 00000001")},
          // onStatus NetStream.Play.Reset (the play asked for a reset), then Play.Start:
          // "onStatus" | txn 0 | null | {level, code, description, details}.
          {20, 1,
           cat({hex("02 0008"),
                test::bytes_of("onStatus"),
                hex("00 0000000000000000"),
                hex("05"),
                hex("03"),
                hex("0005"),
                test::bytes_of("level"),
                hex("02 0006"),
                test::bytes_of("status"),
                hex("0004"),
                test::bytes_of("code"),
                hex("02 0014"),
                test::bytes_of("NetStream.Play.Reset"),
                hex("000B"),
                test::bytes_of("description"),
                hex("02 0017"),
                test::bytes_of("Playing and resetting k"),
                hex("0007"),
                test::bytes_of("details"),
                hex("02 0001"),
                test::bytes_of("k"),
                hex("000009")})},
          {20, 1, t::on_status("status", "NetStream.Play.Start", "Started playing k", "k")},
          // Data |RtmpSampleAccess(true, true), as nginx-rtmp.
          {18, 1,
           cat({hex("02 0011"), test::bytes_of("|RtmpSampleAccess"), hex("01 01"), hex("01 01")})},
      });
  auto st = c.server.play_state(1);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->receive_audio && st->receive_video);
  EXPECT_FALSE(st->paused || st->recorded);
}

TEST(ServerSession, AcceptRecordedPlayWithoutResetAddsIsRecordedAndSkipsReset) {
  Player c;
  ASSERT_TRUE(c.play("vod", 0, -1, false).ok());
  const size_t from = c.mark();
  ASSERT_TRUE(c.server.accept_play(1, PlayAccept{.recorded = true}).ok());
  auto got = c.since(from);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].payload, hex("0004 00000001"));  // Stream Is Recorded (event 4), stream 1
  EXPECT_EQ(got[1].payload, hex("0000 00000001"));  // Stream Begin
  EXPECT_EQ(got[2].payload,
            t::on_status("status", "NetStream.Play.Start", "Started playing vod", "vod"));
  EXPECT_TRUE(c.server.play_state(1)->recorded);
  // The end of a recorded stream: Stream EOF, onPlayStatus Play.Complete, onStatus Play.Stop.
  const size_t end = c.mark();
  ASSERT_TRUE(c.server.notify_play(1, PlayNotice::kStopped).ok());
  expect_messages(
      c.since(end),
      {
          {4, 0, hex("0001 00000001")},
          {18, 1,
           cat({t::str("onPlayStatus"), t::object_start(), t::key("level"), t::str("status"),
                t::key("code"), t::str("NetStream.Play.Complete"), t::object_end()})},
          {20, 1, t::on_status("status", "NetStream.Play.Stop", "Stopped playing vod", "vod")},
      });
  EXPECT_FALSE(c.server.play_state(1));
  Message v = test::make_message(9, 0, avc_frame(true, 5, 1));
  EXPECT_EQ(c.server.send_media(1, v).error().code, Errc::kInvalidArgument);
}

// One shared message for many players: chunked without copying its payload, byte for byte
// what send_media writes, with the backlog (pending_output_size) counting the borrowed bytes.
TEST(ServerSession, BorrowedSendMediaWritesTheSameBytesWithoutCopyingThePayload) {
  Player copied, borrowed;
  for (Player* p : {&copied, &borrowed}) {
    ASSERT_TRUE(p->play("k").ok());
    ASSERT_TRUE(p->server.accept_play(1).ok());
    p->mark();
    ASSERT_EQ(p->server.pending_output_size(), 0u);
  }
  const std::vector<uint8_t> body = avc_frame(true, 10'000, 3);  // three 4096-byte chunks
  ASSERT_TRUE(copied.server.send_media(1, test::make_message(9, 40, body)).ok());
  ASSERT_TRUE(borrowed.server.send_media_borrowed(1, test::make_message(9, 40, {}), body).ok());
  const size_t queued = copied.server.pending_output_size();
  EXPECT_EQ(queued, copied.server.pending_output().size());
  EXPECT_EQ(borrowed.server.pending_output_size(), queued);

  std::vector<Bytes> pieces;
  EXPECT_EQ(borrowed.server.pending_output_pieces(pieces, 64), queued);
  std::vector<uint8_t> joined;
  bool points_into_body = false;
  for (Bytes piece : pieces) {
    joined.insert(joined.end(), piece.begin(), piece.end());
    points_into_body |= piece.data() >= body.data() && piece.data() < body.data() + body.size();
  }
  Bytes want = copied.server.pending_output();
  EXPECT_EQ(joined, std::vector<uint8_t>(want.begin(), want.end()));
  EXPECT_TRUE(points_into_body) << "the payload was copied";
  ASSERT_GT(pieces.size(), 2u);

  // Consumed in odd steps across piece boundaries: the backlog shrinks by exactly as much.
  const uint64_t sent0 = borrowed.server.bytes_sent();
  size_t left = queued;
  for (size_t step = 1; left > 0; step = step * 3 + 1) {
    const size_t n = std::min(step, left);
    borrowed.server.consume_output(n);
    left -= n;
    EXPECT_EQ(borrowed.server.pending_output_size(), left);
  }
  EXPECT_EQ(borrowed.server.bytes_sent(), sent0 + queued);
  EXPECT_EQ(borrowed.server.pending_output_pieces(pieces, 64), 0u);

  // Paused: nothing is queued, as with send_media.
  ASSERT_TRUE(borrowed.netstream("pause", {amf::Value(true), amf::Value(0.0)}).ok());
  borrowed.mark();
  ASSERT_TRUE(borrowed.server.send_media_borrowed(1, test::make_message(9, 80, {}), body).ok());
  EXPECT_EQ(borrowed.server.pending_output_size(), 0u);
  // Not playing: refused like send_media.
  EXPECT_EQ(
      borrowed.server.send_media_borrowed(2, test::make_message(9, 80, {}), body).error().code,
      Errc::kInvalidArgument);
}

TEST(ServerSession, RejectPlayCodesAndTheSessionCloses) {
  struct Row {
    PlayRejection why;
    const char* code;
  };
  for (const Row& row :
       {Row{PlayRejection::kStreamNotFound, "NetStream.Play.StreamNotFound"},
        Row{PlayRejection::kFailed, "NetStream.Play.Failed"},
        Row{PlayRejection::kNoSupportedTrack, "NetStream.Play.NoSupportedTrackFound"}}) {
    Player c;
    ASSERT_TRUE(c.play("nope").ok());
    const size_t from = c.mark();
    ASSERT_TRUE(c.server.reject_play(1, row.why, "No such stream").ok());
    expect_messages(c.since(from),
                    {{20, 1, t::on_status("error", row.code, "No such stream", "nope")}});
    EXPECT_TRUE(c.server.closed());
    EXPECT_EQ(c.count<SessionClosed>(), 1u);
  }
  // The two-argument form is StreamNotFound.
  Player c;
  ASSERT_TRUE(c.play("nope").ok());
  const size_t from = c.mark();
  ASSERT_TRUE(c.server.reject_play(1, "gone").ok());
  expect_messages(
      c.since(from),
      {{20, 1, t::on_status("error", "NetStream.Play.StreamNotFound", "gone", "nope")}});
}

TEST(ServerSession, RejectPlayKeepsASessionThatAlsoPublishes) {
  Player c;
  ASSERT_TRUE(
      c.command("publish", 3, amf::Value::null(), {amf::Value("pub"), amf::Value("live")}, 1).ok());
  ASSERT_TRUE(c.server.accept_publish(1).ok());
  ASSERT_TRUE(c.command("createStream", 4, amf::Value::null(), {}).ok());
  ASSERT_TRUE(c.command("play", 5, amf::Value::null(), {amf::Value("other")}, 2).ok());
  ASSERT_EQ(c.count<PlayRequested>(), 1u);
  ASSERT_TRUE(c.server.reject_play(2, "no").ok());
  EXPECT_FALSE(c.server.closed());
}

TEST(ServerSession, NotifyPlayNoticesByteForByte) {
  Player c;
  ASSERT_TRUE(c.play("k").ok());
  ASSERT_TRUE(c.server.accept_play(1).ok());
  struct Row {
    PlayNotice notice;
    std::vector<Expect> want;
  };
  const Row rows[] = {
      {PlayNotice::kUnpublished,
       {{4, 0, hex("0001 00000001")},  // Stream EOF
        {20, 1,
         t::on_status("status", "NetStream.Play.UnpublishNotify", "k is now unpublished.", "k")}}},
      {PlayNotice::kPublished,
       {{4, 0, hex("0000 00000001")},  // Stream Begin
        {20, 1,
         t::on_status("status", "NetStream.Play.PublishNotify", "k is now published.", "k")}}},
      {PlayNotice::kDry, {{4, 0, hex("0002 00000001")}}},  // Stream Dry
      {PlayNotice::kStopped,
       {{4, 0, hex("0001 00000001")},
        {20, 1, t::on_status("status", "NetStream.Play.Stop", "Stopped playing k", "k")}}},
  };
  for (const auto& row : rows) {
    const size_t from = c.mark();
    ASSERT_TRUE(c.server.notify_play(1, row.notice).ok());
    expect_messages(c.since(from), row.want);
  }
  // Stopped ended the play.
  EXPECT_EQ(c.server.notify_play(1, PlayNotice::kDry).error().code, Errc::kInvalidArgument);
}

TEST(ServerSession, PlayerControlsAreEventsAndStateThatSendMediaHonours) {
  Player c;
  ASSERT_TRUE(c.play("k").ok());
  ASSERT_TRUE(c.server.accept_play(1).ok());
  Message video = test::make_message(9, 10, avc_frame(true, 20, 7));
  Message audio = test::make_message(8, 11, hex("AF 01 112233"));
  Message data = build_data_message("onTextData", {amf::Value::object({})});
  auto sent_types = [&c](auto&& send) {
    const size_t from = c.mark();
    send();
    std::vector<uint8_t> types;
    for (const auto& m : c.since(from)) types.push_back(m.type);
    return types;
  };
  auto send_all = [&] {
    ASSERT_TRUE(c.server.send_media(1, video).ok());
    ASSERT_TRUE(c.server.send_media(1, audio).ok());
    ASSERT_TRUE(c.server.send_media(1, data).ok());
  };
  EXPECT_EQ(sent_types(send_all), (std::vector<uint8_t>{9, 8, 18}));

  // receiveAudio(false): audio dropped; receiveVideo(false): video dropped.
  ASSERT_TRUE(c.netstream("receiveAudio", {amf::Value(false)}).ok());
  EXPECT_EQ(sent_types(send_all), (std::vector<uint8_t>{9, 18}));
  ASSERT_TRUE(c.netstream("receiveVideo", {amf::Value(false)}).ok());
  EXPECT_EQ(sent_types(send_all), (std::vector<uint8_t>{18}));
  ASSERT_TRUE(c.netstream("receiveAudio", {amf::Value(true)}).ok());
  ASSERT_TRUE(c.netstream("receiveVideo", {amf::Value(true)}).ok());
  auto rc = c.all<ReceiveChanged>();
  ASSERT_EQ(rc.size(), 4u);
  EXPECT_FALSE(rc[0].video);
  EXPECT_FALSE(rc[0].enabled);
  EXPECT_TRUE(rc[1].video);
  EXPECT_TRUE(rc[3].video && rc[3].enabled);

  // pause(true, 1500): Pause.Notify + Stream EOF at once; media dropped until unpause.
  size_t from = c.mark();
  ASSERT_TRUE(c.netstream("pause", {amf::Value(true), amf::Value(1500.0)}).ok());
  expect_messages(c.since(from),
                  {{20, 1, t::on_status("status", "NetStream.Pause.Notify", "Paused k", "k")},
                   {4, 0, hex("0001 00000001")}});
  EXPECT_TRUE(c.server.play_state(1)->paused);
  EXPECT_EQ(sent_types(send_all), (std::vector<uint8_t>{18}));
  from = c.mark();
  ASSERT_TRUE(c.netstream("pause", {amf::Value(false), amf::Value(1500.0)}).ok());
  expect_messages(c.since(from),
                  {{20, 1, t::on_status("status", "NetStream.Unpause.Notify", "Unpaused k", "k")},
                   {4, 0, hex("0000 00000001")}});
  EXPECT_EQ(sent_types(send_all), (std::vector<uint8_t>{9, 8, 18}));
  auto paused = c.all<PlayPaused>();
  ASSERT_EQ(paused.size(), 2u);
  EXPECT_TRUE(paused[0].paused);
  EXPECT_EQ(paused[0].position_ms, 1500);
  EXPECT_FALSE(paused[1].paused);

  // seek(4000): an event; nothing is sent until accept_seek.
  from = c.mark();
  ASSERT_TRUE(c.netstream("seek", {amf::Value(4000.0)}).ok());
  EXPECT_TRUE(c.since(from).empty());
  auto seeks = c.all<SeekRequested>();
  ASSERT_EQ(seeks.size(), 1u);
  EXPECT_EQ(seeks[0].position_ms, 4000);
  ASSERT_TRUE(c.server.accept_seek(1, 4000).ok());
  expect_messages(c.since(from),
                  {{4, 0, hex("0001 00000001")},
                   {20, 1, t::on_status("status", "NetStream.Seek.Notify", "Seeking k", "k")},
                   {4, 0, hex("0000 00000001")}});

  // Set Buffer Length (user control 3) for stream 1; the one for stream 0 is no event.
  ASSERT_TRUE(c.send(make_set_buffer_length(0, 300)).ok());
  ASSERT_TRUE(c.send(make_set_buffer_length(1, 3000)).ok());
  auto bl = c.all<BufferLengthSet>();
  ASSERT_EQ(bl.size(), 1u);
  EXPECT_EQ(bl[0].stream_id, 1u);
  EXPECT_EQ(bl[0].buffer_ms, 3000u);
  EXPECT_EQ(c.server.play_state(1)->buffer_ms, 3000u);
  EXPECT_EQ(c.count<SessionWarning>(), 0u);
}

TEST(ServerSession, PlayerCommandsOutsideAPlayAreWarnings) {
  Player c;
  ASSERT_TRUE(c.netstream("pause", {amf::Value(true), amf::Value(0.0)}).ok());
  ASSERT_TRUE(c.netstream("seek", {amf::Value(1.0)}).ok());
  ASSERT_TRUE(c.netstream("receiveVideo", {amf::Value(false)}).ok());
  EXPECT_EQ(c.count<SessionWarning>(), 3u);
  EXPECT_EQ(c.count<PlayPaused>() + c.count<SeekRequested>() + c.count<ReceiveChanged>(), 0u);
  EXPECT_FALSE(c.server.closed());
}

TEST(ServerSession, CloseStreamDeleteStreamAndPlay2EndThePlay) {
  {
    Player c;
    ASSERT_TRUE(c.play("k").ok());
    ASSERT_TRUE(c.server.accept_play(1).ok());
    ASSERT_TRUE(c.netstream("closeStream", {}).ok());
    auto ended = c.all<PlayEnded>();
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].reason, "closeStream");
    EXPECT_FALSE(c.server.play_state(1));
  }
  {
    Player c;
    ASSERT_TRUE(c.play("k").ok());
    ASSERT_TRUE(c.server.accept_play(1).ok());
    ASSERT_TRUE(c.command("deleteStream", 4, amf::Value::null(), {amf::Value(1.0)}).ok());
    auto ended = c.all<PlayEnded>();
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].reason, "deleteStream");
  }
  {
    Player c;
    ASSERT_TRUE(c.play("low").ok());
    ASSERT_TRUE(c.server.accept_play(1).ok());
    ASSERT_TRUE(c.netstream("play2", {amf::Value::object({{"streamName", amf::Value("high?t=1")},
                                                          {"oldStreamName", amf::Value("low")},
                                                          {"start", amf::Value(-2.0)},
                                                          {"len", amf::Value(-1.0)},
                                                          {"transition", amf::Value("switch")}})})
                    .ok());
    auto ended = c.all<PlayEnded>();
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].reason, "play2");
    auto req = c.all<PlayRequested>();
    ASSERT_EQ(req.size(), 2u);
    EXPECT_EQ(req[1].stream_id, 1u);
    EXPECT_EQ(req[1].stream_name, "high");
    EXPECT_EQ(req[1].query, "t=1");
    EXPECT_EQ(req[1].transition, "switch");
    EXPECT_EQ(req[1].old_stream_name, "low");
    EXPECT_FALSE(req[1].reset);
    // The switch is accepted like a play (no Play.Reset: play2 does not reset).
    const size_t from = c.mark();
    ASSERT_TRUE(c.server.accept_play(1).ok());
    auto got = c.since(from);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[1].payload,
              t::on_status("status", "NetStream.Play.Start", "Started playing high", "high"));
  }
}

TEST(ServerSession, SecondPlayOnAJoinedStreamIsIgnored) {
  Player c;
  ASSERT_TRUE(c.play("k").ok());
  ASSERT_TRUE(c.play("k").ok());
  EXPECT_EQ(c.count<PlayRequested>(), 1u);
  EXPECT_EQ(c.count<SessionWarning>(), 1u);
}

TEST(ServerSession, PlayOnAStreamNotCreatedFails) {
  RawClient c;
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  const size_t from = c.mark();
  ASSERT_TRUE(c.command("play", 2, amf::Value::null(), {amf::Value("k")}, 3).ok());
  auto got = c.since(from);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload,
            t::on_status("error", "NetStream.Play.Failed", "play on a stream not created", ""));
  EXPECT_EQ(c.count<PlayRequested>(), 0u);
}

TEST(ServerSession, FcSubscribeAndGetStreamLengthAreAnsweredQuietly) {
  Player c;
  const size_t from = c.mark();
  ASSERT_TRUE(c.command("FCSubscribe", 3, amf::Value::null(), {amf::Value("k")}).ok());
  ASSERT_TRUE(c.command("getStreamLength", 4, amf::Value::null(), {amf::Value("k")}, 1).ok());
  auto got = c.since(from);
  ASSERT_EQ(got.size(), 2u);
  // _result | txn 3 | null | undefined
  EXPECT_EQ(got[0].payload, cat({t::str("_result"), t::num(3), t::null(), hex("06")}));
  // _result | txn 4 | null | 0 (ffmpeg asks unless rtmp_live=live)
  EXPECT_EQ(got[1].payload, cat({t::str("_result"), t::num(4), t::null(), t::num(0)}));
  EXPECT_EQ(c.count<SessionWarning>(), 0u);
}

TEST(ServerSession, APlayingSessionHasNoInputIdleTimeout) {
  ServerConfig sc;
  sc.limits.idle_timeout_ms = 1000;
  Player c(amf::Value::object({{"app", amf::Value("live")}}), sc);
  ASSERT_TRUE(c.play("k").ok());
  ASSERT_TRUE(c.server.accept_play(1).ok());
  EXPECT_FALSE(c.server.next_timeout());
  c.server.handle_timeout(1'000'000);
  EXPECT_FALSE(c.server.closed());
  // Once the play ends, the idle timeout is back.
  ASSERT_TRUE(c.netstream("closeStream", {}).ok());
  ASSERT_TRUE(c.server.next_timeout());
  c.server.handle_timeout(1'000'000);
  EXPECT_TRUE(c.server.closed());
}

// Issue 11: nothing that says "Publish.Start" leaves before accept_publish.
TEST(ServerSession, OnFcPublishWaitsForTheDecision) {
  const std::vector<uint8_t> start = test::bytes_of("NetStream.Publish.Start");
  auto says_start = [&start](const std::vector<Message>& msgs) {
    for (const auto& m : msgs) {
      if (std::search(m.payload.begin(), m.payload.end(), start.begin(), start.end()) !=
          m.payload.end()) {
        return true;
      }
    }
    return false;
  };
  for (bool accept : {true, false}) {
    RawClient c;
    ASSERT_TRUE(
        c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
    ASSERT_TRUE(c.command("releaseStream", 2, amf::Value::null(), {amf::Value("k")}).ok());
    ASSERT_TRUE(c.command("FCPublish", 3, amf::Value::null(), {amf::Value("k")}).ok());
    ASSERT_TRUE(c.command("createStream", 4, amf::Value::null(), {}).ok());
    ASSERT_TRUE(
        c.command("publish", 5, amf::Value::null(), {amf::Value("k"), amf::Value("live")}, 1).ok());
    EXPECT_FALSE(says_start(c.since(0))) << "before the decision";
    const size_t from = c.mark();
    if (!accept) {
      ASSERT_TRUE(c.server.reject_publish(1, PublishRejection::kBadName, "no").ok());
      auto got = c.since(from);
      EXPECT_FALSE(says_start(c.since(0)));
      expect_messages(got,
                      {{20, 1, t::on_status("error", "NetStream.Publish.BadName", "no", "k")}});
      continue;
    }
    ASSERT_TRUE(c.server.accept_publish(1).ok());
    expect_messages(
        c.since(from),
        {
            // onFCPublish | txn 0 | null | {code: Publish.Start, description: k} (stream 0)
            {20, 0,
             cat({t::str("onFCPublish"), t::num(0), t::null(), t::object_start(), t::key("code"),
                  t::str("NetStream.Publish.Start"), t::key("description"), t::str("k"),
                  t::object_end()})},
            {4, 0, hex("0000 00000001")},
            {20, 1, t::on_status("status", "NetStream.Publish.Start", "k is now published.", "k")},
        });
  }
}

// node-media-server's relay client (src/protocol/rtmp_client.js, 4.3.2) and other minimal
// clients publish with connect, createStream, publish only: they get Stream Begin and
// Publish.Start, and no onFCPublish they never asked for.
TEST(ServerSession, PublishWithoutFcPublishGetsNoOnFcPublish) {
  RawClient c;
  ASSERT_TRUE(c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
  ASSERT_TRUE(c.command("createStream", 2, amf::Value::null(), {}).ok());
  ASSERT_TRUE(
      c.command("publish", 3, amf::Value::null(), {amf::Value("k"), amf::Value("live")}, 1).ok());
  const size_t from = c.mark();
  ASSERT_TRUE(c.server.accept_publish(1).ok());
  expect_messages(
      c.since(from),
      {{4, 0, hex("0000 00000001")},
       {20, 1, t::on_status("status", "NetStream.Publish.Start", "k is now published.", "k")}});
}

TEST(ServerSession, FcPublishNamesAreBoundedAtSixteen) {
  // 16 names are remembered; the 17th pushes out the oldest, whose accept then sends no
  // onFCPublish.
  for (int extra : {0, 1}) {
    RawClient c;
    ASSERT_TRUE(
        c.command("connect", 1, amf::Value::object({{"app", amf::Value("live")}}), {}).ok());
    for (int i = 0; i < 16 + extra; ++i) {
      ASSERT_TRUE(
          c.command("FCPublish", 2, amf::Value::null(), {amf::Value("k" + std::to_string(i))})
              .ok());
    }
    ASSERT_TRUE(c.command("createStream", 3, amf::Value::null(), {}).ok());
    ASSERT_TRUE(
        c.command("publish", 4, amf::Value::null(), {amf::Value("k0"), amf::Value("live")}, 1)
            .ok());
    const size_t from = c.mark();
    ASSERT_TRUE(c.server.accept_publish(1).ok());
    EXPECT_EQ(c.since(from).size(), extra ? 2u : 3u) << extra;
  }
}

}  // namespace
}  // namespace rtmp
