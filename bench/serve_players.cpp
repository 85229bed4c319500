// serve_players: N RTMP players of one live stream in one process, for bench/serve_bench.sh (issue
// 13: rtmppushsink mode=listener serving players, against nginx-rtmp serving the same stream to
// the same players). A program, not a test: it prints one "result" line of figures.
//
// Each player is an rtmp::ClientSession in its play role on a non-blocking socket (TCP_NODELAY),
// all driven from one poll loop: connect, play APP/KEY, then receive until the end. Timeline:
// players start at once; after `--warmup` seconds (joins done, a late joiner's GOP-cache burst
// delivered) the measured window of `--seconds` begins. In the window the program
//   - samples the server process (`--pid`): CPU seconds (utime + stime, all threads) over the
//     window and VmRSS every 250 ms (median);
//   - counts, per player, the media bytes and messages received, the media time they cover, the
//     largest timestamp step between video messages (a skipped stretch) and the largest wait
//     between two arrivals;
//   - measures lateness: for each message, arrival (wall clock) minus its timestamp, less the
//     smallest such value of that player in the window. A player that keeps real time sees
//     only jitter; one that falls behind sees it grow. "end lag" is the same at the window's end
//     for the last message received (how stale the player is when the window closes).
// With --players 0 it only samples the server (the baseline of a server with no player).
// --join-after S waits S seconds before the players start, sampling the server's VmRSS over the
// second half of it (server_rss_before_kb: the same process without players).
//
// Output (one line, space-separated key=value): players, playing (players that played through
// the window), realtime (those that also covered >= 95 % of the window in media time, had no
// video timestamp step over 500 ms and a p99 lateness <= 200 ms), window_s, server_cpu_s,
// server_rss_kb, mbps_median / mbps_min (media Mbit/s per player), media_ratio_min (media
// time / wall time), late_median_ms / late_p99_ms / late_max_ms (all players' messages),
// end_lag_max_ms, ts_step_max_ms, arrival_gap_max_ms, self_cpu_s (this process), and
// failures (the first failure's reason, url-style with '_' for spaces) when any.
// SERVE_PLAYERS_DEBUG=1 also prints each player's session counters to stderr (bytes in, acked).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/load_support.h"
#include "protocol/client_session.h"
#include "protocol/url.h"

namespace {

using namespace bench;

struct Options {
  uint16_t port = 0;
  std::string app = "live";
  std::string key = "s";
  size_t players = 100;
  double warmup_s = 3;
  double seconds = 15;
  double join_after_s = 0;
  std::string pid;
};

struct Player {
  int fd = -1;
  std::unique_ptr<rtmp::ClientSession> session;
  bool connecting = true;
  bool failed = false;
  bool started = false;  // PlayStarted seen
  std::string why;
  // In the window:
  uint64_t bytes = 0, messages = 0;
  int64_t first_ts_ms = -1, last_ts_ms = -1;
  int64_t last_video_ts_ms = -1, ts_step_max_ms = 0;
  int64_t last_arrival_ns = 0, arrival_gap_max_ns = 0;
  std::vector<int64_t> offsets_us;  // arrival (µs) - timestamp (µs), per message
  ~Player() {
    if (fd >= 0) close(fd);
  }
};

bool parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") {
      o->port = static_cast<uint16_t>(std::atoi(v.c_str()));
    } else if (k == "--app") {
      o->app = v;
    } else if (k == "--key") {
      o->key = v;
    } else if (k == "--players") {
      o->players = static_cast<size_t>(std::atol(v.c_str()));
    } else if (k == "--warmup") {
      o->warmup_s = std::atof(v.c_str());
    } else if (k == "--seconds") {
      o->seconds = std::atof(v.c_str());
    } else if (k == "--join-after") {
      o->join_after_s = std::atof(v.c_str());
    } else if (k == "--pid") {
      o->pid = v;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o->port != 0 && !o->pid.empty() && o->seconds > 0;
}

