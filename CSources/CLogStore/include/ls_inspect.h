/*
 * Read-only inspection of a store (ls_inspect.c; docs/FORMAT.md §7.6): what `logstore
 * verify`, `dump` and `inspect` are built on.
 *
 * ls_inspect_store takes the store's LOCK (flock, exclusive, non-blocking: LS_E_BUSY naming
 * the holder while a writer has the store open, so nothing changes under the scan), replays
 * the manifest read-only, lists segments/ and scans every segment file, verifying every frame
 * CRC and every record CRC (zstd containers expanded), then checks every file in snapshots/
 * (header, length and data CRC, docs/FORMAT.md §12). Unlike recovery it never writes, cuts,
 * fsyncs, renames or removes anything, and it continues past damage (resynchronising at the
 * next valid frame or manifest record, as the salvage scan does), so it reports every problem,
 * not only the first.
 *
 * Thread safety: one call is self-contained; callbacks run on the calling thread.
 */
#ifndef LS_INSPECT_H
#define LS_INSPECT_H

#include <stdint.h>

#include "ls_blob.h"
#include "ls_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What kind of problem a report names. */
typedef enum ls_inspect_problem_kind {
    LS_INSPECT_CORRUPT_FRAME = 1,     /* a frame (or segment header) that fails its checks before valid data */
    LS_INSPECT_CORRUPT_RECORD = 2,    /* a record inside a valid frame that fails its CRC, length or container checks */
    LS_INSPECT_TORN_TAIL = 3,         /* the damaged end of the newest segment, or of the manifest: an unfinished
                                         write that the next open cuts off. Not corruption. */
    LS_INSPECT_MISSING_SEGMENT = 4,   /* a segment the manifest lists (not obsolete) has no file */
    LS_INSPECT_UNLISTED_SEGMENT = 5,  /* a segment file with data that the manifest does not list */
    LS_INSPECT_MANIFEST = 6,          /* a damaged or inconsistent manifest record, or a missing manifest */
    LS_INSPECT_LSN_GAP = 7,           /* a segment's base LSN does not follow the previous segment's last LSN */
    LS_INSPECT_BAD_SEGMENT = 8,       /* a segment-level inconsistency: not sealed before data, seal disagreeing
                                         with the manifest, writer id disagreeing with the file name, two files
                                         with one sequence, a missing header before data */
    LS_INSPECT_CORRUPT_FILE = 9,      /* a file in snapshots/ that fails its header, length or data checks */
} ls_inspect_problem_kind;

/* One problem. */
typedef struct ls_inspect_problem {
    int kind;             /* ls_inspect_problem_kind */
    int corruption;       /* 1: damage a strict open refuses; 0: allowed (a torn tail, cut at the next open) */
    uint64_t segment_seq; /* the segment's sequence, 0 for the manifest, the store or a file in snapshots/ */
    uint64_t offset;      /* byte offset in `path` where the problem starts, if has_offset */
    int has_offset;
    char path[LS_ERROR_PATH_MAX];
    char message[LS_ERROR_MESSAGE_MAX];
} ls_inspect_problem;

/* How a segment's scan ended. */
typedef enum ls_inspect_segment_state {
    LS_INSPECT_SEG_EMPTY = 0,    /* prepared, never written (zero header, nothing valid) */
    LS_INSPECT_SEG_OPEN = 1,     /* frames end cleanly, no seal yet (the newest segment of a closed store) */
    LS_INSPECT_SEG_SEALED = 2,   /* a seal frame ends it (or a recorded skip range reaches its end) */
    LS_INSPECT_SEG_TORN = 3,     /* ends in a damaged frame with nothing valid after it */
    LS_INSPECT_SEG_CORRUPT = 4,  /* ends in damage or an inconsistency followed by valid data */
    LS_INSPECT_SEG_OBSOLETE = 5, /* the manifest says obsolete: not part of the log, not scanned */
} ls_inspect_segment_state;

/* One segment file. */
typedef struct ls_inspect_segment {
    uint64_t seq;
    uint64_t writer_id;    /* from the file name */
    uint64_t base_lsn;     /* 0 if its header is missing or damaged and nothing valid follows */
    uint64_t last_lsn;     /* base_lsn - 1 while it holds no record */
    uint64_t bytes_used;   /* offset just past the last valid frame: where its seal is or would go */
    uint64_t file_size;
    uint64_t frame_bytes;  /* on-disk bytes of its valid frames, padding and seal frame included */
    uint64_t frames;       /* valid data frames */
    uint64_t records;      /* logical records in them */
    uint64_t damaged_ranges; /* damaged byte ranges walked over (each reported as a problem) */
    int sealed;            /* a valid seal frame ends it */
    int listed;            /* the manifest lists it (with this writer id) and not as obsolete */
    int state;             /* ls_inspect_segment_state */
    char path[LS_ERROR_PATH_MAX];
} ls_inspect_segment;

