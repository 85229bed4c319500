// FLV files written by real muxers (ffmpeg, GStreamer flvmux) parse tag for tag, and what our
// FLV writer produces is read back by ffmpeg and flvdemux with identical packets.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>

#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp {
namespace {

using ertmp_test::have_program;
using ertmp_test::make_temp_dir;
using ertmp_test::run_capture;

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

struct Counts {
  size_t audio = 0, video = 0, sequence_headers = 0, tags = 0;
};

// Counts coded frames per kind the way ffprobe counts packets (sequence headers excluded).
Counts count_tags(const std::vector<uint8_t>& file, std::vector<FlvFileTag>* keep = nullptr) {
  FlvReader r;
  EXPECT_TRUE(r.receive(file).ok());
  EXPECT_TRUE(r.at_boundary());
  Counts c;
  while (auto t = r.next_tag()) {
    ++c.tags;
    if (t->type == 8 || t->type == 9) {
      auto tag = parse_flv_tag(t->type == 9 ? TagType::kVideo : TagType::kAudio, t->body);
      EXPECT_TRUE(tag.ok()) << (tag.ok() ? "" : tag.error().to_string());
      if (tag.ok()) {
        for (const auto& u : tag->units) {
          if (u.packet == PacketKind::kCodedFrames) {
            (t->type == 9 ? c.video : c.audio)++;
          } else if (u.packet == PacketKind::kSequenceStart) {
            ++c.sequence_headers;
          }
        }
      }
    }
    if (keep) keep->push_back(std::move(*t));
  }
  return c;
}

// ffprobe's packet count for one stream type ("a" or "v").
size_t ffprobe_packets(const std::filesystem::path& file, const char* stream) {
  std::string out = run_capture(
      "ffprobe -v error -select_streams " + std::string(stream) +
      " -count_packets -show_entries stream=nb_read_packets -of csv=p=0 '" + file.string() + "'");
  return static_cast<size_t>(std::strtoull(out.c_str(), nullptr, 10));
}

class FlvPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    ERTMP_REQUIRE(have_program("ffmpeg") && have_program("ffprobe"),
                  "ffmpeg and ffprobe (Debian package ffmpeg)");
    dir_ = make_temp_dir("flv");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(FlvPeers, FfmpegH264AacFileMatchesFfprobeCounts) {
  auto f = dir_ / "ff.flv";
  ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                         "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t 3 "
                         "-c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac '" +
                         f.string() + "'")
                            .c_str()),
            0);
  Counts c = count_tags(read_file(f));
  EXPECT_EQ(c.video, ffprobe_packets(f, "v"));
  EXPECT_EQ(c.audio, ffprobe_packets(f, "a"));
  EXPECT_EQ(c.video, 90u);
  EXPECT_EQ(c.sequence_headers, 2u);
}

TEST_F(FlvPeers, GstreamerFlvmuxFileMatchesFfprobeCounts) {
  ERTMP_REQUIRE(have_program("gst-launch-1.0"),
                "gst-launch-1.0 (Debian package gstreamer1.0-tools)");
  ERTMP_REQUIRE(std::system("gst-inspect-1.0 --exists x264enc && gst-inspect-1.0 --exists "
                            "avenc_aac && gst-inspect-1.0 --exists flvmux") == 0,
                "x264enc, avenc_aac, flvmux (Debian packages gstreamer1.0-plugins-ugly, "
                "gstreamer1.0-libav, gstreamer1.0-plugins-good)");
  auto f = dir_ / "gst.flv";
  int rc = std::system(("gst-launch-1.0 -q videotestsrc num-buffers=90 ! video/x-raw,width=320,"
                        "height=240,framerate=30/1 ! x264enc speed-preset=ultrafast ! h264parse ! "
                        "mux. audiotestsrc num-buffers=140 ! avenc_aac ! aacparse ! mux. flvmux "
                        "name=mux ! filesink location='" +
                        f.string() + "'")
                           .c_str());
  ASSERT_EQ(rc, 0) << "the flvmux pipeline failed";
  Counts c = count_tags(read_file(f));
  EXPECT_EQ(c.video, ffprobe_packets(f, "v"));
  EXPECT_EQ(c.audio, ffprobe_packets(f, "a"));
  EXPECT_EQ(c.video, 90u);
}

TEST_F(FlvPeers, OurRemuxHasIdenticalPacketsForFfmpegAndFlvdemux) {
  auto src = dir_ / "src.flv";
  ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                         "testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 2 -c:v libx264 "
                         "-preset ultrafast -bf 2 -g 25 -c:a aac '" +
                         src.string() + "'")
                            .c_str()),
            0);
  std::vector<FlvFileTag> tags;
  count_tags(read_file(src), &tags);
  std::vector<uint8_t> out;
  FlvWriter::write_header(out, true, true);
  for (const auto& t : tags) FlvWriter::write_tag(out, t.type, t.timestamp, t.body);
  auto ours = dir_ / "ours.flv";
  std::ofstream(ours, std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));

  auto md5 = [](const std::filesystem::path& p) {
    std::string s = run_capture("ffmpeg -hide_banner -loglevel error -i '" + p.string() +
                                "' -map 0 -c copy -f framemd5 - | grep -v '^#'");
    return s;
  };
  std::string a = md5(src), b = md5(ours);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  if (have_program("gst-launch-1.0")) {
    EXPECT_EQ(
        std::system(("gst-launch-1.0 -q filesrc location='" + ours.string() +
                     "' ! flvdemux name=d d.video ! queue ! fakesink d.audio ! queue ! fakesink")
                        .c_str()),
        0);
  }
}

}  // namespace
}  // namespace rtmp
