#include "system.h"

#include <fcntl.h>

#include <cerrno>

#include "os/ioctl.h"
#include "kvm_abi.h"

namespace kvm {

base::Result<KvmSystem> KvmSystem::Open(const std::string& path) {
  os::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return base::Error::FromErrno("open " + path, errno);
  const int version = TRY(os::Ioctl(fd, KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION"));
  if (version != KVM_API_VERSION)
    return base::Error::Format("KVM API version %d, need %d", version, KVM_API_VERSION);
  return KvmSystem(std::move(fd));
}

base::Result<int> KvmSystem::CheckExtension(long capability) const {
  return os::Ioctl(fd_, KVM_CHECK_EXTENSION, capability, "KVM_CHECK_EXTENSION");
}

base::Result<void> KvmSystem::Require(std::initializer_list<Capability> capabilities) const {
  std::string missing;
  for (const Capability& capability : capabilities) {
    if (TRY(CheckExtension(capability.id)) > 0) continue;
    if (!missing.empty()) missing += ", ";
    missing += capability.name;
  }
  if (!missing.empty()) return base::Error("this KVM lacks " + missing);
  return base::Ok();
}

base::Result<size_t> KvmSystem::VcpuMmapSize() const {
  const int size = TRY(os::Ioctl(fd_, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE"));
  if (size < static_cast<int>(sizeof(kvm_run)))
    return base::Error::Format("KVM_GET_VCPU_MMAP_SIZE returned %d, smaller than kvm_run", size);
  return static_cast<size_t>(size);
}

base::Result<std::vector<kvm_cpuid_entry2>> KvmSystem::SupportedCpuid() const {
  abi::CpuidBuffer buffer{};
  buffer.header.nent = abi::kMaxCpuidEntries;
  TRY(os::Ioctl(fd_, abi::kGetSupportedCpuid, &buffer, "KVM_GET_SUPPORTED_CPUID"));
  if (buffer.header.nent > abi::kMaxCpuidEntries)
    return base::Error::Format("KVM_GET_SUPPORTED_CPUID returned %u entries", buffer.header.nent);
  return std::vector<kvm_cpuid_entry2>(buffer.entries.begin(),
                                       buffer.entries.begin() + static_cast<std::ptrdiff_t>(buffer.header.nent));
}

}  // namespace kvm
