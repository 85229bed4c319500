// The fault catalogue (docs/faults.md): named hostile or broken peers against rtmpingestsrc,
// and broken servers under rtmppushsink.
//
// Every ingest fault runs against ONE ingest pipeline holding two rtmpingestsrc elements that
// share a port: `good` (application live, stream key "good") and `any` (application live, any
// key; its publish-request handler refuses keys starting with "refused"). While the hostile
// peer does its worst, a good publisher (rtmppushsink in another pipeline of this process)
// publishes live H.264 + AAC to "good", and each test asserts:
//   (a) the clear signal the fault must produce: a `rtmpingestsrc-peer-warning` naming the
//       hostile peer with a meaningful text, or the status the peer is answered with;
//   (b) the pipeline keeps PLAYING and posts no error;
//   (c) the good publisher loses nothing: the MD5 of every buffer leaving the `good` pads
//       equals the MD5 of every buffer that entered the sink's pads, in order;
//   (d) no fd or thread outlives the hostile connection (counted after a warm-up publish, so
//       GStreamer's lazily created threads are already there).
// Every assertion is a hard one: a fault that regresses fails its test (there is no "known bug"
// skip), and a missing encoder or ffmpeg fails in CI (ERTMP_REQUIRE) and skips elsewhere.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "protocol/chunk_writer.h"
#include "protocol/control.h"
#include "protocol/handshake.h"
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

// A /proc/self/status field in kB ("VmRSS", "VmSize").
long status_kb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return 0;
}
long rss_kb() {
  return status_kb("VmRSS");
}

// --- crafted FLV bodies ---------------------------------------------------------------------

// A plausible AVCDecoderConfigurationRecord (baseline, level 3.0, one SPS and PPS).
Bytes avcc() {
  return {0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0x00, 0x0B, 0x67, 0x42, 0xC0, 0x1E, 0xD9,
          0x00, 0xA0, 0x47, 0xFE, 0xC8, 0x40, 0x01, 0x00, 0x04, 0x68, 0xCE, 0x3C, 0x80};
}
// `head` then `tail` (sized up front: GCC 12 misreads insert() after an initializer list).
Bytes cat(std::initializer_list<uint8_t> head, const Bytes& tail) {
  Bytes b(head.size() + tail.size());
  std::copy(head.begin(), head.end(), b.begin());
  std::copy(tail.begin(), tail.end(), b.begin() + static_cast<long>(head.size()));
  return b;
}
Bytes avc_sequence_header(const Bytes& record = avcc()) {
  return cat({0x17, 0x00, 0x00, 0x00, 0x00}, record);
}
// What the element emits for a legacy AVC frame: the body after its 5-byte header.
Bytes avc_nalus(int index, bool key) {
  Bytes nal = {static_cast<uint8_t>(key ? 0x65 : 0x41), 0x88, static_cast<uint8_t>(index),
               static_cast<uint8_t>(index >> 8)};
  for (int i = 0; i < 40; ++i) nal.push_back(static_cast<uint8_t>(i * 7 + index));
  return cat({0x00, 0x00, 0x00, static_cast<uint8_t>(nal.size())}, nal);
}
Bytes avc_frame(int index, bool key) {
  return cat({static_cast<uint8_t>(key ? 0x17 : 0x27), 0x01, 0x00, 0x00, 0x00},
             avc_nalus(index, key));
}
std::string md5_of(const Bytes& b) {
  return rtmp::to_hex(rtmp::md5(rtmp::Bytes(b.data(), b.size())));
}

// Every buffer an appsink of the ingest records is announced here, so tests wait for media on a
// condition variable.
std::mutex g_media_mu;
std::condition_variable g_media_cv;

GstFlowReturn on_sample_notify(GstAppSink* sink, gpointer data) {
  GstFlowReturn ret = ertmp_test::on_sample(sink, data);
  std::lock_guard<std::mutex> lock(g_media_mu);
  g_media_cv.notify_all();
  return ret;
}

// After tap_pad's probe recorded a buffer entering `pad`, announces it.
void notify_media(GstPad* pad) {
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo*, gpointer) -> GstPadProbeReturn {
        std::lock_guard<std::mutex> lock(g_media_mu);
        g_media_cv.notify_all();
        return GST_PAD_PROBE_OK;
      },
      nullptr, nullptr);
}

// Waits (bounded) until `pred` (which may lock a Collected) holds.
bool wait_media(const std::function<bool()>& pred, int timeout_ms) {
  std::unique_lock<std::mutex> lock(g_media_mu);
  return g_media_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), pred);
}

// Links a new pad of `src` to an appsink named `prefix` + pad name. async=false: a sink added
// to a PLAYING pipeline must not make it lose its state (one connection thread feeds every
// pad, so a prerolling sink would wait for a buffer that thread cannot deliver).
void link_appsink(GstElement* src, GstPad* pad, Collected* c, const std::string& prefix) {
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(src));
  std::string name = prefix + GST_PAD_NAME(pad);
  GstElement* sink = gst_element_factory_make("appsink", name.c_str());
  g_object_set(sink, "emit-signals", TRUE, "sync", FALSE, "async", FALSE, nullptr);
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_sample_notify), c);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  EXPECT_EQ(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK);
  gst_object_unref(sinkpad);
  gst_object_unref(pipeline);
}

// --- the fixture ------------------------------------------------------------------------------

class Fault;

struct FaultCase {
  const char* name;
  std::string ingest_props;  // added to both elements (the listener's settings come from one)
  std::function<void(Fault&)> run;
  std::string push_props = "";  // added to the good publisher's rtmppushsink
  std::function<void(Fault&)> before_good = nullptr;
};

