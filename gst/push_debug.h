// The `rtmppushsink` debug category, shared by the element and its rooms (push_input,
// push_packager, push_publisher): `GST_DEBUG=rtmppushsink:5` shows all of them.
#pragma once

#include <gst/gst.h>

namespace gst_ertmp {

inline GstDebugCategory* push_debug_category() {
  static GstDebugCategory* category = nullptr;
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(category, "rtmppushsink", 0, "RTMP push sink");
    g_once_init_leave(&once, 1);
  }
  return category;
}

}  // namespace gst_ertmp
