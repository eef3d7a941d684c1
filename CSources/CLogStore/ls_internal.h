/*
 * Internal structures shared by the C core's source files. Not part of the
 * public API (Swift does not see this header).
 */
#ifndef LS_INTERNAL_H
#define LS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "ls_log.h"
#include "ls_spin_policy.h"

#define LS_PATH_MAX 512

/* The page size. Durable writes end on a page boundary (write_batch) and direct zero-fills align
 * to it (ls_segment.c): it is a multiple of every file system's direct-I/O alignment. */
static inline size_t ls_page_size(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}
/* Bytes zero-filled per write while preparing a segment through the page cache: large enough
 * to stream (the kernel writes them back at the fsync). */
#define LS_PREWRITE_CHUNK (1u << 20)
/* Bytes zero-filled per direct write (O_DIRECT): each reaches the disk before the next, and a
 * durable write of the writer queued behind one waits for at most this much. Smaller pieces cost
 * the preparer more requests; larger ones lengthen that wait (docs/FORMAT.md §10 note 9). A
 * multiple of every page size. */
#define LS_DIRECT_ZERO_CHUNK (256u << 10)
/* Bytes every segment keeps free for its seal frame. */
#define LS_SEAL_FRAME_SIZE (LS_FRAME_HEADER_SIZE + LS_SEAL_BODY_SIZE)

/* Largest stored body one frame can have in a segment of this size: an otherwise empty segment
 * (header, this frame, the seal). Segment sizes are multiples of 8, so the frame's padding never
 * needs more than this leaves. ls_log_append bounds one append by it. */
static inline uint64_t ls_max_frame_body(uint64_t segment_size) {
    return segment_size - LS_SEGMENT_HEADER_SIZE - LS_SEAL_FRAME_SIZE - LS_FRAME_HEADER_SIZE;
}
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

/* A read-only mapping of one segment file, for point reads (ls_pointread.c). */
typedef struct ls_mapping {
    uint64_t seq;
    const uint8_t *addr;
    size_t len;
} ls_mapping;

/* A segment file made ready ahead of rotation by the preparer thread. */
typedef struct ls_prepared {
    int fd;
    uint64_t seq;
    int zero_filled; /* every block written with zeros (else only preallocated) */
    int direct_fd;   /* the same file opened O_WRONLY|O_DIRECT for the writer's direct writes, or -1 */
    char path[LS_PATH_MAX];
} ls_prepared;

typedef enum ls_prep_state { LS_PREP_IDLE, LS_PREP_REQUESTED, LS_PREP_READY, LS_PREP_FAILED } ls_prep_state;

/* ---- the manifest (ls_manifest.c; format in docs/FORMAT.md §9 and the comment there) ---- */

/* Record types. Numbers are on disk: never reuse one. */
typedef enum ls_mf_type {
    LS_MF_HEADER = 1,           /* version, next sequence: first record of every manifest file */
    LS_MF_WRITER_START = 2,     /* writer id, start time (Unix ns), pid */
    LS_MF_SEGMENT_OPEN = 3,     /* seq, writer id: the file is prepared and durable, data may follow */
    LS_MF_SEGMENT_SEAL = 4,     /* seq, last LSN, end offset (the seal frame's offset) */
    LS_MF_SEGMENT_OBSOLETE = 5, /* seq: the file may be deleted; it is no longer part of the log */
    LS_MF_RECOVERY_DROP = 6,    /* seq, offset, length, first LSN: point-in-time recovery cut this range */
    LS_MF_RECOVERY_SKIP = 7,    /* seq, offset, length, first LSN: salvage skips this damaged range */
    LS_MF_CHECKPOINT = 8,       /* reserved for index checkpoints: any payload, kept but not interpreted */
} ls_mf_type;

/* One manifest event; the fields used depend on the type (see ls_mf_type). */
typedef struct ls_mf_event {
    uint16_t type;
    uint64_t a, b, c, d;
} ls_mf_event;

