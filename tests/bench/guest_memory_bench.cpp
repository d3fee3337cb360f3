// Cost of the checked guest-memory path (mem::GuestMemory::Read: bounds
// check + copy) against a raw memcpy of the same bytes, in one run.
// Goal: ratio close to 1.0 for 4 KiB copies (the check must not matter
// where the copy dominates); small copies show the fixed cost.
#include <cstring>
#include <vector>

#include "mem/guest_memory.h"
#include "ratio_reporter.h"

namespace {

constexpr uint64_t kRamBytes = 1 << 20;
constexpr uint64_t kRamBase = 0x100000;

void GuestRead_Checked(benchmark::State& state) {
  std::vector<std::byte> ram(kRamBytes, std::byte{0x5a});
  auto memory = mem::GuestMemory::Create(mem::Gpa{kRamBase}, ram).value();
  std::vector<std::byte> out(static_cast<size_t>(state.range(0)));
  uint64_t offset = 0;
  for (auto _ : state) {
    auto result = memory.Read(mem::Gpa{kRamBase + offset}, out);
    benchmark::DoNotOptimize(result);
    benchmark::DoNotOptimize(out.data());
    offset = (offset + 4096) % (kRamBytes - out.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void GuestRead_Raw(benchmark::State& state) {
  std::vector<std::byte> ram(kRamBytes, std::byte{0x5a});
  std::vector<std::byte> out(static_cast<size_t>(state.range(0)));
  uint64_t offset = 0;
  for (auto _ : state) {
    std::memcpy(out.data(), ram.data() + offset, out.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    offset = (offset + 4096) % (kRamBytes - out.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

}  // namespace

BENCHMARK(GuestRead_Checked)->Name("GuestRead/checked")->Arg(16)->Arg(256)->Arg(4096);
BENCHMARK(GuestRead_Raw)->Name("GuestRead/raw")->Arg(16)->Arg(256)->Arg(4096);

int main(int argc, char** argv) {
  return bench::RunWithRatios(argc, argv, {{"checked", "raw"}});
}
