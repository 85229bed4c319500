// GstCaps -> FLV / E-RTMP packaging (push_format.h): the GStreamer side. The records
// themselves (avcC/hvcC checks, av1C, vpcC, OpusHead, FLAC STREAMINFO) are built and checked by
// protocol/codec_config.h; here they are taken from caps fields and buffers.
//   ASC    ISO/IEC 14496-3 §1.6.2.1 — codec_data, read with pbutils.
//   Opus   RFC 7845 §5.1 identification header — streamheader[0], from the caps' channel
//          mapping (pbutils), or generated for family 0.
#include "gst/push_format.h"

#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "gst/codec_caps.h"
#include "protocol/codec_config.h"

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

// --- VP8 / VP9 ----------------------------------------------------------------------------

// Colour from the caps' colorimetry (H.273 code points), for a vpcC built from caps.
void colour_from_caps(const GstStructure* s, rtmp::VpcConfig* c) {
  const char* colorimetry = gst_structure_get_string(s, "colorimetry");
  GstVideoColorimetry info;
  if (colorimetry && gst_video_colorimetry_from_string(&info, colorimetry)) {
    c->primaries = static_cast<uint8_t>(gst_video_color_primaries_to_iso(info.primaries));
    c->transfer = static_cast<uint8_t>(gst_video_transfer_function_to_iso(info.transfer));
    c->matrix = static_cast<uint8_t>(gst_video_color_matrix_to_iso(info.matrix));
    c->full_range = info.range == GST_VIDEO_COLOR_RANGE_0_255;
  }
}

// A vpcC from what a key frame says, at the level the caps' size and rate give.
std::vector<uint8_t> vpcc_from_frame(const PushFormat& f, const rtmp::VpFrameInfo& info) {
  rtmp::VpcConfig c;
  c.profile = info.profile;
  c.level = rtmp::vp9_level(f.width, f.height, f.fps_n, f.fps_d);
  c.bit_depth = info.bit_depth;
  c.chroma = info.chroma;
  if (info.has_colour) {
    c.matrix = info.matrix;
    c.full_range = info.full_range;
  }
  return rtmp::build_vpcc(c);
}

// --- audio --------------------------------------------------------------------------------

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
    f->sequence_header =
        rtmp::opus_head_family0(static_cast<uint32_t>(rate), static_cast<uint8_t>(channels));
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

// The FLAC sequence header from flacenc/flacparse streamheaders (protocol/codec_config.h).
bool flac_header_from_caps(const GstStructure* s, PushFormat* f, std::string* error) {
  auto headers = stream_headers(s);
  std::vector<rtmp::Bytes> views(headers.begin(), headers.end());
  auto c = rtmp::flac_config_from_headers(views);
  if (!c.ok()) return fail(error, c.error().detail);
  f->sequence_header = std::move(c->sequence_header);
  if (!f->rate) f->rate = static_cast<int>(c->rate);
  if (!f->channels) f->channels = c->channels;
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

// A codec_config check as this file's bool + error string.
bool checked(rtmp::Status st, std::string* error) {
  return st.ok() || fail(error, st.error().detail);
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
    if (!checked(rtmp::check_avcc(*c), error)) return false;
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
    if (!checked(rtmp::check_hvcc(*c), error)) return false;
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
      if (!checked(rtmp::check_av1c(*c), error)) return false;
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
    rtmp::VpcConfig info;
    bool known = false;
    if (profile == "0") {
      known = true;
    } else if (profile == "1" || profile == "2" || profile == "3") {
      info.profile = static_cast<uint8_t>(profile[0] - '0');
      info.bit_depth = static_cast<uint8_t>(info.profile >= 2 ? depth : 8);
      bool depth_known = info.profile < 2 || depth == 10 || depth == 12;
      bool chroma_known = info.profile == 2;
      if (chroma == "4:2:0") {
        info.chroma = rtmp::kVpChroma420Vertical;
        chroma_known = true;
      } else if (chroma == "4:2:2") {
        info.chroma = rtmp::kVpChroma422;
        chroma_known = true;
      } else if (chroma == "4:4:4") {
        info.chroma = rtmp::kVpChroma444;
        chroma_known = true;
      }
      known = depth_known && chroma_known;
    }
    if (known) {
      info.level = rtmp::vp9_level(f->width, f->height, f->fps_n, f->fps_d);
      colour_from_caps(s, &info);
      f->sequence_header = rtmp::build_vpcc(info);
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
  if (f.video) f.color_info = color_info_from_caps(caps);
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
      thread_local std::vector<rtmp::Av1Obu> obus;  // scratch: no allocation per frame
      if (!checked(rtmp::split_av1_obus(in, obus), error)) return false;
      if (format.sequence_header_pending) {
        auto av1c = rtmp::av1c_from_temporal_unit(in, obus);
        if (!av1c.ok()) return fail(error, av1c.error().detail);
        format.sequence_header = std::move(*av1c);
        format.sequence_header_pending = false;
      }
      *as_is = !rtmp::strip_av1_temporal_delimiters(in, obus, out);
      return true;
    }
    case Codec::kVp9:
    case Codec::kVp8: {
      if (!format.sequence_header_pending) return true;
      auto info = format.codec == Codec::kVp9 ? rtmp::vp9_frame_info(in) : rtmp::vp8_frame_info(in);
      if (!info.ok()) return fail(error, info.error().detail);
      if (!*info) return true;  // not a key frame: the header stays pending
      format.sequence_header = vpcc_from_frame(format, **info);
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
