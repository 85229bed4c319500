#include "protocol/codec_config.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace rtmp {
namespace {

Error malformed(std::string what) {
  return make_error(Errc::kMalformed, std::move(what));
}
Error truncated(std::string what) {
  return make_error(Errc::kTruncated, std::move(what));
}

// MSB-first bit reader over a byte span; every read is bounds-checked (STYLE rule 5).
class BitReader {
 public:
  explicit BitReader(Bytes data) : data_(data) {}
  // Reads n (<= 32) bits; false when the span is exhausted.
  bool bits(int n, uint32_t* v) {
    uint32_t out = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= data_.size() * 8) return false;
      uint32_t bit = (data_[pos_ / 8] >> (7 - pos_ % 8)) & 1u;
      out = (out << 1) | bit;
      ++pos_;
    }
    *v = out;
    return true;
  }
  bool flag(bool* b) {
    uint32_t v = 0;
    if (!bits(1, &v)) return false;
    *b = v != 0;
    return true;
  }
  bool skip(int n) {
    uint32_t v = 0;
    while (n > 32) {
      if (!bits(32, &v)) return false;
      n -= 32;
    }
    return bits(n, &v);
  }
  // AV1 uvlc() (§4.10.3).
  bool uvlc() {
    int leading = 0;
    for (;;) {
      bool done = false;
      if (!flag(&done)) return false;
      if (done) break;
      if (++leading >= 32) return false;
    }
    return skip(leading);
  }

 private:
  Bytes data_;
  size_t pos_ = 0;
};

