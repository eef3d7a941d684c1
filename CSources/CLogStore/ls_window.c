/*
 * Positional reads for the scanner and the reader: through a read-only mapping of the file
 * where the system gives one (no copy: the page cache's pages are read in place), else
 * through a buffer refilled by pread.
 *
 * The mapping is populated ahead of use (MADV_POPULATE_READ), a few MiB at a time: that maps
 * the pages in one call instead of one fault per 64 KiB, and a page that cannot be read (an
 * I/O error) then fails the populate instead of raising SIGBUS at an access. From such a
 * failure on, the window reads through the buffer, so the error is reported with its errno
 * like any failed read; pointers it handed out earlier stay valid (the mapping stays until
 * ls_window_free). (A page evicted after its populate and unreadable when touched again can
 * still fault, as it can for point reads; the populate closes the common case, a bad sector
 * met for the first time.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ls_internal.h"

/* Read-ahead for sequential scans: large enough that a scan is a few big reads. */
#define LS_WINDOW_MIN (1u << 20)
/* Files smaller than this are read into the buffer: a mapping costs more than the copy. */
#define LS_WINDOW_MAP_MIN (64u * 1024u)
/* Bytes of the mapping populated at a time, and the span a scan asks for at a time. */
#define LS_WINDOW_POPULATE (4u << 20)

int ls_window_init(ls_window *w, ls_io *io, int fd, uint64_t file_size) {
    memset(w, 0, sizeof *w);
    w->io = io;
    w->fd = fd;
    w->file_size = file_size;
    if (file_size >= LS_WINDOW_MAP_MIN && file_size <= SIZE_MAX) {
        int merr = 0;
        w->map = w->io->vt->map_read(w->io, fd, (size_t)file_size, &merr);
        w->in_map = w->map != NULL;
    }
    return 0;
}

void ls_window_free(ls_window *w) {
    if (w->map) w->io->vt->unmap(w->io, (void *)w->map, (size_t)w->file_size);
    w->map = NULL;
    w->in_map = 0;
    free(w->buf);
    w->buf = NULL;
}

/* Populates the mapping up to at least `end`; 0, or -1 if a page cannot be read. */
static int populate(ls_window *w, uint64_t end) {
#ifdef MADV_POPULATE_READ
    while (w->populated < end) {
        /* Whole steps, so that every start is a multiple of LS_WINDOW_POPULATE (page-aligned). */
        uint64_t to = ls_align_up(end > w->populated + LS_WINDOW_POPULATE ? end : w->populated + 1, LS_WINDOW_POPULATE);
        if (to > w->file_size) to = w->file_size;
        if (madvise((void *)(w->map + w->populated), (size_t)(to - w->populated), MADV_POPULATE_READ) != 0) {
            if (errno != EINVAL) return -1;
            to = w->file_size; /* a kernel before 5.14: pages are mapped as they are touched */
        }
        w->populated = to;
    }
#else
    (void)end;
    w->populated = w->file_size;
#endif
    return 0;
}

const uint8_t *ls_window_get(ls_window *w, uint64_t off, size_t n, int *rc) {
    *rc = 0;
    if (off > w->file_size || n > w->file_size - off) return NULL;
    if (w->in_map) {
        if (off + n <= w->populated || populate(w, off + n) == 0) return w->map + off;
        w->in_map = 0; /* read it through the buffer: the read reports the error */
    }
    if (w->buf && off >= w->start && off + n <= w->start + w->len) return w->buf + (off - w->start);
    if (!w->buf || n > w->cap) {
        size_t cap = w->cap ? w->cap : LS_WINDOW_MIN;
        while (cap < n) cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            *rc = -ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
        w->len = 0;
    }
    uint64_t want = w->file_size - off < w->cap ? w->file_size - off : w->cap;
    ssize_t got = ls_io_read_full(w->io, w->fd, w->buf, (size_t)want, (off_t)off);
    if (got < 0) {
        *rc = (int)got;
        w->len = 0;
        return NULL;
    }
    w->start = off;
    w->len = (size_t)got;
    if ((size_t)got < n) return NULL; /* the file shrank under us: treat as its end */
    return w->buf;
}

size_t ls_window_span(const ls_window *w) { return w->in_map ? LS_WINDOW_POPULATE : (w->cap ? w->cap : LS_WINDOW_MIN); }

int ls_window_stable(const ls_window *w) { return w->in_map; }
