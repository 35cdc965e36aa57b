/* gdbstub.h: a GDB remote stub per VM, on a Unix socket (and 127.0.0.1:PORT), on its own thread. */
#ifndef HV_GDBSTUB_H
#define HV_GDBSTUB_H

#include "vmm/hv.h"

#include <linux/kvm.h>
#include <stddef.h>

/*
 * Starts vm's stub if it has none: a socket `<state_dir>/gdb-<vm>.sock` (mode 0600) and, with
 * port > 0, a TCP listener on 127.0.0.1:port.  One client at a time; attaching pauses a running
 * VM (docs/gdb-stub.md).  Writes the socket path to path and the port in use to *port_out;
 * returns 0, or -1 with err.  Asking again returns the stub already running.
 */
int gdbstub_start(struct hv *hv, struct vm *vm, int port, char *path, size_t pathlen, int *port_out,
                  char *err, size_t errlen);

/* Ends every VM's stub thread (hv's exit; before the VMs go): the clients are disconnected,
 * breakpoints removed, guest debugging disarmed. */
void gdbstub_stop_all(struct hv *hv);

/* vmm's debug_exit hook (struct vmm_hooks): records the exit and parks the vCPU. */
bool gdbstub_debug_exit(struct vcpu *v, const struct kvm_debug_exit_arch *d);

#endif
