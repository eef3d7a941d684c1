/*
 * Internal structures shared by the C core's source files. Not part of the
 * public API (Swift does not see this header).
 */
#ifndef LS_INTERNAL_H
#define LS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ls_log.h"

#define LS_PATH_MAX 512
/* Bytes zero-filled per write while preparing a segment: large enough to stream,
 * small enough not to hold the disk away from the writer's fdatasync for long. */
#define LS_PREWRITE_CHUNK (1u << 20)
/* Bytes every segment keeps free for its seal frame. */
#define LS_SEAL_FRAME_SIZE (LS_FRAME_HEADER_SIZE + LS_SEAL_BODY_SIZE)
#define LS_MIN_SEGMENT_SIZE (64u * 1024u)
/* Largest segment: a frame body's length is a u32, and a segment must hold its frame. */
#define LS_MAX_SEGMENT_SIZE (1ull << 30)

/* One queued append: its records encoded (and maybe compressed) by the caller. */
typedef struct ls_op {
    struct ls_op *next;
    void *user;
    uint32_t record_count;
    uint32_t stored_len;  /* payload bytes as written */
    uint32_t raw_len;     /* payload bytes with a container expanded */
    uint32_t payload_crc; /* unmasked CRC32C of payload[0..stored_len) */
    uint16_t frame_flags; /* LS_FRAME_F_ZSTD: the payload is one zstd container record */
    uint8_t payload[];
} ls_op;

/* What the log knows about one segment file with data (or the active one). */
typedef struct ls_segment {
    uint64_t seq;
    uint64_t writer_id;
    uint64_t base_lsn;
    uint64_t last_lsn; /* base_lsn - 1 while empty */
    uint64_t end;      /* offset where the next frame (or the seal) goes */
    int sealed;
    char path[LS_PATH_MAX];
} ls_segment;

/* A segment file made ready ahead of rotation by the preparer thread. */
typedef struct ls_prepared {
    int fd;
    uint64_t seq;
    char path[LS_PATH_MAX];
} ls_prepared;

typedef enum ls_prep_state { LS_PREP_IDLE, LS_PREP_REQUESTED, LS_PREP_READY, LS_PREP_FAILED } ls_prep_state;

struct ls_log {
    ls_log_config cfg;
    char dir[LS_PATH_MAX];
    ls_io *io;
    int owns_io;
    uint64_t writer_id;
    int dir_lock_fd; /* the log directory, flock'ed exclusively while the log is open */

    /* ---- the queue: guarded by mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t writer_cv; /* the writer waits here for appends */
    ls_op *q_head, *q_tail;
    _Atomic uint32_t q_count; /* written under mu; read without it while the writer spins */
    uint64_t q_bytes;
    uint64_t q_last_enqueue_ns;
    int writer_sleeping;      /* the writer is blocked on writer_cv ... */
    uint32_t writer_wants;    /* ... until q_count reaches this */
    int closing;
    int failed;               /* fail-stop: set once, never cleared */
    ls_error failure;         /* the first failure */

    /* ---- segment list (readers look at it): guarded by seg_mu ---- */
    pthread_mutex_t seg_mu;
    ls_segment *segs;
    size_t nsegs, cap_segs;

    /* ---- the active segment: owned by the writer thread ---- */
    int active_fd;
    uint64_t active_seq;
    uint64_t active_off;
    int active_header_written;

    /* ---- the preparer: guarded by prep_mu ---- */
    pthread_mutex_t prep_mu;
    pthread_cond_t prep_cv;
    ls_prep_state prep_state;
    ls_prepared prepared;
    ls_error prep_error;
    uint64_t prep_next_seq;
    _Atomic int prep_stop; /* also read, without prep_mu, between zero-fill chunks */

    pthread_t writer_thread, prep_thread;
    int threads_started;

    /* ---- writer-thread state ---- */
    uint8_t *batch_buf;
    size_t batch_cap;
    uint32_t expected_ops; /* appends the writer expects to gather for the next batch */

    /* ---- statistics ---- */
    _Atomic uint64_t durable_lsn;
    uint64_t next_lsn; /* writer thread only */
    _Atomic uint64_t st_appends, st_records, st_batches, st_frames, st_bytes, st_syncs, st_max_batch,
        st_rotations, st_rotation_waits, st_linger_waits, st_sync_ns, st_gather_ns;
};

