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
// to stdout, the CMOS RTC is at 0x70 (devices/cmos_rtc.h) and the ACPI PM1
// blocks at 0x400 (devices/acpi_pm.h), all behind one locked port bus; the machine runs
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
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/string_printf.h"
#include "carrier_relaunch.h"
#include "cli_options.h"
#include "machine.h"
#include "stop_report.h"
#include "hyperv/synthetic_msrs.h"
#include "benchmark_port.h"
#include "image_trust.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "devices/acpi_pm.h"
#include "devices/cmos_rtc.h"
#include "devices/reset_ports.h"
#include "devices/machine_events.h"
#include "devices/guest_state_file.h"
#include "devices/file_disk.h"
#include "net/backend.h"
#include "os/unique_fd.h"
#include "devices/vtl_pci_bus.h"
#include "measure.h"
#include "snp_id_block.h"
#include "vtl0/acpi_tables.h"
#include "reader.h"
#include "devices/uart16550.h"
#include "run_deadline.h"
#include "vp_group.h"
#include "vp_runner.h"
#include "vsm/partition.h"

namespace {

using loader::kExitLoadFailed;
using loader::kExitUsage;

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

// --guest-state: the file made if missing (refused if truncated), and the
// platform secret resolved (the default one made on first use) and named
// in `args`, so a carrier relaunch copies it in. Before the relaunch: the
// files live on this host.
base::Result<void> PrepareGuestState(Options& options) {
  if (options.guest_state.empty()) return base::Ok();
  if (TRY(loader::devices::PrepareGuestStateFile(options.guest_state)))
    std::fprintf(stderr, "hcl-loader: guest state %s: created (%llu bytes)\n",
                 options.guest_state.c_str(),
                 static_cast<unsigned long long>(loader::devices::kGuestStateBytes));
  if (options.platform_secret.empty()) {
    options.platform_secret = loader::devices::DefaultPlatformSecretPath();
    options.args.push_back("--platform-secret");
    options.args.push_back(options.platform_secret);
    options.file_args.push_back(options.args.size() - 1);
  }
  TRY(loader::devices::LoadPlatformSecret(options.platform_secret, /*create=*/true));
  return base::Ok();
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
  auto machine = loader::BuildMachine(options, file);
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
  devices::AcpiPm1 pm1(events);
  devices::CmosRtc rtc([] { return std::time(nullptr); });
  // The PC's reset port, for VTL2 and (below) VTL0, each tagged with its
  // VTL: VTL0's reboot resets the whole partition, as on Hyper-V, and the
  // loader starts the machine again; VTL2's is the paravisor failing.
  devices::KeyboardControllerReset kbd_reset(events, 2);
  devices::PortBus ports;
  for (auto attached :
       {ports.Attach(devices::Uart16550::kCom1Base, devices::Uart16550::kRegisterCount, com1),
        ports.Attach(devices::AcpiPm1::kPm1Base, devices::AcpiPm1::kRegisterBytes, pm1),
        ports.Attach(devices::CmosRtc::kBase, devices::CmosRtc::kPortCount, rtc),
        ports.Attach(devices::KeyboardControllerReset::kPort, 1, kbd_reset)}) {
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
  const loader::hyperv::ReferenceClock reference_clock = [partition_start] {
    const auto since = std::chrono::steady_clock::now() - partition_start;
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since).count() / 100);
  };
  std::vector<loader::hyperv::SyntheticMsrs> msrs;
  msrs.reserve(options.vp_count);
  // GUEST_OS_ID, HYPERCALL and REFERENCE_TSC: one per VTL of the partition.
  const auto vtl2_partition_msrs = std::make_shared<loader::hyperv::PartitionMsrs>();
  // A VP's TSC as its VTL sees it: the reference TSC page's scale and
  // offset come from it (each VTL is its own KVM VM, with its own TSC offset).
  const auto guest_tsc = [](const kvm::Vcpu& vcpu) -> loader::hyperv::GuestTscReader {
    return [&vcpu]() -> std::optional<uint64_t> {
      auto state = vcpu.GetTscState();
      if (!state) return std::nullopt;
      return state->tsc;
    };
  };
  for (const kvm::Vcpu& vcpu : machine->vcpus) {
    msrs.emplace_back(vcpu.id(), machine->hv, *machine->vtl2_view, reference_clock,
                      vtl2_partition_msrs);
    msrs.back().SetGuestTsc(guest_tsc(vcpu));
  }
  // VTL0: its own synthetic MSRs and SynIC per VP, and the host's port
  // bus for the ports VTL2 does not intercept (ACPI PM1: VTL0's S5 ends
  // the machine too; the CMOS RTC, which Hyper-V's host emulates for the
  // guest: without it Linux finds UIP always set, polls the RTC for a
  // second, about 40,000 exits, and starts its clock at 1970).
  std::vector<loader::hyperv::SyntheticMsrs> vtl0_msrs;
  devices::AcpiPm1 vtl0_pm1(events);
  devices::KeyboardControllerReset vtl0_kbd_reset(events, 0);
  devices::CmosRtc vtl0_rtc([] { return std::time(nullptr); });
  loader::BenchmarkPort vtl0_benchmark_port;
  devices::PortBus vtl0_ports;
  if (machine->vtl0) {
    vtl0_msrs.reserve(options.vp_count);
    const auto vtl0_partition_msrs = std::make_shared<loader::hyperv::PartitionMsrs>();
    for (const kvm::Vcpu& vcpu : machine->vtl0->vcpus) {
      vtl0_msrs.emplace_back(vcpu.id(), machine->vtl0->hv, *machine->vtl0->view, reference_clock,
                             vtl0_partition_msrs);
      vtl0_msrs.back().SetGuestTsc(guest_tsc(vcpu));
    }
    for (auto attached : {vtl0_ports.Attach(devices::AcpiPm1::kPm1Base,
                                            devices::AcpiPm1::kRegisterBytes, vtl0_pm1),
                          vtl0_ports.Attach(devices::CmosRtc::kBase, devices::CmosRtc::kPortCount,
                                            vtl0_rtc),
                          vtl0_ports.Attach(loader::BenchmarkPort::kPort, 1, vtl0_benchmark_port),
                          vtl0_ports.Attach(devices::KeyboardControllerReset::kPort, 1,
                                            vtl0_kbd_reset)}) {
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
  partition.SetVtl2InterruptHook([&group](uint32_t vp) { group.RaisedVtl2Interrupt(vp); });
  // --guest-state: VTL2 derives the vTPM's keys from the platform key,
  // which mixes the host secret with this image's launch measurement.
  std::optional<loader::vsm::PlatformKey> platform_key;
  std::optional<loader::vsm::EmulatedSnpReporter> platform_reporter;
  if (!options.guest_state.empty()) {
    auto secret = loader::devices::LoadPlatformSecret(options.platform_secret, /*create=*/false);
    auto measurement = igvm::MeasureVbs(file);
    if (!secret || !measurement) {
      std::fprintf(stderr, "hcl-loader: platform key: %s\n",
                   (!secret ? secret.error() : measurement.error()).message().c_str());
      return kExitLoadFailed;
    }
    platform_key.emplace(*secret, *measurement);
    partition.SetPlatformKey(&*platform_key);
    // The vTPM's attestation key is bound to an emulated hardware report
    // of this image's SNP launch (vsm/platform_report.h).
    auto reporter = [&]() -> base::Result<loader::vsm::EmulatedSnpReporter> {
      const auto launch = TRY(igvm::ExpectedSnpLaunch(file, igvm::VmsaOrder::kDirectiveOrder));
      const uint64_t policy = TRY(igvm::SnpPolicy(file));
      return loader::vsm::EmulatedSnpReporter::Create(*secret, launch, policy);
    }();
    if (!reporter) {
      std::fprintf(stderr, "hcl-loader: emulated platform report: %s\n",
                   reporter.error().message().c_str());
      return kExitLoadFailed;
    }
    platform_reporter.emplace(std::move(*reporter));
    partition.SetPlatformReporter(&*platform_reporter);
  }
  // --isolation vbs: every page private until VTL2 shares it.
  std::unique_ptr<loader::vsm::HostVisibility> host_visibility;
  if (options.isolation_vbs) {
    host_visibility = std::make_unique<loader::vsm::HostVisibility>(
        mem::ToU64(machine->memory.base()), machine->memory.size_bytes());
    partition.SetHostVisibility(host_visibility.get());
    std::fprintf(stderr,
                 "hcl-loader: isolation vbs: guest RAM is private; VTL2's devices reach only "
                 "pages VTL2 makes host-visible\n");
  }
  if (machine->vtl0) {
    std::vector<loader::vsm::Vtl0Protections::Range> ranges;
    for (const loader::vtl0::RamRange& range : machine->vtl0->ram)
      ranges.push_back({range.gpa, range.size_bytes});
    loader::Vtl0Machine& vtl0 = *machine->vtl0;
    partition.SetVtl0Memory(std::move(ranges), vtl0.view->memory(),
                            [&vtl0](auto slots) { return loader::RemapVtl0(vtl0, slots); });
  }
  // Disks (--disk for VTL2, --disk-vtl0 for VTL0) and NICs (--nic,
  // --nic-vtl0): an NVMe controller and a MANA NIC on each VTL's PCI bus.
  // VTL0's devices may reach by DMA only what VTL0 may touch.
  std::unique_ptr<loader::devices::VtlPciBus> vtl2_storage, vtl0_storage;
  {
    const auto specs = [](const std::vector<std::string>& given) {
      std::vector<loader::devices::DiskSpec> out;
      for (const std::string& text : given) out.push_back(*loader::devices::ParseDiskSpec(text));
      return out;
    };
    const std::optional<loader::devices::DiskSpec> guest_state =
        options.guest_state.empty()
            ? std::nullopt
            : std::optional(*loader::devices::ParseDiskSpec(options.guest_state));
    if (!options.disks.empty() || guest_state || options.nic) {
      loader::devices::VtlPciDevices devices;
      devices.disks = specs(options.disks);
      devices.guest_state = guest_state ? &*guest_state : nullptr;
      devices.nic = options.nic ? &*options.nic : nullptr;
      devices.nic_mac = loader::devices::kVtl2NicMac;
      auto storage = loader::devices::VtlPciBus::Create(
          devices, loader::devices::kVtl2PciWindow, options.vp_count, machine->memory,
          machine->vm,
          host_visibility ? loader::devices::GuestDma::Visibility(
                                [visibility = host_visibility.get()](
                                    uint64_t gpa, uint64_t bytes, bool device_writes) {
                                  return visibility->Allows(gpa, bytes, device_writes);
                                })
                          : nullptr,
          [&group, &options](uint32_t apic_id) {
            // APIC ID = VP index here (machine.h).
            if (apic_id < options.vp_count) group.RaisedVtl2Interrupt(apic_id);
          });
      if (!storage) {
        std::fprintf(stderr, "hcl-loader: %s\n", storage.error().message().c_str());
        return kExitLoadFailed;
      }
      vtl2_storage = std::move(*storage);
    }
    if ((!options.vtl0_disks.empty() || options.vtl0_nic) && machine->vtl0) {
      const auto window = loader::vtl0::kVtl0PciWindow;
      loader::devices::VtlPciDevices devices;
      devices.disks = specs(options.vtl0_disks);
      devices.nic = options.vtl0_nic ? &*options.vtl0_nic : nullptr;
      devices.nic_mac = loader::devices::kVtl0NicMac;
      auto storage = loader::devices::VtlPciBus::Create(
          devices, {window.mmio_base, window.mmio_bytes}, options.vp_count, machine->memory,
          machine->vtl0->vm,
          [&partition](uint64_t gpa, uint64_t bytes, bool device_writes) {
            return bytes != 0 && partition.ClassifyVtl0Range(gpa, bytes, device_writes) ==
                                     loader::vsm::Partition::Vtl0Access::kAllowed;
          });
      if (!storage) {
        std::fprintf(stderr, "hcl-loader: %s\n", storage.error().message().c_str());
        return kExitLoadFailed;
      }
      vtl0_storage = std::move(*storage);
    }
    for (auto [bus, storage] : {std::pair{&ports, vtl2_storage.get()},
                                std::pair{&vtl0_ports, vtl0_storage.get()}}) {
      if (storage == nullptr) continue;
      if (auto attached = bus->Attach(pci::kConfigAddressPort, pci::kConfigPortCount, storage->bus());
          !attached) {
        std::fprintf(stderr, "hcl-loader: %s\n", attached.error().message().c_str());
        return kExitLoadFailed;
      }
    }
  }
  loader::MachineShared shared;
  shared.tsc_hz = machine->hv.tsc_hz;
  shared.vtl2_ports = &ports;
  shared.vtl2_pci = vtl2_storage ? &vtl2_storage->bus() : nullptr;
  shared.vtl0_pci = vtl0_storage ? &vtl0_storage->bus() : nullptr;
  shared.vtl0_ports = machine->vtl0 ? &vtl0_ports : nullptr;
  shared.events = &events;
  shared.group = &group;
  shared.partition = &partition;
  shared.memory = &machine->vtl2_view->memory();
  shared.trace_vtl_switches = options.trace_vtl;
  shared.profile_exits = options.exit_profile;
  // 997 us: near 1 kHz, and no multiple of the guests' 10 or 4 ms ticks.
  if (options.rip_samples) shared.sample_period = std::chrono::microseconds(997);
  shared.profile_marks = &vtl0_benchmark_port.write_count();
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
  // The guest's completed writes reach the host file (in the carrier, its
  // page cache would otherwise die with it).
  for (auto* storage : {vtl2_storage.get(), vtl0_storage.get()})
    if (storage != nullptr) storage->Sync();
  // What crossed each NIC: with --nic, proof that VTL0's traffic went
  // through VTL2's MANA VF (hcl's driver is its only user).
  for (auto [vtl, storage] : {std::pair{"vtl2", vtl2_storage.get()},
                              std::pair{"vtl0", vtl0_storage.get()}}) {
    if (storage == nullptr || storage->nic() == nullptr) continue;
    const mana::Counters counters = storage->nic()->counters();
    std::fprintf(stderr,
                 "hcl-loader: nic (%s, mana): tx %llu frames %llu bytes (%llu errors), rx %llu "
                 "frames %llu bytes (%llu dropped), %llu HWC requests; back end dropped %llu\n",
                 vtl, static_cast<unsigned long long>(counters.tx_frames),
                 static_cast<unsigned long long>(counters.tx_bytes),
                 static_cast<unsigned long long>(counters.tx_errors),
                 static_cast<unsigned long long>(counters.rx_frames),
                 static_cast<unsigned long long>(counters.rx_bytes),
                 static_cast<unsigned long long>(counters.rx_dropped),
                 static_cast<unsigned long long>(counters.hwc_requests),
                 static_cast<unsigned long long>(storage->nic_backend()->transmit_drops()));
  }
  std::vector<loader::VpReport> reports;
  for (const VpThread& thread : threads) reports.push_back({&thread.runner, thread.exits});
  if (options.exit_profile) {
    std::vector<loader::ExitProfile> windows;
    for (const VpThread& thread : threads) {
      const auto& mine = thread.runner.exit_profiles();
      if (windows.size() < mine.size()) windows.resize(mine.size());
      for (size_t i = 0; i < mine.size(); ++i) windows[i].Merge(mine[i]);
    }
    constexpr size_t kRowsPerVtl = 16;
    for (size_t i = 0; i < windows.size(); ++i) {
      if (windows.size() > 1)
        std::fprintf(stderr, "hcl-loader: exit profile: window %zu (after %zu marks on port 0x%x)\n",
                     i, i, loader::BenchmarkPort::kPort);
      std::fputs(windows[i].Format(kRowsPerVtl).c_str(), stderr);
    }
    // On stderr, as the profile is: inside the carrier no file comes back.
    if (options.rip_samples)
      for (size_t i = 0; i < windows.size(); ++i) std::fputs(windows[i].FormatSamples(i).c_str(), stderr);
  }
  return loader::ReportStop(stop, reports, machine->vcpus, exits, elapsed_ms, options);
}

// Every other host file the command names (--vtl0-kernel, --vtl0-initrd,
// --trusted-key, --platform-secret) must be a readable regular file: said
// here in one line, before a machine or the carrier starts.
base::Result<void> CheckInputFiles(const Options& options) {
  for (const size_t i : options.file_args) {
    const std::string& path = options.args.at(i);
    const std::string what = (i > 0 ? options.args.at(i - 1) + " " : std::string()) + path;
    const os::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return base::Error::FromErrno(what, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return base::Error::FromErrno(what, errno);
    if (!S_ISREG(st.st_mode)) return base::Error(what + ": not a regular file");
  }
  return base::Ok();
}

// Every disk file (--disk, --disk-vtl0, --guest-state) is opened here as
// its device will open it, then closed: a missing, unwritable, locked or
// too small one is refused before a machine or the carrier starts, with
// its own message. Returns each one's whole 512-byte blocks in bytes, what
// the carrier's disk must show (loader/carrier_relaunch.h).
base::Result<std::vector<uint64_t>> CheckDiskFiles(const Options& options) {
  std::vector<uint64_t> whole_bytes;
  for (const size_t i : options.disk_args) {
    const auto spec = TRY(loader::devices::ParseDiskSpec(options.args.at(i)));
    loader::devices::FileDiskOptions disk;
    disk.path = spec.path;
    disk.read_only = spec.read_only;
    const auto file = TRY(loader::devices::OpenDiskFile(disk));
    if (file.partial_tail_bytes != 0)
      std::fprintf(stderr,
                   "hcl-loader: --disk %s: its last %llu bytes are no whole %u-byte block: the "
                   "guest cannot reach them\n",
                   spec.path.c_str(), static_cast<unsigned long long>(file.partial_tail_bytes),
                   disk.block_size);
    whole_bytes.push_back(file.size_bytes - file.partial_tail_bytes);
  }
  return whole_bytes;
}

// Execs the carrier (never returns) when this host's KVM is unusable and
// no carrier-run has decided already; otherwise returns to run here.
void MaybeRunInCarrier(const Options& options, std::vector<uint64_t> disk_bytes) {
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
  plan.disk_args = options.disk_args;
  plan.disk_bytes = std::move(disk_bytes);
  plan.nic_args = options.nic_args;
  plan.guest_mem_mib = options.mem_mib;
  plan.timeout_s = options.timeout_s;
  std::fprintf(stderr, "hcl-loader: this host's KVM is unusable (%s): running in the carrier VM\n",
               verdict.reason.c_str());
  const base::Error error = loader::ExecCarrier(plan);
  std::fprintf(stderr, "hcl-loader: %s; running here\n", error.message().c_str());
}

}  // namespace

// What a machine restarted after VTL0's reset inherits (main).
constexpr const char* kRestartCountEnv = "HCL_LOADER_RESTARTS";
constexpr const char* kRestartDeadlineEnv = "HCL_LOADER_DEADLINE_MS";
constexpr long kMaxRestarts = 32;

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
  if (const auto* request = std::get_if<loader::EmulatedVcekRequest>(&*command)) {
    const std::string path = request->platform_secret.empty()
                                 ? loader::devices::DefaultPlatformSecretPath()
                                 : request->platform_secret;
    auto pem = [&]() -> base::Result<std::string> {
      const auto secret = TRY(loader::devices::LoadPlatformSecret(path, /*create=*/false));
      return TRY(loader::vsm::EmulatedSnpReporter::Create(secret)).PublicKeyPem();
    }();
    if (!pem) {
      std::fprintf(stderr, "hcl-loader: emulated-vcek: %s\n", pem.error().message().c_str());
      return kExitUsage;
    }
    std::fputs(pem->c_str(), stdout);
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
  if (auto prepared = PrepareGuestState(options); !prepared) {
    std::fprintf(stderr, "hcl-loader: %s\n", prepared.error().message().c_str());
    return kExitUsage;
  }
  if (auto readable = CheckInputFiles(options); !readable) {
    std::fprintf(stderr, "hcl-loader: %s\n", readable.error().message().c_str());
    return kExitUsage;
  }
  for (const auto* nic : {&options.nic, &options.vtl0_nic}) {
    if (!*nic) continue;
    if (auto free = loader::net::CheckForwardsFree(**nic); !free) {
      std::fprintf(stderr, "hcl-loader: %s\n", free.error().message().c_str());
      return kExitUsage;
    }
  }
  auto disk_bytes = CheckDiskFiles(options);
  if (!disk_bytes) {
    std::fprintf(stderr, "hcl-loader: %s\n", disk_bytes.error().message().c_str());
    return kExitUsage;
  }
  if (!options.no_carrier) MaybeRunInCarrier(options, std::move(*disk_bytes));
  // A machine the guest reset (below) keeps the first start's --timeout as
  // an absolute deadline, and a guest that resets it without end is stopped.
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const char* deadline_env = std::getenv(kRestartDeadlineEnv);
  const char* restarts_env = std::getenv(kRestartCountEnv);
  const long restarts = restarts_env != nullptr ? std::strtol(restarts_env, nullptr, 10) : 0;
  if (options.timeout_s && deadline_env != nullptr) {
    const long long left_ms = std::strtoll(deadline_env, nullptr, 10) - now_ms();
    options.timeout_s = static_cast<uint32_t>(std::max<long long>(1, (left_ms + 999) / 1000));
  }
  const long long deadline_ms =
      options.timeout_s ? now_ms() + static_cast<long long>(*options.timeout_s) * 1000 : 0;
  const int status = Run(options, *file);
  if (status != loader::kRestartMachine) return status;
  if (restarts + 1 > kMaxRestarts) {
    std::fprintf(stderr, "hcl-loader: the guest reset the machine %ld times; stopping\n",
                 restarts + 1);
    return loader::kExitGuestFailed;
  }
  // VTL0 reset the platform: everything Run built is gone (disks flushed
  // and unlocked, VMs closed); the same command starts afresh, as a reset
  // partition boots its firmware again.
  ::setenv(kRestartCountEnv, std::to_string(restarts + 1).c_str(), 1);
  if (options.timeout_s) ::setenv(kRestartDeadlineEnv, std::to_string(deadline_ms).c_str(), 1);
  std::fflush(nullptr);
  ::execv("/proc/self/exe", argv);
  std::fprintf(stderr, "hcl-loader: cannot start the machine again (exec: %s)\n",
               std::strerror(errno));
  return kExitLoadFailed;
}
