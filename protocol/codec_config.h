// Codec configuration records: the sequence-header bodies an RTMP publisher sends
// (SequenceStart, ertmp-wire.md Part A) and the frame headers they are derived from. Pure
// functions over bytes: no GLib, no allocation beyond the records they return. rtmppushsink
// calls them from gst/push_format.cpp; fuzz/codec_config_fuzz.cpp drives every one.
//
//   avcC   ISO/IEC 14496-15 §5.3.3.1: configurationVersion=1 | profile | compat | level |
//          lengthSizeMinusOne | numSPS:5 (SPS: len:16 bytes)* | numPPS:8 (PPS: len:16 bytes)*
//   hvcC   ISO/IEC 14496-15 §8.3.3.1: configurationVersion=1, 21 fixed bytes, numOfArrays:8,
//          (type:8 numNalus:16 (len:16 bytes)*)*
//   av1C   AV1-ISOBMFF §2.3.3: marker:1=1 version:7=1 | seq_profile:3 seq_level_idx_0:5 |
//          seq_tier_0:1 high_bitdepth:1 twelve_bit:1 monochrome:1 chroma_subsampling_x:1
//          chroma_subsampling_y:1 chroma_sample_position:2 | reserved:3=0
//          initial_presentation_delay_present:1=0 reserved:4=0 | configOBUs (the sequence
//          header OBU with obu_has_size_field=1). Fields from the sequence header OBU (AV1
//          spec §5.5).
//   vpcC   VP Codec ISO-BMFF §2.2 as FFmpeg's flvenc writes it (FullBox version 1, flags 0,
//          then the record): 01 000000 | profile | level | bitDepth:4 chromaSubsampling:3
//          videoFullRangeFlag:1 | colourPrimaries | transferCharacteristics |
//          matrixCoefficients | codecInitializationDataSize:16=0.
//   Opus   RFC 7845 §5.1 identification header: "OpusHead" version=1 channels pre-skip:LE16
//          input-rate:LE32 gain:LE16 mapping-family.
//   FLAC   "fLaC" + the STREAMINFO metadata block (RFC 9639 §8.1–8.2), last-block flag set.
//
// Errors: Errc::kTruncated or kMalformed with a detail naming the record and the field (the
// caller shows it to the user as the reason a stream cannot be published).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"

