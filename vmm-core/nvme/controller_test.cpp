#include "nvme/controller.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "nvme/testing/fake_block_device.h"
#include "nvme/testing/fake_dma_memory.h"
#include "nvme/testing/host.h"

namespace {

using nvme::testing::FakeBlockDevice;
using nvme::testing::FakeDmaMemory;
using nvme::testing::Host;
using nvme::testing::HostQueue;
using nvme::testing::StatusOf;
namespace wire = nvme::wire;
namespace generic = nvme::wire::generic;
namespace specific = nvme::wire::command_specific;

constexpr uint64_t kAsq = 0x1000;
constexpr uint64_t kAcq = 0x2000;
constexpr uint64_t kIdentifyBuffer = 0x3000;
constexpr uint64_t kIoSq = 0x10000;
constexpr uint64_t kIoCq = 0x11000;
constexpr uint64_t kPrpList = 0x20000;
constexpr uint64_t kData = 0x10'0000;
constexpr uint64_t kMemoryBytes = 4 * 1024 * 1024;

uint8_t Op(wire::AdminOpcode opcode) { return static_cast<uint8_t>(opcode); }
uint8_t Op(wire::NvmOpcode opcode) { return static_cast<uint8_t>(opcode); }

block::Geometry DiskGeometry(bool read_only = false) {
  block::Geometry geometry;
  geometry.block_size = 512;
  geometry.block_count = 2048;
  geometry.read_only = read_only;
  geometry.supports_deallocate = true;
  geometry.supports_write_zeroes = true;
  geometry.serial = "disk";
  geometry.unique_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  return geometry;
}

struct Rig {
  explicit Rig(FakeBlockDevice::Mode mode = FakeBlockDevice::Mode::kInline, bool read_only = false,
               uint8_t mdts = 8)
      : disk(dma, DiskGeometry(read_only), mode) {
    nvme::Config config;
    config.mdts = mdts;
    config.namespaces = {&disk};
    config.msix_vectors = 17;
    config.serial = "SN1234";
    config.model = "Test Model";
    auto created = nvme::Controller::Create(config, dma, interrupts);
    REQUIRE(created.ok());
    controller = std::move(created).value();
    host.emplace(*controller, dma);
  }
  // Enable, then one I/O queue pair (qid 1) of the given sizes.
  void Bringup(uint16_t sq_entries = 64, uint16_t cq_entries = 64) {
    REQUIRE(host->Enable(kAsq, kAcq));
    auto nq = Host::Command(Op(wire::AdminOpcode::kSetFeatures));
    nq.cdw10 = wire::kFeatureNumberOfQueues;
    nq.cdw11 = 0;  // one SQ, one CQ
    auto done = host->Admin(nq);
    REQUIRE(done);
    REQUIRE(StatusOf(*done).ok());
    REQUIRE(host->CreateIoQueuePair(io, 1, kIoSq, kIoCq, sq_entries, cq_entries, 1));
  }
  wire::SubmissionEntry ReadWrite(wire::NvmOpcode opcode, uint64_t lba, uint32_t blocks, uint64_t prp1,
                                  uint64_t prp2 = 0) {
    auto sqe = Host::Command(Op(opcode), 1);
    sqe.cdw0 |= uint32_t{next_io_cid++} << 16;
    sqe.cdw10 = static_cast<uint32_t>(lba);
    sqe.cdw11 = static_cast<uint32_t>(lba >> 32);
    sqe.cdw12 = blocks - 1;
    sqe.prp1 = prp1;
    sqe.prp2 = prp2;
    return sqe;
  }
  std::optional<wire::CompletionEntry> Io(wire::SubmissionEntry sqe) {
    host->Submit(io, sqe);
    return host->Reap(io);
  }
  // Set Features `fid` to `value` through the admin queue; its status.
  wire::Status SetFeature(uint8_t fid, uint32_t value) {
    auto set = Host::Command(Op(wire::AdminOpcode::kSetFeatures));
    set.cdw10 = fid;
    set.cdw11 = value;
    const auto done = host->Admin(set);
    return done ? StatusOf(*done) : wire::GenericStatus(wire::generic::kInternalError);
  }
  wire::SubmissionEntry Flush() {
    auto sqe = Host::Command(Op(wire::NvmOpcode::kFlush), 1);
    sqe.cdw0 |= uint32_t{next_io_cid++} << 16;
    return sqe;
  }

  FakeDmaMemory dma{0, kMemoryBytes};
  nvme::testing::RecordingInterrupts interrupts;
  FakeBlockDevice disk;
  std::unique_ptr<nvme::Controller> controller;
  std::optional<Host> host;
  HostQueue io;
  uint16_t next_io_cid = 0x100;
};

}  // namespace

