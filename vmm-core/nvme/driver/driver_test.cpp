#include "nvme/driver/driver.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "nvme/controller.h"
#include "nvme/driver/testing/fake_dma_pool.h"
#include "nvme/driver/testing/scripted_controller.h"
#include "nvme/testing/fake_block_device.h"
#include "nvme/testing/fake_dma_memory.h"
#include "nvme/testing/host.h"

namespace {

using nvme::driver::Driver;
using nvme::driver::DriverState;
using nvme::driver::Time;
using nvme::driver::testing::FakeDmaPool;
using nvme::driver::testing::ScriptedController;
using nvme::testing::FakeBlockDevice;
using nvme::testing::FakeDmaMemory;
namespace wire = nvme::wire;
using std::chrono::seconds;

constexpr uint64_t kMemoryBytes = 8 << 20;
constexpr uint64_t kPoolBase = 1 << 20;
constexpr uint64_t kPoolBytes = 4 << 20;
constexpr uint64_t kData = 6 << 20;  // the "guest" pages requests point at

block::Segment Seg(uint64_t gpa, uint32_t bytes) { return block::Segment{mem::Gpa{gpa}, bytes}; }

// The OS glue's BAR0 mapping, here straight onto the emulator.
class EmulatorRegisters final : public nvme::driver::RegisterAccess {
 public:
  explicit EmulatorRegisters(nvme::Controller& controller) : controller_(controller) {}
  uint32_t Read32(uint64_t offset) override {
    std::array<std::byte, 4> data{};
    (void)controller_.Read(offset, data);
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(data, 0, value);
    return value;
  }
  uint64_t Read64(uint64_t offset) override {
    const uint64_t low = Read32(offset);
    return low | uint64_t{Read32(offset + 4)} << 32;
  }
  void Write32(uint64_t offset, uint32_t value) override {
    ++writes[offset];
    std::array<std::byte, 4> data{};
    (void)base::StoreLe<uint32_t>(data, 0, value);
    (void)controller_.Write(offset, data);
  }
  uint64_t bar_bytes() const override { return nvme::kBar0Bytes; }

  std::map<uint64_t, int> writes;  // per register offset

 private:
  nvme::Controller& controller_;
};

// One block request's outcome.
struct Outcome {
  int calls = 0;
  block::Status status = block::Status::kOk;
  block::Completion Callback() {
    return [this](block::Status s) {
      ++calls;
      status = s;
    };
  }
};

block::Geometry DiskGeometry(uint32_t block_size, uint64_t blocks, bool read_only) {
  block::Geometry geometry;
  geometry.block_size = block_size;
  geometry.block_count = blocks;
  geometry.read_only = read_only;
  geometry.supports_deallocate = true;
  geometry.supports_write_zeroes = true;
  geometry.serial = "disk";
  return geometry;
}

// The driver against the real controller emulator in-process: one fake
// physical memory backs the driver's DMA pool, the emulator's DMA and the
// requests' data pages. Namespace 1: 512-byte blocks; namespace 2: 4 KiB
// blocks, read-only.
struct EmulatorRig {
  explicit EmulatorRig(FakeBlockDevice::Mode mode = FakeBlockDevice::Mode::kInline, uint8_t mdts = 8,
                       nvme::driver::Options options = DefaultOptions())
      : disk(memory, DiskGeometry(512, 4096, false), mode),
        ro_disk(memory, DiskGeometry(4096, 256, true), FakeBlockDevice::Mode::kInline) {
    nvme::Config config;
    config.namespaces = {&disk, &ro_disk};
    config.max_io_queue_pairs = 4;
    config.msix_vectors = 5;
    config.mdts = mdts;
    auto created = nvme::Controller::Create(config, memory, interrupts);
    REQUIRE(created.ok());
    controller = std::move(created).value();
    registers.emplace(*controller);
    auto made = Driver::Create(*registers, pool, options);
    REQUIRE(made.ok());
    driver = std::move(made).value();
    driver->Start(now);
    Pump();
  }
  static nvme::driver::Options DefaultOptions() {
    nvme::driver::Options options;
    options.io_queue_pairs = 2;
    options.interrupt_vectors = 3;
    return options;
  }
  // Delivers the interrupts the emulator raised, as the glue's eventfd
  // threads would.
  void Pump() {
    for (int rounds = 0; rounds < 1000 && !interrupts.vectors.empty(); ++rounds) {
      std::vector<uint16_t> vectors;
      vectors.swap(interrupts.vectors);
      for (uint16_t vector : vectors) driver->OnInterrupt(vector);
    }
  }
  block::Device& ns(size_t index) {
    auto devices = driver->namespaces();
    REQUIRE(devices.size() > index);
    return *devices[index];
  }
  block::Status Run(block::Device& device, block::Request request, uint32_t hint = 0) {
    Outcome outcome;
    device.Submit(std::move(request), hint, outcome.Callback());
    Pump();
    REQUIRE(outcome.calls == 1);
    return outcome.status;
  }
  void Fill(uint64_t gpa, size_t bytes, uint8_t seed) {
    for (size_t i = 0; i < bytes; ++i)
      memory.bytes()[gpa + i] = static_cast<std::byte>((i * 7 + seed) & 0xFF);
  }
  bool Same(uint64_t a, uint64_t b, size_t bytes) {
    return std::equal(memory.bytes().begin() + static_cast<std::ptrdiff_t>(a),
                      memory.bytes().begin() + static_cast<std::ptrdiff_t>(a + bytes),
                      memory.bytes().begin() + static_cast<std::ptrdiff_t>(b));
  }

