// rtmppushsink: the GObject shell. Properties live in Settings (object lock); READY->PAUSED
// copies them into a State (the stream headers, the packager, the publisher) that
// PAUSED->READY drops. The rooms:
//   push_input      elementary request pads, their queues, the DTS interleaver
//   push_packager   buffers -> RTMP messages, one sequence-header/metadata tracker
//   push_headers    the stream's current headers (what a new connection sends first)
//   push_publisher  the connection, its backlog and retry policy
//   push_connection socket/TLS + rtmp::ClientSession
//   error_map       RTMP failures -> GStreamer bus errors (as rtmp2)
//   serve_listener  mode=listener: an RTMP server for players (its properties, the play route
//                   on gst/ingest_server's shared listener, the served stream)
//
// The element is a GstBaseSink: its always pad `sink` takes flvmux's output as rtmp2sink's
// does, and the elementary pads feed that same pad internally (push_input.h), so preroll,
// async, sync, qos, ts-offset, render-delay, max-lateness, throttle-time, max-bitrate,
// processing-deadline and last-sample behave as a base sink's for both input kinds.
#include "gst/gstrtmppushsink.h"

#include <memory>
#include <mutex>
#include <string>

#include "gst/error_map.h"
#include "gst/location_uri.h"
#include "gst/push_debug.h"
#include "gst/push_headers.h"
#include "gst/push_input.h"
#include "gst/push_packager.h"
#include "gst/push_publisher.h"
#include "gst/serve_listener.h"
#include "protocol/caps.h"
#include "protocol/url.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

enum {
  PROP_0,
  // rtmp2sink's
  PROP_LOCATION,
  PROP_SCHEME,
  PROP_HOST,
  PROP_PORT,
  PROP_APPLICATION,
  PROP_STREAM,
  PROP_SECURE_TOKEN,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_AUTHMOD,
  PROP_TIMEOUT,
  PROP_TLS_VALIDATION_FLAGS,
  PROP_FLASH_VERSION,
  PROP_ASYNC_CONNECT,
  PROP_PEAK_KBPS,
  PROP_CHUNK_SIZE,
  PROP_STATS,
  PROP_STOP_COMMANDS,
  // ours
  PROP_EXTRA_CONNECT_ARGS,
  PROP_ENHANCED,
  PROP_RECONNECT_ATTEMPTS,
  PROP_RECONNECT_DELAY,
  PROP_MAX_BUFFER_TIME,
  PROP_INTERLEAVE_TIMEOUT,
  PROP_MULTITRACK_PACKING,
  // mode and the listener-mode properties: gst/serve_listener.h, ids from here on
  PROP_LISTEN_FIRST = 100,
};

// mode=listener: a player asks to play (app, stream, tcUrl, query, peer) -> accept.
enum { SIGNAL_PLAY_REQUEST, LAST_SIGNAL };
static guint signals[LAST_SIGNAL];

#define DEFAULT_LOCATION "rtmp://localhost/live/myStream"
#define DEFAULT_SCHEME SCHEME_RTMP
#define DEFAULT_AUTHMOD AUTHMOD_AUTO
#define DEFAULT_TIMEOUT 5
#define DEFAULT_TLS_VALIDATION_FLAGS G_TLS_CERTIFICATE_VALIDATE_ALL
// rtmp2sink 1.22: "LNX 10,0,32,18" (1.24+: none). A publisher identifies as a live encoder, as
// OBS and ffmpeg do (docs/rtmppushsink.md, deliberate differences).
#define DEFAULT_FLASH_VERSION "FMLE/3.0 (compatible; gst-ertmp)"
#define DEFAULT_ASYNC_CONNECT TRUE
#define DEFAULT_PEAK_KBPS 0
// rtmp2sink: 128 (the protocol's initial size). SPEC §5: 4096, what OBS and ffmpeg send; 128
// costs a chunk header per 128 bytes.
#define DEFAULT_CHUNK_SIZE 4096
#define DEFAULT_STOP_COMMANDS (STOP_FCUNPUBLISH | STOP_DELETESTREAM)
#define DEFAULT_ENHANCED gst_ertmp::EnhancedMode::kAuto
#define DEFAULT_RECONNECT_ATTEMPTS 10
#define DEFAULT_RECONNECT_DELAY 1000
#define DEFAULT_MAX_BUFFER_TIME (10 * GST_SECOND)
#define DEFAULT_INTERLEAVE_TIMEOUT 300
#define DEFAULT_MULTITRACK_PACKING gst_ertmp::MultitrackPacking::kOneTrack

// rtmp2's enum and flags values and nicks, under our own type names (two plugins cannot
// register one GType name in a process).
enum { SCHEME_RTMP = 0, SCHEME_RTMPS = 1 };
enum { AUTHMOD_NONE = 0, AUTHMOD_AUTO = 1, AUTHMOD_ADOBE = 2 };
enum { STOP_NONE = 0, STOP_FCUNPUBLISH = 1, STOP_CLOSESTREAM = 2, STOP_DELETESTREAM = 4 };

// Registers an enum or flags type once.
static GType enum_type(gsize* once, const char* name, const GEnumValue* values) {
  if (g_once_init_enter(once)) g_once_init_leave(once, g_enum_register_static(name, values));
  return *once;
}
static GType flags_type(gsize* once, const char* name, const GFlagsValue* values) {
  if (g_once_init_enter(once)) g_once_init_leave(once, g_flags_register_static(name, values));
  return *once;
}