TEST_CASE("nvme controller: Linux 6.1 enable handshake and CAP") {
  Rig rig;
  Host& host = *rig.host;
  // CAP as two dwords, low then high (lo_hi_readq).
  const wire::Cap cap{uint64_t{host.Read32(wire::kRegCap)} | uint64_t{host.Read32(wire::kRegCap + 4)} << 32};
  CHECK(cap.raw == host.Read64(wire::kRegCap));
  CHECK(cap.mqes() == 1023);
  CHECK(cap.cqr());
  CHECK(cap.dstrd() == 0);
  CHECK(cap.css() == wire::kCapCssNvm);
  CHECK(cap.mpsmin() == 0);
  CHECK(cap.to() > 0);
  CHECK(host.Read32(wire::kRegVs) == 0x0002'0000);
  CHECK(!host.csts().rdy());
  REQUIRE(host.Enable(kAsq, kAcq));
  CHECK(host.Read64(wire::kRegAsq) == kAsq);
  CHECK(host.Read64(wire::kRegAcq) == kAcq);
  // ASQ/ACQ are not writable while enabled.
  host.Write32(wire::kRegAsq, 0x5000);
  CHECK(host.Read64(wire::kRegAsq) == kAsq);
  // Reset: RDY drops, registers kept.
  host.Write32(wire::kRegCc, 0);
  CHECK(!host.csts().rdy());
  CHECK(host.Read64(wire::kRegAsq) == kAsq);
  // Unsupported access widths.
  std::array<std::byte, 2> narrow{};
  CHECK(rig.controller->Read(wire::kRegCsts, narrow) == devices::IoResult::kBadSize);
  std::array<std::byte, 4> word{};
  CHECK(rig.controller->Read(wire::kRegCsts + 1, word) == devices::IoResult::kBadRegister);
  CHECK(rig.controller->Read(nvme::kBar0Bytes, word) == devices::IoResult::kBadSize);
}

TEST_CASE("nvme controller: an invalid CC at enable sets CFS; EN=0 clears it") {
  Rig rig;
  Host& host = *rig.host;
  host.Write32(wire::kRegAqa, wire::Aqa{}.set_asqs(31).set_acqs(31).raw);
  SUBCASE("MPS 8 KiB") { host.Write32(wire::kRegCc, wire::Cc{}.set_mps(1).set_en(true).raw); }
  SUBCASE("CSS admin-only") { host.Write32(wire::kRegCc, wire::Cc{}.set_css(7).set_en(true).raw); }
  SUBCASE("IOSQES 128 bytes") { host.Write32(wire::kRegCc, wire::Cc{}.set_iosqes(7).set_en(true).raw); }
  SUBCASE("AQA of one entry") {
    host.Write32(wire::kRegAqa, 0);
    host.Write32(wire::kRegCc, wire::Cc{}.set_en(true).raw);
  }
  CHECK(host.csts().cfs());
  CHECK(!host.csts().rdy());
  host.Write32(wire::kRegCc, 0);
  CHECK(!host.csts().cfs());
  CHECK(host.Enable(kAsq, kAcq));
}

TEST_CASE("nvme controller: shutdown reports SHST complete") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  const uint32_t cc = host.Read32(wire::kRegCc);
  host.Write32(wire::kRegCc, wire::Cc{cc}.set_shn(wire::kShnNormal).raw);
  CHECK(host.csts().shst() == wire::kShstComplete);
  CHECK(host.csts().rdy());
  host.Write32(wire::kRegCc, 0);
  CHECK(host.csts().shst() == wire::kShstNormal);
}

TEST_CASE("nvme controller: Identify controller carries what Linux 6.1 reads") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  auto identify = Host::Command(Op(wire::AdminOpcode::kIdentify));
  identify.cdw10 = wire::kCnsController;
  identify.prp1 = kIdentifyBuffer + 0x100;  // crosses into PRP2's page
  identify.prp2 = kIdentifyBuffer + 0x1000;
  const auto done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(done->sqid == 0);
  CHECK(done->sqhd == 1);
  CHECK(rig.interrupts.vectors == std::vector<uint16_t>{0});
  std::array<std::byte, 4096> raw;
  std::copy_n(rig.dma.bytes().begin() + kIdentifyBuffer + 0x100, 4096, raw.begin());
  const auto id = wire::FromBytes<wire::IdentifyController>(raw);
  CHECK(id.vid == 0x1414);
  CHECK(std::string(id.sn.begin(), id.sn.end()) == "SN1234              ");
  CHECK(std::string(id.mn.begin(), id.mn.begin() + 11) == "Test Model ");
  CHECK(id.cntlid != 0);
  CHECK(id.ver == 0x0002'0000);
  CHECK(id.sqes == 0x66);
  CHECK(id.cqes == 0x44);
  CHECK(id.nn == 1);
  CHECK(id.mdts == 8);
  CHECK((id.oncs & (wire::kOncsDatasetManagement | wire::kOncsWriteZeroes)) ==
        (wire::kOncsDatasetManagement | wire::kOncsWriteZeroes));
  CHECK((id.vwc & 1) == 1);
  CHECK(id.sgls == 0);
  CHECK(id.oacs == 0);
  CHECK(id.cmic == 0);
  CHECK(id.aerl == 3);
  const std::string nqn(id.subnqn.begin(), std::find(id.subnqn.begin(), id.subnqn.end(), 0));
  CHECK(nqn == "nqn.2024-01.dev.hcl:nvme:SN1234");
}

