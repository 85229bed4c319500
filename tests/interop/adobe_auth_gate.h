// A test-only Adobe authentication gate (authmod=adobe, the FMS/Wowza challenge-response) in
// front of a real RTMP server that has none (nginx-rtmp): a TCP proxy in the test process.
//
// Per client connection it relays the RTMP handshake to the server byte for byte (C0+C1+C2 and
// S0+S1+S2, 1 + 1536 + 1536 bytes each way; digest handshakes pass untouched), then holds the
// client's bytes, reassembles them (protocol/chunk_reader.h) until the `connect` command, and
// decides on the query of its `app`, as FMS does:
//   no authmod                          -> _error "[ AccessManager.Reject ] : [ code=403 need
//                                          auth; authmod=adobe ] : ", close
//   ?authmod=adobe&user=U               -> _error "[ AccessManager.Reject ] : [ authmod=adobe ]
//                                          : ?reason=needauth&user=U&salt=S&challenge=C&opaque=O",
//                                          close (an unknown user: "?reason=nosuchuser")
//   ?authmod=adobe&user=U&challenge=CC&response=R&opaque=O
//                                       -> R == base64(md5(base64(md5(U + S + password)) + O +
//                                          CC)): the held bytes go to the server and both
//                                          directions are relayed from then on; otherwise
//                                          "...?reason=authfailed", close
// The client uses the opaque when the server gave one (ffmpeg's rtmpproto, librtmp, our
// ClientSession); the gate always gives one, different from its challenge, so a client that
// hashed the challenge instead fails. Salt, challenge and opaque are base64 of 4 random bytes,
// padded like FMS's ("xxxxxx=="). An opaque is good for the user it was issued to.
//
// Rejections are written by the protocol library (amf0 via command.h, chunk_writer.h) in chunk
// size 128, since the client was never told otherwise; the server never sees a refused connect.
// Test-only code: POSIX sockets, one thread per connection, every wait bounded.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/crypto.h"
#include "tests/interop/rtmp_peers.h"

namespace ertmp_test {

class AdobeAuthGate {
 public:
  // What the gate did with one client connection.
  enum class Outcome {
    kNeedAuth,    // no authmod: "code=403 need auth; authmod=adobe"
    kChallenge,   // authmod=adobe&user=U: salt, challenge and opaque given
    kNoSuchUser,  // a user other than the gate's
    kAuthFailed,  // a response that does not match (or an opaque never issued)
    kAccepted,    // a matching response: relayed to the server
    kBroken,      // no connect, no server, or a chunk stream that did not parse
  };
  struct Attempt {
    std::string app;  // the app of the client's connect ("" when none came)
    Outcome outcome = Outcome::kBroken;
  };

  static const char* name(Outcome o) {
    switch (o) {
      case Outcome::kNeedAuth:
        return "need-auth";
      case Outcome::kChallenge:
        return "challenge";
      case Outcome::kNoSuchUser:
        return "no-such-user";
      case Outcome::kAuthFailed:
        return "auth-failed";
      case Outcome::kAccepted:
        return "accepted";
      case Outcome::kBroken:
        break;
    }
    return "broken";
  }

  static constexpr size_t kHandshakeBytes = 1 + 1536 + 1536;  // C0+C1+C2 / S0+S1+S2

  AdobeAuthGate(uint16_t upstream, std::string user, std::string password)
      : upstream_(upstream), user_(std::move(user)), password_(std::move(password)) {
    salt_ = random_token();
    listen_fd_ = listen_loopback(&port_);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~AdobeAuthGate() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& t : connections_) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  AdobeAuthGate(const AdobeAuthGate&) = delete;
  AdobeAuthGate& operator=(const AdobeAuthGate&) = delete;

