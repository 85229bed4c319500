// rtmpingestsrc's engine (issue 11): shared I/O loops, a streaming task per pad with a bounded
// queue, back-pressure on exactly the publisher whose pad is full, and the defects a review and
// a probe found, each with the test that failed before its fix.
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <sys/resource.h>

#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "gst/gstrtmpingestsrc.h"
#include "protocol/flv_tag.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::Collected;
using ertmp_test::have_program;
using ertmp_test::wait_bus;
using ertmp_test::wait_bus_full;

using Clock = std::chrono::steady_clock;
int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

// Blocks the buffers of one pad (a probe) until released; counts what passed.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  int waiting = 0;

  void close_gate() {
    std::lock_guard<std::mutex> lock(mu);
    closed = true;
  }
  void open_gate() {
    std::lock_guard<std::mutex> lock(mu);
    closed = false;
    cv.notify_all();
  }
  // Bounded: a gate forgotten by a failing test opens by itself after 30 s.
  void pass() {
    std::unique_lock<std::mutex> lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(30), [this] { return !closed; });
    --waiting;
  }
  bool wait_blocked(int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return waiting > 0; });
  }
};

void add_gate(GstPad* pad, Gate* gate) {
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo*, gpointer d) -> GstPadProbeReturn {
        static_cast<Gate*>(d)->pass();
        return GST_PAD_PROBE_OK;
      },
      gate, nullptr);
}

// Waits (bounded) for an rtmpingestsrc-peer-warning whose message contains `text`.
bool wait_warning(GstElement* pipeline, const std::string& text, int timeout_ms) {
  return ertmp_test::wait_element_message(pipeline, "rtmpingestsrc-peer-warning", "message", text,
                                          timeout_ms);
}

class Engine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  }
  void SetUp() override { dir_ = ertmp_test::make_temp_dir("engine"); }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // An H.264 + AAC FLV of `seconds` (30 fps, keyframe every 30).
  std::filesystem::path make_source(int seconds = 2, const std::string& name = "src.flv") {
    auto f = dir_ / name;
    std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=30 -f "
        "lavfi -i sine=sample_rate=48000 -t " +
        std::to_string(seconds) + " -c:v libx264 -preset ultrafast -g 30 -c:a aac '" + f.string() +
        "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return f;
  }
  std::string ffmpeg_publish(const std::filesystem::path& src, int port, const std::string& path,
                             bool realtime = false) {
    return std::string("exec ffmpeg -hide_banner -loglevel error ") + (realtime ? "-re " : "") +
           "-i '" + src.string() + "' -c copy -f flv 'rtmp://127.0.0.1:" + std::to_string(port) +
           "/" + path + "'";
  }
  GstElement* make_src(const std::string& props) {
    std::string desc = "rtmpingestsrc port=0 " + props;
    GError* err = nullptr;
    GstElement* src = gst_parse_launch(desc.c_str(), &err);
    EXPECT_TRUE(src) << (err ? err->message : "");
    g_clear_error(&err);
    if (!pipeline_) pipeline_ = gst_pipeline_new("engine");
    gst_bin_add(GST_BIN(pipeline_), src);
    return src;
  }
  static int port_of(GstElement* src) {
    int p = -1;
    g_object_get(src, "bound-port", &p, nullptr);
    return p;
  }
  static GstStructure* stats_of(GstElement* src) {
    GstStructure* s = nullptr;
    g_object_get(src, "stats", &s, nullptr);
    return s;
  }

  std::filesystem::path dir_;
  GstElement* pipeline_ = nullptr;
  Collected got_;
};

