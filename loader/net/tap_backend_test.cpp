// TapBackend on a real tap, where this process may make one: a fresh,
// non-persistent interface (gone when the backend closes it), brought up,
// with a packet socket on it standing for the host's side of the wire.
// Skipped without /dev/net/tun or CAP_NET_ADMIN.
#include "net/tap_backend.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

// IEEE 802 local experimental EtherType: no host stack answers it, and the
// interface's own IPv6 chatter is told apart by it.
constexpr uint16_t kTestEtherType = 0x88b5;

std::vector<std::byte> TestFrame(uint8_t tag) {
  std::vector<std::byte> frame(60, std::byte{tag});
  const uint8_t header[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x15,
                              0x5d, 0x00, 0x00, tag,  kTestEtherType >> 8, kTestEtherType & 0xff};
  for (size_t i = 0; i < sizeof header; ++i) frame[i] = std::byte{header[i]};
  return frame;
}

bool SetUp(const std::string& name) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  close(fd);
  return ok;
}

}  // namespace

TEST_CASE("nic tap: frames cross a fresh tap both ways") {
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    MESSAGE("skipped: no /dev/net/tun");
    return;
  }
  const std::string name = "hcltst" + std::to_string(getpid() % 100000);
  auto spec = loader::net::ParseNicSpec("tap=" + name);
  REQUIRE(spec.ok());
  auto created = loader::net::TapBackend::Create(*spec);
  if (!created.ok()) {
    MESSAGE("skipped: " << created.error().message());
    return;
  }
  auto backend = std::move(*created);
  CHECK(backend->interface_name() == name);
  REQUIRE(SetUp(name));
  const int packet = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
  REQUIRE(packet >= 0);
  sockaddr_ll link{};
  link.sll_family = AF_PACKET;
  link.sll_protocol = htons(kTestEtherType);
  link.sll_ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  REQUIRE(link.sll_ifindex > 0);
  REQUIRE(bind(packet, reinterpret_cast<sockaddr*>(&link), sizeof link) == 0);

  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::vector<std::byte>> received;
  REQUIRE(backend
              ->Start([&](std::span<const std::byte> frame) {
                std::lock_guard lock(mutex);
                received.emplace_back(frame.begin(), frame.end());
                arrived.notify_all();
              })
              .ok());

  // Guest -> host: what the backend writes, the host's interface receives.
  const std::vector<std::byte> out = TestFrame(1);
  backend->Transmit(out);
  pollfd ready{packet, POLLIN, 0};
  REQUIRE(poll(&ready, 1, 2000) == 1);
  std::vector<std::byte> got(2048);
  const ssize_t size = recv(packet, got.data(), got.size(), 0);
  REQUIRE(size == static_cast<ssize_t>(out.size()));
  got.resize(static_cast<size_t>(size));
  CHECK(got == out);
  CHECK(backend->transmit_drops() == 0);

  // Host -> guest: a frame the host sends on the interface reaches Receive.
  const std::vector<std::byte> in = TestFrame(2);
  REQUIRE(send(packet, in.data(), in.size(), 0) == static_cast<ssize_t>(in.size()));
  std::unique_lock lock(mutex);
  const bool seen = arrived.wait_for(lock, std::chrono::seconds(2), [&] {
    for (const auto& frame : received)
      if (frame == in) return true;
    return false;
  });
  lock.unlock();
  CHECK(seen);
  close(packet);
  backend.reset();
  // Non-persistent: closing the last fd removed the interface.
  CHECK(if_nametoindex(name.c_str()) == 0);
}

TEST_CASE("nic tap: an interface that is not a tap is refused in one line") {
  if (access("/dev/net/tun", R_OK | W_OK) != 0) return;
  // "lo" exists and is no tun/tap device.
  auto spec = loader::net::ParseNicSpec("tap=lo");
  REQUIRE(spec.ok());
  auto backend = loader::net::CreateBackend(*spec);
  REQUIRE_FALSE(backend.ok());
  CHECK(backend.error().message().starts_with("nic tap=lo: "));
  CHECK(backend.error().message().find('\n') == std::string::npos);
}
