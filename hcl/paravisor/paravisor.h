// The paravisor proper: hcl serving VTL0 (DESIGN.md). Opens the VTL2
// driver, maps VTL0's RAM, installs the intercepts hcl serves (COM1's
// ports; PostMessage/SignalEvent to unknown connections, for VMBus),
// offers a SCSI controller per disk, and starts one VpRunner thread per CPU, each pinned to its CPU, which
// return to VTL0 and serve its intercepts from then on.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/result.h"
#include "block/device.h"
#include "cmdline.h"
#include "nvme/driver/os_interfaces.h"

namespace hcl {

class FramePort;

// What hcl does when VTL0 cannot go on (a triple fault, an instruction the
// hypervisor cannot run: TLFS HvMessageTypeUnrecoverableException). Resetting
// VTL0 alone is not supported yet, so the policy is to power the machine
// off, with the reason on the console. Never returns.
using Vtl0FatalPolicy = std::function<void(const char* reason)>;

// A disk VTL2 serves to VTL0: the device (an NVMe namespace), and the DMA
// pool its guest I/O bounces through, or null for zero copy (PRPs straight
// at VTL0's pages; only where VTL0's RAM is not private).
struct ParavisorDisk {
  block::Device* device = nullptr;
  nvme::driver::DmaPool* bounce_pool = nullptr;
  uint64_t bounce_budget_bytes = 0;  // the most of the pool this disk holds at once
};
// The most one bounced request holds (storvsc learns it as the disk's
// maximum transfer length), and the bounce space hcl adds to its DMA pool
// per NVMe controller, shared out among its namespaces.
inline constexpr uint32_t kBounceRequestBytes = 256 * 1024;
inline constexpr uint64_t kBounceBytesPerController = 1024 * 1024;

// Starts VTL0 on every online CPU; returns the number of VPs started.
// The threads run until the machine powers off. Each of `disks` (they must
// live as long as the process) becomes a Hyper-V synthetic SCSI controller
// on VMBus for VTL0, in order.
// The vTPM's guest state (hcl-loader --guest-state): an NVMe namespace of a
// controller hcl keeps for itself (tpm::kGuestStateModel says which), and
// that controller's DMA pool.
struct GuestStateDevice {
  block::Device* device = nullptr;
  nvme::driver::DmaPool* pool = nullptr;
};
// `nic`: VTL2's NIC (the MANA VF hcl drives): netvsp's back end, its MAC
// the synthetic NIC's; null: no synthetic NIC (unless hcl.netvsp=unbacked).
base::Result<uint32_t> StartParavisor(const Options& options, Vtl0FatalPolicy on_vtl0_fatal,
                                      std::span<const ParavisorDisk> disks = {},
                                      GuestStateDevice guest_state = {},
                                      FramePort* nic = nullptr);

}  // namespace hcl
