/* elf_loader.h: validates a guest ELF64 executable and copies its segments into guest RAM. */
#ifndef HV_ELF_LOADER_H
#define HV_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

/* Lowest guest-physical address a segment may occupy: hv's boot structures
 * live below it. */
#define ELF_LOAD_MIN_ADDR 0x100000ull

struct elf_image {
    uint64_t entry;
    uint64_t start; /* lowest loaded address */
    uint64_t end;   /* one past the highest loaded byte, page aligned */
};

/* Checks `file` (file_len bytes) without touching guest memory: ELF64,
 * little-endian, x86-64, ET_EXEC, PT_LOADs at p_paddr == p_vaddr >=
 * ELF_LOAD_MIN_ADDR, ascending and disjoint, p_filesz <= p_memsz, inside the
 * file and inside `limit` bytes of RAM, no W+X segment, entry inside an
 * executable segment, every sum overflow-checked.  Returns 0, or -1 with a
 * message naming the problem in err. */
int elf_check(const uint8_t *file, size_t file_len, uint64_t limit, struct elf_image *out,
              char *err, size_t errlen);

/* elf_check, then copies the segments into mem (mem_size bytes, guest
 * physical 0) and zero-fills each segment's tail. */
int elf_load(const uint8_t *file, size_t file_len, uint8_t *mem, uint64_t mem_size,
             struct elf_image *out, char *err, size_t errlen);

/* Reads a whole file of at most max_len bytes into a malloc'd buffer. */
int elf_read_file(const char *path, size_t max_len, uint8_t **buf, size_t *len, char *err,
                  size_t errlen);

#endif
