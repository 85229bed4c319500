// Shared by the rtmppushsink mode=listener tests against real players (serve_test,
// serve_load_test): a fixture that replays an FLV file through a listening sink, the command
// lines of the players, and the checks of what a player recorded against the source's frames.
#pragma once

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/flv_file.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp::serve {

using frames::Hashes;

inline bool have_rtmp2src() {
  return ertmp_test::have_program("gst-launch-1.0") &&
         std::system("gst-inspect-1.0 rtmp2src >/dev/null 2>&1") == 0;
}

// The index of every video keyframe of an FLV file, counted over its coded video frames.
inline std::vector<size_t> keyframe_indices(const std::filesystem::path& file) {
  FlvReader r;
  EXPECT_TRUE(r.receive(frames::read_file(file)).ok());
  std::vector<size_t> out;
  size_t n = 0;
  while (auto t = r.next_tag()) {
    if (t->type != 9) continue;
    auto tag = parse_flv_tag(TagType::kVideo, t->body);
    if (!tag.ok()) continue;
    for (const auto& u : tag->units) {
      if (u.packet != PacketKind::kCodedFrames) continue;
      if ((t->body[0] >> 4) == 1) out.push_back(n);
      ++n;
    }
  }
  return out;
}

// The hashes of an FLV file's audio/video tags, as a recorder wrote them.
inline Hashes hashes_of_flv(const std::filesystem::path& file) {
  Hashes h;
  for (const auto& t : frames::media_tags_of_flv(file)) frames::add_tag(h, t.type, t.body);
  return h;
}

// `got`'s frames are the tail of `want`'s for each kind: the player joined at want[kind][size -
// got.size]. Returns the index of the first video frame in the source (SIZE_MAX when not a tail).
// `may_lose_last`: rtmp2src may drop the last message at Stream EOF (see play_peers_test).
inline size_t expect_tail(const Hashes& got, const Hashes& want, const std::string& who,
                          bool may_lose_last) {
  size_t first_video = SIZE_MAX;
  for (const char* kind : {"video", "audio"}) {
    auto g = got.frames.count(kind) ? got.frames.at(kind) : std::vector<std::string>{};
    auto w = want.frames.at(kind);
    EXPECT_FALSE(g.empty()) << who << " got no " << kind;
    if (g.empty()) return SIZE_MAX;
    // Where its first frame sits in the source.
    auto at = std::find(w.begin(), w.end(), g.front());
    EXPECT_NE(at, w.end()) << who << ": its first " << kind << " frame is not the source's";
    if (at == w.end()) return SIZE_MAX;
    std::vector<std::string> tail(at, w.end());
    if (may_lose_last && g.size() + 1 == tail.size()) tail.pop_back();
    EXPECT_EQ(g.size(), tail.size()) << who << " " << kind;
    size_t same = 0;
    while (same < g.size() && same < tail.size() && g[same] == tail[same]) ++same;
    EXPECT_EQ(same, g.size()) << who << " " << kind << ": differs from the source at frame " << same
                              << " of " << g.size();
    if (std::string(kind) == "video") first_video = static_cast<size_t>(at - w.begin());
  }
  return first_video;
}

// Players, as shell commands for ertmp_test::Child. ffmpeg 5.1 writes the framemd5 of what it
// plays; -copyinkf: its stream copy would otherwise hide a start on a non-keyframe by dropping
// it.
inline std::string ffmpeg_play_command(const std::string& url, const std::filesystem::path& out) {
  return "exec ffmpeg -hide_banner -loglevel error -i '" + url +
         "' -map 0 -c copy -copyinkf -f framemd5 '" + out.string() + "'";
}
// rtmp2src records the FLV it outputs.
inline std::string rtmp2src_play_command(const std::string& url, const std::filesystem::path& out) {
  return "exec gst-launch-1.0 -q rtmp2src location='" + url + "' ! filesink location='" +
         out.string() + "'";
}
// rtmpdump (librtmp): -v live, -q quiet; records an FLV file.
inline std::string rtmpdump_play_command(const std::string& url, const std::filesystem::path& out) {
  return "exec rtmpdump -q -v -r '" + url + "' -o '" + out.string() + "'";
}

// A pipeline with a listening rtmppushsink named `sink`, and what went into the sink.
class ServeFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    if (sink_) gst_object_unref(sink_);
  }

  // The pipeline replaying `file` (flvdemux ! flvmux ! rtmppushsink, paced at real time by the
  // sink's clock sync), PAUSED: the sink listens on a free port.
  void replay_paused(const std::filesystem::path& file, const std::string& sink_props = "",
                     const std::function<void()>& before_pause = {}) {
    launch_paused("filesrc location=\"" + file.string() +
                      "\" ! flvdemux name=d flvmux name=m streamable=true ! rtmppushsink "
                      "name=sink mode=listener location=rtmp://127.0.0.1:0/live/key " +
                      sink_props + " d.video ! queue ! m.video d.audio ! queue ! m.audio",
                  before_pause);
  }
  // Any pipeline with a listening rtmppushsink named `sink`; `before_pause` runs on it first.
  void launch_paused(const std::string& desc, const std::function<void()>& before_pause = {}) {
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(desc.c_str(), &err);
    ASSERT_TRUE(pipeline_) << (err ? err->message : "");
    sink_ = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    GstPad* pad = gst_element_get_static_pad(sink_, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &ServeFixture::on_buffer, this, nullptr);
    gst_object_unref(pad);
    if (before_pause) before_pause();
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    gint port = -1;
    g_object_get(sink_, "bound-port", &port, nullptr);
    ASSERT_GT(port, 0);
    url_ = "rtmp://127.0.0.1:" + std::to_string(port) + "/live/key";
  }

  // Waits (bounded) until `n` players joined (rtmppushsink-player-connected messages).
  bool wait_players(int n, int timeout_ms) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    const GstClockTime deadline =
        gst_util_get_timestamp() + static_cast<GstClockTime>(timeout_ms) * GST_MSECOND;
    while (joined_ < n && gst_util_get_timestamp() < deadline) {
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, 100 * GST_MSECOND,
          static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
      if (!msg) continue;
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
        GError* err = nullptr;
        gst_message_parse_error(msg, &err, nullptr);
        ADD_FAILURE() << "bus error while waiting for players: " << err->message;
        g_error_free(err);
      } else if (gst_message_has_name(msg, "rtmppushsink-player-connected")) {
        ++joined_;
      }
      gst_message_unref(msg);
    }
    gst_object_unref(bus);
    return joined_ >= n;
  }

  // Waits (bounded) until a buffer at or past `pts` reached the sink.
  bool wait_stream_at(GstClockTime pts, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock,
                          std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms),
                          [&] { return last_pts_ != GST_CLOCK_TIME_NONE && last_pts_ >= pts; });
  }

  static GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo* info, gpointer data) {
    auto* self = static_cast<ServeFixture*>(data);
    GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
    if (GST_BUFFER_PTS_IS_VALID(buf)) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->last_pts_ = GST_BUFFER_PTS(buf);
      self->cv_.notify_all();
    }
    return GST_PAD_PROBE_OK;
  }

  GstElement* pipeline_ = nullptr;
  GstElement* sink_ = nullptr;
  std::string url_;
  int joined_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  GstClockTime last_pts_ = GST_CLOCK_TIME_NONE;
};

}  // namespace rtmp::serve
