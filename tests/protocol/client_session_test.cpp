#include "protocol/client_session.h"

#include <gtest/gtest.h>

#include <limits>

#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/crypto.h"
#include "protocol/handshake.h"
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
    }
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

TEST(ClientSession, AdobeAuthChallengeResponse) {
  auto cc = test::client_config("rtmp://h/live/key");
  cc.username = "user";
  cc.password = "pass";
  {
    ClientSession c(cc, 0);
    ScriptedServer s;
    s.feed(c);
    s.feed(c);
    ASSERT_EQ(s.commands.size(), 1u);
    s.reply(
        c,
        make_error_reply(
            1, amf::Value::null(),
            amf::Value::object(
                {{"level", amf::Value("error")},
                 {"code", amf::Value("NetConnection.Connect.Rejected")},
                 {"description",
                  amf::Value(
                      "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")}})));
    std::optional<AuthRetry> retry;
    while (auto ev = c.next_event()) {
      if (auto r = std::get_if<AuthRetry>(&*ev)) retry = *r;
    }
    ASSERT_TRUE(retry);
    EXPECT_EQ(retry->auth_query, "?authmod=adobe&user=user");
    cc.auth_query = retry->auth_query;
  }
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
  ASSERT_TRUE(retry);
  // response = b64(md5(b64(md5(user salt pass)) opaque client_challenge))
  std::string h1 = base64_encode(md5(std::string_view("userSALTpass")));
  std::string h2 = base64_encode(md5(h1 + "OPQ" + "0a1b2c3d"));
  EXPECT_EQ(retry->auth_query,
            "?authmod=adobe&user=user&challenge=0a1b2c3d&response=" + h2 + "&opaque=OPQ");
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

}  // namespace
}  // namespace rtmp
