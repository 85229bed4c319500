// The RTMP handshake (Adobe RTMP spec 2012 §5.2), both sides, plain and digest.
//
//   C0/S0  version u8 (3; 6 would be RTMPE, anything else is not RTMP)
//   C1/S1  time u32 | zero-or-version u32 | 1528 random bytes            (1536 bytes)
//   C2/S2  echo of the peer's C1/S1 (plain), or random + HMAC (digest)   (1536 bytes)
// Digest ("complex", Flash Player 9+) variant, as librtmp, ffmpeg and FMS do it: C1's second
// word is a non-zero version and C1 embeds a 32-byte HMAC-SHA256 digest at a position derived
// from 4 offset bytes:
//   schema 0: offset bytes at 8..11,   digest at (sum % 728) + 12
//   schema 1: offset bytes at 772..775, digest at (sum % 728) + 776
// computed over the other 1504 bytes and keyed with the first 30 bytes of the Flash Player key
// (client) or the first 36 bytes of the Media Server key (server). The answer S2 (C2) is 1504
// random bytes + HMAC(HMAC(full key, peer digest), those 1504 bytes).
// A server detects the digest by validating it at either position; a client that sent no digest
// gets the plain echo.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/error.h"

namespace rtmp {

constexpr size_t kHandshakeSize = 1536;
constexpr uint8_t kRtmpVersion = 3;

struct HandshakeOptions {
  bool digest = false;  // client: send a digest C1 (server: always answers in kind)
  int schema = 0;       // client digest schema (0 or 1)
  // 1528 bytes of randomness from the caller (sans-IO: no entropy source in here). Shorter or
  // empty: the rest is filled with a fixed pseudo-random pattern (deterministic tests).
  std::vector<uint8_t> random;
};

class ServerHandshake {
 public:
  explicit ServerHandshake(HandshakeOptions options = {}, uint32_t time_ms = 0);

  // Consumes handshake bytes; returns how many of `data` belonged to the handshake (bytes after
  // C2, e.g. a pipelined connect, are left to the caller). Errors: kBadVersion for C0 != 3.
  Result<size_t> receive(Bytes data);
  Bytes pending_output() const { return Bytes(out_).subspan(out_pos_); }
  void consume_output(size_t n);
  bool done() const { return state_ == State::kDone; }
  bool client_used_digest() const { return digest_schema_ >= 0; }
  int digest_schema() const { return digest_schema_; }

 private:
  enum class State { kC0C1, kC2, kDone };
  HandshakeOptions opts_;
  uint32_t time_;
  State state_ = State::kC0C1;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> out_;
  size_t out_pos_ = 0;
  int digest_schema_ = -1;
};

class ClientHandshake {
 public:
  // Queues C0+C1 immediately.
  explicit ClientHandshake(HandshakeOptions options = {}, uint32_t time_ms = 0);

  Result<size_t> receive(Bytes data);
  Bytes pending_output() const { return Bytes(out_).subspan(out_pos_); }
  void consume_output(size_t n);
  bool done() const { return state_ == State::kDone; }
  // Digest mode: whether S1 carried a valid server digest (false for a plain server).
  bool server_digest_valid() const { return server_digest_valid_; }

 private:
  enum class State { kS0S1S2, kDone };
  HandshakeOptions opts_;
  State state_ = State::kS0S1S2;
  std::vector<uint8_t> c1_;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> out_;
  size_t out_pos_ = 0;
  bool server_digest_valid_ = false;
};

namespace handshake_detail {
// Exposed for tests: digest offset of a C1/S1 in a schema, and validation.
size_t digest_offset(Bytes packet, int schema);
bool validate_digest(Bytes packet, int schema, Bytes key);
}  // namespace handshake_detail

}  // namespace rtmp
