/*
 * Point reads by location (ls_log_read_at): the key-value index and the Raft entry
 * cache remember where each record is, and read it back here. Segments are mapped
 * read-only on first use and stay mapped until the log closes, so a read is a
 * checksum over bytes already in memory (the page cache), not a system call.
 *
 * Every read verifies the record's own CRC32C: a mismatch is LS_E_CORRUPT naming the
 * segment and offset, never wrong bytes handed back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_internal.h"

int ls_maps_init(ls_log *log) { return pthread_rwlock_init(&log->map_lock, NULL) ? -ENOMEM : 0; }

void ls_maps_free(ls_log *log) {
    for (size_t i = 0; i < log->nmaps; i++)
        log->io->vt->unmap(log->io, (void *)log->maps[i].addr, log->maps[i].len);
    free(log->maps);
    log->maps = NULL;
    log->nmaps = log->cap_maps = 0;
    pthread_rwlock_destroy(&log->map_lock);
}

/* Index of the mapping of `seq`, or of where it would go; map_lock held. */
static size_t map_search(const ls_log *log, uint64_t seq) {
    size_t lo = 0, hi = log->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->maps[mid].seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Path of segment `seq` from the segment list; 0 if the log has no such segment. */
static int segment_path(ls_log *log, uint64_t seq, char *out, size_t cap) {
    int found = 0;
    pthread_mutex_lock(&log->seg_mu);
    for (size_t i = log->nsegs; i-- > 0;) {
        if (log->segs[i].seq == seq) {
            snprintf(out, cap, "%s", log->segs[i].path);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&log->seg_mu);
    return found;
}

/* Maps segment `seq` (whole file) unless another reader did meanwhile; takes map_lock for writing. */
static int map_segment(ls_log *log, uint64_t seq, ls_error *err) {
    char path[LS_PATH_MAX];
    if (!segment_path(log, seq, path, sizeof path))
        return ls_err_set(err, LS_E_INVALID, EINVAL, log->dir, "no segment %" PRIu64 " in this log", seq);
    pthread_rwlock_wrlock(&log->map_lock);
    size_t at = map_search(log, seq);
    int rc = LS_OK;
    if (at < log->nmaps && log->maps[at].seq == seq) goto out; /* mapped meanwhile */
    if (log->nmaps == log->cap_maps) {
        size_t cap = log->cap_maps ? log->cap_maps * 2 : 16;
        ls_mapping *m = realloc(log->maps, cap * sizeof *m);
        if (!m) {
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, path, "out of memory");
            goto out;
        }
        log->maps = m;
        log->cap_maps = cap;
    }
    int fd = log->io->vt->open(log->io, path, O_RDONLY, 0);
    if (fd < 0) {
        rc = ls_err_set(err, LS_E_IO, -fd, path, "cannot open segment for reading");
        goto out;
    }
    int64_t size = log->io->vt->file_size(log->io, fd);
    int merr = 0;
    void *addr = size > 0 ? log->io->vt->map_read(log->io, fd, (size_t)size, &merr) : NULL;
    if (size <= 0) merr = size < 0 ? (int)size : -EINVAL;
    int crc = log->io->vt->close(log->io, fd);
    if (!addr) {
        rc = ls_err_set(err, LS_E_IO, -merr, path, "cannot map segment for reading");
        goto out;
    }
    if (crc < 0) {
        log->io->vt->unmap(log->io, addr, (size_t)size);
        rc = ls_err_set(err, LS_E_IO, -crc, path, "cannot close segment after mapping it");
        goto out;
    }
    memmove(&log->maps[at + 1], &log->maps[at], (log->nmaps - at) * sizeof *log->maps);
    log->maps[at] = (ls_mapping){.seq = seq, .addr = addr, .len = (size_t)size};
    log->nmaps++;
out:
    pthread_rwlock_unlock(&log->map_lock);
    return rc;
}

static int read_corrupt(ls_log *log, uint64_t seq, uint64_t off, const char *what, ls_error *err) {
    char path[LS_PATH_MAX];
    if (!segment_path(log, seq, path, sizeof path)) snprintf(path, sizeof path, "%s", log->dir);
    return ls_err_set_at(err, LS_E_CORRUPT, 0, path, off, "corrupt record in segment %" PRIu64 " at offset %" PRIu64 ": %s",
                         seq, off, what);
}

/* Expands the container `c` of the mapped segment `m` and hands its item-th record to fn. */
static int read_container_item(ls_log *log, const ls_mapping *m, const ls_location *loc, const ls_record *c,
                               ls_read_fn fn, void *ctx, ls_error *err) {
    if (c->key_len != LS_ZSTD_BATCH_KEY_SIZE) return read_corrupt(log, loc->segment_seq, loc->offset, "bad zstd container key", err);
    uint32_t count = ls_get_u32(c->key), raw = ls_get_u32(c->key + 4);
    if (loc->item >= count)
        return ls_err_set(err, LS_E_INVALID, EINVAL, log->dir, "item %u of a container of %u records", loc->item, count);
    /* The stated size is bounded by what one append can hold in this segment (the size its
     * header gives; the mapping holds it: loc->offset >= 64 is inside) before it is allocated. */
    ls_segment_header h;
    uint64_t limit = ls_container_limit(ls_segment_header_decode(m->addr, &h) == LS_FMT_OK ? h.segment_size : 0);
    uint8_t *plain = NULL;
    size_t cap = 0;
    char why[160];
    int rc = ls_container_expand(c->value, c->value_len, raw, limit, &plain, &cap, why, sizeof why);
    if (rc == LS_E_NOMEM) {
        rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, log->dir, "%s", why);
    } else if (rc != LS_OK) {
        rc = read_corrupt(log, loc->segment_seq, loc->offset, why, err);
    } else {
        size_t pos = 0, used = 0;
        ls_record d;
        for (uint32_t i = 0; i <= loc->item && rc == LS_OK; i++, pos += used) {
            if (ls_record_decode(plain + pos, raw - pos, &d, &used) != LS_FMT_OK)
                rc = read_corrupt(log, loc->segment_seq, loc->offset, "bad record inside a zstd container", err);
        }
        if (rc == LS_OK) {
            ls_read_record rec = {.type = d.type, .flags = d.flags, .key_len = d.key_len, .value_len = d.value_len,
                                  .key = d.key, .value = d.value, .location = *loc};
            fn(ctx, &rec);
        }
    }
    free(plain);
    return rc;
}

