// GstCaps -> FLV / E-RTMP packaging (push_format.h).
//
// Sequence headers built here, and the documents they follow:
//   avcC   ISO/IEC 14496-15 §5.3.3.1 — taken from codec_data, structure checked.
//   hvcC   ISO/IEC 14496-15 §8.3.3.1 — taken from codec_data, structure checked.
//   av1C   AV1-ISOBMFF §2.3.3: marker:1=1 version:7=1 | seq_profile:3 seq_level_idx_0:5 |
//          seq_tier_0:1 high_bitdepth:1 twelve_bit:1 monochrome:1 chroma_subsampling_x:1
//          chroma_subsampling_y:1 chroma_sample_position:2 | reserved:3=0
//          initial_presentation_delay_present:1=0 reserved:4=0 | configOBUs (the sequence
//          header OBU, with obu_has_size_field=1). Fields from the sequence header OBU
//          (AV1 spec §5.5) when codec_data is absent.
//   vpcC   VP Codec ISO-BMFF §2.2 as FFmpeg's flvenc writes it (FullBox version 1, flags 0, then
//          the record): 01 000000 | profile | level | bitDepth:4 chromaSubsampling:3
//          videoFullRangeFlag:1 | colourPrimaries | transferCharacteristics |
//          matrixCoefficients | codecInitializationDataSize:16=0.
//   ASC    ISO/IEC 14496-3 §1.6.2.1 — codec_data.
//   Opus   RFC 7845 §5.1 identification header — streamheader[0] or generated.
//   FLAC   "fLaC" + STREAMINFO metadata block (RFC 9639 §8.1–8.2) with the last-block flag set.
#include "gst/push_format.h"