static GType scheme_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {{SCHEME_RTMP, "GST_RTMP_SCHEME_RTMP", "rtmp"},
                                      {SCHEME_RTMPS, "GST_RTMP_SCHEME_RTMPS", "rtmps"},
                                      {0, nullptr, nullptr}};
  return enum_type(&type, "GstRtmpPushSinkScheme", values);
}

static GType authmod_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {{AUTHMOD_NONE, "GST_RTMP_AUTHMOD_NONE", "none"},
                                      {AUTHMOD_AUTO, "GST_RTMP_AUTHMOD_AUTO", "auto"},
                                      {AUTHMOD_ADOBE, "GST_RTMP_AUTHMOD_ADOBE", "adobe"},
                                      {0, nullptr, nullptr}};
  return enum_type(&type, "GstRtmpPushSinkAuthmod", values);
}

static GType stop_commands_get_type() {
  static gsize type = 0;
  static const GFlagsValue values[] = {{STOP_NONE, "No command", "none"},
                                       {STOP_FCUNPUBLISH, "FCUnpublish", "fcunpublish"},
                                       {STOP_CLOSESTREAM, "closeStream", "closestream"},
                                       {STOP_DELETESTREAM, "deleteStream", "deletestream"},
                                       {0, nullptr, nullptr}};
  return flags_type(&type, "GstRtmpPushSinkStopCommands", values);
}

static GType enhanced_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(gst_ertmp::EnhancedMode::kAuto),
       "Legacy FLV for track 0 where the codec has a legacy form (H.264, AAC, MP3, ...), "
       "E-RTMP otherwise (only codecs the server's connect _result names, when it names any); "
       "tracks >= 1, nano offsets and multitrack packing only when the server advertises them",
       "auto"},
      {static_cast<gint>(gst_ertmp::EnhancedMode::kAlways),
       "All of E-RTMP whatever the server echoes: FourCC tags for every codec that has a "
       "FourCC, every track, nano offsets, multitrack packing",
       "always"},
      {0, nullptr, nullptr}};
  return enum_type(&type, "GstRtmpPushEnhanced", values);
}

static GType multitrack_packing_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(gst_ertmp::MultitrackPacking::kOneTrack),
       "One message per track and frame (OneTrack for tracks >= 1)", "one-track"},
      {static_cast<gint>(gst_ertmp::MultitrackPacking::kManyTracks),
       "The frames of one instant in one message: ManyTracks for one codec, "
       "ManyTracksManyCodecs otherwise",
       "many-tracks"},
      {static_cast<gint>(gst_ertmp::MultitrackPacking::kManyTracksManyCodecs),
       "The frames of one instant in one ManyTracksManyCodecs message", "many-tracks-many-codecs"},
      {0, nullptr, nullptr}};
  return enum_type(&type, "GstRtmpPushMultitrackPacking", values);
}

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-flv"));

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-h264, stream-format=avc, alignment=au; "
                    "video/x-h265, stream-format={ hvc1, hev1 }, alignment=au; "
                    "video/x-av1, stream-format=obu-stream, alignment=tu; "
                    "video/x-vp9; video/x-vp8; video/x-flash-video, flvversion=1; "
                    "video/x-flash-screen; video/x-vp6-flash; video/x-vp6-alpha"));

static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/mpeg, mpegversion={ 2, 4 }, stream-format=raw; "
                    "audio/mpeg, mpegversion=1, layer=3; audio/x-opus; "
                    "audio/x-flac, framed=true; audio/x-ac3; audio/x-eac3; "
                    "audio/x-raw, format={ S16LE, U8 }, layout=interleaved; audio/x-alaw; "
                    "audio/x-mulaw; audio/x-speex; audio/x-nellymoser"));

