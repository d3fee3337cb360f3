// hcl's MANA driver against the loader's MANA emulator, both sans I/O:
// bring-up, frames both ways, interrupts, and a device that lies.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "base/le_bytes.h"
#include "mana/device.h"
#include "mana/driver/driver.h"
#include "mana/testing/driver_harness.h"
#include "mana/testing/emulated_vf.h"
#include "base/be_bytes.h"
#include "net/checksum.h"
#include "net/testing/tcp_frame.h"
#include "nvme/testing/fake_dma_memory.h"

namespace {

using mana::testing::RecordingInterrupts;
using mana::testing::RecordingPackets;
using mana::testing::DeviceBar;
using mana::testing::FakePool;

constexpr uint64_t kBase = 0x200000;

struct Bench {
  nvme::testing::FakeDmaMemory memory{kBase, 8 << 20};
  RecordingInterrupts interrupts;
  RecordingPackets packets;
  std::unique_ptr<mana::Device> device;
  std::unique_ptr<DeviceBar> bar;
  FakePool pool{memory};
  std::unique_ptr<mana::driver::Driver> driver;
  std::chrono::nanoseconds skew{0};  // the driver's clock runs this far ahead
  explicit Bench(mana::driver::Options options = {.rx_buffers = 64, .tx_buffers = 64},
                 uint16_t device_pairs = 1) {
    mana::Config config;
    config.mac = {0x00, 0x15, 0x5D, 0x4D, 0x41, 0x02};
    config.queue_pairs = device_pairs;
    config.msix_vectors = static_cast<uint16_t>(device_pairs + 1);
    auto made = mana::Device::Create(config, memory, interrupts, packets);
    device = std::move(*made);
    bar = std::make_unique<DeviceBar>(*device);
    auto created = mana::driver::Driver::Create(
        *bar, pool, [this] { return std::chrono::steady_clock::now().time_since_epoch() + skew; },
        options);
    if (!created) FAIL(created.error().message());
    driver = std::move(*created);
  }
};

// After one 64-byte frame was received and polled: scans the fake memory
// for the RX CQ by that completed entry (owner bits 1, is_sq 0) and forges
// the next one, a frame longer than any buffer (a lying device).
bool ForgeOversizedRxCqe(Bench& bench) {
  auto bytes = bench.memory.bytes();
  for (size_t at = 0; at + 128 <= bytes.size(); at += 64) {
    uint32_t info = 0, header = 0;
    (void)base::LoadLe<uint32_t>(bytes, at + 60, info);
    (void)base::LoadLe<uint32_t>(bytes, at, header);
    uint16_t length = 0;
    (void)base::LoadLe<uint16_t>(bytes, at + 8, length);
    if ((info >> 29) == 1 && ((info >> 24) & 1) == 0 && (header & 0x3F) == mana::cqe::kRxOkay &&
        ((header >> 6) & 3) == mana::cqe::kClientMana && length == 64) {
      (void)base::StoreLe<uint32_t>(bytes, at + 64, mana::cqe::kRxOkay | (1u << 6));
      (void)base::StoreLe<uint16_t>(bytes, at + 64 + 8, 60000);
      (void)base::StoreLe<uint32_t>(bytes, at + 64 + 60, (1u << 29) | 1u);
      return true;
    }
  }
  return false;
}

// Every frame the device put out is a TSO segment of `frame` (Ethernet,
// IPv4 and TCP headers, 54 bytes) whose checksums verify, and together
// they carry `frame`'s payload in order.
void CheckTsoSegments(const Bench& bench, std::span<const std::byte> frame) {
  std::vector<std::byte> payload;
  for (const auto& segment : bench.packets.frames) {
    const net::ChecksumVerdict verdict = net::VerifyChecksums(segment);
    CHECK(verdict.ip_ok);
    CHECK(verdict.tcp_ok);
    payload.insert(payload.end(), segment.begin() + 54, segment.end());
  }
  CHECK(payload == std::vector<std::byte>(frame.begin() + 54, frame.end()));
}

std::vector<std::byte> Frame(size_t bytes, uint8_t seed) {
  std::vector<std::byte> frame(bytes);
  for (size_t i = 0; i < bytes; ++i) frame[i] = std::byte(static_cast<uint8_t>(seed + i * 13));
  frame[12] = std::byte{0x08};
  frame[13] = std::byte{0x06};  // ARP: no checksums to verify
  return frame;
}

}  // namespace

