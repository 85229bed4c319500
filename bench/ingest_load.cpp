// ingest_load: end-to-end figures for rtmpingestsrc (issues 4 and 6). A program, not a test: it
// prints a table and writes a JSON file.
//
//  1. Added latency: a publisher thread in this process speaks RTMP through rtmp::ClientSession
//     over a POSIX TCP socket (TCP_NODELAY; sends with MSG_DONTWAIT, then poll while bytes are
//     left, which for one unloaded connection means one send() per message) and sends 30 H.264
//     frames/s of ~12 KB plus 46.875 AAC frames/s. Every payload carries a marker (stream, sequence
//     number, and the CLOCK_MONOTONIC time taken just before the message is queued and sent). A
//     buffer probe on the element's source pad records now - t. Anchor in the same run: the same
//     publisher into nginx-rtmp and `rtmp2src ! flvdemux ! fakesink` in this process, measured at
//     flvdemux's source pad, and a floor: a plain thread driving rtmp::ServerSession on a blocking
//     socket.
//  2. Concurrency: N real-time publishers in a separate process (this binary, --publishers) into
//     N rtmpingestsrc elements sharing one port in one pipeline; the receiver counts messages per
//     stream, detects gaps and lateness, and samples its own CPU (/proc/self/stat) and RSS.
//
// Marker layout (big-endian), placed right after the FLV codec header of each body:
//   offset 0  'E' 'L' 'B' '1'      magic
//          4  kind                 'V' video, 'A' audio
//          5  stream index         u32
//          9  sequence number      u32, per stream and kind, from 0
//         13  send time            u64, CLOCK_MONOTONIC ns (system-wide: valid across processes)
// Video bodies are [0x17|0x27][AVCPacketType 1][CTS 0 0 0][NAL length u32][NAL header] marker...;
// audio bodies are [0xAF][AACPacketType 1] marker... The receiver searches the first bytes of
// each buffer for the magic, so it does not depend on how much header an element strips.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gst/gst.h>

#include "gst/gstrtmpingestsrc.h"
#include "protocol/client_session.h"
#include "protocol/server_session.h"
#include "protocol/url.h"
#include "tests/interop/rtmp_peers.h"

namespace {

// --- clocks, /proc ------------------------------------------------------------------------------

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
uint64_t now_ms() {
  return static_cast<uint64_t>(now_ns() / 1'000'000);
}
void sleep_until_ns(int64_t t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(t % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}
void sleep_ms(int ms) {
  sleep_until_ns(now_ns() + int64_t{ms} * 1'000'000);
}

// utime + stime of a process ("self" or a pid), in seconds.
double cpu_seconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A "Key:   value kB" field of /proc/self/status (VmRSS, Threads).
long status_field(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// --- the marker ---------------------------------------------------------------------------------

constexpr uint8_t kMagic[4] = {'E', 'L', 'B', '1'};
constexpr size_t kMarkerSize = 21;
constexpr size_t kVideoMarkerOffset = 5 + 4 + 1;  // codec header, NAL length, NAL header
constexpr size_t kAudioMarkerOffset = 2;
constexpr size_t kMarkerSearch = 48;  // bytes of a buffer searched for the magic

struct Marker {
  char kind = 0;
  uint32_t stream = 0;
  uint32_t seq = 0;
  int64_t t_ns = 0;
};

void put_be(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xFF);
    v >>= 8;
  }
}
uint64_t get_be(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

void write_marker(uint8_t* p, const Marker& m) {
  std::memcpy(p, kMagic, 4);
  p[4] = static_cast<uint8_t>(m.kind);
  put_be(p + 5, m.stream, 4);
  put_be(p + 9, m.seq, 4);
  put_be(p + 13, static_cast<uint64_t>(m.t_ns), 8);
}

std::optional<Marker> find_marker(const uint8_t* data, size_t size) {
  size_t limit = std::min(size, kMarkerSearch + kMarkerSize);
  for (size_t i = 0; i + kMarkerSize <= limit; ++i) {
    if (std::memcmp(data + i, kMagic, 4) != 0) continue;
    Marker m;
    m.kind = static_cast<char>(data[i + 4]);
    m.stream = static_cast<uint32_t>(get_be(data + i + 5, 4));
    m.seq = static_cast<uint32_t>(get_be(data + i + 9, 4));
    m.t_ns = static_cast<int64_t>(get_be(data + i + 13, 8));
    return m;
  }
  return std::nullopt;
}

// --- bodies -------------------------------------------------------------------------------------

// AVCDecoderConfigurationRecord (baseline 3.1, 4-byte NAL lengths, one SPS, one PPS) behind the
// FLV AVC sequence-header bytes. Only the record's shape matters: nothing here decodes.
const std::vector<uint8_t> kAvcSequenceHeader = {
    0x17, 0x00, 0x00, 0x00, 0x00,                                // keyframe|AVC, seq header, CTS
    0x01, 0x42, 0xC0, 0x1F, 0xFF, 0xE1,                          // version, profile, level, 1 SPS
    0x00, 0x09, 0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16,  // SPS
    0xE8, 0x01, 0x00, 0x04, 0x68, 0xCE, 0x3C, 0x80};             // 1 PPS
// AAC sequence header: AudioSpecificConfig AAC-LC, 48 kHz, stereo.
const std::vector<uint8_t> kAacSequenceHeader = {0xAF, 0x00, 0x11, 0x90};

std::vector<uint8_t> make_video_body(size_t size) {
  size = std::max(size, kVideoMarkerOffset + kMarkerSize);
  std::vector<uint8_t> b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(i * 31 + 7);
  b[0] = 0x27;
  b[1] = 0x01;
  b[2] = b[3] = b[4] = 0;
  put_be(&b[5], size - 9, 4);
  b[9] = 0x41;
  return b;
}
std::vector<uint8_t> make_audio_body(size_t size) {
  size = std::max(size, kAudioMarkerOffset + kMarkerSize);
  std::vector<uint8_t> b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(i * 17 + 3);
  b[0] = 0xAF;
  b[1] = 0x01;
  return b;
}

// --- one publishing connection ------------------------------------------------------------------

class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }

