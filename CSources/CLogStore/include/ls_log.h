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
    LS_E_NOT_FOUND = -12,      /* the file asked for does not exist (ls_blob_read; sys_errno ENOENT), or
                                  a read-only open found no store at the directory */
    LS_E_READ_ONLY = -13,      /* the log was opened read-only (ls_log_config.read_only): nothing is written */
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

/* How one append ended, and where its records are. */
typedef struct ls_append_result {
    uint64_t first_lsn;     /* LSN of its first record (0 unless status is 0) */
    uint32_t record_count;
    int status;             /* 0 (durable) or a negative ls_status */
    int sys_errno;          /* errno of the failed system call, or 0 */
    uint64_t segment_seq;   /* segment holding the append (status 0 only) */
    uint64_t offset;        /* file offset of its first record, or of its zstd container record */
    int in_container;       /* 1: the append is one zstd container record at `offset` */
    /* status < 0: what failed, in full (the step, the file, the errno), valid only during the
     * callback; for LS_E_FAILED the failure that stopped the log. NULL when durable, or when
     * no copy could be made for a batch handed to the completer thread (out of memory). */
    const ls_error *error;
} ls_append_result;

/*
 * Called on the writer thread once per append, in LSN order, after the append is
 * durable (status 0) or has failed (negative ls_status; sys_errno set for I/O
 * errors; `error` says what failed). `user` is the pointer given to ls_log_append.
 * Must not block for long and must not call ls_log_append or ls_log_close. It may
 * wake the append's caller at once: the callers of a batch then come back while the
 * later completions of the batch run.
 * Record i of a plain append starts at offset + the encoded sizes of records 0..i-1
 * (records are packed back to back).
 */
typedef void (*ls_completion_fn)(void *ctx, void *user, const ls_append_result *result);

/* What ls_log_open does about damaged data (docs/FORMAT.md §7.5). */
typedef enum ls_recovery_mode {
    LS_RECOVERY_STRICT = 0,        /* cut a torn tail of the newest segment; any other damage refuses
                                      to open (LS_E_CORRUPT naming file and offset) */
    LS_RECOVERY_POINT_IN_TIME = 1, /* cut the log at the first damage in LSN order: that segment is
                                      truncated there and sealed, later segments are recorded obsolete
                                      and renamed to <name>.dropped */
    LS_RECOVERY_SALVAGE = 2,       /* keep every valid frame: damaged ranges are skipped and recorded
                                      in the manifest, so later strict opens and readers skip them too */
} ls_recovery_mode;

/* Whether the writer completes a batch on the completer thread while it writes the next one. */
typedef enum ls_pipelining {
    LS_PIPELINE_NEVER = 0,  /* the writer completes every batch itself before the next write */
    LS_PIPELINE_AUTO = 1,   /* when the appenders take longer to come back than a sync takes */
    LS_PIPELINE_ALWAYS = 2, /* every written batch goes to the completer thread (tests, benchmarks) */
} ls_pipelining;

/* ls_log_config.sealed_cache_bytes: never release the page cache of sealed segments. */
#define LS_KEEP_SEALED_CACHE UINT64_MAX
/* Its default: four segments of the default size. */
#define LS_DEFAULT_SEALED_CACHE_BYTES (256ull << 20)

