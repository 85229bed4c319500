#include "gst/pad_stream.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_EXTERN(rtmp_ingest_src_debug);
#define GST_CAT_DEFAULT rtmp_ingest_src_debug

namespace gst_ertmp {

PadStream::PadStream(GstElement* element, GstPad* pad, QueueLimits limits,
                     std::function<void()> on_room)
    : element_(element),
      pad_(GST_PAD(gst_object_ref_sink(pad))),
      limits_(limits),
      on_room_(std::move(on_room)) {
  gst_pad_set_element_private(pad_, this);
  gst_pad_set_activatemode_function(pad_, activate_mode);
}

PadStream::~PadStream() {
  stop();
  gst_object_unref(pad_);
}

void PadStream::drop(Item& it) {
  if (it.obj) gst_mini_object_unref(it.obj);
  it.obj = nullptr;
}

bool PadStream::over_limits_locked() const {
  if (limits_.max_bytes && bytes_ > limits_.max_bytes) return true;
  if (limits_.max_time && GST_CLOCK_TIME_IS_VALID(newest_dts_) &&
      GST_CLOCK_TIME_IS_VALID(pushed_dts_) && newest_dts_ > pushed_dts_ &&
      newest_dts_ - pushed_dts_ > limits_.max_time) {
    return true;
  }
  return false;
}

bool PadStream::has_room_locked() const {
  if (bytes_ == 0) return true;
  if (limits_.max_bytes && bytes_ > limits_.max_bytes / 2) return false;
  if (limits_.max_time && GST_CLOCK_TIME_IS_VALID(newest_dts_) &&
      GST_CLOCK_TIME_IS_VALID(pushed_dts_) && newest_dts_ > pushed_dts_ &&
      newest_dts_ - pushed_dts_ > limits_.max_time / 2) {
    return false;
  }
  return true;
}

// Appends under the lock and wakes a sleeping task after unlocking it (woken under the lock,
// the task would only block again on the mutex). False when flushing: the item was dropped.
bool PadStream::enqueue(Item it, bool* over) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (flushing_) {
      drop(it);
      return false;
    }
    if (it.kind == Item::Kind::kAddPad) {
      if (add_requested_) return true;
      add_requested_ = true;
    }
    if (it.kind == Item::Kind::kBuffer) {
      // An empty queue measures its span from this buffer (not from what was pushed before a
      // gap).
      if (bytes_ == 0 || !GST_CLOCK_TIME_IS_VALID(pushed_dts_)) pushed_dts_ = it.dts;
      if (GST_CLOCK_TIME_IS_VALID(it.dts)) newest_dts_ = it.dts;
      bytes_ += it.size;
    }
    items_.push_back(std::move(it));
    wake = sleeping_;
    sleeping_ = false;
    if (over && over_limits_locked()) {
      if (!throttled_) {
        GST_DEBUG_OBJECT(pad_,
                         "queue full (%" G_GUINT64_FORMAT " bytes, %" GST_TIME_FORMAT
                         "): the publisher waits",
                         bytes_, GST_TIME_ARGS(newest_dts_ - pushed_dts_));
      }
      throttled_ = true;
      *over = true;
    }
  }
  if (wake) wake_task();
  return true;
}

bool PadStream::push_buffer(GstBuffer* buf) {
  bool over = false;
  enqueue(Item{Item::Kind::kBuffer, GST_MINI_OBJECT_CAST(buf), GST_BUFFER_DTS_OR_PTS(buf),
               gst_buffer_get_size(buf)},
          &over);
  return !over;
}

void PadStream::push_event(GstEvent* ev) {
  enqueue(Item{Item::Kind::kEvent, GST_MINI_OBJECT_CAST(ev)}, nullptr);
}

void PadStream::push_add_pad(std::shared_ptr<PadAddGate> gate) {
  Item it{Item::Kind::kAddPad};
  it.gate = std::move(gate);
  enqueue(std::move(it), nullptr);
}

void PadStream::push_wait_added(std::shared_ptr<PadAddGate> gate, unsigned target) {
  Item it{Item::Kind::kWaitAdded};
  it.gate = std::move(gate);
  it.target = target;
  enqueue(std::move(it), nullptr);
}

void PadStream::push_hand_over(std::shared_ptr<PadHandover> handover) {
  enqueue(Item{Item::Kind::kHandOver, nullptr, GST_CLOCK_TIME_NONE, 0, std::move(handover)},
          nullptr);
}

void PadStream::push_wait_for(std::shared_ptr<PadHandover> handover) {
  enqueue(Item{Item::Kind::kWaitFor, nullptr, GST_CLOCK_TIME_NONE, 0, std::move(handover)},
          nullptr);
}

guint64 PadStream::queued_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

bool PadStream::start() {
  return gst_pad_set_active(pad_, TRUE);
}

void PadStream::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Flush and join the task ourselves: a pad that was handed over (removed from the element by
  // its successor) is deactivated by nobody else.
  std::vector<Item> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    flushing_ = true;
    flush_locked(dropped);
  }
  wake_task();
  for (auto& it : dropped) drop(it);
  gst_pad_stop_task(pad_);
  gst_pad_set_active(pad_, FALSE);
  if (added_) {
    gst_element_remove_pad(element_, pad_);
    added_ = false;
  }
  // Stopped before taking an old pad's place: that pad goes too.
  if (taking_over_ && taking_over_->old_pad)
    gst_element_remove_pad(element_, taking_over_->old_pad);
  taking_over_.reset();
  for (GstPad* peer : old_peers_) gst_object_unref(peer);
  old_peers_.clear();
}

