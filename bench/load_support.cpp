#include "bench/load_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "protocol/url.h"

namespace bench {

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

long status_field(const std::string& pid, const char* key) {
  std::ifstream in("/proc/" + pid + "/status");
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

unsigned long raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  return static_cast<unsigned long>(r.rlim_cur);
}

// --- the marker and the message bodies ----------------------------------------------------------

namespace {

constexpr uint8_t kMagic[4] = {'E', 'L', 'B', '1'};
constexpr size_t kMarkerSize = 21;
constexpr size_t kMarkerSearch = 48;  // bytes of a buffer searched for the magic

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

}  // namespace

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

const std::vector<uint8_t> kAvcSequenceHeader = {
    0x17, 0x00, 0x00, 0x00, 0x00,                                // keyframe|AVC, seq header, CTS
    0x01, 0x42, 0xC0, 0x1F, 0xFF, 0xE1,                          // version, profile, level, 1 SPS
    0x00, 0x09, 0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16,  // SPS
    0xE8, 0x01, 0x00, 0x04, 0x68, 0xCE, 0x3C, 0x80};             // 1 PPS
const std::vector<uint8_t> kAacSequenceHeader = {0xAF, 0x00, 0x11, 0x90};

namespace {

// At least min_size bytes of a filler pattern (bytes that do not compress to nothing).
std::vector<uint8_t> filler(size_t size, size_t min_size, unsigned mul, unsigned add) {
  std::vector<uint8_t> b(std::max(size, min_size));
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * mul + add);
  return b;
}

}  // namespace

std::vector<uint8_t> make_video_body(size_t size) {
  std::vector<uint8_t> b = filler(size, kVideoMarkerOffset + kMarkerSize, 31, 7);
  b[0] = 0x27;
  b[1] = 0x01;
  b[2] = b[3] = b[4] = 0;
  put_be(&b[5], b.size() - 9, 4);
  b[9] = 0x41;
  return b;
}
std::vector<uint8_t> make_audio_body(size_t size) {
  std::vector<uint8_t> b = filler(size, kAudioMarkerOffset + kMarkerSize, 17, 3);
  b[0] = 0xAF;
  b[1] = 0x01;
  return b;
}

// --- one RTMP connection ------------------------------------------------------------------------

namespace {

// C0C1 (1 + 1536) and C2 (1536): the simple handshake, which ClientSession uses by default.
constexpr uint64_t kHandshakeBytes = 1 + 1536 + 1536;

}  // namespace

Conn::~Conn() {
  if (fd_ >= 0) close(fd_);
}

bool Conn::start(uint16_t port, const std::string& app, const std::string& key, Goal goal,
                 int timeout_ms) {
  goal_ = goal;
  deadline_ns_ = now_ns() + int64_t{timeout_ms} * 1'000'000;
  auto url = rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(port) + "/" + app + "/" + key);
  if (!url.ok()) {
    why_ = "bad url";
    return false;
  }
  rtmp::ClientConfig cc;
  cc.url = *url;
  cc.timeout_ms = static_cast<uint64_t>(timeout_ms);
  session_ = std::make_unique<rtmp::ClientSession>(cc, now_ms());
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    why_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  connecting_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
  if (connecting_ && errno != EINPROGRESS) {
    why_ = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  return true;
}

Conn::Progress Conn::fail(std::string why) {
  if (why_.empty()) why_ = std::move(why);
  return Progress::kFailed;
}

short Conn::wanted_events() const {
  if (connecting_) return POLLOUT;
  bool may_send = goal_ != Goal::kHandshake || sent_ < kHandshakeBytes;
  return static_cast<short>(POLLIN | (may_send && pending() > 0 ? POLLOUT : 0));
}

