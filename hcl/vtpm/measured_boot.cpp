#include "vtpm/measured_boot.h"

#include <algorithm>
#include <array>
#include <vector>

#include "attest/vtl0_boot_locator.h"
#include "tpm/commands.h"
#include "tpm/platform.h"

namespace hcl::vtpm {
namespace {

// The allocated banks this code can hash (SHA-1/256/384/512), in the TPM's
// order; an Error if none.
base::Result<std::vector<attest::HashAlg>> HashableBanks(Vtpm& tpm) {
  const std::vector<uint16_t> allocated =
      TRY(::tpm::ParsePcrAllocation(tpm.Execute(::tpm::GetPcrAllocationCommand())));
  std::vector<attest::HashAlg> banks;
  for (uint16_t alg : allocated) {
    const auto hash_alg = static_cast<attest::HashAlg>(alg);
    if (attest::DigestBytes(hash_alg) != 0) banks.push_back(hash_alg);
  }
  if (banks.empty()) return base::Error("vtpm: no PCR bank this paravisor can hash");
  return banks;
}

base::Result<void> ExtendEvent(Vtpm& tpm, const attest::BootEvent& event,
                               std::span<const attest::HashAlg> banks) {
  std::vector<::tpm::TaggedDigest> digests;
  for (size_t b = 0; b < banks.size(); ++b)
    digests.push_back({static_cast<uint16_t>(banks[b]), event.digests[b]});
  return tpm.Extend(event.pcr, digests);
}

}  // namespace

base::Result<MeasuredBoot> MeasureVtl0Boot(Vtpm& tpm, Vtl0Memory& memory, uint64_t zero_page_gpa,
                                           uint64_t entry_rip, const attest::HashFn& hash) {
  std::vector<std::byte> zero_page(attest::kZeroPageBytes);
  TRY(memory.Read(mem::Gpa{zero_page_gpa}, zero_page));
  const attest::Vtl0BootLocation where = TRY(attest::LocateVtl0Boot(zero_page, entry_rip));
  const auto kernel = TRY(memory.ViewBeforeVtl0Runs(mem::Gpa{where.kernel_gpa}, where.kernel_bytes));
  std::span<const std::byte> initrd;
  if (where.initrd_bytes != 0)
    initrd = TRY(memory.ViewBeforeVtl0Runs(mem::Gpa{where.initrd_gpa}, where.initrd_bytes));
  // The command line: up to its NUL, which must come within cmdline_size.
  std::vector<std::byte> cmdline_bytes(where.cmdline_max_bytes + 1);
  for (size_t at = 0; at < cmdline_bytes.size(); at += 256) {
    const size_t chunk = std::min<size_t>(256, cmdline_bytes.size() - at);
    TRY(memory.Read(mem::Gpa{where.cmdline_gpa + at}, std::span(cmdline_bytes).subspan(at, chunk)));
    if (std::find(cmdline_bytes.begin() + static_cast<std::ptrdiff_t>(at),
                  cmdline_bytes.begin() + static_cast<std::ptrdiff_t>(at + chunk),
                  std::byte{0}) != cmdline_bytes.begin() + static_cast<std::ptrdiff_t>(at + chunk))
      break;
  }
  const auto nul = std::find(cmdline_bytes.begin(), cmdline_bytes.end(), std::byte{0});
  if (nul == cmdline_bytes.end()) return base::Error("the command line has no NUL within cmdline_size");
  MeasuredBoot measured;
  for (auto it = cmdline_bytes.begin(); it != nul; ++it)
    measured.cmdline.push_back(static_cast<char>(*it));

  measured.banks = TRY(HashableBanks(tpm));
  const std::vector<attest::BootEvent> events = TRY(attest::MeasureVtl0Boot(
      attest::Vtl0Boot{kernel, initrd, measured.cmdline}, measured.banks, hash));
  const std::vector<std::byte> log = attest::SerializeEventLog(events, measured.banks);
  // Linux emits an event only if it ends strictly before the area's end.
  if (log.size() >= ::tpm::kEventLogBytes) return base::Error("vtpm: event log larger than its area");
  for (const attest::BootEvent& event : events) TRY(ExtendEvent(tpm, event, measured.banks));
  std::vector<std::byte> area(::tpm::kEventLogBytes);
  std::copy(log.begin(), log.end(), area.begin());
  TRY(memory.Write(mem::Gpa{::tpm::kEventLogGpa}, area));
  measured.kernel_bytes = where.kernel_bytes;
  measured.initrd_bytes = where.initrd_bytes;
  measured.event_log_bytes = log.size();
  return measured;
}

base::Result<void> CapBootPcrs(Vtpm& tpm, const attest::HashFn& hash) {
  const std::vector<attest::HashAlg> banks = TRY(HashableBanks(tpm));
  const std::array<std::byte, 4> error_separator{std::byte{1}, {}, {}, {}};
  attest::BootEvent event;
  for (attest::HashAlg alg : banks) event.digests.push_back(hash(alg, error_separator));
  for (uint32_t pcr = 0; pcr <= 9; ++pcr) {
    event.pcr = pcr;
    TRY(ExtendEvent(tpm, event, banks));
  }
  return base::Ok();
}

}  // namespace hcl::vtpm
