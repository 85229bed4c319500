// rtmpingestsrc: RTMP/E-RTMP publishers (OBS, ffmpeg, encoders) push straight into the pipeline.
//
// Rooms: this file is the GObject shell (properties in a Settings struct, a State built at
// READY->PAUSED and dropped at PAUSED->READY, the publish-request signal, bus messages). The
// listener and connections are gst/ingest_server (served by the shared I/O loops of
// gst/io_loop); what a publisher's messages become on the pads is gst/ingest_stream; each pad
// streams from its own task out of a bounded queue (gst/pad_stream).
//
// Threads: publisher callbacks come from an I/O loop thread and never block: media goes into
// the pads' queues, bus messages go through BusPoster. The publish decision (the application's
// publish-request handler) runs on a thread of its own. State changes: READY->PAUSED resolves
// and validates the settings, binds (or shares) the listener and routes the application/key;
// PAUSED->READY unroutes first (no loop enters the element after that), then stops the pad
// tasks and removes the pads.
#include "gst/gstrtmpingestsrc.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "gst/error_map.h"
#include "gst/ingest_server.h"
#include "gst/ingest_stream.h"
#include "gst/location_uri.h"
#include "protocol/url.h"

GST_DEBUG_CATEGORY(rtmp_ingest_src_debug);
#define GST_CAT_DEFAULT rtmp_ingest_src_debug

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_BOUND_PORT,
  PROP_APPLICATION,
  PROP_STREAM_KEY,
  PROP_LATENCY,
  PROP_ON_DISCONNECT,
  PROP_MAX_CONNECTIONS,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_IDLE_TIMEOUT,
  PROP_STATS,
  PROP_OUTPUT_MODE,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_CERTIFICATE_FILE,
  PROP_TLS_KEY_FILE,
  PROP_ALLOW_TAKEOVER,
  PROP_MAX_QUEUE_BYTES,
  PROP_MAX_QUEUE_TIME,
  PROP_PENDING_MEMORY,
  PROP_LISTEN_BACKLOG,
  PROP_REUSE_PORT,
  PROP_PROXY_PROTOCOL,
  PROP_PROXY_TRUSTED_NETWORKS,
};

enum { SIGNAL_PUBLISH_REQUEST, SIGNAL_REQUEST_RECONNECT, SIGNAL_DISCONNECT_PUBLISHER, LAST_SIGNAL };

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT 1935
#define DEFAULT_APPLICATION ""
#define DEFAULT_STREAM_KEY ""
#define DEFAULT_LATENCY (200 * GST_MSECOND)
#define DEFAULT_ON_DISCONNECT ON_DISCONNECT_EOS
#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_HANDSHAKE_TIMEOUT 10
#define DEFAULT_IDLE_TIMEOUT 30
#define DEFAULT_ALLOW_TAKEOVER FALSE
#define DEFAULT_MAX_QUEUE_BYTES (8 * 1024 * 1024)
#define DEFAULT_MAX_QUEUE_TIME (2 * GST_SECOND)
#define DEFAULT_PENDING_MEMORY (64 * 1024 * 1024)
#define DEFAULT_LISTEN_BACKLOG 1024
#define DEFAULT_REUSE_PORT FALSE
#define DEFAULT_PROXY_PROTOCOL FALSE

typedef enum { ON_DISCONNECT_EOS = 0, ON_DISCONNECT_WAIT = 1 } GstRtmpIngestOnDisconnect;
typedef enum { OUTPUT_ELEMENTARY = 0, OUTPUT_FLV = 1 } GstRtmpIngestOutputMode;
#define DEFAULT_OUTPUT_MODE OUTPUT_ELEMENTARY

static GType gst_rtmp_ingest_output_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {OUTPUT_ELEMENTARY, "One pad per track with elementary-stream caps", "elementary"},
      {OUTPUT_FLV, "One 'src' pad of video/x-flv (drop-in for rtmp2src ! flvdemux)", "flv"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstRtmpIngestOutputMode", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static GType gst_rtmp_ingest_on_disconnect_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {ON_DISCONNECT_EOS, "Send EOS so recordings finalize", "eos"},
      {ON_DISCONNECT_WAIT, "Keep the pads and wait for a republish that continues them", "wait"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstRtmpIngestOnDisconnect", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static guint signals[LAST_SIGNAL];

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("video/x-h264, stream-format=avc, alignment=au; "
                    "video/x-h265, stream-format=hvc1, alignment=au; "
                    "video/x-av1, stream-format=obu-stream, alignment=tu; "
                    "video/x-vp9; video/x-vp8; video/x-flash-video; video/x-flash-screen; "
                    "video/x-vp6-flash; video/x-vp6-alpha"));

static GstStaticPadTemplate flv_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("video/x-flv"));

static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=4, stream-format=raw; "
                    "audio/mpeg, mpegversion=1, layer=3; audio/x-opus; audio/x-flac; "
                    "audio/x-ac3; audio/x-eac3; audio/x-raw; audio/x-adpcm; audio/x-nellymoser; "
                    "audio/x-alaw; audio/x-mulaw; audio/x-speex"));

