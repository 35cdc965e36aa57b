/* core_fixture.c: builds and tears down an hv over the fake platform for the core unit tests. */
#include "core_fixture.h"

#include "base/log.h"
#include "evidence/snapshot_store.h"
#include "supervisor/board.h"
#include "supervisor/settle.h"
#include "supervisor/snapshot.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "supervisor/watchdog.h"
#include "vmm/vm.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define IMAGE_ADDR 0x100000ull

/* One executable segment at 1 MiB holding `hlt; jmp .-1`: enough for elf_load and the boot
 * tables; the fake never executes it. */
static void write_image(const char *path)
{
    static const uint8_t code[] = {0xf4, 0xeb, 0xfd};
    struct {
        Elf64_Ehdr eh;
        Elf64_Phdr ph;
        uint8_t pad[0x100 - sizeof(Elf64_Ehdr) - sizeof(Elf64_Phdr)];
        uint8_t code[sizeof code];
    } img = {
        .eh = {.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT},
               .e_type = ET_EXEC,
               .e_machine = EM_X86_64,
               .e_version = EV_CURRENT,
               .e_entry = IMAGE_ADDR,
               .e_phoff = sizeof(Elf64_Ehdr),
               .e_ehsize = sizeof(Elf64_Ehdr),
               .e_phentsize = sizeof(Elf64_Phdr),
               .e_phnum = 1},
        .ph = {.p_type = PT_LOAD,
               .p_flags = PF_R | PF_X,
               .p_offset = 0x100,
               .p_vaddr = IMAGE_ADDR,
               .p_paddr = IMAGE_ADDR,
               .p_filesz = sizeof code,
               .p_memsz = 0x1000,
               .p_align = 0x1000},
    };
    memcpy(img.code, code, sizeof code);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(&img, sizeof img, 1, fp), 1);
    fclose(fp);
}

