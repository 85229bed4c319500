# Shared by the bench/*.sh scripts (sourced): the build's plugin path, a temp dir, the test
# file, a free port and an nginx-rtmp started on it.
# Sets: build, work, src (the FLV file), bytes (its size); functions free_port, start_nginx.
build=${BUILD:-build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
export GST_PLUGIN_PATH="$build/gst"
work=$(mktemp -d)
trap 'rm -rf "$work"; pkill -f "nginx -p $work" 2>/dev/null || true' EXIT

# make_source SECONDS KBIT/S: 720p30 H.264 at that rate + AAC 128k, into $src.
make_source() {
  src="$work/src.flv"
  echo "making ${1}s of H.264 ${2} kbit/s + AAC..."
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -f lavfi -i "sine=sample_rate=48000" -t "$1" -c:v libx264 -preset ultrafast -b:v "${2}k" \
    -maxrate "${2}k" -bufsize "$(($2 * 2))k" -g 60 -c:a aac -b:a 128k "$src"
  bytes=$(stat -c %s "$src")
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# start_nginx PORT [CONNECTIONS=64]: nginx-rtmp (live, no recording) on 127.0.0.1:PORT in the
# background, one process (no master); sets ngx to its pid and returns once it accepts.
start_nginx() {
  mkdir -p "$work/ngx"
  cat > "$work/ngx/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1;
error_log $work/ngx/error.log error; pid $work/ngx/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections ${2:-64}; }
rtmp { server { listen 127.0.0.1:$1; chunk_size 4096; application live { live on; } } }
NGX
  nginx -p "$work" -c "$work/ngx/nginx.conf" &
  ngx=$!
  wait_port "$1"
}
