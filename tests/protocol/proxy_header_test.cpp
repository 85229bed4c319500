// PROXY protocol headers (HAProxy's proxy-protocol.txt §2.1, §2.2): byte tables from the spec
// and from HAProxy's own output, each fed at every split point, to the one-shot parser and to
// the reader that never takes a byte past the header.
#include "protocol/proxy_header.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/protocol/test_util.h"

namespace rtmp {
namespace {

using test::bytes_of;
using test::cat;
using test::hex;

// What the client sends after the header (an RTMP C0 and the start of C1): never taken.
const std::vector<uint8_t> kAfter = {0x03, 0x00, 0x00, 0x00, 0x00, 0xAA};

const std::vector<uint8_t> kV2Sig = hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A");

// The header must be complete at exactly `size` bytes (nullopt before, at every prefix), the
// same with any bytes after it, and the reader must take exactly `size` bytes wherever the
// input is split (two pieces at every split point, and byte by byte).
ProxyHeader expect_parses(const std::vector<uint8_t>& header, const Limits& limits = Limits{}) {
  const size_t size = header.size();
  for (size_t n = 0; n < size; ++n) {
    auto r = parse_proxy_header(Bytes(header.data(), n), limits);
    EXPECT_TRUE(r.ok()) << "prefix " << n << ": " << r.error().to_string();
    if (r.ok()) {
      EXPECT_FALSE(r->has_value()) << "complete at " << n << " of " << size;
    }
  }
  const std::vector<uint8_t> stream = cat({header, kAfter});
  auto whole = parse_proxy_header(Bytes(stream.data(), stream.size()), limits);
  EXPECT_TRUE(whole.ok()) << whole.error().to_string();
  if (!whole.ok() || !whole->has_value()) {
    ADD_FAILURE() << "not parsed";
    return {};
  }
  const ProxyHeader& h = **whole;
  EXPECT_EQ(h.size, size);
  for (size_t split = 0; split <= stream.size(); ++split) {
    ProxyHeaderReader reader(limits);
    auto a = reader.receive(Bytes(stream.data(), split));
    if (!a.ok()) {
      ADD_FAILURE() << "split " << split << ": " << a.error().to_string();
      continue;
    }
    size_t used = *a;
    if (!reader.done()) {
      EXPECT_EQ(used, split) << "an incomplete header takes every byte offered";
      auto b = reader.receive(Bytes(stream.data() + split, stream.size() - split));
      EXPECT_TRUE(b.ok()) << "split " << split;
      if (b.ok()) used += *b;
    }
    EXPECT_TRUE(reader.done()) << "split " << split;
    EXPECT_EQ(used, size) << "split " << split << ": took bytes that are the client's";
    if (reader.done()) {
      EXPECT_EQ(reader.header().source.address, h.source.address);
      EXPECT_EQ(reader.header().destination.port, h.destination.port);
    }
  }
  ProxyHeaderReader bytewise(limits);
  size_t used = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    auto r = bytewise.receive(Bytes(stream.data() + i, 1));
    EXPECT_TRUE(r.ok());
    if (r.ok()) used += *r;
  }
  EXPECT_TRUE(bytewise.done());
  EXPECT_EQ(used, size);
  return h;
}

// The bytes fail with `code` at `offset` once `detect_at` bytes are in (need-more before, at
// every prefix); the reader fails the same wherever the input is split.
void expect_fails(const std::vector<uint8_t>& bytes, Errc code, uint64_t offset, size_t detect_at,
                  const std::string& text = "", const Limits& limits = Limits{}) {
  ASSERT_LE(detect_at, bytes.size());
  for (size_t n = 0; n < detect_at; ++n) {
    auto r = parse_proxy_header(Bytes(bytes.data(), n), limits);
    EXPECT_TRUE(r.ok() && !r->has_value()) << "prefix " << n << " is not need-more";
  }
  for (size_t n = detect_at; n <= bytes.size(); ++n) {
    auto r = parse_proxy_header(Bytes(bytes.data(), n), limits);
    ASSERT_FALSE(r.ok()) << "prefix " << n << " of " << bytes.size() << " parsed";
    EXPECT_EQ(r.error().code, code) << r.error().to_string();
    EXPECT_EQ(r.error().offset, offset) << r.error().to_string();
    EXPECT_NE(r.error().detail.find(text), std::string::npos) << r.error().to_string();
  }
  for (size_t split = 0; split <= bytes.size(); ++split) {
    ProxyHeaderReader reader(limits);
    auto a = reader.receive(Bytes(bytes.data(), split));
    auto b = a.ok() ? reader.receive(Bytes(bytes.data() + split, bytes.size() - split)) : a;
    ASSERT_FALSE(b.ok()) << "split " << split;
    EXPECT_EQ(b.error().code, code);
    EXPECT_FALSE(reader.done());
    auto again = reader.receive(Bytes(kAfter.data(), kAfter.size()));
    EXPECT_FALSE(again.ok()) << "an error is final";
  }
}

// --- version 1 (§2.1) ---------------------------------------------------------------------

TEST(ProxyHeaderV1, SpecTcp4ExampleBeforeAnHttpRequest) {
  // §2.1's example line (then "GET / HTTP/1.1": here an RTMP C0 follows instead).
  ProxyHeader h = expect_parses(bytes_of("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"));
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.command, ProxyCommand::kProxy);
  EXPECT_EQ(h.family, ProxyFamily::kInet);
  EXPECT_EQ(h.transport, ProxyTransport::kStream);
  EXPECT_TRUE(h.has_addresses());
  EXPECT_EQ(h.source.address, "192.168.0.1");
  EXPECT_EQ(h.source.port, 56324);
  EXPECT_EQ(h.destination.address, "192.168.0.11");
  EXPECT_EQ(h.destination.port, 443);
  EXPECT_EQ(h.source.bytes[0], 192);
  EXPECT_EQ(h.source.bytes[3], 1);
  EXPECT_EQ(h.size, 47u);
}

