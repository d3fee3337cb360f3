#include "vmbus/gpadl.h"

#include <cinttypes>

#include "base/le_bytes.h"
#include "base/page.h"
#include "vmbus/ring_memory.h"
#include "vmbus/ring_wire.h"

namespace vmbus {
namespace {

constexpr size_t kWordBytes = sizeof(uint64_t);
// One range header word and at least one PFN.
constexpr size_t kMinWordsPerRange = 2;

// The whole u64 words of `bytes`; a trailing partial word is malformed
// (Linux sends exactly header + 8 * n bytes).
base::Result<std::vector<uint64_t>> Words(std::span<const std::byte> bytes, const char* what) {
  if (bytes.size() % kWordBytes != 0)
    return base::Error::Format("%s carries %zu range bytes, not whole u64 words", what,
                               bytes.size());
  std::vector<uint64_t> words(bytes.size() / kWordBytes);
  for (size_t i = 0; i < words.size(); ++i) (void)base::LoadLe(bytes, i * kWordBytes, words[i]);
  return words;
}

base::Result<void> CheckMessageType(std::span<const std::byte> message, wire::MessageType type,
                                    size_t fixed_bytes, const char* what) {
  uint32_t message_type = 0;
  if (!base::LoadLe(message, offsetof(wire::MessageHeader, message_type), message_type) ||
      message.size() < fixed_bytes)
    return base::Error::Format("%s of %zu bytes is shorter than its %zu fixed bytes", what,
                               message.size(), fixed_bytes);
  if (message_type != static_cast<uint32_t>(type))
    return base::Error::Format("%s has message type %u", what, message_type);
  return base::Ok();
}

}  // namespace

base::Result<std::vector<uint64_t>> WholePages(const Gpadl& gpadl) {
  if (gpadl.ranges.size() != 1 || gpadl.ranges[0].byte_offset != 0 ||
      gpadl.ranges[0].byte_count % base::kPageSize != 0)
    return base::Error::Format("GPADL %#x is not one range of whole pages", gpadl.id);
  return gpadl.ranges[0].pfns;
}

base::Result<GpadlHeaderMessage> ParseGpadlHeader(std::span<const std::byte> message) {
  // hyperv-vmbus.md §5.1 type 8: child_relid, gpadl, range_buflen u16,
  // rangecount u16, then range words (guest-controlled, all of it).
  TRY(CheckMessageType(message, wire::MessageType::kGpadlHeader, wire::kGpadlHeaderRangesOffset,
                       "GpadlHeader"));
  GpadlHeaderMessage header;
  (void)base::LoadLe(message, wire::kGpadlHeaderChildRelidOffset, header.child_relid);
  (void)base::LoadLe(message, wire::kGpadlHeaderGpadlOffset, header.gpadl_id);
  (void)base::LoadLe(message, wire::kGpadlHeaderRangeBuflenOffset, header.range_buflen);
  (void)base::LoadLe(message, wire::kGpadlHeaderRangeCountOffset, header.range_count);
  header.words = TRY(Words(message.subspan(wire::kGpadlHeaderRangesOffset), "GpadlHeader"));
  return header;
}

base::Result<GpadlBodyMessage> ParseGpadlBody(std::span<const std::byte> message) {
  // hyperv-vmbus.md §5.1 type 9: msgnumber, gpadl, then range words.
  TRY(CheckMessageType(message, wire::MessageType::kGpadlBody, wire::kGpadlBodyWordsOffset,
                       "GpadlBody"));
  GpadlBodyMessage body;
  (void)base::LoadLe(message, wire::kGpadlBodyMessageNumberOffset, body.message_number);
  (void)base::LoadLe(message, wire::kGpadlBodyGpadlOffset, body.gpadl_id);
  body.words = TRY(Words(message.subspan(wire::kGpadlBodyWordsOffset), "GpadlBody"));
  return body;
}

base::Result<GpadlBuilder> GpadlBuilder::Start(GpadlHeaderMessage header) {
  if (header.range_count == 0)
    return base::Error::Format("GPADL %#x announces no ranges", header.gpadl_id);
  if (header.range_buflen % kWordBytes != 0)
    return base::Error::Format("GPADL %#x range_buflen %u is not whole u64 words", header.gpadl_id,
                               header.range_buflen);
  const size_t total_words = header.range_buflen / kWordBytes;
  if (total_words < size_t{header.range_count} * kMinWordsPerRange)
    return base::Error::Format("GPADL %#x range_buflen %u cannot hold %u ranges", header.gpadl_id,
                               header.range_buflen, header.range_count);
  if (total_words - header.range_count > kMaxGpadlPages)
    return base::Error::Format("GPADL %#x would name %zu pages, over the %" PRIu64 " limit",
                               header.gpadl_id, total_words - header.range_count, kMaxGpadlPages);
  if (header.words.size() > total_words)
    return base::Error::Format("GpadlHeader %#x carries %zu words, range_buflen announces %zu",
                               header.gpadl_id, header.words.size(), total_words);
  return GpadlBuilder(header.child_relid, header.gpadl_id, header.range_count, total_words,
                      std::move(header.words));
}

base::Result<void> GpadlBuilder::AddBody(const GpadlBodyMessage& body) {
  if (body.gpadl_id != gpadl_id_)
    return base::Error::Format("GpadlBody for GPADL %#x while building %#x", body.gpadl_id,
                               gpadl_id_);
  if (body.words.empty())
    return base::Error::Format("GpadlBody for GPADL %#x carries no words", gpadl_id_);
  // words_.size() <= total_words_ always holds.
  if (body.words.size() > total_words_ - words_.size())
    return base::Error::Format("GpadlBody for GPADL %#x carries %zu words, %zu remain", gpadl_id_,
                               body.words.size(), total_words_ - words_.size());
  words_.insert(words_.end(), body.words.begin(), body.words.end());
  return base::Ok();
}

base::Result<Gpadl> GpadlBuilder::Finish() const {
  if (!complete())
    return base::Error::Format("GPADL %#x has %zu of %zu words", gpadl_id_, words_.size(),
                               total_words_);
  Gpadl gpadl;
  gpadl.id = gpadl_id_;
  gpadl.ranges.reserve(range_count_);
  size_t at = 0;
  for (uint32_t i = 0; i < range_count_; ++i) {
    if (at == words_.size())
      return base::Error::Format("GPADL %#x ends before range %u", gpadl_id_, i);
    // struct gpa_range {u32 byte_count; u32 byte_offset;} read as one
    // little-endian word: byte_count is the low half.
    const uint64_t range_header = words_[at++];
    GpaRange range;
    range.byte_count = static_cast<uint32_t>(range_header);
    range.byte_offset = static_cast<uint32_t>(range_header >> 32);
    if (range.byte_count == 0)
      return base::Error::Format("GPADL %#x range %u is empty", gpadl_id_, i);
    if (range.byte_offset >= base::kPageSize)
      return base::Error::Format("GPADL %#x range %u starts %u bytes into its first page",
                                 gpadl_id_, i, range.byte_offset);
    const uint64_t pfn_count =
        (uint64_t{range.byte_offset} + range.byte_count + base::kPageSize - 1) / base::kPageSize;
    if (pfn_count > words_.size() - at)
      return base::Error::Format("GPADL %#x range %u needs %" PRIu64 " PFNs, %zu words remain",
                                 gpadl_id_, i, pfn_count, words_.size() - at);
    range.pfns.assign(words_.begin() + static_cast<ptrdiff_t>(at),
                      words_.begin() + static_cast<ptrdiff_t>(at + pfn_count));
    at += static_cast<size_t>(pfn_count);
    for (const uint64_t pfn : range.pfns) {
      if (pfn > kMaxPfn)
        return base::Error::Format("GPADL %#x range %u names page %#" PRIx64, gpadl_id_, i, pfn);
    }
    gpadl.ranges.push_back(std::move(range));
  }
  if (at != words_.size())
    return base::Error::Format("GPADL %#x has %zu words past its %u ranges", gpadl_id_,
                               words_.size() - at, range_count_);
  return gpadl;
}

}  // namespace vmbus
