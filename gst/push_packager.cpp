#include "gst/push_packager.h"

#include <algorithm>
#include <optional>

#include "protocol/color_info.h"
#include "protocol/command.h"
#include "protocol/flv_tag.h"

#include "gst/push_debug.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

namespace gst_ertmp {
// --- StreamDescription ---------------------------------------------------------------------

StreamDescription::~StreamDescription() {
  if (tags_) gst_tag_list_unref(tags_);
}

void StreamDescription::declare_format(TrackKey track, std::shared_ptr<const PushFormat> format) {
  std::lock_guard<std::mutex> lock(mu_);
  tracks_[track].format = std::move(format);
}

void StreamDescription::declare_bitrate(TrackKey track, guint bitrate) {
  std::lock_guard<std::mutex> lock(mu_);
  tracks_[track].bitrate = bitrate;
}

void StreamDescription::forget(TrackKey track) {
  std::lock_guard<std::mutex> lock(mu_);
  tracks_.erase(track);
}

void StreamDescription::merge_tags(const GstTagList* tags) {
  std::lock_guard<std::mutex> lock(mu_);
  if (gst_tag_list_get_scope(tags) != GST_TAG_SCOPE_GLOBAL && tags_) return;
  GstTagList* merged = gst_tag_list_merge(tags_, tags, GST_TAG_MERGE_REPLACE);
  if (tags_) gst_tag_list_unref(tags_);
  tags_ = merged;
}

std::map<TrackKey, StreamDescription::Track> StreamDescription::tracks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tracks_;
}

GstTagList* StreamDescription::tags() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tags_ ? gst_tag_list_ref(tags_) : nullptr;
}

// --- Packager ------------------------------------------------------------------------------

Packager::Packager(StreamHeaders& headers, const StreamDescription& description, EnhancedMode mode,
                   GstObject* log_object, MultitrackPacking packing)
    : headers_(headers),
      description_(description),
      mode_(mode),
      log_object_(log_object),
      packing_(packing) {}

void Packager::set_peer(const rtmp::PeerCapabilities& server_caps) {
  peer_ = server_caps;
  for (auto& [key, t] : tracks_) t.source.reset();  // plan again with the next frame
  GST_INFO_OBJECT(
      log_object_, "server echo: %zu FourCCs, capsEx 0x%x: multitrack %s, nano timing %s",
      server_caps.fourcc_list.size() + server_caps.video_fourcc_info.size() +
          server_caps.audio_fourcc_info.size(),
      server_caps.caps_ex, server_caps.caps_ex & rtmp::kCapsExMultitrack ? "yes" : "no",
      server_caps.caps_ex & (rtmp::kCapsExModEx | rtmp::kCapsExTimestampNanoOffset) ? "yes" : "no");
}

// docs/ertmp.md "What rtmppushsink sends" is this function as a table.
Packager::TrackPlan Packager::plan_for(TrackKey track, const PushFormat& f) const {
  TrackPlan p;
  const uint32_t fourcc = rtmp::codec_fourcc(f.codec);
  const std::string name = fourcc ? rtmp::fourcc_string(fourcc) : rtmp::codec_name(f.codec);
  const bool always = mode_ == EnhancedMode::kAlways;
  const rtmp::PeerCapabilities* peer = peer_ ? &*peer_ : nullptr;
  // The echo names codecs (fourCcList or an info map): it takes only those as FourCC tags.
  const bool named = peer && (!peer->fourcc_list.empty() || !peer->video_fourcc_info.empty() ||
                              !peer->audio_fourcc_info.empty());
  auto takes = [&] {
    if (!named) return true;
    constexpr uint32_t kDecode = rtmp::kCanDecode, kForward = rtmp::kCanForward;
    return track.video
               ? peer->supports_video(name, kDecode) || peer->supports_video(name, kForward)
               : peer->supports_audio(name, kDecode) || peer->supports_audio(name, kForward);
  };
  const bool multitrack = always || (peer && (peer->caps_ex & rtmp::kCapsExMultitrack));
  const bool nano =
      always || (peer && (peer->caps_ex & (rtmp::kCapsExModEx | rtmp::kCapsExTimestampNanoOffset)));
  const bool packing = packing_ != MultitrackPacking::kOneTrack && multitrack;
  if (track.id != 0) {
    p.enhanced = true;
    if (!multitrack) {
      p.send = false;
      p.why_not = "the server did not advertise E-RTMP multitrack (capsEx)";
    } else if (!fourcc) {
      p.send = false;
      p.why_not = name + " has no E-RTMP FourCC, which tracks >= 1 need";
    } else if (!always && !takes()) {
      p.send = false;
      p.why_not = "the server's connect _result does not name " + name;
    }
  } else if (always) {
    p.enhanced = fourcc != 0;
  } else if (!f.has_legacy_form) {
    p.enhanced = true;
    if (!takes()) {
      p.send = false;
      p.why_not =
          "the server's connect _result does not name " + name + " and it has no legacy FLV form";
    }
  } else {
    // Track 0 of a codec with a legacy form stays legacy: every server and flvdemux read it
    // (rtmpingestsrc output-mode=flv ! flvdemux included), whatever the server echoes.
    p.enhanced = false;
  }
  p.nano = p.send && p.enhanced && nano;
  p.packable = p.send && p.enhanced && packing;
  return p;
}

