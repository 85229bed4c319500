// rtmpingestsrc mode=caller is a drop-in for the installed rtmp2src: every property of rtmp2src
// and of GstBaseSrc compared at test time (dropin.h); in caller mode a fresh element reads what
// rtmp2src reads; the `src` pad of caller + output-mode=flv is there at once and links as
// rtmp2src's; the URI handler picks the mode. The table of deliberate differences is the one
// docs/rtmpingestsrc.md shows.
#include <gst/base/gstbasesrc.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gst/gstrtmpingestsrc.h"
#include "tests/gst/dropin.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::DropinDifference;

// rtmpingestsrc vs rtmp2src (1.22) + GstBaseSrc. Every row has a reason; docs/rtmpingestsrc.md
// ("Deliberate differences from rtmp2src") shows the same rows. All four come from one
// element serving both modes with the listener as the default: in caller mode the element
// reads and behaves as rtmp2src's defaults (InCallerModeAFreshElementReadsWhatRtmp2srcReads).
const std::vector<DropinDifference> kSrcDifferences = {
    {"location", "default",
     "NULL, the listener's (serve any application and key on 0.0.0.0:1935); in caller mode it "
     "reads rtmp://localhost/live/myStream, as rtmp2src's"},
    {"application", "default",
     "\"\" (the listener serves any application); \"live\" in caller mode, as rtmp2src's"},
    {"idle-timeout", "default",
     "30 s, the listener's limit on dead publishers; 0 (none) in caller mode, as rtmp2src's"},
    {"port", "range",
     "0..65535: port 0 makes the listener pick a free one; in caller mode 0 fails "
     "READY->PAUSED"},
};

using ertmp_test::have_factory;

class DropinSrc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  }
  void SetUp() override {
    ERTMP_REQUIRE(have_factory("rtmp2src"), "rtmp2src (gstreamer1.0-plugins-bad)");
  }
};

TEST_F(DropinSrc, EveryPropertyOfRtmp2srcAndGstBaseSrcIsOursUnlessListed) {
  auto report =
      ertmp_test::compare_dropin("rtmpingestsrc", "rtmp2src", GST_TYPE_BASE_SRC, kSrcDifferences);
  for (const auto& p : report.problems) ADD_FAILURE() << p;
  for (const auto& s : report.stale_differences)
    ADD_FAILURE() << "listed as a difference but matches: " << s;
  // rtmp2src 1.22 has 16 properties of its own, GstBaseSrc 4, GstObject 2.
  EXPECT_GE(report.properties_compared, 22);
}

// The listed defaults are the listener's: with mode=caller every property rtmp2src has reads
// what a fresh rtmp2src reads (stats: the same fields, all 0 before a connection).
TEST_F(DropinSrc, InCallerModeAFreshElementReadsWhatRtmp2srcReads) {
  GstElement* ours = gst_element_factory_make("rtmpingestsrc", nullptr);
  GstElement* theirs = gst_element_factory_make("rtmp2src", nullptr);
  ASSERT_TRUE(ours && theirs);
  gst_util_set_object_arg(G_OBJECT(ours), "mode", "caller");
  guint n = 0;
  GParamSpec** specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(theirs), &n);
  int compared = 0;
  for (guint i = 0; i < n; ++i) {
    GParamSpec* t = specs[i];
    if (!(t->flags & G_PARAM_READABLE) || g_strcmp0(t->name, "name") == 0 ||
        g_strcmp0(t->name, "parent") == 0) {
      continue;
    }
    GParamSpec* o = g_object_class_find_property(G_OBJECT_GET_CLASS(ours), t->name);
    ASSERT_TRUE(o) << t->name;
    GValue tv = G_VALUE_INIT, ov = G_VALUE_INIT;
    g_value_init(&tv, t->value_type);
    g_value_init(&ov, o->value_type);
    g_object_get_property(G_OBJECT(theirs), t->name, &tv);
    g_object_get_property(G_OBJECT(ours), t->name, &ov);
    if (G_VALUE_HOLDS(&tv, GST_TYPE_STRUCTURE)) {
      // Every field rtmp2src's stats has, with its value.
      auto* ts = static_cast<const GstStructure*>(g_value_get_boxed(&tv));
      auto* os = static_cast<const GstStructure*>(g_value_get_boxed(&ov));
      ASSERT_TRUE(ts && os) << t->name;
      for (int f = 0; f < gst_structure_n_fields(ts); ++f) {
        const char* field = gst_structure_nth_field_name(ts, f);
        const GValue* a = gst_structure_get_value(ts, field);
        const GValue* b = gst_structure_get_value(os, field);
        ASSERT_TRUE(b) << "stats lacks " << field;
        EXPECT_EQ(gst_value_compare(a, b), GST_VALUE_EQUAL) << "stats field " << field;
      }
    } else {
      EXPECT_TRUE(ertmp_test::dropin_detail::same_value(&tv, &ov))
          << t->name << ": rtmp2src " << ertmp_test::dropin_detail::value_text(&tv) << " vs ours "
          << ertmp_test::dropin_detail::value_text(&ov);
    }
    ++compared;
    g_value_unset(&tv);
    g_value_unset(&ov);
  }
  g_free(specs);
  EXPECT_GE(compared, 18);
  gst_object_unref(ours);
  gst_object_unref(theirs);
}

