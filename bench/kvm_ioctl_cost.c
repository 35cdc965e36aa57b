/* kvm_ioctl_cost: where a VM switch's time goes on this host.
 *
 * Creates a VM exactly as hv does (hv's vm_create from build/libhv.a: CPUID, long-mode CPL-3
 * start state, in-kernel irqchip, the pruned MSR list) with a CPU-bound guest image, lets it
 * run, then times:
 *   1. every KVM ioctl hv/vmm/vcpu_state.c uses for capture and restore, in hv's order, from the
 *      vCPU's own thread, from another thread on the same CPU and from another thread on the
 *      other CPU, plus hv's whole vcpu_state_capture() and vcpu_state_restore();
 *   2. the first ioctl after the vCPU was last used by a thread on another CPU (the hand-off
 *      hv does twice per switch: capture on the vCPU thread, restore on the control thread);
 *   3. KVM_RUN with immediate_exit=1 (hv's "completion run" when parking), also with
 *      KVM_CAP_SYNC_REGS copying regs/sregs/events out and in, and the plain syscall floor;
 *   4. SIGUSR1 kick -> KVM_RUN returning EINTR for a vCPU spinning at CPL 3;
 *   5. a condition-variable wake-up (the park/unpark hand-offs);
 *   6. models of a freeze + resume with hv's protocol and with cheaper variants, and hv's own
 *      vm_park()/vm_unpark() on its own vCPU thread.
 *
 *   make all      (builds it into build/bench/ with the other C benchmarks)
 *   build/bench/kvm_ioctl_cost [build/guests/test-spin.elf] [iterations]
 */
#include "base/log.h"
#include "supervisor/hypercall.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAXS 20000

static struct hv H;
static struct vm *VM;
static struct vcpu *V;
static int ITER = 2000;
static int NCPU;

/* ------------------------------------------------------------------ samples */

struct samples {
    uint64_t v[MAXS];
    size_t n;
};

static void add(struct samples *s, uint64_t ns)
{
    if (s->n < MAXS)
        s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p) /* nearest rank, in µs; sorts s */
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof s->v[0], cmp_u64);
    size_t rank = (size_t)((p / 100.0) * (double)s->n + 0.999999);
    return (double)s->v[rank ? rank - 1 : 0] / 1e3;
}

static void row(const char *what, const char *where, struct samples *s)
{
    double p50 = pct(s, 50), p90 = pct(s, 90), p99 = pct(s, 99);
    printf("| %-34s | %-16s | %9.2f | %9.2f | %9.2f | %6zu |\n", what, where, p50, p90, p99, s->n);
    fflush(stdout);
}

static void header(const char *title)
{
    printf("\n%s\n\n| %-34s | %-16s | %9s | %9s | %9s | %6s |\n", title, "what", "thread", "p50 us",
           "p90 us", "p99 us", "n");
    printf("|%.36s|%.18s|%.11s|%.11s|%.11s|%.8s|\n", "------------------------------------",
           "------------------", "-----------", "-----------", "-----------", "--------");
}

