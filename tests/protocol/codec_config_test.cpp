#include "protocol/codec_config.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::cat;
using test::hex;

// ---- hand-made AV1 bytes -------------------------------------------------------------------

// OBU with obu_has_size_field = 1 (one-byte leb128 for payloads < 128 bytes).
std::vector<uint8_t> obu(uint8_t type, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> o = {static_cast<uint8_t>((type << 3) | 0x02),
                            static_cast<uint8_t>(payload.size())};
  o.insert(o.end(), payload.begin(), payload.end());
  return o;
}

class BitWriter {
 public:
  BitWriter& put(uint32_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
      if (bit_ % 8 == 0) bytes_.push_back(0);
      if ((v >> i) & 1) bytes_.back() |= static_cast<uint8_t>(0x80 >> (bit_ % 8));
      ++bit_;
    }
    return *this;
  }
  std::vector<uint8_t> bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t bit_ = 0;
};

struct Av1SeqParams {
  uint32_t profile = 0;
  uint32_t level = 8;
  uint32_t tier = 0;
  bool high_bitdepth = false;
  bool twelve_bit = false;
  bool mono = false;
  uint32_t sx = 1, sy = 1;  // profile 2 twelve-bit only
  uint32_t csp = 0;
  bool timing_info = false;
};

// A full (not reduced) sequence header OBU payload, one operating point (AV1 spec §5.5).
std::vector<uint8_t> av1_sequence_header(const Av1SeqParams& p) {
  BitWriter w;
  w.put(p.profile, 3).put(0, 1).put(0, 1);  // still_picture, reduced_still_picture_header
  w.put(p.timing_info, 1);
  if (p.timing_info) {
    w.put(1001, 32).put(30000, 32).put(1, 1).put(1, 1);  // equal_picture_interval, uvlc()=0
    w.put(0, 1);                                         // decoder_model_info_present_flag
  }
  w.put(0, 1).put(0, 5);  // initial_display_delay_present_flag, operating_points_cnt_minus_1
  w.put(0, 12).put(p.level, 5);
  if (p.level > 7) w.put(p.tier, 1);
  w.put(15, 4).put(15, 4).put(1919, 16).put(1079, 16);  // frame size bits and max size
  w.put(0, 1);                                          // frame_id_numbers_present_flag
  w.put(0, 3);                                          // sb128, filter_intra, intra_edge
  w.put(0, 4).put(1, 1).put(0, 2);                      // ..., enable_order_hint, jnt, ref_mvs
  w.put(1, 1);                                          // seq_choose_screen_content_tools
  w.put(1, 1);                                          // seq_choose_integer_mv
  w.put(6, 3);                                          // order_hint_bits_minus_1
  w.put(0, 3);                                          // superres, cdef, restoration
  w.put(p.high_bitdepth, 1);
  if (p.profile == 2 && p.high_bitdepth) w.put(p.twelve_bit, 1);
  if (p.profile != 1) w.put(p.mono, 1);
  w.put(0, 1);  // color_description_present_flag
  if (p.mono) {
    w.put(0, 1);
  } else {
    w.put(0, 1);  // color_range
    if (p.profile == 2 && p.twelve_bit) {
      w.put(p.sx, 1);
      if (p.sx) w.put(p.sy, 1);
    }
    bool sx = p.profile == 0 || (p.profile == 2 && (!p.twelve_bit || p.sx));
    bool sy = p.profile == 0 || (p.profile == 2 && p.twelve_bit && p.sx && p.sy);
    if (sx && sy) w.put(p.csp, 2);
  }
  w.put(0, 1);  // separate_uv_delta_q
  w.put(0, 1);  // film_grain_params_present
  w.put(1, 1);  // trailing one bit
  return w.bytes();
}

Result<std::vector<uint8_t>> av1c_of(const std::vector<uint8_t>& tu) {
  std::vector<Av1Obu> obus;
  RTMP_CHECK(split_av1_obus(tu, obus));
  return av1c_from_temporal_unit(tu, obus);
}

// Strips temporal delimiters; `as_is` is true when nothing had to be removed.
std::vector<uint8_t> stripped(const std::vector<uint8_t>& tu, bool* as_is) {
  std::vector<Av1Obu> obus;
  EXPECT_TRUE(split_av1_obus(tu, obus).ok());
  std::vector<uint8_t> out;
  *as_is = !strip_av1_temporal_delimiters(tu, obus, out);
  return out;
}

// ---- AVC / HEVC ----------------------------------------------------------------------------

