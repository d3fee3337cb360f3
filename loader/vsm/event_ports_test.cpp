// VTL2's event ports and VTL0's connections (vsm/event_ports.h), the
// table alone; the hypercalls around it are in hypercalls_test.cpp.
#include "vsm/event_ports.h"

#include <doctest/doctest.h>

namespace {

using hv::Status;
using loader::vsm::EventPorts;

constexpr uint32_t kVps = 4;

}  // namespace

TEST_CASE("event ports: a connected id resolves to base + flag on the port's VP and SINT") {
  EventPorts ports(kVps);
  CHECK(ports.Create(hv::EventPort(0x10, 2, 0, 7, 3, 100, 4)) == Status::kSuccess);
  CHECK(ports.Connect(hv::EventConnection(0x2007, 0, 0x10)) == Status::kSuccess);
  const auto signal = ports.Resolve(0, 0x2007, 3);
  REQUIRE(signal);
  CHECK(signal->status == Status::kSuccess);
  CHECK(signal->target.vp == 3);
  CHECK(signal->target.vtl == 2);
  CHECK(signal->target.sint == 7);
  CHECK(signal->target.flag == 103);
  // TLFS "HvCallSignalEvent": a flag past the port's count is refused.
  CHECK(ports.Resolve(0, 0x2007, 4)->status == Status::kInvalidParameter);
  CHECK(ports.Resolve(0, 0x2007, 0xFFFF)->status == Status::kInvalidParameter);
  // Unknown ids, and VTL2's own signals, are not this table's.
  CHECK_FALSE(ports.Resolve(0, 0x2008, 0));
  CHECK_FALSE(ports.Resolve(2, 0x2007, 0));
}

TEST_CASE("event ports: inputs checked against the TLFS layouts' rules") {
  EventPorts ports(kVps);
  // Flags past the 2048 of a SINT area, no flags, SINT 16, VP out of range.
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 2047, 2)) == Status::kInvalidParameter);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 0xFFFF, 0xFFFF)) == Status::kInvalidParameter);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 0, 0)) == Status::kInvalidParameter);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 16, 0, 0, 1)) == Status::kInvalidParameter);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, kVps, 0, 1)) == Status::kInvalidVpIndex);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0xFFFFFFFE, 0, 1)) == Status::kInvalidVpIndex);
  // Ports in VTL0 or VTL1, 32-bit ids, message ports, reserved bits.
  CHECK(ports.Create(hv::EventPort(1, 0, 0, 7, 0, 0, 1)) == Status::kInvalidParameter);
  CHECK(ports.Create(hv::EventPort(0x01000001, 2, 0, 7, 0, 0, 1)) == Status::kInvalidParameter);
  auto message_port = hv::EventPort(1, 2, 0, 7, 0, 0, 1);
  message_port.port_info.port_type = hv::port_type::kMessage;
  CHECK(ports.Create(message_port) == Status::kInvalidParameter);
  auto reserved = hv::EventPort(1, 2, 0, 7, 0, 0, 1);
  reserved.port_info.reserved = 1;
  CHECK(ports.Create(reserved) == Status::kInvalidParameter);
  auto other_partition = hv::EventPort(1, 2, 0, 7, 0, 0, 1);
  other_partition.port_partition_id = 5;
  CHECK(ports.Create(other_partition) == Status::kInvalidPartitionId);
  CHECK(ports.port_count() == 0);
  // The last flag of the area is fine; the same id twice is not.
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 2047, 1)) == Status::kSuccess);
  CHECK(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 0, 1)) == Status::kInvalidPortId);
  // Connections: to a missing port, from VTL2, twice, of another type.
  CHECK(ports.Connect(hv::EventConnection(9, 0, 2)) == Status::kInvalidPortId);
  CHECK(ports.Connect(hv::EventConnection(9, 2, 1)) == Status::kInvalidParameter);
  auto message_connection = hv::EventConnection(9, 0, 1);
  message_connection.connection_info.port_type = hv::port_type::kMessage;
  CHECK(ports.Connect(message_connection) == Status::kInvalidParameter);
  CHECK(ports.Connect(hv::EventConnection(0x01000009, 0, 1)) == Status::kInvalidParameter);
  CHECK(ports.Connect(hv::EventConnection(9, 0, 1)) == Status::kSuccess);
  CHECK(ports.Connect(hv::EventConnection(9, 0, 1)) == Status::kInvalidConnectionId);
  // A port only VTL2 may connect to refuses VTL0's connection.
  CHECK(ports.Create(hv::EventPort(2, 2, 2, 7, 0, 0, 1)) == Status::kSuccess);
  CHECK(ports.Connect(hv::EventConnection(10, 0, 2)) == Status::kAccessDenied);
}

TEST_CASE("event ports: a deleted port fails its connections, also once its id is reused") {
  EventPorts ports(kVps);
  REQUIRE(ports.Create(hv::EventPort(1, 2, 0, 7, 0, 0, 8)) == Status::kSuccess);
  REQUIRE(ports.Connect(hv::EventConnection(5, 0, 1)) == Status::kSuccess);
  hv::DeletePortInput del;
  del.port_id = 1;
  CHECK(ports.Delete(del) == Status::kSuccess);
  CHECK(ports.Delete(del) == Status::kInvalidPortId);
  CHECK(ports.Resolve(0, 5, 0)->status == Status::kInvalidPortId);
  // A new port under the old id is not what connection 5 was made to.
  REQUIRE(ports.Create(hv::EventPort(1, 2, 0, 7, 1, 0, 8)) == Status::kSuccess);
  CHECK(ports.Resolve(0, 5, 0)->status == Status::kInvalidPortId);
  // Disconnect, then the id is free again.
  hv::DisconnectPortInput disconnect;
  disconnect.connection_id = 5;
  disconnect.flags = 1;  // is_doorbell
  CHECK(ports.Disconnect(disconnect) == Status::kInvalidParameter);
  disconnect.flags = 0;
  CHECK(ports.Disconnect(disconnect) == Status::kSuccess);
  CHECK(ports.Disconnect(disconnect) == Status::kInvalidConnectionId);
  CHECK_FALSE(ports.Resolve(0, 5, 0));
  CHECK(ports.Connect(hv::EventConnection(5, 0, 1)) == Status::kSuccess);
  CHECK(ports.Resolve(0, 5, 0)->target.vp == 1);
}

TEST_CASE("event ports: the tables are bounded") {
  EventPorts ports(kVps);
  for (uint32_t id = 0; id < EventPorts::kMaxPorts; ++id)
    REQUIRE(ports.Create(hv::EventPort(id, 2, 0, 7, 0, 0, 1)) == Status::kSuccess);
  CHECK(ports.Create(hv::EventPort(EventPorts::kMaxPorts, 2, 0, 7, 0, 0, 1)) ==
        Status::kInsufficientMemory);
  for (uint32_t id = 0; id < EventPorts::kMaxConnections; ++id)
    REQUIRE(ports.Connect(hv::EventConnection(id, 0, 0)) == Status::kSuccess);
  CHECK(ports.Connect(hv::EventConnection(EventPorts::kMaxConnections, 0, 0)) ==
        Status::kInsufficientMemory);
}
