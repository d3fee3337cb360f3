// Internal to nvme/driver/: the driver's private types and the helpers its
// three source files share (driver.cpp: API, bring-up and reset;
// driver_admin.cpp: the admin commands of bring-up; driver_io.cpp: block
// requests to NVM commands and completions). Everything ending in Locked
// runs with Driver::mutex_ held.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nvme/driver/driver.h"

namespace nvme::driver::internal {

inline constexpr uint16_t kAdminEntries = 32;  // nvme-vfio.md §1.3 step 3: AQA = 001F001Fh
inline constexpr uint32_t kAllOnes = 0xFFFF'FFFF;
inline constexpr uint32_t kMaxWriteZeroesBlocks = 0x1'0000;  // NVM 1.0: NLB is 16 bits, 0's based
inline constexpr uint16_t kMaxIoQueues = QueuePair::kMaxEntries - 1;

inline uint8_t Op(wire::AdminOpcode opcode) { return static_cast<uint8_t>(opcode); }
inline uint8_t Op(wire::NvmOpcode opcode) { return static_cast<uint8_t>(opcode); }

inline wire::SubmissionEntry Command(uint8_t opcode, uint32_t nsid = 0) {
  wire::SubmissionEntry sqe{};
  sqe.cdw0 = opcode;
  sqe.nsid = nsid;
  return sqe;
}

}  // namespace nvme::driver::internal

namespace nvme::driver {

// One namespace as a block::Device.
struct Driver::Namespace {
  uint32_t nsid = 0;
  block::Geometry geometry;
  std::unique_ptr<NamespaceDevice> device;
};

class Driver::NamespaceDevice final : public block::Device {
 public:
  NamespaceDevice(Driver& driver, uint32_t index, const block::Geometry& geometry)
      : driver_(driver), index_(index), geometry_(geometry) {}
  const block::Geometry& geometry() const override { return geometry_; }
  void Submit(block::Request request, uint32_t queue_hint, block::Completion done) override {
    driver_.SubmitIo(index_, std::move(request), queue_hint, std::move(done));
  }
  void Plug() override { driver_.Plug(); }
  void Unplug() override { driver_.Unplug(); }

 private:
  Driver& driver_;
  const uint32_t index_;
  const block::Geometry geometry_;
};

// A block::Request being served: one or more NVMe commands.
struct Driver::Request {
  block::Completion done;
  block::Status status = block::Status::kOk;  // the first failure among the parts
  size_t parts_left = 0;
  uint32_t resets_seen = 0;
  uint64_t last_reset = 0;
  bool finished = false;
};

struct Driver::IoCommand {
  std::shared_ptr<Request> request;
  wire::SubmissionEntry sqe{};  // CID and PRPs filled at submission
  std::optional<PrpPlan> prps;
  std::optional<wire::DsmRange> dsm;  // the payload of a Dataset Management command
};

struct Driver::IoQueue {
  std::unique_ptr<QueuePair> pair;
  uint16_t vector = 0;
  std::vector<std::optional<IoCommand>> in_flight;  // by slot
  std::deque<IoCommand> waiting;
};

}  // namespace nvme::driver
