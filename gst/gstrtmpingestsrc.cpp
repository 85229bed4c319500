// rtmpingestsrc: RTMP/E-RTMP publishers (OBS, ffmpeg, encoders) push straight into the pipeline.
//
// Threads: the shared IngestServer's connection thread of the bound publisher calls into this
// element (on_media & co.) and pushes on the source pads itself, so downstream back-pressure
// slows the publisher through TCP. State changes: READY->PAUSED binds/routes, PAUSED->READY
// deactivates the pads first (unblocking a push), then unroutes and waits for the connection
// thread to leave the element (bounded).
#include "gst/gstrtmpingestsrc.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gst/codec_caps.h"
#include "gst/ingest_server.h"
#include "gst/location_uri.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "protocol/url.h"

GST_DEBUG_CATEGORY_STATIC(rtmp_ingest_src_debug);
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
};

enum { SIGNAL_PUBLISH_REQUEST, LAST_SIGNAL };

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

struct Settings {
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
};

std::shared_ptr<GTlsCertificate> adopt_certificate(GTlsCertificate* cert) {
  if (!cert) return nullptr;
  return std::shared_ptr<GTlsCertificate>(cert, [](GTlsCertificate* c) { g_object_unref(c); });
}

struct Track {
  GstPad* pad = nullptr;
  GstCaps* caps = nullptr;
  bool discont = true;
  guint64 frames = 0;
  guint64 bytes = 0;
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
  std::shared_ptr<gst_ertmp::IngestServer> server;
  guint bound_port = 0;

  // Publisher state: written by the bound connection thread; read by stats under stats_mu.
  std::mutex stats_mu;
  std::map<std::pair<bool, guint>, Track> tracks;
  gst_ertmp::PublisherInfo publisher;
  bool publishing = false;
  bool ended = false;  // EOS sent: later publishers are refused until READY
  gint64 publish_started_us = 0;
  guint64 total_bytes = 0;
  bool have_offset = false;
  GstClockTimeDiff ts_offset = 0;  // running time - RTMP time, per publish
  GstClockTime max_dts = 0;        // highest DTS pushed on any pad, across publishers
  GstTagList* tags = nullptr;
  bool flow_error_posted = false;
  bool flv_mode = false;  // copied from the settings at start
  Track flv_track;
  bool flv_header_sent = false;

  GstElement* element() { return GST_ELEMENT(self); }

  Settings copy_settings() {
    GST_OBJECT_LOCK(self);
    Settings s = settings;
    GST_OBJECT_UNLOCK(self);
    return s;
  }

  GstClockTime running_time_now() {
    GstClock* clock = gst_element_get_clock(element());
    if (!clock) return GST_CLOCK_TIME_NONE;
    GstClockTime now = gst_clock_get_time(clock);
    gst_object_unref(clock);
    GstClockTime base = gst_element_get_base_time(element());
    return now > base ? now - base : 0;
  }

  // The first message of a publish starts at the running time now, and never before what an
  // earlier publisher pushed (a takeover follows it within milliseconds, and a real-time
  // publisher runs a little ahead of the clock), so DTS stay monotonic on every pad.
  void set_offset(GstClockTime now, uint64_t rtmp_ts) {
    GstClockTime base = GST_CLOCK_TIME_IS_VALID(now) ? now : 0;
    base = std::max(base, max_dts);
    ts_offset =
        static_cast<GstClockTimeDiff>(base) - static_cast<GstClockTimeDiff>(rtmp_ts * GST_MSECOND);
    have_offset = true;
  }

  void post_message(GstStructure* s) {
    gst_element_post_message(element(), gst_message_new_element(GST_OBJECT(self), s));
  }

  // --- IngestRoute --------------------------------------------------------------------------

