// Fuzz target hcl-dma-pool: PagePool under any sequence of allocations and
// frees, including frees of buffers it never gave out (double frees, parts
// of allocations, wrong host views). Traps if two live allocations
// overlap, one leaves its region, its host and device addresses disagree,
// or the free-page count drifts from what is live.
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "base/fuzz_target.h"
#include "vfio/page_pool.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kPagesA = 8, kPagesB = 5;
constexpr uint64_t kDeviceA = 0x100000, kDeviceB = 0x180000;

struct Memory {
  Memory() : data(new (std::align_val_t{kPage}) std::byte[(kPagesA + kPagesB) * kPage]) {}
  ~Memory() { ::operator delete[](data, std::align_val_t{kPage}); }
  std::byte* data;
};

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Memory memory;
  std::byte* a = memory.data;
  std::byte* b = memory.data + kPagesA * kPage;
  auto created = hcl::vfio::PagePool::Create(
      {{{a, kPagesA * kPage}, kDeviceA}, {{b, kPagesB * kPage}, kDeviceB}});
  Check(created.ok());
  hcl::vfio::PagePool& pool = **created;
  std::vector<nvme::driver::DmaBuffer> live;
  uint64_t live_pages = 0;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const uint8_t op = data[i], arg = data[i + 1];
    switch (op % 4) {
      case 0: {  // allocate 1..16 pages (or a bad size)
        const size_t bytes = (op & 0x80) ? arg : (size_t{arg} % 16 + 1) * kPage;
        auto buffer = pool.Allocate(bytes);
        if (!buffer.ok()) break;
        const auto& got = *buffer;
        Check(got.host.size() == bytes);
        const bool in_a = got.device_address >= kDeviceA &&
                          got.device_address - kDeviceA + bytes <= kPagesA * kPage &&
                          got.host.data() == a + (got.device_address - kDeviceA);
        const bool in_b = got.device_address >= kDeviceB &&
                          got.device_address - kDeviceB + bytes <= kPagesB * kPage &&
                          got.host.data() == b + (got.device_address - kDeviceB);
        Check(in_a != in_b);
        for (const auto& other : live)
          Check(got.device_address + bytes <= other.device_address ||
                other.device_address + other.host.size() <= got.device_address);
        live.push_back(got);
        live_pages += bytes / kPage;
        break;
      }
      case 1: {  // free a live allocation
        if (live.empty()) break;
        const size_t index = arg % live.size();
        pool.Free(live[index]);
        live_pages -= live[index].host.size() / kPage;
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
        break;
      }
      case 2: {  // free something derived from a live allocation, or a stale one
        if (live.empty()) break;
        nvme::driver::DmaBuffer bogus = live[arg % live.size()];
        if (arg & 0x40) bogus.device_address += kPage;
        if ((arg & 0x20) && bogus.host.size() > kPage) bogus.host = bogus.host.first(kPage);
        if (arg & 0x10) bogus.device_address ^= 0x80000;
        if (!(arg & 0x70)) {
          // An exact copy: free it, then free it again (a double free).
          const size_t index = arg % live.size();
          pool.Free(live[index]);
          live_pages -= live[index].host.size() / kPage;
          bogus = live[index];
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
        }
        const uint64_t before = pool.refused_frees();
        pool.Free(bogus);
        // A derived buffer may by chance equal another live allocation;
        // then it was a real free.
        if (pool.refused_frees() == before) {
          bool matched = false;
          for (size_t j = 0; j < live.size() && !matched; ++j)
            if (live[j].device_address == bogus.device_address &&
                live[j].host.data() == bogus.host.data() &&
                live[j].host.size() == bogus.host.size()) {
              live_pages -= live[j].host.size() / kPage;
              live.erase(live.begin() + static_cast<std::ptrdiff_t>(j));
              matched = true;
            }
          Check(matched);
        }
        break;
      }
      default:
        break;
    }
    Check(pool.free_pages() + live_pages == kPagesA + kPagesB);
  }
  for (const auto& buffer : live) pool.Free(buffer);
  Check(pool.free_pages() == kPagesA + kPagesB);
  return 0;
}