#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace gst_ertmp {
namespace {

using rtmp::Codec;

bool fail(std::string* error, std::string what) {
  if (error) *error = std::move(what);
  return false;
}

std::optional<PushFormat> none(std::string* error, std::string what) {
  fail(error, std::move(what));
  return std::nullopt;
}

// MSB-first bit reader over a byte span; every read is bounds-checked (STYLE rule 5).
class BitReader {
 public:
  explicit BitReader(rtmp::Bytes data) : data_(data) {}
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
  rtmp::Bytes data_;
  size_t pos_ = 0;
};

// --- GstCaps helpers ----------------------------------------------------------------------

std::optional<std::vector<uint8_t>> buffer_bytes(const GValue* v) {
  if (!v || !GST_VALUE_HOLDS_BUFFER(v)) return std::nullopt;
  GstBuffer* buf = gst_value_get_buffer(v);
  if (!buf) return std::nullopt;
  std::vector<uint8_t> out(gst_buffer_get_size(buf));
  gst_buffer_extract(buf, 0, out.data(), out.size());
  return out;
}

std::optional<std::vector<uint8_t>> codec_data(const GstStructure* s) {
  return buffer_bytes(gst_structure_get_value(s, "codec_data"));
}

// The caps' streamheader array (empty when absent).
std::vector<std::vector<uint8_t>> stream_headers(const GstStructure* s) {
  std::vector<std::vector<uint8_t>> out;
  const GValue* v = gst_structure_get_value(s, "streamheader");
  if (!v) return out;
  if (GST_VALUE_HOLDS_ARRAY(v)) {
    for (guint i = 0; i < gst_value_array_get_size(v); ++i) {
      if (auto b = buffer_bytes(gst_value_array_get_value(v, i))) out.push_back(std::move(*b));
    }
  } else if (auto b = buffer_bytes(v)) {
    out.push_back(std::move(*b));
  }
  return out;
}

std::string string_field(const GstStructure* s, const char* name) {
  const char* v = gst_structure_get_string(s, name);
  return v ? v : "";
}

int int_field(const GstStructure* s, const char* name, int fallback = 0) {
  int v = 0;
  return gst_structure_get_int(s, name, &v) ? v : fallback;
}

// --- AV1 ----------------------------------------------------------------------------------

constexpr uint8_t kObuSequenceHeader = 1;
constexpr uint8_t kObuTemporalDelimiter = 2;

struct Obu {
  uint8_t type = 0;
  size_t start = 0;       // first byte of the OBU header
  size_t header_len = 0;  // header + extension + leb128 size
  size_t payload_len = 0;
  bool has_size_field = false;
  bool has_extension = false;
};

// Splits a temporal unit into OBUs (AV1 spec §5.3). An OBU without obu_has_size_field extends
// to the end of the buffer.
bool split_obus(rtmp::Bytes in, std::vector<Obu>* obus, std::string* error) {
  size_t pos = 0;
  while (pos < in.size()) {
    Obu o;
    o.start = pos;
    uint8_t h = in[pos];
    if (h & 0x80) return fail(error, "AV1 OBU with obu_forbidden_bit set");
    o.type = static_cast<uint8_t>((h >> 3) & 0x0F);
    o.has_extension = (h & 0x04) != 0;
    o.has_size_field = (h & 0x02) != 0;
    size_t p = pos + 1 + (o.has_extension ? 1 : 0);
    if (p > in.size()) return fail(error, "truncated AV1 OBU header");
    if (o.has_size_field) {
      uint64_t size = 0;
      int i = 0;
      for (;; ++i) {
        if (i == 8) return fail(error, "AV1 leb128 longer than 8 bytes");
        if (p >= in.size()) return fail(error, "truncated AV1 OBU size");
        uint8_t b = in[p++];
        size |= uint64_t{b & 0x7Fu} << (7 * i);
        if (!(b & 0x80)) break;
      }
      if (size > in.size() - p) return fail(error, "AV1 OBU size beyond the buffer");
      o.payload_len = static_cast<size_t>(size);
    } else {
      o.payload_len = in.size() - p;
    }
    o.header_len = p - pos;
    obus->push_back(o);
    pos = p + o.payload_len;
  }
  return true;
}

void write_leb128(std::vector<uint8_t>& out, size_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

// The 4 fixed bytes of av1C from a sequence header OBU payload (AV1 spec §5.5).
bool av1c_fixed_bytes(rtmp::Bytes payload, uint8_t out[4], std::string* error) {
  BitReader r(payload);
  uint32_t seq_profile = 0;
  bool still = false, reduced = false;
  const char* trunc = "truncated AV1 sequence header";
  if (!r.bits(3, &seq_profile) || !r.flag(&still) || !r.flag(&reduced)) return fail(error, trunc);
  if (seq_profile > 2) return fail(error, "AV1 sequence header with reserved seq_profile");
  uint32_t level0 = 0;
  bool tier0 = false;
  if (reduced) {
    if (!r.bits(5, &level0)) return fail(error, trunc);
  } else {
    bool timing = false, decoder_model = false, initial_delay = false;
    uint32_t buffer_delay_len = 0;
    if (!r.flag(&timing)) return fail(error, trunc);
    if (timing) {
      bool equal_interval = false;
      if (!r.skip(64) || !r.flag(&equal_interval)) return fail(error, trunc);
      if (equal_interval && !r.uvlc()) return fail(error, trunc);
      if (!r.flag(&decoder_model)) return fail(error, trunc);
      if (decoder_model) {
        if (!r.bits(5, &buffer_delay_len) || !r.skip(32 + 5 + 5)) return fail(error, trunc);
      }
    }
    uint32_t op_count_minus_1 = 0;
    if (!r.flag(&initial_delay) || !r.bits(5, &op_count_minus_1)) return fail(error, trunc);
    for (uint32_t i = 0; i <= op_count_minus_1; ++i) {
      uint32_t level = 0;
      bool tier = false;
      if (!r.skip(12) || !r.bits(5, &level)) return fail(error, trunc);
      if (level > 7 && !r.flag(&tier)) return fail(error, trunc);
      if (decoder_model) {
        bool present = false;
        if (!r.flag(&present)) return fail(error, trunc);
        if (present && !r.skip(2 * static_cast<int>(buffer_delay_len + 1) + 1))
          return fail(error, trunc);
      }
      if (initial_delay) {
        bool present = false;
        if (!r.flag(&present)) return fail(error, trunc);
        if (present && !r.skip(4)) return fail(error, trunc);
      }
      if (i == 0) {
        level0 = level;
        tier0 = tier;
      }
    }
  }
  uint32_t wbits = 0, hbits = 0;
  if (!r.bits(4, &wbits) || !r.bits(4, &hbits)) return fail(error, trunc);
  if (!r.skip(static_cast<int>(wbits + 1) + static_cast<int>(hbits + 1))) return fail(error, trunc);
  bool frame_ids = false;
  if (!reduced && !r.flag(&frame_ids)) return fail(error, trunc);
  if (frame_ids && !r.skip(4 + 3)) return fail(error, trunc);
  // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
  if (!r.skip(3)) return fail(error, trunc);
  if (!reduced) {
    bool order_hint = false, choose_sct = false;
    uint32_t force_sct = 2;  // SELECT_SCREEN_CONTENT_TOOLS
    // enable_interintra_compound, enable_masked_compound, enable_warped_motion,
    // enable_dual_filter
    if (!r.skip(4) || !r.flag(&order_hint)) return fail(error, trunc);
    if (order_hint && !r.skip(2)) return fail(error, trunc);
    if (!r.flag(&choose_sct)) return fail(error, trunc);
    if (!choose_sct && !r.bits(1, &force_sct)) return fail(error, trunc);
    if (force_sct > 0) {
      bool choose_imv = false;
      if (!r.flag(&choose_imv)) return fail(error, trunc);
      if (!choose_imv && !r.skip(1)) return fail(error, trunc);
    }
    if (order_hint && !r.skip(3)) return fail(error, trunc);
  }
  // enable_superres, enable_cdef, enable_restoration
  if (!r.skip(3)) return fail(error, trunc);
  // color_config() §5.5.2
  bool high_bitdepth = false, twelve_bit = false, mono = false, desc = false;
  if (!r.flag(&high_bitdepth)) return fail(error, trunc);
  if (seq_profile == 2 && high_bitdepth && !r.flag(&twelve_bit)) return fail(error, trunc);
  if (seq_profile != 1 && !r.flag(&mono)) return fail(error, trunc);
  uint32_t cp = 2, tc = 2, mc = 2;
  if (!r.flag(&desc)) return fail(error, trunc);
  if (desc && (!r.bits(8, &cp) || !r.bits(8, &tc) || !r.bits(8, &mc))) return fail(error, trunc);
  uint32_t sx = 1, sy = 1, csp = 0;
  if (mono) {
    if (!r.skip(1)) return fail(error, trunc);  // color_range
  } else if (cp == 1 && tc == 13 && mc == 0) {
    sx = sy = 0;  // sRGB: 4:4:4, color_range implied
  } else {
    if (!r.skip(1)) return fail(error, trunc);  // color_range
    if (seq_profile == 1) {
      sx = sy = 0;
    } else if (seq_profile == 2) {
      if (twelve_bit) {
        if (!r.bits(1, &sx)) return fail(error, trunc);
        sy = 0;
        if (sx && !r.bits(1, &sy)) return fail(error, trunc);
      } else {
        sx = 1;
        sy = 0;
      }
    }
    if (sx && sy && !r.bits(2, &csp)) return fail(error, trunc);
  }
  out[0] = 0x81;
  out[1] = static_cast<uint8_t>((seq_profile << 5) | (level0 & 0x1F));
  out[2] = static_cast<uint8_t>((tier0 ? 0x80 : 0) | (high_bitdepth ? 0x40 : 0) |
                                (twelve_bit ? 0x20 : 0) | (mono ? 0x10 : 0) | (sx << 3) |
                                (sy << 2) | csp);
  out[3] = 0;
  return true;
}

// av1C from the first temporal unit: the fixed bytes plus the sequence header OBU rewritten
// with obu_has_size_field=1 (AV1-ISOBMFF §2.3.4 wants low-overhead OBUs in configOBUs).
bool av1c_from_temporal_unit(rtmp::Bytes tu, const std::vector<Obu>& obus,
                             std::vector<uint8_t>* av1c, std::string* error) {
  for (const Obu& o : obus) {
    if (o.type != kObuSequenceHeader) continue;
    size_t ext = o.has_extension ? 1 : 0;
    rtmp::Bytes payload = tu.subspan(o.start + o.header_len, o.payload_len);
    uint8_t fixed[4];
    if (!av1c_fixed_bytes(payload, fixed, error)) return false;
    av1c->assign(fixed, fixed + 4);
    av1c->push_back(static_cast<uint8_t>(tu[o.start] | 0x02));
    if (ext) av1c->push_back(tu[o.start + 1]);
    write_leb128(*av1c, payload.size());
    av1c->insert(av1c->end(), payload.begin(), payload.end());
    return true;
  }
  return fail(error, "first AV1 temporal unit has no sequence header OBU");
}

// --- VP8 / VP9 ----------------------------------------------------------------------------

// VP9 levels (VP9 Levels and Decoder Testing, webmproject.org): the smallest whose luma
// picture size and sample rate hold the stream; 0 (undefined) when the size is unknown.
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

struct VpColour {
  uint8_t primaries = 2;  // H.273 "unspecified"
  uint8_t transfer = 2;
  uint8_t matrix = 2;
  bool full_range = false;
};

VpColour colour_from_caps(const GstStructure* s) {
  VpColour c;
  const char* colorimetry = gst_structure_get_string(s, "colorimetry");
  GstVideoColorimetry info;
  if (colorimetry && gst_video_colorimetry_from_string(&info, colorimetry)) {
    c.primaries = static_cast<uint8_t>(gst_video_color_primaries_to_iso(info.primaries));
    c.transfer = static_cast<uint8_t>(gst_video_transfer_function_to_iso(info.transfer));
    c.matrix = static_cast<uint8_t>(gst_video_color_matrix_to_iso(info.matrix));
    c.full_range = info.range == GST_VIDEO_COLOR_RANGE_0_255;
  }
  return c;
}

// vpcC chromaSubsampling values (VP Codec ISO-BMFF §2.2).
constexpr uint8_t kChroma420Vertical = 0;
constexpr uint8_t kChroma422 = 2;
constexpr uint8_t kChroma444 = 3;

struct VpStreamInfo {
  uint8_t profile = 0;
  uint8_t bit_depth = 8;
  uint8_t chroma = kChroma420Vertical;
  // From a VP9 frame header: its color_space as an H.273 matrix and its color_range (the
  // bitstream names no primaries or transfer).
  bool bitstream_colour = false;
  uint8_t matrix = 2;
  bool full_range = false;
};

// VP9 color_space (VP9 spec §7.2.2) -> H.273 MatrixCoefficients.
constexpr uint8_t kVp9ColorSpaceMatrix[8] = {2, 5, 1, 6, 7, 9, 2, 0};

std::vector<uint8_t> build_vpcc(const PushFormat& f, const VpStreamInfo& info, VpColour colour) {
  if (info.bitstream_colour) {
    colour.matrix = info.matrix;
    colour.full_range = info.full_range;
  }
  return {1,
          0,
          0,
          0,
          info.profile,
          vp9_level(f.width, f.height, f.fps_n, f.fps_d),
          static_cast<uint8_t>((info.bit_depth << 4) | (info.chroma << 1) |
                               (colour.full_range ? 1 : 0)),
          colour.primaries,
          colour.transfer,
          colour.matrix,
          0,
          0};
}

// VP9 uncompressed header (VP9 bitstream spec §6.2): profile, bit depth and subsampling of a
// key frame (or intra-only frame). false with `*not_key` when the frame carries neither.
bool vp9_stream_info(rtmp::Bytes frame, VpStreamInfo* info, bool* not_key, std::string* error) {
  BitReader r(frame);
  uint32_t marker = 0, lo = 0, hi = 0, reserved = 0, v = 0;
  const char* trunc = "truncated VP9 frame header";
  *not_key = false;
  if (!r.bits(2, &marker) || !r.bits(1, &lo) || !r.bits(1, &hi)) return fail(error, trunc);
  if (marker != 2) return fail(error, "VP9 frame without frame_marker");
  uint32_t profile = (hi << 1) | lo;
  if (profile == 3 && !r.bits(1, &reserved)) return fail(error, trunc);
  bool show_existing = false, inter = false, intra_only = false, error_res = false;
  if (!r.flag(&show_existing)) return fail(error, trunc);
  if (show_existing) {
    *not_key = true;
    return false;
  }
  if (!r.flag(&inter) || !r.skip(1) || !r.flag(&error_res)) return fail(error, trunc);
  if (inter) {
    if (!error_res && !r.skip(2)) return fail(error, trunc);  // reset_frame_context
    if (!r.flag(&intra_only)) return fail(error, trunc);
    if (!intra_only) {
      *not_key = true;
      return false;
    }
    if (!r.skip(2)) return fail(error, trunc);  // intra_only: reset_frame_context
  }
  if (!r.bits(24, &v)) return fail(error, trunc);
  if (v != 0x498342) return fail(error, "VP9 key frame without frame_sync_code");
  info->profile = static_cast<uint8_t>(profile);
  info->bit_depth = 8;
  info->chroma = kChroma420Vertical;
  if (inter && profile == 0) return true;  // intra-only profile 0: 8-bit 4:2:0 implied
  if (profile >= 2) {
    bool twelve = false;
    if (!r.flag(&twelve)) return fail(error, trunc);
    info->bit_depth = twelve ? 12 : 10;
  }
  uint32_t color_space = 0;
  if (!r.bits(3, &color_space)) return fail(error, trunc);
  info->bitstream_colour = true;
  info->matrix = kVp9ColorSpaceMatrix[color_space];
  if (color_space != 7) {
    if (!r.flag(&info->full_range)) return fail(error, trunc);
    if (profile == 1 || profile == 3) {
      uint32_t sx = 0, sy = 0;
      if (!r.bits(1, &sx) || !r.bits(1, &sy)) return fail(error, trunc);
      info->chroma = sx && sy ? kChroma420Vertical : sx ? kChroma422 : kChroma444;
      // (sx=0, sy=1) is 4:4:0, which vpcC cannot express; 4:4:4 is the closest.
    }
  } else {
    info->full_range = true;  // CS_RGB
    info->chroma = kChroma444;
  }
  return true;
}

// --- audio --------------------------------------------------------------------------------

std::vector<uint8_t> opus_head_family0(int rate, int channels) {
  std::vector<uint8_t> h = {'O', 'p', 'u', 's', 'H',
                            'e', 'a', 'd', 1,   static_cast<uint8_t>(channels)};
  h.push_back(0);  // pre-skip (LE16): unknown
  h.push_back(0);
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<uint8_t>(uint32_t(rate) >> (8 * i)));
  h.push_back(0);  // output gain (LE16)
  h.push_back(0);
  h.push_back(0);  // channel mapping family 0
  return h;
}

bool opus_head_from_caps(const GstCaps* caps, const GstStructure* s, PushFormat* f,
                         std::string* error) {
  for (const auto& h : stream_headers(s)) {
    if (h.size() < 8 || std::memcmp(h.data(), "OpusHead", 8) != 0) continue;
    GstBuffer* buf = gst_buffer_new_memdup(h.data(), h.size());
    guint32 rate = 0;
    guint8 channels = 0;
    bool ok = gst_codec_utils_opus_parse_header(buf, &rate, &channels, nullptr, nullptr, nullptr,
                                                nullptr, nullptr, nullptr);
    gst_buffer_unref(buf);
    if (!ok) return fail(error, "malformed OpusHead in caps streamheader");
    f->sequence_header = h;
    if (!f->channels) f->channels = channels;
    return true;
  }
  int rate = f->rate ? f->rate : 48000;
  int family = int_field(s, "channel-mapping-family", 0);
  if (family == 0) {
    int channels = f->channels ? f->channels : 2;
    if (channels > 2) return fail(error, "Opus channel-mapping-family 0 with more than 2 channels");
    f->channels = channels;
    f->sequence_header = opus_head_family0(rate, channels);
    return true;
  }
  guint32 prate = 0;
  guint8 channels = 0, pfamily = 0, streams = 0, coupled = 0;
  guint8 mapping[256];
  if (!gst_codec_utils_opus_parse_caps(const_cast<GstCaps*>(caps), &prate, &channels, &pfamily,
                                       &streams, &coupled, mapping))
    return fail(error, "Opus caps without a usable channel mapping");
  GstBuffer* head = gst_codec_utils_opus_create_header(prate ? prate : 48000, channels, pfamily,
                                                       streams, coupled, mapping, 0, 0);
  if (!head) return fail(error, "cannot build an OpusHead from the caps");
  f->sequence_header.resize(gst_buffer_get_size(head));
  gst_buffer_extract(head, 0, f->sequence_header.data(), f->sequence_header.size());
  gst_buffer_unref(head);
  f->channels = channels;
  return true;
}

constexpr size_t kStreamInfoLen = 34;

// "fLaC" + STREAMINFO block (last-block flag set) from flacenc/flacparse streamheaders: the
// Ogg-FLAC mapping (0x7F "FLAC" major minor nheaders:16 "fLaC" block...) or a bare "fLaC"
// marker (optionally followed by the block, or the block in the next header).
bool flac_header_from_caps(const GstStructure* s, PushFormat* f, std::string* error) {
  auto headers = stream_headers(s);
  if (headers.empty())
    return fail(error, "FLAC caps without streamheader (STREAMINFO); put flacparse before");
  const auto& h0 = headers[0];
  rtmp::Bytes block;
  if (h0.size() >= 13 && h0[0] == 0x7F && std::memcmp(h0.data() + 1, "FLAC", 4) == 0) {
    if (std::memcmp(h0.data() + 9, "fLaC", 4) != 0)
      return fail(error, "Ogg-FLAC streamheader without the fLaC marker");
    block = rtmp::Bytes(h0).subspan(13);
  } else if (h0.size() >= 4 && std::memcmp(h0.data(), "fLaC", 4) == 0) {
    block = rtmp::Bytes(h0).subspan(4);
    if (block.empty() && headers.size() > 1) block = rtmp::Bytes(headers[1]);
  } else {
    return fail(error, "FLAC streamheader does not start with fLaC or an Ogg-FLAC header");
  }
  if (block.size() < 4 + kStreamInfoLen) return fail(error, "truncated FLAC STREAMINFO block");
  size_t len = (size_t{block[1]} << 16) | (size_t{block[2]} << 8) | block[3];
  if ((block[0] & 0x7F) != 0 || len != kStreamInfoLen)
    return fail(error, "first FLAC metadata block is not a 34-byte STREAMINFO");
  f->sequence_header = {'f', 'L', 'a', 'C', 0x80, 0, 0, static_cast<uint8_t>(kStreamInfoLen)};
  f->sequence_header.insert(f->sequence_header.end(), block.begin() + 4,
                            block.begin() + 4 + kStreamInfoLen);
  const uint8_t* si = f->sequence_header.data() + 8;
  int rate = (si[10] << 12) | (si[11] << 4) | (si[12] >> 4);
  if (rate == 0) return fail(error, "FLAC STREAMINFO with sample rate 0");
  if (!f->rate) f->rate = rate;
  if (!f->channels) f->channels = ((si[12] >> 1) & 0x07) + 1;
  return true;
}

// Legacy SoundRate bits of 5512/11025/22050/44100 Hz, or -1.
int legacy_rate_bits(int rate) {
  switch (rate) {
    case 5512:
    case 5513:
      return 0;
    case 11025:
      return 1;
    case 22050:
      return 2;
    case 44100:
      return 3;
    default:
      return -1;
  }
}

// --- per media type -----------------------------------------------------------------------

bool check_avcc(const std::vector<uint8_t>& c, std::string* error) {
  const char* bad = "malformed AVCDecoderConfigurationRecord in codec_data";
  if (c.size() < 7 || c[0] != 1) return fail(error, bad);
  rtmp::ByteReader r(c);
  if (!r.skip(5).ok()) return fail(error, bad);
  for (int set = 0; set < 2; ++set) {
    auto count = r.u8();
    if (!count.ok()) return fail(error, bad);
    int n = set == 0 ? (*count & 0x1F) : *count;
    if (set == 0 && n == 0) return fail(error, "avcC without an SPS");
    for (int i = 0; i < n; ++i) {
      auto len = r.u16be();
      if (!len.ok() || !r.skip(*len).ok()) return fail(error, bad);
    }
  }
  return true;
}

bool check_hvcc(const std::vector<uint8_t>& c, std::string* error) {
  const char* bad = "malformed HEVCDecoderConfigurationRecord in codec_data";
  if (c.size() < 23 || c[0] != 1) return fail(error, bad);
  rtmp::ByteReader r(c);
  if (!r.skip(22).ok()) return fail(error, bad);
  auto arrays = r.u8();
  if (!arrays.ok()) return fail(error, bad);
  for (int a = 0; a < *arrays; ++a) {
    auto type = r.u8();
    auto n = r.u16be();
    if (!type.ok() || !n.ok()) return fail(error, bad);
    for (int i = 0; i < *n; ++i) {
      auto len = r.u16be();
      if (!len.ok() || !r.skip(*len).ok()) return fail(error, bad);
    }
  }
  return true;
}

bool video_from_caps(const std::string& name, const GstStructure* s, PushFormat* f,
                     std::string* error) {
  f->video = true;
  f->width = int_field(s, "width");
  f->height = int_field(s, "height");
  int n = 0, d = 1;
  if (gst_structure_get_fraction(s, "framerate", &n, &d) && n > 0 && d > 0) {
    f->fps_n = n;
    f->fps_d = d;
  }
  std::string format = string_field(s, "stream-format");
  std::string alignment = string_field(s, "alignment");
  if (name == "video/x-h264") {
    f->codec = Codec::kAvc;
    f->has_legacy_form = true;
    if (format != "avc") return fail(error, "H.264 needs stream-format=avc (put h264parse before)");
    if (!alignment.empty() && alignment != "au")
      return fail(error, "H.264 needs alignment=au (put h264parse before)");
    auto c = codec_data(s);
    if (!c) return fail(error, "H.264 stream-format=avc without codec_data");
    if (!check_avcc(*c, error)) return false;
    f->sequence_header = std::move(*c);
    return true;
  }
  if (name == "video/x-h265") {
    f->codec = Codec::kHevc;
    if (format != "hvc1" && format != "hev1")
      return fail(error, "H.265 needs stream-format=hvc1 or hev1 (put h265parse before)");
    if (!alignment.empty() && alignment != "au")
      return fail(error, "H.265 needs alignment=au (put h265parse before)");
    auto c = codec_data(s);
    if (!c) return fail(error, "H.265 stream-format=" + format + " without codec_data");
    if (!check_hvcc(*c, error)) return false;
    f->sequence_header = std::move(*c);
    return true;
  }
  if (name == "video/x-av1") {
    f->codec = Codec::kAv1;
    if (!format.empty() && format != "obu-stream")
      return fail(error, "AV1 needs stream-format=obu-stream (put av1parse before)");
    if (!alignment.empty() && alignment != "tu")
      return fail(error, "AV1 needs alignment=tu (put av1parse before)");
    if (auto c = codec_data(s)) {
      if (c->size() < 4 || (*c)[0] != 0x81)
        return fail(error, "malformed AV1CodecConfigurationRecord in codec_data");
      f->sequence_header = std::move(*c);
    } else {
      f->sequence_header_pending = true;
    }
    return true;
  }
  if (name == "video/x-vp9") {
    f->codec = Codec::kVp9;
    // Build now when the caps pin profile, bit depth and subsampling (vp9parse sets them all;
    // profile 0 implies 8-bit 4:2:0); otherwise from the first key frame.
    std::string profile = string_field(s, "profile");
    int depth = int_field(s, "bit-depth-luma");
    std::string chroma = string_field(s, "chroma-format");
    VpStreamInfo info;
    bool known = false;
    if (profile == "0") {
      known = true;
    } else if (profile == "1" || profile == "2" || profile == "3") {
      info.profile = static_cast<uint8_t>(profile[0] - '0');
      info.bit_depth = static_cast<uint8_t>(info.profile >= 2 ? depth : 8);
      bool depth_known = info.profile < 2 || depth == 10 || depth == 12;
      bool chroma_known = info.profile == 2;
      if (chroma == "4:2:0") {
        info.chroma = kChroma420Vertical;
        chroma_known = true;
      } else if (chroma == "4:2:2") {
        info.chroma = kChroma422;
        chroma_known = true;
      } else if (chroma == "4:4:4") {
        info.chroma = kChroma444;
        chroma_known = true;
      }
      known = depth_known && chroma_known;
    }
    if (known) {
      f->sequence_header = build_vpcc(*f, info, colour_from_caps(s));
    } else {
      f->sequence_header_pending = true;
    }
    return true;
  }
  if (name == "video/x-vp8") {
    f->codec = Codec::kVp8;  // the profile ("version") is in each frame tag
    f->sequence_header_pending = true;
    return true;
  }
  f->has_legacy_form = true;
  if (name == "video/x-flash-video") {
    f->codec = Codec::kSorensonH263;
  } else if (name == "video/x-vp6-flash") {
    f->codec = Codec::kVp6;
  } else if (name == "video/x-vp6-alpha") {
    f->codec = Codec::kVp6Alpha;
  } else if (name == "video/x-flash-screen") {
    f->codec = Codec::kScreenVideo;
  } else {
    return fail(error, "no FLV/E-RTMP mapping for " + name);
  }
  return true;
}

bool audio_from_caps(const std::string& name, const GstCaps* caps, const GstStructure* s,
                     PushFormat* f, std::string* error) {
  f->rate = int_field(s, "rate");
  f->channels = int_field(s, "channels");
  const int mpegversion = int_field(s, "mpegversion");
  // Compressed formats: the SoundSize bit says 16-bit and SoundType follows the channels.
  f->sound_size = 1;
  f->sound_type = f->channels == 1 ? 0 : 1;
  if (name == "audio/mpeg" && (mpegversion == 4 || mpegversion == 2)) {
    f->codec = Codec::kAac;
    f->has_legacy_form = true;
    std::string format = string_field(s, "stream-format");
    if (!format.empty() && format != "raw")
      return fail(error, "AAC needs stream-format=raw, not " + format + " (put aacparse before)");
    auto c = codec_data(s);
    if (!c) return fail(error, "raw AAC without codec_data (AudioSpecificConfig)");
    guint len = static_cast<guint>(c->size());
    guint rate = c->size() >= 2 ? gst_codec_utils_aac_get_sample_rate(c->data(), len) : 0;
    if (rate == 0) return fail(error, "malformed AudioSpecificConfig in codec_data");
    if (!f->rate) f->rate = static_cast<int>(rate);
    if (!f->channels)
      f->channels = static_cast<int>(gst_codec_utils_aac_get_channels(c->data(), len));
    f->sequence_header = std::move(*c);
    // FLV 10.1 E.4.2.1: AAC always signals 44 kHz, 16-bit, stereo; the ASC is authoritative.
    f->sound_rate = 3;
    f->sound_size = 1;
    f->sound_type = 1;
    return true;
  }
  if (name == "audio/mpeg" && mpegversion == 1) {
    if (int_field(s, "layer", 3) != 3) return fail(error, "MPEG audio layer 1/2 has no FLV id");
    f->codec = Codec::kMp3;
    int bits = legacy_rate_bits(f->rate);
    if (bits >= 0) {
      f->has_legacy_form = true;
      f->sound_rate = static_cast<uint8_t>(bits);
    } else if (f->rate == 8000) {
      f->codec = Codec::kMp3_8k;
      f->has_legacy_form = true;
      f->sound_rate = 0;
    }
    return true;
  }
  if (name == "audio/x-opus") {
    f->codec = Codec::kOpus;
    return opus_head_from_caps(caps, s, f, error);
  }
  if (name == "audio/x-flac") {
    f->codec = Codec::kFlac;
    return flac_header_from_caps(s, f, error);
  }
  if (name == "audio/x-ac3" || name == "audio/x-eac3") {
    f->codec = name == "audio/x-ac3" ? Codec::kAc3 : Codec::kEac3;
    return true;
  }
  // Legacy-only formats: rate and channel bits must describe the stream exactly.
  f->has_legacy_form = true;
  if (f->channels != 1 && f->channels != 2)
    return fail(error, name + " in FLV needs 1 or 2 channels");
  if (name == "audio/x-raw") {
    std::string format = string_field(s, "format");
    std::string layout = string_field(s, "layout");
    int bits = legacy_rate_bits(f->rate);
    if ((format != "S16LE" && format != "U8") || bits < 0 ||
        (!layout.empty() && layout != "interleaved"))
      return fail(error, "FLV PCM needs interleaved S16LE or U8 at 5512/11025/22050/44100 Hz");
    f->codec = Codec::kPcmLittleEndian;
    f->sound_rate = static_cast<uint8_t>(bits);
    f->sound_size = format == "S16LE" ? 1 : 0;
    return true;
  }
  if (name == "audio/x-alaw" || name == "audio/x-mulaw") {
    if (f->rate != 8000) return fail(error, "FLV G.711 needs 8000 Hz");
    f->codec = name == "audio/x-alaw" ? Codec::kG711ALaw : Codec::kG711MuLaw;
    f->sound_rate = 0;  // "special" rate bits, as FFmpeg's flvenc writes for 8 kHz
    return true;
  }
  if (name == "audio/x-speex") {
    if (f->rate != 16000 || f->channels != 1)
      return fail(error, "FLV Speex needs 16000 Hz mono (wideband)");
    f->codec = Codec::kSpeex;
    f->sound_rate = 1;  // FFmpeg's flvenc writes 11 kHz bits for Speex
    return true;
  }
  if (name == "audio/x-adpcm") {
    int bits = legacy_rate_bits(f->rate);
    if (string_field(s, "layout") != "swf" || bits < 0)
      return fail(error, "FLV ADPCM needs layout=swf at 5512/11025/22050/44100 Hz");
    f->codec = Codec::kAdpcm;
    f->sound_rate = static_cast<uint8_t>(bits);
    return true;
  }
  if (name == "audio/x-nellymoser") {
    int bits = legacy_rate_bits(f->rate);
    if (f->rate == 16000 && f->channels == 1) {
      f->codec = Codec::kNellymoser16kMono;
      f->sound_rate = 0;
    } else if (f->rate == 8000 && f->channels == 1) {
      f->codec = Codec::kNellymoser8kMono;
      f->sound_rate = 0;
    } else if (bits >= 0) {
      f->codec = Codec::kNellymoser;
      f->sound_rate = static_cast<uint8_t>(bits);
    } else {
      return fail(error, "FLV Nellymoser needs 8000/16000 Hz mono or 5512-44100 Hz");
    }
    return true;
  }
  return fail(error, "no FLV/E-RTMP mapping for " + name);
}

}  // namespace

