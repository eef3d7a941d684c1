/*
 * Reading records back in LSN order. A reader takes a snapshot of the segment
 * list and of the durable LSN when it opens, and verifies every frame CRC and
 * every record CRC as it reads. It never sees a record that is not durable.
 *
 * A segment is read through an ls_window: mapped read-only where possible, so a
 * frame's records are handed out in place (no copy), else copied into a buffer.
 * ls_reader_next_batch hands out many records per call (recovery replays millions);
 * a batch ends where continuing would invalidate the records it already holds: at
 * the end of a segment (its mapping is released), at the end of a frame when frames
 * are copied, and before a second zstd container (its records are expanded into one
 * buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_internal.h"

/* Internal result of a step: continuing would invalidate records of the current batch. */
#define LS_READER_STOP 2

struct ls_reader {
    ls_log *log;
    ls_segment *segs;
    size_t nsegs, idx;
    uint64_t from_lsn, end_lsn;
    int fd;
    ls_window win;
    uint64_t off; /* next frame offset in segs[idx] */
    const uint8_t *body;     /* the current frame's body: in the mapping, or body_buf */
    uint8_t *body_buf;       /* a copy of the body when the segment is not mapped */
    size_t body_cap;
    uint32_t body_len, body_pos;
    uint32_t left_in_frame; /* logical records of the frame not yet returned */
    uint8_t *inner;         /* an expanded zstd container */
    size_t inner_cap;
    uint64_t container_limit; /* largest stated size of a container in segs[idx]; 0: not read yet */
    uint32_t inner_len, inner_pos, inner_left;
    uint64_t next_lsn;
    uint64_t frame_off;
    ls_location at;          /* location of the record next_in_frame returned last */
    uint64_t container_off;  /* file offset of the open container record */
    uint32_t container_item; /* index of the next record inside it */
    /* While a batch is being filled: what its records point into, which must stay put. */
    int pin_frame, pin_segment, pin_inner;
};

int ls_reader_open(ls_log *log, uint64_t from_lsn, ls_reader **out, ls_error *err) {
    *out = NULL;
    ls_reader *r = calloc(1, sizeof *r);
    if (!r) return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
    r->log = log;
    r->fd = -1;
    r->from_lsn = from_lsn ? from_lsn : 1;
    /* Durable LSN first: the segment list is updated before the durable LSN moves. */
    r->end_lsn = ls_log_durable_lsn(log);
    pthread_mutex_lock(&log->seg_mu);
    r->segs = malloc((log->nsegs ? log->nsegs : 1) * sizeof *r->segs);
    if (r->segs) {
        if (log->nsegs) memcpy(r->segs, log->segs, log->nsegs * sizeof *r->segs);
        r->nsegs = log->nsegs;
    }
    pthread_mutex_unlock(&log->seg_mu);
    if (!r->segs) {
        free(r);
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "out of memory");
    }
    /* Start at the last segment whose base LSN is not past from_lsn. */
    while (r->idx + 1 < r->nsegs && r->segs[r->idx + 1].base_lsn <= r->from_lsn) r->idx++;
    *out = r;
    return LS_OK;
}

static void close_segment(ls_reader *r) {
    if (r->fd >= 0) {
        ls_window_free(&r->win);
        r->log->io->vt->close(r->log->io, r->fd);
        r->fd = -1;
    }
    r->body = NULL;
}

void ls_reader_close(ls_reader *r) {
    if (!r) return;
    close_segment(r);
    free(r->segs);
    free(r->body_buf);
    free(r->inner);
    free(r);
}

static int open_segment(ls_reader *r, ls_error *err) {
    const ls_segment *s = &r->segs[r->idx];
    ls_io *io = r->log->io;
    int fd = io->vt->open(io, s->path, O_RDONLY, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, s->path, "cannot open segment for reading");
    if (ls_window_init(&r->win, io, fd, s->end) < 0) {
        io->vt->close(io, fd);
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, s->path, "out of memory");
    }
    r->fd = fd;
    r->off = LS_SEGMENT_HEADER_SIZE;
    r->container_limit = 0;
    return LS_OK;
}

static int reader_corrupt(ls_reader *r, uint64_t off, const char *what, ls_error *err) {
    const ls_segment *s = &r->segs[r->idx];
    return ls_err_set_at(err, LS_E_CORRUPT, 0, s->path, off, "corrupt segment %" PRIu64 " at offset %" PRIu64 ": %s",
                         s->seq, off, what);
}

/*
 * The end of the skip range (salvage, recorded in the manifest) of segment `seq` that covers
 * `off`, or 0. The ranges are fixed after open, so no lock is needed.
 */
static uint64_t skip_end(const ls_log *log, uint64_t seq, uint64_t off) {
    for (size_t i = 0; i < log->nskips; i++) {
        const ls_skip_range *k = &log->skips[i];
        if (k->seq == seq && off >= k->offset && off - k->offset < k->length) return k->offset + k->length;
    }
    return 0;
}

