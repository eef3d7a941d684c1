/*
 * Segment files: naming, preparation ahead of use, and sealing.
 *
 * A segment is prepared before the writer needs it, by the preparer thread:
 * created under a ".tmp" name, preallocated, zero-filled (so the writer's
 * appends overwrite written blocks, which makes each fdatasync cheaper than
 * one that must also allocate or convert extents), fsynced, renamed to its
 * final name and published with an fsync of the directory (DESIGN §4.5). Its
 * header is written by the writer together with the segment's first frames,
 * because only then is the base LSN known: a header of zeros therefore means
 * "prepared, never used". Once the file and its name are durable, a SEGMENT_OPEN
 * event is made durable in the manifest, before any data can go into the file:
 * a file the manifest does not list never holds data of this store.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_crc32c.h"
#include "ls_internal.h"

#define LS_SEGMENT_PREFIX "seg-"
#define LS_SEGMENT_SUFFIX ".log"
#define LS_TMP_SUFFIX ".tmp"

void ls_segment_path(char *out, size_t cap, const char *dir, uint64_t writer_id, uint64_t seq) {
    snprintf(out, cap, "%s/" LS_SEGMENT_PREFIX "%016" PRIx64 "-%016" PRIx64 LS_SEGMENT_SUFFIX, dir, writer_id, seq);
}

static int parse_hex16(const char *s, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return 0;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 1;
}

int ls_segment_parse_name(const char *name, uint64_t *writer_id, uint64_t *seq) {
    /* "seg-" 16 hex "-" 16 hex ".log" */
    const size_t prefix = sizeof LS_SEGMENT_PREFIX - 1, suffix = sizeof LS_SEGMENT_SUFFIX - 1;
    if (strlen(name) != prefix + 16 + 1 + 16 + suffix) return 0;
    if (memcmp(name, LS_SEGMENT_PREFIX, prefix) != 0) return 0;
    if (name[prefix + 16] != '-') return 0;
    if (strcmp(name + prefix + 33, LS_SEGMENT_SUFFIX) != 0) return 0;
    return parse_hex16(name + prefix, writer_id) && parse_hex16(name + prefix + 17, seq);
}

/* Writes the `chunk` zeros at `zeros` over [from, to) of fd, one chunk per write. Gives up with
 * -ECANCELED when the log is closing, so close does not wait for a whole segment. */
