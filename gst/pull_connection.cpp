#include "gst/pull_connection.h"

#include <gst/gst.h>

#include <algorithm>

#include "gst/client_stream.h"

GST_DEBUG_CATEGORY_STATIC(ertmp_pull_io_debug);
#define GST_CAT_DEFAULT ertmp_pull_io_debug

namespace gst_ertmp {
namespace {

constexpr size_t kReadSize = 128 * 1024;
// The socket's own timeout, which only bounds what GIO does blocking on its own (TLS
// close_notify on close): everything else here is non-blocking.
constexpr guint kSocketTimeoutS = 2;

void init_debug() {
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(ertmp_pull_io_debug, "ertmppull", 0,
                            "gst-ertmp caller-mode connection (rtmpingestsrc mode=caller)");
    g_once_init_leave(&once, 1);
  }
}

uint64_t now_ms() {
  return static_cast<uint64_t>(g_get_monotonic_time() / 1000);
}

void cancel_linked(GCancellable*, gpointer linked) {
  g_cancellable_cancel(G_CANCELLABLE(linked));
}

}  // namespace

PullConnection::~PullConnection() {
  if (caller_cancel_) {
    g_cancellable_disconnect(caller_cancel_, cancel_link_);
    g_object_unref(caller_cancel_);
  }
  close_client_stream(stream_, conn_, cancel_);
  if (cancel_) g_object_unref(cancel_);
}

std::unique_ptr<PullConnection> PullConnection::open(const PullTarget& target, GCancellable* cancel,
                                                     PullFailure* failure) {
  init_debug();
  rtmp::ClientConfig config = target.config;
  config.role = rtmp::ClientRole::kPlay;
  if (!apply_auth_mode(target.auth, &config)) {
    set_failure(failure, "adobe authentication needs a username and a password", nullptr,
                G_IO_ERROR_PERMISSION_DENIED);
    if (failure) failure->rejected = true;
    return nullptr;
  }
  // Adobe authentication takes up to three connections: plain, user named, challenge answered.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<PullConnection> c(new PullConnection());
    c->cancel_ = g_cancellable_new();
    c->caller_cancel_ = G_CANCELLABLE(g_object_ref(cancel));
    c->cancel_link_ = g_cancellable_connect(cancel, G_CALLBACK(cancel_linked), c->cancel_, nullptr);
    if (c->connect_once(target, config, failure)) return c;
    if (!c->auth_retry_) return nullptr;
    GST_INFO("server asks for adobe authentication: reconnecting");
    config.auth_query = *c->auth_retry_;
  }
  set_failure(failure, "authentication did not complete", nullptr, G_IO_ERROR_PERMISSION_DENIED);
  if (failure) failure->rejected = true;
  return nullptr;
}

bool PullConnection::connect_once(const PullTarget& target, rtmp::ClientConfig config,
                                  PullFailure* failure) {
  const gint64 start = g_get_monotonic_time();
  const gint64 deadline = target.timeout_s ? start + gint64{target.timeout_s} * G_USEC_PER_SEC : 0;
  timeout_s_ = target.timeout_s;
  buf_.resize(kReadSize);
  const rtmp::Url& url = config.url;
  server_ = url.host_for_url() + ":" + std::to_string(url.port);
  const std::string timeout_text = within_timeout(target.timeout_s);

  ClientStream cs;
  if (!open_client_stream(url, target.tls_validation_flags, cancel_, deadline, target.timeout_s,
                          &cs, failure)) {
    return false;
  }
  conn_ = cs.conn;
  stream_ = cs.stream;
  g_socket_set_timeout(g_socket_connection_get_socket(conn_), kSocketTimeoutS);

  GST_DEBUG("connected to %s, playing %s", server_.c_str(), url.to_string().c_str());
  config.random.resize(1528);
  for (auto& b : config.random) b = static_cast<uint8_t>(g_random_int_range(0, 256));
  // The session's own timeout ends at the same deadline (what is left of it).
  if (deadline) {
    gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
    config.timeout_ms = static_cast<uint64_t>(std::max<gint64>(left_ms, 1));
  } else {
    config.timeout_ms = 0;
  }
  session_ = std::make_unique<rtmp::ClientSession>(std::move(config), now_ms());
  while (!playing_) {
    if (!flush(failure)) return false;
    switch (read(deadline, failure)) {
      case Read::kData:
        break;
      case Read::kTimedOut:
        set_failure(failure, "no answer to play from " + server_ + " " + timeout_text, nullptr,
                    G_IO_ERROR_TIMED_OUT);
        return false;
      case Read::kClosed:
        if (!drain_until_playing(failure)) return false;  // a refusal closes too: report it
        set_failure(failure, "the server closed the connection", nullptr,
                    G_IO_ERROR_CONNECTION_CLOSED);
        return false;
      case Read::kFailed:
        return false;
      case Read::kCancelled:
        set_failure(failure, "cancelled", nullptr, G_IO_ERROR_CANCELLED);
        if (failure) failure->cancelled = true;
        return false;
    }
    session_->handle_timeout(now_ms());
    if (!drain_until_playing(failure)) return false;
  }
  GST_INFO("playing %s from %s ('%s') after %" G_GINT64_FORMAT " ms", url.stream.c_str(),
           server_.c_str(), fms_ver_.c_str(), (g_get_monotonic_time() - start) / 1000);
  return true;
}

