#include "gst/tls_session.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <sys/socket.h>

namespace gst_ertmp {
namespace {

gnutls_certificate_credentials_t as_creds(void* p) {
  return static_cast<gnutls_certificate_credentials_t>(p);
}
gnutls_session_t as_session(void* p) {
  return static_cast<gnutls_session_t>(p);
}

// The socket functions GnuTLS calls: plain recv/send on the non-blocking fd, never SIGPIPE.
ssize_t pull(gnutls_transport_ptr_t ptr, void* buf, size_t size) {
  return recv(static_cast<int>(reinterpret_cast<intptr_t>(ptr)), buf, size, 0);
}
ssize_t push(gnutls_transport_ptr_t ptr, const void* buf, size_t size) {
  return send(static_cast<int>(reinterpret_cast<intptr_t>(ptr)), buf, size, MSG_NOSIGNAL);
}

std::string pem_of(GTlsCertificate* cert, const char* property) {
  gchar* pem = nullptr;
  g_object_get(cert, property, &pem, nullptr);
  std::string out = pem ? pem : "";
  g_free(pem);
  return out;
}

}  // namespace

std::shared_ptr<TlsCredentials> TlsCredentials::from_certificate(GTlsCertificate* cert,
                                                                 std::string* error) {
  // The chain: the certificate, then its issuers as the GTlsCertificate links them.
  std::string chain;
  for (GTlsCertificate* c = cert; c; c = g_tls_certificate_get_issuer(c)) {
    std::string pem = pem_of(c, "certificate-pem");
    if (pem.empty()) {
      *error = "the TLS certificate has no PEM form";
      return nullptr;
    }
    chain += pem;
    if (chain.back() != '\n') chain += '\n';
  }
  std::string key = pem_of(cert, "private-key-pem");
  if (key.empty()) {
    *error = "the TLS certificate has no private key (or not one in PEM form)";
    return nullptr;
  }
  std::shared_ptr<TlsCredentials> out(new TlsCredentials());
  gnutls_certificate_credentials_t creds = nullptr;
  int rc = gnutls_certificate_allocate_credentials(&creds);
  if (rc < 0) {
    *error = gnutls_strerror(rc);
    return nullptr;
  }
  out->creds_ = creds;
  gnutls_datum_t c{reinterpret_cast<unsigned char*>(chain.data()),
                   static_cast<unsigned>(chain.size())};
  gnutls_datum_t k{reinterpret_cast<unsigned char*>(key.data()), static_cast<unsigned>(key.size())};
  rc = gnutls_certificate_set_x509_key_mem2(creds, &c, &k, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rc < 0) {
    *error = std::string("the TLS certificate or key does not load: ") + gnutls_strerror(rc);
    return nullptr;
  }
  return out;
}

TlsCredentials::~TlsCredentials() {
  if (creds_) gnutls_certificate_free_credentials(as_creds(creds_));
}

TlsSession::TlsSession(std::shared_ptr<TlsCredentials> creds, int fd) : creds_(std::move(creds)) {
  gnutls_session_t s = nullptr;
  int rc = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
  if (rc < 0) {
    error_ = gnutls_strerror(rc);
    return;
  }
  session_ = s;
  rc = gnutls_set_default_priority(s);
  if (rc >= 0) rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, as_creds(creds_->native()));
  if (rc < 0) {
    error_ = gnutls_strerror(rc);
    return;
  }
  gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
  gnutls_transport_set_ptr(s, reinterpret_cast<gnutls_transport_ptr_t>(static_cast<intptr_t>(fd)));
  gnutls_transport_set_pull_function(s, pull);
  gnutls_transport_set_push_function(s, push);
}

TlsSession::~TlsSession() {
  if (session_) gnutls_deinit(as_session(session_));
}

TlsSession::Io TlsSession::status(long rc, bool* fatal) {
  *fatal = false;
  if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
    return gnutls_record_get_direction(as_session(session_)) ? Io::kWantWrite : Io::kWantRead;
  }
  if (rc == GNUTLS_E_PREMATURE_TERMINATION) return Io::kClosed;  // no close_notify: a drop
  if (!gnutls_error_is_fatal(static_cast<int>(rc))) {
    // A warning alert (e.g. a renegotiation request we do not honour): go on reading.
    return Io::kWantRead;
  }
  *fatal = true;
  error_ = gnutls_strerror(static_cast<int>(rc));
  return Io::kError;
}

TlsSession::Io TlsSession::handshake() {
  if (!session_ || !error_.empty()) return Io::kError;
  int rc = gnutls_handshake(as_session(session_));
  if (rc == GNUTLS_E_SUCCESS) return Io::kDone;
  bool fatal;
  return status(rc, &fatal);
}

TlsSession::Io TlsSession::read(void* buf, size_t size, size_t* n) {
  *n = 0;
  ssize_t rc = gnutls_record_recv(as_session(session_), buf, size);
  if (rc > 0) {
    *n = static_cast<size_t>(rc);
    return Io::kDone;
  }
  if (rc == 0) return Io::kClosed;
  bool fatal;
  return status(rc, &fatal);
}

bool TlsSession::pending() const {
  return session_ && gnutls_record_check_pending(as_session(session_)) > 0;
}

TlsSession::Io TlsSession::write(const void* buf, size_t size, size_t* n) {
  *n = 0;
  if (retry_size_ > 0 && size >= retry_size_) size = retry_size_;
  ssize_t rc = gnutls_record_send(as_session(session_), buf, size);
  if (rc > 0) {
    retry_size_ = 0;
    *n = static_cast<size_t>(rc);
    return Io::kDone;
  }
  bool fatal;
  Io io = status(rc, &fatal);
  if (io == Io::kWantRead || io == Io::kWantWrite) retry_size_ = size;
  return io;
}

void TlsSession::bye() {
  if (session_) (void)gnutls_bye(as_session(session_), GNUTLS_SHUT_WR);
}

}  // namespace gst_ertmp