static void pin_self(int cpu) /* -1: any CPU */
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < NCPU; c++)
        if (cpu < 0 || c == cpu)
            CPU_SET(c, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        fprintf(stderr, "sched_setaffinity %d: %s\n", cpu, strerror(errno));
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

static unsigned jitter_us(unsigned mean) /* mean +-50% */
{
    return mean / 2 + (unsigned)(rand() % (int)(mean + 1));
}

/* ------------------------------------------------------------------ the worker ("vCPU") thread */

static _Thread_local struct kvm_run *my_kick_run;
static void my_kick(int sig)
{
    (void)sig;
    if (my_kick_run)
        my_kick_run->immediate_exit = 1;
}

static pthread_t worker;
static pthread_mutex_t mb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mb_cond = PTHREAD_COND_INITIALIZER;
static void (*mb_fn)(void *);
static void *mb_arg;
static unsigned mb_seq, mb_done;
static int worker_cpu = -1, worker_cpu_now = -2;

static void *worker_main(void *arg)
{
    (void)arg;
    my_kick_run = V->run;
    unsigned seen = 0;
    pthread_mutex_lock(&mb_lock);
    for (;;) {
        while (mb_seq == seen)
            pthread_cond_wait(&mb_cond, &mb_lock);
        seen = mb_seq;
        void (*fn)(void *) = mb_fn;
        void *a = mb_arg;
        pthread_mutex_unlock(&mb_lock);
        if (worker_cpu != worker_cpu_now) {
            pin_self(worker_cpu);
            worker_cpu_now = worker_cpu;
        }
        if (!fn)
            return NULL;
        fn(a);
        pthread_mutex_lock(&mb_lock);
        mb_done = seen;
        pthread_cond_broadcast(&mb_cond);
    }
}

/* Starts fn(arg) on the worker thread (fn NULL: the worker exits); returns a ticket. */
static unsigned start_on_worker(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&mb_lock);
    mb_fn = fn;
    mb_arg = arg;
    unsigned my = ++mb_seq;
    pthread_cond_broadcast(&mb_cond);
    pthread_mutex_unlock(&mb_lock);
    return my;
}

static void wait_worker(unsigned ticket)
{
    pthread_mutex_lock(&mb_lock);
    while (mb_done != ticket)
        pthread_cond_wait(&mb_cond, &mb_lock);
    pthread_mutex_unlock(&mb_lock);
}

/* Runs fn(arg) on the worker thread and waits for it. */
static void on_worker(void (*fn)(void *), void *arg)
{
    wait_worker(start_on_worker(fn, arg));
}

static void handle_io_exit(void)
{
    struct kvm_run *run = V->run;
    if (run->exit_reason == KVM_EXIT_IO && run->io.port >= VIGIL_HC_PORT_BASE &&
        run->io.port <= VIGIL_HC_PORT_END && run->io.direction == KVM_EXIT_IO_OUT &&
        run->io.size == 4) {
        uint32_t gpa;
        memcpy(&gpa, (uint8_t *)run + run->io.data_offset, 4);
        hypercall_dispatch(&vigil_hypercalls, V, run->io.port - VIGIL_HC_PORT_BASE, gpa);
    }
}

/* Runs the guest until a kick. */
static void run_guest(void *arg)
{
    (void)arg;
    V->run->immediate_exit = 0;
    for (;;) {
        if (ioctl(V->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                break;
            fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
            exit(1);
        }
        handle_io_exit();
        if (V->run->exit_reason != KVM_EXIT_IO && V->run->exit_reason != KVM_EXIT_INTR) {
            fprintf(stderr, "unexpected exit %u\n", V->run->exit_reason);
            exit(1);
        }
    }
}

/* ------------------------------------------------------------------ 1. per-ioctl costs */

enum {
    G_REGS,
    G_SREGS,
    G_FPU,
    G_XSAVE,
    G_XCRS,
    G_MP,
    G_LAPIC,
    G_EVENTS,
    G_DEBUG,
    G_MSRS,
    S_REGS,
    S_XSAVE,
    S_XCRS,
    S_SREGS,
    S_MSRS,
    S_MP,
    S_LAPIC,
    S_EVENTS,
    S_DEBUG,
    CAPTURE,
    RESTORE,
    NIOCTL
};
static const char *const ioctl_names[NIOCTL] = {
    "KVM_GET_REGS",
    "KVM_GET_SREGS",
    "KVM_GET_FPU",
    "KVM_GET_XSAVE",
    "KVM_GET_XCRS",
    "KVM_GET_MP_STATE",
    "KVM_GET_LAPIC",
    "KVM_GET_VCPU_EVENTS",
    "KVM_GET_DEBUGREGS",
    "KVM_GET_MSRS",
    "KVM_SET_REGS",
    "KVM_SET_XSAVE",
    "KVM_SET_XCRS",
    "KVM_SET_SREGS",
    "KVM_SET_MSRS",
    "KVM_SET_MP_STATE",
    "KVM_SET_LAPIC",
    "KVM_SET_VCPU_EVENTS",
    "KVM_SET_DEBUGREGS",
    "vcpu_state_capture() (all GETs)",
    "vcpu_state_restore() (all SETs)",
};

struct ioctl_run {
    struct samples s[NIOCTL];
};

static struct vcpu_state ST; /* a real captured state, written back as is */

static void timed(struct samples *s, unsigned long req, void *arg, const char *name)
{
    uint64_t t0 = now_ns();
    int r = ioctl(V->fd, req, arg);
    uint64_t t1 = now_ns();
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", name, strerror(errno));
        exit(1);
    }
    add(s, t1 - t0);
}

