// The I/O under rtmpingestsrc: one listening socket per address:port, shared by every element
// of the process that serves it; its connections are served by the process-wide I/O loops
// (gst/io_loop.h), not by a thread each; each publish is routed to the element that owns its
// application + stream key.
//
// A connection's life, all on one loop thread:
//   accepted (limits checked) -> [TLS handshake on a thread of its own, one deadline]
//   -> rtmp::ServerSession driven by readiness: read, drain events, write
//   -> publish: route found -> decision (the element's publish-request, on a thread of its own
//      so a slow handler stalls nobody) -> bound (after a taken-over publisher has left)
//   -> media to the element; the element answers "full" -> reading stops for this connection
//      only, until the element calls resume_reading()
//   -> closed: the route is released, the socket closed.
//
// Calls into an element (IngestRoute) from a loop never block and never post on a bus
// themselves; remove_route() returns once no loop is inside the element any more, and after it
// returns none will enter it again.
//
// TLS (rtmps) is a property of the listener: with a certificate every accepted connection
// speaks TLS only; elements sharing the port must agree on it and on every listener setting.
//
// Players (rtmppushsink mode=listener) share the same listener through play routes: a play
// of app/key goes to the element that serves it (decision on a thread of its own when the
// element wants one), then the connection's loop sends it the stream (gst/serve_stream.h)
// through its PlayerFeed (gst/serve_player.h) without blocking anyone. A play that matches no
// route is refused at once (NetStream.Play.StreamNotFound), so one port can take publishers
// and players: an ingest -> serve relay is one process on one port.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gio/gio.h>
#include <gst/gst.h>

#include "gst/io_loop.h"
#include "gst/serve_stream.h"
#include "protocol/play_cache.h"
#include "protocol/server_session.h"

namespace gst_ertmp {

class TlsCredentials;

struct PublisherInfo {
  uint64_t connection = 0;  // the handle for resume_reading
  std::string peer;         // "ip:port"
  std::string app;
  std::string stream;
  std::string query;
  std::string tc_url;
  std::string flash_ver;
};

// What the element makes of a media or data message.
enum class Intake {
  kMore,  // keep reading
  kFull,  // a pad queue is over its bound: stop reading until resume_reading()
  kBad,   // the message is a peer fault (see `why`): close the connection
};

// Implemented by the element.
class IngestRoute {
 public:
  virtual ~IngestRoute() = default;
  // Decide on a publish matching this route, on a thread of its own (never an I/O loop); may
  // take as long as the application's handler does. `reason` is sent to a refused client.
  virtual bool decide_publish(const PublisherInfo& info, std::string* reason) = 0;
  // The accepted publisher is bound (any publisher it took over from is gone). Loop thread.
  virtual void on_publisher_bound(const PublisherInfo& info) = 0;
  virtual Intake on_media(rtmp::MediaReceived&& media, std::string* why) = 0;
  virtual Intake on_metadata(rtmp::MetadataReceived&& metadata, std::string* why) = 0;
  // The bound publisher ended: `clean` for FCUnpublish/deleteStream, false for a dropped
  // connection or a protocol fault (`why` says which). `replaced` when a new publisher of the
  // same key takes over: its on_publisher_bound follows, so the stream goes on (no EOS).
  virtual void on_publisher_gone(bool clean, const std::string& why, bool replaced) = 0;
  // A connection-level problem worth a warning (bad peer); never fatal for the element.
  virtual void on_peer_warning(const std::string& peer, const std::string& what) = 0;
  // Keep the element alive while a decision runs on its own thread.
  virtual void ref() = 0;
  virtual void unref() = 0;
};

// --- serving players ---------------------------------------------------------------------

struct PlayerInfo {
  uint64_t connection = 0;
  std::string peer;  // "ip:port"
  std::string app;
  std::string stream;  // the stream name played, without the query
  std::string query;
  std::string tc_url;
  std::string flash_ver;
  bool enhanced = false;  // the player advertised E-RTMP in connect
};

// Implemented by a serving element (rtmppushsink mode=listener). Calls come from loop threads
// and never block, except decide_play (a thread of its own).
class PlayRoute {
 public:
  virtual ~PlayRoute() = default;
  // Whether plays need decide_play (an application handler is connected); false accepts a
  // play at once, without a thread.
  virtual bool wants_decision() = 0;
  // Decide on a play matching this route, on a thread of its own (never an I/O loop).
  // `reason` is sent to a refused player (NetStream.Play.Failed).
  virtual bool decide_play(const PlayerInfo& info, std::string* reason) = 0;
  virtual void on_player_joined(const PlayerInfo& info) = 0;
  // The player stopped playing: `why` is its closeStream/deleteStream, a closed connection,
  // the end of the stream, or why it was dropped.
  virtual void on_player_left(const PlayerInfo& info, const std::string& why) = 0;
  // A connection-level problem worth a warning (bad peer); never fatal for the element.
  virtual void on_peer_warning(const std::string& peer, const std::string& what) = 0;
  // Keep the element alive while a decision runs on its own thread.
  virtual void ref() = 0;
  virtual void unref() = 0;
};

// How a play route serves its players.
struct PlayRouteSettings {
  rtmp::PlayerGateLimits gate;  // per player: cut back, then dropped
};

// An address range ("10.0.0.0/8", "::1", "192.0.2.7/32"), IPv4 or IPv6.
struct NetworkRange {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // network order (IPv4: the first 4)
  unsigned prefix = 0;              // bits that must match
  bool operator==(const NetworkRange&) const = default;
  bool contains(bool addr_v6, const uint8_t* addr) const;
};

// Parses a comma- or space-separated list of ranges; false with `error` naming the bad entry.
bool parse_network_ranges(const std::string& text, std::vector<NetworkRange>* out,
                          std::string* error);

// Listener-wide settings: every element sharing a listener must give the same ones.
struct ServerSettings {
  rtmp::Limits limits;  // handshake_timeout_ms also bounds the TLS handshake
  unsigned max_connections = 256;
  // Memory set aside for connections that are not publishing yet (handshake, connect, the
  // publish decision): each is charged its worst case (kPendingCharge); past the budget new
  // connections are refused. Stops: many unauthenticated peers each declaring large messages.
  guint64 pending_memory_budget = 64u * 1024 * 1024;
  int backlog = 1024;
  bool reuse_port = false;  // SO_REUSEPORT: several processes share the port (kernel balances)
  // Every connection must start with a PROXY protocol header (v1 or v2, from a load balancer):
  // its client address becomes the connection's peer. Only from `proxy_trusted` (empty: from
  // any address); a connection from elsewhere is refused at accept. The header is bounded by
  // the handshake timeout like the RTMP handshake.
  bool proxy_protocol = false;
  std::vector<NetworkRange> proxy_trusted;
  // Non-null: TLS only (rtmps) with this certificate (with its key). Borrowed: the listener
  // takes its own reference.
  GTlsCertificate* certificate = nullptr;

