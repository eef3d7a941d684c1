/*
 * When the idle group-commit writer polls for the next append before it sleeps.
 *
 * Polling pays while appenders come back within the poll window (LogConfiguration's
 * writerSpinMicroseconds): the writer is on the CPU when the append arrives, instead of being
 * woken, which costs tens of microseconds on a VM. An appender that comes back later only costs
 * the writer a window of CPU each time. So after LS_SPIN_MISS_LIMIT polls in a row that ended
 * empty the writer stops polling, and tries again once every LS_SPIN_RETRY_EVERY waits; a poll
 * that finds an append makes it poll at every wait again.
 */
#ifndef LS_SPIN_POLICY_H
#define LS_SPIN_POLICY_H

#include <stdint.h>

#define LS_SPIN_MISS_LIMIT 4u
#define LS_SPIN_RETRY_EVERY 16u

/* The policy's state: zero-initialized polls at the first wait. */
typedef struct ls_spin_policy {
    uint32_t misses; /* polls in a row that ended without an append */
    uint32_t skips;  /* waits slept through since polling was given up */
} ls_spin_policy;

/* Whether to poll before this wait. */
int ls_spin_policy_should_poll(ls_spin_policy *policy);

/* Records what a poll found: `found` nonzero if an append arrived within the window. */
void ls_spin_policy_record(ls_spin_policy *policy, int found);

#endif
