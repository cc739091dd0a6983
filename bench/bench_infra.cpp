// Benchmarks of the shared infrastructure every run touches: config resolution and hashing
// (once per run and per compare row), SHA-256 throughput (checkpoint and weights hashing),
// and atomic writes (every checkpoint and result).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/sha256.h"

namespace {

void BM_ConfigResolveAndHash(benchmark::State& state) {
  for (auto _ : state) {
    auto c = osv::Config::resolve("small", {"sample.steps=8", "osv.lora_rank=32"});
    benchmark::DoNotOptimize(c.hash());
  }
}
BENCHMARK(BM_ConfigResolveAndHash);

void BM_Sha256(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(osv::sha256_hex(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(1 << 10)->Arg(1 << 20)->Arg(16 << 20);

void BM_AtomicWrite(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_bench_atomic";
  std::filesystem::create_directories(dir);
  const std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) osv::atomic_write(dir / "f.bin", data);
  state.SetBytesProcessed(state.iterations() * state.range(0));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AtomicWrite)->Arg(4 << 10)->Arg(16 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