  // Connects to 127.0.0.1:port and publishes live/<key>; bounded by timeout_ms. Afterwards the
  // socket is non-blocking.
  bool open(uint16_t port, const std::string& key, int timeout_ms, std::string* why) {
    auto url = rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/live/" + key);
    if (!url.ok()) {
      *why = "bad url";
      return false;
    }
    rtmp::ClientConfig cc;
    cc.url = *url;
    cc.timeout_ms = static_cast<uint64_t>(timeout_ms);
    session_ = std::make_unique<rtmp::ClientSession>(cc, now_ms());
    fd_ = ertmp_test::connect_loopback(port, timeout_ms);
    if (fd_ < 0) {
      *why = "connect failed";
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (!session_->publishing() && !session_->closed() && now_ns() < deadline) {
      if (!flush_blocking(timeout_ms)) {
        *why = "send failed during the handshake";
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) {
        uint8_t buf[16384];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
          *why = "connection closed during the handshake";
          return false;
        }
        (void)session_->receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now_ms());
      }
      session_->handle_timeout(now_ms());
      while (auto ev = session_->next_event()) {
        if (auto cl = std::get_if<rtmp::ClientClosed>(&*ev); cl && cl->error) {
          *why = cl->error->to_string() + " " + cl->status_code;
        }
      }
    }
    if (!session_->publishing()) {
      if (why->empty()) *why = "publish did not start in time";
      return false;
    }
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }

  // Queues one message (the session chunks it) and sends what the socket takes now.
  bool send(rtmp::MessageType type, rtmp::Bytes body, uint64_t dts_ms) {
    if (!session_->send_message(type, body, dts_ms).ok()) return false;
    return flush_nonblocking();
  }

  // Sends what the socket takes without blocking; false on a socket error.
  bool flush_nonblocking() {
    while (!session_->pending_output().empty()) {
      rtmp::Bytes b = session_->pending_output();
      ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (n == 0) return false;
      session_->consume_output(static_cast<size_t>(n));
    }
    return true;
  }

  bool flush_blocking(int timeout_ms) {
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (!session_->pending_output().empty()) {
      if (!flush_nonblocking()) return false;
      if (session_->pending_output().empty()) break;
      if (now_ns() >= deadline) return false;
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, 10);
    }
    return true;
  }

  // Feeds whatever the server sent (acks, pings) to the session.
  void drain_input() {
    uint8_t buf[4096];
    while (true) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      (void)session_->receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now_ms());
    }
    while (session_->next_event()) {
    }
  }

  // FCUnpublish + deleteStream, then a FIN (the server closes its side when it has read them).
  void begin_close(int timeout_ms) {
    if (fd_ < 0) return;
    session_->stop();
    flush_blocking(timeout_ms);
    shutdown(fd_, SHUT_WR);
  }

  // begin_close(), then waits (bounded) for the server to close.
  void close_clean(int timeout_ms) {
    if (fd_ < 0) return;
    begin_close(timeout_ms);
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    uint8_t buf[4096];
    while (now_ns() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      if (recv(fd_, buf, sizeof buf, 0) <= 0) break;
    }
    close(fd_);
    fd_ = -1;
  }

  size_t pending() const { return session_->pending_output().size(); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::unique_ptr<rtmp::ClientSession> session_;
};

// --- the real-time publisher loop ---------------------------------------------------------------

constexpr int64_t kVideoPeriodNum = 1'000'000'000;  // ns per 30 frames
constexpr int64_t kFps = 30;
constexpr int64_t kAudioRate = 48000;
constexpr int64_t kAudioFrame = 1024;  // samples per AAC frame: 46.875 frames/s
constexpr size_t kAudioBytes = 341;    // 128 kbit/s of AAC

struct StreamProfile {
  size_t video_bytes = 0;
  size_t audio_bytes = kAudioBytes;
  size_t drop_threshold = 0;  // pending bytes above which a real-time encoder drops a frame
};

// A total bitrate (video + 128 kbit/s audio) as message sizes.
StreamProfile profile_for_kbps(unsigned kbps) {
  StreamProfile p;
  double video_kbps = std::max(64.0, static_cast<double>(kbps) - 128.0);
  p.video_bytes = static_cast<size_t>(video_kbps * 1000.0 / 8.0 / static_cast<double>(kFps));
  p.drop_threshold = static_cast<size_t>(kbps) * 1000 / 8;  // one second of media
  return p;
}

struct Publisher {
  uint32_t index = 0;
  std::unique_ptr<Conn> conn;
  int64_t phase_ns = 0;
  uint64_t video_k = 0, audio_k = 0;  // next frame numbers (= sequence numbers)
  uint64_t video_dropped = 0, audio_dropped = 0;
  bool dead = false;
  bool backlogged = false;  // in run_schedule's list of connections with unsent bytes
};

struct PublishTotals {
  int64_t max_lag_ns = 0;     // how late the loop got behind its own schedule
  int64_t max_lag_at_ns = 0;  // when (since start)
  uint64_t sent = 0, dropped = 0, dead = 0;
};

int64_t video_due(const Publisher& p, int64_t start) {
  return start + p.phase_ns + static_cast<int64_t>(p.video_k) * kVideoPeriodNum / kFps;
}
int64_t audio_due(const Publisher& p, int64_t start) {
  return start + p.phase_ns +
         static_cast<int64_t>(p.audio_k) * kAudioFrame * 1'000'000'000 / kAudioRate;
}

// Sends both sequence headers on every connection.
void send_sequence_headers(std::vector<Publisher>& pubs) {
  for (auto& p : pubs) {
    if (!p.conn->send(rtmp::MessageType::kVideo, kAvcSequenceHeader, 0) ||
        !p.conn->send(rtmp::MessageType::kAudio, kAacSequenceHeader, 0) ||
        !p.conn->flush_blocking(2000)) {
      p.dead = true;
    }
  }
}

