#include "run_deadline.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace loader {
namespace {

// The vCPU the current thread runs. A thread_local of the executable
// itself lives in static TLS, so reading it in a signal handler is
// async-signal-safe (no lazy allocation).
// Atomic for the handler's sake (it interrupts this same thread).
thread_local std::atomic<kvm::Vcpu*> t_vcpu{nullptr};
// The same VP's vCPU in the other VTL's VM, if it has one: the thread runs
// whichever VTL is active, so a kick stops both.
thread_local std::atomic<kvm::Vcpu*> t_other_vtl_vcpu{nullptr};
static_assert(std::atomic<kvm::Vcpu*>::is_always_lock_free);

// Sampling state of this thread, written by its own signal handler.
thread_local std::atomic<bool> t_in_run{false};
thread_local std::atomic<uint8_t> t_sample{0};  // a VcpuTicker::Sample
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<uint8_t>::is_always_lock_free);

extern "C" void OnKick(int) {
  if (kvm::Vcpu* vcpu = t_vcpu.load(std::memory_order_relaxed)) vcpu->RequestImmediateExit();
  if (kvm::Vcpu* vcpu = t_other_vtl_vcpu.load(std::memory_order_relaxed))
    vcpu->RequestImmediateExit();
}

extern "C" void OnSample(int signal) {
  using Sample = VcpuTicker::Sample;
  // The first tick since the last sample decides where the thread was.
  uint8_t none = static_cast<uint8_t>(Sample::kNone);
  const Sample where = t_in_run.load(std::memory_order_relaxed) ? Sample::kGuest : Sample::kLoader;
  t_sample.compare_exchange_strong(none, static_cast<uint8_t>(where), std::memory_order_relaxed);
  OnKick(signal);
}

timespec ToTimespec(std::chrono::milliseconds ms) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ms.count() / 1000);
  ts.tv_nsec = static_cast<long>((ms.count() % 1000) * 1'000'000);
  return ts;
}

}  // namespace

base::Result<void> InstallKickHandler() {
  struct sigaction action {};
  action.sa_handler = OnKick;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: the kicks come every kTick, so a blocking write(2) of the
  // console to a full pipe must be restarted, not fail with EINTR. KVM_RUN
  // still returns: KVM answers a pending signal with -EINTR, which is never
  // restarted, and a restarted run would return at once on immediate_exit.
  action.sa_flags = SA_RESTART;
  if (sigaction(kKickSignal, &action, nullptr) != 0)
    return base::Error::FromErrno("sigaction SIGUSR1", errno);
  action.sa_handler = OnSample;
  if (sigaction(kSampleSignal, &action, nullptr) != 0)
    return base::Error::FromErrno("sigaction SIGUSR2", errno);
  return base::Ok();
}

void KickThread(pthread_t thread) { pthread_kill(thread, kKickSignal); }

base::Result<VcpuTicker> VcpuTicker::Start(kvm::Vcpu& vcpu, kvm::Vcpu* other_vtl,
                                           std::chrono::milliseconds tick) {
  kvm::Vcpu* expected = nullptr;
  if (!t_vcpu.compare_exchange_strong(expected, &vcpu))
    return base::Error("this thread already has a ticker");
  t_other_vtl_vcpu.store(other_vtl);
  VcpuTicker ticker;
  // timer_create(2): SIGEV_THREAD_ID sends the signal to the thread whose
  // kernel TID is given (sigev_notify_thread_id in the man page; glibc 2.36
  // names the union member only).
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = kKickSignal;
  event._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &event, &ticker.timer_) != 0) {
    const int err = errno;
    t_vcpu.store(nullptr);
    t_other_vtl_vcpu.store(nullptr);
    return base::Error::FromErrno("timer_create", err);
  }
  if (timer_create(CLOCK_MONOTONIC, &event, &ticker.one_shot_) != 0) {
    const int err = errno;
    timer_delete(ticker.timer_);
    t_vcpu.store(nullptr);
    t_other_vtl_vcpu.store(nullptr);
    return base::Error::FromErrno("timer_create", err);
  }
  ticker.armed_ = true;  // from here the destructor undoes the arming
  itimerspec period{};
  period.it_value = ToTimespec(tick);
  period.it_interval = ToTimespec(tick);
  if (timer_settime(ticker.timer_, 0, &period, nullptr) != 0)
    return base::Error::FromErrno("timer_settime", errno);
  return ticker;
}

VcpuTicker::VcpuTicker(VcpuTicker&& other) noexcept
    : timer_(other.timer_),
      one_shot_(other.one_shot_),
      sampler_(other.sampler_),
      armed_(other.armed_),
      sampling_(other.sampling_) {
  other.armed_ = false;
  other.sampling_ = false;
}

base::Result<void> VcpuTicker::StartSampling(std::chrono::microseconds period) {
  if (!armed_ || sampling_) return base::Error("sampling needs a running ticker, once");
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = kSampleSignal;
  event._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &event, &sampler_) != 0)
    return base::Error::FromErrno("timer_create", errno);
  sampling_ = true;
  const auto ns = std::max<int64_t>(std::chrono::nanoseconds(period).count(), 1000);
  itimerspec every{};
  every.it_value.tv_sec = every.it_interval.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  every.it_value.tv_nsec = every.it_interval.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (timer_settime(sampler_, 0, &every, nullptr) != 0)
    return base::Error::FromErrno("timer_settime", errno);
  return base::Ok();
}

void VcpuTicker::MarkInRun(bool in_run) { t_in_run.store(in_run, std::memory_order_relaxed); }

VcpuTicker::Sample VcpuTicker::TakeSample() {
  return static_cast<Sample>(
      t_sample.exchange(static_cast<uint8_t>(Sample::kNone), std::memory_order_relaxed));
}

base::Result<void> VcpuTicker::KickAfter(std::chrono::nanoseconds delay) const {
  const auto ns = std::max<int64_t>(delay.count(), 1);  // a zero it_value disarms
  itimerspec once{};
  once.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  once.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (timer_settime(one_shot_, 0, &once, nullptr) != 0)
    return base::Error::FromErrno("timer_settime", errno);
  return base::Ok();
}

VcpuTicker::~VcpuTicker() {
  if (sampling_) timer_delete(sampler_);
  if (!armed_) return;
  timer_delete(timer_);
  timer_delete(one_shot_);
  // A kick still queued finds no vCPU; the last one delivered may have set
  // immediate_exit: clear it for whoever runs the vCPU next.
  if (kvm::Vcpu* vcpu = t_vcpu.exchange(nullptr)) vcpu->ClearImmediateExit();
  if (kvm::Vcpu* vcpu = t_other_vtl_vcpu.exchange(nullptr)) vcpu->ClearImmediateExit();
}

}  // namespace loader
