/*
 * The log's lifecycle and its append entry point: configuration, open (via
 * recovery), append (encoding on the caller's thread), statistics, close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

#include "ls_crc32c.h"
#include "ls_internal.h"
#include "ls_mutex.h"

#define LS_DEFAULT_SEGMENT_SIZE (64ull << 20)
#define LS_DEFAULT_COMMIT_MAX_OPS 1024u
#define LS_DEFAULT_COMMIT_MAX_BYTES (4ull << 20)
#define LS_DEFAULT_COMPRESS_LEVEL 1 /* zstd's fastest level: compression runs on every caller */
/* Long enough for a few dozen awakened appenders to come back, short next to an fdatasync. */
#define LS_DEFAULT_LINGER_US 200u
/* Waking a sleeping thread costs tens of microseconds on a virtual machine (30-40 us to an
 * idle vCPU here), a large part of an fdatasync. A single appender comes back within this
 * window even when its own thread has to be woken first and encodes 64 KiB (Raft, 256 entries
 * of 256 B: about 80 us); the writer stops polling while appenders come back later. */
#define LS_DEFAULT_SPIN_US 200u
/* A manifest holds a few records per segment: 1 MiB is thousands of segments between rewrites. */
#define LS_DEFAULT_MANIFEST_MAX_BYTES (1ull << 20)

void ls_log_config_init(ls_log_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->segment_size = LS_DEFAULT_SEGMENT_SIZE;
    cfg->commit_max_ops = LS_DEFAULT_COMMIT_MAX_OPS;
    cfg->commit_max_bytes = LS_DEFAULT_COMMIT_MAX_BYTES;
    cfg->compress_min_bytes = 0;
    cfg->compress_level = LS_DEFAULT_COMPRESS_LEVEL;
    cfg->linger_max_us = LS_DEFAULT_LINGER_US;
    cfg->spin_max_us = LS_DEFAULT_SPIN_US;
    cfg->backend = LS_BACKEND_AUTO;
    cfg->uring_mode = LS_URING_LINKED_FDATASYNC;
    cfg->recovery_mode = LS_RECOVERY_STRICT;
    cfg->manifest_max_bytes = LS_DEFAULT_MANIFEST_MAX_BYTES;
    cfg->sealed_cache_bytes = LS_DEFAULT_SEALED_CACHE_BYTES;
}

/* Grows the segment array; seg_mu held. */
static int grow_segments(ls_log *log) {
    if (log->nsegs < log->cap_segs) return 0;
    size_t cap = log->cap_segs ? log->cap_segs * 2 : 16;
    ls_segment *n = realloc(log->segs, cap * sizeof *n);
    if (!n) return -ENOMEM;
    log->segs = n;
    log->cap_segs = cap;
    return 0;
}

int ls_log_reserve_segment(ls_log *log) {
    pthread_mutex_lock(&log->seg_mu);
    int rc = grow_segments(log);
    pthread_mutex_unlock(&log->seg_mu);
    return rc;
}

int ls_log_add_segment(ls_log *log, const ls_segment *s) {
    pthread_mutex_lock(&log->seg_mu);
    int rc = grow_segments(log);
    if (rc == 0) log->segs[log->nsegs++] = *s;
    pthread_mutex_unlock(&log->seg_mu);
    return rc;
}