// avcC: version 1, High 4.0, length size 4, one SPS of 4 bytes, one PPS of 2 bytes.
const std::vector<uint8_t> kAvcC = hex("01 64 00 28 FF | E1 0004 67640028 | 01 0002 68EE");

TEST(CodecConfig, AvcCFromTheTableIsAccepted) {
  EXPECT_TRUE(check_avcc(kAvcC).ok());
  // No PPS at all is legal (some encoders put them in-band).
  EXPECT_TRUE(check_avcc(hex("01 64 00 28 FF | E1 0004 67640028 | 00")).ok());
}

TEST(CodecConfig, AvcCWithoutSpsOrWithAParameterSetPastTheEndIsMalformed) {
  auto st = check_avcc(hex("01 64 00 28 FF | E0 | 00"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kMalformed);
  EXPECT_NE(st.error().detail.find("without an SPS"), std::string::npos);
  EXPECT_FALSE(check_avcc(hex("02 64 00 28 FF E1 0004 67640028 00")).ok()) << "version 2";
  // Every truncation of the table record is refused (the last byte ends the PPS).
  for (size_t n = 0; n < kAvcC.size(); ++n) {
    std::vector<uint8_t> cut(kAvcC.begin(), kAvcC.begin() + static_cast<long>(n));
    EXPECT_FALSE(check_avcc(cut).ok()) << n;
  }
}

TEST(CodecConfig, HvcCArraysAreWalkedToTheEnd) {
  // 22 fixed bytes after the version, then 2 arrays: VPS (1 NAL of 3 bytes), SPS (1 of 2).
  std::vector<uint8_t> hvcc = cat({hex("01"), std::vector<uint8_t>(21, 0),
                                   hex("02 | 20 0001 0003 400C01 | 21 0001 0002 4201")});
  EXPECT_TRUE(check_hvcc(hvcc).ok());
  for (size_t n = 0; n < hvcc.size(); ++n) {
    std::vector<uint8_t> cut(hvcc.begin(), hvcc.begin() + static_cast<long>(n));
    EXPECT_FALSE(check_hvcc(cut).ok()) << n;
  }
  hvcc[0] = 0;
  EXPECT_FALSE(check_hvcc(hvcc).ok()) << "configurationVersion 0";
}

// ---- AV1 -----------------------------------------------------------------------------------

TEST(CodecConfig, Av1TemporalDelimitersAreStrippedAndOtherObusKept) {
  auto seq = obu(1, av1_sequence_header({}));
  auto frame = obu(6, {0x10, 0x20, 0x30});
  auto td = obu(2, {});
  bool as_is = false;
  EXPECT_EQ(stripped(cat({td, seq, frame}), &as_is), cat({seq, frame}));
  EXPECT_FALSE(as_is);
  // Without a TD the input goes as is.
  EXPECT_TRUE(stripped(cat({frame, frame}), &as_is).empty());
  EXPECT_TRUE(as_is);
  // A TD in the middle (two TUs glued) and a last OBU without obu_has_size_field.
  std::vector<uint8_t> sizeless = {static_cast<uint8_t>(6 << 3), 0xAA, 0xBB};
  EXPECT_EQ(stripped(cat({td, frame, td, sizeless}), &as_is), cat({frame, sizeless}));
  // OBU extension header kept.
  std::vector<uint8_t> ext = {static_cast<uint8_t>((6 << 3) | 0x06), 0x28, 0x01, 0x77};
  EXPECT_EQ(stripped(cat({td, ext}), &as_is), ext);
  // Multi-byte leb128 size (130 bytes payload).
  std::vector<uint8_t> big = {static_cast<uint8_t>((6 << 3) | 0x02), 0x82, 0x01};
  big.resize(big.size() + 130, 0x5A);
  EXPECT_EQ(stripped(cat({td, big, td}), &as_is), big);
}

TEST(CodecConfig, Av1MalformedObusAreRefused) {
  std::vector<Av1Obu> obus;
  struct Case {
    std::vector<uint8_t> bytes;
    const char* why;
  };
  const Case cases[] = {
      {hex("32 05 01"), "beyond"},                        // size beyond the buffer
      {hex("32 85"), "truncated AV1 OBU size"},           // leb128 cut
      {hex("92 00"), "forbidden"},                        // obu_forbidden_bit
      {hex("36"), "truncated AV1 OBU header"},            // extension flag, no extension byte
      {hex("32 80 80 80 80 80 80 80 80 00"), "8 bytes"},  // leb128 of 9 bytes
  };
  for (const Case& c : cases) {
    auto st = split_av1_obus(c.bytes, obus);
    ASSERT_FALSE(st.ok()) << c.why;
    EXPECT_NE(st.error().detail.find(c.why), std::string::npos) << st.error().detail;
  }
  // leb128 of exactly 8 bytes (N) is fine; 9 (N+1) is refused above.
  EXPECT_TRUE(split_av1_obus(hex("32 80 80 80 80 80 80 80 00"), obus).ok());
  ASSERT_EQ(obus.size(), 1u);
  EXPECT_EQ(obus[0].payload_len, 0u);
  EXPECT_EQ(obus[0].header_len, 9u);
}

TEST(CodecConfig, Av1CFromSequenceHeaderFields) {
  struct Case {
    Av1SeqParams p;
    uint8_t byte1, byte2;
  };
  Av1SeqParams main8;  // profile 0, level 8 (4.0), 4:2:0
  Av1SeqParams main10_tier;
  main10_tier.level = 12;
  main10_tier.tier = 1;
  main10_tier.high_bitdepth = true;
  main10_tier.csp = 2;
  main10_tier.timing_info = true;
  Av1SeqParams mono;
  mono.mono = true;
  mono.level = 5;
  Av1SeqParams high;  // profile 1: 4:4:4, no monochrome bit
  high.profile = 1;
  Av1SeqParams pro12;  // profile 2 twelve-bit 4:2:2
  pro12.profile = 2;
  pro12.high_bitdepth = true;
  pro12.twelve_bit = true;
  pro12.sx = 1;
  pro12.sy = 0;
  Av1SeqParams pro10;  // profile 2 ten-bit: 4:2:2 implied
  pro10.profile = 2;
  pro10.high_bitdepth = true;
  const Case cases[] = {
      {main8, 0x08, 0x0C},  // sx sy, csp 0
      {main10_tier, 0x0C, 0x80 | 0x40 | 0x0C | 2},
      {mono, 0x05, 0x10 | 0x0C},
      {high, 0x20 | 0x08, 0x00},
      {pro12, 0x40 | 0x08, 0x40 | 0x20 | 0x08},
      {pro10, 0x40 | 0x08, 0x40 | 0x08},
  };
  for (const Case& c : cases) {
    auto seq_payload = av1_sequence_header(c.p);
    auto av1c = av1c_of(cat({obu(2, {}), obu(1, seq_payload), obu(6, {1, 2})}));
    ASSERT_TRUE(av1c.ok()) << av1c.error().to_string();
    ASSERT_GE(av1c->size(), 4u);
    EXPECT_EQ((*av1c)[0], 0x81);
    EXPECT_EQ((*av1c)[1], c.byte1) << "profile " << c.p.profile;
    EXPECT_EQ((*av1c)[2], c.byte2) << "profile " << c.p.profile;
    EXPECT_EQ((*av1c)[3], 0);
    // configOBUs: exactly the sequence header OBU.
    EXPECT_EQ(std::vector<uint8_t>(av1c->begin() + 4, av1c->end()), obu(1, seq_payload));
    EXPECT_TRUE(check_av1c(*av1c).ok());
  }
}

TEST(CodecConfig, Av1CRewritesASizelessSequenceHeaderObu) {
  auto payload = av1_sequence_header({});
  std::vector<uint8_t> sizeless = {static_cast<uint8_t>(1 << 3)};
  sizeless.insert(sizeless.end(), payload.begin(), payload.end());
  auto av1c = av1c_of(sizeless);
  ASSERT_TRUE(av1c.ok());
  EXPECT_EQ(std::vector<uint8_t>(av1c->begin() + 4, av1c->end()), obu(1, payload));
}

TEST(CodecConfig, Av1CNeedsACompleteSequenceHeader) {
  auto none = av1c_of(cat({obu(2, {}), obu(6, {1})}));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().detail.find("no sequence header"), std::string::npos);
  // Every cut of the sequence header payload is truncated, never read past.
  auto payload = av1_sequence_header({});
  for (size_t n = 0; n < payload.size() - 1; ++n) {
    std::vector<uint8_t> cut(payload.begin(), payload.begin() + static_cast<long>(n));
    auto r = av1c_of(obu(1, cut));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, Errc::kTruncated) << n;
  }
  auto reserved = payload;
  reserved[0] |= 0xE0;  // seq_profile 7
  auto r = av1c_of(obu(1, reserved));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(CodecConfig, Av1CCheckWantsTheMarkerAndFourBytes) {
  EXPECT_TRUE(check_av1c(hex("81 00 0C 00")).ok());
  EXPECT_FALSE(check_av1c(hex("81 00 0C")).ok());     // 3 bytes (N-1)
  EXPECT_FALSE(check_av1c(hex("01 00 0C 00")).ok());  // marker bit 0
}