std::optional<PushFormat> push_format_from_caps(const GstCaps* caps, std::string* error) {
  if (!caps || gst_caps_get_size(caps) != 1 || !gst_caps_is_fixed(caps))
    return none(error, "caps are not fixed");
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  std::string name = gst_structure_get_name(s);
  PushFormat f;
  bool ok = name.starts_with("video/")   ? video_from_caps(name, s, &f, error)
            : name.starts_with("audio/") ? audio_from_caps(name, caps, s, &f, error)
                                         : fail(error, "no FLV/E-RTMP mapping for " + name);
  if (!ok) return std::nullopt;
  return f;
}

bool is_stream_header_buffer(const PushFormat& format, GstBuffer* buffer) {
  if (format.codec != Codec::kOpus && format.codec != Codec::kFlac && format.codec != Codec::kSpeex)
    return false;
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_HEADER)) return true;
  uint8_t head[8] = {};
  size_t n = gst_buffer_extract(buffer, 0, head, sizeof head);
  if (format.codec == Codec::kOpus) {
    return n == 8 &&
           (std::memcmp(head, "OpusHead", 8) == 0 || std::memcmp(head, "OpusTags", 8) == 0);
  }
  if (format.codec == Codec::kSpeex) {
    return n == 8 && std::memcmp(head, "Speex   ", 8) == 0;  // the header packet's magic
  }
  // FLAC frames start with the 0xFFF8/0xFFF9 sync code; headers ("fLaC", Ogg-FLAC 0x7F,
  // metadata blocks with type 0-6 / 127) never start with 0xFF.
  return n >= 1 && head[0] != 0xFF;
}

