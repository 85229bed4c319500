// Support for ingest_load (bench/ingest_load.cpp): clocks and /proc readers, the marker carried
// in every benchmark message, an RTMP publishing connection on a non-blocking POSIX socket
// (rtmp::ClientSession), the real-time publisher schedule, the receiving-side bookkeeping, child
// processes of this binary, CPU hogs, and SRS driven through bench/srs.sh.
//
// Marker layout (big-endian), placed right after the FLV codec header of each body:
//   offset 0  'E' 'L' 'B' '1'      magic
//          4  kind                 'V' video, 'A' audio
//          5  stream index         u32
//          9  sequence number      u32, per stream and kind, from 0
//         13  send time            u64, CLOCK_MONOTONIC ns (system-wide: valid across processes)
// Video bodies are [0x17|0x27][AVCPacketType 1][CTS 0 0 0][NAL length u32][NAL header] marker...;
// audio bodies are [0xAF][AACPacketType 1] marker... The receiver searches the first bytes of
// each buffer for the magic, so it does not depend on how much header a server or element strips.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/client_session.h"
#include "protocol/message.h"

namespace bench {

// --- clocks, /proc ------------------------------------------------------------------------------

int64_t now_ns();  // CLOCK_MONOTONIC
uint64_t now_ms();
void sleep_until_ns(int64_t t);
void sleep_ms(int ms);

// utime + stime of a process ("self" or a pid), in seconds; 0 when it is gone.
double cpu_seconds(const std::string& pid);
// A numeric "Key:   value" field of /proc/<pid>/status (VmRSS in kB, Threads); -1 when absent.
long status_field(const std::string& pid, const char* key);
std::string loadavg();
// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
unsigned long raise_nofile();

// --- the marker and the message bodies ----------------------------------------------------------

inline constexpr size_t kVideoMarkerOffset = 5 + 4 + 1;  // codec header, NAL length, NAL header
inline constexpr size_t kAudioMarkerOffset = 2;

struct Marker {
  char kind = 0;
  uint32_t stream = 0;
  uint32_t seq = 0;
  int64_t t_ns = 0;
};
void write_marker(uint8_t* p, const Marker& m);
std::optional<Marker> find_marker(const uint8_t* data, size_t size);

// FLV AVC sequence header (AVCDecoderConfigurationRecord, baseline 3.1, one SPS, one PPS) and AAC
// sequence header (AAC-LC, 48 kHz, stereo). Only their shape matters: nothing here decodes.
extern const std::vector<uint8_t> kAvcSequenceHeader;
extern const std::vector<uint8_t> kAacSequenceHeader;
std::vector<uint8_t> make_video_body(size_t size);
std::vector<uint8_t> make_audio_body(size_t size);

// --- one RTMP connection ------------------------------------------------------------------------

// A ClientSession on a non-blocking socket to 127.0.0.1. start() begins a connect; step() drives
// the exchange as far as the socket allows, up to the goal:
//   kHandshake   C0C1 and C2 sent (3,073 bytes), nothing after: the session queues `connect`
//                right behind C2, and it is never sent (a peer that has not sent `connect`);
//   kConnected   _result(connect) received; releaseStream/FCPublish/createStream, which the
//                session queues on that result, are never sent (an idle connected peer);
//   kPublishing  NetStream.Publish.Start received.
// Many connections can be driven from one poll loop (open_all) or one at a time (open).
class Conn {
 public:
  enum class Goal { kHandshake, kConnected, kPublishing };
  enum class Progress { kPending, kDone, kFailed };

  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();

  // False (with why()) when the socket cannot even be created.
  bool start(uint16_t port, const std::string& app, const std::string& key, Goal goal,
             int timeout_ms);
  // Drives the exchange with the poll revents of fd(); kFailed sets why().
  Progress step(short revents);
  // What to poll fd() for while the exchange is pending.
  short wanted_events() const;
  // start() then step() until done, failed or the timeout.
  bool open(uint16_t port, const std::string& app, const std::string& key, Goal goal,
            int timeout_ms, std::string* why);

  // Queues one message (the session chunks it) and sends what the socket takes now.
  bool send(rtmp::MessageType type, rtmp::Bytes body, uint64_t dts_ms);
  // Raw bytes straight to the socket (bypassing the session), waiting up to timeout_ms.
  bool send_raw(rtmp::Bytes bytes, int timeout_ms);
  // Sends what the socket takes without blocking; false on a socket error.
  bool flush_nonblocking();
  bool flush_blocking(int timeout_ms);
  // Feeds whatever the server sent (acks, pings) to the session.
  void drain_input();
  // FCUnpublish + deleteStream, then a FIN (the server closes its side when it has read them).
  void begin_close(int timeout_ms);
  // begin_close(), then waits (bounded) for the server to close.
  void close_clean(int timeout_ms);
  // True while the server has not closed the connection (a non-blocking peek).
  bool still_open();

  size_t pending() const;
  int fd() const { return fd_; }
  const std::string& why() const { return why_; }

 private:
  Progress fail(std::string why);