// Real-time schedule for every publisher from `start` until `end` (or *stop): video at 30/s,
// audio at 46.875/s, publisher i shifted by i/N of a video period so sends spread out. A message
// whose connection still has more than `drop_threshold` bytes unsent is dropped (its sequence
// number is skipped), as an encoder facing a slow link would.
PublishTotals run_schedule(std::vector<Publisher>& pubs, const StreamProfile& prof, int64_t start,
                           int64_t end, const std::atomic<bool>* stop) {
  PublishTotals tot;
  std::vector<uint8_t> video = make_video_body(prof.video_bytes);
  std::vector<uint8_t> audio = make_audio_body(prof.audio_bytes);
  struct Due {
    int64_t t;
    size_t pub;
    bool video;
    bool operator>(const Due& o) const { return t > o.t; }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> heap;
  for (size_t i = 0; i < pubs.size(); ++i) {
    pubs[i].phase_ns = static_cast<int64_t>(i) * kVideoPeriodNum / kFps /
                       static_cast<int64_t>(std::max<size_t>(1, pubs.size()));
    if (pubs[i].dead) continue;
    heap.push({video_due(pubs[i], start), i, true});
    heap.push({audio_due(pubs[i], start), i, false});
  }
  int64_t next_drain = start;
  std::vector<size_t> backlog;  // publishers with unsent bytes
  std::vector<pollfd> waiting;
  while (!heap.empty() && !(stop && stop->load())) {
    int64_t now = now_ns();
    if (now >= end && (heap.empty() || heap.top().t >= end)) break;
    while (!heap.empty() && heap.top().t <= now) {
      Due d = heap.top();
      heap.pop();
      Publisher& p = pubs[d.pub];
      if (p.dead) continue;
      if (now - d.t > tot.max_lag_ns) {
        tot.max_lag_ns = now - d.t;
        tot.max_lag_at_ns = now - start;
      }
      uint64_t& k = d.video ? p.video_k : p.audio_k;
      if (p.conn->pending() > prof.drop_threshold) {
        ++(d.video ? p.video_dropped : p.audio_dropped);
        ++tot.dropped;
      } else {
        std::vector<uint8_t>& body = d.video ? video : audio;
        Marker m{d.video ? 'V' : 'A', p.index, static_cast<uint32_t>(k), 0};
        body[0] = d.video ? (k % 60 == 0 ? 0x17 : 0x27) : 0xAF;
        uint8_t* at = body.data() + (d.video ? kVideoMarkerOffset : kAudioMarkerOffset);
        uint64_t dts = d.video ? k * 1000 / kFps : k * kAudioFrame * 1000 / kAudioRate;
        m.t_ns = now_ns();
        write_marker(at, m);
        if (!p.conn->send(d.video ? rtmp::MessageType::kVideo : rtmp::MessageType::kAudio, body,
                          dts)) {
          p.dead = true;
          ++tot.dead;
          continue;
        }
        ++tot.sent;
        if (p.conn->pending() > 0 && !p.backlogged) {
          p.backlogged = true;
          backlog.push_back(d.pub);
        }
      }
      ++k;
      // Only messages due before `end`: a loop that fell behind still sends exactly the
      // schedule, late, instead of running on past the end.
      int64_t due = d.video ? video_due(p, start) : audio_due(p, start);
      if (due < end) heap.push({due, d.pub, d.video});
      now = now_ns();
    }
    if (now >= next_drain) {
      for (auto& p : pubs) {
        if (!p.dead) p.conn->drain_input();
      }
      next_drain = now + 200'000'000;
    }
    waiting.clear();
    for (size_t i : backlog) waiting.push_back({pubs[i].conn->fd(), POLLOUT, 0});
    int64_t wake = std::min(end, heap.empty() ? end : heap.top().t);
    if (waiting.empty()) {
      sleep_until_ns(wake);
      continue;
    }
    int64_t wait = std::max<int64_t>(0, wake - now_ns());
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(wait / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(wait % 1'000'000'000);
    if (ppoll(waiting.data(), waiting.size(), &ts, nullptr) > 0) {
      for (size_t j = 0; j < waiting.size(); ++j) {
        if (waiting[j].revents == 0) continue;
        Publisher& p = pubs[backlog[j]];
        if (!p.conn->flush_nonblocking()) {
          p.dead = true;
          ++tot.dead;
        }
      }
      std::erase_if(backlog, [&](size_t i) {
        bool keep = !pubs[i].dead && pubs[i].conn->pending() > 0;
        pubs[i].backlogged = keep;
        return !keep;
      });
    }
  }
  return tot;
}

// --- receiving side -----------------------------------------------------------------------------

struct TrackRecv {
  uint32_t next_seq = 0;
  uint64_t received = 0;
  uint64_t gaps = 0;       // sequence numbers never seen (skipped forwards)
  uint64_t reordered = 0;  // a sequence number at or below one already seen
  std::vector<uint32_t> latency_us;
};

// Written only by the one streaming thread that feeds this stream's pads; read by the main
// thread after the pipeline is down, except the atomic counter.
struct StreamRecv {
  uint32_t index = 0;
  int64_t record_after_ns = 0;  // latencies of messages sent before this are not kept
  TrackRecv video, audio;
  uint64_t misrouted = 0;
  std::atomic<uint64_t> messages{0};
};

// Accounts one received message body (or buffer) that arrived at `now`.
void record_marker(StreamRecv* s, const uint8_t* data, size_t size, int64_t now) {
  std::optional<Marker> m = find_marker(data, size);
  if (!m) return;
  if (m->stream != s->index) {
    ++s->misrouted;
    return;
  }
  TrackRecv& t = m->kind == 'V' ? s->video : s->audio;
  if (m->seq > t.next_seq) t.gaps += m->seq - t.next_seq;
  if (m->seq < t.next_seq) {
    ++t.reordered;
  } else {
    t.next_seq = m->seq + 1;
  }
  ++t.received;
  if (m->t_ns >= s->record_after_ns) {
    int64_t us = (now - m->t_ns) / 1000;
    t.latency_us.push_back(static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX)));
  }
  s->messages.fetch_add(1, std::memory_order_relaxed);
}

GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo* info, gpointer data) {
  const int64_t now = now_ns();
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (!buf || !gst_buffer_map(buf, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  record_marker(static_cast<StreamRecv*>(data), map.data, map.size, now);
  gst_buffer_unmap(buf, &map);
  return GST_PAD_PROBE_OK;
}

// The floor target: one plain thread with blocking poll + recv driving rtmp::ServerSession on
// the accepted socket (no GIO, no GStreamer, no element), timed when the session hands out the
// message. What is left is the loopback TCP path, the thread wake-up and the protocol library.
void serve_floor(int listen_fd, StreamRecv* s, const std::atomic<bool>* stop) {
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0 && !stop->load(); ++i) {
    pollfd lp{listen_fd, POLLIN, 0};
    if (poll(&lp, 1, 100) > 0) fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rtmp::ServerSession session(rtmp::ServerConfig{}, now_ms());
  std::vector<uint8_t> buf(64 * 1024);
  while (!stop->load() && !session.closed()) {
    while (!session.pending_output().empty()) {
      rtmp::Bytes out = session.pending_output();
      ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      session.consume_output(static_cast<size_t>(n));
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    (void)session.receive(rtmp::Bytes(buf.data(), static_cast<size_t>(n)), now_ms());
    while (auto ev = session.next_event()) {
      if (auto pr = std::get_if<rtmp::PublishRequested>(&*ev)) {
        (void)session.accept_publish(pr->stream_id);
      } else if (auto m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        record_marker(s, m->message.payload.data(), m->message.payload.size(), now_ns());
      }
    }
  }
  close(fd);
}

struct PadContext {
  GstElement* pipeline = nullptr;
  StreamRecv* stream = nullptr;
};

// Every new source pad (rtmpingestsrc's video_0/audio_0, flvdemux's video/audio) gets a probe
// and a fakesink (no sync, no preroll).
void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  auto* ctx = static_cast<PadContext*>(data);
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(ctx->pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK) {
    g_printerr("could not link %s\n", GST_PAD_NAME(pad));
  }
  gst_object_unref(sinkpad);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, ctx->stream, nullptr);
}

// Pops every pending bus message; returns the first error's text (empty if none).
std::string drain_bus(GstElement* pipeline) {
  std::string first_error;
  GstBus* bus = gst_element_get_bus(pipeline);
  while (GstMessage* msg = gst_bus_pop(bus)) {
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR && first_error.empty()) {
      GError* err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      first_error = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " +
                    (err ? err->message : "error");
      g_clear_error(&err);
    }
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  return first_error;
}

// --- statistics ---------------------------------------------------------------------------------

struct Dist {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0;
};

Dist dist_of(std::vector<uint32_t> v) {
  Dist d;
  d.n = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<size_t>(i, 1, v.size()) - 1]);
  };
  d.median = rank(0.5);
  d.p99 = rank(0.99);
  d.max = static_cast<double>(v.back());
  return d;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_dist(const Dist& d) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"n\": %zu, \"median_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f}", d.n,
                d.median, d.p99, d.max);
  return buf;
}

