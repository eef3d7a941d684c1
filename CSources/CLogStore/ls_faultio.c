/*
 * The fault-injecting ls_io (ls_faultio.h): a test disk in the manner of
 * TigerBeetle's simulated storage and SQLite's test VFS. It forwards every call
 * to a real ls_io (`inner`) and remembers enough to make a simulated power cut
 * real afterwards.
 *
 * Fault model (the header's, made precise; keep the two consistent):
 *
 *  Calls. Every vtable call except destroy takes the next call index under the
 *  mutex, across all threads. A plan for that index (ls_faultio_plan) or, for
 *  write_durable, for its ordinal among durable writes
 *  (ls_faultio_plan_durable_write) decides its fault; the call-index plan wins
 *  when both exist. A plan fires once.
 *   - EIO / ENOSPC: any call returns -EIO / -ENOSPC and does nothing (close
 *     still releases the descriptor, as close(2) does).
 *   - SHORT_WRITE: pwrite writes its first `arg` bytes (clamped to len - 1) and
 *     returns that count. On other calls it is ignored: write_durable continues
 *     short writes inside, so they are invisible there.
 *   - TORN_CRASH: pwrite / write_durable writes its first `arg` bytes (clamped
 *     to len - 1; across the iovecs for write_durable) unsynced, then the crash
 *     begins and the call returns -EIO. On any other call it is CRASH.
 *   A write that lands in part (SHORT_WRITE, TORN_CRASH) through a descriptor
 *   opened with O_DIRECT lands through one of the same file without it: the
 *   kernel takes only block-aligned direct writes, the disk model any prefix.
 *   - CRASH: the crash begins before the call; it returns -EIO.
 *   - SYNC_EIO: write_durable writes all its bytes with plain pwrites, leaves
 *     them unsynced and returns -EIO. fsync / fdatasync / fsync_dir return -EIO
 *     and sync nothing (unsynced data stays unsynced). Any other call: EIO.
 *   - Random crash (ls_faultio_plan_random_crash): TORN_CRASH at a call index
 *     in [lo, hi) (lo if that is empty) and a byte, both drawn from the seed
 *     when planned.
 *  Once crashed, every call returns -EIO and reaches nothing, except close,
 *  which still closes the inner descriptor (the log under test closes its
 *  files; leaking them would exhaust the process) and then returns -EIO.
 *
 *  Data. Every write that reaches the disk through this layer is remembered as
 *  an undo record: file, offset, length, the bytes it overwrote and the file
 *  size before it. A record is dropped when its bytes become durable:
 *   - fsync / fdatasync of the file succeeds: every record completed before
 *     the sync began is durable (records are sequence-numbered for this);
 *   - write_durable succeeds: ITS OWN byte range is durable (older records are
 *     cut out of that range). Not the rest of the file: the API promises only
 *     the bytes it wrote, and an RWF_DSYNC write (LS_URING_DSYNC_WRITE) syncs
 *     only its range. A log must fsync what it wrote with plain pwrites.
 *  ftruncate, fallocate and unlink are treated as immediately durable (records
 *  past a new end are dropped; the size they set is kept at a crash). A file's
 *  unsynced writes are tracked by path (descriptors are mapped to the file they
 *  opened; a descriptor of a file unlinked or replaced is no longer tracked).
 *  Writes through descriptors opened elsewhere, and O_APPEND, are not modeled.
 *
 *  A write_durable whose inner call fails leaves all its bytes unsynced (any of
 *  them may have landed).
 *
 *  Directory entries. A file created by open(O_CREAT) and a rename are unsynced
 *  entries of the parent directory (a rename: of the destination's directory)
 *  until fsync_dir of that directory (or fsync of a descriptor opened on it)
 *  succeeds. unlink and mkdir are durable at once (keeping the content of an
 *  unlinked file is not worth it here). A rename that replaced a file keeps a
 *  copy of the replaced file's bytes, so undoing it brings the old file back
 *  (with mode 0644; its own unsynced writes count as survived). Paths are
 *  compared after removing "//", "/./" and a trailing "/", never resolved:
 *  spell them consistently. Renaming directories is forwarded but not modeled
 *  (a rename onto a directory counts as durable; files inside a renamed
 *  directory are not followed).
 *
 *  The crash (ls_faultio_apply_crash), all choices from the seed's generator:
 *   1. each directory keeps a random prefix of its unsynced entries (in call
 *      order, as a journaling file system commits them); the rest are undone
 *      newest first: a created file is unlinked, a rename is reverted;
 *   2. each surviving file walks its unsynced writes newest first and for each
 *      chooses: survives whole, survives torn (a random-length prefix stays,
 *      the old bytes come back after it) or lost (all old bytes come back; a
 *      file the write extended is cut back to its old size, or zero-filled
 *      where a newer surviving write lies beyond). Where unsynced writes
 *      overlap, undoing an older one also undoes the overlapped part of newer
 *      ones: every byte still holds a value it held since its last sync;
 *   3. every file and directory touched is fsynced. Afterwards everything is
 *      durable and a second call does nothing (and returns the first result).
 *
 *  Determinism: the generator (splitmix64) is drawn only by the planning calls
 *  and by apply_crash, so one seed and one sequence of calls give one outcome.
 *  (Call indices interleave across threads: to aim at the writer thread
 *  alone, plan by write_durable ordinal.)
 *
 *  Errors: apply_crash returns the first error of the real file system. The
 *  planning calls return nothing, so running out of memory while bookkeeping
 *  anywhere is remembered and returned by apply_crash instead: never lost.
 *
 *  Thread safety: one pthread mutex guards all state. It is held across inner
 *  calls that change the namespace or the descriptor table (open, close,
 *  rename, unlink, ftruncate, fallocate) and while reading the bytes a write
 *  will overwrite, so that bookkeeping and file system agree; not across the
 *  data writes, reads and syncs themselves.
 */
#include "ls_faultio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(off_t) == sizeof(int64_t), "offsets are 64-bit (x86_64/arm64 Linux)");

/* The largest offset, the open end of "from here to the end of the file". */
#define LSF_OFF_MAX ((off_t)INT64_MAX)
/* Zero-filling goes through a stack buffer of this many bytes: one page. */
#define LSF_ZERO_CHUNK 4096
/* Mode of a replaced file brought back by undoing a rename (its own mode is not kept). */
#define LSF_RESTORED_FILE_MODE 0644
/* splitmix64 constants (Steele, Lea, Flood 2014; Vigna's reference code). */
#define LSF_SPLITMIX_GAMMA UINT64_C(0x9E3779B97F4A7C15)
#define LSF_SPLITMIX_MUL1 UINT64_C(0xBF58476D1CE4E5B9)
#define LSF_SPLITMIX_MUL2 UINT64_C(0x94D049BB133111EB)

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct lsf_plan {
    uint64_t key; /* call index, or ordinal among write_durable calls */
    ls_fault_kind kind;
    uint64_t arg;
    bool random_tear; /* TORN_CRASH whose cut is arg % length (a random crash) */
} lsf_plan;

/* Plans sorted by key, looked up by binary search. */
typedef struct lsf_plans {
    lsf_plan *v;
    size_t n, cap;
} lsf_plans;

