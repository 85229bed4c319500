// rtmppushsink: publishes a pipeline's audio/video to an RTMP/RTMPS server (SPEC §5).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTMP_PUSH_SINK (gst_rtmp_push_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRtmpPushSink, gst_rtmp_push_sink, GST, RTMP_PUSH_SINK, GstElement)

G_END_DECLS
