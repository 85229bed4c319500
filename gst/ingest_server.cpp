#include "gst/ingest_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gst/gst.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "gst/bitrate_meter.h"
#include "gst/serve_player.h"
#include "gst/tls_session.h"
#include "protocol/proxy_header.h"

GST_DEBUG_CATEGORY_STATIC(ertmp_io_debug);
#define GST_CAT_DEFAULT ertmp_io_debug

namespace gst_ertmp {
namespace {

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<IngestServer>>& registry() {
  static std::map<std::string, std::weak_ptr<IngestServer>> r;
  return r;
}

std::atomic<uint64_t> g_next_connection_id{1};

constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP;
// A connection reads at most this much per wake-up of its loop before it yields to the others
// (TLS only: a plain socket reads once and stays readable for the next wake-up).
constexpr size_t kReadBudget = 1024 * 1024;
// Bus warnings per connection for session oddities: a peer repeating one cannot flood.
constexpr int kMaxSessionWarnings = 5;

// "ip:port" of a peer; an IPv4 client of a dual-stack listener shows as plain IPv4.
std::string peer_string(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], ip, sizeof ip);
    } else {
      inet_ntop(AF_INET6, &a.sin6_addr, ip, sizeof ip);
    }
    port = ntohs(a.sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

bool same_certificate(GTlsCertificate* a, GTlsCertificate* b) {
  if (!a || !b) return a == b;
  return a == b || g_tls_certificate_is_same(a, b);
}

// The route of `routes` that serves app/key: exact matches win over wildcards ("" = any).
// Stream keys are secrets: compared without an early exit.
template <class Routes>
auto best_route(const Routes& routes, const std::string& app, const std::string& key) {
  decltype(routes.front().get()) best = nullptr;
  int best_score = -1;
  for (auto& r : routes) {
    if (r->closing) continue;
    bool app_ok = r->app.empty() || r->app == app;
    bool key_ok = r->key.empty();
    if (!key_ok && r->key.size() == key.size()) {
      unsigned diff = 0;
      for (size_t i = 0; i < key.size(); ++i) {
        diff |= static_cast<unsigned char>(r->key[i] ^ key[i]);
      }
      key_ok = diff == 0;
    }
    if (!app_ok || !key_ok) continue;
    int score = (r->app.empty() ? 0 : 2) + (r->key.empty() ? 0 : 1);
    if (score > best_score) {
      best = r.get();
      best_score = score;
    }
  }
  return best;
}

// Pieces of output one sendmsg takes (borrowed payloads sit between chunk headers), and the
// bytes gathered into one TLS record write.
constexpr size_t kMaxWritePieces = 64;
constexpr size_t kTlsWriteBytes = 64 * 1024;
// While items are offered to a player, its output is written to the socket whenever this much
// is pending: the slow-player gate must measure what the socket did not take, not a burst
// offered in one go (a join's GOP) that no write was attempted for yet.
constexpr size_t kOfferFlushBytes = 64 * 1024;

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(ertmp_io_debug, "ertmpio", 0, "gst-ertmp socket layer");
  });
}

}  // namespace

bool NetworkRange::contains(bool addr_v6, const uint8_t* addr) const {
  if (addr_v6 != v6) return false;
  unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(bytes.data(), addr, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (bytes[full] & mask) == (addr[full] & mask);
}

bool parse_network_ranges(const std::string& text, std::vector<NetworkRange>* out,
                          std::string* error) {
  std::vector<NetworkRange> ranges;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(", ", i);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(i, end - i);
    i = end + 1;
    if (item.empty()) continue;
    NetworkRange r;
    std::string addr = item;
    int prefix = -1;
    if (auto slash = item.find('/'); slash != std::string::npos) {
      addr = item.substr(0, slash);
      const std::string bits = item.substr(slash + 1);
      char* stop = nullptr;
      long v = bits.empty() ? -1 : std::strtol(bits.c_str(), &stop, 10);
      if (v < 0 || (stop && *stop) || v > 128) {
        *error = "bad prefix length in '" + item + "'";
        return false;
      }
      prefix = static_cast<int>(v);
    }
    if (inet_pton(AF_INET, addr.c_str(), r.bytes.data()) == 1) {
      r.v6 = false;
      if (prefix > 32) {
        *error = "prefix longer than 32 bits in '" + item + "'";
        return false;
      }
      r.prefix = prefix < 0 ? 32 : static_cast<unsigned>(prefix);
    } else if (inet_pton(AF_INET6, addr.c_str(), r.bytes.data()) == 1) {
      r.v6 = true;
      r.prefix = prefix < 0 ? 128 : static_cast<unsigned>(prefix);
    } else {
      *error = "not an IPv4 or IPv6 address in '" + item + "'";
      return false;
    }
    ranges.push_back(r);
  }
  *out = std::move(ranges);
  return true;
}

guint64 ServerSettings::pending_charge(const rtmp::Limits& limits) {
  // Reassembly buffers before publish, plus the session, its output and a TLS session.
  return std::min<guint64>(limits.max_buffered_bytes, limits.max_buffered_bytes_before_publish) +
         64 * 1024;
}

std::string ServerSettings::difference(const ServerSettings& o) const {
  if (!same_certificate(certificate, o.certificate)) {
    return !certificate     ? "TLS (this listener is plain rtmp, the element asks for rtmps)"
           : !o.certificate ? "TLS (this listener is rtmps, the element has no certificate)"
                            : "tls-certificate (another certificate)";
  }
  if (max_connections != o.max_connections) return "max-connections";
  if (limits.handshake_timeout_ms != o.limits.handshake_timeout_ms) return "handshake-timeout";
  if (limits.idle_timeout_ms != o.limits.idle_timeout_ms) return "idle-timeout";
  if (pending_memory_budget != o.pending_memory_budget) return "pending-memory";
  if (backlog != o.backlog) return "listen-backlog";
  if (reuse_port != o.reuse_port) return "reuse-port";
  if (proxy_protocol != o.proxy_protocol) return "proxy-protocol";
  if (proxy_trusted != o.proxy_trusted) return "proxy-trusted-networks";
  return "";
}

// --- the listening socket ----------------------------------------------------------------------

struct IngestServer::Listener final : IoHandler {
  IngestServer* server;
  IoLoop* loop;
  int fd = -1;
  int reserve_fd = -1;  // given up to accept-and-close when the process is out of descriptors
  uint64_t paused_until = 0;
  gint64 last_warning_us = 0;
  unsigned refused_since_warning = 0;

