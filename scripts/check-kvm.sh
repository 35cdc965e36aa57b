#!/usr/bin/env bash
# check-kvm.sh: fail loudly, with the reason, when this machine cannot run KVM guests.
if [ ! -e /dev/kvm ]; then
    echo "FATAL: /dev/kvm does not exist: KVM is not available on this machine (no kvm module?)." >&2
    echo "       Vigil's tests boot real VMs and cannot run without it." >&2
    exit 1
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "FATAL: /dev/kvm exists but $(id -un) cannot open it read-write (add the user to group kvm)." >&2
    exit 1
fi
exit 0
