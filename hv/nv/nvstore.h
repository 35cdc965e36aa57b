/* nvstore.h: the NV store: small named records for the service side, one file each, written
 * atomically in <state_dir>/nv (docs/nv-store.md). */
#ifndef HV_NVSTORE_H
#define HV_NVSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NV_KEY_MAX     64u                  /* key length: [A-Za-z0-9._-]{1,64}, not starting '.' */
#define NV_VALUE_MAX   (64u * 1024u)        /* one record's value */
#define NV_RECORDS_MAX 256u                 /* records held */
#define NV_TOTAL_MAX   (4u * 1024u * 1024u) /* all values together */

struct nvstore;

/*
 * Opens (creating, mode 0700) <dir>/nv, removes the temporary files a killed writer left
 * behind and indexes the records.  A file there that is not a valid record (a bad name, too
 * large, not a regular file) is logged and left alone, outside the store.  Returns 0, or
 * -errno with a message in err.
 */
int nvstore_open(struct nvstore **out, const char *dir, char *err, size_t errlen);
void nvstore_close(struct nvstore *s);

/* Whether key is a valid record name; if not, err says why. */
int nvstore_key_valid(const char *key, char *err, size_t errlen);

/*
 * Stores value as record key, replacing any: <key>.tmp (O_EXCL, mode 0600), write, fsync,
 * rename over <key>, fsync of the directory, so a crash leaves the old or the new value.
 * Returns 0, -EINVAL (bad key), -ENOSPC (value, count or total over the bounds) or -errno,
 * with a message in err.
 */
int nvstore_put(struct nvstore *s, const char *key, const void *value, size_t len, char *err,
                size_t errlen);
/* Reads record key into a malloc'd *value (NULL for an empty one) of *len bytes.  Returns 0,
 * -EINVAL, -ENOENT or -errno, with a message in err. */
int nvstore_get(struct nvstore *s, const char *key, uint8_t **value, size_t *len, char *err,
                size_t errlen);
/* Removes record key (and syncs the directory).  Returns 0, -EINVAL, -ENOENT or -errno. */
int nvstore_delete(struct nvstore *s, const char *key, char *err, size_t errlen);
/* [{"key", "size"}] sorted by key; NULL on ENOMEM. */
json_t *nvstore_list(struct nvstore *s);
/* Totals held. */
void nvstore_usage(struct nvstore *s, unsigned *count, uint64_t *bytes);

#endif