static void bench_ioctls(void *arg)
{
    struct ioctl_run *r = arg;
    struct kvm_host *k = &H.kvm;
    static struct vcpu_state t;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[KVM_HOST_MAX_MSRS];
    } msrs, wmsrs = {.hdr.nmsrs = 0};
    for (uint32_t i = 0; i < ST.msrs.hdr.nmsrs; i++)
        if (ST.msrs.e[i].index != 0x10) /* hv does not write the TSC back */
            wmsrs.e[wmsrs.hdr.nmsrs++] = ST.msrs.e[i];
    char err[160];
    for (int it = 0; it < ITER; it++) {
        timed(&r->s[G_REGS], KVM_GET_REGS, &t.regs, "GET_REGS");
        timed(&r->s[G_SREGS], KVM_GET_SREGS, &t.sregs, "GET_SREGS");
        timed(&r->s[G_FPU], KVM_GET_FPU, &t.fpu, "GET_FPU");
        if (k->cap_xsave)
            timed(&r->s[G_XSAVE], KVM_GET_XSAVE, &t.xsave, "GET_XSAVE");
        if (k->cap_xcrs)
            timed(&r->s[G_XCRS], KVM_GET_XCRS, &t.xcrs, "GET_XCRS");
        timed(&r->s[G_MP], KVM_GET_MP_STATE, &t.mp_state, "GET_MP_STATE");
        if (VM->irqchip)
            timed(&r->s[G_LAPIC], KVM_GET_LAPIC, &t.lapic, "GET_LAPIC");
        if (k->cap_vcpu_events)
            timed(&r->s[G_EVENTS], KVM_GET_VCPU_EVENTS, &t.events, "GET_VCPU_EVENTS");
        if (k->cap_debugregs)
            timed(&r->s[G_DEBUG], KVM_GET_DEBUGREGS, &t.debugregs, "GET_DEBUGREGS");
        msrs.hdr.nmsrs = k->nmsrs;
        for (uint32_t i = 0; i < k->nmsrs; i++)
            msrs.e[i] = (struct kvm_msr_entry){.index = k->msrs[i]};
        timed(&r->s[G_MSRS], KVM_GET_MSRS, &msrs, "GET_MSRS");

        timed(&r->s[S_REGS], KVM_SET_REGS, &ST.regs, "SET_REGS");
        if (ST.has_xsave)
            timed(&r->s[S_XSAVE], KVM_SET_XSAVE, &ST.xsave, "SET_XSAVE");
        if (ST.has_xcrs)
            timed(&r->s[S_XCRS], KVM_SET_XCRS, &ST.xcrs, "SET_XCRS");
        timed(&r->s[S_SREGS], KVM_SET_SREGS, &ST.sregs, "SET_SREGS");
        timed(&r->s[S_MSRS], KVM_SET_MSRS, &wmsrs, "SET_MSRS");
        timed(&r->s[S_MP], KVM_SET_MP_STATE, &ST.mp_state, "SET_MP_STATE");
        if (ST.has_lapic)
            timed(&r->s[S_LAPIC], KVM_SET_LAPIC, &ST.lapic, "SET_LAPIC");
        if (ST.has_events)
            timed(&r->s[S_EVENTS], KVM_SET_VCPU_EVENTS, &ST.events, "SET_VCPU_EVENTS");
        if (ST.has_debugregs)
            timed(&r->s[S_DEBUG], KVM_SET_DEBUGREGS, &ST.debugregs, "SET_DEBUGREGS");

        uint64_t t0 = now_ns();
        if (vcpu_state_capture(k, V, VM->irqchip, NULL, &t, err, sizeof err) < 0) {
            fprintf(stderr, "capture: %s\n", err);
            exit(1);
        }
        uint64_t t1 = now_ns();
        if (vcpu_state_restore(V, &ST, err, sizeof err) < 0) {
            fprintf(stderr, "restore: %s\n", err);
            exit(1);
        }
        uint64_t t2 = now_ns();
        add(&r->s[CAPTURE], t1 - t0);
        add(&r->s[RESTORE], t2 - t1);
    }
}

