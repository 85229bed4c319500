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

// rtmp2's `authmod`: how adobe authentication is used.
enum class AuthMode {
  kNone = 0,   // never: a server that asks for it refuses us
  kAuto = 1,   // when the server asks for it (code=403 need auth; authmod=adobe)
  kAdobe = 2,  // from the first connect (needs username and password)
};

// `config` as `auth` wants it (both directions' connections): kNone drops the user name so the
// session never answers a challenge, kAdobe names the user in the first connect. False when
// kAdobe lacks a username or password.
bool apply_auth_mode(AuthMode auth, rtmp::ClientConfig* config);
// "accept-certificate" handler of a client TLS connection (push and pull): refused only for the
// GTlsCertificateFlags the application asked to check (tls-validation-flags, passed as the
// handler's data with GUINT_TO_POINTER), as rtmp2sink/rtmp2src.
gboolean accept_server_certificate(GTlsConnection* tls, GTlsCertificate* cert,
                                   GTlsCertificateFlags errors, gpointer flags);
// Closes a client connection's stream (the TLS one over `conn`, or `conn` itself) and drops
// both; nothing when `conn` is null.
void close_client_stream(GIOStream* stream, GSocketConnection* conn, GCancellable* cancel);

struct PushTarget {
  rtmp::ClientConfig config;  // url, chunk size, capabilities, credentials, secure token, ...
  AuthMode auth = AuthMode::kAuto;
  // TCP connect, TLS, handshake-to-Publish.Start, and stalled writes; 0 = no limit (as
  // GSocketClient's timeout 0).
  guint timeout_s = 5;
  GTlsCertificateFlags tls_validation_flags = G_TLS_CERTIFICATE_VALIDATE_ALL;
};

// Why open() or a later call failed.
struct PushFailure {
  std::string message;
  std::string status_code;  // the server's onStatus/_error code, empty when none
  bool rejected = false;    // the server refused the stream (BadName, auth): do not retry
  bool cancelled = false;
  // The failure as a GError domain and code (G_IO_ERROR for what the server said, see
  // error_map.h; the socket's or TLS layer's own error otherwise).
  GQuark domain = 0;
  gint code = 0;
};

// Fills `f` afresh (nothing left over from an earlier attempt): `message`, and the failure as
// `err`'s domain and code (with ": " + its message appended), or G_IO_ERROR `code` without one.
// Shared with the pull side (PullFailure is the same type).
void set_failure(PushFailure* f, std::string message, GError* err = nullptr,
                 GIOErrorEnum code = G_IO_ERROR_FAILED);

// The failure a ClientClosed stands for: its error (or "the server ended the session"), the
// server's status code mapped to a GIOErrorEnum (error_map.h), whether the server refused us.
void set_closed_failure(PushFailure* f, const rtmp::ClientClosed& closed);

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
  // Clean stop: the chosen stop commands (FCUnpublish + deleteStream by default), flushed, then
  // the socket is closed after the server had a moment (bounded by `linger_ms`) to read them.
  void close(guint linger_ms, const rtmp::StopCommands& commands = {});

  // Kernel pacing of the socket (SO_MAX_PACING_RATE, bytes per second; 0 = off). False when
  // the kernel has no such option: the caller paces in user space.
  bool set_pacing_rate(guint64 bytes_per_second);

  guint64 bytes_sent() const { return session_->bytes_sent(); }
  rtmp::ClientStats stats() const { return session_->stats(); }

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
