// Protocol control messages (types 1, 2, 3, 5, 6) and user control events (type 4).
// Adobe RTMP spec 2012 §5.4 and §6.2; §7.1.7 for the user control event types.
//
//   Set Chunk Size (1)        | 0 | chunk size:31 |          top bit must be 0
//   Abort (2)                 | chunk stream id:32 |
//   Acknowledgement (3)       | sequence number:32 |       bytes received so far, mod 2^32
//   Window Ack Size (5)       | window:32 |
//   Set Peer Bandwidth (6)    | window:32 | limit type:8 |  0 hard, 1 soft, 2 dynamic
//   User Control (4)          | event type:16 | event data ... |
//       StreamBegin 0, StreamEOF 1, StreamDry 2, IsRecorded 4: stream id:32
//       SetBufferLength 3: stream id:32, buffer length ms:32
//       PingRequest 6, PingResponse 7: timestamp:32
// All go on chunk stream 2, message stream 0.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/message.h"

namespace rtmp {

constexpr uint32_t kControlCsid = 2;

enum class PeerBandwidthLimit : uint8_t { kHard = 0, kSoft = 1, kDynamic = 2 };

enum class UserControlType : uint16_t {
  kStreamBegin = 0,
  kStreamEof = 1,
  kStreamDry = 2,
  kSetBufferLength = 3,
  kStreamIsRecorded = 4,
  kPingRequest = 6,
  kPingResponse = 7,
};

struct UserControlEvent {
  UserControlType type = UserControlType::kStreamBegin;  // may hold an unknown raw value
  uint32_t value = 0;                                    // stream id, or the ping timestamp
  uint32_t buffer_ms = 0;                                // SetBufferLength only
};

struct PeerBandwidth {
  uint32_t window = 0;
  PeerBandwidthLimit limit = PeerBandwidthLimit::kDynamic;
};

Message make_set_chunk_size(uint32_t size);
Message make_abort(uint32_t csid);
Message make_acknowledgement(uint32_t sequence_number);
Message make_window_ack_size(uint32_t window);
Message make_set_peer_bandwidth(uint32_t window, PeerBandwidthLimit limit);
Message make_user_control(UserControlType type, uint32_t value);
Message make_set_buffer_length(uint32_t stream_id, uint32_t buffer_ms);
Message make_ping_request(uint32_t timestamp);
Message make_ping_response(uint32_t timestamp);

// Parsers take the message payload. Errors: kTruncated (short payload), kMalformed (a Set
// Chunk Size with the top bit set, an unknown peer bandwidth limit type).
Result<uint32_t> parse_set_chunk_size(Bytes payload);
Result<uint32_t> parse_abort(Bytes payload);
Result<uint32_t> parse_acknowledgement(Bytes payload);
Result<uint32_t> parse_window_ack_size(Bytes payload);
Result<PeerBandwidth> parse_set_peer_bandwidth(Bytes payload);
// Unknown event types are not an error: they come back with their raw type and no value.
Result<UserControlEvent> parse_user_control(Bytes payload);

// Decides when an Acknowledgement is due: after each `window` bytes received since the last
// one (Adobe RTMP 2012 §5.4.3). The sequence number is the byte count mod 2^32, so it wraps
// after 4 GiB as the spec's 32-bit field does (ertmp-wire.md B.4 #2).
class AckTracker {
 public:
  void set_window(uint32_t window) { window_ = window; }
  uint32_t window() const { return window_; }
  // `total_received` is the connection's byte count (u64, never wraps). Returns the sequence
  // number to send, or nothing.
  std::optional<uint32_t> on_bytes(uint64_t total_received) {
    if (window_ == 0 || total_received - last_acked_ < window_) return std::nullopt;
    last_acked_ = total_received;
    return static_cast<uint32_t>(total_received);
  }

 private:
  uint32_t window_ = 0;  // 0 = the peer never asked for acks
  uint64_t last_acked_ = 0;
};

}  // namespace rtmp