bool Packager::enhanced_for(TrackKey track, const PushFormat& f) const {
  auto it = tracks_.find(track);
  if (it != tracks_.end() && it->second.source) return it->second.plan.enhanced;
  return plan_for(track, f).enhanced;
}

// The tag body of a sequence header, or only the tag header of a frame (the payload's bytes
// are not read then; they follow the header on the wire).
bool Packager::build_tag(TrackKey track, const PushFormat& f, bool sequence_start,
                         rtmp::Bytes payload, bool keyframe, int32_t ct,
                         std::optional<uint32_t> nano, std::vector<uint8_t>& out) {
  rtmp::UnitSpec unit{track.id, f.codec, ct, payload};
  std::optional<rtmp::AvMultitrackType> multitrack;
  if (track.id != 0) multitrack = rtmp::AvMultitrackType::kOneTrack;
  const bool enhanced = enhanced_for(track, f);
  rtmp::Status st = rtmp::Ok{};
  if (track.video) {
    rtmp::VideoTagSpec spec;
    spec.frame_type = keyframe ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter;
    spec.packet = sequence_start ? rtmp::VideoPacketType::kSequenceStart
                                 : rtmp::VideoPacketType::kCodedFrames;
    spec.force_enhanced = enhanced;
    spec.multitrack = multitrack;
    spec.nano_offset = nano;
    spec.units = {unit};
    st =
        sequence_start ? rtmp::build_video_tag(spec, out) : rtmp::build_video_tag_header(spec, out);
  } else {
    rtmp::AudioTagSpec spec;
    spec.packet = sequence_start ? rtmp::AudioPacketType::kSequenceStart
                                 : rtmp::AudioPacketType::kCodedFrames;
    spec.force_enhanced = enhanced;
    spec.multitrack = multitrack;
    spec.nano_offset = nano;
    spec.sound_rate = f.sound_rate;
    spec.sound_size = f.sound_size;
    spec.sound_type = f.sound_type;
    spec.units = {unit};
    st =
        sequence_start ? rtmp::build_audio_tag(spec, out) : rtmp::build_audio_tag_header(spec, out);
  }
  if (!st.ok()) {
    GST_WARNING_OBJECT(log_object_, "cannot package %s track %u: %s",
                       track.video ? "video" : "audio", track.id, st.error().to_string().c_str());
    return false;
  }
  return true;
}

// The track's SequenceStart, followed (Packet::then) by its colorInfo Metadata packet when the
// track goes as E-RTMP video and its caps carry colour information, or by a colorInfo reset
// when the previous sequence header had some and these caps have none.
PacketPtr Packager::sequence_header_packet(TrackKey track, TrackState& t) {
  const PushFormat& f = *t.format;
  if (f.sequence_header.empty()) return nullptr;
  auto pk = std::make_shared<Packet>();
  pk->video = track.video;
  pk->type = track.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
  pk->track = track;
  if (!build_tag(track, f, true, f.sequence_header, true, 0, std::nullopt, pk->body)) {
    return nullptr;
  }
  const bool color = track.video && t.plan.enhanced && rtmp::codec_fourcc(f.codec) != 0;
  if (color && (!f.color_info.empty() || t.colored)) {
    auto info = std::make_shared<Packet>();
    info->video = true;
    info->type = rtmp::MessageType::kVideo;
    info->track = track;
    auto st = rtmp::build_color_info_tag(f.codec, track.id, f.color_info, info->body);
    if (st.ok()) {
      pk->then = info;
    } else {
      GST_WARNING_OBJECT(log_object_, "no colorInfo for video track %u: %s", track.id,
                         st.error().to_string().c_str());
    }
  }
  t.colored = color && !f.color_info.empty();
  return pk;
}

