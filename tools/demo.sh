#!/usr/bin/env bash
# The README's demo command. Until the elements land (rtmpingestsrc is issue 4), the demo
# builds the project, makes 10 s of H.264+AAC test media with ffmpeg, and shows what the
# protocol library reads out of it with ertmp-inspect.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build
out=$(mktemp -d)
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=640x360:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -g 60 -c:a aac -b:a 128k "$out/demo.flv"
echo "== ertmp-inspect $out/demo.flv (rtmpingestsrc demo comes with the elements)"
build/tools/ertmp-inspect "$out/demo.flv" | tail -n 12
