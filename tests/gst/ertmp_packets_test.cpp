// rtmpingestsrc and the E-RTMP packet forms, at element level, with our own ClientSession as the
// publisher: tag bodies from protocol/'s builders (whose bytes flv_tag_test pins against the
// spec's tables) and, in the *ByteTable* tests, bytes written out here from the spec's examples
// (ertmp-wire.md A.2-A.5), so a builder and parser that agreed on a wrong layout would fail.
//  - ModEx TimestampOffsetNano reaches the buffers' PTS to the nanosecond;
//  - all three multitrack modes (OneTrack, ManyTracks, ManyTracksManyCodecs) give one pad per
//    track with that track's payloads;
//  - Metadata/colorInfo -> caps (and a reset removes them), SequenceEnd -> EOS on that track's
//    pad only (a later SequenceStart starts a new pad), MPEG2TSSequenceStart -> AV1 caps, audio
//    silence -> a GAP event, video Command frames -> the rtmp-video-command event, onMetaData
//    (top level and videoTrackIdInfoMap) -> width/height/framerate, also when it comes late.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "gst/gstrtmpingestsrc.h"
#include "protocol/client_session.h"
#include "protocol/color_info.h"
#include "protocol/command.h"
#include "protocol/crypto.h"
#include "protocol/flv_tag.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/protocol/hdr10.h"

