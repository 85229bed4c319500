// The sessions against real peers on loopback:
//  - the byte streams of real publishers (ffmpeg, GStreamer rtmp2sink, librtmp rtmpsink) to
//    nginx-rtmp, recorded by a proxy in the test, replayed into ServerSession: the publish
//    request and every media packet must come out (counts equal ffprobe's);
//  - ClientSession publishing over TCP to nginx-rtmp with `record all`: nginx's recording has
//    the same packets as the source (ffmpeg framemd5).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fstream>
#include <iterator>

#include "protocol/chunk_reader.h"
#include "protocol/client_session.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/server_session.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp {
namespace {

using ertmp_test::have_program;
using ertmp_test::run_capture;

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

size_t ffprobe_packets(const std::filesystem::path& file, const char* stream) {
  std::string out = run_capture(
      "ffprobe -v error -select_streams " + std::string(stream) +
      " -count_packets -show_entries stream=nb_read_packets -of csv=p=0 '" + file.string() + "'");
  return static_cast<size_t>(std::strtoull(out.c_str(), nullptr, 10));
}

// Packet checksums per stream ("stream,size,md5" lines of ffmpeg's framemd5): what must be
// identical between a source and what a server recorded (timestamps may be rebased).
std::vector<std::string> packet_checksums(const std::filesystem::path& p) {
  return ertmp_test::framemd5_lines(p, "$1\",\"$5\",\"$6");
}

struct Replay {
  std::vector<PublishRequested> publishes;
  std::vector<std::string> commands;
  size_t video = 0, audio = 0, metadata = 0, ended = 0, warnings = 0;
  std::optional<Error> error;
};

// Feeds a recorded client->server stream to a ServerSession in `step`-byte reads.
Replay replay(const std::vector<uint8_t>& c2s, size_t step) {
  Replay r;
  ServerSession s(ServerConfig{}, 0);
  for (size_t i = 0; i < c2s.size() && !s.closed(); i += step) {
    auto st = s.receive(Bytes(c2s).subspan(i, std::min(step, c2s.size() - i)), i);
    if (!st.ok()) r.error = st.error();
    while (auto ev = s.next_event()) {
      if (auto p = std::get_if<PublishRequested>(&*ev)) {
        r.publishes.push_back(*p);
        EXPECT_TRUE(s.accept_publish(p->stream_id).ok());
      } else if (auto m = std::get_if<MediaReceived>(&*ev)) {
        EXPECT_FALSE(m->tag_error) << m->tag_error->to_string();
        for (const auto& u : m->tag.units) {
          if (u.packet == PacketKind::kCodedFrames) (u.video ? r.video : r.audio)++;
        }
      } else if (std::holds_alternative<MetadataReceived>(*ev)) {
        ++r.metadata;
      } else if (std::holds_alternative<PublishEnded>(*ev)) {
        ++r.ended;
      } else if (std::holds_alternative<SessionWarning>(*ev)) {
        ++r.warnings;
      }
    }
    s.consume_output(s.pending_output().size());
  }
  // The command sequence, read independently with the chunk reader.
  ChunkReader reader(Limits{});
  if (c2s.size() > 3073) (void)reader.receive(Bytes(c2s).subspan(3073));
  while (auto m = reader.next_message()) {
    if (m->kind() == MessageType::kCommandAmf0) {
      auto c = parse_command(*m, Limits{});
      if (c.ok()) r.commands.push_back(c->name);
    }
  }
  return r;
}

class RtmpPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
    ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(),
                  "nginx-rtmp (Debian packages nginx-light, libnginx-mod-rtmp)");
    dir_ = ertmp_test::make_temp_dir("rtmp");
    src_ = dir_ / "src.flv";
    ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                           "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=44100 -t 3 "
                           "-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac '" +
                           src_.string() + "'")
                              .c_str()),
              0);
    video_ = ffprobe_packets(src_, "v");
    audio_ = ffprobe_packets(src_, "a");
    ASSERT_GT(video_, 0u);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Runs `command` (with %URL% replaced) as a publisher through a recording proxy to nginx.
  std::vector<uint8_t> capture_publish(const std::string& command, const std::string& key) {
    ertmp_test::NginxRtmp nginx;
    EXPECT_TRUE(nginx.ready());
    ertmp_test::RecordingProxy proxy(nginx.port());
    std::string url = "rtmp://127.0.0.1:" + std::to_string(proxy.port()) + "/live/" + key;
    std::string cmd = command;
    cmd.replace(cmd.find("%URL%"), 5, url);
    ertmp_test::Child pub(cmd);
    int rc = pub.wait(60'000);
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_TRUE(proxy.wait_finished(10'000));
    auto bytes = proxy.client_to_server();
    // ERTMP_DUMP_DIR=dir keeps the capture for ertmp-inspect --rtmp (debugging, fixtures).
    if (const char* dump = std::getenv("ERTMP_DUMP_DIR")) {
      std::ofstream(std::filesystem::path(dump) / (key + ".c2s"), std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
    return bytes;
  }

  std::filesystem::path dir_, src_;
  size_t video_ = 0, audio_ = 0;
};

TEST_F(RtmpPeers, FfmpegPublishReplaysIntoServerSession) {
  auto c2s = capture_publish("ffmpeg -hide_banner -loglevel error -i '" + src_.string() +
                                 "' -c copy -f flv '%URL%?token=x'",
                             "ffkey");
  ASSERT_GT(c2s.size(), 3073u);
  for (size_t step : {size_t{1} << 16, size_t{1000}, size_t{7}}) {
    Replay r = replay(c2s, step);
    ASSERT_FALSE(r.error) << r.error->to_string();
    ASSERT_EQ(r.publishes.size(), 1u);
    EXPECT_EQ(r.publishes[0].app, "live");
    EXPECT_EQ(r.publishes[0].stream_name, "ffkey");
    EXPECT_EQ(r.publishes[0].query, "token=x");
    EXPECT_NE(r.publishes[0].flash_ver.find("FMLE"), std::string::npos);
    EXPECT_EQ(r.video, video_) << step;
    EXPECT_EQ(r.audio, audio_) << step;
    EXPECT_EQ(r.metadata, 1u);
    EXPECT_EQ(r.ended, 1u);
  }
  Replay r = replay(c2s, 65536);
  std::vector<std::string> head(r.commands.begin(),
                                r.commands.begin() + std::min<size_t>(5, r.commands.size()));
  EXPECT_EQ(head, (std::vector<std::string>{"connect", "releaseStream", "FCPublish", "createStream",
                                            "publish"}));
}

TEST_F(RtmpPeers, GstreamerRtmp2sinkPublishReplaysIntoServerSession) {
  ERTMP_REQUIRE(have_program("gst-launch-1.0"),
                "gst-launch-1.0 (Debian package gstreamer1.0-tools)");
  auto c2s = capture_publish(
      "gst-launch-1.0 -q filesrc location='" + src_.string() +
          "' ! flvdemux name=d d.video ! queue ! h264parse ! m.video d.audio ! queue ! aacparse ! "
          "m.audio flvmux name=m streamable=true ! rtmp2sink location='%URL%'",
      "gstkey");
  Replay r = replay(c2s, 4096);
  ASSERT_FALSE(r.error) << r.error->to_string();
  ASSERT_EQ(r.publishes.size(), 1u);
  EXPECT_EQ(r.publishes[0].stream_name, "gstkey");
  EXPECT_EQ(r.video, video_);
  EXPECT_EQ(r.audio, audio_);
}

TEST_F(RtmpPeers, LibrtmpRtmpsinkPublishReplaysIntoServerSession) {
  ERTMP_REQUIRE(have_program("gst-launch-1.0") &&
                    std::system("gst-inspect-1.0 rtmpsink >/dev/null 2>&1") == 0,
                "GStreamer's librtmp rtmpsink (Debian package gstreamer1.0-plugins-bad)");
  auto c2s = capture_publish(
      "gst-launch-1.0 -q filesrc location='" + src_.string() +
          "' ! flvdemux name=d d.video ! queue ! h264parse ! m.video d.audio ! queue ! aacparse ! "
          "m.audio flvmux name=m streamable=true ! rtmpsink location='%URL% live=1'",
      "libkey");
  Replay r = replay(c2s, 4096);
  ASSERT_FALSE(r.error) << r.error->to_string();
  ASSERT_EQ(r.publishes.size(), 1u);
  EXPECT_EQ(r.publishes[0].stream_name, "libkey");
  EXPECT_EQ(r.video, video_);
  EXPECT_EQ(r.audio, audio_);
}

// Publishes an FLV file with ClientSession over a real socket.
Status publish_file(uint16_t port, const std::string& key, const std::filesystem::path& file,
                    bool digest) {
  ClientConfig cc;
  cc.url = *parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/live/" + key);
  cc.digest_handshake = digest;
  ertmp_test::SocketPublisher pub(cc);
  RTMP_CHECK(pub.start(port, 200));
  FlvReader reader;
  (void)reader.receive(read_file(file));
  while (auto t = reader.next_tag()) {
    if (t->type != 8 && t->type != 9 && t->type != 18) continue;
    RTMP_CHECK(pub.send(t->type, t->body, static_cast<uint64_t>(t->timestamp)));
  }
  pub.stop();
  return Ok{};
}

TEST_F(RtmpPeers, ClientSessionPublishesToNginxAndTheRecordingMatches) {
  for (bool digest : {false, true}) {
    ertmp_test::NginxRtmp nginx(/*record=*/true);
    ASSERT_TRUE(nginx.ready());
    std::string key = digest ? "ours_digest" : "ours";
    auto st = publish_file(nginx.port(), key, src_, digest);
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    nginx.stop();
    auto rec = nginx.dir() / "rec" / (key + ".flv");
    ASSERT_TRUE(std::filesystem::exists(rec)) << rec;
    auto want = packet_checksums(src_);
    auto got = packet_checksums(rec);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(got.size(), want.size()) << "digest=" << digest;
    size_t differing = 0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) differing += got[i] != want[i];
    EXPECT_EQ(differing, 0u) << "digest=" << digest << " first: " << (got.empty() ? "" : got[0])
                             << " vs " << want[0];
  }
}

}  // namespace
}  // namespace rtmp