/* Loads the next frame's body. Returns 1, 0 at the end, LS_READER_STOP (nothing changed), or a
 * negative status. */
static int load_frame(ls_reader *r, ls_error *err) {
    for (;;) {
        if (r->idx >= r->nsegs) return 0;
        if (r->fd < 0) {
            int rc = open_segment(r, err);
            if (rc != LS_OK) return rc;
        }
        /* The current frame's bytes are replaced below unless they are in the mapping. */
        if (r->pin_frame && !ls_window_stable(&r->win)) return LS_READER_STOP;
        const ls_segment *s = &r->segs[r->idx];
        uint64_t skip_to = skip_end(r->log, s->seq, r->off);
        if (skip_to) {
            r->off = ls_align_up(skip_to, LS_FRAME_ALIGN);
            continue;
        }
        if (r->off >= s->end) {
            if (r->pin_segment) return LS_READER_STOP; /* closing it releases its mapping */
            close_segment(r);
            r->idx++;
            continue;
        }
        int rc;
        int stable = ls_window_stable(&r->win);
        const uint8_t *p = ls_window_get(&r->win, r->off, LS_FRAME_HEADER_SIZE, &rc);
        if (!p) return rc < 0 ? ls_err_set_at(err, LS_E_IO, -rc, s->path, r->off, "cannot read segment")
                              : reader_corrupt(r, r->off, "segment ends inside a frame", err);
        ls_frame_header h;
        uint32_t stored_crc;
        if (ls_frame_header_decode(p, &h, &stored_crc) != LS_FMT_OK) return reader_corrupt(r, r->off, "bad frame header", err);
        p = ls_window_get(&r->win, r->off, LS_FRAME_HEADER_SIZE + (size_t)h.stored_len, &rc);
        if (!p) return rc < 0 ? ls_err_set_at(err, LS_E_IO, -rc, s->path, r->off, "cannot read segment")
                              : reader_corrupt(r, r->off, "segment ends inside a frame", err);
        if (ls_frame_verify(p, LS_FRAME_HEADER_SIZE + (size_t)h.stored_len, &h) != LS_FMT_OK)
            return reader_corrupt(r, r->off, "frame checksum mismatch", err);
        r->frame_off = r->off;
        r->off += ls_frame_disk_size(h.stored_len);
        if (h.flags & LS_FRAME_F_SEAL) continue;
        if (h.record_count == 0 || h.first_lsn + h.record_count <= r->from_lsn) continue; /* wholly before the start */
        if (h.first_lsn > r->end_lsn) return 0;
        if (stable && ls_window_stable(&r->win)) {
            r->body = p + LS_FRAME_HEADER_SIZE; /* in the mapping: valid until the segment is closed */
        } else {
            if (h.stored_len > r->body_cap) {
                uint8_t *b = realloc(r->body_buf, h.stored_len);
                if (!b) return ls_err_set(err, LS_E_NOMEM, ENOMEM, s->path, "out of memory");
                r->body_buf = b;
                r->body_cap = h.stored_len;
            }
            memcpy(r->body_buf, p + LS_FRAME_HEADER_SIZE, h.stored_len);
            r->body = r->body_buf;
        }
        r->body_len = h.stored_len;
        r->body_pos = 0;
        r->left_in_frame = h.record_count;
        r->next_lsn = h.first_lsn;
        return 1;
    }
}

/*
 * The largest size a container of the current segment may state (ls_container_limit of the
 * segment size its header gives). Read when the segment's first container is met: through the
 * mapping, or with one pread (the window's buffer holds the current frame's neighbourhood). A
 * header that cannot be read or decoded gives the format's largest bound; its damage is
 * recovery's to report.
 */
static uint64_t segment_container_limit(ls_reader *r) {
    uint8_t copy[LS_SEGMENT_HEADER_SIZE];
    const uint8_t *hdr = NULL;
    if (ls_window_stable(&r->win)) {
        int rc;
        hdr = ls_window_get(&r->win, 0, LS_SEGMENT_HEADER_SIZE, &rc);
    } else if (ls_io_read_full(r->log->io, r->fd, copy, sizeof copy, 0) == (ssize_t)sizeof copy) {
        hdr = copy;
    }
    ls_segment_header h;
    return ls_container_limit(hdr && ls_segment_header_decode(hdr, &h) == LS_FMT_OK ? h.segment_size : 0);
}

