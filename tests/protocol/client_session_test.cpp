#include "protocol/client_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>

#include "protocol/aggregate.h"
#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/crypto.h"
#include "protocol/handshake.h"
#include "tests/protocol/amf_tables.h"
#include "tests/protocol/session_pair.h"

namespace rtmp {
namespace {

using test::SessionPair;

void accept_all(ServerSession& s, const ServerEvent& ev) {
  if (auto p = std::get_if<PublishRequested>(&ev)) {
    ASSERT_TRUE(s.accept_publish(p->stream_id).ok());
  }
}

// A scripted server: completes the handshake, then lets the test answer commands by hand.
struct ScriptedServer {
  ServerHandshake hs;
  ChunkReader reader{Limits{}};
  ChunkWriter writer;
  std::vector<Command> commands;
  std::vector<Message> messages;  // everything the client sent after the handshake

  // Feeds client output; returns the commands seen.
  void feed(ClientSession& c) {
    Bytes out = c.pending_output();
    std::vector<uint8_t> b(out.begin(), out.end());
    c.consume_output(b.size());
    Bytes rest = b;
    if (!hs.done()) {
      auto used = hs.receive(rest);
      ASSERT_TRUE(used.ok());
      rest = rest.subspan(*used);
      Bytes hs_out = hs.pending_output();
      std::vector<uint8_t> s(hs_out.begin(), hs_out.end());
      hs.consume_output(s.size());
      ASSERT_TRUE(c.receive(s, 0).ok());
    }
    ASSERT_TRUE(reader.receive(rest).ok());
    while (auto m = reader.next_message()) {
      if (m->kind() == MessageType::kCommandAmf0) {
        auto cmd = parse_command(*m, Limits{});
        ASSERT_TRUE(cmd.ok());
        commands.push_back(*cmd);
      }
      messages.push_back(std::move(*m));
    }
  }
  // Sends one message of any kind to the client.
  void send(ClientSession& c, Message m) {
    std::vector<uint8_t> out;
    writer.write(m, out);
    (void)c.receive(out, 0);
  }
  void reply(ClientSession& c, const Command& cmd) {
    std::vector<uint8_t> out;
    Message m = build_command_message(cmd);
    writer.write(m, out);
    (void)c.receive(out, 0);
  }
};

TEST(ClientSession, SendsConnectWithErtmpCapabilitiesAndTheExpectedSequence) {
  auto cc = test::client_config("rtmp://h:1936/app/inst/key");
  cc.capabilities = client_capabilities({"hvc1"}, {"Opus"}, kCapsExMultitrack);
  cc.extra_connect_args = {amf::Value(true), amf::Value("x")};
  ClientSession c(cc, 0);
  ScriptedServer s;
  s.feed(c);  // C0C1
  s.feed(c);  // C2 + Set Chunk Size + connect
  ASSERT_EQ(s.commands.size(), 1u);
  const Command& connect = s.commands[0];
  EXPECT_EQ(connect.name, "connect");
  EXPECT_EQ(connect.command_object.get_string("app"), "app/inst");
  EXPECT_EQ(connect.command_object.get_string("tcUrl"), "rtmp://h:1936/app/inst");
  EXPECT_EQ(connect.command_object.get_string("type"), "nonprivate");
  EXPECT_TRUE(parse_capabilities(connect.command_object).supports_video("hvc1", kCanEncode));
  ASSERT_EQ(connect.args.size(), 2u);
  EXPECT_EQ(s.reader.chunk_size(), 4096u);  // Set Chunk Size came before connect (like OBS)

  s.reply(c,
          make_result(connect.transaction_id, amf::Value::object({}),
                      amf::Value::object({{"code", amf::Value("NetConnection.Connect.Success")}})));
  s.feed(c);
  ASSERT_EQ(s.commands.size(), 4u);  // pipelined like ffmpeg
  EXPECT_EQ(s.commands[1].name, "releaseStream");
  EXPECT_EQ(s.commands[2].name, "FCPublish");
  EXPECT_EQ(s.commands[3].name, "createStream");
  s.reply(c, make_result(s.commands[3].transaction_id, amf::Value::null(), amf::Value(1.0)));
  s.feed(c);
  ASSERT_EQ(s.commands.size(), 5u);
  EXPECT_EQ(s.commands[4].name, "publish");
  EXPECT_EQ(s.commands[4].arg_string(0), "key");
  EXPECT_EQ(s.commands[4].arg_string(1), "live");
  EXPECT_FALSE(c.publishing());
  s.reply(c, make_on_status(amf::Value::object({{"level", amf::Value("status")},
                                                {"code", amf::Value("NetStream.Publish.Start")}})));
  EXPECT_TRUE(c.publishing());
}

TEST(ClientSession, CreateStreamResultWithoutAUsableIdIsAnError) {
  // NaN, out of range and missing ids; NaN slipped through "< 1 || > max" (fuzzer-found UB).
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), 0.0, -3.0, 4294967296.0}) {
    ClientSession c(test::client_config("rtmp://h/live/k"), 0);
    ScriptedServer s;
    s.feed(c);
    s.feed(c);
    s.reply(c, make_result(
                   s.commands[0].transaction_id, amf::Value::object({}),
                   amf::Value::object({{"code", amf::Value("NetConnection.Connect.Success")}})));
    s.feed(c);
    ASSERT_EQ(s.commands.size(), 4u);
    s.reply(c, make_result(s.commands[3].transaction_id, amf::Value::null(), amf::Value(bad)));
    EXPECT_TRUE(c.closed()) << bad;
    bool malformed = false;
    while (auto ev = c.next_event()) {
      if (auto cl = std::get_if<ClientClosed>(&*ev); cl && cl->error)
        malformed = cl->error->code == Errc::kMalformed;
    }
    EXPECT_TRUE(malformed) << bad;
  }
}

