#include "vsm/intercept_message.h"

#include <doctest/doctest.h>

TEST_CASE("intercept message: header fields from KVM's registers") {
  kvm_regs regs{};
  regs.rip = 0xFFFFFFFF81000000;
  regs.rflags = 0x246;
  kvm_sregs sregs{};
  sregs.cr0 = 0x80050033;  // PE set
  sregs.efer = 0xD01;      // LMA set
  sregs.cr8 = 0x7;
  sregs.ss.dpl = 3;
  sregs.cs.base = 0x1000;
  sregs.cs.limit = 0xFFFFF;
  sregs.cs.selector = 0x33;
  sregs.cs.type = 0xB;
  sregs.cs.present = 1;
  sregs.cs.dpl = 3;
  sregs.cs.s = 1;
  sregs.cs.l = 1;
  sregs.cs.g = 1;
  const hv::InterceptHeader header =
      loader::vsm::MakeInterceptHeader(5, regs, sregs, 2, hv::kAccessExecute);
  CHECK(header.vp_index == 5);
  CHECK(header.instruction_length_cr8 == (2 | 7 << 4));
  CHECK(header.intercept_access == 2);
  CHECK(header.execution_state == (3 | 1 << 2 | 1 << 4));
  CHECK(header.rip == regs.rip);
  CHECK(header.rflags == 0x246);
  CHECK(header.cs.base == 0x1000);
  CHECK(header.cs.selector == 0x33);
  // type B, S, DPL 3, P, L, G (D/B 0 with L): VMX access rights.
  CHECK(header.cs.attributes == (0xB | 1 << 4 | 3 << 5 | 1 << 7 | 1 << 13 | 1 << 15));
}

TEST_CASE("intercept message: real mode and 32-bit protected mode states") {
  kvm_regs regs{};
  kvm_sregs sregs{};
  CHECK(loader::vsm::MakeInterceptHeader(0, regs, sregs, 1, 0).execution_state == 0);
  sregs.cr0 = 1;
  CHECK(loader::vsm::MakeInterceptHeader(0, regs, sregs, 1, 0).execution_state == 1 << 2);
  // A length above 15 cannot be encoded: only the low 4 bits are kept.
  CHECK((loader::vsm::MakeInterceptHeader(0, regs, sregs, 0x1F, 0).instruction_length_cr8 & 0xF) ==
        0xF);
}

TEST_CASE("intercept message: header then payload, payload size in the header") {
  hv::MsrIntercept payload;
  payload.msr_number = 0x1234;
  const auto bytes = loader::vsm::Message(hv::message::kMsrIntercept, payload);
  static_assert(sizeof bytes == 16 + sizeof(hv::MsrIntercept));
  hv::MessageHeader header;
  std::memcpy(&header, bytes.data(), sizeof header);
  CHECK(header.type == hv::message::kMsrIntercept);
  CHECK(header.payload_size == sizeof(hv::MsrIntercept));
  hv::MsrIntercept back;
  std::memcpy(&back, bytes.data() + 16, sizeof back);
  CHECK(back.msr_number == 0x1234);
}
