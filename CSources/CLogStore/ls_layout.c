/*
 * The store root's layout (DESIGN §3, docs/FORMAT.md §1):
 *
 *   <root>/LOCK                          flock'ed by the one writer process
 *   <root>/manifest/manifest.log         the manifest (ls_manifest.c)
 *   <root>/segments/seg-<W>-<S>.log      segment files (ls_segment.c)
 *   <root>/snapshots/<name>              whole files written atomically (ls_blob.c)
 *   <root>/markers/writer-<W>.marker     present while writer W runs
 *
 * LOCK and the markers are informative text: LOCK names the holder so a second
 * opener can say who holds the store; a marker left behind says its writer did
 * not close cleanly. Neither is needed for correctness of the data, so LOCK is
 * not fsynced; markers are (a report of an unclean shutdown should survive one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ls_internal.h"

#define LS_MARKER_PREFIX "writer-"
#define LS_MARKER_SUFFIX ".marker"

int ls_layout_paths(ls_log *log, ls_error *err) {
    if ((size_t)snprintf(log->seg_dir, sizeof log->seg_dir, "%s/" LS_SEGMENTS_DIR, log->dir) >= sizeof log->seg_dir ||
        (size_t)snprintf(log->marker_dir, sizeof log->marker_dir, "%s/" LS_MARKERS_DIR, log->dir) >=
            sizeof log->marker_dir)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, log->dir, "store path too long");
    return LS_OK;
}

/* The parent of `path` ("/" for "/x", "." for a bare name). */
static void parent_of(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash == out) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(out, cap, ".");
}

/*
 * Creates the root (fsyncing its parent, also when it already existed: a process that
 * crashed between mkdir and that fsync left an entry that is not yet durable, DESIGN §4.5,
 * §4.6), then the subdirectories, then fsyncs the root so they are durable too.
 */
int ls_layout_create(ls_log *log, ls_error *err) {
    ls_io *io = log->io;
    struct stat st;
    if (stat(log->dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return ls_err_set(err, LS_E_INVALID, ENOTDIR, log->dir, "not a directory");
    int rc = io->vt->mkdir(io, log->dir, 0755); /* an existing directory is success */
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->dir, "cannot create the store directory");
    char parent[LS_PATH_MAX];
    parent_of(log->dir, parent, sizeof parent);
    rc = io->vt->fsync_dir(io, parent);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, parent, "cannot fsync the parent of the store directory");
    static const char *const subdirs[] = {LS_MANIFEST_DIR, LS_SEGMENTS_DIR, LS_SNAPSHOTS_DIR, LS_MARKERS_DIR};
    for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
        char path[LS_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", log->dir, subdirs[i]);
        rc = io->vt->mkdir(io, path, 0755);
        if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, path, "cannot create a store subdirectory");
    }
    rc = io->vt->fsync_dir(io, log->dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->dir, "cannot fsync the store directory");
    return LS_OK;
}

int ls_layout_require(ls_log *log, ls_error *err) {
    struct stat st;
    if (stat(log->dir, &st) != 0)
        return ls_err_set(err, errno == ENOENT ? LS_E_NOT_FOUND : LS_E_IO, errno, log->dir, "no store at %s", log->dir);
    if (!S_ISDIR(st.st_mode)) return ls_err_set(err, LS_E_INVALID, ENOTDIR, log->dir, "not a directory");
    char path[LS_PATH_MAX];
    static const char *const required[] = {LS_SEGMENTS_DIR, LS_MANIFEST_DIR "/" LS_MF_FILE};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        snprintf(path, sizeof path, "%s/%s", log->dir, required[i]);
        if (stat(path, &st) != 0)
            return ls_err_set(err, errno == ENOENT ? LS_E_NOT_FOUND : LS_E_IO, errno, path,
                              "no store at %s: %s is missing", log->dir, required[i]);
    }
    return LS_OK;
}