void Packager::new_sequence_header(TrackKey track, TrackState& t) {
  t.sequence_header = sequence_header_packet(track, t);
  headers_.set_sequence_header(track, t.sequence_header);
}

// onMetaData for the default tracks (their formats as sent, else as declared by caps) and the
// pipeline's tags.
void Packager::rebuild_metadata() {
  std::optional<PushFormat> v, a;
  bool v_enh = false, a_enh = false;
  for (const auto& [key, d] : description_.tracks()) {
    if (key.id != 0) continue;
    auto sent = tracks_.find(key);
    std::shared_ptr<const PushFormat> f =
        sent != tracks_.end() && sent->second.format ? sent->second.format : d.format;
    if (!f) continue;
    auto& slot = key.video ? v : a;
    slot = *f;
    slot->bitrate = static_cast<int>(std::min<guint>(d.bitrate, G_MAXINT));
    (key.video ? v_enh : a_enh) = enhanced_for(key, *f);
  }
  GstTagList* tags = description_.tags();
  rtmp::amf::Value m = build_metadata(v ? &*v : nullptr, v_enh, a ? &*a : nullptr, a_enh, tags);
  if (tags) gst_tag_list_unref(tags);
  auto pk = std::make_shared<Packet>();
  pk->type = rtmp::MessageType::kDataAmf0;
  pk->body = rtmp::build_set_data_frame(m).payload;
  metadata_ = pk;
  headers_.set_metadata(metadata_);
  metadata_stale_ = false;
}

gint64 Packager::since_base(gint64 running_ns) {
  if (!have_base_) {
    have_base_ = true;
    base_ = running_ns;
  }
  return running_ns - base_;
}

// Floor division by a millisecond: a time before the base (a B-frame DTS below the first
// frame's, when another pad went first) rounds the same way as one after it.
static gint64 floor_ms(gint64 ns) {
  gint64 ms = ns / static_cast<gint64>(GST_MSECOND);
  if (ns < 0 && ns % static_cast<gint64>(GST_MSECOND) != 0) --ms;
  return ms;
}

