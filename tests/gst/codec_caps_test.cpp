// codec_caps.h: the FLV/E-RTMP codec -> GstCaps mapping against what GStreamer itself makes.
//
// - Legacy codecs: caps_for() on the tags and onMetaData of real FLV files (ffmpeg 5.1 and
//   GStreamer's flvmux wrote them) has every field flvdemux gives for the same file, with the
//   same value, and intersects flvdemux's caps.
// - colorInfo <-> caps: HDR10 from x265enc + h265parse (their colorimetry,
//   mastering-display-info, bit-depth-luma) becomes the colorInfo a sender signals and back.
// - MPEG2TSSequenceStart for AV1, onMetaData fields, MP3 in legacy tags.
#include "gst/codec_caps.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <chrono>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "gst/gstrtmpingestsrc.h"
#include "protocol/amf0.h"
#include "protocol/client_session.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/protocol/hdr10.h"

namespace gst_ertmp {
namespace {

using rtmp::Codec;

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

GstCaps* caps_of(const std::string& text) {
  GstCaps* c = gst_caps_from_string(text.c_str());
  EXPECT_TRUE(c) << text;
  return c;
}

std::string caps_string(GstCaps* caps) {
  gchar* s = gst_caps_to_string(caps);
  std::string out = s;
  g_free(s);
  return out;
}

// What rtmpingestsrc's elementary output does with a file's tags, per kind: the caps_for() of
// the first sequence header (codecs that need one) or the first frame, with the file's
// onMetaData object and the legacy header bits.
std::map<std::string, std::string> our_caps(const std::filesystem::path& file) {
  rtmp::FlvReader reader;
  EXPECT_TRUE(reader.receive(read_file(file)).ok());
  std::optional<rtmp::amf::Value> metadata;
  std::map<std::string, std::string> out;
  while (auto tag = reader.next_tag()) {
    if (tag->type == 18) {
      auto values = rtmp::amf0::decode_all(tag->body, rtmp::Limits{});
      if (values.ok() && values->size() >= 2 && values->at(0).as_string() &&
          *values->at(0).as_string() == "onMetaData") {
        metadata = values->at(1);
      }
      continue;
    }
    if (tag->type != 8 && tag->type != 9) continue;
    const std::string kind = tag->type == 9 ? "video" : "audio";
    if (out.count(kind)) continue;
    auto parsed = rtmp::parse_flv_tag(static_cast<rtmp::TagType>(tag->type), tag->body);
    EXPECT_TRUE(parsed.ok()) << file << ": " << parsed.error().to_string();
    if (!parsed.ok() || parsed->units.empty()) continue;
    const rtmp::MediaUnit& u = parsed->units[0];
    if (needs_sequence_header(u.codec) && u.packet != rtmp::PacketKind::kSequenceStart) continue;
    StreamFormat f;
    f.codec = u.codec;
    if (u.packet == rtmp::PacketKind::kSequenceStart) {
      f.sequence_header = rtmp::Bytes(tag->body).subspan(u.offset, u.size);
    }
    f.sound_rate = u.sound_rate;
    f.sound_size = u.sound_size;
    f.sound_type = u.sound_type;
    f.legacy_audio_header = !parsed->enhanced;
    f.metadata = metadata ? &*metadata : nullptr;
    std::string error;
    GstCaps* caps = caps_for(f, &error);
    EXPECT_TRUE(caps) << file << " " << kind << ": " << error;
    if (!caps) continue;
    out[kind] = caps_string(caps);
    gst_caps_unref(caps);
  }
  return out;
}

// The first caps on each of flvdemux's pads for `file`, keyed "audio"/"video".
std::map<std::string, std::string> flvdemux_caps(const std::filesystem::path& file) {
  std::string desc = "filesrc location=\"" + file.string() + "\" ! flvdemux name=demux";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(pipeline) << (err ? err->message : "");
  if (err) g_error_free(err);
  if (!pipeline) return {};
  ertmp_test::Collected got;
  GstElement* demux = gst_bin_get_by_name(GST_BIN(pipeline), "demux");
  g_signal_connect(demux, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got);
  gst_object_unref(demux);
  EXPECT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(ertmp_test::wait_bus(pipeline, 20 * GST_SECOND), GST_MESSAGE_EOS) << file;
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  std::lock_guard<std::mutex> lock(got.mu);
  return got.caps;
}

// Our caps can stand in for flvdemux's: same media type, every field flvdemux sets is ours with
// an equal value, and the two intersect. Speex's streamheader is the one field allowed to
// differ: flvdemux synthesises an 80-sample frame size, ours the 320 samples of 20 ms wideband.
void expect_flvdemux_fields(const std::string& ours, const std::string& theirs,
                            const std::string& label) {
  GstCaps* a = caps_of(ours);
  GstCaps* b = caps_of(theirs);
  ASSERT_TRUE(a && b);
  const GstStructure* sa = gst_caps_get_structure(a, 0);
  const GstStructure* sb = gst_caps_get_structure(b, 0);
  EXPECT_STREQ(gst_structure_get_name(sa), gst_structure_get_name(sb)) << label;
  bool speex = gst_structure_has_name(sb, "audio/x-speex");
  for (int i = 0; i < gst_structure_n_fields(sb); ++i) {
    const char* field = gst_structure_nth_field_name(sb, static_cast<guint>(i));
    if (speex && g_str_equal(field, "streamheader")) continue;
    const GValue* va = gst_structure_get_value(sa, field);
    ASSERT_TRUE(va) << label << ": flvdemux sets " << field
                    << " and we do not\n  ours:     " << ours << "\n  flvdemux: " << theirs;
    EXPECT_EQ(gst_value_compare(va, gst_structure_get_value(sb, field)), GST_VALUE_EQUAL)
        << label << ": field " << field << "\n  ours:     " << ours << "\n  flvdemux: " << theirs;
  }
  if (!speex) {
    EXPECT_TRUE(gst_caps_can_intersect(a, b)) << label << "\n  " << ours << "\n  " << theirs;
  }
  gst_caps_unref(a);
  gst_caps_unref(b);
}

class FlvdemuxCaps : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void SetUp() override { dir_ = ertmp_test::make_temp_dir("caps"); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // An FLV file from Debian 12's ffmpeg: 1 s of testsrc2 at 30000/1001 fps plus a sine.
  std::filesystem::path ffmpeg_flv(const std::string& name, const std::string& codecs) {
    auto f = dir_ / name;
    std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=30000/1001 "
        "-f lavfi -i sine -t 1 " +
        codecs + " '" + f.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return f;
  }
  std::filesystem::path dir_;
};

// ffmpeg's and flvmux's FLV muxers write every legacy codec GStreamer and ffmpeg can encode;
// VP6 (no encoder) and screen video v2 (flvdemux has no caps for it) are left out.
TEST_F(FlvdemuxCaps, LegacyCodecsEqualFlvdemuxIncludingOnMetaData) {
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  struct File {
    std::filesystem::path path;
    std::string what;
  };
  std::vector<File> files = {
      {ffmpeg_flv("h264_aac.flv", "-c:v libx264 -preset ultrafast -c:a aac -ar 44100 -ac 2"),
       "H.264 + AAC"},
      {ffmpeg_flv("flv1_mp3.flv", "-c:v flv -c:a libmp3lame -ar 22050 -ac 1"),
       "Sorenson H.263 + MP3"},
      {ffmpeg_flv("screen_nelly16.flv", "-c:v flashsv -c:a nellymoser -ar 16000 -ac 1"),
       "screen video + Nellymoser 16 kHz"},
      {ffmpeg_flv("flv1_nelly8.flv", "-c:v flv -c:a nellymoser -ar 8000 -ac 1"),
       "Nellymoser 8 kHz"},
      {ffmpeg_flv("flv1_nelly.flv", "-c:v flv -c:a nellymoser -ar 22050 -ac 1"), "Nellymoser"},
      {ffmpeg_flv("flv1_s16.flv", "-c:v flv -c:a pcm_s16le -ar 44100 -ac 2"), "PCM S16LE"},
      {ffmpeg_flv("flv1_u8.flv", "-c:v flv -c:a pcm_u8 -ar 11025 -ac 1"), "PCM U8"},
      {ffmpeg_flv("flv1_adpcm.flv", "-c:v flv -c:a adpcm_swf -ar 22050 -ac 1"), "ADPCM"},
      {ffmpeg_flv("flv1_alaw.flv", "-c:v flv -c:a pcm_alaw -ar 8000 -ac 1"), "G.711 A-law"},
      {ffmpeg_flv("flv1_mulaw.flv", "-c:v flv -c:a pcm_mulaw -ar 8000 -ac 1"), "G.711 mu-law"},
      {ffmpeg_flv("flv1_speex.flv", "-c:v flv -c:a libspeex -ar 16000 -ac 1"), "Speex"},
  };
  // flvmux writes AspectRatioX/Y from the pixel-aspect-ratio of its video caps; ffmpeg does not.
  auto flvmux_file = dir_ / "flvmux_par.flv";
  std::string gst =
      "gst-launch-1.0 -q videotestsrc num-buffers=30 ! "
      "video/x-raw,width=352,height=288,framerate=25/1,pixel-aspect-ratio=12/11 ! "
      "x264enc speed-preset=ultrafast ! flvmux name=m ! filesink location='" +
      flvmux_file.string() +
      "' audiotestsrc num-buffers=40 ! audio/x-raw,rate=44100,channels=2 ! "
      "lamemp3enc ! mpegaudioparse ! m.";
  ASSERT_EQ(std::system(gst.c_str()), 0) << gst;
  files.push_back({flvmux_file, "flvmux H.264 with pixel-aspect-ratio + MP3 44.1 kHz"});

  for (const auto& f : files) {
    auto ours = our_caps(f.path);
    auto theirs = flvdemux_caps(f.path);
    ASSERT_EQ(theirs.size(), 2u) << f.what << ": flvdemux made no audio+video pads";
    for (const char* kind : {"video", "audio"}) {
      ASSERT_TRUE(ours.count(kind)) << f.what << ": no " << kind << " caps of ours";
      expect_flvdemux_fields(ours[kind], theirs[kind], f.what + " " + kind);
    }
    // The fields flvdemux takes from onMetaData are there, so this checked something.
    EXPECT_NE(ours["video"].find("width=(int)"), std::string::npos) << f.what;
    EXPECT_NE(ours["video"].find("framerate=(fraction)"), std::string::npos) << f.what;
  }
  EXPECT_NE(our_caps(files[0].path)["video"].find("framerate=(fraction)30000/1001"),
            std::string::npos);
  EXPECT_NE(our_caps(flvmux_file)["video"].find("pixel-aspect-ratio=(fraction)12/11"),
            std::string::npos);
}

// ---- onMetaData, MP3 and AV1 inputs -------------------------------------------------------------

TEST(CodecCaps, MetadataFieldsAsFlvdemuxTakesThem) {
  gst_init(nullptr, nullptr);
  auto md = rtmp::amf::Value::ecma_array(
      {{"width", 1279.9}, {"height", 720.0}, {"framerate", 29.97002997}, {"AspectRatioY", 3.0}});
  StreamFormat f;
  f.codec = Codec::kVp6;
  f.metadata = &md;
  GstCaps* caps = caps_for(f, nullptr);
  ASSERT_TRUE(caps);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  int w = 0, h = 0, n = 0, d = 0, px = 0, py = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "width", &w));
  EXPECT_EQ(w, 1279);  // truncated, like flvdemux's gint
  EXPECT_TRUE(gst_structure_get_int(s, "height", &h));
  EXPECT_EQ(h, 720);
  EXPECT_TRUE(gst_structure_get_fraction(s, "framerate", &n, &d));
  EXPECT_EQ(n, 30000);
  EXPECT_EQ(d, 1001);
  EXPECT_TRUE(gst_structure_get_fraction(s, "pixel-aspect-ratio", &px, &py));
  EXPECT_EQ(px, 1);  // AspectRatioX missing: 1, as flvdemux
  EXPECT_EQ(py, 3);
  gst_caps_unref(caps);

