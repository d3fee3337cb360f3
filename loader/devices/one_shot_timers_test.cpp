#include "devices/one_shot_timers.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace loader::devices {

TEST_CASE("one-shot timers fire once per arming, each key after its delay") {
  std::mutex mutex;
  std::vector<uint32_t> fired;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration key2_after{};
  {
    OneShotTimers timers([&](uint32_t key) {
      std::lock_guard lock(mutex);
      fired.push_back(key);
      if (key == 2) key2_after = std::chrono::steady_clock::now() - start;
    });
    timers.Arm(2, std::chrono::milliseconds(30));
    timers.Arm(1, std::chrono::milliseconds(5));
    timers.Arm(1, std::chrono::milliseconds(500));  // pending: keeps its 5 ms deadline
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mutex);
        if (fired.size() == 2) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  REQUIRE(fired.size() == 2);
  CHECK(fired[0] == 1);
  CHECK(fired[1] == 2);
  CHECK(key2_after >= std::chrono::milliseconds(30));
}

TEST_CASE("one-shot timers: destroying with a timer pending does not run it") {
  std::atomic<int> runs{0};
  {
    OneShotTimers timers([&](uint32_t) { runs.fetch_add(1); });
    timers.Arm(7, std::chrono::seconds(60));
  }
  CHECK(runs.load() == 0);
}

}  // namespace loader::devices
