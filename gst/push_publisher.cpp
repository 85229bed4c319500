#include "gst/push_publisher.h"

#include <algorithm>
#include <chrono>

#include "gst/error_map.h"

#include "gst/push_debug.h"

#define GST_CAT_DEFAULT gst_ertmp::push_debug_category()

namespace gst_ertmp {
namespace {

// Frames at least this large, with chunks at least this large, are sent without copying them
// (headers and slices of the mapped buffer in one writev); smaller ones are cheaper to copy.
constexpr size_t kBorrowMinBytes = 8 * 1024;
constexpr guint kBorrowMinChunk = 1024;
// How often an idle connection is serviced, and a busy one polled between packets.
constexpr gint64 kServiceIntervalUs = 100'000;
constexpr gint64 kBusyPollIntervalUs = 20'000;
// A connection that lived shorter than this counts as a failed attempt (a server that accepts
// and then drops us gets the backoff and, at the end, an error instead of an endless loop).
constexpr gint64 kStableConnectionUs = 10 * G_USEC_PER_SEC;
constexpr guint kCloseLingerMs = 1000;

gint64 now_us() {
  return g_get_monotonic_time();
}

}  // namespace

gint64 Pacer::book(size_t n, gint64 now) {
  if (rate_ == 0) return now;
  gint64 start = std::max(now, next_free_us_);
  next_free_us_ = start + static_cast<gint64>(n * 1'000'000 / rate_);
  return start;
}

PushPublisher::PushPublisher(GstElement* element, PublisherSettings settings,
                             const StreamHeaders& headers)
    : element_(element),
      settings_(std::move(settings)),
      headers_(headers),
      chunk_size_(settings_.chunk_size),
      peak_kbps_(settings_.peak_kbps) {
  url_ = settings_.target.config.url;
  cancel_ = g_cancellable_new();
}

PushPublisher::~PushPublisher() {
  stop();
  g_object_unref(cancel_);
  for (GstMessage* m : outbox_) gst_message_unref(m);
}

void PushPublisher::start() {
  worker_ = std::thread([this] { run(); });
}

void PushPublisher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  g_cancellable_cancel(cancel_);
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> io(io_mu_);
  forget_connection();
  backlog_.clear();
}

void PushPublisher::set_flushing(bool flushing) {
  std::lock_guard<std::mutex> lock(mu_);
  flushing_ = flushing;
  if (flushing) ++unlocks_;  // PLAYING->PAUSED unlocks and un-unlocks at once: count them
  cv_.notify_all();
}

// --- bus messages --------------------------------------------------------------------------

void PushPublisher::post(GstMessage* message) {
  std::lock_guard<std::mutex> lock(mu_);
  outbox_.push_back(message);
}

// The error is queued and failed_ set in one critical section: a streaming thread that sees
// failed_ flushes the outbox before it returns GST_FLOW_ERROR, so our error is on the bus before
// anything upstream reacts to the flow return (an EOS or a generic "Internal data stream
// error" used to overtake it).
void PushPublisher::fail(const BusError& error, const std::string& text, const std::string& debug) {
  std::string message = std::string(error.what) + ": " + text;
  GError* err = g_error_new_literal(error.domain, error.code, message.c_str());
  GstMessage* m = gst_message_new_error(GST_OBJECT(element_), err, debug.c_str());
  g_error_free(err);
  std::lock_guard<std::mutex> lock(mu_);
  outbox_.push_back(m);
  failed_ = true;
  cv_.notify_all();
}

GstFlowReturn PushPublisher::failed_flow() {
  flush_outbox();
  return GST_FLOW_ERROR;
}

void PushPublisher::flush_outbox() {
  std::vector<GstMessage*> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(outbox_);
  }
  for (GstMessage* m : out) gst_element_post_message(element_, m);
}

// --- the worker ----------------------------------------------------------------------------

bool PushPublisher::connect_due_locked(gint64 now) const {
  return !connected_ && !failed_ && !finished_ &&
         (settings_.async_connect || want_connect_ || ever_connected_) && now >= next_attempt_us_;
}