// --- part 1: latency ----------------------------------------------------------------------------

struct LatencyRound {
  bool ok = false;
  std::string error;
  std::vector<uint32_t> video_us, audio_us;
  uint64_t sent = 0, received = 0, gaps = 0;
};

// One publisher at 30 x 12 KB video + 46.875 x 341 B audio per second into whatever listens on
// `port` as live/<key>, for `seconds`. Runs on its own thread.
void publish_for_latency(uint16_t port, const std::string& key, double seconds,
                         PublishTotals* totals, std::string* error) {
  std::vector<Publisher> pubs(1);
  pubs[0].conn = std::make_unique<Conn>();
  if (!pubs[0].conn->open(port, key, 5000, error)) return;
  send_sequence_headers(pubs);
  StreamProfile prof;
  prof.video_bytes = 12000;
  prof.drop_threshold = 8 << 20;  // never drop: latency is what is measured here
  int64_t start = now_ns() + 50'000'000;
  *totals = run_schedule(pubs, prof, start, start + static_cast<int64_t>(seconds * 1e9), nullptr);
  pubs[0].conn->close_clean(2000);
}

// target "ours": rtmpingestsrc ! fakesink; "anchor": nginx-rtmp, rtmp2src ! flvdemux ! fakesink.
enum class Target { kOurs, kAnchor, kFloor };
constexpr Target kTargets[] = {Target::kOurs, Target::kAnchor, Target::kFloor};

LatencyRound latency_round(Target target, double seconds) {
  const bool ours = target == Target::kOurs;
  LatencyRound r;
  StreamRecv stream;
  stream.index = 0;
  GstElement* pipeline = gst_pipeline_new(nullptr);
  PadContext ctx{pipeline, &stream};
  std::unique_ptr<ertmp_test::NginxRtmp> nginx;
  int floor_listen = -1;
  std::thread floor_thread;
  std::atomic<bool> floor_stop{false};
  uint16_t port = 0;
  const std::string key = "lat";
  if (ours) {
    GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
    g_object_set(src, "address", "127.0.0.1", "port", 0u, "application", "live", "stream-key",
                 key.c_str(), nullptr);
    g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), &ctx);
    gst_bin_add(GST_BIN(pipeline), src);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      r.error = "rtmpingestsrc did not start: " + drain_bus(pipeline);
    }
    gint bound = -1;
    g_object_get(src, "bound-port", &bound, nullptr);
    port = static_cast<uint16_t>(std::max(0, bound));
  } else if (target == Target::kFloor) {
    floor_listen = ertmp_test::listen_loopback(&port);
    if (floor_listen < 0) r.error = "could not listen";
    floor_thread = std::thread([&] { serve_floor(floor_listen, &stream, &floor_stop); });
  } else {
    nginx = std::make_unique<ertmp_test::NginxRtmp>();
    if (!nginx->ready()) r.error = "nginx-rtmp did not start";
    port = nginx->port();
    GstElement* src = gst_element_factory_make("rtmp2src", nullptr);
    GstElement* demux = gst_element_factory_make("flvdemux", nullptr);
    if (!src || !demux) {
      r.error = "rtmp2src or flvdemux missing";
    } else {
      g_object_set(src, "location", nginx->url(key).c_str(), nullptr);
      g_signal_connect(demux, "pad-added", G_CALLBACK(on_pad_added), &ctx);
      gst_bin_add_many(GST_BIN(pipeline), src, demux, nullptr);
      gst_element_link(src, demux);
      if (r.error.empty() &&
          gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        r.error = "rtmp2src pipeline did not start: " + drain_bus(pipeline);
      }
      sleep_ms(700);  // the player must be subscribed before the publish starts
    }
  }
  if (r.error.empty()) {
    stream.record_after_ns = now_ns() + 1'000'000'000;  // first second: pads, caps, warm-up
    PublishTotals tot;
    std::string perr;
    std::thread pub([&] { publish_for_latency(port, key, seconds, &tot, &perr); });
    pub.join();
    // Let the last messages arrive (bounded).
    for (int i = 0; i < 50 && stream.messages.load() < tot.sent; ++i) sleep_ms(20);
    r.sent = tot.sent;
    std::string bus_error = drain_bus(pipeline);
    if (!perr.empty()) r.error = "publisher: " + perr;
    if (r.error.empty() && !bus_error.empty()) r.error = bus_error;
  }
  floor_stop = true;
  if (floor_thread.joinable()) floor_thread.join();
  if (floor_listen >= 0) close(floor_listen);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  r.video_us = std::move(stream.video.latency_us);
  r.audio_us = std::move(stream.audio.latency_us);
  r.received = stream.video.received + stream.audio.received;
  r.gaps = stream.video.gaps + stream.audio.gaps;
  r.ok = r.error.empty() && !r.video_us.empty();
  if (r.error.empty() && r.video_us.empty()) r.error = "no marked buffer arrived";
  return r;
}

struct LatencyTarget {
  explicit LatencyTarget(std::string n) : name(std::move(n)) {}
  std::string name;
  std::vector<LatencyRound> rounds;
  Dist all, video, audio;
  std::vector<double> round_p99;
  double median_round_p99 = 0;
  uint64_t sent = 0, received = 0, gaps = 0;
  std::vector<uint32_t> samples;  // every latency (us), all rounds, for --samples

  void summarize() {
    std::vector<uint32_t> a, v, au;
    for (auto& r : rounds) {
      v.insert(v.end(), r.video_us.begin(), r.video_us.end());
      au.insert(au.end(), r.audio_us.begin(), r.audio_us.end());
      std::vector<uint32_t> both = r.video_us;
      both.insert(both.end(), r.audio_us.begin(), r.audio_us.end());
      if (!both.empty()) round_p99.push_back(dist_of(both).p99);
      sent += r.sent;
      received += r.received;
      gaps += r.gaps;
    }
    a = v;
    a.insert(a.end(), au.begin(), au.end());
    all = dist_of(a);
    samples = a;
    video = dist_of(v);
    audio = dist_of(au);
    median_round_p99 = median_of(round_p99);
  }
};

struct LatencyResult {
  LatencyTarget ours = LatencyTarget("rtmpingestsrc ! fakesink");
  LatencyTarget anchor = LatencyTarget("nginx-rtmp + rtmp2src ! flvdemux ! fakesink");
  LatencyTarget floor = LatencyTarget("floor: plain thread + rtmp::ServerSession");
  std::vector<std::string> errors;
};

