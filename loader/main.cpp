// hcl-loader: boots the VSM platform of an IGVM image on Linux KVM.
//
//   hcl-loader run IMAGE [options]      (hcl-loader run --help: cli_options.h)
//
// Where this host's KVM cannot run guests at speed, the loader re-runs
// itself with the same arguments inside the carrier VM (carrier_relaunch.h)
// and exits with its status; --no-carrier runs here whatever KVM is like.
//
// Before anything runs, the image is read strictly (igvm::ReadIgvm) and
// trusted or refused (image_trust.h): its SNP ID block signature over the
// launch digest recomputed from the file, by a key the loader trusts (the
// one that signed this build's image, built in, and any --trusted-key PEM
// or --trusted-key-digest HEX), with the platform binding page under that
// signature matching the VSM platform's directives, so the signature
// covers what the VSM platform loads. --allow-unsigned skips those checks
// (development only), never the format check.
//
// Each VP is a KVM vCPU (id = APIC ID = VP index, as the MADT and each
// VP's CPUID say: vp_cpuid.h) run by a host thread of its own
// (vp_runner.h), on KVM's in-kernel irqchip (local APICs, IOAPIC, PIC) and
// PIT: VP 0 starts at the image's entry state, the others wait for the
// INIT/SIPI the guest sends through its LAPIC, which KVM handles, and
// start in real mode at the SIPI vector (Linux's trampoline, in the low
// VTL2 range of memory_layout.h). COM1 (a 16550 at 0x3F8, IRQ 4) is copied
// to stdout, the CMOS RTC is at 0x70 (cmos_rtc.h) and the ACPI PM1 blocks
// at 0x400 (acpi_pm.h), all behind one locked port bus; the machine runs
// until the guest powers off through ACPI S5, every VP halts with
// interrupts disabled, or a VP fails, which stops all of them.
// FIXME: the in-kernel PIT and LAPIC timer stand in for Hyper-V's
// synthetic timers (TLFS §12, SynIC timers and the reference TSC page),
// which a later slice emulates in user space; then the PIT goes.
// Exit status:
//   0   the guest powered off ("hcl-loader: guest powered off"), or every
//       VP halted with interrupts disabled ("hcl-loader: vp0 halted" with
//       one VP, "hcl-loader: all N VPs halted")
//   1   the image was refused or could not be loaded, or KVM failed
//   2   bad arguments; or the guest failed (triple fault, KVM internal
//       error, failed entry, an exit the loader cannot handle): register
//       dump on stderr
//   124 --timeout expired
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <charconv>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/string_printf.h"
#include "carrier_relaunch.h"
#include "cli_options.h"
#include "hv/cpuid_leaves.h"
#include "hv/synthetic_msrs.h"
#include "acpi_pm.h"
#include "benchmark_port.h"
#include "cmos_rtc.h"
#include "igvm_loader.h"
#include "image_trust.h"
#include "kvm/guest_ram.h"
#include "kvm/system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "devices/machine_events.h"
#include "measure.h"
#include "reader.h"
#include "snp_id_block.h"
#include "devices/uart16550.h"
#include "run_deadline.h"
#include "vp_cpuid.h"
#include "vp_group.h"
#include "vp_runner.h"
#include "vp_state_kvm.h"
#include "vsm/partition.h"
#include "vsm/vtl_view.h"
#include "vtl0/acpi_tables.h"
#include "vtl0/linux_loader.h"

