// Plugin registration: rtmpingestsrc and rtmppushsink.
#include <gst/gst.h>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"

// One above rtmp2src/rtmp2sink (primary + 1): installing the plugin makes playbin,
// uridecodebin and gst_element_make_from_uri() use these elements for rtmp:// and rtmps://.
// They take every rtmp2src/rtmp2sink property (tests/gst/dropin*_test.cpp) and play what
// rtmp2src cannot (E-RTMP codecs). GST_PLUGIN_FEATURE_RANK=rtmpingestsrc:NONE,rtmppushsink:NONE
// gives the rtmp2 elements back.
constexpr guint kRank = GST_RANK_PRIMARY + 2;

static gboolean plugin_init(GstPlugin* plugin) {
  return gst_element_register(plugin, "rtmpingestsrc", kRank, GST_TYPE_RTMP_INGEST_SRC) &&
         gst_element_register(plugin, "rtmppushsink", kRank, GST_TYPE_RTMP_PUSH_SINK);
}

#define PACKAGE "gst-ertmp"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, ertmp,
                  "RTMP and Enhanced RTMP ingest and publish", plugin_init, "0.1.0", "LGPL",
                  "gst-ertmp", "https://example.invalid/gst-ertmp")
