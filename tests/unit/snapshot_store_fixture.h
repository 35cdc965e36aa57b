/* snapshot_store_fixture.h: a store over a fake guest, its requests and read-back helpers. */
#ifndef VIGIL_TEST_SNAPSHOT_STORE_FIXTURE_H
#define VIGIL_TEST_SNAPSHOT_STORE_FIXTURE_H

#include "coredump_fixture.h"
#include "evidence/snapshot_store.h"

#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The fake guest and its store's directory, made afresh for each test by setup(). */
static struct fx_guest g;
static char snapdir[128];

static inline int setup(void **state)
{
    (void)state;
    if (fx_setup(&g) < 0)
        return -1;
    snprintf(snapdir, sizeof(snapdir), "%s/snapshots", g.dir);
    return 0;
}

static inline int teardown(void **state)
{
    char cmd[160];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/snapshots'", g.dir);
    assert_int_equal(system(cmd), 0);
    fx_teardown(&g);
    return 0;
}

static inline struct snapshot_store *open_store(unsigned max_count, uint64_t max_bytes)
{
    struct snapshot_store *s = NULL;
    char err[256] = "";
    int rc = snapshot_store_open(&s, g.dir, max_count, max_bytes, err, sizeof(err));

    if (rc != 0)
        print_error("open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static inline struct snapshot_request request(const char *trigger, uint64_t sel_id, json_t *exc)
{
    return (struct snapshot_request){
        .vm = "guest",
        .trigger = trigger,
        .sel_id = sel_id,
        .ranges = g.r,
        .nranges = 2,
        .vcpus = g.cpu,
        .nvcpus = 2,
        .vmcoreinfo = FX_VMCI,
        .vmcoreinfo_len = strlen(FX_VMCI),
        .exception = exc,
    };
}

static inline void take(struct snapshot_store *s, const char *trigger, struct snapshot_info *info)
{
    struct snapshot_request req = request(trigger, 7, NULL);
    char err[256] = "";
    int rc = snapshot_store_write(s, &req, info, err, sizeof(err));

    if (rc != 0)
        print_error("write: %s\n", err);
    assert_int_equal(rc, 0);
}

/* The digest comes after the write: wait for it, then return it (from the metadata) in hex. */
static inline void digest(struct snapshot_store *s, const char *id, char hex[SNAPSHOT_SHA256_HEX])
{
    json_t *m;

    assert_int_equal(snapshot_store_wait_digest(s, id, 60000), 0);
    m = snapshot_store_show(s, id);
    assert_non_null(m);
    snprintf(hex, SNAPSHOT_SHA256_HEX, "%s", json_string_value(json_object_get(m, "sha256")));
    json_decref(m);
    assert_int_equal(strlen(hex), 64);
}

static inline int exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat sb;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

static inline void put_file(const char *name, const char *text)
{
    char p[PATH_MAX];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", snapdir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The independent oracle: coreutils' sha256sum reads the file byte by byte, holes as zeros. */
static inline void sha256sum(const char *path, char out[SNAPSHOT_SHA256_HEX])
{
    char cmd[PATH_MAX + 32];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", out), 1);
    assert_int_equal(pclose(p), 0);
}

/* Names in the snapshot directory other than .lock, for "nothing else is left" checks. */
static inline int count_files(const char *suffix)
{
    DIR *d = opendir(snapdir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), k = strlen(suffix);
        if (de->d_name[0] != '.' && l >= k && strcmp(de->d_name + l - k, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static inline const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    assert_non_null(v);
    return v;
}

static inline json_int_t num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

#endif
