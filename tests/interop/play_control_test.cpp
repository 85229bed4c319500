// A player's stream controls against rtmppushsink mode=listener, at the element level:
//  - pause / unpause from librtmp (the client library of rtmpdump, VLC and many appliances;
//    RTMP_Pause): Pause.Notify, then no media at all while paused, then Unpause.Notify and
//    video that starts over at a keyframe;
//  - seek from librtmp (RTMP_SendSeek) on the live stream: Seek.Notify comes (librtmp holds
//    its reads until it does), then video starts over at a keyframe and keeps coming;
//  - play2 (switch) from our ClientSession (no Debian peer sends play2: only Flash did): the
//    player moves from one sink's stream to another's on the same port without a new
//    createStream, and gets the new stream's sequence header before a keyframe.
// The pipelines encode live test video (x264enc, a keyframe every 30 frames at 30 fps).
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <poll.h>

#if ERTMP_HAVE_LIBRTMP
#include <librtmp/log.h>
#include <librtmp/rtmp.h>
constexpr bool librtmp_ok = true;
#else
constexpr bool librtmp_ok = false;  // the build did not find librtmp: the test fails in CI
#endif

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gst/gstrtmppushsink.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/interop/socket_player.h"

namespace rtmp {
namespace {

using Clock = std::chrono::steady_clock;
using ertmp_test::have_elements;

int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

// --- the fixture ------------------------------------------------------------------------------

class PlayControl : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    ERTMP_REQUIRE(librtmp_ok, "librtmp (Debian librtmp-dev)");
    ERTMP_REQUIRE(have_elements({"x264enc", "videotestsrc"}),
                  "x264enc, videotestsrc (gstreamer1.0-plugins-ugly, -base)");
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void TearDown() override {
    for (GstElement* p : pipelines_) {
      gst_element_set_state(p, GST_STATE_NULL);
      gst_object_unref(p);
    }
  }

  // A live H.264 stream of `width`x`height` served as live/`key` on `port` (0: a free one);
  // returns the port listened on.
  int serve(const std::string& key, int width, int height, int port = 0) {
    const std::string desc =
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=" + std::to_string(width) +
        ",height=" + std::to_string(height) +
        ",framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
        "bitrate=400 ! sink.video_0 rtmppushsink name=sink mode=listener "
        "location=rtmp://127.0.0.1:" +
        std::to_string(port) + "/live/" + key;
    GError* err = nullptr;
    GstElement* p = gst_parse_launch(desc.c_str(), &err);
    EXPECT_TRUE(p) << (err ? err->message : "");
    if (!p) return -1;
    pipelines_.push_back(p);
    EXPECT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
    gint bound = -1;
    g_object_get(sink, "bound-port", &bound, nullptr);
    gst_object_unref(sink);
    return bound;
  }

  // No error on any serving pipeline's bus.
  void expect_no_error() {
    for (GstElement* p : pipelines_) {
      GstBus* bus = gst_element_get_bus(p);
      GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
      EXPECT_EQ(m, nullptr) << "a serving pipeline posted an error";
      if (m) gst_message_unref(m);
      gst_object_unref(bus);
    }
  }

 public:
  static std::string url(int port, const std::string& key) {
    return "rtmp://127.0.0.1:" + std::to_string(port) + "/live/" + key;
  }

 protected:
  std::vector<GstElement*> pipelines_;
};

#if ERTMP_HAVE_LIBRTMP

// --- librtmp, message by message ------------------------------------------------------------

// One whole message as librtmp read it.
struct Msg {
  uint8_t type = 0;  // 8 audio, 9 video, 20 command, 4 user control, ...
  uint32_t timestamp = 0;
  std::vector<uint8_t> body;

  bool video() const { return type == RTMP_PACKET_TYPE_VIDEO && body.size() >= 2; }
  // An AVC coded frame (not a sequence header, not end of sequence).
  bool video_frame() const { return video() && (body[0] & 0x0F) == 7 && body[1] == 1; }
  bool keyframe() const { return video_frame() && (body[0] >> 4) == 1; }
  bool media() const { return type == RTMP_PACKET_TYPE_AUDIO || type == RTMP_PACKET_TYPE_VIDEO; }
  // A command (onStatus ...) whose body holds `text` (AMF0 strings are stored as is).
  bool command_with(const std::string& text) const {
    if (type != RTMP_PACKET_TYPE_INVOKE) return false;
    return std::search(body.begin(), body.end(), text.begin(), text.end()) != body.end();
  }
  // User control `event` (0 Stream Begin, 1 Stream EOF).
  bool user_control(uint16_t event) const {
    return type == RTMP_PACKET_TYPE_CONTROL && body.size() >= 2 &&
           ((body[0] << 8) | body[1]) == event;
  }
};

class LibrtmpPlayer {
 public:
  explicit LibrtmpPlayer(const std::string& url) : url_(url + " live=1 timeout=10") {
    RTMP_LogSetLevel(RTMP_LOGCRIT);
    r_ = RTMP_Alloc();
    RTMP_Init(r_);
  }
  ~LibrtmpPlayer() {
    RTMP_Close(r_);
    RTMP_Free(r_);
  }
  LibrtmpPlayer(const LibrtmpPlayer&) = delete;
  LibrtmpPlayer& operator=(const LibrtmpPlayer&) = delete;