// ---- VP8 / VP9 -----------------------------------------------------------------------------

TEST(CodecConfig, VpcCBytesFromTheTable) {
  VpcConfig c;
  c.profile = 0;
  c.level = vp9_level(1920, 1080, 30, 1);
  c.primaries = c.transfer = c.matrix = 1;  // BT.709
  // version 1, flags 0, profile 0, level 4.0, 8-bit 4:2:0 limited, BT.709, no init data
  EXPECT_EQ(build_vpcc(c), hex("01 000000 | 00 28 80 | 01 01 01 | 0000"));
  c.profile = 2;
  c.bit_depth = 10;
  c.chroma = kVpChroma444;
  c.full_range = true;
  EXPECT_EQ(build_vpcc(c)[6], 0xA0 | (3 << 1) | 1);
}

TEST(CodecConfig, Vp9LevelIsTheSmallestThatHoldsTheStream) {
  EXPECT_EQ(vp9_level(0, 1080, 30, 1), 0) << "unknown size";
  EXPECT_EQ(vp9_level(64, 48, 30, 1), 10);
  EXPECT_EQ(vp9_level(192, 192, 0, 1), 10) << "36864 samples: level 1.0's picture size (N)";
  EXPECT_EQ(vp9_level(193, 192, 0, 1), 11) << "N+1";
  EXPECT_EQ(vp9_level(1280, 720, 30, 1), 31);
  EXPECT_EQ(vp9_level(1920, 1080, 60, 1), 41);
  EXPECT_EQ(vp9_level(16384, 16384, 60, 1), 62) << "beyond every level";
}

