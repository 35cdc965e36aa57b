/* test_vm_traps.c: arming protected ranges and the MSR filter, against a fake KVM (ioctl wrapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "control/ctl_ops.h"
#include "policy/policy.h"
#include "supervisor/rearm.h"
#include "vmm/hv.h"
#include "vmm/vm.h"

/*
 * The fake KVM: what KVM_SET_USER_MEMORY_REGION and KVM_X86_SET_MSR_FILTER would leave behind,
 * with KVM's own refusals (an overlapping slot: EEXIST; a changed slot: EINVAL), and failures
 * on demand.  The test binary is linked with -Wl,--wrap=ioctl, so hv's calls land here.
 */
#define FAKE_FD0   1000
#define FAKE_VMS   2
#define FAKE_SLOTS 64
#define MEM        (16ull << 20)
#define PAGE       4096ull

struct fake_slot {
    bool used;
    uint64_t gpa, len;
    uint32_t flags;
};

static struct fake_vm {
    struct fake_slot slot[FAKE_SLOTS];
    bool filtered; /* a filter was set */
    struct kvm_msr_filter filter;
    uint8_t bitmap[KVM_MSR_FILTER_MAX_RANGES][KVM_MSR_FILTER_MAX_BITMAP_SIZE];
} fake[FAKE_VMS];

static struct {
    int calls;        /* every ioctl that reached the fake */
    int fail_ro_fd;   /* fail every read-only slot created on this fd (0: none) */
    int creates_left; /* fail one slot creation after this many more succeed (-1: none) */
    int unknown;      /* ioctls the fake does not know */
} ctl = {.creates_left = -1};

int __wrap_ioctl(int fd, unsigned long req, ...);

static int set_region(struct fake_vm *f, int fd, const struct kvm_userspace_memory_region *r)
{
    if (r->slot >= FAKE_SLOTS)
        return errno = EINVAL, -1;
    struct fake_slot *s = &f->slot[r->slot];
    if (!r->memory_size) {
        if (!s->used)
            return errno = EINVAL, -1;
        s->used = false;
        return 0;
    }
    if (s->used) /* KVM cannot move, resize or make read-only a live slot */
        return s->gpa == r->guest_phys_addr && s->len == r->memory_size && s->flags == r->flags
                   ? 0
                   : (errno = EINVAL, -1);
    for (int i = 0; i < FAKE_SLOTS; i++)
        if (f->slot[i].used && r->guest_phys_addr < f->slot[i].gpa + f->slot[i].len &&
            f->slot[i].gpa < r->guest_phys_addr + r->memory_size)
            return errno = EEXIST, -1;
    if (fd == ctl.fail_ro_fd && (r->flags & KVM_MEM_READONLY))
        return errno = ENOMEM, -1;
    if (ctl.creates_left >= 0 && ctl.creates_left-- == 0)
        return errno = ENOMEM, -1;
    *s = (struct fake_slot){true, r->guest_phys_addr, r->memory_size, r->flags};
    return 0;
}

static int set_filter(struct fake_vm *f, const struct kvm_msr_filter *in)
{
    for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        const struct kvm_msr_filter_range *r = &in->ranges[i];
        if (r->nmsrs && (r->nmsrs > KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8 || !r->bitmap || !r->flags ||
                         (r->flags & ~(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE))))
            return errno = EINVAL, -1;
    }
    f->filter = *in;
    for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        struct kvm_msr_filter_range *r = &f->filter.ranges[i];
        if (r->nmsrs) {
            memcpy(f->bitmap[i], r->bitmap, (r->nmsrs + 7) / 8);
            r->bitmap = f->bitmap[i];
        }
    }
    f->filtered = true;
    return 0;
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    ctl.calls++;
    if (fd < FAKE_FD0 || fd >= FAKE_FD0 + FAKE_VMS)
        return ctl.unknown++, errno = EBADF, -1;
    struct fake_vm *f = &fake[fd - FAKE_FD0];
    switch (req) {
    case KVM_SET_USER_MEMORY_REGION:
        return set_region(f, fd, arg);
    case KVM_X86_SET_MSR_FILTER:
        return set_filter(f, arg);
    case KVM_ENABLE_CAP:
        return 0;
    default:
        return ctl.unknown++, errno = ENOTTY, -1;
    }
}

