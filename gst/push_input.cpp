#include "gst/push_input.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "gst/push_debug.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

namespace gst_ertmp {
namespace {

// Buffers a pad may hold before its chain blocks (back-pressure towards its upstream).
constexpr size_t kMaxQueuedBuffers = 256;

PushInput* input_of(GstPad* pad) {
  return static_cast<PushInput*>(gst_pad_get_element_private(pad));
}

}  // namespace

struct PushInput::InputPad {
  InputPad() = default;
  InputPad(const InputPad&) = delete;
  InputPad& operator=(const InputPad&) = delete;
  ~InputPad() {
    clear_queue();
    if (pad) gst_object_unref(pad);
  }
  void clear_queue() {
    for (auto& it : queue) gst_buffer_unref(it.buffer);
    queue.clear();
  }

  GstPad* pad = nullptr;  // a reference of our own
  TrackKey key;
  std::string name;
  GstSegment segment;
  std::shared_ptr<const PushFormat> format;  // latest caps (mu_)
  std::deque<Item> queue;
  bool eos = false;
  bool end_sent = false;  // kTrackEndEvent went to the base sink for this EOS
  bool released = false;  // release_pad ran: a chain blocked on the queue must leave
  bool flushing = false;  // between FLUSH_START and FLUSH_STOP
  // Whether upstream is live (a latency query; unknown counts as live): others wait for a
  // live pad at most interleave-timeout, for a non-live one until it delivers.
  bool live = true;
  bool live_known = false;
  gint64 last_dts = G_MININT64;
  std::atomic<guint64> frames{0};  // handed to render()
};

PushInput::PushInput(GstElement* element, GstPad* sink_pad, StreamDescription& description)
    : element_(element), sink_pad_(sink_pad), description_(description) {
  feeder_ = gst_pad_new("elementary", GST_PAD_SRC);
  gst_object_ref_sink(feeder_);
  gst_pad_set_element_private(feeder_, this);
  gst_pad_set_event_function(feeder_, PushInput::feeder_event);
  gst_pad_set_query_function(feeder_, PushInput::feeder_query);
}

PushInput::~PushInput() {
  begin_stop();
  join();
  if (gst_pad_is_linked(feeder_)) gst_pad_unlink(feeder_, sink_pad_);
  gst_object_unref(feeder_);
}

bool PushInput::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !pads_.empty();
}

std::shared_ptr<PushInput::InputPad> PushInput::state_of(GstPad* pad) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : pads_)
    if (p->pad == pad) return p;
  return nullptr;
}

// --- request pads --------------------------------------------------------------------------

GstPad* PushInput::request_pad(GstPadTemplate* templ, const gchar* name) {
  const bool video = g_strcmp0(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video_%u") == 0;
  std::unique_lock<std::mutex> lock(mu_);
  GstPad* peer = gst_pad_get_peer(sink_pad_);
  const bool sink_linked_outside = peer && peer != feeder_;
  if (peer) gst_object_unref(peer);
  if (sink_linked_outside) {
    GST_WARNING_OBJECT(element_, "the FLV pad 'sink' is linked: it excludes elementary pads");
    return nullptr;
  }
  // "video_N" / "audio_N" asks for track N; no number takes the lowest free one.
  guint track = 0;
  if (name && strchr(name, '%')) name = nullptr;
  if (name && sscanf(name + 6, "%u", &track) != 1) name = nullptr;
  auto taken = [&](guint t) {
    for (auto& p : pads_)
      if (p->key.video == video && p->key.id == t) return true;
    return false;
  };
  if (!name) {
    while (taken(track)) ++track;
  }
  if (track > 255 || taken(track)) return nullptr;
  auto state = std::make_shared<InputPad>();
  state->key = TrackKey{video, static_cast<uint8_t>(track)};
  state->name = std::string(video ? "video_" : "audio_") + std::to_string(track);
  gst_segment_init(&state->segment, GST_FORMAT_TIME);
  GstPad* pad = gst_pad_new_from_template(templ, state->name.c_str());
  state->pad = GST_PAD(gst_object_ref(pad));
  gst_pad_set_element_private(pad, this);
  gst_pad_set_chain_function(pad, PushInput::chain);
  gst_pad_set_event_function(pad, PushInput::event);
  GST_OBJECT_FLAG_SET(pad, GST_PAD_FLAG_PROXY_CAPS);
  const bool first = pads_.empty();
  pads_.push_back(std::move(state));
  if (first) {
    need_stream_start_ = need_segment_ = true;
    gst_pad_link_full(feeder_, sink_pad_, GST_PAD_LINK_CHECK_NOTHING);
  }
  lock.unlock();  // pad-added handlers run inside add_pad and may call back into us
  gst_element_add_pad(element_, pad);
  return pad;
}

void PushInput::release_pad(GstPad* pad) {
  std::shared_ptr<InputPad> gone;
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pads_.begin(); it != pads_.end(); ++it) {
      if ((*it)->pad != pad) continue;
      gone = *it;
      gone->released = true;
      pads_.erase(it);  // the queue goes with the last holder
      break;
    }
    last = gone && pads_.empty();
    cv_.notify_all();
  }
  if (gone) description_.forget(gone->key);
  if (last && gst_pad_is_linked(feeder_)) gst_pad_unlink(feeder_, sink_pad_);
  gst_element_remove_pad(element_, pad);
}

