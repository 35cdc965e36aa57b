#!/usr/bin/env bash
# build.sh: build the service-VM sysroot (musl with system calls redirected to __vigil_syscall, OpenSSL, libmicrohttpd, Jansson, zlib, lwIP) from Debian source packages into a cache outside the work tree.
#
# Usage: build.sh              build if needed (a no-op in well under a second when cached)
#        build.sh --force      rebuild even if the cache is complete
#        build.sh --print-prefix   print the sysroot directory (built or not)
#        build.sh --print-key      print the cache key and what it was derived from
#
# The sysroot is ${VIGIL_CACHE:-$HOME/.cache/vigil}/sysroot-<key>; <key> hashes
# the source versions apt offers for our packages, gcc's major version, the
# UAPI headers' kernel series, and this directory's build inputs (this script,
# svcos-cc, native_syscall.c, patches/), so changing any of them selects a new
# directory.  A complete sysroot holds the stamp file .vigil-sysroot-complete.
# Needs root (or sudo) only when apt must be set up: it adds deb-src twins of
# the configured deb sources and installs the build tools.  See docs/sysroot.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VIGIL_CACHE:-${HOME:?}/.cache/vigil}
JOBS=${VIGIL_JOBS:-$(nproc 2>/dev/null || echo 2)}
PKGS=(musl openssl libmicrohttpd jansson zlib lwip)
BUILD_DEPS=(dpkg-dev gcc make perl linux-libc-dev binutils patch xz-utils autoconf automake libtool)
STAMP=.vigil-sysroot-complete
SRC_DEB822=/etc/apt/sources.list.d/vigil-src.sources
SRC_ONELINE=/etc/apt/sources.list.d/vigil-src.list
KEEP_SYSROOTS=3

# The libraries are configured by us, not by whoever runs us.
unset CC CXX CPP CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LIBS MAKEFLAGS MFLAGS MAKELEVEL SVCOS_NATIVE

log() { echo "sysroot: $*" >&2; }
die() {
    echo "sysroot: error: $*" >&2
    exit 1
}

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
APT_UPDATED=0

apt_update() {
    [ $APT_UPDATED -eq 0 ] || return 0
    log "apt-get update (log: $CACHE/apt.log)"
    mkdir -p "$CACHE"
    $SUDO apt-get update -q >>"$CACHE/apt.log" 2>&1 || {
        tail -n 20 "$CACHE/apt.log" >&2
        die "apt-get update failed"
    }
    APT_UPDATED=1
}

# "package version" for every source version apt offers for our packages.
# Remembered per state of apt's Sources indexes: apt-cache is the slow part
# of a cached run.
offered() {
    local sig memo out
    sig=$({
        echo "${PKGS[*]}" # another package list is another question
        stat -c '%n %s %Y' /var/lib/apt/lists/*Sources* 2>/dev/null || true
    } | sha256sum | cut -c1-16)
    memo=$CACHE/apt-offered-$sig
    if [ -s "$memo" ]; then
        echo "$(<"$memo")"
        return 0
    fi
    out=$({ apt-cache showsrc --only-source "${PKGS[@]}" 2>/dev/null || true; } |
        awk '/^Package: /{p=$2} /^Version: /{print p, $2}' | LC_ALL=C sort -u)
    if have_all_sources "$out" && mkdir -p "$CACHE" 2>/dev/null; then
        rm -f "$CACHE"/apt-offered-*
        printf '%s\n' "$out" >"$memo.$$" && mv -f "$memo.$$" "$memo" || true
    fi
    echo "$out"
}

have_all_sources() {
    local p
    for p in "${PKGS[@]}"; do
        grep -q "^$p " <<<"$1" || return 1
    done
}

# Add deb-src twins of the deb sources already configured (idempotent).
setup_sources() {
    local deb822 oneline f
    deb822=$(
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] && [ "$f" != "$SRC_DEB822" ] || continue
            awk 'BEGIN{RS="";ORS="\n\n"}
                 /(^|\n)Types:[ \t]*([^\n]*[ \t])?deb([ \t]|\n|$)/ && !/(^|\n)Types:[^\n]*deb-src/ &&
                 !/(^|\n)Enabled:[ \t]*[Nn]o/ { s=$0; sub(/Types:[^\n]*/, "Types: deb-src", s); print s }' "$f"
        done
    )
    oneline=$(
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] && [ "$f" != "$SRC_ONELINE" ] || continue
            sed -n 's/^[ \t]*deb[ \t]/deb-src /p' "$f"
        done
    )
    [ -n "$deb822$oneline" ] || die "no deb sources configured in /etc/apt; cannot add deb-src"
    local hdr="# Written by Vigil's svcos/sysroot/build.sh: deb-src twins of the deb sources, for apt-get source."
    write_if_changed "$SRC_DEB822" "$deb822" "$hdr"
    write_if_changed "$SRC_ONELINE" "$oneline" "$hdr"
    APT_UPDATED=0 # the new deb-src lines need their own index
    apt_update
}

