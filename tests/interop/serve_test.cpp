// rtmppushsink mode=listener against real players: the element serves what its pipeline
// produces to ffmpeg 5.1 (framemd5 of the rtmp:// URL), rtmp2src and rtmpdump (librtmp; their
// FLV recordings), at once, and to ffmpeg over rtmps://; a player that joins late starts at a
// keyframe with the sequence headers; a player that never reads is cut back and dropped while the
// pipeline and the other player keep real time; an E-RTMP player (ffmpeg 7.1) gets HEVC, a legacy
// one is refused with a clear status; play-request lets in the player with the right token and
// refuses the other.
//
// The pipeline replays an FLV file ffmpeg encoded (H.264 with B-frames + AAC): flvdemux !
// flvmux ! rtmppushsink, paced at real time by the sink's clock sync. The coded frames reach
// the sink unchanged, so what a player records must equal the file's frames.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "gst/gstrtmppushsink.h"
#include "protocol/flv_file.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/ffmpeg71.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/interop/serve_util.h"

namespace rtmp {
namespace {

using ertmp_test::Child;
using ertmp_test::have_program;
using ertmp_test::run_capture;
using frames::Hashes;
using serve::expect_tail;
using serve::hashes_of_flv;
using serve::have_rtmp2src;
using serve::keyframe_indices;

class Serve : public serve::ServeFixture {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    if (!have_program("ffmpeg")) return;
    dir_ = ertmp_test::make_temp_dir("serve");
    src_ = dir_ / "src.flv";
    // 4 s, keyframes exactly each second (no scene-cut keyframes).
    if (!frames::make_source_flv(src_, 4, "-sc_threshold 0")) src_.clear();
    if (!src_.empty()) source_ = frames::framemd5_of(src_.string());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void SetUp() override {
    ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
    ASSERT_FALSE(src_.empty()) << "could not make the source file";
    ASSERT_FALSE(source_.frames["video"].empty());
  }
  // The replaying pipeline of `file` (the 4 s source by default), PAUSED: the sink listens
  // on a free port.
  void start_paused(const std::string& sink_props = "", std::filesystem::path file = {},
                    const std::function<void()>& before_pause = {}) {
    if (file.empty()) file = src_;
    replay_paused(file, sink_props, before_pause);
  }

  Child ffmpeg_player(const std::filesystem::path& out) {
    return Child(serve::ffmpeg_play_command(url_, out));
  }
  Child rtmp2src_player(const std::filesystem::path& out) {
    return Child(serve::rtmp2src_play_command(url_, out));
  }