void PadStream::add_pad(const std::shared_ptr<PadAddGate>& gate) {
  if (added_) return;
  if (taking_over_) {
    std::lock_guard<std::mutex> lock(taking_over_->mu);
    old_peers_.swap(taking_over_->old_peers);
    if (taking_over_->old_pad) {
      if (GstPad* peer = gst_pad_get_peer(taking_over_->old_pad)) old_peers_.push_back(peer);
      gst_element_remove_pad(element_, taking_over_->old_pad);
    }
  }
  taking_over_.reset();
  added_ = true;
  gst_element_add_pad(element_, pad_);
  if (gate) {
    std::lock_guard<std::mutex> lock(gate->mu);
    ++gate->added;
    gate->cv.notify_all();
  }
}

void PadStream::flush_locked(std::vector<Item>& out) {
  out.swap(items_);
  items_.clear();
  bytes_ = 0;
  throttled_ = false;
  newest_dts_ = pushed_dts_ = GST_CLOCK_TIME_NONE;
}

gboolean PadStream::activate_mode(GstPad* pad, GstObject*, GstPadMode mode, gboolean active) {
  auto* self = static_cast<PadStream*>(gst_pad_get_element_private(pad));
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->flushing_ = false;
    }
    return gst_pad_start_task(pad, task_loop, self, nullptr);
  }
  std::vector<Item> dropped;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->flushing_ = true;
    self->flush_locked(dropped);
  }
  self->wake_task();
  for (auto& it : dropped) drop(it);
  return gst_pad_stop_task(pad);
}

void PadStream::task_loop(gpointer data) {
  static_cast<PadStream*>(data)->run_once();
}

void PadStream::run_once() {
  for (;;) {
    uint32_t seq;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (flushing_) break;
      if (!items_.empty()) {
        // Two vectors trade places: their capacity is reused, no allocation per wake-up.
        batch_.swap(items_);
        sleeping_ = false;
        break;
      }
      sleeping_ = true;
      seq = wake_seq_.load();
    }
    // A futex wait on the sequence, not a condition variable (glibc's condvar hands the mutex
    // back marked contended, which costs one more futex wake per message) nor
    // std::atomic::wait (libstdc++ spins with sched_yield first: a context switch per yield).
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&wake_seq_), FUTEX_WAIT_PRIVATE, seq, nullptr,
            nullptr, 0);
  }
  if (batch_.empty()) {  // flushing
    gst_pad_pause_task(pad_);
    return;
  }
  push_batch(batch_);
  batch_.clear();
}

void PadStream::wake_task() {
  wake_seq_.fetch_add(1);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&wake_seq_), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

void PadStream::push_batch(std::vector<Item>& batch) {
  bool call_on_room = false;
  for (auto& it : batch) {
    switch (it.kind) {
      case Item::Kind::kAddPad:
        add_pad(it.gate);
        break;
      case Item::Kind::kWaitAdded: {
        // Bounded: a pad-added handler that takes long, or a stop, never holds this pad more
        // than a second.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        std::unique_lock<std::mutex> lock(it.gate->mu);
        while (it.gate->added < it.target && std::chrono::steady_clock::now() < deadline) {
          it.gate->cv.wait_for(lock, std::chrono::milliseconds(20));
          std::lock_guard<std::mutex> self(mu_);
          if (flushing_) break;
        }
        break;
      }
      case Item::Kind::kHandOver: {
        std::lock_guard<std::mutex> lock(it.handover->mu);
        if (added_) it.handover->old_pad = GST_PAD(gst_object_ref(pad_));
        added_ = false;  // the pad is the new stream's to remove now
        it.handover->old_peers.swap(old_peers_);
        it.handover->done = true;
        it.handover->cv.notify_all();
        break;
      }
      case Item::Kind::kWaitFor: {
        // Bounded by our own flushing: a stop never waits for the other pad.
        std::unique_lock<std::mutex> lock(it.handover->mu);
        while (!it.handover->done) {
          it.handover->cv.wait_for(lock, std::chrono::milliseconds(50));
          std::lock_guard<std::mutex> self(mu_);
          if (flushing_) break;
        }
        if (it.handover->done) taking_over_ = it.handover;
        break;
      }
      case Item::Kind::kEvent:
        if (GST_EVENT_TYPE(it.obj) == GST_EVENT_EOS) {
          for (GstPad* peer : old_peers_) {
            gst_pad_send_event(peer, gst_event_new_eos());
            gst_object_unref(peer);
          }
          old_peers_.clear();
        }
        gst_pad_push_event(pad_, GST_EVENT_CAST(it.obj));
        it.obj = nullptr;
        break;
      case Item::Kind::kBuffer: {
        GstFlowReturn ret = gst_pad_push(pad_, GST_BUFFER_CAST(it.obj));
        it.obj = nullptr;
        // NOT_LINKED (an unlinked pad), FLUSHING (stopping) and EOS (downstream is done) are
        // not errors of this stream: the buffer is dropped and the stream goes on.
        if (ret < GST_FLOW_EOS || ret == GST_FLOW_NOT_NEGOTIATED) {
          if (!flow_error_) {
            flow_error_ = true;
            GST_ELEMENT_FLOW_ERROR(element_, ret);
          }
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (flushing_) break;
        bytes_ = bytes_ >= it.size ? bytes_ - it.size : 0;
        if (GST_CLOCK_TIME_IS_VALID(it.dts)) pushed_dts_ = it.dts;
        if (throttled_ && has_room_locked()) {
          GST_DEBUG_OBJECT(pad_, "queue has room again");
          throttled_ = false;
          call_on_room = true;
        }
        break;
      }
    }
    if (call_on_room) {
      call_on_room = false;
      if (on_room_) on_room_();
    }
  }
  for (auto& it : batch) drop(it);  // anything left after a flush
}

}  // namespace gst_ertmp