/* Reads the holder's identity out of LOCK into a sentence for the LS_E_BUSY error. */
static void describe_holder(ls_io *io, int fd, const char *root, ls_error *err) {
    char text[128] = {0};
    ssize_t n = ls_io_read_full(io, fd, text, sizeof text - 1, 0);
    char writer[17] = {0};
    int pid = 0;
    if (n > 0 && sscanf(text, "writer %16[0-9a-f] pid %d", writer, &pid) == 2 && pid > 0 && kill(pid, 0) != 0 &&
        errno == ESRCH)
        /* Readers (a read-only open, an inspection) lock without writing their identity. */
        ls_err_set(err, LS_E_BUSY, EWOULDBLOCK, root,
                   "store %s is locked by a reader (a read-only open or an inspection; the last writer, %s, pid %d, "
                   "has exited)",
                   root, writer, pid);
    else if (n > 0 && pid > 0)
        ls_err_set(err, LS_E_BUSY, EWOULDBLOCK, root, "store %s is locked by writer %s (pid %d)", root, writer, pid);
    else
        ls_err_set(err, LS_E_BUSY, EWOULDBLOCK, root,
                   "store %s is locked by another writer (it has not written its identity into LOCK yet)", root);
}


/*
 * A lock can be held for a moment by a process that does not own the store: a child forked
 * (by any thread of the holder's process, e.g. to spawn a tool) inherits the LOCK's open
 * file description, and with it the flock, until it execs and O_CLOEXEC closes it. So a
 * busy lock is retried for up to LS_LOCK_RETRY_MS before it is reported.
 */
#define LS_LOCK_RETRY_MS 250
#define LS_LOCK_RETRY_STEP_MS 5

/* flock(LOCK_EX | LOCK_NB), retried while EWOULDBLOCK for up to LS_LOCK_RETRY_MS; -1 with errno on failure. */
static int try_lock_briefly(int fd) {
    for (int waited = 0;; waited += LS_LOCK_RETRY_STEP_MS) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK || waited >= LS_LOCK_RETRY_MS) return -1;
        struct timespec step = {0, LS_LOCK_RETRY_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
    }
}

int ls_layout_lock_reader(ls_io *io, const char *root, int *fd, ls_error *err) {
    char path[LS_PATH_MAX];
    snprintf(path, sizeof path, "%s/" LS_LOCK_NAME, root);
    *fd = -1;
    int lfd = io->vt->open(io, path, O_RDONLY | O_CLOEXEC, 0);
    if (lfd == -ENOENT) return LS_OK; /* creating it would be a write */
    if (lfd < 0) return ls_err_set(err, LS_E_IO, -lfd, path, "cannot open the store's LOCK file");
    if (try_lock_briefly(lfd) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) describe_holder(io, lfd, root, err);
        else ls_err_set(err, LS_E_IO, e, path, "cannot lock the store");
        io->vt->close(io, lfd);
        return e == EWOULDBLOCK ? LS_E_BUSY : LS_E_IO;
    }
    *fd = lfd;
    return LS_OK;
}

int ls_layout_lock(ls_log *log, ls_error *err) {
    ls_io *io = log->io;
    char path[LS_PATH_MAX];
    snprintf(path, sizeof path, "%s/" LS_LOCK_NAME, log->dir);
    int fd = io->vt->open(io, path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, path, "cannot open the store's LOCK file");
    if (try_lock_briefly(fd) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) describe_holder(io, fd, log->dir, err);
        else ls_err_set(err, LS_E_IO, e, path, "cannot lock the store");
        io->vt->close(io, fd);
        return e == EWOULDBLOCK ? LS_E_BUSY : LS_E_IO;
    }
    /* Holding the lock now: record who holds it (informative, so not fsynced). */
    char text[128];
    int len = snprintf(text, sizeof text, "writer %016" PRIx64 " pid %d start_ns %" PRIu64 "\n", log->writer_id,
                       (int)getpid(), log->start_time_ns);
    int rc = io->vt->ftruncate(io, fd, 0);
    if (rc == 0) rc = ls_io_write_full(io, fd, text, (size_t)len, 0);
    if (rc < 0) {
        io->vt->close(io, fd);
        return ls_err_set(err, LS_E_IO, -rc, path, "cannot write the holder's identity into LOCK");
    }
    log->dir_lock_fd = fd;
    return LS_OK;
}

