// Byte tables from the Adobe RTMP 2012 spec's chunking examples, shared by the chunk reader and
// writer tests (parse and build from the same table).
#pragma once

#include <vector>

#include "tests/protocol/test_util.h"

namespace rtmp::test {

// Adobe RTMP 2012 §5.3.2.1, Figure "Sample Audio Message Chunks": csid 3, stream 12345, type 8,
// 32-byte messages; first at timestamp 1000 (type 0), then deltas of 20 (type 2, then type 3).
inline std::vector<uint8_t> spec_audio_table() {
  std::vector<uint8_t> payload(32, 0xA1);
  return test::cat({hex("03 | 0003E8 | 000020 | 08 | 39300000"), payload,  // fmt 0
                    hex("83 | 000014"), payload,                           // fmt 2, delta 20
                    hex("C3"), payload,                                    // fmt 3
                    hex("C3"), payload});                                  // fmt 3
}

// §5.3.2.2: one 307-byte video message at chunk size 128: type 0 then two type-3 chunks.
inline std::vector<uint8_t> spec_video_table() {
  std::vector<uint8_t> payload(307);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  return test::cat({hex("04 | 0003E8 | 000133 | 09 | 01000000"),
                    std::vector<uint8_t>(payload.begin(), payload.begin() + 128), hex("C4"),
                    std::vector<uint8_t>(payload.begin() + 128, payload.begin() + 256), hex("C4"),
                    std::vector<uint8_t>(payload.begin() + 256, payload.end())});
}

}  // namespace rtmp::test
