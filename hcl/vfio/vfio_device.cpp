#include "vfio/vfio_device.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <system_error>

#include "base/checked.h"
#include "base/le_bytes.h"
#include "os/ioctl.h"
#include "vfio/pci_sysfs.h"

namespace hcl::vfio {
namespace {

// PCI Local Bus 3.0 §6.2.2: the Command register at 04h; bit 1 Memory
// Space, bit 2 Bus Master.
constexpr uint64_t kPciCommandOffset = 0x04;
constexpr uint16_t kPciCommandMemory = 1u << 1;
constexpr uint16_t kPciCommandBusMaster = 1u << 2;

base::Result<os::UniqueFd> OpenPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return base::Error::FromErrno("open " + path, errno);
  return os::UniqueFd(fd);
}

// The basename of a sysfs symlink (a driver's or an IOMMU group's name);
// empty if there is no link.
std::string LinkName(const std::string& path) {
  std::error_code error;
  const std::filesystem::path target = std::filesystem::read_symlink(path, error);
  if (error) return {};
  return target.filename().string();
}

// nvme-vfio.md §8 steps 1-2.
base::Result<void> BindToVfioPci(const std::string& address, IommuMode iommu,
                                 const std::string& sysfs) {
  if (iommu == IommuMode::kNoIommu) {
    const std::string noiommu = sysfs + "/module/vfio/parameters/enable_unsafe_noiommu_mode";
    auto mode = ReadSysfs(noiommu);
    if (!mode.ok())
      return std::move(mode).error().Context("VFIO no-IOMMU mode (CONFIG_VFIO_NOIOMMU)");
    if (mode->empty() || (*mode)[0] != 'Y') TRY(WriteSysfs(noiommu, "1"));
  }

  const std::string function = sysfs + "/bus/pci/devices/" + address;
  const std::string driver = LinkName(function + "/driver");
  if (driver == "vfio-pci") return base::Ok();
  if (!driver.empty()) TRY(WriteSysfs(function + "/driver/unbind", address));
  TRY(WriteSysfs(function + "/driver_override", "vfio-pci"));
  // drivers_probe reports a probe failure as the write's error.
  TRY(WriteSysfs(sysfs + "/bus/pci/drivers_probe", address));
  const std::string now = LinkName(function + "/driver");
  if (now != "vfio-pci")
    return base::Error("vfio-pci did not bind " + address +
                       (now.empty() ? std::string(" (no driver)") : " (driver " + now + ")"));
  return base::Ok();
}

}  // namespace

base::Result<VfioDevice> VfioDevice::Open(const std::string& address, IommuMode mode,
                                          const std::string& sysfs, const std::string& dev) {
  if (!IsPciAddress(address)) return base::Error("'" + address + "' is not a PCI address");
  TRY(BindToVfioPci(address, mode, sysfs));

  VfioDevice device;
  device.mode_ = mode;
  device.address_ = address;
  const bool noiommu_mode = mode == IommuMode::kNoIommu;
  const int backend = noiommu_mode ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
  // nvme-vfio.md §8 steps 3-6.
  const std::string group_id = LinkName(sysfs + "/bus/pci/devices/" + address + "/iommu_group");
  if (group_id.empty()) return base::Error(address + " has no IOMMU group after binding");
  device.group_name_ = (noiommu_mode ? "noiommu-" : "") + group_id;
  device.group_ = TRY(OpenPath(dev + "/vfio/" + device.group_name_, O_RDWR));
  device.container_ = TRY(OpenPath(dev + "/vfio/vfio", O_RDWR));
  const int version = TRY(os::Ioctl(device.container_, VFIO_GET_API_VERSION, 0, "VFIO_GET_API_VERSION"));
  if (version != VFIO_API_VERSION)
    return base::Error::Format("VFIO API version %d, expected %d", version, VFIO_API_VERSION);
  const int offered = TRY(os::Ioctl(device.container_, VFIO_CHECK_EXTENSION, backend,
                                    "VFIO_CHECK_EXTENSION"));
  if (offered != 1)
    return base::Error(noiommu_mode ? "the VFIO container offers no no-IOMMU backend"
                                    : "the VFIO container offers no type1v2 IOMMU backend");
  vfio_group_status status{};
  status.argsz = sizeof status;
  TRY(os::Ioctl(device.group_, VFIO_GROUP_GET_STATUS, &status, "VFIO_GROUP_GET_STATUS"));
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0)
    return base::Error("VFIO group " + device.group_name_ + " is not viable");
  int container_fd = device.container_.get();
  TRY(os::Ioctl(device.group_, VFIO_GROUP_SET_CONTAINER, &container_fd, "VFIO_GROUP_SET_CONTAINER"));
  TRY(os::Ioctl(device.container_, VFIO_SET_IOMMU, backend, "VFIO_SET_IOMMU"));
  const int device_fd = TRY(os::Ioctl(device.group_, VFIO_GROUP_GET_DEVICE_FD, address.c_str(),
                                      "VFIO_GROUP_GET_DEVICE_FD"));
  device.device_ = os::UniqueFd(device_fd);

  const RegionInfo config = TRY(device.Region(VFIO_PCI_CONFIG_REGION_INDEX));
  device.config_offset_ = config.offset;
  device.config_size_ = config.size;
  return device;
}