namespace {

// Property values (object lock). Copied at READY->PAUSED.
struct Settings {
  rtmp::Url url;
  // The last `location` that did not parse, and why: READY->PAUSED fails with it.
  std::string bad_location;
  std::string location_error;
  std::string secure_token;
  gint authmod = DEFAULT_AUTHMOD;
  guint timeout = DEFAULT_TIMEOUT;
  GTlsCertificateFlags tls_validation_flags = DEFAULT_TLS_VALIDATION_FLAGS;
  std::string flash_version = DEFAULT_FLASH_VERSION;
  bool async_connect = DEFAULT_ASYNC_CONNECT;
  guint peak_kbps = DEFAULT_PEAK_KBPS;
  guint chunk_size = DEFAULT_CHUNK_SIZE;
  guint stop_commands = DEFAULT_STOP_COMMANDS;
  std::string extra_connect_args;
  gst_ertmp::EnhancedMode enhanced = DEFAULT_ENHANCED;
  gint reconnect_attempts = DEFAULT_RECONNECT_ATTEMPTS;
  guint reconnect_delay = DEFAULT_RECONNECT_DELAY;
  guint64 max_buffer_time = DEFAULT_MAX_BUFFER_TIME;
  guint interleave_timeout = DEFAULT_INTERLEAVE_TIMEOUT;
  gst_ertmp::MultitrackPacking multitrack_packing = DEFAULT_MULTITRACK_PACKING;
  gst_ertmp::ListenProps listen;  // mode and mode=listener's settings
};

// One READY->PAUSED .. PAUSED->READY run.
struct State {
  State(GstElement* element, const Settings& s, gst_ertmp::PublisherSettings ps,
        const gst_ertmp::StreamDescription& description)
      : packager(headers, description, s.enhanced, GST_OBJECT(element), s.multitrack_packing),
        publisher(element, std::move(ps), headers) {}
  gst_ertmp::StreamHeaders headers;
  gst_ertmp::Packager packager;
  gst_ertmp::PushPublisher publisher;  // mode=caller (never started in listener mode)
  std::shared_ptr<gst_ertmp::ServeListener> listener;  // mode=listener
};

// librtmp-style "conn=B:1 conn=N:1.5 conn=S:text conn=Z:" (the subset rtmp2sink takes).
std::vector<rtmp::amf::Value> parse_connect_args(const std::string& text) {
  std::vector<rtmp::amf::Value> out;
  gchar** parts = g_strsplit_set(text.c_str(), " ", -1);
  for (gchar** p = parts; *p; ++p) {
    std::string s = *p;
    if (s.rfind("conn=", 0) == 0) s = s.substr(5);
    if (s.size() < 2 || s[1] != ':') continue;
    std::string v = s.substr(2);
    switch (s[0]) {
      case 'B':
        out.emplace_back(v == "1" || v == "true");
        break;
      case 'N':
        out.emplace_back(g_ascii_strtod(v.c_str(), nullptr));
        break;
      case 'S':
        out.emplace_back(v);
        break;
      case 'Z':
        out.push_back(rtmp::amf::Value::null());
        break;
      default:
        break;
    }
  }
  g_strfreev(parts);
  return out;
}

gst_ertmp::PublisherSettings publisher_settings(const Settings& s) {
  gst_ertmp::PublisherSettings p;
  rtmp::ClientConfig& c = p.target.config;
  c.url = s.url;
  c.flash_ver = s.flash_version;
  c.out_chunk_size = s.chunk_size;
  c.username = s.url.username;
  c.password = s.url.password;
  c.secure_token = s.secure_token;
  c.capabilities = rtmp::client_capabilities(
      {"avc1", "hvc1", "av01", "vp09", "vp08"}, {"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"},
      rtmp::kCapsExReconnect | rtmp::kCapsExMultitrack | rtmp::kCapsExModEx |
          rtmp::kCapsExTimestampNanoOffset);
  c.extra_connect_args = parse_connect_args(s.extra_connect_args);
  p.target.auth = static_cast<gst_ertmp::AuthMode>(s.authmod);
  p.target.timeout_s = s.timeout;
  p.target.tls_validation_flags = s.tls_validation_flags;
  p.async_connect = s.async_connect;
  p.stop_commands.fc_unpublish = (s.stop_commands & STOP_FCUNPUBLISH) != 0;
  p.stop_commands.close_stream = (s.stop_commands & STOP_CLOSESTREAM) != 0;
  p.stop_commands.delete_stream = (s.stop_commands & STOP_DELETESTREAM) != 0;
  p.reconnect_attempts = s.reconnect_attempts;
  p.reconnect_delay_ms = s.reconnect_delay;
  p.max_buffer_time = s.max_buffer_time;
  p.chunk_size = s.chunk_size;
  p.peak_kbps = s.peak_kbps;
  // Tests force the user-space pacer on a kernel that could pace (docs/rtmppushsink.md).
  p.userspace_pacing = g_getenv("ERTMP_PUSH_USERSPACE_PACING") != nullptr;
  return p;
}

}  // namespace

struct GstRtmpPushSinkPrivate {
  Settings settings;  // object lock
  gst_ertmp::StreamDescription description;
  std::unique_ptr<gst_ertmp::PushInput> input;
  std::mutex state_mu;  // guards the pointer; the State itself is used by one run
  std::shared_ptr<State> state;
  GstStructure* last_stats = nullptr;  // of the last run, until the next (state_mu)

  std::shared_ptr<State> current() {
    std::lock_guard<std::mutex> lock(state_mu);
    return state;
  }
};

struct _GstRtmpPushSink {
  GstBaseSink parent;
  GstRtmpPushSinkPrivate* priv;
};

static void uri_handler_init(gpointer g_iface, gpointer iface_data);

G_DEFINE_TYPE_WITH_CODE(GstRtmpPushSink, gst_rtmp_push_sink, GST_TYPE_BASE_SINK,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, uri_handler_init))

// --- lifecycle -----------------------------------------------------------------------------

// mode=listener, READY->PAUSED: listen (or share the listener) and route the location's
// application/key to this sink's stream. The play-request signal decides on each player.
static bool start_listener(GstRtmpPushSink* self, const Settings& s) {
  auto* priv = self->priv;
  gst_ertmp::ServeTarget target;
  if (!gst_ertmp::resolve_serve_target(GST_ELEMENT(self), s.url, s.listen, &target)) return false;
  auto state =
      std::make_shared<State>(GST_ELEMENT(self), s, publisher_settings(s), priv->description);
  state->listener = std::make_shared<gst_ertmp::ServeListener>(
      GST_ELEMENT(self),
      [self](const gst_ertmp::PlayerInfo& info) {
        gboolean accept = TRUE;
        g_signal_emit(self, signals[SIGNAL_PLAY_REQUEST], 0, info.app.c_str(), info.stream.c_str(),
                      info.tc_url.c_str(), info.query.c_str(), info.peer.c_str(), &accept);
        return accept != FALSE;
      },
      [self] {
        return g_signal_has_handler_pending(self, signals[SIGNAL_PLAY_REQUEST], 0, FALSE) != FALSE;
      });
  if (!state->listener->start(target)) return false;
  // No server to ask (enhanced=auto plans from a server's connect reply): the stream is planned
  // as for a server that takes every codec and multitrack, and each player gets what it
  // advertised (gst/serve_player.h): legacy tags for track 0 of H.264/AAC/..., FourCC for the
  // rest. No ModEx nano offsets: a player that did not advertise ModEx (ffmpeg 7.1 does not)
  // could take none of those frames.
  rtmp::PeerCapabilities plan = rtmp::default_server_capabilities();
  plan.caps_ex &= ~(rtmp::kCapsExModEx | rtmp::kCapsExTimestampNanoOffset);
  state->packager.set_peer(plan);
  {
    std::lock_guard<std::mutex> lock(priv->state_mu);
    priv->state = std::move(state);
  }
  g_object_notify(G_OBJECT(self), "bound-port");
  return true;
}

