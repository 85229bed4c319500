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
for t in "${targets[@]}"; do
  work="fuzz/artifacts/$t"
  mkdir -p "$work/corpus"
  echo "== $t: ${secs}s"
  "$builddir/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "fuzz/corpus/$t" 2>&1 | \
    grep -E '^(#[0-9]+.*(DONE|pulse)|stat::|==|SUMMARY|INFO: Seed)' | tail -n 12 || true
done
