/*
 * Target `blob`: the reader of files in snapshots/ (ls_blob.c ls_blob_read; FORMAT.md §12) on
 * files held by the in-memory ls_io.
 *
 * Input: a flags byte, a bit index (u32), then the file.
 *   bit 0  fix the header CRC (after bit 1's change), to get past it
 *   bit 1  set the data length field to the file's (so the data CRC is reached)
 *   bit 2  fix the data CRC
 *
 * Invariants: the read returns exactly what the table of FORMAT.md §12.2 says, checked in its
 * order with its offsets (computed here independently): the data on success, else
 * LS_E_CORRUPT at the table's offset. The input's bytes written with ls_blob_write read back
 * equal, the file is 32 + n bytes, and any one flipped bit of it, or a cut, is corrupt.
 * Every descriptor is closed again. ls_blob_name_valid agrees with the rule of §12.1.
 */
#include <string.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"
#include "ls_blob.h"

#define ROOT "/fuzz"
#define SNAP ROOT "/snapshots/"

/* What FORMAT.md §12.2 says a read of file[0..n) returns: LS_OK or LS_E_CORRUPT at *off. */
static int expected(const uint8_t *f, size_t n, uint64_t *off) {
    if (n < 32) return *off = n, LS_E_CORRUPT;
    if (memcmp(f, "LSBLOB01", 8) != 0) return *off = 0, LS_E_CORRUPT;
    if (ls_crc32c_unmask(ls_get_u32(f + 28)) != ref_crc32c(0, f, 28)) return *off = 28, LS_E_CORRUPT;
    if (ls_get_u32(f + 8) != 1) return *off = 8, LS_E_CORRUPT;
    if (ls_get_u32(f + 12) != 32) return *off = 12, LS_E_CORRUPT;
    uint64_t len = ls_get_u64(f + 16);
    if (len > n - 32) return *off = n, LS_E_CORRUPT;
    if (len < n - 32) return *off = 32 + len, LS_E_CORRUPT;
    if (ls_crc32c_unmask(ls_get_u32(f + 24)) != ref_crc32c(0, f + 32, (size_t)len)) return *off = 32, LS_E_CORRUPT;
    return LS_OK;
}

static void check_read(ls_log *log, const char *name, const uint8_t *f, size_t n) {
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 12345;
    ls_error err;
    memset(&err, 0, sizeof err);
    int rc = ls_blob_read(log, name, &out, &out_len, &err);
    uint64_t want_off = 0;
    int want = expected(f, n, &want_off);
    if (rc != want) fprintf(stderr, "ls_blob_read: %d (%s), expected %d\n", rc, err.message, want);
    FUZZ_CHECK(rc == want);
    if (rc == LS_OK) {
        FUZZ_CHECK(out != NULL && out_len == n - 32);
        FUZZ_CHECK(out_len == 0 || memcmp(out, f + 32, out_len) == 0);
    } else {
        FUZZ_CHECK(out == NULL && out_len == 0);
        FUZZ_CHECK(err.has_offset && err.offset == want_off);
        FUZZ_CHECK(strstr(err.message, name) != NULL);
    }
    ls_blob_free(out);
    FUZZ_CHECK(memio_open_fds(log->io) == 0);
}

/* The name rule of FORMAT.md §12.1. */
static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > LS_BLOB_NAME_MAX || s[0] == '.') return 0;
    if (n >= 4 && memcmp(s + n - 4, ".tmp", 4) == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int fuzz_blob(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t flags = fin_u8(&in);
    uint32_t flip = fin_u32(&in);
    size_t n = in.n;
    uint8_t *f = fuzz_dup(in.p, n);
    if (n >= 32) {
        if (flags & 2) ls_put_u64(f + 16, n - 32);
        if (flags & 4) ls_put_u32(f + 24, ls_crc32c_mask(ls_crc32c_value(f + 32, n - 32)));
        if (flags & 1) ls_put_u32(f + 28, ls_crc32c_mask(ls_crc32c_value(f, 28)));
    }

    /* ls_blob_read needs only the log's directory and I/O (and its lock, for writes). */
    ls_log *log = calloc(1, sizeof *log);
    FUZZ_CHECK(log != NULL);
    strcpy(log->dir, ROOT);
    log->io = memio_create(1);
    FUZZ_CHECK(pthread_mutex_init(&log->mu, NULL) == 0);

    /* 1. The input as a file. */
    memio_put(log->io, SNAP "input.bin", f, n);
    check_read(log, "input.bin", f, n);
    uint8_t *out;
    size_t out_len;
    ls_error err;
    FUZZ_CHECK(ls_blob_read(log, "missing", &out, &out_len, &err) == LS_E_NOT_FOUND && out == NULL);

    /* 2. The input's bytes written as a file: read back equal; damaged, refused. */
    FUZZ_CHECK(ls_blob_write(log, "written", in.p, n, &err) == LS_OK);
    FUZZ_CHECK(memio_get(log->io, SNAP "written.tmp", &(size_t){0}) == NULL);
    size_t wn;
    const uint8_t *w = memio_get(log->io, SNAP "written", &wn);
    FUZZ_CHECK(w != NULL && wn == 32 + n);
    uint8_t *copy = fuzz_dup(w, wn);
    FUZZ_CHECK(ls_blob_read(log, "written", &out, &out_len, &err) == LS_OK);
    FUZZ_CHECK(out_len == n && (n == 0 || memcmp(out, in.p, n) == 0));
    ls_blob_free(out);
    size_t bit = flip % (wn * 8);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    memio_put(log->io, SNAP "flipped", copy, wn);
    check_read(log, "flipped", copy, wn);
    FUZZ_CHECK(ls_blob_read(log, "flipped", &out, &out_len, &err) == LS_E_CORRUPT);
    copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    size_t cut = (flip >> 3) % wn;
    memio_put(log->io, SNAP "cut", copy, cut);
    FUZZ_CHECK(ls_blob_read(log, "cut", &out, &out_len, &err) == LS_E_CORRUPT);
    FUZZ_CHECK(ls_blob_remove(log, "written", &err) == LS_OK);
    FUZZ_CHECK(ls_blob_read(log, "written", &out, &out_len, &err) == LS_E_NOT_FOUND);
    free(copy);

    /* 3. Names. */
    char name[LS_BLOB_NAME_MAX + 8];
    size_t k = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, in.p, k);
    name[k] = '\0';
    FUZZ_CHECK(ls_blob_name_valid(name) == name_ok(name));

    FUZZ_CHECK(memio_open_fds(log->io) == 0);
    ls_io_destroy(log->io);
    pthread_mutex_destroy(&log->mu);
    free(log);
    free(f);
    return 0;
}