  FakeDmaMemory memory{0, kMemoryBytes};
  FakeDmaPool pool{memory, kPoolBase, kPoolBytes};
  nvme::testing::RecordingInterrupts interrupts;
  FakeBlockDevice disk;
  FakeBlockDevice ro_disk;
  std::unique_ptr<nvme::Controller> controller;
  std::optional<EmulatorRegisters> registers;
  std::unique_ptr<Driver> driver;
  Time now{};
};

block::Request Rw(block::Op op, uint64_t lba, uint32_t blocks, std::vector<block::Segment> segments) {
  block::Request request;
  request.op = op;
  request.lba = lba;
  request.block_count = blocks;
  request.segments = std::move(segments);
  return request;
}

}  // namespace

TEST_CASE("nvme driver: brings up the emulator and finds its namespaces") {
  EmulatorRig rig;
  REQUIRE(rig.driver->state() == DriverState::kReady);
  const auto info = rig.driver->info();
  CHECK(info.max_transfer_bytes == 1024 * 1024);  // MDTS 8 = 1 MiB, the driver's own cap
  CHECK(info.volatile_write_cache);
  CHECK((info.oncs & wire::kOncsWriteZeroes) != 0);
  CHECK(info.namespace_count == 2);
  CHECK(info.io_queues == 2);  // two wanted, three vectors
  CHECK(info.serial == "HCL0000000000001");
  const auto devices = rig.driver->namespaces();
  REQUIRE(devices.size() == 2);
  CHECK(rig.driver->nsid(devices[0]) == 1);
  CHECK(rig.driver->nsid(devices[1]) == 2);
  const block::Geometry& first = devices[0]->geometry();
  CHECK(first.block_size == 512);
  CHECK(first.block_count == 4096);
  CHECK(!first.read_only);
  CHECK(first.supports_deallocate);
  CHECK(first.supports_write_zeroes);
  const block::Geometry& second = devices[1]->geometry();
  CHECK(second.block_size == 4096);
  CHECK(second.block_count == 256);
  CHECK(second.read_only);  // NSATTR bit 0
  // The controller is enabled with our queues (CC as Linux writes it).
  const wire::Cc cc{rig.registers->Read32(wire::kRegCc)};
  CHECK(cc.en());
  CHECK(cc.iosqes() == 6);
  CHECK(cc.iocqes() == 4);
  CHECK(rig.driver->counters().queues.bad_cid == 0);
}

TEST_CASE("nvme driver: write and read back through PRP lists, unaligned first segment") {
  EmulatorRig rig;
  block::Device& disk = rig.ns(0);
  // 20 KiB: 0xE00 bytes from mid-page, four whole pages, 0x200 into the next.
  const uint64_t source = kData + 0x200;
  rig.Fill(source, 20 * 1024, 3);
  const std::vector<block::Segment> write_segments = {Seg(source, 0xE00), Seg(kData + 0x1000, 4 * 4096),
                                                      Seg(kData + 0x5000, 0x200)};
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 100, 40, write_segments)) == block::Status::kOk);
  REQUIRE(rig.disk.submitted.size() == 1);  // one command: the joints are page aligned
  // On the disk in order.
  CHECK(std::equal(rig.disk.storage().begin() + 100 * 512, rig.disk.storage().begin() + 100 * 512 + 20 * 1024,
                   rig.memory.bytes().begin() + static_cast<std::ptrdiff_t>(source)));
  // Read into scattered pages (every joint page aligned): equal bytes.
  const uint64_t dest = kData + 0x40000;
  CHECK(rig.Run(disk, Rw(block::Op::kRead, 100, 40,
                         {Seg(dest + 0x3000, 0x1000), Seg(dest, 0x2000), Seg(dest + 0x8000, 0x2000)})) ==
        block::Status::kOk);
  CHECK(rig.Same(source, dest + 0x3000, 0x1000));
  CHECK(rig.Same(source + 0x1000, dest, 0x2000));
  CHECK(rig.Same(source + 0x3000, dest + 0x8000, 0x2000));
  // The list page: PRP1 mid-page and more than two pages.
  CHECK(rig.disk.submitted.size() == 2);
}

