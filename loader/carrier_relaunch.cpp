#include "carrier_relaunch.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/string_printf.h"
#include "devices/vtl_pci_bus.h"
#include "net/backend.h"

extern char** environ;

namespace loader {
namespace {

bool IsExecutable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// /proc/cpuinfo "flags" lines name vmx (Intel VT-x) or svm (AMD-V).
bool CpuHasVirtualization() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word)
      if (word == "vmx" || word == "svm") return true;
  }
  return false;
}

// Runs `argv`, returns its exit status (or -1) and its first output line.
std::pair<int, std::string> RunCapture(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {-1, "pipe failed"};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  std::string output;
  if (err == 0) {
    char buffer[512];
    ssize_t got = 0;
    while ((got = read(pipe_fds[0], buffer, sizeof buffer)) > 0 || (got < 0 && errno == EINTR))
      if (got > 0 && output.size() < 4096) output.append(buffer, static_cast<size_t>(got));
  }
  close(pipe_fds[0]);
  if (err != 0) return {-1, base::Error::FromErrno(argv[0], err).message()};
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const size_t newline = output.find('\n');
  if (newline != std::string::npos) output.resize(newline);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

HostKvmVerdict CheckHostKvm(const std::string& kvm_probe) {
  if (!CpuHasVirtualization()) return {false, "no vmx/svm in /proc/cpuinfo"};
  if (access("/dev/kvm", R_OK | W_OK) != 0) return {false, "/dev/kvm is not accessible"};
  if (kvm_probe.empty()) return {false, "no kvm-probe to measure KVM's speed (HCL_KVM_PROBE)"};
  auto [status, line] = RunCapture({kvm_probe, "speed"});
  // kvm-probe: "speed: exit 0 fast, 3 too slow, 2 KVM unusable".
  return {status == 0, line};
}

std::vector<std::string> CarrierCommand(const CarrierPlan& plan) {
  const std::string image_dst = std::string(kCarrierImageDir) + "/" + BaseName(plan.image);
  // The carrier boots in ~10 s under TCG; the loader's own --timeout then
  // applies inside, so the carrier's limit only catches a stuck carrier.
  const uint64_t timeout_s = plan.timeout_s ? uint64_t{*plan.timeout_s} + 300 : 7 * 24 * 3600;
  // Guest RAM plus room for the carrier's kernel, initramfs and payload.
  const uint64_t carrier_mem_mib = std::max<uint64_t>(2048, plan.guest_mem_mib + 1024);
  // One carrier vCPU, whatever the VP count: every VP thread shares it.
  // With more than one, QEMU 7.2's multi-threaded TCG was seen to fail in
  // two ways: with two VMs (VTL0 and VTL2), the carrier's kernel crashed
  // running with a nested guest's GS base and VTL2 triple-faulted (SVM
  // host state lost when vCPUs of two VMs migrate between carrier CPUs);
  // with one VM and two VPs, about one boot in 40 never started (both
  // carrier CPUs spun for minutes in kvm-amd's __apic_accept_irq, at a
  // static-branch site: the soft-lockup watchdog's report). On one carrier
  // vCPU neither was seen in 50 boots, and a 2-VP boot took as long
  // (9.8 s mean against 9.3 s).
  constexpr uint32_t kCarrierVcpus = 1;
  std::vector<std::string> argv = {plan.carrier_run, "--mode", "carrier"};
  if (!plan.kvm_probe.empty()) argv.insert(argv.end(), {"--kvm-probe", plan.kvm_probe});
  argv.insert(argv.end(),
              {"--timeout", std::to_string(timeout_s), "--mem", std::to_string(carrier_mem_mib),
               "--smp", std::to_string(kCarrierVcpus), "--add-elf", plan.loader + ":" + kCarrierLoader,
               "--add", plan.image + ":" + image_dst});
  std::vector<std::string> rewritten = plan.args;
  rewritten.at(plan.image_arg) = image_dst;
  for (size_t n = 0; n < plan.file_args.size(); ++n) {
    const size_t i = plan.file_args[n];
    // Numbered, so two files with one base name do not collide.
    const std::string dst =
        std::string(kCarrierFilesDir) + "/" + std::to_string(n) + "-" + BaseName(plan.args.at(i));
    argv.insert(argv.end(), {"--add", plan.args.at(i) + ":" + dst});
    rewritten.at(i) = dst;
  }
  if (!plan.disk_args.empty())
    argv.insert(argv.end(), {"--module", "virtio_pci", "--module", "virtio_blk"});
  for (size_t n = 0; n < plan.disk_args.size() && n < 26; ++n) {
    const size_t i = plan.disk_args[n];
    // ParseArgs accepted every --disk value already.
    const auto parsed = devices::ParseDiskSpec(plan.args.at(i));
    const devices::DiskSpec spec = parsed ? *parsed : devices::DiskSpec{plan.args.at(i), false};
    // QEMU's -drive splits its value at commas; a path holding one must
    // double it (qemu-options: "file=... commas must be doubled").
    std::string escaped;
    for (char c : spec.path) {
      escaped += c;
      if (c == ',') escaped += ',';
    }
    std::string size;
    if (n < plan.disk_bytes.size()) size = ",size=" + std::to_string(plan.disk_bytes[n]);
    argv.insert(argv.end(), {"--qemu-arg", "-drive", "--qemu-arg",
                             "file=" + escaped + ",if=virtio,format=raw,cache=writeback" + size +
                                 (spec.read_only ? ",readonly=on" : "")});
    rewritten.at(i) =
        std::string("/dev/vd") + static_cast<char>('a' + n) + (spec.read_only ? ",ro" : "");
  }
  for (const size_t i : plan.nic_args) {
    // ParseArgs accepted every --nic value already.
    auto parsed = net::ParseNicSpec(plan.args.at(i));
    if (!parsed || parsed->kind != net::NicSpec::Kind::kUser) continue;
    net::NicSpec spec = std::move(*parsed);
    for (net::HostForward& forward : spec.forwards) {
      const char* protocol = forward.udp ? "udp" : "tcp";
      argv.insert(argv.end(), {"--hostfwd", base::StringPrintf("%s:%s:%u-:%u", protocol,
                                                                forward.host_address.c_str(),
                                                                forward.host_port,
                                                                forward.host_port)});
      // QEMU's forward arrives at the carrier's eth0, not its loopback.
      forward.host_address = "0.0.0.0";
    }
    rewritten.at(i) = net::FormatNicSpec(spec);
  }
  argv.insert(argv.end(), {"--", kCarrierLoader});
  argv.insert(argv.end(), rewritten.begin(), rewritten.end());
  return argv;
}

base::Result<std::string> SelfPath() {
  char buffer[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n < 0) return base::Error::FromErrno("readlink /proc/self/exe", errno);
  return std::string(buffer, static_cast<size_t>(n));
}

std::string FindKvmProbe(const std::string& self) {
  if (const char* env = std::getenv("HCL_KVM_PROBE"); env != nullptr && *env != '\0') return env;
  const std::string beside = DirName(DirName(self)) + "/tests/harness/kvm-probe";
  return IsExecutable(beside) ? beside : "";
}

std::string FindCarrierRun() {
  if (const char* env = std::getenv("HCL_CARRIER_RUN"); env != nullptr && *env != '\0') return env;
  const std::string in_source = std::string(HCL_SOURCE_ROOT) + "/tests/harness/carrier-run";
  return IsExecutable(in_source) ? in_source : "";
}

base::Error ExecCarrier(const CarrierPlan& plan) {
  const std::vector<std::string> argv = CarrierCommand(plan);
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execv(c_argv[0], c_argv.data());
  return base::Error::FromErrno("exec " + plan.carrier_run, errno);
}

}  // namespace loader