/* One unsynced write: what to put back to undo it. */
typedef struct lsf_undo {
    uint64_t seq;         /* completion order; a sync covers the records before it began */
    off_t off;            /* where the write landed */
    size_t len;           /* how many bytes it wrote */
    off_t old_size;       /* file size before the write */
    size_t old_len;       /* bytes of old content kept: those of [off, off+len) below old_size */
    unsigned char *old;   /* the old content of [off, off+old_len) */
} lsf_undo;

/* A file, followed across renames. Never freed before destroy: pointers stay valid. */
typedef struct lsf_node {
    char *path;      /* normalized current path; NULL once unlinked or replaced */
    lsf_undo *undo;  /* unsynced writes, oldest first */
    size_t n_undo, cap_undo;
    off_t size_floor; /* a size made durable by ftruncate/fallocate/write_durable */
} lsf_node;

typedef enum lsf_entry_kind { LSF_ENTRY_CREATE, LSF_ENTRY_RENAME } lsf_entry_kind;

/* One unsynced directory entry. */
typedef struct lsf_entry {
    uint64_t seq;
    lsf_entry_kind kind;
    char *dir;       /* the directory whose fsync_dir makes it durable (of `to`) */
    char *from_dir;  /* rename: the directory of `from`, fsynced when undone */
    char *from;      /* rename: the old path */
    char *to;        /* the created path, or the rename's new path */
    lsf_node *node;  /* the created or moved file */
    lsf_node *victim;            /* rename: the file it replaced, or NULL */
    unsigned char *victim_bytes; /* rename: the replaced file's content */
    size_t victim_len;
} lsf_entry;

struct ls_faultio {
    ls_io base; /* first: an ls_faultio* is an ls_io* */
    ls_io *inner;
    pthread_mutex_t mu;
    /* Everything below is guarded by mu. */
    uint64_t rng;
    uint64_t calls;          /* the next call index */
    uint64_t durable_writes; /* the next write_durable ordinal */
    uint64_t seq;            /* the next undo record / entry sequence number */
    bool crashed;
    bool applied;
    int apply_result;
    int error; /* a bookkeeping failure (out of memory), reported by apply_crash */
    int fallocate_errno; /* when non-zero, every fallocate fails with it (ls_faultio_set_fallocate_error) */
    int release_cache_errno; /* likewise for release_cache (ls_faultio_set_release_cache_error) */
    int direct_open_errno;   /* likewise for opens with O_DIRECT (ls_faultio_set_direct_open_error) */
    lsf_plans by_call, by_durable;
    lsf_node **nodes; /* in creation order: apply_crash walks them in this order */
    size_t n_nodes, cap_nodes;
    lsf_node **fd_nodes; /* descriptor -> file */
    size_t cap_fds;
    lsf_entry *entries; /* unsynced directory entries, oldest first */
    size_t n_entries, cap_entries;
};

static ls_faultio *lsf_of(ls_io *io) { return (ls_faultio *)io; }
static void lsf_lock(ls_faultio *f) { (void)pthread_mutex_lock(&f->mu); }
static void lsf_unlock(ls_faultio *f) { (void)pthread_mutex_unlock(&f->mu); }

/* Grows *v (of element size `size`) to hold at least `need` elements. */
static int lsf_grow(void **v, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) ncap *= 2;
    void *nv = realloc(*v, ncap * size);
    if (!nv) return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */
/* ------------------------------------------------------------------------ */

