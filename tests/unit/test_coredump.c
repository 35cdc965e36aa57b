/* test_coredump: coredump_write's ELF layout, notes, memory, holes and failures, read back. */
#include "coredump_fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/magic.h>
#include <sys/procfs.h> /* glibc's own elf_prstatus: an oracle independent of hv's layout */
#include <sys/reg.h>    /* pr_reg indices: RIP, RSP, FS_BASE, ... */
#include <sys/resource.h>
#include <sys/statfs.h>

static int setup(void **state)
{
    static struct fx_guest g;

    *state = &g;
    return fx_setup(&g);
}

static int teardown(void **state)
{
    fx_teardown(*state);
    return 0;
}

/* Fills the target with garbage first, so the test also proves old contents cannot leak. */
static void write_core(struct fx_guest *g, size_t nr, size_t nv, const char *vmci,
                       struct coredump_stats *st)
{
    static uint8_t junk[1 << 16];
    char err[256] = "";
    int fd = open(g->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    memset(junk, 0xaa, sizeof(junk));
    for (off_t off = 0; off < (off_t)(FX_LOW_LEN + FX_HIGH_LEN + (1 << 20)); off += sizeof(junk))
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), sizeof(junk));
    assert_int_equal(coredump_write(fd, g->r, nr, g->cpu, nv, vmci, vmci ? strlen(vmci) : 0, st,
                                    err, sizeof(err)),
                     0);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

static void get_phdrs(const uint8_t *f, size_t len, Elf64_Ehdr *eh, Elf64_Phdr *ph, int max)
{
    memcpy(eh, f, sizeof(*eh));
    assert_true(eh->e_phnum <= max);
    assert_true(eh->e_phoff + (size_t)eh->e_phnum * sizeof(*ph) <= len);
    memcpy(ph, f + eh->e_phoff, eh->e_phnum * sizeof(*ph));
}

static void test_header_and_phdrs(void **state)
{
    struct fx_guest *g = *state;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    size_t len = 0;
    uint8_t *f;

    write_core(g, 2, 2, FX_VMCI, NULL);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    get_phdrs(f, len, &eh, ph, 3);
    assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
    assert_int_equal(eh.e_ident[EI_DATA], ELFDATA2LSB);
    assert_int_equal(eh.e_type, ET_CORE);
    assert_int_equal(eh.e_machine, EM_X86_64);
    assert_int_equal(eh.e_version, EV_CURRENT);
    assert_int_equal(eh.e_phoff, sizeof(Elf64_Ehdr));
    assert_int_equal(eh.e_phentsize, sizeof(Elf64_Phdr));
    assert_int_equal(eh.e_phnum, 3);
    assert_int_equal(eh.e_shnum, 0);

    assert_int_equal(ph[0].p_type, PT_NOTE);
    assert_int_equal(ph[0].p_offset, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr));
    for (int i = 1; i < 3; i++) {
        assert_int_equal(ph[i].p_type, PT_LOAD);
        assert_int_equal(ph[i].p_paddr, g->r[i - 1].gpa);
        assert_int_equal(ph[i].p_vaddr, g->r[i - 1].gpa); /* identity: gdb resolves via vaddr */
        assert_int_equal(ph[i].p_filesz, g->r[i - 1].len);
        assert_int_equal(ph[i].p_memsz, g->r[i - 1].len);
        assert_int_equal(ph[i].p_offset % FX_PAGE, 0);
        assert_true(ph[i].p_offset >= ph[i - 1].p_offset + ph[i - 1].p_filesz);
    }
    assert_int_equal(len, ph[2].p_offset + ph[2].p_filesz);
    free(f);
}

