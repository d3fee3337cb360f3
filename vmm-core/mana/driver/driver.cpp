#include "mana/driver/driver.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "base/le_bytes.h"
#include "base/string_printf.h"
#include "mana/wire.h"

namespace mana::driver {
namespace {

constexpr uint32_t kFrameBufferBytes = 2048;
constexpr size_t kRxWqeBytes = 32;  // header, 8-byte OOB, one SGE
constexpr size_t kTxWqeBytes = 32;  // header, short OOB, one SGE
constexpr size_t kHwcSqWqeBytes = 64;  // header, 24-byte HWC OOB, one SGE

uint32_t QueueBytes(uint64_t entries, uint64_t entry_bytes) {
  return static_cast<uint32_t>(std::bit_ceil(std::max<uint64_t>(kPageBytes, entries * entry_bytes)));
}

template <std::unsigned_integral T>
T Load(std::span<const std::byte> bytes, size_t offset) {
  T value = 0;
  (void)base::LoadLe<T>(bytes, offset, value);
  return value;
}

template <std::unsigned_integral T>
void Store(std::span<std::byte> bytes, size_t offset, T value) {
  (void)base::StoreLe<T>(bytes, offset, value);
}

}  // namespace

// A queue in DMA memory: a completion ring the driver reads (EQ, CQ:
// entry_bytes set, head from N as Linux does) or a work queue it writes
// (SQ, RQ: a byte tail).
struct Driver::Ring {
  DmaBuffer memory;
  uint32_t bytes = 0;
  uint32_t entry_bytes = 0;
  uint32_t entries = 0;
  uint64_t head = 0;
  uint32_t tail = 0;
  uint32_t id = 0;

  // The next completion entry, copied out, if the owner bits say the
  // device wrote it; std::nullopt when empty; an Error on overflow.
  base::Result<std::optional<std::vector<std::byte>>> Next() {
    const size_t at = (head % entries) * entry_bytes;
    // The owner bits (31:29 of the last dword: the entry's last byte) are
    // the device's "written" flag: one acquire load of that byte, then the
    // body (§3 "Owner bits").
    const uint32_t owner =
        std::to_integer<uint32_t>(std::atomic_ref<std::byte>(memory.host[at + entry_bytes - 1])
                                      .load(std::memory_order_acquire)) >> 5;
    const auto expected = static_cast<uint32_t>((head / entries) & kOwnerBitsMask);
    if (owner == ((expected - 1) & kOwnerBitsMask)) return std::optional<std::vector<std::byte>>{};
    if (owner != expected) return base::Error::Format("queue %u overflowed (owner %u, expected %u)", id, owner, expected);
    std::vector<std::byte> entry(memory.host.begin() + static_cast<ptrdiff_t>(at),
                                 memory.host.begin() + static_cast<ptrdiff_t>(at + entry_bytes));
    ++head;
    return std::optional(std::move(entry));
  }
  // The doorbell value for this completion ring's head.
  uint64_t CompletionDoorbell(bool arm) const {
    const uint64_t head_field = head % (uint64_t{entries} * 8);
    return id | (head_field << 32) | (arm ? doorbell::kArmBit : 0);
  }
  void PostWqe(std::span<const std::byte> wqe) {
    for (size_t i = 0; i < wqe.size(); ++i) memory.host[(tail + i) % bytes] = wqe[i];
    tail += static_cast<uint32_t>(wqe.size());
  }
};

// One EQ, SQ and RQ with their CQs and buffers. TX state (sq, tx_cq, the
// TX buffers and counters, tx stats) is guarded by tx_mutex: Transmit runs
// on any thread; the rest belongs to the thread polling this pair.
struct Driver::QueuePair {
  std::unique_ptr<Ring> eq, tx_cq, rx_cq, sq, rq;
  uint16_t vector = 0;
  DmaBuffer tx_buffers{}, rx_buffers{};
  std::vector<DmaBuffer> large_tx_buffers;
  std::vector<bool> slot_large;  // per TX slot: its frame is in a large buffer
  uint64_t large_posted = 0, large_completed = 0;
  uint64_t tx_posted = 0, tx_completed = 0;
  uint64_t rx_completed = 0;
  uint64_t rx_posted = 0, rx_announced = 0;  // RX WQEs written, and told the device
  // Which rings a consumed entry disarmed (the device disarms a ring when
  // it posts to it armed, §3): only those are re-armed, each doorbell
  // being an exit to the host. The TX CQ is armed only while in-place
  // frames are out (ReapTxAndReport): tx_cq_reaped says its head moved,
  // which the device must learn (a CQ it sees full stops the SQ).
  bool eq_needs_arm = false, rx_cq_needs_arm = false, tx_cq_reaped = false;
  // Per TX slot: its WQE's bytes in the SQ, and an in-place frame's done.
  std::vector<uint16_t> slot_wqe_bytes;
  std::vector<Done> slot_done;
  std::vector<Time> slot_posted;  // when an in-place frame's WQE was posted
  uint64_t sq_bytes_out = 0;    // WQE bytes posted and not completed
  uint64_t in_place_out = 0;    // in-place frames posted and not completed
  // In-place frames finished (and whether sent), their dones to run once
  // tx_mutex is released (FinishedSends).
  std::vector<std::pair<Done, bool>> finished;
  std::mutex tx_mutex;
  Stats stats;  // tx_* under tx_mutex
};

// Runs the dones ReapTxAndReport collected, when it goes: declared before
// the lock_guard on tx_mutex, it goes after the lock is released.
class Driver::FinishedSends {
 public:
  explicit FinishedSends(QueuePair& pair) : pair_(pair) {}
  ~FinishedSends() {
    std::vector<std::pair<Done, bool>> finished;
    {
      const std::lock_guard lock(pair_.tx_mutex);
      finished.swap(pair_.finished);
    }
    for (auto& [done, sent] : finished) done(sent);
  }
  FinishedSends(const FinishedSends&) = delete;
  FinishedSends& operator=(const FinishedSends&) = delete;

