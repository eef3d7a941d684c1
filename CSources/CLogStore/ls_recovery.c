/*
 * Recovery at open (DESIGN §4.2, §4.3, §4.6). The manifest is replayed first and
 * is the authority on which segments exist:
 *  - a listed segment whose file is missing is corruption;
 *  - an unlisted file that holds no data was prepared but its SEGMENT_OPEN never
 *    became durable: it is removed; an unlisted file with data is a foreign
 *    writer's, and corruption (DESIGN §3);
 *  - files of segments the manifest says are obsolete are deleted (or renamed to
 *    <name>.dropped if point-in-time recovery dropped them).
 * Then every listed segment is fsynced and verified, and in the default STRICT mode:
 *  - leftover ".tmp" files of an interrupted preparation are removed;
 *  - the newest segment holding data may end in a torn tail: it is truncated
 *    there and sealed (writing continues in a new segment);
 *  - listed segments after it that hold no valid frame are recorded obsolete and removed;
 *  - anything else (a bad frame followed by a valid one, damage in a segment
 *    followed by one with data, a missing seal, a gap in LSNs, a seal that
 *    disagrees with the manifest, a header whose writer id disagrees with the
 *    file name) refuses to open, naming the segment and the offset.
 * POINT_IN_TIME cuts the log at the first such damage instead; SALVAGE records the
 * damaged ranges as skip ranges and keeps every valid frame (docs/FORMAT.md §7.5).
 * Every action is preceded (or, where the file itself says it, followed) by its
 * manifest event; each batch of events is one fsynced append.
 * A read-only open (ls_log_config.read_only) runs the same checks and takes no action:
 * it fsyncs, removes, cuts, seals and records nothing, and reads only the files the
 * manifest lists as live (docs/FORMAT.md §7.7).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_internal.h"

#define LS_TMP_SUFFIX ".log.tmp"

typedef struct found_segment {
    uint64_t writer_id, seq;
    char path[LS_PATH_MAX];
    ls_scan_result scan;
    int gone; /* removed (or renamed away) during this recovery */
} found_segment;

typedef struct found_list {
    found_segment *v;
    size_t n, cap;
    uint64_t max_seq; /* largest sequence of any segment file seen, removed ones included */
} found_list;

/* One damage that strict recovery refuses: where, and what. */
typedef struct damage {
    size_t idx;   /* index in the found list */
    uint64_t off; /* 0: the segment as a whole (header, LSN continuity, seal vs manifest) */
    char what[200];
} damage;

static int by_seq(const void *a, const void *b) {
    const found_segment *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 if `name` is "<a segment name>.tmp", a leftover of an interrupted preparation. */
static int is_segment_tmp(const char *name) {
    size_t n = strlen(name), t = strlen(LS_TMP_SUFFIX) - strlen(".log");
    char base[LS_PATH_MAX];
    if (!ends_with(name, LS_TMP_SUFFIX) || n - t >= sizeof base) return 0;
    memcpy(base, name, n - t);
    base[n - t] = '\0';
    uint64_t writer, seq;
    return ls_segment_parse_name(base, &writer, &seq);
}

static int add_found(found_list *out, const char *path, uint64_t writer, uint64_t seq) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        found_segment *v = realloc(out->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        out->v = v;
        out->cap = cap;
    }
    found_segment *f = &out->v[out->n++];
    memset(f, 0, sizeof *f);
    f->writer_id = writer;
    f->seq = seq;
    snprintf(f->path, sizeof f->path, "%s", path);
    if (seq > out->max_seq) out->max_seq = seq;
    return 0;
}

static void free_list(found_list *l) {
    for (size_t i = 0; i < l->n; i++) ls_scan_result_free(&l->v[i].scan);
    free(l->v);
}

static int fsync_segments_dir(ls_log *log, ls_error *err) {
    int rc = log->io->vt->fsync_dir(log->io, log->seg_dir);
    return rc < 0 ? ls_err_set(err, LS_E_IO, -rc, log->seg_dir, "cannot fsync the segments directory") : LS_OK;
}

/*
 * Lists segment files, removing leftovers of interrupted preparations. A failed readdir is
 * an error, never the end of the listing: a missed segment would silently drop data.
 */