  Listener(IngestServer* s, IoLoop* l, int f) : server(s), loop(l), fd(f) {
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  ~Listener() override {
    if (fd >= 0) {
      loop->unwatch(fd);
      close(fd);
    }
    if (reserve_fd >= 0) close(reserve_fd);
  }

  // A refused connection is worth a warning, at most one a second per listener.
  void refused(const std::string& peer, const std::string& why) {
    ++refused_since_warning;
    gint64 now = g_get_monotonic_time();
    if (now - last_warning_us < G_USEC_PER_SEC) return;
    server->warn_route(0, peer,
                       "connection refused: " + why + " (" + std::to_string(refused_since_warning) +
                           " refused since the last warning)");
    last_warning_us = now;
    refused_since_warning = 0;
  }

  void pause(uint64_t ms) {
    loop->unwatch(fd);
    paused_until = IoLoop::now_ms() + ms;
  }

  void on_tick(uint64_t now) override {
    if (paused_until && now >= paused_until) {
      paused_until = 0;
      loop->watch(fd, EPOLLIN, this);
    }
  }

  void on_io(uint32_t) override {
    // A bounded batch per wake-up: a connection flood cannot starve the loop's other sockets.
    for (int i = 0; i < 64 && !paused_until; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int c = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: accept with the reserve one and close at once, so the peer
          // hears a refusal instead of waiting in the backlog, then back off for a moment.
          if (reserve_fd >= 0) {
            close(reserve_fd);
            int r = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
            if (r >= 0) close(r);
            reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
          }
          refused(r_peer(ss), "the process is out of file descriptors");
          pause(100);
          return;
        }
        GST_WARNING("accept failed: %s", g_strerror(errno));
        pause(100);  // an unexpected error must not spin the loop
        return;
      }
      std::string peer = peer_string(ss);
      if (server->settings_.proxy_protocol && !trusted_balancer(ss)) {
        close(c);
        refused(peer,
                "the PROXY protocol is required and this address is not in "
                "proxy-trusted-networks");
        continue;
      }
      if (server->active_.load() >= server->settings_.max_connections) {
        close(c);
        refused(peer, "connection limit (max-connections=" +
                          std::to_string(server->settings_.max_connections) + ") reached");
        continue;
      }
      const guint64 charge = ServerSettings::pending_charge(server->settings_.limits);
      if (server->pending_bytes_.load() + charge > server->settings_.pending_memory_budget) {
        close(c);
        refused(peer, "too many connections that are not publishing yet (pending-memory=" +
                          std::to_string(server->settings_.pending_memory_budget) + " bytes)");
        continue;
      }
      server->adopt(c, std::move(peer));
    }
  }

  bool trusted_balancer(const sockaddr_storage& ss) const {
    const auto& ranges = server->settings_.proxy_trusted;
    if (ranges.empty()) return true;
    bool v6 = false;
    const uint8_t* addr = nullptr;
    if (ss.ss_family == AF_INET) {
      addr = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in&>(ss).sin_addr);
    } else if (ss.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
      v6 = !IN6_IS_ADDR_V4MAPPED(&a);
      addr = v6 ? a.s6_addr : a.s6_addr + 12;
    } else {
      return false;
    }
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const NetworkRange& r) { return r.contains(v6, addr); });
  }

  static std::string r_peer(const sockaddr_storage& ss) {
    return ss.ss_family ? peer_string(ss) : "?";
  }
};

// --- a connection ------------------------------------------------------------------------------

struct IngestServer::Connection final : IoHandler, ServeStream::Waker {
  // Closures posted from other threads reach the connection through a weak token: the
  // connection resets it when it dies (on its loop, where the closures run).
  struct Token {
    Connection* c;
  };

  IngestServer* server;
  IoLoop* loop = nullptr;
  const uint64_t id;
  int fd;
  std::string peer;  // the client's address: from the PROXY header when the listener wants one
  std::shared_ptr<Token> token;
  std::unique_ptr<rtmp::ProxyHeaderReader> proxy;  // until the PROXY header is read
  uint64_t proxy_deadline = 0;
  std::shared_ptr<TlsCredentials> tls_creds;
  std::unique_ptr<TlsSession> tls;
  bool tls_ready = false;
  uint64_t tls_deadline = 0;
  std::unique_ptr<rtmp::ServerSession> session;
  uint32_t watched = 0;  // epoll events currently asked for
  bool paused_full = false;
  bool deciding = false;
  uint64_t write_blocked_since = 0;
  bool closed = false;

  // Routing.
  uint64_t route_id = 0;                          // bound route (publishing), 0 when none
  std::shared_ptr<Route> bound;                   // the same, for the media path's gate
  std::optional<rtmp::PublishRequested> pending;  // decision or takeover in flight
  uint64_t pending_route = 0;
  bool replaced = false;  // closed by a takeover
  bool charged = true;    // counts against pending_memory_budget
  int session_warnings = 0;
  std::string end_reason = "connection closed by peer";

  std::mutex stats_mu;
  ConnectionStats stats;
  BitrateMeter rate;  // of stats.bytes_in: stats_mu

  // Loop thread, from on_tick.
  void sample_rate(uint64_t now) {
    std::lock_guard<std::mutex> lock(stats_mu);
    stats.bitrate_in = rate.sample(now, stats.bytes_in);
  }

  // Serving a player (play routes; see the section below).
  std::optional<rtmp::PlayRequested> pending_play;  // decision in flight
  uint64_t pending_play_route = 0;
  uint64_t play_route_id = 0;  // the route of the play being served, 0 when none
  PlayerInfo player;
  std::shared_ptr<ServeStream> serve_stream;
  std::shared_ptr<ServeStream::Player> subscription;
  // Lives as long as the connection: the items it holds back the queued output.
  std::unique_ptr<PlayerFeed> feed;
  std::vector<rtmp::SharedItem> items;  // scratch
  std::vector<rtmp::Bytes> pieces;      // scratch for flush()
  std::vector<uint8_t> tls_scratch;

  Connection(IngestServer* s, int f, std::string p)
      : server(s),
        id(g_next_connection_id++),
        fd(f),
        peer(std::move(p)),
        token(std::make_shared<Token>(Token{this})) {
    stats.id = id;
    stats.peer = peer;
    stats.state = "handshake";
    stats.connected_us = g_get_monotonic_time();
  }

  ~Connection() override {
    token->c = nullptr;
    if (fd >= 0) close(fd);
  }

  std::weak_ptr<Token> weak() const { return token; }

  void set_state(const char* st) {
    std::lock_guard<std::mutex> lock(stats_mu);
    stats.state = st;
  }