class Fault : public ::testing::TestWithParam<FaultCase> {
 public:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    have_encoders_ = have("x264enc") && have("avenc_aac");
    warm_up();
  }
  // One whole good publish, once per process, so GStreamer's lazily created threads and fds
  // (task pool, clock) exist before any test counts them.
  static void warm_up() {
    static bool done = false;
    if (done || !have_encoders_) return;
    done = true;
    Fault warm;
    warm.start_ingest("");
    warm.start_good("");
    warm.finish_good();
    warm.stop_all();
  }
  static bool have(const char* name) {
    GstElementFactory* f = gst_element_factory_find(name);
    if (f) gst_object_unref(f);
    return f != nullptr;
  }
  void TestBody() override {}  // only for the warm-up instance, which is not a test
  void TearDown() override { stop_all(); }

  void stop_all() {
    release_block();
    if (push_) {
      gst_element_set_state(push_, GST_STATE_NULL);
      push_log_.detach();
      gst_object_unref(push_);
      push_ = nullptr;
    }
    if (ingest_) {
      gst_element_set_state(ingest_, GST_STATE_NULL);
      ingest_log_.detach();
      gst_object_unref(ingest_);
      ingest_ = nullptr;
    }
  }

  // Two elements sharing one port: "good" (key good) and "any" (any key).
  void start_ingest(const std::string& props) {
    port_ = ertmp_test::free_port();
    std::string common = "address=127.0.0.1 port=" + std::to_string(port_) +
                         " application=live handshake-timeout=1 idle-timeout=2 " + props;
    std::string desc =
        "rtmpingestsrc name=good stream-key=good " + common + " rtmpingestsrc name=any " + common;
    GError* err = nullptr;
    ingest_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(ingest_) << (err ? err->message : "");
    ingest_log_.attach(ingest_);
    GstElement* good = gst_bin_get_by_name(GST_BIN(ingest_), "good");
    GstElement* any = gst_bin_get_by_name(GST_BIN(ingest_), "any");
    g_signal_connect(good, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                       auto* f = static_cast<Fault*>(d);
                       if (f->block_ms_ > 0 && g_str_has_prefix(GST_PAD_NAME(pad), "video"))
                         f->install_block(pad);
                       link_appsink(e, pad, &f->got_, "good_");
                     }),
                     this);
    g_signal_connect(any, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                       link_appsink(e, pad, static_cast<Collected*>(d), "any_");
                     }),
                     &got_);
    g_signal_connect(any, "publish-request",
                     G_CALLBACK(+[](GstElement*, const gchar*, const gchar* stream, const gchar*,
                                    const gchar*, const gchar*, gpointer) -> gboolean {
                       return !g_str_has_prefix(stream, "refused");
                     }),
                     nullptr);
    gst_object_unref(good);
    gst_object_unref(any);
    ASSERT_NE(gst_element_set_state(ingest_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }

  // The good publisher: 2 s of live H.264 + AAC into "good"; waits until it is publishing.
  void start_good(const std::string& push_props) {
    std::string desc =
        "videotestsrc is-live=true num-buffers=60 pattern=ball ! "
        "video/x-raw,width=160,height=120,framerate=30/1 ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! push.video_0 "
        "audiotestsrc is-live=true num-buffers=90 ! avenc_aac ! push.audio_0 "
        "rtmppushsink name=push " +
        push_props + " location=rtmp://127.0.0.1:" + std::to_string(port_) + "/live/good";
    GError* err = nullptr;
    push_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(push_) << (err ? err->message : "");
    push_log_.attach(push_);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    for (GList* l = GST_ELEMENT(sink)->sinkpads; l; l = l->next) {
      ertmp_test::tap_pad(GST_PAD(l->data), &sent_, GST_PAD_NAME(GST_PAD(l->data)));
      notify_media(GST_PAD(l->data));
    }
    gst_object_unref(sink);
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_TRUE(ingest_log_.wait(
        [this] { return ingest_log_.has_locked("rtmpingestsrc-publisher-connected", "good"); },
        15'000))
        << ingest_log_.dump();
  }

  // (c): the good publisher ends cleanly and every buffer arrived unchanged, in order.
  void finish_good(int timeout_ms = 30'000) {
    ASSERT_TRUE(
        push_log_.wait([this] { return push_log_.eos || !push_log_.errors.empty(); }, timeout_ms));
    {
      std::lock_guard<std::mutex> lock(push_log_.mu);
      ASSERT_TRUE(push_log_.errors.empty()) << push_log_.errors[0];
    }
    ASSERT_TRUE(ingest_log_.wait(
        [this] { return ingest_log_.has_locked("rtmpingestsrc-publisher-disconnected", "good"); },
        10'000));
    // The pads' tasks may still be pushing what was queued when the publisher left (a row that
    // blocks downstream leaves seconds of it): bounded wait until everything sent is out.
    auto all_out = [this] {
      std::scoped_lock lock(got_.mu, sent_.mu);
      return got_.md5s["good_video_0"].size() >= sent_.md5s["video_0"].size() &&
             got_.md5s["good_audio_0"].size() >= sent_.md5s["audio_0"].size();
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!all_out() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling appsink counts
    }
    std::scoped_lock lock(got_.mu, sent_.mu);
    EXPECT_EQ(sent_.md5s["video_0"].size(), 60u);
    EXPECT_GT(sent_.md5s["audio_0"].size(), 80u);
    EXPECT_EQ(got_.md5s["good_video_0"], sent_.md5s["video_0"]) << "the good publisher lost video";
    EXPECT_EQ(got_.md5s["good_audio_0"], sent_.md5s["audio_0"]) << "the good publisher lost audio";
    EXPECT_EQ(got_.keyframes["good_video_0"], sent_.keyframes["video_0"]);
  }

  // (b): the ingest pipeline still plays and never posted an error.
  void expect_still_running() {
    GstState state = GST_STATE_NULL;
    EXPECT_EQ(gst_element_get_state(ingest_, &state, nullptr, GST_SECOND),
              GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(state, GST_STATE_PLAYING);
    std::lock_guard<std::mutex> lock(ingest_log_.mu);
    EXPECT_TRUE(ingest_log_.errors.empty()) << ingest_log_.errors[0];
  }

  // (a): a peer-warning for `peer` ("" = any peer) containing `text`.
  bool expect_warning(const std::string& peer, const std::string& text, int timeout_ms = 4000) {
    bool found = ingest_log_.wait(
        [&] { return ingest_log_.find_warning_locked(peer, text) != nullptr; }, timeout_ms);
    if (found) return true;
    ADD_FAILURE() << "no rtmpingestsrc-peer-warning for " << (peer.empty() ? "any" : peer)
                  << " containing '" << text << "'; bus:\n"
                  << ingest_log_.dump();
    return false;
  }
  void expect_no_warning(const std::string& peer) {
    std::lock_guard<std::mutex> lock(ingest_log_.mu);
    const BusLog::Entry* e = ingest_log_.find_warning_locked(peer, "");
    EXPECT_EQ(e, nullptr) << "unexpected warning: " << e->message;
  }
  // (d): once the hostile connections are gone, threads and fds are back to the baseline.
  // Finished connections let go of their sockets at once (FloodOf100Connections and
  // FinishedConnectionsReleaseTheirSockets check that without a new connection); the reaper
  // connections made here also cover a listener that cleans up at its next accept. The slack
  // of 2: the last reaper's own fds while it ends, and one eventfd GStreamer creates lazily in
  // the ingest pipeline after the baseline was counted (it stays for the process).
  void expect_no_leak() {
    bool back = false;
    auto t0 = Clock::now();
    // A reaper connection per round (connection threads may still be finishing when the first
    // one is accepted); /proc has no change notification, so this polls, bounded.
    while (!back && ms_since(t0) < 5000) {
      {
        RawPeer reaper(port_);
        EXPECT_TRUE(reaper.ok());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      back = count_threads() <= threads0_ + 2 && count_fds() <= fds0_ + 2;
    }
    EXPECT_LE(count_threads(), threads0_ + 2) << "connection threads leaked";
    EXPECT_LE(count_fds(), fds0_ + 2) << "sockets leaked:\n"
                                      << fd_list() << "baseline:\n"
                                      << fds0_list_;
  }

  // A downstream that blocks: the 5th video buffer waits `block_ms_` (or until released).
  void install_block(GstPad* pad) {
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo*, gpointer d) -> GstPadProbeReturn {
          auto* f = static_cast<Fault*>(d);
          std::unique_lock<std::mutex> lock(f->block_mu_);
          if (++f->block_count_ == 5) {
            f->blocked_ = true;
            f->block_cv_.notify_all();
            f->block_cv_.wait_for(lock, std::chrono::milliseconds(f->block_ms_),
                                  [f] { return f->unblock_; });
            f->blocked_ = false;
            f->block_cv_.notify_all();
          }
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
  }
  void release_block() {
    std::lock_guard<std::mutex> lock(block_mu_);
    unblock_ = true;
    block_cv_.notify_all();
  }

  int port_ = 0;
  GstElement* ingest_ = nullptr;
  GstElement* push_ = nullptr;
  BusLog ingest_log_, push_log_;
  Collected got_;   // what left the ingest's pads ("good_video_0", "any_video_0", ...)
  Collected sent_;  // what entered the good publisher's sink pads
  int fds0_ = 0, threads0_ = 0;
  std::string fds0_list_;

  int block_ms_ = 0;
  std::mutex block_mu_;
  std::condition_variable block_cv_;
  int block_count_ = 0;
  bool blocked_ = false;
  bool unblock_ = false;

  static bool have_encoders_;
};
bool Fault::have_encoders_ = false;
// What the good publisher needs.
constexpr const char* kEncoders =
    "x264enc and avenc_aac (Debian packages gstreamer1.0-plugins-ugly, gstreamer1.0-libav)";

TEST_P(Fault, HostilePeerIsContainedAndTheGoodPublisherLosesNothing) {
  ERTMP_REQUIRE(have_encoders_, kEncoders);
  const FaultCase& c = GetParam();
  start_ingest(c.ingest_props);
  if (HasFatalFailure()) return;
  fds0_ = count_fds();
  fds0_list_ = fd_list();
  threads0_ = count_threads();
  if (c.before_good) c.before_good(*this);
  start_good(c.push_props);
  if (HasFatalFailure()) return;
  c.run(*this);
  finish_good();
  expect_still_running();
  gst_element_set_state(push_, GST_STATE_NULL);
  push_log_.detach();
  gst_object_unref(push_);
  push_ = nullptr;
  expect_no_leak();
}

// --- the hostile peers ------------------------------------------------------------------------

// A peer whose fault closes its connection: (a) a warning naming it with `text`, and the
// server hangs up within a bound.
void expect_dropped_with_warning(Fault& f, RawPeer& p, const std::string& text,
                                 int timeout_ms = 4000) {
  EXPECT_TRUE(p.wait_closed(timeout_ms)) << "the server kept the connection of " << p.peer();
  f.expect_warning(p.peer(), text, timeout_ms);
}

void garbage_instead_of_handshake(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  p.send(std::string("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  expect_dropped_with_warning(f, p, "version");
}

void rtmpe_c0(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  Bytes c0c1(1 + rtmp::kHandshakeSize, 0x5A);
  c0c1[0] = 6;  // RTMPE (encrypted RTMP): not supported, must be refused clearly
  p.send(c0c1);
  expect_dropped_with_warning(f, p, "version");
}

void truncated_c1_then_close(Fault& f) {
  std::string peer;
  {
    RawPeer p(f.port_);
    ASSERT_TRUE(p.ok());
    peer = p.peer();
    Bytes part(1 + 700, 0x11);
    part[0] = 3;
    p.send(part);
  }  // closed mid-C1
  f.expect_warning(peer, "closed during the RTMP handshake after 701 bytes", 3000);
}

void slow_loris_before_c0(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  auto t0 = Clock::now();
  expect_dropped_with_warning(f, p, "handshake not completed", 4000);
  EXPECT_GE(ms_since(t0), 900) << "dropped before handshake-timeout=1";
}

void slow_loris_after_c0c1(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  auto t0 = Clock::now();
  ASSERT_TRUE(p.send_c0c1_and_read_s0s1s2());
  expect_dropped_with_warning(f, p, "handshake not completed", 4000);
  EXPECT_GE(ms_since(t0), 900);
}

void slow_loris_after_c2(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  auto t0 = Clock::now();
  // The handshake is done: idle-timeout=2 is the deadline now.
  expect_dropped_with_warning(f, p, "nothing received for 2000 ms", 5000);
  EXPECT_GE(ms_since(t0), 1800);
}

void type3_chunk_on_unknown_csid(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.send(Bytes{0xC0 | 9, 1, 2, 3, 4, 5, 6, 7, 8});  // fmt 3 on csid 9, never opened
  expect_dropped_with_warning(f, p, "never opened");
}

void type2_chunk_on_unknown_csid(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.send(Bytes{0x80 | 12, 0, 0, 40, 1, 2, 3, 4});  // fmt 2 (delta only) on csid 12
  expect_dropped_with_warning(f, p, "never opened");
}

// A type-0 header on csid 3 declaring `length` bytes of a command message, 16 bytes follow.
Bytes huge_header(uint32_t length, uint8_t type) {
  auto u8 = [](uint32_t v) { return static_cast<uint8_t>(v); };
  Bytes b = {0x03, 0, 0, 0, u8(length >> 16), u8(length >> 8), u8(length), type, 0, 0, 0, 0};
  b.resize(b.size() + 16, 0x02);
  return b;
}

void message_over_max_before_connect(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  // The 24-bit length field tops out at 16 MiB - 1; before a publish the limit is 64 KiB
  // (Limits::max_message_size_before_publish): nothing is reserved for it.
  p.send(huge_header(0xFFFFFF, 20));
  expect_dropped_with_warning(f, p, "16777215 bytes over the 65536-byte limit");
}

void message_over_max_after_connect(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.connect_app());
  p.send(huge_header(64u * 1024 + 1, 20));  // N+1 of Limits::max_message_size_before_publish
  expect_dropped_with_warning(f, p, "65537 bytes over the 65536-byte limit");
}

void message_over_max_after_publish(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  uint32_t id = 0;
  ASSERT_EQ(p.start_publish("huge", &id), "NetStream.Publish.Start");
  // A publisher may send large frames: 8 MiB is accepted, 8 MiB + 1 is not.
  rtmp::Message big;
  big.type = 9;
  big.stream_id = id;
  big.csid = 6;
  big.payload.assign(8u * 1024 * 1024, 0x17);
  p.write(big);
  p.send(huge_header(8u * 1024 * 1024 + 1, 9));  // N+1 of Limits::max_message_size
  expect_dropped_with_warning(f, p, "8388609 bytes over the 8388608-byte limit");
  std::lock_guard<std::mutex> lock(f.ingest_log_.mu);
  EXPECT_EQ(f.ingest_log_.find_warning_locked(p.peer(), "8388608 bytes over"), nullptr);
}

void set_chunk_size_zero(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.write(rtmp::make_set_chunk_size(0));
  expect_dropped_with_warning(f, p, "Set Chunk Size 0 outside");
}

void set_chunk_size_2_pow_31(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  rtmp::Message m = rtmp::make_set_chunk_size(1);
  m.payload = {0x80, 0x00, 0x00, 0x00};  // 2^31: the reserved top bit set
  p.write(m);
  expect_dropped_with_warning(f, p, "Set Chunk Size");
}

void set_chunk_size_max_and_max_plus_one(Fault& f) {
  // N: 0xFFFFFF is accepted and the connection goes on (connect answered in that size).
  {
    RawPeer p(f.port_);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.handshake());
    p.set_chunk_size(0xFFFFFF);
    EXPECT_TRUE(p.connect_app());
    f.expect_no_warning(p.peer());
  }
  // N+1 is refused.
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.write(rtmp::make_set_chunk_size(0x1000000));
  expect_dropped_with_warning(f, p, "Set Chunk Size 16777216 outside");
}

void abort_on_unknown_csid(Fault& f) {
  // Harmless by the spec (nothing to discard): tolerated, the connection carries on.
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.write(rtmp::make_abort(47));
  p.write(rtmp::make_abort(65599));
  EXPECT_TRUE(p.connect_app()) << "an Abort of a chunk stream never used broke the session";
  f.expect_no_warning(p.peer());
}

void extended_timestamp_garbage(Fault& f) {
  // connect split in 128-byte chunks: the type-0 header carries an extended timestamp, and the
  // type-3 continuations carry 4 bytes that are NOT that timestamp (garbage). By the rule
  // shared with SRS they are payload, so the command decodes as garbage: a decode fault.
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  rtmp::Message m = rtmp::build_command_message(rtmp::make_command(
      "connect", 1,
      rtmp::amf::Value::object(
          {{"app", rtmp::amf::Value("live")}, {"tcUrl", rtmp::amf::Value(std::string(300, 'u'))}}),
      {}));
  uint32_t len = static_cast<uint32_t>(m.payload.size());
  Bytes b = {0x03,
             0xFF,
             0xFF,
             0xFF,
             static_cast<uint8_t>(len >> 16),
             static_cast<uint8_t>(len >> 8),
             static_cast<uint8_t>(len),
             20,
             0,
             0,
             0,
             0,
             0xDE,
             0xAD,
             0xBE,
             0xEF};
  size_t off = 0;
  while (off < m.payload.size()) {
    if (off > 0) {
      b.push_back(0xC3);
      b.insert(b.end(), {0x01, 0x02, 0x03, 0x04});  // not 0xDEADBEEF
    }
    size_t n = std::min<size_t>(128, m.payload.size() - off);
    b.insert(b.end(), m.payload.begin() + static_cast<long>(off),
             m.payload.begin() + static_cast<long>(off + n));
    off += n;
  }
  p.send(b);
  expect_dropped_with_warning(f, p, "closing connection: ");
}

void put(Bytes& b, std::initializer_list<uint8_t> bytes) {
  for (uint8_t x : bytes) b.push_back(x);
}
// AMF0 bytes: "connect", transaction 1.0 (the start of every connect command).
Bytes amf_connect_prefix() {
  Bytes b = {0x02, 0x00, 0x07};
  for (char ch : std::string("connect")) b.push_back(static_cast<uint8_t>(ch));
  put(b, {0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0});
  return b;
}
// ... then an object with "app": a long string (0x0C) declaring `n` bytes, `present` of them.
Bytes connect_with_long_app(uint32_t n, size_t present) {
  Bytes b = amf_connect_prefix();
  put(b, {0x03, 0x00, 0x03, 'a', 'p', 'p', 0x0C});
  for (int shift : {24, 16, 8, 0}) b.push_back(static_cast<uint8_t>(n >> shift));
  b.resize(b.size() + present, 'x');
  return b;
}
rtmp::Message command_with_payload(Bytes payload) {
  rtmp::Message m;
  m.type = 20;
  m.csid = 3;
  m.payload = std::move(payload);
  return m;
}

void amf_depth_bomb_in_connect(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  // "connect", 1.0, then 10000 nested objects {a: {a: {a: ...  (40 KB, under 64 KiB).
  Bytes payload = amf_connect_prefix();
  for (int i = 0; i < 10000; ++i) {
    put(payload, {0x03, 0x00, 0x01, 'a'});
  }
  payload.push_back(0x05);
  p.set_chunk_size(65536);
  p.write(command_with_payload(std::move(payload)));
  expect_dropped_with_warning(f, p, "nesting deeper than 32");
}

void connect_with_10mb_string(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  // A connect whose app is a 10 MB long string, really sent: its message is over the size
  // limit, so the server must hang up at the header instead of buffering it.
  const uint32_t n = 10'000'000;
  Bytes out;
  rtmp::ChunkWriter w;
  w.write(command_with_payload(connect_with_long_app(n, n)), out);
  size_t sent = 0;
  // The server hangs up long before 10 MB; stop writing when it does.
  while (sent < out.size()) {
    size_t chunk = std::min<size_t>(65536, out.size() - sent);
    if (!p.send(out.data() + sent, chunk, 2000)) break;
    sent += chunk;
  }
  EXPECT_LT(sent, out.size()) << "the server swallowed a 10 MB connect";
  expect_dropped_with_warning(f, p, "limit exceeded");
}

void connect_declaring_10mb_string_in_a_small_message(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  // The string claims 10 MB, the message holds 2 bytes of it: refused before any allocation.
  p.write(command_with_payload(connect_with_long_app(10'000'000, 2)));
  expect_dropped_with_warning(f, p, "AMF0");
}

void unknown_command(Fault& f) {
  // Real encoders send oddities (ertmp-wire.md B.4 #6): answered with _result, never a drop.
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.connect_app());
  p.command("fooBarBaz", 7, rtmp::amf::Value::null(), {rtmp::amf::Value("x")});
  auto r = p.await_result(7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "_result");
  auto id = p.create_stream();
  EXPECT_TRUE(id) << "the session did not go on after an unknown command";
  f.expect_no_warning(p.peer());
}

void command_name_not_a_string(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  rtmp::Message m;
  m.type = 20;
  m.csid = 3;
  m.payload = {0x00, 0x40, 0x45, 0, 0, 0, 0, 0, 0, 0x05};  // 42.0, null: no name
  p.write(m);
  expect_dropped_with_warning(f, p, "");
}

void media_before_publish(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.connect_app());
  auto id = p.create_stream();
  ASSERT_TRUE(id);
  p.media(9, avc_sequence_header(), 0);
  p.media(9, avc_frame(0, true), 0);
  // Nothing reaches a pad; the session ignores the media.
  auto r = p.create_stream();
  EXPECT_TRUE(r) << "the session stopped answering";
  EXPECT_EQ(f.got_.count("any_video_0"), 0u);
  f.expect_warning(p.peer(), "not publishing", 2000);
}

void publish_before_connect(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.command("publish", 3, rtmp::amf::Value::null(),
            {rtmp::amf::Value("sneaky"), rtmp::amf::Value("live")}, 1, 8);
  expect_dropped_with_warning(f, p, "command 'publish' before connect");
  std::lock_guard<std::mutex> lock(f.ingest_log_.mu);
  EXPECT_FALSE(f.ingest_log_.has_locked("rtmpingestsrc-publisher-connected", "any"));
}

void publish_refused_key(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.start_publish("refused-key"), "NetStream.Publish.BadName");
  ASSERT_FALSE(p.descriptions.empty());
  EXPECT_EQ(p.descriptions.back(), "refused by the application");
  EXPECT_TRUE(p.wait_closed(3000)) << "a refused publisher stays connected";
}

void publish_unknown_application(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.connect_app("nosuchapp"));
  auto id = p.create_stream();
  ASSERT_TRUE(id);
  EXPECT_EQ(p.publish("x", *id), "NetStream.Publish.BadName");
  ASSERT_FALSE(p.descriptions.empty());
  EXPECT_EQ(p.descriptions.back(), "no stream 'nosuchapp/x' here");
  EXPECT_TRUE(p.wait_closed(3000));
}

void second_publish_same_key(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.start_publish("good"), "NetStream.Publish.BadName");
  ASSERT_FALSE(p.descriptions.empty());
  EXPECT_NE(p.descriptions.back().find("already being published"), std::string::npos);
  EXPECT_TRUE(p.wait_closed(3000));
}

// A broken-but-not-hostile publisher on key `key` of the "any" element: a sequence header,
// frames, a bad tag in the middle, more frames. Its own good frames must all arrive.
void broken_tag_mid_stream(Fault& f, const std::string& key, const Bytes& bad,
                           const std::string& text) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.start_publish(key), "NetStream.Publish.Start");
  std::vector<std::string> want;
  p.media(9, avc_sequence_header(), 0);
  for (int i = 0; i < 10; ++i) {
    if (i == 5) p.media(9, bad, static_cast<uint64_t>(i) * 33);
    p.media(9, avc_frame(i, i % 5 == 0), static_cast<uint64_t>(i) * 33);
    want.push_back(md5_of(avc_nalus(i, i % 5 == 0)));
  }
  f.expect_warning(p.peer(), text);
  EXPECT_TRUE(wait_media([&] { return f.got_.count("any_video_0") >= want.size(); }, 4000));
  std::lock_guard<std::mutex> lock(f.got_.mu);
  EXPECT_EQ(f.got_.md5s["any_video_0"], want) << "frames after the bad tag were lost";
}

