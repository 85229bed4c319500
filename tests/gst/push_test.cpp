// rtmppushsink in real pipelines on loopback: into our own rtmpingestsrc (every codec,
// multitrack, reconnect), into nginx-rtmp (flvmux input, its `record all` file compared with
// the source) and into `ffmpeg -listen 1` (elementary input, its recording compared with the
// source). Media is compared packet by packet: MD5 of every buffer entering the sink against
// every buffer leaving the ingest's pads, or ffmpeg framemd5 of the server's recording.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "protocol/chunk_reader.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/server_session.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/node_media_server.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::Collected;
using ertmp_test::have_elements;
using ertmp_test::have_program;
using ertmp_test::run_capture;
using ertmp_test::wait_bus;

std::vector<std::string> file_md5s(const std::filesystem::path& file, int stream_index) {
  return ertmp_test::framemd5s(file, stream_index);
}

// AV1 temporal units without their temporal delimiter OBUs (what E-RTMP carries), written
// here independently of gst/push_format.cpp: OBU header type bits 6..3, extension flag bit 2,
// has_size bit 1, then a LEB128 size.
std::string av1_md5_without_td(GstBuffer* buf) {
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_READ);
  std::vector<uint8_t> out;
  size_t i = 0;
  while (i < map.size) {
    size_t start = i;
    uint8_t h = map.data[i++];
    int type = (h >> 3) & 0x0F;
    if (h & 0x04) ++i;
    uint64_t size = 0;
    for (int k = 0; k < 8 && i < map.size; ++k) {
      uint8_t b = map.data[i++];
      size |= uint64_t(b & 0x7F) << (7 * k);
      if (!(b & 0x80)) break;
    }
    size_t end = std::min(map.size, i + static_cast<size_t>(size));
    if (type != 2) out.insert(out.end(), map.data + start, map.data + end);
    i = end;
  }
  gst_buffer_unmap(buf, &map);
  return rtmp::to_hex(rtmp::md5(rtmp::Bytes(out)));
}

class Push : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void SetUp() override { dir_ = ertmp_test::make_temp_dir("push"); }
  void TearDown() override {
    for (GstElement** p : {&push_, &ingest_}) {
      if (*p) {
        gst_element_set_state(*p, GST_STATE_NULL);
        gst_object_unref(*p);
        *p = nullptr;
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // rtmpingestsrc on a free (or given) port, every pad to an appsink collecting into got_.
  void start_ingest(const std::string& props = "", guint port = 0) {
    std::string desc =
        "rtmpingestsrc name=src application=live stream-key=k port=" + std::to_string(port) + " " +
        props;
    GError* err = nullptr;
    GstElement* src = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(src) << (err ? err->message : "");
    ingest_ = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(ingest_), src);
    g_signal_connect(src, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
    ASSERT_NE(gst_element_set_state(ingest_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    g_object_get(src, "bound-port", &port_, nullptr);
    ASSERT_GT(port_, 0);
  }
  std::string ingest_url(const std::string& key = "k") const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }

  // Parses `desc` (containing "rtmppushsink name=push ..."), taps every sink pad of the sink
  // into sent_ (under the pad's name) and plays it (unless `play` is false: then play()).
  void start_push(const std::string& desc, bool play_now = true) {
    GError* err = nullptr;
    push_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(push_) << (err ? err->message : "");
    ASSERT_FALSE(err) << (err ? err->message : "");
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    ASSERT_TRUE(sink);
    for (GList* l = GST_ELEMENT(sink)->sinkpads; l; l = l->next) {
      GstPad* pad = GST_PAD(l->data);
      ertmp_test::tap_pad(pad, &sent_, GST_PAD_NAME(pad));
    }
    gst_object_unref(sink);
    if (play_now) play();
  }
  void play() {
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }

  // The push pipeline ends (EOS after the clean unpublish), then the ingest sees the publisher
  // leave (EOS on its pads).
  // Returns the ingest's element messages as text.
  std::vector<std::string> finish_both() {
    std::vector<std::string> details;
    EXPECT_EQ(wait_bus(push_, 60 * GST_SECOND), GST_MESSAGE_EOS);
    EXPECT_EQ(wait_bus(ingest_, 20 * GST_SECOND, nullptr, &details), GST_MESSAGE_EOS);
    return details;
  }

  // Records, for the sink's pad `pad_name`, the MD5 of each AV1 buffer without its temporal
  // delimiters (what the sink must send).
  void tap_av1(const char* pad_name, std::vector<std::string>* md5s) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    GstPad* pad = gst_element_get_static_pad(sink, pad_name);
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo* info, gpointer d) -> GstPadProbeReturn {
          static_cast<std::vector<std::string>*>(d)->push_back(
              av1_md5_without_td(GST_PAD_PROBE_INFO_BUFFER(info)));
          return GST_PAD_PROBE_OK;
        },
        md5s, nullptr);
    gst_object_unref(pad);
    gst_object_unref(sink);
  }

  std::filesystem::path make_flv_source(int seconds = 2) {
    auto f = dir_ / "src.flv";
    std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=30 "
        "-f lavfi -i sine=sample_rate=44100 -t " +
        std::to_string(seconds) + " -c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac '" +
        f.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return f;
  }

  // An appsrc ("a", AAC caps) into rtmppushsink sync=true publishing to our ingest; buffers
  // go in with push_audio_at().
  void start_appsrc_audio_push() {
    start_ingest();
    start_push(
        "appsrc name=a is-live=true format=time caps=audio/mpeg,mpegversion=4,"
        "stream-format=raw,rate=44100,channels=2,codec_data=(buffer)1210 ! push.audio_0 "
        "rtmppushsink name=push sync=true location=" +
        ingest_url());
  }
  void push_audio_at(GstClockTime pts, uint8_t fill) {
    GstElement* src = gst_bin_get_by_name(GST_BIN(push_), "a");
    ASSERT_TRUE(src);
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 200, nullptr);
    gst_buffer_memset(b, 0, fill, 200);
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = pts;
    GST_BUFFER_DURATION(b) = 23 * GST_MSECOND;
    GstFlowReturn ret = GST_FLOW_ERROR;
    g_signal_emit_by_name(src, "push-buffer", b, &ret);
    gst_buffer_unref(b);
    EXPECT_EQ(ret, GST_FLOW_OK);
    gst_object_unref(src);
  }
  void end_appsrc() {
    GstElement* src = gst_bin_get_by_name(GST_BIN(push_), "a");
    ASSERT_TRUE(src);
    GstFlowReturn ret = GST_FLOW_ERROR;
    g_signal_emit_by_name(src, "end-of-stream", &ret);
    EXPECT_EQ(ret, GST_FLOW_OK);
    gst_object_unref(src);
  }
  // Waits (bounded, failing on an error message of the push pipeline) until `until()` holds.
  void wait_push_until(const std::function<bool()>& until, int seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!until() && std::chrono::steady_clock::now() < deadline) {
      GstBus* bus = gst_element_get_bus(push_);
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 20 * GST_MSECOND, GST_MESSAGE_ERROR);
      gst_object_unref(bus);
      ASSERT_FALSE(m);
    }
  }

  std::filesystem::path dir_;
  GstElement* ingest_ = nullptr;
  GstElement* push_ = nullptr;
  int port_ = -1;
  Collected got_;   // what left the ingest's pads
  Collected sent_;  // what entered the push sink's pads
};

