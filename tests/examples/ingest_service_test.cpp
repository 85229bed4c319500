// The application examples (examples/ingest_service.py and its C version) as a user runs them,
// against real ffmpeg publishers: authorized keys are recorded to one Matroska file per publish
// that ffprobe reads back packet for packet, refused keys leave no file, statistics come out
// as JSON, and SIGINT finalizes the open recording and exits with status 0 in a bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/interop/rtmp_peers.h"

namespace fs = std::filesystem;
using ertmp_test::Child;
using ertmp_test::have_program;
using ertmp_test::run_capture;
using ertmp_test::split_lines;
using Clock = std::chrono::steady_clock;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A python3 with PyGObject and GStreamer's typelib: $ERTMP_PYTHON, python3 on PATH, or
// Debian's /usr/bin/python3 (PATH may lead to another interpreter without python3-gi).
std::string python_with_gi() {
  for (std::string p :
       {env("ERTMP_PYTHON"), std::string("python3"), std::string("/usr/bin/python3")}) {
    if (p.empty()) continue;
    std::string cmd = p +
                      " -c \"import gi; gi.require_version('Gst', '1.0'); "
                      "from gi.repository import Gst\" >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return p;
  }
  return "";
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Probe {
  std::vector<std::string> codecs;  // per stream, in order
  size_t video = 0, audio = 0;      // packets
  double duration = -1;             // from the container header; -1 when absent (not finalized)
};

Probe ffprobe(const fs::path& f) {
  Probe p;
  for (const auto& line :
       split_lines(run_capture("ffprobe -v error -count_packets -show_entries "
                               "stream=codec_name,codec_type,nb_read_packets -of csv=p=0 '" +
                               f.string() + "'"))) {
    // codec_name,codec_type,nb_read_packets
    std::vector<std::string> v;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) v.push_back(x);
    if (v.size() < 3) continue;
    p.codecs.push_back(v[0]);  // sorted below: the tracks' order in the file is free
    (v[1] == "video" ? p.video : p.audio) += std::stoul(v[2]);
  }
  std::sort(p.codecs.begin(), p.codecs.end());
  std::string d = run_capture("ffprobe -v error -show_entries format=duration -of csv=p=0 '" +
                              f.string() + "'");
  if (!d.empty() && d.find("N/A") == std::string::npos) p.duration = std::stod(d);
  return p;
}

// What a variant of the example is: how to start it.
struct Variant {
  const char* name;
};

