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

// Bytes queued for the socket. Writers append to buffer(); borrow() queues caller-owned bytes
// after what buffer() holds so far without copying them (they must stay valid until consumed).
// The views from pending()/gather() stay valid until the next append, borrow or consume.
class OutputBuffer {
 public:
  std::vector<uint8_t>& buffer() { return out_; }
  void borrow(Bytes b) { borrow_at(out_.size(), b); }
  // Borrowed bytes that go before buffer()[at]; `at` never decreases between calls.
  void borrow_at(size_t at, Bytes b) {
    if (b.empty()) return;
    borrowed_.push_back(Borrowed{at, b});
    borrowed_pending_ += b.size();
  }

  // The next contiguous piece: own bytes up to the next borrowed span, or (the rest of) that span.
  Bytes pending() const {
    if (next_ < borrowed_.size()) {
      const Borrowed& b = borrowed_[next_];
      if (pos_ < b.at) return Bytes(out_).subspan(pos_, b.at - pos_);
      return b.bytes.subspan(borrowed_pos_);
    }
    return Bytes(out_).subspan(pos_);
  }
  // Every pending piece in order, at most `max_pieces`; returns their total size.
  size_t gather(std::vector<Bytes>& pieces, size_t max_pieces) const {
    pieces.clear();
    size_t total = 0, pos = pos_, bpos = borrowed_pos_;
    auto add = [&](Bytes b) {
      if (b.empty() || pieces.size() >= max_pieces) return;
      pieces.push_back(b);
      total += b.size();
    };
    for (size_t i = next_; i < borrowed_.size() && pieces.size() < max_pieces; ++i) {
      const Borrowed& b = borrowed_[i];
      if (pos < b.at) add(Bytes(out_).subspan(pos, b.at - pos));
      pos = b.at;
      add(b.bytes.subspan(bpos));
      bpos = 0;
    }
    add(Bytes(out_).subspan(pos));
    return total;
  }
  bool empty() const { return pos_ == out_.size() && next_ == borrowed_.size(); }
  // Bytes queued and not consumed yet, own and borrowed.
  size_t size() const { return out_.size() - pos_ + borrowed_pending_; }

  void consume(size_t n) {
    while (n > 0 && !empty()) {
      size_t k = std::min(n, pending().size());
      if (next_ < borrowed_.size() && pos_ == borrowed_[next_].at) {
        borrowed_pos_ += k;
        borrowed_pending_ -= k;
        if (borrowed_pos_ == borrowed_[next_].bytes.size()) {
          ++next_;
          borrowed_pos_ = 0;
        }
      } else {
        pos_ += k;
      }
      n -= k;
      consumed_ += k;
    }
    if (empty()) {
      out_.clear();
      borrowed_.clear();
      pos_ = 0;
      next_ = 0;
      borrowed_pos_ = 0;
      borrowed_pending_ = 0;
    }
  }
  uint64_t consumed() const { return consumed_; }

 private:
  struct Borrowed {
    size_t at;  // offset in out_ the span goes before
    Bytes bytes;
  };
  std::vector<uint8_t> out_;
  std::vector<Borrowed> borrowed_;
  size_t pos_ = 0;
  size_t next_ = 0;              // first borrowed span not fully consumed
  size_t borrowed_pos_ = 0;      // consumed bytes of borrowed_[next_]
  size_t borrowed_pending_ = 0;  // borrowed bytes not consumed yet
  uint64_t consumed_ = 0;
};

}  // namespace rtmp::detail