bool frame_payload(PushFormat& format, rtmp::Bytes in, std::vector<uint8_t>& out, bool* as_is,
                   std::string* error) {
  out.clear();
  *as_is = true;
  switch (format.codec) {
    case Codec::kAv1: {
      std::vector<Obu> obus;
      if (!split_obus(in, &obus, error)) return false;
      if (format.sequence_header_pending) {
        std::vector<uint8_t> av1c;
        if (!av1c_from_temporal_unit(in, obus, &av1c, error)) return false;
        format.sequence_header = std::move(av1c);
        format.sequence_header_pending = false;
      }
      bool has_td = std::any_of(obus.begin(), obus.end(),
                                [](const Obu& o) { return o.type == kObuTemporalDelimiter; });
      if (!has_td) return true;
      *as_is = false;
      out.reserve(in.size());
      for (const Obu& o : obus) {
        if (o.type == kObuTemporalDelimiter) continue;
        auto b = in.begin() + static_cast<std::ptrdiff_t>(o.start);
        out.insert(out.end(), b, b + static_cast<std::ptrdiff_t>(o.header_len + o.payload_len));
      }
      return true;
    }
    case Codec::kVp9: {
      if (!format.sequence_header_pending) return true;
      if (in.empty()) return fail(error, "empty VP9 frame");
      // A superframe (index at the end, VP9 spec Annex B) starts with its first frame, which
      // carries the uncompressed header we need.
      VpStreamInfo info;
      bool not_key = false;
      if (!vp9_stream_info(in, &info, &not_key, error)) return not_key;
      format.sequence_header = build_vpcc(format, info, VpColour{});
      format.sequence_header_pending = false;
      return true;
    }
    case Codec::kVp8: {
      if (!format.sequence_header_pending) return true;
      if (in.size() < 3) return fail(error, "truncated VP8 frame tag");
      if (in[0] & 0x01) return true;  // inter frame: wait for a key frame (RFC 6386 §9.1)
      VpStreamInfo info;
      info.profile = static_cast<uint8_t>((in[0] >> 1) & 0x07);
      if (info.profile > 3) return fail(error, "VP8 frame tag with reserved version");
      format.sequence_header = build_vpcc(format, info, VpColour{});
      format.sequence_header_pending = false;
      return true;
    }
    default:
      return true;
  }
}

