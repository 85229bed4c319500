// HDR10 as x265enc/YouTube describe it, the one colour fixture the protocol, element, interop and
// fuzz-seed code share: BT.2020 primaries (H.273 9), PQ (16), BT.2020 NCL (9), 10 bit, D65 white
// point, a 1000-nit mastering display down to 0.005 nit, MaxCLL 1000, MaxFALL 400.
#pragma once

#include "protocol/color_info.h"

namespace rtmp::test {

inline ColorInfo hdr10_color_info() {
  ColorInfo info;
  info.color_config = ColorConfig{10, 9, 16, 9};
  info.hdr_cll = HdrCll{400.0, 1000.0};
  HdrMdcv m;
  m.red = HdrMdcv::Xy{0.708, 0.292};
  m.green = HdrMdcv::Xy{0.17, 0.797};
  m.blue = HdrMdcv::Xy{0.131, 0.046};
  m.white_point = HdrMdcv::Xy{0.3127, 0.329};
  m.max_luminance = 1000.0;
  m.min_luminance = 0.005;
  info.hdr_mdcv = m;
  return info;
}

// The same mastering display as GStreamer's caps string (0.00002 and 0.0001 cd/m² units).
inline constexpr const char* kHdr10MasteringDisplayInfo =
    "35400:14600:8500:39850:6550:2300:15635:16450:10000000:50";

}  // namespace rtmp::test
