#include "protocol/color_info.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/protocol/hdr10.h"
#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::bytes_of;
using test::cat;
using test::hex;

// AMF0 pieces: a property key (u16 length + UTF-8) and a number property.
std::vector<uint8_t> key(std::string_view k) {
  std::vector<uint8_t> out(2 + k.size());
  out[0] = static_cast<uint8_t>(k.size() >> 8);
  out[1] = static_cast<uint8_t>(k.size() & 0xFF);
  for (size_t i = 0; i < k.size(); ++i) out[2 + i] = static_cast<uint8_t>(k[i]);
  return out;
}
std::vector<uint8_t> num(std::string_view k, const char* f64) {
  return cat({key(k), hex("00"), hex(f64)});
}
const std::vector<uint8_t> kEnd = hex("00 00 09");
const std::vector<uint8_t> kColorInfoName = cat({hex("02"), key("colorInfo")});

VideoMetadata parse_ok(const std::vector<uint8_t>& body) {
  auto r = parse_video_metadata(body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : VideoMetadata{};
}

Error parse_error(const std::vector<uint8_t>& body) {
  auto r = parse_video_metadata(body);
  EXPECT_FALSE(r.ok());
  return r.ok() ? Error{} : r.error();
}

using test::hdr10_color_info;
ColorInfo hdr10() {
  return hdr10_color_info();
}

// The same, byte by byte (E-RTMP v2 "Metadata Frame" field names, AMF0 Objects).
std::vector<uint8_t> hdr10_bytes() {
  return cat({kColorInfoName,
              hex("03"),  //
              key("colorConfig"),
              hex("03"),                                           //
              num("bitDepth", "4024000000000000"),                 // 10
              num("colorPrimaries", "4022000000000000"),           // 9  BT.2020
              num("transferCharacteristics", "4030000000000000"),  // 16 PQ
              num("matrixCoefficients", "4022000000000000"),
              kEnd,  // 9  BT.2020 NCL
              key("hdrCll"),
              hex("03"),                           //
              num("maxFall", "4079000000000000"),  // 400
              num("maxCLL", "408F400000000000"),
              kEnd,  // 1000
              key("hdrMdcv"),
              hex("03"),  //
              num("redX", "3FE6A7EF9DB22D0E"),
              num("redY", "3FD2B020C49BA5E3"),  // .708 .292
              num("greenX", "3FC5C28F5C28F5C3"),
              num("greenY", "3FE9810624DD2F1B"),  // .170 .797
              num("blueX", "3FC0C49BA5E353F8"),
              num("blueY", "3FA78D4FDF3B645A"),         // .131 .046
              num("whitePointX", "3FD40346DC5D6388"),   // .3127
              num("whitePointY", "3FD50E5604189375"),   // .3290
              num("maxLuminance", "408F400000000000"),  // 1000
              num("minLuminance", "3F747AE147AE147B"),
              kEnd,  // 0.005
              kEnd});
}

TEST(ColorInfo, Hdr10ByteTableBuildsAndParses) {
  std::vector<uint8_t> built;
  build_video_metadata(hdr10(), built);
  EXPECT_EQ(built, hdr10_bytes());
  auto md = parse_ok(hdr10_bytes());
  ASSERT_TRUE(md.color_info);
  EXPECT_EQ(*md.color_info, hdr10());
  EXPECT_TRUE(md.unknown_names.empty());
}

// Recorded from Debian 13's ffmpeg 7.1 (flvenc): `-c:v libx265 -colorspace bt2020nc ... x.flv`
// writes this Metadata tag before the first frame: frame type 5, colorConfig with only the
// indices it knows (no bitDepth), no hdrCll/hdrMdcv without side data.
TEST(ColorInfo, Ffmpeg71HevcMetadataTag) {
  const auto tag =
      hex("d4 68 76 63 31 02 00 09 63 6f 6c 6f 72 49 6e 66 6f 03 00 0b 63 6f 6c 6f 72 43 6f 6e 66"
          "69 67 03 00 12 6d 61 74 72 69 78 43 6f 65 66 66 69 63 69 65 6e 74 73 00 40 22 00 00 00"
          "00 00 00 00 00 09 00 00 09");
  auto t = parse_flv_tag(TagType::kVideo, tag);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  ASSERT_EQ(t->units.size(), 1u);
  const MediaUnit& u = t->units[0];
  EXPECT_EQ(u.packet, PacketKind::kMetadata);
  EXPECT_EQ(u.codec, Codec::kHevc);
  auto md = parse_ok(std::vector<uint8_t>(tag.begin() + static_cast<long>(u.offset), tag.end()));
  ASSERT_TRUE(md.color_info);
  ColorInfo want;
  want.color_config = ColorConfig{};
  want.color_config->matrix_coefficients = 9;
  EXPECT_EQ(*md.color_info, want);
  // Our builder gives ffmpeg's bytes back for the same content.
  std::vector<uint8_t> rebuilt;
  ASSERT_TRUE(build_color_info_tag(Codec::kHevc, 0, want, rebuilt).ok());
  EXPECT_EQ(rebuilt, tag);
}

// ffmpeg 7.1 with AV1 and no colour indices: an empty colorConfig object, which is not a reset.
TEST(ColorInfo, Ffmpeg71EmptyColorConfigIsKept) {
  auto md = parse_ok(cat({kColorInfoName, hex("03"), key("colorConfig"), hex("03"), kEnd, kEnd}));
  ASSERT_TRUE(md.color_info);
  EXPECT_FALSE(md.color_info->empty());
  EXPECT_EQ(md.color_info->color_config, ColorConfig{});
}

TEST(ColorInfo, UndefinedNullAndEmptyObjectReset) {
  for (const char* value : {"06", "05", "03 00 00 09", "08 00000000 00 00 09"}) {
    auto md = parse_ok(cat({kColorInfoName, hex(value)}));
    ASSERT_TRUE(md.color_info) << value;
    EXPECT_TRUE(md.color_info->empty()) << value;
  }
  std::vector<uint8_t> built;
  build_video_metadata(ColorInfo{}, built);
  EXPECT_EQ(built, cat({kColorInfoName, hex("06")}));  // the recommended reset: Undefined
}

TEST(ColorInfo, NoColorInfoPairAndUnknownNamesAreReported) {
  auto md = parse_ok({});
  EXPECT_FALSE(md.color_info);
  md = parse_ok(cat({hex("02"), key("futureThing"), hex("01 01")}));
  EXPECT_FALSE(md.color_info);
  EXPECT_EQ(md.unknown_names, std::vector<std::string>{"futureThing"});
}

TEST(ColorInfo, EcmaArraysAndAmf3IntegersAreAccepted) {
  // colorInfo as an ECMA array (count advisory), colorConfig an Object whose transfer is an
  // AMF3 integer behind the avmplus marker (11 04 10 = 16).
  auto body = cat({kColorInfoName, hex("08 00000001"), key("colorConfig"), hex("03"),
                   key("transferCharacteristics"), hex("11 04 10"), kEnd, kEnd});
  auto md = parse_ok(body);
  ASSERT_TRUE(md.color_info && md.color_info->color_config);
  EXPECT_EQ(md.color_info->color_config->transfer_characteristics, 16);
}

TEST(ColorInfo, UnknownPropertiesInsideAreIgnored) {
  auto body =
      cat({kColorInfoName, hex("03"), key("hdrCll"), hex("03"), num("maxCLL", "408F400000000000"),
           key("note"), hex("02"), key("x"), kEnd, key("somethingNew"), hex("01 01"), kEnd});
  auto md = parse_ok(body);
  ASSERT_TRUE(md.color_info && md.color_info->hdr_cll);
  EXPECT_EQ(md.color_info->hdr_cll->max_cll, 1000.0);
  EXPECT_FALSE(md.color_info->hdr_cll->max_fall);
}

TEST(ColorInfo, BadValuesAreMalformedWithTheFieldNamed) {
  struct Case {
    std::vector<uint8_t> body;
    const char* field;
  };
  auto config = [](std::vector<uint8_t> prop) {
    return cat({kColorInfoName, hex("03"), key("colorConfig"), hex("03"), prop, kEnd, kEnd});
  };
  auto mdcv = [](std::vector<uint8_t> prop) {
    return cat({kColorInfoName, hex("03"), key("hdrMdcv"), hex("03"), prop, kEnd, kEnd});
  };
  const Case cases[] = {
      {config(num("colorPrimaries", "4070000000000000")), "colorPrimaries"},          // 256
      {config(num("matrixCoefficients", "3FF8000000000000")), "matrixCoefficients"},  // 1.5
      {config(num("transferCharacteristics", "BFF0000000000000")), "transferCharacteristics"},
      {config(num("bitDepth", "0000000000000000")), "bitDepth"},           // 0
      {config(num("bitDepth", "7FF8000000000000")), "bitDepth"},           // NaN
      {config(cat({key("bitDepth"), hex("02"), key("10")})), "bitDepth"},  // a string
      {mdcv(num("redX", "3FE6A7EF9DB22D0E")), "redX"},                     // no redY
      {mdcv(cat({num("blueX", "3FF8000000000000"), num("blueY", "3FA78D4FDF3B645A")})),
       "blueX"},                                                        // x = 1.5
      {mdcv(num("maxLuminance", "7FF0000000000000")), "maxLuminance"},  // +inf
      {cat({kColorInfoName, hex("03"), key("hdrCll"), hex("03"), num("maxCLL", "C08F400000000000"),
            kEnd, kEnd}),
       "maxCLL"},                                                        // -1000
      {cat({kColorInfoName, hex("00 4022000000000000")}), "colorInfo"},  // a number
      {cat({kColorInfoName, hex("03"), key("hdrCll"), hex("02"), key("x"), kEnd}), "hdrCll"},
      {hex("00 4022000000000000 06"), "name"},  // a name that is not a string
      {kColorInfoName, "without a value"},
  };
  for (const auto& c : cases) {
    Error e = parse_error(c.body);
    EXPECT_EQ(e.code, Errc::kMalformed) << c.field;
    EXPECT_NE(e.detail.find(c.field), std::string::npos) << e.detail;
  }
}

TEST(ColorInfo, BrokenAmfIsTheDecodersError) {
  auto body = hdr10_bytes();
  for (size_t n = 0; n < body.size(); ++n) {
    auto r = parse_video_metadata(Bytes(body).first(n));
    // Every proper prefix either ends between values (then it lacks a pair's value or is a
    // complete reset) or inside one: never a crash, never the full result.
    if (r.ok()) {
      EXPECT_NE(r->color_info, std::optional<ColorInfo>(hdr10())) << n;
    }
  }
  Limits tight;
  tight.amf_max_depth = 1;  // colorInfo and its sub-objects nest two deep
  auto r = parse_video_metadata(body, tight);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(ColorInfo, TagForTrackZeroIsFrameTypeFiveAndOthersAreOneTrack) {
  ColorInfo info;
  info.color_config = ColorConfig{};
  info.color_config->transfer_characteristics = 18;  // HLG
  std::vector<uint8_t> amf;
  build_video_metadata(info, amf);

  std::vector<uint8_t> t0;
  ASSERT_TRUE(build_color_info_tag(Codec::kHevc, 0, info, t0).ok());
  EXPECT_EQ(t0, cat({hex("D4"), bytes_of("hvc1"), amf}));

  std::vector<uint8_t> t2;
  ASSERT_TRUE(build_color_info_tag(Codec::kAv1, 2, info, t2).ok());
  EXPECT_EQ(t2, cat({hex("86 04"), bytes_of("av01"), hex("02"), amf}));

  for (const auto* tag : {&t0, &t2}) {
    auto t = parse_flv_tag(TagType::kVideo, *tag);
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    ASSERT_EQ(t->units.size(), 1u);
    const MediaUnit& u = t->units[0];
    EXPECT_EQ(u.packet, PacketKind::kMetadata);
    EXPECT_EQ(u.track_id, tag == &t0 ? 0 : 2);
    auto md = parse_video_metadata(Bytes(*tag).subspan(u.offset, u.size));
    ASSERT_TRUE(md.ok());
    EXPECT_EQ(md->color_info, std::optional<ColorInfo>(info));
  }

  std::vector<uint8_t> out;
  EXPECT_EQ(build_color_info_tag(Codec::kVp6, 0, info, out).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(build_color_info_tag(Codec::kAac, 0, info, out).error().code, Errc::kInvalidArgument);
}

TEST(ColorInfo, EveryPartialStructRoundTrips) {
  ColorInfo full = hdr10();
  for (int mask = 0; mask < 8; ++mask) {
    ColorInfo info;
    if (mask & 1) info.color_config = full.color_config;
    if (mask & 2) info.hdr_cll = full.hdr_cll;
    if (mask & 4) info.hdr_mdcv = full.hdr_mdcv;
    std::vector<uint8_t> body;
    build_video_metadata(info, body);
    auto md = parse_ok(body);
    EXPECT_EQ(md.color_info, std::optional<ColorInfo>(info)) << mask;
  }
}

TEST(ColorInfo, GarbageNeverCrashes) {
  std::mt19937 rng(14);
  auto base = hdr10_bytes();
  for (int i = 0; i < 20000; ++i) {
    auto b = base;
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    (void)parse_video_metadata(b);
    (void)parse_video_metadata(test::random_bytes(rng, rng() % 64));
  }
}

}  // namespace
}  // namespace rtmp