namespace {

// Property values, as set; checked and resolved at READY->PAUSED (start()).
struct Settings {
  // `location` as set. A parsable one fills address/port/application/stream-key at once; what
  // a listener cannot honour is kept here and fails READY->PAUSED (never silently ignored).
  std::string location;
  bool location_set = false;
  std::string location_error;  // unparsable
  bool location_tls = false;
  bool location_query = false;
  bool location_credentials = false;
  std::string address = DEFAULT_ADDRESS;
  guint port = DEFAULT_PORT;
  std::string application = DEFAULT_APPLICATION;
  std::string stream_key = DEFAULT_STREAM_KEY;
  GstClockTime latency = DEFAULT_LATENCY;
  int on_disconnect = DEFAULT_ON_DISCONNECT;
  guint max_connections = DEFAULT_MAX_CONNECTIONS;
  guint handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
  guint idle_timeout = DEFAULT_IDLE_TIMEOUT;
  int output_mode = DEFAULT_OUTPUT_MODE;
  std::shared_ptr<GTlsCertificate> tls_certificate;  // wins over the PEM file properties
  std::string tls_certificate_file;
  std::string tls_key_file;  // empty: the key is in tls_certificate_file
  bool allow_takeover = DEFAULT_ALLOW_TAKEOVER;
  guint64 max_queue_bytes = DEFAULT_MAX_QUEUE_BYTES;
  GstClockTime max_queue_time = DEFAULT_MAX_QUEUE_TIME;
  guint64 pending_memory = DEFAULT_PENDING_MEMORY;
  int listen_backlog = DEFAULT_LISTEN_BACKLOG;
  bool reuse_port = DEFAULT_REUSE_PORT;
  bool proxy_protocol = DEFAULT_PROXY_PROTOCOL;
  std::string proxy_trusted_networks;  // checked at start()
};

std::shared_ptr<GTlsCertificate> adopt_certificate(GTlsCertificate* cert) {
  if (!cert) return nullptr;
  return std::shared_ptr<GTlsCertificate>(cert, [](GTlsCertificate* c) { g_object_unref(c); });
}

// What exists between READY->PAUSED and PAUSED->READY.
struct State {
  std::shared_ptr<gst_ertmp::IngestServer> server;
  std::unique_ptr<gst_ertmp::IngestStream> stream;
  guint bound_port = 0;
  bool tls = false;
  std::string address;  // resolved
  bool eos_on_disconnect = true;
};

}  // namespace

struct GstRtmpIngestSrcPrivate;

struct _GstRtmpIngestSrc {
  GstElement parent;
  GstRtmpIngestSrcPrivate* priv;
};

static void uri_handler_init(gpointer g_iface, gpointer iface_data);

G_DEFINE_TYPE_WITH_CODE(GstRtmpIngestSrc, gst_rtmp_ingest_src, GST_TYPE_ELEMENT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, uri_handler_init))

struct GstRtmpIngestSrcPrivate final : gst_ertmp::IngestRoute {
  explicit GstRtmpIngestSrcPrivate(GstRtmpIngestSrc* s) : self(s) {}

  GstRtmpIngestSrc* self;
  Settings settings;  // guarded by the object lock
  // Built by start(), dropped by stop(); loop callbacks only run between add_route and
  // remove_route, pad tasks only while `state->stream` runs, so neither needs the lock.
  // Readers from application threads (stats, bound-port) take state_mu.
  std::mutex state_mu;
  std::unique_ptr<State> state;

  // The bound publisher (stats, and where on_room resumes reading).
  std::mutex publisher_mu;
  gst_ertmp::PublisherInfo publisher;
  bool publishing = false;
  gint64 publish_started_us = 0;
  std::atomic<uint64_t> bound_connection{0};
  std::atomic<bool> ended{false};  // EOS sent: later publishers are refused until READY

  GstElement* element() { return GST_ELEMENT(self); }

  Settings copy_settings() {
    GST_OBJECT_LOCK(self);
    Settings s = settings;
    GST_OBJECT_UNLOCK(self);
    return s;
  }

  // Element messages from loop threads go through BusPoster: a sync bus handler never runs on
  // an I/O loop (it may stop the element, which waits for the loops).
  void post_structure(GstStructure* s) {
    gst_ertmp::BusPoster::instance().post(element(), gst_message_new_element(GST_OBJECT(self), s));
  }

  // --- IngestRoute --------------------------------------------------------------------------

  void ref() override { gst_object_ref(self); }
  void unref() override { gst_object_unref(self); }

  bool decide_publish(const gst_ertmp::PublisherInfo& info, std::string* reason) override {
    if (ended) {
      *reason = "stream ended";
      return false;
    }
    gboolean accept = TRUE;
    if (g_signal_has_handler_pending(self, signals[SIGNAL_PUBLISH_REQUEST], 0, FALSE)) {
      g_signal_emit(self, signals[SIGNAL_PUBLISH_REQUEST], 0, info.app.c_str(), info.stream.c_str(),
                    info.tc_url.c_str(), info.query.c_str(), info.peer.c_str(), &accept);
    }
    if (!accept) {
      *reason = "refused by the application";
      GST_INFO_OBJECT(self, "publish from %s refused by a publish-request handler",
                      info.peer.c_str());
      return false;
    }
    return true;
  }

