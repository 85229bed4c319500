// The stream's current headers: onMetaData and each track's sequence header, as the packets
// that carry them. One owner for the concept: the packager (push_packager.h) writes them, for
// both input kinds (elementary caps, or the flvmux tags); whoever starts a connection reads
// them: the publisher on every (re)connect, and a serving connection in a future listener mode
// for every player that joins (metadata, the current sequence headers, then media from a
// keyframe).
//
// Threads: every call takes an internal lock, so readers on other threads see a consistent
// snapshot. Packets are immutable and shared; a reader may keep them as long as it likes.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

#include "gst/push_packet.h"

namespace gst_ertmp {

class StreamHeaders {
 public:
  // `@setDataFrame onMetaData` (data message body); null forgets it.
  void set_metadata(PacketPtr metadata);
  // The sequence header of `track`; null: the track has none (any more).
  void set_sequence_header(TrackKey track, PacketPtr header);

  PacketPtr metadata() const;
  PacketPtr sequence_header(TrackKey track) const;

  struct Snapshot {
    PacketPtr metadata;
    // In the order the tracks first got one (a receiver numbers its streams that way), none
    // null.
    std::vector<std::pair<TrackKey, PacketPtr>> sequence_headers;
  };
  Snapshot snapshot() const;

  void clear();

 private:
  mutable std::mutex mu_;
  PacketPtr metadata_;
  std::vector<std::pair<TrackKey, PacketPtr>> sequence_headers_;  // first-seen order
};

}  // namespace gst_ertmp
