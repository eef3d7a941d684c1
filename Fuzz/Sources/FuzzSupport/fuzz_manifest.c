/*
 * Target `manifest`: the manifest reader (ls_manifest.c; FORMAT.md §9) on a manifest file held
 * by the in-memory ls_io: the read-only replay of the inspector (ls_manifest_replay_readonly)
 * and the replay at open (ls_manifest_open: cuts a torn tail, refuses damage followed by a
 * valid record, rewrites past its bound).
 *
 * Input: a flags byte, [1 byte: rewrite bound / 8 when bit 1], then the manifest file.
 *   bit 0  fix the CRC of every record whose magic and length fit (to get past the CRCs)
 *   bit 1  a small rewrite bound, so open rewrites the file
 *   bit 2  a leftover manifest.log.tmp (open must remove it; the read-only replay must not)
 *
 * Invariants: the read-only replay succeeds, leaves the files alone, reports records at
 * increasing aligned offsets within the file that account, with the damaged ranges and a torn
 * tail, for every byte. Open succeeds exactly when the read-only replay found no damage
 * other than a torn tail, and then rebuilds the same state, cuts the file to its valid
 * records (or writes a HEADER into an empty one), and a second open finds nothing torn and the
 * same state; a rewrite (and then an append) replays to the same state. A refused open
 * names the offset of the first damage the read-only replay reported and changes nothing.
 */
#include <inttypes.h>
#include <string.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"

#define ROOT "/fuzz"
#define MF_PATH ROOT "/manifest/manifest.log"
#define MF_TMP MF_PATH ".tmp"
#define MF_MAGIC 0x464D534Cu

typedef struct ro_ctx {
    const uint8_t *file;
    size_t n;
    uint64_t expect;    /* where the next record starts if nothing is damaged */
    int torn;           /* a torn tail was reported (nothing may follow) */
    uint64_t torn_off;
    int damage_at_expect; /* a damaged record was reported at `expect` */
    int problems;       /* problems other than a torn tail */
    uint64_t first_problem;
    uint64_t bytes;
} ro_ctx;

static void on_record(void *vctx, uint64_t off, uint16_t type, uint32_t len, const uint8_t *payload) {
    ro_ctx *c = vctx;
    FUZZ_CHECK(!c->torn);
    FUZZ_CHECK(off % 8 == 0 && off >= c->expect);
    if (off > c->expect) FUZZ_CHECK(c->damage_at_expect);
    FUZZ_CHECK(len % 8 == 0 && len <= 4096 && off + 16 + len <= c->n);
    FUZZ_CHECK(payload == NULL || memcmp(payload, c->file + off + 16, len) == 0);
    FUZZ_CHECK(ls_get_u32(c->file + off) == MF_MAGIC && ls_get_u16(c->file + off + 12) == type);
    FUZZ_CHECK(ls_crc32c_unmask(ls_get_u32(c->file + off + 4)) == ref_crc32c(0, c->file + off + 8, 8 + (size_t)len));
    c->expect = off + 16 + len;
    c->damage_at_expect = 0;
    c->bytes += 16 + len;
}

static void on_problem(void *vctx, uint64_t off, int torn, const char *what) {
    ro_ctx *c = vctx;
    FUZZ_CHECK(!c->torn);
    FUZZ_CHECK(what && what[0]);
    FUZZ_CHECK(off % 8 == 0 && off < c->n);
    if (torn) {
        c->torn = 1;
        c->torn_off = off;
        return;
    }
    if (c->problems++ == 0) c->first_problem = off;
    if (off == c->expect) c->damage_at_expect = 1;
}

/* The state two replays must agree on. `writers`: also the list of WRITER_STARTs (not kept by
 * a rewrite, which writes only the last). */
static void same_state(const ls_manifest *a, const ls_manifest *b, int writers, int checkpoint) {
    FUZZ_CHECK(a->next_seq == b->next_seq);
    FUZZ_CHECK(a->nsegs == b->nsegs);
    for (size_t i = 0; i < a->nsegs; i++) {
        const ls_mf_segment *x = &a->segs[i], *y = &b->segs[i];
        FUZZ_CHECK(x->seq == y->seq && x->writer_id == y->writer_id && x->sealed == y->sealed &&
                   x->last_lsn == y->last_lsn && x->end == y->end && x->obsolete == y->obsolete &&
                   x->dropped == y->dropped && x->removed == y->removed);
        if (i > 0) FUZZ_CHECK(a->segs[i - 1].seq < x->seq); /* sorted, unique */
        FUZZ_CHECK(x->seq < a->next_seq || x->seq == UINT64_MAX);
    }
    FUZZ_CHECK(a->nskips == b->nskips);
    for (size_t i = 0; i < a->nskips; i++) FUZZ_CHECK(memcmp(&a->skips[i], &b->skips[i], sizeof a->skips[i]) == 0);
    FUZZ_CHECK(a->writer_id == b->writer_id);
    if (a->writer_id) FUZZ_CHECK(a->start_time_ns == b->start_time_ns && a->pid == b->pid);
    if (writers) {
        FUZZ_CHECK(a->nwriters == b->nwriters);
        if (a->nwriters) FUZZ_CHECK(memcmp(a->writers, b->writers, a->nwriters * sizeof *a->writers) == 0);
    }
    if (checkpoint) {
        FUZZ_CHECK(a->have_checkpoint == b->have_checkpoint && a->checkpoint_len == b->checkpoint_len);
        if (a->checkpoint_len) FUZZ_CHECK(memcmp(a->checkpoint, b->checkpoint, a->checkpoint_len) == 0);
    }
}