  bool on_publish_request(const gst_ertmp::PublisherInfo& info, std::string* reason) override {
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
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      publisher = info;
      publishing = true;
      publish_started_us = g_get_monotonic_time();
    }
    have_offset = false;
    for (auto& [key, t] : tracks) t.discont = true;
    flv_track.discont = true;
    GST_INFO_OBJECT(self, "publisher %s connected: app '%s' stream '%s' (%s)", info.peer.c_str(),
                    info.app.c_str(), info.stream.c_str(), info.flash_ver.c_str());
    post_message(gst_structure_new(
        "rtmpingestsrc-publisher-connected", "peer", G_TYPE_STRING, info.peer.c_str(),
        "application", G_TYPE_STRING, info.app.c_str(), "stream-key", G_TYPE_STRING,
        info.stream.c_str(), "encoder", G_TYPE_STRING, info.flash_ver.c_str(), nullptr));
    return true;
  }

  Track& track_for(bool video, guint id) {
    auto& t = tracks[{video, id}];
    if (t.pad) return t;
    std::string name = std::string(video ? "video_" : "audio_") + std::to_string(id);
    GstPadTemplate* tmpl = gst_static_pad_template_get(video ? &video_template : &audio_template);
    t.pad = gst_pad_new_from_template(tmpl, name.c_str());
    gst_object_unref(tmpl);
    gst_pad_set_query_function(t.pad, pad_query);
    gst_pad_use_fixed_caps(t.pad);
    gst_pad_set_active(t.pad, TRUE);
    gchar* stream_id = gst_pad_create_stream_id(t.pad, element(), name.c_str());
    gst_pad_push_event(t.pad, gst_event_new_stream_start(stream_id));
    g_free(stream_id);
    return t;
  }

  void ensure_pad_added(Track& t) {
    if (GST_OBJECT_PARENT(t.pad)) return;
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    gst_pad_push_event(t.pad, gst_event_new_segment(&segment));
    if (tags) gst_pad_push_event(t.pad, gst_event_new_tag(gst_tag_list_ref(tags)));
    gst_element_add_pad(element(), t.pad);
  }

  void set_caps(Track& t, GstCaps* caps) {
    if (t.caps && gst_caps_is_equal(t.caps, caps)) {
      gst_caps_unref(caps);
      return;
    }
    GST_INFO_OBJECT(self, "%s caps %" GST_PTR_FORMAT, GST_PAD_NAME(t.pad),
                    static_cast<gpointer>(caps));
    gst_caps_replace(&t.caps, caps);
    gst_pad_push_event(t.pad, gst_event_new_caps(caps));
    gst_caps_unref(caps);
    ensure_pad_added(t);
  }

  // FLV output mode: every message becomes one FLV tag (header first), like rtmp2src emits.
  void push_flv(uint8_t type, uint64_t rtmp_ts, rtmp::Bytes body) {
    Track& t = flv_track;
    if (!t.pad) {
      GstPadTemplate* tmpl = gst_static_pad_template_get(&flv_template);
      t.pad = gst_pad_new_from_template(tmpl, "src");
      gst_object_unref(tmpl);
      gst_pad_set_query_function(t.pad, pad_query);
      gst_pad_use_fixed_caps(t.pad);
      gst_pad_set_active(t.pad, TRUE);
      gchar* stream_id = gst_pad_create_stream_id(t.pad, element(), "flv");
      gst_pad_push_event(t.pad, gst_event_new_stream_start(stream_id));
      g_free(stream_id);
      set_caps(t, gst_caps_new_empty_simple("video/x-flv"));
    }
    GstClockTime now = running_time_now();
    if (!have_offset) set_offset(now, rtmp_ts);
    std::vector<uint8_t> bytes;
    if (!flv_header_sent) {
      rtmp::FlvWriter::write_header(bytes, true, true);
      flv_header_sent = true;
    }
    rtmp::FlvWriter::write_tag(bytes, type, static_cast<int64_t>(rtmp_ts), body);
    auto* holder = new std::vector<uint8_t>(std::move(bytes));
    GstBuffer* buf = gst_buffer_new_wrapped_full(
        GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
        [](gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); });
    GstClockTimeDiff dts = ts_offset + static_cast<GstClockTimeDiff>(rtmp_ts * GST_MSECOND);
    GST_BUFFER_DTS(buf) = dts >= 0 ? static_cast<GstClockTime>(dts) : 0;
    max_dts = std::max(max_dts, GST_BUFFER_DTS(buf));
    if (t.discont) {
      GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
      t.discont = false;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++t.frames;
      t.bytes += body.size();
      total_bytes += body.size();
    }
    GstFlowReturn ret = gst_pad_push(t.pad, buf);
    if ((ret < GST_FLOW_EOS || ret == GST_FLOW_NOT_NEGOTIATED) && !flow_error_posted) {
      flow_error_posted = true;
      GST_ELEMENT_FLOW_ERROR(self, ret);
    }
  }

  void on_media(rtmp::MediaReceived&& media) override {
    if (flv_mode) {
      push_flv(media.message.type, media.message.timestamp, media.message.payload);
      return;
    }
    if (media.tag_error) {
      on_peer_warning(publisher.peer, "skipped a media message: " + media.tag_error->to_string());
      return;
    }
    const uint64_t rtmp_ts = media.message.timestamp;
    GstClockTime now = running_time_now();
    if (!have_offset) set_offset(now, rtmp_ts);
    auto* holder = new std::vector<uint8_t>(std::move(media.message.payload));
    GstBuffer* whole = gst_buffer_new_wrapped_full(
        GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
        [](gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); });
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      total_bytes += holder->size();
    }
    for (const auto& u : media.tag.units) {
      if (u.packet == rtmp::PacketKind::kSilence || u.packet == rtmp::PacketKind::kCommand ||
          u.packet == rtmp::PacketKind::kSequenceEnd || u.packet == rtmp::PacketKind::kMetadata ||
          u.packet == rtmp::PacketKind::kMpeg2TsSequenceStart) {
        continue;
      }
      Track& t = track_for(u.video, u.track_id);
      gst_ertmp::StreamFormat fmt;
      fmt.codec = u.codec;
      fmt.sound_rate = u.sound_rate;
      fmt.sound_size = u.sound_size;
      fmt.sound_type = u.sound_type;
      if (u.packet == rtmp::PacketKind::kSequenceStart ||
          u.packet == rtmp::PacketKind::kMultichannelConfig) {
        fmt.sequence_header = rtmp::Bytes(holder->data() + u.offset, u.size);
        if (u.packet == rtmp::PacketKind::kMultichannelConfig) {
          fmt.sequence_header = {};
          fmt.channels_hint = u.multichannel.channel_count;
        }
        std::string error;
        GstCaps* caps = gst_ertmp::caps_for(fmt, &error);
        if (!caps) {
          on_peer_warning(publisher.peer, "unusable sequence header on " +
                                              std::string(GST_PAD_NAME(t.pad)) + ": " + error);
          continue;
        }
        set_caps(t, caps);
        continue;
      }
      if (!t.caps) {
        if (gst_ertmp::needs_sequence_header(u.codec)) {
          GST_DEBUG_OBJECT(self, "dropping a %s frame before its sequence header",
                           rtmp::codec_name(u.codec));
          continue;
        }
        std::string error;
        GstCaps* caps = gst_ertmp::caps_for(fmt, &error);
        if (!caps) {
          on_peer_warning(publisher.peer, error);
          continue;
        }
        set_caps(t, caps);
      }
      GstBuffer* buf = gst_buffer_copy_region(whole, GST_BUFFER_COPY_MEMORY, u.offset, u.size);
      GstClockTimeDiff dts = ts_offset + static_cast<GstClockTimeDiff>(rtmp_ts * GST_MSECOND);
      GstClockTimeDiff pts = dts + static_cast<GstClockTimeDiff>(u.composition_time) * GST_MSECOND +
                             static_cast<GstClockTimeDiff>(u.nano_offset);
      GST_BUFFER_DTS(buf) = dts >= 0 ? static_cast<GstClockTime>(dts) : 0;
      GST_BUFFER_PTS(buf) = pts >= 0 ? static_cast<GstClockTime>(pts) : 0;
      max_dts = std::max(max_dts, GST_BUFFER_DTS(buf));
      if (u.video && !u.keyframe) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
      if (t.discont) {
        GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
        t.discont = false;
      }
      {
        std::lock_guard<std::mutex> lock(stats_mu);
        ++t.frames;
        t.bytes += u.size;
      }
      GstFlowReturn ret = gst_pad_push(t.pad, buf);
      if (ret < GST_FLOW_EOS || ret == GST_FLOW_NOT_NEGOTIATED) {
        if (!flow_error_posted) {
          flow_error_posted = true;
          GST_ELEMENT_FLOW_ERROR(self, ret);
        }
      }
    }
    gst_buffer_unref(whole);
  }

  void on_metadata(rtmp::MetadataReceived&& md) override {
    if (flv_mode) {
      // flvdemux wants the plain script tag: "@setDataFrame" is a publishing wrapper.
      rtmp::Message plain = rtmp::build_data_message(md.handler, md.values);
      push_flv(18, md.message.timestamp, plain.payload);
      return;
    }
    if (md.handler != "onMetaData" || md.values.empty()) return;
    const rtmp::amf::Value& m = md.values[0];
    GstTagList* list = gst_tag_list_new_empty();
    std::string encoder = m.get_string("encoder");
    if (encoder.empty()) encoder = m.get_string("metadatacreator");
    if (!encoder.empty())
      gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_ENCODER, encoder.c_str(), nullptr);
    std::string title = m.get_string("title");
    if (!title.empty())
      gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, title.c_str(), nullptr);
    if (auto rate = m.get_number("videodatarate"); rate && *rate > 0) {
      gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_NOMINAL_BITRATE,
                       static_cast<guint>(*rate * 1024), nullptr);
    }
    if (tags) gst_tag_list_unref(tags);
    tags = list;
    for (auto& [key, t] : tracks) {
      if (t.pad && GST_OBJECT_PARENT(t.pad)) {
        gst_pad_push_event(t.pad, gst_event_new_tag(gst_tag_list_ref(tags)));
      }
    }
    gchar* text = g_strdup(rtmp::amf::to_string(m).c_str());
    post_message(
        gst_structure_new("rtmpingestsrc-metadata", "metadata", G_TYPE_STRING, text, nullptr));
    g_free(text);
  }

  void on_publisher_gone(bool clean, const std::string& why, bool replaced) override {
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      peer = publisher.peer;
      publishing = false;
    }
    GST_INFO_OBJECT(self, "publisher %s gone (%s): %s", peer.c_str(),
                    replaced ? "taken over"
                    : clean  ? "clean"
                             : "dropped",
                    why.c_str());
    post_message(gst_structure_new(
        "rtmpingestsrc-publisher-disconnected", "peer", G_TYPE_STRING, peer.c_str(), "clean",
        G_TYPE_BOOLEAN, clean, "replaced", G_TYPE_BOOLEAN, replaced, "reason", G_TYPE_STRING,
        replaced ? "taken over by a new publisher" : why.c_str(), nullptr));
    // A takeover continues the pads with the next publisher (DISCONT, monotonic DTS).
    if (!replaced && copy_settings().on_disconnect == ON_DISCONNECT_EOS) {
      ended = true;
      if (flv_track.pad && GST_OBJECT_PARENT(flv_track.pad)) {
        gst_pad_push_event(flv_track.pad, gst_event_new_eos());
      }
      for (auto& [key, t] : tracks) {
        if (t.pad && GST_OBJECT_PARENT(t.pad)) gst_pad_push_event(t.pad, gst_event_new_eos());
      }
      if (tracks.empty() && !flv_track.pad) {
        // Nothing was ever linked: still tell the application the stream is over.
        post_message(gst_structure_new_empty("rtmpingestsrc-eos"));
      }
    }
  }

  void on_peer_warning(const std::string& peer, const std::string& what) override {
    GST_WARNING_OBJECT(self, "%s: %s", peer.c_str(), what.c_str());
    post_message(gst_structure_new("rtmpingestsrc-peer-warning", "peer", G_TYPE_STRING,
                                   peer.c_str(), "message", G_TYPE_STRING, what.c_str(), nullptr));
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
    std::lock_guard<std::mutex> lock(stats_mu);
    GstStructure* s = gst_structure_new(
        "rtmpingestsrc-stats", "publishing", G_TYPE_BOOLEAN, publishing, "peer", G_TYPE_STRING,
        publisher.peer.c_str(), "application", G_TYPE_STRING, publisher.app.c_str(), "stream-key",
        G_TYPE_STRING, publisher.stream.c_str(), "bytes", G_TYPE_UINT64, total_bytes, "uptime",
        G_TYPE_UINT64,
        publishing ? static_cast<guint64>(g_get_monotonic_time() - publish_started_us) * 1000 : 0,
        nullptr);
    for (const auto& [key, t] : tracks) {
      std::string name = std::string(key.first ? "video_" : "audio_") + std::to_string(key.second);
      gst_structure_set(s, (name + "-frames").c_str(), G_TYPE_UINT64, t.frames,
                        (name + "-bytes").c_str(), G_TYPE_UINT64, t.bytes, nullptr);
    }
    return s;
  }

  void reset_tracks() {
    auto drop = [this](Track& t) {
      if (!t.pad) return;
      if (GST_OBJECT_PARENT(t.pad)) {
        gst_element_remove_pad(element(), t.pad);
      } else {
        gst_object_unref(t.pad);
      }
      if (t.caps) gst_caps_unref(t.caps);
      t = Track{};
    };
    drop(flv_track);
    flv_header_sent = false;
    for (auto& [key, t] : tracks) drop(t);
    std::lock_guard<std::mutex> lock(stats_mu);
    tracks.clear();
    publishing = false;
    total_bytes = 0;
    max_dts = 0;
  }
};

