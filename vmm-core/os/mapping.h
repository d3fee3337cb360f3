// Mapping: owns one mmap(2) region and unmaps it exactly once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace os {

class Mapping {
 public:
  // mmap(NULL, size_bytes, prot, flags, fd, offset); `what` names it in
  // errors.
  static base::Result<Mapping> Create(size_t size_bytes, int prot, int flags, int fd,
                                      std::string_view what, int64_t offset = 0);

  Mapping(Mapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_bytes_(std::exchange(other.size_bytes_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { Reset(); }

  std::span<std::byte> bytes() const { return {data_, size_bytes_}; }

  // Replaces the pages [offset, offset + size_bytes) of this mapping with
  // `fd`'s pages from `file_offset` (mmap(2) with MAP_SHARED | MAP_FIXED,
  // one call: no thread ever sees the range unmapped). Offsets and size
  // must be page-aligned and lie inside the mapping. A KVM memory slot
  // over the range follows the change through its MMU notifier.
  base::Result<void> ReplacePages(size_t offset, size_t size_bytes, int prot, int fd,
                                  int64_t file_offset);
  size_t size_bytes() const { return size_bytes_; }

 private:
  Mapping(std::byte* data, size_t size_bytes) : data_(data), size_bytes_(size_bytes) {}
  void Reset();

  std::byte* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace os