static uint64_t lsf_next(ls_faultio *f) {
    uint64_t z = (f->rng += LSF_SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * LSF_SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * LSF_SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* A number in [0, n); 0 when n is 0. The modulo bias is irrelevant here. */
static uint64_t lsf_below(ls_faultio *f, uint64_t n) { return n ? lsf_next(f) % n : 0; }

/* ------------------------------------------------------------------------ */
/* Paths                                                                    */
/* ------------------------------------------------------------------------ */

static char *lsf_strndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *lsf_strdup(const char *s) { return lsf_strndup(s, strlen(s)); }

/* `p` without repeated slashes, "." components and a trailing slash ("" -> "."). */
static char *lsf_path_normalize(const char *p) {
    size_t cap = strlen(p) + 2;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t o = 0;
    if (*p == '/') out[o++] = '/';
    while (*p) {
        while (*p == '/') p++;
        const char *end = p;
        while (*end && *end != '/') end++;
        size_t len = (size_t)(end - p);
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o > 0 && out[o - 1] != '/') out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = end;
    }
    if (o == 0) out[o++] = '.';
    out[o] = '\0';
    return out;
}

/* The directory holding normalized path `p`. */
static char *lsf_path_parent(const char *p) {
    const char *slash = strrchr(p, '/');
    if (!slash) return lsf_strdup(".");
    if (slash == p) return lsf_strdup("/");
    return lsf_strndup(p, (size_t)(slash - p));
}

/* ------------------------------------------------------------------------ */
/* Plans                                                                    */
/* ------------------------------------------------------------------------ */

/* Index of the first plan with key >= `key`. */
static size_t lsf_plans_lower(const lsf_plans *ps, uint64_t key) {
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->v[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static bool lsf_plans_has(const lsf_plans *ps, size_t i, uint64_t key) {
    return i < ps->n && ps->v[i].key == key;
}

static void lsf_plans_remove(lsf_plans *ps, size_t i) {
    memmove(&ps->v[i], &ps->v[i + 1], (ps->n - i - 1) * sizeof ps->v[0]);
    ps->n--;
}

/* Sets the plan for p.key (replacing one; LS_FAULT_NONE removes it). */
static int lsf_plans_put(lsf_plans *ps, lsf_plan p) {
    size_t i = lsf_plans_lower(ps, p.key);
    bool present = lsf_plans_has(ps, i, p.key);
    if (p.kind == LS_FAULT_NONE) {
        if (present) lsf_plans_remove(ps, i);
        return 0;
    }
    if (present) {
        ps->v[i] = p;
        return 0;
    }
    if (lsf_grow((void **)&ps->v, &ps->cap, ps->n + 1, sizeof ps->v[0]) < 0) return -ENOMEM;
    memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof ps->v[0]);
    ps->v[i] = p;
    ps->n++;
    return 0;
}

/* Removes and returns the plan for `key`, if any. */
static bool lsf_plans_take(lsf_plans *ps, uint64_t key, lsf_plan *out) {
    size_t i = lsf_plans_lower(ps, key);
    if (!lsf_plans_has(ps, i, key)) return false;
    *out = ps->v[i];
    lsf_plans_remove(ps, i);
    return true;
}

static bool lsf_kind_valid(ls_fault_kind kind) {
    return (unsigned)kind <= (unsigned)LS_FAULT_SYNC_EIO;
}

/* ------------------------------------------------------------------------ */
/* Deciding a call's fault                                                  */
/* ------------------------------------------------------------------------ */

typedef enum lsf_op {
    LSF_OP_OTHER,   /* open, close, pread, fallocate, ftruncate, file_size, rename, unlink, mkdir */
    LSF_OP_SYNC,    /* fsync, fdatasync, fsync_dir */
    LSF_OP_PWRITE,
    LSF_OP_DURABLE, /* write_durable */
} lsf_op;

/* What a call does, decided when it begins. */
typedef struct lsf_call {
    int err;           /* nonzero: return this (-errno) without doing anything */
    ls_fault_kind kind; /* NONE, SHORT_WRITE, TORN_CRASH or SYNC_EIO: still to carry out */
    uint64_t arg;
    bool random_tear;
    uint64_t seq; /* f->seq when the call began: a sync covers records below it */
} lsf_call;

/* The plan for this call: by call index, else (write_durable) by ordinal. */
static lsf_plan lsf_take_plan(ls_faultio *f, lsf_op op) {
    lsf_plan none = {.kind = LS_FAULT_NONE};
    lsf_plan by_call = none, by_durable = none;
    bool have_call = lsf_plans_take(&f->by_call, f->calls++, &by_call);
    if (op == LSF_OP_DURABLE) (void)lsf_plans_take(&f->by_durable, f->durable_writes++, &by_durable);
    return have_call ? by_call : by_durable;
}

/* Turns a plan into what this kind of call does (see the fault model above). */
static lsf_call lsf_resolve(ls_faultio *f, lsf_op op, lsf_plan p) {
    lsf_call c = {.kind = LS_FAULT_NONE, .arg = p.arg, .random_tear = p.random_tear};
    const bool is_write = op == LSF_OP_PWRITE || op == LSF_OP_DURABLE;
    switch (p.kind) {
    case LS_FAULT_NONE: break;
    case LS_FAULT_EIO: c.err = -EIO; break;
    case LS_FAULT_ENOSPC: c.err = -ENOSPC; break;
    case LS_FAULT_SHORT_WRITE:
        if (op == LSF_OP_PWRITE) c.kind = LS_FAULT_SHORT_WRITE;
        break;
    case LS_FAULT_TORN_CRASH:
        if (is_write) {
            c.kind = LS_FAULT_TORN_CRASH;
            break;
        }
        f->crashed = true;
        c.err = -EIO;
        break;
    case LS_FAULT_CRASH:
        f->crashed = true;
        c.err = -EIO;
        break;
    case LS_FAULT_SYNC_EIO:
        if (op == LSF_OP_DURABLE) c.kind = LS_FAULT_SYNC_EIO;
        else c.err = -EIO;
        break;
    }
    return c;
}

/* Every call starts here: takes its index and decides its fault. */
static lsf_call lsf_begin(ls_faultio *f, lsf_op op) {
    lsf_lock(f);
    lsf_plan p = lsf_take_plan(f, op);
    lsf_call c = {.err = -EIO, .kind = LS_FAULT_NONE};
    if (!f->crashed) c = lsf_resolve(f, op, p);
    c.seq = f->seq;
    lsf_unlock(f);
    return c;
}

/* How many bytes of a `len`-byte write a tear or short write keeps: in [0, len). */
static size_t lsf_cut(const lsf_call *c, size_t len) {
    if (len == 0) return 0;
    if (c->random_tear) return (size_t)(c->arg % len);
    return c->arg < len - 1 ? (size_t)c->arg : len - 1;
}

/* ------------------------------------------------------------------------ */
/* Inner I/O helpers (never counted as calls)                               */
/* ------------------------------------------------------------------------ */

static ssize_t lsf_read_full(ls_faultio *f, int fd, void *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = f->inner->vt->pread(f->inner, fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int lsf_write_full(ls_faultio *f, int fd, const void *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = f->inner->vt->pwrite(f->inner, fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n < 0) return (int)n;
        if (n == 0) return -EIO; /* no progress on a regular file */
        done += (size_t)n;
    }
    return 0;
}

static int lsf_zero_fill(ls_faultio *f, int fd, off_t from, off_t to) {
    unsigned char zeros[LSF_ZERO_CHUNK];
    memset(zeros, 0, sizeof zeros);
    while (from < to) {
        size_t n = (size_t)(to - from) < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        int rc = lsf_write_full(f, fd, zeros, n, from);
        if (rc < 0) return rc;
        from += (off_t)n;
    }
    return 0;
}

static size_t lsf_iov_total(const struct iovec *iov, int iovcnt) {
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) n += iov[i].iov_len;
    return n;
}

/* The whole content of `path` (ENOENT: it does not exist, *exists = false). */
static int lsf_read_file(ls_faultio *f, const char *path, bool *exists, unsigned char **bytes, size_t *len) {
    *exists = false;
    *bytes = NULL;
    *len = 0;
    int fd = f->inner->vt->open(f->inner, path, O_RDONLY, 0);
    if (fd == -ENOENT) return 0;
    if (fd < 0) return fd;
    int64_t size = f->inner->vt->file_size(f->inner, fd);
    int rc = size < 0 ? (int)size : 0;
    unsigned char *buf = NULL;
    if (rc == 0 && size > 0) {
        buf = malloc((size_t)size);
        if (!buf) rc = -ENOMEM;
    }
    ssize_t got = 0;
    if (rc == 0 && size > 0) got = lsf_read_full(f, fd, buf, (size_t)size, 0);
    if (got < 0) rc = (int)got;
    f->inner->vt->close(f->inner, fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *exists = true;
    *bytes = buf;
    *len = (size_t)got;
    return 0;
}

/* Creates (or replaces) `path` with `bytes` and fsyncs it. */
static int lsf_write_file(ls_faultio *f, const char *path, const unsigned char *bytes, size_t len) {
    int fd = f->inner->vt->open(f->inner, path, O_WRONLY | O_CREAT | O_TRUNC, LSF_RESTORED_FILE_MODE);
    if (fd < 0) return fd;
    int rc = lsf_write_full(f, fd, bytes, len, 0);
    if (rc == 0) rc = f->inner->vt->fsync(f->inner, fd);
    int crc = f->inner->vt->close(f->inner, fd);
    return rc < 0 ? rc : crc;
}

/* ------------------------------------------------------------------------ */
/* Files and their undo records                                             */
/* ------------------------------------------------------------------------ */

static void lsf_undo_free(lsf_undo *u) {
    free(u->old);
    u->old = NULL;
}

static void lsf_node_forget_writes(lsf_node *n) {
    for (size_t i = 0; i < n->n_undo; i++) lsf_undo_free(&n->undo[i]);
    n->n_undo = 0;
}

/* The file is gone from the namespace (unlinked or replaced). */
static void lsf_node_detach(lsf_node *n) {
    free(n->path);
    n->path = NULL;
    lsf_node_forget_writes(n);
}

static lsf_node *lsf_node_find(ls_faultio *f, const char *path) {
    for (size_t i = 0; i < f->n_nodes; i++) {
        if (f->nodes[i]->path && strcmp(f->nodes[i]->path, path) == 0) return f->nodes[i];
    }
    return NULL;
}

/* A new file at `path` (takes ownership of it on success). */
static lsf_node *lsf_node_add(ls_faultio *f, char *path) {
    if (lsf_grow((void **)&f->nodes, &f->cap_nodes, f->n_nodes + 1, sizeof f->nodes[0]) < 0) return NULL;
    lsf_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->path = path;
    f->nodes[f->n_nodes++] = n;
    return n;
}

/* The file at `path`, added if unknown. */
static lsf_node *lsf_node_get(ls_faultio *f, const char *path) {
    lsf_node *n = lsf_node_find(f, path);
    if (n) return n;
    char *copy = lsf_strdup(path);
    if (!copy) return NULL;
    n = lsf_node_add(f, copy);
    if (!n) free(copy);
    return n;
}

static lsf_node *lsf_fd_node(ls_faultio *f, int fd) {
    return fd >= 0 && (size_t)fd < f->cap_fds ? f->fd_nodes[fd] : NULL;
}

static int lsf_fd_set(ls_faultio *f, int fd, lsf_node *n) {
    if ((size_t)fd >= f->cap_fds) {
        size_t old = f->cap_fds;
        if (lsf_grow((void **)&f->fd_nodes, &f->cap_fds, (size_t)fd + 1, sizeof f->fd_nodes[0]) < 0) return -ENOMEM;
        memset(&f->fd_nodes[old], 0, (f->cap_fds - old) * sizeof f->fd_nodes[0]);
    }
    f->fd_nodes[fd] = n;
    return 0;
}

static void lsf_fd_forget(ls_faultio *f, int fd) {
    if (fd >= 0 && (size_t)fd < f->cap_fds) f->fd_nodes[fd] = NULL;
}

/* Shortens record `u` to its first `len` bytes. */
static void lsf_undo_keep_prefix(lsf_undo *u, size_t len) {
    u->len = len;
    if (u->old_len > len) u->old_len = len;
}

/* Moves the start of record `u` to `from` (inside it), in place. */
static void lsf_undo_keep_suffix(lsf_undo *u, off_t from) {
    size_t skip = (size_t)(from - u->off);
    size_t old_skip = skip < u->old_len ? skip : u->old_len;
    if (u->old_len > old_skip) memmove(u->old, u->old + old_skip, u->old_len - old_skip);
    u->old_len -= old_skip;
    u->off = from;
    u->len -= skip;
}

/* A copy of record `u` restricted to [from, its end). */
static int lsf_undo_suffix_copy(const lsf_undo *u, off_t from, lsf_undo *out) {
    *out = *u;
    out->old = NULL;
    size_t skip = (size_t)(from - u->off);
    size_t old_skip = skip < u->old_len ? skip : u->old_len;
    out->off = from;
    out->len = u->len - skip;
    out->old_len = u->old_len - old_skip;
    if (out->old_len > 0) {
        out->old = malloc(out->old_len);
        if (!out->old) return -ENOMEM;
        memcpy(out->old, u->old + old_skip, out->old_len);
    }
    return 0;
}

static int lsf_node_insert(lsf_node *n, size_t at, lsf_undo u) {
    if (lsf_grow((void **)&n->undo, &n->cap_undo, n->n_undo + 1, sizeof n->undo[0]) < 0) return -ENOMEM;
    memmove(&n->undo[at + 1], &n->undo[at], (n->n_undo - at) * sizeof n->undo[0]);
    n->undo[at] = u;
    n->n_undo++;
    return 0;
}

static void lsf_node_remove(lsf_node *n, size_t at) {
    lsf_undo_free(&n->undo[at]);
    memmove(&n->undo[at], &n->undo[at + 1], (n->n_undo - at - 1) * sizeof n->undo[0]);
    n->n_undo--;
}

/* Splits record i around [lo, hi) (strictly inside it), keeping both outer parts. */
static int lsf_node_split(lsf_node *n, size_t i, off_t lo, off_t hi) {
    lsf_undo right;
    if (lsf_undo_suffix_copy(&n->undo[i], hi, &right) < 0) return -ENOMEM;
    if (lsf_node_insert(n, i + 1, right) < 0) {
        lsf_undo_free(&right);
        return -ENOMEM;
    }
    lsf_undo_keep_prefix(&n->undo[i], (size_t)(lo - n->undo[i].off));
    return 0;
}

/* Forgets what the records say about [lo, hi): those bytes are durable now (or gone). */
static int lsf_node_clip(lsf_node *n, off_t lo, off_t hi) {
    size_t i = 0;
    while (i < n->n_undo) {
        lsf_undo *u = &n->undo[i];
        off_t end = u->off + (off_t)u->len;
        if (end <= lo || u->off >= hi) {
            i++;
        } else if (u->off < lo && end > hi) {
            if (lsf_node_split(n, i, lo, hi) < 0) return -ENOMEM;
            i += 2;
        } else if (u->off < lo) {
            lsf_undo_keep_prefix(u, (size_t)(lo - u->off));
            i++;
        } else if (end > hi) {
            lsf_undo_keep_suffix(u, hi);
            i++;
        } else {
            lsf_node_remove(n, i);
        }
    }
    return 0;
}

/* The file was durably cut (or grown) to `len` by ftruncate or O_TRUNC. */
static int lsf_node_truncated(lsf_node *n, off_t len) {
    int rc = lsf_node_clip(n, len, LSF_OFF_MAX);
    for (size_t i = 0; i < n->n_undo; i++) {
        if (n->undo[i].old_size > len) n->undo[i].old_size = len;
    }
    n->size_floor = len;
    return rc;
}

/* Records completed before sequence number `seq` are durable (a sync succeeded). */
static void lsf_node_synced(lsf_node *n, uint64_t seq) {
    size_t keep = 0;
    for (size_t i = 0; i < n->n_undo; i++) {
        if (n->undo[i].seq < seq) lsf_undo_free(&n->undo[i]);
        else n->undo[keep++] = n->undo[i];
    }
    n->n_undo = keep;
}

/* Reads what [off, off+len) of the file holds now, so a write about to land there
 * can be undone. Under the lock. A write-only descriptor is read through the path. */
static int lsf_capture(ls_faultio *f, lsf_node *n, int fd, off_t off, size_t len, lsf_undo *u) {
    memset(u, 0, sizeof *u);
    int64_t size = f->inner->vt->file_size(f->inner, fd);
    if (size < 0) return (int)size;
    u->off = off;
    u->len = len;
    u->old_size = (off_t)size;
    u->old_len = size > off ? ((uint64_t)(size - off) < len ? (size_t)(size - off) : len) : 0;
    if (u->old_len == 0) return 0;
    u->old = malloc(u->old_len);
    if (!u->old) return -ENOMEM;
    ssize_t got = lsf_read_full(f, fd, u->old, u->old_len, off);
    if (got == -EBADF) {
        int rfd = f->inner->vt->open(f->inner, n->path, O_RDONLY, 0);
        got = rfd < 0 ? rfd : lsf_read_full(f, rfd, u->old, u->old_len, off);
        if (rfd >= 0) f->inner->vt->close(f->inner, rfd);
    }
    if (got < 0) {
        lsf_undo_free(u);
        return (int)got;
    }
    u->old_len = (size_t)got;
    return 0;
}

/* The file tracked for `fd` and a capture of [off, off+len), or NULL when untracked. */
static lsf_node *lsf_prepare_write(ls_faultio *f, int fd, off_t off, size_t len, lsf_undo *u, int *err) {
    memset(u, 0, sizeof *u);
    *err = 0;
    lsf_lock(f);
    lsf_node *n = lsf_fd_node(f, fd);
    if (n && !n->path) n = NULL;
    if (n && len > 0) *err = lsf_capture(f, n, fd, off, len, u);
    lsf_unlock(f);
    return *err ? NULL : n;
}

/*
 * The descriptor a faulty write that lands only in part (torn, short) goes through. The disk model
 * lets any prefix of a write land, but the kernel refuses a direct (O_DIRECT) write whose length
 * is not a multiple of the block size: for a direct `fd` of a tracked file, the file is opened
 * again without O_DIRECT (*reopened: close it afterwards). Returns a descriptor or -errno.
 */
static int lsf_partial_write_fd(ls_faultio *f, int fd, bool *reopened) {
    *reopened = false;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || !(flags & O_DIRECT)) return fd;
    lsf_lock(f);
    lsf_node *n = lsf_fd_node(f, fd);
    char *path = n && n->path ? strdup(n->path) : NULL;
    lsf_unlock(f);
    if (!path) return fd;
    int plain = f->inner->vt->open(f->inner, path, O_WRONLY, 0);
    free(path);
    if (plain >= 0) *reopened = true;
    return plain;
}

/* Writes the first `n` of `len` bytes of a faulty write (n < len through lsf_partial_write_fd). */
static ssize_t lsf_write_part(ls_faultio *f, int fd, const void *buf, size_t n, size_t len, off_t off, bool full) {
    bool reopened = false;
    int wfd = n < len ? lsf_partial_write_fd(f, fd, &reopened) : fd;
    if (wfd < 0) return wfd;
    ssize_t rc = full ? lsf_write_full(f, wfd, buf, n, off) : f->inner->vt->pwrite(f->inner, wfd, buf, n, off);
    if (reopened) f->inner->vt->close(f->inner, wfd);
    return rc;
}

/* Writes the first `n` bytes of the iovecs at `off` with plain pwrites (no sync); through a
 * descriptor without O_DIRECT when that is only part of them (lsf_partial_write_fd). */
static int lsf_write_iov_prefix(ls_faultio *f, int fd, const struct iovec *iov, int iovcnt, off_t off, size_t n) {
    bool reopened = false;
    if (n < lsf_iov_total(iov, iovcnt)) fd = lsf_partial_write_fd(f, fd, &reopened);
    if (fd < 0) return fd;
    int rc = 0;
    for (int i = 0; i < iovcnt && n > 0 && rc == 0; i++) {
        size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
        rc = lsf_write_full(f, fd, iov[i].iov_base, len, off);
        off += (off_t)len;
        n -= len;
    }
    if (reopened) f->inner->vt->close(f->inner, fd);
    return rc;
}

/* Remembers write `u` (of `written` bytes) as unsynced; takes ownership of it. */
static void lsf_commit_write(ls_faultio *f, lsf_node *n, lsf_undo *u, size_t written, bool crash) {
    lsf_lock(f);
    if (crash) f->crashed = true;
    if (n && n->path && written > 0) {
        lsf_undo_keep_prefix(u, written);
        u->seq = f->seq++;
        if (lsf_node_insert(n, n->n_undo, *u) < 0) f->error = -ENOMEM;
        else u->old = NULL;
    }
    lsf_undo_free(u);
    lsf_unlock(f);
}

/* ------------------------------------------------------------------------ */
/* Directory entries                                                        */
/* ------------------------------------------------------------------------ */

static void lsf_entry_free(lsf_entry *e) {
    free(e->dir);
    free(e->from_dir);
    free(e->from);
    free(e->to);
    free(e->victim_bytes);
    memset(e, 0, sizeof *e);
}

/* Appends entry `e` (taking ownership); out of memory poisons apply_crash. */
static void lsf_entry_push(ls_faultio *f, lsf_entry *e) {
    e->seq = f->seq++;
    if (lsf_grow((void **)&f->entries, &f->cap_entries, f->n_entries + 1, sizeof f->entries[0]) < 0) {
        f->error = -ENOMEM;
        lsf_entry_free(e);
        return;
    }
    f->entries[f->n_entries++] = *e;
}

/* Keeps the entries for which `drop` is false. */
static void lsf_entries_filter(ls_faultio *f, bool (*drop)(const lsf_entry *, const void *), const void *ctx) {
    size_t keep = 0;
    for (size_t i = 0; i < f->n_entries; i++) {
        if (drop(&f->entries[i], ctx)) lsf_entry_free(&f->entries[i]);
        else f->entries[keep++] = f->entries[i];
    }
    f->n_entries = keep;
}

typedef struct lsf_dir_sync {
    const char *dir;
    uint64_t seq;
} lsf_dir_sync;

static bool lsf_entry_synced_by(const lsf_entry *e, const void *ctx) {
    const lsf_dir_sync *s = ctx;
    return e->seq < s->seq && strcmp(e->dir, s->dir) == 0;
}

static bool lsf_entry_names(const lsf_entry *e, const void *node) {
    return e->node == node;
}

/* Records that the new file `n` was created (under the lock). */
static void lsf_record_create(ls_faultio *f, lsf_node *n) {
    lsf_entry e = {.kind = LSF_ENTRY_CREATE, .node = n};
    e.to = lsf_strdup(n->path);
    e.dir = lsf_path_parent(n->path);
    if (!e.to || !e.dir) {
        f->error = -ENOMEM;
        lsf_entry_free(&e);
        return;
    }
    lsf_entry_push(f, &e);
}

/* ------------------------------------------------------------------------ */
/* The vtable                                                               */
/* ------------------------------------------------------------------------ */

/* Bookkeeping of a successful open of normalized `path` (under the lock). */
static int lsf_track_open(ls_faultio *f, int fd, const char *path, bool created, bool truncated) {
    lsf_node *n = lsf_node_find(f, path);
    if (n && created) {
        lsf_node_detach(n); /* a stale file of that name, removed behind our back */
        n = NULL;
    }
    if (!n) n = lsf_node_get(f, path);
    if (!n) return -ENOMEM;
    if (lsf_fd_set(f, fd, n) < 0) return -ENOMEM;
    if (created) lsf_record_create(f, n);
    else if (truncated && lsf_node_truncated(n, 0) < 0) f->error = -ENOMEM;
    return 0;
}

/* open(2), telling whether it created the file (under the lock). */
static int lsf_open_inner(ls_faultio *f, const char *path, int flags, mode_t mode, bool *created) {
    *created = false;
    if (!(flags & O_CREAT)) return f->inner->vt->open(f->inner, path, flags, mode);
    int fd = f->inner->vt->open(f->inner, path, flags | O_EXCL, mode);
    if (fd >= 0) {
        *created = true;
        return fd;
    }
    if (fd != -EEXIST || (flags & O_EXCL)) return fd;
    return f->inner->vt->open(f->inner, path, flags, mode);
}

static int lsf_open(ls_io *io, const char *path, int flags, mode_t mode) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    lsf_lock(f);
    int direct_errno = (flags & O_DIRECT) ? f->direct_open_errno : 0;
    lsf_unlock(f);
    if (direct_errno) return -direct_errno;
    char *norm = lsf_path_normalize(path);
    if (!norm) return -ENOMEM;
    lsf_lock(f);
    bool created;
    int fd = lsf_open_inner(f, path, flags, mode, &created);
    if (fd >= 0) {
        int rc = lsf_track_open(f, fd, norm, created, (flags & O_TRUNC) != 0);
        if (rc < 0) {
            f->inner->vt->close(f->inner, fd);
            if (created) f->inner->vt->unlink(f->inner, path);
            fd = rc;
        }
    }
    lsf_unlock(f);
    free(norm);
    return fd;
}

static int lsf_close(ls_io *io, int fd) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    lsf_lock(f);
    int rc = f->inner->vt->close(f->inner, fd); /* even when failing or crashed: no leaks */
    lsf_fd_forget(f, fd);
    lsf_unlock(f);
    return c.err ? c.err : rc;
}

