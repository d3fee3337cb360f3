#include "kvm/exit.h"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

namespace {

// A run area as KVM lays it out: kvm_run, then the I/O data page.
struct RunArea {
  RunArea() : bytes(2 * 4096) {}
  kvm_run& run() { return *reinterpret_cast<kvm_run*>(bytes.data()); }
  std::vector<std::byte> bytes;  // operator new: aligned for kvm_run
};

}  // namespace

TEST_CASE("decode KVM_EXIT_IO: port, size, direction and the data span") {
  RunArea area;
  kvm_run& run = area.run();
  run.exit_reason = KVM_EXIT_IO;
  run.io.direction = KVM_EXIT_IO_OUT;
  run.io.size = 1;
  run.io.port = 0x3F8;
  run.io.count = 3;
  run.io.data_offset = 4096;
  area.bytes[4096] = std::byte{'a'};
  const auto exit = kvm::DecodeExit(run, area.bytes);
  REQUIRE(exit.ok());
  const auto* io = std::get_if<kvm::IoExit>(&*exit);
  REQUIRE(io != nullptr);
  CHECK(io->port == 0x3F8);
  CHECK(io->direction == kvm::IoDirection::kOut);
  CHECK(io->count == 3);
  REQUIRE(io->data.size() == 3);
  CHECK(io->data[0] == std::byte{'a'});
  CHECK(io->data.data() == area.bytes.data() + 4096);
}

TEST_CASE("decode KVM_EXIT_IO refuses data outside the run area and odd sizes") {
  RunArea area;
  kvm_run& run = area.run();
  run.exit_reason = KVM_EXIT_IO;
  run.io.size = 4;
  run.io.count = 2;
  run.io.data_offset = 2 * 4096 - 4;
  CHECK_FALSE(kvm::DecodeExit(run, area.bytes).ok());
  run.io.data_offset = ~uint64_t{0};
  CHECK_FALSE(kvm::DecodeExit(run, area.bytes).ok());
  run.io.data_offset = 4096;
  run.io.size = 3;
  CHECK_FALSE(kvm::DecodeExit(run, area.bytes).ok());
}

TEST_CASE("decode the stop exits and MSR exits") {
  RunArea area;
  kvm_run& run = area.run();
  run.exit_reason = KVM_EXIT_HLT;
  CHECK(std::holds_alternative<kvm::HltExit>(*kvm::DecodeExit(run, area.bytes)));
  run.exit_reason = KVM_EXIT_SHUTDOWN;
  CHECK(std::holds_alternative<kvm::ShutdownExit>(*kvm::DecodeExit(run, area.bytes)));
  run.exit_reason = KVM_EXIT_X86_WRMSR;
  run.msr.index = 0x40000001;
  run.msr.data = 0x1234;
  run.msr.reason = KVM_MSR_EXIT_REASON_FILTER;
  const auto wrmsr = kvm::DecodeExit(run, area.bytes);
  REQUIRE(std::holds_alternative<kvm::WrMsrExit>(*wrmsr));
  CHECK(std::get<kvm::WrMsrExit>(*wrmsr).data == 0x1234);
  run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
  run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  run.internal.ndata = 1000;  // more than the array: clamped
  const auto internal = kvm::DecodeExit(run, area.bytes);
  REQUIRE(std::holds_alternative<kvm::InternalErrorExit>(*internal));
  CHECK(kvm::DescribeExit(*internal).find("internal error") != std::string::npos);
  run.exit_reason = 9999;
  CHECK(std::holds_alternative<kvm::UnknownExit>(*kvm::DecodeExit(run, area.bytes)));
}
