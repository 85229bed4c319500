#include "gst/ingest_stream.h"

#include <algorithm>

#include "gst/codec_caps.h"
#include "protocol/command.h"
#include "protocol/flv_file.h"

GST_DEBUG_CATEGORY_EXTERN(rtmp_ingest_src_debug);
#define GST_CAT_DEFAULT rtmp_ingest_src_debug

namespace gst_ertmp {
namespace {

// A GstBuffer over a byte vector it takes (no copy).
GstBuffer* wrap_vector(std::vector<uint8_t>&& bytes) {
  auto* holder = new std::vector<uint8_t>(std::move(bytes));
  return gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
      [](gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); });
}

GstClockTime clamp_time(GstClockTimeDiff t) {
  return t >= 0 ? static_cast<GstClockTime>(t) : 0;
}

}  // namespace

IngestStream::IngestStream(GstElement* element, const IngestPadTemplates& templates, Config config,
                           PostFn post, std::function<void()> on_room)
    : element_(element),
      templates_(templates),
      config_(config),
      post_(std::move(post)),
      on_room_(std::move(on_room)) {}

IngestStream::~IngestStream() {
  stop();
  if (tags_) gst_tag_list_unref(tags_);
}

GstClockTime IngestStream::running_time_now() {
  GstClock* clock = gst_element_get_clock(element_);
  if (!clock) return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  GstClockTime base = gst_element_get_base_time(element_);
  return now > base ? now - base : 0;
}

void IngestStream::begin() {
  std::lock_guard<std::mutex> lock(mu_);
  have_base_ = false;
  for (auto& [key, t] : tracks_) {
    t.discont = true;
    t.end_pending = false;  // the last publish's final SequenceEnd: the publish's end decides
  }
  if (flv_) flv_->discont = true;
}

// The first message of a publish starts at the running time now, and never before what an
// earlier publisher pushed (a takeover follows it within milliseconds, and a real-time
// publisher runs a little ahead of the clock), so DTS stay monotonic on every pad.
bool IngestStream::map_timestamp(uint64_t rtmp_ms, GstClockTimeDiff* dts) {
  if (!have_base_) {
    GstClockTime now = running_time_now();
    base_running_ = std::max<GstClockTime>(GST_CLOCK_TIME_IS_VALID(now) ? now : 0, max_dts_);
    base_rtmp_ = rtmp_ms;
    have_base_ = true;
  }
  uint64_t distance = rtmp_ms >= base_rtmp_ ? rtmp_ms - base_rtmp_ : base_rtmp_ - rtmp_ms;
  if (distance > kMaxTimestampJumpMs) return false;
  // |delta| < 2^40 ms, so delta in ns < 2^60: no overflow; the base is a running time < 2^62.
  GstClockTimeDiff delta = static_cast<GstClockTimeDiff>(distance) * GST_MSECOND;
  if (rtmp_ms < base_rtmp_) delta = -delta;
  GstClockTimeDiff out;
  if (__builtin_add_overflow(static_cast<GstClockTimeDiff>(base_running_), delta, &out)) {
    return false;
  }
  *dts = out;
  return true;
}

void IngestStream::open_track_locked(Track& t, GstStaticPadTemplate* tmpl, const char* id,
                                     std::shared_ptr<PadHandover> after) {
  GstPadTemplate* templ = gst_static_pad_template_get(tmpl);
  GstPad* pad = gst_pad_new_from_template(templ, t.name.c_str());
  gst_object_unref(templ);
  gst_pad_set_query_function(pad, templates_.query);
  gst_pad_use_fixed_caps(pad);
  t.stream = std::make_unique<PadStream>(element_, pad, config_.limits, on_room_);
  t.stream->start();
  if (after) t.stream->push_wait_for(std::move(after));
  gchar* stream_id = gst_pad_create_stream_id(pad, element_, id);
  t.stream->push_event(gst_event_new_stream_start(stream_id));
  g_free(stream_id);
}

// The track's state; its pad is made when it first gets caps (set_caps_locked).
IngestStream::Track& IngestStream::track_locked(bool video, guint id) {
  Track& t = tracks_[{video, id}];
  if (t.name.empty()) {
    t.name = std::string(video ? "video_" : "audio_") + std::to_string(id);
    t.video = video;
    t.id = id;
  }
  return t;
}

IngestStream::Track& IngestStream::flv_track_locked() {
  if (flv_) return *flv_;
  flv_ = std::make_unique<Track>();
  flv_->name = "src";
  open_track_locked(*flv_, templates_.flv, "flv");
  set_caps_locked(*flv_, gst_caps_new_empty_simple("video/x-flv"));
  return *flv_;
}