TEST_CASE("nvme controller: namespace identify, active list and descriptors") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  auto identify = Host::Command(Op(wire::AdminOpcode::kIdentify), 1);
  identify.cdw10 = wire::kCnsNamespace;
  identify.prp1 = kIdentifyBuffer;
  auto done = host.Admin(identify);
  REQUIRE(done);
  REQUIRE(StatusOf(*done).ok());
  CHECK(rig.dma.Get32(kIdentifyBuffer) == 2048);       // NSZE
  CHECK(rig.dma.Get32(kIdentifyBuffer + 8) == 2048);   // NCAP
  CHECK(rig.dma.Get8(kIdentifyBuffer + 26) == 0);      // FLBAS
  CHECK(rig.dma.Get32(kIdentifyBuffer + 128) == 9u << 16);  // LBAF0: 512 bytes, no metadata
  CHECK(rig.dma.Get8(kIdentifyBuffer + 104) == 1);     // NGUID
  CHECK(rig.dma.Get8(kIdentifyBuffer + 99) == 0);      // NSATTR: writable

  identify.nsid = 2;
  done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done) == wire::GenericStatus(generic::kInvalidNamespaceOrFormat));

  identify.nsid = 0;
  identify.cdw10 = wire::kCnsActiveNamespaceList;
  rig.dma.Put32(kIdentifyBuffer + 4, 0xFFFF'FFFF);
  done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(rig.dma.Get32(kIdentifyBuffer) == 1);
  CHECK(rig.dma.Get32(kIdentifyBuffer + 4) == 0);

  identify.nsid = 1;
  identify.cdw10 = wire::kCnsNamespaceIdDescriptors;
  done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(rig.dma.Get8(kIdentifyBuffer) == wire::kNidtNguid);
  CHECK(rig.dma.Get8(kIdentifyBuffer + 1) == 16);
  CHECK(rig.dma.Get8(kIdentifyBuffer + 4 + 15) == 16);

  identify.cdw10 = 0x55;  // unknown CNS
  done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done) == wire::GenericStatus(generic::kInvalidField));
}

TEST_CASE("nvme controller: Number of Queues, then queue creation as Linux does it") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  auto nq = Host::Command(Op(wire::AdminOpcode::kSetFeatures));
  nq.cdw10 = wire::kFeatureNumberOfQueues;
  nq.cdw11 = 63 | 63u << 16;  // ask for 64 of each
  auto done = host.Admin(nq);
  REQUIRE(done);
  REQUIRE(StatusOf(*done).ok());
  CHECK(done->dw0 == (15 | 15u << 16));  // 16 granted
  HostQueue io;
  REQUIRE(host.CreateIoQueuePair(io, 1, kIoSq, kIoCq, 64, 64, 1));
  // After an I/O queue exists the count is fixed.
  done = host.Admin(nq);
  REQUIRE(done);
  CHECK(StatusOf(*done) == wire::GenericStatus(generic::kCommandSequenceError));
  auto get = Host::Command(Op(wire::AdminOpcode::kGetFeatures));
  get.cdw10 = wire::kFeatureNumberOfQueues;
  done = host.Admin(get);
  REQUIRE(done);
  CHECK(done->dw0 == (15 | 15u << 16));
}

