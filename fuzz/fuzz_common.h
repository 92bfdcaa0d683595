/*
 * Helpers shared by the libFuzzer targets in this directory.
 *
 * Every target reads one or more control bytes at the start of its input
 * (which checksum mode, which emit variant) and treats the rest as the
 * packet.  Invariant failures print what broke and abort(), which libFuzzer
 * records as a crash.
 */
#ifndef SL_FUZZ_COMMON_H
#define SL_FUZZ_COMMON_H

#include "sluice/wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    abort();
}

#define FZ_CHECK(cond)                                                                        \
    do {                                                                                      \
        if (!(cond))                                                                          \
            fz_fail(__FILE__, __LINE__, #cond);                                               \
    } while (0)

/* Error code check with the actual value printed. */
#define FZ_CHECK_ERR(got, want)                                                               \
    do {                                                                                      \
        int fz_g_ = (int)(got), fz_w_ = (int)(want);                                          \
        if (fz_g_ != fz_w_) {                                                                 \
            fprintf(stderr, "got %s (%d), want %s (%d)\n", sl_error_name(fz_g_), fz_g_,       \
                    sl_error_name(fz_w_), fz_w_);                                             \
            fz_fail(__FILE__, __LINE__, #got " == " #want);                                   \
        }                                                                                     \
    } while (0)

/* A fresh heap block of exactly n bytes (so ASan flags any access past it). */
static inline uint8_t *fz_alloc(size_t n)
{
    uint8_t *b = malloc(n);
    if (b == NULL && n != 0)
        abort();
    return b;
}

static inline uint8_t *fz_dup(const uint8_t *p, size_t n)
{
    uint8_t *b = fz_alloc(n);
    if (n != 0)
        memcpy(b, p, n);
    return b;
}

/* Does the view [v, v+n) lie inside [base, base+blen)?  An empty view may
 * be NULL or point anywhere from base to base+blen inclusive. */
static inline int fz_in(const uint8_t *v, size_t n, const uint8_t *base, size_t blen)
{
    uintptr_t a = (uintptr_t)v, b = (uintptr_t)base;
    if (n == 0 && v == NULL)
        return 1;
    if (v == NULL || a < b)
        return 0;
    uintptr_t off = a - b;
    return off <= blen && n <= blen - off;
}

/* Offset of a non-NULL view pointer from base (after fz_in said it's inside). */
static inline size_t fz_off(const uint8_t *v, const uint8_t *base)
{
    return v == NULL ? 0 : (size_t)((uintptr_t)v - (uintptr_t)base);
}

/* Two views with equal lengths hold equal bytes. */
static inline int fz_same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    if (an != bn)
        return 0;
    return an == 0 || memcmp(a, b, an) == 0;
}

/* ---- pseudo-headers built byte by byte, summed with the reference ------ */

static const uint8_t fz_v4_addrs[2][2][4] = {
    {{192, 0, 2, 1}, {198, 51, 100, 7}},
    {{255, 255, 255, 255}, {0, 0, 0, 0}}};
static const uint8_t fz_v6_addrs[2][2][16] = {
    {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}},
    {{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}};

/* family 0 = none (returns NULL), 4 or 6; set selects an address pair. */
static inline const sl_pseudo *fz_pseudo(sl_pseudo *ph, unsigned family, unsigned set)
{
    set &= 1u;
    if (family == 4) {
        ph->family = 4;
        ph->src = fz_v4_addrs[set][0];
        ph->dst = fz_v4_addrs[set][1];
        return ph;
    }
    if (family == 6) {
        ph->family = 6;
        ph->src = fz_v6_addrs[set][0];
        ph->dst = fz_v6_addrs[set][1];
        return ph;
    }
    return NULL;
}

/* Reference partial sum of the pseudo-header laid out as on the wire
 * (RFC 9293 §3.1, RFC 8200 §8.1). */
static inline uint32_t fz_pseudo_sum(const sl_pseudo *ph, uint8_t proto, size_t len)
{
    uint8_t b[40];
    memset(b, 0, sizeof b);
    if (ph->family == 4) {
        memcpy(b, ph->src, 4);
        memcpy(b + 4, ph->dst, 4);
        b[9] = proto;
        sl_store16(b + 10, (uint16_t)len);
        return sl_csum_partial_ref(b, 12, 0);
    }
    memcpy(b, ph->src, 16);
    memcpy(b + 16, ph->dst, 16);
    sl_store32(b + 32, (uint32_t)len);
    b[39] = proto;
    return sl_csum_partial_ref(b, 40, 0);
}

/* Stored value that makes p[0..len-1] (checksum field zeroed) verify. */
static inline uint16_t fz_l4_csum(const sl_pseudo *ph, uint8_t proto, const uint8_t *p, size_t len)
{
    uint32_t s = ph != NULL ? fz_pseudo_sum(ph, proto, len) : 0;
    return sl_csum_finish(sl_csum_partial_ref(p, len, s));
}

/* Does the message verify (stored checksum included)? */
static inline int fz_l4_ok(const sl_pseudo *ph, uint8_t proto, const uint8_t *p, size_t len)
{
    return fz_l4_csum(ph, proto, p, len) == 0;
}

/* Emit must refuse a buffer one byte short and leave it untouched.  `emit`
 * is called through a small adapter so one helper serves every module. */
typedef sl_error (*fz_emit_fn)(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                               size_t *written);

static inline void fz_check_short_buffer(fz_emit_fn emit, const void *h, const sl_pseudo *ph,
                                         size_t need)
{
    if (need == 0)
        return;
    uint8_t *b = fz_alloc(need);
    memset(b, 0x5a, need);
    size_t w = 12345;
    sl_error e = emit(h, ph, b, need - 1, &w);
    FZ_CHECK_ERR(e, SL_ERR_BUFSZ);
    for (size_t i = 0; i < need; i++)
        FZ_CHECK(b[i] == 0x5a);
    free(b);
}

static inline int fz_err_in(sl_error e, const sl_error *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (e == set[i])
            return 1;
    return 0;
}

#define FZ_CHECK_ERR_IN(e, set)                                                               \
    do {                                                                                      \
        if (!fz_err_in((e), (set), sizeof(set) / sizeof((set)[0]))) {                         \
            fprintf(stderr, "undocumented error %s (%d)\n", sl_error_name(e), (int)(e));      \
            fz_fail(__FILE__, __LINE__, "error in documented set");                           \
        }                                                                                     \
    } while (0)

#endif