void write_leb128(std::vector<uint8_t>& out, size_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

// The 4 fixed bytes of av1C from a sequence header OBU payload (AV1 spec §5.5).
Status av1c_fixed_bytes(Bytes payload, uint8_t out[4]) {
  BitReader r(payload);
  const char* trunc = "truncated AV1 sequence header";
  uint32_t seq_profile = 0;
  bool still = false, reduced = false;
  if (!r.bits(3, &seq_profile) || !r.flag(&still) || !r.flag(&reduced)) return truncated(trunc);
  if (seq_profile > 2) return malformed("AV1 sequence header with reserved seq_profile");
  uint32_t level0 = 0;
  bool tier0 = false;
  if (reduced) {
    if (!r.bits(5, &level0)) return truncated(trunc);
  } else {
    bool timing = false, decoder_model = false, initial_delay = false;
    uint32_t buffer_delay_len = 0;
    if (!r.flag(&timing)) return truncated(trunc);
    if (timing) {
      bool equal_interval = false;
      if (!r.skip(64) || !r.flag(&equal_interval)) return truncated(trunc);
      if (equal_interval && !r.uvlc()) return truncated(trunc);
      if (!r.flag(&decoder_model)) return truncated(trunc);
      if (decoder_model) {
        if (!r.bits(5, &buffer_delay_len) || !r.skip(32 + 5 + 5)) return truncated(trunc);
      }
    }
    uint32_t op_count_minus_1 = 0;
    if (!r.flag(&initial_delay) || !r.bits(5, &op_count_minus_1)) return truncated(trunc);
    for (uint32_t i = 0; i <= op_count_minus_1; ++i) {
      uint32_t level = 0;
      bool tier = false;
      if (!r.skip(12) || !r.bits(5, &level)) return truncated(trunc);
      if (level > 7 && !r.flag(&tier)) return truncated(trunc);
      if (decoder_model) {
        bool present = false;
        if (!r.flag(&present)) return truncated(trunc);
        if (present && !r.skip(2 * static_cast<int>(buffer_delay_len + 1) + 1))
          return truncated(trunc);
      }
      if (initial_delay) {
        bool present = false;
        if (!r.flag(&present)) return truncated(trunc);
        if (present && !r.skip(4)) return truncated(trunc);
      }
      if (i == 0) {
        level0 = level;
        tier0 = tier;
      }
    }
  }
  uint32_t wbits = 0, hbits = 0;
  if (!r.bits(4, &wbits) || !r.bits(4, &hbits)) return truncated(trunc);
  if (!r.skip(static_cast<int>(wbits + 1) + static_cast<int>(hbits + 1))) return truncated(trunc);
  bool frame_ids = false;
  if (!reduced && !r.flag(&frame_ids)) return truncated(trunc);
  if (frame_ids && !r.skip(4 + 3)) return truncated(trunc);
  // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
  if (!r.skip(3)) return truncated(trunc);
  if (!reduced) {
    bool order_hint = false, choose_sct = false;
    uint32_t force_sct = 2;  // SELECT_SCREEN_CONTENT_TOOLS
    // enable_interintra_compound, enable_masked_compound, enable_warped_motion,
    // enable_dual_filter
    if (!r.skip(4) || !r.flag(&order_hint)) return truncated(trunc);
    if (order_hint && !r.skip(2)) return truncated(trunc);
    if (!r.flag(&choose_sct)) return truncated(trunc);
    if (!choose_sct && !r.bits(1, &force_sct)) return truncated(trunc);
    if (force_sct > 0) {
      bool choose_imv = false;
      if (!r.flag(&choose_imv)) return truncated(trunc);
      if (!choose_imv && !r.skip(1)) return truncated(trunc);
    }
    if (order_hint && !r.skip(3)) return truncated(trunc);
  }
  // enable_superres, enable_cdef, enable_restoration
  if (!r.skip(3)) return truncated(trunc);
  // color_config() §5.5.2
  bool high_bitdepth = false, twelve_bit = false, mono = false, desc = false;
  if (!r.flag(&high_bitdepth)) return truncated(trunc);
  if (seq_profile == 2 && high_bitdepth && !r.flag(&twelve_bit)) return truncated(trunc);
  if (seq_profile != 1 && !r.flag(&mono)) return truncated(trunc);
  uint32_t cp = 2, tc = 2, mc = 2;
  if (!r.flag(&desc)) return truncated(trunc);
  if (desc && (!r.bits(8, &cp) || !r.bits(8, &tc) || !r.bits(8, &mc))) return truncated(trunc);
  uint32_t sx = 1, sy = 1, csp = 0;
  if (mono) {
    if (!r.skip(1)) return truncated(trunc);  // color_range
  } else if (cp == 1 && tc == 13 && mc == 0) {
    sx = sy = 0;  // sRGB: 4:4:4, color_range implied
  } else {
    if (!r.skip(1)) return truncated(trunc);  // color_range
    if (seq_profile == 1) {
      sx = sy = 0;
    } else if (seq_profile == 2) {
      if (twelve_bit) {
        if (!r.bits(1, &sx)) return truncated(trunc);
        sy = 0;
        if (sx && !r.bits(1, &sy)) return truncated(trunc);
      } else {
        sx = 1;
        sy = 0;
      }
    }
    if (sx && sy && !r.bits(2, &csp)) return truncated(trunc);
  }
  out[0] = 0x81;
  out[1] = static_cast<uint8_t>((seq_profile << 5) | (level0 & 0x1F));
  out[2] = static_cast<uint8_t>((tier0 ? 0x80 : 0) | (high_bitdepth ? 0x40 : 0) |
                                (twelve_bit ? 0x20 : 0) | (mono ? 0x10 : 0) | (sx << 3) |
                                (sy << 2) | csp);
  out[3] = 0;
  return Ok{};
}

// VP9 color_space (VP9 spec §7.2.2) -> H.273 MatrixCoefficients.
constexpr uint8_t kVp9ColorSpaceMatrix[8] = {2, 5, 1, 6, 7, 9, 2, 0};

}  // namespace

// --- H.264 / H.265 -------------------------------------------------------------------------

Status check_avcc(Bytes c) {
  const char* bad = "malformed AVCDecoderConfigurationRecord in codec_data";
  if (c.size() < 7 || c[0] != 1) return malformed(bad);
  ByteReader r(c);
  if (!r.skip(5).ok()) return malformed(bad);
  for (int set = 0; set < 2; ++set) {
    auto count = r.u8();
    if (!count.ok()) return malformed(bad);
    int n = set == 0 ? (*count & 0x1F) : *count;
    if (set == 0 && n == 0) return malformed("avcC without an SPS");
    for (int i = 0; i < n; ++i) {
      auto len = r.u16be();
      if (!len.ok() || !r.skip(*len).ok()) return malformed(bad);
    }
  }
  return Ok{};
}

