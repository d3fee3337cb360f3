// mana::Device driven the way Linux 6.1's mana driver drives it
// (testing/driver_harness.h), and by a driver that lies.
#include <doctest/doctest.h>

#include <cstring>

#include "base/be_bytes.h"
#include "mana/testing/driver_harness.h"
#include "net/checksum.h"
#include "net/testing/tcp_frame.h"

namespace {

using mana::testing::DriverHarness;
using mana::testing::ReadRing;
using mana::testing::WriteRing;

template <typename T>
T Get(std::span<const std::byte> bytes, size_t offset) {
  T value{};
  REQUIRE(base::LoadLe<T>(bytes, offset, value));
  return value;
}

std::vector<std::byte> Body(size_t bytes) { return std::vector<std::byte>(bytes); }

template <typename T>
void Set(std::vector<std::byte>& body, size_t offset, T value) {
  REQUIRE(base::StoreLe<T>(body, offset, value));
}

// A DMA region of `pages` fresh pages (request body offsets are the
// request's minus the 40-byte header).
uint64_t CreateRegion(DriverHarness& h, size_t pages, uint64_t* base_out) {
  const uint64_t base = h.AllocatePages(pages);
  auto body = Body(24 + pages * 8);
  Set<uint64_t>(body, 0, pages * mana::kPageBytes);
  Set<uint32_t>(body, 16, static_cast<uint32_t>(pages));
  Set<uint32_t>(body, 20, static_cast<uint32_t>(pages));
  for (size_t i = 0; i < pages; ++i) Set<uint64_t>(body, 24 + i * 8, base + i * mana::kPageBytes);
  auto response = h.Request(mana::msg::kCreateDmaRegion, body, 40);
  REQUIRE(response);
  REQUIRE(DriverHarness::Status(*response) == 0);
  *base_out = base;
  return Get<uint64_t>(*response, 32);
}

struct QueuePair {
  ReadRing eq, tx_cq, rx_cq;
  WriteRing sq, rq;
  uint32_t eq_id = 0, tx_cq_id = 0, rx_cq_id = 0;
  uint64_t rx_object = 0;
};

// Linux's order (§2 "6.1 order"): HWC, register, an EQ, the vport's SQ
// and RQ, CONFIG_VPORT_RX with the RQ as default object.
QueuePair BringUp(DriverHarness& h) {
  REQUIRE((h.Establish(0) & 0xFFFF) == (mana::smc::kEstablishHwc | mana::smc::kResponseBit));
  while (h.Next(h.hwc_eq())) {
  }
  h.ArmEq(h.hwc_eq(), 0);
  QueuePair pair;
  uint64_t base = 0;
  // EQ: 2 pages, MSI-X 1.
  const uint64_t eq_region = CreateRegion(h, 2, &base);
  auto body = Body(56);
  Set<uint32_t>(body, 0, mana::kQueueTypeEq);
  Set<uint64_t>(body, 16, eq_region);
  Set<uint32_t>(body, 28, 2 * 4096);
  Set<uint32_t>(body, 36, 1);
  auto created = h.Request(mana::msg::kCreateQueue, body, 36, 0x2);
  REQUIRE(created);
  REQUIRE(DriverHarness::Status(*created) == 0);
  pair.eq_id = Get<uint32_t>(*created, 32);
  pair.eq = {base, 2 * 4096 / 16, 16, 2 * 4096 / 16};
  const auto wq = [&](uint32_t type, WriteRing& ring, ReadRing& cq, uint32_t& cq_id) {
    uint64_t wq_base = 0, cq_base = 0;
    const uint64_t wq_region = CreateRegion(h, 1, &wq_base);
    const uint64_t cq_region = CreateRegion(h, 1, &cq_base);
    auto request = Body(48);
    Set<uint64_t>(request, 0, 0x4D414E4100000001ull);  // the vport handle
    Set<uint32_t>(request, 8, type);
    Set<uint64_t>(request, 16, wq_region);
    Set<uint64_t>(request, 24, cq_region);
    Set<uint32_t>(request, 32, 4096);
    Set<uint32_t>(request, 36, 4096);
    Set<uint32_t>(request, 44, pair.eq_id);
    auto response = h.Request(mana::msg::kCreateWqObj, request, 48, 0x2);
    REQUIRE(response);
    REQUIRE(DriverHarness::Status(*response) == 0);
    ring = {wq_base, 4096, 0, Get<uint32_t>(*response, 32)};
    cq_id = Get<uint32_t>(*response, 36);
    cq = {cq_base, 64, 64, 64};
    return Get<uint64_t>(*response, 40);
  };
  wq(mana::kQueueTypeSq, pair.sq, pair.tx_cq, pair.tx_cq_id);
  pair.rx_object = wq(mana::kQueueTypeRq, pair.rq, pair.rx_cq, pair.rx_cq_id);
  auto steer = Body(72 + 64 * 8);
  Set<uint64_t>(steer, 0, 0x4D414E4100000001ull);
  Set<uint16_t>(steer, 8, 64);
  Set<uint16_t>(steer, 10, 112);
  Set<uint32_t>(steer, 12, 1);  // rx on
  Set<uint32_t>(steer, 16, 0);  // RSS off
  steer[20] = std::byte{1};     // update the default object
  Set<uint64_t>(steer, 24, pair.rx_object);
  auto configured = h.Request(mana::msg::kConfigVportRx, steer, 32, 0x2);
  REQUIRE(configured);
  REQUIRE(DriverHarness::Status(*configured) == 0);
  return pair;
}

std::vector<std::byte> UdpFrame(size_t payload) {
  std::vector<std::byte> frame(14 + 20 + 8 + payload);
  const std::span<std::byte> f(frame);
  base::StoreBe<uint16_t>(f, 12, net::kEtherTypeIpv4);
  f[14] = std::byte{0x45};
  base::StoreBe<uint16_t>(f, 16, static_cast<uint16_t>(28 + payload));
  f[22] = std::byte{64};
  f[23] = std::byte{net::kProtocolUdp};
  base::StoreBe<uint16_t>(f, 38, static_cast<uint16_t>(8 + payload));
  for (size_t i = 0; i < payload; ++i) frame[42 + i] = std::byte(i);
  return frame;
}

}  // namespace