// --- upstream side: chain and events -------------------------------------------------------

GstFlowReturn PushInput::chain(GstPad* pad, GstObject*, GstBuffer* buffer) {
  PushInput* self = input_of(pad);
  auto p = self->state_of(pad);
  if (!p) {
    gst_buffer_unref(buffer);
    return GST_FLOW_FLUSHING;
  }
  return self->chain_frame(p.get(), buffer);
}

// Running time of a timestamp on `p` (signed: B-frame DTS may precede the segment start).
static gint64 running_time_of(const GstSegment& segment, GstClockTime ts) {
  guint64 rt = 0;
  int sign = gst_segment_to_running_time_full(&segment, GST_FORMAT_TIME, ts, &rt);
  if (sign == 0) return 0;
  return sign > 0 ? static_cast<gint64>(rt) : -static_cast<gint64>(rt);
}

bool PushInput::wait_for_room(std::unique_lock<std::mutex>& lock, InputPad* p) {
  auto leave = [&] {
    return stopping_ || !running_ || p->released || GST_PAD_IS_FLUSHING(p->pad) ||
           flow_ != GST_FLOW_OK;
  };
  cv_.wait(lock, [&] { return leave() || p->queue.size() < kMaxQueuedBuffers; });
  return !leave();
}

GstFlowReturn PushInput::chain_frame(InputPad* p, GstBuffer* buffer) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!p->format) {
    lock.unlock();
    gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(element_, CORE, NEGOTIATION, ("No caps on %s", p->name.c_str()), (nullptr));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (is_stream_header_buffer(*p->format, buffer)) {
    gst_buffer_unref(buffer);  // carried by the sequence header
    return GST_FLOW_OK;
  }
  GstClockTime dts = GST_BUFFER_DTS_OR_PTS(buffer);
  GstClockTime pts = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : dts;
  Item item;
  item.buffer = buffer;
  item.format = p->format;
  if (GST_CLOCK_TIME_IS_VALID(dts)) {
    item.dts = running_time_of(p->segment, dts);
    item.pts = GST_CLOCK_TIME_IS_VALID(pts) ? running_time_of(p->segment, pts) : item.dts;
  } else {
    item.dts = item.pts = p->last_dts == G_MININT64 ? 0 : p->last_dts;
  }
  if (item.dts < p->last_dts) item.dts = p->last_dts;  // servers refuse backwards DTS
  if (item.pts < item.dts) item.pts = item.dts;
  item.keyframe = !p->key.video || !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  if (!wait_for_room(lock, p)) {
    GstFlowReturn ret = flow_ != GST_FLOW_OK ? flow_ : GST_FLOW_FLUSHING;
    lock.unlock();
    gst_buffer_unref(buffer);
    return ret;
  }
  p->last_dts = item.dts;
  item.arrival_us = g_get_monotonic_time();
  p->queue.push_back(std::move(item));
  cv_.notify_all();
  return GST_FLOW_OK;
}

bool PushInput::set_caps(InputPad* p, GstCaps* caps) {
  std::string error;
  auto f = push_format_from_caps(caps, &error);
  if (!f) {
    GST_ELEMENT_ERROR(element_, CORE, NEGOTIATION,
                      ("Cannot publish %" GST_PTR_FORMAT, static_cast<gpointer>(caps)),
                      ("%s", error.c_str()));
    return false;
  }
  std::shared_ptr<const PushFormat> declared;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const PushFormat* old = p->format.get();
    bool same = old && old->codec == f->codec && old->sequence_header == f->sequence_header &&
                old->width == f->width && old->height == f->height && old->rate == f->rate &&
                old->channels == f->channels && old->color_info == f->color_info;
    if (same) return true;
    p->format = std::make_shared<const PushFormat>(std::move(*f));
    declared = p->format;
  }
  description_.declare_format(p->key, std::move(declared));
  return true;
}

