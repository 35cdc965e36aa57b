/* test_core_gdb.c: hv's GDB stub over the fake platform: attach pauses, a debug exit stops the VM
 * and reaches the client as T05, a hang-up lets the VM run, and no vCPU is touched while it runs.
 */
#include "core_fixture.h"
#include "supervisor/gdbstub.h"
#include "vmm/vm.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_stub(struct core *c, struct vm *vm)
{
    char path[128], err[256];
    int port = -1;
    assert_int_equal(gdbstub_start(c->hv, vm, 0, path, sizeof path, &port, err, sizeof err), 0);
    assert_int_equal(port, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_packet(int fd, const char *payload)
{
    char buf[256];
    unsigned sum = 0;
    for (const char *p = payload; *p; p++)
        sum += (unsigned char)*p;
    int n = snprintf(buf, sizeof buf, "$%s#%02x", payload, sum & 0xff);
    assert_int_equal(send(fd, buf, (size_t)n, 0), n);
}

/* The next reply's payload (acks skipped), or "" after CORE_TIMEOUT_MS. */
static const char *reply(int fd)
{
    static char out[4096];
    char buf[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, CORE_TIMEOUT_MS) != 1)
            return "";
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return "";
        len += (size_t)n;
        buf[len] = '\0';
        char *d = strchr(buf, '$'), *h = d ? strchr(d, '#') : NULL;
        if (h && h[1] && h[2]) {
            memcpy(out, d + 1, (size_t)(h - d - 1));
            out[h - d - 1] = '\0';
            return out;
        }
    }
}

static bool running(void *arg)
{
    return core_state(arg) == VM_RUNNING;
}

static void test_debug_exit_reaches_gdb_as_a_stop(void **state)
{
    (void)state;
    struct core *c = core_new(NULL);
    struct vm *g = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 2);
    char err[256];
    assert_int_equal(vm_start(g, err, sizeof err), 0);
    int fd = connect_stub(c, g);
    send_packet(fd, "?");
    assert_string_equal(reply(fd), "T05thread:1;");
    assert_int_equal(core_state(g), VM_PAUSED); /* gdb attached: the VM stopped */
    send_packet(fd, "qfThreadInfo");
    assert_string_equal(reply(fd), "m1,2");
    send_packet(fd, "Z1,101000,1");
    assert_string_equal(reply(fd), "OK");
    send_packet(fd, "vCont;s:2;c");
    assert_true(core_wait(running, g, CORE_TIMEOUT_MS));
    /* Armed on both vCPUs before they ran. */
    assert_int_equal(fake_count(c->fake, FAKE_SET_GUEST_DEBUG, g, 0), 1);
    assert_int_equal(fake_count(c->fake, FAKE_SET_GUEST_DEBUG, g, 1), 1);
    assert_true(fake_wait_idle(c->fake, &g->vcpus[1], CORE_TIMEOUT_MS));
    fake_exit(c->fake, &g->vcpus[1], KVM_EXIT_DEBUG); /* the step */
    assert_string_equal(reply(fd), "T05thread:2;");
    assert_int_equal(core_state(g), VM_PAUSED);
    send_packet(fd, "qC");
    assert_string_equal(reply(fd), "QC2");
    /* Disarmed once stopped. */
    assert_int_equal(fake_count(c->fake, FAKE_SET_GUEST_DEBUG, g, 1), 2);
    close(fd); /* the client hangs up: the VM the stub stopped runs again */
    assert_true(core_wait(running, g, CORE_TIMEOUT_MS));
    assert_int_equal(core_sel_count(c, SEL_T_TRAP, ""), 0); /* no trap for a debug exit */
    gdbstub_stop_all(c->hv);
    core_free(c);
}

static void test_debug_exit_without_a_stub_is_an_error(void **state)
{
    (void)state;
    struct core *c = core_new(NULL);
    struct vm *g = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(g, err, sizeof err), 0);
    fake_exit(c->fake, &g->vcpus[0], KVM_EXIT_DEBUG);
    assert_true(core_wait_request(g));
    core_settle(c);
    assert_int_equal(core_sel_count(c, SEL_T_TRAP, "no debugger asked for"), 1);
    core_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debug_exit_reaches_gdb_as_a_stop),
        cmocka_unit_test(test_debug_exit_without_a_stub_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
