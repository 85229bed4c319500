#include "gst/codec_caps.h"

#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "protocol/codec_config.h"

namespace gst_ertmp {
namespace {

using rtmp::Codec;

GstBuffer* buffer_of(rtmp::Bytes b) {
  return gst_buffer_new_memdup(b.data(), b.size());
}

void set_codec_data(GstCaps* caps, rtmp::Bytes b) {
  GstBuffer* buf = buffer_of(b);
  gst_caps_set_simple(caps, "codec_data", GST_TYPE_BUFFER, buf, nullptr);
  gst_buffer_unref(buf);
}

constexpr int kLegacyRates[4] = {5512, 11025, 22050, 44100};

GstCaps* fail(std::string* error, std::string what) {
  if (error) *error = std::move(what);
  return nullptr;
}

// FLAC STREAMINFO (after the "fLaC" marker and the 4-byte block header): sample rate (20 bits)
// at byte 10, channels-1 (3 bits) next.
bool flac_streaminfo(rtmp::Bytes seq, int* rate, int* channels) {
  size_t base =
      (seq.size() >= 4 && seq[0] == 'f' && seq[1] == 'L' && seq[2] == 'a' && seq[3] == 'C') ? 8 : 4;
  if (seq.size() < base + 14) return false;
  const uint8_t* si = seq.data() + base;
  *rate = (si[10] << 12) | (si[11] << 4) | (si[12] >> 4);
  *channels = ((si[12] >> 1) & 0x07) + 1;
  return *rate > 0;
}

void append_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// FLV Speex carries no headers, but speexdec needs them (it fails with "couldn't read header"):
// synthesise the 80-byte SpeexHeader (speex_header.h: all fields LE32 after the two strings) for
// 16 kHz wideband mono, one frame per packet, and an empty comment packet, as flvdemux does.
void set_speex_streamheader(GstCaps* caps) {
  std::vector<uint8_t> head = {'S', 'p', 'e', 'e', 'x', ' ', ' ', ' '};
  const char version[20] = "1.2";
  head.insert(head.end(), version, version + sizeof version);
  for (uint32_t v : {1u /* version id */, 80u /* header size */, 16000u /* rate */,
                     1u /* mode: wideband */, 4u /* mode bitstream version */, 1u /* channels */,
                     0xFFFFFFFFu /* bitrate: unknown */, 320u /* frame size */, 0u /* vbr */,
                     1u /* frames per packet */, 0u /* extra headers */, 0u, 0u})
    append_le32(head, v);
  std::vector<uint8_t> comment;
  const char vendor[] = "gst-ertmp";
  append_le32(comment, sizeof vendor - 1);
  comment.insert(comment.end(), vendor, vendor + sizeof vendor - 1);
  append_le32(comment, 0);  // no user comments
  GValue array = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  for (const auto* packet : {&head, &comment}) {
    GValue item = G_VALUE_INIT;
    g_value_init(&item, GST_TYPE_BUFFER);
    GstBuffer* buf = buffer_of(*packet);
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_HEADER);
    gst_value_take_buffer(&item, buf);
    gst_value_array_append_and_take_value(&array, &item);
  }
  gst_structure_take_value(gst_caps_get_structure(caps, 0), "streamheader", &array);
}

// flvdemux's onMetaData -> video caps (gst_flv_demux_parse_metadata_item and _video_negotiate):
// width/height truncated to integers when non-zero, framerate through
// gst_video_guess_framerate(GST_SECOND / fps), pixel-aspect-ratio from AspectRatioX/Y with 1 for
// a missing one. Values no video can have (negative, not finite, absurdly large) are a broken
// publisher's and are left out rather than put in caps.
void add_metadata_fields(GstCaps* caps, const rtmp::amf::Value& metadata) {
  auto dimension = [&](const char* key) -> int {
    auto d = metadata.get_number(key);
    if (!d || !std::isfinite(*d) || *d < 1 || *d > 65535) return 0;
    return static_cast<int>(*d);
  };
  auto x = metadata.get_number("AspectRatioX");
  auto y = metadata.get_number("AspectRatioY");
  if (x || y) {
    double px = x ? *x : 1, py = y ? *y : 1;
    if (std::isfinite(px) && std::isfinite(py) && px >= 1 && py >= 1 && px <= G_MAXINT &&
        py <= G_MAXINT) {
      gst_caps_set_simple(caps, "pixel-aspect-ratio", GST_TYPE_FRACTION, static_cast<int>(px),
                          static_cast<int>(py), nullptr);
    }
  }
  if (int w = dimension("width")) gst_caps_set_simple(caps, "width", G_TYPE_INT, w, nullptr);
  if (int h = dimension("height")) gst_caps_set_simple(caps, "height", G_TYPE_INT, h, nullptr);
  if (auto fps = metadata.get_number("framerate"); fps && std::isfinite(*fps) && *fps > 0.001) {
    int num = 0, den = 0;
    gst_video_guess_framerate(static_cast<GstClockTime>(static_cast<double>(GST_SECOND) / *fps),
                              &num, &den);
    if (num > 0 && den > 0) {
      gst_caps_set_simple(caps, "framerate", GST_TYPE_FRACTION, num, den, nullptr);
    }
  }
}

// The caps of the codec and its sequence header, before metadata and colorInfo.
GstCaps* codec_caps(const StreamFormat& f, std::string* error) {
  std::vector<uint8_t> av1c;
  rtmp::Bytes seq = f.sequence_header;
  if (f.mpeg2ts_descriptor) {
    if (f.codec != Codec::kAv1) return fail(error, "MPEG2TSSequenceStart for a codec but AV1");
    auto converted = rtmp::av1c_from_mpeg2ts_descriptor(seq);
    if (!converted.ok()) {
      return fail(error, "AV1 video descriptor: " + converted.error().to_string());
    }
    av1c = std::move(*converted);
    seq = av1c;
  }
  const int legacy_rate = kLegacyRates[f.sound_rate & 3];
  const int legacy_channels = (f.sound_type & 1) ? 2 : 1;
  GstCaps* caps = nullptr;
  switch (f.codec) {
    case Codec::kAvc:
      if (seq.size() < 7 || seq[0] != 1)
        return fail(error, "malformed AVCDecoderConfigurationRecord");
      caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "avc", "alignment",
                                 G_TYPE_STRING, "au", nullptr);
      set_codec_data(caps, seq);
      gst_codec_utils_h264_caps_set_level_and_profile(caps, seq.data() + 1,
                                                      static_cast<guint>(seq.size() - 1));
      return caps;
    case Codec::kHevc:
      if (seq.size() < 23 || seq[0] != 1)
        return fail(error, "malformed HEVCDecoderConfigurationRecord");
      caps = gst_caps_new_simple("video/x-h265", "stream-format", G_TYPE_STRING, "hvc1",
                                 "alignment", G_TYPE_STRING, "au", nullptr);
      set_codec_data(caps, seq);
      gst_codec_utils_h265_caps_set_level_tier_and_profile(caps, seq.data() + 1, 12);
      return caps;
    case Codec::kAv1:
      if (seq.size() < 4 || (seq[0] & 0x7F) != 1)
        return fail(error, "malformed AV1CodecConfigurationRecord");
      caps = gst_caps_new_simple("video/x-av1", "stream-format", G_TYPE_STRING, "obu-stream",
                                 "alignment", G_TYPE_STRING, "tu", nullptr);
      set_codec_data(caps, seq);
      {
        static const char* kProfiles[] = {"main", "high", "professional"};
        int profile = seq[1] >> 5;
        if (profile < 3)
          gst_caps_set_simple(caps, "profile", G_TYPE_STRING, kProfiles[profile], nullptr);
      }
      return caps;
    case Codec::kVp9:
      caps = gst_caps_new_empty_simple("video/x-vp9");
      // vpcC as FFmpeg's flvenc (and our rtmppushsink) send it: FullBox version 1 and 24 flag
      // bits, then the record, whose first byte is the profile (VP Codec ISO-BMFF §2.2).
      if (seq.size() >= 12 && seq[0] == 1 && seq[1] == 0 && seq[2] == 0 && seq[3] == 0) {
        static const char* kProfiles[] = {"0", "1", "2", "3"};
        if (seq[4] < 4)
          gst_caps_set_simple(caps, "profile", G_TYPE_STRING, kProfiles[seq[4]], nullptr);
      }
      return caps;
    case Codec::kVp8:
      return gst_caps_new_empty_simple("video/x-vp8");
    case Codec::kVvc:
      return fail(error, "H.266/VVC has no GStreamer 1.22 mapping");
    case Codec::kSorensonH263:
      return gst_caps_new_simple("video/x-flash-video", "flvversion", G_TYPE_INT, 1, nullptr);
    case Codec::kScreenVideo:
    case Codec::kScreenVideo2:
      return gst_caps_new_empty_simple("video/x-flash-screen");
    case Codec::kVp6:
      return gst_caps_new_empty_simple("video/x-vp6-flash");
    case Codec::kVp6Alpha:
      return gst_caps_new_empty_simple("video/x-vp6-alpha");
    case Codec::kAac: {
      if (seq.size() < 2) return fail(error, "AudioSpecificConfig shorter than 2 bytes");
      guint rate = gst_codec_utils_aac_get_sample_rate(seq.data(), static_cast<guint>(seq.size()));
      guint channels = gst_codec_utils_aac_get_channels(seq.data(), static_cast<guint>(seq.size()));
      if (rate == 0) return fail(error, "AudioSpecificConfig with an invalid sample rate");
      caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format",
                                 G_TYPE_STRING, "raw", "framed", G_TYPE_BOOLEAN, TRUE, "rate",
                                 G_TYPE_INT, static_cast<int>(rate), "channels", G_TYPE_INT,
                                 channels ? static_cast<int>(channels) : legacy_channels, nullptr);
      set_codec_data(caps, seq);
      gst_codec_utils_aac_caps_set_level_and_profile(caps, seq.data(),
                                                     static_cast<guint>(seq.size()));
      return caps;
    }
    case Codec::kMp3:
    case Codec::kMp3_8k:
      caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 1, "layer", G_TYPE_INT, 3,
                                 nullptr);
      if (f.legacy_audio_header) {
        // flvdemux: whole frames (parsed), rate and channels from the header bits.
        gst_caps_set_simple(caps, "parsed", G_TYPE_BOOLEAN, TRUE, "rate", G_TYPE_INT,
                            f.codec == Codec::kMp3_8k ? 8000 : legacy_rate, "channels", G_TYPE_INT,
                            legacy_channels, nullptr);
      } else if (f.codec == Codec::kMp3_8k) {
        gst_caps_set_simple(caps, "rate", G_TYPE_INT, 8000, "channels", G_TYPE_INT, 1, nullptr);
      }
      // E-RTMP ".mp3" carries no rate/channel bits: they are left to mpegaudioparse.
      return caps;
    case Codec::kOpus: {
      if (seq.size() >= 19) {
        GstBuffer* head = buffer_of(seq);
        caps = gst_codec_utils_opus_create_caps_from_header(head, nullptr);
        gst_buffer_unref(head);
        if (!caps) return fail(error, "malformed Opus identification header");
        return caps;
      }
      int channels = f.channels_hint ? f.channels_hint : 2;
      if (channels > 2) return fail(error, "multichannel Opus needs an identification header");
      return gst_caps_new_simple("audio/x-opus", "channel-mapping-family", G_TYPE_INT, 0, "rate",
                                 G_TYPE_INT, 48000, "channels", G_TYPE_INT, channels, nullptr);
    }
    case Codec::kFlac: {
      int rate = 0, channels = 0;
      caps = gst_caps_new_simple("audio/x-flac", "framed", G_TYPE_BOOLEAN, TRUE, nullptr);
      if (flac_streaminfo(seq, &rate, &channels)) {
        gst_caps_set_simple(caps, "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, channels,
                            nullptr);
        // flacdec refuses caps without a streamheader (it wants flacparse otherwise): hand it
        // the native stream start, "fLaC" + STREAMINFO.
        if (seq.size() >= 4 && seq[0] == 'f' && seq[1] == 'L' && seq[2] == 'a' && seq[3] == 'C') {
          GValue array = G_VALUE_INIT;
          GValue item = G_VALUE_INIT;
          g_value_init(&array, GST_TYPE_ARRAY);
          g_value_init(&item, GST_TYPE_BUFFER);
          GstBuffer* head = buffer_of(seq);
          GST_BUFFER_FLAG_SET(head, GST_BUFFER_FLAG_HEADER);
          gst_value_take_buffer(&item, head);
          gst_value_array_append_and_take_value(&array, &item);
          gst_structure_take_value(gst_caps_get_structure(caps, 0), "streamheader", &array);
        }
      }
      return caps;
    }
    case Codec::kAc3:
      return gst_caps_new_simple("audio/x-ac3", "framed", G_TYPE_BOOLEAN, TRUE, nullptr);
    case Codec::kEac3:
      return gst_caps_new_simple("audio/x-eac3", "framed", G_TYPE_BOOLEAN, TRUE, nullptr);
    case Codec::kPcmPlatformEndian:
    case Codec::kPcmLittleEndian:
      return gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING,
                                 (f.sound_size & 1) ? "S16LE" : "U8", "layout", G_TYPE_STRING,
                                 "interleaved", "rate", G_TYPE_INT, legacy_rate, "channels",
                                 G_TYPE_INT, legacy_channels, nullptr);
    case Codec::kAdpcm:
      return gst_caps_new_simple("audio/x-adpcm", "layout", G_TYPE_STRING, "swf", "rate",
                                 G_TYPE_INT, legacy_rate, "channels", G_TYPE_INT, legacy_channels,
                                 nullptr);
    case Codec::kNellymoser16kMono:
    case Codec::kNellymoser8kMono:
    case Codec::kNellymoser:
      return gst_caps_new_simple("audio/x-nellymoser", "rate", G_TYPE_INT,
                                 f.codec == Codec::kNellymoser16kMono  ? 16000
                                 : f.codec == Codec::kNellymoser8kMono ? 8000
                                                                       : legacy_rate,
                                 "channels", G_TYPE_INT,
                                 f.codec == Codec::kNellymoser ? legacy_channels : 1, nullptr);
    case Codec::kG711ALaw:
    case Codec::kG711MuLaw:
      return gst_caps_new_simple(f.codec == Codec::kG711ALaw ? "audio/x-alaw" : "audio/x-mulaw",
                                 "rate", G_TYPE_INT, 8000, "channels", G_TYPE_INT, legacy_channels,
                                 nullptr);
    case Codec::kSpeex:
      caps = gst_caps_new_simple("audio/x-speex", "rate", G_TYPE_INT, 16000, "channels", G_TYPE_INT,
                                 1, nullptr);
      set_speex_streamheader(caps);
      return caps;
    case Codec::kDeviceSpecific:
    case Codec::kUnknown:
      break;
  }
  return fail(error, std::string("no caps for codec ") + rtmp::codec_name(f.codec));
}

