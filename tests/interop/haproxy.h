// HAProxy (Debian's `haproxy`) as a real TCP load balancer in front of listeners under test:
// one frontend on 127.0.0.1, TCP mode, relaying every connection to one or more backends on
// 127.0.0.1 with the PROXY protocol header (`send-proxy` = version 1, `send-proxy-v2` =
// version 2) or without it. Runs in the foreground as a child (`haproxy -db`), with its own
// config, log and admin socket in a temp dir.
//
// Use:
//   Haproxy lb(backend_port, Haproxy::kV2);          // or kV1, kNone; frontend port free
//   ASSERT_TRUE(lb.ready()) << lb.log();
//   connect to 127.0.0.1:lb.port() ...                // the backend sees the PROXY header
// Several backends (round robin, e.g. two ingest processes for a drain test) and health checks:
//   Haproxy lb({{port_a, Haproxy::kV2, true}, {port_b, Haproxy::kV2, true}});
//   lb.admin("set server ertmp/s0 state drain");      // runtime API: s0, s1, ... in order
//
// Readiness is waited for on the admin socket and the frontend's LISTEN entry in
// /proc/net/tcp, never by connecting to the frontend (that would reach a backend). Test-only
// code; every wait is bounded.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/interop/rtmp_peers.h"

namespace ertmp_test {

// True when a TCP connection from 127.0.0.1:local to 127.0.0.1:remote exists (a row of
// /proc/net/tcp): proves which socket a reported address belongs to.
inline bool tcp_connection_exists(uint16_t local, uint16_t remote) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);
  char l[16], r[16];
  std::snprintf(l, sizeof l, "0100007F:%04X", local);
  std::snprintf(r, sizeof r, "0100007F:%04X", remote);
  while (std::getline(tcp, line)) {
    std::istringstream ls(line);
    std::string sl, a, b;
    ls >> sl >> a >> b;
    if (a == l && b == r) return true;
  }
  return false;
}

class Haproxy {
 public:
  enum ProxyProtocol { kNone, kV1, kV2 };
  struct Backend {
    uint16_t port = 0;
    ProxyProtocol proxy = kV2;
    // A TCP connect health check every 200 ms. With a PROXY version the check sends the
    // header too (`check-send-proxy`; version 2 checks carry the LOCAL command): a listener
    // that requires the header sees it, then the connection closes.
    bool check = false;
  };

  static bool available() {
    return have_program("haproxy") || std::filesystem::exists("/usr/sbin/haproxy");
  }

  // One backend on 127.0.0.1:backend_port; frontend on `frontend_port` (0: a free one).
  Haproxy(uint16_t backend_port, ProxyProtocol proxy, uint16_t frontend_port = 0)
      : Haproxy(std::vector<Backend>{{backend_port, proxy, false}}, frontend_port) {}

  explicit Haproxy(const std::vector<Backend>& backends, uint16_t frontend_port = 0) {
    dir_ = make_temp_dir("haproxy");
    port_ = frontend_port ? frontend_port : free_port();
    std::ofstream cfg(dir_ / "haproxy.cfg");
    cfg << "global\n"
        << "  nbthread 1\n"
        << "  log stderr format raw local0 info\n"
        << "  stats socket " << admin_path().string() << " mode 600 level admin\n"
        << "defaults\n"
        << "  mode tcp\n  log global\n  option tcplog\n"
        << "  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n"
        << "frontend ertmp_in\n"
        << "  bind 127.0.0.1:" << port_ << "\n"
        << "  default_backend ertmp\n"
        << "backend ertmp\n"
        << "  balance roundrobin\n";
    for (size_t i = 0; i < backends.size(); ++i) {
      const Backend& b = backends[i];
      cfg << "  server s" << i << " 127.0.0.1:" << b.port
          << (b.proxy == kV1   ? " send-proxy"
              : b.proxy == kV2 ? " send-proxy-v2"
                               : "")
          << (b.check ? " check inter 200 fall 1 rise 1" : "")
          << (b.check && b.proxy != kNone ? " check-send-proxy" : "") << "\n";
    }
    cfg.close();
    const std::string bin = have_program("haproxy") ? "haproxy" : "/usr/sbin/haproxy";
    child_ = std::make_unique<Child>("exec " + bin + " -db -f '" + (dir_ / "haproxy.cfg").string() +
                                     "' 2>>'" + (dir_ / "haproxy.log").string() + "'");
    // Up when the admin socket answers and the frontend listens. Neither has an event to wait
    // on from here: poll, bounded.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (listening(port_) && admin("show info").find("Name: HAProxy") != std::string::npos) {
        ready_ = true;
        break;
      }
      if (child_->wait(20) >= 0) break;  // exited: a bad config or a taken port (see log())
    }
  }
  ~Haproxy() {
    child_.reset();
    std::error_code ec;
    if (!dir_.empty() && !std::getenv("ERTMP_KEEP_HAPROXY_DIR")) {
      std::filesystem::remove_all(dir_, ec);
    }
  }
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;

  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  std::string url(const std::string& app, const std::string& key) const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/" + app + "/" + key;
  }
  const std::filesystem::path& dir() const { return dir_; }
  // HAProxy's log (one tcplog line per relayed connection, warnings): for failure messages.
  std::string log() const {
    std::ifstream in(dir_ / "haproxy.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // One command on the runtime API (the admin socket), e.g. "show servers state",
  // "set server ertmp/s0 state drain" / "ready" / "maint"; returns HAProxy's answer ("" when
  // the socket did not answer within 2 s).
  std::string admin(const std::string& command) const {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = admin_path().string();
    if (path.size() >= sizeof a.sun_path) {
      close(fd);
      return "";
    }
    std::copy(path.begin(), path.end(), a.sun_path);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string line = command + "\n";
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
        // HAProxy answers and closes (non-interactive mode): read to EOF, bounded.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        char buf[4096];
        while (std::chrono::steady_clock::now() < deadline) {
          pollfd p{fd, POLLIN, 0};
          if (poll(&p, 1, 100) <= 0) continue;
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          answer.append(buf, static_cast<size_t>(n));
        }
      }
    }
    close(fd);
    return answer;
  }

  // True when something listens on 127.0.0.1:port (a LISTEN row of /proc/net/tcp).
  static bool listening(uint16_t port) {
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line);
    char want[16];
    std::snprintf(want, sizeof want, "0100007F:%04X", port);
    while (std::getline(tcp, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, state;
      ls >> sl >> local >> remote >> state;
      if (local == want && state == "0A") return true;
    }
    return false;
  }

 private:
  std::filesystem::path admin_path() const { return dir_ / "admin.sock"; }

  std::filesystem::path dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Child> child_;
  bool ready_ = false;
};

}  // namespace ertmp_test