LatencyResult run_latency(int rounds, double seconds) {
  LatencyResult res;
  for (int i = 0; i < rounds; ++i) {
    for (Target target : kTargets) {
      LatencyTarget& t = target == Target::kOurs     ? res.ours
                         : target == Target::kAnchor ? res.anchor
                                                     : res.floor;
      std::printf("latency round %d/%d: %s (%.0f s)...\n", i + 1, rounds, t.name.c_str(), seconds);
      std::fflush(stdout);
      LatencyRound r = latency_round(target, seconds);
      if (!r.ok) {
        std::printf("  failed: %s\n", r.error.c_str());
        res.errors.push_back(t.name + ": " + r.error);
      }
      t.rounds.push_back(std::move(r));
    }
  }
  res.ours.summarize();
  res.anchor.summarize();
  res.floor.summarize();
  return res;
}

void print_latency(const LatencyResult& res) {
  std::printf(
      "\n== Added latency: publisher send -> buffer on the src pad (us; all messages "
      "after 1 s warm-up, pooled over %zu rounds) ==\n",
      res.ours.rounds.size());
  std::printf("%-46s %7s %8s %8s %8s %14s %9s\n", "target", "n", "median", "p99", "max",
              "p99/round(med)", "lost");
  for (const LatencyTarget* t : {&res.ours, &res.anchor, &res.floor}) {
    std::printf("%-46s %7zu %8.0f %8.0f %8.0f %14.0f %9" PRIu64 "\n", t->name.c_str(), t->all.n,
                t->all.median, t->all.p99, t->all.max, t->median_round_p99,
                t->sent > t->received ? t->sent - t->received : 0);
    std::printf("  %-44s %7zu %8.0f %8.0f %8.0f\n", "video (12 KB)", t->video.n, t->video.median,
                t->video.p99, t->video.max);
    std::printf("  %-44s %7zu %8.0f %8.0f %8.0f\n", "audio (341 B)", t->audio.n, t->audio.median,
                t->audio.p99, t->audio.max);
  }
  if (res.anchor.all.n && res.ours.all.n) {
    std::printf(
        "ratio ours/anchor: median %.3f, p99 %.3f, max %.3f   (goal: ours p99 < 1000 us: "
        "%s)\n",
        res.ours.all.median / res.anchor.all.median, res.ours.all.p99 / res.anchor.all.p99,
        res.ours.all.max / res.anchor.all.max, res.ours.all.p99 < 1000 ? "met" : "MISSED");
  }
  if (res.floor.all.n && res.ours.all.n) {
    std::printf(
        "ours - floor (what GIO, GStreamer and the element add): median %+.0f us, p99 "
        "%+.0f us\n",
        res.ours.all.median - res.floor.all.median, res.ours.all.p99 - res.floor.all.p99);
  }
}

std::string latency_json(const LatencyResult& res) {
  std::ostringstream o;
  auto target = [&](const LatencyTarget& t) {
    o << "{\"name\": \"" << t.name << "\", \"rounds\": " << t.rounds.size()
      << ", \"all\": " << json_dist(t.all) << ", \"video\": " << json_dist(t.video)
      << ", \"audio\": " << json_dist(t.audio) << ", \"p99_per_round_us\": [";
    for (size_t i = 0; i < t.round_p99.size(); ++i) o << (i ? ", " : "") << t.round_p99[i];
    o << "], \"sent\": " << t.sent << ", \"received\": " << t.received << ", \"gaps\": " << t.gaps
      << "}";
  };
  o << "{\"ours\": ";
  target(res.ours);
  o << ", \"anchor\": ";
  target(res.anchor);
  o << ", \"floor\": ";
  target(res.floor);
  if (res.anchor.all.n && res.ours.all.n) {
    o << ", \"ratio_ours_over_anchor\": {\"median\": "
      << res.ours.all.median / res.anchor.all.median
      << ", \"p99\": " << res.ours.all.p99 / res.anchor.all.p99
      << ", \"max\": " << res.ours.all.max / res.anchor.all.max << "}";
  }
  if (res.floor.all.n && res.ours.all.n) {
    o << ", \"ours_minus_floor_us\": {\"median\": " << res.ours.all.median - res.floor.all.median
      << ", \"p99\": " << res.ours.all.p99 - res.floor.all.p99 << "}";
  }
  o << ", \"goal_p99_us\": 1000, \"goal_met\": " << (res.ours.all.p99 < 1000 ? "true" : "false");
  o << ", \"errors\": " << res.errors.size() << "}";
  return o.str();
}

// --- part 2: concurrency ------------------------------------------------------------------------

