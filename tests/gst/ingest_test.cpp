// rtmpingestsrc in real pipelines on loopback, with real publishers (ffmpeg) and our own
// ClientSession for the hostile cases. Media is compared packet by packet: the MD5 of every
// buffer leaving each pad against ffmpeg's framemd5 of the source file.
#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "gst/gstrtmpingestsrc.h"
#include "protocol/client_session.h"
#include "protocol/crypto.h"
#include "protocol/flv_file.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::have_program;
using ertmp_test::run_capture;

using ertmp_test::Collected;
using ertmp_test::count_fds;
using ertmp_test::on_pad_added;
using ertmp_test::on_sample;
using ertmp_test::wait_bus;

std::vector<std::string> source_md5s(const std::filesystem::path& file, int stream_index) {
  return ertmp_test::framemd5s(file, stream_index);
}

class Ingest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  }
  void SetUp() override { dir_ = ertmp_test::make_temp_dir("ingest"); }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  GstElement* make_pipeline(const char* props = "") {
    std::string desc = std::string("rtmpingestsrc name=src port=0 ") + props;
    GError* err = nullptr;
    // One element parses to the element itself: put it in a pipeline of our own.
    src_ = gst_parse_launch(desc.c_str(), &err);
    EXPECT_TRUE(src_) << (err ? err->message : "");
    pipeline_ = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(pipeline_), src_);
    g_signal_connect(src_, "pad-added", G_CALLBACK(on_pad_added), &got_);
    return pipeline_;
  }
  int port() {
    int p = -1;
    g_object_get(src_, "bound-port", &p, nullptr);
    return p;
  }
  std::filesystem::path make_source(
      const std::string& extra_codec_args = "-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac",
      int seconds = 2, const std::string& name = "src.flv", const std::string& size = "320x240") {
    auto f = dir_ / name;
    std::string cmd = "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=" + size +
                      ":rate=30 -f lavfi -i sine=sample_rate=48000 -t " + std::to_string(seconds) +
                      " " + extra_codec_args + " '" + f.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return f;
  }

  // A self-signed certificate in the test directory: cert.pem + key.pem, and both.pem with
  // the two in one file.
  bool make_certificate() {
    std::string cmd = "cd '" + dir_.string() +
                      "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                      "-keyout key.pem -out cert.pem >/dev/null 2>&1 && cat cert.pem key.pem "
                      ">both.pem";
    return std::system(cmd.c_str()) == 0;
  }
  // Waits (bounded) until `pad`'s sink has at least `n` buffers; element messages seen on the
  // way are kept in `messages`.
  size_t wait_buffers(const std::string& pad, size_t n, int timeout_ms,
                      std::vector<std::string>* details = nullptr) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t have = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(got_.mu);
        have = got_.md5s[pad].size();
      }
      if (have >= n) break;
      GstMessage* m = gst_bus_timed_pop(bus, 20 * GST_MSECOND);
      if (m && details && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        gchar* text = gst_structure_to_string(gst_message_get_structure(m));
        details->push_back(text);
        g_free(text);
      }
      if (m) gst_message_unref(m);
    }
    gst_object_unref(bus);
    return have;
  }

  std::filesystem::path dir_;
  GstElement* pipeline_ = nullptr;
  GstElement* src_ = nullptr;
  Collected got_;
};