 private:
  QueuePair& pair_;
};

Driver::Driver(Bar& bar, DmaPool& pool, Clock clock, const Options& options)
    : bar_(bar), pool_(pool), clock_(std::move(clock)), options_(options) {}

Driver::~Driver() {
  // A failed device may still write anywhere it was told: keep its memory.
  if (failed()) return;
  for (const DmaBuffer& buffer : allocations_) pool_.Free(buffer);
}

base::Result<std::unique_ptr<Driver>> Driver::Create(Bar& bar, DmaPool& pool, Clock clock,
                                                     const Options& options) {
  if (!std::has_single_bit(options.rx_buffers) || !std::has_single_bit(options.tx_buffers) ||
      options.rx_buffers > 4096 || options.tx_buffers > 4096)
    return base::Error("mana driver: buffer counts must be powers of two up to 4096");
  auto driver = std::unique_ptr<Driver>(new Driver(bar, pool, std::move(clock), options));
  if (auto up = driver->BringUp(); !up) {
    driver->Fail(up.error().message());
    return up.error();
  }
  return driver;
}

void Driver::Fail(std::string why) {
  if (failed_.exchange(true)) return;
  failure_ = std::move(why);
}

void Driver::Doorbell(uint64_t offset, uint64_t value) {
  std::atomic_thread_fence(std::memory_order_release);
  bar_.Write64(offset, value);
}

base::Result<uint64_t> Driver::CreateRegion(const DmaBuffer& buffer) {
  const size_t pages = buffer.host.size() / kPageBytes;
  std::vector<std::byte> body(24 + pages * 8);
  Store<uint64_t>(body, 0, buffer.host.size());
  Store<uint32_t>(body, 16, static_cast<uint32_t>(pages));
  Store<uint32_t>(body, 20, static_cast<uint32_t>(pages));
  for (size_t i = 0; i < pages; ++i)
    Store<uint64_t>(body, 24 + i * 8, buffer.device_address + i * kPageBytes);
  const auto response = TRY(Request(msg::kCreateDmaRegion, body, 40, 0));
  const uint64_t handle = Load<uint64_t>(response, 32);
  if (handle == 0) return base::Error("CREATE_DMA_REGION returned handle 0");
  return handle;
}

base::Result<std::vector<std::byte>> Driver::Request(uint32_t code, std::span<const std::byte> body,
                                                     uint32_t response_bytes, uint32_t device) {
  // §2 "HWC transport": a response buffer on the RQ, the request on the SQ,
  // then both CQEs (the RQ's says where and how long the response is).
  const size_t request_bytes = msg::kRequestHeaderBytes + body.size();
  if (request_bytes > hwc_request_.host.size() || response_bytes > hwc_response_.host.size())
    return base::Error("HWC request too large");
  const uint16_t id = message_id_;
  const uint32_t activity = ++activity_;
  std::span<std::byte> request = hwc_request_.host.first(request_bytes);
  std::fill(request.begin(), request.end(), std::byte{0});
  std::fill(hwc_response_.host.begin(), hwc_response_.host.end(), std::byte{0});
  Store<uint32_t>(request, 4, code);
  Store<uint16_t>(request, 8, 1);
  Store<uint16_t>(request, 10, id);
  Store<uint32_t>(request, 12, static_cast<uint32_t>(request_bytes));
  Store<uint32_t>(request, 20, code);
  Store<uint16_t>(request, 24, 1);
  Store<uint32_t>(request, 28, response_bytes);
  Store<uint32_t>(request, 32, device);
  Store<uint32_t>(request, 36, activity);
  std::copy(body.begin(), body.end(), request.begin() + msg::kRequestHeaderBytes);

  std::array<std::byte, kRxWqeBytes> rq_wqe{};
  Store<uint32_t>(rq_wqe, 4, 1u | (2u << 8));  // one SGE, 8-byte OOB
  Store<uint64_t>(rq_wqe, 16, hwc_response_.device_address);
  Store<uint32_t>(rq_wqe, 28, static_cast<uint32_t>(hwc_response_.host.size()));
  const uint32_t rq_offset = hwc_rq_->tail % hwc_rq_->bytes;
  hwc_rq_->PostWqe(rq_wqe);
  Doorbell(hwc_doorbell_page_ + doorbell::kRq, hwc_rq_->id | (uint64_t{hwc_rq_->tail} << 32));
  std::array<std::byte, kHwcSqWqeBytes> sq_wqe{};
  Store<uint32_t>(sq_wqe, 4, 1u | (6u << 8));  // one SGE, 24-byte OOB
  Store<uint32_t>(sq_wqe, 8 + 16, hwc_cq_id_ & 0xFFFFFF);  // vscq
  Store<uint32_t>(sq_wqe, 8 + 20, hwc_sq_id_ & 0xFFFFFF);  // vsq
  Store<uint64_t>(sq_wqe, 32, hwc_request_.device_address);
  Store<uint32_t>(sq_wqe, 44, static_cast<uint32_t>(request_bytes));
  hwc_sq_->PostWqe(sq_wqe);
  Doorbell(hwc_doorbell_page_ + doorbell::kSq, hwc_sq_->id | (uint64_t{hwc_sq_->tail} << 32));

  const Time deadline = clock_() + options_.request_timeout;
  std::optional<uint32_t> length;
  bool sq_done = false;
  while (!length || !sq_done) {
    auto next = TRY(hwc_cq_->Next());
    if (!next) {
      if (clock_() > deadline)
        return base::Error::Format("HWC request %#x timed out", code);
      continue;
    }
    const std::vector<std::byte>& cqe = *next;
    const uint32_t info = Load<uint32_t>(cqe, 60);
    const bool is_sq = (info >> 24) & 1;
    const uint32_t wq = info & 0xFFFFFF;
    if (is_sq && wq == hwc_sq_id_) {
      sq_done = true;
    } else if (!is_sq && wq == hwc_rq_id_) {
      if (Load<uint32_t>(cqe, kHwcRxOobWqeOffset) != rq_offset)
        return base::Error("HWC response in another buffer than posted");
      length = Load<uint32_t>(cqe, kHwcRxOobDataSize);
    } else {
      return base::Error::Format("HWC CQE for queue %u", wq);
    }
  }
  // Tell the device how far the CQ is consumed (not armed: requests poll).
  Doorbell(hwc_doorbell_page_ + doorbell::kCq, hwc_cq_->CompletionDoorbell(false));
  ++message_id_;
  if (*length < msg::kResponseHeaderBytes || *length > hwc_response_.host.size())
    return base::Error::Format("HWC response of %u bytes", *length);
  std::vector<std::byte> response(hwc_response_.host.begin(),
                                  hwc_response_.host.begin() + *length);
  if (Load<uint32_t>(response, 4) != code || Load<uint16_t>(response, 10) != id ||
      Load<uint32_t>(response, 20) != activity)
    return base::Error::Format("HWC response to %#x does not match its request", code);
  if (const uint32_t status = Load<uint32_t>(response, 24); status != 0)
    return base::Error::Format("request %#x failed with status %#x", code, status);
  if (response.size() < response_bytes)
    return base::Error::Format("response to %#x of %zu bytes, expected %u", code, response.size(),
                               response_bytes);
  return response;
}

base::Result<void> Driver::BringUp() {
  // §1 registers.
  const uint64_t bar_bytes = bar_.bar_bytes();
  const uint64_t db_page_offset = bar_.Read64(reg::kDoorbellPageOffset);
  const uint64_t db_page_bytes = bar_.Read32(reg::kDoorbellPageSize) & 0xFFFF;
  const uint64_t smc_offset = bar_.Read64(reg::kSmcOffset);
  if (bar_.Read32(reg::kVersion) == 0xFFFFFFFF) return base::Error("device gone (all-ones)");
  if (db_page_bytes < kPageBytes || db_page_offset >= bar_bytes ||
      smc_offset + smc::kBytes > bar_bytes || smc_offset % 4 != 0)
    return base::Error::Format("BAR0 layout: doorbells at %#llx (%llu bytes), SMC at %#llx",
                               static_cast<unsigned long long>(db_page_offset),
                               static_cast<unsigned long long>(db_page_bytes),
                               static_cast<unsigned long long>(smc_offset));
  const auto page_offset = [&](uint64_t id) -> base::Result<uint64_t> {
    const uint64_t offset = db_page_offset + id * db_page_bytes;
    if (offset + kPageBytes > bar_bytes) return base::Error("doorbell page outside BAR0");
    return offset;
  };
  const auto allocate = [&](size_t bytes) -> base::Result<DmaBuffer> {
    DmaBuffer buffer = TRY(pool_.Allocate(bytes));
    allocations_.push_back(buffer);
    std::fill(buffer.host.begin(), buffer.host.end(), std::byte{0});
    return buffer;
  };
  const auto ring = [&](size_t bytes, uint32_t entry_bytes) -> base::Result<std::unique_ptr<Ring>> {
    auto made = std::make_unique<Ring>();
    made->memory = TRY(allocate(bytes));
    made->bytes = static_cast<uint32_t>(bytes);
    made->entry_bytes = entry_bytes;
    if (entry_bytes != 0) {
      made->entries = static_cast<uint32_t>(bytes / entry_bytes);
      made->head = made->entries;
    }
    return made;
  };
  hwc_eq_ = TRY(ring(kPageBytes, kEqeBytes));
  hwc_cq_ = TRY(ring(kPageBytes, kCqeBytes));
  hwc_rq_ = TRY(ring(kPageBytes, 0));
  hwc_sq_ = TRY(ring(kPageBytes, 0));
  hwc_request_ = TRY(allocate(kPageBytes));
  hwc_response_ = TRY(allocate(kPageBytes));

  // §1 SMC ESTABLISH_HWC: wait for it to be idle, write the 8 dwords (the
  // header last triggers), wait, check the response header.
  const auto smc_idle = [&]() -> base::Result<uint32_t> {
    const Time deadline = clock_() + options_.request_timeout;
    for (;;) {
      const uint32_t header = bar_.Read32(smc_offset + 28);
      if ((header & smc::kBusyBit) == 0) return header;
      if (clock_() > deadline) return base::Error("SMC stays busy");
    }
  };
  TRY(smc_idle());
  std::array<std::byte, smc::kBytes> smc_bytes{};
  const uint64_t pfns[4] = {hwc_eq_->memory.device_address / kPageBytes,
                            hwc_cq_->memory.device_address / kPageBytes,
                            hwc_rq_->memory.device_address / kPageBytes,
                            hwc_sq_->memory.device_address / kPageBytes};
  uint16_t high = 0;
  for (size_t q = 0; q < 4; ++q) {
    for (size_t b = 0; b < 6; ++b) smc_bytes[q * 6 + b] = std::byte((pfns[q] >> (8 * b)) & 0xFF);
    high = static_cast<uint16_t>(high | (((pfns[q] >> 48) & 0xF) << (4 * q)));
  }
  Store<uint16_t>(smc_bytes, 24, high);
  Store<uint16_t>(smc_bytes, 26, 0);  // the HWC EQ's vector
  Store<uint32_t>(smc_bytes, 28, smc::kEstablishHwc);
  for (size_t i = 0; i < 8; ++i) bar_.Write32(smc_offset + i * 4, Load<uint32_t>(smc_bytes, i * 4));
  const uint32_t answer = TRY(smc_idle());
  if (smc::TypeOf(answer) != smc::kEstablishHwc || (answer & smc::kResponseBit) == 0 ||
      ((answer >> 8) & 0xFF) != 0)
    return base::Error::Format("SMC ESTABLISH_HWC answered %#x", answer);

  // §2 the init EQEs.
  bool done = false;
  uint32_t hwc_db = 0;
  const Time deadline = clock_() + options_.request_timeout;
  while (!done) {
    auto next = TRY(hwc_eq_->Next());
    if (!next) {
      if (clock_() > deadline) return base::Error("no HWC INIT_DONE");
      continue;
    }
    const uint32_t details = Load<uint32_t>(*next, 0);
    switch (Load<uint32_t>(*next, 12) & 0xFF) {
      case eqe::kHwcInitEqIdDb:
        hwc_eq_id_ = details & 0xFFFF;
        hwc_db = details >> 16;
        break;
      case eqe::kHwcInitData: {
        const uint32_t value = details & 0xFFFFFF;
        switch (details >> 24) {
          case hwc_init::kCqId: hwc_cq_id_ = value; break;
          case hwc_init::kRqId: hwc_rq_id_ = value; break;
          case hwc_init::kSqId: hwc_sq_id_ = value; break;
          case hwc_init::kMaxNumCqs: max_cqs_ = value; break;
          default: break;  // depth, sizes, PDID, key: this driver's fixed choices fit
        }
        break;
      }
      case eqe::kHwcInitDone: done = true; break;
      default: break;
    }
  }
  hwc_eq_->id = hwc_eq_id_;
  hwc_cq_->id = hwc_cq_id_;
  hwc_rq_->id = hwc_rq_id_;
  hwc_sq_->id = hwc_sq_id_;
  hwc_doorbell_page_ = TRY(page_offset(hwc_db));
  if (hwc_cq_id_ >= max_cqs_) return base::Error("HWC CQ id beyond max_num_cqs");

  // §2 the 6.1 request order.
  std::vector<std::byte> verify(600);
  Store<uint64_t>(verify, 0, 1);  // protocol versions 1..1
  Store<uint64_t>(verify, 8, 1);
  Store<uint64_t>(verify, 56, 0x60);  // OS type: paravisor, as OpenHCL reports
  (void)TRY(Request(msg::kVerifyVfDriverVersion, verify, 40, 0));
  const auto limits = TRY(Request(msg::kQueryMaxResources, {}, 72, 0));
  if (Load<uint32_t>(limits, 36) == 0 || Load<uint32_t>(limits, 40) == 0 ||
      Load<uint32_t>(limits, 44) < 2 || Load<uint32_t>(limits, 48) == 0 ||
      Load<uint32_t>(limits, 68) < 2)
    return base::Error("QUERY_MAX_RESOURCES: not enough queues or vectors for one pair");
  const auto devices = TRY(Request(msg::kListDevices, {}, 40 + 64 * 4, 0));
  const uint32_t count = std::min<uint32_t>(Load<uint32_t>(devices, 32), 64);
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t device = Load<uint32_t>(devices, 40 + i * 4);
    if ((device & 0xFFFF) == kDeviceTypeMana) {
      device_id_ = device;
      break;
    }
  }
  if ((device_id_ & 0xFFFF) != kDeviceTypeMana) return base::Error("no MANA device listed");
  const auto registered = TRY(Request(msg::kRegisterDevice, {}, 44, device_id_));
  const uint32_t pdid = Load<uint32_t>(registered, 32);
  const uint32_t memory_key = Load<uint32_t>(registered, 36);
  const uint32_t db_id = Load<uint32_t>(registered, 40);
  doorbell_page_ = TRY(page_offset(db_id));
  std::vector<std::byte> dev_config(48);
  Store<uint32_t>(dev_config, 32, 0);  // protocol 0.1.1
  Store<uint32_t>(dev_config, 36, 1);
  Store<uint32_t>(dev_config, 40, 1);
  const auto config = TRY(Request(msg::kQueryDevConfig, dev_config, 72, device_id_));
  if (Load<uint16_t>(config, 64) == 0) return base::Error("the device has no vport");
  std::vector<std::byte> vport_query(8);
  const auto vport = TRY(Request(msg::kQueryVportConfig, vport_query, 64, device_id_));
  for (size_t i = 0; i < mac_.size(); ++i) mac_[i] = std::to_integer<uint8_t>(vport[48 + i]);
  vport_ = Load<uint64_t>(vport, 56);
  std::vector<std::byte> vport_tx(16);
  Store<uint64_t>(vport_tx, 0, vport_);
  Store<uint32_t>(vport_tx, 8, pdid);
  Store<uint32_t>(vport_tx, 12, db_id);
  (void)TRY(Request(msg::kConfigVportTx, vport_tx, 36, device_id_));

