/*
 * The log: an append-only sequence of records in segment files, written by one
 * group-commit writer thread. This is the C core's public face; the Swift
 * module wraps it (Sources/LogStore/CommitLog.swift).
 *
 * Durability: an append's completion callback reports status 0 only after the
 * bytes of its frame and an fdatasync (or DSYNC write) covering them completed.
 * Recovery (ls_log_open) yields a prefix of the commit order; an append's
 * records are in one frame and survive whole or not at all.
 *
 * Thread safety: ls_log_append, ls_log_durable_lsn, ls_log_stats and readers may
 * be used from any thread concurrently. ls_log_close must be the last call.
 */
#ifndef LS_LOG_H
#define LS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "ls_format.h"
#include "ls_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (negative; 0 is success). The errno, if any, is in ls_error.sys_errno. */
typedef enum ls_status {
    LS_OK = 0,
    LS_E_INVALID = -1,         /* bad argument or configuration */
    LS_E_IO = -2,              /* a system call failed (sys_errno says which error) */
    LS_E_NOSPACE = -3,         /* ENOSPC before anything was written: the append was NOT written */
    LS_E_CORRUPT = -4,         /* damaged data that is not a torn tail (path and offset set) */
    LS_E_UNKNOWN_OUTCOME = -5, /* the write or fsync of this append failed: it may or may not be on
                                  disk; the log is failed and must be reopened */
    LS_E_FAILED = -6,          /* the log failed earlier (fail-stop) and accepts no appends */
    LS_E_TOO_LARGE = -7,       /* a record or append exceeds a size limit */
    LS_E_CLOSED = -8,          /* the log is closing or closed */
    LS_E_NOMEM = -9,
    LS_E_COMPRESS = -10,       /* zstd failed to compress or decompress */
    LS_E_BUSY = -11,           /* another open log (in this or another process) holds the directory */
} ls_status;

#define LS_ERROR_PATH_MAX 512
#define LS_ERROR_MESSAGE_MAX 256

/* What went wrong, with enough context to act on it. */
typedef struct ls_error {
    int code;        /* an ls_status */
    int sys_errno;   /* errno of the failed system call, or 0 */
    uint64_t offset; /* byte offset in `path` where the problem is, when known */
    int has_offset;
    char path[LS_ERROR_PATH_MAX];
    char message[LS_ERROR_MESSAGE_MAX];
} ls_error;

/*
 * Called on the writer thread once per append, in LSN order, after the append is
 * durable (status 0) or has failed (negative ls_status; sys_errno set for I/O
 * errors). `user` is the pointer given to ls_log_append. Must not block and must
 * not call ls_log_close.
 */
typedef void (*ls_completion_fn)(void *ctx, void *user, uint64_t first_lsn, uint32_t record_count,
                                 int status, int sys_errno);

typedef struct ls_log_config {
    const char *dir;             /* directory holding the segment files; created if missing */
    uint64_t segment_size;       /* bytes per segment file (default 64 MiB, 64 KiB..1 GiB, multiple of 8) */
    uint32_t commit_max_ops;     /* at most this many appends per group commit (default 1024) */
    uint64_t commit_max_bytes;   /* at most this many body bytes per group commit (default 4 MiB;
                                    a larger single append is written alone) */
    uint32_t compress_min_bytes; /* appends whose encoded records reach this size are zstd-compressed
                                    on the caller's thread into one container record (0 = never) */
    int compress_level;          /* zstd level (default 1) */
    uint32_t linger_max_us;      /* longest the writer waits for expected appends before a write
                                    (default 200 us; 0 = never wait) */
    uint32_t spin_max_us;        /* how long the writer polls for appends before it sleeps (default
                                    50 us; 0 = always sleep at once) */
    int no_prewrite;             /* 1: only fallocate new segments instead of also writing zeros;
                                    overwriting written blocks makes each fdatasync cheaper */
    ls_backend backend;
    ls_uring_mode uring_mode;
    ls_io *io;                   /* optional I/O seam (not owned); NULL = real I/O per `backend` */
    ls_completion_fn on_complete;
    void *on_complete_ctx;
} ls_log_config;

/* Fills a configuration with the defaults above (dir and on_complete must still be set). */
void ls_log_config_init(ls_log_config *cfg);