/* What the manifest knows about one segment. */
typedef struct ls_mf_segment {
    uint64_t seq, writer_id;
    uint64_t last_lsn, end; /* from its last SEGMENT_SEAL */
    int sealed, obsolete;
    int dropped; /* a RECOVERY_DROP covered the whole file: rename to .dropped, never delete */
    int removed; /* obsolete and its file is gone (not written out by a rewrite) */
} ls_mf_segment;

/* A damaged byte range of a segment that readers and recovery skip (salvage). */
typedef struct ls_skip_range {
    uint64_t seq, offset, length, first_lsn;
} ls_skip_range;

typedef struct ls_manifest {
    pthread_mutex_t mu; /* guards everything below once the log runs */
    ls_io *io;
    char dir[LS_PATH_MAX];
    char path[LS_PATH_MAX];
    char tmp_path[LS_PATH_MAX + 8];
    int fd;
    uint64_t size;         /* bytes of valid records: where the next one goes */
    uint64_t max_bytes;    /* rewrite bound (ls_log_config.manifest_max_bytes) */
    uint64_t rewrite_size; /* size right after the last rewrite (or open) */
    int failed;            /* a write or fsync failed: nothing more is appended (sticky) */
    int read_only;         /* a read-only open's: opened O_RDONLY, never written, cut or fsynced */
    ls_error failure;
    uint64_t writer_id, start_time_ns, pid; /* the last WRITER_START */
    uint64_t next_seq;     /* larger than every segment sequence ever recorded */
    ls_mf_segment *segs;   /* sorted by seq */
    size_t nsegs, cap_segs;
    ls_skip_range *skips;  /* in the order recorded */
    size_t nskips, cap_skips;
    uint64_t *writers;     /* writer ids of WRITER_START records, in order (for reports) */
    size_t nwriters, cap_writers;
    uint8_t *checkpoint;   /* payload of the last CHECKPOINT record, kept across rewrites */
    size_t checkpoint_len;
    int have_checkpoint;
    uint64_t replayed_records, replayed_bytes, torn_bytes, rewrites;
} ls_manifest;

/* Sets up an unopened manifest (fd -1); call ls_manifest_free in any case. */
int ls_manifest_init(ls_manifest *m, ls_io *io, const char *root, uint64_t max_bytes);
void ls_manifest_free(ls_manifest *m);
/* 1 if manifest/manifest.log exists, 0 if not, or a negative ls_status (*err set). */
int ls_manifest_exists(ls_manifest *m, ls_error *err);
/*
 * Opens (creating it when `create`) and replays manifest/manifest.log: removes a leftover
 * .tmp of an interrupted rewrite, verifies every record, cuts a torn last record (file
 * truncated and fsynced) and rebuilds the state. Damage followed by a valid record is
 * LS_E_CORRUPT naming the file and the offset. Not thread-safe (open only).
 * With m->read_only it changes nothing: no removal, no fsync, a torn last record is left in
 * the file (and counted in torn_bytes), a missing file is LS_E_NOT_FOUND, no rewrite.
 */
int ls_manifest_open(ls_manifest *m, int create, ls_error *err);
/* Appends `n` events in one write, fsyncs them (through the ls_io), applies them to the
 * state, then rewrites the file if it passed its bound. Any failure is sticky. */
int ls_manifest_append(ls_manifest *m, const ls_mf_event *ev, size_t n, ls_error *err);
/* Rewrites the file as the current state: tmp, fsync, rename, fsync dir. */
int ls_manifest_rewrite(ls_manifest *m, ls_error *err);
/* The manifest's entry for `seq`, or NULL (mu held or single-threaded). */
ls_mf_segment *ls_manifest_segment(ls_manifest *m, uint64_t seq);
/* Marks an obsolete segment's file as gone, so a rewrite forgets it. */
void ls_manifest_mark_removed(ls_manifest *m, uint64_t seq);
/* 1 and *err = the first failure if the manifest failed. */
int ls_manifest_failed(ls_manifest *m, ls_error *err);

