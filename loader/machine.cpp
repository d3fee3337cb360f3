#include "machine.h"

#include <array>
#include <cstdio>
#include <string>
#include <utility>

#include "base/string_printf.h"
#include "hyperv/synthetic_msrs.h"
#include "reader.h"
#include "tpm/platform.h"
#include "vp_cpuid.h"
#include "vp_state_kvm.h"
#include "vtl0/acpi_tables.h"
#include "vtl0/ram_layout.h"

namespace loader {
namespace {

// Each of `vcpus` gets the machine's CPUID: what KVM supports with the
// Hyper-V leaves of `hv` (hv/cpuid_leaves.h) and the TSC-deadline bit,
// made per VP (VpCpuid), then its XCR0 set to every XSAVE component that
// CPUID offers (OfferedXsaveComponents says why), so KVM's
// CPUID.(EAX=0DH,ECX=0):EBX matches the XCR0 the guest runs with.
base::Result<void> SetMachineCpuid(const kvm::KvmSystem& system,
                                   std::span<const kvm_cpuid_entry2> supported,
                                   const hyperv::HvConfig& hv, std::vector<kvm::Vcpu>& vcpus,
                                   uint32_t vp_count) {
  auto cpuid = hyperv::WithHvLeaves(supported, hv);
  // api.rst 4.46 (KVM_GET_SUPPORTED_CPUID): TSC-deadline mode of the
  // in-kernel LAPIC timer is not reported there; it is offered when
  // KVM_CAP_TSC_DEADLINE_TIMER is. SDM vol. 3A §11.5.4.1: CPUID.1:ECX[24].
  // With it Linux needs no LAPIC timer calibration.
  if (TRY(system.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER)) > 0)
    for (kvm_cpuid_entry2& entry : cpuid)
      if (entry.function == 1) entry.ecx |= 1u << 24;
  for (kvm::Vcpu& vcpu : vcpus) {
    const auto entries = VpCpuid(cpuid, vcpu.id(), vp_count);
    TRY(vcpu.SetCpuid(entries));
    if (const uint64_t components = OfferedXsaveComponents(entries); components != 0)
      TRY(vcpu.SetXcr0(components));
  }
  return base::Ok();
}

// hcl-loader run --test-tsc-skew-ppm: KVM's rate for new vCPUs put below
// the host's, as a KVM loaded before its host refined the TSC calibration
// has it (kvm/vcpu.cpp, Vcpu::Create, says what that breaks and repairs
// it). The integration test shows the guests' timers stay on time.
base::Result<void> SkewDefaultTsc(kvm::Vm& vm, const Options& options, const char* which) {
  if (options.test_tsc_skew_ppm == 0) return base::Ok();
  const uint32_t host_khz = TRY(vm.DefaultTscKhz());
  const auto skewed = static_cast<uint32_t>(
      host_khz - uint64_t{host_khz} * options.test_tsc_skew_ppm / 1'000'000);
  TRY(vm.SetDefaultTscKhz(skewed));
  std::printf("hcl-loader: testing: %s's new vCPUs told %u kHz, %u ppm below the host's %u kHz\n",
              which, skewed, options.test_tsc_skew_ppm, host_khz);
  return base::Ok();
}

// KVM's user memory slots number 509 on x86 (KVM_USER_MEM_SLOTS); VTL0's
// RAM uses the low ones, the legacy hole this one.
constexpr uint32_t kLegacyHoleSlot = 500;

// TLFS: the synthetic MSR range Hyper-V emulation will serve from user
// space (hyperv-vmbus.md §1.4).
constexpr kvm::MsrRange kHyperVMsrs{hv::kSyntheticMsrFirst, hv::kSyntheticMsrCount};
// VTL2's: the same, less the APIC MSRs EOI..TPR, which KVM serves in the
// kernel (cpuid_leaves.h: offered to VTL2 for lazy EOI; an EOI that must
// reach the LAPIC then costs no trip to user space).
constexpr kvm::MsrRange kVtl2HyperVMsrs[] = {
    {hv::kSyntheticMsrFirst, hyperv::kMsrApicEoi - hv::kSyntheticMsrFirst},
    {hyperv::kMsrApicTpr + 1,
     hv::kSyntheticMsrFirst + hv::kSyntheticMsrCount - (hyperv::kMsrApicTpr + 1)},
};

// Makes VTL0's VM's RAM slots match a protection layout
// (vsm/vtl0_protections.h), under the Partition's lock. Only slots that
// change are touched: those no longer in the layout go, new ones come
// (KVM slots cannot overlap, so a changed page's slot is deleted before
// its replacement exists). A VP running VTL0 that meets that gap exits as
// MMIO on RAM it may use, which VpRunner retries (loads, fetches) or
// completes under the same lock (stores): VTL0 never sees the gap.
}  // namespace

