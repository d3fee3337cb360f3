// Loading the VSM (Hyper-V VBS, non-isolated) platform of an IGVM image
// into guest RAM (igvm.md §1.3-1.4):
//   - the platform is the file's VSM_ISOLATION SUPPORTED_PLATFORM; masked
//     directives apply when (mask & its bit) != 0, unmasked ones always;
//   - directives are processed in file order;
//   - PAGE_DATA is copied to its GPA (file_offset 0: a page of zeros);
//   - a PARAMETER_AREA is a buffer whose parameters are filled with real
//     values when its PARAMETER_INSERT is reached, then copied to the
//     insert's GPA;
//   - VP_CONTEXT for VP 0 becomes the BSP's entry state;
//   - PAGE_DATA and PARAMETER_INSERT must lie inside the VSM platform's
//     REQUIRED_MEMORY ranges (VTL2's memory, withheld from VTL0): an image
//     cannot place VTL2 code or data where VTL0 can write it (security
//     review 2026-12, finding 15).
// Loading trusts nothing about the image beyond the reader's format
// checks; whether it is the one its signer meant is image_trust.h's
// question, asked before.
// Guest RAM is reached only through mem::GuestMemory; nothing here talks
// to KVM, so the whole load is unit-tested against a plain buffer.
//
// Not yet: VP contexts for VPs other than 0, relocation (RELOCATABLE_
// REGION), SRAT / SLIT / PPTT / MMIO_RANGES / DEVICE_TREE parameters
// (refused with a message naming them), the isolated platforms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "acpi_madt.h"
#include "base/result.h"
#include "file.h"
#include "mem/guest_memory.h"
#include "memory_layout.h"
#include "vp_state.h"

namespace loader {

struct LoadOptions {
  uint32_t vp_count = 1;
  std::string vtl2_command_line;  // the COMMAND_LINE parameter
  // The I/O APIC the machine has (KVM's in-kernel one), for the MADT.
  std::optional<IoApicConfig> io_apic;
};

struct LoadedImage {
  uint32_t compatibility_mask = 0;  // the VSM platform's bit
  uint8_t highest_vtl = 0;
  X64VpState bsp;                   // VP 0's entry state
  std::vector<RequiredRange> required_memory;
  std::vector<igvm::wire::MemoryMapEntry> memory_map;
  uint64_t pages_loaded = 0;     // PAGE_DATA pages written
  uint64_t parameter_pages = 0;  // pages written by PARAMETER_INSERTs
};

// The VSM platform header, or an error if the image has none.
base::Result<igvm::wire::SupportedPlatform> FindVsmPlatform(const igvm::IgvmFile& file);

// VTL2's memory: the VSM platform's REQUIRED_MEMORY ranges plus the
// loader's low range (memory_layout.h, kVtl2LowMemory).
base::Result<std::vector<RequiredRange>> Vtl2Ranges(const igvm::IgvmFile& file);

// Loads the VSM platform into `ram`, which must start at GPA 0 and be the
// whole of guest RAM (its size is what the memory map describes).
base::Result<LoadedImage> LoadVsmPlatform(const igvm::IgvmFile& file, const LoadOptions& options,
                                          mem::GuestMemory& ram);

}  // namespace loader
