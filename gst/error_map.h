// One mapping from RTMP failures to GStreamer bus errors, for both elements, as GStreamer's
// rtmp2 elements do it (gst-plugins-bad 1.22, gst/rtmp2/rtmp/rtmpclient.c and the elements'
// send_connect_error), so an application that switches between rtmp2sink/rtmp2src and ours
// sees the same domain and code:
//
//   1. A failure becomes a GIOErrorEnum, as rtmp2's client reports it:
//        NetStream.Publish.BadName          -> G_IO_ERROR_EXISTS ("stream already exists")
//        NetStream.Publish.Denied           -> G_IO_ERROR_PERMISSION_DENIED
//        NetConnection.Connect.Rejected     -> G_IO_ERROR_PERMISSION_DENIED (auth refused)
//        NetStream.Play.StreamNotFound      -> G_IO_ERROR_NOT_FOUND
//        NetStream.Publish.Unauthorized     -> G_IO_ERROR_PERMISSION_DENIED (rtmp2 knows no
//                                              such code and says FAILED; this is what it means)
//        any other status code              -> G_IO_ERROR_FAILED
//      Socket and TLS errors keep their own GError (G_IO_ERROR_CONNECTION_REFUSED, ...).
//   2. Connecting or starting the stream failed -> RESOURCE error:
//        G_IO_ERROR_PERMISSION_DENIED -> GST_RESOURCE_ERROR_NOT_AUTHORIZED "Not authorized to
//        connect"; G_IO_ERROR_CONNECTION_REFUSED -> GST_RESOURCE_ERROR_OPEN_READ "Connection
//        refused" (rtmp2 uses OPEN_READ on the sink too); anything else ->
//        GST_RESOURCE_ERROR_FAILED "Failed to connect".
//   3. An established connection failed -> GST_RESOURCE_ERROR_WRITE "Connection error" for a
//      publisher (rtmp2sink), GST_RESOURCE_ERROR_READ for a player.
//   4. Bad settings (an unparsable location, no host) -> GST_RESOURCE_ERROR_SETTINGS.
//
// GStreamer has no RESOURCE/EXISTS code: a BadName arrives as RESOURCE/FAILED with rtmp2, and
// so with us; the status code is in the message text.
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include <string>
#include <string_view>

#include "protocol/error.h"

namespace gst_ertmp {

// What rtmp2's client reports for a server status code (1. above).
GIOErrorEnum io_error_for_status(std::string_view status_code);
// The same for a protocol library error that came without a status code.
GIOErrorEnum io_error_for_errc(rtmp::Errc code);

// A bus error: its domain and code, and the start of its message.
struct BusError {
  GQuark domain = 0;
  gint code = 0;
  const char* what = "";
};

// 2. above: a failure to connect or to start the stream, given as a GError domain and code
// (a GIOErrorEnum from io_error_for_* is G_IO_ERROR).
BusError connect_error(GQuark domain, gint code);
// 3. above.
BusError connection_error(bool writing);
// 4. above.
BusError settings_error();

// Posts `error` on the bus as "<what>: <text>" with `debug`, from `element`.
void post_bus_error(GstElement* element, const BusError& error, const std::string& text,
                    const std::string& debug);

}  // namespace gst_ertmp