/* ------------------------------------------------------------------ 2. hand-off, 3. immediate exit
 */

static void one_get_regs(void *arg)
{
    (void)arg;
    struct kvm_regs r;
    ioctl(V->fd, KVM_GET_REGS, &r);
}

static void immediate_exit_runs(void *arg)
{
    struct samples *s = arg;
    for (int i = 0; i < ITER; i++) {
        V->run->immediate_exit = 1;
        uint64_t t0 = now_ns();
        int r = ioctl(V->fd, KVM_RUN, 0);
        uint64_t t1 = now_ns();
        if (r == 0 || errno != EINTR) {
            fprintf(stderr, "immediate_exit KVM_RUN: r=%d %s\n", r, strerror(errno));
            exit(1);
        }
        add(s, t1 - t0);
    }
    V->run->immediate_exit = 0;
}

/* KVM_CAP_SYNC_REGS: regs, sregs and events come out in kvm_run (and go in) on the completion
 * run hv already does, instead of 3 GET and 3 SET ioctls. */
struct sync_result {
    struct samples out, in;
    int match;
};

static void sync_regs_runs(void *arg)
{
    struct sync_result *r = arg;
    const uint64_t all = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    ioctl(V->fd, KVM_GET_REGS, &regs);
    ioctl(V->fd, KVM_GET_SREGS, &sregs);
    r->match = 1;
    for (int i = 0; i < ITER; i++) {
        V->run->kvm_valid_regs = all;
        V->run->kvm_dirty_regs = 0;
        V->run->immediate_exit = 1;
        uint64_t t0 = now_ns();
        ioctl(V->fd, KVM_RUN, 0);
        uint64_t t1 = now_ns();
        add(&r->out, t1 - t0);
        if (V->run->s.regs.regs.rip != regs.rip || V->run->s.regs.sregs.cr3 != sregs.cr3 ||
            V->run->s.regs.regs.rsp != regs.rsp)
            r->match = 0;
        V->run->kvm_dirty_regs = all; /* write the same values back on the next run */
        V->run->immediate_exit = 1;
        t0 = now_ns();
        ioctl(V->fd, KVM_RUN, 0);
        t1 = now_ns();
        add(&r->in, t1 - t0);
    }
    V->run->kvm_valid_regs = 0;
    V->run->kvm_dirty_regs = 0;
    V->run->immediate_exit = 0;
}

/* ------------------------------------------------------------------ 4. kick latency */

struct kick {
    int n;
    _Atomic int entered;    /* worker: about to enter KVM_RUN for round i */
    _Atomic uint64_t t_ret; /* worker: when KVM_RUN returned EINTR */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done_round;
    uint64_t exits_seen;
};

static void kick_worker(void *arg)
{
    struct kick *k = arg;
    for (int i = 0; i < k->n; i++) {
        V->run->immediate_exit = 0;
        atomic_store(&k->entered, i + 1);
        for (;;) {
            int r = ioctl(V->fd, KVM_RUN, 0);
            uint64_t t = now_ns();
            if (r < 0 && errno == EINTR) {
                atomic_store(&k->t_ret, t);
                break;
            }
            k->exits_seen++;
            handle_io_exit();
        }
        pthread_mutex_lock(&k->lock);
        k->done_round = i + 1;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
    }
    V->run->immediate_exit = 0;
}