  // A broken publisher's values stay out of caps.
  auto bad = rtmp::amf::Value::object(
      {{"width", -5.0}, {"height", 1e12}, {"framerate", 0.0}, {"AspectRatioX", "wide"}});
  f.metadata = &bad;
  caps = caps_for(f, nullptr);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps_string(caps), "video/x-vp6-flash");
  gst_caps_unref(caps);
}

TEST(CodecCaps, AudioIgnoresMetadataAndColorInfo) {
  gst_init(nullptr, nullptr);
  auto md = rtmp::amf::Value::object({{"width", 640.0}});
  rtmp::ColorInfo info;
  info.color_config = rtmp::ColorConfig{10, 9, 16, 9};
  StreamFormat f;
  f.codec = Codec::kG711ALaw;
  f.metadata = &md;
  f.color_info = &info;
  GstCaps* caps = caps_for(f, nullptr);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps_string(caps), "audio/x-alaw, rate=(int)8000, channels=(int)2");
  gst_caps_unref(caps);
}

TEST(CodecCaps, Mp3FromLegacyTagsHasFlvdemuxFieldsAndFromEnhancedTagsNone) {
  gst_init(nullptr, nullptr);
  StreamFormat f;
  f.codec = Codec::kMp3;
  f.sound_rate = 2;  // 22 kHz
  f.sound_type = 0;  // mono
  f.legacy_audio_header = true;
  GstCaps* caps = caps_for(f, nullptr);
  EXPECT_EQ(caps_string(caps),
            "audio/mpeg, mpegversion=(int)1, layer=(int)3, parsed=(boolean)true, "
            "rate=(int)22050, channels=(int)1");
  gst_caps_unref(caps);
  f.codec = Codec::kMp3_8k;
  caps = caps_for(f, nullptr);
  EXPECT_NE(caps_string(caps).find("rate=(int)8000"), std::string::npos);
  gst_caps_unref(caps);
  f.codec = Codec::kMp3;
  f.legacy_audio_header = false;  // E-RTMP ".mp3": the header bits mean nothing
  caps = caps_for(f, nullptr);
  EXPECT_EQ(caps_string(caps), "audio/mpeg, mpegversion=(int)1, layer=(int)3");
  gst_caps_unref(caps);
}