/* What the fake's memslots make of one page: -1 unmapped, 0 read-write, 1 read-only, 2 both. */
static int page_kind(int v, uint64_t gpa)
{
    int kind = -1;
    for (int i = 0; i < FAKE_SLOTS; i++) {
        const struct fake_slot *s = &fake[v].slot[i];
        if (s->used && gpa >= s->gpa && gpa < s->gpa + s->len)
            kind = kind >= 0 ? 2 : (s->flags & KVM_MEM_READONLY) ? 1 : 0;
    }
    return kind;
}

/* Every page of RAM mapped exactly once, read-only exactly where a range says. */
static void assert_layout(int v, const struct policy_range *r, uint32_t n)
{
    for (uint64_t gpa = 0; gpa < MEM; gpa += PAGE) {
        int want = 0;
        for (uint32_t i = 0; i < n; i++)
            want |= gpa >= r[i].gpa && gpa < r[i].gpa + r[i].len;
        if (page_kind(v, gpa) != want)
            fail_msg("VM %d, page 0x%llx: %d, want %d", v, (unsigned long long)gpa,
                     page_kind(v, gpa), want);
    }
}

/* Whether the fake's filter refuses the MSR (KVM: the first range holding it decides). */
static bool msr_denied(int v, uint32_t msr)
{
    const struct kvm_msr_filter *f = &fake[v].filter;
    if (!fake[v].filtered)
        return false;
    for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        const struct kvm_msr_filter_range *r = &f->ranges[i];
        if (r->nmsrs && msr >= r->base && msr - r->base < r->nmsrs)
            return !(r->bitmap[(msr - r->base) / 8] & (1u << ((msr - r->base) % 8)));
    }
    return (f->flags & KVM_MSR_FILTER_DEFAULT_DENY) != 0;
}

struct world {
    struct hv hv;
    struct vm *vm[FAKE_VMS];
};

