// Per-frame hashes for tests against real players and recorders: ffmpeg's framemd5 of a file
// or URL, the same hashes computed from FLV tag bodies (legacy and E-RTMP), and the audio/video
// tags of an FLV file a recorder wrote. Shared by the protocol-level play tests and the
// element-level serve tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "protocol/crypto.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp::frames {

using ertmp_test::run_capture;

// `seconds` of H.264 (320x240, 30 fps, B-frames, a keyframe each second) + AAC into the FLV
// `file`, by ffmpeg; `extra` goes before the output. False when ffmpeg fails.
inline bool make_source_flv(const std::filesystem::path& file, int seconds,
                            const std::string& extra = "") {
  return std::system(("ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
                      "testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=44100 -t " +
                      std::to_string(seconds) +
                      " -c:v libx264 -preset ultrafast -bf 2 -g 30 -c:a aac " + extra + " '" +
                      file.string() + "'")
                         .c_str()) == 0;
}

inline std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

// "size,md5" per coded frame and per extradata (sequence header), by media type, in order:
// the form ffmpeg's framemd5 gives and the one we compute from received/served payloads.
struct Hashes {
  std::map<std::string, std::vector<std::string>> frames;  // "video" / "audio"
  std::map<std::string, std::string> extradata;
  bool operator==(const Hashes&) const = default;
};

inline std::string size_md5(Bytes b) {
  Md5Digest d = md5(b);
  return std::to_string(b.size()) + "," + to_hex(Bytes(d.data(), d.size()));
}

// ffmpeg -i INPUT -map 0 -c copy -f framemd5 -: "#media_type N: video", "#extradata N, size,
// md5" and "N, dts, pts, duration, size, md5" lines.
inline Hashes parse_framemd5(const std::string& out) {
  Hashes h;
  std::map<std::string, std::string> type_of;  // stream index -> media type
  std::map<std::string, std::string> extradata;
  auto fields = [](const std::string& line) {
    std::vector<std::string> f;
    size_t start = 0;
    while (start <= line.size()) {
      size_t comma = line.find(',', start);
      if (comma == std::string::npos) comma = line.size();
      std::string v = line.substr(start, comma - start);
      v.erase(0, v.find_first_not_of(' '));
      f.push_back(v);
      start = comma + 1;
    }
    return f;
  };
  for (const auto& line : ertmp_test::split_lines(out)) {
    if (line.rfind("#media_type ", 0) == 0) {
      size_t colon = line.find(':');
      type_of[line.substr(12, colon - 12)] = line.substr(colon + 2);
    } else if (line.rfind("#extradata ", 0) == 0) {
      auto f = fields(line.substr(11));
      if (f.size() == 3) extradata[f[0]] = f[1] + "," + f[2];
    } else if (!line.empty() && line[0] != '#') {
      auto f = fields(line);
      // Packets with side data (an mp4's AAC priming: "S=1, size, md5") have more fields.
      if (f.size() >= 6) h.frames[type_of[f[0]]].push_back(f[4] + "," + f[5]);
    }
  }
  for (const auto& [idx, e] : extradata) h.extradata[type_of[idx]] = e;
  return h;
}

inline Hashes framemd5_of(const std::string& input, const std::string& input_options = "") {
  return parse_framemd5(run_capture("ffmpeg -hide_banner -loglevel error " + input_options +
                                    " -i '" + input + "' -map 0 -c copy -f framemd5 -"));
}

// The same hashes from FLV tag bodies (legacy and E-RTMP alike: units from parse_flv_tag).
inline void add_tag(Hashes& h, uint8_t type, Bytes body) {
  if (type != 8 && type != 9) return;
  auto tag = parse_flv_tag(type == 9 ? TagType::kVideo : TagType::kAudio, body);
  ASSERT_TRUE(tag.ok()) << tag.error().to_string();
  for (const auto& u : tag->units) {
    Bytes unit = body.subspan(u.offset, u.size);
    const char* kind = type == 9 ? "video" : "audio";
    if (u.packet == PacketKind::kCodedFrames) h.frames[kind].push_back(size_md5(unit));
    if (u.packet == PacketKind::kSequenceStart) h.extradata[kind] = size_md5(unit);
  }
}

// Reports the first difference of two hash lists in a readable way.
inline void expect_same(const Hashes& got, const Hashes& want, const std::string& who) {
  for (const char* kind : {"video", "audio"}) {
    const auto& g = got.frames.count(kind) ? got.frames.at(kind) : std::vector<std::string>{};
    const auto& w = want.frames.count(kind) ? want.frames.at(kind) : std::vector<std::string>{};
    ASSERT_FALSE(w.empty()) << who << " " << kind;
    EXPECT_EQ(g.size(), w.size()) << who << " " << kind;
    size_t differing = 0, first = SIZE_MAX;
    for (size_t i = 0; i < std::min(g.size(), w.size()); ++i) {
      if (g[i] != w[i]) {
        ++differing;
        first = std::min(first, i);
      }
    }
    EXPECT_EQ(differing, 0u) << who << " " << kind << " first at " << first;
  }
  EXPECT_EQ(got.extradata, want.extradata) << who;
}

// Audio/video messages as a recorder sees them: type, timestamp, body.
struct MediaTag {
  uint8_t type;
  uint64_t timestamp;
  std::vector<uint8_t> body;
  bool operator==(const MediaTag&) const = default;
};
inline std::vector<MediaTag> media_tags_of_flv(const std::filesystem::path& file) {
  FlvReader r;
  EXPECT_TRUE(r.receive(read_file(file)).ok());
  std::vector<MediaTag> out;
  while (auto t = r.next_tag()) {
    if (t->type == 8 || t->type == 9) {
      out.push_back({t->type, static_cast<uint64_t>(t->timestamp), std::move(t->body)});
    }
  }
  return out;
}

}  // namespace rtmp::frames