  int fd_ = -1;
  Goal goal_ = Goal::kPublishing;
  bool connecting_ = false;
  bool connected_ = false;
  uint64_t sent_ = 0;  // bytes of session output written, for kHandshake
  int64_t deadline_ns_ = 0;
  std::string why_;
  std::unique_ptr<rtmp::ClientSession> session_;
};

// Opens conns[i] towards live/keys[i] with at most `in_flight` exchanges at a time (a burst
// larger than a listener's backlog only adds SYN retries). Stops at the first failure when
// stop_at_failure; returns the number that reached the goal. failures get "index why" lines.
size_t open_all(std::vector<std::unique_ptr<Conn>>& conns, uint16_t port,
                const std::vector<std::string>& keys, Conn::Goal goal, size_t in_flight,
                int timeout_ms, bool stop_at_failure, std::vector<std::string>* failures);

// --- the real-time publisher schedule -----------------------------------------------------------

struct StreamProfile {
  size_t video_bytes = 0;
  size_t audio_bytes = 341;   // 128 kbit/s of AAC
  size_t drop_threshold = 0;  // pending bytes above which a real-time encoder drops a frame
};
// A total bitrate (video + 128 kbit/s audio) as message sizes; one second of media may queue.
StreamProfile profile_for_kbps(unsigned kbps);

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

// Sends both sequence headers on every connection.
void send_sequence_headers(std::vector<Publisher>& pubs);
// Real-time schedule for every publisher from `start` until `end` (or *stop): video at 30/s,
// audio at 46.875/s, publisher i shifted by i/N of a video period so sends spread out. A message
// whose connection still has more than `drop_threshold` bytes unsent is dropped (its sequence
// number is skipped), as an encoder facing a slow link would.
PublishTotals run_schedule(std::vector<Publisher>& pubs, const StreamProfile& prof, int64_t start,
                           int64_t end, const std::atomic<bool>* stop);

// --- receiving side -----------------------------------------------------------------------------

struct TrackRecv {
  uint32_t next_seq = 0;
  uint64_t received = 0;
  uint64_t gaps = 0;       // sequence numbers never seen (skipped forwards)
  uint64_t reordered = 0;  // a sequence number at or below one already seen
  std::vector<uint32_t> latency_us;
};

// Written only by the one streaming thread that feeds this stream's pads (with the new engine,
// possibly one per pad: video and audio are separate TrackRecvs); read by the main thread after
// the pipeline is down, except the atomic counter.
struct StreamRecv {
  uint32_t index = 0;
  // Latencies of messages sent before this (CLOCK_MONOTONIC ns) are not kept: set by the main
  // thread while the streaming threads read it.
  std::atomic<int64_t> record_after_ns{0};
  TrackRecv video, audio;
  std::atomic<uint64_t> misrouted{0};
  std::atomic<uint64_t> messages{0};
};

// Accounts one received message body (or buffer) that arrived at `now`.
void record_marker(StreamRecv* s, const uint8_t* data, size_t size, int64_t now);

// --- statistics ---------------------------------------------------------------------------------

struct Dist {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0;
};
Dist dist_of(std::vector<uint32_t> v);
double median_of(std::vector<double> v);
std::string json_string(const std::string& text);
std::string json_dist(const Dist& d);

// --- processes ----------------------------------------------------------------------------------

// This binary re-executed with `args` (a child mode); its stdout read line by line.
class SelfProcess {
 public:
  explicit SelfProcess(const std::vector<std::string>& args);
  SelfProcess(const SelfProcess&) = delete;
  SelfProcess& operator=(const SelfProcess&) = delete;
  ~SelfProcess();  // waits (bounded), then SIGKILL

  pid_t pid() const { return pid_; }
  std::string pid_str() const { return std::to_string(pid_); }
  // The next line, waiting up to timeout_ms; nullopt on timeout or EOF. `idle` runs between
  // polls (at least every 100 ms).
  template <class Idle>
  std::optional<std::string> read_line(int timeout_ms, Idle&& idle) {
    const int64_t deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (true) {
      if (auto line = take_line()) return line;
      if (fd_ < 0 || now_ns() >= deadline) return std::nullopt;
      read_some(100);
      idle();
    }
  }
  std::optional<std::string> read_line(int timeout_ms) {
    return read_line(timeout_ms, [] {});
  }
  void signal(int sig);
  bool wait_exit(int timeout_ms);

 private:
  std::optional<std::string> take_line();
  void read_some(int timeout_ms);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buf_;
};

// One busy-loop child process per online core at nice 0 (the contention of other work on the
// machine); killed by stop() or the destructor.
class CpuHogs {
 public:
  CpuHogs() = default;
  CpuHogs(const CpuHogs&) = delete;
  CpuHogs& operator=(const CpuHogs&) = delete;
  ~CpuHogs() { stop(); }
  void start();
  void stop();
  size_t count() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

// --- SRS (bench/srs.sh) -------------------------------------------------------------------------

// An SRS process started by `srs.sh start` in a fresh temporary directory, stopped (and the
// directory removed) by stop() or the destructor. Usable only when available(): the script
// exists, SRS_DIR is set and holds a built binary.
class Srs {
 public:
  static bool available(const std::string& script);

  explicit Srs(std::string script) : script_(std::move(script)) {}
  Srs(const Srs&) = delete;
  Srs& operator=(const Srs&) = delete;
  ~Srs() { stop(); }

  bool start(unsigned max_connections, std::string* why);
  void stop();

  pid_t pid() const { return pid_; }
  std::string pid_str() const { return std::to_string(pid_); }
  uint16_t port() const { return port_; }
  // GET on the HTTP API (path like /api/v1/streams/?count=10); the body, empty on failure.
  std::string api_get(const std::string& path, int timeout_ms) const;
  // Streams the API lists with an active publisher; -1 when the answer is missing or cut.
  long active_streams(unsigned expected) const;
  // True once the API lists an RTMP player (bounded wait).
  bool wait_player(int timeout_ms) const;

 private:
  std::string script_;
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0, api_port_ = 0;
};

// HTTP/1.0 GET http://127.0.0.1:port/path; the body, empty on failure.
std::string http_get(uint16_t port, const std::string& path, int timeout_ms);

}  // namespace bench