  // What a connection that is not publishing yet may hold at most: its session's pre-publish
  // message limits, output and bookkeeping (see limits_before_publish()).
  static guint64 pending_charge(const rtmp::Limits& limits);
  // "" when equal, else the name of the first setting that differs.
  std::string difference(const ServerSettings& other) const;
};

// Error code (G_IO_ERROR domain) of acquire() when an existing listener's settings differ from
// the ones asked for (the message names the setting).
constexpr GIOErrorEnum kListenerMismatch = G_IO_ERROR_NOT_SUPPORTED;

// Per-connection figures for stats, readable from any thread.
struct ConnectionStats {
  uint64_t id = 0;
  std::string peer;
  std::string state;  // "handshake", "tls-handshake", "connected", "deciding", "publishing"
  std::string app, stream, flash_ver;
  guint64 bytes_in = 0, bytes_out = 0;
  guint64 bitrate_in = 0;   // bits/s received over the last 5 s (gst/bitrate_meter.h)
  gint64 connected_us = 0;  // monotonic time of accept
  unsigned warnings = 0;
  bool paused = false;  // reading stopped by a full pad queue
  // Players ("playing"): output queued and not sent yet (bytes), messages sent, media
  // skipped by the slow-player gate, and whether the gate holds it cut back now.
  guint64 queued_bytes = 0;
  guint64 messages_sent = 0;
  guint64 skipped = 0;
  bool cut_back = false;
};

class IngestServer : public std::enable_shared_from_this<IngestServer> {
 public:
  // Returns the listener for address:port (address a numeric IP), binding it when this process
  // has none yet (port 0 binds a free port; each acquire with port 0 gets its own listener). An
  // existing listener is only shared when every setting is the same; otherwise the error is
  // kListenerMismatch naming the setting.
  static std::shared_ptr<IngestServer> acquire(const std::string& address, guint16 port,
                                               const ServerSettings& settings, GError** error);
  ~IngestServer();

  guint16 bound_port() const { return bound_port_; }
  // An rtmps listener presents `certificate` (with its key) to the connections accepted from now
  // on; live ones keep the session they have. False with `error` for a plain listener or a
  // certificate GnuTLS cannot use. Elements joining the listener later compare with this one.
  bool replace_certificate(GTlsCertificate* certificate, std::string* error);
  bool tls() const { return settings_.certificate != nullptr; }

  // Routes publishes for `app`/`key` ("" = any) to `route`. Exact matches win over wildcards.
  // Returns false when an identical app/key pair is already routed. With `allow_takeover` a
  // publish for the route while it has a publisher (once decided) closes the old connection and
  // binds the new one after it; without, the new one is refused.
  bool add_route(const std::string& app, const std::string& key, IngestRoute* route,
                 bool allow_takeover = false);
  // Unroutes and disconnects the route's publisher; returns once no loop thread is inside the
  // route and none will enter it again.
  void remove_route(IngestRoute* route);

  // The element has room again for connection `id`'s media (after Intake::kFull). Any thread.
  void resume_reading(uint64_t id);

