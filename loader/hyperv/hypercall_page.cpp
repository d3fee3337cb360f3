#include "hyperv/hypercall_page.h"

#include <algorithm>
#include <initializer_list>

namespace loader::hyperv {
namespace {

// SDM vol. 2 encodings.
// out imm8, eax; nop
constexpr uint8_t kTrap[] = {0xE7, static_cast<uint8_t>(kHypercallPort), 0x90};
constexpr uint8_t kRet = 0xC3;
constexpr uint8_t kMovEcxEax[] = {0x89, 0xC1};        // mov ecx, eax
constexpr uint8_t kMovRaxRcx[] = {0x48, 0x89, 0xC8};  // mov rax, rcx
constexpr uint8_t kMovEaxImm = 0xB8;                  // mov eax, imm32
constexpr uint8_t kMovEcxImm = 0xB9;                  // mov ecx, imm32
constexpr uint8_t kInt3 = 0xCC;

// TLFS "Virtual Secure Mode": HvCallVtlCall / HvCallVtlReturn.
constexpr uint8_t kCodeVtlCall = 0x11;
constexpr uint8_t kCodeVtlReturn = 0x12;

class Writer {
 public:
  explicit Writer(std::array<std::byte, base::kPageSize>& page) : page_(page) {}
  template <size_t N>
  void Put(const uint8_t (&bytes)[N]) {
    for (uint8_t b : bytes) Put(b);
  }
  void Put(uint8_t b) { page_[at_++] = std::byte{b}; }
  void PutImm32(uint32_t v) {
    for (int i = 0; i < 4; ++i) Put(static_cast<uint8_t>(v >> (8 * i)));
  }
  size_t at() const { return at_; }

 private:
  std::array<std::byte, base::kPageSize>& page_;
  size_t at_ = 0;
};

}  // namespace

std::array<std::byte, base::kPageSize> HypercallPage() {
  std::array<std::byte, base::kPageSize> page;
  page.fill(std::byte{kInt3});
  Writer w(page);
  // +0x00: normal hypercall, control already in RCX (or EDX:EAX).
  w.Put(kTrap);
  w.Put(kRet);
  // +0x04 / +0x1B: 32-bit VTL call / return.
  // +0x0F / +0x26: 64-bit VTL call / return.
  for (const uint8_t code : {kCodeVtlCall, kCodeVtlReturn}) {
    w.Put(kMovEcxEax);
    w.Put(kMovEaxImm);
    w.PutImm32(code);
    w.Put(kTrap);
    w.Put(kRet);
    w.Put(kMovRaxRcx);
    w.Put(kMovEcxImm);
    w.PutImm32(code);
    w.Put(kTrap);
    w.Put(kRet);
  }
  return page;
}

HypercallInput DecodeHypercallInput(uint64_t value) {
  constexpr uint64_t kDefined = 0xFFFFull | (1ull << 16) | (0x3FFull << 17) | (0xFFFull << 32) |
                                (0xFFFull << 48);
  HypercallInput input;
  input.code = static_cast<uint16_t>(value & 0xFFFF);
  input.fast = ((value >> 16) & 1) != 0;
  input.variable_header = static_cast<uint16_t>((value >> 17) & 0x3FF);
  input.rep_count = static_cast<uint16_t>((value >> 32) & 0xFFF);
  input.rep_start = static_cast<uint16_t>((value >> 48) & 0xFFF);
  input.reserved_set = (value & ~kDefined) != 0;
  return input;
}

uint64_t HypercallResult(uint16_t status, uint16_t reps_completed) {
  return uint64_t{status} | (uint64_t{reps_completed & 0xFFFu} << 32);
}

uint64_t DispatchHypercall(const HypercallInput& input) {
  // TLFS "Hypercall Result Value": a code the hypervisor does not implement fails with
  // HV_STATUS_INVALID_HYPERCALL_CODE and no reps completed. Nothing is
  // implemented yet (PostMessage 0x5C, SignalEvent 0x5D and the VSM calls
  // come with the SynIC and VTL slices).
  static_cast<void>(input);
  return HypercallResult(kStatusInvalidHypercallCode, 0);
}

}  // namespace loader::hyperv
