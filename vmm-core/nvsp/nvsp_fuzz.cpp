// Fuzz target: a guest's NVSP messages, 40 bytes each (bit 0 of a chunk's
// last byte, past every message's fields, says whether a completion is
// asked for), through the
// channel state machine; an RNDIS packet it passes on must lie inside the
// send buffer it reported, and a receive layout inside its GPADL.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/fuzz_target.h"

#include "nvsp/channel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  // GPADL n is n * 4096 + 17 bytes, for n below 8192; others are unknown.
  auto gpadl_bytes = [](uint32_t id) -> std::optional<uint64_t> {
    if (id >= 8192) return std::nullopt;
    return uint64_t{id} * 4096 + 17;
  };
  nvsp::Channel channel({.max_sub_channels = 4}, gpadl_bytes);
  for (size_t at = 0; at < bytes.size(); at += nvsp::kMessageBytes) {
    const auto chunk = bytes.subspan(at, std::min(nvsp::kMessageBytes, bytes.size() - at));
    const bool completion =
        chunk.size() == nvsp::kMessageBytes && (std::to_integer<uint8_t>(chunk.back()) & 1) != 0;
    const auto outcome = channel.OnMessage(chunk, completion);
    if (outcome.receive_buffer) {
      const auto& layout = *outcome.receive_buffer;
      if (layout.section.sub_allocation_bytes < 68 ||
          uint64_t{layout.section.end} > *gpadl_bytes(layout.gpadl))
        __builtin_trap();
    }
    if (outcome.rndis && outcome.rndis->section_index != nvsp::kNoSection) {
      const auto& send = channel.send_buffer();
      if (!send || outcome.rndis->section_index >= send->sections ||
          outcome.rndis->section_size > send->section_bytes)
        __builtin_trap();
    }
    if (outcome.offer_sub_channels > 4) __builtin_trap();
  }
  return 0;
}
