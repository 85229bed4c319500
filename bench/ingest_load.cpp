// ingest_load: end-to-end figures for rtmpingestsrc (issues 4, 6 and 11), each against an anchor
// measured in the same run. A program, not a test: it prints tables and writes a JSON file with
// every figure and a "goals" list (measure, ours, anchor, ratio, goal, met/missed/not measured).
// It uses only the element's public interface (properties, pads, stats, element messages), so it
// runs unchanged on any engine behind it.
//
//  1. Added latency (--latency): a publisher thread in this process speaks RTMP through
//     rtmp::ClientSession over a POSIX TCP socket (TCP_NODELAY) and sends 30 H.264 frames/s of
//     ~12 KB plus 46.875 AAC frames/s, each carrying a marker (bench/load_support.h) with its
//     send time. A buffer probe on the source pad records now - t. Targets in the same run:
//     rtmpingestsrc ! fakesink; the chain users run today (nginx-rtmp, then rtmp2src ! flvdemux !
//     fakesink in this process, measured at flvdemux's pads); and a floor (a plain thread driving
//     rtmp::ServerSession on a blocking socket). Every round runs quiet and again with a CPU hog
//     per core (a busy-loop child at nice 0).
//  2. Concurrency (--concurrency): N real-time publishers in a separate process (this binary,
//     --publishers) into N rtmpingestsrc elements sharing one port, and the same load into SRS
//     (bench/srs.sh, when SRS_DIR is set) in alternating steps. Ours: every message is checked
//     (loss, lateness) at the pads; SRS: its HTTP API must list N active streams, a player
//     (rtmp2src ! flvdemux in this process) on the last stream must see it whole and in time, and
//     the publishers must never have had to drop. Receiver CPU and RSS come from /proc (this
//     process, or SRS's pid). Then one overload step for ours at 2x the largest real-time N:
//     CPU, time to read `stats`, whether a new publisher is admitted or refused (and how fast),
//     and PLAYING->NULL (timed at every step).
//  3. Memory (--memory): RSS per idle connected peer (handshake and connect done, no publish) and
//     the RSS growth under N connections that each declare a 16 MiB message and send a few bytes
//     of it, before and after `connect` (peers in a child process, --peers), ours and SRS.
#include <gst/gst.h>
#include <malloc.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/load_support.h"
#include "gst/gstrtmpingestsrc.h"
#include "protocol/chunk_writer.h"
#include "protocol/server_session.h"
#include "tests/interop/rtmp_peers.h"

#ifndef ERTMP_SOURCE_DIR
#define ERTMP_SOURCE_DIR "."
#endif

namespace {

using namespace bench;

// --- GStreamer plumbing -------------------------------------------------------------------------

GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo* info, gpointer data) {
  const int64_t now = now_ns();
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (!buf || !gst_buffer_map(buf, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  record_marker(static_cast<StreamRecv*>(data), map.data, map.size, now);
  gst_buffer_unmap(buf, &map);
  return GST_PAD_PROBE_OK;
}

struct PadContext {
  GstElement* pipeline = nullptr;
  StreamRecv* stream = nullptr;
};

// Every new source pad (rtmpingestsrc's video_0/audio_0, flvdemux's video/audio) gets a probe
// and a fakesink (no sync, no preroll).
void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  auto* ctx = static_cast<PadContext*>(data);
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(ctx->pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK) {
    g_printerr("could not link %s\n", GST_PAD_NAME(pad));
  }
  gst_object_unref(sinkpad);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, ctx->stream, nullptr);
}

// Pops every pending bus message; returns the first error's text (empty if none).
std::string drain_bus(GstElement* pipeline) {
  std::string first_error;
  GstBus* bus = gst_element_get_bus(pipeline);
  while (GstMessage* msg = gst_bus_pop(bus)) {
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR && first_error.empty()) {
      GError* err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      first_error = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " +
                    (err ? err->message : "error");
      g_clear_error(&err);
    }
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  return first_error;
}

GstElement* make_ingest(const std::string& key, uint16_t port, unsigned max_connections) {
  GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
  g_object_set(src, "address", "127.0.0.1", "port", static_cast<guint>(port), "application", "live",
               "stream-key", key.c_str(), "max-connections", max_connections, nullptr);
  return src;
}

uint16_t bound_port(GstElement* src) {
  gint bound = -1;
  g_object_get(src, "bound-port", &bound, nullptr);
  return static_cast<uint16_t>(std::max(0, bound));
}

// rtmp2src location=URL ! flvdemux, every demuxed pad probed into `ctx`. Returns the error.
std::string add_player(GstElement* pipeline, const std::string& url, PadContext* ctx) {
  GstElement* src = gst_element_factory_make("rtmp2src", nullptr);
  GstElement* demux = gst_element_factory_make("flvdemux", nullptr);
  if (!src || !demux) {
    if (src) gst_object_unref(src);
    if (demux) gst_object_unref(demux);
    return "rtmp2src or flvdemux missing (gstreamer1.0-plugins-bad, -good)";
  }
  g_object_set(src, "location", url.c_str(), nullptr);
  g_signal_connect(demux, "pad-added", G_CALLBACK(on_pad_added), ctx);
  gst_bin_add_many(GST_BIN(pipeline), src, demux, nullptr);
  gst_element_link(src, demux);
  return "";
}

// PLAYING -> NULL and unref, in seconds. A teardown that hangs is reported while it hangs.
double teardown(GstElement* pipeline) {
  std::atomic<bool> done{false};
  const int64_t t0 = now_ns();
  std::thread watchdog([&] {
    for (int s = 1; !done.load(); ++s) {
      for (int i = 0; i < 100 && !done.load(); ++i) sleep_ms(10);
      if (!done.load() && s % 10 == 0) {
        std::printf("  (PLAYING->NULL still running after %d s)\n", s);
        std::fflush(stdout);
      }
    }
  });
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  done = true;
  watchdog.join();
  return static_cast<double>(now_ns() - t0) / 1e9;
}

// --- goals --------------------------------------------------------------------------------------

// One row of the final table: what was measured, ours, the anchor, their ratio, the goal and
// whether it was met ("met", "missed", "not measured").
struct Goal {
  std::string part, measure, ours, anchor, ratio, goal, status;
};

const char* met(bool ok) {
  return ok ? "met" : "missed";
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string goals_json(const std::vector<Goal>& goals) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < goals.size(); ++i) {
    const Goal& g = goals[i];
    o << (i ? ",\n  " : "") << "{\"part\": " << json_string(g.part)
      << ", \"measure\": " << json_string(g.measure) << ", \"ours\": " << json_string(g.ours)
      << ", \"anchor\": " << json_string(g.anchor) << ", \"ratio\": " << json_string(g.ratio)
      << ", \"goal\": " << json_string(g.goal) << ", \"status\": " << json_string(g.status) << "}";
  }
  return o.str() + "]";
}

void print_goals(const std::vector<Goal>& goals) {
  std::printf("\n== Goals ==\n%-44s %-24s %-30s %-9s %-26s %s\n", "measure", "ours", "anchor",
              "ratio", "goal", "");
  for (const Goal& g : goals) {
    std::printf("%-44s %-24s %-30s %-9s %-26s %s\n", g.measure.c_str(), g.ours.c_str(),
                g.anchor.c_str(), g.ratio.c_str(), g.goal.c_str(), g.status.c_str());
  }
}

// --- part 1: latency ----------------------------------------------------------------------------

struct LatencyRound {
  bool ok = false;
  std::string error;
  std::vector<uint32_t> video_us, audio_us;
  uint64_t sent = 0, received = 0, gaps = 0;
};

// One publisher at 30 x 12 KB video + 46.875 x 341 B audio per second into whatever listens on
// `port` as live/<key>, for `seconds`. Runs on its own thread.
void publish_for_latency(uint16_t port, const std::string& key, double seconds,
                         PublishTotals* totals, std::string* error) {
  std::vector<Publisher> pubs(1);
  pubs[0].conn = std::make_unique<Conn>();
  if (!pubs[0].conn->open(port, "live", key, Conn::Goal::kPublishing, 5000, error)) return;
  send_sequence_headers(pubs);
  StreamProfile prof;
  prof.video_bytes = 12000;
  prof.drop_threshold = 8 << 20;  // never drop: latency is what is measured here
  int64_t start = now_ns() + 50'000'000;
  *totals = run_schedule(pubs, prof, start, start + static_cast<int64_t>(seconds * 1e9), nullptr);
  pubs[0].conn->close_clean(2000);
}

