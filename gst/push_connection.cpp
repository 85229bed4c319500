#include "gst/push_connection.h"

#include <gst/gst.h>

#include <vector>

#include "gst/client_stream.h"
#include "gst/error_map.h"

GST_DEBUG_CATEGORY_STATIC(ertmp_push_io_debug);
#define GST_CAT_DEFAULT ertmp_push_io_debug

namespace gst_ertmp {
namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(g_get_monotonic_time() / 1000);
}

void init_debug() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    // Same name as the ingest's I/O category: GStreamer hands back the existing one.
    GST_DEBUG_CATEGORY_INIT(ertmp_push_io_debug, "ertmpio", 0, "gst-ertmp socket layer");
    g_once_init_leave(&once, 1);
  }
}

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(g_random_int_range(0, 256));
  return v;
}

}  // namespace

void set_closed_failure(PushFailure* f, const rtmp::ClientClosed& closed) {
  set_failure(f, closed.error ? closed.error->to_string() : "the server ended the session");
  if (!f) return;
  f->status_code = closed.status_code;
  f->rejected = closed.error && closed.error->code == rtmp::Errc::kAuthFailed;
  f->code = !closed.status_code.empty() ? io_error_for_status(closed.status_code)
            : closed.error              ? io_error_for_errc(closed.error->code)
                                        : G_IO_ERROR_CONNECTION_CLOSED;
}

void set_failure(PushFailure* f, std::string message, GError* err, GIOErrorEnum code) {
  if (!f) return;
  *f = PushFailure{};  // a fresh failure: nothing left over from an auth attempt
  f->message = std::move(message);
  f->domain = G_IO_ERROR;
  f->code = code;
  if (err) {
    f->message += std::string(": ") + err->message;
    f->cancelled = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    f->domain = err->domain;
    f->code = err->code;
  }
}

gboolean accept_server_certificate(GTlsConnection*, GTlsCertificate*, GTlsCertificateFlags errors,
                                   gpointer data) {
  init_debug();
  auto flags = static_cast<GTlsCertificateFlags>(GPOINTER_TO_UINT(data));
  if ((errors & flags) == 0) return TRUE;
  GST_WARNING("server certificate refused (GTlsCertificateFlags 0x%x)",
              static_cast<unsigned>(errors & flags));
  return FALSE;
}

void close_client_stream(GIOStream* stream, GSocketConnection* conn, GCancellable* cancel) {
  if (!conn) return;
  // TLS writes close_notify here: cancellable, and bounded by the socket's timeout, so a
  // stalled peer cannot hold stop().
  g_io_stream_close(stream, cancel, nullptr);
  if (stream != G_IO_STREAM(conn)) g_object_unref(stream);
  g_object_unref(conn);
}

bool apply_auth_mode(AuthMode auth, rtmp::ClientConfig* config) {
  if (auth == AuthMode::kNone) {
    config->username.clear();  // the session then never answers an authentication request
  } else if (auth == AuthMode::kAdobe) {
    if (config->username.empty() || config->password.empty()) return false;
    if (config->auth_query.empty()) config->auth_query = "?authmod=adobe&user=" + config->username;
  }
  return true;
}

PushConnection::~PushConnection() {
  close_client_stream(stream_, conn_, cancel_);
  if (cancel_) g_object_unref(cancel_);
}

std::unique_ptr<PushConnection> PushConnection::open(const PushTarget& target, GCancellable* cancel,
                                                     PushFailure* failure) {
  init_debug();
  rtmp::ClientConfig config = target.config;
  if (!apply_auth_mode(target.auth, &config)) {
    set_failure(failure, "adobe authentication needs a username and a password");
    if (failure) {
      failure->rejected = true;
      failure->code = G_IO_ERROR_PERMISSION_DENIED;
    }
    return nullptr;
  }
  // Adobe auth takes up to three connections: plain, user named, challenge answered.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<PushConnection> c(new PushConnection());
    c->cancel_ = G_CANCELLABLE(g_object_ref(cancel));
    if (c->connect_once(target, config, failure)) return c;
    if (!c->auth_retry_) return nullptr;
    GST_INFO("server asks for adobe authentication: reconnecting");
    config.auth_query = *c->auth_retry_;
  }
  set_failure(failure, "authentication did not complete");
  if (failure) {
    failure->rejected = true;
    failure->code = G_IO_ERROR_PERMISSION_DENIED;
  }
  return nullptr;
}