TEST_CASE("mana device: the hardware channel comes up with Linux's init EQEs") {
  DriverHarness h;
  const uint32_t header = h.Establish(0);
  CHECK((header & 0x80FF) == (mana::smc::kEstablishHwc | mana::smc::kResponseBit));
  CHECK((header >> 31) == 0);
  // One interrupt for the burst (the EQ was armed, then disarmed).
  CHECK(h.interrupts().vectors == std::vector<uint16_t>{0});
  std::vector<uint8_t> types;
  uint32_t max_cqs = 0;
  for (int i = 0; i < 3; ++i) {
    auto eqe = h.Next(h.hwc_eq());
    REQUIRE(eqe);
    types.push_back(static_cast<uint8_t>(Get<uint32_t>(*eqe, 12)));
  }
  // §2: the ISR re-arms behind the device's tail: the device fires again.
  h.ArmEq(h.hwc_eq(), 0);
  CHECK(h.interrupts().vectors.size() == 2);
  while (auto eqe = h.Next(h.hwc_eq())) {
    types.push_back(static_cast<uint8_t>(Get<uint32_t>(*eqe, 12)));
    const uint32_t details = Get<uint32_t>(*eqe, 0);
    if (types.back() == mana::eqe::kHwcInitData && (details >> 24) == mana::hwc_init::kMaxNumCqs)
      max_cqs = details & 0xFFFFFF;
  }
  CHECK(types.size() == 11);
  CHECK(types.front() == mana::eqe::kHwcInitEqIdDb);
  CHECK(types.back() == mana::eqe::kHwcInitDone);
  CHECK(max_cqs == 3);  // the HWC's CQ and one pair's two
  h.ArmEq(h.hwc_eq(), 0);  // caught up: armed, no interrupt
  CHECK(h.interrupts().vectors.size() == 2);
  // A second ESTABLISH is refused.
  CHECK(((h.Establish(0) >> 8) & 0xFF) != 0);
}