namespace {

using rtmp::Codec;

// Minimal configuration records caps_for() accepts (the element does not decode): an hvcC of
// profile Main, level 3.1, no parameter-set arrays; an av1C of main profile, level 0, 8-bit 4:2:0.
const std::vector<uint8_t> kHvcC = {1,    0x01, 0x60, 0,    0,    0,    0x90, 0,
                                    0,    0,    0,    0,    0x5D, 0xF0, 0x00, 0xFC,
                                    0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F, 0x00};
const std::vector<uint8_t> kAv1C = {0x81, 0x00, 0x0C, 0x00};

struct Sent {
  uint8_t type = 9;
  uint64_t timestamp = 0;
  std::vector<uint8_t> body;
};

// A frame payload unique to (track, index): the MD5 the pad must deliver.
std::vector<uint8_t> frame(uint8_t track, int i) {
  std::vector<uint8_t> f(64 + static_cast<size_t>(i), static_cast<uint8_t>(0x10 * track + i));
  f[0] = track;
  f[1] = static_cast<uint8_t>(i);
  return f;
}

class ErtmpIngest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  }
  void TearDown() override { stop(); }

  void stop() {
    pub_.reset();
    if (!pipeline_) return;
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }

  // rtmpingestsrc on a free port; each pad goes to an appsink named after it. The appsinks do
  // not preroll (async=false): today's element pushes every pad from its connection thread, so
  // two pads that get caps before buffers would otherwise wait on each other's preroll.
  uint16_t start() {
    {
      std::lock_guard<std::mutex> lock(got_.mu);
      added_.clear();
      gaps_.clear();
      custom_.clear();
    }
    GError* err = nullptr;
    GstElement* src = gst_parse_launch("rtmpingestsrc name=src port=0", &err);
    EXPECT_TRUE(src) << (err ? err->message : "");
    if (err) g_error_free(err);
    pipeline_ = gst_pipeline_new("ertmp");
    g_signal_connect(pipeline_, "element-added", G_CALLBACK(+[](GstBin*, GstElement* e, gpointer) {
                       if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "async")) {
                         g_object_set(e, "async", FALSE, nullptr);
                       }
                     }),
                     nullptr);
    gst_bin_add(GST_BIN(pipeline_), src);
    g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), this);
    EXPECT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    int port = 0;
    g_object_get(src, "bound-port", &port, nullptr);
    return static_cast<uint16_t>(port);
  }

  // Starts the element and publishes `messages` with an E-RTMP capable ClientSession, which
  // stays connected (finish() ends the publish).
  void send(const std::vector<Sent>& messages) {
    uint16_t port = start();
    ASSERT_GT(port, 0);
    rtmp::ClientConfig cc;
    cc.url = *rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/live/k");
    cc.capabilities = rtmp::client_capabilities(
        {"hvc1", "av01"}, {},
        rtmp::kCapsExMultitrack | rtmp::kCapsExModEx | rtmp::kCapsExTimestampNanoOffset);
    pub_ = std::make_unique<ertmp_test::SocketPublisher>(cc);
    ASSERT_TRUE(pub_->start(port).ok());
    for (const auto& m : messages) ASSERT_TRUE(pub_->send(m.type, m.body, m.timestamp).ok());
  }
  // Ends the publish and waits for the element's EOS.
  void finish() {
    if (pub_) pub_->stop();
    pub_.reset();
    EXPECT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS);
  }
  void publish(const std::vector<Sent>& messages) {
    send(messages);
    finish();
  }
  // Waits (bounded, popping bus messages in between) until `pred()` holds under got_.mu.
  bool wait_for(const std::function<bool()>& pred, int timeout_ms) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool ok = false;
    while (!(ok = [&] {
      std::lock_guard<std::mutex> lock(got_.mu);
      return pred();
    }()) && std::chrono::steady_clock::now() < deadline) {
      if (GstMessage* m = gst_bus_timed_pop(bus, 20 * GST_MSECOND)) gst_message_unref(m);
    }
    gst_object_unref(bus);
    return ok;
  }

  static Sent video(rtmp::VideoTagSpec spec, uint64_t ts) {
    Sent s;
    s.timestamp = ts;
    auto st = rtmp::build_video_tag(spec, s.body);
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    return s;
  }
  static rtmp::VideoTagSpec spec(rtmp::VideoPacketType packet, std::vector<rtmp::UnitSpec> units,
                                 bool key = true) {
    rtmp::VideoTagSpec s;
    s.frame_type = key ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter;
    s.packet = packet;
    s.force_enhanced = true;
    s.units = std::move(units);
    s.multitrack = rtmp::multitrack_form(s.units);
    return s;
  }
  static std::string md5_of(const std::vector<uint8_t>& b) { return rtmp::to_hex(rtmp::md5(b)); }
  // Two HEVC tracks' SequenceStart (one ManyTracks message) to send first, and six frames of
  // each track in `frames`.
  static std::vector<Sent> two_hevc_tracks(std::vector<std::vector<uint8_t>> (&frames)[2]) {
    std::vector<Sent> messages;
    messages.push_back(video(spec(rtmp::VideoPacketType::kSequenceStart,
                                  {{0, Codec::kHevc, 0, kHvcC}, {1, Codec::kHevc, 0, kHvcC}}),
                             0));
    for (int i = 0; i < 6; ++i) {
      frames[0].push_back(frame(0, i));
      frames[1].push_back(frame(1, i));
    }
    return messages;
  }

  // Every new pad to an appsink named after it ("video_1"; a pad of the same name added again,
  // after a SequenceEnd or a codec change, to "#2video_1"), with a probe on the appsink that
  // records GAP events and custom downstream events (under got_.mu).
  static void on_pad_added(GstElement* src, GstPad* pad, gpointer data) {
    auto* self = static_cast<ErtmpIngest*>(data);
    std::string prefix;
    {
      std::lock_guard<std::mutex> lock(self->got_.mu);
      int n = ++self->added_[GST_PAD_NAME(pad)];
      if (n > 1) prefix = "#" + std::to_string(n);
    }
    ertmp_test::link_to_appsink(src, pad, &self->got_, prefix);
    std::string sink_name = prefix + GST_PAD_NAME(pad);
    GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(src));
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), sink_name.c_str());
    GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(
        sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        +[](GstPad* p, GstPadProbeInfo* info, gpointer d) -> GstPadProbeReturn {
          auto* me = static_cast<ErtmpIngest*>(d);
          GstEvent* ev = GST_PAD_PROBE_INFO_EVENT(info);
          GstObject* owner = gst_pad_get_parent(p);
          std::string name = GST_OBJECT_NAME(owner);
          gst_object_unref(owner);
          std::lock_guard<std::mutex> lock(me->got_.mu);
          if (GST_EVENT_TYPE(ev) == GST_EVENT_GAP) {
            GstClockTime ts, duration;
            gst_event_parse_gap(ev, &ts, &duration);
            me->gaps_[name].push_back(ts);
          } else if (GST_EVENT_TYPE(ev) == GST_EVENT_CUSTOM_DOWNSTREAM) {
            gchar* text = gst_structure_to_string(gst_event_get_structure(ev));
            me->custom_[name].push_back(text);
            g_free(text);
          }
          return GST_PAD_PROBE_OK;
        },
        self, nullptr);
    gst_object_unref(sinkpad);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
  }

  GstElement* pipeline_ = nullptr;
  ertmp_test::Collected got_;
  std::unique_ptr<ertmp_test::SocketPublisher> pub_;
  // Under got_.mu.
  std::map<std::string, int> added_;                        // pad name -> times added
  std::map<std::string, std::vector<GstClockTime>> gaps_;   // sink -> GAP timestamps
  std::map<std::string, std::vector<std::string>> custom_;  // sink -> custom event structures
};

