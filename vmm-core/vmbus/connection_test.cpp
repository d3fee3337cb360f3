#include "vmbus/connection.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

using vmbus::Connection;
using vmbus::MessageResult;
using vmbus::OutgoingMessage;
using vmbus::PostedMessage;

class RecordingOutbox final : public vmbus::Outbox {
 public:
  void Send(const OutgoingMessage& message) override { sent.push_back(message); }
  std::vector<OutgoingMessage> sent;
};

using Bytes = std::vector<std::byte>;

void Put32(Bytes& bytes, size_t offset, uint32_t value) {
  for (size_t i = 0; i < 4; ++i) bytes.at(offset + i) = std::byte((value >> (8 * i)) & 0xFF);
}
void Put64(Bytes& bytes, size_t offset, uint64_t value) {
  for (size_t i = 0; i < 8; ++i) bytes.at(offset + i) = std::byte((value >> (8 * i)) & 0xFF);
}

Bytes Header(uint32_t msgtype) {
  Bytes bytes(8);
  Put32(bytes, 0, msgtype);
  return bytes;
}

// As Linux 6.1 vmbus_negotiate_version builds it.
Bytes InitiateContact(uint32_t version, uint32_t target_vcpu, uint8_t msg_sint = 2) {
  Bytes bytes(40);
  Put32(bytes, 0, 14);
  Put32(bytes, 8, version);
  Put32(bytes, 12, target_vcpu);
  if (version >= 0x50000) {
    bytes[16] = std::byte{msg_sint};
  } else {
    Put64(bytes, 16, 0x1'2345'6000);  // interrupt page
  }
  Put64(bytes, 24, 0x1'0000'0000);  // monitor pages
  Put64(bytes, 32, 0x1'0000'1000);
  return bytes;
}

PostedMessage Post(uint32_t connection_id, const Bytes& payload, uint32_t message_type = 1) {
  return PostedMessage{connection_id, message_type, payload};
}

Bytes PayloadOf(const OutgoingMessage& message) {
  return Bytes(message.payload().begin(), message.payload().end());
}

Bytes Expect(std::initializer_list<uint8_t> bytes) {
  Bytes out;
  for (uint8_t b : bytes) out.push_back(std::byte{b});
  return out;
}

// Connects at 5.3 with responses to VP `vp`.
void ConnectAt53(Connection& connection, RecordingOutbox& outbox, uint32_t vp = 0) {
  REQUIRE(connection.OnPostMessage(Post(4, InitiateContact(0x50003, vp)), outbox) ==
          MessageResult::kOk);
  REQUIRE(connection.connected());
}

}  // namespace

TEST_CASE("vmbus: InitiateContact 5.3 on connection 4 gets a 16-byte VersionResponse") {
  Connection connection(4);
  RecordingOutbox outbox;
  const Bytes contact = InitiateContact(0x50003, 2);
  CHECK(connection.OnPostMessage(Post(4, contact), outbox) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 1);
  const OutgoingMessage& response = outbox.sent[0];
  CHECK(response.message_type == 1u);
  CHECK(response.target_vp == 2u);
  CHECK(response.sint == 2u);
  // {msgtype 15, pad, version_supported 1, connection_state 0, pad, msg_conn_id 1}
  CHECK(PayloadOf(response) == Expect({15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}));
  const auto state = connection.connection();
  REQUIRE(state.has_value());
  CHECK(state->version == 0x50003u);
  CHECK(state->target_vp == 2u);
  CHECK(state->msg_conn_id == 1u);
}

TEST_CASE("vmbus: Linux's fallback: unsupported versions are refused until one fits") {
  Connection connection(1);
  RecordingOutbox outbox;
  const Bytes not_supported = Expect({15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});

  // A version newer than 5.3 (as a future Linux might propose first).
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x60000, 0)), outbox) ==
        MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 1);
  CHECK(PayloadOf(outbox.sent[0]) == not_supported);
  CHECK(!connection.connected());

  // Linux 6.1's older proposals go on connection 1 with an interrupt page.
  for (uint32_t version : {0x40001u, 0x40000u, 0x30000u, 0x20004u}) {
    CAPTURE(version);
    CHECK(connection.OnPostMessage(Post(1, InitiateContact(version, 0)), outbox) ==
          MessageResult::kOk);
    CHECK(PayloadOf(outbox.sent.back()) == not_supported);
    CHECK(outbox.sent.back().sint == 2u);
    CHECK(!connection.connected());
  }

  // 5.0 is accepted.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50000, 0)), outbox) ==
        MessageResult::kOk);
  CHECK(PayloadOf(outbox.sent.back()) ==
        Expect({15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}));
  CHECK(connection.connection()->version == 0x50000u);
  CHECK(outbox.sent.size() == 6);
}