TEST(CodecCaps, Av1Mpeg2TsSequenceStartGivesSequenceStartCaps) {
  gst_init(nullptr, nullptr);
  const std::vector<uint8_t> descriptor = {0x80, 0x04, 0x81, 0x28, 0xC0, 0x93};
  const std::vector<uint8_t> av1c = {0x81, 0x28, 0xC0, 0x13};
  StreamFormat ts;
  ts.codec = Codec::kAv1;
  ts.sequence_header = descriptor;
  ts.mpeg2ts_descriptor = true;
  StreamFormat seq;
  seq.codec = Codec::kAv1;
  seq.sequence_header = av1c;
  GstCaps* a = caps_for(ts, nullptr);
  GstCaps* b = caps_for(seq, nullptr);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(gst_caps_is_equal(a, b)) << caps_string(a) << " vs " << caps_string(b);
  EXPECT_NE(caps_string(a).find("profile=(string)high"), std::string::npos);
  gst_caps_unref(a);
  gst_caps_unref(b);
  std::string error;
  const std::vector<uint8_t> broken = {0x80, 0x04, 0x01, 0x28, 0xC0, 0x93};
  ts.sequence_header = broken;
  EXPECT_FALSE(caps_for(ts, &error));
  EXPECT_NE(error.find("descriptor"), std::string::npos) << error;
}

