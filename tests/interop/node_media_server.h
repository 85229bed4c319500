// node-media-server (npm `node-media-server`, the E-RTMP capable Node.js server) as a real peer
// for interop tests: started on free loopback ports with auto-recording on, so a test gets back
// exactly what NMS received.
//
// Where it comes from: tools/install-deps.sh installs the pinned version into
// ${ERTMP_NMS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-ertmp/nms} (outside the tree); `node` is
// the one on PATH unless ERTMP_NODE names another binary.
//
// What NMS does with media (read from its src/protocol/flv.js and server/broadcast_server.js,
// 4.3.2): every audio/video/data message body is relayed and recorded unchanged, with the RTMP
// timestamp as the FLV tag timestamp (script data keeps its "@setDataFrame" first string,
// unlike nginx-rtmp's recorder: ffprobe then shows a data stream); it classifies tags only to fill
// its late-joiner cache (hvc1/av01/vp09 ExHeader video, legacy AVC, legacy and Ex audio). Recording
// (record.auto) attaches at publish start and writes plain FLV (header, then tags) to
// record/<app>/<key>/<ms>.flv. HTTP-FLV play is http://127.0.0.1:<http_port()>/<app>/<key>.flv.
// App and key must match [A-Za-z0-9_-]+ or NMS drops the connection.
//
// Use: NodeMediaServer nms; nms.start(); publish to nms.url("live", key); nms.stop();
// nms.recording("live", key) / recorded_tags(...). ERTMP_KEEP_NMS_DIR=1 keeps the temp dir
// (launch.js, nms.log, record/) for a look after the test.
//
// Test-only code; every wait is bounded.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "protocol/flv_file.h"
#include "tests/interop/rtmp_peers.h"

namespace ertmp_test {

class NodeMediaServer {
 public:
  // The package directory (holds package.json) of the installed node-media-server.
  static std::filesystem::path package_dir() {
    std::filesystem::path base;
    if (const char* d = std::getenv("ERTMP_NMS_DIR"); d && *d) {
      base = d;
    } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
      base = std::filesystem::path(x) / "gst-ertmp" / "nms";
    } else if (const char* h = std::getenv("HOME"); h && *h) {
      base = std::filesystem::path(h) / ".cache" / "gst-ertmp" / "nms";
    }
    return base / "node_modules" / "node-media-server";
  }
  static std::string node_binary() {
    const char* n = std::getenv("ERTMP_NODE");
    return n && *n ? std::string(n) : std::string("node");
  }
  static bool available() {
    std::string node = node_binary();
    bool have_node =
        node.find('/') != std::string::npos ? std::filesystem::exists(node) : have_program(node);
    return have_node && std::filesystem::exists(package_dir() / "package.json");
  }
  // The installed version ("4.3.2"), empty when unknown.
  static std::string version() {
    std::ifstream in(package_dir() / "package.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t k = text.find("\"version\"");
    if (k == std::string::npos) return {};
    size_t a = text.find('"', text.find(':', k));
    size_t b = a == std::string::npos ? a : text.find('"', a + 1);
    return b == std::string::npos ? std::string() : text.substr(a + 1, b - a - 1);
  }

  NodeMediaServer() = default;
  NodeMediaServer(const NodeMediaServer&) = delete;
  NodeMediaServer& operator=(const NodeMediaServer&) = delete;
  ~NodeMediaServer() {
    child_.reset();
    std::error_code ec;
    if (!dir_.empty() && !std::getenv("ERTMP_KEEP_NMS_DIR")) std::filesystem::remove_all(dir_, ec);
  }

  // Writes the launcher into a fresh temp dir, starts NMS and waits (up to 10 s) until its RTMP
  // and HTTP ports accept. Returns false if it did not come up (see log()).
  bool start() {
    dir_ = make_temp_dir("nms");
    rtmp_port_ = free_port();
    http_port_ = free_port();
    {
      std::ofstream js(dir_ / "launch.js");
      js << kLauncher;
    }
    child_ =
        std::make_unique<Child>("exec '" + node_binary() + "' '" + (dir_ / "launch.js").string() +
                                "' '" + package_dir().string() + "' " + std::to_string(rtmp_port_) +
                                " " + std::to_string(http_port_) + " '" + dir_.string() + "' >'" +
                                (dir_ / "nms.log").string() + "' 2>&1");
    for (uint16_t p : {rtmp_port_, http_port_}) {
      int fd = connect_loopback(p, 10000);
      if (fd < 0) return false;
      close(fd);
    }
    return true;
  }

  // Stops NMS: on SIGTERM the launcher closes every recording (flushed) and exits.
  void stop() { child_.reset(); }

