#include "protocol/aggregate.h"

#include "protocol/byte_reader.h"
#include "protocol/byte_writer.h"

namespace rtmp {

Result<std::vector<Message>> parse_aggregate(const Message& aggregate, const Limits& limits) {
  ByteReader r(aggregate.payload);
  std::vector<Message> out;
  bool first = true;
  uint32_t first_ts = 0;
  while (!r.empty()) {
    const uint64_t at = r.offset();
    RTMP_TRY(uint8_t type, r.u8());
    RTMP_TRY(uint32_t length, r.u24be());
    RTMP_TRY(uint32_t ts_low, r.u24be());
    RTMP_TRY(uint8_t ts_high, r.u8());
    RTMP_CHECK(r.skip(3));  // stream id: the aggregate's applies
    if (type == static_cast<uint8_t>(MessageType::kAggregate)) {
      return make_error(Errc::kMalformed, "aggregate inside an aggregate", at);
    }
    if (out.size() >= limits.amf_max_elements) {
      return make_error(Errc::kLimitExceeded, "too many aggregate sub-messages", at);
    }
    RTMP_TRY(Bytes body, r.bytes(length));
    // Back pointer: 11 + length. Some writers omit it on the last sub-message; tolerate that.
    if (r.remaining() >= 4) {
      RTMP_CHECK(r.skip(4));
    } else if (!r.empty()) {
      return make_error(Errc::kTruncated, "aggregate back pointer", r.offset());
    }
    uint32_t ts = (uint32_t{ts_high} << 24) | ts_low;
    if (first) {
      first_ts = ts;
      first = false;
    }
    Message m;
    m.type = type;
    m.stream_id = aggregate.stream_id;
    m.csid = aggregate.csid;
    // Sub-message times are relative to the first one, in either direction (a writer may
    // put a sub-message a few ms before it); the difference is signed (mod 2^32, as the
    // chunk layer unwraps), and never takes the result below 0.
    const auto delta = static_cast<int32_t>(ts - first_ts);
    if (delta >= 0) {
      m.timestamp = aggregate.timestamp + static_cast<uint32_t>(delta);
    } else {
      const uint64_t back = static_cast<uint64_t>(-static_cast<int64_t>(delta));
      m.timestamp = aggregate.timestamp >= back ? aggregate.timestamp - back : 0;
    }
    m.payload.assign(body.begin(), body.end());
    out.push_back(std::move(m));
  }
  return out;
}

Message build_aggregate(const std::vector<Message>& messages) {
  Message agg;
  agg.type = static_cast<uint8_t>(MessageType::kAggregate);
  if (!messages.empty()) {
    agg.stream_id = messages[0].stream_id;
    agg.csid = messages[0].csid;
    agg.timestamp = messages[0].timestamp;
  }
  ByteWriter w(agg.payload);
  for (const auto& m : messages) {
    uint32_t ts = static_cast<uint32_t>(m.timestamp);
    w.u8(m.type);
    w.u24be(static_cast<uint32_t>(m.payload.size()));
    w.u24be(ts & 0xFFFFFF);
    w.u8(static_cast<uint8_t>(ts >> 24));
    w.u24be(0);
    w.bytes(m.payload);
    w.u32be(static_cast<uint32_t>(11 + m.payload.size()));
  }
  return agg;
}

}  // namespace rtmp
