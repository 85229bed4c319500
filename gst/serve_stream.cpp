#include "gst/serve_stream.h"

#include <algorithm>

namespace gst_ertmp {

struct ServeStream::Player {
  Waker* waker = nullptr;
  std::vector<rtmp::SharedItem> waiting;
  size_t waiting_bytes = 0;
  bool wake_pending = false;
  bool resync = false;
  bool ended = false;
};

namespace {

// What a player cannot do without, whatever it missed: the descriptions of the stream.
bool keep_on_resync(const rtmp::StreamItem& item) {
  switch (item.kind) {
    case rtmp::ItemKind::kMetadata:
    case rtmp::ItemKind::kClearMetadata:
    case rtmp::ItemKind::kHeader:
    case rtmp::ItemKind::kSequenceEnd:
      return true;
    default:
      return false;
  }
}

}  // namespace

ServeStream::ServeStream(ServeLimits limits) : limits_(limits), cache_(limits.cache) {}

ServeStream::~ServeStream() = default;

void ServeStream::push(rtmp::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  rtmp::SharedItem item = cache_.push(std::move(message));
  if (!item) return;
  ended_ = false;
  ++messages_;
  const size_t size = item->message.payload.size();
  for (const auto& p : players_) {
    if (p->ended) continue;  // its play is over; it leaves on its next take()
    if (p->waiting_bytes + size > limits_.max_waiting_bytes) {
      // Its loop did not take anything for a long while: drop the media it has not got yet.
      std::erase_if(p->waiting, [](const rtmp::SharedItem& i) { return !keep_on_resync(*i); });
      p->waiting_bytes = 0;
      for (const auto& i : p->waiting) p->waiting_bytes += i->message.payload.size();
      p->resync = true;
      ++resyncs_;
    }
    p->waiting.push_back(item);
    p->waiting_bytes += size;
    if (!p->wake_pending) {
      p->wake_pending = true;
      p->waker->wake();
    }
  }
}

void ServeStream::end() {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  for (const auto& p : players_) {
    if (p->ended) continue;
    p->ended = true;
    if (!p->wake_pending) {
      p->wake_pending = true;
      p->waker->wake();
    }
  }
}

rtmp::Admission ServeStream::admit(const rtmp::PeerCapabilities& caps) const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.admit(caps);
}

bool ServeStream::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

std::shared_ptr<ServeStream::Player> ServeStream::subscribe(Waker* waker,
                                                            std::vector<rtmp::SharedItem>* join) {
  auto p = std::make_shared<Player>();
  p->waker = waker;
  std::lock_guard<std::mutex> lock(mu_);
  *join = cache_.join();
  p->ended = ended_;
  players_.push_back(p);
  return p;
}

void ServeStream::unsubscribe(const std::shared_ptr<Player>& player) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase(players_, player);
}

ServeStream::Taken ServeStream::take(Player& player, std::vector<rtmp::SharedItem>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out.insert(out.end(), player.waiting.begin(), player.waiting.end());
  player.waiting.clear();
  player.waiting_bytes = 0;
  player.wake_pending = false;
  Taken t{player.resync, player.ended};
  player.resync = false;
  return t;
}

ServeStream::Stats ServeStream::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.players = players_.size();
  s.messages = messages_;
  s.cache_bytes = cache_.bytes();
  for (const auto& p : players_) s.waiting_bytes += p->waiting_bytes;
  s.resyncs = resyncs_;
  return s;
}

}  // namespace gst_ertmp