// rtmp2src's `src` is an always pad: code that links it at construction, or looks it up, must
// find ours too (caller mode with output-mode=flv, in either property order).
TEST_F(DropinSrc, TheCallerFlvSrcPadIsThereAtOnceAndLinksLikeRtmp2srcs) {
  GstElement* theirs = gst_element_factory_make("rtmp2src", nullptr);
  for (bool mode_first : {true, false}) {
    GstElement* ours = gst_element_factory_make("rtmpingestsrc", nullptr);
    EXPECT_EQ(gst_element_get_static_pad(ours, "src"), nullptr) << "no pad in listener mode";
    if (mode_first) {
      gst_util_set_object_arg(G_OBJECT(ours), "mode", "caller");
      gst_util_set_object_arg(G_OBJECT(ours), "output-mode", "flv");
    } else {
      gst_util_set_object_arg(G_OBJECT(ours), "output-mode", "flv");
      gst_util_set_object_arg(G_OBJECT(ours), "mode", "caller");
    }
    GstPad* pad = gst_element_get_static_pad(ours, "src");
    ASSERT_TRUE(pad) << "gst_element_get_static_pad(src, \"src\")";
    GstPad* their_pad = gst_element_get_static_pad(theirs, "src");
    GstCaps* a = gst_pad_query_caps(pad, nullptr);
    GstCaps* b = gst_pad_query_caps(their_pad, nullptr);
    EXPECT_TRUE(gst_caps_is_equal(a, b));
    gst_caps_unref(a);
    gst_caps_unref(b);
    gst_object_unref(their_pad);
    // gst_element_link, as applications built for rtmp2src do before any data.
    GstElement* pipeline = gst_pipeline_new(nullptr);
    GstElement* demux = gst_element_factory_make("flvdemux", nullptr);
    gst_bin_add_many(GST_BIN(pipeline), ours, demux, nullptr);
    EXPECT_TRUE(gst_element_link(ours, demux));
    EXPECT_TRUE(gst_pad_is_linked(pad));
    gst_object_unref(pad);
    // Back to listener mode: the pad goes (the listener adds its own on a publish).
    gst_util_set_object_arg(G_OBJECT(ours), "mode", "listener");
    EXPECT_EQ(gst_element_get_static_pad(ours, "src"), nullptr);
    gst_object_unref(pipeline);
  }
  gst_object_unref(theirs);
  // A launch line links it at once, not through a delayed pad-added link.
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(
      "rtmpingestsrc name=s mode=caller output-mode=flv location=rtmp://127.0.0.1/live/k ! "
      "flvdemux",
      &err);
  ASSERT_TRUE(p) << (err ? err->message : "");
  GstElement* s = gst_bin_get_by_name(GST_BIN(p), "s");
  GstPad* pad = gst_element_get_static_pad(s, "src");
  ASSERT_TRUE(pad);
  EXPECT_TRUE(gst_pad_is_linked(pad));
  gst_object_unref(pad);
  gst_object_unref(s);
  gst_object_unref(p);
}

