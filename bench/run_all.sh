#!/usr/bin/env bash
# Every comparison of the project in one run (issues 6 and 11), each against its anchor measured
# in the same run on this machine, several rounds, medians:
#   1. ingest CPU/GB and wall time: rtmpingestsrc (no queue after its pads, OUR_QUEUES=1 adds
#      them) vs nginx-rtmp + rtmp2src ! flvdemux, and vs nginx-rtmp alone; pull: the player
#      rtmpingestsrc mode=caller vs rtmp2src ! flvdemux, both playing from one nginx-rtmp
#   2. added latency publisher write -> pad (median, p99, max) vs the same chain and a floor,
#      quiet and with a CPU hog per core; also for the pull (mode=caller from nginx-rtmp)
#   3. concurrency vs SRS in alternating steps at 600 kbit/s and 3 Mbit/s (Mbit/s per receiver
#      core, real time, RSS per publisher), then overload at 2x the largest real-time N (CPU,
#      stats, admission of a new publisher, PLAYING->NULL)
#   3m. memory: RSS per idle connected peer, and under the huge-message-declaration attack
#   4. push: rtmppushsink vs flvmux ! rtmp2sink into one nginx-rtmp (throughput, CPU/GB)
#   5. single-connection ceiling: our pusher into our ingest (1 MiB frames, 64 KiB chunks) vs
#      the loopback TCP ceiling (iperf3)
#   6. protocol micro-benchmarks (chunk reassembly vs memcpy, AMF0 decode), and the CPU one
#      thread hand-off costs here (the floor of a streaming task per pad)
# Prints one table (measure, ours, anchor, ratio, goal, met/missed/not measured); writes
# bench-results/results.json, the raw outputs, and bench-results/latency.png (the latency
# distributions, gnuplot).
# Usage: bench/run_all.sh [--quick | --summary]
#   --quick: fewer rounds, shorter runs, a small ladder (N = 50, 100); --summary: only the
#   table, from the outputs of the last run in bench-results/.
# Environment:
#   SRS_DIR=/path/to/srs   a checkout of github.com/ossrs/srs 7.0.x (the directory holding
#                          trunk/): bench/srs.sh builds it once (needs automake) and the
#                          concurrency and memory parts measure it in the same run. Unset, or
#                          when the build fails, every SRS figure reads "not measured".
#   OUR_QUEUES, LOOPS      see bench/ingest_bench.sh; BUILD the build directory (build).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false summary_only=false
[ "${1:-}" = "--quick" ] && quick=true
[ "${1:-}" = "--summary" ] && summary_only=true
build=${BUILD:-build}
out=bench-results
mkdir -p "$out/samples"
if $quick; then
  rounds=1 secs=20
  load_args=(--rounds 1 --latency-seconds 5 --seconds 8 --n 50,100 --kbps 600,3000 --memory-n 64)
else
  rounds=3 secs=60
  load_args=(--rounds 3 --seconds 15)
fi
if ! $summary_only; then
for tool in iperf3 gnuplot; do
  command -v "$tool" >/dev/null || { echo "run_all: $tool missing (tools/install-deps.sh)"; exit 1; }
done
if [ -n "${SRS_DIR:-}" ]; then
  echo "== 0. SRS anchor ($SRS_DIR)"
  if ! bench/srs.sh build; then
    echo "run_all: SRS did not build: its rows read \"not measured\""
    load_args+=(--no-srs)
  fi
else
  echo "== 0. SRS anchor: SRS_DIR not set, SRS rows read \"not measured\""
fi

echo "== 1. ingest CPU/GB"
bench/ingest_bench.sh "$rounds" "$secs" 6000 | tee "$out/ingest_bench.txt"
echo "== 2+3. latency, concurrency, overload, memory"
"$build/bench/ingest_load" "${load_args[@]}" --json "$out/ingest_load.json" \
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
"$build/bench/handoff_bench" | tee "$out/handoff_bench.txt"

