/*
 * The group-commit writer thread and the segment preparer thread.
 *
 * Appenders link encoded appends (ls_op) onto a queue under `mu`. The writer
 * takes what is queued, frames it (one frame per batch), writes it with one durable write (one
 * io_uring submission, or pwritev + fdatasync), publishes the durable LSN and
 * completes every append by callback. While it syncs, the next batch forms.
 *
 * Pipelining (choose_pipelining). With many appenders, waking a batch's callers and letting
 * them append again can take longer than a sync. The writer then hands each written batch to
 * the completer thread (ls_completer.c) and writes the next one at once, expecting half of the
 * appenders per batch: one half syncs while the other half comes back.
 *
 * Gathering policy. A plain "write as soon as anything is queued" loop wakes on
 * the first append after a sync and so writes a batch of the one or two
 * appenders that were quickest to come back, leaving the rest for the next
 * sync. Instead the writer expects as many appends as were in flight around
 * the last sync (the last batch plus what queued up during it) and waits for
 * that many, but never longer than `linger_max_us` in total and never longer
 * than a quarter of it since the last arrival. One appender therefore never
 * waits; sixteen are gathered into one fdatasync. Appenders signal the writer
 * only when the count it waits for is reached, not on every append.
 *
 * Waking early. A large batch is gathered asleep, but up to LS_POLL_MAX_TARGET the writer asks
 * to be woken LS_POLL_LAST_APPENDS appends before the count it expects and polls for the rest.
 * On a VM whose idle vCPUs halt, waking a thread on another vCPU takes 30-40 µs
 * (Benchmarks/wake-latency.c: a condition-variable signal to a thread sleeping on the other
 * vCPU, median 33-38 µs here, against 10-11 µs on the same one). Woken at the last arrival,
 * the writer added that to every cycle; woken early, the wake-up overlaps the last arrivals.
 *
 * Invariants:
 *  - Appends are written in queue order, and LSNs are assigned at write time,
 *    so LSN order is commit order and LSNs are dense.
 *  - durable_lsn only grows, and only after write_durable returned success for
 *    every byte up to it.
 *  - After a failed durable write, `failed` is set and nothing is written again
 *    (fail-stop, DESIGN §4.4).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_crc32c.h"
#include "ls_internal.h"

/* Pause between arrivals after which the writer stops waiting for more: a fraction of the
 * total linger, so a batch is not held back by an appender that is not coming. */
#define LS_LINGER_GAP_DIVISOR 4
/* Largest expected batch for which the writer polls instead of sleeping while it gathers. */
#define LS_SPIN_MAX_TARGET 32u
/* Least room left in a preallocated-only active segment for which the writer leaves it early
 * for a zero-filled one (write_batch): below it, the few syncs left are not worth a seal. It
 * also keeps small test segments' layouts independent of the preparer's timing. */
#define LS_LEAVE_UNWRITTEN_MIN_ROOM (4u << 20)
/* Mean bytes per sync from which new segments are only preallocated (zero_fill_next). Measured
 * (docs/FORMAT.md §10 note 8): at 68 KiB per commit zeros paid; from about 250 KiB the writer
 * waited for them. 1,000 Raft groups appending one entry each commit 45-100 KiB at a time. */
#define LS_ZERO_FILL_MAX_COMMIT (192u << 10)
/* Fewest appends in flight for which the writer pipelines (choose_pipelining): two halves of
 * fewer would each sync almost as slowly as the whole. */
#define LS_PIPELINE_MIN_APPENDS 8u
/* Appends before the expected count at which a writer gathering a large batch is woken to poll
 * for the rest (see "Waking early" above): about as many as arrive during a cross-vCPU wake-up. */
#define LS_POLL_LAST_APPENDS 32u
/* Largest expected batch the writer wakes early for. Hundreds of appenders keep every CPU busy:
 * a poller then takes CPU they need (1,000 Raft groups measured 20% slower) and a wake-up finds
 * the CPU awake anyway. */
#define LS_POLL_MAX_TARGET 128u
/* Pauses between the poller's looks at the clock; it yields the CPU once every so many looks
 * in case an appender it waits for is queued behind it on this CPU. */
#define LS_POLL_PAUSES_PER_LOOK 16u
#define LS_POLL_LOOKS_PER_YIELD 8u
/* Payload size from which the writer combines the caller's CRC instead of recomputing it. */
#define LS_COMBINE_MIN_BYTES 4096u

