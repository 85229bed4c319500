#include "gst/serve_listener.h"

#include <algorithm>

#include "gst/error_map.h"
#include "gst/push_debug.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

namespace gst_ertmp {

// --- properties ------------------------------------------------------------------------------

GType sink_mode_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(SinkMode::kCaller), "Publish to the server in location (as rtmp2sink)",
       "caller"},
      {static_cast<gint>(SinkMode::kListener),
       "Listen on location's address:port and serve its application/key to RTMP players",
       "listener"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    g_once_init_leave(&type, g_enum_register_static("GstRtmpPushSinkMode", values));
  }
  return type;
}

void install_listen_properties(GObjectClass* klass, guint first_id) {
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                           GST_PARAM_MUTABLE_READY);
  const ListenProps d;
  auto install = [&](guint id, GParamSpec* spec) {
    g_object_class_install_property(klass, first_id + id, spec);
  };
  install(kPropMode,
          g_param_spec_enum("mode", "Mode",
                            "caller: publish to the server in location; listener: be an RTMP "
                            "server for players of location's application/key (location is then "
                            "rtmp[s]://ADDRESS:PORT/APPLICATION/KEY, PORT 0 = any free port)",
                            sink_mode_get_type(), static_cast<gint>(d.mode), rw));
  install(kPropBoundPort,
          g_param_spec_int("bound-port", "Bound port",
                           "mode=listener: the port actually listened on (-1 when not listening)",
                           -1, 65535, -1,
                           static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  install(kPropTlsCertificate,
          g_param_spec_object("tls-certificate", "TLS certificate",
                              "mode=listener: certificate with its private key; the port then "
                              "speaks TLS only (rtmps). Takes precedence over "
                              "tls-certificate-file. Elements sharing a port must use the same "
                              "certificate (or none)",
                              G_TYPE_TLS_CERTIFICATE, rw));
  install(kPropTlsCertificateFile,
          g_param_spec_string("tls-certificate-file", "TLS certificate file",
                              "mode=listener: PEM file with the certificate (chain), and its "
                              "private key unless tls-key-file is set (rtmps)",
                              nullptr, rw));
  install(kPropTlsKeyFile, g_param_spec_string("tls-key-file", "TLS key file",
                                               "mode=listener: PEM file with the private key of "
                                               "tls-certificate-file",
                                               nullptr, rw));
  install(kPropMaxConnections,
          g_param_spec_uint("max-connections", "Max connections",
                            "mode=listener: connections (players and publishers) accepted at "
                            "once on the listener (a listener setting: elements sharing a port "
                            "must agree)",
                            1, 100000, d.max_connections, rw));
  install(kPropHandshakeTimeout,
          g_param_spec_uint("handshake-timeout", "Handshake timeout",
                            "mode=listener: seconds a peer has to complete the (TLS and) RTMP "
                            "handshake (0 = none; a listener setting)",
                            0, 3600, d.handshake_timeout, rw));
  install(kPropIdleTimeout,
          g_param_spec_uint("idle-timeout", "Idle timeout",
                            "mode=listener: seconds a peer that is not playing may stay silent, "
                            "and a send to a player may stay blocked, before it is dropped (0 = "
                            "no idle limit, sends give up after 30 s; a listener setting)",
                            0, 3600, d.idle_timeout, rw));
  install(kPropPendingMemory,
          g_param_spec_uint64("pending-memory", "Pending memory",
                              "mode=listener: memory budget (bytes) of the connections that "
                              "neither play nor publish yet; past it new connections are refused "
                              "(a listener setting)",
                              0, G_MAXUINT64, d.pending_memory, rw));
  install(kPropListenBacklog,
          g_param_spec_int("listen-backlog", "Listen backlog",
                           "mode=listener: connections the kernel queues before they are "
                           "accepted (a listener setting)",
                           1, 65535, d.listen_backlog, rw));
  install(kPropReusePort,
          g_param_spec_boolean("reuse-port", "Reuse port",
                               "mode=listener: SO_REUSEPORT, several processes on one port (a "
                               "listener setting)",
                               d.reuse_port, rw));
  install(kPropMaxPlayerQueueBytes,
          g_param_spec_uint64("max-player-queue-bytes", "Max player queue bytes",
                              "mode=listener: bytes queued for one player (not yet taken by its "
                              "socket) past which it is cut back: media is skipped until half "
                              "of it is sent, then video resumes at a keyframe. Never slows the "
                              "pipeline or the other players",
                              64 * 1024, G_MAXUINT64 / 8, d.max_player_queue_bytes, rw));
  install(kPropPlayerTimeout,
          g_param_spec_uint("player-timeout", "Player timeout",
                            "mode=listener: seconds a player may stay cut back (it cannot keep "
                            "up at all) before it is dropped",
                            1, 3600, d.player_timeout, rw));
  install(kPropGopCache,
          g_param_spec_boolean("gop-cache", "GOP cache",
                               "mode=listener: a player that joins gets the media since the last "
                               "keyframe at once (starts without waiting for the next keyframe; "
                               "FALSE: metadata and headers, then the next keyframe)",
                               d.gop_cache, rw));
}

void set_listen_property(ListenProps& p, guint id, const GValue* value) {
  auto str = [value] {
    const gchar* v = g_value_get_string(value);
    return std::string(v ? v : "");
  };
  switch (id) {
    case kPropMode:
      p.mode = static_cast<SinkMode>(g_value_get_enum(value));
      break;
    case kPropTlsCertificate: {
      auto* cert = G_TLS_CERTIFICATE(g_value_dup_object(value));
      p.tls_certificate = cert ? std::shared_ptr<GTlsCertificate>(
                                     cert, [](GTlsCertificate* c) { g_object_unref(c); })
                               : nullptr;
      break;
    }
    case kPropTlsCertificateFile:
      p.tls_certificate_file = str();
      break;
    case kPropTlsKeyFile:
      p.tls_key_file = str();
      break;
    case kPropMaxConnections:
      p.max_connections = g_value_get_uint(value);
      break;
    case kPropHandshakeTimeout:
      p.handshake_timeout = g_value_get_uint(value);
      break;
    case kPropIdleTimeout:
      p.idle_timeout = g_value_get_uint(value);
      break;
    case kPropPendingMemory:
      p.pending_memory = g_value_get_uint64(value);
      break;
    case kPropListenBacklog:
      p.listen_backlog = g_value_get_int(value);
      break;
    case kPropReusePort:
      p.reuse_port = g_value_get_boolean(value);
      break;
    case kPropMaxPlayerQueueBytes:
      p.max_player_queue_bytes = g_value_get_uint64(value);
      break;
    case kPropPlayerTimeout:
      p.player_timeout = g_value_get_uint(value);
      break;
    case kPropGopCache:
      p.gop_cache = g_value_get_boolean(value);
      break;
    default:
      break;
  }
}

void get_listen_property(const ListenProps& p, guint id, GValue* value, gint bound_port) {
  auto set_str = [value](const std::string& v) {
    g_value_set_string(value, v.empty() ? nullptr : v.c_str());
  };
  switch (id) {
    case kPropMode:
      g_value_set_enum(value, static_cast<gint>(p.mode));
      break;
    case kPropBoundPort:
      g_value_set_int(value, bound_port);
      break;
    case kPropTlsCertificate:
      g_value_set_object(value, p.tls_certificate.get());
      break;
    case kPropTlsCertificateFile:
      set_str(p.tls_certificate_file);
      break;
    case kPropTlsKeyFile:
      set_str(p.tls_key_file);
      break;
    case kPropMaxConnections:
      g_value_set_uint(value, p.max_connections);
      break;
    case kPropHandshakeTimeout:
      g_value_set_uint(value, p.handshake_timeout);
      break;
    case kPropIdleTimeout:
      g_value_set_uint(value, p.idle_timeout);
      break;
    case kPropPendingMemory:
      g_value_set_uint64(value, p.pending_memory);
      break;
    case kPropListenBacklog:
      g_value_set_int(value, p.listen_backlog);
      break;
    case kPropReusePort:
      g_value_set_boolean(value, p.reuse_port);
      break;
    case kPropMaxPlayerQueueBytes:
      g_value_set_uint64(value, p.max_player_queue_bytes);
      break;
    case kPropPlayerTimeout:
      g_value_set_uint(value, p.player_timeout);
      break;
    case kPropGopCache:
      g_value_set_boolean(value, p.gop_cache);
      break;
    default:
      break;
  }
}

// --- resolving them ----------------------------------------------------------------------------

bool resolve_serve_target(GstElement* element, const rtmp::Url& url, const ListenProps& props,
                          ServeTarget* out) {
  auto fail = [element](const std::string& text, const std::string& debug) {
    post_bus_error(element, settings_error(), text, debug);
    return false;
  };
  const std::string where = url.to_string();
  if (url.host.empty()) return fail("mode=listener: no address to listen on in " + where, "");
  if (url.stream.find('?') != std::string::npos) {
    return fail("mode=listener: the location '" + where + "' has a query",
                "a listener cannot require one: check tokens in the play-request signal (its "
                "`query` argument)");
  }
  if (!url.username.empty()) {
    return fail("mode=listener: the location has credentials: a listener has none to check",
                "check players in the play-request signal");
  }
  std::string problem, debug;
  if (!load_listen_certificate(props.tls_certificate, props.tls_certificate_file,
                               props.tls_key_file, &out->certificate, &problem, &debug)) {
    return fail(problem, debug);
  }
  if (url.tls() && !out->certificate) {
    return fail("mode=listener: the location '" + where +
                    "' is rtmps:// but no TLS certificate "
                    "is set",
                "set tls-certificate or tls-certificate-file (and tls-key-file)");
  }
  if (!resolve_listen_address(element, url.host, &out->address)) return false;
  out->port = url.port;
  out->app = url.app;
  out->key = url.stream;
  ServerSettings& s = out->server;
  s.max_connections = props.max_connections;
  s.limits.handshake_timeout_ms = uint64_t{props.handshake_timeout} * 1000;
  s.limits.idle_timeout_ms = uint64_t{props.idle_timeout} * 1000;
  s.pending_memory_budget = props.pending_memory;
  s.backlog = props.listen_backlog;
  s.reuse_port = props.reuse_port;
  s.certificate = out->certificate.get();
  rtmp::PlayerGateLimits& g = out->play.gate;
  g.cut_bytes = props.max_player_queue_bytes;
  g.drop_bytes = props.max_player_queue_bytes * 8;
  g.drop_after_ms = uint64_t{props.player_timeout} * 1000;
  if (!props.gop_cache) out->limits.cache.max_gop_bytes = 0;
  // What a loop may leave waiting for a player before it resynchronises: twice what the
  // player itself may queue, so the gate decides first.
  out->limits.max_waiting_bytes = std::max<size_t>(props.max_player_queue_bytes * 2, 1 << 20);
  return true;
}

// --- the server ------------------------------------------------------------------------------

ServeListener::ServeListener(GstElement* element, Decide decide,
                             std::function<bool()> wants_decision)
    : element_(element), decide_(std::move(decide)), wants_decision_(std::move(wants_decision)) {}

ServeListener::~ServeListener() {
  stop();
}

bool ServeListener::start(const ServeTarget& target) {
  target_ = target;
  target_.server.certificate = target_.certificate.get();
  GError* err = nullptr;
  auto server = IngestServer::acquire(target_.address, target_.port, target_.server, &err);
  const std::string where = target_.address + ":" + std::to_string(target_.port);
  if (!server && g_error_matches(err, G_IO_ERROR, kListenerMismatch)) {
    post_bus_error(element_, settings_error(),
                   "elements sharing " + where + " disagree about their listener", err->message);
    g_clear_error(&err);
    return false;
  }
  if (!server) {
    GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_WRITE, ("Could not listen on %s", where.c_str()),
                      ("%s", err ? err->message : "unknown error"));
    g_clear_error(&err);
    return false;
  }
  stream_ = std::make_shared<ServeStream>(target_.limits);
  if (!server->add_play_route(target_.app, target_.key, this, stream_, target_.play)) {
    GST_ELEMENT_ERROR(element_, RESOURCE, BUSY,
                      ("Another rtmppushsink already serves application '%s' stream key '%s' on "
                       "port %u",
                       target_.app.c_str(), target_.key.c_str(), server->bound_port()),
                      (nullptr));
    return false;
  }
  server_ = std::move(server);
  routed_ = true;
  GST_INFO_OBJECT(element_, "serving players at %s://%s:%u/%s/%s",
                  server_->tls() ? "rtmps" : "rtmp", target_.address.c_str(), server_->bound_port(),
                  target_.app.c_str(), target_.key.c_str());
  return true;
}