/* Hooks of ls_manifest_replay_readonly (any may be NULL). */
typedef struct ls_mf_readonly_hooks {
    void *ctx;
    /* Each valid record, in file order, with its payload (also one that failed to apply). */
    void (*on_record)(void *ctx, uint64_t offset, uint16_t type, uint32_t len, const uint8_t *payload);
    /* Damage (torn = 1: a damaged end with nothing valid after it, which open would cut). */
    void (*on_problem)(void *ctx, uint64_t offset, int torn, const char *what);
} ls_mf_readonly_hooks;
/*
 * Replays manifest/manifest.log read-only (inspection): rebuilds the state like
 * ls_manifest_open, but never writes, cuts, fsyncs or removes anything, and reports every
 * damaged or inconsistent record through the hooks instead of stopping at the first. Returns 0,
 * LS_E_CORRUPT if the file does not exist, or LS_E_IO / LS_E_NOMEM (*err set).
 */
int ls_manifest_replay_readonly(ls_manifest *m, const ls_mf_readonly_hooks *hooks, ls_error *err);

/* ---- store layout, LOCK and writer markers (ls_layout.c) ---- */
#define LS_LOCK_NAME "LOCK"
#define LS_MANIFEST_DIR "manifest"
#define LS_SEGMENTS_DIR "segments"
#define LS_SNAPSHOTS_DIR "snapshots"
#define LS_MARKERS_DIR "markers"
#define LS_MF_FILE "manifest.log" /* in LS_MANIFEST_DIR */
#define LS_DROPPED_SUFFIX ".dropped"

/* Sets log->seg_dir and log->marker_dir from log->dir. */
int ls_layout_paths(ls_log *log, ls_error *err);
/* Creates the root and its subdirectories if missing, fsyncing the root's parent and the root. */
int ls_layout_create(ls_log *log, ls_error *err);
/* A read-only open's check that a store is there (the root, segments/ and the manifest), changing
 * nothing: LS_E_NOT_FOUND naming what is missing, LS_E_INVALID if the root is not a directory. */
int ls_layout_require(ls_log *log, ls_error *err);
/* Takes LOCK (flock LOCK_EX|LOCK_NB) and writes this writer's identity into it; LS_E_BUSY
 * naming the holder otherwise. */
int ls_layout_lock(ls_log *log, ls_error *err);
/* A reader's lock (a read-only open, an inspection): LOCK opened read-only and flock'ed as a
 * writer does, writing nothing; *fd = -1 (and LS_OK) when the store has no LOCK file. LS_E_BUSY
 * naming the holder while another log or reader holds it. */
int ls_layout_lock_reader(ls_io *io, const char *root, int *fd, ls_error *err);
/* Writer ids of markers/writer-<id>.marker files other than this writer's (malloc'd). */
int ls_markers_list_others(ls_log *log, uint64_t **ids, size_t *n, ls_error *err);
/* Removes those markers and fsyncs markers/. */
int ls_markers_remove(ls_log *log, const uint64_t *ids, size_t n, ls_error *err);
/* Creates this writer's marker (pid, start time), fsyncs it and markers/. */
int ls_marker_create(ls_log *log, ls_error *err);
/* Removes this writer's marker at a clean close and fsyncs markers/. */
int ls_marker_remove(ls_log *log, ls_error *err);

/* A seal of the previous active segment that the preparer records in the manifest. */
typedef struct ls_pending_seal {
    int pending;
    uint64_t seq, last_lsn, end;
} ls_pending_seal;

/* The sealed segments this log wrote whose cached pages it has not released yet, oldest first
 * (ls_sealed_cache.c). */
typedef struct ls_sealed_cache {
    uint64_t *seqs, *bytes; /* a ring of `cap` entries; `count` from `head` */
    size_t head, count, cap;
    uint64_t total; /* the sum of `bytes` */
} ls_sealed_cache;