void IngestStream::set_caps_locked(Track& t, GstCaps* caps) {
  if (t.caps && gst_caps_is_equal(t.caps, caps)) {
    gst_caps_unref(caps);
    return;
  }
  GST_INFO_OBJECT(element_, "%s caps %" GST_PTR_FORMAT, t.name.c_str(),
                  static_cast<gpointer>(caps));
  GstStaticPadTemplate* tmpl = t.video ? templates_.video : templates_.audio;
  if (!t.stream) {
    open_track_locked(t, tmpl, t.name.c_str());
  } else if (t.stream->add_requested() &&
             (t.ended ||
              (t.caps && !gst_structure_has_name(
                             gst_caps_get_structure(caps, 0),
                             gst_structure_get_name(gst_caps_get_structure(t.caps, 0)))))) {
    // Another codec on the same track (H.264 -> HEVC): what is linked downstream was built for
    // the old one (a parser, decodebin's chain: they refuse the new caps; decodebin3 wedged on a
    // new stream-start). A new pad of the same name replaces the old one (pad-removed,
    // pad-added), then the old branch gets its EOS (see PadHandover). A track that ended
    // (SequenceEnd: its pad is at EOS and takes nothing more) starts again the same way.
    GST_INFO_OBJECT(element_, "%s %s: a new pad replaces it", t.name.c_str(),
                    t.ended ? "starts again after its end" : "changes codec");
    auto handover = std::make_shared<PadHandover>();
    t.stream->push_hand_over(handover);
    retired_.push_back(std::move(t.stream));
    gst_caps_replace(&t.caps, nullptr);
    ++t.stream_number;
    std::string id = t.name + "-" + std::to_string(t.stream_number);
    open_track_locked(t, tmpl, id.c_str(), handover);
  }
  t.ended = false;
  gst_caps_replace(&t.caps, caps);
  t.stream->push_event(gst_event_new_caps(caps));
  gst_caps_unref(caps);
  if (!t.stream->add_requested()) {
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    t.stream->push_event(gst_event_new_segment(&segment));
    if (tags_) t.stream->push_event(gst_event_new_tag(gst_tag_list_ref(tags_)));
    {
      std::lock_guard<std::mutex> lock(add_gate_->mu);
      ++add_gate_->requested;
    }
    t.stream->push_add_pad(add_gate_);
  }
}

// The onMetaData object that describes `t`: the top-level one for track 0, the track's entry
// of videoTrackIdInfoMap / audioTrackIdInfoMap (keyed by the track id as a string) otherwise.
const rtmp::amf::Value* IngestStream::metadata_for_locked(const Track& t) const {
  if (!stream_metadata_) return nullptr;
  if (t.id == 0) return &*stream_metadata_;
  const rtmp::amf::Value* map =
      stream_metadata_->get(t.video ? "videoTrackIdInfoMap" : "audioTrackIdInfoMap");
  return map ? map->get(std::to_string(t.id)) : nullptr;
}

GstCaps* IngestStream::caps_of_locked(const Track& t, std::string* error) const {
  StreamFormat f;
  f.codec = t.source.codec;
  f.sequence_header = t.source.sequence_header;
  f.mpeg2ts_descriptor = t.source.mpeg2ts_descriptor;
  f.legacy_audio_header = t.source.legacy_audio_header;
  f.sound_rate = t.source.sound_rate;
  f.sound_size = t.source.sound_size;
  f.sound_type = t.source.sound_type;
  f.channels_hint = t.source.channels_hint;
  f.metadata = metadata_for_locked(t);
  f.color_info = t.color_info.empty() ? nullptr : &t.color_info;
  return caps_for(f, error);
}

// onMetaData or colorInfo changed: the track's caps again, renegotiated (before its next
// buffer) when they differ.
void IngestStream::redo_caps_locked(Track& t) {
  if (!t.caps || t.ended) return;
  std::string error;
  if (GstCaps* caps = caps_of_locked(t, &error)) set_caps_locked(t, caps);
}

// A video Metadata packet: the track's colorInfo, which replaces the previous one (an empty one
// resets it) and applies from the next frame.
void IngestStream::apply_metadata_packet_locked(const rtmp::MediaUnit& u, rtmp::Bytes body) {
  auto md = rtmp::parse_video_metadata(body);
  std::string name = "video_" + std::to_string(u.track_id);
  if (!md.ok()) {
    warn("skipped a Metadata packet on " + name + ": " + md.error().to_string());
    return;
  }
  if (!md->color_info) return;  // no colorInfo: nothing else is defined
  Track& t = track_locked(true, u.track_id);
  if (t.color_info == *md->color_info) return;
  GST_INFO_OBJECT(element_, "%s colorInfo %s", name.c_str(),
                  md->color_info->empty() ? "reset" : "set");
  t.color_info = *md->color_info;
  redo_caps_locked(t);
}

