#include "gst/push_headers.h"

#include <algorithm>

namespace gst_ertmp {

void StreamHeaders::set_metadata(PacketPtr metadata) {
  std::lock_guard<std::mutex> lock(mu_);
  metadata_ = std::move(metadata);
}

void StreamHeaders::set_sequence_header(TrackKey track, PacketPtr header) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(sequence_headers_.begin(), sequence_headers_.end(),
                         [&](const auto& h) { return h.first == track; });
  if (!header) {
    if (it != sequence_headers_.end()) sequence_headers_.erase(it);
  } else if (it != sequence_headers_.end()) {
    it->second = std::move(header);
  } else {
    sequence_headers_.emplace_back(track, std::move(header));
  }
}

PacketPtr StreamHeaders::metadata() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metadata_;
}

PacketPtr StreamHeaders::sequence_header(TrackKey track) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, header] : sequence_headers_)
    if (key == track) return header;
  return nullptr;
}

StreamHeaders::Snapshot StreamHeaders::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot s;
  s.metadata = metadata_;
  s.sequence_headers = sequence_headers_;
  return s;
}

void StreamHeaders::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  metadata_.reset();
  sequence_headers_.clear();
}

}  // namespace gst_ertmp
