/* Vigil hypercall ABI v1: the boot contract and port-I/O hypercalls shared by hv and guests. */
#ifndef VIGIL_HYPERCALL_H
#define VIGIL_HYPERCALL_H

/*
 * Transport: a guest issues hypercall NR with a 32-bit `outl` to port
 * VIGIL_HC_PORT_BASE + NR; the value written is the guest-physical address of
 * the call's argument structure (8-byte aligned, wholly inside guest RAM).
 * hv fills in the structure's output fields before the `out` instruction
 * retires.  Every call has an `int64_t ret` field: >= 0 on success, a negative
 * VIGIL_E* code on failure.  Port I/O works at any CPL when RFLAGS.IOPL = 3,
 * which is how hv starts every guest, and it works the same on PVM and on
 * VT-x/AMD-V.  Ports 0x3f8-0x3ff (UART) and 0x505 (pvpanic) are devices, not
 * hypercalls.
 *
 * Boot: each vCPU starts in 64-bit long mode (CPL 3 and IOPL 3 by default) at
 * the ELF entry point with
 *   rdi = guest-physical address of struct vigil_boot_info (identity mapped)
 *   rsi = index of this vCPU (0 .. vcpu_count-1)
 *   rsp = top of this vCPU's stack, 16-byte aligned
 * All guest RAM is identity mapped (virtual == physical), user-accessible and
 * writable, except guest-physical page 0, which is left unmapped so that NULL
 * dereferences fault.
 *
 * Exceptions: hv provides the IDT (its gates start absent, so an exception is
 * a triple fault, which hv treats as a crash of that VM).  A guest registers
 * its exception stubs with SET_FAULT_HANDLER; hv then fills in one interrupt
 * gate per vector 0-31, to the guest's own code segment (no privilege change)
 * and on an IST stack hv keeps per vCPU, so a stub runs even when the fault
 * was a stack overflow.  A stub reports the interrupted state with PANIC and a
 * fault frame (VIGIL_PANIC_F_FAULT) before the fault can escalate: on AMD SVM
 * a triple fault resets the vCPU and its registers are lost.
 */

/* Numbers the guests' assembly needs too (guests/rt/fault_entry.S): no C
 * suffixes here; the C part below checks them against the enum. */
#define VIGIL_HC_HALT_PORT      0x705 /* VIGIL_HC_PORT_BASE + VIGIL_HC_HALT */
#define VIGIL_HC_PANIC_PORT     0x708 /* VIGIL_HC_PORT_BASE + VIGIL_HC_PANIC */
#define VIGIL_PANIC_FAULT_SHIFT 63    /* the bit of vigil_hc_panic.code marking a fault report */
#define VIGIL_FAULT_VECTORS     32    /* the exception vectors hv gives gates for */
#define VIGIL_FAULT_HALT_STATUS 3     /* a stub's HALT status should PANIC ever return */

#ifndef __ASSEMBLER__
#include <stdint.h>

#define VIGIL_ABI_VERSION  1u
#define VIGIL_HC_PORT_BASE 0x0700u
#define VIGIL_HC_PORT_END  0x071fu /* 32 hypercall numbers reserved */

enum vigil_hc_nr {
    VIGIL_HC_VERSION = 0,           /* struct vigil_hc_version */
    VIGIL_HC_CONSOLE_WRITE = 1,     /* struct vigil_hc_buf */
    VIGIL_HC_CONSOLE_READ = 2,      /* struct vigil_hc_buf; never blocks */
    VIGIL_HC_TIME = 3,              /* struct vigil_hc_time */
    VIGIL_HC_WAIT = 4,              /* struct vigil_hc_wait */
    VIGIL_HC_HALT = 5,              /* struct vigil_hc_halt; does not return */
    VIGIL_HC_HEARTBEAT = 6,         /* struct vigil_hc_heartbeat */
    VIGIL_HC_SWITCH = 7,            /* struct vigil_hc_switch; service VM only */
    VIGIL_HC_PANIC = 8,             /* struct vigil_hc_panic; the guest reports a crash */
    VIGIL_HC_SET_FAULT_HANDLER = 9, /* struct vigil_hc_fault_handler */
    VIGIL_HC_SVC_CALL = 10,         /* struct vigil_hc_svc_call; service VM only */
    VIGIL_HC_COUNT
};
_Static_assert(VIGIL_HC_HALT_PORT == VIGIL_HC_PORT_BASE + VIGIL_HC_HALT, "HALT port");
_Static_assert(VIGIL_HC_PANIC_PORT == VIGIL_HC_PORT_BASE + VIGIL_HC_PANIC, "PANIC port");

