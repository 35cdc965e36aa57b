/* test_hypercall.c: the hypercall dispatcher over fake guest RAM: sizes, bounds, roles, numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "supervisor/hypercall.h"
#include "vmm/vm.h"

#define RAM (64u << 10)

struct echo {
    uint64_t in, out;
    int64_t ret;
};

struct quiet { /* like HALT's: no ret */
    uint64_t status;
};

static unsigned calls;
static uint32_t last_gpa;

static int64_t echo(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct echo *a = arg;
    calls++;
    last_gpa = gpa;
    a->out = a->in * 2;
    /* The guest's other vCPUs may scribble meanwhile: hv works on its copy. */
    memset(v->vm->mem + gpa, 0xee, sizeof *a);
    return a->in == 13 ? VIGIL_EINVAL : 7;
}

static int64_t quiet(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct quiet *a = arg;
    (void)v, (void)gpa;
    calls++;
    a->status = 99; /* not copied back: the structure has no ret */
    return 0;
}

static const struct hypercall rows[6] = {
    [0] = {"ECHO", sizeof(struct echo), HC_ANY, echo},
    [1] = {"SERVICE_ECHO", sizeof(struct echo), HC_SERVICE, echo},
    [2] = {"QUIET", sizeof(struct quiet), HC_ANY, quiet, .no_ret = true},
    /* 3: no row */
    [4] = {"HUGE", HC_ARG_MAX + 8, HC_ANY, echo},
    [5] = {"GUEST_ECHO", sizeof(struct echo), HC_GUEST, echo},
};
static const struct hypercall_table table = {rows, 6};

struct fx {
    struct vm *vm;
    struct vcpu v;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->vm = calloc(1, sizeof *f->vm);
    f->vm->mem = calloc(1, RAM);
    f->vm->mem_size = RAM;
    f->vm->role = VIGIL_ROLE_GUEST;
    strcpy(f->vm->name, "unit");
    f->v.vm = f->vm;
    calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->vm->mem);
    free(f->vm);
    free(f);
    return 0;
}

static struct echo *put_echo(struct fx *f, uint32_t gpa, uint64_t in)
{
    struct echo *e = (struct echo *)(f->vm->mem + gpa);
    *e = (struct echo){.in = in, .out = 1, .ret = 1};
    return e;
}

static void test_good_call(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 21);
    hypercall_dispatch(&table, &f->v, 0, 0x100);
    assert_int_equal(calls, 1);
    assert_int_equal(last_gpa, 0x100);
    assert_int_equal(e->in, 21); /* the copy went back over the scribble */
    assert_int_equal(e->out, 42);
    assert_int_equal(e->ret, 7);
    assert_int_equal(f->vm->bad_hypercalls, 0);
}

static void test_error_is_returned_and_counted(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 13);
    hypercall_dispatch(&table, &f->v, 0, 0x100);
    assert_int_equal(e->ret, VIGIL_EINVAL);
    assert_int_equal(e->out, 26);
    assert_int_equal(f->vm->bad_hypercalls, 1);
}

static void test_unknown_numbers(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 1);
    hypercall_dispatch(&table, &f->v, 3, 0x100); /* a hole in the table */
    hypercall_dispatch(&table, &f->v, 6, 0x100); /* past its end */
    hypercall_dispatch(&table, &f->v, 31, 0x100);
    assert_int_equal(calls, 0);
    assert_int_equal(e->ret, 1); /* untouched: there is no ret to answer in */
    assert_int_equal(f->vm->bad_hypercalls, 3);
}

static void test_bounds_and_alignment(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x200, 1);
    hypercall_dispatch(&table, &f->v, 0, 0x204); /* misaligned */
    assert_int_equal(e->ret, 1);
    put_echo(f, RAM - sizeof *e, 1);
    hypercall_dispatch(&table, &f->v, 0, RAM - sizeof *e); /* the last fitting place */
    assert_int_equal(calls, 1);
    hypercall_dispatch(&table, &f->v, 0, RAM - 16); /* straddles the end of RAM */
    hypercall_dispatch(&table, &f->v, 0, RAM);
    hypercall_dispatch(&table, &f->v, 0, UINT32_MAX & ~7u);
    assert_int_equal(calls, 1);
    assert_int_equal(f->vm->bad_hypercalls, 4);
}

static void test_size_is_checked_once_per_row(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 1);
    hypercall_dispatch(&table, &f->v, 4, 0x100); /* a row larger than hv's copy */
    assert_int_equal(calls, 0);
    assert_int_equal(e->ret, 1);
    assert_int_equal(f->vm->bad_hypercalls, 1);
}

