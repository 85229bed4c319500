// The byte stream under an RTMP client connection, for both client roles: rtmppushsink
// (gst/push_connection.h) and rtmpingestsrc mode=caller (gst/pull_connection.h).
//
// open_client_stream() resolves the server, connects TCP (TCP_NODELAY) and, for rtmps://, does
// the TLS handshake (certificate checked against the validation flags), all within ONE
// deadline: a server that trickles its TLS handshake byte by byte cannot stretch it, as a
// timeout per read (GSocket's) would let it. The GIO operations run asynchronously on the
// calling thread's default GMainContext (a context of the call's own when the thread has
// none), which the call iterates until they finish, the deadline passes or `cancel` is
// cancelled. A passing deadline cancels only what the call started, never `cancel`.
//
// iterate_until() is the wait both connections use afterwards too (pull_connection.cpp's
// reads).
#pragma once

#include <gio/gio.h>

#include <string>

#include "gst/push_connection.h"
#include "protocol/url.h"

namespace gst_ertmp {

struct ClientStream {
  GSocketConnection* conn = nullptr;  // owned
  GIOStream* stream = nullptr;        // owned: `conn` itself, or the TLS connection over it
};

// `deadline_us`: monotonic, 0 = none; `timeout_s` is the setting it came from, named in the
// message of a deadline that passed. False with `failure` filled (G_IO_ERROR_TIMED_OUT for the
// deadline; the socket's or TLS layer's own error otherwise; `cancelled` when `cancel` was)
// and nothing left open.
bool open_client_stream(const rtmp::Url& url, GTlsCertificateFlags validation, GCancellable* cancel,
                        gint64 deadline_us, guint timeout_s, ClientStream* out,
                        PushFailure* failure);

// "within the timeout (N s)": how a connection's failure messages name its deadline.
std::string within_timeout(guint timeout_s);

// A GSource callback that sets the bool `data` points at (a pollable source's signature).
gboolean raise_flag_pollable(GObject*, gpointer data);

// Iterates this thread's default context (which must exist) until `done()` or `deadline_us`
// (monotonic, 0 = none). `source` (taken, may be null) is attached for the wait; its callback
// must be set. False when the deadline came first.
bool iterate_until_fn(bool (*done)(void*), void* data, gint64 deadline_us, GSource* source);
template <class Done>
bool iterate_until(Done done, gint64 deadline_us, GSource* source) {
  return iterate_until_fn([](void* d) { return (*static_cast<Done*>(d))(); }, &done, deadline_us,
                          source);
}

}  // namespace gst_ertmp
