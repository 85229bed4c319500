// FLV/E-RTMP tag bodies as audio and as video; unit views must stay inside the body, the body
// of every Metadata unit goes through the colorInfo parser and every MPEG2TSSequenceStart
// through the AV1 descriptor reader.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/codec_config.h"
#include "protocol/color_info.h"
#include "protocol/flv_tag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (auto type : {rtmp::TagType::kAudio, rtmp::TagType::kVideo}) {
    auto tag = rtmp::parse_flv_tag(type, rtmp::Bytes(data, size));
    if (!tag.ok()) continue;
    for (const auto& u : tag->units) {
      if (u.offset > size || u.size > size - u.offset) std::abort();
      if (u.packet == rtmp::PacketKind::kMetadata) {
        (void)rtmp::parse_video_metadata(rtmp::Bytes(data + u.offset, u.size));
      }
      if (u.packet == rtmp::PacketKind::kMpeg2TsSequenceStart) {
        auto av1c = rtmp::av1c_from_mpeg2ts_descriptor(rtmp::Bytes(data + u.offset, u.size));
        if (av1c.ok() && av1c->size() != 4) std::abort();
      }
    }
  }
  return 0;
}