/*
 * Polls until q_count reaches `target` or `until_ns` passes, yielding the CPU between looks
 * so the appenders it waits for can run. Called without mu. Returns 1 if the target was met.
 */
static int spin_for(ls_log *log, uint32_t target, uint64_t until_ns) {
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&log->q_count, memory_order_relaxed) >= target) return 1;
        if ((i & 7) == 0 && ls_now_ns() >= until_ns) return 0;
        sched_yield();
    }
}

/*
 * Polls (without mu) until q_count reaches `target`, `until_ns` passes, or no append arrived
 * for `gap_ns`: the end of a gather the writer was woken early for. Pauses between looks
 * rather than yielding each time, so the writer is on the CPU when the last append arrives.
 */
static void poll_last_appends(ls_log *log, uint32_t target, uint64_t until_ns, uint64_t gap_ns) {
    uint32_t seen = atomic_load_explicit(&log->q_count, memory_order_relaxed);
    uint64_t last_arrival = ls_now_ns();
    for (unsigned looks = 1;; looks++) {
        for (unsigned i = 0; i < LS_POLL_PAUSES_PER_LOOK; i++) {
            if (atomic_load_explicit(&log->q_count, memory_order_relaxed) >= target) return;
            ls_cpu_relax();
        }
        uint32_t count = atomic_load_explicit(&log->q_count, memory_order_relaxed);
        uint64_t now = ls_now_ns();
        if (count != seen) {
            seen = count;
            last_arrival = now;
        }
        if (now >= until_ns || now >= last_arrival + gap_ns) return;
        if (looks % LS_POLL_LOOKS_PER_YIELD == 0) sched_yield();
    }
}

static void abs_deadline(struct timespec *ts, uint64_t deadline_ns) {
    ts->tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts->tv_nsec = (long)(deadline_ns % 1000000000u);
}

