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
// With sub-channels the receive buffer is shared: a slot is sent on one
// channel (its `owner`, the sub-channel index) and hv_netvsc completes it
// on that channel (netvsc_send_recv_completion on the channel it arrived
// on), so a completion on another channel is refused as well. When a
// channel closes, its ring is gone and so are the completions it owed:
// Release gives its slots back.
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
  std::optional<Slot> Take(uint32_t owner = 0);
  // The guest completed `transaction_id` on channel `owner`: its slot is
  // free again. False (and nothing freed) if that ID is not outstanding
  // there.
  bool Complete(uint64_t transaction_id, uint32_t owner = 0);
  // Channel `owner` closed: every slot it holds is free; how many.
  uint32_t Release(uint32_t owner);

  uint32_t outstanding() const { return outstanding_; }
  uint32_t limit() const { return limit_; }

  // The transfer-page header after the VMBus descriptor (struct
  // vmtransfer_page_packet_header's tail): set ID, sender-owns 0, one
  // range {byte_count, byte_offset}.
  static std::array<std::byte, 16> TransferHeader(uint32_t byte_offset, uint32_t byte_count);

 private:
  void Free(uint32_t index);

  ReceiveSection section_;
  uint32_t limit_;
  uint32_t outstanding_ = 0;
  std::vector<uint32_t> free_;         // slot indices, taken from the back
  std::vector<uint32_t> generation_;   // per slot, bumped at each Take
  std::vector<bool> out_;              // per slot
  std::vector<uint32_t> owner_;        // per slot: the channel it went out on
};

}  // namespace nvsp
