/* zstd for the container records of large appends (compressed on the caller's thread). */
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
