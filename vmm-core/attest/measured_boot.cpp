#include "attest/measured_boot.h"

#include <algorithm>
#include <string>

#include "base/le_bytes.h"

namespace attest {
namespace {

std::vector<std::byte> Text(std::string_view text) {
  std::vector<std::byte> bytes;
  for (char c : text) bytes.push_back(static_cast<std::byte>(c));
  bytes.push_back(std::byte{0});
  return bytes;
}

BootEvent Event(uint32_t pcr, uint32_t type, std::vector<std::byte> data,
                std::span<const std::byte> measured, std::span<const HashAlg> banks,
                const HashFn& hash) {
  BootEvent event{pcr, type, {}, std::move(data)};
  for (HashAlg alg : banks) event.digests.push_back(hash(alg, measured));
  return event;
}

void Put32(std::vector<std::byte>& out, uint32_t value) {
  const size_t at = out.size();
  out.resize(at + 4);
  (void)base::StoreLe<uint32_t>(out, at, value);
}
void Put16(std::vector<std::byte>& out, uint16_t value) {
  const size_t at = out.size();
  out.resize(at + 2);
  (void)base::StoreLe<uint16_t>(out, at, value);
}
void PutBytes(std::vector<std::byte>& out, std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) out.push_back(std::byte{b});
}

}  // namespace

size_t DigestBytes(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return 20;
    case HashAlg::kSha256: return 32;
    case HashAlg::kSha384: return 48;
    case HashAlg::kSha512: return 64;
  }
  return 0;
}

std::string_view HashName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return "sha1";
    case HashAlg::kSha256: return "sha256";
    case HashAlg::kSha384: return "sha384";
    case HashAlg::kSha512: return "sha512";
  }
  return "?";
}

std::optional<HashAlg> HashAlgFromName(std::string_view name) {
  for (HashAlg alg : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512})
    if (HashName(alg) == name) return alg;
  return std::nullopt;
}

base::Result<std::vector<BootEvent>> MeasureVtl0Boot(const Vtl0Boot& boot,
                                                     std::span<const HashAlg> banks,
                                                     const HashFn& hash) {
  if (banks.empty() || banks.size() > 4) return base::Error("want 1-4 PCR banks");
  for (size_t i = 0; i < banks.size(); ++i)
    if (std::find(banks.begin(), banks.begin() + static_cast<std::ptrdiff_t>(i), banks[i]) !=
        banks.begin() + static_cast<std::ptrdiff_t>(i))
      return base::Error("a PCR bank is listed twice");
  if (boot.kernel.empty()) return base::Error("no kernel to measure");
  if (boot.cmdline.find('\0') != std::string_view::npos)
    return base::Error("the command line holds a NUL");
  std::vector<BootEvent> events;
  const std::array<std::byte, 4> separator{};
  for (uint32_t pcr = 0; pcr <= 7; ++pcr)
    events.push_back(Event(pcr, kEvSeparator, {separator.begin(), separator.end()}, separator,
                           banks, hash));
  events.push_back(Event(9, kEvIpl, Text("vtl0 kernel"), boot.kernel, banks, hash));
  if (!boot.initrd.empty())
    events.push_back(Event(9, kEvIpl, Text("vtl0 initrd"), boot.initrd, banks, hash));
  const auto cmdline = std::as_bytes(std::span(boot.cmdline.data(), boot.cmdline.size()));
  events.push_back(Event(8, kEvIpl, Text("kernel_cmdline: " + std::string(boot.cmdline)), cmdline,
                         banks, hash));
  return events;
}

std::vector<PcrBank> ReplayPcrs(std::span<const BootEvent> events, std::span<const HashAlg> banks,
                                const HashFn& hash) {
  std::vector<PcrBank> out;
  for (size_t b = 0; b < banks.size(); ++b) {
    PcrBank bank{banks[b], {}};
    for (auto& pcr : bank.pcrs) pcr.assign(DigestBytes(banks[b]), 0);
    for (const BootEvent& event : events) {
      if (event.type == kEvNoAction || event.pcr >= kPcrCount || b >= event.digests.size()) continue;
      std::vector<std::byte> joined;
      for (uint8_t x : bank.pcrs[event.pcr]) joined.push_back(std::byte{x});
      for (uint8_t x : event.digests[b]) joined.push_back(std::byte{x});
      bank.pcrs[event.pcr] = hash(banks[b], joined);
    }
    out.push_back(std::move(bank));
  }
  return out;
}

std::vector<std::byte> SerializeEventLog(std::span<const BootEvent> events,
                                         std::span<const HashAlg> banks) {
  std::vector<std::byte> log;
  // TCG_PCR_EVENT header: PCR 0, EV_NO_ACTION, a zero SHA-1-sized digest.
  Put32(log, 0);
  Put32(log, kEvNoAction);
  log.resize(log.size() + 20);
  // TCG_EfiSpecIDEvent: "Spec ID Event03\0", platform class 0 (client),
  // spec 2.0 errata 0, uintnSize 2 (64-bit), the banks, no vendor info.
  std::vector<std::byte> spec;
  for (char c : std::string_view("Spec ID Event03")) spec.push_back(static_cast<std::byte>(c));
  spec.push_back(std::byte{0});
  Put32(spec, 0);
  spec.push_back(std::byte{0});  // specVersionMinor
  spec.push_back(std::byte{2});  // specVersionMajor
  spec.push_back(std::byte{0});  // specErrata
  spec.push_back(std::byte{2});  // uintnSize
  Put32(spec, static_cast<uint32_t>(banks.size()));
  for (HashAlg alg : banks) {
    Put16(spec, static_cast<uint16_t>(alg));
    Put16(spec, static_cast<uint16_t>(DigestBytes(alg)));
  }
  spec.push_back(std::byte{0});  // vendorInfoSize
  Put32(log, static_cast<uint32_t>(spec.size()));
  log.insert(log.end(), spec.begin(), spec.end());
  // TCG_PCR_EVENT2 records.
  for (const BootEvent& event : events) {
    Put32(log, event.pcr);
    Put32(log, event.type);
    Put32(log, static_cast<uint32_t>(banks.size()));
    for (size_t b = 0; b < banks.size(); ++b) {
      Put16(log, static_cast<uint16_t>(banks[b]));
      if (b < event.digests.size()) PutBytes(log, event.digests[b]);
      else log.resize(log.size() + DigestBytes(banks[b]));
    }
    Put32(log, static_cast<uint32_t>(event.data.size()));
    log.insert(log.end(), event.data.begin(), event.data.end());
  }
  return log;
}

}  // namespace attest
