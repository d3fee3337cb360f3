#include "paravisor/event_ports.h"

#include <cstdio>

#include "hv/hypercall_abi.h"

namespace hcl {
namespace {

template <typename T>
base::Result<void> Call(const VtlDriver& driver, ::hv::CallCode code, const T& input,
                        const char* what) {
  const ::hv::Status status = TRY(driver.Hypercall(static_cast<uint64_t>(code),
                                                   std::as_bytes(std::span(&input, 1)), {}));
  if (status != ::hv::Status::kSuccess)
    return base::Error::Format("%s: status %#x", what, static_cast<unsigned>(status));
  return base::Ok();
}

}  // namespace

base::Result<void> ConnectEventPort(const VtlDriver& driver, uint32_t connection_id,
                                    uint32_t port_id, uint16_t flag, uint32_t vp, int fd) {
  // The eventfd first: once connected, a signal must find it.
  TRY(driver.SetSintEventfd(flag, fd));
  // The port is VTL2's; only VTL0 connects to it (minimum connection VTL 0).
  if (auto created = Call(driver, ::hv::CallCode::kCreatePort,
                          ::hv::EventPort(port_id, 2, 0, kEventSint, vp, flag, 1),
                          "HvCallCreatePort");
      !created) {
    (void)driver.SetSintEventfd(flag, -1);
    return created;
  }
  if (auto connected = Call(driver, ::hv::CallCode::kConnectPort,
                            ::hv::EventConnection(connection_id, 0, port_id),
                            "HvCallConnectPort");
      !connected) {
    ::hv::DeletePortInput remove;
    remove.port_id = port_id;
    (void)Call(driver, ::hv::CallCode::kDeletePort, remove, "HvCallDeletePort");
    (void)driver.SetSintEventfd(flag, -1);
    return connected;
  }
  return base::Ok();
}

void DisconnectEventPort(const VtlDriver& driver, uint32_t connection_id, uint32_t port_id,
                         uint16_t flag) {
  ::hv::DisconnectPortInput disconnect;
  disconnect.connection_id = connection_id;
  ::hv::DeletePortInput remove;
  remove.port_id = port_id;
  for (auto done : {Call(driver, ::hv::CallCode::kDisconnectPort, disconnect,
                         "HvCallDisconnectPort"),
                    Call(driver, ::hv::CallCode::kDeletePort, remove, "HvCallDeletePort"),
                    driver.SetSintEventfd(flag, -1)})
    if (!done) std::fprintf(stderr, "hcl: vmbus: event port %#x: %s\n", port_id,
                            done.error().message().c_str());
}

}  // namespace hcl