  // Sends connection `id` an E-RTMP reconnect request (tc_url empty: the same URL). Any
  // thread; false when the connection is gone.
  bool request_reconnect(uint64_t id, std::string tc_url, std::string description);
  // Closes connection `id` as if it had dropped (its route sees on_publisher_gone). Any thread;
  // false when it is gone.
  bool disconnect(uint64_t id, std::string why);

  unsigned active_connections() const { return active_.load(); }
  std::vector<ConnectionStats> connection_stats();

  // Serving players. Routes plays of `app`/`key` ("" = any) to `route`, served from `stream`.
  // Exact matches win over wildcards. False when an identical app/key pair is already routed
  // for players.
  bool add_play_route(const std::string& app, const std::string& key, PlayRoute* route,
                      std::shared_ptr<ServeStream> stream, const PlayRouteSettings& settings);
  // Unroutes: every player of the route gets Stream EOF + Play.Stop and is disconnected;
  // returns once no loop thread is inside the route and none will enter it again.
  void remove_play_route(PlayRoute* route);

 private:
  struct Connection;
  struct Listener;
  struct Route {
    uint64_t id = 0;
    std::string app, key;
    IngestRoute* route = nullptr;
    bool allow_takeover = false;
    // The gate into the element, lock-free on the media path (a message per call): a caller
    // counts itself in `users`, then looks at `closing`; remove_route sets `closing`, then waits
    // for `users` to drop to 0 (under mu_, woken by the last user out once closing).
    std::atomic<bool> closing{false};  // remove_route in progress: nobody enters, nobody binds
    std::atomic<int> users{0};         // loop threads inside the route's callbacks
    uint64_t publisher = 0;            // bound connection id (0: none), guarded by mu_
    uint64_t successor = 0;            // a decided takeover waiting for the publisher to leave, mu_
  };

  struct PlayEntry {
    uint64_t id = 0;  // from the same counter as Route ids
    std::string app, key;
    PlayRoute* route = nullptr;
    std::shared_ptr<ServeStream> stream;
    PlayRouteSettings settings;
    bool closing = false;           // remove_play_route in progress: nobody enters, nobody joins
    int users = 0;                  // loop threads inside the route's callbacks
    std::vector<uint64_t> players;  // connection ids playing from it
  };

  IngestServer(std::string key, const ServerSettings& settings);
  bool start(const std::string& address, guint16 port, GError** error);
  void adopt(int fd, std::string peer);
  Route* find_route_locked(const std::string& app, const std::string& key);
  Route* route_by_id_locked(uint64_t id);
  // Runs `fn(route)` if the route is still open, with the route counted as in use.
  template <class Fn>
  bool enter(uint64_t route_id, Fn&& fn);
  template <class Fn>
  bool enter(Route& r, Fn&& fn);
  PlayEntry* play_route_by_id_locked(uint64_t id);
  template <class Fn>
  bool enter_play(uint64_t route_id, Fn&& fn);
  // Posts `fn(connection)` to the loop of connection `id` (nothing if it is gone).
  template <class Fn>
  bool with_connection(uint64_t id, Fn&& fn);
  void warn_route(uint64_t route_id, const std::string& peer, const std::string& what);
  void forget(Connection* c);

  std::string registry_key_;  // address:port (the bound one for port 0), set before sharing
  const ServerSettings settings_;
  std::shared_ptr<IoPool> pool_;
  std::mutex tls_mu_;                          // tls_creds_, certificate_ after start
  std::shared_ptr<TlsCredentials> tls_creds_;  // rtmps: made from certificate_
  GTlsCertificate* certificate_ = nullptr;     // the one presented now (a reference)
  std::unique_ptr<Listener> listener_;         // lives on (and is destroyed by) its loop
  IoLoop* listener_loop_ = nullptr;
  guint16 bound_port_ = 0;
  std::atomic<unsigned> active_{0};
  std::atomic<guint64> pending_bytes_{0};  // charged by connections not publishing yet

  std::mutex mu_;  // routes_, and each Route's fields
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Route>> routes_;
  std::map<uint64_t, std::shared_ptr<Route>> routes_by_id_;
  std::vector<std::unique_ptr<PlayEntry>> play_routes_;
  uint64_t next_route_id_ = 1;

  std::mutex conns_mu_;  // connections_: inserted and erased by loop threads
  std::map<uint64_t, Connection*> connections_;
};

// --- for the elements that listen (rtmpingestsrc, rtmppushsink mode=listener) ---------------

// A host name (localhost, a DNS name) or a literal into the numeric address to bind, IPv4 first
// where the name has both (what peers given "localhost" try first). Posts RESOURCE/NOT_FOUND on
// `element` and returns false when it does not resolve.
bool resolve_listen_address(GstElement* element, const std::string& host, std::string* out);

// The certificate a listener presents: `certificate`, else the PEM files, else none (plain).
// False with `problem` and `debug` when the files do not load or have no private key (the
// certificate would load, and every handshake would fail).
bool load_listen_certificate(const std::shared_ptr<GTlsCertificate>& certificate,
                             const std::string& certificate_file, const std::string& key_file,
                             std::shared_ptr<GTlsCertificate>* out, std::string* problem,
                             std::string* debug);

}  // namespace gst_ertmp
