#include "protocol/chunk_reader.h"

#include <new>

#include <algorithm>
#include <cstring>

#include "protocol/control.h"

namespace rtmp {

struct ChunkReader::ChunkStream {
  uint32_t csid = 0;
  // Header state, as the last type 0/1/2 header left it.
  uint32_t length = 0;
  uint8_t type = 0;
  uint32_t stream_id = 0;
  uint32_t delta = 0;      // timestamp field of the last header (delta, or type-0 absolute)
  bool extended = false;   // the last type 0/1/2 header used an extended timestamp
  uint32_t ext_value = 0;  // its extended value (expected again on type-3 continuations)
  // Timestamps: the 32-bit wire value and its 64-bit unwrapped counterpart.
  uint32_t ts32 = 0;
  uint64_t ts64 = 0;
  bool has_ts = false;
  // Message being reassembled.
  bool in_message = false;
  std::vector<uint8_t> payload;

  void set_timestamp(uint32_t t) {
    if (!has_ts) {
      ts64 = t;
      has_ts = true;
    } else {
      uint32_t forward = t - ts32;  // mod 2^32
      if (forward < 0x80000000u) {
        ts64 += forward;
      } else {
        uint64_t back = uint64_t{0x100000000ull} - forward;
        ts64 = ts64 >= back ? ts64 - back : 0;
      }
    }
    ts32 = t;
  }
};

ChunkReader::ChunkReader(const Limits& limits) : limits_(limits) {}
ChunkReader::~ChunkReader() = default;

Error ChunkReader::fail(Error e) {
  error_ = e;
  return e;
}

ChunkReader::ChunkStream* ChunkReader::stream_for(uint32_t csid, bool create) {
  if (last_ && last_->csid == csid) return last_;
  auto it = streams_.find(csid);
  if (it != streams_.end()) return last_ = it->second.get();
  if (!create) return nullptr;
  auto cs = std::make_unique<ChunkStream>();
  cs->csid = csid;
  ChunkStream* p = cs.get();
  streams_.emplace(csid, std::move(cs));
  return last_ = p;
}

std::optional<Message> ChunkReader::next_message() {
  if (ready_.empty()) return std::nullopt;
  Message m = std::move(ready_.front());
  ready_.pop_front();
  return m;
}

Result<size_t> ChunkReader::parse_header(Bytes h, uint64_t offset) {
  ByteReader r(h, offset);
  if (!r.has(1)) return size_t{0};
  uint8_t b0 = *r.u8();
  uint8_t fmt = b0 >> 6;
  uint32_t csid = b0 & 0x3F;
  if (csid == 0) {
    if (!r.has(1)) return size_t{0};
    csid = 64u + *r.u8();
  } else if (csid == 1) {
    if (!r.has(2)) return size_t{0};
    uint32_t lo = *r.u8();
    uint32_t hi = *r.u8();
    csid = 64u + lo + (hi << 8);
  }
  static constexpr size_t kMsgHeaderLen[4] = {11, 7, 3, 0};
  if (!r.has(kMsgHeaderLen[fmt])) return size_t{0};

  ChunkStream* cs = stream_for(csid, false);
  if (!cs) {
    if (fmt >= 2) {
      Error e = make_error(Errc::kMalformed,
                           "type-" + std::to_string(fmt) + " chunk on a chunk stream never opened",
                           offset);
      e.csid = csid;
      return e;
    }
    if (streams_.size() >= limits_.max_chunk_streams) {
      Error e = make_error(
          Errc::kLimitExceeded,
          "more than " + std::to_string(limits_.max_chunk_streams) + " chunk streams", offset);
      e.csid = csid;
      return e;
    }
  }

  uint32_t ts_field = 0, length = 0, stream_id = 0;
  uint8_t type = 0;
  if (fmt <= 2) ts_field = *r.u24be();
  if (fmt <= 1) {
    length = *r.u24be();
    type = *r.u8();
  }
  if (fmt == 0) stream_id = *r.u32le();

  bool new_message = fmt != 3 || !cs || !cs->in_message;
  if (fmt <= 2) {
    bool ext = ts_field == 0xFFFFFF;
    if (ext) {
      if (!r.has(4)) return size_t{0};
      ts_field = *r.u32be();
    }
    if (!cs) cs = stream_for(csid, true);
    if (cs->in_message) {
      // A new header while a message is incomplete: the peer abandoned it (an implicit abort).
      buffered_ -= cs->payload.size();
      declared_ -= cs->length;
      cs->payload = {};
      cs->in_message = false;
    }
    cs->extended = ext;
    cs->ext_value = ts_field;
    if (fmt <= 1) {
      cs->length = length;
      cs->type = type;
    }
    if (fmt == 0) {
      cs->stream_id = stream_id;
      cs->delta = ts_field;
      cs->set_timestamp(ts_field);
    } else {
      cs->delta = ts_field;
      cs->set_timestamp(cs->ts32 + ts_field);
    }
  } else if (cs->extended) {
    // Type 3 after an extended header: the 4 bytes repeat per spec, but some writers omit
    // them. Consume them only when they match (SRS's rule).
    if (!r.has(4)) {
      // Only ambiguous if the chunk could be shorter than 4 bytes; wait for them.
      return size_t{0};
    }
    ByteReader peek(r.rest());
    if (*peek.u32be() == cs->ext_value) (void)r.skip(4);
    if (new_message) cs->set_timestamp(cs->ts32 + cs->delta);
  } else if (new_message) {
    cs->set_timestamp(cs->ts32 + cs->delta);
  }

  if (new_message) {
    if (cs->length > limits_.max_message_size) {
      Error e = make_error(Errc::kLimitExceeded,
                           "message of " + std::to_string(cs->length) + " bytes over the " +
                               std::to_string(limits_.max_message_size) + "-byte limit",
                           offset);
      e.csid = csid;
      e.msg_type = cs->type;
      return e;
    }
    // The payload vector reserves the declared length (one copy, no regrowth), so the bound
    // applies to what was declared, not only to what has arrived: otherwise each chunk stream
    // could set aside max_message_size for one byte of traffic.
    if (declared_ + cs->length > limits_.max_buffered_bytes) {
      Error e = make_error(Errc::kLimitExceeded,
                           "partially received messages exceed " +
                               std::to_string(limits_.max_buffered_bytes) + " bytes",
                           offset);
      e.csid = csid;
      return e;
    }
    cs->in_message = true;
    declared_ += cs->length;
    cs->payload.clear();
    // The declared length is within max_message_size and the buffered total was checked
    // above, so reserving it is bounded by Limits. Out of memory all the same is this
    // connection's fault, never an exception through the caller (STYLE rule 3).
    try {
      cs->payload.reserve(cs->length);
    } catch (const std::bad_alloc&) {
      declared_ -= cs->length;
      cs->in_message = false;
      Error e =
          make_error(Errc::kLimitExceeded,
                     "no memory for a message of " + std::to_string(cs->length) + " bytes", offset);
      e.csid = csid;
      return e;
    }
  }
  current_ = cs;
  chunk_left_ = std::min(chunk_size_, cs->length - static_cast<uint32_t>(cs->payload.size()));
  return r.position();
}

Status ChunkReader::complete_message(ChunkStream& cs, uint64_t offset) {
  Message m;
  m.type = cs.type;
  m.stream_id = cs.stream_id;
  m.csid = cs.csid;
  m.timestamp = cs.ts64;
  m.payload = std::move(cs.payload);
  buffered_ -= m.payload.size();
  declared_ -= cs.length;
  cs.payload = {};
  cs.in_message = false;
  current_ = nullptr;

  if (m.kind() == MessageType::kSetChunkSize) {
    auto size = parse_set_chunk_size(m.payload);
    if (!size.ok() || *size < limits_.min_chunk_size || *size > limits_.max_chunk_size) {
      Error e = make_error(Errc::kLimitExceeded,
                           size.ok() ? "Set Chunk Size " + std::to_string(*size) + " outside [" +
                                           std::to_string(limits_.min_chunk_size) + ", " +
                                           std::to_string(limits_.max_chunk_size) + "]"
                                     : "bad Set Chunk Size: " + size.error().detail,
                           offset);
      e.csid = m.csid;
      e.msg_type = m.type;
      return e;
    }
    chunk_size_ = *size;
  } else if (m.kind() == MessageType::kAbort) {
    auto csid = parse_abort(m.payload);
    if (csid.ok()) {
      if (ChunkStream* other = stream_for(*csid, false); other && other->in_message) {
        buffered_ -= other->payload.size();
        declared_ -= other->length;
        other->payload = {};
        other->in_message = false;
      }
    }
  }
  ready_.push_back(std::move(m));
  return Ok{};
}

Status ChunkReader::receive(Bytes data) {
  if (error_) return *error_;
  while (!data.empty()) {
    uint64_t offset = bytes_received_;
    if (current_ == nullptr) {
      // Fast path: a one-byte type-3 continuation on the chunk stream just read (the common
      // case with small chunk sizes).
      if (header_len_ == 0 && last_ && last_->in_message && !last_->extended &&
          data[0] == (0xC0 | last_->csid) && last_->csid < 64) {
        current_ = last_;
        chunk_left_ =
            std::min(chunk_size_, last_->length - static_cast<uint32_t>(last_->payload.size()));
        bytes_received_ += 1;
        data = data.subspan(1);
        continue;
      }
      // Parse a header, possibly completing one started in an earlier call.
      size_t consumed;
      if (header_len_ == 0) {
        auto r = parse_header(data, offset);
        if (!r.ok()) return fail(std::move(r).error());
        consumed = *r;
        if (consumed == 0) {
          size_t n = std::min(data.size(), sizeof header_buf_);
          std::memcpy(header_buf_, data.data(), n);
          header_len_ = n;
          bytes_received_ += n;
          data = data.subspan(n);
          continue;
        }
      } else {
        size_t take = std::min(data.size(), sizeof header_buf_ - header_len_);
        std::memcpy(header_buf_ + header_len_, data.data(), take);
        size_t have = header_len_ + take;
        auto r = parse_header(Bytes(header_buf_, have), offset - header_len_);
        if (!r.ok()) return fail(std::move(r).error());
        if (*r == 0) {
          header_len_ = have;
          bytes_received_ += take;
          data = data.subspan(take);
          continue;
        }
        if (*r < header_len_) {
          // The header ended inside bytes buffered earlier (a type-3 header whose 4 bytes
          // after it were not the repeated extended timestamp): the rest is payload. Feed it
          // again ahead of `data` (rare; one small copy).
          std::vector<uint8_t> joined(header_buf_ + *r, header_buf_ + header_len_);
          joined.insert(joined.end(), data.begin(), data.end());
          bytes_received_ += *r;
          bytes_received_ -= header_len_;
          header_len_ = 0;
          return receive(joined);
        }
        // The header ended inside the bytes just copied: only those count as consumed.
        consumed = *r - header_len_;
        header_len_ = 0;
      }
      bytes_received_ += consumed;
      data = data.subspan(consumed);
      if (chunk_left_ == 0) {
        // A zero-length message completes on its header.
        auto st = complete_message(*current_, bytes_received_);
        if (!st.ok()) return fail(std::move(st).error());
      }
      continue;
    }
    size_t n = std::min<size_t>(chunk_left_, data.size());
    ChunkStream& cs = *current_;
    cs.payload.insert(cs.payload.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
    buffered_ += n;
    chunk_left_ -= static_cast<uint32_t>(n);
    bytes_received_ += n;
    data = data.subspan(n);
    if (chunk_left_ == 0) {
      if (cs.payload.size() == cs.length) {
        auto st = complete_message(cs, bytes_received_);
        if (!st.ok()) return fail(std::move(st).error());
      } else {
        current_ = nullptr;  // next chunk header
      }
    }
  }
  return Ok{};
}

}  // namespace rtmp
