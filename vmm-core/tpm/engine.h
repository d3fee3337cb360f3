// TpmEngine: what executes TPM 2.0 commands behind a TPM interface (the CRB,
// crb.h). hcl's is libtpms (hcl/tpm/libtpms_engine.h). Commands and
// responses are whole TPM 2.0 byte streams (TPM 2.0 Part 1 §18); an engine
// reports TPM errors inside its response, never as a failed call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tpm {

class TpmEngine {
 public:
  virtual ~TpmEngine() = default;
  // Runs `command` as sent from `locality` (0-4); serialised by the engine.
  virtual std::vector<std::byte> Execute(uint8_t locality, std::span<const std::byte> command) = 0;
  // Asks the command that runs now (from another thread) to end early
  // with TPM_RC_CANCELED; a no-op when none runs.
  virtual void Cancel() = 0;
};

}  // namespace tpm
