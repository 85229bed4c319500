// Big-endian appender over a caller-owned std::vector<uint8_t>.
//
// Writers never fail for size reasons (the vector grows); range checks of field values (a
// 24-bit field given more than 24 bits) are the caller's contract, asserted in debug builds.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace rtmp {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}

  size_t size() const { return out_.size(); }
  std::vector<uint8_t>& buffer() { return out_; }

  void u8(uint8_t v) { out_.push_back(v); }
  void u16be(uint16_t v) {
    uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    append(b, 2);
  }
  void u24be(uint32_t v) {
    assert(v <= 0xFFFFFFu);
    uint8_t b[3] = {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                    static_cast<uint8_t>(v)};
    append(b, 3);
  }
  // Signed 24-bit, two's complement (FLV CompositionTime).
  void i24be(int32_t v) {
    assert(v >= -0x800000 && v <= 0x7FFFFF);
    u24be(static_cast<uint32_t>(v) & 0xFFFFFFu);
  }
  void u32be(uint32_t v) {
    uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                    static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    append(b, 4);
  }
  void u32le(uint32_t v) {
    uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                    static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
    append(b, 4);
  }
  void u64be(uint64_t v) {
    for (int i = 7; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void f64be(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    u64be(bits);
  }
  void bytes(std::span<const uint8_t> b) { append(b.data(), b.size()); }
  void string(std::string_view s) { append(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  // Overwrite a previously written big-endian 24-bit field at `pos` (sizes known afterwards).
  void patch_u24be(size_t pos, uint32_t v) {
    assert(pos + 3 <= out_.size() && v <= 0xFFFFFFu);
    out_[pos] = static_cast<uint8_t>(v >> 16);
    out_[pos + 1] = static_cast<uint8_t>(v >> 8);
    out_[pos + 2] = static_cast<uint8_t>(v);
  }
  void patch_u32be(size_t pos, uint32_t v) {
    assert(pos + 4 <= out_.size());
    out_[pos] = static_cast<uint8_t>(v >> 24);
    out_[pos + 1] = static_cast<uint8_t>(v >> 16);
    out_[pos + 2] = static_cast<uint8_t>(v >> 8);
    out_[pos + 3] = static_cast<uint8_t>(v);
  }

 private:
  void append(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  std::vector<uint8_t>& out_;
};

}  // namespace rtmp