  void on_publisher_bound(const gst_ertmp::PublisherInfo& info) override {
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      publisher = info;
      publishing = true;
      publish_started_us = g_get_monotonic_time();
    }
    bound_connection = info.connection;
    state->stream->begin();
    GST_INFO_OBJECT(self, "publisher %s connected: app '%s' stream '%s' (%s)", info.peer.c_str(),
                    info.app.c_str(), info.stream.c_str(), info.flash_ver.c_str());
    post_structure(gst_structure_new(
        "rtmpingestsrc-publisher-connected", "peer", G_TYPE_STRING, info.peer.c_str(),
        "application", G_TYPE_STRING, info.app.c_str(), "stream-key", G_TYPE_STRING,
        info.stream.c_str(), "encoder", G_TYPE_STRING, info.flash_ver.c_str(), nullptr));
  }

  static gst_ertmp::Intake intake(gst_ertmp::IngestStream::Result r, std::string* why) {
    switch (r) {
      case gst_ertmp::IngestStream::Result::kOk:
        return gst_ertmp::Intake::kMore;
      case gst_ertmp::IngestStream::Result::kFull:
        return gst_ertmp::Intake::kFull;
      case gst_ertmp::IngestStream::Result::kBadTimestamp:
        *why = "a timestamp more than 2^40 ms away from the publish's first one";
        return gst_ertmp::Intake::kBad;
    }
    return gst_ertmp::Intake::kMore;
  }

  gst_ertmp::Intake on_media(rtmp::MediaReceived&& media, std::string* why) override {
    return intake(state->stream->media(std::move(media)), why);
  }

  gst_ertmp::Intake on_metadata(rtmp::MetadataReceived&& md, std::string* why) override {
    return intake(state->stream->metadata(std::move(md)), why);
  }

  void on_publisher_gone(bool clean, const std::string& why, bool replaced) override {
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      peer = publisher.peer;
      publishing = false;
    }
    bound_connection = 0;
    GST_INFO_OBJECT(self, "publisher %s gone (%s): %s", peer.c_str(),
                    replaced ? "taken over"
                    : clean  ? "clean"
                             : "dropped",
                    why.c_str());
    post_structure(gst_structure_new(
        "rtmpingestsrc-publisher-disconnected", "peer", G_TYPE_STRING, peer.c_str(), "clean",
        G_TYPE_BOOLEAN, clean, "replaced", G_TYPE_BOOLEAN, replaced, "reason", G_TYPE_STRING,
        replaced ? "taken over by a new publisher" : why.c_str(), nullptr));
    // A takeover continues the pads with the next publisher (DISCONT, monotonic DTS).
    if (!replaced && state->eos_on_disconnect) {
      ended = true;
      if (!state->stream->end_of_stream()) {
        // Nothing was ever linked: still tell the application the stream is over.
        post_structure(gst_structure_new_empty("rtmpingestsrc-eos"));
      }
    }
  }

  void on_peer_warning(const std::string& peer, const std::string& what) override {
    GST_WARNING_OBJECT(self, "%s: %s", peer.c_str(), what.c_str());
    post_structure(gst_structure_new("rtmpingestsrc-peer-warning", "peer", G_TYPE_STRING,
                                     peer.c_str(), "message", G_TYPE_STRING, what.c_str(),
                                     nullptr));
  }

  static gboolean pad_query(GstPad* pad, GstObject* parent, GstQuery* query) {
    if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
      auto* s = GST_RTMP_INGEST_SRC(parent);
      GST_OBJECT_LOCK(s);
      GstClockTime latency = s->priv->settings.latency;
      GST_OBJECT_UNLOCK(s);
      gst_query_set_latency(query, TRUE, latency, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    return gst_pad_query_default(pad, parent, query);
  }

  GstStructure* stats() {
    GstStructure* s;
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      s = gst_structure_new(
          "rtmpingestsrc-stats", "publishing", G_TYPE_BOOLEAN, publishing, "peer", G_TYPE_STRING,
          publisher.peer.c_str(), "application", G_TYPE_STRING, publisher.app.c_str(), "stream-key",
          G_TYPE_STRING, publisher.stream.c_str(), "uptime", G_TYPE_UINT64,
          publishing ? static_cast<guint64>(g_get_monotonic_time() - publish_started_us) * 1000 : 0,
          nullptr);
    }
    std::lock_guard<std::mutex> lock(state_mu);
    if (state && state->stream) state->stream->fill_stats(s);
    // The publisher's connection: bytes, bitrate, and whether a full pad queue holds it (TCP
    // back-pressure). Every connection of the listener (shared by every element on the port),
    // whatever its state, under "connections".
    gboolean paused = FALSE;
    guint64 bytes = 0, bitrate = 0;
    // A GValueArray, as srtsrc's "callers": bindings (PyGObject without gst-python) read it as
    // a list, where a GstValueArray is an unknown type to them.
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    GValueArray* list = g_value_array_new(0);
    G_GNUC_END_IGNORE_DEPRECATIONS
    if (state && state->server) {
      const uint64_t id = bound_connection.load();
      const gint64 now = g_get_monotonic_time();
      for (const auto& c : state->server->connection_stats()) {
        if (id && c.id == id) {
          paused = c.paused;
          bytes = c.bytes_in;
          bitrate = c.bitrate_in;
        }
        GValue v = G_VALUE_INIT;
        g_value_init(&v, GST_TYPE_STRUCTURE);
        g_value_take_boxed(
            &v, gst_structure_new(
                    "rtmpingestsrc-connection", "id", G_TYPE_UINT64, guint64{c.id}, "peer",
                    G_TYPE_STRING, c.peer.c_str(), "state", G_TYPE_STRING, c.state.c_str(),
                    "application", G_TYPE_STRING, c.app.c_str(), "stream-key", G_TYPE_STRING,
                    c.stream.c_str(), "flash-ver", G_TYPE_STRING, c.flash_ver.c_str(), "bytes-in",
                    G_TYPE_UINT64, c.bytes_in, "bytes-out", G_TYPE_UINT64, c.bytes_out, "bitrate",
                    G_TYPE_UINT64, c.bitrate_in, "uptime", G_TYPE_UINT64,
                    static_cast<guint64>(now - c.connected_us) * 1000, "warnings", G_TYPE_UINT,
                    c.warnings, "reading-paused", G_TYPE_BOOLEAN, c.paused, nullptr));
        G_GNUC_BEGIN_IGNORE_DEPRECATIONS
        g_value_array_append(list, &v);
        G_GNUC_END_IGNORE_DEPRECATIONS
        g_value_unset(&v);
      }
    }
    gst_structure_set(s, "reading-paused", G_TYPE_BOOLEAN, paused, "bytes", G_TYPE_UINT64, bytes,
                      "bitrate", G_TYPE_UINT64, bitrate, nullptr);
    GValue lv = G_VALUE_INIT;
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    g_value_init(&lv, g_value_array_get_type());
    G_GNUC_END_IGNORE_DEPRECATIONS
    g_value_take_boxed(&lv, list);
    gst_structure_take_value(s, "connections", &lv);
    return s;
  }
};

