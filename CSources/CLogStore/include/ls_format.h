/*
 * The on-disk format: segment header, frame, record. docs/FORMAT.md is the
 * prose version of this file; the two must say the same thing.
 *
 * All integers are little-endian. Stored CRCs are masked CRC32C (ls_crc32c.h).
 *
 * Segment file = header (64 bytes) | frame | frame | ... | [seal frame] | zeros
 *
 * Segment header (LS_SEGMENT_HEADER_SIZE = 64 bytes):
 *   off size
 *     0    8  magic "LOGSTSEG"
 *     8    4  format version (LS_FORMAT_VERSION)
 *    12    4  header size (64)
 *    16    8  writer id (new for every process that opens the log)
 *    24    8  segment sequence (global, +1 per new segment)
 *    32    8  base LSN: LSN of the first record this segment may hold
 *    40    8  segment size the file was preallocated to
 *    48   12  reserved, zero
 *    60    4  masked CRC32C of bytes 0..60
 *
 * Frame (one group commit = one frame = one durable write), starting at an 8-byte
 * aligned offset (LS_FRAME_ALIGN) so its length word never straddles a sector:
 *     0    4  magic "LSFR"
 *     4    4  masked CRC32C of bytes 8..(40 + stored length): header fields and body
 *     8    4  stored body length (bytes after the 40-byte header, before padding)
 *    12    4  record count
 *    16    8  first LSN (record i has LSN first + i)
 *    24    8  segment sequence (equal to the segment header's: stale frames of a
 *             recycled file never validate)
 *    32    2  flags: LS_FRAME_F_ZSTD (the body holds zstd container records),
 *             LS_FRAME_F_SEAL (last frame of a sealed segment; body is the seal)
 *    34    2  reserved, zero
 *    36    4  raw body length: the body's length with every container expanded
 *             (equals the stored length unless ZSTD)
 *    40    .  body, then zero padding up to the next multiple of 8 (not covered by the CRC)
 *
 * Record (packed back to back in a frame body):
 *     0    4  masked CRC32C of bytes 4..(12 + key length + value length)
 *     4    1  type (never 0, so zeroed bytes never decode as a record)
 *     5    1  flags (owned by the upper layer)
 *     6    2  key length
 *     8    4  value length
 *    12    .  key bytes, then value bytes
 *
 * A zstd container record (type LS_RECORD_TYPE_ZSTD_BATCH, reserved for the core) holds one
 * append's records compressed on the caller's thread: key = record count (u32) and
 * uncompressed length (u32); value = one zstd frame of those records, encoded as above.
 * Containers never nest. Each contained record takes one LSN; the container takes none.
 *
 * Seal frame body (LS_SEAL_BODY_SIZE = 16 bytes): last LSN written to the segment
 * (u64; first LSN - 1 when it holds no record) and the offset of the seal frame (u64).
 */
#ifndef LS_FORMAT_H
#define LS_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LS_FORMAT_VERSION 1u

#define LS_SEGMENT_MAGIC "LOGSTSEG"
#define LS_SEGMENT_MAGIC_SIZE 8
#define LS_SEGMENT_HEADER_SIZE 64
#define LS_SEGMENT_HEADER_CRC_OFFSET 60

#define LS_FRAME_MAGIC 0x5246534cu /* "LSFR" read as a little-endian u32 */
#define LS_FRAME_HEADER_SIZE 40
#define LS_FRAME_CRC_START 8 /* the CRC covers the frame from this byte on */
#define LS_FRAME_ALIGN 8
#define LS_FRAME_F_ZSTD 0x0001u
#define LS_FRAME_F_SEAL 0x0002u
#define LS_FRAME_KNOWN_FLAGS (LS_FRAME_F_ZSTD | LS_FRAME_F_SEAL)
#define LS_SEAL_BODY_SIZE 16

#define LS_RECORD_HEADER_SIZE 12
/* Record type of a zstd container (see above); upper layers use types 1..254. */
#define LS_RECORD_TYPE_ZSTD_BATCH 0xffu
#define LS_ZSTD_BATCH_KEY_SIZE 8
#define LS_RECORD_MAX_KEY 65535u

/* Status codes of the codec and scanner (0 is success). */
#define LS_FMT_OK 0
#define LS_FMT_TRUNCATED (-1) /* fewer bytes than the header or lengths require */
#define LS_FMT_BAD_MAGIC (-2)
#define LS_FMT_BAD_CRC (-3)
#define LS_FMT_BAD_FIELD (-4) /* a field out of its allowed range */