/* Parses "writer-<16 hex>.marker". */
static int parse_marker_name(const char *name, uint64_t *id) {
    const size_t prefix = sizeof LS_MARKER_PREFIX - 1, suffix = sizeof LS_MARKER_SUFFIX - 1;
    if (strlen(name) != prefix + 16 + suffix || memcmp(name, LS_MARKER_PREFIX, prefix) != 0 ||
        strcmp(name + prefix + 16, LS_MARKER_SUFFIX) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = name[prefix + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return 1;
}

static void marker_path(const ls_log *log, uint64_t id, char *out, size_t cap) {
    snprintf(out, cap, "%s/" LS_MARKER_PREFIX "%016" PRIx64 LS_MARKER_SUFFIX, log->marker_dir, id);
}

/* A failed readdir fails the call: a missed marker would hide an unclean shutdown. */
int ls_markers_list_others(ls_log *log, uint64_t **ids, size_t *n, ls_error *err) {
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(log->marker_dir);
    if (!d) return ls_err_set(err, LS_E_IO, errno, log->marker_dir, "cannot list the markers directory");
    size_t cap = 0;
    int rc = LS_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = ls_err_set(err, LS_E_IO, errno, log->marker_dir, "cannot list the markers directory");
            break;
        }
        uint64_t id;
        if (!parse_marker_name(e->d_name, &id) || id == log->writer_id) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            uint64_t *v = realloc(*ids, cap * sizeof *v);
            if (!v) {
                rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, log->marker_dir, "out of memory");
                break;
            }
            *ids = v;
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    if (rc != LS_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int ls_markers_remove(ls_log *log, const uint64_t *ids, size_t n, ls_error *err) {
    for (size_t i = 0; i < n; i++) {
        char path[LS_PATH_MAX + 64];
        marker_path(log, ids[i], path, sizeof path);
        int rc = log->io->vt->unlink(log->io, path);
        if (rc < 0 && rc != -ENOENT) return ls_err_set(err, LS_E_IO, -rc, path, "cannot remove a writer marker");
    }
    if (n == 0) return LS_OK;
    int rc = log->io->vt->fsync_dir(log->io, log->marker_dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->marker_dir, "cannot fsync the markers directory");
    return LS_OK;
}

int ls_marker_create(ls_log *log, ls_error *err) {
    ls_io *io = log->io;
    char path[LS_PATH_MAX + 64];
    marker_path(log, log->writer_id, path, sizeof path);
    int fd = io->vt->open(io, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ls_err_set(err, LS_E_IO, -fd, path, "cannot create this writer's marker");
    char text[96];
    int len = snprintf(text, sizeof text, "pid %d start_ns %" PRIu64 "\n", (int)getpid(), log->start_time_ns);
    const char *step = "write";
    int rc = ls_io_write_full(io, fd, text, (size_t)len, 0);
    if (rc == 0) {
        step = "fsync";
        rc = io->vt->fsync(io, fd);
    }
    int crc = io->vt->close(io, fd);
    if (rc == 0 && crc < 0) {
        step = "close";
        rc = crc;
    }
    if (rc == 0) {
        step = "fsync the directory of";
        rc = io->vt->fsync_dir(io, log->marker_dir);
    }
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, path, "cannot %s this writer's marker", step);
    log->marker_created = 1;
    return LS_OK;
}

int ls_marker_remove(ls_log *log, ls_error *err) {
    if (!log->marker_created) return LS_OK;
    char path[LS_PATH_MAX + 64];
    marker_path(log, log->writer_id, path, sizeof path);
    int rc = log->io->vt->unlink(log->io, path);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, path, "cannot remove this writer's marker");
    log->marker_created = 0;
    rc = log->io->vt->fsync_dir(log->io, log->marker_dir);
    if (rc < 0) return ls_err_set(err, LS_E_IO, -rc, log->marker_dir, "cannot fsync the markers directory");
    return LS_OK;
}