// H.273 chromaticity in E-RTMP (four decimals) <-> GStreamer's 0.00002 units.
guint16 to_chroma_units(double v) {
  return static_cast<guint16>(std::clamp(std::lround(v * 50000.0), 0L, 50000L));
}
double from_chroma_units(guint v) {
  return std::round(v / 50000.0 * 10000.0) / 10000.0;
}
// cd/m² <-> 0.0001 cd/m² (ST 2086).
guint32 to_luminance_units(double v) {
  return static_cast<guint32>(std::clamp(std::llround(v * 10000.0), 0LL, 0xFFFFFFFFLL));
}
guint16 to_light_level(double v) {
  return static_cast<guint16>(std::clamp(std::lround(v), 0L, 65535L));
}

}  // namespace

bool needs_sequence_header(Codec codec) {
  switch (codec) {
    case Codec::kAvc:
    case Codec::kHevc:
    case Codec::kVvc:
    case Codec::kAv1:
    case Codec::kAac:
      return true;
    default:
      return false;
  }
}

GstCaps* caps_for(const StreamFormat& f, std::string* error) {
  GstCaps* caps = codec_caps(f, error);
  if (!caps || !rtmp::is_video(f.codec)) return caps;
  if (f.metadata) add_metadata_fields(caps, *f.metadata);
  if (f.color_info) add_color_info_to_caps(caps, *f.color_info);
  return caps;
}