/* Notes a sealed segment of `bytes` bytes and releases the cached pages of the oldest ones while
 * the noted bytes exceed cfg.sealed_cache_bytes. Preparer thread only (or close, once it stopped). */
void ls_sealed_cache_note(ls_log *log, uint64_t seq, uint64_t bytes);
void ls_sealed_cache_free(ls_sealed_cache *c);

/* Where a batch's frame body went: its ops' records follow one another from body_off on. */
typedef struct ls_batch_place {
    uint64_t first_lsn, seq, body_off;
} ls_batch_place;

/* A written batch waiting for the completer thread (ls_completer.c). */
typedef struct ls_done_batch {
    ls_op *ops;
    ls_batch_place at;
    int status, sys_errno;
    ls_error *error; /* a failed batch's error (heap copy, freed once completed), or NULL */
} ls_done_batch;

/* Written batches the writer may hand to the completer before it waits for room. */
#define LS_DONE_RING 4

struct ls_log {
    ls_log_config cfg;
    char dir[LS_PATH_MAX];
    ls_io *io;
    int owns_io;
    uint64_t writer_id;
    uint64_t start_time_ns; /* wall clock at open (Unix ns): in LOCK, the marker and the manifest */
    int dir_lock_fd; /* <root>/LOCK, flock'ed exclusively while the log is open */
    char seg_dir[LS_PATH_MAX];    /* <root>/segments */
    char marker_dir[LS_PATH_MAX]; /* <root>/markers */
    int marker_created;
    int manifest_inited; /* ls_manifest_init ran: log_free must free it */
    ls_manifest manifest;
    ls_skip_range *skips; /* skip ranges (salvage), fixed after open: readers use them unlocked */
    size_t nskips;
    /* An unused segment file recovery found (all zeros, full size) and recorded obsolete without
     * deleting it: open renames it into this writer's first segment (ls_segment_adopt). */
    int have_spare;
    uint64_t spare_seq;
    char spare_path[LS_PATH_MAX];

    /* ---- the queue: guarded by mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t writer_cv; /* the writer waits here for appends */
    ls_op *q_head, *q_tail;
    _Atomic uint32_t q_count; /* written under mu; read without it while the writer spins */
    uint64_t q_bytes;
    uint64_t q_last_enqueue_ns;
    int writer_sleeping;      /* the writer is blocked on writer_cv ... */
    uint32_t writer_wants;    /* ... until q_count reaches this */
    /* How long a written batch's appenders take to come back (ls_writer.c, pipelining): the
     * appender whose enqueue brings enq_total to ret_watch stamps ret_done_ns. */
    uint64_t enq_total;
    uint64_t ret_watch, ret_from_ns, ret_done_ns;
    int closing;
    int failed;               /* fail-stop: set once, never cleared */
    ls_error failure;         /* the first failure */

    /* ---- segment list (readers look at it): guarded by seg_mu ---- */
    pthread_mutex_t seg_mu;
    ls_segment *segs;
    size_t nsegs, cap_segs;

    /* ---- point-read mappings, sorted by seq: guarded by map_lock ---- */
    pthread_rwlock_t map_lock;
    ls_mapping *maps;
    size_t nmaps, cap_maps;

    /* ---- the active segment: owned by the writer thread ---- */
    int active_fd;
    int active_direct_fd;  /* the active segment opened with O_DIRECT, or -1 (writes go through
                              active_fd and the page cache) */
    uint8_t *active_tail;  /* for direct writes: the active segment's bytes from the start of the
                              page that holds active_off up to active_off (page_size bytes, aligned) */
    uint64_t active_seq;
    uint64_t active_off;
    int active_header_written;
    int active_unwritten;  /* the active segment was only preallocated, not zero-filled (the first
                              segment of a fresh store): its every fdatasync also converts extents */

