/*
 * Target `frame`: the segment header and frame codecs of ls_format.c, and CRC32C.
 *
 * 1. The input as raw bytes: whatever decodes must re-encode to the same bytes (every field
 *    is checked on the way in, so the encoding is unique), a verified frame lies within the
 *    input, and ls_frame_verify agrees with ls_frame_header_decode plus the length and CRC.
 * 2. A frame and a header built from the input's bytes: encode, then decode gives the same
 *    fields (or BAD_FIELD exactly when a field breaks a rule of FORMAT.md §3), a one-bit flip
 *    anywhere in the checksummed bytes is never accepted, and a cut frame is TRUNCATED.
 * 3. CRC32C: the library's (hardware or table) against the bitwise definition, extend and
 *    combine against the CRC of the concatenation.
 */
#include <string.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"

static void check_raw(const uint8_t *data, size_t size) {
    if (size >= LS_SEGMENT_HEADER_SIZE) {
        ls_segment_header h;
        if (ls_segment_header_decode(data, &h) == LS_FMT_OK) {
            uint8_t again[LS_SEGMENT_HEADER_SIZE];
            FUZZ_CHECK(h.version == LS_FORMAT_VERSION && h.base_lsn != 0);
            ls_segment_header_encode(&h, again);
            FUZZ_CHECK(memcmp(again, data, LS_SEGMENT_HEADER_SIZE) == 0);
        }
    }
    /* Every 8-aligned offset, as the scanner looks at them. */
    for (size_t off = 0; off < size; off += LS_FRAME_ALIGN) {
        const uint8_t *p = data + off;
        size_t avail = size - off;
        ls_frame_header h, h2;
        uint32_t stored_crc;
        int vrc = ls_frame_verify(p, avail, &h);
        if (avail < LS_FRAME_HEADER_SIZE) {
            FUZZ_CHECK(vrc == LS_FMT_TRUNCATED);
            continue;
        }
        int drc = ls_frame_header_decode(p, &h2, &stored_crc);
        if (drc != LS_FMT_OK) {
            FUZZ_CHECK(vrc == drc);
            FUZZ_CHECK(drc == LS_FMT_BAD_MAGIC || drc == LS_FMT_BAD_FIELD);
            FUZZ_CHECK((drc == LS_FMT_BAD_MAGIC) == (ls_get_u32(p) != LS_FRAME_MAGIC));
            continue;
        }
        /* The decoded fields keep the rules of FORMAT.md §3 rule 2. */
        FUZZ_CHECK((h2.flags & ~LS_FRAME_KNOWN_FLAGS) == 0 && h2.first_lsn != 0);
        FUZZ_CHECK((h2.flags & LS_FRAME_F_ZSTD) || h2.raw_len == h2.stored_len);
        FUZZ_CHECK(!(h2.flags & LS_FRAME_F_SEAL) || (h2.record_count == 0 && h2.stored_len == LS_SEAL_BODY_SIZE));
        if (avail - LS_FRAME_HEADER_SIZE < h2.stored_len) {
            FUZZ_CHECK(vrc == LS_FMT_TRUNCATED);
            continue;
        }
        uint32_t crc = ref_crc32c(0, p + LS_FRAME_CRC_START, LS_FRAME_HEADER_SIZE - LS_FRAME_CRC_START + (size_t)h2.stored_len);
        FUZZ_CHECK(vrc == (crc == stored_crc ? LS_FMT_OK : LS_FMT_BAD_CRC));
        if (vrc != LS_FMT_OK) continue;
        /* A verified frame lies within the input, and re-encodes to the same bytes. */
        FUZZ_CHECK(h.stored_len == h2.stored_len && h.record_count == h2.record_count && h.first_lsn == h2.first_lsn &&
                   h.segment_seq == h2.segment_seq && h.flags == h2.flags && h.raw_len == h2.raw_len);
        FUZZ_CHECK(LS_FRAME_HEADER_SIZE + (uint64_t)h.stored_len <= avail);
        uint64_t disk = ls_frame_disk_size(h.stored_len);
        FUZZ_CHECK(disk % LS_FRAME_ALIGN == 0 && disk >= LS_FRAME_HEADER_SIZE + (uint64_t)h.stored_len &&
                   disk < LS_FRAME_HEADER_SIZE + (uint64_t)h.stored_len + LS_FRAME_ALIGN);
        uint8_t again[LS_FRAME_HEADER_SIZE];
        ls_frame_header_encode(&h, ls_crc32c_value(p + LS_FRAME_HEADER_SIZE, h.stored_len), again);
        FUZZ_CHECK(memcmp(again, p, LS_FRAME_HEADER_SIZE) == 0);
    }
}

/* The rules of FORMAT.md §3 rule 2, stated independently of ls_format.c. */
static int fields_valid(const ls_frame_header *h) {
    if (h->flags & ~(LS_FRAME_F_ZSTD | LS_FRAME_F_SEAL)) return 0;
    if (h->first_lsn == 0) return 0;
    if (!(h->flags & LS_FRAME_F_ZSTD) && h->raw_len != h->stored_len) return 0;
    if ((h->flags & LS_FRAME_F_SEAL) && (h->record_count != 0 || h->stored_len != 16)) return 0;
    return 1;
}

