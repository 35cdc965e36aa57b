/* start.c: boot from hv's boot info: bring up svcos, build a Linux process stack (argv, envp, auxv)
 * and enter musl's _start. */
#include "svcos.h"
#include <elf.h>
#include <fcntl.h>
#include <string.h>

const struct vigil_boot_info *svcos_boot_info;
uint64_t svcos_entry_tsc;

extern const Elf64_Ehdr __ehdr_start; /* the ELF header, loaded with the first segment */
extern const char svcos_cpio_start[] __attribute__((weak));
extern const char svcos_cpio_end[] __attribute__((weak));
extern void _start(void); /* musl's crt1 */
__attribute__((noreturn)) void svcos_boot(const struct vigil_boot_info *bi, uint64_t index);

/* hv enters every vCPU here: rdi = boot info, rsi = vCPU index, rsp = stack top. */
__asm__(".text\n"
        ".globl svcos_entry\n"
        ".type svcos_entry,@function\n"
        "svcos_entry:\n"
        "  and $-16, %rsp\n"
        "  xor %ebp, %ebp\n"
        "  call svcos_boot\n"
        "  ud2\n"
        ".size svcos_entry, .-svcos_entry\n");

#define STACK_CANARY 0x5356434f53535441ull /* "ATSSOCVS" */
#define MAX_ARGS     64

static uint64_t *stack_bottom;

void svcos_check_stack(void);
void svcos_check_stack(void)
{
    if (stack_bottom && stack_bottom[0] != STACK_CANARY)
        kpanic("stack overflow (raise svcos.stack_kib= on the command line)");
}

/* The next space-separated word of the command line at *p, or NULL. */
static const char *next_word(const char **p, size_t *len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    if (!*s)
        return NULL;
    const char *w = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n')
        s++;
    *len = (size_t)(s - w);
    *p = s;
    return w;
}

static const char *cmdline(void)
{
    return svcos_boot_info && svcos_boot_info->cmdline_gpa
               ? (const char *)(uintptr_t)svcos_boot_info->cmdline_gpa
               : "";
}

const char *svcos_cmdline_get(const char *key, size_t *len)
{
    const char *p = cmdline(), *w;
    size_t klen = strlen(key), wl;
    while ((w = next_word(&p, &wl)) && !(wl == 2 && w[0] == '-' && w[1] == '-')) {
        if (wl > klen && memcmp(w, key, klen) == 0 && w[klen] == '=') {
            *len = wl - klen - 1;
            return w + klen + 1;
        }
    }
    return NULL;
}

