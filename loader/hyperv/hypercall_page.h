// The hypercall page and the hypercall input/output values (TLFS "Hypercall Interface";
// hyperv-vmbus.md §1.4, §2).
//
// On real Hyper-V the hypervisor overlays the guest page named by the
// HYPERCALL MSR with code that executes VMCALL/VMMCALL. Under KVM those
// never reach user space (KVM answers them in the kernel), so hcl-loader's
// page traps with a port write instead:
//
//     out 0x99, eax     E7 99     -> KVM_EXIT_IO, port kHypercallPort
//     nop               90        (keeps OpenVMM's 3-byte VMCALL slots)
//     ret               C3
//
// Port 0x99 is unused in the PC/AT I/O map and by every device KVM emulates
// in the kernel (PIC 0x20/0xA0, PIT 0x40-0x43 and 0x61, ELCR 0x4D0) and
// by the loader's port bus (COM1 0x3F8, RTC 0x70, ACPI PM1 0x400). The
// value written (EAX) means nothing; the loader reads the registers. A
// guest at CPL > IOPL gets #GP from the OUT itself, which matches TLFS
// "hypercalls from CPL > 0 fault".
//
// Layout (OpenVMM's 50 bytes, VMCALL replaced by the 3-byte trap above, so
// the offsets are unchanged; the rest of the page is 0xCC, INT3):
//   +0x00 normal hypercall: trap; ret
//   +0x04 32-bit VTL call:   mov ecx, eax; mov eax, 0x11; trap; ret
//   +0x0F 64-bit VTL call:   mov rax, rcx; mov ecx, 0x11; trap; ret
//   +0x1B 32-bit VTL return: mov ecx, eax; mov eax, 0x12; trap; ret
//   +0x26 64-bit VTL return: mov rax, rcx; mov ecx, 0x12; trap; ret
// VsmCodePageOffsets (register 0xD0002) = 0x0F | 0x26 << 12.
// VTL call/return are not handled yet: they answer like any other code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/page.h"

namespace loader::hyperv {

inline constexpr uint16_t kHypercallPort = 0x99;

inline constexpr uint32_t kVtlCallOffset = 0x0F;
inline constexpr uint32_t kVtlReturnOffset = 0x26;
inline constexpr uint64_t kVsmCodePageOffsets = kVtlCallOffset | (uint64_t{kVtlReturnOffset} << 12);

// The whole page the loader writes at the HYPERCALL MSR's GPN.
std::array<std::byte, base::kPageSize> HypercallPage();

// TLFS "Hypercall Inputs": the 64-bit input value (RCX, or EDX:EAX
// for 32-bit callers).
struct HypercallInput {
  uint16_t code = 0;              // bits 0-15
  bool fast = false;              // bit 16
  uint16_t variable_header = 0;   // bits 17-26, in qwords
  uint16_t rep_count = 0;         // bits 32-43
  uint16_t rep_start = 0;         // bits 48-59
  bool reserved_set = false;      // any of bits 27-31, 44-47, 60-63
};
HypercallInput DecodeHypercallInput(uint64_t value);

// TLFS "Hypercall Result Value": status in bits 0-15, reps
// completed in bits 32-43 (RAX, or EDX:EAX for 32-bit callers).
uint64_t HypercallResult(uint16_t status, uint16_t reps_completed);

// TLFS Appendix, "Hypercall Status Codes".
inline constexpr uint16_t kStatusSuccess = 0x0;
inline constexpr uint16_t kStatusInvalidHypercallCode = 0x2;
inline constexpr uint16_t kStatusInvalidHypercallInput = 0x3;

// The loader's dispatcher: the result value for `input`. No call is
// implemented yet, so every code is HV_STATUS_INVALID_HYPERCALL_CODE.
uint64_t DispatchHypercall(const HypercallInput& input);

}  // namespace loader::hyperv