  uint16_t port() const { return port_; }
  // rtmp://[userinfo@]127.0.0.1:<gate>/live/<key>
  std::string url(const std::string& key, const std::string& userinfo = "") const {
    return "rtmp://" + (userinfo.empty() ? "" : userinfo + "@") +
           "127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }

  std::vector<Attempt> attempts() const {
    std::lock_guard<std::mutex> l(mu_);
    return attempts_;
  }
  std::vector<Outcome> outcomes() const {
    std::vector<Outcome> o;
    for (const auto& a : attempts()) o.push_back(a.outcome);
    return o;
  }
  // Cuts every relayed (accepted) connection, both ways, as a network drop would.
  void cut() {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : relaying_) shutdown(fd, SHUT_RDWR);
  }
  // Waits (bounded) until `n` connections have been decided.
  bool wait_attempts(size_t n, int timeout_ms) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                        [&] { return attempts_.size() >= n; });
  }

 private:
  static std::string random_token() {
    std::random_device rd;
    uint8_t b[4];
    for (auto& x : b) x = static_cast<uint8_t>(rd());
    return rtmp::base64_encode(rtmp::Bytes(b, sizeof b));
  }
  // "a=1&b=2" -> {a: 1, b: 2}; a value keeps every '=' after its first (base64 padding).
  static std::map<std::string, std::string> parse_query(const std::string& q) {
    std::map<std::string, std::string> out;
    size_t start = 0;
    while (start < q.size()) {
      size_t amp = q.find('&', start);
      if (amp == std::string::npos) amp = q.size();
      std::string pair = q.substr(start, amp - start);
      size_t eq = pair.find('=');
      if (eq != std::string::npos) out[pair.substr(0, eq)] = pair.substr(eq + 1);
      start = amp + 1;
    }
    return out;
  }
  static bool send_all(int fd, const uint8_t* data, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void record(std::string app, Outcome o) {
    {
      std::lock_guard<std::mutex> l(mu_);
      attempts_.push_back({std::move(app), o});
    }
    cv_.notify_all();
  }

  void accept_loop() {
    pollfd lp{listen_fd_, POLLIN, 0};
    while (!stop_) {
      if (poll(&lp, 1, 50) <= 0) continue;
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      connections_.emplace_back([this, client] {
        serve(client);
        close(client);
      });
    }
  }

  // The FMS decision on a connect's app query: an empty `reject` description accepts.
  Outcome decide(const std::string& app, std::string* reject) {
    size_t q = app.find('?');
    auto p = parse_query(q == std::string::npos ? std::string() : app.substr(q + 1));
    const std::string kPrefix = "[ AccessManager.Reject ] : [ authmod=adobe ] : ";
    if (p["authmod"] != "adobe") {
      *reject = "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";
      return Outcome::kNeedAuth;
    }
    if (p["user"] != user_) {
      *reject = kPrefix + "?reason=nosuchuser";
      return Outcome::kNoSuchUser;
    }
    if (!p.count("response")) {
      std::string challenge = random_token(), opaque = random_token();
      while (opaque == challenge) opaque = random_token();
      {
        std::lock_guard<std::mutex> l(mu_);
        opaques_.push_back(opaque);
      }
      *reject = kPrefix + "?reason=needauth&user=" + user_ + "&salt=" + salt_ +
                "&challenge=" + challenge + "&opaque=" + opaque;
      return Outcome::kChallenge;
    }
    bool issued = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& o : opaques_) issued = issued || o == p["opaque"];
    }
    std::string h1 = rtmp::base64_encode(rtmp::md5(user_ + salt_ + password_));
    std::string want = rtmp::base64_encode(rtmp::md5(h1 + p["opaque"] + p["challenge"]));
    if (!issued || p["challenge"].empty() || p["response"] != want) {
      *reject = kPrefix + "?reason=authfailed";
      return Outcome::kAuthFailed;
    }
    reject->clear();
    return Outcome::kAccepted;
  }

  // The server's answer to a refused connect: `_error` (transaction of the connect) with
  // NetConnection.Connect.Rejected and `description`, in chunk size 128.
  static std::vector<uint8_t> rejection(double txn, const std::string& description) {
    namespace amf = rtmp::amf;
    rtmp::Command c = rtmp::make_error_reply(
        txn, amf::Value::null(),
        amf::Value::object({{"level", amf::Value("error")},
                            {"code", amf::Value("NetConnection.Connect.Rejected")},
                            {"description", amf::Value(description)}}));
    std::vector<uint8_t> out;
    rtmp::ChunkWriter writer;  // chunk size 128
    writer.write(rtmp::build_command_message(c), out);
    return out;
  }

  void serve(int client) {
    int server = connect_loopback(upstream_, 2000);
    if (server < 0) {
      record("", Outcome::kBroken);
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto expired = [&] { return std::chrono::steady_clock::now() >= deadline; };
    std::vector<uint8_t> held, held_server;  // bytes after each side's handshake
    size_t c_hs = 0, s_hs = 0;
    uint8_t buf[65536];
    // 1. The handshake, relayed as is.
    while (!stop_ && !expired() && (c_hs < kHandshakeBytes || s_hs < kHandshakeBytes)) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      bool failed = false;
      for (int i = 0; i < 2 && !failed; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          failed = true;
          break;
        }
        size_t& done = i == 0 ? c_hs : s_hs;
        size_t relay = std::min(static_cast<size_t>(n), kHandshakeBytes - done);
        failed = !send_all(i == 0 ? server : client, buf, relay);
        done += relay;
        auto& rest = i == 0 ? held : held_server;
        rest.insert(rest.end(), buf + relay, buf + n);
      }
      if (failed) break;
    }
    if (c_hs < kHandshakeBytes || s_hs < kHandshakeBytes) {
      close(server);
      record("", Outcome::kBroken);
      return;
    }
    // 2. The client's chunk stream up to `connect`, held back from the server.
    rtmp::ChunkReader reader{rtmp::Limits{}};
    std::optional<rtmp::Command> connect;
    size_t parsed = 0;
    bool broken = false;
    while (!connect && !broken && !stop_ && !expired()) {
      if (parsed < held.size()) {
        broken = !reader.receive(rtmp::Bytes(held.data() + parsed, held.size() - parsed)).ok();
        parsed = held.size();
        while (auto m = reader.next_message()) {
          if (m->type != 20 && m->type != 17) continue;
          auto c = rtmp::parse_command(*m, rtmp::Limits{});
          if (c.ok() && c->name == "connect") {
            connect = std::move(*c);
            break;
          }
        }
        continue;
      }
      pollfd p{client, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = read(client, buf, sizeof buf);
      if (n <= 0) break;
      held.insert(held.end(), buf, buf + n);
    }
    if (!connect) {
      close(server);
      record("", Outcome::kBroken);
      return;
    }
    std::string app = connect->command_object.get_string("app");
    std::string reject;
    Outcome outcome = decide(app, &reject);
    if (outcome != Outcome::kAccepted) {
      // The server never hears of it; the client reads the _error and hangs up (read until it
      // does, bounded, so closing never resets a connection with our reply unread).
      // Recorded before the client can see the outcome, so a test that waited for the client
      // finds it here.
      record(app, outcome);
      close(server);
      auto bytes = rejection(connect->transaction_id, reject);
      send_all(client, bytes.data(), bytes.size());
      shutdown(client, SHUT_WR);
      auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!stop_ && std::chrono::steady_clock::now() < drain_until) {
        pollfd p{client, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        if (read(client, buf, sizeof buf) <= 0) break;
      }
      return;
    }
    // 3. Accepted: what was held goes on, then both directions as they come.
    {
      std::lock_guard<std::mutex> l(mu_);
      relaying_.push_back(client);
      relaying_.push_back(server);
    }
    record(app, outcome);
    bool ok = send_all(server, held.data(), held.size()) &&
              send_all(client, held_server.data(), held_server.size());
    bool open[2] = {ok, ok};
    while (!stop_ && (open[0] || open[1])) {
      pollfd fds[2] = {{open[0] ? client : -1, POLLIN, 0}, {open[1] ? server : -1, POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int other = i == 0 ? server : client;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          open[i] = false;
          shutdown(other, SHUT_WR);
          continue;
        }
        if (!send_all(other, buf, static_cast<size_t>(n))) open[0] = open[1] = false;
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      std::erase(relaying_, client);
      std::erase(relaying_, server);
    }
    close(server);
  }

  uint16_t upstream_;
  std::string user_, password_, salt_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;  // touched by the accept thread, then the destructor
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Attempt> attempts_;
  std::vector<std::string> opaques_;
  std::vector<int> relaying_;  // fds of accepted connections, while their relay runs
};

// gtest prints outcomes by name.
inline void PrintTo(AdobeAuthGate::Outcome o, std::ostream* os) {
  *os << AdobeAuthGate::name(o);
}

}  // namespace ertmp_test
