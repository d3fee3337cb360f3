// The platform key hcl-loader emulates for VTL2 (issue 12 §2): what a
// paravisor derives its sealing keys from. On SEV-SNP that is the
// firmware's derived key (MSG_KEY_REQ through the guest message
// interface, mixing a hardware secret with the launch measurement); here
// the host secret (--platform-secret) stands in for the hardware's, and
// the image's launch measurement (its VBS digest, igvm/measure.h, the
// platform this loader boots) is mixed in the same way, so a different
// image derives different keys:
//   root = HMAC-SHA256(host secret, "hcl platform key v1" || measurement)
//   key(context) = HMAC-SHA256(root, context)   (context: 32 bytes, VTL2's)
// VTL2 asks with the loader-private hypercall HvCallHclGetPlatformKey
// (hv/hypercall_abi.h); VTL0 cannot (the call is VTL2's only).
// This is an emulation: the host holds the secret, so it could derive the
// keys itself. It keeps a different image, or another host secret, from
// opening state sealed by this one.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace loader::vsm {

using PlatformSecret = std::array<uint8_t, 32>;

class PlatformKey {
 public:
  PlatformKey(const PlatformSecret& host_secret, std::span<const uint8_t> launch_measurement);
  std::array<uint8_t, 32> Derive(std::span<const uint8_t, 32> context) const;

 private:
  std::array<uint8_t, 32> root_{};
};

}  // namespace loader::vsm