TEST_CASE("mana driver: brings the emulated VF up and learns its MAC") {
  Bench bench;
  CHECK(bench.driver->mac() == std::array<uint8_t, 6>{0x00, 0x15, 0x5D, 0x4D, 0x41, 0x02});
  CHECK_FALSE(bench.driver->failed());
  CHECK(bench.device->counters().hwc_requests >= 10);
}

TEST_CASE("mana driver: frames go out and come in, byte for byte, with interrupts") {
  Bench bench;
  for (uint8_t i = 0; i < 100; ++i) REQUIRE(bench.driver->Transmit(Frame(60 + size_t{i} * 14, i)));
  REQUIRE(bench.packets.frames.size() == 100);
  CHECK(bench.packets.frames[99] == Frame(60 + 99 * 14, 99));
  // The TX completions' interrupt: the driver thread polls, re-arming.
  bench.driver->Poll([](auto, const auto&) {});
  // More frames than RX buffers: the device holds the rest until reposted.
  const size_t before = bench.interrupts.vectors.size();
  for (uint8_t i = 0; i < 100; ++i) REQUIRE(bench.device->Receive(Frame(100 + size_t{i}, i)));
  CHECK(bench.interrupts.vectors.size() > before);
  CHECK(bench.interrupts.vectors.back() == mana::driver::Driver::kDataVector);
  std::vector<std::vector<std::byte>> received;
  for (int round = 0; round < 4 && received.size() < 100; ++round)
    bench.driver->Poll([&](std::span<const std::byte> frame, const mana::driver::RxInfo&) {
      received.emplace_back(frame.begin(), frame.end());
    });
  REQUIRE(received.size() == 100);
  for (uint8_t i = 0; i < 100; ++i) CHECK(received[i] == Frame(100 + size_t{i}, i));
  CHECK(bench.driver->stats().rx_frames == 100);
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: sending raises no interrupt; full TX buffers are reaped in place") {
  Bench bench;  // 64 TX buffers
  const size_t before = bench.interrupts.vectors.size();
  // Five times the buffers, never polled: each time all are taken, the
  // send reaps the completions and tells the device the CQ's head.
  for (uint32_t i = 0; i < 320; ++i)
    REQUIRE(bench.driver->Transmit(Frame(60 + i % 100, static_cast<uint8_t>(i))));
  CHECK(bench.packets.frames.size() == 320);
  CHECK(bench.packets.frames[319] == Frame(60 + 319 % 100, static_cast<uint8_t>(319)));
  CHECK(bench.interrupts.vectors.size() == before);
  // A received frame still interrupts, and that Poll reaps TX too.
  REQUIRE(bench.device->Receive(Frame(80, 1)));
  CHECK(bench.interrupts.vectors.size() == before + 1);
  int frames = 0;
  bench.driver->Poll([&](auto, const auto&) { ++frames; });
  CHECK(frames == 1);
  CHECK(bench.driver->stats().tx_dropped == 0);
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: a frame filled in place goes out once; a failed fill posts nothing") {
  Bench bench;
  const auto frame = Frame(300, 7);
  size_t offered = 0;
  REQUIRE(bench.driver->TransmitFrom(frame.size(), [&](std::span<std::byte> buffer) {
    offered = buffer.size();
    std::copy(frame.begin(), frame.end(), buffer.begin());
    return base::Result<void>(base::Ok());
  }));
  CHECK(offered == frame.size());
  REQUIRE(bench.packets.frames.size() == 1);
  CHECK(bench.packets.frames[0] == frame);
  // The source failing (the guest's page gone): dropped, nothing posted,
  // and the next frame takes the slot as if nothing happened.
  CHECK_FALSE(bench.driver->TransmitFrom(
      200, [](std::span<std::byte>) { return base::Result<void>(base::Error("gone")); }));
  CHECK(bench.packets.frames.size() == 1);
  CHECK(bench.driver->stats().tx_dropped == 1);
  REQUIRE(bench.driver->Transmit(Frame(64, 8)));
  REQUIRE(bench.packets.frames.size() == 2);
  CHECK(bench.packets.frames[1] == Frame(64, 8));
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: a device that lies makes it fail, not crash or hang") {
  Bench bench;
  // Find the RX CQ's first entry by delivering one frame, then corrupt the
  // next entry's owner bits as if the device had lapped the ring.
  REQUIRE(bench.device->Receive(Frame(64, 1)));
  int frames = 0;
  bench.driver->Poll([&](auto, const auto&) { ++frames; });
  CHECK(frames == 1);
  REQUIRE(ForgeOversizedRxCqe(bench));
  bench.driver->Poll([&](auto, const auto&) { ++frames; });
  CHECK(frames == 1);
  CHECK(bench.driver->failed());
  CHECK_FALSE(bench.driver->Transmit(Frame(64, 2)));
}

