// rtmppushsink: publishes to an RTMP/RTMPS server, legacy FLV or Enhanced RTMP.
//
// Inputs: a request pad `sink` of video/x-flv (drop-in for `flvmux ! rtmp2sink`), or request
// pads `video_%u` / `audio_%u` of elementary streams (the number is the E-RTMP track id; 0 is
// the default track, sent as legacy FLV where the codec allows it).
//
// Threads: upstream streaming threads only queue buffers into their pad's queue (bounded: a
// full queue blocks the chain function, which is the back-pressure towards the pipeline). One
// sender thread, started at READY->PAUSED and joined at PAUSED->READY, owns the connection: it
// connects, interleaves the queues by DTS, packages each buffer as an FLV/E-RTMP tag, writes it
// (blocking while the server's TCP window is full, bounded by `timeout`), reconnects with
// backoff when the connection drops (buffering up to `max-buffer-time` meanwhile, resuming at
// a keyframe with the same timestamp base), and finishes with FCUnpublish/deleteStream on EOS
// before posting EOS. Stopping cancels every blocking call, so state changes never hang.
#include "gst/gstrtmppushsink.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gst/location_uri.h"
#include "gst/push_connection.h"
#include "gst/push_format.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"
#include "protocol/url.h"

GST_DEBUG_CATEGORY_STATIC(rtmp_push_sink_debug);
#define GST_CAT_DEFAULT rtmp_push_sink_debug

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_SCHEME,
  PROP_HOST,
  PROP_PORT,
  PROP_APPLICATION,
  PROP_STREAM,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_FLASH_VERSION,
  PROP_CHUNK_SIZE,
  PROP_TIMEOUT,
  PROP_ASYNC_CONNECT,
  PROP_TLS_VALIDATION_FLAGS,
  PROP_EXTRA_CONNECT_ARGS,
  PROP_STOP_COMMANDS,
  PROP_SYNC,
  PROP_ENHANCED,
  PROP_RECONNECT_ATTEMPTS,
  PROP_RECONNECT_DELAY,
  PROP_MAX_BUFFER_TIME,
  PROP_INTERLEAVE_TIMEOUT,
  PROP_STATS,
};

#define DEFAULT_LOCATION "rtmp://localhost/live/myStream"
#define DEFAULT_CHUNK_SIZE 4096
#define DEFAULT_TIMEOUT 5
#define DEFAULT_ASYNC_CONNECT TRUE
#define DEFAULT_TLS_VALIDATION_FLAGS G_TLS_CERTIFICATE_VALIDATE_ALL
#define DEFAULT_FLASH_VERSION "FMLE/3.0 (compatible; gst-ertmp)"
#define DEFAULT_STOP_COMMANDS TRUE
#define DEFAULT_SYNC TRUE
#define DEFAULT_ENHANCED ENHANCED_AUTO
#define DEFAULT_RECONNECT_ATTEMPTS 10
#define DEFAULT_RECONNECT_DELAY 1000
#define DEFAULT_MAX_BUFFER_TIME (10 * GST_SECOND)
#define DEFAULT_INTERLEAVE_TIMEOUT 300

// Frames at least this large, with chunks at least this large, are sent without copying them
// (headers and slices of the mapped buffer in one writev); smaller ones are cheaper to copy.
constexpr size_t kBorrowMinBytes = 8 * 1024;
constexpr guint kBorrowMinChunk = 1024;

typedef enum { ENHANCED_AUTO = 0, ENHANCED_ALWAYS = 1 } GstRtmpPushEnhanced;

static GType gst_rtmp_push_enhanced_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {ENHANCED_AUTO,
       "Legacy FLV for track 0 where the codec has a legacy form (H.264, AAC, MP3, ...), "
       "E-RTMP otherwise",
       "auto"},
      {ENHANCED_ALWAYS, "E-RTMP (FourCC) tags for every codec that has a FourCC", "always"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstRtmpPushEnhanced", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static GstStaticPadTemplate flv_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("video/x-flv"));

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

struct Settings {
  rtmp::Url url;
  std::string flash_version = DEFAULT_FLASH_VERSION;
  guint chunk_size = DEFAULT_CHUNK_SIZE;
  guint timeout = DEFAULT_TIMEOUT;
  bool async_connect = DEFAULT_ASYNC_CONNECT;
  GTlsCertificateFlags tls_validation_flags = DEFAULT_TLS_VALIDATION_FLAGS;
  std::string extra_connect_args;
  bool stop_commands = DEFAULT_STOP_COMMANDS;
  bool sync = DEFAULT_SYNC;
  int enhanced = DEFAULT_ENHANCED;
  int reconnect_attempts = DEFAULT_RECONNECT_ATTEMPTS;
  guint reconnect_delay = DEFAULT_RECONNECT_DELAY;
  GstClockTime max_buffer_time = DEFAULT_MAX_BUFFER_TIME;
  guint interleave_timeout = DEFAULT_INTERLEAVE_TIMEOUT;
};

// One buffer waiting in a pad's queue. Elementary pads keep the GstBuffer; the FLV pad keeps
// the parsed tag body.
struct Item {
  GstBuffer* buffer = nullptr;
  uint8_t flv_type = 0;  // FLV pad: tag type
  std::vector<uint8_t> flv_body;
  std::shared_ptr<gst_ertmp::PushFormat> format;  // elementary: the caps it came with
  gint64 dts = 0;  // running time, ns (FLV pad: the tag timestamp in ns)
  gint64 pts = 0;
  gint64 sync_at = G_MININT64;  // running time to wait for with sync=true (none: MININT64)
  bool keyframe = true;
  gint64 arrival_us = 0;
};

// Shared by the pads list, the streaming thread inside chain/event and the sender thread, so
// a pad released while PLAYING stays valid until the last of them lets go.
struct Packet;

struct SinkPad {
  SinkPad() = default;
  SinkPad(const SinkPad&) = delete;
  SinkPad& operator=(const SinkPad&) = delete;
  ~SinkPad() {
    for (auto& it : queue)
      if (it.buffer) gst_buffer_unref(it.buffer);
    if (pad) gst_object_unref(pad);
  }

  GstPad* pad = nullptr;  // a reference of our own
  bool video = false;
  bool flv = false;
  guint track = 0;
  GstSegment segment;
  std::shared_ptr<gst_ertmp::PushFormat> format;  // latest caps (streaming thread, mu)
  guint bitrate = 0;  // bit/s from the pad's bitrate tags, for onMetaData (mu)
  std::deque<Item> queue;
  bool eos = false;
  bool released = false;  // release_pad ran: a chain blocked on the queue must leave
  bool got_data = false;
  gint64 last_dts = G_MININT64;
  // FLV pad: the stream header tags (metadata, sequence headers), resent on every connection.
  rtmp::FlvReader flv_reader;
  bool flv_header_seen = false;
  bool caps_streamheader = false;
  // Sender thread only: the format of the last item sent, its sequence-header version (bumped
  // when the format changes or a pending sequence header is derived) and the version this
  // connection has sent.
  std::shared_ptr<gst_ertmp::PushFormat> send_format;  // the sender's own copy (it mutates it)
  std::shared_ptr<gst_ertmp::PushFormat> send_source;  // the caps format it was copied from
  guint seq_version = 0;
  guint sent_seq_version = 0;
  // The sequence header packet of seq_version (built once per version); every media packet
  // carries the one it was packaged under, so a backlog spanning a caps change replays each
  // frame after the header it needs.
  std::shared_ptr<const Packet> seq_packet;
  guint seq_packet_version = G_MAXUINT;
  // Written by the sender, read by the stats property from another thread.
  std::atomic<guint64> frames{0};
  std::atomic<guint64> bytes{0};
};

// The media bytes of a packet, held without a copy: the mapped GstBuffer itself, or bytes
// push_format had to rewrite (AV1 without temporal delimiters). Shared, so a packet can sit in
// the backlog and be resent.
class Payload {
 public:
  explicit Payload(GstBuffer* buffer) : buffer_(buffer) {  // takes the reference
    if (!gst_buffer_map(buffer_, &map_, GST_MAP_READ)) map_ = GstMapInfo{};
  }
  explicit Payload(std::vector<uint8_t> bytes) : owned_(std::move(bytes)) {}
  ~Payload() {
    if (buffer_) {
      if (map_.memory) gst_buffer_unmap(buffer_, &map_);
      gst_buffer_unref(buffer_);
    }
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  rtmp::Bytes bytes() const {
    return buffer_ ? rtmp::Bytes(map_.data, map_.size) : rtmp::Bytes(owned_);
  }

 private:
  GstBuffer* buffer_ = nullptr;
  GstMapInfo map_{};
  std::vector<uint8_t> owned_;
};

// A packaged message, ready for the session (or for the reconnect backlog): `body`, then the
// payload's bytes when there is one (elementary frames: `body` is then only the tag header).
struct Packet {
  rtmp::MessageType type = rtmp::MessageType::kVideo;
  std::vector<uint8_t> body;
  std::shared_ptr<const Payload> payload;
  guint64 dts_ms = 0;
  bool video = false;
  bool keyframe = false;
  bool header = false;  // FLV pad stream header tag: resent on reconnect, never backlogged
  // Elementary pads: the pad (identity only) and the sequence header this frame decodes with.
  const void* pad_key = nullptr;
  std::shared_ptr<const Packet> seq;
};

constexpr size_t kMaxQueuedBuffers = 256;

}  // namespace

struct GstRtmpPushSinkPrivate;

struct _GstRtmpPushSink {
  GstElement parent;
  GstRtmpPushSinkPrivate* priv;
};

static void uri_handler_init(gpointer g_iface, gpointer iface_data);

G_DEFINE_TYPE_WITH_CODE(GstRtmpPushSink, gst_rtmp_push_sink, GST_TYPE_ELEMENT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, uri_handler_init))

