// FLV file reader, fed in two pieces.
#include <cstddef>
#include <cstdint>

#include "protocol/flv_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::Limits limits;
  limits.max_message_size = 1 << 20;
  rtmp::FlvReader reader(limits);
  size_t half = size / 2;
  if (reader.receive(rtmp::Bytes(data, half)).ok()) {
    (void)reader.receive(rtmp::Bytes(data + half, size - half));
  }
  while (reader.next_tag()) {
  }
  return 0;
}