Status check_hvcc(Bytes c) {
  const char* bad = "malformed HEVCDecoderConfigurationRecord in codec_data";
  if (c.size() < 23 || c[0] != 1) return malformed(bad);
  ByteReader r(c);
  if (!r.skip(22).ok()) return malformed(bad);
  auto arrays = r.u8();
  if (!arrays.ok()) return malformed(bad);
  for (int a = 0; a < *arrays; ++a) {
    auto type = r.u8();
    auto n = r.u16be();
    if (!type.ok() || !n.ok()) return malformed(bad);
    for (int i = 0; i < *n; ++i) {
      auto len = r.u16be();
      if (!len.ok() || !r.skip(*len).ok()) return malformed(bad);
    }
  }
  return Ok{};
}

// --- AV1 -----------------------------------------------------------------------------------

Status split_av1_obus(Bytes in, std::vector<Av1Obu>& obus) {
  obus.clear();
  size_t pos = 0;
  while (pos < in.size()) {
    Av1Obu o;
    o.start = pos;
    uint8_t h = in[pos];
    if (h & 0x80) return malformed("AV1 OBU with obu_forbidden_bit set");
    o.type = static_cast<uint8_t>((h >> 3) & 0x0F);
    o.has_extension = (h & 0x04) != 0;
    o.has_size_field = (h & 0x02) != 0;
    size_t p = pos + 1 + (o.has_extension ? 1 : 0);
    if (p > in.size()) return truncated("truncated AV1 OBU header");
    if (o.has_size_field) {
      uint64_t size = 0;
      for (int i = 0;; ++i) {
        if (i == 8) return malformed("AV1 leb128 longer than 8 bytes");
        if (p >= in.size()) return truncated("truncated AV1 OBU size");
        uint8_t b = in[p++];
        size |= uint64_t{b & 0x7Fu} << (7 * i);
        if (!(b & 0x80)) break;
      }
      if (size > in.size() - p) return malformed("AV1 OBU size beyond the buffer");
      o.payload_len = static_cast<size_t>(size);
    } else {
      o.payload_len = in.size() - p;
    }
    o.header_len = p - pos;
    obus.push_back(o);
    pos = p + o.payload_len;
  }
  return Ok{};
}

Status check_av1c(Bytes record) {
  if (record.size() < 4 || record[0] != 0x81)
    return malformed("malformed AV1CodecConfigurationRecord in codec_data");
  return Ok{};
}

Result<std::vector<uint8_t>> av1c_from_temporal_unit(Bytes tu, const std::vector<Av1Obu>& obus) {
  for (const Av1Obu& o : obus) {
    if (o.type != kAv1ObuSequenceHeader) continue;
    Bytes payload = tu.subspan(o.start + o.header_len, o.payload_len);
    uint8_t fixed[4];
    RTMP_CHECK(av1c_fixed_bytes(payload, fixed));
    std::vector<uint8_t> av1c(fixed, fixed + 4);
    av1c.push_back(static_cast<uint8_t>(tu[o.start] | 0x02));
    if (o.has_extension) av1c.push_back(tu[o.start + 1]);
    write_leb128(av1c, payload.size());
    av1c.insert(av1c.end(), payload.begin(), payload.end());
    return av1c;
  }
  return malformed("first AV1 temporal unit has no sequence header OBU");
}

bool strip_av1_temporal_delimiters(Bytes tu, const std::vector<Av1Obu>& obus,
                                   std::vector<uint8_t>& out) {
  out.clear();
  bool has_td = std::any_of(obus.begin(), obus.end(),
                            [](const Av1Obu& o) { return o.type == kAv1ObuTemporalDelimiter; });
  if (!has_td) return false;
  out.reserve(tu.size());
  for (const Av1Obu& o : obus) {
    if (o.type == kAv1ObuTemporalDelimiter) continue;
    Bytes whole = tu.subspan(o.start, o.header_len + o.payload_len);
    out.insert(out.end(), whole.begin(), whole.end());
  }
  return true;
}

// --- VP8 / VP9 -----------------------------------------------------------------------------