void PushPublisher::run() {
  for (;;) {
    bool do_connect = false, do_service = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      gint64 now = now_us();
      gint64 until = now + kServiceIntervalUs;
      if (!connected_ && next_attempt_us_ > now) until = std::min(until, next_attempt_us_);
      cv_.wait_for(lock, std::chrono::microseconds(std::max<gint64>(until - now, 1000)),
                   [&] { return stopping_ || connect_due_locked(now_us()); });
      if (stopping_) break;
      do_connect = connect_due_locked(now_us());
      do_service = connected_;
    }
    if (do_connect) {
      connect_once();
    } else if (do_service) {
      // An idle connection still answers pings and acks; when send() holds the connection it
      // services it itself.
      std::unique_lock<std::mutex> io(io_mu_, std::try_to_lock);
      if (io.owns_lock() && conn_ && now_us() - last_service_us_ >= kServiceIntervalUs) {
        std::string why;
        service(&why);
      }
    }
    flush_outbox();
  }
  flush_outbox();
}

void PushPublisher::connect_once() {
  PushTarget target = settings_.target;
  bool reconnecting;
  int attempt;
  std::string reason;
  {
    std::lock_guard<std::mutex> io(io_mu_);
    target.config.url = url_;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    reconnecting = ever_connected_;
    attempt = attempts_ + 1;
    reason = last_reason_;
  }
  target.config.out_chunk_size = chunk_size_;
  const std::string where = target.config.url.to_string();
  if (reconnecting) {
    post(gst_message_new_element(
        GST_OBJECT(element_),
        gst_structure_new("rtmppushsink-reconnecting", "attempt", G_TYPE_INT, attempt, "reason",
                          G_TYPE_STRING, reason.c_str(), nullptr)));
    flush_outbox();
  }
  PushFailure f;
  auto c = PushConnection::open(target, cancel_, &f);
  if (f.cancelled || g_cancellable_is_cancelled(cancel_)) return;
  if (!c) {
    GST_WARNING_OBJECT(element_, "publishing to %s failed: %s %s", where.c_str(),
                       f.status_code.c_str(), f.message.c_str());
    bool fatal, give_up = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_reason_ = f.message;
      // A wrong URL, key or credentials: an error at once, as rtmp2sink (no retry).
      fatal = !ever_connected_ || f.rejected;
      if (!fatal) give_up = !schedule_retry_locked();
    }
    std::string code = f.status_code.empty() ? "" : " (" + f.status_code + ")";
    if (fatal) {
      fail(connect_error(f.domain, f.code),
           (f.rejected ? "The server refused to publish " : "Could not publish to ") + where + code,
           f.message);
    } else if (give_up) {
      fail(connection_error(true),
           "Connection to " + where + " lost and " + std::to_string(settings_.reconnect_attempts) +
               " reconnect attempts failed",
           f.message);
    }
    return;
  }
  std::string why, server;
  bool ok, enhanced = false;
  {
    std::lock_guard<std::mutex> io(io_mu_);
    conn_ = std::move(c);
    server = conn_->fms_ver();
    enhanced = conn_->server_caps().present_any;
    applied_chunk_size_ = target.config.out_chunk_size;
    applied_peak_kbps_ = 0;
    kernel_pacing_ = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connected_ = true;
      if (ever_connected_) ++reconnects_;
      if (!ever_connected_) first_server_caps_ = conn_->server_caps();
      ever_connected_ = true;
      connected_since_us_ = now_us();
      server_ = server;
      cv_.notify_all();
    }
    apply_live_settings();
    ok = start_connection(&why);
    if (!ok) drop_connection(why);
  }
  if (ok)
    GST_INFO_OBJECT(element_, "publishing to %s (server '%s')", where.c_str(), server.c_str());
  post(gst_message_new_element(
      GST_OBJECT(element_),
      gst_structure_new("rtmppushsink-connected", "location", G_TYPE_STRING, where.c_str(),
                        "server", G_TYPE_STRING, server.c_str(), "enhanced", G_TYPE_BOOLEAN,
                        enhanced, nullptr)));
}

// --- retry policy --------------------------------------------------------------------------

// The next attempt: at once the first time, then reconnect-delay doubling up to 30 s. False
// when reconnect-attempts are used up.
bool PushPublisher::schedule_retry_locked() {
  ++attempts_;
  if (settings_.reconnect_attempts >= 0 && attempts_ > settings_.reconnect_attempts) return false;
  gint64 delay_ms = attempts_ == 1 ? 0
                                   : std::min<gint64>(gint64{settings_.reconnect_delay_ms}
                                                          << std::min(attempts_ - 2, 5),
                                                      30'000);
  next_attempt_us_ = now_us() + delay_ms * 1000;
  return true;
}

// io_mu_ held. The connection failed: forget it (no goodbye), plan the next attempt.
void PushPublisher::drop_connection(const std::string& why) {
  GST_WARNING_OBJECT(element_, "connection to %s lost: %s", url_.to_string().c_str(), why.c_str());
  forget_connection();
  bool give_up;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_reason_ = why;
    if (now_us() - connected_since_us_ >= kStableConnectionUs) attempts_ = 0;
    give_up = !schedule_retry_locked();
    cv_.notify_all();
  }
  if (give_up) {
    fail(connection_error(true),
         "Connection to " + url_.to_string() + " lost and " +
             std::to_string(settings_.reconnect_attempts) + " reconnect attempts failed",
         why);
  }
}