void unknown_fourcc(Fault& f) {
  Bytes bad = {0x80 | 0x10 | 0x01, 'x', 'y', 'z', 'w', 0, 0, 0, 1, 2, 3};  // CodedFrames
  broken_tag_mid_stream(f, "fourcc", bad, "skipped a media message");
}

void reserved_packet_type(Fault& f) {
  Bytes bad = {0x80 | 0x10 | 0x0E, 'a', 'v', 'c', '1', 0, 0, 0, 1, 2, 3};  // packet type 14
  broken_tag_mid_stream(f, "reserved", bad, "skipped a media message");
}

void truncated_avc_sequence_header(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.start_publish("truncated"), "NetStream.Publish.Start");
  p.media(9, avc_sequence_header({0x01, 0x42, 0xC0}), 0);  // 3 bytes of a record
  p.media(9, avc_frame(0, true), 0);                       // no usable caps yet: not delivered
  f.expect_warning(p.peer(), "unusable sequence header");
  // A corrected sequence header: the stream recovers.
  p.media(9, avc_sequence_header(), 33);
  std::vector<std::string> want;
  for (int i = 1; i < 6; ++i) {
    p.media(9, avc_frame(i, i == 1), static_cast<uint64_t>(i) * 33);
    want.push_back(md5_of(avc_nalus(i, i == 1)));
  }
  EXPECT_TRUE(wait_media([&] { return f.got_.count("any_video_0") >= want.size(); }, 4000));
  std::lock_guard<std::mutex> lock(f.got_.mu);
  EXPECT_EQ(f.got_.md5s["any_video_0"], want);
}

