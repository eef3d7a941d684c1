/*
 * CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), as used by
 * iSCSI (RFC 3720), ext4 and LevelDB.
 *
 * ls_crc32c_extend() picks at first use between a hardware implementation
 * (SSE4.2 `crc32` instruction, three interleaved streams combined with a
 * carry-less multiply or a table-driven shift) and a portable slicing-by-8
 * table implementation. Both give identical results.
 *
 * Thread safety: every function may be called from any thread. The first call
 * builds the tables and picks the implementation under pthread_once; later
 * calls take no lock (one atomic load of the chosen function).
 *
 * Stored CRCs are *masked* (LevelDB's rule): a CRC computed over data that
 * itself contains an embedded CRC is otherwise prone to trivial collisions.
 */
#ifndef LS_CRC32C_H
#define LS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the CRC32C of data[0..n) appended to a stream whose CRC so far is
 * `crc` (0 for an empty stream). ls_crc32c_extend(0, "123456789", 9) == 0xE3069283. */
uint32_t ls_crc32c_extend(uint32_t crc, const void *data, size_t n);

/* ls_crc32c_extend(0, data, n). */
static inline uint32_t ls_crc32c_value(const void *data, size_t n) {
    return ls_crc32c_extend(0, data, n);
}

/* out[i] = ls_crc32c_value(data[i], n[i]) for three independent buffers. The hardware path
 * hashes them side by side: one stream is bound by the `crc32` instruction's latency, three
 * keep it busy, so many small records (a Raft batch's entries) cost about a third. */
void ls_crc32c_value3(const void *const data[3], const size_t n[3], uint32_t out[3]);

/* Given crc_a = CRC(A) and crc_b = CRC(B) with |B| = len_b bytes, returns CRC(A || B)
 * without touching the bytes: lets the writer combine CRCs that callers computed. */
uint32_t ls_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

/* The portable implementation, exported so tests can compare it with the hardware one. */
uint32_t ls_crc32c_extend_portable(uint32_t crc, const void *data, size_t n);

/* 1 when ls_crc32c_extend uses the hardware instruction on this CPU, else 0. */
int ls_crc32c_is_hardware(void);

/* Delta added by the mask, as in LevelDB: rotate right by 15 bits and add. */
#define LS_CRC32C_MASK_DELTA 0xa282ead8u

/* The form in which a CRC is stored on disk. */
static inline uint32_t ls_crc32c_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + LS_CRC32C_MASK_DELTA;
}

/* Inverse of ls_crc32c_mask. */
static inline uint32_t ls_crc32c_unmask(uint32_t masked) {
    uint32_t rot = masked - LS_CRC32C_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#ifdef __cplusplus
}
#endif
#endif /* LS_CRC32C_H */