TEST_CASE("nvme controller: queue creation and deletion reject bad parameters") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  auto nq = Host::Command(Op(wire::AdminOpcode::kSetFeatures));
  nq.cdw10 = wire::kFeatureNumberOfQueues;
  nq.cdw11 = 1 | 1u << 16;  // two of each
  REQUIRE(host.Admin(nq));
  const auto create_cq = [&](uint16_t qid, uint16_t entries, uint32_t flags, uint16_t vector,
                             uint64_t base = kIoCq) {
    auto sqe = Host::Command(Op(wire::AdminOpcode::kCreateIoCq));
    sqe.prp1 = base;
    sqe.cdw10 = uint32_t{static_cast<uint16_t>(entries - 1)} << 16 | qid;
    sqe.cdw11 = uint32_t{vector} << 16 | flags;
    return StatusOf(*host.Admin(sqe));
  };
  const auto create_sq = [&](uint16_t qid, uint16_t entries, uint16_t cqid) {
    auto sqe = Host::Command(Op(wire::AdminOpcode::kCreateIoSq));
    sqe.prp1 = kIoSq;
    sqe.cdw10 = uint32_t{static_cast<uint16_t>(entries - 1)} << 16 | qid;
    sqe.cdw11 = uint32_t{cqid} << 16 | 1;
    return StatusOf(*host.Admin(sqe));
  };
  const auto del = [&](wire::AdminOpcode opcode, uint16_t qid) {
    auto sqe = Host::Command(Op(opcode));
    sqe.cdw10 = qid;
    return StatusOf(*host.Admin(sqe));
  };
  const auto specific_status = [](uint8_t sc) { return wire::CommandSpecificStatus(sc); };
  CHECK(create_cq(0, 16, 3, 1) == specific_status(specific::kInvalidQueueIdentifier));
  CHECK(create_cq(3, 16, 3, 1) == specific_status(specific::kInvalidQueueIdentifier));  // > granted
  CHECK(create_cq(1, 1, 3, 1) == specific_status(specific::kInvalidQueueSize));
  CHECK(create_cq(1, 1025, 3, 1) == specific_status(specific::kInvalidQueueSize));
  CHECK(create_cq(1, 16, 2, 1) == wire::GenericStatus(generic::kInvalidField));  // PC = 0
  CHECK(create_cq(1, 16, 3, 17) == specific_status(specific::kInvalidInterruptVector));
  CHECK(create_cq(1, 16, 3, 1, kIoCq + 0x80) == wire::GenericStatus(generic::kPrpOffsetInvalid));
  CHECK(create_sq(1, 16, 1) == specific_status(specific::kCompletionQueueInvalid));  // no CQ 1 yet
  CHECK(create_cq(1, 16, 3, 1).ok());
  CHECK(create_cq(1, 16, 3, 1) == specific_status(specific::kInvalidQueueIdentifier));  // exists
  CHECK(create_sq(1, 16, 0) == specific_status(specific::kCompletionQueueInvalid));  // admin CQ
  CHECK(create_sq(1, 0x8000, 1) == specific_status(specific::kInvalidQueueSize));
  CHECK(create_sq(1, 16, 1).ok());
  CHECK(del(wire::AdminOpcode::kDeleteIoCq, 1) == specific_status(specific::kInvalidQueueDeletion));
  CHECK(del(wire::AdminOpcode::kDeleteIoSq, 2) == specific_status(specific::kInvalidQueueIdentifier));
  CHECK(del(wire::AdminOpcode::kDeleteIoSq, 0) == specific_status(specific::kInvalidQueueIdentifier));
  CHECK(del(wire::AdminOpcode::kDeleteIoSq, 1).ok());
  CHECK(del(wire::AdminOpcode::kDeleteIoCq, 1).ok());
  CHECK(del(wire::AdminOpcode::kDeleteIoCq, 1) == specific_status(specific::kInvalidQueueIdentifier));
}

TEST_CASE("nvme controller: write then read back through a PRP list") {
  Rig rig;
  rig.Bringup();
  // 64 KiB (128 blocks) at LBA 100, data scattered over 16 pages in reverse.
  constexpr uint32_t kBlocks = 128;
  for (uint64_t i = 0; i < 16; ++i) {
    const uint64_t page = kData + (31 - i) * 0x1000;
    for (uint64_t b = 0; b < 0x1000; b += 4) rig.dma.Put32(page + b, static_cast<uint32_t>(i << 16 | b));
    if (i > 0) rig.dma.Put64(kPrpList + 8 * (i - 1), page);
  }
  auto done = rig.Io(rig.ReadWrite(wire::NvmOpcode::kWrite, 100, kBlocks, kData + 31 * 0x1000, kPrpList));
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(done->sqid == 1);
  CHECK(done->cid == 0x100);
  REQUIRE(rig.disk.submitted.size() == 1);
  CHECK(rig.disk.submitted[0].lba == 100);
  CHECK(rig.disk.submitted[0].block_count == kBlocks);
  CHECK(rig.disk.hints[0] == 1);  // queue_hint = SQ id
  CHECK(rig.interrupts.vectors.back() == 1);
  CHECK(rig.disk.storage()[100 * 512 + 4] == std::byte{4});

  // Read into one contiguous 64 KiB buffer, PRP1 at a 0x200 offset.
  const uint64_t buffer = 0x20'0200;
  for (uint64_t i = 1; i <= 16; ++i) rig.dma.Put64(kPrpList + 0x800 + 8 * (i - 1), 0x20'0000 + i * 0x1000);
  done = rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 100, kBlocks, buffer, kPrpList + 0x800));
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  REQUIRE(rig.disk.submitted.size() == 2);
  REQUIRE(rig.disk.submitted[1].segments.size() == 1);  // physically contiguous: merged
  for (uint64_t i = 0; i < 16; ++i) {
    CHECK(rig.dma.Get32(buffer + i * 0x1000 + 8) == (i << 16 | 8));
  }
}

