#include "parameter_areas.h"

#include "base/le_bytes_result.h"

namespace loader {

using igvm::wire::MemoryMapEntry;

base::Result<void> WriteVpCount(std::span<std::byte> out, uint32_t vp_count) {
  if (vp_count == 0) return base::Error("VP count must be at least 1");
  return base::StoreLeOrError<uint32_t>(out, 0, vp_count);
}

base::Result<void> WriteEnvironmentInfo(std::span<std::byte> out, uint32_t flags) {
  return base::StoreLeOrError<uint32_t>(out, 0, flags);
}

base::Result<void> WriteMemoryMap(std::span<std::byte> out,
                                  std::span<const MemoryMapEntry> entries) {
  constexpr size_t kEntryBytes = sizeof(MemoryMapEntry);
  uint64_t next_free_page = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const MemoryMapEntry& entry = entries[i];
    if (entry.number_of_pages == 0)
      return base::Error::Format("memory map entry %zu is empty (only the terminator may be)", i);
    const auto end = base::CheckedAdd(entry.starting_gpa_page_number, entry.number_of_pages);
    if (!end) return base::Error::Format("memory map entry %zu wraps", i);
    if (entry.starting_gpa_page_number < next_free_page)
      return base::Error::Format("memory map entry %zu is out of order or overlaps", i);
    next_free_page = *end;
  }
  const auto total = base::CheckedMul<size_t>(entries.size() + 1, kEntryBytes);
  if (!total || *total > out.size())
    return base::Error::Format("memory map of %zu entries does not fit in %zu bytes",
                               entries.size(), out.size());
  for (size_t i = 0; i <= entries.size(); ++i) {
    const MemoryMapEntry entry = i < entries.size() ? entries[i] : MemoryMapEntry{};
    const size_t at = i * kEntryBytes;
    TRY(base::StoreLeOrError<uint64_t>(out, at + 0, entry.starting_gpa_page_number));
    TRY(base::StoreLeOrError<uint64_t>(out, at + 8, entry.number_of_pages));
    TRY(base::StoreLeOrError<uint16_t>(out, at + 16, entry.entry_type));
    TRY(base::StoreLeOrError<uint16_t>(out, at + 18, entry.flags));
    TRY(base::StoreLeOrError<uint32_t>(out, at + 20, 0));
  }
  return base::Ok();
}

base::Result<void> WriteCommandLine(std::span<std::byte> out, std::string_view command_line) {
  if (command_line.size() >= out.size())
    return base::Error::Format("command line of %zu bytes does not fit in %zu bytes with its NUL",
                               command_line.size(), out.size());
  for (size_t i = 0; i < command_line.size(); ++i) {
    const auto c = static_cast<unsigned char>(command_line[i]);
    if (c < 0x20 || c > 0x7E)
      return base::Error::Format("command line byte %zu (0x%02x) is not printable ASCII", i, c);
    out[i] = static_cast<std::byte>(c);
  }
  out[command_line.size()] = std::byte{0};
  return base::Ok();
}

}  // namespace loader