TEST_CASE("mana driver: a TSO send leaves the device as MSS-sized segments that verify") {
  Bench bench({.rx_buffers = 64, .tx_buffers = 64, .large_tx_buffers = 2});
  // Ethernet/IPv4/TCP with 20000 payload bytes, as hv_netvsc hands an LSO
  // frame over: IP total length and checksum zero.
  const std::vector<std::byte> frame = net::testing::TcpFrame(20000, 0x10, /*for_lso=*/true);
  const mana::driver::TxRequest tso{.l4_offset = 34, .ipv4 = true, .tcp_checksum = true, .mss = 1448};
  REQUIRE(bench.driver->Transmit(frame, tso));
  REQUIRE(bench.packets.frames.size() == 14);  // ceil(20000 / 1448)
  CheckTsoSegments(bench, frame);
  // More large frames than large buffers: the driver reaps completions
  // and reuses them; a header longer than a frame is refused.
  for (int i = 0; i < 5; ++i) REQUIRE(bench.driver->Transmit(frame, tso));
  mana::driver::TxRequest lying = tso;
  lying.l4_offset = 0x3F0;
  CHECK_FALSE(bench.driver->Transmit(std::span(frame).first(600), lying));
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: the device inserts a VLAN tag asked for in the long OOB") {
  Bench bench({.rx_buffers = 64, .tx_buffers = 64, .large_tx_buffers = 2});
  // PCP 5, DEI 1, VID 0x123.
  constexpr uint16_t kTci = (5u << 13) | (1u << 12) | 0x123;
  const std::vector<std::byte> arp = Frame(60, 7);
  REQUIRE(bench.driver->Transmit(arp, {.insert_vlan = true, .vlan_tci = kTci}));
  REQUIRE(bench.packets.frames.size() == 1);
  const std::vector<std::byte>& tagged = bench.packets.frames[0];
  REQUIRE(tagged.size() == arp.size() + 4);
  CHECK(std::equal(arp.begin(), arp.begin() + 12, tagged.begin()));
  REQUIRE(tagged.size() >= 16);
  CHECK(base::LoadBe<uint16_t>(tagged, 12) == 0x8100);
  CHECK(base::LoadBe<uint16_t>(tagged, 14) == kTci);
  CHECK(std::equal(arp.begin() + 12, arp.end(), tagged.begin() + 16));
  // With TSO too (two SGEs after the long OOB): every segment is tagged
  // and verifies.
  const std::vector<std::byte> frame = net::testing::TcpFrame(5000, 0x10, /*for_lso=*/true);
  REQUIRE(bench.driver->Transmit(frame, {.l4_offset = 34, .ipv4 = true, .tcp_checksum = true,
                                         .mss = 1448, .insert_vlan = true, .vlan_tci = 0x0042}));
  REQUIRE(bench.packets.frames.size() == 1 + 4);  // ceil(5000 / 1448)
  for (size_t i = 1; i < bench.packets.frames.size(); ++i) {
    const auto& segment = bench.packets.frames[i];
    REQUIRE(segment.size() >= 16);
    CHECK(base::LoadBe<uint16_t>(segment, 14) == 0x0042);
    const net::ChecksumVerdict verdict = net::VerifyChecksums(segment);
    CHECK(verdict.ip_ok);
    CHECK(verdict.tcp_ok);
  }
  // Untagged frames after tagged ones still use the short form.
  REQUIRE(bench.driver->Transmit(arp));
  CHECK(bench.packets.frames.back() == arp);
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: one queue pair per vector, RSS spreading flows over them") {
  Bench bench({.rx_buffers = 64, .tx_buffers = 64, .queue_pairs = 4}, /*device_pairs=*/2);
  REQUIRE(bench.driver->queue_pairs() == 2);  // what the device offers
  // 40 UDP flows (IPv4, distinct source ports): RSS spreads them.
  std::vector<std::vector<std::byte>> sent;
  for (uint16_t flow = 0; flow < 40; ++flow) {
    std::vector<std::byte> frame(14 + 20 + 8 + 16);
    const std::span<std::byte> f(frame);
    base::StoreBe<uint16_t>(f, 12, net::kEtherTypeIpv4);
    f[14] = std::byte{0x45};
    base::StoreBe<uint16_t>(f, 16, 20 + 8 + 16);
    f[23] = std::byte{net::kProtocolUdp};
    base::StoreBe<uint16_t>(f, 34, static_cast<uint16_t>(40000 + flow));
    base::StoreBe<uint16_t>(f, 36, 53);
    base::StoreBe<uint16_t>(f, 38, 8 + 16);
    REQUIRE(bench.device->Receive(frame));
    sent.push_back(frame);
  }
  std::vector<uint16_t> vectors(bench.interrupts.vectors.begin(), bench.interrupts.vectors.end());
  CHECK(std::count(vectors.begin(), vectors.end(), 1) >= 1);
  CHECK(std::count(vectors.begin(), vectors.end(), 2) >= 1);
  size_t per_pair[2] = {0, 0};
  std::vector<std::vector<std::byte>> received;
  for (uint32_t pair = 0; pair < 2; ++pair)
    bench.driver->Poll(pair, [&](std::span<const std::byte> frame, const mana::driver::RxInfo&) {
      ++per_pair[pair];
      received.emplace_back(frame.begin(), frame.end());
    });
  CHECK(per_pair[0] > 0);
  CHECK(per_pair[1] > 0);
  CHECK(received.size() == sent.size());
  // TX on either queue reaches the wire.
  REQUIRE(bench.driver->Transmit(Frame(64, 1), {}, 0));
  REQUIRE(bench.driver->Transmit(Frame(64, 2), {}, 1));
  REQUIRE(bench.driver->Transmit(Frame(64, 3), {}, 7));  // modulo the pairs
  CHECK(bench.packets.frames.size() == 3);
  CHECK_FALSE(bench.driver->failed());
}