// Two sinks that preroll (fakesink sync=true, the default), linked straight to video_0 and
// audio_0 with no queue: the pipeline reaches PLAYING and both get every buffer. With one
// streaming thread for both pads this deadlocked in preroll.
TEST_F(Engine, TwoPrerollingSinksWithoutQueuesReachPlaying) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(3);
  GstElement* ingest = make_src("application=live stream-key=k");
  struct Counts {
    std::mutex mu;
    std::map<std::string, int> n;
  } counts;
  g_signal_connect(
      ingest, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
        GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(e));
        GstElement* sink = gst_element_factory_make("fakesink", nullptr);
        g_object_set(sink, "sync", TRUE, nullptr);  // prerolls, then plays in time
        gst_bin_add(GST_BIN(pipeline), sink);
        gst_element_sync_state_with_parent(sink);
        GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
        EXPECT_EQ(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK);
        std::string* name = new std::string(GST_PAD_NAME(pad));
        gst_pad_add_probe(
            sinkpad, GST_PAD_PROBE_TYPE_BUFFER,
            [](GstPad*, GstPadProbeInfo*, gpointer u) -> GstPadProbeReturn {
              auto* pair = static_cast<std::pair<Counts*, std::string>*>(u);
              std::lock_guard<std::mutex> lock(pair->first->mu);
              pair->first->n[pair->second]++;
              return GST_PAD_PROBE_OK;
            },
            new std::pair<Counts*, std::string>(static_cast<Counts*>(d), *name),
            [](gpointer u) { delete static_cast<std::pair<Counts*, std::string>*>(u); });
        delete name;
        gst_object_unref(sinkpad);
        gst_object_unref(pipeline);
      }),
      &counts);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff(ffmpeg_publish(src, port_of(ingest), "live/k", true));
  // Both sinks prerolled and the pipeline is PLAYING while the publisher is still streaming.
  auto t0 = Clock::now();
  bool both = false;
  while (!both && ms_since(t0) < 10'000) {
    {
      std::lock_guard<std::mutex> lock(counts.mu);
      both = counts.n["video_0"] > 10 && counts.n["audio_0"] > 10;
    }
    if (!both) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a count
  }
  EXPECT_TRUE(both) << "video " << counts.n["video_0"] << " audio " << counts.n["audio_0"];
  GstState state = GST_STATE_NULL;
  EXPECT_EQ(gst_element_get_state(pipeline_, &state, nullptr, 5 * GST_SECOND),
            GST_STATE_CHANGE_SUCCESS);
  EXPECT_EQ(state, GST_STATE_PLAYING);
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(counts.mu);
  EXPECT_EQ(counts.n["video_0"], 90);
}

// A branch that stops taking buffers does not stop the other one: while audio's sink is held,
// video keeps flowing (up to the pad queue's bound), and once released nothing is lost.
TEST_F(Engine, ASlowBranchDoesNotStallTheOther) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(4);
  GstElement* ingest = make_src("application=live stream-key=k");
  Gate gate;
  struct Ctx {
    Collected* got;
    Gate* gate;
  } ctx{&got_, &gate};
  g_signal_connect(ingest, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                     auto* c = static_cast<Ctx*>(d);
                     if (std::string(GST_PAD_NAME(pad)) == "audio_0") add_gate(pad, c->gate);
                     ertmp_test::link_to_appsink(e, pad, c->got, "");
                   }),
                   &ctx);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff(ffmpeg_publish(src, port_of(ingest), "live/k", true));
  // Both sinks prerolled first (a sink that never prerolls holds the whole pipeline: that is
  // GStreamer's rule); then audio's branch stops taking buffers.
  auto t_flow = Clock::now();
  while ((got_.count("video_0") < 5 || got_.count("audio_0") < 5) && ms_since(t_flow) < 10'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a count
  }
  gate.close_gate();
  ASSERT_TRUE(gate.wait_blocked(10'000)) << "no audio arrived";
  size_t audio_held = got_.count("audio_0");
  size_t video_at_block = got_.count("video_0");
  // Video goes on while audio is held: a second of frames (30) at real time.
  auto t0 = Clock::now();
  while (got_.count("video_0") < video_at_block + 30 && ms_since(t0) < 5'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a count
  }
  EXPECT_GE(got_.count("video_0"), video_at_block + 30) << "video stalled behind held audio";
  EXPECT_EQ(got_.count("audio_0"), audio_held);
  gate.open_gate();
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], ertmp_test::framemd5s(src, 0));
  EXPECT_EQ(got_.md5s["audio_0"], ertmp_test::framemd5s(src, 1));
}

