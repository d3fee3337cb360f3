#include "vmbus/ring.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "base/page.h"
#include "vmbus/ring_wire.h"

namespace vmbus {
namespace {

constexpr uint32_t kDescriptorBytes = sizeof(wire::PacketDescriptor);

// Bytes between `read` and `write` going forward around a ring of
// `data_bytes` (both indices already checked to lie below it).
uint32_t UsedBytes(uint32_t write, uint32_t read, uint32_t data_bytes) {
  return write >= read ? write - read : data_bytes - (read - write);
}

uint32_t Advance(uint32_t index, uint32_t bytes, uint32_t data_bytes) {
  return static_cast<uint32_t>((uint64_t{index} + bytes) % data_bytes);
}

// hyperv-vmbus.md §5.3: indices are 8-aligned byte offsets into the data
// area. `value` is guest-controlled.
base::Result<uint32_t> CheckIndex(uint32_t value, uint32_t data_bytes, const char* name) {
  if (value >= data_bytes || value % wire::kPacketAlignment != 0)
    return base::Error::Format("ring %s %#x is outside the %#x-byte data area or unaligned", name,
                               value, data_bytes);
  return value;
}

// Linux 6.1 sets feature bit 0 on both rings itself (hv_ringbuffer_init);
// the host sets it too, so either side may rely on pending_send_sz.
base::Result<void> AdvertiseFeatures(RingView& view) {
  const uint32_t bits = TRY(view.LoadAcquire(RingField::kFeatureBits));
  if ((bits & wire::kRingFeaturePendingSendSize) != 0) return base::Ok();
  return view.StoreRelease(RingField::kFeatureBits, bits | wire::kRingFeaturePendingSendSize);
}

uint16_t Load16(std::span<const std::byte> bytes, size_t offset) {
  uint16_t value = 0;
  (void)base::LoadLe(bytes, offset, value);  // callers checked the size
  return value;
}
uint32_t Load32(std::span<const std::byte> bytes, size_t offset) {
  uint32_t value = 0;
  (void)base::LoadLe(bytes, offset, value);
  return value;
}
uint64_t Load64(std::span<const std::byte> bytes, size_t offset) {
  uint64_t value = 0;
  (void)base::LoadLe(bytes, offset, value);
  return value;
}

// hyperv-vmbus.md §5.4, GPA direct: {byte_count u32, byte_offset u32,
// pfn u64[ceil((byte_offset + byte_count) / 4096)]} x range_count, all in
// `area` (the header bytes after the fixed part, before offset8).
base::Result<std::vector<GpaRange>> ParseGpaRanges(std::span<const std::byte> area,
                                                  uint32_t range_count) {
  // Each range takes at least its 8-byte header: this bounds the loop.
  if (range_count > area.size() / sizeof(wire::GpaRangeHeader))
    return base::Error::Format("GPA-direct range count %u does not fit %zu header bytes",
                               range_count, area.size());
  std::vector<GpaRange> ranges;
  ranges.reserve(range_count);
  size_t at = 0;
  for (uint32_t i = 0; i < range_count; ++i) {
    if (area.size() - at < sizeof(wire::GpaRangeHeader))
      return base::Error::Format("GPA-direct range %u header runs past the packet header", i);
    GpaRange range;
    range.byte_count = Load32(area, at + offsetof(wire::GpaRangeHeader, byte_count));
    range.byte_offset = Load32(area, at + offsetof(wire::GpaRangeHeader, byte_offset));
    at += sizeof(wire::GpaRangeHeader);
    if (range.byte_count == 0) return base::Error::Format("GPA-direct range %u is empty", i);
    if (range.byte_offset >= base::kPageSize)
      return base::Error::Format("GPA-direct range %u starts %u bytes into its first page", i,
                                 range.byte_offset);
    const uint64_t pfn_count =
        (uint64_t{range.byte_offset} + range.byte_count + base::kPageSize - 1) / base::kPageSize;
    if (pfn_count > (area.size() - at) / sizeof(uint64_t))
      return base::Error::Format("GPA-direct range %u needs %" PRIu64 " PFNs, past the packet header",
                                 i, pfn_count);
    range.pfns.resize(static_cast<size_t>(pfn_count));
    for (uint64_t& pfn : range.pfns) {
      pfn = Load64(area, at);
      at += sizeof(uint64_t);
      // A larger PFN would wrap when turned into an address.
      if (pfn > kMaxPfn)
        return base::Error::Format("GPA-direct range %u names page %#" PRIx64, i, pfn);
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

// struct vmtransfer_page_range {byte_count u32, byte_offset u32} x range_count.
base::Result<std::vector<TransferPageRange>> ParseTransferRanges(std::span<const std::byte> area,
                                                                uint32_t range_count) {
  if (range_count > area.size() / wire::kTransferPageRangeBytes)
    return base::Error::Format("transfer-page range count %u does not fit %zu header bytes",
                               range_count, area.size());
  std::vector<TransferPageRange> ranges(range_count);
  for (uint32_t i = 0; i < range_count; ++i) {
    ranges[i].byte_count = Load32(area, size_t{i} * wire::kTransferPageRangeBytes);
    ranges[i].byte_offset = Load32(area, size_t{i} * wire::kTransferPageRangeBytes + 4);
  }
  return ranges;
}

}  // namespace

base::Result<RingLayout> RingLayout::Create(std::span<const uint64_t> gpadl_pfns,
                                            uint32_t downstream_offset_pages) {
  // hyperv-vmbus.md §5.3: [guest->host ring][host->guest ring], the second
  // starting downstream_offset pages in; each a header page and data.
  if (downstream_offset_pages < wire::kMinRingPages ||
      downstream_offset_pages > gpadl_pfns.size() ||
      gpadl_pfns.size() - downstream_offset_pages < wire::kMinRingPages)
    return base::Error::Format(
        "downstream ring offset %u pages does not split a %zu-page ring GPADL into two rings of "
        "at least %u pages",
        downstream_offset_pages, gpadl_pfns.size(), wire::kMinRingPages);
  RingLayout layout;
  layout.in_pfns.assign(gpadl_pfns.begin(), gpadl_pfns.begin() + downstream_offset_pages);
  layout.out_pfns.assign(gpadl_pfns.begin() + downstream_offset_pages, gpadl_pfns.end());
  return layout;
}

base::Result<IncomingPacket> ParsePacket(std::span<const std::byte> packet) {
  // hyperv-vmbus.md §5.4: {type u16, offset8 u16, len8 u16, flags u16,
  // trans_id u64}; every field guest-controlled.
  if (packet.size() < kDescriptorBytes)
    return base::Error::Format("packet of %zu bytes is shorter than its descriptor", packet.size());
  const uint16_t type = Load16(packet, offsetof(wire::PacketDescriptor, type));
  const uint16_t offset8 = Load16(packet, offsetof(wire::PacketDescriptor, offset8));
  const uint16_t length8 = Load16(packet, offsetof(wire::PacketDescriptor, length8));
  if (size_t{length8} * 8 != packet.size())
    return base::Error::Format("packet length8 %u does not match its %zu bytes", length8,
                               packet.size());
  // The payload starts after the descriptor and ends within the packet.
  if (offset8 < kDescriptorBytes / 8 || offset8 > length8)
    return base::Error::Format("packet offset8 %u outside [2, length8 %u]", offset8, length8);
  const size_t header_bytes = size_t{offset8} * 8;

  IncomingPacket parsed;
  parsed.flags = Load16(packet, offsetof(wire::PacketDescriptor, flags));
  parsed.transaction_id = Load64(packet, offsetof(wire::PacketDescriptor, transaction_id));
  switch (type) {
    case static_cast<uint16_t>(PacketType::kDataInband):
      parsed.type = PacketType::kDataInband;
      break;
    case static_cast<uint16_t>(PacketType::kCompletion):
      parsed.type = PacketType::kCompletion;
      break;
    case static_cast<uint16_t>(PacketType::kDataUsingGpaDirect): {
      parsed.type = PacketType::kDataUsingGpaDirect;
      // struct vmbus_packet_mpb_array: the ranges sit in the header,
      // between the fixed part and offset8.
      if (header_bytes < sizeof(wire::GpaDirectHeader))
        return base::Error::Format("GPA-direct packet header of %zu bytes is too short",
                                   header_bytes);
      const uint32_t range_count = Load32(packet, offsetof(wire::GpaDirectHeader, range_count));
      parsed.ranges = TRY(ParseGpaRanges(
          packet.subspan(sizeof(wire::GpaDirectHeader), header_bytes - sizeof(wire::GpaDirectHeader)),
          range_count));
      break;
    }
    case static_cast<uint16_t>(PacketType::kDataUsingTransferPages): {
      parsed.type = PacketType::kDataUsingTransferPages;
      if (header_bytes < sizeof(wire::TransferPageHeader))
        return base::Error::Format("transfer-page packet header of %zu bytes is too short",
                                   header_bytes);
      parsed.transfer_page_set_id =
          Load16(packet, offsetof(wire::TransferPageHeader, transfer_page_set_id));
      const uint32_t range_count = Load32(packet, offsetof(wire::TransferPageHeader, range_count));
      parsed.transfer_ranges = TRY(ParseTransferRanges(
          packet.subspan(sizeof(wire::TransferPageHeader),
                         header_bytes - sizeof(wire::TransferPageHeader)),
          range_count));
      break;
    }
    default:
      // Synch, GPADL, cancel and unknown types: nothing a Linux guest sends
      // on a channel ring.
      return base::Error::Format("unsupported packet type %#x", type);
  }
  const auto payload = packet.subspan(header_bytes);
  parsed.payload.assign(payload.begin(), payload.end());
  return parsed;
}

// ---- InRing ----

base::Result<InRing> InRing::Create(PageAccess& memory, std::span<const uint64_t> pfns,
                                    uint32_t max_packet_bytes) {
  RingView view = TRY(RingView::Create(memory, pfns));
  const uint32_t read_index = TRY(CheckIndex(TRY(view.LoadAcquire(RingField::kReadIndex)),
                                             view.data_bytes(), "read index"));
  TRY(AdvertiseFeatures(view));
  return InRing(std::move(view), read_index, max_packet_bytes);
}

base::Result<uint32_t> InRing::LoadWriteIndex() {
  // hyperv-vmbus.md §5.3: the writer publishes write_index after the data
  // (release); this acquire pairs with it.
  return CheckIndex(TRY(view_.LoadAcquire(RingField::kWriteIndex)), view_.data_bytes(),
                    "write index");
}

base::Result<std::optional<IncomingPacket>> InRing::Read() {
  unconsumed_bytes_ = 0;
  const uint32_t data_bytes = view_.data_bytes();
  const uint32_t write_index = TRY(LoadWriteIndex());
  const uint32_t available = UsedBytes(write_index, read_index_, data_bytes);
  if (available == 0) return std::optional<IncomingPacket>();
  // The writer publishes whole packets: a descriptor and a trailer at least.
  if (available < kDescriptorBytes + wire::kPacketTrailerBytes)
    return base::Error::Format("ring holds %u bytes, less than a descriptor and trailer",
                               available);

  // Copy, validate, use (STYLE.md §3.1): the descriptor once, its length
  // checked, then the rest of the packet once; everything after is parsed
  // from these copies, whatever the guest writes meanwhile.
  std::array<std::byte, kDescriptorBytes> descriptor;
  TRY(view_.ReadData(read_index_, descriptor));
  const uint32_t packet_bytes =
      uint32_t{Load16(descriptor, offsetof(wire::PacketDescriptor, length8))} * 8;
  if (packet_bytes < kDescriptorBytes)
    return base::Error::Format("packet length of %u bytes is shorter than its descriptor",
                               packet_bytes);
  if (packet_bytes > available - wire::kPacketTrailerBytes)
    return base::Error::Format("packet of %u bytes (and trailer) runs past the %u bytes written",
                               packet_bytes, available);
  if (packet_bytes > max_packet_bytes_)
    return base::Error::Format("packet of %u bytes exceeds the %u-byte limit", packet_bytes,
                               max_packet_bytes_);
  std::vector<std::byte> packet(packet_bytes);
  std::copy(descriptor.begin(), descriptor.end(), packet.begin());
  TRY(view_.ReadData(Advance(read_index_, kDescriptorBytes, data_bytes),
                     std::span(packet).subspan(kDescriptorBytes)));

  auto parsed = ParsePacket(packet);
  if (!parsed) return std::move(parsed).error().Context("ring packet");
  unconsumed_bytes_ = packet_bytes + wire::kPacketTrailerBytes;
  return std::optional<IncomingPacket>(std::move(parsed).value());
}

base::Result<GuestSignal> InRing::Consume() {
  if (unconsumed_bytes_ == 0) return base::Error("ring Consume without a packet from Read");
  const uint32_t data_bytes = view_.data_bytes();
  const uint32_t consumed = unconsumed_bytes_;
  const uint32_t new_read_index = Advance(read_index_, consumed, data_bytes);
  TRY(view_.StoreRelease(RingField::kReadIndex, new_read_index));
  read_index_ = new_read_index;
  unconsumed_bytes_ = 0;

  // hyperv-vmbus.md §5.3: signal the writer only if it set pending_send_sz
  // and this read took free space from at most that to more than that
  // (Linux hv_pkt_iter_close: a writer needs free > size to write). The
  // fence orders our read_index store before the pending_send_sz load, as
  // Linux's virt_mb() does on its side. The read is already published, so
  // a failure from here on answers kNeeded: a spurious signal is harmless,
  // a lost one stalls the guest, and the next Read reports a bad index.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const auto pending = view_.LoadAcquire(RingField::kPendingSendSize);  // guest-controlled
  if (!pending) return GuestSignal::kNeeded;
  if (*pending == 0) return GuestSignal::kNotNeeded;
  const auto write_index = LoadWriteIndex();
  if (!write_index) return GuestSignal::kNeeded;
  const uint32_t free_now = data_bytes - UsedBytes(*write_index, read_index_, data_bytes);
  const uint32_t free_before = free_now >= consumed ? free_now - consumed : 0;
  if (free_now <= *pending || free_before > *pending) return GuestSignal::kNotNeeded;
  return GuestSignal::kNeeded;
}

base::Result<bool> InRing::HasData() {
  const uint32_t write_index = TRY(LoadWriteIndex());
  return write_index != read_index_;
}

base::Result<void> InRing::Mask() { return view_.StoreRelease(RingField::kInterruptMask, 1); }

base::Result<bool> InRing::Unmask() {
  TRY(view_.StoreRelease(RingField::kInterruptMask, 0));
  // Linux hv_end_read: unmask, full barrier, then look again; the guest
  // checked our mask before we cleared it may have skipped its signal.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return HasData();
}

// ---- OutRing ----

base::Result<OutRing> OutRing::Create(PageAccess& memory, std::span<const uint64_t> pfns) {
  RingView view = TRY(RingView::Create(memory, pfns));
  const uint32_t write_index = TRY(CheckIndex(TRY(view.LoadAcquire(RingField::kWriteIndex)),
                                              view.data_bytes(), "write index"));
  TRY(AdvertiseFeatures(view));
  return OutRing(std::move(view), write_index);
}

std::optional<uint32_t> OutRing::PacketRingBytes(size_t header_extension_bytes,
                                                  size_t payload_bytes) {
  const auto extension = base::AlignUp<uint64_t>(header_extension_bytes, wire::kPacketAlignment);
  const auto payload = base::AlignUp<uint64_t>(payload_bytes, wire::kPacketAlignment);
  if (!extension || !payload) return std::nullopt;
  const auto packet = base::CheckedAdd<uint64_t>(kDescriptorBytes + *extension, *payload);
  // length8 is a u16 count of 8-byte units.
  if (!packet || *packet / 8 > UINT16_MAX || *extension > UINT16_MAX) return std::nullopt;
  return static_cast<uint32_t>(*packet + wire::kPacketTrailerBytes);
}

base::Result<uint32_t> OutRing::LoadReadIndex() {
  return CheckIndex(TRY(view_.LoadAcquire(RingField::kReadIndex)), view_.data_bytes(),
                    "read index");
}

base::Result<bool> OutRing::HasRoomFor(uint32_t ring_bytes) {
  const uint32_t data_bytes = view_.data_bytes();
  const uint32_t read_index = TRY(LoadReadIndex());
  // hyperv-vmbus.md §5.3: never fill completely; available <= needed is full.
  return data_bytes - UsedBytes(write_index_, read_index, data_bytes) > ring_bytes;
}

base::Result<WriteResult> OutRing::Write(const OutgoingPacket& packet) {
  size_t payload_bytes = 0;
  for (const auto part : packet.payload) {
    const auto sum = base::CheckedAdd<size_t>(payload_bytes, part.size());
    if (!sum) return base::Error("outgoing packet payload size overflows");
    payload_bytes = *sum;
  }
  const uint32_t data_bytes = view_.data_bytes();
  const auto ring_bytes = PacketRingBytes(packet.header_extension.size(), payload_bytes);
  if (!ring_bytes || *ring_bytes >= data_bytes)
    return base::Error::Format("outgoing packet (%zu + %zu bytes) can never fit a %u-byte ring",
                               packet.header_extension.size(), payload_bytes, data_bytes);
  if (!TRY(HasRoomFor(*ring_bytes))) return WriteResult{WriteStatus::kFull, GuestSignal::kNotNeeded};

  // hyperv-vmbus.md §5.3: descriptor, payload padded to 8, then the trailer
  // (u64)start_write_index << 32; built here, copied in one pass.
  const size_t extension_padded = (packet.header_extension.size() + 7) / 8 * 8;
  const uint32_t packet_bytes = *ring_bytes - wire::kPacketTrailerBytes;
  std::vector<std::byte> bytes(*ring_bytes);
  (void)base::StoreLe<uint16_t>(bytes, offsetof(wire::PacketDescriptor, type),
                                static_cast<uint16_t>(packet.type));
  (void)base::StoreLe<uint16_t>(bytes, offsetof(wire::PacketDescriptor, offset8),
                                static_cast<uint16_t>((kDescriptorBytes + extension_padded) / 8));
  (void)base::StoreLe<uint16_t>(bytes, offsetof(wire::PacketDescriptor, length8),
                                static_cast<uint16_t>(packet_bytes / 8));
  (void)base::StoreLe<uint16_t>(bytes, offsetof(wire::PacketDescriptor, flags), packet.flags);
  (void)base::StoreLe<uint64_t>(bytes, offsetof(wire::PacketDescriptor, transaction_id),
                                packet.transaction_id);
  auto out = std::span(bytes).subspan(kDescriptorBytes);
  std::copy(packet.header_extension.begin(), packet.header_extension.end(), out.begin());
  out = out.subspan(extension_padded);
  for (const auto part : packet.payload) {
    std::copy(part.begin(), part.end(), out.begin());
    out = out.subspan(part.size());
  }
  (void)base::StoreLe<uint64_t>(bytes, packet_bytes, uint64_t{write_index_} << 32);

  const uint32_t old_write_index = write_index_;
  const uint32_t new_write_index = Advance(write_index_, *ring_bytes, data_bytes);
  TRY(view_.WriteData(old_write_index, bytes));
  TRY(view_.StoreRelease(RingField::kWriteIndex, new_write_index));
  write_index_ = new_write_index;

  // hyperv-vmbus.md §5.3: signal only if the reader's interrupt_mask is 0
  // and the ring was empty before this write (its read_index had reached
  // our old write index). The fence orders our write_index store before
  // these loads (Linux hv_signal_on_write's virt_mb on the guest side).
  // The packet is out: a failure from here on answers kNeeded.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const auto mask = view_.LoadAcquire(RingField::kInterruptMask);  // guest-controlled
  if (!mask) return WriteResult{WriteStatus::kWritten, GuestSignal::kNeeded};
  if (*mask != 0) return WriteResult{WriteStatus::kWritten, GuestSignal::kNotNeeded};
  const auto read_index = view_.LoadAcquire(RingField::kReadIndex);  // guest-controlled
  if (!read_index || *read_index == old_write_index)
    return WriteResult{WriteStatus::kWritten, GuestSignal::kNeeded};
  return WriteResult{WriteStatus::kWritten, GuestSignal::kNotNeeded};
}

base::Result<WriteResult> OutRing::WriteCompletion(uint64_t transaction_id,
                                                   std::span<const std::byte> payload) {
  const std::array<std::span<const std::byte>, 1> parts{payload};
  return Write(OutgoingPacket{.type = PacketType::kCompletion,
                              .flags = 0,
                              .transaction_id = transaction_id,
                              .header_extension = {},
                              .payload = parts});
}

base::Result<void> OutRing::SetPendingSendSize(uint32_t ring_bytes) {
  return view_.StoreRelease(RingField::kPendingSendSize, ring_bytes);
}

}  // namespace vmbus
