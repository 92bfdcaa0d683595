/* Unit tests for src/wire/checksum.c (RFC 1071, RFC 1624, pseudo-headers). */
#include "unit_util.h"

/* Test-local reference, independent of the library: plain big-endian
 * 16-bit word sum with the odd byte padded by zero, folded to 16 bits. */
static uint32_t local_sum(const uint8_t *p, size_t len, uint32_t sum)
{
    uint64_t s = sum;
    for (size_t i = 0; i < len; i += 2) {
        unsigned hi = p[i];
        unsigned lo = i + 1 < len ? p[i + 1] : 0u;
        s += hi << 8 | lo;
    }
    while (s > 0xffffu)
        s = (s & 0xffffu) + (s >> 16);
    return (uint32_t)s;
}

static uint16_t fold16(uint32_t s)
{
    while (s > 0xffffu)
        s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)s;
}

/* ---- sl_csum_partial vs the reference -------------------------------- */

START_TEST(partial_matches_ref_all_lengths_alignments)
{
    rng r = {0x5eed1071u};
    static uint8_t buf[300 + 8 + 8];
    rng_fill(&r, buf, sizeof buf);
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 300; len++) {
            const uint8_t *p = buf + align;
            uint32_t init = (len % 3 == 0) ? 0 : rng_u32(&r);
            uint32_t fast = sl_csum_partial(p, len, init);
            uint32_t ref = sl_csum_partial_ref(p, len, init);
            uint16_t loc = fold16(local_sum(p, len, init));
            ck_assert_msg(sl_csum_finish(fast) == sl_csum_finish(ref),
                          "align %zu len %zu: fast %#x ref %#x", align, len, fast, ref);
            ck_assert_uint_eq(sl_csum_finish(ref), (uint16_t)~loc);
            ck_assert_uint_eq(sl_csum(p, len), sl_csum_finish(sl_csum_partial_ref(p, len, 0)));
        }
    }
}
END_TEST

/* Data of all ones maximises carries in the 64-bit accumulators. */
START_TEST(partial_all_ones_and_large)
{
    size_t n = 70000;
    uint8_t *b = malloc(n + 8);
    ck_assert_ptr_nonnull(b);
    memset(b, 0xff, n + 8);
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 80; len++)
            ck_assert_uint_eq(sl_csum_finish(sl_csum_partial(b + align, len, 0)),
                              sl_csum_finish(sl_csum_partial_ref(b + align, len, 0)));
        ck_assert_uint_eq(sl_csum_finish(sl_csum_partial(b + align, n, 0xffffffffu)),
                          sl_csum_finish(sl_csum_partial_ref(b + align, n, 0xffffffffu)));
    }
    rng r = {42};
    rng_fill(&r, b, n + 8);
    for (size_t align = 0; align < 8; align++) {
        size_t len = n - align;
        ck_assert_uint_eq(sl_csum_finish(sl_csum_partial(b + align, len, 0)),
                          (uint16_t)~fold16(local_sum(b + align, len, 0)));
    }
    free(b);
}
END_TEST

START_TEST(partial_null_len0)
{
    ck_assert_uint_eq(sl_csum_partial(NULL, 0, 0), 0);
    ck_assert_uint_eq(fold16(sl_csum_partial(NULL, 0, 0x1234u)), 0x1234u);
    ck_assert_uint_eq(sl_csum_partial_ref(NULL, 0, 0x1234u), 0x1234u);
    ck_assert_uint_eq(sl_csum(NULL, 0), 0xffffu);
}
END_TEST

START_TEST(chained_partial_sums)
{
    rng r = {7};
    uint8_t b[257];
    rng_fill(&r, b, sizeof b);
    uint16_t whole = sl_csum(b, sizeof b);
    for (size_t cut = 0; cut <= sizeof b; cut += 2) {
        /* chaining through the `sum` argument */
        uint32_t s = sl_csum_partial(b, cut, 0);
        s = sl_csum_partial(b + cut, sizeof b - cut, s);
        ck_assert_uint_eq(sl_csum_finish(s), whole);
        /* independent sums added with sl_csum_add */
        uint32_t a = sl_csum_partial(b, cut, 0);
        uint32_t c = sl_csum_partial_ref(b + cut, sizeof b - cut, 0);
        ck_assert_uint_eq(sl_csum_finish(sl_csum_add(a, c)), whole);
        /* three pieces, ref implementation */
        size_t cut2 = cut + (sizeof b - cut) / 4 * 2;
        uint32_t t = sl_csum_partial_ref(b, cut, 0);
        t = sl_csum_partial_ref(b + cut, cut2 - cut, t);
        t = sl_csum_partial(b + cut2, sizeof b - cut2, t);
        ck_assert_uint_eq(sl_csum_finish(t), whole);
    }
}
END_TEST

/* RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 2ddf0, folded ddf2. */
START_TEST(rfc1071_example)
{
    static const uint8_t ex[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    ck_assert_uint_eq(fold16(sl_csum_partial(ex, 8, 0)), 0xddf2u);
    ck_assert_uint_eq(fold16(sl_csum_partial_ref(ex, 8, 0)), 0xddf2u);
    ck_assert_uint_eq(sl_csum_partial_ref(ex, 8, 0), 0x2ddf0u);
    ck_assert_uint_eq(sl_csum(ex, 8), 0x220du);
    /* every rotation by an even amount gives the same sum (§2(A)) */
    uint8_t rot[8];
    for (size_t k = 0; k < 8; k += 2) {
        for (size_t i = 0; i < 8; i++)
            rot[i] = ex[(i + k) % 8];
        ck_assert_uint_eq(sl_csum(rot, 8), 0x220du);
    }
    /* byte-swapped data gives the byte-swapped sum (§2(B)) */
    uint8_t sw[8];
    for (size_t i = 0; i < 8; i += 2) {
        sw[i] = ex[i + 1];
        sw[i + 1] = ex[i];
    }
    ck_assert_uint_eq(fold16(sl_csum_partial(sw, 8, 0)), 0xf2ddu);
}
END_TEST

START_TEST(finish_and_add_edges)
{
    ck_assert_uint_eq(sl_csum_finish(0), 0xffffu);
    ck_assert_uint_eq(sl_csum_finish(0xffffu), 0);
    ck_assert_uint_eq(sl_csum_finish(0x1fffeu), 0);
    ck_assert_uint_eq(sl_csum_finish(0xffffffffu), 0);
    ck_assert_uint_eq(sl_csum_finish(0x2ddf0u), 0x220du);
    ck_assert_uint_eq(sl_csum_add(0xffffffffu, 1), 1);
    ck_assert_uint_eq(sl_csum_add(0x80000000u, 0x80000000u), 1);
    ck_assert_uint_eq(sl_csum_add(1, 2), 3);
    ck_assert_uint_eq(sl_csum_add(0, 0), 0);
}
END_TEST

/* A buffer whose checksum field holds sl_csum of the rest verifies to 0. */
START_TEST(stored_checksum_verifies)
{
    rng r = {99};
    for (size_t len = 2; len <= 64; len += 2) {
        uint8_t b[64];
        rng_fill(&r, b, len);
        b[0] = b[1] = 0;
        sl_store16(b, sl_csum(b, len));
        ck_assert_uint_eq(sl_csum(b, len), 0);
    }
}
END_TEST

/* ---- RFC 1624 incremental update ------------------------------------- */

/* RFC 1624 §3/§4: other words sum to 0xCD7A, m = 0x5555 -> m' = 0x3285.
 * HC = 0xDD2F; eqn. 3 must give 0x0000 (eqn. 2 would wrongly give 0xFFFF). */
START_TEST(rfc1624_example)
{
    uint8_t h[6];
    sl_store16(h, 0xCD7Au);
    sl_store16(h + 2, 0x5555u);
    sl_store16(h + 4, 0);
    uint16_t hc = sl_csum(h, 6);
    ck_assert_uint_eq(hc, 0xDD2Fu);
    uint16_t hc2 = sl_csum_update16(hc, 0x5555u, 0x3285u);
    ck_assert_uint_eq(hc2, 0x0000u);
    sl_store16(h + 2, 0x3285u);
    ck_assert_uint_eq(sl_csum(h, 6), 0x0000u); /* recompute agrees */
    sl_store16(h + 4, hc2);
    ck_assert_uint_eq(sl_csum(h, 6), 0);
    /* and back again */
    ck_assert_uint_eq(sl_csum_update16(hc2, 0x3285u, 0x5555u), 0xDD2Fu);
    /* same via the 32-bit variant with an unchanged high half */
    ck_assert_uint_eq(sl_csum_update32(hc, 0xCD7A5555u, 0xCD7A3285u), 0x0000u);
}
END_TEST

START_TEST(update16_equals_recompute)
{
    rng r = {1624};
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t b[20];
        rng_fill(&r, b, sizeof b);
        b[0] |= 0x40; /* never an all-zero buffer */
        sl_store16(b + 10, 0);
        uint16_t c = sl_csum(b, sizeof b);
        size_t f = 2 * (size_t)(rng_u32(&r) % 10u);
        if (f == 10)
            f = 12;
        uint16_t oldv = sl_load16(b + f);
        uint16_t newv;
        switch (iter % 4) {
        case 0: newv = 0x0000; break;
        case 1: newv = 0xffff; break;
        case 2: newv = oldv; break;
        default: newv = rng_u16(&r); break;
        }
        sl_store16(b + f, newv);
        uint16_t c2 = sl_csum_update16(c, oldv, newv);
        ck_assert_uint_eq(c2, sl_csum(b, sizeof b));
        sl_store16(b + 10, c2);
        ck_assert_uint_eq(sl_csum(b, sizeof b), 0);
    }
}
END_TEST

