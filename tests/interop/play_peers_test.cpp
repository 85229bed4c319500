// Play against real peers, at the protocol level (no GStreamer elements of ours):
//  - pull: our ClientSession in the play role plays what ffmpeg publishes into nginx-rtmp and
//    into node-media-server; every packet it gets is byte-identical to the source (ffmpeg's
//    framemd5 of the file against MD5s of the payloads we received);
//  - serve: a ServerSession driven by a small blocking-socket loop in the test serves a
//    recorded FLV through the PlayCache (the player joins mid-stream: metadata, headers, the
//    GOP from the last keyframe, then the rest live) to ffprobe/ffmpeg 5.1, rtmpdump (librtmp)
//    and rtmp2src; what they record equals what was served.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "protocol/client_session.h"
#include "protocol/crypto.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/play_cache.h"
#include "protocol/server_session.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/node_media_server.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/interop/socket_player.h"

namespace rtmp {
namespace {

using ertmp_test::Child;
using ertmp_test::have_program;
using ertmp_test::run_capture;
using namespace rtmp::frames;  // NOLINT: the shared hash helpers

uint64_t now_ms() {
  return steady_now_ms();
}

class PlayPeers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_program("ffmpeg")) return;
    dir_ = ertmp_test::make_temp_dir("play");
    src_ = dir_ / "src.flv";
    if (!make_source_flv(src_, 3)) src_.clear();  // as the publish interop tests
    if (!src_.empty()) source_ = framemd5_of(src_.string());
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