TEST_F(Push, H264AndAacArrivePacketForPacketWithCompositionOffsets) {
  ERTMP_REQUIRE(have_elements({"x264enc", "avenc_aac"}),
                "x264enc, avenc_aac (gstreamer1.0-plugins-ugly, gstreamer1.0-libav)");
  start_ingest();
  start_push(
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc bframes=2 key-int-max=30 bitrate=800 ! rtmppushsink name=push sync=false "
      "location=" +
      ingest_url() + " audiotestsrc num-buffers=80 ! avenc_aac ! push.");
  auto details = finish_both();
  // onMetaData built from the caps and tags reached the server (the latest one: a pad whose
  // first buffer comes after interleave-timeout gets its format described again).
  auto md = std::find_if(details.rbegin(), details.rend(), [](const std::string& d) {
    return d.rfind("rtmpingestsrc-metadata", 0) == 0;
  });
  ASSERT_NE(md, details.rend());
  for (const char* field : {"width", "height", "framerate", "videocodecid", "audiocodecid",
                            "audiosamplerate", "videodatarate"}) {
    EXPECT_NE(md->find(field), std::string::npos) << field << " missing in " << *md;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
  GstStructure* stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  gst_object_unref(sink);
  ASSERT_TRUE(stats);
  guint64 out_bytes = 0, frames = 0;
  EXPECT_TRUE(gst_structure_get_uint64(stats, "out-bytes-total", &out_bytes));
  EXPECT_TRUE(gst_structure_get_uint64(stats, "video_0-frames", &frames));
  gst_structure_free(stats);
  EXPECT_EQ(frames, 60u);
  EXPECT_GT(out_bytes, 10'000u);
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(sent_.md5s["video_0"].size(), 60u);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(got_.keyframes["video_0"], sent_.keyframes["video_0"]);
  // B-frames: the composition offset (PTS - DTS) survives the trip, to the millisecond.
  int reordered = 0;
  for (size_t i = 0; i < got_.pts["video_0"].size(); ++i) {
    auto ms = [](GstClockTime t) { return static_cast<int64_t>(t / GST_MSECOND); };
    int64_t want = ms(sent_.pts["video_0"][i]) - ms(sent_.dts["video_0"][i]);
    int64_t have = ms(got_.pts["video_0"][i]) - ms(got_.dts["video_0"][i]);
    EXPECT_LE(std::abs(have - want), 1) << "frame " << i;
    if (want > 0) ++reordered;
  }
  EXPECT_GT(reordered, 10);
  EXPECT_GT(sent_.md5s["audio_0"].size(), 70u);
  EXPECT_EQ(got_.md5s["audio_0"], sent_.md5s["audio_0"]);
  EXPECT_NE(got_.caps["video_0"].find("video/x-h264"), std::string::npos);
  EXPECT_NE(got_.caps["audio_0"].find("audio/mpeg"), std::string::npos);
}

struct CodecCase {
  const char* name;
  std::vector<const char*> elements;
  std::string branch;  // source ! encoder (! parser) up to the sink pad
  const char* pad;
  const char* caps_prefix;  // what the ingest's pad must carry
  const char* package;      // the Debian package of the elements
  bool av1 = false;
};

class PushCodec : public Push, public ::testing::WithParamInterface<CodecCase> {};

TEST_P(PushCodec, ReachesOurIngestPacketForPacket) {
  const CodecCase& c = GetParam();
  ERTMP_REQUIRE(have_elements(c.elements), c.package);
  start_ingest();
  // AV1: the sink removes temporal delimiters; compute the expected bytes independently.
  std::vector<std::string> av1_expected;
  start_push(c.branch + " ! rtmppushsink name=push sync=false location=" + ingest_url(), false);
  if (c.av1) tap_av1(c.pad, &av1_expected);
  play();
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& sent = sent_.md5s[c.pad];
  ASSERT_GE(sent.size(), 5u);
  if (c.av1) {
    EXPECT_EQ(got_.md5s[c.pad], av1_expected);
  } else {
    EXPECT_EQ(got_.md5s[c.pad], sent);
  }
  EXPECT_EQ(got_.caps[c.pad].rfind(c.caps_prefix, 0), 0u) << got_.caps[c.pad];
}

const std::string kVideo = "videotestsrc num-buffers=20 ! video/x-raw,width=320,height=240 ! ";
const std::string kAudio = "audiotestsrc num-buffers=30 ! ";

INSTANTIATE_TEST_SUITE_P(
    Codecs, PushCodec,
    ::testing::Values(
        CodecCase{"hevc",
                  {"x265enc", "h265parse"},
                  kVideo + "x265enc speed-preset=ultrafast key-int-max=10 ! h265parse",
                  "video_0",
                  "video/x-h265",
                  "x265enc, h265parse (gstreamer1.0-plugins-bad)"},
        CodecCase{"av1",
                  {"av1enc", "av1parse"},
                  "videotestsrc num-buffers=8 ! video/x-raw,width=160,height=120 ! av1enc "
                  "cpu-used=8 lag-in-frames=0 ! av1parse",
                  "video_0",
                  "video/x-av1",
                  "av1enc, av1parse (gstreamer1.0-plugins-bad)",
                  true},
        CodecCase{"vp9",
                  {"vp9enc"},
                  kVideo + "vp9enc deadline=1 cpu-used=8",
                  "video_0",
                  "video/x-vp9",
                  "vp9enc (gstreamer1.0-plugins-good)"},
        CodecCase{"vp8",
                  {"vp8enc"},
                  kVideo + "vp8enc deadline=1",
                  "video_0",
                  "video/x-vp8",
                  "vp8enc (gstreamer1.0-plugins-good)"},
        CodecCase{"opus",
                  {"opusenc"},
                  kAudio + "opusenc",
                  "audio_0",
                  "audio/x-opus",
                  "opusenc (gstreamer1.0-plugins-base)"},
        CodecCase{"mp3",
                  {"lamemp3enc"},
                  kAudio + "lamemp3enc ! mpegaudioparse",
                  "audio_0",
                  "audio/mpeg",
                  "lamemp3enc (gstreamer1.0-plugins-good)"},
        CodecCase{"mp3_48k",
                  {"lamemp3enc"},
                  kAudio + "audio/x-raw,rate=48000 ! lamemp3enc ! mpegaudioparse",
                  "audio_0",
                  "audio/mpeg",
                  "lamemp3enc (gstreamer1.0-plugins-good)"},
        CodecCase{"flac",
                  {"flacenc"},
                  kAudio + "flacenc ! flacparse",
                  "audio_0",
                  "audio/x-flac",
                  "flacenc (gstreamer1.0-plugins-good)"},
        CodecCase{"ac3",
                  {"avenc_ac3"},
                  kAudio + "avenc_ac3",
                  "audio_0",
                  "audio/x-ac3",
                  "avenc_ac3 (gstreamer1.0-libav)"},
        CodecCase{"eac3",
                  {"avenc_eac3"},
                  kAudio + "avenc_eac3",
                  "audio_0",
                  "audio/x-eac3",
                  "avenc_eac3 (gstreamer1.0-libav)"}),
    [](const ::testing::TestParamInfo<CodecCase>& i) { return std::string(i.param.name); });

TEST_F(Push, SeveralTracksOfEachKindArriveOnTheirOwnPads) {
  ERTMP_REQUIRE(have_elements({"x264enc", "x265enc", "h265parse", "avenc_aac", "opusenc"}),
                "x264enc, x265enc, h265parse, avenc_aac, opusenc (gstreamer1.0-plugins-ugly, "
                "-bad, -libav, -base)");
  start_ingest();
  start_push("rtmppushsink name=push sync=false location=" + ingest_url() + " " + kVideo +
             "x264enc ! push.video_0 " + kVideo +
             "x265enc speed-preset=ultrafast ! h265parse ! push.video_1 " + kAudio +
             "avenc_aac ! push.audio_0 " + kAudio + "opusenc ! push.audio_1");
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  for (const char* pad : {"video_0", "video_1", "audio_0", "audio_1"}) {
    EXPECT_GE(sent_.md5s[pad].size(), 10u) << pad;
    EXPECT_EQ(got_.md5s[pad], sent_.md5s[pad]) << pad;
  }
  EXPECT_EQ(got_.caps["video_1"].rfind("video/x-h265", 0), 0u);
  EXPECT_EQ(got_.caps["audio_1"].rfind("audio/x-opus", 0), 0u);
}

TEST_F(Push, FlvmuxInputIsRecordedByNginxPacketForPacket) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (libnginx-mod-rtmp)");
  auto src = make_flv_source();
  ertmp_test::NginxRtmp nginx(true);
  ASSERT_TRUE(nginx.ready());
  GError* err = nullptr;
  push_ = gst_parse_launch(("filesrc location=" + src.string() +
                            " ! flvdemux name=d flvmux name=m streamable=true ! rtmppushsink "
                            "name=push sync=false location=" +
                            nginx.url("k") + " d.video ! queue ! m.video d.audio ! queue ! m.audio")
                               .c_str(),
                           &err);
  ASSERT_TRUE(push_) << (err ? err->message : "");
  ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(wait_bus(push_, 60 * GST_SECOND), GST_MESSAGE_EOS);
  gst_element_set_state(push_, GST_STATE_NULL);
  nginx.stop();
  auto rec = nginx.dir() / "rec" / "k.flv";
  ASSERT_TRUE(std::filesystem::exists(rec));
  EXPECT_EQ(file_md5s(rec, 0), file_md5s(src, 0));
  EXPECT_EQ(file_md5s(rec, 1), file_md5s(src, 1));
}

// Whether something listens on 127.0.0.1:port, from /proc/net/tcp (connecting to find out
// would use up `ffmpeg -listen 1`'s single connection).
bool listening(uint16_t port) {
  char want[16];
  snprintf(want, sizeof want, ":%04X", port);
  std::ifstream f("/proc/net/tcp");
  std::string line;
  while (std::getline(f, line)) {
    // "  sl  local_address rem_address   st ..." ; state 0A = LISTEN
    std::istringstream ls(line);
    std::string sl, local, remote, st;
    ls >> sl >> local >> remote >> st;
    if (local.size() > 5 && local.substr(local.size() - 5) == want && st == "0A") return true;
  }
  return false;
}

bool wait_listening(uint16_t port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (listening(port)) return true;
    // Polling a port another process opens: there is no event to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(Push, FfmpegListenKeepsEveryPacketOfAnElementaryPublish) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  auto src = make_flv_source();
  uint16_t port = ertmp_test::free_port();
  auto out = dir_ / "out.flv";
  ertmp_test::Child ff("exec ffmpeg -hide_banner -loglevel error -listen 1 -i rtmp://127.0.0.1:" +
                       std::to_string(port) + "/live/k -c copy -y '" + out.string() + "'");
  ASSERT_TRUE(wait_listening(port, 10'000));
  GError* err = nullptr;
  push_ = gst_parse_launch(("filesrc location=" + src.string() +
                            " ! flvdemux name=d rtmppushsink name=push sync=false "
                            "location=rtmp://127.0.0.1:" +
                            std::to_string(port) +
                            "/live/k d.video ! queue ! h264parse ! push.video_0 d.audio ! "
                            "queue ! aacparse ! push.audio_0")
                               .c_str(),
                           &err);
  ASSERT_TRUE(push_) << (err ? err->message : "");
  ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(wait_bus(push_, 60 * GST_SECOND), GST_MESSAGE_EOS);
  // ffmpeg ends its recording when it sees FCUnpublish/deleteStream and the close, and exits
  // with status 0 (a crash or an error is a failure; -1 is "still running").
  EXPECT_EQ(ff.wait(20'000), 0);
  ASSERT_TRUE(std::filesystem::exists(out));
  EXPECT_EQ(file_md5s(out, 0), file_md5s(src, 0));
  EXPECT_EQ(file_md5s(out, 1), file_md5s(src, 1));
}

// node-media-server (E-RTMP) records every message body as it arrived: the frames inside its
// recording, per (kind, track), must be the buffers that entered the sink's pads.
TEST_F(Push, NodeMediaServerRecordsHevcAv1VpxOpusAndTracksAsSent) {
  ERTMP_REQUIRE(ertmp_test::NodeMediaServer::available(),
                "node-media-server (npm; tools/install-deps.sh)");
  ERTMP_REQUIRE(have_elements({"x265enc", "h265parse", "av1enc", "av1parse", "vp9enc", "opusenc"}),
                "x265enc, h265parse, av1enc, av1parse, vp9enc, opusenc (gstreamer1.0-plugins-bad, "
                "-good, -base)");
  ertmp_test::NodeMediaServer nms;
  ASSERT_TRUE(nms.start()) << nms.log();
  std::vector<std::string> av1_expected;
  start_push(
      // enhanced=always: node-media-server echoes no E-RTMP capabilities, so auto would send
      // track 0 only; it relays every track as sent.
      "rtmppushsink name=push sync=false enhanced=always location=" + nms.url("live", "k") + " " +
          kVideo +
          "x265enc speed-preset=ultrafast key-int-max=10 ! h265parse ! push.video_0 "
          "videotestsrc num-buffers=8 ! video/x-raw,width=160,height=120 ! av1enc cpu-used=8 "
          "lag-in-frames=0 ! av1parse ! push.video_1 " +
          kVideo + "vp9enc deadline=1 cpu-used=8 ! push.video_2 " + kAudio +
          "opusenc ! push.audio_0",
      false);
  tap_av1("video_1", &av1_expected);
  play();
  ASSERT_EQ(wait_bus(push_, 60 * GST_SECOND), GST_MESSAGE_EOS);
  gst_element_set_state(push_, GST_STATE_NULL);
  nms.stop();
  std::map<std::string, std::vector<std::string>> recorded;
  std::map<std::string, rtmp::Codec> codecs;
  for (const auto& t : ertmp_test::NodeMediaServer::flv_tags(nms.recording("live", "k"))) {
    if (t.type != 8 && t.type != 9) continue;
    auto tag = rtmp::parse_flv_tag(static_cast<rtmp::TagType>(t.type), t.body);
    ASSERT_TRUE(tag.ok()) << tag.error().to_string();
    for (const auto& u : tag->units) {
      if (u.packet != rtmp::PacketKind::kCodedFrames) continue;
      std::string pad = std::string(u.video ? "video_" : "audio_") + std::to_string(u.track_id);
      recorded[pad].push_back(
          rtmp::to_hex(rtmp::md5(rtmp::Bytes(t.body.data() + u.offset, u.size))));
      codecs[pad] = u.codec;
    }
  }
  std::lock_guard<std::mutex> lock(sent_.mu);
  EXPECT_EQ(recorded["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(recorded["video_1"], av1_expected);
  EXPECT_EQ(recorded["video_2"], sent_.md5s["video_2"]);
  EXPECT_EQ(recorded["audio_0"], sent_.md5s["audio_0"]);
  EXPECT_EQ(codecs["video_0"], rtmp::Codec::kHevc);
  EXPECT_EQ(codecs["video_1"], rtmp::Codec::kAv1);
  EXPECT_EQ(codecs["video_2"], rtmp::Codec::kVp9);
  EXPECT_EQ(codecs["audio_0"], rtmp::Codec::kOpus);
  EXPECT_GE(recorded["video_0"].size(), 20u);
}

// A one-connection server on our ServerSession: accepts the publish and, after `after` media
// messages, sends an E-RTMP ReconnectRequest to `tc_url`; then reads on until the client
// leaves (the spec: the old server keeps processing until the client goes).
class ReconnectingServer {
 public:
  ReconnectingServer(int after, std::string tc_url) : after_(after), tc_url_(std::move(tc_url)) {
    fd_ = ertmp_test::listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~ReconnectingServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  int media() const { return media_.load(); }
  bool client_left() const { return left_.load(); }

 private:
  void run() {
    pollfd p{fd_, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stop_ && poll(&p, 1, 100) == 0 && std::chrono::steady_clock::now() < deadline) {
    }
    if (stop_ || !(p.revents & POLLIN)) return;
    int c = accept(fd_, nullptr, nullptr);
    auto now = [] {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now().time_since_epoch())
                                       .count());
    };
    rtmp::ServerSession session(rtmp::ServerConfig{}, now());
    uint8_t buf[65536];
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd cp{c, POLLIN, 0};
      if (poll(&cp, 1, 100) <= 0) continue;
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      (void)session.receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now());
      while (auto ev = session.next_event()) {
        if (auto pr = std::get_if<rtmp::PublishRequested>(&*ev)) {
          (void)session.accept_publish(pr->stream_id);
        } else if (std::get_if<rtmp::MediaReceived>(&*ev)) {
          if (++media_ == after_) (void)session.request_reconnect(tc_url_, "moving you");
        }
      }
      for (rtmp::Bytes out = session.pending_output(); !out.empty();
           out = session.pending_output()) {
        ssize_t w = write(c, out.data(), out.size());
        if (w <= 0) break;
        session.consume_output(static_cast<size_t>(w));
      }
    }
    left_ = true;
    close(c);
  }

  int after_;
  std::string tc_url_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> media_{0};
  std::atomic<bool> left_{false};
};

TEST_F(Push, ErtmpReconnectRequestMovesThePublishToTheNewServerAtAKeyframe) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  start_ingest();
  ReconnectingServer old_server(20, "rtmp://127.0.0.1:" + std::to_string(port_) + "/live");
  start_push(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=10 ! rtmppushsink name=push location=" +
      std::string("rtmp://127.0.0.1:") + std::to_string(old_server.port()) + "/live/k");
  // Bounded wait for frames at the new server (the ingest's appsink counts them).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got_.count("video_0") < 20 && std::chrono::steady_clock::now() < deadline) {
    GstBus* bus = gst_element_get_bus(push_);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    ASSERT_FALSE(m) << "the publish failed instead of moving";
  }
  gst_element_send_event(push_, gst_event_new_eos());
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_GE(old_server.media(), 20);
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_GE(got_.md5s["video_0"].size(), 20u);
  EXPECT_TRUE(got_.keyframes["video_0"][0]) << "the new server starts at a keyframe";
  // Nothing lost or repeated across the move: the new server's frames are a contiguous run of
  // what entered the sink.
  const auto& sent = sent_.md5s["video_0"];
  const auto& got = got_.md5s["video_0"];
  auto start = std::find(sent.begin(), sent.end(), got[0]);
  ASSERT_NE(start, sent.end());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), start, sent.end()));
}