/* Opens the manifest in `io` again; it must open cleanly with nothing torn. */
static void reopen_same(ls_io *io, const ls_manifest *want, int writers) {
    ls_manifest m;
    ls_error err;
    FUZZ_CHECK(ls_manifest_init(&m, io, ROOT, UINT64_MAX) == 0);
    int rc = ls_manifest_open(&m, 0, &err);
    if (rc != 0) fprintf(stderr, "reopen: %s\n", err.message);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(m.torn_bytes == 0);
    same_state(want, &m, writers, 1);
    ls_manifest_free(&m);
}

static int file_is(ls_io *io, const char *path, const uint8_t *p, size_t n) {
    size_t got;
    const uint8_t *d = memio_get(io, path, &got);
    return d && got == n && (n == 0 || memcmp(d, p, n) == 0);
}

int fuzz_manifest(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    uint8_t flags = fin_u8(&in);
    uint64_t max_bytes = (flags & 2) ? (uint64_t)fin_u8(&in) * 8 : UINT64_MAX;
    size_t n = in.n;
    uint8_t *file = fuzz_dup(in.p, n);
    if (flags & 1) fixup_manifest(file, n);

    ls_io *io = memio_create(1);
    memio_put(io, MF_PATH, file, n);
    if (flags & 4) memio_put(io, MF_TMP, (const uint8_t *)"partial", 7);

    /* 1. The read-only replay (the inspector's). */
    ls_manifest ro;
    ls_error err;
    FUZZ_CHECK(ls_manifest_init(&ro, io, ROOT, UINT64_MAX) == 0);
    ro_ctx c = {.file = file, .n = n};
    ls_mf_readonly_hooks hooks = {&c, on_record, on_problem};
    int rc = ls_manifest_replay_readonly(&ro, &hooks, &err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(file_is(io, MF_PATH, file, n));
    FUZZ_CHECK(!(flags & 4) || memio_get(io, MF_TMP, &(size_t){0}) != NULL);
    FUZZ_CHECK(memio_open_fds(io) == 0);
    FUZZ_CHECK(ro.replayed_bytes == c.bytes);
    if (c.torn) {
        FUZZ_CHECK(c.torn_off == c.expect);
        FUZZ_CHECK(ro.torn_bytes == n - c.torn_off);
    } else {
        FUZZ_CHECK(c.expect == n);
        FUZZ_CHECK(ro.torn_bytes == 0);
    }

    /* 2. The replay at open. */
    ls_manifest m;
    FUZZ_CHECK(ls_manifest_init(&m, io, ROOT, max_bytes) == 0);
    memset(&err, 0, sizeof err);
    rc = ls_manifest_open(&m, 0, &err);
    if (fuzz_verbose())
        fprintf(stderr, "manifest: read-only %d problems, torn %d; open %d (%s), %zu segments, %zu skips, rewrites %" PRIu64 "\n",
                c.problems, c.torn, rc, rc ? err.message : "ok", m.nsegs, m.nskips, m.rewrites);
    FUZZ_CHECK(rc == 0 || rc == LS_E_CORRUPT);
    FUZZ_CHECK(memio_get(io, MF_TMP, &(size_t){0}) == NULL);
    if (rc == LS_E_CORRUPT) {
        /* Refused at the first damage, with nothing changed. */
        FUZZ_CHECK(c.problems > 0);
        FUZZ_CHECK(err.has_offset && err.offset == c.first_problem);
        FUZZ_CHECK(file_is(io, MF_PATH, file, n));
    } else {
        FUZZ_CHECK(c.problems == 0);
        FUZZ_CHECK(m.replayed_bytes == ro.replayed_bytes && m.torn_bytes == ro.torn_bytes &&
                   m.replayed_records == ro.replayed_records);
        FUZZ_CHECK(m.replayed_bytes + m.torn_bytes == n);
        same_state(&ro, &m, 1, 0);
        if (m.rewrites == 0) {
            if (m.replayed_bytes == 0) {
                size_t got;
                const uint8_t *d = memio_get(io, MF_PATH, &got);
                FUZZ_CHECK(d && got == 32 && ls_get_u32(d) == MF_MAGIC && ls_get_u16(d + 12) == LS_MF_HEADER &&
                           ls_get_u64(d + 16) == 1 && ls_get_u64(d + 24) == m.next_seq);
            } else {
                FUZZ_CHECK(file_is(io, MF_PATH, file, (size_t)m.replayed_bytes));
            }
        }
        reopen_same(io, &m, m.rewrites == 0 && m.replayed_bytes > 0);
        /* A rewrite keeps the state; an append after it is replayed too. */
        FUZZ_CHECK(ls_manifest_rewrite(&m, &err) == 0);
        reopen_same(io, &m, 0);
        if (m.next_seq != 0 && m.next_seq != UINT64_MAX) {
            ls_mf_event ev = {.type = LS_MF_SEGMENT_OPEN, .a = m.next_seq, .b = 0x77};
            FUZZ_CHECK(ls_manifest_append(&m, &ev, 1, &err) == 0);
            FUZZ_CHECK(ls_manifest_segment(&m, ev.a) != NULL && m.next_seq == ev.a + 1);
            reopen_same(io, &m, 0);
        }
    }
    ls_manifest_free(&m);
    ls_manifest_free(&ro);
    FUZZ_CHECK(memio_open_fds(io) == 0);
    ls_io_destroy(io);
    free(file);
    return 0;
}
