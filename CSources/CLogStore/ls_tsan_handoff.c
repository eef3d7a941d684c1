/* The completion hand-off as ThreadSanitizer sees it: see ls_tsan_handoff.h. */
#include "ls_tsan_handoff.h"

#if defined(__SANITIZE_THREAD__)
#define LS_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LS_TSAN_BUILD 1
#endif
#endif

#ifdef LS_TSAN_BUILD
#include <pthread.h>

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;

void ls_tsan_handoff_begin(void) { pthread_mutex_lock(&handoff); }
void ls_tsan_handoff_end(void) { pthread_mutex_unlock(&handoff); }
void ls_tsan_handoff_received(void) {
    pthread_mutex_lock(&handoff);
    pthread_mutex_unlock(&handoff);
}
int ls_tsan_handoff_enabled(void) { return 1; }
#else
void ls_tsan_handoff_begin(void) {}
void ls_tsan_handoff_end(void) {}
void ls_tsan_handoff_received(void) {}
int ls_tsan_handoff_enabled(void) { return 0; }
#endif