TEST_CASE("nvme driver: segments that break PRP rules are split; what cannot be split fails") {
  EmulatorRig rig;
  block::Device& disk = rig.ns(0);
  rig.Fill(kData, 0x3000, 9);
  // A 512-byte segment ending mid-page, then more: two commands.
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 0, 3, {Seg(kData, 0x200), Seg(kData + 0x2000, 0x400)})) ==
        block::Status::kOk);
  CHECK(rig.disk.submitted.size() == 2);
  CHECK(std::equal(rig.disk.storage().begin(), rig.disk.storage().begin() + 0x200,
                   rig.memory.bytes().begin() + static_cast<std::ptrdiff_t>(kData)));
  CHECK(std::equal(rig.disk.storage().begin() + 0x200, rig.disk.storage().begin() + 0x600,
                   rig.memory.bytes().begin() + static_cast<std::ptrdiff_t>(kData + 0x2000)));
  // A joint inside a block cannot become PRPs: kInvalid, nothing sent.
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 0, 1, {Seg(kData, 0x100), Seg(kData + 0x2000, 0x100)})) ==
        block::Status::kInvalid);
  CHECK(rig.disk.submitted.size() == 2);
}

TEST_CASE("nvme driver: requests larger than MDTS are split") {
  EmulatorRig rig(FakeBlockDevice::Mode::kInline, /*mdts=*/1);  // 8 KiB per command
  CHECK(rig.driver->info().max_transfer_bytes == 8192);
  block::Device& disk = rig.ns(0);
  rig.Fill(kData + 0x200, 32 * 1024, 5);
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 8, 64, {Seg(kData + 0x200, 32 * 1024)})) == block::Status::kOk);
  REQUIRE(rig.disk.submitted.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(rig.disk.submitted[i].block_count == 16);
    CHECK(rig.disk.submitted[i].lba == 8 + 16 * i);
  }
  CHECK(std::equal(rig.disk.storage().begin() + 8 * 512, rig.disk.storage().begin() + 8 * 512 + 32 * 1024,
                   rig.memory.bytes().begin() + static_cast<std::ptrdiff_t>(kData + 0x200)));
}

TEST_CASE("nvme driver: flush, deallocate and write zeroes") {
  EmulatorRig rig;
  block::Device& disk = rig.ns(0);
  std::fill(rig.disk.storage().begin(), rig.disk.storage().end(), std::byte{0xEE});
  block::Request flush;
  flush.op = block::Op::kFlush;
  flush.block_count = 1;
  CHECK(rig.Run(disk, flush) == block::Status::kOk);
  block::Request trim;
  trim.op = block::Op::kDeallocate;
  trim.lba = 10;
  trim.block_count = 5;
  CHECK(rig.Run(disk, trim) == block::Status::kOk);
  block::Request zero;
  zero.op = block::Op::kWriteZeroes;
  zero.lba = 20;
  zero.block_count = 3;
  CHECK(rig.Run(disk, zero) == block::Status::kOk);
  REQUIRE(rig.disk.submitted.size() == 3);
  CHECK(rig.disk.submitted[0].op == block::Op::kFlush);
  CHECK(rig.disk.submitted[1].op == block::Op::kDeallocate);
  CHECK(rig.disk.submitted[1].lba == 10);
  CHECK(rig.disk.submitted[1].block_count == 5);
  CHECK(rig.disk.submitted[2].op == block::Op::kWriteZeroes);
  CHECK(rig.disk.submitted[2].lba == 20);
  CHECK(rig.disk.submitted[2].block_count == 3);
  CHECK(rig.disk.storage()[20 * 512] == std::byte{0});
  CHECK(rig.disk.storage()[23 * 512 - 1] == std::byte{0});
  CHECK(rig.disk.storage()[23 * 512] == std::byte{0xEE});
  CHECK(!rig.disk.contract_violated);
}

