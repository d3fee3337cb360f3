// hcl-loader's command line (CLI11): what `hcl-loader run IMAGE [options]`
// asks for, checked; `--help` explains each option. Besides the values,
// it records which arguments name host files (the image, --vtl0-kernel,
// --vtl0-initrd, --trusted-key; --disk and --disk-vtl0 apart), by index in
// the arguments as given, so
// that a relaunch inside the carrier VM (carrier_relaunch.h) can copy each
// file in and rewrite the argument to its new place. `--opt=value` forms
// are split into two arguments first (NormalizeArgs), so every value has
// an index of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "digest.h"
#include "net/backend.h"

namespace loader {

// The VTL2 kernel's CONFIG_NR_CPUS (kernel-config/x86_64.fragment).
inline constexpr uint32_t kMaxVps = 64;
inline constexpr uint64_t kDefaultMemMiB = 256;
inline constexpr const char* kDefaultVtl0CommandLine = "console=ttyS0 panic=-1";

struct Options {
  std::string image_path;
  uint32_t vp_count = 1;
  uint64_t mem_mib = kDefaultMemMiB;
  std::string vtl2_command_line;
  std::optional<uint32_t> timeout_s;
  bool allow_unsigned = false;
  bool no_carrier = false;
  // VTL0: a Linux bzImage (and initrd) booted under the paravisor.
  std::string vtl0_kernel;
  std::string vtl0_initrd;
  std::string vtl0_command_line = kDefaultVtl0CommandLine;
  bool no_vtl0 = false;
  bool trace_vtl = false;
  bool exit_profile = false;
  // --rip-samples: statistical samples of where each VP was, per profile
  // window (implies exit_profile).
  bool rip_samples = false;
  // --test-tsc-skew-ppm: KVM told, before any vCPU exists, that new vCPUs
  // run this many ppm below the host's TSC rate (machine.cpp).
  uint32_t test_tsc_skew_ppm = 0;
  // --isolation vbs: a software-isolated partition (Hyper-V VBS): guest RAM
  // is private, VTL2 sees CPUID 0x4000000C, and VTL2's devices reach only
  // pages VTL2 made host-visible (vsm/host_visibility.h).
  bool isolation_vbs = false;
  // Host files as NVMe namespaces (PATH or PATH,ro): --disk for VTL2 (the
  // paravisor's device), --disk-vtl0 straight to VTL0.
  std::vector<std::string> disks;
  std::vector<std::string> vtl0_disks;
  // --nic / --nic-vtl0 SPEC (net/backend.h: user[,hostfwd=...] or
  // tap=IFNAME), parsed: a NIC on VTL2's bus (the paravisor's device) and
  // the same kind given straight to VTL0.
  std::optional<net::NicSpec> nic;
  std::optional<net::NicSpec> vtl0_nic;
  // --guest-state PATH: the vTPM's state (devices/guest_state.h), an NVMe
  // controller of its own on VTL2's bus; --platform-secret FILE: the host
  // secret the emulated platform key derives from (default
  // ~/.config/hcl/platform-secret, made on first use).
  std::string guest_state;
  std::string platform_secret;
  // Beyond the built-in key: --trusted-key (the file's key digest) and
  // --trusted-key-digest.
  std::vector<igvm::Sha384Digest> trusted_keys;
  // The arguments as normalized (NormalizeArgs), and where host files are.
  std::vector<std::string> args;
  size_t image_arg = 0;
  std::vector<size_t> file_args;
  // Where the --disk, --disk-vtl0 and --guest-state values are (block devices in the
  // carrier, not copies: the guest's writes must reach the host file).
  std::vector<size_t> disk_args;
  // Where the --nic and --nic-vtl0 values are (their hostfwd ports must
  // open on this host, not inside the carrier).
  std::vector<size_t> nic_args;
};

// `--name=value` -> `--name`, `value`; everything else unchanged.
std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args);

// What the command line asked for: run with these options, or print this
// text (--help) and exit 0.
struct HelpText {
  std::string text;
};
// `hcl-loader emulated-vcek [--platform-secret FILE]`: print the public key
// of the emulated VCEK that signs this host's emulated reports.
struct EmulatedVcekRequest {
  std::string platform_secret;
};
using Command = std::variant<Options, HelpText, EmulatedVcekRequest>;

// Parses argv[1..] (`args`). An error is the one line to print (exit 2).
// Reads --trusted-key files (their public key's digest).
base::Result<Command> ParseArgs(const std::vector<std::string>& args);

}  // namespace loader
