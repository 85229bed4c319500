// Codec configuration records carried by E-RTMP sequence packets, as pure functions over bytes.
//
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
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"

namespace rtmp {

// The av1C (without configOBUs) equivalent to an AV1 video descriptor. Errors: kTruncated for
// fewer than the descriptor's 6 bytes or a length past the end; kMalformed for a tag other than
// 0x80, a length under 4, or a marker/version byte other than 0x81.
Result<std::vector<uint8_t>> av1c_from_mpeg2ts_descriptor(Bytes descriptor);

}  // namespace rtmp
