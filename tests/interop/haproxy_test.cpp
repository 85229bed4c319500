// A real HAProxy (send-proxy / send-proxy-v2) in front of a loopback acceptor that reads the
// PROXY header with rtmp::ProxyHeaderReader: the acceptor learns the real client's address
// although its TCP peer is HAProxy, and the client's bytes after the header are intact. With
// ffmpeg as the client, the acceptor then serves the RTMP publish with rtmp::ServerSession on
// the bytes after the header, as the listener will (phase 2 of issue 15).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "protocol/proxy_header.h"
#include "protocol/server_session.h"
#include "tests/interop/haproxy.h"
#include "tests/interop/rtmp_peers.h"

namespace {

using ertmp_test::tcp_connection_exists;

using ertmp_test::Haproxy;
using Clock = std::chrono::steady_clock;

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}
uint16_t peer_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A listening socket on 127.0.0.1; accepts one connection and reads its PROXY header.
class ProxiedAcceptor {
 public:
  ProxiedAcceptor() { listen_fd_ = ertmp_test::listen_loopback(&port_); }
  ~ProxiedAcceptor() {
    if (fd_ >= 0) close(fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

  // Accepts the next connection (the previous one, if any, is closed).
  bool accept_one(int timeout_ms) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    after_.clear();
    raw_header_.clear();
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return fd_ >= 0;
  }

  // Reads until the header is complete (bounded); the bytes of the same reads after it are
  // kept in after_header(). The raw header bytes are kept too.
  rtmp::Result<rtmp::ProxyHeader> read_header(int timeout_ms) {
    rtmp::ProxyHeaderReader reader{rtmp::Limits{}};
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!reader.done()) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) {
        return rtmp::make_error(rtmp::Errc::kTimeout, "no complete PROXY header");
      }
      uint8_t buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return rtmp::make_error(rtmp::Errc::kTruncated, "closed before the header");
      rtmp::Bytes got(buf, static_cast<size_t>(n));
      auto used = reader.receive(got);
      if (!used.ok()) return used.error();
      raw_header_.insert(raw_header_.end(), got.begin(), got.begin() + static_cast<long>(*used));
      after_.insert(after_.end(), got.begin() + static_cast<long>(*used), got.end());
    }
    return reader.header();
  }
  std::vector<uint8_t>& after_header() { return after_; }
  const std::vector<uint8_t>& raw_header() const { return raw_header_; }

 private:
  int listen_fd_ = -1;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<uint8_t> after_;
  std::vector<uint8_t> raw_header_;
};

class HaproxyProxyProtocol : public ::testing::TestWithParam<Haproxy::ProxyProtocol> {
 protected:
  void SetUp() override {
    ERTMP_REQUIRE(Haproxy::available(), "haproxy (Debian package haproxy)");
    lb_ = std::make_unique<Haproxy>(acceptor_.port(), GetParam());
    ASSERT_TRUE(lb_->ready()) << lb_->log();
  }
  int version() const { return GetParam() == Haproxy::kV1 ? 1 : 2; }

  // ERTMP_RECORD_PROXY_SEEDS=dir: keep HAProxy's real header as a fuzz seed (first byte: the
  // fuzz target's limit selector).
  void record_seed(const std::string& name) {
    const char* dir = std::getenv("ERTMP_RECORD_PROXY_SEEDS");
    if (!dir || !*dir) return;
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.put(1);
    const auto& h = acceptor_.raw_header();
    out.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
  }

  ProxiedAcceptor acceptor_;
  std::unique_ptr<Haproxy> lb_;
};