TEST_CASE("nvme driver: read-only namespace, range checks, status mapping") {
  EmulatorRig rig;
  block::Device& ro = rig.ns(1);
  CHECK(rig.Run(ro, Rw(block::Op::kWrite, 0, 1, {Seg(kData, 4096)})) == block::Status::kWriteProtected);
  block::Request zero;
  zero.op = block::Op::kWriteZeroes;
  zero.block_count = 1;
  CHECK(rig.Run(ro, zero) == block::Status::kWriteProtected);
  CHECK(rig.ro_disk.submitted.empty());
  CHECK(rig.Run(ro, Rw(block::Op::kRead, 255, 1, {Seg(kData, 4096)})) == block::Status::kOk);
  CHECK(rig.Run(ro, Rw(block::Op::kRead, 256, 1, {Seg(kData, 4096)})) == block::Status::kOutOfRange);
  CHECK(rig.Run(ro, Rw(block::Op::kRead, UINT64_MAX, 1, {Seg(kData, 4096)})) == block::Status::kOutOfRange);
  CHECK(rig.Run(ro, Rw(block::Op::kRead, 0, 1, {})) == block::Status::kInvalid);
  // A back-end failure comes back through the emulator's NVMe status.
  block::Device& disk = rig.ns(0);
  rig.disk.forced_status = block::Status::kMediaError;
  CHECK(rig.Run(disk, Rw(block::Op::kRead, 0, 1, {Seg(kData, 512)})) == block::Status::kMediaError);
  rig.disk.forced_status = block::Status::kDataTransfer;
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 0, 1, {Seg(kData, 512)})) == block::Status::kDataTransfer);
  rig.disk.forced_status = block::Status::kOutOfRange;
  CHECK(rig.Run(disk, Rw(block::Op::kWrite, 0, 1, {Seg(kData, 512)})) == block::Status::kOutOfRange);
}

TEST_CASE("nvme driver: queue_hint picks the queue; more requests than slots wait their turn") {
  nvme::driver::Options options = EmulatorRig::DefaultOptions();
  options.io_queue_entries = 4;  // three commands in flight per queue
  EmulatorRig rig(FakeBlockDevice::Mode::kDeferred, 8, options);
  block::Device& disk = rig.ns(0);
  std::array<Outcome, 10> outcomes;
  for (size_t i = 0; i < outcomes.size(); ++i)
    disk.Submit(Rw(block::Op::kRead, i, 1, {Seg(kData + i * 512, 512)}), 1, outcomes[i].Callback());
  // hint 1 -> qid 2, which the emulator passes on as the block queue hint.
  CHECK(rig.disk.pending() == 3);
  CHECK(std::all_of(rig.disk.hints.begin(), rig.disk.hints.end(), [](uint32_t hint) { return hint == 2; }));
  for (int rounds = 0; rounds < 20 && rig.disk.CompleteNext(); ++rounds) rig.Pump();
  for (const Outcome& outcome : outcomes) {
    CHECK(outcome.calls == 1);
    CHECK(outcome.status == block::Status::kOk);
  }
  CHECK(rig.disk.submitted.size() == 10);
}

TEST_CASE("nvme driver: the CQ head doorbell is lazy, and the controller never finds the CQ full") {
  nvme::driver::Options options = EmulatorRig::DefaultOptions();
  options.io_queue_entries = 16;
  SUBCASE("one at a time: a head doorbell per quarter ring") {
    EmulatorRig rig(FakeBlockDevice::Mode::kDeferred, 8, options);
    block::Device& disk = rig.ns(0);
    rig.registers->writes.clear();
    for (size_t i = 0; i < 32; ++i) {
      Outcome outcome;
      disk.Submit(Rw(block::Op::kRead, i, 1, {Seg(kData, 512)}), 1, outcome.Callback());
      REQUIRE(rig.disk.CompleteNext());
      rig.Pump();
      REQUIRE(outcome.calls == 1);
      CHECK(outcome.status == block::Status::kOk);
    }
    // Queue 2 (hint 1), doorbell stride 0: 32 completions, 16 entries.
    const uint64_t cq2 = 0x1000 + (2 * 2 + 1) * 4;
    CHECK(rig.registers->writes[cq2] == 32 / (16 / 4));
  }
  SUBCASE("many in flight, completed out of order: all finish") {
    EmulatorRig rig(FakeBlockDevice::Mode::kDeferred, 8, options);
    block::Device& disk = rig.ns(0);
    std::array<Outcome, 100> outcomes;
    for (size_t i = 0; i < outcomes.size(); ++i)
      disk.Submit(Rw(block::Op::kRead, i, 1, {Seg(kData + (i % 8) * 512, 512)}), 1,
                  outcomes[i].Callback());
    for (int rounds = 0; rounds < 1000 && rig.disk.CompleteNext(); ++rounds) {
      if (rounds % 3 == 0) (void)rig.disk.CompleteNext();  // two before the interrupt
      rig.Pump();
    }
    for (const Outcome& outcome : outcomes) {
      CHECK(outcome.calls == 1);
      CHECK(outcome.status == block::Status::kOk);
    }
  }
}