TEST_CASE("nvme controller: I/O errors become NVMe statuses") {
  SUBCASE("bad namespace, opcode, LBA range, MDTS, SGL") {
    Rig rig;
    rig.Bringup();
    auto sqe = rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData);
    sqe.nsid = 2;
    CHECK(StatusOf(*rig.Io(sqe)) == wire::GenericStatus(generic::kInvalidNamespaceOrFormat));
    sqe = rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData);
    sqe.nsid = wire::kBroadcastNsid;
    CHECK(StatusOf(*rig.Io(sqe)) == wire::GenericStatus(generic::kInvalidNamespaceOrFormat));
    sqe = rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData);
    sqe.cdw0 = (sqe.cdw0 & ~0xFFu) | 0x7E;
    CHECK(StatusOf(*rig.Io(sqe)) == wire::GenericStatus(generic::kInvalidOpcode));
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 2047, 2, kData))) ==
          wire::GenericStatus(generic::kLbaOutOfRange));
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, ~uint64_t{0}, 2, kData))) ==
          wire::GenericStatus(generic::kLbaOutOfRange));
    sqe = rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData);
    sqe.cdw0 |= 1u << 14;  // PSDT: SGL
    CHECK(StatusOf(*rig.Io(sqe)) == wire::GenericStatus(generic::kInvalidField));
    CHECK(!rig.disk.contract_violated);
    CHECK(rig.disk.submitted.empty());
  }
  SUBCASE("a transfer over MDTS") {
    Rig rig(FakeBlockDevice::Mode::kInline, false, /*mdts=*/1);  // 8 KiB
    rig.Bringup();
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 16, kData))).ok());
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 17, kData))) ==
          wire::GenericStatus(generic::kInvalidField));
  }
  SUBCASE("PRP into unbacked memory") {
    Rig rig;
    rig.Bringup();
    // The data page does not exist: the back end cannot reach it.
    auto done = rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 8, 0x4000'0000));
    CHECK(StatusOf(*done) == wire::GenericStatus(generic::kDataTransferError, false));
    // The PRP list does not exist: the controller cannot walk it (DNR: a
    // retry reads the same list).
    done = rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 24, kData, 0x4000'0000));
    CHECK(StatusOf(*done) == wire::GenericStatus(generic::kDataTransferError));
    CHECK(rig.disk.submitted.size() == 1);
  }
  SUBCASE("write to a read-only namespace") {
    Rig rig(FakeBlockDevice::Mode::kInline, /*read_only=*/true);
    rig.Bringup();
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kWrite, 0, 1, kData))) ==
          wire::GenericStatus(generic::kNamespaceWriteProtected));
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData))).ok());
  }
  SUBCASE("back-end failures") {
    Rig rig;
    rig.Bringup();
    rig.disk.forced_status = block::Status::kMediaError;
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData))) ==
          wire::MediaStatus(wire::media::kUnrecoveredReadError));
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kWrite, 0, 1, kData))) ==
          wire::MediaStatus(wire::media::kWriteFault));
    rig.disk.forced_status = block::Status::kDeviceFailed;
    CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData))) ==
          wire::GenericStatus(generic::kInternalError));
  }
}

TEST_CASE("nvme controller: flush, write zeroes and dataset management") {
  Rig rig;
  rig.Bringup();
  std::fill(rig.disk.storage().begin(), rig.disk.storage().end(), std::byte{0xAA});
  auto flush = Host::Command(Op(wire::NvmOpcode::kFlush), 1);
  CHECK(StatusOf(*rig.Io(flush)).ok());
  CHECK(rig.disk.submitted.back().op == block::Op::kFlush);

  auto zeroes = rig.ReadWrite(wire::NvmOpcode::kWriteZeroes, 10, 2, 0);
  CHECK(StatusOf(*rig.Io(zeroes)).ok());
  CHECK(rig.disk.storage()[10 * 512] == std::byte{0});
  CHECK(rig.disk.storage()[12 * 512] == std::byte{0xAA});

  // Two ranges, one empty (skipped); the DSM buffer is 4 KiB as Linux's.
  rig.dma.Put32(kData + 4, 4);        // range 0: NLB 4
  rig.dma.Put64(kData + 8, 100);      //          SLBA 100
  rig.dma.Put32(kData + 16 + 4, 0);   // range 1: empty
  rig.dma.Put32(kData + 32 + 4, 1);   // range 2: NLB 1
  rig.dma.Put64(kData + 32 + 8, 2047);
  auto dsm = Host::Command(Op(wire::NvmOpcode::kDatasetManagement), 1);
  dsm.cdw10 = 2;      // three ranges
  dsm.cdw11 = 1 << 2;  // AD
  dsm.prp1 = kData;
  CHECK(StatusOf(*rig.Io(dsm)).ok());
  REQUIRE(rig.disk.submitted.size() == 4);
  CHECK(rig.disk.submitted[2].op == block::Op::kDeallocate);
  CHECK(rig.disk.submitted[2].lba == 100);
  CHECK(rig.disk.submitted[3].lba == 2047);
  // A range past the end fails the whole command, nothing submitted.
  rig.dma.Put64(kData + 32 + 8, 2048);
  CHECK(StatusOf(*rig.Io(dsm)) == wire::GenericStatus(generic::kLbaOutOfRange));
  CHECK(rig.disk.submitted.size() == 4);
  CHECK(!rig.disk.contract_violated);
}