static int validate_config(const ls_log_config *cfg, ls_error *err) {
    if (!cfg->dir || !cfg->dir[0]) return ls_err_set(err, LS_E_INVALID, EINVAL, NULL, "no directory given");
    if (strlen(cfg->dir) >= LS_PATH_MAX - 64)
        return ls_err_set(err, LS_E_INVALID, ENAMETOOLONG, cfg->dir, "directory path too long");
    if (!cfg->on_complete) return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir, "no completion callback");
    if (cfg->segment_size < LS_MIN_SEGMENT_SIZE || cfg->segment_size > LS_MAX_SEGMENT_SIZE ||
        cfg->segment_size % LS_FRAME_ALIGN)
        return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir,
                          "segment size must be a multiple of 8 between 64 KiB and 1 GiB");
    if (cfg->commit_max_ops == 0 || cfg->commit_max_bytes == 0)
        return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir, "commit caps must be positive");
    if ((unsigned)cfg->recovery_mode > LS_RECOVERY_SALVAGE)
        return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir, "unknown recovery mode %d", (int)cfg->recovery_mode);
    if ((unsigned)cfg->pipelining > LS_PIPELINE_ALWAYS)
        return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir, "unknown pipelining mode %d", (int)cfg->pipelining);
    if (cfg->read_only && cfg->recovery_mode != LS_RECOVERY_STRICT)
        return ls_err_set(err, LS_E_INVALID, EINVAL, cfg->dir,
                          "a read-only open recovers strictly: point-in-time and salvage repair the store on disk");
    return LS_OK;
}

static uint64_t new_writer_id(void) {
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) id = ls_now_ns() ^ (uint64_t)getpid() << 32;
    }
    return id;
}

static void log_free(ls_log *log) {
    if (log->active_fd >= 0) log->io->vt->close(log->io, log->active_fd);
    if (log->active_direct_fd >= 0) log->io->vt->close(log->io, log->active_direct_fd);
    if (log->prep_state == LS_PREP_READY) {
        log->io->vt->close(log->io, log->prepared.fd);
        if (log->prepared.direct_fd >= 0) log->io->vt->close(log->io, log->prepared.direct_fd);
    }
    if (log->dir_lock_fd >= 0) log->io->vt->close(log->io, log->dir_lock_fd);
    if (log->manifest_inited) ls_manifest_free(&log->manifest);
    free(log->skips);
    ls_maps_free(log); /* before the io that made the mappings goes */
    if (log->owns_io) ls_io_destroy(log->io);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->writer_cv);
    pthread_mutex_destroy(&log->seg_mu);
    pthread_mutex_destroy(&log->prep_mu);
    pthread_cond_destroy(&log->prep_cv);
    pthread_mutex_destroy(&log->done_mu);
    pthread_cond_destroy(&log->done_cv);
    pthread_cond_destroy(&log->done_room_cv);
    free(log->segs);
    free(log->batch_buf);
    free(log->active_tail);
    ls_sealed_cache_free(&log->sealed_cache);
    free(log);
}

static int init_sync(ls_log *log) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the linger deadlines use ls_now_ns */
    /* `mu` is taken by every append and by the writer: adaptive, as its holds are short. */
    int rc = ls_mutex_init_adaptive(&log->mu) || pthread_cond_init(&log->writer_cv, &ca) ||
             pthread_mutex_init(&log->seg_mu, NULL) || pthread_mutex_init(&log->prep_mu, NULL) ||
             pthread_cond_init(&log->prep_cv, NULL) || pthread_mutex_init(&log->done_mu, NULL) ||
             pthread_cond_init(&log->done_cv, NULL) || pthread_cond_init(&log->done_room_cv, NULL) || ls_maps_init(log);
    pthread_condattr_destroy(&ca);
    return rc ? -ENOMEM : 0;
}

