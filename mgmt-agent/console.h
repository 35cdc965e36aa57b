/* console.h: the serial console of each VM over WebSocket: viewers, the one writer, hv's feed. */
#ifndef AGENT_CONSOLE_H
#define AGENT_CONSOLE_H

#include <microhttpd.h>
#include <stddef.h>

#define CONSOLE_MAX_VIEWERS 8 /* per VM: SerialConsole.MaxConcurrentSessions */

enum console_mode {
    CONSOLE_AUTO,     /* write if allowed and nobody writes yet (the default) */
    CONSOLE_VIEW,     /* never write */
    CONSOLE_TAKEOVER, /* become the writer now (the previous one only views) */
};

/* Who is attaching: a session's viewer is closed when the session ends (logout, expiry). */
struct console_who {
    char user[64];
    char session[40]; /* "" for Basic */
    int can_write;    /* ConfigureComponents */
    int mode;         /* enum console_mode */
};

/* Reserves a viewer of vm for a handshake in progress; returns its id for the upgrade callback,
 * or 0 when vm has CONSOLE_MAX_VIEWERS viewers already. */
unsigned console_reserve(const char *vm, const struct console_who *who);

/* MHD's upgrade callback (cls: the id from console_reserve): the viewer gets the scrollback,
 * then live output. */
void console_upgraded(void *cls, struct MHD_Connection *mc, void *req_cls, const char *extra,
                      size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);

#endif
