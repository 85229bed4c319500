// A hand-driven RTMP peer and a bus recorder for the fault tests (docs/faults.md): hostile
// publishers against rtmpingestsrc (fault_test.cpp), hostile players against rtmppushsink
// mode=listener (serve_fault_test.cpp).
//
//  BusLog   records every element message, error and EOS of a pipeline from a sync handler,
//           so tests wait on a condition variable instead of polling the bus.
//  RawPeer  one raw TCP connection: valid protocol prefixes built with the protocol library
//           (ClientHandshake, ChunkWriter, build_command_message), the broken part by hand.
//           Every read and write is bounded.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <gst/gst.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/chunk_reader.h"
#include "protocol/chunk_writer.h"
#include "protocol/command.h"
#include "protocol/control.h"
#include "protocol/handshake.h"

namespace ertmp_test {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;

inline int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

inline std::string fd_list() {
  std::string out;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = d ? readdir(d) : nullptr) {
    char target[256] = {};
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n > 0) out += std::string(e->d_name) + " -> " + target + "\n";
  }
  if (d) closedir(d);
  return out;
}

// --- bus recording ------------------------------------------------------------------------

// Records every element message, error and EOS of a pipeline from a sync handler, so tests
// wait on a condition variable instead of polling the bus.
struct BusLog {
  struct Entry {
    std::string src, name, peer, message, reason, stream_key;
    bool clean = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Entry> entries;
  std::vector<std::string> errors;
  bool eos = false;
  GstElement* pipeline = nullptr;
  // The element message find_warning_locked looks for.
  std::string warning_name = "rtmpingestsrc-peer-warning";

  void attach(GstElement* p) {
    pipeline = p;
    GstBus* bus = gst_element_get_bus(p);
    gst_bus_set_sync_handler(bus, &BusLog::on_message, this, nullptr);
    gst_object_unref(bus);
  }
  void detach() {
    if (!pipeline) return;
    GstBus* bus = gst_element_get_bus(pipeline);
    gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
    pipeline = nullptr;
  }
  static std::string field(const GstStructure* s, const char* name) {
    const gchar* v = gst_structure_get_string(s, name);
    return v ? v : "";
  }
  static GstBusSyncReply on_message(GstBus*, GstMessage* msg, gpointer data) {
    auto* log = static_cast<BusLog*>(data);
    std::lock_guard<std::mutex> lock(log->mu);
    switch (GST_MESSAGE_TYPE(msg)) {
      case GST_MESSAGE_ELEMENT: {
        const GstStructure* s = gst_message_get_structure(msg);
        Entry e;
        e.src = GST_MESSAGE_SRC_NAME(msg);
        e.name = gst_structure_get_name(s);
        e.peer = field(s, "peer");
        e.message = field(s, "message");
        e.reason = field(s, "reason");
        e.stream_key = field(s, "stream-key");
        gboolean clean = FALSE;
        gst_structure_get_boolean(s, "clean", &clean);
        e.clean = clean;
        log->entries.push_back(std::move(e));
        break;
      }
      case GST_MESSAGE_ERROR: {
        GError* err = nullptr;
        gchar* dbg = nullptr;
        gst_message_parse_error(msg, &err, &dbg);
        log->errors.push_back(std::string(err->message) + " | " + (dbg ? dbg : ""));
        g_error_free(err);
        g_free(dbg);
        break;
      }
      case GST_MESSAGE_EOS:
        log->eos = true;
        break;
      default:
        break;
    }
    log->cv.notify_all();
    // PASS, not DROP: dropping here keeps references to the pipeline (GStreamer 1.22); the
    // queue is flushed on detach.
    return GST_BUS_PASS;
  }
  // Waits (bounded) until `pred` holds; `pred` runs under the lock.
  bool wait(const std::function<bool()>& pred, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), pred);
  }
  // Locked helpers for predicates.
  bool has_locked(const std::string& name, const std::string& src = "",
                  const std::string& key = "") {
    for (const auto& e : entries) {
      if (e.name == name && (src.empty() || e.src == src) && (key.empty() || e.stream_key == key)) {
        return true;
      }
    }
    return false;
  }
  const Entry* find_warning_locked(const std::string& peer, const std::string& text) {
    for (const auto& e : entries) {
      if (e.name != warning_name) continue;
      if (!peer.empty() && e.peer != peer) continue;
      if (e.message.find(text) == std::string::npos) continue;
      return &e;
    }
    return nullptr;
  }
  std::string dump() {
    std::lock_guard<std::mutex> lock(mu);
    std::string s;
    for (const auto& e : entries) {
      s += e.src + ":" + e.name + " peer=" + e.peer + " message='" + e.message + "' reason='" +
           e.reason + "'\n";
    }
    for (const auto& e : errors) s += "error: " + e + "\n";
    return s;
  }
};

