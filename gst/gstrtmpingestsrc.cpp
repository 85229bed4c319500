// rtmpingestsrc: RTMP/E-RTMP publishers (OBS, ffmpeg, encoders) push straight into the pipeline
// (mode=listener, the default); or, with mode=caller, it plays a stream from a server, as
// rtmp2src does, onto the same pads.
//
// Rooms: this file is the GObject shell (properties in a Settings struct, a State built at
// READY->PAUSED and dropped at PAUSED->READY, the publish-request signal, bus messages). The
// listener and connections are gst/ingest_server (served by the shared I/O loops of
// gst/io_loop); the caller is gst/pull_client (a thread per element over gst/pull_connection);
// what a publisher's (or the played stream's) messages become on the pads is gst/ingest_stream;
// each pad streams from its own task out of a bounded queue (gst/pad_stream).
//
// Threads: publisher callbacks come from an I/O loop thread and never block: media goes into
// the pads' queues, bus messages go through BusPoster. The publish decision (the application's
// publish-request handler) runs on a thread of its own. State changes: READY->PAUSED resolves
// and validates the settings, binds (or shares) the listener and routes the application/key
// (caller mode: starts the puller thread, or at PAUSED->PLAYING with async-connect=false);
// PAUSED->READY unroutes first (or stops the puller: no thread enters the element after that),
// then stops the pad tasks and removes the pads.
#include "gst/gstrtmpingestsrc.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "gst/error_map.h"
#include "gst/ingest_server.h"
#include "gst/ingest_stream.h"
#include "gst/location_uri.h"
#include "gst/pull_client.h"
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
  // caller mode: rtmp2src's properties, GstBaseSrc's, and the reconnect policy
  PROP_MODE,
  PROP_SCHEME,
  PROP_HOST,
  PROP_STREAM,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_AUTHMOD,
  PROP_SECURE_TOKEN,
  PROP_FLASH_VERSION,
  PROP_TIMEOUT,
  PROP_TLS_VALIDATION_FLAGS,
  PROP_ASYNC_CONNECT,
  PROP_RECONNECT_ATTEMPTS,
  PROP_RECONNECT_DELAY,
  PROP_BLOCKSIZE,
  PROP_NUM_BUFFERS,
  PROP_TYPEFIND,
  PROP_DO_TIMESTAMP,
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
// Caller mode (rtmp2src 1.22's defaults; docs/rtmpingestsrc.md shows the differences).
#define DEFAULT_MODE MODE_LISTENER
#define DEFAULT_CALLER_LOCATION "rtmp://localhost/live/myStream"
#define DEFAULT_CALLER_IDLE_TIMEOUT 0
#define DEFAULT_AUTHMOD AUTHMOD_AUTO
#define DEFAULT_FLASH_VERSION "LNX 10,0,32,18"
#define DEFAULT_TIMEOUT 5
#define DEFAULT_TLS_VALIDATION_FLAGS G_TLS_CERTIFICATE_VALIDATE_ALL
#define DEFAULT_ASYNC_CONNECT TRUE
#define DEFAULT_RECONNECT_ATTEMPTS (-1)
#define DEFAULT_RECONNECT_DELAY 1000
#define DEFAULT_BLOCKSIZE 4096
#define DEFAULT_NUM_BUFFERS (-1)
#define DEFAULT_PROXY_PROTOCOL FALSE

typedef enum { ON_DISCONNECT_EOS = 0, ON_DISCONNECT_WAIT = 1 } GstRtmpIngestOnDisconnect;
typedef enum { OUTPUT_ELEMENTARY = 0, OUTPUT_FLV = 1 } GstRtmpIngestOutputMode;
#define DEFAULT_OUTPUT_MODE OUTPUT_ELEMENTARY

static GType register_enum_once(gsize* once, const char* name, const GEnumValue* values) {
  if (g_once_init_enter(once)) g_once_init_leave(once, g_enum_register_static(name, values));
  return *once;
}

static GType gst_rtmp_ingest_output_mode_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {OUTPUT_ELEMENTARY, "One pad per track with elementary-stream caps", "elementary"},
      {OUTPUT_FLV, "One 'src' pad of video/x-flv (drop-in for rtmp2src ! flvdemux)", "flv"},
      {0, nullptr, nullptr}};
  return register_enum_once(&type, "GstRtmpIngestOutputMode", values);
}

static GType gst_rtmp_ingest_on_disconnect_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {ON_DISCONNECT_EOS, "Send EOS so recordings finalize", "eos"},
      {ON_DISCONNECT_WAIT, "Keep the pads and wait for a republish that continues them", "wait"},
      {0, nullptr, nullptr}};
  return register_enum_once(&type, "GstRtmpIngestOnDisconnect", values);
}

// srtsrc's `mode` nicks and numbers (GstSRTConnectionMode: caller 1, listener 2).
typedef enum { MODE_CALLER = 1, MODE_LISTENER = 2 } GstRtmpIngestMode;
// rtmp2's enum values and nicks, under our own type names (two plugins cannot register one
// GType name in a process).
enum { SCHEME_RTMP = 0, SCHEME_RTMPS = 1 };
enum { AUTHMOD_NONE = 0, AUTHMOD_AUTO = 1, AUTHMOD_ADOBE = 2 };