  // Connects and plays (librtmp returns once the server said Play.Start).
  bool start() {
    // librtmp keeps pointers into the URL buffer: url_ lives as long as the player.
    return RTMP_SetupURL(r_, url_.data()) && RTMP_Connect(r_, nullptr) && RTMP_ConnectStream(r_, 0);
  }
  RTMP* rtmp() { return r_; }

  // Reads messages until `done(msg)` says so or `timeout_ms` passed; every message read is
  // appended to `log`. librtmp handles each one too (acknowledgements, pings, statuses), as
  // its RTMP_Read does. False on timeout or when the connection ended.
  template <class Done>
  bool read_until(Done done, int timeout_ms, std::vector<Msg>* log) {
    const auto t0 = Clock::now();
    while (ms_since(t0) < timeout_ms) {
      if (r_->m_sb.sb_size <= 0) {  // nothing buffered inside librtmp: wait for the socket
        pollfd p{RTMP_Socket(r_), POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
      }
      RTMPPacket pkt;
      std::memset(&pkt, 0, sizeof pkt);
      if (!RTMP_ReadPacket(r_, &pkt)) return false;
      if (!RTMPPacket_IsReady(&pkt)) continue;
      Msg m;
      m.type = pkt.m_packetType;
      m.timestamp = pkt.m_nTimeStamp;
      m.body.assign(pkt.m_body, pkt.m_body + pkt.m_nBodySize);
      RTMP_ClientPacket(r_, &pkt);
      RTMPPacket_Free(&pkt);
      log->push_back(std::move(m));
      if (done(log->back())) return true;
    }
    return false;
  }

 private:
  std::string url_;
  RTMP* r_ = nullptr;
};

// The index of the first message of `log` at or after `from` that satisfies `pred`; -1 if none.
template <class Pred>
long find_from(const std::vector<Msg>& log, size_t from, Pred pred) {
  for (size_t i = from; i < log.size(); ++i) {
    if (pred(log[i])) return static_cast<long>(i);
  }
  return -1;
}

size_t count_video_frames(const std::vector<Msg>& log, size_t from) {
  size_t n = 0;
  for (size_t i = from; i < log.size(); ++i) n += log[i].video_frame();
  return n;
}

// librtmp plays live/a on `port` and reads about a second of video into `log`; nullptr (with a
// test failure) when it cannot.
std::unique_ptr<LibrtmpPlayer> play_a_second(int port, std::vector<Msg>* log) {
  EXPECT_GT(port, 0);
  if (port <= 0) return nullptr;
  auto player = std::make_unique<LibrtmpPlayer>(PlayControl::url(port, "a"));
  EXPECT_TRUE(player->start()) << "librtmp could not play";
  const bool got = player->read_until([&](const Msg&) { return count_video_frames(*log, 0) >= 20; },
                                      10'000, log);
  EXPECT_TRUE(got) << "no second of video";
  return got ? std::move(player) : nullptr;
}

TEST_F(PlayControl, LibrtmpPauseHoldsEveryMessageAndUnpauseResumesAtAKeyframe) {
  std::vector<Msg> log;
  auto player_ptr = play_a_second(serve("a", 160, 120), &log);
  ASSERT_TRUE(player_ptr);
  LibrtmpPlayer& player = *player_ptr;

  ASSERT_TRUE(RTMP_Pause(player.rtmp(), 1));
  ASSERT_TRUE(player.read_until(
      [](const Msg& m) { return m.command_with("NetStream.Pause.Notify"); }, 5000, &log))
      << "no Pause.Notify";
  const size_t paused_at = log.size();
  // 1.5 s paused: the stream goes on (45 frames) but nothing of it reaches the player.
  (void)player.read_until([](const Msg&) { return false; }, 1500, &log);
  for (size_t i = paused_at; i < log.size(); ++i) {
    EXPECT_FALSE(log[i].media()) << "media message " << i << " (type " << int{log[i].type}
                                 << ") arrived while paused";
  }

  ASSERT_TRUE(RTMP_Pause(player.rtmp(), 0));
  const size_t before_unpause = log.size();
  ASSERT_TRUE(player.read_until(
      [](const Msg& m) { return m.command_with("NetStream.Unpause.Notify"); }, 5000, &log))
      << "no Unpause.Notify";
  const size_t resumed_at = log.size();
  ASSERT_TRUE(player.read_until(
      [&](const Msg&) { return count_video_frames(log, resumed_at) >= 30; }, 10'000, &log))
      << "video did not resume";
  EXPECT_GE(find_from(log, before_unpause, [](const Msg& m) { return m.user_control(0); }), 0)
      << "no Stream Begin with the unpause";
  const long first = find_from(log, resumed_at, [](const Msg& m) { return m.video_frame(); });
  ASSERT_GE(first, 0);
  EXPECT_TRUE(log[static_cast<size_t>(first)].keyframe())
      << "the first video frame after the unpause is not a keyframe";
  expect_no_error();
}

TEST_F(PlayControl, LibrtmpSeekOnTheLiveStreamIsAnsweredAndVideoStartsOverAtAKeyframe) {
  std::vector<Msg> log;
  auto player_ptr = play_a_second(serve("a", 160, 120), &log);
  ASSERT_TRUE(player_ptr);
  LibrtmpPlayer& player = *player_ptr;

  const size_t before_seek = log.size();
  ASSERT_TRUE(RTMP_SendSeek(player.rtmp(), 5000));
  ASSERT_TRUE(player.read_until(
      [](const Msg& m) { return m.command_with("NetStream.Seek.Notify"); }, 5000, &log))
      << "no Seek.Notify: a live seek went unanswered";
  const size_t answered_at = log.size();
  // Stream EOF, Seek.Notify, Stream Begin (nginx-rtmp's order for a seek).
  EXPECT_GE(find_from(log, before_seek, [](const Msg& m) { return m.user_control(1); }), 0)
      << "no Stream EOF before Seek.Notify";
  ASSERT_TRUE(player.read_until(
      [&](const Msg&) { return count_video_frames(log, answered_at) >= 30; }, 10'000, &log))
      << "video did not go on after the seek";
  EXPECT_GE(find_from(log, answered_at - 1, [](const Msg& m) { return m.user_control(0); }), 0)
      << "no Stream Begin after Seek.Notify";
  const long first = find_from(log, answered_at, [](const Msg& m) { return m.video_frame(); });
  ASSERT_GE(first, 0);
  EXPECT_TRUE(log[static_cast<size_t>(first)].keyframe())
      << "the first video frame after the seek is not a keyframe";
  expect_no_error();
}

#else

TEST_F(PlayControl, LibrtmpPauseHoldsEveryMessageAndUnpauseResumesAtAKeyframe) {}
TEST_F(PlayControl, LibrtmpSeekOnTheLiveStreamIsAnsweredAndVideoStartsOverAtAKeyframe) {}

#endif  // ERTMP_HAVE_LIBRTMP

TEST_F(PlayControl, Play2SwitchesToAnotherStreamOfThePortStartingWithItsHeaderAndAKeyframe) {
  const int port = serve("a", 160, 120);
  ASSERT_GT(port, 0);
  ASSERT_EQ(serve("b", 320, 240, port), port) << "the second sink did not share the port";

  ClientConfig cc;
  auto u = parse_url(url(port, "a"), UrlRole::kConnect);
  ASSERT_TRUE(u.ok());
  cc.url = *u;
  cc.role = ClientRole::kPlay;
  SocketPlayer player(cc);
  ASSERT_TRUE(player.start(static_cast<uint16_t>(port)).ok());
  ASSERT_TRUE(player.run_until([&] { return player.frames() >= 20; }, 10'000));
  const std::vector<uint8_t> header_a = [&] {
    for (const auto& m : player.media()) {
      if (m.message.type == 9 && m.message.payload.size() > 1 && m.message.payload[1] == 0) {
        return m.message.payload;
      }
    }
    return std::vector<uint8_t>{};
  }();
  ASSERT_FALSE(header_a.empty()) << "no sequence header from stream a";

  Play2Options o;
  o.stream_name = "b";
  o.transition = "switch";
  ASSERT_TRUE(player.session().play2(o).ok());
  const size_t starts_before =
      std::count_if(player.statuses().begin(), player.statuses().end(),
                    [](const StatusReceived& s) { return s.code == "NetStream.Play.Start"; });
  ASSERT_TRUE(player.run_until(
      [&] {
        return std::count_if(player.statuses().begin(), player.statuses().end(),
                             [](const StatusReceived& s) {
                               return s.code == "NetStream.Play.Start";
                             }) > static_cast<long>(starts_before);
      },
      5000))
      << "no Play.Start for the play2 switch";
  size_t switched_at = 0;
  for (size_t i = 0; i < player.statuses().size(); ++i) {
    if (player.statuses()[i].code == "NetStream.Play.Start") {
      switched_at = player.status_positions()[i];
    }
  }
  ASSERT_TRUE(player.run_until([&] { return player.media().size() >= switched_at + 40; }, 10'000))
      << "no media after the switch";
  // After the switch: stream b's sequence header (its SPS differs: 320x240), then a keyframe
  // first, and never again stream a's header.
  bool got_header = false, got_frame = false;
  for (size_t i = switched_at; i < player.media().size(); ++i) {
    const Message& m = player.media()[i].message;
    if (m.type != 9 || m.payload.size() < 2) continue;
    if (m.payload[1] == 0) {
      EXPECT_NE(m.payload, header_a) << "stream a's header after the switch";
      got_header = true;
    } else if (m.payload[1] == 1 && !got_frame) {
      got_frame = true;
      EXPECT_TRUE(got_header) << "a frame before stream b's sequence header";
      EXPECT_EQ(m.payload[0] >> 4, 1) << "the first frame after the switch is not a keyframe";
    }
  }
  EXPECT_TRUE(got_header);
  EXPECT_TRUE(got_frame);
  expect_no_error();
}

}  // namespace
}  // namespace rtmp