TEST_CASE("nvme controller: hostile doorbells are ignored") {
  Rig rig;
  rig.Bringup(16, 16);
  Host& host = *rig.host;
  // SQ tail beyond the queue: ignored, nothing fetched.
  host.Write32(wire::SqTailDoorbell(1, 0), 16);
  host.Write32(wire::SqTailDoorbell(1, 0), 0xFFFF'FFFF);
  // Doorbells of queues that do not exist, or beyond every queue.
  host.Write32(wire::SqTailDoorbell(2, 0), 1);
  host.Write32(wire::CqHeadDoorbell(5, 0), 1);
  host.Write32(wire::SqTailDoorbell(200, 0), 1);
  CHECK(rig.disk.submitted.empty());
  // CQ head past what was posted: ignored (the host cannot free unposted slots).
  host.Write32(wire::CqHeadDoorbell(1, 0), 5);
  // The queue still works afterwards.
  auto done = rig.Io(rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData));
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(!host.csts().cfs());
  // 8-byte doorbell writes are refused.
  std::array<std::byte, 8> wide{};
  CHECK(rig.controller->Write(wire::SqTailDoorbell(1, 0), wide) == devices::IoResult::kBadSize);
}

TEST_CASE("nvme controller: a full CQ holds completions until the host frees room") {
  Rig rig;
  rig.Bringup(/*sq_entries=*/16, /*cq_entries=*/4);
  Host& host = *rig.host;
  // Eight commands at once; the CQ has 3 usable slots.
  for (uint32_t i = 0; i < 8; ++i) {
    auto flush = Host::Command(Op(wire::NvmOpcode::kFlush), 1);
    flush.cdw0 |= (0x200 + i) << 16;
    const auto bytes = wire::ToBytes(flush);
    std::copy(bytes.begin(), bytes.end(), rig.dma.bytes().begin() + static_cast<std::ptrdiff_t>(kIoSq + 64 * i));
  }
  host.Write32(wire::SqTailDoorbell(1, 0), 8);
  CHECK(rig.disk.submitted.size() == 3);  // fetching stops with the CQ full
  std::vector<uint16_t> cids;
  for (int round = 0; round < 4 && cids.size() < 8; ++round) {
    // Consume what is there without ringing, then ring once (as Linux).
    while (auto cqe = host.Reap(rig.io, /*ring=*/false)) cids.push_back(cqe->cid);
    host.Write32(wire::CqHeadDoorbell(1, 0), rig.io.cq_head);
  }
  REQUIRE(cids.size() == 8);
  for (uint16_t i = 0; i < 8; ++i) CHECK(cids[i] == 0x200 + i);
  CHECK(rig.disk.submitted.size() == 8);
  // The phase tag flipped on each wrap (Reap checks it), and no entry
  // was overwritten before it was consumed (all eight CIDs seen in order).
}

TEST_CASE("nvme controller: reset with I/O in flight drops completions and waits for the back end") {
  Rig rig(FakeBlockDevice::Mode::kDeferred);
  rig.Bringup();
  Host& host = *rig.host;
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kRead, 0, 8, kData));
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kWrite, 8, 8, kData));
  CHECK(rig.disk.pending() == 2);
  CHECK(!host.Peek(rig.io));
  host.Write32(wire::kRegCc, 0);
  // RDY stays 1 until the back end has returned both requests.
  CHECK(host.csts().rdy());
  rig.disk.CompleteNext();
  CHECK(host.csts().rdy());
  rig.disk.CompleteNext();
  CHECK(!host.csts().rdy());
  // Nothing was posted to the dropped queue.
  CHECK(!host.Peek(rig.io));
  // The controller comes back clean: admin queue from slot 0.
  REQUIRE(host.Enable(kAsq, kAcq));
  auto identify = Host::Command(Op(wire::AdminOpcode::kIdentify));
  identify.cdw10 = wire::kCnsController;
  identify.prp1 = kIdentifyBuffer;
  std::fill_n(rig.dma.bytes().begin() + kAcq, 32 * 16, std::byte{0});  // Linux zeroes the CQ
  const auto done = host.Admin(identify);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(done->sqhd == 1);
}

