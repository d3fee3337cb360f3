#include "vfio/bar_registers.h"

#include <atomic>

#include "base/checked.h"

namespace hcl::vfio {
namespace {

// The register of type T at `offset`, or nullptr when it is not wholly in
// the BAR or not naturally aligned. The BAR is device memory, not objects
// of ours: its registers are reached only through atomic_ref below.
template <typename T>
T* Register(std::span<std::byte> bar, uint64_t offset) {
  if (!base::IsAligned<uint64_t>(offset, sizeof(T)) ||
      !base::RangeFits<uint64_t>(offset, sizeof(T), bar.size()))
    return nullptr;
  return reinterpret_cast<T*>(bar.data() + offset);
}

// All-ones for a register outside the BAR, as a PCI master abort reads.
template <typename T>
T Load(std::span<std::byte> bar, uint64_t offset) {
  T* const reg = Register<T>(bar, offset);
  if (reg == nullptr) return static_cast<T>(~T{0});
  return std::atomic_ref<T>(*reg).load(std::memory_order_acquire);
}

// Dropped outside the BAR.
template <typename T>
void Store(std::span<std::byte> bar, uint64_t offset, T value) {
  T* const reg = Register<T>(bar, offset);
  if (reg == nullptr) return;
  std::atomic_ref<T>(*reg).store(value, std::memory_order_release);
}

}  // namespace

uint32_t BarRegisters::Read32(uint64_t offset) { return Load<uint32_t>(bar_, offset); }

uint64_t BarRegisters::Read64(uint64_t offset) {
  // Two 32-bit reads, low then high (Linux lo_hi_readq, nvme-vfio.md §1.1).
  if (offset > UINT64_MAX - 4) return ~uint64_t{0};
  const uint64_t low = Read32(offset);
  const uint64_t high = Read32(offset + 4);
  return high << 32 | low;
}

void BarRegisters::Write32(uint64_t offset, uint32_t value) { Store<uint32_t>(bar_, offset, value); }

uint32_t ManaBar::Read32(uint64_t offset) { return Load<uint32_t>(bar_, offset); }
uint64_t ManaBar::Read64(uint64_t offset) { return Load<uint64_t>(bar_, offset); }
void ManaBar::Write32(uint64_t offset, uint32_t value) { Store<uint32_t>(bar_, offset, value); }
void ManaBar::Write64(uint64_t offset, uint64_t value) { Store<uint64_t>(bar_, offset, value); }

}  // namespace hcl::vfio
