// push_format.cpp: caps from real encoders -> sequence header + frame payloads, proven by the
// round trip a receiver makes (codec_caps.h caps_for() on the sequence header, then a real
// decoder fed with the payloads); plus hand-made bytes for AV1, VP9, FLAC and the error cases.
#include "gst/push_format.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "gst/codec_caps.h"
#include "tests/interop/rtmp_peers.h"

namespace gst_ertmp {
namespace {

using rtmp::Codec;

class GstEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { gst_init(nullptr, nullptr); }
};
const auto* const kGstEnvironment = ::testing::AddGlobalTestEnvironment(new GstEnvironment);

bool have(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    GstElementFactory* f = gst_element_factory_find(n);
    if (!f) return false;
    gst_object_unref(f);
  }
  return true;
}

// The elements named and the Debian packages that hold them, for ERTMP_REQUIRE's message.
std::string elements_and_packages(std::initializer_list<const char*> names) {
  static const std::pair<const char*, const char*> kByPrefix[] = {
      {"avenc_", "gstreamer1.0-libav"},          {"avdec_", "gstreamer1.0-libav"},
      {"x264", "gstreamer1.0-plugins-ugly"},     {"x265", "gstreamer1.0-plugins-bad"},
      {"h265parse", "gstreamer1.0-plugins-bad"}, {"av1", "gstreamer1.0-plugins-bad"},
      {"opus", "gstreamer1.0-plugins-base"},     {"", "gstreamer1.0-plugins-good"},
  };
  std::string out;
  for (const char* n : names) {
    for (const auto& [prefix, package] : kByPrefix) {
      if (std::string(n).rfind(prefix, 0) != 0) continue;
      out += std::string(out.empty() ? "" : ", ") + n + " (" + package + ")";
      break;
    }
  }
  return out;
}

#define REQUIRE_ELEMENTS(...) \
  ERTMP_REQUIRE(have({__VA_ARGS__}), elements_and_packages({__VA_ARGS__}))

struct Frame {
  std::vector<uint8_t> data;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime dts = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  guint flags = 0;
};

GstBuffer* buffer_of(const Frame& f) {
  GstBuffer* b = gst_buffer_new_memdup(f.data.data(), f.data.size());
  GST_BUFFER_PTS(b) = f.pts;
  GST_BUFFER_DTS(b) = f.dts;
  GST_BUFFER_DURATION(b) = f.duration;
  GST_BUFFER_FLAG_SET(b, f.flags);
  return b;
}

std::string bus_error(GstElement* pipe) {
  GstBus* bus = gst_element_get_bus(pipe);
  std::string out;
  if (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* err = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &err, &dbg);
    out = std::string(err->message) + " (" + (dbg ? dbg : "") + ")";
    g_error_free(err);
    g_free(dbg);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

constexpr gint64 kPipelineBudget = 120 * G_TIME_SPAN_SECOND;

// Pulls from appsink `sink` until EOS, an error or the time budget runs out.
std::string drain(GstElement* pipe, GstElement* sink, std::vector<Frame>* frames, GstCaps** caps) {
  gint64 deadline = g_get_monotonic_time() + kPipelineBudget;
  for (;;) {
    if (g_get_monotonic_time() > deadline) return "timed out";
    GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), GST_SECOND / 4);
    if (!s) {
      if (gst_app_sink_is_eos(GST_APP_SINK(sink))) return bus_error(pipe);
      std::string e = bus_error(pipe);
      if (!e.empty()) return e;
      continue;
    }
    if (caps && !*caps) *caps = gst_caps_ref(gst_sample_get_caps(s));
    GstBuffer* b = gst_sample_get_buffer(s);
    Frame f;
    f.data.resize(gst_buffer_get_size(b));
    gst_buffer_extract(b, 0, f.data.data(), f.data.size());
    f.pts = GST_BUFFER_PTS(b);
    f.dts = GST_BUFFER_DTS(b);
    f.duration = GST_BUFFER_DURATION(b);
    f.flags = GST_BUFFER_FLAGS(b) & (GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_DELTA_UNIT);
    frames->push_back(std::move(f));
    gst_sample_unref(s);
  }
}

struct Encoded {
  GstCaps* caps = nullptr;
  std::vector<Frame> frames;
  std::string error;
  Encoded() = default;
  Encoded(const Encoded&) = delete;
  Encoded& operator=(const Encoded&) = delete;
  ~Encoded() {
    if (caps) gst_caps_unref(caps);
  }
};

// Runs `launch` + " ! appsink name=sink" to EOS and keeps the caps and every buffer.
void encode(const std::string& launch, Encoded* e) {
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch((launch + " ! appsink name=sink sync=false").c_str(), &err);
  if (!pipe) {
    e->error = err ? err->message : "parse failed";
    if (err) g_error_free(err);
    return;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  e->error = drain(pipe, sink, &e->frames, &e->caps);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipe);
}