TEST_CASE("nvme controller: Delete I/O SQ completes after its commands") {
  Rig rig(FakeBlockDevice::Mode::kDeferred);
  rig.Bringup();
  Host& host = *rig.host;
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData));
  auto del = Host::Command(Op(wire::AdminOpcode::kDeleteIoSq));
  del.cdw10 = 1;
  CHECK(!host.Admin(del));  // held
  // Doorbells to the dying SQ fetch nothing.
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData));
  CHECK(rig.disk.pending() == 1);
  rig.disk.CompleteNext();
  const auto io_done = host.Reap(rig.io);
  REQUIRE(io_done);
  CHECK(StatusOf(*io_done).ok());
  const auto del_done = host.Reap(host.admin);
  REQUIRE(del_done);
  CHECK(StatusOf(*del_done).ok());
  auto del_cq = Host::Command(Op(wire::AdminOpcode::kDeleteIoCq));
  del_cq.cdw10 = 1;
  CHECK(StatusOf(*host.Admin(del_cq)).ok());
}

TEST_CASE("nvme controller: AERs are held up to AERL+1; Abort answers not aborted") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  for (int i = 0; i < nvme::kAsyncEventRequestLimit; ++i)
    CHECK(!host.Admin(Host::Command(Op(wire::AdminOpcode::kAsyncEventRequest))));
  auto done = host.Admin(Host::Command(Op(wire::AdminOpcode::kAsyncEventRequest)));
  REQUIRE(done);
  CHECK(StatusOf(*done) == wire::CommandSpecificStatus(specific::kAsyncEventRequestLimitExceeded));
  auto abort = Host::Command(Op(wire::AdminOpcode::kAbort));
  abort.cdw10 = 1u << 16 | 1;
  done = host.Admin(abort);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK((done->dw0 & 1) == 1);
  done = host.Admin(Host::Command(0x7C));  // doorbell buffer config: OACS = 0
  REQUIRE(done);
  CHECK(StatusOf(*done) == wire::GenericStatus(generic::kInvalidOpcode));
}

TEST_CASE("nvme controller: Get Log Page and features") {
  Rig rig;
  Host& host = *rig.host;
  REQUIRE(host.Enable(kAsq, kAcq));
  auto log = Host::Command(Op(wire::AdminOpcode::kGetLogPage));
  log.cdw10 = wire::kLogSmartHealth | (512 / 4 - 1) << 16;
  log.prp1 = kIdentifyBuffer;
  auto done = host.Admin(log);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(rig.dma.Get8(kIdentifyBuffer + 3) == 100);  // available spare
  log.cdw10 = 0x42 | (512 / 4 - 1) << 16;
  done = host.Admin(log);
  CHECK(StatusOf(*done) == wire::CommandSpecificStatus(specific::kInvalidLogPage));
  log.cdw10 = wire::kLogSmartHealth | 0xFFFFu << 16;
  log.cdw11 = 0xFFFF;  // 16 GiB: more than MDTS
  done = host.Admin(log);
  CHECK(StatusOf(*done) == wire::GenericStatus(generic::kInvalidField));

  auto set = Host::Command(Op(wire::AdminOpcode::kSetFeatures));
  set.cdw10 = wire::kFeatureInterruptCoalescing;
  set.cdw11 = 0x0A05;
  CHECK(StatusOf(*host.Admin(set)).ok());
  auto get = Host::Command(Op(wire::AdminOpcode::kGetFeatures));
  get.cdw10 = wire::kFeatureInterruptCoalescing;
  done = host.Admin(get);
  CHECK(done->dw0 == 0x0A05);
  set.cdw10 = 0x7E;  // unknown feature
  CHECK(StatusOf(*host.Admin(set)) == wire::GenericStatus(generic::kInvalidField));
  set.cdw10 = wire::kFeatureVolatileWriteCache | 1u << 31;  // save
  CHECK(StatusOf(*host.Admin(set)) == wire::CommandSpecificStatus(specific::kFeatureIdNotSaveable));
}