// SequenceEnd: the publisher says the track is over. It takes effect (EOS on that pad only) when
// the publish goes on without it: with the next message of another track. A SequenceStart or
// frame of the same track first continues the track instead (caps as any sequence header
// change), and a SequenceEnd that is the publish's last message is left to the publish's end
// (on-disconnect): ffmpeg ends every recording and publish with one per video track, which must
// not end a pad that the next publisher would continue.
void IngestStream::apply_pending_ends_locked(const rtmp::FlvTag& tag) {
  for (auto& [key, t] : tracks_) {
    if (!t.end_pending) continue;
    bool same_track = false, continues = false;
    for (const auto& u : tag.units) {
      if (u.video != t.video || u.track_id != t.id) continue;
      same_track = true;
      continues |= u.packet != rtmp::PacketKind::kSequenceEnd;
    }
    if (same_track) {
      if (continues) t.end_pending = false;
      continue;
    }
    end_track_locked(t);
  }
}

void IngestStream::end_track_locked(Track& t) {
  t.end_pending = false;
  if (!t.stream || !t.stream->add_requested() || t.ended) return;
  GST_INFO_OBJECT(element_, "%s: SequenceEnd, EOS on its pad", t.name.c_str());
  t.stream->push_event(gst_event_new_eos());
  t.ended = true;
  t.discont = true;
  gst_caps_replace(&t.caps, nullptr);
}

// Audio silence (a zero-length audio message: "drain, flush the decoder and let the wall clock
// drive A/V"): a GAP event on the default audio pad at the message's time.
void IngestStream::push_gap_locked(GstClockTimeDiff dts) {
  auto it = tracks_.find({false, 0});
  if (it == tracks_.end() || !it->second.stream || !it->second.stream->add_requested() ||
      it->second.ended) {
    GST_DEBUG_OBJECT(element_, "audio silence before any audio pad: nothing to fill");
    return;
  }
  it->second.stream->push_event(gst_event_new_gap(clamp_time(dts), GST_CLOCK_TIME_NONE));
}

