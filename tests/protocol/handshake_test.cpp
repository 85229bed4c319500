#include "protocol/handshake.h"

#include <gtest/gtest.h>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

// Runs client and server against each other, delivering `step` bytes at a time.
struct Pair {
  ClientHandshake client;
  ServerHandshake server;
  std::vector<uint8_t> after_c2;  // bytes the server left unconsumed

  Pair(HandshakeOptions c, size_t step, const std::vector<uint8_t>& trailing = {})
      : client(c, 1000), server({}, 2000) {
    run(step, trailing);
  }
  void run(size_t step, const std::vector<uint8_t>& trailing) {
    std::vector<uint8_t> c2s, s2c;
    for (int round = 0; round < 10 && !(client.done() && server.done()); ++round) {
      Bytes co = client.pending_output();
      c2s.insert(c2s.end(), co.begin(), co.end());
      client.consume_output(co.size());
      if (client.done() && !trailing.empty()) {
        c2s.insert(c2s.end(), trailing.begin(), trailing.end());
      }
      while (!c2s.empty() && !server.done()) {
        size_t n = std::min(step, c2s.size());
        auto used = server.receive(Bytes(c2s).first(n));
        ASSERT_TRUE(used.ok()) << used.error().to_string();
        c2s.erase(c2s.begin(), c2s.begin() + static_cast<long>(*used));
        if (*used < n) break;
      }
      if (server.done()) after_c2 = c2s;
      Bytes so = server.pending_output();
      s2c.insert(s2c.end(), so.begin(), so.end());
      server.consume_output(so.size());
      while (!s2c.empty() && !client.done()) {
        size_t n = std::min(step, s2c.size());
        auto used = client.receive(Bytes(s2c).first(n));
        ASSERT_TRUE(used.ok()) << used.error().to_string();
        s2c.erase(s2c.begin(), s2c.begin() + static_cast<long>(*used));
      }
    }
  }
};

TEST(Handshake, PlainClientAndServerComplete) {
  Pair p({}, 4096);
  EXPECT_TRUE(p.client.done());
  EXPECT_TRUE(p.server.done());
  EXPECT_FALSE(p.server.client_used_digest());
}

TEST(Handshake, DigestBothSchemasAreDetected) {
  for (int schema : {0, 1}) {
    HandshakeOptions o;
    o.digest = true;
    o.schema = schema;
    Pair p(o, 4096);
    EXPECT_TRUE(p.server.done());
    EXPECT_TRUE(p.server.client_used_digest());
    EXPECT_EQ(p.server.digest_schema(), schema);
    EXPECT_TRUE(p.client.server_digest_valid()) << schema;
  }
}

TEST(Handshake, ByteAtATimeDelivery) {
  HandshakeOptions o;
  o.digest = true;
  Pair p(o, 1);
  EXPECT_TRUE(p.client.done());
  EXPECT_TRUE(p.server.done());
}

TEST(Handshake, BytesAfterC2AreLeftForTheChunkReader) {
  std::vector<uint8_t> connect = {0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x14};
  Pair p({}, 100000, connect);
  ASSERT_TRUE(p.server.done());
  EXPECT_EQ(p.after_c2, connect);
}

TEST(Handshake, ServerEchoesC1AsS2ForPlainClients) {
  ClientHandshake c({}, 77);
  Bytes c0c1 = c.pending_output();
  ServerHandshake s;
  ASSERT_TRUE(s.receive(c0c1).ok());
  Bytes out = s.pending_output();
  ASSERT_EQ(out.size(), 1 + 2 * kHandshakeSize);
  EXPECT_EQ(out[0], 3);
  EXPECT_TRUE(std::equal(out.begin() + 1 + kHandshakeSize, out.end(), c0c1.begin() + 1));
}

TEST(Handshake, BadVersionIsAClearError) {
  for (uint8_t v : {uint8_t{6}, uint8_t{0xFF}, uint8_t{'G'}}) {
    ServerHandshake s;
    std::vector<uint8_t> b = {v, 0, 0, 0};
    auto r = s.receive(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kBadVersion);
    EXPECT_NE(r.error().detail.find(v == 6 ? "RTMPE" : "version byte"), std::string::npos);
  }
}

TEST(Handshake, TruncatedInputIsProgressNotError) {
  ClientHandshake c;
  std::vector<uint8_t> c0c1(c.pending_output().begin(), c.pending_output().end());
  for (size_t n = 0; n < c0c1.size(); ++n) {
    ServerHandshake s;
    auto r = s.receive(Bytes(c0c1).first(n));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, n);
    EXPECT_TRUE(s.pending_output().empty());
  }
}

TEST(Handshake, DigestOffsetFormula) {
  std::vector<uint8_t> p(kHandshakeSize, 0);
  p[8] = 200;
  p[9] = 200;
  p[10] = 200;
  p[11] = 200;  // sum 800 % 728 = 72
  EXPECT_EQ(handshake_detail::digest_offset(p, 0), 72u + 12);
  p[772] = 1;
  EXPECT_EQ(handshake_detail::digest_offset(p, 1), 1u + 776);
}

}  // namespace
}  // namespace rtmp
