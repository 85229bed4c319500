// rtmppushsink is a drop-in for the installed rtmp2sink: every property of rtmp2sink and of
// GstBaseSink, compared at test time (dropin.h), the static `sink` pad, the URI handler; and
// the table of deliberate differences is the one docs/rtmppushsink.md shows.
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <sys/wait.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "gst/gstrtmppushsink.h"
#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/crypto.h"
#include "protocol/handshake.h"
#include "tests/gst/dropin.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::DropinDifference;

// rtmppushsink vs rtmp2sink (1.22) + GstBaseSink. Keep it short; every row needs a reason, and
// docs/rtmppushsink.md ("Deliberate differences") shows the same rows.
const std::vector<DropinDifference> kSinkDifferences = {
    {"chunk-size", "default",
     "4096 (SPEC §5; what OBS and ffmpeg send) instead of 128: a chunk header per 128 bytes "
     "costs CPU and bandwidth, and every server accepts 4096"},
    {"flash-version", "default",
     "\"FMLE/3.0 (compatible; gst-ertmp)\" instead of 1.22's \"LNX 10,0,32,18\" (1.24+ sends "
     "none): a publisher identifies as a live encoder, as OBS and ffmpeg do"},
};

using ertmp_test::have_factory;

class Dropin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
  }
};

TEST_F(Dropin, EveryPropertyOfRtmp2sinkAndGstBaseSinkIsOursUnlessListed) {
  ERTMP_REQUIRE(have_factory("rtmp2sink"), "rtmp2sink (gstreamer1.0-plugins-bad)");
  auto report =
      ertmp_test::compare_dropin("rtmppushsink", "rtmp2sink", GST_TYPE_BASE_SINK, kSinkDifferences);
  for (const auto& p : report.problems) ADD_FAILURE() << p;
  for (const auto& s : report.stale_differences)
    ADD_FAILURE() << "listed as a difference but matches: " << s;
  // rtmp2sink 1.22 has 18 properties of its own, GstBaseSink 13, GstObject 2.
  EXPECT_GE(report.properties_compared, 30);
}

TEST_F(Dropin, TheStaticSinkPadAndTheUriHandlerAreRtmp2sinks) {
  ERTMP_REQUIRE(have_factory("rtmp2sink"), "rtmp2sink (gstreamer1.0-plugins-bad)");
  GstElement* ours = gst_element_factory_make("rtmppushsink", nullptr);
  GstElement* theirs = gst_element_factory_make("rtmp2sink", nullptr);
  ASSERT_TRUE(ours && theirs);
  GstPad* pad = gst_element_get_static_pad(ours, "sink");
  ASSERT_TRUE(pad) << "gst_element_get_static_pad(sink, \"sink\")";
  GstPad* their_pad = gst_element_get_static_pad(theirs, "sink");
  EXPECT_EQ(GST_PAD_TEMPLATE_PRESENCE(GST_PAD_PAD_TEMPLATE(pad)),
            GST_PAD_TEMPLATE_PRESENCE(GST_PAD_PAD_TEMPLATE(their_pad)));
  GstCaps* a = gst_pad_query_caps(pad, nullptr);
  GstCaps* b = gst_pad_query_caps(their_pad, nullptr);
  EXPECT_TRUE(gst_caps_is_equal(a, b));
  gst_caps_unref(a);
  gst_caps_unref(b);
  gst_object_unref(pad);
  gst_object_unref(their_pad);
  EXPECT_TRUE(GST_IS_BASE_SINK(ours));
  EXPECT_EQ(gst_uri_handler_get_uri_type(GST_URI_HANDLER(ours)),
            gst_uri_handler_get_uri_type(GST_URI_HANDLER(theirs)));
  const gchar* const* po = gst_uri_handler_get_protocols(GST_URI_HANDLER(ours));
  const gchar* const* pt = gst_uri_handler_get_protocols(GST_URI_HANDLER(theirs));
  ASSERT_TRUE(po && pt);
  for (; *pt; ++pt) EXPECT_TRUE(g_strv_contains(po, *pt)) << *pt;
  // Enum and flags properties take rtmp2sink's nicks from a launch line.
  gst_util_set_object_arg(G_OBJECT(ours), "stop-commands", "fcunpublish+closestream");
  gst_util_set_object_arg(G_OBJECT(ours), "scheme", "rtmps");
  gst_util_set_object_arg(G_OBJECT(ours), "authmod", "adobe");
  guint flags = 0;
  gint scheme = 0, authmod = 0;
  g_object_get(ours, "stop-commands", &flags, "scheme", &scheme, "authmod", &authmod, nullptr);
  EXPECT_EQ(flags, 3u);
  EXPECT_EQ(scheme, 1);
  EXPECT_EQ(authmod, 2);
  gst_object_unref(ours);
  gst_object_unref(theirs);
}

