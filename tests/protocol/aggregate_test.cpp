#include "protocol/aggregate.h"

#include <gtest/gtest.h>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::hex;

Message sub(uint8_t type, uint64_t ts, std::vector<uint8_t> payload) {
  Message m;
  m.type = type;
  m.stream_id = 1;
  m.csid = 6;
  m.timestamp = ts;
  m.payload = std::move(payload);
  return m;
}

TEST(Aggregate, ParsesTheLayoutAndRebasesTimestamps) {
  // Two sub-messages at 1000 and 1040; the aggregate itself says 5000.
  Message agg;
  agg.type = 22;
  agg.stream_id = 1;
  agg.timestamp = 5000;
  agg.payload = test::cat({hex("09 000002 0003E8 00 000000 1701 0000000D"),
                           hex("08 000001 000410 00 000000 AF 0000000C")});
  auto msgs = parse_aggregate(agg);
  ASSERT_TRUE(msgs.ok()) << msgs.error().to_string();
  ASSERT_EQ(msgs->size(), 2u);
  EXPECT_EQ((*msgs)[0].timestamp, 5000u);
  EXPECT_EQ((*msgs)[1].timestamp, 5040u);
  EXPECT_EQ((*msgs)[1].type, 8);
  EXPECT_EQ((*msgs)[0].payload, hex("1701"));
  EXPECT_EQ((*msgs)[1].stream_id, 1u);
}

TEST(Aggregate, SubMessageBeforeTheFirstGoesBackNotForward) {
  // Sub-messages at 1000 and 997 (3 ms before the first); the aggregate says 5000. An unsigned
  // offset put the second at 5000 + 2^32 - 3 ms (+49.7 days).
  Message agg;
  agg.type = 22;
  agg.stream_id = 1;
  agg.timestamp = 5000;
  agg.payload = test::cat({hex("09 000002 0003E8 00 000000 1701 0000000D"),
                           hex("08 000001 0003E5 00 000000 AF 0000000C")});
  auto msgs = parse_aggregate(agg);
  ASSERT_TRUE(msgs.ok()) << msgs.error().to_string();
  ASSERT_EQ(msgs->size(), 2u);
  EXPECT_EQ((*msgs)[1].timestamp, 4997u);
  // Never below zero: an aggregate at 2 ms with a sub-message 3 ms before its first.
  agg.timestamp = 2;
  msgs = parse_aggregate(agg);
  ASSERT_TRUE(msgs.ok());
  EXPECT_EQ((*msgs)[1].timestamp, 0u);
}

TEST(Aggregate, BuildThenParseRoundTrips) {
  std::vector<Message> in = {sub(9, 100, hex("1701AA")), sub(8, 120, hex("AF01BB")),
                             sub(9, 133, hex("2701CC"))};
  Message agg = build_aggregate(in);
  EXPECT_EQ(agg.timestamp, 100u);
  auto out = parse_aggregate(agg);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*out)[i].payload, in[i].payload);
    EXPECT_EQ((*out)[i].timestamp, in[i].timestamp);
    EXPECT_EQ((*out)[i].type, in[i].type);
  }
}

TEST(Aggregate, SubMessageLongerThanTheRestIsAnError) {
  Message agg;
  agg.type = 22;
  agg.payload = hex("09 0000FF 000000 00 000000 17");
  auto r = parse_aggregate(agg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTruncated);
}

TEST(Aggregate, NestedAggregateIsMalformed) {
  Message agg;
  agg.type = 22;
  agg.payload = hex("16 000000 000000 00 000000 0000000B");
  EXPECT_EQ(parse_aggregate(agg).error().code, Errc::kMalformed);
}

TEST(Aggregate, TruncationAtEveryOffsetNeverCrashes) {
  Message agg = build_aggregate({sub(9, 1, hex("1701AA")), sub(8, 2, hex("AF01"))});
  for (size_t n = 0; n < agg.payload.size(); ++n) {
    Message t = agg;
    t.payload.resize(n);
    auto r = parse_aggregate(t);
    // Cuts that drop only back pointers, or land between sub-messages, may parse.
    if (r.ok()) {
      for (const auto& m : *r) EXPECT_LE(m.payload.size(), n);
    }
  }
}

}  // namespace
}  // namespace rtmp