static GType gst_rtmp_ingest_mode_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {MODE_CALLER, "Connect to a server and play the stream (as rtmp2src)", "caller"},
      {MODE_LISTENER, "Serve publishers (an RTMP server)", "listener"},
      {0, nullptr, nullptr}};
  return register_enum_once(&type, "GstRtmpIngestMode", values);
}

static GType gst_rtmp_ingest_scheme_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {{SCHEME_RTMP, "GST_RTMP_SCHEME_RTMP", "rtmp"},
                                      {SCHEME_RTMPS, "GST_RTMP_SCHEME_RTMPS", "rtmps"},
                                      {0, nullptr, nullptr}};
  return register_enum_once(&type, "GstRtmpIngestScheme", values);
}

static GType gst_rtmp_ingest_authmod_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {{AUTHMOD_NONE, "GST_RTMP_AUTHMOD_NONE", "none"},
                                      {AUTHMOD_AUTO, "GST_RTMP_AUTHMOD_AUTO", "auto"},
                                      {AUTHMOD_ADOBE, "GST_RTMP_AUTHMOD_ADOBE", "adobe"},
                                      {0, nullptr, nullptr}};
  return register_enum_once(&type, "GstRtmpIngestAuthmod", values);
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

  int mode = DEFAULT_MODE;
  // Caller mode's view of the shared properties (location, port, application, idle-timeout)
  // with rtmp2src's defaults: setting one of those sets both views, and the getters read the
  // view of the current mode, so `location=... mode=caller` works in either order.
  struct Caller {
    rtmp::Url url;  // host, port, application, stream (with its query), scheme, credentials
    std::string bad_location;  // the last location that did not parse as a server URL, and why
    std::string location_error;
    guint idle_timeout = DEFAULT_CALLER_IDLE_TIMEOUT;
    std::string secure_token;
    int authmod = DEFAULT_AUTHMOD;
    std::string flash_version = DEFAULT_FLASH_VERSION;
    guint timeout = DEFAULT_TIMEOUT;
    GTlsCertificateFlags tls_validation_flags = DEFAULT_TLS_VALIDATION_FLAGS;
    bool async_connect = DEFAULT_ASYNC_CONNECT;
    int reconnect_attempts = DEFAULT_RECONNECT_ATTEMPTS;
    guint reconnect_delay = DEFAULT_RECONNECT_DELAY;
    // GstBaseSrc's (see the property blurbs for what each means here).
    guint blocksize = DEFAULT_BLOCKSIZE;
    gint num_buffers = DEFAULT_NUM_BUFFERS;
    bool typefind = false;
    bool do_timestamp = false;
  } caller;
  bool proxy_protocol = DEFAULT_PROXY_PROTOCOL;
  std::string proxy_trusted_networks;  // checked at start()
};

std::shared_ptr<GTlsCertificate> adopt_certificate(GTlsCertificate* cert) {
  if (!cert) return nullptr;
  return std::shared_ptr<GTlsCertificate>(cert, [](GTlsCertificate* c) { g_object_unref(c); });
}

// What exists between READY->PAUSED and PAUSED->READY.
struct State {
  std::shared_ptr<gst_ertmp::IngestServer> server;  // listener mode
  std::unique_ptr<gst_ertmp::PullClient> puller;    // caller mode
  bool puller_started = false;
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

struct GstRtmpIngestSrcPrivate final : gst_ertmp::IngestRoute, gst_ertmp::PullListener {
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
  std::string last_lost;  // caller mode: why the played stream was lost last (publisher_mu)
  std::atomic<bool> ended{false};  // EOS sent: later publishers are refused until READY

  // Caller mode with output-mode=flv: rtmp2src's always `src` pad, the element's from the
  // moment both are set (sync_flv_pad); the FLV stream pushes through it.
  GstPad* flv_src = nullptr;
  // Caller mode, elementary output: when to tell uridecodebin/playbin no more pads will come.
  struct PadsExpected {
    std::mutex mu;
    bool active = false;  // this run emits no-more-pads
    bool emitted = false;
    bool known = false;  // onMetaData said which kinds to expect
    bool want_video = false, want_audio = false;
    bool have_video = false, have_audio = false;
    gint64 first_pad_us = 0;
  } pads_expected;
  // Without an onMetaData that names the tracks: no-more-pads this long after the first pad
  // when only one kind came (flvdemux waits 6 s of stream time for the same decision).
  static constexpr gint64 kPadsSettleUs = 2 * G_USEC_PER_SEC;

  GstElement* element() { return GST_ELEMENT(self); }