static int list_segments(ls_log *log, found_list *out, ls_error *err) {
    DIR *d = opendir(log->seg_dir);
    if (!d) return ls_err_set(err, LS_E_IO, errno, log->seg_dir, "cannot list the segments directory");
    int removed = 0, rc = LS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, log->seg_dir, "cannot list the segments directory");
            break;
        }
        uint64_t writer, seq;
        int tmp = is_segment_tmp(e->d_name);
        if (!tmp && !ls_segment_parse_name(e->d_name, &writer, &seq)) continue;
        char path[LS_PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", log->seg_dir, e->d_name) >= sizeof path) {
            rc = ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, log->seg_dir, "segment path too long");
            break;
        }
        if (tmp && log->cfg.read_only) {
            /* left alone: a read-only open removes nothing (a live writer may be preparing it) */
        } else if (tmp) {
            int urc = log->io->vt->unlink(log->io, path);
            if (urc < 0) rc = ls_err_set(err, LS_E_IO, -urc, path, "cannot remove an unfinished segment file");
            removed = 1;
        } else if (add_found(out, path, writer, seq) < 0) {
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, log->seg_dir, "out of memory");
        }
        if (rc != LS_OK) break;
    }
    closedir(d);
    if (rc == LS_OK && removed) rc = fsync_segments_dir(log, err);
    if (rc == LS_OK && out->n > 1) qsort(out->v, out->n, sizeof *out->v, by_seq);
    for (size_t i = 1; rc == LS_OK && i < out->n; i++) {
        if (out->v[i].seq == out->v[i - 1].seq)
            rc = ls_err_set(err, LS_E_CORRUPT, 0, out->v[i].path, "two segment files have sequence %" PRIu64, out->v[i].seq);
    }
    return rc;
}

/* fsyncs the file (DESIGN §4.6; not in a read-only open, which writes nothing) and verifies it,
 * walking the manifest's skip ranges. */
static int scan_one(ls_log *log, found_segment *f, int salvage, ls_frame_visitor visit, void *ctx, ls_error *err) {
    int read_only = log->cfg.read_only;
    int fd = log->io->vt->open(log->io, f->path, read_only ? O_RDONLY : O_RDWR, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, f->path, "cannot open segment");
    int rc = read_only ? 0 : log->io->vt->fsync(log->io, fd);
    if (rc < 0) {
        log->io->vt->close(log->io, fd);
        return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot fsync segment");
    }
    ls_scan_opts opts = {log->manifest.skips, log->manifest.nskips, salvage};
    ls_scan_result_free(&f->scan);
    rc = ls_segment_scan_opts(log->io, fd, f->path, f->seq, &opts, visit, ctx, &f->scan, err);
    log->io->vt->close(log->io, fd);
    if (rc == LS_OK && f->scan.header_state == 0 && f->scan.header.writer_id != f->writer_id) {
        f->scan.end = LS_SCAN_CORRUPT;
        f->scan.bad_offset = 0;
        snprintf(f->scan.detail, sizeof f->scan.detail, "segment header names writer %016" PRIx64 ", its file name another",
                 f->scan.header.writer_id);
    }
    return rc;
}

static int header_ok(const found_segment *f) { return f->scan.header_state == 0 || f->scan.head_skipped; }

static int holds_data(const found_segment *f) {
    return header_ok(f) && (f->scan.frames > 0 || (f->scan.end == LS_SCAN_SEALED && !f->scan.head_skipped));
}

/* Prepared and never written: zero header, nothing valid anywhere. */
static int never_written(const found_segment *f) {
    return f->scan.header_state == 1 && f->scan.end == LS_SCAN_CLEAN && !f->scan.head_skipped;
}

static int corrupt(ls_error *err, const found_segment *f, uint64_t off, const char *what) {
    return ls_err_set_at(err, LS_E_CORRUPT, 0, f->path, off, "corrupt segment %" PRIu64 " at offset %" PRIu64 ": %s",
                         f->seq, off, what);
}

static int set_damage(damage *d, size_t idx, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int set_damage(damage *d, size_t idx, uint64_t off, const char *fmt, ...) {
    d->idx = idx;
    d->off = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->what, sizeof d->what, fmt, ap);
    va_end(ap);
    return 1;
}

/*
 * The first damage in LSN order among segments [0, newest] (newest = the last with data)
 * and the corrupt ones after it. Returns 1 with *d set, or 0 if the log is consistent:
 * every segment before the newest intact, sealed (or ending in a skip range) and
 * LSN-contiguous (except across skip ranges), every seal as the manifest records it.
 */
