#!/usr/bin/env bash
# The README's test command: installs what is needed, configures, builds, runs every test.
# Usage: tools/test.sh [--werror] [builddir]   (CI passes --werror)
# Counts test cases, not executables: every GTest case (meson's gtest protocol) and every
# other test program (the fuzz corpus replays) is one. Lists the skipped cases with their
# reasons and the failed ones, and ends with the line "N passed, N failed, N skipped".
# With CI=true (.ci/run) a missing peer or tool fails its case instead of skipping it.
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

# A GTest program writes <builddir>/<test name>.xml when it ends; remove the last run's, so
# that a program that crashes or times out cannot be counted from a stale file.
python3 - "$builddir" <<'PY'
import json, os, subprocess, sys
tests = json.loads(subprocess.run(["meson", "introspect", "--tests", sys.argv[1]],
                                  capture_output=True, text=True, check=True).stdout)
for t in tests:
    if t.get("protocol") == "gtest":
        xml = os.path.join(t.get("workdir") or sys.argv[1], t["name"] + ".xml")
        if os.path.exists(xml):
            os.remove(xml)
PY

set +e
meson test -C "$builddir" --num-processes 2 --print-errorlogs
rc=$?
set -e

# Count cases from meson's JUnit log (GTest cases as GTest reported them, one case per other
# program), cross-checked with the per-program results of the JSON log.
python3 - "$builddir/meson-logs/testlog.junit.xml" "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
import xml.etree.ElementTree as ET

programs = [json.loads(line) for line in open(sys.argv[2])]  # one per test program

def short(test):  # "gst-ertmp:gst / fault" -> "gst / fault"
    return test.split(":", 1)[-1]

def one_line(text, limit=240):  # GTest's "file:line\nmessage" on one line, shortened
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."

passed, failed, skipped = 0, [], []
for suite in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
    for case in suite.iter("testcase"):
        if case.get("classname") == suite.get("name"):
            # A non-GTest program (or a GTest one that left no XML): the case is the program,
            # and its result is the program's.
            program, name = case.get("name", ""), short(case.get("name", ""))
            result = next((p for p in programs if p["name"] == program), {"result": "ERROR"})
            if result["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result["result"] == "SKIP":
                skipped.append((program, name, "the program exited with 77 (skip)"))
            else:
                failed.append((program, name, f"the program ended with {result['result']} "
                               f"(exit status {result.get('returncode')})"))
            continue
        else:
            # A GTest case, in the suite "<project>.<program>.<GTest suite>".
            full = suite.get("name", "").split(".", 1)[-1]
            program = next((p["name"] for p in programs if full.startswith(p["name"] + ".")), "")
            gsuite = full[len(program) + 1:] if program else full
            name = f"{short(program)}: {gsuite}.{case.get('name', '')}"
        fail = case.find("failure")
        if fail is None:
            fail = case.find("error")
        skip = case.find("skipped")
        if fail is not None:
            failed.append((program, name, one_line(fail.get("message") or fail.text)))
        elif skip is not None:
            skipped.append((program, name, one_line(skip.get("message"))))
        elif case.get("status") == "notrun":
            skipped.append((program, name, "disabled (DISABLED_ prefix)"))
        else:
            passed += 1

# A program that failed although none of its cases did (a crash after its last case, a
# timeout): one more failure, named by the program.
for p in programs:
    if p["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
        continue
    if not any(program == p["name"] for program, _, _ in failed):
        failed.append((p["name"], short(p["name"]),
                       f"the program ended with {p['result']} (exit status {p.get('returncode')})"))

for title, rows in (("skipped", skipped), ("failed", failed)):
    if rows:
        print(f"{len(rows)} {title}:")
        for _, name, why in rows:
            print(f"  {name}: {why}" if why else f"  {name}")
print(f"{passed} passed, {len(failed)} failed, {len(skipped)} skipped")
PY
exit $rc
