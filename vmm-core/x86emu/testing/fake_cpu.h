// FakeCpu: an X86Cpu over plain memory, shared by the x86emu tests and the
// fuzz target. RAM is a sparse map of 4 KiB pages (untouched pages read as
// zeros); one GPA window is an MMIO device that remembers what was written
// and logs every access; ports log OUTs and answer INs with a fixed byte.
// MapPage builds 4-level page tables in that RAM.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "base/le_bytes.h"
#include "base/result.h"
#include "x86emu/cpu.h"

namespace x86emu::testing {

inline constexpr uint64_t kPteP = 1ull << 0;
inline constexpr uint64_t kPteW = 1ull << 1;
inline constexpr uint64_t kPteU = 1ull << 2;
inline constexpr uint64_t kPtePs = 1ull << 7;
inline constexpr uint64_t kPteNx = 1ull << 63;

class FakeCpu final : public X86Cpu {
 public:
  struct DeviceAccess {
    uint64_t address;  // GPA or port
    std::vector<std::byte> bytes;
    bool write;
  };

  uint64_t gpr(Gpr reg) const override { return gprs[static_cast<size_t>(reg)]; }
  void set_gpr(Gpr reg, uint64_t value) override { gprs[static_cast<size_t>(reg)] = value; }
  uint64_t rip() const override { return rip_value; }
  void set_rip(uint64_t value) override { rip_value = value; }
  uint64_t rflags() const override { return rflags_value; }
  void set_rflags(uint64_t value) override { rflags_value = value; }
  SegmentRegister segment(Segment seg) const override { return segments[static_cast<size_t>(seg)]; }
  ControlRegisters control_registers() const override { return cr; }

  base::Result<void> ReadPhys(Gpa gpa, std::span<std::byte> out) override {
    for (size_t i = 0; i < out.size(); ++i) {
      const uint64_t address = mem::ToU64(gpa) + i;
      if (address >= ram_limit) return base::Error("fake: read outside RAM");
      const auto page = pages.find(address >> 12);
      out[i] = page == pages.end() ? std::byte{0} : page->second[address & 0xfff];
    }
    ++phys_reads;
    return base::Ok();
  }
  base::Result<void> WritePhys(Gpa gpa, std::span<const std::byte> in) override {
    for (size_t i = 0; i < in.size(); ++i) {
      const uint64_t address = mem::ToU64(gpa) + i;
      if (address >= ram_limit) return base::Error("fake: write outside RAM");
      if (pages.size() >= kMaxPages && !pages.contains(address >> 12))
        return base::Error("fake: out of pages");
      pages[address >> 12][address & 0xfff] = in[i];
    }
    return base::Ok();
  }

  bool IsMmio(Gpa gpa) const override {
    const uint64_t address = mem::ToU64(gpa);
    return address >= mmio_base && address - mmio_base < mmio_size;
  }
  base::Result<void> MmioRead(Gpa gpa, std::span<std::byte> out) override {
    for (size_t i = 0; i < out.size(); ++i) {
      const auto it = mmio_bytes.find(mem::ToU64(gpa) + i);
      out[i] = it == mmio_bytes.end() ? std::byte{0} : it->second;
    }
    Log(mmio_log, mem::ToU64(gpa), out, false);
    return base::Ok();
  }
  base::Result<void> MmioWrite(Gpa gpa, std::span<const std::byte> in) override {
    for (size_t i = 0; i < in.size(); ++i) mmio_bytes[mem::ToU64(gpa) + i] = in[i];
    Log(mmio_log, mem::ToU64(gpa), in, true);
    return base::Ok();
  }
  base::Result<void> IoIn(uint16_t port, std::span<std::byte> out) override {
    for (auto& byte : out) byte = port_in_value;
    Log(port_log, port, out, false);
    return base::Ok();
  }
  base::Result<void> IoOut(uint16_t port, std::span<const std::byte> in) override {
    Log(port_log, port, in, true);
    return base::Ok();
  }

  // Long mode, CPL 0, 64-bit code, paging on with an empty PML4.
  void EnterLongMode() {
    cr.cr0 = kCr0Pe | kCr0Pg | kCr0Wp;
    cr.cr4 = kCr4Pae;
    cr.efer = kEferLme | kEferLma | kEferNxe;
    cr.cr3 = AllocateTable();
    segments[static_cast<size_t>(Segment::kCs)].attributes = 0xa09b;  // L, P, code
    segments[static_cast<size_t>(Segment::kSs)].attributes = 0xc093;
  }

  // Maps one page (4 KiB, or 2 MiB / 1 GiB with kPtePs at `leaf_level` 1 / 2)
  // in the 4-level tables at CR3. Intermediate entries get P|W|U so the
  // leaf's flags decide.
  void MapPage(uint64_t gva, uint64_t gpa, uint64_t flags = kPteP | kPteW, int leaf_level = 0) {
    uint64_t table = cr.cr3 & 0x000f'ffff'ffff'f000ull;
    for (int level = 3; level > leaf_level; --level) {
      const uint64_t entry_gpa = table + ((gva >> (12 + 9 * level)) & 0x1ff) * 8;
      uint64_t entry = ReadRamLe(entry_gpa);
      if ((entry & kPteP) == 0) {
        entry = AllocateTable() | kPteP | kPteW | kPteU;
        WriteRamLe(entry_gpa, entry);
      }
      table = entry & 0x000f'ffff'ffff'f000ull;
    }
    WriteRamLe(table + ((gva >> (12 + 9 * leaf_level)) & 0x1ff) * 8, gpa | flags);
  }

  uint64_t ReadRamLe(uint64_t gpa, size_t size = 8) {
    std::array<std::byte, 8> raw{};
    (void)ReadPhys(Gpa{gpa}, std::span(raw).first(size));
    uint64_t value = 0;
    (void)base::LoadLe<uint64_t>(raw, 0, value);
    return value;
  }
  void WriteRamLe(uint64_t gpa, uint64_t value, size_t size = 8) {
    std::array<std::byte, 8> raw{};
    (void)base::StoreLe<uint64_t>(raw, 0, value);
    (void)WritePhys(Gpa{gpa}, std::span<const std::byte>(raw).first(size));
  }

  static constexpr size_t kMaxPages = 1024;

  std::array<uint64_t, kGprCount> gprs{};
  uint64_t rip_value = 0x1000;
  uint64_t rflags_value = 0x2;
  std::array<SegmentRegister, 6> segments{};
  ControlRegisters cr{};
  std::map<uint64_t, std::array<std::byte, 4096>> pages;
  uint64_t ram_limit = 1ull << 32;
  uint64_t next_table = 0x100000;
  uint64_t mmio_base = 0xfe00'0000;
  uint64_t mmio_size = 0x10000;
  std::map<uint64_t, std::byte> mmio_bytes;
  std::vector<DeviceAccess> mmio_log;
  std::vector<DeviceAccess> port_log;
  std::byte port_in_value{0x5a};
  size_t phys_reads = 0;

 private:
  uint64_t AllocateTable() {
    const uint64_t table = next_table;
    next_table += 0x1000;
    return table;
  }
  static void Log(std::vector<DeviceAccess>& log, uint64_t address,
                  std::span<const std::byte> bytes, bool write) {
    if (log.size() < 4096) log.push_back(DeviceAccess{address, {bytes.begin(), bytes.end()}, write});
  }
};

}  // namespace x86emu::testing
