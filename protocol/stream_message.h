// The messages of a NetStream (audio 8, video 9, data 18/15) as the sessions hand them to
// their caller: a publish arriving at a ServerSession and a play arriving at a ClientSession
// produce the same two event shapes, so an element handles pulled and pushed media alike.
//
//   audio / video:  message payload = one FLV tag body (flv_tag.h), parsed into MediaReceived
//   data:           handler (AMF0 string) | values...   "@setDataFrame" stripped (command.h)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/amf_value.h"
#include "protocol/error.h"
#include "protocol/flv_tag.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace rtmp {

// One audio or video message. `message.payload` is owned and may be moved out (gst/ adopts
// it without a copy); `tag` views index into that payload.
struct MediaReceived {
  Message message;
  FlvTag tag;
  // Set when the tag could not be parsed (unknown FourCC, reserved packet type, malformed):
  // the caller warns and skips this message; the session and the rest of the stream go on.
  std::optional<Error> tag_error;
};

// `@setDataFrame onMetaData ...` (prefix stripped) or any other data message on the stream.
struct MetadataReceived {
  Message message;                 // raw bytes as received (for FLV passthrough)
  std::string handler;             // "onMetaData", "onTextData", ...
  std::vector<amf::Value> values;  // the values after the handler name
};

// Parses an audio or video message (type 8 or 9). Never fails: a tag that does not parse is
// reported in `tag_error` with the message's csid and type.
MediaReceived parse_media_message(Message&& m);

// Parses a data message (type 18 or 15). Errors: the AMF decode errors of parse_data_message.
Result<MetadataReceived> parse_metadata_message(Message&& m, const Limits& limits);

}  // namespace rtmp