namespace {

// The guest's memory in the tests below: the top MiB of the bench's fake
// memory, far above what the driver's pool hands out.
constexpr uint64_t kGuest = kBase + (7 << 20);

// Puts `bytes` of `frame` from `offset` at the GPAs of `pieces` (in order),
// returning the pieces as the driver takes them.
std::vector<block::Segment> PlaceInGuest(Bench& bench, std::span<const std::byte> frame,
                                         size_t offset,
                                         const std::vector<std::pair<uint64_t, uint32_t>>& pieces) {
  std::vector<block::Segment> segments;
  for (const auto& [gpa, bytes] : pieces) {
    auto target = bench.memory.bytes().subspan(gpa - kBase, bytes);
    std::copy_n(frame.begin() + static_cast<ptrdiff_t>(offset), bytes, target.begin());
    segments.push_back({mem::Gpa{gpa}, bytes});
    offset += bytes;
  }
  REQUIRE(offset == frame.size());
  return segments;
}

mana::driver::Driver::Fill HeadOf(std::span<const std::byte> frame, size_t* filled = nullptr) {
  return [frame, filled](std::span<std::byte> buffer) -> base::Result<void> {
    if (filled != nullptr) *filled = buffer.size();
    std::copy_n(frame.begin(), buffer.size(), buffer.begin());
    return base::Ok();
  };
}

}  // namespace

