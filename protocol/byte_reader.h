// Bounds-checked big-endian reader over a byte span (STYLE rule 5).
//
// Every read checks the remaining length first and returns Errc::kTruncated with the offset of
// the failed read; the reader is not advanced on failure. The span is borrowed: the caller keeps
// the bytes alive for the reader's lifetime and for every view it hands out.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "protocol/error.h"

namespace rtmp {

using Bytes = std::span<const uint8_t>;

class ByteReader {
 public:
  explicit ByteReader(Bytes data, uint64_t base_offset = 0) : data_(data), base_(base_offset) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  bool has(size_t n) const { return remaining() >= n; }
  // Offset of the next byte, counted from the start of the span plus base_offset.
  uint64_t offset() const { return base_ + pos_; }
  size_t position() const { return pos_; }
  Bytes rest() const { return data_.subspan(pos_); }
  Bytes data() const { return data_; }

  Result<uint8_t> u8() {
    if (!has(1)) return truncated(1);
    return data_[pos_++];
  }
  Result<uint16_t> u16be() {
    if (!has(2)) return truncated(2);
    uint16_t v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  Result<uint32_t> u24be() {
    if (!has(3)) return truncated(3);
    uint32_t v = (uint32_t{data_[pos_]} << 16) | (uint32_t{data_[pos_ + 1]} << 8) |
                 uint32_t{data_[pos_ + 2]};
    pos_ += 3;
    return v;
  }
  // Signed 24-bit (FLV CompositionTime SI24), sign-extended.
  Result<int32_t> i24be() {
    RTMP_TRY(uint32_t v, u24be());
    if (v & 0x800000u) return static_cast<int32_t>(v | 0xFF000000u);
    return static_cast<int32_t>(v);
  }
  Result<uint32_t> u32be() {
    if (!has(4)) return truncated(4);
    uint32_t v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
                 (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  // Little-endian 32-bit: the message stream id in a chunk type-0 header.
  Result<uint32_t> u32le() {
    if (!has(4)) return truncated(4);
    uint32_t v = uint32_t{data_[pos_]} | (uint32_t{data_[pos_ + 1]} << 8) |
                 (uint32_t{data_[pos_ + 2]} << 16) | (uint32_t{data_[pos_ + 3]} << 24);
    pos_ += 4;
    return v;
  }
  Result<uint64_t> u64be() {
    if (!has(8)) return truncated(8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_ + static_cast<size_t>(i)];
    pos_ += 8;
    return v;
  }
  Result<double> f64be() {
    RTMP_TRY(uint64_t bits, u64be());
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  // A view of the next n bytes; valid as long as the underlying span.
  Result<Bytes> bytes(size_t n) {
    if (!has(n)) return truncated(n);
    Bytes b = data_.subspan(pos_, n);
    pos_ += n;
    return b;
  }
  Result<std::string_view> string_view(size_t n) {
    RTMP_TRY(Bytes b, bytes(n));
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  Status skip(size_t n) {
    if (!has(n)) return truncated(n);
    pos_ += n;
    return Ok{};
  }
  Result<uint8_t> peek_u8() const {
    if (!has(1)) return truncated(1);
    return data_[pos_];
  }

 private:
  Error truncated(size_t wanted) const {
    return make_error(
        Errc::kTruncated,
        "need " + std::to_string(wanted) + " bytes, have " + std::to_string(remaining()), offset());
  }

  Bytes data_;
  size_t pos_ = 0;
  uint64_t base_ = 0;
};

}  // namespace rtmp
