// The one-process relay of docs/rtmppushsink.md: rtmpingestsrc takes a publish on live/in and
// rtmppushsink mode=listener serves it as live/out on the same port, in one pipeline. ffmpeg
// 5.1 publishes an FLV (H.264 with B-frames + AAC) into it in real time while another ffmpeg
// plays live/out: every frame the player gets equals the file's, in order, sequence headers
// included, and the player ends when the publisher does (EOS reaches the sink, the players get
// Play.Stop).
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp {
namespace {

using ertmp_test::Child;
using ertmp_test::have_program;

class Relay : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    dir_ = ertmp_test::make_temp_dir("relay");
  }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::filesystem::path dir_;
  GstElement* pipeline_ = nullptr;
};

TEST_F(Relay, IngestToServeInOnePipelineGivesPlayersEveryFrameThePublisherSent) {
  ERTMP_REQUIRE(have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  const auto src = dir_ / "src.flv";
  ASSERT_TRUE(frames::make_source_flv(src, 6));
  const frames::Hashes source = frames::framemd5_of(src.string());

  const uint16_t port = ertmp_test::free_port();
  const std::string base = "rtmp://127.0.0.1:" + std::to_string(port) + "/live/";
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(("rtmpingestsrc name=in location=" + base +
                                "in rtmppushsink name=out mode=listener location=" + base +
                                "out in.video_0 ! queue ! out.video_0 in.audio_0 ! queue ! "
                                "out.audio_0")
                                   .c_str(),
                               &err);
  ASSERT_TRUE(pipeline_) << (err ? err->message : "");
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  // The player first: it plays live/out before anything is published, and gets it all.
  const auto played = dir_ / "played.framemd5";
  Child player("exec ffmpeg -hide_banner -loglevel error -i '" + base +
               "out' -map 0 -c copy -f framemd5 '" + played.string() + "'");
  ASSERT_TRUE(ertmp_test::wait_element_message(pipeline_, "rtmppushsink-player-connected", "peer",
                                               "127.0.0.1", 10'000))
      << "the player did not reach the sink";
  Child publisher("exec ffmpeg -hide_banner -loglevel error -re -i '" + src.string() +
                  "' -c copy -f flv '" + base + "in'");
  EXPECT_EQ(publisher.wait(30'000), 0) << "the publish into rtmpingestsrc failed";
  // The publisher's end is EOS through the pipeline; the sink tells its players the stream
  // stopped, and ffmpeg ends by itself.
  EXPECT_EQ(player.wait(20'000), 0) << "the player did not end with the stream";

  std::ifstream in(played);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  frames::expect_same(frames::parse_framemd5(text), source, "ffmpeg playing live/out");

  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  EXPECT_EQ(error, nullptr) << "the relay pipeline posted an error";
  if (error) gst_message_unref(error);
  gst_object_unref(bus);
}

}  // namespace
}  // namespace rtmp
