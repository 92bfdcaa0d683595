/*
 * Helpers shared by the unit suites in tests/unit/ (header-only, all
 * static inline so every suite stays a single translation unit):
 *
 *   - a seeded PRNG (splitmix64) so "random" data is reproducible;
 *   - a byte builder for hand-assembling packets field by field;
 *   - poison-buffer helpers for the emitter tests;
 *   - a guard-page truncation sweep for the parser tests.
 */
#ifndef SL_UNIT_UTIL_H
#define SL_UNIT_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "sluice/wire.h"

/* ---- PRNG ------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint32_t rng_u32(rng *r)
{
    return (uint32_t)(rng_next(r) >> 32);
}

static inline uint16_t rng_u16(rng *r)
{
    return (uint16_t)(rng_next(r) >> 48);
}

static inline void rng_fill(rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next(r) >> 56);
}

/* ---- byte builder ----------------------------------------------------- */

typedef struct bb {
    uint8_t *b;
    size_t n;
    size_t cap;
} bb;

static inline bb bb_make(uint8_t *buf, size_t cap)
{
    bb x = {buf, 0, cap};
    return x;
}

static inline void bb_u8(bb *x, unsigned v)
{
    ck_assert_uint_lt(x->n, x->cap);
    x->b[x->n++] = (uint8_t)v;
}

static inline void bb_u16(bb *x, unsigned v)
{
    bb_u8(x, (v >> 8) & 0xffu);
    bb_u8(x, v & 0xffu);
}

static inline void bb_u32(bb *x, uint32_t v)
{
    bb_u16(x, (unsigned)(v >> 16));
    bb_u16(x, (unsigned)(v & 0xffffu));
}

static inline void bb_mem(bb *x, const void *p, size_t n)
{
    ck_assert_uint_le(n, x->cap - x->n);
    if (n > 0)
        memcpy(x->b + x->n, p, n);
    x->n += n;
}

/* n bytes of a recognisable, zero-free pattern starting at `seed`. */
static inline void bb_pattern(bb *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        bb_u8(x, (unsigned)(((seed + i) % 250u) + 1u));
}

static inline void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(((seed + i) % 250u) + 1u);
}

/* ---- poison ----------------------------------------------------------- */

#define POISON 0xA5u

static inline void poison(uint8_t *p, size_t n)
{
    memset(p, (int)POISON, n);
}

static inline bool all_poison(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != POISON)
            return false;
    }
    return true;
}

/* ---- addresses used throughout --------------------------------------- */

static const uint8_t T_SRC4[4] = {192, 0, 2, 1};
static const uint8_t T_DST4[4] = {198, 51, 100, 2};
static const uint8_t T_SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t T_DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static inline sl_pseudo pseudo4(void)
{
    sl_pseudo ph = {4, T_SRC4, T_DST4};
    return ph;
}

static inline sl_pseudo pseudo6(void)
{
    sl_pseudo ph = {6, T_SRC6, T_DST6};
    return ph;
}

/* ---- guard-page sweep ------------------------------------------------- */

/* A parser under test, called with a copy of the input that ends at a
 * PROT_NONE page.  Returns the parser's result. */
typedef sl_error (*sweep_fn)(const uint8_t *p, size_t len, void *ctx);

/* Place every prefix pkt[0..L-1] (L = 0..len-1) right before the guard
 * page and parse it: a read past L faults.  With `must_fail`, every
 * truncation must be rejected.  The whole packet must parse (SL_OK). */
static inline void guard_sweep(const uint8_t *pkt, size_t len, sweep_fn fn, void *ctx,
                               bool must_fail)
{
    sl_guard g;
    sl_guard_init(&g, len + 1);
    for (size_t l = 0; l < len; l++) {
        const uint8_t *p = sl_guard_put(&g, pkt, l);
        sl_error e = fn(p, l, ctx);
        if (must_fail)
            ck_assert_msg(e != SL_OK, "truncation to %zu of %zu bytes accepted", l, len);
        else
            ck_assert_int_le(e, SL_OK);
    }
    const uint8_t *p = sl_guard_put(&g, pkt, len);
    ck_assert_int_eq(fn(p, len, ctx), SL_OK);
    sl_guard_fini(&g);
}

/* Copy src[0..len-1] so that it ends right at a PROT_NONE page (one
 * process-wide mapping of 128 KiB, reused by every call) and return the
 * copy: every parse in the suites goes through this, so any read past
 * `len` faults. */
static inline const uint8_t *at_guard(const uint8_t *src, size_t len)
{
    static sl_guard g;
    static bool ready;
    if (!ready) {
        sl_guard_init(&g, (size_t)1 << 17);
        ready = true;
    }
    return sl_guard_put(&g, src, len);
}


/* Run a suite (CK_FORK by default, overridable with the CK_FORK env var)
 * and turn the failure count into an exit status. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
