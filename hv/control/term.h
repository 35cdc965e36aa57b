/* term.h: hv's local terminal: raw input to the foreground VM, with the hotkeys. */
#ifndef HV_TERM_H
#define HV_TERM_H

#include "base/loop.h"
#include "control/hotkey.h"
#include "vmm/hv.h"

#include <stdbool.h>
#include <termios.h>

struct term {
    struct loop_handler h;
    struct hv *hv;
    int epfd, in_fd;
    bool raw;
    struct termios saved;
    struct hotkey_state keys;
};

/* Starts reading in_fd (raw mode if it is a terminal). */
int term_open(struct term *t, struct hv *hv, int epfd, int in_fd);
/* Puts the terminal back as it was. */
void term_close(struct term *t);

#endif