int ls_log_open(const ls_log_config *cfg, ls_log **out, ls_recovery_info *info, ls_error *err) {
    *out = NULL;
    int rc = validate_config(cfg, err);
    if (rc != LS_OK) return rc;
    ls_log *log = calloc(1, sizeof *log);
    if (!log || init_sync(log) < 0) {
        free(log);
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, cfg->dir, "out of memory");
    }
    log->cfg = *cfg;
    log->page_size = ls_page_size();
    uint64_t body_cap = ls_max_frame_body(cfg->segment_size);
    if (log->cfg.commit_max_bytes > body_cap) log->cfg.commit_max_bytes = body_cap;
    snprintf(log->dir, sizeof log->dir, "%s", cfg->dir);
    log->cfg.dir = log->dir;
    log->active_fd = -1;
    log->active_direct_fd = -1;
    log->dir_lock_fd = -1;
    /* A direct write must end on a multiple of the device's block size; a segment's last write ends
     * at segment_size. */
    log->direct_writes = !cfg->no_direct_writes && cfg->segment_size % log->page_size == 0;
    log->expected_ops = 1;
    log->writer_id = new_writer_id();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    log->start_time_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    if (cfg->io) {
        log->io = cfg->io;
    } else {
        rc = ls_io_posix_create(cfg->backend, cfg->uring_mode, &log->io);
        if (rc < 0) {
            log_free(log);
            return ls_err_set(err, LS_E_IO, -rc, cfg->dir, "cannot set up the %s backend", ls_backend_name(cfg->backend));
        }
        log->owns_io = 1;
    }
    ls_recovery_info local_info;
    rc = ls_layout_paths(log, err);
    if (rc == LS_OK) {
        uint64_t mf_max = cfg->manifest_max_bytes ? cfg->manifest_max_bytes : LS_DEFAULT_MANIFEST_MAX_BYTES;
        if (ls_manifest_init(&log->manifest, log->io, log->dir, mf_max) < 0)
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, cfg->dir, "out of memory");
        else {
            log->manifest_inited = 1;
            log->manifest.read_only = cfg->read_only;
        }
    }
    if (cfg->read_only) {
        if (rc == LS_OK) rc = ls_layout_require(log, err);
        /* Held until close, as a writer holds it: no writer changes the files under this open. */
        if (rc == LS_OK) rc = ls_layout_lock_reader(log->io, log->dir, &log->dir_lock_fd, err);
        if (rc == LS_OK) rc = ls_recover(log, info ? info : &local_info, err);
        if (rc != LS_OK) {
            log_free(log);
            return rc;
        }
        *out = log;
        return LS_OK;
    }
    if (rc == LS_OK) rc = ls_layout_create(log, err);
    if (rc == LS_OK) rc = ls_layout_lock(log, err);
    if (rc == LS_OK) rc = ls_blob_remove_leftovers(log, err);
    if (rc == LS_OK) rc = ls_recover(log, info ? info : &local_info, err);
    /* From here on a crash leaves this marker: the next open reports an unclean shutdown. */
    if (rc == LS_OK) rc = ls_marker_create(log, err);
    if (rc == LS_OK) {
        /* The first segment of this process, ready before the first append: the unused segment
         * the previous writer had prepared ahead, if recovery kept it (renamed: already zero-filled,
         * and no 64 MiB to delete), else a new file, only preallocated, never zero-filled: writing
         * segment_size bytes here would add hundreds of milliseconds to every open (measured:
         * `logstore bench open`). The preparer zero-fills the following ones, and the writer
         * leaves a preallocated-only segment as soon as one is ready (docs/FORMAT.md §6.3). */
        ls_prepared first;
        if (log->direct_writes && posix_memalign((void **)&log->active_tail, log->page_size, log->page_size) != 0)
            rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, cfg->dir, "out of memory");
        if (rc == LS_OK)
            rc = log->have_spare ? ls_segment_adopt(log, log->prep_next_seq, &first, err)
                                 : ls_segment_prepare(log, log->prep_next_seq, 0, &first, err);
        if (rc == LS_OK) {
            log->active_unwritten = !log->have_spare && !log->cfg.no_prewrite;
            log->active_fd = first.fd;
            log->active_direct_fd = first.direct_fd;
            log->active_seq = first.seq;
            log->prep_next_seq = first.seq + 1;
            rc = ls_writer_start(log, err);
        }
    }
    if (rc != LS_OK) {
        log_free(log);
        return rc;
    }
    *out = log;
    return LS_OK;
}

