// EventPorts: the event ports VTL2 creates in this partition and the VTL0
// connections it connects to them (TLFS "Inter-Partition Communication":
// HvCallCreatePort, HvCallConnectPort, HvCallDeletePort,
// HvCallDisconnectPort; hyperv-vmbus.md §4, §5.5). A VTL0 HvCallSignalEvent
// naming a connected id sets a flag in VTL2's SIEF area of the port's SINT
// on the port's VP, without an intercept: the way a paravisor on Hyper-V
// receives VMBus channel signals.
//
// This is the table only (sans I/O): it validates the four calls' inputs
// and resolves a signal to {VP, SINT, flag}. Setting the flag, raising the
// SINT's vector and kicking the VP are the caller's (vsm/hypercalls.h).
// Not locked: Partition holds it under its mutex.
//
// What this loader supports: event ports only (message, monitor and
// doorbell ports are HV_STATUS_INVALID_PARAMETER), in this partition
// (partition id SELF), at VTL2, with connections from VTL0. A deleted port
// leaves its connections behind; a signal through one fails with
// HV_STATUS_INVALID_PORT_ID (TLFS "HvCallSignalEvent"), also after a new
// port reuses the id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

#include "hv/hypercall_abi.h"
#include "hv/hvdef.h"

namespace loader::vsm {

class EventPorts {
 public:
  // Bounds on what VTL2 may create (a table past them answers
  // HV_STATUS_INSUFFICIENT_MEMORY): one port and connection per VMBus
  // channel is far below.
  static constexpr size_t kMaxPorts = 2048;
  static constexpr size_t kMaxConnections = 2048;
  // TLFS "SynIC Event Flags": 2048 flags per SINT area.
  static constexpr uint32_t kFlagsPerSint = hv::kMessageBytes * 8;
  // The VTL ports live in and the VTL their connections come from.
  static constexpr uint8_t kPortVtl = 2;
  static constexpr uint8_t kConnectionVtl = 0;

  explicit EventPorts(uint32_t vp_count) : vp_count_(vp_count) {}

  // The calls, made by VTL2 (the handler refuses VTL0 before).
  hv::Status Create(const hv::CreatePortInput& in);
  hv::Status Connect(const hv::ConnectPortInput& in);
  hv::Status Delete(const hv::DeletePortInput& in);
  hv::Status Disconnect(const hv::DisconnectPortInput& in);

  // Where a signal on connection `connection_id` of VTL `vtl` with
  // relative flag `flag` goes: status kSuccess and the SIEF bit to set, or
  // the call's error status. nullopt: no such connection (the caller's
  // unknown-connection path: VTL2's intercept, or
  // HV_STATUS_INVALID_CONNECTION_ID).
  struct Target {
    uint32_t vp = 0;
    uint8_t vtl = 0;
    uint32_t sint = 0;
    uint32_t flag = 0;  // absolute: base_flag_number + flag
  };
  struct Signal {
    hv::Status status = hv::Status::kSuccess;
    Target target;
  };
  std::optional<Signal> Resolve(uint8_t vtl, uint32_t connection_id, uint32_t flag) const;

  size_t port_count() const { return ports_.size(); }
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Port {
    uint64_t serial = 0;  // distinguishes a re-created port from a deleted one
    uint8_t min_connection_vtl = 0;
    uint32_t sint = 0;
    uint32_t vp = 0;
    uint16_t base_flag = 0;
    uint16_t flag_count = 0;
  };
  struct Connection {
    uint32_t port_id = 0;
    uint64_t port_serial = 0;
  };

  const uint32_t vp_count_;
  uint64_t next_serial_ = 1;
  std::map<uint32_t, Port> ports_;              // by port id
  std::map<uint32_t, Connection> connections_;  // VTL0's, by connection id
};

}  // namespace loader::vsm
