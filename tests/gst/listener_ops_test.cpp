// Operating rtmpingestsrc's listener (issue 15): the PROXY protocol behind a real HAProxy (the
// client's own address reaches publish-request and stats; forged or missing headers are
// refused), and the control signals: request-reconnect moves an E-RTMP publisher to another
// node with no lost frame, disconnect-publisher closes it.
#include <sys/socket.h>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/haproxy.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::Collected;
using ertmp_test::Haproxy;
using Clock = std::chrono::steady_clock;

using ertmp_test::tcp_connection_exists;

using ertmp_test::have_elements;

uint16_t port_of_peer(const std::string& peer) {
  auto colon = peer.rfind(':');
  return colon == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(peer.substr(colon + 1)));
}

// What publish-request saw, and whether the relayed connection was alive at that moment.
struct Requests {
  std::mutex mu;
  std::vector<std::string> peers;
  std::vector<bool> alive_from_client;  // the peer's port -> the balancer's port existed
  uint16_t balancer_port = 0;
};

gboolean on_publish_request(GstElement*, const gchar*, const gchar*, const gchar*, const gchar*,
                            const gchar* peer, gpointer data) {
  auto* r = static_cast<Requests*>(data);
  std::lock_guard<std::mutex> lock(r->mu);
  r->peers.push_back(peer);
  r->alive_from_client.push_back(r->balancer_port &&
                                 tcp_connection_exists(port_of_peer(peer), r->balancer_port));
  return TRUE;
}

using ertmp_test::wait_element_message;

class ListenerOps : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void SetUp() override { dir_ = ertmp_test::make_temp_dir("listener_ops"); }
  void TearDown() override {
    for (GstElement* p : {push_, pipeline_}) {
      if (!p) continue;
      gst_element_set_state(p, GST_STATE_NULL);
      gst_object_unref(p);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // rtmpingestsrc with `props` in pipeline_; its pads go to appsinks named prefix + pad.
  GstElement* add_ingest(const std::string& props, const char* prefix) {
    GError* err = nullptr;
    GstElement* src = gst_parse_launch(("rtmpingestsrc port=0 " + props).c_str(), &err);
    EXPECT_TRUE(src) << (err ? err->message : "");
    g_clear_error(&err);
    if (!pipeline_) pipeline_ = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(pipeline_), src);
    struct Ctx {
      Collected* c;
      std::string prefix;
    };
    g_signal_connect_data(
        src, "pad-added", G_CALLBACK(+[](GstElement* e, GstPad* pad, gpointer d) {
          auto* ctx = static_cast<Ctx*>(d);
          ertmp_test::link_to_appsink(e, pad, ctx->c, ctx->prefix);
        }),
        new Ctx{&got_, prefix}, [](gpointer d, GClosure*) { delete static_cast<Ctx*>(d); },
        static_cast<GConnectFlags>(0));
    return src;
  }
  static int port_of(GstElement* src) {
    int p = -1;
    g_object_get(src, "bound-port", &p, nullptr);
    return p;
  }
  std::filesystem::path make_source(int seconds) {
    auto f = dir_ / "src.flv";
    std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=30 -t " +
        std::to_string(seconds) + " -c:v libx264 -preset ultrafast -g 30 '" + f.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return f;
  }
  bool wait_count(const std::string& name, size_t n, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got_.count(name) < n && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // appsinks count; no event
    }
    return got_.count(name) >= n;
  }

  // rtmppushsink publishing 150 frames of live H.264 (a keyframe every 10) to `port` as
  // live/k; what enters it is recorded in sent_ ("video").
  void start_pusher(int port) {
    GError* err = nullptr;
    push_ = gst_parse_launch(
        ("videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=240,"
         "framerate=30/1 ! x264enc tune=zerolatency key-int-max=10 ! h264parse name=parse ! "
         "rtmppushsink location=rtmp://127.0.0.1:" +
         std::to_string(port) + "/live/k")
            .c_str(),
        &err);
    ASSERT_TRUE(push_) << (err ? err->message : "");
    GstElement* parse = gst_bin_get_by_name(GST_BIN(push_), "parse");
    GstPad* parse_src = gst_element_get_static_pad(parse, "src");
    ertmp_test::tap_pad(parse_src, &sent_, "video");
    gst_object_unref(parse_src);
    gst_object_unref(parse);
    ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // Every frame the pusher was given reached the first node or the second, in order: the first
  // got a prefix, the second a contiguous run from a keyframe, starting no later than where the
  // first stopped, to the end.
  void expect_moved_without_loss(const std::string& first, const std::string& second) {
    std::scoped_lock lock(got_.mu, sent_.mu);
    const auto& in = sent_.md5s["video"];
    const auto& at_first = got_.md5s[first];
    const auto& at_second = got_.md5s[second];
    ASSERT_EQ(in.size(), 150u);
    ASSERT_LE(at_first.size(), in.size());
    ASSERT_FALSE(at_second.empty());
    EXPECT_TRUE(std::equal(at_first.begin(), at_first.end(), in.begin())) << "not a prefix";
    auto start = std::find(in.begin(), in.end(), at_second[0]);
    ASSERT_NE(start, in.end());
    EXPECT_TRUE(got_.keyframes[second][0]) << "the second node starts at a keyframe";
    EXPECT_LE(start - in.begin(), static_cast<long>(at_first.size())) << "frames lost in the move";
    EXPECT_EQ(static_cast<size_t>(in.end() - start), at_second.size()) << "not to the end";
    EXPECT_TRUE(std::equal(at_second.begin(), at_second.end(), start)) << "not contiguous";
  }

  std::filesystem::path dir_;
  GstElement* pipeline_ = nullptr;
  GstElement* push_ = nullptr;
  Collected got_;
  Collected sent_;
};

