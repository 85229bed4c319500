#!/usr/bin/env bash
# The README's demo: a real publisher (ffmpeg) pushes ~10 s of H.264 + AAC test media into
# rtmpingestsrc; the pipeline records what it got to a Matroska file, and the demo prints
# what arrived (codecs, packets, duration, file) with ffprobe and ertmp-inspect.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

out=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GST_PLUGIN_PATH="$PWD/build/gst"

echo "== rtmpingestsrc listening on rtmp://127.0.0.1:$port/live/demo, recording to $out/recording.mkv"
gst-launch-1.0 -e rtmpingestsrc address=127.0.0.1 port="$port" application=live stream-key=demo name=src \
  src.video_0 ! queue ! h264parse ! matroskamux name=mux ! filesink location="$out/recording.mkv" \
  src.audio_0 ! queue ! aacparse ! mux. > "$out/pipeline.log" 2>&1 &
pipeline=$!

# Wait for the listener (bounded).
for _ in $(seq 100); do
  (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done

echo "== ffmpeg publishes 10 s of test video (H.264, B-frames) and a 440 Hz tone (AAC), in real time"
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -g 60 -bf 2 -c:a aac -b:a 128k \
  -f flv "rtmp://127.0.0.1:$port/live/demo"

# rtmpingestsrc sends EOS when the publisher leaves; the recording then finalizes.
for _ in $(seq 100); do kill -0 "$pipeline" 2>/dev/null || break; sleep 0.1; done
kill "$pipeline" 2>/dev/null || true
wait "$pipeline" 2>/dev/null || true

echo "== what arrived"
ffprobe -v error -count_packets \
  -show_entries stream=index,codec_name,profile,width,height,sample_rate,channels,nb_read_packets \
  -show_entries format=duration -of default=noprint_wrappers=1 "$out/recording.mkv"
echo "file: $out/recording.mkv ($(du -h "$out/recording.mkv" | cut -f1))"
