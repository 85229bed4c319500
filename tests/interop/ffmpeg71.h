// Debian 13's ffmpeg 7.1 as a real third-party E-RTMP peer (it publishes and listens with
// hvc1/av01/vp09 FourCC video; Debian 12's ffmpeg 5.1 speaks no E-RTMP).
//
// Where it comes from: tools/install-ffmpeg71.sh debootstraps Debian trixie into
// ${ERTMP_FFMPEG71_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-ertmp/trixie}, installs ffmpeg there
// and writes ertmp-bin/ffmpeg and ertmp-bin/ffprobe, which run the chroot's programs through the
// chroot's dynamic loader: no chroot(2), no root, loopback networking like any other program.
//
// Use: ERTMP_REQUIRE_FFMPEG71() at the top of a test (fails in CI, skips elsewhere), then
// Ffmpeg71::command("-i x -c copy y") for a shell command line (Child, std::system), and
// Ffmpeg71::packets(file) / stream(file, i) for ffprobe's own reading of a file.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/interop/rtmp_peers.h"

namespace ertmp_test {

class Ffmpeg71 {
 public:
  static std::filesystem::path dir() {
    if (const char* d = std::getenv("ERTMP_FFMPEG71_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
      return std::filesystem::path(x) / "gst-ertmp" / "trixie";
    }
    const char* h = std::getenv("HOME");
    return std::filesystem::path(h ? h : "/root") / ".cache" / "gst-ertmp" / "trixie";
  }
  static std::filesystem::path ffmpeg() { return dir() / "ertmp-bin" / "ffmpeg"; }
  static std::filesystem::path ffprobe() { return dir() / "ertmp-bin" / "ffprobe"; }

  // Both wrappers are there and the install finished (its stamp names the version).
  static bool available() {
    std::error_code ec;
    return std::filesystem::exists(dir() / ".ertmp-ffmpeg71", ec) &&
           access(ffmpeg().c_str(), X_OK) == 0 && access(ffprobe().c_str(), X_OK) == 0;
  }
  // "ffmpeg 7:7.1.5-0+deb13u1 (Debian trixie)", from the install stamp.
  static std::string version() {
    std::ifstream in(dir() / ".ertmp-ffmpeg71");
    std::string line;
    std::getline(in, line);
    return line;
  }
  static std::string requirement() {
    return "Debian 13's ffmpeg 7.1 in " + dir().string() +
           " (tools/install-ffmpeg71.sh, run by tools/install-deps.sh unless ERTMP_SKIP_FFMPEG71)";
  }

  // A shell command line running ffmpeg 7.1 with `args` (quote paths in them yourself).
  static std::string command(const std::string& args, const std::string& loglevel = "error") {
    return "'" + ffmpeg().string() + "' -hide_banner -nostdin -loglevel " + loglevel + " " + args;
  }
  static std::string probe_command(const std::string& args) {
    return "'" + ffprobe().string() + "' -hide_banner -loglevel error " + args;
  }

  // One packet as ffmpeg 7.1 reads it from a file (ffprobe -show_packets -show_data_hash MD5).
  struct Packet {
    int stream = 0;
    int64_t pts = 0;  // in the stream's time base (1/1000 for FLV)
    int64_t dts = 0;
    bool key = false;
    size_t size = 0;
    std::string md5;  // hex
  };
  static std::vector<Packet> packets(const std::filesystem::path& file) {
    std::vector<Packet> out;
    for (const auto& line : split_lines(run_capture(probe_command(
             "-show_entries packet=stream_index,pts,dts,size,flags,data_hash -show_data_hash MD5 "
             "-of compact=p=0:nk=0 '" +
             file.string() + "'")))) {
      auto f = fields(line);
      Packet p;
      p.stream = std::atoi(f["stream_index"].c_str());
      p.pts = std::atoll(f["pts"].c_str());
      p.dts = std::atoll(f["dts"].c_str());
      p.key = f["flags"].find('K') != std::string::npos;
      p.size = static_cast<size_t>(std::atoll(f["size"].c_str()));
      const std::string& h = f["data_hash"];
      p.md5 = h.rfind("MD5:", 0) == 0 ? h.substr(4) : h;
      out.push_back(p);
    }
    return out;
  }
  // ffprobe's stream fields of stream `index` (codec_name, profile, extradata_hash "MD5:...",
  // color_space, color_transfer, color_primaries, ...) plus the side data it lists, keyed
  // "side_data:<type>:<field>" (mastering display, content light level).
  static std::map<std::string, std::string> stream(const std::filesystem::path& file, int index) {
    std::map<std::string, std::string> out;
    std::string text = run_capture(
        probe_command("-select_streams " + std::to_string(index) +
                      " -show_streams -show_data_hash MD5 -of flat=s=. '" + file.string() + "'"));
    for (const auto& line : split_lines(text)) {
      // streams.stream.0.codec_name="hevc"  /  streams.stream.0.side_data_list.side_data.0.x="y"
      size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      std::string prefix = "streams.stream.0.";
      if (key.rfind(prefix, 0) != 0) continue;
      key = key.substr(prefix.size());
      out[key] = value;
    }
    return out;
  }

 private:
  // "a=1|b=x" -> {a: 1, b: x}
  static std::map<std::string, std::string> fields(const std::string& line) {
    std::map<std::string, std::string> out;
    size_t start = 0;
    while (start <= line.size()) {
      size_t bar = line.find('|', start);
      if (bar == std::string::npos) bar = line.size();
      std::string item = line.substr(start, bar - start);
      size_t eq = item.find('=');
      if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
      start = bar + 1;
    }
    return out;
  }
};

}  // namespace ertmp_test

// The test needs ffmpeg 7.1: fails in CI, skips elsewhere (rtmp_peers.h ERTMP_REQUIRE).
#define ERTMP_REQUIRE_FFMPEG71() \
  ERTMP_REQUIRE(::ertmp_test::Ffmpeg71::available(), ::ertmp_test::Ffmpeg71::requirement())
