/*
 * Read-only inspection of a store (include/ls_inspect.h, docs/FORMAT.md §7.6).
 *
 * The same checks as recovery (ls_recovery.c), without its actions: it takes LOCK only to
 * keep a writer out while it reads, replays the manifest with ls_manifest_replay_readonly,
 * lists segments/ and scans every file with the salvage scanner (ls_segment_scan_opts,
 * salvage = 1, the manifest's skip ranges honoured), which resynchronises at the next valid
 * frame instead of stopping. Every frame it accepts is then decoded record by record (record
 * CRCs, zstd containers expanded and their records checked). Once every file is scanned, the
 * cross-segment rules of recovery's find_damage are applied to all segments, reporting each
 * violation instead of the first. Nothing is ever opened for writing.
 *
 * Steps:
 *   1. LOCK: open read-only (a store without LOCK is inspected unlocked: creating it would be a
 *      write), flock(LOCK_EX | LOCK_NB); EWOULDBLOCK is LS_E_BUSY naming the holder.
 *   2. Manifest: replayed read-only; damaged records are problems, a torn last record a torn tail.
 *   3. Directory: segment names parsed; two files with one sequence is a problem.
 *   4. Each file: obsolete ones are not scanned; the others are scanned (records reported for
 *      listed ones only), each salvage damage range becoming a problem.
 *   5. Manifest vs directory: listed but missing, unlisted with data.
 *   6. Cross-segment rules (newest with data, seals, LSN continuity).
 *   7. Files in snapshots/ (valid names, FORMAT.md §12): header, length and data CRC each
 *      (ls_blob_verify_file, read-only). Then the callbacks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_crc32c.h"
#include "ls_inspect.h"
#include "ls_internal.h"

/* One segment file found in segments/. */
typedef struct insp_file {
    uint64_t writer_id, seq;
    char path[LS_PATH_MAX];
    ls_scan_result scan;
    int scanned;
    int listed, obsolete;
    uint64_t frame_bytes;
    uint64_t record_problems;
} insp_file;

/* A problem and where it sorts: group 0 = store and manifest, 1 = segments (by seq, offset),
 * 2 = files in snapshots/ (in the order found: by name). */
typedef struct insp_problem {
    ls_inspect_problem p;
    int group;
    size_t order;
} insp_problem;

typedef struct insp_writer {
    ls_inspect_writer w;
} insp_writer;

typedef struct inspector {
    const char *root;
    char seg_dir[LS_PATH_MAX];
    ls_io *io;
    const ls_inspect_callbacks *cb;
    ls_inspect_summary *sum;
    ls_manifest m;
    int have_manifest;
    insp_file *files;
    size_t nfiles, cap_files;
    insp_problem *problems;
    size_t nproblems, cap_problems;
    insp_writer *writers;
    size_t nwriters, cap_writers;
    int nomem;
    int stopped;
    uint8_t *inner; /* an expanded zstd container */
    size_t inner_cap;
    ls_inspect_file *blobs; /* files in snapshots/ */
    size_t nblobs, cap_blobs;
} inspector;

static int grow(void **v, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*v, c * size);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