base::Result<void> RemapVtl0(Vtl0Machine& vtl0,
                             std::span<const vsm::Vtl0Protections::Slot> slots) {
  const kvm::GuestRam& ram = vtl0.view->ram();
  if (slots.size() >= kLegacyHoleSlot) return base::Error("too many VTL0 memory slots");
  auto same = [](const vsm::Vtl0Protections::Slot& a,
                 const vsm::Vtl0Protections::Slot& b) {
    return a.gpa == b.gpa && a.size_bytes == b.size_bytes && a.read_only == b.read_only;
  };
  std::vector<bool> wanted(slots.size(), true);
  for (uint32_t id = 0; id < vtl0.slots.size(); ++id) {
    if (!vtl0.slots[id]) continue;
    bool keep = false;
    for (size_t i = 0; i < slots.size() && !keep; ++i)
      if (wanted[i] && same(*vtl0.slots[id], slots[i])) keep = true, wanted[i] = false;
    if (keep) continue;
    TRY(vtl0.vm.UnmapSlot(id));
    vtl0.slots[id].reset();
  }
  uint32_t free_id = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!wanted[i]) continue;
    while (free_id < vtl0.slots.size() && vtl0.slots[free_id]) ++free_id;
    if (free_id >= kLegacyHoleSlot) return base::Error("too many VTL0 memory slots");
    if (free_id == vtl0.slots.size()) vtl0.slots.emplace_back();
    TRY(vtl0.vm.MapRam(free_id, mem::Gpa{slots[i].gpa}, ram, slots[i].gpa, slots[i].size_bytes,
                       slots[i].read_only));
    vtl0.slots[free_id] = slots[i];
  }
  return base::Ok();
}