void Packager::package_frame(const ElementaryFrame& in, std::vector<Packet>& out) {
  TrackState& t = tracks_[in.track];
  if (in.format != t.source) {
    // A copy: frame_payload() may complete its sequence header while the streaming thread
    // still reads the caps' format.
    t.source = in.format;
    t.format = std::make_shared<PushFormat>(*in.format);
    const bool was_sent = t.plan.send;
    t.plan = plan_for(in.track, *t.format);
    if (!t.plan.send) {
      if (was_sent && log_object_ && GST_IS_ELEMENT(log_object_)) {
        GST_ELEMENT_WARNING(GST_ELEMENT(log_object_), STREAM, FORMAT,
                            ("%s track %u (%s) is not sent", in.track.video ? "Video" : "Audio",
                             in.track.id, rtmp::codec_name(t.format->codec)),
                            ("%s", t.plan.why_not.c_str()));
      }
      t.sequence_header.reset();
      headers_.set_sequence_header(in.track, nullptr);
      return;
    }
    if (!t.plan.enhanced && !t.format->has_legacy_form) {
      GST_DEBUG_OBJECT(log_object_, "%s goes as E-RTMP to a server that named no codecs",
                       rtmp::codec_name(t.format->codec));
    }
    new_sequence_header(in.track, t);
    if (in.track.id == 0) metadata_stale_ = true;  // describe the new format
  }
  if (!t.plan.send) return;
  PushFormat& f = *t.format;
  Packet pk;
  pk.media = true;
  pk.track = in.track;
  pk.video = in.track.video;
  pk.type = in.track.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
  pk.keyframe = in.keyframe;
  const gint64 dts_ns = since_base(in.dts);
  const gint64 pts_ns = since_base(in.pts);
  const gint64 dts_ms = floor_ms(dts_ns);
  const gint64 pts_ms = floor_ms(pts_ns);
  pk.dts_ms = static_cast<uint64_t>(std::max<gint64>(dts_ms, 0));  // RTMP has no negative time
  auto mapped = std::make_shared<const Payload>(gst_buffer_ref(in.buffer));
  std::vector<uint8_t> converted;
  bool as_is = true;
  std::string error;
  const bool was_pending = f.sequence_header_pending;
  if (!frame_payload(f, mapped->bytes(), converted, &as_is, &error)) {
    GST_WARNING_OBJECT(log_object_, "dropping a malformed buffer on %s: %s", in.pad_name,
                       error.c_str());
    return;
  }
  if (f.sequence_header_pending) {
    // VP8/VP9 without a profile in caps: nothing is decodable before the key frame that gives
    // the sequence header.
    GST_DEBUG_OBJECT(log_object_, "dropping a frame on %s before its sequence header", in.pad_name);
    return;
  }
  if (was_pending) new_sequence_header(in.track, t);
  pk.payload = as_is ? mapped : std::make_shared<const Payload>(std::move(converted));
  // CT from the rounded PTS and DTS, not rounded on its own (OBS 31.1's off-by-one fix), and
  // from the DTS as sent (clamped at 0), so the receiver's timestamp + CT is the PTS: a B-frame
  // DTS before the timeline's zero used to keep its unclamped CT, which put its PTS late by the
  // clamped amount.
  const auto ct = static_cast<int32_t>(pts_ms - std::max<gint64>(dts_ms, 0));
  // The sub-millisecond part of the PTS (see package_frame's contract).
  const auto nano = static_cast<uint32_t>(pts_ns - pts_ms * static_cast<gint64>(GST_MSECOND));
  std::optional<uint32_t> nano_offset;
  if (t.plan.nano && nano != 0) nano_offset = nano;
  if (!build_tag(in.track, f, false, pk.payload->bytes(), in.keyframe, ct, nano_offset, pk.body)) {
    return;
  }
  if (metadata_stale_) rebuild_metadata();
  pk.sequence_header = t.sequence_header;
  pk.metadata = metadata_;
  t.last_dts_ms = pk.dts_ms;
  release_before(pk.dts_ms, out);
  if (t.plan.packable) {
    hold(Held{std::move(pk), f.codec, ct}, nano_offset.value_or(0), out);
  } else {
    out.push_back(std::move(pk));
  }
}

// --- multitrack packing --------------------------------------------------------------------

size_t Packager::packable_tracks(bool video) const {
  size_t n = 0;
  for (const auto& [key, t] : tracks_) {
    if (key.video == video && t.source && t.plan.packable) ++n;
  }
  return n;
}

// Keeps a frame for the message of its instant: frames of one kind with the same timestamp,
// nano offset and frame type, one per track. A frame that does not fit releases the held ones
// first; the message goes as soon as every packable track of the kind has its frame in it.
void Packager::hold(Held&& frame, uint32_t nano, std::vector<Packet>& out) {
  const bool video = frame.packet.video;
  Group& g = held_[video];
  if (!g.frames.empty()) {
    const Packet& first = g.frames.front().packet;
    bool fits = first.dts_ms == frame.packet.dts_ms && g.nano == nano &&
                first.keyframe == frame.packet.keyframe;
    for (const Held& h : g.frames) fits = fits && !(h.packet.track == frame.packet.track);
    if (!fits) release(video, out);
  }
  g.nano = nano;
  g.frames.push_back(std::move(frame));
  if (g.frames.size() >= packable_tracks(video)) release(video, out);
}