std::vector<uint8_t> build_vpcc(const VpcConfig& c) {
  return {1,
          0,
          0,
          0,
          c.profile,
          c.level,
          static_cast<uint8_t>((c.bit_depth << 4) | (c.chroma << 1) | (c.full_range ? 1 : 0)),
          c.primaries,
          c.transfer,
          c.matrix,
          0,
          0};
}

uint8_t vp9_level(int width, int height, int fps_n, int fps_d) {
  if (width <= 0 || height <= 0) return 0;
  struct Level {
    uint8_t level;
    uint64_t sample_rate;
    uint64_t picture_size;
  };
  static constexpr Level kLevels[] = {
      {10, 829440, 36864},        {11, 2764800, 73728},       {20, 4608000, 122880},
      {21, 9216000, 245760},      {30, 20736000, 552960},     {31, 36864000, 983040},
      {40, 83558400, 2228224},    {41, 160432128, 2228224},   {50, 311951360, 8912896},
      {51, 588251136, 8912896},   {52, 1176502272, 8912896},  {60, 1176502272, 35651584},
      {61, 2353004544, 35651584}, {62, 4706009088, 35651584},
  };
  uint64_t pic = uint64_t(width) * uint64_t(height);
  uint64_t rate = fps_n > 0 && fps_d > 0 ? pic * uint64_t(fps_n) / uint64_t(fps_d) : 0;
  for (const Level& l : kLevels) {
    if (pic <= l.picture_size && rate <= l.sample_rate) return l.level;
  }
  return 62;
}

Result<std::optional<VpFrameInfo>> vp9_frame_info(Bytes frame) {
  if (frame.empty()) return truncated("empty VP9 frame");
  BitReader r(frame);
  const char* trunc = "truncated VP9 frame header";
  uint32_t marker = 0, lo = 0, hi = 0, reserved = 0, v = 0;
  if (!r.bits(2, &marker) || !r.bits(1, &lo) || !r.bits(1, &hi)) return truncated(trunc);
  if (marker != 2) return malformed("VP9 frame without frame_marker");
  uint32_t profile = (hi << 1) | lo;
  if (profile == 3 && !r.bits(1, &reserved)) return truncated(trunc);
  bool show_existing = false, inter = false, intra_only = false, error_res = false;
  if (!r.flag(&show_existing)) return truncated(trunc);
  if (show_existing) return std::optional<VpFrameInfo>();
  if (!r.flag(&inter) || !r.skip(1) || !r.flag(&error_res)) return truncated(trunc);
  if (inter) {
    if (!error_res && !r.skip(2)) return truncated(trunc);  // reset_frame_context
    if (!r.flag(&intra_only)) return truncated(trunc);
    if (!intra_only) return std::optional<VpFrameInfo>();
    if (!r.skip(2)) return truncated(trunc);  // intra_only: reset_frame_context
  }
  if (!r.bits(24, &v)) return truncated(trunc);
  if (v != 0x498342) return malformed("VP9 key frame without frame_sync_code");
  VpFrameInfo info;
  info.profile = static_cast<uint8_t>(profile);
  if (inter && profile == 0) return std::optional(info);  // intra-only profile 0: 8-bit 4:2:0
  if (profile >= 2) {
    bool twelve = false;
    if (!r.flag(&twelve)) return truncated(trunc);
    info.bit_depth = twelve ? 12 : 10;
  }
  uint32_t color_space = 0;
  if (!r.bits(3, &color_space)) return truncated(trunc);
  info.has_colour = true;
  info.matrix = kVp9ColorSpaceMatrix[color_space];
  if (color_space != 7) {
    if (!r.flag(&info.full_range)) return truncated(trunc);
    if (profile == 1 || profile == 3) {
      uint32_t sx = 0, sy = 0;
      if (!r.bits(1, &sx) || !r.bits(1, &sy)) return truncated(trunc);
      info.chroma = sx && sy ? kVpChroma420Vertical : sx ? kVpChroma422 : kVpChroma444;
      // (sx=0, sy=1) is 4:4:0, which vpcC cannot express; 4:4:4 is the closest.
    }
  } else {
    info.full_range = true;  // CS_RGB
    info.chroma = kVpChroma444;
  }
  return std::optional(info);
}

