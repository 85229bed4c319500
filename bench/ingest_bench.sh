#!/usr/bin/env bash
# Ingest benchmark (issues 4 and 11): a publisher (ffmpeg -c copy, as fast as it can) pushes the
# same FLV file, several rounds, into
#   A) rtmpingestsrc ! fakesink (one per pad)         (ours; no queue after our pads)
#   B) nginx-rtmp + rtmp2src ! flvdemux ! queue ! fakesink   (the chain users run today)
#   C) nginx-rtmp + rtmpingestsrc mode=caller ! fakesink      (ours playing from a server,
#                                                              issue 13)
# and prints CPU seconds per GB ingested (receiving side only: gst-launch [+ nginx]) and wall
# time, medians over the rounds, with the ratios ours / chain and ours / nginx-rtmp alone
# measured in the same run; for C, the player's CPU alone (nginx's subtracted) against the
# chain's player (rtmp2src ! flvdemux) alone.
# Usage: bench/ingest_bench.sh [rounds=3] [seconds-of-media=60] [video-kbit/s=6000]
# Environment:
#   OUR_QUEUES=0|1   (default 0) 1 puts a queue after each of our pads. An engine that feeds both
#                    pads of a publisher from one thread deadlocks in preroll without them: the
#                    publish then hangs, is killed after PUBLISH_TIMEOUT s, and ours is reported
#                    "not measured" (run with OUR_QUEUES=1 to measure such an engine).
#   LOOPS=N          (default 10) publishes the file N times back to back in one publish.
#   PUBLISH_TIMEOUT  (default 60) seconds one publish may take.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-60}
kbps=${3:-6000}
our_queues=${OUR_QUEUES:-0}
publish_timeout=${PUBLISH_TIMEOUT:-60}
# The file is published LOOPS times back to back in one publish (ffmpeg -stream_loop), so that
# CPU time (read from /proc in 10 ms ticks) is long enough to measure: one pass takes only
# ~0.1 s of receiver CPU.
loops=${LOOPS:-10}
source bench/common.sh
make_source "$secs" "$kbps"
cpu_of() { awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }

# Runs a receiver command in the background, publishes, lets the receiver drain (it exits at
# EOS, or its CPU time stops moving), and prints "cpu_seconds wall_seconds" for the receiver
# plus an optional extra process (nginx). CPU comes from /proc/PID/stat (utime + stime).
measure() {
  local port=$1 url=$2 extra_pid=${3:-}
  shift 3
  "$@" > "$work/recv.log" 2>&1 &
  local recv=$!
  wait_port "$port" || true
  # A player (rtmp2src) must have subscribed before the publish starts: wait (bounded) for its
  # connection, then a little for its play command.
  if [ -n "$extra_pid" ]; then
    for _ in $(seq 200); do
      [ "$(ss -Htn state established "( dport = :$port )" | wc -l)" -gt 0 ] && break
      sleep 0.05
    done
  fi
  sleep 0.3
  local cpu0 extra0=0
  cpu0=$(cpu_of "$recv")
  [ -n "$extra_pid" ] && extra0=$(cpu_of "$extra_pid")
  local t0 t1
  t0=$(date +%s.%N)
  timeout -k 5 "$publish_timeout" ffmpeg -hide_banner -loglevel error -stream_loop $((loops - 1)) \
    -i "$src" -c copy -f flv "$url" &
  local pub=$! rc=0
  # The receiver's CPU is sampled while the publish runs: a player (rtmp2src) exits at the
  # publisher's end of stream, and a process that is gone has no /proc entry to read.
  local last=$cpu0 cur still=0
  while kill -0 "$pub" 2>/dev/null; do
    cur=$(cpu_of "$recv" 2>/dev/null) && last=$cur
    sleep 0.02
  done
  wait "$pub" || rc=$?
  if [ "$rc" -ne 0 ]; then
    kill "$recv" 2>/dev/null || true
    wait "$recv" 2>/dev/null || true
    # timeout(1) exits 124 (SIGTERM sent) or 137 (SIGKILL) when the publish did not end.
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "hung"; else echo "failed"; fi
    return
  fi
  for _ in $(seq 100); do
    cur=$(cpu_of "$recv" 2>/dev/null) || break
    if [ "$cur" = "$last" ]; then still=$((still + 1)); else still=0; fi
    last=$cur
    [ $still -ge 4 ] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  local extra1=0
  [ -n "$extra_pid" ] && extra1=$(cpu_of "$extra_pid")
  kill "$recv" 2>/dev/null || true
  wait "$recv" 2>/dev/null || true
  echo "$(echo "$last - $cpu0 + $extra1 - $extra0" | bc -l) $(echo "$t1 - $t0" | bc -l) $(echo "$extra1 - $extra0" | bc -l)"
}

if [ "$our_queues" = 1 ]; then
  q=(queue !) ours_name="rtmpingestsrc ! queue ! fakesink"
else
  q=() ours_name="rtmpingestsrc ! fakesink (no queue)"
