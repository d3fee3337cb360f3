// FakeDriver: the VTL2 driver as unit tests and fuzz targets see it
// (VtlDriver): one run page in memory, a register page if the test gives
// one, VTL0's registers in a map (unset ones read as zero), and a record
// of every register read and write and every hypercall.
#pragma once

#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "paravisor/vtl_driver.h"

namespace hcl::testing {

class FakeDriver final : public VtlDriver {
 public:
  struct Value {
    uint64_t low = 0;
    uint64_t high = 0;
  };
  struct Call {
    uint64_t control = 0;
    std::vector<std::byte> input;
  };

  base::Result<mshv_vtl_run*> MapRunPage(uint32_t) override { return &run; }
  base::Result<::hv::VpRegisterPage*> MapRegisterPage(uint32_t) override {
    if (!register_page) return base::Error("no register page (test)");
    return &*register_page;
  }
  base::Result<bool> ReturnToLowerVtl() const override { return true; }
  base::Result<void> GetRegisters(std::span<hv_register_assoc> assocs) const override {
    ++register_reads;
    for (hv_register_assoc& assoc : assocs) {
      const auto it = registers.find(assoc.name);
      const Value value = it == registers.end() ? Value{} : it->second;
      assoc.value.reg128.low_part = value.low;
      assoc.value.reg128.high_part = value.high;
    }
    return base::Ok();
  }
  base::Result<void> SetRegisters(std::span<const hv_register_assoc> assocs) const override {
    for (const hv_register_assoc& assoc : assocs) {
      written.emplace_back(assoc.name, Value{assoc.value.reg128.low_part, assoc.value.reg128.high_part});
      registers[assoc.name] = written.back().second;
    }
    return base::Ok();
  }
  base::Result<::hv::Status> Hypercall(uint64_t control, std::span<const std::byte> input,
                                       std::span<std::byte>) const override {
    calls.push_back(Call{control, std::vector<std::byte>(input.begin(), input.end())});
    return hypercall_status;
  }

  // Puts an exit message (header + payload) in the run page.
  template <typename Payload>
  void Exit(uint32_t type, const Payload& payload) {
    static_assert(sizeof(::hv::MessageHeader) + sizeof(Payload) <= MSHV_MAX_RUN_MSG_SIZE);
    const ::hv::MessageHeader header{type, static_cast<uint8_t>(sizeof(Payload)), 0, 0, 0};
    std::memset(run.exit_message, 0, sizeof run.exit_message);
    std::memcpy(run.exit_message, &header, sizeof header);
    std::memcpy(run.exit_message + sizeof header, &payload, sizeof payload);
  }
  // The last value written to register `name`, if any.
  const Value* LastWrite(uint32_t name) const {
    for (auto it = written.rbegin(); it != written.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }

  mshv_vtl_run run{};
  std::optional<::hv::VpRegisterPage> register_page;  // set before Prepare
  mutable int register_reads = 0;                    // GetRegisters calls
  mutable std::map<uint32_t, Value> registers;
  mutable std::vector<std::pair<uint32_t, Value>> written;
  mutable std::vector<Call> calls;
  ::hv::Status hypercall_status = ::hv::Status::kSuccess;
};

}  // namespace hcl::testing
