#include "vp_group.h"

#include "run_deadline.h"

namespace loader {

VpGroup::VpGroup(uint32_t vp_count)
    : vp_count_(vp_count),
      parked_flags_(std::make_unique<std::atomic<bool>[]>(vp_count)),
      in_vtl0_(std::make_unique<std::atomic<bool>[]>(vp_count)),
      vtl2_interrupt_(std::make_unique<std::atomic<bool>[]>(vp_count)),
      threads_(vp_count),
      thread_set_(vp_count, false) {}

void VpGroup::Kick(uint32_t vp) {
  std::lock_guard lock(mutex_);
  if (vp < thread_set_.size() && thread_set_[vp]) KickThread(threads_[vp]);
}

void VpGroup::RaisedVtl2Interrupt(uint32_t vp) {
  if (vp >= vp_count_) return;
  std::lock_guard lock(mutex_);
  const bool own = thread_set_[vp] && pthread_equal(threads_[vp], pthread_self());
  // The VP's own thread while it runs VTL2: it is handling one of VTL2's
  // exits (a doorbell whose read completed at once), and VTL2's next run
  // takes the interrupt from KVM's APIC. Remembering it would send the VP
  // back into VTL2 for nothing after its next VTL return.
  if (own && !in_vtl0_[vp].load()) return;
  vtl2_interrupt_[vp].store(true);
  if (!in_vtl0_[vp].load()) return;  // in VTL2 (or will check the flag first)
  if (!own) KickThread(threads_[vp]);
}

void VpGroup::SetThread(uint32_t vp, pthread_t thread) {
  const std::lock_guard lock(mutex_);
  threads_.at(vp) = thread;
  thread_set_.at(vp) = true;
}

void VpGroup::RequestStop(MachineStop stop) {
  const std::lock_guard lock(mutex_);
  RequestStopLocked(std::move(stop));
}

void VpGroup::RequestStopLocked(MachineStop stop) {
  if (!stop_) stop_ = std::move(stop);
  stop_requested_.store(true, std::memory_order_release);
  pause_ended_.notify_all();
  const pthread_t self = pthread_self();
  for (uint32_t vp = 0; vp < vp_count_; ++vp)
    if (thread_set_[vp] && !pthread_equal(threads_[vp], self)) KickThread(threads_[vp]);
}

std::optional<MachineStop> VpGroup::stop() const {
  const std::lock_guard lock(mutex_);
  return stop_;
}

void VpGroup::NoteParked(uint32_t vp) {
  Flag(vp).store(true, std::memory_order_relaxed);
  for (uint32_t other = 0; other < vp_count_; ++other)
    if (!Flag(other).load(std::memory_order_relaxed)) return;
  pause_requested_.store(true, std::memory_order_release);
}

void VpGroup::WaitInPause(bool parked) {
  std::unique_lock lock(mutex_);
  if (stop_ || !pause_requested_.load(std::memory_order_relaxed)) return;
  pause_all_parked_ = pause_all_parked_ && parked;
  if (++pause_arrived_ == vp_count_) {
    // Every VP thread is here, out of KVM_RUN: the states seen are one
    // instant's.
    if (pause_all_parked_) RequestStopLocked(MachineStop{StopReason::kHalted, 0, ""});
    pause_arrived_ = 0;
    pause_all_parked_ = true;
    ++pause_generation_;
    pause_requested_.store(false, std::memory_order_release);
    pause_ended_.notify_all();
    return;
  }
  const uint64_t generation = pause_generation_;
  pause_ended_.wait(lock, [&] { return stop_.has_value() || pause_generation_ != generation; });
}

}  // namespace loader