bool start_player(Player* p, const Options& o) {
  auto url =
      rtmp::parse_url("rtmp://127.0.0.1:" + std::to_string(o.port) + "/" + o.app + "/" + o.key);
  if (!url.ok()) {
    p->why = "bad url";
    return false;
  }
  rtmp::ClientConfig cc;
  cc.role = rtmp::ClientRole::kPlay;
  cc.url = *url;
  cc.flash_ver = "LNX 9,0,124,2";
  cc.timeout_ms = 10'000;
  p->session = std::make_unique<rtmp::ClientSession>(cc, now_ms());
  p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (p->fd < 0) {
    p->why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(o.port);
  if (connect(p->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    p->connecting = false;
  } else if (errno != EINPROGRESS) {
    p->why = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  return true;
}

void fail(Player* p, std::string why) {
  if (p->why.empty()) p->why = std::move(why);
  p->failed = true;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
}

void on_media(Player* p, const rtmp::Message& m, int64_t now, int64_t w0, int64_t w1) {
  if (now < w0 || now >= w1) return;
  const auto ts = static_cast<int64_t>(m.timestamp);
  p->bytes += m.payload.size();
  ++p->messages;
  if (p->first_ts_ms < 0) p->first_ts_ms = ts;
  p->last_ts_ms = std::max(p->last_ts_ms, ts);
  if (m.kind() == rtmp::MessageType::kVideo) {
    if (p->last_video_ts_ms >= 0) {
      p->ts_step_max_ms = std::max(p->ts_step_max_ms, ts - p->last_video_ts_ms);
    }
    p->last_video_ts_ms = ts;
  }
  if (p->last_arrival_ns != 0) {
    p->arrival_gap_max_ns = std::max(p->arrival_gap_max_ns, now - p->last_arrival_ns);
  }
  p->last_arrival_ns = now;
  p->offsets_us.push_back(now / 1000 - ts * 1000);
}

// Drives one player with the poll revents of its socket.
void step(Player* p, short revents, int64_t w0, int64_t w1) {
  if (p->failed) return;
  if (p->connecting) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(p, std::string("connect: ") + std::strerror(err));
    p->connecting = false;
  }
  bool eof = false;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    static uint8_t buf[65536];
    while (true) {
      ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        const int64_t now = now_ns();
        rtmp::Status st = p->session->receive(rtmp::Bytes(buf, static_cast<size_t>(n)),
                                              static_cast<uint64_t>(now / 1'000'000));
        if (!st.ok()) return fail(p, "receive: " + st.error().to_string());
        while (auto ev = p->session->next_event()) {
          if (auto* m = std::get_if<rtmp::MediaReceived>(&*ev)) {
            on_media(p, m->message, now, w0, w1);
          } else if (std::holds_alternative<rtmp::PlayStarted>(*ev)) {
            p->started = true;
          } else if (auto* c = std::get_if<rtmp::ClientClosed>(&*ev)) {
            return fail(p, c->error ? c->error->to_string() + " " + c->status_code
                                    : std::string("session closed"));
          }
        }
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
      break;
    }
  }
  p->session->handle_timeout(now_ms());
  while (auto ev = p->session->next_event()) {
    if (auto* c = std::get_if<rtmp::ClientClosed>(&*ev)) {
      return fail(p, c->error ? c->error->to_string() + " " + c->status_code
                              : std::string("session closed"));
    }
  }
  if (eof) return fail(p, "connection closed by the server");
  // Acknowledgements, pings, the play exchange.
  while (!p->session->pending_output().empty()) {
    rtmp::Bytes b = p->session->pending_output();
    ssize_t n = ::send(p->fd, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (n <= 0) return fail(p, std::string("send: ") + std::strerror(errno));
    p->session->consume_output(static_cast<size_t>(n));
  }
}

std::string underscores(std::string s) {
  std::replace(s.begin(), s.end(), ' ', '_');
  return s.empty() ? "-" : s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: serve_players --port P --pid SERVER_PID [--app live] [--key s] "
                 "[--players 100] [--warmup 3] [--seconds 15]\n");
    return 2;
  }
  raise_nofile();
  // The server alone first: its RSS over the second half of --join-after, the baseline the
  // players' memory is measured against in the same process.
  std::vector<double> rss_before;
  {
    const int64_t join = now_ns() + static_cast<int64_t>(o.join_after_s * 1e9);
    for (int64_t t = join - static_cast<int64_t>(o.join_after_s * 0.5e9); now_ns() < join;
         t += 250'000'000) {
      sleep_until_ns(std::min(t, join));
      if (now_ns() < join) rss_before.push_back(static_cast<double>(status_field(o.pid, "VmRSS")));
    }
  }
  std::vector<std::unique_ptr<Player>> players;
  for (size_t i = 0; i < o.players; ++i) {
    players.push_back(std::make_unique<Player>());
    if (!start_player(players.back().get(), o)) fail(players.back().get(), players.back()->why);
  }
  const int64_t t0 = now_ns();
  const int64_t w0 = t0 + static_cast<int64_t>(o.warmup_s * 1e9);
  const int64_t w1 = w0 + static_cast<int64_t>(o.seconds * 1e9);
  bool window_open = false;
  double cpu0 = 0, cpu1 = 0, self0 = 0;
  std::vector<double> rss;
  int64_t next_sample = w0;
  std::vector<pollfd> fds;
  std::vector<Player*> polled;
  while (true) {
    const int64_t now = now_ns();
    if (!window_open && now >= w0) {
      window_open = true;
      cpu0 = cpu_seconds(o.pid);
      self0 = cpu_seconds("self");
    }
    if (window_open && now >= next_sample && now < w1) {
      rss.push_back(static_cast<double>(status_field(o.pid, "VmRSS")));
      next_sample += 250'000'000;
    }
    if (now >= w1) {
      cpu1 = cpu_seconds(o.pid);
      break;
    }
    fds.clear();
    polled.clear();
    for (auto& p : players) {
      if (p->failed) continue;
      short want = POLLIN;
      if (p->connecting || !p->session->pending_output().empty()) want |= POLLOUT;
      if (p->connecting) want = POLLOUT;
      fds.push_back({p->fd, want, 0});
      polled.push_back(p.get());
    }
    const int64_t wake = std::min(window_open ? std::min(next_sample, w1) : w0, now + 50'000'000);
    const int timeout = static_cast<int>(std::max<int64_t>(0, (wake - now) / 1'000'000));
    if (fds.empty()) {
      sleep_ms(std::max(1, timeout));
      continue;
    }
    poll(fds.data(), fds.size(), timeout);
    for (size_t i = 0; i < fds.size(); ++i) step(polled[i], fds[i].revents, w0, w1);
  }
  const double self_cpu = cpu_seconds("self") - self0;

  size_t playing = 0, realtime = 0;
  std::vector<uint32_t> late_us;
  std::vector<double> mbps;
  double media_ratio_min = o.players ? 1e9 : 0;
  int64_t end_lag_max_us = 0, ts_step_max = 0, gap_max_ns = 0;
  std::string first_failure;
  const double window_s = static_cast<double>(w1 - w0) / 1e9;
  for (auto& p : players) {
    if (p->failed && first_failure.empty()) first_failure = p->why;
    if (p->failed || p->offsets_us.empty()) {
      media_ratio_min = 0;
      continue;
    }
    ++playing;
    const int64_t anchor = *std::min_element(p->offsets_us.begin(), p->offsets_us.end());
    std::vector<uint32_t> mine;
    mine.reserve(p->offsets_us.size());
    for (int64_t off : p->offsets_us) mine.push_back(static_cast<uint32_t>(off - anchor));
    const Dist d = dist_of(mine);
    late_us.insert(late_us.end(), mine.begin(), mine.end());
    const double ratio = static_cast<double>(p->last_ts_ms - p->first_ts_ms) / 1000.0 / window_s;
    media_ratio_min = std::min(media_ratio_min, ratio);
    mbps.push_back(static_cast<double>(p->bytes) * 8 / window_s / 1e6);
    end_lag_max_us = std::max(end_lag_max_us, w1 / 1000 - anchor - p->last_ts_ms * 1000);
    ts_step_max = std::max(ts_step_max, p->ts_step_max_ms);
    gap_max_ns = std::max(gap_max_ns, p->arrival_gap_max_ns);
    if (ratio >= 0.95 && p->ts_step_max_ms <= 500 && d.p99 <= 200'000) ++realtime;
  }
  if (std::getenv("SERVE_PLAYERS_DEBUG")) {
    for (auto& p : players) {
      if (!p->session) continue;
      const rtmp::ClientStats cs = p->session->stats();
      std::fprintf(stderr,
                   "player started=%d failed=%d in=%llu acked=%llu win=%u out=%llu msgs=%llu "
                   "pending=%zu why=%s\n",
                   p->started, p->failed, static_cast<unsigned long long>(cs.in_bytes_total),
                   static_cast<unsigned long long>(cs.in_bytes_acked), cs.in_window_ack_size,
                   static_cast<unsigned long long>(cs.out_bytes_total),
                   static_cast<unsigned long long>(p->messages),
                   p->session->pending_output().size(), p->why.c_str());
    }
  }
  const Dist late = dist_of(late_us);
  const double mbps_min = mbps.empty() ? 0 : *std::min_element(mbps.begin(), mbps.end());
  std::printf(
      "result players=%zu playing=%zu realtime=%zu window_s=%.2f server_cpu_s=%.2f "
      "server_rss_kb=%.0f server_rss_before_kb=%.0f mbps_median=%.3f mbps_min=%.3f "
      "media_ratio_min=%.3f "
      "late_median_ms=%.1f late_p99_ms=%.1f late_max_ms=%.1f end_lag_max_ms=%.1f "
      "ts_step_max_ms=%lld arrival_gap_max_ms=%.1f self_cpu_s=%.2f failures=%s\n",
      o.players, playing, realtime, window_s, cpu1 - cpu0, median_of(rss), median_of(rss_before),
      median_of(mbps), mbps_min, media_ratio_min, late.median / 1000, late.p99 / 1000,
      late.max / 1000, static_cast<double>(end_lag_max_us) / 1000,
      static_cast<long long>(ts_step_max), static_cast<double>(gap_max_ns) / 1e6, self_cpu,
      underscores(first_failure).c_str());
  return 0;
}
