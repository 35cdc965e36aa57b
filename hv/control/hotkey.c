/* hotkey.c: Ctrl-A escapes in the style of QEMU's and screen's, so operators already know them. */
#include "control/hotkey.h"

const char hotkey_help[] = "\r\n[vigil] hotkeys (Ctrl-A, then):\r\n"
                           "  s  switch between the guest and the service VM\r\n"
                           "  g  switch to the guest        v  switch to the service VM\r\n"
                           "  p  pause/resume the foreground VM\r\n"
                           "  i  status line                x  stop hv\r\n"
                           "  h  this help                  Ctrl-A  send a literal Ctrl-A\r\n";

enum hotkey hotkey_feed(struct hotkey_state *s, uint8_t *byte)
{
    if (!s->prefix_seen) {
        if (*byte == HOTKEY_PREFIX) {
            s->prefix_seen = true;
            return HOTKEY_NONE;
        }
        return HOTKEY_PASS;
    }
    s->prefix_seen = false;
    switch (*byte) {
    case HOTKEY_PREFIX:
    case 'a':
        *byte = HOTKEY_PREFIX;
        return HOTKEY_PASS;
    case 's':
    case 'S':
        return HOTKEY_SWITCH;
    case 'g':
        return HOTKEY_TO_GUEST;
    case 'v':
        return HOTKEY_TO_SERVICE;
    case 'p':
        return HOTKEY_PAUSE;
    case 'i':
        return HOTKEY_STATUS;
    case 'x':
        return HOTKEY_QUIT;
    default:
        return HOTKEY_HELP;
    }
}