/* Error codes returned in `ret`; the values match Linux errno numbers. */
#define VIGIL_EPERM   (-1)  /* the calling VM may not make this call */
#define VIGIL_ENOENT  (-2)  /* no such thing (SVC_CALL: no call with that ticket) */
#define VIGIL_EAGAIN  (-11) /* nothing available right now */
#define VIGIL_EFAULT  (-14) /* an address or length lies outside guest RAM */
#define VIGIL_EBUSY   (-16) /* the target is in a state that forbids it */
#define VIGIL_EINVAL  (-22) /* a field holds a value the call does not accept */
#define VIGIL_E2BIG   (-7)  /* a length exceeds the call's limit */
#define VIGIL_ENOSYS  (-38) /* unknown hypercall number */
#define VIGIL_ENOTSUP (-95) /* ABI version not supported */

/* Largest buffer one CONSOLE_WRITE / CONSOLE_READ moves. */
#define VIGIL_HC_CONSOLE_MAX 4096u
/* Largest message a HALT carries. */
#define VIGIL_HC_HALT_MSG_MAX 512u

/* VERSION: the guest offers the highest ABI it speaks; hv answers with the
 * version both will use, or ret = VIGIL_ENOTSUP if there is none. */
struct vigil_hc_version {
    uint32_t guest_abi;  /* in */
    uint32_t agreed_abi; /* out */
    uint64_t features;   /* out: VIGIL_FEAT_* supported by hv */
    int64_t ret;
};
#define VIGIL_FEAT_UART    (1ull << 0) /* 16550 UART at 0x3f8 */
#define VIGIL_FEAT_SWITCH  (1ull << 1) /* VIGIL_HC_SWITCH available to this VM */
#define VIGIL_FEAT_FAULT   (1ull << 2) /* SET_FAULT_HANDLER and PANIC fault reports */
#define VIGIL_FEAT_DEVICE  (1ull << 3) /* WAIT takes VIGIL_EV_DEVICE; boot info lists devices */
#define VIGIL_FEAT_SVCCHAN (1ull << 4) /* SVC_CALL, VIGIL_EV_CHANNEL and _REPLY for this VM */

/* CONSOLE_WRITE / CONSOLE_READ: ret = bytes moved (READ: 0 when none). */
struct vigil_hc_buf {
    uint64_t gpa; /* in: buffer guest-physical address */
    uint64_t len; /* in: at most VIGIL_HC_CONSOLE_MAX */
    int64_t ret;
};

/* TIME: the host's clocks, in nanoseconds. */
struct vigil_hc_time {
    uint64_t wall_ns;      /* out: CLOCK_REALTIME */
    uint64_t monotonic_ns; /* out: CLOCK_MONOTONIC, since an arbitrary epoch */
    int64_t ret;
};

/* WAIT: blocks the vCPU until one of `events` is pending or the monotonic
 * clock reaches `deadline_ns` (0: poll without blocking; UINT64_MAX: no
 * deadline).  ret = 0 and `ready` = the pending subset of `events` (0 on
 * timeout).  Spurious returns with ready = 0 are allowed: loop. Pending
 * events stay pending until consumed (console input until read; SWITCH is
 * cleared by being reported). */
struct vigil_hc_wait {
    uint64_t deadline_ns; /* in: absolute, TIME.monotonic_ns clock */
    uint64_t events;      /* in: VIGIL_EV_* mask */
    uint64_t ready;       /* out */
    int64_t ret;
};
#define VIGIL_EV_CONSOLE_IN (1ull << 0) /* console input is waiting */
#define VIGIL_EV_FOREGROUND (1ull << 1) /* the foreground VM changed */
#define VIGIL_EV_NOTIFY     (1ull << 2) /* service VM: a guest event whose policy says "notify" */
#define VIGIL_EV_DEVICE     (1ull << 3) /* a device of this VM asked for an interrupt */
#define VIGIL_EV_CHANNEL    (1ull << 4) /* service VM: hv's event stream has a new event */
#define VIGIL_EV_REPLY      (1ull << 5) /* service VM: the answer to its SVC_CALL is ready */

/* HALT: the VM stops for good with `status` (0 = clean); the optional
 * message (at most VIGIL_HC_HALT_MSG_MAX bytes) is logged by hv. */
struct vigil_hc_halt {
    uint64_t status;
    uint64_t msg_gpa;
    uint64_t msg_len;
};

/* HEARTBEAT: tells hv's watchdog the VM is alive; `counter` is informative.
 * ret = 0. */
struct vigil_hc_heartbeat {
    uint64_t counter;
    int64_t ret;
};

/* SWITCH: the service VM asks hv to make `target` the foreground VM.  A
 * switch to a guest that has not booted yet boots it (seed 001, figure 3).
 * ret = 0 once the switch is complete; VIGIL_EBUSY if it cannot happen now
 * (both VMs are then as they were). */
