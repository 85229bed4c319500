// RTMP URLs: rtmp[s]://[user[:pass]@]host[:port]/app[/instance...]/stream[?query]
//
// Rules (the peers named are the ones our users replace or talk to):
//  - default port 1935 for rtmp, 443 for rtmps; IPv6 literals in brackets;
//  - the path is split at its LAST '/' before any '?', as GStreamer's rtmp2 does:
//    rtmp://h/app/inst/key -> app "app/inst", stream "key" (ffmpeg gives the same for one
//    instance level; OBS takes server URL and key separately);
//  - the query stays on the stream name (YouTube/Facebook-style keys, rtmp2 and OBS do this);
//  - user and password are percent-decoded; tcUrl = scheme://host[:port]/app, the port written
//    only when it was given explicitly (rtmp2; ffmpeg always writes it: both are accepted by
//    servers, which only use tcUrl's app/host).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/error.h"

namespace rtmp {

struct Url {
  std::string scheme = "rtmp";  // "rtmp" or "rtmps"
  std::string host;             // IPv6 without brackets
  uint16_t port = 1935;
  bool port_explicit = false;
  std::string app;
  std::string stream;  // with its query, as sent in publish/play
  std::string username;
  std::string password;

  bool tls() const { return scheme == "rtmps"; }
  std::string host_for_url() const;  // brackets around IPv6
  std::string tc_url() const;
  std::string to_string() const;  // without credentials
};

// What the URL is for: a peer to connect to, or an address to listen on, where port 0 means
// "any free port" (as rtmpingestsrc's `port` property).
enum class UrlRole : uint8_t { kConnect, kListen };

// Errors: kInvalidArgument with a message naming the problem (scheme, host, port, path).
// An empty stream is allowed (rtmp2 >= 1.26.4): servers and reconnect URLs have none.
Result<Url> parse_url(std::string_view text, UrlRole role = UrlRole::kConnect);

// Resolves an E-RTMP ReconnectRequest tcUrl (absolute "rtmp://h/app", scheme-relative
// "//h/app", or path-relative "/app") against the current URL; the stream is kept.
Result<Url> resolve_reconnect_url(const Url& current, std::string_view tc_url);

// "a=1&b=x%20y" -> {{"a","1"},{"b","x y"}}; keys without '=' get an empty value.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
// Percent-decoding; invalid escapes are kept literally.
std::string percent_decode(std::string_view s);

}  // namespace rtmp