typedef struct ls_log_config {
    const char *dir;             /* the store root (LOCK, manifest/, segments/, snapshots/, markers/;
                                    docs/FORMAT.md §1); created if missing */
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
                                    200 us; 0 = always sleep at once). Polling stops while it keeps
                                    finding nothing; a gathering writer polls at most 1/4 linger */
    int no_prewrite;             /* 1: only fallocate new segments instead of also writing zeros;
                                    overwriting written blocks makes each fdatasync cheaper. With 0,
                                    a segment is still only preallocated while commits are large
                                    (docs/FORMAT.md §6.1) */
    int no_direct_zero_fill;     /* 1: zero-fill through the page cache even where the file system
                                    takes direct I/O (O_DIRECT, the default): a lower p99, the
                                    zeros' burst at each segment's fsync in the p999 (FORMAT.md
                                    §10 note 9) */
    int no_direct_writes;        /* 1: write batches and seals through the page cache even where the
                                    file system takes direct I/O. By default (0) each durable write
                                    goes to the active segment through a second descriptor opened
                                    with O_DIRECT, from the start of the page it extends
                                    (docs/FORMAT.md §6.2): no copy into the page cache and a cheaper
                                    sync, but the first read of fresh data comes from the disk. Only
                                    where segment_size is a multiple of the page size */
    uint64_t sealed_cache_bytes; /* page cache left to the sealed segments this log wrote: past it,
                                    the oldest one's cached pages are released (POSIX_FADV_DONTNEED,
                                    docs/FORMAT.md §6.4). LS_KEEP_SEALED_CACHE never releases;
                                    default LS_DEFAULT_SEALED_CACHE_BYTES */
    ls_backend backend;
    ls_uring_mode uring_mode;
    ls_io *io;                   /* optional I/O seam (not owned); NULL = real I/O per `backend` */
    ls_completion_fn on_complete;
    void *on_complete_ctx;
    ls_recovery_mode recovery_mode; /* what open does about damage (default LS_RECOVERY_STRICT) */
    uint64_t manifest_max_bytes; /* rewrite manifest/manifest.log once it passes this size (default
                                    1 MiB; also at least twice its size after the last rewrite) */
    ls_pipelining pipelining;    /* default LS_PIPELINE_NEVER (measured: neither mode pays on a
                                    2-vCPU VM; see LogConfiguration.Pipelining) */
    int read_only;               /* 1: open an existing store without writing anything (docs/FORMAT.md
                                    §7.7): LOCK is taken as a writer takes it but nothing is written
                                    into it; no marker, no manifest event, nothing cut, sealed,
                                    created or removed; appends and file writes fail with
                                    LS_E_READ_ONLY. Strict recovery only (the other modes repair the
                                    store on disk); a torn tail is reported and ignored, not cut */
} ls_log_config;

/* Fills a configuration with the defaults above (dir and on_complete must still be set). */
void ls_log_config_init(ls_log_config *cfg);

typedef struct ls_log ls_log;

/* How many unclean writer ids ls_recovery_info lists (it counts them all). */
#define LS_RECOVERY_MAX_WRITER_IDS 4

/* What recovery found and did at open. */
typedef struct ls_recovery_info {
    uint64_t segments;        /* segment files holding data */
    uint64_t frames;          /* valid frames */
    uint64_t records;         /* valid records */
    uint64_t last_lsn;        /* 0 when the log is empty */
    int torn_tail;            /* 1 if a torn tail was cut off the newest segment */
    uint64_t torn_offset;     /* where it was cut */
    uint64_t torn_bytes;      /* bytes cut off the file (the torn frame and the preallocated tail) */
    uint64_t removed_empty;   /* prepared-but-unused segment files removed (listed or not) */
    uint64_t removed_obsolete; /* files of segments the manifest says are obsolete, deleted (or renamed to
                                  .dropped when they were dropped by recovery) at this open */

    /* Writers that did not close cleanly (their marker was still in markers/). */
    uint64_t unclean_writers;          /* how many */
    uint64_t unclean_writer_ids[LS_RECOVERY_MAX_WRITER_IDS]; /* the first of them, oldest start first */
    uint64_t last_unclean_writer_id;   /* the most recently started of them (0 if none) */

    /* What a non-strict recovery mode dropped at this open (all 0 in strict mode). */
    uint64_t dropped_ranges;      /* damaged or cut-off byte ranges (a whole dropped segment is one) */
    uint64_t dropped_bytes;       /* bytes in them, preallocated tails included */
    uint64_t dropped_frames;      /* valid frames dropped (point-in-time: those after the cut; salvage
                                     keeps every valid frame, so 0) */
    uint64_t first_dropped_lsn;   /* LSN the first dropped or damaged frame held or should have held
                                     (the last LSN kept before it + 1); 0 if nothing was dropped */
    int has_damage;               /* 1 if damage was found (the two fields below are then set) */
    uint64_t damage_offset;       /* offset of the first damage in damage_path */
    char damage_path[LS_ERROR_PATH_MAX]; /* file of the first damage */

    /* The manifest (manifest/manifest.log). */
    uint64_t manifest_records;    /* valid records replayed */
    uint64_t manifest_bytes;      /* their bytes (the file size after a torn tail was cut) */
    uint64_t manifest_torn_bytes; /* bytes of a torn last record cut off the file */
    int manifest_rewritten;       /* 1 if the manifest was rewritten during this open */
} ls_recovery_info;

