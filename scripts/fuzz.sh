#!/usr/bin/env bash
# libFuzzer over the parsers that read untrusted bytes (tests/fuzz/: safetensors header, config
# and overrides, CSV, video probe/decode), built with clang + AddressSanitizer + UBSan.
#   scripts/fuzz.sh [seconds per target, default 60] [targets..., default all four]
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/: valid files and every
# input that once crashed — they are the regression files) and grows a working corpus under
# build/fuzz/corpus/. A crash leaves build/fuzz/artifacts/<target>-crash-* and fails the script;
# copy the file into tests/fuzz/corpus/<target>/ once fixed. Prints executions per target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors config csv video)
source scripts/env.sh
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang and libclang-rt-dev)" >&2
  exit 1
fi
build=build/fuzz
cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
mkdir -p "$build/artifacts"
status=0
summary=""
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  log="$build/$t.log"
  echo "fuzz: $t for ${secs} s"
  if "$build/fuzz_$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=6144 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t-" "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    result="ok"
  else
    result="FAILED (see $log and $build/artifacts/)"
    status=1
    tail -40 "$log" >&2
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  summary+="$(printf '%-12s %12s executions in %s s: %s' "$t" "${execs:-?}" "$secs" "$result")"$'\n'
done
printf '%s' "$summary"
exit $status