// The listener and the bound publisher's connection, if any.
static std::shared_ptr<gst_ertmp::IngestServer> bound_publisher(GstRtmpIngestSrc* self,
                                                                uint64_t* id) {
  auto* p = self->priv;
  std::lock_guard<std::mutex> lock(p->state_mu);
  *id = p->bound_connection.load();
  if (!*id || !p->state) return nullptr;
  return p->state->server;
}

static gboolean gst_rtmp_ingest_src_request_reconnect(GstRtmpIngestSrc* self, const gchar* tc_url,
                                                      const gchar* description) {
  uint64_t id = 0;
  auto server = bound_publisher(self, &id);
  if (!server) return FALSE;
  GST_INFO_OBJECT(self, "asking the publisher to reconnect to %s",
                  tc_url && *tc_url ? tc_url : "the same URL");
  return server->request_reconnect(id, tc_url ? tc_url : "", description ? description : "");
}

static gboolean gst_rtmp_ingest_src_disconnect_publisher(GstRtmpIngestSrc* self) {
  uint64_t id = 0;
  auto server = bound_publisher(self, &id);
  if (!server) return FALSE;
  GST_INFO_OBJECT(self, "disconnecting the publisher");
  return server->disconnect(id, "disconnected by the application");
}

static void gst_rtmp_ingest_src_init(GstRtmpIngestSrc* self) {
  self->priv = new GstRtmpIngestSrcPrivate(self);
}

static void gst_rtmp_ingest_src_finalize(GObject* object) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  delete self->priv;
  G_OBJECT_CLASS(gst_rtmp_ingest_src_parent_class)->finalize(object);
}

// `location` into address/port/application/key where it parses; what a listener cannot honour
// is recorded for start() to refuse: an unparsable URI, a query (a key "secret?token=abc" could
// never match a publish: check tokens in publish-request), rtmps without a certificate (it
// would listen in plain text), credentials (a listener has none to check).
static void parse_location(Settings* s, const std::string& location) {
  s->location = location;
  auto url = rtmp::parse_url(location, rtmp::UrlRole::kListen);
  s->location_error = url.ok() ? "" : url.error().to_string();
  if (!url.ok()) return;
  s->address = url->host;
  s->port = url->port;
  s->application = url->app;
  std::string key = url->stream;
  s->location_query = key.find('?') != std::string::npos;
  s->stream_key = key.substr(0, key.find('?'));
  s->location_tls = url->tls();
  s->location_credentials = !url->username.empty();
}

static void reload_certificate(GstRtmpIngestSrc* self);

static void gst_rtmp_ingest_src_set_property(GObject* object, guint prop_id, const GValue* value,
                                             GParamSpec* pspec) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  auto str = [value](const char* fallback) {
    const gchar* v = g_value_get_string(value);
    return std::string(v ? v : fallback);
  };
  GST_OBJECT_LOCK(self);
  Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      parse_location(&s, str(""));
      s.location_set = g_value_get_string(value) != nullptr;
      break;
    case PROP_ADDRESS:
      s.address = str(DEFAULT_ADDRESS);
      s.location_set = false;
      break;
    case PROP_PORT:
      s.port = g_value_get_uint(value);
      s.location_set = false;
      break;
    case PROP_APPLICATION:
      s.application = str("");
      s.location_set = false;
      break;
    case PROP_STREAM_KEY:
      s.stream_key = str("");
      s.location_set = false;
      break;
    case PROP_LATENCY:
      s.latency = g_value_get_uint64(value);
      break;
    case PROP_ON_DISCONNECT:
      s.on_disconnect = g_value_get_enum(value);
      break;
    case PROP_MAX_CONNECTIONS:
      s.max_connections = g_value_get_uint(value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      s.handshake_timeout = g_value_get_uint(value);
      break;
    case PROP_IDLE_TIMEOUT:
      s.idle_timeout = g_value_get_uint(value);
      break;
    case PROP_OUTPUT_MODE:
      s.output_mode = g_value_get_enum(value);
      break;
    case PROP_TLS_CERTIFICATE:
      s.tls_certificate = adopt_certificate(G_TLS_CERTIFICATE(g_value_dup_object(value)));
      break;
    case PROP_TLS_CERTIFICATE_FILE:
      s.tls_certificate_file = str("");
      break;
    case PROP_TLS_KEY_FILE:
      s.tls_key_file = str("");
      break;
    case PROP_ALLOW_TAKEOVER:
      s.allow_takeover = g_value_get_boolean(value);
      break;
    case PROP_MAX_QUEUE_BYTES:
      s.max_queue_bytes = g_value_get_uint64(value);
      break;
    case PROP_MAX_QUEUE_TIME:
      s.max_queue_time = g_value_get_uint64(value);
      break;
    case PROP_PENDING_MEMORY:
      s.pending_memory = g_value_get_uint64(value);
      break;
    case PROP_LISTEN_BACKLOG:
      s.listen_backlog = g_value_get_int(value);
      break;
    case PROP_REUSE_PORT:
      s.reuse_port = g_value_get_boolean(value);
      break;
    case PROP_PROXY_PROTOCOL:
      s.proxy_protocol = g_value_get_boolean(value);
      break;
    case PROP_PROXY_TRUSTED_NETWORKS:
      s.proxy_trusted_networks = str("");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
  if (prop_id == PROP_TLS_CERTIFICATE || prop_id == PROP_TLS_CERTIFICATE_FILE ||
      prop_id == PROP_TLS_KEY_FILE) {
    reload_certificate(self);
  }
}

