#include "gst/ingest_server.h"

#include <gst/gst.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <chrono>
#include <map>

GST_DEBUG_CATEGORY_STATIC(ertmp_io_debug);
#define GST_CAT_DEFAULT ertmp_io_debug

namespace gst_ertmp {
namespace {

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<IngestServer>>& registry() {
  static std::map<std::string, std::weak_ptr<IngestServer>> r;
  return r;
}

uint64_t now_ms() {
  return static_cast<uint64_t>(g_get_monotonic_time() / 1000);
}

std::string address_string(GSocketAddress* addr) {
  if (!addr || !G_IS_INET_SOCKET_ADDRESS(addr)) return "?";
  GInetSocketAddress* inet = G_INET_SOCKET_ADDRESS(addr);
  gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  std::string s = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
  g_free(ip);
  return s;
}

bool same_certificate(GTlsCertificate* a, GTlsCertificate* b) {
  if (!a || !b) return a == b;
  return a == b || g_tls_certificate_is_same(a, b);
}

// The TLS handshake of one connection, run on a private main context of its thread.
struct HandshakeWait {
  GCancellable* cancel = nullptr;  // the handshake's own, cancelled by the timer or the connection
  bool done = false;
  bool ok = false;
  bool timed_out = false;
  GError* error = nullptr;
};

void cancel_linked(GCancellable*, gpointer other) {
  g_cancellable_cancel(G_CANCELLABLE(other));
}

gboolean handshake_timer(gpointer data) {
  auto* w = static_cast<HandshakeWait*>(data);
  w->timed_out = true;
  g_cancellable_cancel(w->cancel);
  return G_SOURCE_REMOVE;
}

void handshake_done(GObject* source, GAsyncResult* result, gpointer data) {
  auto* w = static_cast<HandshakeWait*>(data);
  w->ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, &w->error);
  w->done = true;
}

}  // namespace

struct IngestServer::Connection {
  GSocket* socket = nullptr;
  GIOStream* tls = nullptr;  // GTlsServerConnection over `socket` on an rtmps listener
  GCancellable* cancel = g_cancellable_new();
  std::string peer;
  std::thread thread;
  std::atomic<bool> done{false};
  Route* route = nullptr;  // bound route (connection thread only, plus mu_ for others)
  bool leaving = false;    // release_route has begun, guarded by mu_
  bool replaced = false;   // cancelled by a takeover of its route, guarded by mu_

  ~Connection() {
    // The socket closes first, so that the TLS stream's close on unref cannot block.
    if (socket) g_socket_close(socket, nullptr);
    if (tls) g_object_unref(tls);
    if (socket) g_object_unref(socket);
    g_object_unref(cancel);
  }
};

std::shared_ptr<IngestServer> IngestServer::acquire(const std::string& address, guint16 port,
                                                    const ServerSettings& settings,
                                                    GError** error) {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(ertmp_io_debug, "ertmpio", 0, "gst-ertmp socket layer");
  });
  std::unique_lock<std::mutex> lock(g_registry_mu);
  std::string key = address + ":" + std::to_string(port);
  if (port != 0) {
    auto it = registry().find(key);
    if (it != registry().end()) {
      if (auto existing = it->second.lock()) {
        GTlsCertificate* have = existing->settings_.certificate;
        if (same_certificate(have, settings.certificate)) return existing;
        g_set_error(error, G_IO_ERROR, kListenerMismatch, "%s",
                    (!have ? key + " is a plain rtmp listener of this process, and this element "
                                   "asks for TLS (rtmps)"
                     : !settings.certificate
                         ? key + " is an rtmps (TLS) listener of this process, and this element "
                                 "has no certificate"
                         : key + " is an rtmps listener of this process with another certificate")
                        .c_str());
        return nullptr;
      }
    }
  }
  std::shared_ptr<IngestServer> server(new IngestServer(key, settings));
  if (!server->start(address, port, error)) {
    lock.unlock();  // the destructor takes the registry lock
    return nullptr;
  }
  if (port != 0) registry()[key] = server;
  return server;
}

IngestServer::IngestServer(std::string key, const ServerSettings& settings)
    : registry_key_(std::move(key)), settings_(settings), cancel_(g_cancellable_new()) {
  if (settings_.certificate) g_object_ref(settings_.certificate);
}