void ServeListener::stop() {
  if (routed_) {
    // Players hear the end of the stream; no loop enters this object after this.
    server_->remove_play_route(this);
    routed_ = false;
  }
  server_.reset();
}

gint ServeListener::bound_port() const {
  return server_ ? static_cast<gint>(server_->bound_port()) : -1;
}

void ServeListener::push(const Packet& pk, uint64_t dts_ms) {
  rtmp::Message m;
  m.type = static_cast<uint8_t>(pk.type);
  m.timestamp = dts_ms;
  // The one copy of the message for every player (the cache and their sessions share it).
  const rtmp::Bytes tail = pk.payload ? pk.payload->bytes() : rtmp::Bytes();
  m.payload.reserve(pk.body.size() + tail.size());
  m.payload.insert(m.payload.end(), pk.body.begin(), pk.body.end());
  m.payload.insert(m.payload.end(), tail.begin(), tail.end());
  stream_->push(std::move(m));
}

void ServeListener::send(const std::vector<Packet>& packets) {
  if (!stream_) return;
  for (const Packet& pk : packets) {
    // Each frame after the headers it was packaged under (push_packet.h), as a publisher
    // sends them: the stream's cache keeps them for players that join later.
    if (pk.media) {
      if (pk.metadata && sent_metadata_ != pk.metadata) {
        // At timestamp 0, as OBS and ffmpeg publish it: ffmpeg's FLV reader (5.1, 7.1) takes
        // an onMetaData at any other time for a subtitle stream ("text" in ffprobe).
        push(*pk.metadata, 0);
        sent_metadata_ = pk.metadata;
      }
      if (pk.sequence_header && sent_headers_[pk.track] != pk.sequence_header) {
        push(*pk.sequence_header, pk.dts_ms);
        sent_headers_[pk.track] = pk.sequence_header;
      }
    }
    push(pk, pk.dts_ms);
  }
}