Conn::Progress Conn::step(short revents) {
  if (fd_ < 0 || !session_) return fail("not started");
  if (now_ns() >= deadline_ns_) {
    return fail(connecting_ ? "timeout in TCP connect" : "timeout in the RTMP exchange");
  }
  if (connecting_) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return Progress::kPending;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
    connecting_ = false;
  }
  bool eof = false;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    uint8_t buf[16384];
    while (true) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        (void)session_->receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now_ms());
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
      break;
    }
  }
  session_->handle_timeout(now_ms());
  while (auto ev = session_->next_event()) {
    if (std::holds_alternative<rtmp::ClientConnected>(*ev)) connected_ = true;
    if (auto cl = std::get_if<rtmp::ClientClosed>(&*ev); cl && cl->error) {
      why_ = cl->error->to_string() + (cl->status_code.empty() ? "" : " " + cl->status_code);
    }
  }
  if (goal_ == Goal::kConnected && connected_) return Progress::kDone;
  if (goal_ == Goal::kPublishing && session_->publishing()) return Progress::kDone;
  if (eof) return fail("connection closed by the server");
  if (session_->closed()) return fail("session closed");
  // Send what is queued (for kHandshake only up to the end of C2).
  while (!session_->pending_output().empty()) {
    rtmp::Bytes b = session_->pending_output();
    if (goal_ == Goal::kHandshake) {
      if (sent_ >= kHandshakeBytes) break;
      b = b.first(std::min<size_t>(b.size(), kHandshakeBytes - sent_));
    }
    ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (n <= 0) return fail(std::string("send: ") + std::strerror(errno));
    session_->consume_output(static_cast<size_t>(n));
    sent_ += static_cast<uint64_t>(n);
  }
  if (goal_ == Goal::kHandshake && sent_ >= kHandshakeBytes) return Progress::kDone;
  return Progress::kPending;
}

bool Conn::open(uint16_t port, const std::string& app, const std::string& key, Goal goal,
                int timeout_ms, std::string* why) {
  if (!start(port, app, key, goal, timeout_ms)) {
    *why = why_;
    return false;
  }
  Progress p = step(0);
  while (p == Progress::kPending) {
    pollfd pf{fd_, wanted_events(), 0};
    poll(&pf, 1, 20);
    p = step(pf.revents);
  }
  if (p == Progress::kFailed) *why = why_;
  return p == Progress::kDone;
}

bool Conn::send(rtmp::MessageType type, rtmp::Bytes body, uint64_t dts_ms) {
  if (!session_->send_message(type, body, dts_ms).ok()) return false;
  return flush_nonblocking();
}

bool Conn::send_raw(rtmp::Bytes bytes, int timeout_ms) {
  const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<size_t>(n));
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
    if (now_ns() >= deadline) return false;
    pollfd p{fd_, POLLOUT, 0};
    poll(&p, 1, 10);
  }
  return true;
}

bool Conn::flush_nonblocking() {
  while (!session_->pending_output().empty()) {
    rtmp::Bytes b = session_->pending_output();
    ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) return false;
    session_->consume_output(static_cast<size_t>(n));
  }
  return true;
}