// io_mu_ held.
void PushPublisher::forget_connection() {
  if (!conn_) return;
  std::lock_guard<std::mutex> lock(mu_);
  live_ = conn_->stats();
  bytes_closed_ += conn_->bytes_sent();
  live_.out_bytes_total = 0;  // counted in bytes_closed_ now
  conn_.reset();
  connected_ = false;
}

// --- sending -------------------------------------------------------------------------------

// io_mu_ held. Chunk size and pacing changed while PLAYING take effect here.
void PushPublisher::apply_live_settings() {
  if (!conn_) return;
  guint chunk = chunk_size_;
  if (chunk != applied_chunk_size_) {
    conn_->session().set_chunk_size(chunk);
    applied_chunk_size_ = chunk;
  }
  guint kbps = peak_kbps_;
  if (kbps != applied_peak_kbps_) {
    const guint64 rate = guint64{kbps} * 125;  // kbit/s -> bytes/s, as rtmp2sink
    kernel_pacing_ = !settings_.userspace_pacing && conn_->set_pacing_rate(rate);
    pacer_.set_rate(kernel_pacing_ ? 0 : rate);
    if (kbps) {
      GST_INFO_OBJECT(element_, "pacing at %u kbit/s (%s)", kbps,
                      kernel_pacing_ ? "kernel, SO_MAX_PACING_RATE" : "user space");
    }
    applied_peak_kbps_ = kbps;
  }
}

// io_mu_ held. Reads what the server sent (acks, pings, onStatus, a reconnect request) and
// flushes our answers; a failed connection is dropped.
void PushPublisher::service(std::string* why) {
  last_service_us_ = now_us();
  PushFailure f;
  if (!conn_->poll(&f)) {
    *why = f.message;
    if (f.rejected) {
      // The server ended the publish with an error status: not a network drop.
      forget_connection();
      fail(connect_error(f.domain, f.code), "the server stopped the publish", f.message);
      return;
    }
    drop_connection(*why);
    return;
  }
  if (auto to = conn_->take_reconnect_request()) reconnect_to_ = *to;
  update_stats();
}

void PushPublisher::update_stats() {
  if (!conn_) return;
  rtmp::ClientStats st = conn_->stats();
  std::lock_guard<std::mutex> lock(mu_);
  live_ = st;
}

// io_mu_ held. Sends one message (a header at the frame's time, or the frame itself).
bool PushPublisher::deliver(const Packet& pk, uint64_t dts_ms, std::string* why) {
  // Large frames go out zero-copy: the session refers to the mapped buffer (or the tag body)
  // between the chunk headers and flush() writes both with one writev; `pk` holds them until
  // flush returns. On failure the connection is dropped, never flushed again. Packets without
  // a separate payload (FLV tags) have their whole body as the large part.
  const rtmp::Bytes head = pk.payload ? rtmp::Bytes(pk.body) : rtmp::Bytes();
  const rtmp::Bytes media = pk.payload ? pk.payload->bytes() : rtmp::Bytes(pk.body);
  if (pacer_.rate()) {
    gint64 at = pacer_.book(head.size() + media.size(), now_us());
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::microseconds(std::max<gint64>(at - now_us(), 0)),
                 [&] { return stopping_ || now_us() >= at; });
    if (stopping_) {
      *why = "stopping";
      return false;
    }
  }
  auto st = media.size() >= kBorrowMinBytes && applied_chunk_size_ >= kBorrowMinChunk
                ? conn_->session().send_message_borrowed(pk.type, head, media, dts_ms)
                : conn_->session().send_message(pk.type, head, media, dts_ms);
  PushFailure f;
  if (!st.ok() || !conn_->flush(&f)) {
    *why = st.ok() ? f.message : st.error().to_string();
    return false;
  }
  last_dts_ms_ = dts_ms;
  return true;
}

// io_mu_ held. A header and the packets chained after it (Packet::then).
bool PushPublisher::deliver_header(const Packet& header, uint64_t dts_ms, std::string* why) {
  for (const Packet* h = &header; h; h = h->then.get()) {
    if (!deliver(*h, dts_ms, why)) return false;
  }
  return true;
}