TEST_CASE("nvme controller: interrupt coalescing holds I/O completions to THR+1 or TIME") {
  Rig rig;
  rig.Bringup();
  Host& host = *rig.host;
  rig.interrupts.timers_available = true;
  // NVMe 2.0 "Interrupt Coalescing": THR 2 (three entries, 0's based),
  // TIME 5 (500 us).
  REQUIRE(rig.SetFeature(wire::kFeatureInterruptCoalescing, 0x0502).ok());
  const auto flush = [&] { return rig.Flush(); };
  const auto io_interrupts = [&] {
    return std::count(rig.interrupts.vectors.begin(), rig.interrupts.vectors.end(), uint16_t{1});
  };
  // The first completion is held and starts the aggregation time ...
  REQUIRE(rig.Io(flush()));
  CHECK(io_interrupts() == 0);
  REQUIRE(rig.interrupts.timers.size() == 1);
  CHECK(rig.interrupts.timers[0].first == 1);
  CHECK(rig.interrupts.timers[0].second == std::chrono::microseconds(500));
  // ... the third reaches the threshold: one interrupt for the three.
  REQUIRE(rig.Io(flush()));
  CHECK(io_interrupts() == 0);
  REQUIRE(rig.Io(flush()));
  CHECK(io_interrupts() == 1);
  // A fourth waits for the time (the timer still running), then goes.
  REQUIRE(rig.Io(flush()));
  CHECK(io_interrupts() == 1);
  CHECK(rig.interrupts.timers.size() == 1);
  rig.controller->AggregationTimeElapsed(1);
  CHECK(io_interrupts() == 2);
  // Time elapsing with nothing held raises nothing.
  rig.controller->AggregationTimeElapsed(1);
  CHECK(io_interrupts() == 2);
  // Admin completions are never held.
  const size_t before = rig.interrupts.count();
  auto get = Host::Command(Op(wire::AdminOpcode::kGetFeatures));
  get.cdw10 = wire::kFeatureInterruptCoalescing;
  const auto got = host.Admin(get);
  REQUIRE(got);
  CHECK(got->dw0 == 0x0502);
  CHECK(rig.interrupts.count() == before + 1);
  // Interrupt Vector Configuration: CD on vector 1 interrupts at once.
  REQUIRE(rig.SetFeature(wire::kFeatureInterruptVectorConfig, 1u | 1u << 16).ok());
  get.cdw10 = wire::kFeatureInterruptVectorConfig;
  get.cdw11 = 1;
  CHECK(host.Admin(get)->dw0 == (1u | 1u << 16));
  REQUIRE(rig.Io(flush()));
  CHECK(io_interrupts() == 3);
}

TEST_CASE("nvme controller: coalescing without host timers interrupts at once") {
  Rig rig;
  rig.Bringup();
  REQUIRE(rig.SetFeature(wire::kFeatureInterruptCoalescing, 0x0A07).ok());
  REQUIRE(rig.Io(rig.Flush()));
  CHECK(std::count(rig.interrupts.vectors.begin(), rig.interrupts.vectors.end(), uint16_t{1}) == 1);
}

TEST_CASE("nvme controller: write cache off makes every write FUA") {
  Rig rig;
  rig.Bringup();
  REQUIRE(rig.SetFeature(wire::kFeatureVolatileWriteCache, 0).ok());
  CHECK(StatusOf(*rig.Io(rig.ReadWrite(wire::NvmOpcode::kWrite, 0, 1, kData))).ok());
  CHECK(rig.disk.submitted.back().force_unit_access);
}

TEST_CASE("nvme controller: completions from another thread, and after destruction") {
  Rig rig(FakeBlockDevice::Mode::kDeferred);
  rig.Bringup();
  Host& host = *rig.host;
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData));
  std::thread worker([&] { rig.disk.CompleteNext(); });
  worker.join();
  const auto done = host.Reap(rig.io);
  REQUIRE(done);
  CHECK(StatusOf(*done).ok());
  CHECK(rig.interrupts.count() >= 1);
  // A request still out when the controller goes away completes harmlessly.
  host.Submit(rig.io, rig.ReadWrite(wire::NvmOpcode::kRead, 0, 1, kData));
  const size_t interrupts_before = rig.interrupts.count();
  rig.host.reset();
  rig.controller.reset();
  CHECK(rig.disk.CompleteNext());
  CHECK(rig.interrupts.count() == interrupts_before);
}

TEST_CASE("nvme controller: Create refuses bad configurations") {
  FakeDmaMemory dma(0, 4096);
  nvme::testing::RecordingInterrupts interrupts;
  block::Geometry geometry = DiskGeometry();
  geometry.block_size = 8192;
  FakeBlockDevice big_blocks(dma, geometry, FakeBlockDevice::Mode::kInline);
  nvme::Config config;
  config.namespaces = {&big_blocks};
  CHECK(!nvme::Controller::Create(config, dma, interrupts).ok());
  config.namespaces = {nullptr};
  CHECK(!nvme::Controller::Create(config, dma, interrupts).ok());
  config.namespaces = {};
  config.serial = std::string(21, 'x');
  CHECK(!nvme::Controller::Create(config, dma, interrupts).ok());
  config.serial = "ok";
  config.msix_vectors = 0;
  CHECK(!nvme::Controller::Create(config, dma, interrupts).ok());
}
