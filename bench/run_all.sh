#!/usr/bin/env bash
# Every comparison of the project in one run (issue 6), each against its anchor measured in the
# same run on this machine, several rounds, medians:
#   1. ingest CPU/GB and wall time: rtmpingestsrc vs nginx-rtmp + rtmp2src ! flvdemux
#   2. added latency publisher write -> pad (median, p99, max) vs the same chain
#   3. concurrency: largest N real-time publishers with zero loss, CPU and RSS per publisher
#   4. push: rtmppushsink vs flvmux ! rtmp2sink into one nginx-rtmp (throughput, CPU/GB)
#   5. single-connection ceiling: our pusher into our ingest (1 MiB frames, 64 KiB chunks) vs
#      the loopback TCP ceiling (iperf3)
#   6. protocol micro-benchmarks (chunk reassembly vs memcpy, AMF0 decode)
# Prints one table; writes bench-results/results.json, the raw outputs, and
# bench-results/latency.png (the latency distributions, gnuplot).
# Usage: bench/run_all.sh [--quick | --summary]
#   --quick: fewer rounds and shorter runs (~5 min); --summary: only the table, from the
#   outputs of the last run in bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false summary_only=false
[ "${1:-}" = "--quick" ] && quick=true
[ "${1:-}" = "--summary" ] && summary_only=true
build=${BUILD:-build}
out=bench-results
mkdir -p "$out/samples"
if $quick; then
  rounds=1 secs=20 lat_args=(--rounds 1 --latency-seconds 5) con_args=(--seconds 8 --n 100,200 --kbps 3000)
else
  rounds=3 secs=60 lat_args=(--rounds 3) con_args=(--seconds 15)
fi
if ! $summary_only; then
for tool in iperf3 gnuplot; do
  command -v "$tool" >/dev/null || { echo "run_all: $tool missing (tools/install-deps.sh)"; exit 1; }
done

echo "== 1. ingest CPU/GB"
bench/ingest_bench.sh "$rounds" "$secs" 6000 | tee "$out/ingest_bench.txt"
echo "== 2+3. latency and concurrency"
"$build/bench/ingest_load" "${lat_args[@]}" "${con_args[@]}" --json "$out/ingest_load.json" \
  --samples "$out/samples" | tee "$out/ingest_load.txt"
echo "== 4. push"
bench/push_bench.sh "$rounds" "$((secs / 2))" 6000 | tee "$out/push_bench.txt"