  void warn(const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++stats.warnings;
    }
    server->warn_route(route_id        ? route_id
                       : pending_route ? pending_route
                       : play_route_id ? play_route_id
                                       : pending_play_route,
                       peer, what);
  }

  void update_watch() {
    if (closed) return;
    uint32_t want = 0;
    if (proxy) {
      if (watched != kReadEvents) loop->watch(fd, kReadEvents, this);
      watched = kReadEvents;
      return;
    }
    if (!paused_full && !deciding && (!tls || tls_ready)) want |= kReadEvents;
    bool have_output = session && !session->pending_output().empty();
    if (have_output) want |= EPOLLOUT;
    if (tls && !tls_ready) want = tls_want;
    if (want != watched) {
      loop->watch(fd, want, this);
      watched = want;
    }
  }
  uint32_t tls_want = EPOLLIN;

  // --- start ------------------------------------------------------------------------------

  void start() {
    rtmp::ServerConfig cfg;
    cfg.limits = server->settings_.limits;
    session = std::make_unique<rtmp::ServerSession>(cfg, IoLoop::now_ms());
    GST_DEBUG("connection %" G_GUINT64_FORMAT " from %s", id, peer.c_str());
    loop->add_ticker(this);
    if (server->settings_.proxy_protocol) {
      set_state("proxy-header");
      proxy = std::make_unique<rtmp::ProxyHeaderReader>(server->settings_.limits);
      const uint64_t t = server->settings_.limits.handshake_timeout_ms;
      proxy_deadline = t ? IoLoop::now_ms() + t : 0;
      update_watch();
      return;
    }
    start_client();
  }

  // After the PROXY header (if any): TLS, then RTMP.
  void start_client() {
    if (tls_creds) {
      set_state("tls-handshake");
      tls = std::make_unique<TlsSession>(tls_creds, fd);
      const uint64_t t = server->settings_.limits.handshake_timeout_ms;
      tls_deadline = t ? IoLoop::now_ms() + t : 0;
      tls_step();
      return;
    }
    update_watch();
  }

  // Reads the PROXY header: peeks what the socket holds, lets the reader take what belongs to
  // the header and consumes exactly that, so the client's first bytes stay in the socket.
  void proxy_step() {
    uint8_t buf[2048];
    const size_t want = std::min(proxy->wanted(), sizeof buf);
    ssize_t r = recv(fd, buf, want, MSG_PEEK);
    if (r == 0) {
      finish("closed before its PROXY protocol header", true);
      return;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      finish(std::string("receive failed: ") + g_strerror(errno), false);
      return;
    }
    auto took = proxy->receive(rtmp::Bytes(buf, static_cast<size_t>(r)));
    if (!took.ok()) {
      finish("bad PROXY protocol header (the listener requires one): " + took.error().to_string(),
             true);
      return;
    }
    ssize_t used = recv(fd, buf, *took, 0);
    if (used != static_cast<ssize_t>(*took)) {
      finish("receive failed while reading the PROXY header", false);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.bytes_in += *took;
    }
    if (!proxy->done()) return;
    const rtmp::ProxyHeader& h = proxy->header();
    if (h.has_addresses()) {
      std::string real = h.source.address + ":" + std::to_string(h.source.port);
      GST_DEBUG("connection %" G_GUINT64_FORMAT " from %s relayed by %s (PROXY v%d)", id,
                real.c_str(), peer.c_str(), h.version);
      peer = std::move(real);
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.peer = peer;
    }
    proxy.reset();
    proxy_deadline = 0;
    set_state("handshake");
    start_client();
    // The client's first bytes may already wait in the socket: level-triggered readiness
    // brings us back for them.
  }

  void tls_step() {
    switch (tls->handshake()) {
      case TlsSession::Io::kDone:
        tls_ready = true;
        tls_deadline = 0;
        set_state("handshake");
        GST_DEBUG("%s: TLS handshake done", peer.c_str());
        update_watch();
        // The client's first RTMP bytes may have come with its last handshake flight.
        if (tls->pending())
          loop->post([w = weak()] {
            if (auto t = w.lock(); t && t->c) t->c->on_io(EPOLLIN);
          });
        return;
      case TlsSession::Io::kWantRead:
        tls_want = EPOLLIN;
        update_watch();
        return;
      case TlsSession::Io::kWantWrite:
        tls_want = EPOLLOUT;
        update_watch();
        return;
      case TlsSession::Io::kClosed:
      case TlsSession::Io::kError:
        // A plain rtmp client on the rtmps port ends here: a bad peer, not an element fault.
        finish("TLS handshake failed: " +
                   (tls->error().empty() ? std::string("connection closed") : tls->error()),
               true);
        return;
    }
  }

  // --- I/O ----------------------------------------------------------------------------------

  void on_io(uint32_t events) override {
    if (closed) return;
    if (proxy) {
      proxy_step();
      return;
    }
    if (tls && !tls_ready) {
      tls_step();
      return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !paused_full && !deciding) {
      if (!read_some()) return;
    }
    if (!closed) process_events();
    if (!closed) flush();
  }

  // Reads what is there (one recv for a plain socket: level-triggered readiness brings us
  // back; TLS until it would block, bounded). Returns false once the connection is closed.
  bool read_some() {
    uint8_t* buf = loop->read_buffer();
    size_t total = 0;
    for (;;) {
      size_t n = 0;
      if (tls) {
        TlsSession::Io io = tls->read(buf, IoLoop::kReadBufferSize, &n);
        if (io == TlsSession::Io::kWantRead || io == TlsSession::Io::kWantWrite) break;
        if (io == TlsSession::Io::kClosed) {
          finish("connection closed by peer", false);
          return false;
        }
        if (io == TlsSession::Io::kError) {
          finish("receive failed: " + tls->error(), false);
          return false;
        }
      } else {
        ssize_t r = recv(fd, buf, IoLoop::kReadBufferSize, 0);
        if (r == 0) {
          finish("connection closed by peer", false);
          return false;
        }
        if (r < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
          finish(std::string("receive failed: ") + g_strerror(errno), false);
          return false;
        }
        n = static_cast<size_t>(r);
      }
      total += n;
      {
        std::lock_guard<std::mutex> lock(stats_mu);
        stats.bytes_in += n;
      }
      (void)session->receive(rtmp::Bytes(buf, n), IoLoop::now_ms());
      process_events();
      if (closed) return false;
      if (!tls || paused_full || deciding) break;
      if (total >= kReadBudget) {
        // More may wait inside TLS where the socket cannot show it: come back after the others.
        loop->post([w = weak()] {
          if (auto t = w.lock(); t && t->c) t->c->on_io(EPOLLIN);
        });
        break;
      }
    }
    return true;
  }

  // Writes the session's output as far as the socket takes it. A player's output holds the
  // stream's payloads between its chunk headers (borrowed): one sendmsg takes them where they
  // are; TLS gathers them into one record.
  void flush() {
    while (session) {
      const size_t total = session->pending_output_pieces(pieces, kMaxWritePieces);
      if (total == 0) {
        write_blocked_since = 0;
        break;
      }
      size_t n = 0;
      if (tls) {
        rtmp::Bytes out = pieces[0];
        if (pieces.size() > 1) {
          // The same bytes again after kWantWrite: the output only grows at its end.
          tls_scratch.clear();
          for (rtmp::Bytes p : pieces) {
            if (tls_scratch.size() >= kTlsWriteBytes) break;
            tls_scratch.insert(tls_scratch.end(), p.begin(), p.end());
          }
          out = rtmp::Bytes(tls_scratch);
        }
        TlsSession::Io io = tls->write(out.data(), out.size(), &n);
        if (io == TlsSession::Io::kError || io == TlsSession::Io::kClosed) {
          finish("send failed: " + tls->error(), false);
          return;
        }
        if (io != TlsSession::Io::kDone) n = 0;
      } else {
        iovec vec[kMaxWritePieces];
        for (size_t i = 0; i < pieces.size(); ++i) {
          vec[i].iov_base = const_cast<uint8_t*>(pieces[i].data());
          vec[i].iov_len = pieces[i].size();
        }
        msghdr msg{};
        msg.msg_iov = vec;
        msg.msg_iovlen = pieces.size();
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            finish(std::string("send failed: ") + g_strerror(errno), false);
            return;
          }
          w = 0;
        }
        n = static_cast<size_t>(w);
      }
      if (n == 0) {
        if (!write_blocked_since) write_blocked_since = IoLoop::now_ms();
        break;
      }
      session->consume_output(n);
      if (feed) feed->sent_up_to(session->bytes_sent());
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.bytes_out += n;
    }
    if (feed) update_player_stats();
    if (!closed && session && session->closed() && session->pending_output().empty()) {
      finish(end_reason, false);
      return;
    }
    update_watch();
  }

  void on_tick(uint64_t now) override {
    if (closed) return;
    sample_rate(now);
    if (proxy) {
      if (proxy_deadline && now >= proxy_deadline) {
        finish("no PROXY protocol header within " +
                   std::to_string(server->settings_.limits.handshake_timeout_ms) + " ms",
               true);
      }
      return;
    }
    if (tls && !tls_ready) {
      if (tls_deadline && now >= tls_deadline) {
        finish("TLS handshake failed: no TLS handshake within " +
                   std::to_string(server->settings_.limits.handshake_timeout_ms) + " ms",
               true);
      }
      return;
    }
    // A peer that stopped reading: its window is full and our output waits. Bounded like
    // silence (idle-timeout, or 30 s without one).
    const uint64_t idle = server->settings_.limits.idle_timeout_ms;
    const uint64_t send_limit = idle ? idle : 30'000;
    if (write_blocked_since && now - write_blocked_since >= send_limit) {
      warn("the peer stopped reading (send timed out): closing the connection");
      finish("send timed out", false);
      return;
    }
    if (paused_full || deciding) {
      // We stopped reading, the peer is not idle: keep its idle clock from running out.
      (void)session->receive(rtmp::Bytes{}, now);
      return;
    }
    if (auto next = session->next_timeout(); next && now >= *next) {
      session->handle_timeout(now);
      process_events();
      if (!closed) flush();
    }
  }

  // --- session events ------------------------------------------------------------------------

  void process_events() {
    // While a publish decision is pending, later events wait in the session (in order).
    while (!closed && !deciding) {
      auto ev = session->next_event();
      if (!ev) break;
      if (auto p = std::get_if<rtmp::PublishRequested>(&*ev)) {
        on_publish(std::move(*p));
      } else if (auto m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        deliver([&](IngestRoute* r, std::string* why) { return r->on_media(std::move(*m), why); });
      } else if (auto md = std::get_if<rtmp::MetadataReceived>(&*ev)) {
        deliver(
            [&](IngestRoute* r, std::string* why) { return r->on_metadata(std::move(*md), why); });
      } else if (auto e = std::get_if<rtmp::PublishEnded>(&*ev)) {
        release_route(true, e->reason);
      } else if (auto pl = std::get_if<rtmp::PlayRequested>(&*ev)) {
        on_play(std::move(*pl));
      } else if (auto pe = std::get_if<rtmp::PlayEnded>(&*ev)) {
        if (feed && feed->playing() && pe->stream_id == feed->stream_id()) end_player(pe->reason);
      } else if (auto rc = std::get_if<rtmp::ReceiveChanged>(&*ev)) {
        // Video turned back on starts at the next keyframe.
        if (feed && rc->video && rc->enabled) feed->restart();
      } else if (auto pp = std::get_if<rtmp::PlayPaused>(&*ev)) {
        if (feed && !pp->paused) feed->restart();  // a live stream resumes at a keyframe
      } else if (auto sk = std::get_if<rtmp::SeekRequested>(&*ev)) {
        // A live stream has one position, now. Players wait for Seek.Notify (librtmp holds
        // its reads until it comes) and flush what they buffered: answer, then restart video
        // at the next keyframe, as after an unpause.
        if (feed && feed->playing() && sk->stream_id == feed->stream_id()) {
          (void)session->accept_seek(sk->stream_id, sk->position_ms);
          feed->restart();
        }
      } else if (auto cr = std::get_if<rtmp::ConnectRequested>(&*ev)) {
        std::lock_guard<std::mutex> lock(stats_mu);
        stats.app = cr->app;
        stats.flash_ver = cr->flash_ver;
        stats.state = "connected";
      } else if (auto w = std::get_if<rtmp::SessionWarning>(&*ev)) {
        GST_DEBUG("%s: %s", peer.c_str(), w->error.to_string().c_str());
        // Faults reach the bus; tolerated extensions (unknown commands or message types,
        // shared objects: kUnsupported) are only logged, so an encoder's quirk is no alarm.
        if (w->error.code != rtmp::Errc::kUnsupported &&
            ++session_warnings <= kMaxSessionWarnings) {
          warn(w->error.to_string() +
               (session_warnings == kMaxSessionWarnings ? " (further warnings not posted)" : ""));
        }
      } else if (auto cl = std::get_if<rtmp::SessionClosed>(&*ev)) {
        if (cl->error) {
          end_reason = cl->error->to_string();
          warn("closing connection: " + end_reason);
        }
      }
    }
  }

  template <class Fn>
  void deliver(Fn&& fn) {
    if (!bound) return;
    Intake intake = Intake::kMore;
    std::string why;
    if (!server->enter(*bound, [&](IngestRoute* r) { intake = fn(r, &why); })) return;
    if (intake == Intake::kFull) {
      paused_full = true;
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.paused = true;
    } else if (intake == Intake::kBad) {
      warn("closing connection: " + why);
      end_reason = why;
      session->close();
      finish(why, false);
    }
  }

  void resume() {
    if (closed || !paused_full) return;
    paused_full = false;
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.paused = false;
    }
    (void)session->receive(rtmp::Bytes{}, IoLoop::now_ms());  // restart the idle clock
    update_watch();
    // Bytes may already wait in TLS or in the session's event queue.
    on_io(EPOLLIN);
  }

  // --- publishing -------------------------------------------------------------------------

  void refuse(const rtmp::PublishRequested& p, const std::string& reason) {
    GST_INFO("%s: publish of %s/%s refused: %s", peer.c_str(), p.app.c_str(), p.stream_name.c_str(),
             reason.c_str());
    (void)session->reject_publish(p.stream_id, rtmp::PublishRejection::kBadName, reason);
  }

  void on_publish(rtmp::PublishRequested&& p) {
    std::string reason;
    uint64_t rid = 0;
    IngestRoute* target = nullptr;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      Route* r = server->find_route_locked(p.app, p.stream_name);
      if (route_id || pending) {
        reason = "this connection is already publishing";
      } else if (!r) {
        reason = "no stream '" + p.app + "/" + p.stream_name + "' here";
      } else if (r->publisher && !r->allow_takeover) {
        reason = "stream '" + p.app + "/" + p.stream_name + "' is already being published";
      } else {
        rid = r->id;
        target = r->route;
        target->ref();  // released by the decision thread
      }
    }
    if (!target) {
      refuse(p, reason);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.stream = p.stream_name;
      stats.state = "deciding";
    }
    PublisherInfo info{id, peer, p.app, p.stream_name, p.query, p.tc_url, p.flash_ver};
    pending = std::move(p);
    pending_route = rid;
    deciding = true;
    update_watch();
    // The application's publish-request handler runs here, on a thread of its own.
    try {
      std::thread([pool = server->pool_, l = loop, w = weak(), target, rid, info]() {
        std::string why;
        bool ok = target->decide_publish(info, &why);
        target->unref();
        l->post([w, rid, ok, why] {
          if (auto t = w.lock(); t && t->c) t->c->decided(rid, ok, why);
        });
      }).detach();
    } catch (const std::system_error&) {
      target->unref();
      deciding = false;
      auto req = std::move(*pending);
      pending.reset();
      refuse(req, "the server is out of threads");
    }
  }

  // The decision is back (loop thread).
  void decided(uint64_t rid, bool ok, const std::string& why) {
    if (closed || !pending || pending_route != rid) return;
    if (!ok) {
      deciding = false;
      auto req = std::move(*pending);
      pending.reset();
      pending_route = 0;
      set_state("connected");
      refuse(req, why.empty() ? "refused by the application" : why);
      resume_processing();
      return;
    }
    try_bind();
  }

  // Binds the decided publish, or waits for the publisher it takes over from to leave.
  void try_bind() {
    std::string reason;
    uint64_t old = 0, previous_successor = 0;
    bool bind = false;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      Route* r = server->route_by_id_locked(pending_route);
      if (!r || r->closing) {
        reason = "stream is closing";
      } else if (r->publisher && r->publisher != id) {
        if (!r->allow_takeover) {
          reason = "stream '" + pending->app + "/" + pending->stream_name +
                   "' is already being published";
        } else {
          // Takeover: the old publisher is closed; we bind when it has left the route.
          old = r->publisher;
          if (r->successor && r->successor != id) previous_successor = r->successor;
          r->successor = id;
        }
      } else {
        r->publisher = id;
        if (r->successor == id) r->successor = 0;
        bind = true;
      }
    }
    if (previous_successor) {
      server->with_connection(previous_successor, [](Connection* c) {
        c->abandon("a newer publisher took the stream over");
      });
    }
    if (old) {
      GST_INFO("%s takes %s/%s over", peer.c_str(), pending->app.c_str(),
               pending->stream_name.c_str());
      server->with_connection(old, [](Connection* c) { c->taken_over(); });
      return;  // stays deciding (not reading) until the old one is gone
    }
    if (!bind) {
      abandon(reason);
      return;
    }
    route_id = pending_route;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      auto it = server->routes_by_id_.find(route_id);
      if (it != server->routes_by_id_.end()) bound = it->second;
    }
    pending_route = 0;
    auto req = std::move(*pending);
    pending.reset();
    if (charged) {
      server->pending_bytes_ -= ServerSettings::pending_charge(server->settings_.limits);
      charged = false;
    }
    PublisherInfo info{id, peer, req.app, req.stream_name, req.query, req.tc_url, req.flash_ver};
    bool entered = server->enter(route_id, [&](IngestRoute* r) { r->on_publisher_bound(info); });
    if (!entered) {
      route_id = 0;
      bound.reset();
      refuse(req, "stream is closing");
    } else {
      (void)session->accept_publish(req.stream_id);
      set_state("publishing");
    }
    deciding = false;
    resume_processing();
  }

  // A decided publish that can no longer bind.
  void abandon(const std::string& reason) {
    if (closed || !pending) return;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      if (Route* r = server->route_by_id_locked(pending_route); r && r->successor == id) {
        r->successor = 0;
      }
    }
    auto req = std::move(*pending);
    pending.reset();
    pending_route = 0;
    deciding = false;
    set_state("connected");
    refuse(req, reason);
    resume_processing();
  }

  void resume_processing() {
    update_watch();
    process_events();
    if (!closed) flush();
  }

  void taken_over() {
    if (closed) return;
    replaced = true;
    finish("taken over by a new publisher", false);
  }

  // Leaves the bound route: the element hears it, and a waiting successor may bind.
  void release_route(bool clean, const std::string& why) {
    if (!route_id) return;
    uint64_t rid = route_id;
    route_id = 0;
    bound.reset();
    uint64_t successor = 0;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      if (Route* r = server->route_by_id_locked(rid); r && r->publisher == id) {
        r->publisher = 0;
        successor = r->successor;
      }
    }
    const bool was_replaced = replaced || successor != 0;
    server->enter(rid, [&](IngestRoute* r) { r->on_publisher_gone(clean, why, was_replaced); });
    if (successor) {
      server->with_connection(successor, [](Connection* c) {
        if (c->pending) c->try_bind();
      });
    }
    set_state("connected");
  }

  // Ends the connection: the route is released, the goodbye flushed (best effort), the socket
  // closed, and the connection retired from its loop. `bad_peer_tls`: a failed TLS handshake.
  void finish(const std::string& why, bool bad_peer_tls) {
    if (closed) return;
    closed = true;
    if (bad_peer_tls) {
      warn(why);
    } else if (session && !session->handshake_done() && !session->closed() &&
               why != "closed by the element") {
      // Gone before finishing the handshake (a port scanner, a truncated C1, a wrong
      // protocol that gave up): a bad peer.
      warn("closed during the RTMP handshake after " + std::to_string(session->bytes_received()) +
           " bytes: " + why);
    }
    if (pending) abandon_quietly();
    release_route(false, why);
    pending_play.reset();
    end_player(why);
    GST_DEBUG("connection %" G_GUINT64_FORMAT " from %s ended: %s", id, peer.c_str(), why.c_str());
    // Best effort: a goodbye still queued (a refusal, a _result) goes if the socket takes it.
    if (session && !session->pending_output().empty()) {
      rtmp::Bytes out = session->pending_output();
      size_t n = 0;
      if (tls && tls_ready) {
        (void)tls->write(out.data(), out.size(), &n);
      } else if (!tls) {
        ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
      }
    }
    if (tls && tls_ready) tls->bye();
    if (watched) loop->unwatch(fd);
    shutdown(fd, SHUT_RDWR);
    server->forget(this);
  }

  void abandon_quietly() {
    std::lock_guard<std::mutex> lock(server->mu_);
    if (Route* r = server->route_by_id_locked(pending_route); r && r->successor == id) {
      r->successor = 0;
    }
    pending.reset();
    pending_route = 0;
  }

  void close_from_element() {
    end_reason = "closed by the element";
    finish(end_reason, false);
  }

  // --- serving a player ----------------------------------------------------------------------
  // play -> route found -> codecs admitted -> [decision on a thread of its own] -> accept_play,
  // subscribed to the route's stream: the cache's join items, then whatever the stream's
  // producer pushes, woken through wake(); each item goes through this player's PlayerFeed.

  void refuse_play(const rtmp::PlayRequested& p, rtmp::PlayRejection why,
                   const std::string& reason) {
    GST_INFO("%s: play of %s/%s refused: %s", peer.c_str(), p.app.c_str(), p.stream_name.c_str(),
             reason.c_str());
    (void)session->reject_play(p.stream_id, why, reason);
  }

  void on_play(rtmp::PlayRequested&& p) {
    std::string reason;
    rtmp::PlayRejection code = rtmp::PlayRejection::kStreamNotFound;
    uint64_t rid = 0;
    std::shared_ptr<ServeStream> stream;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      PlayEntry* r = best_route(server->play_routes_, p.app, p.stream_name);
      if (pending_play || (feed && feed->playing()) || route_id || pending) {
        code = rtmp::PlayRejection::kFailed;
        reason = "this connection is already playing or publishing";
      } else if (!r) {
        // A player pointed at an ingest (or at a key nobody serves) hears it at once.
        reason = server->play_routes_.empty()
                     ? "this is an ingest: it accepts publishers only"
                     : "no stream '" + p.app + "/" + p.stream_name + "' here";
      } else {
        rid = r->id;
        stream = r->stream;
      }
    }
    if (!stream) {
      refuse_play(p, code, reason);
      return;
    }
    if (rtmp::Admission a = stream->admit(p.peer_caps); a != rtmp::Admission::kAllowed) {
      refuse_play(p, rtmp::PlayRejection::kNoSupportedTrack, rtmp::admission_reason(a));
      return;
    }
    if (stream->ended()) {
      refuse_play(p, rtmp::PlayRejection::kStreamNotFound,
                  "stream '" + p.app + "/" + p.stream_name + "' has ended");
      return;
    }
    PlayerInfo info{id,      peer,     p.app,       p.stream_name,
                    p.query, p.tc_url, p.flash_ver, p.peer_caps.present_any};
    PlayRoute* decider = nullptr;
    const bool open = server->enter_play(rid, [&](PlayRoute* r) {
      if (r->wants_decision()) {
        decider = r;
        r->ref();  // released by the decision thread
      }
    });
    if (!open) {
      refuse_play(p, rtmp::PlayRejection::kStreamNotFound, "stream is closing");
      return;
    }
    if (!decider) {
      bind_player(rid, p, info);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.stream = p.stream_name;
      stats.state = "deciding";
    }
    pending_play = std::move(p);
    pending_play_route = rid;
    deciding = true;
    update_watch();
    // The application's play-request handler runs here, on a thread of its own.
    try {
      std::thread([l = loop, w = weak(), decider, rid, info]() {
        std::string why;
        bool ok = decider->decide_play(info, &why);
        decider->unref();
        l->post([w, rid, ok, why, info] {
          if (auto t = w.lock(); t && t->c) t->c->play_decided(rid, ok, why, info);
        });
      }).detach();
    } catch (const std::system_error&) {
      decider->unref();
      deciding = false;
      auto req = std::move(*pending_play);
      pending_play.reset();
      pending_play_route = 0;
      refuse_play(req, rtmp::PlayRejection::kFailed, "the server is out of threads");
    }
  }

  // The play decision is back (loop thread).
  void play_decided(uint64_t rid, bool ok, const std::string& why, const PlayerInfo& info) {
    if (closed || !pending_play || pending_play_route != rid) return;
    deciding = false;
    auto req = std::move(*pending_play);
    pending_play.reset();
    pending_play_route = 0;
    set_state("connected");
    if (!ok) {
      refuse_play(req, rtmp::PlayRejection::kFailed,
                  why.empty() ? "refused by the application" : why);
    } else {
      bind_player(rid, req, info);
    }
    if (!closed) resume_processing();
  }

  void bind_player(uint64_t rid, const rtmp::PlayRequested& req, const PlayerInfo& info) {
    std::shared_ptr<ServeStream> stream;
    PlayRouteSettings settings;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      if (PlayEntry* r = server->play_route_by_id_locked(rid); r && !r->closing) {
        stream = r->stream;
        settings = r->settings;
        r->players.push_back(id);
      }
    }
    if (!stream) {
      refuse_play(req, rtmp::PlayRejection::kStreamNotFound, "stream is closing");
      return;
    }
    if (!session->accept_play(req.stream_id).ok()) {
      // The player ended that play while it was decided (closeStream): nothing to serve.
      std::lock_guard<std::mutex> lock(server->mu_);
      if (PlayEntry* r = server->play_route_by_id_locked(rid)) std::erase(r->players, id);
      return;
    }
    if (!feed) feed = std::make_unique<PlayerFeed>(settings.gate);
    feed->start(req.stream_id, req.peer_caps);
    play_route_id = rid;
    player = info;
    serve_stream = stream;
    if (charged) {
      server->pending_bytes_ -= ServerSettings::pending_charge(server->settings_.limits);
      charged = false;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.stream = req.stream_name;
      stats.state = "playing";
    }
    GST_DEBUG("%s plays %s/%s", peer.c_str(), req.app.c_str(), req.stream_name.c_str());
    server->enter_play(rid, [&](PlayRoute* r) { r->on_player_joined(player); });
    items.clear();
    subscription = stream->subscribe(this, &items);
    offer_items();
  }

  // ServeStream::Waker: items wait for this player (producer thread, stream lock held).
  void wake() override {
    loop->post([w = weak()] {
      if (auto t = w.lock(); t && t->c && !t->c->closed) t->c->drain_player();
    });
  }

  void drain_player() {
    if (closed || !subscription) return;
    items.clear();
    ServeStream::Taken taken = serve_stream->take(*subscription, items);
    if (taken.resync) feed->restart();
    if (!offer_items()) return;
    if (taken.ended) {
      (void)session->notify_play(feed->stream_id(), rtmp::PlayNotice::kStopped);
      end_player("the stream ended");
    }
    flush();
  }

  // Offers `items` in order; false once the player was dropped (the connection is closed).
  bool offer_items() {
    const uint64_t now = IoLoop::now_ms();
    for (const auto& item : items) {
      if (session->pending_output_size() >= kOfferFlushBytes) {
        flush();
        if (closed) return false;
      }
      if (feed->offer(*session, item, now) == rtmp::GateVerdict::kDrop) {
        items.clear();
        const std::string why = "player dropped: it does not keep up (" +
                                std::to_string(session->pending_output_size()) +
                                " bytes queued for it)";
        warn(why);
        end_reason = why;
        finish(why, false);
        return false;
      }
    }
    items.clear();
    return true;
  }

  // The play is over (the player ended it, the stream ended, the connection goes).
  void end_player(const std::string& why) {
    if (!play_route_id) return;
    if (subscription) serve_stream->unsubscribe(subscription);
    subscription.reset();
    serve_stream.reset();
    feed->stop();
    const uint64_t rid = play_route_id;
    play_route_id = 0;
    {
      std::lock_guard<std::mutex> lock(server->mu_);
      if (PlayEntry* r = server->play_route_by_id_locked(rid)) std::erase(r->players, id);
    }
    GST_DEBUG("%s stopped playing: %s", peer.c_str(), why.c_str());
    server->enter_play(rid, [&](PlayRoute* r) { r->on_player_left(player, why); });
    update_player_stats();
    set_state("connected");
  }

  // The route goes (remove_play_route): the stream is over for this player.
  void unrouted() {
    if (subscription) (void)session->notify_play(feed->stream_id(), rtmp::PlayNotice::kStopped);
    close_from_element();
  }

  void update_player_stats() {
    std::lock_guard<std::mutex> lock(stats_mu);
    stats.queued_bytes = session->pending_output_size();
    stats.messages_sent = feed->sent();
    stats.skipped = feed->skipped();
    stats.cut_back = feed->cut_back();
  }
};

