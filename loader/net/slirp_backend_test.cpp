// SlirpBackend against the real libslirp: frames a guest would send, and
// what slirp answers (DHCP, ARP), and a host connection to a forwarded
// port arriving as the SYN a guest would see. No VM: the test plays the
// guest's NIC.
#include "net/slirp_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using Frame = std::vector<uint8_t>;
using loader::net::NicSpec;
using loader::net::SlirpBackend;

constexpr uint8_t kGuestMac[6] = {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;
constexpr auto kWait = std::chrono::seconds(3);

void Put16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
void Put32(Frame& f, uint32_t v) {
  Put16(f, static_cast<uint16_t>(v >> 16));
  Put16(f, static_cast<uint16_t>(v));
}
uint16_t Get16(const Frame& f, size_t at) {
  return static_cast<uint16_t>(f.at(at) << 8 | f.at(at + 1));
}
uint32_t Get32(const Frame& f, size_t at) {
  return uint32_t{Get16(f, at)} << 16 | Get16(f, at + 2);
}

void PutEthernet(Frame& f, const uint8_t (&destination)[6], uint16_t type) {
  f.insert(f.end(), destination, destination + 6);
  f.insert(f.end(), kGuestMac, kGuestMac + 6);
  Put16(f, type);
}

// RFC 791 header (no options) with its checksum, which slirp checks.
void PutIpv4(Frame& f, uint8_t protocol, uint32_t source, uint32_t destination,
             size_t payload_bytes) {
  const size_t start = f.size();
  f.push_back(0x45);
  f.push_back(0);
  Put16(f, static_cast<uint16_t>(20 + payload_bytes));
  Put32(f, 0);  // identification, flags, fragment offset
  f.push_back(64);
  f.push_back(protocol);
  Put16(f, 0);
  Put32(f, source);
  Put32(f, destination);
  uint32_t sum = 0;
  for (size_t i = start; i < start + 20; i += 2) sum += Get16(f, i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t checksum = static_cast<uint16_t>(~sum);
  f[start + 10] = static_cast<uint8_t>(checksum >> 8);
  f[start + 11] = static_cast<uint8_t>(checksum);
}

// RFC 2131 DHCPDISCOVER, broadcast, from kGuestMac: a full 548-byte BOOTP
// message (slirp's bootp_input wants one), UDP checksum 0 (none).
Frame DhcpDiscover() {
  constexpr size_t kBootpBytes = 236 + 312;
  constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Frame f;
  PutEthernet(f, kBroadcast, kEtherIpv4);
  PutIpv4(f, 17, 0, 0xffffffff, 8 + kBootpBytes);
  Put16(f, 68);
  Put16(f, 67);
  Put16(f, 8 + kBootpBytes);
  Put16(f, 0);
  const size_t bootp = f.size();
  f.resize(bootp + kBootpBytes, 0);
  f[bootp] = 1;      // BOOTREQUEST
  f[bootp + 1] = 1;  // Ethernet
  f[bootp + 2] = 6;
  f[bootp + 4] = 0x12;  // xid
  f[bootp + 10] = 0x80;  // broadcast flag
  std::copy(kGuestMac, kGuestMac + 6, f.begin() + static_cast<ptrdiff_t>(bootp + 28));
  const uint8_t options[] = {99, 130, 83, 99, 53, 1, 1, 255};  // cookie, DHCPDISCOVER, end
  std::copy(options, options + sizeof options, f.begin() + static_cast<ptrdiff_t>(bootp + 236));
  return f;
}

// RFC 826 request from 10.0.2.15 for `target`.
Frame ArpRequest(uint32_t target) {
  constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Frame f;
  PutEthernet(f, kBroadcast, kEtherArp);
  Put16(f, 1);
  Put16(f, kEtherIpv4);
  f.push_back(6);
  f.push_back(4);
  Put16(f, 1);  // request
  f.insert(f.end(), kGuestMac, kGuestMac + 6);
  Put32(f, loader::net::kUserGuest);
  f.insert(f.end(), 6, 0);
  Put32(f, target);
  return f;
}

// The frames the backend hands to the guest, as they arrive.
class Guest {
 public:
  loader::net::Backend::Receive Receiver() {
    return [this](std::span<const std::byte> frame) {
      Frame copy;
      for (std::byte b : frame) copy.push_back(std::to_integer<uint8_t>(b));
      std::lock_guard lock(mutex_);
      frames_.push_back(std::move(copy));
      arrived_.notify_all();
    };
  }
  // The first frame so far or within kWait that `matches`.
  std::optional<Frame> WaitFor(const std::function<bool(const Frame&)>& matches) {
    std::unique_lock lock(mutex_);
    std::optional<Frame> found;
    arrived_.wait_for(lock, kWait, [&] {
      for (const Frame& f : frames_)
        if (matches(f)) {
          found = f;
          return true;
        }
      return false;
    });
    return found;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<Frame> frames_;  // guarded by mutex_
};

void Send(SlirpBackend& backend, const Frame& frame) {
  std::vector<std::byte> bytes;
  for (uint8_t b : frame) bytes.push_back(std::byte{b});
  backend.Transmit(bytes);
}

bool IsIpv4(const Frame& f, uint8_t protocol) {
  return f.size() >= 34 && Get16(f, 12) == kEtherIpv4 && (f[14] >> 4) == 4 && f[23] == protocol;
}
size_t Ipv4PayloadAt(const Frame& f) { return 14 + size_t{f[14] & 0xfu} * 4; }

// A port nothing listens on now (bound, then closed: slirp takes no port 0).
uint16_t FreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

std::unique_ptr<SlirpBackend> Create(const std::string& spec_text) {
  auto spec = loader::net::ParseNicSpec(spec_text);
  REQUIRE(spec.ok());
  auto backend = SlirpBackend::Create(*spec);
  REQUIRE_MESSAGE(backend.ok(), backend.error().message());
  return std::move(*backend);
}

}  // namespace

TEST_CASE("nic slirp: DHCPDISCOVER gets an offer of 10.0.2.15 with router 10.0.2.2") {
  Guest guest;
  auto backend = Create("user");
  REQUIRE(backend->Start(guest.Receiver()).ok());
  Send(*backend, DhcpDiscover());
  const auto offer = guest.WaitFor([](const Frame& f) {
    if (!IsIpv4(f, 17)) return false;
    const size_t udp = Ipv4PayloadAt(f);
    return f.size() > udp + 8 + 240 && Get16(f, udp) == 67 && Get16(f, udp + 2) == 68;
  });
  REQUIRE(offer.has_value());
  const Frame& f = *offer;
  const size_t bootp = Ipv4PayloadAt(f) + 8;
  CHECK(f[bootp] == 2);  // BOOTREPLY
  CHECK(Get32(f, bootp + 16) == loader::net::kUserGuest);  // yiaddr
  CHECK(std::equal(kGuestMac, kGuestMac + 6, f.begin() + static_cast<ptrdiff_t>(bootp + 28)));
  REQUIRE(Get32(f, bootp + 236) == 0x63825363);  // the magic cookie
  std::optional<uint8_t> message_type;
  std::optional<uint32_t> router;
  for (size_t at = bootp + 240; at + 1 < f.size() && f[at] != 255;) {
    if (f[at] == 0) {
      ++at;
      continue;
    }
    const uint8_t code = f[at];
    const size_t length = f[at + 1];
    REQUIRE(at + 2 + length <= f.size());
    if (code == 53 && length == 1) message_type = f[at + 2];
    if (code == 3 && length >= 4) router = Get32(f, at + 2);
    at += 2 + length;
  }
  CHECK(message_type == uint8_t{2});  // DHCPOFFER
  CHECK(router == loader::net::kUserGateway);
  CHECK(backend->transmit_drops() == 0);
}

TEST_CASE("nic slirp: ARP for the gateway gets slirp's reply") {
  Guest guest;
  auto backend = Create("user");
  REQUIRE(backend->Start(guest.Receiver()).ok());
  Send(*backend, ArpRequest(loader::net::kUserGateway));
  const auto reply = guest.WaitFor([](const Frame& f) {
    return f.size() >= 42 && Get16(f, 12) == kEtherArp && Get16(f, 20) == 2;
  });
  REQUIRE(reply.has_value());
  CHECK(Get32(*reply, 28) == loader::net::kUserGateway);  // sender IP
  CHECK(std::equal(kGuestMac, kGuestMac + 6, reply->begin()));  // to the guest's MAC
  CHECK(std::equal(kGuestMac, kGuestMac + 6, reply->begin() + 32));  // target MAC
  CHECK(Get32(*reply, 38) == loader::net::kUserGuest);
}

TEST_CASE("nic slirp: a host connection to a forwarded port reaches the guest as a SYN") {
  Guest guest;
  const uint16_t port = FreeTcpPort();
  auto backend = Create("user,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:22");
  REQUIRE(backend->Start(guest.Receiver()).ok());
  // slirp learns the guest's MAC from its ARP request; without it slirp
  // would first ARP for 10.0.2.15 itself.
  Send(*backend, ArpRequest(loader::net::kUserGateway));
  REQUIRE(guest.WaitFor([](const Frame& f) { return Get16(f, 12) == kEtherArp; }).has_value());

  const int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  REQUIRE(client >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected = connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address);
  CHECK((connected == 0 || errno == EINPROGRESS));
  const auto syn = guest.WaitFor([](const Frame& f) {
    if (!IsIpv4(f, 6)) return false;
    const size_t tcp = Ipv4PayloadAt(f);
    return f.size() >= tcp + 20 && Get32(f, 30) == loader::net::kUserGuest &&
           Get16(f, tcp + 2) == 22 && (f[tcp + 13] & 0x02) != 0;
  });
  close(client);
  REQUIRE(syn.has_value());
  CHECK(std::equal(kGuestMac, kGuestMac + 6, syn->begin()));
}

TEST_CASE("nic slirp: a forwarded port that cannot be bound is an error naming it") {
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(holder >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  REQUIRE(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(holder, 1) == 0);
  REQUIRE(getsockname(holder, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  auto spec = loader::net::ParseNicSpec("user,hostfwd=tcp:127.0.0.1:" + port + "-:22");
  REQUIRE(spec.ok());
  auto backend = loader::net::CreateBackend(*spec);
  // hcl-loader's check before a carrier relaunch says the same.
  auto free = loader::net::CheckForwardsFree(*spec);
  close(holder);
  REQUIRE_FALSE(backend.ok());
  CHECK(backend.error().message().find("tcp 127.0.0.1:" + port) != std::string::npos);
  REQUIRE_FALSE(free.ok());
  CHECK(free.error().message().find("tcp 127.0.0.1:" + port) != std::string::npos);
  // Free again: the check binds nothing it keeps.
  CHECK(loader::net::CheckForwardsFree(*spec).ok());
  CHECK(loader::net::CheckForwardsFree(*spec).ok());
}

TEST_CASE("nic slirp: a full queue and runt frames are dropped and counted") {
  auto backend = Create("user");
  // Not started: nothing drains the queue.
  const Frame arp = ArpRequest(loader::net::kUserGateway);
  for (size_t i = 0; i < SlirpBackend::kQueueFrames + 3; ++i) Send(*backend, arp);
  CHECK(backend->transmit_drops() == 3);
  Send(*backend, Frame(10, 0));
  CHECK(backend->transmit_drops() == 4);
}