static void kick_latency(const char *where, int main_cpu, int wcpu, int n)
{
    static struct kick k;
    static struct samples s;
    memset(&s, 0, sizeof s);
    memset(&k, 0, sizeof k);
    pthread_mutex_init(&k.lock, NULL);
    pthread_cond_init(&k.cond, NULL);
    k.n = n;
    pin_self(main_cpu);
    worker_cpu = wcpu;
    /* Start the worker's loop without waiting for it: on_worker() would block. */
    unsigned my = start_on_worker(kick_worker, &k);
    for (int i = 0; i < n; i++) {
        while (atomic_load(&k.entered) != i + 1)
            sleep_us(50);
        sleep_us(jitter_us(1000)); /* let it run the guest */
        uint64_t t0 = now_ns();
        pthread_kill(worker, SIGUSR1);
        pthread_mutex_lock(&k.lock);
        while (k.done_round != i + 1)
            pthread_cond_wait(&k.cond, &k.lock);
        pthread_mutex_unlock(&k.lock);
        add(&s, atomic_load(&k.t_ret) - t0);
    }
    wait_worker(my);
    row("SIGUSR1 kick -> KVM_RUN returns", where, &s);
}

/* ------------------------------------------------------------------ 5. wake-up latency */

struct wake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int seq, seen;
    uint64_t t_woke;
    int n;
};