gboolean PushInput::event(GstPad* pad, GstObject*, GstEvent* ev) {
  PushInput* self = input_of(pad);
  auto p = self->state_of(pad);
  if (!p) {
    gst_event_unref(ev);
    return FALSE;
  }
  return self->handle_event(p.get(), ev);
}

gboolean PushInput::handle_event(InputPad* p, GstEvent* ev) {
  switch (GST_EVENT_TYPE(ev)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps;
      gst_event_parse_caps(ev, &caps);
      gboolean ok = set_caps(p, caps);
      gst_event_unref(ev);
      return ok;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* seg;
      gst_event_parse_segment(ev, &seg);
      std::lock_guard<std::mutex> lock(mu_);
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
      guint rate = 0;
      if (gst_tag_list_get_uint(list, GST_TAG_BITRATE, &rate) ||
          gst_tag_list_get_uint(list, GST_TAG_NOMINAL_BITRATE, &rate)) {
        description_.declare_bitrate(p->key, rate);
      }
      description_.merge_tags(list);
      gst_event_unref(ev);
      return TRUE;
    }
    case GST_EVENT_EOS: {
      std::lock_guard<std::mutex> lock(mu_);
      p->eos = true;
      cv_.notify_all();
      gst_event_unref(ev);
      return TRUE;
    }
    case GST_EVENT_FLUSH_START: {
      bool forward;
      {
        std::lock_guard<std::mutex> lock(mu_);
        p->flushing = true;
        cv_.notify_all();  // a chain blocked on a full queue sees the flushing pad
        bool all = std::all_of(pads_.begin(), pads_.end(), [](auto& q) { return q->flushing; });
        forward = !sink_flushing_ && (in_flight_pad_.get() == p || all || eos_sent_);
        if (forward) sink_flushing_ = true;
      }
      // The base sink holds this pad's buffer (a clock wait, a preroll), or every input
      // flushes: the base sink flushes too.
      if (forward) gst_pad_push_event(feeder_, gst_event_new_flush_start());
      gst_event_unref(ev);
      return TRUE;
    }
    case GST_EVENT_FLUSH_STOP: {
      gboolean reset_time = TRUE;
      gst_event_parse_flush_stop(ev, &reset_time);
      bool forward;
      {
        std::lock_guard<std::mutex> lock(mu_);
        p->clear_queue();
        p->eos = false;
        p->end_sent = false;
        p->flushing = false;
        p->last_dts = G_MININT64;
        gst_segment_init(&p->segment, GST_FORMAT_TIME);
        bool any = std::any_of(pads_.begin(), pads_.end(), [](auto& q) { return q->flushing; });
        forward = sink_flushing_ && !any;
        if (forward) {
          sink_flushing_ = false;
          need_segment_ = true;
          eos_sent_ = false;
          flow_ = GST_FLOW_OK;
        }
        cv_.notify_all();
      }
      if (forward) gst_pad_push_event(feeder_, gst_event_new_flush_stop(reset_time));
      gst_event_unref(ev);
      return TRUE;
    }
    default:
      gst_event_unref(ev);  // stream-start, gap, ...: the feeder sends its own
      return TRUE;
  }
}

// --- the base sink's side: upstream events and queries through the feeder ------------------

// The elementary pads, each with a reference the caller drops (no lock held while it uses them).
std::vector<GstPad*> PushInput::pad_refs() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<GstPad*> out;
  for (auto& p : pads_) out.push_back(GST_PAD(gst_object_ref(p->pad)));
  return out;
}

bool PushInput::forward_upstream(GstEvent* ev) {
  bool any = false;
  for (GstPad* pad : pad_refs()) {
    any |= gst_pad_push_event(pad, gst_event_ref(ev)) != FALSE;
    gst_object_unref(pad);
  }
  gst_event_unref(ev);
  return any;
}

gboolean PushInput::feeder_event(GstPad* pad, GstObject*, GstEvent* ev) {
  return input_of(pad)->forward_upstream(ev);
}

bool PushInput::query_latency(GstQuery* query) {
  gboolean live = FALSE;
  GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
  bool any = false;
  for (GstPad* pad : pad_refs()) {
    GstQuery* q = gst_query_new_latency();
    if (gst_pad_peer_query(pad, q)) {
      gboolean l = FALSE;
      GstClockTime mn = 0, mx = GST_CLOCK_TIME_NONE;
      gst_query_parse_latency(q, &l, &mn, &mx);
      any = true;
      if (l) {
        live = TRUE;
        min = std::max(min, mn);
        if (GST_CLOCK_TIME_IS_VALID(mx))
          max = GST_CLOCK_TIME_IS_VALID(max) ? std::min(max, mx) : mx;
      }
    }
    gst_query_unref(q);
    gst_object_unref(pad);
  }
  gst_query_set_latency(query, live, min, max);
  return any;
}