Result<std::optional<VpFrameInfo>> vp8_frame_info(Bytes frame) {
  if (frame.size() < 3) return truncated("truncated VP8 frame tag");
  if (frame[0] & 0x01) return std::optional<VpFrameInfo>();  // inter frame (RFC 6386 §9.1)
  VpFrameInfo info;
  info.profile = static_cast<uint8_t>((frame[0] >> 1) & 0x07);
  if (info.profile > 3) return malformed("VP8 frame tag with reserved version");
  return std::optional(info);
}

// --- Opus ----------------------------------------------------------------------------------

std::vector<uint8_t> opus_head_family0(uint32_t rate, uint8_t channels) {
  std::vector<uint8_t> h = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, channels};
  h.push_back(0);  // pre-skip (LE16): unknown
  h.push_back(0);
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<uint8_t>(rate >> (8 * i)));
  h.push_back(0);  // output gain (LE16)
  h.push_back(0);
  h.push_back(0);  // channel mapping family 0
  return h;
}

// --- FLAC ----------------------------------------------------------------------------------

Result<FlacConfig> flac_config_from_headers(const std::vector<Bytes>& headers) {
  if (headers.empty())
    return malformed("FLAC caps without streamheader (STREAMINFO); put flacparse before");
  Bytes h0 = headers[0];
  Bytes block;
  if (h0.size() >= 13 && h0[0] == 0x7F && std::memcmp(h0.data() + 1, "FLAC", 4) == 0) {
    if (std::memcmp(h0.data() + 9, "fLaC", 4) != 0)
      return malformed("Ogg-FLAC streamheader without the fLaC marker");
    block = h0.subspan(13);
  } else if (h0.size() >= 4 && std::memcmp(h0.data(), "fLaC", 4) == 0) {
    block = h0.subspan(4);
    if (block.empty() && headers.size() > 1) block = headers[1];
  } else {
    return malformed("FLAC streamheader does not start with fLaC or an Ogg-FLAC header");
  }
  if (block.size() < 4 + kFlacStreamInfoLen) return truncated("truncated FLAC STREAMINFO block");
  size_t len = (size_t{block[1]} << 16) | (size_t{block[2]} << 8) | block[3];
  if ((block[0] & 0x7F) != 0 || len != kFlacStreamInfoLen)
    return malformed("first FLAC metadata block is not a 34-byte STREAMINFO");
  FlacConfig c;
  c.sequence_header = {'f', 'L', 'a', 'C', 0x80, 0, 0, static_cast<uint8_t>(kFlacStreamInfoLen)};
  Bytes info = block.subspan(4, kFlacStreamInfoLen);
  c.sequence_header.insert(c.sequence_header.end(), info.begin(), info.end());
  // STREAMINFO: min/max block size (2+2), min/max frame size (3+3), then sample rate:20,
  // channels-1:3, bits-1:5, total samples:36, MD5.
  c.rate = (uint32_t{info[10]} << 12) | (uint32_t{info[11]} << 4) | (info[12] >> 4);
  if (c.rate == 0) return malformed("FLAC STREAMINFO with sample rate 0");
  c.channels = static_cast<uint8_t>(((info[12] >> 1) & 0x07) + 1);
  return c;
}

Result<std::vector<uint8_t>> av1c_from_mpeg2ts_descriptor(Bytes descriptor) {
  ByteReader r(descriptor);
  RTMP_TRY(uint8_t tag, r.u8());
  if (tag != 0x80) {
    return make_error(Errc::kMalformed, "AV1 video descriptor tag " + std::to_string(tag), 0);
  }
  RTMP_TRY(uint8_t length, r.u8());
  if (length < 4) {
    return make_error(Errc::kMalformed,
                      "AV1 video descriptor of " + std::to_string(length) + " bytes", 1);
  }
  RTMP_TRY(Bytes body, r.bytes(length));
  if (body[0] != 0x81) {
    return make_error(Errc::kMalformed, "AV1 video descriptor marker/version", 2);
  }
  // hdr_wcg_idc and reserved_zeros become av1C's three reserved zero bits.
  return std::vector<uint8_t>{body[0], body[1], body[2], static_cast<uint8_t>(body[3] & 0x1F)};
}

}  // namespace rtmp