TEST_F(Ingest, FfmpegPublishArrivesPacketForPacket) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  make_pipeline("application=live stream-key=secret");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_GT(port(), 0);
  std::string cmd = "ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                    "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port()) + "/live/secret";
  ertmp_test::Child ff(cmd);
  EXPECT_EQ(ff.wait(30'000), 0);
  std::vector<std::string> messages;
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND, &messages), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
  EXPECT_EQ(got_.md5s["audio_0"], source_md5s(src, 1));
  EXPECT_NE(got_.caps["video_0"].find("video/x-h264"), std::string::npos);
  EXPECT_NE(got_.caps["video_0"].find("stream-format=(string)avc"), std::string::npos);
  EXPECT_NE(got_.caps["video_0"].find("profile="), std::string::npos);
  EXPECT_NE(got_.caps["audio_0"].find("rate=(int)48000"), std::string::npos);
  EXPECT_GT(got_.delta_units["video_0"], 0);
  // DTS are monotonic.
  const auto& dts = got_.dts["video_0"];
  for (size_t i = 1; i < dts.size(); ++i) EXPECT_GE(dts[i], dts[i - 1]);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "rtmpingestsrc-publisher-connected"),
            messages.end());
  // Element messages go through the element's poster thread (never posted from the I/O loop):
  // the disconnect may follow the EOS the pads carried. Bounded.
  if (std::find(messages.begin(), messages.end(), "rtmpingestsrc-publisher-disconnected") ==
      messages.end()) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    for (int i = 0; i < 100; ++i) {
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND, GST_MESSAGE_ELEMENT);
      if (!m) continue;
      const GstStructure* st = gst_message_get_structure(m);
      if (st) messages.push_back(gst_structure_get_name(st));
      gst_message_unref(m);
      if (messages.back() == "rtmpingestsrc-publisher-disconnected") break;
    }
    gst_object_unref(bus);
  }
  EXPECT_NE(std::find(messages.begin(), messages.end(), "rtmpingestsrc-publisher-disconnected"),
            messages.end());
}

// GStreamer's own publishers into the element: rtmp2sink (its own RTMP client, chunk size
// 128 by default) and rtmpsink (librtmp), both behind flvmux, as users run them today.
TEST_F(Ingest, GstreamerPublishersArrivePacketForPacket) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  for (const char* sink : {"rtmp2sink", "rtmpsink"}) {
    GstElementFactory* f = gst_element_factory_find(sink);
    if (!f) {
      ADD_FAILURE() << sink << " missing (gstreamer1.0-plugins-bad)";
      continue;
    }
    gst_object_unref(f);
    got_.md5s.clear();
    make_pipeline("application=live stream-key=k");
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    std::string url = "rtmp://127.0.0.1:" + std::to_string(port()) + "/live/k";
    if (std::string(sink) == "rtmpsink") url += " live=1";  // librtmp's option syntax
    ertmp_test::Child pub("exec gst-launch-1.0 -q filesrc location='" + src.string() +
                          "' ! flvdemux name=d flvmux name=m streamable=true ! " + sink +
                          " location='" + url +
                          "' d.video ! queue ! m.video d.audio ! queue ! "
                          "m.audio");
    EXPECT_EQ(pub.wait(30'000), 0) << sink;
    EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS) << sink;
    {
      std::lock_guard<std::mutex> lock(got_.mu);
      EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0)) << sink;
      EXPECT_EQ(got_.md5s["audio_0"], source_md5s(src, 1)) << sink;
    }
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
}

