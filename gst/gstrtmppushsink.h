// rtmppushsink: publishes a pipeline's audio/video to an RTMP/RTMPS server (SPEC §5). A
// GstBaseSink, interchangeable with GStreamer's rtmp2sink (every property of it and of
// GstBaseSink, the always `sink` pad for flvmux), with request pads for elementary streams
// (E-RTMP, multitrack) and reconnect. docs/rtmppushsink.md.
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTMP_PUSH_SINK (gst_rtmp_push_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRtmpPushSink, gst_rtmp_push_sink, GST, RTMP_PUSH_SINK, GstBaseSink)

G_END_DECLS