  static inline std::filesystem::path dir_, src_;
  static inline Hashes source_;
};

TEST_F(Serve, FfmpegRtmp2srcAndRtmpdumpPlayAtOnceExactlyWhatThePipelineEncoded) {
  ERTMP_REQUIRE(have_rtmp2src(), "rtmp2src (Debian gstreamer1.0-plugins-bad)");
  ERTMP_REQUIRE(have_program("rtmpdump"), "rtmpdump (Debian package rtmpdump)");
  start_paused();
  auto md5_out = dir_ / "both-ffmpeg.framemd5";
  auto flv_out = dir_ / "both-rtmp2src.flv";
  auto dump_out = dir_ / "both-rtmpdump.flv";
  Child ff = ffmpeg_player(md5_out);
  Child r2 = rtmp2src_player(flv_out);
  // librtmp: -v live, -q quiet.
  Child dump(serve::rtmpdump_play_command(url_, dump_out));
  // All play before the stream starts: each gets all of it.
  ASSERT_TRUE(wait_players(3, 10'000)) << joined_ << " of 3 players joined";
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  // At EOS the players get Stream EOF + Play.Stop and end by themselves.
  EXPECT_EQ(ff.wait(10'000), 0) << "ffmpeg";
  EXPECT_EQ(r2.wait(10'000), 0) << "rtmp2src";
  EXPECT_EQ(dump.wait(10'000), 0) << "rtmpdump";

  Hashes by_ffmpeg = frames::parse_framemd5(run_capture("cat '" + md5_out.string() + "'"));
  frames::expect_same(by_ffmpeg, source_, "ffmpeg");
  const Hashes by_rtmpdump = hashes_of_flv(dump_out);
  EXPECT_EQ(expect_tail(by_rtmpdump, source_, "rtmpdump", false), 0u);
  EXPECT_EQ(by_rtmpdump.extradata, source_.extradata) << "rtmpdump: sequence headers";
  const Hashes by_rtmp2src = hashes_of_flv(flv_out);
  EXPECT_EQ(expect_tail(by_rtmp2src, source_, "rtmp2src", /*may_lose_last=*/true), 0u);
  EXPECT_EQ(by_rtmp2src.extradata, source_.extradata) << "rtmp2src: sequence headers";
  // The recording starts with the metadata, then the headers.
  FlvReader r;
  ASSERT_TRUE(r.receive(frames::read_file(flv_out)).ok());
  auto first = r.next_tag();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, 18) << "rtmp2src's first tag is not the metadata";

  GstStructure* stats = nullptr;
  g_object_get(sink_, "stats", &stats, nullptr);
  ASSERT_TRUE(stats);
  guint64 served = 0;
  EXPECT_TRUE(gst_structure_get_uint64(stats, "players-served", &served));
  EXPECT_EQ(served, 3u);
  gst_structure_free(stats);
}

TEST_F(Serve, PlayersThatJoinLateStartAtAKeyframeWithTheSequenceHeaders) {
  ERTMP_REQUIRE(have_rtmp2src(), "rtmp2src (Debian gstreamer1.0-plugins-bad)");
  start_paused();
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // Join 1.5 s into the stream: past the keyframe at 1 s, before the one at 2 s.
  ASSERT_TRUE(wait_stream_at(1500 * GST_MSECOND, 10'000));
  auto md5_out = dir_ / "late-ffmpeg.framemd5";
  auto flv_out = dir_ / "late-rtmp2src.flv";
  Child ff = ffmpeg_player(md5_out);
  Child r2 = rtmp2src_player(flv_out);
  ASSERT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(ff.wait(10'000), 0) << "ffmpeg";
  EXPECT_EQ(r2.wait(10'000), 0) << "rtmp2src";

  const std::vector<size_t> keys = keyframe_indices(src_);
  ASSERT_GE(keys.size(), 4u);
  auto is_key = [&](size_t i) { return std::find(keys.begin(), keys.end(), i) != keys.end(); };
  Hashes by_ffmpeg = frames::parse_framemd5(run_capture("cat '" + md5_out.string() + "'"));
  const size_t ff_first = expect_tail(by_ffmpeg, source_, "ffmpeg", false);
  EXPECT_EQ(by_ffmpeg.extradata, source_.extradata) << "ffmpeg: sequence headers";
  EXPECT_TRUE(is_key(ff_first)) << "ffmpeg started at source frame " << ff_first;
  EXPECT_GT(ff_first, 0u) << "ffmpeg joined late but got the stream from its start";
  const Hashes by_rtmp2src = hashes_of_flv(flv_out);
  const size_t r2_first = expect_tail(by_rtmp2src, source_, "rtmp2src", true);
  EXPECT_EQ(by_rtmp2src.extradata, source_.extradata) << "rtmp2src: sequence headers";
  EXPECT_TRUE(is_key(r2_first)) << "rtmp2src started at source frame " << r2_first;
  EXPECT_GT(r2_first, 0u);

  // In rtmp2src's recording: metadata, then the headers, then a keyframe.
  FlvReader r;
  ASSERT_TRUE(r.receive(frames::read_file(flv_out)).ok());
  bool metadata = false, video_header = false, audio_header = false;
  while (auto t = r.next_tag()) {
    if (t->type == 18) metadata = true;
    if (t->type == 8 && t->body.size() > 1 && t->body[1] == 0) audio_header = true;
    if (t->type == 9 && t->body.size() > 1 && t->body[1] == 0) video_header = true;
    if (t->type == 9 && t->body.size() > 1 && t->body[1] == 1) {
      EXPECT_EQ(t->body[0] >> 4, 1) << "the first video frame is not a keyframe";
      break;
    }
  }
  EXPECT_TRUE(metadata);
  EXPECT_TRUE(video_header);
  EXPECT_TRUE(audio_header);
}

// One player stops reading (ffmpeg, SIGSTOPped): it is cut back past max-player-queue-bytes
// (1 MiB: several of these frames, so a player that reads is never cut)
// and dropped after player-timeout, while the pipeline keeps real time and the other player
// (rtmp2src) gets every frame.
TEST_F(Serve, APlayerThatStopsReadingIsDroppedWithoutSlowingThePipelineOrTheOthers) {
  ERTMP_REQUIRE(have_rtmp2src(), "rtmp2src (Debian gstreamer1.0-plugins-bad)");
  // 8 s of 720p at about 13 Mbit/s: far more than the kernel's socket buffers take for a
  // stalled peer.
  auto big = dir_ / "big.flv";
  ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                         "testsrc2=size=1280x720:rate=30 -f lavfi -i sine=sample_rate=44100 -t 8 "
                         "-c:v libx264 -preset ultrafast -qp 10 -g 30 -sc_threshold 0 -c:a aac '" +
                         big.string() + "'")
                            .c_str()),
            0);
  ASSERT_GT(std::filesystem::file_size(big), 6u * 1024 * 1024);
  const Hashes big_source = frames::framemd5_of(big.string());
  start_paused("max-player-queue-bytes=1048576 player-timeout=1", big);
  Child stalled = ffmpeg_player(dir_ / "stalled.framemd5");
  auto flv_out = dir_ / "reader-rtmp2src.flv";
  Child reader = rtmp2src_player(flv_out);
  ASSERT_TRUE(wait_players(2, 10'000)) << joined_ << " of 2 players joined";
  stalled.signal(SIGSTOP);  // never reads again

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // Until EOS, then (bounded) until the stalled player's drop was reported: it is decided while
  // the stream runs, its message may trail the EOS a little.
  std::vector<std::string> reasons;  // of rtmppushsink-player-disconnected
  auto dropped = [&] {
    return std::any_of(reasons.begin(), reasons.end(), [](const std::string& r) {
      return r.find("does not keep up") != std::string::npos;
    });
  };
  bool eos = false;
  int64_t took = -1;
  GstBus* bus = gst_element_get_bus(pipeline_);
  const GstClockTime deadline = gst_util_get_timestamp() + 30 * GST_SECOND;
  while ((!eos || !dropped()) && gst_util_get_timestamp() < deadline) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!msg) continue;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
      eos = true;
      took = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count();
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      ADD_FAILURE() << "bus error";
    } else if (gst_message_has_name(msg, "rtmppushsink-player-disconnected")) {
      const gchar* r = gst_structure_get_string(gst_message_get_structure(msg), "reason");
      reasons.push_back(r ? r : "");
    }
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  ASSERT_TRUE(eos);
  // Real time: 8 s of media, a generous margin for a loaded machine, nowhere near what
  // waiting for the stalled player would take (it never reads).
  EXPECT_LT(took, 8000 + 3000) << "the pipeline was slowed down";
  EXPECT_TRUE(dropped()) << "no player-disconnected message for the stalled player";

  EXPECT_EQ(reader.wait(10'000), 0) << "rtmp2src";
  const Hashes by_rtmp2src = hashes_of_flv(flv_out);
  EXPECT_EQ(expect_tail(by_rtmp2src, big_source, "rtmp2src", true), 0u);
  EXPECT_EQ(by_rtmp2src.extradata, big_source.extradata) << "rtmp2src: sequence headers";
  stalled.signal(SIGKILL);
}

// E-RTMP: an HEVC stream (elementary pads) goes to a player that advertised hvc1 (ffmpeg 7.1
// with -rtmp_enhanced_codecs) frame for frame; a legacy player (ffmpeg 5.1) asking for it
// later is refused at once with a status that says why.
TEST_F(Serve, HevcGoesToAnEnhancedPlayerAndALegacyPlayerIsRefusedWithAClearStatus) {
  ERTMP_REQUIRE_FFMPEG71();
  auto mp4 = dir_ / "hevc.mp4";
  ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                         "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=44100 -t 3 "
                         "-c:v libx265 -preset ultrafast -x265-params "
                         "keyint=30:min-keyint=30:scenecut=0:bframes=0:log-level=error "
                         "-tag:v hvc1 -c:a aac '" +
                         mp4.string() + "'")
                            .c_str()),
            0);
  Hashes source = frames::framemd5_of(mp4.string());
  // ffmpeg's AAC encoder ends the mp4 with a 5-byte packet (a 204-sample tail) that qtdemux
  // does not output (130 buffers leave it): it never reaches the sink.
  ASSERT_EQ(source.frames.at("audio").back().rfind("5,", 0), 0u);
  source.frames.at("audio").pop_back();
  ASSERT_EQ(source.frames.at("video").size(), 90u);
  launch_paused("filesrc location=\"" + mp4.string() +
                "\" ! qtdemux name=d rtmppushsink name=sink mode=listener "
                "location=rtmp://127.0.0.1:0/live/key d.video_0 ! queue ! h265parse ! "
                "sink.video_0 d.audio_0 ! queue ! aacparse ! sink.audio_0");

  auto md5_out = dir_ / "hevc-ffmpeg71.framemd5";
  Child enhanced("exec '" + ertmp_test::Ffmpeg71::ffmpeg().string() +
                 "' -hide_banner -loglevel error -rtmp_enhanced_codecs hvc1 -i '" + url_ +
                 "' -map 0 -c copy -copyinkf -f framemd5 '" + md5_out.string() + "'");
  ASSERT_TRUE(wait_players(1, 10'000)) << "ffmpeg 7.1 did not join";
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  // Once media flows the stream has its HEVC header: a legacy player cannot take it.
  std::string legacy_log;
  {
    GstBus* bus = gst_element_get_bus(pipeline_);
    // Wait (bounded) until media flows: the sink's stats count a served message.
    const GstClockTime deadline = gst_util_get_timestamp() + 10 * GST_SECOND;
    guint64 sent = 0;
    while (sent == 0 && gst_util_get_timestamp() < deadline) {
      if (GstMessage* m = gst_bus_timed_pop(bus, 50 * GST_MSECOND)) gst_message_unref(m);
      GstStructure* st = nullptr;
      g_object_get(sink_, "stats", &st, nullptr);
      if (st) {
        gst_structure_get_uint64(st, "player-bytes-sent", &sent);
        gst_structure_free(st);
      }
    }
    gst_object_unref(bus);
    ASSERT_GT(sent, 0u) << "no media flowed";
  }
  const auto t0 = std::chrono::steady_clock::now();
  legacy_log = run_capture("timeout 10 ffmpeg -hide_banner -loglevel error -i '" + url_ +
                           "' -map 0 -c copy -f null - 2>&1; echo \"exit=$?\"");
  const auto refused_in =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_NE(legacy_log.find("the stream uses E-RTMP codecs and the player advertised no E-RTMP"),
            std::string::npos)
      << legacy_log;
  EXPECT_EQ(legacy_log.find("exit=0"), std::string::npos) << legacy_log;
  EXPECT_LT(refused_in, 5000) << "the refusal was not prompt";

  ASSERT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(enhanced.wait(10'000), 0) << "ffmpeg 7.1";
  Hashes got = frames::parse_framemd5(run_capture("cat '" + md5_out.string() + "'"));
  // Frame for frame (h265parse rewrites the decoder configuration record: x265's in the mp4
  // carries its SEI; the frames are untouched).
  ASSERT_TRUE(got.frames.count("video"));
  EXPECT_EQ(expect_tail(got, source, "ffmpeg 7.1", false), 0u);
  EXPECT_EQ(got.frames.at("video").size(), 90u);
  EXPECT_TRUE(got.extradata.count("video")) << "no HEVC sequence header reached the player";
}

// play-request decides on each player (on a thread of its own): a token in the query lets
// one in, a wrong one is refused with the reason the player prints.
struct Decisions {
  std::mutex mu;
  std::vector<std::string> seen;  // "app stream query"
};
gboolean on_play_request(GstElement*, const gchar* app, const gchar* stream, const gchar*,
                         const gchar* query, const gchar*, gpointer data) {
  auto* d = static_cast<Decisions*>(data);
  std::lock_guard<std::mutex> lock(d->mu);
  d->seen.push_back(std::string(app) + " " + stream + " " + query);
  return std::string(query) == "token=good";
}

TEST_F(Serve, PlayRequestLetsInAPlayerWithTheRightTokenAndRefusesTheOther) {
  Decisions decisions;
  start_paused("", {}, [&] {
    g_signal_connect(sink_, "play-request", G_CALLBACK(on_play_request), &decisions);
  });

  const std::string refused = run_capture("timeout 10 ffmpeg -hide_banner -loglevel error -i '" +
                                          url_ + "?token=bad' -f null - 2>&1; echo \"exit=$?\"");
  EXPECT_NE(refused.find("refused by the application"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("exit=0"), std::string::npos) << refused;

  auto md5_out = dir_ / "token-ffmpeg.framemd5";
  url_ += "?token=good";
  Child ff = ffmpeg_player(md5_out);
  ASSERT_TRUE(wait_players(1, 10'000)) << "the player with the right token did not get in";
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(ff.wait(10'000), 0) << "ffmpeg";
  frames::expect_same(frames::parse_framemd5(run_capture("cat '" + md5_out.string() + "'")),
                      source_, "ffmpeg with the token");
  std::lock_guard<std::mutex> lock(decisions.mu);
  EXPECT_EQ(decisions.seen,
            (std::vector<std::string>{"live key token=bad", "live key token=good"}));
}

// RTMPS: with a certificate the port speaks TLS only; ffmpeg plays rtmps:// frame for frame.
TEST_F(Serve, FfmpegPlaysOverRtmps) {
  ERTMP_REQUIRE(have_program("openssl"), "openssl (Debian package openssl)");
  ASSERT_EQ(std::system(("cd '" + dir_.string() +
                         "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
                         "/CN=localhost -keyout key.pem -out cert.pem >/dev/null 2>&1")
                            .c_str()),
            0);
  const std::string desc = "filesrc location=\"" + src_.string() +
                           "\" ! flvdemux name=d flvmux name=m streamable=true ! rtmppushsink "
                           "name=sink mode=listener location=rtmps://127.0.0.1:0/live/key "
                           "tls-certificate-file=\"" +
                           (dir_ / "cert.pem").string() + "\" tls-key-file=\"" +
                           (dir_ / "key.pem").string() +
                           "\" d.video ! queue ! m.video d.audio ! queue ! m.audio";
  launch_paused(desc);
  url_.replace(0, 4, "rtmps");
  auto md5_out = dir_ / "tls-ffmpeg.framemd5";
  Child ff = ffmpeg_player(md5_out);
  ASSERT_TRUE(wait_players(1, 10'000)) << "ffmpeg did not get in over rtmps";
  // A plain rtmp:// player on the TLS port gets nowhere (bounded by its own timeout).
  const std::string plain = run_capture(
      "timeout 5 ffmpeg -hide_banner -loglevel error -rw_timeout 2000000 -i "
      "'rtmp" +
      url_.substr(5) + "' -f null - 2>&1; echo \"exit=$?\"");
  EXPECT_EQ(plain.find("exit=0"), std::string::npos) << plain;
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  EXPECT_EQ(ff.wait(10'000), 0) << "ffmpeg";
  frames::expect_same(frames::parse_framemd5(run_capture("cat '" + md5_out.string() + "'")),
                      source_, "ffmpeg over rtmps");
}

}  // namespace
}  // namespace rtmp
