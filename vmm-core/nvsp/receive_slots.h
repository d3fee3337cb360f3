// nvsp::ReceiveSlots: the sub-allocations of a netvsc receive buffer that
// the host fills with RNDIS messages for the guest, and the guest's
// completions that give them back (mana-netvsc.md §5 "RX", §6).
//
// Each message goes out as a transfer-page packet (VMBus type 7) naming
// one range of transfer-page set 0xCAFE, with completion requested; the
// guest completes it (type 0xB, NVSP RNDIS_PKT_COMPLETE) echoing the
// transaction ID. Only then may the slot be written again. A completion
// for an ID that is not outstanding (never sent, or already completed) is
// refused: taking it would free a slot twice, and a later frame would be
// written over one the guest still reads. The transaction ID carries the
// slot and a per-slot generation, so a stale completion never matches the
// slot's next use.
//
// At most count - 1 slots are out at once: hv_netvsc's completion queue
// holds count + 1 entries, and a full buffer is back-pressure (Take
// returns nothing until the guest completes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "nvsp/message.h"

namespace nvsp {

inline constexpr uint16_t kReceivePageSetId = 0xCAFE;

class ReceiveSlots {
 public:
  explicit ReceiveSlots(const ReceiveSection& section);

  struct Slot {
    uint32_t byte_offset = 0;  // in the receive buffer
    uint32_t capacity = 0;     // the sub-allocation size
    uint64_t transaction_id = 0;
  };
  std::optional<Slot> Take();
  // The guest completed `transaction_id`: its slot is free again. False
  // (and nothing freed) if that ID is not outstanding.
  bool Complete(uint64_t transaction_id);

  uint32_t outstanding() const { return outstanding_; }
  uint32_t limit() const { return limit_; }

  // The transfer-page header after the VMBus descriptor (struct
  // vmtransfer_page_packet_header's tail): set ID, sender-owns 0, one
  // range {byte_count, byte_offset}.
  static std::array<std::byte, 16> TransferHeader(uint32_t byte_offset, uint32_t byte_count);

 private:
  ReceiveSection section_;
  uint32_t limit_;
  uint32_t outstanding_ = 0;
  std::vector<uint32_t> free_;         // slot indices, taken from the back
  std::vector<uint32_t> generation_;   // per slot, bumped at each Take
  std::vector<bool> out_;              // per slot
};

}  // namespace nvsp