TEST_F(Ingest, WrongStreamKeyIsRefusedAndTheElementKeepsServing) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  make_pipeline("application=live stream-key=right");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string base = "ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                     "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port()) + "/live/";
  ertmp_test::Child wrong(base + "wrong");
  EXPECT_NE(wrong.wait(20'000), 0);  // ffmpeg reports the BadName as an error
  ertmp_test::Child right(base + "right");
  EXPECT_EQ(right.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
}

TEST_F(Ingest, PublishRequestSignalCanRefuse) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  make_pipeline();
  struct Seen {
    std::string app, stream, query, peer;
  } seen;
  g_signal_connect(
      src_, "publish-request",
      G_CALLBACK(+[](GstElement*, const gchar* app, const gchar* stream, const gchar*,
                     const gchar* query, const gchar* peer, gpointer data) -> gboolean {
        auto* s = static_cast<Seen*>(data);
        s->app = app;
        s->stream = stream;
        s->query = query;
        s->peer = peer;
        return FALSE;
      }),
      &seen);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                       "' -c copy -f flv 'rtmp://127.0.0.1:" + std::to_string(port()) +
                       "/app1/k1?token=t'");
  EXPECT_NE(ff.wait(20'000), 0);
  EXPECT_EQ(seen.app, "app1");
  EXPECT_EQ(seen.stream, "k1");
  EXPECT_EQ(seen.query, "token=t");
  EXPECT_EQ(seen.peer.rfind("127.0.0.1:", 0), 0u);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_TRUE(got_.md5s.empty());
}

TEST_F(Ingest, TwoElementsShareOnePortByStreamKey) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  uint16_t shared = ertmp_test::free_port();
  std::string desc =
      "rtmpingestsrc name=a port=" + std::to_string(shared) +
      " application=live stream-key=ka rtmpingestsrc name=b port=" + std::to_string(shared) +
      " application=live stream-key=kb";
  pipeline_ = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_TRUE(pipeline_);
  Collected got_b;
  GstElement* a = gst_bin_get_by_name(GST_BIN(pipeline_), "a");
  GstElement* b = gst_bin_get_by_name(GST_BIN(pipeline_), "b");
  g_signal_connect(a, "pad-added", G_CALLBACK(on_pad_added), &got_);
  g_signal_connect(b, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                     // Distinct appsink names for the second element's pads.
                     ertmp_test::link_to_appsink(e, pad, static_cast<Collected*>(d), "b_");
                   }),
                   &got_b);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  int pa = -1, pb = -1;
  g_object_get(a, "bound-port", &pa, nullptr);
  g_object_get(b, "bound-port", &pb, nullptr);
  EXPECT_EQ(pa, shared);
  EXPECT_EQ(pb, shared);
  std::string base = "ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                     "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(shared) + "/live/";
  ertmp_test::Child fa(base + "ka");
  ertmp_test::Child fb(base + "kb");
  EXPECT_EQ(fa.wait(30'000), 0);
  EXPECT_EQ(fb.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  auto want = source_md5s(src, 0);
  {
    std::lock_guard<std::mutex> lock(got_.mu);
    EXPECT_EQ(got_.md5s["video_0"], want);
  }
  std::lock_guard<std::mutex> lock(got_b.mu);
  EXPECT_EQ(got_b.md5s["b_video_0"], want);
  gst_object_unref(a);
  gst_object_unref(b);
}

TEST_F(Ingest, GarbageAndBadHandshakesDoNotDisturbAGoodPublisher) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  make_pipeline("application=live stream-key=good handshake-timeout=1");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  uint16_t p = static_cast<uint16_t>(port());
  // Hostile peers: HTTP instead of a handshake, C0=6 (RTMPE), a slow-loris that sends 1 byte.
  std::vector<int> fds;
  for (const char* junk : {"GET / HTTP/1.1\r\n\r\n", "\x06", "\x03"}) {
    int fd = ertmp_test::connect_loopback(p, 2000);
    ASSERT_GE(fd, 0);
    ASSERT_GT(write(fd, junk, strlen(junk)), 0);
    fds.push_back(fd);
  }
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                       "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(p) + "/live/good");
  EXPECT_EQ(ff.wait(30'000), 0);
  std::vector<std::string> messages;
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND, &messages), GST_MESSAGE_EOS);
  for (int fd : fds) close(fd);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
  EXPECT_NE(std::find(messages.begin(), messages.end(), "rtmpingestsrc-peer-warning"),
            messages.end());
}

TEST_F(Ingest, FlvOutputModeFeedsFlvdemuxLikeRtmp2src) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  // rtmpingestsrc output-mode=flv ! flvdemux: the pads come from flvdemux.
  GError* err = nullptr;
  pipeline_ =
      gst_parse_launch("rtmpingestsrc name=src port=0 output-mode=flv ! flvdemux name=demux", &err);
  ASSERT_TRUE(pipeline_) << (err ? err->message : "");
  src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  gst_object_unref(src_);
  GstElement* demux = gst_bin_get_by_name(GST_BIN(pipeline_), "demux");
  g_signal_connect(demux, "pad-added", G_CALLBACK(on_pad_added), &got_);
  gst_object_unref(demux);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                       "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port()) + "/live/k");
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video"], source_md5s(src, 0));
  EXPECT_EQ(got_.md5s["audio"], source_md5s(src, 1));
}