static int validate_records(const ls_record *records, size_t count, uint64_t limit, uint64_t *raw, ls_error *err) {
    if (count == 0 || !records) return ls_err_set(err, LS_E_INVALID, EINVAL, NULL, "an append needs at least one record");
    if (count > UINT32_MAX) return ls_err_set(err, LS_E_TOO_LARGE, E2BIG, NULL, "too many records in one append");
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const ls_record *r = &records[i];
        if (r->type == 0 || r->type == LS_RECORD_TYPE_ZSTD_BATCH)
            return ls_err_set(err, LS_E_INVALID, EINVAL, NULL, "record %zu has type %u (reserved; use 1...254)", i,
                              r->type);
        if (r->key_len > LS_RECORD_MAX_KEY)
            return ls_err_set(err, LS_E_TOO_LARGE, E2BIG, NULL, "record %zu: key of %u bytes exceeds %u", i, r->key_len,
                              LS_RECORD_MAX_KEY);
        if ((r->key_len && !r->key) || (r->value_len && !r->value))
            return ls_err_set(err, LS_E_INVALID, EINVAL, NULL, "record %zu: null key or value with a length", i);
        total += ls_record_encoded_size(r->key_len, r->value_len);
    }
    if (total > limit)
        return ls_err_set(err, LS_E_TOO_LARGE, E2BIG, NULL,
                          "append of %llu encoded bytes exceeds %llu (what one frame in a segment can hold; "
                          "raise the segment size)",
                          (unsigned long long)total, (unsigned long long)limit);
    *raw = total;
    return LS_OK;
}

/* Allocates an op with room for `cap` payload bytes. */
static ls_op *op_alloc(size_t cap, size_t count, uint64_t raw) {
    ls_op *op = malloc(sizeof *op + cap);
    if (!op) return NULL;
    op->next = NULL;
    op->record_count = (uint32_t)count;
    op->raw_len = (uint32_t)raw;
    op->stored_len = (uint32_t)raw;
    op->frame_flags = 0;
    return op;
}

/*
 * Compresses the encoded records `plain` into a container record in op->payload.
 * Returns 1 if the container is smaller than the plain records, 0 if not (the caller
 * stores them plain), or a negative status.
 */
static int make_container(ls_log *log, const uint8_t *plain, uint64_t raw, size_t count, ls_op *op, size_t cap,
                          ls_error *err) {
    uint8_t *value = op->payload + LS_RECORD_HEADER_SIZE + LS_ZSTD_BATCH_KEY_SIZE;
    int zerr;
    size_t n = ls_compress(plain, (size_t)raw, value, cap - LS_RECORD_HEADER_SIZE - LS_ZSTD_BATCH_KEY_SIZE,
                           log->cfg.compress_level, &zerr);
    if (zerr) return ls_err_set(err, LS_E_COMPRESS, EINVAL, NULL, "zstd compression failed");
    size_t container = ls_record_encoded_size(LS_ZSTD_BATCH_KEY_SIZE, (uint32_t)n);
    if (n == 0 || container >= raw) return 0;
    uint8_t key[LS_ZSTD_BATCH_KEY_SIZE];
    ls_put_u32(key, (uint32_t)count);
    ls_put_u32(key + 4, (uint32_t)raw);
    /* zstd wrote the value in place, so only the header and key are filled in here
     * (ls_record_encode would copy the value onto itself). */
    uint8_t *out = op->payload;
    out[4] = LS_RECORD_TYPE_ZSTD_BATCH;
    out[5] = 0;
    ls_put_u16(out + 6, LS_ZSTD_BATCH_KEY_SIZE);
    ls_put_u32(out + 8, (uint32_t)n);
    memcpy(out + LS_RECORD_HEADER_SIZE, key, sizeof key);
    uint32_t crc = ls_crc32c_value(out + 4, container - 4);
    ls_put_u32(out, ls_crc32c_mask(crc));
    op->stored_len = (uint32_t)container;
    op->frame_flags = LS_FRAME_F_ZSTD;
    return 1;
}