static int find_damage(ls_log *log, const found_list *l, size_t with_data, damage *d) {
    uint64_t prev_last = 0;
    int have_prev = 0, gap_ok = 0;
    for (size_t i = 0; i < l->n; i++) {
        const found_segment *f = &l->v[i];
        const ls_scan_result *s = &f->scan;
        if (i + 1 > with_data) { /* after the newest with data: only unused segments are allowed */
            if (s->end == LS_SCAN_CORRUPT) return set_damage(d, i, s->bad_offset, "%s", s->detail);
            continue;
        }
        int newest = i + 1 == with_data;
        const ls_mf_segment *mf = ls_manifest_segment(&log->manifest, f->seq);
        if (!header_ok(f))
            return set_damage(d, i, 0, "%s",
                              s->header_state > 0 ? "segment header missing in a segment followed by data" : s->detail);
        if (s->frames == 0 && s->head_skipped) { /* wholly skipped: holds no LSNs */
            gap_ok = 1;
            continue;
        }
        if (have_prev && !gap_ok && !s->head_skipped && s->header.base_lsn != prev_last + 1)
            return set_damage(d, i, 0,
                              "base LSN %" PRIu64 " does not follow the previous segment's last LSN %" PRIu64
                              " (a segment is missing)",
                              s->header.base_lsn, prev_last);
        if (s->end == LS_SCAN_CORRUPT) return set_damage(d, i, s->bad_offset, "%s", s->detail);
        if (!newest && s->end == LS_SCAN_TORN)
            return set_damage(d, i, s->bad_offset, "damaged frame in a segment followed by a segment with data");
        if (!newest && s->end == LS_SCAN_CLEAN)
            return set_damage(d, i, s->data_end, "segment is not sealed but a later segment holds data");
        if (mf && mf->sealed) {
            if (s->end == LS_SCAN_TORN)
                return set_damage(d, i, s->bad_offset, "damaged frame in a segment the manifest records as sealed");
            if (s->end == LS_SCAN_CLEAN && s->data_end < mf->end)
                return set_damage(d, i, s->data_end,
                                  "segment ends at offset %" PRIu64 " but the manifest sealed it at offset %" PRIu64
                                  " (frames are missing)",
                                  s->data_end, mf->end);
            if (s->data_end != mf->end || s->last_lsn != mf->last_lsn)
                return set_damage(d, i, 0,
                                  "segment ends at offset %" PRIu64 " with last LSN %" PRIu64
                                  " but the manifest sealed it at offset %" PRIu64 " with last LSN %" PRIu64,
                                  s->data_end, s->last_lsn, mf->end, mf->last_lsn);
        }
        prev_last = s->last_lsn;
        have_prev = 1;
        gap_ok = s->tail_skipped;
    }
    return 0;
}

static size_t count_with_data(const found_list *l) {
    size_t with_data = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].gone && holds_data(&l->v[i])) with_data = i + 1;
    return with_data;
}

/*
 * Truncates a segment at `off` (unless it ends there), writes a seal there and fsyncs it. With
 * `keep_tail` (only zeros follow `off`, room for the seal included) the file keeps its size and
 * its zeros after the seal, as a rotation leaves a segment: the seal's durable write is all it
 * takes (truncating the preallocated tail and the fsync of the new size cost more than the rest
 * of sealing).
 */
static int cut_and_seal(ls_log *log, found_segment *f, uint64_t off, uint64_t last_lsn, int keep_tail, ls_error *err) {
    int fd = log->io->vt->open(log->io, f->path, O_RDWR, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, f->path, "cannot open segment to seal it");
    const char *step = "truncate";
    int rc = !keep_tail && f->scan.file_size > off ? log->io->vt->ftruncate(log->io, fd, (off_t)off) : 0;
    if (rc == 0) {
        step = "seal";
        rc = ls_segment_write_seal(log->io, fd, f->seq, last_lsn, off);
    }
    if (rc == 0 && !keep_tail) {
        step = "fsync";
        rc = log->io->vt->fsync(log->io, fd); /* the size may have changed: fsync, not fdatasync */
    }
    int crc = log->io->vt->close(log->io, fd);
    if (rc == 0 && crc < 0) {
        step = "close";
        rc = crc;
    }
    if (rc < 0) return ls_err_set_at(err, LS_E_IO, -rc, f->path, off, "cannot %s the segment", step);
    f->scan.end = LS_SCAN_SEALED;
    f->scan.data_end = off;
    f->scan.last_lsn = last_lsn;
    if (!keep_tail) f->scan.file_size = off + LS_SEAL_FRAME_SIZE;
    f->scan.tail_skipped = 0;
    return LS_OK;
}