struct GstRtmpPushSinkPrivate {
  explicit GstRtmpPushSinkPrivate(GstRtmpPushSink* s) : self(s) {
    auto url = rtmp::parse_url(DEFAULT_LOCATION);
    settings.url = *url;
  }

  GstRtmpPushSink* self;
  Settings settings;  // object lock

  // Pads and queues, guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<SinkPad>> pads;
  bool running = false;   // sender thread alive (READY->PAUSED .. PAUSED->READY)
  bool stopping = false;  // tell the sender and blocked chains to leave
  bool playing = false;
  GstFlowReturn flow = GST_FLOW_OK;  // set to ERROR once the element failed
  GstTagList* tags = nullptr;
  bool eos_posted = false;
  std::thread sender;
  GCancellable* cancel = nullptr;
  GstClockID clock_id = nullptr;  // the sync wait in progress, unscheduled on stop
  SinkPad* clock_pad = nullptr;   // whose buffer that wait is for
  bool clock_flushed = false;     // a FLUSH_START on clock_pad ended the wait: drop the buffer

  // Stats (mu).
  guint64 bytes_sent_total = 0;
  guint64 bytes_sent_closed = 0;  // by connections already gone
  guint reconnects = 0;
  guint64 dropped = 0;
  bool connected = false;
  std::string server;

  // Sender thread only.
  Settings run;  // settings copied at start
  std::unique_ptr<gst_ertmp::PushConnection> conn;
  std::deque<Packet> backlog;
  bool have_base = false;
  gint64 base = 0;             // running time of RTMP timestamp 0
  bool want_keyframe = false;  // after a reconnect: video resumes at a keyframe
  bool metadata_sent = false;  // on this connection, for the current formats
  std::optional<std::string> reconnect_to;

  GstElement* element() { return GST_ELEMENT(self); }

  void post_message(GstStructure* s) {
    gst_element_post_message(element(), gst_message_new_element(GST_OBJECT(self), s));
  }

  // --- pads -----------------------------------------------------------------------------

  std::shared_ptr<SinkPad> state_of(GstPad* pad) {
    for (auto& p : pads)
      if (p->pad == pad) return p;
    return nullptr;
  }

  // Running time of a timestamp on `p` (signed: B-frame DTS may precede the segment start).
  static gint64 running_time_of(const SinkPad& p, GstClockTime ts) {
    guint64 rt = 0;
    int sign = gst_segment_to_running_time_full(&p.segment, GST_FORMAT_TIME, ts, &rt);
    if (sign == 0) return 0;
    return sign > 0 ? static_cast<gint64>(rt) : -static_cast<gint64>(rt);
  }

  // Waits (chain thread, mu held) while `p`'s queue is full. False when stopping or flushing.
  bool wait_for_room(std::unique_lock<std::mutex>& lock, SinkPad* p) {
    cv.wait(lock, [&] {
      return stopping || !running || p->released || GST_PAD_IS_FLUSHING(p->pad) ||
             p->queue.size() < kMaxQueuedBuffers;
    });
    return !stopping && running && !p->released && !GST_PAD_IS_FLUSHING(p->pad);
  }

  GstFlowReturn enqueue(SinkPad* p, Item&& item) {
    std::unique_lock<std::mutex> lock(mu);
    if (flow != GST_FLOW_OK) return flow;
    if (!wait_for_room(lock, p)) return flow != GST_FLOW_OK ? flow : GST_FLOW_FLUSHING;
    item.arrival_us = g_get_monotonic_time();
    p->queue.push_back(std::move(item));
    p->got_data = true;
    cv.notify_all();
    return GST_FLOW_OK;
  }

