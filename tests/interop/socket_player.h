// Our ClientSession in the play role over a blocking loopback socket, for tests that play
// from a real server or from our own serving element: it connects, plays, and keeps what it
// receives (media, metadata, onStatus, user controls) for the test to inspect. session()
// sends further commands (pause, seek, play2); the next run_until() flushes them.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "protocol/client_session.h"
#include "tests/interop/frame_hashes.h"
#include "tests/interop/rtmp_peers.h"

namespace rtmp {

inline uint64_t steady_now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

class SocketPlayer {
 public:
  explicit SocketPlayer(ClientConfig cc) : session_(std::move(cc), steady_now_ms()) {}
  ~SocketPlayer() {
    if (fd_ >= 0) close(fd_);
  }
  SocketPlayer(const SocketPlayer&) = delete;
  SocketPlayer& operator=(const SocketPlayer&) = delete;

  // Connects and plays; the server's refusal or a timeout is an error.
  Status start(uint16_t port) { return start_on(ertmp_test::connect_loopback(port, 5000)); }
  // The same on a socket the caller connected (with options of its own); takes `fd`.
  Status start_on(int fd) {
    fd_ = fd;
    if (fd_ < 0) return make_error(Errc::kInternal, "connect failed");
    run_until([this] { return session_.playing() || session_.closed(); }, 10'000);
    if (session_.playing()) return Ok{};
    return failure_ ? *failure_ : make_error(Errc::kTimeout, "play did not start");
  }

  // Reads and handles until `done` or the deadline; false when `done` did not happen.
  bool run_until(const std::function<bool()>& done, int timeout_ms) {
    const uint64_t deadline = steady_now_ms() + static_cast<uint64_t>(timeout_ms);
    while (!done()) {
      const uint64_t now = steady_now_ms();
      if (now >= deadline || eof_) return done();
      step(static_cast<int>(std::min<uint64_t>(100, deadline - now)));
    }
    return true;
  }

  frames::Hashes hashes() const {
    frames::Hashes h;
    for (const auto& m : media_) frames::add_tag(h, m.message.type, m.message.payload);
    return h;
  }
  size_t frames() const {
    size_t n = 0;
    for (const auto& m : media_) {
      for (const auto& u : m.tag.units) n += u.packet == PacketKind::kCodedFrames;
    }
    return n;
  }
  bool saw_control(UserControlType t) const {
    for (const auto& c : controls_) {
      if (c.type == t) return true;
    }
    return false;
  }
  const std::vector<MediaReceived>& media() const { return media_; }
  const std::vector<MetadataReceived>& metadata() const { return metadata_; }
  const std::vector<StatusReceived>& statuses() const { return statuses_; }
  // For each of statuses(): how many media messages had arrived before it.
  const std::vector<size_t>& status_positions() const { return status_at_; }
  ClientSession& session() { return session_; }

 private:
  void step(int timeout_ms) {
    flush();
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0) {
      uint8_t buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
      } else {
        (void)session_.receive(Bytes(buf, static_cast<size_t>(n)), steady_now_ms());
      }
    }
    session_.handle_timeout(steady_now_ms());
    while (auto ev = session_.next_event()) {
      if (auto m = std::get_if<MediaReceived>(&*ev)) {
        EXPECT_FALSE(m->tag_error) << m->tag_error->to_string();
        media_.push_back(std::move(*m));
      } else if (auto md = std::get_if<MetadataReceived>(&*ev)) {
        metadata_.push_back(std::move(*md));
      } else if (auto st = std::get_if<StatusReceived>(&*ev)) {
        statuses_.push_back(*st);
        status_at_.push_back(media_.size());
      } else if (auto c = std::get_if<StreamControlReceived>(&*ev)) {
        controls_.push_back(*c);
      } else if (auto cl = std::get_if<ClientClosed>(&*ev); cl && cl->error) {
        failure_ = cl->error;
      }
    }
    flush();  // acknowledgements, pongs
  }
  void flush() {
    while (!session_.pending_output().empty()) {
      Bytes b = session_.pending_output();
      ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      session_.consume_output(static_cast<size_t>(n));
    }
  }

  ClientSession session_;
  int fd_ = -1;
  bool eof_ = false;
  std::optional<Error> failure_;
  std::vector<MediaReceived> media_;
  std::vector<MetadataReceived> metadata_;
  std::vector<StatusReceived> statuses_;
  std::vector<size_t> status_at_;
  std::vector<StreamControlReceived> controls_;
};

}  // namespace rtmp