class IngestService : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ERTMP_REQUIRE(have_program("ffmpeg") && have_program("ffprobe"),
                  "ffmpeg and ffprobe (Debian package ffmpeg)");
    if (std::string(GetParam().name) == "python") {
      std::string py = python_with_gi();
      ERTMP_REQUIRE(!py.empty(),
                    "python3 with PyGObject (Debian packages python3-gi, gir1.2-gstreamer-1.0)");
      command_ = py + " -u '" + env("ERTMP_SOURCE_ROOT") + "/examples/ingest_service.py'";
    } else {
      ERTMP_REQUIRE(!env("ERTMP_INGEST_SERVICE_C").empty(), "a C compiler (Debian package gcc)");
      command_ = "'" + env("ERTMP_INGEST_SERVICE_C") + "'";
    }
    dir_ = ertmp_test::make_temp_dir("example");
    port_ = ertmp_test::free_port();
  }
  void TearDown() override {
    service_.reset();
    std::error_code ec;
    if (!dir_.empty() && env("ERTMP_KEEP_EXAMPLE_DIR").empty()) fs::remove_all(dir_, ec);
  }

  void write_keys(const std::string& text) { std::ofstream(dir_ / "keys.txt") << text; }
  void start_service() {
    service_ = std::make_unique<Child>(
        "exec " + command_ + " --keys '" + (dir_ / "keys.txt").string() +
        "' --address 127.0.0.1 --port " + std::to_string(port_) + " --out '" +
        (dir_ / "rec").string() + "' --stats-interval 1 >'" + (dir_ / "service.log").string() +
        "' 2>'" + (dir_ / "service.err").string() + "'");
    ASSERT_TRUE(wait_log("\"event\": \"listening\"", 10'000))
        << log() << read_text(dir_ / "service.err");
  }
  std::string log() const { return read_text(dir_ / "service.log"); }
  // Waits (bounded) until the service's stdout contains `text`. Its output is a file: there is
  // no event to wait on, so this polls.
  bool wait_log(const std::string& text, int timeout_ms, size_t count = 1) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      std::string l = log();
      size_t n = 0;
      for (size_t at = l.find(text); at != std::string::npos; at = l.find(text, at + 1)) ++n;
      if (n >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string url(const std::string& key) const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }
  std::vector<fs::path> recordings() const {
    std::vector<fs::path> files;
    if (fs::exists(dir_ / "rec")) {
      for (const auto& e : fs::directory_iterator(dir_ / "rec")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  // Every stdout line is one JSON object (checked by python3's json module).
  void expect_json_lines() {
    std::string check = "python3 -c \"import json, sys; [json.loads(l) for l in sys.stdin]\" < '" +
                        (dir_ / "service.log").string() + "'";
    EXPECT_EQ(std::system(check.c_str()), 0) << "stdout is not JSON lines:\n" << log();
  }

  std::string command_;
  fs::path dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Child> service_;
};

// alpha and beta publish at the same time (a 3 s H.264 + AAC file, in real time); "revoked" is
// in the key file when the service starts and removed before it publishes (the publish-request
// handler refuses it); "stranger" was never in the file (the listener refuses it).
TEST_P(IngestService, RecordsEachAuthorizedPublisherToItsOwnFileAndRefusesTheRest) {
  const fs::path src = dir_ / "src.flv";
  ASSERT_EQ(std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                         "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t 3 "
                         "-c:v libx264 -preset ultrafast -g 30 -c:a aac '" +
                         src.string() + "'")
                            .c_str()),
            0);
  const Probe sent = ffprobe(src);
  ASSERT_EQ(sent.video, 90u);
  write_keys("# test keys\nalpha\nbeta  # second\nrevoked\n");
  start_service();
  if (HasFatalFailure()) return;
  write_keys("alpha\nbeta\n");  // revoked from now on, without a restart

  auto publish = [&](const std::string& key) {
    return std::make_unique<Child>("exec ffmpeg -hide_banner -loglevel error -re -i '" +
                                   src.string() + "' -c copy -f flv " + url(key) + " 2>/dev/null");
  };
  auto alpha = publish("alpha");
  auto beta = publish("beta");
  EXPECT_EQ(alpha->wait(30'000), 0);
  EXPECT_EQ(beta->wait(30'000), 0);
  EXPECT_NE(publish("revoked")->wait(15'000), 0) << "a revoked key was accepted";
  EXPECT_NE(publish("stranger")->wait(15'000), 0) << "an unknown key was accepted";
  ASSERT_TRUE(wait_log("\"event\": \"recorded\"", 15'000, 2)) << log();

  const std::string l = log();
  EXPECT_TRUE(std::regex_search(
      l,
      std::regex(
          R"("publish-request", "key": "alpha", "app": "live", "peer": "127\.0\.0\.1:\d+", "accepted": true)")))
      << l;
  EXPECT_TRUE(std::regex_search(
      l, std::regex(R"("publish-request", "key": "revoked", .*"accepted": false)")))
      << l;
  EXPECT_EQ(l.find("\"key\": \"stranger\""), std::string::npos) << "no element serves it";
  // Statistics of a live publish: publishing, its peer, frames counted on its pads.
  EXPECT_TRUE(std::regex_search(
      l,
      std::regex(
          R"("alpha": \{"publishing": true, "peer": "127\.0\.0\.1:\d+".*"video_0-frames": [1-9])")))
      << l;

  auto files = recordings();
  ASSERT_EQ(files.size(), 2u) << "one file per accepted publish, none for the refused ones";
  EXPECT_EQ(files[0].filename().string().rfind("alpha-", 0), 0u) << files[0];
  EXPECT_EQ(files[1].filename().string().rfind("beta-", 0), 0u) << files[1];
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    Probe got = ffprobe(f);
    EXPECT_EQ(got.codecs, (std::vector<std::string>{"aac", "h264"}));
    EXPECT_EQ(got.video, sent.video) << "video packets lost or added";
    EXPECT_EQ(got.audio, sent.audio) << "audio packets lost or added";
    EXPECT_NEAR(got.duration, sent.duration, 0.2) << "not finalized, or not what was published";
  }

  service_->signal(SIGINT);
  EXPECT_EQ(service_->wait(5000), 0) << "an idle service did not stop cleanly on SIGINT";
  expect_json_lines();
}

// A live publisher is being recorded when SIGINT arrives: the service ends the recording (the
// file is finalized: ffprobe reads its duration from the header) and exits 0 within 10 s.
TEST_P(IngestService, SigintFinalizesTheOpenRecordingAndExitsZero) {
  write_keys("alpha\n");
  start_service();
  if (HasFatalFailure()) return;
  Child publisher(
      "exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i "
      "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t 60 "
      "-c:v libx264 -preset ultrafast -g 30 -c:a aac -f flv " +
      url("alpha") + " 2>/dev/null");
  // Recording for about 2 s: a stats line with 60 or more video frames.
  ASSERT_TRUE(wait_log("\"event\": \"recording\"", 15'000)) << log();
  std::regex frames(R"re("video_0-frames": (\d+))re");
  auto deadline = Clock::now() + std::chrono::seconds(20);
  size_t seen = 0;
  while (seen < 60 && Clock::now() < deadline) {
    std::string l = log();
    for (auto it = std::sregex_iterator(l.begin(), l.end(), frames); it != std::sregex_iterator();
         ++it) {
      seen = std::max<size_t>(seen, std::stoul((*it)[1]));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polls a file: see wait_log
  }
  ASSERT_GE(seen, 60u) << log();

  auto t0 = Clock::now();
  service_->signal(SIGINT);
  EXPECT_EQ(service_->wait(10'000), 0) << log() << read_text(dir_ / "service.err");
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(),
            10'000);
  EXPECT_NE(log().find("\"event\": \"shutdown\""), std::string::npos);
  EXPECT_NE(log().find("\"event\": \"recorded\""), std::string::npos) << log();

  auto files = recordings();
  ASSERT_EQ(files.size(), 1u);
  Probe got = ffprobe(files[0]);
  EXPECT_EQ(got.codecs, (std::vector<std::string>{"aac", "h264"}));
  EXPECT_GE(got.video, seen) << "frames counted before SIGINT are missing from the file";
  EXPECT_GE(got.duration, 1.9) << "not finalized (no duration in the header) or truncated";
  EXPECT_LE(got.duration, 60.0);
  expect_json_lines();
}

INSTANTIATE_TEST_SUITE_P(Examples, IngestService,
                         ::testing::Values(Variant{"python"}, Variant{"c"}),
                         [](const ::testing::TestParamInfo<Variant>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