  uint16_t rtmp_port() const { return rtmp_port_; }
  uint16_t http_port() const { return http_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string url(const std::string& app, const std::string& key) const {
    return "rtmp://127.0.0.1:" + std::to_string(rtmp_port_) + "/" + app + "/" + key;
  }
  std::string http_flv_url(const std::string& app, const std::string& key) const {
    return "http://127.0.0.1:" + std::to_string(http_port_) + "/" + app + "/" + key + ".flv";
  }
  // NMS's own log (stdout + stderr), for failure messages.
  std::string log() const { return read_text(dir_ / "nms.log"); }

  // Everything NMS received for app/key, as the FLV file its recorder wrote (the newest one if
  // the key was published several times). Call after stop() so the file is complete. Empty
  // when there is no recording.
  std::vector<uint8_t> recording(const std::string& app, const std::string& key) const {
    std::filesystem::path folder = dir_ / "record" / app / key;
    std::error_code ec;
    std::filesystem::path newest;
    for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
      if (e.path().extension() == ".flv" && e.path().filename() > newest.filename())
        newest = e.path();
    }
    if (newest.empty()) return {};
    std::ifstream in(newest, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  }
  // The same, parsed: every tag (audio 8, video 9, script 18) in file order.
  std::vector<rtmp::FlvFileTag> recorded_tags(const std::string& app,
                                              const std::string& key) const {
    return flv_tags(recording(app, key));
  }

  static std::vector<rtmp::FlvFileTag> flv_tags(const std::vector<uint8_t>& flv) {
    rtmp::FlvReader reader;
    std::vector<rtmp::FlvFileTag> tags;
    if (!reader.receive(flv).ok()) return tags;
    while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
    return tags;
  }

 private:
  static std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // argv: NMS package dir, RTMP port, HTTP port, work dir. Binds loopback only; no auth; the
  // store (NMS's JSON database) and recordings live in the work dir.
  static constexpr const char* kLauncher = R"JS(// written by tests/interop/node_media_server.h
const path = require("path");
const [nmsDir, rtmpPort, httpPort, workDir] = process.argv.slice(2);
const NodeMediaServer = require(nmsDir);
const nms = new NodeMediaServer({
  bind: "127.0.0.1",
  rtmp: { port: Number(rtmpPort) },
  http: { port: Number(httpPort) },
  record: { auto: true, path: path.join(workDir, "record") },
  store: { path: path.join(workDir, "data") },
});
const files = new Set();
nms.on("postRecord", (session) => files.add(session.fileStream));
nms.run();
// SIGTERM: stop the servers (which ends every recording), wait until each file is flushed and
// closed, exit. NMS's store re-raises the signal once after its own flush: handle it once.
let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  const closed = [...files].map((f) =>
    new Promise((done) => (f.closed ? done() : f.once("close", done))));
  Promise.resolve(nms.stop())
    .then(() => Promise.all(closed))
    .finally(() => process.exit(0));
});
)JS";

  std::filesystem::path dir_;
  uint16_t rtmp_port_ = 0;
  uint16_t http_port_ = 0;
  std::unique_ptr<Child> child_;
};

// An HTTP-FLV player: GET http://127.0.0.1:<port>/<app>/<key>.flv (HTTP/1.0, so Node answers
// without chunked encoding and the body is the FLV stream as is), read on a thread into
// body(). NMS registers the player when it writes the FLV header, so once
// wait_body(13, ...) returns true a publish that starts afterwards reaches it from its first tag.
class HttpFlvPull {
 public:
  HttpFlvPull(uint16_t port, const std::string& app, const std::string& key) {
    fd_ = connect_loopback(port, 5000);
    if (fd_ < 0) return;
    std::string req = "GET /" + app + "/" + key +
                      ".flv HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
    if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return;
    thread_ = std::thread([this] { run(); });
  }
  HttpFlvPull(const HttpFlvPull&) = delete;
  HttpFlvPull& operator=(const HttpFlvPull&) = delete;
  ~HttpFlvPull() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }

  // The HTTP status line ("HTTP/1.1 200 OK"), empty until the headers arrived.
  std::string status_line() const {
    std::lock_guard<std::mutex> l(mu_);
    return status_line_;
  }
  std::vector<uint8_t> body() const {
    std::lock_guard<std::mutex> l(mu_);
    return body_;
  }
  // Waits (bounded) until the body holds at least `bytes` bytes.
  bool wait_body(size_t bytes, int timeout_ms) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] {
      return body_.size() >= bytes || ended_;
    }) && body_.size() >= bytes;
  }
  // Waits (bounded) until the body holds at least `count` complete audio/video tags.
  bool wait_media_tags(size_t count, int timeout_ms) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] {
      return media_tags_locked() >= count || ended_;
    }) && media_tags_locked() >= count;
  }

 private:
  // Counts complete tags after the 13-byte FLV header + PreviousTagSize0 (FLV 10.1 E.3).
  size_t media_tags_locked() const {
    size_t n = 0;
    for (size_t p = 13; p + 11 <= body_.size();) {
      size_t size = size_t{body_[p + 1]} << 16 | size_t{body_[p + 2]} << 8 | body_[p + 3];
      if (p + 11 + size + 4 > body_.size()) break;
      if (body_[p] == 8 || body_[p] == 9) ++n;
      p += 11 + size + 4;
    }
    return n;
  }
  void run() {
    std::vector<uint8_t> head;
    bool in_body = false;
    uint8_t buf[65536];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      std::lock_guard<std::mutex> l(mu_);
      if (n <= 0) {
        ended_ = true;
        cv_.notify_all();
        return;
      }
      if (in_body) {
        body_.insert(body_.end(), buf, buf + n);
      } else {
        head.insert(head.end(), buf, buf + n);
        static constexpr char kEnd[] = "\r\n\r\n";
        auto it = std::search(head.begin(), head.end(), kEnd, kEnd + 4);
        if (it != head.end()) {
          in_body = true;
          auto eol = std::search(head.begin(), head.end(), kEnd, kEnd + 2);
          status_line_.assign(head.begin(), eol);
          body_.assign(it + 4, head.end());
        }
      }
      cv_.notify_all();
    }
  }

  int fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string status_line_;
  std::vector<uint8_t> body_;
  bool ended_ = false;
};

}  // namespace ertmp_test