  GstFlowReturn chain_elementary(SinkPad* p, GstBuffer* buf) {
    if (!p->format) {
      gst_buffer_unref(buf);
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps on %s", GST_PAD_NAME(p->pad)),
                        (nullptr));
      return GST_FLOW_NOT_NEGOTIATED;
    }
    if (gst_ertmp::is_stream_header_buffer(*p->format, buf)) {
      gst_buffer_unref(buf);
      return GST_FLOW_OK;
    }
    GstClockTime dts = GST_BUFFER_DTS_OR_PTS(buf);
    GstClockTime pts = GST_BUFFER_PTS_IS_VALID(buf) ? GST_BUFFER_PTS(buf) : dts;
    Item item;
    item.buffer = buf;
    item.format = p->format;
    if (GST_CLOCK_TIME_IS_VALID(dts)) {
      item.dts = running_time_of(*p, dts);
      item.pts = GST_CLOCK_TIME_IS_VALID(pts) ? running_time_of(*p, pts) : item.dts;
    } else {
      item.dts = item.pts = p->last_dts == G_MININT64 ? 0 : p->last_dts;
    }
    if (item.dts < p->last_dts) item.dts = p->last_dts;  // servers refuse backwards DTS
    if (item.pts < item.dts) item.pts = item.dts;
    p->last_dts = item.dts;
    item.sync_at = item.dts;
    item.keyframe = !p->video || !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    return enqueue(p, std::move(item));
  }

  // FLV pad: split the byte stream into tags (flvmux pushes one tag per buffer, but a
  // filesrc/other producer may not).
  GstFlowReturn chain_flv(SinkPad* p, GstBuffer* buf) {
    if (p->caps_streamheader && GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_HEADER)) {
      gst_buffer_unref(buf);  // already taken from the caps' streamheader (as rtmp2sink does)
      return GST_FLOW_OK;
    }
    GstClockTime ts = GST_BUFFER_DTS_OR_PTS(buf);
    gint64 sync_at = GST_CLOCK_TIME_IS_VALID(ts) ? running_time_of(*p, ts) : G_MININT64;
    GstMapInfo map;
    gst_buffer_map(buf, &map, GST_MAP_READ);
    rtmp::Bytes bytes(map.data, map.size);
    // A stream that starts mid-way (no "FLV" header) is fed as tags: fake the file header.
    if (!p->flv_header_seen) {
      p->flv_header_seen = true;
      if (map.size < 3 || map.data[0] != 'F' || map.data[1] != 'L' || map.data[2] != 'V') {
        std::vector<uint8_t> hdr;
        rtmp::FlvWriter::write_header(hdr, true, true);
        (void)p->flv_reader.receive(hdr);
      }
    }
    auto st = p->flv_reader.receive(bytes);
    gst_buffer_unmap(buf, &map);
    gst_buffer_unref(buf);
    GstFlowReturn ret = GST_FLOW_OK;
    while (auto tag = p->flv_reader.next_tag()) {
      if (ret != GST_FLOW_OK) continue;
      Item item;
      item.flv_type = tag->type;
      item.dts = item.pts = tag->timestamp * static_cast<gint64>(GST_MSECOND);
      item.flv_body = std::move(tag->body);
      item.sync_at = sync_at;
      item.keyframe = tag->type != 9 || item.flv_body.empty() || (item.flv_body[0] & 0x70) == 0x10;
      ret = enqueue(p, std::move(item));
    }
    if (!st.ok() && ret == GST_FLOW_OK) {
      GST_ELEMENT_ERROR(self, STREAM, DEMUX, ("Input is not a valid FLV stream"),
                        ("%s", st.error().to_string().c_str()));
      return GST_FLOW_ERROR;
    }
    return ret;
  }

  static GstFlowReturn chain(GstPad* pad, GstObject* parent, GstBuffer* buf) {
    auto* priv = GST_RTMP_PUSH_SINK(parent)->priv;
    std::shared_ptr<SinkPad> p;
    {
      std::lock_guard<std::mutex> lock(priv->mu);
      p = priv->state_of(pad);
    }
    if (!p) {
      gst_buffer_unref(buf);
      return GST_FLOW_ERROR;
    }
    return p->flv ? priv->chain_flv(p.get(), buf) : priv->chain_elementary(p.get(), buf);
  }

  bool set_caps(SinkPad* p, GstCaps* caps) {
    if (p->flv) {
      // flvmux streamable=true: the FLV header, onMetaData and sequence headers.
      const GstStructure* s = gst_caps_get_structure(caps, 0);
      const GValue* sh = gst_structure_get_value(s, "streamheader");
      if (!sh || !GST_VALUE_HOLDS_ARRAY(sh) || p->caps_streamheader) return true;
      p->caps_streamheader = true;
      for (guint i = 0; i < gst_value_array_get_size(sh); ++i) {
        const GValue* v = gst_value_array_get_value(sh, i);
        if (!GST_VALUE_HOLDS_BUFFER(v)) continue;
        GstBuffer* b = gst_buffer_ref(gst_value_get_buffer(v));
        GST_BUFFER_FLAG_UNSET(b, GST_BUFFER_FLAG_HEADER);
        p->caps_streamheader = false;  // let this one through chain_flv
        chain_flv(p, b);
        p->caps_streamheader = true;
      }
      return true;
    }
    std::string error;
    auto f = gst_ertmp::push_format_from_caps(caps, &error);
    if (!f) {
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                        ("Cannot publish %" GST_PTR_FORMAT, static_cast<gpointer>(caps)),
                        ("%s", error.c_str()));
      return false;
    }
    std::lock_guard<std::mutex> lock(mu);
    bool same = p->format && p->format->codec == f->codec &&
                p->format->sequence_header == f->sequence_header && p->format->width == f->width &&
                p->format->height == f->height && p->format->rate == f->rate &&
                p->format->channels == f->channels;
    if (!same) p->format = std::make_shared<gst_ertmp::PushFormat>(std::move(*f));
    return true;
  }

  static gboolean event(GstPad* pad, GstObject* parent, GstEvent* ev) {
    auto* priv = GST_RTMP_PUSH_SINK(parent)->priv;
    std::shared_ptr<SinkPad> sp;
    {
      std::lock_guard<std::mutex> lock(priv->mu);
      sp = priv->state_of(pad);
    }
    if (!sp) {
      gst_event_unref(ev);
      return FALSE;
    }
    SinkPad* p = sp.get();
    switch (GST_EVENT_TYPE(ev)) {
      case GST_EVENT_CAPS: {
        GstCaps* caps;
        gst_event_parse_caps(ev, &caps);
        gboolean ok = priv->set_caps(p, caps);
        gst_event_unref(ev);
        return ok;
      }
      case GST_EVENT_SEGMENT: {
        const GstSegment* seg;
        gst_event_parse_segment(ev, &seg);
        std::lock_guard<std::mutex> lock(priv->mu);
        if (seg->format == GST_FORMAT_TIME) {
          gst_segment_copy_into(seg, &p->segment);
        } else {
          gst_segment_init(&p->segment, GST_FORMAT_TIME);
        }
        gst_event_unref(ev);
        return TRUE;
      }
      case GST_EVENT_TAG: {
        GstTagList* list;
        gst_event_parse_tag(ev, &list);
        std::lock_guard<std::mutex> lock(priv->mu);
        guint rate = 0;
        if (gst_tag_list_get_uint(list, GST_TAG_BITRATE, &rate) ||
            gst_tag_list_get_uint(list, GST_TAG_NOMINAL_BITRATE, &rate)) {
          p->bitrate = rate;
        }
        if (gst_tag_list_get_scope(list) == GST_TAG_SCOPE_GLOBAL || !priv->tags) {
          GstTagList* merged = gst_tag_list_merge(priv->tags, list, GST_TAG_MERGE_REPLACE);
          if (priv->tags) gst_tag_list_unref(priv->tags);
          priv->tags = merged;
        }
        gst_event_unref(ev);
        return TRUE;
      }
      case GST_EVENT_EOS: {
        std::lock_guard<std::mutex> lock(priv->mu);
        p->eos = true;
        priv->cv.notify_all();
        gst_event_unref(ev);
        return TRUE;
      }
      case GST_EVENT_FLUSH_START: {
        std::lock_guard<std::mutex> lock(priv->mu);
        priv->cv.notify_all();  // a chain blocked on a full queue sees the flushing pad
        if (priv->clock_pad == p) {
          // The sender waits on the clock for one of this pad's buffers: it is flushed too.
          priv->clock_flushed = true;
          if (priv->clock_id) gst_clock_id_unschedule(priv->clock_id);
        }
        gst_event_unref(ev);
        return TRUE;
      }
      case GST_EVENT_FLUSH_STOP: {
        std::lock_guard<std::mutex> lock(priv->mu);
        for (auto& it : p->queue)
          if (it.buffer) gst_buffer_unref(it.buffer);
        p->queue.clear();
        p->eos = false;
        p->last_dts = G_MININT64;
        gst_segment_init(&p->segment, GST_FORMAT_TIME);
        gst_event_unref(ev);
        return TRUE;
      }
      default:
        return gst_pad_event_default(pad, parent, ev);
    }
  }

  // --- sender thread --------------------------------------------------------------------

  // The next item to send, by DTS across pads. Waits (bounded) until every pad that can still
  // deliver has something queued, a queue is full (a demuxer feeding several pads from one
  // thread must not deadlock), or the oldest item waited `interleave_timeout` (sparse live
  // streams). Returns the pad, or nullptr when nothing is ready by `deadline_us`.
  std::shared_ptr<SinkPad> pick(std::unique_lock<std::mutex>& lock, gint64 deadline_us) {
    while (!stopping) {
      std::shared_ptr<SinkPad> best;
      bool all_have = true, any_full = false;
      gint64 oldest_arrival = G_MAXINT64;
      for (auto& p : pads) {
        if (p->queue.empty()) {
          if (!p->eos) all_have = false;
          continue;
        }
        if (p->queue.size() >= kMaxQueuedBuffers) any_full = true;
        oldest_arrival = std::min(oldest_arrival, p->queue.front().arrival_us);
        if (!best || p->queue.front().dts < best->queue.front().dts) best = p;
      }
      gint64 now = g_get_monotonic_time();
      gint64 timeout_at =
          best ? oldest_arrival + gint64{run.interleave_timeout} * 1000 : deadline_us;
      if (best && (all_have || any_full || now >= timeout_at)) return best;
      gint64 until = std::min(deadline_us, best ? timeout_at : deadline_us);
      if (now >= deadline_us) return nullptr;
      cv.wait_for(lock, std::chrono::microseconds(std::max<gint64>(until - now, 100)));
    }
    return nullptr;
  }

  bool all_done_locked() {
    if (pads.empty()) return false;
    for (auto& p : pads)
      if (!p->eos || !p->queue.empty()) return false;
    return true;
  }

  guint64 rtmp_ms(gint64 running_ns) {
    if (!have_base) {
      have_base = true;
      base = running_ns;
    }
    gint64 d = running_ns - base;
    return d > 0 ? static_cast<guint64>(d / static_cast<gint64>(GST_MSECOND)) : 0;
  }

  bool enhanced_for(const SinkPad& p, const gst_ertmp::PushFormat& f) const {
    if (p.track != 0 || !f.has_legacy_form) return true;
    return run.enhanced == ENHANCED_ALWAYS && rtmp::codec_fourcc(f.codec) != 0;
  }

  // Builds the tag body of a sequence header, or only the tag header of a frame (`header_only`:
  // the payload's bytes are not read; they follow the header on the wire).
  bool build_tag(const SinkPad& p, const gst_ertmp::PushFormat& f, bool sequence_start,
                 bool header_only, rtmp::Bytes payload, bool keyframe, int32_t ct,
                 std::vector<uint8_t>& out) {
    rtmp::UnitSpec unit{static_cast<uint8_t>(p.track), f.codec, ct, payload};
    rtmp::Status st = rtmp::Ok{};
    if (p.video) {
      rtmp::VideoTagSpec spec;
      spec.frame_type = keyframe ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter;
      spec.packet = sequence_start ? rtmp::VideoPacketType::kSequenceStart
                                   : rtmp::VideoPacketType::kCodedFrames;
      spec.force_enhanced = enhanced_for(p, f);
      if (p.track != 0) spec.multitrack = rtmp::AvMultitrackType::kOneTrack;
      spec.units = {unit};
      st = header_only ? rtmp::build_video_tag_header(spec, out) : rtmp::build_video_tag(spec, out);
    } else {
      rtmp::AudioTagSpec spec;
      spec.packet = sequence_start ? rtmp::AudioPacketType::kSequenceStart
                                   : rtmp::AudioPacketType::kCodedFrames;
      spec.force_enhanced = enhanced_for(p, f);
      if (p.track != 0) spec.multitrack = rtmp::AvMultitrackType::kOneTrack;
      spec.sound_rate = f.sound_rate;
      spec.sound_size = f.sound_size;
      spec.sound_type = f.sound_type;
      spec.units = {unit};
      st = header_only ? rtmp::build_audio_tag_header(spec, out) : rtmp::build_audio_tag(spec, out);
    }
    if (!st.ok()) {
      GST_WARNING_OBJECT(self, "cannot package %s: %s", GST_PAD_NAME(p.pad),
                         st.error().to_string().c_str());
      return false;
    }
    return true;
  }

  Packet sequence_header_packet(const SinkPad& p, guint64 dts_ms) {
    Packet pk;
    pk.video = p.video;
    pk.type = p.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
    pk.dts_ms = dts_ms;
    pk.header = true;
    pk.keyframe = true;
    build_tag(p, *p.send_format, true, false, p.send_format->sequence_header, true, 0, pk.body);
    return pk;
  }

  // The pad's current sequence header packet (nullptr when its format has none).
  std::shared_ptr<const Packet> current_seq(SinkPad& p) {
    if (!p.send_format || p.send_format->sequence_header.empty()) return nullptr;
    if (p.seq_packet_version != p.seq_version || !p.seq_packet) {
      p.seq_packet = std::make_shared<const Packet>(sequence_header_packet(p, 0));
      p.seq_packet_version = p.seq_version;
    }
    return p.seq_packet;
  }
  static Packet at_dts(const Packet& header, guint64 dts_ms) {
    Packet h = header;
    h.dts_ms = dts_ms;
    return h;
  }

  rtmp::amf::Value metadata() {
    std::optional<gst_ertmp::PushFormat> v, a;  // copies: bitrate filled in from the tags
    bool v_enh = false, a_enh = false;
    GstTagList* t = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& p : pads) {
        auto f = p->send_format ? p->send_format : p->format;
        if (p->flv || !f || p->track != 0) continue;
        auto& slot = p->video ? v : a;
        if (slot) continue;
        slot = *f;
        slot->bitrate = static_cast<int>(std::min<guint>(p->bitrate, G_MAXINT));
        (p->video ? v_enh : a_enh) = enhanced_for(*p, *f);
      }
      if (tags) t = gst_tag_list_ref(tags);
    }
    rtmp::amf::Value m =
        gst_ertmp::build_metadata(v ? &*v : nullptr, v_enh, a ? &*a : nullptr, a_enh, t);
    if (t) gst_tag_list_unref(t);
    return m;
  }

  // Sends (or backlogs) one packet; false when the connection failed.
  bool deliver(Packet&& pk, std::string* why) {
    if (!conn) {
      if (!pk.header) backlog_push(std::move(pk));
      return true;
    }
    // Large frames go out zero-copy: the session refers to the mapped buffer (or the tag body)
    // between the chunk headers and flush() writes both with one writev. `pk` holds them until
    // flush returns; on failure the connection is dropped, never flushed again.
    // FLV-pad tags have no separate payload: their whole body is the large part.
    const rtmp::Bytes head = pk.payload ? rtmp::Bytes(pk.body) : rtmp::Bytes();
    const rtmp::Bytes media = pk.payload ? pk.payload->bytes() : rtmp::Bytes(pk.body);
    auto st = media.size() >= kBorrowMinBytes && run.chunk_size >= kBorrowMinChunk
                  ? conn->session().send_message_borrowed(pk.type, head, media, pk.dts_ms)
                  : conn->session().send_message(pk.type, head, media, pk.dts_ms);
    gst_ertmp::PushFailure f;
    if (!st.ok() || !conn->flush(&f)) {
      *why = st.ok() ? f.message : st.error().to_string();
      if (!pk.header) backlog_push(std::move(pk));
      return false;
    }
    std::lock_guard<std::mutex> lock(mu);
    bytes_sent_total = bytes_sent_closed + conn->bytes_sent();
    return true;
  }

  // Keeps at most max-buffer-time of media for the next connection, starting at a video
  // keyframe when there is video.
  void backlog_push(Packet&& pk) {
    backlog.push_back(std::move(pk));
    const guint64 keep_ms = run.max_buffer_time / GST_MSECOND;
    auto span = [this] {  // a late pad's packet may sit behind a later one
      guint64 a = backlog.front().dts_ms, b = backlog.back().dts_ms;
      return b > a ? b - a : 0;
    };
    size_t dropped_now = 0;
    while (!backlog.empty() && span() > keep_ms) {
      backlog.pop_front();
      ++dropped_now;
      // Drop on to the next keyframe so the next connection starts decodable.
      while (!backlog.empty() && backlog.front().video && !backlog.front().keyframe) {
        backlog.pop_front();
        ++dropped_now;
      }
    }
    if (dropped_now) {
      std::lock_guard<std::mutex> lock(mu);
      dropped += dropped_now;
    }
  }

  // Metadata, every known sequence header, then the backlog from its first keyframe.
  bool start_connection(std::string* why) {
    want_keyframe = true;
    while (!backlog.empty() && backlog.front().video && !backlog.front().keyframe)
      backlog.pop_front();
    const guint64 ts = backlog.empty() ? 0 : backlog.front().dts_ms;
    bool flv_mode = false;
    std::vector<Packet> headers;
    // Per elementary pad: the sequence header sent last on this connection. Each starts with
    // the one its first backlogged frame needs (the current one without a backlog).
    std::map<const void*, std::shared_ptr<const Packet>> sent;
    // Each pad's header now, for after the backlog.
    std::vector<std::pair<const void*, std::shared_ptr<const Packet>>> current;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& p : pads) {
        if (p->flv) flv_mode = true;
        p->sent_seq_version = 0;
        if (p->flv) continue;
        std::shared_ptr<const Packet> first;
        for (const Packet& b : backlog) {
          if (b.pad_key == p.get()) {
            first = b.seq;
            break;
          }
        }
        auto now = current_seq(*p);
        if (!first) first = now;
        if (first) {
          headers.push_back(at_dts(*first, ts));
          sent[p.get()] = first;
        }
        current.emplace_back(p.get(), now);
        p->sent_seq_version = p->seq_version;
      }
    }
    metadata_sent = false;
    if (flv_mode) {
      for (const auto& h : flv_headers) headers.push_back(h);
      for (auto& h : headers) h.dts_ms = ts;
    } else if (!backlog.empty() && !send_metadata(ts, why)) {
      return false;
    }
    for (auto& h : headers) {
      if (!deliver(std::move(h), why)) return false;
    }
    std::deque<Packet> pending;
    pending.swap(backlog);
    guint64 last_dts = ts;
    while (!pending.empty()) {
      Packet pk = std::move(pending.front());
      pending.pop_front();
      if (pk.video && !pk.keyframe && want_keyframe) {
        std::lock_guard<std::mutex> lock(mu);
        ++dropped;  // video resumes at a keyframe; audio in between still goes
        continue;
      }
      if (pk.video) want_keyframe = false;
      // A caps change during the outage: the frames after it need the new header first.
      if (pk.seq && pk.pad_key && sent[pk.pad_key] != pk.seq) {
        if (!deliver(at_dts(*pk.seq, pk.dts_ms), why)) {
          backlog_push(std::move(pk));
          for (auto& rest : pending) backlog_push(std::move(rest));
          return false;
        }
        sent[pk.pad_key] = pk.seq;
      }
      last_dts = pk.dts_ms;
      if (!deliver(std::move(pk), why)) {
        for (auto& rest : pending) backlog_push(std::move(rest));
        return false;
      }
    }
    // Live frames follow with the pads' current headers: resend any the backlog left behind.
    for (const auto& [key, header] : current) {
      if (header && sent[key] != header && !deliver(at_dts(*header, last_dts), why)) return false;
    }
    return true;
  }

  // onMetaData, once per connection and again after a caps change, before the media it
  // describes (not at connect: the pads' caps may not all be known then).
  bool send_metadata(guint64 ts, std::string* why) {
    if (!conn || metadata_sent) return true;
    auto st = conn->session().send_metadata(metadata(), ts);
    if (!st.ok()) {
      *why = st.error().to_string();
      return false;
    }
    metadata_sent = true;
    return true;
  }

  // FLV pad headers (onMetaData, sequence headers), latest per kind.
  std::vector<Packet> flv_headers;

  void remember_flv_header(const Packet& pk) {
    for (auto& h : flv_headers) {
      if (h.type == pk.type) {
        h = pk;
        return;
      }
    }
    flv_headers.push_back(pk);
  }

  // Packages the item taken off `p`'s queue: the frame, preceded by the pad's sequence header
  // when this connection has not sent the current one. Empty when the item is skipped.
  std::vector<Packet> package(SinkPad* p, Item&& item) {
    std::vector<Packet> out;
    Packet pk;
    pk.dts_ms = p->flv ? static_cast<guint64>(std::max<gint64>(item.dts, 0) / GST_MSECOND)
                       : rtmp_ms(item.dts);
    pk.keyframe = item.keyframe;
    if (p->flv) {
      pk.type = static_cast<rtmp::MessageType>(item.flv_type);
      pk.video = item.flv_type == 9;
      if (item.flv_type == 18) {
        // onMetaData from flvmux: publish it as @setDataFrame (rtmp2sink does the same).
        rtmp::Message m;
        m.type = 18;
        m.payload = std::move(item.flv_body);
        auto dm = rtmp::parse_data_message(m);
        if (dm.ok() && dm->handler == "onMetaData" && !dm->values.empty()) {
          pk.body = rtmp::build_set_data_frame(dm->values[0]).payload;
          pk.header = true;
          remember_flv_header(pk);
        } else {
          pk.body = std::move(m.payload);
        }
        out.push_back(std::move(pk));
        return out;
      }
      if (item.flv_type != 8 && item.flv_type != 9) return out;
      pk.body = std::move(item.flv_body);
      auto tag = rtmp::parse_flv_tag(static_cast<rtmp::TagType>(item.flv_type), pk.body);
      if (tag.ok() && !tag->units.empty() &&
          tag->units[0].packet == rtmp::PacketKind::kSequenceStart) {
        pk.header = true;
        remember_flv_header(pk);
      }
      p->frames++;
      out.push_back(std::move(pk));
      return out;
    }
    if (item.format != p->send_source) {
      // A copy: frame_payload() may complete its sequence header while the streaming thread
      // still reads the caps' format.
      p->send_source = item.format;
      p->send_format = std::make_shared<gst_ertmp::PushFormat>(*item.format);
      ++p->seq_version;
      if (p->track == 0) metadata_sent = false;  // describe the new format
    }
    gst_ertmp::PushFormat& f = *p->send_format;
    pk.video = p->video;
    pk.type = p->video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
    auto mapped = std::make_shared<const Payload>(item.buffer);  // owns the buffer now
    std::vector<uint8_t> converted;
    bool as_is = true;
    std::string error;
    const bool was_pending = f.sequence_header_pending;
    bool ok = gst_ertmp::frame_payload(f, mapped->bytes(), converted, &as_is, &error);
    if (ok && was_pending && !f.sequence_header_pending) ++p->seq_version;
    if (ok && f.sequence_header_pending) {
      // VP8/VP9 without a profile in caps: nothing is decodable before the key frame that
      // gives the sequence header.
      GST_DEBUG_OBJECT(self, "dropping a frame on %s before its sequence header",
                       GST_PAD_NAME(p->pad));
      ok = false;
    } else if (ok) {
      pk.payload = as_is ? mapped : std::make_shared<const Payload>(std::move(converted));
      // CT from the rounded PTS and DTS, not rounded on its own (OBS 31.1's off-by-one fix).
      gint64 ct_ms = static_cast<gint64>(rtmp_ms(item.pts)) - static_cast<gint64>(pk.dts_ms);
      ok = build_tag(*p, f, false, true, pk.payload->bytes(), item.keyframe,
                     static_cast<int32_t>(ct_ms), pk.body);
    } else {
      GST_WARNING_OBJECT(self, "dropping a malformed buffer on %s: %s", GST_PAD_NAME(p->pad),
                         error.c_str());
    }
    if (!ok) return out;
    pk.pad_key = p;
    pk.seq = current_seq(*p);
    if (p->sent_seq_version != p->seq_version) {
      if (pk.seq) out.push_back(at_dts(*pk.seq, pk.dts_ms));
      p->sent_seq_version = p->seq_version;
    }
    p->frames++;
    p->bytes += pk.body.size() + pk.payload->bytes().size();
    out.push_back(std::move(pk));
    return out;
  }

  // Reads what the server sent (acks, pings, onStatus, a reconnect request) and flushes our
  // answers; a failed connection is dropped with the reason in `why`.
  void service_connection(std::string* why) {
    if (!conn) return;
    gst_ertmp::PushFailure f;
    if (!conn->poll(&f)) {
      *why = f.message;
      drop_connection(*why);
    } else if (auto to = conn->take_reconnect_request()) {
      reconnect_to = *to;
    }
  }

  // Waits for the clock to reach `running_ns` (sync=true) for a buffer of `pad`: only in
  // PLAYING (a pause in between waits for PLAYING again, then for the new base time), and
  // servicing the connection at least once a second so a long wait or pause does not look
  // dead to the server. False when stopping or when the pad was flushed meanwhile (the buffer
  // is then dropped).
  bool wait_clock(SinkPad* pad, gint64 running_ns, std::string* why) {
    if (!run.sync) return true;
    std::unique_lock<std::mutex> lock(mu);
    clock_pad = pad;
    clock_flushed = false;
    auto done = [this](bool send) {
      clock_pad = nullptr;
      clock_flushed = false;
      return send;
    };
    for (;;) {
      while (!stopping && !playing && !clock_flushed) {
        if (!cv.wait_for(lock, std::chrono::seconds(1),
                         [this] { return stopping || playing || clock_flushed; })) {
          lock.unlock();
          service_connection(why);
          lock.lock();
        }
      }
      if (stopping || clock_flushed) return done(false);
      GstClock* clock = gst_element_get_clock(element());
      if (!clock) return done(true);
      const GstClockTime at = gst_element_get_base_time(element()) +
                              static_cast<GstClockTime>(std::max<gint64>(running_ns, 0));
      const GstClockTime now = gst_clock_get_time(clock);
      if (now >= at) {
        gst_object_unref(clock);
        return done(true);
      }
      const GstClockTime step = std::min<GstClockTime>(at, now + GST_SECOND);
      clock_id = gst_clock_new_single_shot_id(clock, step);
      GstClockID id = clock_id;
      lock.unlock();
      GstClockReturn r = gst_clock_id_wait(id, nullptr);
      gst_object_unref(clock);
      if (r == GST_CLOCK_OK && step < at) service_connection(why);
      lock.lock();
      gst_clock_id_unref(id);
      clock_id = nullptr;
      // Round again: reached, paused (unscheduled), flushed or stopping.
    }
  }

  // Closes the connection (no goodbye: it failed). A connection that lived less than 10 s
  // counts as a failed attempt, so a server that accepts and then drops us gets the backoff
  // and, at the end, an error instead of an endless loop.
  void drop_connection(const std::string& why) {
    GST_WARNING_OBJECT(self, "connection to %s lost: %s", run.url.to_string().c_str(), why.c_str());
    forget_connection();
    if (g_get_monotonic_time() - connected_since_us >= 10 * G_USEC_PER_SEC) attempts = 0;
    if (!schedule_retry()) give_up = true;
  }
  void forget_connection() {
    std::lock_guard<std::mutex> lock(mu);
    if (conn) bytes_sent_closed += conn->bytes_sent();
    conn.reset();
    connected = false;
  }
  // The next attempt: at once the first time, then reconnect-delay doubling up to 30 s.
  // False when reconnect-attempts are used up.
  bool schedule_retry() {
    ++attempts;
    if (run.reconnect_attempts >= 0 && attempts > run.reconnect_attempts) return false;
    gint64 delay_ms =
        attempts == 1
            ? 0
            : std::min<gint64>(gint64{run.reconnect_delay} << std::min(attempts - 2, 5), 30'000);
    next_attempt_us = g_get_monotonic_time() + delay_ms * 1000;
    return true;
  }
  int attempts = 0;
  gint64 next_attempt_us = 0;
  gint64 connected_since_us = 0;
  bool give_up = false;

  gst_ertmp::PushTarget target() {
    gst_ertmp::PushTarget t;
    t.config.url = run.url;
    t.config.flash_ver = run.flash_version;
    t.config.out_chunk_size = run.chunk_size;
    t.config.username = run.url.username;
    t.config.password = run.url.password;
    t.config.capabilities = rtmp::client_capabilities(
        {"avc1", "hvc1", "av01", "vp09", "vp08"}, {"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"},
        rtmp::kCapsExReconnect | rtmp::kCapsExMultitrack);
    t.config.extra_connect_args = parse_connect_args(run.extra_connect_args);
    t.timeout_s = run.timeout;
    t.tls_validation_flags = run.tls_validation_flags;
    return t;
  }

  // librtmp-style "conn=B:1 conn=N:1.5 conn=S:text" (the subset rtmp2sink takes).
  static std::vector<rtmp::amf::Value> parse_connect_args(const std::string& text) {
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

  // Connects once. Fatal failures (first connection, stream refused) post the bus error.
  enum class ConnectResult { kOk, kRetry, kFatal };
  ConnectResult connect(bool first) {
    gst_ertmp::PushFailure f;
    auto c = gst_ertmp::PushConnection::open(target(), cancel, &f);
    if (f.cancelled || g_cancellable_is_cancelled(cancel)) return ConnectResult::kFatal;
    if (!c) {
      GST_WARNING_OBJECT(self, "publishing to %s failed: %s %s", run.url.to_string().c_str(),
                         f.status_code.c_str(), f.message.c_str());
      if (first || f.rejected) {
        std::string code = f.status_code.empty() ? "" : " (" + f.status_code + ")";
        if (f.rejected) {
          GST_ELEMENT_ERROR(
              self, RESOURCE, NOT_AUTHORIZED,
              ("The server refused to publish %s%s", run.url.to_string().c_str(), code.c_str()),
              ("%s", f.message.c_str()));
        } else {
          GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE,
                            ("Could not publish to %s", run.url.to_string().c_str()),
                            ("%s", f.message.c_str()));
        }
        return ConnectResult::kFatal;
      }
      return ConnectResult::kRetry;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      conn = std::move(c);
      connected = true;
      server = conn->fms_ver();
    }
    GST_INFO_OBJECT(self, "publishing to %s (server '%s')", run.url.to_string().c_str(),
                    conn->fms_ver().c_str());
    post_message(gst_structure_new("rtmppushsink-connected", "location", G_TYPE_STRING,
                                   run.url.to_string().c_str(), "server", G_TYPE_STRING,
                                   conn->fms_ver().c_str(), "enhanced", G_TYPE_BOOLEAN,
                                   conn->server_caps().present_any, nullptr));
    return ConnectResult::kOk;
  }

  void fail_flow() {
    std::lock_guard<std::mutex> lock(mu);
    flow = GST_FLOW_ERROR;
    cv.notify_all();
  }

  void sender_loop() {
    bool ever_connected = false;
    attempts = 0;
    next_attempt_us = 0;
    give_up = false;
    std::string why;
    for (;;) {
      if (give_up) {
        GST_ELEMENT_ERROR(self, RESOURCE, WRITE,
                          ("Connection to %s lost and %d reconnect attempts failed",
                           run.url.to_string().c_str(), run.reconnect_attempts),
                          ("%s", why.c_str()));
        fail_flow();
        break;
      }
      // 1. (Re)connect when it is time.
      bool want_connect;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        bool any_data = false;
        for (auto& p : pads) any_data |= p->got_data;
        want_connect = !conn && (run.async_connect || any_data || ever_connected) &&
                       g_get_monotonic_time() >= next_attempt_us;
      }
      if (want_connect) {
        if (ever_connected) {
          post_message(gst_structure_new("rtmppushsink-reconnecting", "attempt", G_TYPE_INT,
                                         attempts + 1, "reason", G_TYPE_STRING, why.c_str(),
                                         nullptr));
        }
        ConnectResult r = connect(!ever_connected);
        if (r == ConnectResult::kFatal) {
          fail_flow();
          break;
        }
        if (r == ConnectResult::kRetry) {
          if (!schedule_retry()) give_up = true;
          continue;
        }
        if (ever_connected) {
          std::lock_guard<std::mutex> lock(mu);
          ++reconnects;
        }
        ever_connected = true;
        connected_since_us = g_get_monotonic_time();
        if (!start_connection(&why)) drop_connection(why);
      }

      // 2. The next buffer by DTS (bounded wait, so reconnect timers and input polling run).
      std::shared_ptr<SinkPad> p;
      Item item;
      bool done;
      {
        std::unique_lock<std::mutex> lock(mu);
        gint64 deadline = g_get_monotonic_time() + 50'000;
        if (!conn && next_attempt_us > g_get_monotonic_time())
          deadline = std::min(deadline, next_attempt_us);
        p = pick(lock, deadline);
        if (stopping) break;
        if (p) {
          item = std::move(p->queue.front());
          p->queue.pop_front();
          cv.notify_all();  // room for the chain function
        }
        // Everything is in: done once it is delivered (a backlog waits for the reconnect,
        // which either delivers it or gives up with an error).
        done = !p && all_done_locked() && (conn || backlog.empty());
      }
      if (done) {
        finish();
        break;
      }
      service_connection(&why);
      if (!p) continue;
      if (item.sync_at != G_MININT64 && !wait_clock(p.get(), item.sync_at, &why)) {
        if (item.buffer) gst_buffer_unref(item.buffer);
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!stopping) continue;  // flushed while waiting: that buffer is gone
        }
        break;
      }
      std::vector<Packet> packets = package(p.get(), std::move(item));
      if (!p->flv && !packets.empty() && !send_metadata(packets.front().dts_ms, &why)) {
        drop_connection(why);
      }
      for (Packet& pk : packets) {
        // E-RTMP reconnect request: switch servers at a keyframe (or at once without video).
        if (reconnect_to && conn && !pk.header && (pk.keyframe || !pk.video)) {
          auto next = rtmp::resolve_reconnect_url(run.url, *reconnect_to);
          reconnect_to.reset();
          if (next.ok()) {
            GST_INFO_OBJECT(self, "reconnecting to %s as the server asked",
                            next->to_string().c_str());
            conn->close(200);
            forget_connection();  // not a failure: no attempt counted, reconnect at once
            run.url = *next;
            why = "server reconnect request";
            next_attempt_us = 0;
          }
        }
        if (conn && want_keyframe && pk.video && !pk.keyframe && !pk.header) {
          std::lock_guard<std::mutex> lock(mu);
          ++dropped;  // a new connection resumes video at a keyframe
          continue;
        }
        if (conn && pk.video && !pk.header) want_keyframe = false;
        if (!deliver(std::move(pk), &why)) drop_connection(why);
      }
    }
  }

  // All pads at EOS and drained: unpublish cleanly, then EOS on the bus.
  void finish() {
    if (conn) {
      if (run.stop_commands) {
        conn->close(1000);
      }
      conn.reset();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      connected = false;
      flow = GST_FLOW_EOS;  // the sender is done: later buffers are refused, not queued forever
      cv.notify_all();
      if (eos_posted) return;
      eos_posted = true;
    }
    GST_INFO_OBJECT(self, "all inputs finished: unpublished, posting EOS");
    gst_element_post_message(element(), gst_message_new_eos(GST_OBJECT(self)));
  }

  // --- lifecycle --------------------------------------------------------------------------

  bool start() {
    GST_OBJECT_LOCK(self);
    run = settings;
    GST_OBJECT_UNLOCK(self);
    if (run.url.host.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No host set"), (nullptr));
      return false;
    }
    if (run.url.stream.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                        ("No stream (key) in %s", run.url.to_string().c_str()), (nullptr));
      return false;
    }
    conn.reset();
    backlog.clear();
    flv_headers.clear();
    have_base = false;
    want_keyframe = false;
    reconnect_to.reset();
    cancel = g_cancellable_new();
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = false;
      running = true;
      flow = GST_FLOW_OK;
      eos_posted = false;
      bytes_sent_total = 0;
      reconnects = 0;
      dropped = 0;
      for (auto& p : pads) {
        p->eos = false;
        p->got_data = false;
        p->last_dts = G_MININT64;
        p->frames = p->bytes = 0;
        gst_segment_init(&p->segment, GST_FORMAT_TIME);
        p->flv_reader = rtmp::FlvReader();
        p->flv_header_seen = false;
        p->send_format.reset();
        p->send_source.reset();
        p->caps_streamheader = false;
        p->released = false;
        p->seq_version = p->sent_seq_version = 0;
      }
    }
    sender = std::thread([this] { sender_loop(); });
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
      running = false;
      if (clock_id) gst_clock_id_unschedule(clock_id);
      cv.notify_all();
    }
    if (cancel) g_cancellable_cancel(cancel);
    if (sender.joinable()) sender.join();
    conn.reset();
    backlog.clear();
    if (cancel) {
      g_object_unref(cancel);
      cancel = nullptr;
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& p : pads) {
      for (auto& it : p->queue)
        if (it.buffer) gst_buffer_unref(it.buffer);
      p->queue.clear();
    }
    connected = false;
  }

  GstStructure* stats() {
    std::lock_guard<std::mutex> lock(mu);
    GstStructure* s = gst_structure_new(
        "rtmppushsink-stats", "connected", G_TYPE_BOOLEAN, connected, "server", G_TYPE_STRING,
        server.c_str(), "out-bytes-total", G_TYPE_UINT64, bytes_sent_total, "reconnects",
        G_TYPE_UINT, reconnects, "dropped-messages", G_TYPE_UINT64, dropped, nullptr);
    for (auto& p : pads) {
      std::string name = GST_PAD_NAME(p->pad);
      gst_structure_set(s, (name + "-frames").c_str(), G_TYPE_UINT64, p->frames.load(),
                        (name + "-queued").c_str(), G_TYPE_UINT,
                        static_cast<guint>(p->queue.size()), nullptr);
    }
    return s;
  }
};

