#include <doctest/doctest.h>

#include <string>

#include "net/backend.h"

namespace {

using loader::net::NicSpec;
using loader::net::ParseNicSpec;

std::string ErrorOf(const std::string& text) {
  auto parsed = ParseNicSpec(text);
  REQUIRE_FALSE(parsed.ok());
  const std::string message = parsed.error().message();
  CHECK(message.find('\n') == std::string::npos);
  return message;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("nic spec: user, with and without forwards") {
  auto plain = ParseNicSpec("user");
  REQUIRE(plain.ok());
  CHECK(plain->kind == NicSpec::Kind::kUser);
  CHECK(plain->forwards.empty());

  auto one = ParseNicSpec("user,hostfwd=tcp:127.0.0.1:5555-:22");
  REQUIRE(one.ok());
  REQUIRE(one->forwards.size() == 1);
  CHECK_FALSE(one->forwards[0].udp);
  CHECK(one->forwards[0].host_address == "127.0.0.1");
  CHECK(one->forwards[0].host_port == 5555);
  CHECK(one->forwards[0].guest_address.empty());
  CHECK(one->forwards[0].guest_port == 22);

  auto several = ParseNicSpec("user,hostfwd=tcp::8080-10.0.2.15:80,hostfwd=udp:0.0.0.0:5353-:53,"
                              "hostfwd=::2222-10.0.2.16:22");
  REQUIRE(several.ok());
  REQUIRE(several->forwards.size() == 3);
  CHECK(several->forwards[0].host_address.empty());
  CHECK(several->forwards[0].guest_address == "10.0.2.15");
  CHECK(several->forwards[0].guest_port == 80);
  CHECK(several->forwards[1].udp);
  CHECK(several->forwards[1].host_port == 5353);
  // QEMU's empty protocol is tcp.
  CHECK_FALSE(several->forwards[2].udp);
  CHECK(several->forwards[2].guest_address == "10.0.2.16");
  CHECK(several->forwards[0].host_port == 8080);
  CHECK(several->forwards[2].host_port == 2222);
}

TEST_CASE("nic spec: tap") {
  auto tap = ParseNicSpec("tap=tap0");
  REQUIRE(tap.ok());
  CHECK(tap->kind == NicSpec::Kind::kTap);
  CHECK(tap->tap_name == "tap0");
  CHECK(ParseNicSpec("tap=" + std::string(15, 'x')).ok());
}

TEST_CASE("nic spec: formats back to text that parses to the same spec") {
  for (const std::string text :
       {"user", "user,hostfwd=tcp:127.0.0.1:5555-:22",
        "user,hostfwd=tcp::8080-10.0.2.15:80,hostfwd=udp:0.0.0.0:5353-:53", "tap=tap0"}) {
    auto parsed = ParseNicSpec(text);
    REQUIRE(parsed.ok());
    CHECK(loader::net::FormatNicSpec(*parsed) == text);
  }
  auto implicit_tcp = ParseNicSpec("user,hostfwd=::1-:2");
  REQUIRE(implicit_tcp.ok());
  CHECK(loader::net::FormatNicSpec(*implicit_tcp) == "user,hostfwd=tcp::1-:2");
}

TEST_CASE("nic spec: every malformed form is one line naming the fault") {
  CHECK(Contains(ErrorOf(""), "neither user"));
  CHECK(Contains(ErrorOf("socket"), "'socket' is neither"));
  CHECK(Contains(ErrorOf("users"), "'users' is neither"));
  CHECK(Contains(ErrorOf("user,"), "empty option"));
  CHECK(Contains(ErrorOf("user,,hostfwd=tcp::1-:2"), "empty option"));
  CHECK(Contains(ErrorOf("user,net=10.1.0.0/24"), "unknown option 'net=10.1.0.0/24'"));
  CHECK(Contains(ErrorOf("user,hostfwd"), "unknown option 'hostfwd'"));
  CHECK(Contains(ErrorOf("user,hostfwd="), "want [tcp|udp]"));
  CHECK(Contains(ErrorOf("user,hostfwd=sctp::1-:2"), "'sctp' is neither tcp nor udp"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::5555:22"), "no '-'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp:5555-:22"), "host side"));
  // QEMU's syntax: an empty protocol still has its colon.
  CHECK(Contains(ErrorOf("user,hostfwd=:5555-:22"), "host side"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::5555-22"), "guest side"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::0-:22"), "host port 0 is not in 1-65535"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::65536-:22"), "host port 65536 is not in 1-65535"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::99999999999-:22"), "host port '99999999999'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::5555-:0"), "guest port 0"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::-:22"), "host port '' is not a number"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::+80-:22"), "host port '+80'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80x-:22"), "host port '80x'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-:22 "), "guest port '22 '"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp:localhost:80-:22"), "host address 'localhost'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp:1.2.3:80-:22"), "host address '1.2.3'"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp:1.2.3.256:80-:22"), "host address"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-::1:22"), "guest address"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-192.168.1.5:22"), "not a guest's address"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-10.0.2.2:22"), "not a guest's address"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-10.0.2.255:22"), "not a guest's address"));
  CHECK(Contains(ErrorOf("user,hostfwd=tcp::80-:22,hostfwd=tcp:127.0.0.1:80-:23"),
                 "host tcp port 80 is forwarded twice"));
  // The same port number over udp is another socket.
  CHECK(ParseNicSpec("user,hostfwd=tcp::80-:22,hostfwd=udp::80-:22").ok());
  CHECK(Contains(ErrorOf("tap="), "wants an interface name"));
  CHECK(Contains(ErrorOf("tap=" + std::string(16, 'x')), "longer than 15 bytes"));
  CHECK(Contains(ErrorOf("tap=a/b"), "refuses"));
  CHECK(Contains(ErrorOf("tap=a b"), "refuses"));
  CHECK(Contains(ErrorOf("tap=tap0,vhost=on"), "refuses"));
  CHECK(Contains(ErrorOf("tap=.."), "not allowed"));
  CHECK(Contains(ErrorOf("tap"), "'tap' is neither"));
}