gboolean PushInput::feeder_query(GstPad* pad, GstObject*, GstQuery* query) {
  PushInput* self = input_of(pad);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) return self->query_latency(query);
  gboolean ok = FALSE;
  for (GstPad* p : self->pad_refs()) {
    if (!ok) ok = gst_pad_peer_query(p, query);  // position, duration, ...: the first answer
    gst_object_unref(p);
  }
  return ok;
}

// --- the interleaver -----------------------------------------------------------------------

void PushInput::start(guint interleave_timeout_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    interleave_timeout_ms_ = interleave_timeout_ms;
    stopping_ = false;
    running_ = true;
    flow_ = GST_FLOW_OK;
    need_stream_start_ = need_segment_ = true;
    eos_sent_ = false;
    sink_flushing_ = false;
    for (auto& p : pads_) {
      p->clear_queue();
      p->eos = false;
      p->end_sent = false;
      p->flushing = false;
      p->released = false;
      p->last_dts = G_MININT64;
      p->frames = 0;
      p->live_known = false;
      gst_segment_init(&p->segment, GST_FORMAT_TIME);
    }
  }
  gst_pad_set_active(feeder_, TRUE);
  thread_ = std::thread([this] { run(); });
}

void PushInput::begin_stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  running_ = false;
  cv_.notify_all();
}

void PushInput::join() {
  if (thread_.joinable()) thread_.join();
  gst_pad_set_active(feeder_, FALSE);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : pads_) p->clear_queue();
  in_flight_.reset();
  in_flight_pad_.reset();
}

bool PushInput::all_done_locked() const {
  if (pads_.empty()) return false;
  for (auto& p : pads_)
    if (!p->eos || !p->queue.empty()) return false;
  return true;
}