write_if_changed() {
    local file=$1 body=$2 hdr=$3 want
    if [ -z "$body" ]; then
        [ ! -e "$file" ] || $SUDO rm -f "$file"
        return 0
    fi
    want=$(printf '%s\n%s\n' "$hdr" "$body")
    if [ ! -f "$file" ] || [ "$(cat "$file")" != "$want" ]; then
        log "writing $file"
        printf '%s\n' "$want" | $SUDO tee "$file" >/dev/null
    fi
}

ensure_build_deps() {
    local missing=() p installed
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${BUILD_DEPS[@]}" 2>/dev/null | awk '/ install ok installed$/{print $1}' || true)
    for p in "${BUILD_DEPS[@]}"; do
        grep -qx "$p" <<<"$installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    apt_update
    log "installing ${missing[*]} (log: $CACHE/apt.log)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" \
        >>"$CACHE/apt.log" 2>&1 || {
        tail -n 20 "$CACHE/apt.log" >&2
        die "could not install ${missing[*]}"
    }
}

compute_key() {
    ensure_build_deps
    OFFERED=$(offered)
    if ! have_all_sources "$OFFERED"; then
        setup_sources
        OFFERED=$(offered)
        have_all_sources "$OFFERED" || die "apt offers no source for some of: ${PKGS[*]} (deb-src set up in $SRC_DEB822)"
    fi
    local gccmajor uapi inputs
    gccmajor=$(gcc -dumpversion)
    gccmajor=${gccmajor%%.*}
    uapi=$(dpkg-query -W -f='${Version}' linux-libc-dev)
    uapi=$(cut -d. -f1,2 <<<"$uapi")
    inputs=$(cd "$HERE" && {
        sha256sum build.sh svcos-cc native_syscall.c
        find patches -type f | LC_ALL=C sort | xargs -r sha256sum
    } | sha256sum | cut -c1-16)
    KEY_MATERIAL=$(printf 'format 1\n%s\ngcc %s\nlinux-uapi %s\ninputs %s\n' "$OFFERED" "$gccmajor" "$uapi" "$inputs")
    KEY=$(printf '%s\n' "$KEY_MATERIAL" | sha256sum | cut -c1-16)
    PREFIX=$CACHE/sysroot-$KEY
}

