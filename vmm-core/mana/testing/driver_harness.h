// DriverHarness: the driver side of a mana::Device for tests and the
// fuzzer, doing what Linux 6.1's mana driver does (mana-netvsc.md §2-3)
// over a FakeDmaMemory: the SMC handshake, HWC requests, DMA regions,
// EQs and queue pairs, TX and RX WQEs, reading CQEs and EQEs with their
// owner bits. Checks nothing itself: tests assert on what it returns.
#pragma once

#include <cstring>
#include <optional>
#include <vector>

#include "base/le_bytes.h"
#include "mana/device.h"
#include "mana/queues.h"
#include "mana/wire.h"
#include "nvme/testing/fake_dma_memory.h"

namespace mana::testing {

class RecordingInterrupts final : public InterruptSink {
 public:
  void Signal(uint16_t vector) override { vectors.push_back(vector); }
  std::vector<uint16_t> vectors;
};

class RecordingPackets final : public PacketSink {
 public:
  void Transmit(std::span<const std::byte> frame) override { frames.emplace_back(frame.begin(), frame.end()); }
  std::vector<std::vector<std::byte>> frames;
};

// A ring the harness reads (EQ, CQ): entries of `entry_bytes`, the driver
// head starting at N as Linux's does.
struct ReadRing {
  uint64_t base = 0;
  uint32_t entries = 0;
  size_t entry_bytes = 0;
  uint64_t head = 0;
};

// A ring the harness writes (SQ, RQ): a byte tail.
struct WriteRing {
  uint64_t base = 0;
  uint32_t bytes = 0;
  uint32_t tail = 0;
  uint32_t id = 0;
};

class DriverHarness {
 public:
  static constexpr uint64_t kMemoryBase = 0x100000;
  static constexpr size_t kMemoryBytes = 8 << 20;

  explicit DriverHarness(Config config = {})
      : memory_(kMemoryBase, kMemoryBytes) {
    auto created = Device::Create(config, memory_, interrupts_, packets_);
    device_ = std::move(*created);
  }

  Device& device() { return *device_; }
  nvme::testing::FakeDmaMemory& memory() { return memory_; }
  RecordingInterrupts& interrupts() { return interrupts_; }
  RecordingPackets& packets() { return packets_; }

  uint64_t AllocatePages(size_t pages) {
    const uint64_t at = next_page_;
    next_page_ += pages * kPageBytes;
    return at;
  }
  void Write64(uint64_t offset, uint64_t value) {
    std::array<std::byte, 8> bytes{};
    (void)base::StoreLe<uint64_t>(bytes, 0, value);
    (void)device_->Write(offset, bytes);
  }
  void Write32(uint64_t offset, uint32_t value) {
    std::array<std::byte, 4> bytes{};
    (void)base::StoreLe<uint32_t>(bytes, 0, value);
    (void)device_->Write(offset, bytes);
  }
  uint64_t Read64(uint64_t offset) {
    std::array<std::byte, 8> bytes{};
    (void)device_->Read(offset, bytes);
    uint64_t value = 0;
    (void)base::LoadLe<uint64_t>(bytes, 0, value);
    return value;
  }
  uint32_t Read32(uint64_t offset) {
    std::array<std::byte, 4> bytes{};
    (void)device_->Read(offset, bytes);
    uint32_t value = 0;
    (void)base::LoadLe<uint32_t>(bytes, 0, value);
    return value;
  }
  uint64_t doorbell_base() { return Read64(reg::kDoorbellPageOffset); }

  // §1 SMC ESTABLISH_HWC with four fresh pages; returns the header read back.
  uint32_t Establish(uint16_t msix = 0) {
    hwc_eq_ = {AllocatePages(1), 256, kEqeBytes, 256};
    hwc_cq_ = {AllocatePages(1), 64, kCqeBytes, 64};
    hwc_rq_ = {AllocatePages(1), 4096, 0, 0};
    hwc_sq_ = {AllocatePages(1), 4096, 0, 0};
    std::array<std::byte, smc::kBytes> smc{};
    const uint64_t pfns[4] = {hwc_eq_.base >> 12, hwc_cq_.base >> 12, hwc_rq_.base >> 12,
                              hwc_sq_.base >> 12};
    for (size_t q = 0; q < 4; ++q)
      for (size_t b = 0; b < 6; ++b) smc[q * 6 + b] = std::byte(pfns[q] >> (8 * b));
    (void)base::StoreLe<uint16_t>(smc, 26, msix);
    (void)base::StoreLe<uint32_t>(smc, 28, smc::kEstablishHwc);
    const uint64_t smc_base = Read64(reg::kSmcOffset);
    for (size_t i = 0; i < 8; ++i) {
      uint32_t dword = 0;
      (void)base::LoadLe<uint32_t>(smc, i * 4, dword);
      Write32(smc_base + i * 4, dword);
    }
    return Read32(smc_base + 28);
  }

  // The next entry of `ring` if its owner bits say it is new (Linux's
  // mana_gd_read_cqe / process_eq_events); advances the head.
  std::optional<std::vector<std::byte>> Next(ReadRing& ring) {
    const uint64_t at = ring.base + (ring.head % ring.entries) * ring.entry_bytes;
    const uint32_t last = memory_.Get32(at + ring.entry_bytes - 4);
    const uint32_t owner = last >> 29;
    if (owner != ((ring.head / ring.entries) & kOwnerBitsMask)) return std::nullopt;
    std::vector<std::byte> entry(ring.entry_bytes);
    std::memcpy(entry.data(), memory_.bytes().data() + (at - kMemoryBase), ring.entry_bytes);
    ++ring.head;
    return entry;
  }
  void ArmCq(const ReadRing& ring, uint32_t id) {
    Write64(doorbell_base() + doorbell::kCq,
            id | (uint64_t{static_cast<uint32_t>(ring.head % (ring.entries * 8ull))} << 32) |
                doorbell::kArmBit);
  }
  void ArmEq(const ReadRing& ring, uint32_t id) {
    Write64(doorbell_base() + doorbell::kEq,
            id | (uint64_t{static_cast<uint32_t>(ring.head % (ring.entries * 8ull))} << 32) |
                doorbell::kArmBit);
  }

