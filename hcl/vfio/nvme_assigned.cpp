#include "vfio/nvme_assigned.h"

#include <linux/vfio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "base/string_printf.h"

namespace hcl::vfio {
namespace {

using nvme::driver::DriverState;
using nvme::driver::Time;

// Queue depth per I/O queue: VTL2 has little RAM (igvm/openhcl-x64.json.in
// gives it 32 MiB), and each slot keeps one PRP list page.
constexpr uint16_t kIoQueueEntries = 64;
// Interrupt coalescing (NVMe Feature 08h; driver Options): off. Measured
// in the carrier with THR 7 / TIME 2 (8 entries or 200 us), 4K QD32
// through storvsc: fewer IOPS (303-316 against 366) and more VTL2 entries
// per I/O (1.4-1.6 against 1.0): the loader's file back end completes
// within the VTL2 visit that submitted, so hcl rarely has a second request
// to batch with and the aggregation timer adds a visit of its own.
constexpr uint16_t kInterruptCoalescing = 0;
constexpr uint64_t kPage = 4096;
// How often the driver thread ticks: fast while RDY waits run (Linux polls
// CSTS every 1-2 ms, nvme-vfio.md §1.3), slow once ready (timeouts are
// tens of seconds; the tick also polls every queue in case an interrupt
// was lost).
constexpr auto kBringUpTick = std::chrono::milliseconds(2);
constexpr auto kReadyTick = std::chrono::seconds(1);

Time Now() {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

uint64_t PagesFor(uint64_t bytes) { return (bytes + kPage - 1) / kPage; }

// What the driver takes from the pool (driver.cpp, queue_pair.cpp): the
// admin queues of 32 entries with one PRP page per slot, the Identify
// buffer, and per I/O queue its SQ, CQ and one PRP page per slot; plus
// slack for a reset that allocates before the old queues are freed.
uint64_t PoolBytes(uint16_t io_queue_pairs) {
  const uint64_t admin = PagesFor(32 * 64) + PagesFor(32 * 16) + 32 + 1;
  const uint64_t per_queue = PagesFor(uint64_t{kIoQueueEntries} * 64) +
                             PagesFor(uint64_t{kIoQueueEntries} * 16) + kIoQueueEntries;
  return (admin + per_queue * io_queue_pairs + 16) * kPage;
}

const char* StateName(DriverState state) {
  switch (state) {
    case DriverState::kNotStarted: return "not started";
    case DriverState::kInitializing: return "initializing";
    case DriverState::kReady: return "ready";
    case DriverState::kResetting: return "resetting";
    case DriverState::kFailed: return "failed";
  }
  return "?";
}

}  // namespace

base::Result<SharedDma> OpenVtl2Dma(uint32_t controllers, uint16_t io_queue_pairs,
                                    uint64_t bounce_bytes, uint64_t other_bytes) {
  const uint64_t bytes = (PoolBytes(io_queue_pairs) + bounce_bytes) * controllers + other_bytes;
  std::shared_ptr<DmaBacking> backing = TRY(MshvDmaMemory::Open(bytes));
  std::shared_ptr<PagePool> pool = TRY(PagePool::Create(backing->regions()));
  return SharedDma{std::move(backing), std::move(pool)};
}

AssignedNvme::AssignedNvme(MappedFunction function, SharedDma dma)
    : function_(std::move(function)), dma_(std::move(dma)), registers_(function_.bar0.bytes()) {}

// The thread stops (DeviceThread's destructor, first of the members to go)
// before the driver and the vectors it watches.
AssignedNvme::~AssignedNvme() = default;

base::Result<std::unique_ptr<AssignedNvme>> AssignedNvme::Open(const PciFunction& function,
                                                               uint16_t io_queue_pairs,
                                                               std::chrono::seconds bring_up_limit,
                                                               IommuMode mode,
                                                               const SharedDma& vtl2_dma) {
  MappedFunction mapped = TRY(MappedFunction::Open(function.address, mode));
  VfioDevice& device = mapped.device;

  // Vector 0 is the admin queue's, vector q I/O queue q's (Linux's layout,
  // nvme-vfio.md §6). 6.1 cannot add vectors later: enable them all now.
  const uint32_t available = TRY(device.MsixVectorCount());
  if (available == 0) return base::Error(function.address + " has no MSI-X vectors");
  const auto vectors = static_cast<uint16_t>(
      std::min<uint32_t>({available, uint32_t{io_queue_pairs} + 1, 1024}));
  const auto queues = static_cast<uint16_t>(
      std::max<uint32_t>(1, std::min<uint32_t>(io_queue_pairs, vectors > 1 ? vectors - 1u : 1u)));
  std::vector<os::UniqueFd> events = TRY(device.EnableMsix(vectors));

  SharedDma dma;
  switch (mode) {
    case IommuMode::kNoIommu:
      if (!vtl2_dma.pool) return base::Error("no DMA pool for a no-IOMMU device");
      dma = vtl2_dma;
      break;
    case IommuMode::kType1: {
      std::shared_ptr<DmaBacking> backing =
          TRY(IommuDmaMemory::Create(device, PoolBytes(queues), kType1Iova));
      std::shared_ptr<PagePool> pool = TRY(PagePool::Create(backing->regions()));
      dma = SharedDma{std::move(backing), std::move(pool)};
      break;
    }
  }

  std::unique_ptr<AssignedNvme> nvme(new AssignedNvme(std::move(mapped), std::move(dma)));
  nvme::driver::Options options;
  options.io_queue_pairs = queues;
  options.interrupt_vectors = vectors;
  options.io_queue_entries = kIoQueueEntries;
  options.interrupt_coalescing = kInterruptCoalescing;
  nvme->driver_ = TRY(nvme::driver::Driver::Create(nvme->registers_, *nvme->dma_.pool, options));
  nvme->driver_->Start(Now());
  TRY(nvme->StartThread(std::move(events)));

  const auto deadline = std::chrono::steady_clock::now() + bring_up_limit;
  for (;;) {
    const DriverState state = nvme->driver_->state();
    if (state == DriverState::kReady) return nvme;
    if (state == DriverState::kFailed)
      return base::Error(function.address + ": " + nvme->driver_->failure());
    if (std::chrono::steady_clock::now() > deadline)
      return base::Error::Format("%s: not ready after %lld s (%s)", function.address.c_str(),
                                 static_cast<long long>(bring_up_limit.count()), StateName(state));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

base::Result<std::vector<std::byte>> AssignedNvme::ReadFirstBytes(block::Device& ns, size_t bytes,
                                                                  std::chrono::seconds limit) {
  const uint32_t block_size = ns.geometry().block_size;
  if (block_size == 0 || block_size > kPage || bytes > block_size)
    return base::Error::Format("cannot read %zu bytes of a %u-byte block into a page", bytes,
                               block_size);
  const nvme::driver::DmaBuffer page = TRY(dma_.pool->Allocate(kPage));
  // The completion may come after a timeout: the state it touches is shared.
  struct Wait {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<block::Status> status;  // guarded by mutex
  };
  auto wait = std::make_shared<Wait>();
  block::Request request;
  request.op = block::Op::kRead;
  request.lba = 0;
  request.block_count = 1;
  request.segments.push_back({mem::Gpa{page.device_address}, block_size});
  ns.Submit(std::move(request), 0, [wait](block::Status status) {
    std::lock_guard lock(wait->mutex);
    wait->status = status;
    wait->done.notify_all();
  });
  std::unique_lock lock(wait->mutex);
  if (!wait->done.wait_for(lock, limit, [&] { return wait->status.has_value(); }))
    return base::Error("reading block 0 timed out (its DMA page is left unused)");
  const block::Status status = *wait->status;
  lock.unlock();
  std::vector<std::byte> out(page.host.begin(), page.host.begin() + static_cast<std::ptrdiff_t>(bytes));
  dma_.pool->Free(page);
  if (status != block::Status::kOk)
    return base::Error(std::string("reading block 0: ") + block::Describe(status));
  return out;
}

base::Result<void> AssignedNvme::StartThread(std::vector<os::UniqueFd> vectors) {
  vectors_ = std::move(vectors);
  thread_ = TRY(DeviceThread::Create(kBringUpTick));
  // Keys: vector i is i (Driver::OnInterrupt's argument).
  for (size_t i = 0; i < vectors_.size(); ++i) TRY(thread_->Watch(vectors_[i].get(), i));
  thread_->Start([this, fast_ticks = true](uint64_t key) mutable {
    if (key == DeviceThread::kTimerKey)
      driver_->Tick(Now());
    else
      driver_->OnInterrupt(static_cast<uint16_t>(key));
    if (fast_ticks && driver_->state() == DriverState::kReady)
      fast_ticks = !thread_->SetPeriod(kReadyTick).ok();  // else keep ticking fast
  });
  return base::Ok();
}

std::vector<std::unique_ptr<AssignedNvme>> StartAssignedNvme(
    uint32_t vp_count, const std::function<void(const std::string&)>& log, IommuMode mode,
    const IsolatedDma* isolated, uint64_t other_pool_bytes, SharedDma* pool) {
  std::vector<std::unique_ptr<AssignedNvme>> controllers;
  std::vector<std::string> skipped;
  auto functions = ListPciFunctions("/sys/bus/pci/devices", skipped);
  if (!functions.ok()) {
    log("pci: " + functions.error().message());
    return controllers;
  }
  for (const std::string& why : skipped) log("pci: skipped " + why);
  for (const PciFunction& function : *functions) log("pci " + Describe(function));
  const auto queues = static_cast<uint16_t>(std::clamp<uint32_t>(vp_count, 1, 64));
  const auto nvme_count = static_cast<uint32_t>(
      std::count_if(functions->begin(), functions->end(),
                    [](const PciFunction& f) { return f.class_code == kNvmeClassCode; }));
  if (nvme_count == 0 && other_pool_bytes == 0) return controllers;
  SharedDma vtl2_dma;
  if (mode == IommuMode::kNoIommu) {
    auto opened = OpenVtl2Dma(nvme_count, queues, isolated ? isolated->bounce_bytes : 0,
                              other_pool_bytes);
    if (!opened.ok()) {
      log("nvme: no DMA pool: " + opened.error().message());
      return controllers;
    }
    vtl2_dma = std::move(opened).value();
    if (isolated != nullptr) {
      // Private until shared: the controller could not even read its
      // admin queue (cvm-paravisor.md §3).
      if (auto shared = isolated->share(vtl2_dma.backing->regions()); !shared.ok()) {
        log("nvme: DMA pool not shared with the host: " + shared.error().message());
        return controllers;
      }
      log(base::StringPrintf("nvme: DMA pool of %llu KiB shared with the host",
                             static_cast<unsigned long long>(vtl2_dma.pool->total_pages() * 4)));
    }
    if (pool != nullptr) *pool = vtl2_dma;
  }
  for (const PciFunction& function : *functions) {
    if (function.class_code != kNvmeClassCode) continue;
    auto opened = AssignedNvme::Open(function, queues, std::chrono::seconds(120), mode, vtl2_dma);
    if (!opened.ok()) {
      log("nvme: " + function.address + ": not brought up: " + opened.error().message());
      continue;
    }
    nvme::driver::Driver& driver = (*opened)->driver();
    const nvme::driver::ControllerInfo info = driver.info();
    log(base::StringPrintf("nvme: %s ready: model '%s', %u I/O queues, %u-byte transfers",
                           function.address.c_str(), info.model.c_str(), info.io_queues,
                           info.max_transfer_bytes));
    for (block::Device* ns : driver.namespaces()) {
      const block::Geometry& geometry = ns->geometry();
      log(base::StringPrintf("nvme: nsid %u: %llu blocks of %u bytes%s", driver.nsid(ns),
                             static_cast<unsigned long long>(geometry.block_count),
                             geometry.block_size, geometry.read_only ? " (read-only)" : ""));
    }
    for (block::Device* ns : driver.namespaces()) {
      auto first = (*opened)->ReadFirstBytes(*ns, 16, std::chrono::seconds(60));
      if (!first.ok()) {
        log(base::StringPrintf("nvme: nsid %u: %s", driver.nsid(ns), first.error().message().c_str()));
        continue;
      }
      std::string hex;
      for (std::byte b : *first) hex += base::StringPrintf("%02x", static_cast<unsigned>(b));
      log(base::StringPrintf("nvme: nsid %u: block 0 starts %s", driver.nsid(ns), hex.c_str()));
    }
    controllers.push_back(std::move(opened).value());
  }
  return controllers;
}

}  // namespace hcl::vfio
