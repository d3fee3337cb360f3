// HV_INITIAL_VP_CONTEXT (TLFS "HvCallStartVirtualProcessor",
// "HvCallEnableVpVtl"; hyperv-vmbus.md §2): the 224-byte register state a
// VTL gives a VP it starts: rip, rsp, rflags; cs ds es fs gs ss tr ldtr
// ({base u64, limit u32, selector u16, attributes u16}, VMX access
// rights); idtr gdtr ({pad u16 x3, limit u16, base u64}); efer, cr0, cr3,
// cr4, pat. Sans I/O.
#pragma once

#include <cstddef>
#include <span>

#include "base/result.h"
#include "vp_state.h"

namespace loader::vsm {

inline constexpr size_t kInitialVpContextBytes = 224;

// The context as the state ApplyVpState takes, for VTL `vtl`. Every
// register is named; reserved segment attribute bits are refused there.
X64VpState ParseInitialVpContext(std::span<const std::byte, kInitialVpContextBytes> bytes,
                                 uint8_t vtl);

}  // namespace loader::vsm
