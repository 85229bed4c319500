// Adobe authentication (authmod=adobe) against a server that requires it (issue 13): the
// test-only gate of adobe_auth_gate.h (FMS's challenge-response) in front of a real nginx-rtmp.
//  1. The gate is right: Debian's ffmpeg (its own adobe client) publishes through it with
//     `rtmp://user:password@...` and nginx records every packet; without credentials, with a
//     wrong password or an unknown user it fails and nginx never hears of the stream.
//  2. rtmppushsink with username/password (also authmod=adobe, and credentials in the
//     location) publishes through the gate into nginx, packet for packet; a wrong password or
//     none is RESOURCE/NOT_AUTHORIZED at once (no timeout, no reconnect loop).
//  3. rtmpingestsrc mode=caller plays through the gate what ffmpeg publishes into nginx
//     directly, byte-identical (framemd5), with the properties, with credentials in the
//     location and with authmod=adobe; a reconnect authenticates anew; a wrong password (or
//     none, or authmod=none) is RESOURCE/NOT_AUTHORIZED at once, on-disconnect=wait too.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"
#include "tests/gst/pipeline_util.h"
#include "tests/interop/adobe_auth_gate.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using Clock = std::chrono::steady_clock;
using ertmp_test::AdobeAuthGate;
using ertmp_test::Child;
using Outcome = AdobeAuthGate::Outcome;

// '@' and ':' in the password: percent-encoded in our locations (kUserinfo); ffmpeg takes the
// userinfo up to the last '@' and splits it at the first ':', unencoded.
const std::string kPassword = "p@ss:word";
const std::string kUserinfo = "user:p%40ss%3Aword";

const std::vector<Outcome> kFullExchange = {Outcome::kNeedAuth, Outcome::kChallenge,
                                            Outcome::kAccepted};
const std::vector<Outcome> kWrongPassword = {Outcome::kNeedAuth, Outcome::kChallenge,
                                             Outcome::kAuthFailed};

int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

// How a pipeline's run ended: EOS, an error (domain, code, text) or nothing within the bound;
// the names of the element messages seen on the way.
struct RunEnd {
  GstMessageType type = GST_MESSAGE_UNKNOWN;
  GQuark domain = 0;
  int code = 0;
  std::string text;
  std::vector<std::string> messages;
  bool seen(const std::string& name) const {
    return std::find(messages.begin(), messages.end(), name) != messages.end();
  }
};

// Pops the bus (bounded) until EOS, an error, or the element message `until` (when given).
RunEnd wait_run(GstElement* pipeline, int timeout_ms, const std::string& until = "") {
  RunEnd end;
  GstBus* bus = gst_element_get_bus(pipeline);
  GstClockTime deadline = gst_util_get_timestamp() + timeout_ms * GST_MSECOND;
  while (gst_util_get_timestamp() < deadline) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!msg) continue;
    GstMessageType t = GST_MESSAGE_TYPE(msg);
    bool done = t == GST_MESSAGE_EOS || t == GST_MESSAGE_ERROR;
    if (t == GST_MESSAGE_ELEMENT) {
      std::string name = gst_structure_get_name(gst_message_get_structure(msg));
      end.messages.push_back(name);
      done = !until.empty() && name == until;
    } else if (t == GST_MESSAGE_ERROR) {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      end.domain = err->domain;
      end.code = err->code;
      end.text = std::string(err->message) + " | " + (dbg ? dbg : "");
      g_error_free(err);
      g_free(dbg);
    }
    if (done) end.type = t;
    gst_message_unref(msg);
    if (done) break;
  }
  gst_object_unref(bus);
  return end;
}

class AdobeAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
    gst_element_register(nullptr, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
    if (!ertmp_test::have_program("ffmpeg")) return;
    dir_ = ertmp_test::make_temp_dir("adobe");
    src_ = dir_ / "src.flv";
    // 3 s of H.264 (B-frames, a keyframe each second) + AAC.
    if (!rtmp::frames::make_source_flv(src_, 3)) {
      src_.clear();
      return;
    }
    want_video_ = ertmp_test::framemd5s(src_, 0);
    want_audio_ = ertmp_test::framemd5s(src_, 1);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void SetUp() override {
    ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
    ERTMP_REQUIRE(ertmp_test::NginxRtmp::available(), "nginx-rtmp (Debian libnginx-mod-rtmp)");
    ASSERT_FALSE(src_.empty()) << "could not make the source file";
    ASSERT_FALSE(want_video_.empty());
    ASSERT_FALSE(want_audio_.empty());
    nginx_ = std::make_unique<ertmp_test::NginxRtmp>(true);
    ASSERT_TRUE(nginx_->ready());
    gate_ = std::make_unique<AdobeAuthGate>(nginx_->port(), "user", kPassword);
  }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
      pipeline_ = nullptr;
    }
    gate_.reset();
    nginx_.reset();
  }

  // The attempts the gate decided since `from`.
  std::vector<Outcome> outcomes_from(size_t from) {
    auto all = gate_->outcomes();
    return std::vector<Outcome>(
        all.begin() + static_cast<std::ptrdiff_t>(std::min(from, all.size())), all.end());
  }
  // nginx's recording of `key`, compared packet for packet with the source (stops nginx).
  void expect_recorded_source(const std::vector<std::string>& keys) {
    nginx_->stop();
    for (const auto& key : keys) {
      auto rec = nginx_->dir() / "rec" / (key + ".flv");
      ASSERT_TRUE(std::filesystem::exists(rec)) << key;
      EXPECT_EQ(ertmp_test::framemd5s(rec, 0), want_video_) << key << ": video";
      EXPECT_EQ(ertmp_test::framemd5s(rec, 1), want_audio_) << key << ": audio";
    }
  }
  // ffmpeg copies the source to `url` as fast as it can; its exit status.
  int ffmpeg_publish(const std::string& url, bool realtime = false) {
    Child ff(std::string("exec ffmpeg -hide_banner -loglevel error ") + (realtime ? "-re " : "") +
             "-i '" + src_.string() + "' -c copy -f flv '" + url + "'");
    return ff.wait(60'000);
  }

  // rtmppushsink publishing the source through flvmux to `url` with `props`.
  void start_push(const std::string& url, const std::string& props) {
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(
        ("filesrc location=" + src_.string() +
         " ! flvdemux name=d flvmux name=m streamable=true ! "
         "rtmppushsink name=push sync=false location=" +
         url + " " + props + " d.video ! queue ! m.video d.audio ! queue ! m.audio")
            .c_str(),
        &err);
    ASSERT_TRUE(pipeline_) << (err ? err->message : "");
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // rtmpingestsrc mode=caller `props`; every pad to an appsink named after it (collected_).
  void start_caller(const std::string& props) {
    GError* err = nullptr;
    GstElement* src = gst_parse_launch(("rtmpingestsrc mode=caller " + props).c_str(), &err);
    ASSERT_TRUE(src) << (err ? err->message : "");
    pipeline_ = gst_pipeline_new("caller");
    gst_bin_add(GST_BIN(pipeline_), src);
    g_signal_connect(src, "pad-added", G_CALLBACK(ertmp_test::on_pad_added), &collected_);
    // Each buffer leaving a pad wakes wait_buffers().
    g_signal_connect(src, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer d) {
                       gst_pad_add_probe(
                           pad, GST_PAD_PROBE_TYPE_BUFFER,
                           +[](GstPad*, GstPadProbeInfo*, gpointer d2) -> GstPadProbeReturn {
                             auto* self = static_cast<AdobeAuth*>(d2);
                             std::lock_guard<std::mutex> l(self->buffers_mu_);
                             ++self->buffers_;
                             self->buffers_cv_.notify_all();
                             return GST_PAD_PROBE_OK;
                           },
                           d, nullptr);
                     }),
                     this);
    ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  }
  // Waits (bounded) until `n` buffers left the caller's pads.
  bool wait_buffers(size_t n, int timeout_ms) {
    std::unique_lock<std::mutex> l(buffers_mu_);
    return buffers_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                                [&] { return buffers_ >= n; });
  }
  void stop_pipeline() {
    auto t0 = Clock::now();
    EXPECT_EQ(gst_element_set_state(pipeline_, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    EXPECT_LT(ms_since(t0), 3000) << "PLAYING->NULL took too long";
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
  // A refused login: RESOURCE/NOT_AUTHORIZED naming the server's `reason`, well before
  // `timeout` (30 s here), no reconnect, and exactly the gate decisions `want`.
  void expect_not_authorized(const RunEnd& end, int took_ms, size_t attempts_before,
                             const std::vector<Outcome>& want, const std::string& reason,
                             const std::string& retry_message) {
    ASSERT_EQ(end.type, GST_MESSAGE_ERROR) << "no error within the bound";
    EXPECT_EQ(end.domain, GST_RESOURCE_ERROR) << end.text;
    EXPECT_EQ(end.code, GST_RESOURCE_ERROR_NOT_AUTHORIZED) << end.text;
    EXPECT_NE(end.text.find(reason), std::string::npos) << end.text;
    EXPECT_LT(took_ms, 10'000) << "the refusal took as long as a timeout";
    EXPECT_FALSE(end.seen(retry_message)) << "an authentication refusal was retried";
    stop_pipeline();
    EXPECT_EQ(outcomes_from(attempts_before), want);
  }

  static inline std::filesystem::path dir_, src_;
  static inline std::vector<std::string> want_video_, want_audio_;
  std::unique_ptr<ertmp_test::NginxRtmp> nginx_;
  std::unique_ptr<AdobeAuthGate> gate_;
  GstElement* pipeline_ = nullptr;
  ertmp_test::Collected collected_;
  std::mutex buffers_mu_;
  std::condition_variable buffers_cv_;
  size_t buffers_ = 0;
};

// --- 1. the gate against ffmpeg's own adobe client --------------------------------------------

TEST_F(AdobeAuth, GateLetsFfmpegPublishWithTheRightPasswordOnly) {
  // No credentials: ffmpeg gives up at the first refusal.
  EXPECT_NE(ffmpeg_publish(gate_->url("none")), 0);
  EXPECT_EQ(outcomes_from(0), std::vector<Outcome>{Outcome::kNeedAuth});
  // A wrong password: the challenge is answered, the answer refused.
  EXPECT_NE(ffmpeg_publish(gate_->url("bad", "user:wrong")), 0);
  EXPECT_EQ(outcomes_from(1), kWrongPassword);
  // A user the gate does not know.
  EXPECT_NE(ffmpeg_publish(gate_->url("nouser", "someone:pass")), 0);
  EXPECT_EQ(outcomes_from(4), (std::vector<Outcome>{Outcome::kNeedAuth, Outcome::kNoSuchUser}));
  // The right one: through to nginx, which records every packet.
  EXPECT_EQ(ffmpeg_publish(gate_->url("k", "user:" + kPassword)), 0);
  EXPECT_EQ(outcomes_from(6), kFullExchange);
  auto attempts = gate_->attempts();
  ASSERT_EQ(attempts.size(), 9u);
  EXPECT_EQ(attempts[6].app, "live");
  EXPECT_EQ(attempts[7].app, "live?authmod=adobe&user=user");
  EXPECT_EQ(attempts[8].app.rfind("live?authmod=adobe&user=user&challenge=", 0), 0u)
      << attempts[8].app;
  EXPECT_NE(attempts[8].app.find("&response="), std::string::npos);
  EXPECT_NE(attempts[8].app.find("&opaque="), std::string::npos);
  expect_recorded_source({"k"});
  for (const char* key : {"none", "bad", "nouser"}) {
    EXPECT_FALSE(std::filesystem::exists(nginx_->dir() / "rec" / (std::string(key) + ".flv")))
        << key << " reached nginx";
  }
}

// --- 2. rtmppushsink ----------------------------------------------------------------------------

TEST_F(AdobeAuth, PushSinkPublishesThroughTheGate) {
  struct Case {
    std::string key, userinfo, props;
    std::vector<Outcome> want;
  };
  const std::vector<Case> cases = {
      {"props", "", "username=user password=" + kPassword, kFullExchange},
      // authmod=adobe names the user from the first connect: no "need auth" round.
      {"adobe",
       "",
       "authmod=adobe username=user password=" + kPassword,
       {Outcome::kChallenge, Outcome::kAccepted}},
      {"location", kUserinfo, "", kFullExchange},
  };
  std::vector<std::string> keys;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    size_t before = gate_->outcomes().size();
    start_push(gate_->url(c.key, c.userinfo), c.props);
    RunEnd end = wait_run(pipeline_, 60'000);
    EXPECT_EQ(end.type, GST_MESSAGE_EOS) << end.text;
    EXPECT_TRUE(end.seen("rtmppushsink-connected"));
    stop_pipeline();
    EXPECT_EQ(outcomes_from(before), c.want);
    keys.push_back(c.key);
  }
  expect_recorded_source(keys);
}

TEST_F(AdobeAuth, PushSinkWithoutTheRightPasswordIsNotAuthorizedAtOnce) {
  struct Case {
    std::string key, props;
    std::vector<Outcome> want;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"wrong", "username=user password=wrong", kWrongPassword, "?reason=authfailed"},
      {"none", "", {Outcome::kNeedAuth}, "code=403 need auth"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    size_t before = gate_->outcomes().size();
    auto t0 = Clock::now();
    start_push(gate_->url(c.key), c.props + " timeout=30");
    RunEnd end = wait_run(pipeline_, 40'000);
    expect_not_authorized(end, ms_since(t0), before, c.want, c.reason, "rtmppushsink-reconnecting");
  }
  nginx_->stop();
  EXPECT_FALSE(std::filesystem::exists(nginx_->dir() / "rec" / "wrong.flv"));
  EXPECT_FALSE(std::filesystem::exists(nginx_->dir() / "rec" / "none.flv"));
}

// --- 3. rtmpingestsrc mode=caller ---------------------------------------------------------------

TEST_F(AdobeAuth, CallerPlaysThroughTheGateByteIdentical) {
  struct Case {
    std::string key, props;
    std::vector<Outcome> want;
  };
  const std::vector<Case> cases = {
      {"props", "location=" + gate_->url("props") + " username=user password=" + kPassword,
       kFullExchange},
      {"location", "location=" + gate_->url("location", kUserinfo), kFullExchange},
      // authmod=adobe names the user from the first connect: no "need auth" round.
      {"adobe",
       "location=" + gate_->url("adobe", kUserinfo) + " authmod=adobe",
       {Outcome::kChallenge, Outcome::kAccepted}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    size_t before = gate_->outcomes().size();
    collected_.md5s.clear();
    start_caller(c.props);
    RunEnd started = wait_run(pipeline_, 20'000, "rtmpingestsrc-publisher-connected");
    ASSERT_EQ(started.type, GST_MESSAGE_ELEMENT) << "the play did not start: " << started.text;
    EXPECT_EQ(outcomes_from(before), c.want);
    // Published into nginx directly, at real time, while the element plays through the gate.
    EXPECT_EQ(ffmpeg_publish(nginx_->url(c.key), true), 0);
    RunEnd end = wait_run(pipeline_, 30'000);
    EXPECT_EQ(end.type, GST_MESSAGE_EOS) << end.text;
    stop_pipeline();
    std::lock_guard<std::mutex> lock(collected_.mu);
    EXPECT_EQ(collected_.md5s["video_0"], want_video_) << "video differs from the source";
    EXPECT_EQ(collected_.md5s["audio_0"], want_audio_) << "audio differs from the source";
  }
}

TEST_F(AdobeAuth, CallerAuthenticatesAgainWhenItReconnects) {
  start_caller("location=" + gate_->url("k") + " username=user password=" + kPassword +
               " on-disconnect=wait reconnect-delay=100");
  RunEnd started = wait_run(pipeline_, 20'000, "rtmpingestsrc-publisher-connected");
  ASSERT_EQ(started.type, GST_MESSAGE_ELEMENT) << "the play did not start: " << started.text;
  EXPECT_EQ(outcomes_from(0), kFullExchange);
  // The connection drops: the element plays again, through a whole new challenge-response
  // (nothing of the last one is reused), and what is published then comes out of the pads.
  gate_->cut();
  RunEnd again = wait_run(pipeline_, 20'000, "rtmpingestsrc-publisher-connected");
  ASSERT_EQ(again.type, GST_MESSAGE_ELEMENT) << "no second play: " << again.text;
  EXPECT_TRUE(again.seen("rtmpingestsrc-reconnecting"));
  EXPECT_EQ(ffmpeg_publish(nginx_->url("k")), 0);
  EXPECT_TRUE(wait_buffers(1, 20'000)) << "nothing played after the reconnect";
  std::vector<Outcome> twice = kFullExchange;
  twice.insert(twice.end(), kFullExchange.begin(), kFullExchange.end());
  EXPECT_EQ(outcomes_from(0), twice);
  auto attempts = gate_->attempts();
  ASSERT_EQ(attempts.size(), 6u);
  EXPECT_NE(attempts[2].app, attempts[5].app) << "the same response twice";
  stop_pipeline();
}

TEST_F(AdobeAuth, CallerWithoutTheRightPasswordIsNotAuthorizedAtOnce) {
  struct Case {
    std::string props;
    std::vector<Outcome> want;
    std::string reason;
  };
  // on-disconnect=wait retries lost streams, never a refused login.
  const std::vector<Case> cases = {
      {"username=user password=wrong on-disconnect=eos", kWrongPassword, "?reason=authfailed"},
      {"username=user password=wrong on-disconnect=wait", kWrongPassword, "?reason=authfailed"},
      {"on-disconnect=wait", {Outcome::kNeedAuth}, "code=403 need auth"},
      // authmod=none never answers, whatever the credentials.
      {"username=user password=" + kPassword + " authmod=none",
       {Outcome::kNeedAuth},
       "code=403 need auth"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.props);
    size_t before = gate_->outcomes().size();
    auto t0 = Clock::now();
    start_caller("location=" + gate_->url("k") + " timeout=30 reconnect-delay=100 " + c.props);
    RunEnd end = wait_run(pipeline_, 40'000);
    expect_not_authorized(end, ms_since(t0), before, c.want, c.reason,
                          "rtmpingestsrc-reconnecting");
  }
}

}  // namespace
