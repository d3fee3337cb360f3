// TapBackend: `--nic tap=IFNAME`, the guest's frames on a host tap
// interface (Linux's tun driver, Documentation/networking/tuntap.rst), for
// a guest that must sit on a real bridge or talk IPv6. The interface is
// whatever the host made of it (a persistent tap: `ip tuntap add IFNAME
// mode tap user USER`, bridged or addressed); opening it needs
// CAP_NET_ADMIN or to be its owner. As QEMU does, a name no interface has
// yet becomes a new tap (root only) that goes away with this backend.
//
// Threads: one thread reads frames from the tap (poll on it and on an
// eventfd that stops the thread) and hands them to the receive callback.
// Transmit writes straight to the non-blocking fd from the caller's
// thread: the kernel queues the frame, or refuses it (queue full, or the
// interface down) and the frame is dropped and counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "base/result.h"
#include "net/backend.h"
#include "os/unique_fd.h"

namespace loader::net {

class TapBackend final : public Backend {
 public:
  // `spec.kind` is kTap. Opens /dev/net/tun and attaches to the interface.
  static base::Result<std::unique_ptr<TapBackend>> Create(const NicSpec& spec);
  ~TapBackend() override;
  TapBackend(const TapBackend&) = delete;
  TapBackend& operator=(const TapBackend&) = delete;

  base::Result<void> Start(Receive receive) override;
  void Transmit(std::span<const std::byte> frame) override;
  uint64_t transmit_drops() const override { return drops_.load(std::memory_order_relaxed); }

  // The interface's name as the kernel has it.
  const std::string& interface_name() const { return name_; }

 private:
  TapBackend() = default;
  void Run();

  std::string name_;
  os::UniqueFd tap_;
  os::UniqueFd stop_;  // eventfd
  Receive receive_;
  std::thread thread_;
  std::atomic<uint64_t> drops_{0};
};

}  // namespace loader::net
