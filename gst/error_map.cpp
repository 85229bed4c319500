#include "gst/error_map.h"

namespace gst_ertmp {

GIOErrorEnum io_error_for_status(std::string_view code) {
  if (code == "NetStream.Publish.BadName") return G_IO_ERROR_EXISTS;
  if (code == "NetStream.Publish.Denied" || code == "NetConnection.Connect.Rejected" ||
      code == "NetStream.Publish.Unauthorized") {
    return G_IO_ERROR_PERMISSION_DENIED;
  }
  if (code == "NetStream.Play.StreamNotFound") return G_IO_ERROR_NOT_FOUND;
  return G_IO_ERROR_FAILED;
}

GIOErrorEnum io_error_for_errc(rtmp::Errc code) {
  switch (code) {
    case rtmp::Errc::kAuthFailed:
      return G_IO_ERROR_PERMISSION_DENIED;
    case rtmp::Errc::kTimeout:
      return G_IO_ERROR_TIMED_OUT;
    case rtmp::Errc::kUnsupported:
      return G_IO_ERROR_NOT_SUPPORTED;
    case rtmp::Errc::kTruncated:
    case rtmp::Errc::kMalformed:
    case rtmp::Errc::kLimitExceeded:
    case rtmp::Errc::kProtocolViolation:
    case rtmp::Errc::kBadVersion:
      return G_IO_ERROR_INVALID_DATA;
    default:
      return G_IO_ERROR_FAILED;
  }
}

BusError connect_error(GQuark domain, gint code) {
  if (domain == G_IO_ERROR && code == G_IO_ERROR_PERMISSION_DENIED) {
    return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED, "Not authorized to connect"};
  }
  if (domain == G_IO_ERROR && code == G_IO_ERROR_CONNECTION_REFUSED) {
    return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "Connection refused"};
  }
  return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED, "Failed to connect"};
}

BusError connection_error(bool writing) {
  return {GST_RESOURCE_ERROR, writing ? GST_RESOURCE_ERROR_WRITE : GST_RESOURCE_ERROR_READ,
          "Connection error"};
}

BusError settings_error() {
  return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "Invalid settings"};
}

void post_bus_error(GstElement* element, const BusError& error, const std::string& text,
                    const std::string& debug) {
  std::string message =
      text.empty() ? std::string(error.what) : std::string(error.what) + ": " + text;
  // gst_element_message_full takes ownership of both strings.
  gst_element_message_full(
      element, GST_MESSAGE_ERROR, error.domain, error.code, g_strdup(message.c_str()),
      debug.empty() ? nullptr : g_strdup(debug.c_str()), __FILE__, GST_FUNCTION, __LINE__);
}

}  // namespace gst_ertmp
