// Fuzz target: post a sequence of guest messages to a vmbus::Connection.
// Input: a VP-count byte, then records of
//   {connection selector u8, message-type selector u8, length u8, payload[length]}
// connection selector: 0-3 pick 1, 4, the connection's msg_conn_id or an
// arbitrary id (the byte itself << 8); message-type selector: 0x00-0xEF
// picks type 1, others pass through as a raw type. A length past the
// input's end takes what is left.
// Invariants: no crash or sanitizer report; an error sends nothing; every
// message sent is 8 or 16 bytes of a host->guest type we emit, goes to an
// existing VP and a SINT below 16, with Hyper-V message type 1; a
// VersionResponse is exactly 16 bytes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "vmbus/connection.h"

namespace {

class CheckingOutbox final : public vmbus::Outbox {
 public:
  explicit CheckingOutbox(uint32_t vp_count) : vp_count_(vp_count) {}
  void Send(const vmbus::OutgoingMessage& message) override {
    ++sent;
    if (message.target_vp >= vp_count_ || message.sint >= 16 || message.message_type != 1)
      __builtin_trap();
    const auto payload = message.payload();
    if (payload.size() < 8 || payload.size() > 240) __builtin_trap();
    const auto type = static_cast<uint8_t>(payload[0]);
    if (type == 15 ? payload.size() != 16 : (type != 4 && type != 17) || payload.size() != 8)
      __builtin_trap();
  }
  int sent = 0;

 private:
  uint32_t vp_count_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint32_t vp_count = data[0] % 8u + 1;
  vmbus::Connection connection(vp_count);
  CheckingOutbox outbox(vp_count);
  size_t at = 1;
  while (size - at >= 3) {
    const uint8_t conn_selector = data[at];
    const uint8_t type_selector = data[at + 1];
    const size_t length = data[at + 2];
    at += 3;
    const size_t taken = length < size - at ? length : size - at;
    const std::span<const std::byte> payload = std::as_bytes(std::span(data + at, taken));
    at += taken;

    uint32_t connection_id = 0;
    switch (conn_selector & 3) {
      case 0: connection_id = 1; break;
      case 1: connection_id = 4; break;
      case 2: {
        const auto state = connection.connection();
        connection_id = state ? state->msg_conn_id : 1;
        break;
      }
      default: connection_id = uint32_t{conn_selector} << 8; break;
    }
    const uint32_t message_type = type_selector < 0xF0 ? 1 : uint32_t{type_selector} << 24;
    const int before = outbox.sent;
    const vmbus::MessageResult result =
        connection.OnPostMessage({connection_id, message_type, payload}, outbox);
    if (result != vmbus::MessageResult::kOk && outbox.sent != before) __builtin_trap();
    if (result == vmbus::MessageResult::kOk && outbox.sent != before + 1) __builtin_trap();
    (void)vmbus::HypercallStatus(result);
    (void)vmbus::Describe(result);
  }
  return 0;
}
