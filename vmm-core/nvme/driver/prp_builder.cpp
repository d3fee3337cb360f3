#include "nvme/driver/prp_builder.h"

#include <algorithm>

#include "base/checked.h"

namespace nvme::driver {
namespace {

constexpr uint64_t kMaxDeviceAddress = uint64_t{1} << 63;

// The command being filled.
struct Open {
  bool active = false;
  uint64_t first_block = 0;
  uint64_t bytes = 0;
  uint64_t data_end = 0;  // device address just past its data so far
  PrpPlan prps;
};

}  // namespace

base::Result<std::vector<DataCommand>> BuildDataCommands(std::span<const block::Segment> segments,
                                                         uint64_t block_count, uint32_t block_size,
                                                         uint32_t max_transfer_bytes) {
  if (block_size < 512 || block_size > kPrpPageBytes || (block_size & (block_size - 1)) != 0)
    return base::Error::Format("block size %u", block_size);
  if (max_transfer_bytes < block_size || max_transfer_bytes > kMaxCommandBytes ||
      max_transfer_bytes % kPrpPageBytes != 0)
    return base::Error::Format("maximum transfer %u bytes", max_transfer_bytes);
  // The segments must hold exactly the request's blocks.
  const auto want = base::CheckedMul<uint64_t>(block_count, block_size);
  if (!want || block_count == 0) return base::Error("no blocks, or a byte count that overflows");
  uint64_t have = 0;
  for (const block::Segment& segment : segments) {
    const auto sum = base::CheckedAdd<uint64_t>(have, segment.bytes);
    if (!sum) return base::Error("segment sizes overflow");
    have = *sum;
  }
  if (have != *want)
    return base::Error::Format("segments hold %llu bytes, the blocks %llu",
                               static_cast<unsigned long long>(have), static_cast<unsigned long long>(*want));

  std::vector<DataCommand> commands;
  Open open;
  uint64_t done_bytes = 0;  // bytes placed in closed commands
  const auto close = [&]() {
    DataCommand command;
    command.block_offset = open.first_block;
    command.block_count = static_cast<uint32_t>(open.bytes / block_size);
    command.prps = std::move(open.prps);
    commands.push_back(std::move(command));
    done_bytes += open.bytes;
    open = Open{};
  };

  for (const block::Segment& segment : segments) {
    uint64_t address = mem::ToU64(segment.gpa);
    uint64_t left = segment.bytes;
    if (left == 0) continue;
    // Device addresses are far below 2^63; this also keeps the page
    // arithmetic below from wrapping.
    if (!base::RangeFits<uint64_t>(address, left, kMaxDeviceAddress))
      return base::Error("segment beyond the device address space");
    // NVMe 2.0 §4.1.1: a joint inside a command must be page boundary to
    // page boundary; otherwise cut the command here.
    if (open.active && (open.data_end % kPrpPageBytes != 0 || address % kPrpPageBytes != 0)) {
      if (open.bytes % block_size != 0)
        return base::Error::Format("segment joint at byte %llu is neither page aligned nor a block boundary",
                                   static_cast<unsigned long long>(done_bytes + open.bytes));
      close();
    }
    while (left > 0) {
      if (!open.active) {
        // PRP1: any dword-aligned offset.
        if (address % 4 != 0)
          return base::Error::Format("data at 0x%llx is not dword aligned",
                                     static_cast<unsigned long long>(address));
        open.active = true;
        open.first_block = done_bytes / block_size;
        open.prps.prp1 = address;
      } else if (address % kPrpPageBytes == 0 && open.bytes > 0) {
        // A page-aligned continuation across a joint: a new list entry.
        open.prps.pages.push_back(address);
      }
      const uint64_t room = max_transfer_bytes - open.bytes;
      const uint64_t take = std::min(left, room);
      // List entries for every page boundary crossed inside [address, address + take).
      uint64_t next_page = (address / kPrpPageBytes + 1) * kPrpPageBytes;
      while (next_page < address + take) {
        open.prps.pages.push_back(next_page);
        next_page += kPrpPageBytes;
      }
      open.bytes += take;
      open.data_end = address + take;
      address += take;
      left -= take;
      if (open.prps.pages.size() > kMaxPrpListEntries) return base::Error("PRP list overflow");
      if (open.bytes == max_transfer_bytes) close();
    }
  }
  if (open.active) close();
  return commands;
}

}  // namespace nvme::driver
