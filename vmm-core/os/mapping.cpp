#include "os/mapping.h"

#include <sys/mman.h>

#include <cerrno>
#include <string>

namespace os {

base::Result<Mapping> Mapping::Create(size_t size_bytes, int prot, int flags, int fd,
                                      std::string_view what, int64_t offset) {
  void* address = ::mmap(nullptr, size_bytes, prot, flags, fd, static_cast<off_t>(offset));
  if (address == MAP_FAILED) return base::Error::FromErrno("mmap " + std::string(what), errno);
  return Mapping(static_cast<std::byte*>(address), size_bytes);
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
  }
  return *this;
}

void Mapping::Reset() {
  if (data_ != nullptr) ::munmap(data_, size_bytes_);
  data_ = nullptr;
  size_bytes_ = 0;
}

}  // namespace os
