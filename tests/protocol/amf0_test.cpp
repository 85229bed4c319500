#include "protocol/amf0.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using amf::Value;
using test::hex;

std::vector<uint8_t> enc(const Value& v) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  amf0::encode(v, w);
  return out;
}

Result<Value> dec(const std::vector<uint8_t>& b, const Limits& l = {}) {
  ByteReader r(b);
  amf0::DecodeContext ctx(l);
  return amf0::decode(r, ctx);
}

// One table, parsed and built (AMF0 spec §2).
struct Row {
  Value value;
  const char* bytes;
};
const Row kTable[] = {
    {Value(1.0), "00 3FF0000000000000"},
    {Value(-0.5), "00 BFE0000000000000"},
    {Value(true), "01 01"},
    {Value(false), "01 00"},
    {Value("hi"), "02 0002 6869"},
    {Value(""), "02 0000"},
    {Value::null(), "05"},
    {Value(), "06"},
    {Value::object({{"a", Value(1.0)}}), "03 0001 61 00 3FF0000000000000 0000 09"},
    {Value::ecma_array({{"w", Value(true)}}), "08 00000001 0001 77 01 01 0000 09"},
    {Value::strict_array({Value(1.0), Value("x")}), "0A 00000002 00 3FF0000000000000 02 0001 78"},
    {Value(amf::Date{1.0, 0}), "0B 3FF0000000000000 0000"},
    {Value(amf::Xml{"<a/>"}), "0F 00000004 3C612F3E"},
};

TEST(Amf0, ParsesAndBuildsTheSpecTable) {
  for (const auto& row : kTable) {
    auto bytes = hex(row.bytes);
    EXPECT_EQ(enc(row.value), bytes) << row.bytes;
    auto v = dec(bytes);
    ASSERT_TRUE(v.ok()) << row.bytes << ": " << v.error().to_string();
    EXPECT_EQ(*v, row.value) << row.bytes;
  }
}

TEST(Amf0, TypedObjectKeepsItsClassName) {
  amf::Object o;
  o.class_name = "flex.Foo";
  o.properties.emplace_back("k", Value("v"));
  auto bytes = enc(Value(o));
  EXPECT_EQ(bytes[0], 0x10);
  auto v = dec(bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->as_object()->class_name, "flex.Foo");
  EXPECT_EQ(v->get_string("k"), "v");
}

TEST(Amf0, LongStringOverSixtyFourKiB) {
  std::string big(70000, 'z');
  auto bytes = enc(Value(big));
  EXPECT_EQ(bytes[0], 0x0C);
  auto v = dec(bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v->as_string(), big);
}

// ffmpeg's connect command (rtmpproto.c gen_connect), byte for byte.
std::vector<uint8_t> ffmpeg_connect() {
  return test::cat({hex("02 0007"),
                    test::bytes_of("connect"),
                    hex("00 3FF0000000000000"),
                    hex("03"),
                    hex("0003"),
                    test::bytes_of("app"),
                    hex("02 0004"),
                    test::bytes_of("live"),
                    hex("0004"),
                    test::bytes_of("type"),
                    hex("02 000A"),
                    test::bytes_of("nonprivate"),
                    hex("0008"),
                    test::bytes_of("flashVer"),
                    hex("02 0024"),
                    test::bytes_of("FMLE/3.0 (compatible; Lavf59.27.100)"),
                    hex("0005"),
                    test::bytes_of("tcUrl"),
                    hex("02 001A"),
                    test::bytes_of("rtmp://127.0.0.1:1935/live"),
                    hex("0000 09")});
}

TEST(Amf0, DecodesAnFfmpegConnectCommand) {
  auto values = amf0::decode_all(ffmpeg_connect(), Limits{});
  ASSERT_TRUE(values.ok()) << values.error().to_string();
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ(*(*values)[0].as_string(), "connect");
  EXPECT_EQ(*(*values)[1].as_number(), 1.0);
  const Value& obj = (*values)[2];
  EXPECT_EQ(obj.get_string("app"), "live");
  EXPECT_EQ(obj.get_string("type"), "nonprivate");
  EXPECT_EQ(obj.get_string("tcUrl"), "rtmp://127.0.0.1:1935/live");
  // Re-encoding gives the same bytes (property order is kept).
  std::vector<uint8_t> out;
  ByteWriter w(out);
  amf0::encode_all(*values, w);
  EXPECT_EQ(out, ffmpeg_connect());
}

TEST(Amf0, TruncationAtEveryOffsetIsAnErrorNeverACrash) {
  auto bytes = ffmpeg_connect();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = amf0::decode_all(Bytes(bytes).first(n), Limits{});
    // Prefixes that end exactly between values decode; the rest must fail cleanly.
    if (n != 0 && n != 10 && n != 19) {
      EXPECT_FALSE(r.ok()) << n;
    }
  }
}

