/* policy.h: the trap policy table (event -> action) and its parameters, set in pre-boot. */
#ifndef HV_POLICY_H
#define HV_POLICY_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Events hv traps.  The string names (policy_event_name) are the stable interface: config
 * files, hvctl and the SEL use them; the numeric values are not stored anywhere.
 */
enum policy_event {
    POLICY_EV_WRITE_PROTECTED,    /* guest write to a protected guest-physical range */
    POLICY_EV_TRIPLE_FAULT,       /* KVM_EXIT_SHUTDOWN */
    POLICY_EV_PVPANIC,            /* the guest wrote "panicked" to the pvpanic port 0x505 */
    POLICY_EV_GUEST_PANIC,        /* the guest reported a panic by hypercall */
    POLICY_EV_INTERNAL_ERROR,     /* KVM_EXIT_INTERNAL_ERROR, delivery errors included */
    POLICY_EV_FORBIDDEN_PORT,     /* port I/O to a port in forbidden_ports */
    POLICY_EV_FORBIDDEN_MSR,      /* RDMSR/WRMSR of an index in forbidden_msrs */
    POLICY_EV_WATCHDOG_HEARTBEAT, /* no heartbeat hypercall within watchdog_ms */
    POLICY_EV_WATCHDOG_PROGRESS,  /* a vCPU's state unchanged for watchdog_ms */
    POLICY_EV_HALTED_IRQS_OFF,    /* HLT with RFLAGS.IF = 0: nothing but an NMI wakes it */
    POLICY_EV_OPERATOR,           /* an operator asked (hotkey, hvctl, service channel) */
    POLICY_EV_COUNT
};

/*
 * What hv does about an event.  Every event and every action goes to the SEL whatever the
 * action, so "log" means "record it and take no further action":
 *   log     a vCPU that can still run keeps running (a protected write or forbidden access
 *           is dropped the way absent hardware drops it: port reads give all ones, an MSR
 *           access raises #GP); one that cannot (triple fault, internal error) stays
 *           stopped and the VM is marked crashed, with no snapshot and no switch.
 *   freeze  freeze the VM, write a crash snapshot, switch to the service VM.
 *   notify  send an event to the service side; the VM is otherwise treated as for log.
 *   reset   reset the guest (a fresh boot of the same image).
 *   nmi     inject an NMI at the guest's next interrupt window, then continue.
 *   resume  continue the vCPU past the event: a protected write is dropped, HLT with
 *           interrupts off returns, a panic hypercall returns to the guest.
 *
 * Refused combinations (policy_action_allowed): triple_fault and internal_error with
 * resume or nmi.  After KVM_EXIT_SHUTDOWN the vCPU is in shutdown and KVM leaves its state
 * undefined; after an internal error KVM_RUN would repeat the same failure.  Neither can
 * execute another instruction, let alone an NMI handler (the broken IDT is usually why it
 * faulted), so "resume" or "nmi" would promise what hv cannot do.  Refusing them when the
 * policy is set, rather than quietly degrading at crash time, is what an operator can rely
 * on.  log and notify are allowed there and mean "leave it stopped".  Every other pair is
 * allowed.
 */
enum policy_action {
    POLICY_ACT_LOG,
    POLICY_ACT_FREEZE,
    POLICY_ACT_NOTIFY,
    POLICY_ACT_RESET,
    POLICY_ACT_NMI,
    POLICY_ACT_RESUME,
    POLICY_ACT_COUNT
};

#define POLICY_MAX_PROTECTED   16
#define POLICY_MAX_PORT_RANGES 32
#define POLICY_MAX_MSRS        32
/* hv traps forbidden MSRs with KVM's MSR filter: at most 16 ranges, each a bitmap over at most
 * 0x3000 consecutive indices (KVM_MSR_FILTER_MAX_RANGES, KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8).
 * A list is accepted only if that many such windows cover it (policy_msr_windows). */
#define POLICY_MSR_WINDOWS      16
#define POLICY_MSR_WINDOW_SPAN  0x3000u
#define POLICY_PAGE_SIZE        4096u
#define POLICY_GPA_LIMIT        (1ull << 52) /* the architectural MAXPHYADDR ceiling */
#define POLICY_WATCHDOG_MIN_MS  1u
#define POLICY_WATCHDOG_MAX_MS  60000u
#define POLICY_PROMPT_MAX_S     300u
#define POLICY_PROMPT_EDIT_IDLE 120 /* seconds the prompt waits for each edit line */

