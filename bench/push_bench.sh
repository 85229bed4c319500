#!/usr/bin/env bash
# Push benchmark (issue 5 figures): the same FLV file, demuxed by flvdemux, pushed as fast as
# the server takes it (sync=false) into the same nginx-rtmp, several rounds, by
#   A) rtmppushsink with elementary pads         (ours, flvdemux ! h264parse/aacparse ! sink)
#   B) flvmux streamable=true ! rtmppushsink    (ours, drop-in form)
#   C) flvmux streamable=true ! rtmp2sink       (the anchor users run today)
# Prints throughput (Mbit/s of what was published), CPU seconds per GB and peak RSS of the
# publishing process, medians over the rounds, and the ratios ours / anchor from the same run.
# Usage: bench/push_bench.sh [rounds=3] [seconds-of-media=60] [video-kbit/s=6000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-60}
kbps=${3:-6000}
# The file is published LOOPS times back to back in one publish (ffmpeg -stream_loop into one
# FLV with continuous timestamps, as ingest_bench.sh publishes it), so the publisher's start-up
# (plugin loading, connect) no longer dominates CPU per GB: one pass takes ~0.25 s of CPU.
loops=${LOOPS:-10}
source bench/common.sh
make_source "$secs" "$kbps"
one_pass=$bytes
looped="$work/looped.flv"
ffmpeg -hide_banner -loglevel error -y -stream_loop $((loops - 1)) -i "$src" -c copy "$looped"
src=$looped
bytes=$(stat -c %s "$src")
port=$(free_port)
start_nginx "$port"

# Runs one publish; prints "cpu_seconds wall_seconds max_rss_kib" of the publishing process.
run() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
if rc != 0:
    sys.exit(f"publisher failed ({rc}): {' '.join(sys.argv[1:])}")
print(f"{r.ru_utime + r.ru_stime:.3f} {wall:.3f} {r.ru_maxrss}")
PY
}

url="rtmp://127.0.0.1:$port/live"
demux="filesrc location=$src ! flvdemux name=d"
declare -A results
for r in $(seq "$rounds"); do
  results[ours_es]+="$(run gst-launch-1.0 -q $demux rtmppushsink name=s sync=false location="$url/a$r" \
    d.video ! queue ! h264parse ! s.video_0 d.audio ! queue ! aacparse ! s.audio_0);"
  results[ours_flv]+="$(run gst-launch-1.0 -q $demux flvmux name=m streamable=true ! \
    rtmppushsink sync=false location="$url/b$r" d.video ! queue ! m.video d.audio ! queue ! m.audio);"
  results[rtmp2sink]+="$(run gst-launch-1.0 -q $demux flvmux name=m streamable=true ! \
    rtmp2sink sync=false location="$url/c$r" d.video ! queue ! m.video d.audio ! queue ! m.audio);"
done

python3 - "$bytes" "$loops" "$one_pass" "${results[ours_es]}" "${results[ours_flv]}" "${results[rtmp2sink]}" <<'PY'
import statistics, sys
size, loops, one_pass = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
names = ["rtmppushsink (elementary pads)", "flvmux ! rtmppushsink", "flvmux ! rtmp2sink (anchor)"]
rows = []
for name, blob in zip(names, sys.argv[4:]):
    runs = [tuple(map(float, x.split())) for x in blob.split(";") if x.strip()]
    cpu = statistics.median(r[0] for r in runs)
    wall = statistics.median(r[1] for r in runs)
    rss = statistics.median(r[2] for r in runs)
    rows.append((name, size * 8 / wall / 1e6, cpu / (size / 1e9), rss / 1024))
print(f"\nfile {size/1e6:.1f} MB ({loops} loops of {one_pass/1e6:.1f} MB), {len(runs)} rounds, medians; "
      "the publishing gst-launch process only")
print(f"{'publisher':34} {'Mbit/s':>9} {'CPU s/GB':>9} {'RSS MiB':>8}")
for name, tput, cpugb, rss in rows:
    print(f"{name:34} {tput:9.0f} {cpugb:9.2f} {rss:8.1f}")
# Each round against the anchor of the same round (the machine's load changes between rounds).
per = [[tuple(map(float, x.split())) for x in blob.split(";") if x.strip()] for blob in sys.argv[4:]]
for i in range(len(per[-1])):
    anchor = per[-1][i]
    cells = []
    for name, runs in zip(names[:-1], per[:-1]):
        cells.append(f"{name}: {anchor[1] / runs[i][1]:.2f}x / {runs[i][0] / anchor[0]:.2f}x")
    print(f"round {i + 1} (throughput / CPU per GB vs the anchor): " + "; ".join(cells))
a = rows[-1]
for name, tput, cpugb, rss in rows[:-1]:
    print(f"{name}: throughput {tput / a[1]:.2f}x the anchor (goal >= 2), "
          f"CPU/GB {cpugb / a[2]:.2f}x (goal <= 0.5)")
PY
