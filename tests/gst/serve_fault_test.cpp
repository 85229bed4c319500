// The fault catalogue (docs/faults.md), serving side: hostile players against rtmppushsink
// mode=listener, and a slow player that still reads.
//
// Every row runs against ONE serving pipeline: live H.264 (videotestsrc pattern=snow, about
// 2 MB/s, a keyframe a second) + AAC into `rtmppushsink mode=listener
// location=rtmp://127.0.0.1:0/live/key` (the port from `bound-port`). A GOOD player (rtmp2src !
// flvdemux in a second pipeline of this process) plays throughout, and each row asserts:
//   (a) the clear signal the fault must produce: an `rtmppushsink-peer-warning` or
//       `rtmppushsink-player-disconnected` naming the hostile peer with a meaningful text, or
//       the status the hostile player is answered with;
//   (b) the serving pipeline keeps PLAYING and posts no error;
//   (c) the good player loses nothing: the MD5s of the buffers leaving its flvdemux are a
//       contiguous run of the MD5s of the buffers that entered the sink's pads (video and
//       audio), starting at a keyframe, and it got media after the fault too;
//   (d) no fd or thread outlives the hostile connections (counted once the good player plays).
// The hostile players are raw TCP connections (tests/gst/raw_peer.h). A missing encoder or
// rtmp2src fails in CI (ERTMP_REQUIRE) and skips elsewhere.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gst/gstrtmppushsink.h"
#include "protocol/crypto.h"
#include "tests/gst/pipeline_util.h"
#include "tests/gst/raw_peer.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::BusLog;
using ertmp_test::Bytes;
using ertmp_test::Clock;
using ertmp_test::Collected;
using ertmp_test::count_fds;
using ertmp_test::count_threads;
using ertmp_test::fd_list;
using ertmp_test::ms_since;
using ertmp_test::RawPeer;

constexpr const char* kEncoders =
    "x264enc and avenc_aac (Debian packages gstreamer1.0-plugins-ugly, gstreamer1.0-libav)";

bool have(const char* name) {
  GstElementFactory* f = gst_element_factory_find(name);
  if (f) gst_object_unref(f);
  return f != nullptr;
}

std::string md5_of(const uint8_t* p, size_t n) {
  return rtmp::to_hex(rtmp::md5(rtmp::Bytes(p, n)));
}

// Every buffer recorded (at the sink's pads, at the good player's appsinks) is announced here,
// so tests wait for media on a condition variable.
std::mutex g_media_mu;
std::condition_variable g_media_cv;

void announce_media() {
  std::lock_guard<std::mutex> lock(g_media_mu);
  g_media_cv.notify_all();
}

bool wait_media(const std::function<bool()>& pred, int timeout_ms) {
  std::unique_lock<std::mutex> lock(g_media_mu);
  return g_media_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), pred);
}

GstFlowReturn on_sample_notify(GstAppSink* sink, gpointer data) {
  GstFlowReturn ret = ertmp_test::on_sample(sink, data);
  announce_media();
  return ret;
}

// One field of the sink's `stats`.
guint64 stat_u64(GstElement* sink, const char* field) {
  GstStructure* s = nullptr;
  g_object_get(sink, "stats", &s, nullptr);
  if (!s) return 0;
  guint64 v = 0;
  guint u = 0;
  if (!gst_structure_get_uint64(s, field, &v) && gst_structure_get_uint(s, field, &u)) v = u;
  gst_structure_free(s);
  return v;
}

// The coded video frames a hand-driven player got, placed in what entered the sink's video pad
// (by MD5 of the frame after its 5-byte FLV header): gaps, and whether each gap resumed at a
// keyframe (the FLV frame type and the buffer's flags both say so).
struct VideoTrace {
  explicit VideoTrace(Collected& sent_pads) : sent(sent_pads) {}
  void take(const rtmp::Message& m) {
    if (m.type != 9 || m.payload.size() < 5 || m.payload[1] != 1) return;  // AVC NALUs only
    const std::string md5 = md5_of(m.payload.data() + 5, m.payload.size() - 5);
    const bool key = (m.payload[0] >> 4) == 1;
    std::lock_guard<std::mutex> lock(sent.mu);
    const auto& all = sent.md5s["video_0"];
    const long from = indices.empty() ? 0 : indices.back() + 1;  // never back, never twice
    auto at = std::find(all.begin() + std::min<long>(from, static_cast<long>(all.size())),
                        all.end(), md5);
    if (at == all.end()) {
      ++unknown;
      return;
    }
    const long i = at - all.begin();
    if (!indices.empty() && i != indices.back() + 1) {
      ++gaps;
      if (!key || !sent.keyframes["video_0"][static_cast<size_t>(i)]) ++bad_resumes;
    }
    indices.push_back(i);
    keys.push_back(key);
  }
  Collected& sent;
  std::vector<long> indices;  // of each frame got, in what entered the sink
  std::vector<bool> keys;     // its FLV frame type said keyframe
  size_t unknown = 0, gaps = 0, bad_resumes = 0;
};