// --- a hand-driven RTMP client --------------------------------------------------------------

// One raw TCP connection to the ingest. Valid protocol prefixes are built with the protocol
// library (ClientHandshake, ChunkWriter, build_command_message); the broken part is written by
// hand. Every read and write is bounded.
class RawPeer {
 public:
  // `rcvbuf` > 0 shrinks the receive buffer before connecting (a peer that never reads).
  explicit RawPeer(int port, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    sockaddr_in local{};
    socklen_t len = sizeof local;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    peer_ = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  }
  ~RawPeer() { close(); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& peer() const { return peer_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(const uint8_t* p, size_t n, int timeout_ms = 5000) {
    auto t0 = Clock::now();
    while (n > 0) {
      pollfd pfd{fd_, POLLOUT, 0};
      int left = timeout_ms - ms_since(t0);
      if (left <= 0 || poll(&pfd, 1, left) <= 0) return false;
      ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  bool send(const Bytes& b, int timeout_ms = 5000) { return send(b.data(), b.size(), timeout_ms); }
  bool send(const std::string& s) {
    return send(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }

  // Reads what is there within `timeout_ms` (at most `max_bytes`) into the chunk reader;
  // false on EOF/error.
  bool read_some(int timeout_ms, size_t* got = nullptr, size_t max_bytes = 65536) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return true;
    uint8_t buf[65536];
    ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, max_bytes), 0);
    if (n <= 0) return false;
    if (got) *got += static_cast<size_t>(n);
    if (handshake_done_) {
      if (!reader_.receive(rtmp::Bytes(buf, static_cast<size_t>(n))).ok()) return false;
    } else {
      rx_.insert(rx_.end(), buf, buf + n);
    }
    return true;
  }

  // True once the server closed the connection (EOF or reset) within `timeout_ms`.
  bool wait_closed(int timeout_ms, size_t* bytes_read = nullptr) {
    auto t0 = Clock::now();
    while (ms_since(t0) < timeout_ms) {
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, timeout_ms - ms_since(t0)) <= 0) continue;
      uint8_t buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
      if (bytes_read) *bytes_read += static_cast<size_t>(n);
    }
    return false;
  }

  // Plain handshake: C0C1, S0S1S2, C2.
  bool handshake(int timeout_ms = 3000) {
    rtmp::ClientHandshake hs;
    if (!send_handshake_output(hs)) return false;
    auto t0 = Clock::now();
    while (!hs.done()) {
      if (ms_since(t0) > timeout_ms) return false;
      if (rx_.empty() && !read_some(100)) return false;
      if (rx_.empty()) continue;
      auto used = hs.receive(rtmp::Bytes(rx_.data(), rx_.size()));
      if (!used.ok()) return false;
      rx_.erase(rx_.begin(), rx_.begin() + static_cast<long>(*used));
    }
    if (!send_handshake_output(hs)) return false;
    handshake_done_ = true;
    if (!rx_.empty() && !reader_.receive(rtmp::Bytes(rx_.data(), rx_.size())).ok()) return false;
    rx_.clear();
    return true;
  }
  // C0C1 only, then reads S0S1S2 (a slow-loris that never sends C2).
  bool send_c0c1_and_read_s0s1s2(int timeout_ms = 3000) {
    rtmp::ClientHandshake hs;
    if (!send_handshake_output(hs)) return false;
    auto t0 = Clock::now();
    while (rx_.size() < 1 + 2 * rtmp::kHandshakeSize) {
      if (ms_since(t0) > timeout_ms || !read_some(100)) return false;
    }
    return true;
  }

  void write(const rtmp::Message& m) {
    Bytes out;
    writer_.write(m, out);
    send(out);
  }
  void set_chunk_size(uint32_t n) {
    write(rtmp::make_set_chunk_size(n));
    writer_.set_chunk_size(n);
  }
  void command(const std::string& name, double txn, rtmp::amf::Value obj,
               std::vector<rtmp::amf::Value> args = {}, uint32_t stream_id = 0, uint32_t csid = 3) {
    rtmp::Message m =
        rtmp::build_command_message(rtmp::make_command(name, txn, std::move(obj), std::move(args)));
    m.stream_id = stream_id;
    m.csid = csid;
    write(m);
  }

