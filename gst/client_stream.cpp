#include "gst/client_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

namespace gst_ertmp {
namespace {

// How long a cancelled GIO operation may take to report back before it is abandoned (its
// completion then frees what it needs; see AsyncOp).
constexpr gint64 kCancelGraceUs = 2 * G_USEC_PER_SEC;

// The completion of a GIO asynchronous call, delivered on this thread's context. A waiter that
// gives up marks it abandoned; the completion then frees it.
struct AsyncOp {
  GAsyncResult* result = nullptr;
  bool abandoned = false;
  static void done(GObject*, GAsyncResult* res, gpointer data) {
    auto* op = static_cast<AsyncOp*>(data);
    if (op->abandoned) {
      delete op;
      return;
    }
    op->result = G_ASYNC_RESULT(g_object_ref(res));
  }
  ~AsyncOp() {
    if (result) g_object_unref(result);
  }
};

gboolean wake_only(gpointer) {
  return G_SOURCE_REMOVE;
}

// Waits for `op` until the deadline; past it, cancels `cancel` and waits (bounded) for the
// operation to report its cancellation. Returns the result (the op is then the caller's to
// delete), or null when abandoned (the completion deletes it).
GAsyncResult* await(AsyncOp* op, gint64 deadline_us, GCancellable* cancel, bool* timed_out) {
  *timed_out = !iterate_until([op] { return op->result != nullptr; }, deadline_us, nullptr);
  if (*timed_out) {
    g_cancellable_cancel(cancel);
    iterate_until([op] { return op->result != nullptr; }, g_get_monotonic_time() + kCancelGraceUs,
                  nullptr);
  }
  if (!op->result) op->abandoned = true;
  return op->result;
}

void cancel_linked(GCancellable*, gpointer linked) {
  g_cancellable_cancel(G_CANCELLABLE(linked));
}

// What one call holds: a context of its own when the thread had none, and the cancellable of
// the operations it starts (linked to the caller's).
class CallScope {
 public:
  explicit CallScope(GCancellable* caller) : caller_(caller), ops_(g_cancellable_new()) {
    if (!g_main_context_get_thread_default()) {
      own_ = g_main_context_new();
      g_main_context_push_thread_default(own_);
    }
    if (caller_) link_ = g_cancellable_connect(caller_, G_CALLBACK(cancel_linked), ops_, nullptr);
  }
  ~CallScope() {
    if (caller_) g_cancellable_disconnect(caller_, link_);
    g_object_unref(ops_);
    if (own_) {
      g_main_context_pop_thread_default(own_);
      g_main_context_unref(own_);
    }
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  GCancellable* ops() const { return ops_; }
  bool caller_cancelled() const { return caller_ && g_cancellable_is_cancelled(caller_); }

 private:
  GCancellable* caller_;
  GCancellable* ops_;
  gulong link_ = 0;
  GMainContext* own_ = nullptr;
};

}  // namespace

gboolean raise_flag_pollable(GObject*, gpointer data) {
  *static_cast<bool*>(data) = true;
  return G_SOURCE_REMOVE;
}

bool iterate_until_fn(bool (*done)(void*), void* data, gint64 deadline_us, GSource* source) {
  GMainContext* ctx = g_main_context_get_thread_default();
  g_assert(ctx);  // the caller's thread pushed one (pull_client.cpp, CallScope)
  if (source) g_source_attach(source, ctx);
  GSource* timer = nullptr;
  bool met = done(data);
  while (!met) {
    if (deadline_us) {
      gint64 left = deadline_us - g_get_monotonic_time();
      if (left <= 0) break;
      if (!timer) {
        timer = g_timeout_source_new(static_cast<guint>((left + 999) / 1000));
        g_source_set_callback(timer, wake_only, nullptr, nullptr);
        g_source_attach(timer, ctx);
      }
    }
    g_main_context_iteration(ctx, TRUE);
    met = done(data);
    if (timer && g_source_is_destroyed(timer)) {
      g_source_unref(timer);
      timer = nullptr;
    }
  }
  for (GSource* s : {source, timer}) {
    if (!s) continue;
    g_source_destroy(s);
    g_source_unref(s);
  }
  return met;
}

std::string within_timeout(guint timeout_s) {
  return "within the timeout (" + std::to_string(timeout_s) + " s)";
}

bool open_client_stream(const rtmp::Url& url, GTlsCertificateFlags validation, GCancellable* cancel,
                        gint64 deadline_us, guint timeout_s, ClientStream* out,
                        PushFailure* failure) {
  CallScope scope(cancel);
  const std::string server = url.host_for_url() + ":" + std::to_string(url.port);
  // A deadline that passed, or the caller's cancellation, as the failure of `step`.
  auto stopped = [&](const std::string& step) {
    if (scope.caller_cancelled()) {
      set_failure(failure, "cancelled", nullptr, G_IO_ERROR_CANCELLED);
      if (failure) failure->cancelled = true;
    } else {
      set_failure(failure, step + " " + within_timeout(timeout_s), nullptr, G_IO_ERROR_TIMED_OUT);
    }
  };

  GSocketClient* client = g_socket_client_new();
  GSocketConnectable* addr = g_network_address_new(url.host.c_str(), url.port);
  auto* op = new AsyncOp;
  g_socket_client_connect_async(client, addr, scope.ops(), AsyncOp::done, op);
  bool timed_out = false;
  GAsyncResult* res = await(op, deadline_us, scope.ops(), &timed_out);
  GError* err = nullptr;
  GSocketConnection* conn = res ? g_socket_client_connect_finish(client, res, &err) : nullptr;
  if (res) delete op;
  g_object_unref(client);
  if (!conn) {
    g_object_unref(addr);
    if (timed_out) {
      stopped("could not connect to " + server);
    } else {
      set_failure(failure, "could not connect to " + server, err);
    }
    g_clear_error(&err);
    return false;
  }
  g_socket_set_option(g_socket_connection_get_socket(conn), IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  if (!url.tls()) {
    g_object_unref(addr);
    out->conn = conn;
    out->stream = G_IO_STREAM(conn);
    return true;
  }

  GIOStream* tls = g_tls_client_connection_new(G_IO_STREAM(conn), addr, &err);
  g_object_unref(addr);
  if (!tls) {
    set_failure(failure, "TLS is not available (glib-networking missing?)", err);
    g_clear_error(&err);
    g_object_unref(conn);
    return false;
  }
  g_signal_connect(tls, "accept-certificate", G_CALLBACK(accept_server_certificate),
                   GUINT_TO_POINTER(static_cast<guint>(validation)));
  op = new AsyncOp;
  g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, scope.ops(),
                                   AsyncOp::done, op);
  res = await(op, deadline_us, scope.ops(), &timed_out);
  const bool ok = res && g_tls_connection_handshake_finish(G_TLS_CONNECTION(tls), res, &err);
  if (res) delete op;
  if (!ok) {
    if (timed_out) {
      stopped("the TLS handshake with " + server + " did not finish");
    } else {
      set_failure(failure, "TLS handshake with " + url.host + " failed", err);
    }
    g_clear_error(&err);
    g_object_unref(tls);
    g_object_unref(conn);
    return false;
  }
  out->conn = conn;
  out->stream = tls;
  return true;
}

}  // namespace gst_ertmp