namespace rtmp {

// --- H.264 / H.265 -------------------------------------------------------------------------

// Checks the structure of an AVCDecoderConfigurationRecord (at least one SPS, every parameter
// set inside the record).
Status check_avcc(Bytes record);
// Checks the structure of an HEVCDecoderConfigurationRecord (every NAL unit array inside).
Status check_hvcc(Bytes record);

// --- AV1 -----------------------------------------------------------------------------------

// OBU types (AV1 spec §6.2.2).
inline constexpr uint8_t kAv1ObuSequenceHeader = 1;
inline constexpr uint8_t kAv1ObuTemporalDelimiter = 2;

// One OBU of a temporal unit, as offsets into it.
struct Av1Obu {
  uint8_t type = 0;
  size_t start = 0;       // first byte of the OBU header
  size_t header_len = 0;  // header + extension + leb128 size
  size_t payload_len = 0;
  bool has_size_field = false;
  bool has_extension = false;
};

// Splits a temporal unit into OBUs (AV1 spec §5.3), appending to `obus` (cleared first). An
// OBU without obu_has_size_field extends to the end of the buffer.
Status split_av1_obus(Bytes tu, std::vector<Av1Obu>& obus);

// Checks the fixed part of an AV1CodecConfigurationRecord (codec_data from caps).
Status check_av1c(Bytes record);

// av1C from a temporal unit already split by split_av1_obus: the fixed bytes from its sequence
// header OBU plus that OBU rewritten with obu_has_size_field=1 (AV1-ISOBMFF §2.3.4 wants
// low-overhead OBUs in configOBUs). kMalformed when the unit has no sequence header OBU.
Result<std::vector<uint8_t>> av1c_from_temporal_unit(Bytes tu, const std::vector<Av1Obu>& obus);

// Copies the OBUs of `tu` except temporal delimiters (E-RTMP carries none) into `out`.
// Returns false and leaves `out` empty when there is none to remove (send `tu` as it is).
bool strip_av1_temporal_delimiters(Bytes tu, const std::vector<Av1Obu>& obus,
                                   std::vector<uint8_t>& out);

// --- VP8 / VP9 -----------------------------------------------------------------------------

// vpcC chromaSubsampling values (VP Codec ISO-BMFF §2.2).
inline constexpr uint8_t kVpChroma420Vertical = 0;
inline constexpr uint8_t kVpChroma422 = 2;
inline constexpr uint8_t kVpChroma444 = 3;

// The fields of a vpcC record. Colour values are ITU-T H.273 code points (2 = unspecified).
struct VpcConfig {
  uint8_t profile = 0;
  uint8_t level = 0;  // vp9_level(); 0 = undefined
  uint8_t bit_depth = 8;
  uint8_t chroma = kVpChroma420Vertical;
  bool full_range = false;
  uint8_t primaries = 2;
  uint8_t transfer = 2;
  uint8_t matrix = 2;
};

// The vpcC record (12 bytes).
std::vector<uint8_t> build_vpcc(const VpcConfig& config);

// The VP9 level (VP9 Levels and Decoder Testing, webmproject.org): the smallest whose luma
// picture size and sample rate hold the stream; 0 (undefined) when the size is unknown.
uint8_t vp9_level(int width, int height, int fps_n, int fps_d);

// What a VP8/VP9 key frame says about the stream.
struct VpFrameInfo {
  uint8_t profile = 0;
  uint8_t bit_depth = 8;
  uint8_t chroma = kVpChroma420Vertical;
  // VP9 only: the frame's color_space as an H.273 matrix and its color_range (the bitstream
  // names no primaries or transfer).
  bool has_colour = false;
  uint8_t matrix = 2;
  bool full_range = false;
};

// VP9 uncompressed header (VP9 bitstream spec §6.2) of a key frame or an intra-only frame;
// nullopt for any other frame (the caller waits for a key frame). A superframe starts with its
// first frame, which carries the header.
Result<std::optional<VpFrameInfo>> vp9_frame_info(Bytes frame);
// VP8 frame tag (RFC 6386 §9.1) of a key frame: the profile ("version"); nullopt for an inter
// frame.
Result<std::optional<VpFrameInfo>> vp8_frame_info(Bytes frame);

// --- Opus ----------------------------------------------------------------------------------

// An OpusHead for channel mapping family 0 (mono or stereo), pre-skip and gain 0.
std::vector<uint8_t> opus_head_family0(uint32_t input_rate, uint8_t channels);

// --- FLAC ----------------------------------------------------------------------------------

inline constexpr size_t kFlacStreamInfoLen = 34;

struct FlacConfig {
  std::vector<uint8_t> sequence_header;  // "fLaC" + STREAMINFO block, last-block flag set
  uint32_t rate = 0;
  uint8_t channels = 0;
};

// The FLAC sequence header from a stream's header packets (flacenc/flacparse streamheader):
// the Ogg-FLAC mapping (0x7F "FLAC" major minor nheaders:16 "fLaC" block...) or a bare "fLaC"
// marker, optionally followed by the block or with the block in the next packet.
Result<FlacConfig> flac_config_from_headers(const std::vector<Bytes>& headers);

// AV1 in MPEG2TSSequenceStart (E-RTMP v2, VideoPacketType 5, av01 only) carries the AV1 video
// descriptor of AOM "Carriage of AV1 in MPEG-2 TS" §4.1 instead of the AV1CodecConfigurationRecord
// (av1C, AV1-ISOBMFF §2.3.3) that SequenceStart carries. Their four fixed bytes line up:
//
//   descriptor: 80 <len>  marker:1 version:7 | seq_profile:3 seq_level_idx_0:5 |
//               seq_tier_0 high_bitdepth twelve_bit monochrome chroma_subsampling_x
//               chroma_subsampling_y chroma_sample_position:2 |
//               hdr_wcg_idc:2 reserved_zeros:1 initial_presentation_delay_present:1 idpm1:4
//   av1C:       marker:1 version:7 | (same) | (same) |
//               reserved:3 = 0     initial_presentation_delay_present:1 idpm1:4 | configOBUs
//
// The av1C (without configOBUs) equivalent to an AV1 video descriptor. Errors: kTruncated for
// fewer than the descriptor's 6 bytes or a length past the end; kMalformed for a tag other than
// 0x80, a length under 4, or a marker/version byte other than 0x81.
Result<std::vector<uint8_t>> av1c_from_mpeg2ts_descriptor(Bytes descriptor);

}  // namespace rtmp
