/* gdbstub.c: a VM's GDB stub: its listeners, its thread (one client at a time) and debug exits. */
#include "base/log.h"
#include "base/thread.h"
#include "supervisor/gdbstub_int.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SEND_TIMEOUT_S  2  /* a client that reads nothing cannot hold the stub */
#define POLL_RUNNING_MS 50 /* how soon a stop hv made (pause, switch, crash) reaches gdb */

bool gdbstub_debug_exit(struct vcpu *v, const struct kvm_debug_exit_arch *d)
{
    pthread_mutex_lock(&v->vm->lock);
    struct gdbstub *g = atomic_load(&v->vm->gdb);
    if (!g) {
        pthread_mutex_unlock(&v->vm->lock);
        return false;
    }
    pthread_mutex_lock(&g->mu);
    if (!g->exit_pending) { /* the first exit names the thread gdb is told about */
        g->exit_pending = true;
        g->exit_thread = (int)v->index + 1;
        g->exit_exception = d->exception;
        g->exit_pc = d->pc;
    }
    pthread_mutex_unlock(&g->mu);
    /* Park at once, so the guest goes no further; the stub thread then pauses the whole VM. */
    int none = VCPU_REQ_NONE;
    atomic_compare_exchange_strong(&v->request, &none, VCPU_REQ_PARK);
    uint64_t one = 1;
    ssize_t w = write(g->wake_fd, &one, sizeof one);
    (void)w;
    pthread_mutex_unlock(&v->vm->lock);
    return true;
}

static void resume_if_ours(struct gdbstub *g, bool ours)
{
    char err[256];
    if (ours && vm_get_state(g->vm) == VM_PAUSED && hv_resume(g->hv, g->vm, err, sizeof err) < 0)
        log_warn("gdb: %s stays paused: %s", g->vm->name, err);
}

/* The client is gone (D, k, closed socket or hv's exit): its breakpoints come out, guest
 * debugging is disarmed, and a VM the stub stopped runs again. */
static void end_client(struct gdbstub *g, bool exiting)
{
    char err[256];
    if (!exiting) {
        bool ran = vm_get_state(g->vm) == VM_RUNNING;
        if (ran && (g->armed || g->sess.nsw) && hv_pause(g->hv, g->vm, err, sizeof err) < 0)
            log_warn("gdb: could not stop %s to disarm it: %s", g->vm->name, err);
        gdb_session_end(&g->sess);
        gdbstub_disarm(g);
        resume_if_ours(g, ran || g->resume_on_detach);
    }
    close(g->client_fd);
    g->client_fd = -1;
    log_info("gdb: client of %s gone (%llu bad checksums, %llu oversized, %llu errors)",
             g->vm->name, (unsigned long long)g->sess.bad_checksums,
             (unsigned long long)g->sess.oversized, (unsigned long long)g->sess.errors);
}

static void new_client(struct gdbstub *g, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (g->client_fd >= 0) { /* one debugger at a time */
        static const char busy[] = "$E10#a6";
        ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        close(fd);
        return;
    }
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix */
    g->client_fd = fd;
    gdbstub_target_init(g);
    gdb_session_init(&g->sess, &g->target);
    g->pause_sig = 0;
    g->resume_on_detach = false;
    char err[256];
    /* gdb expects a stopped target: a running VM pauses now and runs again on detach. */
    if (vm_get_state(g->vm) == VM_RUNNING) {
        if (hv_pause(g->hv, g->vm, err, sizeof err) == 0)
            g->resume_on_detach = true;
        else
            log_warn("gdb: attaching to %s: %s", g->vm->name, err);
    }
    log_info("gdb: client attached to %s (%s)", g->vm->name, vm_state_name(vm_get_state(g->vm)));
}

/* A vCPU reported a debug exit: stop the VM, and tell gdb, or, with no one waiting, let it go.
 * A #BP at none of gdb's breakpoints is the guest's own: it gets it back and runs on, armed. */
static void debug_stop(struct gdbstub *g, int thread, uint32_t exception, uint64_t pc)
{
    char err[256];
    bool ran = vm_get_state(g->vm) == VM_RUNNING;
    if (ran && hv_pause(g->hv, g->vm, err, sizeof err) < 0)
        log_warn("gdb: stopping %s after a debug exit: %s", g->vm->name, err);
    if (ran && exception == BP_VECTOR && !gdb_has_sw_bp(&g->sess, pc) &&
        gdbstub_give_back_int3(g, thread, pc) >= 0) {
        resume_if_ours(g, true);
        return;
    }
    gdbstub_disarm(g);
    if (g->client_fd >= 0 && g->sess.running) {
        g->resume_on_detach = true;
        gdb_stopped(&g->sess, thread, GDB_SIGTRAP);
    } else {
        resume_if_ours(g, ran);
    }
}

/* Stopped by something else while gdb waits (^C, an operator, a switch, a crash). */
static void check_stopped(struct gdbstub *g)
{
    if (!g->sess.running || !gdbstub_vm_stopped(g->vm))
        return;
    enum vm_state s = vm_get_state(g->vm);
    int sig = g->pause_sig ? g->pause_sig : s == VM_CRASHED ? GDB_SIGSEGV : GDB_SIGINT;
    g->resume_on_detach = g->pause_sig != 0;
    g->pause_sig = 0;
    gdb_stopped(&g->sess, g->sess.stop_thread, sig);
}

