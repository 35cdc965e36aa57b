#!/usr/bin/env bash
# selfcheck.sh: prove the svcos sysroot works: no raw system calls in musl, and programs built with svcos-cc run natively over a host __vigil_syscall.
#
# Builds the sysroot first if needed (build.sh; a no-op when cached).  Prints
# "ok - NAME" or "FAIL - NAME" per check and ends with "selfcheck: N passed,
# N failed"; exits non-zero if any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$HERE/build.sh"
SVCOS_PREFIX=$("$HERE/build.sh" --print-prefix)
export SVCOS_PREFIX
unset SVCOS_NATIVE
CC=$HERE/svcos-cc
CFLAGS=(-std=c11 -O2 -g -Wall -Wextra -Werror)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
check() {
    local name=$1
    shift
    if ("$@") >"$T/$name.log" 2>&1; then
        echo "ok - $name"
        passed=$((passed + 1))
    else
        echo "FAIL - $name"
        sed 's/^/    /' "$T/$name.log" | tail -n 30
        failed=$((failed + 1))
    fi
}

# Instructions that cannot run at CPL 3 without ring transitions, in objdump's syntax.
BAD_INSN='\t(syscall|sysenter|sysexit|sysret[lq]?|hlt)( |$)|\tint +\$0x80'

libc_clean() {
    objdump -d --no-show-raw-insn "$SVCOS_PREFIX"/lib/libc.a "$SVCOS_PREFIX"/lib/*.o |
        awk -v bad="$BAD_INSN" '/file format/ {obj=$1} /^[0-9a-f]+ <.*>:$/ {fn=$2}
                                $0 ~ bad {print obj, fn, $0; n++} END {exit n > 0}'
}

# In a linked program, the only `syscall` may be the host dispatcher's.
only_dispatcher_syscalls() {
    objdump -d --no-show-raw-insn "$1" |
        awk -v bad="$BAD_INSN" '/^[0-9a-f]+ <.*>:$/ {fn=$2}
                                $0 ~ bad && fn != "<__vigil_syscall>:" {print fn, $0; n++} END {exit n > 0}'
}

static_exec() {
    readelf -h "$1" | grep -q 'Type:[[:space:]]*EXEC' || {
        echo "$1 is not a non-PIE executable"
        return 1
    }
    if readelf -l "$1" | grep -q 'INTERP\|DYNAMIC'; then
        echo "$1 is not static"
        return 1
    fi
}

native_obj() {
    "$CC" -std=c11 -O2 -Wall -Wextra -Werror -fno-stack-protector -c "$HERE/native_syscall.c" -o "$T/native.o"
}

hello() {
    "$CC" "${CFLAGS[@]}" "$HERE/test/hello.c" "$T/native.o" -o "$T/hello"
    static_exec "$T/hello"
    only_dispatcher_syscalls "$T/hello"
    "$T/hello" "$T" | tee "$T/hello.out"
    grep -qx 'hello: ok' "$T/hello.out"
}

libs() {
    "$CC" "${CFLAGS[@]}" "$HERE/test/libs.c" "$T/native.o" -o "$T/libs" \
        -lmicrohttpd -ljansson -lssl -lcrypto
    static_exec "$T/libs"
    only_dispatcher_syscalls "$T/libs"
    "$T/libs" | tee "$T/libs.out"
    grep -qx 'libs: ok' "$T/libs.out"
}

lwip() {
    local L=$SVCOS_PREFIX/src/lwip/src files f objs=()
    # --no-print-directory: under a parent make (make test), MAKEFLAGS would add "Entering directory" lines.
    files=$(make -s --no-print-directory -f "$L/Filelists.mk" --eval 'print: ; @echo $(COREFILES) $(CORE4FILES) $(CORE6FILES)' \
        LWIPDIR="$L" print)
    mkdir -p "$T/lwip"
    for f in $files "$L/netif/ethernet.c" "$HERE/test/lwip_main.c"; do
        objs+=("$T/lwip/$(basename "$f" .c).o")
        "$CC" -std=c11 -O2 -Wall -Werror -I"$HERE/test/lwip" -I"$L/include" -c "$f" -o "${objs[-1]}"
    done
    "$CC" "${objs[@]}" "$T/native.o" -o "$T/lwip/lwip"
    "$T/lwip/lwip" | tee "$T/lwip.out"
    grep -q '^lwip: .* ok$' "$T/lwip.out"
}

cached_build_fast() {
    local t0 t1
    t0=$(date +%s%N)
    "$HERE/build.sh"
    t1=$(date +%s%N)
    echo "cached build.sh: $(((t1 - t0) / 1000000)) ms"
    [ $(((t1 - t0) / 1000000)) -lt 2000 ]
}

check libc-no-syscall-insn libc_clean
check native-dispatcher native_obj
check hello hello
check libs-openssl-jansson-microhttpd libs
check lwip-core-compiles lwip
check cached-build-fast cached_build_fast

echo "selfcheck: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