void IngestStream::push_video_command_locked(const rtmp::MediaUnit& u, GstClockTimeDiff dts) {
  const char* name = u.video_command == 0   ? "start-seek"
                     : u.video_command == 1 ? "end-seek"
                                            : "unknown";
  auto it = tracks_.find({true, u.track_id});
  if (it == tracks_.end() || !it->second.stream || !it->second.stream->add_requested() ||
      it->second.ended) {
    GST_DEBUG_OBJECT(element_, "video command %s before any video pad: dropped", name);
    return;
  }
  GST_INFO_OBJECT(element_, "video command %s on %s", name, it->second.name.c_str());
  GstStructure* s =
      gst_structure_new(kVideoCommandEvent, "command", G_TYPE_UINT,
                        static_cast<guint>(u.video_command), "command-name", G_TYPE_STRING, name,
                        "timestamp", G_TYPE_UINT64, static_cast<guint64>(clamp_time(dts)), nullptr);
  it->second.stream->push_event(gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

bool IngestStream::push_locked(Track& t, GstBuffer* buf, size_t counted_bytes) {
  if (!t.first_buffer_queued) {
    // Every track this publish started with is added before any of them streams.
    t.first_buffer_queued = true;
    unsigned target;
    {
      std::lock_guard<std::mutex> lock(add_gate_->mu);
      target = add_gate_->requested;
    }
    t.stream->push_wait_added(add_gate_, target);
  }
  if (t.discont) {
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    t.discont = false;
  }
  if (GST_BUFFER_DTS(buf) > max_dts_ || !GST_CLOCK_TIME_IS_VALID(max_dts_)) {
    max_dts_ = GST_BUFFER_DTS(buf);
  }
  ++t.frames;
  t.bytes += counted_bytes;
  return t.stream->push_buffer(buf);
}

// FLV output mode: every message becomes one FLV tag (the file header first), as rtmp2src
// emits. The tag carries the mapped DTS in ms (the pipeline's running time), not the
// publisher's raw timestamp, so a republish or takeover never goes back in time at flvdemux.
IngestStream::Result IngestStream::push_flv_locked(uint8_t type, uint64_t rtmp_ts,
                                                   rtmp::Bytes body) {
  GstClockTimeDiff dts;
  if (!map_timestamp(rtmp_ts, &dts)) return Result::kBadTimestamp;
  Track& t = flv_track_locked();
  std::vector<uint8_t> bytes;
  bytes.reserve(body.size() + 13 + 15);
  if (!flv_header_sent_) {
    rtmp::FlvWriter::write_header(bytes, true, true);
    flv_header_sent_ = true;
  }
  // FLV tag timestamps are 32-bit ms: they wrap after 49.7 days of running time.
  const auto tag_ms = static_cast<int64_t>((clamp_time(dts) / GST_MSECOND) & 0xFFFFFFFFu);
  rtmp::FlvWriter::write_tag(bytes, type, tag_ms, body);
  GstBuffer* buf = wrap_vector(std::move(bytes));
  GST_BUFFER_DTS(buf) = clamp_time(dts);
  total_bytes_ += body.size();
  return push_locked(t, buf, body.size()) ? Result::kOk : Result::kFull;
}

IngestStream::Result IngestStream::media(rtmp::MediaReceived&& media) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return Result::kOk;
  if (config_.flv_mode) {
    return push_flv_locked(media.message.type, media.message.timestamp, media.message.payload);
  }
  if (media.tag_error) {
    warn("skipped a media message: " + media.tag_error->to_string());
    return Result::kOk;
  }
  GstClockTimeDiff dts;
  if (!map_timestamp(media.message.timestamp, &dts)) return Result::kBadTimestamp;
  auto* holder = new std::vector<uint8_t>(std::move(media.message.payload));
  // An empty message (audio silence) has no bytes to wrap (GStreamer refuses a null pointer).
  if (holder->capacity() == 0) holder->reserve(1);
  GstBuffer* whole = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
      [](gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); });
  total_bytes_ += holder->size();
  bool room = true;
  const bool legacy_audio_header = !media.tag.enhanced;
  apply_pending_ends_locked(media.tag);
  for (const auto& u : media.tag.units) {
    switch (u.packet) {
      case rtmp::PacketKind::kSilence:
        push_gap_locked(dts);
        continue;
      case rtmp::PacketKind::kCommand:
        push_video_command_locked(u, dts);
        continue;
      case rtmp::PacketKind::kMetadata:
        apply_metadata_packet_locked(u, rtmp::Bytes(holder->data() + u.offset, u.size));
        continue;
      case rtmp::PacketKind::kSequenceEnd:
        if (auto it = tracks_.find({u.video, u.track_id}); it != tracks_.end()) {
          Track& t = it->second;
          t.end_pending = t.stream && t.stream->add_requested() && !t.ended;
        }
        continue;
      default:
        break;
    }
    Track& t = track_locked(u.video, u.track_id);
    const bool header = u.packet == rtmp::PacketKind::kSequenceStart ||
                        u.packet == rtmp::PacketKind::kMpeg2TsSequenceStart ||
                        u.packet == rtmp::PacketKind::kMultichannelConfig;
    if (!header && !t.caps && needs_sequence_header(u.codec)) {
      GST_DEBUG_OBJECT(element_, "dropping a %s frame before its sequence header",
                       rtmp::codec_name(u.codec));
      continue;
    }
    if (header || !t.caps) {
      Source src;
      src.codec = u.codec;
      src.sound_rate = u.sound_rate;
      src.sound_size = u.sound_size;
      src.sound_type = u.sound_type;
      src.legacy_audio_header = legacy_audio_header;
      if (u.packet == rtmp::PacketKind::kMultichannelConfig) {
        src.channels_hint = u.multichannel.channel_count;
      } else if (header) {
        src.sequence_header.assign(holder->data() + u.offset, holder->data() + u.offset + u.size);
        src.mpeg2ts_descriptor = u.packet == rtmp::PacketKind::kMpeg2TsSequenceStart;
      }
      t.source = std::move(src);
      std::string error;
      GstCaps* caps = caps_of_locked(t, &error);
      if (!caps) {
        warn((header ? "unusable sequence header on " + t.name + ": " : std::string()) + error);
        continue;
      }
      set_caps_locked(t, caps);
      if (header) continue;
    }
    GstBuffer* buf = gst_buffer_copy_region(whole, GST_BUFFER_COPY_MEMORY, u.offset, u.size);
    // |CT| < 2^23 ms and the nano offset < 1 ms: the sum stays far from overflow.
    GstClockTimeDiff pts = dts + static_cast<GstClockTimeDiff>(u.composition_time) * GST_MSECOND +
                           static_cast<GstClockTimeDiff>(u.nano_offset);
    GST_BUFFER_DTS(buf) = clamp_time(dts);
    GST_BUFFER_PTS(buf) = clamp_time(pts);
    if (u.video && !u.keyframe) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    if (!push_locked(t, buf, u.size)) room = false;
  }
  gst_buffer_unref(whole);
  return room ? Result::kOk : Result::kFull;
}

