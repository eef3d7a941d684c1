/* Helpers shared by the fuzz harnesses: input reader, checksum fix-ups, reference CRC32C. */
#include <string.h>

#include "fuzz_common.h"

#define MF_MAGIC 0x464D534Cu
#define MF_HEADER 16
#define MF_MAX_PAYLOAD 4096u

uint8_t fin_u8(fuzz_input *in) {
    if (in->n == 0) return 0;
    uint8_t v = in->p[0];
    in->p++, in->n--;
    return v;
}

uint16_t fin_u16(fuzz_input *in) { return (uint16_t)(fin_u8(in) | fin_u8(in) << 8); }

uint32_t fin_u32(fuzz_input *in) { return (uint32_t)fin_u16(in) | (uint32_t)fin_u16(in) << 16; }

uint64_t fin_u64(fuzz_input *in) { return (uint64_t)fin_u32(in) | (uint64_t)fin_u32(in) << 32; }

const uint8_t *fin_bytes(fuzz_input *in, size_t want, size_t *got) {
    *got = want < in->n ? want : in->n;
    const uint8_t *p = in->p;
    in->p += *got, in->n -= *got;
    return p;
}

int fuzz_verbose(void) {
    static int v = -1;
    if (v < 0) v = getenv("FUZZ_VERBOSE") != NULL;
    return v;
}

uint8_t *fuzz_dup(const uint8_t *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    FUZZ_CHECK(d != NULL);
    if (n) memcpy(d, p, n);
    return d;
}

uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

void fixup_records(uint8_t *body, size_t n) {
    size_t pos = 0;
    while (n - pos >= LS_RECORD_HEADER_SIZE) {
        uint8_t *r = body + pos;
        size_t total = ls_record_encoded_size(ls_get_u16(r + 6), ls_get_u32(r + 8));
        if (r[4] == 0 || total > n - pos) return;
        ls_put_u32(r, ls_crc32c_mask(ls_crc32c_value(r + 4, total - 4)));
        pos += total;
    }
}

void fixup_segment(uint8_t *file, size_t n) {
    if (n >= LS_SEGMENT_HEADER_SIZE && memcmp(file, LS_SEGMENT_MAGIC, LS_SEGMENT_MAGIC_SIZE) == 0)
        ls_put_u32(file + LS_SEGMENT_HEADER_CRC_OFFSET,
                   ls_crc32c_mask(ls_crc32c_value(file, LS_SEGMENT_HEADER_CRC_OFFSET)));
    size_t off = LS_SEGMENT_HEADER_SIZE;
    while (off + LS_FRAME_HEADER_SIZE <= n) {
        uint8_t *f = file + off;
        uint32_t len = ls_get_u32(f + 8);
        if (ls_get_u32(f) != LS_FRAME_MAGIC || len > n - off - LS_FRAME_HEADER_SIZE) {
            off += LS_FRAME_ALIGN;
            continue;
        }
        if (!(ls_get_u16(f + 32) & LS_FRAME_F_SEAL)) fixup_records(f + LS_FRAME_HEADER_SIZE, len);
        ls_put_u32(f + 4, ls_crc32c_mask(ls_frame_crc(f, f + LS_FRAME_HEADER_SIZE, len)));
        off += (size_t)ls_frame_disk_size(len);
    }
}

void fixup_manifest(uint8_t *file, size_t n) {
    size_t off = 0;
    while (off + MF_HEADER <= n) {
        uint8_t *r = file + off;
        uint32_t len = ls_get_u32(r + 8);
        if (ls_get_u32(r) != MF_MAGIC || len % 8 || len > MF_MAX_PAYLOAD || len > n - off - MF_HEADER) {
            off += 8;
            continue;
        }
        ls_put_u32(r + 4, ls_crc32c_mask(ls_crc32c_value(r + 8, 8 + (size_t)len)));
        off += MF_HEADER + len;
    }
}
