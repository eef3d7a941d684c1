/*
 * Encoders and decoders for the segment header, the frame header and the
 * record (layouts in include/ls_format.h and docs/FORMAT.md). Pure functions
 * over byte buffers: no I/O, no allocation.
 */
#include "ls_format.h"

#include "ls_crc32c.h"

_Static_assert(LS_SEGMENT_HEADER_CRC_OFFSET + 4 == LS_SEGMENT_HEADER_SIZE, "CRC is the last header field");
_Static_assert(LS_SEGMENT_HEADER_SIZE % LS_FRAME_ALIGN == 0, "the first frame starts aligned");
_Static_assert(LS_FRAME_HEADER_SIZE % LS_FRAME_ALIGN == 0, "frame bodies start aligned");

/* Segment header field offsets. */
enum {
    SEG_OFF_MAGIC = 0,
    SEG_OFF_VERSION = 8,
    SEG_OFF_HEADER_SIZE = 12,
    SEG_OFF_WRITER = 16,
    SEG_OFF_SEQUENCE = 24,
    SEG_OFF_BASE_LSN = 32,
    SEG_OFF_SIZE = 40,
};

/* Frame header field offsets. */
enum {
    FRAME_OFF_MAGIC = 0,
    FRAME_OFF_CRC = 4,
    FRAME_OFF_STORED_LEN = 8,
    FRAME_OFF_COUNT = 12,
    FRAME_OFF_FIRST_LSN = 16,
    FRAME_OFF_SEQ = 24,
    FRAME_OFF_FLAGS = 32,
    FRAME_OFF_RESERVED = 34,
    FRAME_OFF_RAW_LEN = 36,
};

/* Record header field offsets. */
enum {
    REC_OFF_CRC = 0,
    REC_OFF_TYPE = 4,
    REC_OFF_FLAGS = 5,
    REC_OFF_KEY_LEN = 6,
    REC_OFF_VALUE_LEN = 8,
};

void ls_segment_header_encode(const ls_segment_header *h, uint8_t out[LS_SEGMENT_HEADER_SIZE]) {
    memset(out, 0, LS_SEGMENT_HEADER_SIZE);
    memcpy(out + SEG_OFF_MAGIC, LS_SEGMENT_MAGIC, LS_SEGMENT_MAGIC_SIZE);
    ls_put_u32(out + SEG_OFF_VERSION, h->version);
    ls_put_u32(out + SEG_OFF_HEADER_SIZE, LS_SEGMENT_HEADER_SIZE);
    ls_put_u64(out + SEG_OFF_WRITER, h->writer_id);
    ls_put_u64(out + SEG_OFF_SEQUENCE, h->sequence);
    ls_put_u64(out + SEG_OFF_BASE_LSN, h->base_lsn);
    ls_put_u64(out + SEG_OFF_SIZE, h->segment_size);
    uint32_t crc = ls_crc32c_value(out, LS_SEGMENT_HEADER_CRC_OFFSET);
    ls_put_u32(out + LS_SEGMENT_HEADER_CRC_OFFSET, ls_crc32c_mask(crc));
}

int ls_segment_header_decode(const uint8_t in[LS_SEGMENT_HEADER_SIZE], ls_segment_header *h) {
    if (memcmp(in + SEG_OFF_MAGIC, LS_SEGMENT_MAGIC, LS_SEGMENT_MAGIC_SIZE) != 0) return LS_FMT_BAD_MAGIC;
    uint32_t crc = ls_crc32c_value(in, LS_SEGMENT_HEADER_CRC_OFFSET);
    if (ls_crc32c_unmask(ls_get_u32(in + LS_SEGMENT_HEADER_CRC_OFFSET)) != crc) return LS_FMT_BAD_CRC;
    h->version = ls_get_u32(in + SEG_OFF_VERSION);
    h->writer_id = ls_get_u64(in + SEG_OFF_WRITER);
    h->sequence = ls_get_u64(in + SEG_OFF_SEQUENCE);
    h->base_lsn = ls_get_u64(in + SEG_OFF_BASE_LSN);
    h->segment_size = ls_get_u64(in + SEG_OFF_SIZE);
    if (h->version != LS_FORMAT_VERSION) return LS_FMT_BAD_FIELD;
    if (ls_get_u32(in + SEG_OFF_HEADER_SIZE) != LS_SEGMENT_HEADER_SIZE) return LS_FMT_BAD_FIELD;
    if (h->base_lsn == 0) return LS_FMT_BAD_FIELD; /* LSNs start at 1 */
    for (int i = SEG_OFF_SIZE + 8; i < LS_SEGMENT_HEADER_CRC_OFFSET; i++)
        if (in[i] != 0) return LS_FMT_BAD_FIELD; /* reserved */
    return LS_FMT_OK;
}

