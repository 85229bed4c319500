// PullClient: the thread behind one rtmpingestsrc in caller mode (SPEC §4, `mode=caller`).
//
// It connects and plays (PullConnection), and feeds what the server streams into the element's
// IngestStream exactly as a publisher's messages are fed in listener mode, so the pads, caps,
// timing, stats and bus messages are those of a publish. While a pad queue is over its bound
// (IngestStream answers kFull) it stops reading the socket until a pad task reports room:
// TCP back-pressure on that server, nothing received is dropped.
//
// When the stream is lost (the server closes or fails the connection, says the publisher left
// with Stream EOF or Play.UnpublishNotify, or sends nothing for idle-timeout):
//  - reconnect off (rtmp2src's behaviour): the stream ends (EOS); a connection that cannot be
//    made or a refused play is an error;
//  - reconnect on: it connects again, the first time at once and then after a delay doubling
//    from `reconnect_delay_ms` up to kMaxReconnectDelayMs, also while the server refuses the
//    play (StreamNotFound: not published yet); a new play continues the same pads
//    (IngestStream::begin: DISCONT, monotonic timestamps). An authentication refusal or a
//    certificate problem is an error at once: retrying cannot mend it. A publisher that leaves
//    without closing the connection is waited for on that connection.
//
// Why a thread per element and GIO, not the shared I/O loops of gst/io_loop: a caller element
// has exactly one connection (the loops exist for hundreds of publishers on one listener), and
// GIO gives the client half of what rtmp2src has (resolver, GSocketClient, GTlsClientConnection
// with tls-validation-flags against the system's CA database); the loops' TLS is a GnuTLS server.
// The thread waits on a GMainContext of its own, so every wait is bounded or cancellable and
// stop() returns promptly.
//
// Threads: the listener calls come from the puller thread and must not block on it; resume()
// comes from pad tasks; start/stop/fill_stats from the element's threads.
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gst/bitrate_meter.h"
#include "gst/ingest_stream.h"
#include "gst/pull_connection.h"

namespace gst_ertmp {

struct PullSettings {
  PullTarget target;
  bool reconnect = false;
  int reconnect_attempts = -1;  // failed attempts in a row before giving up; -1 = never
  guint reconnect_delay_ms = 1000;
  guint idle_timeout_s = 0;  // no byte from the server for this long: the stream is lost
  // EOS after this many buffers (-1 = unlimited): messages in flv output mode (one FLV tag
  // each), coded frames otherwise.
  gint num_buffers = -1;
  bool flv_mode = false;
};

// What the puller reports to the element (on the puller thread; never blocking on it).
class PullListener {
 public:
  virtual ~PullListener() = default;
  // Playing: `server` is host:port, `fms_ver` the server's fmsVer.
  virtual void on_playing(const std::string& server, const std::string& fms_ver) = 0;
  // The stream was lost; `clean` when the server said so (Stream EOF, UnpublishNotify).
  virtual void on_stream_lost(bool clean, const std::string& why) = 0;
  virtual void on_reconnecting(unsigned attempt, guint delay_ms, const std::string& why) = 0;
  // An onMetaData object went into the stream (the element learns which tracks to expect).
  virtual void on_metadata(const rtmp::amf::Value& metadata) = 0;
  virtual void on_warning(const std::string& what) = 0;
  // Bytes came from the server (after each read): time-based decisions.
  virtual void on_progress() = 0;
  // Given up: `connecting` when no play could be started (rtmp2src's connect errors).
  virtual void on_failed(const PullFailure& failure, bool connecting) = 0;
  // The stream is over for good (EOS).
  virtual void on_ended() = 0;
};

// rtmp2src's stats fields from `stats` (all 0 before any connection, as rtmp2src's), then
// `reconnects` and `server`.
void fill_pull_stats(GstStructure* s, const rtmp::ClientStats& stats, guint reconnects,
                     const std::string& server);

class PullClient {
 public:
  static constexpr guint kMaxReconnectDelayMs = 30'000;

  // `stream` and `listener` outlive the client (stop() joins before they go).
  PullClient(PullSettings settings, IngestStream* stream, PullListener* listener);
  ~PullClient();
  PullClient(const PullClient&) = delete;
  PullClient& operator=(const PullClient&) = delete;

  void start();
  // Cancels every wait and joins the thread (prompt: nothing waits uncancellably).
  void stop();
  // A pad has room again (IngestStream's on_room): reading resumes. Any thread.
  void resume();

  // rtmp2src's stats fields (in/out-chunk-size, in/out-window-ack-size, in/out-bytes-total,
  // in/out-bytes-acked; the last connection's), then `reconnects` and `server`.
  void fill_stats(GstStructure* s);
  // Bits/s received from the server over the last 5 s (across reconnects).
  guint64 bitrate();
  // True while a full pad queue holds the reading back.
  bool reading_paused() const { return paused_; }

 private:
  struct Lost {
    enum class Kind { kLost, kEnded, kCancelled } kind = Kind::kLost;
    bool clean = false;
    std::string why;
  };
  void run();
  Lost play(PullConnection& conn);
  bool handle(rtmp::ClientEvent&& ev, PullConnection& conn, Lost* lost);
  void feed_result(IngestStream::Result r, Lost* lost);
  bool wait_for_room();
  bool sleep_ms(guint ms);
  void snapshot(const PullConnection& conn);
  // Feeds rate_ the bytes received so far (all connections); stats_mu_ held.
  guint64 sample_rate_locked();

  PullSettings settings_;
  IngestStream* stream_;
  PullListener* listener_;
  GCancellable* cancel_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool room_ = false;  // a pad reported room since we last looked

  std::atomic<bool> paused_{false};
  // Puller thread only.
  bool full_ = false;
  bool awaiting_republish_ = false;
  gint64 buffers_ = 0;

  std::mutex stats_mu_;
  rtmp::ClientStats stats_{0, 0, 0, 0, 0, 0, 0, 0};
  guint64 bytes_before_ = 0;  // in_bytes_total of the connections before this one
  BitrateMeter rate_;
  std::string server_;
  guint reconnects_ = 0;
};

}  // namespace gst_ertmp
