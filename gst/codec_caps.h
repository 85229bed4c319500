// FLV / E-RTMP codec <-> GstCaps mapping, shared by both elements.
//
// Caps follow what GStreamer's parsers and decoders accept (and what flvdemux produces where it
// has the codec; shared/reference/gst-rtmp2-flv.md §3.1): H.264 avc/au + codec_data, H.265
// hvc1/au + codec_data, AV1 obu-stream/tu + av1C, AAC raw + codec_data with rate/channels from
// the AudioSpecificConfig, profile/level through pbutils where it can derive them.
#pragma once

#include <gst/gst.h>

#include <string>

#include "protocol/byte_reader.h"
#include "protocol/flv_tag.h"

namespace gst_ertmp {

struct StreamFormat {
  rtmp::Codec codec = rtmp::Codec::kUnknown;
  rtmp::Bytes sequence_header;  // avcC / hvcC / av1C / ASC / Opus head / fLaC+STREAMINFO
  // Legacy audio header bits (rate 0-3, size 0-1, type 0-1); meaningful for legacy formats.
  uint8_t sound_rate = 3;
  uint8_t sound_size = 1;
  uint8_t sound_type = 1;
  uint8_t channels_hint = 0;  // from a MultichannelConfig, 0 = unknown
};

// Whether frames of this codec need a sequence header before caps are known.
bool needs_sequence_header(rtmp::Codec codec);

// Caps for a stream; nullptr with `error` set when the sequence header is malformed or the
// codec has no GStreamer mapping.
GstCaps* caps_for(const StreamFormat& format, std::string* error);

}  // namespace gst_ertmp
