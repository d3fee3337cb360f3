// MshvVtl: hcl's handle on the VTL2 kernel driver (kernel-config/mshv_vtl,
// the upstream mshv_vtl user API: uapi/mshv.h): the VTL fd with its
// per-CPU run pages, VTL0 register access, hypercall pass-through, the
// mapping of VTL0's memory, and VTL0's event signals through event ports
// and SINT7 eventfds. The same calls work on Hyper-V.
//
// Event ports (TLFS "Inter-Partition Communication"; hyperv-vmbus.md §4,
// §5.5; paravisor/event_ports.h): hcl creates a VTL2 event port targeting SINT7 of a
// VP, connects the connection id VTL0 signals (a VMBus offer's
// connection_id) to it, and registers an eventfd per flag with
// SetSintEventfd. A VTL0 HvCallSignalEvent then sets the flag in VTL2's
// SIEF area of SINT7 on that VP; the driver's SINT7 interrupt clears it
// and signals the eventfd. No VTL0 intercept, no VP loop involved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "hv/hvdef.h"
#include "mshv.h"
#include "os/mapping.h"
#include "os/unique_fd.h"
#include "paravisor/vtl_driver.h"

namespace hcl {

// /dev/mshv_hvcall: hypercalls from user mode, limited to the call codes
// given at Open (MSHV_HVCALL_SETUP's allow bitmap, codes 0-4095; each open
// file has its own). MshvVtl holds one; hcl opens another before the VTL
// exists, to share its DMA pool with the host on an isolated partition.
class HvcallFile {
 public:
  static base::Result<HvcallFile> Open(std::span<const ::hv::CallCode> allowed,
                                       const char* path = "/dev/mshv_hvcall");
  // MSHV_HVCALL: the status. `control` holds the code and rep count; input
  // and output at most a page each.
  base::Result<::hv::Status> Call(uint64_t control, std::span<const std::byte> input,
                                  std::span<std::byte> output) const;

 private:
  HvcallFile() = default;
  os::UniqueFd fd_;
};

class MshvVtl final : public VtlDriver {
 public:
  // Opens /dev/mshv, creates the VTL, opens /dev/mshv_hvcall with the
  // calls hcl makes allowed, and /dev/mshv_vtl_low.
  static base::Result<MshvVtl> Open();

  // This CPU's run page (struct mshv_vtl_run), mapped once.
  base::Result<mshv_vtl_run*> MapRunPage(uint32_t cpu) override;
  // This CPU's register page, if MSHV_CAP_REGISTER_PAGE.
  base::Result<::hv::VpRegisterPage*> MapRegisterPage(uint32_t cpu) override;
  // MSHV_RETURN_TO_LOWER_VTL: runs VTL0 on the calling CPU until it needs
  // VTL2. false: interrupted (a signal, or run->cancel).
  base::Result<bool> ReturnToLowerVtl() const override;
  // VTL0's registers (MSHV_GET/SET_VP_REGISTERS, this CPU's VP).
  base::Result<void> GetRegisters(std::span<hv_register_assoc> registers) const override;
  base::Result<void> SetRegisters(std::span<const hv_register_assoc> registers) const override;
  // A hypercall through the driver (MSHV_HVCALL): the status. `control`
  // holds the code and rep count; input and output at most a page each.
  base::Result<::hv::Status> Hypercall(uint64_t control, std::span<const std::byte> input,
                                       std::span<std::byte> output) const override;
  // MSHV_ADD_VTL0_MEMORY, then a write-back mapping of it through
  // /dev/mshv_vtl_low.
  base::Result<std::span<std::byte>> MapVtl0(uint64_t start, uint64_t end);

  base::Result<void> SetSintEventfd(uint32_t flag, int fd) const override;

 private:
  explicit MshvVtl(HvcallFile hvcall) : hvcall_(std::move(hvcall)) {}
  os::UniqueFd mshv_;
  os::UniqueFd vtl_;
  HvcallFile hvcall_;
  os::UniqueFd low_;
  os::UniqueFd sint_;
  std::vector<os::Mapping> cpu_pages_;  // run pages and register pages
  std::vector<os::Mapping> vtl0_mappings_;
};

}  // namespace hcl