/* Cuts a torn tail off the newest segment (or seals a clean one) so it is read as complete. */
static int finish_newest(ls_log *log, found_segment *f, ls_recovery_info *info, ls_error *err) {
    if (f->scan.end == LS_SCAN_SEALED) return LS_OK;
    if (f->scan.end == LS_SCAN_TORN) {
        info->torn_tail = 1;
        info->torn_offset = f->scan.data_end;
        info->torn_bytes = f->scan.file_size - f->scan.data_end;
    }
    if (log->cfg.read_only) return LS_OK; /* read as ending at data_end; nothing is cut or sealed */
    /* A clean end followed only by zeros (the preallocated tail) is sealed in place. */
    int keep_tail = f->scan.end == LS_SCAN_CLEAN && f->scan.zero_tail &&
                    f->scan.file_size >= f->scan.data_end + LS_SEAL_FRAME_SIZE;
    return cut_and_seal(log, f, f->scan.data_end, f->scan.last_lsn, keep_tail, err);
}

/* Appends the batch of events built up in `ev` (one fsync), if any. */
static int flush_events(ls_log *log, ls_mf_event *ev, size_t *n, ls_error *err) {
    int rc = *n ? ls_manifest_append(&log->manifest, ev, *n, err) : LS_OK;
    *n = 0;
    return rc;
}

/* Removes (or renames to .dropped) a file whose obsolescence is durable in the manifest. */
static int remove_obsolete_file(ls_log *log, found_segment *f, int dropped, ls_error *err) {
    int rc;
    if (dropped) {
        char to[LS_PATH_MAX + 16];
        snprintf(to, sizeof to, "%s" LS_DROPPED_SUFFIX, f->path);
        rc = log->io->vt->rename(log->io, f->path, to);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot rename a dropped segment");
    } else {
        rc = log->io->vt->unlink(log->io, f->path);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot remove an obsolete segment");
    }
    f->gone = 1;
    return LS_OK;
}

/*
 * Reconciles the directory with the manifest: listed segments must exist; obsolete ones are
 * removed; unlisted files without data are removed, with data refused. On return `l` holds
 * the live, listed segments (others marked gone).
 */
static int reconcile(ls_log *log, found_list *l, ls_recovery_info *info, ls_error *err) {
    ls_manifest *m = &log->manifest;
    int changed = 0;
    for (size_t i = 0; i < m->nsegs; i++) {
        ls_mf_segment *ms = &m->segs[i];
        if (ms->removed) continue;
        found_segment *f = NULL;
        for (size_t j = 0; j < l->n && !f; j++)
            if (l->v[j].seq == ms->seq && l->v[j].writer_id == ms->writer_id) f = &l->v[j];
        if (ms->obsolete) {
            if (f && log->cfg.read_only) {
                f->gone = 1; /* left in place, not read */
            } else if (f) {
                int rc = remove_obsolete_file(log, f, ms->dropped, err);
                if (rc != LS_OK) return rc;
                info->removed_obsolete++;
                changed = 1;
            }
            ms->removed = 1;
            continue;
        }
        if (!f) {
            char path[LS_PATH_MAX];
            ls_segment_path(path, sizeof path, log->seg_dir, ms->writer_id, ms->seq);
            return ls_err_set(err, LS_E_CORRUPT, 0, path, "segment %" PRIu64 " listed in the manifest is missing: %s",
                              ms->seq, path);
        }
    }
    for (size_t j = 0; j < l->n; j++) {
        found_segment *f = &l->v[j];
        if (f->gone) continue;
        const ls_mf_segment *ms = ls_manifest_segment(m, f->seq);
        if (ms && ms->writer_id == f->writer_id) continue;
        int rc = scan_one(log, f, 0, NULL, NULL, err);
        if (rc != LS_OK) return rc;
        if (!never_written(f))
            return ls_err_set_at(err, LS_E_CORRUPT, 0, f->path, 0,
                                 "segment file %s is not listed in the manifest but holds data (a foreign writer's "
                                 "segment?)",
                                 f->path);
        /* Prepared, but the crash came before its SEGMENT_OPEN was durable (or, read-only, a live
         * writer has not recorded it yet). */
        if (log->cfg.read_only) {
            f->gone = 1;
            continue;
        }
        rc = log->io->vt->unlink(log->io, f->path);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot remove an unlisted unused segment");
        f->gone = 1;
        info->removed_empty++;
        changed = 1;
    }
    return changed ? fsync_segments_dir(log, err) : LS_OK;
}