// --- GObject ------------------------------------------------------------------------------

static void gst_rtmp_push_sink_init(GstRtmpPushSink* self) {
  self->priv = new GstRtmpPushSinkPrivate(self);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}

static void gst_rtmp_push_sink_finalize(GObject* object) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  if (self->priv->tags) gst_tag_list_unref(self->priv->tags);
  delete self->priv;
  G_OBJECT_CLASS(gst_rtmp_push_sink_parent_class)->finalize(object);
}

static GstPad* gst_rtmp_push_sink_request_new_pad(GstElement* element, GstPadTemplate* templ,
                                                  const gchar* name, const GstCaps*) {
  auto* self = GST_RTMP_PUSH_SINK(element);
  auto* priv = self->priv;
  const gchar* tname = GST_PAD_TEMPLATE_NAME_TEMPLATE(templ);
  bool flv = g_strcmp0(tname, "sink") == 0;
  bool video = g_strcmp0(tname, "video_%u") == 0;
  std::unique_lock<std::mutex> lock(priv->mu);
  bool have_flv = false, have_elementary = false;
  for (auto& p : priv->pads) (p->flv ? have_flv : have_elementary) = true;
  if ((flv && (have_flv || have_elementary)) || (!flv && have_flv)) {
    GST_WARNING_OBJECT(self, "the FLV pad 'sink' excludes every other pad");
    return nullptr;
  }
  guint track = 0;
  if (!flv) {
    // "video_N" / "audio_N" asks for track N; no number takes the lowest free one.
    if (name && strchr(name, '%')) name = nullptr;
    if (name && sscanf(name + 6, "%u", &track) != 1) name = nullptr;
    if (!name) {
      for (;;) {
        bool taken = false;
        for (auto& p : priv->pads) taken |= !p->flv && p->video == video && p->track == track;
        if (!taken) break;
        ++track;
      }
    }
    if (track > 255) return nullptr;
    for (auto& p : priv->pads) {
      if (!p->flv && p->video == video && p->track == track) return nullptr;
    }
  }
  std::string pad_name =
      flv ? "sink" : std::string(video ? "video_" : "audio_") + std::to_string(track);
  auto state = std::make_shared<SinkPad>();
  state->flv = flv;
  state->video = video;
  state->track = track;
  gst_segment_init(&state->segment, GST_FORMAT_TIME);
  GstPad* pad = gst_pad_new_from_template(templ, pad_name.c_str());
  state->pad = GST_PAD(gst_object_ref(pad));
  gst_pad_set_chain_function(pad, GstRtmpPushSinkPrivate::chain);
  gst_pad_set_event_function(pad, GstRtmpPushSinkPrivate::event);
  priv->pads.push_back(std::move(state));
  lock.unlock();  // pad-added handlers run inside add_pad and may call back into us
  gst_element_add_pad(element, pad);
  return pad;
}

