// AV1 low-overhead bitstream helpers for the interop tests: split a temporal unit into OBUs, drop
// its temporal delimiters. Test-only; the product's AV1 handling is in gst/push_format.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/byte_reader.h"

namespace ertmp_test {

using rtmp::Bytes;

struct Obu {
  uint8_t type = 0;
  size_t offset = 0;  // of the OBU header
  size_t size = 0;    // header + payload
  size_t payload = 0;
};

// Splits a low-overhead bitstream (every OBU with obu_has_size_field, as av1parse writes it).
inline std::vector<Obu> split_obus(Bytes tu) {
  std::vector<Obu> obus;
  size_t p = 0;
  while (p < tu.size()) {
    Obu o;
    o.offset = p;
    o.type = static_cast<uint8_t>((tu[p] >> 3) & 0x0F);
    bool ext = (tu[p] & 0x04) != 0;
    bool has_size = (tu[p] & 0x02) != 0;
    size_t q = p + 1 + (ext ? 1 : 0);
    uint64_t len = 0;
    if (has_size) {
      for (int i = 0; i < 8 && q < tu.size(); ++i) {
        len |= static_cast<uint64_t>(tu[q] & 0x7F) << (7 * i);
        if (!(tu[q++] & 0x80)) break;
      }
    } else {
      len = tu.size() - q;
    }
    if (q > tu.size() || len > tu.size() - q) return {};
    o.payload = q - p;
    o.size = o.payload + static_cast<size_t>(len);
    obus.push_back(o);
    p += o.size;
  }
  return obus;
}

// The temporal unit without its temporal delimiter OBUs (AV1-ISOBMFF §2.4 leaves them out of
// samples). rtmppushsink sends AV1 CodedFrames so; Debian 13's ffmpeg 7.1 flvenc keeps them
// (its AV1 frames start 12 00), and its flvdec passes either through as is.
inline std::vector<uint8_t> strip_temporal_delimiters(Bytes tu) {
  std::vector<uint8_t> out;
  for (const Obu& o : split_obus(tu)) {
    if (o.type != 2)
      out.insert(out.end(), tu.begin() + static_cast<long>(o.offset),
                 tu.begin() + static_cast<long>(o.offset + o.size));
  }
  return out;
}

}  // namespace ertmp_test
