// IoLoop::post from other threads while the loop runs what was posted: no closure is ever left
// waiting without a wake-up (the eventfd was once drained after the list was taken, losing the
// wake-up of a post() in between: the loop then never ran posted work again; seen as a hang
// of rtmppushsink's teardown under 20 players, tests/interop/serve_load_test).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gst/io_loop.h"

namespace gst_ertmp {
namespace {

TEST(IoLoop, PostsFromOtherThreadsAllRunWhileTheLoopIsBusyWithEarlierOnes) {
  constexpr int kThreads = 3;
  constexpr int kPosts = 100'000;
  std::atomic<int> ran{0};
  std::mutex mu;
  std::condition_variable cv;
  IoLoop loop(0);  // after what its closures use: it runs the rest as it stops
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kPosts; ++i) {
        loop.post([&] {
          if (ran.fetch_add(1) + 1 == kThreads * kPosts) {
            std::lock_guard<std::mutex> lock(mu);
            cv.notify_all();
          }
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  std::unique_lock<std::mutex> lock(mu);
  // Well under a second when every post wakes the loop; a lost wake-up never completes.
  EXPECT_TRUE(
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return ran.load() == kThreads * kPosts; }))
      << ran.load() << " of " << kThreads * kPosts << " posted closures ran";
}

}  // namespace
}  // namespace gst_ertmp