// Feeds `frames` with `caps` into `chain` and counts what comes out of it.
struct Decoded {
  size_t buffers = 0;
  std::string error;
  std::string caps;  // output caps
};
Decoded decode(GstCaps* caps, const std::string& chain, const std::vector<Frame>& frames) {
  Decoded d;
  GError* err = nullptr;
  std::string launch = "appsrc name=src format=time ! " + chain + " ! appsink name=out sync=false";
  GstElement* pipe = gst_parse_launch(launch.c_str(), &err);
  if (!pipe) {
    d.error = err ? err->message : "parse failed";
    if (err) g_error_free(err);
    return d;
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement* out = gst_bin_get_by_name(GST_BIN(pipe), "out");
  g_object_set(src, "caps", caps, nullptr);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  for (const Frame& f : frames) gst_app_src_push_buffer(GST_APP_SRC(src), buffer_of(f));
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  std::vector<Frame> decoded;
  GstCaps* out_caps = nullptr;
  d.error = drain(pipe, out, &decoded, &out_caps);
  d.buffers = decoded.size();
  if (out_caps) {
    gchar* s = gst_caps_to_string(out_caps);
    d.caps = s;
    g_free(s);
    gst_caps_unref(out_caps);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(out);
  gst_object_unref(pipe);
  return d;
}

// What rtmppushsink sends: the format, and per buffer (headers skipped) the payload.
struct Packaged {
  PushFormat format;
  std::vector<Frame> payloads;
  size_t headers_skipped = 0;
  size_t copied = 0;  // payloads that were not as_is
  std::string error;
};
Packaged package(const Encoded& e) {
  Packaged p;
  auto f = push_format_from_caps(e.caps, &p.error);
  if (!f) return p;
  p.format = *f;
  for (const Frame& fr : e.frames) {
    GstBuffer* b = buffer_of(fr);
    bool header = is_stream_header_buffer(p.format, b);
    gst_buffer_unref(b);
    if (header) {
      ++p.headers_skipped;
      continue;
    }
    std::vector<uint8_t> out;
    bool as_is = false;
    if (!frame_payload(p.format, fr.data, out, &as_is, &p.error)) return p;
    Frame payload = fr;
    if (!as_is) {
      payload.data = std::move(out);
      ++p.copied;
    }
    p.payloads.push_back(std::move(payload));
  }
  return p;
}

// The receiver's caps for what was sent (codec_caps.h).
GstCaps* receiver_caps(const PushFormat& f) {
  StreamFormat sf;
  sf.codec = f.codec;
  sf.sequence_header = f.sequence_header;
  sf.sound_rate = f.sound_rate;
  sf.sound_size = f.sound_size;
  sf.sound_type = f.sound_type;
  std::string error;
  GstCaps* caps = caps_for(sf, &error);
  EXPECT_NE(caps, nullptr) << error;
  return caps;
}

std::vector<uint8_t> caps_buffer(const GstCaps* caps, const char* field, guint index = 0) {
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const GValue* v = gst_structure_get_value(s, field);
  if (!v) return {};
  if (GST_VALUE_HOLDS_ARRAY(v)) v = gst_value_array_get_value(v, index);
  GstBuffer* b = gst_value_get_buffer(v);
  std::vector<uint8_t> out(gst_buffer_get_size(b));
  gst_buffer_extract(b, 0, out.data(), out.size());
  return out;
}

GstCaps* caps_from(const char* s) {
  GstCaps* c = gst_caps_from_string(s);
  EXPECT_NE(c, nullptr) << s;
  return c;
}

std::optional<PushFormat> from_string(const char* s, std::string* error) {
  GstCaps* c = caps_from(s);
  auto f = push_format_from_caps(c, error);
  gst_caps_unref(c);
  return f;
}

// Caps with a buffer field set from bytes (codec_data / streamheader).
GstCaps* caps_with_buffer(const char* s, const char* field, const std::vector<uint8_t>& bytes) {
  GstCaps* c = caps_from(s);
  GstBuffer* b = gst_buffer_new_memdup(bytes.data(), bytes.size());
  gst_caps_set_simple(c, field, GST_TYPE_BUFFER, b, nullptr);
  gst_buffer_unref(b);
  return c;
}

GstCaps* caps_with_streamheader(const char* s, const std::vector<std::vector<uint8_t>>& hs) {
  GstCaps* c = caps_from(s);
  GValue array = G_VALUE_INIT;
  g_value_init(&array, GST_TYPE_ARRAY);
  for (const auto& h : hs) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_BUFFER);
    GstBuffer* b = gst_buffer_new_memdup(h.data(), h.size());
    GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_HEADER);
    gst_value_set_buffer(&v, b);
    gst_buffer_unref(b);
    gst_value_array_append_and_take_value(&array, &v);
  }
  gst_structure_take_value(gst_caps_get_structure(c, 0), "streamheader", &array);
  return c;
}

const char* kVideo64 =
    "videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48,framerate=30/1";

// --- AV1 OBU helpers for hand-made bytes ----------------------------------------------

// OBU with obu_has_size_field = 1 (one-byte leb128 for payloads < 128 bytes).
std::vector<uint8_t> obu(uint8_t type, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> o = {static_cast<uint8_t>((type << 3) | 0x02),
                            static_cast<uint8_t>(payload.size())};
  o.insert(o.end(), payload.begin(), payload.end());
  return o;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Walks OBUs (all with size fields) and returns their types.
std::vector<uint8_t> obu_types(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> types;
  size_t pos = 0;
  while (pos < data.size()) {
    uint8_t h = data[pos];
    types.push_back(static_cast<uint8_t>((h >> 3) & 0x0F));
    size_t p = pos + 1 + ((h & 0x04) ? 1 : 0);
    if (!(h & 0x02)) break;  // no size field: the rest of the buffer
    uint64_t size = 0;
    for (int i = 0; p < data.size(); ++i) {
      uint8_t b = data[p++];
      size |= uint64_t{b & 0x7Fu} << (7 * i);
      if (!(b & 0x80)) break;
    }
    pos = p + size;
  }
  return types;
}

// ==== H.264 ================================================================================

TEST(PushFormat, H264FromX264RoundTripsThroughAvdec) {
  REQUIRE_ELEMENTS("x264enc", "avdec_h264");
  Encoded e;
  encode(std::string(kVideo64) + ",format=I420 ! x264enc ! video/x-h264,stream-format=avc", &e);
  ASSERT_EQ(e.error, "");
  ASSERT_EQ(e.frames.size(), 10u);
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kAvc);
  EXPECT_TRUE(p.format.video);
  EXPECT_TRUE(p.format.has_legacy_form);
  EXPECT_FALSE(p.format.sequence_header_pending);
  EXPECT_EQ(p.format.sequence_header, caps_buffer(e.caps, "codec_data"));
  EXPECT_EQ(p.format.width, 64);
  EXPECT_EQ(p.format.height, 48);
  EXPECT_EQ(p.format.fps_n, 30);
  EXPECT_EQ(p.format.fps_d, 1);
  EXPECT_EQ(p.copied, 0u);
  EXPECT_EQ(p.payloads.size(), 10u);
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "avdec_h264", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.buffers, 10u);
}

TEST(PushFormat, H264ByteStreamIsRefusedWithAHint) {
  std::string error;
  EXPECT_FALSE(from_string("video/x-h264,stream-format=byte-stream,alignment=au", &error));
  EXPECT_NE(error.find("needs stream-format=avc (put h264parse before)"), std::string::npos)
      << error;
}

TEST(PushFormat, H264GarbageCodecDataIsRefused) {
  std::string error;
  for (std::vector<uint8_t> bad :
       {std::vector<uint8_t>{0x01, 0x64},
        std::vector<uint8_t>{0x00, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x04},
        // one SPS announced 0x40 bytes long, 2 present
        std::vector<uint8_t>{0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x40, 0x67, 0x64}}) {
    GstCaps* c = caps_with_buffer("video/x-h264,stream-format=avc,alignment=au", "codec_data", bad);
    error.clear();
    EXPECT_FALSE(push_format_from_caps(c, &error));
    EXPECT_NE(error.find("AVCDecoderConfigurationRecord"), std::string::npos) << error;
    gst_caps_unref(c);
  }
  EXPECT_FALSE(from_string("video/x-h264,stream-format=avc,alignment=au", &error));
  EXPECT_NE(error.find("codec_data"), std::string::npos) << error;
}

// ==== H.265 ================================================================================

TEST(PushFormat, H265FromX265RoundTripsThroughAvdec) {
  REQUIRE_ELEMENTS("x265enc", "h265parse", "avdec_h265");
  for (const char* format : {"hvc1", "hev1"}) {
    Encoded e;
    encode(std::string(kVideo64) +
               ",format=I420 ! x265enc ! h265parse ! video/x-h265,stream-format=" + format +
               ",alignment=au",
           &e);
    ASSERT_EQ(e.error, "");
    Packaged p = package(e);
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.format.codec, Codec::kHevc);
    EXPECT_FALSE(p.format.has_legacy_form);
    EXPECT_EQ(p.format.sequence_header, caps_buffer(e.caps, "codec_data"));
    EXPECT_EQ(p.copied, 0u);
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    Decoded d = decode(caps, "avdec_h265", p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << format;
    EXPECT_EQ(d.buffers, 10u) << format;
  }
}

