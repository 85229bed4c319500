#!/usr/bin/env bash
# Serve benchmark (issue 13): N real-time players of one 3 Mbit/s H.264+AAC stream (an FLV file
# made by ffmpeg, 720p30, 2,872 kbit/s video + 128 kbit/s AAC), served by
#   A) rtmppushsink mode=listener, fed at real time in one gst-launch:
#      filesrc ! flvdemux ! queue ! h264parse/aacparse ! rtmppushsink mode=listener sync=true
#   B) nginx-rtmp (one process, live), fed by the same gst-launch pipeline with rtmppushsink in
#      caller mode (sync=true): each message reaches nginx-rtmp when ours gets it. NGINX_FEED=ffmpeg
#      feeds it with ffmpeg -re -i FILE -c copy -f flv instead, which writes in bursts:
#      nginx-rtmp then relays several messages per write, fewer wake-ups and sends per player
#      than for a stream whose messages arrive one by one (its players saw 25 ms median
#      lateness, against ~1 ms fed by the sink).
# The players are the same for both: build/bench/serve_players, N rtmp::ClientSession players in
# one process (it also samples the server from /proc and checks real time; see its header).
# Each server runs with N players and with none (its baseline: for ours that is reading,
# demuxing and parsing the file; for nginx-rtmp receiving the publish), fresh each time, in the
# order ours 0, ours N, nginx 0, nginx N per round. Server side only: the gst-launch process,
# or the nginx process.
# The server runs alone for 4 s before the players join (their RSS is measured against that).
# Prints, medians over the rounds: server CPU seconds per player-second (raw: CPU with N
# players / (N x window); added: (CPU with N - CPU with 0) / (N x window)), RSS per player
# ((RSS in the window - RSS of the same process before the players joined) / N: fresh processes
# differ by more than 100 players add), whether every player kept real time, and the ratios
# ours / nginx-rtmp (goal <= 1). The last line, "serve_json {...}", is for bench/run_all.sh.
# Usage: bench/serve_bench.sh [rounds=1] [window-seconds=15] [players=100]
# Environment: WARMUP (3) seconds between the players' start and the window; NGINX_FEED (sink).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
secs=${2:-15}
players=${3:-100}
warmup=${WARMUP:-3}
join=4  # seconds the server runs alone before the players join (its RSS without players)
feed=${NGINX_FEED:-sink}
source bench/common.sh
load="$build/bench/serve_players"
[ -x "$load" ] || { echo "serve_bench: $load missing (meson setup -Dbenchmarks=true; ninja)"; exit 1; }
# The file outlasts a measurement: start-up, the server alone, warm-up, window and a margin.
media_secs=$((join + secs + warmup + 8))
make_source "$media_secs" 2872
stream_mbps=$(echo "$bytes * 8 / $media_secs / 1000000" | bc -l)