bool IngestServer::start(const std::string& address, guint16 port, GError** error) {
  GInetAddress* inet = g_inet_address_new_from_string(address.c_str());
  if (!inet) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid listen address '%s'",
                address.c_str());
    return false;
  }
  GSocketAddress* sa = g_inet_socket_address_new(inet, port);
  listen_ = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, error);
  g_object_unref(inet);
  if (!listen_) {
    g_object_unref(sa);
    return false;
  }
  // GLib's default backlog is 10: a burst of publishers (a restarting encoder farm, a flood)
  // would wait for SYN retransmits. The kernel caps it at net.core.somaxconn.
  g_socket_set_listen_backlog(listen_, 1024);
  bool ok = g_socket_bind(listen_, sa, TRUE, error) && g_socket_listen(listen_, error);
  g_object_unref(sa);
  if (!ok) return false;
  GSocketAddress* local = g_socket_get_local_address(listen_, nullptr);
  bound_port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  g_object_unref(local);
  GST_INFO("listening on %s:%u%s", address.c_str(), bound_port_, tls() ? " (TLS)" : "");
  accept_thread_ = std::thread([this] { accept_loop(); });
  return true;
}

IngestServer::~IngestServer() {
  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto it = registry().find(registry_key_);
    if (it != registry().end() && it->second.expired()) registry().erase(it);
  }
  g_cancellable_cancel(cancel_);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns) g_cancellable_cancel(c->cancel);
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
  if (listen_) {
    g_socket_close(listen_, nullptr);
    g_object_unref(listen_);
  }
  g_object_unref(cancel_);
  if (settings_.certificate) g_object_unref(settings_.certificate);
}

void IngestServer::accept_loop() {
  while (!g_cancellable_is_cancelled(cancel_)) {
    GError* err = nullptr;
    GSocket* s = g_socket_accept(listen_, cancel_, &err);
    if (!s) {
      if (err) g_error_free(err);
      continue;
    }
    // Reap finished connections so their threads and sockets do not accumulate.
    std::vector<std::unique_ptr<Connection>> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        if ((*it)->done) {
          finished.push_back(std::move(*it));
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : finished) c->thread.join();
    if (active_.load() >= settings_.max_connections) {
      GSocketAddress* remote = g_socket_get_remote_address(s, nullptr);
      std::string peer = address_string(remote);
      if (remote) g_object_unref(remote);
      g_socket_close(s, nullptr);
      g_object_unref(s);
      ++refused_since_warning_;
      gint64 now = g_get_monotonic_time();
      if (now - last_limit_warning_us_ >= G_USEC_PER_SEC) {
        warn_peer(nullptr, peer,
                  "connection refused: connection limit (max-connections=" +
                      std::to_string(settings_.max_connections) + ") reached (" +
                      std::to_string(refused_since_warning_) + " refused since the last warning)");
        last_limit_warning_us_ = now;
        refused_since_warning_ = 0;
      }
      continue;
    }
    g_socket_set_option(s, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
    // Bounds a blocking send to a peer that stopped reading (its window full): the connection
    // then fails instead of pinning its thread. Waits for input are bounded separately.
    const uint64_t idle_ms = settings_.limits.idle_timeout_ms;
    g_socket_set_timeout(s,
                         idle_ms ? static_cast<guint>(std::max<uint64_t>(idle_ms / 1000, 1)) : 30);
    auto c = std::make_unique<Connection>();
    c->socket = s;
    GSocketAddress* remote = g_socket_get_remote_address(s, nullptr);
    c->peer = address_string(remote);
    if (remote) g_object_unref(remote);
    Connection* raw = c.get();
    ++active_;
    std::lock_guard<std::mutex> lock(mu_);
    connections_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] {
      // Every wait below polls the cancellable: make its eventfd once for the connection's
      // life, not once per wait (that create/close was 16% of a busy ingest's CPU).
      GPollFD cancel_fd;
      bool have_fd = g_cancellable_make_pollfd(raw->cancel, &cancel_fd);
      serve(raw);
      if (have_fd) g_cancellable_release_fd(raw->cancel);
      // Let go of the socket now; the thread and the rest are reaped at the next accept.
      g_socket_close(raw->socket, nullptr);
      --active_;
      raw->done = true;
    });
  }
}

IngestServer::Route* IngestServer::find_route_locked(const std::string& app,
                                                     const std::string& key) {
  Route* best = nullptr;
  int best_score = -1;
  for (auto& r : routes_) {
    if (!r->route || r->closing) continue;
    bool app_ok = r->app.empty() || r->app == app;
    // Stream keys are secrets: compare without an early exit.
    bool key_ok = r->key.empty();
    if (!key_ok && r->key.size() == key.size()) {
      unsigned diff = 0;
      for (size_t i = 0; i < key.size(); ++i)
        diff |= static_cast<unsigned char>(r->key[i] ^ key[i]);
      key_ok = diff == 0;
    }
    if (!app_ok || !key_ok) continue;
    int score = (r->app.empty() ? 0 : 2) + (r->key.empty() ? 0 : 1);
    if (score > best_score) {
      best = r.get();
      best_score = score;
    }
  }
  return best;
}