// --- the server ---------------------------------------------------------------------------------

std::shared_ptr<IngestServer> IngestServer::acquire(const std::string& address, guint16 port,
                                                    const ServerSettings& settings,
                                                    GError** error) {
  init_debug();
  std::unique_lock<std::mutex> lock(g_registry_mu);
  std::string key = address + ":" + std::to_string(port);
  if (port != 0) {
    auto it = registry().find(key);
    if (it != registry().end()) {
      if (auto existing = it->second.lock()) {
        ServerSettings now = existing->settings_;
        std::lock_guard<std::mutex> tls_lock(existing->tls_mu_);
        now.certificate = existing->certificate_;  // after a replace_certificate, the new one
        std::string diff = now.difference(settings);
        if (diff.empty()) return existing;
        g_set_error(error, G_IO_ERROR, kListenerMismatch,
                    "elements sharing %s disagree about %s: every listener setting "
                    "(TLS certificate, max-connections, handshake-timeout, idle-timeout, "
                    "pending-memory, listen-backlog, reuse-port, proxy-protocol, "
                    "proxy-trusted-networks) must be the same",
                    key.c_str(), diff.c_str());
        return nullptr;
      }
    }
  }
  std::shared_ptr<IngestServer> server(new IngestServer(key, settings));
  if (!server->start(address, port, error)) {
    lock.unlock();  // the destructor takes the registry lock
    return nullptr;
  }
  // A free port, once bound, is shared like any other: an element given that port number
  // joins this listener.
  if (port == 0) server->registry_key_ = address + ":" + std::to_string(server->bound_port_);
  registry()[server->registry_key_] = server;
  return server;
}

