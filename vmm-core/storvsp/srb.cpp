// EXECUTE_SRB (hyperv-vmbus.md §6 "I/O"): a vmscsi_request and its data
// buffer become a scsi::Command; the outcome goes back as COMPLETE_IO with
// the SRB echoed and updated.
#include <algorithm>
#include <utility>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "base/page.h"
#include "storvsp/channel.h"

namespace storvsp {
namespace {

constexpr size_t kSrb = wire::kPayloadOffset;  // the SRB's offset in the packet

template <typename T>
T SrbField(std::span<const std::byte> packet, size_t field_offset) {
  T value = 0;
  (void)base::LoadLe<T>(packet, kSrb + field_offset, value);  // sized by the caller
  return value;
}

template <typename T>
void SetSrbField(std::span<std::byte> packet, size_t field_offset, T value) {
  (void)base::StoreLe<T>(packet, kSrb + field_offset, value);
}

}  // namespace

base::Result<std::vector<block::Segment>> RangeToSegments(const vmbus::GpaRange& range,
                                                          uint32_t bytes) {
  // hyperv-vmbus.md §5.4: byte_count bytes from byte_offset into the first
  // PFN. Check again what the ring reader promised; it costs nothing.
  if (bytes > range.byte_count) return base::Error("transfer longer than the GPA range");
  if (range.byte_offset >= base::kPageSize) return base::Error("GPA range offset past a page");
  std::vector<block::Segment> segments;
  uint32_t remaining = bytes;
  uint64_t offset = range.byte_offset;
  for (size_t i = 0; remaining != 0; ++i) {
    if (i >= range.pfns.size()) return base::Error("GPA range holds too few PFNs");
    const auto page = base::CheckedMul<uint64_t>(range.pfns[i], base::kPageSize);
    if (!page)
      return base::Error::Format("PFN %#llx out of range",
                                 static_cast<unsigned long long>(range.pfns[i]));
    const uint64_t gpa = *page + offset;  // offset < page size, page aligned: no overflow
    const auto piece =
        static_cast<uint32_t>(std::min<uint64_t>(base::kPageSize - offset, remaining));
    // Merge with the previous segment when physically contiguous.
    if (!segments.empty() && mem::ToU64(segments.back().gpa) + segments.back().bytes == gpa) {
      segments.back().bytes += piece;
    } else {
      segments.push_back({mem::Gpa{gpa}, piece});
    }
    remaining -= piece;
    offset = 0;
  }
  return segments;
}

void Channel::CompleteSrb(const Packet& request, uint64_t transaction_id, bool completion_requested,
                          uint8_t srb_status, const scsi::Outcome& outcome) {
  if (!completion_requested) return;
  OutgoingPacket out;
  out.transaction_id = transaction_id;
  out.payload = request;  // the SRB echoed, then updated
  (void)base::StoreLe<uint32_t>(out.payload, offsetof(wire::PacketHeader, operation),
                                static_cast<uint32_t>(wire::Operation::kCompleteIo));
  (void)base::StoreLe<uint32_t>(out.payload, offsetof(wire::PacketHeader, flags), 0);
  (void)base::StoreLe<uint32_t>(out.payload, offsetof(wire::PacketHeader, status),
                                wire::nt::kSuccess);
  const bool success = srb_status == wire::srb::kSuccess;
  uint8_t sense_bytes = 0;
  if (success && outcome.has_sense()) {
    // CHECK CONDITION with autosense (hyperv-vmbus.md §6): Linux copies
    // the sense when AUTOSENSE_VALID is set, up to the length it offered.
    const uint8_t offered =
        SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, sense_info_length));
    sense_bytes =
        static_cast<uint8_t>(std::min<size_t>({offered, outcome.sense.size(), wire::kSenseBytes}));
    srb_status =
        sense_bytes != 0 ? wire::srb::kError | wire::srb::kAutosenseValid : wire::srb::kError;
    auto sense_field =
        std::span(out.payload)
            .subspan(kSrb + offsetof(wire::ScsiRequest, cdb_or_sense), wire::kSenseBytes);
    std::fill(sense_field.begin(), sense_field.end(), std::byte{0});
    std::copy_n(outcome.sense.begin(), sense_bytes, sense_field.begin());
  }
  SetSrbField<uint8_t>(out.payload, offsetof(wire::ScsiRequest, srb_status), srb_status);
  SetSrbField<uint8_t>(out.payload, offsetof(wire::ScsiRequest, scsi_status),
                       success ? static_cast<uint8_t>(outcome.status) : 0);
  SetSrbField<uint8_t>(out.payload, offsetof(wire::ScsiRequest, sense_info_length), sense_bytes);
  // Bytes moved; Linux reports the rest as the residual.
  SetSrbField<uint32_t>(out.payload, offsetof(wire::ScsiRequest, data_transfer_length),
                        success ? outcome.bytes_transferred : 0);
  sink_.Send(out);
}

