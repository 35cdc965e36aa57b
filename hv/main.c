/* main.c: hv's command line, start-up (service VM first), main loop and shutdown. */
#include "base/log.h"
#include "base/loop.h"
#include "base/thread.h"
#include "control/ctl_server.h"
#include "control/svc_serve.h"
#include "control/term.h"
#include "evidence/snapshot_store.h"
#include "net/nic_config.h"
#include "nv/nvstore.h"
#include "supervisor/board.h"
#include "supervisor/events.h"
#include "supervisor/evstream.h"
#include "supervisor/gdbstub.h"
#include "supervisor/snapshot.h"
#include "supervisor/svcchan.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "supervisor/watchdog.h"
#include "vmm/platform.h"
#include "vmm/vm.h"

#include <errno.h>
#include <getopt.h>
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

#define DEFAULT_SERVICE_MEM (64ull << 20)
#define DEFAULT_GUEST_MEM   (256ull << 20)
#define EXIT_GUEST_CRASHED  3
#define SENSOR_POLL_MS      1000
#define SEL_SYNC_MS         100

static const char usage[] =
    "usage: hv [options]\n"
    "  --service IMG        the service VM's image (booted first)\n"
    "  --guest IMG          a guest VM's image (repeatable; the first is the default guest)\n"
    "  --kernel BZIMAGE     a guest VM booting a Linux kernel (docs/linux-guest.md), with:\n"
    "    --initrd FILE      its initramfs\n"
    "    --append CMDLINE   its kernel command line (e.g. \"console=ttyS0\")\n"
    "    --system-map FILE  its System.map: a crash snapshot names the panic reason\n"
    "    per-VM options, applying to the VM named just before them:\n"
    "    --name NAME        its name (default: service, guest, guest2, ...)\n"
    "    --mem MIB          its RAM in MiB (service 64, guests 256; a multiple of 2)\n"
    "    --vcpus N          its vCPUs (default 1, at most 16)\n"
    "    --cmdline STR      its command line (in the boot info)\n"
    "    --cpl0             start it at CPL 0 instead of CPL 3 (tests of kernel mode)\n"
    "    --net SPEC         its network card (virtio-net; docs/virtio-net.md): none,\n"
    "                       user[,restrict=on|off][,hostfwd=[tcp|udp]:[ADDR]:PORT-[ADDR]:PORT]\n"
    "                       [,guestfwd=tcp:ADDR:PORT-HOST:PORT][,mtu=N][,mac=M], or\n"
    "                       tap,ifname=NAME[,mtu=N][,mac=M]; default: the service VM user,\n"
    "                       restricted (restrict=on), guests none\n"
    "  --autostart-guest    the service VM boots the guest by a switch as soon as it is up\n"
    "  --no-service         devirtualized: run the guest alone, no service VM and no traps; hv\n"
    "                       exits with the guest's halt status (3 if it crashed) unless a\n"
    "                       service VM has been attached meanwhile (hvctl service attach)\n"
    "  --service-image IMG  the service image `hvctl service attach` boots later\n"
    "  --control PATH       control socket for hvctl (default /tmp/vigil-hv.sock)\n"
    "  --state-dir DIR      system event log, snapshots and the NV store (default $VIGIL_STATE_DIR "
    "or\n"
    "                       /var/tmp/vigil)\n"
    "  --pin-cpu N          confine every VM to host CPU N (the single-processor case)\n"
    "  --restore-always     write the control structure back into the vCPUs on every resume,\n"
    "                       even when unchanged (verification; costs ~60 us per switch here)\n"
    "  --policy FILE        trap policy (JSON: events, watchdog_ms, protected, forbidden_ports,\n"
    "                       forbidden_msrs, preboot_prompt_seconds); see docs/policy.md\n"
    "  --policy-set EV=ACT  set one event's action (repeatable), e.g. triple_fault=reset\n"
    "  --watchdog-ms N      watchdog period for guests (1..60000; 0 = off)\n"
    "  --snapshot-keep N    keep at most N crash snapshots (default 16)\n"
    "  --snapshot-max-mib N keep at most N MiB of snapshots on disk (default 8192)\n"
    "  --snapshot-pin-new   write every new snapshot pinned (out of retention's reach) until\n"
    "                       the crash-report uploader unpins it (docs/upload.md)\n"
    "  --sel-rate-limit B:S SEL entries a VM can cause, per source (a malformed virtqueue):\n"
    "                       at most B at once, then one per S seconds (default 10:60)\n"
    "  --log-level LEVEL    error, warn, info (default) or debug\n"
    "  --help               this text\n"
    "Local console hotkeys: Ctrl-A h lists them (Ctrl-A s switches VMs).\n";