// uridecodebin and playbin hand a fresh element the URI: it must play from that server. Only a
// wildcard address (nobody plays from it) means listening.
TEST_F(DropinSrc, TheUriHandlerPlaysFromTheServerAndListensOnlyOnAWildcard) {
  GstElement* theirs = gst_element_factory_make("rtmp2src", nullptr);
  struct Case {
    const char* uri;
    const char* mode;
    const char* host;  // caller only
    int port;
    const char* app;
    const char* stream;
  } cases[] = {
      {"rtmp://cdn.example.com/live/key?token=abc", "caller", "cdn.example.com", 1935, "live",
       "key?token=abc"},
      {"rtmps://u:p@cdn.example.com/app/inst/key", "caller", "cdn.example.com", 443, "app/inst",
       "key"},
      {"rtmp://[::1]:1936/live/k", "caller", "::1", 1936, "live", "k"},
      {"rtmp://0.0.0.0:1937/live/k", "listener", nullptr, 1937, "live", nullptr},
      {"rtmp://[::]:0/live/k", "listener", nullptr, 0, "live", nullptr},
  };
  for (const Case& c : cases) {
    GstElement* ours = gst_element_factory_make("rtmpingestsrc", nullptr);
    GError* err = nullptr;
    ASSERT_TRUE(gst_uri_handler_set_uri(GST_URI_HANDLER(ours), c.uri, &err))
        << c.uri << ": " << (err ? err->message : "");
    gchar* mode = nullptr;
    gchar* app = nullptr;
    int port = -1;
    GEnumValue* v = nullptr;
    gint mode_value = 0;
    g_object_get(ours, "mode", &mode_value, "application", &app, "port", &port, nullptr);
    v = g_enum_get_value(G_ENUM_CLASS(g_type_class_peek(G_PARAM_SPEC_VALUE_TYPE(
                             g_object_class_find_property(G_OBJECT_GET_CLASS(ours), "mode")))),
                         mode_value);
    mode = g_strdup(v ? v->value_nick : "?");
    EXPECT_STREQ(mode, c.mode) << c.uri;
    EXPECT_STREQ(app, c.app) << c.uri;
    EXPECT_EQ(port, c.port) << c.uri;
    if (c.host) {
      gchar *host = nullptr, *stream = nullptr;
      g_object_get(ours, "host", &host, "stream", &stream, nullptr);
      EXPECT_STREQ(host, c.host) << c.uri;
      EXPECT_STREQ(stream, c.stream) << c.uri;
      g_free(host);
      g_free(stream);
      // As rtmp2src reads the same URI.
      ASSERT_TRUE(gst_uri_handler_set_uri(GST_URI_HANDLER(theirs), c.uri, nullptr)) << c.uri;
      for (const char* prop : {"host", "application", "stream", "username", "password"}) {
        gchar *a = nullptr, *b = nullptr;
        g_object_get(ours, prop, &a, nullptr);
        g_object_get(theirs, prop, &b, nullptr);
        EXPECT_STREQ(a, b) << c.uri << " " << prop;
        g_free(a);
        g_free(b);
      }
      int their_port = 0;
      g_object_get(theirs, "port", &their_port, nullptr);
      EXPECT_EQ(port, their_port) << c.uri;
    }
    g_free(mode);
    g_free(app);
    gst_object_unref(ours);
  }
  GstElement* ours = gst_element_factory_make("rtmpingestsrc", nullptr);
  EXPECT_FALSE(gst_uri_handler_set_uri(GST_URI_HANDLER(ours), "rtmp://[bad/live/k", nullptr));
  EXPECT_EQ(gst_uri_handler_get_uri_type(GST_URI_HANDLER(ours)),
            gst_uri_handler_get_uri_type(GST_URI_HANDLER(theirs)));
  const gchar* const* po = gst_uri_handler_get_protocols(GST_URI_HANDLER(ours));
  const gchar* const* pt = gst_uri_handler_get_protocols(GST_URI_HANDLER(theirs));
  ASSERT_TRUE(po && pt);
  for (; *pt; ++pt) EXPECT_TRUE(g_strv_contains(po, *pt)) << *pt;
  gst_object_unref(ours);
  gst_object_unref(theirs);
}

// The docs show the same deliberate differences as the test enforces.
TEST_F(DropinSrc, TheDocsListTheSameDifferences) {
  const char* root = std::getenv("ERTMP_SOURCE_ROOT");
  ASSERT_TRUE(root) << "run through meson test";
  for (const auto& row : ertmp_test::rows_missing_from_doc(
           std::filesystem::path(root) / "docs" / "rtmpingestsrc.md",
           "### Deliberate differences from rtmp2src", "\n#", kSrcDifferences)) {
    ADD_FAILURE() << "docs lack the row " << row;
  }
}

}  // namespace