struct policy_range {
    uint64_t gpa, len; /* both multiples of POLICY_PAGE_SIZE, len > 0 */
};

struct policy_port_range {
    uint16_t first, last; /* inclusive */
};

/* Ports one of hv's devices owns (hv's device table lists them): no policy may forbid them. */
struct policy_port_owner {
    uint16_t first, last; /* inclusive */
    const char *owner;    /* the device's name, for the refusal */
};

/* The parameters that travel with the table. */
struct policy_params {
    uint32_t watchdog_ms;            /* 0 = off, else POLICY_WATCHDOG_MIN_MS..MAX_MS; per guest */
    uint32_t preboot_prompt_seconds; /* 0 = no pre-boot prompt, else up to POLICY_PROMPT_MAX_S */
    uint32_t nprotected;
    struct policy_range protected_ranges[POLICY_MAX_PROTECTED]; /* by address; none overlap */
    uint32_t nports;
    struct policy_port_range ports[POLICY_MAX_PORT_RANGES]; /* never cover a reserved port */
    uint32_t nmsrs;
    uint32_t msrs[POLICY_MAX_MSRS];
};

/*
 * Thread safety: writers (set, apply, assign, load) serialize on `lock` and publish each
 * action with an atomic store, so policy_action_for is a lock-free load that vCPU threads
 * may call on every exit.  A reader sees each event's action either before or after a
 * change, never torn; readers wanting the parameters take a consistent copy with
 * policy_get_params.  `generation` grows by one per successful change (hv re-arms traps
 * when it moves).
 */
struct policy {
    pthread_mutex_t lock;
    _Atomic unsigned char actions[POLICY_EV_COUNT]; /* enum policy_action */
    struct policy_params params;                    /* under lock */
    _Atomic uint64_t generation;
    const struct policy_port_owner *reserved; /* fixed at init */
    uint32_t nreserved;
};

/*
 * Defaults, and why:
 *   triple_fault, pvpanic, guest_panic, internal_error, halted_irqs_off -> freeze: a crashed
 *     or dead-stopped guest is what the product exists for; keep the evidence, hand the
 *     machine to the service VM.
 *   write_protected -> freeze: a write to memory declared read-only is an integrity breach;
 *     stop it before it spreads.
 *   forbidden_port, forbidden_msr -> log: probing hardware is common and mostly harmless; the
 *     access is refused anyway, so record it and let the guest run.
 *   watchdog_heartbeat, watchdog_progress -> freeze: a hung guest serves nothing.
 *   operator -> freeze: an operator's request means "stop it and show me".
 * Parameters: watchdog off, no prompt, no protected ranges, nothing forbidden.
 * `reserved` (which must outlive the policy) lists the ports of hv's devices: a policy that
 * would forbid one of them is refused.
 */
void policy_init_defaults(struct policy *p, const struct policy_port_owner *reserved,
                          uint32_t nreserved);
void policy_destroy(struct policy *p);

const char *policy_event_name(enum policy_event ev);    /* "?" when out of range */
const char *policy_action_name(enum policy_action act); /* "?" when out of range */
/* Name -> enum; -1 when unknown.  Exact, lower-case names. */
int policy_event_from_name(const char *name);
int policy_action_from_name(const char *name);
/* Whether act may be set for ev; if not and why is given, *why says why (static text). */
bool policy_action_allowed(enum policy_event ev, enum policy_action act, const char **why);

/* The action for ev now: one atomic load. */
enum policy_action policy_action_for(const struct policy *p, enum policy_event ev);
void policy_get_params(struct policy *p, struct policy_params *out);
uint64_t policy_generation(const struct policy *p);

/*
 * Set one event's action by name.  Returns 0, or -EINVAL with a message naming the event
 * (or the unknown name) in err; nothing changes on error.
 */
int policy_set(struct policy *p, const char *event, const char *action, char *err, size_t errlen);

/*
 * Parse "event=action" (blanks around either name ignored) and check the pair is allowed.
 * Returns 0 or -EINVAL with a message in err.
 */
int policy_parse_assignment(const char *text, enum policy_event *ev, enum policy_action *act,
                            char *err, size_t errlen);
