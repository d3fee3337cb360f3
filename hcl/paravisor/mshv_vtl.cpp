#include "paravisor/mshv_vtl.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "hv/hypercall_abi.h"
#include "os/ioctl.h"

namespace hcl {
namespace {

base::Result<os::UniqueFd> OpenDevice(const char* path) {
  const int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return base::Error::FromErrno(path, errno);
  return os::UniqueFd(fd);
}

// The calls hcl makes through /dev/mshv_hvcall (MSHV_HVCALL_SETUP's
// allow bitmap: bit n = call code n).
constexpr std::array kAllowedCalls = {
    ::hv::CallCode::kInstallIntercept,       ::hv::CallCode::kAssertVirtualInterrupt,
    ::hv::CallCode::kPostMessageDirect,      ::hv::CallCode::kSignalEventDirect,
    ::hv::CallCode::kTranslateVirtualAddress, ::hv::CallCode::kGetVpIndexFromApicId,
    ::hv::CallCode::kModifyVtlProtectionMask,
    // VTL0's VMBus signals as event ports into SINT7 (CreateEventPort).
    ::hv::CallCode::kCreatePort,             ::hv::CallCode::kConnectPort,
    ::hv::CallCode::kDisconnectPort,         ::hv::CallCode::kDeletePort,
    // The vTPM's sealing key (hcl-loader's platform key, not TLFS).
    ::hv::CallCode::kHclGetPlatformKey,
    // The emulated hardware report the vTPM's AK is bound to (not TLFS).
    ::hv::CallCode::kHclGetPlatformReport,
};

// A hypercall's input object as the bytes MSHV_HVCALL copies in.
template <typename T>
std::span<const std::byte> InputBytes(const T& input) {
  return std::as_bytes(std::span(&input, 1));
}

}  // namespace

base::Result<HvcallFile> HvcallFile::Open(std::span<const ::hv::CallCode> allowed,
                                          const char* path) {
  HvcallFile file;
  file.fd_ = TRY(OpenDevice(path));
  std::array<uint64_t, 64> allow{};  // codes 0-4095, the driver's largest bitmap
  for (::hv::CallCode code : allowed) {
    const auto n = static_cast<uint16_t>(code);
    if (n >= 64 * 64) return base::Error::Format("hypercall %#x is past the allow bitmap", n);
    allow[n / 64] |= uint64_t{1} << (n % 64);
  }
  mshv_vtl_hvcall_setup setup{};
  setup.bitmap_array_size = sizeof allow;
  setup.allow_bitmap_ptr = reinterpret_cast<uintptr_t>(allow.data());
  TRY(os::Ioctl(file.fd_, MSHV_HVCALL_SETUP, &setup, "MSHV_HVCALL_SETUP"));
  return file;
}

base::Result<::hv::Status> HvcallFile::Call(uint64_t control, std::span<const std::byte> input,
                                            std::span<std::byte> output) const {
  mshv_vtl_hvcall call{};
  call.control = control;
  call.input_size = input.size();
  call.input_ptr = reinterpret_cast<uintptr_t>(input.data());
  call.output_size = output.size();
  call.output_ptr = reinterpret_cast<uintptr_t>(output.data());
  TRY(os::Ioctl(fd_, MSHV_HVCALL, &call, "MSHV_HVCALL"));
  return static_cast<::hv::Status>(call.status & 0xFFFF);
}

base::Result<MshvVtl> MshvVtl::Open() {
  MshvVtl vtl(TRY(HvcallFile::Open(kAllowedCalls)));
  vtl.mshv_ = TRY(OpenDevice("/dev/mshv"));
  const int vtl_fd = TRY(os::Ioctl(vtl.mshv_, MSHV_CREATE_VTL, 0UL, "MSHV_CREATE_VTL"));
  vtl.vtl_ = os::UniqueFd(vtl_fd);
  vtl.low_ = TRY(OpenDevice("/dev/mshv_vtl_low"));
  vtl.sint_ = TRY(OpenDevice("/dev/mshv_sint"));
  return vtl;
}

base::Result<mshv_vtl_run*> MshvVtl::MapRunPage(uint32_t cpu) {
  if (cpu > 0xFFFF) return base::Error::Format("CPU %u has no run page", cpu);
  auto mapping = TRY(os::Mapping::Create(4096, PROT_READ | PROT_WRITE, MAP_SHARED, vtl_.get(),
                                         "the run page", int64_t{cpu} << 12));
  auto* run = reinterpret_cast<mshv_vtl_run*>(mapping.bytes().data());
  cpu_pages_.push_back(std::move(mapping));
  return run;
}

base::Result<::hv::VpRegisterPage*> MshvVtl::MapRegisterPage(uint32_t cpu) {
  if (cpu > 0xFFFF) return base::Error::Format("CPU %u has no register page", cpu);
  __u32 capability = MSHV_CAP_REGISTER_PAGE;
  if (TRY(os::Ioctl(mshv_, MSHV_CHECK_EXTENSION, &capability, "MSHV_CHECK_EXTENSION")) <= 0)
    return base::Error("the VTL2 driver has no register page");
  const int64_t page = int64_t{MSHV_REG_PAGE_OFFSET} << MSHV_REAL_OFF_SHIFT | cpu;
  auto mapping = TRY(os::Mapping::Create(4096, PROT_READ | PROT_WRITE, MAP_SHARED, vtl_.get(),
                                         "the register page", page << 12));
  auto* registers = reinterpret_cast<::hv::VpRegisterPage*>(mapping.bytes().data());
  cpu_pages_.push_back(std::move(mapping));
  return registers;
}

base::Result<bool> MshvVtl::ReturnToLowerVtl() const {
  if (::ioctl(vtl_.get(), static_cast<int>(MSHV_RETURN_TO_LOWER_VTL), 0UL) == 0) return true;
  if (errno == EINTR) return false;
  return base::Error::FromErrno("MSHV_RETURN_TO_LOWER_VTL", errno);
}

base::Result<void> MshvVtl::GetRegisters(std::span<hv_register_assoc> registers) const {
  mshv_vp_registers request{};
  request.count = static_cast<__u32>(registers.size());
  request.regs_ptr = reinterpret_cast<uintptr_t>(registers.data());
  TRY(os::Ioctl(vtl_, MSHV_GET_VP_REGISTERS, &request, "MSHV_GET_VP_REGISTERS"));
  return base::Ok();
}

base::Result<void> MshvVtl::SetRegisters(std::span<const hv_register_assoc> registers) const {
  mshv_vp_registers request{};
  request.count = static_cast<__u32>(registers.size());
  request.regs_ptr = reinterpret_cast<uintptr_t>(registers.data());
  TRY(os::Ioctl(vtl_, MSHV_SET_VP_REGISTERS, &request, "MSHV_SET_VP_REGISTERS"));
  return base::Ok();
}

base::Result<::hv::Status> MshvVtl::Hypercall(uint64_t control, std::span<const std::byte> input,
                                              std::span<std::byte> output) const {
  return hvcall_.Call(control, input, output);
}

base::Result<std::span<std::byte>> MshvVtl::MapVtl0(uint64_t start, uint64_t end) {
  mshv_vtl_ram_disposition range{};
  range.start_pfn = start >> 12;
  range.last_pfn = end >> 12;
  TRY(os::Ioctl(vtl_, MSHV_ADD_VTL0_MEMORY, &range, "MSHV_ADD_VTL0_MEMORY"));
  auto mapping = TRY(os::Mapping::Create(end - start, PROT_READ | PROT_WRITE, MAP_SHARED,
                                         low_.get(), "VTL0 memory", static_cast<int64_t>(start)));
  const std::span<std::byte> bytes = mapping.bytes();
  vtl0_mappings_.push_back(std::move(mapping));
  return bytes;
}

base::Result<void> MshvVtl::SetSintEventfd(uint32_t flag, int fd) const {
  mshv_vtl_set_eventfd request{};
  request.fd = fd;
  request.flag = flag;
  TRY(os::Ioctl(sint_, MSHV_SINT_SET_EVENTFD, &request, "MSHV_SINT_SET_EVENTFD"));
  return base::Ok();
}

}  // namespace hcl
