/*
 * Whole files in <root>/snapshots/ (ls_blob.h; docs/FORMAT.md §12). Header, all integers
 * little-endian:
 *     0    8  magic "LSBLOB01"
 *     8    4  version (1)
 *    12    4  header size (32)
 *    16    8  data length
 *    24    4  masked CRC32C of the data
 *    28    4  masked CRC32C of bytes 0..28
 *    32    .  data; the file ends right after it
 * Replacing a file follows DESIGN §4.5: tmp, write, fsync, rename, fsync the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_blob.h"
#include "ls_crc32c.h"
#include "ls_internal.h"

/* Header field offsets. */
#define BLOB_OFF_MAGIC 0
#define BLOB_OFF_VERSION 8
#define BLOB_OFF_HEADER_SIZE 12
#define BLOB_OFF_DATA_LEN 16
#define BLOB_OFF_DATA_CRC 24
#define BLOB_OFF_HEADER_CRC 28
_Static_assert(BLOB_OFF_HEADER_CRC + 4 == LS_BLOB_HEADER_SIZE, "the header CRC ends the header");
_Static_assert(sizeof LS_BLOB_MAGIC - 1 == LS_BLOB_MAGIC_SIZE, "magic size");

/* How messages name a file: relative to the root (the error's path holds the full one). */
#define SNAP LS_SNAPSHOTS_DIR "/"
#define BLOB_STR(x) #x
#define BLOB_XSTR(x) BLOB_STR(x)

/* Room for <root>/snapshots/<name>.tmp: root, separators and directory name, name, suffix. */
#define BLOB_PATH_MAX (LS_PATH_MAX + sizeof "/" LS_SNAPSHOTS_DIR "/" + LS_BLOB_NAME_MAX + sizeof LS_BLOB_TMP_SUFFIX)

/* Writes and removes of one name are serialised (two writers of one name would otherwise share
 * its .tmp). Names hash onto a few locks shared by every log of the process: cheap and enough. */
#define BLOB_LOCK_STRIPES 16
static pthread_mutex_t blob_locks[BLOB_LOCK_STRIPES];
static pthread_once_t blob_locks_once = PTHREAD_ONCE_INIT;

/* FNV-1a, to spread names over the lock stripes. */
#define FNV_OFFSET_BASIS 2166136261u
#define FNV_PRIME 16777619u

static void init_blob_locks(void) {
    for (size_t i = 0; i < BLOB_LOCK_STRIPES; i++) pthread_mutex_init(&blob_locks[i], NULL);
}

static pthread_mutex_t *lock_for(const char *name) {
    pthread_once(&blob_locks_once, init_blob_locks);
    uint32_t h = FNV_OFFSET_BASIS;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * FNV_PRIME;
    return &blob_locks[h % BLOB_LOCK_STRIPES];
}

/* ---- names and paths ---- */

static int name_char_ok(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* NULL when `name` is valid, else why not. */
static const char *name_problem(const char *name) {
    if (!name) return "no name";
    size_t n = strnlen(name, LS_BLOB_NAME_MAX + 1);
    if (n == 0) return "the name is empty";
    if (n > LS_BLOB_NAME_MAX) return "the name is longer than " BLOB_XSTR(LS_BLOB_NAME_MAX) " bytes";
    if (name[0] == '.') return "the name starts with '.'";
    if (ends_with(name, n, LS_BLOB_TMP_SUFFIX))
        return "the name ends in \"" LS_BLOB_TMP_SUFFIX "\" (reserved for files being written)";
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok(name[i])) return "the name holds a byte other than A-Z a-z 0-9 . _ -";
    return NULL;
}

int ls_blob_name_valid(const char *name) { return name_problem(name) == NULL; }

/* The paths of one file. */
typedef struct blob_paths {
    const char *name;
    char dir[BLOB_PATH_MAX];  /* <root>/snapshots */
    char file[BLOB_PATH_MAX]; /* <root>/snapshots/<name> */
    char tmp[BLOB_PATH_MAX];  /* <root>/snapshots/<name>.tmp */
} blob_paths;