void add_color_info_to_caps(GstCaps* caps, const rtmp::ColorInfo& info) {
  if (const auto& cc = info.color_config) {
    GstVideoColorimetry c = {};
    c.range = GST_VIDEO_COLOR_RANGE_UNKNOWN;
    c.matrix = cc->matrix_coefficients ? gst_video_color_matrix_from_iso(*cc->matrix_coefficients)
                                       : GST_VIDEO_COLOR_MATRIX_UNKNOWN;
    c.transfer = cc->transfer_characteristics
                     ? gst_video_transfer_function_from_iso(*cc->transfer_characteristics)
                     : GST_VIDEO_TRANSFER_UNKNOWN;
    c.primaries = cc->color_primaries ? gst_video_color_primaries_from_iso(*cc->color_primaries)
                                      : GST_VIDEO_COLOR_PRIMARIES_UNKNOWN;
    if (c.matrix != GST_VIDEO_COLOR_MATRIX_UNKNOWN || c.transfer != GST_VIDEO_TRANSFER_UNKNOWN ||
        c.primaries != GST_VIDEO_COLOR_PRIMARIES_UNKNOWN) {
      gchar* text = gst_video_colorimetry_to_string(&c);
      gst_caps_set_simple(caps, "colorimetry", G_TYPE_STRING, text, nullptr);
      g_free(text);
    }
  }
  if (const auto& m = info.hdr_mdcv; m && m->red && m->green && m->blue && m->white_point &&
                                     m->max_luminance && m->min_luminance) {
    GstVideoMasteringDisplayInfo mdi;
    gst_video_mastering_display_info_init(&mdi);
    const rtmp::HdrMdcv::Xy* primaries[3] = {&*m->red, &*m->green, &*m->blue};
    for (int i = 0; i < 3; ++i) {
      mdi.display_primaries[i].x = to_chroma_units(primaries[i]->x);
      mdi.display_primaries[i].y = to_chroma_units(primaries[i]->y);
    }
    mdi.white_point.x = to_chroma_units(m->white_point->x);
    mdi.white_point.y = to_chroma_units(m->white_point->y);
    mdi.max_display_mastering_luminance = to_luminance_units(*m->max_luminance);
    mdi.min_display_mastering_luminance = to_luminance_units(*m->min_luminance);
    gst_video_mastering_display_info_add_to_caps(&mdi, caps);
  }
  if (const auto& cll = info.hdr_cll; cll && cll->max_cll && cll->max_fall) {
    GstVideoContentLightLevel level;
    gst_video_content_light_level_init(&level);
    level.max_content_light_level = to_light_level(*cll->max_cll);
    level.max_frame_average_light_level = to_light_level(*cll->max_fall);
    gst_video_content_light_level_add_to_caps(&level, caps);
  }
}

