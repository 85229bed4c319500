// Aggregate messages (type 22; Adobe RTMP spec 2012 §6.1.1 / §7.1.6).
//
//   body = (sub-message header | sub-message body | back pointer u32)*
//   sub-message header (11 bytes) = type u8 | length u24 | timestamp u24 | timestamp ext u8 |
//                                   stream id u24
// Sub-message timestamps are relative to the first one: each is re-based onto the aggregate's
// own message timestamp (delivered = aggregate ts + (sub ts - first sub ts)), as nginx-rtmp and
// rtmp2 do. The aggregate's stream id applies to every sub-message.
#pragma once

#include <vector>

#include "protocol/error.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace rtmp {

// Expands an aggregate into messages (payloads copied out; aggregates are rare: Wowza/FMS).
// Errors: kTruncated for a sub-message that runs past the end, kLimitExceeded for more than
// Limits::amf_max_elements sub-messages, kMalformed for a nested aggregate.
Result<std::vector<Message>> parse_aggregate(const Message& aggregate,
                                             const Limits& limits = Limits{});

// Builds one aggregate from messages (all on one stream); its timestamp is the first's.
Message build_aggregate(const std::vector<Message>& messages);

}  // namespace rtmp
