// The GstURIHandler half both elements share: the URI is the `location` property (an
// rtmp[s]:// URL, checked with rtmp::parse_url before it is set).
#pragma once

#include <gst/gst.h>

namespace gst_ertmp {

// Fills `iface` (a GstURIHandlerInterface) with get_uri/set_uri over "location" and the
// element's own type and protocol list.
void init_location_uri_handler(gpointer iface, GstURIType (*get_type)(GType),
                               const gchar* const* (*get_protocols)(GType));

}  // namespace gst_ertmp