TEST_CASE("vmbus: every 5.x version Linux 6.1 proposes is supported") {
  for (uint32_t version : {0x50003u, 0x50002u, 0x50001u, 0x50000u}) {
    CAPTURE(version);
    Connection connection(1);
    RecordingOutbox outbox;
    CHECK(connection.OnPostMessage(Post(4, InitiateContact(version, 0)), outbox) ==
          MessageResult::kOk);
    REQUIRE(outbox.sent.size() == 1);
    CHECK(outbox.sent[0].payload()[8] == std::byte{1});
  }
  CHECK(!Connection::IsSupportedVersion(0x50004));
  CHECK(!Connection::IsSupportedVersion(0x4FFFF));
}

TEST_CASE("vmbus: a 5.x proposal on connection 1 has no msg_sint and is refused") {
  Connection connection(1);
  RecordingOutbox outbox;
  CHECK(connection.OnPostMessage(Post(1, InitiateContact(0x50003, 0)), outbox) ==
        MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 1);
  CHECK(outbox.sent[0].payload()[8] == std::byte{0});
  CHECK(!connection.connected());
}

TEST_CASE("vmbus: responses go to InitiateContact's target_vcpu and msg_sint") {
  Connection connection(8);
  RecordingOutbox outbox;
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50002, 5, 3)), outbox) ==
        MessageResult::kOk);
  CHECK(outbox.sent.back().target_vp == 5u);
  CHECK(outbox.sent.back().sint == 3u);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kOk);
  CHECK(outbox.sent.back().target_vp == 5u);
  CHECK(outbox.sent.back().sint == 3u);
}

TEST_CASE("vmbus: RequestOffers on msg_conn_id gets an 8-byte AllOffersDelivered") {
  Connection connection(1);
  RecordingOutbox outbox;
  ConnectAt53(connection, outbox);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 2);
  CHECK(outbox.sent[1].message_type == 1u);
  CHECK(PayloadOf(outbox.sent[1]) == Expect({4, 0, 0, 0, 0, 0, 0, 0}));
  // Once per connection.
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) ==
        MessageResult::kUnexpectedMessage);
  CHECK(outbox.sent.size() == 2);
}

TEST_CASE("vmbus: Unload gets UnloadResponse and disconnects; contact works again") {
  Connection connection(1);
  RecordingOutbox outbox;
  ConnectAt53(connection, outbox);
  CHECK(connection.OnPostMessage(Post(1, Header(16)), outbox) == MessageResult::kOk);
  REQUIRE(outbox.sent.size() == 2);
  CHECK(PayloadOf(outbox.sent[1]) == Expect({17, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(!connection.connected());
  // Disconnected again: RequestOffers is refused, InitiateContact accepted.
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kNotConnected);
  ConnectAt53(connection, outbox);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kOk);
}

TEST_CASE("vmbus: messages before a successful InitiateContact are errors and send nothing") {
  Connection connection(1);
  RecordingOutbox outbox;
  CHECK(connection.OnPostMessage(Post(4, Header(3)), outbox) == MessageResult::kNotConnected);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kNotConnected);
  CHECK(connection.OnPostMessage(Post(1, Header(16)), outbox) == MessageResult::kNotConnected);
  CHECK(connection.OnPostMessage(Post(1, Header(5)), outbox) == MessageResult::kNotConnected);
  // Connection 1 before contact is only a contact port: other IDs don't exist.
  CHECK(connection.OnPostMessage(Post(2, Header(3)), outbox) ==
        MessageResult::kInvalidConnectionId);
  // After a refused version it is still not connected.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x40001, 0)), outbox) ==
        MessageResult::kOk);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kNotConnected);
  CHECK(outbox.sent.size() == 1);
}

