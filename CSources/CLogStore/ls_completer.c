/*
 * Completing appends: calling `on_complete` for every append of a written batch, in LSN
 * order.
 *
 * The writer completes a batch itself unless it pipelines (ls_writer.c): then it hands the
 * batch to the completer thread and starts the next batch's write at once, so the callers of
 * one batch are woken, run and come back while the next one syncs.
 *
 * Invariant: batches complete in the order they were written, whichever thread completes
 * them. The writer completes one itself only when the completer's ring is empty, i.e. every
 * batch handed over earlier has finished its completions (a batch leaves the ring only then).
 */
#include <stdlib.h>

#include "ls_internal.h"
#include "ls_tsan_handoff.h"

/* Runs the completions of one batch on the calling thread and frees its ops. */
static void complete_now(ls_log *log, ls_op *ops, const ls_batch_place *at, int status, int sys_errno,
                         const ls_error *error) {
    ls_append_result r = {.status = status, .sys_errno = sys_errno, .error = status == 0 ? NULL : error};
    if (status == 0) {
        r.first_lsn = at->first_lsn;
        r.segment_seq = at->seq;
        r.offset = at->body_off;
    }
    while (ops) {
        ls_op *next = ops->next;
        r.record_count = ops->record_count;
        r.in_container = (ops->frame_flags & LS_FRAME_F_ZSTD) != 0;
        ls_tsan_handoff_begin();
        log->cfg.on_complete(log->cfg.on_complete_ctx, ops->user, &r);
        ls_tsan_handoff_end();
        if (status == 0) {
            r.first_lsn += ops->record_count;
            r.offset += ops->stored_len;
        }
        free(ops);
        ops = next;
    }
}

static void *completer_main(void *arg) {
    ls_log *log = arg;
    pthread_setname_np(pthread_self(), "ls-complete");
    pthread_mutex_lock(&log->done_mu);
    for (;;) {
        while (log->done_count == 0 && !log->done_stop) pthread_cond_wait(&log->done_cv, &log->done_mu);
        if (log->done_count == 0) break; /* stopping, and everything handed over is complete */
        ls_done_batch b = log->done_ring[log->done_head];
        pthread_mutex_unlock(&log->done_mu);
        complete_now(log, b.ops, &b.at, b.status, b.sys_errno, b.error);
        free(b.error);
        pthread_mutex_lock(&log->done_mu);
        log->done_head = (log->done_head + 1) % LS_DONE_RING;
        log->done_count--;
            pthread_cond_signal(&log->done_room_cv);
    }
    pthread_mutex_unlock(&log->done_mu);
    return NULL;
}

void ls_complete_batch(ls_log *log, ls_op *ops, const ls_batch_place *at, int status, const ls_error *error,
                       int hand_off) {
    int sys_errno = status != 0 && error ? error->sys_errno : 0;
    ls_done_batch b = {.ops = ops, .status = status, .sys_errno = sys_errno};
    if (at) b.at = *at;
    pthread_mutex_lock(&log->done_mu);
    if (!hand_off && log->done_count == 0) {
        pthread_mutex_unlock(&log->done_mu);
        complete_now(log, ops, &b.at, status, sys_errno, error);
        return;
    }
    /* Queued behind earlier batches: the error must outlive the caller's. Failed batches are
     * rare; without memory for the copy, completions still get the status and errno. */
    if (status != 0 && error && (b.error = malloc(sizeof *b.error)) != NULL) *b.error = *error;
    while (log->done_count == LS_DONE_RING) pthread_cond_wait(&log->done_room_cv, &log->done_mu);
    log->done_ring[(log->done_head + log->done_count) % LS_DONE_RING] = b;
    log->done_count++;
    pthread_cond_signal(&log->done_cv);
    pthread_mutex_unlock(&log->done_mu);
}

int ls_completer_start(ls_log *log, ls_error *err) {
    if (log->cfg.pipelining == LS_PIPELINE_NEVER) return LS_OK; /* every batch completes inline */
    int rc = pthread_create(&log->completer_thread, NULL, completer_main, log);
    if (rc != 0) return ls_err_set(err, LS_E_IO, rc, NULL, "cannot start the completer thread");
    log->completer_started = 1;
    return LS_OK;
}

void ls_completer_stop(ls_log *log) {
    if (!log->completer_started) return;
    log->completer_started = 0;
    pthread_mutex_lock(&log->done_mu);
    log->done_stop = 1;
    pthread_cond_signal(&log->done_cv);
    pthread_mutex_unlock(&log->done_mu);
    pthread_join(log->completer_thread, NULL);
}
