// Debian 13's ffmpeg 7.1 as the third-party E-RTMP peer (tests/interop/ffmpeg71.h):
//
//  - it publishes HEVC, AV1 and VP9 (E-RTMP FourCC tags) into rtmpingestsrc, and every buffer,
//    keyframe flag, composition offset and codec_data equals ffmpeg's own reading (ffprobe) of the
//    file it published;
//  - rtmppushsink publishes x265enc/av1enc/vp9enc output to `ffmpeg -listen`, and the packets
//    ffmpeg records equal the encoder's;
//  - what it sends in connect (fourCcList only when asked), what it answers as a server (no
//    E-RTMP echo), its colorInfo over RTMP read by our parser and ours read by it;
//  - what it cannot do, pinned as its actual behaviour so a version change is noticed: Opus in
//    FLV, avc1/mp4a FourCC tags, ModEx, multitrack.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "gst/codec_caps.h"
#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "protocol/amf0.h"
#include "protocol/caps.h"
#include "protocol/chunk_reader.h"
#include "protocol/color_info.h"
#include "protocol/command.h"
#include "protocol/crypto.h"
#include "protocol/flv_file.h"
#include "protocol/flv_tag.h"
#include "protocol/server_session.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/av1_obu.h"
#include "tests/interop/ffmpeg71.h"
#include "tests/interop/rtmp_peers.h"
#include "tests/protocol/hdr10.h"