static int setup(void **state)
{
    memset(fake, 0, sizeof fake);
    ctl.calls = ctl.unknown = ctl.fail_ro_fd = 0;
    ctl.creates_left = -1;
    struct world *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    policy_init_defaults(&w->hv.policy, NULL, 0);
    pthread_mutex_init(&w->hv.switch_lock, NULL);
    w->hv.kvm.cap_readonly_mem = true;
    w->hv.traps_armed = true;
    char err[256];
    for (int i = 0; i < FAKE_VMS; i++) {
        struct vm *vm = calloc(1, sizeof *vm);
        if (!vm)
            return -1;
        vm->hv = &w->hv;
        snprintf(vm->name, sizeof vm->name, "guest%d", i);
        vm->role = VIGIL_ROLE_GUEST;
        vm->fd = FAKE_FD0 + i;
        vm->mem_size = MEM;
        vm->mem = mmap(NULL, MEM, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (vm->mem == MAP_FAILED)
            return -1;
        vm->state = VM_FROZEN; /* nothing to park: the fake has no vCPUs */
        pthread_mutex_init(&vm->lock, NULL);
        if (vm_arm_protection_plain(vm, err, sizeof err) < 0)
            return -1;
        w->vm[i] = vm;
        w->hv.vms[w->hv.nvms++] = vm;
    }
    ctl.calls = 0;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    for (int i = 0; i < FAKE_VMS; i++) {
        munmap(w->vm[i]->mem, MEM);
        pthread_mutex_destroy(&w->vm[i]->lock);
        free(w->vm[i]);
    }
    policy_destroy(&w->hv.policy);
    pthread_mutex_destroy(&w->hv.switch_lock);
    free(w);
    return 0;
}

static struct policy_params ranges(uint32_t n, const struct policy_range *r)
{
    struct policy_params pp = {.nprotected = n};
    memcpy(pp.protected_ranges, r, n * sizeof *r);
    return pp;
}

static void expect_slots(uint64_t mem, const struct policy_range *r, uint32_t n,
                         const struct vm_slot *want, int nwant)
{
    struct vm_slot got[VM_MAX_SLOTS];
    int count = vm_slot_layout(mem, r, n, got, VM_MAX_SLOTS);
    assert_int_equal(count, nwant);
    for (int i = 0; i < nwant; i++) {
        assert_int_equal(got[i].gpa, want[i].gpa);
        assert_int_equal(got[i].len, want[i].len);
        assert_int_equal(got[i].readonly, want[i].readonly);
    }
}

/* The pure layout: RAM covered once, in address order, read-only exactly over the ranges. */
static void test_slot_layout(void **state)
{
    (void)state;
    const struct policy_range unsorted[] = {{0x200000, 0x1000}, {0x100000, 0x2000}};
    const struct vm_slot l1[] = {{0, 0x100000, false},
                                 {0x100000, 0x2000, true},
                                 {0x102000, 0xfe000, false},
                                 {0x200000, 0x1000, true},
                                 {0x201000, MEM - 0x201000, false}};
    expect_slots(MEM, unsorted, 2, l1, 5);
    /* At either end of RAM; beyond it (dropped) and across its end (clipped). */
    const struct policy_range ends[] = {{MEM - 0x1000, 0x3000}, {MEM, 0x1000}, {0, 0x1000}};
    const struct vm_slot l2[] = {
        {0, 0x1000, true}, {0x1000, MEM - 0x2000, false}, {MEM - 0x1000, 0x1000, true}};
    expect_slots(MEM, ends, 3, l2, 3);
    /* Touching or overlapping ranges make one read-only slot. */
    const struct policy_range touch[] = {{0x2000, 0x2000}, {0x1000, 0x1000}, {0x3000, 0x800}};
    const struct vm_slot l3[] = {
        {0, 0x1000, false}, {0x1000, 0x3000, true}, {0x4000, MEM - 0x4000, false}};
    expect_slots(MEM, touch, 3, l3, 3);
    const struct policy_range all[] = {{0, MEM}};
    const struct vm_slot l4[] = {{0, MEM, true}};
    expect_slots(MEM, all, 1, l4, 1);
    const struct vm_slot l5[] = {{0, MEM, false}};
    expect_slots(MEM, NULL, 0, l5, 1);
    expect_slots(0, unsorted, 2, NULL, 0);
    /* The most ranges a policy holds fit; a smaller out array is refused, not overrun. */
    struct policy_range many[POLICY_MAX_PROTECTED];
    for (uint32_t i = 0; i < POLICY_MAX_PROTECTED; i++)
        many[i] = (struct policy_range){(POLICY_MAX_PROTECTED - i) * 0x10000ull, 0x1000};
    struct vm_slot out[VM_MAX_SLOTS];
    assert_int_equal(vm_slot_layout(MEM, many, POLICY_MAX_PROTECTED, out, VM_MAX_SLOTS),
                     VM_MAX_SLOTS);
    assert_int_equal(vm_slot_layout(MEM, many, POLICY_MAX_PROTECTED, out, VM_MAX_SLOTS - 1), -1);
    for (uint32_t i = 1; i < VM_MAX_SLOTS; i++)
        assert_int_equal(out[i].gpa, out[i - 1].gpa + out[i - 1].len);
}

/* The pure filter: one range per window, every forbidden MSR's bit clear, the rest set. */
static void test_msr_filter_build(void **state)
{
    (void)state;
    static uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][KVM_MSR_FILTER_MAX_BITMAP_SIZE];
    struct kvm_msr_filter f;
    struct policy_params pp = {.nmsrs = 4, .msrs = {0xc0000080, 0x10, 0x1b, 0x3010}};
    assert_int_equal(vm_msr_filter_build(&pp, &f, bitmaps), 3);
    assert_int_equal(f.flags, KVM_MSR_FILTER_DEFAULT_ALLOW);
    assert_int_equal(f.ranges[0].base, 0x10);
    assert_int_equal(f.ranges[0].nmsrs, 0xc);
    assert_int_equal(f.ranges[0].bitmap[0], 0xfe); /* 0x10 */
    assert_int_equal(f.ranges[0].bitmap[1], 0xf7); /* 0x1b */
    assert_int_equal(f.ranges[1].base, 0x3010);
    assert_int_equal(f.ranges[2].base, 0xc0000080);
    assert_int_equal(f.ranges[2].nmsrs, 1);
    assert_int_equal(f.ranges[3].nmsrs, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f.ranges[i].flags, KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE);
    pp.nmsrs = 0;
    assert_int_equal(vm_msr_filter_build(&pp, &f, bitmaps), 0);
    assert_int_equal(f.ranges[0].nmsrs, 0);
    pp.nmsrs = 17;
    for (uint32_t i = 0; i < 17; i++)
        pp.msrs[i] = i * 0x10000;
    assert_int_equal(vm_msr_filter_build(&pp, &f, bitmaps), -1);
}

