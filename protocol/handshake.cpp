#include "protocol/handshake.h"

#include <algorithm>
#include <cstring>

#include "protocol/crypto.h"

namespace rtmp {
namespace {

// "Genuine Adobe Flash Player 001" + 32 constant bytes (62), and
// "Genuine Adobe Flash Media Server 001" + the same 32 bytes (68): the keys every FP9-style
// peer (librtmp, ffmpeg, FMS, nginx-rtmp) uses.
constexpr uint8_t kKeyTail[32] = {0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0,
                                  0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80,
                                  0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};
constexpr char kPlayerText[] = "Genuine Adobe Flash Player 001";        // 30 bytes
constexpr char kServerText[] = "Genuine Adobe Flash Media Server 001";  // 36 bytes

std::vector<uint8_t> full_key(const char* text, size_t len) {
  std::vector<uint8_t> k(text, text + len);
  k.insert(k.end(), std::begin(kKeyTail), std::end(kKeyTail));
  return k;
}
const std::vector<uint8_t>& player_key() {
  static const auto k = full_key(kPlayerText, 30);
  return k;
}
const std::vector<uint8_t>& server_key() {
  static const auto k = full_key(kServerText, 36);
  return k;
}
Bytes player_key_short() {
  return Bytes(player_key()).first(30);
}
Bytes server_key_short() {
  return Bytes(server_key()).first(36);
}

// Deterministic filler (xorshift32) for the random parts when the caller gave no randomness.
void fill_random(uint8_t* p, size_t n, const std::vector<uint8_t>& given, uint32_t seed) {
  size_t from_caller = std::min(n, given.size());
  if (from_caller) std::memcpy(p, given.data(), from_caller);
  uint32_t x = seed ? seed : 0x2545F491u;
  for (size_t i = from_caller; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = static_cast<uint8_t>(x);
  }
}

void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// HMAC over the packet without the 32 digest bytes at `pos`.
Sha256Digest packet_digest(Bytes packet, size_t pos, Bytes key) {
  std::vector<uint8_t> msg;
  msg.reserve(kHandshakeSize - 32);
  msg.insert(msg.end(), packet.begin(), packet.begin() + static_cast<ptrdiff_t>(pos));
  msg.insert(msg.end(), packet.begin() + static_cast<ptrdiff_t>(pos + 32), packet.end());
  return hmac_sha256(key, msg);
}

// Builds a 1536-byte C1/S1 with an embedded digest.
std::vector<uint8_t> make_digest_packet(uint32_t time, const uint8_t version[4], int schema,
                                        Bytes key, const std::vector<uint8_t>& random,
                                        uint32_t seed) {
  std::vector<uint8_t> p(kHandshakeSize);
  put_be32(p.data(), time);
  std::memcpy(p.data() + 4, version, 4);
  fill_random(p.data() + 8, kHandshakeSize - 8, random, seed);
  size_t pos = handshake_detail::digest_offset(p, schema);
  Sha256Digest d = packet_digest(p, pos, key);
  std::memcpy(p.data() + pos, d.data(), 32);
  return p;
}

// S2/C2 answering a digest C1/S1: 1504 random bytes + HMAC keyed by HMAC(full key, digest).
std::vector<uint8_t> make_digest_answer(Bytes peer_digest, const std::vector<uint8_t>& full,
                                        const std::vector<uint8_t>& random, uint32_t seed) {
  std::vector<uint8_t> p(kHandshakeSize);
  fill_random(p.data(), kHandshakeSize - 32, random, seed);
  Sha256Digest key = hmac_sha256(full, peer_digest);
  Sha256Digest sig = hmac_sha256(key, Bytes(p).first(kHandshakeSize - 32));
  std::memcpy(p.data() + kHandshakeSize - 32, sig.data(), 32);
  return p;
}

Error bad_version(uint8_t v) {
  std::string what = v == 6
                         ? "RTMPE (encrypted RTMP, version 6) is not supported"
                         : "not an RTMP handshake: version byte " + std::to_string(v) + " (want 3)";
  return make_error(Errc::kBadVersion, what, 0);
}

// Appends up to `want - have.size()` bytes; returns how many were taken.
size_t take(std::vector<uint8_t>& have, size_t want, Bytes data) {
  size_t n = std::min(want - have.size(), data.size());
  have.insert(have.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
  return n;
}

}  // namespace

namespace handshake_detail {

size_t digest_offset(Bytes packet, int schema) {
  size_t base = schema == 0 ? 8 : 772;
  unsigned sum = unsigned{packet[base]} + packet[base + 1] + packet[base + 2] + packet[base + 3];
  return (sum % 728) + base + 4;
}

bool validate_digest(Bytes packet, int schema, Bytes key) {
  if (packet.size() != kHandshakeSize) return false;
  size_t pos = digest_offset(packet, schema);
  Sha256Digest d = packet_digest(packet, pos, key);
  return std::memcmp(d.data(), packet.data() + pos, 32) == 0;
}

}  // namespace handshake_detail

ServerHandshake::ServerHandshake(HandshakeOptions options, uint32_t time_ms)
    : opts_(std::move(options)), time_(time_ms) {}

void ServerHandshake::consume_output(size_t n) {
  out_pos_ = std::min(out_.size(), out_pos_ + n);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

Result<size_t> ServerHandshake::receive(Bytes data) {
  size_t used = 0;
  if (state_ == State::kC0C1) {
    if (in_.empty() && !data.empty() && data[0] != kRtmpVersion) return bad_version(data[0]);
    used += take(in_, 1 + kHandshakeSize, data);
    if (in_.size() < 1 + kHandshakeSize) return used;
    Bytes c1 = Bytes(in_).subspan(1);
    // A zero version word means a plain (pre-FP9) client; otherwise look for its digest.
    bool versioned = c1[4] | c1[5] | c1[6] | c1[7];
    if (versioned) {
      for (int schema : {0, 1}) {
        if (handshake_detail::validate_digest(c1, schema, player_key_short())) {
          digest_schema_ = schema;
          break;
        }
      }
    }
    out_.push_back(kRtmpVersion);
    if (digest_schema_ >= 0) {
      static constexpr uint8_t kServerVersion[4] = {0x04, 0x05, 0x00, 0x01};
      auto s1 = make_digest_packet(time_, kServerVersion, digest_schema_, server_key_short(),
                                   opts_.random, 0x9E3779B9u ^ time_);
      out_.insert(out_.end(), s1.begin(), s1.end());
      size_t pos = handshake_detail::digest_offset(c1, digest_schema_);
      auto s2 = make_digest_answer(c1.subspan(pos, 32), server_key(), {}, 0x7F4A7C15u ^ time_);
      out_.insert(out_.end(), s2.begin(), s2.end());
    } else {
      std::vector<uint8_t> s1(kHandshakeSize);
      put_be32(s1.data(), time_);
      fill_random(s1.data() + 8, kHandshakeSize - 8, opts_.random, 0x9E3779B9u ^ time_);
      out_.insert(out_.end(), s1.begin(), s1.end());
      out_.insert(out_.end(), c1.begin(), c1.end());  // S2 = echo of C1
    }
    in_.clear();
    state_ = State::kC2;
    data = data.subspan(used);
  }
  if (state_ == State::kC2) {
    // C2 is not verified: real clients (and librtmp in particular) send values servers ignore.
    size_t n = take(in_, kHandshakeSize, data);
    used += n;
    if (in_.size() == kHandshakeSize) {
      state_ = State::kDone;
      in_.clear();
      in_.shrink_to_fit();
    }
  }
  return used;
}

ClientHandshake::ClientHandshake(HandshakeOptions options, uint32_t time_ms)
    : opts_(std::move(options)) {
  if (opts_.digest) {
    // Flash Player 9.0.124.2's version word, as librtmp and ffmpeg send.
    static constexpr uint8_t kPlayerVersion[4] = {0x09, 0x00, 0x7C, 0x02};
    c1_ = make_digest_packet(time_ms, kPlayerVersion, opts_.schema == 1 ? 1 : 0, player_key_short(),
                             opts_.random, 0x68E31DA4u ^ time_ms);
  } else {
    c1_.assign(kHandshakeSize, 0);
    put_be32(c1_.data(), time_ms);
    fill_random(c1_.data() + 8, kHandshakeSize - 8, opts_.random, 0x68E31DA4u ^ time_ms);
  }
  out_.push_back(kRtmpVersion);
  out_.insert(out_.end(), c1_.begin(), c1_.end());
}

void ClientHandshake::consume_output(size_t n) {
  out_pos_ = std::min(out_.size(), out_pos_ + n);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

Result<size_t> ClientHandshake::receive(Bytes data) {
  if (state_ == State::kDone) return size_t{0};
  if (in_.empty() && !data.empty() && data[0] != kRtmpVersion) return bad_version(data[0]);
  size_t used = take(in_, 1 + 2 * kHandshakeSize, data);
  if (in_.size() < 1 + 2 * kHandshakeSize) return used;
  Bytes s1 = Bytes(in_).subspan(1, kHandshakeSize);
  std::vector<uint8_t> c2;
  if (opts_.digest) {
    int schema = opts_.schema == 1 ? 1 : 0;
    server_digest_valid_ = handshake_detail::validate_digest(s1, schema, server_key_short());
    if (!server_digest_valid_) {
      server_digest_valid_ = handshake_detail::validate_digest(s1, 1 - schema, server_key_short());
      if (server_digest_valid_) schema = 1 - schema;
    }
    if (server_digest_valid_) {
      size_t pos = handshake_detail::digest_offset(s1, schema);
      c2 = make_digest_answer(s1.subspan(pos, 32), player_key(), {}, 0x1B873593u);
    }
  }
  if (c2.empty()) c2.assign(s1.begin(), s1.end());  // plain server: echo S1
  out_.insert(out_.end(), c2.begin(), c2.end());
  state_ = State::kDone;
  in_.clear();
  in_.shrink_to_fit();
  return used;
}

}  // namespace rtmp
