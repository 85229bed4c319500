// rtmpingestsrc mode=caller against real servers (SPEC §4, issue 13 item 2):
//  - ffmpeg publishes into nginx-rtmp (`live`), the element plays it: every packet on its pads
//    is byte-identical to the source (ffmpeg's framemd5), in elementary and in flv output mode
//    (linked to flvdemux before any data, as rtmp2src is);
//  - node-media-server with E-RTMP HEVC + Opus published by our rtmppushsink: what leaves the
//    pads is what entered the sink;
//  - rtmps through haproxy (a real TLS terminator) in front of nginx-rtmp, and the certificate
//    check of tls-validation-flags;
//  - nginx-rtmp killed and restarted mid-play: the element reconnects, the same pads go on with
//    monotonic timestamps and a DISCONT;
//  - `playbin uri=rtmp://...` (gst-launch with the built plugin, which ranks above rtmp2src)
//    plays nginx-rtmp's H.264/AAC and node-media-server's HEVC, which rtmp2src cannot; an
//    rtmp:// URI in a launch line makes our elements, not rtmp2src/rtmp2sink;
//  - a refused play (StreamNotFound) is rtmp2src's error domain and code;
//  - back-pressure, async-connect, num-buffers, stats;
//  - hostile servers, in the fault catalogue's manner (docs/faults.md): each row asserts its
//    clear outcome, the time it took, a prompt PLAYING->NULL, and no fd or thread left behind.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <thread>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "protocol/handshake.h"
#include "protocol/server_session.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/haproxy.h"
#include "tests/interop/node_media_server.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using Clock = std::chrono::steady_clock;
using ertmp_test::Child;
using ertmp_test::Collected;
using ertmp_test::have_program;

int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

std::string build_root() {
  const char* b = std::getenv("ERTMP_BUILD_ROOT");
  return b ? b : "build";
}

// Everything a pipeline's bus says, recorded by a sync handler: element messages (name and
// text), errors (domain, code, text), EOS; waits are condition waits with a bound.
struct BusRecord {
  struct Error {
    GQuark domain = 0;
    gint code = 0;
    std::string text;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::string>> messages;  // name, structure as text
  std::vector<Error> errors;
  bool eos = false;

  void attach(GstElement* pipeline) {
    GstBus* bus = gst_element_get_bus(pipeline);
    gst_bus_set_sync_handler(
        bus,
        [](GstBus*, GstMessage* msg, gpointer data) -> GstBusSyncReply {
          auto* r = static_cast<BusRecord*>(data);
          std::lock_guard<std::mutex> lock(r->mu);
          if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT) {
            const GstStructure* s = gst_message_get_structure(msg);
            gchar* text = gst_structure_to_string(s);
            r->messages.emplace_back(gst_structure_get_name(s), text);
            g_free(text);
          } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
            GError* e = nullptr;
            gchar* dbg = nullptr;
            gst_message_parse_error(msg, &e, &dbg);
            r->errors.push_back(
                {e->domain, e->code, std::string(e->message) + " | " + (dbg ? dbg : "")});
            g_error_free(e);
            g_free(dbg);
          } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
            r->eos = true;
          }
          r->cv.notify_all();
          gst_message_unref(msg);  // a sync handler that drops a message owns it
          return GST_BUS_DROP;
        },
        this, nullptr);
    gst_object_unref(bus);
  }
  template <class Pred>
  bool wait(Pred pred, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return pred(); });
  }
  size_t count(const std::string& name) {
    size_t n = 0;
    for (const auto& m : messages) n += m.first == name;
    return n;
  }
  bool wait_message(const std::string& name, int timeout_ms, size_t n = 1) {
    return wait([&] { return count(name) >= n; }, timeout_ms);
  }
  bool wait_end(int timeout_ms) {
    return wait([&] { return eos || !errors.empty(); }, timeout_ms);
  }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu);
    return errors.empty() ? "" : errors[0].text;
  }
  std::string text_of(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& m : messages) {
      if (m.first == name) return m.second;
    }
    return "";
  }
};

// Buffers leaving pads (or entering a sink), with a condition to wait on.
struct Media {
  Collected got;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> pads_added;

  void record(const std::string& name, GstBuffer* buf, GstCaps* caps) {
    ertmp_test::record_buffer(&got, name, buf, caps);
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
  bool wait_count(const std::string& name, size_t n, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                       [&] { return got.count(name) >= n; });
  }
  size_t count(const std::string& name) { return got.count(name); }
};

GstFlowReturn on_sample(GstAppSink* sink, gpointer data) {
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_ERROR;
  static_cast<Media*>(data)->record(GST_OBJECT_NAME(sink), gst_sample_get_buffer(sample),
                                    gst_sample_get_caps(sample));
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

// Links a new pad of `element` to an appsink named after the pad.
void link_appsink(GstElement* element, GstPad* pad, Media* media) {
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(element));
  GstElement* sink = gst_element_factory_make("appsink", GST_PAD_NAME(pad));
  g_object_set(sink, "emit-signals", TRUE, "sync", FALSE, nullptr);
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_sample), media);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  EXPECT_EQ(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK) << GST_PAD_NAME(pad);
  gst_object_unref(sinkpad);
  gst_object_unref(pipeline);
  std::lock_guard<std::mutex> lock(media->mu);
  media->pads_added[GST_PAD_NAME(pad)]++;
}

