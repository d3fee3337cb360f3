#include "paravisor/paravisor.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>
#include <memory>
#include <thread>

#include "base/page.h"
#include "base/string_printf.h"
#include "hv/hypercall_abi.h"
#include "paravisor/gpn_list_call.h"
#include "paravisor/mshv_vtl.h"
#include "paravisor/vp_runner.h"
#include "paravisor/vtl0_devices.h"
#include "devices/bounce_block_device.h"
#include "devices/frame_port.h"
#include "devices/network_adapter.h"
#include "devices/scsi_controller.h"
#include "paravisor/vmbus_server.h"
#include "paravisor/vtl0_memory.h"
#include "tpm/platform.h"
#include "attest/mbed_hash.h"
#include "vtpm/block_device_io.h"
#include "vtpm/guest_state.h"
#include "vtpm/libtpms_engine.h"
#include "vtpm/measured_boot.h"
#include "vtpm/state_store.h"
#include "vtpm/vtl0_command_buffer.h"
#include "vtpm/attestation_key.h"
#include "vtpm/vtpm.h"

namespace hcl {
namespace {

// HvCallInstallIntercept (TLFS; hv/hypercall_abi.h).
base::Result<void> InstallIntercept(const MshvVtl& mshv, uint32_t access, uint32_t type,
                                    uint64_t parameter) {
  ::hv::InstallInterceptInput input;
  input.access_type_mask = access;
  input.intercept_type = type;
  input.parameter = parameter;
  const ::hv::Status status =
      TRY(mshv.Hypercall(static_cast<uint64_t>(::hv::CallCode::kInstallIntercept),
                         std::as_bytes(std::span(&input, 1)), {}));
  if (status != ::hv::Status::kSuccess)
    return base::Error::Format("HvCallInstallIntercept(type %#x): status %#x", type,
                               static_cast<unsigned>(status));
  return base::Ok();
}

// HvCallModifyVtlProtectionMask (TLFS; hv/hypercall_abi.h): the header,
// then u64 GPNs (rep): VTL0's pages to no access (map_flags 0), a
// page-sized batch at a time.
// The gate (Vtl0Memory) records each batch once the hypervisor took it.
base::Result<void> DenyVtl0(const MshvVtl& mshv, Vtl0Memory& memory, const Options::Range& range) {
  using Header = ::hv::ModifyVtlProtectionMaskHeader;
  Header header;
  header.map_flags = 0;  // no access
  header.input_vtl = ::hv::EncodeInputVtl(0);
  const HypercallFn hypercall = [&mshv](uint64_t control, std::span<const std::byte> input) {
    return mshv.Hypercall(control, input, {});
  };
  for (uint64_t gpn = range.start >> 12; gpn < range.end >> 12;) {
    const uint64_t count = std::min<uint64_t>(kGpnsPerCall<Header>, (range.end >> 12) - gpn);
    TRY(memory.ChangeProtection(gpn, count, 0, [&]() -> base::Result<void> {
      return CallWithGpns(hypercall, ::hv::CallCode::kModifyVtlProtectionMask,
                          "HvCallModifyVtlProtectionMask", header, gpn, count);
    }));
    gpn += count;
  }
  return base::Ok();
}

// Everything the VP threads share lives as long as the process.
struct Paravisor {
  MshvVtl mshv;
  uint32_t vp_count;
  Vtl0Memory memory;
  Vtl0Devices devices{mshv};
  VmbusServer vmbus{mshv, vp_count};
  Vtl0GuestBuffer guest{memory};
  std::vector<std::unique_ptr<BounceBlockDevice>> bounce{};
  std::vector<std::unique_ptr<ScsiController>> scsi{};
  std::unique_ptr<NetworkAdapter> nic{};
  // VTL0's TPM (issue 12): its state in the guest-state device, or only in
  // memory (a new TPM each boot) without one.
  std::unique_ptr<vtpm::BlockDeviceIo> tpm_state_io{};
  std::unique_ptr<vtpm::StateStore> tpm_state{};
  vtpm::Vtl0CommandBuffer tpm_buffer{memory};
  std::unique_ptr<vtpm::LibtpmsEngine> tpm_engine{};
  std::unique_ptr<vtpm::Vtpm> tpm{};
};

// VP 0, before VTL0's first instruction: measure what VTL0 boots into the
// vTPM (vtpm/measured_boot.h); if that fails, cap the PCRs and say why.
base::Result<void> MeasureVtl0(Paravisor& paravisor, uint64_t zero_page_gpa) {
  hv_register_assoc rip{};
  rip.name = ::hv::reg::kRip;
  TRY(paravisor.mshv.GetRegisters(std::span(&rip, 1)));
  auto measured = vtpm::MeasureVtl0Boot(*paravisor.tpm, paravisor.memory, zero_page_gpa,
                                        rip.value.reg64, attest::MbedHash);
  if (!measured) {
    // A TPM that takes no extend (in failure mode) takes none from VTL0
    // either: VTL0 still runs, with a TPM that cannot attest.
    auto capped = vtpm::CapBootPcrs(*paravisor.tpm, attest::MbedHash);
    std::printf("hcl: vtpm: VTL0 not measured (%s): %s\n", measured.error().message().c_str(),
                capped ? "PCRs 0-9 capped" : capped.error().message().c_str());
    return base::Ok();
  }
  std::string banks;
  for (attest::HashAlg alg : measured->banks)
    banks += (banks.empty() ? "" : ",") + std::string(attest::HashName(alg));
  std::printf("hcl: vtpm: measured VTL0: kernel %llu bytes, initrd %llu bytes, command line "
              "\"%s\" into PCRs 0-9 (%s); event log %zu bytes\n",
              static_cast<unsigned long long>(measured->kernel_bytes),
              static_cast<unsigned long long>(measured->initrd_bytes), measured->cmdline.c_str(),
              banks.c_str(), measured->event_log_bytes);
  return base::Ok();
}

// The platform key for the vTPM's guest state (loader/vsm/platform_key.h:
// HvCallHclGetPlatformKey, hcl-loader's stand-in for SEV-SNP's derived key).
base::Result<vtpm::PlatformKey> GuestStateKey(const MshvVtl& mshv) {
  ::hv::HclGetPlatformKeyInput input;
  constexpr std::string_view kContext = "hcl vtpm guest state v1";
  std::transform(kContext.begin(), kContext.end(), input.context,
                 [](char c) { return static_cast<uint8_t>(c); });
  ::hv::HclGetPlatformKeyOutput output;
  const ::hv::Status status =
      TRY(mshv.Hypercall(static_cast<uint64_t>(::hv::CallCode::kHclGetPlatformKey),
                         std::as_bytes(std::span(&input, 1)),
                         std::as_writable_bytes(std::span(&output, 1))));
  if (status != ::hv::Status::kSuccess)
    return base::Error::Format("the platform key was refused (status %#x)",
                               static_cast<unsigned>(status));
  vtpm::PlatformKey key;
  std::copy(std::begin(output.key), std::end(output.key), key.begin());
  return key;
}

// The hardware report for the vTPM's attestation key (loader/vsm/
// platform_report.h: HvCallHclGetPlatformReport, hcl-loader's stand-in
// for SEV-SNP's MSG_REPORT_REQ).
base::Result<std::array<std::byte, attest::kSnpReportBytes>> PlatformReport(
    const MshvVtl& mshv, std::span<const uint8_t, 64> report_data) {
  ::hv::HclGetPlatformReportInput input;
  std::copy(report_data.begin(), report_data.end(), input.report_data);
  ::hv::HclGetPlatformReportOutput output;
  const ::hv::Status status =
      TRY(mshv.Hypercall(static_cast<uint64_t>(::hv::CallCode::kHclGetPlatformReport),
                         std::as_bytes(std::span(&input, 1)),
                         std::as_writable_bytes(std::span(&output, 1))));
  if (status != ::hv::Status::kSuccess)
    return base::Error::Format("the platform report was refused (status %#x)",
                               static_cast<unsigned>(status));
  std::array<std::byte, attest::kSnpReportBytes> report{};
  std::transform(std::begin(output.report), std::end(output.report), report.begin(),
                 [](uint8_t b) { return std::byte{b}; });
  return report;
}

// The vTPM's state store and engine, and the device; what state it runs on.
base::Result<std::string> StartVtpm(Paravisor& paravisor, GuestStateDevice guest_state) {
  std::string state = "in memory only (no --guest-state: a new TPM each boot)";
  if (guest_state.device != nullptr && guest_state.pool != nullptr) {
    const vtpm::PlatformKey key = TRY(GuestStateKey(paravisor.mshv));
    paravisor.tpm_state_io = TRY(vtpm::BlockDeviceIo::Create(*guest_state.device, *guest_state.pool));
    auto store = TRY(vtpm::GuestStateStore::Open(*paravisor.tpm_state_io, key));
    state = store->was_new() ? "in the guest state (new)"
                             : base::StringPrintf("in the guest state (sequence %llu)",
                                                  static_cast<unsigned long long>(store->sequence()));
    paravisor.tpm_state = std::move(store);
  } else {
    paravisor.tpm_state = std::make_unique<vtpm::MemoryStateStore>();
  }
  paravisor.tpm_engine =
      TRY(vtpm::LibtpmsEngine::Create(*paravisor.tpm_state, ::tpm::kCrbBufferBytes));
  paravisor.tpm = TRY(vtpm::Vtpm::Create(*paravisor.tpm_engine, paravisor.tpm_buffer));
  return state;
}

}  // namespace

base::Result<uint32_t> StartParavisor(const Options& options, Vtl0FatalPolicy on_vtl0_fatal,
                                      std::span<const ParavisorDisk> disks,
                                      GuestStateDevice guest_state, FramePort* nic_port) {
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const uint32_t vp_count = cpus > 0 ? static_cast<uint32_t>(cpus) : 1;
  auto* paravisor = new Paravisor{TRY(MshvVtl::Open()), vp_count, {}};  // never freed: PID 1's
  for (const Options::Range& range : options.vtl0_ram) {
    const std::span<std::byte> bytes = TRY(paravisor->mshv.MapVtl0(range.start, range.end));
    paravisor->memory.Add(TRY(mem::GuestMemory::Create(mem::Gpa{range.start}, bytes)));
  }
  constexpr uint32_t kRead = 1, kWrite = 2, kExecute = 4;
  TRY(InstallIntercept(paravisor->mshv, kRead | kWrite, ::hv::intercept_type::kIoPortRange,
                       Vtl0Devices::kCom1.first | uint64_t{Vtl0Devices::kCom1.last} << 16));
  TRY(InstallIntercept(paravisor->mshv, kExecute, ::hv::intercept_type::kUnknownSynicConnection,
                       0));
  for (const Options::Range& range : options.vtl0_deny)
    TRY(DenyVtl0(paravisor->mshv, paravisor->memory, range));
  // The vTPM, started (TPM2_Startup) before VTL0's first instruction. One
  // that cannot start (its saved state unreadable or not this platform's)
  // is left out, with one line saying why: VTL0 then finds no TPM, rather
  // than a new one in place of its own.
  if (auto started = StartVtpm(*paravisor, guest_state); started.ok()) {
    paravisor->devices.AttachTpm(*paravisor->tpm);
    std::printf("hcl: vtpm: TPM 2.0 (libtpms) at 0x%llx, buffer at 0x%llx, state %s\n",
                static_cast<unsigned long long>(::tpm::kCrbBase),
                static_cast<unsigned long long>(::tpm::kCrbBufferGpa), started->c_str());
    const auto provisioned = vtpm::ProvisionAttestationKey(
        *paravisor->tpm,
        [paravisor](std::span<const uint8_t, 64> data) { return PlatformReport(paravisor->mshv, data); },
        attest::MbedHash, guest_state.device != nullptr);
    if (provisioned) {
      std::printf("hcl: vtpm: attestation key at 0x%x%s%s, bound to the platform report in NV "
                  "index 0x%x (%zu bytes)\n",
                  vtpm::kAkPersistentHandle, provisioned->not_persisted.empty() ? "" : " NOT persisted: ",
                  provisioned->not_persisted.c_str(), vtpm::kHclReportNvIndex,
                  provisioned->report_bytes);
    } else {
      std::printf("hcl: vtpm: no attestation report: %s\n", provisioned.error().message().c_str());
    }
  } else {
    std::printf("hcl: vtpm: not started: %s\n", started.error().message().c_str());
  }
  // Storage translation (DESIGN.md): each disk VTL2 drives, as a synthetic
  // SCSI controller for VTL0's hv_storvsc.
  for (size_t i = 0; i < disks.size() && i < 256; ++i) {
    block::Device* device = disks[i].device;
    if (disks[i].bounce_pool != nullptr) {
      paravisor->bounce.push_back(std::make_unique<BounceBlockDevice>(
          *device, *disks[i].bounce_pool, paravisor->guest, kBounceRequestBytes,
          disks[i].bounce_budget_bytes));
      device = paravisor->bounce.back().get();
    }
    paravisor->scsi.push_back(TRY(ScsiController::Create(paravisor->vmbus, paravisor->memory,
                                                         *device, vp_count,
                                                         static_cast<uint8_t>(i))));
    const block::Geometry& geometry = device->geometry();
    std::printf("hcl: storvsp: SCSI controller %zu: %llu blocks of %u bytes%s, %s\n", i,
                static_cast<unsigned long long>(geometry.block_count), geometry.block_size,
                geometry.read_only ? ", read-only" : "",
                disks[i].bounce_pool != nullptr ? "bounced" : "zero copy");
  }
  if (nic_port != nullptr) {
    // netvsp over VTL2's NIC: VTL0's hv_netvsc sees the vport's MAC.
    const std::array<uint8_t, 6> mac = nic_port->mac();
    const rndis::NicFacts nic{.mac = mac, .mtu = nic_port->mtu()};
    paravisor->nic = TRY(
        NetworkAdapter::Create(paravisor->vmbus, paravisor->memory, nic, nic_port, vp_count));
    std::printf("hcl: netvsp: synthetic NIC %02x:%02x:%02x:%02x:%02x:%02x offered, frames "
                "through VTL2's MANA NIC\n",
                mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  } else if (options.netvsp_unbacked) {
    // A Hyper-V OUI (00:15:5D) address; "HCL" after it.
    const rndis::NicFacts nic{.mac = {0x00, 0x15, 0x5D, 0x48, 0x43, 0x4C}};
    paravisor->nic = TRY(
        NetworkAdapter::Create(paravisor->vmbus, paravisor->memory, nic, nullptr, vp_count));
    std::printf("hcl: netvsp: synthetic NIC 00:15:5d:48:43:4c offered, no back end "
                "(hcl.netvsp=unbacked)\n");
  }
  for (uint32_t cpu = 0; cpu < vp_count; ++cpu) {
    const bool trace = options.trace_intercepts;
    std::thread([paravisor, cpu, trace, on_vtl0_fatal] {
      VpRunner runner(paravisor->mshv, paravisor->memory, paravisor->devices, paravisor->vmbus,
                      cpu, on_vtl0_fatal, trace);
      auto ran = cpu == 0 && paravisor->tpm ? runner.Run([paravisor](uint64_t rsi) {
        return MeasureVtl0(*paravisor, rsi);
      })
                                            : runner.Run();
      std::fprintf(stderr, "hcl: vp%u stopped: %s\n", cpu,
                   ran ? "returned" : ran.error().message().c_str());
    }).detach();
  }
  return vp_count;
}

}  // namespace hcl