static ssize_t lsf_pread(ls_io *io, int fd, void *buf, size_t len, off_t off) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    return f->inner->vt->pread(f->inner, fd, buf, len, off);
}

static ssize_t lsf_pwrite(ls_io *io, int fd, const void *buf, size_t len, off_t off) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_PWRITE);
    if (c.err) return c.err;
    const bool torn = c.kind == LS_FAULT_TORN_CRASH;
    size_t n = c.kind == LS_FAULT_NONE ? len : lsf_cut(&c, len);
    lsf_undo u;
    int err;
    lsf_node *node = lsf_prepare_write(f, fd, off, n, &u, &err);
    if (err) {
        lsf_commit_write(f, NULL, &u, 0, torn); /* a planned crash still happens */
        return torn ? -EIO : err;
    }
    ssize_t w = 0;
    if (torn) (void)lsf_write_part(f, fd, buf, n, len, off, true); /* crashing anyway: an error changes nothing */
    else if (n > 0) w = lsf_write_part(f, fd, buf, n, len, off, false);
    /* A torn write that failed midway landed in part: undoing all n bytes is harmless. */
    lsf_commit_write(f, node, &u, torn ? n : w > 0 ? (size_t)w : 0, torn);
    if (torn) return -EIO;
    return w;
}

/* Records completed before c->seq on fd's file are durable; if the descriptor is
 * an opened directory, so are its entries (fsync of a directory is fsync_dir). */
