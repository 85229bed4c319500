// What a publisher's metadata does to caps (gst/codec_caps.cpp, as rtmpingestsrc uses it):
// byte 0 picks the input, the rest is
//   0: an E-RTMP video Metadata body: its colorInfo (parse_video_metadata) into HEVC caps
//      (colorimetry, mastering-display-info, content-light-level), and those caps back into a
//      colorInfo (color_info_from_caps, what rtmppushsink sends);
//   1: an onMetaData payload (AMF0 values, the object after an optional name): width, height,
//      framerate, pixel-aspect-ratio into HEVC and Sorenson H.263 caps, as flvdemux takes them.
// Whatever the peer sends, the caps are made (the sequence header is valid) and nothing crashes.
#include <gst/gst.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gst/codec_caps.h"
#include "protocol/amf0.h"
#include "protocol/color_info.h"

namespace {
// A valid hvcC (Main profile, level 3.1, no parameter sets).
const std::vector<uint8_t> kHvcC = {0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00, 0xfc,
                                    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x00};

GstCaps* must_make(const gst_ertmp::StreamFormat& f) {
  std::string error;
  GstCaps* caps = gst_ertmp::caps_for(f, &error);
  if (!caps) std::abort();  // the metadata never makes valid caps fail
  return caps;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool initialized = [] {
    gst_init(nullptr, nullptr);
    return true;
  }();
  (void)initialized;
  if (size < 1) return 0;
  rtmp::Bytes body(data + 1, size - 1);
  gst_ertmp::StreamFormat hevc;
  hevc.codec = rtmp::Codec::kHevc;
  hevc.sequence_header = kHvcC;
  if (data[0] % 2 == 0) {
    auto md = rtmp::parse_video_metadata(body);
    if (!md.ok() || !md->color_info) return 0;
    hevc.color_info = &*md->color_info;
    GstCaps* caps = must_make(hevc);
    (void)gst_ertmp::color_info_from_caps(caps);
    gst_caps_unref(caps);
    return 0;
  }
  auto values = rtmp::amf0::decode_all(body, rtmp::Limits{});
  if (!values.ok() || values->empty()) return 0;
  const rtmp::amf::Value* md = &values->at(0);
  if (!md->properties() && values->size() > 1) md = &values->at(1);
  gst_ertmp::StreamFormat h263;
  h263.codec = rtmp::Codec::kSorensonH263;
  for (gst_ertmp::StreamFormat* f : {&hevc, &h263}) {
    f->metadata = md;
    gst_caps_unref(must_make(*f));
  }
  return 0;
}