base::Result<void> VfioDevice::MapDma(std::span<std::byte> host, uint64_t iova) const {
  if (mode_ != IommuMode::kType1) return base::Error("VFIO_IOMMU_MAP_DMA needs an IOMMU");
  const auto vaddr = static_cast<uint64_t>(std::bit_cast<uintptr_t>(host.data()));
  if (host.empty() || vaddr % 4096 != 0 || host.size() % 4096 != 0 || iova % 4096 != 0)
    return base::Error("VFIO_IOMMU_MAP_DMA of an unaligned range");
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = vaddr;
  map.iova = iova;
  map.size = host.size();
  TRY(os::Ioctl(container_, VFIO_IOMMU_MAP_DMA, &map, "VFIO_IOMMU_MAP_DMA"));
  return base::Ok();
}

base::Result<RegionInfo> VfioDevice::Region(uint32_t index) const {
  vfio_region_info info{};
  info.argsz = sizeof info;
  info.index = index;
  TRY(os::Ioctl(device_, VFIO_DEVICE_GET_REGION_INFO, &info, "VFIO_DEVICE_GET_REGION_INFO"));
  return RegionInfo{index, info.flags, info.size, info.offset};
}

base::Result<os::Mapping> VfioDevice::MapRegion(uint32_t index) const {
  const RegionInfo region = TRY(Region(index));
  if ((region.flags & VFIO_REGION_INFO_FLAG_MMAP) == 0 || region.size == 0)
    return base::Error::Format("VFIO region %u of %s cannot be mapped", index, address_.c_str());
  if (region.offset > static_cast<uint64_t>(INT64_MAX))
    return base::Error::Format("VFIO region %u offset out of range", index);
  return os::Mapping::Create(static_cast<size_t>(region.size), PROT_READ | PROT_WRITE, MAP_SHARED,
                             device_.get(), "VFIO region", static_cast<int64_t>(region.offset));
}

base::Result<void> VfioDevice::ReadConfig(uint64_t offset, std::span<std::byte> out) const {
  if (!base::RangeFits<uint64_t>(offset, out.size(), config_size_))
    return base::Error("configuration space read out of range");
  const ssize_t done = ::pread(device_.get(), out.data(), out.size(),
                               static_cast<off_t>(config_offset_ + offset));
  if (done < 0) return base::Error::FromErrno("reading configuration space", errno);
  if (static_cast<size_t>(done) != out.size()) return base::Error("short configuration space read");
  return base::Ok();
}

base::Result<void> VfioDevice::WriteConfig(uint64_t offset, std::span<const std::byte> in) const {
  if (!base::RangeFits<uint64_t>(offset, in.size(), config_size_))
    return base::Error("configuration space write out of range");
  const ssize_t done = ::pwrite(device_.get(), in.data(), in.size(),
                                static_cast<off_t>(config_offset_ + offset));
  if (done < 0) return base::Error::FromErrno("writing configuration space", errno);
  if (static_cast<size_t>(done) != in.size()) return base::Error("short configuration space write");
  return base::Ok();
}