TEST_CASE("mana device: GDMA and MANA requests answer as the 6.1 driver checks") {
  mana::Config config;
  config.queue_pairs = 2;
  config.msix_vectors = 3;
  DriverHarness h(config);
  REQUIRE((h.Establish(0) & 0xFF) == (mana::smc::kEstablishHwc | mana::smc::kResponseBit));
  auto max = h.Request(mana::msg::kQueryMaxResources, {}, 72);
  REQUIRE(max);
  CHECK(DriverHarness::Status(*max) == 0);
  CHECK(Get<uint32_t>(*max, 36) == 2);  // SQs
  CHECK(Get<uint32_t>(*max, 68) == 3);  // MSI-X
  // The response echoes the message id and the activity id.
  CHECK(Get<uint16_t>(*max, 10) == 0);
  CHECK(Get<uint32_t>(*max, 20) == 0xAC000000u);
  auto devices = h.Request(mana::msg::kListDevices, {}, 296);
  REQUIRE(devices);
  CHECK(Get<uint32_t>(*devices, 32) == 2);
  CHECK(Get<uint16_t>(*devices, 44) == mana::kDeviceTypeMana);
  auto vport = h.Request(mana::msg::kQueryVportConfig, Body(8), 64, 0x2);
  REQUIRE(vport);
  CHECK(DriverHarness::Status(*vport) == 0);
  CHECK(std::to_integer<uint8_t>((*vport)[48]) == 0x00);
  CHECK(std::to_integer<uint8_t>((*vport)[49]) == 0x15);
  CHECK(Get<uint32_t>(*vport, 32) == 2);
  // Unknown codes, another vport, a region that does not exist: a status.
  auto unknown = h.Request(0x2ABCD, {}, 32);
  REQUIRE(unknown);
  CHECK(DriverHarness::Status(*unknown) != 0);
  auto other = Body(8);
  Set<uint32_t>(other, 0, 1);
  CHECK(DriverHarness::Status(*h.Request(mana::msg::kQueryVportConfig, other, 64)) != 0);
  auto destroy = Body(8);
  Set<uint64_t>(destroy, 0, 77);
  CHECK(DriverHarness::Status(*h.Request(mana::msg::kDestroyDmaRegion, destroy, 32)) != 0);
  // A region whose list is longer than the request: refused.
  auto lying = Body(24);
  Set<uint64_t>(lying, 0, 4096 * 400);
  Set<uint32_t>(lying, 16, 400);
  Set<uint32_t>(lying, 20, 400);
  CHECK(DriverHarness::Status(*h.Request(mana::msg::kCreateDmaRegion, lying, 40)) != 0);
}