IngestStream::Result IngestStream::metadata(rtmp::MetadataReceived&& md) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return Result::kOk;
  if (config_.flv_mode) {
    // flvdemux wants the plain script tag: "@setDataFrame" is a publishing wrapper.
    rtmp::Message plain = rtmp::build_data_message(md.handler, md.values);
    return push_flv_locked(18, md.message.timestamp, plain.payload);
  }
  if (md.handler != "onMetaData" || md.values.empty()) return Result::kOk;
  const rtmp::amf::Value& m = md.values[0];
  GstTagList* list = gst_tag_list_new_empty();
  std::string encoder = m.get_string("encoder");
  if (encoder.empty()) encoder = m.get_string("metadatacreator");
  if (!encoder.empty()) {
    gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_ENCODER, encoder.c_str(), nullptr);
  }
  std::string title = m.get_string("title");
  if (!title.empty()) {
    gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, title.c_str(), nullptr);
  }
  if (auto rate = m.get_number("videodatarate"); rate && *rate > 0 && *rate < 4e6) {
    gst_tag_list_add(list, GST_TAG_MERGE_REPLACE, GST_TAG_NOMINAL_BITRATE,
                     static_cast<guint>(*rate * 1024), nullptr);
  }
  if (tags_) gst_tag_list_unref(tags_);
  tags_ = list;
  for (auto& [key, t] : tracks_) {
    if (t.stream && t.stream->add_requested() && !t.ended) {
      t.stream->push_event(gst_event_new_tag(gst_tag_list_ref(tags_)));
    }
  }
  // Video caps take width, height, framerate and pixel-aspect-ratio from it, as flvdemux's do:
  // caps made before it arrived are made again.
  if (m.properties()) {
    stream_metadata_ = m;
    for (auto& [key, t] : tracks_) {
      if (t.video) redo_caps_locked(t);
    }
  }
  gchar* text = g_strdup(rtmp::amf::to_string(m).c_str());
  post_(gst_structure_new("rtmpingestsrc-metadata", "metadata", G_TYPE_STRING, text, nullptr), {});
  g_free(text);
  return Result::kOk;
}

bool IngestStream::end_of_stream() {
  std::lock_guard<std::mutex> lock(mu_);
  bool any = false;
  auto eos = [&](Track& t) {
    if (!t.stream || !t.stream->add_requested()) return;
    any = true;
    if (t.ended) return;  // SequenceEnd sent its EOS already
    t.stream->push_event(gst_event_new_eos());
  };
  if (flv_) eos(*flv_);
  for (auto& [key, t] : tracks_) eos(t);
  return any;
}

void IngestStream::stop() {
  std::map<std::pair<bool, guint>, Track> tracks;
  std::unique_ptr<Track> flv;
  std::vector<std::unique_ptr<PadStream>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    tracks.swap(tracks_);
    flv.swap(flv_);
    retired.swap(retired_);
  }
  for (auto& r : retired) r->stop();
  // Outside the lock: a pad task may be in a pad-added handler that reads stats.
  auto drop = [](Track& t) {
    if (t.stream) t.stream->stop();
    t.stream.reset();
    if (t.caps) gst_caps_unref(t.caps);
    t.caps = nullptr;
  };
  if (flv) drop(*flv);
  for (auto& [key, t] : tracks) drop(t);
}

void IngestStream::fill_stats(GstStructure* s) {
  std::lock_guard<std::mutex> lock(mu_);
  gst_structure_set(s, "bytes", G_TYPE_UINT64, total_bytes_, nullptr);
  auto add = [&](const Track& t) {
    gst_structure_set(s, (t.name + "-frames").c_str(), G_TYPE_UINT64, t.frames,
                      (t.name + "-bytes").c_str(), G_TYPE_UINT64, t.bytes,
                      (t.name + "-queued-bytes").c_str(), G_TYPE_UINT64,
                      t.stream ? t.stream->queued_bytes() : guint64{0}, nullptr);
  };
  if (flv_) add(*flv_);
  for (const auto& [key, t] : tracks_) add(t);
}

}  // namespace gst_ertmp
