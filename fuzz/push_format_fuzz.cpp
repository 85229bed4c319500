// The frame parsers of the push side (gst/push_format.cpp): AV1 temporal units (OBU split,
// temporal delimiters removed, av1C from the sequence header) and VP8/VP9 frame headers
// (vpcC from the first key frame). Byte 0 picks the codec; the rest is the frame. Their
// input comes from encoders, not peers, but a broken encoder or a hostile appsrc must get an
// error, never a crash: the sequence header and the payload must stay consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gst/push_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const rtmp::Codec kCodecs[] = {rtmp::Codec::kAv1, rtmp::Codec::kVp9, rtmp::Codec::kVp8};
  gst_ertmp::PushFormat f;
  f.codec = kCodecs[data[0] % 3];
  f.video = true;
  f.sequence_header_pending = true;
  rtmp::Bytes frame(data + 1, size - 1);
  std::vector<uint8_t> out;
  bool as_is = false;
  std::string error;
  // Twice: the second call sees the state (sequence header) the first one derived.
  for (int i = 0; i < 2; ++i) {
    out.clear();
    if (!gst_ertmp::frame_payload(f, frame, out, &as_is, &error)) continue;
    if (as_is && !out.empty()) std::abort();                // "as is" leaves `out` empty
    if (!as_is && out.size() > frame.size()) std::abort();  // delimiters only ever removed
    if (!f.sequence_header_pending && f.codec == rtmp::Codec::kAv1 &&
        (f.sequence_header.size() < 4 || (f.sequence_header[0] & 0x7F) != 1)) {
      std::abort();  // av1C marker/version
    }
  }
  return 0;
}
