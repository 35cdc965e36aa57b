/* hv.h: the hypervisor's shared types: the process-wide context, VMs and their vCPUs. */
#ifndef HV_HV_H
#define HV_HV_H

#include "base/awriter.h"
#include "base/console.h"
#include "base/jobs.h"
#include "base/ratelimit.h"
#include "base/stats.h"
#include "bmc/sel.h"
#include "bmc/sensors.h"
#include "policy/policy.h"
#include "vmm/devices.h"
#include "vmm/kvm_host.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm_machine.h"
#include "x86/bzimage.h"
#include "x86/fault.h"
#include "x86/linux_log.h"
#include "x86/x86_boot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vigil/hypercall.h>

#define HV_MAX_VMS     8
#define HV_MAX_VCPUS   16
#define HV_VM_NAME_MAX 32
#define HV_IMAGE_MAX   (256u << 20) /* largest guest image file hv reads */
_Static_assert(HV_MAX_VCPUS <= BOOT_MAX_VCPUS, "the boot area has a TSS and IST stacks per vCPU");

enum vm_state {
    VM_CREATED, /* loaded, never run */
    VM_RUNNING,
    VM_PAUSED,  /* stopped by an operator; foreground unchanged */
    VM_FROZEN,  /* stopped by a switch away from it; state in the control structure */
    VM_HALTED,  /* stopped itself with a status */
    VM_CRASHED, /* a fault, a panic or an error KVM could not run past */
};
const char *vm_state_name(enum vm_state s);

enum vcpu_request {
    VCPU_REQ_NONE,
    VCPU_REQ_PARK, /* finish pending I/O, capture state, wait */
    VCPU_REQ_EXIT, /* leave the thread */
};

/* What a vCPU thread (or the watchdog) asks the main loop to do with a VM. */
enum vm_request {
    VMREQ_STOP,   /* the VM halted or crashed: record it */
    VMREQ_FREEZE, /* policy: freeze, snapshot, switch to the service VM */
    VMREQ_RESET,  /* policy: boot the guest afresh */
};

struct vm;
struct gdbstub;

/* Its own thread runs a vCPU; any other thread reaches it only under vm->lock (a kick, an
 * event), which vm_teardown also holds while it closes and clears the vCPU ("Locks" in
 * docs/hv-layout.md). */
struct vcpu {
    struct vm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;        /* under vm->lock while thread_started */
    bool thread_started;     /* under vm->lock: cleared before the join, so no kick finds it */
    _Atomic int request;     /* enum vcpu_request */
    bool parked;             /* under vm->lock */
    int wake_fd;             /* eventfd: ends a WAIT hypercall early (written under vm->lock) */
    _Atomic bool waiting;    /* in a WAIT hypercall: a kick writes wake_fd instead of signalling */
    _Atomic bool in_run;     /* in (or committed to) KVM_RUN: the guest's code is executing */
    struct vcpu_state state; /* the control structure, valid while parked */
    bool state_valid;
    bool capturing;        /* under vm->lock: parked, state being read (see vm_wait_captured) */
    bool state_dirty;      /* someone changed the control structure: write it back on resume */
    char state_error[128]; /* why capture failed, if it did */
    struct fault_evidence evidence; /* a fault report or lost registers at a crash */
    _Atomic uint64_t entry_stamp;   /* a switch's trigger time, recorded at the next KVM_RUN */
    _Atomic uint64_t exits;
    /* Watchdog progress sampling (see watchdog.c). */
    _Atomic bool sample_request;
    _Atomic uint64_t sample_seq; /* bumped when a sample is stored */
    uint64_t sample_hash;        /* registers' digest at the last sample */
    bool sample_halted_irqs_off; /* MP state halted with RFLAGS.IF clear */
};

struct vm_config {
    char name[HV_VM_NAME_MAX];
    enum vigil_vm_role role;
    const char *image;
    uint64_t mem_size;
    uint32_t vcpus;
    const char *cmdline;
    bool cpl0;
    /* A Linux guest (--kernel; docs/linux-guest.md): its bzImage, initrd and command line, loaded
     * by vmm/vm_linux.c instead of `image`. */
    const char *kernel, *initrd, *append;
    const char *system_map; /* --system-map: its symbols, read at creation (x86/linux_log.h) */
    bool pit; /* the board gives it KVM's in-kernel PIT (the irqchip every VM has where KVM can) */
    /* The devices vm_create gives the VM (the caller decides: supervisor/board.h). */
    const struct dev_model *const *devices;
    uint32_t ndevices;
    /* Its network card's host side (--net; devices/nic.h), NULL for none. */
    const struct nic_config *nic;
};

