#include "gst/location_uri.h"

#include "protocol/url.h"

namespace gst_ertmp {
namespace {

gchar* get_uri(GstURIHandler* handler) {
  gchar* uri = nullptr;
  g_object_get(handler, "location", &uri, nullptr);
  return uri;
}

gboolean set_uri(GstURIHandler* handler, const gchar* uri, GError** error) {
  auto url = rtmp::parse_url(uri ? uri : "");
  if (!url.ok()) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "Invalid RTMP URI '%s': %s", uri,
                url.error().to_string().c_str());
    return FALSE;
  }
  g_object_set(handler, "location", uri, nullptr);
  return TRUE;
}

}  // namespace

void init_location_uri_handler(gpointer g_iface, GstURIType (*get_type)(GType),
                               const gchar* const* (*get_protocols)(GType)) {
  auto* iface = static_cast<GstURIHandlerInterface*>(g_iface);
  iface->get_type = get_type;
  iface->get_protocols = get_protocols;
  iface->get_uri = get_uri;
  iface->set_uri = set_uri;
}

}  // namespace gst_ertmp
