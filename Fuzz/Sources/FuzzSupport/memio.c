/*
 * An in-memory ls_io for the fuzz targets: files are byte buffers named by path, so a target
 * runs the real scanner, manifest replay and blob reader on its input without touching the
 * disk. Single-threaded (the code under test calls it from one thread). Directories are not
 * modelled: mkdir and fsync_dir succeed. map_read hands out a copy of the file (the scanner
 * only reads through it) unless mapping is turned off, which sends readers down the pread path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MEMIO_FILES 16
#define MEMIO_FDS 32
#define MEMIO_FD_BASE 100

typedef struct memfile {
    char *path; /* NULL once unlinked */
    uint8_t *data;
    size_t size, cap;
    int nfds;
} memfile;

typedef struct memio {
    ls_io base;
    int allow_map;
    memfile *files[MEMIO_FILES]; /* by name; an unlinked file still open lives on in fds only */
    memfile *fds[MEMIO_FDS];
    int maps; /* live mappings */
} memio;

static memio *M(ls_io *io) { return (memio *)io; }

static void file_release(memfile *f) {
    if (f->path || f->nfds > 0) return;
    free(f->data);
    free(f);
}

static int find(memio *m, const char *path) {
    for (int i = 0; i < MEMIO_FILES; i++)
        if (m->files[i] && strcmp(m->files[i]->path, path) == 0) return i;
    return -1;
}

static memfile *fd_file(memio *m, int fd) {
    int i = fd - MEMIO_FD_BASE;
    return i >= 0 && i < MEMIO_FDS ? m->fds[i] : NULL;
}

static int reserve(memfile *f, size_t n) {
    if (n <= f->cap) return 0;
    size_t cap = f->cap ? f->cap : 64;
    while (cap < n) cap *= 2;
    uint8_t *d = realloc(f->data, cap);
    if (!d) return -ENOMEM;
    f->data = d;
    f->cap = cap;
    return 0;
}

static int resize(memfile *f, size_t n) {
    if (reserve(f, n) < 0) return -ENOMEM;
    if (n > f->size) memset(f->data + f->size, 0, n - f->size);
    f->size = n;
    return 0;
}

static memfile *create(memio *m, const char *path) {
    for (int i = 0; i < MEMIO_FILES; i++) {
        if (m->files[i]) continue;
        memfile *f = calloc(1, sizeof *f);
        if (!f || !(f->path = strdup(path))) {
            free(f);
            return NULL;
        }
        m->files[i] = f;
        return f;
    }
    return NULL;
}

static int v_open(ls_io *io, const char *path, int flags, mode_t mode) {
    (void)mode;
    memio *m = M(io);
    int i = find(m, path);
    memfile *f = i >= 0 ? m->files[i] : NULL;
    if (!f) {
        if (!(flags & O_CREAT)) return -ENOENT;
        if (!(f = create(m, path))) return -ENOSPC;
    } else if ((flags & O_CREAT) && (flags & O_EXCL)) {
        return -EEXIST;
    }
    if (flags & O_TRUNC) f->size = 0;
    for (int k = 0; k < MEMIO_FDS; k++) {
        if (m->fds[k]) continue;
        m->fds[k] = f;
        f->nfds++;
        return MEMIO_FD_BASE + k;
    }
    return -EMFILE;
}

static int v_close(ls_io *io, int fd) {
    memio *m = M(io);
    memfile *f = fd_file(m, fd);
    if (!f) return -EBADF;
    m->fds[fd - MEMIO_FD_BASE] = NULL;
    f->nfds--;
    file_release(f);
    return 0;
}

static ssize_t v_pread(ls_io *io, int fd, void *buf, size_t len, off_t off) {
    memfile *f = fd_file(M(io), fd);
    if (!f) return -EBADF;
    if (off < 0) return -EINVAL;
    if ((uint64_t)off >= f->size) return 0;
    size_t n = f->size - (size_t)off < len ? f->size - (size_t)off : len;
    memcpy(buf, f->data + off, n);
    return (ssize_t)n;
}

static ssize_t v_pwrite(ls_io *io, int fd, const void *buf, size_t len, off_t off) {
    memfile *f = fd_file(M(io), fd);
    if (!f) return -EBADF;
    if (off < 0 || (uint64_t)off + len > FUZZ_MEMIO_MAX_FILE) return -EFBIG;
    if ((uint64_t)off + len > f->size && resize(f, (size_t)off + len) < 0) return -ENOSPC;
    memcpy(f->data + off, buf, len);
    return (ssize_t)len;
}

static int v_sync(ls_io *io, int fd) { return fd_file(M(io), fd) ? 0 : -EBADF; }

static int v_fallocate(ls_io *io, int fd, off_t off, off_t len) {
    memfile *f = fd_file(M(io), fd);
    if (!f) return -EBADF;
    if (off < 0 || len < 0 || (uint64_t)off + (uint64_t)len > FUZZ_MEMIO_MAX_FILE) return -EFBIG;
    if ((uint64_t)(off + len) > f->size) return resize(f, (size_t)(off + len)) < 0 ? -ENOSPC : 0;
    return 0;
}