static void check_prstatus(const struct fx_note *n, const struct core_vcpu *c, int cpu)
{
    struct elf_prstatus ps;
    const struct kvm_regs *r = &c->regs;

    assert_string_equal(n->name, "CORE");
    assert_int_equal(n->type, NT_PRSTATUS);
    assert_int_equal(n->descsz, sizeof(ps));
    assert_int_equal(sizeof(ps), 336);
    memcpy(&ps, n->desc, sizeof(ps));
    assert_int_equal(ps.pr_pid, cpu + 1);
    assert_int_equal(ps.pr_reg[RIP], r->rip);
    assert_int_equal(ps.pr_reg[RSP], r->rsp);
    assert_int_equal(ps.pr_reg[RAX], r->rax);
    assert_int_equal(ps.pr_reg[RDI], r->rdi);
    assert_int_equal(ps.pr_reg[R15], r->r15);
    assert_int_equal(ps.pr_reg[EFLAGS], r->rflags);
    assert_int_equal(ps.pr_reg[CS], 0x33);
    assert_int_equal(ps.pr_reg[SS], 0x2b);
    assert_int_equal(ps.pr_reg[DS], 0x2b);
    assert_int_equal(ps.pr_reg[FS_BASE], c->sregs.fs.base);
    assert_int_equal(ps.pr_reg[GS_BASE], c->sregs.gs.base);
}

/* Offsets as QEMU's QEMUCPUState lays them out: segments of 24 bytes from 152, cr[] at 392. */
static void check_qemu_note(const struct fx_note *n, const struct core_vcpu *c)
{
    const uint8_t *d = n->desc;

    assert_string_equal(n->name, "QEMU");
    assert_int_equal(n->type, 0);
    assert_int_equal(n->descsz, 440);
    assert_int_equal(u32_at(d, 0), 1);   /* version */
    assert_int_equal(u32_at(d, 4), 440); /* size */
    assert_int_equal(u64_at(d, 8), c->regs.rax);
    assert_int_equal(u64_at(d, 8 + 6 * 8), c->regs.rsp);
    assert_int_equal(u64_at(d, 8 + 15 * 8), c->regs.r15);
    assert_int_equal(u64_at(d, 136), c->regs.rip);
    assert_int_equal(u64_at(d, 144), c->regs.rflags);
    /* cs: selector, limit, flags = type 0xb, S, DPL 3, P, L, G packed as in the descriptor */
    assert_int_equal(u32_at(d, 152), 0x33);
    assert_int_equal(u32_at(d, 156), 0xffffffff);
    assert_int_equal(u32_at(d, 160), 0xb00 | 1 << 12 | 3 << 13 | 1 << 15 | 1 << 21 | 1 << 23);
    assert_int_equal(u64_at(d, 152 + 3 * 24 + 16), c->sregs.fs.base); /* fs */
    assert_int_equal(u32_at(d, 152 + 6 * 24 + 8), 0x200);             /* ldt unusable: P=0 */
    assert_int_equal(u32_at(d, 152 + 7 * 24), 0x40);                  /* tr */
    assert_int_equal(u64_at(d, 152 + 8 * 24 + 16), 0x5000);           /* gdt base */
    assert_int_equal(u32_at(d, 152 + 9 * 24 + 4), 0xfff);             /* idt limit */
    assert_int_equal(u64_at(d, 392), c->sregs.cr0);
    assert_int_equal(u64_at(d, 392 + 8), 0);
    assert_int_equal(u64_at(d, 392 + 16), c->sregs.cr2);
    assert_int_equal(u64_at(d, 392 + 24), c->sregs.cr3);
    assert_int_equal(u64_at(d, 392 + 32), c->sregs.cr4);
    assert_int_equal(u64_at(d, 432), c->kernel_gs_base);
}

static void test_notes(void **state)
{
    struct fx_guest *g = *state;
    struct fx_note n[8];
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    size_t len = 0;
    uint8_t *f;

    write_core(g, 2, 2, FX_VMCI, NULL);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    get_phdrs(f, len, &eh, ph, 3);
    assert_int_equal(fx_notes(f + ph[0].p_offset, ph[0].p_filesz, n, 8), 5);
    check_prstatus(&n[0], &g->cpu[0], 0);
    check_prstatus(&n[1], &g->cpu[1], 1);
    check_qemu_note(&n[2], &g->cpu[0]);
    check_qemu_note(&n[3], &g->cpu[1]);
    assert_string_equal(n[4].name, "VMCOREINFO");
    assert_int_equal(n[4].type, 0);
    assert_int_equal(n[4].descsz, strlen(FX_VMCI));
    assert_memory_equal(n[4].desc, FX_VMCI, strlen(FX_VMCI));
    free(f);
}