// Sends what is held for one kind: one frame as it is, several as one ManyTracks* message.
void Packager::release(bool video, std::vector<Packet>& out) {
  Group& g = held_[video];
  if (g.frames.size() == 1) out.push_back(std::move(g.frames.front().packet));
  if (g.frames.size() > 1) {
    Packet pk;
    const Packet& first = g.frames.front().packet;
    pk.media = true;
    pk.video = video;
    pk.type = first.type;
    pk.keyframe = first.keyframe;
    pk.dts_ms = first.dts_ms;
    pk.track = first.track;
    pk.sequence_header = first.sequence_header;
    pk.metadata = first.metadata;
    std::vector<rtmp::UnitSpec> units;
    for (size_t i = 0; i < g.frames.size(); ++i) {
      const Held& h = g.frames[i];
      units.push_back({h.packet.track.id, h.codec, h.ct, h.packet.payload->bytes()});
      if (i > 0) pk.more_tracks.emplace_back(h.packet.track, h.packet.sequence_header);
    }
    std::optional<rtmp::AvMultitrackType> form =
        packing_ == MultitrackPacking::kManyTracksManyCodecs
            ? rtmp::AvMultitrackType::kManyTracksManyCodecs
            : rtmp::multitrack_form(units);
    std::optional<uint32_t> nano;
    if (g.nano) nano = g.nano;
    rtmp::Status st = rtmp::Ok{};
    if (video) {
      rtmp::VideoTagSpec spec;
      spec.frame_type = first.keyframe ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter;
      spec.force_enhanced = true;
      spec.multitrack = form;
      spec.nano_offset = nano;
      spec.units = std::move(units);
      st = rtmp::build_video_tag(spec, pk.body);
    } else {
      rtmp::AudioTagSpec spec;
      spec.force_enhanced = true;
      spec.multitrack = form;
      spec.nano_offset = nano;
      spec.units = std::move(units);
      st = rtmp::build_audio_tag(spec, pk.body);
    }
    if (st.ok()) {
      out.push_back(std::move(pk));
    } else {
      // Cannot happen for tracks planned packable (FourCC codecs, distinct tracks); sent one
      // by one rather than lost.
      GST_WARNING_OBJECT(log_object_, "cannot pack %zu tracks: %s", g.frames.size(),
                         st.error().to_string().c_str());
      for (Held& h : g.frames) out.push_back(std::move(h.packet));
    }
  }
  g.frames.clear();
}

// Held frames of an earlier instant go before a later frame (the wire stays in DTS order).
void Packager::release_before(uint64_t dts_ms, std::vector<Packet>& out) {
  for (bool video : {false, true}) {
    const Group& g = held_[video];
    if (!g.frames.empty() && g.frames.front().packet.dts_ms < dts_ms) release(video, out);
  }
}

void Packager::flush(std::vector<Packet>& out) {
  release(false, out);
  release(true, out);
}

void Packager::package_track_end(TrackKey track, std::vector<Packet>& out) {
  flush(out);
  auto it = tracks_.find(track);
  if (it == tracks_.end() || !it->second.format) return;
  TrackState& t = it->second;
  const PushFormat& f = *t.format;
  const bool sendable = t.plan.send && (t.plan.enhanced || f.codec == rtmp::Codec::kAvc);
  if (sendable && t.sequence_header) {
    Packet pk;
    pk.video = track.video;
    pk.type = track.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
    pk.track = track;
    pk.dts_ms = t.last_dts_ms;
    rtmp::UnitSpec unit{track.id, f.codec, 0, {}};
    std::optional<rtmp::AvMultitrackType> multitrack;
    if (track.id != 0) multitrack = rtmp::AvMultitrackType::kOneTrack;
    rtmp::Status st = rtmp::Ok{};
    if (track.video) {
      rtmp::VideoTagSpec spec;
      spec.packet = rtmp::VideoPacketType::kSequenceEnd;
      spec.force_enhanced = t.plan.enhanced;
      spec.multitrack = multitrack;
      spec.units = {unit};
      st = rtmp::build_video_tag(spec, pk.body);
    } else {
      rtmp::AudioTagSpec spec;
      spec.packet = rtmp::AudioPacketType::kSequenceEnd;
      spec.force_enhanced = true;
      spec.multitrack = multitrack;
      spec.units = {unit};
      st = rtmp::build_audio_tag(spec, pk.body);
    }
    if (st.ok()) {
      GST_DEBUG_OBJECT(log_object_, "SequenceEnd on %s track %u", track.video ? "video" : "audio",
                       track.id);
      out.push_back(std::move(pk));
    }
  }
  // A later frame on the track starts a sequence again: headers anew.
  t.source.reset();
  t.sequence_header.reset();
  headers_.set_sequence_header(track, nullptr);
}