void ServeListener::finish() {
  if (stream_) stream_->end();
}

void ServeListener::fill_stats(GstStructure* s) {
  std::vector<uint64_t> ids;
  guint64 served = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, info] : players_) ids.push_back(id);
    served = players_served_;
  }
  guint64 sent = 0, queued = 0, max_queued = 0, skipped = 0;
  guint cut = 0;
  if (server_) {
    for (const auto& c : server_->connection_stats()) {
      if (std::find(ids.begin(), ids.end(), c.id) == ids.end()) continue;
      sent += c.bytes_out;
      queued += c.queued_bytes;
      max_queued = std::max(max_queued, c.queued_bytes);
      skipped += c.skipped;
      cut += c.cut_back ? 1 : 0;
    }
  }
  ServeStream::Stats st = stream_ ? stream_->stats() : ServeStream::Stats{};
  gst_structure_set(s, "players", G_TYPE_UINT, static_cast<guint>(ids.size()), "players-served",
                    G_TYPE_UINT64, served, "player-bytes-sent", G_TYPE_UINT64, sent,
                    "player-queued-bytes", G_TYPE_UINT64, queued, "player-max-queued-bytes",
                    G_TYPE_UINT64, max_queued, "players-cut-back", G_TYPE_UINT, cut,
                    "player-skipped-messages", G_TYPE_UINT64, skipped, "cache-bytes", G_TYPE_UINT64,
                    static_cast<guint64>(st.cache_bytes), "serve-resyncs", G_TYPE_UINT64,
                    static_cast<guint64>(st.resyncs), nullptr);
}

