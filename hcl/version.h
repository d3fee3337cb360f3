#pragma once

namespace hcl {
// The project version and git revision (meson vcs_tag at build time).
extern const char kVersion[];
}  // namespace hcl
