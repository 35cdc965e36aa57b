/* options.c: hv's command line: the usage text, option parsing and the checks across options. */
#include "options.h"

#include "base/log.h"
#include "supervisor/board.h"
#include "supervisor/events.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SERVICE_MEM (64ull << 20)
#define DEFAULT_GUEST_MEM   (256ull << 20)

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

void parse_options(int argc, char **argv, struct options *o)
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