rtmp::ColorInfo color_info_from_caps(const GstCaps* caps) {
  rtmp::ColorInfo info;
  if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps)) return info;
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  rtmp::ColorConfig cc;
  bool have_config = false;
  GstVideoColorimetry c;
  if (const char* text = gst_structure_get_string(s, "colorimetry");
      text && gst_video_colorimetry_from_string(&c, text)) {
    if (c.primaries != GST_VIDEO_COLOR_PRIMARIES_UNKNOWN) {
      cc.color_primaries = static_cast<uint8_t>(gst_video_color_primaries_to_iso(c.primaries));
    }
    if (c.transfer != GST_VIDEO_TRANSFER_UNKNOWN) {
      cc.transfer_characteristics =
          static_cast<uint8_t>(gst_video_transfer_function_to_iso(c.transfer));
    }
    if (c.matrix != GST_VIDEO_COLOR_MATRIX_UNKNOWN) {
      cc.matrix_coefficients = static_cast<uint8_t>(gst_video_color_matrix_to_iso(c.matrix));
    }
    have_config = cc.color_primaries || cc.transfer_characteristics || cc.matrix_coefficients;
  }
  guint depth = 0;
  int depth_int = 0;
  if (gst_structure_get_uint(s, "bit-depth-luma", &depth) ||
      (gst_structure_get_int(s, "bit-depth-luma", &depth_int) && depth_int > 0 &&
       (depth = static_cast<guint>(depth_int)))) {
    if (depth >= 1 && depth <= 16) {
      cc.bit_depth = static_cast<uint8_t>(depth);
      have_config = true;
    }
  }
  if (have_config) info.color_config = cc;
  GstVideoMasteringDisplayInfo mdi;
  if (gst_video_mastering_display_info_from_caps(&mdi, caps)) {
    rtmp::HdrMdcv m;
    auto xy = [](const GstVideoMasteringDisplayInfoCoordinates& p) {
      return rtmp::HdrMdcv::Xy{from_chroma_units(p.x), from_chroma_units(p.y)};
    };
    m.red = xy(mdi.display_primaries[0]);
    m.green = xy(mdi.display_primaries[1]);
    m.blue = xy(mdi.display_primaries[2]);
    m.white_point = xy(mdi.white_point);
    m.max_luminance = mdi.max_display_mastering_luminance / 10000.0;
    m.min_luminance = mdi.min_display_mastering_luminance / 10000.0;
    info.hdr_mdcv = m;
  }
  GstVideoContentLightLevel level;
  if (gst_video_content_light_level_from_caps(&level, caps) &&
      (level.max_content_light_level || level.max_frame_average_light_level)) {
    info.hdr_cll = rtmp::HdrCll{static_cast<double>(level.max_frame_average_light_level),
                                static_cast<double>(level.max_content_light_level)};
  }
  return info;
}

}  // namespace gst_ertmp
