/* gdbstub_int.h: a VM's GDB stub: what its server thread (gdbstub.c) and target (gdbstub_target.c)
 * share. */
#ifndef HV_GDBSTUB_INT_H
#define HV_GDBSTUB_INT_H

#include "debug/gdb_proto.h"
#include "supervisor/gdbstub.h"

#include <pthread.h>
#include <stdbool.h>

struct gdbstub {
    struct hv *hv;
    struct vm *vm;
    char path[108];
    int port;
    int unix_fd, tcp_fd; /* listeners (-1: none) */
    int wake_fd;         /* eventfd: a debug exit, or the stop */
    pthread_t thread;

    /* mu (a leaf: "Locks" in docs/hv-layout.md) guards the debug exit a vCPU thread reported
     * and the stop request.  A vCPU reaches the stub (vm->gdb) only under vm->lock, so that
     * gdbstub_stop_all, which clears vm->gdb and then takes vm->lock once, frees no stub a vCPU
     * still uses. */
    pthread_mutex_t mu;
    bool exit_pending, stopping;
    int exit_thread; /* 1-based */
    uint32_t exit_exception;
    uint64_t exit_pc; /* linear address of the exit (a #BP's int3) */

    /* The stub thread's own. */
    int client_fd;
    struct gdb_target target;
    struct gdb_session sess;
    bool armed;            /* KVM_SET_GUEST_DEBUG is set on the vCPUs */
    int pause_sig;         /* a ^C paused it: the stop reply's signal */
    bool resume_on_detach; /* the stub stopped the VM: it runs again when the client goes */
};

/* The target callbacks over a stopped VM (gdbstub_target.c). */
void gdbstub_target_init(struct gdbstub *g);
/* Clears KVM_SET_GUEST_DEBUG on every vCPU (the VM is stopped). */
void gdbstub_disarm(struct gdbstub *g);
/* A #BP at `pc` that is none of gdb's breakpoints: if the byte there is an int3, it is the
 * guest's own (Linux patches its text with them) and is injected back into the stopped vCPU, as
 * if no debugger were there (1); 0 if there is no int3 there any more; -1 if not stopped. */
int gdbstub_give_back_int3(struct gdbstub *g, int thread, uint64_t pc);
/* Whether the VM is stopped so that its state can be read. */
bool gdbstub_vm_stopped(struct vm *vm);

#endif