TEST_P(HaproxyProxyProtocol, PlainClientsRealAddressReachesTheBackend) {
  int client = ertmp_test::connect_loopback(lb_->port(), 5000);
  ASSERT_GE(client, 0);
  const uint16_t client_port = local_port(client);
  const std::string hello = "\x03 the client's own bytes";
  ASSERT_EQ(send(client, hello.data(), hello.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(hello.size()));
  ASSERT_TRUE(acceptor_.accept_one(5000)) << "HAProxy did not connect to the backend\n"
                                          << lb_->log();
  // The TCP peer is HAProxy's own outgoing socket, not the client.
  const uint16_t haproxy_port = peer_port(acceptor_.fd());
  EXPECT_NE(haproxy_port, client_port);

  auto h = acceptor_.read_header(5000);
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  record_seed("haproxy-send-proxy-v" + std::to_string(version()) + "-tcp4");
  EXPECT_EQ(h->version, version());
  EXPECT_EQ(h->command, rtmp::ProxyCommand::kProxy);
  EXPECT_EQ(h->family, rtmp::ProxyFamily::kInet);
  EXPECT_TRUE(h->has_addresses());
  EXPECT_EQ(h->source.address, "127.0.0.1");
  EXPECT_EQ(h->source.port, client_port) << "not the client's real port";
  EXPECT_EQ(h->destination.address, "127.0.0.1");
  EXPECT_EQ(h->destination.port, lb_->port());

  // Everything after the header is the client's, byte for byte.
  auto& rest = acceptor_.after_header();
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (rest.size() < hello.size() && Clock::now() < deadline) {
    pollfd p{acceptor_.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = recv(acceptor_.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    rest.insert(rest.end(), buf, buf + n);
  }
  EXPECT_EQ(std::string(rest.begin(), rest.end()), hello);
  close(client);
}

// ffmpeg publishes 2 s of H.264 (60 frames) to rtmp://HAProxy/live/key; the acceptor reads the
// header, checks that the address in it is ffmpeg's own socket, and serves the publish with a
// ServerSession on the bytes after the header.
TEST_P(HaproxyProxyProtocol, FfmpegPublishingThroughHaproxyIsSeenWithItsOwnAddress) {
  ERTMP_REQUIRE(ertmp_test::have_program("ffmpeg"), "ffmpeg (Debian package ffmpeg)");
  ertmp_test::Child ffmpeg(
      "exec ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=160x120:rate=30 -t 2 "
      "-c:v libx264 -preset ultrafast -g 30 -f flv " +
      lb_->url("live", "key"));
  ASSERT_TRUE(acceptor_.accept_one(10'000)) << lb_->log();
  auto h = acceptor_.read_header(5000);
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  EXPECT_EQ(h->version, version());
  EXPECT_EQ(h->source.address, "127.0.0.1");
  EXPECT_NE(h->source.port, peer_port(acceptor_.fd()));
  // The reported source is ffmpeg's socket: the only connection to HAProxy's frontend.
  EXPECT_TRUE(tcp_connection_exists(h->source.port, lb_->port()))
      << "no connection 127.0.0.1:" << h->source.port << " -> 127.0.0.1:" << lb_->port();

  rtmp::ServerSession session(rtmp::ServerConfig{}, 0);
  std::string app, key;
  size_t video = 0;
  bool ended = false;
  std::vector<uint8_t>& first = acceptor_.after_header();
  ASSERT_TRUE(session.receive(rtmp::Bytes(first.data(), first.size()), 0).ok());
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!ended && !session.closed() && Clock::now() < deadline) {
    while (auto ev = session.next_event()) {
      if (auto* p = std::get_if<rtmp::PublishRequested>(&*ev)) {
        app = p->app;
        key = p->stream_name;
        ASSERT_TRUE(session.accept_publish(p->stream_id).ok());
      } else if (auto* m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        if (m->message.type == 9 && !m->tag_error && !m->tag.units.empty() &&
            m->tag.units[0].packet == rtmp::PacketKind::kCodedFrames) {
          ++video;
        }
      } else if (std::holds_alternative<rtmp::PublishEnded>(*ev)) {
        ended = true;
      }
    }
    for (rtmp::Bytes out = session.pending_output(); !out.empty(); out = session.pending_output()) {
      ssize_t n = send(acceptor_.fd(), out.data(), out.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      session.consume_output(static_cast<size_t>(n));
    }
    pollfd p{acceptor_.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    uint8_t buf[65536];
    ssize_t n = recv(acceptor_.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    (void)session.receive(rtmp::Bytes(buf, static_cast<size_t>(n)), 0);
  }
  EXPECT_EQ(ffmpeg.wait(10'000), 0);
  EXPECT_EQ(app, "live");
  EXPECT_EQ(key, "key");
  EXPECT_EQ(video, 60u) << "2 s at 30 fps through HAProxy";
  EXPECT_TRUE(ended) << "no FCUnpublish/deleteStream from ffmpeg";
}

// The next relayed client's header on `acc` within `timeout_ms`, skipping HAProxy's health
// checks (LOCAL); nullopt when none came.
std::optional<rtmp::ProxyHeader> next_client(ProxiedAcceptor& acc, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (!acc.accept_one(std::max(left, 1))) continue;
    auto h = acc.read_header(2000);
    if (h.ok() && h->command == rtmp::ProxyCommand::kProxy) return *h;
  }
  return std::nullopt;
}

// The helper's several-backend form, as a drain test behind HAProxy uses it: every backend
// gets health checks carrying a version 2 LOCAL header, and once s0 is drained on the runtime
// API, new clients all go to s1 with their own address.
TEST(HaproxyHelper, ChecksSendLocalHeadersAndADrainedServerGetsNoNewClient) {
  ERTMP_REQUIRE(Haproxy::available(), "haproxy (Debian package haproxy)");
  ProxiedAcceptor a, b;
  Haproxy lb({{a.port(), Haproxy::kV2, true}, {b.port(), Haproxy::kV2, true}});
  ASSERT_TRUE(lb.ready()) << lb.log();
  for (ProxiedAcceptor* acc : {&a, &b}) {
    ASSERT_TRUE(acc->accept_one(5000)) << "no health check\n" << lb.log();
    auto h = acc->read_header(5000);
    ASSERT_TRUE(h.ok()) << h.error().to_string();
    EXPECT_EQ(h->command, rtmp::ProxyCommand::kLocal);
    EXPECT_FALSE(h->has_addresses());
  }
  lb.admin("set server ertmp/s0 state drain");
  // HAProxy's own view, from "show stat" (CSV: pxname,svname,...,status,...).
  std::string stat = lb.admin("show stat");
  EXPECT_NE(stat.find("ertmp,s0,"), std::string::npos) << stat;
  EXPECT_NE(stat.substr(stat.find("ertmp,s0,")).find(",DRAIN,"), std::string::npos) << stat;

  for (int i = 0; i < 3; ++i) {
    int client = ertmp_test::connect_loopback(lb.port(), 5000);
    ASSERT_GE(client, 0);
    auto h = next_client(b, 5000);
    ASSERT_TRUE(h) << "client " << i << " did not reach s1\n" << lb.log();
    EXPECT_EQ(h->source.port, local_port(client));
    close(client);
  }
  // Meanwhile s0 saw health checks only.
  EXPECT_FALSE(next_client(a, 500)) << "a drained server got a new client";
}

INSTANTIATE_TEST_SUITE_P(SendProxy, HaproxyProxyProtocol,
                         ::testing::Values(Haproxy::kV1, Haproxy::kV2),
                         [](const ::testing::TestParamInfo<Haproxy::ProxyProtocol>& param_info) {
                           return std::string(param_info.param == Haproxy::kV1 ? "V1" : "V2");
                         });

}  // namespace