bool Conn::flush_blocking(int timeout_ms) {
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

void Conn::drain_input() {
  uint8_t buf[4096];
  while (true) {
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    (void)session_->receive(rtmp::Bytes(buf, static_cast<size_t>(n)), now_ms());
  }
  while (session_->next_event()) {
  }
}

void Conn::begin_close(int timeout_ms) {
  if (fd_ < 0) return;
  session_->stop();
  flush_blocking(timeout_ms);
  shutdown(fd_, SHUT_WR);
}

void Conn::close_clean(int timeout_ms) {
  if (fd_ < 0) return;
  begin_close(timeout_ms);
  const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
  uint8_t buf[4096];
  while (now_ns() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    if (recv(fd_, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
  }
  close(fd_);
  fd_ = -1;
}

bool Conn::still_open() {
  if (fd_ < 0) return false;
  uint8_t buf[4096];
  while (true) {
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;  // what the server says to a peer that is not listening is discarded
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
}

size_t Conn::pending() const {
  return session_ ? session_->pending_output().size() : 0;
}

size_t open_all(std::vector<std::unique_ptr<Conn>>& conns, uint16_t port,
                const std::vector<std::string>& keys, Conn::Goal goal, size_t in_flight,
                int timeout_ms, bool stop_at_failure, std::vector<std::string>* failures) {
  size_t next = 0, done = 0;
  bool failed = false;
  std::vector<size_t> active;
  std::vector<pollfd> fds;
  auto report = [&](size_t i) {
    failed = true;
    if (failures) failures->push_back(std::to_string(i) + " " + conns[i]->why());
  };
  while ((next < conns.size() || !active.empty()) && !(failed && stop_at_failure)) {
    while (active.size() < in_flight && next < conns.size()) {
      size_t i = next++;
      conns[i] = std::make_unique<Conn>();
      if (conns[i]->start(port, "live", keys[i], goal, timeout_ms)) {
        active.push_back(i);
      } else {
        report(i);
      }
    }
    fds.clear();
    for (size_t i : active) fds.push_back({conns[i]->fd(), conns[i]->wanted_events(), 0});
    poll(fds.data(), fds.size(), 20);
    for (size_t j = 0; j < active.size(); ++j) {
      Conn::Progress p = conns[active[j]]->step(fds[j].revents);
      if (p == Conn::Progress::kDone) ++done;
      if (p == Conn::Progress::kFailed) report(active[j]);
      if (p != Conn::Progress::kPending) active[j] = SIZE_MAX;
    }
    std::erase(active, SIZE_MAX);
  }
  return done;
}

// --- the real-time publisher schedule -----------------------------------------------------------

namespace {

constexpr int64_t kVideoPeriodNum = 1'000'000'000;  // ns per 30 frames
constexpr int64_t kFps = 30;
constexpr int64_t kAudioRate = 48000;
constexpr int64_t kAudioFrame = 1024;  // samples per AAC frame: 46.875 frames/s

int64_t video_due(const Publisher& p, int64_t start) {
  return start + p.phase_ns + static_cast<int64_t>(p.video_k) * kVideoPeriodNum / kFps;
}
int64_t audio_due(const Publisher& p, int64_t start) {
  return start + p.phase_ns +
         static_cast<int64_t>(p.audio_k) * kAudioFrame * 1'000'000'000 / kAudioRate;
}

}  // namespace

StreamProfile profile_for_kbps(unsigned kbps) {
  StreamProfile p;
  double video_kbps = std::max(64.0, static_cast<double>(kbps) - 128.0);
  p.video_bytes = static_cast<size_t>(video_kbps * 1000.0 / 8.0 / static_cast<double>(kFps));
  p.drop_threshold = static_cast<size_t>(kbps) * 1000 / 8;  // one second of media
  return p;
}

void send_sequence_headers(std::vector<Publisher>& pubs) {
  for (auto& p : pubs) {
    if (!p.conn->send(rtmp::MessageType::kVideo, kAvcSequenceHeader, 0) ||
        !p.conn->send(rtmp::MessageType::kAudio, kAacSequenceHeader, 0) ||
        !p.conn->flush_blocking(2000)) {
      p.dead = true;
    }
  }
}

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

void record_marker(StreamRecv* s, const uint8_t* data, size_t size, int64_t now) {
  std::optional<Marker> m = find_marker(data, size);
  if (!m) return;
  if (m->stream != s->index) {
    s->misrouted.fetch_add(1, std::memory_order_relaxed);
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
  if (m->t_ns >= s->record_after_ns.load(std::memory_order_relaxed)) {
    int64_t us = (now - m->t_ns) / 1000;
    t.latency_us.push_back(static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX)));
  }
  s->messages.fetch_add(1, std::memory_order_relaxed);
}

// --- statistics ---------------------------------------------------------------------------------

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

// --- processes ----------------------------------------------------------------------------------

SelfProcess::SelfProcess(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    close(fds[0]);
    close(fds[1]);
    return;
  }
  self[len] = '\0';
  std::vector<std::string> all = {self};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;  // built before fork: the child only calls dup2 and execv
  for (auto& a : all) argv.push_back(a.data());
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

SelfProcess::~SelfProcess() {
  if (pid_ > 0 && !wait_exit(5000)) {
    signal(SIGKILL);
    wait_exit(2000);
  }
  if (fd_ >= 0) close(fd_);
}

std::optional<std::string> SelfProcess::take_line() {
  size_t nl = buf_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = buf_.substr(0, nl);
  buf_.erase(0, nl + 1);
  return line;
}

void SelfProcess::read_some(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return;
  char chunk[4096];
  ssize_t n = read(fd_, chunk, sizeof chunk);
  if (n <= 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  buf_.append(chunk, static_cast<size_t>(n));
}

void SelfProcess::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

bool SelfProcess::wait_exit(int timeout_ms) {
  const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
  while (pid_ > 0) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    if (now_ns() >= deadline) return false;
    sleep_ms(10);  // no pidfd wait on every kernel this runs on
  }
  return true;
}

void CpuHogs::start() {
  stop();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (long i = 0; i < cores; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      // Only async-signal-safe calls after fork() in a threaded parent: a plain busy loop.
      setpriority(PRIO_PROCESS, 0, 0);
      volatile uint64_t x = 0;
      while (true) x = x + 1;
    }
    if (pid > 0) pids_.push_back(pid);
  }
}

void CpuHogs::stop() {
  for (pid_t pid : pids_) kill(pid, SIGKILL);
  for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  pids_.clear();
}

// --- SRS ----------------------------------------------------------------------------------------

namespace {

uint16_t free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Runs a shell command; its stdout, and whether it exited 0.
std::string run_shell(const std::string& command, bool* ok) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    *ok = false;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

std::string http_get(uint16_t port, const std::string& path, int timeout_ms) {
  const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      while (now_ns() < deadline) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        resp.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

bool Srs::available(const std::string& script) {
  if (script.empty() || !std::getenv("SRS_DIR") || access(script.c_str(), X_OK) != 0) return false;
  bool ok = false;
  run_shell(shell_quote(script) + " available", &ok);
  return ok;
}

bool Srs::start(unsigned max_connections, std::string* why) {
  stop();
  char tmpl[] = "/tmp/ertmp-srs-XXXXXX";
  if (!mkdtemp(tmpl)) {
    *why = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  port_ = free_loopback_port();
  api_port_ = free_loopback_port();
  while (api_port_ == port_) api_port_ = free_loopback_port();
  bool ok = false;
  std::string out = run_shell(shell_quote(script_) + " start " + shell_quote(dir_) + " " +
                                  std::to_string(port_) + " " + std::to_string(api_port_) + " " +
                                  std::to_string(max_connections) + " 2>&1",
                              &ok);
  long pid = ok ? std::strtol(out.c_str(), nullptr, 10) : 0;
  if (pid <= 0) {
    *why = "srs.sh start failed: " + out;
    return false;
  }
  pid_ = static_cast<pid_t>(pid);
  return true;
}

void Srs::stop() {
  if (!dir_.empty()) {
    bool ok = false;
    run_shell(shell_quote(script_) + " stop " + shell_quote(dir_) + " 2>&1", &ok);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  dir_.clear();
  pid_ = -1;
}

std::string Srs::api_get(const std::string& path, int timeout_ms) const {
  return http_get(api_port_, path, timeout_ms);
}

long Srs::active_streams(unsigned expected) const {
  std::string body =
      api_get("/api/v1/streams/?start=0&count=" + std::to_string(expected + 100), 10'000);
  // A whole answer ends with the closing brace; a cut one (SRS busy past the timeout) is -1.
  if (body.find("\"code\":0") == std::string::npos ||
      body.find_last_not_of(" \r\n") == std::string::npos ||
      body[body.find_last_not_of(" \r\n")] != '}') {
    return -1;
  }
  long n = 0;
  for (size_t at = body.find("\"active\":true"); at != std::string::npos;
       at = body.find("\"active\":true", at + 1)) {
    ++n;
  }
  return n;
}

bool Srs::wait_player(int timeout_ms) const {
  const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
  while (now_ns() < deadline) {
    if (api_get("/api/v1/clients/?start=0&count=100", 2000).find("\"type\":\"rtmp-play\"") !=
        std::string::npos) {
      return true;
    }
    sleep_ms(50);  // the API has no event to wait on
  }
  return false;
}

}  // namespace bench
