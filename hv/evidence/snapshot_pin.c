/* snapshot_pin.c: pins that keep a snapshot out of retention's reach until its upload is done. */
#include "evidence/snapshot_store.h"
#include "evidence/snapshot_store_int.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A pin is a file, <id>.pin, rather than a field in <id>.json: the digester rewrites the
 * metadata on its own thread, and a separate file needs no coordination with it. */
void snap_pins_load(struct snapshot_store *s)
{
    char name[SNAPSHOT_ID_MAX + 8];
    for (size_t i = 0; i < s->nents; i++) {
        snprintf(name, sizeof name, "%s%s", s->ents[i].id, SNAP_PIN_SUFFIX);
        s->ents[i].pinned = faccessat(s->dirfd, name, F_OK, 0) == 0;
    }
}

int snapshot_store_pin(struct snapshot_store *s, const char *id, bool pinned)
{
    char name[SNAPSHOT_ID_MAX + 8];
    int rc = -ENOENT;
    size_t npinned = 0;

    if (!snapshot_id_valid(id))
        return -EINVAL;
    snprintf(name, sizeof name, "%s%s", id, SNAP_PIN_SUFFIX);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nents; i++)
        npinned += s->ents[i].pinned;
    for (size_t i = 0; i < s->nents; i++) {
        struct snap_ent *e = &s->ents[i];
        if (strcmp(e->id, id) != 0)
            continue;
        rc = 0;
        if (e->pinned == pinned)
            break;
        if (pinned) {
            int fd = npinned >= SNAPSHOT_PIN_MAX
                         ? (errno = ENOSPC, -1)
                         : openat(s->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
            if (fd < 0) {
                rc = -errno;
                break;
            }
            close(fd);
        } else if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT) {
            rc = -errno;
            break;
        }
        fsync(s->dirfd);
        e->pinned = pinned;
        if (!pinned)
            snap_retention(s, NULL); /* what the pin held over the limits goes now */
        break;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        log_info("snapshots: %s %s", id, pinned ? "pinned" : "unpinned");
    return rc;
}

void snapshot_store_pin_new(struct snapshot_store *s, bool on)
{
    pthread_mutex_lock(&s->mu);
    s->pin_new = on;
    pthread_mutex_unlock(&s->mu);
}

bool snap_pin_new_begin(struct snapshot_store *s, const char *id)
{
    char name[SNAPSHOT_ID_MAX + 8];
    size_t npinned = 0;
    bool made = false;

    snprintf(name, sizeof name, "%s%s", id, SNAP_PIN_SUFFIX);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nents; i++)
        npinned += s->ents[i].pinned;
    if (s->pin_new && npinned + s->pins_pending < SNAPSHOT_PIN_MAX) {
        /* Made durable with the metadata: the write fsyncs the directory after its commit. */
        int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        if (fd >= 0) {
            close(fd);
            s->pins_pending++;
            made = true;
        } else {
            log_warn("snapshots: %s: cannot pin it: %s", id, strerror(errno));
        }
    } else if (s->pin_new) {
        log_warn("snapshots: %s not pinned: %d are pinned already", id, SNAPSHOT_PIN_MAX);
    }
    pthread_mutex_unlock(&s->mu);
    return made;
}

void snap_pin_new_done(struct snapshot_store *s)
{
    s->pins_pending--;
}
