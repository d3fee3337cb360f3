// Fuzz target 'pci': what a guest can do to PCI bus 0: configuration
// mechanism #1 (ports 0xCF8-0xCFF) and the memory its BARs decode, with a
// function holding a 64-bit BAR0 of 16 KiB (MSI-X table of 8 vectors at
// 0x2000, PBA at 0x3000), a 32-bit BAR2 of 4 KiB, and its device side
// raising vectors. Both BARs start placed and decoding, as firmware leaves
// them.
// Input: records {op u8, a u8, b u32 LE, c u64 LE} (zeroes past the end):
//   op % 6 == 0 / 1: port write / read at offset a % 8, size 1, 2 or 4
//                    (a / 8 % 3), value b;
//   op % 6 == 2 / 3: memory write / read of size 1, 2, 4 or 8 (a / 8 % 4)
//                    at BAR (a & 1 ? 2 : 0)'s base + c % 0x5000 while it
//                    decodes, else at c; value c;
//   op % 6 == 4:     the function raises vector a % 10 (8, 9: out of range);
//   op % 6 == 5:     a dword config write in one go: address b (enable bit
//                    forced on) to 0xCF8, then c's low half to 0xCFC.
// Invariants: no crash or sanitizer report; identity registers never
// change; a decoding BAR is aligned to its size; an MSI goes out only
// while MSI-X is enabled and the function unmasked.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "pci/bus.h"
#include "pci/msix.h"

namespace {

constexpr uint64_t kBar0Base = 0xE000'0000;
constexpr uint64_t kBar2Base = 0xE001'0000;
constexpr uint64_t kTableOffset = 0x2000;
constexpr uint64_t kPbaOffset = 0x3000;
constexpr uint16_t kVectors = 8;
constexpr uint16_t kVendor = 0x1414;
constexpr uint16_t kDevice = 0xB111;

class FuzzFunction final : public pci::Function, public pci::MsiSink {
 public:
  static std::optional<FuzzFunction> Create() {
    std::array<pci::MemoryBar, pci::kBarCount> bars{};
    bars[0] = {.size_bytes = 0x4000, .is_64bit = true};
    bars[2] = {.size_bytes = 0x1000, .is_64bit = false};
    auto config = pci::ConfigSpace::Create(
        {.vendor_id = kVendor, .device_id = kDevice, .class_code = 0x010802}, bars,
        pci::MsixLayout{.vector_count = kVectors,
                        .table_bar = 0,
                        .table_offset = kTableOffset,
                        .pba_bar = 0,
                        .pba_offset = kPbaOffset});
    if (!config.ok()) return std::nullopt;
    return std::optional<FuzzFunction>(std::in_place, std::move(config).value());
  }
  explicit FuzzFunction(pci::ConfigSpace config) : config_(std::move(config)), msix_(kVectors, *this) {}

  const char* name() const override { return "fuzz"; }
  pci::ConfigSpace& config() override { return config_; }
  void ConfigWritten() override {
    msix_.SetControl(config_.msix_enabled(), config_.msix_function_masked());
  }
  devices::IoResult BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) override {
    if (bar == 0 && offset >= kTableOffset && offset < kTableOffset + msix_.table_bytes())
      return msix_.ReadTable(offset - kTableOffset, data);
    if (bar == 0 && offset >= kPbaOffset && offset < kPbaOffset + msix_.pba_bytes())
      return msix_.ReadPba(offset - kPbaOffset, data);
    for (std::byte& b : data) b = std::byte{0};
    return devices::IoResult::kOk;
  }
  devices::IoResult BarWrite(unsigned bar, uint64_t offset,
                             std::span<const std::byte> data) override {
    if (bar == 0 && offset >= kTableOffset && offset < kTableOffset + msix_.table_bytes())
      return msix_.WriteTable(offset - kTableOffset, data);
    return devices::IoResult::kOk;
  }
  void Deliver(const pci::MsiMessage&) override {
    // Runs under the table's lock, after config space changed.
    if (!config_.msix_enabled() || config_.msix_function_masked()) __builtin_trap();
  }
  void Raise(uint16_t vector) { msix_.Signal(vector); }

 private:
  pci::ConfigSpace config_;
  pci::MsixTable msix_;
};

class Input {
 public:
  explicit Input(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool done() const { return at_ >= bytes_.size(); }
  uint64_t Take(size_t width) {
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i, ++at_)
      if (at_ < bytes_.size()) value |= uint64_t{bytes_[at_]} << (8 * i);
    return value;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t at_ = 0;
};

void CheckInvariants(FuzzFunction& function) {
  pci::ConfigSpace& config = function.config();
  std::array<std::byte, 4> id{};
  config.Read(pci::kVendorIdOffset, id);
  uint32_t value = 0;
  (void)base::LoadLe<uint32_t>(id, 0, value);
  if (value != (uint32_t{kDevice} << 16 | kVendor)) __builtin_trap();
  for (unsigned bar = 0; bar < pci::kBarCount; ++bar) {
    const auto address = config.BarAddress(bar);
    if (address && (config.bar_size(bar) == 0 || *address % config.bar_size(bar) != 0))
      __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bus = pci::Bus::Create();
  auto function = FuzzFunction::Create();
  if (!bus.ok() || !function) __builtin_trap();
  if (!function->config().AssignBar(0, kBar0Base).ok() ||
      !function->config().AssignBar(2, kBar2Base).ok())
    __builtin_trap();
  function->config().SetCommand(pci::kCommandMemorySpace | pci::kCommandBusMaster);
  if (!(*bus)->Attach(1, *function).ok()) __builtin_trap();

  Input input(std::span(data, size));
  constexpr size_t kPortSizes[] = {1, 2, 4};
  constexpr size_t kMemorySizes[] = {1, 2, 4, 8};
  for (int steps = 0; !input.done() && steps < 4096; ++steps) {
    const auto op = static_cast<uint8_t>(input.Take(1));
    const auto a = static_cast<uint8_t>(input.Take(1));
    const auto b = static_cast<uint32_t>(input.Take(4));
    const uint64_t c = input.Take(8);
    std::array<std::byte, 8> bytes{};
    (void)base::StoreLe<uint64_t>(bytes, 0, op % 6 == 0 ? b : c);
    switch (op % 6) {
      case 0:
      case 1: {
        const auto port = std::span(bytes).first(kPortSizes[a / 8 % 3]);
        const auto offset = static_cast<uint16_t>(a % 8);
        if (op % 6 == 0) {
          (void)(*bus)->Write(offset, port);
        } else {
          (void)(*bus)->Read(offset, port);
        }
        break;
      }
      case 2:
      case 3: {
        const auto access = std::span(bytes).first(kMemorySizes[a / 8 % 4]);
        const auto base = function->config().BarAddress((a & 1) != 0 ? 2 : 0);
        const uint64_t gpa = base ? *base + c % 0x5000 : c;
        if (op % 6 == 2) {
          (void)(*bus)->MmioWrite(gpa, access);
        } else {
          (void)(*bus)->MmioRead(gpa, access);
        }
        break;
      }
      case 4:
        function->Raise(static_cast<uint16_t>(a % 10));
        break;
      case 5: {
        std::array<std::byte, 4> address{};
        (void)base::StoreLe<uint32_t>(address, 0, b | 0x8000'0000u);
        (void)(*bus)->Write(0, address);
        (void)(*bus)->Write(4, std::span(bytes).first(4));
        break;
      }
    }
    CheckInvariants(*function);
  }
  return 0;
}