  // Reads until a command matching `pred` arrives (bounded); every onStatus code seen is kept.
  std::optional<rtmp::Command> await(const std::function<bool(const rtmp::Command&)>& pred,
                                     int timeout_ms = 3000) {
    auto t0 = Clock::now();
    while (ms_since(t0) < timeout_ms) {
      while (auto m = reader_.next_message()) {
        if (m->kind() != rtmp::MessageType::kCommandAmf0) continue;
        auto c = rtmp::parse_command(*m, rtmp::Limits{});
        if (!c.ok()) continue;
        if (c->name == "onStatus" && !c->args.empty()) {
          statuses.push_back(c->args[0].get_string("code"));
          descriptions.push_back(c->args[0].get_string("description"));
        }
        if (pred(*c)) return std::move(c).value();
      }
      if (!read_some(50)) return std::nullopt;
    }
    return std::nullopt;
  }
  // Reads until a message of `type` arrives (bounded); false on timeout or close.
  bool await_message(uint8_t type, int timeout_ms = 3000) {
    auto t0 = Clock::now();
    while (ms_since(t0) < timeout_ms) {
      while (auto m = reader_.next_message()) {
        if (m->type == type) return true;
      }
      if (!read_some(50)) return false;
    }
    return false;
  }
  std::optional<rtmp::Command> await_result(double txn, int timeout_ms = 3000) {
    return await(
        [txn](const rtmp::Command& c) {
          return (c.name == "_result" || c.name == "_error") && c.transaction_id == txn;
        },
        timeout_ms);
  }

  bool connect_app(const std::string& app = "live") {
    command("connect", 1,
            rtmp::amf::Value::object({{"app", rtmp::amf::Value(app)},
                                      {"type", rtmp::amf::Value("nonprivate")},
                                      {"flashVer", rtmp::amf::Value("FMLE/3.0 (fault test)")},
                                      {"tcUrl", rtmp::amf::Value("rtmp://127.0.0.1/" + app)}}));
    auto r = await_result(1);
    return r && r->name == "_result";
  }
  std::optional<uint32_t> create_stream() {
    command("createStream", 2, rtmp::amf::Value::null());
    auto r = await_result(2);
    if (!r || r->name != "_result") return std::nullopt;
    auto id = r->arg_number(0);
    if (!id) return std::nullopt;
    return static_cast<uint32_t>(*id);
  }
  // publish(key) on `stream_id`; returns the onStatus code answered ("" on timeout).
  std::string publish(const std::string& key, uint32_t stream_id) {
    command("publish", 3, rtmp::amf::Value::null(),
            {rtmp::amf::Value(key), rtmp::amf::Value("live")}, stream_id, 8);
    auto s = await([](const rtmp::Command& c) { return c.name == "onStatus"; });
    return s ? s->args[0].get_string("code") : "";
  }
  // Handshake + connect + createStream + publish; the publish stream id in *stream_id.
  std::string start_publish(const std::string& key, uint32_t* stream_id = nullptr) {
    if (!handshake() || !connect_app()) return "";
    auto id = create_stream();
    if (!id) return "";
    if (stream_id) *stream_id = *id;
    stream_id_ = *id;
    return publish(key, *id);
  }
  // play(key) on `stream_id`; returns the onStatus code answered after the optional
  // Play.Reset ("" on timeout or close).
  std::string play(const std::string& key, uint32_t stream_id, int timeout_ms = 3000) {
    command("play", 4, rtmp::amf::Value::null(), {rtmp::amf::Value(key), rtmp::amf::Value(-1000.0)},
            stream_id, 8);
    auto s = await(
        [](const rtmp::Command& c) {
          return c.name == "onStatus" && c.args[0].get_string("code") != "NetStream.Play.Reset";
        },
        timeout_ms);
    return s ? s->args[0].get_string("code") : "";
  }
  // Handshake + connect + createStream + play; the play stream id in *stream_id.
  std::string start_play(const std::string& key, uint32_t* stream_id = nullptr) {
    if (!handshake() || !connect_app()) return "";
    auto id = create_stream();
    if (!id) return "";
    if (stream_id) *stream_id = *id;
    stream_id_ = *id;
    return play(key, *id);
  }
  // The next message read and not taken by await()/await_message() yet.
  std::optional<rtmp::Message> next_message() { return reader_.next_message(); }

  void media(uint8_t type, const Bytes& body, uint64_t ts) {
    rtmp::Message m;
    m.type = type;
    m.stream_id = stream_id_;
    m.csid = type == 9 ? 6 : 4;
    m.timestamp = ts;
    m.payload = body;
    write(m);
  }

  std::vector<std::string> statuses;
  std::vector<std::string> descriptions;

 private:
  template <class Hs>
  bool send_handshake_output(Hs& hs) {
    rtmp::Bytes out = hs.pending_output();
    Bytes copy(out.begin(), out.end());
    hs.consume_output(out.size());
    return send(copy);
  }

  int fd_ = -1;
  std::string peer_;
  bool handshake_done_ = false;
  Bytes rx_;
  rtmp::Limits limits_;
  rtmp::ChunkReader reader_{limits_};
  rtmp::ChunkWriter writer_;
  uint32_t stream_id_ = 1;
};

}  // namespace ertmp_test
