#!/usr/bin/env bash
# e2e.sh: runs the end-to-end suite against both builds (normal, ASan/UBSan) where KVM works.
#
# On a host with a usable /dev/kvm the two suites run here, one after the other.
# Without one, each suite runs in a nested KVM machine of its own (scripts/vigil-kvm),
# both machines at once: QEMU's TCG runs each machine on one host thread, so two
# machines use both cores of a 2-core runner.  There the dashboard's chromium runs on this host,
# outside the emulated CPU, through each machine's browser broker (--browser-broker,
# scripts/browser-broker).  Extra arguments go to pytest.
# Exits non-zero if either suite fails.
set -uo pipefail
cd "$(dirname "$0")/.."
builds=(build build/asan)
way="$(scripts/vigil-kvm --way)" || exit 1
pytest_args=(-q -p no:cacheprovider tests/e2e "$@")
t0=$(date +%s)
fail=0
if [ "$way" = host ]; then
    for b in "${builds[@]}"; do
        echo "== e2e: $b on this host's /dev/kvm"
        VIGIL_BUILD="$b" /usr/bin/python3 -m pytest "${pytest_args[@]}" || fail=1
    done
else
    pids=()
    # A CI timeout may signal only this script: take the launchers (and their machines) with us.
    trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 143' INT TERM HUP
    for b in "${builds[@]}"; do
        tag="${b#build/}"; [ "$b" = build ] && tag=normal
        echo "== e2e: $b in a nested KVM machine (output prefixed [$tag])"
        VIGIL_BUILD="$b" scripts/vigil-kvm -v --browser-broker -- /usr/bin/python3 -m pytest "${pytest_args[@]}" \
            > >(sed -u "s/^/[$tag] /") 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail=1; done
fi
echo "== e2e: $([ $fail = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s ($way)"
exit $fail