// The floor target: one plain thread with blocking poll + recv driving rtmp::ServerSession on
// the accepted socket (no GIO, no GStreamer, no element), timed when the session hands out the
// message. What is left is the loopback TCP path, the thread wake-up and the protocol library.
void serve_floor(int listen_fd, StreamRecv* s, const std::atomic<bool>* stop) {
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0 && !stop->load(); ++i) {
    pollfd lp{listen_fd, POLLIN, 0};
    if (poll(&lp, 1, 100) > 0) fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rtmp::ServerSession session(rtmp::ServerConfig{}, now_ms());
  std::vector<uint8_t> buf(64 * 1024);
  while (!stop->load() && !session.closed()) {
    while (!session.pending_output().empty()) {
      rtmp::Bytes out = session.pending_output();
      ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      session.consume_output(static_cast<size_t>(n));
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    (void)session.receive(rtmp::Bytes(buf.data(), static_cast<size_t>(n)), now_ms());
    while (auto ev = session.next_event()) {
      if (auto pr = std::get_if<rtmp::PublishRequested>(&*ev)) {
        (void)session.accept_publish(pr->stream_id);
      } else if (auto m = std::get_if<rtmp::MediaReceived>(&*ev)) {
        record_marker(s, m->message.payload.data(), m->message.payload.size(), now_ns());
      }
    }
  }
  close(fd);
}

// ours: rtmpingestsrc ! fakesink; anchor: nginx-rtmp, rtmp2src ! flvdemux ! fakesink; pull:
// nginx-rtmp, rtmpingestsrc mode=caller ! fakesink (issue 13: playing from the same server as
// the anchor); floor.
enum class LatencyTargetKind { kOurs, kAnchor, kPull, kFloor };
constexpr LatencyTargetKind kLatencyTargets[] = {
    LatencyTargetKind::kOurs, LatencyTargetKind::kAnchor, LatencyTargetKind::kPull,
    LatencyTargetKind::kFloor};

LatencyRound latency_round(LatencyTargetKind target, double seconds) {
  LatencyRound r;
  StreamRecv stream;
  stream.index = 0;
  GstElement* pipeline = gst_pipeline_new(nullptr);
  PadContext ctx{pipeline, &stream};
  std::unique_ptr<ertmp_test::NginxRtmp> nginx;
  int floor_listen = -1;
  std::thread floor_thread;
  std::atomic<bool> floor_stop{false};
  uint16_t port = 0;
  const std::string key = "lat";
  if (target == LatencyTargetKind::kOurs) {
    GstElement* src = make_ingest(key, 0, 16);
    g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), &ctx);
    gst_bin_add(GST_BIN(pipeline), src);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      r.error = "rtmpingestsrc did not start: " + drain_bus(pipeline);
    }
    port = bound_port(src);
  } else if (target == LatencyTargetKind::kFloor) {
    floor_listen = ertmp_test::listen_loopback(&port);
    if (floor_listen < 0) r.error = "could not listen";
    floor_thread = std::thread([&] { serve_floor(floor_listen, &stream, &floor_stop); });
  } else {
    nginx = std::make_unique<ertmp_test::NginxRtmp>();
    if (!nginx->ready()) r.error = "nginx-rtmp did not start";
    port = nginx->port();
    if (r.error.empty() && target == LatencyTargetKind::kPull) {
      GstElement* src = gst_element_factory_make("rtmpingestsrc", nullptr);
      g_object_set(src, "location", nginx->url(key).c_str(), nullptr);
      gst_util_set_object_arg(G_OBJECT(src), "mode", "caller");
      g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), &ctx);
      gst_bin_add(GST_BIN(pipeline), src);
    } else if (r.error.empty()) {
      r.error = add_player(pipeline, nginx->url(key), &ctx);
    }
    if (r.error.empty() &&
        gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      r.error = "player pipeline did not start: " + drain_bus(pipeline);
    }
    sleep_ms(700);  // the player must be subscribed before the publish starts
  }
  if (r.error.empty()) {
    stream.record_after_ns = now_ns() + 1'000'000'000;  // first second: pads, caps, warm-up
    PublishTotals tot;
    std::string perr;
    std::thread pub([&] { publish_for_latency(port, key, seconds, &tot, &perr); });
    pub.join();
    // Let the last messages arrive (bounded).
    for (int i = 0; i < 50 && stream.messages.load() < tot.sent; ++i) sleep_ms(20);
    r.sent = tot.sent;
    std::string bus_error = drain_bus(pipeline);
    if (!perr.empty()) r.error = "publisher: " + perr;
    if (r.error.empty() && !bus_error.empty()) r.error = bus_error;
  }
  floor_stop = true;
  if (floor_thread.joinable()) floor_thread.join();
  if (floor_listen >= 0) close(floor_listen);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  r.video_us = std::move(stream.video.latency_us);
  r.audio_us = std::move(stream.audio.latency_us);
  r.received = stream.video.received + stream.audio.received;
  r.gaps = stream.video.gaps + stream.audio.gaps;
  r.ok = r.error.empty() && !r.video_us.empty();
  if (r.error.empty() && r.video_us.empty()) r.error = "no marked buffer arrived";
  return r;
}

struct LatencyTarget {
  explicit LatencyTarget(std::string n) : name(std::move(n)) {}
  std::string name;
  std::vector<LatencyRound> rounds;
  Dist all, video, audio;
  std::vector<double> round_p99;
  double median_round_p99 = 0;
  uint64_t sent = 0, received = 0, gaps = 0;
  std::vector<uint32_t> samples;  // every latency (us), all rounds, for --samples

  void summarize() {
    std::vector<uint32_t> v, au;
    for (auto& r : rounds) {
      v.insert(v.end(), r.video_us.begin(), r.video_us.end());
      au.insert(au.end(), r.audio_us.begin(), r.audio_us.end());
      std::vector<uint32_t> both = r.video_us;
      both.insert(both.end(), r.audio_us.begin(), r.audio_us.end());
      if (!both.empty()) round_p99.push_back(dist_of(both).p99);
      sent += r.sent;
      received += r.received;
      gaps += r.gaps;
    }
    samples = v;
    samples.insert(samples.end(), au.begin(), au.end());
    all = dist_of(samples);
    video = dist_of(v);
    audio = dist_of(au);
    median_round_p99 = median_of(round_p99);
  }
};

// The three targets under one condition (quiet, or a CPU hog per core).
struct LatencySet {
  explicit LatencySet(std::string c) : condition(std::move(c)) {}
  std::string condition;
  LatencyTarget ours = LatencyTarget("rtmpingestsrc ! fakesink");
  LatencyTarget anchor = LatencyTarget("nginx-rtmp + rtmp2src ! flvdemux ! fakesink");
  LatencyTarget pull = LatencyTarget("nginx-rtmp + rtmpingestsrc mode=caller ! fakesink");
  LatencyTarget floor = LatencyTarget("floor: plain thread + rtmp::ServerSession");
  std::vector<std::string> errors;

  LatencyTarget& of(LatencyTargetKind k) {
    switch (k) {
      case LatencyTargetKind::kOurs:
        return ours;
      case LatencyTargetKind::kAnchor:
        return anchor;
      case LatencyTargetKind::kPull:
        return pull;
      case LatencyTargetKind::kFloor:
        break;
    }
    return floor;
  }
};

struct LatencyResult {
  LatencySet quiet = LatencySet("quiet");
  LatencySet hogged = LatencySet("hogged");
  bool with_hogs = true;
  size_t hogs = 0;
};

LatencyResult run_latency(int rounds, double seconds, bool with_hogs) {
  LatencyResult res;
  res.with_hogs = with_hogs;
  CpuHogs hogs;
  for (int i = 0; i < rounds; ++i) {
    for (LatencySet* set : {&res.quiet, &res.hogged}) {
      if (set == &res.hogged && !with_hogs) continue;
      if (set == &res.hogged) {
        hogs.start();
        res.hogs = hogs.count();
      }
      for (LatencyTargetKind kind : kLatencyTargets) {
        LatencyTarget& t = set->of(kind);
        std::printf(
            "latency round %d/%d, %s%s: %s (%.0f s)...\n", i + 1, rounds, set->condition.c_str(),
            set == &res.hogged ? (" (" + std::to_string(hogs.count()) + " hogs)").c_str() : "",
            t.name.c_str(), seconds);
        std::fflush(stdout);
        LatencyRound r = latency_round(kind, seconds);
        if (!r.ok) {
          std::printf("  failed: %s\n", r.error.c_str());
          set->errors.push_back(t.name + ": " + r.error);
        }
        t.rounds.push_back(std::move(r));
      }
      hogs.stop();
    }
  }
  for (LatencySet* set : {&res.quiet, &res.hogged}) {
    set->ours.summarize();
    set->anchor.summarize();
    set->pull.summarize();
    set->floor.summarize();
  }
  return res;
}

void print_latency_set(const LatencySet& set, size_t hogs) {
  std::printf(
      "\n== Added latency, %s%s: publisher send -> buffer on the src pad (us; all messages "
      "after 1 s warm-up, pooled over %zu rounds) ==\n",
      set.condition.c_str(),
      hogs ? (" (" + std::to_string(hogs) + " busy-loop processes at nice 0)").c_str() : "",
      set.ours.rounds.size());
  std::printf("%-46s %7s %8s %8s %8s %14s %9s\n", "target", "n", "median", "p99", "max",
              "p99/round(med)", "lost");
  for (const LatencyTarget* t : {&set.ours, &set.anchor, &set.pull, &set.floor}) {
    std::printf("%-46s %7zu %8.0f %8.0f %8.0f %14.0f %9" PRIu64 "\n", t->name.c_str(), t->all.n,
                t->all.median, t->all.p99, t->all.max, t->median_round_p99,
                t->sent > t->received ? t->sent - t->received : 0);
    std::printf("  %-44s %7zu %8.0f %8.0f %8.0f\n", "video (12 KB)", t->video.n, t->video.median,
                t->video.p99, t->video.max);
    std::printf("  %-44s %7zu %8.0f %8.0f %8.0f\n", "audio (341 B)", t->audio.n, t->audio.median,
                t->audio.p99, t->audio.max);
  }
  const Dist &o = set.ours.all, &a = set.anchor.all;
  if (a.n && o.n) {
    std::printf(
        "ratio ours/chain: median %.3f, p99 %.3f, max %.3f   (goals: ours p99 < 1000 us: %s; "
        "ours p99 <= the chain's: %s)\n",
        o.median / a.median, o.p99 / a.p99, o.max / a.max, met(o.p99 < 1000), met(o.p99 <= a.p99));
  }
  if (const Dist& pl = set.pull.all; a.n && pl.n) {
    std::printf("ratio pull/chain (both play from nginx-rtmp): median %.3f, p99 %.3f, max %.3f\n",
                pl.median / a.median, pl.p99 / a.p99, pl.max / a.max);
  }
  if (set.floor.all.n && o.n) {
    std::printf(
        "ours - floor (what GIO, GStreamer and the element add): median %+.0f us, p99 "
        "%+.0f us\n",
        o.median - set.floor.all.median, o.p99 - set.floor.all.p99);
  }
}

