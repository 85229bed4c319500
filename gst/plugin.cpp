// Plugin registration: rtmpingestsrc and rtmppushsink.
#include <gst/gst.h>

#include "gst/gstrtmpingestsrc.h"
#include "gst/gstrtmppushsink.h"

static gboolean plugin_init(GstPlugin* plugin) {
  return gst_element_register(plugin, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC) &&
         gst_element_register(plugin, "rtmppushsink", GST_RANK_NONE, GST_TYPE_RTMP_PUSH_SINK);
}

#define PACKAGE "gst-ertmp"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, ertmp,
                  "RTMP and Enhanced RTMP ingest and publish", plugin_init, "0.1.0", "LGPL",
                  "gst-ertmp", "https://example.invalid/gst-ertmp")
