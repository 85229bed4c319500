#!/usr/bin/env bash
# The README's test command: installs what is needed, configures, builds, runs every test.
# Usage: tools/test.sh [--werror] [builddir]   (CI passes --werror)
# Ends with a line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

werror=false
builddir=build
for a in "$@"; do
  case "$a" in
    --werror) werror=true ;;
    *) builddir="$a" ;;
  esac
done

tools/install-deps.sh

if [ -d "$builddir" ] && [ -f "$builddir/build.ninja" ]; then
  meson configure "$builddir" -Dwerror=$werror -Dtests=true -Dbenchmarks=true >/dev/null
else
  meson setup "$builddir" -Dwerror=$werror -Dtests=true -Dbenchmarks=true
fi
ninja -C "$builddir"

set +e
meson test -C "$builddir" --num-processes 2 --print-errorlogs
rc=$?
set -e

# Summarise from meson's JSON log: one line per test executable.
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
