// hcl: the paravisor process. In VTL2 it is PID 1, the only program.
//
// First cut: the init duties (mount the kernel's filesystems, reap orphans,
// never exit) and the readiness protocol the boot tests and measurements
// rely on: a banner with the version and a monotonic timestamp, then
// "hcl: ready", then power-off if the command line asks for it.
//
// Run as an ordinary process (not PID 1) it does the same minus the mounts
// and power-off, which lets host tests exercise the static binary.
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "cmdline.h"
#include "paravisor/isolation.h"
#include "paravisor/mshv_vtl.h"
#include "paravisor/paravisor.h"
#include "meminfo.h"
#include "version.h"
#include "tpm/platform.h"
#include "vfio/mana_assigned.h"
#include "vfio/nvme_assigned.h"

namespace {

double MonotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void Log(const char* text) {
  std::fprintf(stdout, "hcl: %s\n", text);
  std::fflush(stdout);
}

base::Result<void> MountOne(const char* source, const char* target, const char* type) {
  if (::mkdir(target, 0755) != 0 && errno != EEXIST)
    return base::Error::FromErrno(std::string("mkdir ") + target, errno);
  if (::mount(source, target, type, MS_NOSUID | MS_NOEXEC, nullptr) != 0 && errno != EBUSY)
    return base::Error::FromErrno(std::string("mount ") + type + " on " + target, errno);
  return base::Ok();
}

// PID 1 duty: the filesystems every later component expects.
base::Result<void> MountEarlyFilesystems() {
  TRY(MountOne("proc", "/proc", "proc"));
  TRY(MountOne("sysfs", "/sys", "sysfs"));
  TRY(MountOne("devtmpfs", "/dev", "devtmpfs"));
  return base::Ok();
}

base::Result<std::string> ReadProcFile(const char* path) {
  std::ifstream in(path);
  if (!in) return base::Error::FromErrno(std::string("open ") + path, errno);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Boot measurement: memory the kernel manages, and how much is in use once
// hcl is ready.
void LogMemory() {
  auto text = ReadProcFile("/proc/meminfo");
  if (!text.ok()) return;
  if (auto figures = hcl::ParseMeminfo(*text)) {
    std::printf("hcl: memory total=%llu KiB used=%llu KiB available=%llu KiB\n",
                static_cast<unsigned long long>(figures->total_kib),
                static_cast<unsigned long long>(figures->used_kib()),
                static_cast<unsigned long long>(figures->available_kib));
  }
}

[[noreturn]] void PowerOff() {
  Log("powering off");
  // What we wrote to the console sits in the tty's transmit buffer until
  // the UART's interrupts drain it; the kernel's power-off path does not
  // wait for that (it only flushes its own printk console), so wait here
  // (tcdrain: POSIX termios, "wait for transmission of output").
  ::tcdrain(STDOUT_FILENO);
  ::sync();
  ::reboot(RB_POWER_OFF);
  // Only reached if the kernel cannot power off (no ACPI): say so and halt
  // rather than exit, which would panic the kernel.
  const int err = errno;
  std::fprintf(stdout, "hcl: power-off failed: %s\n", std::strerror(err));
  std::fflush(stdout);
  for (;;) ::pause();
}

// PID 1 duty: reap whatever is orphaned to us, forever.
[[noreturn]] void ReapForever() {
  for (;;) {
    if (::waitpid(-1, nullptr, 0) < 0 && errno == ECHILD) ::pause();
  }
}

}  // namespace

int main(int argc, char** argv) {
  // hcl's lines share VTL2's console with VTL0's (Vtl0Devices writes those
  // whole) and must not cut them: each stream writes whole lines with one
  // write(2) (a tty write is atomic against other writers). musl leaves
  // stderr unbuffered, which writes a long message in pieces.
  static char stdout_buffer[4096];
  static char stderr_buffer[4096];
  std::setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);
  std::setvbuf(stderr, stderr_buffer, _IOLBF, sizeof stderr_buffer);
  const bool is_init = ::getpid() == 1;
  std::string command_line;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("hcl %s\n", hcl::kVersion);
      return 0;
    }
    if (arg == "--cmdline" && i + 1 < argc && !is_init) {
      command_line = argv[++i];
      continue;
    }
    // The kernel passes unrecognised command-line words to init as
    // arguments; as PID 1 we ignore them, as a tool we refuse them.
    if (!is_init) {
      std::fprintf(stderr, "hcl: unknown argument '%s' (usage: hcl [--version] "
                   "[--cmdline TEXT])\n", argv[i]);
      return 2;
    }
  }

  if (is_init) {
    if (auto mounted = MountEarlyFilesystems(); !mounted.ok())
      std::fprintf(stdout, "hcl: warning: %s\n", mounted.error().message().c_str());
    auto text = ReadProcFile("/proc/cmdline");
    if (text.ok()) {
      command_line = std::move(text).value();
    } else {
      std::fprintf(stdout, "hcl: warning: %s\n", text.error().message().c_str());
    }
  }

  std::printf("hcl: version %s, pid %d, monotonic %.6f s\n", hcl::kVersion,
              static_cast<int>(::getpid()), MonotonicSeconds());
  const hcl::Options options = hcl::ParseOptions(command_line);
  for (const std::string& warning : options.warnings)
    std::printf("hcl: warning: %s\n", warning.c_str());

  if (is_init) {
    LogMemory();
    // The boot timeline's last stamp, on the same clock as the shim's
    // (the guest TSC): tests/bench/boot/boot-report reads it.
    std::printf("hcl: tsc=%llu\n", static_cast<unsigned long long>(__rdtsc()));
  }
  // VTL2's own PCI devices (hcl/vfio): every NVMe controller comes up, and
  // its namespaces are logged, before "ready". Kept for the life of PID 1.
  // On an isolated partition the DMA pool is shared with the host before
  // any device uses it, and guest I/O bounces through it.
  const hcl::Isolation isolation = hcl::DetectIsolation();
  std::optional<hcl::HvcallFile> visibility_calls;
  hcl::vfio::IsolatedDma isolated_dma;
  if (isolation != hcl::Isolation::kNone) {
    std::printf("hcl: isolation %s: guest RAM is private; device I/O bounces through VTL2's "
                "shared DMA pool\n", hcl::Describe(isolation));
    isolated_dma.bounce_bytes = hcl::kBounceBytesPerController;
    isolated_dma.share = [&visibility_calls](std::span<const hcl::vfio::DmaRegion> regions)
        -> base::Result<void> {
      if (!visibility_calls) {
        constexpr std::array kCalls = {::hv::CallCode::kModifySparseGpaPageHostVisibility};
        visibility_calls = TRY(hcl::HvcallFile::Open(kCalls));
      }
      std::vector<hcl::GpaRange> ranges;
      for (const hcl::vfio::DmaRegion& region : regions)
        ranges.push_back({region.device_address, region.host.size()});
      return hcl::ShareWithHost(
          [&visibility_calls](uint64_t control, std::span<const std::byte> input) {
            return visibility_calls->Call(control, input, {});
          },
          ranges);
    };
  }
  std::vector<std::unique_ptr<hcl::vfio::AssignedNvme>> nvme_controllers;
  // VTL2's MANA VF (hcl-loader --nic): netvsp's back end. It shares the
  // one DMA pool the kernel gives per boot with the NVMe controllers.
  std::unique_ptr<hcl::vfio::AssignedMana> nic;
  if (is_init) {
    std::vector<std::string> skipped;
    std::optional<hcl::vfio::PciFunction> mana_function;
    if (auto functions = hcl::vfio::ListPciFunctions("/sys/bus/pci/devices", skipped);
        functions.ok())
      for (const hcl::vfio::PciFunction& function : *functions)
        if (hcl::vfio::IsManaVf(function) && !mana_function) mana_function = function;
    hcl::vfio::SharedDma pool;
    // One NIC queue pair per VP (VTL2 runs on every VP VTL0 has).
    const uint32_t nic_pairs = std::min(std::max(1u, std::thread::hardware_concurrency()),
                                        hcl::vfio::kManaMaxQueuePairs);
    nvme_controllers = hcl::vfio::StartAssignedNvme(
        std::max(1u, std::thread::hardware_concurrency()),
        [](const std::string& line) {
          std::printf("hcl: %s\n", line.c_str());
          std::fflush(stdout);
        },
        hcl::vfio::IommuMode::kNoIommu,
        isolation != hcl::Isolation::kNone ? &isolated_dma : nullptr,
        mana_function ? hcl::vfio::ManaPoolBytes(nic_pairs) : 0, &pool);
    if (mana_function) {
      auto opened = hcl::vfio::AssignedMana::Open(*mana_function, pool, nic_pairs,
                                                  isolation == hcl::Isolation::kNone);
      if (opened.ok()) {
        nic = std::move(opened).value();
        const std::array<uint8_t, 6> mac = nic->mac();
        std::printf("hcl: mana: %s ready: vport MAC %02x:%02x:%02x:%02x:%02x:%02x, %u queue "
                    "pair%s\n",
                    mana_function->address.c_str(), mac[0], mac[1], mac[2], mac[3], mac[4],
                    mac[5], nic->queue_pairs(), nic->queue_pairs() == 1 ? "" : "s");
      } else {
        std::printf("hcl: mana: %s: not brought up: %s\n", mana_function->address.c_str(),
                    opened.error().message().c_str());
      }
      std::fflush(stdout);
    }
  }
  Log("ready");

  if (options.power_off == hcl::Options::PowerOff::kWhenReady) {
    if (is_init) PowerOff();
    Log("power-off requested (not PID 1: exiting instead)");
  }
  if (is_init && !options.vtl0_ram.empty()) {
    // Every namespace of every NVMe controller VTL2 drives becomes a SCSI
    // disk for VTL0 (storage translation).
    std::vector<hcl::ParavisorDisk> disks;
    hcl::GuestStateDevice guest_state;
    for (auto& controller : nvme_controllers) {
      const auto namespaces = controller->driver().namespaces();
      // hcl-loader's --guest-state controller is the vTPM's, not VTL0's.
      if (controller->driver().info().model == tpm::kGuestStateModel) {
        if (!namespaces.empty() && guest_state.device == nullptr)
          guest_state = {namespaces.front(), &controller->pool()};
        continue;
      }
      // Each namespace's share of its controller's bounce space: bouncing
      // never takes the PRP list pages the driver allocates as it goes.
      const uint64_t share =
          hcl::kBounceBytesPerController / std::max<size_t>(1, namespaces.size());
      for (block::Device* ns : namespaces)
        disks.push_back({ns, isolation != hcl::Isolation::kNone ? &controller->pool() : nullptr,
                         share});
    }
    auto started = hcl::StartParavisor(
        options,
        [](const char* reason) {
          std::printf("hcl: VTL0 cannot continue (%s)\n", reason);
          PowerOff();
        },
        disks, guest_state, nic.get());
    if (started.ok()) {
      std::printf("hcl: VTL0 started on %u VPs\n", started.value());
    } else {
      std::printf("hcl: VTL0 not started: %s\n", started.error().message().c_str());
    }
    std::fflush(stdout);
  }
  if (is_init) ReapForever();
  return 0;
}