  // The pairs: as many as asked for and the device offers (its SQs, RQs,
  // EQs, CQs in pairs, vectors beyond the HWC's, the vport's queues).
  const uint32_t offered = std::min({Load<uint32_t>(limits, 36), Load<uint32_t>(limits, 40),
                                     Load<uint32_t>(limits, 48), Load<uint32_t>(limits, 44) / 2,
                                     Load<uint32_t>(limits, 68) - 1, Load<uint32_t>(vport, 32),
                                     Load<uint32_t>(vport, 36)});
  const uint32_t pair_count = std::clamp<uint32_t>(options_.queue_pairs, 1, std::max(1u, offered));
  memory_key_ = memory_key;
  std::vector<uint64_t> rq_objects;
  for (uint32_t index = 0; index < pair_count; ++index) {
    auto pair = std::make_unique<QueuePair>();
    pair->vector = static_cast<uint16_t>(index + 1);
    // Its EQ (§2 "Per queue: an EQ"), then the two work queue objects (§2
    // "ip link up").
    pair->eq = TRY(ring(kPageBytes, kEqeBytes));
    std::vector<std::byte> create_eq(56);
    Store<uint32_t>(create_eq, 0, kQueueTypeEq);
    Store<uint32_t>(create_eq, 8, pdid);
    Store<uint32_t>(create_eq, 12, db_id);
    Store<uint64_t>(create_eq, 16, TRY(CreateRegion(pair->eq->memory)));
    Store<uint32_t>(create_eq, 28, pair->eq->bytes);
    Store<uint32_t>(create_eq, 32, 3);  // log2 throttle, as Linux
    Store<uint32_t>(create_eq, 36, pair->vector);
    const auto eq = TRY(Request(msg::kCreateQueue, create_eq, 36, device_id_));
    pair->eq->id = Load<uint32_t>(eq, 32);
    const auto work_queue = [&](uint32_t type, uint32_t buffers, size_t wqe_bytes,
                                std::unique_ptr<Ring>& wq, std::unique_ptr<Ring>& cq,
                                uint64_t& object) -> base::Result<void> {
      wq = TRY(ring(QueueBytes(buffers, wqe_bytes), 0));
      cq = TRY(ring(QueueBytes(buffers, kCqeBytes), kCqeBytes));
      std::vector<std::byte> create(48);
      Store<uint64_t>(create, 0, vport_);
      Store<uint32_t>(create, 8, type);
      Store<uint64_t>(create, 16, TRY(CreateRegion(wq->memory)));
      Store<uint64_t>(create, 24, TRY(CreateRegion(cq->memory)));
      Store<uint32_t>(create, 32, wq->bytes);
      Store<uint32_t>(create, 36, cq->bytes);
      Store<uint32_t>(create, 44, pair->eq->id);
      const auto created = TRY(Request(msg::kCreateWqObj, create, 48, device_id_));
      wq->id = Load<uint32_t>(created, 32);
      cq->id = Load<uint32_t>(created, 36);
      object = Load<uint64_t>(created, 40);
      if (cq->id >= max_cqs_ || object == ~uint64_t{0})
        return base::Error("CREATE_WQ_OBJ: CQ id beyond max_num_cqs or no object");
      return base::Ok();
    };
    uint64_t sq_object = 0, rq_object = 0;
    // Room for every slot's WQE at its largest (two SGEs: 64 bytes).
    TRY(work_queue(kQueueTypeSq, options_.tx_buffers, 2 * kTxWqeBytes, pair->sq, pair->tx_cq,
                   sq_object));
    TRY(work_queue(kQueueTypeRq, options_.rx_buffers, kRxWqeBytes, pair->rq, pair->rx_cq,
                   rq_object));
    rq_objects.push_back(rq_object);
    pair->tx_buffers = TRY(allocate(size_t{options_.tx_buffers} * kFrameBufferBytes));
    pair->rx_buffers = TRY(allocate(size_t{options_.rx_buffers} * kFrameBufferBytes));
    for (uint32_t i = 0; i < options_.large_tx_buffers; ++i)
      pair->large_tx_buffers.push_back(TRY(allocate(kLargeFrameBytes)));
    pair->slot_large.assign(options_.tx_buffers, false);
    pair->slot_wqe_bytes.assign(options_.tx_buffers, 0);
    pair->slot_done.resize(options_.tx_buffers);
    pair->slot_posted.resize(options_.tx_buffers);
    pairs_.push_back(std::move(pair));
  }
  // CONFIG_VPORT_RX: receive on; with several pairs RSS over a fixed key
  // (the device hashes, any key spreads flows), the 64 entries round-robin
  // over the RQs; pair 0's RQ the default.
  std::vector<std::byte> steer(112 - 40 + 64 * 8);
  Store<uint64_t>(steer, 0, vport_);
  Store<uint16_t>(steer, 8, 64);
  Store<uint16_t>(steer, 10, 112);
  Store<uint32_t>(steer, 12, 1);
  Store<uint32_t>(steer, 16, pair_count > 1 ? 1 : 0);
  steer[20] = std::byte{1};
  steer[21] = std::byte{1};
  steer[22] = std::byte{1};
  Store<uint64_t>(steer, 24, rq_objects[0]);
  // Microsoft's published sample RSS key (NDIS "Verifying the RSS Hash
  // Calculation").
  constexpr std::array<uint8_t, 40> kKey = {
      0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
      0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
      0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  for (size_t i = 0; i < kKey.size(); ++i) steer[32 + i] = std::byte{kKey[i]};
  for (size_t i = 0; i < 64; ++i) Store<uint64_t>(steer, 72 + i * 8, rq_objects[i % pair_count]);
  (void)TRY(Request(msg::kConfigVportRx, steer, 32, device_id_));

  for (auto& pair : pairs_) {
    for (uint32_t i = 0; i < options_.rx_buffers; ++i) PostRx(*pair, i);
    Doorbell(doorbell_page_ + doorbell::kRq, pair->rq->id | (uint64_t{pair->rq->tail} << 32));
    pair->rx_announced = pair->rx_posted;
    // CQs start armed; a doorbell with arm 0 disarms (§3): the TX CQ never
    // interrupts (driver.h).
    Doorbell(doorbell_page_ + doorbell::kCq, pair->tx_cq->CompletionDoorbell(false));
    Doorbell(doorbell_page_ + doorbell::kCq, pair->rx_cq->CompletionDoorbell(true));
    Doorbell(doorbell_page_ + doorbell::kEq, pair->eq->CompletionDoorbell(true));
  }
  return base::Ok();
}

void Driver::PostRx(QueuePair& pair, uint32_t buffer) {
  std::array<std::byte, kRxWqeBytes> wqe{};
  Store<uint32_t>(wqe, 4, 1u | (2u << 8));
  Store<uint64_t>(wqe, 16, pair.rx_buffers.device_address + uint64_t{buffer} * kFrameBufferBytes);
  Store<uint32_t>(wqe, 24, memory_key_);
  Store<uint32_t>(wqe, 28, kFrameBufferBytes);
  pair.rq->PostWqe(wqe);
  ++pair.rx_posted;
}

bool Driver::Transmit(std::span<const std::byte> frame, const TxRequest& request, uint32_t queue) {
  return TransmitFrom(
      frame.size(),
      [frame](std::span<std::byte> buffer) -> base::Result<void> {
        std::copy(frame.begin(), frame.end(), buffer.begin());
        return base::Ok();
      },
      request, queue);
}

bool Driver::TransmitFrom(size_t bytes, const Fill& fill, const TxRequest& request,
                          uint32_t queue) {
  return PostTx(bytes, fill, {}, nullptr, request, queue);
}

bool Driver::TransmitInPlace(size_t bytes, const Fill& fill_head,
                             std::span<const block::Segment> rest, Done done,
                             const TxRequest& request, uint32_t queue) {
  uint64_t rest_bytes = 0;
  for (const block::Segment& segment : rest) rest_bytes += segment.bytes;
  if (bytes <= kInPlaceHeadBytes || rest.empty() || rest.size() > kMaxInPlaceSegments ||
      rest_bytes != bytes - kInPlaceHeadBytes || !done)
    return false;
  return PostTx(bytes, fill_head, rest, std::move(done), request, queue);
}

bool Driver::PostTx(size_t bytes, const Fill& fill, std::span<const block::Segment> rest,
                    Done done, const TxRequest& request, uint32_t queue) {
  if (pairs_.empty()) return false;
  QueuePair& pair = *pairs_[queue % pairs_.size()];
  const FinishedSends finished(pair);  // after the lock below is released
  const std::lock_guard lock(pair.tx_mutex);
  const bool in_place = !rest.empty();
  // What is copied into the TX buffer: the whole frame, or its head.
  const size_t copied = in_place ? kInPlaceHeadBytes : bytes;
  const bool large = copied > kFrameBufferBytes;
  if (failed() || bytes < 14 || bytes > kLargeFrameBytes ||
      (large && pair.large_tx_buffers.empty()) || request.mss > 0x3FFF ||
      (request.mss != 0 && request.l4_offset + 20u > copied)) {
    ++pair.stats.tx_dropped;
    return false;
  }
  // The WQE (§3): header, the OOB (the short form, or the long one, 16
  // bytes more, when the device inserts a VLAN tag), then 16 bytes per
  // SGE, in whole 32-byte units: the copied bytes (for TSO, the headers
  // alone, then the rest of what was copied), then `rest`.
  const size_t oob_bytes = request.insert_vlan ? 24 : 8;
  const size_t max_sges = (request.mss != 0 ? 2 : 1) + rest.size();
  const auto wqe_bytes_for = [&](size_t sges) { return (8 + oob_bytes + 16 * sges + 31) / 32 * 32; };
  const size_t max_wqe_bytes = wqe_bytes_for(max_sges);
  const auto full = [&] {
    return pair.tx_posted - pair.tx_completed >= options_.tx_buffers ||
           (large && pair.large_posted - pair.large_completed >= pair.large_tx_buffers.size()) ||
           pair.sq_bytes_out + max_wqe_bytes > pair.sq->bytes;
  };
  if (full()) ReapTxAndReport(pair);
  if (failed() || full()) {
    ++pair.stats.tx_dropped;
    return false;
  }
  uint32_t oob0 = pair.tx_cq->id << 8;
  if (request.insert_vlan) oob0 |= 1u;
  if (request.ipv4) oob0 |= 1u << 2;
  if (request.ipv6) oob0 |= 1u << 3;
  if (request.tcp_checksum || request.mss != 0) oob0 |= 1u << 5;
  if (request.udp_checksum && request.mss == 0) oob0 |= 1u << 6;
  // TSO over IPv4: each segment's header checksum too (as Linux's mana asks).
  if (request.mss != 0 && request.ipv4) oob0 |= 1u << 4;
  const uint32_t oob1 = (request.l4_offset & 0x3FFu) | (((pair.sq->id >> 10) & 0x3FFF) << 10);
  // Long form dw0: inject_vlan[3], pcp[18:16], dei[19], vid[31:20].
  const uint32_t oob2 = (1u << 3) | (uint32_t{request.vlan_tci} >> 13) << 16 |
                        ((uint32_t{request.vlan_tci} >> 12) & 1) << 19 |
                        (uint32_t{request.vlan_tci} & 0xFFF) << 20;
  const uint64_t slot = pair.tx_posted % options_.tx_buffers;
  const DmaBuffer target =
      large ? pair.large_tx_buffers[pair.large_posted % pair.large_tx_buffers.size()]
            : DmaBuffer{pair.tx_buffers.host.subspan(slot * kFrameBufferBytes, kFrameBufferBytes),
                        pair.tx_buffers.device_address + slot * kFrameBufferBytes};
  // The copied bytes; what is read from them below is read from this
  // buffer, once.
  const std::span<const std::byte> head = target.host.first(copied);
  if (!fill(target.host.first(copied))) {
    ++pair.stats.tx_dropped;
    return false;
  }
  std::array<std::byte, kMaxSqWqeBytes> wqe{};
  size_t sges = 0;
  const size_t sgl = 8 + oob_bytes;
  const auto add_sge = [&](uint64_t address, uint64_t length) {
    Store<uint64_t>(wqe, sgl + 16 * sges, address);
    Store<uint32_t>(wqe, sgl + 16 * sges + 8, memory_key_);
    Store<uint32_t>(wqe, sgl + 16 * sges + 12, static_cast<uint32_t>(length));
    ++sges;
  };
  uint32_t header1 = 0;
  size_t header_bytes = copied;
  if (request.mss != 0) {
    // TSO: the headers alone in SGE 0 (the header length in last_vbytes),
    // the payload after, the MSS in client_data_unit (§3 TSO).
    const uint32_t doff = (std::to_integer<uint32_t>(head[request.l4_offset + 12u]) >> 4) * 4;
    header_bytes = request.l4_offset + doff;
    if (doff < 20 || header_bytes > 255 || header_bytes >= bytes) {
      ++pair.stats.tx_dropped;
      return false;
    }
    header1 = (1u << 11) | (request.mss << 16);
  }
  add_sge(target.device_address, header_bytes);
  if (header_bytes < copied) add_sge(target.device_address + header_bytes, copied - header_bytes);
  for (const block::Segment& segment : rest) add_sge(mem::ToU64(segment.gpa), segment.bytes);
  if (large) ++pair.large_posted;
  pair.slot_large[slot] = large;
  Store<uint32_t>(wqe, 0, request.mss != 0 ? static_cast<uint32_t>(header_bytes) << 24 : 0);
  Store<uint32_t>(wqe, 4,
                  static_cast<uint32_t>(sges) | static_cast<uint32_t>(oob_bytes / 4) << 8 | header1);
  Store<uint32_t>(wqe, 8, oob0);
  Store<uint32_t>(wqe, 12, oob1);
  if (request.insert_vlan) Store<uint32_t>(wqe, 16, oob2);  // dw3, the long form's vp offset: 0
  const size_t wqe_bytes = wqe_bytes_for(sges);
  pair.sq->PostWqe(std::span(wqe).first(wqe_bytes));
  pair.slot_wqe_bytes[slot] = static_cast<uint16_t>(wqe_bytes);
  pair.sq_bytes_out += wqe_bytes;
  if (in_place) {
    pair.slot_done[slot] = std::move(done);
    pair.slot_posted[slot] = clock_();
    ++pair.in_place_out;
  }
  ++pair.tx_posted;
  ++pair.stats.tx_frames;
  Doorbell(doorbell_page_ + doorbell::kSq, pair.sq->id | (uint64_t{pair.sq->tail} << 32));
  // The device may have sent it already (the loader's VF does, within the
  // doorbell): the guest's memory is free again the sooner.
  if (in_place) ReapTxAndReport(pair);
  return true;
}

void Driver::ReapTx(QueuePair& pair) {
  for (;;) {
    auto next = pair.tx_cq->Next();
    if (!next) {
      Fail("TX CQ: " + next.error().message());
      return;
    }
    if (!*next) return;
    const std::vector<std::byte>& cqe = **next;
    const uint32_t info = Load<uint32_t>(cqe, 60);
    const uint32_t header = Load<uint32_t>(cqe, 0);
    if (((info >> 24) & 1) == 0 || (info & 0xFFFFFF) != pair.sq->id || ((header >> 6) & 3) != cqe::kClientMana ||
        pair.tx_completed == pair.tx_posted) {
      Fail(base::StringPrintf("TX CQE for queue %u (%u outstanding)", info & 0xFFFFFF,
                              static_cast<unsigned>(pair.tx_posted - pair.tx_completed)));
      return;
    }
    const bool sent = (header & 0x3F) == cqe::kTxOkay;
    if (!sent) ++pair.stats.tx_errors;
    pair.tx_cq_reaped = true;
    const uint64_t slot = pair.tx_completed % options_.tx_buffers;
    if (pair.slot_large[slot]) ++pair.large_completed;
    pair.sq_bytes_out -= pair.slot_wqe_bytes[slot];
    if (pair.slot_done[slot]) {
      pair.finished.emplace_back(std::exchange(pair.slot_done[slot], nullptr), sent);
      --pair.in_place_out;
    }
    ++pair.tx_completed;
  }
}

void Driver::ReapTxAndReport(QueuePair& pair) {
  if (!failed()) ReapTx(pair);
  if (failed()) {
    // Nothing more will complete: the in-place frames finish unsent (the
    // device may still hold their addresses, as it may the driver's own
    // memory, which is never freed after a failure).
    for (Done& done : pair.slot_done)
      if (done) pair.finished.emplace_back(std::exchange(done, nullptr), false);
    pair.in_place_out = 0;
    return;
  }
  // The new head; armed while in-place frames are out (see the header):
  // an arm behind the device's tail fires at once (§3 arm model), so a
  // completion between the reap and this doorbell is not lost.
  const bool arm = pair.in_place_out != 0;
  if (!pair.tx_cq_reaped && !arm) return;
  Doorbell(doorbell_page_ + doorbell::kCq, pair.tx_cq->CompletionDoorbell(arm));
  pair.tx_cq_reaped = false;
}

void Driver::ReapRx(QueuePair& pair, const Receive& receive) {
  bool reposted = false;
  uint64_t frames = 0, dropped = 0;  // into pair.stats under tx_mutex at the end
  struct Count {
    QueuePair& pair;
    uint64_t& frames;
    uint64_t& dropped;
    ~Count() {
      const std::lock_guard lock(pair.tx_mutex);
      pair.stats.rx_frames += frames;
      pair.stats.rx_dropped += dropped;
    }
  } count{pair, frames, dropped};
  for (;;) {
    auto next = pair.rx_cq->Next();
    if (!next) {
      Fail("RX CQ: " + next.error().message());
      return;
    }
    if (!*next) break;
    pair.rx_cq_needs_arm = true;
    const std::vector<std::byte>& cqe = **next;
    const uint32_t info = Load<uint32_t>(cqe, 60);
    const uint32_t header = Load<uint32_t>(cqe, 0);
    if (((info >> 24) & 1) != 0 || (info & 0xFFFFFF) != pair.rq->id) {
      Fail(base::StringPrintf("RX CQE for queue %u", info & 0xFFFFFF));
      return;
    }
    const uint32_t type = header & 0x3F;
    if (type == cqe::kRxObjectFence) continue;  // consumes no buffer
    const auto buffer = static_cast<uint32_t>(pair.rx_completed % options_.rx_buffers);
    ++pair.rx_completed;
    if (type == cqe::kRxOkay) {
      const uint16_t length = Load<uint16_t>(cqe, 8);
      if (length > kFrameBufferBytes || length == 0) {
        Fail(base::StringPrintf("RX frame of %u bytes in a %u-byte buffer", length, kFrameBufferBytes));
        return;
      }
      const uint32_t flags = Load<uint32_t>(cqe, 4);
      RxInfo rx;
      rx.ip_checksum_ok = (flags & rx_flags::kIpOk) != 0;
      rx.tcp_checksum_ok = (flags & rx_flags::kTcpOk) != 0;
      rx.udp_checksum_ok = (flags & rx_flags::kUdpOk) != 0;
      rx.hash = Load<uint32_t>(cqe, 16);
      ++frames;
      receive(pair.rx_buffers.host.subspan(size_t{buffer} * kFrameBufferBytes, length), rx);
    } else {
      ++dropped;
    }
    PostRx(pair, buffer);
    reposted = true;
  }
  // Reposted buffers are announced once the device's share falls to half
  // the ring: a doorbell per batch, not per frame.
  if (reposted && pair.rx_announced - pair.rx_completed <= options_.rx_buffers / 2) {
    Doorbell(doorbell_page_ + doorbell::kRq, pair.rq->id | (uint64_t{pair.rq->tail} << 32));
    pair.rx_announced = pair.rx_posted;
  }
}

void Driver::Poll(const Receive& receive) {
  for (uint32_t i = 0; i < pairs_.size(); ++i) Poll(i, receive);
}

void Driver::Poll(uint32_t index, const Receive& receive) {
  if (index >= pairs_.size()) return;
  QueuePair& pair = *pairs_[index];
  const FinishedSends finished(pair);  // last: no lock held
  if (failed()) {
    const std::lock_guard lock(pair.tx_mutex);
    ReapTxAndReport(pair);  // a failed driver's in-place frames finish unsent
    return;
  }
  {
    const std::lock_guard lock(pair.tx_mutex);
    ++pair.stats.interrupts;
  }
  // Drain the EQ (its COMPLETION entries only say which CQ to look at;
  // both are reaped every time), then the CQs, then re-arm CQs before the
  // EQ: a completion between the two re-fires the EQ (§3 arm model).
  for (;;) {
    auto next = pair.eq->Next();
    if (!next) {
      Fail("EQ: " + next.error().message());
      return;
    }
    if (!*next) break;
    pair.eq_needs_arm = true;
  }
  ReapRx(pair, receive);
  {
    const std::lock_guard lock(pair.tx_mutex);
    ReapTx(pair);
    // The oldest in-place frame still out (completions come in order).
    if (!failed() && pair.in_place_out != 0) {
      for (uint64_t posted = pair.tx_completed; posted != pair.tx_posted; ++posted) {
        const uint64_t slot = posted % options_.tx_buffers;
        if (!pair.slot_done[slot]) continue;
        if (clock_() - pair.slot_posted[slot] > options_.tx_timeout)
          Fail(base::StringPrintf("TX queue %u: no completion in %lld ms", pair.sq->id,
                                  static_cast<long long>(options_.tx_timeout.count())));
        break;
      }
    }
    ReapTxAndReport(pair);
  }
  if (failed()) return;
  if (pair.rx_cq_needs_arm) {
    Doorbell(doorbell_page_ + doorbell::kCq, pair.rx_cq->CompletionDoorbell(true));
    pair.rx_cq_needs_arm = false;
  }
  if (pair.eq_needs_arm) {
    Doorbell(doorbell_page_ + doorbell::kEq, pair.eq->CompletionDoorbell(true));
    pair.eq_needs_arm = false;
  }
}

Stats Driver::stats() const {
  Stats total;
  for (const auto& pair : pairs_) {
    const std::lock_guard lock(pair->tx_mutex);
    total.tx_frames += pair->stats.tx_frames;
    total.tx_dropped += pair->stats.tx_dropped;
    total.tx_errors += pair->stats.tx_errors;
    total.rx_frames += pair->stats.rx_frames;
    total.rx_dropped += pair->stats.rx_dropped;
    total.interrupts += pair->stats.interrupts;
  }
  return total;
}

}  // namespace mana::driver
