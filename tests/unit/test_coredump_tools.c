/* test_coredump_tools: the cores coredump_write makes, as readelf and gdb see them. */
#include "coredump_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#define KNOWN_VALUE 0xfeedfacecafe0042ull /* differs from the ELF's initial value on purpose */

static const char guest_src[] =
    "/* guest for the coredump gdb test: identity-mapped, data at a fixed address */\n"
    "volatile unsigned long known_var = 0x1122334455667788UL;\n"
    "void crash_here(void);\n"
    "void _start(void);\n"
    "void crash_here(void) { for (;;) __asm__ volatile(\"ud2\"); }\n"
    "void _start(void) { known_var++; crash_here(); }\n";

static int setup(void **state)
{
    static struct fx_guest g;

    *state = &g;
    return fx_setup(&g);
}

static int teardown(void **state)
{
    struct fx_guest *g = *state;
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -f %s/guest.c %s/guest.elf %s/stderr", g->dir, g->dir, g->dir);
    if (system(cmd) != 0)
        return -1;
    fx_teardown(g);
    return 0;
}

/* Runs a shell command, collecting its stdout; returns its exit status. */
static int run(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    int status;

    assert_non_null(p);
    while (n + 1 < outlen && !feof(p)) {
        size_t got = fread(out + n, 1, outlen - 1 - n, p);

        if (got == 0)
            break;
        n += got;
    }
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int have(const char *tool)
{
    char cmd[128], out[256];

    snprintf(cmd, sizeof(cmd), "command -v %s", tool);
    return run(cmd, out, sizeof(out)) == 0;
}

static void write_core(struct fx_guest *g, size_t nr, const char *vmci)
{
    char err[256] = "";
    int fd = open(g->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    if (coredump_write(fd, g->r, nr, g->cpu, 2, vmci, vmci ? strlen(vmci) : 0, NULL, err,
                       sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

static void test_readelf_clean(void **state)
{
    struct fx_guest *g = *state;
    static char out[1 << 16];
    char cmd[512], errpath[128];
    size_t errlen = 0;
    char *errtext;

    if (!have("readelf"))
        skip();
    write_core(g, 2, FX_VMCI);
    snprintf(errpath, sizeof(errpath), "%s/stderr", g->dir);
    snprintf(cmd, sizeof(cmd), "readelf -a -W %s 2>%s", g->path, errpath);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    errtext = (char *)fx_slurp(errpath, &errlen);
    assert_non_null(errtext);
    errtext[errlen] = '\0';
    if (strstr(errtext, "Warning") != NULL || strstr(errtext, "Error") != NULL)
        fail_msg("readelf complained: %s", errtext);
    free(errtext);
    assert_non_null(strstr(out, "CORE (Core file)"));
    assert_non_null(strstr(out, "X86-64"));
    assert_non_null(strstr(out, "NT_PRSTATUS"));
    assert_non_null(strstr(out, "QEMU"));
    assert_non_null(strstr(out, "VMCOREINFO"));
    assert_non_null(strstr(out, "0x0000000100000000")); /* the high range's address */
}

/* Finds a symbol's address in the guest ELF's .symtab. */
static uint64_t symbol(const uint8_t *f, size_t len, const char *name)
{
    Elf64_Ehdr eh;

    memcpy(&eh, f, sizeof(eh));
    assert_true(eh.e_shoff + (size_t)eh.e_shnum * sizeof(Elf64_Shdr) <= len);
    for (int i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh, str;

        memcpy(&sh, f + eh.e_shoff + i * sizeof(sh), sizeof(sh));
        if (sh.sh_type != SHT_SYMTAB)
            continue;
        memcpy(&str, f + eh.e_shoff + sh.sh_link * sizeof(str), sizeof(str));
        for (size_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
            Elf64_Sym s;

            memcpy(&s, f + sh.sh_offset + k * sizeof(s), sizeof(s));
            if (strcmp((const char *)f + str.sh_offset + s.st_name, name) == 0)
                return s.st_value;
        }
    }
    fail_msg("no symbol %s", name);
    return 0;
}

/* What Vigil's loader does: PT_LOAD segments copied to guest-physical p_paddr. */
static void load_guest(struct fx_guest *g, const uint8_t *f, size_t len)
{
    Elf64_Ehdr eh;

    memcpy(&eh, f, sizeof(eh));
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;

        memcpy(&ph, f + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        assert_true(ph.p_paddr + ph.p_memsz <= FX_LOW_LEN && ph.p_offset + ph.p_filesz <= len);
        memcpy(g->low + ph.p_paddr, f + ph.p_offset, ph.p_filesz);
    }
}

static void test_gdb_reads_symbol_and_registers(void **state)
{
    struct fx_guest *g = *state;
    static char out[1 << 16];
    char cmd[1024], elf[128], src[128], want[128];
    uint64_t var, fn, value = KNOWN_VALUE;
    size_t len = 0;
    uint8_t *f;
    FILE *s;

    if (!have("cc") || !have("gdb"))
        skip();
    snprintf(src, sizeof(src), "%s/guest.c", g->dir);
    snprintf(elf, sizeof(elf), "%s/guest.elf", g->dir);
    s = fopen(src, "w");
    assert_non_null(s);
    fputs(guest_src, s);
    fclose(s);
    snprintf(cmd, sizeof(cmd),
             "cc -g -O0 -static -nostdlib -ffreestanding -fno-pic -no-pie -fno-stack-protector "
             "-Wl,-Ttext=0x100000 -Wl,--build-id=none -Wl,-z,max-page-size=4096 -o %s %s 2>&1",
             elf, src);
    if (run(cmd, out, sizeof(out)) != 0)
        fail_msg("building the guest: %s", out);

    f = fx_slurp(elf, &len);
    assert_non_null(f);
    load_guest(g, f, len);
    var = symbol(f, len, "known_var");
    fn = symbol(f, len, "crash_here");
    free(f);
    memcpy(g->low + var, &value, sizeof(value)); /* the guest's state at the crash */
    g->cpu[0].regs.rip = fn;
    g->cpu[0].regs.rsp = 0x80000;
    g->cpu[0].regs.rbp = 0;
    /*
     * Split low RAM at 1 MiB, as a PC's is: the guest image then sits in a PT_LOAD that does
     * not start at 0, so gdb only finds it if p_vaddr holds the address (p_vaddr = 0 fails).
     */
    g->r[2] = g->r[1];
    g->r[1] = (struct core_mem_range){
        .gpa = 1 << 20, .len = FX_LOW_LEN - (1 << 20), .host = g->low + (1 << 20)};
    g->r[0].len = 1 << 20;
    write_core(g, 3, NULL);

    snprintf(cmd, sizeof(cmd),
             "gdb -batch -nx -ex 'info registers rip' -ex 'print/x known_var' "
             "-ex 'info threads' %s %s 2>&1",
             elf, g->path);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "0x%llx <crash_here", (unsigned long long)fn);
    if (strstr(out, want) == NULL || strstr(out, "= 0xfeedfacecafe0042") == NULL ||
        strstr(out, "LWP 2") == NULL)
        fail_msg("gdb output lacks rip %s, known_var or the second vCPU:\n%s", want, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_readelf_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gdb_reads_symbol_and_registers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