TEST(Amf0, ReferencesResolveToEarlierObjects) {
  // [obj{a:1}, ref 0]
  auto bytes = hex("03 0001 61 00 3FF0000000000000 0000 09  07 0000");
  auto values = amf0::decode_all(bytes, Limits{});
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 2u);
  EXPECT_EQ((*values)[0], (*values)[1]);
}

TEST(Amf0, ReferenceToAValueNotYetDecodedIsAnError) {
  auto r = amf0::decode_all(hex("07 0000"), Limits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(Amf0, CyclicReferenceIsAnErrorNotALoop) {
  // obj{self: ref 0}: the reference points at the object being decoded.
  auto r = amf0::decode_all(hex("03 0004 73656C66 07 0000 0000 09"), Limits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(Amf0, DepthLimitAtNAndNPlusOne) {
  Limits l;
  l.amf_max_depth = 8;
  auto nested = [](int depth) {
    std::vector<uint8_t> b;
    for (int i = 0; i < depth; ++i) b.insert(b.end(), {0x0A, 0, 0, 0, 1});
    b.push_back(0x05);
    return b;
  };
  EXPECT_TRUE(dec(nested(8), l).ok());
  auto r = dec(nested(9), l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(Amf0, DepthBombOfAMillionLevelsFailsFast) {
  std::vector<uint8_t> b;
  for (int i = 0; i < 1'000'000; ++i) b.insert(b.end(), {0x0A, 0, 0, 0, 1});
  auto r = dec(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(Amf0, ElementLimitAtNAndNPlusOne) {
  Limits l;
  l.amf_max_elements = 11;  // the array itself + 10 items
  auto arr = [](uint32_t n) {
    std::vector<uint8_t> b = {0x0A, 0, 0, 0, static_cast<uint8_t>(n)};
    for (uint32_t i = 0; i < n; ++i) b.push_back(0x05);
    return b;
  };
  EXPECT_TRUE(dec(arr(10), l).ok());
  EXPECT_FALSE(dec(arr(11), l).ok());
}

TEST(Amf0, HugeDeclaredCountFailsWithoutAllocating) {
  auto r = dec(hex("0A FFFFFFFF 05"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTruncated);
}

TEST(Amf0, StringLimitAtNAndNPlusOne) {
  Limits l;
  l.amf_max_string = 4;
  EXPECT_TRUE(dec(hex("02 0004 61626364"), l).ok());
  auto r = dec(hex("02 0005 6162636465"), l);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(Amf0, ReferencesCannotMultiplyMemory) {
  // An array of 1000 elements, then 200 references to it: 200k copied nodes > the budget.
  std::vector<uint8_t> b = {0x0A, 0x00, 0x00, 0x03, 0xE8};
  for (int i = 0; i < 1000; ++i) b.push_back(0x05);
  for (int i = 0; i < 200; ++i) b.insert(b.end(), {0x07, 0x00, 0x00});
  auto r = amf0::decode_all(b, Limits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(Amf0, ReservedMarkersAreErrors) {
  for (const char* h : {"04", "0E", "09", "12"}) {
    auto r = dec(hex(h));
    ASSERT_FALSE(r.ok()) << h;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << h;
  }
}

TEST(Amf0, AvmPlusSwitchesToAmf3ForOneValue) {
  // 11 | AMF3 integer 5 | then AMF0 number 1.0
  auto values = amf0::decode_all(hex("11 04 05  00 3FF0000000000000"), Limits{});
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 2u);
  EXPECT_EQ(*(*values)[0].as_number(), 5.0);
  EXPECT_EQ(*(*values)[1].as_number(), 1.0);
}

TEST(Amf0, EachAvmPlusSwitchHasFreshAmf3ReferenceTables) {
  // "ab" as AMF3 in the first value; the second value's string reference 0 must not see it.
  auto r = amf0::decode_all(hex("11 06 05 6162  11 06 00"), Limits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  // What the encoder writes for two values with the same strings decodes back (the fuzzer
  // found the two sides disagreeing before the tables were reset per switch).
  amf::Dictionary d;
  d.entries = {{Value("k"), Value("k")}};
  std::vector<Value> values = {Value(d), Value(d)};
  std::vector<uint8_t> out;
  ByteWriter w(out);
  amf0::encode_all(values, w);
  auto back = amf0::decode_all(out, Limits{});
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(*back, values);
}

TEST(Amf0, Amf3OnlyKindsRoundTripThroughAvmPlus) {
  Value v(amf::ByteArray{{1, 2, 3}});
  auto bytes = enc(v);
  EXPECT_EQ(bytes, hex("11 0C 07 010203"));
  auto back = dec(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, v);
}

TEST(Amf0, GarbageNeverCrashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    auto b = test::random_bytes(rng, rng() % 64);
    (void)amf0::decode_all(b, Limits{});
  }
}

}  // namespace
}  // namespace rtmp
