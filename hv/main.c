/* main.c: hv's start-up (service VM first), main loop and shutdown; options.c reads argv. */
#include "base/log.h"
#include "base/loop.h"
#include "base/thread.h"
#include "control/ctl_server.h"
#include "control/svc_serve.h"
#include "control/term.h"
#include "evidence/snapshot_store.h"
#include "nv/nvstore.h"
#include "options.h"
#include "supervisor/board.h"
#include "supervisor/events.h"
#include "supervisor/evstream.h"
#include "supervisor/gdbstub.h"
#include "supervisor/settle.h"
#include "supervisor/snapshot.h"
#include "supervisor/svcchan.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "supervisor/watchdog.h"
#include "vmm/platform.h"
#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_GUEST_CRASHED 3
#define SENSOR_POLL_MS     1000
#define SEL_SYNC_MS        100

struct work_handler {
    struct loop_handler h;
    struct hv *hv;
};

static void work_event(struct loop_handler *h, uint32_t events)
{
    struct work_handler *w = (struct work_handler *)h;
    (void)events;
    uint64_t n;
    ssize_t r = read(w->hv->work_fd, &n, sizeof n);
    (void)r;
    hv_settle_stopped_vms(w->hv);
}

struct signal_handler {
    struct loop_handler h;
    struct hv *hv;
    int fd;
};

static void signal_event(struct loop_handler *h, uint32_t events)
{
    struct signal_handler *s = (struct signal_handler *)h;
    (void)events;
    struct signalfd_siginfo si;
    if (read(s->fd, &si, sizeof si) == sizeof si) {
        log_info("signal %u: stopping", si.ssi_signo);
        atomic_store(&s->hv->quit, true);
    }
}

/* Whether hv has nothing left to run; sets the exit status. */
static bool finished(struct hv *hv)
{
    if (atomic_load(&hv->quit))
        return true;
    if (!hv->service) {
        struct vm *g = hv->default_guest;
        pthread_mutex_lock(&g->lock);
        enum vm_state s = g->state;
        uint64_t status = g->halt_status;
        pthread_mutex_unlock(&g->lock);
        if (s == VM_HALTED)
            hv->exit_status = (int)(status & 0xff);
        else if (s == VM_CRASHED)
            hv->exit_status = EXIT_GUEST_CRASHED;
        else
            return false;
        return true;
    }
    return false;
}

static void pin_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        hv_die("--pin-cpu %d: %s", cpu, strerror(errno));
    log_info("all VMs confined to host CPU %d", cpu);
}

/* The state directory, the system event log in it, and the sensors that feed the log. */
static void open_state(struct hv *hv, const struct options *opt)
{
    char path[4096], err[512];
    if (mkdir(hv->cfg.state_dir, 0700) < 0 && errno != EEXIST)
        hv_die("--state-dir %s: %s", hv->cfg.state_dir, strerror(errno));
    snprintf(path, sizeof path, "%s/sel.bin", hv->cfg.state_dir);
    if (sel_open(&hv->sel, path, 0, err, sizeof err) < 0)
        hv_die("system event log %s: %s", path, err);
    /* Appends reach the page cache at once (a kill -9 loses nothing) and the SEL syncer
     * thread syncs them within SEL_SYNC_MS, so no VM switch waits for the disk. */
    sel_set_durable(hv->sel, false);
    if (snapshot_store_open(&hv->snapshots, hv->cfg.state_dir, opt->snapshot_keep,
                            opt->snapshot_max_bytes, err, sizeof err) < 0)
        hv_die("snapshot store in %s: %s", hv->cfg.state_dir, err);
    snapshot_store_pin_new(hv->snapshots, opt->snapshot_pin_new);
    /* The service side's records; hv runs on without them (the nv.* operations say why). */
    if (nvstore_open(&hv->nv, hv->cfg.state_dir, err, sizeof err) < 0)
        log_warn("NV store in %s unavailable: %s", hv->cfg.state_dir, err);
    struct sensors_config sc = {.mode = SENSORS_AUTO,
                                .seed = (uint64_t)now_ns(),
                                .on_alarm = hv_sensor_alarm_event,
                                .ctx = hv};
    if (sensors_open(&hv->sensors, &sc, err, sizeof err) < 0)
        log_warn("sensors unavailable: %s", err);
}

