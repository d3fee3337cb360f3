// GPADLs (guest physical address descriptor lists) from the channel
// messages that build them (hyperv-vmbus.md §5.1: GpadlHeader, type 8,
// then GpadlBody, type 9, as many as needed).
//
// The header announces range_count ranges taking range_buflen bytes:
// each range {byte_count u32, byte_offset u32, pfn u64[]}, a stream of u64
// words that the header starts and the bodies continue (Linux 6.1
// create_gpadl_header: 26 PFNs in the header, 28 per body; netvsc's 16 MiB
// receive buffer takes about 146 bodies). GpadlBuilder collects the words
// until range_buflen is reached, then checks and splits them into
// GpaRanges. Everything here is guest-controlled and checked: sizes, word
// counts, range shapes, PFNs that would wrap as addresses, and a cap on
// pages per GPADL.
//
// Left to others (the channel server): the GPADL table (ids in use, which
// channel owns one, teardown), GpadlCreated replies, and what the pages
// are used for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"
#include "vmbus/packet.h"

namespace vmbus {

// Pages a single GPADL may name: 64 MiB. Linux's range_buflen is a u16,
// which already limits a GPADL to about 8190 pages (32 MiB).
inline constexpr uint64_t kMaxGpadlPages = 64ull * 1024 * 1024 / 4096;

// A complete GPADL: its id and ranges. Every range has byte_count > 0,
// byte_offset < 4096, exactly ceil((byte_offset + byte_count) / 4096) PFNs,
// each a valid page number (PFN * 4096 does not wrap).
struct Gpadl {
  uint32_t id = 0;
  std::vector<GpaRange> ranges;

  // Pages over all ranges.
  size_t page_count() const {
    size_t pages = 0;
    for (const auto& range : ranges) pages += range.pfns.size();
    return pages;
  }
};

// The pages of a GPADL that is one range of whole pages starting at
// offset 0: the shape of a ring GPADL (Linux vmbus_establish_gpadl,
// HV_GPADL_RING), handed to RingLayout::Create.
base::Result<std::vector<uint64_t>> WholePages(const Gpadl& gpadl);

// A GpadlHeader message (the whole channel message, its 8-byte message
// header included), fields decoded and range words copied out.
struct GpadlHeaderMessage {
  uint32_t child_relid = 0;
  uint32_t gpadl_id = 0;
  uint16_t range_buflen = 0;  // bytes of the whole range list
  uint16_t range_count = 0;
  std::vector<uint64_t> words;  // the start of the range list
};
base::Result<GpadlHeaderMessage> ParseGpadlHeader(std::span<const std::byte> message);

struct GpadlBodyMessage {
  uint32_t message_number = 0;  // Linux 6.1 sends 0; not checked
  uint32_t gpadl_id = 0;
  std::vector<uint64_t> words;  // the next words of the range list
};
base::Result<GpadlBodyMessage> ParseGpadlBody(std::span<const std::byte> message);

// Accumulates one GPADL: Start with its header, AddBody until complete(),
// then Finish. An error leaves the builder unchanged; the caller decides
// whether to drop the GPADL (the guest gets no GpadlCreated either way).
class GpadlBuilder {
 public:
  // Checks the header's counts: at least one range, range_buflen a
  // multiple of 8 that holds range_count range headers and one PFN each,
  // no more than kMaxGpadlPages worth, and no more words than announced.
  static base::Result<GpadlBuilder> Start(GpadlHeaderMessage header);

  // Appends a body's words: the body must name this GPADL, carry at least
  // one word, and not go past range_buflen.
  base::Result<void> AddBody(const GpadlBodyMessage& body);

  bool complete() const { return words_.size() == total_words_; }
  uint32_t gpadl_id() const { return gpadl_id_; }
  uint32_t child_relid() const { return child_relid_; }

  // The GPADL, once complete(): the words must split exactly into
  // range_count well-formed ranges.
  base::Result<Gpadl> Finish() const;

 private:
  GpadlBuilder(uint32_t child_relid, uint32_t gpadl_id, uint16_t range_count, size_t total_words,
               std::vector<uint64_t> words)
      : child_relid_(child_relid),
        gpadl_id_(gpadl_id),
        range_count_(range_count),
        total_words_(total_words),
        words_(std::move(words)) {}

  uint32_t child_relid_;
  uint32_t gpadl_id_;
  uint16_t range_count_;
  size_t total_words_;
  std::vector<uint64_t> words_;
};

}  // namespace vmbus
