// Event ports: how VTL0's HvCallSignalEvent on a VMBus channel's
// connection reaches hcl without a VTL0 intercept (TLFS "Inter-Partition
// Communication"; hyperv-vmbus.md §4, §5.5), as on Hyper-V. hcl creates an
// event port of VTL2 aimed at SINT7 of a VP with one flag, connects the
// channel's connection id to it, and registers an eventfd for the flag
// with the VTL2 driver, whose SINT7 interrupt signals it.
//
// Over any VtlDriver: the hypercalls go through VtlDriver::Hypercall, the
// eventfd through VtlDriver::SetSintEventfd (a driver without SINT
// eventfds refuses, and the caller keeps the intercept path).
#pragma once

#include <cstdint>

#include "base/result.h"
#include "paravisor/vtl_driver.h"

namespace hcl {

// The SINT the VTL2 driver takes event flags on (kernel-config/mshv_vtl,
// MV_VMBUS_SINT).
inline constexpr uint32_t kEventSint = 7;

// Port `port_id` (24 bits) of VTL2 setting flag `flag` of SINT7 on VP `vp`,
// VTL0's `connection_id` connected to it, eventfd `fd` signalled for the
// flag. On failure nothing stays set up.
base::Result<void> ConnectEventPort(const VtlDriver& driver, uint32_t connection_id,
                                    uint32_t port_id, uint16_t flag, uint32_t vp, int fd);
// Undoes ConnectEventPort (errors are logged, not returned: the channel is
// going away either way).
void DisconnectEventPort(const VtlDriver& driver, uint32_t connection_id, uint32_t port_id,
                         uint16_t flag);

}  // namespace hcl
