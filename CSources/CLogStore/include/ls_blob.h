/*
 * Whole files in the store's snapshots/ directory (ls_blob.c; docs/FORMAT.md §12): Raft
 * snapshots and index checkpoints, each written and replaced atomically, verified when read.
 *
 * A file is `<root>/snapshots/<name>`: a 32-byte header (magic, version, data length, CRC32C
 * of the data, CRC32C of the header; all masked as in ls_crc32c.h) followed by the data.
 * Writing replaces it as DESIGN §4.5 says: `<name>.tmp` (O_TRUNC), header + data, fsync,
 * rename over `<name>`, fsync snapshots/. A crash at any step leaves the old file (or none)
 * or the complete new one; a leftover `<name>.tmp` is removed by the next ls_log_open. Every
 * file operation goes through the log's ls_io, so the fault-injecting one reaches each step.
 *
 * Names: 1..LS_BLOB_NAME_MAX bytes of [A-Za-z0-9._-], not starting with '.', not ending in
 * ".tmp"; anything else is LS_E_INVALID.
 *
 * Errors: 0 or a negative ls_status with *err filled (path = the file). A missing file is
 * LS_E_NOT_FOUND (sys_errno ENOENT) for ls_blob_read; a damaged one is LS_E_CORRUPT with the
 * offset of the damage. ENOSPC before the rename is LS_E_NOSPACE (nothing was replaced); any
 * other failure is LS_E_IO with the errno. A failed write or remove never fails the log
 * (nothing of the log's own data is in doubt), but a log that failed (fail-stop) refuses them
 * with LS_E_FAILED, as it refuses appends.
 *
 * Thread safety: every function may be called from any thread while the log is open (never
 * concurrently with or after ls_log_close). Writes and removes of one name are serialised;
 * a read or a listing concurrent with a write sees the old file or the new one, never a mix.
 */
#ifndef LS_BLOB_H
#define LS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "ls_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The file header: magic, version, header size, data length, data CRC, header CRC. */
#define LS_BLOB_MAGIC "LSBLOB01"
#define LS_BLOB_MAGIC_SIZE 8
#define LS_BLOB_VERSION 1u
#define LS_BLOB_HEADER_SIZE 32
/* Longest name of a file in snapshots/ (bytes). */
#define LS_BLOB_NAME_MAX 200
/* Suffix of a file being written; never a valid name, removed at open if left over. */
#define LS_BLOB_TMP_SUFFIX ".tmp"

/*
 * Writes `len` bytes at `data` as snapshots/<name>, replacing any file of that name
 * atomically: <name>.tmp is created (truncated), written (header, data), fsynced and closed,
 * renamed over <name>, and snapshots/ is fsynced. Returns 0 once all of that succeeded.
 * On a failure before the rename the old file is untouched and the .tmp is removed (best
 * effort; the next open removes it otherwise). A failed rename or directory fsync leaves
 * <name> holding the old or the new contents after a crash: the error says so.
 */
int ls_blob_write(ls_log *log, const char *name, const void *data, size_t len, ls_error *err);

/*
 * Reads snapshots/<name> and verifies it whole: its size, header fields, header CRC and data
 * CRC. On 0, *out is a malloc'ed buffer of *out_len data bytes (never NULL, also when empty)
 * that the caller frees with ls_blob_free. LS_E_NOT_FOUND when there is no such file;
 * LS_E_CORRUPT naming the file and the offset of the first mismatch; LS_E_IO, LS_E_NOMEM.
 */
int ls_blob_read(ls_log *log, const char *name, uint8_t **out, size_t *out_len, ls_error *err);

/* Frees a buffer returned by ls_blob_read (NULL is fine). */
void ls_blob_free(uint8_t *data);

/* Removes snapshots/<name> and fsyncs snapshots/. A missing file is success (the directory
 * is fsynced all the same, so an earlier remove that failed before its fsync becomes durable). */
int ls_blob_remove(ls_log *log, const char *name, ls_error *err);

/* Called once per name by ls_blob_list; `name` is valid only during the call. */
typedef void (*ls_blob_name_fn)(void *ctx, const char *name);

/*
 * Calls `fn(ctx, name)` for every complete file in snapshots/: valid names only, so never a
 * .tmp being written; directories and other names are skipped. The order is the directory's.
 * A failed directory read is LS_E_IO (never a shortened listing).
 */
int ls_blob_list(ls_log *log, ls_blob_name_fn fn, void *ctx, ls_error *err);

/* 1 if `name` is a valid file name for the functions above, else 0. */
int ls_blob_name_valid(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* LS_BLOB_H */