rtmp::amf::Value build_metadata(const PushFormat* video, bool video_enhanced,
                                const PushFormat* audio, bool audio_enhanced,
                                const GstTagList* tags) {
  rtmp::amf::EcmaArray m;
  auto add = [&m](const char* key, rtmp::amf::Value v) {
    m.properties.emplace_back(key, std::move(v));
  };
  auto codec_id = [](const PushFormat& f, bool enhanced, std::optional<uint8_t> legacy) {
    uint32_t fcc = rtmp::codec_fourcc(f.codec);
    if ((enhanced || !legacy) && fcc) return static_cast<double>(fcc);
    return legacy ? static_cast<double>(*legacy) : 0.0;
  };
  if (video) {
    if (video->width > 0) add("width", static_cast<double>(video->width));
    if (video->height > 0) add("height", static_cast<double>(video->height));
    if (video->bitrate > 0) add("videodatarate", video->bitrate / 1000.0);
    if (video->fps_n > 0 && video->fps_d > 0)
      add("framerate", static_cast<double>(video->fps_n) / video->fps_d);
    std::optional<uint8_t> legacy =
        video->codec == Codec::kHevc ? std::nullopt : rtmp::legacy_video_codec_id(video->codec);
    add("videocodecid", codec_id(*video, video_enhanced, legacy));
  }
  if (audio) {
    if (audio->bitrate > 0) add("audiodatarate", audio->bitrate / 1000.0);
    if (audio->rate > 0) add("audiosamplerate", static_cast<double>(audio->rate));
    bool eight_bit = audio->codec == Codec::kPcmLittleEndian && audio->sound_size == 0;
    add("audiosamplesize", eight_bit ? 8.0 : 16.0);
    add("stereo", audio->channels >= 2);
    add("audiocodecid", codec_id(*audio, audio_enhanced, rtmp::legacy_sound_format(audio->codec)));
  }
  auto tag_string = [tags](const char* tag) -> std::string {
    gchar* v = nullptr;
    if (!tags || !gst_tag_list_get_string(tags, tag, &v) || !v) return "";
    std::string s = v;
    g_free(v);
    return s;
  };
  if (std::string t = tag_string(GST_TAG_TITLE); !t.empty()) add("title", t);
  if (std::string a = tag_string(GST_TAG_ARTIST); !a.empty()) add("creator", a);
  std::string encoder = tag_string(GST_TAG_ENCODER);
  add("encoder", encoder.empty() ? std::string("GStreamer rtmppushsink") : encoder);
  m.declared_count = static_cast<uint32_t>(m.properties.size());
  return rtmp::amf::Value(std::move(m));
}

}  // namespace gst_ertmp