base::Result<void> VfioDevice::EnableMemoryAndBusMaster() const {
  std::array<std::byte, 2> bytes{};
  TRY(ReadConfig(kPciCommandOffset, bytes));
  uint16_t command = 0;
  if (!base::LoadLe(std::span<const std::byte>(bytes), 0, command))
    return base::Error("reading the command register");
  command = static_cast<uint16_t>(command | kPciCommandMemory | kPciCommandBusMaster);
  if (!base::StoreLe(std::span(bytes), 0, command)) return base::Error("encoding the command register");
  return WriteConfig(kPciCommandOffset, bytes);
}

base::Result<uint32_t> VfioDevice::MsixVectorCount() const {
  vfio_irq_info info{};
  info.argsz = sizeof info;
  info.index = VFIO_PCI_MSIX_IRQ_INDEX;
  TRY(os::Ioctl(device_, VFIO_DEVICE_GET_IRQ_INFO, &info, "VFIO_DEVICE_GET_IRQ_INFO(MSI-X)"));
  return info.count;
}

base::Result<std::vector<os::UniqueFd>> VfioDevice::EnableMsix(uint32_t count) {
  if (count == 0) return base::Error("enabling MSI-X with no vectors");
  const uint32_t available = TRY(MsixVectorCount());
  if (count > available)
    return base::Error::Format("%u MSI-X vectors asked for, the device has %u", count, available);
  if (msix_enabled_) TRY(DisableMsix());
  std::vector<os::UniqueFd> events;
  for (uint32_t i = 0; i < count; ++i) {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return base::Error::FromErrno("eventfd", errno);
    events.emplace_back(fd);
  }
  // struct vfio_irq_set followed by one int32 eventfd per vector, written
  // field by field at the UAPI header's offsets (no casts of raw bytes).
  const size_t header = offsetof(vfio_irq_set, data);
  std::vector<std::byte> request(header + sizeof(int32_t) * count);
  const std::span<std::byte> bytes(request);
  bool encoded = base::StoreLe(bytes, offsetof(vfio_irq_set, argsz), static_cast<uint32_t>(request.size())) &&
                 base::StoreLe(bytes, offsetof(vfio_irq_set, flags),
                               uint32_t{VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER}) &&
                 base::StoreLe(bytes, offsetof(vfio_irq_set, index), uint32_t{VFIO_PCI_MSIX_IRQ_INDEX}) &&
                 base::StoreLe(bytes, offsetof(vfio_irq_set, start), uint32_t{0}) &&
                 base::StoreLe(bytes, offsetof(vfio_irq_set, count), count);
  for (uint32_t i = 0; i < count; ++i)
    encoded = encoded && base::StoreLe(bytes, header + sizeof(int32_t) * i,
                                       static_cast<uint32_t>(events[i].get()));
  if (!encoded) return base::Error("encoding VFIO_DEVICE_SET_IRQS");
  TRY(os::Ioctl(device_, VFIO_DEVICE_SET_IRQS, request.data(), "VFIO_DEVICE_SET_IRQS(MSI-X)"));
  msix_enabled_ = true;
  return events;
}

base::Result<void> VfioDevice::DisableMsix() {
  vfio_irq_set request{};
  request.argsz = sizeof request;
  request.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
  request.index = VFIO_PCI_MSIX_IRQ_INDEX;
  request.start = 0;
  request.count = 0;
  TRY(os::Ioctl(device_, VFIO_DEVICE_SET_IRQS, &request, "VFIO_DEVICE_SET_IRQS(MSI-X off)"));
  msix_enabled_ = false;
  return base::Ok();
}

base::Result<MappedFunction> MappedFunction::Open(const std::string& address, IommuMode mode) {
  VfioDevice device = TRY(VfioDevice::Open(address, mode));
  os::Mapping bar0 = TRY(device.MapRegion(VFIO_PCI_BAR0_REGION_INDEX));
  TRY(device.EnableMemoryAndBusMaster());
  return MappedFunction{std::move(device), std::move(bar0)};
}

}  // namespace hcl::vfio
