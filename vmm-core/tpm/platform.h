// Where VTL0's TPM lives, agreed by the two sides that describe and serve
// it: hcl-loader puts it in VTL0's ACPI tables and e820 map
// (loader/vtl0/acpi_tables.h, linux_loader.h), hcl emulates it
// (hcl/devices/vtpm.h). Facts: tpm-attestation.md §1-§2.
//
// - The CRB register block at the PC's TPM address, 0xFED40000, one 4 KiB
//   page per locality (TCG PC Client PTP §6.5.3: locality n at base +
//   n * 0x1000); only locality 0's page is in VTL0's _CRS, as on QEMU.
// - The command/response buffer: one page of VTL0 RAM that e820 reports
//   reserved and the device's _CRS lists as its second memory resource.
//   Linux's tpm_crb maps it with ioremap (a buffer outside every _CRS
//   region must not be System RAM), so its string copies of commands and
//   responses are plain memory accesses: only register accesses trap.
//   hcl copies a command out before it runs it (no double fetch).
// - The event log area (TPM2 table LASA/LAML): e820 reserved too, so that
//   Linux maps all of it (acpi_os_map_iomem kmaps System RAM one page at a
//   time and fails for more).
// Both areas lie in VTL0 RAM at 15 MiB, below where linux_loader.h puts
// kernels (16 MiB and up) and above 1 MiB: Linux marks every e820 range
// under 1 MiB busy (arch/x86/kernel/e820.c, do_mark_busy), and tpm_crb's
// devm_ioremap_resource of a busy range fails with -EBUSY.
#pragma once

#include <cstdint>

namespace tpm {

inline constexpr uint64_t kCrbBase = 0xFED40000;
inline constexpr uint64_t kCrbLocalityStride = 0x1000;
inline constexpr uint32_t kCrbLocalities = 5;
inline constexpr uint64_t kCrbRegisterBytes = kCrbLocalityStride * kCrbLocalities;
// PTP §6.5.3.2: the control area starts at offset 0x40 of the page; the
// TPM2 table's control-area address must be _CRS start + 0x40 for Linux to
// handle localities (tpm-attestation.md §1.2, probe step 3).
inline constexpr uint64_t kCrbControlAreaOffset = 0x40;

inline constexpr uint64_t kCrbBufferGpa = 0xF00000;
// One page; libtpms's largest command and response (TPM_BUFFER_MAX) fit,
// and Linux's TPM_BUFSIZE is the same 4096.
inline constexpr uint32_t kCrbBufferBytes = 0x1000;

inline constexpr uint64_t kEventLogGpa = 0xF01000;
inline constexpr uint32_t kEventLogBytes = 0x10000;

// The vTPM's guest state (hcl-loader --guest-state) reaches VTL2 as an NVMe
// controller of its own with this model number (Identify Controller MN):
// hcl keeps that controller for the vTPM and never offers it to VTL0.
inline constexpr const char* kGuestStateModel = "HCL Guest State";

}  // namespace tpm
