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
// timestamp as the FLV tag timestamp; it classifies tags only to fill its late-joiner cache
// (hvc1/av01/vp09 ExHeader video, legacy AVC, legacy and Ex audio). Recording (record.auto)
// attaches at publish start and writes plain FLV (header, then tags) to
// record/<app>/<key>/<ms>.flv. HTTP-FLV play is http://127.0.0.1:<http_port()>/<app>/<key>.flv.
// App and key must match [A-Za-z0-9_-]+ or NMS drops the connection.
//
// Test-only code; every wait is bounded.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

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

}  // namespace ertmp_test
