/* term.c: the local console: keystrokes go to the foreground VM unless they are hotkeys. */
#include "control/term.h"

#include "base/log.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void say(struct term *t, const char *s)
{
    if (t->hv->term_fd >= 0) {
        ssize_t w = write(t->hv->term_fd, s, strlen(s));
        (void)w;
    }
}

static void do_switch(struct term *t, struct vm *target)
{
    char err[256];
    if (!target) {
        say(t, "\r\n[vigil] there is no such VM\r\n");
        return;
    }
    if (hv_switch_to(t->hv, target, "hotkey", now_ns(), err, sizeof err) < 0) {
        char line[400];
        snprintf(line, sizeof line, "\r\n[vigil] switch refused: %s\r\n", err);
        say(t, line);
    }
}

static void do_pause(struct term *t)
{
    struct vm *fg = atomic_load(&t->hv->foreground);
    char err[256], line[400];
    int rc = vm_get_state(fg) == VM_PAUSED ? hv_resume(t->hv, fg, err, sizeof err)
                                           : hv_pause(t->hv, fg, err, sizeof err);
    snprintf(line, sizeof line, "\r\n[vigil] %s: %s\r\n", fg->name,
             rc < 0 ? err : vm_state_name(vm_get_state(fg)));
    say(t, line);
}

static void do_status(struct term *t)
{
    char line[512];
    int n = snprintf(line, sizeof line, "\r\n[vigil]");
    for (uint32_t i = 0; i < t->hv->nvms && n < (int)sizeof line - 80; i++) {
        struct vm *vm = t->hv->vms[i];
        n += snprintf(line + n, sizeof line - (size_t)n, " %s%s=%s",
                      vm == atomic_load(&t->hv->foreground) ? "*" : "", vm->name,
                      vm_state_name(vm_get_state(vm)));
    }
    snprintf(line + n, sizeof line - (size_t)n, "\r\n");
    say(t, line);
}

static void key(struct term *t, uint8_t byte)
{
    struct hv *hv = t->hv;
    switch (hotkey_feed(&t->keys, &byte)) {
    case HOTKEY_NONE:
        break;
    case HOTKEY_PASS:
        vm_console_in(atomic_load(&hv->foreground), &byte, 1);
        break;
    case HOTKEY_SWITCH:
        do_switch(t, hv_other_vm(hv));
        break;
    case HOTKEY_TO_GUEST:
        do_switch(t, hv->default_guest);
        break;
    case HOTKEY_TO_SERVICE:
        do_switch(t, hv->service);
        break;
    case HOTKEY_PAUSE:
        do_pause(t);
        break;
    case HOTKEY_STATUS:
        do_status(t);
        break;
    case HOTKEY_QUIT:
        say(t, "\r\n[vigil] stopping hv\r\n");
        atomic_store(&hv->quit, true);
        break;
    case HOTKEY_HELP:
        say(t, hotkey_help);
        break;
    }
}

static void term_event(struct loop_handler *h, uint32_t events)
{
    struct term *t = (struct term *)h;
    (void)events;
    uint8_t buf[256];
    ssize_t n = read(t->in_fd, buf, sizeof buf);
    if (n <= 0) {
        loop_del(t->epfd, t->in_fd); /* end of input: hv keeps running without a keyboard */
        t->in_fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        key(t, buf[i]);
}

int term_open(struct term *t, struct hv *hv, int epfd, int in_fd)
{
    memset(t, 0, sizeof *t);
    t->h.fn = term_event;
    t->hv = hv;
    t->epfd = epfd;
    t->in_fd = in_fd;
    if (isatty(in_fd) && tcgetattr(in_fd, &t->saved) == 0) {
        struct termios raw = t->saved;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR; /* output stays cooked: guests print bare LF */
        if (tcsetattr(in_fd, TCSANOW, &raw) == 0)
            t->raw = true;
    }
    if (loop_add(epfd, in_fd, EPOLLIN, &t->h) < 0) {
        t->in_fd = -1; /* e.g. /dev/null or a regular file: no interactive input */
        return 0;
    }
    return 0;
}

void term_close(struct term *t)
{
    if (t->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    t->raw = false;
}