static int snapshots_dir(const ls_log *log, char *out, size_t cap, ls_error *err) {
    if ((size_t)snprintf(out, cap, "%s/" LS_SNAPSHOTS_DIR, log->dir) >= cap)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, log->dir, "store path too long");
    return LS_OK;
}

/* Validates `name` and fills the paths of its file. */
static int blob_paths_for(const ls_log *log, const char *name, blob_paths *p, ls_error *err) {
    const char *problem = name_problem(name);
    if (problem)
        return ls_err_set(err, LS_E_INVALID, EINVAL, log->dir, "invalid file name for " LS_SNAPSHOTS_DIR "/: %s",
                          problem);
    p->name = name;
    int rc = snapshots_dir(log, p->dir, sizeof p->dir, err);
    if (rc != LS_OK) return rc;
    if ((size_t)snprintf(p->file, sizeof p->file, "%s/%s", p->dir, name) >= sizeof p->file ||
        (size_t)snprintf(p->tmp, sizeof p->tmp, "%s" LS_BLOB_TMP_SUFFIX, p->file) >= sizeof p->tmp)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, p->dir, "path of %s too long", name);
    return LS_OK;
}

/* LS_E_READ_ONLY for a read-only log; LS_E_FAILED once the log failed: like appends, file
 * writes stop (DESIGN §4.4). */
static int refuse_if_failed(ls_log *log, ls_error *err) {
    if (log->cfg.read_only) return ls_err_set(err, LS_E_READ_ONLY, EROFS, log->dir, "the store was opened read-only");
    ls_error first;
    if (!ls_log_failure(log, &first)) return LS_OK;
    return ls_err_set(err, LS_E_FAILED, first.sys_errno, first.path,
                      "the log failed earlier and accepts no writes; reopen it (first failure: %.160s)", first.message);
}

/* ---- the header ---- */

static void encode_header(uint8_t *h, const void *data, size_t len) {
    memset(h, 0, LS_BLOB_HEADER_SIZE);
    memcpy(h + BLOB_OFF_MAGIC, LS_BLOB_MAGIC, LS_BLOB_MAGIC_SIZE);
    ls_put_u32(h + BLOB_OFF_VERSION, LS_BLOB_VERSION);
    ls_put_u32(h + BLOB_OFF_HEADER_SIZE, LS_BLOB_HEADER_SIZE);
    ls_put_u64(h + BLOB_OFF_DATA_LEN, (uint64_t)len);
    ls_put_u32(h + BLOB_OFF_DATA_CRC, ls_crc32c_mask(len ? ls_crc32c_value(data, len) : 0)); /* data may be NULL */
    ls_put_u32(h + BLOB_OFF_HEADER_CRC, ls_crc32c_mask(ls_crc32c_value(h, BLOB_OFF_HEADER_CRC)));
}

static int corrupt_at(ls_error *err, const blob_paths *p, uint64_t off, const char *what) {
    return ls_err_set_at(err, LS_E_CORRUPT, 0, p->file, off, "corrupt file " SNAP "%s at offset %" PRIu64 ": %s",
                         p->name, off, what);
}

