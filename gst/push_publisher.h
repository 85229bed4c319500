// rtmppushsink's publisher: the connection to the server with its backlog and retry policy.
//
// One PushPublisher lives from READY->PAUSED to PAUSED->READY (built by start, dropped by
// stop). Its worker thread connects (at start with async-connect, else when the first packet
// comes), reconnects with backoff after a drop, and services an idle connection (acks, pings,
// a reconnect request) every 100 ms. The base sink's streaming thread sends: send() writes the
// packets itself while connected (no thread hop on the media path; a write blocks while the
// server's TCP window is full, bounded by `timeout`) and keeps them in the backlog while
// disconnected (at most `max-buffer-time`, dropped from the front to the next keyframe).
//
// Headers: every frame packet names the sequence header and onMetaData it was packaged under;
// a connection sends each before the first frame that needs it. A connection that starts
// without a backlog first sends the stream's current headers (push_headers.h).
//
// Errors (error_map.h), posted on the bus after every lock is released:
//   - the first connection fails, or the server refuses the stream at any time: the
//     connect error (RESOURCE/NOT_AUTHORIZED, OPEN_READ or FAILED), no retry;
//   - reconnect-attempts used up: RESOURCE/WRITE "Connection error".
// Element messages: rtmppushsink-connected (location, server, enhanced) after each connect,
// rtmppushsink-reconnecting (attempt, reason) before each reconnect attempt.
//
// Locks: io_mu_ (the connection, the backlog, what this connection sent) is held across
// blocking writes; mu_ (flags, counters) only briefly. Order: io_mu_, then mu_.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gst/error_map.h"
#include "gst/push_connection.h"
#include "gst/push_headers.h"
#include "gst/push_packet.h"

namespace gst_ertmp {

struct PublisherSettings {
  PushTarget target;  // url, flash version, credentials, secure token, timeout, TLS, ...
  bool async_connect = true;
  rtmp::StopCommands stop_commands;
  int reconnect_attempts = 10;  // -1 forever, 0 none
  guint reconnect_delay_ms = 1000;
  GstClockTime max_buffer_time = 10 * GST_SECOND;
  guint chunk_size = 4096;
  guint peak_kbps = 0;
  bool userspace_pacing = false;  // pace in send() even where the kernel can
};

// Sending at most `rate` bytes per second in user space, where the kernel cannot pace.
class Pacer {
 public:
  void set_rate(guint64 bytes_per_second) { rate_ = bytes_per_second; }
  guint64 rate() const { return rate_; }
  // When `n` bytes may go (monotonic µs), given that it is `now_us`; books them.
  gint64 book(size_t n, gint64 now_us);

 private:
  guint64 rate_ = 0;  // 0 = unlimited
  gint64 next_free_us_ = 0;
};

class PushPublisher {
 public:
  PushPublisher(GstElement* element, PublisherSettings settings, const StreamHeaders& headers);
  ~PushPublisher();  // stop()
  PushPublisher(const PushPublisher&) = delete;
  PushPublisher& operator=(const PushPublisher&) = delete;

  void start();
  // Streaming thread. Waits for the first connection (or its failure), as send() does, and
  // gives what the server's connect `_result` echoed (its E-RTMP capabilities: empty for a
  // server that echoes none), which decides what enhanced=auto sends for the whole run.
  // GST_FLOW_OK, or send()'s codes.
  GstFlowReturn wait_connected(rtmp::PeerCapabilities* server_caps);
  // Streaming thread. Waits for the first connection (or its failure); then sends or backlogs.
  // GST_FLOW_ERROR once the publisher failed (the error is on the bus), GST_FLOW_FLUSHING when
  // flushing or stopping, GST_FLOW_EOS after finish().
  GstFlowReturn send(std::vector<Packet>& packets);
  // EOS: waits until the backlog is delivered (or the publisher failed), sends the stop
  // commands and closes.
  GstFlowReturn finish();
  // The base sink's unlock/unlock_stop: waits in send()/finish() return while flushing.
  void set_flushing(bool flushing);
  // Cancels every blocking call and joins the worker (PAUSED->READY). Idempotent.
  void stop();

  // Changeable while PLAYING: applied before the next packet.
  void set_chunk_size(guint chunk_size) { chunk_size_ = chunk_size; }
  void set_peak_kbps(guint kbps) { peak_kbps_ = kbps; }

  // Fields for the `stats` structure (rtmp2sink's names and types, then ours).
  void fill_stats(GstStructure* s);

 private:
  void run();
  bool connect_due_locked(gint64 now_us) const;
  void connect_once();
  bool start_connection(std::string* why);
  void send_one(Packet&& pk, std::string* why);
  bool deliver_with_headers(const Packet& pk, std::string* why);
  bool deliver_header(const Packet& header, uint64_t dts_ms, std::string* why);
  bool deliver(const Packet& pk, uint64_t dts_ms, std::string* why);
  void backlog_push(Packet&& pk);
  void apply_live_settings();
  void service(std::string* why);
  void drop_connection(const std::string& why);
  void forget_connection();
  bool schedule_retry_locked();
  void update_stats();
  void post(GstMessage* message);  // queued; posted by flush_outbox() without locks held
  // Posts the error and marks the publish failed (failed_) at once; see the definition.
  void fail(const BusError& error, const std::string& text, const std::string& debug);
  GstFlowReturn failed_flow();  // flushes the outbox, then GST_FLOW_ERROR
  void flush_outbox();

  GstElement* element_;
  const PublisherSettings settings_;
  const StreamHeaders& headers_;
  GCancellable* cancel_ = nullptr;
  std::thread worker_;
  std::atomic<guint> chunk_size_;
  std::atomic<guint> peak_kbps_;

  std::mutex io_mu_;
  std::unique_ptr<PushConnection> conn_;
  rtmp::Url url_;  // changes when the server asks us to move
  std::deque<Packet> backlog_;
  struct Sent {  // the headers this connection has sent
    PacketPtr metadata;
    std::map<TrackKey, PacketPtr> sequence_headers;
  } sent_;
  bool want_keyframe_ = false;  // a new connection resumes video at a keyframe
  std::optional<std::string> reconnect_to_;
  uint64_t last_dts_ms_ = 0;
  gint64 last_service_us_ = 0;
  guint applied_chunk_size_ = 0;
  guint applied_peak_kbps_ = 0;
  bool kernel_pacing_ = false;
  Pacer pacer_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool flushing_ = false;
  guint64 unlocks_ = 0;  // set_flushing(true) calls
  bool failed_ = false;
  bool finished_ = false;
  bool want_connect_ = false;  // async-connect=false: the first packet asked for it
  bool connected_ = false;
  bool ever_connected_ = false;
  rtmp::PeerCapabilities first_server_caps_;  // the first connection's connect _result echo
  int attempts_ = 0;
  gint64 next_attempt_us_ = 0;
  gint64 connected_since_us_ = 0;
  std::string last_reason_;
  std::vector<GstMessage*> outbox_;
  // Stats.
  std::string server_;
  guint reconnects_ = 0;
  guint64 dropped_ = 0;
  guint64 bytes_closed_ = 0;  // sent by connections already gone
  rtmp::ClientStats live_;    // of the current (or last) connection
};

}  // namespace gst_ertmp