/* Drops gone entries from the list (keeping order). */
static void compact_list(found_list *l) {
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].gone) ls_scan_result_free(&l->v[i].scan);
        else l->v[k++] = l->v[i];
    }
    l->n = k;
}

typedef struct frame_count {
    uint64_t from, frames;
} frame_count;

static int count_frame(void *ctx, uint64_t offset, const ls_frame_header *h, const uint8_t *body) {
    (void)body;
    frame_count *c = ctx;
    if (offset >= c->from && !(h->flags & LS_FRAME_F_SEAL)) c->frames++;
    return 0;
}

/* Valid frames of `f` at offsets >= from, found by a salvage walk (for the drop report). */
static int valid_frames_from(ls_log *log, const found_segment *f, uint64_t from, uint64_t *out, ls_error *err) {
    found_segment copy = *f;
    memset(&copy.scan, 0, sizeof copy.scan);
    frame_count c = {from, 0};
    int rc = scan_one(log, &copy, 1, count_frame, &c, err);
    ls_scan_result_free(&copy.scan);
    *out = c.frames;
    return rc;
}

static void note_damage(ls_recovery_info *info, const char *path, uint64_t off) {
    if (info->has_damage) return;
    info->has_damage = 1;
    info->damage_offset = off;
    snprintf(info->damage_path, sizeof info->damage_path, "%s", path);
}

/*
 * Point-in-time: cuts the log at damage d. A damage inside a segment truncates and seals it
 * there; one of the segment as a whole drops it. Every later segment is recorded dropped
 * and obsolete, then renamed to <name>.dropped (never-written ones are just removed).
 */
static int cut_point_in_time(ls_log *log, found_list *l, const damage *d, ls_recovery_info *info, ls_error *err) {
    found_segment *cut = &l->v[d->idx];
    int partial = d->off >= LS_SEGMENT_HEADER_SIZE && header_ok(cut);
    size_t kept = partial ? d->idx + 1 : d->idx;
    note_damage(info, cut->path, d->off);
    uint64_t kept_last = 0;
    for (size_t i = 0; i < d->idx; i++)
        if (holds_data(&l->v[i])) kept_last = l->v[i].scan.last_lsn;
    if (partial) kept_last = cut->scan.last_lsn;
    info->first_dropped_lsn = kept_last ? kept_last + 1 : (header_ok(cut) ? cut->scan.header.base_lsn : 0);
    ls_mf_event *ev = calloc(2 + 2 * l->n, sizeof *ev);
    if (!ev) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
    size_t nev = 0;
    int rc = LS_OK;
    if (partial) {
        uint64_t frames = 0, size = cut->scan.file_size;
        rc = valid_frames_from(log, cut, d->off, &frames, err);
        if (rc == LS_OK) rc = cut_and_seal(log, cut, d->off, cut->scan.last_lsn, 0, err);
        if (rc == LS_OK) {
            info->dropped_frames += frames;
            info->dropped_ranges++;
            info->dropped_bytes += size - d->off;
            ev[nev++] = (ls_mf_event){LS_MF_RECOVERY_DROP, cut->seq, d->off, size - d->off, info->first_dropped_lsn};
            ev[nev++] = (ls_mf_event){LS_MF_SEGMENT_SEAL, cut->seq, cut->scan.last_lsn, d->off, 0};
        }
    }
    for (size_t j = kept; rc == LS_OK && j < l->n; j++) {
        found_segment *g = &l->v[j];
        if (!never_written(g)) {
            uint64_t frames = 0;
            rc = valid_frames_from(log, g, 0, &frames, err);
            info->dropped_frames += frames;
            info->dropped_ranges++;
            info->dropped_bytes += g->scan.file_size;
            ev[nev++] = (ls_mf_event){LS_MF_RECOVERY_DROP, g->seq, 0, g->scan.file_size,
                                      header_ok(g) ? g->scan.header.base_lsn : 0};
        }
        ev[nev++] = (ls_mf_event){LS_MF_SEGMENT_OBSOLETE, g->seq, 0, 0, 0};
    }
    if (rc == LS_OK) rc = flush_events(log, ev, &nev, err);
    free(ev);
    /* The manifest says they are gone: now they may go (renamed, so they can be inspected). */
    for (size_t j = kept; rc == LS_OK && j < l->n; j++) {
        int unused = never_written(&l->v[j]);
        rc = remove_obsolete_file(log, &l->v[j], !unused, err);
        if (rc == LS_OK) ls_manifest_mark_removed(&log->manifest, l->v[j].seq);
        if (unused) info->removed_empty++;
    }
    if (rc == LS_OK && kept < l->n) rc = fsync_segments_dir(log, err);
    if (rc == LS_OK) compact_list(l);
    return rc;
}

