#!/usr/bin/env bash
# Installs every Debian 12 package gst-ertmp, its tests, fuzzers and benchmarks need.
# A no-op when everything is present. apt-get as root, through sudo otherwise.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the plugin
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev glib-networking
  # real peers and media tools for the interop tests
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg nginx-light libnginx-mod-rtmp rtmpdump
  # self-signed certificates for the rtmps tests
  openssl
  # benchmarks
  bc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