plot_line() {  # file title width
  [ -s "$1" ] && printf '"%s" using 1:($0/%d) with lines lw %d title "%s", ' "$1" "$(wc -l <"$1")" "$3" "$2"
}
plots="$(plot_line "$out/samples/ours.txt" "rtmpingestsrc" 2)$(plot_line "$out/samples/anchor.txt" \
  "nginx-rtmp + rtmp2src ! flvdemux" 2)$(plot_line "$out/samples/pull.txt" \
  "nginx-rtmp + rtmpingestsrc mode=caller" 2)$(plot_line "$out/samples/floor.txt" "floor: thread + ServerSession" 1)"
plots+="$(plot_line "$out/samples/ours_hog.txt" "rtmpingestsrc, CPU hogs" 2)$(plot_line \
  "$out/samples/anchor_hog.txt" "chain, CPU hogs" 2)$(plot_line "$out/samples/floor_hog.txt" "floor, CPU hogs" 1)"
if [ -n "$plots" ]; then
  gnuplot <<GP
set terminal pngcairo size 900,560
set output "$out/latency.png"
set title "Added latency, publisher write -> buffer at the pad (CDF, same run)"
set xlabel "latency (us)"; set ylabel "fraction of messages"
set logscale x; set grid; set key bottom right
plot ${plots%, }
GP
fi
fi

python3 - "$out" <<'PY'
import json, re, statistics, sys
out = sys.argv[1]
rows, res = [], {}

def row(measure, ours, anchor, ratio, goal, status):
    rows.append((measure, str(ours), str(anchor), str(ratio), goal, status))

t = open(f"{out}/ingest_bench.txt").read()
cpu = re.findall(r"cpu/GB\s+([\d.]+) s", t)
m = re.search(r"ratio cpu ours/chain: ([\d.]+) \(goal <= ([\d.]+)\); ours/nginx-rtmp alone: ([\d.]+) \(goal <= ([\d.]+)\)", t)
queues = "queues" if "OUR_QUEUES=1;" in t else "no queue"
if m:
    ours, chain, alone = float(cpu[0]), float(cpu[1]), float(cpu[2])
    res["ingest_cpu_per_gb"] = {"ours": ours, "chain": chain, "nginx_alone": alone,
                                "ratio_chain": float(m.group(1)), "ratio_nginx": float(m.group(3)),
                                "our_queues": queues == "queues"}
    row(f"1 ingest CPU s/GB ({queues})", cpu[0], f"chain {cpu[1]}", m.group(1), "<= 0.25x",
        "met" if float(m.group(1)) <= 0.25 else "missed")
    row(f"1 ingest CPU s/GB vs nginx alone", cpu[0], f"nginx {cpu[2]}", m.group(3), "<= 1.0x",
        "met" if float(m.group(3)) <= 1.0 else "missed")
else:
    why = re.search(r"not measured: ([^(\n]*)", t)
    res["ingest_cpu_per_gb"] = {"ours": None, "chain": float(cpu[0]) if cpu else None,
                                "why": why.group(1).strip() if why else "no figures"}
    row(f"1 ingest CPU s/GB ({queues})", "hung" if why else "-", f"chain {cpu[0] if cpu else '-'}",
        "", "<= 0.25x", "not measured")
pm = re.search(r"players alone: rtmpingestsrc mode=caller\s+cpu\s+[\d.]+ s\s+cpu/GB\s+([\d.]+) s", t)
cm = re.search(r"players alone: rtmp2src ! flvdemux\s+cpu\s+[\d.]+ s\s+cpu/GB\s+([\d.]+) s", t)
rm = re.search(r"ratio pull player cpu ours/rtmp2src ! flvdemux: ([\d.]+)", t)
if pm and cm and rm:
    res["pull_cpu_per_gb"] = {"ours": float(pm.group(1)), "rtmp2src_flvdemux": float(cm.group(1)),
                              "ratio": float(rm.group(1))}
    row("1 pull CPU s/GB (player, same nginx)", pm.group(1), f"rtmp2src {cm.group(1)}", rm.group(1),
        "<= 1.0x", "met" if float(rm.group(1)) <= 1.0 else "missed")
