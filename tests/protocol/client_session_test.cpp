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

}  // namespace
}  // namespace rtmp
