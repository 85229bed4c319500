// What rtmppushsink sends: packaged RTMP messages (an FLV tag body each), shared between the
// packager that builds them, the publisher that sends them (and keeps them in its reconnect
// backlog) and the stream headers (push_headers.h).
//
// Ownership: a Packet is immutable once built and shared through PacketPtr. Media bytes are
// not copied into it: `payload` holds the mapped GstBuffer (or bytes the packager had to
// rewrite), `body` is then only the tag header that goes in front of them.
#pragma once

#include <gst/gst.h>

#include <compare>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/message.h"

namespace gst_ertmp {

// The media bytes of a packet, held without a copy: a mapped GstBuffer, or owned bytes.
class Payload {
 public:
  explicit Payload(GstBuffer* buffer) : buffer_(buffer) {  // takes the reference
    if (!gst_buffer_map(buffer_, &map_, GST_MAP_READ)) map_ = GstMapInfo{};
    size_ = map_.size;
  }
  // `size` bytes at `offset` of the buffer (checked against the mapped size).
  Payload(GstBuffer* buffer, size_t offset, size_t size) : Payload(buffer) {
    if (offset > size_ || size > size_ - offset) {
      size_ = 0;
    } else {
      offset_ = offset;
      size_ = size;
    }
  }
  explicit Payload(std::vector<uint8_t> bytes) : owned_(std::move(bytes)) {}
  ~Payload() {
    if (buffer_) {
      if (map_.memory) gst_buffer_unmap(buffer_, &map_);
      gst_buffer_unref(buffer_);
    }
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  rtmp::Bytes bytes() const {
    return buffer_ ? rtmp::Bytes(map_.data, map_.size).subspan(offset_, size_)
                   : rtmp::Bytes(owned_);
  }

 private:
  GstBuffer* buffer_ = nullptr;
  GstMapInfo map_{};
  size_t offset_ = 0;
  size_t size_ = 0;
  std::vector<uint8_t> owned_;
};

// A track of the stream: audio or video, and its E-RTMP track id (0 = the default track).
struct TrackKey {
  bool video = false;
  uint8_t id = 0;
  auto operator<=>(const TrackKey&) const = default;
};

struct Packet;
using PacketPtr = std::shared_ptr<const Packet>;

// One RTMP message: `body`, then the payload's bytes when there is one.
struct Packet {
  rtmp::MessageType type = rtmp::MessageType::kVideo;
  std::vector<uint8_t> body;
  std::shared_ptr<const Payload> payload;
  uint64_t dts_ms = 0;
  bool video = false;
  bool keyframe = true;
  // Audio/video frames: their track, and the headers they were packaged under: the sequence
  // header they decode with (null when the codec has none) and the onMetaData that describes
  // the stream (null when none yet). A connection sends each before the first frame that needs
  // it, so a backlog that spans a caps change replays every frame after its own header.
  bool media = false;
  TrackKey track;
  PacketPtr sequence_header;
  PacketPtr metadata;
  // A multitrack message (ManyTracks / ManyTracksManyCodecs) carries other tracks too: each with
  // the sequence header it decodes with, sent before it like `sequence_header`.
  std::vector<std::pair<TrackKey, PacketPtr>> more_tracks;
  // Headers: a packet that goes right after this one whenever this one is sent (a video
  // track's colorInfo Metadata packet after its sequence header).
  PacketPtr then;

  size_t size() const { return body.size() + (payload ? payload->bytes().size() : 0); }
};

}  // namespace gst_ertmp
