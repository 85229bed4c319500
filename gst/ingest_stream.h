// IngestStream: what one rtmpingestsrc makes of the publisher bound to it: tracks and their
// pads (PadStream each), caps from sequence headers, timestamps on the pipeline's running time,
// tags from onMetaData, or one FLV stream in `flv` output mode.
//
// Caps come from codec_caps.h caps_for() with what the publisher said about the track: its
// sequence header (SequenceStart, or MPEG2TSSequenceStart's AV1 descriptor), the legacy audio
// header bits, the onMetaData object that describes it (track 0: the top-level object; track n:
// its entry of videoTrackIdInfoMap/audioTrackIdInfoMap), and its last E-RTMP colorInfo. When any
// of these changes the caps are made again and renegotiated before the track's next buffer.
//
// What each E-RTMP packet does (docs/ertmp.md "Packet types"):
//   SequenceStart, MPEG2TSSequenceStart, MultichannelConfig: caps
//   CodedFrames / CodedFramesX: buffers
//   SequenceEnd: EOS on that track's pad only, once another track's message shows the publish
//     goes on (a SequenceEnd as the publish's last message is left to on-disconnect); a later
//     sequence on the ended track starts a new pad of the same name (pad-removed, pad-added,
//     as a codec change)
//   Metadata (colorInfo): the track's caps colorimetry / mastering-display-info /
//     content-light-level; an empty colorInfo removes them
//   audio silence (a zero-length audio message): a GAP event on audio_0 at its timestamp
//   video Command frame: a custom downstream event on its track's video pad (kVideoCommandEvent)
//
// Timing (SPEC §4): the first message of a publish maps to the running time at its arrival, and
// never before the highest DTS any pad carried (a republish or a takeover continues the pads
// with monotonic timestamps). After that DTS follows the publisher's clock:
//   dts = base_running + (rtmp_ts - base_rtmp) ms,   pts = dts + CT ms + nano offset.
// All of it in checked 64-bit arithmetic: a timestamp more than kMaxTimestampJumpMs away from
// the base is a peer fault (kBadTimestamp), never an overflow.
//
// Threads: the publisher calls (begin/media/metadata/end) come from the I/O loop thread of the
// bound connection, one publisher at a time; stop() and stats from the element's threads. One
// mutex guards the tracks; no call blocks and none posts a bus message itself (`post` does).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gst/gst.h>

#include "gst/pad_stream.h"
#include "protocol/color_info.h"
#include "protocol/server_session.h"

namespace gst_ertmp {

struct IngestPadTemplates {
  GstStaticPadTemplate* video;
  GstStaticPadTemplate* audio;
  GstStaticPadTemplate* flv;
  GstPadQueryFunction query;  // latency answers
};

class IngestStream {
 public:
  // A peer timestamp this far (in either direction) from the publish's first one is refused.
  // 2^40 ms is ~34.8 years: no real stream gets there; peer-driven jumps of 2^31-1 ms per
  // message do after ~512 messages.
  static constexpr uint64_t kMaxTimestampJumpMs = uint64_t{1} << 40;

  // A video Command frame (E-RTMP VideoCommand, legacy "video info/command frame") becomes a
  // serialized custom downstream event (GST_EVENT_CUSTOM_DOWNSTREAM) on its track's video pad with
  // this structure: "command" (guint: 0 StartSeek, 1 EndSeek, or another value as sent),
  // "command-name" (string: "start-seek", "end-seek" or "unknown") and "timestamp"
  // (GstClockTime: the running time of the message, as the buffers' DTS).
  static constexpr const char* kVideoCommandEvent = "rtmp-video-command";

  enum class Result { kOk, kFull, kBadTimestamp };

  struct Config {
    bool flv_mode = false;
    QueueLimits limits;
  };
  // `post` gets element-message structures (it takes them) and peer warnings (structure null,
  // text set) to put on the bus from a safe thread; `on_room` runs on a pad task when a pad
  // that refused more media has room again.
  using PostFn = std::function<void(GstStructure* message, const std::string& warning)>;

  IngestStream(GstElement* element, const IngestPadTemplates& templates, Config config, PostFn post,
               std::function<void()> on_room);
  ~IngestStream();

