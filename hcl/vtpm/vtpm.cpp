#include "vtpm/vtpm.h"

#include "tpm/platform.h"

namespace hcl::vtpm {

Vtpm::Vtpm(::tpm::TpmEngine& engine, ::tpm::CommandBuffer& buffer)
    : engine_(engine), crb_(buffer, ::tpm::kCrbBufferGpa, ::tpm::kCrbBufferBytes) {}

base::Result<std::unique_ptr<Vtpm>> Vtpm::Create(::tpm::TpmEngine& engine,
                                                 ::tpm::CommandBuffer& buffer) {
  std::unique_ptr<Vtpm> tpm(new Vtpm(engine, buffer));
  const uint32_t rc = TRY(tpm->Run(::tpm::StartupCommand(::tpm::kSuClear)));
  if (rc != ::tpm::kRcSuccess)
    return base::Error::Format("vtpm: TPM2_Startup(CLEAR) answered 0x%x", rc);
  tpm->worker_ = std::thread([raw = tpm.get()] { raw->Worker(); });
  return tpm;
}

Vtpm::~Vtpm() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  engine_.Cancel();
  if (worker_.joinable()) worker_.join();
}

bool Vtpm::Decodes(uint64_t gpa) {
  return gpa >= ::tpm::kCrbBase && gpa - ::tpm::kCrbBase < ::tpm::kCrbRegisterBytes;
}

void Vtpm::MmioRead(uint64_t gpa, std::span<std::byte> data) {
  crb_.Read(gpa - ::tpm::kCrbBase, data);
}

void Vtpm::MmioWrite(uint64_t gpa, std::span<const std::byte> data) {
  ::tpm::CrbWriteEffect effect = crb_.Write(gpa - ::tpm::kCrbBase, data);
  if (effect.cancel) engine_.Cancel();
  if (effect.start) {
    std::unique_lock lock(mutex_);
    // The CRB starts one command at a time, so none is pending here.
    pending_ = std::move(effect.start);
    const uint64_t target = commands_run_ + 1;
    wake_.notify_all();
    // Most commands take microseconds: give the device thread that long
    // before VTL0 resumes, so tpm_crb's first look at START finds the
    // command done and it does not sleep a poll interval (1 ms,
    // tpm_try_transmit). A slow command (key generation) keeps running
    // after the wait and VTL0 polls as the CRB allows.
    done_.wait_for(lock, kInlineWait, [&] { return commands_run_ >= target || stopping_; });
  }
}

void Vtpm::Worker() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || pending_.has_value(); });
    if (stopping_) return;
    ::tpm::CrbCommand command = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    const std::vector<std::byte> response = engine_.Execute(command.locality, command.bytes);
    crb_.Complete(response);
    lock.lock();
    ++commands_run_;
    done_.notify_all();
  }
}

std::vector<std::byte> Vtpm::Execute(std::span<const std::byte> command) {
  return engine_.Execute(0, command);
}

base::Result<uint32_t> Vtpm::Run(std::span<const std::byte> command) {
  return ::tpm::ResponseCode(Execute(command));
}

base::Result<void> Vtpm::Extend(uint32_t pcr, std::span<const ::tpm::TaggedDigest> digests) {
  const uint32_t rc = TRY(Run(::tpm::PcrExtendCommand(pcr, digests)));
  if (rc != ::tpm::kRcSuccess)
    return base::Error::Format("vtpm: TPM2_PCR_Extend(%u) answered 0x%x", pcr, rc);
  return base::Ok();
}

uint64_t Vtpm::commands_run() const {
  std::lock_guard lock(mutex_);
  return commands_run_;
}

}  // namespace hcl::vtpm