/* The watchdog's memory of one guest between its ticks; only the watchdog thread touches it. */
struct vm_watch {
    uint64_t run_ns;           /* the run it is about: vm->running_since_ns */
    uint64_t hb_count;         /* heartbeats counted at the last tick */
    uint64_t sample_seq, hash; /* last progress sample */
    uint64_t same_since_ns;    /* first sample of an unchanged run, 0 if none */
    uint64_t exits;            /* vCPU 0 exits at that sample */
    bool fired_hb, fired_progress, fired_halt;
};

struct hv;
struct nic_config;

/* A switch's SEL record, terminal banner and (to a guest) the service VM's foreground event,
 * done after the requester has its answer. */
struct switch_note {
    struct vm *target, *from;
    bool froze;
    char trigger[48];
};
#define HV_MAX_NOTES 16

/* One KVM memslot over guest RAM (vm_slot_layout). */
struct vm_slot {
    uint64_t gpa, len;
    bool readonly; /* a protected range: writes exit to hv and never reach memory */
};
#define VM_MAX_SLOTS (2 * POLICY_MAX_PROTECTED + 1)

struct vm {
    struct hv *hv;
    struct vm_config cfg;
    char name[HV_VM_NAME_MAX];
    enum vigil_vm_role role;
    int fd;
    uint8_t *mem;
    uint64_t mem_size;
    struct boot_params boot;
    struct bz_image linux_img; /* a Linux VM's (cfg.kernel) boot layout */
    struct linux_syms syms;    /* from cfg.system_map; all zero without one */
    bool has_syms;
    bool irqchip;
    bool msr_exits;  /* KVM_CAP_X86_USER_SPACE_MSR enabled */
    uint32_t nslots; /* memslots laid out by vm_arm_protection: slot i is slots[i] */
    struct vm_slot slots[VM_MAX_SLOTS];
    uint32_t nvcpus;
    struct vcpu vcpus[HV_MAX_VCPUS];
    /* A Linux VM's irqchip, PIT and kvm-clock as its last park left them (vm_machine.h); the
     * main loop's own, like the memslots. */
    struct vm_machine machine;
    /* The level hv last drove on each line below 32 (vm_irq_line), and which lines it has
     * driven since the irqchip was made: a resume that writes the irqchip or a LAPIC back
     * drives them again (vm_irq_replay).  irq_lock makes a line's ioctl and record one step. */
    pthread_mutex_t irq_lock;
    uint32_t irq_levels, irq_driven;

    /* lock guards the fields from state to snapshot_writers; state changes under switch_lock too,
     * so either lock reads it (vm_get_state() outside both). */
    pthread_mutex_t lock; /* "Locks" in docs/hv-layout.md */
    pthread_cond_t cond;
    enum vm_state state;
    bool stop_pending;         /* a request below waits for the main loop */
    enum vm_request req;       /* what the main loop must do */
    enum vm_state stop_state;  /* the state the VM ends in (halted, crashed, frozen) */
    int req_event;             /* the policy event behind the request, or -1 */
    uint64_t req_sel_id;       /* the SEL entry recording that event */
    char stop_reason[160];     /* why it halted, crashed or froze */
    uint64_t running_since_ns; /* last boot or resume: the watchdog's grace start */
    uint64_t req_ns;           /* when the pending request was made */
    _Atomic bool nmi_pending;  /* inject an NMI when the guest can take it */
    bool snapshot_busy;        /* under lock: a writer thread is reading its RAM */
    uint32_t snapshot_writers; /* under lock: writer threads alive (hv's exit waits for 0) */
    char last_snapshot[64];    /* id of the last snapshot written */
    uint64_t halt_status;
    uint64_t boot_ns, state_ns; /* when booted (names the boot), when the state last changed */

    /* Under hv->switch_lock: what the main loop does once the snapshot writer is done. */
    bool snapshot_hold;    /* a requested snapshot stopped it: it runs on after the write */
    bool reset_pending;    /* a policy reset, or a service VM restart, waits for the writer */
    struct vm_watch watch; /* the watchdog thread's own */

    struct console console;  /* its lock inside: "Locks" in docs/hv-layout.md */
    struct devices devices;  /* what its port and MMIO exits reach */
    _Atomic uint64_t events; /* pending VIGIL_EV_* edge events */
    _Atomic uint64_t heartbeats, last_heartbeat_ns;
    _Atomic uint64_t switches_in, switches_out;
    _Atomic uint64_t bad_hypercalls;
    struct ratelimit_table sel_limits; /* SEL entries the VM can cause, per source (events.c) */
    _Atomic(struct gdbstub *) gdb;     /* its GDB stub (supervisor/gdbstub.c), set once */
};

