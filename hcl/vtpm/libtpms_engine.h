// LibtpmsEngine: the vTPM's TPM 2.0, libtpms 0.9 (tpm-attestation.md §4).
// libtpms keeps its TPM in globals with no locking, so there is at most one
// engine per process (Create refuses a second) and every call into libtpms
// happens under one mutex; only TPMLIB_CancelCommand is made from outside
// it (it sets a flag the running command polls, as swtpm uses it).
//
// Sequence (§4.1): callbacks, TPM 2.0 chosen (libtpms defaults to 1.2), the
// buffer size set to the CRB buffer's (GetCapability then advertises what
// fits it), then TPMLIB_MainInit, which loads "permall" from the store or,
// when there is none, manufactures a TPM with fresh seeds. The
// StateStore's errors become TPM_FAIL: libtpms then refuses to start, which
// Create reports, rather than silently manufacturing a new TPM.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.h"
#include "tpm/engine.h"
#include "vtpm/state_store.h"

namespace hcl::vtpm {

class LibtpmsEngine final : public ::tpm::TpmEngine {
 public:
  // `store` outlives the engine. `buffer_bytes`: the TPM interface's
  // command/response buffer (libtpms clamps it to [2808, 4096]).
  static base::Result<std::unique_ptr<LibtpmsEngine>> Create(StateStore& store,
                                                             uint32_t buffer_bytes);
  ~LibtpmsEngine() override;
  LibtpmsEngine(const LibtpmsEngine&) = delete;
  LibtpmsEngine& operator=(const LibtpmsEngine&) = delete;

  std::vector<std::byte> Execute(uint8_t locality, std::span<const std::byte> command) override;
  void Cancel() override;

  // libtpms's callbacks, for the C shims in the .cpp.
  StateStore& store() { return store_; }
  uint8_t locality() const { return locality_; }

 private:
  explicit LibtpmsEngine(StateStore& store) : store_(store) {}

  StateStore& store_;
  std::mutex mutex_;
  uint8_t locality_ = 0;  // guarded by mutex_: the running command's
  unsigned char* response_ = nullptr;  // libtpms's buffer (malloc'd), guarded by mutex_
  uint32_t response_capacity_ = 0;
  bool running_ = false;  // MainInit succeeded: this engine owns libtpms
};

}  // namespace hcl::vtpm