// READY->PAUSED: the settings checked (a clear RESOURCE/SETTINGS error otherwise) and a State
// built; the publisher starts connecting (async-connect) without holding the state change.
static bool start(GstRtmpPushSink* self) {
  auto* priv = self->priv;
  GST_OBJECT_LOCK(self);
  Settings s = priv->settings;
  GST_OBJECT_UNLOCK(self);
  std::string problem;
  if (!s.bad_location.empty()) {
    problem = "location '" + s.bad_location + "' is not an RTMP URL: " + s.location_error;
  } else if (s.url.host.empty()) {
    problem = "no host set";
  } else if (s.listen.mode == gst_ertmp::SinkMode::kListener) {
    return start_listener(self, s);
  } else if (s.url.stream.empty()) {
    problem = "no stream (key) in " + s.url.to_string();
  } else if (s.url.port == 0) {
    problem = "port 0 in " + s.url.to_string() + " (a free port is for mode=listener)";
  }
  if (!problem.empty()) {
    gst_ertmp::post_bus_error(GST_ELEMENT(self), gst_ertmp::settings_error(), problem, "");
    return false;
  }
  auto state =
      std::make_shared<State>(GST_ELEMENT(self), s, publisher_settings(s), priv->description);
  state->publisher.start();
  std::lock_guard<std::mutex> lock(priv->state_mu);
  priv->state = std::move(state);
  return true;
}

static GstStructure* stats_of(GstRtmpPushSink* self);

// PAUSED->READY, after the pads are deactivated: the run's state goes (its last stats stay
// readable until the next run, as rtmp2sink's do).
static void drop_state(GstRtmpPushSink* self) {
  auto* priv = self->priv;
  GstStructure* last = stats_of(self);
  std::shared_ptr<State> gone;
  {
    std::lock_guard<std::mutex> lock(priv->state_mu);
    gone = std::move(priv->state);
    if (priv->last_stats) gst_structure_free(priv->last_stats);
    priv->last_stats = last;
  }
  gone.reset();  // the publisher stopped already; the packager's buffers go
}

static GstStateChangeReturn gst_rtmp_push_sink_change_state(GstElement* element,
                                                            GstStateChange transition) {
  auto* self = GST_RTMP_PUSH_SINK(element);
  auto* priv = self->priv;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!start(self)) return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      // Before the pads deactivate: chains blocked on a full queue return, and a render
      // blocked on the network is cancelled (deactivation waits for the streaming threads).
      priv->input->begin_stop();
      if (auto state = priv->current()) {
        state->publisher.stop();
        if (state->listener) state->listener->stop();  // players hear Play.Stop
      }
      break;
    default:
      break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_rtmp_push_sink_parent_class)->change_state(element, transition);
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (ret == GST_STATE_CHANGE_FAILURE) {
        if (auto state = priv->current()) {
          state->publisher.stop();
          if (state->listener) state->listener->stop();
        }
        drop_state(self);
      } else {
        GST_OBJECT_LOCK(self);
        guint interleave = priv->settings.interleave_timeout;
        GST_OBJECT_UNLOCK(self);
        priv->input->start(interleave);
      }
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      priv->input->join();
      drop_state(self);
      break;
    default:
      break;
  }
  return ret;
}

// --- GstBaseSink ---------------------------------------------------------------------------

static GstFlowReturn gst_rtmp_push_sink_render(GstBaseSink* sink, GstBuffer* buffer) {
  auto* self = GST_RTMP_PUSH_SINK(sink);
  auto state = self->priv->current();
  if (!state) return GST_FLOW_FLUSHING;
  std::vector<gst_ertmp::Packet> packets;
  if (auto frame = self->priv->input->take_frame(buffer)) {
    if (!state->packager.peer_known()) {
      // enhanced=auto plans the tracks from the server's connect _result.
      rtmp::PeerCapabilities server_caps;
      GstFlowReturn ret;
      while ((ret = state->publisher.wait_connected(&server_caps)) == GST_FLOW_FLUSHING) {
        if ((ret = gst_base_sink_wait_preroll(sink)) != GST_FLOW_OK) return ret;
      }
      if (ret != GST_FLOW_OK) return ret;
      state->packager.set_peer(server_caps);
    }
    state->packager.package_frame(*frame, packets);
  } else {
    std::string error;
    if (!state->packager.package_flv(buffer, packets, &error)) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Failed to convert FLV to RTMP"),
                        ("%s", error.c_str()));
      return GST_FLOW_ERROR;
    }
  }
  if (state->listener) {
    state->listener->send(packets);  // never blocks: each player is served on its own loop
    return GST_FLOW_OK;
  }
  for (;;) {
    GstFlowReturn ret = state->publisher.send(packets);
    if (ret != GST_FLOW_FLUSHING) return ret;
    // unlock() (PLAYING->PAUSED, a flush): wait for PLAYING as a base sink does, then send.
    ret = gst_base_sink_wait_preroll(sink);
    if (ret != GST_FLOW_OK) return ret;
  }
}

