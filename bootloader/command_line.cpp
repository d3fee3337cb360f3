#include "command_line.h"

namespace shim {
namespace {

constexpr uint64_t kPage = 4096;

enum class ValueKind {
  kFlag,     // NAME alone
  kText,     // NAME=VALUE, VALUE not empty
  kDecimal,  // NAME=DIGITS, 1..10 of them
  kExact,    // NAME=`exact`
  kVtl0Ram,  // NAME=RANGES, each range VTL0's to have (CheckVtl0Range)
};

struct HostOption {
  std::string_view name;
  ValueKind kind;
  std::string_view exact;
};

// What the host may set on VTL2's command line, and why. Anything else the
// host asks for is dropped: the kernel's init=, rdinit=, root=, memmap=,
// mem=, mitigations=, nokaslr, "--" and the like would let the host decide
// what VTL2 runs or how its memory and defences are set up. The image's
// measured line comes after these, so it wins wherever both set a name.
// README.md, "Host inputs on the non-isolated platform", keeps this list.
constexpr HostOption kHostOptions[] = {
    // Where VTL2's kernel logs. Every console is a host device already, so
    // naming one shows the host nothing new; the measured console=ttyS0
    // comes later and stays /dev/console.
    {"console", ValueKind::kText, {}},
    // How much VTL2's kernel logs.
    {"loglevel", ValueKind::kDecimal, {}},
    {"quiet", ValueKind::kFlag, {}},
    // The TSC frequency, which VTL2 cannot calibrate in a nested guest
    // (loader/main.cpp says why). A wrong value skews VTL2's clock: a
    // matter of availability, which the host controls anyway.
    {"tsc_early_khz", ValueKind::kDecimal, {}},
    // hcl powers the VM off once ready (tests, boot timing); the host can
    // power the VM off whenever it likes.
    {"hcl.poweroff", ValueKind::kExact, "ready"},
    // hcl prints each VTL0 intercept (diagnostics). That shows the host
    // VTL0's device traffic: harmless while the host sees VTL0 anyway
    // (VSM), to be dropped from this list for SNP/TDX.
    {"hcl.trace", ValueKind::kExact, "intercepts"},
    // A synthetic NIC for VTL0 with no back end yet (tests of its protocol):
    // frames VTL0 sends go nowhere, which the host could do anyway.
    {"hcl.netvsp", ValueKind::kExact, "unbacked"},
    // VTL0's RAM, which only the host knows on VSM. Each range must be
    // normal memory in the memory map and clear of every VTL2 range, or the
    // option is dropped (and hcl runs no VTL0).
    {"hcl.vtl0_ram", ValueKind::kVtl0Ram, {}},
    // VTL0 pages hcl takes away from VTL0 before it starts (tests): it can
    // only take access away from VTL0; hcl checks the list.
    {"hcl.vtl0_deny", ValueKind::kText, {}},
};

bool Same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

const HostOption* FindHostOption(std::string_view name) {
  for (const HostOption& option : kHostOptions)
    if (Same(option.name, name)) return &option;
  return nullptr;
}

bool IsDecimal(std::string_view text) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A hex number at text[at...] with an optional 0x, 1..16 digits; `at` moves
// past it. hcl's ParseRanges (std::from_chars, base 16, after an optional
// 0x) reads the same value from the same digits.
bool ParseHex(std::string_view text, size_t& at, uint64_t& value) {
  if (text.size() - at >= 2 && text[at] == '0' && (text[at + 1] == 'x' || text[at + 1] == 'X'))
    at += 2;
  value = 0;
  size_t digits = 0;
  for (; at < text.size() && HexDigit(text[at]) >= 0; ++at, ++digits) {
    if (digits == 16) return false;
    value = value << 4 | static_cast<uint64_t>(HexDigit(text[at]));
  }
  return digits > 0;
}

bool Vtl0RamAcceptable(std::string_view value, std::span<const MemoryRange> memory_map,
                       DropReason& reason) {
  Vtl0Range ranges[kMaxVtl0RamRanges];
  auto count = ParseVtl0Ranges(value, ranges);
  if (!count.ok()) {
    reason = DropReason::kBadValue;
    return false;
  }
  for (size_t i = 0; i < count.value(); ++i)
    if (!CheckVtl0Range(ranges[i], memory_map, reason)) return false;
  return true;
}

// Whether the host may pass `word` (already copied out of the host's page).
bool HostWordAcceptable(std::string_view word, std::span<const MemoryRange> memory_map,
                        DropReason& reason) {
  size_t equals = word.size();
  for (size_t i = 0; i < word.size(); ++i) {
    // Linux's next_arg() lets a '"' group blanks, and an unclosed one
    // would swallow the measured line that follows.
    if (word[i] == '"') {
      reason = DropReason::kQuoted;
      return false;
    }
    if (word[i] <= ' ' || word[i] > '~') {  // the page changed since ParseCommandLine
      reason = DropReason::kBadValue;
      return false;
    }
    if (word[i] == '=' && equals == word.size()) equals = i;
  }
  // (No substr: it may throw, which freestanding code cannot link.)
  const HostOption* option = FindHostOption(std::string_view(word.data(), equals));
  if (option == nullptr) {
    reason = DropReason::kNotAllowed;
    return false;
  }
  const bool has_value = equals < word.size();
  const std::string_view value =
      has_value ? std::string_view(word.data() + equals + 1, word.size() - equals - 1)
                : std::string_view();
  reason = DropReason::kBadValue;
  switch (option->kind) {
    case ValueKind::kFlag:
      return !has_value;
    case ValueKind::kText:
      return has_value && !value.empty();
    case ValueKind::kDecimal:
      return has_value && IsDecimal(value);
    case ValueKind::kExact:
      return has_value && Same(value, option->exact);
    case ValueKind::kVtl0Ram:
      return has_value && Vtl0RamAcceptable(value, memory_map, reason);
  }
  return false;
}

}  // namespace

const char* DropReasonText(DropReason reason) {
  switch (reason) {
    case DropReason::kNotAllowed:
      return "not allow-listed";
    case DropReason::kQuoted:
      return "quoted";
    case DropReason::kBadValue:
      return "value not accepted";
    case DropReason::kOverlapsVtl2:
      return "a range overlaps VTL2 memory";
    case DropReason::kNotRam:
      return "a range is not RAM in the memory map";
    case DropReason::kNoRoom:
      return "no room before the measured command line";
  }
  return "?";
}

Expected<size_t> ParseVtl0Ranges(std::string_view text, std::span<Vtl0Range> out) {
  const size_t capacity = out.size() < kMaxVtl0RamRanges ? out.size() : kMaxVtl0RamRanges;
  size_t count = 0;
  size_t at = 0;
  for (;;) {
    Vtl0Range range;
    if (!ParseHex(text, at, range.start) || at == text.size() || text[at] != '-')
      return Status::Fail("hcl.vtl0_ram: a range that is not START-END in hex");
    ++at;
    if (!ParseHex(text, at, range.end))
      return Status::Fail("hcl.vtl0_ram: a range that is not START-END in hex");
    if (range.end <= range.start || range.start % kPage != 0 || range.end % kPage != 0)
      return Status::Fail("hcl.vtl0_ram: an empty or unaligned range");
    if (count > 0 && range.start < out[count - 1].end)
      return Status::Fail("hcl.vtl0_ram: ranges not sorted and disjoint");
    if (count == capacity) return Status::Fail("hcl.vtl0_ram: too many ranges");
    out[count++] = range;
    if (at == text.size()) return count;
    if (text[at] != ',') return Status::Fail("hcl.vtl0_ram: a range that is not START-END in hex");
    ++at;
  }
}

bool CheckVtl0Range(const Vtl0Range& range, std::span<const MemoryRange> memory_map,
                    DropReason& reason) {
  for (const MemoryRange& entry : memory_map) {
    if (entry.type == kMemoryVtl2Protectable && range.start < entry.base + entry.size &&
        entry.base < range.end) {
      reason = DropReason::kOverlapsVtl2;
      return false;
    }
  }
  // The map is sorted and its entries do not overlap (ParseMemoryMap), so
  // one pass finds the normal-memory entries that cover the range in turn.
  uint64_t covered_to = range.start;
  for (const MemoryRange& entry : memory_map) {
    if (entry.type != kMemoryNormal) continue;
    if (entry.base <= covered_to && covered_to < entry.base + entry.size)
      covered_to = entry.base + entry.size;
    if (covered_to >= range.end) return true;
  }
  reason = DropReason::kNotRam;
  return false;
}

Expected<MergeResult> MergeCommandLine(const MergeInputs& inputs, std::span<char> out,
                                       std::span<DroppedOption> dropped_out) {
  if (out.empty()) return Status::Fail("command line: no room");
  const size_t limit = inputs.max_length < out.size() - 1 ? inputs.max_length : out.size() - 1;
  if (inputs.measured.size() > limit)
    return Status::Fail("command line: the measured one is longer than the kernel takes");
  // Each kept host word goes out as "WORD ", ahead of the measured line.
  const size_t host_budget = limit - inputs.measured.size();
  MergeResult result;
  auto drop = [&](auto word, DropReason reason) {  // the record is for the log only
    if (result.dropped < dropped_out.size()) {
      DroppedOption& record = dropped_out[result.dropped];
      record.reason = reason;
      record.text_length = word.size() < DroppedOption::kTextBytes ? word.size()
                                                                   : DroppedOption::kTextBytes;
      for (size_t k = 0; k < record.text_length; ++k) {
        const auto c = static_cast<char>(word[k]);
        record.text[k] = c >= ' ' && c <= '~' ? c : '?';
      }
    }
    ++result.dropped;
  };

  const std::span<const std::byte> host = inputs.host;
  size_t at = 0;
  while (at < host.size()) {
    if (host[at] == std::byte{' '}) {
      ++at;
      continue;
    }
    size_t end = at;
    while (end < host.size() && host[end] != std::byte{' '}) ++end;
    const size_t word_bytes = end - at;
    const size_t placed = result.length;  // <= host_budget
    if (word_bytes + 1 > host_budget - placed) {
      drop(host.subspan(at, word_bytes), DropReason::kNoRoom);
      at = end;
      continue;
    }
    // Copy first, then judge the copy: the host's page may change under us.
    for (size_t k = 0; k < word_bytes; ++k) out[placed + k] = static_cast<char>(host[at + k]);
    const std::string_view word(out.data() + placed, word_bytes);
    DropReason reason = DropReason::kNotAllowed;
    if (HostWordAcceptable(word, inputs.memory_map, reason)) {
      out[placed + word_bytes] = ' ';
      result.length = placed + word_bytes + 1;
    } else {
      drop(word, reason);
    }
    at = end;
  }

  for (size_t k = 0; k < inputs.measured.size(); ++k)
    out[result.length++] = static_cast<char>(inputs.measured[k]);
  out[result.length] = '\0';
  return result;
}

}  // namespace shim