static int v_ftruncate(ls_io *io, int fd, off_t len) {
    memfile *f = fd_file(M(io), fd);
    if (!f) return -EBADF;
    if (len < 0 || (uint64_t)len > FUZZ_MEMIO_MAX_FILE) return -EFBIG;
    return resize(f, (size_t)len) < 0 ? -ENOSPC : 0;
}

static int64_t v_file_size(ls_io *io, int fd) {
    memfile *f = fd_file(M(io), fd);
    return f ? (int64_t)f->size : -EBADF;
}

static int v_rename(ls_io *io, const char *from, const char *to) {
    memio *m = M(io);
    int i = find(m, from);
    if (i < 0) return -ENOENT;
    if (strcmp(from, to) == 0) return 0;
    int j = find(m, to);
    char *p = strdup(to);
    if (!p) return -ENOMEM;
    if (j >= 0) {
        memfile *old = m->files[j];
        m->files[j] = NULL;
        free(old->path);
        old->path = NULL;
        file_release(old);
    }
    free(m->files[i]->path);
    m->files[i]->path = p;
    return 0;
}

static int v_unlink(ls_io *io, const char *path) {
    memio *m = M(io);
    int i = find(m, path);
    if (i < 0) return -ENOENT;
    memfile *f = m->files[i];
    m->files[i] = NULL;
    free(f->path);
    f->path = NULL;
    file_release(f);
    return 0;
}

static int v_mkdir(ls_io *io, const char *path, mode_t mode) {
    (void)io, (void)path, (void)mode;
    return 0;
}

static int v_fsync_dir(ls_io *io, const char *path) {
    (void)io, (void)path;
    return 0;
}

static int v_write_durable(ls_io *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    if (iovcnt < 0 || iovcnt > LS_IO_MAX_IOV) return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        int rc = ls_io_write_full(io, fd, iov[i].iov_base, iov[i].iov_len, off);
        if (rc < 0) return rc;
        off += (off_t)iov[i].iov_len;
    }
    return 0;
}

static void *v_map_read(ls_io *io, int fd, size_t len, int *err) {
    memio *m = M(io);
    memfile *f = fd_file(m, fd);
    if (!f) {
        *err = -EBADF;
        return NULL;
    }
    if (!m->allow_map || len == 0) {
        *err = -ENODEV;
        return NULL;
    }
    uint8_t *p = malloc(len);
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t n = f->size < len ? f->size : len;
    memcpy(p, f->data, n);
    memset(p + n, 0, len - n);
    m->maps++;
    return p;
}

static int v_unmap(ls_io *io, void *addr, size_t len) {
    (void)len;
    M(io)->maps--;
    free(addr);
    return 0;
}

static void v_destroy(ls_io *io) {
    memio *m = M(io);
    for (int k = 0; k < MEMIO_FDS; k++) {
        memfile *f = m->fds[k];
        if (!f) continue;
        m->fds[k] = NULL;
        f->nfds--;
        file_release(f);
    }
    for (int i = 0; i < MEMIO_FILES; i++) {
        memfile *f = m->files[i];
        if (!f) continue;
        free(f->path);
        f->path = NULL;
        file_release(f);
    }
    free(m);
}

/* Memory files have no page cache to release. */
static int v_release_cache(ls_io *io, int fd) {
    (void)io;
    (void)fd;
    return 0;
}

static const ls_io_vtable memio_vt = {
    .open = v_open,
    .close = v_close,
    .pread = v_pread,
    .pwrite = v_pwrite,
    .fsync = v_sync,
    .fdatasync = v_sync,
    .fallocate = v_fallocate,
    .ftruncate = v_ftruncate,
    .file_size = v_file_size,
    .rename = v_rename,
    .unlink = v_unlink,
    .mkdir = v_mkdir,
    .fsync_dir = v_fsync_dir,
    .write_durable = v_write_durable,
    .map_read = v_map_read,
    .unmap = v_unmap,
    .release_cache = v_release_cache,
    .destroy = v_destroy,
};

ls_io *memio_create(int allow_map) {
    memio *m = calloc(1, sizeof *m);
    FUZZ_CHECK(m != NULL);
    m->base.vt = &memio_vt;
    m->base.backend = LS_BACKEND_PWRITEV;
    m->allow_map = allow_map;
    return &m->base;
}

void memio_put(ls_io *io, const char *path, const uint8_t *data, size_t n) {
    memio *m = M(io);
    int i = find(m, path);
    memfile *f = i >= 0 ? m->files[i] : create(m, path);
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(resize(f, n) == 0);
    if (n) memcpy(f->data, data, n);
}

const uint8_t *memio_get(ls_io *io, const char *path, size_t *n) {
    memio *m = M(io);
    int i = find(m, path);
    if (i < 0) return NULL;
    *n = m->files[i]->size;
    return m->files[i]->data ? m->files[i]->data : (const uint8_t *)"";
}

int memio_open_fds(ls_io *io) {
    int n = 0;
    for (int k = 0; k < MEMIO_FDS; k++) n += M(io)->fds[k] != NULL;
    return n + M(io)->maps;
}

int memio_file_count(ls_io *io) {
    int n = 0;
    for (int i = 0; i < MEMIO_FILES; i++) n += M(io)->files[i] != NULL;
    return n;
}
