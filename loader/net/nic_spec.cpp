// ParseNicSpec / FormatNicSpec (backend.h): QEMU's -nic syntax, reduced to
// what the back ends here implement. The text comes from the command line:
// every malformed form is refused with one line naming the part at fault.
#include "net/backend.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "base/string_printf.h"

namespace loader::net {
namespace {

enum class Occurrence { kFirst, kLast };

// Splits at one `separator`; nullopt when there is none.
std::optional<std::pair<std::string_view, std::string_view>> SplitAt(
    std::string_view text, char separator, Occurrence which = Occurrence::kFirst) {
  const size_t at = which == Occurrence::kLast ? text.rfind(separator) : text.find(separator);
  if (at == std::string_view::npos) return std::nullopt;
  return std::pair{text.substr(0, at), text.substr(at + 1)};
}

base::Result<uint16_t> ParsePort(std::string_view text, const char* which) {
  const std::string shown(text);
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // from_chars takes no sign or space, but an empty string, trailing
  // junk and overflow must be refused here.
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return base::Error::Format("%s port '%s' is not a number", which, shown.c_str());
  if (value == 0 || value > 65535)
    return base::Error::Format("%s port %s is not in 1-65535", which, shown.c_str());
  return static_cast<uint16_t>(value);
}

// Empty, or a dotted-quad IPv4 address (inet_pton: exactly four decimal
// parts, as QEMU's hostfwd takes; no host names).
base::Result<std::string> ParseAddress(std::string_view text, const char* which,
                                       uint32_t* host_order) {
  if (text.empty()) return std::string();
  const std::string copy(text);
  in_addr address{};
  if (inet_pton(AF_INET, copy.c_str(), &address) != 1)
    return base::Error::Format("%s address '%s' is not an IPv4 address", which, copy.c_str());
  *host_order = ntohl(address.s_addr);
  return copy;
}

// [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
base::Result<HostForward> ParseHostForward(std::string_view text) {
  HostForward forward;
  const auto protocol = SplitAt(text, ':');
  if (!protocol) return base::Error("want [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT");
  if (protocol->first == "udp") {
    forward.udp = true;
  } else if (protocol->first != "tcp" && !protocol->first.empty()) {
    return base::Error::Format("protocol '%s' is neither tcp nor udp",
                               std::string(protocol->first).c_str());
  }
  const auto sides = SplitAt(protocol->second, '-');
  if (!sides) return base::Error("no '-' between the host side and the guest side");
  const auto host = SplitAt(sides->first, ':', Occurrence::kLast);
  if (!host) return base::Error("the host side wants [HOSTADDR]:HOSTPORT");
  const auto guest = SplitAt(sides->second, ':', Occurrence::kLast);
  if (!guest) return base::Error("the guest side wants [GUESTADDR]:GUESTPORT");
  uint32_t host_address = 0;
  uint32_t guest_address = kUserGuest;
  forward.host_address = TRY(ParseAddress(host->first, "host", &host_address));
  forward.host_port = TRY(ParsePort(host->second, "host"));
  forward.guest_address = TRY(ParseAddress(guest->first, "guest", &guest_address));
  forward.guest_port = TRY(ParsePort(guest->second, "guest"));
  // Only a guest address on the user network can be reached; the network,
  // broadcast, gateway and DNS addresses are slirp's own.
  if ((guest_address & kUserNetmask) != kUserNetwork || guest_address == kUserNetwork ||
      guest_address == (kUserNetwork | ~kUserNetmask) || guest_address == kUserGateway ||
      guest_address == kUserDns)
    return base::Error::Format("guest address %s is not a guest's address in 10.0.2.0/24",
                               forward.guest_address.c_str());
  return forward;
}

// Linux's dev_valid_name: 1 to IFNAMSIZ-1 bytes, not "." or "..", no '/',
// ':' or white space; ',' is refused too, as the spec's own separator.
base::Result<void> CheckInterfaceName(std::string_view name) {
  if (name.empty()) return base::Error("tap= wants an interface name");
  const std::string shown(name);
  if (name.size() >= IFNAMSIZ)
    return base::Error::Format("interface name '%s' is longer than %d bytes", shown.c_str(),
                               IFNAMSIZ - 1);
  if (name == "." || name == "..")
    return base::Error::Format("interface name '%s' is not allowed", shown.c_str());
  for (char c : name)
    if (c == '/' || c == ':' || c == ',' || c == '=' || c <= ' ' || c == 0x7f)
      return base::Error::Format("interface name '%s' holds a character Linux or this syntax "
                                 "refuses", shown.c_str());
  return base::Ok();
}

}  // namespace

base::Result<NicSpec> ParseNicSpec(const std::string& text) {
  // Errors quote the user's text; a control character (a newline) would
  // split the one error line, and none belongs in this syntax anyway.
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return base::Error("the value holds a control character");
  NicSpec spec;
  std::string_view rest = text;
  if (rest.starts_with("tap=")) {
    spec.kind = NicSpec::Kind::kTap;
    const std::string_view name = rest.substr(4);
    if (auto checked = CheckInterfaceName(name); !checked)
      return std::move(checked).error().Context("tap=");
    spec.tap_name = std::string(name);
    return spec;
  }
  const auto first = SplitAt(rest, ',');
  const std::string_view kind = first ? first->first : rest;
  if (kind != "user")
    return base::Error::Format("'%s' is neither user[,hostfwd=...] nor tap=IFNAME",
                               std::string(kind).c_str());
  spec.kind = NicSpec::Kind::kUser;
  if (!first) return spec;
  rest = first->second;
  std::set<std::pair<bool, uint16_t>> host_ports;
  while (true) {
    const auto next = SplitAt(rest, ',');
    const std::string_view item = next ? next->first : rest;
    const std::string shown(item);
    if (item.empty()) return base::Error("user: an empty option (two commas, or one at the end)");
    if (!item.starts_with("hostfwd="))
      return base::Error::Format("user: unknown option '%s' (only hostfwd= is supported)",
                                 shown.c_str());
    auto forward = ParseHostForward(item.substr(8));
    if (!forward) return std::move(forward).error().Context(shown);
    // slirp would fail the second bind; say which option repeats the port.
    if (!host_ports.emplace(forward->udp, forward->host_port).second)
      return base::Error::Format("%s: host %s port %u is forwarded twice", shown.c_str(),
                                 forward->udp ? "udp" : "tcp", forward->host_port);
    spec.forwards.push_back(std::move(*forward));
    if (!next) break;
    rest = next->second;
  }
  return spec;
}

std::string FormatNicSpec(const NicSpec& spec) {
  switch (spec.kind) {
    case NicSpec::Kind::kTap:
      return "tap=" + spec.tap_name;
    case NicSpec::Kind::kUser: {
      std::string text = "user";
      for (const HostForward& f : spec.forwards)
        text += base::StringPrintf(",hostfwd=%s:%s:%u-%s:%u", f.udp ? "udp" : "tcp",
                                   f.host_address.c_str(), f.host_port, f.guest_address.c_str(),
                                   f.guest_port);
      return text;
    }
  }
  return "user";
}

}  // namespace loader::net
