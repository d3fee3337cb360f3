// VcpuExit: why KVM_RUN returned, decoded from struct kvm_run into one
// typed value per exit reason (api.rst §5, "The kvm_run structure"), so
// the run loop is one std::visit with a handler per kind (STYLE.md P4).
//
// Decoding copies what it needs out of kvm_run, except the I/O data bytes:
// IoExit::data is a span into the vCPU's shared run area, valid until the
// next KVM_RUN. For IN the handler fills it; KVM completes the instruction
// with those bytes on the next entry (api.rst, KVM_EXIT_IO).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "base/result.h"

namespace kvm {

enum class IoDirection { kIn, kOut };

// KVM_EXIT_IO: `count` accesses of `size` bytes (count > 1: a REP string
// instruction), all at `port`.
struct IoExit {
  uint16_t port = 0;
  uint8_t size = 0;  // 1, 2 or 4
  IoDirection direction = IoDirection::kOut;
  uint32_t count = 0;
  std::span<std::byte> data;  // size * count bytes in the run area
};

// KVM_EXIT_MMIO: an access to a guest address with no memory slot. For a
// read, Vcpu::CompleteMmioRead supplies the value.
struct MmioExit {
  uint64_t gpa = 0;
  uint32_t length = 0;  // 1-8
  bool is_write = false;
  std::array<std::byte, 8> data{};  // written bytes
};

struct HltExit {};
// KVM_EXIT_SHUTDOWN: on x86 a triple fault (api.rst).
struct ShutdownExit {};

// KVM_EXIT_X86_RDMSR / WRMSR (api.rst, with KVM_CAP_X86_USER_SPACE_MSR).
// Answer with Vcpu::CompleteMsr before the next run.
struct RdMsrExit {
  uint32_t index = 0;
  uint32_t reason = 0;  // KVM_MSR_EXIT_REASON_*
};
struct WrMsrExit {
  uint32_t index = 0;
  uint32_t reason = 0;
  uint64_t data = 0;
};

struct InternalErrorExit {
  uint32_t suberror = 0;  // KVM_INTERNAL_ERROR_*
  uint32_t ndata = 0;
  std::array<uint64_t, 16> data{};
};

struct FailEntryExit {
  uint64_t hardware_reason = 0;  // VMX exit reason / SVM exit code
  uint32_t cpu = 0;
};

// KVM_EXIT_SYSTEM_EVENT (PSCI, SEV termination, ...).
struct SystemEventExit {
  uint32_t type = 0;
};

// KVM_RUN returned EINTR, or immediate_exit was set: a signal asked the
// vCPU to stop. Not an exit reason of KVM's own.
struct InterruptedExit {};

// Any other reason: reported, never handled silently.
struct UnknownExit {
  uint32_t reason = 0;
};

using VcpuExit = std::variant<IoExit, MmioExit, HltExit, ShutdownExit, RdMsrExit, WrMsrExit,
                              InternalErrorExit, FailEntryExit, SystemEventExit, InterruptedExit,
                              UnknownExit>;

// Decodes `run` after a KVM_RUN that returned 0. `run_area` is the whole
// vCPU mapping (kvm_run plus the pages after it that hold I/O data); the
// I/O data offset and length are checked against it.
base::Result<VcpuExit> DecodeExit(const kvm_run& run, std::span<std::byte> run_area);

// "IO", "HLT", ... for messages.
const char* ExitReasonName(uint32_t reason);
// One line describing an exit, for logs.
std::string DescribeExit(const VcpuExit& exit);

}  // namespace kvm
