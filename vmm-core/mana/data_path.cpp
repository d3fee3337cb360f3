// The vport's data path (mana-netvsc.md §3): TX WQEs gathered, finished
// (checksums, TSO, VLAN) and handed to the PacketSink with one CQE each,
// in order; received frames written into RX WQEs in posting order.
#include <algorithm>

#include "base/le_bytes.h"
#include "mana/device_state.h"
#include "net/checksum.h"
#include "net/tx_offload.h"

namespace mana {
namespace {

TxOob DecodeTxOob(const Wqe& wqe) {
  uint32_t dw0 = 0, dw1 = 0, dw2 = 0;
  (void)base::LoadLe<uint32_t>(wqe.oob, 0, dw0);
  (void)base::LoadLe<uint32_t>(wqe.oob, 4, dw1);
  (void)base::LoadLe<uint32_t>(wqe.oob, 8, dw2);
  TxOob oob;
  oob.long_form = (dw0 & 3) == 1;
  oob.ipv4 = (dw0 >> 2) & 1;
  oob.ipv6 = (dw0 >> 3) & 1;
  oob.ip_checksum = (dw0 >> 4) & 1;
  oob.tcp_checksum = (dw0 >> 5) & 1;
  oob.udp_checksum = (dw0 >> 6) & 1;
  oob.transport_offset = static_cast<uint16_t>(dw1 & 0x3FF);
  if (oob.long_form) {
    oob.inject_vlan = (dw2 >> 3) & 1;
    // 802.1Q TCI: PCP[15:13], DEI[12], VID[11:0].
    oob.vlan_tci = static_cast<uint16_t>((((dw2 >> 16) & 7) << 13) | (((dw2 >> 19) & 1) << 12) |
                                         ((dw2 >> 20) & 0xFFF));
  }
  return oob;
}

}  // namespace

void Device::State::ServeSq(uint32_t id) {
  Sq& sq = *sqs_[id];
  while (!sq.stopped && !sq.queue.empty() && CqHasRoom(sq.cq)) {
    auto wqe = sq.queue.Peek(dma_);
    if (!wqe) {
      // A WQE the queue cannot hold (or unreadable queue memory): its
      // completion could not say which WQE failed, so the queue stops.
      log_.Print("mana: ", "SQ %u stopped: %s", id, wqe.error().message().c_str());
      sq.stopped = true;
      return;
    }
    const uint8_t failure = Transmit(*wqe);
    sq.queue.Consume(wqe->bytes);
    std::array<std::byte, kCqeDataBytes> data{};
    (void)base::StoreLe<uint32_t>(
        data, 0, uint32_t{failure == 0 ? cqe::kTxOkay : failure} | (cqe::kClientMana << 6));
    (void)base::StoreLe<uint32_t>(data, 8, wqe->offset << 5);
    PostCqe(sq.cq, data, id, /*is_sq=*/true);
  }
}

uint8_t Device::State::Transmit(const Wqe& wqe) {
  const TxOob oob = DecodeTxOob(wqe);
  if (wqe.header.inline_oob_bytes != (oob.long_form ? 24 : 8) || wqe.sges.empty()) {
    ++counters.tx_errors;
    return cqe::kTxInvalidOob;
  }
  std::vector<std::byte> frame;
  for (const Sge& sge : wqe.sges) {
    if (sge.size > kMaxTxBytes - frame.size()) {
      ++counters.tx_errors;
      return cqe::kTxMtuDrop;
    }
    const size_t at = frame.size();
    frame.resize(at + sge.size);
    if (auto read = dma_.Read(mem::Gpa{sge.address}, std::span(frame).subspan(at)); !read) {
      log_.Print("mana: ", "TX buffer unreadable: %s", read.error().message().c_str());
      ++counters.tx_errors;
      return cqe::kTxHeaderProcessingError;
    }
  }
  if (oob.inject_vlan && !net::InsertVlanTag(frame, oob.vlan_tci)) {
    ++counters.tx_errors;
    return cqe::kTxHeaderProcessingError;
  }
  const size_t transport_offset = oob.transport_offset + (oob.inject_vlan ? size_t{4} : size_t{0});
  const auto send = [&](std::span<const std::byte> out) {
    packets_.Transmit(out);
    ++counters.tx_frames;
    counters.tx_bytes += out.size();
  };
  if (wqe.header.client_oob_in_sgl) {
    // §3 TSO: the MSS in client_data_unit; every segment's headers are
    // rebuilt from the frame's own.
    if (!net::SegmentTcp(frame, wqe.header.client_data_unit, send)) {
      ++counters.tx_errors;
      return cqe::kTxHeaderProcessingError;
    }
    return 0;
  }
  // One frame: no larger than the MTU allows (VLAN tag included).
  if (frame.size() > config_.mtu + net::kEthernetHeaderBytes + 4) {
    ++counters.tx_errors;
    return cqe::kTxMtuDrop;
  }
  if (oob.ip_checksum || oob.tcp_checksum || oob.udp_checksum) {
    const net::TxChecksumRequest request{.ipv4_header = oob.ip_checksum && oob.ipv4,
                                         .tcp = oob.tcp_checksum,
                                         .udp = oob.udp_checksum && !oob.tcp_checksum,
                                         .l4_offset = transport_offset};
    if (!net::CompleteChecksums(frame, request)) {
      ++counters.tx_errors;
      return cqe::kTxHeaderProcessingError;
    }
  }
  send(frame);
  return 0;
}

bool Device::State::ReceiveLocked(std::span<const std::byte> frame) {
  if (!rx_enabled_ || frame.size() < net::kEthernetHeaderBytes) {
    ++counters.rx_dropped;
    return false;
  }
  std::optional<uint32_t> rq = default_rq_;
  net::RssHash hash;
  if (rss_enabled_) {
    hash = net::HashFrame(rss_key_, frame);
    if (hash.type != 0) rq = indirection_[hash.value % kIndirectionEntries];
  }
  if (!rq || *rq >= rqs_.size() || !rqs_[*rq]) {
    ++counters.rx_dropped;
    return false;
  }
  Rq& target = *rqs_[*rq];
  if (target.backlog.empty() && DeliverTo(*rq, frame, hash)) return true;
  if (target.backlog.size() >= kRxBacklogFrames) {
    ++counters.rx_dropped;
    return false;
  }
  target.backlog.emplace_back(std::vector<std::byte>(frame.begin(), frame.end()), hash);
  return true;
}

void Device::State::ServeRq(uint32_t id) {
  Rq& rq = *rqs_[id];
  while (!rq.backlog.empty() && DeliverTo(id, rq.backlog.front().first, rq.backlog.front().second))
    rq.backlog.pop_front();
}

bool Device::State::DeliverTo(uint32_t id, std::span<const std::byte> frame,
                              const net::RssHash& rss) {
  Rq& rq = *rqs_[id];
  if (rq.stopped || rq.queue.empty() || !CqHasRoom(rq.cq)) return false;
  auto wqe = rq.queue.Peek(dma_);
  if (!wqe) {
    log_.Print("mana: ", "RQ %u stopped: %s", id, wqe.error().message().c_str());
    rq.stopped = true;
    return false;
  }
  rq.queue.Consume(wqe->bytes);
  // The frame across the WQE's SGEs, in order; one that does not fit is
  // reported truncated (the driver drops it and recycles the buffer).
  uint64_t room = 0;
  for (const Sge& sge : wqe->sges) room += sge.size;
  uint8_t type = cqe::kRxOkay;
  if (frame.size() > room || frame.size() > 0xFFFF) {  // the CQE's length is 16 bits
    type = cqe::kRxTruncated;
  } else {
    std::span<const std::byte> rest = frame;
    for (const Sge& sge : wqe->sges) {
      if (rest.empty()) break;
      const size_t chunk = std::min<size_t>(rest.size(), sge.size);
      if (auto written = dma_.Write(mem::Gpa{sge.address}, rest.first(chunk)); !written) {
        log_.Print("mana: ", "RX buffer unwritable: %s", written.error().message().c_str());
        type = cqe::kRxTruncated;
        break;
      }
      rest = rest.subspan(chunk);
    }
  }
  std::array<std::byte, kCqeDataBytes> data{};
  (void)base::StoreLe<uint32_t>(data, 0, uint32_t{type} | (cqe::kClientMana << 6));
  if (type == cqe::kRxOkay) {
    const net::ChecksumVerdict verdict = net::VerifyChecksums(frame);
    uint32_t flags = 0;
    if (verdict.ip_ok) flags |= rx_flags::kIpOk;
    if (verdict.ip_failed) flags |= rx_flags::kIpFail;
    if (verdict.tcp_ok) flags |= rx_flags::kTcpOk;
    if (verdict.tcp_failed) flags |= rx_flags::kTcpFail;
    if (verdict.udp_ok) flags |= rx_flags::kUdpOk;
    if (verdict.udp_failed) flags |= rx_flags::kUdpFail;
    flags |= rss.type << rx_flags::kHashTypeShift;
    (void)base::StoreLe<uint32_t>(data, 4, flags);
    (void)base::StoreLe<uint16_t>(data, 8, static_cast<uint16_t>(frame.size()));
    (void)base::StoreLe<uint32_t>(data, 16, rss.value);
    ++counters.rx_frames;
    counters.rx_bytes += frame.size();
  } else {
    ++counters.rx_dropped;
  }
  (void)base::StoreLe<uint32_t>(data, 56, wqe->offset);
  PostCqe(rq.cq, data, id, /*is_sq=*/false);
  return true;
}

}  // namespace mana