struct vigil_hc_switch {
    uint32_t target; /* enum vigil_vm_role */
    uint32_t reserved;
    int64_t ret;
};

/* PANIC: the guest reports that it has crashed (like pvpanic, with a reason).
 * What follows is the policy's action for guest_panic; if that lets the guest
 * go on, the call returns with ret = 0.
 *
 * A fault report sets VIGIL_PANIC_F_FAULT in `code`: the structure is then the
 * head of a struct vigil_hc_fault_report, the fault frame following it in
 * memory.  hv checks the frame and, if it is sound, records the reported
 * registers as the vCPU's (the snapshot and SEL say they came from the report);
 * if not, ret = VIGIL_EINVAL or VIGIL_EFAULT and the crash is recorded with the
 * handler's own registers.  Either way a fault report never returns: the VM is
 * stopped as crashed (or reset, if that is the policy). */
struct vigil_hc_panic {
    uint64_t code;    /* the guest's own crash code, plus VIGIL_PANIC_F_* */
    uint64_t msg_gpa; /* optional message, at most VIGIL_HC_HALT_MSG_MAX bytes */
    uint64_t msg_len;
    int64_t ret;
};
#define VIGIL_PANIC_F_FAULT (1ull << VIGIL_PANIC_FAULT_SHIFT)

/* The interrupted state an exception stub saw: the general registers it saved,
 * then the vector and the interrupt frame the CPU pushed (error code first; 0
 * for vectors that push none).  This is the order the stub's pushes leave in
 * memory. */
