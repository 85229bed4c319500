#include "protocol/play_cache.h"

#include <algorithm>
#include <string_view>

#include "protocol/command.h"

namespace rtmp {
namespace {

// AMF0 string "@setDataFrame": marker 0x02, length 13, the bytes (command.h).
constexpr std::string_view kSetDataFrame("\x02\x00\x0d@setDataFrame", 16);

// Removes a leading "@setDataFrame" from a data message in place (after the AMF3 format
// byte for type 15): players must see "onMetaData" first (ertmp-wire.md B.4 #11). Cut as
// bytes, so the rest is exactly what the publisher sent.
void strip_set_data_frame(Message& m) {
  const size_t at = m.kind() == MessageType::kDataAmf3 ? 1 : 0;
  if (m.payload.size() < at + kSetDataFrame.size()) return;
  if (!std::equal(kSetDataFrame.begin(), kSetDataFrame.end(), m.payload.begin() + at)) return;
  m.payload.erase(m.payload.begin() + static_cast<std::ptrdiff_t>(at),
                  m.payload.begin() + static_cast<std::ptrdiff_t>(at + kSetDataFrame.size()));
}

bool is_media(const Message& m) {
  return m.kind() == MessageType::kAudio || m.kind() == MessageType::kVideo;
}
bool is_data(const Message& m) {
  return m.kind() == MessageType::kDataAmf0 || m.kind() == MessageType::kDataAmf3;
}

// An ExHeader tag by its first byte (video: IsExHeader bit; audio: SoundFormat 9).
bool enhanced_first_byte(const Message& m) {
  if (m.payload.empty()) return false;
  return m.kind() == MessageType::kVideo ? (m.payload[0] & 0x80) != 0 : (m.payload[0] >> 4) == 9;
}

ItemKind media_kind(const FlvTag& tag) {
  const MediaUnit& u = tag.units.front();
  switch (u.packet) {
    case PacketKind::kSequenceStart:
    case PacketKind::kMultichannelConfig:
    case PacketKind::kMetadata:
    case PacketKind::kMpeg2TsSequenceStart:
      return ItemKind::kHeader;
    case PacketKind::kSequenceEnd:
      return ItemKind::kSequenceEnd;
    case PacketKind::kCodedFrames:
      if (!tag.video) return ItemKind::kAudio;
      return std::all_of(tag.units.begin(), tag.units.end(),
                         [](const MediaUnit& x) { return x.keyframe; })
                 ? ItemKind::kKeyframe
                 : ItemKind::kInterframe;
    case PacketKind::kCommand:
      return ItemKind::kInterframe;
    case PacketKind::kSilence:
      return ItemKind::kAudio;
  }
  return ItemKind::kUnparsed;
}

// Headers that describe a track's codec (what decides whether a player can play it).
bool codec_header(PacketKind p) {
  return p == PacketKind::kSequenceStart || p == PacketKind::kMpeg2TsSequenceStart;
}

}  // namespace

PlayCache::PlayCache(PlayCacheLimits limits, Limits amf_limits)
    : limits_(limits), amf_limits_(amf_limits) {}

SharedItem PlayCache::push(Message message) {
  if (!is_media(message) && !is_data(message)) return nullptr;
  auto item = std::make_shared<StreamItem>();
  if (is_media(message)) {
    auto tag = parse_flv_tag(
        message.kind() == MessageType::kVideo ? TagType::kVideo : TagType::kAudio, message.payload);
    if (tag.ok()) item->tag = std::move(tag).value();
    item->message = std::move(message);
    if (!tag.ok()) item->kind = ItemKind::kUnparsed;
  } else {
    item->message = std::move(message);
  }
  return classify_and_store(std::move(item));
}

SharedItem PlayCache::push(MediaReceived media) {
  if (!is_media(media.message)) return nullptr;
  auto item = std::make_shared<StreamItem>();
  item->message = std::move(media.message);
  item->tag = std::move(media.tag);
  if (media.tag_error) item->kind = ItemKind::kUnparsed;
  return classify_and_store(std::move(item));
}

SharedItem PlayCache::classify_and_store(std::shared_ptr<StreamItem> item) {
  StreamItem& it = *item;
  it.video = it.message.kind() == MessageType::kVideo;
  if (is_data(it.message)) {
    auto data = parse_data_message(it.message, amf_limits_);
    it.kind = ItemKind::kData;
    if (data.ok()) {
      if (data->set_data_frame) strip_set_data_frame(it.message);
      if (data->clear_data_frame) {
        it.kind = ItemKind::kClearMetadata;
      } else if (data->handler == "onMetaData") {
        it.kind = ItemKind::kMetadata;
      }
    }
  } else if (it.kind != ItemKind::kUnparsed) {
    if (it.tag.units.empty()) {
      it.kind = ItemKind::kUnparsed;
    } else {
      it.kind = media_kind(it.tag);
      it.track = it.tag.units.front().track_id;
    }
  }

  SharedItem shared = std::move(item);
  switch (shared->kind) {
    case ItemKind::kMetadata:
      metadata_ = shared;
      break;
    case ItemKind::kClearMetadata:
      metadata_.reset();
      break;
    case ItemKind::kHeader:
      store_header(shared);
      if (gop_valid_) add_to_gop(shared);
      break;
    case ItemKind::kSequenceEnd:
      for (const auto& u : shared->tag.units) forget_header(shared->video, u.track_id);
      if (gop_valid_) add_to_gop(shared);
      break;
    case ItemKind::kKeyframe:
      if (!reference_track_) reference_track_ = shared->track;
      if (shared->track == *reference_track_) {
        // A new GOP: joiners get the headers as they are now, then this keyframe onwards.
        gop_.clear();
        gop_bytes_ = 0;
        gop_headers_.clear();
        for (const auto& h : headers_) gop_headers_.push_back(h.item);
        gop_valid_ = true;
        gop_start_ms_ = gop_last_ms_ = shared->message.timestamp;
      }
      if (gop_valid_) add_to_gop(shared);
      break;
    case ItemKind::kInterframe:
      if (!reference_track_) reference_track_ = shared->track;
      if (gop_valid_) add_to_gop(shared);
      break;
    case ItemKind::kAudio:
    case ItemKind::kData:
      if (gop_valid_) add_to_gop(shared);
      break;
    case ItemKind::kUnparsed:
      break;  // forwarded live only: a joiner cannot use what we cannot classify
  }
  return shared;
}

void PlayCache::store_header(const SharedItem& item) {
  std::vector<HeaderKey> keys;
  for (const auto& u : item->tag.units)
    keys.push_back(HeaderKey{item->video, u.track_id, u.packet});
  for (auto& e : headers_) {
    std::erase_if(e.keys, [&keys](const HeaderKey& k) {
      return std::find(keys.begin(), keys.end(), k) != keys.end();
    });
  }
  std::erase_if(headers_, [](const HeaderEntry& e) { return e.keys.empty(); });
  headers_.push_back(HeaderEntry{item, std::move(keys)});
  if (headers_.size() > limits_.max_header_entries) headers_.erase(headers_.begin());
}

void PlayCache::forget_header(bool video, uint8_t track) {
  for (auto& e : headers_) {
    std::erase_if(e.keys, [&](const HeaderKey& k) { return k.video == video && k.track == track; });
  }
  std::erase_if(headers_, [](const HeaderEntry& e) { return e.keys.empty(); });
}

void PlayCache::add_to_gop(const SharedItem& item) {
  gop_.push_back(item);
  gop_bytes_ += item->message.payload.size();
  gop_last_ms_ = std::max(gop_last_ms_, item->message.timestamp);
  if (gop_bytes_ > limits_.max_gop_bytes || gop_last_ms_ - gop_start_ms_ > limits_.max_gop_ms ||
      gop_.size() > limits_.max_gop_messages) {
    drop_gop();
  }
}

void PlayCache::drop_gop() {
  gop_.clear();
  gop_headers_.clear();
  gop_bytes_ = 0;
  gop_valid_ = false;
}

std::vector<SharedItem> PlayCache::join() const {
  std::vector<SharedItem> out;
  if (metadata_) out.push_back(metadata_);
  if (gop_valid_) {
    out.insert(out.end(), gop_headers_.begin(), gop_headers_.end());
    out.insert(out.end(), gop_.begin(), gop_.end());
  } else {
    for (const auto& h : headers_) out.push_back(h.item);
  }
  return out;
}

Admission PlayCache::admit(const PeerCapabilities& player) const {
  struct Kind {
    bool present = false, playable = false;
    Admission first_refusal = Admission::kAllowed;
  } video, audio;
  for (const auto& e : headers_) {
    if (!std::any_of(e.keys.begin(), e.keys.end(),
                     [](const HeaderKey& k) { return codec_header(k.packet); })) {
      continue;
    }
    Kind& k = e.item->video ? video : audio;
    k.present = true;
    Admission a = admit_tag(*e.item, player);
    if (a == Admission::kAllowed) {
      k.playable = true;
    } else if (k.first_refusal == Admission::kAllowed) {
      k.first_refusal = a;
    }
  }
  if (video.present && !video.playable) return video.first_refusal;
  if (audio.present && !audio.playable) return audio.first_refusal;
  return Admission::kAllowed;
}

void PlayCache::reset() {
  metadata_.reset();
  headers_.clear();
  drop_gop();
  reference_track_.reset();
}

size_t PlayCache::bytes() const {
  std::vector<const StreamItem*> seen;
  size_t total = 0;
  auto count = [&](const SharedItem& i) {
    if (!i || std::find(seen.begin(), seen.end(), i.get()) != seen.end()) return;
    seen.push_back(i.get());
    total += i->message.payload.size();
  };
  count(metadata_);
  for (const auto& h : headers_) count(h.item);
  for (const auto& h : gop_headers_) count(h);
  return total + gop_bytes_;
}

uint64_t PlayCache::gop_duration_ms() const {
  return gop_valid_ ? gop_last_ms_ - gop_start_ms_ : 0;
}

Admission admit_tag(const StreamItem& item, const PeerCapabilities& player) {
  if (!is_media(item.message)) return Admission::kAllowed;
  if (item.kind == ItemKind::kUnparsed) {
    // Unknown FourCC or broken tag: only a legacy-looking one may go anywhere.
    if (!enhanced_first_byte(item.message)) return Admission::kAllowed;
    return player.present_any ? Admission::kCodecNotAdvertised : Admission::kNeedsEnhancedRtmp;
  }
  if (!item.tag.enhanced) return Admission::kAllowed;
  if (!player.present_any) return Admission::kNeedsEnhancedRtmp;
  if (item.tag.multitrack && !(player.caps_ex & kCapsExMultitrack)) {
    return Admission::kMultitrackNotAdvertised;
  }
  for (const auto& u : item.tag.units) {
    if (u.nano_offset != 0 && !(player.caps_ex & kCapsExModEx)) {
      return Admission::kModExNotAdvertised;
    }
    const std::string f = fourcc_string(codec_fourcc(u.codec));
    const bool ok =
        item.video ? player.supports_video(f, kCanDecode) || player.supports_video(f, kCanForward)
                   : player.supports_audio(f, kCanDecode) || player.supports_audio(f, kCanForward);
    if (!ok) return Admission::kCodecNotAdvertised;
  }
  return Admission::kAllowed;
}

const char* admission_reason(Admission a) {
  switch (a) {
    case Admission::kAllowed:
      return "allowed";
    case Admission::kNeedsEnhancedRtmp:
      return "the stream uses E-RTMP codecs and the player advertised no E-RTMP support";
    case Admission::kCodecNotAdvertised:
      return "the stream's codec is not in the player's fourCcList";
    case Admission::kMultitrackNotAdvertised:
      return "the stream is multitrack and the player did not advertise capsEx Multitrack";
    case Admission::kModExNotAdvertised:
      return "the stream uses ModEx timestamps and the player did not advertise capsEx ModEx";
  }
  return "unknown";
}

GateVerdict PlayerGate::offer(const StreamItem& item, size_t queued_bytes, uint64_t now_ms) {
  if (dropped_) return GateVerdict::kDrop;
  if (queued_bytes >= limits_.drop_bytes) {
    dropped_ = true;
    return GateVerdict::kDrop;
  }
  const bool media = item.kind == ItemKind::kKeyframe || item.kind == ItemKind::kInterframe ||
                     item.kind == ItemKind::kAudio || item.kind == ItemKind::kData ||
                     item.kind == ItemKind::kUnparsed;
  if (!media) return GateVerdict::kSend;  // metadata and headers: small, and needed later
  if (!cut_ && queued_bytes > limits_.cut_bytes) {
    cut_ = true;
    cut_since_ms_ = now_ms;
    started_.reset();
  }
  if (cut_) {
    if (now_ms >= cut_since_ms_ && now_ms - cut_since_ms_ >= limits_.drop_after_ms) {
      dropped_ = true;
      return GateVerdict::kDrop;
    }
    if (queued_bytes > limits_.cut_bytes / 2) {
      ++skipped_;
      return GateVerdict::kSkip;
    }
    cut_ = false;  // drained: audio resumes now, video at each track's next keyframe
  }
  if (item.kind == ItemKind::kKeyframe) {
    for (const auto& u : item.tag.units) started_.set(u.track_id);
  } else if (item.kind == ItemKind::kInterframe && !started_.test(item.track)) {
    ++skipped_;
    return GateVerdict::kSkip;
  }
  return GateVerdict::kSend;
}

}  // namespace rtmp
