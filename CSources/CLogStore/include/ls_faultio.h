/*
 * A fault-injecting ls_io for tests (TigerBeetle's simulated disk, SQLite's
 * test VFS). It wraps a real ls_io and forwards every call, except where the
 * plan says otherwise. Everything it decides by chance comes from `seed`, so a
 * failing run is reproduced by its seed.
 *
 * The storage fault model:
 *  - Data written but not yet covered by a successful fsync/fdatasync (or a
 *    successful write_durable) is "unsynced". At a simulated crash each unsynced
 *    write independently survives whole, survives torn at a random byte, or is
 *    lost (the bytes it overwrote come back).
 *  - Files created or renamed in a directory since that directory's last
 *    successful fsync_dir are unsynced entries: at a crash a created file may
 *    vanish and a rename may be undone.
 *  - Synced data and synced directory entries always survive.
 *
 * Faults are planned by the index of a call: every vtable call except destroy
 * gets the next index (0, 1, 2, ...), counted across all threads.
 */
#ifndef LS_FAULTIO_H
#define LS_FAULTIO_H

#include "ls_io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ls_fault_kind {
    LS_FAULT_NONE = 0,
    LS_FAULT_EIO = 1,         /* the call fails with -EIO; a write writes nothing */
    LS_FAULT_ENOSPC = 2,      /* the call fails with -ENOSPC; a write writes nothing */
    LS_FAULT_SHORT_WRITE = 3, /* pwrite writes `arg` bytes (< asked) and returns that count */
    LS_FAULT_TORN_CRASH = 4,  /* a write writes its first `arg` bytes, then the process "crashes" */
    LS_FAULT_CRASH = 5,       /* the process "crashes" before this call takes effect */
    LS_FAULT_SYNC_EIO = 6,    /* write_durable writes everything but the sync fails: -EIO, bytes unsynced */
} ls_fault_kind;

typedef struct ls_faultio ls_faultio;

/*
 * Creates a fault-injecting ls_io over `inner` (which it owns and destroys).
 * Returns 0 and sets *out or -errno. The result is usable as an ls_io* via
 * ls_faultio_as_io().
 */
int ls_faultio_create(ls_io *inner, uint64_t seed, ls_faultio **out);
ls_io *ls_faultio_as_io(ls_faultio *f);

/* Plans `kind` for the call with index `call_index`. `arg` is the byte count for
 * SHORT_WRITE and TORN_CRASH (clamped to the write's length - 1). Replaces any
 * plan for that index. */
void ls_faultio_plan(ls_faultio *f, uint64_t call_index, ls_fault_kind kind, uint64_t arg);

/* Plans a fault on the n-th (0-based) call of write_durable, whatever its call index. */
void ls_faultio_plan_durable_write(ls_faultio *f, uint64_t nth_durable_write, ls_fault_kind kind, uint64_t arg);

/* Plans a crash at a random call index in [lo, hi), chosen from the seed; when
 * that call is a write it becomes a torn write at a random byte. */
void ls_faultio_plan_random_crash(ls_faultio *f, uint64_t lo, uint64_t hi);

/* Until called again with 0, every fallocate fails with -err (e.g. EOPNOTSUPP as on some
 * FUSE and NFS mounts, or ENOSPC as on a full disk) without reaching the file. */
void ls_faultio_set_fallocate_error(ls_faultio *f, int err);

/* Until called again with 0, every release_cache fails with -err without reaching the file. */
void ls_faultio_set_release_cache_error(ls_faultio *f, int err);

/* Until called again with 0, every open with O_DIRECT fails with -err without reaching the file
 * (EINVAL: a file system that does not do direct I/O, such as tmpfs). */
void ls_faultio_set_direct_open_error(ls_faultio *f, int err);

/* Crashes now (as if the next call had LS_FAULT_CRASH). */
void ls_faultio_crash_now(ls_faultio *f);

/* Number of calls made so far (the next call's index). */
uint64_t ls_faultio_call_count(ls_faultio *f);
/* Number of write_durable calls so far. */
uint64_t ls_faultio_durable_write_count(ls_faultio *f);

/* 1 once a crash happened. After a crash every call fails with -EIO and reaches
 * nothing: the "process" is dead. */
int ls_faultio_crashed(ls_faultio *f);

/*
 * Applies the crash to the real files, as a power cut would leave them: unsynced
 * writes survive, tear or vanish (by the seed), unsynced directory entries may be
 * undone. Call after the log using this io is closed. Returns 0 or -errno (an
 * error of the real file system while restoring). Does nothing if no crash
 * happened; crash first with ls_faultio_crash_now() to cut power at an
 * arbitrary moment.
 */
int ls_faultio_apply_crash(ls_faultio *f);

#ifdef __cplusplus
}
#endif
#endif /* LS_FAULTIO_H */