IngestServer::IngestServer(std::string key, const ServerSettings& settings)
    : registry_key_(std::move(key)), settings_(settings), pool_(IoPool::get()) {
  if (settings_.certificate) g_object_ref(settings_.certificate);
  if (settings_.certificate) certificate_ = G_TLS_CERTIFICATE(g_object_ref(settings_.certificate));
}

bool IngestServer::replace_certificate(GTlsCertificate* certificate, std::string* error) {
  if (!settings_.certificate) {
    *error = "the listener is plain rtmp";
    return false;
  }
  if (!certificate) {
    *error = "no certificate";
    return false;
  }
  auto creds = TlsCredentials::from_certificate(certificate, error);
  if (!creds) return false;
  g_object_ref(certificate);
  GTlsCertificate* old = nullptr;
  {
    std::lock_guard<std::mutex> lock(tls_mu_);
    tls_creds_ = std::move(creds);
    old = certificate_;
    certificate_ = certificate;
  }
  if (old) g_object_unref(old);
  return true;
}

bool IngestServer::start(const std::string& address, guint16 port, GError** error) {
  if (settings_.certificate) {
    std::string why;
    tls_creds_ = TlsCredentials::from_certificate(settings_.certificate, &why);
    if (!tls_creds_) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s", why.c_str());
      return false;
    }
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid listen address '%s'",
                address.c_str());
    return false;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s", g_strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (settings_.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // The kernel caps the backlog at net.core.somaxconn: a burst of publishers (a restarting
  // encoder farm, a flood) should not wait for SYN retransmits.
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 || listen(fd, settings_.backlog) < 0) {
    int e = errno;
    close(fd);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s", g_strerror(e));
    return false;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  bound_port_ =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  listener_loop_ = pool_->pick();
  listener_ = std::make_unique<Listener>(this, listener_loop_, fd);
  Listener* l = listener_.get();
  listener_loop_->post([l] {
    l->loop->watch(l->fd, EPOLLIN, l);
    l->loop->add_ticker(l);
  });
  GST_INFO("listening on %s:%u%s", address.c_str(), bound_port_, tls() ? " (TLS)" : "");
  return true;
}