namespace {

base::Result<std::vector<std::byte>> ReadVtl0File(const std::string& path, const char* what) {
  auto bytes = igvm::ReadFileBytes(path);
  if (!bytes) return std::move(bytes).error().Context(what);
  return std::move(*bytes);
}

// Builds VTL0's VM and loads its Linux (loader/vtl0/). VTL0's interrupt
// controllers: KVM's local APICs, with the IOAPIC left to the paravisor
// (KVM_CAP_SPLIT_IRQCHIP: its MMIO exits reach VTL2 as intercepts); no
// PIC, no PIT.
base::Result<Vtl0Machine> BuildVtl0(const Options& options, const kvm::KvmSystem& system,
                                    const kvm::GuestRam& ram, mem::GuestMemory& memory,
                                    const LoadedImage& image,
                                    std::span<const kvm_cpuid_entry2> supported,
                                    const hyperv::HvConfig& vtl2_hv) {
  std::vector<RequiredRange> vtl2 = image.required_memory;
  vtl2.push_back(kVtl2LowMemory);
  Vtl0Machine vtl0{
      TRY(vsm::VtlView::Create(0, ram, vsm::OverlayPagesFor(options.vp_count))),
      TRY(kvm::Vm::Create(system)),
      {},
      vtl0::Vtl0Ram(ram.size_bytes(), vtl2),
      vtl2_hv,
      {},
      {}};
  if (vtl0.ram.empty()) return base::Error("--mem leaves no RAM for VTL0");
  vtl0.hv.vtl = 0;
  // Slots 0..n-1: VTL0's RAM, remapped as its protections change
  // (Vtl0SlotMapper); the legacy hole has a slot of its own.
  for (const vtl0::RamRange& range : vtl0.ram) {
    const auto slot = static_cast<uint32_t>(vtl0.slots.size());
    TRY(vtl0.vm.MapRam(slot, mem::Gpa{range.gpa}, vtl0.view->ram(), range.gpa, range.size_bytes));
    vtl0.slots.push_back(vsm::Vtl0Protections::Slot{range.gpa, range.size_bytes, false});
  }
  // The PC's legacy hole reads as memory (zeros) rather than exiting: Linux
  // scans 0xF0000-0xFFFFF for firmware tables (SMBIOS, MP) byte by byte.
  // It is not RAM in the e820 map.
  TRY(vtl0.vm.MapRam(kLegacyHoleSlot, mem::Gpa{vtl0::kLegacyHoleStart}, vtl0.view->ram(),
                     vtl0::kLegacyHoleStart, vtl0::kLegacyHoleEnd - vtl0::kLegacyHoleStart));
  TRY(vtl0.vm.TrapMsrsAndUnknown(std::span(&kHyperVMsrs, 1)));
  TRY(vtl0.vm.CreateSplitIrqchip(vtl0::kIoApicPins));
  TRY(SkewDefaultTsc(vtl0.vm, options, "VTL0"));
  for (uint32_t vp = 0; vp < options.vp_count; ++vp)
    vtl0.vcpus.push_back(TRY(kvm::Vcpu::Create(vtl0.vm, vp)));
  TRY(SetMachineCpuid(system, supported, vtl0.hv, vtl0.vcpus, options.vp_count));

  const auto kernel = TRY(ReadVtl0File(options.vtl0_kernel, "--vtl0-kernel"));
  std::vector<std::byte> initrd;
  if (!options.vtl0_initrd.empty()) initrd = TRY(ReadVtl0File(options.vtl0_initrd, "--vtl0-initrd"));
  const vtl0::AcpiTables acpi =
      TRY(vtl0::BuildAcpiTables(vtl0::kAcpiGpa, options.vp_count,
                                options.vtl0_disks.empty() && !options.vtl0_nic
                                    ? std::nullopt
                                    : std::optional(vtl0::kVtl0PciWindow),
                                /*tpm=*/true));
  // The vTPM's buffer and event log (tpm/platform.h): RAM hcl reaches,
  // reserved so VTL0's kernel leaves it to tpm_crb and the event log.
  const std::array<vtl0::RamRange, 2> tpm_ranges{{{tpm::kCrbBufferGpa, tpm::kCrbBufferBytes},
                                                  {tpm::kEventLogGpa, tpm::kEventLogBytes}}};
  vtl0::LinuxBootInputs inputs;
  inputs.ram = vtl0.ram;
  inputs.kernel = kernel;
  inputs.initrd = initrd;
  inputs.command_line = options.vtl0_command_line;
  inputs.acpi_gpa = acpi.gpa;
  inputs.acpi_tables = acpi.bytes;
  inputs.acpi_rsdp_gpa = acpi.rsdp_gpa;
  inputs.reserved = tpm_ranges;
  auto boot = vtl0::LoadLinux(inputs, memory);
  if (!boot) return std::move(boot).error().Context("VTL0 kernel " + options.vtl0_kernel);
  vtl0.layout = boot->layout;
  auto applied = ApplyVpState(vtl0.vcpus[0], boot->bsp);
  if (!applied) return std::move(applied).error().Context("VTL0 VP 0 entry state");
  return vtl0;
}

}  // namespace

