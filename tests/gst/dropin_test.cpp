// rtmppushsink is a drop-in for the installed rtmp2sink: every property of rtmp2sink and of
// GstBaseSink, compared at test time (dropin.h), the static `sink` pad, the URI handler; and
// the table of deliberate differences is the one docs/rtmppushsink.md shows.
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gst/gstrtmppushsink.h"
#include "tests/gst/dropin.h"
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

bool have_factory(const char* name) {
  GstElementFactory* f = gst_element_factory_find(name);
  if (f) gst_object_unref(f);
  return f != nullptr;
}

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
  std::ifstream f(std::filesystem::path(root) / "docs" / "rtmppushsink.md");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  auto section = doc.find("## Deliberate differences");
  ASSERT_NE(section, std::string::npos);
  auto end = doc.find("\n## ", section + 1);
  const std::string table = doc.substr(section, end - section);
  for (const auto& d : kSinkDifferences) {
    std::string row = std::string("| `") + d.property + "` | " + d.aspect + " |";
    EXPECT_NE(table.find(row), std::string::npos) << "docs lack the row " << row;
  }
}

}  // namespace