/*
 * Salvage: records every damaged range the salvage scans found as a skip range (and the
 * damaged tails of older segments up to their end, with a seal event at their new end),
 * so that the strict pass that follows accepts exactly those ranges.
 */
static int record_salvage(ls_log *log, found_list *l, ls_recovery_info *info, ls_error *err) {
    size_t with_data = count_with_data(l);
    size_t cap = 8, nev = 0;
    for (size_t i = 0; i < l->n; i++) cap += l->v[i].scan.ndamage + 2;
    ls_mf_event *ev = calloc(cap, sizeof *ev);
    if (!ev) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
    for (size_t i = 0; i < with_data; i++) {
        found_segment *f = &l->v[i];
        ls_scan_result *s = &f->scan;
        const ls_mf_segment *mf = ls_manifest_segment(&log->manifest, f->seq);
        int newest = i + 1 == with_data;
        for (size_t k = 0; k < s->ndamage; k++) {
            const ls_skip_range *r = &s->damage[k];
            ev[nev++] = (ls_mf_event){LS_MF_RECOVERY_SKIP, f->seq, r->offset, r->length, r->first_lsn};
            if (!info->first_dropped_lsn) info->first_dropped_lsn = r->first_lsn;
            note_damage(info, f->path, r->offset);
        }
        /* A damaged end: the newest segment's is a torn tail (cut later), unless the manifest
         * says it was sealed; an older segment's is skipped up to the end of the file. */
        uint64_t tail = UINT64_MAX;
        if (!header_ok(f)) tail = 0;
        else if (s->end == LS_SCAN_TORN && (!newest || (mf && mf->sealed))) tail = s->bad_offset;
        else if (s->end == LS_SCAN_CLEAN && !newest) tail = s->data_end;
        if (tail == UINT64_MAX) continue;
        uint64_t len = s->file_size > tail ? s->file_size - tail : 1;
        uint64_t first = header_ok(f) ? s->last_lsn + 1 : 0;
        ev[nev++] = (ls_mf_event){LS_MF_RECOVERY_SKIP, f->seq, tail, len, first};
        if (header_ok(f)) ev[nev++] = (ls_mf_event){LS_MF_SEGMENT_SEAL, f->seq, s->last_lsn, tail, 0};
        if (!info->first_dropped_lsn) info->first_dropped_lsn = first;
        note_damage(info, f->path, s->end == LS_SCAN_TORN ? s->bad_offset : tail);
    }
    for (size_t k = 0; k < nev; k++) {
        if (ev[k].type != LS_MF_RECOVERY_SKIP) continue;
        info->dropped_ranges++;
        info->dropped_bytes += ev[k].c;
    }
    int rc = flush_events(log, ev, &nev, err);
    free(ev);
    return rc;
}

/* Scans every live segment (salvage: resynchronising past damage). */
static int scan_all(ls_log *log, found_list *l, int salvage, ls_error *err) {
    for (size_t i = 0; i < l->n; i++) {
        int rc = scan_one(log, &l->v[i], salvage, NULL, NULL, err);
        if (rc != LS_OK) return rc;
    }
    return LS_OK;
}

/* A never-written segment whose every byte is zero and whose size is this log's segment size:
 * as good as one freshly prepared (its zeros and size were fsynced when it was prepared, and
 * again by this open's scan). */