uint64_t svcos_cmdline_u64(const char *key, uint64_t dflt)
{
    size_t len;
    const char *v = svcos_cmdline_get(key, &len);
    if (!v || !len)
        return dflt;
    uint64_t x = 0;
    for (size_t i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
        x = x * 10 + (uint64_t)(v[i] - '0');
    return x;
}

static void std_fds(void)
{
    struct file *f = file_new(&console_ops, O_RDWR, NULL);
    if (!f)
        kpanic("out of memory at boot");
    fd_install_at(0, f, 0);
    fd_install_at(1, file_get(f), 0);
    fd_install_at(2, file_get(f), 0);
}

/* Copies `s` (len bytes) below *sp as a C string; returns where it went. */
static char *push_str(char **sp, const char *s, size_t len)
{
    *sp -= len + 1;
    memcpy(*sp, s, len);
    (*sp)[len] = 0;
    return *sp;
}

/* Lays out argc, argv, envp and auxv as Linux does for a new process. */
static uintptr_t build_stack(char *top)
{
    char *sp = top;
    char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 8];
    int argc = 0, envc = 0, rest_args = 0;
    argv[argc++] = push_str(&sp, "/init", 5);
    const char *p = cmdline(), *w;
    size_t wl;
    while ((w = next_word(&p, &wl))) {
        const char *eq = memchr(w, '=', wl);
        if (!rest_args && wl == 2 && w[0] == '-' && w[1] == '-') {
            rest_args = 1;
        } else if (!rest_args && eq && w[0] != '-') {
            if (wl > 6 && memcmp(w, "svcos.", 6) == 0)
                continue; /* svcos's own settings */
            if (envc < MAX_ARGS)
                envp[envc++] = push_str(&sp, w, wl);
        } else if (argc < MAX_ARGS) {
            argv[argc++] = push_str(&sp, w, wl);
        }
    }
    static const char *const dflt_env[] = {"HOME=/", "PATH=/bin:/sbin", "TERM=vt100"};
    for (size_t i = 0; i < ARRAY_LEN(dflt_env); i++)
        envp[envc++] = push_str(&sp, dflt_env[i], strlen(dflt_env[i]));
    char *platform = push_str(&sp, "x86_64", 6);
    sp = (char *)((uintptr_t)(sp - 16) & ~(uintptr_t)15);
    unsigned char *rnd = (unsigned char *)sp;
    random_bytes(rnd, 16);

    uintptr_t phdr = (uintptr_t)&__ehdr_start + __ehdr_start.e_phoff;
    uint64_t hwcap2 = cpu.fsgsbase ? 2 : 0; /* HWCAP2_FSGSBASE */
    const uint64_t aux[][2] = {
        {AT_PHDR, phdr},
        {AT_PHENT, sizeof(Elf64_Phdr)},
        {AT_PHNUM, __ehdr_start.e_phnum},
        {AT_PAGESZ, PAGE_SIZE},
        {AT_ENTRY, __ehdr_start.e_entry},
        {AT_UID, 0},
        {AT_EUID, 0},
        {AT_GID, 0},
        {AT_EGID, 0},
        {AT_SECURE, 0},
        {AT_RANDOM, (uintptr_t)rnd},
        {AT_HWCAP, cpu.leaf1_edx},
        {AT_HWCAP2, hwcap2},
        {AT_CLKTCK, 100},
        {AT_PLATFORM, (uintptr_t)platform},
        {AT_EXECFN, (uintptr_t)argv[0]},
        {AT_NULL, 0},
    };
    size_t words = 1 + (size_t)argc + 1 + (size_t)envc + 1 + 2 * ARRAY_LEN(aux);
    uint64_t *v = (uint64_t *)sp - words;
    v = (uint64_t *)((uintptr_t)v & ~(uintptr_t)15);
    size_t i = 0;
    v[i++] = (uint64_t)argc;
    for (int a = 0; a < argc; a++)
        v[i++] = (uintptr_t)argv[a];
    v[i++] = 0;
    for (int e = 0; e < envc; e++)
        v[i++] = (uintptr_t)envp[e];
    v[i++] = 0;
    for (size_t a = 0; a < ARRAY_LEN(aux); a++) {
        v[i++] = aux[a][0];
        v[i++] = aux[a][1];
    }
    return (uintptr_t)v;
}

void svcos_boot(const struct vigil_boot_info *bi, uint64_t index)
{
    uint64_t entry_tsc = rdtsc();
    if (index != 0) /* one thread: the other vCPUs sleep */
        for (;;)
            hv_wait(UINT64_MAX, 0);
    uint64_t features = 0;
    if (bi->magic != VIGIL_BOOT_MAGIC || hv_version(&features) < 0)
        hv_halt(2, "svcos: hypercall ABI mismatch");
    /* Before anything can fault: a fault is then reported with the registers where it
     * happened instead of escalating to a triple fault (whose registers AMD loses). */
    if (features & VIGIL_FEAT_FAULT)
        hv_fault_handlers(1);
    svcos_boot_info = bi;
    svcos_entry_tsc = entry_tsc;
    cpu_init();
    mem_setup(bi);
    console_init();
    time_init(bi);
    random_init();
    vfs_init();
    devices_init();
    uintptr_t cpio_a = (uintptr_t)svcos_cpio_start, cpio_b = (uintptr_t)svcos_cpio_end;
    if (cpio_a && cpio_b > cpio_a)
        cpio_load(svcos_cpio_start, cpio_b - cpio_a);
    std_fds();
    if (netstack_init) /* programs linked with the netstack: lwIP, its sockets, the NICs */
        netstack_init();

    size_t stack_bytes = PAGE_UP(svcos_cmdline_u64("svcos.stack_kib", 1024) * 1024);
    stack_bottom = pages_alloc(stack_bytes / PAGE_SIZE);
    if (!stack_bottom)
        kpanic("no memory for a %zu KiB stack", stack_bytes / 1024);
    stack_bottom[0] = STACK_CANARY;
    uintptr_t sp = build_stack((char *)stack_bottom + stack_bytes);
    __asm__ volatile("mov %0, %%rsp\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "jmp _start"
                     :
                     : "r"(sp)
                     : "memory");
    __builtin_unreachable();
}