// ModEx TimestampOffsetNano: PTS = DTS + CT + nano, to the nanosecond (29.97 fps frame times
// split by split_timestamp_ns), DTS from the millisecond timestamps.
TEST_F(ErtmpIngest, NanoOffsetsReachThePts) {
  std::vector<Sent> messages;
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kSequenceStart, {{0, Codec::kHevc, 0, kHvcC}}), 0));
  std::vector<std::vector<uint8_t>> frames;
  std::vector<rtmp::SplitTimestamp> times;
  for (int i = 0; i < 10; ++i) frames.push_back(frame(0, i));
  for (int i = 0; i < 10; ++i) {
    times.push_back(rtmp::split_timestamp_ns(static_cast<uint64_t>(i) * 1'001'000'000 / 30));
    auto s = spec(rtmp::VideoPacketType::kCodedFrames,
                  {{0, Codec::kHevc, 0, frames[static_cast<size_t>(i)]}}, i == 0);
    s.nano_offset = times.back().nano;
    messages.push_back(video(s, times.back().ms));
  }
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(got_.md5s["video_0"].size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(got_.md5s["video_0"][i], md5_of(frames[i])) << i;
    EXPECT_EQ(got_.pts["video_0"][i] - got_.dts["video_0"][i], times[i].nano) << i;
    EXPECT_EQ(got_.dts["video_0"][i] - got_.dts["video_0"][0], times[i].ms * GST_MSECOND) << i;
  }
}

// Two video tracks, five instants, in each multitrack mode; track 1 is AV1 in
// ManyTracksManyCodecs. Every pad gets its own track's payloads in order, with its codec's caps.
TEST_F(ErtmpIngest, EveryMultitrackModeGivesOnePadPerTrack) {
  for (auto mode : {rtmp::AvMultitrackType::kOneTrack, rtmp::AvMultitrackType::kManyTracks,
                    rtmp::AvMultitrackType::kManyTracksManyCodecs}) {
    SCOPED_TRACE(static_cast<int>(mode));
    stop();
    {
      std::lock_guard<std::mutex> lock(got_.mu);
      got_.md5s.clear();
      got_.caps.clear();
    }
    const Codec codec1 =
        mode == rtmp::AvMultitrackType::kManyTracksManyCodecs ? Codec::kAv1 : Codec::kHevc;
    const std::vector<uint8_t>& config1 = codec1 == Codec::kAv1 ? kAv1C : kHvcC;
    std::vector<std::vector<uint8_t>> frames[2];
    for (uint8_t t = 0; t < 2; ++t) {
      for (int i = 0; i < 5; ++i) frames[t].push_back(frame(t, i));
    }
    auto pack = [&](rtmp::VideoPacketType packet, std::vector<rtmp::UnitSpec> units,
                    bool key) -> std::vector<rtmp::VideoTagSpec> {
      if (mode != rtmp::AvMultitrackType::kOneTrack) {
        auto s = spec(packet, units, key);
        s.multitrack = mode;
        return {s};
      }
      std::vector<rtmp::VideoTagSpec> out;
      for (auto& u : units) {
        auto s = spec(packet, {u}, key);
        s.multitrack = rtmp::AvMultitrackType::kOneTrack;  // track 0 too
        out.push_back(s);
      }
      return out;
    };
    std::vector<Sent> messages;
    for (auto& s : pack(rtmp::VideoPacketType::kSequenceStart,
                        {{0, Codec::kHevc, 0, kHvcC}, {1, codec1, 0, config1}}, true)) {
      messages.push_back(video(s, 0));
    }
    for (int i = 0; i < 5; ++i) {
      auto i_ = static_cast<size_t>(i);
      for (auto& s :
           pack(rtmp::VideoPacketType::kCodedFrames,
                {{0, Codec::kHevc, 0, frames[0][i_]}, {1, codec1, 0, frames[1][i_]}}, i == 0)) {
        messages.push_back(video(s, static_cast<uint64_t>(i) * 40));
      }
    }
    publish(messages);
    std::lock_guard<std::mutex> lock(got_.mu);
    for (uint8_t t = 0; t < 2; ++t) {
      std::string pad = "video_" + std::to_string(t);
      std::vector<std::string> want;
      for (const auto& f : frames[t]) want.push_back(md5_of(f));
      EXPECT_EQ(got_.md5s[pad], want) << pad;
    }
    EXPECT_EQ(got_.caps["video_0"].rfind("video/x-h265", 0), 0u) << got_.caps["video_0"];
    EXPECT_EQ(got_.caps["video_1"].rfind(codec1 == Codec::kAv1 ? "video/x-av1" : "video/x-h265", 0),
              0u)
        << got_.caps["video_1"];
  }
}

// ---- what rtmpingestsrc does with every other packet type ---------------------------------------

// Metadata/colorInfo before the frames: the track's caps carry colorimetry,
// mastering-display-info and content-light-level from it (codec_caps.h add_color_info_to_caps),
// and a later reset (colorInfo Undefined) renegotiates caps without them before the next frame.
TEST_F(ErtmpIngest, ColorInfoBecomesCapsAndResetRemovesIt) {
  const rtmp::ColorInfo hdr = rtmp::test::hdr10_color_info();
  std::vector<Sent> messages;
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kSequenceStart, {{0, Codec::kHevc, 0, kHvcC}}), 0));
  Sent md;
  ASSERT_TRUE(rtmp::build_color_info_tag(Codec::kHevc, 0, hdr, md.body).ok());
  messages.push_back(md);
  std::vector<std::vector<uint8_t>> frames = {frame(0, 0), frame(0, 1)};
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kHevc, 0, frames[0]}}), 0));
  Sent reset;
  reset.timestamp = 40;
  ASSERT_TRUE(rtmp::build_color_info_tag(Codec::kHevc, 0, rtmp::ColorInfo{}, reset.body).ok());
  messages.push_back(reset);
  messages.push_back(video(
      spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kHevc, 0, frames[1]}}, false), 40));
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& changes = got_.caps_changes["video_0"];
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_NE(changes[0].second.find(std::string("mastering-display-info=(string)") +
                                   rtmp::test::kHdr10MasteringDisplayInfo),
            std::string::npos)
      << changes[0].second;
  EXPECT_NE(changes[0].second.find("content-light-level=(string)1000:400"), std::string::npos);
  EXPECT_NE(changes[0].second.find("colorimetry="), std::string::npos);
  EXPECT_EQ(changes[1].first, 1u);  // from the second frame on
  EXPECT_EQ(changes[1].second.find("mastering-display-info"), std::string::npos);
}