static void gst_rtmp_ingest_src_get_property(GObject* object, guint prop_id, GValue* value,
                                             GParamSpec* pspec) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  auto* p = self->priv;
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, p->stats());
    return;
  }
  if (prop_id == PROP_BOUND_PORT) {
    std::lock_guard<std::mutex> lock(p->state_mu);
    g_value_set_int(value, p->state ? static_cast<int>(p->state->bound_port) : -1);
    return;
  }
  GST_OBJECT_LOCK(self);
  const Settings& s = p->settings;
  switch (prop_id) {
    case PROP_LOCATION: {
      if (s.location_set) {
        g_value_set_string(value, s.location.c_str());
        break;
      }
      std::string host =
          s.address.find(':') != std::string::npos ? "[" + s.address + "]" : s.address;
      bool tls = s.tls_certificate || !s.tls_certificate_file.empty();
      std::string uri = (tls ? "rtmps://" : "rtmp://") + host + ":" + std::to_string(s.port) + "/" +
                        s.application + "/" + s.stream_key;
      g_value_set_string(value, uri.c_str());
      break;
    }
    case PROP_ADDRESS:
      g_value_set_string(value, s.address.c_str());
      break;
    case PROP_PORT:
      g_value_set_uint(value, s.port);
      break;
    case PROP_APPLICATION:
      g_value_set_string(value, s.application.c_str());
      break;
    case PROP_STREAM_KEY:
      g_value_set_string(value, s.stream_key.c_str());
      break;
    case PROP_LATENCY:
      g_value_set_uint64(value, s.latency);
      break;
    case PROP_ON_DISCONNECT:
      g_value_set_enum(value, s.on_disconnect);
      break;
    case PROP_MAX_CONNECTIONS:
      g_value_set_uint(value, s.max_connections);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint(value, s.handshake_timeout);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint(value, s.idle_timeout);
      break;
    case PROP_OUTPUT_MODE:
      g_value_set_enum(value, s.output_mode);
      break;
    case PROP_TLS_CERTIFICATE:
      g_value_set_object(value, s.tls_certificate.get());
      break;
    case PROP_TLS_CERTIFICATE_FILE:
      g_value_set_string(value,
                         s.tls_certificate_file.empty() ? nullptr : s.tls_certificate_file.c_str());
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string(value, s.tls_key_file.empty() ? nullptr : s.tls_key_file.c_str());
      break;
    case PROP_ALLOW_TAKEOVER:
      g_value_set_boolean(value, s.allow_takeover);
      break;
    case PROP_MAX_QUEUE_BYTES:
      g_value_set_uint64(value, s.max_queue_bytes);
      break;
    case PROP_MAX_QUEUE_TIME:
      g_value_set_uint64(value, s.max_queue_time);
      break;
    case PROP_PENDING_MEMORY:
      g_value_set_uint64(value, s.pending_memory);
      break;
    case PROP_LISTEN_BACKLOG:
      g_value_set_int(value, s.listen_backlog);
      break;
    case PROP_REUSE_PORT:
      g_value_set_boolean(value, s.reuse_port);
      break;
    case PROP_PROXY_PROTOCOL:
      g_value_set_boolean(value, s.proxy_protocol);
      break;
    case PROP_PROXY_TRUSTED_NETWORKS:
      g_value_set_string(value, s.proxy_trusted_networks.c_str());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

// Bad settings fail the state change with RESOURCE/SETTINGS (gst/error_map, as both elements).
static void settings_failure(GstRtmpIngestSrc* self, const std::string& text,
                             const std::string& debug) {
  gst_ertmp::post_bus_error(GST_ELEMENT(self), gst_ertmp::settings_error(), text, debug);
}

// The certificate the listener presents: the tls-certificate object, else the PEM files, else
// none (plain rtmp). False with `problem` (and `debug`) when the files do not load.
static bool load_certificate(const Settings& s, std::shared_ptr<GTlsCertificate>* cert,
                             std::string* problem, std::string* debug) {
  return gst_ertmp::load_listen_certificate(s.tls_certificate, s.tls_certificate_file,
                                            s.tls_key_file, cert, problem, debug);
}

// A TLS property set while the element listens: the listener presents the new certificate to
// new connections; live ones keep theirs. What does not load (a key file not updated yet, a
// half-written file) is a warning and the listener keeps the certificate it has.
static void reload_certificate(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  std::shared_ptr<gst_ertmp::IngestServer> server;
  {
    std::lock_guard<std::mutex> lock(p->state_mu);
    if (!p->state || !p->state->server || !p->state->tls) return;
    server = p->state->server;
  }
  Settings s = p->copy_settings();
  std::shared_ptr<GTlsCertificate> cert;
  std::string problem, debug;
  if (load_certificate(s, &cert, &problem, &debug) && !cert) {
    problem = "no certificate left (an rtmps listener stays rtmps)";
  }
  if (problem.empty() && !server->replace_certificate(cert.get(), &debug)) {
    problem = "the listener could not use the new certificate";
  }
  if (!problem.empty()) {
    GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS,
                        ("%s; the listener keeps its certificate", problem.c_str()),
                        ("%s", debug.c_str()));
    return;
  }
  GST_INFO_OBJECT(self, "new connections get the new TLS certificate");
}