static int write_zeros(ls_log *log, ls_io *io, int fd, const void *zeros, size_t chunk, uint64_t from, uint64_t to) {
    for (uint64_t off = from; off < to; off += chunk) {
        if (atomic_load_explicit(&log->prep_stop, memory_order_relaxed)) return -ECANCELED;
        uint64_t n = to - off < chunk ? to - off : chunk;
        int rc = ls_io_write_full(io, fd, zeros, (size_t)n, (off_t)off);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Zero-fills [0, end) (end a multiple of the page size) through `direct_fd`, opened with O_DIRECT. */
static int zero_fill_direct(ls_log *log, ls_io *io, int direct_fd, uint64_t end) {
    void *zeros = NULL;
    int rc = -posix_memalign(&zeros, log->page_size, LS_DIRECT_ZERO_CHUNK);
    if (rc < 0) return rc;
    memset(zeros, 0, LS_DIRECT_ZERO_CHUNK);
    rc = write_zeros(log, io, direct_fd, zeros, LS_DIRECT_ZERO_CHUNK, 0, end);
    free(zeros);
    return rc;
}

/*
 * Writes zeros over [0, size) so later writes overwrite allocated, written blocks.
 *
 * The page-aligned part goes through `direct_fd` (opened with O_DIRECT; -1 where the file system
 * refused it) unless cfg.no_direct_zero_fill: the zeros then never enter the page cache, and they
 * reach the disk a chunk at a time, between the writer's syncs. Through the cache, the fsync that
 * follows sent the whole segment at once, and a writer's fdatasync queued behind it waited tens of
 * milliseconds (docs/FORMAT.md §10 note 9). The rest goes through `fd` and the cache.
 */
static int zero_fill(ls_log *log, ls_io *io, int fd, int direct_fd, uint64_t size) {
    uint64_t direct_end = log->cfg.no_direct_zero_fill || direct_fd < 0 ? 0 : size - size % log->page_size;
    int direct = direct_end > 0;
    if (direct) {
        int rc = zero_fill_direct(log, io, direct_fd, direct_end);
        if (rc < 0) return rc;
    }
    uint64_t from = direct ? direct_end : 0;
    if (from < size) {
        uint8_t *zeros = calloc(1, LS_PREWRITE_CHUNK);
        if (!zeros) return -ENOMEM;
        int rc = write_zeros(log, io, fd, zeros, LS_PREWRITE_CHUNK, from, size);
        free(zeros);
        if (rc < 0) return rc;
    }
    if (direct) atomic_fetch_add_explicit(&log->st_direct_zero_fills, 1, memory_order_relaxed);
    return 0;
}

/* Opens `path` once more, for writing with direct I/O (O_DIRECT). Sets *direct_fd to the descriptor,
 * or to -1 where the file system does not do direct I/O (the open answers EINVAL, as tmpfs does);
 * returns 0, or -errno for any other failure. */
static int open_direct(ls_io *io, const char *path, int *direct_fd) {
    int fd = io->vt->open(io, path, O_WRONLY | O_DIRECT, 0);
    *direct_fd = fd == -EINVAL ? -1 : fd;
    return fd == -EINVAL || fd >= 0 ? 0 : fd;
}

/* Reserves the file's blocks. Where the file system refuses fallocate (some FUSE and NFS
 * mounts answer EOPNOTSUPP), setting the size is the fallback; zero-filling then allocates. */
static int preallocate(ls_io *io, int fd, uint64_t size) {
    int rc = io->vt->fallocate(io, fd, 0, (off_t)size);
    if (rc == -EOPNOTSUPP || rc == -ENOSYS) rc = io->vt->ftruncate(io, fd, (off_t)size);
    return rc;
}

int ls_segment_prepare(ls_log *log, uint64_t seq, int zero_fill_it, ls_prepared *out, ls_error *err) {
    ls_io *io = log->io;
    char tmp[LS_PATH_MAX + 8];
    ls_segment_path(out->path, sizeof out->path, log->seg_dir, log->writer_id, seq);
    snprintf(tmp, sizeof tmp, "%s" LS_TMP_SUFFIX, out->path);
    out->seq = seq;
    out->fd = -1;
    out->direct_fd = -1;
    out->zero_filled = zero_fill_it;
    /* After a failed manifest write nothing may be listed any more: do not even start. */
    if (ls_manifest_failed(&log->manifest, err)) return err->code;

    int fd = io->vt->open(io, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, tmp, "cannot create segment file");
    int direct_fd = -1;
    const char *step = "preallocate";
    int rc = preallocate(io, fd, log->cfg.segment_size);
    /* One descriptor serves the direct zero-fill and then the writer's direct writes. */
    if (rc == 0 && (log->direct_writes || (zero_fill_it && !log->cfg.no_direct_zero_fill))) {
        step = "open (O_DIRECT)";
        rc = open_direct(io, tmp, &direct_fd);
    }
    if (rc == 0 && zero_fill_it) {
        step = "zero-fill";
        rc = zero_fill(log, io, fd, direct_fd, log->cfg.segment_size);
    }
    if (rc == 0 && direct_fd >= 0 && !log->direct_writes) {
        step = "close the O_DIRECT descriptor of";
        rc = io->vt->close(io, direct_fd);
        direct_fd = -1;
    }
    if (rc == 0) {
        step = "fsync";
        rc = io->vt->fsync(io, fd);
    }
    if (rc == 0) {
        step = "rename";
        rc = io->vt->rename(io, tmp, out->path);
    }
    if (rc == 0) {
        step = "fsync the directory of";
        rc = io->vt->fsync_dir(io, log->seg_dir);
    }
    if (rc < 0) {
        io->vt->close(io, fd);
        if (direct_fd >= 0) io->vt->close(io, direct_fd);
        io->vt->unlink(io, tmp); /* best effort: a leftover .tmp is removed at the next open */
        int code = rc == -ENOSPC ? LS_E_NOSPACE : LS_E_IO;
        return ls_err_set(err, code, -rc, out->path, "cannot %s a new segment", step);
    }
    /* The file stays on failure: if the event reached the disk, the next open expects it
     * (listed and empty, it is then removed; unlisted and empty, too). */
    ls_mf_event open_ev = {.type = LS_MF_SEGMENT_OPEN, .a = seq, .b = log->writer_id};
    rc = ls_manifest_append(&log->manifest, &open_ev, 1, err);
    if (rc != LS_OK) {
        io->vt->close(io, fd);
        if (direct_fd >= 0) io->vt->close(io, direct_fd);
        return rc;
    }
    out->fd = fd;
    out->direct_fd = direct_fd;
    return LS_OK;
}

int ls_segment_adopt(ls_log *log, uint64_t seq, ls_prepared *out, ls_error *err) {
    ls_io *io = log->io;
    ls_segment_path(out->path, sizeof out->path, log->seg_dir, log->writer_id, seq);
    out->seq = seq;
    out->fd = -1;
    out->direct_fd = -1;
    out->zero_filled = 1; /* read as zeros by this open's scan; prepared as any other */
    if (ls_manifest_failed(&log->manifest, err)) return err->code;
    /* Its SEGMENT_OBSOLETE is durable: a crash before the rename leaves an obsolete file (deleted
     * at the next open), one after it an unlisted file that was never written (deleted too). */
    const char *step = "rename";
    int rc = io->vt->rename(io, log->spare_path, out->path);
    if (rc == 0) {
        ls_manifest_mark_removed(&log->manifest, log->spare_seq);
        log->have_spare = 0;
        step = "fsync the directory of";
        rc = io->vt->fsync_dir(io, log->seg_dir);
    }
    int fd = -1, direct_fd = -1;
    if (rc == 0) {
        step = "open";
        fd = rc = io->vt->open(io, out->path, O_RDWR, 0);
    }
    if (rc >= 0 && log->direct_writes) {
        step = "open (O_DIRECT)";
        rc = open_direct(io, out->path, &direct_fd);
    }
    if (rc < 0) {
        if (fd >= 0) io->vt->close(io, fd);
        int code = rc == -ENOSPC ? LS_E_NOSPACE : LS_E_IO;
        return ls_err_set(err, code, -rc, out->path, "cannot %s a reused segment", step);
    }
    ls_mf_event open_ev = {.type = LS_MF_SEGMENT_OPEN, .a = seq, .b = log->writer_id};
    rc = ls_manifest_append(&log->manifest, &open_ev, 1, err);
    if (rc != LS_OK) {
        io->vt->close(io, fd);
        if (direct_fd >= 0) io->vt->close(io, direct_fd);
        return rc;
    }
    out->fd = fd;
    out->direct_fd = direct_fd;
    return LS_OK;
}

void ls_segment_encode_seal(uint8_t frame[LS_SEAL_FRAME_SIZE], uint64_t seq, uint64_t last_lsn, uint64_t off) {
    uint8_t *body = frame + LS_FRAME_HEADER_SIZE;
    ls_put_u64(body, last_lsn);
    ls_put_u64(body + 8, off);
    ls_frame_header h = {
        .stored_len = LS_SEAL_BODY_SIZE,
        .record_count = 0,
        .first_lsn = last_lsn + 1, /* the LSN the next record would get */
        .segment_seq = seq,
        .flags = LS_FRAME_F_SEAL,
        .raw_len = LS_SEAL_BODY_SIZE,
    };
    ls_frame_header_encode(&h, ls_crc32c_value(body, LS_SEAL_BODY_SIZE), frame);
}

int ls_segment_write_seal(ls_io *io, int fd, uint64_t seq, uint64_t last_lsn, uint64_t off) {
    uint8_t frame[LS_SEAL_FRAME_SIZE];
    ls_segment_encode_seal(frame, seq, last_lsn, off);
    struct iovec iov = {frame, sizeof frame};
    return io->vt->write_durable(io, fd, &iov, 1, (off_t)off);
}
