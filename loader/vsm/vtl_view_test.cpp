#include "vsm/vtl_view.h"

#include <doctest/doctest.h>

#include "kvm/guest_ram.h"

namespace {

using loader::vsm::VtlView;

constexpr uint64_t kRamBytes = 0x10000;

uint32_t Word(mem::GuestMemory& memory, uint64_t gpa) {
  return memory.ReadObj<uint32_t>(mem::Gpa{gpa}).value();
}

}  // namespace

TEST_CASE("VtlView: an overlay shows in its own VTL's view only and hides the RAM beneath") {
  auto ram = kvm::GuestRam::Create(kRamBytes).value();
  auto raw = mem::GuestMemory::Create(mem::Gpa{0}, ram.bytes()).value();
  CHECK(raw.Fill(mem::Gpa{0}, kRamBytes, std::byte{0x11}).ok());
  auto vtl0 = VtlView::Create(0, ram, 2).value();
  auto vtl2 = VtlView::Create(2, ram, 2).value();
  CHECK(vtl0->overlay(0).contents().WriteObj(mem::Gpa{0}, uint32_t{0xC0FFEE}).ok());
  CHECK(vtl0->overlay(0).Place(mem::Gpa{0x3000}).ok());
  CHECK(vtl0->placement(0) == mem::Gpa{0x3000});
  CHECK(Word(vtl0->memory(), 0x3000) == 0xC0FFEE);
  CHECK(Word(vtl2->memory(), 0x3000) == 0x11111111);
  CHECK(Word(raw, 0x3000) == 0x11111111);
  // The VTL's stores there go to the overlay, not the RAM.
  CHECK(vtl0->memory().WriteObj(mem::Gpa{0x3004}, uint32_t{7}).ok());
  CHECK(vtl0->overlay(0).contents().ReadObj<uint32_t>(mem::Gpa{4}).value() == 7);
  CHECK(Word(raw, 0x3004) == 0x11111111);
  // Moving it: the old page shows RAM again.
  CHECK(vtl0->overlay(0).Place(mem::Gpa{0x5000}).ok());
  CHECK(Word(vtl0->memory(), 0x3000) == 0x11111111);
  CHECK(Word(vtl0->memory(), 0x5000) == 0xC0FFEE);
  // RAM written by someone else shows through where no overlay is.
  CHECK(raw.WriteObj(mem::Gpa{0x3000}, uint32_t{0x22}).ok());
  CHECK(Word(vtl0->memory(), 0x3000) == 0x22);
  CHECK(vtl0->overlay(0).Place(std::nullopt).ok());
  CHECK(Word(vtl0->memory(), 0x5000) == 0x11111111);
  CHECK_FALSE(vtl0->placement(0).has_value());
}

TEST_CASE("VtlView: two overlays at one page: the last placed shows, the other after it goes") {
  auto ram = kvm::GuestRam::Create(kRamBytes).value();
  auto view = VtlView::Create(0, ram, 2).value();
  CHECK(view->overlay(0).contents().WriteObj(mem::Gpa{0}, uint32_t{1}).ok());
  CHECK(view->overlay(1).contents().WriteObj(mem::Gpa{0}, uint32_t{2}).ok());
  CHECK(view->overlay(0).Place(mem::Gpa{0x2000}).ok());
  CHECK(view->overlay(1).Place(mem::Gpa{0x2000}).ok());
  CHECK(Word(view->memory(), 0x2000) == 2);
  CHECK(view->overlay(1).Place(std::nullopt).ok());
  CHECK(Word(view->memory(), 0x2000) == 1);
  CHECK(view->overlay(0).Place(std::nullopt).ok());
  CHECK(Word(view->memory(), 0x2000) == 0);
}

TEST_CASE("VtlView: overlays beyond RAM are recorded, show nowhere; unaligned ones refused") {
  auto ram = kvm::GuestRam::Create(kRamBytes).value();
  auto view = VtlView::Create(0, ram, 1).value();
  CHECK(view->overlay(0).Place(mem::Gpa{0xFFFFFFFFF000}).ok());
  CHECK(view->placement(0) == mem::Gpa{0xFFFFFFFFF000});
  CHECK_FALSE(view->overlay(0).Place(mem::Gpa{0x2010}).ok());
  CHECK_FALSE(VtlView::Create(0, ram, 0).ok());
}