static void atomic_max(_Atomic uint64_t *a, uint64_t v) {
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (cur < v && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void ls_fail(ls_log *log, int code, int sys_errno, const char *path, const char *what) {
    pthread_mutex_lock(&log->mu);
    if (!log->failed) {
        log->failed = 1;
        ls_err_set(&log->failure, code, sys_errno, path, "%s", what);
    }
    pthread_mutex_unlock(&log->mu);
}

/* ---- gathering a batch (mu held) ---- */

/* Waits (mu held) until something is queued or the log closes: polls first when the spin
 * policy says so (include/ls_spin_policy.h), then sleeps. */
static void wait_for_appends(ls_log *log) {
    if (log->q_head || log->closing) return;
    if (log->cfg.spin_max_us && ls_spin_policy_should_poll(&log->idle_spin)) {
        atomic_fetch_add_explicit(&log->st_idle_spins, 1, memory_order_relaxed);
        pthread_mutex_unlock(&log->mu);
        int hit = spin_for(log, 1, ls_now_ns() + (uint64_t)log->cfg.spin_max_us * 1000u);
        pthread_mutex_lock(&log->mu);
        ls_spin_policy_record(&log->idle_spin, hit);
    }
    while (!log->q_head && !log->closing) {
        log->writer_sleeping = 1;
        log->writer_wants = 1;
        pthread_cond_wait(&log->writer_cv, &log->mu);
        log->writer_sleeping = 0;
    }
}

/* Waits (mu held) for the appends the writer expects, within the linger bounds. */
static void linger_for_expected(ls_log *log) {
    uint32_t expected = log->pipelined ? (log->expected_ops + 1) / 2 : log->expected_ops;
    uint32_t target = expected < log->cfg.commit_max_ops ? expected : log->cfg.commit_max_ops;
    if (log->cfg.linger_max_us == 0 || log->q_count >= target || log->closing) return;
    atomic_fetch_add_explicit(&log->st_linger_waits, 1, memory_order_relaxed);
    const uint64_t linger_ns = (uint64_t)log->cfg.linger_max_us * 1000u;
    const uint64_t gap_ns = linger_ns / LS_LINGER_GAP_DIVISOR;
    const uint64_t start = ls_now_ns();
    pthread_mutex_unlock(&log->mu);
    /* Polling pays while the expected appenders return within the poll window; a large
     * batch takes longer to gather, and the poller would only take CPU from the appenders.
     * Polled for at most the arrival gap: past it, the batch is written without them anyway. */
    uint64_t spin_ns = target <= LS_SPIN_MAX_TARGET && !log->pipelined ? (uint64_t)log->cfg.spin_max_us * 1000u : 0;
    if (spin_ns > gap_ns) spin_ns = gap_ns;
    int met = spin_ns && spin_for(log, target, start + spin_ns); /* gap_ns <= linger_ns */
    pthread_mutex_lock(&log->mu);
    if (met) return;
    log->q_last_enqueue_ns = ls_now_ns();
    const uint32_t wake_at =
        target > LS_POLL_LAST_APPENDS && target <= LS_POLL_MAX_TARGET ? target - LS_POLL_LAST_APPENDS : target;
    while (log->q_count < target && !log->closing) {
        uint64_t deadline = log->q_last_enqueue_ns + gap_ns;
        if (deadline > start + linger_ns) deadline = start + linger_ns;
        if (ls_now_ns() >= deadline) break;
        if (log->q_count >= wake_at) {
            pthread_mutex_unlock(&log->mu);
            poll_last_appends(log, target, start + linger_ns, gap_ns);
            pthread_mutex_lock(&log->mu);
            return;
        }
        struct timespec ts;
        abs_deadline(&ts, deadline);
        log->writer_sleeping = 1;
        log->writer_wants = wake_at;
        pthread_cond_timedwait(&log->writer_cv, &log->mu, &ts);
        log->writer_sleeping = 0;
    }
}

/* Detaches up to the caps from the queue, at least one append. */
static ls_op *take_batch(ls_log *log, uint32_t *count) {
    ls_op *head = log->q_head, *last = head;
    uint32_t n = 1;
    uint64_t bytes = head->stored_len, raw = head->raw_len, records = head->record_count;
    /* The frame header counts records and expanded bytes in u32s: containers could overflow them. */
    while (last->next && n < log->cfg.commit_max_ops && bytes + last->next->stored_len <= log->cfg.commit_max_bytes &&
           raw + last->next->raw_len <= UINT32_MAX && records + last->next->record_count <= UINT32_MAX) {
        last = last->next;
        bytes += last->stored_len;
        raw += last->raw_len;
        records += last->record_count;
        n++;
    }
    log->q_head = last->next;
    if (!log->q_head) log->q_tail = NULL;
    last->next = NULL;
    log->q_count -= n;
    log->q_bytes -= bytes;
    *count = n;
    return head;
}

/* Returns the next batch, or NULL when closing and nothing is left. */
static ls_op *gather(ls_log *log, uint32_t *count) {
    pthread_mutex_lock(&log->mu);
    wait_for_appends(log);
    ls_op *batch = NULL;
    if (log->q_head) {
        linger_for_expected(log);
        batch = take_batch(log, count);
    }
    pthread_mutex_unlock(&log->mu);
    return batch;
}

/* ---- the preparer thread ---- */

/*
 * Records the seal of the segment the writer rotated away from (SEGMENT_SEAL), off the
 * append path. The seal frame in the file is already durable; this event only lets
 * recovery check the file against it, so losing it in a crash is harmless.
 */
int ls_writer_record_seal(ls_log *log, ls_error *err) {
    pthread_mutex_lock(&log->prep_mu);
    ls_pending_seal ps = log->pending_seal;
    log->pending_seal.pending = 0;
    pthread_mutex_unlock(&log->prep_mu);
    if (!ps.pending) return LS_OK;
    /* Its data and seal are durable, so its pages are clean: release them now (past the
     * budget), and the next segment's zero-fill reuses them. */
    ls_sealed_cache_note(log, ps.seq, ps.end + LS_SEAL_FRAME_SIZE);
    ls_mf_event ev = {.type = LS_MF_SEGMENT_SEAL, .a = ps.seq, .b = ps.last_lsn, .c = ps.end};
    return ls_manifest_append(&log->manifest, &ev, 1, err);
}

/* A failed manifest write leaves its state unknown: stop the log (DESIGN §4.4). */
static void fail_on_manifest(ls_log *log) {
    ls_error e;
    if (ls_manifest_failed(&log->manifest, &e)) ls_fail(log, LS_E_IO, e.sys_errno, e.path, e.message);
}

/*
 * Whether to zero-fill the next segment. The zeros cost as much disk bandwidth as the data;
 * they pay back in cheaper syncs only while commits are small. Past LS_ZERO_FILL_MAX_COMMIT
 * bytes per sync on average since the last preparation, zero-filling made the writer wait for
 * the preparer at most rotations (docs/FORMAT.md §6.1, §10 note 8), so the segment is only
 * preallocated. Preparer thread only.
 */
static int zero_fill_next(ls_log *log) {
    if (log->cfg.no_prewrite) return 0;
    uint64_t bytes = atomic_load_explicit(&log->st_bytes, memory_order_relaxed);
    uint64_t syncs = atomic_load_explicit(&log->st_syncs, memory_order_relaxed);
    uint64_t new_bytes = bytes - log->prep_seen_bytes, new_syncs = syncs - log->prep_seen_syncs;
    log->prep_seen_bytes = bytes;
    log->prep_seen_syncs = syncs;
    if (new_syncs == 0 || new_bytes / new_syncs < LS_ZERO_FILL_MAX_COMMIT) return 1;
    atomic_fetch_add_explicit(&log->st_zero_fill_skips, 1, memory_order_relaxed);
    return 0;
}

static void *preparer_main(void *arg) {
    ls_log *log = arg;
    pthread_setname_np(pthread_self(), "ls-prepare");
    pthread_mutex_lock(&log->prep_mu);
    for (;;) {
        while (log->prep_state != LS_PREP_REQUESTED && !log->prep_stop) pthread_cond_wait(&log->prep_cv, &log->prep_mu);
        if (log->prep_stop) break;
        uint64_t seq = log->prep_next_seq;
        pthread_mutex_unlock(&log->prep_mu);
        ls_prepared p;
        ls_error e;
        int rc = ls_writer_record_seal(log, &e);
        if (rc == LS_OK) rc = ls_segment_prepare(log, seq, zero_fill_next(log), &p, &e);
        if (rc != LS_OK) fail_on_manifest(log);
        pthread_mutex_lock(&log->prep_mu);
        if (rc == LS_OK) {
            log->prepared = p;
            log->prep_state = LS_PREP_READY;
            log->prep_next_seq = seq + 1;
        } else {
            log->prep_error = e;
            log->prep_state = LS_PREP_FAILED;
        }
        pthread_cond_broadcast(&log->prep_cv);
    }
    pthread_mutex_unlock(&log->prep_mu);
    return NULL;
}

void ls_writer_request_preparation(ls_log *log) {
    pthread_mutex_lock(&log->prep_mu);
    if (log->prep_state == LS_PREP_IDLE) {
        log->prep_state = LS_PREP_REQUESTED;
        pthread_cond_broadcast(&log->prep_cv);
    }
    pthread_mutex_unlock(&log->prep_mu);
}

/* True if the preparer has a zero-filled segment ready (taking it would not wait). */
static int zero_filled_ready(ls_log *log) {
    pthread_mutex_lock(&log->prep_mu);
    int ready = log->prep_state == LS_PREP_READY && log->prepared.zero_filled;
    pthread_mutex_unlock(&log->prep_mu);
    return ready;
}

/* Takes the prepared segment, waiting for the preparer if needed. */
static int take_prepared(ls_log *log, ls_prepared *out, ls_error *err) {
    pthread_mutex_lock(&log->prep_mu);
    if (log->prep_state == LS_PREP_IDLE || log->prep_state == LS_PREP_FAILED) {
        log->prep_state = LS_PREP_REQUESTED; /* a failed preparation is retried here */
        pthread_cond_broadcast(&log->prep_cv);
    }
    if (log->prep_state == LS_PREP_REQUESTED) atomic_fetch_add_explicit(&log->st_rotation_waits, 1, memory_order_relaxed);
    while (log->prep_state == LS_PREP_REQUESTED) pthread_cond_wait(&log->prep_cv, &log->prep_mu);
    int rc = LS_OK;
    if (log->prep_state == LS_PREP_READY) {
        *out = log->prepared;
    } else {
        *err = log->prep_error;
        rc = err->code;
    }
    log->prep_state = LS_PREP_IDLE;
    pthread_mutex_unlock(&log->prep_mu);
    return rc;
}

/* ---- writing ---- */

static void segment_list_update(ls_log *log, uint64_t seq, uint64_t last_lsn, uint64_t end, int sealed) {
    pthread_mutex_lock(&log->seg_mu);
    for (size_t i = log->nsegs; i-- > 0;) {
        if (log->segs[i].seq == seq) {
            log->segs[i].last_lsn = last_lsn;
            log->segs[i].end = end;
            log->segs[i].sealed = sealed;
            break;
        }
    }
    pthread_mutex_unlock(&log->seg_mu);
}

/* Grows the batch buffer to `need` bytes, page-aligned as direct I/O requires (its content is not
 * kept: every write builds it anew). */
static int ensure_batch_buf(ls_log *log, size_t need) {
    if (need <= log->batch_cap) return 0;
    size_t cap = log->batch_cap ? log->batch_cap : 64 * 1024;
    while (cap < need) cap *= 2;
    void *b = NULL;
    if (posix_memalign(&b, log->page_size, cap) != 0) return -ENOMEM;
    free(log->batch_buf);
    log->batch_buf = b;
    log->batch_cap = cap;
    return 0;
}

/*
 * The length of a durable write of `len` bytes at `off`, extended with zeros to the next page
 * boundary (at most to the segment's end). The writer only appends to segments that were empty
 * when this process took them (prepared, or an adopted spare), so the bytes past the active
 * offset were never written: zeros, or preallocated blocks that read as zeros. The padding
 * changes nothing on disk; it makes the write cover its last page whole. A direct write must end
 * on a block boundary. A write through the page cache that ends inside a page the cache does not
 * hold makes the kernel read that page from disk first, and direct zero-fills (ls_segment.c) leave
 * none of a new segment's pages cached; the next such write starts inside the page this one left
 * cached.
 */
static size_t page_padded_length(const ls_log *log, uint64_t off, size_t len) {
    uint64_t end = off + len;
    uint64_t padded_end = (end + log->page_size - 1) / log->page_size * log->page_size;
    if (padded_end > log->cfg.segment_size) padded_end = log->cfg.segment_size;
    return (size_t)(padded_end > end ? padded_end - off : len);
}

/*
 * Where the next write's new bytes go in the batch buffer. A direct write must start on a block
 * boundary, so it starts at the page that holds active_off and carries that page's bytes before
 * active_off first (a copy kept in active_tail), rewriting them unchanged, as write-back of the
 * page cache does with a partly written page. A write through the cache starts at active_off.
 */
static size_t active_lead(const ls_log *log) {
    return log->active_direct_fd >= 0 ? (size_t)(log->active_off % log->page_size) : 0;
}

/*
 * Writes the `len` bytes at batch_buf + active_lead() to the active segment at active_off and
 * makes them durable: one durable write, from the start of active_off's page when writing
 * directly, padded with zeros to the next page boundary (page_padded_length). The buffer must hold
 * active_lead() + len + page_size bytes. Does not move active_off. Returns 0 or -errno.
 */
static int write_active(ls_log *log, size_t len) {
    const uint64_t off = log->active_off;
    const size_t lead = active_lead(log);
    const size_t padded = page_padded_length(log, off, len);
    memset(log->batch_buf + lead + len, 0, padded - len);
    const int direct = log->active_direct_fd >= 0;
    if (direct) memcpy(log->batch_buf, log->active_tail, lead);
    struct iovec iov = {log->batch_buf, lead + padded};
    uint64_t t0 = ls_now_ns();
    int rc = log->io->vt->write_durable(log->io, direct ? log->active_direct_fd : log->active_fd, &iov, 1,
                                        (off_t)(off - lead));
    atomic_fetch_add_explicit(&log->st_sync_ns, ls_now_ns() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->st_syncs, 1, memory_order_relaxed);
    if (rc == 0 && direct) {
        atomic_fetch_add_explicit(&log->st_direct_writes, 1, memory_order_relaxed);
        size_t end = lead + len, page_start = end - end % log->page_size;
        memcpy(log->active_tail, log->batch_buf + page_start, end - page_start);
    }
    return rc;
}

/* Seals the active segment and switches to the prepared one. */
static int rotate(ls_log *log, ls_error *err) {
    if (log->active_header_written && ensure_batch_buf(log, active_lead(log) + LS_SEAL_FRAME_SIZE + log->page_size) < 0)
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, NULL, "out of memory for a seal (nothing was written)");
    ls_prepared next;
    int rc = take_prepared(log, &next, err);
    if (rc != LS_OK) return rc; /* nothing was written: the log stays usable */
    if (log->active_header_written) {
        uint64_t last = log->next_lsn - 1;
        ls_segment_encode_seal(log->batch_buf + active_lead(log), log->active_seq, last, log->active_off);
        int wrc = write_active(log, LS_SEAL_FRAME_SIZE);
        if (wrc < 0) {
            char path[LS_PATH_MAX];
            ls_segment_path(path, sizeof path, log->seg_dir, log->writer_id, log->active_seq);
            log->io->vt->close(log->io, next.fd);
            if (next.direct_fd >= 0) log->io->vt->close(log->io, next.direct_fd);
            ls_err_set_at(err, LS_E_UNKNOWN_OUTCOME, -wrc, path, log->active_off, "sealing the segment failed");
            return LS_E_UNKNOWN_OUTCOME;
        }
        segment_list_update(log, log->active_seq, last, log->active_off, 1);
        atomic_fetch_add_explicit(&log->st_rotations, 1, memory_order_relaxed);
        /* The preparer records it in the manifest (ls_writer_request_preparation below wakes it). */
        pthread_mutex_lock(&log->prep_mu);
        log->pending_seal = (ls_pending_seal){1, log->active_seq, last, log->active_off};
        pthread_mutex_unlock(&log->prep_mu);
    } else {
        /* The active file was never used; the next open removes it. */
    }
    log->io->vt->close(log->io, log->active_fd);
    if (log->active_direct_fd >= 0) log->io->vt->close(log->io, log->active_direct_fd);
    log->active_fd = next.fd;
    log->active_direct_fd = next.direct_fd;
    log->active_seq = next.seq;
    log->active_off = 0;
    log->active_header_written = 0;
    log->active_unwritten = !next.zero_filled; /* left early once a zero-filled one is ready */
    ls_writer_request_preparation(log);
    return LS_OK;
}

/* Emits the batch's one frame at out: header + every payload + padding. Returns bytes used. */
static size_t emit_frame(uint8_t *out, const ls_op *ops, uint64_t first_lsn, uint64_t seq, uint64_t *records) {
    ls_frame_header h = {.first_lsn = first_lsn, .segment_seq = seq};
    uint32_t crc = 0;
    uint8_t *p = out + LS_FRAME_HEADER_SIZE;
    for (const ls_op *op = ops; op; op = op->next) {
        memcpy(p, op->payload, op->stored_len);
        /* Re-reading a small payload (tens of GB/s) is cheaper than combining CRCs (a few
         * dozen carry-less steps); a large one is combined from the caller's CRC. */
        crc = op->stored_len < LS_COMBINE_MIN_BYTES ? ls_crc32c_extend(crc, p, op->stored_len)
                                                    : ls_crc32c_combine(crc, op->payload_crc, op->stored_len);
        p += op->stored_len;
        h.stored_len += op->stored_len;
        h.raw_len += op->raw_len;
        h.record_count += op->record_count;
        h.flags |= op->frame_flags;
    }
    ls_frame_header_encode(&h, crc, out);
    size_t used = (size_t)ls_frame_disk_size(h.stored_len);
    memset(p, 0, used - (size_t)(p - out)); /* padding */
    *records = h.record_count;
    return used;
}

static uint64_t batch_body_size(const ls_op *ops) {
    uint64_t n = 0;
    for (const ls_op *op = ops; op; op = op->next) n += op->stored_len;
    return n;
}

/*
 * Writes the batch as one frame with one durable write, rotating first if it does not fit.
 * Invariant: a batch always fits an empty segment (take_batch caps it at commit_max_bytes,
 * which open clamps to what a segment's frame can hold; a single append is checked against
 * that bound at ls_log_append).
 */
static int write_batch(ls_log *log, ls_op *ops, uint32_t count, ls_batch_place *at, ls_error *err) {
    uint64_t frame_size = ls_frame_disk_size((uint32_t)batch_body_size(ops));
    uint64_t header = log->active_header_written ? 0 : LS_SEGMENT_HEADER_SIZE;
    /* An fdatasync into a preallocated-only segment also converts its unwritten extents, which
     * measured 50% slower than into zero-filled blocks: leave it once a zero-filled one is ready. */
    int leave_unwritten = log->active_unwritten && log->active_header_written &&
                          log->cfg.segment_size - log->active_off >= LS_LEAVE_UNWRITTEN_MIN_ROOM && zero_filled_ready(log);
    if (leave_unwritten || log->active_off + header + frame_size + LS_SEAL_FRAME_SIZE > log->cfg.segment_size) {
        if (!log->active_header_written)
            return ls_err_set(err, LS_E_TOO_LARGE, E2BIG, NULL, "batch larger than an empty segment (a bug)");
        int rc = rotate(log, err);
        if (rc != LS_OK) return rc;
        header = LS_SEGMENT_HEADER_SIZE;
    }
    const size_t lead = active_lead(log);
    if (ensure_batch_buf(log, lead + (size_t)(header + frame_size) + log->page_size) < 0 ||
        (header && ls_log_reserve_segment(log) < 0))
        return ls_err_set(err, LS_E_NOMEM, ENOMEM, NULL, "out of memory for a batch (nothing was written)");
    at->first_lsn = log->next_lsn;
    at->seq = log->active_seq;
    at->body_off = log->active_off + header + LS_FRAME_HEADER_SIZE;
    if (header) {
        ls_segment_header sh = {LS_FORMAT_VERSION, log->writer_id, log->active_seq, log->next_lsn, log->cfg.segment_size};
        ls_segment_header_encode(&sh, log->batch_buf + lead);
    }
    uint64_t records;
    size_t len =
        (size_t)header + emit_frame(log->batch_buf + lead + header, ops, log->next_lsn, log->active_seq, &records);
    uint64_t off = log->active_off;
    int rc = write_active(log, len);
    char path[LS_PATH_MAX];
    ls_segment_path(path, sizeof path, log->seg_dir, log->writer_id, log->active_seq);
    if (rc < 0) {
        return ls_err_set_at(err, LS_E_UNKNOWN_OUTCOME, -rc, path, off + header,
                             "durable write failed: the outcome of this batch is unknown; the log is stopped "
                             "(fail-stop) and must be reopened");
    }
    if (header) {
        ls_segment s = {.seq = log->active_seq, .writer_id = log->writer_id, .base_lsn = log->next_lsn};
        memcpy(s.path, path, sizeof s.path);
        ls_log_add_segment(log, &s); /* cannot fail: room was reserved before the write */
        log->active_header_written = 1;
    }
    log->next_lsn += records;
    log->active_off = off + len;
    segment_list_update(log, log->active_seq, log->next_lsn - 1, log->active_off, 0);
    atomic_store_explicit(&log->durable_lsn, log->next_lsn - 1, memory_order_release);
    atomic_fetch_add_explicit(&log->st_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->st_frames, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->st_appends, count, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->st_records, records, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->st_bytes, len - header, memory_order_relaxed);
    atomic_max(&log->st_max_batch, count);
    return LS_OK;
}

/* ---- pipelining ---- */

/*
 * Whether to pipeline (mu held, after each written batch).
 *
 * Without pipelining the writer completes a batch itself and then gathers the next one, so a
 * cycle is the sync plus the time the batch's appenders need to be woken, run and append
 * again (their return time). With it, the completer thread completes the batch while the
 * writer already writes the next one, and the appenders split into two halves that take
 * turns: one syncs while the other returns. That pays when the return time is longer than a
 * sync; with few appenders it only adds a thread hop to every round trip.
 *
 * The return time of a batch is measured from the end of its write until as many appends as
 * it had have arrived (ls_log_append stamps ret_done_ns); if they have not all arrived by the
 * end of the next write, that time is taken as a lower bound.
 */
static void choose_pipelining(ls_log *log, uint32_t count, uint64_t sync_ns, uint64_t now) {
    if (log->cfg.pipelining != LS_PIPELINE_AUTO) {
        /* Fixed by the configuration: nothing to measure (ret_watch stays 0, so appenders
         * never stamp a return time). */
        log->pipelined = log->cfg.pipelining == LS_PIPELINE_ALWAYS;
        return;
    }
    log->sync_avg_ns = log->sync_avg_ns ? (log->sync_avg_ns * 7 + sync_ns) / 8 : sync_ns;
    if (log->ret_watch) {
        uint64_t back = log->ret_done_ns ? log->ret_done_ns - log->ret_from_ns : now - log->ret_from_ns;
        /* A half-size batch returns in about half the time of the whole group. */
        if (log->pipelined) back *= 2;
        log->return_avg_ns = log->return_avg_ns ? (log->return_avg_ns * 7 + back) / 8 : back;
    }
    log->ret_watch = log->enq_total + count;
    log->ret_from_ns = now;
    log->ret_done_ns = 0;
    log->pipelined = log->expected_ops >= LS_PIPELINE_MIN_APPENDS && log->return_avg_ns > log->sync_avg_ns;
}

static void *writer_main(void *arg) {
    ls_log *log = arg;
    pthread_setname_np(pthread_self(), "ls-writer");
    for (;;) {
        uint32_t count = 0;
        uint64_t t0 = ls_now_ns();
        ls_op *batch = gather(log, &count);
        if (!batch) break;
        /* Idle time (nothing queued, nothing expected) is not gathering: count from the moment
         * the writer had reason to wait, approximated by skipping waits for a first append. */
        if (log->expected_ops > 1) atomic_fetch_add_explicit(&log->st_gather_ns, ls_now_ns() - t0, memory_order_relaxed);
        pthread_mutex_lock(&log->mu);
        int failed = log->failed;
        ls_error failure = log->failure;
        pthread_mutex_unlock(&log->mu);
        if (failed) {
            ls_complete_batch(log, batch, NULL, LS_E_FAILED, &failure, 0);
            continue;
        }
        ls_error err;
        err.sys_errno = 0; /* every failure sets the rest; an empty message stays safe to read */
        err.path[0] = err.message[0] = '\0';
        err.has_offset = 0;
        ls_batch_place at = {0};
        uint64_t sync_start = ls_now_ns();
        int rc = write_batch(log, batch, count, &at, &err);
        uint64_t sync_end = ls_now_ns();
        if (rc == LS_E_UNKNOWN_OUTCOME) {
            ls_fail(log, rc, err.sys_errno, err.path, err.message);
        }
        /* Expect the appenders of this batch back, plus those that queued meanwhile. */
        pthread_mutex_lock(&log->mu);
        log->expected_ops = count + log->q_count;
        choose_pipelining(log, count, sync_end - sync_start, sync_end);
        int hand_off = log->pipelined && rc == LS_OK;
        pthread_mutex_unlock(&log->mu);
        if (hand_off) atomic_fetch_add_explicit(&log->st_pipelined_batches, 1, memory_order_relaxed);
        ls_complete_batch(log, batch, &at, rc, rc == LS_OK ? NULL : &err, hand_off);
    }
    return NULL;
}

int ls_writer_start(ls_log *log, ls_error *err) {
    int rc = ls_completer_start(log, err);
    if (rc != LS_OK) return rc;
    rc = pthread_create(&log->prep_thread, NULL, preparer_main, log);
    if (rc != 0) {
        ls_completer_stop(log);
        return ls_err_set(err, LS_E_IO, rc, NULL, "cannot start the segment preparer thread");
    }
    rc = pthread_create(&log->writer_thread, NULL, writer_main, log);
    if (rc != 0) {
        pthread_mutex_lock(&log->prep_mu);
        log->prep_stop = 1;
        pthread_cond_broadcast(&log->prep_cv);
        pthread_mutex_unlock(&log->prep_mu);
        pthread_join(log->prep_thread, NULL);
        ls_completer_stop(log);
        return ls_err_set(err, LS_E_IO, rc, NULL, "cannot start the writer thread");
    }
    log->threads_started = 1;
    /* The preparer is asked for the next segment by the first append (ls_log_append), not
     * here: open is followed by the replay of the log into indexes, and zero-filling a segment
     * meanwhile would take CPU and disk from it. */
    return LS_OK;
}

void ls_writer_stop(ls_log *log) {
    if (!log->threads_started) return;
    pthread_mutex_lock(&log->mu);
    log->closing = 1;
    pthread_cond_broadcast(&log->writer_cv);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->writer_thread, NULL);
    ls_completer_stop(log); /* after the writer: it completes what the writer handed over */
    pthread_mutex_lock(&log->prep_mu);
    log->prep_stop = 1;
    pthread_cond_broadcast(&log->prep_cv);
    pthread_mutex_unlock(&log->prep_mu);
    pthread_join(log->prep_thread, NULL);
    log->threads_started = 0;
}