/* Checks the header of a file of `size` bytes (magic, CRC, then fields); sets *data_len. */
static int decode_header(const uint8_t *h, uint64_t size, const blob_paths *p, uint64_t *data_len, ls_error *err) {
    if (memcmp(h + BLOB_OFF_MAGIC, LS_BLOB_MAGIC, LS_BLOB_MAGIC_SIZE) != 0)
        return corrupt_at(err, p, BLOB_OFF_MAGIC, "bad magic (not a " LS_BLOB_MAGIC " file)");
    if (ls_crc32c_unmask(ls_get_u32(h + BLOB_OFF_HEADER_CRC)) != ls_crc32c_value(h, BLOB_OFF_HEADER_CRC))
        return corrupt_at(err, p, BLOB_OFF_HEADER_CRC, "header checksum mismatch");
    if (ls_get_u32(h + BLOB_OFF_VERSION) != LS_BLOB_VERSION)
        return corrupt_at(err, p, BLOB_OFF_VERSION, "unknown format version");
    if (ls_get_u32(h + BLOB_OFF_HEADER_SIZE) != LS_BLOB_HEADER_SIZE)
        return corrupt_at(err, p, BLOB_OFF_HEADER_SIZE, "unexpected header size");
    uint64_t len = ls_get_u64(h + BLOB_OFF_DATA_LEN);
    char what[128];
    if (len > size - LS_BLOB_HEADER_SIZE) {
        snprintf(what, sizeof what, "truncated: the header says %" PRIu64 " data bytes, the file holds %" PRIu64, len,
                 size - LS_BLOB_HEADER_SIZE);
        return corrupt_at(err, p, size, what);
    }
    if (len < size - LS_BLOB_HEADER_SIZE) {
        snprintf(what, sizeof what, "%" PRIu64 " bytes after the %" PRIu64 " data bytes the header says",
                 size - LS_BLOB_HEADER_SIZE - len, len);
        return corrupt_at(err, p, LS_BLOB_HEADER_SIZE + len, what);
    }
    if ((uint64_t)(size_t)len != len)
        return corrupt_at(err, p, BLOB_OFF_DATA_LEN, "data length exceeds the address space");
    *data_len = len;
    return LS_OK;
}

/* ---- writing ---- */

/* The status for a failed system call before anything was replaced: a full disk says so. */
static int io_status(int rc) { return rc == -ENOSPC ? LS_E_NOSPACE : LS_E_IO; }

/* Creates <name>.tmp with the header and data, fsyncs and closes it. On failure removes it
 * (best effort: the original error is what matters, and open removes a leftover). */