static void add_problem(inspector *in, int kind, int corruption, uint64_t seq, const char *path, int has_offset,
                        uint64_t offset, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void add_problem(inspector *in, int kind, int corruption, uint64_t seq, const char *path, int has_offset,
                        uint64_t offset, const char *fmt, ...) {
    if (grow((void **)&in->problems, &in->cap_problems, in->nproblems, sizeof *in->problems) < 0) {
        in->nomem = 1;
        return;
    }
    insp_problem *q = &in->problems[in->nproblems];
    memset(q, 0, sizeof *q);
    q->p.kind = kind;
    q->p.corruption = corruption;
    q->p.segment_seq = seq;
    q->p.offset = has_offset ? offset : 0;
    q->p.has_offset = has_offset;
    snprintf(q->p.path, sizeof q->p.path, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->p.message, sizeof q->p.message, fmt, ap);
    va_end(ap);
    q->group = kind == LS_INSPECT_CORRUPT_FILE ? 2 : kind == LS_INSPECT_MANIFEST || seq == 0 ? 0 : 1;
    q->order = in->nproblems++;
}

static int by_problem_order(const void *a, const void *b) {
    const insp_problem *x = a, *y = b;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->group == 1) {
        if (x->p.segment_seq != y->p.segment_seq) return x->p.segment_seq < y->p.segment_seq ? -1 : 1;
        if (x->p.offset != y->p.offset) return x->p.offset < y->p.offset ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_file_seq(const void *a, const void *b) {
    const insp_file *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->writer_id < y->writer_id ? -1 : x->writer_id > y->writer_id;
}

static insp_writer *writer_entry(inspector *in, uint64_t id) {
    for (size_t i = 0; i < in->nwriters; i++)
        if (in->writers[i].w.writer_id == id) return &in->writers[i];
    if (grow((void **)&in->writers, &in->cap_writers, in->nwriters, sizeof *in->writers) < 0) {
        in->nomem = 1;
        return NULL;
    }
    insp_writer *w = &in->writers[in->nwriters++];
    memset(w, 0, sizeof *w);
    w->w.writer_id = id;
    return w;
}

/* ---- 1. LOCK ---- */

/* Takes LOCK read-only; *fd = -1 when the store has no LOCK file. */
static int take_lock(inspector *in, int *fd, ls_error *err) { return ls_layout_lock_reader(in->io, in->root, fd, err); }

/* ---- 2. manifest ---- */

static void mf_record(void *ctx, uint64_t offset, uint16_t type, uint32_t len, const uint8_t *payload) {
    (void)offset;
    inspector *in = ctx;
    if (type < LS_INSPECT_MANIFEST_TYPES) in->sum->manifest_events[type]++;
    if (type == LS_MF_WRITER_START && len == 24) {
        insp_writer *w = writer_entry(in, ls_get_u64(payload));
        if (w) {
            w->w.starts++;
            w->w.start_time_ns = ls_get_u64(payload + 8);
            w->w.pid = ls_get_u64(payload + 16);
        }
    } else if (type == LS_MF_SEGMENT_OPEN && len == 16) {
        writer_entry(in, ls_get_u64(payload + 8));
    }
}

static void mf_problem(void *ctx, uint64_t offset, int torn, const char *what) {
    inspector *in = ctx;
    if (torn) in->sum->torn_tail = 1;
    add_problem(in, torn ? LS_INSPECT_TORN_TAIL : LS_INSPECT_MANIFEST, !torn, 0, in->m.path, 1, offset,
                "%s", what);
}

/* ---- 3. directory ---- */

static int list_files(inspector *in, ls_error *err) {
    DIR *d = opendir(in->seg_dir);
    if (!d) return ls_err_set(err, LS_E_IO, errno, in->seg_dir, "cannot list the segments directory");
    int rc = LS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, in->seg_dir, "cannot list the segments directory");
            break;
        }
        uint64_t writer, seq;
        if (!ls_segment_parse_name(e->d_name, &writer, &seq)) continue;
        if (grow((void **)&in->files, &in->cap_files, in->nfiles, sizeof *in->files) < 0) {
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, in->seg_dir, "out of memory");
            break;
        }
        insp_file *f = &in->files[in->nfiles];
        memset(f, 0, sizeof *f);
        f->writer_id = writer;
        f->seq = seq;
        if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", in->seg_dir, e->d_name) >= sizeof f->path) {
            rc = ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, in->seg_dir, "segment path too long");
            break;
        }
        in->nfiles++;
    }
    if (closedir(d) < 0 && rc == LS_OK) rc = ls_err_set(err, LS_E_IO, errno, in->seg_dir, "cannot close the segments directory");
    if (rc == LS_OK && in->nfiles > 1) qsort(in->files, in->nfiles, sizeof *in->files, by_file_seq);
    return rc;
}

/* ---- 4. scanning ---- */

typedef struct frame_ctx {
    inspector *in;
    insp_file *f;
    int emit; /* report records (listed segments only) */
} frame_ctx;

static void record_problem(frame_ctx *c, uint64_t off, uint64_t lsn, uint64_t frame_off, const char *what) {
    c->f->record_problems++;
    add_problem(c->in, LS_INSPECT_CORRUPT_RECORD, 1, c->f->seq, c->f->path, 1, off,
                "record at offset %" PRIu64 " (LSN %" PRIu64 ") in the frame at offset %" PRIu64 ": %s", off, lsn,
                frame_off, what);
}

/* Reports one record; returns nonzero if the callback asked to stop. */
static int emit_record(frame_ctx *c, uint64_t lsn, const ls_record *r, ls_location loc, uint64_t frame_off,
                       uint64_t stored) {
    inspector *in = c->in;
    if (c->emit) {
        ls_inspect_summary *s = in->sum;
        if (!s->first_lsn || lsn < s->first_lsn) s->first_lsn = lsn;
        if (lsn > s->last_lsn) s->last_lsn = lsn;
    }
    if (!c->emit || !in->cb || !in->cb->on_record || lsn < in->cb->from_lsn) return 0;
    ls_inspect_record rec = {
        .lsn = lsn,
        .type = r->type,
        .flags = r->flags,
        .key_len = r->key_len,
        .value_len = r->value_len,
        .key = r->key,
        .value = r->value,
        .location = loc,
        .frame_offset = frame_off,
        .encoded_size = ls_record_encoded_size(r->key_len, r->value_len),
        .stored_size = stored,
    };
    if (in->cb->on_record(in->cb->ctx, &rec)) in->stopped = 1;
    return in->stopped;
}