IngestServer::~IngestServer() {
  if (IoPool::on_any_loop_thread()) {
    g_critical("gst-ertmp: an ingest listener was released on an I/O loop thread");
  }
  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto it = registry().find(registry_key_);
    if (it != registry().end() && it->second.expired()) registry().erase(it);
  }
  // 1. The listener, on its loop: no connection is adopted after this.
  if (listener_) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    Listener* l = listener_.get();
    listener_loop_->post([&, l] {
      l->loop->remove_ticker(l);
      l->loop->unwatch(l->fd);
      std::lock_guard<std::mutex> lock(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
    listener_.reset();
  }
  // 2. Every connection, on its loop (which also runs every closure posted for this server
  // before: none is left to run after we are gone).
  std::mutex m;
  std::condition_variable cv;
  size_t done = 0;
  for (size_t i = 0; i < pool_->size(); ++i) {
    IoLoop* loop = pool_->loop(i);
    loop->post([&, loop] {
      std::vector<Connection*> mine;
      {
        std::lock_guard<std::mutex> lock(conns_mu_);
        for (auto& [id, c] : connections_) {
          if (c->loop == loop) mine.push_back(c);
        }
      }
      for (Connection* c : mine) c->close_from_element();
      std::lock_guard<std::mutex> lock(m);
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done == pool_->size(); });
  if (settings_.certificate) g_object_unref(settings_.certificate);
  if (certificate_) g_object_unref(certificate_);
}

void IngestServer::adopt(int fd, std::string peer) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Keepalive finds peers that vanished without a FIN (a cut cable, a NAT that forgot us)
  // even while we are not reading from them.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int idle = 60, interval = 10, count = 6;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  auto* c = new Connection(this, fd, std::move(peer));
  {
    std::lock_guard<std::mutex> lock(tls_mu_);
    c->tls_creds = tls_creds_;
  }
  ++active_;
  pending_bytes_ += ServerSettings::pending_charge(settings_.limits);
  IoLoop* loop = pool_->pick();
  c->loop = loop;
  ++loop->load();
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    connections_[c->id] = c;
  }
  loop->post([c] { c->start(); });
}

