// The event loops under the network elements: a process-wide pool of epoll loops, one thread
// each (one per core by default), that serve every socket of every listener and connection.
//
// Why: one thread per connection costs a wake-up, a poll and a recv per message and collapses
// past a few hundred publishers (issue 11: scheduler ~20 %, poll ~20 % of receiver CPU). A loop
// takes every ready socket of a wake-up in one epoll_wait, reads each once and goes on.
//
// Contract:
//  - An IoHandler is registered with one loop and lives on it: every call into it (on_io,
//    on_tick) comes from that loop's thread, and only that thread may watch/unwatch its fd or
//    retire it. Other threads talk to a loop with post(), which runs a function on the loop
//    thread after the current batch of events.
//  - retire() defers the destruction of a handler to the end of the batch, so an event of the
//    same batch for a handler another handler just closed is skipped, never run on freed memory.
//  - Nothing on a loop thread blocks or calls application code (signal handlers, bus sync
//    handlers): elements hand that to other threads (see BusPoster).
//  - The pool lives while anything holds it (IoPool::get()); its threads are joined when the
//    last holder lets go, which must not be a loop thread (loop threads never hold it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gst/gst.h>

namespace gst_ertmp {

class IoLoop;

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // Readiness of the watched fd (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP bits).
  virtual void on_io(uint32_t events) = 0;
  // About every IoLoop::kTickMs while registered with add_ticker: deadlines and retries.
  virtual void on_tick(uint64_t now_ms) { (void)now_ms; }

 private:
  friend class IoLoop;
  bool retired_ = false;
  bool ticking_ = false;
};

class IoLoop {
 public:
  static constexpr uint64_t kTickMs = 100;
  // One read buffer per loop, shared by its connections (their sessions copy what they keep).
  static constexpr size_t kReadBufferSize = 256 * 1024;

  explicit IoLoop(unsigned index);
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Any thread. Runs `fn` on the loop thread after the current batch of events.
  void post(std::function<void()> fn);
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_; }
  unsigned index() const { return index_; }
  // Handlers assigned to this loop (kept by their owners for balancing).
  std::atomic<int>& load() { return load_; }
  // Busy fraction of the loop thread (0..1) over the last completed second.
  double utilisation() const { return utilisation_.load(std::memory_order_relaxed); }

  // Loop thread only.
  bool watch(int fd, uint32_t events, IoHandler* h);  // adds, or changes the events
  void unwatch(int fd);
  void add_ticker(IoHandler* h);
  void remove_ticker(IoHandler* h);
  void retire(std::unique_ptr<IoHandler> h);
  uint8_t* read_buffer() { return read_buffer_.get(); }
  static uint64_t now_ms();

 private:
  void run();
  void run_posted();
  void tick(uint64_t now);

  const unsigned index_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::thread::id thread_id_;
  std::atomic<bool> stop_{false};
  std::atomic<int> load_{0};
  std::atomic<double> utilisation_{0};

  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  bool wake_pending_ = false;  // guarded by post_mu_

  std::unique_ptr<uint8_t[]> read_buffer_;
  std::vector<IoHandler*> tickers_;
  std::vector<std::unique_ptr<IoHandler>> retired_;
  uint64_t next_tick_ms_ = 0;
};

class IoPool {
 public:
  // The process-wide pool, started on first use. GST_ERTMP_IO_THREADS sets its size (default:
  // the number of processors, at most 16).
  static std::shared_ptr<IoPool> get();
  ~IoPool();

  // The loop with the fewest handlers.
  IoLoop* pick();
  IoLoop* loop(size_t i) { return loops_[i].get(); }
  size_t size() const { return loops_.size(); }
  // True when called from one of this process's loop threads.
  static bool on_any_loop_thread();

 private:
  explicit IoPool(size_t n);
  std::vector<std::unique_ptr<IoLoop>> loops_;
};

// Posts bus messages in order from one thread of its own, so that a bus sync handler (which
// may stop the element, and so wait for the I/O) never runs on a loop thread or inside a
// lock. Holds a reference to the element until its message is posted.
class BusPoster {
 public:
  static BusPoster& instance();
  void post(GstElement* element, GstMessage* message);  // takes the message
  // Waits (bounded) until every message posted before the call was handed to its bus.
  void drain(gint64 timeout_us);

 private:
  BusPoster() = default;
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<GstElement*, GstMessage*>> queue_;
  uint64_t posted_ = 0, done_ = 0;
  bool running_ = false;
};

}  // namespace gst_ertmp
