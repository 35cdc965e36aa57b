#!/usr/bin/env bash
# deps.sh: install the Debian packages that building, running and testing Vigil need.
set -euo pipefail
pkgs=(gcc make libc6-dev libjansson-dev libcmocka-dev libssl-dev python3 python3-pytest gdb binutils
      qemu-system-x86 socat clang-format kmod cpio e2fsprogs busybox-static
      clang libclang-rt-dev libslirp-dev libglib2.0-dev pkg-config iproute2
      libmicrohttpd-dev zlib1g-dev curl openssl jq redfishtool prometheus testssl.sh wrk
      chromium)
# The dashboard's build (web/) needs node and npm; a node that came with its own npm will do.
command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
