// Server-side TLS for the I/O loops: GnuTLS on a non-blocking socket, driven by readiness.
//
// Why not GIO's GTlsServerConnection: glib-networking runs every handshake, even the
// synchronous one, on GTask's small shared thread pool, so a hundred peers that open a TLS
// handshake and stall it made every new rtmps publisher wait ~9 s (issue 11). Here a
// handshake is a state machine on the connection's loop: a stalled peer costs a socket and a
// deadline, nothing else. GnuTLS is what glib-networking already loads, so rtmps needs no new
// library at run time.
//
// The certificate still comes as a GTlsCertificate (the element's tls-certificate property or
// PEM files): its PEM certificate chain and private key are loaded into GnuTLS credentials.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include <gio/gio.h>

namespace gst_ertmp {

// Credentials shared by every connection of a listener (immutable once made).
class TlsCredentials {
 public:
  // nullptr with `error` set when the certificate has no PEM form or no private key.
  static std::shared_ptr<TlsCredentials> from_certificate(GTlsCertificate* cert,
                                                          std::string* error);
  ~TlsCredentials();
  void* native() const { return creds_; }

 private:
  TlsCredentials() = default;
  void* creds_ = nullptr;  // gnutls_certificate_credentials_t
};

class TlsSession {
 public:
  enum class Io {
    kDone,       // the call did its work (see its result)
    kWantRead,   // wait until the socket is readable, then call again
    kWantWrite,  // wait until the socket is writable, then call again
    kClosed,     // the peer closed the connection (cleanly or not)
    kError,      // a TLS error: see error()
  };

  // Over `fd` (non-blocking, not owned).
  TlsSession(std::shared_ptr<TlsCredentials> creds, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  Io handshake();
  // Reads decrypted bytes: kDone with *n > 0, or another state (*n = 0).
  Io read(void* buf, size_t size, size_t* n);
  // True when decrypted bytes are buffered (the socket may not look readable).
  bool pending() const;
  // Writes up to `size` bytes: kDone with *n > 0. After kWantWrite the next call must pass at
  // least the same bytes again (GnuTLS resumes the record it had started).
  Io write(const void* buf, size_t size, size_t* n);
  // Best effort close_notify, never blocking.
  void bye();
  const std::string& error() const { return error_; }

 private:
  Io status(long rc, bool* fatal);
  std::shared_ptr<TlsCredentials> creds_;
  void* session_ = nullptr;  // gnutls_session_t
  size_t retry_size_ = 0;    // size of a send interrupted by EAGAIN
  std::string error_;
};

}  // namespace gst_ertmp