static void *stub_thread(void *arg)
{
    struct gdbstub *g = arg;
    for (;;) {
        struct pollfd p[4] = {{.fd = g->wake_fd, .events = POLLIN},
                              {.fd = g->unix_fd, .events = POLLIN},
                              {.fd = g->tcp_fd, .events = POLLIN},
                              {.fd = g->client_fd, .events = POLLIN}};
        bool running = g->client_fd >= 0 && g->sess.running;
        if (poll(p, 4, running ? POLL_RUNNING_MS : -1) < 0 && errno != EINTR)
            break;
        uint64_t n;
        if (p[0].revents && read(g->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
            break;
        pthread_mutex_lock(&g->mu);
        bool stopping = g->stopping, exited = g->exit_pending;
        int thread = g->exit_thread;
        uint32_t exception = g->exit_exception;
        uint64_t pc = g->exit_pc;
        g->exit_pending = false;
        pthread_mutex_unlock(&g->mu);
        if (stopping)
            break;
        if (exited)
            debug_stop(g, thread, exception, pc);
        for (int i = 1; i <= 2; i++)
            if (p[i].revents & POLLIN)
                new_client(g, p[i].fd);
        if (g->client_fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t buf[4096];
            ssize_t got = recv(g->client_fd, buf, sizeof buf, 0);
            if (got <= 0 && !(got < 0 && errno == EINTR)) {
                end_client(g, false);
                continue;
            }
            if (got > 0)
                gdb_input(&g->sess, buf, (size_t)got);
            if (g->sess.detached) {
                end_client(g, false);
                continue;
            }
        }
        if (g->client_fd >= 0)
            check_stopped(g);
    }
    if (g->client_fd >= 0)
        end_client(g, true); /* hv is exiting: its VMs go next, leave them be */
    return NULL;
}

static int listen_unix(struct gdbstub *g, char *err, size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(g->path, sizeof g->path, "%s/gdb-%s.sock", g->hv->cfg.state_dir, g->vm->name);
    if (n < 0 || (size_t)n >= sizeof a.sun_path) {
        snprintf(err, errlen, "socket path under %s is too long", g->hv->cfg.state_dir);
        return -1;
    }
    memcpy(a.sun_path, g->path, (size_t)n + 1);
    unlink(g->path); /* a stale one from an hv that is gone */
    g->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177); /* 0600 from the start: the stub reads and writes guest memory */
    int rc = g->unix_fd < 0 ? -1 : bind(g->unix_fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc < 0 || listen(g->unix_fd, 2) < 0) {
        snprintf(err, errlen, "%s: %s", g->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 127.0.0.1 only: the stub has no authentication. */
static int listen_tcp(struct gdbstub *g, int port, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    g->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g->tcp_fd < 0 || setsockopt(g->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(g->tcp_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(g->tcp_fd, 2) < 0) {
        snprintf(err, errlen, "127.0.0.1:%d: %s", port, strerror(errno));
        return -1;
    }
    g->port = port;
    return 0;
}

static void stub_free(struct gdbstub *g)
{
    if (g->unix_fd >= 0) {
        close(g->unix_fd);
        unlink(g->path);
    }
    if (g->tcp_fd >= 0)
        close(g->tcp_fd);
    if (g->wake_fd >= 0)
        close(g->wake_fd);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

int gdbstub_start(struct hv *hv, struct vm *vm, int port, char *path, size_t pathlen, int *port_out,
                  char *err, size_t errlen)
{
    struct gdbstub *g = atomic_load(&vm->gdb);
    if (g) { /* called on the main loop only, so no second stub races this one */
        if (port > 0 && g->port != port) {
            snprintf(err, errlen, "%s's stub already listens (port %d)", vm->name, g->port);
            return -1;
        }
        snprintf(path, pathlen, "%s", g->path);
        *port_out = g->port;
        return 0;
    }
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "port %d is not 1..65535", port);
        return -1;
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *g = (struct gdbstub){.hv = hv, .vm = vm, .unix_fd = -1, .tcp_fd = -1, .client_fd = -1};
    pthread_mutex_init(&g->mu, NULL);
    g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->wake_fd < 0 || listen_unix(g, err, errlen) < 0 ||
        (port > 0 && listen_tcp(g, port, err, errlen) < 0)) {
        stub_free(g);
        return -1;
    }
    if (hv_thread_create(&g->thread, stub_thread, g) != 0) {
        snprintf(err, errlen, "cannot start the stub's thread");
        stub_free(g);
        return -1;
    }
    atomic_store(&vm->gdb, g);
    snprintf(path, pathlen, "%s", g->path);
    *port_out = g->port;
    log_info("gdb: stub for %s on %s%s", vm->name, g->path, g->port ? " and 127.0.0.1" : "");
    return 0;
}

void gdbstub_stop_all(struct hv *hv)
{
    for (uint32_t i = 0; i <= hv->nvms; i++) {
        struct vm *vm = i < hv->nvms ? hv->vms[i] : hv->spare_service;
        struct gdbstub *g = vm ? atomic_exchange(&vm->gdb, NULL) : NULL;
        if (!g)
            continue;
        pthread_mutex_lock(&vm->lock); /* a vCPU in gdbstub_debug_exit has left it */
        pthread_mutex_unlock(&vm->lock);
        pthread_mutex_lock(&g->mu);
        g->stopping = true;
        pthread_mutex_unlock(&g->mu);
        uint64_t one = 1;
        ssize_t w = write(g->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(g->thread, NULL);
        stub_free(g);
    }
}