// --- FLV -----------------------------------------------------------------------------------

void Packager::set_flv_caps(const GstCaps* caps) {
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const GValue* sh = gst_structure_get_value(s, "streamheader");
  if (!sh) return;
  std::vector<GstBuffer*> buffers;
  if (GST_VALUE_HOLDS_ARRAY(sh)) {
    for (guint i = 0; i < gst_value_array_get_size(sh); ++i) {
      const GValue* v = gst_value_array_get_value(sh, i);
      if (GST_VALUE_HOLDS_BUFFER(v)) buffers.push_back(gst_value_get_buffer(v));
    }
  } else if (GST_VALUE_HOLDS_BUFFER(sh)) {
    buffers.push_back(gst_value_get_buffer(sh));
  }
  // A new streamheader describes the stream from its start: read it as a fresh FLV stream.
  flv_reader_ = rtmp::FlvReader();
  flv_started_ = false;
  std::vector<Packet> unused;  // headers only update the stream headers
  for (GstBuffer* b : buffers) {
    std::string error;
    GstBuffer* copy = gst_buffer_ref(b);
    if (!package_flv(copy, unused, &error)) {
      GST_WARNING_OBJECT(log_object_, "unreadable FLV streamheader: %s", error.c_str());
    }
    gst_buffer_unref(copy);
  }
  flv_caps_headers_ = !buffers.empty();
}

uint64_t Packager::unwrap_flv_timestamp(uint32_t ts) {
  // flvmux's 32-bit millisecond timestamps roll over after ~49.7 days: continue across the
  // wrap (rtmp2sink's heuristic: a jump of more than 2^31 is a wrap).
  if (!have_flv_ts_) {
    have_flv_ts_ = true;
    flv_last_ts_ = ts;
    return ts;
  }
  uint32_t last32 = static_cast<uint32_t>(flv_last_ts_);
  int64_t delta = static_cast<int32_t>(ts - last32);
  int64_t next = static_cast<int64_t>(flv_last_ts_) + delta;
  flv_last_ts_ = next < 0 ? 0 : static_cast<uint64_t>(next);
  return flv_last_ts_;
}

// Whole tags (header, body, PreviousTagSize) back to back, as flvmux pushes them: their
// (offset of the body, size, type, timestamp); empty when `data` is anything else.
struct WholeTag {
  size_t body;
  size_t size;
  uint8_t type;
  uint32_t timestamp;
};
static std::vector<WholeTag> whole_tags(rtmp::Bytes data, uint32_t max_size) {
  std::vector<WholeTag> tags;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 11) return {};
    const uint8_t* h = data.data() + pos;
    const size_t size = (size_t{h[1]} << 16) | (size_t{h[2]} << 8) | h[3];
    if (size > max_size || data.size() - pos - 11 < size + 4) return {};
    const uint32_t ts =
        (uint32_t{h[7]} << 24) | (uint32_t{h[4]} << 16) | (uint32_t{h[5]} << 8) | h[6];
    tags.push_back(WholeTag{pos + 11, size, static_cast<uint8_t>(h[0] & 0x1F), ts});
    pos += 11 + size + 4;
  }
  return tags;
}