static void frame_header_fields(const ls_frame_header *h, uint8_t out[LS_FRAME_HEADER_SIZE]) {
    ls_put_u32(out + FRAME_OFF_MAGIC, LS_FRAME_MAGIC);
    ls_put_u32(out + FRAME_OFF_CRC, 0);
    ls_put_u32(out + FRAME_OFF_STORED_LEN, h->stored_len);
    ls_put_u32(out + FRAME_OFF_COUNT, h->record_count);
    ls_put_u64(out + FRAME_OFF_FIRST_LSN, h->first_lsn);
    ls_put_u64(out + FRAME_OFF_SEQ, h->segment_seq);
    ls_put_u16(out + FRAME_OFF_FLAGS, h->flags);
    ls_put_u16(out + FRAME_OFF_RESERVED, 0);
    ls_put_u32(out + FRAME_OFF_RAW_LEN, h->raw_len);
}

/* CRC of header bytes 8..40 followed by a body whose own CRC is body_crc. */
static uint32_t frame_crc_from_parts(const uint8_t header[LS_FRAME_HEADER_SIZE], uint32_t body_crc,
                                     uint32_t stored_len) {
    uint32_t head = ls_crc32c_value(header + LS_FRAME_CRC_START, LS_FRAME_HEADER_SIZE - LS_FRAME_CRC_START);
    return ls_crc32c_combine(head, body_crc, stored_len);
}

void ls_frame_header_encode(const ls_frame_header *h, uint32_t body_crc, uint8_t out[LS_FRAME_HEADER_SIZE]) {
    frame_header_fields(h, out);
    uint32_t crc = frame_crc_from_parts(out, body_crc, h->stored_len);
    ls_put_u32(out + FRAME_OFF_CRC, ls_crc32c_mask(crc));
}

int ls_frame_header_decode(const uint8_t in[LS_FRAME_HEADER_SIZE], ls_frame_header *h, uint32_t *stored_crc) {
    if (ls_get_u32(in + FRAME_OFF_MAGIC) != LS_FRAME_MAGIC) return LS_FMT_BAD_MAGIC;
    *stored_crc = ls_crc32c_unmask(ls_get_u32(in + FRAME_OFF_CRC));
    h->stored_len = ls_get_u32(in + FRAME_OFF_STORED_LEN);
    h->record_count = ls_get_u32(in + FRAME_OFF_COUNT);
    h->first_lsn = ls_get_u64(in + FRAME_OFF_FIRST_LSN);
    h->segment_seq = ls_get_u64(in + FRAME_OFF_SEQ);
    h->flags = ls_get_u16(in + FRAME_OFF_FLAGS);
    h->raw_len = ls_get_u32(in + FRAME_OFF_RAW_LEN);
    if (h->flags & ~LS_FRAME_KNOWN_FLAGS) return LS_FMT_BAD_FIELD;
    if (ls_get_u16(in + FRAME_OFF_RESERVED) != 0) return LS_FMT_BAD_FIELD;
    if (h->first_lsn == 0) return LS_FMT_BAD_FIELD;
    if (!(h->flags & LS_FRAME_F_ZSTD) && h->raw_len != h->stored_len) return LS_FMT_BAD_FIELD;
    if ((h->flags & LS_FRAME_F_SEAL) && (h->record_count != 0 || h->stored_len != LS_SEAL_BODY_SIZE))
        return LS_FMT_BAD_FIELD;
    return LS_FMT_OK;
}

uint32_t ls_frame_crc(const uint8_t header[LS_FRAME_HEADER_SIZE], const uint8_t *body, uint32_t stored_len) {
    uint32_t crc = ls_crc32c_value(header + LS_FRAME_CRC_START, LS_FRAME_HEADER_SIZE - LS_FRAME_CRC_START);
    return ls_crc32c_extend(crc, body, stored_len);
}

