// ParseVbsVpContext: the VSM platform's VP_CONTEXT data (igvm.md §1.3,
// "VP_CONTEXT"): u32 register_count, then register_count 32-byte
// VbsVpContextRegister {vtl u8, register_name u32, mbz[11], value[16]}.
//
// The data comes from the image: it is checked, not trusted. Every record
// must be present in full, mbz must be zero, all records must name the
// same VTL (igvm.md: "All registers in one VBS directive share a VTL"),
// no register may appear twice, and only registers this loader knows how
// to apply are accepted; anything else is an error naming it.
#pragma once

#include <cstddef>
#include <span>

#include "base/result.h"
#include "vp_state.h"

namespace loader {

base::Result<X64VpState> ParseVbsVpContext(std::span<const std::byte> data);

}  // namespace loader