  bool caller_mode_now() {
    GST_OBJECT_LOCK(self);
    bool caller = settings.mode == MODE_CALLER;
    GST_OBJECT_UNLOCK(self);
    return caller;
  }

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
    const bool caller = caller_mode_now();  // the object lock, never under state_mu
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
    if (state && state->puller) {
      paused = state->puller->reading_paused();
      state->puller->fill_stats(s);
      gst_structure_get_uint64(s, "in-bytes-total", &bytes);  // what the server sent
      bitrate = state->puller->bitrate();
    } else if (caller) {
      gst_ertmp::fill_pull_stats(s, rtmp::ClientStats{0, 0, 0, 0, 0, 0, 0, 0}, 0, "");
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

  // --- PullListener: caller mode, on the puller thread ------------------------------------------

  void on_playing(const std::string& server, const std::string& fms_ver) override {
    gst_ertmp::PublisherInfo info;
    info.peer = server;
    info.flash_ver = fms_ver;
    GST_OBJECT_LOCK(self);
    info.app = settings.caller.url.app;
    info.stream = settings.caller.url.stream;
    info.tc_url = settings.caller.url.tc_url();
    GST_OBJECT_UNLOCK(self);
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      publisher = info;
      publishing = true;
      publish_started_us = g_get_monotonic_time();
    }
    GST_INFO_OBJECT(self, "playing %s/%s from %s ('%s')", info.app.c_str(), info.stream.c_str(),
                    server.c_str(), fms_ver.c_str());
    // The same message as a publish: `peer` is the server, `encoder` its fmsVer.
    post_structure(gst_structure_new("rtmpingestsrc-publisher-connected", "peer", G_TYPE_STRING,
                                     server.c_str(), "application", G_TYPE_STRING, info.app.c_str(),
                                     "stream-key", G_TYPE_STRING, info.stream.c_str(), "encoder",
                                     G_TYPE_STRING, fms_ver.c_str(), nullptr));
  }

  void on_stream_lost(bool clean, const std::string& why) override {
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      peer = publisher.peer;
      publishing = false;
      last_lost = why;
    }
    post_structure(gst_structure_new("rtmpingestsrc-publisher-disconnected", "peer", G_TYPE_STRING,
                                     peer.c_str(), "clean", G_TYPE_BOOLEAN, clean, "replaced",
                                     G_TYPE_BOOLEAN, FALSE, "reason", G_TYPE_STRING, why.c_str(),
                                     nullptr));
  }

  void on_reconnecting(unsigned attempt, guint delay_ms, const std::string& why) override {
    GST_INFO_OBJECT(self, "reconnecting (attempt %u, in %u ms): %s", attempt, delay_ms,
                    why.c_str());
    post_structure(gst_structure_new("rtmpingestsrc-reconnecting", "attempt", G_TYPE_UINT, attempt,
                                     "delay-ms", G_TYPE_UINT, delay_ms, "reason", G_TYPE_STRING,
                                     why.c_str(), nullptr));
  }

  void on_metadata(const rtmp::amf::Value& m) override {
    {
      std::lock_guard<std::mutex> lock(pads_expected.mu);
      auto& e = pads_expected;
      e.known = true;
      e.want_video = m.get("videocodecid") || m.get("width");
      e.want_audio = m.get("audiocodecid") || m.get("audiosamplerate");
    }
    maybe_no_more_pads();
  }

  void on_warning(const std::string& what) override {
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      peer = publisher.peer;
    }
    on_peer_warning(peer, what);
  }

  void on_failed(const gst_ertmp::PullFailure& f, bool connecting) override {
    gst_ertmp::BusError e = connecting ? gst_ertmp::connect_error(f.domain, f.code)
                                       : gst_ertmp::connection_error(false);
    GST_OBJECT_LOCK(self);
    std::string location = settings.caller.url.to_string();
    GST_OBJECT_UNLOCK(self);
    std::string text = std::string(e.what) + ": " + f.message;
    std::string debug = "location " + location;
    if (!f.status_code.empty()) debug += ", status " + f.status_code;
    GError* err = g_error_new_literal(e.domain, e.code, text.c_str());
    // From the puller thread through BusPoster: a sync handler that stops the element (which
    // joins this thread) never runs on it.
    gst_ertmp::BusPoster::instance().post(
        element(), gst_message_new_error(GST_OBJECT(self), err, debug.c_str()));
    g_error_free(err);
  }

  void on_progress() override { maybe_no_more_pads(); }

  void on_ended() override {
    ended = true;
    const bool eos = state->stream->end_of_stream();
    GST_INFO_OBJECT(self, "the played stream is over (%s)", eos ? "EOS" : "no pad for an EOS");
    if (eos) return;
    // No pad to carry the EOS: the application would wait for ever. As flvdemux does when its
    // input ends before any data, an error.
    post_structure(gst_structure_new_empty("rtmpingestsrc-eos"));
    std::string debug;
    {
      std::lock_guard<std::mutex> lock(publisher_mu);
      debug = "the stream ended before any media (" + last_lost + ")";
    }
    GError* err = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
                                      "The played stream ended before any media");
    gst_ertmp::BusPoster::instance().post(
        element(), gst_message_new_error(GST_OBJECT(self), err, debug.c_str()));
    g_error_free(err);
  }

  // A pad was added (pad-added's class handler, on the pad's task) or onMetaData came, or time
  // passed: once every track the stream has has its pad, say so (uridecodebin and playbin
  // wait for it before they link anything).
  void maybe_no_more_pads(GstPad* added = nullptr) {
    auto& e = pads_expected;
    {
      std::lock_guard<std::mutex> lock(e.mu);
      if (!e.active || e.emitted) return;
      if (added) {
        if (g_str_has_prefix(GST_PAD_NAME(added), "video_")) e.have_video = true;
        if (g_str_has_prefix(GST_PAD_NAME(added), "audio_")) e.have_audio = true;
        if (!e.first_pad_us) e.first_pad_us = g_get_monotonic_time();
      }
      const bool any = e.have_video || e.have_audio;
      const bool all =
          e.known ? any && (!e.want_video || e.have_video) && (!e.want_audio || e.have_audio)
                  : e.have_video && e.have_audio;
      const bool settled =
          e.first_pad_us && g_get_monotonic_time() - e.first_pad_us > kPadsSettleUs;
      if (!all && !settled) return;
      e.emitted = true;
    }
    GST_INFO_OBJECT(self, "no more pads");
    gst_element_no_more_pads(element());
  }
};

