#include "x86_context.h"

#include <cstring>

namespace igvm {
namespace {

template <typename T>
void Put(std::vector<std::byte>& out, size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof value);
}

// GDT descriptors (Intel SDM vol. 3A §3.4.5): base 0, limit 0xFFFFF, G=1.
constexpr uint64_t kCode64Descriptor = 0x00AF9B000000FFFF;  // P, DPL0, code RX accessed, L=1
constexpr uint64_t kDataDescriptor = 0x00CF93000000FFFF;    // P, DPL0, data RW accessed, D/B=1

// Hyper-V segment attributes use the VMX access-rights layout (SDM vol. 3C
// §24.4.1): access byte in bits 0-7, AVL/L/DB/G in bits 12-15.
constexpr uint16_t kCodeAttributesVmx = 0xA09B;
constexpr uint16_t kDataAttributesVmx = 0xC093;
constexpr uint16_t kTssAttributesVmx = 0x008B;  // busy 64-bit TSS, present
// The SVM VMCB packs the same bits as access byte + flags nibble in 12 bits.
constexpr uint16_t kCodeAttributesSvm = 0x0A9B;
constexpr uint16_t kDataAttributesSvm = 0x0C93;
constexpr uint16_t kTssAttributesSvm = 0x008B;

struct HvSegment {  // HV_X64_SEGMENT_REGISTER
  uint64_t base;
  uint32_t limit;
  uint16_t selector;
  uint16_t attributes;
};
static_assert(sizeof(HvSegment) == 16);

struct HvTable {  // HV_X64_TABLE_REGISTER
  uint16_t pad[3];
  uint16_t limit;
  uint64_t base;
};
static_assert(sizeof(HvTable) == 16);

struct VmcbSegment {  // struct vmcb_seg (AMD APM vol. 2, Table B-4)
  uint16_t selector;
  uint16_t attributes;
  uint32_t limit;
  uint64_t base;
};
static_assert(sizeof(VmcbSegment) == 16);

}  // namespace

std::vector<std::byte> IdentityPageTables(uint64_t base) {
  std::vector<std::byte> pages(kPageTablePages * wire::kPageSize);
  constexpr uint64_t kPresentWritable = 0x3;
  constexpr uint64_t kLargePage = 0x80;
  // PML4[0] -> PDPT; PDPT[0..3] -> one page directory per GiB.
  Put<uint64_t>(pages, 0, (base + wire::kPageSize) | kPresentWritable);
  for (uint64_t gib = 0; gib < 4; ++gib) {
    Put<uint64_t>(pages, wire::kPageSize + gib * 8,
                  (base + (2 + gib) * wire::kPageSize) | kPresentWritable);
    for (uint64_t entry = 0; entry < 512; ++entry) {
      const uint64_t physical = ((gib << 9) + entry) << 21;
      Put<uint64_t>(pages, (2 + gib) * wire::kPageSize + entry * 8,
                    physical | kPresentWritable | kLargePage);
    }
  }
  return pages;
}

std::vector<std::byte> GdtPage() {
  std::vector<std::byte> page(wire::kPageSize);
  Put<uint64_t>(page, kCodeSelector, kCode64Descriptor);
  Put<uint64_t>(page, kDataSelector, kDataDescriptor);
  return page;
}

