// AMF3 decoder with its three reference tables and the externalizable hook.
#include <cstddef>
#include <cstdint>

#include "protocol/amf3.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto values = rtmp::amf3::decode_all(rtmp::Bytes(data, size), rtmp::Limits{});
  if (!values.ok()) return 0;
  std::vector<uint8_t> out;
  rtmp::ByteWriter w(out);
  for (const auto& v : *values) rtmp::amf3::encode(v, w);
  (void)rtmp::amf3::decode_all(out, rtmp::Limits{});
  return 0;
}