namespace {

constexpr int kExitHalted = 0;
constexpr int kExitLoadFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitGuestFailed = 2;
constexpr int kExitTimeout = 124;

// TLFS: the synthetic MSR range Hyper-V emulation will serve from user
// space (hyperv-vmbus.md §1.4).
constexpr kvm::MsrRange kHyperVMsrs{0x40000000, 0x200};

using loader::Options;

// COM1 to stdout, flushed at each line end so output interleaves sensibly
// with the loader's own stderr lines.
class StdoutSerial final : public devices::SerialOutput {
 public:
  void Put(uint8_t byte) override {
    std::fputc(byte, stdout);
    if (byte == '\n') std::fflush(stdout);
  }
};

// An interrupt line into KVM's in-kernel irqchip (KVM_IRQ_LINE). A failure
// there means the VM is broken; it is reported once, not per edge.
class KvmIrqLine final : public devices::IrqLine {
 public:
  KvmIrqLine(kvm::Vm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void Set(bool level) override {
    auto set = vm_.SetIrqLine(gsi_, level);
    if (!set && !reported_.exchange(true)) {
      std::fprintf(stderr, "hcl-loader: IRQ %u: %s\n", gsi_, set.error().message().c_str());
    }
  }

 private:
  kvm::Vm& vm_;
  uint32_t gsi_;
  std::atomic<bool> reported_{false};
};

// Reads and checks the image; the error is the refusal line.
base::Result<igvm::IgvmFile> ReadAndVerify(const Options& options) {
  // One buffer for the file: the model's data are views into it.
  auto file = TRY(igvm::ReadIgvmFile(options.image_path));
  std::vector<igvm::Sha384Digest> trusted(loader::BuiltInTrustedKeys().begin(),
                                          loader::BuiltInTrustedKeys().end());
  trusted.insert(trusted.end(), options.trusted_keys.begin(), options.trusted_keys.end());
  TRY(loader::CheckImageTrust(file, trusted,
                              options.allow_unsigned ? loader::SignatureCheck::kSkipped
                                                     : loader::SignatureCheck::kRequired));
  return file;
}

// The defaults for VTL0 when neither --vtl0-kernel nor --no-vtl0 is
// given: Debian's stock kernel that tests/harness/stock-kernel keeps in
// ${HCL_CACHE:-~/.cache/hcl}/stock-kernel/<release>/vmlinuz (the newest
// release there), and the project's test initramfs,
// BUILD/tests/guest/vtl0-initramfs.cpio.gz. Missing defaults leave the
// machine without VTL0, with a note. Resolved paths are appended to
// `args` so a carrier relaunch copies them too.
void ResolveVtl0Defaults(Options& options) {
  std::vector<std::string>& args = options.args;
  if (options.no_vtl0 || !options.vtl0_kernel.empty()) return;
  namespace fs = std::filesystem;
  const char* cache_env = std::getenv("HCL_CACHE");
  const char* home = std::getenv("HOME");
  const fs::path cache = cache_env != nullptr && *cache_env != '\0'
                             ? fs::path(cache_env)
                             : fs::path(home != nullptr ? home : "/") / ".cache/hcl";
  std::error_code error;
  fs::path newest;
  for (const auto& entry : fs::directory_iterator(cache / "stock-kernel", error))
    if (fs::is_regular_file(entry.path() / "vmlinuz", error) && entry.path() > newest)
      newest = entry.path();
  if (newest.empty()) {
    std::fprintf(stderr,
                 "hcl-loader: no VTL0 kernel (no --vtl0-kernel, none cached by "
                 "tests/harness/stock-kernel): VTL2 only\n");
    options.no_vtl0 = true;
    return;
  }
  options.vtl0_kernel = (newest / "vmlinuz").string();
  args.push_back("--vtl0-kernel");
  args.push_back(options.vtl0_kernel);
  options.file_args.push_back(args.size() - 1);
  if (!options.vtl0_initrd.empty()) return;
  auto self = loader::SelfPath();
  if (!self) return;
  const fs::path initrd =
      fs::path(*self).parent_path().parent_path() / "tests/guest/vtl0-initramfs.cpio.gz";
  if (!fs::is_regular_file(initrd, error)) return;
  options.vtl0_initrd = initrd.string();
  args.push_back("--vtl0-initrd");
  args.push_back(options.vtl0_initrd);
  options.file_args.push_back(args.size() - 1);
}

// VTL0's side of the machine (vsm/partition.h): a second KVM VM over the
// same RAM without VTL2's ranges, its vCPUs, and what it was booted with.
struct Vtl0Machine {
  std::unique_ptr<loader::vsm::VtlView> view;  // VTL0's mapping of RAM, with its overlays
  kvm::Vm vm;
  std::vector<kvm::Vcpu> vcpus;
  std::vector<loader::vtl0::RamRange> ram;
  loader::hv::HvConfig hv;
  loader::vtl0::LinuxBootLayout layout;
  // VTL0's RAM memory slots by slot number (empty: free).
  std::vector<std::optional<loader::vsm::Vtl0Protections::Slot>> slots;
};

// KVM's user memory slots number 509 on x86 (KVM_USER_MEM_SLOTS); VTL0's
// RAM uses the low ones, the legacy hole this one.
constexpr uint32_t kLegacyHoleSlot = 500;

// Makes VTL0's VM's RAM slots match a protection layout
// (vsm/vtl0_protections.h), under the Partition's lock. Only slots that
// change are touched: those no longer in the layout go, new ones come
// (KVM slots cannot overlap, so a changed page's slot is deleted before
// its replacement exists). A VP running VTL0 that meets that gap exits as
// MMIO on RAM it may use, which VpRunner retries (loads, fetches) or
// completes under the same lock (stores): VTL0 never sees the gap.
base::Result<void> RemapVtl0(Vtl0Machine& vtl0,
                             std::span<const loader::vsm::Vtl0Protections::Slot> slots) {
  const kvm::GuestRam& ram = vtl0.view->ram();
  if (slots.size() >= kLegacyHoleSlot) return base::Error("too many VTL0 memory slots");
  auto same = [](const loader::vsm::Vtl0Protections::Slot& a,
                 const loader::vsm::Vtl0Protections::Slot& b) {
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

struct Machine {
  kvm::KvmSystem system;
  kvm::GuestRam ram;
  // VTL2's mapping of RAM, with its overlay pages: its VM's memory slot,
  // and what the loader reads and writes on VTL2's behalf.
  std::unique_ptr<loader::vsm::VtlView> vtl2_view;
  kvm::Vm vm;
  std::vector<kvm::Vcpu> vcpus;  // index = VP index = vCPU id = APIC ID
  mem::GuestMemory memory;       // over ram: loading the image and VTL0's kernel only
  loader::hv::HvConfig hv;       // the Hyper-V interface (hv/cpuid_leaves.h)
  loader::LoadedImage image;
  std::optional<Vtl0Machine> vtl0;
};

// VTL0's RAM: [0, ram_bytes) without VTL2's ranges and the legacy
// 0xA0000-0xFFFFF hole (VGA, option ROMs, BIOS; no RAM there on a PC).
constexpr uint64_t kLegacyHoleStart = 0xA0000;
constexpr uint64_t kLegacyHoleEnd = 0x100000;

std::vector<loader::vtl0::RamRange> Vtl0Ram(uint64_t ram_bytes,
                                            std::span<const loader::RequiredRange> vtl2) {
  std::vector<std::pair<uint64_t, uint64_t>> holes = {{kLegacyHoleStart, kLegacyHoleEnd}};
  for (const loader::RequiredRange& range : vtl2)
    holes.emplace_back(range.gpa, range.gpa + range.size_bytes);
  std::sort(holes.begin(), holes.end());
  std::vector<loader::vtl0::RamRange> ram;
  uint64_t at = 0;
  for (const auto& [start, end] : holes) {
    if (start > at) ram.push_back({at, std::min(start, ram_bytes) - at});
    at = std::max(at, end);
    if (at >= ram_bytes) break;
  }
  if (at < ram_bytes) ram.push_back({at, ram_bytes - at});
  std::erase_if(ram, [](const loader::vtl0::RamRange& r) { return r.size_bytes == 0; });
  return ram;
}

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
                                    const loader::LoadedImage& image,
                                    std::span<const kvm_cpuid_entry2> supported,
                                    const loader::hv::HvConfig& vtl2_hv) {
  std::vector<loader::RequiredRange> vtl2 = image.required_memory;
  vtl2.push_back(loader::kVtl2LowMemory);
  Vtl0Machine vtl0{
      TRY(loader::vsm::VtlView::Create(0, ram, loader::vsm::OverlayPagesFor(options.vp_count))),
      TRY(kvm::Vm::Create(system)),
      {},
      Vtl0Ram(ram.size_bytes(), vtl2),
      vtl2_hv,
      {},
      {}};
  if (vtl0.ram.empty()) return base::Error("--mem leaves no RAM for VTL0");
  vtl0.hv.vtl = 0;
  // Slots 0..n-1: VTL0's RAM, remapped as its protections change
  // (Vtl0SlotMapper); the legacy hole has a slot of its own.
  for (const loader::vtl0::RamRange& range : vtl0.ram) {
    const auto slot = static_cast<uint32_t>(vtl0.slots.size());
    TRY(vtl0.vm.MapRam(slot, mem::Gpa{range.gpa}, vtl0.view->ram(), range.gpa, range.size_bytes));
    vtl0.slots.push_back(loader::vsm::Vtl0Protections::Slot{range.gpa, range.size_bytes, false});
  }
  // The PC's legacy hole reads as memory (zeros) rather than exiting: Linux
  // scans 0xF0000-0xFFFFF for firmware tables (SMBIOS, MP) byte by byte.
  // It is not RAM in the e820 map.
  TRY(vtl0.vm.MapRam(kLegacyHoleSlot, mem::Gpa{kLegacyHoleStart}, vtl0.view->ram(),
                     kLegacyHoleStart, kLegacyHoleEnd - kLegacyHoleStart));
  TRY(vtl0.vm.TrapMsrsAndUnknown(std::span(&kHyperVMsrs, 1)));
  TRY(vtl0.vm.CreateSplitIrqchip(loader::vtl0::kIoApicPins));
  for (uint32_t vp = 0; vp < options.vp_count; ++vp)
    vtl0.vcpus.push_back(TRY(kvm::Vcpu::Create(vtl0.vm, vp)));
  auto cpuid = loader::hv::WithHvLeaves(supported, vtl0.hv);
  if (TRY(system.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER)) > 0)
    for (kvm_cpuid_entry2& entry : cpuid)
      if (entry.function == 1) entry.ecx |= 1u << 24;
  for (kvm::Vcpu& vcpu : vtl0.vcpus)
    TRY(vcpu.SetCpuid(loader::VpCpuid(cpuid, vcpu.id(), options.vp_count)));

  const auto kernel = TRY(ReadVtl0File(options.vtl0_kernel, "--vtl0-kernel"));
  std::vector<std::byte> initrd;
  if (!options.vtl0_initrd.empty()) initrd = TRY(ReadVtl0File(options.vtl0_initrd, "--vtl0-initrd"));
  const loader::vtl0::AcpiTables acpi =
      TRY(loader::vtl0::BuildAcpiTables(loader::vtl0::kAcpiGpa, options.vp_count));
  loader::vtl0::LinuxBootInputs inputs;
  inputs.ram = vtl0.ram;
  inputs.kernel = kernel;
  inputs.initrd = initrd;
  inputs.command_line = options.vtl0_command_line;
  inputs.acpi_gpa = acpi.gpa;
  inputs.acpi_tables = acpi.bytes;
  inputs.acpi_rsdp_gpa = acpi.rsdp_gpa;
  auto boot = loader::vtl0::LoadLinux(inputs, memory);
  if (!boot) return std::move(boot).error().Context("VTL0 kernel " + options.vtl0_kernel);
  vtl0.layout = boot->layout;
  auto applied = loader::ApplyVpState(vtl0.vcpus[0], boot->bsp);
  if (!applied) return std::move(applied).error().Context("VTL0 VP 0 entry state");
  return vtl0;
}

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
      TRY(loader::vsm::VtlView::Create(2, ram, loader::vsm::OverlayPagesFor(options.vp_count)));
  auto vm = TRY(kvm::Vm::Create(system));
  TRY(vm.MapRam(0, mem::Gpa{0}, vtl2_view->ram(), 0, ram_bytes));
  TRY(vm.TrapMsrs(std::span(&kHyperVMsrs, 1)));
  // api.rst 4.24: the irqchip must exist before any vCPU; the PIT after it.
  TRY(vm.CreateIrqchip());
  TRY(vm.CreatePit());

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
  loader::hv::HvConfig hv;
  hv.vp_count = options.vp_count;
  hv.tsc_hz = uint64_t{tsc_khz} * 1000;
  hv.apic_hz = 1'000'000'000;
  const auto supported = TRY(system.SupportedCpuid());
  auto cpuid = loader::hv::WithHvLeaves(supported, hv);
  // api.rst 4.46 (KVM_GET_SUPPORTED_CPUID): TSC-deadline mode of the
  // in-kernel LAPIC timer is not reported there; it is offered when
  // KVM_CAP_TSC_DEADLINE_TIMER is. SDM vol. 3A §11.5.4.1: CPUID.1:ECX[24].
  // With it Linux needs no LAPIC timer calibration.
  if (TRY(system.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER)) > 0)
    for (kvm_cpuid_entry2& entry : cpuid)
      if (entry.function == 1) entry.ecx |= 1u << 24;
  for (kvm::Vcpu& vcpu : vcpus)
    TRY(vcpu.SetCpuid(loader::VpCpuid(cpuid, vcpu.id(), options.vp_count)));
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
  loader::LoadOptions load_options;
  load_options.vp_count = options.vp_count;
  // KVM's in-kernel IOAPIC (api.rst 4.24): at the PC address, ID 0, GSI
  // base 0; KVM's default routing sends GSI 0-15 to the PIC pin and the
  // IOAPIC pin of the same number, which is what Linux assumes for ISA
  // IRQs without overrides (COM1 = pin 4; the PIT = pin 0).
  load_options.io_apic = loader::IoApicConfig{};
  load_options.vtl2_command_line = base::StringPrintf("tsc_early_khz=%u", tsc_khz);
  // VTL0's RAM, for hcl to map and serve (hcl/cmdline.h, hcl.vtl0_ram).
  // FIXME: the boot shim could derive it from the IGVM memory map
  // parameter instead; both are the host's word.
  if (!options.no_vtl0) {
    load_options.vtl2_command_line += " hcl.vtl0_ram=";
    const char* separator = "";
    for (const loader::vtl0::RamRange& range : Vtl0Ram(ram_bytes, TRY(loader::Vtl2Ranges(file)))) {
      load_options.vtl2_command_line += base::StringPrintf(
          "%s%llx-%llx", separator, static_cast<unsigned long long>(range.gpa),
          static_cast<unsigned long long>(range.gpa + range.size_bytes));
      separator = ",";
    }
  }
  if (!options.vtl2_command_line.empty())
    load_options.vtl2_command_line += " " + options.vtl2_command_line;
  auto image = TRY(loader::LoadVsmPlatform(file, load_options, memory));