// SequenceEnd on track 1 ends track 1 (EOS on video_1 after its three frames) while the publish
// and track 0 go on (no EOS there until the publisher leaves).
TEST_F(ErtmpIngest, SequenceEndEndsOnlyThatTrack) {
  std::vector<std::vector<uint8_t>> frames[2];
  std::vector<Sent> messages = two_hevc_tracks(frames);
  for (int i = 0; i < 6; ++i) {
    auto i_ = static_cast<size_t>(i);
    std::vector<rtmp::UnitSpec> units = {{0, Codec::kHevc, 0, frames[0][i_]}};
    if (i < 3) units.push_back({1, Codec::kHevc, 0, frames[1][i_]});
    messages.push_back(video(spec(rtmp::VideoPacketType::kCodedFrames, units, i == 0),
                             static_cast<uint64_t>(i) * 40));
    if (i == 2) {
      messages.push_back(
          video(spec(rtmp::VideoPacketType::kSequenceEnd, {{1, Codec::kHevc, 0, {}}}), 80));
    }
  }
  send(messages);
  EXPECT_TRUE(wait_for([&] { return got_.eos_events["video_1"] == 1; }, 10'000))
      << "no EOS on video_1 while the publisher is connected";
  EXPECT_TRUE(wait_for([&] { return got_.md5s["video_0"].size() == 6; }, 10'000));
  {
    std::lock_guard<std::mutex> lock(got_.mu);
    EXPECT_EQ(got_.buffers_before_eos["video_1"], 3u);
    EXPECT_EQ(got_.eos_events["video_0"], 0);
  }
  finish();
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.eos_events["video_0"], 1);
}

// MPEG2TSSequenceStart (an AV1 video descriptor) gives the caps SequenceStart's av1C would.
TEST_F(ErtmpIngest, Mpeg2TsSequenceStartGivesAv1Caps) {
  const std::vector<uint8_t> descriptor = {0x80, 0x04, 0x81, 0x00, 0x0C, 0x00};
  std::vector<Sent> messages;
  messages.push_back(video(
      spec(rtmp::VideoPacketType::kMpeg2TsSequenceStart, {{0, Codec::kAv1, 0, descriptor}}), 0));
  auto f = frame(0, 0);
  messages.push_back(video(spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kAv1, 0, f}}), 0));
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(got_.md5s["video_0"].size(), 1u);
  EXPECT_NE(got_.caps["video_0"].find("codec_data=(buffer)81000c00"), std::string::npos)
      << got_.caps["video_0"];
}

