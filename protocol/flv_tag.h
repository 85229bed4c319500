// FLV audio/video tag bodies, legacy (FLV 10.1 Annex E.4.2/E.4.3) and Enhanced RTMP v2
// (ertmp-wire.md Part A). The body of an RTMP audio (8) or video (9) message is exactly an FLV
// tag body, so one parser serves RTMP and FLV files.
//
// Legacy video:  FrameType:4 | CodecID:4 | [AVC/HEVC: AVCPacketType:8 | CompositionTime:SI24] data
// Legacy audio:  SoundFormat:4 | SoundRate:2 | SoundSize:1 | SoundType:1 | [AAC: AACPacketType:8]
// data Ex video:      1 | VideoFrameType:3 | VideoPacketType:4
//                  (ModEx loop: size:8 [+16] data, ModExType:4 | next VideoPacketType:4)*
//                  FrameType 5 and PacketType != Metadata: VideoCommand:8, end
//                  Multitrack: AvMultitrackType:4 | VideoPacketType:4, [FOURCC unless type 2]
//                  else FOURCC
//                body: ([FOURCC if type 2] trackId:8 [sizeOfTrack:24 unless OneTrack])? then
//                  by packet type: CodedFrames of avc1/hvc1/vvc1 start with SI24 CT
// Ex audio:      SoundFormat 9 | AudioPacketType:4, same ModEx/multitrack structure;
//                MultichannelConfig: AudioChannelOrder:8 channelCount:8 [channels | mask:32]
//
// Parsing produces MediaUnits whose payloads are (offset, size) views into the body, so the
// caller can make sub-buffers without copying (STYLE rule 6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"

