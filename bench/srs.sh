#!/usr/bin/env bash
# SRS (github.com/ossrs/srs, 7.0.x) as a same-run anchor for the ingest benchmarks. Nothing of
# SRS is committed: the user points SRS_DIR at a checkout (the directory that holds trunk/).
#
#   SRS_DIR=/work/srs bench/srs.sh build
#       Builds trunk/objs/srs with -O2, no sanitizer, no WebRTC/SRT/GB28181/ffmpeg (SRS's own
#       defaults are -O0 and, on Debian, ASan: both unfair to it). Skipped when the binary is
#       newer than every source file. Needs automake and libssl-dev (it links the system
#       OpenSSL); the first build takes ~70 s on 2 cores. Prints the binary's path.
#   SRS_DIR=/work/srs bench/srs.sh start DIR RTMP_PORT API_PORT MAX_CONNECTIONS
#       Writes DIR/srs.conf (RTMP and HTTP API on 127.0.0.1 only, no HLS/DVR/HTTP server,
#       logs in DIR), starts SRS in the background, waits (bounded) until both ports accept and
#       prints its pid. firstpkt_timeout is 600 s so that N connections opened at once all
#       publish before their first media message (SRS sets up a connection in ~90 ms here).
#       The play side is set for low latency (min_latency, no merged writes, no GOP cache):
#       the benchmarks check real time with one player, and SRS's default 350 ms merged-write
#       delay would be counted as lateness.
#   bench/srs.sh stop DIR
#       SIGINT (SRS's fast quit), SIGKILL after 5 s; waits for the process to be gone.
#   SRS_DIR=/work/srs bench/srs.sh available
#       Exit 0 when SRS_DIR holds a built binary (no build attempted).
# Exit status is non-zero with a message on stderr when SRS_DIR is unset or the build fails;
# callers then print "not measured" for every SRS row.
set -euo pipefail

die() {
  echo "srs.sh: $*" >&2
  exit 1
}

binary() { echo "${SRS_DIR:?SRS_DIR is not set (a checkout of github.com/ossrs/srs 7.0.x)}/trunk/objs/srs"; }

# Alive and not a zombie (an orphaned SRS may wait for a reaper).
pid_alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

cmd=${1:-}
case "$cmd" in
build)
  [ -n "${SRS_DIR:-}" ] || die "SRS_DIR is not set (a checkout of github.com/ossrs/srs 7.0.x)"
  trunk="$SRS_DIR/trunk"
  [ -x "$trunk/configure" ] || die "$trunk/configure not found: SRS_DIR must hold trunk/"
  bin=$(binary)
  if [ -x "$bin" ] && [ -z "$(find "$trunk/src" -newer "$bin" -name '*.[ch]pp' -print -quit)" ] &&
    grep -q -- '-O2' "$trunk/objs/Makefile" 2>/dev/null; then
    echo "$bin"
    exit 0
  fi
  command -v automake >/dev/null || die "automake missing (apt-get install automake)"
  log="$trunk/objs/ertmp-build.log"
  mkdir -p "$trunk/objs"
  echo "srs.sh: building SRS in $trunk (log: $log)" >&2
  if ! (cd "$trunk" && ./configure --sys-ssl=on --srt=off --rtc=off --gb28181=off --ffmpeg-fit=off \
    --ffmpeg-opus=off --utest=off --sanitizer=off --gperf=off --apm=off --https=off --jobs=2 \
    --extra-flags=-O2 && make -j2) >"$log" 2>&1; then
    tail -20 "$log" >&2
    die "build failed (see $log)"
  fi
  [ -x "$bin" ] || die "build finished without $bin"
  echo "$bin"
  ;;
available)
  [ -n "${SRS_DIR:-}" ] && [ -x "$(binary)" ]
  ;;
start)
  [ $# -eq 5 ] || die "usage: srs.sh start DIR RTMP_PORT API_PORT MAX_CONNECTIONS"
  dir=$2 rtmp_port=$3 api_port=$4 max_conn=$5
  bin=$(binary)
  [ -x "$bin" ] || die "$bin not built (srs.sh build)"
  mkdir -p "$dir"
  cat >"$dir/srs.conf" <<CONF
listen              127.0.0.1:$rtmp_port;
max_connections     $max_conn;
daemon              off;
pid                 $dir/srs.pid;
srs_log_tank        file;
srs_log_file        $dir/srs.log;
srs_log_level_v2    warn;
ff_log_dir          $dir;
work_dir            $dir;
grace_start_wait    0;
grace_final_wait    0;
http_api {
    enabled         on;
    listen          127.0.0.1:$api_port;
}
vhost __defaultVhost__ {
    min_latency     on;
    tcp_nodelay     on;
    publish {
        firstpkt_timeout 600000;
        normal_timeout   30000;
    }
    play {
        gop_cache   off;
        mw_latency  0;
        mw_msgs     0;
    }
}
CONF
  # SRS takes the soft limit as its connection ceiling.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (cd "$dir" && exec "$bin" -c "$dir/srs.conf" >"$dir/stdout.log" 2>&1) &
  pid=$!
  echo "$pid" >"$dir/srs.launcher.pid"
  for _ in $(seq 200); do
    pid_alive "$pid" || { tail -5 "$dir/srs.log" "$dir/stdout.log" >&2 2>/dev/null; die "SRS exited at start"; }
    if (echo >/dev/tcp/127.0.0.1/"$rtmp_port") 2>/dev/null && (echo >/dev/tcp/127.0.0.1/"$api_port") 2>/dev/null; then
      echo "$pid"
      exit 0
    fi
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  die "SRS did not listen on $rtmp_port/$api_port within 10 s"
  ;;
stop)
  [ $# -eq 2 ] || die "usage: srs.sh stop DIR"
  dir=$2
  pid=$(cat "$dir/srs.launcher.pid" 2>/dev/null || true)
  pid_alive "$pid" || exit 0
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    pid_alive "$pid" || exit 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    pid_alive "$pid" || exit 0
    sleep 0.05
  done
  die "SRS ($pid) did not exit"
  ;;
*)
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 2
  ;;
esac
