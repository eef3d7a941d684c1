/*
 * Target `scan`: the segment scanner (ls_scan.c ls_segment_scan_opts, through ls_window.c) on
 * a segment file held by the in-memory ls_io (FORMAT.md §2, §3, §7.2).
 *
 * Input: a flags byte, [4 bytes of skip range], then the segment file.
 *   bit 0  fix the CRCs of the header, frames and records first (to get past them)
 *   bit 1  salvage mode
 *   bit 2  let the ls_io map the file (the scanner reads through the mapping, else pread)
 *   bit 3  a skip range: offset u16, length u16 (as the manifest's RECOVERY_SKIP)
 *   bit 4  scan under the wrong sequence (header sequence ^ 1)
 *   bit 5  the visitor stops at the first frame
 *   bit 6  pad the file with zeros to 64 KiB (a preallocated segment; large enough to map)
 *
 * Invariants: the scan succeeds (the in-memory I/O never fails); every frame it yields is at
 * an aligned offset, within the file, passes ls_frame_verify (so its CRC), carries this
 * sequence, has zero padding and the expected LSN, and its body is the file's bytes;
 * data_end is aligned and within the (aligned) file; the counts add up; a seal agrees with the
 * frames; CLEAN and TORN leave no valid frame of the segment after them (checked by trying
 * every aligned offset); a zero tail is zeros; salvage ranges end at valid frames; and a
 * second scan through the other read path (mapped or pread) gives the same result.
 */
#include <inttypes.h>
#include <string.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"

#define SEG_PATH "/fuzz/segments/seg-0000000000000001-0000000000000001.log"
#define PAD_SIZE (64u * 1024u)

typedef struct scan_ctx {
    const uint8_t *file;
    size_t n;
    uint64_t seq;
    int stop_first;
    int strict; /* no salvage, no skip range: frames follow one another, LSNs without gaps */
    uint64_t frames, records, visits;
    uint64_t prev_end;  /* end of the previous frame on disk (0 before the first) */
    uint64_t next_lsn;  /* first LSN the next frame must carry (0 before the first) */
    uint64_t first_frame_lsn;
} scan_ctx;

