#include "protocol/control.h"

#include <gtest/gtest.h>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::hex;

TEST(Control, BuildsAndParsesEveryMessageFromOneTable) {
  struct Row {
    Message m;
    std::vector<uint8_t> payload;
    uint8_t type;
  };
  const Row rows[] = {
      {make_set_chunk_size(4096), hex("00001000"), 1},
      {make_abort(6), hex("00000006"), 2},
      {make_acknowledgement(0xFFFFFFFF), hex("FFFFFFFF"), 3},
      {make_window_ack_size(2500000), hex("002625A0"), 5},
      {make_set_peer_bandwidth(2500000, PeerBandwidthLimit::kDynamic), hex("002625A0 02"), 6},
      {make_user_control(UserControlType::kStreamBegin, 1), hex("0000 00000001"), 4},
      {make_set_buffer_length(1, 3000), hex("0003 00000001 00000BB8"), 4},
      {make_ping_request(0x01020304), hex("0006 01020304"), 4},
      {make_ping_response(0x01020304), hex("0007 01020304"), 4},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(row.m.payload, row.payload);
    EXPECT_EQ(row.m.type, row.type);
    EXPECT_EQ(row.m.csid, kControlCsid);
    EXPECT_EQ(row.m.stream_id, 0u);
  }
  EXPECT_EQ(*parse_set_chunk_size(rows[0].payload), 4096u);
  EXPECT_EQ(*parse_abort(rows[1].payload), 6u);
  EXPECT_EQ(*parse_acknowledgement(rows[2].payload), 0xFFFFFFFFu);
  EXPECT_EQ(*parse_window_ack_size(rows[3].payload), 2500000u);
  auto bw = parse_set_peer_bandwidth(rows[4].payload);
  ASSERT_TRUE(bw.ok());
  EXPECT_EQ(bw->window, 2500000u);
  EXPECT_EQ(bw->limit, PeerBandwidthLimit::kDynamic);
  auto sbl = parse_user_control(rows[6].payload);
  ASSERT_TRUE(sbl.ok());
  EXPECT_EQ(sbl->type, UserControlType::kSetBufferLength);
  EXPECT_EQ(sbl->value, 1u);
  EXPECT_EQ(sbl->buffer_ms, 3000u);
  auto ping = parse_user_control(rows[7].payload);
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->type, UserControlType::kPingRequest);
  EXPECT_EQ(ping->value, 0x01020304u);
}

TEST(Control, SetChunkSizeTopBitIsMalformed) {
  auto r = parse_set_chunk_size(hex("80000080"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(Control, PeerBandwidthLimitTypeThreeIsMalformed) {
  EXPECT_FALSE(parse_set_peer_bandwidth(hex("00001000 03")).ok());
}

TEST(Control, UnknownUserControlEventIsNotAnError) {
  auto ev = parse_user_control(hex("001F 0000"));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(static_cast<uint16_t>(ev->type), 0x1F);
}

TEST(Control, TruncatedAtEveryOffsetIsAnError) {
  const std::vector<uint8_t> sbl = hex("0003 00000001 00000BB8");
  for (size_t n = 0; n < sbl.size(); ++n) {
    EXPECT_FALSE(parse_user_control(Bytes(sbl).first(n)).ok()) << n;
  }
  const std::vector<uint8_t> bw = hex("002625A0 02");
  for (size_t n = 0; n < bw.size(); ++n) {
    EXPECT_FALSE(parse_set_peer_bandwidth(Bytes(bw).first(n)).ok()) << n;
  }
}

}  // namespace
}  // namespace rtmp