// What enters the pads of `element` (taps), recorded into `media` under the pad's name.
void tap_sink_pads(GstElement* element, Media* media) {
  for (GList* l = element->sinkpads; l; l = l->next) {
    gst_pad_add_probe(
        GST_PAD(l->data), GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad* pad, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
          GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
          GstCaps* caps = gst_pad_get_current_caps(pad);
          bool audio =
              caps &&
              g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "audio/");
          // opusenc's in-band headers travel in the sequence header, not as frames.
          if (!(audio && GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_HEADER))) {
            static_cast<Media*>(data)->record(GST_PAD_NAME(pad), buf, caps);
          }
          if (caps) gst_caps_unref(caps);
          return GST_PAD_PROBE_OK;
        },
        media, nullptr);
  }
}

int64_t field_u64(GstElement* e, const char* field) {
  GstStructure* s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  guint64 v = 0;
  if (s) gst_structure_get_uint64(s, field, &v);
  if (s) gst_structure_free(s);
  return static_cast<int64_t>(v);
}

class Pull : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    if (!have_program("ffmpeg")) return;
    dir_ = ertmp_test::make_temp_dir("pull");
    src_ = dir_ / "src.flv";
    // 3 s of H.264 (B-frames, a keyframe each second) + AAC, as the ingest tests publish.
    int rc = std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                          "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t 3 "
                          "-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac '" +
                          src_.string() + "'")
                             .c_str());
    if (rc != 0) src_.clear();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void TearDown() override {
    for (GstElement** p : {&pipeline_, &push_}) {
      if (!*p) continue;
      gst_element_set_state(*p, GST_STATE_NULL);
      gst_object_unref(*p);
      *p = nullptr;
    }
  }
  void need_source() {
    ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
    ASSERT_FALSE(src_.empty()) << "could not make the source file";
  }

  // rtmpingestsrc mode=caller `props` alone in a pipeline; every pad to an appsink.
  void make_caller(const std::string& props) {
    GError* err = nullptr;
    src_el_ = gst_parse_launch(("rtmpingestsrc name=src mode=caller " + props).c_str(), &err);
    ASSERT_TRUE(src_el_) << (err ? err->message : "");
    pipeline_ = gst_pipeline_new("pull");
    gst_bin_add(GST_BIN(pipeline_), src_el_);
    bus_.attach(pipeline_);
    g_signal_connect(src_el_, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                       link_appsink(e, pad, static_cast<Media*>(d));
                     }),
                     &media_);
  }
  // The same in output-mode=flv, linked to flvdemux with gst_element_link before any data (the
  // always `src` pad, as rtmp2src's); flvdemux's pads to appsinks.
  void make_caller_flv(const std::string& props) {
    pipeline_ = gst_pipeline_new("pull");
    src_el_ = gst_element_factory_make("rtmpingestsrc", "src");
    GstElement* demux = gst_element_factory_make("flvdemux", "demux");
    ASSERT_TRUE(src_el_ && demux);
    gst_util_set_object_arg(G_OBJECT(src_el_), "mode", "caller");
    gst_util_set_object_arg(G_OBJECT(src_el_), "output-mode", "flv");
    gchar** kv = g_strsplit(props.c_str(), " ", -1);
    for (gchar** p = kv; *p; ++p) {
      gchar** pair = g_strsplit(*p, "=", 2);
      if (pair[0] && pair[1]) gst_util_set_object_arg(G_OBJECT(src_el_), pair[0], pair[1]);
      g_strfreev(pair);
    }
    g_strfreev(kv);
    gst_bin_add_many(GST_BIN(pipeline_), src_el_, demux, nullptr);
    ASSERT_TRUE(gst_element_link(src_el_, demux));
    bus_.attach(pipeline_);
    g_signal_connect(demux, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                       link_appsink(e, pad, static_cast<Media*>(d));
                     }),
                     &media_);
  }
  void play() {
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // A publisher in this process: `desc` ending in "rtmppushsink name=push ..."; what enters the
  // sink's pads goes to sent_.
  void start_push(const std::string& desc) {
    GError* err = nullptr;
    push_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(push_) << (err ? err->message : "");
    push_bus_.attach(push_);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    ASSERT_TRUE(sink);
    tap_sink_pads(sink, &sent_);
    gst_object_unref(sink);
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // Plays `publish_url` from ffmpeg at real time (the 3 s source), once the element plays.
  void publish_source_after_play(const std::string& publish_url) {
    ASSERT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000))
        << "the element did not start playing: " << bus_.first_error();
    Child ff("exec ffmpeg -hide_banner -loglevel error -re -i '" + src_.string() +
             "' -c copy -f flv '" + publish_url + "'");
    EXPECT_EQ(ff.wait(30'000), 0) << "ffmpeg publish";
  }
  void expect_source_on(const std::string& video, const std::string& audio) {
    std::lock_guard<std::mutex> lock(media_.got.mu);
    auto want_v = ertmp_test::framemd5s(src_, 0);
    auto want_a = ertmp_test::framemd5s(src_, 1);
    ASSERT_FALSE(want_v.empty());
    EXPECT_EQ(media_.got.md5s[video], want_v) << "video packets differ from the source";
    EXPECT_EQ(media_.got.md5s[audio], want_a) << "audio packets differ from the source";
    const auto& dts = media_.got.dts[video];
    for (size_t i = 1; i < dts.size(); ++i) ASSERT_GE(dts[i], dts[i - 1]) << i;
  }
  void expect_fast_null() {
    auto t0 = Clock::now();
    EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    EXPECT_LT(ms_since(t0), 2000) << "PLAYING->NULL took too long";
  }

  static inline std::filesystem::path dir_, src_;
  GstElement* pipeline_ = nullptr;
  GstElement* src_el_ = nullptr;
  GstElement* push_ = nullptr;
  BusRecord bus_, push_bus_;
  Media media_, sent_;
};

// --- real servers -----------------------------------------------------------------------------

TEST_F(Pull, PlaysFfmpegsPublishFromNginxByteIdentical) {
  need_source();
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  make_caller("location=" + nginx.url("k"));
  play();
  ASSERT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000)) << bus_.first_error();
  // Played before anything is published: nginx-rtmp says nothing until the publisher comes;
  // silence longer than the socket's own 2 s timeout is not a lost stream.
  EXPECT_FALSE(bus_.wait_end(3000)) << bus_.first_error();
  publish_source_after_play(nginx.url("k"));
  // nginx-rtmp sends Stream EOF when the publisher leaves: EOS, as rtmp2src.
  ASSERT_TRUE(bus_.wait_end(20'000));
  EXPECT_TRUE(bus_.errors.empty()) << bus_.first_error();
  EXPECT_TRUE(bus_.eos);
  expect_source_on("video_0", "audio_0");
  {
    std::lock_guard<std::mutex> lock(media_.got.mu);
    EXPECT_NE(media_.got.caps["video_0"].find("video/x-h264"), std::string::npos);
    EXPECT_NE(media_.got.caps["video_0"].find("stream-format=(string)avc"), std::string::npos);
    EXPECT_NE(media_.got.caps["audio_0"].find("rate=(int)48000"), std::string::npos);
    EXPECT_GT(media_.got.delta_units["video_0"], 0);
    EXPECT_GE(media_.got.disconts["video_0"], 1);  // the first buffer of the play
  }
  // The same bus messages as a publish, and rtmp2src's stats fields.
  EXPECT_NE(bus_.text_of("rtmpingestsrc-publisher-connected").find("127.0.0.1:"),
            std::string::npos);
  EXPECT_NE(bus_.text_of("rtmpingestsrc-publisher-disconnected").find("clean=(boolean)true"),
            std::string::npos)
      << bus_.text_of("rtmpingestsrc-publisher-disconnected");
  EXPECT_GT(field_u64(src_el_, "in-bytes-total"), 100'000);
  EXPECT_GT(field_u64(src_el_, "bytes"), 100'000);
  // What came over the last 5 s of the play, in bits/s (the source is a few hundred kbit/s).
  EXPECT_GT(field_u64(src_el_, "bitrate"), 50'000);
  expect_fast_null();
}

TEST_F(Pull, FlvOutputLinkedToFlvdemuxBeforeAnyDataIsByteIdentical) {
  need_source();
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  make_caller_flv("location=" + nginx.url("k"));
  play();
  publish_source_after_play(nginx.url("k"));
  ASSERT_TRUE(bus_.wait_end(20'000));
  EXPECT_TRUE(bus_.errors.empty()) << bus_.first_error();
  expect_source_on("video", "audio");
  expect_fast_null();
}

// E-RTMP: HEVC and Opus from GStreamer's encoders, published by rtmppushsink into
// node-media-server, played by the element: every frame as it entered the sink.
TEST_F(Pull, PlaysHevcAndOpusFromNodeMediaServerAsTheyEnteredThePublisher) {
  ERTMP_REQUIRE(ertmp_test::NodeMediaServer::available(),
                "node-media-server (tools/install-deps.sh, npm)");
  ertmp_test::NodeMediaServer nms;
  ASSERT_TRUE(nms.start()) << nms.log();
  make_caller("location=" + nms.url("live", "hevc"));
  play();
  ASSERT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000)) << bus_.first_error();
  start_push(
      "videotestsrc is-live=true num-buffers=60 ! video/x-raw,width=320,height=240,"
      "framerate=30/1 ! x265enc speed-preset=ultrafast key-int-max=15 ! h265parse ! "
      "video/x-h265,stream-format=hvc1,alignment=au ! push.video_0 "
      "audiotestsrc is-live=true num-buffers=100 samplesperbuffer=960 ! "
      "audio/x-raw,rate=48000,channels=2 ! opusenc ! push.audio_0 "
      "rtmppushsink name=push location=" +
      nms.url("live", "hevc"));
  ASSERT_TRUE(push_bus_.wait_end(60'000));
  EXPECT_TRUE(push_bus_.errors.empty()) << push_bus_.first_error();
  const size_t sent_video = sent_.count("video_0"), sent_audio = sent_.count("audio_0");
  ASSERT_EQ(sent_video, 60u);
  ASSERT_GT(sent_audio, 50u);
  EXPECT_TRUE(media_.wait_count("video_0", sent_video, 20'000));
  EXPECT_TRUE(media_.wait_count("audio_0", sent_audio, 20'000));
  std::scoped_lock lock(media_.got.mu, sent_.got.mu);
  EXPECT_EQ(media_.got.md5s["video_0"], sent_.got.md5s["video_0"]);
  EXPECT_EQ(media_.got.md5s["audio_0"], sent_.got.md5s["audio_0"]);
  EXPECT_NE(media_.got.caps["video_0"].find("video/x-h265"), std::string::npos);
  EXPECT_NE(media_.got.caps["video_0"].find("stream-format=(string)hvc1"), std::string::npos);
  EXPECT_NE(media_.got.caps["audio_0"].find("audio/x-opus"), std::string::npos);
}

// haproxy terminates TLS in front of nginx-rtmp (haproxy as CDNs run it): rtmps:// plays with
// the certificate problems of a self-signed localhost certificate allowed, and is refused with
// the default validate-all.
TEST_F(Pull, PlaysRtmpsThroughHaproxyAndChecksTheCertificate) {
  need_source();
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ERTMP_REQUIRE(ertmp_test::Haproxy::available(), "haproxy (Debian package haproxy)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  auto dir = ertmp_test::make_temp_dir("haproxy");
  ASSERT_EQ(std::system(("cd '" + dir.string() +
                         "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
                         "/CN=localhost -keyout key.pem -out cert.pem >/dev/null 2>&1 && cat "
                         "cert.pem key.pem >both.pem")
                            .c_str()),
            0);
  ertmp_test::Haproxy tls({{nginx.port(), ertmp_test::Haproxy::kNone, false}}, 0,
                          (dir / "both.pem").string());
  ASSERT_TRUE(tls.ready()) << tls.log();
  const uint16_t tls_port = tls.port();
  const std::string url = "rtmps://localhost:" + std::to_string(tls_port) + "/live/k";
  // The default (validate-all) refuses a self-signed certificate: an error, not a hang.
  {
    make_caller("location=" + url);
    auto t0 = Clock::now();
    play();
    ASSERT_TRUE(bus_.wait_end(10'000));
    EXPECT_LT(ms_since(t0), 6000);
    std::string error = bus_.first_error();
    EXPECT_NE(error.find("Failed to connect"), std::string::npos) << error;
    EXPECT_NE(error.find("TLS"), std::string::npos) << error;
    expect_fast_null();
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
  bus_.errors.clear();
  bus_.messages.clear();
  // Unknown CA allowed (it is ours); everything else still checked, the name included.
  make_caller("location=" + url +
              " tls-validation-flags=bad-identity+not-activated+expired+revoked+insecure+"
              "generic-error");
  play();
  publish_source_after_play(nginx.url("k"));
  ASSERT_TRUE(bus_.wait_end(20'000));
  EXPECT_TRUE(bus_.errors.empty()) << bus_.first_error();
  expect_source_on("video_0", "audio_0");
  expect_fast_null();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// nginx-rtmp is SIGKILLed under the element and a new one starts on the same port; the
// publisher (rtmppushsink) and the element both reconnect: the same pads go on (no new
// pad-added, no EOS, no error), DTS keep growing, and the first buffer after the restart is
// DISCONT.
TEST_F(Pull, ServerRestartMidPlayReconnectsAndTheSamePadsGoOn) {
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  auto nginx = std::make_unique<ertmp_test::NginxRtmp>();
  ASSERT_TRUE(nginx->ready());
  const uint16_t port = nginx->port();
  make_caller("location=" + nginx->url("k") + " on-disconnect=wait reconnect-delay=100");
  play();
  ASSERT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000));
  start_push(
      "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 "
      "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! push.video_0 "
      "rtmppushsink name=push reconnect-delay=100 location=" +
      nginx->url("k"));
  ASSERT_TRUE(media_.wait_count("video_0", 30, 20'000));
  const size_t before = media_.count("video_0");
  std::ifstream pidfile(nginx->dir() / "nginx.pid");
  pid_t pid = 0;
  pidfile >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);  // our own child, by its id
  EXPECT_TRUE(bus_.wait_message("rtmpingestsrc-reconnecting", 10'000));
  nginx = std::make_unique<ertmp_test::NginxRtmp>(false, port);
  ASSERT_TRUE(nginx->ready());
  EXPECT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 20'000, 2))
      << "the element did not play again";
  EXPECT_TRUE(media_.wait_count("video_0", before + 60, 30'000))
      << "the pads did not go on after the restart";
  {
    std::lock_guard<std::mutex> lock(bus_.mu);
    EXPECT_TRUE(bus_.errors.empty()) << bus_.errors[0].text;
    EXPECT_FALSE(bus_.eos);
  }
  std::lock_guard<std::mutex> lock(media_.got.mu);
  EXPECT_EQ(media_.pads_added["video_0"], 1) << "a new pad instead of the same one";
  const auto& dts = media_.got.dts["video_0"];
  for (size_t i = 1; i < dts.size(); ++i) ASSERT_GE(dts[i], dts[i - 1]) << "DTS went back at " << i;
  EXPECT_GE(media_.got.disconts["video_0"], 2) << "no DISCONT after the restart";
  EXPECT_GE(field_u64(src_el_, "in-bytes-total"), 1);
  guint reconnects = 0;
  GstStructure* s = nullptr;
  g_object_get(src_el_, "stats", &s, nullptr);
  gst_structure_get_uint(s, "reconnects", &reconnects);
  gst_structure_free(s);
  EXPECT_GE(reconnects, 1u);
}

// --- playbin ----------------------------------------------------------------------------------

// gst-launch-1.0 playbin with the built plugin, which registers above rtmp2src (primary + 2
// against primary + 1): playbin picks it for rtmp:// with no setting; `env` can give rtmp2src
// back (kRankDown), as a user would. Returns the output; `frames` the video frames that
// reached the video sink.
const char* const kRankDown = "GST_PLUGIN_FEATURE_RANK=rtmpingestsrc:NONE";

std::string playbin(const std::string& uri, const std::string& env, int* frames, int* exit_code,
                    int timeout_ms) {
  auto dir = ertmp_test::make_temp_dir("playbin");
  auto out = dir / "out.txt";
  Child c("GST_PLUGIN_PATH='" + build_root() + "/gst' " + env +
          " exec gst-launch-1.0 -v playbin uri=" + uri +
          " video-sink='fakesink name=vsink silent=false sync=false' "
          "audio-sink='fakesink sync=false' >'" +
          out.string() + "' 2>&1");
  *exit_code = c.wait(timeout_ms);
  c.stop();
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  *frames = 0;
  for (size_t p = text.find("vsink: last-message = chain"); p != std::string::npos;
       p = text.find("vsink: last-message = chain", p + 1)) {
    ++*frames;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return text;
}

TEST_F(Pull, PlaybinPlaysAnRtmpUriFromNginxThroughTheElement) {
  need_source();
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  int frames = 0, code = -1;
  std::string text;
  std::thread player([&] { text = playbin(nginx.url("k"), "", &frames, &code, 40'000); });
  // The player may join before or during the publish (nginx-rtmp sends a late joiner the
  // sequence headers): either way it plays to the publisher's end.
  Child ff("exec ffmpeg -hide_banner -loglevel error -re -stream_loop 1 -i '" + src_.string() +
           "' -c copy -f flv '" + nginx.url("k") + "'");
  EXPECT_EQ(ff.wait(40'000), 0);
  player.join();
  EXPECT_NE(text.find("GstRtmpIngestSrc"), std::string::npos)
      << "playbin did not pick rtmpingestsrc:\n"
      << text.substr(0, 3000);
  EXPECT_EQ(code, 0) << text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
  EXPECT_GT(frames, 60) << "decoded video frames";
}

// A URI in a launch line is made into an element by gst_element_make_from_uri(), which picks
// the highest rank: ours, for a source and for a sink, with the rtmp2 elements installed beside
// them. (Nothing listens on port 1: each pipeline fails, naming the element that failed.)
TEST_F(Pull, RtmpUrisMakeOurElementsAheadOfRtmp2) {
  ERTMP_REQUIRE(std::system("gst-inspect-1.0 rtmp2src >/dev/null 2>&1") == 0,
                "rtmp2src (Debian gstreamer1.0-plugins-bad)");
  auto run = [](const std::string& launch) {
    return ertmp_test::run_capture("GST_PLUGIN_PATH='" + build_root() +
                                   "/gst' timeout 20 gst-launch-1.0 " + launch + " 2>&1");
  };
  const std::string src = run("rtmp://127.0.0.1:1/live/x ! fakesink");
  EXPECT_NE(src.find("GstRtmpIngestSrc"), std::string::npos) << src;
  EXPECT_EQ(src.find("GstRtmp2Src"), std::string::npos) << src;
  const std::string sink =
      run("videotestsrc num-buffers=1 ! x264enc ! flvmux ! rtmp://127.0.0.1:1/live/x");
  EXPECT_NE(sink.find("GstRtmpPushSink"), std::string::npos) << sink;
  EXPECT_EQ(sink.find("GstRtmp2Sink"), std::string::npos) << sink;
}

// The E-RTMP HEVC stream rtmp2src cannot play: playbin with rtmpingestsrc decodes it; the same
// playbin with rtmp2src (ours demoted to rank none) renders no video frame.
TEST_F(Pull, PlaybinPlaysHevcFromNodeMediaServerWhichRtmp2srcCannot) {
  ERTMP_REQUIRE(ertmp_test::NodeMediaServer::available(),
                "node-media-server (tools/install-deps.sh, npm)");
  ertmp_test::NodeMediaServer nms;
  ASSERT_TRUE(nms.start()) << nms.log();
  const std::string url = nms.url("live", "hevc");
  int ours_frames = 0, ours_code = -1, theirs_frames = 0, theirs_code = -1;
  std::string ours_text, theirs_text;
  std::thread ours([&] { ours_text = playbin(url, "", &ours_frames, &ours_code, 40'000); });
  std::thread theirs(
      [&] { theirs_text = playbin(url, kRankDown, &theirs_frames, &theirs_code, 25'000); });
  start_push(
      "videotestsrc is-live=true num-buffers=240 ! video/x-raw,width=320,height=240,"
      "framerate=30/1 ! x265enc speed-preset=ultrafast key-int-max=15 ! h265parse ! "
      "video/x-h265,stream-format=hvc1,alignment=au ! push.video_0 "
      "rtmppushsink name=push location=" +
      url);
  EXPECT_TRUE(push_bus_.wait_end(60'000));
  ours.join();
  theirs.join();
  EXPECT_NE(ours_text.find("GstRtmpIngestSrc"), std::string::npos) << ours_text.substr(0, 3000);
  EXPECT_NE(ours_text.find("video/x-h265"), std::string::npos);
  EXPECT_GT(ours_frames, 60) << ours_text.substr(ours_text.size() > 3000 ? ours_text.size() - 3000
                                                                         : 0);
  EXPECT_NE(theirs_text.find("GstRtmp2Src"), std::string::npos) << theirs_text.substr(0, 3000);
  EXPECT_EQ(theirs_frames, 0) << "rtmp2src decoded HEVC after all";
}

// --- refusals and policies --------------------------------------------------------------------

// A server that refuses the play (our own listener answers players NetStream.Play.
// StreamNotFound): the error rtmp2src posts, domain and code, within a second or two.
TEST_F(Pull, StreamNotFoundIsRtmp2srcsErrorAndWaitModeRetries) {
  GstElement* ingest =
      gst_parse_launch("rtmpingestsrc name=ingest port=0 application=live", nullptr);
  GstElement* ingest_pipe = gst_pipeline_new("ingest");
  gst_bin_add(GST_BIN(ingest_pipe), ingest);
  ASSERT_NE(gst_element_set_state(ingest_pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  int port = -1;
  g_object_get(ingest, "bound-port", &port, nullptr);
  const std::string url = "rtmp://127.0.0.1:" + std::to_string(port) + "/live/nothing";

  // rtmp2src first: the reference.
  BusRecord theirs;
  GError* err = nullptr;
  GstElement* ref = gst_parse_launch(("rtmp2src location=" + url + " ! fakesink").c_str(), &err);
  ASSERT_TRUE(ref) << (err ? err->message : "");
  theirs.attach(ref);
  gst_element_set_state(ref, GST_STATE_PLAYING);
  ASSERT_TRUE(theirs.wait([&] { return !theirs.errors.empty(); }, 10'000));
  gst_element_set_state(ref, GST_STATE_NULL);
  gst_object_unref(ref);

  make_caller("location=" + url);
  auto t0 = Clock::now();
  play();
  ASSERT_TRUE(bus_.wait_end(10'000));
  EXPECT_LT(ms_since(t0), 3000);
  {
    std::lock_guard<std::mutex> lock(bus_.mu);
    ASSERT_FALSE(bus_.errors.empty());
    EXPECT_EQ(bus_.errors[0].domain, theirs.errors[0].domain)
        << "ours: " << bus_.errors[0].text << "; rtmp2src: " << theirs.errors[0].text;
    EXPECT_EQ(bus_.errors[0].code, theirs.errors[0].code)
        << "ours: " << bus_.errors[0].text << "; rtmp2src: " << theirs.errors[0].text;
    EXPECT_NE(bus_.errors[0].text.find("NetStream.Play.StreamNotFound"), std::string::npos)
        << bus_.errors[0].text;
  }
  expect_fast_null();
  gst_object_unref(pipeline_);
  pipeline_ = nullptr;

  // on-disconnect=wait: "not published yet" is retried with backoff, then given up.
  bus_.errors.clear();
  bus_.messages.clear();
  make_caller("location=" + url + " on-disconnect=wait reconnect-attempts=2 reconnect-delay=50");
  play();
  ASSERT_TRUE(bus_.wait_end(15'000));
  EXPECT_EQ(bus_.count("rtmpingestsrc-reconnecting"), 2u);
  EXPECT_NE(bus_.first_error().find("2 reconnect attempts failed"), std::string::npos)
      << bus_.first_error();
  expect_fast_null();
  gst_element_set_state(ingest_pipe, GST_STATE_NULL);
  gst_object_unref(ingest_pipe);
}

// Reading stops while a pad queue is full (a blocked branch) and resumes when it drains; the
// pipeline goes on without an error.
TEST_F(Pull, AFullPadQueuePausesReadingUntilItDrains) {
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  make_caller("location=" + nginx.url("k") + " max-queue-bytes=20000 max-queue-time=0");
  // Hold video_0's buffers until released.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
  } gate;
  g_signal_connect(src_el_, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer d) {
                     if (!g_str_has_prefix(GST_PAD_NAME(pad), "video_")) return;
                     gst_pad_add_probe(
                         pad, GST_PAD_PROBE_TYPE_BUFFER,
                         [](GstPad*, GstPadProbeInfo*, gpointer g) -> GstPadProbeReturn {
                           auto* gt = static_cast<Gate*>(g);
                           std::unique_lock<std::mutex> lock(gt->mu);
                           gt->cv.wait_for(lock, std::chrono::seconds(20),
                                           [gt] { return gt->open; });
                           return GST_PAD_PROBE_OK;
                         },
                         d, nullptr);
                   }),
                   &gate);
  play();
  ASSERT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000));
  start_push(
      "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
      "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=2000 ! "
      "push.video_0 rtmppushsink name=push location=" +
      nginx.url("k"));
  auto paused = [&] {
    GstStructure* s = nullptr;
    g_object_get(src_el_, "stats", &s, nullptr);
    gboolean p = FALSE;
    gst_structure_get_boolean(s, "reading-paused", &p);
    gst_structure_free(s);
    return p == TRUE;
  };
  auto t0 = Clock::now();
  bool saw_paused = false;
  // stats has no change notification: poll it, bounded.
  while (ms_since(t0) < 15'000 && !(saw_paused = paused())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(saw_paused) << "reading never paused behind a blocked pad";
  {
    std::lock_guard<std::mutex> lock(gate.mu);
    gate.open = true;
  }
  gate.cv.notify_all();
  const size_t now = media_.count("video_0");
  EXPECT_TRUE(media_.wait_count("video_0", now + 30, 20'000)) << "reading did not resume";
  std::lock_guard<std::mutex> lock(bus_.mu);
  EXPECT_TRUE(bus_.errors.empty()) << bus_.errors[0].text;
}

// async-connect=false connects at PAUSED->PLAYING (rtmp2src: on the first push); num-buffers
// ends the stream after that many buffers (FLV tags in flv mode), with EOS.
TEST_F(Pull, AsyncConnectFalseWaitsForPlayingAndNumBuffersEndsTheStream) {
  need_source();
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  Child ff("exec ffmpeg -hide_banner -loglevel error -re -stream_loop 3 -i '" + src_.string() +
           "' -c copy -f flv '" + nginx.url("k") + "'");
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(("rtmpingestsrc name=src mode=caller output-mode=flv "
                                "async-connect=false num-buffers=50 location=" +
                                nginx.url("k") + " ! appsink name=flv emit-signals=true sync=false")
                                   .c_str(),
                               &err);
  ASSERT_TRUE(pipeline_) << (err ? err->message : "");
  bus_.attach(pipeline_);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), "flv");
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_sample), &media_);
  gst_object_unref(sink);
  src_el_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  gst_object_unref(src_el_);  // the pipeline holds it
  gst_element_set_state(pipeline_, GST_STATE_PAUSED);
  // A live source does not preroll: PAUSED is reached without data, and no connection is made.
  EXPECT_FALSE(bus_.wait_message("rtmpingestsrc-publisher-connected", 1500))
      << "connected before PLAYING with async-connect=false";
  play();
  EXPECT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-connected", 15'000));
  ASSERT_TRUE(bus_.wait_end(30'000));
  EXPECT_TRUE(bus_.eos) << bus_.first_error();
  EXPECT_EQ(media_.count("flv"), 50u);
  // The EOS and the message travel separately (pad task, bus poster): wait for the message.
  EXPECT_TRUE(bus_.wait_message("rtmpingestsrc-publisher-disconnected", 5000));
  EXPECT_NE(bus_.text_of("rtmpingestsrc-publisher-disconnected").find("num-buffers"),
            std::string::npos);
}

// --- hostile servers (the fault catalogue's four assertions per row) ----------------------------

// A TCP server on 127.0.0.1 that runs `serve(fd)` for each connection on a thread of its own
// and closes it after; stop() is bounded by `serve` watching `stopping()`.
class HostileServer {
 public:
  explicit HostileServer(std::function<void(int fd, HostileServer&)> serve)
      : serve_(std::move(serve)) {
    listen_fd_ = ertmp_test::listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~HostileServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  bool stopping() const { return stop_; }
  int accepted() const { return accepted_; }
  // Reads what is there within `ms` (0 bytes on timeout); -1 when the peer closed.
  static ssize_t read_some(int fd, uint8_t* buf, size_t n, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return 0;
    ssize_t r = ::recv(fd, buf, n, 0);
    return r <= 0 ? -1 : r;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      serve_(c, *this);
      ::close(c);
    }
  }
  std::function<void(int, HostileServer&)> serve_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
};

// Sends `bytes` one at a time, `gap_ms` apart, while the peer is connected.
void trickle(int fd, HostileServer& server, const std::vector<uint8_t>& bytes, int gap_ms) {
  uint8_t buf[4096];
  for (uint8_t b : bytes) {
    if (server.stopping()) return;
    if (::send(fd, &b, 1, MSG_NOSIGNAL) != 1) return;
    if (HostileServer::read_some(fd, buf, sizeof buf, gap_ms) < 0) return;
  }
}

// Reads until the peer closes or the server stops.
void drain(int fd, HostileServer& server) {
  uint8_t buf[4096];
  while (!server.stopping() && HostileServer::read_some(fd, buf, sizeof buf, 50) >= 0) {
  }
}

class PullFault : public Pull {
 protected:
  void SetUp() override {
    // Warm up once: GStreamer's and GIO's lazily made threads exist before the counts.
    static bool warm = false;
    if (!warm) {
      warm = true;
      HostileServer mute([](int fd, HostileServer& s) { drain(fd, s); });
      make_caller("timeout=1 location=rtmp://127.0.0.1:" + std::to_string(mute.port()) + "/live/k");
      play();
      bus_.wait_end(5000);
      TearDown();
      bus_.errors.clear();
      bus_.messages.clear();
    }
  }
  // Runs the caller at `url` with `props` against a hostile server until its error or EOS
  // (bounded by `within_ms`); then the common assertions: PLAYING->NULL at once, nothing left.
  void run_row(const std::string& url, const std::string& props, int within_ms) {
    // The hostile server (its listening socket, its thread) exists already: count from here.
    fds0_ = ertmp_test::count_fds();
    threads0_ = ertmp_test::count_threads();
    make_caller(props + " location=" + url);
    t0_ = Clock::now();
    play();
    ended_ = bus_.wait_end(within_ms + 5000);
    elapsed_ms_ = ms_since(t0_);
    expect_fast_null();
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
    auto t = Clock::now();
    // /proc has no change notification: poll it, bounded.
    while ((ertmp_test::count_threads() > threads0_ + 2 || ertmp_test::count_fds() > fds0_) &&
           ms_since(t) < 3000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_LE(ertmp_test::count_threads(), threads0_ + 2) << "threads left behind";
    EXPECT_LE(ertmp_test::count_fds(), fds0_) << "fds left behind";
  }
  int fds0_ = 0, threads0_ = 0;
  Clock::time_point t0_;
  bool ended_ = false;
  int elapsed_ms_ = 0;
};

std::string local_url(uint16_t port, const char* scheme = "rtmp") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/k";
}

TEST_F(PullFault, ServerThatNeverAnswersTimesOutAtTheTimeout) {
  HostileServer mute([](int fd, HostileServer& s) { drain(fd, s); });
  run_row(local_url(mute.port()), "timeout=2", 2000);
  ASSERT_TRUE(ended_);
  EXPECT_GE(elapsed_ms_, 1800);
  EXPECT_LT(elapsed_ms_, 4500);
  std::string error = bus_.first_error();
  EXPECT_NE(error.find("Failed to connect"), std::string::npos) << error;
  EXPECT_NE(error.find("timeout (2 s)"), std::string::npos) << error;
}

// Garbage for a handshake (not RTMP version 3): refused at once, not after the timeout.
TEST_F(PullFault, GarbageHandshakeIsRefusedAtOnce) {
  HostileServer garbage([](int fd, HostileServer& s) {
    uint8_t buf[4096];
    if (HostileServer::read_some(fd, buf, sizeof buf, 2000) <= 0) return;
    std::vector<uint8_t> junk(3073);
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(0xFF - i * 7);
    (void)!::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    drain(fd, s);
  });
  run_row(local_url(garbage.port()), "timeout=10", 2000);
  ASSERT_TRUE(ended_);
  EXPECT_LT(elapsed_ms_, 3000) << "waited for the timeout instead of refusing the answer";
  std::string error = bus_.first_error();
  EXPECT_NE(error.find("Failed to connect"), std::string::npos) << error;
  EXPECT_NE(error.find("version"), std::string::npos) << error;
}

// A server that sends its (valid) S0S1S2 one byte every 100 ms would take five minutes: the
// one deadline ends it at `timeout`, however often bytes arrive.
TEST_F(PullFault, TricklingHandshakeCannotStretchTheTimeout) {
  HostileServer slow([](int fd, HostileServer& s) {
    uint8_t c0c1[1537];
    size_t have = 0;
    while (have < sizeof c0c1 && !s.stopping()) {
      ssize_t n = HostileServer::read_some(fd, c0c1 + have, sizeof c0c1 - have, 100);
      if (n < 0) return;
      have += static_cast<size_t>(n);
    }
    std::vector<uint8_t> s012(1 + 1536 + 1536, 0);
    s012[0] = 3;
    std::copy(c0c1 + 1, c0c1 + 1537, s012.begin() + 1537);  // S2 echoes C1
    trickle(fd, s, s012, 100);
  });
  run_row(local_url(slow.port()), "timeout=2", 2000);
  ASSERT_TRUE(ended_);
  EXPECT_GE(elapsed_ms_, 1800);
  EXPECT_LT(elapsed_ms_, 4500) << "the trickle stretched the timeout";
  EXPECT_NE(bus_.first_error().find("timeout (2 s)"), std::string::npos) << bus_.first_error();
}

// The same for TLS: a server that answers the ClientHello with a record header and then one
// byte every 100 ms. The TLS handshake is inside the one deadline.
TEST_F(PullFault, TricklingTlsHandshakeCannotStretchTheTimeout) {
  HostileServer slow([](int fd, HostileServer& s) {
    uint8_t buf[4096];
    if (HostileServer::read_some(fd, buf, sizeof buf, 2000) <= 0) return;
    std::vector<uint8_t> record = {0x16, 0x03, 0x03, 0x40, 0x00};  // handshake, 16 KiB
    record.resize(5 + 0x4000, 0x02);
    trickle(fd, s, record, 100);
  });
  run_row(local_url(slow.port(), "rtmps"), "timeout=2 tls-validation-flags=no-flags", 2000);
  ASSERT_TRUE(ended_);
  EXPECT_GE(elapsed_ms_, 1800);
  EXPECT_LT(elapsed_ms_, 4500) << "the trickle stretched the timeout";
  std::string error = bus_.first_error();
  EXPECT_NE(error.find("TLS handshake"), std::string::npos) << error;
  EXPECT_NE(error.find("timeout (2 s)"), std::string::npos) << error;
}

// After a proper play (our ServerSession), a message header that declares 16 MiB - 1: the
// stream is lost with a clear reason at once (nothing of that size is allocated); no media
// came, so no pad can carry an EOS: an error (as flvdemux's for input without data).
TEST_F(PullFault, HugeMessageAfterThePlayEndsTheStreamWithAClearReason) {
  HostileServer huge([](int fd, HostileServer& s) {
    rtmp::ServerSession session(rtmp::ServerConfig{}, 0);
    uint8_t buf[65536];
    bool played = false;
    while (!s.stopping()) {
      ssize_t n = HostileServer::read_some(fd, buf, sizeof buf, 50);
      if (n < 0) return;
      if (n > 0) (void)session.receive(rtmp::Bytes(buf, static_cast<size_t>(n)), 0);
      while (auto ev = session.next_event()) {
        if (auto* p = std::get_if<rtmp::PlayRequested>(&*ev)) {
          (void)session.accept_play(p->stream_id);
          played = true;
        }
      }
      while (!session.pending_output().empty()) {
        rtmp::Bytes b = session.pending_output();
        ssize_t w = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
        if (w <= 0) return;
        session.consume_output(static_cast<size_t>(w));
      }
      if (played) break;
    }
    // Chunk basic header fmt 0 csid 7, timestamp 0, length 0xFFFFFF, video, stream 1.
    const uint8_t header[] = {0x07, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x09, 1, 0, 0, 0, 0x17, 0x01};
    (void)!::send(fd, header, sizeof header, MSG_NOSIGNAL);
    drain(fd, s);
  });
  run_row(local_url(huge.port()), "timeout=5", 1000);
  ASSERT_TRUE(ended_);
  EXPECT_LT(elapsed_ms_, 3000);
  std::string error = bus_.first_error();
  EXPECT_NE(error.find("ended before any media"), std::string::npos) << error;
  EXPECT_NE(error.find("16777215"), std::string::npos) << error;
  std::string reason = bus_.text_of("rtmpingestsrc-publisher-disconnected");
  EXPECT_NE(reason.find("16777215"), std::string::npos) << reason;
}

}  // namespace