TEST_CASE("mana device: a frame goes out with its checksum, one comes in, each with a CQE") {
  DriverHarness h;
  QueuePair pair = BringUp(h);
  // TX: a UDP frame in two SGEs, checksum offloaded (short OOB).
  auto frame = UdpFrame(100);
  {  // what Linux's CHECKSUM_PARTIAL leaves in the field: the pseudo-header sum
    const net::FrameLayout layout = net::ParseFrame(frame);
    base::StoreBe<uint16_t>(std::span(frame), 40,
                            net::FoldChecksum(net::PseudoHeaderSum(frame, layout, layout.l4_bytes)));
  }
  const uint64_t buffer = h.AllocatePages(1);
  std::memcpy(h.memory().bytes().data() + (buffer - DriverHarness::kMemoryBase), frame.data(),
              frame.size());
  const mana::Sge sges[2] = {{buffer, 0, 42}, {buffer + 42, 0, 100}};
  std::array<std::byte, 8> oob{};
  // v4 | comp_ip | comp_udp, trans_off 34.
  REQUIRE(base::StoreLe<uint32_t>(oob, 0, (1u << 2) | (1u << 4) | (1u << 6) | (pair.tx_cq_id << 8)));
  REQUIRE(base::StoreLe<uint32_t>(oob, 4, 34));
  h.PostWqe(pair.sq, oob, sges);
  const size_t before = h.interrupts().vectors.size();
  h.RingSq(pair.sq);
  REQUIRE(h.packets().frames.size() == 1);
  const auto& sent = h.packets().frames[0];
  CHECK(sent.size() == frame.size());
  const net::ChecksumVerdict verdict = net::VerifyChecksums(sent);
  CHECK(verdict.ip_ok);
  CHECK(verdict.udp_ok);
  auto cqe = h.Next(pair.tx_cq);
  REQUIRE(cqe);
  CHECK((Get<uint32_t>(*cqe, 0) & 0x3F) == mana::cqe::kTxOkay);
  CHECK(((Get<uint32_t>(*cqe, 60) >> 24) & 1) == 1);  // is_sq
  CHECK((Get<uint32_t>(*cqe, 60) & 0xFFFFFF) == pair.sq.id);
  // The CQ was armed: a COMPLETION EQE on the pair's EQ, and its vector.
  auto eqe = h.Next(pair.eq);
  REQUIRE(eqe);
  CHECK((Get<uint32_t>(*eqe, 12) & 0xFF) == mana::eqe::kCompletion);
  CHECK(Get<uint32_t>(*eqe, 0) == pair.tx_cq_id);
  CHECK(h.interrupts().vectors.size() == before + 1);
  CHECK(h.interrupts().vectors.back() == 1);

  // RX: nothing posted yet, so the frame waits; posting a buffer delivers it.
  const auto incoming = UdpFrame(60);
  CHECK(h.device().Receive(incoming));
  CHECK_FALSE(h.Next(pair.rx_cq));
  const uint64_t rx_buffer = h.AllocatePages(1);
  const mana::Sge rx_sge{rx_buffer, 0, 1536};
  const std::array<std::byte, 8> rx_oob{};
  h.PostWqe(pair.rq, rx_oob, std::span(&rx_sge, 1));
  h.RingRq(pair.rq);
  auto rx = h.Next(pair.rx_cq);
  REQUIRE(rx);
  CHECK((Get<uint32_t>(*rx, 0) & 0x3F) == mana::cqe::kRxOkay);
  CHECK(Get<uint16_t>(*rx, 8) == incoming.size());
  CHECK(std::memcmp(h.memory().bytes().data() + (rx_buffer - DriverHarness::kMemoryBase),
                    incoming.data(), incoming.size()) == 0);
  CHECK(h.device().counters().rx_frames == 1);
  CHECK(h.device().counters().tx_frames == 1);
}

TEST_CASE("mana device: TSO splits a large send into segments that verify") {
  DriverHarness h;
  QueuePair pair = BringUp(h);
  // Ethernet/IPv4/TCP, 3000 payload bytes, MSS 1000.
  const std::vector<std::byte> frame = net::testing::TcpFrame(3000, 0x18, /*for_lso=*/true);
  const uint64_t buffer = h.AllocatePages(1);
  std::memcpy(h.memory().bytes().data() + (buffer - DriverHarness::kMemoryBase), frame.data(),
              frame.size());
  const mana::Sge sges[2] = {{buffer, 0, 54}, {buffer + 54, 0, 3000}};
  std::array<std::byte, 8> oob{};
  REQUIRE(base::StoreLe<uint32_t>(oob, 0, (1u << 2) | (1u << 4) | (1u << 5)));
  REQUIRE(base::StoreLe<uint32_t>(oob, 4, 34));
  // client_oob_in_sgl, MSS in client_data_unit.
  h.PostWqe(pair.sq, oob, sges, (1u << 11) | (1000u << 16));
  h.RingSq(pair.sq);
  REQUIRE(h.packets().frames.size() == 3);
  for (const auto& segment : h.packets().frames) {
    CHECK(segment.size() == 1054);
    CHECK(net::VerifyChecksums(segment).tcp_ok);
  }
  auto cqe = h.Next(pair.tx_cq);
  REQUIRE(cqe);
  CHECK((Get<uint32_t>(*cqe, 0) & 0x3F) == mana::cqe::kTxOkay);
  CHECK_FALSE(h.Next(pair.tx_cq));  // one CQE per WQE
}

