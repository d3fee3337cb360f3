// The hardware channel's request path (mana-netvsc.md §2): a request WQE
// on the HWC SQ names the request buffer; the response goes into the
// buffer of the next HWC RQ WQE; then a CQE for the SQ and one for the RQ
// whose data says where the RQ WQE was and how long the response is.
#include <algorithm>
#include <bit>

#include "base/le_bytes.h"
#include "base/le_bytes_result.h"
#include "mana/device_state.h"

namespace mana {
namespace {

constexpr uint32_t kStatusFailure = 1;
constexpr uint64_t kGdmaProtocolVersion = 1;

template <std::unsigned_integral T>
base::Result<T> Field(std::span<const std::byte> request, size_t offset) {
  return base::LoadLeOrError<T>(request, offset);
}

template <std::unsigned_integral T>
void Put(std::span<std::byte> response, size_t offset, T value) {
  (void)base::StoreLe<T>(response, offset, value);
}

}  // namespace

void Device::State::ServeHwc() {
  if (!hwc_up_) return;
  Sq& sq = *sqs_[kHwcQueueId];
  Rq& rq = *rqs_[kHwcQueueId];
  while (!sq.stopped && !sq.queue.empty()) {
    // Both CQEs need room, and the response a buffer; else wait for the
    // driver's next doorbell.
    if (rq.queue.empty() || !cqs_[kHwcQueueId]->ring.HasRoom(2)) return;
    auto request_wqe = sq.queue.Peek(dma_);
    auto response_wqe = rq.queue.Peek(dma_);
    if (!request_wqe || !response_wqe || request_wqe->sges.empty() ||
        response_wqe->sges.empty()) {
      log_.Print("mana: ", "HWC: malformed WQE (%s): channel stopped",
                 !request_wqe ? request_wqe.error().message().c_str()
                 : !response_wqe ? response_wqe.error().message().c_str()
                                 : "no SGE");
      sq.stopped = true;
      return;
    }
    const Sge& in = request_wqe->sges[0];
    const Sge& out = response_wqe->sges[0];
    std::vector<std::byte> request(std::min<size_t>(in.size, msg::kMaxBytes));
    std::vector<std::byte> response;
    if (auto read = dma_.Read(mem::Gpa{in.address}, request); !read) {
      log_.Print("mana: ", "HWC request unreadable: %s", read.error().message().c_str());
      response.assign(msg::kResponseHeaderBytes, std::byte{0});
      Put<uint32_t>(response, 24, kStatusFailure);
    } else {
      response = HandleRequest(request);
    }
    ++counters.hwc_requests;
    const size_t length = std::min<size_t>(response.size(), out.size);
    if (auto written = dma_.Write(mem::Gpa{out.address}, std::span(response).first(length));
        !written)
      log_.Print("mana: ", "HWC response unwritable: %s", written.error().message().c_str());
    sq.queue.Consume(request_wqe->bytes);
    rq.queue.Consume(response_wqe->bytes);
    std::array<std::byte, kCqeDataBytes> data{};
    PostCqe(kHwcQueueId, data, kHwcQueueId, /*is_sq=*/true);
    Put<uint32_t>(data, kHwcRxOobWqeOffset, response_wqe->offset);
    Put<uint32_t>(data, kHwcRxOobDataSize, static_cast<uint32_t>(length));
    PostCqe(kHwcQueueId, data, kHwcQueueId, /*is_sq=*/false);
  }
}

std::vector<std::byte> Device::State::HandleRequest(std::span<const std::byte> request) {
  // §2 "Headers": the driver says which response it expects (code,
  // version, size); the response echoes that header with the request's
  // hwc_msg_id, device id and activity id.
  uint32_t code = 0, expected_size = 0, device = 0, activity = 0;
  uint16_t message_id = 0;
  if (request.size() < msg::kRequestHeaderBytes) {
    std::vector<std::byte> response(msg::kResponseHeaderBytes);
    Put<uint32_t>(response, 24, kStatusFailure);
    return response;
  }
  (void)base::LoadLe<uint32_t>(request, 4, code);
  (void)base::LoadLe<uint16_t>(request, 10, message_id);
  (void)base::LoadLe<uint32_t>(request, 28, expected_size);
  (void)base::LoadLe<uint32_t>(request, 32, device);
  (void)base::LoadLe<uint32_t>(request, 36, activity);
  expected_size = std::clamp<uint32_t>(expected_size, msg::kResponseHeaderBytes, msg::kMaxBytes);
  std::vector<std::byte> response(expected_size);
  // The expected-response header as the driver wrote it: type, code,
  // version; then our message id and size.
  std::copy_n(request.begin() + msg::kHeaderBytes, 10, response.begin());
  Put<uint16_t>(response, 10, message_id);
  Put<uint32_t>(response, 12, expected_size);
  Put<uint32_t>(response, 16, device);
  Put<uint32_t>(response, 20, activity);
  if (auto done = Dispatch(code, request, response); !done) {
    log_.Print("mana: ", "request %#x failed: %s", code, done.error().message().c_str());
    std::fill(response.begin() + msg::kResponseHeaderBytes, response.end(), std::byte{0});
    Put<uint32_t>(response, 24, kStatusFailure);
  }
  return response;
}

base::Result<QueueMemory> Device::State::TakeRegion(uint64_t handle, uint32_t bytes) {
  const auto found = regions_.find(handle);
  if (found == regions_.end()) return base::Error::Format("no DMA region %#llx",
                                                          static_cast<unsigned long long>(handle));
  if (found->second.length < bytes) return base::Error("queue larger than its DMA region");
  auto memory = TRY(QueueMemory::Create(found->second.pages, bytes));
  regions_.erase(found);  // a queue consumes its region
  return memory;
}

template <typename T>
std::optional<uint32_t> Device::State::FreeSlot(const std::vector<std::optional<T>>& table,
                                                uint32_t first) {
  for (uint32_t id = first; id < table.size(); ++id)
    if (!table[id]) return id;
  return std::nullopt;
}

base::Result<uint32_t> Device::State::RqFromObject(uint64_t handle) const {
  if (handle < kRqObjectBase + 1 || handle >= kRqObjectBase + rqs_.size() ||
      !rqs_[handle - kRqObjectBase])
    return base::Error::Format("no RX object %#llx", static_cast<unsigned long long>(handle));
  return static_cast<uint32_t>(handle - kRqObjectBase);
}

base::Result<void> Device::State::Dispatch(uint32_t code, std::span<const std::byte> request,
                                           std::span<std::byte> response) {
  if (response.size() < msg::kResponseHeaderBytes) return base::Error("response too small");
  const auto need = [&](size_t bytes) -> base::Result<void> {
    if (response.size() < bytes)
      return base::Error::Format("expected response of %zu bytes, need %zu", response.size(),
                                 bytes);
    return base::Ok();
  };
  switch (code) {
    case msg::kVerifyVfDriverVersion:
      TRY(need(40));
      Put<uint64_t>(response, 32, kGdmaProtocolVersion);
      return base::Ok();
    case msg::kQueryMaxResources: {
      TRY(need(72));
      const uint32_t pairs = config_.queue_pairs;
      Put<uint32_t>(response, 36, pairs);      // SQs
      Put<uint32_t>(response, 40, pairs);      // RQs
      Put<uint32_t>(response, 44, 2 * pairs);  // CQs
      Put<uint32_t>(response, 48, pairs);      // EQs
      Put<uint32_t>(response, 52, 1);          // doorbell pages
      Put<uint32_t>(response, 68, config_.msix_vectors);
      return base::Ok();
    }
    case msg::kListDevices:
      TRY(need(48));
      Put<uint32_t>(response, 32, 2);
      Put<uint32_t>(response, 40, kDeviceTypeHwc);
      Put<uint32_t>(response, 44, kDeviceTypeMana);
      return base::Ok();
    case msg::kRegisterDevice:
      TRY(need(44));
      return base::Ok();  // PDID 0, memory key 0, doorbell page 0
    case msg::kDeregisterDevice:
      return base::Ok();
    case msg::kGenerateTestEqe: {
      const uint32_t eq = TRY(Field<uint32_t>(request, 40));
      if (eq >= eqs_.size() || !eqs_[eq]) return base::Error::Format("test EQE for EQ %u", eq);
      PostEqe(eq, eqe::kTest, std::array{0u});
      return base::Ok();
    }
    case msg::kCreateQueue: {
      TRY(need(36));
      const uint32_t type = TRY(Field<uint32_t>(request, 40));
      const uint64_t region = TRY(Field<uint64_t>(request, 56));
      const uint32_t bytes = TRY(Field<uint32_t>(request, 68));
      const uint32_t msix = TRY(Field<uint32_t>(request, 76));
      if (type != kQueueTypeEq) return base::Error::Format("CREATE_QUEUE of type %u", type);
      if (msix >= config_.msix_vectors) return base::Error::Format("EQ MSI-X %u", msix);
      const auto id = FreeSlot(eqs_, 1);
      if (!id) return base::Error("no EQ left");
      auto memory = TRY(TakeRegion(region, bytes));
      eqs_[*id] = Eq{CompletionRing(std::move(memory), kEqeBytes), static_cast<uint16_t>(msix)};
      Put<uint32_t>(response, 32, *id);
      return base::Ok();
    }
    case msg::kDisableQueue: {
      const uint32_t type = TRY(Field<uint32_t>(request, 40));
      const uint32_t id = TRY(Field<uint32_t>(request, 44));
      if (type != kQueueTypeEq || id == kHwcQueueId || id >= eqs_.size() || !eqs_[id])
        return base::Error::Format("DISABLE_QUEUE type %u id %u", type, id);
      eqs_[id].reset();
      return base::Ok();
    }
    case msg::kCreateDmaRegion: {
      TRY(need(40));
      const uint64_t length = TRY(Field<uint64_t>(request, 40));
      const uint32_t offset_in_page = TRY(Field<uint32_t>(request, 48));
      const uint32_t page_type = TRY(Field<uint32_t>(request, 52));
      const uint32_t count = TRY(Field<uint32_t>(request, 56));
      const uint32_t list_length = TRY(Field<uint32_t>(request, 60));
      if (offset_in_page != 0 || page_type != 0 || count == 0 || list_length != count)
        return base::Error("DMA region: offset, page type or page list not supported");
      if (length == 0 || length > uint64_t{count} * kPageBytes)
        return base::Error("DMA region length does not match its pages");
      if (regions_.size() >= kMaxRegions) return base::Error("too many DMA regions");
      Region created;
      for (uint32_t i = 0; i < count; ++i) {
        const uint64_t page = TRY(Field<uint64_t>(request, 64 + size_t{i} * 8));
        if (page % kPageBytes != 0) return base::Error("DMA region page not 4 KiB aligned");
        created.pages.push_back(page);
      }
      created.length = length;
      const uint64_t handle = next_region_++;
      regions_.emplace(handle, std::move(created));
      Put<uint64_t>(response, 32, handle);
      return base::Ok();
    }
    case msg::kDestroyDmaRegion: {
      const uint64_t handle = TRY(Field<uint64_t>(request, 40));
      if (regions_.erase(handle) == 0) return base::Error("no such DMA region");
      return base::Ok();
    }
    case msg::kQueryDevConfig:
      TRY(need(72));
      Put<uint16_t>(response, 64, 1);  // vports
      Put<uint32_t>(response, 68, config_.queue_pairs);
      // Later drivers read the adapter MTU here (a v2 response).
      if (response.size() >= 74) Put<uint16_t>(response, 72, static_cast<uint16_t>(config_.mtu + 14));
      return base::Ok();
    case msg::kQueryVportConfig: {
      TRY(need(64));
      if (TRY(Field<uint32_t>(request, 40)) != 0) return base::Error("no such vport");
      Put<uint32_t>(response, 32, config_.queue_pairs);
      Put<uint32_t>(response, 36, config_.queue_pairs);
      Put<uint32_t>(response, 40, kIndirectionEntries);
      for (size_t i = 0; i < config_.mac.size(); ++i) response[48 + i] = std::byte{config_.mac[i]};
      Put<uint64_t>(response, 56, kVportHandle);
      return base::Ok();
    }
    case msg::kConfigVportTx:
      TRY(need(36));
      if (TRY(Field<uint64_t>(request, 40)) != kVportHandle) return base::Error("no such vport");
      Put<uint16_t>(response, 32, 0);  // vport offset
      response[34] = std::byte{1};     // the short OOB form is allowed
      return base::Ok();
    case msg::kCreateWqObj:
      return CreateWqObject(request, response);
    case msg::kDestroyWqObj: {
      const uint32_t type = TRY(Field<uint32_t>(request, 40));
      const uint64_t handle = TRY(Field<uint64_t>(request, 48));
      if (type == kQueueTypeSq && handle > kSqObjectBase && handle < kSqObjectBase + sqs_.size() &&
          sqs_[handle - kSqObjectBase]) {
        auto& sq = sqs_[handle - kSqObjectBase];
        cqs_[sq->cq].reset();
        sq.reset();
        return base::Ok();
      }
      if (type == kQueueTypeRq) {
        const uint32_t rq = TRY(RqFromObject(handle));
        cqs_[rqs_[rq]->cq].reset();
        rqs_[rq].reset();
        if (default_rq_ == rq) default_rq_.reset();
        return base::Ok();
      }
      return base::Error("DESTROY_WQ_OBJ of an unknown object");
    }
    case msg::kFenceRq: {
      const uint32_t rq = TRY(RqFromObject(TRY(Field<uint64_t>(request, 40))));
      // Everything received before the fence is already completed (RX
      // is synchronous here): the fence CQE says so (§2 FENCE_RQ).
      std::array<std::byte, kCqeDataBytes> data{};
      Put<uint32_t>(data, 0, cqe::kRxObjectFence | (cqe::kClientMana << 6));
      if (!PostCqe(rqs_[rq]->cq, data, rq, /*is_sq=*/false)) return base::Error("fence CQ full");
      return base::Ok();
    }
    case msg::kConfigVportRx:
      return ConfigureRx(request);
    default:
      return base::Error::Format("unknown request %#x", code);
  }
}

base::Result<void> Device::State::CreateWqObject(std::span<const std::byte> request,
                                                 std::span<std::byte> response) {
  if (response.size() < 48) return base::Error("CREATE_WQ_OBJ response too small");
  if (TRY(Field<uint64_t>(request, 40)) != kVportHandle) return base::Error("no such vport");
  const uint32_t type = TRY(Field<uint32_t>(request, 48));
  const uint64_t wq_region = TRY(Field<uint64_t>(request, 56));
  const uint64_t cq_region = TRY(Field<uint64_t>(request, 64));
  const uint32_t wq_bytes = TRY(Field<uint32_t>(request, 72));
  const uint32_t cq_bytes = TRY(Field<uint32_t>(request, 76));
  const uint32_t parent_eq = TRY(Field<uint32_t>(request, 84));
  if (type != kQueueTypeSq && type != kQueueTypeRq)
    return base::Error::Format("CREATE_WQ_OBJ of type %u", type);
  if (parent_eq == kHwcQueueId || parent_eq >= eqs_.size() || !eqs_[parent_eq])
    return base::Error::Format("parent EQ %u", parent_eq);
  const auto cq = FreeSlot(cqs_, 1);
  const auto wq = type == kQueueTypeSq ? FreeSlot(sqs_, 1) : FreeSlot(rqs_, 1);
  if (!cq || !wq) return base::Error("no queue left");
  // Both regions must exist before either is consumed.
  if (!regions_.contains(wq_region) || !regions_.contains(cq_region) || wq_region == cq_region)
    return base::Error("CREATE_WQ_OBJ regions");
  auto wq_memory = TRY(TakeRegion(wq_region, wq_bytes));
  auto cq_memory = TakeRegion(cq_region, cq_bytes);
  if (!cq_memory) return cq_memory.error();
  cqs_[*cq] = Cq{CompletionRing(std::move(*cq_memory), kCqeBytes), parent_eq};
  uint64_t object = 0;
  if (type == kQueueTypeSq) {
    sqs_[*wq] = Sq{WorkQueue(std::move(wq_memory), kMaxSqWqeBytes), *cq, false};
    object = kSqObjectBase + *wq;
  } else {
    rqs_[*wq] = Rq{WorkQueue(std::move(wq_memory), kMaxRqWqeBytes), *cq, false, {}};
    object = kRqObjectBase + *wq;
  }
  Put<uint32_t>(response, 32, *wq);
  Put<uint32_t>(response, 36, *cq);
  Put<uint64_t>(response, 40, object);
  return base::Ok();
}

base::Result<void> Device::State::ConfigureRx(std::span<const std::byte> request) {
  // §2 CONFIG_VPORT_RX (mana_cfg_rx_steer_req).
  if (TRY(Field<uint64_t>(request, 40)) != kVportHandle) return base::Error("no such vport");
  const uint16_t entries = TRY(Field<uint16_t>(request, 48));
  const uint16_t table_offset = TRY(Field<uint16_t>(request, 50));
  const auto rx_enable = static_cast<int32_t>(TRY(Field<uint32_t>(request, 52)));
  const auto rss_enable = static_cast<int32_t>(TRY(Field<uint32_t>(request, 56)));
  const bool update_default = TRY(Field<uint8_t>(request, 60)) != 0;
  const bool update_key = TRY(Field<uint8_t>(request, 61)) != 0;
  const bool update_table = TRY(Field<uint8_t>(request, 62)) != 0;
  // Everything is checked before anything changes.
  std::optional<uint32_t> default_rq;
  if (update_default) default_rq = TRY(RqFromObject(TRY(Field<uint64_t>(request, 64))));
  std::array<uint32_t, kIndirectionEntries> table{};
  if (update_table) {
    if (entries == 0 || entries > kIndirectionEntries)
      return base::Error::Format("indirection table of %u entries", entries);
    for (size_t i = 0; i < kIndirectionEntries; ++i)
      table[i] = TRY(RqFromObject(TRY(Field<uint64_t>(request, table_offset + (i % entries) * 8))));
  }
  if (update_key && request.size() < 72 + net::kRssKeyBytes) return base::Error("short RSS key");
  if (update_default) default_rq_ = default_rq;
  if (update_table) indirection_ = table;
  if (update_key) std::copy_n(request.begin() + 72, net::kRssKeyBytes, rss_key_.begin());
  // Tri-state flags: 1 on, 0 off, anything else unchanged.
  if (rx_enable == 0 || rx_enable == 1) rx_enabled_ = rx_enable == 1;
  if (rss_enable == 0 || rss_enable == 1) rss_enabled_ = rss_enable == 1;
  return base::Ok();
}

}  // namespace mana