/* One segment file of an open log (ls_log_segment_list). */
typedef struct ls_segment_info {
    uint64_t seq;
    uint64_t writer_id;
    uint64_t base_lsn;
    uint64_t last_lsn;  /* base_lsn - 1 while it holds no record */
    uint64_t end;       /* bytes used: offset of its seal, or where the next frame goes */
    int sealed;
    char path[LS_ERROR_PATH_MAX];
} ls_segment_info;

/*
 * Opens (creating if needed) the store rooted at cfg->dir: takes LOCK (LS_E_BUSY
 * naming the holder otherwise), replays the manifest, fsyncs what exists, verifies
 * every listed segment's frames, cuts a torn tail off the newest segment and seals
 * it, creates this writer's marker and starts a new segment for this process's
 * writes. In LS_RECOVERY_STRICT mode fails with LS_E_CORRUPT (naming file and
 * offset) on damage that is not a torn tail; the other modes drop or skip it and
 * say so in *info. Returns 0 and sets *out, or an ls_status with *err filled.
 *
 * With cfg->read_only it writes nothing: the store must exist (LS_E_NOT_FOUND otherwise),
 * LOCK is taken (LS_E_BUSY while a writer or another reader holds it) and held until close,
 * so no writer changes the files under it; a torn tail is left in place, no thread starts.
 */
int ls_log_open(const ls_log_config *cfg, ls_log **out, ls_recovery_info *info, ls_error *err);

/*
 * Queues one append of `count` records (one atomic unit, one LSN per record).
 * Encoding, record CRCs and compression happen here, on the calling thread.
 * On 0 the completion callback will be called exactly once with `user`; on a
 * negative return it will not be (and *err says why: invalid record, too large,
 * log failed or closed, or opened read-only: LS_E_READ_ONLY).
 */
int ls_log_append(ls_log *log, const ls_record *records, size_t count, void *user, ls_error *err);

/* An append encoded by ls_log_encode and not yet queued (opaque). */
typedef struct ls_op ls_encoded_append;

/*
 * The first half of ls_log_append: validates and encodes `count` records (record CRCs, and zstd
 * compression from compress_min_bytes) on the calling thread, taking no lock of the log. A
 * caller that queues appends in an order it decides under a lock of its own (the key-value
 * store validates compare-and-swap conditions so) encodes outside that lock, and only queues
 * under it. Returns 0 and sets *out, or a negative status as ls_log_append (nothing to free).
 */
int ls_log_encode(ls_log *log, const ls_record *records, size_t count, ls_encoded_append **out, ls_error *err);

/*
 * The second half: queues an append encoded by ls_log_encode on this log. Takes ownership of
 * `append` whatever it returns (a refused one is freed). On 0 the completion callback will be
 * called exactly once with `user`; otherwise *err says why (log failed or closed).
 */
int ls_log_submit(ls_log *log, ls_encoded_append *append, void *user, ls_error *err);

/* Frees an encoded append that will not be submitted. */
void ls_encoded_append_free(ls_encoded_append *append);

/* Highest LSN known durable (all smaller LSNs are durable too). */
uint64_t ls_log_durable_lsn(const ls_log *log);

/* 1 once the log failed (fail-stop); *err (if not NULL) gets the first failure. */
int ls_log_failure(ls_log *log, ls_error *err);

/* This process's writer id (new at every open; in the segment names it writes). */
uint64_t ls_log_writer_id(const ls_log *log);

/*
 * Copies up to `cap` segments holding data (oldest first; the active one once it holds data)
 * into out and returns how many there are in total (call with cap 0 to size the array).
 */