# Offered versions of package $1, newest first.
versions_desc() {
    local want=$1 p v i out=()
    while read -r p v; do
        [ "$p" = "$want" ] || continue
        i=${#out[@]}
        out+=("$v")
        while [ "$i" -gt 0 ] && dpkg --compare-versions "$v" gt "${out[$((i - 1))]}"; do
            out[i]=${out[$((i - 1))]}
            out[$((i - 1))]=$v
            i=$((i - 1))
        done
    done <<<"$OFFERED"
    printf '%s\n' "${out[@]}"
}

# Run "$@" with its output in $LOGS/$1.log; on failure show the log's tail and stop.
step() {
    local name=$1 t0=$SECONDS
    shift
    log "$name ..."
    ("$@") >>"$LOGS/$name.log" 2>&1 &
    if ! wait $!; then
        tail -n 40 "$LOGS/$name.log" >&2
        die "$name failed; full log: $LOGS/$name.log"
    fi
    log "$name done ($((SECONDS - t0)) s)"
}

declare -A SRCDIR
fetch() {
    local p v up
    for p in "${PKGS[@]}"; do
        for v in $(versions_desc "$p"); do
            echo "== apt-get source $p=$v"
            if (cd "$SRC" && apt-get source -q "$p=$v"); then
                up=${v#*:}
                up=${up%-*}
                [ -d "$SRC/$p-$up" ] || {
                    echo "no $SRC/$p-$up after apt-get source"
                    return 1
                }
                echo "$p $v" >>"$SRC/VERSIONS"
                continue 2
            fi
            echo "== $p=$v could not be fetched; trying an older version"
        done
        echo "no version of $p could be fetched"
        return 1
    done
}

load_sources() {
    local p v up
    while read -r p v; do
        up=${v#*:}
        up=${up%-*}
        SRCDIR[$p]=$SRC/$p-$up
    done <"$SRC/VERSIONS"
}

# Apply our patches/<package>/*.patch, in name order, to the current directory.
apply_patches() {
    local p
    for p in "$HERE/patches/$1"/*.patch; do
        [ -f "$p" ] || continue
        echo "== patch $p"
        patch -p1 --forward --fuzz=0 <"$p"
    done
}

# Fail if the compiler saw a call to an undeclared function (it would not link, or be wrong).
no_implicit_decls() {
    local l
    for l in "$@"; do
        if grep -n 'implicit declaration of function' "$LOGS/$l.log"; then
            echo "$l: implicit function declarations (above)"
            return 1
        fi
    done
}

build_musl() {
    cd "${SRCDIR[musl]}"
    apply_patches musl
    ./configure --prefix="$PREFIX" --disable-shared --enable-static --disable-wrapper \
        CC=gcc CFLAGS="-O2 -g -fno-pie"
    make -j"$JOBS"
    make install
}

# Fail if a library can still enter the kernel directly; musl must not halt either.
# (Only system-call instructions are looked for outside musl: OpenSSL keeps
# tables in .text that disassemble as hlt.)
check_libs() {
    objdump -d --no-show-raw-insn "$PREFIX"/lib/lib*.a | awk '
        /file format/ { obj = $1 }
        /^[0-9a-f]+ <.*>:$/ { fn = $2 }
        /\t(syscall|sysenter)( |$)/ || /\tint +\$0x80/ { print obj, fn, $0; bad = 1 }
        END { exit bad }' || {
        echo "system-call instructions left in the libraries (above)"
        return 1
    }
    echo "no syscall/sysenter/int 0x80 in $PREFIX/lib/lib*.a"
}

# Fail if musl still contains an instruction that cannot run at CPL 3 without ring transitions.
check_libc() {
    objdump -d --no-show-raw-insn "$PREFIX"/lib/libc.a "$PREFIX"/lib/*.o | awk '
        /file format/ { obj = $1 }
        /^[0-9a-f]+ <.*>:$/ { fn = $2 }
        /\t(syscall|sysenter|sysexit|sysret[lq]?|hlt)( |$)/ || /\tint +\$0x80/ { print obj, fn, $0; bad = 1 }
        END { exit bad }' || {
        echo "musl still has system-call or privileged instructions (above)"
        return 1
    }
    echo "no syscall/sysenter/int 0x80/hlt in libc.a and crt objects"
}

install_uapi() {
    cp -a /usr/include/linux /usr/include/asm-generic "$PREFIX/include/"
    cp -a /usr/include/x86_64-linux-gnu/asm "$PREFIX/include/asm"
}

write_specs() {
    # gcc specs for svcos-cc: musl's headers and crt files, no host libraries.
    cat >"$PREFIX/lib/svcos-gcc.specs" <<EOF
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem $PREFIX/include -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem $PREFIX/include -isystem include%s

*link_libgcc:
-L$PREFIX/lib -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
$PREFIX/lib/crt1.o $PREFIX/lib/crti.o crtbeginT.o%s

*endfile:
crtend.o%s $PREFIX/lib/crtn.o

*link:
-nostdlib -static %{rdynamic:-export-dynamic}

EOF
}

# A host dispatcher for configure's test programs, and a first smoke test.
build_native() {
    "$HERE/svcos-cc" -std=c11 -O2 -fno-stack-protector -c "$HERE/native_syscall.c" -o "$BUILD/native_syscall.o"
    printf '#include <stdio.h>\nint main(void) { return printf("musl ok\\n") < 0; }\n' >"$BUILD/smoke.c"
    SVCOS_NATIVE=$BUILD/native_syscall.o "$HERE/svcos-cc" -std=c11 -O2 "$BUILD/smoke.c" -o "$BUILD/smoke"
    "$BUILD/smoke"
}

build_openssl() {
    cd "${SRCDIR[openssl]}"
    apply_patches openssl
    ./Configure linux-x86_64 --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl \
        no-shared no-dso no-engine no-async no-tests no-secure-memory no-afalgeng no-threads \
        CC="$HERE/svcos-cc"
    make -j"$JOBS" build_libs
    make install_dev
}

build_microhttpd() {
    cd "${SRCDIR[libmicrohttpd]}"
    apply_patches libmicrohttpd
    ./configure --prefix="$PREFIX" --enable-static --disable-shared --with-pic=no \
        --disable-https --without-gnutls --with-threads=none --disable-thread-names \
        --disable-doc --disable-examples --disable-curl --disable-nls --disable-dependency-tracking \
        CC="$HERE/svcos-cc"
    make -j"$JOBS"
    make install
}

build_jansson() {
    cd "${SRCDIR[jansson]}"
    apply_patches jansson
    autoreconf -fi
    ./configure --prefix="$PREFIX" --enable-static --disable-shared --with-pic=no \
        --disable-dependency-tracking CC="$HERE/svcos-cc"
    make -j"$JOBS" -C src
    make -C src install
    make install-pkgconfigDATA
}

# zlib: the agent gzips crash cores while it uploads them (docs/upload.md). Static only.
build_zlib() {
    cd "${SRCDIR[zlib]}"
    apply_patches zlib
    CC="$HERE/svcos-cc" CFLAGS="-O2 -g" ./configure --prefix="$PREFIX" --static
    make -j"$JOBS" libz.a
    make install
}

# lwIP is compiled by the netstack with its own lwipopts.h: ship the sources it needs.
install_lwip() {
    local s=${SRCDIR[lwip]}/src d=$PREFIX/src/lwip
    mkdir -p "$d/src/netif"
    cp -a "$s/core" "$s/include" "$s/api" "$s/Filelists.mk" "$s/FILES" "$d/src/"
    cp -a "$s"/netif/*.c "$s/netif/FILES" "$d/src/netif/"
    cp -a "${SRCDIR[lwip]}/COPYING" "${SRCDIR[lwip]}/README" "$d/"
}

finish() {
    install -D -m 755 "$HERE/svcos-cc" "$PREFIX/bin/svcos-cc"
    find "$PREFIX/lib" -name '*.la' -delete
    cp "$SRC/VERSIONS" "$PREFIX/VERSIONS"
    {
        echo "key $KEY"
        printf '%s\n' "$KEY_MATERIAL"
    } >"$PREFIX/KEY"
    mkdir -p "$PREFIX/share/vigil"
    rm -rf "$PREFIX/share/vigil/build-logs"
    cp -a "$LOGS" "$PREFIX/share/vigil/build-logs"
}

prune_old() {
    local old
    old=$(ls -1dt "$CACHE"/sysroot-*/"$STAMP" 2>/dev/null | tail -n +$((KEEP_SYSROOTS + 1)) || true)
    for old in $old; do
        old=$(dirname "$old")
        [ "$old" != "$PREFIX" ] || continue
        log "removing old $old"
        rm -rf "$old" "$old.lock"
    done
}

main() {
    local mode=build
    case ${1:-} in
        --print-prefix) mode=prefix ;;
        --print-key) mode=key ;;
        --force) mode=force ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            return 0
            ;;
        "") ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    compute_key
    case $mode in
        prefix)
            echo "$PREFIX"
            return 0
            ;;
        key)
            echo "$KEY"
            printf '%s\n' "$KEY_MATERIAL"
            return 0
            ;;
    esac
    if [ $mode = build ] && [ -f "$PREFIX/$STAMP" ]; then
        log "up to date: $PREFIX"
        return 0
    fi

    mkdir -p "$CACHE"
    exec 9>"$PREFIX.lock"
    flock 9
    if [ $mode = build ] && [ -f "$PREFIX/$STAMP" ]; then
        log "up to date: $PREFIX (built meanwhile)"
        return 0
    fi

    local t0=$SECONDS
    BUILD=$CACHE/build-$KEY
    SRC=$BUILD/src
    LOGS=$BUILD/logs
    rm -rf "$BUILD" "$PREFIX"
    mkdir -p "$SRC" "$LOGS" "$PREFIX"
    export SVCOS_PREFIX=$PREFIX
    log "building $PREFIX (jobs: $JOBS, logs: $LOGS)"

    step fetch fetch
    load_sources
    step musl build_musl
    step check-libc check_libc
    step uapi install_uapi
    write_specs
    step native build_native
    export SVCOS_NATIVE=$BUILD/native_syscall.o
    step openssl build_openssl
    step libmicrohttpd build_microhttpd
    step jansson build_jansson
    step zlib build_zlib
    step check-decls no_implicit_decls openssl libmicrohttpd jansson zlib
    step check-libs check_libs
    step lwip install_lwip
    unset SVCOS_NATIVE
    finish

    touch "$PREFIX/$STAMP"
    [ -n "${VIGIL_KEEP_BUILD:-}" ] || rm -rf "$BUILD"
    prune_old
    log "built $PREFIX in $((SECONDS - t0)) s:"
    sed 's/^/sysroot:   /' "$PREFIX/VERSIONS" >&2
}

main "$@"
