// net::Backend: the host side of an emulated NIC, where the guest's
// Ethernet frames go and where frames for the guest come from, chosen the
// way QEMU users expect (hcl-loader --nic / --nic-vtl0):
//   user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
//       user-mode networking through libslirp (slirp_backend.h): the guest
//       is 10.0.2.15 by DHCP, gateway 10.0.2.2, DNS 10.0.2.3; each hostfwd=
//       opens a host port forwarded to the guest;
//   tap=IFNAME
//       an existing host tap interface (tap_backend.h).
//
// Frames are whole Ethernet frames without the FCS. Transmit may be called
// from any thread (a VP thread ringing a doorbell) and never blocks on the
// network: it queues, and the backend's own thread moves the frame out. The
// receive callback runs on the backend's thread, one frame at a time; the
// device copies the frame before it returns.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace loader::net {

// The user-mode network, QEMU's layout (what guests and users expect of
// "user"): addresses as host-order 32-bit values.
inline constexpr uint32_t kUserNetwork = 0x0A000200;  // 10.0.2.0/24
inline constexpr uint32_t kUserNetmask = 0xFFFFFF00;
inline constexpr uint32_t kUserGateway = 0x0A000202;  // 10.0.2.2, also the host
inline constexpr uint32_t kUserDns = 0x0A000203;      // 10.0.2.3
inline constexpr uint32_t kUserGuest = 0x0A00020F;    // 10.0.2.15, DHCP's first lease

struct HostForward {
  bool udp = false;            // tcp: (default) or udp:
  std::string host_address;    // empty: 0.0.0.0 (QEMU's default)
  uint16_t host_port = 0;
  std::string guest_address;   // empty: the guest's DHCP address, 10.0.2.15
  uint16_t guest_port = 0;
};

struct NicSpec {
  enum class Kind { kUser, kTap } kind = Kind::kUser;
  std::vector<HostForward> forwards;  // kUser
  std::string tap_name;               // kTap
};

// "user[,hostfwd=...]..." or "tap=IFNAME"; an error names what is wrong in
// one line (hcl-loader exits 2 with it).
base::Result<NicSpec> ParseNicSpec(const std::string& text);
// The spec as text again (the carrier relaunch rewrites and re-emits it).
std::string FormatNicSpec(const NicSpec& spec);

// "tcp 127.0.0.1:5555" (0.0.0.0 for an empty host address): how errors
// name a forward's host end.
std::string DescribeHostEnd(const HostForward& forward);
// The host end's address (INADDR_ANY for an empty one; ParseNicSpec
// checked the text), in network order as sockets and libslirp take it.
in_addr HostEndAddress(const HostForward& forward);
// Each hostfwd's host end can be bound now (a socket like libslirp's, with
// SO_REUSEADDR, bound then closed): hcl-loader asks before it relaunches in
// the carrier, whose QEMU would otherwise refuse a port in use with exit
// 125. A port taken between this check and the bind still fails there.
base::Result<void> CheckForwardsFree(const NicSpec& spec);

class Backend {
 public:
  using Receive = std::function<void(std::span<const std::byte> frame)>;
  virtual ~Backend() = default;
  // Starts the backend's thread; `receive` gets every frame for the guest.
  // Called once, before the first Transmit.
  virtual base::Result<void> Start(Receive receive) = 0;
  // Queues one frame toward the outside (dropped, and counted, when the
  // queue is full: a NIC's transmit ring does the same).
  virtual void Transmit(std::span<const std::byte> frame) = 0;
  // Frames Transmit dropped so far (queue full, or not a frame at all).
  virtual uint64_t transmit_drops() const { return 0; }
};

// Opens what `spec` names (binds the hostfwd ports, opens the tap).
base::Result<std::unique_ptr<Backend>> CreateBackend(const NicSpec& spec);

}  // namespace loader::net