/* Periodic main-loop work: sensor polling, and the SEL records of events it held back. */
static void housekeeping(struct hv *hv, uint64_t *next_sensor_ns)
{
    uint64_t now = now_ns();
    if (hv->sensors && now >= *next_sensor_ns) {
        sensors_poll(hv->sensors);
        *next_sensor_ns = now + SENSOR_POLL_MS * 1000000ull;
    }
    for (uint32_t i = 0; i < hv->nvms; i++)
        hv_event_flush_suppressed(hv, hv->vms[i]);
}

/* SEL durability from a thread of its own: an fdatasync takes 0.4-6 ms on a disk, which the
 * main loop, and with it the next control request, would otherwise wait for after every
 * switch. */
struct sel_syncer {
    struct hv *hv;
    int stop_fd; /* eventfd: readable when the thread is to end */
    pthread_t thread;
};

static void *sel_syncer_main(void *arg)
{
    struct sel_syncer *s = arg;
    struct pollfd pfd = {.fd = s->stop_fd, .events = POLLIN};
    for (;;) {
        int r = poll(&pfd, 1, SEL_SYNC_MS);
        if (r > 0 || (r < 0 && errno != EINTR))
            break;
        uint64_t last = sel_last_id(s->hv->sel);
        if (r == 0 && last != s->hv->sel_synced_id && sel_sync(s->hv->sel) == 0)
            s->hv->sel_synced_id = last;
    }
    return NULL; /* sel_close syncs the rest */
}

static struct hv hv_ctx;
static struct policy_port_owner reserved_ports[32];

