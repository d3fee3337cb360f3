#include "net/backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "base/string_printf.h"
#include "net/slirp_backend.h"
#include "net/tap_backend.h"
#include "os/unique_fd.h"

namespace loader::net {

std::string DescribeHostEnd(const HostForward& forward) {
  return base::StringPrintf("%s %s:%u", forward.udp ? "udp" : "tcp",
                            forward.host_address.empty() ? "0.0.0.0" : forward.host_address.c_str(),
                            forward.host_port);
}

in_addr HostEndAddress(const HostForward& forward) {
  in_addr address{htonl(INADDR_ANY)};
  if (!forward.host_address.empty()) inet_pton(AF_INET, forward.host_address.c_str(), &address);
  return address;
}

base::Result<void> CheckForwardsFree(const NicSpec& spec) {
  for (const HostForward& forward : spec.forwards) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(forward.host_port);
    address.sin_addr = HostEndAddress(forward);
    const os::UniqueFd fd(::socket(AF_INET, (forward.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return base::Error::FromErrno("nic user: socket", errno);
    const int one = 1;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        (!forward.udp && ::listen(fd.get(), 1) != 0))
      return base::Error::FromErrno("nic user: hostfwd cannot listen on " + DescribeHostEnd(forward),
                                    errno);
  }
  return base::Ok();
}

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