PacketResult Channel::ExecuteSrb(std::span<const std::byte> payload,
                                 const vmbus::IncomingPacket& packet) {
  // The whole Win8-form SRB, or a short packet.
  if (payload.size() < sizeof(wire::ScsiRequest)) {
    Reply(packet, wire::nt::kInvalidParameter);
    return PacketResult::kShortPacket;
  }
  Packet request{};
  std::copy_n(packet.payload.begin(), wire::kPacketBytes, request.begin());
  const uint64_t transaction_id = packet.transaction_id;
  const bool completion_requested = packet.completion_requested();
  auto fail = [&](uint8_t srb_status, PacketResult result) {
    CompleteSrb(request, transaction_id, completion_requested, srb_status, scsi::Outcome{});
    return result;
  };

  // Copied fields, validated once (guest-controlled).
  const auto path_id = SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, path_id));
  const auto target_id = SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, target_id));
  const auto lun = SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, lun));
  const auto cdb_length = SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, cdb_length));
  const auto data_in = SrbField<uint8_t>(request, offsetof(wire::ScsiRequest, data_in));
  const auto transfer_bytes =
      SrbField<uint32_t>(request, offsetof(wire::ScsiRequest, data_transfer_length));

  scsi::Command command;
  command.queue_hint = config_.queue_hint;
  if (cdb_length == 0 || cdb_length > wire::kCdbBytes)
    return fail(wire::srb::kInvalidRequest, PacketResult::kBadRequest);
  command.cdb_length = cdb_length;
  std::copy_n(request.begin() + kSrb + offsetof(wire::ScsiRequest, cdb_or_sense), cdb_length,
              command.cdb.begin());
  switch (data_in) {  // guest-controlled
    case static_cast<uint8_t>(wire::DataIn::kWrite):
      command.direction = scsi::DataDirection::kOut;
      break;
    case static_cast<uint8_t>(wire::DataIn::kRead):
      command.direction = scsi::DataDirection::kIn;
      break;
    case static_cast<uint8_t>(wire::DataIn::kUnknown):
      command.direction = scsi::DataDirection::kNone;
      break;
    default:
      return fail(wire::srb::kInvalidRequest, PacketResult::kBadRequest);
  }

  // The data buffer: GPA direct with one range covering the transfer
  // (hyperv-vmbus.md §6 "I/O"), or none at all.
  if (transfer_bytes > max_transfer_bytes_)
    return fail(wire::srb::kInvalidRequest, PacketResult::kBadRequest);
  if (transfer_bytes != 0) {
    if (packet.type != vmbus::PacketType::kDataUsingGpaDirect || packet.ranges.size() != 1)
      return fail(wire::srb::kInvalidRequest, PacketResult::kBadRequest);
    auto segments = RangeToSegments(packet.ranges[0], transfer_bytes);
    if (!segments.ok()) return fail(wire::srb::kInvalidRequest, PacketResult::kBadRequest);
    command.segments = std::move(segments).value();
    command.buffer_bytes = transfer_bytes;
  }

  const bool on_target =
      disk_ != nullptr && path_id == config_.path_id && target_id == config_.target_id;
  const uint8_t opcode = static_cast<uint8_t>(command.cdb[0]);
  // REPORT LUNS to any LUN of the disk's target lists the target's LUNs
  // (SPC-4 §6.33), so Linux finds a disk at a LUN other than 0.
  if (on_target && (lun == config_.lun || opcode == scsi::op::kReportLuns)) {
    in_flight_.fetch_add(1, std::memory_order_acq_rel);
    unanswered_.fetch_add(1, std::memory_order_seq_cst);
    disk_->Execute(command, [this, request, transaction_id,
                             completion_requested](const scsi::Outcome& outcome) {
      // Answered from here on (seq_cst: a ring reader deciding whether to
      // keep polling reads it after publishing that it polls, and the
      // sink's Send reads that after this; one of them sees the other).
      unanswered_.fetch_sub(1, std::memory_order_seq_cst);
      CompleteSrb(request, transaction_id, completion_requested, wire::srb::kSuccess, outcome);
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);  // the last touch of `this`
    });
    return PacketResult::kOk;
  }
  // hyperv-vmbus.md §6 "Probe": storvsc forces INQUIRY to success, so an
  // absent LUN answers INQUIRY with PQ 3 / PDT 1Fh. Linux then takes the
  // target as present and sends REPORT LUNS, which gets a good, empty list:
  // SRB_STATUS_INVALID_LUN there would make storvsc remove the device at
  // (channel 0, this target, this LUN) (Linux 6.1 storvsc_remove_lun looks
  // up channel 0 whatever the path), which for path 1..7 target 0 is this
  // controller's disk. Anything else gets SRB_STATUS_INVALID_LUN.
  if (opcode == scsi::op::kInquiry || opcode == scsi::op::kReportLuns) {
    CompleteSrb(request, transaction_id, completion_requested, wire::srb::kSuccess,
                scsi::AnswerAbsentLun(command, buffer_));
    return PacketResult::kOk;
  }
  return fail(wire::srb::kInvalidLun, PacketResult::kInvalidLun);
}

}  // namespace storvsp