void timestamps_across_the_32bit_wrap(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.start_publish("wrap"), "NetStream.Publish.Start");
  const uint64_t start = 0xFFFFFFFFull - 5000;
  const int n = 200;  // 6.6 s of 33 ms frames: crosses 2^32 at frame 152
  p.media(9, avc_sequence_header(), start);
  for (int i = 0; i < n; ++i) {
    p.media(9, avc_frame(i, i % 30 == 0), start + static_cast<uint64_t>(i) * 33);
  }
  ASSERT_TRUE(wait_media([&] { return f.got_.count("any_video_0") >= size_t{n}; }, 5000));
  std::lock_guard<std::mutex> lock(f.got_.mu);
  const auto& dts = f.got_.dts["any_video_0"];
  ASSERT_EQ(dts.size(), size_t{n});
  for (size_t i = 1; i < dts.size(); ++i) {
    ASSERT_EQ(dts[i] - dts[i - 1], 33 * GST_MSECOND) << "DTS jump at frame " << i;
  }
  f.expect_no_warning(p.peer());
}

// The inode of the socket behind each socket fd of this process ("socket:[12345]" -> "12345").
std::vector<std::string> socket_fd_inodes() {
  std::vector<std::string> inodes;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = d ? readdir(d) : nullptr) {
    char target[256] = {};
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    std::string t(target, n > 0 ? static_cast<size_t>(n) : 0);
    if (t.rfind("socket:[", 0) == 0) inodes.push_back(t.substr(8, t.size() - 9));
  }
  if (d) closedir(d);
  return inodes;
}

