/* Shared by the fuzz harnesses (not part of the C core). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "ls_crc32c.h"
#include "ls_format.h"
#include "ls_internal.h"
#include "ls_io.h"

/* An invariant of the code under test: a violation aborts, which libFuzzer reports as a crash
 * and saves the input that caused it. */
#define FUZZ_CHECK(cond)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

/* Largest file the in-memory I/O holds (a fuzz input is a few KiB; this bounds what the code
 * under test may grow a file to, e.g. a preallocation). */
#define FUZZ_MEMIO_MAX_FILE (64u << 20)

ls_io *memio_create(int allow_map);
/* Creates or replaces the file at `path` with data[0..n). */
void memio_put(ls_io *io, const char *path, const uint8_t *data, size_t n);
/* The file's bytes (valid until the next call that changes it), or NULL if there is none. */
const uint8_t *memio_get(ls_io *io, const char *path, size_t *n);
/* Open descriptors plus live mappings: 0 once the code under test released everything. */
int memio_open_fds(ls_io *io);
int memio_file_count(ls_io *io);

/* ---- fixing checksums, so that mutated inputs get past the CRCs to the code behind them ---- */

/* Recomputes the CRC of every record that fits in body[0..n) walking records back to back
 * (a record with type 0 or a length past the end stops the walk). */
void fixup_records(uint8_t *body, size_t n);
/* Recomputes the segment header CRC (when its magic is present) and, walking from offset 64,
 * the record CRCs and the CRC of every frame whose magic and length fit. */
void fixup_segment(uint8_t *file, size_t n);
/* Recomputes the CRC of every manifest record whose magic and length fit, walking from 0. */
void fixup_manifest(uint8_t *file, size_t n);

/* Reads little-endian values from the front of a fuzz input (zero once it is exhausted). */
typedef struct fuzz_input {
    const uint8_t *p;
    size_t n;
} fuzz_input;
uint8_t fin_u8(fuzz_input *in);
uint16_t fin_u16(fuzz_input *in);
uint32_t fin_u32(fuzz_input *in);
uint64_t fin_u64(fuzz_input *in);
/* Up to `want` bytes; *got says how many. */
const uint8_t *fin_bytes(fuzz_input *in, size_t want, size_t *got);

/* A copy the harness may modify (free with free). */
uint8_t *fuzz_dup(const uint8_t *p, size_t n);

/* 1 if FUZZ_VERBOSE is set: the harnesses then print what the code under test returned (to
 * look at a seed or a reproducer; fuzzing leaves it unset). */
int fuzz_verbose(void);

/* Bitwise CRC32C (the definition), to check the library's table and hardware versions. */
uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n);

#endif