std::string latency_set_json(const LatencySet& set) {
  std::ostringstream o;
  auto target = [&](const LatencyTarget& t) {
    o << "{\"name\": \"" << t.name << "\", \"rounds\": " << t.rounds.size()
      << ", \"all\": " << json_dist(t.all) << ", \"video\": " << json_dist(t.video)
      << ", \"audio\": " << json_dist(t.audio) << ", \"p99_per_round_us\": [";
    for (size_t i = 0; i < t.round_p99.size(); ++i) o << (i ? ", " : "") << t.round_p99[i];
    o << "], \"sent\": " << t.sent << ", \"received\": " << t.received << ", \"gaps\": " << t.gaps
      << "}";
  };
  o << "{\"ours\": ";
  target(set.ours);
  o << ", \"anchor\": ";
  target(set.anchor);
  o << ", \"pull\": ";
  target(set.pull);
  o << ", \"floor\": ";
  target(set.floor);
  if (set.anchor.all.n && set.ours.all.n) {
    o << ", \"ratio_ours_over_anchor\": {\"median\": "
      << set.ours.all.median / set.anchor.all.median
      << ", \"p99\": " << set.ours.all.p99 / set.anchor.all.p99
      << ", \"max\": " << set.ours.all.max / set.anchor.all.max << "}";
  }
  o << ", \"errors\": [";
  for (size_t i = 0; i < set.errors.size(); ++i) {
    o << (i ? ", " : "") << json_string(set.errors[i]);
  }
  o << "]}";
  return o.str();
}

std::string latency_json(const LatencyResult& res) {
  std::string j = "{\"quiet\": " + latency_set_json(res.quiet);
  if (res.with_hogs) j += ", \"hogged\": " + latency_set_json(res.hogged);
  return j + ", \"hogs\": " + std::to_string(res.hogs) + "}";
}

void latency_goals(const LatencyResult& res, std::vector<Goal>* goals) {
  for (const LatencySet* set : {&res.quiet, &res.hogged}) {
    if (set == &res.hogged && !res.with_hogs) continue;
    const Dist &o = set->ours.all, &a = set->anchor.all;
    std::string cond = set == &res.hogged ? ", CPU hog per core" : ", quiet";
    Goal g{"latency",
           "added latency p99 us" + cond,
           o.n ? fmt("%.0f", o.p99) + " (" + fmt("%.0f", o.median) + "/" + fmt("%.0f", o.max) + ")"
               : "-",
           a.n ? "chain " + fmt("%.0f", a.p99) + " (" + fmt("%.0f", a.median) + "/" +
                     fmt("%.0f", a.max) + ")"
               : "chain -",
           o.n && a.n ? fmt("%.2f", o.p99 / a.p99) : "-",
           "p99 < 1000 and <= chain",
           ""};
    g.status = !o.n || !a.n ? "not measured" : met(o.p99 < 1000 && o.p99 <= a.p99);
    goals->push_back(g);
    // Playing from a server (issue 13): our caller against rtmp2src ! flvdemux, same nginx.
    const Dist& pl = set->pull.all;
    Goal gp{
        "latency",
        "pull added latency p99 us" + cond,
        pl.n ? fmt("%.0f", pl.p99) + " (" + fmt("%.0f", pl.median) + "/" + fmt("%.0f", pl.max) + ")"
             : "-",
        g.anchor,
        pl.n && a.n ? fmt("%.2f", pl.p99 / a.p99) : "-",
        "<= chain",
        ""};
    gp.status = !pl.n || !a.n ? "not measured" : met(pl.p99 <= a.p99);
    goals->push_back(gp);
  }
}

// --- part 2: concurrency ------------------------------------------------------------------------