bool PushConnection::connect_once(const PushTarget& target, rtmp::ClientConfig config,
                                  PushFailure* failure) {
  const rtmp::Url& url = config.url;
  // One deadline for TCP and TLS (a trickled TLS handshake cannot stretch it); then the socket's
  // timeout bounds every blocking read and write below (TLS included: it sits on this socket).
  const gint64 deadline =
      target.timeout_s ? g_get_monotonic_time() + gint64{target.timeout_s} * G_USEC_PER_SEC : 0;
  ClientStream cs;
  if (!open_client_stream(url, target.tls_validation_flags, cancel_, deadline, target.timeout_s,
                          &cs, failure)) {
    return false;
  }
  conn_ = cs.conn;
  stream_ = cs.stream;
  socket_ = g_socket_connection_get_socket(conn_);
  g_socket_set_timeout(socket_, target.timeout_s);  // 0: none

  GST_DEBUG("connected to %s, publishing", url.to_string().c_str());
  config.random = random_bytes(1528);
  config.timeout_ms = uint64_t{target.timeout_s} * 1000;
  session_ = std::make_unique<rtmp::ClientSession>(std::move(config), now_ms());  // url: gone
  while (!publishing_) {
    if (!flush(failure)) return false;
    if (!read_some(true, failure)) return false;
    session_->handle_timeout(now_ms());
    if (!drain_events(failure)) return false;
  }
  return true;
}

bool PushConnection::drain_events(PushFailure* failure) {
  bool ok = true;
  while (auto ev = session_->next_event()) {
    if (auto c = std::get_if<rtmp::ClientConnected>(&*ev)) {
      server_caps_ = c->server_caps;
      fms_ver_ = c->fms_ver;
      GST_INFO("connected to '%s'%s", c->fms_ver.c_str(),
               c->server_caps.present_any ? " (E-RTMP capabilities echoed)" : "");
    } else if (std::get_if<rtmp::PublishStarted>(&*ev)) {
      publishing_ = true;
    } else if (auto a = std::get_if<rtmp::AuthRetry>(&*ev)) {
      auth_retry_ = a->auth_query;
    } else if (auto r = std::get_if<rtmp::ReconnectRequested>(&*ev)) {
      GST_INFO("server asks us to reconnect to %s (%s)", r->tc_url.c_str(), r->description.c_str());
      reconnect_request_ = r->tc_url;
    } else if (auto s = std::get_if<rtmp::StatusReceived>(&*ev)) {
      GST_DEBUG("onStatus %s %s: %s", s->level.c_str(), s->code.c_str(), s->description.c_str());
    } else if (auto w = std::get_if<rtmp::ClientWarning>(&*ev)) {
      GST_WARNING("%s", w->error.to_string().c_str());
    } else if (auto cl = std::get_if<rtmp::ClientClosed>(&*ev)) {
      closed_ = true;
      ok = false;
      // Without an error after an auth challenge: the caller reconnects with auth_retry_.
      if (cl->error || !auth_retry_) set_closed_failure(failure, *cl);
    }
  }
  return ok;
}