static void lsf_file_synced(ls_faultio *f, int fd, const lsf_call *c) {
    lsf_lock(f);
    lsf_node *n = lsf_fd_node(f, fd);
    if (n) lsf_node_synced(n, c->seq);
    if (n && n->path) {
        lsf_dir_sync s = {.dir = n->path, .seq = c->seq};
        lsf_entries_filter(f, lsf_entry_synced_by, &s);
    }
    lsf_unlock(f);
}

/* fsync and fdatasync: forward to the inner call, then mark the file synced. */
static int lsf_sync_via(ls_io *io, int fd, int (*inner_sync)(ls_io *, int)) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_SYNC);
    if (c.err) return c.err;
    int rc = inner_sync(f->inner, fd);
    if (rc == 0) lsf_file_synced(f, fd, &c);
    return rc;
}

static int lsf_fsync(ls_io *io, int fd) { return lsf_sync_via(io, fd, lsf_of(io)->inner->vt->fsync); }

static int lsf_fdatasync(ls_io *io, int fd) { return lsf_sync_via(io, fd, lsf_of(io)->inner->vt->fdatasync); }

static int lsf_fallocate(ls_io *io, int fd, off_t off, off_t len) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    lsf_lock(f);
    if (f->fallocate_errno) {
        int e = f->fallocate_errno;
        lsf_unlock(f);
        return -e;
    }
    int rc = f->inner->vt->fallocate(f->inner, fd, off, len);
    lsf_node *n = lsf_fd_node(f, fd);
    if (rc == 0 && n && off + len > n->size_floor) n->size_floor = off + len;
    lsf_unlock(f);
    return rc;
}