TEST(CodecConfig, Vp9KeyFrameHeadersFromTheTable) {
  // frame_marker 2, profile 0, show_existing_frame 0, frame_type 1 (inter), ...: not a key.
  auto inter = vp9_frame_info(hex("84 00 00"));
  ASSERT_TRUE(inter.ok());
  EXPECT_FALSE(*inter);
  // show_existing_frame: not a key either.
  auto existing = vp9_frame_info(hex("88"));
  ASSERT_TRUE(existing.ok());
  EXPECT_FALSE(*existing);
  // Key frame missing its sync code, no frame marker, empty.
  EXPECT_FALSE(vp9_frame_info(hex("80 12 34 56 00")).ok());
  EXPECT_FALSE(vp9_frame_info(hex("40")).ok());
  EXPECT_FALSE(vp9_frame_info({}).ok());
  // Profile 1 key frame, 8-bit, colour space BT.709, 4:2:2 (sx 1, sy 0).
  //   10 1 0 | 0 0 0 0 | sync 49 83 42 | cs 010 range 0 sx 1 sy 0 reserved 0
  auto key = vp9_frame_info(hex("A0 49 83 42 48 00"));
  ASSERT_TRUE(key.ok() && *key);
  EXPECT_EQ((*key)->profile, 1);
  EXPECT_EQ((*key)->bit_depth, 8);
  EXPECT_EQ((*key)->chroma, kVpChroma422);
  EXPECT_EQ((*key)->matrix, 1) << "color_space BT.709 -> matrix 1";
  EXPECT_FALSE((*key)->full_range);
  // Profile 1 CS_RGB (4:4:4): full range, identity matrix.
  auto rgb = vp9_frame_info(hex("A0 49 83 42 E0 00"));
  ASSERT_TRUE(rgb.ok() && *rgb);
  EXPECT_EQ((*rgb)->chroma, kVpChroma444);
  EXPECT_TRUE((*rgb)->full_range);
  EXPECT_EQ((*rgb)->matrix, 0);
  // Profile 2 key frame: ten_or_twelve_bit 1 -> 12 bit.
  //   10 0 1 | 0 0 0 0 | sync | twelve 1 cs 001 range 0 ...
  auto p2 = vp9_frame_info(hex("90 49 83 42 90 00"));
  ASSERT_TRUE(p2.ok() && *p2);
  EXPECT_EQ((*p2)->profile, 2);
  EXPECT_EQ((*p2)->bit_depth, 12);
  // Every cut of the table key frame: truncated, or (when the cut keeps enough) the same.
  auto full = hex("A0 49 83 42 48 00");
  for (size_t n = 1; n < 5; ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    auto r = vp9_frame_info(cut);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, Errc::kTruncated) << n;
  }
}