static const char *record_damage(int rc) {
    switch (rc) {
    case LS_FMT_TRUNCATED: return "record extends past the end of its frame body (bad length)";
    case LS_FMT_BAD_CRC: return "record checksum mismatch";
    default: return "record type 0 (invalid)";
    }
}

/* Expands and checks one container; reports its records. Returns nonzero to stop the scan. */
static int visit_container(frame_ctx *c, const ls_record *cr, uint64_t coff, uint64_t csize, uint64_t lsn,
                           uint32_t left, uint64_t frame_off, uint32_t *taken) {
    inspector *in = c->in;
    *taken = 0;
    if (cr->key_len != LS_ZSTD_BATCH_KEY_SIZE) {
        record_problem(c, coff, lsn, frame_off, "zstd container with a key that is not 8 bytes");
        return 0;
    }
    uint32_t count = ls_get_u32(cr->key), raw = ls_get_u32(cr->key + 4);
    if (count == 0 || count > left) {
        record_problem(c, coff, lsn, frame_off, "zstd container record count disagrees with its frame");
        return 0;
    }
    /* The claim is checked against the segment's bound (its header's segment size; the
     * format's largest when the header is damaged or skipped) before anything is allocated. */
    uint64_t limit = ls_container_limit(c->f->scan.header_state == 0 ? c->f->scan.header.segment_size : 0);
    char why[160];
    int rc = ls_container_expand(cr->value, cr->value_len, raw, limit, &in->inner, &in->inner_cap, why, sizeof why);
    if (rc == LS_E_NOMEM) {
        in->nomem = 1;
        return 1;
    }
    if (rc != LS_OK) {
        record_problem(c, coff, lsn, frame_off, why);
        return 0;
    }
    size_t pos = 0;
    for (uint32_t i = 0; i < count; i++) {
        ls_record r;
        size_t used;
        rc = ls_record_decode(in->inner + pos, raw - pos, &r, &used);
        if (rc != LS_FMT_OK || r.type == LS_RECORD_TYPE_ZSTD_BATCH) {
            char what[120];
            snprintf(what, sizeof what, "item %u of the zstd container: %s", i,
                     rc != LS_FMT_OK ? record_damage(rc) : "a nested container");
            record_problem(c, coff, lsn + i, frame_off, what);
            return 0;
        }
        /* This item's share of the container's bytes: proportional to its uncompressed size,
         * computed from cumulative ends so the shares add up to the container exactly. */
        uint64_t share = csize * (pos + used) / raw - csize * pos / raw;
        pos += used;
        if (emit_record(c, lsn + i, &r, (ls_location){c->f->seq, coff, i}, frame_off, share)) return 1;
    }
    if (pos != raw) record_problem(c, coff, lsn, frame_off, "zstd container longer than its records");
    *taken = count;
    return 0;
}

/* ls_frame_visitor: decodes every record of a valid frame. */
static int visit_frame(void *ctx, uint64_t off, const ls_frame_header *h, const uint8_t *body) {
    frame_ctx *c = ctx;
    c->f->frame_bytes += ls_frame_disk_size(h->stored_len);
    uint64_t lsn = h->first_lsn, body_off = off + LS_FRAME_HEADER_SIZE;
    uint32_t left = h->record_count;
    size_t pos = 0;
    while (left > 0) {
        ls_record r;
        size_t used;
        int rc = ls_record_decode(body + pos, h->stored_len - pos, &r, &used);
        if (rc != LS_FMT_OK) {
            record_problem(c, body_off + pos, lsn, off, record_damage(rc));
            return c->in->stopped;
        }
        if (r.type != LS_RECORD_TYPE_ZSTD_BATCH) {
            if (emit_record(c, lsn, &r, (ls_location){c->f->seq, body_off + pos, LS_LOCATION_PLAIN}, off, used)) return 1;
            lsn++;
            left--;
        } else {
            uint32_t taken;
            if (visit_container(c, &r, body_off + pos, used, lsn, left, off, &taken)) return 1;
            if (taken == 0) return 0; /* reported; the rest of the frame cannot be located */
            lsn += taken;
            left -= taken;
        }
        pos += used;
    }
    if (pos != h->stored_len)
        record_problem(c, body_off + pos, lsn, off, "frame body longer than its records (record count too small)");
    return 0;
}