static int lsf_ftruncate(ls_io *io, int fd, off_t len) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    lsf_lock(f);
    int rc = f->inner->vt->ftruncate(f->inner, fd, len);
    lsf_node *n = lsf_fd_node(f, fd);
    if (rc == 0 && n && lsf_node_truncated(n, len) < 0) f->error = -ENOMEM;
    lsf_unlock(f);
    return rc;
}

static int64_t lsf_file_size(ls_io *io, int fd) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    return f->inner->vt->file_size(f->inner, fd);
}

/* What a rename needs, allocated before it happens so that bookkeeping cannot fail after. */
typedef struct lsf_rename_prep {
    lsf_node *node; /* the file at `from` */
    lsf_entry entry;
    char *new_path; /* the node's path after the rename */
    bool is_dir;    /* the target is a directory: renaming directories is not modeled */
} lsf_rename_prep;

/* A node for the file a rename replaces: the tracked one, or a new one if untracked. */
static lsf_node *lsf_victim_node(ls_faultio *f, const char *nto) {
    lsf_node *v = lsf_node_find(f, nto);
    if (v) return v;
    char *path = lsf_strdup(nto);
    v = path ? lsf_node_add(f, path) : NULL;
    if (!v) free(path);
    return v;
}

static void lsf_rename_prep_free(lsf_rename_prep *p) {
    lsf_entry_free(&p->entry);
    free(p->new_path);
    p->new_path = NULL;
}

static int lsf_rename_prepare(ls_faultio *f, const char *to, const char *nfrom, const char *nto, lsf_rename_prep *p) {
    memset(p, 0, sizeof *p);
    bool exists;
    int rc = lsf_read_file(f, to, &exists, &p->entry.victim_bytes, &p->entry.victim_len);
    if (rc == -EISDIR) {
        p->is_dir = true;
        return 0;
    }
    if (rc < 0) return rc;
    p->entry.kind = LSF_ENTRY_RENAME;
    p->entry.from = lsf_strdup(nfrom);
    p->entry.to = lsf_strdup(nto);
    p->entry.dir = lsf_path_parent(nto);
    p->entry.from_dir = lsf_path_parent(nfrom);
    p->new_path = lsf_strdup(nto);
    p->node = lsf_node_get(f, nfrom);
    if (exists) p->entry.victim = lsf_victim_node(f, nto);
    if (!p->entry.from || !p->entry.to || !p->entry.dir || !p->entry.from_dir || !p->new_path || !p->node ||
        (exists && !p->entry.victim)) {
        lsf_rename_prep_free(p);
        return -ENOMEM;
    }
    return 0;
}

/* The rename happened: move the file, detach what it replaced, remember the entry. */
static void lsf_rename_commit(ls_faultio *f, lsf_rename_prep *p) {
    lsf_entry *e = &p->entry;
    if (e->victim) lsf_node_detach(e->victim);
    else {
        lsf_node *stale = lsf_node_find(f, e->to);
        if (stale && stale != p->node) lsf_node_detach(stale);
    }
    free(p->node->path);
    p->node->path = p->new_path;
    e->node = p->node;
    lsf_entry_push(f, e);
}

static int lsf_rename(ls_io *io, const char *from, const char *to) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    char *nfrom = lsf_path_normalize(from), *nto = lsf_path_normalize(to);
    int rc = nfrom && nto ? 0 : -ENOMEM;
    lsf_lock(f);
    lsf_rename_prep p;
    if (rc == 0 && strcmp(nfrom, nto) == 0) rc = f->inner->vt->rename(f->inner, from, to);
    else if (rc == 0 && (rc = lsf_rename_prepare(f, to, nfrom, nto, &p)) == 0) {
        rc = f->inner->vt->rename(f->inner, from, to);
        if (p.is_dir) {
            /* directories: forwarded, treated as durable */
        } else if (rc == 0) {
            lsf_rename_commit(f, &p);
        } else {
            lsf_rename_prep_free(&p);
        }
    }
    lsf_unlock(f);
    free(nfrom);
    free(nto);
    return rc;
}

static int lsf_unlink(ls_io *io, const char *path) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    char *norm = lsf_path_normalize(path);
    if (!norm) return -ENOMEM;
    lsf_lock(f);
    int rc = f->inner->vt->unlink(f->inner, path);
    lsf_node *n = rc == 0 ? lsf_node_find(f, norm) : NULL;
    if (n) {
        lsf_entries_filter(f, lsf_entry_names, n); /* an unlink is durable at once */
        lsf_node_detach(n);
    }
    lsf_unlock(f);
    free(norm);
    return rc;
}

static int lsf_mkdir(ls_io *io, const char *path, mode_t mode) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    return f->inner->vt->mkdir(f->inner, path, mode);
}