TEST_CASE("mana driver: an in-place frame: its head is copied, the rest read where it lies, done once") {
  using mana::driver::Driver;
  Bench bench;
  const auto frame = Frame(1400, 3);
  // Two pieces, not contiguous, the second crossing a page.
  const auto rest = PlaceInGuest(bench, frame, Driver::kInPlaceHeadBytes,
                                 {{kGuest + 0x100, 500}, {kGuest + 0x3E00, 644}});
  size_t filled = 0;
  int done = 0;
  bool sent = false;
  const size_t interrupts = bench.interrupts.vectors.size();
  REQUIRE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame, &filled), rest,
                                        [&](bool ok) { ++done, sent = ok; }));
  CHECK(filled == Driver::kInPlaceHeadBytes);
  REQUIRE(bench.packets.frames.size() == 1);
  CHECK(bench.packets.frames[0] == frame);
  // The emulated VF sends within the doorbell: done already, and no
  // interrupt was needed for it.
  CHECK(done == 1);
  CHECK(sent);
  CHECK(bench.interrupts.vectors.size() == interrupts);
  bench.driver->Poll([](auto, const auto&) {});
  CHECK(done == 1);

  // Refused, done never run: no rest, a rest that does not add up, too
  // many pieces, a frame no larger than the head.
  const auto never = [&](bool) { ++done; };
  CHECK_FALSE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), {}, never));
  CHECK_FALSE(bench.driver->TransmitInPlace(frame.size() + 1, HeadOf(frame), rest, never));
  std::vector<block::Segment> many(Driver::kMaxInPlaceSegments + 1, {mem::Gpa{kGuest}, 1});
  CHECK_FALSE(bench.driver->TransmitInPlace(Driver::kInPlaceHeadBytes + many.size(), HeadOf(frame),
                                            many, never));
  CHECK_FALSE(bench.driver->TransmitInPlace(Driver::kInPlaceHeadBytes, HeadOf(frame),
                                            std::vector<block::Segment>{{mem::Gpa{kGuest}, 0}}, never));
  CHECK(done == 1);
  CHECK(bench.packets.frames.size() == 1);
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: in-place TSO: headers copied, payload read in place, segments verify") {
  using mana::driver::Driver;
  Bench bench;  // no large TX buffers: in place needs none
  const std::vector<std::byte> frame = net::testing::TcpFrame(20000, 0x22, /*for_lso=*/true);
  std::vector<std::pair<uint64_t, uint32_t>> pieces;
  size_t left = frame.size() - Driver::kInPlaceHeadBytes;
  for (uint64_t page = 0; left != 0; ++page) {
    const auto bytes = static_cast<uint32_t>(std::min<size_t>(left, 4096));
    pieces.emplace_back(kGuest + page * 0x2000, bytes);  // every other page
    left -= bytes;
  }
  const auto rest = PlaceInGuest(bench, frame, Driver::kInPlaceHeadBytes, pieces);
  int done = 0;
  const mana::driver::TxRequest tso{.l4_offset = 34, .ipv4 = true, .tcp_checksum = true, .mss = 1448};
  REQUIRE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool ok) { done += ok; },
                                        tso));
  CHECK(done == 1);
  REQUIRE(bench.packets.frames.size() == 14);
  CheckTsoSegments(bench, frame);
}

