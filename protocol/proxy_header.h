// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): the first bytes
// a TCP load balancer (HAProxy `send-proxy` / `send-proxy-v2`, AWS NLB, ...) sends on each
// connection it relays, carrying the client's real address. A listener that trusts its balancer
// reads this header before the RTMP handshake; the bytes after it are the client's.
//
// Version 1 (§2.1), one line of US-ASCII, at most 107 bytes with its CRLF:
//   "PROXY" SP ( "TCP4" | "TCP6" ) SP src-addr SP dst-addr SP src-port SP dst-port CRLF
//   "PROXY" SP "UNKNOWN" [anything but CRLF] CRLF
//   IPv4 as four decimal numbers 0-255, IPv6 as hex groups with at most one "::"; ports
//   decimal 0-65535; numbers without leading zeros; exactly one space between fields.
// Version 2 (§2.2), binary, 16 + len bytes:
//   0   sig[12]  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
//   12  ver_cmd  high nibble version (2), low nibble command (0 LOCAL, 1 PROXY)
//   13  fam      high nibble family (0 UNSPEC, 1 INET, 2 INET6, 3 UNIX),
//                low nibble transport (0 UNSPEC, 1 STREAM, 2 DGRAM)
//   14  len u16be  bytes after these 16
//   16  addresses  INET: src[4] dst[4] sport[2] dport[2] (12)
//                  INET6: src[16] dst[16] sport[2] dport[2] (36)
//                  UNIX: src[108] dst[108] (216)
//   ..  TLVs       type u8 | length u16be | value[length], up to 16 + len (§2.2.1-2.2.7)
//
// Sans-IO: bytes in, a header out. Need-more-bytes is progress, not an error; a byte that
// cannot start or continue a valid header is an error as soon as it arrives (a plain RTMP
// client's C0 = 03 fails at the first byte). The receiver must not guess whether a header is
// present (§2): use this only on a port that requires it, from trusted senders.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"
#include "protocol/limits.h"

namespace rtmp {

// Longest version 1 line, CRLF included (§2.1: "PROXY UNKNOWN" with two full IPv6 addresses
// and ports); a line without CRLF by then is invalid.
constexpr size_t kProxyV1MaxSize = 107;
// Shortest valid version 1 line ("PROXY UNKNOWN\r\n") and the fixed part of version 2.
constexpr size_t kProxyV1MinSize = 15;
constexpr size_t kProxyV2FixedSize = 16;
constexpr std::array<uint8_t, 12> kProxyV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum class ProxyCommand : uint8_t {
  kLocal,  // v2 LOCAL: the balancer's own connection (a health check); use the real endpoints
  kProxy,  // relayed on behalf of a client (every v1 header)
};
enum class ProxyFamily : uint8_t { kUnspec, kInet, kInet6, kUnix };  // v1 UNKNOWN = kUnspec
enum class ProxyTransport : uint8_t { kUnspec, kStream, kDgram };

struct ProxyEndpoint {
  std::string address;  // "192.0.2.1", "2001:db8::1" (RFC 5952 text); "" when not carried
  uint16_t port = 0;
  std::array<uint8_t, 16> bytes{};  // the address in network order (IPv4: the first 4)
};

struct ProxyHeader {
  int version = 0;  // 1 or 2
  ProxyCommand command = ProxyCommand::kProxy;
  ProxyFamily family = ProxyFamily::kUnspec;
  ProxyTransport transport = ProxyTransport::kUnspec;
  ProxyEndpoint source;       // the client as the balancer saw it
  ProxyEndpoint destination;  // the address the client connected to (the balancer's)
  size_t tlv_count = 0;       // v2 TLVs seen (each checked to fit, none interpreted)
  size_t size = 0;            // bytes of the connection the header took

  // True when source/destination are the relayed client's TCP/UDP endpoints (PROXY over
  // IPv4/IPv6). False for LOCAL, UNKNOWN/UNSPEC and AF_UNIX: the receiver then uses the real
  // connection's addresses (§2.1, §2.2).
  bool has_addresses() const {
    return command == ProxyCommand::kProxy &&
           (family == ProxyFamily::kInet || family == ProxyFamily::kInet6) &&
           transport != ProxyTransport::kUnspec;
  }
};

// Parses a PROXY header from the first bytes of a connection (`data` = everything received so
// far, from byte 0). Returns nullopt while the header is incomplete and nothing seen is wrong,
// the header once complete (`size` of its bytes; what follows in `data` is the client's), or
// an error:
//   kMalformed      not a PROXY header (offset of the first wrong byte), a field out of range
//                   or badly written, a lone CR or LF, a v2 address block shorter than its
//                   family needs, a TLV running past the header;
//   kBadVersion     a v2 signature with a version other than 2;
//   kLimitExceeded  no CRLF within kProxyV1MaxSize bytes, or a v2 header longer than
//                   limits.max_proxy_header_size (refused at byte 16, before it is buffered).
Result<std::optional<ProxyHeader>> parse_proxy_header(Bytes data, const Limits& limits);

// The same parse fed in pieces as they arrive from the socket. It never takes a byte past the
// header: receive() returns how many of `data` it took; once done(), the rest of `data` (and
// everything after) belongs to the client. Buffers at most the header itself
// (kProxyV1MaxSize or limits.max_proxy_header_size bytes). After an error every call repeats it.
class ProxyHeaderReader {
 public:
  explicit ProxyHeaderReader(const Limits& limits) : limits_(limits) {}

  Result<size_t> receive(Bytes data);
  bool done() const { return header_.has_value(); }
  // The parsed header; only when done().
  const ProxyHeader& header() const { return *header_; }
  // How many more bytes may be taken without passing the end of a valid header (a v1 line may
  // end sooner, at its LF: receive() stops there). A socket reader peeks this many, hands them
  // to receive() and then consumes only what it took.
  size_t wanted() const;

 private:
  Limits limits_;
  std::vector<uint8_t> buffer_;
  std::optional<ProxyHeader> header_;
  std::optional<Error> error_;
};

// RFC 5952 text of a 16-byte IPv6 address (lower case, the longest run of two or more zero
// groups as "::", IPv4-mapped addresses as ::ffff:a.b.c.d).
std::string format_ipv6(const std::array<uint8_t, 16>& bytes);

}  // namespace rtmp
