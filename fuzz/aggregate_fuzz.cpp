// Aggregate message expansion.
#include <cstddef>
#include <cstdint>

#include "protocol/aggregate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::Message m;
  m.type = 22;
  m.timestamp = size;
  m.payload.assign(data, data + size);
  (void)rtmp::parse_aggregate(m);
  return 0;
}