// --- PlayRoute -----------------------------------------------------------------------------------

bool ServeListener::wants_decision() {
  return wants_decision_();
}

bool ServeListener::decide_play(const PlayerInfo& info, std::string* reason) {
  if (decide_(info)) return true;
  *reason = "refused by the application";
  GST_INFO_OBJECT(element_, "play from %s refused by a play-request handler", info.peer.c_str());
  return false;
}

void ServeListener::post(GstStructure* s) {
  BusPoster::instance().post(element_, gst_message_new_element(GST_OBJECT(element_), s));
}

void ServeListener::on_player_joined(const PlayerInfo& info) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    players_[info.connection] = info;
    ++players_served_;
  }
  GST_INFO_OBJECT(element_, "player %s plays %s/%s (%s)", info.peer.c_str(), info.app.c_str(),
                  info.stream.c_str(), info.flash_ver.c_str());
  post(gst_structure_new(
      "rtmppushsink-player-connected", "peer", G_TYPE_STRING, info.peer.c_str(), "application",
      G_TYPE_STRING, info.app.c_str(), "stream-key", G_TYPE_STRING, info.stream.c_str(), "player",
      G_TYPE_STRING, info.flash_ver.c_str(), "enhanced", G_TYPE_BOOLEAN, info.enhanced, nullptr));
}

void ServeListener::on_player_left(const PlayerInfo& info, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    players_.erase(info.connection);
  }
  GST_INFO_OBJECT(element_, "player %s left: %s", info.peer.c_str(), why.c_str());
  post(gst_structure_new("rtmppushsink-player-disconnected", "peer", G_TYPE_STRING,
                         info.peer.c_str(), "application", G_TYPE_STRING, info.app.c_str(),
                         "stream-key", G_TYPE_STRING, info.stream.c_str(), "reason", G_TYPE_STRING,
                         why.c_str(), nullptr));
}

void ServeListener::on_peer_warning(const std::string& peer, const std::string& what) {
  GST_WARNING_OBJECT(element_, "%s: %s", peer.c_str(), what.c_str());
  post(gst_structure_new("rtmppushsink-peer-warning", "peer", G_TYPE_STRING, peer.c_str(),
                         "message", G_TYPE_STRING, what.c_str(), nullptr));
}

void ServeListener::ref() {
  gst_object_ref(element_);
  std::lock_guard<std::mutex> lock(mu_);
  if (refs_++ == 0) self_ = shared_from_this();
}

void ServeListener::unref() {
  std::shared_ptr<ServeListener> last;  // may be the last reference: released on return
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--refs_ == 0) last = std::move(self_);
  }
  gst_object_unref(element_);
}

}  // namespace gst_ertmp
