#include "pci/bus.h"

#include <doctest/doctest.h>

#include <vector>

#include "base/le_bytes.h"

namespace pci {
namespace {

// A function with one 4 KiB BAR0 that records its accesses.
class ProbeFunction final : public Function {
 public:
  ProbeFunction() {
    std::array<MemoryBar, kBarCount> bars{};
    bars[0] = {.size_bytes = 0x1000};
    config_ = ConfigSpace::Create({.vendor_id = 0x1AF4, .device_id = 0x1000,
                                   .class_code = 0x010802},
                                  bars, std::nullopt)
                  .value();
  }
  const char* name() const override { return "probe"; }
  ConfigSpace& config() override { return *config_; }
  void ConfigWritten() override { ++config_writes; }
  devices::IoResult BarRead(unsigned bar, uint64_t offset, std::span<std::byte> data) override {
    reads.push_back({bar, offset});
    std::fill(data.begin(), data.end(), std::byte{0x5A});
    return devices::IoResult::kOk;
  }
  devices::IoResult BarWrite(unsigned bar, uint64_t offset, std::span<const std::byte>) override {
    writes.push_back({bar, offset});
    return devices::IoResult::kOk;
  }

  struct Access {
    unsigned bar;
    uint64_t offset;
  };
  std::vector<Access> reads, writes;
  int config_writes = 0;

 private:
  std::optional<ConfigSpace> config_;
};

uint32_t In32(Bus& bus, uint16_t port) {
  std::array<std::byte, 4> bytes{};
  REQUIRE(bus.Read(static_cast<uint16_t>(port - kConfigAddressPort), bytes) == devices::IoResult::kOk);
  uint32_t value = 0;
  (void)base::LoadLe<uint32_t>(bytes, 0, value);
  return value;
}

void Out32(Bus& bus, uint16_t port, uint32_t value) {
  std::array<std::byte, 4> bytes{};
  (void)base::StoreLe<uint32_t>(bytes, 0, value);
  REQUIRE(bus.Write(static_cast<uint16_t>(port - kConfigAddressPort), bytes) == devices::IoResult::kOk);
}

uint32_t ConfigRead32(Bus& bus, unsigned device, uint16_t reg) {
  Out32(bus, 0xCF8, 0x80000000u | device << 11 | reg);
  return In32(bus, 0xCFC);
}

TEST_CASE("pci bus: Linux's type-1 probe finds the mechanism and a host bridge") {
  auto bus = Bus::Create().value();
  // arch/x86/pci/direct.c pci_check_type1: outb(0x01, 0xCFB); save 0xCF8;
  // outl(0x80000000, 0xCF8); inl(0xCF8) must read it back.
  const std::array<std::byte, 1> one{std::byte{1}};
  CHECK(bus->Write(3, one) == devices::IoResult::kOk);
  Out32(*bus, 0xCF8, 0x80000000);
  CHECK(In32(*bus, 0xCF8) == 0x80000000);
  // pci_sanity_check: bus 0 has a host bridge (class 0x0600).
  CHECK((ConfigRead32(*bus, 0, 0x08) >> 16) == 0x0600);
  CHECK((ConfigRead32(*bus, 0, 0x00) & 0xFFFF) != 0xFFFF);
}

TEST_CASE("pci bus: empty slots, other buses and functions read all-ones") {
  auto bus = Bus::Create().value();
  CHECK(ConfigRead32(*bus, 5, 0) == 0xFFFFFFFF);
  Out32(*bus, 0xCF8, 0x80010000);  // bus 1
  CHECK(In32(*bus, 0xCFC) == 0xFFFFFFFF);
  Out32(*bus, 0xCF8, 0x80000100);  // device 0 function 1
  CHECK(In32(*bus, 0xCFC) == 0xFFFFFFFF);
  Out32(*bus, 0xCF8, 0x00000000);  // enable bit clear
  CHECK(In32(*bus, 0xCFC) == 0xFFFFFFFF);
}

TEST_CASE("pci bus: config cycles reach the attached function at byte granularity") {
  auto bus = Bus::Create().value();
  ProbeFunction probe;
  REQUIRE(bus->Attach(3, probe).ok());
  CHECK(!bus->Attach(3, probe).ok());
  CHECK(!bus->Attach(0, probe).ok());
  CHECK(ConfigRead32(*bus, 3, 0) == 0x10001AF4);
  // A 16-bit read of the device ID at 0xCFE.
  Out32(*bus, 0xCF8, 0x80000000u | 3u << 11);
  std::array<std::byte, 2> word{};
  REQUIRE(bus->Read(6, word) == devices::IoResult::kOk);
  CHECK(word[0] == std::byte{0x00});
  CHECK(word[1] == std::byte{0x10});
  // Enable memory decoding through a 16-bit write at 0xCFC.
  Out32(*bus, 0xCF8, 0x80000000u | 3u << 11 | kCommandOffset);
  const std::array<std::byte, 2> command{std::byte{kCommandMemorySpace}, std::byte{0}};
  REQUIRE(bus->Write(4, command) == devices::IoResult::kOk);
  CHECK(probe.config_writes == 1);
  CHECK(probe.config().command() == kCommandMemorySpace);
}

TEST_CASE("pci bus: memory accesses go to the BAR that decodes them, in BAR offsets") {
  auto bus = Bus::Create().value();
  ProbeFunction probe;
  REQUIRE(bus->Attach(1, probe).ok());
  REQUIRE(probe.config().AssignBar(0, 0xE0000000).ok());
  std::array<std::byte, 4> data{};
  CHECK(!bus->MmioRead(0xE0000010, data));  // memory space disabled
  probe.config().SetCommand(kCommandMemorySpace);
  CHECK(bus->MmioRead(0xE0000010, data));
  CHECK(data[0] == std::byte{0x5A});
  REQUIRE(probe.reads.size() == 1);
  CHECK(probe.reads[0].offset == 0x10);
  CHECK(bus->MmioWrite(0xE0000FFC, data));
  CHECK(probe.writes.at(0).offset == 0xFFC);
  CHECK(!bus->MmioRead(0xE0000FFE, data));  // straddles the BAR's end
  CHECK(!bus->MmioRead(0xDFFFFFFE, data));
  // The guest moves the BAR: the old address stops decoding at once.
  Out32(*bus, 0xCF8, 0x80000000u | 1u << 11 | 0x10);
  Out32(*bus, 0xCFC, 0xE0100000);
  CHECK(!bus->MmioRead(0xE0000010, data));
  CHECK(bus->MmioRead(0xE0100010, data));
}

}  // namespace
}  // namespace pci