    /* ---- the preparer: guarded by prep_mu ---- */
    pthread_mutex_t prep_mu;
    pthread_cond_t prep_cv;
    ls_prep_state prep_state;
    ls_prepared prepared;
    ls_error prep_error;
    uint64_t prep_next_seq;
    ls_pending_seal pending_seal; /* set by rotate, recorded in the manifest by the preparer */
    _Atomic int prep_stop; /* also read, without prep_mu, between zero-fill chunks */
    _Atomic int prep_wanted; /* the first append asked for the next segment (ls_log_append) */
    uint64_t prep_seen_bytes, prep_seen_syncs; /* st_bytes and st_syncs at the last preparation */
    ls_sealed_cache sealed_cache; /* sealed segments whose pages are still cached (preparer only) */

    /* ---- the completer (ls_completer.c): guarded by done_mu ---- */
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;       /* the completer waits here for written batches */
    pthread_cond_t done_room_cv;  /* the writer waits here for room, or for the ring to drain */
    ls_done_batch done_ring[LS_DONE_RING];
    uint32_t done_head, done_count; /* a batch leaves the ring once its completions ran */
    int done_stop;
    int completer_started; /* no completer thread when pipelining is LS_PIPELINE_NEVER */

    pthread_t writer_thread, prep_thread, completer_thread;
    int threads_started;

    /* ---- writer-thread state ---- */
    uint8_t *batch_buf;
    size_t batch_cap;
    size_t page_size; /* durable writes end on a multiple of it (write_batch); set at open */
    int direct_writes; /* set at open: durable writes go through O_DIRECT descriptors where the file
                          system takes them (cfg.no_direct_writes off, segment_size page-aligned) */
    uint32_t expected_ops; /* appends the writer expects to gather for the next batch */
    ls_spin_policy idle_spin; /* whether the idle writer polls before it sleeps */
    int pipelined;         /* batches are completed by the completer while the next one syncs */
    uint64_t sync_avg_ns, return_avg_ns; /* moving averages that decide `pipelined` */

    /* ---- statistics ---- */
    _Atomic uint64_t durable_lsn;
    uint64_t next_lsn; /* writer thread only */
    _Atomic uint64_t st_appends, st_records, st_batches, st_frames, st_bytes, st_syncs, st_max_batch,
        st_rotations, st_rotation_waits, st_linger_waits, st_sync_ns, st_gather_ns, st_pipelined_batches,
        st_idle_spins, st_zero_fill_skips, st_direct_zero_fills, st_direct_writes, st_cache_releases, st_cache_release_failures;
};

/* ---- point reads (ls_pointread.c) ---- */
int ls_maps_init(ls_log *log);
/* Unmaps every segment; no read may be running. */
void ls_maps_free(ls_log *log);

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
 * fsync dir) an empty segment file. Sets out->fd to it, opened for reading and writing, and, with
 * log->direct_writes, out->direct_fd to it opened with O_DIRECT (-1 where the file system refuses
 * direct I/O). Returns LS_OK or a negative ls_status. */
int ls_segment_prepare(ls_log *log, uint64_t seq, int zero_fill, ls_prepared *out, ls_error *err);
/* Makes the spare segment file recovery kept (log->spare_path, recorded obsolete, all zeros, full
 * size) segment `seq` of this writer: rename, fsync the directory, SEGMENT_OPEN. Returns its
 * open fd in *out like ls_segment_prepare, or a negative ls_status. */
int ls_segment_adopt(ls_log *log, uint64_t seq, ls_prepared *out, ls_error *err);
/* Encodes the seal frame of a segment whose data ends at `off`. */
void ls_segment_encode_seal(uint8_t frame[LS_SEAL_FRAME_SIZE], uint64_t seq, uint64_t last_lsn, uint64_t off);
/* Writes a seal frame at `off` of the segment and makes it durable. */
int ls_segment_write_seal(ls_io *io, int fd, uint64_t seq, uint64_t last_lsn, uint64_t off);


/* ---- positional reads (ls_window.c) ---- */
/* [0, file_size) of a file: through a read-only mapping (populated ahead of use), or through
 * a buffer over [start, start + len) refilled by pread. */
