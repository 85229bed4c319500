// rtmppushsink's elementary inputs: the request pads video_%u / audio_%u (the number is the
// E-RTMP track id), their bounded queues, and the interleaver that hands their buffers to the
// base sink in DTS order.
//
// How the two input kinds share one GstBaseSink: the element's always pad `sink` is the base
// sink's pad. FLV (flvmux) is linked to it directly. When elementary pads are requested, an
// internal feeder pad (a parentless src pad, never in the element's pad list) is linked to
// `sink`, and the interleaver thread pushes the elementary buffers through it, rebased to
// running time, so preroll, async state changes, sync, ts-offset, render-delay, max-lateness,
// qos, throttle-time, max-bitrate and last-sample work as in any base sink. Consequences:
//   - `sink` and the elementary pads exclude each other: linking `sink` while elementary pads
//     exist fails (it is linked to the feeder), and requesting one while `sink` is linked
//     returns NULL. With neither, `sink` behaves as an unlinked base sink pad (a pipeline
//     with async=true waits for its preroll, as with rtmp2sink).
//   - Upstream events from the base sink (QoS, seeks, latency, reconfigure) reach every
//     elementary pad's peer; a latency query answers for all of them (live if any is, the
//     largest minimum, the smallest maximum).
//   - A flush on one elementary pad drops that pad's queue; it flushes the base sink too only
//     when the buffer the base sink holds (a clock wait, a preroll) is that pad's, or when
//     every pad is flushing (a flushing seek).
//
// Threads: chains and events run on the upstream streaming threads; they only queue (a full
// queue blocks the chain: back-pressure). The interleaver thread runs from start() (after the
// pads are active) to join() (after they are deactivated).
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gst/push_packager.h"

namespace gst_ertmp {

class PushInput {
 public:
  // When an elementary pad's EOS comes out of the interleaver (after its last buffer), the
  // feeder sends the base sink a serialized custom downstream event of this name, with fields
  // "video" (boolean) and "track" (uint): the element turns it into that track's SequenceEnd.
  static constexpr const char* kTrackEndEvent = "rtmppushsink-track-end";

  // `sink_pad` is the base sink's pad; `description` receives the pads' caps and tags.
  PushInput(GstElement* element, GstPad* sink_pad, StreamDescription& description);
  ~PushInput();
  PushInput(const PushInput&) = delete;
  PushInput& operator=(const PushInput&) = delete;

  // GstElement request_new_pad / release_pad. NULL when refused (see above, or the track is
  // taken, or above 255).
  GstPad* request_pad(GstPadTemplate* templ, const gchar* name);
  void release_pad(GstPad* pad);
  // Whether buffers reaching the base sink come from here (elementary pads exist).
  bool active() const;

  // READY->PAUSED after the pads are activated / PAUSED->READY before and after they are
  // deactivated.
  void start(guint interleave_timeout_ms);
  void begin_stop();
  void join();

  // render(): the frame a buffer from the feeder carries (nullopt for any other buffer).
  std::optional<ElementaryFrame> take_frame(GstBuffer* buffer);

  // <pad>-frames and <pad>-queued for the `stats` structure.
  void fill_stats(GstStructure* s);

 private:
  struct Item {
    GstBuffer* buffer = nullptr;
    std::shared_ptr<const PushFormat> format;
    gint64 dts = 0;  // running time, ns
    gint64 pts = 0;
    bool keyframe = true;
    gint64 arrival_us = 0;
  };
  struct InputPad;

  std::shared_ptr<InputPad> state_of(GstPad* pad);
  static GstFlowReturn chain(GstPad* pad, GstObject* parent, GstBuffer* buffer);
  static gboolean event(GstPad* pad, GstObject* parent, GstEvent* event);
  static gboolean feeder_event(GstPad* pad, GstObject* parent, GstEvent* event);
  static gboolean feeder_query(GstPad* pad, GstObject* parent, GstQuery* query);
  GstFlowReturn chain_frame(InputPad* p, GstBuffer* buffer);
  gboolean handle_event(InputPad* p, GstEvent* event);
  bool set_caps(InputPad* p, GstCaps* caps);
  bool wait_for_room(std::unique_lock<std::mutex>& lock, InputPad* p);
  std::shared_ptr<InputPad> pick(std::unique_lock<std::mutex>& lock);
  bool all_done_locked() const;
  void learn_liveness(std::unique_lock<std::mutex>& lock);
  void push_sticky_events(std::unique_lock<std::mutex>& lock);
  bool push_track_ends(std::unique_lock<std::mutex>& lock);
  void run();
  std::vector<GstPad*> pad_refs();
  bool forward_upstream(GstEvent* event);
  bool query_latency(GstQuery* query);

  GstElement* element_;
  GstPad* sink_pad_;  // the base sink's pad (borrowed: the element owns it)
  GstPad* feeder_;    // ours
  StreamDescription& description_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<InputPad>> pads_;
  std::thread thread_;
  bool running_ = false;
  bool stopping_ = false;
  guint interleave_timeout_ms_ = 300;
  GstFlowReturn flow_ = GST_FLOW_OK;  // what the base sink last refused with
  bool need_stream_start_ = true;
  bool need_segment_ = true;
  bool eos_sent_ = false;
  bool sink_flushing_ = false;  // we forwarded a FLUSH_START to the base sink
  // The frame being pushed into the base sink (render() takes it).
  std::shared_ptr<InputPad> in_flight_pad_;
  std::optional<ElementaryFrame> in_flight_;
};

}  // namespace gst_ertmp