static bool check_location(GstRtmpIngestSrc* self, const Settings& s, bool have_certificate) {
  const char* problem = nullptr;
  const char* hint = nullptr;
  if (!s.location_error.empty()) {
    settings_failure(self, "the location '" + s.location + "' does not parse", s.location_error);
    return false;
  }
  if (s.location_query) {
    problem = "has a query: a listener cannot require one";
    hint =
        "the stream key is the path's last part; check tokens in the publish-request signal "
        "(its `query` argument)";
  } else if (s.location_tls && !have_certificate) {
    problem = "is rtmps:// but no TLS certificate is set";
    hint = "set tls-certificate or tls-certificate-file (and tls-key-file)";
  } else if (s.location_credentials) {
    problem = "has credentials: a listener has none to check";
    hint = "check publishers in the publish-request signal";
  }
  if (problem) {
    settings_failure(self, "the location '" + s.location + "' " + problem, hint);
    return false;
  }
  return true;
}

static bool start(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  Settings s = p->copy_settings();
  std::shared_ptr<GTlsCertificate> cert;
  {
    std::string problem, debug;
    if (!load_certificate(s, &cert, &problem, &debug)) {
      settings_failure(self, problem, debug);
      return false;
    }
  }
  if (s.location_set && !check_location(self, s, cert != nullptr)) return false;
  if (s.port > 65535) {
    settings_failure(self, "invalid port " + std::to_string(s.port), "");
    return false;
  }
  auto state = std::make_unique<State>();
  if (!gst_ertmp::resolve_listen_address(GST_ELEMENT(self), s.address, &state->address)) {
    return false;
  }
  gst_ertmp::ServerSettings server_settings;
  server_settings.max_connections = s.max_connections;
  server_settings.limits.handshake_timeout_ms = uint64_t{s.handshake_timeout} * 1000;
  server_settings.limits.idle_timeout_ms = uint64_t{s.idle_timeout} * 1000;
  server_settings.pending_memory_budget = s.pending_memory;
  server_settings.backlog = s.listen_backlog;
  server_settings.reuse_port = s.reuse_port;
  server_settings.proxy_protocol = s.proxy_protocol;
  {
    std::string why;
    if (!gst_ertmp::parse_network_ranges(s.proxy_trusted_networks, &server_settings.proxy_trusted,
                                         &why)) {
      settings_failure(self, "invalid proxy-trusted-networks: " + why, "");
      return false;
    }
  }
  server_settings.certificate = cert.get();
  GError* err = nullptr;
  auto server = gst_ertmp::IngestServer::acquire(state->address, static_cast<guint16>(s.port),
                                                 server_settings, &err);
  if (!server && g_error_matches(err, G_IO_ERROR, gst_ertmp::kListenerMismatch)) {
    settings_failure(self,
                     "elements sharing " + state->address + ":" + std::to_string(s.port) +
                         " disagree about their listener",
                     err->message);
    g_clear_error(&err);
    return false;
  }
  if (!server) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Could not listen on %s:%u", state->address.c_str(), s.port),
                      ("%s", err ? err->message : "unknown error"));
    g_clear_error(&err);
    return false;
  }
  gst_ertmp::IngestPadTemplates templates{&video_template, &audio_template, &flv_template,
                                          GstRtmpIngestSrcPrivate::pad_query};
  gst_ertmp::IngestStream::Config stream_config;
  stream_config.flv_mode = s.output_mode == OUTPUT_FLV;
  stream_config.limits.max_bytes = s.max_queue_bytes;
  stream_config.limits.max_time = s.max_queue_time;
  state->stream = std::make_unique<gst_ertmp::IngestStream>(
      GST_ELEMENT(self), templates, stream_config,
      [p](GstStructure* message, const std::string& warning) {
        if (message) {
          p->post_structure(message);
        } else {
          std::string peer;
          {
            std::lock_guard<std::mutex> lock(p->publisher_mu);
            peer = p->publisher.peer;
          }
          p->on_peer_warning(peer, warning);
        }
      },
      [p, srv = server.get()] {
        // A pad task has room again: read the publisher's connection again. The server
        // outlives the pad tasks (stop() stops them before it lets the server go).
        if (uint64_t id = p->bound_connection.load()) srv->resume_reading(id);
      });
  state->server = server;
  state->bound_port = server->bound_port();
  state->tls = cert != nullptr;
  state->eos_on_disconnect = s.on_disconnect == ON_DISCONNECT_EOS;
  p->ended = false;
  p->bound_connection = 0;
  {
    std::lock_guard<std::mutex> lock(p->state_mu);
    p->state = std::move(state);
  }
  if (!server->add_route(s.application, s.stream_key, p, s.allow_takeover)) {
    GST_ELEMENT_ERROR(self, RESOURCE, BUSY,
                      ("Another rtmpingestsrc already serves application '%s' stream key '%s' "
                       "on port %u",
                       s.application.c_str(), s.stream_key.c_str(), server->bound_port()),
                      (nullptr));
    std::unique_ptr<State> dropped;
    std::lock_guard<std::mutex> lock(p->state_mu);
    dropped = std::move(p->state);
    return false;
  }
  g_object_notify(G_OBJECT(self), "bound-port");
  GST_INFO_OBJECT(self, "serving %s://%s:%u/%s/%s", cert ? "rtmps" : "rtmp",
                  p->state->address.c_str(), p->state->bound_port, s.application.c_str(),
                  s.stream_key.c_str());
  return true;
}

// Part one, before the pads are deactivated: no loop thread enters the element after this.
static void unroute(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  if (p->state && p->state->server) p->state->server->remove_route(p);
  p->bound_connection = 0;
}

