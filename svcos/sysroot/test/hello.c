/* hello.c: self-check: redirected musl (stdio, malloc, files, clock, signals) runs natively. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static int fail(const char *what)
{
    fprintf(stderr, "hello: FAIL: %s (errno %d: %s)\n", what, errno, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512];
    char buf[64];

    printf("hello from svcos musl: %d %s %.3f\n", 42, "str", 3.25);

    /* malloc: small and large (mmap-backed) blocks */
    char *small = malloc(100);
    char *big = malloc(8u << 20);
    if (!small || !big)
        return fail("malloc");
    memset(big, 0xa5, 8u << 20);
    strcpy(small, "heap ok");
    free(big);
    big = realloc(small, 4096);
    if (!big || strcmp(big, "heap ok") != 0)
        return fail("realloc");
    free(big);

    /* files: create, write, reopen, read */
    snprintf(path, sizeof path, "%s/svcos-hello-%ld.txt", dir, (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("fopen w");
    fprintf(f, "line %d\n", 7);
    if (fclose(f) != 0)
        return fail("fclose");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("open");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unlink(path);
    if (n != 7 || memcmp(buf, "line 7\n", 7) != 0)
        return fail("read back");

    /* errno from a failing call */
    errno = 0;
    if (open("/nonexistent/svcos", O_RDONLY) != -1 || errno != ENOENT)
        return fail("ENOENT");

    /* clock (no vDSO: through the dispatcher) */
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || (ts.tv_sec == 0 && ts.tv_nsec == 0))
        return fail("clock_gettime");

    /* a signal handler returns through musl's __restore_rt */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0 || raise(SIGUSR1) != 0 || got_signal != SIGUSR1)
        return fail("signal");

    printf("hello: ok\n");
    return 0;
}