// Fds of this process holding the server side of a loopback TCP connection from one of
// `peer_ports` to `server_port` (from /proc/net/tcp: a socket the server has not closed is
// still listed, in CLOSE_WAIT once its peer left). Immune to other fds opening or closing
// meanwhile (the concurrent good publisher's pipeline).
int held_server_sockets(int server_port, const std::set<int>& peer_ports) {
  std::set<std::string> inodes;
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    std::istringstream ls(line);
    std::vector<std::string> v;
    for (std::string x; ls >> x;) v.push_back(x);
    if (v.size() < 10) continue;
    auto port_of = [](const std::string& addr) {
      return static_cast<int>(std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16));
    };
    if (port_of(v[1]) == server_port && peer_ports.count(port_of(v[2]))) inodes.insert(v[9]);
  }
  int held = 0;
  for (const auto& inode : socket_fd_inodes()) held += inodes.count(inode) ? 1 : 0;
  return held;
}

void flood_of_100_connections(Fault& f) {
  std::set<int> flood_ports;
  {
    // 100 non-blocking connects issued at once, then all completed (bounded).
    std::vector<int> fds;
    for (int i = 0; i < 100; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(f.port_));
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fds.push_back(fd);
    }
    auto t0 = Clock::now();
    size_t connected = 0;
    std::vector<bool> done(fds.size(), false);
    while (connected < fds.size() && ms_since(t0) < 10'000) {
      std::vector<pollfd> pfds;
      for (size_t i = 0; i < fds.size(); ++i)
        if (!done[i]) pfds.push_back({fds[i], POLLOUT, 0});
      if (poll(pfds.data(), pfds.size(), 200) <= 0) continue;
      for (auto& pfd : pfds) {
        if (!(pfd.revents & (POLLOUT | POLLERR | POLLHUP))) continue;
        size_t i = static_cast<size_t>(std::find(fds.begin(), fds.end(), pfd.fd) - fds.begin());
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        done[i] = true;
        if (err == 0) ++connected;
      }
    }
    EXPECT_EQ(connected, 100u);
    // Every one is served: C0C1 on all of them, S0S1S2 back on all of them (bounded).
    rtmp::ClientHandshake hs;
    rtmp::Bytes c0c1 = hs.pending_output();
    for (int fd : fds) {
      EXPECT_EQ(::send(fd, c0c1.data(), c0c1.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(c0c1.size()));
    }
    std::vector<size_t> got(fds.size(), 0);
    const size_t want = 1 + 2 * rtmp::kHandshakeSize;
    size_t answered = 0;
    t0 = Clock::now();
    while (answered < fds.size() && ms_since(t0) < 5000) {
      std::vector<pollfd> pfds;
      for (size_t i = 0; i < fds.size(); ++i)
        if (got[i] < want) pfds.push_back({fds[i], POLLIN, 0});
      if (poll(pfds.data(), pfds.size(), 200) <= 0) continue;
      for (auto& pfd : pfds) {
        if (!(pfd.revents & (POLLIN | POLLERR | POLLHUP))) continue;
        size_t i = static_cast<size_t>(std::find(fds.begin(), fds.end(), pfd.fd) - fds.begin());
        uint8_t buf[4096];
        ssize_t n = ::recv(pfd.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          got[i] = want;  // closed: counted as not answered below
          continue;
        }
        got[i] += static_cast<size_t>(n);
        if (got[i] >= want) ++answered;
      }
    }
    // All 100, exactly: every connect completed (above), so each is in the accept queue (the
    // default listen-backlog is 1024, capped by net.core.somaxconn, 4096 by default and never
    // below 128); nothing on the server may refuse one (max-connections 256 > 101 with the
    // good publisher), and each accepted connection answers its C0C1 at once, well inside
    // the 1 s handshake-timeout counted from the accept. A connection closed before S0S1S2 or
    // still waiting after 5 s is a server that stalls under a burst (a small backlog that
    // leaves SYNs to retransmits after 1 s, 3 s, 7 s; an accept loop that blocks).
    EXPECT_EQ(answered, 100u) << "simultaneous connections left unanswered within 5 s";
    for (int fd : fds) {
      sockaddr_in local{};
      socklen_t len = sizeof local;
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
      flood_ports.insert(ntohs(local.sin_port));
    }
    // The server holds one socket per flood connection now (their 1 s handshake-timeout has
    // not passed), so the count after they leave is meaningful.
    EXPECT_EQ(held_server_sockets(f.port_, flood_ports), 100);
    // The accept loop kept up: a new connection is served while the flood is open.
    RawPeer probe(f.port_);
    EXPECT_TRUE(probe.handshake()) << "the flood starved a new connection";
    for (int fd : fds) ::close(fd);  // all dropped at once
  }
  // The server lets go of every socket of the flood when its peer leaves, without waiting
  // for another connection to be accepted. /proc has no change notification: poll it, bounded.
  auto t0 = Clock::now();
  while (held_server_sockets(f.port_, flood_ports) > 0 && ms_since(t0) < 2000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(held_server_sockets(f.port_, flood_ports), 0)
      << "the server still holds sockets of the flood 2 s after it left";
}

// Socket fds of this process whose socket is in no kernel table any more: TCP connections
// that ended but whose fd is still held (a finished connection not let go). Counting all fds
// instead would also count the concurrent good publisher's connection.
int dead_socket_fds() {
  std::set<std::string> live;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/unix", "/proc/net/udp",
                            "/proc/net/udp6", "/proc/net/netlink", "/proc/net/raw"}) {
    std::ifstream f(table);
    std::string line;
    std::getline(f, line);  // header: find the inode column by name
    std::istringstream hs(line);
    std::vector<std::string> cols;
    for (std::string c; hs >> c;) cols.push_back(c);
    size_t col = 0;
    while (col < cols.size() && cols[col] != "inode" && cols[col] != "Inode") ++col;
    // tcp/udp headers write "tx_queue rx_queue" and "tr tm->when" as one column each: the
    // data rows have two more fields before the inode there.
    bool inet = cols.size() > 1 && cols[1] == "local_address";
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::vector<std::string> v;
      for (std::string x; ls >> x;) v.push_back(x);
      size_t i = inet ? col + 2 : col;
      if (i < v.size()) live.insert(v[i]);
    }
  }
  int dead = 0;
  for (const auto& inode : socket_fd_inodes()) dead += live.count(inode) ? 0 : 1;
  return dead;
}

void finished_connections_release_their_sockets(Fault& f) {
  int dead_before = dead_socket_fds();
  {
    std::vector<std::unique_ptr<RawPeer>> peers;
    for (int i = 0; i < 5; ++i) {
      peers.push_back(std::make_unique<RawPeer>(f.port_));
      ASSERT_TRUE(peers.back()->handshake());  // accepted and served for sure
    }
  }  // closed by us: the server's threads end at once and must close their sockets
  auto t0 = Clock::now();
  // /proc has no change notification: poll it, bounded.
  while (dead_socket_fds() > dead_before && ms_since(t0) < 2000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LE(dead_socket_fds(), dead_before)
      << "finished connections' sockets are still held 2 s after their peers left";
}

void sigkilled_ffmpeg(Fault& f);  // below, needs a source file

void half_message_then_stall(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.start_publish("stall"), "NetStream.Publish.Start");
  p.media(9, avc_sequence_header(), 0);
  p.media(9, avc_frame(0, true), 0);
  // Half of a 10000-byte video message, then nothing.
  Bytes half = {0x06, 0, 0, 33, 0x00, 0x27, 0x10, 9, 1, 0, 0, 0};
  half.insert(half.end(), 64, 0x27);
  p.send(half);
  auto t0 = Clock::now();
  expect_dropped_with_warning(f, p, "nothing received for 2000 ms", 5000);
  EXPECT_GE(ms_since(t0), 1500);
  EXPECT_TRUE(f.ingest_log_.wait(
      [&] {
        for (const auto& e : f.ingest_log_.entries)
          if (e.name == "rtmpingestsrc-publisher-disconnected" && e.src == "any" && !e.clean)
            return true;
        return false;
      },
      2000));
  std::lock_guard<std::mutex> lock(f.got_.mu);
  EXPECT_EQ(f.got_.md5s["any_video_0"], std::vector<std::string>{md5_of(avc_nalus(0, true))})
      << "what arrived before the stall must be delivered";
}

