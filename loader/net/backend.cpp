#include "net/backend.h"

#include "net/slirp_backend.h"
#include "net/tap_backend.h"

namespace loader::net {

base::Result<std::unique_ptr<Backend>> CreateBackend(const NicSpec& spec) {
  switch (spec.kind) {
    case NicSpec::Kind::kUser:
      return std::unique_ptr<Backend>(TRY(SlirpBackend::Create(spec)));
    case NicSpec::Kind::kTap:
      return std::unique_ptr<Backend>(TRY(TapBackend::Create(spec)));
  }
  return base::Error("nic: unknown kind");
}

}  // namespace loader::net