void IngestServer::forget(Connection* c) {
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    connections_.erase(c->id);
  }
  if (c->charged) pending_bytes_ -= ServerSettings::pending_charge(settings_.limits);
  c->charged = false;
  --active_;
  --c->loop->load();
  c->loop->retire(std::unique_ptr<IoHandler>(c));
}

template <class Fn>
bool IngestServer::with_connection(uint64_t id, Fn&& fn) {
  IoLoop* loop = nullptr;
  std::weak_ptr<Connection::Token> w;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    auto it = connections_.find(id);
    if (it == connections_.end()) return false;
    loop = it->second->loop;
    w = it->second->weak();
  }
  loop->post([w, fn = std::forward<Fn>(fn)] {
    if (auto t = w.lock(); t && t->c && !t->c->closed) fn(t->c);
  });
  return true;
}

bool IngestServer::request_reconnect(uint64_t id, std::string tc_url, std::string description) {
  return with_connection(
      id, [tc_url = std::move(tc_url), description = std::move(description)](Connection* c) {
        auto st = c->session->request_reconnect(tc_url, description);
        if (!st.ok()) {
          GST_WARNING("%s: reconnect request not sent: %s", c->peer.c_str(),
                      st.error().to_string().c_str());
          return;
        }
        GST_DEBUG("%s: reconnect request sent (%s)", c->peer.c_str(),
                  tc_url.empty() ? "same URL" : tc_url.c_str());
        c->flush();
      });
}

bool IngestServer::disconnect(uint64_t id, std::string why) {
  return with_connection(id, [why = std::move(why)](Connection* c) { c->finish(why, false); });
}

void IngestServer::resume_reading(uint64_t id) {
  with_connection(id, [](Connection* c) { c->resume(); });
}

IngestServer::Route* IngestServer::find_route_locked(const std::string& app,
                                                     const std::string& key) {
  return best_route(routes_, app, key);
}

IngestServer::Route* IngestServer::route_by_id_locked(uint64_t id) {
  auto it = routes_by_id_.find(id);
  return it == routes_by_id_.end() ? nullptr : it->second.get();
}

template <class Fn>
bool IngestServer::enter(Route& r, Fn&& fn) {
  r.users.fetch_add(1);
  if (r.closing.load()) {
    if (r.users.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    return false;
  }
  fn(r.route);
  // The last one out of a closing route wakes remove_route (which waits under mu_).
  if (r.users.fetch_sub(1) == 1 && r.closing.load()) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  return true;
}

template <class Fn>
bool IngestServer::enter(uint64_t route_id, Fn&& fn) {
  std::shared_ptr<Route> r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routes_by_id_.find(route_id);
    if (it == routes_by_id_.end()) return false;
    r = it->second;
  }
  return enter(*r, std::forward<Fn>(fn));
}

void IngestServer::warn_route(uint64_t route_id, const std::string& peer, const std::string& what) {
  GST_WARNING("%s: %s", peer.c_str(), what.c_str());
  // The element the peer was publishing to, or else the first one of the listener: a bad peer
  // is worth a warning wherever it was headed.
  uint64_t target = route_id;
  uint64_t play_target = 0;  // a player's element, or the first one of a listener of players
  {
    std::lock_guard<std::mutex> lock(mu_);
    PlayEntry* pe = target ? play_route_by_id_locked(target) : nullptr;
    if (pe && !pe->closing) play_target = target;
    Route* r = target ? route_by_id_locked(target) : nullptr;
    if (!play_target && (!r || r->closing)) {
      target = 0;
      for (auto& cand : routes_) {
        if (!cand->closing) {
          target = cand->id;
          break;
        }
      }
      for (auto& cand : play_routes_) {
        if (!target && !cand->closing) {
          play_target = cand->id;
          break;
        }
      }
    }
  }
  if (play_target) {
    enter_play(play_target, [&](PlayRoute* r) { r->on_peer_warning(peer, what); });
  } else if (target) {
    enter(target, [&](IngestRoute* r) { r->on_peer_warning(peer, what); });
  }
}

