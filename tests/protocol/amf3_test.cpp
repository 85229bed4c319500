#include "protocol/amf3.h"

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
  amf3::encode(v, w);
  return out;
}

Result<Value> dec(const std::vector<uint8_t>& b, const Limits& l = {}) {
  ByteReader r(b);
  amf3::DecodeContext ctx(l);
  return amf3::decode(r, ctx);
}

TEST(Amf3, U29EdgeValuesFromTheSpec) {
  struct Row {
    uint32_t v;
    const char* bytes;
  } rows[] = {{0, "00"},
              {0x7F, "7F"},
              {0x80, "81 00"},
              {0x3FFF, "FF 7F"},
              {0x4000, "81 80 00"},
              {0x1FFFFF, "FF FF 7F"},
              {0x200000, "80 C0 80 00"},
              {0x0FFFFFFF, "BF FF FF FF"},
              {0x1FFFFFFF, "FF FF FF FF"}};
  for (const auto& row : rows) {
    std::vector<uint8_t> out;
    ByteWriter w(out);
    amf3::write_u29(w, row.v);
    EXPECT_EQ(out, hex(row.bytes)) << row.v;
    auto bytes = hex(row.bytes);
    ByteReader r(bytes);
    auto back = amf3::read_u29(r);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, row.v);
  }
}