struct options {
    struct vm_config vms[HV_MAX_VMS];
    struct nic_config nics[HV_MAX_VMS]; /* --net of vms[i], where given */
    uint32_t nvms;
    struct hv_config hv;
    struct policy *policy;
    unsigned snapshot_keep;
    uint64_t snapshot_max_bytes;
    bool snapshot_pin_new;
};

static uint64_t parse_num(const char *s, const char *what, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > max)
        hv_die("%s: \"%s\" is not a number from 0 to %llu", what, s, (unsigned long long)max);
    return v;
}

static struct vm_config *last_vm(struct options *o, const char *opt)
{
    if (!o->nvms)
        hv_die("%s must follow --service, --guest or --kernel", opt);
    return &o->vms[o->nvms - 1];
}

static void add_vm(struct options *o, enum vigil_vm_role role, const char *image)
{
    if (o->nvms == HV_MAX_VMS)
        hv_die("at most %d VMs", HV_MAX_VMS);
    struct vm_config *c = &o->vms[o->nvms++];
    uint32_t guests = 0;
    for (uint32_t i = 0; i < o->nvms - 1; i++)
        guests += o->vms[i].role == VIGIL_ROLE_GUEST;
    *c = (struct vm_config){.role = role,
                            .image = image,
                            .vcpus = 1,
                            .mem_size = role == VIGIL_ROLE_SERVICE ? DEFAULT_SERVICE_MEM
                                                                   : DEFAULT_GUEST_MEM};
    if (role == VIGIL_ROLE_SERVICE)
        snprintf(c->name, sizeof c->name, "service");
    else if (guests == 0)
        snprintf(c->name, sizeof c->name, "guest");
    else
        snprintf(c->name, sizeof c->name, "guest%u", guests + 1);
}

/* The VM --initrd or --append applies to: a --kernel one. */
static struct vm_config *linux_vm(struct options *o, const char *opt)
{
    struct vm_config *c = last_vm(o, opt);
    if (!c->kernel)
        hv_die("%s applies to a --kernel VM; \"%s\" is not one", opt, c->name);
    return c;
}

/* --sel-rate-limit BURST:SECONDS */
static void parse_rate(const char *s, struct ratelimit_cfg *c)
{
    char burst[16];
    const char *colon = strchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof burst)
        hv_die("--sel-rate-limit: \"%s\": want BURST:SECONDS, e.g. 10:60", s);
    memcpy(burst, s, (size_t)(colon - s));
    burst[colon - s] = 0;
    c->burst = (uint32_t)parse_num(burst, "--sel-rate-limit burst", 100000);
    c->period_ns = parse_num(colon + 1, "--sel-rate-limit seconds", 86400) * 1000000000ull;
    if (!c->period_ns)
        hv_die("--sel-rate-limit: SECONDS must be at least 1");
}