static int spare_candidate(const ls_log *log, const found_segment *f) {
    return never_written(f) && f->scan.zero_tail && f->scan.file_size == log->cfg.segment_size;
}

/* Records SEGMENT_SEAL for sealed segments the manifest does not know sealed (crash before
 * the preparer recorded it, or sealed by this recovery), and OBSOLETE for the unused ones
 * after the newest with data, which are then removed, except a spare kept for this writer. */
static int settle(ls_log *log, found_list *l, size_t with_data, ls_recovery_info *info, ls_error *err) {
    if (log->cfg.read_only) { /* records and removes nothing: the unused segments are just not read */
        l->n = with_data;
        return LS_OK;
    }
    ls_mf_event *ev = calloc(l->n + 1, sizeof *ev);
    if (!ev) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
    size_t nev = 0;
    for (size_t i = 0; i < l->n; i++) {
        const found_segment *f = &l->v[i];
        const ls_mf_segment *mf = ls_manifest_segment(&log->manifest, f->seq);
        if (i < with_data) {
            if (f->scan.end == LS_SCAN_SEALED && !f->scan.tail_skipped && (!mf || !mf->sealed))
                ev[nev++] = (ls_mf_event){LS_MF_SEGMENT_SEAL, f->seq, f->scan.last_lsn, f->scan.data_end, 0};
        } else {
            ev[nev++] = (ls_mf_event){LS_MF_SEGMENT_OBSOLETE, f->seq, 0, 0, 0};
        }
    }
    int rc = flush_events(log, ev, &nev, err);
    free(ev);
    int removed = 0;
    for (size_t i = with_data; rc == LS_OK && i < l->n; i++) {
        found_segment *f = &l->v[i];
        if (!log->have_spare && spare_candidate(log, f)) {
            /* Obsolete now, so it is deleted at the next open unless this one renames it into
             * the first segment of this writer (ls_segment_adopt): deleting 64 MiB and creating
             * 64 MiB again would cost more than the rest of sealing the log. */
            log->have_spare = 1;
            log->spare_seq = f->seq;
            snprintf(log->spare_path, sizeof log->spare_path, "%s", f->path);
            info->removed_empty++;
            continue;
        }
        rc = remove_obsolete_file(log, f, 0, err);
        if (rc == LS_OK) {
            ls_manifest_mark_removed(&log->manifest, f->seq);
            info->removed_empty++;
            removed = 1;
        }
    }
    if (rc == LS_OK && removed) rc = fsync_segments_dir(log, err);
    if (rc == LS_OK) l->n = with_data;
    return rc;
}

static int publish(ls_log *log, const found_list *l, uint64_t max_seq, ls_recovery_info *info, ls_error *err) {
    for (size_t i = 0; i < l->n; i++) {
        const found_segment *f = &l->v[i];
        if (!holds_data(f)) continue; /* wholly skipped */
        ls_segment s = {.seq = f->seq,
                        .writer_id = f->writer_id,
                        .base_lsn = f->scan.header.base_lsn,
                        .last_lsn = f->scan.last_lsn,
                        .end = f->scan.data_end,
                        .sealed = 1};
        memcpy(s.path, f->path, sizeof s.path);
        if (ls_log_add_segment(log, &s) < 0) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
        info->frames += f->scan.frames;
        info->records += f->scan.records;
        info->last_lsn = f->scan.last_lsn;
        info->segments++;
    }
    ls_manifest *m = &log->manifest;
    if (m->nskips) {
        log->skips = malloc(m->nskips * sizeof *log->skips);
        if (!log->skips) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
        memcpy(log->skips, m->skips, m->nskips * sizeof *log->skips);
        log->nskips = m->nskips;
    }
    log->next_lsn = info->last_lsn + 1;
    log->prep_next_seq = max_seq + 1 > m->next_seq ? max_seq + 1 : m->next_seq;
    atomic_store(&log->durable_lsn, info->last_lsn);
    return LS_OK;
}

/* Position of a writer's last WRITER_START in the manifest (0 if it has none). */
static size_t start_rank(const ls_manifest *m, uint64_t id) {
    size_t rank = 0;
    for (size_t w = 0; w < m->nwriters; w++)
        if (m->writers[w] == id) rank = w + 1;
    return rank;
}