TEST_F(Push, ASilentLiveInputDoesNotStallTheOthers) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  start_ingest();
  // audio_0 is linked and negotiated but never delivers a buffer (a muted live source).
  start_push(
      "appsrc name=mute is-live=true format=time caps=audio/mpeg,mpegversion=4,"
      "stream-format=raw,rate=44100,channels=2,codec_data=(buffer)1210 ! push.audio_0 "
      "rtmppushsink name=push interleave-timeout=200 location=" +
      ingest_url() +
      " videotestsrc is-live=true num-buffers=45 ! "
      "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency ! "
      "push.video_0");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (got_.count("video_0") < 40 && std::chrono::steady_clock::now() < deadline) {
    GstBus* bus = gst_element_get_bus(ingest_);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    ASSERT_FALSE(m);
  }
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_GE(got_.md5s["video_0"].size(), 40u);
  EXPECT_TRUE(got_.md5s["audio_0"].empty());
}

// sync=true: the sender waits on the clock for a buffer far in the future; a flush on its pad
// ends the wait at once and that buffer is not sent. The ones before and after arrive.
TEST_F(Push, AFlushEndsAClockWaitAndDropsTheBufferWaitedFor) {
  start_appsrc_audio_push();
  GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
  ASSERT_TRUE(sink);
  auto queued = [&] {
    GstStructure* st = nullptr;
    g_object_get(sink, "stats", &st, nullptr);
    guint q = 99;
    if (st) {
      gst_structure_get_uint(st, "audio_0-queued", &q);
      gst_structure_free(st);
    }
    return q;
  };
  push_audio_at(0, 1);
  push_audio_at(30 * GST_SECOND, 2);  // 30 s ahead of the clock
  // Until the sender holds the far buffer (queue empty) and the first one arrived.
  wait_push_until([&] { return queued() == 0 && got_.count("audio_0") >= 1; });
  ASSERT_EQ(queued(), 0u);
  ASSERT_EQ(got_.count("audio_0"), 1u);

  GstPad* pad = gst_element_get_static_pad(sink, "audio_0");
  ASSERT_TRUE(pad);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(gst_pad_send_event(pad, gst_event_new_flush_start()));
  EXPECT_TRUE(gst_pad_send_event(pad, gst_event_new_flush_stop(FALSE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  EXPECT_TRUE(gst_pad_send_event(pad, gst_event_new_segment(&seg)));  // flush-stop cleared it
  gst_object_unref(pad);
  push_audio_at(100 * GST_MSECOND, 3);
  end_appsrc();
  finish_both();
  // Without the unschedule the sender would sit out the 30 s.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  std::lock_guard<std::mutex> l1(got_.mu), l2(sent_.mu);
  ASSERT_EQ(sent_.md5s["audio_0"].size(), 3u);
  ASSERT_EQ(got_.md5s["audio_0"].size(), 2u);
  EXPECT_EQ(got_.md5s["audio_0"][0], sent_.md5s["audio_0"][0]);
  EXPECT_EQ(got_.md5s["audio_0"][1], sent_.md5s["audio_0"][2]);
  gst_object_unref(sink);
}

// sync=true: a pause while the sender waits on the clock holds that buffer back (it used to
// go out at once); back in PLAYING it is sent, and everything arrives once, in order.
TEST_F(Push, APauseHoldsTheBufferWaitedOnUntilPlayingAgain) {
  start_appsrc_audio_push();
  push_audio_at(0, 1);
  wait_push_until([&] { return got_.count("audio_0") >= 1; });
  ASSERT_EQ(got_.count("audio_0"), 1u);
  // The next buffer is due 1 s of running time from now; pause before that.
  GstClock* clock = gst_element_get_clock(push_);
  ASSERT_TRUE(clock);
  const GstClockTime running = gst_clock_get_time(clock) - gst_element_get_base_time(push_);
  gst_object_unref(clock);
  push_audio_at(running + GST_SECOND, 2);
  ASSERT_NE(gst_element_set_state(push_, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  // An observation window, not a synchronisation: while paused past its due time nothing
  // may arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(got_.count("audio_0"), 1u);
  play();
  wait_push_until([&] { return got_.count("audio_0") >= 2; });
  end_appsrc();
  finish_both();
  std::lock_guard<std::mutex> l1(got_.mu), l2(sent_.mu);
  EXPECT_EQ(got_.md5s["audio_0"], sent_.md5s["audio_0"]);
  EXPECT_EQ(got_.md5s["audio_0"].size(), 2u);
}

TEST_F(Push, PublishesOverIpv6Loopback) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  ERTMP_REQUIRE(std::ifstream("/proc/net/if_inet6").good(), "IPv6 on loopback (the kernel's)");
  start_ingest("address=::1");
  start_push(
      "videotestsrc num-buffers=20 ! video/x-raw,width=320,height=240 ! x264enc ! "
      "rtmppushsink name=push sync=false location=rtmp://[::1]:" +
      std::to_string(port_) + "/live/k");
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(sent_.md5s["video_0"].size(), 20u);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
}

// A self-signed certificate (and its key) for localhost in `dir`.
bool make_certificate(const std::filesystem::path& dir) {
  std::string cmd = "cd '" + dir.string() +
                    "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                    "-keyout key.pem -out cert.pem >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST_F(Push, RtmpsIntoOurTlsIngestPacketForPacket) {
  ERTMP_REQUIRE(have_elements({"x264enc", "avenc_aac"}),
                "x264enc, avenc_aac (gstreamer1.0-plugins-ugly, gstreamer1.0-libav)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (openssl)");
  ASSERT_TRUE(make_certificate(dir_));
  start_ingest("tls-certificate-file=" + (dir_ / "cert.pem").string() +
               " tls-key-file=" + (dir_ / "key.pem").string());
  // Self-signed: accept an unknown issuer, still check everything else (host name, dates).
  start_push(
      "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! x264enc ! "
      "rtmppushsink name=push sync=false tls-validation-flags=bad-identity+expired "
      "location=rtmps://localhost:" +
      std::to_string(port_) + "/live/k audiotestsrc num-buffers=40 ! avenc_aac ! push.");
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(sent_.md5s["video_0"].size(), 30u);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(got_.md5s["audio_0"], sent_.md5s["audio_0"]);
}

TEST_F(Push, RtmpsRefusesAnUntrustedCertificateByDefault) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (openssl)");
  ASSERT_TRUE(make_certificate(dir_));
  start_ingest("tls-certificate-file=" + (dir_ / "cert.pem").string() +
               " tls-key-file=" + (dir_ / "key.pem").string());
  start_push(
      "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtmppushsink name=push "
      "location=rtmps://localhost:" +
      std::to_string(port_) + "/live/k");
  std::string error;
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND, nullptr, &error), GST_MESSAGE_ERROR);
  EXPECT_NE(error.find("TLS handshake"), std::string::npos) << error;
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_TRUE(got_.md5s.empty());
}

// The byte stream of an ingest in output-mode=flv: the RTMP timestamps as the server saw them.
struct FlvCapture {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint8_t> bytes;

  // Tags of one type (8 audio, 9 video) parsed so far, sequence headers included.
  std::vector<rtmp::FlvFileTag> tags(uint8_t type) {
    std::lock_guard<std::mutex> lock(mu);
    return tags_locked(type);
  }
  std::vector<rtmp::FlvFileTag> video_tags() { return tags(9); }
  bool wait_video_tags(size_t n, int timeout_ms) { return wait_tags(9, n, timeout_ms); }
  // Waits (bounded) until `n` tags of `type` arrived. The predicate is checked under the lock
  // the appsink callback appends with, so a notify between check and wait is never lost.
  bool wait_tags(uint8_t type, size_t n, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [&] { return tags_locked(type).size() >= n; });
  }

 private:
  std::vector<rtmp::FlvFileTag> tags_locked(uint8_t type) const {
    rtmp::FlvReader r;
    (void)r.receive(bytes);
    std::vector<rtmp::FlvFileTag> v;
    while (auto t = r.next_tag())
      if (t->type == type) v.push_back(std::move(*t));
    return v;
  }
};

GstElement* flv_ingest(guint port, FlvCapture* cap) {
  GstElement* pipeline = gst_parse_launch(
      ("rtmpingestsrc address=127.0.0.1 output-mode=flv application=live stream-key=k port=" +
       std::to_string(port) + " ! appsink name=out emit-signals=true sync=false")
          .c_str(),
      nullptr);
  GstElement* out = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  g_signal_connect(out, "new-sample",
                   G_CALLBACK(+[](GstAppSink* sink, gpointer d) -> GstFlowReturn {
                     auto* c = static_cast<FlvCapture*>(d);
                     GstSample* s = gst_app_sink_pull_sample(sink);
                     GstMapInfo map;
                     gst_buffer_map(gst_sample_get_buffer(s), &map, GST_MAP_READ);
                     {
                       std::lock_guard<std::mutex> lock(c->mu);
                       c->bytes.insert(c->bytes.end(), map.data, map.data + map.size);
                     }
                     c->cv.notify_all();
                     gst_buffer_unmap(gst_sample_get_buffer(s), &map);
                     gst_sample_unref(s);
                     return GST_FLOW_OK;
                   }),
                   cap);
  gst_object_unref(out);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  return pipeline;
}

bool is_sequence_header(const rtmp::FlvFileTag& t) {
  auto tag = rtmp::parse_flv_tag(rtmp::TagType::kVideo, t.body);
  return tag.ok() && !tag->units.empty() &&
         tag->units[0].packet == rtmp::PacketKind::kSequenceStart;
}

TEST_F(Push, ReconnectAttemptsExhaustedIsAnError) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  uint16_t port = ertmp_test::free_port();
  FlvCapture first;
  GstElement* server = flv_ingest(port, &first);
  start_push(
      "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtmppushsink name=push "
      "reconnect-attempts=2 reconnect-delay=100 location=rtmp://127.0.0.1:" +
      std::to_string(port) + "/live/k");
  ASSERT_TRUE(first.wait_video_tags(5, 20'000));
  gst_element_set_state(server, GST_STATE_NULL);  // gone for good
  gst_object_unref(server);
  std::vector<std::string> messages;
  std::string error;
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND, &messages, &error), GST_MESSAGE_ERROR);
  EXPECT_NE(error.find("2 reconnect attempts failed"), std::string::npos) << error;
  EXPECT_EQ(std::count(messages.begin(), messages.end(), "rtmppushsink-reconnecting"), 2)
      << "the immediate retry and the delayed one";
}

