// FLV / E-RTMP codec <-> GstCaps mapping, shared by both elements.
//
// Caps follow what GStreamer's parsers and decoders accept (and what flvdemux produces where it
// has the codec; shared/reference/gst-rtmp2-flv.md §3.1): H.264 avc/au + codec_data, H.265
// hvc1/au + codec_data, AV1 obu-stream/tu + av1C, AAC raw + codec_data with rate/channels from
// the AudioSpecificConfig, profile/level through pbutils where it can derive them.
//
// Legacy codecs get flvdemux's caps (gst-plugins-good 1.22 flvdemux.c, negotiate functions):
// every field flvdemux sets is set here with the same value, including what it takes from
// onMetaData (width, height, framerate, pixel-aspect-ratio) when the caller passes the
// metadata; we may add fields (alignment, profile, level), so `output-mode=elementary` caps
// intersect flvdemux's and a pipeline written for `flvdemux` links without a capsfilter.
// One known difference: Speex's synthesised streamheader (ours says 320-sample wideband frames,
// flvdemux's says 80).
//
// E-RTMP colorInfo (protocol/color_info.h) maps to GStreamer 1.22's video HDR caps fields:
//   colorConfig  colorimetry            H.273 indices via gst_video_*_from_iso(); colorInfo has
//                                       no range, so the range is unknown ("0:<m>:<t>:<p>")
//   hdrMdcv      mastering-display-info chromaticities in 0.00002 units, luminance in 0.0001
//                                       cd/m² (set only when all ten values are present)
//   hdrCll       content-light-level    cd/m², clamped to 16 bits (only with both values)
#pragma once

#include <gst/gst.h>

#include <string>

#include "protocol/amf_value.h"
#include "protocol/byte_reader.h"
#include "protocol/color_info.h"
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
  // The audio came in legacy FLV tags, so the bits above describe it. Codecs that exist in both
  // forms (MP3) then get flvdemux's rate/channels/parsed fields; E-RTMP audio has no such bits.
  bool legacy_audio_header = false;
  // `sequence_header` is the AV1 video descriptor of an MPEG2TSSequenceStart (av01 only), not
  // an av1C: the caps are made from the av1C it lines up with (protocol/codec_config.h).
  bool mpeg2ts_descriptor = false;
  // The onMetaData object that describes this track (the top-level object for track 0, the
  // track's entry of videoTrackIdInfoMap/audioTrackIdInfoMap for others), or nullptr. Video
  // caps take width, height, framerate and pixel-aspect-ratio (AspectRatioX/Y) from it as
  // flvdemux does. Borrowed for the call only.
  const rtmp::amf::Value* metadata = nullptr;
  // The track's colour state from its last E-RTMP Metadata packet, or nullptr (none, or reset).
  // Borrowed for the call only.
  const rtmp::ColorInfo* color_info = nullptr;
};

// Whether frames of this codec need a sequence header before caps are known.
bool needs_sequence_header(rtmp::Codec codec);

// Caps for a stream; nullptr with `error` set when the sequence header is malformed or the
// codec has no GStreamer mapping.
GstCaps* caps_for(const StreamFormat& format, std::string* error);

// Sets colorimetry, mastering-display-info and content-light-level on (video) `caps` from
// `info`, each where `info` has what the field needs (see the table above); leaves the caps
// as they are for an empty `info`.
void add_color_info_to_caps(GstCaps* caps, const rtmp::ColorInfo& info);

// The colorInfo a sender signals for these caps: colorConfig from colorimetry (the indices
// GStreamer knows; the range has no colorInfo field) and bit-depth-luma (h265parse, av1parse),
// hdrMdcv from mastering-display-info (chromaticities rounded to the four decimals E-RTMP asks
// for), hdrCll from content-light-level unless it is 0:0 (unknown, as x265enc writes it).
// Empty when the caps carry none of these.
rtmp::ColorInfo color_info_from_caps(const GstCaps* caps);

}  // namespace gst_ertmp