class ServeFault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void SetUp() override {
    ERTMP_REQUIRE(have("x264enc") && have("avenc_aac"), kEncoders);
    ERTMP_REQUIRE(have("rtmp2src") && have("flvdemux"),
                  "rtmp2src and flvdemux (Debian packages gstreamer1.0-plugins-bad, -good)");
  }
  void TearDown() override {
    stop(good_, good_log_);
    stop(extra_, extra_log_);
    stop(serve_, serve_log_);
    if (sink_) gst_object_unref(sink_);
    sink_ = nullptr;
  }
  static void stop(GstElement*& pipeline, BusLog& log) {
    if (!pipeline) return;
    gst_element_set_state(pipeline, GST_STATE_NULL);
    log.detach();
    gst_object_unref(pipeline);
    pipeline = nullptr;
  }

  // The serving pipeline (`props` added to the sink) and the good player, playing; then the
  // baseline of (d).
  void start(const std::string& props) {
    start_serve(props);
    if (HasFatalFailure()) return;
    start_good();
    if (HasFatalFailure()) return;
    fds0_ = count_fds();
    fds0_list_ = fd_list();
    threads0_ = count_threads();
  }

  void start_serve(const std::string& props) {
    std::string desc =
        "videotestsrc is-live=true pattern=snow ! "
        "video/x-raw,width=320,height=240,framerate=30/1 ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=16000 ! "
        "sink.video_0 "
        "audiotestsrc is-live=true ! avenc_aac ! sink.audio_0 "
        "rtmppushsink name=sink mode=listener location=rtmp://127.0.0.1:0/live/key " +
        props;
    GError* err = nullptr;
    serve_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(serve_) << (err ? err->message : "");
    serve_log_.warning_name = "rtmppushsink-peer-warning";
    serve_log_.attach(serve_);
    sink_ = gst_bin_get_by_name(GST_BIN(serve_), "sink");
    for (GList* l = GST_ELEMENT(sink_)->sinkpads; l; l = l->next) {
      GstPad* pad = GST_PAD(l->data);
      ertmp_test::tap_pad(pad, &sent_, GST_PAD_NAME(pad));
      gst_pad_add_probe(
          pad, GST_PAD_PROBE_TYPE_BUFFER,
          [](GstPad*, GstPadProbeInfo*, gpointer) -> GstPadProbeReturn {
            announce_media();
            return GST_PAD_PROBE_OK;
          },
          nullptr, nullptr);
    }
    ASSERT_NE(gst_element_set_state(serve_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    g_object_get(sink_, "bound-port", &port_, nullptr);
    ASSERT_GT(port_, 0);
  }

  std::string url(const std::string& key = "key") const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }

  // rtmp2src ! flvdemux into appsinks good_video / good_audio; waits until it plays.
  void start_good() {
    std::string desc = "rtmp2src location=" + url() +
                       " ! flvdemux name=d d.video ! queue ! appsink name=good_video "
                       "d.audio ! queue ! appsink name=good_audio";
    GError* err = nullptr;
    good_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(good_) << (err ? err->message : "");
    good_log_.attach(good_);
    for (const char* name : {"good_video", "good_audio"}) {
      GstElement* s = gst_bin_get_by_name(GST_BIN(good_), name);
      g_object_set(s, "emit-signals", TRUE, "sync", FALSE, "async", FALSE, nullptr);
      g_signal_connect(s, "new-sample", G_CALLBACK(on_sample_notify), &got_);
      gst_object_unref(s);
    }
    ASSERT_NE(gst_element_set_state(good_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_TRUE(serve_log_.wait(
        [this] { return serve_log_.has_locked("rtmppushsink-player-connected"); }, 10'000))
        << serve_log_.dump();
    {
      std::lock_guard<std::mutex> lock(serve_log_.mu);
      for (const auto& e : serve_log_.entries) {
        if (e.name == "rtmppushsink-player-connected") good_peer_ = e.peer;
      }
    }
    ASSERT_TRUE(wait_media([this] { return got_.count("good_video") >= 10; }, 10'000))
        << "the good player got no media";
  }

  // A second sink on the same listener (another key), fed by `source` (a launch line ending
  // where the sink's pad goes).
  void start_extra(const std::string& source, const std::string& key) {
    std::string desc = source + " ! rtmppushsink name=extra mode=listener location=" + url(key);
    GError* err = nullptr;
    extra_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(extra_) << (err ? err->message : "");
    extra_log_.attach(extra_);
    ASSERT_NE(gst_element_set_state(extra_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }

  // (a): an element message `name` for `peer` whose message (warnings) or reason
  // (disconnections) contains `text`.
  bool has_locked(const std::string& name, const std::string& peer, const std::string& text) {
    for (const auto& e : serve_log_.entries) {
      if (e.name != name || e.peer != peer) continue;
      const std::string& t = name == "rtmppushsink-peer-warning" ? e.message : e.reason;
      if (t.find(text) != std::string::npos) return true;
    }
    return false;
  }
  void expect_message(const std::string& name, const std::string& peer, const std::string& text,
                      int timeout_ms = 4000) {
    EXPECT_TRUE(serve_log_.wait([&] { return has_locked(name, peer, text); }, timeout_ms))
        << "no " << name << " for " << peer << " containing '" << text << "'; bus:\n"
        << serve_log_.dump();
  }
  void expect_warning(const std::string& peer, const std::string& text, int timeout_ms = 4000) {
    expect_message("rtmppushsink-peer-warning", peer, text, timeout_ms);
  }
  void expect_disconnected(const std::string& peer, const std::string& text,
                           int timeout_ms = 4000) {
    expect_message("rtmppushsink-player-disconnected", peer, text, timeout_ms);
  }
  bool joined(const std::string& peer) {
    std::lock_guard<std::mutex> lock(serve_log_.mu);
    return has_locked("rtmppushsink-player-connected", peer, "");
  }
  // A hostile peer whose fault ends its connection: the server hangs up within the bound.
  void expect_dropped(RawPeer& p, const std::string& warning, int timeout_ms = 4000) {
    EXPECT_TRUE(p.wait_closed(timeout_ms)) << "the server kept the connection of " << p.peer();
    expect_warning(p.peer(), warning, timeout_ms);
  }

  // (b), (c), (d), in that order; the hostile peers must be closed by now.
  void expect_contained() {
    expect_still_running();
    expect_good_lost_nothing();
    expect_no_leak();
  }

  // (b): the serving pipeline still plays and never posted an error.
  void expect_still_running() {
    GstState state = GST_STATE_NULL;
    EXPECT_EQ(gst_element_get_state(serve_, &state, nullptr, GST_SECOND), GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(state, GST_STATE_PLAYING);
    std::lock_guard<std::mutex> lock(serve_log_.mu);
    EXPECT_TRUE(serve_log_.errors.empty()) << serve_log_.errors[0];
  }

  // (c): the good player is still served (15 more video frames arrive, 0.5 s) and everything it
  // got is a contiguous run of what entered the sink, starting at a keyframe.
  void expect_good_lost_nothing() {
    const size_t before = got_.count("good_video");
    EXPECT_TRUE(wait_media([&] { return got_.count("good_video") >= before + 15; }, 10'000))
        << "the good player stopped getting video";
    {
      std::lock_guard<std::mutex> lock(serve_log_.mu);
      EXPECT_FALSE(has_locked("rtmppushsink-player-disconnected", good_peer_, ""))
          << "the good player was disconnected:\n"
          << serve_log_.dump();
    }
    std::scoped_lock lock(got_.mu, sent_.mu);
    EXPECT_TRUE(got_.keyframes["good_video"].at(0))
        << "the good player did not start at a keyframe";
    for (const auto& [got_name, sent_name] :
         {std::pair<std::string, std::string>{"good_video", "video_0"},
          {"good_audio", "audio_0"}}) {
      const auto& got = got_.md5s[got_name];
      const auto& sent = sent_.md5s[sent_name];
      ASSERT_FALSE(got.empty()) << got_name;
      auto start = std::find(sent.begin(), sent.end(), got[0]);
      ASSERT_NE(start, sent.end()) << got_name << ": its first buffer never entered the sink";
      ASSERT_LE(got.size(), static_cast<size_t>(sent.end() - start)) << got_name;
      size_t same = 0;
      while (same < got.size() && got[same] == start[static_cast<long>(same)]) ++same;
      EXPECT_EQ(same, got.size()) << got_name << ": lost or changed at buffer " << same << " of "
                                  << got.size();
    }
  }

  // (d): threads and fds back to their count from when the good player played. /proc has no
  // change notification: polled, bounded.
  void expect_no_leak() {
    auto back = [&] { return count_threads() <= threads0_ && count_fds() <= fds0_; };
    auto t0 = Clock::now();
    while (!back() && ms_since(t0) < 5000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_LE(count_threads(), threads0_) << "threads leaked";
    EXPECT_LE(count_fds(), fds0_) << "fds leaked:\n" << fd_list() << "baseline:\n" << fds0_list_;
  }

  GstElement* serve_ = nullptr;
  GstElement* sink_ = nullptr;
  GstElement* good_ = nullptr;
  GstElement* extra_ = nullptr;
  BusLog serve_log_, good_log_, extra_log_;
  Collected sent_;  // what entered the sink's pads (video_0, audio_0)
  Collected got_;   // what the good player got (good_video, good_audio)
  std::string good_peer_;
  int port_ = 0;
  int fds0_ = 0, threads0_ = 0;
  std::string fds0_list_;
};

// --- the hostile players ------------------------------------------------------------------------

// A player with a 2 KB receive buffer that never reads after Play.Start: cut back once
// max-player-queue-bytes are queued for it, dropped when it stayed cut back for player-timeout
// (2 s). What is queued for it stays bounded meanwhile (cut back: nothing but headers is added).
TEST_F(ServeFault, PlayerThatNeverReadsIsDroppedAfterPlayerTimeout) {
  start("max-player-queue-bytes=65536 player-timeout=2");
  if (HasFatalFailure()) return;
  {
    RawPeer deaf(port_, 2048);
    ASSERT_TRUE(deaf.ok());
    ASSERT_EQ(deaf.start_play("key"), "NetStream.Play.Start");
    // The kernel's socket buffers take a few MB first (loopback: 64 KiB segments); then its
    // queue passes 64 KiB and the sink reports it cut back.
    const auto t0 = Clock::now();
    std::optional<Clock::time_point> cut_seen;
    guint64 max_queued = 0;
    bool dropped = false;
    while (!dropped && ms_since(t0) < 20'000) {
      dropped = serve_log_.wait(
          [&] {
            return has_locked("rtmppushsink-player-disconnected", deaf.peer(), "does not keep up");
          },
          50);
      max_queued = std::max(max_queued, stat_u64(sink_, "player-max-queued-bytes"));
      if (!cut_seen && stat_u64(sink_, "players-cut-back") > 0) cut_seen = Clock::now();
    }
    ASSERT_TRUE(dropped) << "the player that never reads was not dropped; bus:\n"
                         << serve_log_.dump();
    ASSERT_TRUE(cut_seen) << "the sink never reported it cut back";
    const int cut_to_drop = ms_since(*cut_seen);
    EXPECT_GE(cut_to_drop, 1500) << "dropped before player-timeout (2 s) after the cut";
    EXPECT_LT(cut_to_drop, 6000) << "dropped long after player-timeout (2 s)";
    expect_warning(deaf.peer(), "player dropped: it does not keep up");
    // Cut back past 64 KiB: one message more at most; the drop by size (8 x 64 KiB) is never
    // reached.
    EXPECT_GT(max_queued, 65536u) << "it was never cut back";
    EXPECT_LT(max_queued, 8u * 65536) << "what is queued for it was not bounded";
    std::cout << "[ never reads ] cut back after " << ms_since(t0) - cut_to_drop << " ms, dropped "
              << cut_to_drop << " ms later, max queued " << max_queued << " bytes\n";
    EXPECT_TRUE(deaf.wait_closed(3000));
  }
  expect_contained();
}

// play of a key nobody serves: NetStream.Play.StreamNotFound at once, naming the stream; closed.
TEST_F(ServeFault, PlayOfAKeyNobodyServesIsRefusedAtOnce) {
  start("");
  if (HasFatalFailure()) return;
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    const auto t0 = Clock::now();
    EXPECT_EQ(p.start_play("nokey"), "NetStream.Play.StreamNotFound");
    EXPECT_LT(ms_since(t0), 2000);
    ASSERT_FALSE(p.descriptions.empty());
    EXPECT_EQ(p.descriptions.back(), "no stream 'live/nokey' here");
    EXPECT_TRUE(p.wait_closed(3000)) << "a refused player stays connected";
    EXPECT_FALSE(joined(p.peer()));
  }
  expect_contained();
}

// play right after the handshake, before connect: a protocol fault, dropped with a warning.
TEST_F(ServeFault, PlayBeforeConnectIsDropped) {
  start("");
  if (HasFatalFailure()) return;
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.handshake());
    p.command("play", 4, rtmp::amf::Value::null(), {rtmp::amf::Value("key")}, 1, 8);
    expect_dropped(p, "command 'play' before connect");
    EXPECT_FALSE(joined(p.peer()));
  }
  expect_contained();
}

// A playing player repeats play 50 times on its stream (ignored: at most 5 warnings, it keeps
// playing), then floods createStream (dropped at the 17th stream, with a warning and a
// player-disconnected naming it).
TEST_F(ServeFault, PlayerFloodingPlayAndCreateStreamIsContained) {
  start("");
  if (HasFatalFailure()) return;
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    uint32_t id = 0;
    ASSERT_EQ(p.start_play("key", &id), "NetStream.Play.Start");
    ASSERT_TRUE(p.await_message(9, 3000));
    for (int i = 0; i < 50; ++i) {
      p.command("play", 10 + i, rtmp::amf::Value::null(), {rtmp::amf::Value("key")}, id, 8);
    }
    expect_warning(p.peer(), "play on a stream already in use ignored");
    // Still served: video keeps coming for well over a GOP.
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(p.await_message(9, 3000)) << "video stopped";
    {
      std::lock_guard<std::mutex> lock(serve_log_.mu);
      int warnings = 0;
      for (const auto& e : serve_log_.entries) {
        warnings += e.name == "rtmppushsink-peer-warning" && e.peer == p.peer();
      }
      EXPECT_LE(warnings, 5) << "one warning per repeated play floods the bus";
      EXPECT_FALSE(has_locked("rtmppushsink-player-disconnected", p.peer(), ""));
    }
    for (int i = 0; i < 20; ++i) p.command("createStream", 100 + i, rtmp::amf::Value::null());
    expect_dropped(p, "too many createStream calls");
    expect_disconnected(p.peer(), "too many createStream calls");
  }
  expect_contained();
}

// A type-0 header on csid 3 declaring `length` bytes of a command message, 16 bytes follow.
Bytes huge_header(uint32_t length) {
  auto u8 = [](uint32_t v) { return static_cast<uint8_t>(v); };
  Bytes b = {0x03, 0, 0, 0, u8(length >> 16), u8(length >> 8), u8(length), 20, 0, 0, 0, 0};
  b.resize(b.size() + 16, 0x02);
  return b;
}

// Playing players that then send a chunk on a never-opened chunk stream, or declare a message
// of 16 MiB - 1: each dropped with a warning naming the fault, and player-disconnected.
TEST_F(ServeFault, GarbageAndOversizedChunksAfterPlayAreDropped) {
  start("");
  if (HasFatalFailure()) return;
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p.start_play("key"), "NetStream.Play.Start");
    p.send(Bytes{0xC0 | 9, 1, 2, 3, 4, 5, 6, 7, 8});  // fmt 3 on csid 9, never opened
    expect_dropped(p, "never opened");
    expect_disconnected(p.peer(), "never opened");
  }
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p.start_play("key"), "NetStream.Play.Start");
    p.send(huge_header(0xFFFFFF));  // the 24-bit maximum, over Limits::max_message_size
    expect_dropped(p, "16777215 bytes over the 8388608-byte limit");
    expect_disconnected(p.peer(), "16777215 bytes");
  }
  expect_contained();
}

// A second sink on the same port serves Opus (E-RTMP only): a legacy player (no fourCcList in
// connect) asking for it is refused with NetStream.Play.NoSupportedTrackFound and closed.
TEST_F(ServeFault, LegacyPlayerOfAnEnhancedOnlyStreamIsRefusedWithAClearStatus) {
  ERTMP_REQUIRE(have("opusenc"), "opusenc (Debian package gstreamer1.0-plugins-base)");
  start("");
  if (HasFatalFailure()) return;
  start_extra("audiotestsrc is-live=true ! opusenc", "opus");
  if (HasFatalFailure()) return;
  GstElement* extra = gst_bin_get_by_name(GST_BIN(extra_), "extra");
  // Until its stream has its Opus header (before that any player is admitted). Polled, bounded.
  auto t0 = Clock::now();
  while (stat_u64(extra, "cache-bytes") == 0 && ms_since(t0) < 5000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(stat_u64(extra, "cache-bytes"), 0u) << "the Opus sink serves nothing";
  gst_object_unref(extra);
  fds0_ = count_fds();  // the second pipeline is part of the baseline
  threads0_ = count_threads();
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.start_play("opus"), "NetStream.Play.NoSupportedTrackFound");
    ASSERT_FALSE(p.descriptions.empty());
    EXPECT_NE(p.descriptions.back().find("E-RTMP"), std::string::npos) << p.descriptions.back();
    EXPECT_TRUE(p.wait_closed(3000));
  }
  {
    std::lock_guard<std::mutex> lock(extra_log_.mu);
    EXPECT_TRUE(extra_log_.errors.empty()) << extra_log_.errors[0];
  }
  expect_contained();
}

// 50 players connect at once and leave abruptly (half with a TCP reset) at every point of the
// join: after the TCP connect, mid-C1, after the handshake, with connect sent, with play sent,
// at Play.Reset (the join's GOP being written), after Play.Start. Every one that joined is reported
// gone, the sink counts only the good player again, and a new player is served.
TEST_F(ServeFault, FloodOf50PlayersLeavingMidJoin) {
  start("");
  if (HasFatalFailure()) return;
  std::vector<std::string> peers;
  {
    std::vector<std::unique_ptr<RawPeer>> flood;
    for (int i = 0; i < 50; ++i) {
      flood.push_back(std::make_unique<RawPeer>(port_));
      ASSERT_TRUE(flood.back()->ok());
      peers.push_back(flood.back()->peer());
    }
    for (int i = 0; i < 50; ++i) {
      RawPeer& p = *flood[static_cast<size_t>(i)];
      switch (i % 7) {  // 7 stages: each one with and without a reset
        case 0:         // TCP only
          break;
        case 1: {  // C0 + half of C1
          Bytes part(1 + 700, 0x11);
          part[0] = 3;
          p.send(part);
          break;
        }
        case 2:
          EXPECT_TRUE(p.handshake());
          break;
        case 3:
          EXPECT_TRUE(p.handshake());
          p.command("connect", 1,
                    rtmp::amf::Value::object(
                        {{"app", rtmp::amf::Value("live")}, {"tcUrl", rtmp::amf::Value(url())}}));
          break;
        case 4:
          EXPECT_TRUE(p.handshake());
          EXPECT_TRUE(p.connect_app());
          p.command("createStream", 2, rtmp::amf::Value::null());
          p.command("play", 4, rtmp::amf::Value::null(), {rtmp::amf::Value("key")}, 1, 8);
          break;
        case 5: {  // mid-join: Play.Reset read, the join's GOP being written
          EXPECT_TRUE(p.handshake());
          EXPECT_TRUE(p.connect_app());
          auto id = p.create_stream();
          EXPECT_TRUE(id);
          p.command("play", 4, rtmp::amf::Value::null(), {rtmp::amf::Value("key")}, id.value_or(1),
                    8);
          EXPECT_TRUE(p.await([](const rtmp::Command& c) { return c.name == "onStatus"; }));
          break;
        }
        default:
          EXPECT_EQ(p.start_play("key"), "NetStream.Play.Start");
          break;
      }
    }
    for (int i = 0; i < 50; ++i) {
      if (i % 2) {
        linger reset{1, 0};  // close() sends a RST
        setsockopt(flood[static_cast<size_t>(i)]->fd(), SOL_SOCKET, SO_LINGER, &reset,
                   sizeof reset);
      }
    }
  }  // all closed at once
  auto balance = [&] {
    int open = 0;
    for (const auto& e : serve_log_.entries) {
      if (std::find(peers.begin(), peers.end(), e.peer) == peers.end()) continue;
      open += e.name == "rtmppushsink-player-connected";
      open -= e.name == "rtmppushsink-player-disconnected";
    }
    return open;
  };
  EXPECT_TRUE(serve_log_.wait([&] { return balance() == 0; }, 5000))
      << "players of the flood still counted as playing; bus:\n"
      << serve_log_.dump();
  {
    std::lock_guard<std::mutex> lock(serve_log_.mu);
    int joined_count = 0;
    for (const auto& e : serve_log_.entries) {
      joined_count += e.name == "rtmppushsink-player-connected" &&
                      std::find(peers.begin(), peers.end(), e.peer) != peers.end();
    }
    EXPECT_GE(joined_count, 14) << "the players that read Play.Reset or Play.Start joined";
  }
  auto t0 = Clock::now();
  while (stat_u64(sink_, "players") != 1 && ms_since(t0) < 3000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // stats: no notification
  }
  EXPECT_EQ(stat_u64(sink_, "players"), 1u) << "only the good player should be left";
  {
    RawPeer after(port_);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after.start_play("key"), "NetStream.Play.Start") << "a new player was not served";
    EXPECT_TRUE(after.await_message(9, 3000));
  }
  expect_contained();
}

// A player pauses (pause true) and never unpauses nor reads again: no media is queued for it
// (the server drops it instead of buffering), so what is queued stays flat and it is not cut
// back or dropped (player-timeout=1 would drop a player cut back for 1 s).
TEST_F(ServeFault, PlayerPausedForeverCostsNothingAndBlocksNobody) {
  start("max-player-queue-bytes=65536 player-timeout=1");
  if (HasFatalFailure()) return;
  {
    RawPeer p(port_);
    ASSERT_TRUE(p.ok());
    uint32_t id = 0;
    ASSERT_EQ(p.start_play("key", &id), "NetStream.Play.Start");
    ASSERT_TRUE(p.await_message(9, 3000));
    p.command("pause", 5, rtmp::amf::Value::null(), {rtmp::amf::Value(true), rtmp::amf::Value(0.0)},
              id, 8);
    ASSERT_TRUE(p.await([](const rtmp::Command& c) {
      return c.name == "onStatus" && c.args[0].get_string("code") == "NetStream.Pause.Notify";
    }));
    // 3 s of about 0.8 MB of media while it reads nothing.
    const size_t sent0 = sent_.count("video_0");
    guint64 max_queued = 0;
    auto t0 = Clock::now();
    while (ms_since(t0) < 3000) {
      serve_log_.wait([&] { return has_locked("rtmppushsink-player-disconnected", p.peer(), ""); },
                      100);
      max_queued = std::max(max_queued, stat_u64(sink_, "player-max-queued-bytes"));
    }
    EXPECT_GE(sent_.count("video_0"), sent0 + 60) << "the stream did not run meanwhile";
    EXPECT_LT(max_queued, 16u * 1024) << "media was queued for a paused player";
    EXPECT_EQ(stat_u64(sink_, "players"), 2u);
    EXPECT_EQ(stat_u64(sink_, "players-cut-back"), 0u);
    {
      std::lock_guard<std::mutex> lock(serve_log_.mu);
      EXPECT_FALSE(has_locked("rtmppushsink-player-disconnected", p.peer(), ""))
          << "a paused player was dropped:\n"
          << serve_log_.dump();
    }
    // Nothing but control messages after Pause.Notify.
    int media = 0;
    auto t1 = Clock::now();
    while (ms_since(t1) < 500 && p.read_some(50)) {
      while (auto m = p.next_message()) media += m->type == 8 || m->type == 9;
    }
    EXPECT_EQ(media, 0) << "media sent to a paused player";
  }
  expect_contained();
}

// A player that reads at once joins while the GOP cache holds more than max-player-queue-bytes:
// the join's GOP is written to its socket as it is offered, so it is not mistaken for a slow
// player (docs/faults.md bug 7: the whole GOP was queued before the first write, the gate saw
// it as backlog and cut the player back at its first frames).
TEST_F(ServeFault, FastPlayerJoiningAGopLargerThanTheQueueBoundIsNotCutBack) {
  start("max-player-queue-bytes=65536");
  if (HasFatalFailure()) return;
  // Until the cached GOP is well past the bound (the stream is about 2 MB/s). Polled, bounded.
  auto t0 = Clock::now();
  while (stat_u64(sink_, "cache-bytes") < 4 * 65536 && ms_since(t0) < 3000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(stat_u64(sink_, "cache-bytes"), 4u * 65536);
  {
    RawPeer fast(port_);
    ASSERT_TRUE(fast.ok());
    ASSERT_EQ(fast.start_play("key"), "NetStream.Play.Start");
    VideoTrace trace(sent_);
    auto t1 = Clock::now();
    while (ms_since(t1) < 2000 && fast.read_some(50)) {
      while (auto m = fast.next_message()) trace.take(*m);
    }
    ASSERT_GE(trace.indices.size(), 30u) << "the fast player got too little video";
    EXPECT_TRUE(trace.keys.front());
    EXPECT_EQ(trace.gaps, 0u) << "a player that reads at once lost frames after joining";
    EXPECT_EQ(trace.unknown, 0u);
    EXPECT_EQ(stat_u64(sink_, "player-skipped-messages"), 0u);
  }
  expect_contained();
}

// --- a slow player that keeps reading ---------------------------------------------------------

// A player reading 96 KB every 100 ms (about 1 MB/s; the stream is about 2 MB/s) with
// max-player-queue-bytes=256 KiB: the gate cuts it back (stats), and after each gap in what it
// gets its video resumes at a keyframe, never an interframe. It is not dropped while it reads
// (at least 7 s, cut back again and again): PlayerGate drops a player only when it stays cut
// back for player-timeout (2 s here), and one that reads drains below half the bound within a
// fraction of a second.
TEST_F(ServeFault, SlowReaderIsCutBackToAKeyframeAndKeptWhileItReads) {
  start("max-player-queue-bytes=262144 player-timeout=2");
  if (HasFatalFailure()) return;
  {
    RawPeer slow(port_, 64 * 1024);
    ASSERT_TRUE(slow.ok());
    ASSERT_EQ(slow.start_play("key"), "NetStream.Play.Start");
    VideoTrace trace(sent_);
    guint64 max_cut = 0, max_skipped = 0;
    bool closed = false;
    const auto t0 = Clock::now();
    auto next = t0;
    while (ms_since(t0) < 15'000 && !(trace.gaps >= 3 && ms_since(t0) >= 7000)) {
      // The throttle: 96 KB per 100 ms. Pacing the reader is the behaviour under test.
      size_t budget = 96 * 1024;
      while (budget > 0) {
        size_t got = 0;
        if (!slow.read_some(10, &got, budget)) {
          closed = true;
          break;
        }
        if (got == 0) break;
        budget -= std::min(budget, got);
      }
      while (auto m = slow.next_message()) trace.take(*m);
      if (closed) break;
      max_cut = std::max(max_cut, stat_u64(sink_, "players-cut-back"));
      max_skipped = std::max(max_skipped, stat_u64(sink_, "player-skipped-messages"));
      next += std::chrono::milliseconds(100);
      std::this_thread::sleep_until(next);
    }
    EXPECT_FALSE(closed) << "the slow player was dropped while it read";
    {
      std::lock_guard<std::mutex> lock(serve_log_.mu);
      EXPECT_FALSE(has_locked("rtmppushsink-player-disconnected", slow.peer(), ""))
          << serve_log_.dump();
    }
    EXPECT_GE(max_cut, 1u) << "the sink never reported the slow player cut back";
    EXPECT_GT(max_skipped, 0u) << "nothing was skipped for the slow player";
    ASSERT_FALSE(trace.indices.empty()) << "the slow player got no video";
    EXPECT_TRUE(trace.keys.front()) << "it did not start at a keyframe";
    EXPECT_GE(trace.gaps, 1u) << "no gap in what it got: it was never cut back";
    EXPECT_EQ(trace.bad_resumes, 0u) << "after a gap its video resumed at an interframe";
    EXPECT_EQ(trace.unknown, 0u) << "frames it got are not what entered the sink (or out of order)";
    std::cout << "[ slow player ] " << trace.indices.size() << " video frames in " << ms_since(t0)
              << " ms, " << trace.gaps << " gaps, max players-cut-back " << max_cut << ", "
              << max_skipped << " skipped\n";
  }
  expect_contained();
}

}  // namespace
