/* Buffered positional reads for the scanner and the reader. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ls_internal.h"

/* Read-ahead for sequential scans: large enough that a scan is a few big reads. */
#define LS_WINDOW_MIN (1u << 20)

int ls_window_init(ls_window *w, ls_io *io, int fd, uint64_t file_size) {
    memset(w, 0, sizeof *w);
    w->io = io;
    w->fd = fd;
    w->file_size = file_size;
    w->cap = LS_WINDOW_MIN;
    w->buf = malloc(w->cap);
    return w->buf ? 0 : -ENOMEM;
}

void ls_window_free(ls_window *w) {
    free(w->buf);
    w->buf = NULL;
}

const uint8_t *ls_window_get(ls_window *w, uint64_t off, size_t n, int *rc) {
    *rc = 0;
    if (off > w->file_size || n > w->file_size - off) return NULL;
    if (off >= w->start && off + n <= w->start + w->len) return w->buf + (off - w->start);
    if (n > w->cap) {
        size_t cap = w->cap;
        while (cap < n) cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            *rc = -ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
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