// Part two: the pad tasks stop and the pads go, then the listener is let go (the last element
// of a shared listener closes it).
static void stop(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  std::unique_ptr<State> state;
  {
    std::lock_guard<std::mutex> lock(p->state_mu);
    state = std::move(p->state);
  }
  if (!state) return;
  if (state->stream) state->stream->stop();
  state.reset();
  std::lock_guard<std::mutex> lock(p->publisher_mu);
  p->publishing = false;
}

static GstStateChangeReturn gst_rtmp_ingest_src_change_state(GstElement* element,
                                                             GstStateChange transition) {
  auto* self = GST_RTMP_INGEST_SRC(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start(self)) {
    return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) unroute(self);
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_rtmp_ingest_src_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
      unroute(self);
      stop(self);
    }
    return ret;
  }
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;  // live source
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      stop(self);
      break;
    default:
      break;
  }
  return ret;
}

// --- URI handler ------------------------------------------------------------------------------

static GstURIType uri_get_type(GType) {
  return GST_URI_SRC;
}
static const gchar* const* uri_get_protocols(GType) {
  static const gchar* protocols[] = {"rtmp", "rtmps", nullptr};
  return protocols;
}
static void uri_handler_init(gpointer g_iface, gpointer) {
  gst_ertmp::init_location_uri_handler(g_iface, uri_get_type, uri_get_protocols);
}