std::vector<std::byte> VbsVpContext(const X64EntryState& state) {
  std::vector<wire::VbsVpContextRegister> registers;
  auto add = [&](uint32_t name, const void* value, size_t size) {
    wire::VbsVpContextRegister reg{};
    reg.vtl = state.vtl;
    reg.register_name = name;
    std::memcpy(reg.value, value, size);
    registers.push_back(reg);
  };
  auto add64 = [&](uint32_t name, uint64_t value) { add(name, &value, sizeof value); };
  const HvSegment code{0, 0xFFFFFFFF, kCodeSelector, kCodeAttributesVmx};
  const HvSegment data{0, 0xFFFFFFFF, kDataSelector, kDataAttributesVmx};
  const HvSegment tss{0, 0xFFFF, 0, kTssAttributesVmx};
  const HvTable gdtr{{0, 0, 0}, kGdtLimit, state.gdt_base};
  const HvTable idtr{{0, 0, 0}, 0, 0};

  add64(wire::hv_register::kCr0, kEntryCr0);
  add64(wire::hv_register::kCr3, state.cr3);
  add64(wire::hv_register::kCr4, kEntryCr4);
  add64(wire::hv_register::kEfer, kEntryEfer);
  add64(wire::hv_register::kPat, kEntryPat);
  add(wire::hv_register::kGdtr, &gdtr, sizeof gdtr);
  add(wire::hv_register::kIdtr, &idtr, sizeof idtr);
  add(wire::hv_register::kCs, &code, sizeof code);
  for (uint32_t name : {wire::hv_register::kDs, wire::hv_register::kEs, wire::hv_register::kSs,
                        wire::hv_register::kFs, wire::hv_register::kGs})
    add(name, &data, sizeof data);
  add(wire::hv_register::kTr, &tss, sizeof tss);
  add64(wire::hv_register::kRflags, 0x2);
  add64(wire::hv_register::kRsp, state.rsp);
  add64(wire::hv_register::kRsi, state.rsi);
  add64(wire::hv_register::kRip, state.rip);

  std::vector<std::byte> out(4 + registers.size() * sizeof(wire::VbsVpContextRegister));
  Put<uint32_t>(out, 0, static_cast<uint32_t>(registers.size()));
  std::memcpy(out.data() + 4, registers.data(), registers.size() * sizeof(wire::VbsVpContextRegister));
  return out;
}

std::vector<std::byte> SnpVmsa(const X64EntryState& state, uint64_t sev_features) {
  // Offsets: the SEV-ES save area (AMD APM vol. 2, Table B-4; the same
  // layout as Linux's struct sev_es_save_area).
  std::vector<std::byte> vmsa(wire::kPageSize);
  const VmcbSegment code{kCodeSelector, kCodeAttributesSvm, 0xFFFFFFFF, 0};
  const VmcbSegment data{kDataSelector, kDataAttributesSvm, 0xFFFFFFFF, 0};
  Put(vmsa, 0x000, data);  // ES
  Put(vmsa, 0x010, code);  // CS
  Put(vmsa, 0x020, data);  // SS
  Put(vmsa, 0x030, data);  // DS
  Put(vmsa, 0x040, data);  // FS
  Put(vmsa, 0x050, data);  // GS
  Put(vmsa, 0x060, VmcbSegment{0, 0, kGdtLimit, state.gdt_base});  // GDTR
  Put(vmsa, 0x090, VmcbSegment{0, kTssAttributesSvm, 0xFFFF, 0});  // TR
  Put<uint64_t>(vmsa, 0x0D0, kEntryEfer | (uint64_t{1} << 12));  // EFER.SVME is required in a VMSA
  Put<uint64_t>(vmsa, 0x148, kEntryCr4);
  Put<uint64_t>(vmsa, 0x150, state.cr3);
  Put<uint64_t>(vmsa, 0x158, kEntryCr0);
  Put<uint64_t>(vmsa, 0x160, 0x400);                // DR7 reset value
  Put<uint64_t>(vmsa, 0x168, 0xFFFF0FF0);           // DR6 reset value
  Put<uint64_t>(vmsa, 0x170, 0x2);                  // RFLAGS
  Put<uint64_t>(vmsa, 0x178, state.rip);
  Put<uint64_t>(vmsa, 0x1D8, state.rsp);
  Put<uint64_t>(vmsa, 0x268, kEntryPat);            // G_PAT
  Put<uint64_t>(vmsa, 0x330, state.rsi);
  Put<uint64_t>(vmsa, 0x3B0, sev_features);
  Put<uint64_t>(vmsa, 0x3E8, 0x1);                  // XCR0: x87 only
  return vmsa;
}

