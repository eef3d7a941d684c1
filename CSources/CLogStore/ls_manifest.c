/*
 * The manifest: <root>/manifest/manifest.log, an append-only file of events that
 * says which segments exist (DESIGN §3, §4.5). Every event is written and fsynced
 * (through the ls_io seam) before the action that depends on it; recovery replays
 * the file first and trusts it over the directory listing.
 *
 * Record (all integers little-endian; every record starts at a multiple of 8):
 *     0    4  magic "LSMF" (u32 0x464D534C)
 *     4    4  masked CRC32C (ls_crc32c.h) of bytes 8..(16 + payload length)
 *     8    4  payload length: a multiple of 8, at most 4096
 *    12    2  type (ls_mf_type)
 *    14    2  reserved, zero
 *    16    .  payload: u64 fields
 *
 * Types and payloads (u64 each; sizes are exact, anything else is corrupt):
 *   1 HEADER           version (1), next sequence          first record of every file
 *   2 WRITER_START     writer id, start time (Unix ns), pid
 *   3 SEGMENT_OPEN     seq, writer id                      file prepared, fsynced, dir fsynced
 *   4 SEGMENT_SEAL     seq, last LSN, end (seal offset)     the last one for a seq wins
 *   5 SEGMENT_OBSOLETE seq                                 the file may be deleted
 *   6 RECOVERY_DROP    seq, offset, length, first LSN      point-in-time cut; offset 0 = whole file
 *   7 RECOVERY_SKIP    seq, offset, length, first LSN      salvage: readers skip [offset, +length)
 *   8 CHECKPOINT       reserved: any payload, kept (the last one) across rewrites, not interpreted
 *
 * A damaged record with no valid record after it is a torn append (never fsynced,
 * so never acted upon): the file is cut there. Damage followed by a valid record
 * is corruption. Past `max_bytes` the file is rewritten as its current state:
 * manifest.log.tmp, fsync, rename over manifest.log, fsync the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_crc32c.h"
#include "ls_internal.h"

#define LS_MF_MAGIC 0x464D534Cu /* "LSMF" read as a little-endian u32 */
#define LS_MF_RECORD_HEADER 16
#define LS_MF_MAX_PAYLOAD 4096u
#define LS_MF_VERSION 1u

/* Payload bytes of each fixed-size type (index = type); 0 = unknown type. */
static const uint32_t payload_size[] = {
    [LS_MF_HEADER] = 16,     [LS_MF_WRITER_START] = 24,     [LS_MF_SEGMENT_OPEN] = 16,
    [LS_MF_SEGMENT_SEAL] = 24, [LS_MF_SEGMENT_OBSOLETE] = 8, [LS_MF_RECOVERY_DROP] = 32,
    [LS_MF_RECOVERY_SKIP] = 32,
};

static const char *type_name(unsigned t) {
    static const char *const names[] = {"?", "HEADER", "WRITER_START", "SEGMENT_OPEN", "SEGMENT_SEAL",
                                        "SEGMENT_OBSOLETE", "RECOVERY_DROP", "RECOVERY_SKIP", "CHECKPOINT"};
    return t < sizeof names / sizeof *names ? names[t] : "?";
}

int ls_manifest_init(ls_manifest *m, ls_io *io, const char *root, uint64_t max_bytes) {
    memset(m, 0, sizeof *m);
    m->fd = -1;
    m->io = io;
    m->max_bytes = max_bytes;
    m->next_seq = 1;
    snprintf(m->dir, sizeof m->dir, "%s/" LS_MANIFEST_DIR, root);
    snprintf(m->path, sizeof m->path, "%s/" LS_MF_FILE, m->dir);
    snprintf(m->tmp_path, sizeof m->tmp_path, "%s.tmp", m->path);
    return pthread_mutex_init(&m->mu, NULL) ? -ENOMEM : 0;
}

void ls_manifest_free(ls_manifest *m) {
    if (m->fd >= 0) m->io->vt->close(m->io, m->fd);
    m->fd = -1;
    free(m->segs);
    free(m->skips);
    free(m->writers);
    free(m->checkpoint);
    pthread_mutex_destroy(&m->mu);
}