/* What is wrong at `off` of a segment (for a damaged range's message). */
static void describe_damage(inspector *in, int fd, const insp_file *f, uint64_t off, char *out, size_t cap) {
    if (off == 0) {
        snprintf(out, cap, "%s", f->scan.header_state > 0 ? "segment header is zeros but frames follow"
                                                          : "segment header is damaged (bad magic, checksum or field)");
        return;
    }
    uint8_t hdr[LS_FRAME_HEADER_SIZE];
    ssize_t got = ls_io_read_full(in->io, fd, hdr, sizeof hdr, (off_t)off);
    if (got < (ssize_t)sizeof hdr) {
        snprintf(out, cap, "truncated frame");
        return;
    }
    int zero = 1;
    for (size_t i = 0; i < sizeof hdr && zero; i++) zero = hdr[i] == 0;
    if (zero) {
        snprintf(out, cap, "zeroed frame header");
        return;
    }
    ls_frame_header h;
    uint32_t stored_crc;
    int rc = ls_frame_header_decode(hdr, &h, &stored_crc);
    if (rc == LS_FMT_BAD_MAGIC) snprintf(out, cap, "bad frame magic");
    else if (rc != LS_FMT_OK) snprintf(out, cap, "invalid frame header field");
    else if (h.segment_seq != f->seq) snprintf(out, cap, "frame names segment %" PRIu64, h.segment_seq);
    else if (off + LS_FRAME_HEADER_SIZE + h.stored_len > f->scan.file_size) snprintf(out, cap, "truncated frame");
    else {
        uint8_t *frame = malloc(LS_FRAME_HEADER_SIZE + (size_t)h.stored_len);
        int crc_ok = 0;
        if (frame && ls_io_read_full(in->io, fd, frame, LS_FRAME_HEADER_SIZE + (size_t)h.stored_len, (off_t)off) ==
                         (ssize_t)(LS_FRAME_HEADER_SIZE + h.stored_len))
            crc_ok = ls_frame_crc(frame, frame + LS_FRAME_HEADER_SIZE, h.stored_len) == stored_crc;
        free(frame);
        snprintf(out, cap, "%s", crc_ok ? "frame with an unexpected first LSN, non-zero padding or a disagreeing seal"
                                        : "frame checksum mismatch");
    }
}

static int scan_file(inspector *in, insp_file *f, ls_error *err) {
    ls_io *io = in->io;
    int fd = io->vt->open(io, f->path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, f->path, "cannot open segment");
    ls_scan_opts opts = {in->have_manifest ? in->m.skips : NULL, in->have_manifest ? in->m.nskips : 0, 1};
    frame_ctx c = {in, f, f->listed};
    int rc = ls_segment_scan_opts(io, fd, f->path, f->seq, &opts, visit_frame, &c, &f->scan, err);
    if (rc == LS_OK) {
        f->scanned = 1;
        if (f->scan.end == LS_SCAN_SEALED && !f->scan.tail_skipped && !in->stopped) f->frame_bytes += LS_SEAL_FRAME_SIZE;
        for (size_t k = 0; k < f->scan.ndamage && !in->stopped; k++) {
            const ls_skip_range *r = &f->scan.damage[k];
            char what[120];
            describe_damage(in, fd, f, r->offset, what, sizeof what);
            add_problem(in, LS_INSPECT_CORRUPT_FRAME, 1, f->seq, f->path, 1, r->offset,
                        "%s at offset %" PRIu64 "; %" PRIu64 " damaged bytes before the next valid frame at offset %" PRIu64,
                        what, r->offset, r->length, r->offset + r->length);
        }
    }
    int crc = io->vt->close(io, fd);
    if (rc == LS_OK && crc < 0) rc = ls_err_set(err, LS_E_IO, -crc, f->path, "cannot close segment");
    if (rc == LS_OK && in->nomem) rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, f->path, "out of memory");
    return rc;
}

/* ---- 6. cross-segment rules (ls_recovery.c find_damage, every violation) ---- */

static int header_ok(const insp_file *f) { return f->scan.header_state == 0 || f->scan.head_skipped; }

static int holds_data(const insp_file *f) {
    return f->scanned && header_ok(f) && (f->scan.frames > 0 || (f->scan.end == LS_SCAN_SEALED && !f->scan.head_skipped));
}

static int never_written(const insp_file *f) {
    return f->scan.header_state == 1 && f->scan.end == LS_SCAN_CLEAN && !f->scan.head_skipped && f->scan.ndamage == 0;
}

static int file_exists_for(const inspector *in, const ls_mf_segment *ms) {
    for (size_t j = 0; j < in->nfiles; j++)
        if (in->files[j].seq == ms->seq && in->files[j].writer_id == ms->writer_id) return 1;
    return 0;
}

