/* hotkey.h: the local console's escape sequences (Ctrl-A then a key), parsed byte by byte. */
#ifndef HV_HOTKEY_H
#define HV_HOTKEY_H

#include <stdbool.h>
#include <stdint.h>

#define HOTKEY_PREFIX 0x01 /* Ctrl-A */

enum hotkey {
    HOTKEY_NONE,       /* nothing to do (prefix swallowed) */
    HOTKEY_PASS,       /* pass *byte to the foreground VM */
    HOTKEY_SWITCH,     /* s: switch to the other VM */
    HOTKEY_TO_GUEST,   /* g */
    HOTKEY_TO_SERVICE, /* v */
    HOTKEY_PAUSE,      /* p: pause or resume the foreground VM */
    HOTKEY_STATUS,     /* i: print a status line */
    HOTKEY_QUIT,       /* x: stop hv */
    HOTKEY_HELP,       /* h or ?, and any unknown key */
};

struct hotkey_state {
    bool prefix_seen;
};

/* Feeds one input byte; on HOTKEY_PASS, *byte is what to pass on. */
enum hotkey hotkey_feed(struct hotkey_state *s, uint8_t *byte);

/* The help text, lines separated by CR LF. */
extern const char hotkey_help[];

#endif
