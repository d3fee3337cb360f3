// Page-aligned host memory standing in for mapped DMA pool chunks, for
// tests of PagePool and what allocates from it.
#pragma once

#include <cstddef>
#include <new>
#include <span>

namespace hcl::vfio::testing {

struct AlignedPages {
  static constexpr size_t kPage = 4096;
  explicit AlignedPages(size_t pages)
      : data(new (std::align_val_t{kPage}) std::byte[pages * kPage]()), bytes(pages * kPage) {}
  ~AlignedPages() { ::operator delete[](data, std::align_val_t{kPage}); }
  AlignedPages(const AlignedPages&) = delete;
  AlignedPages& operator=(const AlignedPages&) = delete;
  std::span<std::byte> span() const { return {data, bytes}; }
  std::byte* data;
  size_t bytes;
};

}  // namespace hcl::vfio::testing