/* One record of a valid frame; pointers are valid during the callback only. */
typedef struct ls_inspect_record {
    uint64_t lsn;
    uint8_t type;
    uint8_t flags;
    uint32_t key_len;
    uint32_t value_len;
    const uint8_t *key;
    const uint8_t *value;
    ls_location location;    /* segment, record (or container) offset, item in the container */
    uint64_t frame_offset;   /* offset of the frame holding it */
    uint64_t encoded_size;   /* 12 + key_len + value_len: its size uncompressed */
    uint64_t stored_size;    /* bytes it takes in the frame body: encoded_size, or its share of its zstd
                                container (the shares of a container add up to the container's size) */
} ls_inspect_record;

/* One writer id seen in the manifest (WRITER_START, SEGMENT_OPEN) or in segment file names. */
typedef struct ls_inspect_writer {
    uint64_t writer_id;
    uint64_t starts;        /* WRITER_START records naming it */
    uint64_t start_time_ns; /* of its last WRITER_START (Unix ns; 0 if none) */
    uint64_t pid;           /* of its last WRITER_START (0 if none) */
    uint64_t segments;      /* segment files named after it */
} ls_inspect_writer;

/* One file in snapshots/ (FORMAT.md §12): a regular file (or a link to one) of a valid name. */
typedef struct ls_inspect_file {
    char name[LS_BLOB_NAME_MAX + 1];
    char path[LS_ERROR_PATH_MAX];
    uint64_t file_size;
    uint64_t data_len; /* data bytes its header states (if header_ok) */
    uint32_t data_crc; /* masked CRC32C of the data as its header states it (if header_ok) */
    int header_ok;     /* magic, header CRC, version, header size and length agree with the file */
    int ok;            /* and the data matches its CRC (else a LS_INSPECT_CORRUPT_FILE problem names it) */
} ls_inspect_file;

/* Manifest record types, for ls_inspect_summary.manifest_events (numbers as on disk). */
#define LS_INSPECT_MANIFEST_TYPES 9

/* Totals of one inspection. */
typedef struct ls_inspect_summary {
    uint64_t segments;            /* segment files found */
    uint64_t segments_with_data;  /* of those, listed and holding a valid frame */
    uint64_t frames;              /* valid data frames of listed segments */
    uint64_t records;             /* records in them */
    uint64_t frame_bytes;         /* on-disk bytes of those frames and seals */
    uint64_t file_bytes;          /* sizes of all segment files */
    uint64_t first_lsn, last_lsn; /* LSN range of the records (0, 0 if none) */
    uint64_t problems;            /* problems reported */
    uint64_t corruptions;         /* of those, corruption (not a torn tail) */
    int torn_tail;                /* the newest segment (or the manifest) ends in a torn write */
    uint64_t manifest_records;    /* valid manifest records */
    uint64_t manifest_bytes;      /* their bytes */
    uint64_t manifest_torn_bytes; /* bytes of a torn manifest tail */
    uint64_t manifest_events[LS_INSPECT_MANIFEST_TYPES]; /* valid records per type (index = type; 0 unused) */
    uint64_t writers;             /* distinct writer ids (as reported through on_writer) */
    uint64_t skip_ranges;         /* salvage skip ranges recorded in the manifest */
    int stopped;                  /* on_record asked to stop: the totals cover what was scanned */
    uint64_t snapshot_files;      /* files checked in snapshots/ */
    uint64_t snapshot_bytes;      /* their sizes */
} ls_inspect_summary;

/* Callbacks (any may be NULL) and options. */
typedef struct ls_inspect_callbacks {
    void *ctx;
    /* Each segment file, in sequence order, after all records (every segment is scanned first). */
    void (*on_segment)(void *ctx, const ls_inspect_segment *s);
    /* Each record of a listed segment with LSN >= from_lsn, in LSN order, while scanning. Return
     * nonzero to stop the inspection (no segment, problem or writer is reported after that). */
    int (*on_record)(void *ctx, const ls_inspect_record *r);
    /* Each problem, once the scan is complete: manifest first, then by segment and offset, then
     * files in snapshots/ by name. */
    void (*on_problem)(void *ctx, const ls_inspect_problem *p);
    /* Each writer id, after the problems (manifest order, then ids only in file names). */
    void (*on_writer)(void *ctx, const ls_inspect_writer *w);
    /* Each file in snapshots/ (valid names only: never a .tmp), by name, last. */
    void (*on_file)(void *ctx, const ls_inspect_file *f);
    uint64_t from_lsn; /* records below it are verified but not reported (0 = all) */
} ls_inspect_callbacks;

/*
 * Inspects the store rooted at `root` read-only (see the top of this file). Returns 0 once the
 * scan ran, whatever damage it found (problems go to on_problem and the summary); LS_E_BUSY
 * (naming the holder's writer id) while another process has the store open; LS_E_INVALID if
 * `root` is not a directory with a segments/ directory; LS_E_IO or LS_E_NOMEM with *err set if
 * a file cannot be read (never skipped: a missed file would hide damage).
 */
int ls_inspect_store(const char *root, const ls_inspect_callbacks *cb, ls_inspect_summary *summary, ls_error *err);

/* Short English name of a problem kind, e.g. "torn tail". */
const char *ls_inspect_problem_kind_name(int kind);
/* Short English name of a segment state, e.g. "sealed". */
const char *ls_inspect_segment_state_name(int state);

#ifdef __cplusplus
}
#endif
#endif /* LS_INSPECT_H */