/* The higher range first: the slots must still be laid out in address order. */
static void test_unsorted_ranges_are_laid_out(void **state)
{
    struct world *w = *state;
    const struct policy_range r[] = {{0x200000, 0x1000}, {0x100000, 0x2000}, {0x800000, 0x4000}};
    struct policy_params pp = ranges(3, r);
    char err[256] = "";
    assert_int_equal(vm_arm_protection(w->vm[0], &pp, err, sizeof err), 0);
    assert_layout(0, r, 3);
    assert_int_equal(ctl.unknown, 0);
}

/* A KVM failure half-way must not leave the guest with RAM unmapped. */
static void test_kvm_failure_restores_the_previous_layout(void **state)
{
    struct world *w = *state;
    const struct policy_range a[] = {{0x100000, 0x1000}};
    const struct policy_range b[] = {{0x400000, 0x1000}, {0x300000, 0x1000}};
    struct policy_params pa = ranges(1, a), pb = ranges(2, b);
    char err[256] = "";
    assert_int_equal(vm_arm_protection(w->vm[0], &pa, err, sizeof err), 0);
    ctl.creates_left = 1; /* the second slot of the new layout fails */
    assert_int_not_equal(vm_arm_protection(w->vm[0], &pb, err, sizeof err), 0);
    assert_non_null(strstr(err, "KVM_SET_USER_MEMORY_REGION"));
    assert_layout(0, a, 1);
    /* Neither the new layout nor the old one can be made (both have read-only slots): RAM
     * stays mapped, unprotected, and the error says so. */
    ctl.creates_left = -1;
    ctl.fail_ro_fd = FAKE_FD0;
    err[0] = 0;
    assert_int_not_equal(vm_arm_protection(w->vm[0], &pb, err, sizeof err), 0);
    assert_layout(0, NULL, 0);
    assert_non_null(strstr(err, "unprotected"));
}

static json_t *set_policy(struct world *w, const char *policy_json)
{
    json_error_t jerr;
    json_t *req =
        json_pack("{s:s, s:o}", "op", "policy.set", "policy", json_loads(policy_json, 0, &jerr));
    assert_non_null(req);
    struct ctl_msg msg = {.kind = 1, .json = req};
    struct ctl_reply out = {0};
    json_t *reply = op_policy_set(&w->hv, &msg, &out);
    json_decref(req);
    assert_non_null(reply);
    return reply;
}

/* The second guest's KVM refuses: the change is refused, every guest keeps its layout, and
 * the old policy stays.  Then the same change, unsorted, goes through. */