typedef struct ls_window {
    ls_io *io;
    int fd;
    uint64_t file_size;
    const uint8_t *map; /* [0, file_size) mapped, or NULL; unmapped by ls_window_free */
    uint64_t populated; /* [0, populated) of the mapping is populated */
    int in_map;         /* reads are served from the mapping (until a page cannot be read) */
    uint8_t *buf;
    size_t cap;
    uint64_t start;
    size_t len;
} ls_window;

/* Never fails (the buffer is allocated on first use); returns 0. */
int ls_window_init(ls_window *w, ls_io *io, int fd, uint64_t file_size);
void ls_window_free(ls_window *w);
/* Makes [off, off + n) readable and returns a pointer to it, or NULL with *rc set (-errno on
 * a read error; 0 when the file ends before off + n). The pointer stays valid until
 * ls_window_free if ls_window_stable said so before the call, else until the next call. */
const uint8_t *ls_window_get(ls_window *w, uint64_t off, size_t n, int *rc);
/* Whether pointers ls_window_get returns now stay valid until ls_window_free (mapping). */
int ls_window_stable(const ls_window *w);
/* How many bytes a sequential scan should ask of ls_window_get at a time. */
size_t ls_window_span(const ls_window *w);

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
    int head_skipped;  /* the header lies in a skip range: base LSN taken from the first frame */
    int tail_skipped;  /* a skip range reaches the end of the file: complete, as if sealed (end SEALED) */
    int zero_tail;     /* CLEAN: every byte from data_end (0 if the header is zeros) to the end is zero */
    /* Salvage only: damaged ranges resynchronised past (malloc'd; free with ls_scan_result_free). */
    ls_skip_range *damage;
    size_t ndamage, cap_damage;
} ls_scan_result;

/* How a scan treats damage. */
typedef struct ls_scan_opts {
    const ls_skip_range *skips; /* ranges recorded in the manifest: walked over, LSN gaps across them allowed */
    size_t nskips;              /* (ranges of other segments are ignored) */
    int salvage;                /* 1: damage followed by a valid frame is collected in `damage` and
                                   walked over instead of ending the scan CORRUPT */
} ls_scan_opts;

void ls_scan_result_free(ls_scan_result *res);

/* Called for each valid frame with its header and stored body. Return nonzero to stop. */
typedef int (*ls_frame_visitor)(void *ctx, uint64_t offset, const ls_frame_header *h, const uint8_t *body);

/*
 * Reads the segment in `fd` from its header to its end, verifying every frame.
 * `expected_seq` is the sequence its name carries. Returns 0 with *res filled, or a
 * negative ls_status for an I/O error (*err set).
 */
int ls_segment_scan(ls_io *io, int fd, const char *path, uint64_t expected_seq, ls_frame_visitor visit,
                    void *ctx, ls_scan_result *res, ls_error *err);
/* The same with skip ranges and salvage (opts may be NULL). */
int ls_segment_scan_opts(ls_io *io, int fd, const char *path, uint64_t expected_seq, const ls_scan_opts *opts,
                         ls_frame_visitor visit, void *ctx, ls_scan_result *res, ls_error *err);

/* ---- compression (ls_compress.c) ---- */
/* Compresses src into a new op payload; returns the compressed size or 0 if it did not shrink. */
size_t ls_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, int level, int *zerr);
size_t ls_compress_bound(size_t len);
/* Decompresses exactly raw_len bytes into dst; returns 0 or LS_E_COMPRESS. No bound of its own:
 * readers use ls_container_expand (the fuzz harnesses use this one as a reference). */
int ls_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len);
/* Largest uncompressed length a zstd container may state in a segment whose header gives
 * `segment_size`: what ls_log_append lets one append hold there (ls_max_frame_body). A size outside LS_MIN/MAX_SEGMENT_SIZE (a
 * damaged or missing header: pass 0) counts as LS_MAX_SEGMENT_SIZE. Below 2^30, so below the
 * u32 of the container's key. */