/* 1 if a listed segment with a sequence in (lo, hi) has no file (its LSNs are the gap). */
static int missing_between(const inspector *in, uint64_t lo, uint64_t hi) {
    if (!in->have_manifest) return 0;
    for (size_t i = 0; i < in->m.nsegs; i++) {
        const ls_mf_segment *ms = &in->m.segs[i];
        if (ms->seq > lo && ms->seq < hi && !ms->obsolete && !file_exists_for(in, ms)) return 1;
    }
    return 0;
}

static const ls_mf_segment *mf_entry(inspector *in, const insp_file *f) {
    if (!in->have_manifest) return NULL;
    const ls_mf_segment *ms = ls_manifest_segment(&in->m, f->seq);
    return ms && ms->writer_id == f->writer_id ? ms : NULL;
}

static void check_segments(inspector *in) {
    size_t with_data = 0;
    for (size_t i = 0; i < in->nfiles; i++)
        if (in->files[i].listed && holds_data(&in->files[i])) with_data = i + 1;
    uint64_t prev_last = 0, prev_seq = 0;
    int have_prev = 0, gap_ok = 0;
    for (size_t i = 0; i < in->nfiles; i++) {
        insp_file *f = &in->files[i];
        const ls_scan_result *s = &f->scan;
        if (i > 0 && in->files[i - 1].seq == f->seq)
            add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 0, 0,
                        "two segment files have sequence %" PRIu64, f->seq);
        if (!f->scanned) continue; /* obsolete */
        if (!f->listed) {
            if (!never_written(f))
                add_problem(in, LS_INSPECT_UNLISTED_SEGMENT, 1, f->seq, f->path, 1, 0,
                            "segment file is not listed in the manifest but holds data (a foreign writer's segment?)");
            continue;
        }
        /* Header naming another writer than the file name. */
        if (s->header_state == 0 && s->header.writer_id != f->writer_id)
            add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 1, 0,
                        "segment header names writer %016" PRIx64 ", its file name another", s->header.writer_id);
        int newest = i + 1 == with_data;
        int damaged = s->ndamage > 0 || f->record_problems > 0;
        if (i + 1 > with_data) { /* after the newest with data: unused, or a torn first write */
            if (s->end == LS_SCAN_CORRUPT)
                add_problem(in, LS_INSPECT_CORRUPT_FRAME, 1, f->seq, f->path, 1, s->bad_offset, "%s", s->detail);
            else if (s->header_state < 0 && !s->head_skipped)
                add_problem(in, LS_INSPECT_TORN_TAIL, 0, f->seq, f->path, 1, 0,
                            "segment header is damaged with nothing valid after it (a torn first write, removed at the "
                            "next open)");
            else if (s->end == LS_SCAN_TORN)
                add_problem(in, LS_INSPECT_TORN_TAIL, 0, f->seq, f->path, 1, s->bad_offset, "torn tail: %s", s->detail);
            if (s->end == LS_SCAN_TORN || s->header_state < 0) in->sum->torn_tail = 1;
            continue;
        }
        const ls_mf_segment *mf = mf_entry(in, f);
        if (!header_ok(f)) {
            add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 1, 0, "%s",
                        s->header_state > 0 ? "segment header missing in a segment followed by data" : s->detail);
            gap_ok = 1;
            continue;
        }
        if (s->frames == 0 && s->head_skipped) { /* wholly skipped (salvaged): holds no LSNs */
            gap_ok = 1;
            continue;
        }
        if (have_prev && !gap_ok && !s->head_skipped && s->header.base_lsn != prev_last + 1 &&
            !missing_between(in, prev_seq, f->seq))
            add_problem(in, LS_INSPECT_LSN_GAP, 1, f->seq, f->path, 1, 0,
                        "base LSN %" PRIu64 " does not follow the previous segment's last LSN %" PRIu64
                        " (a segment is missing)",
                        s->header.base_lsn, prev_last);
        int reported_end = 1;
        if (s->end == LS_SCAN_CORRUPT)
            add_problem(in, LS_INSPECT_CORRUPT_FRAME, 1, f->seq, f->path, 1, s->bad_offset, "%s", s->detail);
        else if (s->end == LS_SCAN_TORN && (!newest || (mf && mf->sealed)))
            add_problem(in, LS_INSPECT_CORRUPT_FRAME, 1, f->seq, f->path, 1, s->bad_offset, "%s: %s",
                        newest ? "damaged frame in a segment the manifest records as sealed"
                               : "damaged frame in a segment followed by a segment with data",
                        s->detail);
        else if (s->end == LS_SCAN_TORN) {
            add_problem(in, LS_INSPECT_TORN_TAIL, 0, f->seq, f->path, 1, s->bad_offset,
                        "torn tail of the newest segment (cut at the next open): %s", s->detail);
            in->sum->torn_tail = 1;
        } else if (!newest && s->end == LS_SCAN_CLEAN)
            add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 1, s->data_end,
                        "segment is not sealed but a later segment holds data");
        else reported_end = 0;
        if (mf && mf->sealed && !reported_end) {
            if (s->end == LS_SCAN_CLEAN && s->data_end < mf->end)
                add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 1, s->data_end,
                            "segment ends at offset %" PRIu64 " but the manifest sealed it at offset %" PRIu64
                            " (frames are missing)",
                            s->data_end, mf->end);
            else if (s->data_end != mf->end || (!damaged && s->last_lsn != mf->last_lsn))
                add_problem(in, LS_INSPECT_BAD_SEGMENT, 1, f->seq, f->path, 1, 0,
                            "segment ends at offset %" PRIu64 " with last LSN %" PRIu64
                            " but the manifest sealed it at offset %" PRIu64 " with last LSN %" PRIu64,
                            s->data_end, s->last_lsn, mf->end, mf->last_lsn);
        }
        prev_last = s->last_lsn;
        prev_seq = f->seq;
        have_prev = 1;
        /* After damage the LSNs that follow are not comparable: it is already reported. */
        gap_ok = s->tail_skipped || damaged || reported_end;
    }
    /* Listed segments without a file. */
    for (size_t i = 0; in->have_manifest && i < in->m.nsegs; i++) {
        const ls_mf_segment *ms = &in->m.segs[i];
        if (ms->obsolete || file_exists_for(in, ms)) continue;
        char path[LS_PATH_MAX];
        ls_segment_path(path, sizeof path, in->seg_dir, ms->writer_id, ms->seq);
        add_problem(in, LS_INSPECT_MISSING_SEGMENT, 1, ms->seq, path, 0, 0,
                    "segment %" PRIu64 " listed in the manifest is missing", ms->seq);
    }
}