int ls_log_read_at(ls_log *log, const ls_location *loc, ls_read_fn fn, void *ctx, ls_error *err) {
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&log->map_lock);
        size_t at = map_search(log, loc->segment_seq);
        if (at < log->nmaps && log->maps[at].seq == loc->segment_seq) {
            const ls_mapping *m = &log->maps[at];
            int rc = LS_OK;
            ls_record d;
            size_t used;
            if (loc->offset < LS_SEGMENT_HEADER_SIZE || loc->offset >= m->len) {
                rc = ls_err_set(err, LS_E_INVALID, EINVAL, log->dir,
                                "offset %" PRIu64 " is outside segment %" PRIu64, loc->offset, loc->segment_seq);
            } else if (ls_record_decode(m->addr + loc->offset, m->len - (size_t)loc->offset, &d, &used) != LS_FMT_OK) {
                rc = read_corrupt(log, loc->segment_seq, loc->offset, "record checksum mismatch or bad record length", err);
            } else if (loc->item != LS_LOCATION_PLAIN) {
                if (d.type != LS_RECORD_TYPE_ZSTD_BATCH)
                    rc = read_corrupt(log, loc->segment_seq, loc->offset, "expected a zstd container record", err);
                else rc = read_container_item(log, m, loc, &d, fn, ctx, err);
            } else if (d.type == LS_RECORD_TYPE_ZSTD_BATCH) {
                rc = read_corrupt(log, loc->segment_seq, loc->offset, "unexpected zstd container record", err);
            } else {
                ls_read_record rec = {.type = d.type, .flags = d.flags, .key_len = d.key_len, .value_len = d.value_len,
                                      .key = d.key, .value = d.value, .location = *loc};
                fn(ctx, &rec);
            }
            pthread_rwlock_unlock(&log->map_lock);
            return rc;
        }
        pthread_rwlock_unlock(&log->map_lock);
        if (attempt == 0) {
            int rc = map_segment(log, loc->segment_seq, err);
            if (rc != LS_OK) return rc;
        }
    }
    return ls_err_set(err, LS_E_INVALID, EINVAL, log->dir, "segment %" PRIu64 " could not be mapped", loc->segment_seq);
}