static gboolean gst_rtmp_push_sink_event(GstBaseSink* sink, GstEvent* event) {
  auto* self = GST_RTMP_PUSH_SINK(sink);
  const GstStructure* custom = GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM
                                   ? gst_event_get_structure(event)
                                   : nullptr;
  if (custom && gst_structure_has_name(custom, gst_ertmp::PushInput::kTrackEndEvent)) {
    // An elementary pad's EOS, in order with the buffers: that track's SequenceEnd.
    gboolean video = FALSE;
    guint track = 0;
    gst_structure_get_boolean(custom, "video", &video);
    gst_structure_get_uint(custom, "track", &track);
    std::vector<gst_ertmp::Packet> packets;
    auto state = self->priv->current();
    if (state) {
      state->packager.package_track_end({video != FALSE, static_cast<uint8_t>(track)}, packets);
    }
    if (state && !packets.empty()) {
      if (state->listener) {
        state->listener->send(packets);  // a publisher that never connects would block here
      } else {
        state->publisher.send(packets);
      }
    }
    gst_event_unref(event);
    return TRUE;
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
    // Everything delivered, stop-commands sent and the connection closed before the base
    // sink posts EOS (servers finalize their recording on FCUnpublish/deleteStream).
    if (auto state = self->priv->current()) {
      std::vector<gst_ertmp::Packet> held;
      state->packager.flush(held);
      if (state->listener) {
        if (!held.empty()) state->listener->send(held);
        state->listener->finish();  // players get Stream EOF + Play.Stop after what they have
      } else {
        if (!held.empty()) state->publisher.send(held);
        state->publisher.finish();
      }
    }
  }
  return GST_BASE_SINK_CLASS(gst_rtmp_push_sink_parent_class)->event(sink, event);
}

static gboolean gst_rtmp_push_sink_set_caps(GstBaseSink* sink, GstCaps* caps) {
  auto* self = GST_RTMP_PUSH_SINK(sink);
  if (auto state = self->priv->current()) state->packager.set_flv_caps(caps);
  return TRUE;
}

static gboolean gst_rtmp_push_sink_unlock(GstBaseSink* sink) {
  if (auto state = GST_RTMP_PUSH_SINK(sink)->priv->current()) state->publisher.set_flushing(true);
  return TRUE;
}

static gboolean gst_rtmp_push_sink_unlock_stop(GstBaseSink* sink) {
  if (auto state = GST_RTMP_PUSH_SINK(sink)->priv->current()) {
    state->publisher.set_flushing(false);
  }
  return TRUE;
}

// --- pads ----------------------------------------------------------------------------------

static GstPad* gst_rtmp_push_sink_request_new_pad(GstElement* element, GstPadTemplate* templ,
                                                  const gchar* name, const GstCaps*) {
  return GST_RTMP_PUSH_SINK(element)->priv->input->request_pad(templ, name);
}

static void gst_rtmp_push_sink_release_pad(GstElement* element, GstPad* pad) {
  GST_RTMP_PUSH_SINK(element)->priv->input->release_pad(pad);
}

// --- properties ----------------------------------------------------------------------------

static GstStructure* stats_of(GstRtmpPushSink* self) {
  auto* priv = self->priv;
  std::shared_ptr<State> state;
  {
    std::lock_guard<std::mutex> lock(priv->state_mu);
    state = priv->state;
    if (!state && priv->last_stats) return gst_structure_copy(priv->last_stats);
  }
  GstStructure* s = gst_structure_new_empty("rtmppushsink-stats");
  if (state) {
    state->publisher.fill_stats(s);
    if (state->listener) state->listener->fill_stats(s);
  } else {
    // Before any connection: rtmp2sink's fields, all 0.
    gst_structure_set(s, "in-chunk-size", G_TYPE_UINT, 0u, "out-chunk-size", G_TYPE_UINT, 0u,
                      "in-window-ack-size", G_TYPE_UINT, 0u, "out-window-ack-size", G_TYPE_UINT, 0u,
                      "in-bytes-total", G_TYPE_UINT64, guint64{0}, "out-bytes-total", G_TYPE_UINT64,
                      guint64{0}, "in-bytes-acked", G_TYPE_UINT64, guint64{0}, "out-bytes-acked",
                      G_TYPE_UINT64, guint64{0}, "connected", G_TYPE_BOOLEAN, FALSE, "server",
                      G_TYPE_STRING, "", "reconnects", G_TYPE_UINT, 0u, "dropped-messages",
                      G_TYPE_UINT64, guint64{0}, nullptr);
  }
  priv->input->fill_stats(s);
  return s;
}

static void set_location(Settings& s, const gchar* text) {
  // kListen also takes port 0 (mode=listener: any free port); start() refuses it for caller.
  auto url = rtmp::parse_url(text ? text : "", rtmp::UrlRole::kListen);
  if (!url.ok()) {
    s.bad_location = text ? text : "";
    if (s.bad_location.empty()) s.bad_location = "(empty)";
    s.location_error = url.error().detail;
    return;
  }
  s.url = *url;
  s.bad_location.clear();
  s.location_error.clear();
}