static void parse_options(int argc, char **argv, struct options *o)
{
    enum {
        O_SERVICE = 256,
        O_GUEST,
        O_NAME,
        O_MEM,
        O_VCPUS,
        O_CMDLINE,
        O_CPL0,
        O_AUTOSTART,
        O_NO_SERVICE,
        O_CONTROL,
        O_PIN,
        O_LOG,
        O_HELP,
        O_STATE,
        O_POLICY,
        O_POLICY_SET,
        O_WATCHDOG,
        O_SNAP_KEEP,
        O_SNAP_MAX,
        O_SNAP_PIN_NEW,
        O_SERVICE_IMAGE,
        O_RESTORE,
        O_NET,
        O_SEL_RATE,
        O_KERNEL,
        O_INITRD,
        O_APPEND,
        O_SYSTEM_MAP
    };
    static const struct option longopts[] = {
        {"service", required_argument, 0, O_SERVICE},
        {"guest", required_argument, 0, O_GUEST},
        {"name", required_argument, 0, O_NAME},
        {"mem", required_argument, 0, O_MEM},
        {"vcpus", required_argument, 0, O_VCPUS},
        {"cmdline", required_argument, 0, O_CMDLINE},
        {"cpl0", no_argument, 0, O_CPL0},
        {"autostart-guest", no_argument, 0, O_AUTOSTART},
        {"no-service", no_argument, 0, O_NO_SERVICE},
        {"control", required_argument, 0, O_CONTROL},
        {"pin-cpu", required_argument, 0, O_PIN},
        {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, O_HELP},
        {"state-dir", required_argument, 0, O_STATE},
        {"policy", required_argument, 0, O_POLICY},
        {"policy-set", required_argument, 0, O_POLICY_SET},
        {"watchdog-ms", required_argument, 0, O_WATCHDOG},
        {"snapshot-keep", required_argument, 0, O_SNAP_KEEP},
        {"snapshot-max-mib", required_argument, 0, O_SNAP_MAX},
        {"snapshot-pin-new", no_argument, 0, O_SNAP_PIN_NEW},
        {"service-image", required_argument, 0, O_SERVICE_IMAGE},
        {"restore-always", no_argument, 0, O_RESTORE},
        {"net", required_argument, 0, O_NET},
        {"sel-rate-limit", required_argument, 0, O_SEL_RATE},
        {"kernel", required_argument, 0, O_KERNEL},
        {"initrd", required_argument, 0, O_INITRD},
        {"append", required_argument, 0, O_APPEND},
        {"system-map", required_argument, 0, O_SYSTEM_MAP},
        {0, 0, 0, 0}};
    o->hv = (struct hv_config){
        .control_path = "/tmp/vigil-hv.sock",
        .pin_cpu = -1,
        .sel_rate = {EVENTS_RATE_BURST, EVENTS_RATE_PERIOD_S * 1000000000ull},
        .state_dir = getenv("VIGIL_STATE_DIR") ? getenv("VIGIL_STATE_DIR") : "/var/tmp/vigil"};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_SERVICE:
            for (uint32_t i = 0; i < o->nvms; i++)
                if (o->vms[i].role == VIGIL_ROLE_SERVICE)
                    hv_die("only one --service VM");
            add_vm(o, VIGIL_ROLE_SERVICE, optarg);
            break;
        case O_GUEST:
            add_vm(o, VIGIL_ROLE_GUEST, optarg);
            break;
        case O_KERNEL:
            add_vm(o, VIGIL_ROLE_GUEST, optarg);
            o->vms[o->nvms - 1].kernel = optarg;
            break;
        case O_INITRD:
            linux_vm(o, "--initrd")->initrd = optarg;
            break;
        case O_APPEND:
            linux_vm(o, "--append")->append = optarg;
            break;
        case O_SYSTEM_MAP:
            linux_vm(o, "--system-map")->system_map = optarg;
            break;
        case O_NAME:
            if (!*optarg || strlen(optarg) >= HV_VM_NAME_MAX ||
                strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(optarg))
                hv_die("--name: \"%s\": use 1-%d of a-z 0-9 - _", optarg, HV_VM_NAME_MAX - 1);
            snprintf(last_vm(o, "--name")->name, HV_VM_NAME_MAX, "%s", optarg);
            break;
        case O_MEM:
            last_vm(o, "--mem")->mem_size = parse_num(optarg, "--mem", 65536) << 20;
            break;
        case O_VCPUS:
            last_vm(o, "--vcpus")->vcpus = (uint32_t)parse_num(optarg, "--vcpus", HV_MAX_VCPUS);
            break;
        case O_CMDLINE:
            last_vm(o, "--cmdline")->cmdline = optarg;
            break;
        case O_CPL0:
            last_vm(o, "--cpl0")->cpl0 = true;
            break;
        case O_NET: {
            struct vm_config *vc = last_vm(o, "--net");
            struct nic_config *nc = &o->nics[vc - o->vms];
            char err[512];
            if (nic_config_parse(nc, optarg, vc->role == VIGIL_ROLE_SERVICE, err, sizeof err) < 0)
                hv_die("--net %s: %s", optarg, err);
            vc->nic = nc;
            break;
        }
        case O_SEL_RATE:
            parse_rate(optarg, &o->hv.sel_rate);
            break;
        case O_AUTOSTART:
            o->hv.autostart_guest = true;
            break;
        case O_NO_SERVICE:
            o->hv.no_service = true;
            break;
        case O_CONTROL:
            o->hv.control_path = optarg;
            break;
        case O_STATE:
            o->hv.state_dir = optarg;
            break;
        case O_POLICY: {
            char err[512];
            if (policy_load_file(o->policy, optarg, err, sizeof err) < 0)
                hv_die("--policy %s: %s", optarg, err);
            break;
        }
        case O_POLICY_SET: {
            char err[512];
            if (policy_assign(o->policy, optarg, err, sizeof err) < 0)
                hv_die("--policy-set %s: %s", optarg, err);
            break;
        }
        case O_WATCHDOG: {
            char err[512];
            json_t *j = json_pack("{s:I}", "watchdog_ms",
                                  (json_int_t)parse_num(optarg, "--watchdog-ms", 60000));
            int rc = policy_apply_json(o->policy, j, err, sizeof err);
            json_decref(j);
            if (rc < 0)
                hv_die("--watchdog-ms: %s", err);
            break;
        }
        case O_RESTORE:
            o->hv.restore_always = true;
            break;
        case O_SERVICE_IMAGE:
            o->hv.service_image = optarg;
            break;
        case O_SNAP_KEEP:
            o->snapshot_keep = (unsigned)parse_num(optarg, "--snapshot-keep", 100000);
            break;
        case O_SNAP_MAX:
            o->snapshot_max_bytes = parse_num(optarg, "--snapshot-max-mib", 1ull << 30) << 20;
            break;
        case O_SNAP_PIN_NEW:
            o->snapshot_pin_new = true;
            break;
        case O_PIN:
            o->hv.pin_cpu = (int)parse_num(optarg, "--pin-cpu", CPU_SETSIZE - 1);
            break;
        case O_LOG:
            if (!strcmp(optarg, "error"))
                log_threshold = LOG_ERROR;
            else if (!strcmp(optarg, "warn"))
                log_threshold = LOG_WARN;
            else if (!strcmp(optarg, "info"))
                log_threshold = LOG_INFO;
            else if (!strcmp(optarg, "debug"))
                log_threshold = LOG_DEBUG;
            else
                hv_die("--log-level: \"%s\" is not error, warn, info or debug", optarg);
            break;
        case O_HELP:
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            exit(2);
        }
    }
    if (optind < argc)
        hv_die("unexpected argument \"%s\" (see --help)", argv[optind]);
    bool has_service = false, has_guest = false;
    for (uint32_t i = 0; i < o->nvms; i++) {
        has_service |= o->vms[i].role == VIGIL_ROLE_SERVICE;
        has_guest |= o->vms[i].role == VIGIL_ROLE_GUEST;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(o->vms[i].name, o->vms[j].name))
                hv_die("two VMs are named \"%s\"", o->vms[i].name);
    }
    for (uint32_t i = 0; i < o->nvms; i++) {
        const struct vm_config *vc = &o->vms[i];
        if (vc->kernel && (vc->cmdline || vc->cpl0 || vc->nic))
            hv_die("%s: --cmdline, --cpl0 and --net are for hv's own guests; a --kernel VM takes "
                   "--append and has no network card yet",
                   vc->name);
    }
    for (uint32_t i = 0; i < o->nvms; i++)
        board_devices(&o->vms[i]); /* after --net: the card is the board's to give */
    if (o->hv.no_service && has_service)
        hv_die("--no-service and --service exclude each other");
    if (o->hv.no_service && !has_guest)
        hv_die("--no-service needs a --guest");
    if (!o->hv.no_service && !has_service)
        hv_die("no service VM: give --service IMG, or --no-service to run a guest alone");
}

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
    if (hv->spare_service && !hv->service)
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
