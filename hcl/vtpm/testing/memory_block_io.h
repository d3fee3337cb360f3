// A BlockIo over host memory for tests and fuzz targets: it counts flushes
// and can be told to stop writing after N bytes (a power cut mid-write).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "base/checked.h"
#include "vtpm/guest_state.h"

namespace hcl::vtpm::testing {

class MemoryBlockIo final : public BlockIo {
 public:
  explicit MemoryBlockIo(size_t bytes) : bytes_(bytes) {}

  uint64_t size_bytes() const override { return bytes_.size(); }
  base::Result<void> Read(uint64_t offset, std::span<std::byte> out) override {
    if (!base::RangeFits<uint64_t>(offset, out.size(), bytes_.size()))
      return base::Error("read past the device");
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return base::Ok();
  }
  base::Result<void> Write(uint64_t offset, std::span<const std::byte> in) override {
    if (!base::RangeFits<uint64_t>(offset, in.size(), bytes_.size()))
      return base::Error("write past the device");
    const size_t allowed = std::min(in.size(), write_budget);
    std::copy_n(in.begin(), allowed, bytes_.begin() + static_cast<std::ptrdiff_t>(offset));
    write_budget -= allowed;
    if (allowed < in.size()) return base::Error("power lost mid-write");
    return base::Ok();
  }
  base::Result<void> Flush() override {
    ++flushes;
    return base::Ok();
  }

  std::vector<std::byte>& bytes() { return bytes_; }
  size_t write_budget = std::numeric_limits<size_t>::max();
  int flushes = 0;

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace hcl::vtpm::testing
