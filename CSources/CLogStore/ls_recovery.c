/*
 * Recovery at open (DESIGN §4.2, §4.3, §4.6): find the segment files, make what
 * exists durable before trusting it, verify every frame, and decide for each
 * kind of damage:
 *  - leftover ".tmp" files of an interrupted preparation are removed;
 *  - the newest segment holding data may end in a torn tail: it is truncated
 *    there and sealed (writing continues in a new segment);
 *  - segments after it that hold no valid frame (prepared, never used, or whose
 *    first write was torn) are removed;
 *  - anything else (a bad frame followed by a valid one, damage in a segment
 *    followed by one with data, a missing seal, a gap in LSNs, a header whose
 *    writer id disagrees with the file name) is corruption: open fails naming
 *    the segment and the offset.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
} found_segment;

typedef struct found_list {
    found_segment *v;
    size_t n, cap;
} found_list;

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
    return 0;
}

/*
 * Lists segment files through the locked directory descriptor (so the directory listed is
 * the one locked), removing leftovers of interrupted preparations. A failed readdir is an
 * error, never the end of the listing: a missed segment would silently drop data.
 */
static int list_segments(ls_log *log, found_list *out, ls_error *err) {
    int fd = dup(log->dir_lock_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0) close(fd);
        return ls_err_set(err, LS_E_IO, e, log->dir, "cannot list the log directory");
    }
    int removed = 0, rc = LS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, log->dir, "cannot list the log directory");
            break;
        }
        uint64_t writer, seq;
        int tmp = is_segment_tmp(e->d_name);
        if (!tmp && !ls_segment_parse_name(e->d_name, &writer, &seq)) continue;
        char path[LS_PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", log->dir, e->d_name) >= sizeof path) {
            rc = ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, log->dir, "segment path too long");
            break;
        }
        if (tmp) {
            int urc = log->io->vt->unlink(log->io, path);
            if (urc < 0) rc = ls_err_set(err, LS_E_IO, -urc, path, "cannot remove an unfinished segment file");
            removed = 1;
        } else if (add_found(out, path, writer, seq) < 0) {
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
        }
        if (rc != LS_OK) break;
    }
    closedir(d);
    if (rc == LS_OK && removed) {
        int frc = log->io->vt->fsync_dir(log->io, log->dir);
        if (frc < 0) rc = ls_err_set(err, LS_E_IO, -frc, log->dir, "cannot fsync the log directory");
    }
    if (rc == LS_OK && out->n > 1) qsort(out->v, out->n, sizeof *out->v, by_seq);
    for (size_t i = 1; rc == LS_OK && i < out->n; i++) {
        if (out->v[i].seq == out->v[i - 1].seq)
            rc = ls_err_set(err, LS_E_CORRUPT, 0, out->v[i].path, "two segment files have sequence %" PRIu64, out->v[i].seq);
    }
    return rc;
}

/* fsyncs the file (DESIGN §4.6) and verifies it. */
static int scan_one(ls_log *log, found_segment *f, ls_error *err) {
    int fd = log->io->vt->open(log->io, f->path, O_RDWR, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, f->path, "cannot open segment");
    int rc = log->io->vt->fsync(log->io, fd);
    if (rc < 0) {
        log->io->vt->close(log->io, fd);
        return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot fsync segment");
    }
    rc = ls_segment_scan(log->io, fd, f->path, f->seq, NULL, NULL, &f->scan, err);
    log->io->vt->close(log->io, fd);
    if (rc == LS_OK && f->scan.header_state == 0 && f->scan.header.writer_id != f->writer_id) {
        f->scan.end = LS_SCAN_CORRUPT;
        f->scan.bad_offset = 0;
        snprintf(f->scan.detail, sizeof f->scan.detail, "segment header names writer %016" PRIx64 ", its file name another",
                 f->scan.header.writer_id);
    }
    return rc;
}

static int holds_data(const found_segment *f) {
    return f->scan.header_state == 0 && (f->scan.frames > 0 || f->scan.end == LS_SCAN_SEALED);
}

static int corrupt(ls_error *err, const found_segment *f, uint64_t off, const char *what) {
    return ls_err_set_at(err, LS_E_CORRUPT, 0, f->path, off, "corrupt segment %" PRIu64 " at offset %" PRIu64 ": %s",
                         f->seq, off, what);
}

