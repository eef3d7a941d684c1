/*
 * Mutexes for short critical sections: glibc's adaptive kind, which spins briefly on
 * contention before it sleeps. The engine's locks guard queue pushes and counter updates of
 * well under a microsecond; a default mutex sleeps at once, and waking the sleeper costs the
 * holder a futex call and the sleeper two context switches, far more than the wait.
 */
#ifndef LS_MUTEX_H
#define LS_MUTEX_H

#include <pthread.h>

/* pthread_mutex_init of an adaptive mutex where the C library has them (a default one
 * elsewhere). Returns 0 or an errno value, as pthread_mutex_init does. */
int ls_mutex_init_adaptive(pthread_mutex_t *mutex);

#endif
