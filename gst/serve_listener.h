// rtmppushsink mode=listener: an RTMP server for players inside the sink.
//
// The sink's streaming thread hands each run of packets (push_packet.h) to send(): every frame
// after the headers it was packaged under, into one ServeStream (gst/serve_stream.h), which
// never blocks. Players connect to the process-wide listener of gst/ingest_server (the one
// rtmpingestsrc uses: one port can take publishers and players) through a play route for the
// location's application/key; each is served on its connection's I/O loop (gst/serve_player.h).
//
// Also here, so the element shell stays small: the listener-mode properties (ListenProps and
// their GObject plumbing), and resolving them (address, TLS certificate) at READY->PAUSED.
//
// Element messages (posted from a thread of their own, never an I/O loop):
//   rtmppushsink-player-connected     peer, application, stream-key, player (flashVer),
//                                     enhanced (the player advertised E-RTMP)
//   rtmppushsink-player-disconnected  peer, application, stream-key, reason
//   rtmppushsink-peer-warning         peer, message (a hostile or broken peer; never an error)
#pragma once

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gst/ingest_server.h"
#include "gst/push_packet.h"
#include "gst/serve_stream.h"
#include "protocol/url.h"

namespace gst_ertmp {

// --- properties ------------------------------------------------------------------------------

enum class SinkMode { kCaller = 0, kListener = 1 };

// Property values of listener mode (the element keeps them under its object lock).
struct ListenProps {
  SinkMode mode = SinkMode::kCaller;
  std::shared_ptr<GTlsCertificate> tls_certificate;  // wins over the PEM file properties
  std::string tls_certificate_file;
  std::string tls_key_file;  // empty: the key is in tls_certificate_file
  // Listener settings: the same names, defaults and meaning as rtmpingestsrc's, so a sink
  // and an ingest can share a port.
  guint max_connections = 256;
  guint handshake_timeout = 10;  // s
  guint idle_timeout = 30;       // s
  guint64 pending_memory = 64u * 1024 * 1024;
  gint listen_backlog = 1024;
  bool reuse_port = false;
  // Per player.
  guint64 max_player_queue_bytes = 4u * 1024 * 1024;
  guint player_timeout = 30;  // s cut back before a player is dropped
  bool gop_cache = true;
};

// Installs the listener-mode properties with ids first_id + ListenProp values, and the
// read-only `bound-port`.
enum ListenProp : guint {
  kPropMode = 0,
  kPropBoundPort,
  kPropTlsCertificate,
  kPropTlsCertificateFile,
  kPropTlsKeyFile,
  kPropMaxConnections,
  kPropHandshakeTimeout,
  kPropIdleTimeout,
  kPropPendingMemory,
  kPropListenBacklog,
  kPropReusePort,
  kPropMaxPlayerQueueBytes,
  kPropPlayerTimeout,
  kPropGopCache,
  kListenPropCount,
};
void install_listen_properties(GObjectClass* klass, guint first_id);
GType sink_mode_get_type();
// Property `id` (relative to first_id) into `props`; kPropBoundPort is read-only.
void set_listen_property(ListenProps& props, guint id, const GValue* value);
// `bound_port`: the port listened on, -1 when not listening.
void get_listen_property(const ListenProps& props, guint id, GValue* value, gint bound_port);

// --- resolving them ------------------------------------------------------------------------

// What a listener needs, resolved at READY->PAUSED.
struct ServeTarget {
  std::string address;  // numeric
  guint16 port = 0;
  std::string app;
  std::string key;  // "" = any
  ServerSettings server;
  std::shared_ptr<GTlsCertificate> certificate;  // server.certificate points at it
  PlayRouteSettings play;
  ServeLimits limits;
};

// `location` (as rtmp::Url) and the properties into a target. Posts RESOURCE/SETTINGS (a
// location a listener cannot honour, a certificate that does not load) or RESOURCE/NOT_FOUND
// (an address that does not resolve) on `element` and returns false.
bool resolve_serve_target(GstElement* element, const rtmp::Url& url, const ListenProps& props,
                          ServeTarget* out);

// --- the server ------------------------------------------------------------------------------

// Owned through a std::shared_ptr: a play decision running on its own thread keeps it alive
// (ref/unref) past stop().
class ServeListener final : public PlayRoute, public std::enable_shared_from_this<ServeListener> {
 public:
  // `decide`: the play-request signal (runs on a thread of its own); `wants_decision`: whether
  // a handler is connected.
  using Decide = std::function<bool(const PlayerInfo&)>;
  ServeListener(GstElement* element, Decide decide, std::function<bool()> wants_decision);
  ~ServeListener() override;
  ServeListener(const ServeListener&) = delete;
  ServeListener& operator=(const ServeListener&) = delete;

  // Listens on (or shares) target.address:port and routes its app/key. Posts the error
  // (RESOURCE/SETTINGS, OPEN_WRITE or BUSY) and returns false.
  bool start(const ServeTarget& target);
  // Unroutes: players get Stream EOF + Play.Stop and are disconnected; then the listener is let
  // go (the last user closes it). Idempotent.
  void stop();
  gint bound_port() const;

  // Streaming thread: the packets of one render, in order. Never blocks.
  void send(const std::vector<Packet>& packets);
  // EOS: every player gets what it has, then Stream EOF + Play.Stop.
  void finish();

  // players, players-served, player-bytes-sent, player-queued-bytes, player-max-queued-bytes,
  // players-cut-back, player-skipped-messages, cache-bytes, serve-resyncs.
  void fill_stats(GstStructure* s);

  // PlayRoute (loop threads / a decision thread).
  bool wants_decision() override;
  bool decide_play(const PlayerInfo& info, std::string* reason) override;
  void on_player_joined(const PlayerInfo& info) override;
  void on_player_left(const PlayerInfo& info, const std::string& why) override;
  void on_peer_warning(const std::string& peer, const std::string& what) override;
  void ref() override;
  void unref() override;

 private:
  void push(const Packet& pk, uint64_t dts_ms);
  void post(GstStructure* s);

  GstElement* element_;
  Decide decide_;
  std::function<bool()> wants_decision_;
  std::shared_ptr<IngestServer> server_;
  std::shared_ptr<ServeStream> stream_;
  bool routed_ = false;
  ServeTarget target_;

  // Streaming thread: the headers already in the stream.
  PacketPtr sent_metadata_;
  std::map<TrackKey, PacketPtr> sent_headers_;

  std::mutex mu_;
  std::map<uint64_t, PlayerInfo> players_;  // by connection id
  guint64 players_served_ = 0;
  int refs_ = 0;                         // ref() calls not yet undone
  std::shared_ptr<ServeListener> self_;  // held while refs_ > 0
};

}  // namespace gst_ertmp