static void gst_rtmp_push_sink_release_pad(GstElement* element, GstPad* pad) {
  auto* priv = GST_RTMP_PUSH_SINK(element)->priv;
  {
    std::lock_guard<std::mutex> lock(priv->mu);
    for (auto it = priv->pads.begin(); it != priv->pads.end(); ++it) {
      if ((*it)->pad != pad) continue;
      (*it)->released = true;
      priv->pads.erase(it);  // the queue goes with the last holder
      break;
    }
    priv->cv.notify_all();
  }
  gst_element_remove_pad(element, pad);
}

static bool apply_location(GstRtmpPushSink* self, const gchar* uri) {
  auto url = rtmp::parse_url(uri ? uri : "");
  if (!url.ok()) {
    GST_WARNING_OBJECT(self, "bad location '%s': %s", uri, url.error().to_string().c_str());
    return false;
  }
  self->priv->settings.url = *url;
  return true;
}

static void gst_rtmp_push_sink_set_property(GObject* object, guint prop_id, const GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  GST_OBJECT_LOCK(self);
  Settings& s = self->priv->settings;
  auto str = [value] {
    return std::string(g_value_get_string(value) ? g_value_get_string(value) : "");
  };
  switch (prop_id) {
    case PROP_LOCATION:
      apply_location(self, g_value_get_string(value));
      break;
    case PROP_SCHEME: {
      std::string v = str();
      if (v == "rtmp" || v == "rtmps") {
        if (!s.url.port_explicit) s.url.port = v == "rtmps" ? 443 : 1935;
        s.url.scheme = v;
      }
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
    case PROP_USERNAME:
      s.url.username = str();
      break;
    case PROP_PASSWORD:
      s.url.password = str();
      break;
    case PROP_FLASH_VERSION:
      s.flash_version = str();
      break;
    case PROP_CHUNK_SIZE:
      s.chunk_size = g_value_get_uint(value);
      break;
    case PROP_TIMEOUT:
      s.timeout = g_value_get_uint(value);
      break;
    case PROP_ASYNC_CONNECT:
      s.async_connect = g_value_get_boolean(value);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      s.tls_validation_flags = static_cast<GTlsCertificateFlags>(g_value_get_flags(value));
      break;
    case PROP_EXTRA_CONNECT_ARGS:
      s.extra_connect_args = str();
      break;
    case PROP_STOP_COMMANDS:
      s.stop_commands = g_value_get_boolean(value);
      break;
    case PROP_SYNC:
      s.sync = g_value_get_boolean(value);
      break;
    case PROP_ENHANCED:
      s.enhanced = g_value_get_enum(value);
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
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_rtmp_push_sink_get_property(GObject* object, guint prop_id, GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_RTMP_PUSH_SINK(object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, self->priv->stats());
    return;
  }
  GST_OBJECT_LOCK(self);
  const Settings& s = self->priv->settings;
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string(value, s.url.to_string().c_str());
      break;
    case PROP_SCHEME:
      g_value_set_string(value, s.url.scheme.c_str());
      break;
    case PROP_HOST:
      g_value_set_string(value, s.url.host.c_str());
      break;
    case PROP_PORT:
      g_value_set_int(value, s.url.port);
      break;
    case PROP_APPLICATION:
      g_value_set_string(value, s.url.app.c_str());
      break;
    case PROP_STREAM:
      g_value_set_string(value, s.url.stream.c_str());
      break;
    case PROP_USERNAME:
      g_value_set_string(value, s.url.username.c_str());
      break;
    case PROP_PASSWORD:
      g_value_set_string(value, s.url.password.c_str());
      break;
    case PROP_FLASH_VERSION:
      g_value_set_string(value, s.flash_version.c_str());
      break;
    case PROP_CHUNK_SIZE:
      g_value_set_uint(value, s.chunk_size);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, s.timeout);
      break;
    case PROP_ASYNC_CONNECT:
      g_value_set_boolean(value, s.async_connect);
      break;
    case PROP_TLS_VALIDATION_FLAGS:
      g_value_set_flags(value, s.tls_validation_flags);
      break;
    case PROP_EXTRA_CONNECT_ARGS:
      g_value_set_string(value, s.extra_connect_args.c_str());
      break;
    case PROP_STOP_COMMANDS:
      g_value_set_boolean(value, s.stop_commands);
      break;
    case PROP_SYNC:
      g_value_set_boolean(value, s.sync);
      break;
    case PROP_ENHANCED:
      g_value_set_enum(value, s.enhanced);
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
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static GstStateChangeReturn gst_rtmp_push_sink_change_state(GstElement* element,
                                                            GstStateChange transition) {
  auto* self = GST_RTMP_PUSH_SINK(element);
  auto* priv = self->priv;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!priv->start()) return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING: {
      std::lock_guard<std::mutex> lock(priv->mu);
      priv->playing = true;
      priv->cv.notify_all();
      break;
    }
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED: {
      std::lock_guard<std::mutex> lock(priv->mu);
      priv->playing = false;
      if (priv->clock_id) gst_clock_id_unschedule(priv->clock_id);
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      priv->stop();  // before the pads deactivate: a chain blocked on a full queue returns
      break;
    default:
      break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_rtmp_push_sink_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE && transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    priv->stop();
  }
  return ret;
}

// --- URI handler ------------------------------------------------------------------------------

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
  gobject_class->set_property = gst_rtmp_push_sink_set_property;
  gobject_class->get_property = gst_rtmp_push_sink_get_property;
  gobject_class->finalize = gst_rtmp_push_sink_finalize;
  element_class->change_state = gst_rtmp_push_sink_change_state;
  element_class->request_new_pad = gst_rtmp_push_sink_request_new_pad;
  element_class->release_pad = gst_rtmp_push_sink_release_pad;

  auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_MUTABLE_READY);
  auto str_prop = [&](guint id, const char* name, const char* nick, const char* blurb,
                      const char* def) {
    g_object_class_install_property(gobject_class, id,
                                    g_param_spec_string(name, nick, blurb, def, flags));
  };
  str_prop(PROP_LOCATION, "location", "Location",
           "rtmp[s]://[user:pass@]host[:port]/application[/instance]/stream[?query] (sets "
           "scheme, host, port, application, stream, username and password)",
           DEFAULT_LOCATION);
  str_prop(PROP_SCHEME, "scheme", "Scheme", "rtmp or rtmps", "rtmp");
  str_prop(PROP_HOST, "host", "Host", "Server host name or IP literal (IPv6 without brackets)",
           "localhost");
  g_object_class_install_property(
      gobject_class, PROP_PORT,
      g_param_spec_int("port", "Port", "Server port (1935 for rtmp, 443 for rtmps by default)", 1,
                       65535, 1935, flags));
  str_prop(PROP_APPLICATION, "application", "Application",
           "RTMP application (the path before the stream; may contain '/')", "live");
  str_prop(PROP_STREAM, "stream", "Stream", "Stream key / name, with its ?query", "myStream");
  str_prop(PROP_USERNAME, "username", "Username", "Adobe authentication user name", nullptr);
  str_prop(PROP_PASSWORD, "password", "Password", "Adobe authentication password", nullptr);
  str_prop(PROP_FLASH_VERSION, "flash-version", "Flash version", "flashVer sent in connect",
           DEFAULT_FLASH_VERSION);
  str_prop(PROP_EXTRA_CONNECT_ARGS, "extra-connect-args", "Extra connect arguments",
           "librtmp-style values appended to connect: 'conn=B:1 conn=N:1.5 conn=S:text conn=Z:'",
           nullptr);
  g_object_class_install_property(
      gobject_class, PROP_CHUNK_SIZE,
      g_param_spec_uint("chunk-size", "Chunk size", "Outgoing RTMP chunk size (bytes)", 128,
                        0x7FFFFFFF, DEFAULT_CHUNK_SIZE, flags));
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
                        "Seconds allowed for TCP connect, TLS, the RTMP handshake up to "
                        "NetStream.Publish.Start, and for a stalled write",
                        1, 3600, DEFAULT_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_ASYNC_CONNECT,
      g_param_spec_boolean("async-connect", "Async connect",
                           "Connect at READY->PAUSED (TRUE) or on the first buffer (FALSE); the "
                           "state change never waits for the server",
                           DEFAULT_ASYNC_CONNECT, flags));
  g_object_class_install_property(
      gobject_class, PROP_TLS_VALIDATION_FLAGS,
      g_param_spec_flags("tls-validation-flags", "TLS validation flags",
                         "Server certificate problems that refuse an rtmps connection",
                         G_TYPE_TLS_CERTIFICATE_FLAGS, DEFAULT_TLS_VALIDATION_FLAGS, flags));
  g_object_class_install_property(
      gobject_class, PROP_STOP_COMMANDS,
      g_param_spec_boolean("stop-commands", "Stop commands",
                           "Send FCUnpublish + deleteStream on EOS before closing",
                           DEFAULT_STOP_COMMANDS, flags));
  g_object_class_install_property(
      gobject_class, PROP_SYNC,
      g_param_spec_boolean("sync", "Sync",
                           "Send each buffer at its running time on the pipeline clock (as "
                           "rtmp2sink); FALSE pushes as fast as the server takes it",
                           DEFAULT_SYNC, flags));
  g_object_class_install_property(
      gobject_class, PROP_ENHANCED,
      g_param_spec_enum("enhanced", "Enhanced RTMP", "When to use E-RTMP (FourCC) tags",
                        gst_rtmp_push_enhanced_get_type(), DEFAULT_ENHANCED, flags));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_ATTEMPTS,
      g_param_spec_int("reconnect-attempts", "Reconnect attempts",
                       "Reconnects tried after a publishing connection drops before posting an "
                       "error (-1 = forever, 0 = none)",
                       -1, G_MAXINT, DEFAULT_RECONNECT_ATTEMPTS, flags));
  g_object_class_install_property(
      gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint("reconnect-delay", "Reconnect delay",
                        "Milliseconds before the second reconnect attempt; doubles per attempt "
                        "up to 30 s (the first is immediate)",
                        0, 60000, DEFAULT_RECONNECT_DELAY, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_BUFFER_TIME,
      g_param_spec_uint64("max-buffer-time", "Max buffer time",
                          "Media kept while reconnecting (ns); older media is dropped up to a "
                          "keyframe",
                          0, G_MAXUINT64, DEFAULT_MAX_BUFFER_TIME, flags));
  g_object_class_install_property(
      gobject_class, PROP_INTERLEAVE_TIMEOUT,
      g_param_spec_uint("interleave-timeout", "Interleave timeout",
                        "Milliseconds a buffer waits for the other pads before it is sent "
                        "anyway (sparse or late live inputs)",
                        0, 60000, DEFAULT_INTERLEAVE_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "connected, server, out-bytes-total, reconnects, dropped-messages, and "
                         "<pad>-frames / <pad>-queued per pad",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  // `sink` first: an upstream whose caps are unknown at link time (filesrc of an FLV file,
  // appsrc) gets the FLV pad; elementary pads are then asked for by name (s.audio_0).
  gst_element_class_add_static_pad_template(element_class, &flv_template);
  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "RTMP push sink", "Sink/Network",
      "Publishes to an RTMP/RTMPS server: FLV from flvmux, or elementary streams (H.264, H.265, "
      "AV1, VP9, AAC, Opus, ...; several tracks) as legacy FLV or Enhanced RTMP",
      "gst-ertmp developers");
  GST_DEBUG_CATEGORY_INIT(rtmp_push_sink_debug, "rtmppushsink", 0, "RTMP push sink");
  gst_type_mark_as_plugin_api(gst_rtmp_push_enhanced_get_type(), static_cast<GstPluginAPIFlags>(0));
}