bool IngestServer::add_route(const std::string& app, const std::string& key, IngestRoute* route,
                             bool allow_takeover) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : routes_) {
    if (!r->closing && r->app == app && r->key == key) return false;
  }
  auto r = std::make_shared<Route>();
  r->id = next_route_id_++;
  r->app = app;
  r->key = key;
  r->route = route;
  r->allow_takeover = allow_takeover;
  routes_by_id_[r->id] = r;
  routes_.push_back(std::move(r));
  return true;
}

void IngestServer::remove_route(IngestRoute* route) {
  uint64_t publisher = 0, successor = 0, rid = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    Route* target = nullptr;
    for (auto& r : routes_) {
      if (r->route == route && !r->closing) target = r.get();
    }
    if (!target) return;
    target->closing = true;  // nobody enters or binds any more
    rid = target->id;
    publisher = target->publisher;
    successor = target->successor;
    // Loop threads inside the element leave promptly: their calls never block.
    while (!cv_.wait_for(lock, std::chrono::seconds(5), [target] { return target->users == 0; })) {
      GST_WARNING("still waiting for an I/O loop to leave a stopping rtmpingestsrc");
    }
    routes_.erase(std::find_if(routes_.begin(), routes_.end(),
                               [rid](const std::shared_ptr<Route>& r) { return r->id == rid; }));
    routes_by_id_.erase(rid);
  }
  if (publisher) with_connection(publisher, [](Connection* c) { c->close_from_element(); });
  if (successor) {
    with_connection(successor, [](Connection* c) { c->abandon("stream is closing"); });
  }
}

// --- play routes --------------------------------------------------------------------------------

IngestServer::PlayEntry* IngestServer::play_route_by_id_locked(uint64_t id) {
  for (auto& r : play_routes_) {
    if (r->id == id) return r.get();
  }
  return nullptr;
}

// Players join and leave rarely (no per-message gate): the route's mutex is enough here.
template <class Fn>
bool IngestServer::enter_play(uint64_t route_id, Fn&& fn) {
  PlayRoute* target = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PlayEntry* r = play_route_by_id_locked(route_id);
    if (!r || r->closing) return false;
    ++r->users;
    target = r->route;
  }
  fn(target);
  std::lock_guard<std::mutex> lock(mu_);
  if (PlayEntry* r = play_route_by_id_locked(route_id)) {
    if (--r->users == 0) cv_.notify_all();
  }
  return true;
}

bool IngestServer::add_play_route(const std::string& app, const std::string& key, PlayRoute* route,
                                  std::shared_ptr<ServeStream> stream,
                                  const PlayRouteSettings& settings) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : play_routes_) {
    if (!r->closing && r->app == app && r->key == key) return false;
  }
  auto r = std::make_unique<PlayEntry>();
  r->id = next_route_id_++;
  r->app = app;
  r->key = key;
  r->route = route;
  r->stream = std::move(stream);
  r->settings = settings;
  play_routes_.push_back(std::move(r));
  return true;
}

void IngestServer::remove_play_route(PlayRoute* route) {
  std::vector<uint64_t> players;
  {
    std::unique_lock<std::mutex> lock(mu_);
    PlayEntry* target = nullptr;
    for (auto& r : play_routes_) {
      if (r->route == route && !r->closing) target = r.get();
    }
    if (!target) return;
    target->closing = true;  // nobody enters or joins any more
    // Loop threads inside the element leave promptly: its calls never block.
    while (!cv_.wait_for(lock, std::chrono::seconds(5), [target] { return target->users == 0; })) {
      GST_WARNING("still waiting for an I/O loop to leave a stopping rtmppushsink");
    }
    players = target->players;
    const uint64_t rid = target->id;
    std::erase_if(play_routes_,
                  [rid](const std::unique_ptr<PlayEntry>& r) { return r->id == rid; });
  }
  for (uint64_t p : players) with_connection(p, [](Connection* c) { c->unrouted(); });
}

std::vector<ConnectionStats> IngestServer::connection_stats() {
  std::vector<ConnectionStats> out;
  std::lock_guard<std::mutex> lock(conns_mu_);
  out.reserve(connections_.size());
  for (auto& [id, c] : connections_) {
    std::lock_guard<std::mutex> s(c->stats_mu);
    out.push_back(c->stats);
  }
  return out;
}

// --- for the elements that listen --------------------------------------------------------------

bool load_listen_certificate(const std::shared_ptr<GTlsCertificate>& certificate,
                             const std::string& certificate_file, const std::string& key_file,
                             std::shared_ptr<GTlsCertificate>* out, std::string* problem,
                             std::string* debug) {
  out->reset();
  if (certificate) {
    *out = certificate;
    return true;
  }
  if (certificate_file.empty()) {
    if (key_file.empty()) return true;
    *problem = "tls-key-file is set but tls-certificate-file is not";
    return false;
  }
  GError* err = nullptr;
  GTlsCertificate* loaded =
      key_file.empty()
          ? g_tls_certificate_new_from_file(certificate_file.c_str(), &err)
          : g_tls_certificate_new_from_files(certificate_file.c_str(), key_file.c_str(), &err);
  if (!loaded) {
    *problem = "Could not load the TLS certificate '" + certificate_file + "'" +
               (key_file.empty() ? "" : " with key '" + key_file + "'");
    *debug = err ? err->message : "unknown error";
    g_clear_error(&err);
    return false;
  }
  // Without its key the certificate loads, and every handshake would fail: say so now.
  GByteArray* key = nullptr;
  g_object_get(loaded, "private-key", &key, nullptr);
  if (!key) {
    g_object_unref(loaded);
    *problem = "the TLS certificate '" + certificate_file + "' has no private key";
    *debug = "set tls-key-file, or put the key in the certificate file";
    return false;
  }
  g_byte_array_unref(key);
  *out = std::shared_ptr<GTlsCertificate>(loaded, [](GTlsCertificate* c) { g_object_unref(c); });
  return true;
}

bool resolve_listen_address(GstElement* element, const std::string& host, std::string* out) {
  init_debug();  // GST_ELEMENT_ERROR logs in this file's category
  if (GInetAddress* literal = g_inet_address_new_from_string(host.c_str())) {
    g_object_unref(literal);
    *out = host;
    return true;
  }
  GResolver* resolver = g_resolver_get_default();
  GError* err = nullptr;
  GList* addrs = g_resolver_lookup_by_name(resolver, host.c_str(), nullptr, &err);
  g_object_unref(resolver);
  if (!addrs) {
    GST_ELEMENT_ERROR(element, RESOURCE, NOT_FOUND, ("Could not resolve '%s'", host.c_str()),
                      ("%s", err ? err->message : "no address"));
    g_clear_error(&err);
    return false;
  }
  GInetAddress* pick = nullptr;
  for (GList* l = addrs; l; l = l->next) {
    auto* a = G_INET_ADDRESS(l->data);
    if (!pick || (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4 &&
                  g_inet_address_get_family(pick) != G_SOCKET_FAMILY_IPV4)) {
      pick = a;
    }
  }
  gchar* text = g_inet_address_to_string(pick);
  *out = text;
  g_free(text);
  g_resolver_free_addresses(addrs);
  return true;
}

}  // namespace gst_ertmp