// The --publishers process: N real-time publishers on one thread, keys k0..k<N-1>. Reports on
// stdout, one line each: "streaming" once every publish has started (or "error I WHY"), then
// "done SENT DROPPED DEAD MAX_LAG_US MAX_LAG_AT_MS", one "s I VIDEO_SENT AUDIO_SENT VIDEO_DROPPED
// AUDIO_DROPPED" per stream, "end", and "closed" after the clean goodbyes.
int publishers_main(uint16_t port, unsigned n, unsigned kbps, double seconds) {
  raise_nofile();
  // This one thread stands in for N remote encoders; under CFS it would otherwise get one
  // thread's share against the receiver's N connection threads and fall behind its schedule.
  // Needs root (or CAP_SYS_NICE); without it the run goes on at normal priority.
  (void)setpriority(PRIO_PROCESS, 0, -10);
  StreamProfile prof = profile_for_kbps(kbps);
  std::vector<Publisher> pubs(n);
  for (unsigned i = 0; i < n; ++i) {
    pubs[i].index = i;
    pubs[i].conn = std::make_unique<Conn>();
    std::string why;
    if (!pubs[i].conn->open(port, "k" + std::to_string(i), 5000, &why)) {
      std::printf("error %u %s\n", i, why.c_str());
      std::fflush(stdout);
      return 1;
    }
  }
  send_sequence_headers(pubs);
  std::printf("streaming\n");
  std::fflush(stdout);
  int64_t start = now_ns() + 20'000'000;
  PublishTotals tot =
      run_schedule(pubs, prof, start, start + static_cast<int64_t>(seconds * 1e9), nullptr);
  std::printf("done %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 "\n", tot.sent,
              tot.dropped, tot.dead, tot.max_lag_ns / 1000, tot.max_lag_at_ns / 1'000'000);
  for (auto& p : pubs) {
    std::printf("s %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", p.index,
                p.video_k - p.video_dropped, p.audio_k - p.audio_dropped, p.video_dropped,
                p.audio_dropped);
  }
  std::printf("end\n");
  std::fflush(stdout);
  // Goodbyes to every server connection first, then one bounded wait for all the closes.
  for (auto& p : pubs) p.conn->begin_close(200);
  std::vector<pollfd> open_fds;
  for (auto& p : pubs) open_fds.push_back({p.conn->fd(), POLLIN, 0});
  const int64_t deadline = now_ns() + 3'000'000'000;
  while (!open_fds.empty() && now_ns() < deadline) {
    if (poll(open_fds.data(), open_fds.size(), 50) <= 0) continue;
    uint8_t buf[4096];
    std::erase_if(open_fds, [&](const pollfd& f) {
      return f.revents != 0 && recv(f.fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
    });
  }
  pubs.clear();
  std::printf("closed\n");
  std::fflush(stdout);
  return 0;
}

// The publisher process as seen from the receiver: its pid and its stdout, line by line.
class PublisherProcess {
 public:
  PublisherProcess(uint16_t port, unsigned n, unsigned kbps, double seconds) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return;
    self[len] = '\0';
    std::vector<std::string> args = {
        self,        "--publishers",         "--port", std::to_string(port),
        "--n",       std::to_string(n),      "--kbps", std::to_string(kbps),
        "--seconds", std::to_string(seconds)};
    std::vector<char*> argv;  // built before fork: the child only calls dup2 and execv
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      execv(self, argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  PublisherProcess(const PublisherProcess&) = delete;
  PublisherProcess& operator=(const PublisherProcess&) = delete;
  ~PublisherProcess() {
    if (pid_ > 0) {
      if (!wait_exit(5000)) {
        kill(pid_, SIGKILL);
        wait_exit(2000);
      }
    }
    if (fd_ >= 0) close(fd_);
  }

  pid_t pid() const { return pid_; }

  // The next line, waiting up to timeout_ms; nullopt on timeout or EOF. `idle` runs between
  // polls (every <= 100 ms).
  template <class Idle>
  std::optional<std::string> read_line(int timeout_ms, Idle&& idle) {
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (true) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (fd_ < 0 || now_ns() >= deadline) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char chunk[4096];
        ssize_t n = read(fd_, chunk, sizeof chunk);
        if (n <= 0) {
          close(fd_);
          fd_ = -1;
          continue;
        }
        buf_.append(chunk, static_cast<size_t>(n));
      }
      idle();
    }
  }

  bool wait_exit(int timeout_ms) {
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (pid_ > 0) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      if (now_ns() >= deadline) return false;
      sleep_ms(10);
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
};

constexpr int64_t kLateUs = 200'000;  // rtmpingestsrc's default `latency`: what sync=true absorbs
// A publisher loop further behind its schedule than this was not offering a real-time load.
constexpr double kMaxPublisherLagMs = 250;

struct ConcurrencyStep {
  unsigned kbps = 0, n = 0;
  bool pass = false;
  bool inconclusive = false;  // the publishers, not the receiver, could not keep up
  std::string reason;
  uint64_t sent = 0, received = 0, dropped_by_sender = 0, gaps = 0, reordered = 0, misrouted = 0;
  uint64_t lost = 0, late = 0, dead = 0;
  Dist latency;
  double wall_s = 0, recv_cpu_s = 0, pub_cpu_s = 0, pub_max_lag_ms = 0, pub_max_lag_at_s = 0;
  long rss_base_kb = 0, rss_peak_kb = 0, threads_peak = 0;
  double teardown_s = 0;  // PLAYING -> NULL of the receiving pipeline

  double cores() const { return wall_s > 0 ? recv_cpu_s / wall_s : 0; }
  double cpu_per_pub_second() const {
    return wall_s > 0 && n ? recv_cpu_s / (wall_s * static_cast<double>(n)) : 0;
  }
  double rss_per_pub_kb() const {
    return n ? static_cast<double>(rss_peak_kb - rss_base_kb) / static_cast<double>(n) : 0;
  }
  double mbit_per_core() const {
    double c = cores();
    return c > 0 ? static_cast<double>(n) * static_cast<double>(kbps) / 1000.0 / c : 0;
  }
};

ConcurrencyStep run_step(unsigned kbps, unsigned n, double seconds) {
  ConcurrencyStep st;
  st.kbps = kbps;
  st.n = n;
  st.rss_base_kb = status_field("VmRSS");
  const uint16_t port = ertmp_test::free_port();
  GstElement* pipeline = gst_pipeline_new(nullptr);
  std::vector<std::unique_ptr<StreamRecv>> streams;
  std::vector<std::unique_ptr<PadContext>> ctxs;
  for (unsigned i = 0; i < n; ++i) {
    streams.push_back(std::make_unique<StreamRecv>());
    streams.back()->index = i;
    ctxs.push_back(std::make_unique<PadContext>(PadContext{pipeline, streams.back().get()}));
    GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
    std::string key = "k" + std::to_string(i);
    g_object_set(src, "address", "127.0.0.1", "port", static_cast<guint>(port), "application",
                 "live", "stream-key", key.c_str(), "max-connections", n + 64, nullptr);
    g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), ctxs.back().get());
    gst_bin_add(GST_BIN(pipeline), src);
  }
  std::vector<std::array<uint64_t, 4>> sent(n, {0, 0, 0, 0});
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    st.reason = "pipeline did not start: " + drain_bus(pipeline);
  } else {
    PublisherProcess pubs(port, n, kbps, seconds);
    std::string bus_error;
    auto idle = [&] {
      std::string e = drain_bus(pipeline);
      if (bus_error.empty()) bus_error = e;
      st.rss_peak_kb = std::max(st.rss_peak_kb, status_field("VmRSS"));
      st.threads_peak = std::max(st.threads_peak, status_field("Threads"));
    };
    const std::string child = std::to_string(pubs.pid());
    auto line = pubs.read_line(10'000 + static_cast<int>(n) * 100, idle);
    if (!line || *line != "streaming") {
      st.reason = "publishers did not start: " + (line ? *line : std::string("timeout"));
    } else {
      const int64_t t0 = now_ns();
      const double cpu0 = cpu_seconds("self"), pcpu0 = cpu_seconds(child);
      line = pubs.read_line(static_cast<int>(seconds * 1000) + 10'000, idle);
      const int64_t t1 = now_ns();
      st.recv_cpu_s = cpu_seconds("self") - cpu0;
      st.pub_cpu_s = cpu_seconds(child) - pcpu0;
      st.wall_s = static_cast<double>(t1 - t0) / 1e9;
      unsigned long long a = 0, b = 0, c = 0;
      long long lag = 0, lag_at = 0;
      if (!line || std::sscanf(line->c_str(), "done %llu %llu %llu %lld %lld", &a, &b, &c, &lag,
                               &lag_at) != 5) {
        st.reason = "publishers did not finish: " + (line ? *line : std::string("timeout"));
      } else {
        st.dead = c;
        st.pub_max_lag_ms = static_cast<double>(lag) / 1000.0;
        st.pub_max_lag_at_s = static_cast<double>(lag_at) / 1000.0;
        while ((line = pubs.read_line(5000, idle)) && *line != "end") {
          unsigned i = 0;
          unsigned long long v = 0, au = 0, vd = 0, ad = 0;
          if (std::sscanf(line->c_str(), "s %u %llu %llu %llu %llu", &i, &v, &au, &vd, &ad) == 5 &&
              i < n) {
            sent[i] = {v, au, vd, ad};
          }
        }
        uint64_t want = 0;
        for (auto& s : sent) want += s[0] + s[1];
        // Let what is in flight arrive (bounded).
        for (int k = 0; k < 100; ++k) {
          uint64_t got = 0;
          for (auto& s : streams) got += s->messages.load(std::memory_order_relaxed);
          if (got >= want) break;
          sleep_ms(30);
        }
        (void)pubs.read_line(static_cast<int>(n) * 200 + 5000, idle);  // "closed"
      }
    }
    idle();
    if (st.reason.empty() && !bus_error.empty()) st.reason = "bus error: " + bus_error;
    pubs.wait_exit(5000);
  }
  const int64_t down = now_ns();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  st.teardown_s = static_cast<double>(now_ns() - down) / 1e9;

  std::vector<uint32_t> lat;
  for (unsigned i = 0; i < n; ++i) {
    const StreamRecv& s = *streams[i];
    uint64_t want = sent[i][0] + sent[i][1];
    uint64_t got = s.video.received + s.audio.received;
    st.sent += want;
    st.received += got;
    st.dropped_by_sender += sent[i][2] + sent[i][3];
    st.lost += want > got ? want - got : 0;
    st.gaps += s.video.gaps + s.audio.gaps;
    st.reordered += s.video.reordered + s.audio.reordered;
    st.misrouted += s.misrouted;
    for (const TrackRecv* t : {&s.video, &s.audio}) {
      for (uint32_t us : t->latency_us) {
        if (us > kLateUs) ++st.late;
        lat.push_back(us);
      }
    }
  }
  st.latency = dist_of(std::move(lat));
  if (st.reason.empty()) {
    if (st.sent == 0) {
      st.reason = "nothing sent";
    } else if (st.lost || st.dropped_by_sender || st.gaps || st.dead || st.misrouted) {
      st.reason = "loss";
    } else if (st.pub_max_lag_ms > kMaxPublisherLagMs) {
      st.inconclusive = true;
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "inconclusive: the publisher process ran %.0f ms behind its schedule "
                    "at %.1f s (machine saturated, offered load not real-time)",
                    st.pub_max_lag_ms, st.pub_max_lag_at_s);
      st.reason = buf;
    } else if (st.late) {
      st.reason = "late messages (> 200 ms)";
    } else {
      st.pass = true;
    }
  }
  return st;
}