class ProxyBehindHaproxy : public ListenerOps,
                           public ::testing::WithParamInterface<Haproxy::ProxyProtocol> {};

// ffmpeg publishes through HAProxy (send-proxy or send-proxy-v2) into rtmpingestsrc
// proxy-protocol=true: publish-request and stats name ffmpeg's own address (its port is the
// one connected to HAProxy's frontend at that moment, not HAProxy's backend connection), and
// every frame arrives.
TEST_P(ProxyBehindHaproxy, FfmpegsOwnAddressReachesPublishRequestAndStats) {
  ERTMP_REQUIRE(Haproxy::available(), "haproxy (haproxy)");
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  auto source = make_source(3);
  GstElement* src = add_ingest(
      "stream-key=k proxy-protocol=true proxy-trusted-networks=\"127.0.0.1/32, ::1\"", "");
  Requests requests;
  g_signal_connect(src, "publish-request", G_CALLBACK(on_publish_request), &requests);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Haproxy lb(static_cast<uint16_t>(port_of(src)), GetParam());
  ASSERT_TRUE(lb.ready()) << lb.log();
  {
    std::lock_guard<std::mutex> lock(requests.mu);
    requests.balancer_port = lb.port();
  }
  ertmp_test::Child ff("exec ffmpeg -hide_banner -loglevel error -re -i '" + source.string() +
                       "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(lb.port()) +
                       "/live/k");
  ASSERT_TRUE(wait_count("video_0", 20, 20'000)) << lb.log();
  // While ffmpeg still publishes: the stats' peer.
  GstStructure* stats = nullptr;
  g_object_get(src, "stats", &stats, nullptr);
  ASSERT_TRUE(stats);
  std::string stats_peer = gst_structure_get_string(stats, "peer");
  gst_structure_free(stats);
  EXPECT_EQ(ff.wait(30'000), 0);
  std::lock_guard<std::mutex> lock(requests.mu);
  ASSERT_EQ(requests.peers.size(), 1u);
  const std::string peer = requests.peers[0];
  EXPECT_EQ(peer.rfind("127.0.0.1:", 0), 0u) << peer;
  EXPECT_TRUE(requests.alive_from_client[0])
      << peer << " is not a client connected to HAProxy's port " << lb.port();
  EXPECT_EQ(stats_peer, peer);
  EXPECT_TRUE(wait_count("video_0", 90, 10'000)) << got_.count("video_0") << " of 90 frames";
}

INSTANTIATE_TEST_SUITE_P(SendProxy, ProxyBehindHaproxy,
                         ::testing::Values(Haproxy::kV1, Haproxy::kV2),
                         [](const auto& p) { return p.param == Haproxy::kV1 ? "V1" : "V2"; });

// Sends `bytes` on a fresh connection; true when the listener closes it (bounded).
bool closed_after(uint16_t port, const std::string& bytes) {
  int fd = ertmp_test::connect_loopback(port, 5000);
  if (fd < 0) return false;
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
  }
  close(fd);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// A client that is not one of the trusted balancers sends a well-formed header claiming to be
// someone else: refused at accept, with a warning; no publish is asked for.
TEST_F(ListenerOps, AForgedHeaderFromAnUntrustedAddressIsRefused) {
  GstElement* src =
      add_ingest("stream-key=k proxy-protocol=true proxy-trusted-networks=10.0.0.0/8", "");
  Requests requests;
  g_signal_connect(src, "publish-request", G_CALLBACK(on_publish_request), &requests);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  const uint16_t port = static_cast<uint16_t>(port_of(src));
  EXPECT_TRUE(closed_after(port, "PROXY TCP4 203.0.113.9 127.0.0.1 40000 1935\r\n\x03"));
  EXPECT_TRUE(wait_element_message(pipeline_, "rtmpingestsrc-peer-warning", "message",
                                   "not in proxy-trusted-networks", 5000));
  std::lock_guard<std::mutex> lock(requests.mu);
  EXPECT_TRUE(requests.peers.empty());
}

// proxy-protocol=true and a plain RTMP client (C0 = 3 first): closed with a clear warning at
// the first byte; a header that never completes is bounded by handshake-timeout.
TEST_F(ListenerOps, AClientWithoutTheHeaderIsRefusedAndATrickleTimesOut) {
  GstElement* src = add_ingest("stream-key=k proxy-protocol=true handshake-timeout=1", "");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  const uint16_t port = static_cast<uint16_t>(port_of(src));
  EXPECT_TRUE(closed_after(port, std::string(1, '\x03') + std::string(1536, '\0')));
  EXPECT_TRUE(wait_element_message(pipeline_, "rtmpingestsrc-peer-warning", "message",
                                   "bad PROXY protocol header", 5000));
  auto t0 = Clock::now();
  EXPECT_TRUE(closed_after(port, "PROXY TCP4 192.0.2.1"));
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), 5000);
  EXPECT_TRUE(wait_element_message(pipeline_, "rtmpingestsrc-peer-warning", "message",
                                   "no PROXY protocol header within 1000 ms", 5000));
}

// Two nodes (two rtmpingestsrc on their own ports, key k). rtmppushsink publishes to A; A's
// request-reconnect points it at B: the pusher moves, and every frame it was given reached A
// or B, in order: A got a prefix, B a contiguous run from a keyframe that reaches the end.
TEST_F(ListenerOps, RequestReconnectMovesThePublisherToAnotherNodeWithNoLostFrame) {
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  GstElement* a = add_ingest("stream-key=k", "A_");
  GstElement* b = add_ingest("stream-key=k", "B_");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  gboolean asked = TRUE;
  g_signal_emit_by_name(a, "request-reconnect", "rtmp://127.0.0.1/live", "nobody", &asked);
  EXPECT_FALSE(asked) << "no publisher yet: nothing to ask";

  ASSERT_NO_FATAL_FAILURE(start_pusher(port_of(a)));

  ASSERT_TRUE(wait_count("A_video_0", 30, 20'000));
  const std::string to_b = "rtmp://127.0.0.1:" + std::to_string(port_of(b)) + "/live";
  g_signal_emit_by_name(a, "request-reconnect", to_b.c_str(), "draining for an upgrade", &asked);
  EXPECT_TRUE(asked);
  EXPECT_EQ(ertmp_test::wait_bus(push_, 30 * GST_SECOND), GST_MESSAGE_EOS);
  ASSERT_TRUE(wait_count("B_video_0", 1, 10'000)) << "the publisher never reached B";

  expect_moved_without_loss("A_video_0", "B_video_0");
}

// The multi-node recipe end to end: two nodes (proxy-protocol=true) behind a real HAProxy with
// PROXY v2 health checks; rtmppushsink publishes to the balancer. The node that got it is set
// to drain on HAProxy's admin socket, then asked (request-reconnect, no tcUrl: the same URL,
// through the balancer again): the publish lands on the other node, with no lost frame.
TEST_F(ListenerOps, DrainingANodeBehindHaproxyMovesThePublisherWithNoLostFrame) {
  ERTMP_REQUIRE(Haproxy::available(), "haproxy (haproxy)");
  ERTMP_REQUIRE(have_elements({"x264enc"}), "x264enc (gstreamer1.0-plugins-ugly)");
  const std::string node = "stream-key=k proxy-protocol=true proxy-trusted-networks=127.0.0.1";
  GstElement* n[2] = {add_ingest(node, "A_"), add_ingest(node, "B_")};
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Haproxy lb({{static_cast<uint16_t>(port_of(n[0])), Haproxy::kV2, true},
              {static_cast<uint16_t>(port_of(n[1])), Haproxy::kV2, true}});
  ASSERT_TRUE(lb.ready()) << lb.log();

  ASSERT_NO_FATAL_FAILURE(start_pusher(lb.port()));

  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (got_.count("A_video_0") < 30 && got_.count("B_video_0") < 30 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int first = got_.count("A_video_0") >= 30 ? 0 : 1;
  ASSERT_GE(got_.count(first ? "B_video_0" : "A_video_0"), 30u) << lb.log();
  const std::string first_name = first ? "B_video_0" : "A_video_0";
  const std::string second_name = first ? "A_video_0" : "B_video_0";
  lb.admin("set server ertmp/s" + std::to_string(first) + " state drain");
  gboolean asked = FALSE;
  g_signal_emit_by_name(n[first], "request-reconnect", nullptr, "draining", &asked);
  EXPECT_TRUE(asked);
  EXPECT_EQ(ertmp_test::wait_bus(push_, 30 * GST_SECOND), GST_MESSAGE_EOS);
  ASSERT_TRUE(wait_count(second_name, 1, 10'000)) << "the publisher never reached the other node";

  expect_moved_without_loss(first_name, second_name);
}

// disconnect-publisher closes the bound publisher's connection (the element then says it is
// gone, not cleanly), and is FALSE when nobody publishes.
TEST_F(ListenerOps, DisconnectPublisherClosesItsConnection) {
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  auto source = make_source(20);
  GstElement* src = add_ingest("stream-key=k on-disconnect=wait", "");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  gboolean done = TRUE;
  g_signal_emit_by_name(src, "disconnect-publisher", &done);
  EXPECT_FALSE(done);
  ertmp_test::Child ff("exec ffmpeg -hide_banner -loglevel error -re -i '" + source.string() +
                       "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port_of(src)) +
                       "/live/k");
  ASSERT_TRUE(wait_count("video_0", 10, 20'000));
  g_signal_emit_by_name(src, "disconnect-publisher", &done);
  EXPECT_TRUE(done);
  EXPECT_TRUE(wait_element_message(pipeline_, "rtmpingestsrc-publisher-disconnected", "reason",
                                   "disconnected by the application", 5000));
  EXPECT_NE(ff.wait(10'000), 0) << "ffmpeg should fail: its connection was closed";
}

// Listener-wide stats: a second element on the same port (another key, nobody publishing to
// it) lists the publisher of the first under "connections" with its real figures; the first
// element's own bytes and bitrate are the connection's.
TEST_F(ListenerOps, EveryElementOfAListenerSeesEveryConnection) {
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  auto source = make_source(6);
  GstElement* a = add_ingest("stream-key=k", "");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  const int port = port_of(a);
  GError* err = nullptr;
  push_ = gst_parse_launch(
      ("rtmpingestsrc name=b stream-key=other port=" + std::to_string(port) + " ! fakesink")
          .c_str(),
      &err);
  ASSERT_TRUE(push_) << (err ? err->message : "");
  ASSERT_NE(gst_element_set_state(push_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ertmp_test::Child ff("exec ffmpeg -hide_banner -loglevel error -re -i '" + source.string() +
                       "' -c copy -f flv rtmp://127.0.0.1:" + std::to_string(port) + "/live/k");
  ASSERT_TRUE(wait_count("video_0", 90, 20'000));  // 3 s of a real-time publish

  GstStructure* sa = nullptr;
  g_object_get(a, "stats", &sa, nullptr);
  ASSERT_TRUE(sa);
  guint64 a_bytes = 0, a_bitrate = 0;
  EXPECT_TRUE(gst_structure_get_uint64(sa, "bytes", &a_bytes));
  EXPECT_TRUE(gst_structure_get_uint64(sa, "bitrate", &a_bitrate));
  EXPECT_GT(a_bytes, 10'000u);
  const std::string a_peer = gst_structure_get_string(sa, "peer");
  gst_structure_free(sa);

  GstElement* b = gst_bin_get_by_name(GST_BIN(push_), "b");
  GstStructure* sb = nullptr;
  g_object_get(b, "stats", &sb, nullptr);
  gst_object_unref(b);
  ASSERT_TRUE(sb);
  gboolean b_publishing = TRUE;
  gst_structure_get_boolean(sb, "publishing", &b_publishing);
  EXPECT_FALSE(b_publishing);
  const GValue* list = gst_structure_get_value(sb, "connections");
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  ASSERT_TRUE(list && G_VALUE_HOLDS(list, g_value_array_get_type()));
  auto* array = static_cast<GValueArray*>(g_value_get_boxed(list));
  ASSERT_EQ(array->n_values, 1u);
  const GstStructure* c = gst_value_get_structure(g_value_array_get_nth(array, 0));
  G_GNUC_END_IGNORE_DEPRECATIONS
  EXPECT_STREQ(gst_structure_get_string(c, "peer"), a_peer.c_str());
  EXPECT_STREQ(gst_structure_get_string(c, "state"), "publishing");
  EXPECT_STREQ(gst_structure_get_string(c, "stream-key"), "k");
  EXPECT_STREQ(gst_structure_get_string(c, "application"), "live");
  EXPECT_NE(std::string(gst_structure_get_string(c, "flash-ver")), "");
  guint64 bytes_in = 0, bitrate = 0, uptime = 0;
  gst_structure_get_uint64(c, "bytes-in", &bytes_in);
  gst_structure_get_uint64(c, "bitrate", &bitrate);
  gst_structure_get_uint64(c, "uptime", &uptime);
  EXPECT_GE(bytes_in, a_bytes);
  EXPECT_GE(uptime, 2 * GST_SECOND);
  // The source is ~6 s of 320x240 x264 ultrafast: tens of kbit/s at least, far below 50 Mbit/s.
  EXPECT_GT(bitrate, 20'000u);
  EXPECT_LT(bitrate, 50'000'000u);
  EXPECT_GT(a_bitrate, 20'000u);
  gst_structure_free(sb);
}

}  // namespace
