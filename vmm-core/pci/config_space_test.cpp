#include "pci/config_space.h"

#include <doctest/doctest.h>

#include "base/le_bytes.h"

namespace pci {
namespace {

uint32_t Read32(const ConfigSpace& config, uint16_t offset) {
  std::array<std::byte, 4> bytes{};
  config.Read(offset, bytes);
  uint32_t value = 0;
  (void)base::LoadLe<uint32_t>(bytes, 0, value);
  return value;
}

void Write32(ConfigSpace& config, uint16_t offset, uint32_t value) {
  std::array<std::byte, 4> bytes{};
  (void)base::StoreLe<uint32_t>(bytes, 0, value);
  config.Write(offset, bytes);
}

void Write16(ConfigSpace& config, uint16_t offset, uint16_t value) {
  std::array<std::byte, 2> bytes{};
  (void)base::StoreLe<uint16_t>(bytes, 0, value);
  config.Write(offset, bytes);
}

// An NVMe-like function: 16 KiB 64-bit BAR0, 4 KiB 64-bit BAR4 holding
// an MSI-X table of 17 vectors and its PBA.
ConfigSpace NvmeLike() {
  std::array<MemoryBar, kBarCount> bars{};
  bars[0] = {.size_bytes = 0x4000};
  bars[4] = {.size_bytes = 0x1000};
  auto config = ConfigSpace::Create(
      {.vendor_id = 0x1414, .device_id = 0xB111, .subsystem_vendor_id = 0x1414,
       .subsystem_id = 0x0001, .revision = 2, .class_code = 0x010802},
      bars, MsixLayout{.vector_count = 17, .table_bar = 4, .table_offset = 0, .pba_bar = 4,
                       .pba_offset = 0x800});
  REQUIRE(config.ok());
  return std::move(config).value();
}

TEST_CASE("pci config: identity, class code and header as the guest reads them") {
  const ConfigSpace config = NvmeLike();
  CHECK(Read32(config, 0x00) == 0xB1111414);
  CHECK(Read32(config, 0x08) == 0x01080202);  // class 01 08 02, revision 2
  CHECK(Read32(config, 0x2C) == 0x00011414);
  std::array<std::byte, 1> header{};
  config.Read(kHeaderTypeOffset, header);
  CHECK(header[0] == std::byte{0});  // type 0, single function
  CHECK((Read32(config, 0x04) >> 16 & kStatusCapabilitiesList) != 0);
  CHECK(Read32(config, 0x3C) == 0);  // interrupt pin 0: MSI-X only
}

TEST_CASE("pci config: BAR sizing the way Linux does it (__pci_read_base)") {
  ConfigSpace config = NvmeLike();
  REQUIRE(config.AssignBar(0, 0xE0000000).ok());
  CHECK(Read32(config, 0x10) == 0xE0000004);  // 64-bit memory BAR
  CHECK(Read32(config, 0x14) == 0);
  Write32(config, 0x10, 0xFFFFFFFF);
  Write32(config, 0x14, 0xFFFFFFFF);
  CHECK(Read32(config, 0x10) == 0xFFFFC004);  // 16 KiB
  CHECK(Read32(config, 0x14) == 0xFFFFFFFF);
  Write32(config, 0x10, 0xE0000000);
  Write32(config, 0x14, 0);
  CHECK(Read32(config, 0x10) == 0xE0000004);
  // Unused BARs (2, 3 and BAR4's high half excepted) stay zero.
  Write32(config, 0x18, 0xFFFFFFFF);
  CHECK(Read32(config, 0x18) == 0);
}

TEST_CASE("pci config: a BAR decodes only with memory space enabled") {
  ConfigSpace config = NvmeLike();
  REQUIRE(config.AssignBar(0, 0xE0000000).ok());
  CHECK(!config.BarAddress(0));
  Write16(config, kCommandOffset, kCommandMemorySpace | kCommandBusMaster);
  CHECK(config.BarAddress(0) == 0xE0000000);
  CHECK(config.bus_master());
  // A 64-bit BAR placed above 4 GiB through its high half.
  Write32(config, 0x14, 0x1);
  CHECK(config.BarAddress(0) == 0x1E0000000);
  // Command bits outside memory/bus master/INTx disable stay clear.
  Write16(config, kCommandOffset, 0xFFFF);
  CHECK(config.command() == (kCommandMemorySpace | kCommandBusMaster | kCommandIntxDisable));
}

TEST_CASE("pci config: the MSI-X capability and its writable control bits") {
  ConfigSpace config = NvmeLike();
  CHECK((Read32(config, kCapabilitiesPointerOffset) & 0xFF) == kMsixCapabilityOffset);
  const uint32_t header = Read32(config, kMsixCapabilityOffset);
  CHECK((header & 0xFF) == kCapabilityIdMsix);
  CHECK((header >> 8 & 0xFF) == 0);         // the last capability
  CHECK((header >> 16 & 0x7FF) == 16);      // 17 vectors
  CHECK(Read32(config, kMsixCapabilityOffset + 4) == 0x4);      // table: BAR4 + 0
  CHECK(Read32(config, kMsixCapabilityOffset + 8) == 0x804);    // PBA: BAR4 + 0x800
  Write16(config, kMsixCapabilityOffset + 2, 0xFFFF);
  CHECK(config.msix_enabled());
  CHECK(config.msix_function_masked());
  CHECK((Read32(config, kMsixCapabilityOffset) >> 16 & 0x7FF) == 16);  // table size is read-only
  Write16(config, kMsixCapabilityOffset + 2, kMsixControlEnable);
  CHECK(config.msix_enabled());
  CHECK(!config.msix_function_masked());
}

TEST_CASE("pci config: identity and capability words are read-only") {
  ConfigSpace config = NvmeLike();
  Write32(config, 0x00, 0);
  Write32(config, 0x08, 0);
  Write32(config, kMsixCapabilityOffset + 4, 0x12345678);
  CHECK(Read32(config, 0x00) == 0xB1111414);
  CHECK(Read32(config, 0x08) == 0x01080202);
  CHECK(Read32(config, kMsixCapabilityOffset + 4) == 0x4);
}

TEST_CASE("pci config: bad accesses read all-ones and write nothing") {
  ConfigSpace config = NvmeLike();
  std::array<std::byte, 4> word{};
  config.Read(0x02, word);  // misaligned dword
  CHECK(word[0] == std::byte{0xFF});
  std::array<std::byte, 3> odd{};
  config.Read(0x00, odd);
  CHECK(odd[2] == std::byte{0xFF});
  std::array<std::byte, 2> last{};
  config.Read(0xFE, last);  // inside, past the capabilities: zero
  CHECK(last[0] == std::byte{0});
}

TEST_CASE("pci config: layouts that cannot work are refused") {
  std::array<MemoryBar, kBarCount> bars{};
  bars[0] = {.size_bytes = 0x3000};
  CHECK(!ConfigSpace::Create({}, bars, std::nullopt).ok());  // not a power of two
  bars[0] = {.size_bytes = 0x1000};
  bars[1] = {.size_bytes = 0x1000};
  CHECK(!ConfigSpace::Create({}, bars, std::nullopt).ok());  // BAR1 is BAR0's high half
  bars = {};
  bars[5] = {.size_bytes = 0x1000};
  CHECK(!ConfigSpace::Create({}, bars, std::nullopt).ok());  // 64-bit BAR in the last slot
  bars = {};
  bars[0] = {.size_bytes = 0x1000};
  CHECK(!ConfigSpace::Create({}, bars, MsixLayout{.vector_count = 300, .table_bar = 0}).ok());
  CHECK(!ConfigSpace::Create({}, bars, MsixLayout{.vector_count = 1, .table_bar = 2}).ok());
  CHECK(ConfigSpace::Create({}, bars, MsixLayout{.vector_count = 1, .table_bar = 0,
                                                 .pba_bar = 0, .pba_offset = 0x800}).ok());
  ConfigSpace config = NvmeLike();
  CHECK(!config.AssignBar(0, 0xE0001000).ok());  // not aligned to 16 KiB
  CHECK(!config.AssignBar(2, 0xE0000000).ok());  // unused
}

}  // namespace
}  // namespace pci