/* ---- ls_error helpers (ls_error.c) ---- */
int ls_err_set(ls_error *err, int code, int sys_errno, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int ls_err_set_at(ls_error *err, int code, int sys_errno, const char *path, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
uint64_t ls_now_ns(void);

/* ---- segment files (ls_segment.c) ---- */
void ls_segment_path(char *out, size_t cap, const char *dir, uint64_t writer_id, uint64_t seq);
/* Parses "seg-<writer:16 hex>-<seq:16 hex>.log"; returns 1 on a match. */
int ls_segment_parse_name(const char *name, uint64_t *writer_id, uint64_t *seq);
/* Creates, preallocates (and zero-fills unless no_prewrite), fsyncs and publishes (rename +
 * fsync dir) an empty segment file; returns its open fd or a negative ls_status. */
int ls_segment_prepare(ls_log *log, uint64_t seq, ls_prepared *out, ls_error *err);
/* Writes a seal frame at `off` of the segment and makes it durable. */
int ls_segment_write_seal(ls_io *io, int fd, uint64_t seq, uint64_t last_lsn, uint64_t off);


/* ---- buffered positional reads (ls_window.c) ---- */
/* A read buffer over [start, start + len) of a file, refilled on demand. */
typedef struct ls_window {
    ls_io *io;
    int fd;
    uint64_t file_size;
    uint8_t *buf;
    size_t cap;
    uint64_t start;
    size_t len;
} ls_window;

int ls_window_init(ls_window *w, ls_io *io, int fd, uint64_t file_size);
void ls_window_free(ls_window *w);
/* Makes [off, off + n) readable and returns a pointer to it, or NULL with *rc set
 * (-errno on a read error; 0 when the file ends before off + n). */
const uint8_t *ls_window_get(ls_window *w, uint64_t off, size_t n, int *rc);

/* ---- scanning (ls_scan.c) ---- */
typedef enum ls_scan_end {
    LS_SCAN_CLEAN = 0,  /* a zeroed header (or end of file) after the last frame, nothing valid beyond */
    LS_SCAN_SEALED = 1, /* a seal frame ends the segment */
    LS_SCAN_TORN = 2,   /* a damaged frame with nothing valid after it */
    LS_SCAN_CORRUPT = 3 /* damage followed by a valid frame, or an inconsistent frame */
} ls_scan_end;

typedef struct ls_scan_result {
    ls_scan_end end;
    int header_state;  /* 0 valid, 1 all zeros (never written), -1 damaged */
    ls_segment_header header;
    uint64_t data_end; /* offset just past the last valid frame (where a seal/next frame goes) */
    uint64_t bad_offset;
    uint64_t file_size;
    uint64_t first_lsn, last_lsn; /* last_lsn = first_lsn - 1 when no record */
    uint64_t frames, records;
    char detail[160];
} ls_scan_result;

/* Called for each valid frame with its header and stored body. Return nonzero to stop. */
typedef int (*ls_frame_visitor)(void *ctx, uint64_t offset, const ls_frame_header *h, const uint8_t *body);

/*
 * Reads the segment in `fd` from its header to its end, verifying every frame.
 * `expected_seq` is the sequence its name carries. Returns 0 with *res filled, or a
 * negative ls_status for an I/O error (*err set).
 */
int ls_segment_scan(ls_io *io, int fd, const char *path, uint64_t expected_seq, ls_frame_visitor visit,
                    void *ctx, ls_scan_result *res, ls_error *err);

/* ---- compression (ls_compress.c) ---- */
/* Compresses src into a new op payload; returns the compressed size or 0 if it did not shrink. */
size_t ls_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, int level, int *zerr);
size_t ls_compress_bound(size_t len);
/* Decompresses exactly raw_len bytes; returns 0 or LS_E_COMPRESS. */
int ls_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len);

/* ---- recovery (ls_recovery.c) ---- */
int ls_recover(ls_log *log, ls_recovery_info *info, ls_error *err);

/* ---- writer (ls_writer.c) ---- */
int ls_writer_start(ls_log *log, ls_error *err);
void ls_writer_stop(ls_log *log);
void ls_fail(ls_log *log, int code, int sys_errno, const char *path, const char *what);

/* ---- segment list (ls_log.c) ---- */
int ls_log_add_segment(ls_log *log, const ls_segment *s);
/* Makes room for one more segment so a later ls_log_add_segment cannot fail. */
int ls_log_reserve_segment(ls_log *log);

#endif /* LS_INTERNAL_H */
