// Fuzz target 'vmbus-gpadl': GpadlHeader and GpadlBody messages from the
// input through ParseGpadl* and a GpadlBuilder.
// Input: records {kind u8, length u8, bytes[length]}. kind bit 0: 0 a
// header (starts a new builder), 1 a body; bit 1 on a body: its gpadl id
// is replaced by the builder's (so bodies reach the word accounting).
// The message is an 8-byte channel-message header of the right type
// followed by the bytes (a length past the input's end takes what is left).
// Invariants: no crash or sanitizer report; a refused body leaves the
// builder as it was; a finished GPADL has well-formed ranges (byte_count
// > 0, byte_offset < 4096, ceil((off + count) / 4096) valid PFNs) and no
// more than kMaxGpadlPages pages.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/fuzz_target.h"
#include "base/le_bytes.h"
#include "vmbus/gpadl.h"
#include "vmbus/ring_memory.h"

namespace {

void CheckGpadl(const vmbus::Gpadl& gpadl) {
  if (gpadl.ranges.empty() || gpadl.page_count() > vmbus::kMaxGpadlPages) __builtin_trap();
  for (const auto& range : gpadl.ranges) {
    if (range.byte_count == 0 || range.byte_offset >= 4096) __builtin_trap();
    if (range.pfns.size() != (uint64_t{range.byte_offset} + range.byte_count + 4095) / 4096)
      __builtin_trap();
    for (const uint64_t pfn : range.pfns)
      if (pfn > vmbus::kMaxPfn) __builtin_trap();
  }
  auto pages = vmbus::WholePages(gpadl);
  if (pages.ok() && pages->size() != gpadl.page_count()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<vmbus::GpadlBuilder> builder;
  size_t at = 0;
  while (size - at >= 2) {
    const uint8_t kind = data[at];
    const size_t length = data[at + 1];
    at += 2;
    const size_t taken = length < size - at ? length : size - at;
    std::vector<std::byte> message(8 + taken);
    (void)base::StoreLe<uint32_t>(message, 0, (kind & 1) == 0 ? 8u : 9u);
    for (size_t i = 0; i < taken; ++i) message[8 + i] = std::byte{data[at + i]};
    at += taken;

    if ((kind & 1) == 0) {
      auto header = vmbus::ParseGpadlHeader(message);
      if (!header.ok()) continue;
      auto started = vmbus::GpadlBuilder::Start(std::move(header).value());
      if (started.ok()) builder.emplace(std::move(started).value());
    } else if (builder.has_value()) {
      if ((kind & 2) != 0 && message.size() >= 16)
        (void)base::StoreLe<uint32_t>(message, 12, builder->gpadl_id());
      auto body = vmbus::ParseGpadlBody(message);
      if (!body.ok()) continue;
      const bool was_complete = builder->complete();
      if (!builder->AddBody(*body).ok()) {
        if (builder->complete() != was_complete) __builtin_trap();
        continue;
      }
      if (was_complete) __builtin_trap();  // a complete GPADL takes no more words
    }
    if (builder.has_value()) {
      auto gpadl = builder->Finish();
      if (gpadl.ok()) CheckGpadl(*gpadl);
      if (gpadl.ok() && !builder->complete()) __builtin_trap();
    }
  }
  return 0;
}