base::Result<Machine> BuildMachine(const Options& options, const igvm::IgvmFile& file) {
  auto system = TRY(kvm::KvmSystem::Open());
  TRY(system.Require({{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                      {KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
                      {KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
                      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
                      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
                      {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
                      {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"}}));
  const uint64_t ram_bytes = options.mem_mib << 20;
  auto ram = TRY(kvm::GuestRam::Create(ram_bytes));
  auto vtl2_view =
      TRY(vsm::VtlView::Create(2, ram, vsm::OverlayPagesFor(options.vp_count)));
  auto vm = TRY(kvm::Vm::Create(system));
  TRY(vm.MapRam(0, mem::Gpa{0}, vtl2_view->ram(), 0, ram_bytes));
  TRY(vm.TrapMsrs(kVtl2HyperVMsrs));
  // api.rst 4.24: the irqchip must exist before any vCPU; the PIT after it.
  TRY(vm.CreateIrqchip());
  TRY(vm.CreatePit());
  TRY(SkewDefaultTsc(vm, options, "VTL2"));

  // api.rst 4.7: vCPU 0 is the BSP (KVM_SET_BOOT_CPU_ID not used); under
  // the in-kernel irqchip the others start in KVM_MP_STATE_UNINITIALIZED,
  // waiting for INIT/SIPI.
  std::vector<kvm::Vcpu> vcpus;
  vcpus.reserve(options.vp_count);
  for (uint32_t vp = 0; vp < options.vp_count; ++vp)
    vcpus.push_back(TRY(kvm::Vcpu::Create(vm, vp)));
  // The guest TSC frequency (KVM_GET_TSC_KHZ works before KVM_SET_CPUID2).
  const uint32_t tsc_khz = TRY(vcpus[0].GetTscKhz());
  // The Hyper-V leaves replace KVM's (hv/cpuid_leaves.h). The frequency
  // MSRs (TLFS "Partition Privilege Flags", AccessFrequencyMsrs) tell the
  // guest the TSC rate and the in-kernel LAPIC timer's: KVM runs it at
  // 1 GHz (one bus cycle per ns, arch/x86/kvm/lapic.h APIC_BUS_CYCLE_NS).
  hyperv::HvConfig hv;
  hv.vp_count = options.vp_count;
  hv.tsc_hz = uint64_t{tsc_khz} * 1000;
  hv.apic_hz = 1'000'000'000;
  hv.isolated_vbs = options.isolation_vbs;
  const auto supported = TRY(system.SupportedCpuid());
  TRY(SetMachineCpuid(system, supported, hv, vcpus, options.vp_count));
  kvm::Vcpu& bsp = vcpus[0];

  // The TSC frequency, told to VTL2's kernel on its command line
  // (kernel-parameters.txt, tsc_early_khz=): Linux otherwise measures it
  // against the PIT (arch/x86/kernel/tsc.c, pit_calibrate_tsc), which
  // needs 1000+ port reads in 10 ms with little jitter, and a nested guest
  // in the TCG carrier gets neither ("tsc: Unable to calibrate against
  // PIT", then no TSC and no TSC-deadline timer). Placed first so the
  // user's --vtl2-cmdline can override it.
  // FIXME: with the Hyper-V leaves, a kernel built with Hyper-V guest
  // support reads HV_X64_MSR_TSC_FREQUENCY instead (Linux's
  // hv_get_tsc_khz); drop this once VTL2's kernel is one.

  auto memory = TRY(mem::GuestMemory::Create(mem::Gpa{0}, ram.bytes()));
  LoadOptions load_options;
  load_options.vp_count = options.vp_count;
  // KVM's in-kernel IOAPIC (api.rst 4.24): at the PC address, ID 0, GSI
  // base 0; KVM's default routing sends GSI 0-15 to the PIC pin and the
  // IOAPIC pin of the same number, which is what Linux assumes for ISA
  // IRQs without overrides (COM1 = pin 4; the PIT = pin 0).
  load_options.io_apic = IoApicConfig{};
  load_options.vtl2_command_line = base::StringPrintf("tsc_early_khz=%u", tsc_khz);
  // VTL0's RAM, for hcl to map and serve (hcl/cmdline.h, hcl.vtl0_ram).
  // FIXME: the boot shim could derive it from the IGVM memory map
  // parameter instead; both are the host's word.
  if (!options.no_vtl0) {
    load_options.vtl2_command_line += " hcl.vtl0_ram=";
    const char* separator = "";
    for (const vtl0::RamRange& range : vtl0::Vtl0Ram(ram_bytes, TRY(Vtl2Ranges(file)))) {
      load_options.vtl2_command_line += base::StringPrintf(
          "%s%llx-%llx", separator, static_cast<unsigned long long>(range.gpa),
          static_cast<unsigned long long>(range.gpa + range.size_bytes));
      separator = ",";
    }
  }
  if (!options.vtl2_command_line.empty())
    load_options.vtl2_command_line += " " + options.vtl2_command_line;
  auto image = TRY(LoadVsmPlatform(file, load_options, memory));

  auto applied = ApplyVpState(bsp, image.bsp);
  if (!applied) return std::move(applied).error().Context("VP 0 entry state");
  std::optional<Vtl0Machine> vtl0;
  if (!options.no_vtl0) vtl0 = TRY(BuildVtl0(options, system, ram, memory, image, supported, hv));
  return Machine{std::move(system), std::move(ram), std::move(vtl2_view), std::move(vm),
                 std::move(vcpus), std::move(memory), hv, std::move(image), std::move(vtl0)};
}


}  // namespace loader