static void test_policy_set_is_all_or_nothing(void **state)
{
    struct world *w = *state;
    const char *change = "{\"protected\": [{\"gpa\": \"0x900000\", \"len\": 4096},"
                         " {\"gpa\": \"0x800000\", \"len\": 8192}]}";
    ctl.fail_ro_fd = FAKE_FD0 + 1;
    json_t *reply = set_policy(w, change);
    assert_false(json_is_true(json_object_get(reply, "ok")));
    const char *msg = json_string_value(json_object_get(reply, "error"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "guest1"));
    json_decref(reply);
    struct policy_params pp;
    policy_get_params(&w->hv.policy, &pp);
    assert_int_equal(pp.nprotected, 0);
    assert_layout(0, NULL, 0);
    assert_layout(1, NULL, 0);

    ctl.fail_ro_fd = 0;
    reply = set_policy(w, change);
    assert_true(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    const struct policy_range want[] = {{0x800000, 8192}, {0x900000, 4096}};
    policy_get_params(&w->hv.policy, &pp);
    assert_int_equal(pp.nprotected, 2);
    assert_memory_equal(pp.protected_ranges, want, sizeof want); /* stored in address order */
    assert_layout(0, want, 2);
    assert_layout(1, want, 2);
}

/* Devirtualized (no service VM, traps disarmed): the policy is stored, nothing is armed. */
static void test_policy_set_devirtualized_only_stores(void **state)
{
    struct world *w = *state;
    w->hv.traps_armed = false;
    json_t *reply = set_policy(w, "{\"protected\": [{\"gpa\": \"0x100000\", \"len\": 4096}],"
                                  " \"forbidden_msrs\": [\"0x1a0\"]}");
    assert_true(json_is_true(json_object_get(reply, "ok")));
    assert_int_equal(ctl.calls, 0); /* KVM untouched */
    assert_layout(0, NULL, 0);
    assert_false(msr_denied(0, 0x1a0));
    struct policy_params pp;
    policy_get_params(&w->hv.policy, &pp);
    assert_int_equal(pp.nprotected, 1);
    assert_int_equal(pp.nmsrs, 1);
    json_decref(reply);
}

/* Every MSR the policy accepts is refused by the filter, the 17th and later ones too. */
static void test_every_forbidden_msr_is_filtered(void **state)
{
    struct world *w = *state;
    struct policy_params pp = {.nmsrs = POLICY_MAX_MSRS};
    for (uint32_t i = 0; i < 16; i++) {
        pp.msrs[i] = 0x400 + 4 * i;           /* MCi_CTL */
        pp.msrs[16 + i] = 0xc0010200 + 2 * i; /* AMD PERF_CTL0-15 */
    }
    pp.msrs[31] = 0x1a0; /* out of order */
    char err[256] = "";
    assert_int_equal(vm_arm_msr_filter(w->vm[0], &pp, err, sizeof err), 0);
    for (uint32_t i = 0; i < pp.nmsrs; i++)
        if (!msr_denied(0, pp.msrs[i]))
            fail_msg("forbidden MSR 0x%x (entry %u) is not filtered", pp.msrs[i], i);
    assert_false(msr_denied(0, 0x401));
    assert_false(msr_denied(0, 0xc0010201));
    assert_false(msr_denied(0, 0x10));
}

/* Emptying the list lifts the filter (devirtualizing does exactly that). */
static void test_msr_filter_is_lifted_when_the_list_empties(void **state)
{
    struct world *w = *state;
    struct policy_params pp = {.nmsrs = 1, .msrs = {0x1a0}};
    char err[256] = "";
    assert_int_equal(vm_arm_msr_filter(w->vm[0], &pp, err, sizeof err), 0);
    assert_true(msr_denied(0, 0x1a0));
    pp.nmsrs = 0;
    assert_int_equal(vm_arm_msr_filter(w->vm[0], &pp, err, sizeof err), 0);
    assert_false(msr_denied(0, 0x1a0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_layout),
        cmocka_unit_test(test_msr_filter_build),
        cmocka_unit_test_setup_teardown(test_unsorted_ranges_are_laid_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvm_failure_restores_the_previous_layout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_policy_set_is_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_set_devirtualized_only_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_forbidden_msr_is_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msr_filter_is_lifted_when_the_list_empties, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
