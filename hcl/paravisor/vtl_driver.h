// VtlDriver: the calls hcl's VTL0-facing code makes into the VTL2 driver
// (the upstream mshv_vtl user API, kernel-config/mshv_vtl/uapi/mshv.h):
// the VP's run page, the return to VTL0, VTL0's registers, hypercalls.
// MshvVtl implements it over the real device nodes; unit tests and fuzz
// targets implement it with a fake (paravisor/testing/fake_driver.h), so
// the intercept handling and the VMBus glue build and run natively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.h"
#include "hv/hvdef.h"
#include "mshv.h"

namespace hcl {

class VtlDriver {
 public:
  virtual ~VtlDriver() = default;

  // This CPU's run page (struct mshv_vtl_run), mapped once.
  virtual base::Result<mshv_vtl_run*> MapRunPage(uint32_t cpu) = 0;
  // This CPU's register page (uapi/mshv.h MSHV_REG_PAGE_OFFSET; hv/hvdef.h
  // VpRegisterPage), mapped once; an error if the driver or the hypervisor
  // has none (intercepts are then completed with SetRegisters).
  virtual base::Result<::hv::VpRegisterPage*> MapRegisterPage(uint32_t cpu) {
    (void)cpu;
    return base::Error("no register page in this driver");
  }
  // MSHV_RETURN_TO_LOWER_VTL: runs VTL0 on the calling CPU until it needs
  // VTL2. false: interrupted (a signal, or run->cancel).
  virtual base::Result<bool> ReturnToLowerVtl() const = 0;
  // VTL0's registers (MSHV_GET/SET_VP_REGISTERS, this CPU's VP).
  virtual base::Result<void> GetRegisters(std::span<hv_register_assoc> registers) const = 0;
  virtual base::Result<void> SetRegisters(std::span<const hv_register_assoc> registers) const = 0;
  // A hypercall through the driver (MSHV_HVCALL): the status. `control`
  // holds the code and rep count; input and output at most a page each.
  virtual base::Result<::hv::Status> Hypercall(uint64_t control, std::span<const std::byte> input,
                                               std::span<std::byte> output) const = 0;
  // MSHV_SINT_SET_EVENTFD: eventfd `fd` is signalled when SINT7's event
  // flag `flag` (< 2048) is set (an event port's; paravisor/event_ports.h);
  // fd -1 removes it. A driver without it refuses, and VTL0's signals then
  // reach hcl as intercepts.
  virtual base::Result<void> SetSintEventfd(uint32_t flag, int fd) const {
    (void)flag;
    (void)fd;
    return base::Error("SINT eventfds are not supported by this driver");
  }
};

}  // namespace hcl
