#include "protocol/flv_tag.h"

#include "protocol/byte_writer.h"

namespace rtmp {

std::string fourcc_string(uint32_t f) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((f >> (24 - 8 * i)) & 0xFF);
    s[static_cast<size_t>(i)] = (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return s;
}

const char* codec_name(Codec c) {
  switch (c) {
    case Codec::kUnknown:
      return "unknown";
    case Codec::kSorensonH263:
      return "Sorenson H.263";
    case Codec::kScreenVideo:
      return "Screen video";
    case Codec::kVp6:
      return "VP6";
    case Codec::kVp6Alpha:
      return "VP6 alpha";
    case Codec::kScreenVideo2:
      return "Screen video v2";
    case Codec::kAvc:
      return "H.264";
    case Codec::kHevc:
      return "H.265";
    case Codec::kVvc:
      return "H.266";
    case Codec::kVp8:
      return "VP8";
    case Codec::kVp9:
      return "VP9";
    case Codec::kAv1:
      return "AV1";
    case Codec::kPcmPlatformEndian:
      return "PCM";
    case Codec::kAdpcm:
      return "ADPCM";
    case Codec::kMp3:
      return "MP3";
    case Codec::kPcmLittleEndian:
      return "PCM LE";
    case Codec::kNellymoser16kMono:
      return "Nellymoser 16k";
    case Codec::kNellymoser8kMono:
      return "Nellymoser 8k";
    case Codec::kNellymoser:
      return "Nellymoser";
    case Codec::kG711ALaw:
      return "G.711 A-law";
    case Codec::kG711MuLaw:
      return "G.711 mu-law";
    case Codec::kAac:
      return "AAC";
    case Codec::kSpeex:
      return "Speex";
    case Codec::kMp3_8k:
      return "MP3 8k";
    case Codec::kDeviceSpecific:
      return "device-specific";
    case Codec::kOpus:
      return "Opus";
    case Codec::kFlac:
      return "FLAC";
    case Codec::kAc3:
      return "AC-3";
    case Codec::kEac3:
      return "E-AC-3";
  }
  return "unknown";
}

bool is_video(Codec c) {
  return c >= Codec::kSorensonH263 && c <= Codec::kAv1;
}

namespace {

// One table per mapping, read in both directions.
struct FourCcEntry {
  uint32_t fourcc;
  Codec codec;
};
constexpr FourCcEntry kFourCcs[] = {
    {fourccs::kAvc1, Codec::kAvc}, {fourccs::kHvc1, Codec::kHevc}, {fourccs::kVvc1, Codec::kVvc},
    {fourccs::kVp08, Codec::kVp8}, {fourccs::kVp09, Codec::kVp9},  {fourccs::kAv01, Codec::kAv1},
    {fourccs::kMp4a, Codec::kAac}, {fourccs::kOpus, Codec::kOpus}, {fourccs::kFlac, Codec::kFlac},
    {fourccs::kAc3, Codec::kAc3},  {fourccs::kEac3, Codec::kEac3}, {fourccs::kMp3, Codec::kMp3},
};

struct LegacyEntry {
  uint8_t id;
  Codec codec;
};
// FLV 10.1 E.4.3.1 CodecID (12 = HEVC is de-facto, parse only: see flv_tag.h).
constexpr LegacyEntry kLegacyVideo[] = {{2, Codec::kSorensonH263}, {3, Codec::kScreenVideo},
                                        {4, Codec::kVp6},          {5, Codec::kVp6Alpha},
                                        {6, Codec::kScreenVideo2}, {7, Codec::kAvc}};
// FLV 10.1 E.4.2.1 SoundFormat.
constexpr LegacyEntry kLegacyAudio[] = {{0, Codec::kPcmPlatformEndian},
                                        {1, Codec::kAdpcm},
                                        {2, Codec::kMp3},
                                        {3, Codec::kPcmLittleEndian},
                                        {4, Codec::kNellymoser16kMono},
                                        {5, Codec::kNellymoser8kMono},
                                        {6, Codec::kNellymoser},
                                        {7, Codec::kG711ALaw},
                                        {8, Codec::kG711MuLaw},
                                        {10, Codec::kAac},
                                        {11, Codec::kSpeex},
                                        {14, Codec::kMp3_8k},
                                        {15, Codec::kDeviceSpecific}};

template <size_t N>
std::optional<uint8_t> id_of(const LegacyEntry (&table)[N], Codec c) {
  for (const auto& e : table) {
    if (e.codec == c) return e.id;
  }
  return std::nullopt;
}

template <size_t N>
Codec codec_of(const LegacyEntry (&table)[N], uint8_t id) {
  for (const auto& e : table) {
    if (e.id == id) return e.codec;
  }
  return Codec::kUnknown;
}

}  // namespace

uint32_t codec_fourcc(Codec c) {
  for (const auto& e : kFourCcs) {
    if (e.codec == c) return e.fourcc;
  }
  return 0;
}

Codec codec_from_fourcc(uint32_t f, bool video) {
  for (const auto& e : kFourCcs) {
    if (e.fourcc == f && is_video(e.codec) == video) return e.codec;
  }
  return Codec::kUnknown;
}

std::optional<uint8_t> legacy_video_codec_id(Codec c) {
  return id_of(kLegacyVideo, c);
}
std::optional<uint8_t> legacy_sound_format(Codec c) {
  return id_of(kLegacyAudio, c);
}

namespace {

Codec legacy_video_codec(uint8_t id) {
  return id == static_cast<uint8_t>(VideoCodecId::kHevcDeFacto) ? Codec::kHevc
                                                                : codec_of(kLegacyVideo, id);
}

Codec legacy_audio_codec(uint8_t format) {
  return codec_of(kLegacyAudio, format);
}

bool has_composition_time(Codec c) {
  return c == Codec::kAvc || c == Codec::kHevc || c == Codec::kVvc;
}

Error unsupported(std::string what, uint64_t offset) {
  return make_error(Errc::kUnsupported, std::move(what), offset);
}

Result<FlvTag> parse_legacy_video(ByteReader& r, uint8_t b0) {
  FlvTag tag;
  tag.video = true;
  MediaUnit u;
  u.video = true;
  u.frame_type = static_cast<VideoFrameType>(b0 >> 4);
  uint8_t codec_id = b0 & 0x0F;
  u.codec = legacy_video_codec(codec_id);
  if (u.codec == Codec::kUnknown) {
    return unsupported("video CodecID " + std::to_string(codec_id), 0);
  }
  if (u.frame_type == VideoFrameType::kReserved || static_cast<uint8_t>(u.frame_type) > 5) {
    return make_error(Errc::kMalformed,
                      "video FrameType " + std::to_string(static_cast<int>(u.frame_type)), 0);
  }
  u.keyframe =
      u.frame_type == VideoFrameType::kKey || u.frame_type == VideoFrameType::kGeneratedKey;
  if (u.frame_type == VideoFrameType::kCommand) {
    RTMP_TRY(uint8_t cmd, r.u8());
    u.packet = PacketKind::kCommand;
    u.video_command = cmd;
    u.offset = r.position();
    tag.units.push_back(u);
    return tag;
  }
  if (u.codec == Codec::kAvc || u.codec == Codec::kHevc) {
    RTMP_TRY(uint8_t pt, r.u8());
    RTMP_TRY(int32_t cts, r.i24be());
    switch (pt) {
      case 0:
        u.packet = PacketKind::kSequenceStart;
        break;
      case 1:
        u.packet = PacketKind::kCodedFrames;
        u.composition_time = cts;
        break;
      case 2:
        u.packet = PacketKind::kSequenceEnd;
        break;
      default:
        return unsupported("AVCPacketType " + std::to_string(pt), 1);
    }
  }
  u.offset = r.position();
  u.size = r.remaining();
  tag.units.push_back(u);
  return tag;
}

Result<FlvTag> parse_legacy_audio(ByteReader& r, uint8_t b0) {
  FlvTag tag;
  MediaUnit u;
  uint8_t format = b0 >> 4;
  u.codec = legacy_audio_codec(format);
  if (u.codec == Codec::kUnknown) return unsupported("SoundFormat " + std::to_string(format), 0);
  u.sound_rate = (b0 >> 2) & 3;
  u.sound_size = (b0 >> 1) & 1;
  u.sound_type = b0 & 1;
  if (u.codec == Codec::kAac) {
    RTMP_TRY(uint8_t pt, r.u8());
    if (pt > 1) return unsupported("AACPacketType " + std::to_string(pt), 1);
    u.packet = pt == 0 ? PacketKind::kSequenceStart : PacketKind::kCodedFrames;
  }
  u.offset = r.position();
  u.size = r.remaining();
  tag.units.push_back(u);
  return tag;
}

// Reads the ModEx loop that starts after a packet type of 7; returns the final packet type.
Result<uint8_t> read_mod_ex(ByteReader& r, uint32_t& nano_offset) {
  uint8_t packet_type = 7;
  int guard = 0;
  while (packet_type == 7) {
    // Each round consumes at least 3 bytes, so the loop is bounded by the body; the counter is
    // belt and braces against a future refactor.
    if (++guard > 256) return make_error(Errc::kMalformed, "ModEx loop too long", r.offset());
    RTMP_TRY(uint8_t s, r.u8());
    size_t size = size_t{s} + 1;
    if (size == 256) {
      RTMP_TRY(uint16_t s16, r.u16be());
      size = size_t{s16} + 1;
    }
    RTMP_TRY(Bytes data, r.bytes(size));
    RTMP_TRY(uint8_t b, r.u8());
    uint8_t mod_ex_type = b >> 4;
    packet_type = b & 0x0F;
    if (mod_ex_type == static_cast<uint8_t>(ModExType::kTimestampOffsetNano)) {
      if (data.size() < 3) {
        return make_error(Errc::kMalformed, "TimestampOffsetNano shorter than 3 bytes", r.offset());
      }
      nano_offset = (uint32_t{data[0]} << 16) | (uint32_t{data[1]} << 8) | data[2];
    }
    // Unknown ModEx types are skipped: their data has been consumed.
  }
  return packet_type;
}

Status parse_unit_body(ByteReader& r, MediaUnit& u, uint8_t packet_type, size_t end) {
  if (u.video) {
    switch (static_cast<VideoPacketType>(packet_type)) {
      case VideoPacketType::kSequenceStart:
        u.packet = PacketKind::kSequenceStart;
        break;
      case VideoPacketType::kCodedFrames:
        u.packet = PacketKind::kCodedFrames;
        if (has_composition_time(u.codec)) {
          RTMP_TRY(int32_t cts, r.i24be());
          u.composition_time = cts;
        }
        break;
      case VideoPacketType::kCodedFramesX:
        u.packet = PacketKind::kCodedFrames;
        break;
      case VideoPacketType::kSequenceEnd:
        u.packet = PacketKind::kSequenceEnd;
        break;
      case VideoPacketType::kMetadata:
        u.packet = PacketKind::kMetadata;
        u.keyframe = false;
        break;
      case VideoPacketType::kMpeg2TsSequenceStart:
        // Defined for av01 only (its body is an AV1 video descriptor); E-RTMP v2 leaves it
        // undefined for every other FourCC, so such a message is skipped, not misread.
        if (u.codec != Codec::kAv1) {
          return unsupported(std::string("MPEG2TSSequenceStart for ") + codec_name(u.codec),
                             r.offset());
        }
        u.packet = PacketKind::kMpeg2TsSequenceStart;
        break;
      default:
        return unsupported("VideoPacketType " + std::to_string(packet_type), r.offset());
    }
  } else {
    switch (static_cast<AudioPacketType>(packet_type)) {
      case AudioPacketType::kSequenceStart:
        u.packet = PacketKind::kSequenceStart;
        break;
      case AudioPacketType::kCodedFrames:
        u.packet = PacketKind::kCodedFrames;
        break;
      case AudioPacketType::kSequenceEnd:
        u.packet = PacketKind::kSequenceEnd;
        break;
      case AudioPacketType::kMultichannelConfig: {
        u.packet = PacketKind::kMultichannelConfig;
        RTMP_TRY(uint8_t order, r.u8());
        RTMP_TRY(uint8_t count, r.u8());
        if (order > 2) return make_error(Errc::kMalformed, "AudioChannelOrder", r.offset());
        u.multichannel.order = static_cast<AudioChannelOrder>(order);
        u.multichannel.channel_count = count;
        if (u.multichannel.order == AudioChannelOrder::kCustom) {
          RTMP_TRY(Bytes ch, r.bytes(count));
          u.multichannel.channels.assign(ch.begin(), ch.end());
        } else if (u.multichannel.order == AudioChannelOrder::kNative) {
          RTMP_TRY(uint32_t mask, r.u32be());
          u.multichannel.mask = mask;
        }
        break;
      }
      default:
        return unsupported("AudioPacketType " + std::to_string(packet_type), r.offset());
    }
  }
  if (r.position() > end) return make_error(Errc::kTruncated, "track body", r.offset());
  u.offset = r.position();
  u.size = end - r.position();
  return r.skip(u.size);
}

Result<FlvTag> parse_ex(ByteReader& r, uint8_t b0, bool video) {
  FlvTag tag;
  tag.video = video;
  tag.enhanced = true;
  MediaUnit proto;
  proto.video = video;
  uint8_t packet_type = b0 & 0x0F;
  if (video) {
    proto.frame_type = static_cast<VideoFrameType>((b0 >> 4) & 0x07);
    proto.keyframe = proto.frame_type == VideoFrameType::kKey ||
                     proto.frame_type == VideoFrameType::kGeneratedKey;
  }
  if (packet_type == 7) {
    RTMP_TRY(uint8_t next, read_mod_ex(r, proto.nano_offset));
    packet_type = next;
  }
  if (video && proto.frame_type == VideoFrameType::kCommand &&
      packet_type != static_cast<uint8_t>(VideoPacketType::kMetadata)) {
    RTMP_TRY(uint8_t cmd, r.u8());
    proto.packet = PacketKind::kCommand;
    proto.video_command = cmd;
    proto.keyframe = false;
    proto.offset = r.position();
    tag.units.push_back(proto);
    return tag;
  }
  const uint8_t multitrack_type = video ? 6 : 5;
  std::optional<AvMultitrackType> mt;
  uint32_t shared_fourcc = 0;
  if (packet_type == multitrack_type) {
    RTMP_TRY(uint8_t b, r.u8());
    uint8_t t = b >> 4;
    packet_type = b & 0x0F;
    if (t > 2) return unsupported("AvMultitrackType " + std::to_string(t), r.offset() - 1);
    if (packet_type == multitrack_type) {
      return make_error(Errc::kMalformed, "nested multitrack packet type", r.offset() - 1);
    }
    mt = static_cast<AvMultitrackType>(t);
    tag.multitrack = mt;
    if (*mt != AvMultitrackType::kManyTracksManyCodecs) {
      RTMP_TRY(uint32_t f, r.u32be());
      shared_fourcc = f;
    }
  } else {
    RTMP_TRY(uint32_t f, r.u32be());
    shared_fourcc = f;
  }

  do {
    MediaUnit u = proto;
    uint32_t f = shared_fourcc;
    size_t end = r.data().size();
    if (mt) {
      if (*mt == AvMultitrackType::kManyTracksManyCodecs) {
        RTMP_TRY(uint32_t tf, r.u32be());
        f = tf;
      }
      RTMP_TRY(uint8_t track, r.u8());
      u.track_id = track;
      if (*mt != AvMultitrackType::kOneTrack) {
        RTMP_TRY(uint32_t size, r.u24be());
        if (size > r.remaining()) {
          return make_error(Errc::kTruncated,
                            "track " + std::to_string(track) + " of " + std::to_string(size) +
                                " bytes with " + std::to_string(r.remaining()) + " left",
                            r.offset());
        }
        end = r.position() + size;
      }
    }
    u.codec = codec_from_fourcc(f, video);
    if (u.codec == Codec::kUnknown) {
      return unsupported(
          std::string(video ? "video" : "audio") + " FourCC '" + fourcc_string(f) + "'",
          r.offset());
    }
    RTMP_CHECK(parse_unit_body(r, u, packet_type, end));
    tag.units.push_back(u);
  } while (mt && *mt != AvMultitrackType::kOneTrack && !r.empty());
  return tag;
}

}  // namespace

Result<FlvTag> parse_flv_tag(TagType type, Bytes body) {
  ByteReader r(body);
  if (type == TagType::kAudio && body.empty()) {
    FlvTag tag;
    MediaUnit u;
    u.packet = PacketKind::kSilence;
    tag.units.push_back(u);
    return tag;
  }
  if (type != TagType::kAudio && type != TagType::kVideo) {
    return make_error(Errc::kInvalidArgument, "not an audio or video tag", 0);
  }
  RTMP_TRY(uint8_t b0, r.u8());
  if (type == TagType::kVideo) {
    if (b0 & 0x80) return parse_ex(r, b0, true);
    return parse_legacy_video(r, b0);
  }
  if ((b0 >> 4) == static_cast<uint8_t>(SoundFormat::kExHeader)) return parse_ex(r, b0, false);
  return parse_legacy_audio(r, b0);
}

// --- building ----------------------------------------------------------------------------

namespace {

void write_mod_ex_nano(ByteWriter& w, uint32_t nano, uint8_t next_packet_type) {
  w.u8(2);  // size - 1: three bytes of data
  w.u24be(nano & 0xFFFFFF);
  w.u8(static_cast<uint8_t>((static_cast<uint8_t>(ModExType::kTimestampOffsetNano) << 4) |
                            (next_packet_type & 0x0F)));
}

template <class Spec>
Status check_units(const Spec& spec, bool video) {
  if (spec.units.empty()) return make_error(Errc::kInvalidArgument, "tag without units", 0);
  if (spec.units.size() > 1 &&
      (!spec.multitrack || *spec.multitrack == AvMultitrackType::kOneTrack)) {
    return make_error(Errc::kInvalidArgument, "several units need ManyTracks multitrack", 0);
  }
  if (spec.nano_offset && *spec.nano_offset > kMaxNanoOffset) {
    return make_error(Errc::kInvalidArgument,
                      "TimestampOffsetNano " + std::to_string(*spec.nano_offset) + " > 999999", 0);
  }
  for (size_t i = 0; i < spec.units.size(); ++i) {
    const UnitSpec& u = spec.units[i];
    if (spec.multitrack && *spec.multitrack == AvMultitrackType::kManyTracks &&
        u.codec != spec.units[0].codec) {
      return make_error(Errc::kInvalidArgument, "ManyTracks needs one codec", 0);
    }
    if (spec.units.size() > 1 && (codec_fourcc(u.codec) == 0 || is_video(u.codec) != video)) {
      return make_error(Errc::kInvalidArgument,
                        std::string(codec_name(u.codec)) + " has no " +
                            (video ? "video" : "audio") + " FourCC for a multitrack message",
                        0);
    }
    for (size_t j = 0; j < i; ++j) {
      if (spec.units[j].track_id == u.track_id) {
        return make_error(Errc::kInvalidArgument,
                          "track " + std::to_string(u.track_id) + " twice in one message", 0);
      }
    }
  }
  return Ok{};
}

// Writes the per-track loop (FourCC/trackId/size prefixes) of an Ex tag body.
void write_ex_units(ByteWriter& w, const std::optional<AvMultitrackType>& mt,
                    const std::vector<UnitSpec>& units, bool with_cts) {
  for (const auto& u : units) {
    size_t size_pos = 0;
    if (mt) {
      if (*mt == AvMultitrackType::kManyTracksManyCodecs) w.u32be(codec_fourcc(u.codec));
      w.u8(u.track_id);
      if (*mt != AvMultitrackType::kOneTrack) {
        size_pos = w.size();
        w.u24be(0);
      }
    }
    size_t start = w.size();
    if (with_cts && has_composition_time(u.codec)) w.i24be(u.composition_time);
    w.bytes(u.payload);
    if (size_pos) w.patch_u24be(size_pos, static_cast<uint32_t>(w.size() - start));
  }
}

}  // namespace

std::optional<AvMultitrackType> multitrack_form(const std::vector<UnitSpec>& units) {
  if (units.empty()) return std::nullopt;
  if (units.size() == 1) {
    if (units[0].track_id == 0) return std::nullopt;
    return AvMultitrackType::kOneTrack;
  }
  for (const auto& u : units) {
    if (u.codec != units[0].codec) return AvMultitrackType::kManyTracksManyCodecs;
  }
  return AvMultitrackType::kManyTracks;
}

Status build_video_tag(const VideoTagSpec& spec, std::vector<uint8_t>& out) {
  RTMP_CHECK(check_units(spec, true));
  ByteWriter w(out);
  const UnitSpec& first = spec.units[0];
  auto legacy_id =
      first.codec == Codec::kHevc ? std::optional<uint8_t>() : legacy_video_codec_id(first.codec);
  bool legacy =
      legacy_id && !spec.force_enhanced && !spec.multitrack && !spec.nano_offset &&
      first.track_id == 0 &&
      (spec.packet == VideoPacketType::kSequenceStart ||
       spec.packet == VideoPacketType::kCodedFrames ||
       spec.packet == VideoPacketType::kSequenceEnd || spec.frame_type == VideoFrameType::kCommand);
  const uint8_t ft = static_cast<uint8_t>(spec.frame_type) & 0x07;
  if (legacy) {
    w.u8(static_cast<uint8_t>((ft << 4) | *legacy_id));
    if (spec.frame_type == VideoFrameType::kCommand) {
      w.u8(spec.video_command);
      return Ok{};
    }
    if (first.codec == Codec::kAvc) {
      w.u8(static_cast<uint8_t>(spec.packet));
      w.i24be(spec.packet == VideoPacketType::kCodedFrames ? first.composition_time : 0);
    } else if (spec.packet != VideoPacketType::kCodedFrames) {
      return make_error(Errc::kInvalidArgument, "legacy codec has no sequence packets", 0);
    }
    w.bytes(first.payload);
    return Ok{};
  }
  if (codec_fourcc(first.codec) == 0 || !is_video(first.codec)) {
    return make_error(Errc::kInvalidArgument,
                      std::string(codec_name(first.codec)) + " cannot be sent as E-RTMP video", 0);
  }
  uint8_t pt = static_cast<uint8_t>(spec.packet);
  if (pt == 6 || pt == 7 || pt > 7) {
    return make_error(Errc::kInvalidArgument, "packet type is structural", 0);
  }
  if (spec.packet == VideoPacketType::kMpeg2TsSequenceStart) {
    for (const auto& u : spec.units) {
      if (u.codec != Codec::kAv1) {
        return make_error(Errc::kInvalidArgument, "MPEG2TSSequenceStart is defined for AV1 only",
                          0);
      }
    }
  }
  uint8_t outer = spec.multitrack ? 6 : pt;
  if (spec.nano_offset) {
    w.u8(static_cast<uint8_t>(0x80 | (ft << 4) | 7));
    write_mod_ex_nano(w, *spec.nano_offset, outer);
  } else {
    w.u8(static_cast<uint8_t>(0x80 | (ft << 4) | outer));
  }
  if (spec.frame_type == VideoFrameType::kCommand && spec.packet != VideoPacketType::kMetadata) {
    w.u8(spec.video_command);
    return Ok{};
  }
  if (spec.multitrack) {
    w.u8(static_cast<uint8_t>((static_cast<uint8_t>(*spec.multitrack) << 4) | pt));
    if (*spec.multitrack != AvMultitrackType::kManyTracksManyCodecs) {
      w.u32be(codec_fourcc(first.codec));
    }
  } else {
    w.u32be(codec_fourcc(first.codec));
  }
  write_ex_units(w, spec.multitrack, spec.units, spec.packet == VideoPacketType::kCodedFrames);
  return Ok{};
}

Status build_audio_tag(const AudioTagSpec& spec, std::vector<uint8_t>& out) {
  RTMP_CHECK(check_units(spec, false));
  ByteWriter w(out);
  const UnitSpec& first = spec.units[0];
  auto legacy_fmt = legacy_sound_format(first.codec);
  bool legacy = legacy_fmt && !spec.force_enhanced && !spec.multitrack && !spec.nano_offset &&
                first.track_id == 0 &&
                (spec.packet == AudioPacketType::kCodedFrames ||
                 (first.codec == Codec::kAac && spec.packet == AudioPacketType::kSequenceStart));
  if (legacy) {
    w.u8(static_cast<uint8_t>((*legacy_fmt << 4) | ((spec.sound_rate & 3) << 2) |
                              ((spec.sound_size & 1) << 1) | (spec.sound_type & 1)));
    if (first.codec == Codec::kAac) {
      w.u8(spec.packet == AudioPacketType::kSequenceStart ? 0 : 1);
    }
    w.bytes(first.payload);
    return Ok{};
  }
  if (codec_fourcc(first.codec) == 0 || is_video(first.codec)) {
    return make_error(Errc::kInvalidArgument,
                      std::string(codec_name(first.codec)) + " cannot be sent as E-RTMP audio", 0);
  }
  uint8_t pt = static_cast<uint8_t>(spec.packet);
  if (pt == 5 || pt >= 7 || pt == 3 || pt == 6) {
    return make_error(Errc::kInvalidArgument, "audio packet type is structural or reserved", 0);
  }
  uint8_t outer = spec.multitrack ? 5 : pt;
  const uint8_t ex = static_cast<uint8_t>(SoundFormat::kExHeader) << 4;
  if (spec.nano_offset) {
    w.u8(static_cast<uint8_t>(ex | 7));
    write_mod_ex_nano(w, *spec.nano_offset, outer);
  } else {
    w.u8(static_cast<uint8_t>(ex | outer));
  }
  if (spec.multitrack) {
    w.u8(static_cast<uint8_t>((static_cast<uint8_t>(*spec.multitrack) << 4) | pt));
    if (*spec.multitrack != AvMultitrackType::kManyTracksManyCodecs) {
      w.u32be(codec_fourcc(first.codec));
    }
  } else {
    w.u32be(codec_fourcc(first.codec));
  }
  if (spec.packet == AudioPacketType::kMultichannelConfig) {
    // Per-track config: the multichannel body precedes the (usually empty) payload.
    std::vector<UnitSpec> units = spec.units;
    std::vector<std::vector<uint8_t>> bodies(units.size());
    for (size_t i = 0; i < units.size(); ++i) {
      ByteWriter b(bodies[i]);
      b.u8(static_cast<uint8_t>(spec.multichannel.order));
      b.u8(spec.multichannel.channel_count);
      if (spec.multichannel.order == AudioChannelOrder::kCustom) {
        b.bytes(spec.multichannel.channels);
      } else if (spec.multichannel.order == AudioChannelOrder::kNative) {
        b.u32be(spec.multichannel.mask);
      }
      b.bytes(units[i].payload);
      units[i].payload = bodies[i];
    }
    write_ex_units(w, spec.multitrack, units, false);
    return Ok{};
  }
  write_ex_units(w, spec.multitrack, spec.units, false);
  return Ok{};
}

namespace {

template <class Spec, class Build>
Status build_header(const Spec& spec, Build build, std::vector<uint8_t>& out) {
  if (spec.units.size() != 1 ||
      (spec.multitrack && *spec.multitrack != AvMultitrackType::kOneTrack)) {
    return make_error(Errc::kInvalidArgument, "a tag header needs one unit, no ManyTracks", 0);
  }
  Spec header_only = spec;
  header_only.units[0].payload = Bytes();
  return build(header_only, out);
}

}  // namespace

Status build_video_tag_header(const VideoTagSpec& spec, std::vector<uint8_t>& out) {
  return build_header(spec, build_video_tag, out);
}
Status build_audio_tag_header(const AudioTagSpec& spec, std::vector<uint8_t>& out) {
  return build_header(spec, build_audio_tag, out);
}

}  // namespace rtmp