TEST_F(Ingest, KilledPublisherAndAConnectionFloodLeaveTheElementServing) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source();
  make_pipeline("application=live on-disconnect=wait");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  uint16_t p = static_cast<uint16_t>(port());
  // A real-time publisher killed mid-stream (SIGKILL: no FCUnpublish, no FIN handshake of RTMP).
  ertmp_test::Child victim("exec ffmpeg -hide_banner -loglevel error -re -i '" + src.string() +
                           "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(p) + "/live/k");
  std::vector<std::string> messages;
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* connected = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_ELEMENT);
  ASSERT_TRUE(connected);
  gst_message_unref(connected);
  gst_object_unref(bus);
  victim.signal(SIGKILL);
  victim.wait(5000);
  // 100 connections at once, then dropped.
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    int fd = ertmp_test::connect_loopback(p, 2000);
    if (fd >= 0) fds.push_back(fd);
  }
  EXPECT_EQ(fds.size(), 100u);
  for (int fd : fds) close(fd);
  // The next publisher continues the same pads (on-disconnect=wait) and loses nothing.
  size_t before;
  {
    std::lock_guard<std::mutex> lock(got_.mu);
    before = got_.md5s["video_0"].size();
  }
  ertmp_test::Child good("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                         "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(p) + "/live/k");
  EXPECT_EQ(good.wait(30'000), 0);
  auto want = source_md5s(src, 0);
  // Wait (bounded) for the second publish's frames to arrive.
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(got_.mu);
      if (got_.md5s["video_0"].size() >= before + want.size()) break;
    }
    GstBus* b = gst_element_get_bus(pipeline_);
    GstMessage* m = gst_bus_timed_pop(b, 50 * GST_MSECOND);
    if (m) gst_message_unref(m);
    gst_object_unref(b);
  }
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& all = got_.md5s["video_0"];
  ASSERT_GE(all.size(), before + want.size());
  std::vector<std::string> second(all.end() - static_cast<long>(want.size()), all.end());
  EXPECT_EQ(second, want);
  // DTS never go back across the republish.
  const auto& dts = got_.dts["video_0"];
  for (size_t i = 1; i < dts.size(); ++i) EXPECT_GE(dts[i], dts[i - 1]) << i;
}

TEST_F(Ingest, StateChangesRepeatWithoutLeaks) {
  make_pipeline("port=0");
  int fds_before = count_fds();
  for (int i = 0; i < 20; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_GT(port(), 0);
    // A connection open while we stop must not hang the state change.
    int fd = ertmp_test::connect_loopback(static_cast<uint16_t>(port()), 2000);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    close(fd);
  }
  EXPECT_LE(count_fds(), fds_before + 1);
}

TEST_F(Ingest, PortInUseIsAClearError) {
  uint16_t taken = 0;
  int fd = ertmp_test::listen_loopback(&taken);
  ASSERT_GE(fd, 0);
  make_pipeline(("address=127.0.0.1 port=" + std::to_string(taken)).c_str());
  EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, GST_SECOND, GST_MESSAGE_ERROR);
  ASSERT_TRUE(msg);
  GError* err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  EXPECT_NE(std::string(err->message).find("Could not listen"), std::string::npos);
  g_error_free(err);
  gst_message_unref(msg);
  gst_object_unref(bus);
  close(fd);
}

bool any_contains(const std::vector<std::string>& v, const std::string& a, const std::string& b) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) {
    return s.find(a) != std::string::npos && s.find(b) != std::string::npos;
  });
}

// Element messages (as text) popped from the bus until a peer warning containing `text`
// arrives or `timeout_ms` passes.
std::vector<std::string> peer_warnings_until(GstElement* pipeline, const char* text,
                                             int timeout_ms) {
  std::vector<std::string> details;
  GstBus* bus = gst_element_get_bus(pipeline);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!any_contains(details, "rtmpingestsrc-peer-warning", text) &&
         std::chrono::steady_clock::now() < deadline) {
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND, GST_MESSAGE_ELEMENT);
    if (!m) continue;
    gchar* s = gst_structure_to_string(gst_message_get_structure(m));
    details.push_back(s);
    g_free(s);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return details;
}

std::string error_message(GstElement* pipeline, GQuark domain, int code) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, GST_SECOND, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!msg) return "";
  GError* err = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  std::string text = err->message;
  EXPECT_TRUE(g_error_matches(err, domain, code)) << text;
  if (debug) text += std::string(" | ") + debug;
  g_error_free(err);
  g_free(debug);
  gst_message_unref(msg);
  return text;
}