  // A new publisher is bound: its timeline starts at the running time of its first message.
  void begin();
  Result media(rtmp::MediaReceived&& media);
  Result metadata(rtmp::MetadataReceived&& metadata);
  // The publisher is over for good: EOS on every pad. Returns false when no pad exists yet.
  bool end_of_stream();

  // Stops every pad task, removes the pads. Publisher calls after this are ignored.
  void stop();

  // stats fields: bytes, and <pad>-frames / <pad>-bytes / <pad>-queued-bytes per track.
  void fill_stats(GstStructure* s);

 private:
  // What a track's caps are made from (the inputs of caps_for() the publisher sent).
  struct Source {
    rtmp::Codec codec = rtmp::Codec::kUnknown;
    std::vector<uint8_t> sequence_header;
    bool mpeg2ts_descriptor = false;
    bool legacy_audio_header = false;
    uint8_t sound_rate = 3, sound_size = 1, sound_type = 1, channels_hint = 0;
  };
  struct Track {
    std::unique_ptr<PadStream> stream;  // null until the track has caps (or after stop)
    GstCaps* caps = nullptr;
    std::string name;
    bool video = false;
    guint id = 0;
    unsigned stream_number = 0;  // stream ids of the pads that replaced it (codec change, end)
    bool discont = true;
    // SequenceEnd pushed EOS on the pad: the next caps start a new pad.
    bool ended = false;
    // A SequenceEnd arrived; applied by the next message of another track (see
    // apply_pending_ends_locked).
    bool end_pending = false;
    Source source;
    rtmp::ColorInfo color_info;        // from the last Metadata packet; empty: none or reset
    bool first_buffer_queued = false;  // its pad's first buffer waits for the other pads
    guint64 frames = 0;
    guint64 bytes = 0;
  };

  GstClockTime running_time_now();
  bool map_timestamp(uint64_t rtmp_ms, GstClockTimeDiff* dts);
  Track& track_locked(bool video, guint id);
  Track& flv_track_locked();
  void open_track_locked(Track& t, GstStaticPadTemplate* tmpl, const char* stream_id,
                         std::shared_ptr<PadHandover> after = nullptr);
  void set_caps_locked(Track& t, GstCaps* caps);
  const rtmp::amf::Value* metadata_for_locked(const Track& t) const;
  GstCaps* caps_of_locked(const Track& t, std::string* error) const;
  void redo_caps_locked(Track& t);
  void apply_metadata_packet_locked(const rtmp::MediaUnit& u, rtmp::Bytes body);
  void apply_pending_ends_locked(const rtmp::FlvTag& tag);
  void end_track_locked(Track& t);
  void push_gap_locked(GstClockTimeDiff dts);
  void push_video_command_locked(const rtmp::MediaUnit& u, GstClockTimeDiff dts);
  bool push_locked(Track& t, GstBuffer* buf, size_t counted_bytes);
  Result push_flv_locked(uint8_t type, uint64_t rtmp_ts, rtmp::Bytes body);
  void warn(const std::string& what) { post_(nullptr, what); }

  GstElement* element_;
  IngestPadTemplates templates_;
  Config config_;
  PostFn post_;
  std::function<void()> on_room_;

  std::mutex mu_;
  bool stopped_ = false;
  std::shared_ptr<PadAddGate> add_gate_ = std::make_shared<PadAddGate>();
  std::map<std::pair<bool, guint>, Track> tracks_;
  std::unique_ptr<Track> flv_;
  // Pads replaced after a codec change: their tasks finish (EOS, pad removed), stopped at stop().
  std::vector<std::unique_ptr<PadStream>> retired_;
  bool flv_header_sent_ = false;
  GstTagList* tags_ = nullptr;
  std::optional<rtmp::amf::Value> stream_metadata_;  // the last onMetaData object
  bool have_base_ = false;
  GstClockTime base_running_ = 0;
  uint64_t base_rtmp_ = 0;
  GstClockTime max_dts_ = 0;  // highest DTS pushed on any pad, across publishers
  guint64 total_bytes_ = 0;
};

}  // namespace gst_ertmp