TEST(CodecConfig, Vp8FrameTagGivesTheProfileOfKeyFrames) {
  auto key = vp8_frame_info(hex("04 00 00"));  // key frame, version 2
  ASSERT_TRUE(key.ok() && *key);
  EXPECT_EQ((*key)->profile, 2);
  auto inter = vp8_frame_info(hex("01 00 00"));
  ASSERT_TRUE(inter.ok());
  EXPECT_FALSE(*inter);
  EXPECT_FALSE(vp8_frame_info(hex("08 00 00")).ok()) << "version 4 is reserved";
  EXPECT_FALSE(vp8_frame_info(hex("04 00")).ok()) << "2 bytes (N-1 of the 3-byte tag)";
}

// ---- Opus / FLAC ---------------------------------------------------------------------------

TEST(CodecConfig, OpusHeadFamilyZeroFromTheTable) {
  EXPECT_EQ(opus_head_family0(48000, 2),
            cat({test::bytes_of("OpusHead"), hex("01 02 | 0000 | 80BB0000 | 0000 | 00")}));
}

std::vector<uint8_t> streaminfo_block(bool last) {
  // min/max block 4096, frame sizes 0, 44100 Hz, 2 channels, 16 bits, 0 samples, md5 0.
  auto b = cat({hex(last ? "80" : "00"), hex("000022 | 1000 1000 | 000000 000000 | 0AC4 42F0")});
  b.resize(4 + 34, 0);
  return b;
}

TEST(CodecConfig, FlacHeaderFromOggMappingAndBareMarker) {
  auto expected = cat({test::bytes_of("fLaC"), streaminfo_block(true)});
  auto ogg = cat({hex("7F"), test::bytes_of("FLAC"), hex("01 00 0002"), test::bytes_of("fLaC"),
                  streaminfo_block(false)});
  auto comment = hex("84 000004 00000000");
  auto marker = test::bytes_of("fLaC");
  auto marker_and_block = cat({marker, streaminfo_block(false)});
  auto block = streaminfo_block(false);
  for (const auto& headers :
       {std::vector<Bytes>{ogg, comment}, std::vector<Bytes>{marker, block, comment},
        std::vector<Bytes>{marker_and_block}}) {
    auto c = flac_config_from_headers(headers);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    EXPECT_EQ(c->sequence_header, expected);
    EXPECT_EQ(c->rate, 44100u);
    EXPECT_EQ(c->channels, 2);
  }
  // Errors: none, truncated STREAMINFO (N-1 bytes), a first block that is not STREAMINFO,
  // Ogg-FLAC without the marker, a sample rate of 0.
  EXPECT_FALSE(flac_config_from_headers({}).ok());
  auto cut = ogg;
  cut.resize(13 + 4 + 33);
  auto r = flac_config_from_headers({cut});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTruncated);
  auto wrong = ogg;
  wrong[13] = 4;  // VORBIS_COMMENT first
  EXPECT_FALSE(flac_config_from_headers({wrong}).ok());
  auto no_marker = ogg;
  no_marker[9] = 'x';
  EXPECT_FALSE(flac_config_from_headers({no_marker}).ok());
  auto zero_rate = ogg;
  zero_rate[13 + 4 + 10] = zero_rate[13 + 4 + 11] = 0;
  zero_rate[13 + 4 + 12] &= 0x0F;
  EXPECT_FALSE(flac_config_from_headers({zero_rate}).ok());
}

// ---- every builder on random bytes ---------------------------------------------------------

TEST(CodecConfig, RandomBytesGiveAnErrorOrAConsistentRecord) {
  std::mt19937 rng(4321);
  std::vector<Av1Obu> obus;
  std::vector<uint8_t> out;
  for (int i = 0; i < 5000; ++i) {
    auto junk = test::random_bytes(rng, rng() % 64);
    if (split_av1_obus(junk, obus).ok()) {
      size_t end = 0;
      for (const auto& o : obus) {
        EXPECT_EQ(o.start, end);
        end = o.start + o.header_len + o.payload_len;
      }
      EXPECT_EQ(end, junk.size());
      if (auto av1c = av1c_from_temporal_unit(junk, obus); av1c.ok()) {
        EXPECT_TRUE(check_av1c(*av1c).ok());
      }
      if (strip_av1_temporal_delimiters(junk, obus, out)) {
        EXPECT_LT(out.size(), junk.size());
      }
    }
    if (auto v = vp9_frame_info(junk); v.ok() && *v) {
      EXPECT_LE((*v)->profile, 3);
    }
    (void)check_avcc(junk);
    (void)check_hvcc(junk);
    (void)flac_config_from_headers({junk});
  }
}

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
