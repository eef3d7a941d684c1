/*
 * Tells ThreadSanitizer that a task resumed by the log's completing thread runs after that
 * thread's resume. Only a TSan build does anything here; elsewhere the three calls are empty.
 *
 * Why: the completing thread resumes an append's continuation while the awaiting task may not
 * have suspended yet. The Swift runtime then lets the task go on at once, on its own thread,
 * ordered by an atomic in libswift_Concurrency.so, which TSan does not see (docs/TESTING.md,
 * "Suppressions"). TSan would report every later access of the task to memory the resumer read,
 * such as its async frames once reused. So the completing thread holds one mutex while it
 * completes an append (ls_tsan_handoff_begin/end, in ls_completer.c), and the task locks and
 * unlocks it right after its await returns (ls_tsan_handoff_received, called by the Swift
 * module's withCompletionContinuation): the mutex, which TSan
 * sees, orders the resumer's accesses before the task's.
 */
#ifndef LS_TSAN_HANDOFF_H
#define LS_TSAN_HANDOFF_H

/* The completing thread, before it completes (and resumes) an append. */
void ls_tsan_handoff_begin(void);
/* The completing thread, once that completion returned. */
void ls_tsan_handoff_end(void);
/* A task, first thing after an await the completing thread resumes. */
void ls_tsan_handoff_received(void);
/* 1 in a ThreadSanitizer build (the three calls synchronize), else 0. */
int ls_tsan_handoff_enabled(void);

#endif
