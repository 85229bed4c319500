// E-RTMP video Metadata packets (VideoPacketType.Metadata = 4) and their `colorInfo` object
// (E-RTMP v2 "Metadata Frame"; ertmp-wire.md A.2).
//
// The tag body after the Ex header is AMF (AMF0, values may switch to AMF3 with 0x11) holding
// [name, value] pairs; the only name defined is "colorInfo":
//
//   02 0009 "colorInfo"  03                       string, then an Object (ECMA array accepted)
//     "colorConfig" 03   "bitDepth" 00 <f64>      8, 10 or 12
//                        "colorPrimaries" 00 <f64>           H.273 ColourPrimaries 0-255
//                        "transferCharacteristics" 00 <f64>  H.273 TransferCharacteristics
//                        "matrixCoefficients" 00 <f64>       H.273 MatrixCoefficients
//                        00 00 09
//     "hdrCll"      03   "maxFall" <f64> "maxCLL" <f64>        cd/m², 0.0001-10000
//     "hdrMdcv"     03   "redX" "redY" "greenX" "greenY" "blueX" "blueY"
//                        "whitePointX" "whitePointY"          CIE 1931 xy, four decimals
//                        "maxLuminance" 5-10000, "minLuminance" 0.0001-5   cd/m²
//   00 00 09
//
// A Metadata packet MUST precede the frames it affects and applies from the next frame; each
// colorInfo replaces the previous one, and colorInfo = Undefined (recommended) or {} resets to
// the codec's own signalling. The tag header's frame type is to be ignored by readers, but
// FFmpeg (flvdec 6.1-8.0) reads colorInfo only when it is 5 (Command): D4 <FourCC> <AMF>; OBS
// writes 0 (84 <FourCC> <AMF>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/flv_tag.h"
#include "protocol/limits.h"

namespace rtmp {

// Every field is optional: senders leave out what they do not know (FFmpeg writes no bitDepth
// and no index it has as "unspecified").
struct ColorConfig {
  std::optional<uint8_t> bit_depth;                 // bitDepth, 1-16
  std::optional<uint8_t> color_primaries;           // H.273 Table 2
  std::optional<uint8_t> transfer_characteristics;  // H.273 Table 3
  std::optional<uint8_t> matrix_coefficients;       // H.273 Table 4
  bool operator==(const ColorConfig&) const = default;
};

// Content light level (CTA-861.3), cd/m².
struct HdrCll {
  std::optional<double> max_fall;  // maxFall: frame-average light level
  std::optional<double> max_cll;   // maxCLL: brightest pixel
  bool operator==(const HdrCll&) const = default;
};

// Mastering display colour volume (SMPTE ST 2086): xy chromaticities in [0, 1], luminance in
// cd/m² (ST 2086 counts min in 0.0001 cd/m² units; E-RTMP uses cd/m² for both).
struct HdrMdcv {
  struct Xy {
    double x = 0;
    double y = 0;
    bool operator==(const Xy&) const = default;
  };
  std::optional<Xy> red;          // redX, redY
  std::optional<Xy> green;        // greenX, greenY
  std::optional<Xy> blue;         // blueX, blueY
  std::optional<Xy> white_point;  // whitePointX, whitePointY
  std::optional<double> max_luminance;
  std::optional<double> min_luminance;
  bool operator==(const HdrMdcv&) const = default;
};

struct ColorInfo {
  std::optional<ColorConfig> color_config;
  std::optional<HdrCll> hdr_cll;
  std::optional<HdrMdcv> hdr_mdcv;
  // True for the reset value (colorInfo Undefined, null or {}): nothing signalled.
  bool empty() const { return !color_config && !hdr_cll && !hdr_mdcv; }
  bool operator==(const ColorInfo&) const = default;
};

struct VideoMetadata {
  // This packet's colorInfo: nullopt when it has no "colorInfo" pair, an empty ColorInfo when it
  // resets the colour state.
  std::optional<ColorInfo> color_info;
  // Names of the other pairs (none is defined yet): skipped, listed for logs.
  std::vector<std::string> unknown_names;
  bool operator==(const VideoMetadata&) const = default;
};

// Parses a Metadata packet body (MediaUnit payload of PacketKind::kMetadata). Errors:
//  the AMF decoder's (kTruncated, kMalformed, kLimitExceeded) for broken AMF;
//  kMalformed for a name that is not a string, a name without a value, colorInfo or one of its
//  objects of the wrong kind, a field that is not a number or out of its range (H.273 index
//  not an integer in 0-255, bitDepth not in 1-16, chromaticity outside [0, 1], a light level or
//  luminance negative or not finite), an x without its y.
// Unknown properties inside colorInfo are ignored (future additions).
Result<VideoMetadata> parse_video_metadata(Bytes body, const Limits& limits = Limits{});

// Appends the AMF0 body ["colorInfo", object]: colorConfig, hdrCll, hdrMdcv (each only when
// set, fields in the order of the struct); an empty `info` becomes colorInfo = Undefined, the
// spec's recommended reset.
void build_video_metadata(const ColorInfo& info, std::vector<uint8_t>& out);

// Appends a whole video tag body carrying `info` for `codec` (a FourCC codec) on `track`:
//   track 0:  D4 <FourCC> <AMF>              frame type 5, the form FFmpeg reads
//   track n:  86 04 <FourCC> n <AMF>         OneTrack multitrack, frame type 0 (as OBS): with
//                                            frame type 5 the spec reads a Multitrack packet
//                                            as a video command
// kInvalidArgument for a codec without a video FourCC.
Status build_color_info_tag(Codec codec, uint8_t track, const ColorInfo& info,
                            std::vector<uint8_t>& out);

}  // namespace rtmp