namespace rtmp {

enum class TagType : uint8_t { kAudio = 8, kVideo = 9, kScript = 18 };

// FourCC as the big-endian u32 of its 4 ASCII characters.
constexpr uint32_t fourcc(const char (&s)[5]) {
  return (uint32_t(uint8_t(s[0])) << 24) | (uint32_t(uint8_t(s[1])) << 16) |
         (uint32_t(uint8_t(s[2])) << 8) | uint32_t(uint8_t(s[3]));
}
std::string fourcc_string(uint32_t f);

namespace fourccs {
constexpr uint32_t kAvc1 = fourcc("avc1");
constexpr uint32_t kHvc1 = fourcc("hvc1");
constexpr uint32_t kVvc1 = fourcc("vvc1");
constexpr uint32_t kVp08 = fourcc("vp08");
constexpr uint32_t kVp09 = fourcc("vp09");
constexpr uint32_t kAv01 = fourcc("av01");
constexpr uint32_t kMp4a = fourcc("mp4a");
constexpr uint32_t kOpus = fourcc("Opus");
constexpr uint32_t kFlac = fourcc("fLaC");
constexpr uint32_t kAc3 = fourcc("ac-3");
constexpr uint32_t kEac3 = fourcc("ec-3");
constexpr uint32_t kMp3 = fourcc(".mp3");
}  // namespace fourccs

enum class SoundFormat : uint8_t {
  kLinearPcmPlatformEndian = 0,
  kAdpcm = 1,
  kMp3 = 2,
  kLinearPcmLittleEndian = 3,
  kNellymoser16kMono = 4,
  kNellymoser8kMono = 5,
  kNellymoser = 6,
  kG711ALaw = 7,
  kG711MuLaw = 8,
  kExHeader = 9,
  kAac = 10,
  kSpeex = 11,
  kReserved12 = 12,
  kReserved13 = 13,
  kMp3_8k = 14,
  kDeviceSpecific = 15,
};

enum class VideoCodecId : uint8_t {
  kSorensonH263 = 2,
  kScreenVideo = 3,
  kOn2Vp6 = 4,
  kOn2Vp6Alpha = 5,
  kScreenVideo2 = 6,
  kAvc = 7,
  kHevcDeFacto = 12,  // not in any spec; SRS/Nimble/Larix/ksvc (ertmp-wire.md A.1)
};

enum class VideoFrameType : uint8_t {
  kReserved = 0,
  kKey = 1,
  kInter = 2,
  kDisposableInter = 3,
  kGeneratedKey = 4,
  kCommand = 5,
};

enum class VideoPacketType : uint8_t {
  kSequenceStart = 0,
  kCodedFrames = 1,
  kSequenceEnd = 2,
  kCodedFramesX = 3,
  kMetadata = 4,
  kMpeg2TsSequenceStart = 5,
  kMultitrack = 6,
  kModEx = 7,
};

enum class AudioPacketType : uint8_t {
  kSequenceStart = 0,
  kCodedFrames = 1,
  kSequenceEnd = 2,
  kMultichannelConfig = 4,
  kMultitrack = 5,
  kModEx = 7,
};

enum class AvMultitrackType : uint8_t { kOneTrack = 0, kManyTracks = 1, kManyTracksManyCodecs = 2 };

enum class ModExType : uint8_t { kTimestampOffsetNano = 0 };

// TimestampOffsetNano carries the sub-millisecond part of a timestamp: "MUST be at least 3
// bytes, storing values up to 999,999 ns", and applies to its message only.
constexpr uint32_t kMaxNanoOffset = 999'999;

// A nanosecond timestamp as an RTMP millisecond timestamp plus the TimestampOffsetNano that
// restores it: ns == ms * 1'000'000 + nano, nano <= kMaxNanoOffset.
struct SplitTimestamp {
  uint64_t ms = 0;
  uint32_t nano = 0;
  bool operator==(const SplitTimestamp&) const = default;
};
constexpr SplitTimestamp split_timestamp_ns(uint64_t ns) {
  return SplitTimestamp{ns / 1'000'000, static_cast<uint32_t>(ns % 1'000'000)};
}

enum class AudioChannelOrder : uint8_t { kUnspecified = 0, kNative = 1, kCustom = 2 };

// One codec identity for legacy ids and FourCCs.
enum class Codec : uint8_t {
  kUnknown,
  // video
  kSorensonH263,
  kScreenVideo,
  kVp6,
  kVp6Alpha,
  kScreenVideo2,
  kAvc,
  kHevc,
  kVvc,
  kVp8,
  kVp9,
  kAv1,
  // audio
  kPcmPlatformEndian,
  kAdpcm,
  kMp3,
  kPcmLittleEndian,
  kNellymoser16kMono,
  kNellymoser8kMono,
  kNellymoser,
  kG711ALaw,
  kG711MuLaw,
  kAac,
  kSpeex,
  kMp3_8k,
  kDeviceSpecific,
  kOpus,
  kFlac,
  kAc3,
  kEac3,
};

const char* codec_name(Codec c);
bool is_video(Codec c);
// FourCC of a codec (0 when it has none) and the codec of a FourCC (kUnknown if unknown).
uint32_t codec_fourcc(Codec c);
Codec codec_from_fourcc(uint32_t f, bool video);
// Legacy ids (nullopt when the codec has no legacy id).
std::optional<uint8_t> legacy_video_codec_id(Codec c);
std::optional<uint8_t> legacy_sound_format(Codec c);

enum class PacketKind : uint8_t {
  kSequenceStart,
  kCodedFrames,
  kSequenceEnd,
  kMetadata,              // video colorInfo etc.: payload is AMF0
  kMpeg2TsSequenceStart,  // av01 only
  kMultichannelConfig,    // audio
  kCommand,               // video command frame (FrameType 5); see MediaUnit::video_command
  kSilence,               // zero-length legacy audio message
};

struct MultichannelConfig {
  AudioChannelOrder order = AudioChannelOrder::kUnspecified;
  uint8_t channel_count = 0;
  std::vector<uint8_t> channels;  // kCustom: AudioChannel per channel
  uint32_t mask = 0;              // kNative: AudioChannelMask
  bool operator==(const MultichannelConfig&) const = default;
};

struct MediaUnit {
  bool video = false;
  uint8_t track_id = 0;
  Codec codec = Codec::kUnknown;
  PacketKind packet = PacketKind::kCodedFrames;
  VideoFrameType frame_type = VideoFrameType::kKey;  // video only
  bool keyframe = true;
  int32_t composition_time = 0;  // ms, signed (SI24); 0 where the codec has none
  uint32_t nano_offset = 0;      // ModEx TimestampOffsetNano, ns
  uint8_t video_command = 0;     // PacketKind::kCommand only (0 StartSeek, 1 EndSeek)
  // Legacy audio header bits (meaningless for E-RTMP audio).
  uint8_t sound_rate = 0;           // 0 5.5k, 1 11k, 2 22k, 3 44k
  uint8_t sound_size = 0;           // 0 8-bit, 1 16-bit
  uint8_t sound_type = 0;           // 0 mono, 1 stereo
  MultichannelConfig multichannel;  // PacketKind::kMultichannelConfig only
  // The unit's data within the tag body.
  size_t offset = 0;
  size_t size = 0;
};

struct FlvTag {
  bool video = false;
  bool enhanced = false;  // E-RTMP ExHeader
  std::optional<AvMultitrackType> multitrack;
  std::vector<MediaUnit> units;
};

// Parses an audio or video tag body. Errors:
//  kTruncated / kMalformed for broken bytes;
//  kUnsupported for an unknown FourCC or a reserved packet type: per E-RTMP "fail in a
//  controlled manner" the caller skips this message (with a warning) and keeps the stream.
Result<FlvTag> parse_flv_tag(TagType type, Bytes body);

// --- building ----------------------------------------------------------------------------

// One unit to send. `payload` is the codec data (NALUs, OBUs, raw AAC, configs...).
struct UnitSpec {
  uint8_t track_id = 0;
  Codec codec = Codec::kUnknown;
  int32_t composition_time = 0;
  Bytes payload;
};

struct VideoTagSpec {
  VideoFrameType frame_type = VideoFrameType::kKey;
  VideoPacketType packet = VideoPacketType::kCodedFrames;  // never kMultitrack/kModEx here
  // Legacy format when possible (AVC, legacy codecs, single track 0, no nano offset) unless
  // `force_enhanced`.
  bool force_enhanced = false;
  std::optional<AvMultitrackType> multitrack;  // set to send trackIds (E-RTMP multitrack)
  std::optional<uint32_t> nano_offset;         // ModEx TimestampOffsetNano
  uint8_t video_command = 0;                   // frame_type kCommand only
  std::vector<UnitSpec> units;                 // 1 unless ManyTracks*
};

struct AudioTagSpec {
  AudioPacketType packet = AudioPacketType::kCodedFrames;
  bool force_enhanced = false;
  std::optional<AvMultitrackType> multitrack;
  std::optional<uint32_t> nano_offset;
  // Legacy header bits (legacy formats only).
  uint8_t sound_rate = 3;
  uint8_t sound_size = 1;
  uint8_t sound_type = 1;
  MultichannelConfig multichannel;  // packet kMultichannelConfig
  std::vector<UnitSpec> units;
};

// The multitrack form for units of one instant sent together (E-RTMP v2 "Multitrack"): none for
// one unit on track 0, OneTrack for one unit on another track, ManyTracks when every unit has
// the same codec, ManyTracksManyCodecs otherwise. nullopt for no units too.
std::optional<AvMultitrackType> multitrack_form(const std::vector<UnitSpec>& units);

// Appends the tag body to `out`. Errors: kInvalidArgument for combinations the format cannot
// carry: a legacy-only codec with an E-RTMP feature, several units without ManyTracks*, one
// track twice in a message, a ManyTracks* unit whose codec has no FourCC of the tag's kind, a
// nano offset above kMaxNanoOffset, MPEG2TSSequenceStart for a codec other than AV1.
Status build_video_tag(const VideoTagSpec& spec, std::vector<uint8_t>& out);
Status build_audio_tag(const AudioTagSpec& spec, std::vector<uint8_t>& out);

// The bytes of a one-unit tag that come before its payload: build_*_tag(spec) is exactly this
// header followed by units[0].payload (whose bytes are not read here), so a sender can chunk
// the payload from its own buffer (STYLE rule 6). kInvalidArgument for several units or a
// ManyTracks form (its sizeOfTrack prefixes depend on the payloads).
Status build_video_tag_header(const VideoTagSpec& spec, std::vector<uint8_t>& out);
Status build_audio_tag_header(const AudioTagSpec& spec, std::vector<uint8_t>& out);

}  // namespace rtmp
