#include "tpm/crb.h"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/be_bytes.h"
#include "tpm/platform.h"
#include "tpm/testing/memory_command_buffer.h"

namespace {

using tpm::CrbInterface;
using tpm::testing::MemoryCommandBuffer;

constexpr uint64_t kBufferGpa = 0x1234'5000;

struct Fixture {
  MemoryCommandBuffer buffer{tpm::kCrbBufferBytes};
  CrbInterface crb{buffer, kBufferGpa, tpm::kCrbBufferBytes};

  uint32_t Read32(uint8_t locality, uint32_t reg) {
    std::array<std::byte, 4> bytes{};
    crb.Read(locality * tpm::kCrbLocalityStride + reg, bytes);
    return uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 |
           uint32_t(bytes[3]) << 24;
  }
  tpm::CrbWriteEffect Write32(uint8_t locality, uint32_t reg, uint32_t value) {
    const std::array<std::byte, 4> bytes{std::byte(value), std::byte(value >> 8),
                                         std::byte(value >> 16), std::byte(value >> 24)};
    return crb.Write(locality * tpm::kCrbLocalityStride + reg, bytes);
  }
  // A command of `size` bytes (header says `header_size`) in the buffer.
  void PutCommand(uint32_t header_size, uint32_t code, size_t fill = 0) {
    auto bytes = buffer.bytes();
    base::StoreBe<uint16_t>(bytes, 0, 0x8001);
    base::StoreBe<uint32_t>(bytes, 2, header_size);
    base::StoreBe<uint32_t>(bytes, 6, code);
    for (size_t i = 10; i < 10 + fill; ++i) bytes[i] = std::byte(i);
  }
  uint32_t ResponseCode() { return base::LoadBe<uint32_t>(buffer.bytes(), 6); }
};

// What tpm_crb does per command (tpm-attestation.md §1.2): request
// locality 0, cmdReady, cancel 0, command, START.
TEST_CASE("crb: a command runs the way Linux's tpm_crb drives it") {
  Fixture f;
  CHECK(f.Read32(0, CrbInterface::kLocState) == CrbInterface::kLocStateRegValid);
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  CHECK((f.Read32(0, CrbInterface::kLocState) & 0x82) == 0x82);
  CHECK(f.Read32(0, CrbInterface::kLocSts) == CrbInterface::kLocStsGranted);
  f.Write32(0, CrbInterface::kCtrlReq, CrbInterface::kReqCmdReady);
  CHECK(f.Read32(0, CrbInterface::kCtrlReq) == 0);
  CHECK((f.Read32(0, CrbInterface::kCtrlSts) & CrbInterface::kStsIdle) == 0);
  CHECK(f.Read32(0, CrbInterface::kCmdSize) == tpm::kCrbBufferBytes);
  CHECK(f.Read32(0, CrbInterface::kCmdLowAddress) == 0x1234'5000u);
  CHECK(f.Read32(0, CrbInterface::kRspAddress) == 0x1234'5000u);
  f.Write32(0, CrbInterface::kCtrlCancel, 0);

  f.PutCommand(12, 0x17B, 2);  // TPM2_GetRandom, 2 parameter bytes
  auto effect = f.Write32(0, CrbInterface::kCtrlStart, 1);
  REQUIRE(effect.start.has_value());
  CHECK(effect.start->locality == 0);
  REQUIRE(effect.start->bytes.size() == 12);
  CHECK(base::LoadBe<uint32_t>(effect.start->bytes, 6) == 0x17Bu);
  CHECK(f.Read32(0, CrbInterface::kCtrlStart) == 1);
  CHECK(f.crb.executing());

  std::vector<std::byte> response(14);
  base::StoreBe<uint16_t>(response, 0, 0x8001);
  base::StoreBe<uint32_t>(response, 2, 14);
  f.crb.Complete(response);
  CHECK(f.Read32(0, CrbInterface::kCtrlStart) == 0);
  CHECK(base::LoadBe<uint32_t>(f.buffer.bytes(), 2) == 14u);
  CHECK(f.Read32(0, CrbInterface::kCtrlSts) == 0);

  f.Write32(0, CrbInterface::kCtrlReq, CrbInterface::kReqGoIdle);
  CHECK(f.Read32(0, CrbInterface::kCtrlSts) == CrbInterface::kStsIdle);
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRelinquish);
  CHECK((f.Read32(0, CrbInterface::kLocState) & 0x82) == 0x80);
}

TEST_CASE("crb: the engine runs on a copy, not on the buffer VTL0 can still change") {
  Fixture f;
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  f.PutCommand(16, 0x182, 6);
  auto effect = f.Write32(0, CrbInterface::kCtrlStart, 1);
  REQUIRE(effect.start.has_value());
  const std::vector<std::byte> copy = effect.start->bytes;
  base::StoreBe<uint32_t>(f.buffer.bytes(), 2, 4000);  // VTL0 rewrites it meanwhile
  CHECK(effect.start->bytes == copy);
  CHECK(base::LoadBe<uint32_t>(effect.start->bytes, 2) == 16u);
  // A second START while the first runs starts nothing.
  CHECK_FALSE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());
}

TEST_CASE("crb: a size under a header or over the buffer gets TPM_RC_COMMAND_SIZE") {
  for (uint32_t size : {0u, 9u, tpm::kCrbBufferBytes + 1, 0xFFFF'FFFFu}) {
    CAPTURE(size);
    Fixture f;
    f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
    f.PutCommand(size, 0x17B);
    auto effect = f.Write32(0, CrbInterface::kCtrlStart, 1);
    CHECK_FALSE(effect.start.has_value());
    CHECK(f.Read32(0, CrbInterface::kCtrlStart) == 0);
    CHECK(f.ResponseCode() == CrbInterface::kRcCommandSize);
    CHECK(base::LoadBe<uint32_t>(f.buffer.bytes(), 2) == 10u);
    CHECK((f.Read32(0, CrbInterface::kCtrlSts) & CrbInterface::kStsFatal) == 0);
  }
}

TEST_CASE("crb: only the active locality starts commands") {
  Fixture f;
  f.PutCommand(10, 0x17B);
  CHECK_FALSE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());  // none active
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  f.Write32(3, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);  // waits
  CHECK(f.crb.active_locality() == 0);
  CHECK(f.Read32(3, CrbInterface::kLocSts) == 0);
  CHECK_FALSE(f.Write32(3, CrbInterface::kCtrlStart, 1).start.has_value());
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRelinquish);
  CHECK(f.crb.active_locality() == 3);
  CHECK((f.Read32(0, CrbInterface::kLocState) >> 2 & 7) == 3u);
  auto effect = f.Write32(3, CrbInterface::kCtrlStart, 1);
  REQUIRE(effect.start.has_value());
  CHECK(effect.start->locality == 3);
}

