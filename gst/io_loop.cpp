#include "gst/io_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

GST_DEBUG_CATEGORY_STATIC(ertmp_loop_debug);
#define GST_CAT_DEFAULT ertmp_loop_debug

namespace gst_ertmp {
namespace {

thread_local bool t_loop_thread = false;

std::mutex g_pool_mu;
std::weak_ptr<IoPool> g_pool;

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(ertmp_loop_debug, "ertmploop", 0, "gst-ertmp I/O loops");
  });
}

}  // namespace

uint64_t IoLoop::now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

IoLoop::IoLoop(unsigned index) : index_(index), read_buffer_(new uint8_t[kReadBufferSize]) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    // Without these the process is out of descriptors at start-up: nothing can be served.
    g_error("gst-ertmp: cannot create an I/O loop (epoll/eventfd failed)");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up fd
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { run(); });
}

IoLoop::~IoLoop() {
  stop_ = true;
  uint64_t one = 1;
  ssize_t w = write(wake_fd_, &one, sizeof one);
  (void)w;
  if (thread_.joinable()) thread_.join();
  close(epoll_fd_);
  close(wake_fd_);
}

void IoLoop::post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(fn));
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof one);
    (void)w;
  }
}

bool IoLoop::watch(int fd, uint32_t events, IoHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) return true;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void IoLoop::unwatch(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void IoLoop::add_ticker(IoHandler* h) {
  if (h->ticking_) return;
  h->ticking_ = true;
  tickers_.push_back(h);
}

void IoLoop::remove_ticker(IoHandler* h) {
  if (!h->ticking_) return;
  h->ticking_ = false;
  // Order does not matter: swap with the last.
  auto it = std::find(tickers_.begin(), tickers_.end(), h);
  if (it != tickers_.end()) {
    *it = tickers_.back();
    tickers_.pop_back();
  }
}

void IoLoop::retire(std::unique_ptr<IoHandler> h) {
  if (!h) return;
  remove_ticker(h.get());
  h->retired_ = true;
  retired_.push_back(std::move(h));
}

void IoLoop::run_posted() {
  // Drain the eventfd before taking the list: a post() after the swap sees wake_pending_
  // false and writes it again. Drained after the swap, that write was lost with the closure
  // left in posted_ and wake_pending_ true: no later post() woke the loop (a hang under load).
  uint64_t drained;
  ssize_t r = read(wake_fd_, &drained, sizeof drained);
  (void)r;
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    work.swap(posted_);
    wake_pending_ = false;
  }
  for (auto& fn : work) fn();
}

void IoLoop::tick(uint64_t now) {
  // A ticker may retire itself or others: walk a copy and skip the retired.
  std::vector<IoHandler*> snapshot = tickers_;
  for (IoHandler* h : snapshot) {
    if (!h->retired_ && h->ticking_) h->on_tick(now);
  }
}

void IoLoop::run() {
  init_debug();
  t_loop_thread = true;
  thread_id_ = std::this_thread::get_id();
  std::string name = "ertmp-io-" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.c_str());
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  next_tick_ms_ = now_ms() + kTickMs;
  uint64_t window_start = now_ms();
  uint64_t busy_us = 0;
  while (!stop_) {
    uint64_t now = now_ms();
    int timeout = next_tick_ms_ > now ? static_cast<int>(next_tick_ms_ - now) : 0;
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
    timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool posted = false;
    for (int i = 0; i < n; ++i) {
      auto* h = static_cast<IoHandler*>(events[i].data.ptr);
      if (!h) {
        posted = true;
        continue;
      }
      if (!h->retired_) h->on_io(events[i].events);
    }
    if (posted) run_posted();
    now = now_ms();
    if (now >= next_tick_ms_) {
      tick(now);
      next_tick_ms_ = now + kTickMs;
    }
    retired_.clear();
    timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    busy_us +=
        static_cast<uint64_t>((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
    if (now - window_start >= 1000) {
      utilisation_.store(
          static_cast<double>(busy_us) / static_cast<double>((now - window_start) * 1000),
          std::memory_order_relaxed);
      window_start = now;
      busy_us = 0;
    }
  }
  // Handlers still registered belong to owners that release them through post(): run what
  // was posted last, then drop the retired ones.
  run_posted();
  retired_.clear();
}

// --- pool -----------------------------------------------------------------------------------

IoPool::IoPool(size_t n) {
  for (size_t i = 0; i < n; ++i)
    loops_.push_back(std::make_unique<IoLoop>(static_cast<unsigned>(i)));
}

IoPool::~IoPool() = default;

std::shared_ptr<IoPool> IoPool::get() {
  init_debug();
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (auto p = g_pool.lock()) return p;
  size_t n = std::clamp<size_t>(g_get_num_processors(), 1, 16);
  if (const char* env = std::getenv("GST_ERTMP_IO_THREADS")) {
    long v = std::strtol(env, nullptr, 10);
    if (v >= 1 && v <= 256) n = static_cast<size_t>(v);
  }
  std::shared_ptr<IoPool> p(new IoPool(n));
  GST_INFO("started %zu I/O loop thread(s)", n);
  g_pool = p;
  return p;
}

IoLoop* IoPool::pick() {
  IoLoop* best = loops_[0].get();
  for (auto& l : loops_) {
    if (l->load().load() < best->load().load()) best = l.get();
  }
  return best;
}

bool IoPool::on_any_loop_thread() {
  return t_loop_thread;
}

// --- bus poster -------------------------------------------------------------------------------

BusPoster& BusPoster::instance() {
  static BusPoster* poster = new BusPoster();  // never destroyed: threads may post at exit
  return *poster;
}

void BusPoster::post(GstElement* element, GstMessage* message) {
  gst_object_ref(element);
  std::lock_guard<std::mutex> lock(mu_);
  queue_.emplace_back(element, message);
  ++posted_;
  if (!running_) {
    running_ = true;
    std::thread([this] { run(); }).detach();
  }
  cv_.notify_all();
}

void BusPoster::run() {
  pthread_setname_np(pthread_self(), "ertmp-bus");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // An idle poster ends after a short while (a test or application that counts threads sees
    // none left once the elements are gone); the next post starts a new one.
    if (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return !queue_.empty(); })) {
      running_ = false;
      cv_.notify_all();
      return;
    }
    auto [element, message] = queue_.front();
    queue_.pop_front();
    lock.unlock();
    gst_element_post_message(element, message);
    gst_object_unref(element);
    lock.lock();
    ++done_;
    cv_.notify_all();
  }
}

void BusPoster::drain(gint64 timeout_us) {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = posted_;
  cv_.wait_for(lock, std::chrono::microseconds(timeout_us), [&] { return done_ >= target; });
}

}  // namespace gst_ertmp