bool PushConnection::read_some(bool blocking, PushFailure* failure) {
  uint8_t buf[16 * 1024];
  GInputStream* in = g_io_stream_get_input_stream(stream_);
  for (int i = 0; i < 64; ++i) {
    GError* err = nullptr;
    gssize n;
    if (blocking) {
      n = g_input_stream_read(in, buf, sizeof buf, cancel_, &err);
    } else {
      n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buf, sizeof buf,
                                                   cancel_, &err);
      if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_error_free(err);
        return true;
      }
    }
    if (n < 0) {
      bool timed_out = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      set_failure(failure, timed_out ? "no answer from the server" : "receive failed", err);
      g_clear_error(&err);
      return false;
    }
    if (n == 0) {
      set_failure(failure, "the server closed the connection");
      return false;
    }
    auto st = session_->receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now_ms());
    if (!st.ok()) {
      // The session queued a ClientClosed with the details; drain_events reports it.
      drain_events(failure);
      if (failure && failure->message.empty()) failure->message = st.error().to_string();
      return false;
    }
    if (blocking) return true;
  }
  return true;
}

bool PushConnection::flush(PushFailure* failure) {
  if (write_failed_) {
    set_failure(failure, "send failed earlier");
    return false;
  }
  GOutputStream* out = g_io_stream_get_output_stream(stream_);
  // Borrowed media (send_message_borrowed) sits between the chunk headers: one writev sends
  // headers and frame slices from where they are.
  while (session_->pending_output_pieces(pieces_, kMaxPieces) > 0) {
    vec_.resize(pieces_.size());
    for (size_t i = 0; i < pieces_.size(); ++i) vec_[i] = {pieces_[i].data(), pieces_[i].size()};
    GError* err = nullptr;
    gsize n = 0;
    if (!g_output_stream_writev(out, vec_.data(), vec_.size(), &n, cancel_, &err) || n == 0) {
      bool timed_out = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      set_failure(failure, timed_out ? "the server stopped reading" : "send failed", err);
      g_clear_error(&err);
      write_failed_ = true;  // the output may refer to media the caller frees now
      return false;
    }
    session_->consume_output(n);
  }
  return true;
}

bool PushConnection::poll(PushFailure* failure) {
  if (closed_) {
    set_failure(failure, "session closed");
    return false;
  }
  // Flush too: ping responses and acknowledgements must not wait for the next media.
  return read_some(false, failure) && drain_events(failure) && flush(failure);
}

std::optional<std::string> PushConnection::take_reconnect_request() {
  auto r = std::move(reconnect_request_);
  reconnect_request_.reset();
  return r;
}

bool PushConnection::set_pacing_rate(guint64 bytes_per_second) {
#ifdef SO_MAX_PACING_RATE
  // ~0 is "unlimited" for the kernel; rtmp2sink passes -1 the same way.
  gint rate = bytes_per_second == 0 || bytes_per_second > G_MAXINT
                  ? -1
                  : static_cast<gint>(bytes_per_second);
  GError* err = nullptr;
  if (g_socket_set_option(socket_, SOL_SOCKET, SO_MAX_PACING_RATE, rate, &err)) return true;
  GST_WARNING("SO_MAX_PACING_RATE refused: %s", err->message);
  g_error_free(err);
  return false;
#else
  (void)bytes_per_second;
  return false;
#endif
}

void PushConnection::close(guint linger_ms, const rtmp::StopCommands& commands) {
  if (!session_ || write_failed_) return;
  session_->stop(commands);
  while (session_->next_event()) {
  }
  if (!flush(nullptr)) return;
  // Half-close and give the server a moment to read FCUnpublish/deleteStream and hang up
  // (ffmpeg -listen finalizes its file only when it sees them).
  if (stream_ == G_IO_STREAM(conn_)) {
    g_socket_shutdown(socket_, FALSE, TRUE, nullptr);
    gint64 deadline = g_get_monotonic_time() + gint64{linger_ms} * 1000;
    uint8_t buf[4096];
    while (g_get_monotonic_time() < deadline) {
      GError* err = nullptr;
      gint64 left = deadline - g_get_monotonic_time();
      if (!g_socket_condition_timed_wait(socket_, G_IO_IN, left, cancel_, &err)) {
        g_clear_error(&err);
        break;
      }
      gssize n =
          g_socket_receive(socket_, reinterpret_cast<gchar*>(buf), sizeof buf, cancel_, nullptr);
      if (n <= 0) break;
    }
  }
}

}  // namespace gst_ertmp
