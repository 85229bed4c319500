// The I/O under rtmpingestsrc: one listening socket per address:port shared by every element
// of the process that serves it, one thread per accepted connection driving a
// rtmp::ServerSession, and routing of each publish to the element that owns its
// application + stream key.
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
  // connection or a protocol fault (`why` says which).
  virtual void on_publisher_gone(bool clean, const std::string& why) = 0;
  // A connection-level problem worth a warning (bad peer); never fatal for the element.
  virtual void on_peer_warning(const std::string& peer, const std::string& what) = 0;
};

struct ServerSettings {
  rtmp::Limits limits;
  unsigned max_connections = 256;
};

class IngestServer : public std::enable_shared_from_this<IngestServer> {
 public:
  // Returns the listener for address:port, binding it when this process has none yet
  // (port 0 binds a free port; each acquire with port 0 gets its own listener).
  static std::shared_ptr<IngestServer> acquire(const std::string& address, guint16 port,
                                               const ServerSettings& settings, GError** error);
  ~IngestServer();

  guint16 bound_port() const { return bound_port_; }

  // Routes publishes for `app`/`key` ("" = any) to `route`. Exact matches win over wildcards.
  // Returns false when an identical app/key pair is already routed.
  bool add_route(const std::string& app, const std::string& key, IngestRoute* route);
  // Unroutes and disconnects the route's publisher; returns once no connection thread uses the
  // route any more (bounded by `timeout_ms`; false if that passed).
  bool remove_route(IngestRoute* route, unsigned timeout_ms = 5000);

  unsigned active_connections() const { return active_.load(); }

 private:
  struct Connection;
  struct Route {
    std::string app, key;
    IngestRoute* route = nullptr;
    Connection* publisher = nullptr;  // bound connection, guarded by mu_
    int users = 0;                    // connection threads inside a callback
  };

  IngestServer(std::string key, const ServerSettings& settings);
  bool start(const std::string& address, guint16 port, GError** error);
  void accept_loop();
  void serve(Connection* c);
  Route* find_route_locked(const std::string& app, const std::string& key);
  void release_route(Connection* c, bool clean, const std::string& why);

  std::string registry_key_;
  ServerSettings settings_;
  GSocket* listen_ = nullptr;
  GCancellable* cancel_ = nullptr;
  guint16 bound_port_ = 0;
  std::thread accept_thread_;
  std::atomic<unsigned> active_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace gst_ertmp
