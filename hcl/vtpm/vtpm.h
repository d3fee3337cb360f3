// Vtpm: VTL0's TPM 2.0 (issue 12 §1): the CRB interface at 0xFED40000
// (vmm-core/tpm/crb.h, layout in tpm/platform.h) in front of a TPM engine
// (libtpms in hcl: libtpms_engine.h), for the stock tpm_crb driver.
//
// VP threads deliver VTL0's register accesses (MMIO intercepts); a START
// hands the copied command to this device's own thread, which runs it on
// the engine and completes it in the CRB. The START write waits up to
// kInlineWait for it, so a quick command is done before VTL0 looks; a long
// one (an RSA key generation) never holds a VP longer: tpm_crb polls START
// meanwhile, and a CANCEL reaches the engine while the command runs. The paravisor's own
// commands (Startup, measured boot's extends) go straight to the engine
// before VTL0 runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "base/result.h"
#include "tpm/commands.h"
#include "tpm/crb.h"
#include "tpm/engine.h"

namespace hcl::vtpm {

class Vtpm {
 public:
  // `engine` and `buffer` (the CRB buffer: VTL0 RAM at
  // tpm::kCrbBufferGpa through the memory gate) outlive the device.
  // Sends TPM2_Startup(CLEAR): an engine that refuses it is an Error.
  static base::Result<std::unique_ptr<Vtpm>> Create(::tpm::TpmEngine& engine,
                                                    ::tpm::CommandBuffer& buffer);
  ~Vtpm();
  Vtpm(const Vtpm&) = delete;
  Vtpm& operator=(const Vtpm&) = delete;

  // Whether `gpa` is one of the CRB's register pages.
  static bool Decodes(uint64_t gpa);
  void MmioRead(uint64_t gpa, std::span<std::byte> data);
  void MmioWrite(uint64_t gpa, std::span<const std::byte> data);

  // A command of the paravisor's own, at locality 0, before VTL0 runs (or
  // between VTL0's commands: the engine serialises). Its response code.
  base::Result<uint32_t> Run(std::span<const std::byte> command);
  std::vector<std::byte> Execute(std::span<const std::byte> command);
  // TPM2_PCR_Extend; an Error unless the TPM accepted it.
  base::Result<void> Extend(uint32_t pcr, std::span<const ::tpm::TaggedDigest> digests);

  uint64_t commands_run() const;

 private:
  Vtpm(::tpm::TpmEngine& engine, ::tpm::CommandBuffer& buffer);
  void Worker();

  ::tpm::TpmEngine& engine_;
  ::tpm::CrbInterface crb_;
  // How long a START write waits for its command before VTL0 resumes.
  static constexpr std::chrono::microseconds kInlineWait{2000};

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the device thread: a command is pending
  std::condition_variable done_;  // a START writer: a command completed
  std::optional<::tpm::CrbCommand> pending_;  // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  uint64_t commands_run_ = 0;                 // guarded by mutex_
  std::thread worker_;
};

}  // namespace hcl::vtpm