static void gst_rtmp_push_sink_set_property(GObject* object, guint prop_id, const GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  auto str = [value] {
    const gchar* v = g_value_get_string(value);
    return std::string(v ? v : "");
  };
  if (prop_id >= PROP_LISTEN_FIRST) {
    GST_OBJECT_LOCK(self);
    gst_ertmp::set_listen_property(self->priv->settings.listen, prop_id - PROP_LISTEN_FIRST, value);
    GST_OBJECT_UNLOCK(self);
    return;
  }
  GST_OBJECT_LOCK(self);
  Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      set_location(s, g_value_get_string(value));
      if (!s.bad_location.empty()) {
        GST_WARNING_OBJECT(self, "bad location '%s': %s (READY->PAUSED will fail)",
                           s.bad_location.c_str(), s.location_error.c_str());
      }
      break;
    case PROP_SCHEME: {
      const bool rtmps = g_value_get_enum(value) == SCHEME_RTMPS;
      if (!s.url.port_explicit) s.url.port = rtmps ? 443 : 1935;
      s.url.scheme = rtmps ? "rtmps" : "rtmp";
      break;
    }
    case PROP_HOST:
      s.url.host = str();
      break;
    case PROP_PORT:
      s.url.port = static_cast<uint16_t>(g_value_get_int(value));
      s.url.port_explicit = true;
      break;
    case PROP_APPLICATION:
      s.url.app = str();
      break;
    case PROP_STREAM:
      s.url.stream = str();
      break;
    case PROP_SECURE_TOKEN:
      s.secure_token = str();
      break;
    case PROP_USERNAME:
      s.url.username = str();
      break;
    case PROP_PASSWORD:
      s.url.password = str();
      break;
    case PROP_AUTHMOD:
      s.authmod = g_value_get_enum(value);
      break;
    case PROP_TIMEOUT:
      s.timeout = g_value_get_uint(value);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      s.tls_validation_flags = static_cast<GTlsCertificateFlags>(g_value_get_flags(value));
      break;
    case PROP_FLASH_VERSION:
      s.flash_version = str();
      break;
    case PROP_ASYNC_CONNECT:
      s.async_connect = g_value_get_boolean(value);
      break;
    case PROP_PEAK_KBPS:
      s.peak_kbps = g_value_get_uint(value);
      break;
    case PROP_CHUNK_SIZE:
      s.chunk_size = g_value_get_uint(value);
      break;
    case PROP_STOP_COMMANDS:
      s.stop_commands = g_value_get_flags(value);
      break;
    case PROP_EXTRA_CONNECT_ARGS:
      s.extra_connect_args = str();
      break;
    case PROP_ENHANCED:
      s.enhanced = static_cast<gst_ertmp::EnhancedMode>(g_value_get_enum(value));
      break;
    case PROP_RECONNECT_ATTEMPTS:
      s.reconnect_attempts = g_value_get_int(value);
      break;
    case PROP_RECONNECT_DELAY:
      s.reconnect_delay = g_value_get_uint(value);
      break;
    case PROP_MAX_BUFFER_TIME:
      s.max_buffer_time = g_value_get_uint64(value);
      break;
    case PROP_INTERLEAVE_TIMEOUT:
      s.interleave_timeout = g_value_get_uint(value);
      break;
    case PROP_MULTITRACK_PACKING:
      s.multitrack_packing = static_cast<gst_ertmp::MultitrackPacking>(g_value_get_enum(value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  const guint chunk_size = s.chunk_size, peak_kbps = s.peak_kbps;
  GST_OBJECT_UNLOCK(self);
  // Changeable while PLAYING (as rtmp2sink): the running publisher applies them before its
  // next packet.
  if (prop_id == PROP_CHUNK_SIZE || prop_id == PROP_PEAK_KBPS) {
    if (auto state = self->priv->current()) {
      state->publisher.set_chunk_size(chunk_size);
      state->publisher.set_peak_kbps(peak_kbps);
    }
  }
}

static void gst_rtmp_push_sink_get_property(GObject* object, guint prop_id, GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, stats_of(self));
    return;
  }
  if (prop_id >= PROP_LISTEN_FIRST) {
    auto state = self->priv->current();
    const gint bound = state && state->listener ? state->listener->bound_port() : -1;
    GST_OBJECT_LOCK(self);
    gst_ertmp::get_listen_property(self->priv->settings.listen, prop_id - PROP_LISTEN_FIRST, value,
                                   bound);
    GST_OBJECT_UNLOCK(self);
    return;
  }
  // rtmp2sink gives NULL for an unset string.
  auto set_str = [value](const std::string& v) {
    g_value_set_string(value, v.empty() ? nullptr : v.c_str());
  };
  GST_OBJECT_LOCK(self);
  const Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string(
          value, s.bad_location.empty() ? s.url.to_string().c_str() : s.bad_location.c_str());
      break;
    case PROP_SCHEME:
      g_value_set_enum(value, s.url.tls() ? SCHEME_RTMPS : SCHEME_RTMP);
      break;
    case PROP_HOST:
      set_str(s.url.host);
      break;
    case PROP_PORT:
      g_value_set_int(value, s.url.port);
      break;
    case PROP_APPLICATION:
      set_str(s.url.app);
      break;
    case PROP_STREAM:
      set_str(s.url.stream);
      break;
    case PROP_SECURE_TOKEN:
      set_str(s.secure_token);
      break;
    case PROP_USERNAME:
      set_str(s.url.username);
      break;
    case PROP_PASSWORD:
      set_str(s.url.password);
      break;
    case PROP_AUTHMOD:
      g_value_set_enum(value, s.authmod);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, s.timeout);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      g_value_set_flags(value, s.tls_validation_flags);
      break;
    case PROP_FLASH_VERSION:
      set_str(s.flash_version);
      break;
    case PROP_ASYNC_CONNECT:
      g_value_set_boolean(value, s.async_connect);
      break;
    case PROP_PEAK_KBPS:
      g_value_set_uint(value, s.peak_kbps);
      break;
    case PROP_CHUNK_SIZE:
      g_value_set_uint(value, s.chunk_size);
      break;
    case PROP_STOP_COMMANDS:
      g_value_set_flags(value, s.stop_commands);
      break;
    case PROP_EXTRA_CONNECT_ARGS:
      set_str(s.extra_connect_args);
      break;
    case PROP_ENHANCED:
      g_value_set_enum(value, static_cast<gint>(s.enhanced));
      break;
    case PROP_RECONNECT_ATTEMPTS:
      g_value_set_int(value, s.reconnect_attempts);
      break;
    case PROP_RECONNECT_DELAY:
      g_value_set_uint(value, s.reconnect_delay);
      break;
    case PROP_MAX_BUFFER_TIME:
      g_value_set_uint64(value, s.max_buffer_time);
      break;
    case PROP_INTERLEAVE_TIMEOUT:
      g_value_set_uint(value, s.interleave_timeout);
      break;
    case PROP_MULTITRACK_PACKING:
      g_value_set_enum(value, static_cast<gint>(s.multitrack_packing));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