/* ---- 7. files in snapshots/ ---- */

static int by_blob_name(const void *a, const void *b) {
    return strcmp(((const ls_inspect_file *)a)->name, ((const ls_inspect_file *)b)->name);
}

/* 1 if the entry at `path` is a regular file, or a symbolic link to one (d_type, else stat).
 * Directories are skipped as ls_blob_list skips them; so are FIFOs and devices, which opening
 * could block on or change. */
static int is_regular(const char *path, const struct dirent *e) {
    if (e->d_type == DT_REG) return 1;
    if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK) return 0;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Lists snapshots/ (valid names of regular files) and checks every file read-only. A store
 * without the directory has no files; a failed listing fails the call (a missed file would hide
 * damage). */
static int check_files(inspector *in, ls_error *err) {
    char dir[LS_PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/" LS_SNAPSHOTS_DIR, in->root) >= sizeof dir)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, in->root, "store path too long");
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return LS_OK;
        return ls_err_set(err, LS_E_IO, errno, dir, "cannot list the snapshots directory");
    }
    int rc = LS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, dir, "cannot list the snapshots directory");
            break;
        }
        if (!ls_blob_name_valid(e->d_name)) continue; /* ".", "..", <name>.tmp (removed at open), others */
        if (grow((void **)&in->blobs, &in->cap_blobs, in->nblobs, sizeof *in->blobs) < 0) {
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, dir, "out of memory");
            break;
        }
        ls_inspect_file *f = &in->blobs[in->nblobs];
        memset(f, 0, sizeof *f);
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", dir, e->d_name) >= sizeof f->path) {
            rc = ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, dir, "path of %s too long", e->d_name);
            break;
        }
        if (!is_regular(f->path, e)) continue;
        in->nblobs++;
    }
    if (closedir(d) < 0 && rc == LS_OK) rc = ls_err_set(err, LS_E_IO, errno, dir, "cannot close the snapshots directory");
    if (rc != LS_OK) return rc;
    if (in->nblobs > 1) qsort(in->blobs, in->nblobs, sizeof *in->blobs, by_blob_name);
    for (size_t i = 0; i < in->nblobs; i++) {
        ls_inspect_file *f = &in->blobs[i];
        ls_blob_info info;
        ls_error e;
        memset(&e, 0, sizeof e);
        rc = ls_blob_verify_file(in->io, f->path, f->name, &info, &e);
        if (rc != LS_OK && rc != LS_E_CORRUPT) {
            *err = e;
            return rc;
        }
        f->file_size = info.file_size;
        f->data_len = info.data_len;
        f->data_crc = info.data_crc;
        f->header_ok = info.header_ok;
        f->ok = info.ok;
        in->sum->snapshot_files++;
        in->sum->snapshot_bytes += info.file_size;
        if (rc == LS_E_CORRUPT)
            add_problem(in, LS_INSPECT_CORRUPT_FILE, 1, 0, f->path, e.has_offset, e.offset, "%s", e.message);
    }
    if (in->nomem) return ls_err_set(err, LS_E_NOMEM, ENOMEM, dir, "out of memory");
    return LS_OK;
}

