/* When the idle writer polls before it sleeps: include/ls_spin_policy.h. */
#include "ls_spin_policy.h"

int ls_spin_policy_should_poll(ls_spin_policy *policy) {
    if (policy->misses < LS_SPIN_MISS_LIMIT) return 1;
    if (++policy->skips < LS_SPIN_RETRY_EVERY) return 0;
    policy->skips = 0;
    return 1;
}

void ls_spin_policy_record(ls_spin_policy *policy, int found) {
    policy->misses = found ? 0 : policy->misses + 1;
}