bool IngestServer::add_route(const std::string& app, const std::string& key, IngestRoute* route,
                             bool allow_takeover) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : routes_) {
    if (r->route && r->app == app && r->key == key) return false;
  }
  auto r = std::make_unique<Route>();
  r->app = app;
  r->key = key;
  r->route = route;
  r->allow_takeover = allow_takeover;
  routes_.push_back(std::move(r));
  return true;
}

bool IngestServer::remove_route(IngestRoute* route, unsigned timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  Route* target = nullptr;
  for (auto& r : routes_) {
    if (r->route == route) target = r.get();
  }
  if (!target) return true;
  target->closing = true;  // no publisher binds any more; a takeover waiting gives up
  if (target->publisher) g_cancellable_cancel(target->publisher->cancel);
  cv_.notify_all();
  bool ok = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                         [target] { return target->users == 0; });
  for (auto it = routes_.begin(); it != routes_.end(); ++it) {
    if (it->get() == target) {
      if (ok) {
        routes_.erase(it);
      } else {
        target->route = nullptr;  // a stuck thread keeps the slot, never the element
      }
      break;
    }
  }
  return ok;
}

void IngestServer::warn_peer(Connection* c, const std::string& peer, const std::string& what) {
  GST_WARNING("%s: %s", peer.c_str(), what.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  IngestRoute* target = c && c->route ? c->route->route : nullptr;
  if (!target) {
    for (auto& r : routes_) {
      if (r->route) {
        target = r->route;
        break;
      }
    }
  }
  if (target) target->on_peer_warning(peer, what);
}

void IngestServer::release_route(Connection* c, bool clean, const std::string& why) {
  Route* r = c->route;
  if (!r) return;
  c->route = nullptr;
  bool replaced;
  {
    // From here a takeover no longer marks this connection: it waits for it like for any end.
    std::lock_guard<std::mutex> lock(mu_);
    c->leaving = true;
    replaced = c->replaced;
  }
  if (r->route) r->route->on_publisher_gone(clean, why, replaced);
  std::lock_guard<std::mutex> lock(mu_);
  r->publisher = nullptr;
  --r->users;
  cv_.notify_all();
}

bool IngestServer::tls_handshake(Connection* c, std::string* why) {
  GSocketConnection* base = g_socket_connection_factory_create_connection(c->socket);
  GError* err = nullptr;
  GIOStream* tls = g_tls_server_connection_new(G_IO_STREAM(base), settings_.certificate, &err);
  g_object_unref(base);
  if (!tls) {
    *why = err ? err->message : "no TLS backend";
    g_clear_error(&err);
    return false;
  }
  c->tls = tls;
  // A publisher killed mid-stream sends no close_notify: a dropped connection, not a TLS fault.
  g_tls_connection_set_require_close_notify(G_TLS_CONNECTION(tls), FALSE);

  // Asynchronous on a context of this thread, so that one timer bounds the whole handshake (a
  // per-read socket timeout would let a peer that dribbles bytes stretch it without end) and the
  // connection's cancellable interrupts it.
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  HandshakeWait w;
  w.cancel = g_cancellable_new();
  gulong link = g_cancellable_connect(c->cancel, G_CALLBACK(cancel_linked), w.cancel, nullptr);
  GSource* timer = nullptr;
  if (settings_.limits.handshake_timeout_ms > 0) {
    timer = g_timeout_source_new(
        static_cast<guint>(std::min<uint64_t>(settings_.limits.handshake_timeout_ms, G_MAXUINT)));
    g_source_set_callback(timer, handshake_timer, &w, nullptr);
    g_source_attach(timer, ctx);
  }
  g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, w.cancel,
                                   handshake_done, &w);
  while (!w.done) g_main_context_iteration(ctx, TRUE);
  if (timer) {
    g_source_destroy(timer);
    g_source_unref(timer);
  }
  g_cancellable_disconnect(c->cancel, link);  // waits for a handler running on another thread
  g_object_unref(w.cancel);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  if (!w.ok) {
    if (w.timed_out) {
      *why = "no TLS handshake within " + std::to_string(settings_.limits.handshake_timeout_ms) +
             " ms";
    } else {
      *why = w.error ? w.error->message : "TLS handshake failed";
    }
  }
  g_clear_error(&w.error);
  return w.ok;
}

