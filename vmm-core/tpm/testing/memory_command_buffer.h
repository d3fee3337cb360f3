// A CommandBuffer in host memory for tests and fuzz targets, which can be
// told to fail (a buffer the memory gate refuses).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "base/checked.h"
#include "tpm/crb.h"

namespace tpm::testing {

class MemoryCommandBuffer final : public CommandBuffer {
 public:
  explicit MemoryCommandBuffer(size_t bytes) : bytes_(bytes) {}

  base::Result<void> Read(uint32_t offset, std::span<std::byte> out) override {
    if (fail || !base::RangeFits<size_t>(offset, out.size(), bytes_.size()))
      return base::Error("buffer unreadable");
    std::copy_n(bytes_.begin() + offset, out.size(), out.begin());
    ++reads;
    return base::Ok();
  }
  base::Result<void> Write(uint32_t offset, std::span<const std::byte> in) override {
    if (fail || !base::RangeFits<size_t>(offset, in.size(), bytes_.size()))
      return base::Error("buffer unwritable");
    std::copy(in.begin(), in.end(), bytes_.begin() + offset);
    return base::Ok();
  }

  std::span<std::byte> bytes() { return bytes_; }
  bool fail = false;
  int reads = 0;

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace tpm::testing
