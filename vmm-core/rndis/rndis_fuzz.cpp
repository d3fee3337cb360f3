// Fuzz target: what a guest puts in an NVSP RNDIS_PKT (a batch of RNDIS
// messages) through the message walk, the packet parser and the control
// device; every QUERY_CMPLT must hold what hv_netvsc checks.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"

#include "rndis/control.h"
#include "rndis/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  const auto messages = rndis::SplitMessages(bytes);
  if (!messages) return 0;
  rndis::Control control({});
  for (const auto message : *messages) {
    const auto header = rndis::ParseHeader(message);
    if (header && header->type == rndis::msg::kPacket) {
      const auto packet = rndis::ParsePacket(message);
      if (packet) {
        if (packet->frame.empty() || packet->frame.data() < message.data() ||
            packet->frame.data() + packet->frame.size() > message.data() + message.size())
          __builtin_trap();
      }
      // Read from its head only (netvsp's path for a frame that stays in
      // the guest's buffer): the same verdict and the same frame.
      if (message.size() < rndis::kPacketFixedBytes) continue;
      const auto needed =
          rndis::PacketHeadBytes(message.first(rndis::kPacketFixedBytes), message.size());
      if (!needed) {
        if (packet) __builtin_trap();
        continue;
      }
      if (*needed > message.size()) __builtin_trap();
      const auto layout = rndis::ParsePacketHead(message.first(*needed), message.size());
      if (layout.ok() != packet.ok()) __builtin_trap();
      if (layout && (message.data() + layout->frame_offset != packet->frame.data() ||
                     layout->frame_length != packet->frame.size()))
        __builtin_trap();
      continue;
    }
    const auto reply = control.OnMessage(message);
    if (reply.message.empty()) continue;
    uint32_t type = 0, length = 0, info_length = 0, info_offset = 0;
    if (!base::LoadLe(std::span<const std::byte>(reply.message), 0, type) ||
        !base::LoadLe(std::span<const std::byte>(reply.message), 4, length) ||
        length != reply.message.size())
      __builtin_trap();
    if (type == (rndis::msg::kQuery | rndis::msg::kCompletion)) {
      if (!base::LoadLe(std::span<const std::byte>(reply.message), 16, info_length) ||
          !base::LoadLe(std::span<const std::byte>(reply.message), 20, info_offset))
        __builtin_trap();
      if (info_length != 0 && (info_offset < 16 || uint64_t{info_offset} + info_length > length - 8))
        __builtin_trap();
    }
  }
  return 0;
}