void Packager::package_flv_tag(rtmp::FlvFileTag&& tag, std::vector<Packet>& out,
                               std::shared_ptr<const Payload> borrowed) {
  if (borrowed && tag.type != 8 && tag.type != 9) {
    // Data tags are parsed and may be kept: take them out of the buffer.
    rtmp::Bytes b = borrowed->bytes();
    tag.body.assign(b.begin(), b.end());
    borrowed.reset();
  }
  Packet pk;
  pk.dts_ms = unwrap_flv_timestamp(static_cast<uint32_t>(tag.timestamp));
  pk.type = static_cast<rtmp::MessageType>(tag.type);
  if (tag.type == 18) {
    rtmp::Message m;
    m.type = 18;
    m.payload = std::move(tag.body);
    auto dm = rtmp::parse_data_message(m);
    if (dm.ok() && dm->handler == "onMetaData" && !dm->values.empty()) {
      // Published as @setDataFrame (rtmp2sink does the same); it describes what follows.
      auto meta = std::make_shared<Packet>();
      meta->type = rtmp::MessageType::kDataAmf0;
      meta->body = rtmp::build_set_data_frame(dm->values[0]).payload;
      flv_metadata_ = meta;
      headers_.set_metadata(flv_metadata_);
      return;
    }
    pk.body = std::move(m.payload);  // onCuePoint, onTextData, ...: as they are
    pk.metadata = flv_metadata_;
    out.push_back(std::move(pk));
    return;
  }
  if (tag.type != 8 && tag.type != 9) return;  // not media: nothing RTMP can carry
  pk.video = tag.type == 9;
  pk.body = std::move(tag.body);
  pk.payload = std::move(borrowed);  // the whole body when borrowed (pk.body is then empty)
  const rtmp::Bytes body = pk.payload ? pk.payload->bytes() : rtmp::Bytes(pk.body);
  pk.keyframe = !pk.video || body.empty() || (body[0] & 0x70) == 0x10;
  pk.media = true;
  pk.track = TrackKey{pk.video, 0};
  auto parsed = rtmp::parse_flv_tag(static_cast<rtmp::TagType>(tag.type), body);
  if (parsed.ok() && !parsed->units.empty()) {
    pk.track.id = parsed->units[0].track_id;
    if (parsed->units[0].packet == rtmp::PacketKind::kSequenceStart) {
      pk.media = false;
      if (pk.payload) {  // kept across connections: own the bytes
        pk.body.assign(body.begin(), body.end());
        pk.payload.reset();
      }
      auto header = std::make_shared<Packet>(std::move(pk));
      flv_sequence_headers_[header->track] = header;
      headers_.set_sequence_header(header->track, header);
      return;
    }
  }
  auto it = flv_sequence_headers_.find(pk.track);
  if (it != flv_sequence_headers_.end()) pk.sequence_header = it->second;
  pk.metadata = flv_metadata_;
  out.push_back(std::move(pk));
}

bool Packager::package_flv(GstBuffer* buffer, std::vector<Packet>& out, std::string* error) {
  if (flv_caps_headers_ && GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_HEADER)) {
    return true;  // already taken from the caps' streamheader (as rtmp2sink does)
  }
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    *error = "cannot map the buffer";
    return false;
  }
  const bool file_header =
      map.size >= 3 && map.data[0] == 'F' && map.data[1] == 'L' && map.data[2] == 'V';
  if (flv_started_ && file_header && flv_reader_.at_boundary()) {
    // A new file header between tags: flvmux (streamable=false) rewrites its header and
    // onMetaData at EOS, rtmp2sink drops such header buffers; we read on as a new file.
    flv_reader_ = rtmp::FlvReader();
  } else if (!flv_started_ && !file_header) {
    // A stream that starts mid-way (no "FLV" header) is fed as tags: give it the file header.
    std::vector<uint8_t> hdr;
    rtmp::FlvWriter::write_header(hdr, true, true);
    (void)flv_reader_.receive(hdr);
  }
  flv_started_ = true;
  // flvmux's buffers are whole tags: frames are sent from the buffer itself, without a copy
  // (header and data tags are copied: they are small, parsed and kept).
  if (!file_header && flv_reader_.at_tag_start()) {
    auto tags = whole_tags(rtmp::Bytes(map.data, map.size), rtmp::Limits{}.max_message_size);
    if (!tags.empty()) {
      gst_buffer_unmap(buffer, &map);
      for (const WholeTag& t : tags) {
        rtmp::FlvFileTag tag;
        tag.type = t.type;
        tag.timestamp = static_cast<int32_t>(t.timestamp);
        auto payload = std::make_shared<const Payload>(gst_buffer_ref(buffer), t.body, t.size);
        package_flv_tag(std::move(tag), out, std::move(payload));
      }
      return true;
    }
  }
  auto st = flv_reader_.receive(rtmp::Bytes(map.data, map.size));
  gst_buffer_unmap(buffer, &map);
  while (auto tag = flv_reader_.next_tag()) package_flv_tag(std::move(*tag), out);
  if (!st.ok()) {
    *error = st.error().to_string();
    return false;
  }
  return true;
}

}  // namespace gst_ertmp
