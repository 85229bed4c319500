#!/usr/bin/env bash
# Installs Debian 13 (trixie)'s ffmpeg 7.1 into a chroot outside the source tree, as a real
# E-RTMP peer for the interop tests (tests/interop/ffmpeg71.h runs it from there). Debian 12's
# ffmpeg 5.1 speaks no E-RTMP; 7.1 publishes and listens with HEVC, AV1 and VP9 FourCC video.
#
#   DIR = ${ERTMP_FFMPEG71_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-ertmp/trixie}
#   debootstrap --variant=minbase trixie DIR <mirror>, then apt-get install ffmpeg inside.
#
# The mirror is the Debian archive this machine's apt sources already use (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/), or ERTMP_DEBIAN_MIRROR. About two minutes
# and ~1 GB on disk. Idempotent: a complete install (DIR/.ertmp-ffmpeg71) is left alone; a
# half-made one is removed and made again. Needs root (through sudo otherwise) and debootstrap.
set -euo pipefail

dir=${ERTMP_FFMPEG71_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-ertmp/trixie}
stamp="$dir/.ertmp-ffmpeg71"
bindir="$dir/ertmp-bin"

# Writes $bindir/ffmpeg and $bindir/ffprobe: they run the chroot's programs with the chroot's
# dynamic loader and libraries, no chroot(2) and no root needed. The library path is the
# chroot's lib directory, the directories the Debian alternatives (BLAS/LAPACK) resolve to
# inside the chroot (their symlinks are absolute, so they would otherwise reach the host's
# /etc/alternatives), and the directory of every library the loader reports missing (RUNPATH
# entries such as pulseaudio/ name host paths), found by asking the loader until it has them all.
write_wrappers() {
  local libdir="$dir/usr/lib/x86_64-linux-gnu" loader libpath link target missing found i prog
  loader="$libdir/ld-linux-x86-64.so.2"
  libpath=""
  while IFS= read -r link; do
    # libblas.so.3 -> /etc/alternatives/libblas.so.3-x86_64-linux-gnu -> /usr/lib/.../blas/...
    target=$(readlink "$dir$(readlink "$link")" || true)
    if [ "${target#/}" != "$target" ] && [ -e "$dir$target" ]; then
      libpath="$libpath${libpath:+:}$(dirname "$dir$target")"
    fi
  done < <(find "$libdir" -maxdepth 1 -type l -lname '/etc/alternatives/*')
  libpath="$libpath${libpath:+:}$libdir"
  for prog in ffmpeg ffprobe; do
    for i in $(seq 1 20); do
      missing=$("$loader" --inhibit-cache --library-path "$libpath" --list "$dir/usr/bin/$prog" 2>&1 |
        sed -n 's/.*error while loading shared libraries: \([^:]*\):.*/\1/p' || true)
      [ -z "$missing" ] && break
      found=$(find "$libdir" -name "$missing" -print -quit)
      if [ -z "$found" ]; then
        echo "install-ffmpeg71: $missing is not in the chroot" >&2
        return 1
      fi
      libpath="$libpath:$(dirname "$found")"
    done
  done
  mkdir -p "$bindir"
  for prog in ffmpeg ffprobe; do
    cat >"$bindir/$prog" <<EOF
#!/bin/sh
# Debian trixie's $prog from the chroot $dir (written by tools/install-ffmpeg71.sh).
GCONV_PATH='$libdir/gconv' exec '$loader' --inhibit-cache --library-path '$libpath' '$dir/usr/bin/$prog' "\$@"
EOF
    chmod 755 "$bindir/$prog"
  done
  "$bindir/ffmpeg" -hide_banner -version | head -n 1
}

if [ -f "$stamp" ] && [ -x "$dir/usr/bin/ffmpeg" ]; then
  if [ ! -x "$bindir/ffprobe" ]; then write_wrappers; fi
  echo "install-ffmpeg71: $(cat "$stamp") present in $dir (run it as $bindir/ffmpeg)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

# The first Debian archive (not the security one) named by the apt sources, one-line or deb822.
find_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources)
        awk 'tolower($1)=="uris:" {for (i = 2; i <= NF; i++) print $i}' "$f"
        ;;
      *)
        awk '$1=="deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; break}}' "$f"
        ;;
    esac
  done | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
}
mirror=${ERTMP_DEBIAN_MIRROR:-$(find_mirror)}
if [ -z "$mirror" ]; then
  echo "install-ffmpeg71: no Debian archive in the apt sources; set ERTMP_DEBIAN_MIRROR" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "install-ffmpeg71: debootstrap missing (tools/install-deps.sh installs it)" >&2
  exit 1
fi

mounted_proc=""
cleanup() {
  if [ -n "$mounted_proc" ]; then "${sudo[@]}" umount "$mounted_proc" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -e "$dir" ]; then
  echo "install-ffmpeg71: removing the incomplete chroot in $dir"
  # A proc left mounted by an interrupted run must go first, or rm walks into it.
  if mountpoint -q "$dir/proc" 2>/dev/null; then "${sudo[@]}" umount "$dir/proc"; fi
  "${sudo[@]}" rm -rf --one-file-system "$dir"
fi
mkdir -p "$(dirname "$dir")"

echo "install-ffmpeg71: debootstrap trixie from $mirror into $dir"
"${sudo[@]}" debootstrap --variant=minbase trixie "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 20 "$dir.log" >&2
  exit 1
}

# No service may start inside; apt needs /proc for some maintainer scripts.
printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$dir/usr/sbin/policy-rc.d" >/dev/null
"${sudo[@]}" chmod 755 "$dir/usr/sbin/policy-rc.d"
"${sudo[@]}" mount -t proc proc "$dir/proc"
mounted_proc="$dir/proc"

echo "install-ffmpeg71: apt-get install ffmpeg inside"
"${sudo[@]}" chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends ffmpeg' \
  >>"$dir.log" 2>&1 || {
  tail -n 20 "$dir.log" >&2
  exit 1
}
"${sudo[@]}" chroot "$dir" apt-get clean
cleanup
mounted_proc=""

version=$("${sudo[@]}" chroot "$dir" dpkg-query -W -f='${Version}' ffmpeg)
# The chroot belongs to whoever runs the tests, so they can read it without root.
if [ "$(id -u)" -ne 0 ]; then "${sudo[@]}" chown -R "$(id -u):$(id -g)" "$dir"; fi
write_wrappers
echo "ffmpeg $version (Debian trixie)" >"$stamp"
rm -f "$dir.log"
echo "install-ffmpeg71: ffmpeg $version installed in $dir ($(du -sh "$dir" | cut -f1)); run it as $bindir/ffmpeg"
