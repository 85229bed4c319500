#include "gst/pull_client.h"

#include <algorithm>
#include <chrono>

GST_DEBUG_CATEGORY_EXTERN(rtmp_ingest_src_debug);
#define GST_CAT_DEFAULT rtmp_ingest_src_debug

namespace gst_ertmp {
namespace {

// A failure that a new attempt cannot mend: the server refused our credentials, or its
// certificate is one we were told to refuse.
bool permanent(const PullFailure& f) {
  if (f.domain == G_IO_ERROR && f.code == G_IO_ERROR_PERMISSION_DENIED) return true;
  return f.domain == G_TLS_ERROR &&
         (f.code == G_TLS_ERROR_BAD_CERTIFICATE || f.code == G_TLS_ERROR_CERTIFICATE_REQUIRED);
}

// Coded frames in a message: what becomes a buffer each in elementary output mode.
gint64 frames_in(const rtmp::MediaReceived& m) {
  gint64 n = 0;
  for (const auto& u : m.tag.units) n += u.packet == rtmp::PacketKind::kCodedFrames;
  return n;
}

}  // namespace

PullClient::PullClient(PullSettings settings, IngestStream* stream, PullListener* listener)
    : settings_(std::move(settings)),
      stream_(stream),
      listener_(listener),
      cancel_(g_cancellable_new()) {}

PullClient::~PullClient() {
  stop();
  g_object_unref(cancel_);
}

void PullClient::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void PullClient::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  g_cancellable_cancel(cancel_);
  if (thread_.joinable()) thread_.join();
}

void PullClient::resume() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    room_ = true;
  }
  cv_.notify_all();
}

bool PullClient::wait_for_room() {
  std::unique_lock<std::mutex> lock(mu_);
  // Bounded only by stop(): a pad that never drains (a paused pipeline) holds the server back.
  cv_.wait(lock, [this] { return room_ || stopping_; });
  room_ = false;
  return !stopping_;
}

bool PullClient::sleep_ms(guint ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  return !stopping_;
}

guint64 PullClient::sample_rate_locked() {
  return rate_.sample(static_cast<uint64_t>(g_get_monotonic_time() / 1000),
                      bytes_before_ + stats_.in_bytes_total);
}

void PullClient::snapshot(const PullConnection& conn) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_ = conn.session().stats();
  sample_rate_locked();
}

guint64 PullClient::bitrate() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  // Sampled here too, so that a server gone silent reads as a falling rate.
  return sample_rate_locked();
}

void fill_pull_stats(GstStructure* s, const rtmp::ClientStats& st, guint reconnects,
                     const std::string& server) {
  gst_structure_set(
      s, "in-chunk-size", G_TYPE_UINT, st.in_chunk_size, "out-chunk-size", G_TYPE_UINT,
      st.out_chunk_size, "in-window-ack-size", G_TYPE_UINT, st.in_window_ack_size,
      "out-window-ack-size", G_TYPE_UINT, st.out_window_ack_size, "in-bytes-total", G_TYPE_UINT64,
      guint64{st.in_bytes_total}, "out-bytes-total", G_TYPE_UINT64, guint64{st.out_bytes_total},
      "in-bytes-acked", G_TYPE_UINT64, guint64{st.in_bytes_acked}, "out-bytes-acked", G_TYPE_UINT64,
      guint64{st.out_bytes_acked}, "reconnects", G_TYPE_UINT, reconnects, "server", G_TYPE_STRING,
      server.c_str(), nullptr);
}

void PullClient::fill_stats(GstStructure* s) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  fill_pull_stats(s, stats_, reconnects_, server_);
}

