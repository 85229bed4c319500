#include "protocol/url.h"

#include <gtest/gtest.h>

namespace rtmp {
namespace {

TEST(Url, ParsesTheTable) {
  struct Row {
    const char* in;
    const char* scheme;
    const char* host;
    uint16_t port;
    const char* app;
    const char* stream;
    const char* tc_url;
  } rows[] = {
      {"rtmp://localhost/live/key", "rtmp", "localhost", 1935, "live", "key",
       "rtmp://localhost/live"},
      {"rtmp://h:1936/live/key", "rtmp", "h", 1936, "live", "key", "rtmp://h:1936/live"},
      {"rtmps://a.rtmps.youtube.com/live2/abcd-efgh", "rtmps", "a.rtmps.youtube.com", 443, "live2",
       "abcd-efgh", "rtmps://a.rtmps.youtube.com/live2"},
      {"rtmp://h/app/inst/key", "rtmp", "h", 1935, "app/inst", "key", "rtmp://h/app/inst"},
      {"rtmp://h/app/key?token=1&x=a/b", "rtmp", "h", 1935, "app", "key?token=1&x=a/b",
       "rtmp://h/app"},
      {"rtmp://[::1]:1935/live/k", "rtmp", "::1", 1935, "live", "k", "rtmp://[::1]:1935/live"},
      {"rtmp://[2001:db8::2]/live/k", "rtmp", "2001:db8::2", 1935, "live", "k",
       "rtmp://[2001:db8::2]/live"},
      {"RTMP://h/live/", "rtmp", "h", 1935, "live", "", "rtmp://h/live"},
      {"rtmp://h/live", "rtmp", "h", 1935, "live", "", "rtmp://h/live"},
      {"rtmps://live-api-s.facebook.com:443/rtmp/FB-1-2", "rtmps", "live-api-s.facebook.com", 443,
       "rtmp", "FB-1-2", "rtmps://live-api-s.facebook.com:443/rtmp"},
  };
  for (const auto& row : rows) {
    auto u = parse_url(row.in);
    ASSERT_TRUE(u.ok()) << row.in << ": " << u.error().to_string();
    EXPECT_EQ(u->scheme, row.scheme) << row.in;
    EXPECT_EQ(u->host, row.host) << row.in;
    EXPECT_EQ(u->port, row.port) << row.in;
    EXPECT_EQ(u->app, row.app) << row.in;
    EXPECT_EQ(u->stream, row.stream) << row.in;
    EXPECT_EQ(u->tc_url(), row.tc_url) << row.in;
  }
}

TEST(Url, CredentialsArePercentDecoded) {
  auto u = parse_url("rtmp://us%40er:p%3Ass@h/live/k");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->username, "us@er");
  EXPECT_EQ(u->password, "p:ss");
  EXPECT_EQ(u->host, "h");
  EXPECT_EQ(u->to_string().find("p:ss"), std::string::npos);  // no credentials in logs
}

TEST(Url, RejectsBadInput) {
  for (const char* bad : {"http://h/live/k", "rtmp:/h/live", "rtmp:///live/k", "rtmp://h:0/live/k",
                          "rtmp://h:70000/live/k", "rtmp://h:x/live/k", "rtmp://[::1/live/k",
                          "rtmp://h", "rtmp://h//k", "rtmp://h:/live/k"}) {
    auto u = parse_url(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.error().code, Errc::kInvalidArgument) << bad;
    }
  }
}

TEST(Url, PortZeroIsAnyFreePortOnlyForAListener) {
  EXPECT_FALSE(parse_url("rtmp://h:0/live/k").ok());
  auto u = parse_url("rtmp://h:0/live/k", UrlRole::kListen);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 0);
  EXPECT_TRUE(u->port_explicit);
  EXPECT_FALSE(parse_url("rtmp://h:65536/live/k", UrlRole::kListen).ok());
}

TEST(Url, ResolvesReconnectTcUrls) {
  auto cur = *parse_url("rtmp://old:1936/live/key?t=1");
  struct Row {
    const char* tc;
    const char* want;
  } rows[] = {
      {"rtmp://new/app2", "rtmp://new/app2/key?t=1"},
      {"rtmps://new:8443/a/b", "rtmps://new:8443/a/b/key?t=1"},
      {"//other/live", "rtmp://other/live/key?t=1"},
      {"/live3", "rtmp://old:1936/live3/key?t=1"},
      {"", "rtmp://old:1936/live/key?t=1"},
  };
  for (const auto& row : rows) {
    auto u = resolve_reconnect_url(cur, row.tc);
    ASSERT_TRUE(u.ok()) << row.tc;
    EXPECT_EQ(u->to_string(), row.want) << row.tc;
  }
  EXPECT_FALSE(resolve_reconnect_url(cur, "relative/path").ok());
}

TEST(Url, QueryParsing) {
  auto q = parse_query("token=a%20b&flag&x=1");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0].second, "a b");
  EXPECT_EQ(q[1].first, "flag");
  EXPECT_EQ(q[1].second, "");
  EXPECT_EQ(q[2].second, "1");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
}

}  // namespace
}  // namespace rtmp