// `location` as a server to play from (caller mode): the URL, or why it does not parse
// (READY->PAUSED then fails with it).
static void parse_caller_location(Settings::Caller* c, const std::string& location) {
  auto url = rtmp::parse_url(location, rtmp::UrlRole::kConnect);
  if (!url.ok()) {
    c->bad_location = location.empty() ? "(empty)" : location;
    c->location_error = url.error().to_string();
    return;
  }
  c->url = *url;
  c->bad_location.clear();
  c->location_error.clear();
}

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
  parse_caller_location(&self->priv->settings.caller, DEFAULT_CALLER_LOCATION);
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

static bool caller_mode(const Settings& s) {
  return s.mode == MODE_CALLER;
}

static void pad_activated_by_nobody(GstPad* pad) {
  gst_pad_set_activatemode_function(pad, nullptr);
  gst_pad_set_element_private(pad, nullptr);
}

// Caller mode with output-mode=flv has rtmp2src's always `src` pad, from the moment both are
// set: a launch line, gst_element_link() or gst_element_get_static_pad() find it before any
// data, as rtmp2src's. Every other combination adds its pads as tracks appear. NULL or READY
// only (properties are not changed later), outside the object lock.
static void sync_flv_pad(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  GST_OBJECT_LOCK(self);
  const bool want = caller_mode(p->settings) && p->settings.output_mode == OUTPUT_FLV;
  GST_OBJECT_UNLOCK(self);
  if (want == (p->flv_src != nullptr)) return;
  if (want) {
    GstPad* pad = gst_pad_new_from_static_template(&flv_template, "src");
    gst_pad_set_query_function(pad, GstRtmpIngestSrcPrivate::pad_query);
    gst_pad_use_fixed_caps(pad);
    p->flv_src = pad;
    gst_element_add_pad(GST_ELEMENT(self), pad);
  } else {
    gst_element_remove_pad(GST_ELEMENT(self), p->flv_src);
    p->flv_src = nullptr;
  }
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
  Settings::Caller& c = s.caller;
  switch (prop_id) {
    case PROP_LOCATION:
      // Both views: the mode may be set after the location (a launch line's order).
      parse_location(&s, str(""));
      s.location_set = g_value_get_string(value) != nullptr;
      if (s.location_set) parse_caller_location(&c, str(""));
      break;
    case PROP_ADDRESS:
      s.address = str(DEFAULT_ADDRESS);
      s.location_set = false;
      break;
    case PROP_PORT:
      s.port = static_cast<guint>(g_value_get_int(value));
      c.url.port = static_cast<uint16_t>(g_value_get_int(value));
      c.url.port_explicit = true;
      s.location_set = false;
      break;
    case PROP_APPLICATION:
      s.application = str("");
      c.url.app = str("");
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
      c.idle_timeout = g_value_get_uint(value);
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
    // --- caller mode ---
    case PROP_MODE:
      s.mode = g_value_get_enum(value);
      break;
    case PROP_SCHEME: {
      const bool rtmps = g_value_get_enum(value) == SCHEME_RTMPS;
      if (!c.url.port_explicit) c.url.port = rtmps ? 443 : 1935;
      c.url.scheme = rtmps ? "rtmps" : "rtmp";
      break;
    }
    case PROP_HOST:
      c.url.host = str("");
      break;
    case PROP_STREAM:
      c.url.stream = str("");
      break;
    case PROP_USERNAME:
      c.url.username = str("");
      break;
    case PROP_PASSWORD:
      c.url.password = str("");
      break;
    case PROP_AUTHMOD:
      c.authmod = g_value_get_enum(value);
      break;
    case PROP_SECURE_TOKEN:
      c.secure_token = str("");
      break;
    case PROP_FLASH_VERSION:
      c.flash_version = str("");
      break;
    case PROP_TIMEOUT:
      c.timeout = g_value_get_uint(value);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      c.tls_validation_flags = static_cast<GTlsCertificateFlags>(g_value_get_flags(value));
      break;
    case PROP_ASYNC_CONNECT:
      c.async_connect = g_value_get_boolean(value);
      break;
    case PROP_RECONNECT_ATTEMPTS:
      c.reconnect_attempts = g_value_get_int(value);
      break;
    case PROP_RECONNECT_DELAY:
      c.reconnect_delay = g_value_get_uint(value);
      break;
    case PROP_BLOCKSIZE:
      c.blocksize = g_value_get_uint(value);
      break;
    case PROP_NUM_BUFFERS:
      c.num_buffers = g_value_get_int(value);
      break;
    case PROP_TYPEFIND:
      c.typefind = g_value_get_boolean(value);
      break;
    case PROP_DO_TIMESTAMP:
      c.do_timestamp = g_value_get_boolean(value);
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
  if (prop_id == PROP_MODE || prop_id == PROP_OUTPUT_MODE) sync_flv_pad(self);
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
  // rtmp2src gives NULL for an unset string.
  auto set_str = [value](const std::string& v) {
    g_value_set_string(value, v.empty() ? nullptr : v.c_str());
  };
  GST_OBJECT_LOCK(self);
  const Settings& s = p->settings;
  const Settings::Caller& c = s.caller;
  const bool caller = caller_mode(s);
  switch (prop_id) {
    case PROP_LOCATION: {
      if (caller) {
        g_value_set_string(
            value, c.bad_location.empty() ? c.url.to_string().c_str() : c.bad_location.c_str());
        break;
      }
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
      g_value_set_int(value, caller ? c.url.port : static_cast<int>(s.port));
      break;
    case PROP_APPLICATION:
      if (caller) {
        set_str(c.url.app);
      } else {
        g_value_set_string(value, s.application.c_str());
      }
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
      g_value_set_uint(value, caller ? c.idle_timeout : s.idle_timeout);
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
    // --- caller mode ---
    case PROP_MODE:
      g_value_set_enum(value, s.mode);
      break;
    case PROP_SCHEME:
      g_value_set_enum(value, c.url.tls() ? SCHEME_RTMPS : SCHEME_RTMP);
      break;
    case PROP_HOST:
      set_str(c.url.host);
      break;
    case PROP_STREAM:
      set_str(c.url.stream);
      break;
    case PROP_USERNAME:
      set_str(c.url.username);
      break;
    case PROP_PASSWORD:
      set_str(c.url.password);
      break;
    case PROP_AUTHMOD:
      g_value_set_enum(value, c.authmod);
      break;
    case PROP_SECURE_TOKEN:
      set_str(c.secure_token);
      break;
    case PROP_FLASH_VERSION:
      set_str(c.flash_version);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, c.timeout);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      g_value_set_flags(value, c.tls_validation_flags);
      break;
    case PROP_ASYNC_CONNECT:
      g_value_set_boolean(value, c.async_connect);
      break;
    case PROP_RECONNECT_ATTEMPTS:
      g_value_set_int(value, c.reconnect_attempts);
      break;
    case PROP_RECONNECT_DELAY:
      g_value_set_uint(value, c.reconnect_delay);
      break;
    case PROP_BLOCKSIZE:
      g_value_set_uint(value, c.blocksize);
      break;
    case PROP_NUM_BUFFERS:
      g_value_set_int(value, c.num_buffers);
      break;
    case PROP_TYPEFIND:
      g_value_set_boolean(value, c.typefind);
      break;
    case PROP_DO_TIMESTAMP:
      g_value_set_boolean(value, c.do_timestamp);
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

// The pads' side of a run, the same in both modes: `flv_pad` is caller mode's always `src` (or
// null), `on_room` resumes reading after a pad queue was full.
static std::unique_ptr<gst_ertmp::IngestStream> make_stream(GstRtmpIngestSrc* self,
                                                            const Settings& s, GstPad* flv_pad,
                                                            std::function<void()> on_room) {
  auto* p = self->priv;
  gst_ertmp::IngestPadTemplates templates{&video_template, &audio_template, &flv_template,
                                          GstRtmpIngestSrcPrivate::pad_query};
  gst_ertmp::IngestStream::Config stream_config;
  stream_config.flv_mode = s.output_mode == OUTPUT_FLV;
  stream_config.limits.max_bytes = s.max_queue_bytes;
  stream_config.limits.max_time = s.max_queue_time;
  stream_config.flv_pad = stream_config.flv_mode ? flv_pad : nullptr;
  return std::make_unique<gst_ertmp::IngestStream>(
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
      std::move(on_room));
}

static bool start_listener(GstRtmpIngestSrc* self, const Settings& s) {
  auto* p = self->priv;
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
  state->stream = make_stream(self, s, nullptr, [p, srv = server.get()] {
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

// --- caller mode ------------------------------------------------------------------------------

// What the puller needs from the settings.
static gst_ertmp::PullSettings pull_settings(const Settings& s) {
  const Settings::Caller& c = s.caller;
  gst_ertmp::PullSettings ps;
  rtmp::ClientConfig& cc = ps.target.config;
  cc.role = rtmp::ClientRole::kPlay;
  cc.url = c.url;
  cc.flash_ver = c.flash_version;
  cc.username = c.url.username;
  cc.password = c.url.password;
  cc.secure_token = c.secure_token;
  // Everything we can take: E-RTMP servers (node-media-server, SRS 6) send HEVC, AV1, VP9,
  // Opus, multitrack only to players that say so.
  cc.capabilities = rtmp::default_server_capabilities();
  ps.target.auth = static_cast<gst_ertmp::AuthMode>(c.authmod);
  ps.target.timeout_s = c.timeout;
  ps.target.tls_validation_flags = c.tls_validation_flags;
  ps.reconnect = s.on_disconnect == ON_DISCONNECT_WAIT;
  ps.reconnect_attempts = c.reconnect_attempts;
  ps.reconnect_delay_ms = c.reconnect_delay;
  ps.idle_timeout_s = c.idle_timeout;
  ps.num_buffers = c.num_buffers;
  ps.flv_mode = s.output_mode == OUTPUT_FLV;
  return ps;
}

// READY->PAUSED in caller mode: the settings checked, the pads' side and the puller built; the
// puller starts now (async-connect) or at PAUSED->PLAYING. The state change never waits for
// the server.
static bool start_caller(GstRtmpIngestSrc* self, const Settings& s) {
  auto* p = self->priv;
  const Settings::Caller& c = s.caller;
  std::string problem;
  if (!c.bad_location.empty()) {
    problem = "the location '" + c.bad_location + "' is not a server URL: " + c.location_error;
  } else if (c.url.host.empty()) {
    problem = "no host to play from";
  } else if (c.url.port == 0) {
    problem = "port 0 is not a server port";
  } else if (c.url.stream.empty()) {
    problem = "no stream to play in " + c.url.to_string();
  }
  if (!problem.empty()) {
    settings_failure(self, problem, "mode=caller");
    return false;
  }
  auto state = std::make_unique<State>();
  State* raw = state.get();
  // A pad task has room again: the puller reads again (it exists before any media flows and
  // is stopped before the stream).
  state->stream = make_stream(self, s, p->flv_src, [raw] { raw->puller->resume(); });
  state->puller = std::make_unique<gst_ertmp::PullClient>(pull_settings(s), state->stream.get(), p);
  state->eos_on_disconnect = s.on_disconnect == ON_DISCONNECT_EOS;
  p->ended = false;
  {
    auto& e = p->pads_expected;
    std::lock_guard<std::mutex> lock(e.mu);
    e.active = s.output_mode != OUTPUT_FLV;
    e.emitted = e.known = e.want_video = e.want_audio = e.have_video = e.have_audio = false;
    e.first_pad_us = 0;
  }
  {
    std::lock_guard<std::mutex> lock(p->state_mu);
    p->state = std::move(state);
  }
  if (c.async_connect) {
    p->state->puller_started = true;
    p->state->puller->start();
  }
  GST_INFO_OBJECT(self, "playing %s%s", c.url.to_string().c_str(),
                  c.async_connect ? "" : " from PAUSED->PLAYING on");
  return true;
}

static bool start(GstRtmpIngestSrc* self) {
  Settings s = self->priv->copy_settings();
  return caller_mode(s) ? start_caller(self, s) : start_listener(self, s);
}

// Part one, before the pads are deactivated: no loop thread (nor the puller) enters the element
// after this.
static void unroute(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  if (p->state && p->state->server) p->state->server->remove_route(p);
  if (p->state && p->state->puller) p->state->puller->stop();
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
  // The always `src` pad stays the element's; the stream that drove it is gone.
  if (p->flv_src) pad_activated_by_nobody(p->flv_src);
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
  if (transition == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    // Caller mode with async-connect=false connects now (rtmp2src: "on first push").
    auto* p = self->priv;
    std::lock_guard<std::mutex> lock(p->state_mu);
    if (p->state && p->state->puller && !p->state->puller_started) {
      p->state->puller_started = true;
      p->state->puller->start();
    }
  }
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
// A URI selects the mode: uridecodebin and playbin hand a fresh element the URI to play, so
// rtmp[s]://HOST/... plays from HOST (caller); only a wildcard address, which nobody plays from,
// means listening on it (rtmp://0.0.0.0:1935/live/key, rtmp://[::]:1935/live/key).
static gboolean uri_set_uri(GstURIHandler* handler, const gchar* uri, GError** error) {
  auto url = rtmp::parse_url(uri ? uri : "", rtmp::UrlRole::kListen);
  const bool listen = url.ok() && (url->host == "0.0.0.0" || url->host == "::");
  if (!listen) url = rtmp::parse_url(uri ? uri : "", rtmp::UrlRole::kConnect);
  if (!url.ok()) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "Invalid RTMP URI '%s': %s", uri,
                url.error().to_string().c_str());
    return FALSE;
  }
  g_object_set(handler, "mode", listen ? MODE_LISTENER : MODE_CALLER, "location", uri, nullptr);
  return TRUE;
}

static void uri_handler_init(gpointer g_iface, gpointer) {
  gst_ertmp::init_location_uri_handler(g_iface, uri_get_type, uri_get_protocols);
  static_cast<GstURIHandlerInterface*>(g_iface)->set_uri = uri_set_uri;
}

// pad-added's class handler: caller mode decides no-more-pads on it.
static void gst_rtmp_ingest_src_pad_added(GstElement* element, GstPad* pad) {
  GST_RTMP_INGEST_SRC(element)->priv->maybe_no_more_pads(pad);
}

static void gst_rtmp_ingest_src_class_init(GstRtmpIngestSrcClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_rtmp_ingest_src_set_property;
  gobject_class->get_property = gst_rtmp_ingest_src_get_property;
  gobject_class->finalize = gst_rtmp_ingest_src_finalize;
  element_class->change_state = gst_rtmp_ingest_src_change_state;
  element_class->pad_added = gst_rtmp_ingest_src_pad_added;

  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_MUTABLE_READY);
  // The properties rtmp2src has too carry its flags (no mutable-state bits; construct where its
  // location-handler interface declares them so).
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_construct = static_cast<GParamFlags>(rw | G_PARAM_CONSTRUCT);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string(
          "location", "Location",
          "listener: rtmp[s]://ADDRESS[:PORT]/APPLICATION/STREAM-KEY to listen on (sets address, "
          "port, application and stream-key; ADDRESS may be a host name; no query, rtmps needs "
          "a certificate); caller: rtmp[s]://[user:pass@]HOST[:PORT]/APPLICATION[/INSTANCE]/"
          "STREAM[?query] to play (sets scheme, host, port, application, stream, username and "
          "password; reads rtmp://localhost/live/myStream by default, as rtmp2src). Checked at "
          "READY->PAUSED",
          nullptr, rw_construct));
  g_object_class_install_property(
      gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address",
                          "Address to listen on (IPv4 or IPv6 literal, or a host name resolved at "
                          "READY->PAUSED)",
                          DEFAULT_ADDRESS, flags));
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int("port", "Port",
                       "listener: TCP port to listen on (0 = any free port, see bound-port; "
                       "elements of one process with the same address and port share the "
                       "listener); caller: the server's port (1935 for rtmp, 443 for rtmps "
                       "by default)",
                       0, 65535, DEFAULT_PORT, rw));
  g_object_class_install_property(
      gobject_class, PROP_BOUND_PORT,
      g_param_spec_int("bound-port", "Bound port",
                       "The port actually listened on (-1 when not listening)", -1, 65535, -1,
                       static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_APPLICATION,
      g_param_spec_string("application", "Application",
                          "listener: RTMP application this element serves (empty = any); "
                          "caller: the application to play from (the path before the stream; "
                          "'live' by default, as rtmp2src)",
                          DEFAULT_APPLICATION, rw));
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
      g_param_spec_enum("on-disconnect", "On disconnect",
                        "What a publisher's disconnect does; caller: what losing the played "
                        "stream does (eos: as rtmp2src; wait: reconnect with backoff, see "
                        "reconnect-delay and reconnect-attempts, and continue the pads)",
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
                        "listener: seconds without any byte from a peer, or with a send to it "
                        "blocked, before it is dropped (0 = no idle limit; sends then give up "
                        "after 30 s; a listener setting); caller: seconds without any byte from "
                        "the server before the stream counts as lost (0 = never, the default "
                        "there, as rtmp2src). Not counted while reading is paused by a full pad "
                        "queue",
                        0, G_MAXUINT, DEFAULT_IDLE_TIMEOUT, rw));
  g_object_class_install_property(
      gobject_class, PROP_OUTPUT_MODE,
      g_param_spec_enum("output-mode", "Output mode",
                        "elementary: a pad per track with codec caps; flv: one video/x-flv pad "
                        "'src' (in caller mode there from the start, as rtmp2src's), so "
                        "rtmpingestsrc ! flvdemux replaces rtmp2src ! flvdemux",
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
      g_param_spec_boxed(
          "stats", "Statistics",
          "publishing, peer, application, stream-key, bytes (received from "
          "the publisher), bitrate (bits/s over the last 5 s), uptime (ns), "
          "reading-paused (a full pad queue holds the publisher), "
          "<pad>-frames / <pad>-bytes / <pad>-queued-bytes per track, and "
          "connections: a GValueArray with one structure per connection of the "
          "listener (id, peer, state, application, stream-key, flash-ver, "
          "bytes-in, bytes-out, bitrate, uptime, warnings, reading-paused); caller "
          "mode adds rtmp2src's (in/out-chunk-size, in/out-window-ack-size, "
          "in/out-bytes-total, in/out-bytes-acked), reconnects and server; its bytes "
          "and bitrate are what the server sent",
          GST_TYPE_STRUCTURE, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  // --- caller mode ---
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode",
                        "listener: an RTMP server publishers push into; caller: play `location` "
                        "from a server (as rtmp2src), onto the same pads",
                        gst_rtmp_ingest_mode_get_type(), DEFAULT_MODE, flags));
  auto str_prop = [&](guint id, const char* name, const char* nick, const char* blurb,
                      const char* def, GParamFlags f) {
    g_object_class_install_property(gobject_class, id,
                                    g_param_spec_string(name, nick, blurb, def, f));
  };
  g_object_class_install_property(
      gobject_class, PROP_SCHEME,
      g_param_spec_enum("scheme", "Scheme", "caller: RTMP connection scheme",
                        gst_rtmp_ingest_scheme_get_type(), SCHEME_RTMP, rw));
  str_prop(PROP_HOST, "host", "Host",
           "caller: server host name or IP literal (IPv6 without brackets)", "localhost", rw);
  str_prop(PROP_STREAM, "stream", "Stream", "caller: the stream to play, with its ?query",
           "myStream", rw);
  str_prop(PROP_SECURE_TOKEN, "secure-token", "Secure token",
           "caller: answers a server's secureToken challenge (Limelight-style, as librtmp)",
           nullptr, rw_construct);
  str_prop(PROP_USERNAME, "username", "Username", "caller: adobe authentication user name", nullptr,
           rw);
  str_prop(PROP_PASSWORD, "password", "Password", "caller: adobe authentication password", nullptr,
           rw);
  g_object_class_install_property(
      gobject_class, PROP_AUTHMOD,
      g_param_spec_enum("authmod", "Authentication mode",
                        "caller: RTMP authentication: none, auto (when the server asks) or "
                        "adobe (from the first connect)",
                        gst_rtmp_ingest_authmod_get_type(), DEFAULT_AUTHMOD, rw_construct));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
                        "caller: seconds for each connection attempt from its start to "
                        "NetStream.Play.Start (resolving, TCP connect, TLS, RTMP handshake, "
                        "connect, play: one deadline a trickling server cannot stretch), and "
                        "for a write the server does not take (0 = no limit)",
                        0, G_MAXUINT, DEFAULT_TIMEOUT, rw_construct));
  g_object_class_install_property(
      gobject_class, PROP_TLS_VALIDATION_FLAGS,
      g_param_spec_flags("tls-validation-flags", "TLS validation flags",
                         "caller: server certificate problems that refuse an rtmps connection",
                         G_TYPE_TLS_CERTIFICATE_FLAGS, DEFAULT_TLS_VALIDATION_FLAGS, rw_construct));
  str_prop(PROP_FLASH_VERSION, "flash-version", "Flash version", "caller: flashVer sent in connect",
           DEFAULT_FLASH_VERSION, rw_construct);
  g_object_class_install_property(
      gobject_class, PROP_ASYNC_CONNECT,
      g_param_spec_boolean("async-connect", "Async connect",
                           "caller: connect at READY->PAUSED (TRUE) or at PAUSED->PLAYING "
                           "(FALSE); the state change never waits for the server",
                           DEFAULT_ASYNC_CONNECT, rw));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_ATTEMPTS,
      g_param_spec_int("reconnect-attempts", "Reconnect attempts",
                       "caller with on-disconnect=wait: attempts in a row that may fail (no "
                       "connection, stream not found) before an error (-1 = no limit)",
                       -1, G_MAXINT, DEFAULT_RECONNECT_ATTEMPTS, flags));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint("reconnect-delay", "Reconnect delay",
                        "caller with on-disconnect=wait: milliseconds before the second attempt "
                        "(the first after a lost stream is immediate); doubles per failed "
                        "attempt up to 30 s",
                        0, 60000, DEFAULT_RECONNECT_DELAY, flags));
  // GstBaseSrc's, which rtmp2src has: the same names and meanings.
  g_object_class_install_property(
      gobject_class, PROP_BLOCKSIZE,
      g_param_spec_uint("blocksize", "Block size",
                        "Size in bytes to read per buffer (-1 = default); as rtmp2src, unused: "
                        "a buffer is a whole message",
                        0, G_MAXUINT, DEFAULT_BLOCKSIZE, rw));
  g_object_class_install_property(
      gobject_class, PROP_NUM_BUFFERS,
      g_param_spec_int("num-buffers", "num-buffers",
                       "caller: number of buffers to output before sending EOS (-1 = "
                       "unlimited): FLV tags in output-mode=flv, coded frames over all pads "
                       "otherwise",
                       -1, G_MAXINT, DEFAULT_NUM_BUFFERS, rw));
  g_object_class_install_property(
      gobject_class, PROP_TYPEFIND,
      g_param_spec_boolean("typefind", "Typefind",
                           "Run typefind before negotiating (deprecated, non-functional, as "
                           "GstBaseSrc's)",
                           FALSE, static_cast<GParamFlags>(rw | G_PARAM_DEPRECATED)));
  g_object_class_install_property(
      gobject_class, PROP_DO_TIMESTAMP,
      g_param_spec_boolean("do-timestamp", "Do timestamp",
                           "Apply current stream time to buffers that have no timestamp (as "
                           "GstBaseSrc: every buffer here carries DTS and PTS, so nothing "
                           "changes)",
                           FALSE, rw));

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
      "or (mode=caller) plays a stream from a server, as rtmp2src; one pad per track with "
      "elementary-stream caps",
      "gst-ertmp developers");
  GST_DEBUG_CATEGORY_INIT(rtmp_ingest_src_debug, "rtmpingestsrc", 0, "RTMP ingest source");
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_on_disconnect_get_type(),
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_output_mode_get_type(),
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_scheme_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_rtmp_ingest_authmod_get_type(),
                              static_cast<GstPluginAPIFlags>(0));
}