void PullClient::run() {
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  const std::string location = settings_.target.config.url.to_string();
  unsigned failed = 0;  // attempts in a row that did not play
  guint delay = 0;      // before the next attempt
  for (;;) {
    PullFailure f;
    auto conn = PullConnection::open(settings_.target, cancel_, &f);
    if (!conn) {
      if (f.cancelled) break;
      GST_INFO("could not play %s: %s", location.c_str(), f.message.c_str());
      if (!settings_.reconnect || permanent(f)) {
        listener_->on_failed(f, true);
        break;
      }
      ++failed;
      if (settings_.reconnect_attempts >= 0 &&
          failed > static_cast<unsigned>(settings_.reconnect_attempts)) {
        f.message = std::to_string(settings_.reconnect_attempts) +
                    " reconnect attempts failed: " + f.message;
        listener_->on_failed(f, true);
        break;
      }
      delay = delay == 0 ? settings_.reconnect_delay_ms : std::min(delay * 2, kMaxReconnectDelayMs);
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        ++reconnects_;
      }
      listener_->on_reconnecting(failed, delay, f.message);
      if (!sleep_ms(delay)) break;
      continue;
    }
    failed = 0;
    delay = 0;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      server_ = conn->server();
      bytes_before_ += stats_.in_bytes_total;  // the last connection's bytes stay in the rate
      stats_ = conn->session().stats();
    }
    // A new play: the stream's timeline starts again after what the pads carried (DISCONT).
    stream_->begin();
    awaiting_republish_ = false;
    full_ = false;
    listener_->on_playing(conn->server(), conn->fms_ver());
    Lost lost = play(*conn);
    snapshot(*conn);
    conn->close();
    conn.reset();
    if (lost.kind == Lost::Kind::kCancelled) break;
    GST_INFO("%s: %s", location.c_str(), lost.why.c_str());
    listener_->on_stream_lost(lost.clean, lost.why);
    if (lost.kind == Lost::Kind::kEnded || !settings_.reconnect) {
      listener_->on_ended();
      break;
    }
    // The server dropped us: try again at once, then with the growing delay.
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++reconnects_;
    }
    listener_->on_reconnecting(1, 0, lost.why);
  }
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
}

PullClient::Lost PullClient::play(PullConnection& conn) {
  const gint64 idle_us = gint64{settings_.idle_timeout_s} * G_USEC_PER_SEC;
  gint64 last_in = g_get_monotonic_time();
  for (;;) {
    Lost lost;
    while (auto ev = conn.next_event()) {
      if (!handle(std::move(*ev), conn, &lost)) return lost;
    }
    PullFailure f;
    if (!conn.flush(&f)) return Lost{Lost::Kind::kLost, false, f.message};
    if (full_) {
      // Stop reading until a pad drained: the server's TCP window fills and it slows down.
      full_ = false;
      paused_ = true;
      const bool room = wait_for_room();
      paused_ = false;
      if (!room) return Lost{Lost::Kind::kCancelled, false, ""};
      last_in = g_get_monotonic_time();  // idle time does not count while we do not read
      continue;
    }
    switch (conn.read(idle_us ? last_in + idle_us : 0, &f)) {
      case PullConnection::Read::kData:
        last_in = g_get_monotonic_time();
        snapshot(conn);
        listener_->on_progress();
        break;
      case PullConnection::Read::kTimedOut:
        return Lost{Lost::Kind::kLost, false,
                    "nothing from the server for " + std::to_string(settings_.idle_timeout_s) +
                        " s (idle-timeout)"};
      case PullConnection::Read::kClosed:
        // The session may hold why (a refusal just before the close).
        while (auto ev = conn.next_event()) {
          if (!handle(std::move(*ev), conn, &lost)) return lost;
        }
        return Lost{Lost::Kind::kLost, false, "the server closed the connection"};
      case PullConnection::Read::kFailed:
        return Lost{Lost::Kind::kLost, false, f.message};
      case PullConnection::Read::kCancelled:
        return Lost{Lost::Kind::kCancelled, false, ""};
    }
  }
}

