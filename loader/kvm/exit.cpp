#include "exit.h"

#include <algorithm>

#include "base/checked.h"
#include "base/string_printf.h"

namespace kvm {

base::Result<VcpuExit> DecodeExit(const kvm_run& run, std::span<std::byte> run_area) {
  switch (run.exit_reason) {
    case KVM_EXIT_IO: {
      IoExit io;
      io.port = run.io.port;
      io.size = run.io.size;
      io.count = run.io.count;
      io.direction = run.io.direction == KVM_EXIT_IO_OUT ? IoDirection::kOut : IoDirection::kIn;
      if (io.size != 1 && io.size != 2 && io.size != 4)
        return base::Error::Format("KVM_EXIT_IO with access size %u", io.size);
      // api.rst KVM_EXIT_IO: "data_offset describes where the data is
      // located (KVM_EXIT_IO_OUT) or where kvm expects application code
      // to place the data for the next KVM_RUN invocation (KVM_EXIT_IO_IN)".
      const auto bytes = base::CheckedMul<uint64_t>(io.size, io.count);
      if (!bytes || !base::RangeFits<uint64_t>(run.io.data_offset, *bytes, run_area.size()))
        return base::Error::Format("KVM_EXIT_IO data (offset 0x%llx, %u x %u bytes) lies outside "
                                   "the vCPU mapping",
                                   static_cast<unsigned long long>(run.io.data_offset), io.count,
                                   io.size);
      io.data = run_area.subspan(static_cast<size_t>(run.io.data_offset),
                                 static_cast<size_t>(*bytes));
      return VcpuExit{io};
    }
    case KVM_EXIT_MMIO: {
      MmioExit mmio;
      mmio.gpa = run.mmio.phys_addr;
      mmio.length = run.mmio.len;
      mmio.is_write = run.mmio.is_write != 0;
      if (mmio.length == 0 || mmio.length > mmio.data.size())
        return base::Error::Format("KVM_EXIT_MMIO with length %u", mmio.length);
      for (size_t i = 0; i < mmio.length; ++i) mmio.data[i] = std::byte{run.mmio.data[i]};
      return VcpuExit{mmio};
    }
    case KVM_EXIT_HLT:
      return VcpuExit{HltExit{}};
    case KVM_EXIT_SHUTDOWN:
      return VcpuExit{ShutdownExit{}};
    case KVM_EXIT_X86_RDMSR:
      return VcpuExit{RdMsrExit{run.msr.index, run.msr.reason}};
    case KVM_EXIT_X86_WRMSR:
      return VcpuExit{WrMsrExit{run.msr.index, run.msr.reason, run.msr.data}};
    case KVM_EXIT_INTERNAL_ERROR: {
      InternalErrorExit error;
      error.suberror = run.internal.suberror;
      error.ndata = run.internal.ndata;
      const size_t n = std::min<size_t>(run.internal.ndata, error.data.size());
      for (size_t i = 0; i < n; ++i) error.data[i] = run.internal.data[i];
      return VcpuExit{error};
    }
    case KVM_EXIT_FAIL_ENTRY:
      return VcpuExit{FailEntryExit{run.fail_entry.hardware_entry_failure_reason,
                                    run.fail_entry.cpu}};
    case KVM_EXIT_SYSTEM_EVENT:
      return VcpuExit{SystemEventExit{run.system_event.type}};
    case KVM_EXIT_INTR:
      return VcpuExit{InterruptedExit{}};
    default:
      return VcpuExit{UnknownExit{run.exit_reason}};
  }
}

const char* ExitReasonName(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "EXCEPTION";
    case KVM_EXIT_IO: return "IO";
    case KVM_EXIT_HYPERCALL: return "HYPERCALL";
    case KVM_EXIT_DEBUG: return "DEBUG";
    case KVM_EXIT_HLT: return "HLT";
    case KVM_EXIT_MMIO: return "MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "IRQ_WINDOW_OPEN";
    case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
    case KVM_EXIT_INTR: return "INTR";
    case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
    case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
    case KVM_EXIT_X86_RDMSR: return "X86_RDMSR";
    case KVM_EXIT_X86_WRMSR: return "X86_WRMSR";
    default: return "other";
  }
}

namespace {

struct Describer {
  std::string operator()(const IoExit& io) const {
    return base::StringPrintf("io %s port 0x%x size %u count %u",
                              io.direction == IoDirection::kIn ? "in" : "out", io.port, io.size,
                              io.count);
  }
  std::string operator()(const MmioExit& mmio) const {
    return base::StringPrintf("mmio %s gpa 0x%llx length %u", mmio.is_write ? "write" : "read",
                              static_cast<unsigned long long>(mmio.gpa), mmio.length);
  }
  std::string operator()(const HltExit&) const { return "hlt"; }
  std::string operator()(const ShutdownExit&) const { return "shutdown (triple fault)"; }
  std::string operator()(const RdMsrExit& msr) const {
    return base::StringPrintf("rdmsr 0x%x (reason %u)", msr.index, msr.reason);
  }
  std::string operator()(const WrMsrExit& msr) const {
    return base::StringPrintf("wrmsr 0x%x value 0x%llx (reason %u)", msr.index,
                              static_cast<unsigned long long>(msr.data), msr.reason);
  }
  std::string operator()(const InternalErrorExit& error) const {
    std::string text = base::StringPrintf("internal error, suberror %u", error.suberror);
    const size_t n = std::min<size_t>(error.ndata, error.data.size());
    for (size_t i = 0; i < n; ++i)
      text += base::StringPrintf(" 0x%llx", static_cast<unsigned long long>(error.data[i]));
    return text;
  }
  std::string operator()(const FailEntryExit& fail) const {
    return base::StringPrintf("entry failed, hardware reason 0x%llx on cpu %u",
                              static_cast<unsigned long long>(fail.hardware_reason), fail.cpu);
  }
  std::string operator()(const SystemEventExit& event) const {
    return base::StringPrintf("system event %u", event.type);
  }
  std::string operator()(const InterruptedExit&) const { return "interrupted"; }
  std::string operator()(const UnknownExit& unknown) const {
    return base::StringPrintf("exit reason %u (%s)", unknown.reason,
                              ExitReasonName(unknown.reason));
  }
};

}  // namespace

std::string DescribeExit(const VcpuExit& exit) { return std::visit(Describer{}, exit); }

}  // namespace kvm