static int segment_state(const insp_file *f) {
    if (!f->scanned) return LS_INSPECT_SEG_OBSOLETE;
    if (never_written(f)) return LS_INSPECT_SEG_EMPTY;
    switch (f->scan.end) {
    case LS_SCAN_CLEAN: return LS_INSPECT_SEG_OPEN;
    case LS_SCAN_SEALED: return LS_INSPECT_SEG_SEALED;
    case LS_SCAN_TORN: return LS_INSPECT_SEG_TORN;
    default: return LS_INSPECT_SEG_CORRUPT;
    }
}

static int report(inspector *in) {
    const ls_inspect_callbacks *cb = in->cb;
    ls_inspect_summary *sum = in->sum;
    for (size_t i = 0; i < in->nfiles; i++) {
        const insp_file *f = &in->files[i];
        const ls_scan_result *s = &f->scan;
        ls_inspect_segment seg = {.seq = f->seq, .writer_id = f->writer_id, .listed = f->listed};
        seg.state = segment_state(f);
        if (f->scanned && header_ok(f) && seg.state != LS_INSPECT_SEG_EMPTY) {
            seg.base_lsn = s->header.base_lsn;
            seg.last_lsn = s->last_lsn;
        }
        seg.bytes_used = s->data_end;
        seg.file_size = s->file_size;
        if (!f->scanned) {
            struct stat st;
            if (stat(f->path, &st) == 0) seg.file_size = (uint64_t)st.st_size;
        }
        seg.frame_bytes = f->frame_bytes;
        seg.frames = s->frames;
        seg.records = s->records;
        seg.damaged_ranges = s->ndamage;
        seg.sealed = s->end == LS_SCAN_SEALED && !s->tail_skipped && f->scanned;
        snprintf(seg.path, sizeof seg.path, "%s", f->path);
        sum->file_bytes += seg.file_size;
        if (f->listed && f->scanned) {
            sum->frames += s->frames;
            sum->records += s->records;
            sum->frame_bytes += f->frame_bytes;
            if (holds_data(f)) sum->segments_with_data++;
        }
        if (cb && cb->on_segment) cb->on_segment(cb->ctx, &seg);
    }
    sum->segments = in->nfiles;
    if (in->nproblems > 1) qsort(in->problems, in->nproblems, sizeof *in->problems, by_problem_order);
    for (size_t i = 0; i < in->nproblems; i++) {
        sum->problems++;
        if (in->problems[i].p.corruption) sum->corruptions++;
        if (cb && cb->on_problem) cb->on_problem(cb->ctx, &in->problems[i].p);
    }
    for (size_t i = 0; i < in->nfiles; i++) {
        insp_writer *w = writer_entry(in, in->files[i].writer_id);
        if (w) w->w.segments++;
    }
    if (in->nomem) return LS_E_NOMEM;
    sum->writers = in->nwriters;
    for (size_t i = 0; cb && cb->on_writer && i < in->nwriters; i++) cb->on_writer(cb->ctx, &in->writers[i].w);
    for (size_t i = 0; cb && cb->on_file && i < in->nblobs; i++) cb->on_file(cb->ctx, &in->blobs[i]);
    return LS_OK;
}

static int inspect_locked(inspector *in, ls_error *err) {
    ls_inspect_summary *sum = in->sum;
    int rc = list_files(in, err);
    if (rc != LS_OK) return rc;
    /* The manifest (step 2). */
    rc = ls_manifest_exists(&in->m, err);
    if (rc < 0) return rc;
    if (rc == 1) {
        ls_mf_readonly_hooks hooks = {in, mf_record, mf_problem};
        rc = ls_manifest_replay_readonly(&in->m, &hooks, err);
        if (rc != LS_OK) return rc;
        in->have_manifest = 1;
        sum->manifest_records = in->m.replayed_records;
        sum->manifest_bytes = in->m.replayed_bytes;
        sum->manifest_torn_bytes = in->m.torn_bytes;
        sum->skip_ranges = in->m.nskips;
    } else if (in->nfiles > 0) {
        add_problem(in, LS_INSPECT_MANIFEST, 1, 0, in->m.path, 0, 0,
                    "manifest missing: segment files exist but " LS_MANIFEST_DIR "/manifest.log does not");
    }
    if (in->nomem) return ls_err_set(err, LS_E_NOMEM, ENOMEM, in->root, "out of memory");
    /* Scan (step 4). */
    for (size_t i = 0; i < in->nfiles && !in->stopped; i++) {
        insp_file *f = &in->files[i];
        const ls_mf_segment *ms = mf_entry(in, f);
        f->listed = ms && !ms->obsolete;
        f->obsolete = ms && ms->obsolete;
        if (f->obsolete) continue;
        rc = scan_file(in, f, err);
        if (rc != LS_OK) return rc;
    }
    if (in->stopped) {
        sum->stopped = 1;
        return LS_OK;
    }
    check_segments(in);
    rc = check_files(in, err);
    if (rc != LS_OK) return rc;
    rc = report(in);
    if (rc != LS_OK) return ls_err_set(err, LS_E_NOMEM, ENOMEM, in->root, "out of memory");
    return LS_OK;
}

