// The I/O under rtmppushsink: one TCP (or TLS, for rtmps) connection to a server driving a
// rtmp::ClientSession through the publish exchange, then carrying media.
//
// Threads: used by one thread at a time (the element's sender thread). Every blocking call
// takes the GCancellable given to open(); cancelling it makes any call return false at once.
// Writes block while the server's TCP window is full (that is the back-pressure), bounded by
// `timeout_s`: a server that stops reading for that long is a dropped connection.
#pragma once

#include <gio/gio.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/client_session.h"

namespace gst_ertmp {

struct PushTarget {
  rtmp::ClientConfig config;  // url, chunk size, capabilities, credentials, ...
  guint timeout_s = 5;        // TCP connect, TLS, handshake-to-Publish.Start, and stalled writes
  GTlsCertificateFlags tls_validation_flags = G_TLS_CERTIFICATE_VALIDATE_ALL;
};

// Why open() or a later call failed.
struct PushFailure {
  std::string message;
  std::string status_code;  // the server's onStatus/_error code, empty when none
  bool rejected = false;    // the server refused the stream (BadName, auth): do not retry
  bool cancelled = false;
};

class PushConnection {
 public:
  // Connects, handshakes and publishes (adobe auth retries on fresh connections inside).
  // Returns nullptr with `failure` filled when it did not reach NetStream.Publish.Start.
  static std::unique_ptr<PushConnection> open(const PushTarget& target, GCancellable* cancel,
                                              PushFailure* failure);
  ~PushConnection();

  rtmp::ClientSession& session() { return *session_; }
  const rtmp::PeerCapabilities& server_caps() const { return server_caps_; }
  const std::string& fms_ver() const { return fms_ver_; }

  // Writes everything the session has queued. False when the connection failed.
  bool flush(PushFailure* failure);
  // Reads what the server sent without blocking and handles it (acks, pings, onStatus).
  // False when the server closed or failed the connection.
  bool poll(PushFailure* failure);
  // A ReconnectRequest seen by poll(), with its resolved tcUrl; cleared by the call.
  std::optional<std::string> take_reconnect_request();
  // Clean stop: FCUnpublish + deleteStream, flushed, then the socket is closed after the
  // server had a moment (bounded by `linger_ms`) to read them.
  void close(guint linger_ms);

  guint64 bytes_sent() const { return session_->bytes_sent(); }

 private:
  PushConnection() = default;
  bool connect_once(const PushTarget& target, rtmp::ClientConfig config, PushFailure* failure);
  bool read_some(bool blocking, PushFailure* failure);
  bool drain_events(PushFailure* failure);

  static constexpr size_t kMaxPieces = 256;  // per writev, well under IOV_MAX

  GSocketConnection* conn_ = nullptr;
  GIOStream* stream_ = nullptr;  // conn_ itself, or the TLS connection over it
  GSocket* socket_ = nullptr;    // borrowed from conn_
  GCancellable* cancel_ = nullptr;
  std::unique_ptr<rtmp::ClientSession> session_;
  rtmp::PeerCapabilities server_caps_;
  std::string fms_ver_;
  std::optional<std::string> reconnect_request_;
  std::optional<std::string> auth_retry_;
  bool publishing_ = false;
  bool closed_ = false;
  bool write_failed_ = false;
  // flush() scratch, kept so a send per buffer does not allocate.
  std::vector<rtmp::Bytes> pieces_;
  std::vector<GOutputVector> vec_;
};

}  // namespace gst_ertmp
