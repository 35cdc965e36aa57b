/* interpose.c: runtime interposition and devirtualization, in the manner of seed 003 and Jailhouse.
 */
#include "supervisor/interpose.h"

#include "base/log.h"
#include "supervisor/board.h"
#include "supervisor/events.h"
#include "supervisor/rearm.h"
#include "supervisor/snapshot.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>

/* Attach arms the policy's traps on every guest (armed true), detach disarms them. */
static void set_traps_armed(struct hv *hv, bool armed)
{
    struct policy_params pp;
    char err[256];
    policy_get_params(&hv->policy, &pp);
    atomic_store(&hv->traps_armed, armed);
    if (traps_rearm_guests(hv, armed ? NULL : &pp, armed ? &pp : NULL, err, sizeof err) < 0)
        hv_event(hv, SEL_WARNING, SEL_T_POLICY_CHANGE, NULL, "%s traps failed: %s",
                 armed ? "arming" : "disarming", err);
}

int interpose_attach(struct hv *hv, const char *image, uint64_t mem_mib, char *err, size_t errlen)
{
    pthread_mutex_lock(&hv->switch_lock);
    struct vm *svc = hv->spare_service;
    int rc = -1;
    if (hv->service) {
        snprintf(err, errlen, "a service VM is already attached");
        goto out;
    }
    if (!image)
        image = hv->cfg.service_image;
    if (!image) {
        snprintf(err, errlen, "no service image: give \"image\" or start hv with --service-image");
        goto out;
    }
    if (hv->nvms >= HV_MAX_VMS) {
        snprintf(err, errlen, "at most %d VMs", HV_MAX_VMS);
        goto out;
    }
    struct vm_config cfg = {.name = "service",
                            .role = VIGIL_ROLE_SERVICE,
                            .image = image,
                            .vcpus = 1,
                            .mem_size = (mem_mib ? mem_mib : 64) << 20};
    snprintf(hv->service_image_buf, sizeof hv->service_image_buf, "%s", image);
    cfg.image = hv->service_image_buf;
    board_devices(&cfg);
    if (svc) {
        svc->cfg = cfg;
        svc->mem_size = svc->boot.mem_size = cfg.mem_size;
        if (vm_reset(svc, err, errlen) < 0)
            goto out;
    } else if (vm_create(hv, &cfg, &svc, err, errlen) < 0) {
        goto out;
    } else {
        hv->spare_service = svc;
    }
    hv->vms[hv->nvms++] = svc;
    hv->service = svc;
    if (vm_start(svc, err, errlen) < 0)
        goto out;
    set_traps_armed(hv, true);
    rc = 0;
out:
    pthread_mutex_unlock(&hv->switch_lock);
    if (rc == 0)
        hv_event(hv, SEL_OK, SEL_T_VM_BOOT, svc,
                 "attached to the running guest; traps armed (%llu MiB)",
                 (unsigned long long)(svc->mem_size >> 20));
    return rc;
}

int interpose_detach(struct hv *hv, char *err, size_t errlen)
{
    pthread_mutex_lock(&hv->switch_lock);
    struct vm *svc = hv->service;
    if (!svc) {
        pthread_mutex_unlock(&hv->switch_lock);
        snprintf(err, errlen, "no service VM is attached");
        return -1;
    }
    struct vm *g = hv->default_guest;
    bool to_guest = atomic_load(&hv->foreground) == svc;
    /* A writer reads the RAM of the one (to be released) or the other (to run on). */
    struct vm *busy = snapshot_busy(svc) ? svc : to_guest && g && snapshot_busy(g) ? g : NULL;
    if (busy || (to_guest && !g)) {
        pthread_mutex_unlock(&hv->switch_lock);
        if (busy)
            snprintf(err, errlen, "a snapshot of %s is being written: detach once it is done",
                     busy->name);
        else
            snprintf(err, errlen, "there is no guest to take the machine back");
        return -1;
    }
    if (to_guest) {
        /* The guest takes the machine back: resume it if a switch froze it. */
        bool frozen = vm_get_state(g) == VM_FROZEN;
        if (frozen && vm_unpark(g, true, 0, err, errlen) < 0) {
            pthread_mutex_unlock(&hv->switch_lock);
            return -1;
        }
        if (frozen) {
            pthread_mutex_lock(&g->lock);
            g->state = VM_RUNNING;
            pthread_mutex_unlock(&g->lock);
        }
        atomic_store(&hv->foreground, g);
    }
    hv->service = NULL;
    for (uint32_t i = 0, j = 0; i < hv->nvms; i++)
        if (hv->vms[i] != svc)
            hv->vms[j++] = hv->vms[i];
    hv->nvms--;
    uint64_t mib = svc->mem_size >> 20;
    vm_release(svc);
    svc->reset_pending = svc->snapshot_hold = false; /* a spare now: nothing left to do to it */
    set_traps_armed(hv, false);
    pthread_mutex_unlock(&hv->switch_lock);
    hv_event(hv, SEL_OK, SEL_T_VM_HALT, NULL,
             "service VM detached, %llu MiB returned; traps disarmed", (unsigned long long)mib);
    return 0;
}