TEST_CASE("nvme driver: Options::interrupt_coalescing sets the controller's coalescing") {
  nvme::driver::Options options = EmulatorRig::DefaultOptions();
  options.interrupt_coalescing = 0x0102;  // TIME 1 (100 us), THR 2 (three entries)
  EmulatorRig rig(FakeBlockDevice::Mode::kInline, 8, options);
  REQUIRE(rig.driver->state() == nvme::driver::DriverState::kReady);
  rig.interrupts.timers_available = true;
  Outcome outcome;
  rig.ns(0).Submit(Rw(block::Op::kRead, 0, 1, {Seg(kData, 512)}), 1, outcome.Callback());
  rig.Pump();
  // Completed by the controller but held: no interrupt, an aggregation timer.
  CHECK(outcome.calls == 0);
  REQUIRE(rig.interrupts.timers.size() == 1);
  CHECK(rig.interrupts.timers[0].second == std::chrono::microseconds(100));
  rig.controller->AggregationTimeElapsed(rig.interrupts.timers[0].first);
  rig.Pump();
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kOk);
}

TEST_CASE("nvme driver: while plugged, entries wait for the last Unplug's doorbell") {
  EmulatorRig rig(FakeBlockDevice::Mode::kDeferred, 8, EmulatorRig::DefaultOptions());
  block::Device& disk = rig.ns(0);
  std::array<Outcome, 3> outcomes;
  disk.Plug();
  disk.Plug();
  for (size_t i = 0; i < outcomes.size(); ++i)
    disk.Submit(Rw(block::Op::kRead, i, 1, {Seg(kData + i * 512, 512)}), 1, outcomes[i].Callback());
  // Written to the SQ, but the controller has not been told.
  CHECK(rig.disk.pending() == 0);
  disk.Unplug();
  CHECK(rig.disk.pending() == 0);
  disk.Unplug();  // the last: one tail doorbell for all three
  CHECK(rig.disk.pending() == 3);
  for (int rounds = 0; rounds < 10 && rig.disk.CompleteNext(); ++rounds) rig.Pump();
  for (const Outcome& outcome : outcomes) {
    CHECK(outcome.calls == 1);
    CHECK(outcome.status == block::Status::kOk);
  }
  // An Unplug without a Plug changes nothing.
  disk.Unplug();
  Outcome after;
  disk.Submit(Rw(block::Op::kRead, 0, 1, {Seg(kData, 512)}), 1, after.Callback());
  CHECK(rig.disk.pending() == 1);
  // Finished before `after` goes (the driver's destructor would answer it).
  for (int rounds = 0; rounds < 10 && rig.disk.CompleteNext(); ++rounds) rig.Pump();
  CHECK(after.calls == 1);
}

TEST_CASE("nvme driver: the last Unplug reaps what the device completed during its doorbell") {
  EmulatorRig rig(FakeBlockDevice::Mode::kInline, 8, EmulatorRig::DefaultOptions());
  block::Device& disk = rig.ns(0);
  std::array<Outcome, 3> outcomes;
  disk.Plug();
  for (size_t i = 0; i < outcomes.size(); ++i)
    disk.Submit(Rw(block::Op::kRead, i, 1, {Seg(kData + i * 512, 512)}), 1, outcomes[i].Callback());
  CHECK(outcomes[0].calls == 0);
  disk.Unplug();
  // Answered on this thread, before any interrupt is delivered.
  REQUIRE_FALSE(rig.interrupts.vectors.empty());
  for (const Outcome& outcome : outcomes) {
    CHECK(outcome.calls == 1);
    CHECK(outcome.status == block::Status::kOk);
  }
  // The interrupt comes after and answers nothing twice.
  rig.Pump();
  for (const Outcome& outcome : outcomes) CHECK(outcome.calls == 1);
  CHECK(rig.Run(disk, Rw(block::Op::kRead, 0, 1, {Seg(kData, 512)})) == block::Status::kOk);
}

// ---------------------------------------------------------------------------
// Hostile and broken devices (ScriptedController).

namespace {

// Two vectors: the admin queue on 0, I/O queue 1 on 1.
nvme::driver::Options ScriptedOptions() {
  nvme::driver::Options options;
  options.interrupt_vectors = 2;
  return options;
}

struct ScriptedRig {
  explicit ScriptedRig(nvme::driver::Options options = ScriptedOptions(), bool start = true) {
    auto made = Driver::Create(device, pool, options);
    REQUIRE(made.ok());
    driver = std::move(made).value();
    if (start) Bring();
  }
  void Bring() {
    driver->Start(now);
    for (int i = 0; i < 20 && driver->state() == DriverState::kInitializing; ++i) driver->Poll();
  }
  void Submit(Outcome& outcome, uint64_t lba = 0) {
    driver->namespaces().at(0)->Submit(Rw(block::Op::kRead, lba, 1, {Seg(kData, 512)}), 0, outcome.Callback());
  }
  void Advance(Time by) {
    now += by;
    driver->Tick(now);
  }
  // Bring-up again after a reset, as ticks and polls would.
  void Settle() {
    for (int i = 0; i < 20 && driver->state() == DriverState::kResetting; ++i) driver->Poll();
  }