TEST_F(Ingest, RtmpsPublishArrivesPacketForPacket) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  auto src = make_source();
  make_pipeline(("application=live stream-key=secret tls-certificate-file=" +
                 (dir_ / "cert.pem").string() + " tls-key-file=" + (dir_ / "key.pem").string())
                    .c_str());
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_GT(port(), 0);
  // ffmpeg's tls protocol does not verify the peer by default (tls_verify=0).
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                       "' -c copy -f flv rtmps://127.0.0.1:" + std::to_string(port()) +
                       "/live/secret");
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
  EXPECT_EQ(got_.md5s["audio_0"], source_md5s(src, 1));
}

TEST_F(Ingest, PlainRtmpOnTheRtmpsPortIsAPeerWarning) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  auto src = make_source();
  // The key in the certificate file: tls-key-file is optional.
  make_pipeline(("application=live tls-certificate-file=" + (dir_ / "both.pem").string()).c_str());
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string tail = "://127.0.0.1:" + std::to_string(port()) + "/live/k";
  std::string base =
      "ffmpeg -hide_banner -loglevel error -i '" + src.string() + "' -c copy -f flv ";
  ertmp_test::Child plain(base + "rtmp" + tail);
  EXPECT_GT(plain.wait(20'000), 0);  // exited, with an error
  ertmp_test::Child tls(base + "rtmps" + tail);
  EXPECT_EQ(tls.wait(30'000), 0);
  std::vector<std::string> details;
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND, nullptr, &details), GST_MESSAGE_EOS);
  EXPECT_TRUE(any_contains(details, "rtmpingestsrc-peer-warning", R"(TLS\ handshake\ failed)"))
      << (details.empty() ? "" : details[0]);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
}

// The subject of the certificate a new TLS connection to `port` is shown (openssl s_client).
std::string served_subject(int port, const std::filesystem::path& dir) {
  auto out = dir / "subject.txt";
  std::string cmd = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                    " </dev/null 2>/dev/null | openssl x509 -noout -subject >'" + out.string() +
                    "' 2>/dev/null";
  (void)!std::system(cmd.c_str());
  std::ifstream f(out);
  std::string line;
  std::getline(f, line);
  return line;
}

// Certificate reload: a new tls-certificate-file while PLAYING is what new connections get; the
// publisher that was live over the old one goes on to the end, every packet delivered. A file
// that does not load is a warning and the listener keeps the certificate it has.
TEST_F(Ingest, ANewCertificateWhilePlayingServesNewConnectionsAndKeepsTheLiveOne) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  for (const char* cn : {"first", "second"}) {
    std::string cmd = "cd '" + dir_.string() +
                      "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + cn +
                      " -keyout k.pem -out c.pem >/dev/null 2>&1 && cat c.pem k.pem >" + cn +
                      ".pem";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  auto src = make_source("-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac", 5);
  make_pipeline(
      ("application=live stream-key=secret tls-certificate-file=" + (dir_ / "first.pem").string())
          .c_str());
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_GT(port(), 0);
  EXPECT_NE(served_subject(port(), dir_).find("CN = first"), std::string::npos);
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -re -i '" + src.string() +
                       "' -c copy -f flv rtmps://127.0.0.1:" + std::to_string(port()) +
                       "/live/secret");
  ASSERT_GE(wait_buffers("video_0", 15, 20'000), 15u);
  GstElement* ingest = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  ASSERT_TRUE(ingest);
  g_object_set(ingest, "tls-certificate-file", (dir_ / "second.pem").c_str(), nullptr);
  EXPECT_NE(served_subject(port(), dir_).find("CN = second"), std::string::npos);
  g_object_set(ingest, "tls-certificate-file", (dir_ / "missing.pem").c_str(), nullptr);
  EXPECT_NE(served_subject(port(), dir_).find("CN = second"), std::string::npos)
      << "a file that does not load must not cost the listener its certificate";
  gst_object_unref(ingest);
  EXPECT_EQ(ff.wait(30'000), 0) << "the live publisher over the old certificate was cut";
  // Until EOS (bounded): the warning about the file that did not load is on the bus.
  bool warned = false, eos = false;
  GstBus* bus = gst_element_get_bus(pipeline_);
  for (int i = 0; i < 200 && !eos; ++i) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_WARNING));
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) eos = true;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      GError* err = nullptr;
      gst_message_parse_warning(m, &err, nullptr);
      warned |= std::string(err->message).find("missing.pem") != std::string::npos &&
                std::string(err->message).find("keeps its certificate") != std::string::npos;
      g_error_free(err);
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  EXPECT_TRUE(eos);
  EXPECT_TRUE(warned) << "no warning for the certificate that did not load";
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
  EXPECT_EQ(got_.md5s["audio_0"], source_md5s(src, 1));
}

TEST_F(Ingest, UnloadableCertificateIsAClearErrorAtStateChange) {
  std::ofstream(dir_ / "garbage.pem") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  for (std::string file : {(dir_ / "missing.pem").string(), (dir_ / "garbage.pem").string()}) {
    make_pipeline(("tls-certificate-file=" + file).c_str());
    EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    std::string text = error_message(pipeline_, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS);
    EXPECT_NE(text.find("Could not load the TLS certificate '" + file + "'"), std::string::npos)
        << text;
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
  // A certificate without its key loads, but could never complete a handshake.
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  make_pipeline(("tls-certificate-file=" + (dir_ / "cert.pem").string()).c_str());
  EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string text = error_message(pipeline_, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS);
  EXPECT_NE(text.find("has no private key"), std::string::npos) << text;
}

TEST_F(Ingest, TlsHandshakeIsBoundedAndStateChangesDoNotWaitForIt) {
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  make_pipeline(
      ("handshake-timeout=1 tls-certificate-file=" + (dir_ / "both.pem").string()).c_str());
  gchar* location = nullptr;
  g_object_get(src_, "location", &location, nullptr);
  EXPECT_EQ(std::string(location).rfind("rtmps://", 0), 0u) << location;
  g_free(location);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // A client that connects and never says a word: dropped after handshake-timeout.
  int silent = ertmp_test::connect_loopback(static_cast<uint16_t>(port()), 2000);
  ASSERT_GE(silent, 0);
  std::vector<std::string> details =
      peer_warnings_until(pipeline_, "no\\ TLS\\ handshake\\ within", 5'000);
  EXPECT_TRUE(any_contains(details, "rtmpingestsrc-peer-warning", "no\\ TLS\\ handshake\\ within"))
      << (details.empty() ? "no element message" : details[0]);
  char byte = 0;
  pollfd pfd{silent, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 2000), 1);
  EXPECT_EQ(read(silent, &byte, 1), 0);  // closed by the element
  close(silent);
  // Handshakes in progress (one silent, one with half a ClientHello) when the element stops.
  // (Counted from here: the TLS backend keeps a few descriptors of its own once used.)
  ASSERT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  int fds_before = count_fds();
  for (int i = 0; i < 5; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    int a = ertmp_test::connect_loopback(static_cast<uint16_t>(port()), 2000);
    int b = ertmp_test::connect_loopback(static_cast<uint16_t>(port()), 2000);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    ASSERT_EQ(write(b, "\x16\x03\x01\x02\x00\x01", 6), 6);
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
    close(a);
    close(b);
  }
  EXPECT_LE(count_fds(), fds_before + 1);
}

TEST_F(Ingest, PlainAndTlsElementsCannotShareAPort) {
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  uint16_t shared = ertmp_test::free_port();
  std::string desc =
      "rtmpingestsrc name=a address=127.0.0.1 port=" + std::to_string(shared) +
      " stream-key=a rtmpingestsrc name=b address=127.0.0.1 port=" + std::to_string(shared) +
      " stream-key=b tls-certificate-file=" + (dir_ / "both.pem").string();
  pipeline_ = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_TRUE(pipeline_);
  EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string text = error_message(pipeline_, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS);
  EXPECT_NE(text.find("disagree about TLS"), std::string::npos) << text;
}

TEST_F(Ingest, SessionTimeoutsStillFireAfterTheTlsHandshake) {
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  make_pipeline(
      ("handshake-timeout=1 tls-certificate-file=" + (dir_ / "both.pem").string()).c_str());
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // TLS completes, then not one RTMP byte: the session's handshake timer must close it.
  // (stdin stays open for 30 s: s_client only exits when the element closes the connection.)
  ertmp_test::Child client("sleep 30 | openssl s_client -quiet -connect 127.0.0.1:" +
                           std::to_string(port()) + " >/dev/null 2>&1");
  std::vector<std::string> details =
      peer_warnings_until(pipeline_, "handshake\\ not\\ completed", 10'000);
  EXPECT_TRUE(any_contains(details, "rtmpingestsrc-peer-warning", "handshake\\ not\\ completed"))
      << (details.empty() ? "no element message" : details[0]);
  EXPECT_FALSE(any_contains(details, "rtmpingestsrc-peer-warning", "TLS\\ handshake"));
}

TEST_F(Ingest, TlsElementsWithTheSameCertificateShareAPort) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_TRUE(make_certificate());
  auto src = make_source();
  uint16_t shared = ertmp_test::free_port();
  // One element gets a GTlsCertificate object, the other the same certificate from files.
  GError* err = nullptr;
  GTlsCertificate* cert = g_tls_certificate_new_from_file((dir_ / "both.pem").c_str(), &err);
  ASSERT_TRUE(cert) << err->message;
  make_pipeline(
      ("address=127.0.0.1 application=live stream-key=ka port=" + std::to_string(shared)).c_str());
  g_object_set(src_, "tls-certificate", cert, nullptr);
  g_object_unref(cert);
  GstElement* b = gst_element_factory_make("rtmpingestsrc", "b");
  g_object_set(b, "address", "127.0.0.1", "port", static_cast<guint>(shared), "application", "live",
               "stream-key", "kb", "tls-certificate-file", (dir_ / "cert.pem").c_str(),
               "tls-key-file", (dir_ / "key.pem").c_str(), nullptr);
  gst_bin_add(GST_BIN(pipeline_), b);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(port(), shared);
  ertmp_test::Child ff("ffmpeg -hide_banner -loglevel error -i '" + src.string() +
                       "' -c copy -f flv rtmps://127.0.0.1:" + std::to_string(shared) + "/live/ka");
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_buffers("video_0", source_md5s(src, 0).size(), 20'000),
            source_md5s(src, 0).size());
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
}

TEST_F(Ingest, TakeoverReplacesTheLivePublisherWithoutEos) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto first_src = make_source("-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac", 10, "a.flv");
  auto second_src = make_source("-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac", 2, "b.flv");
  make_pipeline("application=live stream-key=k allow-takeover=true on-disconnect=eos");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string url = " -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port()) + "/live/k";
  ertmp_test::Child first("exec ffmpeg -hide_banner -loglevel error -re -i '" + first_src.string() +
                          "'" + url);
  std::vector<std::string> details;
  ASSERT_GE(wait_buffers("video_0", 15, 10'000, &details), 15u);  // the first one is live
  size_t before;
  {
    std::lock_guard<std::mutex> lock(got_.mu);
    before = got_.md5s["video_0"].size();
  }
  ertmp_test::Child second("ffmpeg -hide_banner -loglevel error -i '" + second_src.string() + "'" +
                           url);
  EXPECT_EQ(second.wait(30'000), 0);
  EXPECT_GT(first.wait(10'000), 0);  // its connection was closed under it
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND, nullptr, &details), GST_MESSAGE_EOS);
  EXPECT_TRUE(
      any_contains(details, "rtmpingestsrc-publisher-disconnected", "replaced=(boolean)true"));
  auto want = source_md5s(second_src, 0);
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& all = got_.md5s["video_0"];
  ASSERT_GE(all.size(), before + want.size());
  std::vector<std::string> tail(all.end() - static_cast<long>(want.size()), all.end());
  EXPECT_EQ(tail, want);
  // One EOS per pad, after everything: the takeover itself sent none.
  EXPECT_EQ(got_.eos_events["video_0"], 1);
  EXPECT_EQ(got_.buffers_before_eos["video_0"], all.size());
  EXPECT_EQ(got_.eos_events["audio_0"], 1);
  EXPECT_EQ(got_.disconts["video_0"], 2);  // the first buffer of each publisher
  const auto& dts = got_.dts["video_0"];
  for (size_t i = 1; i < dts.size(); ++i) EXPECT_GE(dts[i], dts[i - 1]) << i;
}

TEST_F(Ingest, WithoutTakeoverASecondPublisherIsRefused) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source("-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac", 4);
  make_pipeline("application=live stream-key=k");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string cmd = "ffmpeg -hide_banner -loglevel error -re -i '" + src.string() +
                    "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port()) + "/live/k";
  ertmp_test::Child first("exec " + cmd);
  ASSERT_GE(wait_buffers("video_0", 10, 10'000), 10u);
  ertmp_test::Child second(cmd);
  EXPECT_GT(second.wait(20'000), 0);  // refused: NetStream.Publish.BadName
  EXPECT_EQ(first.wait(30'000), 0);   // undisturbed
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], source_md5s(src, 0));
  EXPECT_EQ(got_.eos_events["video_0"], 1);
}

std::vector<rtmp::FlvFileTag> video_tags(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  rtmp::FlvReader reader;
  EXPECT_TRUE(reader.receive(bytes).ok());
  std::vector<rtmp::FlvFileTag> tags;
  while (auto t = reader.next_tag()) {
    if (t->type == 9) tags.push_back(std::move(*t));
  }
  return tags;
}

TEST_F(Ingest, MidStreamSequenceHeaderChangeRenegotiatesCaps) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  // Two H.264 encodes at different resolutions: different SPS, so different avcC.
  const std::string x264 = "-an -c:v libx264 -preset ultrafast -bf 0 -g 10";
  auto big = make_source(x264, 1, "big.flv", "320x240");
  auto small = make_source(x264, 1, "small.flv", "160x120");
  auto big_tags = video_tags(big);
  auto small_tags = video_tags(small);
  // ffmpeg ends each file with an AVC end of sequence (AVCPacketType 2), which ends the track
  // (EOS on its pad); a publisher that changes its sequence header mid-stream sends none.
  std::erase_if(big_tags, [](const auto& t) { return t.body.size() > 1 && t.body[1] == 2; });
  ASSERT_GT(big_tags.size(), 2u);
  ASSERT_GT(small_tags.size(), 2u);
  // Legacy AVC tags: [frame type | codec id][AVCPacketType][CTS 3 bytes] then the payload.
  ASSERT_EQ(big_tags[0].body[1], 0);  // AVC sequence header first
  ASSERT_EQ(small_tags[0].body[1], 0);
  ASSERT_NE(big_tags[0].body, small_tags[0].body);
  std::vector<std::string> want;
  size_t big_frames = 0;
  for (auto* tags : {&big_tags, &small_tags}) {
    for (const auto& t : *tags) {
      if (t.body.size() > 5 && t.body[1] == 1) {
        want.push_back(rtmp::to_hex(rtmp::md5(rtmp::Bytes(t.body.data() + 5, t.body.size() - 5))));
      }
    }
    if (tags == &big_tags) big_frames = want.size();
  }

  make_pipeline("application=live stream-key=k");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  uint16_t p = static_cast<uint16_t>(port());
  rtmp::ClientConfig cc;
  cc.url = *rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(p) + "/live/k");
  ertmp_test::SocketPublisher pub(cc);
  auto started = pub.start(p);
  ASSERT_TRUE(started.ok()) << started.error().to_string();
  // The second encode continues the timeline after the first.
  uint64_t offset = static_cast<uint64_t>(big_tags.back().timestamp) + 33;
  for (const auto& t : big_tags) {
    ASSERT_TRUE(pub.send(9, t.body, static_cast<uint64_t>(t.timestamp)).ok());
  }
  for (const auto& t : small_tags) {
    ASSERT_TRUE(pub.send(9, t.body, offset + static_cast<uint64_t>(t.timestamp)).ok());
  }
  pub.stop();
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], want);
  const auto& changes = got_.caps_changes["video_0"];
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].first, 0u);
  EXPECT_EQ(changes[1].first, big_frames);  // the new caps come with the first new frame
  auto codec_data = [](const std::string& caps) {
    size_t at = caps.find("codec_data=(buffer)");
    return at == std::string::npos ? std::string() : caps.substr(at, caps.find(',', at) - at);
  };
  EXPECT_FALSE(codec_data(changes[0].second).empty());
  EXPECT_NE(codec_data(changes[0].second), codec_data(changes[1].second));
}

}  // namespace