/* Everything before the newest segment with data must be intact, sealed and contiguous. */
static int check_older(const found_list *l, size_t newest, ls_error *err) {
    for (size_t i = 0; i < newest; i++) {
        const found_segment *f = &l->v[i];
        if (f->scan.end == LS_SCAN_CORRUPT) return corrupt(err, f, f->scan.bad_offset, f->scan.detail);
        if (f->scan.header_state != 0)
            return corrupt(err, f, 0, f->scan.header_state > 0 ? "segment header missing in a segment followed by data"
                                                                : f->scan.detail);
        if (f->scan.end == LS_SCAN_TORN)
            return corrupt(err, f, f->scan.bad_offset, "damaged frame in a segment followed by a segment with data");
        if (f->scan.end != LS_SCAN_SEALED)
            return corrupt(err, f, f->scan.data_end, "segment is not sealed but a later segment holds data");
    }
    for (size_t i = 1; i <= newest; i++) {
        const found_segment *p = &l->v[i - 1], *f = &l->v[i];
        /* Sequence numbers may skip (prepared segments that were never used are removed);
         * LSNs may not: a missing segment with data shows as an LSN gap. */
        if (f->scan.header.base_lsn != p->scan.last_lsn + 1)
            return corrupt(err, f, 0, "base LSN does not follow the previous segment's last LSN (a segment is missing)");
    }
    return LS_OK;
}

/* Cuts a torn tail off the newest segment (or seals a clean one) so it is read as complete. */
static int finish_newest(ls_log *log, found_segment *f, ls_recovery_info *info, ls_error *err) {
    if (f->scan.end == LS_SCAN_CORRUPT) return corrupt(err, f, f->scan.bad_offset, f->scan.detail);
    if (f->scan.end == LS_SCAN_SEALED) return LS_OK;
    int fd = log->io->vt->open(log->io, f->path, O_RDWR, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, f->path, "cannot open segment to seal it");
    int rc = 0;
    const char *step = "truncate";
    if (f->scan.end == LS_SCAN_TORN) {
        info->torn_tail = 1;
        info->torn_offset = f->scan.data_end;
        info->torn_bytes = f->scan.file_size - f->scan.data_end;
        rc = log->io->vt->ftruncate(log->io, fd, (off_t)f->scan.data_end);
    }
    if (rc == 0) {
        step = "seal";
        rc = ls_segment_write_seal(log->io, fd, f->seq, f->scan.last_lsn, f->scan.data_end);
    }
    if (rc == 0) {
        step = "fsync";
        rc = log->io->vt->fsync(log->io, fd); /* the size may have changed: fsync, not fdatasync */
    }
    log->io->vt->close(log->io, fd);
    if (rc < 0) return ls_err_set_at(err, LS_E_IO, -rc, f->path, f->scan.data_end, "cannot %s the newest segment", step);
    f->scan.end = LS_SCAN_SEALED;
    return LS_OK;
}

/* Segments after the newest one with data hold nothing valid: remove them. */
static int remove_unused(ls_log *log, found_list *l, size_t from, ls_recovery_info *info, ls_error *err) {
    for (size_t i = from; i < l->n; i++) {
        found_segment *f = &l->v[i];
        if (f->scan.end == LS_SCAN_CORRUPT) return corrupt(err, f, f->scan.bad_offset, f->scan.detail);
        int rc = log->io->vt->unlink(log->io, f->path);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, f->path, "cannot remove an unused segment");
        info->removed_empty++;
    }
    if (from < l->n) {
        int rc = log->io->vt->fsync_dir(log->io, log->dir);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->dir, "cannot fsync the log directory");
    }
    return LS_OK;
}

static int publish(ls_log *log, const found_list *l, size_t count, ls_recovery_info *info, ls_error *err) {
    for (size_t i = 0; i < count; i++) {
        const found_segment *f = &l->v[i];
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
    }
    info->segments = count;
    log->next_lsn = info->last_lsn + 1;
    log->prep_next_seq = (l->n ? l->v[l->n - 1].seq : 0) + 1;
    atomic_store(&log->durable_lsn, info->last_lsn);
    return LS_OK;
}

/* The directory exists and is locked by this log (ls_log_open). */
int ls_recover(ls_log *log, ls_recovery_info *info, ls_error *err) {
    memset(info, 0, sizeof *info);
    int rc = log->io->vt->fsync_dir(log->io, log->dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->dir, "cannot fsync the log directory");
    found_list l = {0};
    rc = list_segments(log, &l, err);
    for (size_t i = 0; rc == LS_OK && i < l.n; i++) rc = scan_one(log, &l.v[i], err);
    size_t with_data = 0; /* number of segments up to and including the newest with data */
    for (size_t i = 0; i < l.n; i++)
        if (holds_data(&l.v[i])) with_data = i + 1;
    if (rc == LS_OK) rc = check_older(&l, with_data ? with_data - 1 : 0, err);
    if (rc == LS_OK && with_data) rc = finish_newest(log, &l.v[with_data - 1], info, err);
    if (rc == LS_OK) rc = remove_unused(log, &l, with_data, info, err);
    if (rc == LS_OK) rc = publish(log, &l, with_data, info, err);
    free(l.v);
    return rc;
}