  FakeDmaMemory memory{0, kMemoryBytes};
  FakeDmaPool pool{memory, kPoolBase, kPoolBytes};
  ScriptedController device{memory};
  std::unique_ptr<Driver> driver;
  Time now{};
};

wire::CompletionEntry Entry(uint16_t sqid, uint16_t cid, uint16_t sqhd = 0) {
  wire::CompletionEntry entry{};
  entry.sqid = sqid;
  entry.cid = cid;
  entry.sqhd = sqhd;
  return entry;
}

}  // namespace

TEST_CASE("nvme driver: completions a device got wrong are counted and ignored") {
  ScriptedRig rig;
  REQUIRE(rig.driver->state() == DriverState::kReady);
  Outcome outcome;
  rig.Submit(outcome);
  REQUIRE(rig.device.held.size() == 1);
  const uint16_t cid = rig.device.held[0].second.cid();
  const uint16_t slot = cid & 0x3FF;
  rig.device.Post(1, Entry(1, 0x3FF));                          // slot beyond the queue
  rig.device.Post(1, Entry(1, static_cast<uint16_t>(slot + 1)));  // an idle slot: never sent
  rig.device.Post(1, Entry(1, static_cast<uint16_t>(cid ^ 0x400)));  // the right slot, another generation
  rig.device.Post(1, Entry(2, cid));                            // another queue's SQID
  rig.device.Post(1, Entry(1, cid, 0xFFFF));                    // SQHD beyond the queue
  rig.driver->OnInterrupt(1);
  auto counters = rig.driver->counters().queues;
  CHECK(counters.bad_cid == 1);
  CHECK(counters.not_outstanding == 1);
  CHECK(counters.stale_generation == 1);
  CHECK(counters.wrong_sqid == 1);
  CHECK(counters.bad_sqhd == 1);
  CHECK(outcome.calls == 0);
  // The real one, then a duplicate of it.
  rig.device.Complete(0);
  rig.device.Post(1, Entry(1, cid));
  rig.driver->OnInterrupt(1);
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kOk);
  CHECK(rig.driver->counters().queues.not_outstanding == 2);
  // The slot's next command has a new generation: the old CID is stale.
  Outcome second;
  rig.Submit(second);
  REQUIRE(rig.device.held.size() == 1);
  CHECK(rig.device.held[0].second.cid() != cid);
  rig.device.Complete(0);
  rig.driver->Poll();
  CHECK(second.calls == 1);
}

TEST_CASE("nvme driver: an entry with the old phase tag is not new") {
  ScriptedRig rig;
  Outcome outcome;
  rig.Submit(outcome);
  const uint16_t cid = rig.device.held[0].second.cid();
  // The first pass expects phase 1; a 0 there is an old, empty entry.
  auto& queue = rig.device.queues[1];
  const uint16_t tail = queue.cq_tail;
  rig.device.Post(1, Entry(1, cid), /*phase=*/false);
  rig.driver->Poll();
  CHECK(outcome.calls == 0);
  // Rewritten with the right phase at the same slot: now it counts.
  queue.cq_tail = tail;
  rig.device.Post(1, Entry(1, cid), /*phase=*/true);
  rig.driver->Poll();
  CHECK(outcome.calls == 1);
}

TEST_CASE("nvme driver: CQ wrap-around flips the expected phase") {
  nvme::driver::Options options = ScriptedOptions();
  options.io_queue_entries = 4;
  ScriptedRig rig(options);
  for (int i = 0; i < 9; ++i) {
    Outcome outcome;
    rig.Submit(outcome, static_cast<uint64_t>(i));
    REQUIRE(rig.device.held.size() == 1);
    rig.device.Complete(0);
    rig.driver->OnInterrupt(1);
    CHECK(outcome.calls == 1);
  }
  CHECK(rig.driver->counters().queues.completions >= 9);
}

