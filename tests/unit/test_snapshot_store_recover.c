/* test_snapshot_store_recover: leftovers cleaned at open, and kill -9 in the middle of writes. */
#include "base/log.h"
#include "snapshot_store_fixture.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static void test_leftovers_cleaned_on_open(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_info a, b;
    char p[PATH_MAX];
    json_t *l;

    (void)state;
    take(s, "request", &a);
    snapshot_store_close(s);
    put_file("x.core.tmp", "partial");
    put_file("20240101-000000-000099.json.tmp", "{\"id\":");
    put_file("20240101-000000-000050.core", "core without metadata");
    put_file("lonely.json", "{\"id\": \"lonely\", \"core_bytes\": 3}");
    put_file("bad.core", "abc");
    put_file("bad.json", "{not json");
    put_file("short.core", "abc");
    put_file("short.json", "{\"id\": \"short\", \"core_bytes\": 4}"); /* core truncated */
    put_file("other.json", "{\"id\": \"someone-else\", \"core_bytes\": 3}");
    put_file("other.core", "abc");
    put_file("README", "not ours: left alone");
    snprintf(p, sizeof(p), "%s/sub.core", snapdir);
    assert_int_equal(mkdir(p, 0700), 0);

    s = open_store(0, 0);
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(str(json_array_get(l, 0), "id"), a.id);
    json_decref(l);
    /* a's digest may have been cut short by the close: its update is no leftover to count. */
    assert_int_equal(snapshot_store_wait_digest(s, a.id, 60000), 0);
    assert_int_equal(count_files(".tmp"), 0);
    assert_int_equal(count_files(".json"), 1);
    assert_int_equal(count_files(".core"), 2); /* a's core and the directory sub.core */
    assert_true(exists(snapdir, "README"));
    assert_true(exists(snapdir, "sub.core"));
    /* The interrupted write's id (seq 99) is never handed out again. */
    take(s, "request", &b);
    assert_true(strtoull(b.id + 16, NULL, 10) >= 100);
    snapshot_store_close(s);
}

#define KILL_MEM    (256u << 20)
#define KILL_ROUNDS 6

/* The child: a monitor writing snapshots back to back until it is killed. */
static __attribute__((noreturn)) void kill_child(const struct core_mem_range *r, int progress)
{
    struct snapshot_store *s = NULL;

    if (snapshot_store_open(&s, g.dir, 3, 0, NULL, 0) != 0)
        _exit(2);
    for (;;) {
        struct snapshot_request req = request("trap:test", 1, NULL);
        req.ranges = r;
        req.nranges = 1;
        if (snapshot_store_write(s, &req, NULL, NULL, 0) != 0)
            _exit(3);
        if (write(progress, "+", 1) != 1)
            _exit(4);
    }
}

/* Ids already checked with sha256sum in an earlier round (sha256sum takes ~1 s per core). */
static char seen_ids[64][SNAPSHOT_ID_MAX];
static int nseen;

/* After a kill -9 and a restart, every listed snapshot is whole: size and SHA-256 hold. */
static int check_store(int *pending_out)
{
    struct snapshot_store *s = open_store(3, 0);
    json_t *l = snapshot_store_list(s), *m;
    int pending = 0;
    size_t i;

    json_array_foreach(l, i, m)
    {
        char path[PATH_MAX], want[SNAPSHOT_SHA256_HEX], err[256];
        const char *id = str(m, "id");
        struct stat sb;
        int k;

        assert_int_equal(snapshot_store_core_path(s, id, path, sizeof(path)), 0);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_size, num(m, "core_bytes"));
        /* Listed while its digest was still pending: the reopened store computes it. */
        if (strcmp(str(m, "sha256"), SNAPSHOT_SHA256_PENDING) == 0)
            pending++;
        assert_int_equal(snapshot_store_wait_digest(s, id, 120000), 0);
        for (k = 0; k < nseen && strcmp(seen_ids[k], id) != 0; k++)
            ;
        if (k < nseen) {
            /* Seen before: re-hashed by the store's own code, tested against sha256sum. */
            assert_int_equal(snapshot_store_verify(s, id, err, sizeof(err)), 0);
            continue;
        }
        sha256sum(path, want);
        json_t *now = snapshot_store_show(s, id);
        assert_string_equal(want, str(now, "sha256"));
        json_decref(now);
        assert_true(nseen < 64);
        snprintf(seen_ids[nseen++], SNAPSHOT_ID_MAX, "%s", id);
    }
    assert_int_equal(count_files(".tmp"), 0);
    assert_int_equal(count_files(".core"), (int)json_array_size(l));
    assert_int_equal(count_files(".json"), (int)json_array_size(l));
    i = json_array_size(l);
    json_decref(l);
    snapshot_store_close(s);
    *pending_out = pending;
    return (int)i;
}

static void test_kill9_mid_write(void **state)
{
    uint8_t *mem = mmap(NULL, KILL_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct core_mem_range r = {.gpa = 0, .len = KILL_MEM, .host = mem};
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int completed = 0, interrupted = 0;

    (void)state;
    assert_true(mem != MAP_FAILED);
    for (size_t i = 0; i < KILL_MEM / 8; i++) /* dense: every page has data */
        ((uint64_t *)(void *)mem)[i] = i * 0x9e3779b97f4a7c15ull | 1;
    print_message("kill -9 test: seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int pfd[2], status, debris, listed, pending;
        char buf[64];
        ssize_t n;
        pid_t pid;
        /* 50..1550 ms: a write cycle takes a few hundred ms, so kills land in every phase. */
        struct timespec delay = {.tv_nsec = (50 + rand() % 1500) * 1000000L};

        delay.tv_sec = delay.tv_nsec / 1000000000L;
        delay.tv_nsec %= 1000000000L;
        assert_int_equal(pipe(pfd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            kill_child(&r, pfd[1]);
        }
        close(pfd[1]);
        nanosleep(&delay, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
            completed += (int)n;
        close(pfd[0]);
        /* Debris: a temporary, or a core renamed into place whose metadata never came. */
        debris = count_files(".tmp") > 0 || count_files(".core") != count_files(".json");
        interrupted += debris;
        listed = check_store(&pending);
        print_message("round %d: killed after %ld ms, debris %s, %d listed after reopen (%d with "
                      "the digest pending)\n",
                      round, (long)(delay.tv_sec * 1000 + delay.tv_nsec / 1000000),
                      debris ? "yes" : "no", listed, pending);
    }
    print_message("kill -9 test: %d snapshots completed, %d kills left debris\n", completed,
                  interrupted);
    assert_true(interrupted > 0 || completed > 0);
    munmap(mem, KILL_MEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leftovers_cleaned_on_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_mid_write, setup, teardown),
    };

    log_threshold = LOG_WARN; /* recovery's removals still show */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
