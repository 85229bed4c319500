#include "protocol/codec_config.h"

namespace rtmp {

Result<std::vector<uint8_t>> av1c_from_mpeg2ts_descriptor(Bytes descriptor) {
  ByteReader r(descriptor);
  RTMP_TRY(uint8_t tag, r.u8());
  if (tag != 0x80) {
    return make_error(Errc::kMalformed, "AV1 video descriptor tag " + std::to_string(tag), 0);
  }
  RTMP_TRY(uint8_t length, r.u8());
  if (length < 4) {
    return make_error(Errc::kMalformed,
                      "AV1 video descriptor of " + std::to_string(length) + " bytes", 1);
  }
  RTMP_TRY(Bytes body, r.bytes(length));
  if (body[0] != 0x81) {
    return make_error(Errc::kMalformed, "AV1 video descriptor marker/version", 2);
  }
  // hdr_wcg_idc and reserved_zeros become av1C's three reserved zero bits.
  return std::vector<uint8_t>{body[0], body[1], body[2], static_cast<uint8_t>(body[3] & 0x1F)};
}

}  // namespace rtmp