// The next item to send, by DTS across pads. Waits until every pad that can still deliver
// has something queued, or a queue is full (a demuxer feeding several pads from one thread
// must not deadlock), or -- when a pad it waits for is live -- the oldest item waited
// `interleave-timeout` (sparse or muted live inputs never stall the rest). Non-live inputs
// (files, encoders with a long look-ahead) are waited for as an aggregator does. nullptr when
// there is nothing to do for now (the caller loops; every wait is bounded).
std::shared_ptr<PushInput::InputPad> PushInput::pick(std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<InputPad> best;
  bool all_have = true, any_full = false, waiting_for_live = false;
  gint64 oldest_arrival = G_MAXINT64;
  for (auto& p : pads_) {
    if (p->flushing) continue;
    if (p->queue.empty()) {
      if (!p->eos) {
        all_have = false;
        waiting_for_live |= p->live;
      }
      continue;
    }
    if (p->queue.size() >= kMaxQueuedBuffers) any_full = true;
    oldest_arrival = std::min(oldest_arrival, p->queue.front().arrival_us);
    if (!best || p->queue.front().dts < best->queue.front().dts) best = p;
  }
  const gint64 now = g_get_monotonic_time();
  const gint64 timeout_at = oldest_arrival + gint64{interleave_timeout_ms_} * 1000;
  if (best && (all_have || any_full || (waiting_for_live && now >= timeout_at))) return best;
  gint64 wait_us = best && waiting_for_live ? timeout_at - now : 100'000;
  cv_.wait_for(lock, std::chrono::microseconds(std::clamp<gint64>(wait_us, 100, 100'000)));
  return nullptr;
}

// Asks the upstream of every pad whose liveness is not known yet (mu_ released meanwhile).
void PushInput::learn_liveness(std::unique_lock<std::mutex>& lock) {
  std::vector<std::shared_ptr<InputPad>> unknown;
  for (auto& p : pads_)
    if (!p->live_known) unknown.push_back(p);
  if (unknown.empty()) return;
  lock.unlock();
  std::vector<std::pair<bool, gboolean>> answers;
  for (auto& p : unknown) {
    GstQuery* q = gst_query_new_latency();
    gboolean live = TRUE;
    bool ok = gst_pad_peer_query(p->pad, q);
    if (ok) gst_query_parse_latency(q, &live, nullptr, nullptr);
    gst_query_unref(q);
    answers.emplace_back(ok, live);
  }
  lock.lock();
  for (size_t i = 0; i < unknown.size(); ++i) {
    if (!answers[i].first) continue;  // not linked yet, or no answer: ask again next round
    unknown[i]->live = answers[i].second;
    unknown[i]->live_known = true;
  }
}

// Unlocks `lock` and sends the stream-start and the running-time segment the base sink
// needs before data (again after a flush), once each.
void PushInput::push_sticky_events(std::unique_lock<std::mutex>& lock) {
  const bool start = need_stream_start_, segment = need_segment_;
  need_stream_start_ = need_segment_ = false;
  lock.unlock();
  if (start) gst_pad_push_event(feeder_, gst_event_new_stream_start("rtmppushsink"));
  if (segment) {
    GstSegment seg;
    gst_segment_init(&seg, GST_FORMAT_TIME);
    gst_pad_push_event(feeder_, gst_event_new_segment(&seg));
  }
}

// Unlocks `lock`, tells the base sink about every pad whose EOS is reached (its queue sent),
// once per EOS, and locks again. False when there was none. Not when every pad is done: the
// stream's end (EOS, then the unpublish) says it, and a SequenceEnd per track there would only
// make a receiver that continues its pads with the next publisher start them anew.
bool PushInput::push_track_ends(std::unique_lock<std::mutex>& lock) {
  if (all_done_locked()) return false;
  std::vector<TrackKey> ends;
  for (auto& p : pads_) {
    if (p->eos && p->queue.empty() && !p->end_sent && !p->flushing) {
      p->end_sent = true;
      ends.push_back(p->key);
    }
  }
  if (ends.empty()) return false;
  push_sticky_events(lock);
  for (const TrackKey& key : ends) {
    gst_pad_push_event(
        feeder_, gst_event_new_custom(
                     GST_EVENT_CUSTOM_DOWNSTREAM,
                     gst_structure_new(kTrackEndEvent, "video", G_TYPE_BOOLEAN, key.video, "track",
                                       G_TYPE_UINT, static_cast<guint>(key.id), nullptr)));
  }
  lock.lock();
  return true;
}

void PushInput::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    learn_liveness(lock);
    if (stopping_) break;
    if (flow_ != GST_FLOW_OK && flow_ != GST_FLOW_FLUSHING) {
      // The base sink refused (error, EOS): nothing more goes in until a flush.
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    if (!sink_flushing_ && push_track_ends(lock)) continue;
    if (!eos_sent_ && !sink_flushing_ && all_done_locked()) {
      eos_sent_ = true;
      push_sticky_events(lock);
      gst_pad_push_event(feeder_, gst_event_new_eos());
      lock.lock();
      continue;
    }
    auto p = pick(lock);
    if (!p || stopping_) continue;
    Item item = std::move(p->queue.front());
    p->queue.pop_front();
    cv_.notify_all();  // room for the chain function
    // The buffer goes into the base sink at its running time (what it syncs and prerolls on);
    // render() gets the frame with the signed times through take_frame().
    GstBuffer* buffer = gst_buffer_make_writable(item.buffer);
    GST_BUFFER_DTS(buffer) = static_cast<GstClockTime>(std::max<gint64>(item.dts, 0));
    GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(std::max<gint64>(item.pts, 0));
    ElementaryFrame frame;
    frame.buffer = buffer;
    frame.format = item.format;
    frame.track = p->key;
    frame.pad_name = p->name.c_str();
    frame.dts = item.dts;
    frame.pts = item.pts;
    frame.keyframe = item.keyframe;
    in_flight_ = frame;
    in_flight_pad_ = p;
    push_sticky_events(lock);
    GstFlowReturn ret = gst_pad_push(feeder_, buffer);
    lock.lock();
    in_flight_.reset();
    in_flight_pad_.reset();
    if (ret == GST_FLOW_FLUSHING && !stopping_ && !sink_flushing_) {
      need_segment_ = true;  // the base sink was flushed from elsewhere (a state change)
    } else if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING) {
      GST_DEBUG_OBJECT(element_, "base sink returned %s", gst_flow_get_name(ret));
      flow_ = ret;
      cv_.notify_all();
    }
  }
}

std::optional<ElementaryFrame> PushInput::take_frame(GstBuffer* buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!in_flight_ || in_flight_->buffer != buffer) return std::nullopt;
  std::optional<ElementaryFrame> frame = std::move(in_flight_);
  in_flight_.reset();
  if (in_flight_pad_) in_flight_pad_->frames++;
  return frame;
}

void PushInput::fill_stats(GstStructure* s) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : pads_) {
    gst_structure_set(s, (p->name + "-frames").c_str(), G_TYPE_UINT64, p->frames.load(),
                      (p->name + "-queued").c_str(), G_TYPE_UINT,
                      static_cast<guint>(p->queue.size()), nullptr);
  }
}

}  // namespace gst_ertmp
