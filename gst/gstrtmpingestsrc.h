// rtmpingestsrc: an RTMP / Enhanced RTMP server inside a pipeline (SPEC §4).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTMP_INGEST_SRC (gst_rtmp_ingest_src_get_type())
G_DECLARE_FINAL_TYPE(GstRtmpIngestSrc, gst_rtmp_ingest_src, GST, RTMP_INGEST_SRC, GstElement)

G_END_DECLS