static int lsf_fsync_dir(ls_io *io, const char *path) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_SYNC);
    if (c.err) return c.err;
    char *norm = lsf_path_normalize(path);
    if (!norm) return -ENOMEM;
    int rc = f->inner->vt->fsync_dir(f->inner, path);
    if (rc == 0) {
        lsf_dir_sync s = {.dir = norm, .seq = c.seq};
        lsf_lock(f);
        lsf_entries_filter(f, lsf_entry_synced_by, &s);
        lsf_unlock(f);
    }
    free(norm);
    return rc;
}

/* write_durable succeeded: its range is durable, and so is the size it reached. */
static void lsf_range_synced(ls_faultio *f, lsf_node *n, off_t off, size_t len) {
    lsf_lock(f);
    if (n && n->path) {
        if (lsf_node_clip(n, off, off + (off_t)len) < 0) f->error = -ENOMEM;
        if (off + (off_t)len > n->size_floor) n->size_floor = off + (off_t)len;
    }
    lsf_unlock(f);
}

static int lsf_write_durable(ls_io *io, int fd, const struct iovec *iov, int iovcnt, off_t off) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_DURABLE);
    if (c.err) return c.err;
    size_t total = lsf_iov_total(iov, iovcnt);
    lsf_undo u;
    int err;
    lsf_node *node = lsf_prepare_write(f, fd, off, total, &u, &err);
    const bool torn = c.kind == LS_FAULT_TORN_CRASH;
    if (err) {
        lsf_commit_write(f, NULL, &u, 0, torn); /* a planned crash still happens */
        return torn ? -EIO : err;
    }
    if (c.kind == LS_FAULT_NONE) {
        int rc = f->inner->vt->write_durable(f->inner, fd, iov, iovcnt, off);
        if (rc == 0) {
            lsf_undo_free(&u);
            lsf_range_synced(f, node, off, total);
            return 0;
        }
        lsf_commit_write(f, node, &u, total, false); /* outcome unknown: any of it may land */
        return rc;
    }
    size_t n = torn ? lsf_cut(&c, total) : total;
    int rc = lsf_write_iov_prefix(f, fd, iov, iovcnt, off, n);
    lsf_commit_write(f, node, &u, n, torn);
    return rc < 0 && !torn ? rc : -EIO;
}

static void lsf_destroy(ls_io *io);

/* Mappings are read-only views of the real files: they see unsynced bytes as the page cache
 * does until a simulated crash undoes them, after which the log is reopened and remaps. They
 * take no call index, so plans keyed by call index are unaffected by reads. */
static void *lsf_map_read(ls_io *io, int fd, size_t len, int *err) {
    ls_faultio *f = lsf_of(io);
    return f->inner->vt->map_read(f->inner, fd, len, err);
}

static int lsf_unmap(ls_io *io, void *addr, size_t len) {
    ls_faultio *f = lsf_of(io);
    return f->inner->vt->unmap(f->inner, addr, len);
}

/* Advice that changes no byte, so there is nothing to remember for a crash. */
static int lsf_release_cache(ls_io *io, int fd) {
    ls_faultio *f = lsf_of(io);
    lsf_call c = lsf_begin(f, LSF_OP_OTHER);
    if (c.err) return c.err;
    lsf_lock(f);
    int e = f->release_cache_errno;
    lsf_unlock(f);
    if (e) return -e;
    return f->inner->vt->release_cache(f->inner, fd);
}

static const ls_io_vtable lsf_vtable = {
    .open = lsf_open,
    .close = lsf_close,
    .pread = lsf_pread,
    .pwrite = lsf_pwrite,
    .fsync = lsf_fsync,
    .fdatasync = lsf_fdatasync,
    .fallocate = lsf_fallocate,
    .ftruncate = lsf_ftruncate,
    .file_size = lsf_file_size,
    .rename = lsf_rename,
    .unlink = lsf_unlink,
    .mkdir = lsf_mkdir,
    .fsync_dir = lsf_fsync_dir,
    .write_durable = lsf_write_durable,
    .map_read = lsf_map_read,
    .unmap = lsf_unmap,
    .release_cache = lsf_release_cache,
    .destroy = lsf_destroy,
};

/* ------------------------------------------------------------------------ */
/* The crash                                                                */
/* ------------------------------------------------------------------------ */

/* Undoes a created file: unlinks it if it is still where it was created. */
static int lsf_undo_create(ls_faultio *f, lsf_entry *e) {
    lsf_node *n = e->node;
    if (!n->path || strcmp(n->path, e->to) != 0) return 0; /* moved by a surviving rename */
    int rc = f->inner->vt->unlink(f->inner, n->path);
    if (rc < 0 && rc != -ENOENT) return rc;
    lsf_node_detach(n);
    return 0;
}

/* Reverts a rename, bringing back the file it replaced. */
static int lsf_undo_rename(ls_faultio *f, lsf_entry *e) {
    lsf_node *n = e->node;
    if (!n->path || strcmp(n->path, e->to) != 0) return 0; /* gone or moved again */
    int rc = f->inner->vt->rename(f->inner, e->to, e->from);
    if (rc < 0) return rc;
    char *swap = n->path; /* ownership swaps: the entry frees what the node let go */
    n->path = e->from;
    e->from = swap;
    if (!e->victim) return 0;
    rc = lsf_write_file(f, e->to, e->victim_bytes, e->victim_len);
    if (rc < 0) return rc;
    e->victim->path = e->to;
    e->to = NULL;
    return 0;
}

/* Marks in undo[] the entries to undo: the newest random-length suffix of each directory. */
static void lsf_choose_entries(ls_faultio *f, bool *undo, bool *seen) {
    for (size_t i = f->n_entries; i-- > 0;) {
        if (seen[i]) continue;
        const char *dir = f->entries[i].dir;
        size_t count = 0;
        for (size_t j = 0; j <= i; j++) count += strcmp(f->entries[j].dir, dir) == 0;
        uint64_t lost = lsf_below(f, count + 1);
        for (size_t j = i + 1; j-- > 0;) {
            if (strcmp(f->entries[j].dir, dir) != 0) continue;
            seen[j] = true;
            if (lost > 0) {
                undo[j] = true;
                lost--;
            }
        }
    }
}