/* Encodes (and, above the threshold, compresses into a container record) an append. */
static int make_op(ls_log *log, const ls_record *records, size_t count, uint64_t raw, ls_op **out, ls_error *err) {
    int compress = log->cfg.compress_min_bytes && raw >= log->cfg.compress_min_bytes;
    size_t cap = (size_t)raw;
    if (compress) {
        size_t container_cap = LS_RECORD_HEADER_SIZE + LS_ZSTD_BATCH_KEY_SIZE + ls_compress_bound((size_t)raw);
        if (container_cap > cap) cap = container_cap;
    }
    ls_op *op = op_alloc(cap, count, raw);
    if (!op) return ls_err_set(err, LS_E_NOMEM, ENOMEM, NULL, "out of memory");
    int rc = 0;
    if (compress) {
        uint8_t *plain = malloc((size_t)raw);
        if (!plain) rc = ls_err_set(err, LS_E_NOMEM, ENOMEM, NULL, "out of memory");
        else {
            ls_records_encode(records, count, plain);
            rc = make_container(log, plain, raw, count, op, cap, err);
            if (rc == 0) memcpy(op->payload, plain, (size_t)raw); /* did not shrink: store plain */
            free(plain);
        }
    } else {
        ls_records_encode(records, count, op->payload);
    }
    if (rc < 0) {
        free(op);
        return rc;
    }
    op->payload_crc = ls_crc32c_value(op->payload, op->stored_len);
    *out = op;
    return LS_OK;
}

int ls_log_encode(ls_log *log, const ls_record *records, size_t count, ls_op **out, ls_error *err) {
    if (log->cfg.read_only) return ls_err_set(err, LS_E_READ_ONLY, EROFS, log->dir, "the store was opened read-only");
    uint64_t raw;
    int rc = validate_records(records, count, ls_max_frame_body(log->cfg.segment_size), &raw, err);
    if (rc != LS_OK) return rc;
    return make_op(log, records, count, raw, out, err);
}

void ls_encoded_append_free(ls_op *op) { free(op); }

int ls_log_append(ls_log *log, const ls_record *records, size_t count, void *user, ls_error *err) {
    ls_op *op;
    int rc = ls_log_encode(log, records, count, &op, err);
    return rc == LS_OK ? ls_log_submit(log, op, user, err) : rc;
}

int ls_log_submit(ls_log *log, ls_op *op, void *user, ls_error *err) {
    op->user = user;
    op->next = NULL;
    pthread_mutex_lock(&log->mu);
    if (log->failed || log->closing) {
        int rc = log->failed ? LS_E_FAILED : LS_E_CLOSED;
        if (log->failed) {
            *err = log->failure;
            err->code = LS_E_FAILED;
            snprintf(err->message, sizeof err->message,
                     "the log is stopped (fail-stop) after an earlier failure; this append was not written. "
                     "That failure: %s", log->failure.message);
        } else {
            ls_err_set(err, LS_E_CLOSED, 0, log->dir, "the log is closed");
        }
        pthread_mutex_unlock(&log->mu);
        free(op);
        return rc;
    }
    if (log->q_tail) log->q_tail->next = op;
    else log->q_head = op;
    log->q_tail = op;
    log->q_count++;
    log->q_bytes += op->stored_len;
    if (++log->enq_total == log->ret_watch) log->ret_done_ns = ls_now_ns();
    if (log->writer_sleeping) {
        log->q_last_enqueue_ns = ls_now_ns();
        if (log->q_count >= log->writer_wants) pthread_cond_signal(&log->writer_cv);
    }
    pthread_mutex_unlock(&log->mu);
    /* The first append starts the preparation of the segment after the active one (a whole
     * segment of appends ahead of the first rotation). Not at open: recovery's replay runs
     * then, and the preparer's zero-filling would compete with it for CPU and disk. */
    if (!atomic_load_explicit(&log->prep_wanted, memory_order_relaxed) &&
        !atomic_exchange_explicit(&log->prep_wanted, 1, memory_order_relaxed))
        ls_writer_request_preparation(log);
    return LS_OK;
}

uint64_t ls_log_durable_lsn(const ls_log *log) {
    return atomic_load_explicit(&((ls_log *)log)->durable_lsn, memory_order_acquire);
}