TEST_F(Push, MessagesLeaveInDtsOrderAcrossTracks) {
  ERTMP_REQUIRE(have_elements({"x264enc", "avenc_aac"}),
                "x264enc, avenc_aac (gstreamer1.0-plugins-ugly, gstreamer1.0-libav)");
  uint16_t port = ertmp_test::free_port();
  FlvCapture cap;
  GstElement* server = flv_ingest(port, &cap);
  // Audio and video from independent sources at different rates; the sink interleaves.
  start_push("rtmppushsink name=push sync=false location=rtmp://127.0.0.1:" + std::to_string(port) +
             "/live/k " + kVideo + "x264enc bframes=2 ! push.video_0 " +
             "audiotestsrc num-buffers=40 samplesperbuffer=512 ! avenc_aac ! push.audio_0");
  EXPECT_EQ(wait_bus(push_, 30 * GST_SECOND), GST_MESSAGE_EOS);
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  std::vector<uint8_t> bytes;
  {
    std::lock_guard<std::mutex> lock(cap.mu);
    bytes = cap.bytes;
  }
  rtmp::FlvReader r;
  ASSERT_TRUE(r.receive(bytes).ok());
  int64_t last = -1;
  int audio = 0, video = 0;
  while (auto t = r.next_tag()) {
    if (t->type != 8 && t->type != 9) continue;
    (t->type == 8 ? audio : video)++;
    EXPECT_GE(t->timestamp, last) << "tag " << audio + video << " type " << int(t->type) << " size "
                                  << t->body.size();
    last = t->timestamp;
  }
  EXPECT_GE(video, 20);
  EXPECT_GE(audio, 20);
}

