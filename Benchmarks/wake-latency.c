/*
 * How long waking a sleeping thread takes on this machine: the cost the group-commit writer
 * avoids by polling (ls_writer.c, "Waking early"; LogConfiguration.writerSpinMicroseconds).
 *
 * A signaller pinned to CPU 0 sleeps 200 µs (so every CPU is idle, as between a sync and the
 * next append), stamps the clock and signals a condition variable; a waiter pinned to CPU
 * `w` records how long after the stamp it runs. Printed: percentiles for the waiter on the
 * signaller's CPU and on CPU 1. On a VM whose idle vCPUs halt, the second is several times
 * the first.
 *
 *   cc -O2 -pthread -o /tmp/wake-latency Benchmarks/wake-latency.c && /tmp/wake-latency
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 3000, PAUSE_US = 200 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint64_t signalled_at; /* under mu; 0 once the waiter took it */
static int stop;
static uint64_t latencies[ROUNDS];
static int measured;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *waiter(void *arg) {
    if (pin(*(int *)arg) != 0) {
        fprintf(stderr, "cannot pin the waiter to CPU %d\n", *(int *)arg);
        exit(1);
    }
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!signalled_at && !stop) pthread_cond_wait(&cv, &mu);
        if (stop) break;
        uint64_t latency = now_ns() - signalled_at;
        signalled_at = 0;
        if (measured < ROUNDS) latencies[measured++] = latency;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void measure(int waiter_cpu) {
    pthread_t thread;
    measured = 0;
    stop = 0;
    if (pthread_create(&thread, NULL, waiter, &waiter_cpu) != 0) {
        fprintf(stderr, "cannot start the waiter\n");
        exit(1);
    }
    for (int i = 0; i < ROUNDS; i++) {
        usleep(PAUSE_US);
        pthread_mutex_lock(&mu);
        signalled_at = now_ns();
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    /* A signal that found the previous one not yet taken is not counted: fewer than ROUNDS. */
    qsort(latencies, (size_t)measured, sizeof latencies[0], by_value);
    printf("waiter on CPU %d (signaller on CPU 0): %d wake-ups, p10 %.1f  p50 %.1f  p90 %.1f  p99 %.1f us\n",
           waiter_cpu, measured, latencies[measured / 10] / 1e3, latencies[measured / 2] / 1e3,
           latencies[measured * 9 / 10] / 1e3, latencies[measured * 99 / 100] / 1e3);
}

int main(void) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "needs two CPUs\n");
        return 1;
    }
    if (pin(0) != 0) {
        fprintf(stderr, "cannot pin the signaller to CPU 0\n");
        return 1;
    }
    measure(0);
    measure(1);
    return 0;
}