static void test_memory_and_stats(void **state)
{
    struct fx_guest *g = *state;
    struct coredump_stats st;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    size_t len = 0;
    uint8_t *f;

    write_core(g, 2, 2, NULL, &st);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    get_phdrs(f, len, &eh, ph, 3);
    /* Every byte of both ranges reads back: data pages as written, holes as zeros. */
    assert_memory_equal(f + ph[1].p_offset, g->low, FX_LOW_LEN);
    assert_memory_equal(f + ph[2].p_offset, g->high, FX_HIGH_LEN);
    assert_int_equal(f[ph[1].p_offset + 6 * FX_PAGE], 0);
    assert_int_equal(st.pages_total, FX_PAGES);
    assert_int_equal(st.zero_pages_skipped, FX_PAGES - FX_DATA_PAGES);
    assert_int_equal(st.data_bytes, FX_DATA_BYTES);
    assert_int_equal(st.file_bytes, len);
    assert_true(st.seconds > 0 && st.seconds < 10);
    free(f);
}

/* A page is a hole iff SEEK_HOLE from its start stays put (ext4, xfs, tmpfs: page granular). */
static int is_hole(int fd, off_t off)
{
    return lseek(fd, off, SEEK_HOLE) == off;
}

static void test_zero_pages_are_holes(void **state)
{
    struct fx_guest *g = *state;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    struct stat sb;
    size_t len = 0;
    uint8_t *f;
    int fd;

    write_core(g, 2, 2, NULL, NULL);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    get_phdrs(f, len, &eh, ph, 3);
    fd = open(g->path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    for (uint64_t p = 0; p < FX_LOW_LEN / FX_PAGE; p++) {
        int data = p == 1 || p == 5 || p == FX_LOW_LEN / FX_PAGE - 1 ||
                   (p >= FX_RUN_PAGE && p < FX_RUN_PAGE + FX_RUN_PAGES);

        assert_int_equal(is_hole(fd, (off_t)(ph[1].p_offset + p * FX_PAGE)), !data);
    }
    assert_false(is_hole(fd, (off_t)ph[2].p_offset));
    assert_true(is_hole(fd, (off_t)(ph[2].p_offset + FX_PAGE)));
    assert_false(is_hole(fd, (off_t)(ph[2].p_offset + (FX_HIGH_LEN & ~(FX_PAGE - 1)))));
    /* Allocated blocks: headers + data pages, a little slack for ext4's metadata. */
    assert_int_equal(fstat(fd, &sb), 0);
    assert_true((uint64_t)sb.st_blocks * 512 <= (FX_DATA_PAGES + 1 + 8) * (uint64_t)FX_PAGE);
    close(fd);
    free(f);
}

static void test_no_cpus_no_vmcoreinfo_no_memory(void **state)
{
    struct fx_guest *g = *state;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[1];
    size_t len = 0;
    uint8_t *f;

    write_core(g, 0, 0, NULL, NULL);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    get_phdrs(f, len, &eh, ph, 1);
    assert_int_equal(eh.e_phnum, 1);
    assert_int_equal(ph[0].p_type, PT_NOTE);
    assert_int_equal(ph[0].p_filesz, 0);
    assert_int_equal(len, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr));
    free(f);
}

static void expect_fail(int fd, const struct core_mem_range *r, size_t nr,
                        const struct core_vcpu *v, size_t nv, size_t vmci_len, const char *what)
{
    static const char vmci[16];
    char err[256] = "";

    assert_int_equal(
        coredump_write(fd, r, nr, v, nv, vmci_len ? vmci : NULL, vmci_len, NULL, err, sizeof(err)),
        -1);
    if (strstr(err, what) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, what);
    /* Without an error buffer it fails the same way and touches nothing it should not. */
    assert_int_equal(
        coredump_write(fd, r, nr, v, nv, vmci_len ? vmci : NULL, vmci_len, NULL, NULL, 0), -1);
}