// The first leg of Adobe auth: connect, the server's "need auth; authmod=adobe" rejection,
// and the AuthRetry the session reports.
std::optional<AuthRetry> first_auth_retry(const ClientConfig& cc) {
  ClientSession c(cc, 0);
  ScriptedServer s;
  s.feed(c);
  s.feed(c);
  EXPECT_EQ(s.commands.size(), 1u);
  s.reply(c, make_error_reply(
                 1, amf::Value::null(),
                 amf::Value::object(
                     {{"level", amf::Value("error")},
                      {"code", amf::Value("NetConnection.Connect.Rejected")},
                      {"description", amf::Value("[ AccessManager.Reject ] : [ code=403 need "
                                                 "auth; authmod=adobe ] : ")}})));
  std::optional<AuthRetry> retry;
  while (auto ev = c.next_event()) {
    if (auto r = std::get_if<AuthRetry>(&*ev)) retry = *r;
  }
  return retry;
}

// Drives the adobe exchange with a scripted server (handshake random bytes `random`) and checks
// the response; returns the client challenge the client chose.
std::string adobe_client_challenge(std::vector<uint8_t> random) {
  auto cc = test::client_config("rtmp://h/live/key");
  cc.random = std::move(random);
  cc.username = "user";
  cc.password = "pass";
  std::optional<AuthRetry> first = first_auth_retry(cc);
  EXPECT_TRUE(first);
  if (!first) return "";
  EXPECT_EQ(first->auth_query, "?authmod=adobe&user=user");
  cc.auth_query = first->auth_query;
  ClientSession c(cc, 0);
  ScriptedServer s;
  s.feed(c);
  s.feed(c);
  EXPECT_EQ(s.commands[0].command_object.get_string("app"), "live?authmod=adobe&user=user");
  s.reply(
      c,
      make_error_reply(
          1, amf::Value::null(),
          amf::Value::object(
              {{"level", amf::Value("error")},
               {"code", amf::Value("NetConnection.Connect.Rejected")},
               {"description",
                amf::Value("[ AccessManager.Reject ] : [ authmod=adobe ] : "
                           "?reason=needauth&user=user&salt=SALT&challenge=CHAL&opaque=OPQ")}})));
  std::optional<AuthRetry> retry;
  while (auto ev = c.next_event()) {
    if (auto r = std::get_if<AuthRetry>(&*ev)) retry = *r;
  }
  EXPECT_TRUE(retry);
  if (!retry) return "";
  // "?authmod=adobe&user=user&challenge=<8 hex digits>&response=<b64>&opaque=OPQ", where
  // response = b64(md5(b64(md5(user salt pass)) opaque client_challenge)).
  const std::string prefix = "?authmod=adobe&user=user&challenge=";
  EXPECT_EQ(retry->auth_query.rfind(prefix, 0), 0u) << retry->auth_query;
  if (retry->auth_query.rfind(prefix, 0) != 0) return "";
  const std::string client_challenge = retry->auth_query.substr(prefix.size(), 8);
  EXPECT_EQ(client_challenge.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::string h1 = base64_encode(md5(std::string_view("userSALTpass")));
  std::string h2 = base64_encode(md5(h1 + "OPQ" + client_challenge));
  EXPECT_EQ(retry->auth_query, prefix + client_challenge + "&response=" + h2 + "&opaque=OPQ");
  return client_challenge;
}

TEST(ClientSession, AdobeAuthChallengeResponse) {
  EXPECT_FALSE(adobe_client_challenge(std::vector<uint8_t>(1528, 7)).empty());
}

// The client challenge is not a constant: two connections with different handshake random
// bytes answer the same server challenge with different client challenges (ffmpeg's is random
// too; a fixed one lets a recorded response be replayed).
TEST(ClientSession, AdobeAuthClientChallengeDiffersPerConnection) {
  const std::string a = adobe_client_challenge(std::vector<uint8_t>(1528, 7));
  const std::string b = adobe_client_challenge(std::vector<uint8_t>(1528, 8));
  EXPECT_NE(a, b);
}

TEST(ClientSession, ServerErrorIsReportedNotSilent) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = [](ServerSession& s, const ServerEvent& ev) {
    if (auto r = std::get_if<PublishRequested>(&ev)) {
      ASSERT_TRUE(s.reject_publish(r->stream_id, PublishRejection::kUnauthorized, "bad key").ok());
    }
  };
  ASSERT_TRUE(p.drive());
  auto closed = p.client_of<ClientClosed>();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].status_code, "NetStream.Publish.Unauthorized");
  EXPECT_NE(closed[0].error->detail.find("bad key"), std::string::npos);
}

TEST(ClientSession, TimeoutWhenTheServerNeverAnswers) {
  auto cc = test::client_config("rtmp://h/live/k");
  cc.timeout_ms = 5000;
  ClientSession c(cc, 100);
  ASSERT_TRUE(c.next_timeout());
  EXPECT_EQ(*c.next_timeout(), 5100u);
  c.handle_timeout(5099);
  EXPECT_FALSE(c.closed());
  c.handle_timeout(5100);
  EXPECT_TRUE(c.closed());
  auto ev = c.next_event();
  ASSERT_TRUE(ev);
  auto closed = std::get_if<ClientClosed>(&*ev);
  ASSERT_TRUE(closed && closed->error);
  EXPECT_EQ(closed->error->code, Errc::kTimeout);
  EXPECT_NE(closed->error->detail.find("handshake"), std::string::npos);
}

