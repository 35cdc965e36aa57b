/* st_modes.c: the self-test's single-purpose modes for end-to-end tests of svcos's edges: console
 * input, abort, deadlock, a fault, unknown calls, the network configuration files, an HTTP
 * server over the network card. */
#define _GNU_SOURCE
#include "selftest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Returns the exit status, or -1 if `mode` is not one of these. */
int run_mode(const char *mode)
{
    if (!strcmp(mode, "echo")) { /* a blocking read of console input */
        char line[256];
        printf("echo: ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
        printf("echo: %s", line);
        return 0;
    }
    if (!strcmp(mode, "abort"))
        abort();                     /* SIGABRT with the default action */
    if (!strcmp(mode, "deadlock")) { /* nobody else can ever write to this pipe */
        int p[2];
        char c;
        if (pipe(p) == 0 && read(p[0], &c, 1) >= 0)
            return 0;
        return 1;
    }
    if (!strcmp(mode, "fault")) { /* after a line of input: a write through NULL (#PF) */
        char line[256];
        printf("fault: ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
        int *p = NULL;
        __asm__ volatile("" : "+r"(p)); /* a real store to page 0, not a compiler trap */
        *p = 1;
        return 1;
    }
    if (!strcmp(mode, "enosys")) { /* logged once per number, -ENOSYS each time */
        long a = syscall(333), b = syscall(333), c = syscall(100000);
        printf("enosys: %ld %ld %ld\n", a, b, c);
        return a == -1 && b == -1 && c == -1 ? 0 : 1;
    }
    if (!strcmp(mode, "serve")) /* HTTP over hv's network card (st_serve.c) */
        return run_serve();
    if (!strcmp(mode, "svcchan")) /* the service channel, as the service VM (st_svcchan.c) */
        return run_svcchan();
    if (!strcmp(mode, "netinfo")) { /* what the netstack wrote for musl's resolver */
        static const char *const files[] = {"/etc/resolv.conf", "/etc/hosts"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char buf[512];
            FILE *f = fopen(files[i], "r");
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            buf[n] = 0;
            printf("netinfo: %s: %s\n", files[i], f ? buf : "(none)");
            if (f)
                fclose(f);
        }
        return 0;
    }
    return -1;
}
