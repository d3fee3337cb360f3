// The machine hcl-loader builds from the image and the command line: the
// KVM system, guest RAM and each VTL's view of it (vsm/vtl_view.h), VTL2's
// VM and vCPUs with the image loaded, and, unless --no-vtl0, VTL0's VM
// with its Linux loaded (loader/vtl0/). Devices and threads are main's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "cli_options.h"
#include "file.h"
#include "hyperv/cpuid_leaves.h"
#include "igvm_loader.h"
#include "kvm/guest_ram.h"
#include "kvm/system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "mem/guest_memory.h"
#include "vsm/vtl0_protections.h"
#include "vsm/vtl_view.h"
#include "vtl0/linux_loader.h"

namespace loader {

// VTL0's side of the machine (vsm/partition.h): a second KVM VM over the
// same RAM without VTL2's ranges, its vCPUs, and what it was booted with.
struct Vtl0Machine {
  std::unique_ptr<vsm::VtlView> view;  // VTL0's mapping of RAM, with its overlays
  kvm::Vm vm;
  std::vector<kvm::Vcpu> vcpus;
  std::vector<vtl0::RamRange> ram;
  hyperv::HvConfig hv;
  vtl0::LinuxBootLayout layout;
  // VTL0's RAM memory slots by slot number (empty: free).
  std::vector<std::optional<vsm::Vtl0Protections::Slot>> slots;
};

struct Machine {
  kvm::KvmSystem system;
  kvm::GuestRam ram;
  // VTL2's mapping of RAM, with its overlay pages: its VM's memory slot,
  // and what the loader reads and writes on VTL2's behalf.
  std::unique_ptr<vsm::VtlView> vtl2_view;
  kvm::Vm vm;
  std::vector<kvm::Vcpu> vcpus;  // index = VP index = vCPU id = APIC ID
  mem::GuestMemory memory;       // over ram: loading the image and VTL0's kernel only
  hyperv::HvConfig hv;       // the Hyper-V interface (hv/cpuid_leaves.h)
  LoadedImage image;
  std::optional<Vtl0Machine> vtl0;
};

base::Result<Machine> BuildMachine(const Options& options, const igvm::IgvmFile& file);

// Makes VTL0's VM's RAM slots match a protection layout (vsm/partition.h
// calls it under its lock when ModifyVtlProtectionMask changes them).
base::Result<void> RemapVtl0(Vtl0Machine& vtl0, std::span<const vsm::Vtl0Protections::Slot> slots);

}  // namespace loader