static int is_valid_frame(const uint8_t *file, size_t n, uint64_t off, uint64_t seq, ls_frame_header *h) {
    if (off > n) return 0;
    return ls_frame_verify(file + off, n - off, h) == LS_FMT_OK && h->segment_seq == seq;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static int visit(void *vctx, uint64_t off, const ls_frame_header *h, const uint8_t *body) {
    scan_ctx *c = vctx;
    c->visits++;
    FUZZ_CHECK(off % LS_FRAME_ALIGN == 0 && off >= LS_SEGMENT_HEADER_SIZE);
    FUZZ_CHECK(off >= c->prev_end);
    if (c->strict) FUZZ_CHECK(off == (c->prev_end ? c->prev_end : LS_SEGMENT_HEADER_SIZE));
    FUZZ_CHECK(off + LS_FRAME_HEADER_SIZE + (uint64_t)h->stored_len <= c->n);
    ls_frame_header v;
    FUZZ_CHECK(is_valid_frame(c->file, c->n, off, c->seq, &v));
    FUZZ_CHECK(v.stored_len == h->stored_len && v.record_count == h->record_count && v.first_lsn == h->first_lsn &&
               v.flags == h->flags && v.raw_len == h->raw_len);
    FUZZ_CHECK(!(h->flags & LS_FRAME_F_SEAL));
    FUZZ_CHECK(memcmp(body, c->file + off + LS_FRAME_HEADER_SIZE, h->stored_len) == 0);
    uint64_t body_end = off + LS_FRAME_HEADER_SIZE + h->stored_len, end = off + ls_frame_disk_size(h->stored_len);
    /* Zero padding; a file that ends inside the padding keeps the frame, and the padding bytes
     * it holds are not checked (FORMAT.md §3, rule 6). */
    if (end <= c->n) FUZZ_CHECK(all_zero(c->file + body_end, (size_t)(end - body_end)));
    if (c->next_lsn) FUZZ_CHECK(c->strict ? h->first_lsn == c->next_lsn : h->first_lsn >= c->next_lsn);
    else c->first_frame_lsn = h->first_lsn;
    c->prev_end = end;
    c->next_lsn = h->first_lsn + h->record_count;
    if (c->stop_first) return 1;
    c->frames++;
    c->records += h->record_count;
    return 0;
}

static void same_result(const ls_scan_result *a, const ls_scan_result *b) {
    FUZZ_CHECK(a->end == b->end && a->header_state == b->header_state && a->data_end == b->data_end &&
               a->bad_offset == b->bad_offset && a->file_size == b->file_size && a->first_lsn == b->first_lsn &&
               a->last_lsn == b->last_lsn && a->frames == b->frames && a->records == b->records &&
               a->head_skipped == b->head_skipped && a->tail_skipped == b->tail_skipped &&
               a->zero_tail == b->zero_tail && a->ndamage == b->ndamage && strcmp(a->detail, b->detail) == 0);
    for (size_t i = 0; i < a->ndamage; i++)
        FUZZ_CHECK(memcmp(&a->damage[i], &b->damage[i], sizeof a->damage[i]) == 0);
}

static void scan(ls_io *io, const scan_ctx *proto, uint64_t seq, const ls_scan_opts *opts, scan_ctx *c,
                 ls_scan_result *res) {
    *c = *proto;
    int fd = io->vt->open(io, SEG_PATH, O_RDONLY, 0);
    FUZZ_CHECK(fd >= 0);
    ls_error err;
    memset(&err, 0, sizeof err);
    int rc = ls_segment_scan_opts(io, fd, SEG_PATH, seq, opts, visit, c, res, &err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(io->vt->close(io, fd) == 0);
    FUZZ_CHECK(memio_open_fds(io) == 0);
}

int fuzz_scan(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t flags = fin_u8(&in);
    ls_skip_range skip = {0};
    if (flags & 8) {
        skip.offset = fin_u16(&in);
        skip.length = fin_u16(&in);
    }
    size_t n = in.n, cap = (flags & 64) && n < PAD_SIZE ? PAD_SIZE : n;
    uint8_t *file = calloc(cap ? cap : 1, 1);
    FUZZ_CHECK(file != NULL);
    if (n) memcpy(file, in.p, n);
    if (flags & 1) fixup_segment(file, n);
    n = cap;
    uint64_t seq = (n >= 32 ? ls_get_u64(file + 24) : 1) ^ ((flags & 16) ? 1 : 0);
    skip.seq = seq;
    ls_scan_opts opts = {(flags & 8) ? &skip : NULL, (flags & 8) ? 1 : 0, (flags & 2) ? 1 : 0};
    int strict = !(flags & 8) && !(flags & 2);

    ls_io *io = memio_create(flags & 4);
    memio_put(io, SEG_PATH, file, n);
    scan_ctx proto = {.file = file, .n = n, .seq = seq, .stop_first = (flags & 32) != 0, .strict = strict};
    scan_ctx c;
    ls_scan_result res;
    scan(io, &proto, seq, &opts, &c, &res);

    if (fuzz_verbose())
        fprintf(stderr, "scan: end %d, header %d, data_end %" PRIu64 ", frames %" PRIu64 ", records %" PRIu64
                ", LSN %" PRIu64 "..%" PRIu64 ", damaged ranges %zu, %s\n",
                (int)res.end, res.header_state, res.data_end, res.frames, res.records, res.first_lsn, res.last_lsn,
                res.ndamage, res.detail);
    FUZZ_CHECK(res.file_size == n);
    FUZZ_CHECK(res.end >= LS_SCAN_CLEAN && res.end <= LS_SCAN_CORRUPT);
    /* data_end is within the file (its aligned end: a file cut inside the padding of its last frame
     * keeps that frame). A head-skipped file shorter than its header is walked from 64 on. */
    FUZZ_CHECK(res.data_end % LS_FRAME_ALIGN == 0);
    FUZZ_CHECK(res.data_end <= ls_align_up(n, LS_FRAME_ALIGN) ||
               (res.head_skipped && n < LS_SEGMENT_HEADER_SIZE && res.data_end == LS_SEGMENT_HEADER_SIZE));
    FUZZ_CHECK(res.frames == c.frames && res.records == c.records);
    int stopped = c.stop_first && c.visits > 0;
    if (stopped) FUZZ_CHECK(res.end == LS_SCAN_CLEAN && res.data_end == c.prev_end);
    /* The last LSN is the last frame's, or the seal's (which may follow a skipped range). */
    int by_seal = res.end == LS_SCAN_SEALED && !res.tail_skipped;
    if (c.frames > 0 && (strict || !by_seal)) FUZZ_CHECK(res.last_lsn == c.next_lsn - 1);
    if (c.frames > 0 && by_seal) FUZZ_CHECK(res.last_lsn >= c.next_lsn - 1);
    FUZZ_CHECK(res.bad_offset <= n);

    /* The header state says what the first 64 bytes are. */
    ls_segment_header hdr;
    int hrc = n >= LS_SEGMENT_HEADER_SIZE ? ls_segment_header_decode(file, &hdr) : LS_FMT_TRUNCATED;
    int hdr_zero = n < LS_SEGMENT_HEADER_SIZE || all_zero(file, LS_SEGMENT_HEADER_SIZE);
    if (hdr_zero) FUZZ_CHECK(res.header_state == 1);
    else if (hrc == LS_FMT_OK && hdr.sequence == seq) FUZZ_CHECK(res.header_state == 0);
    else FUZZ_CHECK(res.header_state == -1);
    if (res.header_state == 0) {
        FUZZ_CHECK(res.header.base_lsn == hdr.base_lsn && res.header.writer_id == hdr.writer_id &&
                   res.first_lsn == hdr.base_lsn);
        if (strict && c.visits > 0) FUZZ_CHECK(c.first_frame_lsn == hdr.base_lsn);
        if (c.visits == 0 && !res.head_skipped && (strict || !by_seal)) FUZZ_CHECK(res.last_lsn == hdr.base_lsn - 1);
    } else if (strict) {
        FUZZ_CHECK(c.visits == 0 && res.data_end == 0 && !res.head_skipped);
    }
    /* Strict: the frames tile [64, data_end). */
    if (strict && res.header_state == 0 && !stopped)
        FUZZ_CHECK(res.data_end == (c.visits ? c.prev_end : LS_SEGMENT_HEADER_SIZE));

    /* A seal agrees with the frames before it (FORMAT.md §3 "Seal frame"). */
    if (res.end == LS_SCAN_SEALED && !res.tail_skipped) {
        ls_frame_header h;
        FUZZ_CHECK(is_valid_frame(file, n, res.data_end, seq, &h));
        FUZZ_CHECK(h.flags & LS_FRAME_F_SEAL);
        const uint8_t *body = file + res.data_end + LS_FRAME_HEADER_SIZE;
        FUZZ_CHECK(ls_get_u64(body) == res.last_lsn && ls_get_u64(body + 8) == res.data_end);
    }
    /* A clean end: a zeroed frame header, fewer than 40 zero bytes, or the end of the file. */
    if (res.end == LS_SCAN_CLEAN && !stopped && (res.header_state == 0 || res.head_skipped) &&
        res.data_end < n) {
        size_t left = n - (size_t)res.data_end;
        FUZZ_CHECK(all_zero(file + res.data_end, left < LS_FRAME_HEADER_SIZE ? left : LS_FRAME_HEADER_SIZE));
    }
    if (res.zero_tail) {
        uint64_t from = res.header_state == 1 && !res.head_skipped ? 0 : res.data_end;
        if (from < n) FUZZ_CHECK(all_zero(file + from, n - (size_t)from));
    }
    /* CLEAN and TORN: no valid frame of this segment after the end (FORMAT.md §7.2). */
    if (strict && !stopped && (res.end == LS_SCAN_CLEAN || res.end == LS_SCAN_TORN)) {
        uint64_t from = res.end == LS_SCAN_TORN ? res.bad_offset + LS_FRAME_ALIGN
                        : res.header_state == 1 ? LS_SEGMENT_HEADER_SIZE : res.data_end;
        if (res.end == LS_SCAN_TORN && res.bad_offset == 0) from = LS_SEGMENT_HEADER_SIZE;
        for (uint64_t o = ls_align_up(from, LS_FRAME_ALIGN); o + LS_FRAME_HEADER_SIZE <= n; o += LS_FRAME_ALIGN) {
            ls_frame_header h;
            FUZZ_CHECK(!is_valid_frame(file, n, o, seq, &h));
        }
    }
    if (res.end == LS_SCAN_TORN) FUZZ_CHECK(res.bad_offset == res.data_end);
    /* Salvage: each damaged range ends where a valid frame starts. */
    uint64_t prev = 0;
    for (size_t i = 0; i < res.ndamage; i++) {
        const ls_skip_range *d = &res.damage[i];
        ls_frame_header h;
        FUZZ_CHECK(opts.salvage && d->seq == seq && d->length > 0 && d->offset >= prev);
        FUZZ_CHECK(d->offset + d->length <= n && is_valid_frame(file, n, d->offset + d->length, seq, &h));
        prev = d->offset + d->length;
    }

    /* The other read path (mapping vs pread) gives the same answer. */
    ls_io *io2 = memio_create(!(flags & 4));
    memio_put(io2, SEG_PATH, file, n);
    scan_ctx c2;
    ls_scan_result res2;
    scan(io2, &proto, seq, &opts, &c2, &res2);
    same_result(&res, &res2);
    FUZZ_CHECK(c2.visits == c.visits && c2.prev_end == c.prev_end);

    ls_scan_result_free(&res);
    ls_scan_result_free(&res2);
    ls_io_destroy(io);
    ls_io_destroy(io2);
    free(file);
    return 0;
}