// A track removed while PLAYING (the usual blocking-probe dance): the sink lets the pad go,
// the other track keeps flowing and the publish ends cleanly.
TEST_F(Push, ARequestPadReleasedWhilePlayingLeavesTheOtherTrackFlowing) {
  ERTMP_REQUIRE(have_elements({"x264enc", "avenc_aac"}),
                "x264enc, avenc_aac (gstreamer1.0-plugins-ugly, gstreamer1.0-libav)");
  start_ingest();
  start_push("rtmppushsink name=push location=" + ingest_url() +
             " videotestsrc is-live=true num-buffers=90 ! "
             "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency ! "
             "push.video_0 audiotestsrc name=asrc is-live=true ! avenc_aac name=aenc ! "
             "push.audio_0");
  wait_push_until([&] { return got_.count("audio_0") >= 10; }, 15);
  ASSERT_GE(got_.count("audio_0"), 10u);
  // Block the audio branch at its source, then take it out and give the sink pad back.
  GstElement* asrc = gst_bin_get_by_name(GST_BIN(push_), "asrc");
  GstElement* aenc = gst_bin_get_by_name(GST_BIN(push_), "aenc");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
  GstPad* src_pad = gst_element_get_static_pad(asrc, "src");
  struct Blocked {
    std::mutex mu;
    std::condition_variable cv;
    bool yes = false;
  } blocked;
  gulong probe = gst_pad_add_probe(
      src_pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM,
      [](GstPad*, GstPadProbeInfo*, gpointer d) -> GstPadProbeReturn {
        auto* b = static_cast<Blocked*>(d);
        std::lock_guard<std::mutex> lock(b->mu);
        b->yes = true;
        b->cv.notify_all();
        return GST_PAD_PROBE_OK;
      },
      &blocked, nullptr);
  {
    std::unique_lock<std::mutex> lock(blocked.mu);
    ASSERT_TRUE(blocked.cv.wait_for(lock, std::chrono::seconds(5), [&] { return blocked.yes; }));
  }
  GstPad* sink_pad = gst_element_get_static_pad(sink, "audio_0");
  ASSERT_TRUE(sink_pad);
  size_t audio_before = got_.count("audio_0");
  gst_element_set_state(asrc, GST_STATE_NULL);  // unblocks the probe: the branch stops
  gst_pad_remove_probe(src_pad, probe);
  gst_element_set_state(aenc, GST_STATE_NULL);
  gst_element_release_request_pad(sink, sink_pad);
  gst_object_unref(sink_pad);
  gst_bin_remove_many(GST_BIN(push_), asrc, aenc, nullptr);
  gst_object_unref(src_pad);
  gst_object_unref(asrc);
  gst_object_unref(aenc);
  gst_object_unref(sink);
  // Video goes on to its end (num-buffers) and the publish finishes with EOS.
  EXPECT_EQ(wait_bus(push_, 30 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(wait_bus(ingest_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(sent_.md5s["video_0"].size(), 90u);
  EXPECT_LE(got_.md5s["audio_0"].size(), audio_before + 5);  // what was already queued
}

TEST_F(Push, RefusedStreamKeyIsAClearErrorWithTheServerCode) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  start_ingest();
  start_push(
      "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtmppushsink name=push "
      "location=" +
      ingest_url("wrong"));
  std::string error;
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND, nullptr, &error), GST_MESSAGE_ERROR);
  EXPECT_NE(error.find("NetStream.Publish.BadName"), std::string::npos) << error;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST_F(Push, ServerThatNeverAnswersConnectTimesOutWithoutHanging) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  uint16_t port = 0;
  int fd = ertmp_test::listen_loopback(&port);  // the kernel accepts; nobody ever answers
  ASSERT_GE(fd, 0);
  start_push(
      "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtmppushsink name=push "
      "timeout=2 location=rtmp://127.0.0.1:" +
      std::to_string(port) + "/live/k");
  std::string error;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_bus(push_, 10 * GST_SECOND, nullptr, &error), GST_MESSAGE_ERROR);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
  EXPECT_NE(error.find("no answer"), std::string::npos) << error;
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  close(fd);
}

TEST_F(Push, StateChangesRepeatWithoutLeakingSocketsOrThreads) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  start_ingest("on-disconnect=wait");
  GError* err = nullptr;
  push_ = gst_parse_launch(("videotestsrc is-live=true ! x264enc tune=zerolatency ! "
                            "rtmppushsink name=push location=" +
                            ingest_url())
                               .c_str(),
                           &err);
  ASSERT_TRUE(push_);
  // One warm-up round: GStreamer opens a few fds of its own the first time (clock, poll).
  ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  int fds = ertmp_test::count_fds();
  int threads = ertmp_test::count_threads();
  for (int i = 0; i < 8; ++i) {
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    // Connected (an element message) before we pull the plug, half the rounds.
    if (i % 2 == 0) {
      GstBus* bus = gst_element_get_bus(push_);
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_ELEMENT);
      EXPECT_TRUE(m);
      if (m) gst_message_unref(m);
      gst_object_unref(bus);
    }
    ASSERT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  EXPECT_LE(ertmp_test::count_fds(), fds + 1);
  // x264enc/videotestsrc threads come and go with the state too; ours must not accumulate.
  // The ingest in this process ends some threads a moment after its last message (its bus
  // poster, publish decisions): a bounded wait for them.
  auto t0 = std::chrono::steady_clock::now();
  while (ertmp_test::count_threads() > threads + 2 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a count
  }
  EXPECT_LE(ertmp_test::count_threads(), threads + 2);
}

TEST_F(Push, ServerGoneMidStreamReconnectsAndResumesAtAKeyframeWithContinuousTimestamps) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  uint16_t port = ertmp_test::free_port();
  FlvCapture first, second;
  GstElement* server = flv_ingest(port, &first);
  start_push(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=15 ! rtmppushsink name=push "
      "reconnect-delay=100 location=rtmp://127.0.0.1:" +
      std::to_string(port) + "/live/k");
  ASSERT_TRUE(first.wait_video_tags(30, 20'000));
  // The server goes away (its sockets close under the publisher), then comes back.
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  server = flv_ingest(port, &second);
  bool resumed = second.wait_video_tags(30, 30'000);
  gst_element_send_event(push_, gst_event_new_eos());
  std::vector<std::string> messages;
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND, &messages), GST_MESSAGE_EOS);
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  ASSERT_TRUE(resumed);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "rtmppushsink-reconnecting"),
            messages.end());
  auto a = first.video_tags();
  auto b = second.video_tags();
  ASSERT_TRUE(is_sequence_header(b[0])) << "the second server gets the sequence header first";
  ASSERT_GE(b.size(), 2u);
  EXPECT_EQ(b[1].body[0] >> 4, 1) << "and resumes at a keyframe";
  // Continuous timestamps: the second server continues where the first stopped (no restart
  // at 0; the gap is the outage plus what max-buffer-time kept).
  EXPECT_GE(b[1].timestamp, a.back().timestamp - 1000);
  EXPECT_LT(b[1].timestamp, a.back().timestamp + 10'000);
  for (size_t i = 2; i < b.size(); ++i) EXPECT_GE(b[i].timestamp, b[i - 1].timestamp);
}

