#include "protocol/byte_reader.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/byte_writer.h"

namespace rtmp {
namespace {

TEST(ByteReader, ReadsBigEndianFieldsFromATable) {
  const std::vector<uint8_t> bytes = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xFF,
                                      0xFF, 0xFE, 0x78, 0x56, 0x34, 0x12};
  ByteReader r(bytes);
  EXPECT_EQ(*r.u8(), 0x01);
  EXPECT_EQ(*r.u16be(), 0x0203);
  EXPECT_EQ(*r.u24be(), 0x040506u);
  EXPECT_EQ(*r.i24be(), -2);
  EXPECT_EQ(*r.u32le(), 0x12345678u);
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, TruncationIsAnErrorWithOffsetAndDoesNotAdvance) {
  const std::vector<uint8_t> bytes = {0xAA, 0xBB, 0xCC};
  ByteReader r(bytes, 100);
  ASSERT_TRUE(r.u8().ok());
  auto v = r.u32be();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Errc::kTruncated);
  EXPECT_EQ(v.error().offset, 101u);
  EXPECT_EQ(r.remaining(), 2u);
  EXPECT_EQ(*r.u16be(), 0xBBCC);
}

TEST(ByteReader, EveryReadFailsCleanlyAtEveryLength) {
  const std::vector<uint8_t> bytes(8, 0x42);
  for (size_t n = 0; n < 8; ++n) {
    ByteReader r(std::span<const uint8_t>(bytes.data(), n));
    EXPECT_EQ(r.u64be().ok(), false);
    EXPECT_EQ(r.f64be().ok(), false);
    EXPECT_EQ(r.u32be().ok(), n >= 4);
  }
}

TEST(ByteWriter, RoundTripsEveryWidth) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u8(7);
  w.u16be(0xBEEF);
  w.u24be(0xABCDEF);
  w.i24be(-300);
  w.u32be(0xDEADBEEF);
  w.u32le(0x01020304);
  w.f64be(3.5);
  w.string("hi");
  ByteReader r(out);
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_EQ(*r.u16be(), 0xBEEF);
  EXPECT_EQ(*r.u24be(), 0xABCDEFu);
  EXPECT_EQ(*r.i24be(), -300);
  EXPECT_EQ(*r.u32be(), 0xDEADBEEFu);
  EXPECT_EQ(*r.u32le(), 0x01020304u);
  EXPECT_EQ(*r.f64be(), 3.5);
  EXPECT_EQ(*r.string_view(2), "hi");
  EXPECT_TRUE(r.empty());
}

TEST(ByteWriter, F64MatchesAmf0NumberBytes) {
  // AMF0 number 1.0 is 3F F0 00 00 00 00 00 00 (IEEE-754 big endian).
  std::vector<uint8_t> out;
  ByteWriter(out).f64be(1.0);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x3F, 0xF0, 0, 0, 0, 0, 0, 0}));
}

Result<int> parse_two(Bytes b) {
  ByteReader r(b);
  RTMP_TRY(uint8_t a, r.u8());
  RTMP_TRY(uint8_t c, r.u8());
  return a + c;
}

TEST(Result, TryPropagatesTheFirstError) {
  const std::vector<uint8_t> one = {1};
  const std::vector<uint8_t> two = {1, 2};
  EXPECT_EQ(*parse_two(two), 3);
  auto r = parse_two(one);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTruncated);
  EXPECT_NE(r.error().to_string().find("offset 1"), std::string::npos);
}

}  // namespace
}  // namespace rtmp