static void test_roles(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 5);
    hypercall_dispatch(&table, &f->v, 1, 0x100); /* the guest may not */
    assert_int_equal(calls, 0);
    assert_int_equal(e->ret, VIGIL_EPERM);
    assert_int_equal(e->out, 1);
    assert_int_equal(f->vm->bad_hypercalls, 1);
    hypercall_dispatch(&table, &f->v, 5, 0x100);
    assert_int_equal(e->ret, 7);

    f->vm->role = VIGIL_ROLE_SERVICE;
    hypercall_dispatch(&table, &f->v, 1, 0x100);
    assert_int_equal(e->ret, 7);
    assert_int_equal(e->out, 10);
    put_echo(f, 0x100, 5);
    hypercall_dispatch(&table, &f->v, 5, 0x100);
    assert_int_equal(e->ret, VIGIL_EPERM);
    assert_int_equal(calls, 2);
}

static void test_no_ret(void **state)
{
    struct fx *f = *state;
    struct quiet *q = (struct quiet *)(f->vm->mem + 0x300);
    q->status = 4;
    hypercall_dispatch(&table, &f->v, 2, 0x300);
    assert_int_equal(calls, 1);
    assert_int_equal(q->status, 4);
}

static void test_port(void **state)
{
    struct fx *f = *state;
    struct echo *e = put_echo(f, 0x100, 4);
    uint8_t data[4];
    uint32_t gpa = 0x100;
    memcpy(data, &gpa, 4);
    hypercall_port_io(&table, &f->v, &(struct dev_io){DEV_PIO, 0x700, 4, 1, true, data});
    assert_int_equal(e->ret, 7);
    assert_int_equal(calls, 1);

    hypercall_port_io(&table, &f->v, &(struct dev_io){DEV_PIO, 0x700, 1, 1, true, data});
    hypercall_port_io(&table, &f->v, &(struct dev_io){DEV_PIO, 0x700, 4, 2, true, data});
    hypercall_port_io(&table, &f->v, &(struct dev_io){DEV_PIO, 0x700, 2, 1, false, data});
    assert_int_equal(data[0], 0xff); /* an IN reads all ones */
    assert_int_equal(data[1], 0xff);
    assert_int_equal(calls, 1);
    assert_int_equal(f->vm->bad_hypercalls, 3);
}

/* ABI v1's table: a row per number, each fitting the dispatcher; SWITCH and SVC_CALL for the
 * service VM. */
static void test_vigil_table(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vigil_hypercalls.count, VIGIL_HC_COUNT);
    for (unsigned nr = 0; nr < VIGIL_HC_COUNT; nr++) {
        const struct hypercall *c = &vigil_hypercalls.calls[nr];
        assert_non_null(c->name);
        assert_non_null(c->fn);
        assert_true(c->arg_size <= HC_ARG_MAX && c->arg_size % 8 == 0);
        assert_true(c->no_ret == (nr == VIGIL_HC_HALT));
        bool service_only = nr == VIGIL_HC_SWITCH || nr == VIGIL_HC_SVC_CALL;
        assert_int_equal(c->callers, service_only ? HC_SERVICE : HC_ANY);
    }
    struct vigil_hc_switch *s = (struct vigil_hc_switch *)(f->vm->mem + 0x100);
    *s = (struct vigil_hc_switch){.target = VIGIL_ROLE_SERVICE, .ret = 1};
    hypercall_dispatch(&vigil_hypercalls, &f->v, VIGIL_HC_SWITCH, 0x100);
    assert_int_equal(s->ret, VIGIL_EPERM);

    struct vigil_hc_version *v = (struct vigil_hc_version *)(f->vm->mem + 0x100);
    *v = (struct vigil_hc_version){.guest_abi = 1, .ret = 1};
    hypercall_dispatch(&vigil_hypercalls, &f->v, VIGIL_HC_VERSION, 0x100);
    assert_int_equal(v->ret, 0);
    assert_int_equal(v->agreed_abi, VIGIL_ABI_VERSION);
    assert_false(v->features & VIGIL_FEAT_SWITCH);
    f->vm->role = VIGIL_ROLE_SERVICE;
    hypercall_dispatch(&vigil_hypercalls, &f->v, VIGIL_HC_VERSION, 0x100);
    assert_true(v->features & VIGIL_FEAT_SWITCH);
}

int main(void)
{
    log_threshold = LOG_ERROR; /* rejections are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_is_returned_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_and_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_is_checked_once_per_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_ret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vigil_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