else:
    row("1 pull CPU s/GB (player, same nginx)", "-", "rtmp2src -", "", "<= 1.0x", "not measured")
il = json.load(open(f"{out}/ingest_load.json"))
res["ingest_load"] = il
part_no = {"latency": "2", "concurrency": "3", "overload": "3", "memory": "3m"}
for g in il.get("goals", []):
    row(f'{part_no.get(g["part"], "")} {g["measure"]}', g["ours"], g["anchor"], g["ratio"],
        g["goal"], g["status"])
p = open(f"{out}/push_bench.txt").read()
for name, key in (("elementary", r"rtmppushsink \(elementary pads\): throughput ([\d.]+)x.*CPU/GB ([\d.]+)x"),
                  ("flvmux", r"flvmux ! rtmppushsink: throughput ([\d.]+)x.*CPU/GB ([\d.]+)x")):
    mm = re.search(key, p)
    thr, cpugb = float(mm.group(1)), float(mm.group(2))
    res[f"push_{name}"] = {"throughput_ratio": thr, "cpu_per_gb_ratio": cpugb}
    row(f"4 push ({name}) thr / CPU", "", "rtmp2sink", f"{thr}x / {cpugb}x", ">= 2x / <= 0.5x",
        "met" if thr >= 2 and cpugb <= 0.5 else "missed")
c = open(f"{out}/ceiling.txt").read().split()
tcp = float(c[-1]); ours = statistics.median(map(float, c[:-2]))
res["ceiling_bps"] = {"ours": ours, "tcp": tcp, "ratio": ours / tcp}
row("5 one connection Gbit/s", f"{ours/1e9:.2f}", f"iperf3 {tcp/1e9:.2f}", f"{ours/tcp:.2f}", ">= 0.5",
    "met" if ours / tcp >= 0.5 else "missed")
for f in ("chunk_bench", "amf_bench"):
    text = open(f"{out}/{f}.json").read()
    j, end = json.JSONDecoder().raw_decode(text)  # the programs print their ratios after it
    res[f] = {b["name"]: b["real_time"] for b in j["benchmarks"]}
    for line in text[end:].strip().splitlines():
        m = re.search(r"chunk\s+(\d+): .*ratio ([\d.]+)x", line)
        if m:
            row(f"6 chunk {m.group(1)} reassembly/memcpy", "", "memcpy", f"{m.group(2)}x", "<= 2x",
                "met" if float(m.group(2)) <= 2 else "missed")
    if f == "amf_bench":
        for name, t in res[f].items():
            row(f"6 {name}"[:40], f"{t:.0f} {j['benchmarks'][0]['time_unit']}", "", "", "", "")
hm = re.search(r"with a hand-off ([\d.]+) us.*alone ([\d.]+) us; hand-off ([\d.]+) us",
               open(f"{out}/handoff_bench.txt").read())
if hm:
    res["handoff_us"] = {"with": float(hm.group(1)), "sleep_wake": float(hm.group(2)),
                         "handoff": float(hm.group(3))}
    row("6 thread hand-off, CPU us per item", hm.group(3), f"sleep+wake {hm.group(2)}", "", "", "")
res["table"] = [dict(zip(("measure", "ours", "anchor", "ratio", "goal", "status"), r)) for r in rows]
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
print(f"\n{'measure':44} {'ours':>24} {'anchor':>30} {'ratio':>14}  {'goal':26} status")
for r in rows:
    print(f"{r[0]:44} {r[1]:>24} {r[2]:>30} {r[3]:>14}  {r[4]:26} {r[5]}")
print(f"\nwrote {out}/results.json and {out}/latency.png (load average: {open('/proc/loadavg').read().split()[:3]})")
PY
