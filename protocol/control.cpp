#include "protocol/control.h"

#include "protocol/byte_writer.h"

namespace rtmp {
namespace {

Message control_message(MessageType type) {
  Message m;
  m.type = static_cast<uint8_t>(type);
  m.csid = kControlCsid;
  m.stream_id = 0;
  return m;
}

Message u32_message(MessageType type, uint32_t v) {
  Message m = control_message(type);
  ByteWriter(m.payload).u32be(v);
  return m;
}

}  // namespace

Message make_set_chunk_size(uint32_t size) {
  return u32_message(MessageType::kSetChunkSize, size & 0x7FFFFFFFu);
}
Message make_abort(uint32_t csid) {
  return u32_message(MessageType::kAbort, csid);
}
Message make_acknowledgement(uint32_t sequence_number) {
  return u32_message(MessageType::kAcknowledgement, sequence_number);
}
Message make_window_ack_size(uint32_t window) {
  return u32_message(MessageType::kWindowAckSize, window);
}
Message make_set_peer_bandwidth(uint32_t window, PeerBandwidthLimit limit) {
  Message m = u32_message(MessageType::kSetPeerBandwidth, window);
  m.payload.push_back(static_cast<uint8_t>(limit));
  return m;
}
Message make_user_control(UserControlType type, uint32_t value) {
  Message m = control_message(MessageType::kUserControl);
  ByteWriter w(m.payload);
  w.u16be(static_cast<uint16_t>(type));
  w.u32be(value);
  return m;
}
Message make_set_buffer_length(uint32_t stream_id, uint32_t buffer_ms) {
  Message m = make_user_control(UserControlType::kSetBufferLength, stream_id);
  ByteWriter(m.payload).u32be(buffer_ms);
  return m;
}
Message make_ping_request(uint32_t timestamp) {
  return make_user_control(UserControlType::kPingRequest, timestamp);
}
Message make_ping_response(uint32_t timestamp) {
  return make_user_control(UserControlType::kPingResponse, timestamp);
}

Result<uint32_t> parse_set_chunk_size(Bytes payload) {
  ByteReader r(payload);
  RTMP_TRY(uint32_t v, r.u32be());
  if (v & 0x80000000u) {
    return make_error(Errc::kMalformed, "Set Chunk Size with the top bit set", 0);
  }
  return v;
}
Result<uint32_t> parse_abort(Bytes payload) {
  return ByteReader(payload).u32be();
}
Result<uint32_t> parse_acknowledgement(Bytes payload) {
  return ByteReader(payload).u32be();
}
Result<uint32_t> parse_window_ack_size(Bytes payload) {
  return ByteReader(payload).u32be();
}

Result<PeerBandwidth> parse_set_peer_bandwidth(Bytes payload) {
  ByteReader r(payload);
  RTMP_TRY(uint32_t window, r.u32be());
  RTMP_TRY(uint8_t limit, r.u8());
  if (limit > 2) {
    return make_error(Errc::kMalformed, "peer bandwidth limit type " + std::to_string(limit), 4);
  }
  return PeerBandwidth{window, static_cast<PeerBandwidthLimit>(limit)};
}

Result<UserControlEvent> parse_user_control(Bytes payload) {
  ByteReader r(payload);
  RTMP_TRY(uint16_t type, r.u16be());
  UserControlEvent ev;
  ev.type = static_cast<UserControlType>(type);
  switch (ev.type) {
    case UserControlType::kStreamBegin:
    case UserControlType::kStreamEof:
    case UserControlType::kStreamDry:
    case UserControlType::kStreamIsRecorded:
    case UserControlType::kPingRequest:
    case UserControlType::kPingResponse: {
      RTMP_TRY(uint32_t v, r.u32be());
      ev.value = v;
      return ev;
    }
    case UserControlType::kSetBufferLength: {
      RTMP_TRY(uint32_t v, r.u32be());
      RTMP_TRY(uint32_t ms, r.u32be());
      ev.value = v;
      ev.buffer_ms = ms;
      return ev;
    }
  }
  return ev;  // unknown event type: keep the raw type, ignore its data
}

}  // namespace rtmp