static void test_rejects_bad_input(void **state)
{
    struct fx_guest *g = *state;
    struct core_mem_range r[2] = {g->r[0], g->r[1]};
    int fd = open(g->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int pfd[2];

    assert_true(fd >= 0);
    r[1].gpa = FX_LOW_LEN - FX_PAGE; /* overlaps range 0 */
    expect_fail(fd, r, 2, g->cpu, 2, 0, "not above");
    r[1] = g->r[0];
    r[0] = g->r[1]; /* descending */
    expect_fail(fd, r, 2, g->cpu, 2, 0, "not above");
    r[0] = g->r[0];
    r[0].host = g->low + 8; /* unaligned host mapping */
    expect_fail(fd, r, 1, g->cpu, 2, 0, "not page-aligned");
    r[0] = (struct core_mem_range){.gpa = 0, .len = 0, .host = g->low};
    expect_fail(fd, r, 1, g->cpu, 2, 0, "empty");
    r[0] = (struct core_mem_range){.gpa = UINT64_MAX - FX_PAGE, .len = 2 * FX_PAGE, .host = g->low};
    expect_fail(fd, r, 1, g->cpu, 2, 0, "wraps");
    expect_fail(fd, g->r, 70000, g->cpu, 2, 0, "memory ranges");
    expect_fail(fd, g->r, 2, g->cpu, SIZE_MAX / 64, 0, "too large");
    expect_fail(fd, g->r, 2, g->cpu, 2, COREDUMP_VMCOREINFO_MAX + 1, "too large");
    expect_fail(fd, g->r, 2, NULL, 2, 0, "missing");
    close(fd);

    fd = open(g->path, O_RDONLY | O_CLOEXEC);
    expect_fail(fd, g->r, 2, g->cpu, 2, 0, "not a regular file open to write");
    close(fd);
    fd = open(g->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    expect_fail(fd, g->r, 2, g->cpu, 2, 0, "no append");
    close(fd);
    assert_int_equal(pipe(pfd), 0);
    expect_fail(pfd[1], g->r, 2, g->cpu, 2, 0, "not a regular file");
    close(pfd[0]);
    close(pfd[1]);
    expect_fail(-1, g->r, 2, g->cpu, 2, 0, "bad file descriptor");
}

/* A failure after memory was written leaves an empty file and the caller's fd flags intact. */
static void test_failure_midway_leaves_nothing(void **state)
{
    struct fx_guest *g = *state;
    struct core_mem_range r[2] = {g->r[0], g->r[1]};
    uint8_t *gone = mmap(NULL, FX_PAGE * 4, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char err[256] = "";
    struct stat sb;
    int fd = open(g->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int fl = fcntl(fd, F_GETFL);

    assert_true(fd >= 0 && gone != MAP_FAILED);
    munmap(gone, FX_PAGE * 4); /* range 1 now points at nothing: mincore fails mid-dump */
    r[1] = (struct core_mem_range){.gpa = FX_HIGH_GPA, .len = FX_PAGE * 4, .host = gone};
    assert_int_equal(coredump_write(fd, r, 2, g->cpu, 2, NULL, 0, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mincore"));
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(fcntl(fd, F_GETFL), fl);
    close(fd);
}

/* File size limits make the sizing fail before anything is written. */
static void test_file_too_big(void **state)
{
    struct fx_guest *g = *state;
    struct rlimit old, lim = {.rlim_cur = 1 << 20};
    char err[256] = "";
    int fd = open(g->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(coredump_write(fd, g->r, 2, g->cpu, 2, NULL, 0, NULL, err, sizeof(err)), -1);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_non_null(strstr(err, "sizing"));
    close(fd);
}

/* A caller that opened the file O_DIRECT still gets a valid core and its flags back. */
static void test_caller_o_direct(void **state)
{
    struct fx_guest *g = *state;
    char err[256] = "";
    size_t len = 0;
    uint8_t *f;
    int fd = open(g->path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);

    if (fd < 0)
        skip(); /* the file system has no direct I/O */
    assert_int_equal(
        coredump_write(fd, g->r, 2, g->cpu, 2, FX_VMCI, strlen(FX_VMCI), NULL, err, sizeof(err)),
        0);
    assert_true(fcntl(fd, F_GETFL) & O_DIRECT);
    close(fd);
    f = fx_slurp(g->path, &len);
    assert_non_null(f);
    assert_memory_equal(f, ELFMAG, SELFMAG);
    free(f);
}

/* Two files hold the same bytes (read in chunks: the dense cores here are 200 MiB). */
static void assert_same_file(const char *a, const char *b)
{
    static uint8_t x[1 << 20], y[1 << 20];
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    ssize_t n, m;

    assert_true(fa >= 0 && fb >= 0);
    do {
        n = read(fa, x, sizeof(x));
        m = read(fb, y, sizeof(y));
        assert_int_equal(n, m);
        assert_true(n >= 0);
        assert_memory_equal(x, y, (size_t)n);
    } while (n > 0);
    close(fa);
    close(fb);
}

/*
 * COREDUMP_DURABLE: the same bytes as a plain dump, fsync'ed; on a disk the helper thread
 * flushed behind the writes, on tmpfs nothing went direct and nothing was flushed behind.
 */
static void test_durable(void **state)
{
    struct fx_guest *g = *state;
    const size_t len = 200u << 20;
    uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const char *dirs[] = {g->dir, "/dev/shm"};
    char plain[128], durable[128], err[256] = "";

    assert_true(mem != MAP_FAILED);
    for (size_t p = 0; p < len / FX_PAGE; p++)
        if (p % 1000 != 7) /* dense, with a few holes */
            fx_pattern(mem + p * FX_PAGE, FX_PAGE, (unsigned)p);
    struct core_mem_range r = {.gpa = 0, .len = len, .host = mem};
    for (size_t d = 0; d < 2; d++) {
        struct coredump_stats st;
        struct statfs sf;
        int fd;

        if (statfs(dirs[d], &sf) < 0 || access(dirs[d], W_OK) < 0)
            continue; /* no /dev/shm here */
        snprintf(plain, sizeof(plain), "%s/plain.%d.core", dirs[d], (int)getpid());
        snprintf(durable, sizeof(durable), "%s/durable.%d.core", dirs[d], (int)getpid());
        fd = open(plain, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(coredump_write(fd, &r, 1, g->cpu, 2, NULL, 0, &st, err, sizeof(err)), 0);
        assert_int_equal(st.flushes_behind, 0);
        assert_true(st.fsync_seconds == 0);
        close(fd);
        fd = open(durable, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(coredump_write_flags(fd, &r, 1, g->cpu, 2, NULL, 0, COREDUMP_DURABLE, &st,
                                              err, sizeof(err)),
                         0);
        assert_int_equal(fcntl(fd, F_GETFL) & O_DIRECT, 0); /* the caller's flags are back */
        close(fd);
        assert_true(st.fsync_seconds > 0 && st.fsync_seconds <= st.seconds);
        assert_int_equal(st.data_bytes, len - (len / FX_PAGE / 1000 + 1) * FX_PAGE);
        if (sf.f_type == TMPFS_MAGIC) {
            assert_int_equal(st.direct_bytes, 0);
            assert_int_equal(st.flushes_behind, 0);
        } else {
            assert_true(st.flushes_behind >= 1); /* 200 MiB: a flush every 64 MiB written */
        }
        print_message("%s (%s): %.3f s, %llu direct bytes, %llu flushes behind, fsync %.3f s\n",
                      dirs[d], sf.f_type == TMPFS_MAGIC ? "tmpfs" : "disk", st.seconds,
                      (unsigned long long)st.direct_bytes, (unsigned long long)st.flushes_behind,
                      st.fsync_seconds);
        assert_same_file(plain, durable);
        unlink(plain);
        unlink(durable);
    }
    munmap(mem, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_and_phdrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_pages_are_holes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cpus_no_vmcoreinfo_no_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_midway_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_o_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