void peer_that_never_reads(Fault& f) {
  RawPeer deaf(f.port_, 2048);
  ASSERT_TRUE(deaf.ok());
  ASSERT_EQ(deaf.start_publish("deaf"), "NetStream.Publish.Start");
  // Ping requests (each answered by a Ping Response) in big batches, never reading the answers:
  // the server's send path fills up. Stop when our own writes have stalled for 500 ms.
  Bytes batch;
  {
    rtmp::ChunkWriter w;
    for (int i = 0; i < 2000; ++i)
      w.write(rtmp::make_ping_request(static_cast<uint32_t>(i)), batch);
  }
  size_t total = 0;
  auto t0 = Clock::now();
  while (ms_since(t0) < 8000 && deaf.send(batch.data(), batch.size(), 500)) total += batch.size();
  EXPECT_LT(ms_since(t0), 8000) << "the server kept reading although it could not answer";
  // Other connections are not blocked by the stuck one.
  RawPeer other(f.port_);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.start_publish("meanwhile"), "NetStream.Publish.BadName")
      << "a new connection was not served";  // "any" is bound to the deaf publisher
  // The stuck peer should be dropped once nothing moved for idle-timeout (2 s).
  f.expect_warning(deaf.peer(), "the peer stopped reading", 5000);
}

void max_connections_at_n_and_n_plus_1(Fault& f) {
  // max-connections=3: the good publisher plus two idle peers fill it (N); the next (N+1) is
  // closed at once without a byte; when one leaves, a new one is served again.
  auto a = std::make_unique<RawPeer>(f.port_);
  RawPeer b(f.port_);
  ASSERT_TRUE(a->handshake());
  ASSERT_TRUE(b.handshake());
  {
    RawPeer extra(f.port_);
    ASSERT_TRUE(extra.ok());  // the kernel accepts; the server must hang up
    size_t got = 0;
    auto t0 = Clock::now();
    EXPECT_TRUE(extra.wait_closed(1500, &got)) << "connection N+1 was kept";
    EXPECT_EQ(got, 0u) << "connection N+1 was answered";
    EXPECT_LT(ms_since(t0), 1500);
  }
  a.reset();  // one leaves: capacity is back
  bool served = false;
  auto t0 = Clock::now();
  while (!served && ms_since(t0) < 3000) {
    RawPeer again(f.port_);
    served = again.handshake(500);
  }
  EXPECT_TRUE(served) << "a slot freed by a departed peer was not reused";
  f.expect_warning("", "connection limit", 1000);
}

void many_chunk_streams(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  p.write(rtmp::make_set_chunk_size(1));  // every chunk carries one byte
  Bytes b;
  for (uint32_t csid = 3; csid < 3 + 65; ++csid) {
    // Type 0 on a 3-byte basic header csid: a 100-byte message, 1 byte of it.
    uint32_t id = csid + 64;
    b.insert(b.end(),
             {0x01, static_cast<uint8_t>((id - 64) & 0xFF), static_cast<uint8_t>((id - 64) >> 8), 0,
              0, 0, 0, 0, 100, 9, 1, 0, 0, 0, 0x17});
  }
  p.send(b);
  expect_dropped_with_warning(f, p, "more than 64 chunk streams");
}

// 61 chunk streams (one-byte csids 3..63) each declare a message of `size` (the size limit)
// and send 1 byte of it: ~1 KB of traffic. The buffered-bytes bound must cap what the server
// sets aside for them (`budget_text` names it); reserving every declared size would take 61 x
// `size` of address space per connection.
void declare_max_size_messages(Fault& f, RawPeer& p, uint32_t size,
                               const std::string& budget_text) {
  p.set_chunk_size(1);
  Bytes b;
  auto u8 = [](uint32_t v) { return static_cast<uint8_t>(v); };
  for (uint8_t csid = 3; csid < 64; ++csid) {
    put(b, {csid, 0, 0, 0, u8(size >> 16), u8(size >> 8), u8(size), 9, 1, 0, 0, 0, 0x17});
  }
  long vm0 = status_kb("VmSize");
  p.send(b);
  // A ping after them: its answer means every declaration before it was processed.
  p.write(rtmp::make_ping_request(7));
  bool answered = p.await_message(4, 3000);
  long grown_mb = (status_kb("VmSize") - vm0) / 1024;
  EXPECT_LT(grown_mb, 100) << "the server reserved " << grown_mb
                           << " MiB for messages a peer only declared";
  if (answered) {
    ADD_FAILURE() << "61 declared messages of " << size << " bytes were accepted";
  } else {
    f.expect_warning(p.peer(), budget_text);
  }
}

void chunk_streams_declaring_max_size_messages(Fault& f) {
  // Before any publish: 64 KiB messages against a 128 KiB budget (the 3rd is refused).
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  declare_max_size_messages(f, p, 64u * 1024, "partially received messages exceed 131072 bytes");
}

void chunk_streams_declaring_max_size_messages_after_publish(Fault& f) {
  // A publisher: 8 MiB messages against Limits::max_buffered_bytes, 32 MiB (the 5th is refused).
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.start_publish("declarer"), "NetStream.Publish.Start");
  declare_max_size_messages(f, p, 8u * 1024 * 1024,
                            "partially received messages exceed 33554432 bytes");
}

void bytes_before_connect_cap(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  Bytes b;
  rtmp::ChunkWriter w;
  for (int i = 0; i < 20000; ++i) w.write(rtmp::make_window_ack_size(5'000'000), b);  // > 64 KiB
  p.send(b, 2000);
  expect_dropped_with_warning(f, p, "bytes before connect");
}

void create_stream_flood(Fault& f) {
  RawPeer p(f.port_);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.handshake());
  ASSERT_TRUE(p.connect_app());
  for (int i = 0; i < 20; ++i) p.command("createStream", 10 + i, rtmp::amf::Value::null());
  expect_dropped_with_warning(f, p, "too many createStream calls");
}

void downstream_blocks_10s(Fault& f) {
  // The probe installed by before_good blocks the good video pad's 5th buffer for 10 s.
  long rss0 = rss_kb();
  long rss_max = rss0;
  {
    std::unique_lock<std::mutex> lock(f.block_mu_);
    ASSERT_TRUE(f.block_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return f.blocked_; }));
  }
  // While the good connection thread is stuck downstream, another connection is served.
  {
    RawPeer other(f.port_);
    ASSERT_TRUE(other.ok());
    auto t0 = Clock::now();
    EXPECT_EQ(other.start_publish("meanwhile"), "NetStream.Publish.Start");
    EXPECT_LT(ms_since(t0), 2000);
  }
  // Sample memory until the block ends (bounded by the block itself + margin).
  auto t0 = Clock::now();
  while (ms_since(t0) < 12'000) {
    {
      std::unique_lock<std::mutex> lock(f.block_mu_);
      if (f.block_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !f.blocked_; }))
        break;
    }
    rss_max = std::max(rss_max, rss_kb());
  }
  EXPECT_LT(rss_max - rss0, 50 * 1024) << "memory grew while downstream was blocked";
}

void no_block(Fault& f) {
  f.block_ms_ = 10'000;
}

const std::string& flv_source() {
  static std::string path = [] {
    auto dir = ertmp_test::make_temp_dir("fault");
    std::string f = (dir / "victim.flv").string();
    std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=30 "
        "-f lavfi -i sine=sample_rate=44100 -t 10 -c:v libx264 -preset ultrafast -g 30 "
        "-c:a aac '" +
        f + "'";
    return std::system(cmd.c_str()) == 0 ? f : std::string();
  }();
  return path;
}

