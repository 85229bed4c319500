#include "protocol/proxy_header.h"

#include <algorithm>
#include <string_view>

namespace rtmp {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";

// §2.2 sizes of the v2 address block per family (addresses, then ports for INET/INET6).
constexpr size_t kInetBlock = 12;
constexpr size_t kInet6Block = 36;
constexpr size_t kUnixBlock = 216;

Error malformed(std::string detail, size_t offset) {
  return make_error(Errc::kMalformed, "PROXY header: " + std::move(detail), offset);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A decimal number of at most `max_digits` digits without a leading zero (§2.1: no octal
// confusion), at most `max`. The whole of `s`.
std::optional<uint32_t> parse_decimal(std::string_view s, size_t max_digits, uint32_t max) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Four decimal numbers 0-255 separated by single dots, into out[0..3].
bool parse_ipv4(std::string_view s, uint8_t* out) {
  for (int part = 0; part < 4; ++part) {
    size_t dot = part < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return false;
    auto v = parse_decimal(s.substr(0, dot), 3, 255);
    if (!v) return false;
    out[part] = static_cast<uint8_t>(*v);
    s = part < 3 ? s.substr(dot + 1) : std::string_view();
  }
  return true;
}

// RFC 4291 §2.2 text: groups of 1-4 hex digits separated by ':', at most one "::" standing for
// one or more zero groups, optionally ending in a dotted IPv4 address (two groups).
bool parse_ipv6(std::string_view s, std::array<uint8_t, 16>& out) {
  std::array<uint16_t, 8> head{}, tail{};
  size_t nhead = 0, ntail = 0;
  bool compressed = false;
  size_t i = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
  } else if (s.empty() || s[0] == ':') {
    return false;
  }
  auto push = [&](uint16_t g) {
    if (nhead + ntail >= 8) return false;
    if (compressed) {
      tail[ntail++] = g;
    } else {
      head[nhead++] = g;
    }
    return true;
  };
  while (i < s.size()) {
    size_t end = s.find(':', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view group = s.substr(i, end - i);
    if (group.find('.') != std::string_view::npos) {
      // A dotted IPv4 tail: only as the last group.
      uint8_t v4[4];
      if (end != s.size() || !parse_ipv4(group, v4)) return false;
      if (!push(static_cast<uint16_t>(v4[0] << 8 | v4[1])) ||
          !push(static_cast<uint16_t>(v4[2] << 8 | v4[3]))) {
        return false;
      }
      i = end;
      break;
    }
    if (group.empty() || group.size() > 4) return false;
    uint16_t g = 0;
    for (char c : group) {
      int h = hex_value(c);
      if (h < 0) return false;
      g = static_cast<uint16_t>(g << 4 | h);
    }
    if (!push(g)) return false;
    i = end;
    if (i == s.size()) break;
    if (s.substr(i, 2) == "::") {
      if (compressed) return false;  // a second "::"
      compressed = true;
      i += 2;
    } else {
      ++i;  // a single ':'
      if (i == s.size()) return false;
    }
  }
  size_t groups = nhead + ntail;
  if (compressed ? groups > 7 : groups != 8) return false;
  std::array<uint16_t, 8> all{};
  std::copy_n(head.begin(), nhead, all.begin());
  std::copy_n(tail.begin(), ntail, all.begin() + static_cast<long>(8 - ntail));
  for (size_t g = 0; g < 8; ++g) {
    out[2 * g] = static_cast<uint8_t>(all[g] >> 8);
    out[2 * g + 1] = static_cast<uint8_t>(all[g]);
  }
  return true;
}

std::string format_ipv4(const uint8_t* b) {
  return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
         std::to_string(b[3]);
}

// "PROXY TCP4 ..." once its CRLF is in: `line` excludes the CRLF.
Result<ProxyHeader> parse_v1_line(std::string_view line) {
  ProxyHeader h;
  h.version = 1;
  h.command = ProxyCommand::kProxy;
  h.size = line.size() + 2;
  size_t pos = kV1Prefix.size();
  size_t end = line.find(' ', pos);
  std::string_view proto = line.substr(pos, end == std::string_view::npos ? end : end - pos);
  if (proto == "UNKNOWN") {
    // §2.1: the rest of the line, whatever it is, is ignored.
    h.family = ProxyFamily::kUnspec;
    return h;
  }
  if (proto != "TCP4" && proto != "TCP6") {
    return malformed("unknown protocol '" + std::string(proto) + "' (TCP4, TCP6 or UNKNOWN)", pos);
  }
  const bool v6 = proto == "TCP6";
  h.family = v6 ? ProxyFamily::kInet6 : ProxyFamily::kInet;
  h.transport = ProxyTransport::kStream;
  // Exactly four fields after the protocol, each after exactly one space.
  std::string_view fields[4];
  size_t offsets[4];
  pos += proto.size();
  for (int f = 0; f < 4; ++f) {
    if (pos >= line.size() || line[pos] != ' ') {
      return malformed("expected a space and 4 fields after " + std::string(proto), pos);
    }
    ++pos;
    size_t next = line.find(' ', pos);
    if (next == std::string_view::npos) next = line.size();
    if (f == 3 && next != line.size()) return malformed("text after the destination port", next);
    if (next == pos) return malformed("empty field (two spaces)", pos);
    fields[f] = line.substr(pos, next - pos);
    offsets[f] = pos;
    pos = next;
  }
  ProxyEndpoint* endpoints[2] = {&h.source, &h.destination};
  for (int a = 0; a < 2; ++a) {
    ProxyEndpoint& e = *endpoints[a];
    bool ok = v6 ? parse_ipv6(fields[a], e.bytes) : parse_ipv4(fields[a], e.bytes.data());
    if (!ok) {
      return malformed(std::string(a == 0 ? "source" : "destination") + " address '" +
                           std::string(fields[a]) + "' is not " + (v6 ? "IPv6" : "IPv4"),
                       offsets[a]);
    }
    e.address = v6 ? format_ipv6(e.bytes) : format_ipv4(e.bytes.data());
    auto port = parse_decimal(fields[2 + a], 5, 65535);
    if (!port) {
      return malformed(std::string(a == 0 ? "source" : "destination") + " port '" +
                           std::string(fields[2 + a]) + "' is not 0-65535 without leading zeros",
                       offsets[2 + a]);
    }
    e.port = static_cast<uint16_t>(*port);
  }
  return h;
}

Result<std::optional<ProxyHeader>> parse_v1(Bytes data) {
  // Text only: any byte outside US-ASCII printable other than the CRLF ends it at once.
  const size_t scan = std::min(data.size(), kProxyV1MaxSize);
  for (size_t i = 0; i < scan; ++i) {
    const uint8_t b = data[i];
    if (b == '\r') {
      if (i + 1 == kProxyV1MaxSize) break;  // its LF would be byte 108
      if (i + 1 == data.size()) return std::optional<ProxyHeader>();
      if (data[i + 1] != '\n') return malformed("CR not followed by LF", i + 1);
      std::string_view line(reinterpret_cast<const char*>(data.data()), i);
      RTMP_TRY(ProxyHeader h, parse_v1_line(line));
      return std::optional<ProxyHeader>(std::move(h));
    }
    if (b == '\n') return malformed("LF without CR", i);
    if (b < 0x20 || b > 0x7E)
      return malformed("byte " + std::to_string(b) + " in the text line", i);
  }
  if (data.size() >= kProxyV1MaxSize) {
    return make_error(Errc::kLimitExceeded,
                      "PROXY header: no CRLF within " + std::to_string(kProxyV1MaxSize) + " bytes",
                      kProxyV1MaxSize - 1);
  }
  return std::optional<ProxyHeader>();
}

Result<std::optional<ProxyHeader>> parse_v2(Bytes data, const Limits& limits) {
  ProxyHeader h;
  h.version = 2;
  if (data.size() > 12) {
    const uint8_t ver_cmd = data[12];
    if (ver_cmd >> 4 != 2) {
      return make_error(Errc::kBadVersion,
                        "PROXY header: version " + std::to_string(ver_cmd >> 4) + ", not 2", 12);
    }
    if ((ver_cmd & 0x0F) > 1) {
      return malformed("command " + std::to_string(ver_cmd & 0x0F) + " (0 LOCAL, 1 PROXY)", 12);
    }
    h.command = (ver_cmd & 0x0F) == 0 ? ProxyCommand::kLocal : ProxyCommand::kProxy;
  }
  if (data.size() > 13) {
    const uint8_t fam = data[13];
    if (fam >> 4 > 3) return malformed("address family " + std::to_string(fam >> 4), 13);
    if ((fam & 0x0F) > 2) return malformed("transport " + std::to_string(fam & 0x0F), 13);
    h.family = static_cast<ProxyFamily>(fam >> 4);
    h.transport = static_cast<ProxyTransport>(fam & 0x0F);
  }
  if (data.size() < kProxyV2FixedSize) return std::optional<ProxyHeader>();
  const size_t len = size_t{data[14]} << 8 | data[15];
  const size_t total = kProxyV2FixedSize + len;
  if (total > limits.max_proxy_header_size) {
    return make_error(Errc::kLimitExceeded,
                      "PROXY header: " + std::to_string(total) + " bytes over the " +
                          std::to_string(limits.max_proxy_header_size) + "-byte limit",
                      14);
  }
  if (data.size() < total) return std::optional<ProxyHeader>();
  h.size = total;
  // LOCAL: the block is skipped whatever it holds (§2.2). PROXY with an UNSPEC family or
  // transport: the addresses are to be ignored, so the block is skipped too.
  if (h.command == ProxyCommand::kLocal || h.family == ProxyFamily::kUnspec ||
      h.transport == ProxyTransport::kUnspec) {
    return std::optional<ProxyHeader>(std::move(h));
  }
  ByteReader r(data.subspan(kProxyV2FixedSize, len), kProxyV2FixedSize);
  const size_t need = h.family == ProxyFamily::kInet    ? kInetBlock
                      : h.family == ProxyFamily::kInet6 ? kInet6Block
                                                        : kUnixBlock;
  if (len < need) {
    return malformed("address block of " + std::to_string(len) + " bytes, its family needs " +
                         std::to_string(need),
                     14);
  }
  if (h.family == ProxyFamily::kUnix) {
    (void)r.skip(kUnixBlock);  // socket paths: nothing a TCP listener can use
  } else {
    const size_t n = h.family == ProxyFamily::kInet ? 4 : 16;
    for (ProxyEndpoint* e : {&h.source, &h.destination}) {
      Bytes a = r.bytes(n).value();  // fits: checked against `need` above
      std::copy(a.begin(), a.end(), e->bytes.begin());
      e->address = n == 4 ? format_ipv4(e->bytes.data()) : format_ipv6(e->bytes);
    }
    h.source.port = r.u16be().value();
    h.destination.port = r.u16be().value();
  }
  // TLVs: type u8, length u16be, value. Each must fit in what the length field announced.
  while (!r.empty()) {
    const uint64_t at = r.offset();
    if (r.remaining() < 3) return malformed("truncated TLV header", at);
    (void)r.u8();
    const uint16_t value_len = r.u16be().value();
    if (!r.skip(value_len).ok()) {
      return malformed("TLV of " + std::to_string(value_len) + " bytes runs past the header", at);
    }
    ++h.tlv_count;
  }
  return std::optional<ProxyHeader>(std::move(h));
}

}  // namespace

Result<std::optional<ProxyHeader>> parse_proxy_header(Bytes data, const Limits& limits) {
  if (data.empty()) return std::optional<ProxyHeader>();
  // The first byte tells the versions apart: 'P' (v1) or CR (v2's signature).
  if (data[0] == kProxyV2Signature[0]) {
    const size_t n = std::min(data.size(), kProxyV2Signature.size());
    for (size_t i = 0; i < n; ++i) {
      if (data[i] != kProxyV2Signature[i]) return malformed("not the version 2 signature", i);
    }
    return parse_v2(data, limits);
  }
  const size_t n = std::min(data.size(), kV1Prefix.size());
  for (size_t i = 0; i < n; ++i) {
    if (data[i] != static_cast<uint8_t>(kV1Prefix[i])) {
      return malformed(
          i == 0 ? "not a PROXY protocol header (first byte " + std::to_string(data[0]) + ")"
                 : "not a PROXY protocol header",
          i);
    }
  }
  return parse_v1(data);
}

size_t ProxyHeaderReader::wanted() const {
  // Both versions are at least kProxyV1MinSize long: that many bytes never pass the end of a
  // valid header.
  if (buffer_.size() < kProxyV1MinSize) return kProxyV1MinSize - buffer_.size();
  if (buffer_[0] == kProxyV2Signature[0]) {
    if (buffer_.size() < kProxyV2FixedSize) return kProxyV2FixedSize - buffer_.size();
    const size_t total = kProxyV2FixedSize + (size_t{buffer_[14]} << 8 | buffer_[15]);
    return total - buffer_.size();
  }
  return kProxyV1MaxSize - buffer_.size();  // v1: receive() stops at the LF
}

Result<size_t> ProxyHeaderReader::receive(Bytes data) {
  if (error_) return *error_;
  if (header_) return size_t{0};
  size_t used = 0;
  while (used < data.size()) {
    size_t take = std::min(wanted(), data.size() - used);
    if (buffer_.size() >= kProxyV1MinSize && buffer_[0] != kProxyV2Signature[0]) {
      // A v1 line: up to its LF and no further.
      auto from = data.begin() + static_cast<long>(used);
      auto to = from + static_cast<long>(take);
      auto lf = std::find(from, to, uint8_t{'\n'});
      if (lf != to) take = static_cast<size_t>(lf - from) + 1;
    }
    buffer_.insert(buffer_.end(), data.begin() + static_cast<long>(used),
                   data.begin() + static_cast<long>(used + take));
    used += take;
    auto parsed = parse_proxy_header(Bytes(buffer_.data(), buffer_.size()), limits_);
    if (!parsed.ok()) {
      error_ = parsed.error();
      return *error_;
    }
    if (*parsed) {
      header_ = std::move(**parsed);
      return used;
    }
    if (take == 0) break;  // nothing more fits (cannot happen for a header still incomplete)
  }
  return used;
}

std::string format_ipv6(const std::array<uint8_t, 16>& b) {
  uint16_t g[8];
  for (size_t i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
  // IPv4-mapped (::ffff:0:0/96): RFC 5952 §5 writes the last 32 bits dotted.
  if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xFFFF) {
    return "::ffff:" + format_ipv4(b.data() + 12);
  }
  // The longest run of two or more zero groups (the first of equal ones) becomes "::".
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  static const char* kHex = "0123456789abcdef";
  auto group = [&](uint16_t v) {
    std::string s;
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      int d = v >> shift & 0xF;
      if (d || started || shift == 0) {
        s += kHex[d];
        started = true;
      }
    }
    return s;
  };
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    out += group(g[i]);
  }
  return out;
}

}  // namespace rtmp
