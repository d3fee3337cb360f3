// Fuzz target: hcl-loader's --nic / --nic-vtl0 value (a user's command
// line, untrusted text): ParseNicSpec must return a spec or one error
// line, and a spec it accepts must survive FormatNicSpec -> ParseNicSpec
// unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/fuzz_target.h"
#include "net/backend.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(data, data + size);
  const auto spec = loader::net::ParseNicSpec(text);
  if (!spec) {
    if (spec.error().message().find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  const auto again = loader::net::ParseNicSpec(loader::net::FormatNicSpec(*spec));
  if (!again || again->kind != spec->kind || again->tap_name != spec->tap_name ||
      again->forwards.size() != spec->forwards.size())
    __builtin_trap();
  for (size_t i = 0; i < spec->forwards.size(); ++i) {
    const auto& a = spec->forwards[i];
    const auto& b = again->forwards[i];
    if (a.udp != b.udp || a.host_port != b.host_port || a.guest_port != b.guest_port)
      __builtin_trap();
  }
  return 0;
}
