#!/usr/bin/env bash
# build.sh: builds the nested KVM machine's kit (Debian kernel + busybox initramfs), cached by version.
#
# The kit is what scripts/vigil-kvm boots when the host has no usable /dev/kvm:
# Debian's stock kernel (package linux-image-amd64's current target), and an
# initramfs holding busybox-static, the modules that bring up kvm-amd, virtio,
# 9p, virtio-net, virtio-blk, ext4 and tun, and our /init.  Nothing is
# installed into the host: the packages are fetched with `apt-get download` and
# unpacked with `dpkg -x`.  The kit lives outside the work tree in
#   ${VIGIL_CACHE:-~/.cache/vigil}/kvm-machine-<key>
# where <key> hashes the package versions and this folder's scripts, so a new
# kernel or a changed /init makes a new kit; the two newest older ones are kept (other work
# trees may use them), the rest removed.
# Prints the kit's path on stdout.  --print-key prints the key only.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
trap 'echo "kvm-machine: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
export PATH="$PATH:/usr/sbin:/sbin" # depmod lives there; not on every user's PATH
export LC_ALL=C                      # apt's output is parsed below: not in the user's language
CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
MODULES=(kvm-amd 9p 9pnet_virtio virtio_pci virtio_net virtio_console virtio_blk virtio_rng ext4 tun)
# Not for the machine: what hv's Linux guests load (tests/e2e/linux_guest.py), kept in the kit.
GUEST_MODULES=(pvpanic-pci)

die() { echo "kvm-machine: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is missing (package $2); run scripts/deps.sh"; }
need apt-cache apt; need dpkg-deb dpkg; need depmod kmod; need cpio cpio; need gzip gzip

# One apt-cache call (each costs seconds where APT keeps no binary cache): the metapackage's
# version names its kernel package, so it keys the kit; the kernel package is resolved on a miss.
versions="$(apt-cache policy linux-image-amd64 busybox-static 2>/dev/null |
            awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}')"
mver="$(awk '$1=="linux-image-amd64:"{print $2}' <<<"$versions")"
bver="$(awk '$1=="busybox-static:"{print $2}' <<<"$versions")"
[ -n "$mver" ] && [ "$mver" != "(none)" ] ||
    die "apt knows no linux-image-amd64 (run apt-get update, or check /etc/apt/sources.list)"
[ -n "$bver" ] && [ "$bver" != "(none)" ] || die "apt knows no busybox-static"
key="$(printf '%s\n' "linux-image-amd64=$mver" "busybox-static=$bver" "${MODULES[*]}" "${GUEST_MODULES[*]}" | cat - "$HERE/build.sh" "$HERE/init" |
       sha256sum | cut -c1-16)"
[ "${1:-}" = "--print-key" ] && { echo "$key"; exit 0; }
kit="$CACHE/kvm-machine-$key"
if [ -f "$kit/.complete" ]; then echo "$kit"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/kvm-machine.lock"
flock 9
if [ -f "$kit/.complete" ]; then echo "$kit"; exit 0; fi

work="$(mktemp -d "$CACHE/kvm-machine-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
kpkg="$(apt-cache depends "linux-image-amd64=$mver" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
[ -n "$kpkg" ] || die "linux-image-amd64 $mver depends on no kernel package"
kver="$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2; exit}')"
echo "kvm-machine: fetching $kpkg $kver and busybox-static $bver" >&2
# apt-get download as root warns that _apt cannot write the folder: give it one it can.
chmod 0777 "$work"
(cd "$work" && apt-get download -q "$kpkg=$kver" "busybox-static=$bver" >/dev/null 2>"$work/apt.err") ||
    die "apt-get download failed: $(tail -1 "$work/apt.err")"
mkdir -p "$work/deb" "$work/root/bin" "$work/root/lib/modules"
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/deb"; done
modver="$(ls "$work/deb/lib/modules")"
[ -n "$modver" ] && [ -f "$work/deb/boot/vmlinuz-$modver" ] || die "$kpkg holds no kernel"
depmod -b "$work/deb" "$modver"

# The modules, in the order insmod needs them, each once.
list=()
for m in "${MODULES[@]}"; do
    while read -r verb path _; do
        [ "$verb" = insmod ] || continue
        name="$(basename "$path")"
        case " ${list[*]-} " in *" $name "*) ;; *) list+=("$name"); cp "$path" "$work/root/lib/modules/" ;; esac
    done < <(modprobe -d "$work/deb" -S "$modver" --show-depends "$m")
done
printf '%s\n' "${list[@]}" >"$work/root/lib/modules/order"
mkdir -p "$work/guest-modules"
glist=()
for m in "${GUEST_MODULES[@]}"; do
    while read -r verb path _; do
        [ "$verb" = insmod ] || continue
        glist+=("$(basename "$path")"); cp "$path" "$work/guest-modules/"
    done < <(modprobe -d "$work/deb" -S "$modver" --show-depends "$m")
done
printf '%s\n' "${glist[@]}" >"$work/guest-modules/order"

cp "$work/deb/bin/busybox" "$work/root/bin/busybox"
for a in sh mount umount mkdir insmod chroot poweroff sync cat sleep ip ln setsid stty echo mknod \
         grep readlink tail dmesg printf usleep; do
    ln -s busybox "$work/root/bin/$a"
done
install -m 0755 "$HERE/init" "$work/root/init"
mkdir -p "$work/root/dev" "$work/root/proc" "$work/root/sys" "$work/root/newroot" "$work/root/vk" "$work/root/tmp"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -6) >"$work/initramfs.gz"

rm -rf "$kit"
mkdir -p "$kit"
cp "$work/deb/boot/vmlinuz-$modver" "$kit/vmlinuz"
cp "$work/initramfs.gz" "$kit/initramfs.gz"
cp -r "$work/guest-modules" "$kit/guest-modules"
# The kernel's symbols, for hv's --system-map (its log buffer, the panic reason) and the tests.
cp "$work/deb/boot/System.map-$modver" "$kit/System.map"
printf '%s\n' "$kpkg=$kver" "busybox-static=$bver" "modules: ${list[*]}" >"$kit/versions"
touch "$kit/.complete"
# Older kits are dead weight; keep the two newest besides this one (other work trees may use them).
# (grep finds nothing in a fresh cache: not an error.)
{ ls -dt "$CACHE"/kvm-machine-*/ 2>/dev/null | grep -v -- '-build\.' | grep -v -x -F "$kit/" || true; } |
    tail -n +3 | while read -r old; do rm -rf "$old"; done
echo "kvm-machine: kit ready in $(( $(date +%s) - t0 )) s: $kit" >&2
echo "$kit"