void sigkilled_ffmpeg(Fault& f) {
  // A skip here still lets the good publisher's checks (b)-(d) run after it.
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ASSERT_FALSE(flv_source().empty()) << "ffmpeg could not make the source file";
  ertmp_test::Child victim("exec ffmpeg -hide_banner -loglevel error -re -i '" + flv_source() +
                           "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(f.port_) +
                           "/live/victim");
  ASSERT_TRUE(f.ingest_log_.wait(
      [&] { return f.ingest_log_.has_locked("rtmpingestsrc-publisher-connected", "any"); },
      10'000));
  ASSERT_TRUE(wait_media([&] { return f.got_.count("any_video_0") >= 10; }, 10'000));
  victim.signal(SIGKILL);  // mid-stream, most likely mid-message
  EXPECT_EQ(victim.wait(5000), 128 + SIGKILL);
  EXPECT_TRUE(f.ingest_log_.wait(
      [&] {
        for (const auto& e : f.ingest_log_.entries)
          if (e.name == "rtmpingestsrc-publisher-disconnected" && e.src == "any" && !e.clean &&
              !e.reason.empty())
            return true;
        return false;
      },
      5000))
      << f.ingest_log_.dump();
}

std::vector<FaultCase> catalogue() {
  return {
      {"GarbageInsteadOfHandshake", "", garbage_instead_of_handshake},
      {"RtmpeC0IsRefused", "", rtmpe_c0},
      {"TruncatedC1ThenClose", "", truncated_c1_then_close},
      {"SlowLorisBeforeC0", "", slow_loris_before_c0},
      {"SlowLorisAfterC0C1", "", slow_loris_after_c0c1},
      {"SlowLorisAfterC2BeforeConnect", "", slow_loris_after_c2},
      {"Type3ChunkOnANeverStartedChunkStream", "", type3_chunk_on_unknown_csid},
      {"Type2ChunkOnANeverStartedChunkStream", "", type2_chunk_on_unknown_csid},
      {"MessageOverMaxSizeBeforeConnect", "", message_over_max_before_connect},
      {"MessageOverMaxSizeAfterConnect", "", message_over_max_after_connect},
      {"MessageOverMaxSizeAfterPublish", "", message_over_max_after_publish},
      {"SetChunkSizeZero", "", set_chunk_size_zero},
      {"SetChunkSize2Pow31", "", set_chunk_size_2_pow_31},
      {"SetChunkSizeAtMaxAndMaxPlusOne", "", set_chunk_size_max_and_max_plus_one},
      {"AbortOnAnUnknownChunkStream", "", abort_on_unknown_csid},
      {"ExtendedTimestampGarbage", "", extended_timestamp_garbage},
      {"AmfDepthBombInConnect", "", amf_depth_bomb_in_connect},
      {"ConnectWithA10MBString", "", connect_with_10mb_string},
      {"ConnectDeclaringA10MBStringInASmallMessage", "",
       connect_declaring_10mb_string_in_a_small_message},
      {"CommandNameNotAString", "", command_name_not_a_string},
      {"UnknownCommand", "", unknown_command},
      {"MediaBeforePublish", "", media_before_publish},
      {"PublishBeforeConnect", "", publish_before_connect},
      {"PublishForARefusedKey", "", publish_refused_key},
      {"PublishToAnUnknownApplication", "", publish_unknown_application},
      {"SecondPublishOnALiveKey", "", second_publish_same_key},
      {"VideoTagWithAnUnknownFourCC", "", unknown_fourcc},
      {"VideoTagWithAReservedPacketType", "", reserved_packet_type},
      {"TruncatedAvcSequenceHeader", "", truncated_avc_sequence_header},
      {"TimestampsAcrossThe32BitWrap", "", timestamps_across_the_32bit_wrap},
      {"FloodOf100Connections", "", flood_of_100_connections},
      {"FinishedConnectionsReleaseTheirSockets", "", finished_connections_release_their_sockets},
      {"SigkilledFfmpegPublisher", "", sigkilled_ffmpeg},
      {"HalfAMessageThenStall", "", half_message_then_stall},
      {"PeerThatNeverReads", "", peer_that_never_reads},
      {"MaxConnectionsAtNAndNPlus1", "max-connections=3", max_connections_at_n_and_n_plus_1},
      {"TooManyChunkStreams", "", many_chunk_streams},
      {"ChunkStreamsDeclaringMaxSizeMessages", "", chunk_streams_declaring_max_size_messages},
      {"ChunkStreamsDeclaringMaxSizeMessagesAfterPublish", "",
       chunk_streams_declaring_max_size_messages_after_publish},
      {"BytesBeforeConnectCap", "", bytes_before_connect_cap},
      {"CreateStreamFlood", "", create_stream_flood},
      {"DownstreamBlocks10s", "", downstream_blocks_10s, "timeout=20", no_block},
  };
}

INSTANTIATE_TEST_SUITE_P(Catalogue, Fault, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<FaultCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

// --- broken servers under rtmppushsink -------------------------------------------------------

// A TCP server on 127.0.0.1 that accepts, reads everything, and answers the first bytes it
// gets with `reply` (empty: never a byte back). One thread, bounded by stop().
class MuteServer {
 public:
  // `trickle_ms` > 0: the reply goes out one byte every trickle_ms (a slow-loris server).
  explicit MuteServer(std::string reply = "", int trickle_ms = 0)
      : reply_(std::move(reply)), trickle_ms_(trickle_ms) {
    listen_fd_ = ertmp_test::listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~MuteServer() {
    stop_ = true;
    thread_.join();
    for (int fd : clients_) ::close(fd);
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void run() {
    while (!stop_) {
      std::vector<pollfd> pfds = {{listen_fd_, POLLIN, 0}};
      for (int fd : clients_) pfds.push_back({fd, POLLIN, 0});
      if (poll(pfds.data(), pfds.size(), 50) <= 0) continue;
      if (pfds[0].revents & POLLIN) {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          clients_.push_back(c);
          ++accepted_;
        }
      }
      for (size_t i = 1; i < pfds.size(); ++i) {
        if (!(pfds[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[4096];
        ssize_t n = ::recv(pfds[i].fd, buf, sizeof buf, 0);
        if (n > 0 && !reply_.empty() && answered_.insert(pfds[i].fd).second) {
          if (trickle_ms_ > 0) {
            trickled_[pfds[i].fd] = 0;
          } else {
            (void)!::send(pfds[i].fd, reply_.data(), reply_.size(), MSG_NOSIGNAL);
          }
        }
      }
      if (trickle_ms_ > 0 && Clock::now() >= next_trickle_) {
        next_trickle_ = Clock::now() + std::chrono::milliseconds(trickle_ms_);
        for (auto& [fd, sent] : trickled_) {
          if (sent < reply_.size()) (void)!::send(fd, reply_.data() + sent++, 1, MSG_NOSIGNAL);
        }
      }
    }
  }
  std::string reply_;
  int trickle_ms_ = 0;
  std::map<int, size_t> trickled_;  // client -> reply bytes sent so far
  Clock::time_point next_trickle_ = Clock::now();
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> clients_;
  std::set<int> answered_;
};

class PushFault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void SetUp() override {
    ERTMP_REQUIRE(Fault::have("x264enc"), "x264enc (Debian package gstreamer1.0-plugins-ugly)");
    Fault::have_encoders_ = Fault::have("x264enc") && Fault::have("avenc_aac");
    Fault::warm_up();
    fds0_ = count_fds();
    threads0_ = count_threads();
  }
  // (d) for the sink: once it and the servers are gone, nothing of theirs is left.
  void TearDown() override {
    stop_push();
    stop_ingest();
    if (fds0_ == 0) return;  // skipped
    auto t0 = Clock::now();
    // /proc has no change notification: poll it, bounded.
    while ((count_threads() > threads0_ + 2 || count_fds() > fds0_) && ms_since(t0) < 3000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_LE(count_threads(), threads0_ + 2) << "threads leaked";
    EXPECT_LE(count_fds(), fds0_) << "fds leaked:\n" << fd_list();
  }
  void stop_push() {
    if (!push_) return;
    gst_element_set_state(push_, GST_STATE_NULL);
    push_log_.detach();
    gst_object_unref(push_);
    push_ = nullptr;
  }
  void stop_ingest() {
    if (!ingest_) return;
    gst_element_set_state(ingest_, GST_STATE_NULL);
    ingest_log_.detach();
    gst_object_unref(ingest_);
    ingest_ = nullptr;
  }

  // Live H.264 into rtmppushsink `props` location=`url`; what enters its pad goes to sent_.
  void start_push(const std::string& url, const std::string& props) {
    std::string desc =
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,"
        "framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
        "push.video_0 rtmppushsink name=push " +
        props + " location=" + url;
    GError* err = nullptr;
    push_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(push_) << (err ? err->message : "");
    push_log_.attach(push_);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(push_), "push");
    for (GList* l = GST_ELEMENT(sink)->sinkpads; l; l = l->next) {
      ertmp_test::tap_pad(GST_PAD(l->data), &sent_, GST_PAD_NAME(GST_PAD(l->data)));
      notify_media(GST_PAD(l->data));
    }
    gst_object_unref(sink);
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // rtmpingestsrc on 127.0.0.1:`port`, key k, its pads into got_.
  void start_ingest(uint16_t port) {
    std::string desc =
        "rtmpingestsrc name=src address=127.0.0.1 application=live stream-key=k "
        "port=" +
        std::to_string(port);
    GError* err = nullptr;
    GstElement* src = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(src) << (err ? err->message : "");
    ingest_ = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(ingest_), src);
    ingest_log_.attach(ingest_);
    g_signal_connect(src, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                       link_appsink(e, pad, static_cast<Collected*>(d), "");
                     }),
                     &got_);
    ASSERT_NE(gst_element_set_state(ingest_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  bool push_has(const std::string& name) {
    for (const auto& e : push_log_.entries)
      if (e.name == name) return true;
    return false;
  }
  // The error the sink posts within `timeout_ms` ("" when none).
  std::string wait_push_error(int timeout_ms) {
    push_log_.wait([this] { return !push_log_.errors.empty(); }, timeout_ms);
    std::lock_guard<std::mutex> lock(push_log_.mu);
    return push_log_.errors.empty() ? "" : push_log_.errors[0];
  }
  void expect_fast_null() {
    auto t0 = Clock::now();
    EXPECT_EQ(gst_element_set_state(push_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    EXPECT_LT(ms_since(t0), 3000) << "the state change to NULL hung";
  }

  GstElement* push_ = nullptr;
  GstElement* ingest_ = nullptr;
  BusLog push_log_, ingest_log_;
  Collected sent_, got_;
  int fds0_ = 0, threads0_ = 0;
};

// nginx-rtmp is SIGKILLed under a publishing sink and our ingest takes over its port: the sink
// posts rtmppushsink-reconnecting, never an error, and the new server gets a contiguous run of
// what entered the sink, starting at a keyframe.
TEST_F(PushFault, ServerSigkilledAndReplacedUnderTheSinkKeepsThePipelineGoing) {
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(),
                "nginx-rtmp (Debian packages nginx-light, libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  start_push(nginx.url("k"), "reconnect-delay=100");
  ASSERT_TRUE(push_log_.wait([this] { return push_has("rtmppushsink-connected"); }, 10'000));
  ASSERT_TRUE(wait_media([this] { return sent_.count("video_0") >= 20; }, 10'000));
  std::ifstream pidfile(nginx.dir() / "nginx.pid");
  pid_t pid = 0;
  pidfile >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);  // our own child, by its id
  EXPECT_TRUE(push_log_.wait([this] { return push_has("rtmppushsink-reconnecting"); }, 10'000));
  start_ingest(nginx.port());
  EXPECT_TRUE(wait_media([this] { return got_.count("video_0") >= 30; }, 20'000))
      << "the sink did not resume on the new server";
  gst_element_send_event(push_, gst_event_new_eos());
  EXPECT_TRUE(
      push_log_.wait([this] { return push_log_.eos || !push_log_.errors.empty(); }, 20'000));
  std::scoped_lock lock(push_log_.mu, got_.mu, sent_.mu);
  EXPECT_TRUE(push_log_.errors.empty()) << push_log_.errors[0];
  const auto& got = got_.md5s["video_0"];
  const auto& sent = sent_.md5s["video_0"];
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got_.keyframes["video_0"][0]) << "the new server does not start at a keyframe";
  auto start = std::find(sent.begin(), sent.end(), got[0]);
  ASSERT_NE(start, sent.end());
  ASSERT_LE(got.size(), static_cast<size_t>(sent.end() - start));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), start)) << "frames lost or repeated";
}

// Our ingest goes to NULL under the sink and never comes back: reconnecting per attempt, then
// one RESOURCE/WRITE error naming the attempts; NULL returns at once.
TEST_F(PushFault, ServerGoneForGoodIsAnErrorOnceTheRetriesAreSpent) {
  uint16_t port = ertmp_test::free_port();
  start_ingest(port);
  start_push("rtmp://127.0.0.1:" + std::to_string(port) + "/live/k",
             "reconnect-attempts=2 reconnect-delay=100");
  ASSERT_TRUE(wait_media([this] { return got_.count("video_0") >= 10; }, 10'000));
  stop_ingest();
  std::string error = wait_push_error(15'000);
  EXPECT_NE(error.find("2 reconnect attempts failed"), std::string::npos) << error;
  {
    std::lock_guard<std::mutex> lock(push_log_.mu);
    int reconnecting = 0;
    for (const auto& e : push_log_.entries) reconnecting += e.name == "rtmppushsink-reconnecting";
    EXPECT_GE(reconnecting, 2);
  }
  expect_fast_null();
}

// A server that accepts TCP and reads C0C1 but never answers: a timeout error, then NULL
// returns within 3 s.
TEST_F(PushFault, ServerThatNeverAnswersTheHandshakeTimesOut) {
  MuteServer mute;
  auto t0 = Clock::now();
  start_push("rtmp://127.0.0.1:" + std::to_string(mute.port()) + "/live/k", "timeout=2");
  std::string error = wait_push_error(10'000);
  EXPECT_FALSE(error.empty()) << "no error from a server that never answers";
  EXPECT_LT(ms_since(t0), 6000);
  EXPECT_NE(error.find("Could not publish"), std::string::npos) << error;
  EXPECT_GE(mute.accepted(), 1);
  expect_fast_null();
}

// An rtmps server that trickles its TLS handshake (a record header declaring 16 KiB, then a
// byte every 300 ms): the handshake is bounded as a whole by `timeout`, not per read (a
// per-read bound would be restarted by every byte: a minute of "connecting"). glib-networking
// applies the socket's timeout to the whole blocking handshake; this row keeps it so.
TEST_F(PushFault, ServerTricklingItsTlsHandshakeTimesOutAsAWhole) {
  MuteServer trickle(std::string("\x16\x03\x03\x40\x00", 5) + std::string(200, '\0'), 300);
  auto t0 = Clock::now();
  start_push("rtmps://127.0.0.1:" + std::to_string(trickle.port()) + "/live/k",
             "timeout=2 tls-validation-flags=0");
  std::string error = wait_push_error(20'000);
  EXPECT_FALSE(error.empty()) << "no error from a server that trickles its TLS handshake";
  EXPECT_LT(ms_since(t0), 6000) << error;
  EXPECT_GE(trickle.accepted(), 1);
  expect_fast_null();
}

// A server that answers C0C1 with an HTTP error page: refused at once (not after the timeout)
// with a clear error.
TEST_F(PushFault, ServerAnsweringHttpIsRefusedAtOnce) {
  MuteServer http("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  auto t0 = Clock::now();
  start_push("rtmp://127.0.0.1:" + std::to_string(http.port()) + "/live/k", "timeout=10");
  std::string error = wait_push_error(8000);
  EXPECT_NE(error.find("Could not publish"), std::string::npos) << error;
  EXPECT_LT(ms_since(t0), 5000) << "waited for the timeout instead of refusing the answer";
  expect_fast_null();
}

// A server that refuses the stream key: RESOURCE/NOT_AUTHORIZED naming the status code.
TEST_F(PushFault, ServerRefusingTheKeyIsAnErrorWithTheStatusCode) {
  uint16_t port = ertmp_test::free_port();
  start_ingest(port);
  start_push("rtmp://127.0.0.1:" + std::to_string(port) + "/live/wrong", "");
  std::string error = wait_push_error(10'000);
  EXPECT_NE(error.find("NetStream.Publish.BadName"), std::string::npos) << error;
  EXPECT_NE(error.find("refused"), std::string::npos) << error;
  expect_fast_null();
}

}  // namespace
