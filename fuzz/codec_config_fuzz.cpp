// protocol/codec_config.h without GStreamer: byte 0 picks the record, the rest is the input.
//   0 AV1 temporal unit: OBU split, av1C, temporal delimiters removed
//   1 VP9 frame header    2 VP8 frame tag    3 avcC    4 hvcC    5 av1C check
//   6 FLAC stream headers (byte 1 splits the rest into two header packets)
// Encoder output and caps fields are their inputs, not peers, but a broken encoder or a hostile
// appsrc must get an error, never a read out of bounds; and what they return must be
// consistent (OBU offsets tile the unit, av1C passes its own check, stripping only shrinks).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "protocol/codec_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  rtmp::Bytes in(data + 1, size - 1);
  switch (data[0] % 7) {
    case 0: {
      std::vector<rtmp::Av1Obu> obus;
      if (!rtmp::split_av1_obus(in, obus).ok()) return 0;
      size_t end = 0;
      for (const auto& o : obus) {
        if (o.start != end) std::abort();  // OBUs tile the unit
        end = o.start + o.header_len + o.payload_len;
      }
      if (end != in.size()) std::abort();
      auto av1c = rtmp::av1c_from_temporal_unit(in, obus);
      if (av1c.ok() && !rtmp::check_av1c(*av1c).ok()) std::abort();
      std::vector<uint8_t> out;
      if (rtmp::strip_av1_temporal_delimiters(in, obus, out) && out.size() >= in.size())
        std::abort();  // delimiters only ever removed
      break;
    }
    case 1: {
      auto v = rtmp::vp9_frame_info(in);
      if (v.ok() && *v) {
        if ((*v)->profile > 3 || (*v)->chroma > rtmp::kVpChroma444) std::abort();
        rtmp::VpcConfig c;
        c.profile = (*v)->profile;
        if (rtmp::build_vpcc(c).size() != 12) std::abort();
      }
      break;
    }
    case 2: {
      auto v = rtmp::vp8_frame_info(in);
      if (v.ok() && *v && (*v)->profile > 3) std::abort();
      break;
    }
    case 3:
      (void)rtmp::check_avcc(in);
      break;
    case 4:
      (void)rtmp::check_hvcc(in);
      break;
    case 5:
      (void)rtmp::check_av1c(in);
      break;
    default: {
      if (in.empty()) return 0;
      size_t split = in[0] % in.size();
      rtmp::Bytes rest = in.subspan(1);
      split = split > rest.size() ? rest.size() : split;
      auto c = rtmp::flac_config_from_headers({rest.subspan(0, split), rest.subspan(split)});
      if (c.ok() && c->sequence_header.size() != 8 + rtmp::kFlacStreamInfoLen) std::abort();
      break;
    }
  }
  return 0;
}
