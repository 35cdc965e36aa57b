/* core_fixture.h: an hv context over the fake platform, for unit tests of the core (vmm,
 * supervisor).
 */
#ifndef VIGIL_CORE_FIXTURE_H
#define VIGIL_CORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "platform_fake.h"
#include "vmm/hv.h"

#include <stdbool.h>

#define CORE_TIMEOUT_MS 5000 /* what "never" means to a waiting test */
#define CORE_VM_MEM     (4ull << 20)
#define CORE_SCRATCH    0x300000u /* guest-physical scratch page for hypercall arguments */

/* An hv as main() builds it (policy defaults, SEL, snapshot store in a temporary directory),
 * its host probed through the fake, no VMs yet. */
struct core {
    struct fake_platform *fake;
    struct hv *hv;
    char dir[64];
    char image[96]; /* a minimal guest ELF every VM loads */
};

struct core *core_new(const struct fake_host *host);
/* Checks the fake saw no violation, then ends the watchdog, the VMs and hv. */
void core_free(struct core *c);

/* vm_create through the fake; the first service VM becomes hv->service, the first guest
 * hv->default_guest. */
struct vm *core_add_vm(struct core *c, enum vigil_vm_role role, const char *name, uint32_t vcpus);

/* The two VMs most core tests start from: a service VM of one vCPU and a guest. */
struct core_pair {
    struct core *c;
    struct vm *svc, *guest;
};

/* On c (new, its policy set): hv as main() leaves it, the service VM running in the foreground
 * and a guest of guest_vcpus not yet booted; with boot_guest, a switch then boots the guest into
 * the foreground. Every started vCPU is back in `run`. */
struct core_pair *core_pair_new(struct core *c, uint32_t guest_vcpus, bool boot_guest);
/* core_free, then the pair. */
void core_pair_free(struct core_pair *p);

/* Polls pred(arg) every 200 us for up to timeout_ms. */
bool core_wait(bool (*pred)(void *), void *arg, int timeout_ms);
/* A request (stop, freeze, reset) waits for the main loop: now, or within CORE_TIMEOUT_MS. */
bool core_request_pending(struct vm *vm);
bool core_wait_request(struct vm *vm);
/* Every started vCPU is parked with its state captured. */
bool core_wait_parked(struct vm *vm);
/* What the main loop does on work_fd: settles the pending request. */
void core_settle(struct core *c);

enum vm_state core_state(struct vm *vm);
/* SEL entries of `type` (SEL_T_COUNT: any) whose message contains needle. */
unsigned core_sel_count(struct core *c, enum sel_type type, const char *needle);
/* Sets one event's action, or fails the test. */
void core_policy(struct core *c, const char *event, const char *action);

#endif