  // Plays `url` from `port` with our ClientSession, then publishes the source with ffmpeg at
  // real time to `publish_url`, and collects until every source frame arrived (or `eof`).
  void pull(uint16_t port, const std::string& url, const std::string& publish_url,
            const std::string& who) {
    ClientConfig cc;
    cc.role = ClientRole::kPlay;
    cc.url = *parse_url(url);
    cc.capabilities = default_server_capabilities();
    SocketPlayer player(cc);
    auto st = player.start(port);
    ASSERT_TRUE(st.ok()) << who << ": " << st.error().to_string();
    Child pub("exec ffmpeg -hide_banner -loglevel error -re -i '" + src_.string() +
              "' -c copy -f flv '" + publish_url + "'");
    const size_t want = source_.frames.at("video").size() + source_.frames.at("audio").size();
    EXPECT_TRUE(player.run_until([&] { return player.frames() >= want; }, 20'000))
        << who << ": got " << player.frames() << " of " << want << " frames";
    EXPECT_EQ(pub.wait(10'000), 0) << who << ": ffmpeg publish";
    expect_same(player.hashes(), source_, who);
    ASSERT_FALSE(player.metadata().empty()) << who;
    EXPECT_EQ(player.metadata()[0].handler, "onMetaData") << who;
    EXPECT_EQ(player.metadata()[0].values.at(0).get_number("width"), 320.0) << who;
    last_player_statuses_.clear();
    for (const auto& s : player.statuses()) last_player_statuses_.push_back(s.code);
    saw_eof_ = player.run_until([&] { return player.saw_control(UserControlType::kStreamEof); },
                                eof_wait_ms_);
  }

  static inline std::filesystem::path dir_, src_;
  static inline Hashes source_;
  std::vector<std::string> last_player_statuses_;
  bool saw_eof_ = false;
  int eof_wait_ms_ = 0;
};

TEST_F(PlayPeers, ClientSessionPullsFfmpegsPublishFromNginxByteIdentical) {
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  eof_wait_ms_ = 5000;  // nginx-rtmp sends Stream EOF to players when the publisher leaves
  pull(nginx.port(), nginx.url("pullkey"), nginx.url("pullkey"), "nginx-rtmp");
  EXPECT_TRUE(saw_eof_);
  EXPECT_NE(
      std::find(last_player_statuses_.begin(), last_player_statuses_.end(), "NetStream.Play.Start"),
      last_player_statuses_.end());
}

TEST_F(PlayPeers, ClientSessionPullsFfmpegsPublishFromNodeMediaServerByteIdentical) {
  ERTMP_REQUIRE(ertmp_test::NodeMediaServer::available(),
                "node-media-server (tools/install-deps.sh, npm)");
  ertmp_test::NodeMediaServer nms;
  ASSERT_TRUE(nms.start()) << nms.log();
  pull(nms.rtmp_port(), nms.url("live", "pullkey"), nms.url("live", "pullkey"),
       "node-media-server");
  EXPECT_NE(
      std::find(last_player_statuses_.begin(), last_player_statuses_.end(), "NetStream.Play.Start"),
      last_player_statuses_.end());
}

// --- serve: ServerSession + PlayCache over a blocking socket ------------------------------

// Serves the FLV `file` to the one player that connects to port(): the first `live_from_ms`
// of it are pushed into a PlayCache before the player arrives (the stream is "already
// running"), the player gets join() and then the rest, then Stream EOF + Play.Stop. Every
// message sent to the player is kept in served().
class FlvServer {
 public:
  FlvServer(std::filesystem::path file, uint64_t live_from_ms)
      : file_(std::move(file)), live_from_ms_(live_from_ms) {
    listen_fd_ = ertmp_test::listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~FlvServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& key) const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }
  // Waits (bounded) for the connection to end; then served()/request() are final.
  bool wait_done(int timeout_ms) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [this] { return done_; });
  }
  const std::vector<Message>& served() const { return served_; }
  const std::optional<PlayRequested>& request() const { return request_; }
  const std::string& failure() const { return failure_; }

 private:
  void run() {
    pollfd lp{listen_fd_, POLLIN, 0};
    int fd = -1;
    const uint64_t accept_deadline = now_ms() + 30'000;
    while (!stop_ && fd < 0 && now_ms() < accept_deadline) {
      if (poll(&lp, 1, 50) > 0) fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (fd >= 0) {
      serve(fd);
      close(fd);
    }
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }

  void serve(int fd) {
    // The stream as it was before the player came: into the cache.
    FlvReader reader;
    (void)reader.receive(read_file(file_));
    PlayCache cache;
    std::vector<FlvFileTag> rest;
    while (auto t = reader.next_tag()) {
      if (static_cast<uint64_t>(t->timestamp) < live_from_ms_) {
        Message m;
        m.type = t->type;
        m.timestamp = static_cast<uint64_t>(t->timestamp);
        m.payload = std::move(t->body);
        (void)cache.push(std::move(m));
      } else {
        rest.push_back(std::move(*t));
      }
    }

    ServerSession session(ServerConfig{}, now_ms());
    PlayerGate gate;
    uint32_t sid = 0;
    PeerCapabilities caps;
    bool finished = false;
    auto offer = [&](const SharedItem& item) {
      if (!item || admit_tag(*item, caps) != Admission::kAllowed) return;
      if (gate.offer(*item, session.pending_output().size(), now_ms()) != GateVerdict::kSend) {
        return;
      }
      EXPECT_TRUE(session.send_media(sid, item->message).ok());
      served_.push_back(item->message);
    };
    uint64_t deadline = now_ms() + 30'000;
    uint8_t buf[65536];
    while (!stop_ && now_ms() < deadline) {
      // Write what is pending (the player may read slowly), then read.
      Bytes out = session.pending_output();
      pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
      if (poll(&p, 1, 50) < 0) break;
      if (p.revents & POLLOUT) {
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (n > 0) session.consume_output(static_cast<size_t>(n));
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;  // the player hung up: done
        (void)session.receive(Bytes(buf, static_cast<size_t>(n)), now_ms());
      }
      while (auto ev = session.next_event()) {
        if (auto r = std::get_if<PlayRequested>(&*ev)) {
          request_ = *r;
          Admission a = cache.admit(r->peer_caps);
          if (a != Admission::kAllowed) {
            (void)session.reject_play(r->stream_id, PlayRejection::kNoSupportedTrack,
                                      admission_reason(a));
            continue;
          }
          EXPECT_TRUE(session.accept_play(r->stream_id).ok());
          sid = r->stream_id;
          caps = r->peer_caps;
          for (const auto& item : cache.join()) offer(item);
          for (auto& t : rest) {
            Message m;
            m.type = t.type;
            m.timestamp = static_cast<uint64_t>(t.timestamp);
            m.payload = std::move(t.body);
            offer(cache.push(std::move(m)));
          }
          EXPECT_TRUE(session.notify_play(sid, PlayNotice::kStopped).ok());
          finished = true;
        } else if (auto cl = std::get_if<SessionClosed>(&*ev); cl && cl->error) {
          failure_ = cl->error->to_string();
        }
      }
      if (session.closed() && session.pending_output().empty()) break;
      // Everything is out after Play.Stop: give the player 5 s to hang up, then close.
      if (finished && session.pending_output().empty()) {
        deadline = std::min(deadline, now_ms() + 5000);
        finished = false;
      }
    }
  }

  std::filesystem::path file_;
  uint64_t live_from_ms_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<Message> served_;
  std::optional<PlayRequested> request_;
  std::string failure_;
};

// What a recorder keeps of the served messages. rtmp2src drops video messages under 6 bytes
// and audio under 2 (gst-rtmp2-flv.md 1.4), and librtmp (rtmpdump) drops the same short video:
// here that is the 5-byte AVC end-of-sequence tag ffmpeg writes at the end of the file.
std::vector<MediaTag> media_tags_of(const std::vector<Message>& msgs) {
  std::vector<MediaTag> out;
  for (const auto& m : msgs) {
    if ((m.type == 9 && m.payload.size() >= 6) || (m.type == 8 && m.payload.size() >= 2)) {
      out.push_back({m.type, m.timestamp, m.payload});
    }
  }
  return out;
}
// The recorder's script tags include the onMetaData we served (byte for byte).
bool recorded_served_metadata(const std::filesystem::path& file,
                              const std::vector<Message>& served) {
  FlvReader r;
  EXPECT_TRUE(r.receive(read_file(file)).ok());
  std::vector<std::vector<uint8_t>> scripts;
  while (auto t = r.next_tag()) {
    if (t->type == 18) scripts.push_back(std::move(t->body));
  }
  for (const auto& m : served) {
    if (m.type == 18 && std::find(scripts.begin(), scripts.end(), m.payload) == scripts.end()) {
      return false;
    }
  }
  return true;
}

Hashes hashes_of_messages(const std::vector<Message>& msgs) {
  Hashes h;
  for (const auto& m : msgs) add_tag(h, m.type, m.payload);
  return h;
}

// What the player got must be exactly what we served, and the serving must have gone
// through the cache: the first video frame is the keyframe at 1 s, not the file's first.
void expect_served_from_the_keyframe(const FlvServer& server, const Hashes& source) {
  const auto& served = server.served();
  ASSERT_FALSE(served.empty());
  size_t first_video = 0;
  while (first_video < served.size() &&
         !(served[first_video].type == 9 && served[first_video].payload.size() > 1 &&
           served[first_video].payload[1] == 1)) {
    ++first_video;
  }
  ASSERT_LT(first_video, served.size());
  EXPECT_EQ(served[first_video].timestamp, 1000u);
  EXPECT_EQ(served[first_video].payload[0] >> 4, 1) << "not a keyframe";
  // The served frames are the tail of the source's, from that keyframe on.
  Hashes h = hashes_of_messages(served);
  const auto& src_video = source.frames.at("video");
  const auto& got_video = h.frames.at("video");
  ASSERT_LT(got_video.size(), src_video.size());
  EXPECT_TRUE(std::equal(got_video.begin(), got_video.end(),
                         src_video.end() - static_cast<long>(got_video.size())));
}

// A recorder's FLV against what was served: the audio/video tags (type, timestamp, body)
// byte-identical and in order, the metadata present. `may_lose_last`: rtmp2src hands each
// message to its streaming thread through a one-message slot, and its Stream EOF handler
// stops the loop, which then drops a message still in the slot (gstrtmp2src.c,
// control_callback -> stop_task; the task's cleanup replaces self->message with NULL): under
// load the last message is lost, whoever the server is (nginx-rtmp too). Only that one, and
// only the last, is tolerated.
void expect_recorded_what_was_served(const std::filesystem::path& flv, const FlvServer& server,
                                     const Hashes& source, const std::string& who,
                                     bool may_lose_last = false) {
  expect_served_from_the_keyframe(server, source);
  auto got = media_tags_of_flv(flv);
  auto want = media_tags_of(server.served());
  ASSERT_FALSE(want.empty());
  if (may_lose_last && got.size() + 1 == want.size()) want.pop_back();
  EXPECT_EQ(got.size(), want.size()) << who;
  size_t first = 0;
  while (first < got.size() && first < want.size() && got[first] == want[first]) ++first;
  EXPECT_TRUE(got == want) << who << "'s recording differs from what was served at tag " << first
                           << " of " << want.size();
  EXPECT_TRUE(recorded_served_metadata(flv, server.served())) << who;
}

TEST_F(PlayPeers, FfmpegAndFfprobePlayFromServerSessionThroughThePlayCache) {
  {
    FlvServer server(src_, 1500);
    std::string out = run_capture("ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '" +
                                  server.url("probe") + "'");
    ASSERT_TRUE(server.wait_done(10'000));
    EXPECT_EQ(ertmp_test::split_lines(out), (std::vector<std::string>{"h264", "aac"}))
        << out << server.failure();
  }
  FlvServer server(src_, 1500);
  Hashes got = framemd5_of(server.url("key"));
  ASSERT_TRUE(server.wait_done(10'000));
  ASSERT_TRUE(server.request());
  EXPECT_EQ(server.request()->stream_name, "key");
  EXPECT_FALSE(server.request()->peer_caps.present_any);  // ffmpeg 5.1 advertises no E-RTMP
  expect_served_from_the_keyframe(server, source_);
  expect_same(got, hashes_of_messages(server.served()), "ffmpeg");
}

TEST_F(PlayPeers, RtmpdumpRecordsWhatServerSessionServed) {
  ERTMP_REQUIRE(have_program("rtmpdump"), "rtmpdump (Debian package rtmpdump)");
  FlvServer server(src_, 1500);
  auto out = dir_ / "rtmpdump.flv";
  auto log = dir_ / "rtmpdump.log";
  Child dump("exec rtmpdump -r '" + server.url("key") + "' -o '" + out.string() + "' 2>'" +
             log.string() + "'");
  int rc = dump.wait(20'000);
  ASSERT_TRUE(server.wait_done(10'000));
  // rtmpdump exits 2 ("Download may be incomplete") when the last timestamp falls short of
  // 99.9% of onMetaData's duration: this file's last tag is at 3.06 s of 3.07 s. The recording
  // itself is checked tag for tag below.
  const std::string why = run_capture("cat '" + log.string() + "'");
  EXPECT_TRUE(rc == 0 || (rc == 2 && why.find("downloaded about 99.") != std::string::npos))
      << "rtmpdump exit " << rc << "; its log:\n"
      << why;
  expect_recorded_what_was_served(out, server, source_, "rtmpdump");
}

TEST_F(PlayPeers, Rtmp2srcRecordsWhatServerSessionServed) {
  ERTMP_REQUIRE(have_program("gst-launch-1.0") &&
                    std::system("gst-inspect-1.0 rtmp2src >/dev/null 2>&1") == 0,
                "rtmp2src (Debian gstreamer1.0-plugins-bad)");
  FlvServer server(src_, 1500);
  auto out = dir_ / "rtmp2src.flv";
  Child gst("exec gst-launch-1.0 -q rtmp2src location='" + server.url("key") +
            "' ! filesink location='" + out.string() + "'");
  int rc = gst.wait(20'000);
  ASSERT_TRUE(server.wait_done(10'000));
  EXPECT_EQ(rc, 0) << "gst-launch exit";
  // rtmp2src writes an FLV header, then one tag per audio/video/data message.
  expect_recorded_what_was_served(out, server, source_, "rtmp2src", /*may_lose_last=*/true);
}

}  // namespace
}  // namespace rtmp