// Handles the events up to PlayStarted; what else the server said meanwhile (onMetaData, Stream
// Begin, Play.Reset) is held for next_event().
bool PullConnection::drain_until_playing(PullFailure* failure) {
  while (!playing_) {
    auto ev = session_->next_event();
    if (!ev) return true;
    if (auto c = std::get_if<rtmp::ClientConnected>(&*ev)) {
      fms_ver_ = c->fms_ver;
    } else if (std::get_if<rtmp::PlayStarted>(&*ev)) {
      playing_ = true;
    } else if (auto a = std::get_if<rtmp::AuthRetry>(&*ev)) {
      auth_retry_ = a->auth_query;
    } else if (auto w = std::get_if<rtmp::ClientWarning>(&*ev)) {
      GST_WARNING("%s: %s", server_.c_str(), w->error.to_string().c_str());
    } else if (auto cl = std::get_if<rtmp::ClientClosed>(&*ev)) {
      if (!cl->error && auth_retry_) return false;  // adobe auth: open() reconnects
      set_closed_failure(failure, *cl);
      return false;
    } else {
      held_.push_back(std::move(*ev));
    }
  }
  return true;
}

std::optional<rtmp::ClientEvent> PullConnection::next_event() {
  if (!held_.empty()) {
    rtmp::ClientEvent ev = std::move(held_.front());
    held_.pop_front();
    return ev;
  }
  return session_->next_event();
}

PullConnection::Read PullConnection::read(gint64 deadline_us, PullFailure* failure) {
  GInputStream* in = g_io_stream_get_input_stream(stream_);
  auto* pollable = G_POLLABLE_INPUT_STREAM(in);
  for (;;) {
    GError* err = nullptr;
    gssize n =
        g_pollable_input_stream_read_nonblocking(pollable, buf_.data(), buf_.size(), cancel_, &err);
    if (n > 0) {
      // A protocol fault closes the session: its ClientClosed event says why.
      (void)session_->receive(rtmp::Bytes(buf_.data(), static_cast<size_t>(n)), now_ms());
      return Read::kData;
    }
    if (n == 0) return Read::kClosed;
    // TIMED_OUT: the socket's own timeout (kSocketTimeoutS) passed while we waited; our
    // deadline, not the socket's, decides (a live stream may be silent for long).
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ||
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
      g_error_free(err);
      bool ready = false;
      GSource* src = g_pollable_input_stream_create_source(pollable, cancel_);
      g_source_set_callback(src, G_SOURCE_FUNC(raise_flag_pollable), &ready, nullptr);
      if (!iterate_until([&ready] { return ready; }, deadline_us, src)) return Read::kTimedOut;
      continue;
    }
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free(err);
      return Read::kCancelled;
    }
    set_failure(failure, "receive from " + server_ + " failed", err);
    g_error_free(err);
    return Read::kFailed;
  }
}

bool PullConnection::flush(PullFailure* failure) {
  GOutputStream* out = g_io_stream_get_output_stream(stream_);
  auto* pollable = G_POLLABLE_OUTPUT_STREAM(out);
  gint64 deadline = 0;
  while (!session_->pending_output().empty()) {
    rtmp::Bytes b = session_->pending_output();
    GError* err = nullptr;
    gssize n =
        g_pollable_output_stream_write_nonblocking(pollable, b.data(), b.size(), cancel_, &err);
    if (n > 0) {
      session_->consume_output(static_cast<size_t>(n));
      deadline = 0;
      continue;
    }
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ||
        g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
      g_error_free(err);
      if (!deadline && timeout_s_) {
        deadline = g_get_monotonic_time() + gint64{timeout_s_} * G_USEC_PER_SEC;
      }
      bool ready = false;
      GSource* src = g_pollable_output_stream_create_source(pollable, cancel_);
      g_source_set_callback(src, G_SOURCE_FUNC(raise_flag_pollable), &ready, nullptr);
      if (!iterate_until([&ready] { return ready; }, deadline, src)) {
        set_failure(failure,
                    server_ + " took nothing we sent for " + std::to_string(timeout_s_) + " s",
                    nullptr, G_IO_ERROR_TIMED_OUT);
        return false;
      }
      continue;
    }
    set_failure(failure, "send to " + server_ + " failed", err);
    g_error_free(err);
    return false;
  }
  return true;
}

void PullConnection::close() {
  if (!session_) return;
  session_->stop();  // deleteStream
  GOutputStream* out = g_io_stream_get_output_stream(stream_);
  rtmp::Bytes b = session_->pending_output();
  if (!b.empty()) {
    // One try: a server that does not take it at once does not get it.
    (void)g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(out), b.data(),
                                                     b.size(), cancel_, nullptr);
  }
}

}  // namespace gst_ertmp