static int write_tmp(ls_io *io, const blob_paths *p, const uint8_t *header, const void *data, size_t len,
                     ls_error *err) {
    const char *step = "create";
    int fd = io->vt->open(io, p->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = fd < 0 ? fd : 0;
    if (rc == 0) {
        step = "write";
        rc = ls_io_write_full(io, fd, header, LS_BLOB_HEADER_SIZE, 0);
    }
    if (rc == 0 && len > 0) rc = ls_io_write_full(io, fd, data, len, LS_BLOB_HEADER_SIZE);
    if (rc == 0) {
        step = "fsync";
        rc = io->vt->fsync(io, fd);
    }
    if (fd >= 0) {
        int crc = io->vt->close(io, fd);
        if (rc == 0 && crc < 0) {
            step = "close";
            rc = crc;
        }
    }
    if (rc == 0) return LS_OK;
    if (fd >= 0) io->vt->unlink(io, p->tmp);
    return ls_err_set(err, io_status(rc), -rc, p->tmp,
                      "cannot %s " SNAP "%s" LS_BLOB_TMP_SUFFIX "; " SNAP "%s is unchanged", step, p->name, p->name);
}

/* Renames the complete .tmp over the file and fsyncs the directory. After a failure here the
 * rename may or may not be durable: the file holds the old or the new contents. */
static int publish(ls_io *io, const blob_paths *p, ls_error *err) {
    int rc = io->vt->rename(io, p->tmp, p->file);
    if (rc < 0) {
        io->vt->unlink(io, p->tmp); /* best effort, as in write_tmp */
        return ls_err_set(err, LS_E_IO, -rc, p->file,
                          "cannot rename " SNAP "%s" LS_BLOB_TMP_SUFFIX " over " SNAP
                          "%s: it may hold the old or the new contents",
                          p->name, p->name);
    }
    rc = io->vt->fsync_dir(io, p->dir);
    if (rc < 0)
        return ls_err_set(err, LS_E_IO, -rc, p->file,
                          "cannot fsync " SNAP " after replacing " SNAP
                          "%s: after a crash it may hold the old or the new contents",
                          p->name);
    return LS_OK;
}

int ls_blob_write(ls_log *log, const char *name, const void *data, size_t len, ls_error *err) {
    blob_paths p;
    int rc = blob_paths_for(log, name, &p, err);
    if (rc != LS_OK) return rc;
    if (!data && len > 0) return ls_err_set(err, LS_E_INVALID, EINVAL, p.file, "no data pointer for %zu bytes", len);
    rc = refuse_if_failed(log, err);
    if (rc != LS_OK) return rc;
    uint8_t header[LS_BLOB_HEADER_SIZE];
    encode_header(header, data, len);
    pthread_mutex_t *mu = lock_for(name);
    pthread_mutex_lock(mu);
    rc = write_tmp(log->io, &p, header, data, len, err);
    if (rc == LS_OK) rc = publish(log->io, &p, err);
    pthread_mutex_unlock(mu);
    return rc;
}

/* ---- reading ---- */

/* Reads and verifies the open file `fd` (see decode_header); the data goes into *out. */
static int read_verified(ls_io *io, int fd, const blob_paths *p, uint8_t **out, size_t *out_len, ls_error *err) {
    const char *path = p->file;
    int64_t size = io->vt->file_size(io, fd);
    if (size < 0) return ls_err_set(err, LS_E_IO, (int)-size, path, "cannot stat the file");
    uint8_t header[LS_BLOB_HEADER_SIZE];
    ssize_t got = size < LS_BLOB_HEADER_SIZE ? size : ls_io_read_full(io, fd, header, sizeof header, 0);
    if (got < 0) return ls_err_set(err, LS_E_IO, (int)-got, path, "cannot read the file");
    if ((size_t)got < sizeof header) {
        char what[96];
        snprintf(what, sizeof what, "truncated: %zd bytes, shorter than the %d-byte header", got, LS_BLOB_HEADER_SIZE);
        return corrupt_at(err, p, (uint64_t)got, what);
    }
    uint64_t len;
    int rc = decode_header(header, (uint64_t)size, p, &len, err);
    if (rc != LS_OK) return rc;
    uint8_t *data = malloc(len ? (size_t)len : 1); /* never NULL on success, also when empty */
    if (!data) return ls_err_set(err, LS_E_NOMEM, ENOMEM, path, "out of memory for %" PRIu64 " bytes", len);
    got = len ? ls_io_read_full(io, fd, data, (size_t)len, LS_BLOB_HEADER_SIZE) : 0;
    if (got < 0) rc = ls_err_set(err, LS_E_IO, (int)-got, path, "cannot read the file");
    else if ((uint64_t)got < len) rc = corrupt_at(err, p, LS_BLOB_HEADER_SIZE + (uint64_t)got, "truncated data");
    else if (ls_crc32c_unmask(ls_get_u32(header + BLOB_OFF_DATA_CRC)) != ls_crc32c_value(data, (size_t)len))
        rc = corrupt_at(err, p, LS_BLOB_HEADER_SIZE, "data checksum mismatch");
    if (rc != LS_OK) {
        free(data);
        return rc;
    }
    *out = data;
    *out_len = (size_t)len;
    return LS_OK;
}

int ls_blob_read(ls_log *log, const char *name, uint8_t **out, size_t *out_len, ls_error *err) {
    *out = NULL;
    *out_len = 0;
    blob_paths p;
    int rc = blob_paths_for(log, name, &p, err);
    if (rc != LS_OK) return rc;
    ls_io *io = log->io;
    int fd = io->vt->open(io, p.file, O_RDONLY, 0);
    if (fd == -ENOENT) return ls_err_set(err, LS_E_NOT_FOUND, ENOENT, p.file, "no file " SNAP "%s", name);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, p.file, "cannot open " SNAP "%s", name);
    rc = read_verified(io, fd, &p, out, out_len, err);
    int crc = io->vt->close(io, fd);
    if (rc == LS_OK && crc < 0) {
        ls_blob_free(*out);
        *out = NULL;
        *out_len = 0;
        rc = ls_err_set(err, LS_E_IO, -crc, p.file, "cannot close " SNAP "%s", name);
    }
    return rc;
}

