#include "vmbus/gpadl.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/le_bytes.h"
#include "vmbus/ring_memory.h"

namespace {

using Bytes = std::vector<std::byte>;
using vmbus::GpadlBuilder;

struct TestRange {
  uint32_t byte_count;
  uint32_t byte_offset;
  std::vector<uint64_t> pfns;
};

void Put(Bytes& bytes, size_t offset, uint16_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }
void Put(Bytes& bytes, size_t offset, uint32_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }
void Put(Bytes& bytes, size_t offset, uint64_t value) { REQUIRE(base::StoreLe(std::span(bytes), offset, value)); }

void AppendWords(Bytes& bytes, const std::vector<uint64_t>& words) {
  for (const uint64_t word : words) {
    const size_t at = bytes.size();
    bytes.resize(at + 8);
    Put(bytes, at, word);
  }
}

// The GPADL's range list as u64 words: {byte_count | byte_offset << 32}, PFNs.
std::vector<uint64_t> RangeWords(const std::vector<TestRange>& ranges) {
  std::vector<uint64_t> words;
  for (const auto& range : ranges) {
    words.push_back(uint64_t{range.byte_count} | uint64_t{range.byte_offset} << 32);
    words.insert(words.end(), range.pfns.begin(), range.pfns.end());
  }
  return words;
}

Bytes HeaderMessage(uint32_t relid, uint32_t gpadl, uint16_t range_buflen, uint16_t range_count,
                    const std::vector<uint64_t>& words) {
  Bytes bytes(20);
  Put(bytes, 0, uint32_t{8});
  Put(bytes, 8, relid);
  Put(bytes, 12, gpadl);
  Put(bytes, 16, range_buflen);
  Put(bytes, 18, range_count);
  AppendWords(bytes, words);
  return bytes;
}

Bytes BodyMessage(uint32_t gpadl, const std::vector<uint64_t>& words) {
  Bytes bytes(16);
  Put(bytes, 0, uint32_t{9});
  Put(bytes, 12, gpadl);
  AppendWords(bytes, words);
  return bytes;
}

// The messages Linux 6.1's create_gpadl_header / vmbus_establish_gpadl
// send for `ranges`: the header takes as many words as fit in 240 bytes
// (27: one range header and 26 PFNs), each body 28.
std::vector<Bytes> LinuxMessages(uint32_t relid, uint32_t gpadl, const std::vector<TestRange>& ranges) {
  const auto words = RangeWords(ranges);
  const size_t in_header = std::min<size_t>(words.size(), (240 - 20) / 8);
  std::vector<Bytes> messages;
  messages.push_back(HeaderMessage(relid, gpadl, static_cast<uint16_t>(words.size() * 8),
                                   static_cast<uint16_t>(ranges.size()),
                                   std::vector<uint64_t>(words.begin(), words.begin() + static_cast<ptrdiff_t>(in_header))));
  for (size_t at = in_header; at < words.size(); at += 28) {
    const size_t end = std::min(words.size(), at + 28);
    messages.push_back(BodyMessage(gpadl, std::vector<uint64_t>(words.begin() + static_cast<ptrdiff_t>(at),
                                                                 words.begin() + static_cast<ptrdiff_t>(end))));
  }
  return messages;
}

// Runs `messages` through a builder; the GPADL or the first error.
base::Result<vmbus::Gpadl> Build(const std::vector<Bytes>& messages) {
  auto header = TRY(vmbus::ParseGpadlHeader(messages.at(0)));
  auto builder = TRY(GpadlBuilder::Start(std::move(header)));
  for (size_t i = 1; i < messages.size(); ++i) {
    auto body = TRY(vmbus::ParseGpadlBody(messages[i]));
    TRY(builder.AddBody(body));
  }
  return builder.Finish();
}

std::vector<uint64_t> Pfns(uint64_t first, size_t count) {
  std::vector<uint64_t> pfns(count);
  for (size_t i = 0; i < count; ++i) pfns[i] = first + i * 2;  // not contiguous
  return pfns;
}

}  // namespace

TEST_CASE("vmbus gpadl: a ring GPADL in one header message") {
  const auto pfns = Pfns(0x1000, 8);
  const auto messages = LinuxMessages(3, 0xE1E10, {{8 * 4096, 0, pfns}});
  REQUIRE(messages.size() == 1);
  auto header = vmbus::ParseGpadlHeader(messages[0]);
  REQUIRE(header.ok());
  CHECK(header->child_relid == 3);
  CHECK(header->gpadl_id == 0xE1E10);
  CHECK(header->range_count == 1);
  CHECK(header->range_buflen == 8 + 8 * 8);
  auto builder = GpadlBuilder::Start(std::move(header).value());
  REQUIRE(builder.ok());
  CHECK(builder->complete());
  CHECK(builder->child_relid() == 3);
  auto gpadl = builder->Finish();
  REQUIRE(gpadl.ok());
  CHECK(gpadl->id == 0xE1E10);
  CHECK(gpadl->page_count() == 8);
  CHECK(vmbus::WholePages(*gpadl).value() == pfns);
}

