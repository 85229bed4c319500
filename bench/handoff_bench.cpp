// What one thread hand-off costs on this machine: the floor under any design that gives each
// src pad its own streaming task (issue 11). A producer hands items one at a time, 50 us apart
// (as messages arrive from publishers: spaced out, so the consumer sleeps between them), to a
// consumer waiting on a condition variable; every item is one wake-up and two context
// switches. The same loop without a consumer is the baseline; the difference is the CPU a
// hand-off adds per item. Also printed: the CPU one bare sleep-and-wake costs (the baseline
// per item), which every event-driven server (ours, SRS, nginx) pays per wake-up.
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main() {
  constexpr int kItems = 20000;
  constexpr useconds_t kGapUs = 50;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<int> queue;
  bool stop = false;
  long taken = 0;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return !queue.empty() || stop; });
      if (queue.empty()) return;
      queue.pop_front();
      ++taken;
    }
  });
  const double c0 = cpu_seconds();
  for (int i = 0; i < kItems; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(i);
    }
    cv.notify_one();
    usleep(kGapUs);
  }
  const double c1 = cpu_seconds();
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_one();
  consumer.join();
  const double b0 = cpu_seconds();
  for (int i = 0; i < kItems; ++i) usleep(kGapUs);
  const double b1 = cpu_seconds();
  const double with = (c1 - c0) / kItems * 1e6, base = (b1 - b0) / kItems * 1e6;
  std::printf(
      "items %d (taken %ld): with a hand-off %.2f us CPU per item; sleep-and-wake alone "
      "%.2f us; hand-off %.2f us\n",
      kItems, taken, with, base, with - base);
  return taken == kItems ? 0 : 1;
}