base::Result<std::vector<std::byte>> TdxResetPage(const X64EntryState& state) {
  if (state.cr3 > 0xFFFFFFFF || state.gdt_base > 0xFFFFFFFF)
    return base::Error("the TDX trampoline needs CR3 and the GDT below 4 GiB");
  // Page layout (offsets from 0xFFFFF000):
  //   0x000 context: cr3 u32, gdtr {limit u16, base u32}, rip u64, rsp u64, rsi u64
  //   0x100 32-bit code: paging on, far jump to 64-bit code
  //   0x140 64-bit code: data segments, rsp, rsi, jump to rip
  //   0xFF0 the reset vector: jmp 0x100
  // The TD starts in 32-bit protected mode with flat segments, CR0.PE and
  // EFER.LME set (Intel TDX module base spec, "Initial TD vCPU state"), so
  // enabling PAE and paging activates long mode.
  constexpr uint32_t kBase = kTdxResetPageGpa;
  constexpr uint32_t kCr3 = 0x000, kGdtr = 0x004, kRip = 0x010, kRsp = 0x018, kRsi = 0x020;
  constexpr uint32_t kCode32 = 0x100, kCode64 = 0x140;
  std::vector<std::byte> page(wire::kPageSize);
  Put<uint32_t>(page, kCr3, static_cast<uint32_t>(state.cr3));
  Put<uint16_t>(page, kGdtr, kGdtLimit);
  Put<uint32_t>(page, kGdtr + 2, static_cast<uint32_t>(state.gdt_base));
  Put<uint64_t>(page, kRip, state.rip);
  Put<uint64_t>(page, kRsp, state.rsp);
  Put<uint64_t>(page, kRsi, state.rsi);

  std::vector<uint8_t> code32;
  auto emit = [](std::vector<uint8_t>& code, std::initializer_list<uint8_t> bytes) {
    code.insert(code.end(), bytes);
  };
  auto emit32 = [](std::vector<uint8_t>& code, uint32_t value) {
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  emit(code32, {0x0F, 0x01, 0x15});  // lgdt [disp32]
  emit32(code32, kBase + kGdtr);
  emit(code32, {0x0F, 0x20, 0xE0});  // mov eax, cr4
  emit(code32, {0x83, 0xC8, 0x20});  // or eax, 0x20 (PAE)
  emit(code32, {0x0F, 0x22, 0xE0});  // mov cr4, eax
  emit(code32, {0xA1});              // mov eax, [disp32]
  emit32(code32, kBase + kCr3);
  emit(code32, {0x0F, 0x22, 0xD8});  // mov cr3, eax
  emit(code32, {0x0F, 0x20, 0xC0});  // mov eax, cr0
  emit(code32, {0x0D});              // or eax, imm32 (PG | WP)
  emit32(code32, 0x80010000);
  emit(code32, {0x0F, 0x22, 0xC0});  // mov cr0, eax
  emit(code32, {0xEA});              // jmp far ptr16:32
  emit32(code32, kBase + kCode64);
  emit(code32, {kCodeSelector, 0x00});
  if (code32.size() > kCode64 - kCode32) return base::Error("TDX trampoline overflow");
  std::memcpy(page.data() + kCode32, code32.data(), code32.size());

  std::vector<uint8_t> code64;
  emit(code64, {0x66, 0xB8, kDataSelector, 0x00});  // mov ax, data selector
  emit(code64, {0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8});  // ds es ss fs gs
  // RIP-relative loads: disp32 is relative to the next instruction.
  auto rip_relative = [&](std::initializer_list<uint8_t> opcode, uint32_t target) {
    emit(code64, opcode);
    const uint32_t next = kCode64 + static_cast<uint32_t>(code64.size()) + 4;
    emit32(code64, target - next);
  };
  rip_relative({0x48, 0x8B, 0x25}, kRsp);  // mov rsp, [rip + rsp slot]
  rip_relative({0x48, 0x8B, 0x35}, kRsi);  // mov rsi, [rip + rsi slot]
  rip_relative({0xFF, 0x25}, kRip);        // jmp [rip + rip slot]
  if (kCode64 + code64.size() > 0xFF0) return base::Error("TDX trampoline overflow");
  std::memcpy(page.data() + kCode64, code64.data(), code64.size());

  // The reset vector at 0xFFFFFFF0: jmp rel32 back to the 32-bit code.
  std::vector<uint8_t> reset{0xE9};
  emit32(reset, kCode32 - (0xFF0 + 5));
  std::memcpy(page.data() + 0xFF0, reset.data(), reset.size());
  return page;
}

}  // namespace igvm