/* fsyncs the directories of the undone entries. */
static int lsf_sync_undone_dirs(ls_faultio *f, const bool *undo) {
    for (size_t i = 0; i < f->n_entries; i++) {
        if (!undo[i]) continue;
        int rc = f->inner->vt->fsync_dir(f->inner, f->entries[i].dir);
        if (rc == 0 && f->entries[i].from_dir) rc = f->inner->vt->fsync_dir(f->inner, f->entries[i].from_dir);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Step 1 of the crash: undo a random suffix of each directory's unsynced entries. */
static int lsf_apply_entries(ls_faultio *f) {
    if (f->n_entries == 0) return 0;
    bool *undo = calloc(f->n_entries, sizeof *undo);
    bool *seen = calloc(f->n_entries, sizeof *seen);
    int rc = undo && seen ? 0 : -ENOMEM;
    if (rc == 0) lsf_choose_entries(f, undo, seen);
    for (size_t i = f->n_entries; rc == 0 && i-- > 0;) {
        if (!undo[i]) continue;
        lsf_entry *e = &f->entries[i];
        rc = e->kind == LSF_ENTRY_CREATE ? lsf_undo_create(f, e) : lsf_undo_rename(f, e);
    }
    if (rc == 0) rc = lsf_sync_undone_dirs(f, undo);
    free(undo);
    free(seen);
    return rc;
}

/* Puts back what write `u` overwrote after its first `keep` bytes. */
static int lsf_restore(ls_faultio *f, int fd, off_t size_floor, const lsf_undo *u, size_t keep) {
    const off_t lo = u->off + (off_t)keep;
    const off_t end = u->off + (off_t)u->len;
    const off_t old_end = u->off + (off_t)u->old_len;
    if (lo < old_end) {
        int rc = lsf_write_full(f, fd, u->old + keep, (size_t)(old_end - lo), lo);
        if (rc < 0) return rc;
    }
    const off_t start = lo > old_end ? lo : old_end; /* bytes from here on did not exist */
    if (start >= end) return 0;
    int64_t size = f->inner->vt->file_size(f->inner, fd);
    if (size < 0) return (int)size;
    if (size > end) return lsf_zero_fill(f, fd, start, end); /* a newer write beyond survived */
    off_t target = u->old_size;
    if (keep > 0 && lo > target) target = lo;
    if (size_floor > target) target = size_floor;
    if (target > start) {
        int rc = lsf_zero_fill(f, fd, start, target < end ? target : end);
        if (rc < 0) return rc;
    }
    return target == size ? 0 : f->inner->vt->ftruncate(f->inner, fd, target);
}

/* Step 2 for one file: each unsynced write, newest first, survives, tears or is lost. */
static int lsf_apply_file(ls_faultio *f, lsf_node *n) {
    int fd = f->inner->vt->open(f->inner, n->path, O_RDWR, 0);
    if (fd < 0) return fd;
    int rc = 0;
    for (size_t i = n->n_undo; rc == 0 && i-- > 0;) {
        const lsf_undo *u = &n->undo[i];
        uint64_t fate = lsf_below(f, 3); /* 0 survives, 1 torn, 2 lost */
        size_t keep = fate == 0 ? u->len : fate == 1 ? (size_t)lsf_below(f, u->len) : 0;
        if (keep < u->len) rc = lsf_restore(f, fd, n->size_floor, u, keep);
    }
    if (rc == 0) rc = f->inner->vt->fsync(f->inner, fd);
    int crc = f->inner->vt->close(f->inner, fd);
    return rc < 0 ? rc : crc;
}

static int lsf_apply_files(ls_faultio *f) {
    for (size_t i = 0; i < f->n_nodes; i++) {
        lsf_node *n = f->nodes[i];
        if (!n->path || n->n_undo == 0) continue;
        int rc = lsf_apply_file(f, n);
        if (rc < 0) return rc;
        lsf_node_forget_writes(n);
    }
    return 0;
}

static void lsf_forget_entries(ls_faultio *f) {
    for (size_t i = 0; i < f->n_entries; i++) lsf_entry_free(&f->entries[i]);
    f->n_entries = 0;
}

int ls_faultio_apply_crash(ls_faultio *f) {
    lsf_lock(f);
    if (f->crashed && !f->applied) {
        int rc = f->error;
        if (rc == 0) rc = lsf_apply_entries(f);
        if (rc == 0) rc = lsf_apply_files(f);
        lsf_forget_entries(f);
        f->applied = true;
        f->apply_result = rc;
    }
    int result = f->apply_result;
    lsf_unlock(f);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Life cycle and planning                                                  */
/* ------------------------------------------------------------------------ */

int ls_faultio_create(ls_io *inner, uint64_t seed, ls_faultio **out) {
    *out = NULL;
    if (!inner) return -EINVAL;
    ls_faultio *f = calloc(1, sizeof *f);
    if (!f) return -ENOMEM;
    int rc = pthread_mutex_init(&f->mu, NULL);
    if (rc != 0) {
        free(f);
        return -rc;
    }
    f->base.vt = &lsf_vtable;
    f->base.backend = inner->backend;
    f->inner = inner;
    f->rng = seed;
    *out = f;
    return 0;
}

ls_io *ls_faultio_as_io(ls_faultio *f) { return &f->base; }

static void lsf_destroy(ls_io *io) {
    ls_faultio *f = lsf_of(io);
    for (size_t i = 0; i < f->n_nodes; i++) {
        lsf_node_detach(f->nodes[i]);
        free(f->nodes[i]->undo);
        free(f->nodes[i]);
    }
    free(f->nodes);
    lsf_forget_entries(f);
    free(f->entries);
    free(f->fd_nodes);
    free(f->by_call.v);
    free(f->by_durable.v);
    pthread_mutex_destroy(&f->mu);
    ls_io_destroy(f->inner);
    free(f);
}

/* Sets a plan; out of memory poisons apply_crash (the plan API returns nothing). */
static void lsf_plan_put(ls_faultio *f, lsf_plans *ps, lsf_plan p) {
    if (!lsf_kind_valid(p.kind)) return;
    if (lsf_plans_put(ps, p) < 0) f->error = -ENOMEM;
}

void ls_faultio_plan(ls_faultio *f, uint64_t call_index, ls_fault_kind kind, uint64_t arg) {
    lsf_lock(f);
    lsf_plan_put(f, &f->by_call, (lsf_plan){.key = call_index, .kind = kind, .arg = arg});
    lsf_unlock(f);
}

void ls_faultio_plan_durable_write(ls_faultio *f, uint64_t nth_durable_write, ls_fault_kind kind, uint64_t arg) {
    lsf_lock(f);
    lsf_plan_put(f, &f->by_durable, (lsf_plan){.key = nth_durable_write, .kind = kind, .arg = arg});
    lsf_unlock(f);
}

void ls_faultio_plan_random_crash(ls_faultio *f, uint64_t lo, uint64_t hi) {
    lsf_lock(f);
    uint64_t index = lo + lsf_below(f, hi > lo ? hi - lo : 1);
    uint64_t cut = lsf_next(f);
    lsf_plan_put(f, &f->by_call,
                 (lsf_plan){.key = index, .kind = LS_FAULT_TORN_CRASH, .arg = cut, .random_tear = true});
    lsf_unlock(f);
}

void ls_faultio_set_fallocate_error(ls_faultio *f, int err) {
    lsf_lock(f);
    f->fallocate_errno = err;
    lsf_unlock(f);
}

void ls_faultio_set_release_cache_error(ls_faultio *f, int err) {
    lsf_lock(f);
    f->release_cache_errno = err;
    lsf_unlock(f);
}

void ls_faultio_set_direct_open_error(ls_faultio *f, int err) {
    lsf_lock(f);
    f->direct_open_errno = err;
    lsf_unlock(f);
}

void ls_faultio_crash_now(ls_faultio *f) {
    lsf_lock(f);
    f->crashed = true;
    lsf_unlock(f);
}

uint64_t ls_faultio_call_count(ls_faultio *f) {
    lsf_lock(f);
    uint64_t n = f->calls;
    lsf_unlock(f);
    return n;
}

uint64_t ls_faultio_durable_write_count(ls_faultio *f) {
    lsf_lock(f);
    uint64_t n = f->durable_writes;
    lsf_unlock(f);
    return n;
}

int ls_faultio_crashed(ls_faultio *f) {
    lsf_lock(f);
    int crashed = f->crashed;
    lsf_unlock(f);
    return crashed;
}
