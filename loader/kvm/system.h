// KvmSystem: the /dev/kvm handle: API version, capabilities, the sizes and
// CPUID leaves that are properties of the host rather than of one VM
// (Linux Documentation/virt/kvm/api.rst §4.1-4.5, "system ioctls").
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"
#include "os/unique_fd.h"

namespace kvm {

// A capability the loader cannot do without, with its name for messages.
struct Capability {
  long id;
  const char* name;
};

class KvmSystem {
 public:
  // Opens the device and checks KVM_GET_API_VERSION == 12 (api.rst 4.1:
  // "applications should refuse to run if KVM_GET_API_VERSION returns a
  // value other than 12").
  static base::Result<KvmSystem> Open(const std::string& path = "/dev/kvm");

  // KVM_CHECK_EXTENSION: 0 = absent, >0 present (some return a count).
  base::Result<int> CheckExtension(long capability) const;
  // Error naming every missing capability.
  base::Result<void> Require(std::initializer_list<Capability> capabilities) const;

  // KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's kvm_run mapping.
  base::Result<size_t> VcpuMmapSize() const;
  // KVM_GET_SUPPORTED_CPUID: the leaves this host can give a guest.
  base::Result<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;

  const os::UniqueFd& fd() const { return fd_; }

 private:
  explicit KvmSystem(os::UniqueFd fd) : fd_(std::move(fd)) {}
  os::UniqueFd fd_;
};

}  // namespace kvm