TEST_CASE("mana driver: a device that sends later: done comes from the interrupt's Poll; SQ space is counted") {
  using mana::driver::Driver;
  Bench bench;  // 64 TX buffers, a 4 KiB SQ
  const auto frame = Frame(1500, 9);
  // The rest in 24 pieces: each WQE is 8 + 8 + 16 * 25 = 416 bytes.
  std::vector<std::pair<uint64_t, uint32_t>> pieces;
  for (uint64_t i = 0; i < 24; ++i) pieces.emplace_back(kGuest + i * 0x100, i < 23 ? 52 : 1244 - 23 * 52);
  const auto rest = PlaceInGuest(bench, frame, Driver::kInPlaceHeadBytes, pieces);
  bench.bar->hold_sq_doorbells = true;
  int done = 0;
  int accepted = 0;
  for (int i = 0; i < 12; ++i)
    accepted += bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool ok) { done += ok; });
  // 4096 / 416: nine WQEs fit the SQ, then it is full though TX buffers are free.
  CHECK(accepted == 9);
  CHECK(bench.driver->stats().tx_dropped == 3);
  CHECK(done == 0);
  CHECK(bench.packets.frames.empty());
  // The device sends them: the TX CQ was left armed, so an interrupt comes
  // and the Poll it wakes runs every done.
  const size_t interrupts = bench.interrupts.vectors.size();
  bench.bar->Release();
  REQUIRE(bench.packets.frames.size() == 9);
  CHECK(bench.packets.frames[8] == frame);
  CHECK(bench.interrupts.vectors.size() == interrupts + 1);
  CHECK(done == 0);
  bench.driver->Poll([](auto, const auto&) {});
  CHECK(done == 9);
  // The SQ has room again.
  bench.bar->hold_sq_doorbells = false;
  CHECK(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool ok) { done += ok; }));
  CHECK(done == 10);
  CHECK_FALSE(bench.driver->failed());
}

TEST_CASE("mana driver: a driver that fails finishes its in-place frames unsent, once") {
  using mana::driver::Driver;
  Bench bench;
  const auto frame = Frame(1000, 4);
  const auto rest = PlaceInGuest(bench, frame, Driver::kInPlaceHeadBytes, {{kGuest, 744}});
  bench.bar->hold_sq_doorbells = true;
  int calls = 0, sent = 0;
  REQUIRE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool ok) {
    ++calls;
    sent += ok;
  }));
  CHECK(calls == 0);
  // The device lies on the RX side (as above): the driver fails, and the
  // frame it can no longer see complete finishes unsent.
  REQUIRE(bench.device->Receive(Frame(64, 1)));
  int frames = 0;
  bench.driver->Poll([&](auto, const auto&) { ++frames; });
  REQUIRE(frames == 1);
  REQUIRE(ForgeOversizedRxCqe(bench));
  bench.driver->Poll([&](auto, const auto&) { ++frames; });
  REQUIRE(bench.driver->failed());
  CHECK(calls == 1);
  CHECK(sent == 0);
  bench.driver->Poll([](auto, const auto&) {});
  CHECK(calls == 1);
  CHECK_FALSE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool) { ++calls; }));
  CHECK(calls == 1);
}

TEST_CASE("mana driver: in-place frames the device never completes fail the driver after tx_timeout") {
  using mana::driver::Driver;
  Bench bench;
  const auto frame = Frame(1000, 5);
  const auto rest = PlaceInGuest(bench, frame, Driver::kInPlaceHeadBytes, {{kGuest, 744}});
  bench.bar->hold_sq_doorbells = true;  // never released: a device that stopped
  int calls = 0, sent = 0;
  REQUIRE(bench.driver->TransmitInPlace(frame.size(), HeadOf(frame), rest, [&](bool ok) {
    ++calls;
    sent += ok;
  }));
  // Polls before the timeout (the port thread's 100 ms timer) wait.
  bench.driver->Poll([](auto, const auto&) {});
  CHECK(calls == 0);
  CHECK_FALSE(bench.driver->failed());
  bench.skew = std::chrono::milliseconds(2500);
  bench.driver->Poll([](auto, const auto&) {});
  CHECK(bench.driver->failed());
  CHECK(bench.driver->failure().find("no completion") != std::string::npos);
  CHECK(calls == 1);
  CHECK(sent == 0);
}
