/*
 * Releasing the page cache of sealed segments, off the append path (docs/FORMAT.md §6.4).
 *
 * Every byte the writer appends, and every zero the preparer writes ahead of it, lands in a
 * page-cache page, and the kernel keeps those pages until memory runs short. So a log written
 * fast takes pages the machine has not used for a while, and on a virtual machine that returns
 * free memory to its host (free page reporting) each such page is a fault in the host:
 * measured on the development VM, zero-filling a 64 MiB segment took 150–280 ms of the
 * preparer's CPU time with new pages and 7 ms with pages freed a moment before.
 *
 * So once the sealed segments this log wrote hold more than cfg.sealed_cache_bytes, the preparer
 * advises the kernel that the oldest one's pages are not needed (POSIX_FADV_DONTNEED). They are
 * clean, because the writer seals a segment with a durable write after its last data, so the
 * kernel drops them at once, and the next segment's zero-fill gets them back. Reads of a released
 * segment (the Raft entry cache's misses, point reads of pages not mapped yet, recovery) go to
 * the disk; pages a point-read mapping already holds stay. The advice changes no byte of a file:
 * a failed release is counted (cache_release_failures) and leaves the pages cached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "ls_internal.h"

/* Grows the ring to hold one more entry, keeping its order. Returns 0 or -ENOMEM. */
static int ring_reserve(ls_sealed_cache *c) {
    if (c->count < c->cap) return 0;
    size_t cap = c->cap ? c->cap * 2 : 8;
    uint64_t *seqs = malloc(cap * sizeof *seqs), *bytes = malloc(cap * sizeof *bytes);
    if (!seqs || !bytes) {
        free(seqs);
        free(bytes);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->count; i++) {
        seqs[i] = c->seqs[(c->head + i) % c->cap];
        bytes[i] = c->bytes[(c->head + i) % c->cap];
    }
    free(c->seqs);
    free(c->bytes);
    c->seqs = seqs;
    c->bytes = bytes;
    c->head = 0;
    c->cap = cap;
    return 0;
}

/* Advises the kernel to drop segment `seq`'s cached pages. A segment removed meanwhile has no
 * pages left to release, so a missing file is not a failure. */
static void release(ls_log *log, uint64_t seq) {
    ls_io *io = log->io;
    char path[LS_PATH_MAX];
    ls_segment_path(path, sizeof path, log->seg_dir, log->writer_id, seq);
    int fd = io->vt->open(io, path, O_RDONLY, 0);
    if (fd == -ENOENT) return;
    int rc = fd < 0 ? fd : io->vt->release_cache(io, fd);
    if (fd >= 0) io->vt->close(io, fd); /* read-only: closing cannot lose data */
    atomic_fetch_add_explicit(rc == 0 ? &log->st_cache_releases : &log->st_cache_release_failures, 1,
                              memory_order_relaxed);
}

void ls_sealed_cache_note(ls_log *log, uint64_t seq, uint64_t bytes) {
    uint64_t budget = log->cfg.sealed_cache_bytes;
    if (budget == LS_KEEP_SEALED_CACHE) return;
    ls_sealed_cache *c = &log->sealed_cache;
    if (bytes > budget) {
        release(log, seq); /* alone more than the budget: nothing older can be kept either */
    } else if (ring_reserve(c) < 0) {
        release(log, seq); /* no memory to remember it: release it now rather than never */
    } else {
        size_t tail = (c->head + c->count) % c->cap;
        c->seqs[tail] = seq;
        c->bytes[tail] = bytes;
        c->count++;
        c->total += bytes;
    }
    while (c->total > budget) {
        release(log, c->seqs[c->head]);
        c->total -= c->bytes[c->head];
        c->head = (c->head + 1) % c->cap;
        c->count--;
    }
}

void ls_sealed_cache_free(ls_sealed_cache *c) {
    free(c->seqs);
    free(c->bytes);
    *c = (ls_sealed_cache){0};
}
