/*
 * The one seam for file I/O. Every file operation of the C core goes through an
 * ls_io; the real implementations talk to the kernel, the fault-injecting one
 * (ls_faultio.h) wraps a real one and injects crashes, torn writes, EIO, ENOSPC
 * and short writes, reproducibly from a seed.
 *
 * Conventions (liburing's): functions return >= 0 on success and -errno on
 * failure; EINTR is retried inside; nothing here aborts.
 *
 * Thread safety: an ls_io is used from several threads at once (the writer
 * thread, the segment preparer, readers); implementations must be thread-safe.
 * `write_durable` is called from the writer thread only, one call at a time.
 */
#ifndef LS_IO_H
#define LS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ls_io ls_io;

/* Most buffers one write_durable call takes (-EINVAL beyond). */
#define LS_IO_MAX_IOV 64

/* Which kernel interface a real ls_io uses for durable writes. */
typedef enum ls_backend {
    LS_BACKEND_AUTO = 0,    /* io_uring if the probe at open succeeds, else pwritev */
    LS_BACKEND_URING = 1,   /* io_uring; opening fails if it is unavailable */
    LS_BACKEND_PWRITEV = 2, /* pwritev + fdatasync */
} ls_backend;

/* How the io_uring backend makes a write durable (both are measured by `logstore bench`). */
typedef enum ls_uring_mode {
    LS_URING_LINKED_FDATASYNC = 0, /* IORING_OP_WRITEV linked (IOSQE_IO_LINK) to IORING_OP_FSYNC(DATASYNC) */
    LS_URING_DSYNC_WRITE = 1,      /* one IORING_OP_WRITEV with RWF_DSYNC */
} ls_uring_mode;

typedef struct ls_io_vtable {
    /* open(2): returns a file descriptor or -errno. */
    int (*open)(ls_io *io, const char *path, int flags, mode_t mode);
    int (*close)(ls_io *io, int fd);
    /* One pread/pwrite: may return fewer bytes than asked (callers loop). */
    ssize_t (*pread)(ls_io *io, int fd, void *buf, size_t len, off_t off);
    ssize_t (*pwrite)(ls_io *io, int fd, const void *buf, size_t len, off_t off);
    int (*fsync)(ls_io *io, int fd);
    int (*fdatasync)(ls_io *io, int fd);
    /* fallocate(fd, 0, off, len); -EOPNOTSUPP where the file system refuses. */
    int (*fallocate)(ls_io *io, int fd, off_t off, off_t len);
    int (*ftruncate)(ls_io *io, int fd, off_t len);
    /* Current size of the file in bytes, or -errno. */
    int64_t (*file_size)(ls_io *io, int fd);
    int (*rename)(ls_io *io, const char *from, const char *to);
    int (*unlink)(ls_io *io, const char *path);
    /* mkdir(2); an existing directory is success. */
    int (*mkdir)(ls_io *io, const char *path, mode_t mode);
    /* Opens the directory, fsyncs it, closes it. */
    int (*fsync_dir)(ls_io *io, const char *path);
    /*
     * Writes all `iovcnt` (at most LS_IO_MAX_IOV) buffers contiguously at `off` and makes them durable
     * (fdatasync or a DSYNC write) before returning 0. Short writes are
     * continued inside. On any failure returns -errno and the outcome of the
     * bytes is unknown: some, all or none may be on disk.
     */
    int (*write_durable)(ls_io *io, int fd, const struct iovec *iov, int iovcnt, off_t off);
    /*
     * Maps [0, len) of the file read-only and shared (mmap PROT_READ, MAP_SHARED), so point
     * reads cost a memory access instead of a system call. Returns the address, or NULL with
     * *err = -errno. The mapping outlives `fd`.
     */
    void *(*map_read)(ls_io *io, int fd, size_t len, int *err);
    /* munmap(2) of a mapping made by map_read. */
    int (*unmap)(ls_io *io, void *addr, size_t len);
    /*
     * Advises that the cached pages of the whole file will not be needed again
     * (posix_fadvise POSIX_FADV_DONTNEED): clean ones may be dropped at once. Advice only, it
     * changes no byte of the file; an implementation without a page cache returns 0.
     */
    int (*release_cache)(ls_io *io, int fd);
    /* Releases the ls_io itself (not the files). */
    void (*destroy)(ls_io *io);
} ls_io_vtable;

/* Every implementation starts with this header, so a pointer to it is an ls_io*. */
struct ls_io {
    const ls_io_vtable *vt;
    /* The backend a durable write actually uses (never LS_BACKEND_AUTO). */
    ls_backend backend;
};

/*
 * Creates a real ls_io. With LS_BACKEND_AUTO, probes io_uring (ring setup and a
 * no-op round trip) and falls back to pwritev when it fails (sysctl
 * kernel.io_uring_disabled, seccomp, old kernels). With LS_BACKEND_URING a
 * failed probe is an error. Returns 0 and sets *out, or -errno.
 */
int ls_io_posix_create(ls_backend backend, ls_uring_mode uring_mode, ls_io **out);

/* 1 if io_uring can be set up in this process, else 0. */
int ls_io_uring_available(void);

/* Human-readable backend name: "io_uring", "pwritev". */
const char *ls_backend_name(ls_backend backend);

/* Convenience wrappers (loops over short reads/writes). */
static inline void ls_io_destroy(ls_io *io) { if (io) io->vt->destroy(io); }

/* Reads exactly len bytes unless the file ends first; returns bytes read or -errno. */
ssize_t ls_io_read_full(ls_io *io, int fd, void *buf, size_t len, off_t off);
/* Writes exactly len bytes (looping over short writes); returns 0 or -errno. */
int ls_io_write_full(ls_io *io, int fd, const void *buf, size_t len, off_t off);

#ifdef __cplusplus
}
#endif
#endif /* LS_IO_H */
