#include "pci/msix.h"

#include <doctest/doctest.h>

#include <vector>

#include "base/le_bytes.h"

namespace pci {
namespace {

struct RecordingSink final : MsiSink {
  void Deliver(const MsiMessage& message) override { sent.push_back(message); }
  std::vector<MsiMessage> sent;
};

void Write32(MsixTable& table, uint64_t offset, uint32_t value) {
  std::array<std::byte, 4> bytes{};
  (void)base::StoreLe<uint32_t>(bytes, 0, value);
  REQUIRE(table.WriteTable(offset, bytes) == devices::IoResult::kOk);
}

// Linux's msix_program_entries order: address low, high, data, then
// vector control.
void Program(MsixTable& table, uint16_t vector, uint32_t address, uint32_t data, bool masked) {
  Write32(table, vector * 16u + 0, address);
  Write32(table, vector * 16u + 4, 0);
  Write32(table, vector * 16u + 8, data);
  Write32(table, vector * 16u + 12, masked ? 1 : 0);
}

uint64_t Pba(MsixTable& table) {
  std::array<std::byte, 8> bytes{};
  REQUIRE(table.ReadPba(0, bytes) == devices::IoResult::kOk);
  uint64_t value = 0;
  (void)base::LoadLe<uint64_t>(bytes, 0, value);
  return value;
}

TEST_CASE("msix: entries start masked; a signal then is pending and sent on unmask") {
  RecordingSink sink;
  MsixTable table(4, sink);
  table.SetControl(true, false);
  table.Signal(1);
  CHECK(sink.sent.empty());
  CHECK(Pba(table) == 0b10);
  Program(table, 1, 0xFEE01000, 0x41, false);
  REQUIRE(sink.sent.size() == 1);
  CHECK(sink.sent[0].address == 0xFEE01000);
  CHECK(sink.sent[0].data == 0x41);
  CHECK(Pba(table) == 0);
  table.Signal(1);
  CHECK(sink.sent.size() == 2);
}

TEST_CASE("msix: the function mask holds every vector; disabled MSI-X records nothing") {
  RecordingSink sink;
  MsixTable table(2, sink);
  Program(table, 0, 0xFEE00000, 0x30, false);
  table.Signal(0);  // MSI-X not enabled yet: no message, no pending bit
  CHECK(sink.sent.empty());
  CHECK(Pba(table) == 0);
  table.SetControl(true, true);
  table.Signal(0);
  CHECK(sink.sent.empty());
  CHECK(Pba(table) == 1);
  table.SetControl(true, false);
  CHECK(sink.sent.size() == 1);
}

TEST_CASE("msix: table reads back; bad sizes, offsets and vectors are refused") {
  RecordingSink sink;
  MsixTable table(2, sink);
  Program(table, 1, 0xFEE02000, 0x55, true);
  std::array<std::byte, 8> qword{};
  REQUIRE(table.ReadTable(16, qword) == devices::IoResult::kOk);
  uint64_t address = 0;
  (void)base::LoadLe<uint64_t>(qword, 0, address);
  CHECK(address == 0xFEE02000);
  std::array<std::byte, 4> dword{};
  REQUIRE(table.ReadTable(28, dword) == devices::IoResult::kOk);
  CHECK(dword[0] == std::byte{1});
  std::array<std::byte, 2> word{};
  CHECK(table.ReadTable(0, word) == devices::IoResult::kBadSize);
  CHECK(table.ReadTable(32, dword) == devices::IoResult::kBadSize);  // past 2 entries
  CHECK(table.ReadTable(2, dword) == devices::IoResult::kBadSize);
  CHECK(table.WriteTable(6, dword) == devices::IoResult::kBadSize);
  table.SetControl(true, false);
  table.Signal(7);  // no such vector
  CHECK(sink.sent.empty());
}

}  // namespace
}  // namespace pci