namespace {

using ertmp_test::Ffmpeg71;
using ertmp_test::run_capture;

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<rtmp::FlvFileTag> flv_tags(const std::filesystem::path& file) {
  rtmp::FlvReader reader;
  EXPECT_TRUE(reader.receive(read_file(file)).ok()) << file;
  std::vector<rtmp::FlvFileTag> tags;
  while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
  return tags;
}

// ffprobe's stream side data (Ffmpeg71::stream) carries the HDR10 mastering display and content
// light level of tests/protocol/hdr10.h. ffprobe lists the side data in no fixed order: they are
// keyed by type.
void expect_hdr10_side_data(const std::map<std::string, std::string>& st) {
  std::map<std::string, std::map<std::string, std::string>> side;
  for (const auto& [k, v] : st) {
    const std::string prefix = "side_data_list.side_data.";
    if (k.rfind(prefix, 0) != 0) continue;
    std::string rest = k.substr(prefix.size());
    std::string index = rest.substr(0, rest.find('.'));
    side[index][rest.substr(rest.find('.') + 1)] = v;
  }
  std::map<std::string, std::string> mdcv, cll;
  for (auto& [i, fields] : side) {
    if (fields["side_data_type"] == "Mastering display metadata") mdcv = fields;
    if (fields["side_data_type"] == "Content light level metadata") cll = fields;
  }
  EXPECT_EQ(mdcv["red_x"], "177/250");  // 0.708
  EXPECT_EQ(mdcv["red_y"], "73/250");   // 0.292
  EXPECT_EQ(mdcv["green_x"], "17/100");
  EXPECT_EQ(mdcv["green_y"], "797/1000");
  EXPECT_EQ(mdcv["blue_x"], "131/1000");
  EXPECT_EQ(mdcv["blue_y"], "23/500");  // 0.046
  EXPECT_EQ(mdcv["white_point_x"], "3127/10000");
  EXPECT_EQ(mdcv["white_point_y"], "329/1000");
  EXPECT_EQ(mdcv["max_luminance"], "1000/1");
  EXPECT_EQ(mdcv["min_luminance"], "1/200");  // 0.005
  EXPECT_EQ(cll["max_content"], "1000");
  EXPECT_EQ(cll["max_average"], "400");
}

// True once 127.0.0.1:port is in LISTEN state (/proc/net/tcp). ffmpeg -listen accepts exactly
// one connection, so readiness cannot be probed by connecting; polling the kernel's table is the
// only signal there is. Bounded.
bool wait_listening(uint16_t port, int timeout_ms) {
  char want[16];
  std::snprintf(want, sizeof want, ":%04X", port);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    while (std::getline(tcp, line)) {
      // "  1: 0100007F:B391 00000000:0000 0A ..."
      if (line.find(std::string("0100007F") + want) != std::string::npos &&
          line.find(" 0A ") != std::string::npos)
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// `ffmpeg -listen 1 -i rtmp://127.0.0.1:<port>/live/<key> -c copy <out>`: the receiving end.
class FfmpegListener {
 public:
  FfmpegListener(const std::filesystem::path& dir, const std::string& out_name,
                 const std::string& key = "k") {
    port_ = ertmp_test::free_port();
    out_ = dir / out_name;
    log_ = dir / (out_name + ".log");
    child_ = std::make_unique<ertmp_test::Child>(
        Ffmpeg71::command(
            "-y -listen 1 -timeout 30 -i " + url(key) + " -c copy '" + out_.string() + "'",
            "info") +
        " 2>'" + log_.string() + "'");
    ready_ = wait_listening(port_, 10'000);
  }
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  std::string url(const std::string& key = "k") const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }
  // Waits (bounded) for ffmpeg to finish its file after the publisher left; its exit status.
  int finish(int timeout_ms = 30'000) { return child_->wait(timeout_ms); }
  const std::filesystem::path& out() const { return out_; }
  std::string log() const { return read_text(log_); }

 private:
  uint16_t port_ = 0;
  std::filesystem::path out_, log_;
  std::unique_ptr<ertmp_test::Child> child_;
  bool ready_ = false;
};

// Publishes FLV tags (audio, video; script data as @setDataFrame) with our ClientSession.
rtmp::Status publish_tags(uint16_t port, const std::vector<rtmp::FlvFileTag>& tags,
                          const std::string& key = "k") {
  rtmp::ClientConfig cc;
  cc.url = *rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/live/" + key);
  ertmp_test::SocketPublisher pub(cc);
  RTMP_CHECK(pub.start(port));
  for (const auto& t : tags) {
    std::vector<uint8_t> body = t.body;
    if (t.type == 18) {
      auto values = rtmp::amf0::decode_all(t.body, rtmp::Limits{});
      if (!values.ok() || values->size() < 2) continue;
      body = rtmp::build_set_data_frame(values->at(1)).payload;
    }
    RTMP_CHECK(pub.send(t.type, body, static_cast<uint64_t>(t.timestamp)));
  }
  pub.stop(5000);
  return rtmp::Ok{};
}

// The commands (name + command object) a client sent, read from a recorded connection.
std::vector<rtmp::Command> commands_in(const std::vector<uint8_t>& c2s) {
  std::vector<rtmp::Command> out;
  rtmp::ChunkReader reader(rtmp::Limits{});
  if (c2s.size() <= 3073) return out;
  (void)reader.receive(rtmp::Bytes(c2s).subspan(3073));  // after C0 C1 C2
  while (auto m = reader.next_message()) {
    if (m->kind() != rtmp::MessageType::kCommandAmf0) continue;
    auto c = rtmp::parse_command(*m, rtmp::Limits{});
    if (c.ok()) out.push_back(std::move(*c));
  }
  return out;
}

// Every E-RTMP video Metadata unit of a recorded publish, through ServerSession (the ingest's
// own protocol layer, fed in 512-byte reads so the publish is accepted before its media) and
// parse_video_metadata.
std::vector<rtmp::VideoMetadata> metadata_in(const std::vector<uint8_t>& c2s) {
  std::vector<rtmp::VideoMetadata> out;
  rtmp::ServerSession s(rtmp::ServerConfig{}, 0);
  for (size_t i = 0; i < c2s.size() && !s.closed(); i += 512) {
    EXPECT_TRUE(
        s.receive(rtmp::Bytes(c2s).subspan(i, std::min<size_t>(512, c2s.size() - i)), 0).ok());
    while (auto ev = s.next_event()) {
      if (auto p = std::get_if<rtmp::PublishRequested>(&*ev)) {
        EXPECT_TRUE(s.accept_publish(p->stream_id).ok());
      } else if (auto m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        for (const auto& u : m->tag.units) {
          if (u.packet != rtmp::PacketKind::kMetadata) continue;
          auto md =
              rtmp::parse_video_metadata(rtmp::Bytes(m->message.payload).subspan(u.offset, u.size));
          EXPECT_TRUE(md.ok()) << md.error().to_string();
          if (md.ok()) out.push_back(*md);
        }
      }
    }
    s.consume_output(s.pending_output().size());
  }
  return out;
}

class Ffmpeg71Peer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
  void SetUp() override {
    ERTMP_REQUIRE_FFMPEG71();
    dir_ = ertmp_test::make_temp_dir("ff71");
  }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    std::error_code ec;
    if (!dir_.empty() && !std::getenv("ERTMP_KEEP_FF71_DIR")) std::filesystem::remove_all(dir_, ec);
  }

  // A 1 s, 30-frame 320x240 clip encoded by ffmpeg 7.1 into FLV (E-RTMP tags for HEVC, AV1,
  // VP9), keyframes every 15 frames.
  std::filesystem::path ffmpeg_source(const std::string& name, const std::string& codec_args) {
    auto f = dir_ / name;
    std::string cmd =
        Ffmpeg71::command("-y -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 30 " +
                          codec_args + " '" + f.string() + "'");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return f;
  }
  std::filesystem::path hevc_source() {
    return ffmpeg_source("hevc.flv",
                         "-c:v libx265 -preset ultrafast -x265-params "
                         "bframes=2:keyint=15:min-keyint=15:log-level=error "
                         "-colorspace bt2020nc");
  }
  std::filesystem::path av1_source() {
    return ffmpeg_source("av1.flv", "-c:v libsvtav1 -preset 12 -g 15 -svtav1-params log-level=0");
  }
  std::filesystem::path vp9_source() {
    return ffmpeg_source("vp9.flv", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 15");
  }

  // rtmpingestsrc on a free port, every pad to an appsink named after it.
  int start_ingest() {
    GError* err = nullptr;
    src_ = gst_parse_launch("rtmpingestsrc name=src port=0", &err);
    EXPECT_TRUE(src_) << (err ? err->message : "");
    if (err) g_error_free(err);
    pipeline_ = gst_pipeline_new("ingest");
    gst_bin_add(GST_BIN(pipeline_), src_);
    g_signal_connect(src_, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &got_);
    EXPECT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    int port = 0;
    g_object_get(src_, "bound-port", &port, nullptr);
    return port;
  }

  // ffmpeg 7.1 publishes `file` (-c copy, FLV over RTMP) into rtmpingestsrc; then video_0's
  // buffers equal ffmpeg's reading of the file packet for packet.
  void publish_into_ingest_and_compare(const std::filesystem::path& file, const char* what) {
    auto want = Ffmpeg71::packets(file);
    ASSERT_EQ(want.size(), 30u) << what << ": ffprobe packets of the source";
    auto stream = Ffmpeg71::stream(file, 0);
    int port = start_ingest();
    ASSERT_GT(port, 0);
    ertmp_test::Child ff(Ffmpeg71::command(
        "-i '" + file.string() + "' -c copy -rtmp_enhanced_codecs hvc1,av01,vp09 -f flv " +
        "rtmp://127.0.0.1:" + std::to_string(port) + "/live/k"));
    EXPECT_EQ(ff.wait(60'000), 0) << what << ": ffmpeg 7.1 publish";
    EXPECT_EQ(ertmp_test::wait_bus(pipeline_, 20 * GST_SECOND), GST_MESSAGE_EOS) << what;

    std::lock_guard<std::mutex> lock(got_.mu);
    const auto& md5s = got_.md5s["video_0"];
    ASSERT_EQ(md5s.size(), want.size()) << what;
    const auto& dts = got_.dts["video_0"];
    const auto& pts = got_.pts["video_0"];
    const auto& key = got_.keyframes["video_0"];
    size_t b_frames = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(md5s[i], want[i].md5) << what << " packet " << i;
      EXPECT_EQ(key[i], want[i].key) << what << " packet " << i;
      // CT (PTS - DTS) and the DTS spacing, in ffmpeg's milliseconds.
      auto ct = (static_cast<int64_t>(pts[i]) - static_cast<int64_t>(dts[i])) /
                static_cast<int64_t>(GST_MSECOND);
      EXPECT_EQ(ct, want[i].pts - want[i].dts) << what << " packet " << i;
      EXPECT_EQ((dts[i] - dts[0]) / GST_MSECOND, static_cast<uint64_t>(want[i].dts - want[0].dts))
          << what << " packet " << i;
      if (want[i].pts != want[i].dts) ++b_frames;
    }
    EXPECT_EQ(std::count(key.begin(), key.end(), true), 2) << what << ": keyint 15 of 30";
    std::printf(
        "[ ffmpeg 7.1 -> rtmpingestsrc ] %s: %zu packets equal (%zu with CT != 0), caps %s\n", what,
        md5s.size(), b_frames, got_.caps["video_0"].substr(0, 60).c_str());
    caps_ = got_.caps["video_0"];
    extradata_md5_ = stream["extradata_hash"];
    ffprobe_profile_ = stream["profile"];
  }

  // MD5 of the caps' codec_data, "" when none.
  static std::string codec_data_md5(const std::string& caps_text) {
    GstCaps* caps = gst_caps_from_string(caps_text.c_str());
    if (!caps) return "";
    std::string out;
    const GValue* v = gst_structure_get_value(gst_caps_get_structure(caps, 0), "codec_data");
    if (v && GST_VALUE_HOLDS_BUFFER(v)) out = ertmp_test::buffer_md5(gst_value_get_buffer(v));
    gst_caps_unref(caps);
    return out;
  }

  std::filesystem::path dir_;
  GstElement* pipeline_ = nullptr;
  GstElement* src_ = nullptr;
  ertmp_test::Collected got_;
  std::string caps_, extradata_md5_, ffprobe_profile_;
};

// ---- ffmpeg 7.1 publishes into rtmpingestsrc ----------------------------------------------------

TEST_F(Ffmpeg71Peer, PublishesHevcIntoRtmpingestsrcAsItReadsItsFile) {
  publish_into_ingest_and_compare(hevc_source(), "HEVC");
  EXPECT_EQ(codec_data_md5(caps_), extradata_md5_.substr(4)) << "hvcC";
  EXPECT_NE(caps_.find("video/x-h265"), std::string::npos) << caps_;
}

TEST_F(Ffmpeg71Peer, PublishesAv1IntoRtmpingestsrcAsItReadsItsFile) {
  publish_into_ingest_and_compare(av1_source(), "AV1");
  EXPECT_EQ(codec_data_md5(caps_), extradata_md5_.substr(4)) << "av1C";
  EXPECT_NE(caps_.find("profile=(string)main"), std::string::npos) << caps_;
}

// ffmpeg keeps VP9's vpcC as extradata; our caps carry the profile it holds (no codec_data: vp9dec
// and vp9parse take none).
TEST_F(Ffmpeg71Peer, PublishesVp9IntoRtmpingestsrcAsItReadsItsFile) {
  publish_into_ingest_and_compare(vp9_source(), "VP9");
  EXPECT_EQ(ffprobe_profile_, "Profile 0");
  EXPECT_NE(caps_.find("video/x-vp9, profile=(string)0"), std::string::npos) << caps_;
}

// What ffmpeg 7.1 puts in connect (recorded by a proxy in front of rtmpingestsrc): fourCcList,
// and only when -rtmp_enhanced_codecs names codecs; no videoFourCcInfoMap, no capsEx. Its
// publish also carries a Metadata/colorInfo packet before the first HEVC frame, which the ingest's
// protocol layer (ServerSession + parse_video_metadata) reads: the -colorspace it was given.
TEST_F(Ffmpeg71Peer, ConnectAdvertisesFourCcListOnlyWhenAskedAndColorInfoParses) {
  auto file = hevc_source();
  for (bool enhanced : {true, false}) {
    // A fresh server each time: rtmpingestsrc ends its stream when the publisher leaves.
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
      pipeline_ = nullptr;
    }
    int port = start_ingest();
    ASSERT_GT(port, 0);
    ertmp_test::RecordingProxy proxy(static_cast<uint16_t>(port));
    ertmp_test::Child ff(Ffmpeg71::command(
        "-i '" + file.string() + "' -c copy " +
        (enhanced ? "-rtmp_enhanced_codecs hvc1,av01,vp09 " : "") + "-f flv rtmp://127.0.0.1:" +
        std::to_string(proxy.port()) + "/live/k" + (enhanced ? "1" : "2")));
    ASSERT_EQ(ff.wait(60'000), 0);
    ASSERT_TRUE(proxy.wait_finished(10'000));
    auto c2s = proxy.client_to_server();
    auto commands = commands_in(c2s);
    ASSERT_FALSE(commands.empty());
    ASSERT_EQ(commands[0].name, "connect");
    const rtmp::amf::Value& connect = commands[0].command_object;
    std::printf("[ ffmpeg 7.1 ] connect%s: %s\n", enhanced ? " -rtmp_enhanced_codecs" : "",
                rtmp::amf::to_string(connect).c_str());
    rtmp::PeerCapabilities caps = rtmp::parse_capabilities(connect);
    if (enhanced) {
      EXPECT_EQ(caps.fourcc_list, (std::vector<std::string>{"hvc1", "av01", "vp09"}));
      EXPECT_TRUE(caps.present_any);
    } else {
      EXPECT_FALSE(caps.present_any);
    }
    EXPECT_TRUE(caps.video_fourcc_info.empty());
    EXPECT_TRUE(caps.audio_fourcc_info.empty());
    EXPECT_EQ(caps.caps_ex, 0u);
    EXPECT_FALSE(connect.get("capsEx"));

    auto metadata = metadata_in(c2s);
    ASSERT_EQ(metadata.size(), 1u) << "one Metadata packet before the first frame";
    ASSERT_TRUE(metadata[0].color_info);
    rtmp::ColorInfo want;
    want.color_config = rtmp::ColorConfig{};
    want.color_config->matrix_coefficients = 9;  // -colorspace bt2020nc
    EXPECT_EQ(*metadata[0].color_info, want);
  }
}

// ---- rtmppushsink publishes to ffmpeg 7.1 -listen ----------------------------------------------

class Ffmpeg71Push : public Ffmpeg71Peer {
 protected:
  // Runs `encoder` (into a pad of rtmppushsink with `sink_props`) for 30 frames, with ffmpeg 7.1
  // listening and recording (-c copy) to `out_name`. Returns the listener after ffmpeg exited.
  std::unique_ptr<FfmpegListener> push(
      const std::string& encoder, const std::string& out_name, const std::string& sink_props = "",
      bool av1 = false,
      const std::string& raw = "video/x-raw,format=I420,width=320,height=240,framerate=30/1") {
    auto listener = std::make_unique<FfmpegListener>(dir_, out_name);
    EXPECT_TRUE(listener->ready()) << "ffmpeg 7.1 -listen did not listen\n" << listener->log();
    if (!listener->ready()) return listener;
    std::string desc = "videotestsrc num-buffers=30 ! " + raw + " ! " + encoder +
                       " ! identity name=tap ! rtmppushsink name=sink location=" + listener->url() +
                       " " + sink_props;
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(desc.c_str(), &err);
    EXPECT_TRUE(pipeline_) << (err ? err->message : "");
    if (err) g_error_free(err);
    if (!pipeline_) return listener;
    GstElement* tap = gst_bin_get_by_name(GST_BIN(pipeline_), "tap");
    GstPad* pad = gst_element_get_static_pad(tap, "src");
    ertmp_test::tap_pad(pad, &sent_, "sent");
    if (av1) {
      gst_pad_add_probe(
          pad, GST_PAD_PROBE_TYPE_BUFFER,
          [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
            auto* self = static_cast<Ffmpeg71Push*>(data);
            GstMapInfo map;
            gst_buffer_map(GST_PAD_PROBE_INFO_BUFFER(info), &map, GST_MAP_READ);
            auto tu = ertmp_test::strip_temporal_delimiters(rtmp::Bytes(map.data, map.size));
            gst_buffer_unmap(GST_PAD_PROBE_INFO_BUFFER(info), &map);
            std::lock_guard<std::mutex> lock(self->sent_.mu);
            self->av1_md5s_.push_back(rtmp::to_hex(rtmp::md5(tu)));
            return GST_PAD_PROBE_OK;
          },
          this, nullptr);
    }
    gst_object_unref(pad);
    gst_object_unref(tap);
    EXPECT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    EXPECT_EQ(ertmp_test::wait_bus(pipeline_, 90 * GST_SECOND), GST_MESSAGE_EOS);
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    exit_status_ = listener->finish();
    return listener;
  }

  // ffmpeg's recording has the encoder's packets: same count, bytes (AV1 temporal delimiters
  // aside: E-RTMP AV1 CodedFrames carry none), keyframe flags, presentation times (from the
  // first) and composition offsets within the millisecond the RTMP timestamps round to.
  //
  // With B-frames the encoder's first frames have a DTS before the first PTS (x264/x265: DTS =
  // PTS - 66.7 ms, - 33.3 ms). The sink's timeline starts at the first DTS, so they travel with
  // their own DTS and CT; but Matroska stores no DTS and ffprobe's reconstruction gives those
  // frames the first DTS, so for them only the PTS is compared (and that DTS checked).
  void expect_recorded_as_encoded(const FfmpegListener& l, const char* what, bool av1 = false) {
    auto got = Ffmpeg71::packets(l.out());
    std::lock_guard<std::mutex> lock(sent_.mu);
    const auto& md5s = sent_.md5s["sent"];
    ASSERT_EQ(got.size(), md5s.size()) << what << "\n" << l.log();
    ASSERT_EQ(md5s.size(), 30u) << what;
    size_t clamped = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      std::string want = av1 ? av1_md5s_[i] : md5s[i];
      EXPECT_EQ(got[i].md5, want) << what << " packet " << i;
      EXPECT_EQ(got[i].key, static_cast<bool>(sent_.keyframes["sent"][i]))
          << what << " packet " << i;
      const auto pts = static_cast<int64_t>(sent_.pts["sent"][i]);
      const auto dts = static_cast<int64_t>(sent_.dts["sent"][i]);
      const auto pts0 = static_cast<int64_t>(sent_.pts["sent"][0]);
      const auto ms = static_cast<int64_t>(GST_MSECOND);
      std::string where = std::string(what) + " packet " + std::to_string(i) + ": ffmpeg pts " +
                          std::to_string(got[i].pts) + " dts " + std::to_string(got[i].dts) +
                          ", encoder pts " + std::to_string(pts) + " dts " + std::to_string(dts);
      EXPECT_LE(std::abs((got[i].pts - got[0].pts) - (pts - pts0) / ms), 1) << where;
      if (dts >= pts0) {
        EXPECT_LE(std::abs((got[i].pts - got[i].dts) - (pts - dts) / ms), 1) << where;
      } else {
        EXPECT_EQ(got[i].dts, got[0].dts) << where << " (ffprobe's Matroska DTS, see above)";
        ++clamped;
      }
    }
    std::printf(
        "[ rtmppushsink -> ffmpeg 7.1 -listen ] %s: %zu packets as encoded (exit %d), %zu with "
        "a DTS before the first PTS (PTS only: Matroska has no DTS)\n",
        what, got.size(), exit_status_, clamped);
  }

  ertmp_test::Collected sent_;
  std::vector<std::string> av1_md5s_;
  int exit_status_ = -1;
};

TEST_F(Ffmpeg71Push, RtmppushsinkHevcArrivesAsEncoded) {
  auto l = push("x265enc speed-preset=ultrafast key-int-max=15 option-string=bframes=2 ! h265parse",
                "hevc.mkv");
  expect_recorded_as_encoded(*l, "HEVC (x265enc, B-frames)");
  EXPECT_EQ(Ffmpeg71::stream(l->out(), 0)["codec_name"], "hevc");
}

// AV1 CodedFrames carry a temporal unit without its temporal delimiter OBU (AV1-ISOBMFF §2.4,
// as rtmppushsink sends it); av1parse's output starts with one: compare the TU without it.
TEST_F(Ffmpeg71Push, RtmppushsinkAv1ArrivesAsEncoded) {
  auto l = push(
      "av1enc cpu-used=8 usage-profile=realtime keyframe-max-dist=15 ! av1parse ! "
      "video/x-av1,stream-format=obu-stream,alignment=tu",
      "av1.mkv", "", /*av1=*/true);
  expect_recorded_as_encoded(*l, "AV1 (av1enc)", /*av1=*/true);
  EXPECT_EQ(Ffmpeg71::stream(l->out(), 0)["codec_name"], "av1");
}

TEST_F(Ffmpeg71Push, RtmppushsinkVp9ArrivesAsEncoded) {
  auto l = push("vp9enc deadline=1 keyframe-max-dist=15", "vp9.mkv");
  expect_recorded_as_encoded(*l, "VP9 (vp9enc)");
  EXPECT_EQ(Ffmpeg71::stream(l->out(), 0)["codec_name"], "vp9");
}

// ---- what enhanced=auto has to go on, and what ffmpeg 7.1 cannot take
// ----------------------------

// enhanced=auto sends H.264 as legacy AVC tags (CodecID 7): ffmpeg 7.1 records them as encoded.
TEST_F(Ffmpeg71Push, RtmppushsinkH264StaysLegacyUnderAuto) {
  auto l = push("x264enc speed-preset=ultrafast key-int-max=15 bframes=2 ! h264parse", "h264.mkv");
  expect_recorded_as_encoded(*l, "H.264 enhanced=auto (legacy AVC tags)");
}

// x265enc HDR10 output (BT.2020, PQ, mastering display, content light level in the caps):
// rtmppushsink sends the caps' colorInfo after the HEVC SequenceStart, and ffmpeg 7.1 records
// its mastering display and content light level exactly (its FLV reader takes them from the
// colorInfo; the HEVC SEI does not reach the recording's stream side data).
TEST_F(Ffmpeg71Push, RtmppushsinkHdr10ColorInfoReachesFfmpeg) {
  auto l = push("x265enc speed-preset=ultrafast key-int-max=15 ! h265parse", "hdr10.mkv", "", false,
                "video/x-raw,format=I420_10LE,width=320,height=240,framerate=30/1,"
                "colorimetry=bt2100-pq,mastering-display-info=(string)35400:14600:8500:39850:"
                "6550:2300:15635:16450:10000000:50,content-light-level=(string)1000:400");
  expect_recorded_as_encoded(*l, "HEVC HDR10 (x265enc)");
  auto st = Ffmpeg71::stream(l->out(), 0);
  expect_hdr10_side_data(st);
  EXPECT_EQ(st["color_transfer"], "smpte2084");
  EXPECT_EQ(st["color_primaries"], "bt2020");
}

// enhanced=auto against a server that echoes no E-RTMP capabilities (ffmpeg 7.1 -listen): track
// 0 goes, track 1 is not sent (a warning says why), and ffmpeg records track 0 as encoded. Track
// 1 as OneTrack multitrack would make ffmpeg 7.1 fail the whole recording
// (Ffmpeg71Unreadable.Multitrack), as would ModEx nano offsets (ModExNanoOffset), which auto
// sends only to a server that advertised them.
TEST_F(Ffmpeg71Push, AutoSendsNoSecondTrackToAServerThatDidNotAdvertiseMultitrack) {
  FfmpegListener l(dir_, "tracks.mkv");
  ASSERT_TRUE(l.ready()) << "ffmpeg 7.1 -listen did not listen\n" << l.log();
  const std::string enc =
      " ! video/x-raw,format=I420,width=320,height=240,framerate=30000/1001 ! x265enc "
      "speed-preset=ultrafast key-int-max=15 ! h265parse";
  std::string desc =
      "rtmppushsink name=sink location=" + l.url() + " videotestsrc num-buffers=30" + enc +
      " ! identity name=tap ! sink.video_0 videotestsrc pattern=ball num-buffers=30" + enc +
      " ! sink.video_1";
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(desc.c_str(), &err);
  ASSERT_TRUE(pipeline_) << (err ? err->message : "");
  GstElement* tap = gst_bin_get_by_name(GST_BIN(pipeline_), "tap");
  GstPad* pad = gst_element_get_static_pad(tap, "src");
  ertmp_test::tap_pad(pad, &sent_, "sent");
  gst_object_unref(pad);
  gst_object_unref(tap);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::vector<std::string> warnings;
  GstMessageType end = GST_MESSAGE_UNKNOWN;
  GstBus* bus = gst_element_get_bus(pipeline_);
  const GstClockTime deadline = gst_util_get_timestamp() + 90 * GST_SECOND;
  while (end == GST_MESSAGE_UNKNOWN && gst_util_get_timestamp() < deadline) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      GError* w = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_warning(m, &w, &dbg);
      warnings.push_back(std::string(w->message) + " | " + (dbg ? dbg : ""));
      g_error_free(w);
      g_free(dbg);
    } else {
      end = GST_MESSAGE_TYPE(m);
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  EXPECT_EQ(end, GST_MESSAGE_EOS);
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  exit_status_ = l.finish();
  EXPECT_EQ(exit_status_, 0) << l.log();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("Video track 1 (H.265) is not sent"), std::string::npos)
      << warnings[0];
  EXPECT_NE(warnings[0].find("multitrack"), std::string::npos) << warnings[0];
  EXPECT_EQ(Ffmpeg71::stream(l.out(), 1)["codec_name"], "") << "one stream only";
  expect_recorded_as_encoded(l, "HEVC track 0 of two, enhanced=auto");
}

// A Debian 13 ffmpeg 7.1 flv source with video and AAC audio, read back as tags.
class Ffmpeg71Limits : public Ffmpeg71Peer {
 protected:
  std::vector<rtmp::FlvFileTag> source(const std::string& video_args) {
    auto f = dir_ / "src.flv";
    std::string cmd = Ffmpeg71::command(
        "-y -f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=44100 "
        "-frames:v 30 -t 1 " +
        video_args + " -c:a aac '" + f.string() + "'");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    source_packets_ = Ffmpeg71::packets(f);
    return flv_tags(f);
  }

  // Re-packs every audio (video) tag with `edit` applied to the spec built from its parsed unit.
  static std::vector<rtmp::FlvFileTag> repack(
      const std::vector<rtmp::FlvFileTag>& tags, uint8_t type,
      const std::function<void(rtmp::VideoTagSpec&)>& video_edit,
      const std::function<void(rtmp::AudioTagSpec&)>& audio_edit) {
    std::vector<rtmp::FlvFileTag> out;
    for (const auto& t : tags) {
      if (t.type != type) {
        out.push_back(t);
        continue;
      }
      auto parsed = rtmp::parse_flv_tag(static_cast<rtmp::TagType>(t.type), t.body);
      EXPECT_TRUE(parsed.ok() && parsed->units.size() == 1);
      if (!parsed.ok() || parsed->units.size() != 1) continue;
      const rtmp::MediaUnit& u = parsed->units[0];
      rtmp::UnitSpec unit{u.track_id, u.codec, u.composition_time,
                          rtmp::Bytes(t.body).subspan(u.offset, u.size)};
      rtmp::FlvFileTag copy = t;
      copy.body.clear();
      rtmp::Status st = rtmp::Ok{};
      if (type == 9) {
        rtmp::VideoTagSpec spec;
        spec.frame_type = u.frame_type;
        spec.packet =
            u.packet == rtmp::PacketKind::kSequenceStart ? rtmp::VideoPacketType::kSequenceStart
            : u.packet == rtmp::PacketKind::kSequenceEnd ? rtmp::VideoPacketType::kSequenceEnd
                                                         : rtmp::VideoPacketType::kCodedFrames;
        spec.units = {unit};
        if (u.packet == rtmp::PacketKind::kMetadata) {
          out.push_back(t);
          continue;
        }
        video_edit(spec);
        st = rtmp::build_video_tag(spec, copy.body);
      } else {
        rtmp::AudioTagSpec spec;
        spec.packet = u.packet == rtmp::PacketKind::kSequenceStart
                          ? rtmp::AudioPacketType::kSequenceStart
                          : rtmp::AudioPacketType::kCodedFrames;
        spec.sound_rate = u.sound_rate;
        spec.sound_size = u.sound_size;
        spec.sound_type = u.sound_type;
        spec.units = {unit};
        audio_edit(spec);
        st = rtmp::build_audio_tag(spec, copy.body);
      }
      EXPECT_TRUE(st.ok()) << st.error().to_string();
      out.push_back(std::move(copy));
    }
    return out;
  }

  // Publishes `tags` to ffmpeg 7.1 -listen recording to `out_name`; ffmpeg's exit status.
  int publish_to_listener(const std::vector<rtmp::FlvFileTag>& tags, const std::string& out_name) {
    listener_ = std::make_unique<FfmpegListener>(dir_, out_name);
    EXPECT_TRUE(listener_->ready()) << listener_->log();
    auto st = publish_tags(listener_->port(), tags);
    EXPECT_TRUE(st.ok()) << st.error().to_string() << "\n" << listener_->log();
    return listener_->finish();
  }
  std::vector<Ffmpeg71::Packet> recorded(int stream) {
    std::vector<Ffmpeg71::Packet> out;
    for (const auto& p : Ffmpeg71::packets(listener_->out())) {
      if (p.stream == stream) out.push_back(p);
    }
    return out;
  }
  std::vector<std::string> source_md5s(int stream) {
    std::vector<std::string> out;
    for (const auto& p : source_packets_) {
      if (p.stream == stream) out.push_back(p.md5);
    }
    return out;
  }
  static std::vector<std::string> md5s_of(const std::vector<Ffmpeg71::Packet>& packets) {
    std::vector<std::string> out;
    for (const auto& p : packets) out.push_back(p.md5);
    return out;
  }

  std::vector<Ffmpeg71::Packet> source_packets_;
  std::unique_ptr<FfmpegListener> listener_;
};

// "Audio codec opus not compatible with flv": ffmpeg 7.1's FLV muxer (so its RTMP publisher too)
// refuses Opus, whatever the sample rate. (FFmpeg 8 writes it as E-RTMP 'Opus'.)
TEST_F(Ffmpeg71Limits, FlvMuxerRefusesOpus) {
  auto f = dir_ / "opus.flv";
  std::string out = run_capture(
      Ffmpeg71::command("-y -f lavfi -i sine=sample_rate=48000 -t 1 -c:a libopus -f flv '" +
                        f.string() + "' 2>&1; echo \"exit=$?\""));
  EXPECT_NE(out.find("Audio codec opus not compatible with flv"), std::string::npos) << out;
  EXPECT_EQ(out.find("exit=0"), std::string::npos) << out;
}

// Our own server-side view of ffmpeg 7.1 as an RTMP server: its connect `_result` carries no
// E-RTMP capabilities (no fourCcList, info maps or capsEx), so rtmppushsink's enhanced=auto
// learns nothing from it and must decide per codec: FourCC tags only for hvc1/av01/vp09 (the
// three its flvdec knows), legacy tags for everything that has them.
TEST_F(Ffmpeg71Limits, ServerAnswersConnectWithoutErtmpCapabilities) {
  auto tags = source("-c:v libx265 -preset ultrafast -x265-params log-level=error");
  FfmpegListener listener(dir_, "caps.mkv");
  ASSERT_TRUE(listener.ready()) << listener.log();
  ertmp_test::RecordingProxy proxy(listener.port());
  rtmp::ClientConfig cc;
  cc.url = *rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(proxy.port()) + "/live/k");
  cc.capabilities = rtmp::client_capabilities({"hvc1", "av01", "vp09", "avc1"}, {"mp4a", "Opus"},
                                              rtmp::kCapsExMultitrack | rtmp::kCapsExModEx);
  {
    ertmp_test::SocketPublisher pub(cc);
    ASSERT_TRUE(pub.start(proxy.port()).ok()) << listener.log();
    for (const auto& t : tags) {
      if (t.type == 9) {
        ASSERT_TRUE(pub.send(9, t.body, static_cast<uint64_t>(t.timestamp)).ok());
      }
    }
    pub.stop(5000);
  }
  listener.finish();
  ASSERT_TRUE(proxy.wait_finished(10'000));
  auto s2c = proxy.server_to_client();
  rtmp::ChunkReader reader(rtmp::Limits{});
  ASSERT_GT(s2c.size(), 3073u);
  (void)reader.receive(rtmp::Bytes(s2c).subspan(3073));
  std::optional<rtmp::Command> result;
  while (auto m = reader.next_message()) {
    if (m->kind() != rtmp::MessageType::kCommandAmf0) continue;
    auto c = rtmp::parse_command(*m, rtmp::Limits{});
    if (c.ok() && c->name == "_result" && c->transaction_id == 1) result = *c;
  }
  ASSERT_TRUE(result) << "no connect _result from ffmpeg 7.1";
  std::printf("[ ffmpeg 7.1 -listen ] connect _result: %s %s\n",
              rtmp::amf::to_string(result->command_object).c_str(),
              result->args.empty() ? "" : rtmp::amf::to_string(result->args[0]).c_str());
  rtmp::PeerCapabilities caps = rtmp::parse_capabilities(result->command_object);
  EXPECT_FALSE(caps.present_any);
  EXPECT_FALSE(rtmp::parse_capabilities(result->args.empty() ? rtmp::amf::Value() : result->args[0])
                   .present_any);
}

// What ffmpeg 7.1 makes of a stream it cannot read, pinned as its actual behaviour (the message
// of its flvdec, and a recording that fails as a whole: -c copy to Matroska cannot write a
// header for a stream without a codec). A newer ffmpeg that reads it fails these tests: then
// rtmppushsink's enhanced=auto may use the form for it.
class Ffmpeg71Unreadable : public Ffmpeg71Limits {
 protected:
  // Publishes ffmpeg 7.1's HEVC (or `video_args`) + AAC with every tag of `type` re-packed by
  // the edit, and expects ffmpeg to refuse the stream with `message`.
  void expect_unreadable(uint8_t type, const std::function<void(rtmp::VideoTagSpec&)>& video_edit,
                         const std::function<void(rtmp::AudioTagSpec&)>& audio_edit,
                         const std::string& message,
                         const std::string& video_args =
                             "-c:v libx265 -preset ultrafast "
                             "-x265-params log-level=error") {
    auto tags = repack(source(video_args), type, video_edit, audio_edit);
    int rc = publish_to_listener(tags, "unreadable.mkv");
    std::string log = listener_->log();
    EXPECT_NE(rc, 0) << log;
    EXPECT_NE(log.find(message), std::string::npos) << "ffmpeg 7.1 said something else:\n" << log;
    EXPECT_NE(log.find("Could not write header"), std::string::npos) << log;
    EXPECT_TRUE(Ffmpeg71::packets(listener_->out()).empty());
  }
  static void no_video_edit(rtmp::VideoTagSpec&) {}
  static void no_audio_edit(rtmp::AudioTagSpec&) {}
};

// H.264 as E-RTMP 'avc1' FourCC tags (what enhanced=always sends): ffmpeg 7.1's flvdec knows only
// hvc1/av01/vp09 FourCCs, so the video stream has no codec. enhanced=auto sends legacy AVC tags,
// which it records as encoded (RtmppushsinkH264StaysLegacyUnderAuto).
TEST_F(Ffmpeg71Unreadable, Avc1FourCcVideo) {
  expect_unreadable(
      9, [](rtmp::VideoTagSpec& s) { s.force_enhanced = true; }, no_audio_edit,
      "Video codec (61766331) is not implemented", "-c:v libx264 -preset ultrafast -g 15");
}

// AAC as E-RTMP 'mp4a' FourCC tags: ffmpeg 7.1 has no E-RTMP audio at all (SoundFormat 9 is
// "Audio codec (9)"), so Opus/FLAC/AC-3/E-AC-3 cannot reach it by RTMP either (and its FLV muxer
// refuses Opus: FlvMuxerRefusesOpus). enhanced=auto sends AAC and MP3 as legacy tags.
TEST_F(Ffmpeg71Unreadable, Mp4aFourCcAudio) {
  expect_unreadable(
      8, no_video_edit, [](rtmp::AudioTagSpec& s) { s.force_enhanced = true; },
      "Audio codec (9) is not implemented");
}

// HEVC frames inside ModEx TimestampOffsetNano: ffmpeg 7.1 predates ModEx (FFmpeg 8.0) and reads
// the ModEx size and nano bytes as a FourCC (02 000000 -> "Video codec (2000000)"), making a
// bogus stream per offset. Nano offsets must go only to a peer that advertised capsEx ModEx.
TEST_F(Ffmpeg71Unreadable, ModExNanoOffset) {
  uint32_t n = 0;
  expect_unreadable(
      9,
      [&](rtmp::VideoTagSpec& s) {
        if (s.packet == rtmp::VideoPacketType::kCodedFrames) {
          s.nano_offset = (n++ * 333'333) % 1'000'000;
        }
      },
      no_audio_edit, "Video codec (2000000) is not implemented");
}

// HEVC on track 1 (OneTrack multitrack, as OBS sends tracks >= 1): ffmpeg 7.1 predates
// multitrack (FFmpeg 8.0) and reads the multitrack byte and FourCC shifted by one ("\0hvc",
// 0x687663). Tracks >= 1 must go only to a peer that advertised capsEx Multitrack.
TEST_F(Ffmpeg71Unreadable, Multitrack) {
  expect_unreadable(
      9,
      [](rtmp::VideoTagSpec& s) {
        s.multitrack = rtmp::AvMultitrackType::kOneTrack;
        s.units[0].track_id = 1;
      },
      no_audio_edit, "(Video: none (cvh[0] / 0x687663), none): unknown codec");
}

// Our colorInfo Metadata packet (build_color_info_tag: D4 'hvc1' <AMF>, HDR10) in place of
// ffmpeg's own before the first HEVC frame: ffmpeg 7.1 reads it, and its Matroska recording
// carries our mastering display and content light level exactly, the video packets unchanged.
// The colour indices it also reads are replaced while it probes the stream by the HEVC VUI's
// (this x265 stream signals none: "unknown"), so they are pinned as that.
TEST_F(Ffmpeg71Limits, ReadsOurColorInfo) {
  auto tags = source("-c:v libx265 -preset ultrafast -x265-params log-level=error");
  const rtmp::ColorInfo hdr = rtmp::test::hdr10_color_info();
  std::vector<rtmp::FlvFileTag> with_color;
  size_t replaced = 0;
  for (const auto& t : tags) {
    with_color.push_back(t);
    if (t.type != 9) continue;
    auto p = rtmp::parse_flv_tag(rtmp::TagType::kVideo, t.body);
    if (p.ok() && p->units[0].packet == rtmp::PacketKind::kMetadata) {
      with_color.back().body.clear();
      ASSERT_TRUE(
          rtmp::build_color_info_tag(rtmp::Codec::kHevc, 0, hdr, with_color.back().body).ok());
      ++replaced;
    }
  }
  ASSERT_EQ(replaced, 1u) << "ffmpeg 7.1 wrote no Metadata packet to replace";
  int rc = publish_to_listener(with_color, "hdr.mkv");
  EXPECT_EQ(rc, 0) << listener_->log();
  auto st = Ffmpeg71::stream(listener_->out(), 0);
  expect_hdr10_side_data(st);
  EXPECT_EQ(st["color_primaries"], "unknown");
  EXPECT_EQ(st["color_transfer"], "unknown");
  EXPECT_EQ(md5s_of(recorded(0)), source_md5s(0));
}
}  // namespace