TEST_CASE("vmbus: after contact only msg_conn_id carries messages (HV_STATUS_INVALID_CONNECTION_ID)") {
  Connection connection(1);
  RecordingOutbox outbox;
  ConnectAt53(connection, outbox);
  CHECK(connection.OnPostMessage(Post(4, Header(3)), outbox) ==
        MessageResult::kInvalidConnectionId);
  CHECK(connection.OnPostMessage(Post(0x800074, Header(3)), outbox) ==
        MessageResult::kInvalidConnectionId);
  CHECK(connection.OnPostMessage(Post(0, Header(3)), outbox) ==
        MessageResult::kInvalidConnectionId);
  CHECK(vmbus::HypercallStatus(MessageResult::kInvalidConnectionId) ==
        hv::Status::kInvalidConnectionId);
  CHECK(static_cast<uint16_t>(vmbus::HypercallStatus(MessageResult::kInvalidConnectionId)) ==
        0x12);
  CHECK(outbox.sent.size() == 1);
  CHECK(connection.connected());
}

TEST_CASE("vmbus: malformed and unknown messages are errors, never crashes") {
  Connection connection(2);
  RecordingOutbox outbox;
  // Short InitiateContact, a header cut short, an empty payload.
  Bytes short_contact = InitiateContact(0x50003, 0);
  short_contact.resize(39);
  CHECK(connection.OnPostMessage(Post(4, short_contact), outbox) == MessageResult::kMalformed);
  CHECK(connection.OnPostMessage(Post(4, Bytes(3)), outbox) == MessageResult::kMalformed);
  CHECK(connection.OnPostMessage(Post(4, Bytes{}), outbox) == MessageResult::kMalformed);
  // Hyper-V message type other than 1; hypervisor-reserved; 0.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50003, 0), 2), outbox) ==
        MessageResult::kMalformed);
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50003, 0), 0x8000'0000), outbox) ==
        MessageResult::kInvalidParameter);
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50003, 0), 0), outbox) ==
        MessageResult::kInvalidParameter);
  // Over 240 bytes.
  Bytes big = InitiateContact(0x50003, 0);
  big.resize(241);
  CHECK(connection.OnPostMessage(Post(4, big), outbox) == MessageResult::kInvalidParameter);
  // A target VP the partition lacks; a SINT past 15.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50003, 2)), outbox) ==
        MessageResult::kBadTargetVp);
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50003, 0, 16)), outbox) ==
        MessageResult::kMalformed);
  CHECK(outbox.sent.empty());
  CHECK(!connection.connected());

  // Longer than 40 bytes is fine (later revisions append fields).
  Bytes longer = InitiateContact(0x50003, 1);
  longer.resize(240);
  CHECK(connection.OnPostMessage(Post(4, longer), outbox) == MessageResult::kOk);
  REQUIRE(connection.connected());

  // Connected: unknown types, host->guest types, channel messages.
  CHECK(connection.OnPostMessage(Post(1, Header(0)), outbox) ==
        MessageResult::kUnknownMessageType);
  CHECK(connection.OnPostMessage(Post(1, Header(99)), outbox) ==
        MessageResult::kUnknownMessageType);
  CHECK(connection.OnPostMessage(Post(1, Header(0xFFFF'FFFF)), outbox) ==
        MessageResult::kUnknownMessageType);
  CHECK(connection.OnPostMessage(Post(1, Header(15)), outbox) ==
        MessageResult::kUnexpectedMessage);
  CHECK(connection.OnPostMessage(Post(1, Header(5)), outbox) ==
        MessageResult::kUnexpectedMessage);
  CHECK(connection.OnPostMessage(Post(1, Bytes(3)), outbox) == MessageResult::kMalformed);
  CHECK(outbox.sent.size() == 1);
  CHECK(connection.connected());
  CHECK(vmbus::HypercallStatus(MessageResult::kMalformed) == hv::Status::kSuccess);
}

TEST_CASE("vmbus: a new InitiateContact while connected renegotiates") {
  Connection connection(2);
  RecordingOutbox outbox;
  ConnectAt53(connection, outbox);
  CHECK(connection.OnPostMessage(Post(1, Header(3)), outbox) == MessageResult::kOk);
  // A kdump kernel contacts again on connection 4, targeting VP 1.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x50002, 1)), outbox) ==
        MessageResult::kOk);
  CHECK(connection.connection()->version == 0x50002u);
  CHECK(connection.connection()->target_vp == 1u);
  CHECK(!connection.connection()->offers_requested);
  // A refused renegotiation leaves it disconnected.
  CHECK(connection.OnPostMessage(Post(4, InitiateContact(0x60000, 0)), outbox) ==
        MessageResult::kOk);
  CHECK(!connection.connected());
}