int ls_inspect_store(const char *root, const ls_inspect_callbacks *cb, ls_inspect_summary *summary, ls_error *err) {
    ls_inspect_summary local;
    if (!summary) summary = &local;
    memset(summary, 0, sizeof *summary);
    if (!root || !*root) return ls_err_set(err, LS_E_INVALID, EINVAL, "", "no store directory given");
    struct stat st;
    if (stat(root, &st) < 0) {
        int e = errno;
        return ls_err_set(err, e == ENOENT ? LS_E_INVALID : LS_E_IO, e, root,
                          e == ENOENT ? "no store at %s: the directory does not exist" : "cannot stat the store %s", root);
    }
    if (!S_ISDIR(st.st_mode)) return ls_err_set(err, LS_E_INVALID, ENOTDIR, root, "no store at %s: not a directory", root);
    inspector in;
    memset(&in, 0, sizeof in);
    in.root = root;
    in.cb = cb;
    in.sum = summary;
    if ((size_t)snprintf(in.seg_dir, sizeof in.seg_dir, "%s/" LS_SEGMENTS_DIR, root) >= sizeof in.seg_dir)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, root, "store path too long");
    if (stat(in.seg_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        int e = errno ? errno : ENOTDIR;
        return ls_err_set(err, LS_E_INVALID, e, root, "no store at %s: it has no " LS_SEGMENTS_DIR "/ directory", root);
    }
    /* Plain positional reads only: the pwritev backend sets up no ring. */
    int rc = ls_io_posix_create(LS_BACKEND_PWRITEV, LS_URING_LINKED_FDATASYNC, &in.io);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, root, "cannot set up file I/O");
    if (ls_manifest_init(&in.m, in.io, root, UINT64_MAX) < 0) {
        ls_io_destroy(in.io);
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, root, "out of memory");
    }
    int lock_fd = -1;
    rc = take_lock(&in, &lock_fd, err);
    if (rc == LS_OK) rc = inspect_locked(&in, err);
    if (lock_fd >= 0) in.io->vt->close(in.io, lock_fd); /* releases the lock */
    for (size_t i = 0; i < in.nfiles; i++) ls_scan_result_free(&in.files[i].scan);
    free(in.files);
    free(in.problems);
    free(in.writers);
    free(in.inner);
    free(in.blobs);
    ls_manifest_free(&in.m);
    ls_io_destroy(in.io);
    return rc;
}

const char *ls_inspect_problem_kind_name(int kind) {
    switch (kind) {
    case LS_INSPECT_CORRUPT_FRAME: return "corrupt frame";
    case LS_INSPECT_CORRUPT_RECORD: return "corrupt record";
    case LS_INSPECT_TORN_TAIL: return "torn tail";
    case LS_INSPECT_MISSING_SEGMENT: return "missing segment";
    case LS_INSPECT_UNLISTED_SEGMENT: return "unlisted segment";
    case LS_INSPECT_MANIFEST: return "manifest damage";
    case LS_INSPECT_LSN_GAP: return "LSN gap";
    case LS_INSPECT_BAD_SEGMENT: return "bad segment";
    case LS_INSPECT_CORRUPT_FILE: return "corrupt file";
    default: return "unknown";
    }
}

const char *ls_inspect_segment_state_name(int state) {
    switch (state) {
    case LS_INSPECT_SEG_EMPTY: return "empty";
    case LS_INSPECT_SEG_OPEN: return "open";
    case LS_INSPECT_SEG_SEALED: return "sealed";
    case LS_INSPECT_SEG_TORN: return "torn";
    case LS_INSPECT_SEG_CORRUPT: return "corrupt";
    case LS_INSPECT_SEG_OBSOLETE: return "obsolete";
    default: return "unknown";
    }
}