typedef struct ls_log ls_log;

/* What recovery found and did at open. */
typedef struct ls_recovery_info {
    uint64_t segments;        /* segment files holding data */
    uint64_t frames;          /* valid frames */
    uint64_t records;         /* valid records */
    uint64_t last_lsn;        /* 0 when the log is empty */
    int torn_tail;            /* 1 if a torn tail was cut off the newest segment */
    uint64_t torn_offset;     /* where it was cut */
    uint64_t torn_bytes;      /* bytes cut off the file (the torn frame and the preallocated tail) */
    uint64_t removed_empty;   /* prepared-but-unused segment files removed */
} ls_recovery_info;

/*
 * Opens (creating if needed) the log in cfg->dir: fsyncs what exists, verifies
 * every frame, cuts a torn tail off the newest segment and seals it, and starts
 * a new segment for this process's writes. Fails with LS_E_CORRUPT (naming
 * segment and offset) on damage that is not a torn tail. Returns 0 and sets
 * *out, or an ls_status with *err filled.
 */
int ls_log_open(const ls_log_config *cfg, ls_log **out, ls_recovery_info *info, ls_error *err);

/*
 * Queues one append of `count` records (one atomic unit, one LSN per record).
 * Encoding, record CRCs and compression happen here, on the calling thread.
 * On 0 the completion callback will be called exactly once with `user`; on a
 * negative return it will not be (and *err says why: invalid record, too large,
 * log failed or closed).
 */
int ls_log_append(ls_log *log, const ls_record *records, size_t count, void *user, ls_error *err);

/* Highest LSN known durable (all smaller LSNs are durable too). */
uint64_t ls_log_durable_lsn(const ls_log *log);

/* 1 once the log failed (fail-stop); *err (if not NULL) gets the first failure. */
int ls_log_failure(ls_log *log, ls_error *err);

typedef struct ls_log_stats {
    uint64_t appends;          /* appends completed successfully */
    uint64_t records;          /* records in them */
    uint64_t batches;          /* group commits (each one durable write) */
    uint64_t frames;
    uint64_t bytes_written;    /* frame bytes, padding included */
    uint64_t syncs;            /* fdatasync calls or DSYNC writes on the data path */
    uint64_t max_batch;        /* largest number of appends in one group commit */
    uint64_t rotations;        /* segments sealed */
    uint64_t rotation_waits;   /* rotations that had to wait for the next segment to be prepared */
    uint64_t durable_lsn;
    uint64_t linger_waits;     /* batches for which the writer waited for expected appends */
    uint64_t sync_ns;          /* total time inside durable writes (write + fdatasync) */
    uint64_t gather_ns;        /* total time from the end of one batch's completions to the
                                  next batch's write, while appends were queued or expected */
    ls_backend backend;
} ls_log_stats;

void ls_log_stats_get(ls_log *log, ls_log_stats *out);

/*
 * Stops accepting appends, completes every queued append (durably, unless the
 * log failed), seals nothing (the next open does), stops the threads, closes
 * the files and frees the log. If final_stats is not NULL it receives the
 * counters after the last append completed. Returns 0 or the first error seen
 * while closing.
 */
int ls_log_close(ls_log *log, ls_log_stats *final_stats, ls_error *err);

/* ---- reading ---- */

typedef struct ls_reader ls_reader;

/* One record as read back; pointers stay valid until the next ls_reader_next. */
typedef struct ls_read_record {
    uint64_t lsn;
    uint8_t type;
    uint8_t flags;
    uint32_t key_len;
    uint32_t value_len;
    const uint8_t *key;
    const uint8_t *value;
} ls_read_record;

/* A reader over the durable records with LSN >= from_lsn, up to the durable LSN at
 * the time of this call. Every frame and record CRC is verified as it is read. */
int ls_reader_open(ls_log *log, uint64_t from_lsn, ls_reader **out, ls_error *err);
/* 1 and *rec set; 0 at the end; negative ls_status (e.g. LS_E_CORRUPT) with *err. */
int ls_reader_next(ls_reader *r, ls_read_record *rec, ls_error *err);
void ls_reader_close(ls_reader *r);

/* Short English name of a status, e.g. "corrupt". */
const char *ls_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* LS_LOG_H */
