// Chunk reassembly fed in fuzzer-chosen pieces; every message is drained.
#include <cstddef>
#include <cstdint>

#include "protocol/chunk_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t step = size_t{data[0]} + 1;
  rtmp::Limits limits;
  limits.max_message_size = 1 << 20;
  limits.max_buffered_bytes = 4 << 20;
  rtmp::ChunkReader reader(limits);
  for (size_t i = 1; i < size; i += step) {
    size_t n = step < size - i ? step : size - i;
    if (!reader.receive(rtmp::Bytes(data + i, n)).ok()) break;
    while (reader.next_message()) {
    }
  }
  while (reader.next_message()) {
  }
  return 0;
}