// io_mu_ held. The headers a frame needs that this connection has not sent, then the frame.
bool PushPublisher::deliver_with_headers(const Packet& pk, std::string* why) {
  if (pk.media) {
    if (pk.metadata && sent_.metadata != pk.metadata) {
      if (!deliver(*pk.metadata, pk.dts_ms, why)) return false;
      sent_.metadata = pk.metadata;
    }
    auto need = [&](TrackKey track, const PacketPtr& header) {
      if (!header || sent_.sequence_headers[track] == header) return true;
      if (!deliver_header(*header, pk.dts_ms, why)) return false;
      sent_.sequence_headers[track] = header;
      return true;
    };
    if (!need(pk.track, pk.sequence_header)) return false;
    for (const auto& [track, header] : pk.more_tracks) {
      if (!need(track, header)) return false;
    }
  }
  return deliver(pk, pk.dts_ms, why);
}

// io_mu_ held. Keeps at most max-buffer-time of media for the next connection, starting at a
// video keyframe when there is video.
void PushPublisher::backlog_push(Packet&& pk) {
  backlog_.push_back(std::move(pk));
  const uint64_t keep_ms = settings_.max_buffer_time / GST_MSECOND;
  auto span = [this] {  // a late pad's packet may sit behind a later one
    uint64_t a = backlog_.front().dts_ms, b = backlog_.back().dts_ms;
    return b > a ? b - a : 0;
  };
  size_t dropped_now = 0;
  while (!backlog_.empty() && span() > keep_ms) {
    backlog_.pop_front();
    ++dropped_now;
    // Drop on to the next keyframe so the next connection starts decodable.
    while (!backlog_.empty() && backlog_.front().video && !backlog_.front().keyframe) {
      backlog_.pop_front();
      ++dropped_now;
    }
  }
  if (dropped_now) {
    std::lock_guard<std::mutex> lock(mu_);
    dropped_ += dropped_now;
  }
}

// io_mu_ held, conn_ new. Without a backlog: the stream's current headers at once (what a
// server needs before the next frame); with one: the backlog from its first video keyframe,
// each frame after its own headers.
bool PushPublisher::start_connection(std::string* why) {
  sent_ = Sent{};
  want_keyframe_ = true;
  size_t dropped_now = 0;
  while (!backlog_.empty() && backlog_.front().video && !backlog_.front().keyframe) {
    backlog_.pop_front();
    ++dropped_now;
  }
  if (backlog_.empty()) {
    StreamHeaders::Snapshot now = headers_.snapshot();
    if (now.metadata) {
      if (!deliver(*now.metadata, last_dts_ms_, why)) return false;
      sent_.metadata = now.metadata;
    }
    for (const auto& [track, header] : now.sequence_headers) {
      if (!deliver_header(*header, last_dts_ms_, why)) return false;
      sent_.sequence_headers[track] = header;
    }
  }
  std::deque<Packet> pending;
  pending.swap(backlog_);
  bool ok = true;
  while (!pending.empty()) {
    Packet pk = std::move(pending.front());
    pending.pop_front();
    if (!ok || !conn_) {
      backlog_.push_back(std::move(pk));
      continue;
    }
    if (pk.media && pk.video && !pk.keyframe && want_keyframe_) {
      ++dropped_now;  // video resumes at a keyframe; audio in between still goes
      continue;
    }
    if (pk.media && pk.video) want_keyframe_ = false;
    if (!deliver_with_headers(pk, why)) {
      backlog_.push_back(std::move(pk));
      ok = false;
    }
  }
  if (dropped_now) {
    std::lock_guard<std::mutex> lock(mu_);
    dropped_ += dropped_now;
  }
  update_stats();
  return ok;
}