TEST(Amf3, IntegersAreSignExtended) {
  EXPECT_EQ(enc(Value::integer(-1)), hex("04 FF FF FF FF"));
  auto v = dec(hex("04 FF FF FF FF"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v->as_number(), -1.0);
  EXPECT_EQ(enc(Value::integer(1 << 28)), hex("05 41B0000000000000"));  // out of U29: double
}

TEST(Amf3, ScalarTable) {
  struct Row {
    Value v;
    const char* bytes;
  } rows[] = {{Value(), "00"},
              {Value::null(), "01"},
              {Value(false), "02"},
              {Value(true), "03"},
              {Value(0.5), "05 3FE0000000000000"},
              {Value("hello"), "06 0B 68656C6C6F"},
              {Value(""), "06 01"},
              {Value(amf::Date{2.0, 0}), "08 01 4000000000000000"},
              {Value(amf::ByteArray{{0xAA, 0xBB}}), "0C 05 AABB"},
              {Value(amf::Xml{"<x/>", true}), "0B 09 3C782F3E"},
              {Value(amf::Xml{"<x/>", false}), "07 09 3C782F3E"}};
  for (const auto& row : rows) {
    EXPECT_EQ(enc(row.v), hex(row.bytes)) << row.bytes;
    auto v = dec(hex(row.bytes));
    ASSERT_TRUE(v.ok()) << row.bytes;
    EXPECT_EQ(*v, row.v) << row.bytes;
  }
}

TEST(Amf3, StringReferencesAndTheEmptyStringRule) {
  // ["ab", "ab", ""]: dense array of 3, second "ab" by reference 0, "" never referenced.
  auto bytes = hex("09 07 01  06 05 6162  06 00  06 01");
  auto v = dec(bytes);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  const auto& arr = std::get<amf::MixedArray>(v->storage());
  ASSERT_EQ(arr.dense.size(), 3u);
  EXPECT_EQ(*arr.dense[1].as_string(), "ab");
  EXPECT_EQ(*arr.dense[2].as_string(), "");
  // The encoder produces the same references.
  amf::MixedArray m;
  m.dense = {Value("ab"), Value("ab"), Value("")};
  EXPECT_EQ(enc(Value(m)), bytes);
}

TEST(Amf3, DynamicAnonymousObject) {
  // 0A 0B 01 (traits: inline, dynamic, 0 sealed, class "") then "a" -> 1, end.
  auto bytes = hex("0A 0B 01  03 61 04 01  01");
  auto v = dec(bytes);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(*v->get("a")->as_number(), 1.0);
  EXPECT_EQ(enc(*v), bytes);
}

TEST(Amf3, SealedTraitsAreReferencedTheSecondTime) {
  amf::Object o;
  o.class_name = "Pt";
  o.dynamic = false;
  o.sealed_count = 2;
  o.properties = {{"x", Value::integer(1)}, {"y", Value::integer(2)}};
  amf::MixedArray arr;
  arr.dense = {Value(o), Value(o)};
  auto bytes = enc(Value(arr));
  // second object: 0A 01 (traits reference 0) then the two values
  auto v = dec(bytes);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  const auto& back = std::get<amf::MixedArray>(v->storage());
  ASSERT_EQ(back.dense.size(), 2u);
  EXPECT_EQ(back.dense[0], back.dense[1]);
  EXPECT_EQ(back.dense[1].as_object()->class_name, "Pt");
  EXPECT_EQ(back.dense[1].get("y")->as_number(), 2.0);
}

TEST(Amf3, ObjectReferenceReturnsTheEarlierValue) {
  // [ba, ref 1]: the array is object 0, the byte array object 1.
  auto v = dec(hex("09 05 01  0C 03 7F  0C 02"));
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  const auto& arr = std::get<amf::MixedArray>(v->storage());
  EXPECT_EQ(arr.dense[0], arr.dense[1]);
}

TEST(Amf3, OutOfRangeAndCyclicReferencesAreErrors) {
  EXPECT_EQ(dec(hex("06 02")).error().code, Errc::kMalformed);  // string ref 1, table empty
  EXPECT_EQ(dec(hex("0A 02")).error().code, Errc::kMalformed);  // object ref 1
  EXPECT_EQ(dec(hex("0A 05")).error().code, Errc::kMalformed);  // traits ref 1
  // array whose element references the array itself
  EXPECT_EQ(dec(hex("09 03 01 09 00")).error().code, Errc::kMalformed);
}

TEST(Amf3, VectorsAndDictionary) {
  amf::Vector vi;
  vi.kind = amf::Vector::Kind::kInt;
  vi.items = {Value::integer(-2), Value::integer(3)};
  EXPECT_EQ(enc(Value(vi)), hex("0D 05 00 FFFFFFFE 00000003"));
  amf::Vector vd;
  vd.kind = amf::Vector::Kind::kDouble;
  vd.fixed = true;
  vd.items = {Value(1.0)};
  amf::Vector vo;
  vo.kind = amf::Vector::Kind::kObject;
  vo.type_name = "String";
  vo.items = {Value("s")};
  amf::Dictionary d;
  d.weak_keys = true;
  d.entries = {{Value("k"), Value(true)}};
  for (const Value& v : {Value(vi), Value(vd), Value(vo), Value(d)}) {
    auto back = dec(enc(v));
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_EQ(*back, v);
  }
}

TEST(Amf3, ExternalizableNeedsAHook) {
  // 0A 07 <class "foo.Bar">: externalizable with no decoder registered.
  auto unknown = dec(test::cat({hex("0A 07 0F"), test::bytes_of("foo.Bar"), hex("04 01")}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::kUnsupported);
  // ArrayCollection is built in: it wraps one value.
  auto ac = dec(test::cat({hex("0A 07 43"), test::bytes_of("flex.messaging.io.ArrayCollection"),
                           hex("09 03 01 04 07")}));
  ASSERT_TRUE(ac.ok()) << ac.error().to_string();
  ASSERT_EQ(ac->as_object()->external.size(), 1u);
  // A caller-registered externalizer is used.
  amf3::Externalizers ext;
  ext.emplace("foo.Bar", [](ByteReader& in, amf3::DecodeContext&) -> Result<std::vector<Value>> {
    RTMP_TRY(uint8_t b, in.u8());
    return std::vector<Value>{Value(static_cast<double>(b))};
  });
  auto bytes = test::cat({hex("0A 07 0F"), test::bytes_of("foo.Bar"), hex("2A")});
  ByteReader r(bytes);
  amf3::DecodeContext ctx(Limits{}, &ext);
  auto v = amf3::decode(r, ctx);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v->as_object()->external[0].as_number(), 42.0);
}

TEST(Amf3, DepthAndCountLimits) {
  Limits l;
  l.amf_max_depth = 4;
  auto nested = [](int depth) {
    std::vector<uint8_t> b;
    for (int i = 0; i < depth; ++i) b.insert(b.end(), {0x09, 0x03, 0x01});
    b.push_back(0x01);
    return b;
  };
  EXPECT_TRUE(dec(nested(4), l).ok());
  EXPECT_EQ(dec(nested(5), l).error().code, Errc::kLimitExceeded);
  // A vector declaring 2^27 doubles in 10 bytes fails before allocating.
  EXPECT_EQ(dec(hex("0F FF FF FF FF 00 0000")).error().code, Errc::kTruncated);
}

TEST(Amf3, TruncationAtEveryOffsetNeverCrashes) {
  amf::Object o;
  o.properties = {{"name", Value("x")}, {"list", Value::strict_array({Value(1.0), Value(true)})}};
  auto bytes = enc(Value(o));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(
        dec(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n))).ok())
        << n;
  }
  EXPECT_TRUE(dec(bytes).ok());
}

TEST(Amf3, GarbageNeverCrashes) {
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i)
    (void)amf3::decode_all(test::random_bytes(rng, rng() % 64), Limits{});
}

}  // namespace
}  // namespace rtmp