TEST_CASE("nvme driver: CSTS.CFS or an all-ones device fails everything, now and later") {
  ScriptedRig rig;
  Outcome first, second;
  rig.Submit(first);
  rig.Submit(second);
  SUBCASE("fatal status") { rig.device.csts_override = wire::Csts{}.set_rdy(true).set_cfs(true).raw; }
  SUBCASE("device gone") { rig.device.all_ones = true; }
  rig.Advance(seconds(1));
  CHECK(rig.driver->state() == DriverState::kFailed);
  CHECK(!rig.driver->failure().empty());
  CHECK(first.calls == 1);
  CHECK(first.status == block::Status::kDeviceFailed);
  CHECK(second.calls == 1);
  Outcome later;
  rig.Submit(later);
  CHECK(later.calls == 1);
  CHECK(later.status == block::Status::kDeviceFailed);
  // The device never quiesced: its queue memory is not reused.
  const size_t live = rig.pool.live_allocations();
  rig.driver.reset();
  CHECK(rig.pool.live_allocations() == live);
}

TEST_CASE("nvme driver: a command that never completes resets the controller and is resubmitted") {
  ScriptedRig rig;
  Outcome outcome;
  rig.Submit(outcome, 7);
  REQUIRE(rig.device.held.size() == 1);
  rig.Advance(seconds(29));
  CHECK(rig.device.resets == 0);
  rig.Advance(seconds(2));  // past the 30 s I/O timeout
  CHECK(rig.device.resets == 1);
  rig.Settle();
  REQUIRE(rig.driver->state() == DriverState::kReady);
  // The reset dropped it on the device side; the driver sent it again.
  REQUIRE(rig.device.held.size() == 1);
  CHECK(wire::StartingLba(rig.device.held[0].second) == 7);
  CHECK(outcome.calls == 0);
  rig.device.Complete(0);
  rig.driver->OnInterrupt(1);
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kOk);
  const auto counters = rig.driver->counters();
  CHECK(counters.timeouts == 1);
  CHECK(counters.resets == 1);
  CHECK(counters.retried_commands == 1);
}

TEST_CASE("nvme driver: a command that never completes fails after its retries; the driver lives on") {
  nvme::driver::Options options = ScriptedOptions();
  options.max_retries = 2;
  ScriptedRig rig(options);
  Outcome outcome;
  rig.Submit(outcome);
  for (int i = 0; i < 3; ++i) {
    rig.Advance(seconds(31));
    rig.Settle();
  }
  CHECK(rig.device.resets == 3);
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kDeviceFailed);
  CHECK(rig.driver->state() == DriverState::kReady);
  CHECK(rig.driver->counters().requests_out_of_retries == 1);
  Outcome next;
  rig.Submit(next);
  REQUIRE(rig.device.held.size() == 1);
  rig.device.Complete(0, wire::GenericStatus(wire::generic::kLbaOutOfRange));
  rig.driver->Poll();
  CHECK(next.status == block::Status::kOutOfRange);
}

TEST_CASE("nvme driver: a controller that never sets RDY fails bring-up in bounded time") {
  ScriptedRig rig(ScriptedOptions(), /*start=*/false);
  SUBCASE("RDY never set") {
    rig.device.rdy_follows_en = false;
  }
  SUBCASE("RDY never cleared") {
    rig.device.csts_override = wire::Csts{}.set_rdy(true).raw;
  }
  rig.Bring();
  CHECK(rig.driver->state() == DriverState::kInitializing);
  // CAP.TO = 2: 1.5 s.
  rig.Advance(seconds(1));
  CHECK(rig.driver->state() == DriverState::kInitializing);
  rig.Advance(seconds(1));
  CHECK(rig.driver->state() == DriverState::kFailed);
  CHECK(rig.driver->namespaces().empty());
}

TEST_CASE("nvme driver: bring-up fails on an admin timeout, a CFS or a useless CAP") {
  ScriptedRig rig(ScriptedOptions(), /*start=*/false);
  SUBCASE("admin command never answered") {
    rig.device.answer_admin = false;
    rig.Bring();
    CHECK(rig.driver->state() == DriverState::kInitializing);
    rig.Advance(seconds(61));
  }
  SUBCASE("CFS at enable") {
    rig.device.csts_override = wire::Csts{}.set_cfs(true).raw;
    rig.Bring();
  }
  SUBCASE("4 KiB pages not supported") {
    rig.device.cap.set_mpsmin(1);
    rig.Bring();
  }
  SUBCASE("MQES 0") {
    rig.device.cap.set_mqes(0);
    rig.Bring();
  }
  CHECK(rig.driver->state() == DriverState::kFailed);
}

TEST_CASE("nvme driver: namespaces with formats it cannot use are skipped") {
  ScriptedRig rig(ScriptedOptions(), /*start=*/false);
  SUBCASE("metadata") { rig.device.metadata_bytes = 8; }
  SUBCASE("LBADS 13") { rig.device.lbads = 13; }
  SUBCASE("LBADS 8") { rig.device.lbads = 8; }
  SUBCASE("NSZE 0") { rig.device.namespace_blocks = 0; }
  rig.Bring();
  CHECK(rig.driver->state() == DriverState::kReady);
  CHECK(rig.driver->namespaces().empty());
}