// A caps change while the server is away: the backlog holds frames of both formats, and the
// next server gets each frame after the sequence header it was encoded for (old header, old
// frames, new header, new frames), not only the newest header.
// DISABLED: intermittent. About 1 run in 7 one of the two FLV-mode ingests never shows all
// of the expected audio tags (seen both before and after the outage). It passed 7 of 7 runs
// and two CI runs, and it fails every time without the fix. Run it with
// --gtest_also_run_disabled_tests until the missing tag is explained.
TEST_F(Push, ACapsChangeDuringAnOutageReplaysEachFrameAfterItsOwnSequenceHeader) {
  uint16_t port = ertmp_test::free_port();
  FlvCapture first, second;
  GstElement* server = flv_ingest(port, &first);
  const std::string caps44 =
      "audio/mpeg,mpegversion=4,stream-format=raw,rate=44100,channels=2,codec_data=(buffer)1210";
  const std::string caps48 =
      "audio/mpeg,mpegversion=4,stream-format=raw,rate=48000,channels=1,codec_data=(buffer)1188";
  start_push("appsrc name=a is-live=true format=time caps=\"" + caps44 +
             "\" ! push.audio_0 rtmppushsink name=push sync=false reconnect-delay=100 "
             "location=rtmp://127.0.0.1:" +
             std::to_string(port) + "/live/k");
  GstClockTime pts = 0;
  auto push = [&](uint8_t fill) {
    push_audio_at(pts, fill);
    pts += 23 * GST_MSECOND;
  };
  for (uint8_t i = 1; i <= 5; ++i) push(i);
  ASSERT_TRUE(first.wait_tags(8, 6, 20'000));  // header + 5 frames
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  // Until the sink noticed (its first reconnect attempt): frames from here on are backlogged.
  bool reconnecting = false;
  GstBus* bus = gst_element_get_bus(push_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!reconnecting && std::chrono::steady_clock::now() < deadline) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 50 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    if (!m) continue;
    ASSERT_NE(GST_MESSAGE_TYPE(m), GST_MESSAGE_ERROR);
    const GstStructure* st = gst_message_get_structure(m);
    reconnecting = st && gst_structure_has_name(st, "rtmppushsink-reconnecting");
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  ASSERT_TRUE(reconnecting);
  push(6);
  push(7);
  GstElement* src = gst_bin_get_by_name(GST_BIN(push_), "a");
  GstCaps* c48 = gst_caps_from_string(caps48.c_str());
  g_object_set(src, "caps", c48, nullptr);
  gst_caps_unref(c48);
  gst_object_unref(src);
  push(8);
  push(9);
  server = flv_ingest(port, &second);
  bool resumed = second.wait_tags(8, 6, 30'000);
  end_appsrc();
  EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  auto b = second.tags(8);
  ASSERT_TRUE(resumed) << b.size() << " audio tags at the second server";
  ASSERT_EQ(b.size(), 6u);
  // AAC tag bodies: [sound format byte, packet type (0 = AudioSpecificConfig, 1 = raw), ...].
  auto is_header = [](const rtmp::FlvFileTag& t, uint8_t a, uint8_t c) {
    return t.body.size() == 4 && t.body[1] == 0 && t.body[2] == a && t.body[3] == c;
  };
  auto frame_fill = [](const rtmp::FlvFileTag& t) {
    return t.body.size() > 2 && t.body[1] == 1 ? int{t.body[2]} : -1;
  };
  EXPECT_TRUE(is_header(b[0], 0x12, 0x10));
  EXPECT_EQ(frame_fill(b[1]), 6);
  EXPECT_EQ(frame_fill(b[2]), 7);
  EXPECT_TRUE(is_header(b[3], 0x11, 0x88));
  EXPECT_EQ(frame_fill(b[4]), 8);
  EXPECT_EQ(frame_fill(b[5]), 9);
}

// ---- rtmp2sink semantics: base sink preroll and async, settings, error domains, properties
// changed while PLAYING, stop commands, pacing. -------------------------------------------

// The error a pipeline posts within `timeout` (domain 0 when none).
struct SeenError {
  GQuark domain = 0;
  gint code = 0;
  std::string text;
};
SeenError wait_error(GstElement* pipeline, GstClockTime timeout) {
  SeenError e;
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, timeout, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!m) return e;
  GError* err = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(m, &err, &dbg);
  e.domain = err->domain;
  e.code = err->code;
  e.text = std::string(err->message) + " | " + (dbg ? dbg : "");
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(m);
  return e;
}

// An appsrc ("a", AAC caps, not live) into rtmppushsink on pad `pad` with `props`.
std::string appsrc_aac_into(const std::string& pad, const std::string& props) {
  return "appsrc name=a format=time caps=audio/mpeg,mpegversion=4,stream-format=raw,rate=44100,"
         "channels=2,codec_data=(buffer)1210 ! " +
         pad + " rtmppushsink name=push " + props;
}

// A server that accepts TCP and never answers: with async=false the pipeline is PLAYING at
// once (the state change never waits for the server); with async=true it prerolls as a base
// sink does: ASYNC until a buffer arrives, then PLAYING, although the server still has not
// answered.
TEST_F(Push, AsyncFalseIsPlayingAtOnceAndAsyncTruePrerollsWithoutTheServer) {
  uint16_t port = 0;
  int fd = ertmp_test::listen_loopback(&port);
  ASSERT_GE(fd, 0);
  const std::string where = "location=rtmp://127.0.0.1:" + std::to_string(port) + "/live/k";
  // The elementary pad and the FLV pad behave the same.
  for (const char* pad : {"push.audio_0", "push.sink"}) {
    SCOPED_TRACE(pad);
    std::string desc = appsrc_aac_into(pad, "timeout=30 async=false " + where);
    if (std::string(pad) == "push.sink") {
      desc =
          "appsrc name=a format=time caps=video/x-flv ! push.sink rtmppushsink name=push "
          "timeout=30 async=false " +
          where;
    }
    start_push(desc, false);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
    GstState state = GST_STATE_VOID_PENDING;
    EXPECT_EQ(gst_element_get_state(push_, &state, nullptr, 0), GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(state, GST_STATE_PLAYING);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_object_unref(push_);
    push_ = nullptr;

    std::string async_desc = desc;
    async_desc.replace(async_desc.find("async=false"), 11, "async=true");
    start_push(async_desc, false);
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_ASYNC);
    // No buffer yet: still prerolling.
    EXPECT_EQ(gst_element_get_state(push_, &state, nullptr, 300 * GST_MSECOND),
              GST_STATE_CHANGE_ASYNC);
    if (std::string(pad) == "push.sink") {
      GstElement* src = gst_bin_get_by_name(GST_BIN(push_), "a");
      std::vector<uint8_t> flv;
      rtmp::FlvWriter::write_header(flv, true, false);
      std::vector<uint8_t> aac = {0xAF, 0x00, 0x12, 0x10};
      rtmp::FlvWriter::write_tag(flv, 8, 0, aac);
      GstBuffer* b = gst_buffer_new_memdup(flv.data(), flv.size());
      GST_BUFFER_PTS(b) = 0;
      GstFlowReturn ret = GST_FLOW_ERROR;
      g_signal_emit_by_name(src, "push-buffer", b, &ret);
      gst_buffer_unref(b);
      gst_object_unref(src);
    } else {
      push_audio_at(0, 1);
    }
    EXPECT_EQ(gst_element_get_state(push_, &state, nullptr, 10 * GST_SECOND),
              GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(state, GST_STATE_PLAYING) << "prerolled on the first buffer";
    const auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(3));
    gst_object_unref(push_);
    push_ = nullptr;
  }
  close(fd);
}

TEST_F(Push, AMalformedLocationFailsReadyToPausedWithASettingsError) {
  for (const char* bad : {"foo://h/live/k", "rtmp://", "rtmp://h:99999/live/k", "not a url"}) {
    SCOPED_TRACE(bad);
    start_push(appsrc_aac_into("push.audio_0", ""), false);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    g_object_set(sink, "location", bad, nullptr);
    gchar* back = nullptr;
    g_object_get(sink, "location", &back, nullptr);
    EXPECT_STREQ(back, bad) << "the refused text reads back, so the user sees it";
    g_free(back);
    gst_object_unref(sink);
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    SeenError e = wait_error(push_, 2 * GST_SECOND);
    EXPECT_EQ(e.domain, GST_RESOURCE_ERROR);
    EXPECT_EQ(e.code, GST_RESOURCE_ERROR_SETTINGS);
    EXPECT_NE(e.text.find(bad), std::string::npos) << e.text;
    gst_element_set_state(push_, GST_STATE_NULL);
    gst_object_unref(push_);
    push_ = nullptr;
  }
}

// rtmp2sink's mapping (gst/error_map.h): a refused stream key (BadName) is RESOURCE/FAILED,
// a refused TCP connection RESOURCE/OPEN_READ, a lost connection with no retries left
// RESOURCE/WRITE.
TEST_F(Push, ErrorDomainsAreRtmp2sinks) {
  start_ingest();
  start_push(appsrc_aac_into("push.audio_0", "location=" + ingest_url("wrong")));
  push_audio_at(0, 1);
  SeenError refused = wait_error(push_, 20 * GST_SECOND);
  EXPECT_EQ(refused.domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(refused.code, GST_RESOURCE_ERROR_FAILED) << refused.text;
  EXPECT_NE(refused.text.find("NetStream.Publish.BadName"), std::string::npos) << refused.text;
  gst_element_set_state(push_, GST_STATE_NULL);
  gst_object_unref(push_);
  push_ = nullptr;

  start_push(appsrc_aac_into(
      "push.audio_0",
      "location=rtmp://127.0.0.1:" + std::to_string(ertmp_test::free_port()) + "/live/k"));
  SeenError closed = wait_error(push_, 20 * GST_SECOND);
  EXPECT_EQ(closed.domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(closed.code, GST_RESOURCE_ERROR_OPEN_READ) << closed.text;
  gst_element_set_state(push_, GST_STATE_NULL);
  gst_object_unref(push_);
  push_ = nullptr;

  uint16_t port = ertmp_test::free_port();
  FlvCapture cap;
  GstElement* server = flv_ingest(port, &cap);
  start_push(appsrc_aac_into("push.audio_0", "reconnect-attempts=0 location=rtmp://127.0.0.1:" +
                                                 std::to_string(port) + "/live/k"));
  push_audio_at(0, 1);
  ASSERT_TRUE(cap.wait_tags(8, 2, 20'000));
  gst_element_set_state(server, GST_STATE_NULL);
  gst_object_unref(server);
  SeenError lost;
  for (int i = 0; i < 200 && !lost.domain; ++i) {
    push_audio_at(GstClockTime(i + 1) * 23 * GST_MSECOND, 2);  // writes find the loss
    lost = wait_error(push_, 50 * GST_MSECOND);
  }
  EXPECT_EQ(lost.domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(lost.code, GST_RESOURCE_ERROR_WRITE) << lost.text;
}

// The messages a client sent, from its recorded bytes (handshake skipped).
std::vector<rtmp::Message> client_messages(const std::vector<uint8_t>& c2s) {
  std::vector<rtmp::Message> out;
  const size_t handshake = 1 + 1536 + 1536;
  if (c2s.size() < handshake) return out;
  rtmp::ChunkReader r{rtmp::Limits{}};
  (void)r.receive(rtmp::Bytes(c2s).subspan(handshake));
  while (auto m = r.next_message()) out.push_back(std::move(*m));
  return out;
}

TEST_F(Push, ChunkSizeChangesWhilePlayingAndEveryFrameStillArrivesWhole) {
  start_ingest();
  ertmp_test::RecordingProxy proxy(static_cast<uint16_t>(port_));
  start_push(appsrc_aac_into("push.audio_0",
                             "sync=false chunk-size=4096 location=rtmp://"
                             "127.0.0.1:" +
                                 std::to_string(proxy.port()) + "/live/k"));
  GstElement* src = gst_bin_get_by_name(GST_BIN(push_), "a");
  auto push_big = [&](int i) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 10'000, nullptr);
    gst_buffer_memset(b, 0, static_cast<uint8_t>(i), 10'000);
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = GstClockTime(i) * 23 * GST_MSECOND;
    GstFlowReturn ret = GST_FLOW_ERROR;
    g_signal_emit_by_name(src, "push-buffer", b, &ret);
    gst_buffer_unref(b);
    EXPECT_EQ(ret, GST_FLOW_OK);
  };
  for (int i = 0; i < 10; ++i) push_big(i);
  wait_push_until([&] { return got_.count("audio_0") >= 10; });
  GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
  g_object_set(sink, "chunk-size", 1000u, nullptr);  // GST_PARAM_MUTABLE_PLAYING
  for (int i = 10; i < 20; ++i) push_big(i);
  end_appsrc();
  finish_both();
  GstStructure* stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint out_chunk = 0;
  ASSERT_TRUE(stats);
  EXPECT_TRUE(gst_structure_get_uint(stats, "out-chunk-size", &out_chunk));
  EXPECT_EQ(out_chunk, 1000u);
  gst_structure_free(stats);
  gst_object_unref(sink);
  gst_object_unref(src);
  std::vector<uint32_t> sizes;
  for (const auto& m : client_messages(proxy.client_to_server())) {
    if (m.type == 1) sizes.push_back(*rtmp::parse_set_chunk_size(m.payload));
  }
  EXPECT_EQ(sizes, (std::vector<uint32_t>{4096, 1000}));
  std::lock_guard<std::mutex> l1(got_.mu), l2(sent_.mu);
  EXPECT_EQ(got_.md5s["audio_0"], sent_.md5s["audio_0"]);
  EXPECT_EQ(got_.md5s["audio_0"].size(), 20u);
}

// stop-commands as rtmp2sink's flags: exactly the chosen commands follow the media on EOS.
TEST_F(Push, StopCommandsFlagsChooseWhatIsSentOnEos) {
  start_ingest("on-disconnect=wait");  // one publisher after the other
  struct Case {
    const char* flags;
    std::vector<std::string> commands;
  };
  const Case cases[] = {
      {"fcunpublish+deletestream", {"FCUnpublish", "deleteStream"}},
      {"none", {}},
      {"fcunpublish+closestream+deletestream", {"FCUnpublish", "closeStream", "deleteStream"}},
      {"deletestream", {"deleteStream"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.flags);
    ertmp_test::RecordingProxy proxy(static_cast<uint16_t>(port_));
    start_push(appsrc_aac_into("push.audio_0", std::string("sync=false stop-commands=") + c.flags +
                                                   " location=rtmp://127.0.0.1:" +
                                                   std::to_string(proxy.port()) + "/live/k"));
    push_audio_at(0, 1);
    end_appsrc();
    EXPECT_EQ(wait_bus(push_, 20 * GST_SECOND), GST_MESSAGE_EOS);
    gst_element_set_state(push_, GST_STATE_NULL);
    gst_object_unref(push_);
    push_ = nullptr;
    ASSERT_TRUE(proxy.wait_finished(10'000));
    std::vector<std::string> after_publish;
    bool published = false;
    for (const auto& m : client_messages(proxy.client_to_server())) {
      if (m.type != 20) continue;
      auto cmd = rtmp::parse_command(m, rtmp::Limits{});
      if (!cmd.ok()) continue;
      if (published) after_publish.push_back(cmd->name);
      published |= cmd->name == "publish";
    }
    EXPECT_TRUE(published);
    EXPECT_EQ(after_publish, c.commands);
  }
}

// A synthetic FLV of big video tags (an AVC sequence header, then 64 KB frames at 30 fps),
// for a publisher that is only limited by pacing.
std::filesystem::path make_big_flv(const std::filesystem::path& dir, int frames) {
  std::vector<uint8_t> flv;
  rtmp::FlvWriter::write_header(flv, false, true);
  std::vector<uint8_t> seq = {0x17, 0, 0,    0,    0, 1,    0x64, 0, 0x1F, 0xFF, 0xE1,
                              0,    4, 0x67, 0x64, 0, 0x1F, 1,    0, 2,    0x68, 0xEE};
  rtmp::FlvWriter::write_tag(flv, 9, 0, seq);
  std::vector<uint8_t> frame(64 * 1024, 0x5A);
  frame[0] = 0x17;
  frame[1] = 1;
  frame[2] = frame[3] = frame[4] = 0;
  for (int i = 0; i < frames; ++i) rtmp::FlvWriter::write_tag(flv, 9, i * 33, frame);
  auto path = dir / "big.flv";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(flv.data()), static_cast<std::streamsize>(flv.size()));
  return path;
}

// peak-kbps paces the socket: what reaches the server over a window in the steady state (the
// socket's send buffer filled) stays within the rate the setting gives (kbit/s x 125 bytes/s)
// plus 10%, and is not far below it (the publisher is not stalled). Kernel pacing
// (SO_MAX_PACING_RATE), then the user-space pacer (ERTMP_PUSH_USERSPACE_PACING).
TEST_F(Push, PeakKbpsPacesTheSocketInTheKernelAndInUserSpace) {
  const guint kbps = 8000;
  const double bytes_per_s = kbps * 125.0;
  auto file = make_big_flv(dir_, 600);  // 39 MB: never drained within the test
  for (bool userspace : {false, true}) {
    SCOPED_TRACE(userspace ? "user space" : "kernel");
    if (userspace) g_setenv("ERTMP_PUSH_USERSPACE_PACING", "1", TRUE);
    start_ingest();
    ertmp_test::RecordingProxy proxy(static_cast<uint16_t>(port_));
    start_push("filesrc location=" + file.string() + " ! rtmppushsink name=push sync=false " +
               "peak-kbps=" + std::to_string(kbps) +
               " location=rtmp://127.0.0.1:" + std::to_string(proxy.port()) + "/live/k");
    g_unsetenv("ERTMP_PUSH_USERSPACE_PACING");
    auto wire = [&] { return proxy.client_to_server().size(); };
    // Steady state: 1.5 s after the first megabyte arrived, then a 2 s window.
    wait_push_until([&] { return wire() > 1'000'000; }, 20);
    ASSERT_GT(wire(), 1'000'000u);
    wait_push_until([] { return false; }, 1);  // a 1 s observation pause that fails on error
    wait_push_until([] { return false; }, 1);
    const size_t b0 = wire();
    const auto t0 = std::chrono::steady_clock::now();
    wait_push_until([] { return false; }, 2);
    const size_t b1 = wire();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = static_cast<double>(b1 - b0) / secs;
    EXPECT_LE(rate, bytes_per_s * 1.10) << rate * 8 / 1000 << " kbit/s for peak-kbps=" << kbps;
    EXPECT_GE(rate, bytes_per_s * 0.5) << rate * 8 / 1000 << " kbit/s for peak-kbps=" << kbps;
    // Changeable while PLAYING: twice the rate from the next buffer on.
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    g_object_set(sink, "peak-kbps", 2 * kbps, nullptr);
    gst_object_unref(sink);
    wait_push_until([] { return false; }, 2);  // the send buffer settles at the new rate
    const size_t c0 = wire();
    const auto t2 = std::chrono::steady_clock::now();
    wait_push_until([] { return false; }, 2);
    const double faster =
        static_cast<double>(wire() - c0) /
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
    EXPECT_LE(faster, 2 * bytes_per_s * 1.10) << faster * 8 / 1000 << " kbit/s";
    EXPECT_GE(faster, rate * 1.3) << faster * 8 / 1000 << " kbit/s after " << rate * 8 / 1000;
    gst_element_set_state(push_, GST_STATE_NULL);
    gst_object_unref(push_);
    push_ = nullptr;
    gst_element_set_state(ingest_, GST_STATE_NULL);
    gst_object_unref(ingest_);
    ingest_ = nullptr;
  }
}

// ---- E-RTMP (issue 14): colorInfo, SequenceEnd, nano timing, multitrack packing ----------------

// x265enc's HDR10 input: BT.2020 primaries and matrix, PQ transfer, a mastering display and a
// content light level (GStreamer 1.22 caps fields; h265parse passes them on).
const std::string kHdr10Raw =
    "video/x-raw,format=I420_10LE,width=160,height=120,framerate=30/1,colorimetry=bt2100-pq,"
    "mastering-display-info=(string)35400:14600:8500:39850:6550:2300:15635:16450:10000000:50,"
    "content-light-level=(string)1000:400";
const char* kMasteringDisplay = "35400:14600:8500:39850:6550:2300:15635:16450:10000000:50";

// The sink sends the caps' colorInfo (a Metadata packet after the HEVC SequenceStart) and
// rtmpingestsrc's caps carry it, from the first frame on. Without the packet the ingest's caps
// come from the hvcC alone, which has none of these fields.
TEST_F(Push, Hdr10CapsTravelAsColorInfoIntoTheIngestsCaps) {
  ERTMP_REQUIRE(have_elements({"x265enc", "h265parse"}),
                "x265enc, h265parse (gstreamer1.0-plugins-bad)");
  start_ingest();
  start_push("videotestsrc num-buffers=10 ! " + kHdr10Raw +
             " ! x265enc speed-preset=ultrafast key-int-max=10 ! h265parse ! rtmppushsink "
             "name=push sync=false location=" +
             ingest_url());
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(sent_.md5s["video_0"].size(), 10u);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(got_.caps_changes["video_0"].size(), 1u) << "the colour came before the first frame";
  GstCaps* caps = gst_caps_from_string(got_.caps["video_0"].c_str());
  ASSERT_TRUE(caps) << got_.caps["video_0"];
  const GstStructure* st = gst_caps_get_structure(caps, 0);
  EXPECT_STREQ(gst_structure_get_string(st, "mastering-display-info"), kMasteringDisplay);
  EXPECT_STREQ(gst_structure_get_string(st, "content-light-level"), "1000:400");
  GstVideoColorimetry c;
  const char* text = gst_structure_get_string(st, "colorimetry");
  ASSERT_TRUE(text && gst_video_colorimetry_from_string(&c, text)) << got_.caps["video_0"];
  EXPECT_EQ(c.primaries, GST_VIDEO_COLOR_PRIMARIES_BT2020);
  EXPECT_EQ(c.transfer, GST_VIDEO_TRANSFER_SMPTE2084);
  EXPECT_EQ(c.matrix, GST_VIDEO_COLOR_MATRIX_BT2020);
  gst_caps_unref(caps);
}

// A pad's EOS while another goes on: the sink sends that track's SequenceEnd and the ingest
// ends that pad only (EOS on video_1 while video_0 still streams, at the pace of sync=true).
// Without it video_1's EOS comes with the unpublish, after all of video_0.
TEST_F(Push, APadsEosEndsOnlyItsTrackAtTheIngest) {
  ERTMP_REQUIRE(have_elements({"x265enc", "h265parse"}),
                "x265enc, h265parse (gstreamer1.0-plugins-bad)");
  start_ingest();
  const std::string enc =
      " ! video/x-raw,width=160,height=120,framerate=30/1 ! x265enc speed-preset=ultrafast "
      "key-int-max=15 tune=zerolatency ! h265parse ! ";
  start_push("rtmppushsink name=push sync=true location=" + ingest_url() +
             " videotestsrc num-buffers=90" + enc + "push.video_0 videotestsrc num-buffers=10" +
             enc + "push.video_1");
  size_t video0_at_end = 0;
  int video0_eos = -1;
  wait_push_until(
      [&] {
        std::lock_guard<std::mutex> lock(got_.mu);
        if (got_.eos_events["video_1"] == 0) return false;
        video0_at_end = got_.md5s["video_0"].size();
        video0_eos = got_.eos_events["video_0"];
        return true;
      },
      20);
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(video0_eos, 0) << "video_1 never ended before the publish did";
  EXPECT_LT(video0_at_end, 60u) << "video_1 ended while video_0 had 2 s to go";
  EXPECT_EQ(got_.buffers_before_eos["video_1"], 10u);
  EXPECT_EQ(got_.md5s["video_1"], sent_.md5s["video_1"]);
  ASSERT_EQ(sent_.md5s["video_0"].size(), 90u);
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  EXPECT_EQ(got_.eos_events["video_0"], 1);
}

// 29.97 fps HEVC with B-frames: frame times are not whole milliseconds. The ingest advertises
// ModEx, so the sink sends each PTS's sub-millisecond part as TimestampOffsetNano and every PTS
// arrives to the nanosecond (relative to the first); millisecond timestamps alone are off by up
// to 1 ms on two frames of three. DTS travel as whole milliseconds.
TEST_F(Push, NanoTimingKeepsEveryPtsToTheNanosecond) {
  ERTMP_REQUIRE(have_elements({"x265enc", "h265parse"}),
                "x265enc, h265parse (gstreamer1.0-plugins-bad)");
  start_ingest();
  start_push(
      "videotestsrc num-buffers=30 ! video/x-raw,width=160,height=120,framerate=30000/1001 ! "
      "x265enc speed-preset=ultrafast key-int-max=15 option-string=bframes=2 ! h265parse ! "
      "rtmppushsink name=push sync=false location=" +
      ingest_url());
  finish_both();
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& sp = sent_.pts["video_0"];
  const auto& sd = sent_.dts["video_0"];
  const auto& gp = got_.pts["video_0"];
  const auto& gd = got_.dts["video_0"];
  ASSERT_EQ(sp.size(), 30u);
  ASSERT_EQ(gp.size(), sp.size());
  EXPECT_EQ(got_.md5s["video_0"], sent_.md5s["video_0"]);
  auto rel = [](const std::vector<GstClockTime>& v, size_t i) {
    return static_cast<int64_t>(v[i]) - static_cast<int64_t>(v[0]);
  };
  int sub_ms = 0, reordered = 0;
  for (size_t i = 0; i < sp.size(); ++i) {
    EXPECT_EQ(rel(gp, i), rel(sp, i)) << "frame " << i;
    EXPECT_LE(std::abs(rel(gd, i) - rel(sd, i)), static_cast<int64_t>(GST_MSECOND)) << i;
    if (rel(sp, i) % static_cast<int64_t>(GST_MSECOND) != 0) ++sub_ms;
    if (sp[i] != sd[i]) ++reordered;
  }
  EXPECT_GT(sub_ms, 15) << "29.97 fps frame times are not whole milliseconds";
  EXPECT_GT(reordered, 5) << "B-frames";
}

// multitrack-packing: the frames of two HEVC tracks at one instant travel in one message
// (ManyTracks; ManyTracksManyCodecs when asked for), read off the wire through a proxy, and
// the ingest gives each track its own pad with every frame as encoded.
class PushPacking
    : public Push,
      public ::testing::WithParamInterface<std::pair<const char*, rtmp::AvMultitrackType>> {};

TEST_P(PushPacking, FramesOfOneInstantShareAMessage) {
  ERTMP_REQUIRE(have_elements({"x265enc", "h265parse"}),
                "x265enc, h265parse (gstreamer1.0-plugins-bad)");
  const auto [packing, form] = GetParam();
  start_ingest();
  ertmp_test::RecordingProxy proxy(static_cast<uint16_t>(port_));
  const std::string enc =
      " ! video/x-raw,width=160,height=120,framerate=30/1 ! x265enc speed-preset=ultrafast "
      "key-int-max=10 tune=zerolatency ! h265parse ! ";
  start_push(std::string("rtmppushsink name=push sync=false multitrack-packing=") + packing +
             " location=rtmp://127.0.0.1:" + std::to_string(proxy.port()) +
             "/live/k videotestsrc num-buffers=20" + enc +
             "push.video_0 videotestsrc pattern=ball num-buffers=20" + enc + "push.video_1");
  finish_both();
  ASSERT_TRUE(proxy.wait_finished(10'000));
  size_t packed = 0, frames = 0;
  for (const auto& m : client_messages(proxy.client_to_server())) {
    if (m.type != 9) continue;
    auto tag = rtmp::parse_flv_tag(rtmp::TagType::kVideo, m.payload);
    ASSERT_TRUE(tag.ok()) << tag.error().to_string();
    for (const auto& u : tag->units) frames += u.packet == rtmp::PacketKind::kCodedFrames;
    if (tag->units.size() == 2 && tag->units[0].packet == rtmp::PacketKind::kCodedFrames) {
      EXPECT_EQ(tag->multitrack, form);
      EXPECT_EQ(tag->units[0].track_id, 0);
      EXPECT_EQ(tag->units[1].track_id, 1);
      ++packed;
    }
  }
  EXPECT_EQ(frames, 40u);
  EXPECT_GE(packed, 15u) << "most instants in one message";
  std::lock_guard<std::mutex> lock(got_.mu);
  for (const char* pad : {"video_0", "video_1"}) {
    ASSERT_EQ(sent_.md5s[pad].size(), 20u) << pad;
    EXPECT_EQ(got_.md5s[pad], sent_.md5s[pad]) << pad;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PushPacking,
    ::testing::Values(std::make_pair("many-tracks", rtmp::AvMultitrackType::kManyTracks),
                      std::make_pair("many-tracks-many-codecs",
                                     rtmp::AvMultitrackType::kManyTracksManyCodecs)),
    [](const auto& i) {
      std::string n = i.param.first;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

}  // namespace