static void wake_worker(void *arg)
{
    struct wake *w = arg;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->n; i++) {
        while (w->seq == w->seen)
            pthread_cond_wait(&w->cond, &w->lock);
        w->t_woke = now_ns();
        w->seen = w->seq;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

static void wake_latency(const char *where, int main_cpu, int wcpu, int n)
{
    static struct wake w;
    static struct samples s;
    memset(&s, 0, sizeof s);
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    w.n = n;
    pin_self(main_cpu);
    worker_cpu = wcpu;
    unsigned my = start_on_worker(wake_worker, &w);
    for (int i = 0; i < n; i++) {
        sleep_us(jitter_us(300));
        pthread_mutex_lock(&w.lock);
        uint64_t t0 = now_ns();
        w.seq++;
        pthread_cond_broadcast(&w.cond);
        while (w.seen != w.seq)
            pthread_cond_wait(&w.cond, &w.lock);
        add(&s, w.t_woke - t0);
        pthread_mutex_unlock(&w.lock);
    }
    wait_worker(my);
    row("cond_broadcast -> waiter runs", where, &s);
}

/* ------------------------------------------------------------------ 6. freeze/resume models */

enum variant { V_HV, V_LAZY, V_RESTORE_ON_VCPU, V_SKIP_RESTORE, NVARIANT };
static const char *const variant_names[NVARIANT] = {
    "hv today: capture on vCPU, restore on ctl thread",
    "lazy: no capture, no restore",
    "capture on vCPU, restore on vCPU thread",
    "capture on vCPU, restore skipped (unchanged)",
};

struct model {
    enum variant var;
    _Atomic int req; /* 0 run, 1 park, 2 exit */
    bool parked;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    _Atomic uint64_t entry_stamp;
    struct samples resume;
    struct vcpu_state st;
};

static void model_worker(void *arg)
{
    struct model *m = arg;
    char err[160];
    for (;;) {
        int req = atomic_load(&m->req);
        if (req == 2)
            break;
        if (req == 1) {
            V->run->immediate_exit = 1; /* hv's completion run */
            ioctl(V->fd, KVM_RUN, 0);
            V->run->immediate_exit = 0;
            if (m->var != V_LAZY &&
                vcpu_state_capture(&H.kvm, V, VM->irqchip, NULL, &m->st, err, sizeof err) < 0) {
                fprintf(stderr, "capture: %s\n", err);
                exit(1);
            }
            pthread_mutex_lock(&m->lock);
            m->parked = true;
            pthread_cond_broadcast(&m->cond);
            while (m->parked && atomic_load(&m->req) != 2)
                pthread_cond_wait(&m->cond, &m->lock);
            pthread_mutex_unlock(&m->lock);
            if (m->var == V_RESTORE_ON_VCPU && atomic_load(&m->req) != 2 &&
                vcpu_state_restore(V, &m->st, err, sizeof err) < 0) {
                fprintf(stderr, "restore: %s\n", err);
                exit(1);
            }
            continue;
        }
        V->run->immediate_exit = 0;
        if (atomic_load(&m->req) != 0)
            continue;
        uint64_t t0 = atomic_exchange(&m->entry_stamp, 0);
        if (t0)
            add(&m->resume, now_ns() - t0);
        if (ioctl(V->fd, KVM_RUN, 0) < 0)
            continue;
        handle_io_exit();
    }
    V->run->immediate_exit = 0;
}

static void run_model(enum variant var, const char *where, int main_cpu, int wcpu, int n)
{
    static struct model m;
    static struct samples freeze, restore_main;
    memset(&m, 0, sizeof m);
    memset(&freeze, 0, sizeof freeze);
    memset(&restore_main, 0, sizeof restore_main);
    m.var = var;
    pthread_mutex_init(&m.lock, NULL);
    pthread_cond_init(&m.cond, NULL);
    pin_self(main_cpu);
    worker_cpu = wcpu;
    unsigned my = start_on_worker(model_worker, &m);
    char err[160];
    for (int i = 0; i < n; i++) {
        sleep_us(jitter_us(1000)); /* the guest spins */
        uint64_t t0 = now_ns();
        atomic_store(&m.req, 1);
        pthread_kill(worker, SIGUSR1);
        pthread_mutex_lock(&m.lock);
        while (!m.parked)
            pthread_cond_wait(&m.cond, &m.lock);
        pthread_mutex_unlock(&m.lock);
        add(&freeze, now_ns() - t0);
        sleep_us(jitter_us(500)); /* frozen */
        uint64_t t1 = now_ns();
        if (var == V_HV && vcpu_state_restore(V, &m.st, err, sizeof err) < 0) {
            fprintf(stderr, "restore: %s\n", err);
            exit(1);
        }
        add(&restore_main, now_ns() - t1);
        atomic_store(&m.entry_stamp, t1);
        pthread_mutex_lock(&m.lock);
        atomic_store(&m.req, 0);
        m.parked = false;
        pthread_cond_broadcast(&m.cond);
        pthread_mutex_unlock(&m.lock);
    }
    sleep_us(2000);
    atomic_store(&m.req, 2);
    pthread_kill(worker, SIGUSR1);
    wait_worker(my);
    printf("| %-50s | %-9s | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f |\n", variant_names[var],
           where, pct(&freeze, 50), pct(&freeze, 99), pct(&m.resume, 50), pct(&m.resume, 99),
           var == V_HV ? pct(&restore_main, 50) : 0.0, var == V_HV ? pct(&restore_main, 99) : 0.0);
    fflush(stdout);
}

/* hv's real vCPU thread and vm_park()/vm_unpark(): guest_freeze and (restore + wake + entry). */
static void real_hv(int n)
{
    char err[200];
    pin_self(-1);
    vcpu_signals_init(); /* hv's own SIGUSR1 handler from here on */
    stats_init(&H.switch_to_guest);
    stats_init(&H.freeze_latency);
    if (vm_start(VM, err, sizeof err) < 0) {
        fprintf(stderr, "vm_start: %s\n", err);
        exit(1);
    }
    static struct samples freeze, unpark;
    for (int i = 0; i < n; i++) {
        sleep_us(jitter_us(1000));
        uint64_t t0 = now_ns();
        if (vm_park(VM, err, sizeof err) < 0) {
            fprintf(stderr, "vm_park: %s\n", err);
            exit(1);
        }
        add(&freeze, now_ns() - t0);
        sleep_us(jitter_us(500));
        uint64_t t1 = now_ns();
        if (vm_unpark(VM, true, t1, err, sizeof err) < 0) {
            fprintf(stderr, "vm_unpark: %s\n", err);
            exit(1);
        }
        add(&unpark, now_ns() - t1);
    }
    sleep_us(2000);
    struct latency_summary e = stats_summary(&H.switch_to_guest);
    printf("| %-50s | %-9s | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f |\n",
           "hv's own vm_park()/vm_unpark() + vcpu thread", "unpinned", pct(&freeze, 50),
           pct(&freeze, 99), (double)e.p50 / 1e3, (double)e.p99 / 1e3, pct(&unpark, 50),
           pct(&unpark, 99));
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    const char *image = argc > 1 ? argv[1] : "build/guests/test-spin.elf";
    if (argc > 2)
        ITER = atoi(argv[2]);
    if (ITER < 10 || ITER > MAXS)
        ITER = 2000;
    NCPU = (int)sysconf(_SC_NPROCESSORS_ONLN);
    srand(1);
    char err[512];
    H.term_fd = -1;
    H.cfg.pin_cpu = -1;
    log_threshold = LOG_WARN;
    pthread_mutex_init(&H.switch_lock, NULL);
    stats_init(&H.switch_to_guest);
    stats_init(&H.switch_to_service);
    stats_init(&H.freeze_latency);
    if (kvm_host_open(&H.kvm, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct vm_config cfg = {.name = "guest",
                            .role = VIGIL_ROLE_GUEST,
                            .image = image,
                            .mem_size = 256ull << 20,
                            .vcpus = 1};
    if (vm_create(&H, &cfg, &VM, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    H.vms[H.nvms++] = VM;
    H.default_guest = VM;
    atomic_store(&H.foreground, VM);
    V = &VM->vcpus[0];

    struct sigaction sa = {.sa_handler = my_kick, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_create(&worker, NULL, worker_main, NULL);

    /* Boot the guest and let it reach its CPL-3 spin loop. */
    worker_cpu = 0;
    unsigned t = start_on_worker(run_guest, NULL);
    sleep_us(200000);
    pthread_kill(worker, SIGUSR1);
    wait_worker(t);
    V->run->immediate_exit = 0;
    if (vcpu_state_capture(&H.kvm, V, VM->irqchip, NULL, &ST, err, sizeof err) < 0) {
        fprintf(stderr, "capture: %s\n", err);
        return 1;
    }
    uint64_t c0 = now_ns(), c1 = 0;
    for (int i = 0; i < 1000; i++)
        c1 = now_ns();
    printf("# kvm_ioctl_cost: %s, %d CPUs, guest rip 0x%llx cs 0x%x (CPL %u), %u MSRs saved, "
           "irqchip %d, "
           "xsave %d; clock_gettime %.0f ns\n",
           image, NCPU, (unsigned long long)ST.regs.rip, ST.sregs.cs.selector,
           ST.sregs.cs.selector & 3u, H.kvm.nmsrs, VM->irqchip, H.kvm.cap_xsave,
           (double)(c1 - c0) / 1000.0);

    /* 1. per-ioctl costs */
    static struct ioctl_run own, same, other;
    worker_cpu = 0;
    on_worker(bench_ioctls, &own);
    pin_self(0);
    bench_ioctls(&same);
    if (NCPU > 1) {
        pin_self(1);
        bench_ioctls(&other);
    }
    header(
        "## 1. KVM ioctls of hv/vmm/vcpu_state.c (vCPU stopped, state of a CPL-3 spinning guest), "
        "per call");
    for (int i = 0; i < NIOCTL; i++) {
        if (!own.s[i].n)
            continue;
        row(ioctl_names[i], "own (vCPU) thread", &own.s[i]);
        row(ioctl_names[i], "other, same CPU", &same.s[i]);
        if (NCPU > 1)
            row(ioctl_names[i], "other, other CPU", &other.s[i]);
    }

    /* 2. hand-off: the first ioctl after the vCPU was loaded on another thread/CPU */
    header("## 2. Hand-off: first ioctl after the vCPU was last used by another thread");
    static struct samples first_x, second_x, first_s, second_s;
    for (int pass = 0; pass < (NCPU > 1 ? 2 : 1); pass++) {
        worker_cpu = 0;
        pin_self(pass ? 1 : 0);
        for (int i = 0; i < ITER / 4; i++) {
            on_worker(one_get_regs, NULL); /* the vCPU is now loaded on CPU 0 by the worker */
            struct kvm_regs r;
            uint64_t t0 = now_ns();
            ioctl(V->fd, KVM_GET_REGS, &r);
            uint64_t t1 = now_ns();
            ioctl(V->fd, KVM_GET_REGS, &r);
            uint64_t t2 = now_ns();
            add(pass ? &first_x : &first_s, t1 - t0);
            add(pass ? &second_x : &second_s, t2 - t1);
        }
    }
    row("KVM_GET_REGS, first after hand-off", "other, same CPU", &first_s);
    row("KVM_GET_REGS, second", "other, same CPU", &second_s);
    if (NCPU > 1) {
        row("KVM_GET_REGS, first after hand-off", "other, other CPU", &first_x);
        row("KVM_GET_REGS, second", "other, other CPU", &second_x);
    }

    /* 3. immediate exit; 4. kick; 5. wake-ups */
    header("## 3-5. KVM_RUN with immediate_exit=1, kick latency, thread wake-up");
    static struct samples imm;
    worker_cpu = 0;
    on_worker(immediate_exit_runs, &imm);
    row("KVM_RUN, immediate_exit=1", "own (vCPU) thread", &imm);
    if (ioctl(H.kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) > 0) {
        static struct sync_result sr;
        on_worker(sync_regs_runs, &sr);
        row("  same + sync regs/sregs/events out", "own (vCPU) thread", &sr.out);
        row("  same + sync regs/sregs/events in", "own (vCPU) thread", &sr.in);
        if (!sr.match)
            printf("| (kvm_run->s.regs did NOT match KVM_GET_REGS/SREGS) | | | | | |\n");
    }
    static struct samples nop_sys, nop_kvm;
    for (int i = 0; i < ITER; i++) {
        uint64_t t0 = now_ns();
        getppid();
        uint64_t t1 = now_ns();
        ioctl(H.kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
        uint64_t t2 = now_ns();
        add(&nop_sys, t1 - t0);
        add(&nop_kvm, t2 - t1);
    }
    row("getppid() (syscall floor)", "any", &nop_sys);
    row("ioctl(/dev/kvm, CHECK_EXTENSION)", "any", &nop_kvm);
    if (NCPU > 1)
        kick_latency("other CPU", 1, 0, ITER / 2);
    kick_latency("same CPU", 0, 0, ITER / 2);
    kick_latency("unpinned", -1, -1, ITER / 2);
    if (NCPU > 1)
        wake_latency("other CPU", 1, 0, ITER / 2);
    wake_latency("same CPU", 0, 0, ITER / 2);

    /* 6. models of a freeze + resume */
    printf("\n## 6. Freeze (kick -> parked, state captured) and resume (release -> vCPU calls "
           "KVM_RUN), us\n\n");
    printf("| %-50s | %-9s | %9s | %9s | %9s | %9s | %9s | %9s |\n", "protocol", "CPUs", "frz p50",
           "frz p99", "res p50", "res p99", "rst p50", "rst p99");
    printf("|%.52s|%.11s|%.11s|%.11s|%.11s|%.11s|%.11s|%.11s|\n",
           "----------------------------------------------------", "-----------", "-----------",
           "-----------", "-----------", "-----------", "-----------", "-----------");
    int nm = ITER / 4;
    for (int var = 0; var < NVARIANT; var++)
        run_model((enum variant)var, "unpinned", -1, -1, nm);
    for (int var = 0; var < NVARIANT; var++)
        run_model((enum variant)var, "one CPU", 0, 0, nm);
    /* The worker must not touch the vCPU from here on. */
    start_on_worker(NULL, NULL);
    pthread_join(worker, NULL);
    real_hv(nm);
    printf("\n(rst = the restore part of resume on the control thread; resume includes it.)\n");
    vm_destroy(VM);
    kvm_host_close(&H.kvm);
    return 0;
}