TEST_CASE("vmbus gpadl: netvsc's 16 MiB receive buffer takes a header and 146 bodies") {
  const auto pfns = Pfns(0x40000, 4096);
  const auto messages = LinuxMessages(1, 0xE1E11, {{16 * 1024 * 1024, 0, pfns}});
  CHECK(messages.size() == 1 + 146);
  // Every message fits the 240-byte channel message.
  for (const auto& message : messages) CHECK(message.size() <= 240);

  auto header = vmbus::ParseGpadlHeader(messages[0]);
  REQUIRE(header.ok());
  auto builder = GpadlBuilder::Start(std::move(header).value());
  REQUIRE(builder.ok());
  for (size_t i = 1; i < messages.size(); ++i) {
    CHECK_FALSE(builder->complete());
    CHECK_FALSE(builder->Finish().ok());
    auto body = vmbus::ParseGpadlBody(messages[i]);
    REQUIRE(body.ok());
    REQUIRE(builder->AddBody(*body).ok());
  }
  CHECK(builder->complete());
  auto gpadl = builder->Finish();
  REQUIRE(gpadl.ok());
  REQUIRE(gpadl->ranges.size() == 1);
  CHECK(gpadl->ranges[0].pfns == pfns);
  // One more body is excess.
  auto extra = vmbus::ParseGpadlBody(BodyMessage(0xE1E11, {1}));
  REQUIRE(extra.ok());
  CHECK_FALSE(builder->AddBody(*extra).ok());
  CHECK(builder->Finish().ok());  // unchanged by the refused body
}

TEST_CASE("vmbus gpadl: several ranges with offsets, spanning messages") {
  const std::vector<TestRange> ranges{{100, 4000, {0x10, 0x11}},
                                      {3 * 4096, 0, Pfns(0x100, 3)},
                                      {40 * 4096 - 5, 5, Pfns(0x200, 40)}};
  const auto messages = LinuxMessages(2, 7, ranges);
  CHECK(messages.size() == 2);  // 50 words: 27 in the header, 23 in a body
  auto gpadl = Build(messages);
  REQUIRE(gpadl.ok());
  REQUIRE(gpadl->ranges.size() == 3);
  CHECK(gpadl->ranges[0].byte_count == 100);
  CHECK(gpadl->ranges[0].byte_offset == 4000);
  CHECK(gpadl->ranges[0].pfns == std::vector<uint64_t>{0x10, 0x11});
  CHECK(gpadl->ranges[2].pfns == Pfns(0x200, 40));
  CHECK(gpadl->page_count() == 45);
  CHECK_FALSE(vmbus::WholePages(*gpadl).ok());  // not one range of whole pages
}

TEST_CASE("vmbus gpadl: WholePages wants one range from offset 0 of whole pages") {
  CHECK_FALSE(vmbus::WholePages(Build(LinuxMessages(1, 1, {{4096, 8, {1, 2}}})).value()).ok());
  CHECK_FALSE(vmbus::WholePages(Build(LinuxMessages(1, 1, {{4000, 0, {1}}})).value()).ok());
  CHECK(vmbus::WholePages(Build(LinuxMessages(1, 1, {{8192, 0, {1, 2}}})).value()).ok());
}

TEST_CASE("vmbus gpadl: malformed messages are refused") {
  SUBCASE("header shorter than its fixed part") {
    Bytes message = HeaderMessage(1, 1, 16, 1, {});
    message.resize(19);
    CHECK_FALSE(vmbus::ParseGpadlHeader(message).ok());
  }
  SUBCASE("header with the wrong message type") {
    Bytes message = HeaderMessage(1, 1, 16, 1, {4096, 1});
    Put(message, 0, uint32_t{9});
    CHECK_FALSE(vmbus::ParseGpadlHeader(message).ok());
  }
  SUBCASE("header with a partial word") {
    Bytes message = HeaderMessage(1, 1, 16, 1, {4096, 1});
    message.push_back(std::byte{0});
    CHECK_FALSE(vmbus::ParseGpadlHeader(message).ok());
  }
  SUBCASE("body shorter than its fixed part") {
    Bytes message = BodyMessage(1, {});
    message.resize(15);
    CHECK_FALSE(vmbus::ParseGpadlBody(message).ok());
  }
  SUBCASE("body with a partial word") {
    Bytes message = BodyMessage(1, {1});
    message.resize(20);
    CHECK_FALSE(vmbus::ParseGpadlBody(message).ok());
  }
  SUBCASE("body with the wrong message type") {
    Bytes message = BodyMessage(1, {1});
    Put(message, 0, uint32_t{8});
    CHECK_FALSE(vmbus::ParseGpadlBody(message).ok());
  }
}

