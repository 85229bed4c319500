#include "protocol/error.h"

namespace rtmp {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kTruncated:
      return "truncated";
    case Errc::kMalformed:
      return "malformed";
    case Errc::kLimitExceeded:
      return "limit exceeded";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kProtocolViolation:
      return "protocol violation";
    case Errc::kBadVersion:
      return "bad version";
    case Errc::kAuthFailed:
      return "authentication failed";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kInvalidState:
      return "invalid state";
    case Errc::kInternal:
      return "internal error";
  }
  return "unknown error";
}

std::string Error::to_string() const {
  std::string s(errc_name(code));
  // A refusal or a deadline is about the session, not about a byte of it: no offset.
  if (code != Errc::kAuthFailed && code != Errc::kTimeout) {
    s += " at offset ";
    s += std::to_string(offset);
  }
  if (csid != 0 || msg_type != 0) {
    s += " (csid ";
    s += std::to_string(csid);
    s += ", type ";
    s += std::to_string(msg_type);
    s += ')';
  }
  if (!detail.empty()) {
    s += ": ";
    s += detail;
  }
  return s;
}

}  // namespace rtmp