/* What vmm asks of the layer above it, which fills this in (supervisor/trap.c). */
struct vmm_hooks {
    /* A guest event for the policy (vm_trap); returns whether `self` may continue. */
    bool (*trap)(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *detail);
    /* A device refused what the guest did to it and stopped (a malformed virtqueue: NEEDS_RESET);
     * any thread, possibly with the device's lock held.  The VM runs on. */
    void (*device_error)(struct vm *vm, const char *device, const char *reason);
    /* KVM_EXIT_DEBUG (a step or breakpoint hv's GDB stub armed), on the vCPU's thread; returns
     * false if no debugger armed it.  The vCPU parks after it returns true. */
    bool (*debug_exit)(struct vcpu *v, const struct kvm_debug_exit_arch *d);
};

struct hv_config {
    const char *control_path;
    const char *service_image; /* --service-image: what interpose_attach boots */
    const char *state_dir;     /* SEL, snapshots */
    bool autostart_guest;
    bool no_service;
    int pin_cpu;         /* -1: no pinning */
    bool restore_always; /* write the control structure back on every resume (verification) */
    struct ratelimit_cfg sel_rate; /* SEL entries a VM may cause per source (events.c) */
};

struct platform_ops;
struct svc_channel;
struct evstream;

struct hv {
    struct hv_config cfg;
    const struct platform_ops *platform; /* NULL: KVM (vmm/platform.h); tests set a fake */
    const struct vmm_hooks *hooks;       /* NULL: every event stops its VM as crashed */
    struct kvm_host kvm;
    /* Changed by the main loop under switch_lock; other threads read them under switch_lock. */
    struct vm *vms[HV_MAX_VMS];
    uint32_t nvms;
    _Atomic(struct vm *) service; /* NULL in devirtualized mode; changed under switch_lock */
    struct vm *default_guest;     /* the target of "switch guest"; set before threads start */
    _Atomic(struct vm *) foreground;
    /* One switch, pause, resume, boot, snapshot start or settle at a time; the outermost lock. */
    pthread_mutex_t switch_lock; /* "Locks" in docs/hv-layout.md */
    uint64_t start_ns;
    int work_fd; /* eventfd: vCPU threads wake the main loop */
    _Atomic bool quit;
    int exit_status;
    int term_fd;              /* the local terminal's output, or -1 */
    struct awriter *term_out; /* writes term_fd from a thread of its own; NULL: write directly */
    /* Set by main: switches made on the loop thread leave their notes here until
     * hv_switch_flush (supervisor/switch.c); elsewhere they are written at once. */
    bool defer_notes;
    pthread_t loop_thread;
    struct switch_note notes[HV_MAX_NOTES]; /* loop thread only */
    uint32_t nnotes;
    /* Each has its lock inside ("Locks", docs/hv-layout.md). */
    struct latency_stats switch_to_guest, switch_to_service, freeze_latency;
    struct latency_stats
        trap_freeze; /* policy event -> every vCPU parked with its state captured */
    _Atomic uint64_t service_restarts; /* service VM crashes contained */
    _Atomic uint64_t
        entry_misses;        /* switches whose target had not entered KVM_RUN before the next one */
    struct sel *sel;         /* the system event log, in state_dir; locks inside */
    uint64_t sel_synced_id;  /* SEL syncer thread: last SEL id known to be on disk */
    struct sensors *sensors; /* virtual BMC sensors; lock inside */
    struct policy policy;    /* trap policy: event -> action, and its parameters; lock inside */
    struct snapshot_store *snapshots; /* crash snapshots, in state_dir; lock inside */
    struct job_table jobs;            /* snapshot writes under way; lock inside ("Locks") */
    struct svc_channel *chan;  /* the service channel's call in flight (supervisor/svcchan.c) */
    struct evstream *evstream; /* every SEL entry as an event for the management side */
    struct nvstore *nv;        /* the NV store, in state_dir/nv; NULL if unusable; lock inside */
    _Atomic bool traps_armed;  /* false while devirtualized: the guest runs alone, untrapped */
    /* Counters for the metrics op (control/ctl_ops_metrics.c): atomics, no lock; they count
     * from hv's start (Prometheus counters may reset). */
    _Atomic uint64_t traps_raised[POLICY_EV_COUNT]; /* trap_raise calls, per event */
    _Atomic uint64_t watchdog_firings;              /* alarms the watchdog raised */
    _Atomic uint64_t snapshots_written;             /* cores the writer finished */
    struct vm *spare_service; /* a detached service VM's struct, kept for the next attach */
    char service_image_buf[4096];
    pthread_t watchdog;
    _Atomic bool watchdog_started; /* cleared by the main loop to stop the watchdog thread */
};

/* The VM of that name, or NULL (vm.c). */
struct vm *hv_find_vm(struct hv *hv, const char *name);

#endif
