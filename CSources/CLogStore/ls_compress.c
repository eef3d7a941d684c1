/* zstd for the container records of large appends (compressed on the caller's thread), and
 * their expansion by every reader (docs/FORMAT.md §4.1). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "ls_internal.h"

size_t ls_compress_bound(size_t len) { return ZSTD_compressBound(len); }

size_t ls_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, int level, int *zerr) {
    *zerr = 0;
    size_t n = ZSTD_compress(dst, cap, src, len, level);
    if (ZSTD_isError(n)) {
        *zerr = 1;
        return 0;
    }
    return n < len ? n : 0;
}

int ls_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len) {
    size_t n = ZSTD_decompress(dst, raw_len, src, len);
    if (ZSTD_isError(n) || n != raw_len) return LS_E_COMPRESS;
    return LS_OK;
}

uint64_t ls_container_limit(uint64_t segment_size) {
    if (segment_size < LS_MIN_SEGMENT_SIZE || segment_size > LS_MAX_SEGMENT_SIZE) segment_size = LS_MAX_SEGMENT_SIZE;
    return ls_max_frame_body(segment_size);
}

/* The most `len` bytes of zstd can expand to (RFC 8878 §3.1.1.2): every block decompresses to
 * at most ZSTD_BLOCKSIZE_MAX (128 KiB) bytes, and a block that yields any byte takes at least 4
 * (a 3-byte header and the byte of an RLE block); the frame header takes more. */
static uint64_t zstd_expansion_bound(size_t len) { return (uint64_t)(len / 4) * ZSTD_BLOCKSIZE_MAX; }

int ls_container_expand(const uint8_t *src, size_t len, uint32_t raw_len, uint64_t limit, uint8_t **buf, size_t *cap,
                        char *why, size_t why_cap) {
    /* Everything a stated length can be checked against, before any allocation. */
    if (raw_len > limit) {
        snprintf(why, why_cap,
                 "zstd container claims %" PRIu32 " uncompressed bytes; one append in this segment holds at most %" PRIu64,
                 raw_len, limit);
        return LS_E_CORRUPT;
    }
    if (raw_len < LS_RECORD_HEADER_SIZE) {
        snprintf(why, why_cap, "zstd container claims %" PRIu32 " uncompressed bytes, too few for a record", raw_len);
        return LS_E_CORRUPT;
    }
    if (raw_len > zstd_expansion_bound(len)) {
        snprintf(why, why_cap,
                 "zstd container claims %" PRIu32 " uncompressed bytes; its %zu bytes of zstd data expand to at most %" PRIu64,
                 raw_len, len, zstd_expansion_bound(len));
        return LS_E_CORRUPT;
    }
    unsigned long long stated = ZSTD_getFrameContentSize(src, len);
    if (stated == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(why, why_cap, "zstd container value is not a zstd frame");
        return LS_E_CORRUPT;
    }
    if (stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != raw_len) {
        snprintf(why, why_cap, "zstd container claims %" PRIu32 " uncompressed bytes, its zstd frame %llu", raw_len, stated);
        return LS_E_CORRUPT;
    }
    /* The claim is plausible: room for exactly it (the old contents are not needed). */
    if (*cap < raw_len) {
        free(*buf);
        *buf = malloc(raw_len);
        *cap = *buf ? raw_len : 0;
        if (!*buf) {
            snprintf(why, why_cap, "out of memory expanding a zstd container of %" PRIu32 " bytes", raw_len);
            return LS_E_NOMEM;
        }
    }
    size_t n = ZSTD_decompress(*buf, raw_len, src, len);
    if (ZSTD_isError(n)) {
        snprintf(why, why_cap, "zstd container does not decompress to its stated %" PRIu32 " bytes (%s)", raw_len,
                 ZSTD_getErrorName(n));
        return LS_E_CORRUPT;
    }
    if (n != raw_len) {
        snprintf(why, why_cap, "zstd container decompresses to %zu bytes, not its stated %" PRIu32, n, raw_len);
        return LS_E_CORRUPT;
    }
    return LS_OK;
}