void PullClient::feed_result(IngestStream::Result r, Lost* lost) {
  if (r == IngestStream::Result::kFull) {
    // Reading stops after this read's messages; room_ may already be set (the pad drained
    // meanwhile): then reading goes on at once.
    full_ = true;
  } else if (r == IngestStream::Result::kBadTimestamp) {
    *lost = Lost{Lost::Kind::kLost, false,
                 "a timestamp more than 2^40 ms away from the play's first one"};
  }
}

// False when the stream is lost or over (`lost` says why).
bool PullClient::handle(rtmp::ClientEvent&& ev, PullConnection& conn, Lost* lost) {
  const bool counting = settings_.num_buffers >= 0;
  if (auto* m = std::get_if<rtmp::MediaReceived>(&ev)) {
    if (awaiting_republish_) {
      // A publisher came back on this connection: its timestamps start anew.
      stream_->begin();
      awaiting_republish_ = false;
    }
    if (counting) buffers_ += settings_.flv_mode ? 1 : frames_in(*m);
    feed_result(stream_->media(std::move(*m)), lost);
  } else if (auto* md = std::get_if<rtmp::MetadataReceived>(&ev)) {
    if (md->handler == "onMetaData" && !md->values.empty()) listener_->on_metadata(md->values[0]);
    if (counting && settings_.flv_mode) ++buffers_;
    feed_result(stream_->metadata(std::move(*md)), lost);
  } else if (auto* st = std::get_if<rtmp::StatusReceived>(&ev)) {
    GST_DEBUG("onStatus %s %s: %s", st->level.c_str(), st->code.c_str(), st->description.c_str());
    if (st->code == "NetStream.Play.UnpublishNotify") {
      if (!settings_.reconnect) {
        *lost = Lost{Lost::Kind::kLost, true, "the publisher stopped (" + st->code + ")"};
        return false;
      }
      awaiting_republish_ = true;
    } else if (st->code == "NetStream.Play.PublishNotify" || st->code == "NetStream.Play.Reset") {
      awaiting_republish_ = true;
    }
  } else if (auto* c = std::get_if<rtmp::StreamControlReceived>(&ev)) {
    if (c->type == rtmp::UserControlType::kStreamEof &&
        c->stream_id == conn.session().stream_id()) {
      // rtmp2src ends on Stream EOF (for stream 1): nginx-rtmp and SRS send it when the
      // publisher leaves.
      if (!settings_.reconnect) {
        *lost = Lost{Lost::Kind::kLost, true, "the publisher stopped (Stream EOF)"};
        return false;
      }
      awaiting_republish_ = true;
    } else if (c->type == rtmp::UserControlType::kStreamBegin) {
      awaiting_republish_ = true;
    }
  } else if (auto* cl = std::get_if<rtmp::ClientClosed>(&ev)) {
    *lost = Lost{Lost::Kind::kLost, false,
                 cl->error ? cl->error->to_string() : std::string("the session closed")};
    return false;
  } else if (auto* r = std::get_if<rtmp::ReconnectRequested>(&ev)) {
    // E-RTMP: the server asks us to come back (maybe elsewhere): a lost stream, reconnected.
    auto url = rtmp::resolve_reconnect_url(settings_.target.config.url, r->tc_url);
    if (url.ok()) settings_.target.config.url = *url;
    *lost = Lost{Lost::Kind::kLost, false,
                 "the server asks for a reconnect to " + r->tc_url + " (" + r->description + ")"};
    return false;
  } else if (auto* w = std::get_if<rtmp::ClientWarning>(&ev)) {
    listener_->on_warning(w->error.to_string());
  }
  if (!lost->why.empty()) return false;
  if (counting && buffers_ >= settings_.num_buffers) {
    *lost = Lost{Lost::Kind::kEnded, true,
                 "num-buffers (" + std::to_string(settings_.num_buffers) + ") reached"};
    return false;
  }
  return true;
}

}  // namespace gst_ertmp
