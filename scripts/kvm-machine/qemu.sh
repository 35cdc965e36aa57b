#!/usr/bin/env bash
# qemu.sh: builds the nested machine's QEMU: Debian's own source with our SVM debug fixes, cached.
#
# Debian's QEMU 7.2 runs the nested machine well, but its emulated SVM loses the intercepts that
# KVM's guest debugging needs (qemu-fixes.py says which), so hv's GDB stub could not stop a guest
# at a breakpoint there.  This script fetches the source of the QEMU that apt offers
# (`apt-get source`), applies qemu-fixes.py, and builds one qemu-system-x86_64 with only the
# devices the machine uses (qemu-devices.mak) into
#   ${VIGIL_CACHE:-~/.cache/vigil}/qemu-<key>/qemu-system-x86_64
# where <key> hashes the source version and this folder's QEMU files.  Firmware comes from
# Debian's installed qemu-system-x86 (same version).  About 4 minutes on 2 cores, once.
# Prints the binary's path on stdout.  --print-key prints the key only.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
trap 'echo "kvm-machine qemu: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
export LC_ALL=C
CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
# Where Debian's QEMU finds its firmware (its debian/rules): seabios and ipxe are packages of their own.
FIRMWARE=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
BUILD_DEPS=(meson ninja-build pkg-config libglib2.0-dev libpixman-1-dev libslirp-dev libcap-ng-dev
            libattr1-dev libfdt-dev zlib1g-dev dpkg-dev)

die() { echo "kvm-machine qemu: $*" >&2; exit 1; }

sver="$(apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/{print $2}' | sort -V | tail -1)"
[ -n "$sver" ] || die "apt knows no source package qemu: add a deb-src line for Debian's main archive"
key="$(printf '%s\n' "qemu=$sver" | cat - "$HERE/qemu.sh" "$HERE/qemu-fixes.py" "$HERE/qemu-devices.mak" |
       sha256sum | cut -c1-16)"
[ "${1:-}" = "--print-key" ] && { echo "$key"; exit 0; }
out="$CACHE/qemu-$key"
if [ -x "$out/qemu-system-x86_64" ] && [ -f "$out/.complete" ]; then echo "$out/qemu-system-x86_64"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/qemu.lock"
flock 9
if [ -f "$out/.complete" ]; then echo "$out/qemu-system-x86_64"; exit 0; fi

missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "kvm-machine qemu: installing ${missing[*]}" >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >&2 || die "could not install ${missing[*]}"
fi

work="$(mktemp -d "$CACHE/qemu-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work" # apt-get source as root warns that _apt cannot write the folder
t0=$(date +%s)
echo "kvm-machine qemu: building QEMU $sver with the SVM debug fixes (once; about 4 minutes)" >&2
(cd "$work" && apt-get source -q "qemu=$sver" >"$work/source.log" 2>&1) ||
    die "apt-get source qemu=$sver failed: $(tail -1 "$work/source.log")"
src="$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'qemu-*' | head -1)"
[ -n "$src" ] || die "apt-get source left no qemu-* folder"
python3 "$HERE/qemu-fixes.py" "$src"
cp "$HERE/qemu-devices.mak" "$src/configs/devices/x86_64-softmmu/vigil-nested.mak"
mkdir "$work/b"
(cd "$work/b" && "$src/configure" --prefix=/usr --target-list=x86_64-softmmu \
    --without-default-features --without-default-devices --with-devices-x86_64=vigil-nested \
    --enable-tcg --enable-slirp --enable-virtfs --enable-attr --enable-cap-ng --enable-fdt=system \
    --firmwarepath="$FIRMWARE" --disable-docs --disable-werror --disable-tools --disable-guest-agent >"$work/configure.log" 2>&1) ||
    die "configure failed: $(tail -3 "$work/configure.log")"
(cd "$work/b" && nice ninja -j"${VIGIL_QEMU_JOBS:-2}" qemu-system-x86_64 >"$work/build.log" 2>&1) ||
    die "build failed: $(grep -m3 -i error "$work/build.log")"
rm -rf "$out"
mkdir -p "$out"
cp "$work/b/qemu-system-x86_64" "$out/"
"$out/qemu-system-x86_64" --version | head -1 >&2
touch "$out/.complete"
# Keep the two newest older builds (other work trees may use them); remove the rest.
{ ls -dt "$CACHE"/qemu-*/ 2>/dev/null | grep -v -e "qemu-$key/" -e build | tail -n +3 | xargs -r rm -rf; } || true
echo "kvm-machine qemu: built in $(( $(date +%s) - t0 )) s: $out" >&2
echo "$out/qemu-system-x86_64"
