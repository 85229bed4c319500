// Real RTMP peers for interop tests: an nginx-rtmp server on a loopback port of our choice, and a
// recording TCP proxy that sits between a real client and a real server and keeps both
// directions' bytes, so tests can replay exactly what ffmpeg/GStreamer/librtmp sent.
//
// Test-only code: plain POSIX sockets and one thread per proxy. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/client_session.h"
#include "protocol/url.h"

namespace ertmp_test {

inline bool have_program(const std::string& name) {
  std::string cmd = "command -v " + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// True on a CI machine (CI set and not "false"/"0"): there a missing peer or tool is a test
// failure, never a skip, because a skipped test proves nothing.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

}  // namespace ertmp_test

// ERTMP_REQUIRE(cond, what): the test needs `what` (a peer, a tool, an element; name the
// Debian package that provides it). When `cond` is false the test fails in CI and is skipped
// elsewhere with the reason. Use at the top of a test body or of SetUp (it returns).
#define ERTMP_REQUIRE(cond, what)                                                 \
  do {                                                                            \
    if (!(cond)) {                                                                \
      if (::ertmp_test::in_ci()) GTEST_FAIL() << "required in CI: " << what;      \
      GTEST_SKIP() << "needs " << what << " (tools/install-deps.sh installs it)"; \
    }                                                                             \
  } while (0)

namespace ertmp_test {

// Runs a shell command and returns its standard output.
inline std::string run_capture(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The non-empty lines of a command's output.
inline std::vector<std::string> split_lines(const std::string& out) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    if (nl > start) lines.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// ffmpeg's framemd5 of every packet of a file, one line per packet printed with the awk
// program `fields` (fields split on commas: $1 stream, $5 size, $6 MD5); `filter` selects.
inline std::vector<std::string> framemd5_lines(const std::filesystem::path& file,
                                               const std::string& fields,
                                               const std::string& filter = "") {
  return split_lines(run_capture("ffmpeg -hide_banner -loglevel error -i '" + file.string() +
                                 "' -map 0 -c copy -f framemd5 - | grep -v '^#' | "
                                 "awk -F', *' '" +
                                 filter + " {print " + fields + "}'"));
}

inline std::filesystem::path make_temp_dir(const std::string& tag) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / ("ertmp-" + tag + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* dir = mkdtemp(buf.data());
  return dir ? std::filesystem::path(dir) : std::filesystem::path();
}

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
inline int listen_loopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

inline uint16_t free_port() {
  uint16_t port = 0;
  int fd = listen_loopback(&port);
  if (fd >= 0) close(fd);
  return port;
}

inline int connect_loopback(uint16_t port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    close(fd);
    // Polling a port that a just-started server will open: there is no event to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

// A child process started with /bin/sh -c, killed (SIGTERM, then SIGKILL) on destruction.
class Child {
 public:
  Child() = default;
  explicit Child(const std::string& command) {
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }

  bool running() const { return pid_ > 0; }
  // Waits up to timeout_ms for the child to exit; returns its exit status or -1 on timeout.
  int wait(int timeout_ms) {
    if (pid_ <= 0) return status_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      int st = 0;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // no pidfd wait on all kernels
    }
  }
  void signal(int sig) {
    if (pid_ > 0) kill(-pid_, sig);
  }
  void stop() {
    if (pid_ <= 0) return;
    signal(SIGTERM);
    if (wait(3000) < 0) {
      signal(SIGKILL);
      wait(3000);
    }
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// nginx with the rtmp module, listening on 127.0.0.1:<port>, application `live`, optionally
// recording every publish to FLV files in dir()/rec. Runs in the foreground as a child.
class NginxRtmp {
 public:
  static bool available() {
    return std::filesystem::exists("/usr/lib/nginx/modules/ngx_rtmp_module.so") &&
           (std::filesystem::exists("/usr/sbin/nginx") || have_program("nginx"));
  }

  // `port` 0: a free one; else that port (a server restarted where its clients reconnect).
  explicit NginxRtmp(bool record = false, uint16_t port = 0) {
    dir_ = make_temp_dir("nginx");
    std::filesystem::create_directories(dir_ / "rec");
    port_ = port ? port : free_port();
    std::ofstream conf(dir_ / "nginx.conf");
    conf << "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n"
         << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
         << "error_log " << (dir_ / "error.log").string() << " info;\n"
         << "pid " << (dir_ / "nginx.pid").string() << ";\n"
         << (geteuid() == 0 ? "user root;\n" : "") << "events { worker_connections 256; }\n"
         << "rtmp { server { listen 127.0.0.1:" << port_ << "; chunk_size 4096;\n"
         << "  application live { live on;\n";
    if (record) {
      conf << "    record all; record_path " << (dir_ / "rec").string() << "; record_unique off;\n";
    }
    conf << "  } } }\n";
    conf.close();
    child_ = std::make_unique<Child>("exec nginx -p " + dir_.string() + " -c " +
                                     (dir_ / "nginx.conf").string() + " 2>>" +
                                     (dir_ / "stderr.log").string());
    int fd = connect_loopback(port_, 5000);
    ready_ = fd >= 0;
    if (fd >= 0) close(fd);
  }
  ~NginxRtmp() {
    child_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string url(const std::string& key) const {
    return "rtmp://127.0.0.1:" + std::to_string(port_) + "/live/" + key;
  }
  // Stops nginx so recordings are finalized.
  void stop() { child_.reset(); }

 private:
  std::filesystem::path dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Child> child_;
  bool ready_ = false;
};

// Forwards one or more client connections on listen port() to 127.0.0.1:<upstream> and records
// the bytes of each direction of the FIRST connection.
class RecordingProxy {
 public:
  explicit RecordingProxy(uint16_t upstream) : upstream_(upstream) {
    listen_fd_ = listen_loopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~RecordingProxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  uint16_t port() const { return port_; }

  std::vector<uint8_t> client_to_server() const {
    std::lock_guard<std::mutex> l(mu_);
    return c2s_;
  }
  std::vector<uint8_t> server_to_client() const {
    std::lock_guard<std::mutex> l(mu_);
    return s2c_;
  }
  // True once the first proxied connection has closed on both sides.
  bool finished() const { return finished_; }
  bool wait_finished(int timeout_ms) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!finished_) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  void run() {
    pollfd lp{listen_fd_, POLLIN, 0};
    while (!stop_) {
      if (poll(&lp, 1, 50) <= 0) continue;
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int server = connect_loopback(upstream_, 2000);
      if (server < 0) {
        close(client);
        continue;
      }
      pump(client, server);
      close(client);
      close(server);
      finished_ = true;
    }
  }
  void pump(int client, int server) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    bool open[2] = {true, true};
    uint8_t buf[65536];
    while (!stop_ && (open[0] || open[1])) {
      fds[0].fd = open[0] ? client : -1;
      fds[1].fd = open[1] ? server : -1;
      if (poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        int other = i == 0 ? server : client;
        if (n <= 0) {
          open[i] = false;
          shutdown(other, SHUT_WR);
          continue;
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          auto& rec = i == 0 ? c2s_ : s2c_;
          rec.insert(rec.end(), buf, buf + n);
        }
        for (ssize_t off = 0; off < n;) {
          ssize_t w = write(other, buf + off, static_cast<size_t>(n - off));
          if (w <= 0) {
            open[0] = open[1] = false;
            break;
          }
          off += w;
        }
      }
    }
  }

  uint16_t upstream_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex mu_;
  std::vector<uint8_t> c2s_, s2c_;
};

// Our rtmp::ClientSession publishing over a blocking POSIX socket: the exchange up to
// NetStream.Publish.Start, then media, then a clean stop that waits (bounded) for the server
// to hang up, so it has processed every byte.
class SocketPublisher {
 public:
  explicit SocketPublisher(rtmp::ClientConfig config) : session_(std::move(config), 0) {}
  ~SocketPublisher() {
    if (fd_ >= 0) close(fd_);
  }
  SocketPublisher(const SocketPublisher&) = delete;
  SocketPublisher& operator=(const SocketPublisher&) = delete;

  rtmp::ClientSession& session() { return session_; }

  // Connects to 127.0.0.1:port and publishes; the server's refusal or a timeout is an error.
  rtmp::Status start(uint16_t port, int attempts = 100) {
    fd_ = connect_loopback(port, 5000);
    if (fd_ < 0) return rtmp::make_error(rtmp::Errc::kInternal, "connect failed");
    std::optional<rtmp::Error> failure;
    for (int i = 0; i < attempts && !session_.publishing() && !session_.closed(); ++i) {
      if (!flush()) break;
      pump(100);
      while (auto ev = session_.next_event()) {
        if (auto cl = std::get_if<rtmp::ClientClosed>(&*ev); cl && cl->error) failure = cl->error;
      }
    }
    if (session_.publishing()) return rtmp::Ok{};
    return failure ? *failure : rtmp::make_error(rtmp::Errc::kTimeout, "publish did not start");
  }

  // Writes what the session queued; false when the socket failed.
  bool flush() {
    while (!session_.pending_output().empty()) {
      rtmp::Bytes b = session_.pending_output();
      ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      session_.consume_output(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads once (waiting up to timeout_ms) into the session; false on timeout, EOF or error.
  bool pump(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    uint8_t buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    return session_.receive(rtmp::Bytes(buf, static_cast<size_t>(n)), 0).ok();
  }

  // Sends one message (8 audio, 9 video, 18 data) and answers what the server sent meanwhile.
  rtmp::Status send(uint8_t type, rtmp::Bytes body, uint64_t ts) {
    rtmp::Status st = type == 9   ? session_.send_video(body, ts)
                      : type == 8 ? session_.send_audio(body, ts)
                                  : session_.send_message(rtmp::MessageType::kDataAmf0, body, ts);
    if (!st.ok()) return st;
    if (!flush()) return rtmp::make_error(rtmp::Errc::kInternal, "send failed");
    while (pump(0)) {
    }
    return rtmp::Ok{};
  }

  // FCUnpublish + deleteStream, half-close, then waits for the server's EOF.
  void stop(int linger_ms = 2000) {
    session_.stop();
    flush();
    shutdown(fd_, SHUT_WR);
    while (pump(linger_ms)) {
    }
    close(fd_);
    fd_ = -1;
  }

 private:
  rtmp::ClientSession session_;
  int fd_ = -1;
};

}  // namespace ertmp_test