TEST_CASE("crb: cancel while a command runs is passed on; the register reads back") {
  Fixture f;
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  CHECK_FALSE(f.Write32(0, CrbInterface::kCtrlCancel, 1).cancel);  // nothing runs
  f.Write32(0, CrbInterface::kCtrlCancel, 0);
  f.PutCommand(10, 0x17B);
  REQUIRE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());
  CHECK(f.Write32(0, CrbInterface::kCtrlCancel, 1).cancel);
  CHECK(f.Read32(0, CrbInterface::kCtrlCancel) == 1);
}

TEST_CASE("crb: an unreadable buffer or an oversized response sets tpmSts") {
  SUBCASE("unreadable at START") {
    Fixture f;
    f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
    f.buffer.fail = true;
    CHECK_FALSE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());
    CHECK((f.Read32(0, CrbInterface::kCtrlSts) & CrbInterface::kStsFatal) != 0);
  }
  SUBCASE("response larger than the buffer") {
    Fixture f;
    f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
    f.PutCommand(10, 0x17B);
    REQUIRE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());
    f.crb.Complete(std::vector<std::byte>(tpm::kCrbBufferBytes + 1));
    CHECK(f.Read32(0, CrbInterface::kCtrlStart) == 0);
    CHECK((f.Read32(0, CrbInterface::kCtrlSts) & CrbInterface::kStsFatal) != 0);
    // A TPM in failure starts nothing more.
    CHECK_FALSE(f.Write32(0, CrbInterface::kCtrlStart, 1).start.has_value());
  }
}

TEST_CASE("crb: odd widths and offsets") {
  Fixture f;
  f.Write32(0, CrbInterface::kLocCtrl, CrbInterface::kLocCtrlRequest);
  // One byte of INTF_ID: the CRB interface type.
  std::array<std::byte, 1> one{};
  f.crb.Read(CrbInterface::kIntfId, one);
  CHECK((uint8_t(one[0]) & 0xF) == 1);
  // A 64-bit read of CTRL_EXT..: the register pair, little-endian.
  std::array<std::byte, 8> eight{};
  f.crb.Read(CrbInterface::kCmdLowAddress - 4, eight);
  CHECK(uint8_t(eight[4]) == 0x00);
  CHECK(uint8_t(eight[5]) == 0x50);
  // Past the registers and past the last locality: 0xFF, writes ignored.
  f.crb.Read(0x80, one);
  CHECK(uint8_t(one[0]) == 0xFF);
  f.crb.Read(tpm::kCrbRegisterBytes, one);
  CHECK(uint8_t(one[0]) == 0xFF);
  f.crb.Read(~uint64_t{0} - 2, eight);  // wraps: every byte 0xFF
  for (std::byte b : eight) CHECK(uint8_t(b) == 0xFF);
  // A write into the middle of CTRL_START does nothing.
  f.PutCommand(10, 0x17B);
  const std::array<std::byte, 1> start{std::byte{1}};
  CHECK_FALSE(f.crb.Write(CrbInterface::kCtrlStart + 1, start).start.has_value());
  // An 8-byte write at CTRL_CANCEL sets CANCEL=0 and START=1 together.
  std::array<std::byte, 8> pair{};
  pair[4] = std::byte{1};
  CHECK(f.crb.Write(CrbInterface::kCtrlCancel, pair).start.has_value());
}

}  // namespace