size_t ls_log_segment_list(ls_log *log, ls_segment_info *out, size_t cap);

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
    uint64_t pipelined_batches; /* batches completed on the completer thread while the writer
                                   went on to the next batch */
    uint64_t idle_spins;       /* times the idle writer polled for the next append before sleeping */
    uint64_t zero_fill_skips;  /* segments prepared without zero-filling because commits were large
                                  (docs/FORMAT.md §6.1; never with no_prewrite, which skips them all) */
    uint64_t direct_zero_fills; /* segments zero-filled with direct I/O (O_DIRECT), past the page
                                   cache; the others were zero-filled through it, because the file
                                   system refused direct I/O or no_direct_zero_fill is set
                                   (docs/FORMAT.md §6.1) */
    uint64_t direct_writes;    /* durable writes (batches and seals) made with direct I/O (O_DIRECT);
                                  the others went through the page cache (no_direct_writes, or the
                                  file system refused direct I/O; docs/FORMAT.md §6.2) */
    uint64_t cache_releases;   /* sealed segments whose cached pages were released (sealed_cache_bytes) */
    uint64_t cache_release_failures; /* releases that failed (the file could not be opened or advised);
                                        advice only: the data is untouched, the pages stay cached */
    ls_backend backend;
} ls_log_stats;

void ls_log_stats_get(ls_log *log, ls_log_stats *out);

/*
 * Stops accepting appends, completes every queued append (durably, unless the
 * log failed), seals nothing (the next open does), stops the threads, closes
 * the files and frees the log. If final_stats is not NULL it receives the
 * counters after the last append completed. A clean close (the log did not fail)
 * removes this writer's marker, so the next open does not report it as unclean.
 * Returns 0 or the first error seen while closing.
 */
int ls_log_close(ls_log *log, ls_log_stats *final_stats, ls_error *err);

/* ---- reading ---- */

/* Marks an ls_location that is a plain record, not an item of a zstd container. */
#define LS_LOCATION_PLAIN UINT32_MAX

/* Where one record is: its segment, the file offset of the record (or of the zstd
 * container record holding it) and its index inside that container. */
typedef struct ls_location {
    uint64_t segment_seq;
    uint64_t offset;
    uint32_t item; /* LS_LOCATION_PLAIN, or the record's index inside the container */
} ls_location;

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
    ls_location location; /* where the record is (for ls_log_read_at) */
} ls_read_record;

/* A reader over the durable records with LSN >= from_lsn, up to the durable LSN at
 * the time of this call. Every frame and record CRC is verified as it is read. */
int ls_reader_open(ls_log *log, uint64_t from_lsn, ls_reader **out, ls_error *err);
/* 1 and *rec set; 0 at the end; negative ls_status (e.g. LS_E_CORRUPT) with *err. */
int ls_reader_next(ls_reader *r, ls_read_record *rec, ls_error *err);
/*
 * Up to `cap` (>= 1) next records into recs[0..n): returns n >= 1, 0 at the end, or a negative
 * ls_status with *err (then no record of this call is returned). Their pointers stay valid
 * until the next call on the reader. A batch may hold fewer than `cap` records before the end:
 * it stops where going on would move records it holds (the end of a segment, a second zstd
 * container, a frame of a segment that could not be mapped). Checks as ls_reader_next.
 */
int ls_reader_next_batch(ls_reader *r, ls_read_record *recs, size_t cap, ls_error *err);
void ls_reader_close(ls_reader *r);

/*
 * Point read: verifies the record at `loc` (its own CRC32C; a container's too) and calls
 * `fn(ctx, rec)` with it; rec's key and value are valid only during the call. The
 * location must come from a completion or a reader of this log (a durable record).
 * Segments are memory-mapped on first use, so a read costs no system call. Returns 0, or
 * LS_E_CORRUPT naming segment and offset when the bytes there fail their checksum,
 * LS_E_INVALID for a location outside every segment, LS_E_IO if mapping failed.
 * Thread-safe; many reads run in parallel.
 */
typedef void (*ls_read_fn)(void *ctx, const ls_read_record *rec);
int ls_log_read_at(ls_log *log, const ls_location *loc, ls_read_fn fn, void *ctx, ls_error *err);

/* Hint: the cache line at p will be read soon (the key index prefetches hash slots with it). */
static inline void ls_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Hint: this thread is spinning on a lock another CPU holds (x86 PAUSE, arm64 YIELD). */
static inline void ls_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Short English name of a status, e.g. "corrupt". */
const char *ls_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif /* LS_LOG_H */
