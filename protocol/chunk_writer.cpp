#include "protocol/chunk_writer.h"

#include <algorithm>
#include <cassert>

namespace rtmp {
namespace {

void basic_header(std::vector<uint8_t>& out, uint8_t fmt, uint32_t csid) {
  assert(csid >= 2 && csid <= 65599);
  uint8_t top = static_cast<uint8_t>(fmt << 6);
  if (csid < 64) {
    out.push_back(static_cast<uint8_t>(top | csid));
  } else if (csid < 320) {
    out.push_back(top);
    out.push_back(static_cast<uint8_t>(csid - 64));
  } else {
    uint32_t v = csid - 64;
    out.push_back(static_cast<uint8_t>(top | 1));
    out.push_back(static_cast<uint8_t>(v & 0xFF));
    out.push_back(static_cast<uint8_t>(v >> 8));
  }
}

void put24(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  put24(out, v & 0xFFFFFF);
}

}  // namespace

void ChunkWriter::set_chunk_size(uint32_t n) {
  chunk_size_ = std::clamp<uint32_t>(n, 1, 0x7FFFFFFF);
}

void ChunkWriter::write(const Message& m, Bytes head, Bytes tail, std::vector<uint8_t>& out,
                        std::vector<Borrowed>* borrowed) {
  State& st = states_[m.csid];
  const uint32_t ts = static_cast<uint32_t>(m.timestamp);
  const size_t total = head.size() + tail.size();
  const uint32_t length = static_cast<uint32_t>(total);

  uint8_t fmt;
  uint32_t field;  // timestamp or delta as written
  if (!st.initialized || st.stream_id != m.stream_id || ts < st.timestamp) {
    fmt = 0;
    field = ts;
  } else {
    uint32_t delta = ts - st.timestamp;
    if (st.length != length || st.type != m.type) {
      fmt = 1;
    } else if (!st.delta_valid || delta != st.delta) {
      fmt = 2;
    } else {
      fmt = 3;
    }
    field = delta;
  }
  const bool ext = field >= 0xFFFFFF;

  out.reserve(out.size() + (borrowed ? head.size() : total) + 18 + (total / chunk_size_ + 1) * 8);
  basic_header(out, fmt, m.csid);
  if (fmt <= 2) put24(out, ext ? 0xFFFFFF : field);
  if (fmt <= 1) {
    put24(out, length);
    out.push_back(m.type);
  }
  if (fmt == 0) {
    out.push_back(static_cast<uint8_t>(m.stream_id));
    out.push_back(static_cast<uint8_t>(m.stream_id >> 8));
    out.push_back(static_cast<uint8_t>(m.stream_id >> 16));
    out.push_back(static_cast<uint8_t>(m.stream_id >> 24));
  }
  // A type-3 header that starts a message repeats the extended field of the header it reuses.
  if (ext) put32(out, field);

  // Appends payload bytes [pos, pos + n) of head ++ tail.
  auto append = [&](size_t pos, size_t n) {
    if (pos < head.size()) {
      size_t k = std::min(n, head.size() - pos);
      out.insert(out.end(), head.begin() + static_cast<ptrdiff_t>(pos),
                 head.begin() + static_cast<ptrdiff_t>(pos + k));
      pos += k;
      n -= k;
    }
    if (n > 0 && borrowed) {
      borrowed->push_back(Borrowed{out.size(), tail.subspan(pos - head.size(), n)});
    } else if (n > 0) {
      auto from = tail.begin() + static_cast<ptrdiff_t>(pos - head.size());
      out.insert(out.end(), from, from + static_cast<ptrdiff_t>(n));
    }
  };
  size_t pos = 0;
  while (true) {
    size_t n = std::min<size_t>(chunk_size_, total - pos);
    append(pos, n);
    pos += n;
    if (pos >= total) break;
    basic_header(out, 3, m.csid);
    if (ext) put32(out, field);
  }

  st.initialized = true;
  st.delta_valid = fmt != 0;
  st.stream_id = m.stream_id;
  st.length = length;
  st.type = m.type;
  if (fmt != 0) st.delta = field;
  st.timestamp = ts;
}

}  // namespace rtmp