  auto applied = loader::ApplyVpState(bsp, image.bsp);
  if (!applied) return std::move(applied).error().Context("VP 0 entry state");
  std::optional<Vtl0Machine> vtl0;
  if (!options.no_vtl0) vtl0 = TRY(BuildVtl0(options, system, ram, memory, image, supported, hv));
  return Machine{std::move(system), std::move(ram), std::move(vtl2_view), std::move(vm),
                 std::move(vcpus), std::move(memory), hv, std::move(image), std::move(vtl0)};
}

// One VP's host thread: runs its VpRunner until the machine stops.
struct VpThread {
  loader::VpRunner runner;
  const loader::RunDeadline* deadline;
  uint64_t exits;  // written by the thread, read after pthread_join
  pthread_t thread;
  bool started;
};

extern "C" void* RunVpThread(void* arg) {
  auto* self = static_cast<VpThread*>(arg);
  self->exits = self->runner.Run(*self->deadline);
  return nullptr;
}

int Run(const Options& options, const igvm::IgvmFile& file) {
  auto machine = BuildMachine(options, file);
  if (!machine) {
    std::fprintf(stderr, "hcl-loader: %s\n", machine.error().message().c_str());
    return kExitLoadFailed;
  }
  const loader::LoadedImage& image = machine->image;
  std::fprintf(stderr,
               "hcl-loader: VSM platform loaded: %llu pages, %llu parameter pages, VTL%u entry "
               "at 0x%llx%s\n",
               static_cast<unsigned long long>(image.pages_loaded),
               static_cast<unsigned long long>(image.parameter_pages), image.bsp.vtl,
               static_cast<unsigned long long>(image.bsp.rip.value_or(0)),
               options.allow_unsigned ? " (signature not checked)" : ", signature verified");
  StdoutSerial serial_out;
  devices::Uart16550 com1(serial_out);
  KvmIrqLine com1_irq(machine->vm, devices::Uart16550::kCom1Irq);
  com1.ConnectIrq(com1_irq);
  devices::MachineEvents events;
  loader::AcpiPm1 pm1(events);
  loader::CmosRtc rtc([] { return std::time(nullptr); });
  devices::PortBus ports;
  for (auto attached :
       {ports.Attach(devices::Uart16550::kCom1Base, devices::Uart16550::kRegisterCount, com1),
        ports.Attach(loader::AcpiPm1::kPm1Base, loader::AcpiPm1::kRegisterBytes, pm1),
        ports.Attach(loader::CmosRtc::kBase, loader::CmosRtc::kPortCount, rtc)}) {
    if (!attached) {
      std::fprintf(stderr, "hcl-loader: %s\n", attached.error().message().c_str());
      return kExitLoadFailed;
    }
  }

  // No --timeout: a deadline far enough away never to matter.
  const loader::RunDeadline deadline(
      options.timeout_s ? std::chrono::milliseconds(std::chrono::seconds(*options.timeout_s))
                        : std::chrono::milliseconds(std::chrono::hours(24 * 365)));
  if (auto installed = loader::InstallKickHandler(); !installed) {
    std::fprintf(stderr, "hcl-loader: %s\n", installed.error().message().c_str());
    return kExitLoadFailed;
  }
  loader::VpGroup group(options.vp_count);
  // The partition's reference time (TLFS "Partition Reference Counter"):
  // 100 ns ticks since now, one monotonic clock for every VP.
  const auto partition_start = std::chrono::steady_clock::now();
  const loader::hv::ReferenceClock reference_clock = [partition_start] {
    const auto since = std::chrono::steady_clock::now() - partition_start;
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since).count() / 100);
  };
  std::vector<loader::hv::SyntheticMsrs> msrs;
  msrs.reserve(options.vp_count);
  // GUEST_OS_ID, HYPERCALL and REFERENCE_TSC: one per VTL of the partition.
  const auto vtl2_partition_msrs = std::make_shared<loader::hv::PartitionMsrs>();
  for (const kvm::Vcpu& vcpu : machine->vcpus)
    msrs.emplace_back(vcpu.id(), machine->hv, *machine->vtl2_view, reference_clock,
                      vtl2_partition_msrs);
  // VTL0: its own synthetic MSRs and SynIC per VP, and the host's port
  // bus for the ports VTL2 does not intercept (ACPI PM1: VTL0's S5 ends
  // the machine too).
  std::vector<loader::hv::SyntheticMsrs> vtl0_msrs;
  loader::AcpiPm1 vtl0_pm1(events);
  loader::BenchmarkPort vtl0_benchmark_port;
  devices::PortBus vtl0_ports;
  if (machine->vtl0) {
    vtl0_msrs.reserve(options.vp_count);
    const auto vtl0_partition_msrs = std::make_shared<loader::hv::PartitionMsrs>();
    for (const kvm::Vcpu& vcpu : machine->vtl0->vcpus)
      vtl0_msrs.emplace_back(vcpu.id(), machine->vtl0->hv, *machine->vtl0->view, reference_clock,
                             vtl0_partition_msrs);
    for (auto attached : {vtl0_ports.Attach(loader::AcpiPm1::kPm1Base,
                                            loader::AcpiPm1::kRegisterBytes, vtl0_pm1),
                          vtl0_ports.Attach(loader::BenchmarkPort::kPort, 1, vtl0_benchmark_port)}) {
      if (!attached) {
        std::fprintf(stderr, "hcl-loader: %s\n", attached.error().message().c_str());
        return kExitLoadFailed;
      }
    }
    std::fprintf(stderr, "hcl-loader: VTL0: %s%s%s\n", options.vtl0_kernel.c_str(),
                 options.vtl0_initrd.empty() ? "" : " + ", options.vtl0_initrd.c_str());
  }
  loader::vsm::Partition partition(options.vp_count,
                                   machine->vtl0 ? &machine->vtl0->vm : nullptr, machine->vm);
  for (uint32_t vp = 0; vp < options.vp_count; ++vp)
    partition.SetVpSynics(vp, machine->vtl0 ? &vtl0_msrs[vp] : nullptr, &msrs[vp]);
  partition.SetKick([&group](uint32_t vp) { group.Kick(vp); });
  if (machine->vtl0) {
    std::vector<loader::vsm::Vtl0Protections::Range> ranges;
    for (const loader::vtl0::RamRange& range : machine->vtl0->ram)
      ranges.push_back({range.gpa, range.size_bytes});
    Vtl0Machine& vtl0 = *machine->vtl0;
    partition.SetVtl0Memory(std::move(ranges), vtl0.view->memory(),
                            [&vtl0](auto slots) { return RemapVtl0(vtl0, slots); });
  }
  loader::MachineShared shared;
  shared.vtl2_ports = &ports;
  shared.vtl0_ports = machine->vtl0 ? &vtl0_ports : nullptr;
  shared.events = &events;
  shared.group = &group;
  shared.partition = &partition;
  shared.memory = &machine->vtl2_view->memory();
  shared.trace_vtl_switches = options.trace_vtl;
  std::vector<VpThread> threads;
  threads.reserve(options.vp_count);
  for (kvm::Vcpu& vcpu : machine->vcpus) {
    const uint32_t vp = vcpu.id();
    loader::VpVtls vtls{&vcpu, &msrs[vp], nullptr, nullptr};
    if (machine->vtl0) {
      vtls.vtl0 = &machine->vtl0->vcpus[vp];
      vtls.vtl0_msrs = &vtl0_msrs[vp];
    }
    threads.push_back(VpThread{loader::VpRunner(vtls, shared), &deadline, 0, {}, false});
  }
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t vp = 0; vp < options.vp_count; ++vp) {
    VpThread& thread = threads[vp];
    const int err = pthread_create(&thread.thread, nullptr, RunVpThread, &thread);
    if (err != 0) {
      group.RequestStop({loader::StopReason::kVcpuError, vp,
                         base::Error::FromErrno("pthread_create", err).message()});
      break;
    }
    thread.started = true;
    group.SetThread(vp, thread.thread);
  }
  uint64_t exits = 0;
  for (VpThread& thread : threads) {
    if (!thread.started) continue;
    pthread_join(thread.thread, nullptr);
    exits += thread.exits;
  }
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  std::fflush(stdout);
  // Every VP thread returns only once a stop is recorded.
  const loader::MachineStop stop = group.stop().value_or(
      loader::MachineStop{loader::StopReason::kVcpuError, 0, "no stop recorded"});
  const kvm::Vcpu& stopper = machine->vcpus.at(stop.vp);
  switch (stop.reason) {
    case loader::StopReason::kPoweredOff:
      // The format tests/bench/boot/boot-report parses; exits of all VPs.
      std::printf("hcl-loader: guest powered off (%llu exits, %lld ms)\n",
                  static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      std::fflush(stdout);
      return kExitHalted;
    case loader::StopReason::kHalted:
      if (options.vp_count == 1)
        std::printf("hcl-loader: vp0 halted (%llu exits, %lld ms)\n",
                    static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      else
        std::printf("hcl-loader: all %u VPs halted (%llu exits, %lld ms)\n", options.vp_count,
                    static_cast<unsigned long long>(exits), static_cast<long long>(elapsed_ms));
      std::fflush(stdout);
      return kExitHalted;
    case loader::StopReason::kTimedOut:
      std::fprintf(stderr, "hcl-loader: timed out after %u s\n", options.timeout_s.value_or(0));
      // Where each VP was, for a boot that hung.
      for (const VpThread& thread : threads) {
        const kvm::Vcpu& vcpu = thread.runner.vcpu();
        auto mp_state = vcpu.GetMpState();
        auto regs = vcpu.GetRegs();
        std::fprintf(stderr,
                     "hcl-loader: vp%u: %llu exits, %llu VTL switches, in VTL%u; VTL2: mp_state %d, "
                     "rip 0x%llx, rflags 0x%llx\n",
                     vcpu.id(), static_cast<unsigned long long>(thread.exits),
                     static_cast<unsigned long long>(thread.runner.vtl_switches()),
                     thread.runner.active_vtl(), mp_state ? static_cast<int>(*mp_state) : -1,
                     regs ? static_cast<unsigned long long>(regs->rip) : 0ULL,
                     regs ? static_cast<unsigned long long>(regs->rflags) : 0ULL);
        if (const kvm::Vcpu* vtl0 = thread.runner.vtl0_vcpu()) {
          auto vtl0_mp = vtl0->GetMpState();
          auto vtl0_regs = vtl0->GetRegs();
          std::fprintf(stderr, "hcl-loader: vp%u: VTL0: mp_state %d, rip 0x%llx, rflags 0x%llx\n",
                       vcpu.id(), vtl0_mp ? static_cast<int>(*vtl0_mp) : -1,
                       vtl0_regs ? static_cast<unsigned long long>(vtl0_regs->rip) : 0ULL,
                       vtl0_regs ? static_cast<unsigned long long>(vtl0_regs->rflags) : 0ULL);
        }
      }
      return kExitTimeout;
    case loader::StopReason::kHaltedInterruptible:
      std::fprintf(
          stderr, "hcl-loader: vp%u halted with interrupts enabled and no interrupt source yet\n%s",
          stop.vp, loader::DumpVcpu(stopper).c_str());
      return kExitGuestFailed;
    case loader::StopReason::kVcpuError:
      std::fprintf(stderr, "hcl-loader: vp%u: %s\n%s", stop.vp, stop.detail.c_str(),
                   loader::DumpVcpu(stopper).c_str());
      return kExitGuestFailed;
    case loader::StopReason::kTripleFault:
    case loader::StopReason::kInternalError:
    case loader::StopReason::kFailEntry:
    case loader::StopReason::kUnhandledExit: {
      // The VTL that was running when the VP stopped.
      const loader::VpRunner& runner = threads.at(stop.vp).runner;
      const kvm::Vcpu& failed = runner.active_vtl() == 0 && runner.vtl0_vcpu() != nullptr
                                    ? *runner.vtl0_vcpu()
                                    : stopper;
      std::fprintf(stderr, "hcl-loader: vp%u stopped: %s%s\n%s", stop.vp, stop.detail.c_str(),
                   runner.vtl0_vcpu() == nullptr ? ""
                   : runner.active_vtl() == 0     ? " (in VTL0)"
                                                  : " (in VTL2)",
                   loader::DumpVcpu(failed).c_str());
      return kExitGuestFailed;
    }
  }
  return kExitGuestFailed;
}

// Execs the carrier (never returns) when this host's KVM is unusable and
// no carrier-run has decided already; otherwise returns to run here.
void MaybeRunInCarrier(const Options& options) {
  const std::vector<std::string>& args = options.args;
  // carrier-run sets HCL_CARRIER for its command in both of its modes.
  if (std::getenv("HCL_CARRIER") != nullptr) return;
  auto self = loader::SelfPath();
  if (!self) return;
  const std::string kvm_probe = loader::FindKvmProbe(*self);
  const loader::HostKvmVerdict verdict = loader::CheckHostKvm(kvm_probe);
  if (verdict.usable) return;
  const std::string carrier_run = loader::FindCarrierRun();
  if (carrier_run.empty()) {
    std::fprintf(stderr,
                 "hcl-loader: this host's KVM looks unusable (%s) and carrier-run was not found "
                 "(HCL_CARRIER_RUN); running here\n",
                 verdict.reason.c_str());
    return;
  }
  loader::CarrierPlan plan;
  plan.carrier_run = carrier_run;
  plan.kvm_probe = kvm_probe;
  plan.loader = *self;
  plan.image = options.image_path;
  plan.args.assign(args.begin(), args.end());
  plan.image_arg = options.image_arg;
  plan.file_args = options.file_args;
  plan.two_vms = !options.no_vtl0;
  plan.vp_count = options.vp_count;
  plan.guest_mem_mib = options.mem_mib;
  plan.timeout_s = options.timeout_s;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  plan.host_cpus = cpus > 0 ? static_cast<uint32_t>(cpus) : 1;
  std::fprintf(stderr, "hcl-loader: this host's KVM is unusable (%s): running in the carrier VM\n",
               verdict.reason.c_str());
  const base::Error error = loader::ExecCarrier(plan);
  std::fprintf(stderr, "hcl-loader: %s; running here\n", error.message().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  auto command = loader::ParseArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!command) {
    std::fprintf(stderr, "hcl-loader: %s\n", command.error().message().c_str());
    return kExitUsage;
  }
  if (const auto* help = std::get_if<loader::HelpText>(&*command)) {
    std::fputs(help->text.c_str(), stdout);
    return 0;
  }
  Options& options = std::get<Options>(*command);
  // The image is checked here first, so a refusal costs no carrier boot.
  auto file = ReadAndVerify(options);
  if (!file) {
    std::fprintf(stderr, "hcl-loader: refusing %s: %s\n", options.image_path.c_str(),
                 file.error().message().c_str());
    return kExitLoadFailed;
  }
  ResolveVtl0Defaults(options);
  if (!options.no_carrier) MaybeRunInCarrier(options);
  return Run(options, *file);
}
