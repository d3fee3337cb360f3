#include "cli_options.h"

// g++ 12 reports a "potential null pointer dereference" inside std::string
// as CLI11 (header-only) is inlined here: a false positive of
// -Wnull-dereference at -O2, not a fault of this file's code.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include <set>
#include <string_view>

#include "devices/vtl_pci_bus.h"
#include "image_trust.h"
#include "memory_layout.h"
#include "net/backend.h"

namespace loader {
namespace {

// The options that take a value, and which of those name host files.
const std::set<std::string_view> kValueOptions = {
    "--vps", "--mem", "--vtl2-cmdline", "--timeout", "--vtl0-kernel", "--vtl0-initrd",
    "--vtl0-cmdline", "--trusted-key", "--trusted-key-digest", "--disk", "--disk-vtl0",
    "--isolation", "--guest-state", "--platform-secret", "--nic", "--nic-vtl0"};
const std::set<std::string_view> kFileOptions = {"--vtl0-kernel", "--vtl0-initrd",
                                                 "--trusted-key", "--platform-secret"};
const std::set<std::string_view> kDiskOptions = {"--disk", "--disk-vtl0", "--guest-state"};
const std::set<std::string_view> kNicOptions = {"--nic", "--nic-vtl0"};

// --nic and --nic-vtl0 both open their forwarded ports on this host: one
// port cannot serve both.
base::Result<void> CheckDistinctForwards(const net::NicSpec& nic, const net::NicSpec& vtl0_nic) {
  for (const net::HostForward& a : nic.forwards)
    for (const net::HostForward& b : vtl0_nic.forwards)
      if (a.udp == b.udp && a.host_port == b.host_port)
        return base::Error::Format("--nic-vtl0: host %s port %u is forwarded by --nic too",
                                   a.udp ? "udp" : "tcp", a.host_port);
  return base::Ok();
}

}  // namespace

std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& arg : args) {
    const size_t equals = arg.find('=');
    if (arg.starts_with("--") && equals != std::string::npos &&
        kValueOptions.contains(std::string_view(arg).substr(0, equals))) {
      out.push_back(arg.substr(0, equals));
      out.push_back(arg.substr(equals + 1));
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

base::Result<Command> ParseArgs(const std::vector<std::string>& given) {
  Options options;
  options.args = NormalizeArgs(given);
  CLI::App app{"hcl-loader: boots a signed IGVM paravisor image (VTL2) and, under it, an "
               "unmodified Linux in VTL0, on Linux KVM, emulating the part of Hyper-V the image "
               "needs. Where this host's KVM cannot run guests at speed it re-runs itself in the "
               "carrier VM. Exit: 0 powered off, 1 image refused or not loadable, 2 bad usage "
               "or a guest failure, 124 timeout.",
               "hcl-loader"};
  app.require_subcommand(1);
  CLI::App* run = app.add_subcommand("run", "Boot IMAGE (an IGVM file with a VSM platform)");
  std::vector<std::string> trusted_key_files, trusted_key_digests;
  run->add_option("IMAGE", options.image_path, "the signed IGVM image (build/openhcl-x64.igvm)")
      ->required();
  run->add_option("--vps", options.vp_count, "virtual processors, 1-64 (default 1)")
      ->check(CLI::Range(uint32_t{1}, kMaxVps));
  run->add_option("--mem", options.mem_mib, "guest RAM in MiB, VTL2's and VTL0's (default 256)")
      ->check(CLI::Range(uint64_t{1}, kMaxLowRamBytes >> 20));
  run->add_option("--vtl2-cmdline", options.vtl2_command_line,
                  "extra kernel command line for VTL2 (host options the image's shim allows)");
  run->add_option("--timeout", options.timeout_s,
                  "stop after S seconds with exit 124 (default: no limit)")
      ->check(CLI::Range(uint32_t{1}, UINT32_MAX));
  run->add_option("--vtl0-kernel", options.vtl0_kernel,
                  "VTL0's Linux bzImage, 64-bit boot protocol (default: Debian's stock kernel "
                  "cached by tests/harness/stock-kernel)");
  run->add_option("--vtl0-initrd", options.vtl0_initrd,
                  "VTL0's initramfs (default: build/tests/guest/vtl0-initramfs.cpio.gz)");
  run->add_option("--vtl0-cmdline", options.vtl0_command_line,
                  "VTL0's kernel command line (default: console=ttyS0 panic=-1)");
  run->add_option("--disk", options.disks,
                  "a host file or block device as an NVMe namespace on VTL2's PCI bus, the "
                  "paravisor's disk, of the file's whole 512-byte blocks (locked while in use); "
                  "PATH,ro for read-only (repeatable: one namespace each)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--disk-vtl0", options.vtl0_disks,
                  "as --disk, on a PCI bus of VTL0's own (ACPI PCI0): the same NVMe controller "
                  "given straight to the guest, for comparison (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  std::optional<std::string> nic_text, vtl0_nic_text;
  run->add_option("--nic", nic_text,
                  "a network adapter on VTL2's PCI bus (the paravisor's device) and its host side "
                  "(once): 'user': user-mode networking, no privilege needed: the guest gets "
                  "10.0.2.15/24 by DHCP, the gateway 10.0.2.2 (also reaches the host), DNS "
                  "10.0.2.3; 'user,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT': "
                  "also forward a host port to the guest (hostfwd= repeatable; HOSTADDR default "
                  "0.0.0.0, GUESTADDR default 10.0.2.15; e.g. user,hostfwd=tcp:127.0.0.1:5555-:22); "
                  "'tap=IFNAME': the host tap interface IFNAME (needs CAP_NET_ADMIN or a tap this "
                  "user owns). Default: no network adapter")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  run->add_option("--nic-vtl0", vtl0_nic_text,
                  "as --nic, on a PCI bus of VTL0's own: the same adapter given straight to the "
                  "guest, for comparison (once)")
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  run->add_option("--guest-state", options.guest_state,
                  "the vTPM's persistent state: a file of the paravisor's own format, encrypted "
                  "and integrity-checked under a key derived from the platform secret and this "
                  "image's launch measurement; created (1 MiB) if missing, refused if truncated "
                  "(default: none, the vTPM starts afresh each boot)");
  run->add_option("--platform-secret", options.platform_secret,
                  "32-byte file: the host secret the emulated platform key derives from (default "
                  "with --guest-state: ~/.config/hcl/platform-secret, created on first use)");
  std::string isolation = "none";
  run->add_option("--isolation", isolation,
                  "none (default), or vbs: Hyper-V's software isolation: guest RAM is private, "
                  "VTL2 is told so (CPUID 0x4000000C) and its devices may DMA only into pages it "
                  "made host-visible (HvCallModifySparseGpaPageHostVisibility)")
      ->check(CLI::IsMember({"none", "vbs"}));
  run->add_flag("--no-vtl0", options.no_vtl0, "run VTL2 only");
  run->add_flag("--trace-vtl", options.trace_vtl, "print every VTL switch on stderr (slow)");
  run->add_flag("--exit-profile", options.exit_profile,
                "at the end, print on stderr where the VPs' time went: per VTL, the time inside "
                "KVM_RUN and the exits that reached the loader by kind (port, MMIO page, MSR, "
                "hypercall code) with the time spent handling them; each write VTL0 makes to port 0xE9 "
                "starts a new window of the profile");
  run->add_flag("--rip-samples", options.rip_samples,
                "with the exit profile (implied), sample where each VP is about every 997 us of "
                "wall time (a timer of its own per VP thread) and print the samples on stderr at "
                "the end, a line per place and window: \"hcl-loader: sample WINDOW VTL "
                "guest|loader RIP COUNT\" (tests/bench/rip-profile names the functions)");
  run->add_option("--test-tsc-skew-ppm", options.test_tsc_skew_ppm,
                  "testing: before creating vCPUs, tell KVM that new vCPUs run this many parts "
                  "per million below the host's TSC rate (KVM_SET_TSC_KHZ on each VM), as KVM "
                  "assumes when it was loaded before its host refined the TSC calibration; the "
                  "loader must keep the guests' timers on time all the same (300-100000)")
      ->check(CLI::Range(300, 100000));
  run->add_option("--trusted-key", trusted_key_files,
                  "also trust the public key of this PEM key file (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--trusted-key-digest", trusted_key_digests,
                  "also trust the key with this SNP ID key digest, 96 hex digits (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_flag("--allow-unsigned", options.allow_unsigned,
                "development only: skip the signature, trust and binding checks (never the "
                "format check)");
  run->add_flag("--no-carrier", options.no_carrier,
                "run here even if this host's KVM is unusable");

  EmulatedVcekRequest vcek_request;
  CLI::App* emulated_vcek = app.add_subcommand(
      "emulated-vcek",
      "Print (PEM) the public key of the emulated VCEK that signs the hardware reports this "
      "host's loader gives VTL2 (derived from the platform secret); hcl-attest ak verify "
      "--emulated-vcek checks reports against it");
  emulated_vcek->add_option("--platform-secret", vcek_request.platform_secret,
                            "the 32-byte platform secret file (default "
                            "~/.config/hcl/platform-secret)");

  std::vector<const char*> argv{"hcl-loader"};
  for (const std::string& arg : options.args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    return Command{HelpText{run->parsed()             ? run->help()
                            : emulated_vcek->parsed() ? emulated_vcek->help()
                                                      : app.help()}};
  } catch (const CLI::CallForAllHelp&) {
    return Command{HelpText{app.help("", CLI::AppFormatMode::All)}};
  } catch (const CLI::ParseError& error) {
    return base::Error(std::string(error.what()) + " (hcl-loader --help, hcl-loader run --help)");
  }

  if (emulated_vcek->parsed()) return Command{vcek_request};
  if (options.no_vtl0 && (!options.vtl0_kernel.empty() || !options.vtl0_initrd.empty()))
    return base::Error("--no-vtl0 with --vtl0-kernel/--vtl0-initrd");
  if (options.vtl0_kernel.empty() && !options.vtl0_initrd.empty())
    return base::Error("--vtl0-initrd needs --vtl0-kernel (or the default kernel)");
  if (options.no_vtl0 && !options.vtl0_disks.empty())
    return base::Error("--no-vtl0 with --disk-vtl0");
  if (options.guest_state.find(',') != std::string::npos)
    return base::Error("--guest-state: the path holds a comma");
  options.isolation_vbs = isolation == "vbs";
  if (options.rip_samples) options.exit_profile = true;
  // A device given straight to VTL0 could reach none of its (private) RAM.
  if (options.isolation_vbs && !options.vtl0_disks.empty())
    return base::Error("--disk-vtl0 with --isolation vbs: VTL0's RAM is private to the guest");
  if (options.no_vtl0 && vtl0_nic_text) return base::Error("--no-vtl0 with --nic-vtl0");
  if (options.isolation_vbs && vtl0_nic_text)
    return base::Error("--nic-vtl0 with --isolation vbs: VTL0's RAM is private to the guest");
  if (nic_text) {
    auto spec = net::ParseNicSpec(*nic_text);
    if (!spec) return std::move(spec).error().Context("--nic");
    options.nic = std::move(*spec);
  }
  if (vtl0_nic_text) {
    auto spec = net::ParseNicSpec(*vtl0_nic_text);
    if (!spec) return std::move(spec).error().Context("--nic-vtl0");
    options.vtl0_nic = std::move(*spec);
  }
  if (options.nic && options.vtl0_nic) TRY(CheckDistinctForwards(*options.nic, *options.vtl0_nic));
  for (const auto* list : {&options.disks, &options.vtl0_disks})
    for (const std::string& spec : *list)
      if (auto parsed = devices::ParseDiskSpec(spec); !parsed) return std::move(parsed).error();
  for (const std::string& path : trusted_key_files) {
    auto digest = KeyDigestOfPem(path);
    if (!digest) return std::move(digest).error().Context("--trusted-key");
    options.trusted_keys.push_back(*digest);
  }
  for (const std::string& hex : trusted_key_digests) {
    auto digest = ParseKeyDigest(hex);
    if (!digest) return std::move(digest).error().Context("--trusted-key-digest");
    options.trusted_keys.push_back(*digest);
  }
  // Where the host files are among the arguments: the first word after
  // `run` that is neither an option nor an option's value is IMAGE.
  bool have_image = false;
  for (size_t i = 0; i < options.args.size(); ++i) {
    const std::string& arg = options.args[i];
    if (arg == "run" && i == 0) continue;
    if (kValueOptions.contains(arg)) {
      if (kFileOptions.contains(arg) && i + 1 < options.args.size())
        options.file_args.push_back(i + 1);
      if (kDiskOptions.contains(arg) && i + 1 < options.args.size())
        options.disk_args.push_back(i + 1);
      if (kNicOptions.contains(arg) && i + 1 < options.args.size())
        options.nic_args.push_back(i + 1);
      ++i;
    } else if (!arg.starts_with("-") && !have_image) {
      options.image_arg = i;
      have_image = true;
    }
  }
  return Command{std::move(options)};
}

}  // namespace loader