TEST(PushFormat, H265ByteStreamAndBadHvcCAreRefused) {
  std::string error;
  EXPECT_FALSE(from_string("video/x-h265,stream-format=byte-stream,alignment=au", &error));
  EXPECT_NE(error.find("h265parse"), std::string::npos) << error;
  std::vector<uint8_t> hvcc(23, 0);
  hvcc[0] = 1;
  hvcc[22] = 1;  // one array announced, none present
  GstCaps* c = caps_with_buffer("video/x-h265,stream-format=hvc1,alignment=au", "codec_data", hvcc);
  EXPECT_FALSE(push_format_from_caps(c, &error));
  EXPECT_NE(error.find("HEVCDecoderConfigurationRecord"), std::string::npos) << error;
  gst_caps_unref(c);
}

// ==== AV1 ==================================================================================

// The byte-level AV1 work (OBU split, av1C, temporal delimiters) is tested with byte tables in
// tests/protocol/codec_config_test.cpp; here: the caps side and the state frame_payload keeps.
TEST(PushFormat, Av1PendingHeaderStaysPendingOnABadFirstUnitAndCapsAreChecked) {
  std::string error;
  PushFormat f = *from_string("video/x-av1,stream-format=obu-stream,alignment=tu", &error);
  ASSERT_TRUE(f.sequence_header_pending);
  std::vector<uint8_t> out;
  bool as_is = false;
  EXPECT_FALSE(frame_payload(f, cat({obu(2, {}), obu(6, {1})}), out, &as_is, &error));
  EXPECT_NE(error.find("no sequence header"), std::string::npos) << error;
  EXPECT_FALSE(frame_payload(f, std::vector<uint8_t>{0x32, 0x05, 0x01}, out, &as_is, &error));
  EXPECT_NE(error.find("beyond"), std::string::npos) << error;
  EXPECT_TRUE(f.sequence_header_pending);
  // With codec_data the header is known and a TD-free unit goes as is.
  PushFormat g = *from_string(
      "video/x-av1,stream-format=obu-stream,alignment=tu,codec_data=(buffer)81000c00", &error);
  EXPECT_FALSE(g.sequence_header_pending);
  EXPECT_TRUE(frame_payload(g, obu(6, {1, 2}), out, &as_is, &error)) << error;
  EXPECT_TRUE(as_is);
  EXPECT_TRUE(frame_payload(g, cat({obu(2, {}), obu(6, {1, 2})}), out, &as_is, &error));
  EXPECT_FALSE(as_is);
  EXPECT_EQ(out, obu(6, {1, 2}));
  // Other stream formats / alignments, and a malformed av1C, are refused.
  EXPECT_FALSE(from_string("video/x-av1,stream-format=annexb,alignment=tu", &error));
  EXPECT_FALSE(from_string("video/x-av1,stream-format=obu-stream,alignment=obu", &error));
  GstCaps* c = caps_with_buffer("video/x-av1,stream-format=obu-stream,alignment=tu", "codec_data",
                                {0x01, 0x00, 0x0C, 0x00});
  EXPECT_FALSE(push_format_from_caps(c, &error));
  gst_caps_unref(c);
}

