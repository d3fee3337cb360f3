// vtl0-tpm-bench: per-command latency of the vTPM as VTL0's stock tpm_crb
// driver sees it (issue 12's benchmark; tests/bench/tpm/tpm-bench boots it
// and sets the figures beside libtpms called directly in a process).
//
//   vtl0-tpm-bench [ITERATIONS]
//
// Each command goes through /dev/tpm0 (write, then read the response): the
// kernel's CRB protocol (locality, cmdReady, START polled every ~1 ms), the
// paravisor's MMIO intercepts, its device thread and libtpms. Commands are
// vmm-core/tpm/commands.h's, the same bytes the direct benchmark sends:
// TPM2_GetRandom(32), TPM2_PCR_Extend(16, SHA-256), TPM2_Quote of SHA-256
// PCRs 0-7 by an ECC attestation key made once. Prints one line per
// command: "vtl0-tpm-bench: NAME us=MEAN n=N rc=FIRST_FAILURE".
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/be_bytes.h"
#include "tpm/commands.h"

namespace {

double NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// One command; the response code (0xFFFFFFFF: the device failed).
uint32_t Send(int fd, const std::vector<std::byte>& command, std::vector<std::byte>& response) {
  response.assign(4096, std::byte{0});
  if (write(fd, command.data(), command.size()) != static_cast<ssize_t>(command.size()))
    return 0xFFFFFFFF;
  const ssize_t got = read(fd, response.data(), response.size());
  if (got < 10) return 0xFFFFFFFF;
  response.resize(static_cast<size_t>(got));
  return base::LoadBe<uint32_t>(response, 6);
}

void Time(int fd, const char* name, const std::vector<std::byte>& command, long iterations) {
  std::vector<std::byte> response;
  uint32_t failure = 0;
  const double start = NowUs();
  for (long i = 0; i < iterations; ++i)
    if (const uint32_t rc = Send(fd, command, response); rc != 0 && failure == 0) failure = rc;
  const double us = (NowUs() - start) / static_cast<double>(iterations);
  std::printf("vtl0-tpm-bench: %s us=%.1f n=%ld rc=%#x\n", name, us, iterations, failure);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 50;
  const int fd = open("/dev/tpm0", O_RDWR);
  if (fd < 0 || iterations <= 0) {
    std::perror("vtl0-tpm-bench: /dev/tpm0");
    return 1;
  }
  std::array<uint8_t, 32> digest{};
  digest[0] = 1;
  const tpm::TaggedDigest extend{0x000B, digest};
  std::vector<std::byte> response;
  const uint32_t created = Send(fd, tpm::CreateAttestationKeyCommand(), response);
  if (created != 0) {
    std::printf("vtl0-tpm-bench: CreatePrimary rc=%#x\n", created);
    return 1;
  }
  const uint32_t ak = base::LoadBe<uint32_t>(response, 10);
  const std::array<uint8_t, 8> nonce{1, 2, 3, 4, 5, 6, 7, 8};
  Time(fd, "getrandom", tpm::GetRandomCommand(32), iterations);
  Time(fd, "pcr-extend", tpm::PcrExtendCommand(16, std::span(&extend, 1)), iterations);
  Time(fd, "quote", tpm::QuoteCommand(ak, nonce), iterations);
  close(fd);
  return 0;
}