// The docs show the same deliberate differences as the test enforces.
TEST_F(Dropin, TheDocsListTheSameDifferences) {
  const char* root = std::getenv("ERTMP_SOURCE_ROOT");
  ASSERT_TRUE(root) << "run through meson test";
  for (const auto& row :
       ertmp_test::rows_missing_from_doc(std::filesystem::path(root) / "docs" / "rtmppushsink.md",
                                         "## Deliberate differences", "\n## ", kSinkDifferences)) {
    ADD_FAILURE() << "docs lack the row " << row;
  }
}

std::string build_root() {
  const char* b = std::getenv("ERTMP_BUILD_ROOT");
  return b ? b : "build";
}

// Runs a command with our plugin on GStreamer's path; returns its exit status and output.
int run_with_plugin(const std::string& command, std::string* output) {
  std::string full = "GST_PLUGIN_PATH='" + build_root() + "/gst' " + command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// tests/gst/dropin_app.c, unchanged, with rtmp2sink and with ours, against nginx-rtmp: both
// pass, and the refusal of a busy key arrives with the same error domain and code.
TEST_F(Dropin, TheSameCApplicationRunsWithRtmp2sinkAndOurs) {
  ERTMP_REQUIRE(have_factory("rtmp2sink"), "rtmp2sink (gstreamer1.0-plugins-bad)");
  ERTMP_REQUIRE(have_factory("x264enc"), "x264enc (gstreamer1.0-plugins-ugly)");
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (libnginx-mod-rtmp)");
  ertmp_test::NginxRtmp nginx;
  ASSERT_TRUE(nginx.ready());
  const std::string app = build_root() + "/tests/gst/dropin_app";
  ASSERT_TRUE(std::filesystem::exists(app)) << app;
  std::map<std::string, std::string> refusal;
  for (const char* element : {"rtmp2sink", "rtmppushsink"}) {
    std::string out;
    int status = run_with_plugin("timeout 150 '" + app + "' " + element + " rtmp://127.0.0.1:" +
                                     std::to_string(nginx.port()) + "/live k" + element,
                                 &out);
    EXPECT_EQ(status, 0) << element << ":\n" << out;
    // "<element> refused: <domain> <code>: <message>"
    auto at = out.find(std::string(element) + " refused: ");
    ASSERT_NE(at, std::string::npos) << out;
    auto line = out.substr(at, out.find('\n', at) - at);
    auto colon = line.find(':', line.find("refused: ") + 9);
    refusal[element] = line.substr(line.find("refused: ") + 9, colon - line.find("refused: ") - 9);
  }
  EXPECT_EQ(refusal["rtmp2sink"], refusal["rtmppushsink"]) << "error domain and code";
  EXPECT_EQ(refusal["rtmppushsink"], "gst-resource-error-quark 1") << "RESOURCE/FAILED";
}

// Real rtmp2sink launch lines, run as gst-launch-1.0 runs them, once with rtmp2sink and once
// with only the element name changed, into nginx-rtmp recording every stream: both finish,
// and nginx recorded the same video packets (ffmpeg framemd5) from both, all of them.
struct LaunchLine {
  const char* from;     // where the line comes from
  const char* line;     // SINK and LOCATION are replaced
  size_t video_frames;  // what the source produces
};

const LaunchLine kLaunchLines[] = {
    {"GStreamer's rtmp2sink documentation (example launch line)",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux ! SINK location=LOCATION", 60},
    {"hertzbinnon/test_integration gst/topic/cmdline.sh (flvmux latency, sync=false; its "
     "nvh265enc/voaacenc replaced by x264enc/avenc_aac)",
     "videotestsrc num-buffers=60 ! x264enc ! h264parse ! flvmux latency=1000000000 "
     "streamable=true name=muxer ! SINK location=LOCATION sync=false audiotestsrc "
     "num-buffers=90 ! avenc_aac ! muxer.",
     60},
    {"livekit/egress (rtmp2sink with async-connect=false, PR #318)",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux streamable=true ! SINK async-connect=false "
     "location=LOCATION",
     60},
    {"the drop-in issue: async=false qos=true",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux streamable=true ! SINK async=false qos=true "
     "location=LOCATION",
     60},
    {"rtmp2sink 1.20+: stop-commands flags",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux streamable=true ! SINK sync=false "
     "stop-commands=fcunpublish+deletestream location=LOCATION",
     60},
    {"rtmp2sink 1.20+: stop-commands=none",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux streamable=true ! SINK sync=false "
     "stop-commands=none location=LOCATION",
     60},
    {"chunk-size, ts-offset and max-lateness (rtmp2sink and GstBaseSink properties)",
     "videotestsrc num-buffers=60 ! x264enc ! flvmux streamable=true ! SINK chunk-size=4096 "
     "ts-offset=100000000 max-lateness=20000000 location=LOCATION",
     60},
};

TEST_F(Dropin, Rtmp2sinkLaunchLinesRunWithOnlyTheElementNameChanged) {
  ERTMP_REQUIRE(have_factory("rtmp2sink"), "rtmp2sink (gstreamer1.0-plugins-bad)");
  ERTMP_REQUIRE(have_factory("x264enc") && have_factory("avenc_aac"),
                "x264enc, avenc_aac (gstreamer1.0-plugins-ugly, gstreamer1.0-libav)");
  ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (libnginx-mod-rtmp)");
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (ffmpeg)");
  ertmp_test::NginxRtmp nginx(true);
  ASSERT_TRUE(nginx.ready());
  for (size_t i = 0; i < std::size(kLaunchLines); ++i) {
    const LaunchLine& l = kLaunchLines[i];
    SCOPED_TRACE(l.from);
    for (const char* element : {"rtmp2sink", "rtmppushsink"}) {
      std::string line = l.line;
      line.replace(line.find("SINK"), 4, element);
      line.replace(line.find("LOCATION"), 8, nginx.url("l" + std::to_string(i) + element));
      std::string out;
      EXPECT_EQ(run_with_plugin("timeout 120 gst-launch-1.0 -q " + line, &out), 0)
          << element << ": " << line << "\n"
          << out;
    }
  }
  nginx.stop();  // recordings finalized
  for (size_t i = 0; i < std::size(kLaunchLines); ++i) {
    SCOPED_TRACE(kLaunchLines[i].from);
    auto rec = [&](const char* element) {
      return nginx.dir() / "rec" / ("l" + std::to_string(i) + element + ".flv");
    };
    ASSERT_TRUE(std::filesystem::exists(rec("rtmppushsink")));
    ASSERT_TRUE(std::filesystem::exists(rec("rtmp2sink")));
    auto ours = ertmp_test::framemd5s(rec("rtmppushsink"), 0);
    auto theirs = ertmp_test::framemd5s(rec("rtmp2sink"), 0);
    EXPECT_EQ(ours.size(), kLaunchLines[i].video_frames);
    EXPECT_EQ(ours, theirs) << "the same video packets through both elements";
  }
}

// One client: answers its connect with a secureToken challenge (Limelight-style, as librtmp
// and rtmp2 expect it in the _result's information object) and records the
// secureTokenResponse the client sends back. Test-only, bounded by a deadline.
class SecureTokenServer {
 public:
  explicit SecureTokenServer(std::string challenge) : challenge_(std::move(challenge)) {
    fd_ = ertmp_test::listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~SecureTokenServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  // What the client answered ("" when it did not within the deadline); joins the server.
  std::string answer() {
    if (thread_.joinable()) thread_.join();
    return answer_;
  }

 private:
  void run() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20'000) <= 0) return;
    int c = accept(fd_, nullptr, nullptr);
    rtmp::ServerHandshake hs;
    rtmp::ChunkReader reader{rtmp::Limits{}};
    rtmp::ChunkWriter writer;
    uint8_t buf[65536];
    auto send_all = [&](rtmp::Bytes b) {
      while (!b.empty()) {
        ssize_t w = write(c, b.data(), b.size());
        if (w <= 0) return;
        b = b.subspan(static_cast<size_t>(w));
      }
    };
    while (answer_.empty() && std::chrono::steady_clock::now() < deadline) {
      pollfd cp{c, POLLIN, 0};
      if (poll(&cp, 1, 100) <= 0) continue;
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      rtmp::Bytes in(buf, static_cast<size_t>(n));
      if (!hs.done()) {
        auto used = hs.receive(in);
        if (!used.ok()) break;
        in = in.subspan(*used);
        send_all(hs.pending_output());
        hs.consume_output(hs.pending_output().size());
        if (!hs.done()) continue;
      }
      if (!reader.receive(in).ok()) break;
      while (auto m = reader.next_message()) {
        if (m->type != 20) continue;
        auto cmd = rtmp::parse_command(*m, rtmp::Limits{});
        if (!cmd.ok()) continue;
        if (cmd->name == "connect") {
          std::vector<uint8_t> out;
          rtmp::Message reply = rtmp::build_command_message(rtmp::make_result(
              cmd->transaction_id,
              rtmp::amf::Value::object({{"fmsVer", rtmp::amf::Value("FMS/3,5")}}),
              rtmp::amf::Value::object({{"level", rtmp::amf::Value("status")},
                                        {"code", rtmp::amf::Value("NetConnection.Connect.Success")},
                                        {"secureToken", rtmp::amf::Value(challenge_)}})));
          reply.csid = 3;
          writer.write(reply, out);
          send_all(out);
        } else if (cmd->name == "secureTokenResponse") {
          answer_ = cmd->arg_string(0);
        }
      }
    }
    close(c);
  }

  std::string challenge_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::string answer_;
};

// secure-token: rtmp2sink and ours answer the same challenge with the same response, and it is
// what protocol/crypto.h's secure_token_response computes.
TEST_F(Dropin, SecureTokenIsAnsweredAsRtmp2sinkAnswersIt) {
  ERTMP_REQUIRE(have_factory("rtmp2sink"), "rtmp2sink (gstreamer1.0-plugins-bad)");
  const std::string key = "0123456789abcdefKEY";
  const std::string challenge = "8d4c1bfa33e92c0177aa5e60b4d2c91f";
  std::map<std::string, std::string> answers;
  for (const char* element : {"rtmp2sink", "rtmppushsink"}) {
    SecureTokenServer server(challenge);
    std::string out;
    // The publish never starts (the server stops answering): the line ends with an error.
    run_with_plugin("timeout 30 gst-launch-1.0 -q appsrc ! video/x-flv ! " + std::string(element) +
                        " timeout=3 secure-token=" + key +
                        " location=rtmp://127.0.0.1:" + std::to_string(server.port()) + "/live/k",
                    &out);
    answers[element] = server.answer();
    EXPECT_FALSE(answers[element].empty()) << element << " sent no secureTokenResponse\n" << out;
  }
  EXPECT_EQ(answers["rtmppushsink"], answers["rtmp2sink"]);
  EXPECT_EQ(answers["rtmppushsink"], rtmp::secure_token_response(key, challenge));
}

}  // namespace
