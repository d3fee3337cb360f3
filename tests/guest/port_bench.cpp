// vtl0-port-bench: the cost of one VTL0 port write as the paravisor
// handles it versus as the hypervisor (hcl-loader) handles it, timed in
// one run inside VTL0 (issue 5's benchmark; tests/bench/vtl0/intercept-bench
// boots it and reports).
//
//   vtl0-port-bench [ITERATIONS]
//   vtl0-port-bench --mark    one write to port 0xE9 and nothing else: with
//                             hcl-loader --exit-profile, a profile window ends
//
// Port 0x3FF is COM1's scratch register (16550 SCR): VTL2 installed an
// intercept for COM1, so every write is a VTL0 exit, an intercept message
// to VTL2, hcl's 16550, and a VTL return. Port 0xE9 is hcl-loader's
// benchmark port on VTL0's host bus: the same exit, answered by the loader
// without VTL2. Both are `out dx, al` from the same loop; the clock is
// CLOCK_MONOTONIC. Runs as root (ioperm).
#include <sys/io.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

constexpr unsigned short kHclPort = 0x3FF;
constexpr unsigned short kLoaderPort = 0xE9;

double NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double NsPerWrite(unsigned short port, long iterations) {
  const double start = NowNs();
  for (long i = 0; i < iterations; ++i) outb(static_cast<unsigned char>(i), port);
  return (NowNs() - start) / static_cast<double>(iterations);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--mark") {
    if (ioperm(kLoaderPort, 1, 1) != 0) {
      std::perror("vtl0-port-bench: ioperm");
      return 1;
    }
    outb(0, kLoaderPort);
    return 0;
  }
  const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 2000;
  if (iterations <= 0 || iterations > 10'000'000) {
    std::fprintf(stderr, "vtl0-port-bench: ITERATIONS must be 1..10000000\n");
    return 2;
  }
  if (ioperm(kLoaderPort, 1, 1) != 0 || ioperm(kHclPort, 1, 1) != 0) {
    std::perror("vtl0-port-bench: ioperm");
    return 1;
  }
  // Warm both paths (page tables, caches, first-intercept setup).
  NsPerWrite(kHclPort, 50);
  NsPerWrite(kLoaderPort, 50);
  const double hcl = NsPerWrite(kHclPort, iterations);
  const double loader = NsPerWrite(kLoaderPort, iterations);
  std::printf("vtl0-bench: port 0x%x (hcl, VTL2 intercept): %ld writes, %.0f ns each\n", kHclPort,
              iterations, hcl);
  std::printf("vtl0-bench: port 0x%x (hcl-loader): %ld writes, %.0f ns each\n", kLoaderPort,
              iterations, loader);
  std::printf("vtl0-bench: ratio paravisor/loader = %.2f\n", hcl / loader);
  return 0;
}