// After a SequenceEnd the track's pad is at EOS; the publisher's next SequenceStart on that track
// starts a new pad of the same name (pad-added again), which carries the new sequence's frames,
// while the other track never stops.
TEST_F(ErtmpIngest, SequenceStartAfterSequenceEndStartsANewPad) {
  std::vector<std::vector<uint8_t>> frames[2];
  std::vector<Sent> messages = two_hevc_tracks(frames);
  for (int i = 0; i < 6; ++i) {
    auto i_ = static_cast<size_t>(i);
    const uint64_t ts = static_cast<uint64_t>(i) * 40;
    if (i == 3) {
      messages.push_back(
          video(spec(rtmp::VideoPacketType::kSequenceEnd, {{0, Codec::kHevc, 0, {}}}), ts));
      messages.push_back(
          video(spec(rtmp::VideoPacketType::kSequenceStart, {{0, Codec::kAv1, 0, kAv1C}}), ts));
    }
    const Codec c0 = i < 3 ? Codec::kHevc : Codec::kAv1;
    messages.push_back(
        video(spec(rtmp::VideoPacketType::kCodedFrames,
                   {{0, c0, 0, frames[0][i_]}, {1, Codec::kHevc, 0, frames[1][i_]}}, i % 3 == 0),
              ts));
  }
  send(messages);
  if (pub_) pub_->stop();
  pub_.reset();
  // The new pad is added by its own task once the old one handed over: the pipeline's EOS can
  // come before it (its sink did not exist yet), so wait for what is asserted.
  EXPECT_TRUE(
      wait_for([&] { return got_.eos_events["#2video_0"] == 1 && got_.eos_events["video_1"] == 1; },
               10'000));
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(added_["video_0"], 2) << "the second sequence on track 0 is a new pad";
  EXPECT_EQ(added_["video_1"], 1);
  std::vector<std::string> first, second, other;
  for (int i = 0; i < 6; ++i) {
    (i < 3 ? first : second).push_back(md5_of(frames[0][static_cast<size_t>(i)]));
    other.push_back(md5_of(frames[1][static_cast<size_t>(i)]));
  }
  EXPECT_EQ(got_.md5s["video_0"], first);
  EXPECT_EQ(got_.md5s["#2video_0"], second);
  EXPECT_EQ(got_.md5s["video_1"], other);
  EXPECT_EQ(got_.eos_events["video_0"], 1);
  EXPECT_EQ(got_.buffers_before_eos["video_0"], 3u);
  EXPECT_EQ(got_.caps["#2video_0"].rfind("video/x-av1", 0), 0u) << got_.caps["#2video_0"];
  EXPECT_EQ(got_.eos_events["#2video_0"], 1) << "the new pad ends with the publish";
  EXPECT_EQ(got_.eos_events["video_1"], 1);
}

// A zero-length audio message (legacy "silence": drain and let the clock drive) becomes a GAP
// event on audio_0 at the message's time, between the frames around it; no buffer.
TEST_F(ErtmpIngest, AudioSilenceBecomesAGapEvent) {
  std::vector<Sent> messages;
  for (int i = 0; i < 5; ++i) {
    Sent a;
    a.type = 8;
    a.timestamp = static_cast<uint64_t>(i) * 20;
    if (i != 2) {
      a.body = {0x72};  // G.711 A-law, 8 kHz mono (legacy: no sequence header)
      auto f = frame(0, i);
      a.body.insert(a.body.end(), f.begin(), f.end());
    }
    messages.push_back(a);
  }
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  ASSERT_EQ(got_.md5s["audio_0"].size(), 4u);
  ASSERT_EQ(gaps_["audio_0"].size(), 1u);
  const auto& dts = got_.dts["audio_0"];
  EXPECT_EQ(gaps_["audio_0"][0] - dts[0], 40 * GST_MSECOND);
  EXPECT_EQ(dts[2] - dts[0], 60 * GST_MSECOND);
}

// Video Command frames, E-RTMP (D1 01: EndSeek) and legacy (57 00: AVC StartSeek), become
// rtmp-video-command events on video_0 in order with its buffers; never buffers.
TEST_F(ErtmpIngest, VideoCommandsBecomeCustomEvents) {
  std::vector<Sent> messages;
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kSequenceStart, {{0, Codec::kHevc, 0, kHvcC}}), 0));
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kHevc, 0, frame(0, 0)}}), 0));
  Sent start_seek{9, 40, {0x57, 0x00}};
  Sent end_seek{9, 80, {0xD1, 0x01}};
  messages.push_back(start_seek);
  messages.push_back(end_seek);
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kHevc, 0, frame(0, 1)}}), 80));
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"].size(), 2u);
  const auto& events = custom_["video_0"];
  ASSERT_EQ(events.size(), 2u);
  GstClockTime dts0 = got_.dts["video_0"][0];
  const std::string want[2] = {"command=(uint)0, command-name=(string)start-seek",
                               "command=(uint)1, command-name=(string)end-seek"};
  const GstClockTime at[2] = {dts0 + 40 * GST_MSECOND, dts0 + 80 * GST_MSECOND};
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(events[static_cast<size_t>(i)].rfind("rtmp-video-command, " + want[i], 0), 0u)
        << events[static_cast<size_t>(i)];
    EXPECT_NE(events[static_cast<size_t>(i)].find("timestamp=(guint64)" + std::to_string(at[i])),
              std::string::npos)
        << events[static_cast<size_t>(i)];
  }
}