struct ConcurrencyResult {
  std::vector<ConcurrencyStep> steps;
  std::vector<std::pair<unsigned, unsigned>> best;  // kbps -> largest passing N
  std::vector<std::pair<unsigned, std::string>> stopped;
};

ConcurrencyResult run_concurrency(const std::vector<unsigned>& kbps_list,
                                  const std::vector<unsigned>& ladder, double seconds) {
  ConcurrencyResult res;
  const double ncores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  for (unsigned kbps : kbps_list) {
    unsigned best = 0;
    std::string why = "end of ladder";
    for (unsigned n : ladder) {
      std::printf("concurrency: %u publishers x %u kbit/s for %.0f s...\n", n, kbps, seconds);
      std::fflush(stdout);
      ConcurrencyStep st = run_step(kbps, n, seconds);
      std::printf("  %s%s%s; receiver %.2f cores, lost %" PRIu64 ", late %" PRIu64
                  ", p99 %.0f us, median %.0f us; teardown %.1f s\n",
                  st.pass ? "pass" : (st.inconclusive ? "INCONCLUSIVE" : "FAIL"),
                  st.reason.empty() ? "" : ": ", st.reason.c_str(), st.cores(),
                  st.lost + st.dropped_by_sender, st.late, st.latency.p99, st.latency.median,
                  st.teardown_s);
      std::fflush(stdout);
      res.steps.push_back(st);
      if (!st.pass) {
        why = (st.inconclusive ? "stopped at N=" : "failed at N=") + std::to_string(n) + " (" +
              st.reason + ")";
        break;
      }
      best = n;
      if (st.cores() >= 0.85 * ncores) {
        why = "receiver CPU saturated at N=" + std::to_string(n);
        break;
      }
    }
    res.best.emplace_back(kbps, best);
    res.stopped.emplace_back(kbps, why);
  }
  return res;
}

void print_concurrency(const ConcurrencyResult& res, double seconds) {
  std::printf(
      "\n== Concurrency: N real-time publishers (separate process) -> N rtmpingestsrc "
      "sharing one port, %.0f s per step ==\n",
      seconds);
  std::printf("%6s %5s %5s %8s %6s %6s %9s %9s %6s %12s %10s %9s %8s %7s\n", "kbit/s", "N", "ok",
              "msgs", "lost", "late", "p99 us", "max us", "cores", "cpu s/pub-s", "Mbit/core",
              "RSS/pub", "threads", "pub cpu");
  for (const auto& s : res.steps) {
    std::printf("%6u %5u %5s %8" PRIu64 " %6" PRIu64 " %6" PRIu64
                " %9.0f %9.0f %6.2f %12.5f %10.0f %7.0fkB %8ld %7.2f\n",
                s.kbps, s.n, s.pass ? "yes" : (s.inconclusive ? "n/a" : "NO"), s.received,
                s.lost + s.dropped_by_sender, s.late, s.latency.p99, s.latency.max, s.cores(),
                s.cpu_per_pub_second(), s.mbit_per_core(), s.rss_per_pub_kb(), s.threads_peak,
                s.pub_cpu_s);
  }
  for (size_t i = 0; i < res.best.size(); ++i) {
    const auto& [kbps, best] = res.best[i];
    double per_core = 0;
    for (const auto& s : res.steps) {
      if (s.kbps == kbps && s.n == best && s.cpu_per_pub_second() > 0)
        per_core = 1.0 / s.cpu_per_pub_second();
    }
    std::printf(
        "largest zero-loss N at %u kbit/s: %u (%s); at that N one receiver core would "
        "carry ~%.0f such publishers\n",
        kbps, best, res.stopped[i].second.c_str(), per_core);
  }
  std::printf(
      "published anchors (not measured here): SRS ~2300 x 600 kbit/s per core, "
      "nginx-rtmp ~1300 per core; project goal >= 200 x 3 Mbit/s\n");
}