TEST_CASE("nvme driver: the admin and I/O queues live in pool memory and go back to it") {
  FakeDmaMemory memory{0, kMemoryBytes};
  FakeDmaPool pool{memory, kPoolBase, kPoolBytes};
  ScriptedController device{memory};
  Outcome outcome;  // outlives the driver, which completes it
  {
    auto made = Driver::Create(device, pool, {});
    REQUIRE(made.ok());
    auto driver = std::move(made).value();
    driver->Start(Time{});
    for (int i = 0; i < 20; ++i) driver->Poll();
    REQUIRE(driver->state() == DriverState::kReady);
    CHECK(pool.live_allocations() > 0);
    driver->namespaces().at(0)->Submit(Rw(block::Op::kRead, 0, 1, {Seg(kData, 512)}), 0, outcome.Callback());
    // Destroyed with a request outstanding: it is aborted, and the device
    // stopped (RDY = 0), so the memory is returned.
  }
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kAborted);
  CHECK(pool.live_allocations() == 0);
}

TEST_CASE("nvme driver: a reset waits for RDY = 0 before anything is sent again") {
  ScriptedRig rig;
  Outcome outcome;
  rig.Submit(outcome);
  rig.device.rdy_follows_en = false;  // EN = 0 is written, RDY stays 1
  rig.Advance(seconds(31));
  CHECK(rig.device.resets == 1);
  CHECK(rig.driver->state() == DriverState::kResetting);
  rig.driver->Poll();
  CHECK(rig.device.held.empty());  // the old command's buffers may still be in use: not resent
  CHECK(outcome.calls == 0);
  rig.Advance(seconds(2));  // CAP.TO = 2: 1.5 s
  CHECK(rig.driver->state() == DriverState::kFailed);
  CHECK(outcome.calls == 1);
  CHECK(outcome.status == block::Status::kDeviceFailed);
}

TEST_CASE("nvme driver: write zeroes past 65536 blocks is split; deallocate sends one range") {
  ScriptedRig rig(ScriptedOptions(), /*start=*/false);
  rig.device.namespace_blocks = 1 << 20;
  rig.Bring();
  block::Device& disk = *rig.driver->namespaces().at(0);
  Outcome zeroes, trim;
  block::Request zero;
  zero.op = block::Op::kWriteZeroes;
  zero.lba = 5;
  zero.block_count = 0x1'0000 + 10;
  disk.Submit(zero, 0, zeroes.Callback());
  block::Request deallocate;
  deallocate.op = block::Op::kDeallocate;
  deallocate.lba = 0x12345;
  deallocate.block_count = 0x20000;
  disk.Submit(deallocate, 0, trim.Callback());
  REQUIRE(rig.device.held.size() == 3);
  const wire::SubmissionEntry first = rig.device.held[0].second;
  const wire::SubmissionEntry second = rig.device.held[1].second;
  const wire::SubmissionEntry dsm = rig.device.held[2].second;
  CHECK(first.opcode() == static_cast<uint8_t>(wire::NvmOpcode::kWriteZeroes));
  CHECK(wire::StartingLba(first) == 5);
  CHECK(wire::BlockCount(first) == 0x1'0000);
  CHECK(wire::StartingLba(second) == 5 + 0x1'0000);
  CHECK(wire::BlockCount(second) == 10);
  CHECK(dsm.opcode() == static_cast<uint8_t>(wire::NvmOpcode::kDatasetManagement));
  CHECK(wire::DsmRangeCount(dsm.cdw10) == 1);
  CHECK(wire::DsmDeallocate(dsm.cdw11));
  // The range, in the pool page PRP1 names.
  CHECK(rig.memory.Get32(dsm.prp1 + 4) == 0x20000);
  CHECK(rig.memory.Get32(dsm.prp1 + 8) == 0x12345);
  CHECK(rig.memory.Get32(dsm.prp1 + 12) == 0);
  rig.device.Complete(0);
  rig.driver->Poll();
  CHECK(zeroes.calls == 0);  // one of its two commands is still out
  rig.device.Complete(0, wire::MediaStatus(wire::media::kWriteFault));
  rig.device.Complete(0);
  rig.driver->Poll();
  CHECK(zeroes.calls == 1);
  CHECK(zeroes.status == block::Status::kMediaError);
  CHECK(trim.calls == 1);
  CHECK(trim.status == block::Status::kOk);
}