int ls_frame_verify(const uint8_t *buf, size_t avail, ls_frame_header *h) {
    if (avail < LS_FRAME_HEADER_SIZE) return LS_FMT_TRUNCATED;
    uint32_t stored_crc;
    int rc = ls_frame_header_decode(buf, h, &stored_crc);
    if (rc != LS_FMT_OK) return rc;
    if (avail - LS_FRAME_HEADER_SIZE < h->stored_len) return LS_FMT_TRUNCATED;
    if (ls_frame_crc(buf, buf + LS_FRAME_HEADER_SIZE, h->stored_len) != stored_crc) return LS_FMT_BAD_CRC;
    return LS_FMT_OK;
}

/* Everything of a record but its CRC; returns its encoded size. */
static size_t record_encode_unsummed(const ls_record *r, uint8_t *out) {
    out[REC_OFF_TYPE] = r->type;
    out[REC_OFF_FLAGS] = r->flags;
    ls_put_u16(out + REC_OFF_KEY_LEN, (uint16_t)r->key_len);
    ls_put_u32(out + REC_OFF_VALUE_LEN, r->value_len);
    if (r->key_len) memcpy(out + LS_RECORD_HEADER_SIZE, r->key, r->key_len);
    if (r->value_len) memcpy(out + LS_RECORD_HEADER_SIZE + r->key_len, r->value, r->value_len);
    return ls_record_encoded_size(r->key_len, r->value_len);
}

size_t ls_record_encode(const ls_record *r, uint8_t *out) {
    size_t total = record_encode_unsummed(r, out);
    uint32_t crc = ls_crc32c_value(out + REC_OFF_TYPE, total - REC_OFF_TYPE);
    ls_put_u32(out + REC_OFF_CRC, ls_crc32c_mask(crc));
    return total;
}

size_t ls_records_encode(const ls_record *records, size_t count, uint8_t *out) {
    uint8_t *start = out;
    uint8_t *record[3];
    const void *summed[3];
    size_t summed_len[3];
    size_t held = 0; /* records encoded and waiting for their CRC */
    for (size_t i = 0; i < count; i++) {
        size_t total = record_encode_unsummed(&records[i], out);
        record[held] = out;
        summed[held] = out + REC_OFF_TYPE;
        summed_len[held] = total - REC_OFF_TYPE;
        out += total;
        if (++held == 3) {
            uint32_t crc[3];
            ls_crc32c_value3(summed, summed_len, crc);
            for (size_t k = 0; k < 3; k++) ls_put_u32(record[k] + REC_OFF_CRC, ls_crc32c_mask(crc[k]));
            held = 0;
        }
    }
    for (size_t k = 0; k < held; k++)
        ls_put_u32(record[k] + REC_OFF_CRC, ls_crc32c_mask(ls_crc32c_value(summed[k], summed_len[k])));
    return (size_t)(out - start);
}

int ls_record_decode(const uint8_t *buf, size_t avail, ls_record *r, size_t *consumed) {
    if (avail < LS_RECORD_HEADER_SIZE) return LS_FMT_TRUNCATED;
    r->type = buf[REC_OFF_TYPE];
    r->flags = buf[REC_OFF_FLAGS];
    r->key_len = ls_get_u16(buf + REC_OFF_KEY_LEN);
    r->value_len = ls_get_u32(buf + REC_OFF_VALUE_LEN);
    if (r->type == 0) return LS_FMT_BAD_FIELD;
    size_t total = ls_record_encoded_size(r->key_len, r->value_len);
    if (total > avail) return LS_FMT_TRUNCATED;
    uint32_t crc = ls_crc32c_value(buf + REC_OFF_TYPE, total - REC_OFF_TYPE);
    if (ls_crc32c_unmask(ls_get_u32(buf + REC_OFF_CRC)) != crc) return LS_FMT_BAD_CRC;
    r->key = buf + LS_RECORD_HEADER_SIZE;
    r->value = buf + LS_RECORD_HEADER_SIZE + r->key_len;
    *consumed = total;
    return LS_FMT_OK;
}
