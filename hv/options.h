/* options.h: hv's command line: what it asks for, parsed and checked before anything starts. */
#ifndef HV_OPTIONS_H
#define HV_OPTIONS_H

#include "net/nic_config.h"
#include "vmm/hv.h"

struct options {
    struct vm_config vms[HV_MAX_VMS];
    struct nic_config nics[HV_MAX_VMS]; /* --net of vms[i], where given */
    uint32_t nvms;
    struct hv_config hv;
    struct policy *policy;
    unsigned snapshot_keep;
    uint64_t snapshot_max_bytes;
    bool snapshot_pin_new;
};

/* Fills o from argv: its VMs (with their boards), hv's settings, and the policy o->policy points
 * to (--policy, --policy-set, --watchdog-ms). Exits with a message on a mistake; --help exits 0. */
void parse_options(int argc, char **argv, struct options *o);

#endif