static void gst_rtmp_ingest_src_init(GstRtmpIngestSrc* self) {
  self->priv = new GstRtmpIngestSrcPrivate(self);
}

static void gst_rtmp_ingest_src_finalize(GObject* object) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  if (self->priv->tags) gst_tag_list_unref(self->priv->tags);
  delete self->priv;
  G_OBJECT_CLASS(gst_rtmp_ingest_src_parent_class)->finalize(object);
}

static bool apply_location(GstRtmpIngestSrc* self, const gchar* uri) {
  auto url = rtmp::parse_url(uri ? uri : "");
  if (!url.ok()) {
    GST_WARNING_OBJECT(self, "bad location '%s': %s", uri, url.error().to_string().c_str());
    return false;
  }
  Settings& s = self->priv->settings;
  s.address = url->host;
  s.port = url->port;
  s.application = url->app;
  s.stream_key = url->stream;
  return true;
}

static void gst_rtmp_ingest_src_set_property(GObject* object, guint prop_id, const GValue* value,
                                             GParamSpec* pspec) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  GST_OBJECT_LOCK(self);
  Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      apply_location(self, g_value_get_string(value));
      break;
    case PROP_ADDRESS:
      s.address = g_value_get_string(value) ? g_value_get_string(value) : DEFAULT_ADDRESS;
      break;
    case PROP_PORT:
      s.port = g_value_get_uint(value);
      break;
    case PROP_APPLICATION:
      s.application = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_STREAM_KEY:
      s.stream_key = g_value_get_string(value) ? g_value_get_string(value) : "";
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
      s.tls_certificate_file = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_TLS_KEY_FILE:
      s.tls_key_file = g_value_get_string(value) ? g_value_get_string(value) : "";
      break;
    case PROP_ALLOW_TAKEOVER:
      s.allow_takeover = g_value_get_boolean(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_rtmp_ingest_src_get_property(GObject* object, guint prop_id, GValue* value,
                                             GParamSpec* pspec) {
  auto* self = GST_RTMP_INGEST_SRC(object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, self->priv->stats());
    return;
  }
  GST_OBJECT_LOCK(self);
  const Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION: {
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
    case PROP_BOUND_PORT:
      g_value_set_int(value, self->priv->server ? static_cast<int>(self->priv->bound_port) : -1);
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
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

// The certificate the listener presents: the tls-certificate object, else the PEM files, else
// none (plain rtmp). Posts RESOURCE/SETTINGS and returns false when the files do not load.
static bool load_certificate(GstRtmpIngestSrc* self, const Settings& s,
                             std::shared_ptr<GTlsCertificate>* cert) {
  if (s.tls_certificate) {
    *cert = s.tls_certificate;
    return true;
  }
  if (s.tls_certificate_file.empty()) {
    if (!s.tls_key_file.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                        ("tls-key-file is set but tls-certificate-file is not"), (nullptr));
      return false;
    }
    return true;
  }
  GError* err = nullptr;
  GTlsCertificate* loaded =
      s.tls_key_file.empty() ? g_tls_certificate_new_from_file(s.tls_certificate_file.c_str(), &err)
                             : g_tls_certificate_new_from_files(s.tls_certificate_file.c_str(),
                                                                s.tls_key_file.c_str(), &err);
  if (!loaded) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, SETTINGS,
        ("Could not load the TLS certificate '%s'%s%s", s.tls_certificate_file.c_str(),
         s.tls_key_file.empty() ? "" : " with key ", s.tls_key_file.c_str()),
        ("%s", err ? err->message : "unknown error"));
    g_clear_error(&err);
    return false;
  }
  *cert = adopt_certificate(loaded);
  // Without its key the certificate loads, and every handshake would fail: say so now.
  GByteArray* key = nullptr;
  g_object_get(loaded, "private-key", &key, nullptr);
  if (!key) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, SETTINGS,
        ("The TLS certificate '%s' has no private key", s.tls_certificate_file.c_str()),
        ("set tls-key-file, or put the key in the certificate file"));
    cert->reset();
    return false;
  }
  g_byte_array_unref(key);
  return true;
}

