// The I/O under rtmpingestsrc: one listening socket per address:port shared by every element
// of the process that serves it, one thread per accepted connection driving a
// rtmp::ServerSession, and routing of each publish to the element that owns its
// application + stream key.
//
// TLS (rtmps) is a property of the listener: with a certificate every accepted connection is
// wrapped in a GTlsServerConnection and speaks TLS only; elements sharing the port must agree.
//
// Threads: an accept thread per listener; a thread per connection. Media callbacks run on the
// connection thread, which pushes downstream directly, so a slow downstream slows the
// publisher through TCP (no queue in between). Every blocking call takes a GCancellable; all
// threads are joined on release.
#pragma once

#include <gio/gio.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/server_session.h"

namespace gst_ertmp {

struct PublisherInfo {
  std::string peer;  // "ip:port"
  std::string app;
  std::string stream;
  std::string query;
  std::string tc_url;
  std::string flash_ver;
};

// Implemented by the element. Calls arrive on connection threads.
class IngestRoute {
 public:
  virtual ~IngestRoute() = default;
  // Decide on a publish matching this route. Return true to accept (the route is then bound to
  // this publisher until on_publisher_gone). `reason` is sent to the client on refusal.
  virtual bool on_publish_request(const PublisherInfo& info, std::string* reason) = 0;
  virtual void on_media(rtmp::MediaReceived&& media) = 0;
  virtual void on_metadata(rtmp::MetadataReceived&& metadata) = 0;
  // The bound publisher ended: `clean` for FCUnpublish/deleteStream, false for a dropped
  // connection or a protocol fault (`why` says which). `replaced` when a new publisher of the
  // same key took over (add_route's allow_takeover): its on_publish_request follows, so the
  // stream goes on (no EOS).
  virtual void on_publisher_gone(bool clean, const std::string& why, bool replaced) = 0;
  // A connection-level problem worth a warning (bad peer); never fatal for the element.
  virtual void on_peer_warning(const std::string& peer, const std::string& what) = 0;
};

struct ServerSettings {
  rtmp::Limits limits;  // handshake_timeout_ms also bounds the TLS handshake
  unsigned max_connections = 256;
  // Non-null: the listener speaks TLS only (rtmps) with this certificate (which must hold its
  // private key). Borrowed: the listener takes its own reference.
  GTlsCertificate* certificate = nullptr;
};

// Error code (G_IO_ERROR domain) of acquire() when an existing listener's TLS set-up differs
// from the one asked for.
constexpr GIOErrorEnum kListenerMismatch = G_IO_ERROR_NOT_SUPPORTED;

class IngestServer : public std::enable_shared_from_this<IngestServer> {
 public:
  // Returns the listener for address:port, binding it when this process has none yet
  // (port 0 binds a free port; each acquire with port 0 gets its own listener). An existing
  // listener is only shared when its certificate is the same (or both have none); otherwise
  // the error is kListenerMismatch.
  static std::shared_ptr<IngestServer> acquire(const std::string& address, guint16 port,
                                               const ServerSettings& settings, GError** error);
  ~IngestServer();

  guint16 bound_port() const { return bound_port_; }
  bool tls() const { return settings_.certificate != nullptr; }

  // Routes publishes for `app`/`key` ("" = any) to `route`. Exact matches win over wildcards.
  // Returns false when an identical app/key pair is already routed. With `allow_takeover` a
  // publish for the route while it has a publisher cancels the old connection, waits (bounded)
  // until it left the route, then binds the new one; without, the new one is refused.
  bool add_route(const std::string& app, const std::string& key, IngestRoute* route,
                 bool allow_takeover = false);
  // Unroutes and disconnects the route's publisher; returns once no connection thread uses the
  // route any more (bounded by `timeout_ms`; false if that passed).
  bool remove_route(IngestRoute* route, unsigned timeout_ms = 5000);

  unsigned active_connections() const { return active_.load(); }

 private:
  struct Connection;
  struct Route {
    std::string app, key;
    IngestRoute* route = nullptr;
    bool allow_takeover = false;
    bool closing = false;             // remove_route in progress: no new publisher, guarded by mu_
    Connection* publisher = nullptr;  // bound connection, guarded by mu_
    int users = 0;                    // connection threads inside a callback (or waiting to be)
  };

  IngestServer(std::string key, const ServerSettings& settings);
  bool start(const std::string& address, guint16 port, GError** error);
  void accept_loop();
  void serve(Connection* c);
  bool tls_handshake(Connection* c, std::string* why);
  Route* find_route_locked(const std::string& app, const std::string& key);
  void release_route(Connection* c, bool clean, const std::string& why);
  // A bad peer's warning to the element it was publishing to, or else to the first route's
  // (a bad peer is worth a bus warning wherever it was headed).
  void warn_peer(Connection* c, const std::string& peer, const std::string& what);

  std::string registry_key_;
  ServerSettings settings_;
  GSocket* listen_ = nullptr;
  GCancellable* cancel_ = nullptr;
  guint16 bound_port_ = 0;
  std::thread accept_thread_;
  std::atomic<unsigned> active_{0};
  gint64 last_limit_warning_us_ = 0;  // accept thread: refusals are reported at most 1/s
  unsigned refused_since_warning_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace gst_ertmp