/* Expands a zstd container record (at file offset `off`) into r->inner. */
static int open_container(ls_reader *r, const ls_record *c, uint64_t off, ls_error *err) {
    if (c->key_len != LS_ZSTD_BATCH_KEY_SIZE) return reader_corrupt(r, r->frame_off, "bad zstd container key", err);
    uint32_t count = ls_get_u32(c->key), raw = ls_get_u32(c->key + 4);
    if (count == 0 || count > r->left_in_frame)
        return reader_corrupt(r, r->frame_off, "zstd container record count disagrees with its frame", err);
    if (!r->container_limit) r->container_limit = segment_container_limit(r);
    char why[160], what[200];
    int rc = ls_container_expand(c->value, c->value_len, raw, r->container_limit, &r->inner, &r->inner_cap, why, sizeof why);
    if (rc == LS_E_NOMEM) return ls_err_set(err, LS_E_NOMEM, ENOMEM, r->segs[r->idx].path, "%s", why);
    if (rc != LS_OK) {
        snprintf(what, sizeof what, "record at offset %" PRIu64 ": %s", off, why);
        return reader_corrupt(r, r->frame_off, what, err);
    }
    r->inner_len = raw;
    r->inner_pos = 0;
    r->inner_left = count;
    r->left_in_frame -= count;
    return LS_OK;
}

/* The next logical record of the current frame: 1, 0 when the frame is exhausted,
 * LS_READER_STOP (nothing consumed), or <0. */
static int next_in_frame(ls_reader *r, ls_record *d, ls_error *err) {
    size_t used;
    uint64_t body_file_off = r->frame_off + LS_FRAME_HEADER_SIZE;
    for (;;) {
        if (r->inner_left) {
            r->at = (ls_location){r->segs[r->idx].seq, r->container_off, r->container_item++};
            if (ls_record_decode(r->inner + r->inner_pos, r->inner_len - r->inner_pos, d, &used) != LS_FMT_OK ||
                d->type == LS_RECORD_TYPE_ZSTD_BATCH)
                return reader_corrupt(r, r->frame_off, "bad record inside a zstd container", err);
            r->inner_pos += (uint32_t)used;
            if (--r->inner_left == 0 && r->inner_pos != r->inner_len)
                return reader_corrupt(r, r->frame_off, "zstd container longer than its records", err);
            return 1;
        }
        if (r->left_in_frame == 0) {
            if (r->body_pos != r->body_len) return reader_corrupt(r, r->frame_off, "frame body longer than its records", err);
            r->body_len = r->body_pos = 0; /* consumed */
            return 0;
        }
        if (ls_record_decode(r->body + r->body_pos, r->body_len - r->body_pos, d, &used) != LS_FMT_OK)
            return reader_corrupt(r, r->frame_off, "record checksum mismatch or bad record length", err);
        uint64_t record_off = body_file_off + r->body_pos;
        if (d->type != LS_RECORD_TYPE_ZSTD_BATCH) {
            r->body_pos += (uint32_t)used;
            r->left_in_frame--;
            r->at = (ls_location){r->segs[r->idx].seq, record_off, LS_LOCATION_PLAIN};
            return 1;
        }
        if (r->pin_inner) return LS_READER_STOP; /* expanding it would overwrite records handed out */
        r->body_pos += (uint32_t)used;
        r->container_off = record_off;
        r->container_item = 0;
        int rc = open_container(r, d, record_off, err);
        if (rc != LS_OK) return rc;
    }
}

/* One record: 1 with *rec set, 0 at the end, LS_READER_STOP, or <0. */
static int reader_step(ls_reader *r, ls_read_record *rec, ls_error *err) {
    for (;;) {
        ls_record d;
        int rc = next_in_frame(r, &d, err);
        if (rc < 0 || rc == LS_READER_STOP) return rc;
        if (rc == 0) {
            rc = load_frame(r, err);
            if (rc <= 0 || rc == LS_READER_STOP) return rc;
            continue;
        }
        uint64_t lsn = r->next_lsn++;
        if (lsn > r->end_lsn) {
            r->left_in_frame = r->inner_left = 0;
            r->idx = r->nsegs;
            return 0;
        }
        if (lsn < r->from_lsn) continue;
        rec->lsn = lsn;
        rec->type = d.type;
        rec->flags = d.flags;
        rec->key_len = d.key_len;
        rec->value_len = d.value_len;
        rec->key = d.key;
        rec->value = d.value;
        rec->location = r->at;
        return 1;
    }
}

int ls_reader_next(ls_reader *r, ls_read_record *rec, ls_error *err) {
    r->pin_frame = r->pin_segment = r->pin_inner = 0;
    return reader_step(r, rec, err);
}

int ls_reader_next_batch(ls_reader *r, ls_read_record *recs, size_t cap, ls_error *err) {
    if (cap == 0) return ls_err_set(err, LS_E_INVALID, EINVAL, r->log->dir, "a batch needs room for a record");
    if (cap > INT_MAX) cap = INT_MAX;
    r->pin_frame = r->pin_segment = r->pin_inner = 0;
    size_t n = 0;
    while (n < cap) {
        int rc = reader_step(r, &recs[n], err);
        if (rc < 0) return rc;
        if (rc == 0 || rc == LS_READER_STOP) break;
        /* From now on the batch holds a record in this frame (or container) of this segment. */
        r->pin_frame = r->pin_segment = 1;
        if (recs[n].location.item != LS_LOCATION_PLAIN) r->pin_inner = 1;
        n++;
    }
    r->pin_frame = r->pin_segment = r->pin_inner = 0;
    return (int)n;
}
