#include "vsm/vtl_view.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "base/checked.h"
#include "base/page.h"

namespace loader::vsm {
base::Result<void> OverlayPage::Place(std::optional<mem::Gpa> gpa) {
  return view_.Place(index_, gpa);
}

base::Result<std::unique_ptr<VtlView>> VtlView::Create(uint8_t vtl, const kvm::GuestRam& ram,
                                                       uint32_t overlay_pages) {
  if (overlay_pages == 0) return base::Error("a VTL view needs at least one overlay page");
  auto alias = TRY(ram.Alias());
  os::UniqueFd fd(::memfd_create(vtl == 0 ? "hcl-vtl0-overlays" : "hcl-vtl2-overlays",
                                 MFD_CLOEXEC));
  if (!fd.valid()) return base::Error::FromErrno("memfd_create overlays", errno);
  const uint64_t overlay_bytes = uint64_t{overlay_pages} * base::kPageSize;
  if (::ftruncate(fd.get(), static_cast<off_t>(overlay_bytes)) != 0)
    return base::Error::FromErrno("ftruncate overlays", errno);
  auto overlay_mapping = TRY(os::Mapping::Create(static_cast<size_t>(overlay_bytes),
                                                 PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(),
                                                 "overlay pages"));
  auto memory = TRY(mem::GuestMemory::Create(mem::Gpa{0}, alias.bytes()));
  std::unique_ptr<VtlView> view(
      new VtlView(vtl, std::move(alias), std::move(fd), std::move(overlay_mapping), memory));
  view->placed_gpn_.resize(overlay_pages);
  for (uint32_t i = 0; i < overlay_pages; ++i) {
    auto contents = TRY(mem::GuestMemory::Create(
        mem::Gpa{0},
        view->overlay_mapping_.bytes().subspan(size_t{i} * base::kPageSize, base::kPageSize)));
    view->overlays_.push_back(std::unique_ptr<OverlayPage>(new OverlayPage(*view, i, contents)));
  }
  return view;
}

std::optional<mem::Gpa> VtlView::placement(uint32_t index) const {
  std::lock_guard lock(mutex_);
  if (index >= placed_gpn_.size() || !placed_gpn_[index]) return std::nullopt;
  return mem::Gpa{*placed_gpn_[index] * base::kPageSize};
}

base::Result<void> VtlView::Place(uint32_t index, std::optional<mem::Gpa> gpa) {
  if (gpa && !base::IsAligned(mem::ToU64(*gpa), base::kPageSize))
    return base::Error("overlay page address is not page-aligned");
  std::lock_guard lock(mutex_);
  if (index >= placed_gpn_.size()) return base::Error("no such overlay page");
  const std::optional<uint64_t> old_gpn = placed_gpn_[index];
  const std::optional<uint64_t> new_gpn =
      gpa ? std::optional<uint64_t>(mem::ToU64(*gpa) / base::kPageSize) : std::nullopt;
  if (old_gpn == new_gpn) return base::Ok();
  if (old_gpn) {
    std::vector<uint32_t>& stack = by_gpn_[*old_gpn];
    std::erase(stack, index);
    if (stack.empty()) by_gpn_.erase(*old_gpn);
    placed_gpn_[index] = std::nullopt;
    TRY(RefreshLocked(*old_gpn));
  }
  if (new_gpn) {
    by_gpn_[*new_gpn].push_back(index);
    placed_gpn_[index] = new_gpn;
    TRY(RefreshLocked(*new_gpn));
  }
  return base::Ok();
}

base::Result<void> VtlView::RefreshLocked(uint64_t gpn) {
  // Pages beyond RAM have no place in the mapping: the overlay shows
  // nowhere (see the header).
  if (gpn >= ram_.size_bytes() / base::kPageSize) return base::Ok();
  const auto offset = static_cast<size_t>(gpn * base::kPageSize);
  const auto top = by_gpn_.find(gpn);
  if (top == by_gpn_.end())
    return ram_.mapping().ReplacePages(offset, base::kPageSize, PROT_READ | PROT_WRITE,
                                       ram_.fd().get(), static_cast<int64_t>(offset));
  const uint32_t index = top->second.back();
  return ram_.mapping().ReplacePages(offset, base::kPageSize, PROT_READ | PROT_WRITE,
                                     overlay_fd_.get(),
                                     static_cast<int64_t>(uint64_t{index} * base::kPageSize));
}

}  // namespace loader::vsm