void ls_blob_free(uint8_t *data) { free(data); }

/* ---- read-only verification (inspection) ---- */

/* Data is checksummed in pieces of this size, so a large file needs no buffer of its size. */
#define BLOB_VERIFY_CHUNK (1u << 20)

int ls_blob_verify_file(ls_io *io, const char *path, const char *name, ls_blob_info *info, ls_error *err) {
    memset(info, 0, sizeof *info);
    blob_paths p;
    memset(&p, 0, sizeof p);
    p.name = name;
    snprintf(p.file, sizeof p.file, "%s", path);
    int fd = io->vt->open(io, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, path, "cannot open " SNAP "%s", name);
    int rc = LS_OK;
    uint8_t *chunk = NULL;
    int64_t size = io->vt->file_size(io, fd);
    if (size < 0) {
        rc = ls_err_set(err, LS_E_IO, (int)-size, path, "cannot stat " SNAP "%s", name);
        goto out;
    }
    info->file_size = (uint64_t)size;
    uint8_t header[LS_BLOB_HEADER_SIZE];
    ssize_t got = size < LS_BLOB_HEADER_SIZE ? size : ls_io_read_full(io, fd, header, sizeof header, 0);
    if (got < 0) {
        rc = ls_err_set(err, LS_E_IO, (int)-got, path, "cannot read " SNAP "%s", name);
        goto out;
    }
    if ((size_t)got < sizeof header) {
        char what[96];
        snprintf(what, sizeof what, "truncated: %zd bytes, shorter than the %d-byte header", got, LS_BLOB_HEADER_SIZE);
        rc = corrupt_at(err, &p, (uint64_t)got, what);
        goto out;
    }
    uint64_t len;
    rc = decode_header(header, (uint64_t)size, &p, &len, err);
    if (rc != LS_OK) goto out;
    info->header_ok = 1;
    info->data_len = len;
    info->data_crc = ls_get_u32(header + BLOB_OFF_DATA_CRC);
    chunk = malloc(BLOB_VERIFY_CHUNK);
    if (!chunk) {
        rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, path, "out of memory");
        goto out;
    }
    uint32_t crc = 0;
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < BLOB_VERIFY_CHUNK ? (size_t)(len - done) : BLOB_VERIFY_CHUNK;
        got = ls_io_read_full(io, fd, chunk, want, (off_t)(LS_BLOB_HEADER_SIZE + done));
        if (got < 0) {
            rc = ls_err_set(err, LS_E_IO, (int)-got, path, "cannot read " SNAP "%s", name);
            goto out;
        }
        if ((size_t)got < want) {
            rc = corrupt_at(err, &p, LS_BLOB_HEADER_SIZE + done + (uint64_t)got, "truncated data");
            goto out;
        }
        crc = ls_crc32c_extend(crc, chunk, want);
        done += want;
    }
    if (ls_crc32c_unmask(info->data_crc) != crc) rc = corrupt_at(err, &p, LS_BLOB_HEADER_SIZE, "data checksum mismatch");
    else info->ok = 1;
out:
    free(chunk);
    int crc_rc = io->vt->close(io, fd);
    if (rc == LS_OK && crc_rc < 0) rc = ls_err_set(err, LS_E_IO, -crc_rc, path, "cannot close " SNAP "%s", name);
    return rc;
}

/* ---- removing and listing ---- */

int ls_blob_remove(ls_log *log, const char *name, ls_error *err) {
    blob_paths p;
    int rc = blob_paths_for(log, name, &p, err);
    if (rc != LS_OK) return rc;
    rc = refuse_if_failed(log, err);
    if (rc != LS_OK) return rc;
    ls_io *io = log->io;
    pthread_mutex_t *mu = lock_for(name);
    pthread_mutex_lock(mu);
    int urc = io->vt->unlink(io, p.file);
    /* fsynced also when the file is missing: an earlier remove may have failed before its fsync. */
    int drc = urc < 0 && urc != -ENOENT ? 0 : io->vt->fsync_dir(io, p.dir);
    pthread_mutex_unlock(mu);
    if (urc < 0 && urc != -ENOENT) return ls_err_set(err, LS_E_IO, -urc, p.file, "cannot remove " SNAP "%s", name);
    if (drc < 0) return ls_err_set(err, LS_E_IO, -drc, p.dir, "cannot fsync " SNAP " after removing " SNAP "%s", name);
    return LS_OK;
}