TEST(ClientSession, ReconnectRequestIsResolvedAgainstOurUrl) {
  SessionPair p(test::client_config("rtmp://h:1936/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  ASSERT_TRUE(p.server.request_reconnect("//edge2/live", "maintenance").ok());
  ASSERT_TRUE(p.drive());
  auto rr = p.client_of<ReconnectRequested>();
  ASSERT_EQ(rr.size(), 1u);
  EXPECT_EQ(rr[0].tc_url, "rtmp://edge2/live");
  EXPECT_EQ(rr[0].description, "maintenance");
  EXPECT_TRUE(p.client.publishing());  // keeps streaming until it chooses to move
}

TEST(ClientSession, MediaBeforePublishStartIsRefused) {
  ClientSession c(test::client_config("rtmp://h/live/k"), 0);
  std::vector<uint8_t> b = {0x17, 1, 0, 0, 0};
  auto st = c.send_video(b, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInvalidState);
}

TEST(ClientSession, DigestHandshakeAgainstOurServer) {
  auto cc = test::client_config("rtmp://h/live/k");
  cc.digest_handshake = true;
  SessionPair p(cc, ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  EXPECT_TRUE(p.client.publishing());
}

// Connect accepted by the scripted server with `info` as the _result's information object.
void connect_with_info(ClientSession& c, ScriptedServer& s, amf::Value info) {
  s.feed(c);
  s.feed(c);
  ASSERT_EQ(s.commands.size(), 1u);
  s.reply(c, make_result(s.commands[0].transaction_id, amf::Value::object({}), std::move(info)));
  s.feed(c);
}

TEST(ClientSession, SecureTokenChallengeIsAnsweredBeforeThePublishCommands) {
  auto cc = test::client_config("rtmp://h/live/k");
  cc.secure_token = "0123456789abcdefTAIL";
  ClientSession c(cc, 0);
  ScriptedServer s;
  connect_with_info(c, s,
                    amf::Value::object({{"code", amf::Value("NetConnection.Connect.Success")},
                                        {"secureToken", amf::Value("6a8d2cbe5f0c1e33")}}));
  ASSERT_EQ(s.commands.size(), 5u);
  EXPECT_EQ(s.commands[1].name, "secureTokenResponse");
  EXPECT_EQ(s.commands[1].arg_string(0),
            secure_token_response("0123456789abcdef", "6a8d2cbe5f0c1e33"));
  EXPECT_EQ(s.commands[2].name, "releaseStream");
  EXPECT_FALSE(c.closed());
}

TEST(ClientSession, SecureTokenChallengeWithoutATokenFailsLikeRtmp2) {
  ClientSession c(test::client_config("rtmp://h/live/k"), 0);
  ScriptedServer s;
  connect_with_info(c, s,
                    amf::Value::object({{"code", amf::Value("NetConnection.Connect.Success")},
                                        {"secureToken", amf::Value("00")}}));
  EXPECT_TRUE(c.closed());
  auto ev = c.next_event();  // ClientConnected first
  ev = c.next_event();
  ASSERT_TRUE(ev);
  auto closed = std::get_if<ClientClosed>(&*ev);
  ASSERT_TRUE(closed && closed->error);
  EXPECT_EQ(closed->error->code, Errc::kAuthFailed);
}

TEST(ClientSession, StopSendsTheChosenCommands) {
  struct Case {
    StopCommands commands;
    std::vector<std::string> names;
  };
  const Case cases[] = {
      {StopCommands{}, {"FCUnpublish", "deleteStream"}},
      {StopCommands{false, false, false}, {}},
      {StopCommands{true, true, true}, {"FCUnpublish", "closeStream", "deleteStream"}},
      {StopCommands{false, true, false}, {"closeStream"}},
  };
  for (const Case& k : cases) {
    ClientSession c(test::client_config("rtmp://h/live/k"), 0);
    ScriptedServer s;
    connect_with_info(c, s,
                      amf::Value::object({{"code", amf::Value("NetConnection.Connect.Success")}}));
    s.reply(c, make_result(s.commands[3].transaction_id, amf::Value::null(), amf::Value(7.0)));
    s.feed(c);
    s.reply(c,
            make_on_status(amf::Value::object({{"level", amf::Value("status")},
                                               {"code", amf::Value("NetStream.Publish.Start")}})));
    ASSERT_TRUE(c.publishing());
    size_t before = s.commands.size();
    c.stop(k.commands);
    s.feed(c);
    std::vector<std::string> names;
    for (size_t i = before; i < s.commands.size(); ++i) names.push_back(s.commands[i].name);
    EXPECT_EQ(names, k.names);
    for (size_t i = before; i < s.commands.size(); ++i) {
      if (s.commands[i].name == "deleteStream") {
        EXPECT_EQ(s.commands[i].arg_number(0), 7.0);
      }
    }
    EXPECT_TRUE(c.closed());
  }
}

TEST(ClientSession, ChunkSizeChangesMidStreamAndMediaStillArrivesWhole) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  std::vector<uint8_t> frame(5000, 0x5A);
  frame[0] = 0x17;
  frame[1] = 1;
  // 1 is the protocol's minimum; 0xFFFFFF is our server's Limits::max_chunk_size.
  for (uint32_t size : {4096u, 1u, 300u, 0xFFFFFFu}) {
    p.client.set_chunk_size(size);
    EXPECT_EQ(p.client.stats().out_chunk_size, size);
    ASSERT_TRUE(p.client.send_video(frame, 40).ok());
    ASSERT_TRUE(p.drive());
  }
  auto media = p.server_of<MediaReceived>();
  ASSERT_EQ(media.size(), 4u);
  for (const auto& m : media) EXPECT_EQ(m.message.payload, frame);
  // Out of range values are clamped to 1 .. 0x7FFFFFFF (the 31 bits Set Chunk Size has).
  p.client.set_chunk_size(0x80000000u);
  EXPECT_EQ(p.client.stats().out_chunk_size, 0x7FFFFFFFu);
  p.client.set_chunk_size(0);
  EXPECT_EQ(p.client.stats().out_chunk_size, 1u);
  // Before the handshake ends it is the configured size (sent ahead of connect).
  ClientSession early(test::client_config("rtmp://h/live/k"), 0);
  early.set_chunk_size(200);
  ScriptedServer s;
  s.feed(early);
  s.feed(early);
  EXPECT_EQ(s.reader.chunk_size(), 200u);
}

TEST(ClientSession, StatsCountBytesAndAcknowledgements) {
  SessionPair p(test::client_config("rtmp://h/live/k"), ServerConfig{});
  p.on_server_event = accept_all;
  ASSERT_TRUE(p.drive());
  std::vector<uint8_t> frame(100'000, 0x11);
  frame[0] = 0x17;
  frame[1] = 1;
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(p.client.send_video(frame, static_cast<uint64_t>(i) * 33).ok());
    ASSERT_TRUE(p.drive());
  }
  ClientStats st = p.client.stats();
  EXPECT_EQ(st.out_bytes_total, p.client.bytes_sent());
  EXPECT_GT(st.out_bytes_total, 6'000'000u);
  EXPECT_EQ(st.out_chunk_size, 4096u);
  EXPECT_GT(st.in_bytes_total, 0u);
  // Our server asks for acks every window (2.5 MB by default): it acknowledged what it read.
  EXPECT_GT(st.out_bytes_acked, 0u);
  EXPECT_LE(st.out_bytes_acked, st.out_bytes_total);
  EXPECT_GT(st.out_window_ack_size, 0u) << "answered Set Peer Bandwidth";
  EXPECT_GT(st.in_window_ack_size, 0u);
}

// --- play role ---------------------------------------------------------------------------

using test::cat;
using test::hex;
namespace t = test::amf;

struct Sent {
  uint8_t type;
  uint32_t csid;
  uint32_t stream_id;
  std::vector<uint8_t> payload;
};
void expect_sent(const std::vector<Message>& got, size_t from, const std::vector<Sent>& want) {
  ASSERT_EQ(got.size() - from, want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const Message& m = got[from + i];
    EXPECT_EQ(m.type, want[i].type) << i;
    EXPECT_EQ(m.csid, want[i].csid) << i;
    EXPECT_EQ(m.stream_id, want[i].stream_id) << i;
    EXPECT_EQ(m.payload, want[i].payload) << i;
  }
}

Command connect_success(double txn) {
  return make_result(txn, amf::Value::object({{"fmsVer", amf::Value("FMS/3,5,7,7009")}}),
                     amf::Value::object({{"level", amf::Value("status")},
                                         {"code", amf::Value("NetConnection.Connect.Success")}}));
}

Message status_message(uint32_t stream_id, const std::string& level, const std::string& code) {
  Message m =
      build_command_message(make_on_status(amf::Value::object({{"level", amf::Value(level)},
                                                               {"code", amf::Value(code)},
                                                               {"description", amf::Value("d")}})));
  m.stream_id = stream_id;
  m.csid = 5;
  return m;
}

Message on_stream(Message m, uint32_t stream_id, uint64_t ts = 0) {
  m.stream_id = stream_id;
  m.timestamp = ts;
  return m;
}

Message av(uint8_t type, uint64_t ts, std::vector<uint8_t> payload) {
  Message m = test::make_message(type, ts, std::move(payload));
  m.csid = type == 9 ? 6 : 4;
  m.stream_id = 1;
  return m;
}

// A play-role client driven by a scripted server up to "play sent" (stream id 1).
struct PlayScript {
  explicit PlayScript(ClientConfig cc) : c(std::move(cc), 0) {
    s.feed(c);
    s.feed(c);  // C2, Set Chunk Size, connect
    s.reply(c, connect_success(s.commands[0].transaction_id));
    s.feed(c);  // [Set Buffer Length 0], [FCSubscribe], createStream
    s.reply(c, make_result(s.commands.back().transaction_id, amf::Value::null(), amf::Value(1.0)));
    s.feed(c);  // play, Set Buffer Length 1
  }
  std::vector<ClientEvent> events() {
    std::vector<ClientEvent> v;
    while (auto ev = c.next_event()) v.push_back(std::move(*ev));
    return v;
  }
  ClientSession c;
  ScriptedServer s;
};

TEST(ClientSession, PlayRoleSendsTheLibrtmpSequenceByteForByte) {
  auto cc = test::play_config("rtmp://h/live/key");
  cc.flash_ver = "LNX 9,0,124,2";
  ClientSession c(cc, 0);
  ScriptedServer s;
  s.feed(c);
  s.feed(c);
  expect_sent(s.messages, 0,
              {
                  {1, 2, 0, hex("00001000")},  // Set Chunk Size 4096, as for publish
                  // connect | txn 1 | {app, flashVer, tcUrl, fpad false, capabilities 15,
                  // audioCodecs 4071, videoCodecs 252, videoFunction 1}: no "type" (publish only)
                  {20, 3, 0,
                   cat({t::str("connect"),
                        t::num(1),
                        t::object_start(),
                        t::key("app"),
                        t::str("live"),
                        t::key("flashVer"),
                        t::str("LNX 9,0,124,2"),
                        t::key("tcUrl"),
                        t::str("rtmp://h/live"),
                        t::key("fpad"),
                        t::boolean(false),
                        t::key("capabilities"),
                        t::num(15),
                        t::key("audioCodecs"),
                        t::num(4071),
                        t::key("videoCodecs"),
                        t::num(252),
                        t::key("videoFunction"),
                        t::num(1),
                        t::object_end()})},
              });
  s.reply(c, connect_success(1));
  size_t from = s.messages.size();
  s.feed(c);
  expect_sent(s.messages, from,
              {
                  // User Control Set Buffer Length (3): stream 0, 300 ms (librtmp, rtmp2src)
                  {4, 2, 0, hex("0003 00000000 0000012C")},
                  // createStream | txn 2 | null
                  {20, 3, 0, cat({t::str("createStream"), t::num(2), t::null()})},
              });
  s.reply(c, make_result(2, amf::Value::null(), amf::Value(1.0)));
  from = s.messages.size();
  s.feed(c);
  expect_sent(s.messages, from,
              {
                  // play | txn 3 | null | "key" | start -2 | duration -1 | reset true, on the
                  // play stream, csid 8 (librtmp's and ffmpeg's)
                  {20, 8, 1,
                   cat({t::str("play"), t::num(3), t::null(), t::str("key"), t::num(-2), t::num(-1),
                        t::boolean(true)})},
                  // Set Buffer Length: stream 1, 3000 ms (ffmpeg's default)
                  {4, 2, 0, hex("0003 00000001 00000BB8")},
              });
  EXPECT_FALSE(c.playing());
  EXPECT_EQ(c.stream_id(), 1u);
}

TEST(ClientSession, PlayOptionsAndFcSubscribeGoOnTheWire) {
  auto cc = test::play_config("rtmp://h/live/cam?token=9");
  cc.play.start = -1000;
  cc.play.duration = 20000;
  cc.play.reset = false;
  cc.play.buffer_ms = 30000;
  cc.play.fc_subscribe = true;
  cc.capabilities = default_server_capabilities();
  PlayScript p(cc);
  const auto& m = p.s.messages;
  // connect carries the E-RTMP caps of a player (what it can receive).
  auto caps = parse_capabilities(p.s.commands[0].command_object);
  EXPECT_TRUE(caps.supports_video("hvc1", kCanDecode));
  EXPECT_EQ(caps.caps_ex, default_server_capabilities().caps_ex);
  ASSERT_EQ(p.s.commands.size(), 4u);
  // FCSubscribe | txn 2 | null | "cam?token=9", before createStream (txn 3).
  auto fcs = std::find_if(m.begin(), m.end(), [](const Message& x) {
    return x.type == 20 && parse_command(x, Limits{})->name == "FCSubscribe";
  });
  ASSERT_NE(fcs, m.end());
  EXPECT_EQ(fcs->payload,
            cat({t::str("FCSubscribe"), t::num(2), t::null(), t::str("cam?token=9")}));
  EXPECT_EQ(p.s.commands[2].name, "createStream");
  expect_sent(m, m.size() - 2,
              {{20, 8, 1,
                cat({t::str("play"), t::num(4), t::null(), t::str("cam?token=9"), t::num(-1000),
                     t::num(20000), t::boolean(false)})},
               {4, 2, 0, hex("0003 00000001 00007530")}});
  // An _error to FCSubscribe is a warning, not the end (ffmpeg ignores it too).
  p.s.reply(p.c, make_error_reply(
                     2, amf::Value::null(),
                     amf::Value::object({{"code", amf::Value("NetConnection.Call.Failed")}})));
  EXPECT_FALSE(p.c.closed());
  bool warned = false;
  for (auto& ev : p.events()) warned |= std::holds_alternative<ClientWarning>(ev);
  EXPECT_TRUE(warned);
}

TEST(ClientSession, PlayDeliversEveryServerMessageAsAnEventInOrder) {
  PlayScript p(test::play_config("rtmp://h/live/key"));
  (void)p.events();
  ScriptedServer& s = p.s;
  ClientSession& c = p.c;
  s.send(c, make_user_control(UserControlType::kStreamBegin, 1));
  s.send(c, status_message(1, "status", "NetStream.Play.Reset"));
  EXPECT_FALSE(c.playing());
  s.send(c, status_message(1, "status", "NetStream.Play.Start"));
  EXPECT_TRUE(c.playing());
  s.send(c, on_stream(
                build_data_message("|RtmpSampleAccess", {amf::Value(true), amf::Value(false)}), 1));
  s.send(c, on_stream(build_data_message(
                          "onStatus",
                          {amf::Value::object({{"code", amf::Value("NetStream.Data.Start")}})}),
                      1));
  s.send(c, on_stream(build_data_message("onMetaData",
                                         {amf::Value::object({{"width", amf::Value(320.0)}})}),
                      1));
  s.send(c, av(9, 0, hex("17 00 000000 01640016 FFE1")));  // AVC sequence header (truncated body)
  s.send(c, av(8, 0, hex("AF 00 1210")));                  // AAC AudioSpecificConfig
  s.send(c, av(9, 0, hex("17 01 000028 00000002 6588")));  // key frame, CT 40
  // Aggregate (type 22) of a video and an audio message, re-based onto the aggregate's time.
  Message sub_v = av(9, 500, hex("27 01 000000 00000001 41"));
  Message sub_a = av(8, 520, hex("AF 01 AABB"));
  Message agg = build_aggregate({sub_v, sub_a});
  agg.stream_id = 1;
  agg.timestamp = 1000;
  s.send(c, agg);
  s.send(c, make_user_control(UserControlType::kStreamDry, 1));
  s.send(c, make_user_control(UserControlType::kStreamIsRecorded, 1));
  s.send(c, make_user_control(UserControlType::kStreamEof, 1));
  s.send(c, status_message(1, "status", "NetStream.Play.UnpublishNotify"));
  s.send(c, on_stream(build_data_message(
                          "onPlayStatus",
                          {amf::Value::object({{"level", amf::Value("status")},
                                               {"code", amf::Value("NetStream.Play.Complete")}})}),
                      1));
  s.send(c, status_message(1, "status", "NetStream.Play.Stop"));
  EXPECT_FALSE(c.closed());  // the end of a live source is the caller's decision

  std::vector<std::string> trace;
  std::vector<MediaReceived> media;
  for (auto& ev : p.events()) {
    if (auto ctl = std::get_if<StreamControlReceived>(&ev)) {
      trace.push_back("control " + std::to_string(static_cast<int>(ctl->type)) + " " +
                      std::to_string(ctl->stream_id));
    } else if (auto st = std::get_if<StatusReceived>(&ev)) {
      trace.push_back("status " + st->code + " " + std::to_string(st->stream_id));
    } else if (std::get_if<PlayStarted>(&ev)) {
      trace.push_back("started");
    } else if (auto acc = std::get_if<SampleAccessReceived>(&ev)) {
      trace.push_back(std::string("access ") + (acc->audio ? "1" : "0") + (acc->video ? "1" : "0"));
    } else if (auto md = std::get_if<MetadataReceived>(&ev)) {
      trace.push_back("metadata " + md->handler + " " +
                      std::to_string(md->values[0].get_number("width").value_or(0)));
    } else if (auto mr = std::get_if<MediaReceived>(&ev)) {
      trace.push_back("media " + std::to_string(mr->message.type) + " " +
                      std::to_string(mr->message.timestamp));
      media.push_back(std::move(*mr));
    } else {
      trace.push_back("other");
    }
  }
  EXPECT_EQ(trace, (std::vector<std::string>{
                       "control 0 1",
                       "status NetStream.Play.Reset 1",
                       "status NetStream.Play.Start 1",
                       "started",
                       "access 10",
                       "status NetStream.Data.Start 1",
                       "metadata onMetaData 320.000000",
                       "media 9 0",
                       "media 8 0",
                       "media 9 0",
                       "media 9 1000",
                       "media 8 1020",
                       "control 2 1",
                       "control 4 1",
                       "control 1 1",
                       "status NetStream.Play.UnpublishNotify 1",
                       "status NetStream.Play.Complete 1",
                       "status NetStream.Play.Stop 1",
                   }));
  ASSERT_EQ(media.size(), 5u);
  EXPECT_EQ(media[0].tag.units[0].packet, PacketKind::kSequenceStart);
  EXPECT_EQ(media[2].tag.units[0].composition_time, 40);
  EXPECT_TRUE(media[2].tag.units[0].keyframe);
  EXPECT_EQ(media[3].message.payload, hex("27 01 000000 00000001 41"));
  EXPECT_FALSE(media[3].tag_error);
}

TEST(ClientSession, MediaWithoutPlayStartStartsThePlay) {
  PlayScript p(test::play_config("rtmp://h/live/key"));
  (void)p.events();
  p.s.send(p.c, av(8, 5, hex("AF 01 00")));
  EXPECT_TRUE(p.c.playing());
  auto evs = p.events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<PlayStarted>(evs[0]));
  EXPECT_TRUE(std::holds_alternative<MediaReceived>(evs[1]));
}

TEST(ClientSession, MediaBeforePlayIsAWarningAndDropped) {
  ClientSession c(test::play_config("rtmp://h/live/key"), 0);
  ScriptedServer s;
  s.feed(c);
  s.feed(c);
  s.send(c, av(9, 0, hex("17 01 000000 00")));
  bool warned = false, media = false;
  while (auto ev = c.next_event()) {
    warned |= std::holds_alternative<ClientWarning>(*ev);
    media |= std::holds_alternative<MediaReceived>(*ev);
  }
  EXPECT_TRUE(warned);
  EXPECT_FALSE(media);
  EXPECT_FALSE(c.closed());
}

TEST(ClientSession, APublishRoleIgnoresStreamMessages) {
  SessionPair pr(test::client_config("rtmp://h/live/k"), ServerConfig{});
  pr.on_server_event = accept_all;
  ASSERT_TRUE(pr.drive());
  // The server's Stream Begin for the publish stream is no event for a publisher.
  EXPECT_TRUE(pr.client_of<StreamControlReceived>().empty());
  EXPECT_TRUE(pr.client_of<MediaReceived>().empty());
}

TEST(ClientSession, PlayRefusalsEndTheSessionWithTheServersCode) {
  struct Row {
    std::function<void(PlayScript&)> refuse;
    std::string code;
  };
  const Row rows[] = {
      {[](PlayScript& p) {
         p.s.send(p.c, status_message(1, "error", "NetStream.Play.StreamNotFound"));
       },
       "NetStream.Play.StreamNotFound"},
      {[](PlayScript& p) { p.s.send(p.c, status_message(1, "error", "NetStream.Play.Failed")); },
       "NetStream.Play.Failed"},
      {[](PlayScript& p) { p.s.send(p.c, status_message(1, "error", "NetStream.Play.BadName")); },
       "NetStream.Play.BadName"},
      {[](PlayScript& p) {
         // An `_error` answering play (txn 3).
         p.s.reply(p.c,
                   make_error_reply(
                       3, amf::Value::null(),
                       amf::Value::object({{"level", amf::Value("error")},
                                           {"code", amf::Value("NetStream.Play.Unauthorized")}})));
       },
       "NetStream.Play.Unauthorized"},
  };
  for (const Row& row : rows) {
    PlayScript p(test::play_config("rtmp://h/live/key"));
    row.refuse(p);
    EXPECT_TRUE(p.c.closed()) << row.code;
    std::optional<ClientClosed> closed;
    for (auto& ev : p.events()) {
      if (auto x = std::get_if<ClientClosed>(&ev)) closed = *x;
    }
    ASSERT_TRUE(closed) << row.code;
    ASSERT_TRUE(closed->error);
    EXPECT_EQ(closed->error->code, Errc::kAuthFailed);
    EXPECT_EQ(closed->status_code, row.code);
  }
}

TEST(ClientSession, PlayerCommandsByteForByte) {
  PlayScript p(test::play_config("rtmp://h/live/key"));
  EXPECT_EQ(p.c.pause(true, 0).error().code, Errc::kInvalidState);  // not playing yet
  p.s.send(p.c, status_message(1, "status", "NetStream.Play.Start"));
  ASSERT_TRUE(p.c.playing());
  ASSERT_TRUE(p.c.pause(true, 1500).ok());
  ASSERT_TRUE(p.c.pause(false, 1500).ok());
  ASSERT_TRUE(p.c.seek(4000).ok());
  ASSERT_TRUE(p.c.receive_audio(false).ok());
  ASSERT_TRUE(p.c.receive_video(true).ok());
  ASSERT_TRUE(p.c.set_buffer_length(500).ok());
  Play2Options o;
  o.stream_name = "key_hd";
  ASSERT_TRUE(p.c.play2(o).ok());
  const size_t from = p.s.messages.size();
  p.s.feed(p.c);
  // NetStream commands: transaction 0, null, then the arguments; play stream 1, csid 8.
  expect_sent(
      p.s.messages, from,
      {
          {20, 8, 1, cat({t::str("pause"), t::num(0), t::null(), t::boolean(true), t::num(1500)})},
          {20, 8, 1, cat({t::str("pause"), t::num(0), t::null(), t::boolean(false), t::num(1500)})},
          {20, 8, 1, cat({t::str("seek"), t::num(0), t::null(), t::num(4000)})},
          {20, 8, 1, cat({t::str("receiveAudio"), t::num(0), t::null(), t::boolean(false)})},
          {20, 8, 1, cat({t::str("receiveVideo"), t::num(0), t::null(), t::boolean(true)})},
          {4, 2, 0, hex("0003 00000001 000001F4")},  // Set Buffer Length 500 ms
          // play2 | 0 | null | {streamName, oldStreamName, start, len, transition}
          {20, 8, 1,
           cat({t::str("play2"), t::num(0), t::null(), t::object_start(), t::key("streamName"),
                t::str("key_hd"), t::key("oldStreamName"), t::str("key"), t::key("start"),
                t::num(-2), t::key("len"), t::num(-1), t::key("transition"), t::str("switch"),
                t::object_end()})},
      });
  // stop(): deleteStream only (no FCUnpublish for a player): txn 4 | null | 1.
  const size_t before_stop = p.s.messages.size();
  p.c.stop();
  p.s.feed(p.c);
  expect_sent(p.s.messages, before_stop,
              {{20, 3, 0, cat({t::str("deleteStream"), t::num(4), t::null(), t::num(1)})}});
  EXPECT_TRUE(p.c.closed());
}

TEST(ClientSession, PlayAcknowledgesAtTheServersWindowAndAnswersPings) {
  PlayScript p(test::play_config("rtmp://h/live/key"));
  p.s.send(p.c, status_message(1, "status", "NetStream.Play.Start"));
  p.s.send(p.c, make_ping_request(0x0A0B0C0D));
  size_t from = p.s.messages.size();
  p.s.feed(p.c);
  // Ping Response (event 7) with the request's timestamp.
  expect_sent(p.s.messages, from, {{4, 2, 0, hex("0007 0A0B0C0D")}});
  // Window 5000: an Acknowledgement (type 3) each time 5000 more bytes arrived; its value
  // counts every byte of the connection (the 3073 handshake bytes too).
  constexpr uint64_t kHandshake = 1 + 2 * 1536;
  p.s.send(p.c, make_window_ack_size(5000));
  uint64_t last_ack = 0;
  size_t acks = 0;
  for (int i = 0; i < 40; ++i) {
    from = p.s.messages.size();
    p.s.send(p.c, av(8, 20u * static_cast<uint64_t>(i), std::vector<uint8_t>(500, 0xAF)));
    const uint64_t total = p.c.bytes_received() + kHandshake;
    p.s.feed(p.c);
    const bool due = total - last_ack >= 5000;
    ASSERT_EQ(p.s.messages.size() - from, due ? 1u : 0u) << i;
    if (due) {
      EXPECT_EQ(p.s.messages.back().type, 3);
      EXPECT_EQ(*parse_acknowledgement(p.s.messages.back().payload), total);
      last_ack = total;
      ++acks;
    }
  }
  EXPECT_GE(acks, 3u);
}

TEST(ClientSession, PlayTimeoutNamesThePlayStage) {
  auto cc = test::play_config("rtmp://h/live/key");
  cc.timeout_ms = 1000;
  ClientSession c(cc, 0);
  ScriptedServer s;
  s.feed(c);
  s.feed(c);
  s.reply(c, connect_success(1));
  s.feed(c);
  s.reply(c, make_result(2, amf::Value::null(), amf::Value(1.0)));
  c.handle_timeout(999);
  EXPECT_FALSE(c.closed());
  c.handle_timeout(1000);
  ASSERT_TRUE(c.closed());
  std::optional<ClientClosed> closed;
  while (auto ev = c.next_event()) {
    if (auto x = std::get_if<ClientClosed>(&*ev)) closed = *x;
  }
  ASSERT_TRUE(closed && closed->error);
  EXPECT_EQ(closed->error->code, Errc::kTimeout);
  EXPECT_NE(closed->error->detail.find("play"), std::string::npos);
  // Once playing there is no deadline.
  PlayScript p(test::play_config("rtmp://h/live/key"));
  p.s.send(p.c, status_message(1, "status", "NetStream.Play.Start"));
  EXPECT_FALSE(p.c.next_timeout());
}

TEST(ClientSession, AdobeAuthWorksForPlayToo) {
  auto cc = test::play_config("rtmp://h/live/key");
  cc.username = "user";
  cc.password = "pass";
  std::optional<AuthRetry> retry = first_auth_retry(cc);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->auth_query, "?authmod=adobe&user=user");
  cc.auth_query = retry->auth_query;
  PlayScript p(cc);
  EXPECT_EQ(p.s.commands[0].command_object.get_string("app"), "live?authmod=adobe&user=user");
  EXPECT_EQ(p.s.commands.back().name, "play");
}

