// The host side of the vTPM's guest state (hcl-loader --guest-state):
// the file, which VTL2 sees as an NVMe controller of its own (model
// tpm::kGuestStateModel, so hcl keeps it for the vTPM and never offers it
// to VTL0), and the platform secret file (--platform-secret).
//
// The file is created, all zeros (hcl then starts a new state), only when
// none exists; one shorter than kGuestStateBytes is refused here with one
// line (a truncated file: hcl would refuse it too). Its contents are
// hcl's format (hcl/vtpm/guest_state.h), opaque to the host.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "vsm/platform_key.h"

namespace loader::devices {

inline constexpr uint64_t kGuestStateBytes = 1 << 20;

// Creates `path` when missing; true if it did.
base::Result<bool> PrepareGuestStateFile(const std::string& path);

// ~/.config/hcl/platform-secret ($XDG_CONFIG_HOME/hcl/... when set).
std::string DefaultPlatformSecretPath();
// The 32-byte secret in `path`; with `create`, a missing file is made
// (random bytes from getrandom, mode 0600, its directory 0700).
base::Result<vsm::PlatformSecret> LoadPlatformSecret(const std::string& path, bool create);

}  // namespace loader::devices
