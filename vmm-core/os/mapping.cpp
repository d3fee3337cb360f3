#include "os/mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace os {

base::Result<Mapping> Mapping::Create(size_t size_bytes, int prot, int flags, int fd,
                                      std::string_view what, int64_t offset) {
  void* address = ::mmap(nullptr, size_bytes, prot, flags, fd, static_cast<off_t>(offset));
  if (address == MAP_FAILED) return base::Error::FromErrno("mmap " + std::string(what), errno);
  return Mapping(static_cast<std::byte*>(address), size_bytes);
}

base::Result<void> Mapping::ReplacePages(size_t offset, size_t size_bytes, int prot, int fd,
                                         int64_t file_offset) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto page_bytes = static_cast<size_t>(page > 0 ? page : 4096);
  if (offset % page_bytes != 0 || size_bytes % page_bytes != 0 || size_bytes == 0 ||
      file_offset < 0 || static_cast<size_t>(file_offset) % page_bytes != 0)
    return base::Error("replacing mapped pages: unaligned range");
  if (offset > size_bytes_ || size_bytes > size_bytes_ - offset)
    return base::Error("replacing mapped pages: range outside the mapping");
  void* address = ::mmap(data_ + offset, size_bytes, prot, MAP_SHARED | MAP_FIXED, fd,
                         static_cast<off_t>(file_offset));
  if (address == MAP_FAILED) return base::Error::FromErrno("mmap MAP_FIXED", errno);
  return base::Ok();
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