static void check_built(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t mode = fin_u8(&in);
    ls_frame_header h = {0};
    h.record_count = fin_u32(&in);
    h.first_lsn = fin_u64(&in);
    h.segment_seq = fin_u64(&in);
    h.flags = fin_u16(&in);
    uint32_t raw_delta = fin_u32(&in);
    uint32_t flip = fin_u32(&in);
    size_t len;
    const uint8_t *body = fin_bytes(&in, in.n, &len);
    /* Mostly valid frames: the low bits of `mode` keep fields in range. */
    if (mode & 1) h.flags &= LS_FRAME_KNOWN_FLAGS;
    if ((mode & 2) && h.first_lsn == 0) h.first_lsn = 1;
    if (mode & 4) {
        h.flags &= (uint16_t)~LS_FRAME_F_SEAL;
    } else if (h.flags & LS_FRAME_F_SEAL) {
        h.record_count = 0;
        if (len > LS_SEAL_BODY_SIZE) len = LS_SEAL_BODY_SIZE;
    }
    h.stored_len = (uint32_t)len;
    h.raw_len = (h.flags & LS_FRAME_F_ZSTD) || (mode & 8) ? h.stored_len + raw_delta : h.stored_len;
    size_t total = LS_FRAME_HEADER_SIZE + len;
    uint8_t *frame = malloc(total + LS_FRAME_ALIGN);
    FUZZ_CHECK(frame != NULL);
    ls_frame_header_encode(&h, ls_crc32c_value(body, len), frame);
    if (len) memcpy(frame + LS_FRAME_HEADER_SIZE, body, len);
    ls_frame_header out;
    int rc = ls_frame_verify(frame, total, &out);
    if (fields_valid(&h)) {
        FUZZ_CHECK(rc == LS_FMT_OK);
        FUZZ_CHECK(out.stored_len == h.stored_len && out.record_count == h.record_count &&
                   out.first_lsn == h.first_lsn && out.segment_seq == h.segment_seq && out.flags == h.flags &&
                   out.raw_len == h.raw_len);
        /* The CRC detects every one-bit error in the bytes it covers; the magic is checked apart. */
        size_t bit = flip % (total * 8);
        frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        FUZZ_CHECK(ls_frame_verify(frame, total, &out) != LS_FMT_OK);
        frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        /* Cut anywhere: truncated, never accepted. */
        size_t cut = (size_t)(flip >> 8) % total;
        FUZZ_CHECK(ls_frame_verify(frame, cut, &out) == LS_FMT_TRUNCATED);
        /* Trailing bytes after the frame do not matter. */
        memset(frame + total, 0xa5, LS_FRAME_ALIGN);
        FUZZ_CHECK(ls_frame_verify(frame, total + LS_FRAME_ALIGN, &out) == LS_FMT_OK);
    } else {
        FUZZ_CHECK(rc == LS_FMT_BAD_FIELD);
    }
    free(frame);

    /* A segment header from the same bytes. */
    fuzz_input hin = {data, size};
    ls_segment_header sh = {0}, sh2;
    sh.version = (mode & 16) ? fin_u32(&hin) : LS_FORMAT_VERSION;
    sh.writer_id = fin_u64(&hin);
    sh.sequence = fin_u64(&hin);
    sh.base_lsn = fin_u64(&hin);
    sh.segment_size = fin_u64(&hin);
    uint8_t enc[LS_SEGMENT_HEADER_SIZE];
    ls_segment_header_encode(&sh, enc);
    rc = ls_segment_header_decode(enc, &sh2);
    if (sh.version == LS_FORMAT_VERSION && sh.base_lsn != 0) {
        FUZZ_CHECK(rc == LS_FMT_OK);
        FUZZ_CHECK(sh2.version == sh.version && sh2.writer_id == sh.writer_id && sh2.sequence == sh.sequence &&
                   sh2.base_lsn == sh.base_lsn && sh2.segment_size == sh.segment_size);
        size_t bit = flip % (LS_SEGMENT_HEADER_SIZE * 8);
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        FUZZ_CHECK(ls_segment_header_decode(enc, &sh2) != LS_FMT_OK);
    } else {
        FUZZ_CHECK(rc == LS_FMT_BAD_FIELD);
    }
}

static void check_crc(const uint8_t *data, size_t size) {
    size_t split = size ? data[0] % (size + 1) : 0;
    uint32_t all = ls_crc32c_value(data, size);
    FUZZ_CHECK(all == ref_crc32c(0, data, size));
    FUZZ_CHECK(all == ls_crc32c_extend_portable(0, data, size));
    uint32_t a = ls_crc32c_value(data, split), b = ls_crc32c_value(data + split, size - split);
    FUZZ_CHECK(ls_crc32c_extend(a, data + split, size - split) == all);
    FUZZ_CHECK(ls_crc32c_combine(a, b, size - split) == all);
    FUZZ_CHECK(ls_crc32c_unmask(ls_crc32c_mask(all)) == all);
}

int fuzz_frame(const uint8_t *data, size_t size) {
    check_raw(data, size);
    check_built(data, size);
    check_crc(data, size);
    return 0;
}