// Real libaom output: fields cross-checked against what av1parse reads from the same stream,
// and the packaged stream decodes.
TEST(PushFormat, Av1FromAv1encRoundTripsThroughAv1dec) {
  REQUIRE_ELEMENTS("av1enc", "av1parse", "av1dec");
  struct Case {
    const char* format;
    int profile;
    uint8_t sx, sy;
  };
  for (const Case& c : {Case{"I420", 0, 1, 1}, Case{"Y444", 1, 0, 0}, Case{"Y42B", 2, 1, 0}}) {
    Encoded e;
    encode(
        std::string(
            "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48,framerate=30/1,format=") +
            c.format +
            " ! av1enc cpu-used=8 ! av1parse ! video/x-av1,stream-format=obu-stream,alignment=tu",
        &e);
    ASSERT_EQ(e.error, "") << c.format;
    ASSERT_EQ(e.frames.size(), 5u) << c.format;
    bool input_had_td = false;
    for (const auto& fr : e.frames) {
      for (uint8_t t : obu_types(fr.data)) input_had_td |= t == 2;
    }
    Packaged p = package(e);
    ASSERT_EQ(p.error, "") << c.format;
    EXPECT_EQ(p.format.codec, Codec::kAv1);
    EXPECT_FALSE(p.format.has_legacy_form);
    EXPECT_FALSE(p.format.sequence_header_pending);
    const auto& av1c = p.format.sequence_header;
    ASSERT_GE(av1c.size(), 6u);
    EXPECT_EQ(av1c[0], 0x81);
    EXPECT_EQ(av1c[1] >> 5, c.profile) << c.format;
    EXPECT_EQ((av1c[2] >> 6) & 1, 0) << "high_bitdepth";
    EXPECT_EQ((av1c[2] >> 4) & 1, 0) << "monochrome";
    EXPECT_EQ((av1c[2] >> 3) & 1, c.sx) << c.format;
    EXPECT_EQ((av1c[2] >> 2) & 1, c.sy) << c.format;
    EXPECT_EQ((av1c[4] >> 3) & 0x0F, 1) << "configOBUs start with the sequence header";
    const GstStructure* s = gst_caps_get_structure(e.caps, 0);
    static const char* kProfiles[] = {"main", "high", "professional"};
    EXPECT_STREQ(gst_structure_get_string(s, "profile"), kProfiles[c.profile]);
    for (const auto& pl : p.payloads) {
      for (uint8_t t : obu_types(pl.data)) EXPECT_NE(t, 2) << "temporal delimiter left";
    }
    EXPECT_TRUE(input_had_td) << "libaom writes temporal delimiters: the stripping is exercised";
    EXPECT_EQ(p.copied, p.payloads.size());
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    Decoded d = decode(caps, "av1dec", p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << c.format;
    EXPECT_EQ(d.buffers, 5u) << c.format;
  }
}

// Every prefix of a real first temporal unit and random bytes: a clean error or a valid result,
// never a read past the end.
TEST(PushFormat, Av1FirstTemporalUnitAtEveryTruncationAndRandomBytes) {
  REQUIRE_ELEMENTS("av1enc");
  Encoded e;
  encode(std::string("videotestsrc num-buffers=1 ! video/x-raw,width=64,height=48,format=I420") +
             " ! av1enc cpu-used=8 ! video/x-av1,alignment=tu",
         &e);
  ASSERT_EQ(e.error, "");
  ASSERT_FALSE(e.frames.empty());
  const std::vector<uint8_t>& tu = e.frames[0].data;
  size_t accepted = 0;
  for (size_t n = 0; n <= tu.size(); ++n) {
    std::string error;
    PushFormat f = *from_string("video/x-av1,stream-format=obu-stream,alignment=tu", &error);
    std::vector<uint8_t> prefix(tu.begin(), tu.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<uint8_t> out;
    bool as_is = false;
    if (frame_payload(f, prefix, out, &as_is, &error)) {
      ++accepted;
      ASSERT_GE(f.sequence_header.size(), 6u) << n;
      EXPECT_EQ(f.sequence_header[0], 0x81);
      EXPECT_LE(out.size(), prefix.size());
    } else {
      EXPECT_FALSE(error.empty());
      EXPECT_TRUE(f.sequence_header_pending);
    }
  }
  EXPECT_GE(accepted, 1u);  // at least the whole unit
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> junk(rng() % 48);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    std::string error;
    PushFormat f = *from_string("video/x-av1,stream-format=obu-stream,alignment=tu", &error);
    std::vector<uint8_t> out;
    bool as_is = false;
    if (frame_payload(f, junk, out, &as_is, &error)) {
      EXPECT_FALSE(f.sequence_header_pending);
      EXPECT_LE(out.size(), junk.size());
    }
    PushFormat v = *from_string("video/x-vp9", &error);
    if (frame_payload(v, junk, out, &as_is, &error) && !v.sequence_header_pending) {
      ASSERT_EQ(v.sequence_header.size(), 12u);
      EXPECT_LE(v.sequence_header[4], 3);
    }
  }
}

// ==== VP9 / VP8 ============================================================================

TEST(PushFormat, Vp9ProfileZeroCapsGiveTheVpcCAtOnce) {
  std::string error;
  auto f = from_string(
      "video/x-vp9,profile=(string)0,width=1920,height=1080,framerate=30/1,colorimetry=bt709",
      &error);
  ASSERT_TRUE(f) << error;
  EXPECT_FALSE(f->sequence_header_pending);
  EXPECT_FALSE(f->has_legacy_form);
  // version 1, flags 0, profile 0, level 4.0, 8-bit 4:2:0 limited, BT.709 (1/1/1), no init data
  EXPECT_EQ(f->sequence_header, (std::vector<uint8_t>{1, 0, 0, 0, 0, 40, 0x80, 1, 1, 1, 0, 0}));
}

TEST(PushFormat, Vp9FromVp9encRoundTripsThroughVp9dec) {
  REQUIRE_ELEMENTS("vp9enc", "vp9dec");
  struct Case {
    const char* format;
    const char* caps_override;  // replaces the encoder's caps (nullptr: keep)
    uint8_t profile, depth, chroma;
    bool pending;
  };
  const Case cases[] = {
      {"I420", nullptr, 0, 8, 0, false},
      {"I420", "video/x-vp9,width=64,height=48,framerate=30/1", 0, 8, 0, true},  // no profile
      {"Y444", nullptr, 1, 8, 3, true},
      {"I420_10LE", nullptr, 2, 10, 0, true},
  };
  for (const Case& c : cases) {
    Encoded e;
    encode(std::string(kVideo64) + ",format=" + c.format + " ! vp9enc deadline=1", &e);
    ASSERT_EQ(e.error, "") << c.format;
    if (c.caps_override) {
      gst_caps_unref(e.caps);
      e.caps = caps_from(c.caps_override);
    }
    std::string error;
    auto initial = push_format_from_caps(e.caps, &error);
    ASSERT_TRUE(initial) << error;
    EXPECT_EQ(initial->sequence_header_pending, c.pending) << c.format;
    Packaged p = package(e);
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.format.codec, Codec::kVp9);
    EXPECT_FALSE(p.format.sequence_header_pending);
    EXPECT_EQ(p.copied, 0u);
    const auto& v = p.format.sequence_header;
    ASSERT_EQ(v.size(), 12u);
    EXPECT_EQ(v[0], 1);
    EXPECT_EQ(v[4], c.profile) << c.format;
    EXPECT_EQ(v[5], 10) << "64x48 at 30 fps is level 1";
    EXPECT_EQ(v[6] >> 4, c.depth) << c.format;
    EXPECT_EQ((v[6] >> 1) & 7, c.chroma) << c.format;
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    EXPECT_EQ(std::string(gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile")),
              std::to_string(c.profile));
    Decoded d = decode(caps, "vp9dec", p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << c.format;
    EXPECT_EQ(d.buffers, 10u) << c.format;
  }
}

TEST(PushFormat, Vp9PendingHeaderWaitsForAKeyFrame) {
  std::string error;
  PushFormat f = *from_string("video/x-vp9", &error);
  ASSERT_TRUE(f.sequence_header_pending);
  std::vector<uint8_t> out;
  bool as_is = false;
  // frame_marker 2, profile 0, show_existing_frame 0, frame_type 1 (inter), ...
  EXPECT_TRUE(frame_payload(f, std::vector<uint8_t>{0x84, 0x00, 0x00}, out, &as_is, &error));
  EXPECT_TRUE(f.sequence_header_pending);
  // Key frame missing its sync code: malformed.
  EXPECT_FALSE(
      frame_payload(f, std::vector<uint8_t>{0x80, 0x12, 0x34, 0x56, 0x00}, out, &as_is, &error));
  EXPECT_FALSE(frame_payload(f, std::vector<uint8_t>{0x40}, out, &as_is, &error));  // marker
  // Profile 1 key frame, 8-bit, colour space BT.709, 4:2:2 (sx 1, sy 0).
  //   10 1 0 | 0 0 0 0 | sync 49 83 42 | cs 010 range 0 sx 1 sy 0 reserved 0
  std::vector<uint8_t> key = {0xA0, 0x49, 0x83, 0x42, 0x48, 0x00};
  EXPECT_TRUE(frame_payload(f, key, out, &as_is, &error)) << error;
  EXPECT_FALSE(f.sequence_header_pending);
  ASSERT_EQ(f.sequence_header.size(), 12u);
  EXPECT_EQ(f.sequence_header[4], 1);
  EXPECT_EQ(f.sequence_header[6], 0x80 | (2 << 1));
  EXPECT_EQ(f.sequence_header[9], 1) << "color_space BT.709 -> matrix 1";
  // Profile 1 CS_RGB (4:4:4): full range, identity matrix.
  PushFormat g = *from_string("video/x-vp9", &error);
  std::vector<uint8_t> rgb = {0xA0, 0x49, 0x83, 0x42, 0xE0, 0x00};  // cs 111, reserved 0
  EXPECT_TRUE(frame_payload(g, rgb, out, &as_is, &error)) << error;
  ASSERT_EQ(g.sequence_header.size(), 12u);
  EXPECT_EQ(g.sequence_header[6], 0x80 | (3 << 1) | 1);
  EXPECT_EQ(g.sequence_header[9], 0);
}

TEST(PushFormat, Vp8FromVp8encRoundTripsThroughVp8dec) {
  REQUIRE_ELEMENTS("vp8enc", "vp8dec");
  Encoded e;
  encode(std::string(kVideo64) + ",format=I420 ! vp8enc deadline=1", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kVp8);
  EXPECT_FALSE(p.format.sequence_header_pending);
  ASSERT_EQ(p.format.sequence_header.size(), 12u);
  EXPECT_EQ(p.format.sequence_header[4], 0) << "profile (frame tag version)";
  EXPECT_EQ(p.format.sequence_header[6] >> 4, 8);
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "vp8dec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.buffers, 10u);
}

// ==== AAC ==================================================================================

TEST(PushFormat, AacFromAvencAacRoundTripsThroughAvdec) {
  REQUIRE_ELEMENTS("avenc_aac", "avdec_aac");
  Encoded e;
  encode("audiotestsrc num-buffers=20 ! audio/x-raw,rate=44100,channels=1 ! avenc_aac", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kAac);
  EXPECT_FALSE(p.format.video);
  EXPECT_TRUE(p.format.has_legacy_form);
  EXPECT_EQ(p.format.sequence_header, caps_buffer(e.caps, "codec_data"));
  // FLV: AAC always signals 44 kHz / 16-bit / stereo, even for this mono stream.
  EXPECT_EQ(p.format.sound_rate, 3);
  EXPECT_EQ(p.format.sound_size, 1);
  EXPECT_EQ(p.format.sound_type, 1);
  EXPECT_EQ(p.format.rate, 44100);
  EXPECT_EQ(p.format.channels, 1);
  EXPECT_EQ(p.headers_skipped, 0u);
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "avdec_aac", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GE(d.buffers + 2, p.payloads.size());
  EXPECT_NE(d.caps.find("channels=(int)1"), std::string::npos) << d.caps;
}

TEST(PushFormat, AacAdtsMissingOrGarbageCodecDataIsRefused) {
  std::string error;
  EXPECT_FALSE(
      from_string("audio/mpeg,mpegversion=4,stream-format=adts,rate=44100,channels=2", &error));
  EXPECT_NE(error.find("stream-format=raw"), std::string::npos) << error;
  EXPECT_FALSE(
      from_string("audio/mpeg,mpegversion=4,stream-format=raw,rate=44100,channels=2", &error));
  EXPECT_NE(error.find("codec_data"), std::string::npos) << error;
  for (std::vector<uint8_t> bad : {std::vector<uint8_t>{0x12}, std::vector<uint8_t>{0x17, 0x88}}) {
    // one byte; sampling index 14 (reserved)
    GstCaps* c = caps_with_buffer("audio/mpeg,mpegversion=4,stream-format=raw", "codec_data", bad);
    EXPECT_FALSE(push_format_from_caps(c, &error));
    EXPECT_NE(error.find("AudioSpecificConfig"), std::string::npos) << error;
    gst_caps_unref(c);
  }
  // MPEG-2 AAC with an ASC is fine.
  GstCaps* c =
      caps_with_buffer("audio/mpeg,mpegversion=2,stream-format=raw", "codec_data", {0x12, 0x10});
  auto f = push_format_from_caps(c, &error);
  gst_caps_unref(c);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->rate, 44100);
  EXPECT_EQ(f->channels, 2);
}

// ==== Opus =================================================================================

TEST(PushFormat, OpusFromOpusencSkipsHeadersAndRoundTrips) {
  REQUIRE_ELEMENTS("opusenc", "opusdec");
  Encoded e;
  encode("audiotestsrc num-buffers=20 ! audio/x-raw,rate=48000,channels=2 ! opusenc", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kOpus);
  EXPECT_FALSE(p.format.has_legacy_form);
  EXPECT_EQ(p.format.sequence_header, caps_buffer(e.caps, "streamheader", 0));
  // opusenc 1.22 carries OpusHead/OpusTags in caps only; any in-band copy must be skipped.
  size_t in_band_headers = 0;
  for (const auto& fr : e.frames) {
    in_band_headers += fr.data.size() >= 8 && (std::memcmp(fr.data.data(), "OpusHead", 8) == 0 ||
                                               std::memcmp(fr.data.data(), "OpusTags", 8) == 0);
  }
  EXPECT_EQ(p.headers_skipped, in_band_headers);
  for (const auto& pl : p.payloads) {
    ASSERT_GE(pl.data.size(), 8u);
    EXPECT_NE(std::memcmp(pl.data.data(), "Opus", 4), 0);
  }
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "opusdec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GE(d.buffers + 2, p.payloads.size());
  EXPECT_GT(d.buffers, 0u);
  EXPECT_NE(d.caps.find("channels=(int)2"), std::string::npos) << d.caps;
}

TEST(PushFormat, SurroundOpusFromOpusencRoundTrips) {
  REQUIRE_ELEMENTS("opusenc", "opusdec");
  Encoded e;
  encode("audiotestsrc num-buffers=10 ! audio/x-raw,rate=48000,channels=6 ! opusenc", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  ASSERT_GE(p.format.sequence_header.size(), 19u + 2 + 6);
  EXPECT_EQ(p.format.sequence_header[18], 1) << "channel mapping family 1";
  EXPECT_EQ(p.format.channels, 6);
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "opusdec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GT(d.buffers, 0u);
  EXPECT_NE(d.caps.find("channels=(int)6"), std::string::npos) << d.caps;
}

TEST(PushFormat, OpusHeadIsGeneratedFromCapsWithoutStreamheader) {
  std::string error;
  auto f = from_string("audio/x-opus,rate=48000,channels=2,channel-mapping-family=0", &error);
  ASSERT_TRUE(f) << error;
  const std::vector<uint8_t> expected = {'O', 'p', 'u',  's',  'H', 'e', 'a', 'd', 1, 2,
                                         0,   0,   0x80, 0xBB, 0,   0,   0,   0,   0};
  EXPECT_EQ(f->sequence_header, expected);
  GstCaps* caps = receiver_caps(*f);
  ASSERT_NE(caps, nullptr);
  int channels = 0;
  EXPECT_TRUE(gst_structure_get_int(gst_caps_get_structure(caps, 0), "channels", &channels));
  EXPECT_EQ(channels, 2);
  gst_caps_unref(caps);
  // Family 1 (surround) from the caps' mapping fields.
  f = from_string(
      "audio/x-opus,rate=48000,channels=6,channel-mapping-family=1,stream-count=4,coupled-count=2,"
      "channel-mapping=<0,4,1,2,3,5>",
      &error);
  ASSERT_TRUE(f) << error;
  ASSERT_EQ(f->sequence_header.size(), 19u + 2 + 6);
  EXPECT_EQ(f->sequence_header[9], 6);
  EXPECT_EQ(f->sequence_header[18], 1);
  EXPECT_EQ(f->sequence_header[19], 4);
  EXPECT_EQ(f->sequence_header[20], 2);
  EXPECT_FALSE(from_string("audio/x-opus,rate=48000,channels=6,channel-mapping-family=0", &error));
}

TEST(PushFormat, OpusHeaderBuffersAreRecognisedWithoutTheFlag) {
  std::string error;
  PushFormat f =
      *from_string("audio/x-opus,rate=48000,channels=1,channel-mapping-family=0", &error);
  auto make = [](const char* bytes, size_t n) {
    return gst_buffer_new_memdup(reinterpret_cast<const uint8_t*>(bytes), n);
  };
  GstBuffer* tags = make("OpusTags\0\0\0\0", 12);
  GstBuffer* packet = make("\xfc\xff\xfe", 3);
  EXPECT_TRUE(is_stream_header_buffer(f, tags));
  EXPECT_FALSE(is_stream_header_buffer(f, packet));
  GST_BUFFER_FLAG_SET(packet, GST_BUFFER_FLAG_HEADER);
  EXPECT_TRUE(is_stream_header_buffer(f, packet));
  // Other codecs never skip.
  PushFormat aac;
  aac.codec = Codec::kAac;
  EXPECT_FALSE(is_stream_header_buffer(aac, packet));
  gst_buffer_unref(tags);
  gst_buffer_unref(packet);
}

// ==== FLAC =================================================================================

std::vector<uint8_t> streaminfo_block(bool last) {
  // min/max block 4096, frame sizes 0, 44100 Hz, 2 channels, 16 bits, 0 samples, md5 0.
  std::vector<uint8_t> b = {static_cast<uint8_t>(last ? 0x80 : 0x00),
                            0,
                            0,
                            34,
                            0x10,
                            0x00,
                            0x10,
                            0x00,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0x0A,
                            0xC4,
                            0x42,
                            0xF0};
  b.resize(4 + 34, 0);
  return b;
}

TEST(PushFormat, FlacHeaderFromOggMappingAndBareMarker) {
  std::vector<uint8_t> expected = cat({{'f', 'L', 'a', 'C'}, streaminfo_block(true)});
  std::vector<uint8_t> ogg =
      cat({{0x7F, 'F', 'L', 'A', 'C', 1, 0, 0, 2, 'f', 'L', 'a', 'C'}, streaminfo_block(false)});
  std::vector<uint8_t> comment = {0x84, 0, 0, 4, 0, 0, 0, 0};
  std::string error;
  for (const auto& headers :
       {std::vector<std::vector<uint8_t>>{ogg, comment},
        std::vector<std::vector<uint8_t>>{{'f', 'L', 'a', 'C'}, streaminfo_block(false), comment},
        std::vector<std::vector<uint8_t>>{cat({{'f', 'L', 'a', 'C'}, streaminfo_block(false)})}}) {
    GstCaps* c = caps_with_streamheader("audio/x-flac,framed=true", headers);
    auto f = push_format_from_caps(c, &error);
    gst_caps_unref(c);
    ASSERT_TRUE(f) << error;
    EXPECT_EQ(f->codec, Codec::kFlac);
    EXPECT_EQ(f->sequence_header, expected);
    EXPECT_EQ(f->rate, 44100);
    EXPECT_EQ(f->channels, 2);
  }
  // Errors: no streamheader, truncated STREAMINFO, a first block that is not STREAMINFO.
  EXPECT_FALSE(from_string("audio/x-flac,framed=true,rate=44100,channels=2", &error));
  EXPECT_NE(error.find("streamheader"), std::string::npos) << error;
  auto truncated = ogg;
  truncated.resize(40);
  GstCaps* c = caps_with_streamheader("audio/x-flac", {truncated});
  EXPECT_FALSE(push_format_from_caps(c, &error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  gst_caps_unref(c);
  auto wrong = ogg;
  wrong[13] = 4;  // VORBIS_COMMENT first
  c = caps_with_streamheader("audio/x-flac", {wrong});
  EXPECT_FALSE(push_format_from_caps(c, &error));
  gst_caps_unref(c);
}

TEST(PushFormat, FlacFromFlacencSkipsHeadersAndRoundTrips) {
  REQUIRE_ELEMENTS("flacenc", "flacdec");
  Encoded e;
  encode("audiotestsrc num-buffers=20 ! audio/x-raw,rate=44100,channels=2 ! flacenc", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kFlac);
  auto sh0 = caps_buffer(e.caps, "streamheader", 0);
  ASSERT_GE(sh0.size(), 51u);
  ASSERT_EQ(p.format.sequence_header.size(), 42u);
  EXPECT_EQ(
      std::vector<uint8_t>(p.format.sequence_header.begin() + 8, p.format.sequence_header.end()),
      std::vector<uint8_t>(sh0.begin() + 17, sh0.begin() + 51));
  EXPECT_EQ(p.format.sequence_header[4], 0x80) << "last-metadata-block flag";
  EXPECT_GE(p.headers_skipped, 2u);
  for (const auto& pl : p.payloads) {
    ASSERT_GE(pl.data.size(), 2u);
    EXPECT_EQ(pl.data[0], 0xFF) << "only frames remain";
  }
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "flacdec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GE(d.buffers + 2, p.payloads.size());
  EXPECT_GT(d.buffers, 0u);
}

// ==== MP3, AC-3, E-AC-3 ====================================================================

TEST(PushFormat, Mp3LegacyOnlyAtFlvRates) {
  std::string error;
  struct Case {
    int rate;
    Codec codec;
    bool legacy;
    uint8_t rate_bits;
  };
  for (const Case& c : {Case{44100, Codec::kMp3, true, 3}, Case{22050, Codec::kMp3, true, 2},
                        Case{11025, Codec::kMp3, true, 1}, Case{8000, Codec::kMp3_8k, true, 0},
                        Case{48000, Codec::kMp3, false, 3}, Case{32000, Codec::kMp3, false, 3}}) {
    std::string caps = "audio/mpeg,mpegversion=1,layer=3,channels=1,rate=" + std::to_string(c.rate);
    auto f = from_string(caps.c_str(), &error);
    ASSERT_TRUE(f) << error;
    EXPECT_EQ(f->codec, c.codec) << c.rate;
    EXPECT_EQ(f->has_legacy_form, c.legacy) << c.rate;
    if (c.legacy) {
      EXPECT_EQ(f->sound_rate, c.rate_bits) << c.rate;
    }
    EXPECT_EQ(f->sound_type, 0);
    EXPECT_TRUE(f->sequence_header.empty());
  }
  EXPECT_FALSE(from_string("audio/mpeg,mpegversion=1,layer=2,rate=44100,channels=2", &error));
}

TEST(PushFormat, Mp3FromLameRoundTripsThroughMpg123) {
  REQUIRE_ELEMENTS("lamemp3enc", "mpegaudioparse", "mpg123audiodec");
  Encoded e;
  encode("audiotestsrc num-buffers=20 ! audio/x-raw,rate=44100,channels=2 ! lamemp3enc", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kMp3);
  EXPECT_TRUE(p.format.has_legacy_form);
  EXPECT_EQ(p.format.sound_rate, 3);
  EXPECT_EQ(p.format.sound_type, 1);
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "mpegaudioparse ! mpg123audiodec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GT(d.buffers, 0u);
}

TEST(PushFormat, Ac3AndEac3RoundTripThroughAvdec) {
  REQUIRE_ELEMENTS("avenc_ac3", "avenc_eac3", "ac3parse", "avdec_ac3", "avdec_eac3");
  struct Case {
    const char* enc;
    const char* dec;
    Codec codec;
  };
  for (const Case& c : {Case{"avenc_ac3", "avdec_ac3", Codec::kAc3},
                        Case{"avenc_eac3", "avdec_eac3", Codec::kEac3}}) {
    Encoded e;
    encode(
        std::string("audiotestsrc num-buffers=20 ! audio/x-raw,rate=48000,channels=2 ! ") + c.enc,
        &e);
    ASSERT_EQ(e.error, "") << c.enc;
    Packaged p = package(e);
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.format.codec, c.codec);
    EXPECT_FALSE(p.format.has_legacy_form);
    EXPECT_TRUE(p.format.sequence_header.empty());
    EXPECT_EQ(p.format.rate, 48000);
    EXPECT_EQ(p.format.channels, 2);
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    Decoded d = decode(caps, std::string("ac3parse ! ") + c.dec, p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << c.enc;
    EXPECT_GE(d.buffers + 2, p.payloads.size()) << c.enc;
    EXPECT_GT(d.buffers, 0u);
  }
}

// ==== legacy codecs ========================================================================

TEST(PushFormat, LegacyCodecsMapLikeTheReceiverReadsThem) {
  struct Case {
    const char* caps;
    Codec codec;
    uint8_t rate_bits, size_bits, type_bits;
  };
  const Case cases[] = {
      {"audio/x-raw,format=S16LE,layout=interleaved,rate=44100,channels=2", Codec::kPcmLittleEndian,
       3, 1, 1},
      {"audio/x-raw,format=U8,layout=interleaved,rate=11025,channels=1", Codec::kPcmLittleEndian, 1,
       0, 0},
      {"audio/x-alaw,rate=8000,channels=1", Codec::kG711ALaw, 0, 1, 0},
      {"audio/x-mulaw,rate=8000,channels=2", Codec::kG711MuLaw, 0, 1, 1},
      {"audio/x-speex,rate=16000,channels=1", Codec::kSpeex, 1, 1, 0},
      {"audio/x-adpcm,layout=swf,rate=22050,channels=1", Codec::kAdpcm, 2, 1, 0},
      {"audio/x-nellymoser,rate=8000,channels=1", Codec::kNellymoser8kMono, 0, 1, 0},
      {"audio/x-nellymoser,rate=16000,channels=1", Codec::kNellymoser16kMono, 0, 1, 0},
      {"audio/x-nellymoser,rate=22050,channels=2", Codec::kNellymoser, 2, 1, 1},
      {"video/x-flash-video,flvversion=1,width=64,height=48", Codec::kSorensonH263, 3, 1, 1},
      {"video/x-vp6-flash", Codec::kVp6, 3, 1, 1},
      {"video/x-flash-screen", Codec::kScreenVideo, 3, 1, 1},
  };
  for (const Case& c : cases) {
    std::string error;
    GstCaps* in = caps_from(c.caps);
    auto f = push_format_from_caps(in, &error);
    ASSERT_TRUE(f) << c.caps << ": " << error;
    EXPECT_EQ(f->codec, c.codec) << c.caps;
    EXPECT_TRUE(f->has_legacy_form) << c.caps;
    EXPECT_TRUE(f->sequence_header.empty());
    if (!f->video) {
      EXPECT_EQ(f->sound_rate, c.rate_bits) << c.caps;
      EXPECT_EQ(f->sound_size, c.size_bits) << c.caps;
      EXPECT_EQ(f->sound_type, c.type_bits) << c.caps;
    }
    // The receiver's caps for these bits are a subset of what was sent.
    GstCaps* back = receiver_caps(*f);
    ASSERT_NE(back, nullptr);
    EXPECT_TRUE(gst_caps_is_subset(back, in) || gst_caps_can_intersect(back, in))
        << c.caps << " came back as " << gst_caps_to_string(back);
    EXPECT_STREQ(gst_structure_get_name(gst_caps_get_structure(back, 0)),
                 gst_structure_get_name(gst_caps_get_structure(in, 0)));
    gst_caps_unref(back);
    gst_caps_unref(in);
  }
}

// Real encoders for the legacy codecs; the decoded rate/channels prove the SoundRate/SoundType
// bits (the receiver's only source for them).
TEST(PushFormat, LegacyCodecsFromRealEncodersRoundTrip) {
  struct Case {
    const char* enc;
    const char* dec;
    int rate, channels;
    Codec codec;
  };
  const Case cases[] = {
      {"alawenc", "alawdec", 8000, 1, Codec::kG711ALaw},
      {"mulawenc", "mulawdec", 8000, 2, Codec::kG711MuLaw},
      {"avenc_nellymoser", "avdec_nellymoser", 22050, 1, Codec::kNellymoser},
      {"avenc_nellymoser", "avdec_nellymoser", 8000, 1, Codec::kNellymoser8kMono},
      {"avenc_nellymoser", "avdec_nellymoser", 16000, 1, Codec::kNellymoser16kMono},
      {"avenc_adpcm_swf", "avdec_adpcm_swf", 11025, 2, Codec::kAdpcm},
      {"capsfilter caps=audio/x-raw,format=S16LE", "audioconvert", 44100, 2,
       Codec::kPcmLittleEndian},
      {"audioconvert ! audio/x-raw,format=U8", "audioconvert", 5512, 1, Codec::kPcmLittleEndian},
  };
  for (const Case& c : cases) {
    std::string enc_name = std::string(c.enc).substr(0, std::string(c.enc).find(' '));
    if (!have({enc_name.c_str(), c.dec})) continue;
    Encoded e;
    encode("audiotestsrc num-buffers=10 samplesperbuffer=512 ! audio/x-raw,rate=" +
               std::to_string(c.rate) + ",channels=" + std::to_string(c.channels) + " ! " + c.enc,
           &e);
    ASSERT_EQ(e.error, "") << c.enc;
    Packaged p = package(e);
    ASSERT_EQ(p.error, "") << c.enc << " " << c.rate;
    EXPECT_EQ(p.format.codec, c.codec) << c.enc << " " << c.rate;
    EXPECT_TRUE(p.format.has_legacy_form);
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    Decoded d = decode(caps, c.dec, p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << c.enc << " " << c.rate;
    EXPECT_GT(d.buffers, 0u) << c.enc;
    EXPECT_NE(d.caps.find("rate=(int)" + std::to_string(c.rate)), std::string::npos)
        << c.enc << ": " << d.caps;
    EXPECT_NE(d.caps.find("channels=(int)" + std::to_string(c.channels)), std::string::npos)
        << c.enc << ": " << d.caps;
  }
}

TEST(PushFormat, LegacyVideoFromRealEncodersRoundTrip) {
  struct Case {
    const char* enc;
    const char* dec;
    Codec codec;
  };
  for (const Case& c : {Case{"avenc_flv", "avdec_flv", Codec::kSorensonH263},
                        Case{"avenc_flashsv", "avdec_flashsv", Codec::kScreenVideo}}) {
    if (!have({c.enc, c.dec})) continue;
    Encoded e;
    encode(std::string(kVideo64) + " ! " + c.enc, &e);
    ASSERT_EQ(e.error, "") << c.enc;
    Packaged p = package(e);
    ASSERT_EQ(p.error, "") << c.enc;
    EXPECT_EQ(p.format.codec, c.codec);
    EXPECT_TRUE(p.format.has_legacy_form);
    GstCaps* caps = receiver_caps(p.format);
    ASSERT_NE(caps, nullptr);
    Decoded d = decode(caps, c.dec, p.payloads);
    gst_caps_unref(caps);
    EXPECT_EQ(d.error, "") << c.enc;
    EXPECT_EQ(d.buffers, 10u) << c.enc;
  }
}

TEST(PushFormat, LegacyAudioOutsideFlvRangesIsRefused) {
  std::string error;
  for (const char* caps :
       {"audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2",
        "audio/x-raw,format=S32LE,layout=interleaved,rate=44100,channels=2",
        "audio/x-raw,format=S16LE,layout=interleaved,rate=44100,channels=6",
        "audio/x-alaw,rate=16000,channels=1", "audio/x-speex,rate=8000,channels=1",
        "audio/x-nellymoser,rate=48000,channels=1", "audio/x-vorbis,rate=44100,channels=2",
        "video/x-raw,format=I420,width=64,height=48,framerate=30/1"}) {
    error.clear();
    EXPECT_FALSE(from_string(caps, &error)) << caps;
    EXPECT_FALSE(error.empty()) << caps;
  }
}

TEST(PushFormat, SpeexFromSpeexencSkipsItsHeaders) {
  REQUIRE_ELEMENTS("speexenc");
  Encoded e;
  encode("audiotestsrc num-buffers=10 ! audio/x-raw,rate=16000,channels=1 ! speexenc", &e);
  ASSERT_EQ(e.error, "");
  Packaged p = package(e);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.format.codec, Codec::kSpeex);
  EXPECT_TRUE(p.format.has_legacy_form);
  EXPECT_EQ(p.headers_skipped, 2u) << "Speex header and comment packets";
  for (const auto& pl : p.payloads) {
    EXPECT_FALSE(pl.data.size() >= 8 && std::memcmp(pl.data.data(), "Speex   ", 8) == 0);
  }
  EXPECT_GT(p.payloads.size(), 0u);
  // Without the flag, the header packet is still recognised by its magic.
  GstBuffer* b = gst_buffer_new_memdup(e.frames[0].data.data(), e.frames[0].data.size());
  EXPECT_TRUE(is_stream_header_buffer(p.format, b));
  gst_buffer_unref(b);
  if (!have({"speexdec"})) return;
  GstCaps* caps = receiver_caps(p.format);
  ASSERT_NE(caps, nullptr);
  Decoded d = decode(caps, "speexdec", p.payloads);
  gst_caps_unref(caps);
  EXPECT_EQ(d.error, "");
  EXPECT_GE(d.buffers + 2, p.payloads.size());
}

// ==== onMetaData ===========================================================================

TEST(PushFormat, MetadataForLegacyAvcAndAac) {
  std::string error;
  GstCaps* vc = caps_with_buffer(
      "video/x-h264,stream-format=avc,alignment=au,width=1280,height=720,framerate=30000/1001",
      "codec_data", {0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x01, 0x67, 0x01, 0x00, 0x01, 0x68});
  auto v = push_format_from_caps(vc, &error);
  gst_caps_unref(vc);
  ASSERT_TRUE(v) << error;
  v->bitrate = 2500000;
  GstCaps* ac = caps_with_buffer("audio/mpeg,mpegversion=4,stream-format=raw,rate=48000,channels=2",
                                 "codec_data", {0x11, 0x90});
  auto a = push_format_from_caps(ac, &error);
  gst_caps_unref(ac);
  ASSERT_TRUE(a) << error;
  GstTagList* tags = gst_tag_list_new(GST_TAG_TITLE, "Show", GST_TAG_ARTIST, "Me", nullptr);
  rtmp::amf::Value m = build_metadata(&*v, false, &*a, false, tags);
  gst_tag_list_unref(tags);
  ASSERT_TRUE(m.is_ecma_array());
  EXPECT_EQ(m.get_number("videocodecid"), 7.0);
  EXPECT_EQ(m.get_number("audiocodecid"), 10.0);
  EXPECT_EQ(m.get_number("width"), 1280.0);
  EXPECT_EQ(m.get_number("height"), 720.0);
  EXPECT_NEAR(*m.get_number("framerate"), 29.97, 0.001);
  EXPECT_EQ(m.get_number("videodatarate"), 2500.0);
  EXPECT_FALSE(m.get("audiodatarate"));
  EXPECT_EQ(m.get_number("audiosamplerate"), 48000.0);
  EXPECT_EQ(m.get_number("audiosamplesize"), 16.0);
  ASSERT_TRUE(m.get("stereo"));
  EXPECT_EQ(m.get("stereo")->as_bool(), true);
  EXPECT_EQ(m.get_string("title"), "Show");
  EXPECT_EQ(m.get_string("creator"), "Me");
  EXPECT_FALSE(m.get_string("encoder").empty());
  // Enhanced: the FourCC as a number.
  m = build_metadata(&*v, true, &*a, true, nullptr);
  EXPECT_EQ(m.get_number("videocodecid"), 1635148593.0);  // 'avc1'
  EXPECT_EQ(m.get_number("audiocodecid"), 1836069985.0);  // 'mp4a'
}

TEST(PushFormat, MetadataForEnhancedOnlyCodecs) {
  std::string error;
  std::vector<uint8_t> hvcc(23, 0);
  hvcc[0] = 1;
  GstCaps* vc = caps_with_buffer(
      "video/x-h265,stream-format=hvc1,alignment=au,width=640,height=360", "codec_data", hvcc);
  auto v = push_format_from_caps(vc, &error);
  gst_caps_unref(vc);
  ASSERT_TRUE(v) << error;
  auto a = from_string("audio/x-opus,rate=48000,channels=1,channel-mapping-family=0", &error);
  ASSERT_TRUE(a) << error;
  // Even when the caller asks for legacy, a codec without a legacy id gets its FourCC.
  rtmp::amf::Value m = build_metadata(&*v, false, &*a, false, nullptr);
  EXPECT_EQ(m.get_number("videocodecid"), 1752589105.0);  // 'hvc1'
  EXPECT_EQ(m.get_number("audiocodecid"), 1332770163.0);  // 'Opus'
  EXPECT_EQ(m.get("stereo")->as_bool(), false);
  EXPECT_FALSE(m.get("framerate"));
  // Audio only.
  m = build_metadata(nullptr, false, &*a, true, nullptr);
  EXPECT_FALSE(m.get("videocodecid"));
  EXPECT_TRUE(m.get("audiocodecid"));
}

}  // namespace
}  // namespace gst_ertmp