static void gst_rtmp_ingest_src_class_init(GstRtmpIngestSrcClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_rtmp_ingest_src_set_property;
  gobject_class->get_property = gst_rtmp_ingest_src_get_property;
  gobject_class->finalize = gst_rtmp_ingest_src_finalize;
  element_class->change_state = gst_rtmp_ingest_src_change_state;

  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string(
          "location", "Location",
          "Listen URI rtmp[s]://ADDRESS[:PORT]/APPLICATION/STREAM-KEY (sets address, "
          "port, application and stream-key; ADDRESS may be a host name; checked "
          "at READY->PAUSED: no query, rtmps needs a certificate)",
          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address",
                          "Address to listen on (IPv4 or IPv6 literal, or a host name resolved at "
                          "READY->PAUSED)",
                          DEFAULT_ADDRESS, flags));
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_uint("port", "Port",
                        "TCP port to listen on (0 = any free port, see bound-port). Elements of "
                        "one process with the same address and port share the listener",
                        0, 65535, DEFAULT_PORT, flags));
  g_object_class_install_property(
      gobject_class, PROP_BOUND_PORT,
      g_param_spec_int("bound-port", "Bound port",
                       "The port actually listened on (-1 when not listening)", -1, 65535, -1,
                       static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_APPLICATION,
      g_param_spec_string("application", "Application",
                          "RTMP application this element serves (empty = any)", DEFAULT_APPLICATION,
                          flags));
  g_object_class_install_property(
      gobject_class, PROP_STREAM_KEY,
      g_param_spec_string("stream-key", "Stream key",
                          "Stream key this element accepts (empty = any); compared in constant "
                          "time; publishers with another key are refused with "
                          "NetStream.Publish.BadName",
                          DEFAULT_STREAM_KEY, flags));
  g_object_class_install_property(
      gobject_class, PROP_LATENCY,
      g_param_spec_uint64("latency", "Latency",
                          "Latency reported to the pipeline (ns): the network jitter tolerated by "
                          "sync=true live sinks",
                          0, G_MAXUINT64, DEFAULT_LATENCY, flags));
  g_object_class_install_property(
      gobject_class, PROP_ON_DISCONNECT,
      g_param_spec_enum("on-disconnect", "On disconnect", "What a publisher's disconnect does",
                        gst_rtmp_ingest_on_disconnect_get_type(), DEFAULT_ON_DISCONNECT, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Max connections",
                        "Connections accepted at once on the listener (a listener setting: "
                        "elements sharing a port must agree)",
                        1, 100000, DEFAULT_MAX_CONNECTIONS, flags));
  g_object_class_install_property(
      gobject_class, PROP_HANDSHAKE_TIMEOUT,
      g_param_spec_uint("handshake-timeout", "Handshake timeout",
                        "Seconds a peer has to complete the RTMP handshake (on an rtmps "
                        "port: the TLS and the RTMP handshake, counted from the connection; "
                        "0 = none; a listener setting)",
                        0, 3600, DEFAULT_HANDSHAKE_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_IDLE_TIMEOUT,
      g_param_spec_uint("idle-timeout", "Idle timeout",
                        "Seconds without any byte from a peer, or with a send to it blocked, "
                        "before it is dropped (0 = no idle limit; sends then give up after 30 s; "
                        "a listener setting). Not counted while reading is paused by a full pad "
                        "queue",
                        0, 3600, DEFAULT_IDLE_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_OUTPUT_MODE,
      g_param_spec_enum("output-mode", "Output mode",
                        "elementary: a pad per track with codec caps; flv: one video/x-flv pad, "
                        "so rtmpingestsrc ! flvdemux replaces rtmp2src ! flvdemux",
                        gst_rtmp_ingest_output_mode_get_type(), DEFAULT_OUTPUT_MODE, flags));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_object("tls-certificate", "TLS certificate",
                          "Certificate with its private key: the port then speaks TLS only "
                          "(rtmps). Takes precedence over tls-certificate-file. Elements sharing "
                          "a port must use the same certificate (or none)",
                          G_TYPE_TLS_CERTIFICATE, flags));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE_FILE,
      g_param_spec_string("tls-certificate-file", "TLS certificate file",
                          "PEM file with the certificate (chain), and its private key unless "
                          "tls-key-file is set: the port then speaks TLS only (rtmps)",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_TLS_KEY_FILE,
      g_param_spec_string("tls-key-file", "TLS key file",
                          "PEM file with the private key of tls-certificate-file (optional when "
                          "the key is in the certificate file)",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_ALLOW_TAKEOVER,
      g_param_spec_boolean("allow-takeover", "Allow takeover",
                           "A new publisher of the stream while one is live replaces it once "
                           "publish-request accepted it (the old connection is closed, the pads "
                           "continue without EOS); when false the new one is refused with "
                           "NetStream.Publish.BadName",
                           DEFAULT_ALLOW_TAKEOVER, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUE_BYTES,
      g_param_spec_uint64("max-queue-bytes", "Max queue bytes",
                          "Bytes each pad may hold before its task pushed them (0 = no limit). "
                          "Past it the element stops reading the publisher's connection until "
                          "the pad has drained to half (TCP back-pressure on that publisher only)",
                          0, G_MAXUINT64, DEFAULT_MAX_QUEUE_BYTES, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUE_TIME,
      g_param_spec_uint64("max-queue-time", "Max queue time",
                          "Media time (ns, DTS span) each pad may hold before its task pushed it "
                          "(0 = no limit); as max-queue-bytes",
                          0, G_MAXUINT64, DEFAULT_MAX_QUEUE_TIME, flags));
  g_object_class_install_property(
      gobject_class, PROP_PENDING_MEMORY,
      g_param_spec_uint64("pending-memory", "Pending memory",
                          "Memory budget (bytes) of the connections that are not publishing yet "
                          "(each is charged its worst case, ~192 KiB); past it new connections "
                          "are refused (a listener setting)",
                          0, G_MAXUINT64, DEFAULT_PENDING_MEMORY, flags));
  g_object_class_install_property(
      gobject_class, PROP_LISTEN_BACKLOG,
      g_param_spec_int("listen-backlog", "Listen backlog",
                       "Connections the kernel queues before they are accepted (capped by "
                       "net.core.somaxconn; a listener setting)",
                       1, 65535, DEFAULT_LISTEN_BACKLOG, flags));
  g_object_class_install_property(
      gobject_class, PROP_REUSE_PORT,
      g_param_spec_boolean("reuse-port", "Reuse port",
                           "SO_REUSEPORT: several processes listen on the same port and the "
                           "kernel spreads connections among them (off: a port in use is an "
                           "error; a listener setting)",
                           DEFAULT_REUSE_PORT, flags));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "publishing, peer, application, stream-key, bytes (received from "
                         "the publisher), bitrate (bits/s over the last 5 s), uptime (ns), "
                         "reading-paused (a full pad queue holds the publisher), "
                         "<pad>-frames / <pad>-bytes / <pad>-queued-bytes per track, and "
                         "connections: a GValueArray with one structure per connection of the "
                         "listener (id, peer, state, application, stream-key, flash-ver, "
                         "bytes-in, bytes-out, bitrate, uptime, warnings, reading-paused)",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  g_object_class_install_property(
      gobject_class, PROP_PROXY_PROTOCOL,
      g_param_spec_boolean(
          "proxy-protocol", "PROXY protocol",
          "Every connection must start with a PROXY protocol header, version 1 or 2 (HAProxy "
          "send-proxy / send-proxy-v2, cloud TCP load balancers): the client address it carries "
          "is the publisher's peer in stats, bus messages and publish-request. Connections "
          "without one are refused (a listener setting)",
          DEFAULT_PROXY_PROTOCOL, flags));
  g_object_class_install_property(
      gobject_class, PROP_PROXY_TRUSTED_NETWORKS,
      g_param_spec_string(
          "proxy-trusted-networks", "PROXY trusted networks",
          "With proxy-protocol: the load balancers' addresses, comma-separated, each an IPv4 or "
          "IPv6 address with an optional prefix length (\"10.0.0.0/8,127.0.0.1\"); a "
          "connection from anywhere else is refused. Empty: any address may send the header "
          "(only where nothing but the balancer can reach the port). A listener setting",
          "", flags));

  signals[SIGNAL_PUBLISH_REQUEST] =
      g_signal_new("publish-request", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                   g_signal_accumulator_first_wins, nullptr, nullptr, G_TYPE_BOOLEAN, 5,
                   G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  // Action: asks the current publisher to reconnect (E-RTMP reconnect request, to `tc-url` or,
  // when NULL/empty, to the same URL), e.g. to drain this node; TRUE when a publisher was
  // asked. Publishers without E-RTMP ignore it.
  signals[SIGNAL_REQUEST_RECONNECT] =
      g_signal_new_class_handler("request-reconnect", G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(gst_rtmp_ingest_src_request_reconnect), nullptr,
                                 nullptr, nullptr, G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_STRING);
  // Action: closes the current publisher's connection (then as on-disconnect says); TRUE when
  // there was one.
  signals[SIGNAL_DISCONNECT_PUBLISHER] =
      g_signal_new_class_handler("disconnect-publisher", G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(gst_rtmp_ingest_src_disconnect_publisher), nullptr,
                                 nullptr, nullptr, G_TYPE_BOOLEAN, 0);

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_add_static_pad_template(element_class, &flv_template);
  gst_element_class_set_static_metadata(
      element_class, "RTMP ingest source", "Source/Network",
      "RTMP/Enhanced RTMP server: publishers (OBS, ffmpeg, encoders) push into the pipeline; "
      "one pad per track with elementary-stream caps",
      "gst-ertmp developers");
  GST_DEBUG_CATEGORY_INIT(rtmp_ingest_src_debug, "rtmpingestsrc", 0, "RTMP ingest source");
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_on_disconnect_get_type(),
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_output_mode_get_type(),
                              static_cast<GstPluginAPIFlags>(0));
}
