// AMF0 pieces for annotated byte tables of commands and data messages (AMF0 spec §2.2-2.5):
// each helper writes the marker and the length as the spec lays them out, so a table reads
// as the wire does: str("onStatus") is 02 | 0008 | "onStatus".
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tests/protocol/test_util.h"

namespace rtmp::test::amf {

// 0x02 string marker | u16 length | UTF-8
inline std::vector<uint8_t> str(std::string_view s) {
  std::vector<uint8_t> out = {0x02, static_cast<uint8_t>(s.size() >> 8),
                              static_cast<uint8_t>(s.size())};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}
// object property name: u16 length | UTF-8 (no marker)
inline std::vector<uint8_t> key(std::string_view s) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(s.size() >> 8), static_cast<uint8_t>(s.size())};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}
// 0x00 number marker | IEEE 754 double, big-endian
inline std::vector<uint8_t> num(double d) {
  uint64_t bits = std::bit_cast<uint64_t>(d);
  std::vector<uint8_t> out = {0x00};
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  return out;
}
// 0x01 boolean marker | 00 or 01
inline std::vector<uint8_t> boolean(bool b) {
  return {0x01, static_cast<uint8_t>(b ? 1 : 0)};
}
inline std::vector<uint8_t> null() {
  return {0x05};
}
inline std::vector<uint8_t> object_start() {
  return {0x03};
}
inline std::vector<uint8_t> object_end() {
  return {0x00, 0x00, 0x09};  // empty key + object-end marker
}

// A NetStream onStatus command as ServerSession sends it: "onStatus", transaction 0, null,
// {level, code, description[, details]}.
inline std::vector<uint8_t> on_status(std::string_view level, std::string_view code,
                                      std::string_view description, std::string_view details) {
  std::vector<uint8_t> out =
      cat({str("onStatus"), num(0), null(), object_start(), key("level"), str(level), key("code"),
           str(code), key("description"), str(description)});
  if (!details.empty()) out = cat({out, key("details"), str(details)});
  return cat({out, object_end()});
}

}  // namespace rtmp::test::amf
