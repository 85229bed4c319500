#include "protocol/url.h"

#include <cctype>
#include <charconv>

namespace rtmp {
namespace {

Error bad(std::string what) {
  return make_error(Errc::kInvalidArgument, "RTMP URL: " + what, 0);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses "host[:port]" (host may be "[v6]") into url. Empty authority is an error.
Status parse_authority(std::string_view auth, Url& url, UrlRole role) {
  auto at = auth.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = auth.substr(0, at);
    auth = auth.substr(at + 1);
    auto colon = userinfo.find(':');
    url.username = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) url.password = percent_decode(userinfo.substr(colon + 1));
  }
  std::string_view port_text;
  if (!auth.empty() && auth[0] == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in host");
    url.host = std::string(auth.substr(1, close - 1));
    std::string_view rest = auth.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("junk after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    auto colon = auth.rfind(':');
    if (colon != std::string_view::npos) {
      port_text = auth.substr(colon + 1);
      auth = auth.substr(0, colon);
      if (port_text.empty()) return bad("empty port");
    }
    url.host = std::string(auth);
  }
  if (url.host.empty()) return bad("no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() ||
        (port == 0 && role != UrlRole::kListen) || port > 65535) {
      return bad("bad port '" + std::string(port_text) + "'");
    }
    url.port = static_cast<uint16_t>(port);
    url.port_explicit = true;
  }
  return Ok{};
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      out.emplace_back(
          percent_decode(pair.substr(0, eq)),
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

std::string Url::host_for_url() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

std::string Url::tc_url() const {
  std::string s = scheme + "://" + host_for_url();
  if (port_explicit) s += ":" + std::to_string(port);
  s += "/" + app;
  return s;
}

std::string Url::to_string() const {
  std::string s = tc_url();
  if (!stream.empty()) s += "/" + stream;
  return s;
}

Result<Url> parse_url(std::string_view text, UrlRole role) {
  Url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad("missing '://'");
  std::string scheme(text.substr(0, sep));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "rtmp" && scheme != "rtmps") return bad("unsupported scheme '" + scheme + "'");
  url.scheme = scheme;
  url.port = scheme == "rtmps" ? 443 : 1935;
  std::string_view rest = text.substr(sep + 3);
  auto slash = rest.find('/');
  RTMP_CHECK(parse_authority(rest.substr(0, slash), url, role));
  if (slash == std::string_view::npos) return bad("no application in the path");
  std::string_view path = rest.substr(slash + 1);
  auto q = path.find('?');
  std::string_view before_query = path.substr(0, q);
  auto last = before_query.rfind('/');
  if (last == std::string_view::npos) {
    // "rtmp://h/app" or "rtmp://h/app?x": no stream.
    url.app = std::string(before_query);
    if (q != std::string_view::npos) url.app += std::string(path.substr(q));
  } else {
    url.app = std::string(before_query.substr(0, last));
    url.stream = std::string(path.substr(last + 1));
  }
  if (url.app.empty()) return bad("empty application");
  return url;
}

Result<Url> resolve_reconnect_url(const Url& current, std::string_view tc_url) {
  Url url;
  if (tc_url.empty()) return current;
  if (tc_url.find("://") != std::string_view::npos) {
    std::string s(tc_url);
    if (s.back() != '/') s += '/';  // tcUrl has no stream: keep parse_url's split honest
    RTMP_TRY(Url parsed, parse_url(s));
    url = std::move(parsed);
    if (!url.stream.empty()) url.app += "/" + url.stream;
    // the trailing '/' produced an empty stream; app is the whole path
  } else if (tc_url.substr(0, 2) == "//") {
    std::string s = current.scheme + ":" + std::string(tc_url);
    return resolve_reconnect_url(current, s);
  } else if (tc_url[0] == '/') {
    url = current;
    url.app = std::string(tc_url.substr(1));
    if (!url.app.empty() && url.app.back() == '/') url.app.pop_back();
  } else {
    return bad("reconnect tcUrl '" + std::string(tc_url) + "' is neither absolute nor relative");
  }
  if (!url.app.empty() && url.app.back() == '/') url.app.pop_back();
  url.stream = current.stream;
  if (url.username.empty()) {
    url.username = current.username;
    url.password = current.password;
  }
  return url;
}

}  // namespace rtmp
