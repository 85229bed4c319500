// rtmppushsink's packaging: turns what the pads deliver into RTMP messages (push_packet.h) and
// keeps the stream's headers (push_headers.h) current. One sequence-header tracker for both
// input kinds:
//   - elementary frames (video_%u / audio_%u): the sequence header and onMetaData are built
//     from the caps (push_format.h), or from the first frame where caps carry none (AV1, VP8,
//     VP9), once per format version;
//   - FLV (the `sink` pad, flvmux): the onMetaData and SequenceStart tags the muxer sends (in
//     its caps' streamheader and in band) become the headers, never plain media.
// Every frame packet carries the headers it was packaged under; the publisher sends each one
// ahead of the first frame that needs it on a connection.
//
// Threads: the Packager runs on the streaming thread of the base sink pad (one call at a
// time); StreamDescription is written from the elementary pads' threads (internally locked).
#pragma once

#include <gst/gst.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gst/push_format.h"
#include "gst/push_headers.h"
#include "gst/push_packet.h"
#include "protocol/flv_file.h"

namespace gst_ertmp {

enum class EnhancedMode { kAuto = 0, kAlways = 1 };

// What the elementary pads declared (caps, bitrate tags) and the pipeline's tags: the sources
// of onMetaData. Written from the pads' streaming threads, read by the packager; lives as long
// as the element (pads keep their caps across state changes).
class StreamDescription {
 public:
  struct Track {
    std::shared_ptr<const PushFormat> format;
    guint bitrate = 0;  // bit/s from the pad's bitrate / nominal-bitrate tags
  };
  StreamDescription() = default;
  ~StreamDescription();
  StreamDescription(const StreamDescription&) = delete;
  StreamDescription& operator=(const StreamDescription&) = delete;

  void declare_format(TrackKey track, std::shared_ptr<const PushFormat> format);
  void declare_bitrate(TrackKey track, guint bitrate);
  void forget(TrackKey track);
  // Global tags replace what they name; the first stream-scope list counts as global too.
  void merge_tags(const GstTagList* tags);

  std::map<TrackKey, Track> tracks() const;
  GstTagList* tags() const;  // a new reference, or null

 private:
  mutable std::mutex mu_;
  std::map<TrackKey, Track> tracks_;
  GstTagList* tags_ = nullptr;
};

// One elementary buffer, as the interleaver hands it over.
struct ElementaryFrame {
  GstBuffer* buffer = nullptr;               // borrowed: package_frame takes its own reference
  std::shared_ptr<const PushFormat> format;  // the caps it came with
  TrackKey track;
  const char* pad_name = "";
  gint64 dts = 0;  // running time, ns (B-frame DTS may be negative)
  gint64 pts = 0;
  bool keyframe = true;
};

class Packager {
 public:
  Packager(StreamHeaders& headers, const StreamDescription& description, EnhancedMode mode,
           GstObject* log_object);
  Packager(const Packager&) = delete;
  Packager& operator=(const Packager&) = delete;

  // Elementary input. Appends the frame's packet to `out`; nothing when the frame is dropped
  // (malformed: a warning; VP8/VP9 before the key frame that gives the sequence header).
  void package_frame(const ElementaryFrame& frame, std::vector<Packet>& out);
  // FLV input: the caps' streamheader (flvmux streamable=true) becomes the headers; buffers
  // flagged HEADER are then skipped (rtmp2sink does the same).
  void set_flv_caps(const GstCaps* caps);
  // Splits a video/x-flv buffer into tags (a buffer may hold several, or part of one) and
  // appends their packets. False with `error` when the bytes are not FLV.
  bool package_flv(GstBuffer* buffer, std::vector<Packet>& out, std::string* error);

 private:
  struct TrackState {
    std::shared_ptr<const PushFormat> source;  // the caps format the copy was made from
    std::shared_ptr<PushFormat> format;        // our copy: frame_payload() completes it
    PacketPtr sequence_header;
  };

  bool enhanced_for(TrackKey track, const PushFormat& f) const;
  bool build_tag(TrackKey track, const PushFormat& f, bool sequence_start, rtmp::Bytes payload,
                 bool keyframe, int32_t ct, std::vector<uint8_t>& out);
  PacketPtr sequence_header_packet(TrackKey track, const PushFormat& f);
  void rebuild_metadata();
  gint64 rtmp_ms(gint64 running_ns);  // signed: before the base is negative
  // FLV: one tag.
  // `borrowed`: the tag's body inside the input buffer (sent from there), or null (the body is
  // in `tag`).
  void package_flv_tag(rtmp::FlvFileTag&& tag, std::vector<Packet>& out,
                       std::shared_ptr<const Payload> borrowed = nullptr);
  uint64_t unwrap_flv_timestamp(uint32_t ts);

  StreamHeaders& headers_;
  const StreamDescription& description_;
  const EnhancedMode mode_;
  GstObject* log_object_;

  // Elementary.
  std::map<TrackKey, TrackState> tracks_;
  bool have_base_ = false;
  gint64 base_ = 0;  // running time of RTMP timestamp 0
  PacketPtr metadata_;
  bool metadata_stale_ = true;

  // FLV.
  rtmp::FlvReader flv_reader_;
  bool flv_started_ = false;
  bool flv_caps_headers_ = false;
  std::map<TrackKey, PacketPtr> flv_sequence_headers_;
  PacketPtr flv_metadata_;
  bool have_flv_ts_ = false;
  uint64_t flv_last_ts_ = 0;
};

}  // namespace gst_ertmp
