#include "run_deadline.h"

#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace loader {
namespace {

std::atomic<kvm::Vcpu*> g_vcpu{nullptr};
volatile sig_atomic_t g_expired = 0;
std::atomic<int64_t> g_deadline_ns{0};  // CLOCK_MONOTONIC
static_assert(std::atomic<kvm::Vcpu*>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);

int64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe (signal-safety(7))
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

extern "C" void OnDeadline(int) {
  if (MonotonicNs() >= g_deadline_ns.load(std::memory_order_relaxed)) g_expired = 1;
  if (kvm::Vcpu* vcpu = g_vcpu.load(std::memory_order_relaxed)) vcpu->RequestImmediateExit();
}

}  // namespace

base::Result<RunDeadline> RunDeadline::Arm(kvm::Vcpu& vcpu, std::chrono::milliseconds limit) {
  if (limit.count() <= 0) return base::Error("deadline must be positive");
  kvm::Vcpu* expected = nullptr;
  if (!g_vcpu.compare_exchange_strong(expected, &vcpu))
    return base::Error("a run deadline is already armed");
  RunDeadline deadline;
  deadline.armed_ = true;  // from here the destructor undoes the arming
  g_expired = 0;
  g_deadline_ns.store(MonotonicNs() + std::chrono::nanoseconds(limit).count(),
                      std::memory_order_relaxed);
  struct sigaction action {};
  action.sa_handler = OnDeadline;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: the kicks come every kTick, so a blocking write(2) of the
  // console to a full pipe must be restarted, not fail with EINTR. KVM_RUN
  // still returns: KVM answers a pending signal with -EINTR, which is never
  // restarted, and a restarted run would return at once on immediate_exit.
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGALRM, &action, nullptr) != 0)
    return base::Error::FromErrno("sigaction SIGALRM", errno);
  // The first kick at min(limit, kTick), then every kTick.
  const std::chrono::milliseconds first = limit < kTick ? limit : kTick;
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(first.count() / 1000);
  timer.it_value.tv_usec = static_cast<suseconds_t>((first.count() % 1000) * 1000);
  timer.it_interval.tv_sec = static_cast<time_t>(kTick.count() / 1000);
  timer.it_interval.tv_usec = static_cast<suseconds_t>((kTick.count() % 1000) * 1000);
  if (setitimer(ITIMER_REAL, &timer, nullptr) != 0)
    return base::Error::FromErrno("setitimer", errno);
  return deadline;
}

RunDeadline::RunDeadline(RunDeadline&& other) noexcept : armed_(other.armed_) {
  other.armed_ = false;
}

RunDeadline::~RunDeadline() {
  if (!armed_) return;
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  if (kvm::Vcpu* vcpu = g_vcpu.exchange(nullptr)) vcpu->ClearImmediateExit();
}

bool RunDeadline::expired() const { return g_expired != 0; }

}  // namespace loader