std::string concurrency_json(const ConcurrencyResult& res, double seconds) {
  std::ostringstream o;
  o << "{\"seconds_per_step\": " << seconds << ", \"late_threshold_us\": " << kLateUs
    << ", \"steps\": [";
  for (size_t i = 0; i < res.steps.size(); ++i) {
    const auto& s = res.steps[i];
    o << (i ? ", " : "") << "{\"kbps\": " << s.kbps << ", \"n\": " << s.n
      << ", \"pass\": " << (s.pass ? "true" : "false")
      << ", \"inconclusive\": " << (s.inconclusive ? "true" : "false")
      << ", \"reason\": " << json_string(s.reason) << ", \"sent\": " << s.sent
      << ", \"received\": " << s.received << ", \"lost\": " << s.lost
      << ", \"dropped_by_sender\": " << s.dropped_by_sender << ", \"gaps\": " << s.gaps
      << ", \"reordered\": " << s.reordered << ", \"late\": " << s.late
      << ", \"latency\": " << json_dist(s.latency) << ", \"wall_s\": " << s.wall_s
      << ", \"receiver_cpu_s\": " << s.recv_cpu_s << ", \"receiver_cores\": " << s.cores()
      << ", \"cpu_s_per_publisher_s\": " << s.cpu_per_pub_second()
      << ", \"mbit_per_core\": " << s.mbit_per_core() << ", \"rss_base_kb\": " << s.rss_base_kb
      << ", \"rss_peak_kb\": " << s.rss_peak_kb
      << ", \"rss_per_publisher_kb\": " << s.rss_per_pub_kb()
      << ", \"threads_peak\": " << s.threads_peak << ", \"publisher_cpu_s\": " << s.pub_cpu_s
      << ", \"publisher_max_lag_ms\": " << s.pub_max_lag_ms
      << ", \"publisher_max_lag_at_s\": " << s.pub_max_lag_at_s
      << ", \"teardown_s\": " << s.teardown_s << "}";
  }
  o << "], \"largest_zero_loss_n\": {";
  for (size_t i = 0; i < res.best.size(); ++i) {
    o << (i ? ", " : "") << "\"" << res.best[i].first << "\": " << res.best[i].second;
  }
  o << "}, \"stopped\": {";
  for (size_t i = 0; i < res.stopped.size(); ++i) {
    o << (i ? ", " : "") << "\"" << res.stopped[i].first
      << "\": " << json_string(res.stopped[i].second);
  }
  o << "}, \"published_anchors\": {\"srs_600kbps_per_core\": 2300, "
       "\"nginx_rtmp_600kbps_per_core\": 1300}, \"goal\": \">= 200 x 3000 kbit/s\"}";
  return o.str();
}

std::vector<unsigned> parse_list(const std::string& s) {
  std::vector<unsigned> v;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    unsigned long x = std::strtoul(item.c_str(), nullptr, 10);
    if (x > 0) v.push_back(static_cast<unsigned>(x));
  }
  return v;
}

void usage() {
  std::printf(
      "usage: ingest_load [--latency] [--concurrency] [options]   (no part named: both)\n"
      "  --json FILE            results as JSON (default ingest_load.json)\n"
      "  --samples DIR          every latency sample per target, one per line (ours.txt,\n"
      "                         anchor.txt, floor.txt), for a distribution plot\n"
      "  --rounds R             latency rounds per target (default 3)\n"
      "  --latency-seconds S    seconds per latency round (default 10)\n"
      "  --seconds S            seconds per concurrency step (default 15)\n"
      "  --max-n N              largest N tried (default 400)\n"
      "  --n LIST               explicit ladder, e.g. 50,100,200 (default 50,100,200,300,...)\n"
      "  --kbps LIST            bitrates (default 3000,600)\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool want_latency = false, want_concurrency = false, publishers = false;
  int rounds = 3;
  double latency_seconds = 10, seconds = 15;
  unsigned max_n = 400, port = 0, n = 0, kbps = 0;
  std::vector<unsigned> ladder, kbps_list = {3000, 600};
  std::string json_path = "ingest_load.json";
  std::string samples_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--latency") {
      want_latency = true;
    } else if (a == "--concurrency") {
      want_concurrency = true;
    } else if (a == "--publishers") {
      publishers = true;
    } else if (a == "--rounds") {
      rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--latency-seconds") {
      latency_seconds = std::max(2.0, std::atof(next().c_str()));
    } else if (a == "--seconds") {
      seconds = std::max(2.0, std::atof(next().c_str()));
    } else if (a == "--max-n") {
      max_n = static_cast<unsigned>(std::max(1, std::atoi(next().c_str())));
    } else if (a == "--n") {
      std::string v = next();
      ladder = parse_list(v);
      n = ladder.empty() ? 0 : ladder[0];
    } else if (a == "--kbps") {
      kbps_list = parse_list(next());
      kbps = kbps_list.empty() ? 0 : kbps_list[0];
    } else if (a == "--port") {
      port = static_cast<unsigned>(std::atoi(next().c_str()));
    } else if (a == "--json") {
      json_path = next();
    } else if (a == "--samples") {
      samples_dir = next();
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (publishers) {
    if (!port || port > 65535 || !n || !kbps) return 2;
    return publishers_main(static_cast<uint16_t>(port), n, kbps, seconds);
  }
  if (!want_latency && !want_concurrency) want_latency = want_concurrency = true;
  if (ladder.empty()) {
    for (unsigned x : {50u, 100u, 200u}) {
      if (x <= max_n) ladder.push_back(x);
    }
    for (unsigned x = 300; x <= max_n; x += 100) ladder.push_back(x);
    if (ladder.empty() || ladder.back() != max_n) ladder.push_back(max_n);
  }
  raise_nofile();
  gst_init(&argc, &argv);
  gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  std::printf("ingest_load: %ld cores, load average %s, RLIMIT_NOFILE %llu\n",
              sysconf(_SC_NPROCESSORS_ONLN), loadavg().c_str(),
              static_cast<unsigned long long>(nofile.rlim_cur));
  std::string json = "{\"nproc\": " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                     ", \"loadavg_start\": \"" + loadavg() + "\"";
  if (want_latency) {
    LatencyResult lat = run_latency(rounds, latency_seconds);
    print_latency(lat);
    json += ", \"latency\": " + latency_json(lat);
    if (!samples_dir.empty()) {
      for (auto [t, file] : {std::pair{&lat.ours, "ours.txt"}, std::pair{&lat.anchor, "anchor.txt"},
                             std::pair{&lat.floor, "floor.txt"}}) {
        std::ofstream out(samples_dir + "/" + file);
        std::vector<uint32_t> v = t->samples;
        std::sort(v.begin(), v.end());
        for (uint32_t x : v) out << x << "\n";
      }
    }
  }
  if (want_concurrency) {
    ConcurrencyResult con = run_concurrency(kbps_list, ladder, seconds);
    print_concurrency(con, seconds);
    json += ", \"concurrency\": " + concurrency_json(con, seconds);
  }
  json += ", \"loadavg_end\": \"" + loadavg() + "\"}\n";
  std::ofstream(json_path) << json;
  std::printf("\nload average at the end %s (other builds share this machine)\nwrote %s\n",
              loadavg().c_str(), json_path.c_str());
  return 0;
}
