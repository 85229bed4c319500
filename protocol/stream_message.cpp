#include "protocol/stream_message.h"

#include "protocol/command.h"

namespace rtmp {

MediaReceived parse_media_message(Message&& m) {
  MediaReceived ev;
  auto tag =
      parse_flv_tag(m.kind() == MessageType::kVideo ? TagType::kVideo : TagType::kAudio, m.payload);
  if (tag.ok()) {
    ev.tag = std::move(tag).value();
  } else {
    Error e = std::move(tag).error();
    e.csid = m.csid;
    e.msg_type = m.type;
    ev.tag_error = std::move(e);
  }
  ev.message = std::move(m);
  return ev;
}

Result<MetadataReceived> parse_metadata_message(Message&& m, const Limits& limits) {
  RTMP_TRY(DataMessage data, parse_data_message(m, limits));
  MetadataReceived ev;
  ev.handler = std::move(data.handler);
  ev.values = std::move(data.values);
  ev.message = std::move(m);
  return ev;
}

}  // namespace rtmp