/* 0x0000 <-> 0xFFFF: the two one's-complement zeros as field values. */
START_TEST(update16_zero_ffff_edges)
{
    uint8_t b[8] = {0x45, 0x00, 0x12, 0x34, 0, 0, 0, 0};
    uint16_t c = sl_csum(b, 8);
    uint16_t c2 = sl_csum_update16(c, 0x0000u, 0xffffu);
    sl_store16(b + 4, 0xffffu);
    ck_assert_uint_eq(c2, sl_csum(b, 8));
    uint16_t c3 = sl_csum_update16(c2, 0xffffu, 0x0000u);
    sl_store16(b + 4, 0);
    ck_assert_uint_eq(c3, sl_csum(b, 8));
    ck_assert_uint_eq(c3, c);
    /* a checksum field of 0xffff updated by a no-op change */
    ck_assert_uint_eq(sl_csum_update16(0x1234u, 0xabcdu, 0xabcdu), 0x1234u);
}
END_TEST

START_TEST(update32_equals_recompute)
{
    rng r = {0x32};
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t b[20];
        rng_fill(&r, b, sizeof b);
        b[0] |= 0x40;
        sl_store16(b + 10, 0);
        uint16_t c = sl_csum(b, sizeof b);
        size_t f = (iter % 2) ? 12 : 16; /* like IPv4 src / dst */
        uint32_t oldv = sl_load32(b + f);
        uint32_t newv;
        switch (iter % 5) {
        case 0: newv = 0; break;
        case 1: newv = 0xffffffffu; break;
        case 2: newv = oldv; break;
        case 3: newv = 0xffff0000u; break;
        default: newv = rng_u32(&r); break;
        }
        sl_store32(b + f, newv);
        uint16_t c2 = sl_csum_update32(c, oldv, newv);
        ck_assert_uint_eq(c2, sl_csum(b, sizeof b));
    }
}
END_TEST

/* ---- pseudo-headers --------------------------------------------------- */

START_TEST(pseudo4_hand_computed)
{
    /* c000 + 0201 + c633 + 6402 + 0006 + 0014 = 1ec50 -> ec51 */
    uint32_t s = sl_csum_pseudo4(T_SRC4, T_DST4, 6, 20);
    ck_assert_uint_eq(fold16(s), 0xec51u);
    /* against the RFC 9293 §3.1 byte layout */
    uint8_t ph[12];
    memcpy(ph, T_SRC4, 4);
    memcpy(ph + 4, T_DST4, 4);
    ph[8] = 0;
    ph[9] = 17;
    sl_store16(ph + 10, 0xfff7u);
    ck_assert_uint_eq(fold16(sl_csum_pseudo4(T_SRC4, T_DST4, 17, 0xfff7u)),
                      fold16(local_sum(ph, 12, 0)));
    static const uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_uint_eq(fold16(sl_csum_pseudo4(ones, ones, 0xff, 0xffffu)),
                      fold16(4u * 0xffffu + 0xffu + 0xffffu));
}
END_TEST

START_TEST(pseudo6_hand_computed)
{
    /* 2*2001 + 2*0db8 + 1 + 2 + (len 0x00010004: 1 + 4) + 3a = 5bb4 */
    uint32_t s = sl_csum_pseudo6(T_SRC6, T_DST6, 58, 0x00010004u);
    ck_assert_uint_eq(fold16(s), 0x5bb4u);
    /* RFC 8200 §8.1 layout: src, dst, 32-bit length, 3 zero, next header */
    uint8_t ph[40];
    memcpy(ph, T_SRC6, 16);
    memcpy(ph + 16, T_DST6, 16);
    sl_store32(ph + 32, 0xfffefffdu);
    ph[36] = ph[37] = ph[38] = 0;
    ph[39] = 6;
    ck_assert_uint_eq(fold16(sl_csum_pseudo6(T_SRC6, T_DST6, 6, 0xfffefffdu)),
                      fold16(local_sum(ph, 40, 0)));
    uint8_t ones[16];
    memset(ones, 0xff, 16);
    ck_assert_uint_eq(fold16(sl_csum_pseudo6(ones, ones, 0xff, 0xffffffffu)),
                      fold16(16u * 0xffffu + 2u * 0xffffu + 0xffu));
}
END_TEST

static Suite *checksum_suite(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("rfc1071");
    tcase_add_test(tc, partial_matches_ref_all_lengths_alignments);
    tcase_add_test(tc, partial_all_ones_and_large);
    tcase_add_test(tc, partial_null_len0);
    tcase_add_test(tc, chained_partial_sums);
    tcase_add_test(tc, rfc1071_example);
    tcase_add_test(tc, finish_and_add_edges);
    tcase_add_test(tc, stored_checksum_verifies);
    suite_add_tcase(s, tc);

    tc = tcase_create("rfc1624");
    tcase_add_test(tc, rfc1624_example);
    tcase_add_test(tc, update16_equals_recompute);
    tcase_add_test(tc, update16_zero_ffff_edges);
    tcase_add_test(tc, update32_equals_recompute);
    suite_add_tcase(s, tc);

    tc = tcase_create("pseudo");
    tcase_add_test(tc, pseudo4_hand_computed);
    tcase_add_test(tc, pseudo6_hand_computed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(checksum_suite());
}