static bool start(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  Settings s = p->copy_settings();
  if (s.port > 65535) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid port %u", s.port), (nullptr));
    return false;
  }
  std::shared_ptr<GTlsCertificate> cert;
  if (!load_certificate(self, s, &cert)) return false;
  gst_ertmp::ServerSettings server_settings;
  server_settings.max_connections = s.max_connections;
  server_settings.limits.handshake_timeout_ms = uint64_t{s.handshake_timeout} * 1000;
  server_settings.limits.idle_timeout_ms = uint64_t{s.idle_timeout} * 1000;
  server_settings.certificate = cert.get();
  GError* err = nullptr;
  auto server = gst_ertmp::IngestServer::acquire(s.address, static_cast<guint16>(s.port),
                                                 server_settings, &err);
  if (!server && g_error_matches(err, G_IO_ERROR, gst_ertmp::kListenerMismatch)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Elements sharing %s:%u disagree about TLS", s.address.c_str(), s.port),
                      ("%s", err->message));
    g_clear_error(&err);
    return false;
  }
  if (!server) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Could not listen on %s:%u", s.address.c_str(), s.port),
                      ("%s", err ? err->message : "unknown error"));
    g_clear_error(&err);
    return false;
  }
  if (!server->add_route(s.application, s.stream_key, p, s.allow_takeover)) {
    GST_ELEMENT_ERROR(self, RESOURCE, BUSY,
                      ("Another rtmpingestsrc already serves application '%s' stream key '%s' "
                       "on port %u",
                       s.application.c_str(), s.stream_key.c_str(), server->bound_port()),
                      (nullptr));
    return false;
  }
  p->ended = false;
  p->flow_error_posted = false;
  p->flv_mode = s.output_mode == OUTPUT_FLV;
  GST_OBJECT_LOCK(self);
  p->server = server;
  p->bound_port = server->bound_port();
  GST_OBJECT_UNLOCK(self);
  g_object_notify(G_OBJECT(self), "bound-port");
  GST_INFO_OBJECT(self, "serving %s://%s:%u/%s/%s", cert ? "rtmps" : "rtmp", s.address.c_str(),
                  p->bound_port, s.application.c_str(), s.stream_key.c_str());
  return true;
}