echo "== 5. single-connection ceiling"
export GST_PLUGIN_PATH="$PWD/$build/gst"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iperf3 -s -1 -p "$port" -D
sleep 0.5
tcp_bps=$(iperf3 -c 127.0.0.1 -p "$port" -t 5 -J | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
# 1 MiB "frames" of an H.264 stream (the sink and the ingest carry AVC payloads as they are;
# the avcC is x264's, 720p High).
avcc=01f4001fffe1001e67f4001f90d9b280a00b7602d40404050000030001000003003c8f18319601000668ebec448440
frames=$($quick && echo 1024 || echo 4096)
ours_bps=()
for r in $(seq "$rounds"); do
  p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  gst-launch-1.0 -q rtmpingestsrc address=127.0.0.1 port="$p" name=s s.video_0 ! fakesink sync=false &
  ing=$!
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.05; done
  t0=$(date +%s.%N)
  gst-launch-1.0 -q filesrc location=/dev/zero blocksize=1048576 num-buffers="$frames" ! \
    "video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)$avcc" ! \
    rtmppushsink sync=false chunk-size=65536 location="rtmp://127.0.0.1:$p/live/k"
  wait "$ing"  # the ingest ends at the publisher's EOS: everything was received
  t1=$(date +%s.%N)
  ours_bps+=("$(echo "$frames * 1048576 * 8 / ($t1 - $t0)" | bc -l)")
done
printf '%s\n' "${ours_bps[@]}" > "$out/ceiling.txt"
echo "tcp $tcp_bps" >> "$out/ceiling.txt"

echo "== 6. micro-benchmarks"
"$build/bench/chunk_bench" --benchmark_format=json > "$out/chunk_bench.json" 2>/dev/null
"$build/bench/amf_bench" --benchmark_format=json > "$out/amf_bench.json" 2>/dev/null

gnuplot <<GP
set terminal pngcairo size 900,560
set output "$out/latency.png"
set title "Added latency, publisher write -> buffer at the pad (CDF, same run)"
set xlabel "latency (us)"; set ylabel "fraction of messages"
set logscale x; set grid; set key bottom right
plot "$out/samples/ours.txt" using 1:(\$0/$(wc -l < "$out/samples/ours.txt")) with lines lw 2 title "rtmpingestsrc", \
     "$out/samples/anchor.txt" using 1:(\$0/$(wc -l < "$out/samples/anchor.txt")) with lines lw 2 title "nginx-rtmp + rtmp2src ! flvdemux", \
     "$out/samples/floor.txt" using 1:(\$0/$(wc -l < "$out/samples/floor.txt")) with lines lw 1 title "floor: thread + ServerSession"
GP
fi

python3 - "$out" <<'PY'
import json, re, statistics, sys
out = sys.argv[1]
rows, res = [], {}
t = open(f"{out}/ingest_bench.txt").read()
m = re.search(r"ratio cpu ours/chain: ([\d.]+)", t)
cpu = re.findall(r"cpu/GB\s+([\d.]+) s", t)
res["ingest_cpu_per_gb"] = {"ours": float(cpu[0]), "chain": float(cpu[1]), "ratio": float(m.group(1))}
rows.append(("1 ingest CPU s/GB", cpu[0], cpu[1], m.group(1), "<= 0.3"))
if len(cpu) > 2:
    res["ingest_cpu_per_gb"]["nginx_alone"] = float(cpu[2])
    rows.append(("1 ingest CPU s/GB vs nginx alone", cpu[0], f"nginx {cpu[2]}",
                 f"{float(cpu[0]) / float(cpu[2]):.2f}", ""))
il = json.load(open(f"{out}/ingest_load.json"))
lat = il["latency"]
o, a = lat["ours"]["all"], lat["anchor"]["all"]
res["latency_us"] = {"ours": o, "anchor": a}
rows.append(("2 latency p99 us (median/max)", f'{o["p99_us"]:.0f} ({o["median_us"]:.0f}/{o["max_us"]:.0f})',
             f'{a["p99_us"]:.0f} ({a["median_us"]:.0f}/{a["max_us"]:.0f})',
             f'{o["p99_us"] / a["p99_us"]:.2f}', "p99 < 1000 us"))
con = il["concurrency"]
res["concurrency"] = con
for k, v in con["largest_zero_loss_n"].items():
    rows.append((f"3 zero-loss publishers @{k} kbit/s", str(v), "", "", ">= 200 @3000"))
# Per core, at the largest zero-loss step of each bitrate, against SRS's published
# 2300 x 600 kbit/s per core (1380 Mbit/s of aggregate per core).
for k, v in con["largest_zero_loss_n"].items():
    st = [x for x in con["steps"] if str(x["kbps"]) == str(k) and x["n"] == v and x["pass"]]
    if not st or not st[0]["cpu_s_per_publisher_s"]:
        continue
    per_core = 1.0 / st[0]["cpu_s_per_publisher_s"]
    mbit = st[0]["mbit_per_core"]
    rows.append((f"3 per core @{k}: publishers (Mbit/s)", f"{per_core:.0f} ({mbit:.0f})",
                 "SRS 2300 (1380) published", f"{mbit / 1380:.2f}", "beat SRS aggregate"))
p = open(f"{out}/push_bench.txt").read()
for name, key in (("elementary", r"rtmppushsink \(elementary pads\): throughput ([\d.]+)x.*CPU/GB ([\d.]+)x"),
                  ("flvmux", r"flvmux ! rtmppushsink: throughput ([\d.]+)x.*CPU/GB ([\d.]+)x")):
    mm = re.search(key, p)
    res[f"push_{name}"] = {"throughput_ratio": float(mm.group(1)), "cpu_per_gb_ratio": float(mm.group(2))}
    rows.append((f"4 push ({name}) thr / CPU", "", "rtmp2sink", f"{mm.group(1)}x / {mm.group(2)}x", ">= 2x / <= 0.5x"))
c = open(f"{out}/ceiling.txt").read().split()
tcp = float(c[-1]); ours = statistics.median(map(float, c[:-2]))
res["ceiling_bps"] = {"ours": ours, "tcp": tcp, "ratio": ours / tcp}
rows.append(("5 one connection Gbit/s", f"{ours/1e9:.2f}", f"iperf3 {tcp/1e9:.2f}", f"{ours/tcp:.2f}", ">= 0.5"))
for f in ("chunk_bench", "amf_bench"):
    text = open(f"{out}/{f}.json").read()
    j, end = json.JSONDecoder().raw_decode(text)  # the programs print their ratios after it
    res[f] = {b["name"]: b["real_time"] for b in j["benchmarks"]}
    for line in text[end:].strip().splitlines():
        m = re.search(r"chunk\s+(\d+): .*ratio ([\d.]+)x", line)
        if m:
            rows.append((f"6 chunk {m.group(1)} reassembly/memcpy", "", "memcpy", f"{m.group(2)}x", "<= 2x"))
    if f == "amf_bench":
        for name, t in res[f].items():
            rows.append((f"6 {name}"[:36], f"{t:.0f} {j['benchmarks'][0]['time_unit']}", "", "", ""))
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
print(f"\n{'measure':36} {'ours':>22} {'anchor':>28} {'ratio':>14}  goal")
for r in rows:
    print(f"{r[0]:36} {r[1]:>22} {r[2]:>28} {r[3]:>14}  {r[4]}")
print(f"\nwrote {out}/results.json and {out}/latency.png (load average: {open('/proc/loadavg').read().split()[:3]})")
PY