/* Calls fn(ctx, name, path) for each entry of snapshots/ that `keep` accepts; a failed readdir
 * fails the walk (a missed entry would hide a file). `fn` returns 0 or an ls_status to stop. */
typedef int (*entry_fn)(void *ctx, const char *name, const char *path, ls_error *err);

static int walk_snapshots(ls_log *log, int (*keep)(const struct dirent *), entry_fn fn, void *ctx, ls_error *err) {
    char dir[BLOB_PATH_MAX];
    int rc = snapshots_dir(log, dir, sizeof dir, err);
    if (rc != LS_OK) return rc;
    DIR *d = opendir(dir);
    if (!d) return ls_err_set(err, LS_E_IO, errno, dir, "cannot list the snapshots directory");
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, dir, "cannot list the snapshots directory");
            break;
        }
        if (!keep(e)) continue;
        char path[sizeof dir + 1 + sizeof e->d_name];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = fn(ctx, e->d_name, path, err);
        if (rc != LS_OK) break;
    }
    closedir(d);
    return rc;
}

/* A complete file: a valid name that is not a directory. */
static int is_complete_file(const struct dirent *e) {
    return e->d_type != DT_DIR && ls_blob_name_valid(e->d_name);
}

typedef struct list_ctx {
    ls_blob_name_fn fn;
    void *ctx;
} list_ctx;

static int report_name(void *ctx, const char *name, const char *path, ls_error *err) {
    (void)path;
    (void)err;
    list_ctx *l = ctx;
    l->fn(l->ctx, name);
    return LS_OK;
}

int ls_blob_list(ls_log *log, ls_blob_name_fn fn, void *ctx, ls_error *err) {
    if (!fn) return ls_err_set(err, LS_E_INVALID, EINVAL, log->dir, "no callback");
    list_ctx l = {fn, ctx};
    return walk_snapshots(log, is_complete_file, report_name, &l, err);
}

/* "<valid name>.tmp": a file whose write never reached its rename. Other names are left alone. */
static int is_leftover_tmp(const struct dirent *e) {
    size_t n = strlen(e->d_name), t = sizeof LS_BLOB_TMP_SUFFIX - 1;
    if (e->d_type == DT_DIR || n <= t || n - t > LS_BLOB_NAME_MAX || !ends_with(e->d_name, n, LS_BLOB_TMP_SUFFIX))
        return 0;
    char base[LS_BLOB_NAME_MAX + 1];
    memcpy(base, e->d_name, n - t);
    base[n - t] = '\0';
    return ls_blob_name_valid(base);
}

static int unlink_leftover(void *ctx, const char *name, const char *path, ls_error *err) {
    (void)name;
    ls_log *log = ctx;
    int rc = log->io->vt->unlink(log->io, path);
    if (rc < 0 && rc != -ENOENT) return ls_err_set(err, LS_E_IO, -rc, path, "cannot remove an unfinished file");
    return LS_OK;
}

int ls_blob_remove_leftovers(ls_log *log, ls_error *err) {
    int rc = walk_snapshots(log, is_leftover_tmp, unlink_leftover, log, err);
    if (rc != LS_OK) return rc;
    /* Always, not only after a removal: a rename of a process that crashed before its directory
     * fsync is visible but not yet durable, and must be before anyone reads it (DESIGN §4.6). */
    char dir[BLOB_PATH_MAX];
    rc = snapshots_dir(log, dir, sizeof dir, err);
    if (rc != LS_OK) return rc;
    rc = log->io->vt->fsync_dir(log->io, dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, dir, "cannot fsync the snapshots directory");
    return LS_OK;
}
