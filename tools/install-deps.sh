#!/usr/bin/env bash
# Installs every Debian 12 package gst-ertmp, its tests, fuzzers and benchmarks need,
# node-media-server (npm) for the interop tests into a local directory outside the tree, and
# Debian 13's ffmpeg 7.1 (the third-party E-RTMP peer) into a chroot outside the tree
# (tools/install-ffmpeg71.sh; ~1 GB, about two minutes). ERTMP_SKIP_FFMPEG71=1 skips the latter
# (its tests then skip, except in CI, which always installs it and where they would fail).
# A no-op (no network) when everything is present. apt-get as root, through sudo otherwise.
set -euo pipefail

# node-media-server: pinned to the newest release whose engines allow Debian 12's nodejs 18
# (4.4.x wants node >= 20); tests/interop/node_media_server.h looks in the same directory.
nms_version=4.3.2
nms_dir=${ERTMP_NMS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-ertmp/nms}

packages=(
  # build
  meson ninja-build pkg-config g++ clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the plugin
  libglib2.0-dev libgnutls28-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev glib-networking
  # real peers and media tools for the interop tests
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg nginx-light libnginx-mod-rtmp rtmpdump
  # librtmp's own API (rtmpdump's library): the play-control test drives pause and seek with it
  librtmp-dev
  # a real TCP load balancer sending the PROXY protocol header (tests/interop/haproxy.h), and
  # the TLS terminator in front of nginx-rtmp for rtmpingestsrc mode=caller over rtmps
  haproxy
  # the Python application example (examples/) and its test: PyGObject + GStreamer's typelib
  python3-gi gir1.2-gstreamer-1.0
  # the install test reads sonames and NEEDED entries
  binutils
  # self-signed certificates for the rtmps tests
  openssl
  # the trixie chroot that holds ffmpeg 7.1 (tools/install-ffmpeg71.sh)
  debootstrap
  # benchmarks
  bc iperf3 gnuplot-nox iproute2
  # building SRS, the benchmarks' same-run anchor (bench/srs.sh; the source comes from SRS_DIR)
  automake make patch unzip perl libssl-dev
)
# node + npm for node-media-server: Debian's packages unless a node is already installed
# (e.g. from NodeSource, whose nodejs package carries npm itself).
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

nms_pkg="$nms_dir/node_modules/node-media-server/package.json"
if [ -f "$nms_pkg" ] && grep -q "\"version\": *\"$nms_version\"" "$nms_pkg"; then
  echo "install-deps: node-media-server $nms_version present in $nms_dir"
else
  echo "install-deps: installing node-media-server $nms_version into $nms_dir"
  mkdir -p "$nms_dir"
  npm install --prefix "$nms_dir" --no-audit --no-fund --omit=dev --loglevel=error \
    "node-media-server@$nms_version"
fi

# CI (CI set and not false/0, as .ci/run sets it) always installs ffmpeg 7.1: its tests fail there
# when it is missing.
case "${CI:-}" in "" | false | 0) in_ci=false ;; *) in_ci=true ;; esac
if [ "${ERTMP_SKIP_FFMPEG71:-0}" != 0 ] && [ "$in_ci" = false ]; then
  echo "install-deps: ERTMP_SKIP_FFMPEG71 set: not installing ffmpeg 7.1 (its tests skip)"
else
  "$(dirname "$0")/install-ffmpeg71.sh"
fi