fi
ours=()
chain=()
pull=()
ours_hung=false
for r in $(seq "$rounds"); do
  if ! $ours_hung; then
    p=$(free_port)
    x=$(measure "$p" "rtmp://127.0.0.1:$p/live/k" "" \
      gst-launch-1.0 -q rtmpingestsrc address=127.0.0.1 port="$p" on-disconnect=wait name=s \
      s.video_0 ! "${q[@]}" fakesink sync=false s.audio_0 ! "${q[@]}" fakesink sync=false)
    case "$x" in
      hung) ours_hung=true ours_why="the publish hung for ${publish_timeout} s (an engine that feeds both pads from one thread deadlocks in preroll without queues; OUR_QUEUES=1 measures it with queues)" ;;
      failed) ours_hung=true ours_why="the publish failed (ffmpeg exit status non-zero)" ;;
      *) ours+=("$x") ;;
    esac
  fi

  p=$(free_port)
  start_nginx "$p"
  # rtmp2src must be playing before the publish starts: start it, then publish.
  x=$(measure "$p" "rtmp://127.0.0.1:$p/live/k" "$ngx" \
    gst-launch-1.0 -q rtmp2src location="rtmp://127.0.0.1:$p/live/k" ! flvdemux name=d d.video ! queue ! fakesink sync=false d.audio ! queue ! fakesink sync=false)
  kill "$ngx"; wait "$ngx" 2>/dev/null || true
  case "$x" in
    hung | failed) echo "ingest_bench: the publish into nginx-rtmp (the anchor) $x" >&2; exit 1 ;;
  esac
  chain+=("$x")

  p=$(free_port)
  start_nginx "$p"
  x=$(measure "$p" "rtmp://127.0.0.1:$p/live/k" "$ngx" \
    gst-launch-1.0 -q rtmpingestsrc mode=caller location="rtmp://127.0.0.1:$p/live/k" name=s \
    s.video_0 ! fakesink sync=false s.audio_0 ! fakesink sync=false)
  kill "$ngx"; wait "$ngx" 2>/dev/null || true
  case "$x" in
    hung | failed) pull_why="the publish into nginx-rtmp $x" ;;
    *) pull+=("$x") ;;
  esac
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
total=$((bytes * loops))
report() {
  local name=$1; shift
  local cpus=() walls=() extras=() x rest
  for x in "$@"; do
    cpus+=("${x%% *}")
    rest=${x#* }
    walls+=("${rest%% *}")
    extras+=("${rest##* }")
  done
  REPORT_CPU=$(median "${cpus[@]}")
  REPORT_EXTRA=$(median "${extras[@]}")
  local wall
  wall=$(median "${walls[@]}")
  printf '%-44s cpu %6.3f s  wall %6.3f s  cpu/GB %7.3f s\n' "$name" "$REPORT_CPU" "$wall" \
    "$(echo "$REPORT_CPU / ($total / 1000000000)" | bc -l)"
}
echo "file: $bytes bytes x $loops loops, $rounds rounds (medians); OUR_QUEUES=$our_queues; raw (cpu wall nginx-cpu): ours ${ours[*]:-} | chain ${chain[*]}"
if $ours_hung || [ ${#ours[@]} -eq 0 ]; then
  echo "$ours_name: not measured: ${ours_why:-no round ran}"
  a=""
else
  report "$ours_name" "${ours[@]}"
  a=$REPORT_CPU
fi
report "nginx-rtmp + rtmp2src ! flvdemux ! fakesink" "${chain[@]}"
b=$REPORT_CPU
if [ "$(echo "$REPORT_CPU <= $REPORT_EXTRA" | bc -l)" = 1 ]; then
  echo "warning: the chain's player (rtmp2src) used no measurable CPU (below the 10 ms tick): either it did not play the stream or the file is too short; the chain's figures are not valid"
fi
printf '%-44s cpu %6.3f s                 cpu/GB %7.3f s\n' "  of which nginx-rtmp alone" "$REPORT_EXTRA" \
  "$(echo "$REPORT_EXTRA / ($total / 1000000000)" | bc -l)"
chain_player=$(echo "$b - $REPORT_EXTRA" | bc -l)
if [ ${#pull[@]} -eq 0 ]; then
  echo "nginx-rtmp + rtmpingestsrc mode=caller: not measured: ${pull_why:-no round ran}"
else
  report "nginx-rtmp + rtmpingestsrc mode=caller" "${pull[@]}"
  pull_player=$(echo "$REPORT_CPU - $REPORT_EXTRA" | bc -l)
  printf '%-44s cpu %6.3f s                 cpu/GB %7.3f s\n' "  players alone: rtmpingestsrc mode=caller" \
    "$pull_player" "$(echo "$pull_player / ($total / 1000000000)" | bc -l)"
  printf '%-44s cpu %6.3f s                 cpu/GB %7.3f s\n' "  players alone: rtmp2src ! flvdemux" \
    "$chain_player" "$(echo "$chain_player / ($total / 1000000000)" | bc -l)"
  if [ "$(echo "$chain_player > 0" | bc -l)" = 1 ]; then
    printf 'ratio pull player cpu ours/rtmp2src ! flvdemux: %.2f\n' "$(echo "$pull_player / $chain_player" | bc -l)"
  fi
fi
if [ -n "$a" ]; then
  printf 'ratio cpu ours/chain: %.2f (goal <= 0.25); ours/nginx-rtmp alone: %.2f (goal <= 1.0)\n' \
    "$(echo "$a / $b" | bc -l)" "$(echo "$a / $REPORT_EXTRA" | bc -l)"
fi