// A full pad queue stops reading exactly its publisher's connection: the other publisher on the
// same port (and loop) finishes in real time meanwhile, the held one loses nothing (TCP holds
// its media), and the queue stays near its bound.
TEST_F(Engine, AFullPadQueueHoldsOnlyItsPublisher) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(3);
  uint16_t shared = ertmp_test::free_port();
  std::string common = "port=" + std::to_string(shared) +
                       " application=live max-queue-time=" + std::to_string(200 * GST_MSECOND) +
                       " ";
  GstElement* a = make_src(common + "stream-key=a");
  GstElement* b = make_src(common + "stream-key=b");
  g_object_set(a, "port", static_cast<guint>(shared), nullptr);
  g_object_set(b, "port", static_cast<guint>(shared), nullptr);
  Gate gate;
  Collected got_b;
  struct Ctx {
    Collected* got;
    Gate* gate;
  } ctx{&got_, &gate};
  g_signal_connect(a, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                     auto* c = static_cast<Ctx*>(d);
                     if (std::string(GST_PAD_NAME(pad)) == "video_0") add_gate(pad, c->gate);
                     ertmp_test::link_to_appsink(e, pad, c->got, "a_");
                   }),
                   &ctx);
  g_signal_connect(b, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                     ertmp_test::link_to_appsink(e, pad, static_cast<Collected*>(d), "b_");
                   }),
                   &got_b);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child fa(ffmpeg_publish(src, shared, "live/a", true));
  ertmp_test::Child fb(ffmpeg_publish(src, shared, "live/b", true));
  // Every sink has prerolled (the pipeline is PLAYING again) before A's video is held: a sink
  // that never prerolls would hold every branch of the pipeline, which is GStreamer's rule,
  // not the element's.
  auto t_flow = Clock::now();
  while ((got_.count("a_video_0") < 5 || got_b.count("b_video_0") < 5) &&
         ms_since(t_flow) < 10'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a count
  }
  ASSERT_GE(got_.count("a_video_0"), 5u);
  ASSERT_GE(got_b.count("b_video_0"), 5u);
  gate.close_gate();
  ASSERT_TRUE(gate.wait_blocked(10'000));
  size_t a_held = got_.count("a_video_0");
  // B runs to its end (3 s of real time) while A is held.
  EXPECT_EQ(fb.wait(30'000), 0);
  EXPECT_EQ(got_b.count("b_video_0"), 90u);
  GstStructure* sa = stats_of(a);
  gboolean paused = FALSE;
  guint64 queued = 0;
  gst_structure_get_boolean(sa, "reading-paused", &paused);
  gst_structure_get_uint64(sa, "video_0-queued-bytes", &queued);
  gst_structure_free(sa);
  EXPECT_TRUE(paused) << "A's connection is still being read with its video pad full";
  EXPECT_LT(queued, 2u * 1024 * 1024) << "the held pad's queue grew past its bound";
  EXPECT_EQ(got_.count("a_video_0"), a_held);
  gate.open_gate();
  EXPECT_EQ(fa.wait(30'000), 0);
  auto t0 = Clock::now();
  while (got_.count("a_video_0") < 90 && ms_since(t0) < 20'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a count
  }
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["a_video_0"], ertmp_test::framemd5s(src, 0));
  EXPECT_EQ(got_.md5s["a_audio_0"], ertmp_test::framemd5s(src, 1));
}

// A bus sync handler that stops the pipeline on the first peer warning returns (the warning
// was posted while a server lock was held, and stopping takes that lock: a deadlock).
TEST_F(Engine, SyncHandlerThatStopsOnAPeerWarningDoesNotDeadlock) {
  GstElement* ingest = make_src("application=live");
  struct Ctx {
    GstElement* pipeline;
    std::mutex mu;
    std::condition_variable cv;
    bool stopped = false;
  } ctx;
  ctx.pipeline = pipeline_;
  GstBus* bus = gst_element_get_bus(pipeline_);
  gst_bus_set_sync_handler(
      bus,
      [](GstBus*, GstMessage* m, gpointer d) -> GstBusSyncReply {
        auto* c = static_cast<Ctx*>(d);
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT &&
            gst_message_has_name(m, "rtmpingestsrc-peer-warning")) {
          gst_element_set_state(c->pipeline, GST_STATE_NULL);
          std::lock_guard<std::mutex> lock(c->mu);
          c->stopped = true;
          c->cv.notify_all();
        }
        return GST_BUS_PASS;
      },
      &ctx, nullptr);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  int fd = ertmp_test::connect_loopback(static_cast<uint16_t>(port_of(ingest)), 2000);
  ASSERT_GE(fd, 0);
  ASSERT_GT(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 0);  // a bad handshake: a peer warning
  {
    std::unique_lock<std::mutex> lock(ctx.mu);
    EXPECT_TRUE(ctx.cv.wait_for(lock, std::chrono::seconds(10), [&] { return ctx.stopped; }))
        << "the sync handler that stops the pipeline did not return";
  }
  close(fd);
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  gst_object_unref(bus);
}

// The stats getter iterates the tracks while a publisher adds them: hammered from another
// thread across several publishes (a data race before: insertion without the stats lock).
TEST_F(Engine, StatsCanBeReadWhileTracksAppear) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(1);
  GstElement* ingest = make_src("application=live on-disconnect=wait");
  g_signal_connect(ingest, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      GstStructure* s = stats_of(ingest);
      if (s) gst_structure_free(s);
      ++reads;
    }
  });
  for (int i = 0; i < 3; ++i) {
    ertmp_test::Child ff(ffmpeg_publish(src, port_of(ingest), "live/k" + std::to_string(i)));
    EXPECT_EQ(ff.wait(30'000), 0);
  }
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 100);
  EXPECT_EQ(got_.count("video_0"), 90u);
  GstStructure* s = stats_of(ingest);
  guint64 frames = 0;
  EXPECT_TRUE(gst_structure_get_uint64(s, "video_0-frames", &frames));
  EXPECT_EQ(frames, 90u);
  gst_structure_free(s);
}

// At the process's file-descriptor limit the listener refuses new connections (a warning, no
// abort, no spinning) and serves again once descriptors are free.
TEST_F(Engine, AtTheDescriptorLimitConnectionsAreRefusedAndServingGoesOn) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ERTMP_REQUIRE(have_program("python3"), "python3 (Debian package python3)");
  auto src = make_source(1);
  GstElement* ingest = make_src("application=live stream-key=k handshake-timeout=3");
  g_signal_connect(ingest, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  int port = port_of(ingest);
  rlimit old{};
  getrlimit(RLIMIT_NOFILE, &old);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(ertmp_test::count_fds() + 40);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  // 200 idle connections from another process (its descriptors are its own).
  ertmp_test::Child idle(
      "exec python3 -c \"import resource,socket,time\n"
      "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, "
      "resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
      "s=[]\nfor i in range(200):\n"
      "  c=socket.socket(); c.connect(('127.0.0.1'," +
      std::to_string(port) + ")); s.append(c)\ntime.sleep(2)\"");
  rusage r0{};
  getrusage(RUSAGE_SELF, &r0);
  auto t0 = Clock::now();
  bool warned = wait_warning(pipeline_, "out of file descriptors", 5'000);
  EXPECT_TRUE(warned) << "no warning at the descriptor limit";
  EXPECT_EQ(idle.wait(10'000), 0);
  rusage r1{};
  getrusage(RUSAGE_SELF, &r1);
  double cpu = static_cast<double>(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
                                   r0.ru_stime.tv_sec) +
               static_cast<double>(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec -
                                   r0.ru_stime.tv_usec) /
                   1e6;
  double wall = ms_since(t0) / 1000.0;
  EXPECT_LT(cpu, 0.5 * wall) << "the listener spun at the descriptor limit";
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  // The idle peers are gone (their process ended): a real publisher is served.
  ertmp_test::Child ff(ffmpeg_publish(src, port, "live/k"));
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(got_.count("video_0"), 30u);
}

// Publisher timestamps that jump by 2^31 - 1 ms per message (each read as a forward step) would
// overflow the nanosecond arithmetic after ~4,300 messages: the publisher is closed with a
// warning once it is 2^40 ms from its start, the DTS never wrap, the element goes on.
TEST_F(Engine, TimestampJumpsCloseThePublisherNotTheElement) {
  GstElement* ingest = make_src("application=live stream-key=k on-disconnect=wait");
  g_signal_connect(ingest, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  rtmp::ClientConfig cfg;
  cfg.url = *rtmp::parse_url("rtmp://127.0.0.1/live/k");
  ertmp_test::SocketPublisher pub(cfg);
  ASSERT_TRUE(pub.start(static_cast<uint16_t>(port_of(ingest))).ok());
  // AAC: sequence header, then raw frames.
  std::vector<uint8_t> asc = {0xAF, 0x00, 0x11, 0x90};
  ASSERT_TRUE(pub.send(8, asc, 0).ok());
  std::vector<uint8_t> frame = {0xAF, 0x01, 0x21, 0x10, 0x04};
  uint64_t ts = 0;
  int sent = 0;
  for (; sent < 1000; ++sent) {
    if (!pub.send(8, frame, ts).ok()) break;
    ts = (ts + 0x7FFFFFFF) & 0xFFFFFFFF;
  }
  bool warned = wait_warning(pipeline_, "2^40 ms", 10'000);
  EXPECT_TRUE(warned) << "the publisher was not closed for its timestamps";
  // What was received before the fault is delivered: the pad task may still be pushing it.
  auto t0 = Clock::now();
  while (got_.count("audio_0") < 513 && ms_since(t0) < 10'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a count
  }
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& dts = got_.dts["audio_0"];
  // Closed at the first message past 2^40 ms: 512 jumps of 2^31 - 1 ms, all delivered.
  EXPECT_EQ(dts.size(), 513u);
  for (size_t i = 1; i < dts.size(); ++i) {
    ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(dts[i]));
    ASSERT_GT(dts[i], dts[i - 1]) << "DTS went back (wrapped) at buffer " << i;
  }
  GstState state = GST_STATE_NULL;
  gst_element_get_state(pipeline_, &state, nullptr, GST_SECOND);
  EXPECT_EQ(state, GST_STATE_PLAYING);
}

// output-mode=flv with on-disconnect=wait: a republish continues, and flvdemux sees time go on
// (the FLV tags carried the publisher's raw timestamps, which start again at 0).
TEST_F(Engine, FlvModeRepublishKeepsTimeGoingAtFlvdemux) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(1);
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(
      "rtmpingestsrc name=src port=0 output-mode=flv on-disconnect=wait ! flvdemux name=demux",
      &err);
  ASSERT_TRUE(pipeline_) << (err ? err->message : "");
  GstElement* ingest = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  GstElement* demux = gst_bin_get_by_name(GST_BIN(pipeline_), "demux");
  g_signal_connect(demux, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
  gst_object_unref(demux);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  for (int i = 0; i < 2; ++i) {
    ertmp_test::Child ff(ffmpeg_publish(src, port_of(ingest), "live/k"));
    EXPECT_EQ(ff.wait(30'000), 0);
    auto t0 = Clock::now();
    while (got_.count("video") < 30u * (i + 1) && ms_since(t0) < 10'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a count
    }
  }
  gst_object_unref(ingest);
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& pts = got_.dts["video"];
  ASSERT_EQ(pts.size(), 60u);
  // The second publish starts after the first one ended.
  EXPECT_GT(pts[30], pts[29]);
  for (size_t i = 1; i < pts.size(); ++i) EXPECT_GE(pts[i], pts[i - 1]) << i;
}

// `location` is checked at READY->PAUSED: what a listener cannot honour fails the state change
// with RESOURCE/SETTINGS (it was ignored, or listened in plain text, or made an unmatchable
// key); host names resolve.
TEST_F(Engine, LocationIsCheckedAtStartAndHostNamesResolve) {
  struct Case {
    const char* location;
    const char* error;  // nullptr: starts
  } cases[] = {
      {"rtmp://[bad/live/k", "does not parse"},
      {"http://127.0.0.1/live/k", "does not parse"},
      {"rtmps://127.0.0.1:0/live/k", "no TLS certificate"},
      {"rtmp://127.0.0.1:0/live/secret?token=abc", "has a query"},
      {"rtmp://user:pw@127.0.0.1:0/live/k", "has credentials"},
      {"rtmp://localhost:0/live/k", nullptr},
      {"rtmp://127.0.0.1:0/live/k", nullptr},
  };
  for (const Case& c : cases) {
    GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
    g_object_set(src, "location", c.location, nullptr);
    GstElement* pipeline = gst_pipeline_new(nullptr);
    gst_bin_add(GST_BIN(pipeline), src);
    GstStateChangeReturn ret = gst_element_set_state(pipeline, GST_STATE_PAUSED);
    if (c.error) {
      EXPECT_EQ(ret, GST_STATE_CHANGE_FAILURE) << c.location;
      GstBus* bus = gst_element_get_bus(pipeline);
      GstMessage* m = gst_bus_timed_pop_filtered(bus, GST_SECOND, GST_MESSAGE_ERROR);
      EXPECT_TRUE(m) << c.location;
      if (m) {
        GError* e = nullptr;
        gst_message_parse_error(m, &e, nullptr);
        EXPECT_TRUE(g_error_matches(e, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS))
            << c.location << ": " << e->message;
        EXPECT_NE(std::string(e->message).find(c.error), std::string::npos)
            << c.location << ": " << e->message;
        g_error_free(e);
        gst_message_unref(m);
      }
      gst_object_unref(bus);
    } else {
      EXPECT_NE(ret, GST_STATE_CHANGE_FAILURE) << c.location;
      EXPECT_GT(port_of(src), 0) << c.location;
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
  if (std::ifstream("/proc/net/if_inet6").good()) {
    GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
    g_object_set(src, "location", "rtmp://[::]:0/live/k", nullptr);
    GstElement* pipeline = gst_pipeline_new(nullptr);
    gst_bin_add(GST_BIN(pipeline), src);
    EXPECT_NE(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
}

// A second element on a listener with other listener settings is an error naming the setting
// (it silently lost its max-connections, timeouts and TLS settings to the first one).
TEST_F(Engine, ConflictingListenerSettingsAreAnError) {
  uint16_t shared = ertmp_test::free_port();
  std::string port = "port=" + std::to_string(shared) + " ";
  make_src(port + "stream-key=a max-connections=10");
  make_src(port + "stream-key=b max-connections=20");
  EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, GST_SECOND, GST_MESSAGE_ERROR);
  ASSERT_TRUE(m);
  GError* e = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(m, &e, &dbg);
  EXPECT_TRUE(g_error_matches(e, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
  EXPECT_NE(std::string(dbg ? dbg : "").find("max-connections"), std::string::npos) << dbg;
  g_error_free(e);
  g_free(dbg);
  gst_message_unref(m);
  gst_object_unref(bus);
}

// A player pointed at the ingest gets a prompt, clear refusal (it hung until idle-timeout).
TEST_F(Engine, APlayerAtTheIngestIsRefusedPromptly) {
  ERTMP_REQUIRE(have_program("ffprobe"), "ffprobe (Debian package ffmpeg)");
  GstElement* ingest = make_src("application=live stream-key=k idle-timeout=30");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto t0 = Clock::now();
  std::string out = ertmp_test::run_capture(
      "timeout 20 ffprobe -hide_banner 'rtmp://127.0.0.1:" + std::to_string(port_of(ingest)) +
      "/live/k' 2>&1; echo exit=$?");
  int took = ms_since(t0);
  EXPECT_LT(took, 3'000) << out;
  EXPECT_EQ(out.find("exit=0"), std::string::npos) << out;
  EXPECT_NE(out.find("accepts publishers only"), std::string::npos) << out;
}

// A hundred peers that start a TLS handshake and stall it do not delay anyone else's: a new
// handshake completes at once (on GIO's TLS, whose handshakes share GTask's thread pool, it
// waited behind them: 5 s, the client's bound, here).
TEST_F(Engine, StalledTlsHandshakesDoNotDelayANewOne) {
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  std::string cmd = "cd '" + dir_.string() +
                    "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                    "-keyout key.pem -out cert.pem >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  GstElement* ingest = make_src(
      "application=live stream-key=k tls-certificate-file=" + (dir_ / "cert.pem").string() +
      " tls-key-file=" + (dir_ / "key.pem").string());
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  uint16_t port = static_cast<uint16_t>(port_of(ingest));
  gnutls_certificate_credentials_t creds;
  gnutls_certificate_allocate_credentials(&creds);
  // A client session over a blocking socket, its handshake bounded.
  auto client = [&](int fd) {
    gnutls_session_t s;
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 5000);
    return s;
  };
  std::vector<int> stalled;
  for (int i = 0; i < 100; ++i) {
    int fd = ertmp_test::connect_loopback(port, 2000);
    ASSERT_GE(fd, 0);
    // The first bytes of a ClientHello (a record header declaring 512 bytes, 6 of them), then
    // silence: the server's handshake waits for the rest.
    const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01,
                                     0x00, 0x01, 0xfc, 0x03, 0x03};
    ASSERT_GT(write(fd, partial, sizeof partial), 0);
    stalled.push_back(fd);
  }
  int fd = ertmp_test::connect_loopback(port, 2000);
  ASSERT_GE(fd, 0);
  gnutls_session_t s = client(fd);
  auto t0 = Clock::now();
  int rc = gnutls_handshake(s);
  int took = ms_since(t0);
  EXPECT_EQ(rc, 0) << gnutls_strerror(rc);
  EXPECT_LT(took, 1'000) << "a new TLS handshake waited behind the stalled ones";
  gnutls_bye(s, GNUTLS_SHUT_WR);
  gnutls_deinit(s);
  close(fd);
  for (int f : stalled) close(f);
  gnutls_certificate_free_credentials(creds);
}

// Stopping while publishers stream is prompt, and leaves no thread or descriptor behind.
TEST_F(Engine, StoppingWhilePublishingIsPromptAndLeavesNothing) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(10);
  auto run = [&](int publishers, bool measure) {
    uint16_t shared = ertmp_test::free_port();
    std::vector<std::unique_ptr<ertmp_test::Child>> pubs;
    for (int i = 0; i < publishers; ++i) {
      GstElement* e = make_src("name=e" + std::to_string(i) + " port=" + std::to_string(shared) +
                               " application=live stream-key=k" + std::to_string(i));
      g_signal_connect(e, "pad-added", G_CALLBACK(+[](GstElement* el, GstPad* pad, gpointer d) {
                         ertmp_test::link_to_appsink(el, pad, static_cast<Collected*>(d),
                                                     std::string(GST_OBJECT_NAME(el)) + "_");
                       }),
                       &got_);
    }
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    for (int i = 0; i < publishers; ++i) {
      pubs.push_back(std::make_unique<ertmp_test::Child>(
          ffmpeg_publish(src, shared, "live/k" + std::to_string(i), true)));
    }
    auto t0 = Clock::now();
    std::string last = "e" + std::to_string(publishers - 1) + "_video_0";
    while ((got_.count("e0_video_0") < 30 || got_.count(last) < 30) && ms_since(t0) < 10'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a count
    }
    ASSERT_GE(got_.count(last), 30u);
    auto t_stop = Clock::now();
    EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    if (measure) {
      EXPECT_LT(ms_since(t_stop), 2'000) << "PLAYING->NULL with live publishers";
    }
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  };
  // A first round warms up what outlives any element by design (GLib's idle pool threads).
  run(1, false);
  int threads_before = ertmp_test::count_threads();
  int fds_before = ertmp_test::count_fds();
  run(8, true);
  // Threads that end asynchronously (the bus poster) get a bounded moment.
  auto t0 = Clock::now();
  while (ertmp_test::count_threads() > threads_before && ms_since(t0) < 3'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a count
  }
  EXPECT_LE(ertmp_test::count_threads(), threads_before);
  EXPECT_LE(ertmp_test::count_fds(), fds_before);
}

}  // namespace

namespace {

// Encoded access units of one codec from a GStreamer encoder (appsink), and its codec_data.
struct Encoded {
  std::vector<uint8_t> config;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<bool> key;
};

Encoded encode(const std::string& chain, int frames) {
  Encoded out;
  std::string desc = "videotestsrc num-buffers=" + std::to_string(frames) +
                     " ! video/x-raw,width=320,height=240,framerate=30/1 ! " + chain +
                     " ! appsink name=s sync=false";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(p) << (err ? err->message : "");
  if (!p) return out;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "s");
  gst_element_set_state(p, GST_STATE_PLAYING);
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    if (out.config.empty()) {
      const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
      const GValue* v = gst_structure_get_value(st, "codec_data");
      if (v) {
        GstMapInfo m;
        GstBuffer* cd = gst_value_get_buffer(v);
        gst_buffer_map(cd, &m, GST_MAP_READ);
        out.config.assign(m.data, m.data + m.size);
        gst_buffer_unmap(cd, &m);
      }
    }
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    out.frames.emplace_back(m.data, m.data + m.size);
    out.key.push_back(!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT));
    gst_buffer_unmap(b, &m);
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return out;
}

// Sends a sequence header and the frames of `e` as `codec` from `ts` on (33 ms apart).
void send_video(ertmp_test::SocketPublisher& pub, const Encoded& e, rtmp::Codec codec,
                uint64_t* ts) {
  auto tag = [&](rtmp::VideoFrameType ft, rtmp::VideoPacketType pt, rtmp::Bytes payload) {
    rtmp::VideoTagSpec spec;
    spec.frame_type = ft;
    spec.packet = pt;
    spec.units.push_back(rtmp::UnitSpec{0, codec, 0, payload});
    std::vector<uint8_t> body;
    EXPECT_TRUE(rtmp::build_video_tag(spec, body).ok());
    return body;
  };
  auto seq = tag(rtmp::VideoFrameType::kKey, rtmp::VideoPacketType::kSequenceStart, e.config);
  ASSERT_TRUE(pub.send(9, seq, *ts).ok());
  for (size_t i = 0; i < e.frames.size(); ++i) {
    auto body = tag(e.key[i] ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter,
                    rtmp::VideoPacketType::kCodedFrames, e.frames[i]);
    ASSERT_TRUE(pub.send(9, body, *ts).ok());
    *ts += 33;
  }
}

}  // namespace

// A publisher that switches codec mid-stream (H.264 -> HEVC -> H.264) on one connection: a
// decoder chain that follows stream-start/caps keeps decoding (decodebin, decodebin3), the
// pipeline never errors (it ended in not-negotiated, and decodebin3 wedged so that even
// set_state(NULL) hung).
class CodecSwitch : public Engine, public ::testing::WithParamInterface<const char*> {};

TEST_P(CodecSwitch, DecodersFollowTheNewCodec) {
  for (const char* f : {"x264enc", "x265enc", "avdec_h264", "avdec_h265"}) {
    GstElementFactory* fac = gst_element_factory_find(f);
    ERTMP_REQUIRE(fac, std::string(f) + " (gstreamer1.0-plugins-ugly/-bad, gstreamer1.0-libav)");
    gst_object_unref(fac);
  }
  Encoded h264 = encode(
      "x264enc tune=zerolatency key-int-max=15 ! h264parse ! "
      "video/x-h264,stream-format=avc,alignment=au",
      30);
  Encoded hevc = encode(
      "x265enc tune=zerolatency key-int-max=15 ! h265parse ! "
      "video/x-h265,stream-format=hvc1,alignment=au",
      30);
  ASSERT_EQ(h264.frames.size(), 30u);
  ASSERT_EQ(hevc.frames.size(), 30u);
  const std::string decoder = GetParam();
  GstElement* ingest = make_src("application=live stream-key=k");
  struct Ctx {
    std::string decoder;
    std::atomic<int> decoded{0};
  } ctx{decoder};
  g_signal_connect(ingest, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
                     auto* c = static_cast<Ctx*>(d);
                     GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(e));
                     GstElement* dec = gst_element_factory_make(c->decoder.c_str(), nullptr);
                     gst_bin_add(GST_BIN(pipeline), dec);
                     // Each decoded stream (a new one after a switch with decodebin3's
                     // selection) goes to a fakesink of its own; all of them count.
                     g_signal_connect(
                         dec, "pad-added", G_CALLBACK(+[](GstElement* de, GstPad* dp, gpointer u) {
                           GstElement* pl = GST_ELEMENT(gst_element_get_parent(de));
                           GstElement* out = gst_element_factory_make("fakesink", nullptr);
                           g_object_set(out, "sync", FALSE, "async", FALSE, nullptr);
                           gst_bin_add(GST_BIN(pl), out);
                           gst_element_sync_state_with_parent(out);
                           GstPad* op = gst_element_get_static_pad(out, "sink");
                           gst_pad_add_probe(
                               op, GST_PAD_PROBE_TYPE_BUFFER,
                               [](GstPad*, GstPadProbeInfo*, gpointer v) -> GstPadProbeReturn {
                                 ++static_cast<Ctx*>(v)->decoded;
                                 return GST_PAD_PROBE_OK;
                               },
                               u, nullptr);
                           EXPECT_EQ(gst_pad_link(dp, op), GST_PAD_LINK_OK);
                           gst_object_unref(op);
                           gst_object_unref(pl);
                         }),
                         c);
                     gst_element_sync_state_with_parent(dec);
                     GstPad* sinkpad = gst_element_get_static_pad(dec, "sink");
                     EXPECT_EQ(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK);
                     gst_object_unref(sinkpad);
                     gst_object_unref(pipeline);
                   }),
                   &ctx);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  rtmp::ClientConfig cfg;
  cfg.url = *rtmp::parse_url("rtmp://127.0.0.1/live/k");
  ertmp_test::SocketPublisher pub(cfg);
  ASSERT_TRUE(pub.start(static_cast<uint16_t>(port_of(ingest))).ok());
  uint64_t ts = 0;
  send_video(pub, h264, rtmp::Codec::kAvc, &ts);
  send_video(pub, hevc, rtmp::Codec::kHevc, &ts);
  send_video(pub, h264, rtmp::Codec::kAvc, &ts);
  pub.stop();
  std::string error;
  EXPECT_EQ(wait_bus_full(pipeline_, 30 * GST_SECOND, nullptr, nullptr, &error), GST_MESSAGE_EOS)
      << error;
  EXPECT_EQ(ctx.decoded.load(), 90);
  // Stopping is prompt after the switches (decodebin3 wedged here).
  auto t0 = Clock::now();
  EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  EXPECT_LT(ms_since(t0), 2'000);
}

INSTANTIATE_TEST_SUITE_P(Decoders, CodecSwitch, ::testing::Values("decodebin", "decodebin3"));

namespace {

// A muxer linked in pad-added, straight (no queue): it sees every track a publish started with
// before any data. Each pad is added by its own streaming task; without a wait, video reached
// matroskamux before the audio pad existed and it wrote a header with one track ("Caps arrived
// late, headers already written").
TEST_F(Engine, AMuxerLinkedInPadAddedGetsEveryTrack) {
  ERTMP_REQUIRE(have_program("ffmpeg") && have_program("ffprobe"),
                "ffmpeg (Debian package ffmpeg)");
  auto src = make_source(2);
  auto out = dir_ / "rec.mkv";
  GstElement* ingest = make_src("application=live stream-key=k");
  GstElement* mux = gst_element_factory_make("matroskamux", "mux");
  GstElement* sink = gst_element_factory_make("filesink", nullptr);
  g_object_set(sink, "location", out.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline_), mux, sink, nullptr);
  ASSERT_TRUE(gst_element_link(mux, sink));
  g_signal_connect(
      ingest, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
        auto* m = static_cast<GstElement*>(d);
        bool video = g_str_has_prefix(GST_PAD_NAME(pad), "video");
        GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(e));
        GstElement* parse = gst_element_factory_make(video ? "h264parse" : "aacparse", nullptr);
        gst_bin_add(GST_BIN(pipeline), parse);
        gst_element_sync_state_with_parent(parse);
        EXPECT_TRUE(gst_element_link_pads(parse, "src", m, video ? "video_%u" : "audio_%u"));
        GstPad* sp = gst_element_get_static_pad(parse, "sink");
        EXPECT_EQ(gst_pad_link(pad, sp), GST_PAD_LINK_OK);
        gst_object_unref(sp);
        gst_object_unref(pipeline);
      }),
      mux);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff(ffmpeg_publish(src, port_of(ingest), "live/k"));
  EXPECT_EQ(ff.wait(30'000), 0);
  EXPECT_EQ(wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  std::string streams = ertmp_test::run_capture(
      "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '" + out.string() + "'");
  EXPECT_NE(streams.find("h264"), std::string::npos) << streams;
  EXPECT_NE(streams.find("aac"), std::string::npos) << streams;
  std::string frames = ertmp_test::run_capture(
      "ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets "
      "-of csv=p=0 '" +
      out.string() + "'");
  EXPECT_EQ(std::atoi(frames.c_str()), 60) << frames;
}

}  // namespace
