/*
 * The real ls_io: plain system calls for everything, and for the one hot
 * operation, write_durable, either io_uring (a writev linked to an fdatasync,
 * or a single RWF_DSYNC writev: one io_uring_enter per group commit) or
 * pwritev followed by fdatasync (two system calls).
 */
#include "ls_io.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Two entries suffice: a write and its linked fsync. A little slack costs nothing. */
#define LS_URING_QUEUE_DEPTH 8

typedef struct ls_posix_io {
    ls_io base;
    ls_uring_mode uring_mode;
    int ring_ready;
    /* Set when the ring failed in a way that may leave entries or completions in it; every
     * later durable write then fails (the log is fail-stop after the first failure anyway). */
    int ring_broken;
    struct io_uring ring; /* used by write_durable only, i.e. by the writer thread alone */
} ls_posix_io;

static ls_posix_io *posix_of(ls_io *io) { return (ls_posix_io *)io; }

/* ThreadSanitizer only. liburing maps and unmaps a ring's memory (SQ and CQ rings, SQE array)
 * with raw system calls, which TSan does not intercept, so what TSan remembers of a ring's
 * pages outlives their munmap. When a later ring, set up on another thread, gets the same
 * pages, TSan reports its first accesses as racing with the old ring's last ones. The kernel
 * orders an munmap before any mmap that returns the same pages; this tells TSan so, page by
 * page: each page of a ring is released just before the ring is unmapped and acquired as soon
 * as a ring is mapped on it. No other ordering is implied. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(LS_TSAN)
#define LS_TSAN 1
#endif
#ifdef LS_TSAN
#include <sanitizer/tsan_interface.h>
static void uring_tsan_pages(struct io_uring *ring, void (*sync)(void *)) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t sqe_size = sizeof(struct io_uring_sqe);
#ifdef IORING_SETUP_SQE128
    if (ring->flags & IORING_SETUP_SQE128) sqe_size += 64;
#endif
    const struct { void *addr; size_t len; } maps[3] = {
        {ring->sq.ring_ptr, ring->sq.ring_sz},
        {ring->cq.ring_ptr, ring->cq.ring_sz}, /* the same as the SQ ring's with IORING_FEAT_SINGLE_MMAP */
        {ring->sq.sqes, sqe_size * ring->sq.ring_entries},
    };
    for (int i = 0; i < 3; i++) {
        if (!maps[i].addr) continue;
        const uintptr_t end = (uintptr_t)maps[i].addr + maps[i].len;
        for (uintptr_t a = (uintptr_t)maps[i].addr & ~(page - 1); a < end; a += page) sync((void *)a);
    }
}
#endif

/* io_uring_queue_init, and (under TSan) the ordering of the pages it maps after their last unmap. */
static int uring_init(struct io_uring *ring) {
    int rc = io_uring_queue_init(LS_URING_QUEUE_DEPTH, ring, 0);
#ifdef LS_TSAN
    if (rc == 0) uring_tsan_pages(ring, __tsan_acquire);
#endif
    return rc;
}

/* io_uring_queue_exit, releasing (under TSan) the pages it unmaps to their next mapping. */
static void uring_exit(struct io_uring *ring) {
#ifdef LS_TSAN
    uring_tsan_pages(ring, __tsan_release);
#endif
    io_uring_queue_exit(ring);
}

#define LS_RETRY_EINTR(expr)                                                                       \
    ({                                                                                             \
        __typeof__(expr) _r;                                                                       \
        do {                                                                                       \
            _r = (expr);                                                                           \
        } while (_r < 0 && errno == EINTR);                                                        \
        _r;                                                                                        \
    })

static int px_open(ls_io *io, const char *path, int flags, mode_t mode) {
    (void)io;
    int fd = LS_RETRY_EINTR(open(path, flags | O_CLOEXEC, mode));
    return fd < 0 ? -errno : fd;
}