  // Writes a WQE (header, OOB, SGEs) at the ring's tail and advances it.
  void PostWqe(WriteRing& ring, std::span<const std::byte> oob, std::span<const Sge> sges,
               uint32_t dw1_extra = 0) {
    const size_t raw = 8 + oob.size() + sges.size() * kSgeBytes;
    const size_t bytes = (raw + 31) / 32 * 32;
    std::vector<std::byte> wqe(bytes);
    const uint32_t dw1 = static_cast<uint32_t>(sges.size()) |
                         (static_cast<uint32_t>(oob.size() / 4) << 8) | dw1_extra;
    (void)base::StoreLe<uint32_t>(wqe, 4, dw1);
    std::memcpy(wqe.data() + 8, oob.data(), oob.size());
    for (size_t i = 0; i < sges.size(); ++i) {
      (void)base::StoreLe<uint64_t>(wqe, 8 + oob.size() + i * 16, sges[i].address);
      (void)base::StoreLe<uint32_t>(wqe, 8 + oob.size() + i * 16 + 8, sges[i].memory_key);
      (void)base::StoreLe<uint32_t>(wqe, 8 + oob.size() + i * 16 + 12, sges[i].size);
    }
    for (size_t i = 0; i < bytes; ++i)
      memory_.bytes()[ring.base + (ring.tail + i) % ring.bytes - kMemoryBase] = wqe[i];
    ring.tail += static_cast<uint32_t>(bytes);
  }
  void RingSq(const WriteRing& ring) {
    Write64(doorbell_base() + doorbell::kSq, ring.id | (uint64_t{ring.tail} << 32));
  }
  void RingRq(const WriteRing& ring) {
    Write64(doorbell_base() + doorbell::kRq, ring.id | (uint64_t{ring.tail} << 32));
  }

  // One HWC request: a response buffer posted on the RQ, the request on
  // the SQ; returns the response bytes (the RQ CQE's length), or nothing
  // when no RQ CQE came.
  std::optional<std::vector<std::byte>> Request(uint32_t code, std::span<const std::byte> body,
                                                uint32_t response_bytes, uint32_t device = 0) {
    const uint64_t request_page = AllocatePages(1), response_page = AllocatePages(1);
    std::vector<std::byte> request(msg::kRequestHeaderBytes + body.size());
    (void)base::StoreLe<uint32_t>(request, 4, code);
    (void)base::StoreLe<uint16_t>(request, 8, 1);
    (void)base::StoreLe<uint16_t>(request, 10, message_id_);
    (void)base::StoreLe<uint32_t>(request, 12, static_cast<uint32_t>(request.size()));
    (void)base::StoreLe<uint32_t>(request, 20, code);
    (void)base::StoreLe<uint16_t>(request, 24, 1);
    (void)base::StoreLe<uint32_t>(request, 28, response_bytes);
    (void)base::StoreLe<uint32_t>(request, 32, device);
    (void)base::StoreLe<uint32_t>(request, 36, 0xAC000000u + message_id_);
    std::copy(body.begin(), body.end(), request.begin() + msg::kRequestHeaderBytes);
    std::memcpy(memory_.bytes().data() + (request_page - kMemoryBase), request.data(),
                request.size());
    const Sge in{request_page, 0, static_cast<uint32_t>(request.size())};
    const Sge out{response_page, 0, 4096};
    const std::array<std::byte, 8> rq_oob{};
    PostWqe(hwc_rq_, rq_oob, std::span(&out, 1));
    RingRq(hwc_rq_);
    std::array<std::byte, 24> sq_oob{};
    PostWqe(hwc_sq_, sq_oob, std::span(&in, 1));
    RingSq(hwc_sq_);
    std::optional<std::vector<std::byte>> response;
    while (auto cqe = Next(hwc_cq_)) {
      uint32_t info = 0, length = 0;
      (void)base::LoadLe<uint32_t>(*cqe, 60, info);
      (void)base::LoadLe<uint32_t>(*cqe, kHwcRxOobDataSize, length);
      if ((info >> 24) & 1) continue;  // the SQ's CQE
      response.emplace(length);
      std::copy_n(memory_.bytes().begin() + static_cast<ptrdiff_t>(response_page - kMemoryBase),
                  std::min<size_t>(length, 4096), response->begin());
    }
    ArmCq(hwc_cq_, 0);
    ++message_id_;
    return response;
  }
  static uint32_t Status(std::span<const std::byte> response) {
    uint32_t status = ~0u;
    (void)base::LoadLe<uint32_t>(response, 24, status);
    return status;
  }

  ReadRing& hwc_eq() { return hwc_eq_; }

 private:
  nvme::testing::FakeDmaMemory memory_;
  RecordingInterrupts interrupts_;
  RecordingPackets packets_;
  std::unique_ptr<Device> device_;
  uint64_t next_page_ = kMemoryBase;
  ReadRing hwc_eq_, hwc_cq_;
  WriteRing hwc_rq_, hwc_sq_;
  uint16_t message_id_ = 0;
};

}  // namespace mana::testing