struct core *core_new(const struct fake_host *host)
{
    log_threshold = getenv("CORE_VERBOSE") ? LOG_DEBUG : LOG_ERROR;
    struct core *c = calloc(1, sizeof *c);
    assert_non_null(c);
    /* tmpfs where there is one: the SEL and snapshot store fsync, and these tests need not. */
    snprintf(c->dir, sizeof c->dir, "/dev/shm/vigil-core-XXXXXX");
    if (!mkdtemp(c->dir)) {
        snprintf(c->dir, sizeof c->dir, "/tmp/vigil-core-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
    }
    snprintf(c->image, sizeof c->image, "%s/guest.elf", c->dir);
    write_image(c->image);
    c->fake = fake_new(host);
    assert_non_null(c->fake);
    struct hv *hv = c->hv = calloc(1, sizeof *hv);
    assert_non_null(hv);
    hv->platform = fake_ops(c->fake);
    hv->cfg.state_dir = c->dir;
    atomic_init(&hv->traps_armed, true);
    hv->term_fd = -1;
    hv->start_ns = now_ns();
    static struct policy_port_owner reserved[32];
    uint32_t nreserved = board_reserved_ports(reserved, 32);
    assert_true(nreserved <= 32);
    policy_init_defaults(&hv->policy, reserved, nreserved);
    hv->hooks = &trap_vmm_hooks;
    pthread_mutex_init(&hv->switch_lock, NULL);
    stats_init(&hv->switch_to_guest);
    stats_init(&hv->switch_to_service);
    stats_init(&hv->freeze_latency);
    stats_init(&hv->trap_freeze);
    jobs_init(&hv->jobs);
    hv->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(hv->work_fd >= 0);
    char err[256], path[128];
    assert_int_equal(hv_platform(hv)->open(hv, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/sel.bin", c->dir);
    assert_int_equal(sel_open(&hv->sel, path, 0, err, sizeof err), 0);
    sel_set_durable(hv->sel, false);
    assert_int_equal(snapshot_store_open(&hv->snapshots, c->dir, 4, 0, err, sizeof err), 0);
    return c;
}

void core_free(struct core *c)
{
    struct hv *hv = c->hv;
    if (fake_violations(c->fake))
        fail_msg("the fake platform saw %u violations, the first: %s", fake_violations(c->fake),
                 fake_first_violation(c->fake));
    watchdog_stop(hv);
    for (uint32_t i = 0; i < hv->nvms; i++) {
        assert_true(snapshot_wait(hv->vms[i], CORE_TIMEOUT_MS));
        vm_destroy(hv->vms[i]);
    }
    assert_int_equal(fake_violations(c->fake), 0);
    hv_platform(hv)->close(hv);
    snapshot_store_close(hv->snapshots);
    sel_close(hv->sel);
    policy_destroy(&hv->policy);
    pthread_mutex_destroy(&hv->switch_lock);
    jobs_destroy(&hv->jobs);
    close(hv->work_fd);
    free(hv);
    fake_free(c->fake);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    assert_int_equal(system(cmd), 0);
    free(c);
}

struct vm *core_add_vm(struct core *c, enum vigil_vm_role role, const char *name, uint32_t vcpus)
{
    struct hv *hv = c->hv;
    struct vm_config cfg = {
        .role = role, .image = c->image, .mem_size = CORE_VM_MEM, .vcpus = vcpus};
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    board_devices(&cfg);
    struct vm *vm;
    char err[256];
    if (vm_create(hv, &cfg, &vm, err, sizeof err) < 0)
        fail_msg("vm_create %s: %s", name, err);
    hv->vms[hv->nvms++] = vm;
    if (role == VIGIL_ROLE_SERVICE && !hv->service)
        hv->service = vm;
    if (role == VIGIL_ROLE_GUEST && !hv->default_guest)
        hv->default_guest = vm;
    return vm;
}

struct core_pair *core_pair_new(struct core *c, uint32_t guest_vcpus, bool boot_guest)
{
    struct core_pair *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->c = c;
    p->svc = core_add_vm(c, VIGIL_ROLE_SERVICE, "service", 1);
    p->guest = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", guest_vcpus);
    char err[256];
    atomic_store(&c->hv->foreground, p->svc);
    assert_int_equal(vm_start(p->svc, err, sizeof err), 0);
    assert_true(fake_wait_idle(c->fake, &p->svc->vcpus[0], CORE_TIMEOUT_MS));
    if (boot_guest) {
        assert_int_equal(hv_switch_to(c->hv, p->guest, "test", now_ns(), err, sizeof err), 0);
        for (uint32_t i = 0; i < p->guest->nvcpus; i++)
            assert_true(fake_wait_idle(c->fake, &p->guest->vcpus[i], CORE_TIMEOUT_MS));
    }
    return p;
}

void core_pair_free(struct core_pair *p)
{
    core_free(p->c);
    free(p);
}

bool core_wait(bool (*pred)(void *), void *arg, int timeout_ms)
{
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (!pred(arg)) {
        if (now_ns() > end)
            return false;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return true;
}

bool core_request_pending(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool pending = vm->stop_pending;
    pthread_mutex_unlock(&vm->lock);
    return pending;
}

static bool request_pending(void *arg)
{
    return core_request_pending(arg);
}

bool core_wait_request(struct vm *vm)
{
    return core_wait(request_pending, vm, CORE_TIMEOUT_MS);
}

static bool parked_and_captured(void *arg)
{
    struct vm *vm = arg;
    pthread_mutex_lock(&vm->lock);
    bool done = true;
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        const struct vcpu *v = &vm->vcpus[i];
        if (v->thread_started && (!v->parked || v->capturing))
            done = false;
    }
    pthread_mutex_unlock(&vm->lock);
    return done;
}

bool core_wait_parked(struct vm *vm)
{
    return core_wait(parked_and_captured, vm, CORE_TIMEOUT_MS);
}

void core_settle(struct core *c)
{
    uint64_t n;
    ssize_t r = read(c->hv->work_fd, &n, sizeof n); /* as the main loop drains it */
    (void)r;
    hv_settle_stopped_vms(c->hv);
}

enum vm_state core_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

unsigned core_sel_count(struct core *c, enum sel_type type, const char *needle)
{
    struct sel_entry e[64];
    unsigned n = 0;
    uint64_t after = 0;
    size_t got;
    while ((got = sel_read(c->hv->sel, after, e, 64)) > 0) {
        for (size_t i = 0; i < got; i++)
            if ((type == SEL_T_COUNT || e[i].type == type) && strstr(e[i].message, needle))
                n++;
        after = e[got - 1].id;
    }
    return n;
}

void core_policy(struct core *c, const char *event, const char *action)
{
    char err[256];
    if (policy_set(&c->hv->policy, event, action, err, sizeof err) < 0)
        fail_msg("policy_set %s=%s: %s", event, action, err);
}
