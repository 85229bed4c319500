// Errors of the protocol library: one small code enum, a detail string and where it happened.
//
// Contract (STYLE rule 3): nothing in protocol/ throws on peer input. Decoders return
// Result<T>; "need more bytes" in a streaming parser is progress, never an Error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rtmp {

enum class Errc : uint8_t {
  // Peer faults: the bytes we were given are wrong.
  kTruncated,          // a complete unit (AMF value, tag body, message) ended early
  kMalformed,          // a field has a value the format does not allow
  kLimitExceeded,      // a configured Limits bound would be crossed
  kUnsupported,        // well-formed but not something we implement (unknown FourCC, ...)
  kProtocolViolation,  // a message arrived that the state machine forbids
  kBadVersion,         // handshake C0/S0 != 3
  kAuthFailed,         // the peer refused our credentials / publish
  kTimeout,            // a session deadline passed
  // Caller misuse.
  kInvalidArgument,
  kInvalidState,
  // Our own bug.
  kInternal,
};

std::string_view errc_name(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string detail;
  uint64_t offset = 0;   // byte offset in the unit being parsed (or in the connection stream)
  uint32_t csid = 0;     // chunk stream id, 0 when not known
  uint8_t msg_type = 0;  // RTMP message type id, 0 when not known

  // "malformed at offset 12 (csid 4, type 20): AMF0 marker 0x0e unknown"; a refusal or a
  // timeout has no offset ("authentication failed: ...").
  std::string to_string() const;

  // Returns a copy of the error with `base` added to its offset; used when a nested decoder
  // reports an offset relative to a sub-span.
  Error shifted(uint64_t base) const {
    Error e = *this;
    e.offset += base;
    return e;
  }
};

inline Error make_error(Errc code, std::string detail, uint64_t offset = 0) {
  return Error{code, std::move(detail), offset, 0, 0};
}

// A value or an Error. Small and explicit; [[nodiscard]] so a failure is never dropped.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Ok) {}                                                  // NOLINT: implicit
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace rtmp

#define RTMP_CONCAT_INNER_(a, b) a##b
#define RTMP_CONCAT_(a, b) RTMP_CONCAT_INNER_(a, b)

// RTMP_TRY(auto x, expr): evaluates expr (a Result<T>), returns its Error from the enclosing
// function on failure, else binds the value to the declaration.
#define RTMP_TRY(decl, expr) RTMP_TRY_IMPL_(RTMP_CONCAT_(rtmp_try_, __LINE__), decl, expr)
#define RTMP_TRY_IMPL_(tmp, decl, expr)         \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()

// RTMP_CHECK(expr): for Result<void>/Status; returns the error on failure.
#define RTMP_CHECK(expr)                                                        \
  do {                                                                          \
    auto rtmp_check_result_ = (expr);                                           \
    if (!rtmp_check_result_.ok()) return std::move(rtmp_check_result_).error(); \
  } while (0)