static inline uint64_t ls_align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

static inline void ls_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void ls_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ls_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t ls_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ls_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ls_get_u64(const uint8_t *p) {
    return (uint64_t)ls_get_u32(p) | ((uint64_t)ls_get_u32(p + 4) << 32);
}

/* ---- segment header ---- */

typedef struct ls_segment_header {
    uint32_t version;
    uint64_t writer_id;
    uint64_t sequence;
    uint64_t base_lsn;
    uint64_t segment_size;
} ls_segment_header;

void ls_segment_header_encode(const ls_segment_header *h, uint8_t out[LS_SEGMENT_HEADER_SIZE]);
/* LS_FMT_OK, LS_FMT_BAD_MAGIC, LS_FMT_BAD_CRC or LS_FMT_BAD_FIELD (unknown version, header
 * size, base LSN 0, or non-zero reserved bytes). */
int ls_segment_header_decode(const uint8_t in[LS_SEGMENT_HEADER_SIZE], ls_segment_header *h);

/* ---- frame ---- */

typedef struct ls_frame_header {
    uint32_t stored_len;
    uint32_t record_count;
    uint64_t first_lsn;
    uint64_t segment_seq;
    uint16_t flags;
    uint32_t raw_len;
} ls_frame_header;

/* Bytes a frame with this stored body length takes on disk, padding included. */
static inline uint64_t ls_frame_disk_size(uint32_t stored_len) {
    return ls_align_up((uint64_t)LS_FRAME_HEADER_SIZE + stored_len, LS_FRAME_ALIGN);
}

/*
 * Encodes the header into out[0..40). `body_crc` is the unmasked CRC32C of the
 * stored body (callers compute it once, possibly by combining per-append CRCs).
 */
void ls_frame_header_encode(const ls_frame_header *h, uint32_t body_crc, uint8_t out[LS_FRAME_HEADER_SIZE]);

/*
 * Decodes the fixed fields of a frame header without checking its CRC (that
 * needs the body): LS_FMT_OK, LS_FMT_BAD_MAGIC or LS_FMT_BAD_FIELD. *stored_crc
 * receives the unmasked CRC from the header.
 */
int ls_frame_header_decode(const uint8_t in[LS_FRAME_HEADER_SIZE], ls_frame_header *h, uint32_t *stored_crc);

/* CRC a frame must carry, given its encoded header and its stored body. */
uint32_t ls_frame_crc(const uint8_t header[LS_FRAME_HEADER_SIZE], const uint8_t *body, uint32_t stored_len);

/* Checks a whole frame in buf[0..avail): LS_FMT_OK (and *h set), or an LS_FMT_ error. */
int ls_frame_verify(const uint8_t *buf, size_t avail, ls_frame_header *h);

/* ---- record ---- */

typedef struct ls_record {
    uint8_t type;
    uint8_t flags;
    uint32_t key_len;
    uint32_t value_len;
    const uint8_t *key;
    const uint8_t *value;
} ls_record;

static inline size_t ls_record_encoded_size(uint32_t key_len, uint32_t value_len) {
    return (size_t)LS_RECORD_HEADER_SIZE + key_len + value_len;
}

/* Encodes r into out (ls_record_encoded_size bytes) with its CRC; returns bytes written.
 * Preconditions (checked by callers): type != 0, key_len <= LS_RECORD_MAX_KEY. */
size_t ls_record_encode(const ls_record *r, uint8_t *out);

/* Encodes `count` records back to back into out (the sum of their encoded sizes), exactly as
 * `count` calls of ls_record_encode would, hashing three records at a time (ls_crc32c_value3).
 * Returns bytes written. Same preconditions. */
size_t ls_records_encode(const ls_record *records, size_t count, uint8_t *out);

/*
 * Decodes one record from buf[0..avail); key and value point into buf.
 * Returns LS_FMT_OK and sets *consumed, or LS_FMT_TRUNCATED / LS_FMT_BAD_CRC /
 * LS_FMT_BAD_FIELD (type 0).
 */
int ls_record_decode(const uint8_t *buf, size_t avail, ls_record *r, size_t *consumed);

#ifdef __cplusplus
}
#endif
#endif /* LS_FORMAT_H */
