#include "protocol/codec_config.h"

#include <gtest/gtest.h>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::hex;

// The av1C that Debian 13's ffmpeg 7.1 sends for SVT-AV1 320x240 (main profile, level 0, 8-bit
// 4:2:0) starts 81 00 0C 00; the descriptor of the same stream gives those four bytes back.
TEST(CodecConfig, Av1DescriptorBecomesTheAv1cHeader) {
  auto r = av1c_from_mpeg2ts_descriptor(hex("80 04 81 00 0C 00"));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, hex("81 00 0C 00"));
}

TEST(CodecConfig, Av1DescriptorHdrWcgBitsDropAndPresentationDelayStays) {
  // profile 1 level 8 | tier 1, high bitdepth, 4:4:4 | hdr_wcg_idc 2 (HDR and WCG), reserved 0,
  // initial_presentation_delay_present 1, minus_one 3.
  auto r = av1c_from_mpeg2ts_descriptor(hex("80 04 81 28 C0 93"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, hex("81 28 C0 13"));
  // A longer descriptor (future fields) reads its first four bytes.
  r = av1c_from_mpeg2ts_descriptor(hex("80 06 81 28 C0 93 FF FF"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, hex("81 28 C0 13"));
}

TEST(CodecConfig, Av1DescriptorErrors) {
  EXPECT_EQ(av1c_from_mpeg2ts_descriptor(hex("81 04 81 00 0C 00")).error().code, Errc::kMalformed);
  EXPECT_EQ(av1c_from_mpeg2ts_descriptor(hex("80 03 81 00 0C")).error().code, Errc::kMalformed);
  EXPECT_EQ(av1c_from_mpeg2ts_descriptor(hex("80 04 01 00 0C 00")).error().code, Errc::kMalformed);
  EXPECT_EQ(av1c_from_mpeg2ts_descriptor(hex("80 05 81 00 0C 00")).error().code, Errc::kTruncated);
  const auto whole = hex("80 04 81 00 0C 00");
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(av1c_from_mpeg2ts_descriptor(Bytes(whole).first(n)).error().code, Errc::kTruncated)
        << n;
  }
}

}  // namespace
}  // namespace rtmp