// ---- colorInfo <-> caps -------------------------------------------------------------------------

rtmp::ColorInfo hdr10() {
  return rtmp::test::hdr10_color_info();
}
constexpr const char* kHdr10Mdi = rtmp::test::kHdr10MasteringDisplayInfo;

TEST(CodecCaps, ColorInfoBecomesHdrCapsFields) {
  gst_init(nullptr, nullptr);
  const std::vector<uint8_t> hvcc(23, 0x01);
  rtmp::ColorInfo info = hdr10();
  StreamFormat f;
  f.codec = Codec::kHevc;
  f.sequence_header = hvcc;
  f.color_info = &info;
  GstCaps* caps = caps_for(f, nullptr);
  ASSERT_TRUE(caps);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  GstVideoColorimetry c;
  ASSERT_TRUE(gst_video_colorimetry_from_string(&c, gst_structure_get_string(s, "colorimetry")));
  EXPECT_EQ(c.primaries, GST_VIDEO_COLOR_PRIMARIES_BT2020);
  EXPECT_EQ(c.transfer, GST_VIDEO_TRANSFER_SMPTE2084);
  EXPECT_EQ(c.matrix, GST_VIDEO_COLOR_MATRIX_BT2020);
  EXPECT_EQ(c.range, GST_VIDEO_COLOR_RANGE_UNKNOWN);  // colorInfo has no range
  EXPECT_STREQ(gst_structure_get_string(s, "mastering-display-info"), kHdr10Mdi);
  EXPECT_STREQ(gst_structure_get_string(s, "content-light-level"), "1000:400");
  // And back: everything but the range and the bit depth (caps_for leaves that field to the
  // parsers, which read it from the bitstream) survives.
  rtmp::ColorInfo back = info;
  back.color_config->bit_depth.reset();
  EXPECT_EQ(color_info_from_caps(caps), back);
  gst_caps_unref(caps);
}

