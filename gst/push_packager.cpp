#include "gst/push_packager.h"

#include <algorithm>
#include <optional>

#include "protocol/command.h"
#include "protocol/flv_tag.h"

#include "gst/push_debug.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

namespace gst_ertmp {
namespace {}  // namespace

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
                   GstObject* log_object)
    : headers_(headers), description_(description), mode_(mode), log_object_(log_object) {}

bool Packager::enhanced_for(TrackKey track, const PushFormat& f) const {
  if (track.id != 0 || !f.has_legacy_form) return true;
  return mode_ == EnhancedMode::kAlways && rtmp::codec_fourcc(f.codec) != 0;
}

// The tag body of a sequence header, or only the tag header of a frame (the payload's bytes
// are not read then; they follow the header on the wire).
bool Packager::build_tag(TrackKey track, const PushFormat& f, bool sequence_start,
                         rtmp::Bytes payload, bool keyframe, int32_t ct,
                         std::vector<uint8_t>& out) {
  rtmp::UnitSpec unit{track.id, f.codec, ct, payload};
  std::optional<rtmp::AvMultitrackType> multitrack;
  if (track.id != 0) multitrack = rtmp::AvMultitrackType::kOneTrack;
  rtmp::Status st = rtmp::Ok{};
  if (track.video) {
    rtmp::VideoTagSpec spec;
    spec.frame_type = keyframe ? rtmp::VideoFrameType::kKey : rtmp::VideoFrameType::kInter;
    spec.packet = sequence_start ? rtmp::VideoPacketType::kSequenceStart
                                 : rtmp::VideoPacketType::kCodedFrames;
    spec.force_enhanced = enhanced_for(track, f);
    spec.multitrack = multitrack;
    spec.units = {unit};
    st =
        sequence_start ? rtmp::build_video_tag(spec, out) : rtmp::build_video_tag_header(spec, out);
  } else {
    rtmp::AudioTagSpec spec;
    spec.packet = sequence_start ? rtmp::AudioPacketType::kSequenceStart
                                 : rtmp::AudioPacketType::kCodedFrames;
    spec.force_enhanced = enhanced_for(track, f);
    spec.multitrack = multitrack;
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

PacketPtr Packager::sequence_header_packet(TrackKey track, const PushFormat& f) {
  if (f.sequence_header.empty()) return nullptr;
  auto pk = std::make_shared<Packet>();
  pk->video = track.video;
  pk->type = track.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
  pk->track = track;
  if (!build_tag(track, f, true, f.sequence_header, true, 0, pk->body)) return nullptr;
  return pk;
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

gint64 Packager::rtmp_ms(gint64 running_ns) {
  if (!have_base_) {
    have_base_ = true;
    base_ = running_ns;
  }
  // Floor division: a time before the base (a B-frame DTS below the first frame's, when
  // another pad went first) rounds the same way as one after it.
  gint64 d = running_ns - base_;
  gint64 ms = d / static_cast<gint64>(GST_MSECOND);
  if (d < 0 && d % static_cast<gint64>(GST_MSECOND) != 0) --ms;
  return ms;
}

void Packager::package_frame(const ElementaryFrame& in, std::vector<Packet>& out) {
  TrackState& t = tracks_[in.track];
  if (in.format != t.source) {
    // A copy: frame_payload() may complete its sequence header while the streaming thread
    // still reads the caps' format.
    t.source = in.format;
    t.format = std::make_shared<PushFormat>(*in.format);
    t.sequence_header = sequence_header_packet(in.track, *t.format);
    headers_.set_sequence_header(in.track, t.sequence_header);
    if (in.track.id == 0) metadata_stale_ = true;  // describe the new format
  }
  PushFormat& f = *t.format;
  Packet pk;
  pk.media = true;
  pk.track = in.track;
  pk.video = in.track.video;
  pk.type = in.track.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio;
  pk.keyframe = in.keyframe;
  const gint64 dts_ms = rtmp_ms(in.dts);
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
  if (was_pending) {
    t.sequence_header = sequence_header_packet(in.track, f);
    headers_.set_sequence_header(in.track, t.sequence_header);
  }
  pk.payload = as_is ? mapped : std::make_shared<const Payload>(std::move(converted));
  // CT from the rounded PTS and DTS, not rounded on its own (OBS 31.1's off-by-one fix), and
  // from the DTS before it was clamped at 0, so the frame keeps its composition offset.
  gint64 ct_ms = rtmp_ms(in.pts) - dts_ms;
  if (!build_tag(in.track, f, false, pk.payload->bytes(), in.keyframe, static_cast<int32_t>(ct_ms),
                 pk.body)) {
    return;
  }
  if (metadata_stale_) rebuild_metadata();
  pk.sequence_header = t.sequence_header;
  pk.metadata = metadata_;
  out.push_back(std::move(pk));
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
