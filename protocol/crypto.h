// Hashes and encodings the protocol needs, written here so protocol/ has no crypto dependency:
//  - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): the digest ("complex") handshake;
//  - MD5 (RFC 1321) and base64 (RFC 4648): Adobe authentication (authmod=adobe).
// None of this is used for secrecy; it only has to match what Flash-era peers compute.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/byte_reader.h"

namespace rtmp {

using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

class Sha256 {
 public:
  Sha256();
  void update(Bytes data);
  Sha256Digest finish();

  // Compresses one 64-byte block (public for the shared buffering helper; not for callers).
  void block(const uint8_t* p);

 private:
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

Sha256Digest sha256(Bytes data);
Sha256Digest hmac_sha256(Bytes key, Bytes data);

class Md5 {
 public:
  Md5();
  void update(Bytes data);
  Md5Digest finish();

  // Compresses one 64-byte block (public for the shared buffering helper; not for callers).
  void block(const uint8_t* p);

 private:
  uint32_t h_[4];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

Md5Digest md5(Bytes data);
inline Md5Digest md5(std::string_view s) {
  return md5(Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::string base64_encode(Bytes data);
template <size_t N>
std::string base64_encode(const std::array<uint8_t, N>& a) {
  return base64_encode(Bytes(a.data(), a.size()));
}
// Strict decode (padding required, no whitespace); nullopt on any invalid input.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

// The secureToken answer (Limelight-style; librtmp and GStreamer's rtmp2 send the same): the
// server's challenge `hex_text` (8 hex digits per 32-bit little-endian word; a digit that is
// not hex counts as 0, as librtmp reads it) decrypted with XXTEA ("corrected block TEA",
// Wheeler and Needham 1998) under a key made of the first 16 bytes of `key` (zero-padded, four
// little-endian words). The result is the decrypted bytes up to the first NUL. An empty
// challenge gives an empty answer.
std::string secure_token_response(std::string_view key, std::string_view hex_text);

// Lower-case hex of bytes (tests and logs).
std::string to_hex(Bytes data);

}  // namespace rtmp