# measure_ours N: one result line of serve_players against a fresh gst-launch.
measure_ours() {
  local port pid
  port=$(free_port)
  gst-launch-1.0 -q filesrc location="$src" ! flvdemux name=d \
    rtmppushsink name=s mode=listener sync=true location="rtmp://127.0.0.1:$port/live/s" \
    d.video ! queue ! h264parse ! s.video_0 d.audio ! queue ! aacparse ! s.audio_0 \
    > "$work/ours.log" 2>&1 &
  pid=$!
  wait_port "$port" || { echo "serve_bench: rtmppushsink did not listen"; cat "$work/ours.log"; exit 1; }
  timeout -k 5 $((join + secs + warmup + 30)) "$load" --port "$port" --pid "$pid" --players "$1" \
    --join-after "$join" --warmup "$warmup" --seconds "$secs" | grep '^result'
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# measure_nginx N: the same against a fresh nginx-rtmp and its publisher.
measure_nginx() {
  local port pub
  port=$(free_port)
  start_nginx "$port" $((2 * players + 16))
  if [ "$feed" = ffmpeg ]; then
    ffmpeg -hide_banner -loglevel error -re -i "$src" -c copy -f flv "rtmp://127.0.0.1:$port/live/s" \
      > "$work/feed.log" 2>&1 &
  else
    gst-launch-1.0 -q filesrc location="$src" ! flvdemux name=d \
      rtmppushsink name=s sync=true location="rtmp://127.0.0.1:$port/live/s" \
      d.video ! queue ! h264parse ! s.video_0 d.audio ! queue ! aacparse ! s.audio_0 \
      > "$work/feed.log" 2>&1 &
  fi
  pub=$!
  timeout -k 5 $((join + secs + warmup + 30)) "$load" --port "$port" --pid "$ngx" --players "$1" \
    --join-after "$join" --warmup "$warmup" --seconds "$secs" | grep '^result'
  kill "$pub" "$ngx" 2>/dev/null || true
  wait "$pub" "$ngx" 2>/dev/null || true
}

results=()
for r in $(seq "$rounds"); do
  for server in ours nginx; do
    for n in 0 "$players"; do
      line=$("measure_$server" "$n")
      echo "round $r $server N=$n: ${line#result }"
      results+=("$server $line")
    done
  done
done

python3 - "$stream_mbps" "$players" "$feed" "${results[@]}" <<'PY'
import json, statistics, sys
stream_mbps, n, feed = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
runs = {}
for arg in sys.argv[4:]:
    server, _, *kv = arg.split()
    d = dict(x.split("=", 1) for x in kv)
    runs.setdefault((server, int(d["players"])), []).append(d)

def med(server, count, key):
    return statistics.median(float(d[key]) for d in runs[(server, count)])

names = {"ours": "rtmppushsink mode=listener", "nginx": f"nginx-rtmp (fed by {feed})"}
fig = {}
for s in ("ours", "nginx"):
    win = med(s, n, "window_s")
    cpu0, cpun = med(s, 0, "server_cpu_s"), med(s, n, "server_cpu_s")
    rss0, rssn = med(s, 0, "server_rss_kb"), med(s, n, "server_rss_kb")
    worst = lambda key, f: f(float(d[key]) for d in runs[(s, n)])
    fig[s] = {
        "window_s": win, "cpu_0_players_s": cpu0, f"cpu_{n}_players_s": cpun,
        "cpu_per_player_second_raw": cpun / (n * win),
        "cpu_per_player_second_added": (cpun - cpu0) / (n * win),
        "rss_0_players_kb": rss0, f"rss_{n}_players_kb": rssn,
        # Paired: the window's RSS against the same process's just before the players joined
        # (fresh processes differ by a few 100 kB to 2 MB in RSS: more than 100 players add).
        "rss_per_player_kb": statistics.median(
            (float(d["server_rss_kb"]) - float(d["server_rss_before_kb"])) / n for d in runs[(s, n)]),
        "rss_before_players_kb": med(s, n, "server_rss_before_kb"),
        "players_realtime_min": int(worst("realtime", min)), "players": n,
        "mbps_per_player_min": worst("mbps_min", min), "mbps_per_player_median": med(s, n, "mbps_median"),
        "media_ratio_min": worst("media_ratio_min", min), "late_p99_ms_max": worst("late_p99_ms", max),
        "late_max_ms": worst("late_max_ms", max), "end_lag_max_ms": worst("end_lag_max_ms", max),
        "ts_step_max_ms": worst("ts_step_max_ms", max), "player_process_cpu_s": med(s, n, "self_cpu_s"),
        "failures": sorted({d["failures"] for d in runs[(s, n)]} - {"-"}),
    }
rounds = len(runs[("ours", n)])
print(f"\n{n} players of one {stream_mbps:.2f} Mbit/s stream (the file's average), {fig['ours']['window_s']:.0f} s "
      f"window, {rounds} round(s), medians; server process only")
print(f"{'server':32} {'CPU s, 0/N':>13} {'CPU/player-s raw':>17} {'added':>9} {'RSS MiB 0/N':>13} "
      f"{'RSS/player kB':>14}  real time: players, Mbit/s min, media/wall min, p99 / max late ms, end lag ms, ts step ms")
for s in ("ours", "nginx"):
    f = fig[s]
    print(f"{names[s]:32} {f['cpu_0_players_s']:5.2f}/{f[f'cpu_{n}_players_s']:<6.2f} "
          f"{f['cpu_per_player_second_raw']*1e3:13.3f} ms {f['cpu_per_player_second_added']*1e3:6.3f} ms "
          f"{f['rss_0_players_kb']/1024:6.1f}/{f[f'rss_{n}_players_kb']/1024:<6.1f} {f['rss_per_player_kb']:14.1f}  "
          f"{f['players_realtime_min']}/{n}, {f['mbps_per_player_min']:.2f}, {f['media_ratio_min']:.3f}, "
          f"{f['late_p99_ms_max']:.1f} / {f['late_max_ms']:.1f}, {f['end_lag_max_ms']:.1f}, {f['ts_step_max_ms']:.0f}"
          + (f"  failures: {', '.join(f['failures'])}" if f["failures"] else ""))
o, a = fig["ours"], fig["nginx"]
def ratio(key):
    return o[key] / a[key] if a[key] > 0 else float("nan")
res = {"stream_mbps": stream_mbps, "players": n, "rounds": rounds, "nginx_feed": feed, "ours": o, "nginx": a,
       "ratio_cpu_added": ratio("cpu_per_player_second_added"),
       "ratio_cpu_raw": ratio("cpu_per_player_second_raw"), "ratio_rss": ratio("rss_per_player_kb"),
       "realtime_ours": o["players_realtime_min"] == n, "realtime_nginx": a["players_realtime_min"] == n}
print(f"ratio ours/nginx-rtmp: CPU per player-second added {res['ratio_cpu_added']:.2f} "
      f"(raw {res['ratio_cpu_raw']:.2f}), RSS per player {res['ratio_rss']:.2f} (goal <= 1); "
      f"all players real time: ours {res['realtime_ours']}, nginx-rtmp {res['realtime_nginx']}")
print("serve_json " + json.dumps(res))
PY
