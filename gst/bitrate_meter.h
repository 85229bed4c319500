// Bits per second over a sliding window of about five seconds, from a byte counter sampled
// once a second: the `bitrate` of rtmpingestsrc's stats, listener (per connection) and caller
// mode alike. Not thread-safe: the caller holds the lock that guards its counters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace gst_ertmp {

class BitrateMeter {
 public:
  static constexpr uint64_t kWindowMs = 5000;

  // `total_bytes` counted up to `now_ms` (monotonic). Samples at most once a second; a counter
  // that went backwards (a new connection counting from 0) starts the window over. Returns
  // the bitrate now in force.
  uint64_t sample(uint64_t now_ms, uint64_t total_bytes) {
    if (count_ && total_bytes < samples_[count_ - 1].second) count_ = 0;
    if (count_ && now_ms < next_ms_) return bitrate_;
    next_ms_ = now_ms + 1000;
    if (count_ == samples_.size()) {
      std::move(samples_.begin() + 1, samples_.end(), samples_.begin());
      --count_;
    }
    samples_[count_++] = {now_ms, total_bytes};
    const auto& [t0, b0] = samples_[0];
    bitrate_ = count_ > 1 && now_ms > t0 ? (total_bytes - b0) * 8000 / (now_ms - t0) : 0;
    return bitrate_;
  }
  uint64_t bitrate() const { return bitrate_; }

 private:
  std::array<std::pair<uint64_t, uint64_t>, kWindowMs / 1000 + 1> samples_{};
  size_t count_ = 0;
  uint64_t next_ms_ = 0;
  uint64_t bitrate_ = 0;
};

}  // namespace gst_ertmp
