// In-memory client + server pair with a fake clock and a bounded drive loop (quinn-proto
// style): a livelock becomes a failing test instead of a hung CI.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "protocol/client_session.h"
#include "protocol/server_session.h"

namespace rtmp::test {

struct SessionPair {
  SessionPair(ClientConfig cc, ServerConfig sc, size_t max_write = 1 << 20)
      : client(std::move(cc), now), server(std::move(sc), now), max_write_(max_write) {}

  uint64_t now = 1'000'000;
  ClientSession client;
  ServerSession server;
  std::vector<ClientEvent> client_events;
  std::vector<ServerEvent> server_events;
  // Called for each server event; may call accept/reject on the server.
  std::function<void(ServerSession&, const ServerEvent&)> on_server_event;
  std::vector<uint8_t> c2s_log, s2c_log;

  // Moves bytes until neither side has output (or `rounds` pass). Returns false when the
  // exchange did not settle: a livelock.
  bool drive(int rounds = 1000) {
    for (int i = 0; i < rounds; ++i) {
      bool moved = false;
      Bytes co = client.pending_output();
      if (!co.empty()) {
        size_t n = std::min(co.size(), max_write_);
        std::vector<uint8_t> chunk(co.begin(), co.begin() + static_cast<long>(n));
        client.consume_output(n);
        c2s_log.insert(c2s_log.end(), chunk.begin(), chunk.end());
        if (!server.closed()) (void)server.receive(chunk, now);
        moved = true;
      }
      while (auto ev = server.next_event()) {
        if (on_server_event) on_server_event(server, *ev);
        server_events.push_back(std::move(*ev));
      }
      Bytes so = server.pending_output();
      if (!so.empty()) {
        size_t n = std::min(so.size(), max_write_);
        std::vector<uint8_t> chunk(so.begin(), so.begin() + static_cast<long>(n));
        server.consume_output(n);
        s2c_log.insert(s2c_log.end(), chunk.begin(), chunk.end());
        if (!client.closed()) (void)client.receive(chunk, now);
        moved = true;
      }
      while (auto ev = client.next_event()) client_events.push_back(std::move(*ev));
      if (!moved) return true;
    }
    return false;
  }

  template <class T>
  std::vector<T> server_of() const {
    std::vector<T> out;
    for (const auto& e : server_events) {
      if (auto p = std::get_if<T>(&e)) out.push_back(*p);
    }
    return out;
  }
  template <class T>
  std::vector<T> client_of() const {
    std::vector<T> out;
    for (const auto& e : client_events) {
      if (auto p = std::get_if<T>(&e)) out.push_back(*p);
    }
    return out;
  }

 private:
  size_t max_write_;
};

inline ClientConfig client_config(const std::string& url) {
  ClientConfig c;
  c.url = *parse_url(url);
  return c;
}

// A message of `type` at `ts` with `payload` (stream and chunk stream ids left to the sender).
inline Message make_message(uint8_t type, uint64_t ts, std::vector<uint8_t> payload) {
  Message m;
  m.type = type;
  m.timestamp = ts;
  m.payload = std::move(payload);
  return m;
}

// A ClientSession config in the play role.
inline ClientConfig play_config(const std::string& url) {
  ClientConfig c = client_config(url);
  c.role = ClientRole::kPlay;
  return c;
}

}  // namespace rtmp::test