struct vigil_fault_frame {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t vector; /* 0 .. VIGIL_FAULT_VECTORS - 1 */
    uint64_t error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

struct vigil_hc_fault_report {
    struct vigil_hc_panic panic; /* code has VIGIL_PANIC_F_FAULT */
    struct vigil_fault_frame frame;
};

/* SET_FAULT_HANDLER: `entries_gpa` is the address of VIGIL_FAULT_VECTORS
 * 64-bit code addresses, one per exception vector (0: leave that vector
 * without a gate).  hv writes one interrupt gate per nonzero entry into the IDT
 * it provides, for every vCPU of the VM at once: code segment = the VM's own
 * (the one it started in), IST stacks hv reserves per vCPU (NMI, #DF and #MC
 * each on their own, the rest on a fourth), DPL 3 for #BP and #OF, 0 for the
 * rest.  Each entry must lie in guest RAM at or above 1 MiB (ret =
 * VIGIL_EINVAL otherwise, and nothing changes).  entries_gpa = 0 removes every
 * gate again: an exception is then a triple fault.  `reserved` must be 0. A
 * stub runs with the interrupted IOPL, so it can make hypercalls, and must
 * not return (it cannot iretq on PVM). */
struct vigil_hc_fault_handler {
    uint64_t entries_gpa;
    uint64_t reserved;
    int64_t ret;
};

/* SVC_CALL: the service channel (docs/service-channel.md).  The service VM's requests to hv, in
 * the control protocol's framing (include/vigil/ctlproto.h), reach the same handlers as the
 * control socket's, in hv's main loop; the service VM may use only the operations the channel
 * grants it (an operation outside them is answered with code "EPERM").  A call has two steps:
 *
 * submit: req_len > 0.  hv copies the request (header + JSON + data, at most
 *   VIGIL_SVC_REQ_MAX bytes, wholly in RAM) and queues it: ret = VIGIL_EAGAIN and `ticket`
 *   names the call.  ret = VIGIL_EBUSY while another call is queued (one at a time), EFAULT /
 *   E2BIG for a request outside RAM or over the limit (nothing is queued then).
 * collect: req_len = 0 and `ticket`.  Once the answer is ready (VIGIL_EV_REPLY is raised), hv
 *   writes it, in the same framing (kind 2), to resp_gpa: ret = 0 and resp_len = its length.
 *   Before that, ret = VIGIL_EAGAIN (WAIT for VIGIL_EV_REPLY and collect again).  If it needs
 *   more than resp_cap bytes, ret = VIGIL_E2BIG and resp_len = the bytes it needs: hv keeps the
 *   answer for a collect with a larger buffer.  EFAULT if the buffer is outside RAM, ENOENT for
 *   a ticket that is not the last call's (or whose answer was collected already).
 *
 * A request hv cannot parse is answered, not dropped: the answer says why (code "EPROTO" or
 * "EINVAL").  Responses carry at most VIGIL_CTL_DATA_MAX bytes of data (16 MiB), which lands
 * in resp_gpa's buffer directly: snapshot.read moves a crash core in large chunks. */
#define VIGIL_SVC_REQ_MAX (16u + 64u * 1024u + 64u * 1024u) /* header + JSON + data */
struct vigil_hc_svc_call {
    uint64_t req_gpa;  /* in: the request (submit) */
    uint64_t req_len;  /* in: its length; 0 = collect */
    uint64_t resp_gpa; /* in: the answer's buffer (collect) */
    uint64_t resp_cap; /* in: its capacity */
    uint64_t resp_len; /* out: bytes written (ret 0) or needed (ret VIGIL_E2BIG) */
    uint64_t ticket;   /* out (submit), in (collect) */
    int64_t ret;
};

enum vigil_vm_role {
    VIGIL_ROLE_SERVICE = 0,
    VIGIL_ROLE_GUEST = 1,
};

/* Boot information, passed to every vCPU in rdi. */
#define VIGIL_BOOT_MAGIC       0x49424756u /* "VGBI" */
#define VIGIL_BOOT_MMAP_MAX    8u
#define VIGIL_BOOT_CMDLINE_MAX 4096u /* including the terminating NUL */
#define VIGIL_BOOT_VM_NAME_MAX 32u   /* including the terminating NUL */

enum vigil_mem_type {
    VIGIL_MEM_RESERVED = 1, /* hv's boot structures: page tables, GDT, this struct */
    VIGIL_MEM_IMAGE = 2,    /* the loaded ELF image */
    VIGIL_MEM_FREE = 3,     /* the guest's to use */
    VIGIL_MEM_STACKS = 4,   /* the initial vCPU stacks, top of RAM */
};

struct vigil_mem_region {
    uint64_t base;
    uint64_t len;
    uint32_t type; /* enum vigil_mem_type */
    uint32_t reserved;
};

#define VIGIL_BOOT_F_SERVICE   (1u << 0) /* this VM is the service VM */
#define VIGIL_BOOT_F_AUTOSTART (1u << 1) /* service VM: boot the guest when ready */
#define VIGIL_BOOT_F_CPL0      (1u << 2) /* started at CPL 0 (tests of kernel mode) */
#define VIGIL_BOOT_F_ALONE     (1u << 3) /* devirtualized: no service VM exists */

/* Devices a VM has beyond the fixed ports (the UART, pvpanic, the hypercalls). */
#define VIGIL_BOOT_DEV_MAX 4u

enum vigil_dev_type {
    VIGIL_DEV_VIRTIO_MMIO = 1, /* a virtio-mmio (version 2) register window */
};

/* One device: where its registers are and which interrupt it raises.  The MMIO window is
 * identity mapped like RAM (user-accessible, uncached) and lies outside RAM. */
struct vigil_boot_device {
    uint32_t type;     /* enum vigil_dev_type */
    uint32_t id;       /* VIRTIO_MMIO: the virtio device ID (1 = network) */
    uint64_t base;     /* guest-physical address of the window */
    uint64_t size;     /* its length in bytes */
    uint32_t irq;      /* its line (GSI) on the in-kernel irqchip, where the VM has one */
    uint32_t reserved; /* 0 */
};

struct vigil_boot_info {
    uint32_t magic;       /* VIGIL_BOOT_MAGIC */
    uint32_t abi_version; /* VIGIL_ABI_VERSION */
    uint32_t size;        /* sizeof(struct vigil_boot_info) */
    uint32_t flags;       /* VIGIL_BOOT_F_* */
    uint32_t vcpu_count;
    uint32_t mmap_count;
    uint64_t mem_size;    /* bytes of guest RAM, starting at GPA 0 */
    uint64_t cmdline_gpa; /* NUL-terminated */
    uint64_t cmdline_len; /* excluding the NUL */
    uint64_t stack_size;  /* bytes per vCPU stack */
    uint64_t tsc_hz;      /* host TSC frequency if known, else 0 */
    char vm_name[VIGIL_BOOT_VM_NAME_MAX];
    struct vigil_mem_region mmap[VIGIL_BOOT_MMAP_MAX];
    /* Added to ABI v1 compatibly: present when `size` covers them (VIGIL_BOOT_HAS_DEVICES);
     * an older hv's boot info ends above. */
    uint32_t device_count; /* entries of devices[] in use */
    uint32_t reserved2;
    struct vigil_boot_device devices[VIGIL_BOOT_DEV_MAX];
};

/* Whether boot info `bi` carries the device list (hv's that predate it do not). */
#define VIGIL_BOOT_HAS_DEVICES(bi)                                                                 \
    ((bi)->size >= __builtin_offsetof(struct vigil_boot_info, devices) +                           \
                       VIGIL_BOOT_DEV_MAX * sizeof(struct vigil_boot_device))

#endif /* __ASSEMBLER__ */
#endif /* VIGIL_HYPERCALL_H */
