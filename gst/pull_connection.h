// The I/O under rtmpingestsrc mode=caller: one TCP (or TLS, for rtmps) connection to a server,
// driving an rtmp::ClientSession in the play role up to NetStream.Play.Start, then reading what
// the server streams.
//
// Threads: a PullConnection is used by one thread (the element's puller thread, see
// pull_client.h), which must have pushed a GMainContext of its own as its thread-default
// context: every wait iterates that context (GIO's asynchronous connect and TLS handshake
// complete there) until what it waits for happens, a deadline passes or the GCancellable given
// to open() is cancelled. Nothing blocks outside such a wait.
//
// Deadlines: open() gives each connection attempt ONE deadline, `timeout_s` from its start, for
// everything up to NetStream.Play.Start: name resolution, TCP connect, the TLS handshake, the
// RTMP handshake, connect, createStream and play. A server that trickles any of them byte by
// byte cannot stretch it (a timeout per read, as GSocket's, restarts with every byte). Later, a
// write the server does not take for `timeout_s` fails the connection; reads wait for the
// deadline their caller gives (idle-timeout).
#pragma once

#include <gio/gio.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gst/push_connection.h"
#include "protocol/client_session.h"

namespace gst_ertmp {

struct PullTarget {
  rtmp::ClientConfig config;  // role kPlay, url, play options, capabilities, credentials, ...
  AuthMode auth = AuthMode::kAuto;
  guint timeout_s = 5;  // per connection attempt up to Play.Start, and stalled writes; 0 = none
  GTlsCertificateFlags tls_validation_flags = G_TLS_CERTIFICATE_VALIDATE_ALL;
};

// The same fields as a publisher's failure: a message, the server's status code, whether the
// server refused us, and the failure as a GError domain and code (error_map.h).
using PullFailure = PushFailure;

class PullConnection {
 public:
  // Connects and plays (adobe authentication retries on fresh connections inside). Returns
  // nullptr with `failure` filled when it did not reach NetStream.Play.Start.
  static std::unique_ptr<PullConnection> open(const PullTarget& target, GCancellable* cancel,
                                              PullFailure* failure);
  ~PullConnection();
  PullConnection(const PullConnection&) = delete;
  PullConnection& operator=(const PullConnection&) = delete;

  // The session's events after Play.Start, in order: what arrived with the Play.Start (the
  // server's onMetaData, Stream Begin, ...) first.
  std::optional<rtmp::ClientEvent> next_event();

  enum class Read {
    kData,       // bytes went into the session: drain next_event()
    kTimedOut,   // nothing before the deadline
    kClosed,     // the server closed the connection
    kFailed,     // a socket, TLS or protocol failure (see `failure`)
    kCancelled,  // the GCancellable fired
  };
  // Reads once, waiting until `deadline_us` (monotonic, 0 = no deadline) for bytes.
  Read read(gint64 deadline_us, PullFailure* failure);
  // Writes what the session queued (acknowledgements, pongs); false when the connection failed
  // or the server took nothing for `timeout_s`.
  bool flush(PullFailure* failure);
  // deleteStream, written if the socket takes it at once; then the connection closes.
  void close();

  const rtmp::ClientSession& session() const { return *session_; }
  const std::string& server() const { return server_; }  // "host:port" as connected to
  const std::string& fms_ver() const { return fms_ver_; }

 private:
  PullConnection() = default;
  bool connect_once(const PullTarget& target, rtmp::ClientConfig config, PullFailure* failure);
  bool drain_until_playing(PullFailure* failure);

  GCancellable* cancel_ = nullptr;  // this connection's: cancelled by the caller's or a deadline
  gulong cancel_link_ = 0;
  GCancellable* caller_cancel_ = nullptr;
  GSocketConnection* conn_ = nullptr;
  GIOStream* stream_ = nullptr;  // conn_ itself, or the TLS connection over it
  std::unique_ptr<rtmp::ClientSession> session_;
  std::deque<rtmp::ClientEvent> held_;  // events that came with Play.Start
  std::string server_;
  std::string fms_ver_;
  std::optional<std::string> auth_retry_;
  bool playing_ = false;
  guint timeout_s_ = 5;
  std::vector<uint8_t> buf_;
};

}  // namespace gst_ertmp
