// rtmppushsink mode=listener under load: 20 real players at once (ffmpeg 5.1, rtmpdump/librtmp,
// rtmp2src; 16 from the start, 4 joining 8 s in) plus one that never reads. The 20 get every
// frame from their join point and end by themselves at EOS, the pipeline keeps real time, the
// one that never reads is cut back and dropped, and the process's memory stays bounded.
//
// Cheap on a 2-core machine: the sink replays an FLV file ffmpeg encoded once (20 s of H.264 at
// ~3 Mbit/s with a keyframe each second + AAC), paced by its clock sync; the players copy
// (ffmpeg -c copy to framemd5, rtmpdump and rtmp2src record FLV) and decode nothing.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gst/gstrtmppushsink.h"
#include "protocol/caps.h"
#include "protocol/client_session.h"
#include "protocol/url.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/interop/serve_util.h"
#include "tests/interop/socket_player.h"

namespace rtmp {
namespace {

using ertmp_test::Child;
using ertmp_test::have_program;
using ertmp_test::run_capture;
using frames::Hashes;

constexpr int kSeconds = 20;  // media duration
constexpr int kFps = 30;
constexpr int kEarlyPlayers = 16;  // play before the stream starts
constexpr int kLatePlayers = 4;    // join when the stream is at kLateJoinS
constexpr int kLateJoinS = 8;
constexpr guint64 kCutBytes = 1 << 20;         // max-player-queue-bytes: ~32 of the largest frames
constexpr guint64 kDropBytes = 8 * kCutBytes;  // the sink drops at 8 x max-player-queue-bytes
constexpr guint kPlayerTimeoutS = 2;           // cut back this long: dropped
constexpr guint64 kMiB = 1 << 20;

uint64_t now_ms() {
  return steady_now_ms();
}

// This process's resident set (VmRSS), bytes.
uint64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// The socket of a player that plays, then never reads again (our ClientSession in the play
// role, SocketPlayer): a 4 KiB receive buffer and a 536-byte MSS, set before it connects to
// 127.0.0.1:port. On loopback a default socket pair would hold several MB of what the sink sends
// (its send buffer is sized from the 64 KiB MSS), so the sink's queue for this player would only
// fill late in the stream; this way nearly everything sent to it stays queued in the sink.
// `peer`: "127.0.0.1:PORT" as the sink's messages name it. -1 on failure.
int stalled_socket(uint16_t port, std::string* peer) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rcvbuf = 4096, mss = 536;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *peer = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  return fd;
}

enum class Kind { kFfmpeg, kRtmpdump, kRtmp2src };

struct Player {
  Kind kind;
  bool late;
  std::string name;
  std::filesystem::path out;
  std::unique_ptr<Child> child;
};

// What the bus loop saw while the stream ran.
struct Observed {
  int64_t eos_ms = -1;  // since PLAYING
  uint64_t rss_peak = 0;
  guint64 max_queued_peak = 0;  // player-max-queued-bytes
  guint64 cache_peak = 0;       // cache-bytes
  guint cut_back_peak = 0;      // players-cut-back
  int64_t first_cut_ms = -1;    // first sample with a player cut back
  int samples = 0;
  int late_joined = 0;
  struct Left {
    std::string peer, reason;
    int64_t at_ms;
  };
  std::vector<Left> left;  // rtmppushsink-player-disconnected
};

class ServeLoad : public serve::ServeFixture {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    if (!have_program("ffmpeg")) return;
    dir_ = ertmp_test::make_temp_dir("serveload");
    src_ = dir_ / "src.flv";
    // 640x360 at ~3 Mbit/s (largest frame ~32 KB), keyframes exactly each second.
    if (std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                     "testsrc2=size=640x360:rate=30 -f lavfi -i sine=sample_rate=44100 -t " +
                     std::to_string(kSeconds) +
                     " -c:v libx264 -preset ultrafast -bf 2 -g 30 -sc_threshold 0 -b:v 3000k "
                     "-maxrate 3000k -bufsize 3000k -c:a aac '" +
                     src_.string() + "'")
                        .c_str()) != 0) {
      src_.clear();
    }
    if (!src_.empty()) source_ = frames::framemd5_of(src_.string());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void SetUp() override {
    ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
    ERTMP_REQUIRE(have_program("rtmpdump"), "rtmpdump (Debian package rtmpdump)");
    ERTMP_REQUIRE(serve::have_rtmp2src(), "rtmp2src (Debian gstreamer1.0-plugins-bad)");
    ASSERT_FALSE(src_.empty()) << "could not make the source file";
    ASSERT_EQ(source_.frames["video"].size(), size_t{kSeconds * kFps});
  }

  void start(Player& p) {
    const std::string cmd = p.kind == Kind::kFfmpeg     ? serve::ffmpeg_play_command(url_, p.out)
                            : p.kind == Kind::kRtmpdump ? serve::rtmpdump_play_command(url_, p.out)
                                                        : serve::rtmp2src_play_command(url_, p.out);
    p.child = std::make_unique<Child>(cmd);
  }

  // One sample of the sink's stats and the process's memory.
  void sample(Observed& o, int64_t at_ms) {
    o.rss_peak = std::max(o.rss_peak, rss_bytes());
    GstStructure* st = nullptr;
    g_object_get(sink_, "stats", &st, nullptr);
    if (!st) return;
    guint64 max_queued = 0, cache = 0;
    guint cut = 0;
    gst_structure_get_uint64(st, "player-max-queued-bytes", &max_queued);
    gst_structure_get_uint64(st, "cache-bytes", &cache);
    gst_structure_get_uint(st, "players-cut-back", &cut);
    gst_structure_free(st);
    o.max_queued_peak = std::max(o.max_queued_peak, max_queued);
    o.cache_peak = std::max(o.cache_peak, cache);
    o.cut_back_peak = std::max(o.cut_back_peak, cut);
    if (cut > 0 && o.first_cut_ms < 0) o.first_cut_ms = at_ms;
    ++o.samples;
  }

  // From PLAYING until EOS and then every player's disconnect (21), bounded: samples every
  // 100 ms, starts the late players once the stream reached kLateJoinS.
  void run(Observed& o, std::vector<Player>& players, int want_left) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    const uint64_t t0 = now_ms();
    const uint64_t deadline = t0 + (kSeconds + 25) * 1000;
    uint64_t next_sample = t0;
    bool late_started = false;
    while (now_ms() < deadline && (o.eos_ms < 0 || static_cast<int>(o.left.size()) < want_left)) {
      const int64_t at = static_cast<int64_t>(now_ms() - t0);
      if (now_ms() >= next_sample) {
        sample(o, at);
        next_sample += 100;
      }
      if (!late_started && wait_stream_at(kLateJoinS * GST_SECOND, 0)) {
        late_started = true;
        for (auto& p : players) {
          if (p.late) start(p);
        }
      }
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, 20 * GST_MSECOND,
          static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
      if (!msg) continue;
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        o.eos_ms = at;
      } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
        GError* err = nullptr;
        gst_message_parse_error(msg, &err, nullptr);
        ADD_FAILURE() << "bus error: " << err->message;
        g_error_free(err);
      } else if (gst_message_has_name(msg, "rtmppushsink-player-connected")) {
        ++o.late_joined;
      } else if (gst_message_has_name(msg, "rtmppushsink-player-disconnected")) {
        const GstStructure* s = gst_message_get_structure(msg);
        const gchar* peer = gst_structure_get_string(s, "peer");
        const gchar* reason = gst_structure_get_string(s, "reason");
        o.left.push_back({peer ? peer : "", reason ? reason : "", at});
      }
      gst_message_unref(msg);
    }
    gst_object_unref(bus);
    EXPECT_TRUE(late_started) << "the stream never reached " << kLateJoinS << " s";
  }

  static inline std::filesystem::path dir_, src_;
  static inline Hashes source_;
};