// The --publishers process: N real-time publishers on one thread, keys k0..k<N-1>. Reports on
// stdout, one line each: "streaming" once every publish has started (or "error I WHY"), then
// "done SENT DROPPED DEAD MAX_LAG_US MAX_LAG_AT_MS", one "s I VIDEO_SENT AUDIO_SENT VIDEO_DROPPED
// AUDIO_DROPPED" per stream, "end", and "closed" after the clean goodbyes.
int publishers_main(uint16_t port, unsigned n, unsigned kbps, double seconds) {
  raise_nofile();
  // This one thread stands in for N remote encoders; under CFS it would otherwise get one
  // thread's share against a receiver's many threads and fall behind its schedule. Needs root
  // (or CAP_SYS_NICE); without it the run goes on at normal priority.
  (void)setpriority(PRIO_PROCESS, 0, -10);
  StreamProfile prof = profile_for_kbps(kbps);
  std::vector<std::unique_ptr<Conn>> conns(n);
  std::vector<std::string> keys, failures;
  for (unsigned i = 0; i < n; ++i) keys.push_back("k" + std::to_string(i));
  // Opened 64 at a time: SRS sets up a connection in ~90 ms here (small handshake writes
  // without TCP_NODELAY), so one at a time would take minutes at N = 1000.
  if (open_all(conns, port, keys, Conn::Goal::kPublishing, 64, 30'000, true, &failures) < n) {
    std::printf("error %s\n", failures.empty() ? "?" : failures[0].c_str());
    std::fflush(stdout);
    return 1;
  }
  std::vector<Publisher> pubs(n);
  for (unsigned i = 0; i < n; ++i) {
    pubs[i].index = i;
    pubs[i].conn = std::move(conns[i]);
  }
  send_sequence_headers(pubs);
  std::printf("streaming\n");
  std::fflush(stdout);
  int64_t start = now_ns() + 20'000'000;
  PublishTotals tot =
      run_schedule(pubs, prof, start, start + static_cast<int64_t>(seconds * 1e9), nullptr);
  std::printf("done %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 "\n", tot.sent,
              tot.dropped, tot.dead, tot.max_lag_ns / 1000, tot.max_lag_at_ns / 1'000'000);
  for (auto& p : pubs) {
    std::printf("s %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", p.index,
                p.video_k - p.video_dropped, p.audio_k - p.audio_dropped, p.video_dropped,
                p.audio_dropped);
  }
  std::printf("end\n");
  std::fflush(stdout);
  // Goodbyes to every server connection first, then one bounded wait for all the closes.
  for (auto& p : pubs) p.conn->begin_close(200);
  std::vector<pollfd> open_fds;
  for (auto& p : pubs) open_fds.push_back({p.conn->fd(), POLLIN, 0});
  const int64_t deadline = now_ns() + 3'000'000'000;
  while (!open_fds.empty() && now_ns() < deadline) {
    if (poll(open_fds.data(), open_fds.size(), 50) <= 0) continue;
    uint8_t buf[4096];
    std::erase_if(open_fds, [&](const pollfd& f) {
      return f.revents != 0 && recv(f.fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
    });
  }
  pubs.clear();
  std::printf("closed\n");
  std::fflush(stdout);
  return 0;
}

constexpr int64_t kLateUs = 200'000;  // rtmpingestsrc's default `latency`: what sync=true absorbs
// A publisher loop further behind its schedule than this was not offering a real-time load.
constexpr double kMaxPublisherLagMs = 250;

enum class Server { kOurs, kSrs };
const char* server_name(Server s) {
  return s == Server::kOurs ? "ours" : "SRS";
}

struct ConcurrencyStep {
  Server server = Server::kOurs;
  unsigned kbps = 0, n = 0;
  bool overload = false;
  bool ran = false;  // the load ran its course (CPU and RSS figures are meaningful)
  bool pass = false;
  bool inconclusive = false;  // the publishers, not the receiver, could not keep up
  std::string reason;
  uint64_t sent = 0, received = 0, dropped_by_sender = 0, gaps = 0, reordered = 0, misrouted = 0;
  uint64_t lost = 0, late = 0, dead = 0;
  Dist latency;  // ours: every message at the pads; SRS: the player on the last stream
  double wall_s = 0, recv_cpu_s = 0, pub_cpu_s = 0, pub_max_lag_ms = 0, pub_max_lag_at_s = 0;
  long rss_base_kb = 0, rss_peak_kb = 0, threads_peak = 0;
  double teardown_s = -1;    // ours: PLAYING -> NULL of the receiving pipeline
  long api_active = -1;      // SRS: streams its API lists as published, mid-step
  double stats_max_ms = -1;  // overload: the slowest g_object_get(src, "stats")
  size_t stats_reads = 0;    //   how many were timed
  std::string admission;     // overload: "admitted", "refused: ..." or "no answer ..."
  double admission_ms = -1;  //   time from connect to the answer

  double cores() const { return wall_s > 0 ? recv_cpu_s / wall_s : 0; }
  double pub_cores() const { return wall_s > 0 ? pub_cpu_s / wall_s : 0; }
  double rss_per_pub_kb() const {
    return n ? static_cast<double>(rss_peak_kb - rss_base_kb) / static_cast<double>(n) : 0;
  }
  double offered_mbit() const {
    return static_cast<double>(n) * static_cast<double>(kbps) / 1000.0;
  }
  double mbit_per_core() const {
    double c = cores();
    return c > 0 ? offered_mbit() / c : 0;
  }
};

// What each step needs beyond N and the rate.
struct StepContext {
  double seconds = 15;
  std::string srs_script;
};

// Reads the publisher child's report after "done" and waits (bounded) for the "closed" line.
// sent[i] = {video sent, audio sent, video dropped, audio dropped}.
template <class Idle>
void read_publisher_report(SelfProcess& pubs, unsigned n,
                           std::vector<std::array<uint64_t, 4>>* sent, Idle&& idle) {
  std::optional<std::string> line;
  while ((line = pubs.read_line(5000, idle)) && *line != "end") {
    unsigned i = 0;
    unsigned long long v = 0, au = 0, vd = 0, ad = 0;
    if (std::sscanf(line->c_str(), "s %u %llu %llu %llu %llu", &i, &v, &au, &vd, &ad) == 5 &&
        i < n) {
      (*sent)[i] = {v, au, vd, ad};
    }
  }
}

bool parse_done(const std::optional<std::string>& line, ConcurrencyStep* st) {
  unsigned long long a = 0, b = 0, c = 0;
  long long lag = 0, lag_at = 0;
  if (!line ||
      std::sscanf(line->c_str(), "done %llu %llu %llu %lld %lld", &a, &b, &c, &lag, &lag_at) != 5) {
    return false;
  }
  st->dead = c;
  st->pub_max_lag_ms = static_cast<double>(lag) / 1000.0;
  st->pub_max_lag_at_s = static_cast<double>(lag_at) / 1000.0;
  return true;
}

// Pass, fail or inconclusive from the counters.
void judge(ConcurrencyStep* st) {
  if (!st->reason.empty()) return;
  // Every failed check is named; loss and a missing stream fail the step even when the
  // publisher process also fell behind, lateness alone then only makes it inconclusive.
  std::vector<std::string> failed;
  if (st->sent == 0) failed.push_back("nothing sent");
  if (st->lost || st->dropped_by_sender || st->gaps || st->dead || st->misrouted) {
    failed.push_back("loss (lost " + std::to_string(st->lost) + ", dropped by the publishers " +
                     std::to_string(st->dropped_by_sender) + ", gaps " + std::to_string(st->gaps) +
                     ", dead connections " + std::to_string(st->dead) + ")");
  }
  if (st->server == Server::kSrs && st->api_active != static_cast<long>(st->n)) {
    failed.push_back("SRS API listed " + std::to_string(st->api_active) + " active streams of " +
                     std::to_string(st->n));
  }
  const bool hard = !failed.empty();
  // Real time (issue 11): zero loss and p99 lateness <= 200 ms; the late count is reported.
  if (st->latency.p99 > static_cast<double>(kLateUs)) {
    failed.push_back(fmt("p99 lateness %.0f ms > 200 ms", st->latency.p99 / 1000.0) + " (" +
                     std::to_string(st->late) + " messages late)");
  }
  if (!hard && st->pub_max_lag_ms > kMaxPublisherLagMs) {
    st->inconclusive = true;
    failed.insert(failed.begin(),
                  fmt("inconclusive: the publisher process ran %.0f ms behind its schedule",
                      st->pub_max_lag_ms) +
                      fmt(" at %.1f s (machine saturated, offered load not real-time)",
                          st->pub_max_lag_at_s));
  }
  for (const std::string& f : failed) st->reason += (st->reason.empty() ? "" : "; ") + f;
  st->pass = failed.empty();
}

void account_latency(const StreamRecv& s, ConcurrencyStep* st, std::vector<uint32_t>* lat) {
  st->gaps += s.video.gaps + s.audio.gaps;
  st->reordered += s.video.reordered + s.audio.reordered;
  st->misrouted += s.misrouted.load();
  for (const TrackRecv* t : {&s.video, &s.audio}) {
    for (uint32_t us : t->latency_us) {
      if (us > kLateUs) ++st->late;
      lat->push_back(us);
    }
  }
}

// Times g_object_get(src, "stats") on the elements in turn, every 50 ms, until stopped.
class StatsProbe {
 public:
  explicit StatsProbe(std::vector<GstElement*> srcs) : srcs_(std::move(srcs)) {
    thread_ = std::thread([this] { run(); });
  }
  ~StatsProbe() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double max_ms() const { return max_ms_; }
  size_t reads() const { return reads_; }

 private:
  void run() {
    for (size_t k = 0; !stop_.load(); ++k) {
      GstElement* src = srcs_[k % srcs_.size()];
      const int64_t t0 = now_ns();
      GstStructure* s = nullptr;
      g_object_get(src, "stats", &s, nullptr);
      const double ms = static_cast<double>(now_ns() - t0) / 1e6;
      if (s) gst_structure_free(s);
      max_ms_ = std::max(max_ms_, ms);
      ++reads_;
      sleep_ms(50);
    }
  }
  std::vector<GstElement*> srcs_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  double max_ms_ = 0;  // written by the thread, read after stop()
  size_t reads_ = 0;
};

// One new, well-behaved publisher arriving during the load (key "late"): admitted or refused,
// and how long the answer took. Runs on its own thread.
class LatePublisher {
 public:
  explicit LatePublisher(uint16_t port) {
    thread_ = std::thread([this, port] {
      Conn c;
      std::string why;
      const int64_t t0 = now_ns();
      bool ok = c.open(port, "live", "late", Conn::Goal::kPublishing, 10'000, &why);
      ms_ = static_cast<double>(now_ns() - t0) / 1e6;
      if (ok) {
        answer_ = "admitted";
        c.close_clean(1000);
      } else if (why.find("timeout") != std::string::npos) {
        answer_ = "no answer within 10 s (" + why + ")";
      } else {
        answer_ = "refused: " + why;
      }
    });
  }
  ~LatePublisher() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& answer() const { return answer_; }  // after join()
  double ms() const { return ms_; }

 private:
  std::thread thread_;
  std::string answer_;
  double ms_ = -1;
};

ConcurrencyStep run_ours_step(unsigned kbps, unsigned n, bool overload, const StepContext& cx) {
  ConcurrencyStep st;
  st.server = Server::kOurs;
  st.kbps = kbps;
  st.n = n;
  st.overload = overload;
  malloc_trim(0);  // memory freed by the previous step is not this step's base
  st.rss_base_kb = status_field("self", "VmRSS");
  GstElement* pipeline = nullptr;
  std::vector<std::unique_ptr<StreamRecv>> streams;
  std::vector<std::unique_ptr<PadContext>> ctxs;
  std::vector<GstElement*> srcs;
  uint16_t port = 0;
  bool started = false;
  // All elements name one port (port 0 would give each its own listener). Another process may
  // take the free port before the pipeline binds it: then a new port, at most three times.
  for (int attempt = 0; attempt < 3 && !started; ++attempt) {
    if (pipeline) teardown(pipeline);
    streams.clear();
    ctxs.clear();
    srcs.clear();
    pipeline = gst_pipeline_new(nullptr);
    port = ertmp_test::free_port();
    for (unsigned i = 0; i <= n; ++i) {
      if (i == n && !overload) break;
      // The last element (overload only) is the one the late publisher asks for.
      GstElement* src = make_ingest(i < n ? "k" + std::to_string(i) : "late", port, 2 * n + 64);
      gst_bin_add(GST_BIN(pipeline), src);
      if (i == n) break;
      streams.push_back(std::make_unique<StreamRecv>());
      streams.back()->index = i;
      streams.back()->record_after_ns = INT64_MAX;
      ctxs.push_back(std::make_unique<PadContext>(PadContext{pipeline, streams.back().get()}));
      g_signal_connect(src, "pad-added", G_CALLBACK(on_pad_added), ctxs.back().get());
      srcs.push_back(src);
    }
    started = gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;
    if (!started) st.reason = "pipeline did not start: " + drain_bus(pipeline);
  }
  std::vector<std::array<uint64_t, 4>> sent(n, {0, 0, 0, 0});
  if (started) {
    st.reason.clear();
    SelfProcess pubs({"--publishers", "--port", std::to_string(port), "--n", std::to_string(n),
                      "--kbps", std::to_string(kbps), "--seconds", std::to_string(cx.seconds)});
    std::string bus_error;
    int64_t mid = INT64_MAX;
    std::unique_ptr<LatePublisher> late;
    auto idle = [&] {
      std::string e = drain_bus(pipeline);
      if (bus_error.empty()) bus_error = e;
      st.rss_peak_kb = std::max(st.rss_peak_kb, status_field("self", "VmRSS"));
      st.threads_peak = std::max(st.threads_peak, status_field("self", "Threads"));
      if (overload && !late && now_ns() >= mid) late = std::make_unique<LatePublisher>(port);
    };
    const std::string child = pubs.pid_str();
    auto line = pubs.read_line(30'000 + static_cast<int>(n) * 50, idle);
    if (!line || *line != "streaming") {
      st.reason = "publishers did not start: " + (line ? *line : std::string("timeout"));
    } else {
      const int64_t t0 = now_ns();
      for (auto& s : streams) s->record_after_ns = t0 + 1'000'000'000;
      mid = t0 + static_cast<int64_t>(cx.seconds * 0.5e9);
      std::unique_ptr<StatsProbe> stats;
      if (overload) stats = std::make_unique<StatsProbe>(srcs);
      const double cpu0 = cpu_seconds("self"), pcpu0 = cpu_seconds(child);
      line = pubs.read_line(static_cast<int>(cx.seconds * 1000) + 30'000, idle);
      const int64_t t1 = now_ns();
      st.recv_cpu_s = cpu_seconds("self") - cpu0;
      st.pub_cpu_s = cpu_seconds(child) - pcpu0;
      st.wall_s = static_cast<double>(t1 - t0) / 1e9;
      if (stats) {
        stats->stop();
        st.stats_max_ms = stats->max_ms();
        st.stats_reads = stats->reads();
      }
      if (!parse_done(line, &st)) {
        st.reason = "publishers did not finish: " + (line ? *line : std::string("timeout"));
      } else {
        st.ran = true;
        read_publisher_report(pubs, n, &sent, idle);
        uint64_t want = 0;
        for (auto& s : sent) want += s[0] + s[1];
        // Let what is in flight arrive (bounded).
        for (int k = 0; k < 100; ++k) {
          uint64_t got = 0;
          for (auto& s : streams) got += s->messages.load(std::memory_order_relaxed);
          if (got >= want) break;
          sleep_ms(30);
        }
        (void)pubs.read_line(static_cast<int>(n) * 200 + 5000, idle);  // "closed"
      }
    }
    if (late) {
      late->join();
      st.admission = late->answer();
      st.admission_ms = late->ms();
    } else if (overload) {
      st.admission = "not tried (the load did not start)";
    }
    idle();
    if (st.reason.empty() && !bus_error.empty()) st.reason = "bus error: " + bus_error;
    pubs.wait_exit(5000);
  }
  st.teardown_s = teardown(pipeline);

  std::vector<uint32_t> lat;
  for (unsigned i = 0; i < n; ++i) {
    const StreamRecv& s = *streams[i];
    uint64_t want = sent[i][0] + sent[i][1];
    uint64_t got = s.video.received + s.audio.received;
    st.sent += want;
    st.received += got;
    st.dropped_by_sender += sent[i][2] + sent[i][3];
    st.lost += want > got ? want - got : 0;
    account_latency(s, &st, &lat);
  }
  st.latency = dist_of(std::move(lat));
  judge(&st);
  return st;
}

ConcurrencyStep run_srs_step(unsigned kbps, unsigned n, const StepContext& cx) {
  ConcurrencyStep st;
  st.server = Server::kSrs;
  st.kbps = kbps;
  st.n = n;
  Srs srs(cx.srs_script);
  std::string why;
  if (!srs.start(n + 64, &why)) {
    st.reason = why;
    return st;
  }
  const std::string spid = srs.pid_str();
  st.rss_base_kb = status_field(spid, "VmRSS");
  // The player on the last stream, subscribed before the publish starts.
  StreamRecv last;
  last.index = n - 1;
  last.record_after_ns = INT64_MAX;
  GstElement* pipeline = gst_pipeline_new(nullptr);
  PadContext ctx{pipeline, &last};
  st.reason = add_player(
      pipeline,
      "rtmp://127.0.0.1:" + std::to_string(srs.port()) + "/live/k" + std::to_string(n - 1), &ctx);
  if (st.reason.empty() &&
      gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    st.reason = "player did not start: " + drain_bus(pipeline);
  }
  if (st.reason.empty() && !srs.wait_player(10'000)) st.reason = "the player did not reach SRS";
  std::vector<std::array<uint64_t, 4>> sent(n, {0, 0, 0, 0});
  if (st.reason.empty()) {
    SelfProcess pubs({"--publishers", "--port", std::to_string(srs.port()), "--n",
                      std::to_string(n), "--kbps", std::to_string(kbps), "--seconds",
                      std::to_string(cx.seconds)});
    std::string bus_error;
    int64_t mid = INT64_MAX;
    const int64_t quarter = static_cast<int64_t>(cx.seconds * 0.25e9);
    int api_asks = 0;
    auto idle = [&] {
      std::string e = drain_bus(pipeline);
      if (bus_error.empty()) bus_error = e;
      st.rss_peak_kb = std::max(st.rss_peak_kb, status_field(spid, "VmRSS"));
      st.threads_peak = std::max(st.threads_peak, status_field(spid, "Threads"));
      // The API is asked at half time and, if it lists fewer streams, at three quarters.
      if (api_asks < 2 && now_ns() >= mid + api_asks * quarter) {
        st.api_active = std::max(st.api_active, srs.active_streams(n));
        api_asks = st.api_active == static_cast<long>(n) ? 2 : api_asks + 1;
      }
    };
    const std::string child = pubs.pid_str();
    auto line = pubs.read_line(30'000 + static_cast<int>(n) * 100, idle);
    if (!line || *line != "streaming") {
      st.reason = "publishers did not start: " + (line ? *line : std::string("timeout"));
    } else {
      const int64_t t0 = now_ns();
      last.record_after_ns = t0 + 1'000'000'000;
      mid = t0 + static_cast<int64_t>(cx.seconds * 0.5e9);
      const double cpu0 = cpu_seconds(spid), pcpu0 = cpu_seconds(child);
      line = pubs.read_line(static_cast<int>(cx.seconds * 1000) + 30'000, idle);
      const int64_t t1 = now_ns();
      st.recv_cpu_s = cpu_seconds(spid) - cpu0;
      st.pub_cpu_s = cpu_seconds(child) - pcpu0;
      st.wall_s = static_cast<double>(t1 - t0) / 1e9;
      if (!parse_done(line, &st)) {
        st.reason = "publishers did not finish: " + (line ? *line : std::string("timeout"));
      } else {
        st.ran = true;
        read_publisher_report(pubs, n, &sent, idle);
        const uint64_t want = sent[n - 1][0] + sent[n - 1][1];
        for (int k = 0; k < 100 && last.messages.load() < want; ++k) sleep_ms(30);
        (void)pubs.read_line(static_cast<int>(n) * 200 + 5000, idle);  // "closed"
      }
    }
    idle();
    if (st.reason.empty() && !bus_error.empty()) st.reason = "player bus error: " + bus_error;
    pubs.wait_exit(5000);
  }
  teardown(pipeline);
  srs.stop();
  // SRS is checked where it can be: every publisher's sends were taken (no drops, no dead
  // connection), the API listed every stream, and the last stream reached the player whole.
  for (unsigned i = 0; i < n; ++i) {
    st.sent += sent[i][0] + sent[i][1];
    st.dropped_by_sender += sent[i][2] + sent[i][3];
  }
  const uint64_t want = sent[n - 1][0] + sent[n - 1][1];
  st.received = last.video.received + last.audio.received;
  st.lost = want > st.received ? want - st.received : 0;
  std::vector<uint32_t> lat;
  account_latency(last, &st, &lat);
  st.latency = dist_of(std::move(lat));
  judge(&st);
  return st;
}

struct ConcurrencyResult {
  std::vector<ConcurrencyStep> steps;
  std::vector<unsigned> kbps_list;
  bool srs_measured = false;
  std::string srs_why;  // why SRS was not measured
  double ncores = 1;

  // The step of `server` at (kbps, n), not an overload step.
  const ConcurrencyStep* find(Server server, unsigned kbps, unsigned n) const {
    for (const auto& s : steps) {
      if (s.server == server && s.kbps == kbps && s.n == n && !s.overload) return &s;
    }
    return nullptr;
  }
  unsigned largest_pass(Server server, unsigned kbps) const {
    unsigned best = 0;
    for (const auto& s : steps) {
      if (s.server == server && s.kbps == kbps && s.pass && !s.overload) best = std::max(best, s.n);
    }
    return best;
  }
};

void print_step_line(const ConcurrencyStep& st) {
  std::printf("  %s%s%s; receiver %.2f cores, lost %" PRIu64 ", late %" PRIu64
              ", p99 %.0f us; publisher process %.2f cores, %.0f ms max behind schedule",
              st.pass ? "pass" : (st.inconclusive ? "INCONCLUSIVE" : "FAIL"),
              st.reason.empty() ? "" : ": ", st.reason.c_str(), st.cores(),
              st.lost + st.dropped_by_sender, st.late, st.latency.p99, st.pub_cores(),
              st.pub_max_lag_ms);
  if (st.teardown_s >= 0) std::printf("; PLAYING->NULL %.2f s", st.teardown_s);
  if (st.api_active >= 0) std::printf("; API lists %ld streams", st.api_active);
  if (st.overload) {
    std::printf("; stats max %.1f ms (%zu reads); late publisher %s in %.0f ms", st.stats_max_ms,
                st.stats_reads, st.admission.c_str(), st.admission_ms);
  }
  std::printf("\n");
  std::fflush(stdout);
}

ConcurrencyResult run_concurrency(const std::vector<unsigned>& kbps_list,
                                  const std::vector<unsigned>& ladder, const StepContext& cx,
                                  bool want_ours, bool want_srs, bool want_overload) {
  ConcurrencyResult res;
  res.kbps_list = kbps_list;
  res.ncores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  res.srs_measured = want_srs && Srs::available(cx.srs_script);
  if (!want_srs) {
    res.srs_why = "--no-srs";
  } else if (!res.srs_measured) {
    res.srs_why = std::getenv("SRS_DIR") ? "no SRS binary in $SRS_DIR (bench/srs.sh build)"
                                         : "SRS_DIR not set";
  }
  for (unsigned kbps : kbps_list) {
    bool ours_on = want_ours, srs_on = res.srs_measured;
    for (unsigned n : ladder) {
      if (!ours_on && !srs_on) break;
      for (Server server : {Server::kOurs, Server::kSrs}) {
        bool& on = server == Server::kOurs ? ours_on : srs_on;
        if (!on) continue;
        std::printf("concurrency: %s, %u publishers x %u kbit/s for %.0f s...\n",
                    server_name(server), n, kbps, cx.seconds);
        std::fflush(stdout);
        ConcurrencyStep st =
            server == Server::kOurs ? run_ours_step(kbps, n, false, cx) : run_srs_step(kbps, n, cx);
        print_step_line(st);
        // A failed step ends that server's ladder at this rate: larger N only take longer.
        if (!st.pass) on = false;
        res.steps.push_back(std::move(st));
      }
    }
    if (want_overload && want_ours) {
      unsigned best = res.largest_pass(Server::kOurs, kbps);
      unsigned n = 2 * (best ? best : ladder.front());
      std::printf("overload: ours, %u publishers x %u kbit/s (2x %s) for %.0f s...\n", n, kbps,
                  best ? ("the largest real-time N " + std::to_string(best)).c_str()
                       : "the first step, which was not real-time",
                  cx.seconds);
      std::fflush(stdout);
      ConcurrencyStep st = run_ours_step(kbps, n, true, cx);
      print_step_line(st);
      res.steps.push_back(std::move(st));
    }
  }
  return res;
}

void print_concurrency(const ConcurrencyResult& res, double seconds) {
  std::printf(
      "\n== Concurrency: N real-time publishers (separate process) -> ours (N rtmpingestsrc "
      "sharing one port) and SRS, %.0f s per step ==\n",
      seconds);
  if (!res.srs_measured) std::printf("SRS: not measured (%s)\n", res.srs_why.c_str());
  std::printf("%-5s %6s %5s %5s %8s %6s %6s %9s %6s %10s %9s %8s %8s %9s\n", "recv", "kbit/s", "N",
              "ok", "msgs", "lost", "late", "p99 ms", "cores", "Mbit/core", "RSS/pub", "threads",
              "pub cpu", "teardown");
  for (const auto& s : res.steps) {
    std::printf("%-5s %6u %5u %5s %8" PRIu64 " %6" PRIu64 " %6" PRIu64
                " %9.1f %6.2f %10.0f %7.0fkB %8ld %8.2f %8s%s\n",
                server_name(s.server), s.kbps, s.n,
                s.pass ? "yes" : (s.inconclusive ? "n/a" : "NO"), s.received,
                s.lost + s.dropped_by_sender, s.late, s.latency.p99 / 1000.0, s.cores(),
                s.mbit_per_core(), s.rss_per_pub_kb(), s.threads_peak, s.pub_cores(),
                s.teardown_s >= 0 ? fmt("%.2fs", s.teardown_s).c_str() : "-",
                s.overload ? "  overload" : "");
  }
  std::printf(
      "(SRS rows: msgs/lost/late/p99 are the player on the last stream plus every "
      "publisher's drops; pub cpu: the publishing process, cores)\n");
  if (!res.srs_measured) return;
  std::printf("\n%6s %5s %12s %12s %8s %10s %10s %8s\n", "kbit/s", "N", "ours Mb/core",
              "SRS Mb/core", "ratio", "ours kB/pub", "SRS kB/pub", "ratio");
  for (unsigned kbps : res.kbps_list) {
    for (const auto& s : res.steps) {
      if (s.server != Server::kOurs || s.kbps != kbps || s.overload) continue;
      const ConcurrencyStep* a = res.find(Server::kSrs, kbps, s.n);
      if (!a) continue;
      std::printf("%6u %5u %12.0f %12.0f %8.2f %10.0f %10.0f %8.2f\n", kbps, s.n, s.mbit_per_core(),
                  a->mbit_per_core(),
                  a->mbit_per_core() > 0 ? s.mbit_per_core() / a->mbit_per_core() : 0,
                  s.rss_per_pub_kb(), a->rss_per_pub_kb(),
                  a->rss_per_pub_kb() > 0 ? s.rss_per_pub_kb() / a->rss_per_pub_kb() : 0);
    }
  }
}

void concurrency_goals(const ConcurrencyResult& res, std::vector<Goal>* goals) {
  const std::string nm = "not measured";
  for (unsigned kbps : res.kbps_list) {
    const std::string at = " @" + std::to_string(kbps) + " kbit/s";
    // Mbit/s per receiver core against SRS: the smallest ratio over the N where both kept real
    // time (the goal holds at every such N).
    Goal per_core{
        "concurrency", "Mbit/s per core vs SRS" + at, "-", "SRS " + nm, "-", ">= 1.5x", nm};
    Goal memory{
        "concurrency", "RSS per publisher vs SRS" + at, "-", "SRS " + nm, "-", "<= 0.2x", nm};
    Goal realtime{
        "concurrency", "real time where SRS is" + at, "", "SRS " + nm, "", "every N SRS keeps", nm};
    if (res.srs_measured) {
      double worst = -1;
      unsigned worst_n = 0;
      const ConcurrencyStep *mem_o = nullptr, *mem_a = nullptr;
      std::string srs_rt, ours_rt;
      bool all_rt = true;
      for (const auto& a : res.steps) {
        if (a.server != Server::kSrs || a.kbps != kbps || a.overload) continue;
        const ConcurrencyStep* o = res.find(Server::kOurs, kbps, a.n);
        if (a.pass) {
          srs_rt += (srs_rt.empty() ? "" : ",") + std::to_string(a.n);
          if (!o || !o->pass) all_rt = false;
        }
        if (o && o->pass) ours_rt += (ours_rt.empty() ? "" : ",") + std::to_string(o->n);
        if (o && o->pass && a.pass && a.mbit_per_core() > 0) {
          double r = o->mbit_per_core() / a.mbit_per_core();
          if (worst < 0 || r < worst) {
            worst = r;
            worst_n = a.n;
          }
        }
        if (o && o->ran && a.ran) {
          mem_o = o;
          mem_a = &a;
        }
      }
      if (worst >= 0) {
        const ConcurrencyStep* o = res.find(Server::kOurs, kbps, worst_n);
        const ConcurrencyStep* a = res.find(Server::kSrs, kbps, worst_n);
        per_core = {"concurrency",
                    per_core.measure,
                    fmt("%.0f", o->mbit_per_core()) + " @N=" + std::to_string(worst_n),
                    "SRS " + fmt("%.0f", a->mbit_per_core()),
                    fmt("%.2f", worst),
                    ">= 1.5x (min)",
                    met(worst >= 1.5)};
      } else {
        per_core.anchor = "no N where both kept real time";
      }
      if (mem_o && mem_a && mem_a->rss_per_pub_kb() > 0) {
        double r = mem_o->rss_per_pub_kb() / mem_a->rss_per_pub_kb();
        memory = {"concurrency",
                  memory.measure,
                  fmt("%.0f kB", mem_o->rss_per_pub_kb()) + " @N=" + std::to_string(mem_o->n),
                  "SRS " + fmt("%.0f kB", mem_a->rss_per_pub_kb()),
                  fmt("%.2f", r),
                  "<= 0.2x",
                  met(r <= 0.2)};
      }
      realtime = {"concurrency",
                  realtime.measure,
                  "N " + (ours_rt.empty() ? "none" : ours_rt),
                  "SRS N " + (srs_rt.empty() ? "none" : srs_rt),
                  "",
                  "every N SRS keeps",
                  srs_rt.empty() ? nm : met(all_rt)};
    }
    goals->push_back(per_core);
    goals->push_back(realtime);
    goals->push_back(memory);
  }
  // Zero loss at 1,000 x 3 Mbit/s.
  {
    Goal g{"concurrency", "zero-loss publishers @3000 kbit/s", "-", "", "", ">= 1000", nm};
    if (std::find(res.kbps_list.begin(), res.kbps_list.end(), 3000u) != res.kbps_list.end()) {
      unsigned best = res.largest_pass(Server::kOurs, 3000);
      g.ours = std::to_string(best);
      g.status = met(best >= 1000);
    }
    goals->push_back(g);
  }
  double worst_teardown = -1;
  unsigned worst_teardown_n = 0;
  for (const auto& s : res.steps) {
    if (s.server == Server::kOurs && s.teardown_s > worst_teardown) {
      worst_teardown = s.teardown_s;
      worst_teardown_n = s.n;
    }
  }
  if (worst_teardown >= 0) {
    goals->push_back({"overload", "PLAYING->NULL, slowest step",
                      fmt("%.2f s", worst_teardown) + " @N=" + std::to_string(worst_teardown_n), "",
                      "", "< 2 s at any N", met(worst_teardown < 2)});
  }
  for (const auto& s : res.steps) {
    if (!s.overload) continue;
    const std::string at = " @" + std::to_string(s.n) + "x" + std::to_string(s.kbps);
    const ConcurrencyStep* base =
        res.find(Server::kOurs, s.kbps, res.largest_pass(Server::kOurs, s.kbps));
    // Bounded: no more than the machine, and no more CPU per offered Mbit/s than twice that of
    // the largest real-time step (a spinning receiver burns CPU without moving media).
    bool bounded = s.cores() <= 0.95 * res.ncores &&
                   (!base || s.mbit_per_core() >= 0.5 * base->mbit_per_core());
    goals->push_back({"overload", "receiver cores" + at, fmt("%.2f", s.cores()),
                      base ? "real-time step " + fmt("%.2f", base->cores()) : "", "",
                      "bounded (see docs)", s.ran ? met(bounded) : "missed"});
    goals->push_back({"overload", "max stats read" + at, fmt("%.1f ms", s.stats_max_ms), "", "",
                      "< 100 ms", s.stats_reads ? met(s.stats_max_ms < 100) : nm});
    bool answered = s.admission.rfind("admitted", 0) == 0 || s.admission.rfind("refused", 0) == 0;
    goals->push_back({"overload", "new publisher" + at,
                      s.admission.substr(0, 40) + fmt(" %.0f ms", s.admission_ms), "", "",
                      "answered < 5 s", met(answered && s.admission_ms < 5000)});
  }
}

std::string concurrency_json(const ConcurrencyResult& res, double seconds) {
  std::ostringstream o;
  o << "{\"seconds_per_step\": " << seconds << ", \"late_threshold_us\": " << kLateUs
    << ", \"srs_measured\": " << (res.srs_measured ? "true" : "false")
    << ", \"srs_not_measured_why\": " << json_string(res.srs_why) << ", \"steps\": [";
  for (size_t i = 0; i < res.steps.size(); ++i) {
    const auto& s = res.steps[i];
    o << (i ? ",\n  " : "") << "{\"server\": \"" << (s.server == Server::kOurs ? "ours" : "srs")
      << "\", \"kbps\": " << s.kbps << ", \"n\": " << s.n
      << ", \"overload\": " << (s.overload ? "true" : "false")
      << ", \"pass\": " << (s.pass ? "true" : "false")
      << ", \"inconclusive\": " << (s.inconclusive ? "true" : "false")
      << ", \"reason\": " << json_string(s.reason) << ", \"sent\": " << s.sent
      << ", \"received\": " << s.received << ", \"lost\": " << s.lost
      << ", \"dropped_by_sender\": " << s.dropped_by_sender << ", \"gaps\": " << s.gaps
      << ", \"reordered\": " << s.reordered << ", \"late\": " << s.late
      << ", \"latency\": " << json_dist(s.latency) << ", \"wall_s\": " << s.wall_s
      << ", \"receiver_cpu_s\": " << s.recv_cpu_s << ", \"receiver_cores\": " << s.cores()
      << ", \"mbit_per_core\": " << s.mbit_per_core() << ", \"rss_base_kb\": " << s.rss_base_kb
      << ", \"rss_peak_kb\": " << s.rss_peak_kb
      << ", \"rss_per_publisher_kb\": " << s.rss_per_pub_kb()
      << ", \"threads_peak\": " << s.threads_peak << ", \"publisher_cpu_s\": " << s.pub_cpu_s
      << ", \"publisher_cores\": " << s.pub_cores()
      << ", \"publisher_max_lag_ms\": " << s.pub_max_lag_ms << ", \"teardown_s\": " << s.teardown_s
      << ", \"api_active_streams\": " << s.api_active << ", \"stats_max_ms\": " << s.stats_max_ms
      << ", \"stats_reads\": " << s.stats_reads << ", \"admission\": " << json_string(s.admission)
      << ", \"admission_ms\": " << s.admission_ms << "}";
  }
  o << "], \"largest_zero_loss_n\": {";
  for (size_t i = 0; i < res.kbps_list.size(); ++i) {
    o << (i ? ", " : "") << "\"" << res.kbps_list[i]
      << "\": {\"ours\": " << res.largest_pass(Server::kOurs, res.kbps_list[i]) << ", \"srs\": "
      << (res.srs_measured ? std::to_string(res.largest_pass(Server::kSrs, res.kbps_list[i]))
                           : std::string("null"))
      << "}";
  }
  o << "}}";
  return o.str();
}

// --- part 3: memory -----------------------------------------------------------------------------

// The --peers process: N connections to 127.0.0.1:port, opened 64 at a time, brought to
//   idle         handshake + connect done, nothing else sent;
//   attack-pre   handshake done, then a chunk stream that declares a DECLARE-byte command
//                message and carries SEND bytes of it (--attack-send, default 64; no connect);
//   attack-post  handshake + connect done, then the same chunk (at the 4096-byte chunk size
//                the session set).
// Prints "ready OK FAILED [first failure]", then "open K" (connections the server has not
// closed) every 500 ms until killed.
int peers_main(uint16_t port, const std::string& mode, unsigned n, uint32_t declare,
               size_t send_bytes) {
  raise_nofile();
  const bool attack = mode != "idle";
  const Conn::Goal goal = mode == "attack-pre" ? Conn::Goal::kHandshake : Conn::Goal::kConnected;
  std::vector<uint8_t> chunk;
  if (attack) {
    // A fresh chunk stream (csid 8, type 0 header: 12 bytes) carrying a command message of
    // `declare` bytes, cut after `send_bytes` of its payload (one type 3 header byte before
    // every further chunk of chunk-size bytes).
    const size_t chunk_size = goal == Conn::Goal::kConnected ? 4096 : 128;
    rtmp::ChunkWriter writer;
    writer.set_chunk_size(static_cast<uint32_t>(chunk_size));
    rtmp::Message header;
    header.type = static_cast<uint8_t>(rtmp::MessageType::kCommandAmf0);
    header.csid = 8;
    std::vector<uint8_t> payload(declare, 0x05);  // AMF0 null markers
    writer.write(header, payload, chunk);
    const size_t sent = std::min<size_t>(send_bytes, declare);
    chunk.resize(std::min(chunk.size(), 12 + sent + (sent ? (sent - 1) / chunk_size : 0)));
  }
  std::vector<std::unique_ptr<Conn>> conns(n);
  std::vector<std::string> keys, failures;
  for (unsigned i = 0; i < n; ++i) keys.push_back("p" + std::to_string(i));
  size_t ok = open_all(conns, port, keys, goal, 64, 30'000, false, &failures);
  if (attack) {
    for (auto& c : conns) {
      if (c && c->fd() >= 0 && c->why().empty()) (void)c->send_raw(chunk, 2000);
    }
  }
  std::printf("ready %zu %zu %s\n", ok, failures.size(),
              failures.empty() ? "" : failures[0].c_str());
  std::fflush(stdout);
  while (true) {
    size_t open = 0;
    for (auto& c : conns) {
      if (c && c->why().empty() && c->still_open()) ++open;
    }
    std::printf("open %zu\n", open);
    std::fflush(stdout);
    sleep_ms(500);
  }
}

struct MemoryCase {
  Server server = Server::kOurs;
  std::string mode;  // idle, attack-pre, attack-post
  uint32_t declare = 0;
  size_t send_bytes = 0;
  unsigned n = 0;
  size_t opened = 0, failed = 0, open_after = 0;
  long rss_base_kb = 0, rss_peak_kb = 0;
  std::string error;

  double growth_kb() const { return static_cast<double>(rss_peak_kb - rss_base_kb); }
  double per_conn_kb() const { return opened ? growth_kb() / static_cast<double>(opened) : 0; }
};

// Opens the peers against `port`, samples the receiver's RSS (pid "self" or SRS's) for 2 s
// after they are ready, and reads how many the server left open.
void measure_peers(MemoryCase* mc, uint16_t port, const std::string& pid) {
  std::vector<std::string> args = {
      "--peers", mc->mode, "--port", std::to_string(port), "--n", std::to_string(mc->n)};
  if (mc->declare) {
    args.insert(args.end(), {"--declare", std::to_string(mc->declare), "--attack-send",
                             std::to_string(mc->send_bytes)});
  }
  SelfProcess peers(args);
  auto sample = [&] { mc->rss_peak_kb = std::max(mc->rss_peak_kb, status_field(pid, "VmRSS")); };
  auto line = peers.read_line(60'000 + static_cast<int>(mc->n) * 100, sample);
  size_t ok = 0, bad = 0;
  if (!line || std::sscanf(line->c_str(), "ready %zu %zu", &ok, &bad) != 2) {
    mc->error = "peers did not start: " + (line ? *line : std::string("no report"));
  } else {
    mc->opened = ok;
    mc->failed = bad;
    const int64_t end = now_ns() + 2'000'000'000;
    while (now_ns() < end) {
      line = peers.read_line(100, sample);
      size_t open = 0;
      if (line && std::sscanf(line->c_str(), "open %zu", &open) == 1) mc->open_after = open;
      sample();
    }
  }
  peers.signal(SIGKILL);
  peers.wait_exit(5000);
}

MemoryCase run_memory_case(Server server, const std::string& mode, uint32_t declare,
                           size_t send_bytes, unsigned n, const std::string& srs_script) {
  MemoryCase mc;
  mc.server = server;
  mc.mode = mode;
  mc.declare = declare;
  mc.send_bytes = send_bytes;
  mc.n = n;
  if (server == Server::kOurs) {
    malloc_trim(0);
    GstElement* pipeline = gst_pipeline_new(nullptr);
    GstElement* src = make_ingest("", 0, n + 64);
    gst_bin_add(GST_BIN(pipeline), src);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      mc.error = "pipeline did not start: " + drain_bus(pipeline);
    } else {
      mc.rss_base_kb = mc.rss_peak_kb = status_field("self", "VmRSS");
      measure_peers(&mc, bound_port(src), "self");
    }
    teardown(pipeline);
  } else {
    Srs srs(srs_script);
    if (!srs.start(n + 64, &mc.error)) return mc;
    mc.rss_base_kb = mc.rss_peak_kb = status_field(srs.pid_str(), "VmRSS");
    measure_peers(&mc, srs.port(), srs.pid_str());
  }
  return mc;
}

struct MemoryResult {
  std::vector<MemoryCase> cases;
  bool srs_measured = false;
};

MemoryResult run_memory(unsigned n, const std::vector<uint32_t>& declares, size_t send_bytes,
                        bool srs, const std::string& srs_script) {
  MemoryResult res;
  res.srs_measured = srs;
  for (Server server : {Server::kOurs, Server::kSrs}) {
    if (server == Server::kSrs && !srs) continue;
    std::vector<std::pair<std::string, uint32_t>> cases = {{"idle", 0}};
    for (uint32_t d : declares) {
      cases.emplace_back("attack-pre", d);
      cases.emplace_back("attack-post", d);
    }
    for (const auto& [mode, declare] : cases) {
      std::printf("memory: %s, %u peers, %s%s...\n", server_name(server), n, mode.c_str(),
                  declare ? (" declaring " + std::to_string(declare) + " bytes, sending " +
                             std::to_string(std::min<size_t>(send_bytes, declare)))
                                .c_str()
                          : "");
      std::fflush(stdout);
      res.cases.push_back(run_memory_case(server, mode, declare, send_bytes, n, srs_script));
      const MemoryCase& mc = res.cases.back();
      if (!mc.error.empty()) std::printf("  failed: %s\n", mc.error.c_str());
    }
  }
  return res;
}

void print_memory(const MemoryResult& res) {
  std::printf("\n== Memory: receiver RSS growth with N peers held open (peak over 2 s) ==\n");
  std::printf("%-5s %-12s %10s %8s %6s %6s %6s %12s %12s\n", "recv", "peers", "declared", "sent",
              "N", "opened", "open", "growth kB", "kB per conn");
  for (const auto& m : res.cases) {
    std::printf("%-5s %-12s %10s %8s %6u %6zu %6zu %12.0f %12.1f%s%s\n", server_name(m.server),
                m.mode.c_str(), m.declare ? std::to_string(m.declare).c_str() : "-",
                m.declare ? std::to_string(std::min<size_t>(m.send_bytes, m.declare)).c_str() : "-",
                m.n, m.opened, m.open_after, m.growth_kb(), m.per_conn_kb(),
                m.error.empty() ? "" : "  ", m.error.c_str());
  }
  std::printf(
      "(idle: handshake + connect, no publish; attack-pre/post: one chunk declaring the message "
      "size and `sent` bytes of it, before/after connect; open: connections the server had not "
      "closed 2 s later)\n");
  if (!res.srs_measured) std::printf("SRS: not measured\n");
}

std::string memory_json(const MemoryResult& res) {
  std::ostringstream o;
  o << "{\"cases\": [";
  for (size_t i = 0; i < res.cases.size(); ++i) {
    const auto& m = res.cases[i];
    o << (i ? ",\n  " : "") << "{\"server\": \"" << (m.server == Server::kOurs ? "ours" : "srs")
      << "\", \"mode\": \"" << m.mode << "\", \"declared_bytes\": " << m.declare
      << ", \"sent_bytes\": " << std::min<size_t>(m.send_bytes, m.declare) << ", \"n\": " << m.n
      << ", \"opened\": " << m.opened << ", \"failed\": " << m.failed
      << ", \"open_after_2s\": " << m.open_after << ", \"rss_base_kb\": " << m.rss_base_kb
      << ", \"rss_peak_kb\": " << m.rss_peak_kb << ", \"growth_kb\": " << m.growth_kb()
      << ", \"kb_per_connection\": " << m.per_conn_kb() << ", \"error\": " << json_string(m.error)
      << "}";
  }
  o << "], \"srs_measured\": " << (res.srs_measured ? "true" : "false") << "}";
  return o.str();
}

void memory_goals(const MemoryResult& res, const ConcurrencyResult* con, std::vector<Goal>* goals) {
  auto find = [&](Server s, const std::string& mode, uint32_t declare) -> const MemoryCase* {
    for (const auto& m : res.cases) {
      if (m.server == s && m.mode == mode && m.declare == declare && m.error.empty()) return &m;
    }
    return nullptr;
  };
  if (const MemoryCase* o = find(Server::kOurs, "idle", 0)) {
    const MemoryCase* a = find(Server::kSrs, "idle", 0);
    goals->push_back(
        {"memory", "RSS per idle connected peer",
         fmt("%.1f kB", o->per_conn_kb()) + " x" + std::to_string(o->opened),
         a ? "SRS " + fmt("%.1f kB", a->per_conn_kb()) : "SRS not measured",
         a && a->per_conn_kb() > 0 ? fmt("%.2f", o->per_conn_kb() / a->per_conn_kb()) : "",
         "<= 150 kB", met(o->per_conn_kb() <= 150)});
  }
  // Per publisher: the largest real-time step of ours at each rate (media in flight included).
  if (con) {
    for (unsigned kbps : con->kbps_list) {
      unsigned best = con->largest_pass(Server::kOurs, kbps);
      const ConcurrencyStep* s = best ? con->find(Server::kOurs, kbps, best) : nullptr;
      if (!s) continue;
      // Media in flight: at most the one second a publisher may queue (profile_for_kbps).
      double in_flight_kb = static_cast<double>(kbps) / 8.0;
      goals->push_back({"memory", "RSS per publisher @" + std::to_string(kbps) + " kbit/s",
                        fmt("%.0f kB", s->rss_per_pub_kb()) + " @N=" + std::to_string(best), "", "",
                        "<= 150 kB + " + fmt("%.0f kB", in_flight_kb) + " in flight",
                        met(s->rss_per_pub_kb() <= 150 + in_flight_kb)});
    }
  }
  for (const auto& m : res.cases) {
    if (m.server != Server::kOurs || m.mode == "idle") continue;
    const MemoryCase* a = find(Server::kSrs, m.mode, m.declare);
    goals->push_back({"memory", m.mode + fmt(" %.0f MiB declared, total", m.declare / 1048576.0),
                      m.error.empty()
                          ? fmt("%.0f kB", m.growth_kb()) + fmt(" (%.1f/conn)", m.per_conn_kb())
                          : "error",
                      a ? "SRS " + fmt("%.0f kB", a->growth_kb()) : "SRS not measured", "",
                      "report", m.error.empty() ? "measured" : "not measured"});
  }
}

// --- main ---------------------------------------------------------------------------------------

template <class T>
std::vector<T> parse_list(const std::string& s) {
  std::vector<T> v;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    unsigned long x = std::strtoul(item.c_str(), nullptr, 10);
    if (x > 0) v.push_back(static_cast<T>(x));
  }
  return v;
}

void usage() {
  std::printf(
      "usage: ingest_load [--latency] [--concurrency] [--memory] [options]   (no part: all)\n"
      "  --json FILE            results and goals as JSON (default ingest_load.json)\n"
      "  --samples DIR          every latency sample per target, one per line (ours.txt,\n"
      "                         anchor.txt, pull.txt, floor.txt; *_hog.txt with the CPU hogs)\n"
      "  --rounds R             latency rounds per target and condition (default 3)\n"
      "  --latency-seconds S    seconds per latency round (default 10)\n"
      "  --no-hog               latency on the quiet machine only\n"
      "  --seconds S            seconds per concurrency step (default 15)\n"
      "  --n LIST               concurrency ladder (default 125,250,500,1000)\n"
      "  --kbps LIST            bitrates (default 600,3000)\n"
      "  --no-overload          no overload step\n"
      "  --no-srs               no SRS steps (they need SRS_DIR and a built SRS)\n"
      "  --only-srs             concurrency: SRS steps only\n"
      "  --srs-script PATH      default " ERTMP_SOURCE_DIR
      "/bench/srs.sh\n"
      "  --memory-n N           peers per memory case (default 256)\n"
      "  --declare LIST         message sizes the attack declares (default 16777215,8388608)\n"
      "  --attack-send B        payload bytes of it each attacking connection sends (default "
      "64)\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool want_latency = false, want_concurrency = false, want_memory = false;
  bool hog = true, overload = true, srs = true, ours = true;
  std::string child_mode;
  int rounds = 3;
  double latency_seconds = 10;
  StepContext cx;
  cx.srs_script = ERTMP_SOURCE_DIR "/bench/srs.sh";
  unsigned port = 0, memory_n = 256;
  std::vector<unsigned> ladder = {125, 250, 500, 1000}, kbps_list = {600, 3000};
  // 16 MiB - 1: the most the 24-bit length field declares; 8 MiB: rtmp::Limits' default
  // max_message_size, the largest message our server accepts from a publisher.
  std::vector<uint32_t> declares = {16777215, 8388608};
  size_t attack_send = 64;
  std::string json_path = "ingest_load.json";
  std::string samples_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--latency") {
      want_latency = true;
    } else if (a == "--concurrency") {
      want_concurrency = true;
    } else if (a == "--memory") {
      want_memory = true;
    } else if (a == "--publishers") {
      child_mode = "publishers";
    } else if (a == "--peers") {
      child_mode = next();
    } else if (a == "--rounds") {
      rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--latency-seconds") {
      latency_seconds = std::max(2.0, std::atof(next().c_str()));
    } else if (a == "--no-hog") {
      hog = false;
    } else if (a == "--seconds") {
      cx.seconds = std::max(2.0, std::atof(next().c_str()));
    } else if (a == "--n") {
      ladder = parse_list<unsigned>(next());
    } else if (a == "--kbps") {
      kbps_list = parse_list<unsigned>(next());
    } else if (a == "--no-overload") {
      overload = false;
    } else if (a == "--no-srs") {
      srs = false;
    } else if (a == "--only-srs") {
      ours = false;
    } else if (a == "--srs-script") {
      cx.srs_script = next();
    } else if (a == "--memory-n") {
      memory_n = static_cast<unsigned>(std::max(1, std::atoi(next().c_str())));
    } else if (a == "--declare") {
      declares = parse_list<uint32_t>(next());
    } else if (a == "--attack-send") {
      attack_send = std::strtoul(next().c_str(), nullptr, 10);
    } else if (a == "--port") {
      port = static_cast<unsigned>(std::atoi(next().c_str()));
    } else if (a == "--json") {
      json_path = next();
    } else if (a == "--samples") {
      samples_dir = next();
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (child_mode == "publishers") {
    if (!port || port > 65535 || ladder.empty() || kbps_list.empty()) return 2;
    return publishers_main(static_cast<uint16_t>(port), ladder[0], kbps_list[0], cx.seconds);
  }
  if (!child_mode.empty()) {
    const bool attack = child_mode == "attack-pre" || child_mode == "attack-post";
    if (!port || port > 65535 || ladder.empty() || (attack && declares.empty())) return 2;
    if (!attack && child_mode != "idle") return 2;
    return peers_main(static_cast<uint16_t>(port), child_mode, ladder[0], attack ? declares[0] : 0,
                      attack_send);
  }
  if (ladder.empty() || kbps_list.empty()) {
    usage();
    return 2;
  }
  if (!want_latency && !want_concurrency && !want_memory) {
    want_latency = want_concurrency = want_memory = true;
  }
  const unsigned long nofile = raise_nofile();
  gst_init(&argc, &argv);
  gst_element_register(nullptr, "rtmpingestsrc", GST_RANK_NONE, GST_TYPE_RTMP_INGEST_SRC);
  const bool srs_ok = srs && Srs::available(cx.srs_script);
  std::printf("ingest_load: %ld cores, load average %s, RLIMIT_NOFILE %lu, SRS %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), loadavg().c_str(), nofile,
              srs_ok ? (std::string(std::getenv("SRS_DIR")) + " via " + cx.srs_script).c_str()
                     : "not measured (set SRS_DIR and run bench/srs.sh build)");
  std::string json = "{\"nproc\": " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                     ", \"loadavg_start\": \"" + loadavg() + "\"";
  std::vector<Goal> goals;
  if (want_latency) {
    LatencyResult lat = run_latency(rounds, latency_seconds, hog);
    print_latency_set(lat.quiet, 0);
    if (hog) print_latency_set(lat.hogged, lat.hogs);
    json += ", \"latency\": " + latency_json(lat);
    latency_goals(lat, &goals);
    if (!samples_dir.empty()) {
      for (const LatencySet* set : {&lat.quiet, &lat.hogged}) {
        if (set == &lat.hogged && !hog) continue;
        const std::string suffix = set == &lat.hogged ? "_hog.txt" : ".txt";
        for (auto [t, name] : {std::pair{&set->ours, "ours"}, std::pair{&set->anchor, "anchor"},
                               std::pair{&set->pull, "pull"}, std::pair{&set->floor, "floor"}}) {
          std::ofstream out(samples_dir + "/" + name + suffix);
          std::vector<uint32_t> v = t->samples;
          std::sort(v.begin(), v.end());
          for (uint32_t x : v) out << x << "\n";
        }
      }
    }
  }
  std::unique_ptr<ConcurrencyResult> con;
  if (want_concurrency) {
    con = std::make_unique<ConcurrencyResult>(
        run_concurrency(kbps_list, ladder, cx, ours, srs, overload));
    print_concurrency(*con, cx.seconds);
    json += ", \"concurrency\": " + concurrency_json(*con, cx.seconds);
    concurrency_goals(*con, &goals);
  }
  if (want_memory) {
    MemoryResult mem = run_memory(memory_n, declares, attack_send, srs_ok, cx.srs_script);
    print_memory(mem);
    json += ", \"memory\": " + memory_json(mem);
    memory_goals(mem, con.get(), &goals);
  }
  print_goals(goals);
  json += ", \"goals\": " + goals_json(goals);
  json += ", \"loadavg_end\": \"" + loadavg() + "\"}\n";
  std::ofstream(json_path) << json;
  std::printf(
      "\nload average at the end %s (other work on this machine shows in the figures)\n"
      "wrote %s\n",
      loadavg().c_str(), json_path.c_str());
  return 0;
}