/*
 * Apply one "name=value" line (hv's --policy-set, the pre-boot prompt): "event=action", or
 * "watchdog_ms=N" / "preboot_prompt_seconds=N".  Returns 0 or -EINVAL; nothing changes on
 * error.
 */
int policy_assign(struct policy *p, const char *text, char *err, size_t errlen);

/*
 * Apply a JSON object, all or nothing: on any error nothing changes and err names the
 * field ("events.triple_fault": unknown action "explode").  Shape (every key optional; a
 * key present replaces that value, a list present replaces the whole list):
 *   {"events": {"triple_fault": "freeze", ...}, "watchdog_ms": 100,
 *    "protected": [{"gpa": "0x100000", "len": 4096}],
 *    "forbidden_ports": [{"first": "0x60", "last": "0x64"}, 128],
 *    "forbidden_msrs": ["0x1b", 16], "preboot_prompt_seconds": 5}
 * Numbers may be JSON integers or strings, "0x"-hex or decimal.  A port entry may be a lone
 * port; "last" defaults to "first".  Unknown keys are errors (a typo must not pass silently).
 * Returns 0 or -EINVAL.
 */
int policy_apply_json(struct policy *p, const json_t *obj, char *err, size_t errlen);

/*
 * policy_apply_json in two steps, for a caller that must act on the new parameters before they
 * take effect and may then refuse the change (hv arms protected ranges and the MSR filter in
 * KVM first): policy_draft_json checks obj against the current table and returns the result
 * in *d without changing p (0, or -EINVAL with err as policy_apply_json); policy_commit_draft
 * publishes it.  A change made to p between the two is overwritten: the caller serialises
 * changes (hv: the control thread, under switch_lock).
 */
struct policy_draft {
    unsigned char actions[POLICY_EV_COUNT]; /* enum policy_action */
    struct policy_params params;
};
int policy_draft_json(struct policy *p, const json_t *obj, struct policy_draft *d, char *err,
                      size_t errlen);
void policy_commit_draft(struct policy *p, const struct policy_draft *d);
/* Apply a JSON file the same way; errors are prefixed with the path. Returns 0 or -errno. */
int policy_load_file(struct policy *p, const char *path, char *err, size_t errlen);
/* The full table and every parameter, in the shape policy_apply_json takes.  NULL on ENOMEM. */
json_t *policy_to_json(struct policy *p);

/* Lookups on a parameter snapshot. */
bool policy_port_forbidden(const struct policy_params *pp, uint16_t port);
bool policy_msr_forbidden(const struct policy_params *pp, uint32_t msr);
/* Whether [gpa, gpa+len) touches a protected range. */
bool policy_gpa_protected(const struct policy_params *pp, uint64_t gpa, uint64_t len);
/* The device owning a port no policy may forbid (policy_init_defaults), or NULL. */
const char *policy_port_reserved(const struct policy *p, uint16_t port);

/* A run of MSR indices [base, base + nmsrs), nmsrs <= POLICY_MSR_WINDOW_SPAN. */
struct policy_msr_window {
    uint32_t base, nmsrs;
};
/*
 * Covers msrs[0..n) (any order, duplicates allowed, n <= POLICY_MAX_MSRS) with the fewest
 * windows, in ascending order, each starting at an MSR of the list.  Writes at most max of them
 * to out and returns how many the list needs (more than max: the rest are not written).
 */
uint32_t policy_msr_windows(const uint32_t *msrs, uint32_t n, struct policy_msr_window *out,
                            uint32_t max);

/*
 * The pre-boot prompt (seed 000, claim 24).  Prints the table and "press e within N s to
 * edit" on out_fd, then waits up to timeout_seconds for a key on in_fd.  On "e" it reads
 * "name=value" lines (policy_assign) until an empty line or end of input, applying each
 * good line at once and answering a bad one with its error and a new prompt; an edit line
 * that does not come within POLICY_PROMPT_EDIT_IDLE seconds ends the edit, so an
 * unattended appliance still boots.  Any other key, a timeout or timeout_seconds <= 0
 * continues at once.  Works on a pipe or a terminal in canonical mode ("e" alone or "e"
 * and Enter).  Returns the number of lines applied, or -errno on an I/O error.
 */
int policy_preboot_prompt(struct policy *p, int in_fd, int out_fd, int timeout_seconds);
/* The table and parameters as text, one per line, for the prompt and logs. */
void policy_print(struct policy *p, int out_fd);

#endif