TEST_CASE("mana device: a lying driver gets errors, never a write outside what it named") {
  DriverHarness h;
  QueuePair pair = BringUp(h);
  std::array<std::byte, 8> oob{};
  REQUIRE(base::StoreLe<uint32_t>(oob, 4, 34));
  // An SGE outside guest memory: an error CQE, the queue goes on.
  const mana::Sge outside{0xFFFF'0000'0000ull, 0, 64};
  h.PostWqe(pair.sq, oob, std::span(&outside, 1));
  h.RingSq(pair.sq);
  auto cqe = h.Next(pair.tx_cq);
  REQUIRE(cqe);
  CHECK((Get<uint32_t>(*cqe, 0) & 0x3F) == mana::cqe::kTxHeaderProcessingError);
  // An SGE bigger than any frame: MTU drop.
  const mana::Sge huge{DriverHarness::kMemoryBase, 0, 0x7FFFFFFF};
  h.PostWqe(pair.sq, oob, std::span(&huge, 1));
  h.RingSq(pair.sq);
  cqe = h.Next(pair.tx_cq);
  REQUIRE(cqe);
  CHECK((Get<uint32_t>(*cqe, 0) & 0x3F) == mana::cqe::kTxMtuDrop);
  CHECK(h.packets().frames.empty());
  // A tail beyond the queue's size, or backwards: ignored.
  h.Write64(h.doorbell_base() + mana::doorbell::kSq, pair.sq.id | (uint64_t{pair.sq.tail + 8192} << 32));
  h.Write64(h.doorbell_base() + mana::doorbell::kSq, pair.sq.id | (uint64_t{pair.sq.tail - 32} << 32));
  CHECK_FALSE(h.Next(pair.tx_cq));
  // Doorbells for queues that do not exist: ignored.
  for (uint64_t offset : {mana::doorbell::kSq, mana::doorbell::kRq, mana::doorbell::kCq,
                          mana::doorbell::kEq})
    h.Write64(h.doorbell_base() + offset, 0xFFFFFF | (uint64_t{0xFFFF} << 32));
  // A WQE claiming more SGEs than were posted stops that SQ only.
  std::array<std::byte, 8> bad{};
  REQUIRE(base::StoreLe<uint32_t>(bad, 0, 0));
  h.memory().Put32(pair.sq.base + pair.sq.tail % 4096 + 4, 0xFF | (2u << 8));  // 255 SGEs
  pair.sq.tail += 32;
  h.RingSq(pair.sq);
  CHECK_FALSE(h.Next(pair.tx_cq));
  // RX still works.
  const auto incoming = UdpFrame(10);
  const uint64_t rx_buffer = h.AllocatePages(1);
  const mana::Sge small{rx_buffer, 0, 16};  // too small: truncated, buffer untouched
  const std::array<std::byte, 8> rx_oob{};
  h.PostWqe(pair.rq, rx_oob, std::span(&small, 1));
  h.RingRq(pair.rq);
  CHECK(h.device().Receive(incoming));
  auto rx = h.Next(pair.rx_cq);
  REQUIRE(rx);
  CHECK((Get<uint32_t>(*rx, 0) & 0x3F) == mana::cqe::kRxTruncated);
  CHECK(h.memory().Get32(rx_buffer) == 0);
}

TEST_CASE("mana device: DESTROY_HWC and reset leave nothing behind") {
  DriverHarness h;
  QueuePair pair = BringUp(h);
  h.device().Reset();
  CHECK_FALSE(h.device().Receive(UdpFrame(10)));
  h.RingSq(pair.sq);
  CHECK(h.packets().frames.empty());
  // The channel can be established again after a reset.
  CHECK((h.Establish(0) & 0xFFFF) == (mana::smc::kEstablishHwc | mana::smc::kResponseBit));
}