// io_mu_ held.
void PushPublisher::send_one(Packet&& pk, std::string* why) {
  // E-RTMP reconnect request: switch servers at a keyframe (or at once without video).
  if (reconnect_to_ && conn_ && pk.media && (pk.keyframe || !pk.video)) {
    auto next = rtmp::resolve_reconnect_url(url_, *reconnect_to_);
    reconnect_to_.reset();
    if (next.ok()) {
      GST_INFO_OBJECT(element_, "reconnecting to %s as the server asked",
                      next->to_string().c_str());
      conn_->close(200, settings_.stop_commands);
      forget_connection();  // not a failure: no attempt counted, reconnect at once
      url_ = *next;
      std::lock_guard<std::mutex> lock(mu_);
      last_reason_ = "server reconnect request";
      next_attempt_us_ = 0;
      cv_.notify_all();
    }
  }
  if (!conn_) {
    backlog_push(std::move(pk));
    return;
  }
  if (want_keyframe_ && pk.media && pk.video && !pk.keyframe) {
    std::lock_guard<std::mutex> lock(mu_);
    ++dropped_;  // a new connection resumes video at a keyframe
    return;
  }
  if (pk.media && pk.video) want_keyframe_ = false;
  if (!deliver_with_headers(pk, why)) {
    backlog_push(std::move(pk));
    drop_connection(*why);
  }
}

GstFlowReturn PushPublisher::wait_connected(rtmp::PeerCapabilities* server_caps) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!want_connect_) {
    want_connect_ = true;  // async-connect=false: connect now
    cv_.notify_all();
  }
  // Before the first connection: wait for it (or its failure), as rtmp2sink does; an
  // unlock() meanwhile (a flush, PLAYING->PAUSED) returns at once.
  const guint64 unlocks = unlocks_;
  cv_.wait(lock, [&] {
    return ever_connected_ || failed_ || flushing_ || stopping_ || unlocks_ != unlocks;
  });
  if (failed_) {
    lock.unlock();
    return failed_flow();
  }
  if (finished_) return GST_FLOW_EOS;
  if (flushing_ || stopping_ || unlocks_ != unlocks) return GST_FLOW_FLUSHING;
  if (server_caps) *server_caps = first_server_caps_;
  return GST_FLOW_OK;
}

GstFlowReturn PushPublisher::send(std::vector<Packet>& packets) {
  if (GstFlowReturn ret = wait_connected(nullptr); ret != GST_FLOW_OK) return ret;
  {
    std::lock_guard<std::mutex> io(io_mu_);
    std::string why;
    apply_live_settings();
    for (Packet& pk : packets) send_one(std::move(pk), &why);
    if (conn_ && now_us() - last_service_us_ >= kBusyPollIntervalUs) service(&why);
  }
  flush_outbox();
  std::unique_lock<std::mutex> lock(mu_);
  if (!failed_) return GST_FLOW_OK;
  lock.unlock();
  return failed_flow();
}

GstFlowReturn PushPublisher::finish() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (failed_) {
        lock.unlock();
        return failed_flow();
      }
      if (finished_) return GST_FLOW_OK;
      if (flushing_ || stopping_) return GST_FLOW_FLUSHING;
      if (!want_connect_ && !ever_connected_) {
        finished_ = true;  // nothing was ever sent: nothing to unpublish
        cv_.notify_all();
        return GST_FLOW_OK;
      }
    }
    {
      std::lock_guard<std::mutex> io(io_mu_);
      bool done = false;
      if (conn_) {
        conn_->close(kCloseLingerMs, settings_.stop_commands);
        update_stats();
        forget_connection();
        done = true;
      } else {
        done = backlog_.empty();
      }
      if (done) {
        std::lock_guard<std::mutex> lock(mu_);
        finished_ = true;
        cv_.notify_all();
        return GST_FLOW_OK;
      }
    }
    // A backlog waits for the reconnect, which either delivers it or gives up.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(100),
                 [&] { return connected_ || failed_ || flushing_ || stopping_; });
  }
}

void PushPublisher::fill_stats(GstStructure* s) {
  std::lock_guard<std::mutex> lock(mu_);
  gst_structure_set(
      s, "in-chunk-size", G_TYPE_UINT, live_.in_chunk_size, "out-chunk-size", G_TYPE_UINT,
      live_.out_chunk_size, "in-window-ack-size", G_TYPE_UINT, live_.in_window_ack_size,
      "out-window-ack-size", G_TYPE_UINT, live_.out_window_ack_size, "in-bytes-total",
      G_TYPE_UINT64, live_.in_bytes_total, "out-bytes-total", G_TYPE_UINT64,
      bytes_closed_ + live_.out_bytes_total, "in-bytes-acked", G_TYPE_UINT64, live_.in_bytes_acked,
      "out-bytes-acked", G_TYPE_UINT64, live_.out_bytes_acked, "connected", G_TYPE_BOOLEAN,
      connected_, "server", G_TYPE_STRING, server_.c_str(), "reconnects", G_TYPE_UINT, reconnects_,
      "dropped-messages", G_TYPE_UINT64, dropped_, nullptr);
}

}  // namespace gst_ertmp
