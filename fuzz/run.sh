#!/usr/bin/env bash
# Fuzz campaign: builds every libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a time box, growing a scratch corpus seeded from fuzz/corpus/<target>.
# Crashes land in fuzz/artifacts/<target>/; copy each into fuzz/corpus/<target>/regress-* once
# fixed so `meson test` replays it forever.
# Usage: fuzz/run.sh [seconds-per-target=600] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
builddir=fuzz-build
if [ ! -f "$builddir/build.ninja" ]; then
  CXX=clang++ CC=clang meson setup "$builddir" -Dfuzz=true -Dtests=false -Dbenchmarks=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dcpp_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined'
fi
ninja -C "$builddir"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd "$builddir/fuzz" && find . -maxdepth 1 -type f -executable \
    -name 'fuzz_*' | sed 's|^./fuzz_||' | sort)
fi
mkdir -p fuzz/artifacts
summary=fuzz/artifacts/summary.txt
printf '%-16s %12s %8s %8s %10s %8s %s\n' target executions exec/s cov of-edges corpus findings >"$summary"
for t in "${targets[@]}"; do
  work="fuzz/artifacts/$t"
  mkdir -p "$work/corpus"
  echo "== $t: ${secs}s"
  log="$work/last-run.log"
  "$builddir/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "fuzz/corpus/$t" >"$log" 2>&1 || true
  grep -E '^(#[0-9]+.*(DONE|pulse)|stat::|==|SUMMARY|INFO: (Seed|Loaded))' "$log" | tail -n 12 || true
  # One row per target: executions, speed, edges covered out of the instrumented total.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  edges=$(sed -n 's/^INFO: Loaded 1 modules *(\([0-9]*\) inline 8-bit counters.*/\1/p' "$log" | head -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  found=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-16s %12s %8s %8s %10s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" \
    "${edges:-?}" "$corpus" "$found" >>"$summary"
done
cat "$summary"