TEST_CASE("vmbus gpadl: header counts that cannot describe a GPADL are refused") {
  auto start = [](uint16_t range_buflen, uint16_t range_count, std::vector<uint64_t> words) {
    auto header = vmbus::ParseGpadlHeader(HeaderMessage(1, 5, range_buflen, range_count, words));
    REQUIRE(header.ok());
    return GpadlBuilder::Start(std::move(header).value()).ok();
  };
  CHECK(start(16, 1, {4096, 1}));
  CHECK_FALSE(start(16, 0, {4096, 1}));   // no ranges
  CHECK_FALSE(start(0, 0, {}));           // nothing at all
  CHECK_FALSE(start(12, 1, {}));          // range_buflen not whole words
  CHECK_FALSE(start(8, 1, {}));           // a range header and no PFN
  CHECK_FALSE(start(24, 2, {}));          // two ranges need 4 words
  CHECK_FALSE(start(16, 1, {4096, 1, 2}));  // more words than announced
  CHECK(start(0xFFF8, 1, {}));            // the most a u16 can announce (8190 pages)
}

TEST_CASE("vmbus gpadl: bodies must belong, carry words and not overrun") {
  auto header = vmbus::ParseGpadlHeader(HeaderMessage(1, 5, 8 * 4, 1, {3 * 4096}));
  REQUIRE(header.ok());
  auto builder = GpadlBuilder::Start(std::move(header).value());
  REQUIRE(builder.ok());
  CHECK_FALSE(builder->AddBody(vmbus::ParseGpadlBody(BodyMessage(6, {1})).value()).ok());  // other GPADL
  CHECK_FALSE(builder->AddBody(vmbus::ParseGpadlBody(BodyMessage(5, {})).value()).ok());   // empty
  CHECK_FALSE(builder->AddBody(vmbus::ParseGpadlBody(BodyMessage(5, {1, 2, 3, 4})).value()).ok());  // 3 remain
  REQUIRE(builder->AddBody(vmbus::ParseGpadlBody(BodyMessage(5, {1, 2})).value()).ok());
  CHECK_FALSE(builder->complete());
  REQUIRE(builder->AddBody(vmbus::ParseGpadlBody(BodyMessage(5, {3})).value()).ok());
  CHECK(builder->complete());
  CHECK(builder->Finish().value().ranges[0].pfns == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("vmbus gpadl: range shapes that do not match their PFNs are refused") {
  auto finish = [](uint16_t range_count, std::vector<uint64_t> words) {
    auto header = vmbus::ParseGpadlHeader(
        HeaderMessage(1, 5, static_cast<uint16_t>(words.size() * 8), range_count, words));
    REQUIRE(header.ok());
    auto builder = GpadlBuilder::Start(std::move(header).value());
    REQUIRE(builder.ok());
    return builder->Finish().ok();
  };
  const uint64_t offset_100 = uint64_t{100} << 32;
  CHECK(finish(1, {4096, 7}));
  CHECK_FALSE(finish(1, {4096, 7, 8}));          // a PFN too many
  CHECK_FALSE(finish(1, {4097, 7}));             // a PFN too few
  CHECK_FALSE(finish(1, {4096 | offset_100, 7})); // offset pushes it onto a second page
  CHECK(finish(1, {4096 | offset_100, 7, 8}));
  CHECK_FALSE(finish(1, {0, 7}));                // empty range
  CHECK_FALSE(finish(1, {8 | uint64_t{4096} << 32, 7}));  // offset past the first page
  CHECK_FALSE(finish(1, {0xFFFFFFFF | uint64_t{4095} << 32, 1}));  // wraps: needs 1M PFNs
  CHECK_FALSE(finish(1, {4096, vmbus::kMaxPfn + 1}));  // PFN that wraps as an address
  CHECK_FALSE(finish(2, {8192, 7, 8, 9}));       // second range's PFN missing
  CHECK(finish(2, {4096, 7, 4096, 9}));
}