static int px_close(ls_io *io, int fd) {
    (void)io;
    /* Linux closes the descriptor even when close reports EINTR: never retry. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t px_pread(ls_io *io, int fd, void *buf, size_t len, off_t off) {
    (void)io;
    ssize_t n = LS_RETRY_EINTR(pread(fd, buf, len, off));
    return n < 0 ? -errno : n;
}

static ssize_t px_pwrite(ls_io *io, int fd, const void *buf, size_t len, off_t off) {
    (void)io;
    ssize_t n = LS_RETRY_EINTR(pwrite(fd, buf, len, off));
    return n < 0 ? -errno : n;
}

static int px_fsync(ls_io *io, int fd) {
    (void)io;
    return LS_RETRY_EINTR(fsync(fd)) < 0 ? -errno : 0;
}

static int px_fdatasync(ls_io *io, int fd) {
    (void)io;
    return LS_RETRY_EINTR(fdatasync(fd)) < 0 ? -errno : 0;
}

static int px_fallocate(ls_io *io, int fd, off_t off, off_t len) {
    (void)io;
    return LS_RETRY_EINTR(fallocate(fd, 0, off, len)) < 0 ? -errno : 0;
}

static int px_ftruncate(ls_io *io, int fd, off_t len) {
    (void)io;
    return LS_RETRY_EINTR(ftruncate(fd, len)) < 0 ? -errno : 0;
}

static int64_t px_file_size(ls_io *io, int fd) {
    (void)io;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    return (int64_t)st.st_size;
}

static int px_rename(ls_io *io, const char *from, const char *to) {
    (void)io;
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(ls_io *io, const char *path) {
    (void)io;
    return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(ls_io *io, const char *path, mode_t mode) {
    (void)io;
    if (mkdir(path, mode) == 0) return 0;
    if (errno != EEXIST) return -errno;
    struct stat st;
    if (stat(path, &st) < 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int px_fsync_dir(ls_io *io, const char *path) {
    (void)io;
    int fd = LS_RETRY_EINTR(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd < 0) return -errno;
    int rc = LS_RETRY_EINTR(fsync(fd)) < 0 ? -errno : 0;
    close(fd);
    return rc;
}


static size_t iov_total(const struct iovec *iov, int iovcnt) {
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) n += iov[i].iov_len;
    return n;
}

/* Writes every byte of iov at off with pwritev, continuing after short writes. */
static int pwritev_all(int fd, const struct iovec *iov, int iovcnt, off_t off) {
    struct iovec local[LS_IO_MAX_IOV];
    if (iovcnt > LS_IO_MAX_IOV) return -EINVAL;
    memcpy(local, iov, (size_t)iovcnt * sizeof *iov);
    struct iovec *v = local;
    size_t remaining = iov_total(iov, iovcnt);
    while (remaining > 0) {
        ssize_t n = LS_RETRY_EINTR(pwritev(fd, v, iovcnt, off));
        if (n < 0) return -errno;
        if (n == 0) return -EIO; /* no progress on a regular file: treat as a device error */
        off += n;
        remaining -= (size_t)n;
        size_t done = (size_t)n;
        while (iovcnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return 0;
}

static int px_write_durable_pwritev(ls_io *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    (void)io;
    int rc = pwritev_all(fd, iov, iovcnt, off);
    if (rc < 0) return rc;
    return LS_RETRY_EINTR(fdatasync(fd)) < 0 ? -errno : 0;
}

/* Submits what is queued and reaps `expected` completions, returning their results in order
 * of user_data (0 = write, 1 = fsync). */
static int uring_run(struct io_uring *ring, int expected, int results[2]) {
    int submitted = 0;
    for (;;) {
        int rc = io_uring_submit_and_wait(ring, (unsigned)expected);
        if (rc >= 0) {
            submitted = rc;
            break;
        }
        if (rc != -EINTR) return rc;
    }
    (void)submitted;
    for (int got = 0; got < expected; got++) {
        struct io_uring_cqe *cqe;
        int rc;
        do {
            rc = io_uring_wait_cqe(ring, &cqe);
        } while (rc == -EINTR);
        if (rc < 0) return rc;
        uint64_t which = io_uring_cqe_get_data64(cqe);
        if (which < 2) results[which] = cqe->res;
        io_uring_cqe_seen(ring, cqe);
    }
    return 0;
}

static int px_write_durable_uring(ls_io *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    ls_posix_io *p = posix_of(io);
    struct iovec local[LS_IO_MAX_IOV];
    if (iovcnt > LS_IO_MAX_IOV) return -EINVAL;
    memcpy(local, iov, (size_t)iovcnt * sizeof *iov);
    struct iovec *v = local;
    size_t remaining = iov_total(iov, iovcnt);
    const int dsync = p->uring_mode == LS_URING_DSYNC_WRITE;
    if (p->ring_broken) return -EIO;
    while (remaining > 0) {
        struct io_uring_sqe *w = io_uring_get_sqe(&p->ring);
        if (!w) return -EBUSY; /* cannot happen: every call reaps all it submits */
        io_uring_prep_writev(w, fd, v, (unsigned)iovcnt, (uint64_t)off);
        io_uring_sqe_set_data64(w, 0);
        int expected = 1;
        if (dsync) {
            w->rw_flags = RWF_DSYNC;
        } else {
            w->flags |= IOSQE_IO_LINK;
            struct io_uring_sqe *s = io_uring_get_sqe(&p->ring);
            if (!s) return -EBUSY;
            io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
            io_uring_sqe_set_data64(s, 1);
            expected = 2;
        }
        int res[2] = {0, 0};
        int rc = uring_run(&p->ring, expected, res);
        if (rc < 0) {
            p->ring_broken = 1; /* entries pointing at this stack frame may still be queued */
            return rc;
        }
        if (res[0] < 0) return res[0];
        if (res[0] == 0) return -EIO;
        size_t done = (size_t)res[0];
        if (done == remaining) {
            /* Complete write: with a linked fsync its result decides; a DSYNC write is already durable. */
            return dsync ? 0 : (res[1] < 0 ? res[1] : 0);
        }
        /* Short write: the linked fsync was cancelled. Continue with the rest. */
        remaining -= done;
        off += (off_t)done;
        while (iovcnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    /* Nothing left to write (zero-length call): still honour the durability promise. */
    return LS_RETRY_EINTR(fdatasync(fd)) < 0 ? -errno : 0;
}

static void px_destroy(ls_io *io) {
    ls_posix_io *p = posix_of(io);
    if (p->ring_ready) uring_exit(&p->ring);
    free(p);
}

static void *px_map_read(ls_io *io, int fd, size_t len, int *err) {
    (void)io;
    void *addr = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    *err = 0;
    return addr;
}

static int px_unmap(ls_io *io, void *addr, size_t len) {
    (void)io;
    return munmap(addr, len) < 0 ? -errno : 0;
}

static int px_release_cache(ls_io *io, int fd) {
    (void)io;
    return -posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* it returns the error number, not -1 */
}

static const ls_io_vtable ls_posix_pwritev_vtable = {
    px_open, px_close, px_pread, px_pwrite, px_fsync, px_fdatasync, px_fallocate, px_ftruncate,
    px_file_size, px_rename, px_unlink, px_mkdir, px_fsync_dir, px_write_durable_pwritev, px_map_read, px_unmap,
    px_release_cache, px_destroy,
};

static const ls_io_vtable ls_posix_uring_vtable = {
    px_open, px_close, px_pread, px_pwrite, px_fsync, px_fdatasync, px_fallocate, px_ftruncate,
    px_file_size, px_rename, px_unlink, px_mkdir, px_fsync_dir, px_write_durable_uring, px_map_read, px_unmap,
    px_release_cache, px_destroy,
};

/* Sets up a ring and proves it works with one no-op round trip. */
static int uring_setup_and_probe(struct io_uring *ring) {
    int rc = uring_init(ring);
    if (rc < 0) return rc;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        uring_exit(ring);
        return -EBUSY;
    }
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 0);
    int res[2] = {0, 0};
    rc = uring_run(ring, 1, res);
    if (rc == 0 && res[0] < 0) rc = res[0];
    if (rc < 0) uring_exit(ring);
    return rc;
}

int ls_io_uring_available(void) {
    struct io_uring ring;
    if (uring_setup_and_probe(&ring) < 0) return 0;
    uring_exit(&ring);
    return 1;
}

int ls_io_posix_create(ls_backend backend, ls_uring_mode uring_mode, ls_io **out) {
    *out = NULL;
    if (backend != LS_BACKEND_AUTO && backend != LS_BACKEND_URING && backend != LS_BACKEND_PWRITEV) return -EINVAL;
    if (uring_mode != LS_URING_LINKED_FDATASYNC && uring_mode != LS_URING_DSYNC_WRITE) return -EINVAL;
    ls_posix_io *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->uring_mode = uring_mode;
    p->base.vt = &ls_posix_pwritev_vtable;
    p->base.backend = LS_BACKEND_PWRITEV;
    if (backend != LS_BACKEND_PWRITEV) {
        int rc = uring_setup_and_probe(&p->ring);
        if (rc == 0) {
            p->ring_ready = 1;
            p->base.vt = &ls_posix_uring_vtable;
            p->base.backend = LS_BACKEND_URING;
        } else if (backend == LS_BACKEND_URING) {
            free(p);
            return rc;
        }
    }
    *out = &p->base;
    return 0;
}

const char *ls_backend_name(ls_backend backend) {
    switch (backend) {
    case LS_BACKEND_URING: return "io_uring";
    case LS_BACKEND_PWRITEV: return "pwritev";
    case LS_BACKEND_AUTO: return "auto";
    }
    return "unknown";
}

ssize_t ls_io_read_full(ls_io *io, int fd, void *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = io->vt->pread(io, fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int ls_io_write_full(ls_io *io, int fd, const void *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = io->vt->pwrite(io, fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n < 0) return (int)n;
        if (n == 0) return -EIO;
        done += (size_t)n;
    }
    return 0;
}