// --- GObject -------------------------------------------------------------------------------

static void gst_rtmp_push_sink_init(GstRtmpPushSink* self) {
  self->priv = new GstRtmpPushSinkPrivate();
  set_location(self->priv->settings, DEFAULT_LOCATION);
  self->priv->input = std::make_unique<gst_ertmp::PushInput>(
      GST_ELEMENT(self), GST_BASE_SINK_PAD(self), self->priv->description);
}

static void gst_rtmp_push_sink_finalize(GObject* object) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  self->priv->input.reset();
  if (self->priv->last_stats) gst_structure_free(self->priv->last_stats);
  delete self->priv;
  G_OBJECT_CLASS(gst_rtmp_push_sink_parent_class)->finalize(object);
}

static GstURIType uri_get_type(GType) {
  return GST_URI_SINK;
}
static const gchar* const* uri_get_protocols(GType) {
  static const gchar* protocols[] = {"rtmp", "rtmps", nullptr};
  return protocols;
}
static void uri_handler_init(gpointer g_iface, gpointer) {
  gst_ertmp::init_location_uri_handler(g_iface, uri_get_type, uri_get_protocols);
}

static void gst_rtmp_push_sink_class_init(GstRtmpPushSinkClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass* base_class = GST_BASE_SINK_CLASS(klass);
  gobject_class->set_property = gst_rtmp_push_sink_set_property;
  gobject_class->get_property = gst_rtmp_push_sink_get_property;
  gobject_class->finalize = gst_rtmp_push_sink_finalize;
  element_class->change_state = gst_rtmp_push_sink_change_state;
  element_class->request_new_pad = gst_rtmp_push_sink_request_new_pad;
  element_class->release_pad = gst_rtmp_push_sink_release_pad;
  base_class->render = gst_rtmp_push_sink_render;
  base_class->event = gst_rtmp_push_sink_event;
  base_class->set_caps = gst_rtmp_push_sink_set_caps;
  base_class->unlock = gst_rtmp_push_sink_unlock;
  base_class->unlock_stop = gst_rtmp_push_sink_unlock_stop;

  // Flags as rtmp2sink's: read/write; construct where its location-handler interface
  // declares them so (set to the default at construction); changeable in PLAYING where it
  // says so.
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto rw_construct = static_cast<GParamFlags>(rw | G_PARAM_CONSTRUCT);
  const auto rw_playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  auto str_prop = [&](guint id, const char* name, const char* nick, const char* blurb,
                      const char* def, GParamFlags flags) {
    g_object_class_install_property(gobject_class, id,
                                    g_param_spec_string(name, nick, blurb, def, flags));
  };
  str_prop(PROP_LOCATION, "location", "Location",
           "rtmp[s]://[user:pass@]host[:port]/application[/instance]/stream[?query] (sets "
           "scheme, host, port, application, stream, username and password; checked at "
           "READY->PAUSED)",
           DEFAULT_LOCATION, rw_construct);
  g_object_class_install_property(gobject_class, PROP_SCHEME,
                                  g_param_spec_enum("scheme", "Scheme", "RTMP connection scheme",
                                                    scheme_get_type(), DEFAULT_SCHEME, rw));
  str_prop(PROP_HOST, "host", "Host", "Server host name or IP literal (IPv6 without brackets)",
           "localhost", rw);
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int("port", "Port", "Server port (1935 for rtmp, 443 for rtmps by default)", 1,
                       65535, 1935, rw));
  str_prop(PROP_APPLICATION, "application", "Application",
           "RTMP application (the path before the stream; may contain '/')", "live", rw);
  str_prop(PROP_STREAM, "stream", "Stream", "Stream key / name, with its ?query", "myStream", rw);
  str_prop(PROP_SECURE_TOKEN, "secure-token", "Secure token",
           "Answers a server's secureToken challenge (Limelight-style, as librtmp)", nullptr,
           rw_construct);
  str_prop(PROP_USERNAME, "username", "Username", "Adobe authentication user name", nullptr, rw);
  str_prop(PROP_PASSWORD, "password", "Password", "Adobe authentication password", nullptr, rw);
  g_object_class_install_property(
      gobject_class, PROP_AUTHMOD,
      g_param_spec_enum("authmod", "Authentication mode",
                        "RTMP authentication: none, auto (when the server asks) or adobe (from "
                        "the first connect)",
                        authmod_get_type(), DEFAULT_AUTHMOD, rw_construct));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
                        "Seconds allowed for TCP connect, TLS, the RTMP handshake up to "
                        "NetStream.Publish.Start, and for a stalled write (0 = no limit)",
                        0, G_MAXUINT, DEFAULT_TIMEOUT, rw_construct));
  g_object_class_install_property(
      gobject_class, PROP_TLS_VALIDATION_FLAGS,
      g_param_spec_flags("tls-validation-flags", "TLS validation flags",
                         "Server certificate problems that refuse an rtmps connection",
                         G_TYPE_TLS_CERTIFICATE_FLAGS, DEFAULT_TLS_VALIDATION_FLAGS, rw_construct));
  str_prop(PROP_FLASH_VERSION, "flash-version", "Flash version", "flashVer sent in connect",
           DEFAULT_FLASH_VERSION, rw_construct);
  g_object_class_install_property(
      gobject_class, PROP_ASYNC_CONNECT,
      g_param_spec_boolean("async-connect", "Async connect",
                           "Connect at READY->PAUSED (TRUE) or on the first buffer (FALSE); the "
                           "state change never waits for the server",
                           DEFAULT_ASYNC_CONNECT, rw));
  g_object_class_install_property(
      gobject_class, PROP_PEAK_KBPS,
      g_param_spec_uint("peak-kbps", "Peak bitrate",
                        "Paces the socket at this many kbit/s (0 = off): SO_MAX_PACING_RATE, "
                        "else in user space",
                        0, G_MAXINT / 125, DEFAULT_PEAK_KBPS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_CHUNK_SIZE,
      g_param_spec_uint("chunk-size", "Chunk size", "Outgoing RTMP chunk size (bytes)", 1,
                        0x7FFFFFFF, DEFAULT_CHUNK_SIZE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "rtmp2sink's (in/out-chunk-size, in/out-window-ack-size, "
                         "in/out-bytes-total, in/out-bytes-acked), then connected, server, "
                         "reconnects, dropped-messages and <pad>-frames / <pad>-queued",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_STOP_COMMANDS,
      g_param_spec_flags("stop-commands", "Stop commands",
                         "RTMP commands sent on EOS before the connection closes",
                         stop_commands_get_type(), DEFAULT_STOP_COMMANDS, rw));
  str_prop(PROP_EXTRA_CONNECT_ARGS, "extra-connect-args", "Extra connect arguments",
           "librtmp-style values appended to connect: 'conn=B:1 conn=N:1.5 conn=S:text conn=Z:'",
           nullptr, rw);
  g_object_class_install_property(
      gobject_class, PROP_ENHANCED,
      g_param_spec_enum("enhanced", "Enhanced RTMP", "When to use E-RTMP (FourCC) tags",
                        enhanced_get_type(), static_cast<gint>(DEFAULT_ENHANCED), rw));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_ATTEMPTS,
      g_param_spec_int("reconnect-attempts", "Reconnect attempts",
                       "Reconnects tried after a publishing connection drops before posting an "
                       "error (-1 = forever, 0 = none)",
                       -1, G_MAXINT, DEFAULT_RECONNECT_ATTEMPTS, rw));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint("reconnect-delay", "Reconnect delay",
                        "Milliseconds before the second reconnect attempt; doubles per attempt "
                        "up to 30 s (the first is immediate)",
                        0, 60000, DEFAULT_RECONNECT_DELAY, rw));
  g_object_class_install_property(
      gobject_class, PROP_MAX_BUFFER_TIME,
      g_param_spec_uint64("max-buffer-time", "Max buffer time",
                          "Media kept while reconnecting (ns); older media is dropped up to a "
                          "keyframe",
                          0, G_MAXUINT64, DEFAULT_MAX_BUFFER_TIME, rw));
  g_object_class_install_property(
      gobject_class, PROP_INTERLEAVE_TIMEOUT,
      g_param_spec_uint("interleave-timeout", "Interleave timeout",
                        "Milliseconds a buffer of an elementary pad waits for the other pads "
                        "before it is sent anyway (sparse or late live inputs)",
                        0, 60000, DEFAULT_INTERLEAVE_TIMEOUT, rw));
  g_object_class_install_property(
      gobject_class, PROP_MULTITRACK_PACKING,
      g_param_spec_enum("multitrack-packing", "Multitrack packing",
                        "How frames of several E-RTMP tracks of one kind at one instant travel "
                        "(when multitrack is negotiated, or enhanced=always)",
                        multitrack_packing_get_type(),
                        static_cast<gint>(DEFAULT_MULTITRACK_PACKING), rw));

  gst_ertmp::install_listen_properties(gobject_class, PROP_LISTEN_FIRST);
  signals[SIGNAL_PLAY_REQUEST] =
      g_signal_new("play-request", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                   g_signal_accumulator_first_wins, nullptr, nullptr, G_TYPE_BOOLEAN, 5,
                   G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "RTMP push sink", "Sink/Network",
      "Publishes to an RTMP/RTMPS server: FLV from flvmux (as rtmp2sink), or elementary streams "
      "(H.264, H.265, AV1, VP9, AAC, Opus, ...; several tracks) as legacy FLV or Enhanced RTMP",
      "gst-ertmp developers");
  gst_ertmp::push_debug_category();
  gst_type_mark_as_plugin_api(enhanced_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(multitrack_packing_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(scheme_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(authmod_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(stop_commands_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_ertmp::sink_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
}