TEST(ProxyHeaderV1, SpecLongestTcp4LineIs56Bytes) {
  auto line = bytes_of("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  ASSERT_EQ(line.size(), 56u);
  ProxyHeader h = expect_parses(line);
  EXPECT_EQ(h.source.address, "255.255.255.255");
  EXPECT_EQ(h.source.port, 65535);
  EXPECT_EQ(h.destination.port, 65535);
}

TEST(ProxyHeaderV1, SpecLongestTcp6LineIs104Bytes) {
  const std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  auto line = bytes_of("PROXY TCP6 " + full + " " + full + " 65535 65535\r\n");
  ASSERT_EQ(line.size(), 104u);
  ProxyHeader h = expect_parses(line);
  EXPECT_EQ(h.family, ProxyFamily::kInet6);
  EXPECT_EQ(h.source.address, full);
  EXPECT_EQ(h.source.bytes[15], 0xFF);
}

TEST(ProxyHeaderV1, Tcp6AsHaproxyWritesItCompressedAndMapped) {
  ProxyHeader h =
      expect_parses(bytes_of("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:127.0.0.1 1 1935\r\n"));
  EXPECT_EQ(h.source.address, "2001:db8::1");  // RFC 5952 text
  EXPECT_EQ(h.destination.address, "::ffff:127.0.0.1");
  EXPECT_EQ(h.destination.bytes[10], 0xFF);
  EXPECT_EQ(h.destination.bytes[12], 127);
  EXPECT_EQ(h.source.port, 1);
  ProxyHeader loop = expect_parses(bytes_of("PROXY TCP6 ::1 :: 0 65535\r\n"));
  EXPECT_EQ(loop.source.address, "::1");
  EXPECT_EQ(loop.destination.address, "::");
  EXPECT_EQ(loop.source.port, 0);
}

TEST(ProxyHeaderV1, UnknownShortFormIs15Bytes) {
  ProxyHeader h = expect_parses(bytes_of("PROXY UNKNOWN\r\n"));
  EXPECT_EQ(h.size, 15u);
  EXPECT_EQ(h.family, ProxyFamily::kUnspec);
  EXPECT_FALSE(h.has_addresses());
  EXPECT_EQ(h.source.address, "");
}

TEST(ProxyHeaderV1, UnknownWorstCaseIs107BytesAndItsRestIsIgnored) {
  const std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  auto line = bytes_of("PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n");
  ASSERT_EQ(line.size(), kProxyV1MaxSize);
  ProxyHeader h = expect_parses(line);  // N: the longest line is accepted
  EXPECT_FALSE(h.has_addresses());
  expect_parses(bytes_of("PROXY UNKNOWN whatever: not parsed\r\n"));
}

TEST(ProxyHeaderV1, NoCrlfWithin107BytesIsRefusedAtTheLimit) {
  // N+1: 106 bytes of text, then CR LF would make 108.
  auto line = bytes_of("PROXY UNKNOWN " + std::string(92, 'f') + "\r\n");
  ASSERT_EQ(line.size(), kProxyV1MaxSize + 1);
  expect_fails(line, Errc::kLimitExceeded, 106, 107, "no CRLF within 107 bytes");
}

TEST(ProxyHeaderV1, BytesThatAreNotAProxyHeaderFailAtTheFirstWrongByte) {
  // A plain RTMP client on a port that requires the header: refused at its C0.
  expect_fails(hex("03 00 00 00 00 00"), Errc::kMalformed, 0, 1, "first byte 3");
  expect_fails(bytes_of("GET / HTTP/1.1\r\n"), Errc::kMalformed, 0, 1);
  expect_fails(bytes_of("PROXX TCP4"), Errc::kMalformed, 4, 5);
  expect_fails(bytes_of("PROXY\r\n"), Errc::kMalformed, 5, 6);
}

TEST(ProxyHeaderV1, LoneCrOrLfAndControlBytesFailAtOnce) {
  expect_fails(bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), Errc::kMalformed, 30, 31,
               "LF without CR");
  expect_fails(bytes_of("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), Errc::kMalformed, 31, 32,
               "CR not followed by LF");
  auto binary = bytes_of("PROXY TCP4 1.2.3.4");
  binary.push_back(0x80);
  expect_fails(binary, Errc::kMalformed, 18, 19, "byte 128");
  expect_fails(bytes_of("PROXY TCP4\t1.2.3.4"), Errc::kMalformed, 10, 11, "byte 9");
}

TEST(ProxyHeaderV1, BadFieldsFailWhenTheLineIsComplete) {
  struct Case {
    std::string line;  // without CRLF
    uint64_t offset;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2", 6, "unknown protocol 'TCP5'"},
      {"PROXY UNKNOWNX", 6, "unknown protocol 'UNKNOWNX'"},
      {"PROXY ", 6, "unknown protocol ''"},
      {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2", 11, "source address '01.2.3.4' is not IPv4"},
      {"PROXY TCP4 1.2.3.256 5.6.7.8 1 2", 11, "is not IPv4"},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2", 11, "is not IPv4"},
      {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2", 11, "is not IPv4"},
      {"PROXY TCP4 1.2.3.4 ::1 1 2", 19, "destination address '::1' is not IPv4"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 080 2", 27, "source port '080'"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536", 29, "destination port '65536'"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2", 29, "destination port '-2'"},
      {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2", 19, "empty field"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1", 28, "expected a space and 4 fields"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", 30, "text after the destination port"},
      {"PROXY TCP6 1.2.3.4 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 1::2::3 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 :1:2:3:4:5:6:7 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 1:2:3:4:5:6:7: ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 12345::1 ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 ::g ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2", 11, "is not IPv6"},
      {"PROXY TCP6 ::1.2.3.4:5 ::1 1 2", 11, "is not IPv6"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    auto bytes = bytes_of(c.line + "\r\n");
    expect_fails(bytes, Errc::kMalformed, c.offset, bytes.size(), c.text);
  }
}

// --- version 2 (§2.2) ---------------------------------------------------------------------

TEST(ProxyHeaderV2, Tcp4AsHaproxySendsIt) {
  // HAProxy's send-proxy-v2 for 172.19.0.1:42578 -> 172.19.0.3:80.
  ProxyHeader h = expect_parses(
      cat({kV2Sig, hex("21 | 11 | 00 0C | AC 13 00 01 | AC 13 00 03 | A6 52 | 00 50")}));
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.command, ProxyCommand::kProxy);
  EXPECT_EQ(h.family, ProxyFamily::kInet);
  EXPECT_EQ(h.transport, ProxyTransport::kStream);
  EXPECT_TRUE(h.has_addresses());
  EXPECT_EQ(h.source.address, "172.19.0.1");
  EXPECT_EQ(h.source.port, 42578);
  EXPECT_EQ(h.destination.address, "172.19.0.3");
  EXPECT_EQ(h.destination.port, 80);
  EXPECT_EQ(h.size, 28u);
  EXPECT_EQ(h.tlv_count, 0u);
}

TEST(ProxyHeaderV2, Tcp6) {
  ProxyHeader h = expect_parses(
      cat({kV2Sig, hex("21 | 21 | 00 24 | 20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01 |"
                       "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 | 04 D2 | 07 8F")}));
  EXPECT_EQ(h.family, ProxyFamily::kInet6);
  EXPECT_EQ(h.source.address, "2001:db8::1");
  EXPECT_EQ(h.source.port, 1234);
  EXPECT_EQ(h.destination.address, "::1");
  EXPECT_EQ(h.destination.port, 1935);
  EXPECT_EQ(h.size, 52u);
}

TEST(ProxyHeaderV2, UdpCarriesAddressesToo) {
  ProxyHeader h = expect_parses(
      cat({kV2Sig, hex("21 | 12 | 00 0C | 0A 00 00 01 | 0A 00 00 02 | 00 35 | 00 35")}));
  EXPECT_EQ(h.transport, ProxyTransport::kDgram);
  EXPECT_TRUE(h.has_addresses());
  EXPECT_EQ(h.source.address, "10.0.0.1");
}

TEST(ProxyHeaderV2, LocalIsAHealthCheckWhateverItsBlockHolds) {
  ProxyHeader h = expect_parses(cat({kV2Sig, hex("20 | 00 | 00 00")}));
  EXPECT_EQ(h.command, ProxyCommand::kLocal);
  EXPECT_FALSE(h.has_addresses());
  EXPECT_EQ(h.size, 16u);
  // §2.2: receivers must skip `len` bytes even for LOCAL (here an INET block and junk).
  ProxyHeader with_block = expect_parses(
      cat({kV2Sig, hex("20 | 11 | 00 0E | 01 02 03 04 05 06 07 08 09 0A 0B 0C FF FF")}));
  EXPECT_EQ(with_block.size, 30u);
  EXPECT_FALSE(with_block.has_addresses());
  EXPECT_EQ(with_block.source.address, "");
}

TEST(ProxyHeaderV2, UnspecAndUnixCarryNoUsableAddress) {
  ProxyHeader unspec = expect_parses(cat({kV2Sig, hex("21 | 00 | 00 03 | 01 02 03")}));
  EXPECT_EQ(unspec.family, ProxyFamily::kUnspec);
  EXPECT_FALSE(unspec.has_addresses());
  std::vector<uint8_t> unix_block(216, 0);
  unix_block[0] = '/';
  ProxyHeader unix = expect_parses(cat({kV2Sig, hex("21 | 31 | 00 D8"), unix_block}));
  EXPECT_EQ(unix.family, ProxyFamily::kUnix);
  EXPECT_FALSE(unix.has_addresses());
  EXPECT_EQ(unix.size, 232u);
}

TEST(ProxyHeaderV2, TlvsAreSkippedAndCounted) {
  // NOOP (0x04, 3 bytes), UNIQUE_ID (0x05, 4 bytes), an empty ALPN (0x01).
  ProxyHeader h = expect_parses(cat({kV2Sig, hex("21 | 11 | 00 1C | 7F 00 00 01 | 7F 00 00 01 |"
                                                 "30 39 | 07 8F | 04 00 03 00 00 00 |"
                                                 "05 00 04 DE AD BE EF | 01 00 00")}));
  EXPECT_EQ(h.tlv_count, 3u);
  EXPECT_EQ(h.source.address, "127.0.0.1");
  EXPECT_EQ(h.source.port, 12345);
  EXPECT_EQ(h.size, 44u);
}

TEST(ProxyHeaderV2, LengthAtTheLimitAndOneOver) {
  Limits limits;
  const size_t n = limits.max_proxy_header_size;
  // N: one NOOP TLV filling the header to exactly the limit.
  const size_t tlv_value = n - 16 - 12 - 3;
  std::vector<uint8_t> at = cat({kV2Sig,
                                 hex("21 11"),
                                 {uint8_t((n - 16) >> 8), uint8_t(n - 16)},
                                 hex("7F 00 00 01 7F 00 00 01 00 01 00 02"),
                                 {0x04, uint8_t(tlv_value >> 8), uint8_t(tlv_value)},
                                 std::vector<uint8_t>(tlv_value, 0)});
  ASSERT_EQ(at.size(), n);
  EXPECT_EQ(expect_parses(at, limits).tlv_count, 1u);
  // N+1: refused once the length field is in, before anything of it is buffered.
  const size_t over = n + 1 - 16;
  std::vector<uint8_t> header = cat({kV2Sig, hex("21 11"), {uint8_t(over >> 8), uint8_t(over)}});
  expect_fails(header, Errc::kLimitExceeded, 14, 16, "2049 bytes over the 2048-byte limit", limits);
  // And the largest length field, 65535.
  expect_fails(cat({kV2Sig, hex("21 11 FF FF")}), Errc::kLimitExceeded, 14, 16, "", limits);
}

TEST(ProxyHeaderV2, BadSignatureVersionCommandFamilyFailAtTheirByte) {
  expect_fails(cat({hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0B"), hex("21 11 00 00")}),
               Errc::kMalformed, 11, 12, "signature");
  expect_fails(hex("0D 0A 0D 0D"), Errc::kMalformed, 3, 4);
  expect_fails(cat({kV2Sig, hex("11 11 00 0C")}), Errc::kBadVersion, 12, 13, "version 1, not 2");
  expect_fails(cat({kV2Sig, hex("31 11 00 0C")}), Errc::kBadVersion, 12, 13, "version 3");
  expect_fails(cat({kV2Sig, hex("22 11 00 0C")}), Errc::kMalformed, 12, 13, "command 2");
  expect_fails(cat({kV2Sig, hex("21 41 00 0C")}), Errc::kMalformed, 13, 14, "address family 4");
  expect_fails(cat({kV2Sig, hex("21 13 00 0C")}), Errc::kMalformed, 13, 14, "transport 3");
}

TEST(ProxyHeaderV2, BlocksShorterThanTheirFamilyAndOverrunningTlvsAreMalformed) {
  expect_fails(cat({kV2Sig, hex("21 11 00 0B | 7F 00 00 01 7F 00 00 01 00 01 00")}),
               Errc::kMalformed, 14, 27, "address block of 11 bytes, its family needs 12");
  expect_fails(cat({kV2Sig, hex("21 21 00 0C | 7F 00 00 01 7F 00 00 01 00 01 00 02")}),
               Errc::kMalformed, 14, 28, "needs 36");
  // A TLV declaring 10 bytes with 2 left in the header; a TLV header cut after 2 bytes.
  expect_fails(
      cat({kV2Sig, hex("21 11 00 11 | 7F 00 00 01 7F 00 00 01 00 01 00 02 | 05 00 0A AB CD")}),
      Errc::kMalformed, 28, 33, "TLV of 10 bytes runs past the header");
  expect_fails(cat({kV2Sig, hex("21 11 00 0E | 7F 00 00 01 7F 00 00 01 00 01 00 02 | 05 00")}),
               Errc::kMalformed, 28, 30, "truncated TLV header");
}

TEST(ProxyHeader, FormatsIpv6AsRfc5952) {
  auto v6 = [](std::string_view text) {
    auto h = parse_proxy_header(Bytes(bytes_of("PROXY TCP6 " + std::string(text) + " ::1 1 2\r\n")),
                                Limits{});
    return h.ok() && *h ? (*h)->source.address : std::string("error");
  };
  EXPECT_EQ(v6("2001:0db8:0000:0000:0001:0000:0000:0001"), "2001:db8::1:0:0:1");  // first run
  EXPECT_EQ(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // one zero group: no "::"
  EXPECT_EQ(v6("0:0:0:0:0:0:0:0"), "::");
  EXPECT_EQ(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");  // the longest run
  EXPECT_EQ(v6("fe80::"), "fe80::");
  EXPECT_EQ(v6("::FFFF:10.1.2.3"), "::ffff:10.1.2.3");
  EXPECT_EQ(v6("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4:5:6:102:304");
}

TEST(ProxyHeader, EmptyInputIsNeedMore) {
  auto r = parse_proxy_header(Bytes(), Limits{});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  ProxyHeaderReader reader{Limits{}};
  auto used = reader.receive(Bytes());
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 0u);
  EXPECT_FALSE(reader.done());
}

TEST(ProxyHeader, ReaderTakesNothingOnceDone) {
  ProxyHeaderReader reader{Limits{}};
  auto line = cat({bytes_of("PROXY UNKNOWN\r\n"), kAfter});
  auto used = reader.receive(Bytes(line.data(), line.size()));
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 15u);
  auto more = reader.receive(Bytes(kAfter.data(), kAfter.size()));
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*more, 0u);
}

}  // namespace
}  // namespace rtmp