TEST(CodecCaps, PartialColorInfoSetsOnlyCompleteFields) {
  gst_init(nullptr, nullptr);
  rtmp::ColorInfo info;
  info.hdr_cll = rtmp::HdrCll{std::nullopt, 1000.0};  // no maxFall
  info.hdr_mdcv = hdr10().hdr_mdcv;
  info.hdr_mdcv->min_luminance.reset();  // ffmpeg writes luminance only with has_luminance
  info.color_config = rtmp::ColorConfig{};
  info.color_config->transfer_characteristics = 18;  // HLG alone
  GstCaps* caps = gst_caps_new_empty_simple("video/x-vp9");
  add_color_info_to_caps(caps, info);
  EXPECT_EQ(caps_string(caps), "video/x-vp9, colorimetry=(string)0:0:15:0");
  gst_caps_unref(caps);
  caps = gst_caps_new_empty_simple("video/x-vp9");
  add_color_info_to_caps(caps, rtmp::ColorInfo{});  // reset: nothing
  EXPECT_EQ(caps_string(caps), "video/x-vp9");
  EXPECT_TRUE(color_info_from_caps(caps).empty());
  gst_caps_unref(caps);
}

// x265enc's HDR10 output through h265parse, as a sender meets it: the colorInfo we would send is
// HDR10's, and an ingest turning that colorInfo back into caps gives h265parse's
// mastering-display-info string. content-light-level from x265enc 1.22 is 0:0 (unknown): no hdrCll.
TEST(CodecCaps, X265Hdr10CapsRoundTripThroughColorInfo) {
  gst_init(nullptr, nullptr);
  ERTMP_REQUIRE(gst_element_factory_find("x265enc") && gst_element_factory_find("h265parse"),
                "x265enc and h265parse (gstreamer1.0-plugins-bad, -ugly)");
  std::string desc =
      "videotestsrc num-buffers=2 ! video/x-raw,format=I420_10LE,width=320,height=240,"
      "framerate=30/1,colorimetry=bt2100-pq,mastering-display-info=\"" +
      std::string(kHdr10Mdi) +
      "\",content-light-level=\"1000:400\" ! x265enc speed-preset=ultrafast ! h265parse ! "
      "video/x-h265,stream-format=hvc1 ! appsink name=sink sync=false";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  ASSERT_TRUE(pipeline) << (err ? err->message : "");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
  ASSERT_TRUE(sample) << "x265enc gave no frame within 30 s";
  GstCaps* parsed = gst_sample_get_caps(sample);
  rtmp::ColorInfo info = color_info_from_caps(parsed);
  rtmp::ColorInfo want = hdr10();
  want.hdr_cll.reset();
  EXPECT_EQ(info, want) << caps_string(parsed);

  GstCaps* rebuilt = gst_caps_new_empty_simple("video/x-h265");
  add_color_info_to_caps(rebuilt, info);
  const GstStructure* ps = gst_caps_get_structure(parsed, 0);
  const GstStructure* rs = gst_caps_get_structure(rebuilt, 0);
  EXPECT_STREQ(gst_structure_get_string(rs, "mastering-display-info"),
               gst_structure_get_string(ps, "mastering-display-info"));
  GstVideoColorimetry a, b;
  ASSERT_TRUE(gst_video_colorimetry_from_string(&a, gst_structure_get_string(ps, "colorimetry")));
  ASSERT_TRUE(gst_video_colorimetry_from_string(&b, gst_structure_get_string(rs, "colorimetry")));
  EXPECT_EQ(a.primaries, b.primaries);
  EXPECT_EQ(a.transfer, b.transfer);
  EXPECT_EQ(a.matrix, b.matrix);
  gst_caps_unref(rebuilt);
  gst_sample_unref(sample);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

// ---- the element
// ---------------------------------------------------------------------------------

// The same FLV file demuxed by flvdemux and published tag for tag (onMetaData through
// @setDataFrame, as publishers send it) into rtmpingestsrc output-mode=elementary: every pad's
// caps have flvdemux's fields with equal values (width/height/framerate from onMetaData, MP3's
// rate/channels/parsed from the legacy audio header), so elementary output replaces flvdemux
// without a capsfilter.
TEST_F(FlvdemuxCaps, RtmpingestsrcPadsEqualFlvdemuxForTheSameFile) {
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  for (const auto& [name, codecs] : std::vector<std::pair<std::string, std::string>>{
           {"h264_aac.flv", "-c:v libx264 -preset ultrafast -c:a aac -ar 44100 -ac 2"},
           {"flv1_mp3.flv", "-c:v flv -c:a libmp3lame -ar 22050 -ac 1"},
           {"flv1_alaw.flv", "-c:v flv -c:a pcm_alaw -ar 8000 -ac 1"}}) {
    auto file = ffmpeg_flv(name, codecs);
    auto theirs = flvdemux_caps(file);

    GError* err = nullptr;
    GstElement* src = gst_parse_launch("rtmpingestsrc port=0 name=src", &err);
    ASSERT_TRUE(src) << (err ? err->message : "");
    GstElement* pipeline = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(pipeline), src);
    ertmp_test::Collected got;
    g_signal_connect(src, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got);
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    int port = 0;
    g_object_get(src, "bound-port", &port, nullptr);

    rtmp::ClientConfig cc;
    cc.url = *rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/live/caps");
    ertmp_test::SocketPublisher pub(cc);
    ASSERT_TRUE(pub.start(static_cast<uint16_t>(port)).ok());
    rtmp::FlvReader reader;
    ASSERT_TRUE(reader.receive(read_file(file)).ok());
    while (auto tag = reader.next_tag()) {
      std::vector<uint8_t> body = tag->body;
      if (tag->type == 18) {
        auto values = rtmp::amf0::decode_all(tag->body, rtmp::Limits{});
        ASSERT_TRUE(values.ok() && values->size() >= 2);
        body = rtmp::build_set_data_frame(values->at(1)).payload;
      }
      ASSERT_TRUE(pub.send(tag->type, body, static_cast<uint64_t>(tag->timestamp)).ok());
    }
    pub.stop();
    // Each pad is added by its own task: the pipeline's EOS can come from the audio sink before
    // the video pad (no sequence header: made at its first frame) and its sink exist. Wait
    // (bounded, draining the bus) for both pads' EOS.
    GstBus* bus = gst_element_get_bus(pipeline);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    auto both_ended = [&] {
      std::lock_guard<std::mutex> lock(got.mu);
      return got.eos_events["video_0"] == 1 && got.eos_events["audio_0"] == 1;
    };
    while (!both_ended() && std::chrono::steady_clock::now() < deadline) {
      if (GstMessage* m = gst_bus_timed_pop(bus, 20 * GST_MSECOND)) {
        EXPECT_NE(GST_MESSAGE_TYPE(m), GST_MESSAGE_ERROR) << name;
        gst_message_unref(m);
      }
    }
    gst_object_unref(bus);
    EXPECT_TRUE(both_ended()) << name;
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);

    std::lock_guard<std::mutex> lock(got.mu);
    expect_flvdemux_fields(got.caps["video_0"], theirs["video"], name + " video");
    expect_flvdemux_fields(got.caps["audio_0"], theirs["audio"], name + " audio");
  }
}

}  // namespace
}  // namespace gst_ertmp