TEST_F(ServeLoad, TwentyPlayersKeepRealTimeWhileOneThatNeverReadsIsCutBackAndDropped) {
  replay_paused(src_, "max-player-queue-bytes=" + std::to_string(kCutBytes) +
                          " player-timeout=" + std::to_string(kPlayerTimeoutS));
  gint port = -1;
  g_object_get(sink_, "bound-port", &port, nullptr);
  // Prerolled: the pipeline's own buffers (the demuxer's queues) are allocated.
  const uint64_t rss_idle = rss_bytes();

  // 9 ffmpeg, 9 rtmpdump, 2 rtmp2src; of them 2 ffmpeg and 2 rtmpdump join late.
  std::vector<Player> players;
  for (int i = 0; i < kEarlyPlayers + kLatePlayers; ++i) {
    Player p;
    p.late = i >= kEarlyPlayers;
    p.kind = i == 0 || i == 1 ? Kind::kRtmp2src : i % 2 == 0 ? Kind::kFfmpeg : Kind::kRtmpdump;
    const char* kind = p.kind == Kind::kFfmpeg     ? "ffmpeg"
                       : p.kind == Kind::kRtmpdump ? "rtmpdump"
                                                   : "rtmp2src";
    p.name = std::string(kind) + "-" + std::to_string(i) + (p.late ? "-late" : "");
    p.out = dir_ / (p.name + (p.kind == Kind::kFfmpeg ? ".framemd5" : ".flv"));
    players.push_back(std::move(p));
  }
  for (auto& p : players) {
    if (!p.late) start(p);
  }
  ClientConfig stalled_config;
  stalled_config.role = ClientRole::kPlay;
  stalled_config.url = *parse_url(url_);
  stalled_config.capabilities = default_server_capabilities();
  SocketPlayer stalled(stalled_config);
  std::string stalled_peer;
  ASSERT_TRUE(stalled.start_on(stalled_socket(static_cast<uint16_t>(port), &stalled_peer)).ok())
      << "the stalled player";
  ASSERT_TRUE(wait_players(kEarlyPlayers + 1, 30'000))
      << joined_ << " of " << kEarlyPlayers + 1 << " players joined";
  const uint64_t rss_joined = rss_bytes();

  Observed o;
  const uint64_t t0 = now_ms();
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  run(o, players, kEarlyPlayers + kLatePlayers + 1);
  const uint64_t rss_end = rss_bytes();
  ASSERT_GE(o.eos_ms, 0) << "no EOS";

  // At EOS the players get Stream EOF + Play.Stop and end by themselves.
  for (auto& p : players) {
    ASSERT_TRUE(p.child) << p.name << " never started";
    EXPECT_EQ(p.child->wait(15'000), 0) << p.name << " did not end cleanly";
  }
  const int64_t players_done_ms = static_cast<int64_t>(now_ms() - t0);

  std::printf(
      "[ figures ] %d players + 1 stalled, %d s of %.1f Mbit/s: EOS after %.1f s, players all "
      "ended %.1f s after PLAYING\n"
      "[ figures ] RSS idle %.1f MiB, with %d players joined %.1f MiB (%.0f KiB per player), "
      "peak while serving %.1f MiB (+%.1f MiB), at EOS %.1f MiB; %d samples\n"
      "[ figures ] peak player-max-queued-bytes %.0f KiB (cut at %.0f KiB, drop at %.0f KiB), "
      "peak cache-bytes %.0f KiB; stalled player cut back at %.1f s\n"
      "[ figures ] serving costs each player %.0f KiB (the peak growth less the stalled "
      "player's queue and the cache, over %d)\n",
      kEarlyPlayers + kLatePlayers, kSeconds,
      static_cast<double>(std::filesystem::file_size(src_)) * 8 / kSeconds / 1e6,
      static_cast<double>(o.eos_ms) / 1000, static_cast<double>(players_done_ms) / 1000,
      static_cast<double>(rss_idle) / kMiB, kEarlyPlayers + 1,
      static_cast<double>(rss_joined) / kMiB,
      (static_cast<double>(rss_joined) - static_cast<double>(rss_idle)) / (kEarlyPlayers + 1) /
          1024,
      static_cast<double>(o.rss_peak) / kMiB,
      (static_cast<double>(o.rss_peak) - static_cast<double>(rss_idle)) / kMiB,
      static_cast<double>(rss_end) / kMiB, o.samples, static_cast<double>(o.max_queued_peak) / 1024,
      static_cast<double>(kCutBytes) / 1024, static_cast<double>(kDropBytes) / 1024,
      static_cast<double>(o.cache_peak) / 1024, static_cast<double>(o.first_cut_ms) / 1000,
      (static_cast<double>(o.rss_peak) - static_cast<double>(rss_idle) -
       static_cast<double>(o.max_queued_peak) - static_cast<double>(o.cache_peak)) /
          (kEarlyPlayers + kLatePlayers) / 1024,
      kEarlyPlayers + kLatePlayers);
  for (const auto& l : o.left) {
    std::printf("[ figures ] left at %.1f s: %s: %s\n", static_cast<double>(l.at_ms) / 1000,
                l.peer.c_str(), l.reason.c_str());
  }
  std::fflush(stdout);

  // (1) Real time: 20 s of media, a generous margin for a loaded machine, nowhere near what
  // waiting on the stalled player would take (it never reads). Not faster either: the sink's
  // clock paced it (what the players' "real time" means).
  EXPECT_LT(o.eos_ms, kSeconds * 1000 + 6000) << "the pipeline was slowed down";
  EXPECT_GT(o.eos_ms, kSeconds * 1000 - 1500) << "the pipeline did not run at real time";

  // (3) The stalled player, and only it, was cut back, then dropped for not keeping up, while
  // the stream ran; every other player left at the end of the stream.
  int dropped = 0;
  for (const auto& l : o.left) {
    const bool not_keeping_up = l.reason.find("does not keep up") != std::string::npos;
    if (l.peer == stalled_peer) {
      EXPECT_TRUE(not_keeping_up) << "the stalled player left: " << l.reason;
      EXPECT_LT(l.at_ms, o.eos_ms) << "the stalled player was dropped only at the end";
      EXPECT_GE(l.at_ms, o.first_cut_ms) << "dropped before it was seen cut back";
      dropped += not_keeping_up;
    } else {
      EXPECT_FALSE(not_keeping_up) << l.peer << " was dropped: " << l.reason;
      EXPECT_GE(l.at_ms, o.eos_ms - 500) << l.peer << " left before the end: " << l.reason;
    }
  }
  EXPECT_EQ(dropped, 1) << "no player-disconnected message for the stalled player";
  EXPECT_GE(o.first_cut_ms, 0) << "no sample saw the stalled player cut back";
  EXPECT_EQ(o.cut_back_peak, 1u) << "a player that reads was cut back";
  EXPECT_EQ(o.late_joined, kLatePlayers);
  EXPECT_EQ(static_cast<int>(o.left.size()), kEarlyPlayers + kLatePlayers + 1);

  // (4) Memory. The queue of the stalled player: past max-player-queue-bytes it gets no media
  // (it is cut back, so its queue holds at most that plus one message and the headers), and
  // the sink's hard bound is the drop at 8x; the sample that saw it cut back saw at least the
  // cut-back bound queued.
  EXPECT_LE(o.max_queued_peak, kDropBytes);
  EXPECT_GE(o.max_queued_peak, kCutBytes) << "the stalled player was cut back below the bound";
  // The process: the players share one copy of each message (the late-joiner cache holds one
  // GOP, ~0.4 MB here), so serving costs each player its connection and session state (~90 KiB
  // connected, 100-120 KiB serving, measured) and the stalled one at most kDropBytes. Bound: 21 x
  // 512 KiB of per-player state + kDropBytes + 8 MiB for the cache and allocator slack (thread
  // arenas). A player that kept its own copy of what it was sent (7.5 MB each here) is far past it.
  const uint64_t rss_bound =
      (kEarlyPlayers + kLatePlayers + 1) * 512 * 1024 + kDropBytes + 8 * kMiB;
  EXPECT_LE(o.rss_peak - std::min(o.rss_peak, rss_idle), rss_bound)
      << "memory grew with the stream";

  // (2) Every player got the whole stream from its join point, frame for frame.
  const std::vector<size_t> keys = serve::keyframe_indices(src_);
  for (const auto& p : players) {
    const Hashes got = p.kind == Kind::kFfmpeg
                           ? frames::parse_framemd5(run_capture("cat '" + p.out.string() + "'"))
                           : serve::hashes_of_flv(p.out);
    const size_t first =
        serve::expect_tail(got, source_, p.name, /*may_lose_last=*/p.kind == Kind::kRtmp2src);
    EXPECT_EQ(got.extradata, source_.extradata) << p.name << ": sequence headers";
    if (!p.late) {
      EXPECT_EQ(first, 0u) << p.name << " missed the start";
      continue;
    }
    // Joined when the stream was at 8 s: it starts at a keyframe at least 6 s in (the cache
    // has the GOP it joined in), and no later than 14 s (6 s to start a process and connect
    // on a loaded machine): it recorded at least the last 6 s.
    EXPECT_TRUE(std::find(keys.begin(), keys.end(), first) != keys.end())
        << p.name << " started at source frame " << first << ", not a keyframe";
    EXPECT_GE(first, size_t{6 * kFps}) << p.name;
    EXPECT_LE(first, size_t{14 * kFps}) << p.name;
  }
}

}  // namespace
}  // namespace rtmp