static void stop(GstRtmpIngestSrc* self) {
  auto* p = self->priv;
  std::shared_ptr<gst_ertmp::IngestServer> server;
  GST_OBJECT_LOCK(self);
  server = std::move(p->server);
  GST_OBJECT_UNLOCK(self);
  if (server && !server->remove_route(p)) {
    GST_WARNING_OBJECT(self, "a connection thread did not leave in time");
  }
  server.reset();
  p->reset_tracks();
}

static GstStateChangeReturn gst_rtmp_ingest_src_change_state(GstElement* element,
                                                             GstStateChange transition) {
  auto* self = GST_RTMP_INGEST_SRC(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start(self)) {
    return GST_STATE_CHANGE_FAILURE;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_rtmp_ingest_src_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) stop(self);
    return ret;
  }
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;  // live source
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      stop(self);  // pads are deactivated by now: a blocked push has returned
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
  static const gchar* protocols[] = {"rtmp", nullptr};
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
      g_param_spec_string("location", "Location",
                          "Listen URI rtmp://ADDRESS:PORT/APPLICATION/STREAM-KEY (sets address, "
                          "port, application and stream-key)",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address", "Address to listen on (IPv4 or IPv6 literal)",
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
                        "Connections accepted at once on the listener (first element wins)", 1,
                        100000, DEFAULT_MAX_CONNECTIONS, flags));
  g_object_class_install_property(
      gobject_class, PROP_HANDSHAKE_TIMEOUT,
      g_param_spec_uint("handshake-timeout", "Handshake timeout",
                        "Seconds a peer has to complete the RTMP handshake (on an rtmps "
                        "port: the TLS and the RTMP handshake, counted from the connection; "
                        "0 = none)",
                        0, 3600, DEFAULT_HANDSHAKE_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_IDLE_TIMEOUT,
      g_param_spec_uint("idle-timeout", "Idle timeout",
                        "Seconds without any byte from a peer, or with a send to it blocked, "
                        "before it is dropped (0 = no idle limit; sends then give up after 30 s)",
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
                           "A new publisher of the stream while one is live replaces it (the old "
                           "connection is closed, the pads continue without EOS); when false the "
                           "new one is refused with NetStream.Publish.BadName",
                           DEFAULT_ALLOW_TAKEOVER, flags));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "publishing, peer, application, stream-key, bytes, uptime (ns), and "
                         "<pad>-frames / <pad>-bytes per track",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  signals[SIGNAL_PUBLISH_REQUEST] =
      g_signal_new("publish-request", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                   g_signal_accumulator_first_wins, nullptr, nullptr, G_TYPE_BOOLEAN, 5,
                   G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

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
}
