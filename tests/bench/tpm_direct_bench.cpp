// libtpms called directly in a process (the baseline of tests/bench/tpm/
// tpm-bench, which runs this beside VTL0's vtl0-tpm-bench in one carrier
// boot) and `hcl-attest snp verify`'s cost.
//   Tpm/direct/{getrandom,pcr-extend,quote}: the same command bytes as the
//     VTL0 program (vmm-core/tpm/commands.h) through hcl's LibtpmsEngine,
//     the code hcl runs, without the CRB, the kernel driver or VTL switches.
//   SnpVerify/milan: attest::VerifySnpReport on the real Milan evidence in
//     ../shared/testdata/snp (chain, VCEK, report signature, TCB).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "attest/snp_verify.h"
#include "base/be_bytes.h"
#include "reader.h"
#include "tpm/commands.h"
#include "vtpm/libtpms_engine.h"
#include "vtpm/state_store.h"

namespace {

struct DirectTpm {
  hcl::vtpm::MemoryStateStore store;
  std::unique_ptr<hcl::vtpm::LibtpmsEngine> engine;
  uint32_t ak = 0;
};

DirectTpm& Tpm() {
  static DirectTpm* tpm = [] {
    auto* made = new DirectTpm;
    auto engine = hcl::vtpm::LibtpmsEngine::Create(made->store, 4096);
    if (!engine) {
      std::fprintf(stderr, "tpm-direct-bench: %s\n", engine.error().message().c_str());
      std::abort();
    }
    made->engine = std::move(*engine);
    (void)made->engine->Execute(0, tpm::StartupCommand(tpm::kSuClear));
    const auto created = made->engine->Execute(0, tpm::CreateAttestationKeyCommand());
    if (created.size() < 14 || base::LoadBe<uint32_t>(created, 6) != 0) std::abort();
    made->ak = base::LoadBe<uint32_t>(created, 10);
    // libtpms answers the first quote TPM_RC_RETRY (0x922); Linux's driver
    // retries it (tpm_transmit), so VTL0 never sees it: neither should this.
    const std::array<uint8_t, 8> nonce{};
    for (int i = 0; i < 5; ++i) {
      const auto quoted = made->engine->Execute(0, tpm::QuoteCommand(made->ak, nonce));
      if (quoted.size() >= 10 && base::LoadBe<uint32_t>(quoted, 6) != 0x922) break;
    }
    return made;
  }();
  return *tpm;
}

void Run(benchmark::State& state, const std::vector<std::byte>& command) {
  DirectTpm& tpm = Tpm();
  for (auto _ : state) {
    const auto response = tpm.engine->Execute(0, command);
    if (response.size() < 10 || base::LoadBe<uint32_t>(response, 6) != 0) {
      state.SkipWithError("the TPM refused the command");
      break;
    }
    benchmark::DoNotOptimize(response.data());
  }
}

void BM_GetRandom(benchmark::State& state) { Run(state, tpm::GetRandomCommand(32)); }
void BM_PcrExtend(benchmark::State& state) {
  std::array<uint8_t, 32> digest{};
  digest[0] = 1;
  const tpm::TaggedDigest extend{0x000B, digest};
  Run(state, tpm::PcrExtendCommand(16, std::span(&extend, 1)));
}
void BM_Quote(benchmark::State& state) {
  const std::array<uint8_t, 8> nonce{1, 2, 3, 4, 5, 6, 7, 8};
  Run(state, tpm::QuoteCommand(Tpm().ak, nonce));
}

void BM_SnpVerify(benchmark::State& state) {
  const std::string dir = std::string(HCL_SHARED_TESTDATA) + "/snp/";
  auto report = igvm::ReadFileBytes(dir + "report_milan.hex");
  auto vcek = igvm::ReadFileBytes(dir + "vcek_milan.der");
  auto chain = igvm::ReadFileBytes(dir + "cert_chain_milan.pem");
  if (!report || !vcek || !chain) {
    state.SkipWithError("no SNP test data (meson -Dshared_testdata)");
    return;
  }
  for (auto _ : state) {
    auto verified = attest::VerifySnpReport(*report, *vcek, *chain);
    if (!verified) {
      state.SkipWithError(verified.error().message().c_str());
      break;
    }
  }
}

BENCHMARK(BM_GetRandom)->Name("Tpm/direct/getrandom")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PcrExtend)->Name("Tpm/direct/pcr-extend")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Quote)->Name("Tpm/direct/quote")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SnpVerify)->Name("SnpVerify/milan")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