int main(int argc, char **argv)
{
    struct hv *hv = &hv_ctx;
    /* The policy may not take the ports of hv's own devices from them. */
    const uint32_t max = sizeof reserved_ports / sizeof reserved_ports[0];
    uint32_t nreserved = board_reserved_ports(reserved_ports, max);
    if (nreserved > max)
        hv_die("the board's devices have %u port ranges, more than %u", nreserved, max);
    policy_init_defaults(&hv->policy, reserved_ports, nreserved);
    hv->hooks = &trap_vmm_hooks;
    struct options opt = {
        .policy = &hv->policy, .snapshot_keep = 16, .snapshot_max_bytes = 8192ull << 20};
    parse_options(argc, argv, &opt);
    hv->cfg = opt.hv;
    atomic_init(&hv->traps_armed, !hv->cfg.no_service);
    jobs_init(&hv->jobs);
    hv->chan = svcchan_new();
    hv->evstream = evstream_new();
    if (!hv->chan || !hv->evstream)
        hv_die("out of memory");
    hv->start_ns = now_ns();
    hv->term_fd = STDOUT_FILENO;
    pthread_mutex_init(&hv->switch_lock, NULL);
    stats_init(&hv->switch_to_guest);
    stats_init(&hv->switch_to_service);
    stats_init(&hv->freeze_latency);
    stats_init(&hv->trap_freeze);
    char err[512];
    if (hv_platform(hv)->open(hv, err, sizeof err) < 0)
        hv_die("%s", err);
    open_state(hv, &opt);
    /* Seed 000 claim 24: the operator may edit the policy before anything boots. */
    struct policy_params pp;
    policy_get_params(&hv->policy, &pp);
    if (pp.preboot_prompt_seconds && isatty(STDIN_FILENO))
        policy_preboot_prompt(&hv->policy, STDIN_FILENO, STDOUT_FILENO,
                              (int)pp.preboot_prompt_seconds);
    if (hv->cfg.pin_cpu >= 0)
        pin_cpu(hv->cfg.pin_cpu);

    /* Signals: SIGUSR1 kicks vCPUs; the rest are read by the main loop. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    vcpu_signals_init();

    for (uint32_t i = 0; i < opt.nvms; i++) {
        struct vm *vm;
        if (vm_create(hv, &opt.vms[i], &vm, err, sizeof err) < 0)
            hv_die("%s", err);
        hv->vms[hv->nvms++] = vm;
        if (vm->role == VIGIL_ROLE_SERVICE)
            hv->service = vm;
        else if (!hv->default_guest)
            hv->default_guest = vm;
    }

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    hv->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct work_handler wh = {{work_event}, hv};
    struct signal_handler sh = {{signal_event}, hv, signalfd(-1, &mask, SFD_CLOEXEC)};
    if (epfd < 0 || hv->work_fd < 0 || sh.fd < 0 ||
        loop_add(epfd, hv->work_fd, EPOLLIN, &wh.h) < 0 ||
        loop_add(epfd, sh.fd, EPOLLIN, &sh.h) < 0)
        hv_die("setting up the main loop: %s", strerror(errno));
    struct ctl_server *ctl;
    if (ctl_server_open(&ctl, hv, hv->cfg.control_path, epfd, err, sizeof err) < 0)
        hv_die("%s", err);
    struct term term;
    term_open(&term, hv, epfd, STDIN_FILENO);

    /* Switch banners reach the terminal through a writer thread, and switches made here leave
     * their SEL records and banners until the requester has its answer (hv_switch_flush). */
    int wrc = awriter_open(&hv->term_out, hv->term_fd);
    if (wrc)
        log_warn("terminal writer: %s; writing the terminal directly", strerror(wrc));
    hv->loop_thread = pthread_self();
    hv->defer_notes = true;

    /* Seed 001, figure 3: the service VM boots first; a switch from it boots the guest. */
    struct vm *first = hv->cfg.no_service ? hv->default_guest : hv->service;
    atomic_store(&hv->foreground, first);
    hv_event(hv, SEL_OK, SEL_T_HV_START, NULL, "hv started (%s mode, %u VMs)",
             hv->service ? "normal" : "devirtualized", hv->nvms);
    hv_event(hv, SEL_OK, SEL_T_VM_BOOT, first, "booting first");
    if (vm_start(first, err, sizeof err) < 0)
        hv_die("%s", err);
    log_info("control socket %s; state in %s; Ctrl-A h for hotkeys", hv->cfg.control_path,
             hv->cfg.state_dir);

    if (watchdog_start(hv, err, sizeof err) < 0)
        hv_die("%s", err);
    struct sel_syncer syncer = {.hv = hv, .stop_fd = eventfd(0, EFD_CLOEXEC)};
    if (syncer.stop_fd < 0 || hv_thread_create(&syncer.thread, sel_syncer_main, &syncer))
        hv_die("cannot start the SEL syncer thread");
    if (hv_thread_realtime() != 0)
        log_debug("main loop stays SCHED_OTHER (no CAP_SYS_NICE)");
    uint64_t next_sensor_ns = 0;
    while (!finished(hv)) {
        struct epoll_event ev[16];
        int n = epoll_wait(epfd, ev, 16, SEL_SYNC_MS);
        for (int i = 0; i < n; i++) {
            struct loop_handler *h = ev[i].data.ptr;
            h->fn(h, ev[i].events);
        }
        svc_serve(hv);       /* the service VM's channel call, if it made one */
        hv_switch_flush(hv); /* before settling, so that banners stay in order */
        hv_settle_stopped_vms(hv);
        housekeeping(hv, &next_sensor_ns);
    }

    uint64_t one = 1;
    if (write(syncer.stop_fd, &one, sizeof one) == sizeof one)
        pthread_join(syncer.thread, NULL);
    close(syncer.stop_fd);
    hv_switch_flush(hv);
    if (hv->term_out)
        awriter_flush(hv->term_out); /* the banners reach the terminal before it is reset */
    term_close(&term);
    watchdog_stop(hv);
    ctl_server_close(ctl);
    gdbstub_stop_all(hv); /* its threads pause and resume VMs: gone before the VMs are */
    if (hv->spare_service && !hv->service && snapshot_wait(hv->spare_service, 120000))
        vm_destroy(hv->spare_service); /* detached: not in vms[] any more */
    /* From here on no event wakes the service VM: its struct goes below. */
    pthread_mutex_lock(&hv->switch_lock);
    atomic_store(&hv->service, NULL);
    pthread_mutex_unlock(&hv->switch_lock);
    bool vms_gone = true;
    for (uint32_t i = 0; i < hv->nvms; i++) {
        if (!snapshot_wait(hv->vms[i], 120000)) { /* a writer still reads this VM's RAM */
            log_warn("%s: snapshot writer still busy at exit", hv->vms[i]->name);
            vms_gone = false;
        } else {
            vm_destroy(hv->vms[i]);
        }
    }
    if (vms_gone) { /* no vCPU thread is left to queue a banner */
        awriter_close(hv->term_out);
        hv->term_out = NULL;
    }
    hv_platform(hv)->close(hv);
    hv_event(hv, SEL_OK, SEL_T_HV_STOP, NULL, "hv stopped (exit status %d)", hv->exit_status);
    sensors_close(hv->sensors);
    snapshot_store_close(hv->snapshots);
    nvstore_close(hv->nv);
    if (vms_gone) { /* else a writer still running may record an event */
        svcchan_free(hv->chan);
        evstream_free(hv->evstream);
    }
    sel_close(hv->sel);
    return hv->exit_status;
}
