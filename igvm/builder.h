// BuildFromManifest: an IGVM image from a JSON manifest.
//
// The manifest names the platforms, VTL2's memory, the components loaded
// into it (boot shim, kernel, initramfs), a static command line, the
// parameter areas the loader fills, and the entry point. The builder lays
// out identity-mapped page tables and a GDT, renders the entry state for
// every platform (VBS registers, SNP VMSA, TDX reset page), and shares
// page data between platforms (one PAGE_DATA per page, all masks).
//
// Manifest (numbers are JSON integers or "0x..." strings; offsets are from
// vtl2_memory.base; paths are relative to the manifest's directory):
// {
//   "format_version": 1,
//   "platforms": {
//     "vsm": {"highest_vtl": 2},
//     "snp": {"policy": "0x30000", "shared_gpa_boundary": "0x8000000000",
//             "sev_features": "0x1", "vmsa_gpa": "0xfffffffff000"},
//     "tdx": {"policy": "0x0", "shared_gpa_boundary": "0x800000000000"}
//   },
//   "vtl2_memory": {"base": "0x1000000", "size": "0x2000000",
//                   "relocation": {"alignment": "0x200000", "min": "...", "max": "..."}},
//   "components": [{"name": "shim", "path": "shim.bin", "offset": "0x0"}, ...],
//   "command_line": {"offset": "0x...", "text": "console=ttyS0"},
//   "component_table": {"offset": "0x..."},
//   "parameter_area": {"offset": "0x...", "pages": 4,
//                      "parameters": [{"kind": "memory_map", "byte_offset": 0}, ...]},
//   "entry": {"component": "shim", "offset": "0x0", "stack_top": "0x...",
//             "page_tables": "0x..."},
//   "platform_binding": {"offset": "0x..."}
// }
// Parameter kinds: vp_count, memory_map, command_line, madt, srat, slit,
// pptt, mmio_ranges, device_tree, environment_info.
// At entry RSI holds the GPA of the parameter area.
//
// With the snp platform and vsm or tdx, the image gets a platform binding
// page (platform_binding.h): SNP-only page data holding the other
// platforms' directive digests, placed at platform_binding.offset (default:
// the highest free page of VTL2 memory), after every VSM and TDX directive
// and before the SNP VMSA. Nothing may change what those digests cover
// afterwards; signing (an SNP ID block) does not.
//
// The component table is a measured page telling the boot shim where each
// component landed (the host cannot forge it on isolated platforms: it is
// part of the launch digest). Layout, little-endian:
//   u32 magic "HCLC" (0x434C4348), u32 count,
//   then count x {u64 gpa, u64 size_bytes, char name[16] (NUL-padded)}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "file.h"

namespace igvm {

inline constexpr uint32_t kComponentTableMagic = 0x434C4348;  // "HCLC"
inline constexpr size_t kComponentNameBytes = 16;

base::Result<IgvmFile> BuildFromManifest(const std::string& manifest_text,
                                         const std::string& base_directory);
base::Result<IgvmFile> BuildFromManifestFile(const std::string& path);

// Where things landed, for reports (`igvmtool build` prints it).
struct BuildLayout {
  uint64_t vtl2_base = 0;
  uint64_t vtl2_size = 0;
  uint64_t loaded_bytes = 0;  // component bytes in VTL2 memory
};

}  // namespace igvm
