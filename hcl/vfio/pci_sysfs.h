// What VTL2's kernel knows about its PCI functions, read from sysfs
// (/sys/bus/pci/devices/DDDD:BB:DD.F/{vendor,device,class}), and the small
// sysfs writes that hand a function to vfio-pci (nvme-vfio.md §8 step 2).
//
// How VTL2 finds its PCI bus: the image's measured command line
// (igvm/openhcl-x64.json.in) says `pci=lastbus=1`. VTL2 Linux runs with
// ACPI (MADT, S5), but the shim's DSDT describes no host bridge, and with
// ACPI on, x86 Linux scans PCI only below ACPI host bridges; its one other
// path is the "peer bridge fixup", which looks at buses 0..lastbus through
// the 0xCF8 mechanism and scans each one that answers
// (arch/x86/pci/legacy.c pcibios_fixup_peer_bridges; a lastbus of 0 is
// ignored there, hence 1; bus 1 is empty and costs 32 config reads).
// Not `pci=noacpi`, the obvious choice: it also sets acpi_noirq, so the
// I/O APICs in the MADT are ignored, and without MPPARSE the kernel then
// disables the local APIC (acpi_mps_check): one CPU, no MSI domain (tried).
// Not a PNP0A03 device in VTL2's DSDT: that needs AML in the shim and a
// window passed from the loader (an allow-listed host option would let the
// host steer it). The command line is measured with the image, and hcl
// needs nothing ACPI would add: the host places every BAR "as firmware"
// (loader/devices/vtl_pci_bus.h kVtl2PciWindow) and the devices interrupt
// by MSI-X only (no _PRT). Without a PCI bus (no --disk) nothing answers
// on bus 0 and VTL2 boots as before.
//
// Sysfs text is kernel-formatted but parsed strictly anyway (hex with a
// 0x prefix, bounded), so a surprise fails one device, not hcl.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hcl::vfio {

// PCI Code and ID Assignment Specification: base class 01h (mass storage),
// subclass 08h (non-volatile memory), programming interface 02h (NVM
// Express I/O controller). Linux's nvme driver binds by this class.
inline constexpr uint32_t kNvmeClassCode = 0x010802;

struct PciFunction {
  std::string address;  // DDDD:BB:DD.F, as sysfs names it
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t class_code = 0;  // 24 bits: base class, subclass, interface
};

// "0x1b36\n" → 0x1b36; at most `max`; anything else fails.
base::Result<uint32_t> ParseSysfsHex(std::string_view text, uint32_t max);
// DDDD:BB:DD.F in lower-case hex, device < 32, function < 8 (the names
// the kernel gives PCI devices in sysfs, pci_setup_device).
bool IsPciAddress(std::string_view name);
// One lspci-like line: "0000:00:01.0 1b36:0010 class 010802".
std::string Describe(const PciFunction& function);

// Every function under `devices_dir` (normally /sys/bus/pci/devices),
// sorted by address. Entries that are not PCI addresses or whose files do
// not parse are skipped, each with a line in `skipped`.
base::Result<std::vector<PciFunction>> ListPciFunctions(const std::string& devices_dir,
                                                         std::vector<std::string>& skipped);

// The small sysfs file operations (whole-value reads and writes).
base::Result<std::string> ReadSysfs(const std::string& path);
base::Result<void> WriteSysfs(const std::string& path, std::string_view text);

}  // namespace hcl::vfio
