// Running hcl-loader where KVM is usable: on this host when its KVM runs
// 64-bit guests at speed, otherwise inside the carrier VM
// (tests/harness/carrier-run; DESIGN.md, "Running where hardware
// virtualization is missing": "Users should not have to know").
//
// The rule is carrier-run's own (its kvm_fast_here): /proc/cpuinfo names
// vmx or svm, /dev/kvm is readable and writable, and `kvm-probe speed`
// exits 0 (10 million iterations of a long-mode loop within its budget).
// When the rule fails, hcl-loader execs carrier-run in carrier mode with
// itself (--add-elf) and the image (--add) and the same arguments, the
// image path rewritten to its place in the carrier; carrier-run streams
// the console and returns the loader's exit status (125: the carrier
// failed; 124: its time limit).
//
// Not here: anything when HCL_CARRIER is set (carrier-run sets it for the
// command it runs, in either mode: the decision is made), or with
// --no-carrier. Locations: HCL_CARRIER_RUN and HCL_KVM_PROBE override;
// otherwise kvm-probe is BUILD/tests/harness/kvm-probe and carrier-run
// SOURCE/tests/harness/carrier-run, BUILD being the directory above this
// executable's (BUILD/loader/hcl-loader) and SOURCE the source tree the
// build was configured from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace loader {

struct HostKvmVerdict {
  bool usable = false;
  std::string reason;  // why not, or kvm-probe's "speed ok" line
};

// The rule above, on this host. `kvm_probe` empty: unusable (cannot measure).
HostKvmVerdict CheckHostKvm(const std::string& kvm_probe);

struct CarrierPlan {
  std::string carrier_run;
  std::string kvm_probe;          // may be empty
  std::string loader;             // this executable
  std::string image;              // as the user gave it
  std::vector<std::string> args;  // argv[1..], the user's
  size_t image_arg = 0;           // index of the image in args
  // Other arguments that name host files (--vtl0-kernel PATH, ...): their
  // index in args; each file is copied into the carrier and the argument
  // rewritten to its place there.
  std::vector<size_t> file_args;
  // --disk/--disk-vtl0 values (PATH[,ro]): each host file becomes a virtio
  // disk of the carrier (QEMU -drive, written through to the file) and the
  // argument its block device there, /dev/vda, /dev/vdb, ... in order.
  std::vector<size_t> disk_args;
  // Per disk_args entry, if given: the bytes the carrier's disk shows, the
  // file's whole 512-byte blocks (QEMU -drive size=), so a file with a
  // partial last block looks the same in the carrier as here (QEMU would
  // round it up, and a guest write there would grow the file).
  std::vector<uint64_t> disk_bytes;
  // --nic/--nic-vtl0 values (net/backend.h): each hostfwd= must open its
  // port on this host, not in the carrier. carrier-run gets one --hostfwd
  // per forward, PROTO:HOSTADDR:PORT-:PORT (the user's host address and
  // port, to the same port on the carrier's eth0), and the argument is
  // rewritten so that in the carrier the loader's slirp listens on
  // 0.0.0.0:PORT and forwards to the guest as the user asked. tap= is
  // passed as it is (a tap of that name inside the carrier, not the host's).
  std::vector<size_t> nic_args;
  uint64_t guest_mem_mib = 0;
  std::optional<uint32_t> timeout_s;
};

// Where the image goes in the carrier.
inline constexpr const char* kCarrierImageDir = "/payload/image";
inline constexpr const char* kCarrierLoader = "/payload/hcl-loader";
inline constexpr const char* kCarrierFilesDir = "/payload/files";

// carrier-run's argv (argv[0] = plan.carrier_run).
std::vector<std::string> CarrierCommand(const CarrierPlan& plan);

// This executable's path (/proc/self/exe).
base::Result<std::string> SelfPath();
// HCL_KVM_PROBE, else BUILD/tests/harness/kvm-probe if executable; else empty.
std::string FindKvmProbe(const std::string& self);
// HCL_CARRIER_RUN, else SOURCE/tests/harness/carrier-run if executable; else empty.
std::string FindCarrierRun();

// execv(carrier command); returns only on failure.
base::Error ExecCarrier(const CarrierPlan& plan);

}  // namespace loader
