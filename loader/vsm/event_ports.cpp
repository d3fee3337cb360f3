#include "vsm/event_ports.h"

namespace loader::vsm {
namespace {

using hv::Status;

// HV_PARTITION_ID_INVALID: "no partition" where the TLFS allows one.
constexpr uint64_t kNoPartition = 0;

}  // namespace

hv::Status EventPorts::Create(const hv::CreatePortInput& in) {
  // TLFS "HvCallCreatePort": the port and the partition allowed to connect
  // are both this one (or none) here.
  if (in.port_partition_id != hv::kPartitionSelf) return Status::kInvalidPartitionId;
  if (in.connection_partition_id != hv::kPartitionSelf &&
      in.connection_partition_id != kNoPartition)
    return Status::kInvalidPartitionId;
  if ((in.port_id & ~hv::kPortIdMask) != 0 || in.reserved != 0) return Status::kInvalidParameter;
  if (in.port_vtl != kPortVtl || in.min_connection_vtl > kPortVtl)
    return Status::kInvalidParameter;
  const hv::PortInfo& info = in.port_info;
  // HV_PORT_INFO: reserved subfields must be zero.
  if (info.port_type != hv::port_type::kEvent || info.padding != 0 || info.reserved != 0)
    return Status::kInvalidParameter;
  if (info.target_sint >= hv::kSintCount || info.flag_count == 0 ||
      uint32_t{info.base_flag_number} + info.flag_count > kFlagsPerSint)
    return Status::kInvalidParameter;
  if (info.target_vp >= vp_count_) return Status::kInvalidVpIndex;
  if (ports_.contains(in.port_id)) return Status::kInvalidPortId;
  if (ports_.size() >= kMaxPorts) return Status::kInsufficientMemory;
  ports_.emplace(in.port_id, Port{next_serial_++, in.min_connection_vtl, info.target_sint,
                                  info.target_vp, info.base_flag_number, info.flag_count});
  return Status::kSuccess;
}

hv::Status EventPorts::Connect(const hv::ConnectPortInput& in) {
  // TLFS "HvCallConnectPort".
  if (in.connection_partition_id != hv::kPartitionSelf ||
      in.port_partition_id != hv::kPartitionSelf)
    return Status::kInvalidPartitionId;
  if ((in.connection_id & ~hv::kPortIdMask) != 0 || (in.port_id & ~hv::kPortIdMask) != 0 ||
      in.reserved0 != 0 || in.reserved1 != 0 || in.reserved2 != 0)
    return Status::kInvalidParameter;
  if (in.connection_vtl != kConnectionVtl) return Status::kInvalidParameter;
  const auto port = ports_.find(in.port_id);
  if (port == ports_.end()) return Status::kInvalidPortId;
  // HV_CONNECTION_INFO names the port's type; an event connection has no
  // fields of its own.
  const hv::ConnectionInfo& info = in.connection_info;
  if (info.port_type != hv::port_type::kEvent || info.padding != 0 || info.reserved[0] != 0 ||
      info.reserved[1] != 0 || info.reserved[2] != 0)
    return Status::kInvalidParameter;
  if (in.connection_vtl < port->second.min_connection_vtl) return Status::kAccessDenied;
  if (connections_.contains(in.connection_id)) return Status::kInvalidConnectionId;
  if (connections_.size() >= kMaxConnections) return Status::kInsufficientMemory;
  connections_.emplace(in.connection_id, Connection{in.port_id, port->second.serial});
  return Status::kSuccess;
}

hv::Status EventPorts::Delete(const hv::DeletePortInput& in) {
  // TLFS "HvCallDeletePort".
  if (in.port_partition_id != hv::kPartitionSelf) return Status::kInvalidPartitionId;
  if (in.reserved != 0 || (in.port_id & ~hv::kPortIdMask) != 0) return Status::kInvalidParameter;
  return ports_.erase(in.port_id) == 1 ? Status::kSuccess : Status::kInvalidPortId;
}

hv::Status EventPorts::Disconnect(const hv::DisconnectPortInput& in) {
  // TLFS "HvCallDisconnectPort": no doorbells here.
  if (in.connection_partition_id != hv::kPartitionSelf) return Status::kInvalidPartitionId;
  if (in.flags != 0 || (in.connection_id & ~hv::kPortIdMask) != 0)
    return Status::kInvalidParameter;
  return connections_.erase(in.connection_id) == 1 ? Status::kSuccess
                                                   : Status::kInvalidConnectionId;
}

std::optional<EventPorts::Signal> EventPorts::Resolve(uint8_t vtl, uint32_t connection_id,
                                                      uint32_t flag) const {
  if (vtl != kConnectionVtl) return std::nullopt;
  const auto connection = connections_.find(connection_id);
  if (connection == connections_.end()) return std::nullopt;
  // TLFS "HvCallSignalEvent": the connection's port was deleted ->
  // HV_STATUS_INVALID_PORT_ID; a flag beyond the port's count ->
  // HV_STATUS_INVALID_PARAMETER.
  const auto port = ports_.find(connection->second.port_id);
  if (port == ports_.end() || port->second.serial != connection->second.port_serial)
    return Signal{Status::kInvalidPortId, {}};
  if (flag >= port->second.flag_count) return Signal{Status::kInvalidParameter, {}};
  return Signal{Status::kSuccess, Target{port->second.vp, kPortVtl, port->second.sint,
                                         uint32_t{port->second.base_flag} + flag}};
}

}  // namespace loader::vsm
