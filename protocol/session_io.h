// Plumbing shared by ServerSession and ClientSession: the ordered event queue handed out by
// next_event() and the output buffer handed out by pending_output()/consume_output().
// Internal to protocol/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "protocol/byte_reader.h"

namespace rtmp::detail {

template <class Event>
class EventQueue {
 public:
  template <class T>
  void push(T&& ev) {
    q_.emplace_back(std::forward<T>(ev));
  }
  std::optional<Event> pop() {
    if (q_.empty()) return std::nullopt;
    Event ev = std::move(q_.front());
    q_.pop_front();
    return ev;
  }

 private:
  std::deque<Event> q_;
};

// Bytes queued for the socket. Writers append to buffer(); the view from pending() stays valid
// until the next append or consume.
class OutputBuffer {
 public:
  std::vector<uint8_t>& buffer() { return out_; }
  Bytes pending() const { return Bytes(out_).subspan(pos_); }
  void consume(size_t n) {
    n = std::min(n, out_.size() - pos_);
    pos_ += n;
    consumed_ += n;
    if (pos_ == out_.size()) {
      out_.clear();
      pos_ = 0;
    }
  }
  uint64_t consumed() const { return consumed_; }

 private:
  std::vector<uint8_t> out_;
  size_t pos_ = 0;
  uint64_t consumed_ = 0;
};

}  // namespace rtmp::detail
