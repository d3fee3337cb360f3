#include "run_deadline.h"

#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>

namespace loader {
namespace {

std::atomic<kvm::Vcpu*> g_vcpu{nullptr};
volatile sig_atomic_t g_expired = 0;
static_assert(std::atomic<kvm::Vcpu*>::is_always_lock_free);

extern "C" void OnDeadline(int) {
  g_expired = 1;
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
  struct sigaction action {};
  action.sa_handler = OnDeadline;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must see EINTR
  if (sigaction(SIGALRM, &action, nullptr) != 0)
    return base::Error::FromErrno("sigaction SIGALRM", errno);
  itimerval timer{};
  timer.it_value.tv_sec = static_cast<time_t>(limit.count() / 1000);
  timer.it_value.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
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
