/* hypercall.h: hv's side of the hypercall ABI (include/vigil/hypercall.h): a table and its
 * dispatcher.  A call is one row (number, argument size, callers, handler) and one function. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H

#include "vmm/devices.h"
#include "vmm/hv.h"

#define HC_ARG_MAX 64 /* the largest argument structure a row may declare */

/* Who may make a call: bits of the calling VM's role (enum vigil_vm_role). */
#define HC_SERVICE (1u << VIGIL_ROLE_SERVICE)
#define HC_GUEST   (1u << VIGIL_ROLE_GUEST)
#define HC_ANY     (HC_SERVICE | HC_GUEST)

/* One call; its number is its index in the table. */
struct hypercall {
    const char *name; /* "CONSOLE_WRITE", for the log */
    size_t arg_size;  /* the argument structure, copied in (checked once) and back out */
    unsigned callers; /* HC_* roles; any other caller gets VIGIL_EPERM */
    /* Works on hv's private copy `arg` (guest address `gpa`); returns what goes in `ret`. */
    int64_t (*fn)(struct vcpu *v, void *arg, uint32_t gpa);
    bool no_ret; /* the structure ends without `int64_t ret` (HALT): nothing goes back */
};

struct hypercall_table {
    const struct hypercall *calls; /* indexed by number; a row without fn is an unknown call */
    unsigned count;
};

/* ABI v1, and the port device that carries it (hypercall_calls.c). */
extern const struct hypercall_table vigil_hypercalls;
extern const struct dev_model hypercall_device;

/* Handles call `nr` of table t whose argument structure is at guest-physical `gpa`: checks
 * the number, the structure's place in RAM and alignment and the caller's role, then runs
 * the row's handler on a private copy and writes it back with `ret`.  A bad call gets a
 * VIGIL_E* code in its `ret` (if `ret` is reachable) and is logged; it never stops hv. */
void hypercall_dispatch(const struct hypercall_table *t, struct vcpu *v, unsigned nr, uint32_t gpa);
/* Counts and logs a malformed hypercall (the first few per VM). */
void hypercall_reject(const struct hypercall_table *t, struct vcpu *v, unsigned nr,
                      const char *why);
/* Whether vm may make call c. */
bool hypercall_allowed(const struct hypercall *c, const struct vm *vm);
/* A port access to base + nr: a 32-bit OUT of the argument's address is call nr of t;
 * anything else is refused (an IN reads all ones). */
void hypercall_port_io(const struct hypercall_table *t, struct vcpu *v, const struct dev_io *io);

#endif