/* Orders unclean writers by when they started (manifest WRITER_START order) and reports them. */
static void report_unclean(const ls_manifest *m, uint64_t *ids, size_t n, ls_recovery_info *info) {
    for (size_t i = 1; i < n; i++) { /* insertion sort: a handful of ids */
        for (size_t j = i; j > 0 && start_rank(m, ids[j - 1]) > start_rank(m, ids[j]); j--) {
            uint64_t id = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = id;
        }
    }
    info->unclean_writers = n;
    for (size_t i = 0; i < n && i < LS_RECOVERY_MAX_WRITER_IDS; i++) info->unclean_writer_ids[i] = ids[i];
    info->last_unclean_writer_id = n ? ids[n - 1] : 0;
}

/* The store is created and locked by this log (ls_log_open). */
int ls_recover(ls_log *log, ls_recovery_info *info, ls_error *err) {
    memset(info, 0, sizeof *info);
    int read_only = log->cfg.read_only;
    int rc = read_only ? 0 : log->io->vt->fsync_dir(log->io, log->dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->dir, "cannot fsync the store directory");
    rc = read_only ? 0 : log->io->vt->fsync_dir(log->io, log->seg_dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->seg_dir, "cannot fsync the segments directory");
    found_list l = {0};
    uint64_t *unclean = NULL;
    size_t nunclean = 0;
    rc = list_segments(log, &l, err);
    if (rc == LS_OK) rc = ls_markers_list_others(log, &unclean, &nunclean, err);
    /* A store with segment files but no manifest is not one this code wrote. */
    if (rc == LS_OK) rc = ls_manifest_open(&log->manifest, l.n == 0, err);
    uint64_t max_seq = l.max_seq;
    if (rc == LS_OK) {
        ls_manifest *m = &log->manifest;
        info->manifest_records = m->replayed_records;
        info->manifest_bytes = m->replayed_bytes;
        info->manifest_torn_bytes = m->torn_bytes;
        report_unclean(m, unclean, nunclean, info);
        ls_mf_event start = {LS_MF_WRITER_START, log->writer_id, log->start_time_ns, (uint64_t)getpid(), 0};
        if (!read_only) rc = ls_manifest_append(m, &start, 1, err);
    }
    if (rc == LS_OK) rc = reconcile(log, &l, info, err);
    if (rc == LS_OK) {
        compact_list(&l);
        ls_recovery_mode mode = log->cfg.recovery_mode;
        rc = scan_all(log, &l, mode == LS_RECOVERY_SALVAGE, err);
        if (rc == LS_OK && mode == LS_RECOVERY_SALVAGE) {
            rc = record_salvage(log, &l, info, err);
            if (rc == LS_OK) rc = scan_all(log, &l, 0, err); /* strictly, with the new skip ranges */
        }
        damage d;
        if (rc == LS_OK && find_damage(log, &l, count_with_data(&l), &d)) {
            if (mode == LS_RECOVERY_POINT_IN_TIME) {
                rc = cut_point_in_time(log, &l, &d, info, err);
                /* A cut leaves everything before it intact; anything else is a bug to refuse. */
                if (rc == LS_OK && find_damage(log, &l, count_with_data(&l), &d))
                    rc = corrupt(err, &l.v[d.idx], d.off, d.what);
            } else if (mode == LS_RECOVERY_SALVAGE) {
                char what[260];
                snprintf(what, sizeof what, "salvage cannot repair this: %s", d.what);
                rc = corrupt(err, &l.v[d.idx], d.off, what);
            } else {
                rc = corrupt(err, &l.v[d.idx], d.off, d.what);
            }
        }
    }
    size_t with_data = rc == LS_OK ? count_with_data(&l) : 0;
    if (rc == LS_OK && with_data) rc = finish_newest(log, &l.v[with_data - 1], info, err);
    if (rc == LS_OK) rc = settle(log, &l, with_data, info, err);
    if (rc == LS_OK) rc = publish(log, &l, max_seq, info, err);
    /* Reported now; removed only once recovery succeeded, so a failed open reports them again. */
    if (rc == LS_OK && !read_only) rc = ls_markers_remove(log, unclean, nunclean, err);
    if (rc == LS_OK) info->manifest_rewritten = log->manifest.rewrites > 0;
    free(unclean);
    free_list(&l);
    return rc;
}