int ls_manifest_exists(ls_manifest *m, ls_error *err) {
    int fd = m->io->vt->open(m->io, m->path, O_RDONLY, 0);
    if (fd == -ENOENT) return 0;
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, m->path, "cannot open the manifest");
    m->io->vt->close(m->io, fd);
    return 1;
}

ls_mf_segment *ls_manifest_segment(ls_manifest *m, uint64_t seq) {
    size_t lo = 0, hi = m->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->segs[mid].seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->nsegs && m->segs[lo].seq == seq ? &m->segs[lo] : NULL;
}

void ls_manifest_mark_removed(ls_manifest *m, uint64_t seq) {
    pthread_mutex_lock(&m->mu);
    ls_mf_segment *s = ls_manifest_segment(m, seq);
    if (s) s->removed = 1;
    pthread_mutex_unlock(&m->mu);
}

int ls_manifest_failed(ls_manifest *m, ls_error *err) {
    pthread_mutex_lock(&m->mu);
    int failed = m->failed;
    if (failed && err) *err = m->failure;
    pthread_mutex_unlock(&m->mu);
    return failed;
}

static int grow(void **v, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 8;
    void *p = realloc(*v, c * size);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

/* Applies one event to the state. Returns NULL, or what is wrong with it (the caller names
 * the file and offset); "out of memory" is the one non-format failure. */
static const char *apply(ls_manifest *m, const ls_mf_event *e, int first) {
    if (first != (e->type == LS_MF_HEADER)) return first ? "the first record is not a HEADER" : "a second HEADER record";
    ls_mf_segment *s = NULL;
    if (e->type >= LS_MF_SEGMENT_SEAL && e->type <= LS_MF_RECOVERY_SKIP) {
        s = ls_manifest_segment(m, e->a);
        if (!s) return "the record names a segment that was never opened";
    }
    switch (e->type) {
    case LS_MF_HEADER:
        if (e->a != LS_MF_VERSION) return "unsupported manifest version";
        if (e->b > m->next_seq) m->next_seq = e->b;
        return NULL;
    case LS_MF_WRITER_START:
        m->writer_id = e->a;
        m->start_time_ns = e->b;
        m->pid = e->c;
        if (grow((void **)&m->writers, &m->cap_writers, m->nwriters, sizeof *m->writers) < 0) return "out of memory";
        m->writers[m->nwriters++] = e->a;
        return NULL;
    case LS_MF_SEGMENT_OPEN: {
        if (e->a == 0 || ls_manifest_segment(m, e->a)) return "a segment sequence opened twice (or 0)";
        if (grow((void **)&m->segs, &m->cap_segs, m->nsegs, sizeof *m->segs) < 0) return "out of memory";
        size_t at = m->nsegs;
        while (at > 0 && m->segs[at - 1].seq > e->a) at--;
        memmove(&m->segs[at + 1], &m->segs[at], (m->nsegs - at) * sizeof *m->segs);
        m->segs[at] = (ls_mf_segment){.seq = e->a, .writer_id = e->b};
        m->nsegs++;
        if (e->a + 1 > m->next_seq) m->next_seq = e->a + 1;
        return NULL;
    }
    case LS_MF_SEGMENT_SEAL:
        s->sealed = 1;
        s->last_lsn = e->b;
        s->end = e->c;
        return NULL;
    case LS_MF_SEGMENT_OBSOLETE:
        s->obsolete = 1;
        return NULL;
    case LS_MF_RECOVERY_DROP:
        if (e->b == 0) s->dropped = 1;
        return NULL;
    case LS_MF_RECOVERY_SKIP:
        if (grow((void **)&m->skips, &m->cap_skips, m->nskips, sizeof *m->skips) < 0) return "out of memory";
        m->skips[m->nskips++] = (ls_skip_range){e->a, e->b, e->c, e->d};
        return NULL;
    }
    return "unknown record type";
}

/* Encodes one record with a u64 payload; returns its size. */
static size_t encode(uint8_t *out, uint16_t type, const uint64_t *fields, size_t nfields) {
    uint32_t len = (uint32_t)(nfields * 8);
    ls_put_u32(out, LS_MF_MAGIC);
    ls_put_u32(out + 8, len);
    ls_put_u16(out + 12, type);
    ls_put_u16(out + 14, 0);
    for (size_t i = 0; i < nfields; i++) ls_put_u64(out + LS_MF_RECORD_HEADER + 8 * i, fields[i]);
    ls_put_u32(out + 4, ls_crc32c_mask(ls_crc32c_value(out + 8, 8 + len)));
    return LS_MF_RECORD_HEADER + len;
}

static size_t encode_event(uint8_t *out, const ls_mf_event *e) {
    uint64_t f[4] = {e->a, e->b, e->c, e->d};
    return encode(out, e->type, f, payload_size[e->type] / 8);
}

/* Size of a valid record at off (header, lengths, CRC), or 0. */
static size_t valid_record_at(const uint8_t *buf, size_t size, size_t off) {
    if (size - off < LS_MF_RECORD_HEADER) return 0;
    const uint8_t *p = buf + off;
    uint32_t len = ls_get_u32(p + 8);
    if (ls_get_u32(p) != LS_MF_MAGIC || ls_get_u16(p + 14) != 0 || len % 8 || len > LS_MF_MAX_PAYLOAD ||
        size - off - LS_MF_RECORD_HEADER < len)
        return 0;
    if (ls_crc32c_mask(ls_crc32c_value(p + 8, 8 + (size_t)len)) != ls_get_u32(p + 4)) return 0;
    return LS_MF_RECORD_HEADER + len;
}

/* Writes buf at the end of the file and fsyncs it. Failure is sticky (the bytes may be
 * partly on disk: appending after them could turn a torn record into corruption). */
static int write_locked(ls_manifest *m, const uint8_t *buf, size_t len, ls_error *err) {
    if (m->read_only) return ls_err_set(err, LS_E_READ_ONLY, EROFS, m->path, "the manifest was opened read-only");
    if (m->failed) {
        if (err) *err = m->failure;
        return m->failure.code;
    }
    const char *step = "write";
    int rc = ls_io_write_full(m->io, m->fd, buf, len, (off_t)m->size);
    if (rc == 0) {
        step = "fsync";
        rc = m->io->vt->fsync(m->io, m->fd);
    }
    if (rc < 0) {
        m->failed = 1;
        ls_err_set_at(&m->failure, rc == -ENOSPC ? LS_E_NOSPACE : LS_E_IO, -rc, m->path, m->size,
                      "cannot %s the manifest (its state is unknown; reopen the store)", step);
        if (err) *err = m->failure;
        return m->failure.code;
    }
    m->size += len;
    return LS_OK;
}

/* Serialises the state (see the rewrite comment above); *out is malloc'd. */
static int serialise(ls_manifest *m, uint8_t **out, size_t *len) {
    size_t cap = LS_MF_RECORD_HEADER * 2 + 16 + 24 + m->nsegs * (4 * LS_MF_RECORD_HEADER + 16 + 24 + 32 + 8) +
                 m->nskips * (LS_MF_RECORD_HEADER + 32) + LS_MF_RECORD_HEADER + m->checkpoint_len;
    uint8_t *b = malloc(cap), *p = b;
    if (!b) return -ENOMEM;
    p += encode(p, LS_MF_HEADER, (uint64_t[]){LS_MF_VERSION, m->next_seq}, 2);
    if (m->writer_id) p += encode(p, LS_MF_WRITER_START, (uint64_t[]){m->writer_id, m->start_time_ns, m->pid}, 3);
    for (size_t i = 0; i < m->nsegs; i++) {
        const ls_mf_segment *s = &m->segs[i];
        if (s->removed) continue;
        p += encode(p, LS_MF_SEGMENT_OPEN, (uint64_t[]){s->seq, s->writer_id}, 2);
        if (s->sealed) p += encode(p, LS_MF_SEGMENT_SEAL, (uint64_t[]){s->seq, s->last_lsn, s->end}, 3);
        if (s->dropped) p += encode(p, LS_MF_RECOVERY_DROP, (uint64_t[]){s->seq, 0, 0, 0}, 4);
        if (s->obsolete) p += encode(p, LS_MF_SEGMENT_OBSOLETE, (uint64_t[]){s->seq}, 1);
    }
    for (size_t i = 0; i < m->nskips; i++) {
        const ls_skip_range *k = &m->skips[i];
        const ls_mf_segment *s = ls_manifest_segment(m, k->seq);
        if (!s || s->removed) continue;
        p += encode(p, LS_MF_RECOVERY_SKIP, (uint64_t[]){k->seq, k->offset, k->length, k->first_lsn}, 4);
    }
    if (m->have_checkpoint) {
        ls_put_u32(p, LS_MF_MAGIC);
        ls_put_u32(p + 8, (uint32_t)m->checkpoint_len);
        ls_put_u16(p + 12, LS_MF_CHECKPOINT);
        ls_put_u16(p + 14, 0);
        memcpy(p + LS_MF_RECORD_HEADER, m->checkpoint, m->checkpoint_len);
        ls_put_u32(p + 4, ls_crc32c_mask(ls_crc32c_value(p + 8, 8 + m->checkpoint_len)));
        p += LS_MF_RECORD_HEADER + m->checkpoint_len;
    }
    *out = b;
    *len = (size_t)(p - b);
    return 0;
}

/* mu held. Any failure is sticky: after the rename, which file holds the state is unknown. */
static int rewrite_locked(ls_manifest *m, ls_error *err) {
    if (m->failed) {
        if (err) *err = m->failure;
        return m->failure.code;
    }
    ls_io *io = m->io;
    uint8_t *buf;
    size_t len;
    if (serialise(m, &buf, &len) < 0) return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
    const char *step = "create";
    const char *path = m->tmp_path;
    int fd = io->vt->open(io, m->tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0644), rc = fd < 0 ? fd : 0;
    if (rc == 0) {
        step = "write";
        rc = ls_io_write_full(io, fd, buf, len, 0);
    }
    if (rc == 0) {
        step = "fsync";
        rc = io->vt->fsync(io, fd);
    }
    if (fd >= 0) {
        int crc = io->vt->close(io, fd);
        if (rc == 0 && crc < 0) {
            step = "close";
            rc = crc;
        }
    }
    free(buf);
    if (rc == 0) {
        step = "rename over the manifest";
        rc = io->vt->rename(io, m->tmp_path, m->path);
        path = m->path;
    }
    if (rc == 0) {
        step = "fsync the directory of";
        rc = io->vt->fsync_dir(io, m->dir);
    }
    int nfd = -1;
    if (rc == 0) {
        step = "reopen";
        nfd = rc = io->vt->open(io, m->path, O_RDWR, 0);
    }
    if (rc < 0) {
        if (path == m->tmp_path) io->vt->unlink(io, m->tmp_path); /* best effort: open removes a leftover */
        m->failed = 1;
        ls_err_set(&m->failure, rc == -ENOSPC ? LS_E_NOSPACE : LS_E_IO, -rc, path, "cannot %s the rewritten manifest",
                   step);
        if (err) *err = m->failure;
        return m->failure.code;
    }
    io->vt->close(io, m->fd); /* the replaced file: nothing unsynced remains in it */
    m->fd = nfd;
    m->size = m->rewrite_size = len;
    m->rewrites++;
    return LS_OK;
}

int ls_manifest_rewrite(ls_manifest *m, ls_error *err) {
    pthread_mutex_lock(&m->mu);
    int rc = rewrite_locked(m, err);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Rewrites once the file passed its bound and doubled since the last rewrite (a state larger
 * than the bound would otherwise be rewritten at every append). */
static int maybe_rewrite(ls_manifest *m, ls_error *err) {
    if (m->size <= m->max_bytes || m->size < 2 * m->rewrite_size) return LS_OK;
    return rewrite_locked(m, err);
}

int ls_manifest_append(ls_manifest *m, const ls_mf_event *ev, size_t n, ls_error *err) {
    uint8_t stack[512], *buf = stack;
    size_t cap = n * (LS_MF_RECORD_HEADER + 32), len = 0;
    if (cap > sizeof stack && !(buf = malloc(cap))) return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
    for (size_t i = 0; i < n; i++) len += encode_event(buf + len, &ev[i]);
    pthread_mutex_lock(&m->mu);
    uint64_t at = m->size;
    int rc = write_locked(m, buf, len, err);
    for (size_t i = 0; rc == LS_OK && i < n; i++) {
        const char *bad = apply(m, &ev[i], 0);
        if (bad) {
            /* The event is durable but the state could not take it: only memory can fail here
             * (the callers build valid events); stop appending, the next open replays it. */
            m->failed = 1;
            rc = ls_err_set_at(&m->failure, LS_E_NOMEM, ENOMEM, m->path, at, "manifest %s event: %s",
                               type_name(ev[i].type), bad);
            if (err) *err = m->failure;
        }
    }
    if (rc == LS_OK) rc = maybe_rewrite(m, err);
    pthread_mutex_unlock(&m->mu);
    if (buf != stack) free(buf);
    return rc;
}

static int corrupt_at(ls_manifest *m, uint64_t off, const char *what, ls_error *err) {
    return ls_err_set_at(err, LS_E_CORRUPT, 0, m->path, off,
                         "corrupt manifest " LS_MANIFEST_DIR "/" LS_MF_FILE " at offset %" PRIu64 ": %s", off, what);
}

/* Replays buf[0..size); sets *valid_end to the end of the last valid record. */
static int replay(ls_manifest *m, const uint8_t *buf, size_t size, size_t *valid_end, ls_error *err) {
    size_t off = 0;
    while (off < size) {
        size_t n = valid_record_at(buf, size, off);
        if (n == 0) {
            for (size_t o = off + 8; o + LS_MF_RECORD_HEADER <= size; o += 8) {
                if (valid_record_at(buf, size, o)) {
                    char what[128];
                    snprintf(what, sizeof what, "damaged record followed by a valid record at offset %zu", o);
                    return corrupt_at(m, off, what, err);
                }
            }
            break; /* a torn last record: never fsynced, never acted upon */
        }
        const uint8_t *p = buf + off;
        uint16_t type = ls_get_u16(p + 12);
        uint32_t len = ls_get_u32(p + 8);
        const char *bad = NULL;
        if (type == LS_MF_CHECKPOINT) {
            bad = off == 0 ? "the first record is not a HEADER" : NULL;
            uint8_t *c = bad ? NULL : realloc(m->checkpoint, len ? len : 1);
            if (!bad && !c) return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
            if (c) {
                memcpy(c, p + LS_MF_RECORD_HEADER, len);
                m->checkpoint = c;
                m->checkpoint_len = len;
                m->have_checkpoint = 1;
            }
        } else if (type >= sizeof payload_size / sizeof *payload_size || payload_size[type] == 0) {
            bad = "unknown record type";
        } else if (len != payload_size[type]) {
            bad = "record length does not match its type";
        } else {
            ls_mf_event e = {.type = type};
            e.a = ls_get_u64(p + 16);
            e.b = len > 8 ? ls_get_u64(p + 24) : 0;
            e.c = len > 16 ? ls_get_u64(p + 32) : 0;
            e.d = len > 24 ? ls_get_u64(p + 40) : 0;
            bad = apply(m, &e, off == 0);
            if (bad && strcmp(bad, "out of memory") == 0) return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
        }
        if (bad) {
            char what[160];
            snprintf(what, sizeof what, "%s record (type %u): %s", type_name(type), type, bad);
            return corrupt_at(m, off, what, err);
        }
        m->replayed_records++;
        off += n;
    }
    *valid_end = off;
    return LS_OK;
}

/* Reads the whole of the open manifest `fd` into a new buffer (*out, freed by the caller). */
static int read_whole(ls_manifest *m, int fd, uint8_t **out, size_t *size, ls_error *err) {
    ls_io *io = m->io;
    int64_t n = io->vt->file_size(io, fd);
    if (n < 0) return ls_err_set(err, LS_E_IO, (int)-n, m->path, "cannot stat the manifest");
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf) return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
    ssize_t got = ls_io_read_full(io, fd, buf, (size_t)n, 0);
    if (got != n) {
        free(buf);
        return ls_err_set(err, LS_E_IO, got < 0 ? (int)-got : EIO, m->path, "cannot read the manifest");
    }
    *out = buf;
    *size = (size_t)n;
    return LS_OK;
}

/* Opens the manifest read-only and reads all of it (read_whole); a missing file is `missing`. */
static int read_whole_read_only(ls_manifest *m, int missing, uint8_t **out, size_t *size, ls_error *err) {
    ls_io *io = m->io;
    int fd = io->vt->open(io, m->path, O_RDONLY, 0);
    if (fd < 0) return ls_err_set(err, fd == -ENOENT ? missing : LS_E_IO, -fd, m->path, "cannot open the manifest");
    int rc = read_whole(m, fd, out, size, err);
    int crc = io->vt->close(io, fd);
    if (rc == LS_OK && crc < 0) {
        free(*out);
        rc = ls_err_set(err, LS_E_IO, -crc, m->path, "cannot read the manifest");
    }
    return rc;
}

/* A read-only open's replay: reads and verifies the file as ls_manifest_open does, changing nothing. */
static int open_read_only(ls_manifest *m, ls_error *err) {
    uint8_t *buf;
    size_t size, end = 0;
    int rc = read_whole_read_only(m, LS_E_NOT_FOUND, &buf, &size, err);
    if (rc != LS_OK) return rc;
    rc = replay(m, buf, size, &end, err);
    free(buf);
    if (rc != LS_OK) return rc;
    m->replayed_bytes = end;
    m->torn_bytes = (uint64_t)(size - end);
    m->size = end;
    return LS_OK;
}

int ls_manifest_open(ls_manifest *m, int create, ls_error *err) {
    if (m->read_only) return open_read_only(m, err);
    ls_io *io = m->io;
    /* A leftover of an interrupted rewrite: manifest.log (old or new) is complete. */
    int rc = io->vt->unlink(io, m->tmp_path);
    if (rc < 0 && rc != -ENOENT) return ls_err_set(err, LS_E_IO, -rc, m->tmp_path, "cannot remove a leftover manifest rewrite");
    int fd = io->vt->open(io, m->path, O_RDWR | (create ? O_CREAT : 0), 0644);
    if (fd == -ENOENT)
        return ls_err_set(err, LS_E_CORRUPT, 0, m->path,
                          "manifest missing: segment files exist but " LS_MANIFEST_DIR "/" LS_MF_FILE " does not");
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, m->path, "cannot open the manifest");
    m->fd = fd;
    /* Trust nothing that is not durable (DESIGN §4.6): the file, and its directory entry. */
    rc = io->vt->fsync(io, fd);
    if (rc == 0) rc = io->vt->fsync_dir(io, m->dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, m->path, "cannot fsync the manifest");
    uint8_t *buf;
    size_t size, end = 0;
    rc = read_whole(m, fd, &buf, &size, err);
    if (rc != LS_OK) return rc;
    rc = replay(m, buf, size, &end, err);
    free(buf);
    if (rc != LS_OK) return rc;
    m->replayed_bytes = end;
    if (end < size) {
        m->torn_bytes = (uint64_t)(size - end);
        rc = io->vt->ftruncate(io, fd, (off_t)end);
        if (rc == 0) rc = io->vt->fsync(io, fd);
        if (rc < 0) return ls_err_set_at(err, LS_E_IO, -rc, m->path, end, "cannot cut the torn end of the manifest");
    }
    m->size = end;
    m->rewrite_size = 0; /* past the bound, the first rewrite happens now */
    if (end == 0) { /* new (or torn before its first record was durable) */
        uint8_t rec[LS_MF_RECORD_HEADER + 16];
        size_t n = encode(rec, LS_MF_HEADER, (uint64_t[]){LS_MF_VERSION, m->next_seq}, 2);
        pthread_mutex_lock(&m->mu);
        rc = write_locked(m, rec, n, err);
        pthread_mutex_unlock(&m->mu);
        if (rc != LS_OK) return rc;
    }
    pthread_mutex_lock(&m->mu);
    rc = maybe_rewrite(m, err);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/*
 * Read-only replay for inspection (ls_inspect.c): never removes the .tmp, never fsyncs, cuts
 * or writes; continues past damage, reporting each problem, instead of stopping at the first.
 * Damage followed by a valid record is reported and skipped (the walk resumes at that record);
 * damage with nothing valid after it is a torn tail (reported with torn = 1). A record that
 * fails to apply (unknown type, wrong length, a sequence opened twice...) is reported and
 * otherwise ignored.
 */
int ls_manifest_replay_readonly(ls_manifest *m, const ls_mf_readonly_hooks *hooks, ls_error *err) {
    uint8_t *buf;
    size_t n;
    int rc = read_whole_read_only(m, LS_E_CORRUPT, &buf, &n, err);
    if (rc != LS_OK) return rc;
    size_t off = 0;
    int first = 1;
    char what[200];
    while (off < n) {
        size_t len = valid_record_at(buf, n, off);
        if (len == 0) {
            size_t next = 0;
            for (size_t o = off + 8; o + LS_MF_RECORD_HEADER <= n && !next; o += 8)
                if (valid_record_at(buf, n, o)) next = o;
            if (!next) {
                m->torn_bytes = n - off;
                snprintf(what, sizeof what, "damaged record at offset %zu with nothing valid after it (a torn append, cut at the next open)", off);
                if (hooks && hooks->on_problem) hooks->on_problem(hooks->ctx, off, 1, what);
                break;
            }
            snprintf(what, sizeof what, "damaged record at offset %zu followed by a valid record at offset %zu", off, next);
            if (hooks && hooks->on_problem) hooks->on_problem(hooks->ctx, off, 0, what);
            off = next;
            continue;
        }
        const uint8_t *p = buf + off;
        uint16_t type = ls_get_u16(p + 12);
        uint32_t plen = ls_get_u32(p + 8);
        const char *bad = NULL;
        if (type == LS_MF_CHECKPOINT) {
            bad = first ? "the first record is not a HEADER" : NULL;
        } else if (type >= sizeof payload_size / sizeof *payload_size || payload_size[type] == 0) {
            bad = "unknown record type";
        } else if (plen != payload_size[type]) {
            bad = "record length does not match its type";
        } else {
            ls_mf_event e = {.type = type};
            e.a = ls_get_u64(p + 16);
            e.b = plen > 8 ? ls_get_u64(p + 24) : 0;
            e.c = plen > 16 ? ls_get_u64(p + 32) : 0;
            e.d = plen > 24 ? ls_get_u64(p + 40) : 0;
            bad = apply(m, &e, first);
            if (bad && strcmp(bad, "out of memory") == 0) {
                free(buf);
                return ls_err_set(err, LS_E_NOMEM, ENOMEM, m->path, "out of memory");
            }
        }
        if (bad) {
            snprintf(what, sizeof what, "%s record (type %u) at offset %zu: %s", type_name(type), type, off, bad);
            if (hooks && hooks->on_problem) hooks->on_problem(hooks->ctx, off, 0, what);
        }
        if (hooks && hooks->on_record) hooks->on_record(hooks->ctx, off, type, plen, p + LS_MF_RECORD_HEADER);
        m->replayed_records++;
        m->replayed_bytes += len;
        first = 0;
        off += len;
    }
    free(buf);
    return LS_OK;
}
