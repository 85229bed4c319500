#include "protocol/flv_file.h"

#include "protocol/byte_writer.h"

namespace rtmp {

Status FlvReader::receive(Bytes data) {
  if (error_) return *error_;
  // Compact the buffer before growing it: consumed bytes are dropped.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  Status st = parse();
  if (!st.ok()) error_ = st.error();
  return st;
}

std::optional<FlvFileTag> FlvReader::next_tag() {
  if (tags_.empty()) return std::nullopt;
  FlvFileTag t = std::move(tags_.front());
  tags_.pop_front();
  return t;
}

Status FlvReader::parse() {
  while (true) {
    ByteReader r(Bytes(buf_).subspan(pos_), consumed_);
    if (!header_) {
      if (!r.has(9)) return Ok{};
      RTMP_TRY(Bytes sig, r.bytes(3));
      if (sig[0] != 'F' || sig[1] != 'L' || sig[2] != 'V') {
        return make_error(Errc::kMalformed, "not an FLV file (signature)", consumed_);
      }
      FlvHeader h;
      h.version = *r.u8();
      uint8_t flags = *r.u8();
      h.has_audio = (flags & 0x04) != 0;
      h.has_video = (flags & 0x01) != 0;
      h.data_offset = *r.u32be();
      if (h.data_offset < 9 || h.data_offset > 1024) {
        return make_error(Errc::kMalformed, "FLV data offset " + std::to_string(h.data_offset),
                          consumed_ + 5);
      }
      if (!r.has(h.data_offset - 9)) return Ok{};
      (void)r.skip(h.data_offset - 9);
      header_ = h;
      need_prev_size_ = true;
      expected_prev_size_ = 0;
      pos_ += r.position();
      consumed_ += r.position();
      continue;
    }
    if (need_prev_size_) {
      if (!r.has(4)) return Ok{};
      uint32_t prev = *r.u32be();
      if (prev != expected_prev_size_) {
        warnings_.push_back("PreviousTagSize " + std::to_string(prev) + " at offset " +
                            std::to_string(consumed_) + ", expected " +
                            std::to_string(expected_prev_size_));
      }
      need_prev_size_ = false;
      pos_ += 4;
      consumed_ += 4;
      continue;
    }
    if (!r.has(11)) return Ok{};
    uint8_t b0 = *r.u8();
    uint32_t size = *r.u24be();
    uint32_t ts_low = *r.u24be();
    uint8_t ts_high = *r.u8();
    uint32_t stream_id = *r.u24be();
    if (size > limits_.max_message_size) {
      return make_error(Errc::kLimitExceeded,
                        "FLV tag of " + std::to_string(size) + " bytes over the limit", consumed_);
    }
    if (!r.has(size)) return Ok{};
    FlvFileTag t;
    t.type = b0 & 0x1F;
    t.filter = (b0 & 0x20) != 0;
    t.timestamp = static_cast<int32_t>((uint32_t{ts_high} << 24) | ts_low);
    t.stream_id = stream_id;
    Bytes body = *r.bytes(size);
    t.body.assign(body.begin(), body.end());
    t.file_offset = consumed_;
    tags_.push_back(std::move(t));
    pos_ += 11 + size;
    consumed_ += 11 + size;
    need_prev_size_ = true;
    expected_prev_size_ = 11 + size;
  }
}

void FlvWriter::write_header(std::vector<uint8_t>& out, bool has_audio, bool has_video) {
  ByteWriter w(out);
  w.string("FLV");
  w.u8(1);
  w.u8(static_cast<uint8_t>((has_audio ? 0x04 : 0) | (has_video ? 0x01 : 0)));
  w.u32be(9);
  w.u32be(0);  // PreviousTagSize0
}

void FlvWriter::write_tag(std::vector<uint8_t>& out, uint8_t type, int64_t timestamp, Bytes body) {
  ByteWriter w(out);
  uint32_t ts = static_cast<uint32_t>(timestamp);
  w.u8(type & 0x1F);
  w.u24be(static_cast<uint32_t>(body.size()));
  w.u24be(ts & 0xFFFFFF);
  w.u8(static_cast<uint8_t>(ts >> 24));
  w.u24be(0);
  w.bytes(body);
  w.u32be(static_cast<uint32_t>(11 + body.size()));
}

}  // namespace rtmp
