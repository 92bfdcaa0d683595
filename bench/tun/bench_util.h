/*
 * Small helpers shared by the TUN benchmark programs (tun_client,
 * tun_sink, lwip_tun): a monotonic clock in seconds and a bounded number
 * parser for their options.  Header-only; each program includes it once.
 */
#ifndef SL_BENCH_UTIL_H
#define SL_BENCH_UTIL_H

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* s as a number in [lo, hi] (the whole string), into *out. */
static inline bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

#endif
