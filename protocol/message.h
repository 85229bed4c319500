// RTMP messages (Adobe RTMP spec 2012, §5.4, §6, §7): the unit the chunk layer reassembles.
//
// This header holds the types every other module shares. Protocol control (types 1-6) and user
// control (type 4) builders/parsers live in control.h; commands (20/17), data (18/15) and
// shared objects (19/16) in command.h; aggregate (22) in aggregate.h.
#pragma once

#include <cstdint>
#include <vector>

namespace rtmp {

enum class MessageType : uint8_t {
  kSetChunkSize = 1,
  kAbort = 2,
  kAcknowledgement = 3,
  kUserControl = 4,
  kWindowAckSize = 5,
  kSetPeerBandwidth = 6,
  kAudio = 8,
  kVideo = 9,
  kDataAmf3 = 15,
  kSharedObjectAmf3 = 16,
  kCommandAmf3 = 17,
  kDataAmf0 = 18,
  kSharedObjectAmf0 = 19,
  kCommandAmf0 = 20,
  kAggregate = 22,
};

// One reassembled message. `payload` is owned; gst/ adopts it as a GstBuffer without a copy
// (STYLE rule 6).
struct Message {
  uint8_t type = 0;        // MessageType value (kept raw: unknown types are reported)
  uint32_t stream_id = 0;  // message stream id
  uint32_t csid = 0;       // chunk stream id it arrived on / should leave on
  uint64_t timestamp = 0;  // milliseconds, unwrapped to 64 bits
  std::vector<uint8_t> payload;

  MessageType kind() const { return static_cast<MessageType>(type); }
};

}  // namespace rtmp