// End to end against our own ServerSession: the connect caps reach PlayRequested, the
// accept sequence starts the play, media flows, and the unpublish notice arrives.
TEST(ClientSession, PlaysFromOurServerSession) {
  auto cc = test::play_config("rtmp://h/live/key?t=1");
  cc.capabilities = default_server_capabilities();
  SessionPair p(cc, ServerConfig{});
  std::optional<PlayRequested> req;
  p.on_server_event = [&req](ServerSession& s, const ServerEvent& ev) {
    if (auto r = std::get_if<PlayRequested>(&ev)) {
      req = *r;
      ASSERT_TRUE(s.accept_play(r->stream_id).ok());
    }
  };
  ASSERT_TRUE(p.drive());
  ASSERT_TRUE(req);
  EXPECT_EQ(req->stream_name, "key");
  EXPECT_EQ(req->query, "t=1");
  EXPECT_TRUE(req->peer_caps.supports_video("av01", kCanDecode));
  ASSERT_TRUE(p.client.playing());
  EXPECT_EQ(p.client_of<PlayStarted>().size(), 1u);
  EXPECT_EQ(p.client_of<SampleAccessReceived>().size(), 1u);
  Message v = av(9, 33, hex("17 01 000000 00000001 65"));
  ASSERT_TRUE(p.server.send_media(req->stream_id, v).ok());
  ASSERT_TRUE(p.server.notify_play(req->stream_id, PlayNotice::kUnpublished).ok());
  ASSERT_TRUE(p.drive());
  auto media = p.client_of<MediaReceived>();
  ASSERT_EQ(media.size(), 1u);
  EXPECT_EQ(media[0].message.payload, v.payload);
  EXPECT_EQ(media[0].message.timestamp, 33u);
  std::vector<std::string> codes;
  for (const auto& st : p.client_of<StatusReceived>()) codes.push_back(st.code);
  EXPECT_EQ(codes, (std::vector<std::string>{"NetStream.Play.Reset", "NetStream.Play.Start",
                                             "NetStream.Play.UnpublishNotify"}));
  auto controls = p.client_of<StreamControlReceived>();
  ASSERT_GE(controls.size(), 2u);
  EXPECT_EQ(controls.back().type, UserControlType::kStreamEof);
  // The server-side view of the player's commands.
  ASSERT_TRUE(p.client.pause(true, 100).ok());
  ASSERT_TRUE(p.drive());
  EXPECT_EQ(p.server_of<PlayPaused>().size(), 1u);
  EXPECT_TRUE(p.server.play_state(req->stream_id)->paused);
  p.client.stop();
  ASSERT_TRUE(p.drive());
  ASSERT_EQ(p.server_of<PlayEnded>().size(), 1u);
  EXPECT_EQ(p.server_of<PlayEnded>()[0].reason, "deleteStream");
}

}  // namespace
}  // namespace rtmp