uint64_t ls_container_limit(uint64_t segment_size);
/*
 * Expands a container's zstd value src[0..len), whose key states raw_len uncompressed bytes,
 * into *buf (capacity *cap; when smaller than raw_len it is freed and replaced by exactly
 * raw_len bytes: never grown past a claim that passed the checks). Before allocating, it
 * refuses a raw_len above `limit` (ls_container_limit of the segment), too small for one
 * record, above what len bytes of zstd can expand to, or other than the content size the zstd
 * frame header states; then the data must decompress to exactly raw_len bytes.
 * Returns LS_OK; LS_E_CORRUPT (the container is damaged) or LS_E_NOMEM (*buf NULL, *cap 0),
 * with why[0..why_cap) saying what was wrong.
 */
int ls_container_expand(const uint8_t *src, size_t len, uint32_t raw_len, uint64_t limit, uint8_t **buf, size_t *cap,
                        char *why, size_t why_cap);

/* ---- recovery (ls_recovery.c) ---- */
int ls_recover(ls_log *log, ls_recovery_info *info, ls_error *err);

/* ---- writer (ls_writer.c) ---- */
int ls_writer_start(ls_log *log, ls_error *err);
void ls_writer_stop(ls_log *log);
void ls_fail(ls_log *log, int code, int sys_errno, const char *path, const char *what);
/* Records a pending SEGMENT_SEAL in the manifest (preparer thread; close after the threads stop). */
int ls_writer_record_seal(ls_log *log, ls_error *err);
/* Asks the preparer for the next segment unless it has one or is at work. */
void ls_writer_request_preparation(ls_log *log);

/* ---- completing appends (ls_completer.c) ---- */
/* Starts the completer thread unless the configuration never pipelines. */
int ls_completer_start(ls_log *log, ls_error *err);
/* Completes every batch handed over, then stops the thread. */
void ls_completer_stop(ls_log *log);
/*
 * Completes a written (or refused) batch in commit order: on the calling writer thread when
 * `hand_off` is 0 and no earlier batch is still with the completer, else on the completer
 * thread (waiting while its ring is full). `at` may be NULL when status != 0; `error` (what
 * failed, status != 0 only) is handed to every completion of the batch.
 */
void ls_complete_batch(ls_log *log, ls_op *ops, const ls_batch_place *at, int status, const ls_error *error,
                       int hand_off);

/* ---- files in snapshots/ (ls_blob.c) ---- */
/* At open, with LOCK held: removes leftover <name>.tmp files of interrupted writes, then fsyncs
 * snapshots/ so every file there is durable before anyone reads it. */
int ls_blob_remove_leftovers(ls_log *log, ls_error *err);
/* What ls_blob_verify_file found in one file. */
typedef struct ls_blob_info {
    uint64_t file_size;
    uint64_t data_len; /* data bytes the header states (valid if header_ok) */
    uint32_t data_crc; /* masked CRC32C of the data as the header states it (valid if header_ok) */
    int header_ok;     /* magic, header CRC, version, header size and length agree with the file */
    int ok;            /* and the data matches its CRC */
} ls_blob_info;
/* Read-only check of the file at `path` (`name` for messages), without a log: the checks of
 * ls_blob_read in its order (FORMAT.md §12.2), the data checksummed in pieces. 0 if intact;
 * LS_E_CORRUPT naming the file and the offset of the first mismatch; LS_E_IO, LS_E_NOMEM.
 * *info says how far the file checked out. Never writes. */
int ls_blob_verify_file(ls_io *io, const char *path, const char *name, ls_blob_info *info, ls_error *err);

/* ---- segment list (ls_log.c) ---- */
int ls_log_add_segment(ls_log *log, const ls_segment *s);
/* Makes room for one more segment so a later ls_log_add_segment cannot fail. */
int ls_log_reserve_segment(ls_log *log);

#endif /* LS_INTERNAL_H */