// onMetaData gives video caps width/height/framerate as flvdemux's; for track 1 its entry of
// videoTrackIdInfoMap. Sent after the sequence headers and frames, it renegotiates the caps
// before the next buffer.
TEST_F(ErtmpIngest, OnMetaDataAfterTheCapsRenegotiatesThemPerTrack) {
  std::vector<Sent> messages;
  messages.push_back(video(spec(rtmp::VideoPacketType::kSequenceStart,
                                {{0, Codec::kHevc, 0, kHvcC}, {1, Codec::kAv1, 0, kAv1C}}),
                           0));
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kCodedFrames,
                 {{0, Codec::kHevc, 0, frame(0, 0)}, {1, Codec::kAv1, 0, frame(1, 0)}}),
            0));
  auto track1 = rtmp::amf::Value::object({{"width", 640.0}, {"height", 360.0}});
  auto md = rtmp::amf::Value::ecma_array(
      {{"width", 1920.0},
       {"height", 1080.0},
       {"framerate", 29.97},
       {"videoTrackIdInfoMap", rtmp::amf::Value::object({{"1", track1}})}});
  Sent meta;
  meta.type = 18;
  meta.timestamp = 40;
  meta.body = rtmp::build_set_data_frame(md).payload;
  messages.push_back(meta);
  messages.push_back(
      video(spec(rtmp::VideoPacketType::kCodedFrames,
                 {{0, Codec::kHevc, 0, frame(0, 1)}, {1, Codec::kAv1, 0, frame(1, 1)}}, false),
            40));
  publish(messages);
  std::lock_guard<std::mutex> lock(got_.mu);
  const auto& v0 = got_.caps_changes["video_0"];
  const auto& v1 = got_.caps_changes["video_1"];
  ASSERT_EQ(v0.size(), 2u);
  ASSERT_EQ(v1.size(), 2u);
  EXPECT_EQ(v0[0].second.find("width="), std::string::npos) << v0[0].second;
  EXPECT_EQ(v0[1].first, 1u);
  EXPECT_NE(v0[1].second.find("width=(int)1920, height=(int)1080, framerate=(fraction)30000/1001"),
            std::string::npos)
      << v0[1].second;
  EXPECT_EQ(v1[1].first, 1u);
  EXPECT_NE(v1[1].second.find("width=(int)640, height=(int)360"), std::string::npos)
      << v1[1].second;
  EXPECT_EQ(v1[1].second.find("framerate"), std::string::npos) << "track 0's";
}

// ---- byte tables from the spec (ertmp-wire.md A.2-A.5), not from our builders -------------------

