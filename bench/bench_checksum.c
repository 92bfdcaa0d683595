/*
 * bench_checksum: sl_csum_partial (64-bit accumulation) against
 * sl_csum_partial_ref (plain 16-bit loop) over 64 B, 1500 B and 64 KiB.
 *
 *   bench_checksum [seconds-per-run]      (default 0.3)
 *
 * For each size and implementation: calibrate a repeat count so one timed
 * run takes about `seconds-per-run`, time 5 such runs with
 * clock_gettime(CLOCK_MONOTONIC) and report the median as GB/s (10^9 bytes
 * per second); then the ratio fast/ref.  Before timing, both functions are
 * checked to give the same checksum on every length 0..2048 at every
 * alignment 0..7 and with several starting sums, and on each benchmark
 * buffer; any difference exits with status 1.
 *
 * The buffer is "clobbered" through an empty asm statement before each
 * call and the results are summed into a volatile sink, so the compiler
 * can neither hoist the (possibly inlined, with LTO) work out of the loop
 * nor drop it.
 */
#define _POSIX_C_SOURCE 200809L

#include <sluice/wire.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5

typedef uint32_t (*csum_fn)(const void *p, size_t len, uint32_t sum);

static volatile uint32_t sink;

/* Tell the compiler the bytes at p may have changed (and are read). */
static inline void clobber(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds for `iters` calls of f over buf[0..len-1]. */
static double time_run(csum_fn f, const uint8_t *buf, size_t len, uint64_t iters)
{
    uint32_t acc = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < iters; i++) {
        clobber(buf);
        acc += f(buf, len, 0);
    }
    double t1 = now_s();
    sink += acc;
    return t1 - t0;
}

/* Repeat count that makes one run last about `target` seconds. */
static uint64_t calibrate(csum_fn f, const uint8_t *buf, size_t len, double target)
{
    uint64_t iters = 1;
    for (;;) {
        double t = time_run(f, buf, len, iters);
        if (t >= target / 10.0 || iters >= (UINT64_C(1) << 40)) {
            double want = (double)iters * target / (t > 1e-9 ? t : 1e-9);
            return want < 1.0 ? 1 : (uint64_t)want;
        }
        iters *= 2;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median throughput in GB/s over RUNS runs. */
static double measure(csum_fn f, const uint8_t *buf, size_t len, double target)
{
    uint64_t iters = calibrate(f, buf, len, target);
    double gbps[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t = time_run(f, buf, len, iters);
        gbps[r] = (double)len * (double)iters / t / 1e9;
    }
    qsort(gbps, RUNS, sizeof gbps[0], cmp_double);
    return gbps[RUNS / 2];
}

/* Both implementations must give the same checksum. */
static int same(const uint8_t *p, size_t len, uint32_t init)
{
    uint16_t a = sl_csum_finish(sl_csum_partial(p, len, init));
    uint16_t b = sl_csum_finish(sl_csum_partial_ref(p, len, init));
    if (a != b) {
        fprintf(stderr, "MISMATCH: len %zu align %u init 0x%08x: fast 0x%04x ref 0x%04x\n", len,
                (unsigned)((uintptr_t)p & 7u), (unsigned)init, (unsigned)a, (unsigned)b);
        return 0;
    }
    return 1;
}

static int check_all(const uint8_t *buf, size_t cap)
{
    static const uint32_t inits[] = {0, 1, 0xffffu, 0x1234abcdu, 0xffffffffu};
    int ok = 1;
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 2048 && off + len <= cap; len++)
            for (size_t k = 0; k < sizeof inits / sizeof inits[0]; k++)
                ok &= same(buf + off, len, inits[k]);
    return ok;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {64, 1500, 65536};
    double target = 0.3;
    if (argc > 1) {
        target = strtod(argv[1], NULL);
        if (!(target > 0.0 && target < 60.0)) {
            fprintf(stderr, "usage: %s [seconds-per-run]\n", argv[0]);
            return 2;
        }
    }

    /* 64-byte aligned buffer with pseudo-random contents. */
    size_t cap = 65536 + 64;
    uint8_t *raw = malloc(cap + 64);
    if (raw == NULL)
        return 2;
    uint8_t *buf = raw + (64 - (uintptr_t)raw % 64) % 64;
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < cap; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)(x >> 24);
    }

    int ok = check_all(buf, cap);
    printf("check: lengths 0..2048 x alignments 0..7 x 5 start sums: %s\n",
           ok ? "fast == ref" : "MISMATCH");

    printf("%-8s %12s %12s %8s  %s\n", "size", "fast GB/s", "ref GB/s", "fast/ref", "same sum");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        int s = same(buf, len, 0);
        ok &= s;
        double fast = measure(sl_csum_partial, buf, len, target);
        double ref = measure(sl_csum_partial_ref, buf, len, target);
        printf("%-8zu %12.2f %12.2f %8.2f  %s\n", len, fast, ref, fast / ref, s ? "yes" : "NO");
        fflush(stdout);
    }

    free(raw);
    return ok ? 0 : 1;
}
