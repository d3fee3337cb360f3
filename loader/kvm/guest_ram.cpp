#include "guest_ram.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "base/checked.h"

namespace kvm {

base::Result<GuestRam> GuestRam::Create(uint64_t size_bytes) {
  if (size_bytes == 0 || !base::IsAligned<uint64_t>(size_bytes, 4096))
    return base::Error::Format("guest RAM size 0x%llx is not a non-zero multiple of 4 KiB",
                               static_cast<unsigned long long>(size_bytes));
  os::UniqueFd fd(::memfd_create("hcl-guest-ram", MFD_CLOEXEC));
  if (!fd.valid()) return base::Error::FromErrno("memfd_create", errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0)
    return base::Error::FromErrno("ftruncate guest RAM", errno);
  auto mapping = TRY(os::Mapping::Create(static_cast<size_t>(size_bytes), PROT_READ | PROT_WRITE,
                                     MAP_SHARED, fd.get(), "guest RAM"));
  return GuestRam(std::move(fd), std::move(mapping));
}

base::Result<GuestRam> GuestRam::Alias() const {
  os::UniqueFd fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd.valid()) return base::Error::FromErrno("dup guest RAM fd", errno);
  auto mapping = TRY(os::Mapping::Create(mapping_.size_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED,
                                         fd.get(), "guest RAM view"));
  return GuestRam(std::move(fd), std::move(mapping));
}

}  // namespace kvm
