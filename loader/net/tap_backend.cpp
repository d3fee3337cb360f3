#include "net/tap_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace loader::net {
namespace {

// Enough for any frame a tap hands over (an MTU up to 64 KiB plus the
// Ethernet header), so none is cut.
constexpr size_t kReadBufferBytes = 65536 + 14;

base::Error OpenError(const std::string& name, int err) {
  const std::string what = "nic tap=" + name;
  switch (err) {
    case EPERM:
    case EACCES:
      return base::Error(what + ": permission denied (needs CAP_NET_ADMIN, or a persistent tap "
                                "this user owns: ip tuntap add " + name + " mode tap user $USER)");
    case EBUSY:
      return base::Error(what + ": in use by another process");
    case EINVAL:
      return base::Error(what + ": the interface exists but is not a tap (a tun, or another kind)");
    default:
      return base::Error::FromErrno(what + ": TUNSETIFF", err);
  }
}

}  // namespace

base::Result<std::unique_ptr<TapBackend>> TapBackend::Create(const NicSpec& spec) {
  if (spec.kind != NicSpec::Kind::kTap) return base::Error("nic: not a tap");
  ifreq request{};
  // ParseNicSpec bounds the name below IFNAMSIZ.
  if (spec.tap_name.empty() || spec.tap_name.size() >= sizeof request.ifr_name)
    return base::Error("nic tap=: bad interface name");
  std::unique_ptr<TapBackend> backend(new TapBackend());
  backend->tap_ = os::UniqueFd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!backend->tap_.valid()) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO)
      return base::Error("nic tap=" + spec.tap_name +
                         ": no /dev/net/tun on this host (modprobe tun)");
    return base::Error::FromErrno("nic tap=" + spec.tap_name + ": open /dev/net/tun", err);
  }
  // IFF_NO_PI: bare Ethernet frames, no packet-information header.
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(request.ifr_name, spec.tap_name.c_str(), sizeof request.ifr_name - 1);
  if (ioctl(backend->tap_.get(), TUNSETIFF, &request) != 0)
    return OpenError(spec.tap_name, errno);
  backend->name_ = request.ifr_name;
  backend->stop_ = os::UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!backend->stop_.valid()) return base::Error::FromErrno("nic tap: eventfd", errno);
  return backend;
}

TapBackend::~TapBackend() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
}

base::Result<void> TapBackend::Start(Receive receive) {
  if (thread_.joinable()) return base::Error("nic tap: started twice");
  receive_ = std::move(receive);
  thread_ = std::thread([this] { Run(); });
  return base::Ok();
}

void TapBackend::Transmit(std::span<const std::byte> frame) {
  // One write is one frame (tuntap.rst); EAGAIN: the kernel's queue is
  // full; EIO: the interface is down. Either way the frame is lost, as on
  // a wire, and the guest's protocols retransmit.
  const ssize_t written = write(tap_.get(), frame.data(), frame.size());
  if (written != static_cast<ssize_t>(frame.size())) drops_.fetch_add(1, std::memory_order_relaxed);
}

void TapBackend::Run() {
  std::vector<std::byte> buffer(kReadBufferBytes);
  pollfd fds[2] = {{stop_.get(), POLLIN, 0}, {tap_.get(), POLLIN, 0}};
  while (true) {
    fds[0].revents = fds[1].revents = 0;
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    // The interface went away (deleted under us): nothing more will come.
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
    // Drain what is queued; EAGAIN ends the batch.
    while (true) {
      const ssize_t got = read(tap_.get(), buffer.data(), buffer.size());
      if (got <= 0) break;
      receive_(std::span<const std::byte>(buffer.data(), static_cast<size_t>(got)));
    }
  }
}

}  // namespace loader::net