void IngestServer::serve(Connection* c) {
  rtmp::ServerConfig cfg;
  cfg.limits = settings_.limits;
  rtmp::ServerSession session(cfg, now_ms());
  std::vector<uint8_t> buf(64 * 1024);
  std::string end_reason = "connection closed by peer";
  GST_DEBUG("connection from %s", c->peer.c_str());
  // Set once the TLS handshake is done (rtmps listener); null for plain rtmp, which reads and
  // writes the GSocket directly.
  GPollableInputStream* tls_in = nullptr;
  GOutputStream* tls_out = nullptr;

  auto warn = [&](const std::string& what) { warn_peer(c, c->peer, what); };

  auto flush = [&]() -> bool {
    while (!session.pending_output().empty()) {
      rtmp::Bytes out = session.pending_output();
      GError* err = nullptr;
      gssize n = tls_out ? g_output_stream_write(tls_out, out.data(), out.size(), c->cancel, &err)
                         : g_socket_send(c->socket, reinterpret_cast<const gchar*>(out.data()),
                                         out.size(), c->cancel, &err);
      if (n <= 0) {
        if (err) {
          end_reason = std::string("send failed: ") + err->message;
          if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
            warn("the peer stopped reading (send timed out): closing the connection");
          }
          g_error_free(err);
        }
        return false;
      }
      session.consume_output(static_cast<size_t>(n));
    }
    return true;
  };

  // Session warnings (unknown commands, skipped messages, ...) reach the bus too, the first
  // few per connection: a peer repeating one cannot flood the application.
  constexpr int kMaxSessionWarnings = 5;
  int session_warnings = 0;

  auto handle_publish = [&](const rtmp::PublishRequested& p) {
    Route* r = nullptr;
    std::string reason;
    {
      std::unique_lock<std::mutex> lock(mu_);
      r = find_route_locked(p.app, p.stream_name);
      if (c->route) {
        // One publish per connection: a second would unbind (or, with takeover, cancel) itself.
        reason = "this connection is already publishing";
        r = nullptr;
      } else if (!r) {
        reason = "no stream '" + p.app + "/" + p.stream_name + "' here";
      } else if (r->publisher && !r->allow_takeover) {
        reason = "stream '" + p.app + "/" + p.stream_name + "' is already being published";
        r = nullptr;
      } else {
        ++r->users;  // keeps the route alive while the previous publisher leaves
        // Takeover. A loop: when several publishers take over at once, the latest wins.
        // Bounded: the old thread may be stuck in a downstream push.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (r->publisher && !r->closing) {
          Connection* old = r->publisher;
          GST_INFO("%s takes %s/%s over from %s", c->peer.c_str(), p.app.c_str(),
                   p.stream_name.c_str(), old->peer.c_str());
          if (!old->leaving) {
            old->replaced = true;
            g_cancellable_cancel(old->cancel);
          }
          if (!cv_.wait_until(lock, deadline,
                              [r, old] { return r->publisher != old || r->closing; })) {
            reason = "the previous publisher did not leave in time";
            break;
          }
        }
        if (r->publisher || r->closing) {
          if (r->closing) reason = "stream is closing";
          --r->users;
          cv_.notify_all();
          r = nullptr;
        } else {
          r->publisher = c;
        }
      }
    }
    if (r) {
      PublisherInfo info{c->peer, p.app, p.stream_name, p.query, p.tc_url, p.flash_ver};
      if (r->route->on_publish_request(info, &reason)) {
        c->route = r;
        (void)session.accept_publish(p.stream_id);
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      r->publisher = nullptr;
      --r->users;
      cv_.notify_all();
    }
    GST_INFO("%s: publish of %s/%s refused: %s", c->peer.c_str(), p.app.c_str(),
             p.stream_name.c_str(), reason.c_str());
    (void)session.reject_publish(p.stream_id, rtmp::PublishRejection::kBadName, reason);
  };

  // Waits for the socket to be readable until the session's next timeout (which it then
  // handles): 1 readable, 0 timed out, -1 cancelled or failed.
  auto wait_readable = [&]() -> int {
    auto next = session.next_timeout();
    gint64 wait_us = -1;
    if (next) {
      uint64_t now = now_ms();
      wait_us = *next > now ? static_cast<gint64>(*next - now) * 1000 : 0;
    }
    GError* err = nullptr;
    if (g_socket_condition_timed_wait(c->socket, G_IO_IN, wait_us, c->cancel, &err)) return 1;
    bool timed_out = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_error_free(err);
    if (!timed_out) {
      end_reason = "connection closed by the element";
      return -1;
    }
    session.handle_timeout(now_ms());
    return 0;
  };

  if (settings_.certificate) {
    std::string why;
    if (!tls_handshake(c, &why)) {
      // A plain rtmp client on the rtmps port ends here: a bad peer, not an element fault.
      if (!g_cancellable_is_cancelled(c->cancel)) warn("TLS handshake failed: " + why);
      GST_DEBUG("connection from %s ended: TLS handshake failed: %s", c->peer.c_str(), why.c_str());
      g_socket_shutdown(c->socket, TRUE, TRUE, nullptr);
      return;
    }
    tls_in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(c->tls));
    tls_out = g_io_stream_get_output_stream(c->tls);
  }

  while (!g_cancellable_is_cancelled(c->cancel)) {
    if (!flush() || session.closed()) break;
    GError* err = nullptr;
    if (tls_in) {
      // Decrypted bytes may wait inside the TLS layer where the socket cannot show them: read
      // first, and wait on the socket only when TLS would block (it then needs socket bytes).
      gssize n =
          g_pollable_input_stream_read_nonblocking(tls_in, buf.data(), buf.size(), c->cancel, &err);
      if (n > 0) {
        (void)session.receive(rtmp::Bytes(buf.data(), static_cast<size_t>(n)), now_ms());
      } else if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_clear_error(&err);
        if (wait_readable() < 0) break;
      } else {
        if (err) {
          end_reason = std::string("receive failed: ") + err->message;
          g_error_free(err);
        }
        break;
      }
    } else {
      int ready = wait_readable();
      if (ready < 0) break;
      if (ready > 0) {
        gssize n = g_socket_receive(c->socket, reinterpret_cast<gchar*>(buf.data()), buf.size(),
                                    c->cancel, &err);
        if (n <= 0) {
          if (err) {
            end_reason = std::string("receive failed: ") + err->message;
            g_error_free(err);
          }
          break;
        }
        (void)session.receive(rtmp::Bytes(buf.data(), static_cast<size_t>(n)), now_ms());
      }
    }
    while (auto ev = session.next_event()) {
      if (auto p = std::get_if<rtmp::PublishRequested>(&*ev)) {
        handle_publish(*p);
      } else if (auto m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        if (c->route && c->route->route) c->route->route->on_media(std::move(*m));
      } else if (auto md = std::get_if<rtmp::MetadataReceived>(&*ev)) {
        if (c->route && c->route->route) c->route->route->on_metadata(std::move(*md));
      } else if (auto e = std::get_if<rtmp::PublishEnded>(&*ev)) {
        release_route(c, true, e->reason);
      } else if (auto w = std::get_if<rtmp::SessionWarning>(&*ev)) {
        GST_DEBUG("%s: %s", c->peer.c_str(), w->error.to_string().c_str());
        // Faults reach the bus; tolerated extensions (unknown commands or message types, shared
        // objects: kUnsupported) are only logged, so a legitimate encoder's quirk is no alarm.
        if (w->error.code != rtmp::Errc::kUnsupported &&
            ++session_warnings <= kMaxSessionWarnings) {
          warn(w->error.to_string() +
               (session_warnings == kMaxSessionWarnings ? " (further warnings not posted)" : ""));
        }
      } else if (auto cl = std::get_if<rtmp::SessionClosed>(&*ev)) {
        if (cl->error) {
          end_reason = cl->error->to_string();
          warn("closing connection: " + end_reason);
        }
      }
    }
  }
  flush();
  if (!session.handshake_done() && !g_cancellable_is_cancelled(c->cancel) && !session.closed()) {
    // Gone before finishing the handshake (a port scanner, a truncated C1, a wrong protocol
    // that gave up): a bad peer.
    warn("closed during the RTMP handshake after " + std::to_string(session.bytes_received()) +
         " bytes: " + end_reason);
  }
  release_route(c, false, end_reason);
  GST_DEBUG("connection from %s ended: %s", c->peer.c_str(), end_reason.c_str());
  if (c->tls && !g_cancellable_is_cancelled(c->cancel)) {
    // close_notify, bounded: a peer that stopped reading cannot hold this thread.
    g_socket_set_timeout(c->socket, 1);
    g_io_stream_close(c->tls, nullptr, nullptr);
  }
  g_socket_shutdown(c->socket, TRUE, TRUE, nullptr);
}

}  // namespace gst_ertmp