// 3-byte big-endian helpers for the tables.
std::vector<uint8_t> u24(size_t v) {
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
const std::vector<uint8_t> kHvc1 = {'h', 'v', 'c', '1'};
const std::vector<uint8_t> kAv01 = {'a', 'v', '0', '1'};
// ManyTracks SequenceStart, both tracks HEVC: 96 10 'hvc1' 00 <len> <hvcC> 01 <len> <hvcC>
std::vector<uint8_t> many_tracks_hevc_start() {
  return cat(
      {{0x96, 0x10}, kHvc1, {0x00}, u24(kHvcC.size()), kHvcC, {0x01}, u24(kHvcC.size()), kHvcC});
}

// A.5: "ManyTracks: 96 11 'hvc1' 00 <len:3> <CT…> 01 <len:3> <CT…>" and ManyTracksManyCodecs
// "96 21 'hvc1' 00 <len:3> … 'av01' 01 <len:3> …" (a FourCC per track, before its id), with
// their SequenceStart forms (packet type 0: no CT), a OneTrack frame (A.5 "96 01 'hvc1' 01
// <CT:3> <NALUs>"), and a ModEx TimestampOffsetNano frame (A.4: 97 02 <nano:3> 01 'hvc1' ...).
TEST_F(ErtmpIngest, SpecByteTablesOfEveryMultitrackFormAndModEx) {
  const std::vector<uint8_t> ct0 = {0, 0, 0}, ct40 = {0, 0, 40};
  std::vector<std::vector<uint8_t>> f0, f1;
  for (int i = 0; i < 5; ++i) {
    f0.push_back(frame(0, i));
    f1.push_back(frame(1, i));
  }
  std::vector<Sent> m;
  m.push_back({9, 0, many_tracks_hevc_start()});
  // ManyTracks key frame, CT 0 and 40: 96 11 'hvc1' 00 <len> <CT> <f> 01 <len> <CT> <f>
  m.push_back({9, 0,
               cat({{0x96, 0x11},
                    kHvc1,
                    {0x00},
                    u24(3 + f0[0].size()),
                    ct0,
                    f0[0],
                    {0x01},
                    u24(3 + f1[0].size()),
                    ct40,
                    f1[0]})});
  // OneTrack inter frame on track 1: A6 01 'hvc1' 01 <CT> <f>; track 0 plain Ex: A1 'hvc1' <CT>
  m.push_back({9, 40, cat({{0xA6, 0x01}, kHvc1, {0x01}, ct0, f1[1]})});
  m.push_back({9, 40, cat({{0xA1}, kHvc1, ct0, f0[1]})});
  // Track 1 changes to AV1: OneTrack SequenceStart 96 00 'av01' 01 <av1C> (no CT, no size)
  m.push_back({9, 80, cat({{0x96, 0x00}, kAv01, {0x01}, kAv1C})});
  // ManyTracksManyCodecs frames: 96 21 'hvc1' 00 <len> <CT> <f> 'av01' 01 <len> <f> (AV1: no CT)
  m.push_back({9, 80,
               cat({{0x96, 0x21},
                    kHvc1,
                    {0x00},
                    u24(3 + f0[2].size()),
                    ct0,
                    f0[2],
                    kAv01,
                    {0x01},
                    u24(f1[2].size()),
                    f1[2]})});
  // ModEx around ManyTracksManyCodecs: 97 02 <nano 500000> 06, then 21 'hvc1' ...
  m.push_back({9, 120,
               cat({{0x97, 0x02},
                    u24(500000),
                    {0x06, 0x21},
                    kHvc1,
                    {0x00},
                    u24(3 + f0[3].size()),
                    ct0,
                    f0[3],
                    kAv01,
                    {0x01},
                    u24(f1[3].size()),
                    f1[3]})});
  // ModEx around a plain frame: 97 02 <nano 1> 01 'hvc1' <CT> <f>; OneTrack AV1 frame on track 1
  m.push_back({9, 160, cat({{0x97, 0x02}, u24(1), {0x01}, kHvc1, ct0, f0[4]})});
  m.push_back({9, 160, cat({{0x96, 0x01}, kAv01, {0x01}, f1[4]})});
  publish(m);
  std::lock_guard<std::mutex> lock(got_.mu);
  std::vector<std::string> want0, want1;
  for (int i = 0; i < 5; ++i) {
    want0.push_back(md5_of(f0[static_cast<size_t>(i)]));
    want1.push_back(md5_of(f1[static_cast<size_t>(i)]));
  }
  EXPECT_EQ(got_.md5s["video_0"], want0);
  // Track 1 changed codec after two frames: a new pad of the same name took the rest.
  EXPECT_EQ(got_.md5s["video_1"], std::vector<std::string>(want1.begin(), want1.begin() + 2));
  EXPECT_EQ(got_.md5s["#2video_1"], std::vector<std::string>(want1.begin() + 2, want1.end()));
  EXPECT_EQ(got_.caps["#2video_1"].rfind("video/x-av1", 0), 0u) << got_.caps["#2video_1"];
  const auto& pts0 = got_.pts["video_0"];
  const auto& dts0 = got_.dts["video_0"];
  ASSERT_EQ(pts0.size(), 5u);
  EXPECT_EQ(pts0[3] - dts0[3], 500'000u) << "nano offset of the ManyTracksManyCodecs message";
  EXPECT_EQ(pts0[4] - dts0[4], 1u);
  EXPECT_EQ(got_.pts["video_1"][0] - got_.dts["video_1"][0], 40 * GST_MSECOND) << "track 1 CT";
  EXPECT_EQ(got_.pts["#2video_1"][1] - got_.dts["#2video_1"][1], 500'000u)
      << "the nano offset applies to every track of its message";
  EXPECT_EQ(got_.keyframes["video_0"], (std::vector<bool>{true, false, true, true, true}));
}

// A.2 Metadata, written out: D4 'hvc1' 02 0009 "colorInfo" 03 "colorConfig" 03
// "transferCharacteristics" 00 <18.0> 00 00 09 00 00 09 (frame type 5 as FFmpeg writes it); and
// A.2 SequenceEnd for track 1 (OneTrack): 96 02 'hvc1' 01.
TEST_F(ErtmpIngest, SpecByteTablesOfMetadataAndSequenceEnd) {
  auto str = [](const std::string& t) {
    std::vector<uint8_t> out = {static_cast<uint8_t>(t.size() >> 8),
                                static_cast<uint8_t>(t.size())};
    out.insert(out.end(), t.begin(), t.end());
    return out;
  };
  const std::vector<uint8_t> hlg = cat({{0xD4},
                                        kHvc1,
                                        {0x02},
                                        str("colorInfo"),
                                        {0x03},
                                        str("colorConfig"),
                                        {0x03},
                                        str("transferCharacteristics"),
                                        {0x00, 0x40, 0x32, 0, 0, 0, 0, 0, 0},  // 18.0 (HLG)
                                        {0x00, 0x00, 0x09, 0x00, 0x00, 0x09}});
  std::vector<Sent> m;
  m.push_back({9, 0, many_tracks_hevc_start()});
  m.push_back({9, 0, hlg});
  for (int i = 0; i < 4; ++i) {
    auto f0 = frame(0, i), f1 = frame(1, i);
    const std::vector<uint8_t> ct = {0, 0, 0};
    std::vector<uint8_t> body = cat({{static_cast<uint8_t>(i == 0 ? 0x96 : 0xA6), 0x11},
                                     kHvc1,
                                     {0x00},
                                     u24(3 + f0.size()),
                                     ct,
                                     f0});
    if (i < 2) body = cat({body, {0x01}, u24(3 + f1.size()), ct, f1});
    m.push_back({9, static_cast<uint64_t>(i) * 40, body});
    if (i == 1) m.push_back({9, 40, cat({{0x96, 0x02}, kHvc1, {0x01}})});
  }
  send(m);
  EXPECT_TRUE(wait_for([&] { return got_.eos_events["video_1"] == 1; }, 10'000));
  EXPECT_TRUE(wait_for([&] { return got_.md5s["video_0"].size() == 4; }, 10'000));
  {
    std::lock_guard<std::mutex> lock(got_.mu);
    EXPECT_EQ(got_.buffers_before_eos["video_1"], 2u);
    EXPECT_EQ(got_.eos_events["video_0"], 0);
    GstCaps* caps = gst_caps_from_string(got_.caps["video_0"].c_str());
    ASSERT_TRUE(caps);
    GstVideoColorimetry c;
    const char* text = gst_structure_get_string(gst_caps_get_structure(caps, 0), "colorimetry");
    ASSERT_TRUE(text) << got_.caps["video_0"];
    ASSERT_TRUE(gst_video_colorimetry_from_string(&c, text));
    EXPECT_EQ(c.transfer, GST_VIDEO_TRANSFER_ARIB_STD_B67);
    gst_caps_unref(caps);
    EXPECT_EQ(got_.caps["video_1"].find("colorimetry"), std::string::npos)
        << "colorInfo is per track";
  }
  finish();
}

// A Metadata packet that is not AMF, and an MPEG2TSSequenceStart for a codec other than AV1 (the
// parser refuses it): a warning each, and the stream goes on.
TEST_F(ErtmpIngest, BrokenMetadataAndForeignMpeg2TsSequenceStartAreSkippedWithAWarning) {
  std::vector<Sent> m;
  m.push_back(video(spec(rtmp::VideoPacketType::kSequenceStart, {{0, Codec::kHevc, 0, kHvcC}}), 0));
  m.push_back({9, 0, cat({{0xD4}, kHvc1, {0x02, 0xFF}})});  // a string longer than the body
  m.push_back({9, 0, cat({{0x95}, kHvc1, {0x80, 0x04, 0x81, 0x00, 0x0C, 0x00}})});
  auto f = frame(0, 0);
  m.push_back(video(spec(rtmp::VideoPacketType::kCodedFrames, {{0, Codec::kHevc, 0, f}}), 0));
  send(m);
  if (pub_) pub_->stop();
  pub_.reset();
  std::vector<std::string> details;
  EXPECT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND, nullptr, &details), GST_MESSAGE_EOS);
  size_t warnings = 0;
  for (const auto& d : details) {
    if (d.rfind("rtmpingestsrc-peer-warning", 0) == 0) ++warnings;
  }
  // Element messages come from the element's poster thread: they may follow the EOS the pad
  // carried. Bounded.
  GstBus* bus = gst_element_get_bus(pipeline_);
  for (int i = 0; i < 50 && warnings < 2; ++i) {
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND, GST_MESSAGE_ELEMENT);
    if (!msg) continue;
    if (gst_structure_has_name(gst_message_get_structure(msg), "rtmpingestsrc-peer-warning")) {
      ++warnings;
    }
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  EXPECT_EQ(warnings, 2u);
  std::lock_guard<std::mutex> lock(got_.mu);
  EXPECT_EQ(got_.md5s["video_0"], std::vector<std::string>{md5_of(f)});
  EXPECT_EQ(got_.caps["video_0"].find("colorimetry"), std::string::npos);
}

}  // namespace
