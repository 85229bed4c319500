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
#include <optional>
#include <string>
#include <vector>

#include "gst/push_format.h"
#include "gst/push_headers.h"
#include "gst/push_packet.h"
#include "protocol/caps.h"
#include "protocol/flv_file.h"

namespace gst_ertmp {

// When tracks go as E-RTMP (docs/ertmp.md "What rtmppushsink sends"):
//   kAuto    from the server's connect `_result` echo (Packager::set_peer): track 0 of a codec
//            with a legacy form (H.264, AAC, MP3, ...) as legacy tags; other codecs as FourCC
//            tags, and not sent when the echo names codecs but not this one; tracks >= 1 only
//            with capsEx Multitrack; ModEx nano offsets (E-RTMP tags only) with capsEx ModEx or
//            TimestampNanoOffset. A server that echoes nothing (ffmpeg, nginx-rtmp, SRS,
//            MediaMTX, node-media-server) gets track 0 only and millisecond timestamps.
//   kAlways  the server takes all of E-RTMP, whatever it echoes: FourCC tags for every codec
//            that has a FourCC, every track, nano offsets, packing.
enum class EnhancedMode { kAuto = 0, kAlways = 1 };

// How frames of several tracks of one kind at one instant travel (when the tracks go as
// E-RTMP and multitrack is negotiated): each in its own message (OneTrack for tracks >= 1), or
// together in one message: kManyTracks uses ManyTracks when they share the codec and
// ManyTracksManyCodecs otherwise; kManyTracksManyCodecs always the latter.
enum class MultitrackPacking { kOneTrack = 0, kManyTracks = 1, kManyTracksManyCodecs = 2 };

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
           GstObject* log_object, MultitrackPacking packing = MultitrackPacking::kOneTrack);
  Packager(const Packager&) = delete;
  Packager& operator=(const Packager&) = delete;

  // What the server echoed in its connect `_result` (PushPublisher::wait_connected), before the
  // first elementary frame. Without it the packager plans as for a server that echoes nothing.
  void set_peer(const rtmp::PeerCapabilities& server_caps);
  bool peer_known() const { return peer_.has_value(); }

  // Elementary input. Appends the frame's packet to `out`; nothing when the frame is dropped
  // (malformed: a warning; VP8/VP9 before the key frame that gives the sequence header; a
  // track the server does not take) or held to share a multitrack message with the other
  // tracks' frames of its instant (it comes out with the last of them, or with the first
  // frame of a later instant, or from flush()).
  //
  // Timing: the RTMP timeline starts at the first frame's DTS (running time), so B-frame DTS
  // before the first PTS are not clamped. Each message carries floor(DTS) ms; CT is
  // floor(PTS) - floor(DTS) ms (OBS 31.1's rounding: PTS = timestamp + CT never drifts), and
  // with nano timing the ModEx TimestampOffsetNano carries PTS's sub-millisecond part, so a
  // receiver's timestamp + CT + nano is the PTS to the nanosecond (CT is whole milliseconds:
  // the nano offset cannot make both DTS and PTS exact with B-frames; we keep PTS exact).
  void package_frame(const ElementaryFrame& frame, std::vector<Packet>& out);
  // An elementary pad's EOS: its SequenceEnd (after any held frames), for tracks whose form
  // has one (E-RTMP tags, legacy AVC); the track's headers are forgotten (a later frame makes
  // them again).
  void package_track_end(TrackKey track, std::vector<Packet>& out);
  // Held frames (multitrack packing), before EOS.
  void flush(std::vector<Packet>& out);
  // FLV input: the caps' streamheader (flvmux streamable=true) becomes the headers; buffers
  // flagged HEADER are then skipped (rtmp2sink does the same).
  void set_flv_caps(const GstCaps* caps);
  // Splits a video/x-flv buffer into tags (a buffer may hold several, or part of one) and
  // appends their packets. False with `error` when the bytes are not FLV.
  bool package_flv(GstBuffer* buffer, std::vector<Packet>& out, std::string* error);

 private:
  // How one track's frames travel, from the mode, the packing and the server's echo.
  struct TrackPlan {
    bool send = true;       // false: the server takes no form of this codec on this track
    bool enhanced = false;  // E-RTMP (FourCC) tags, else legacy
    bool nano = false;      // ModEx TimestampOffsetNano
    bool packable = false;  // may share a ManyTracks* message
    std::string why_not;    // when !send
  };
  struct TrackState {
    std::shared_ptr<const PushFormat> source;  // the caps format the copy was made from
    std::shared_ptr<PushFormat> format;        // our copy: frame_payload() completes it
    PacketPtr sequence_header;
    TrackPlan plan;
    bool colored = false;  // the last sequence header was followed by a non-empty colorInfo
    uint64_t last_dts_ms = 0;
  };
  // Frames of one instant waiting to share a message (multitrack packing), per kind.
  struct Held {
    Packet packet;  // as it would go alone
    rtmp::Codec codec = rtmp::Codec::kUnknown;
    int32_t ct = 0;
  };
  struct Group {
    std::vector<Held> frames;
    uint32_t nano = 0;
  };

  TrackPlan plan_for(TrackKey track, const PushFormat& f) const;
  bool enhanced_for(TrackKey track, const PushFormat& f) const;
  bool build_tag(TrackKey track, const PushFormat& f, bool sequence_start, rtmp::Bytes payload,
                 bool keyframe, int32_t ct, std::optional<uint32_t> nano,
                 std::vector<uint8_t>& out);
  PacketPtr sequence_header_packet(TrackKey track, TrackState& t);
  void new_sequence_header(TrackKey track, TrackState& t);
  void rebuild_metadata();
  gint64 since_base(gint64 running_ns);  // ns since the timeline's zero (signed)
  void hold(Held&& frame, uint32_t nano, std::vector<Packet>& out);
  void release(bool video, std::vector<Packet>& out);
  void release_before(uint64_t dts_ms, std::vector<Packet>& out);
  size_t packable_tracks(bool video) const;
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
  const MultitrackPacking packing_;
  std::optional<rtmp::PeerCapabilities> peer_;

  // Elementary.
  std::map<TrackKey, TrackState> tracks_;
  Group held_[2];  // [video]
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
