// PadStream: a source pad that streams from its own task out of a bounded queue (SPEC §4).
//
// The producer (an I/O loop thread, which must never block) queues buffers and events; the
// pad's task pushes them downstream. So branches never stall each other and no `queue` is
// needed after the element: each pad has its own streaming thread, as a demuxer followed by
// queues would.
//
// Bounds: the queue holds at most `max_bytes` and `max_time` (DTS span between the newest
// queued buffer and the last one pushed). push_buffer() reports going over either bound; the
// producer then stops reading the connection (TCP back-pressure on exactly that publisher).
// When the task has pushed the queue down to half of both bounds it calls `on_room` once, from
// the task thread, so the producer can read again. The bounds are soft by one read's worth of
// messages: what was received is always queued, never dropped.
//
// Pad-added: the first AddPad item makes the task add the pad to the element, so pad-added
// handlers run on the pad's streaming thread (as for demuxers), never on an I/O loop.
//
// Threads: push_* from one producer at a time (callers serialise); start/stop from the element's
// state changes; the pad's activate-mode function does the same when the element deactivates
// its pads. stop() joins the task.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <gst/gst.h>

namespace gst_ertmp {

// One pad hands over to another (a codec change on a track). The old pad's task, once it has
// pushed everything queued before the change, passes its pad here; the new pad's task waits for
// that, then removes the old pad and adds its own of the same name (pad-removed, pad-added: the
// application links a new decoder chain). The old branch keeps its peer pad, which gets its EOS
// when the new pad sends its own: an EOS right away would let the pipeline see every sink at
// EOS before the new branch has one (decodebin3 makes its sink later) and post EOS.
struct PadHandover {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  GstPad* old_pad = nullptr;       // a reference, when the old pad was added
  std::vector<GstPad*> old_peers;  // references: branches still owed an EOS
  ~PadHandover() {
    if (old_pad) gst_object_unref(old_pad);
    for (GstPad* p : old_peers) gst_object_unref(p);
  }
};

// The pads of one element, added by their own tasks: a pad's first buffer waits (bounded) until
// every pad requested before it is added, so a muxer linked in pad-added sees all the tracks a
// publish started with before any data (matroskamux writes its header at the first buffer).
struct PadAddGate {
  std::mutex mu;
  std::condition_variable cv;
  unsigned requested = 0;  // AddPad items queued (producer side)
  unsigned added = 0;      // pads added by their tasks
};

struct QueueLimits {
  guint64 max_bytes = 0;      // 0: no byte bound
  GstClockTime max_time = 0;  // 0: no time bound
};

class PadStream {
 public:
  // Takes ownership of `pad` (floating or not); sets its activate-mode function.
  PadStream(GstElement* element, GstPad* pad, QueueLimits limits, std::function<void()> on_room);
  ~PadStream();
  PadStream(const PadStream&) = delete;
  PadStream& operator=(const PadStream&) = delete;

  GstPad* pad() const { return pad_; }
  // True once the AddPad item was handed to the task (the pad is, or is about to be, the
  // element's).
  bool add_requested() const { return add_requested_; }

  // Producer side. push_buffer returns false when the queue is over a bound (stop reading).
  bool push_buffer(GstBuffer* buf);  // takes the buffer
  void push_event(GstEvent* ev);     // takes the event
  void push_add_pad(std::shared_ptr<PadAddGate> gate = nullptr);
  // The task waits (bounded, 1 s) until `gate` counts `target` pads added.
  void push_wait_added(std::shared_ptr<PadAddGate> gate, unsigned target);
  // After what is queued now, the task hands its pad over (see PadHandover) and stops pushing;
  // push_wait_for makes the new pad's task wait for it and take the old pad's place.
  void push_hand_over(std::shared_ptr<PadHandover> handover);
  void push_wait_for(std::shared_ptr<PadHandover> handover);

  // Activates the pad (starting its task). Returns false if activation failed.
  bool start();
  // Flushes what is queued, stops and joins the task, and removes the pad from the element
  // (or drops it if it was never added). Idempotent.
  void stop();

  // Counters for stats (any thread).
  guint64 queued_bytes();

 private:
  struct Item {
    enum class Kind { kBuffer, kEvent, kAddPad, kHandOver, kWaitFor, kWaitAdded } kind;
    GstMiniObject* obj = nullptr;
    GstClockTime dts = GST_CLOCK_TIME_NONE;
    gsize size = 0;
    std::shared_ptr<PadHandover> handover = {};
    std::shared_ptr<PadAddGate> gate = {};
    unsigned target = 0;
  };
  static gboolean activate_mode(GstPad* pad, GstObject* parent, GstPadMode mode, gboolean active);
  static void task_loop(gpointer data);
  void run_once();
  bool over_limits_locked() const;
  bool has_room_locked() const;
  void push_batch(std::vector<Item>& batch);
  void flush_locked(std::vector<Item>& out);
  bool enqueue(Item it, bool* over);
  void wake_task();
  static void drop(Item& it);

  GstElement* element_;  // not owned: the element owns us
  GstPad* pad_;
  const QueueLimits limits_;
  std::function<void()> on_room_;

  std::mutex mu_;
  // Bumped, then futex-woken, to wake the task (a 32-bit atomic: the futex word).
  std::atomic<uint32_t> wake_seq_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  std::vector<Item> items_;
  std::vector<Item> batch_;  // task thread: what it is pushing
  bool sleeping_ = false;    // the task waits on wake_seq_ (guarded by mu_)
  bool flushing_ = true;
  bool throttled_ = false;
  guint64 bytes_ = 0;  // queued + being pushed
  GstClockTime newest_dts_ = GST_CLOCK_TIME_NONE;
  GstClockTime pushed_dts_ = GST_CLOCK_TIME_NONE;
  bool add_requested_ = false;
  bool added_ = false;                        // task thread
  std::shared_ptr<PadHandover> taking_over_;  // task thread: an old pad to replace at AddPad
  std::vector<GstPad*> old_peers_;  // task thread: replaced branches owed our EOS (references)
  void add_pad(const std::shared_ptr<PadAddGate>& gate);
  bool flow_error_ = false;  // task thread: one error on the bus per stream
  bool stopped_ = false;
};

}  // namespace gst_ertmp