int ls_log_failure(ls_log *log, ls_error *err) {
    pthread_mutex_lock(&log->mu);
    int failed = log->failed;
    if (failed && err) *err = log->failure;
    pthread_mutex_unlock(&log->mu);
    return failed;
}

void ls_log_stats_get(ls_log *log, ls_log_stats *s) {
#define LS_LOAD(f) atomic_load_explicit(&log->f, memory_order_relaxed)
    s->appends = LS_LOAD(st_appends);
    s->records = LS_LOAD(st_records);
    s->batches = LS_LOAD(st_batches);
    s->frames = LS_LOAD(st_frames);
    s->bytes_written = LS_LOAD(st_bytes);
    s->syncs = LS_LOAD(st_syncs);
    s->max_batch = LS_LOAD(st_max_batch);
    s->rotations = LS_LOAD(st_rotations);
    s->rotation_waits = LS_LOAD(st_rotation_waits);
    s->linger_waits = LS_LOAD(st_linger_waits);
    s->sync_ns = LS_LOAD(st_sync_ns);
    s->gather_ns = LS_LOAD(st_gather_ns);
    s->pipelined_batches = LS_LOAD(st_pipelined_batches);
    s->idle_spins = LS_LOAD(st_idle_spins);
    s->zero_fill_skips = LS_LOAD(st_zero_fill_skips);
    s->direct_zero_fills = LS_LOAD(st_direct_zero_fills);
    s->direct_writes = LS_LOAD(st_direct_writes);
    s->cache_releases = LS_LOAD(st_cache_releases);
    s->cache_release_failures = LS_LOAD(st_cache_release_failures);
    s->durable_lsn = ls_log_durable_lsn(log);
    s->backend = log->io->backend;
#undef LS_LOAD
}

int ls_log_close(ls_log *log, ls_log_stats *final_stats, ls_error *err) {
    if (!log) return LS_OK;
    if (log->cfg.read_only) { /* no writer, no seal to record, no marker */
        if (final_stats) ls_log_stats_get(log, final_stats);
        log_free(log);
        return LS_OK;
    }
    ls_writer_stop(log);
    int rc = LS_OK;
    /* A seal the preparer had no time to record (harmless if lost: the file has the seal). */
    if (!log->failed) rc = ls_writer_record_seal(log, err);
    if (final_stats) ls_log_stats_get(log, final_stats); /* with that seal's cache release */
    if (log->active_fd >= 0) {
        int crc = log->io->vt->close(log->io, log->active_fd);
        log->active_fd = -1;
        if (crc < 0 && !log->failed && rc == LS_OK)
            rc = ls_err_set(err, LS_E_IO, -crc, log->dir, "closing the active segment failed");
    }
    if (log->active_direct_fd >= 0) {
        int crc = log->io->vt->close(log->io, log->active_direct_fd);
        log->active_direct_fd = -1;
        if (crc < 0 && !log->failed && rc == LS_OK)
            rc = ls_err_set(err, LS_E_IO, -crc, log->dir, "closing the active segment's direct-I/O descriptor failed");
    }
    /* Only a clean close removes the marker: a failed log's next open should say so. */
    if (rc == LS_OK && !log->failed) rc = ls_marker_remove(log, err);
    log_free(log);
    return rc;
}

uint64_t ls_log_writer_id(const ls_log *log) { return log->writer_id; }

size_t ls_log_segment_list(ls_log *log, ls_segment_info *out, size_t cap) {
    pthread_mutex_lock(&log->seg_mu);
    size_t n = log->nsegs;
    for (size_t i = 0; i < n && i < cap; i++) {
        const ls_segment *s = &log->segs[i];
        ls_segment_info *o = &out[i];
        o->seq = s->seq;
        o->writer_id = s->writer_id;
        o->base_lsn = s->base_lsn;
        o->last_lsn = s->last_lsn;
        o->end = s->end;
        o->sealed = s->sealed;
        snprintf(o->path, sizeof o->path, "%s", s->path);
    }
    pthread_mutex_unlock(&log->seg_mu);
    return n;
}
