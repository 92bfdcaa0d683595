/* Out-of-order ranges (src/tcp/ooo.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/ooo.h"

/* ---- helpers --------------------------------------------------------------- */

typedef struct prng {
    uint64_t s;
} prng;

static uint64_t prng_next(prng *p)
{
    uint64_t z = (p->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t prng_below(prng *p, uint32_t n)
{
    return (uint32_t)((prng_next(p) >> 32) % n);
}

/* Assert that o holds exactly the ranges in want (start, end pairs). */
static void expect_ranges(const sl_ooo *o, const uint32_t *want, unsigned n)
{
    ck_assert_uint_eq(o->n, n);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_uint_eq(o->r[i].start, want[2 * i]);
        ck_assert_uint_eq(o->r[i].end, want[2 * i + 1]);
    }
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(empty)
{
    sl_ooo o;
    sl_ooo_init(&o);
    ck_assert_uint_eq(o.n, 0);
    ck_assert_uint_eq(sl_ooo_bytes(&o), 0);
    ck_assert_uint_eq(sl_ooo_advance(&o, 1000), 1000);
    uint32_t l[4], r[4];
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, 4), 0);
    /* An empty range records nothing; a reversed one is refused. */
    ck_assert(sl_ooo_add(&o, 1000, 1100, 1100));
    ck_assert_uint_eq(o.n, 0);
    ck_assert(!sl_ooo_add(&o, 1000, 1100, 1050));
    ck_assert_uint_eq(o.n, 0);
}
END_TEST

START_TEST(add_merge)
{
    const uint32_t nxt = 1000;
    sl_ooo o;
    sl_ooo_init(&o);

    ck_assert(sl_ooo_add(&o, nxt, 1200, 1300));
    ck_assert(sl_ooo_add(&o, nxt, 1500, 1600));
    ck_assert(sl_ooo_add(&o, nxt, 1100, 1150)); /* before both */
    {
        const uint32_t w[] = {1100, 1150, 1200, 1300, 1500, 1600};
        expect_ranges(&o, w, 3);
        ck_assert_uint_eq(o.recent, 0);
    }
    /* Adjacent on the right of [1100,1150) and the left of [1200,1300). */
    ck_assert(sl_ooo_add(&o, nxt, 1150, 1200));
    {
        const uint32_t w[] = {1100, 1300, 1500, 1600};
        expect_ranges(&o, w, 2);
        ck_assert_uint_eq(o.recent, 0);
    }
    /* Adjacent on one side only. */
    ck_assert(sl_ooo_add(&o, nxt, 1600, 1650));
    ck_assert(sl_ooo_add(&o, nxt, 1450, 1500));
    {
        const uint32_t w[] = {1100, 1300, 1450, 1650};
        expect_ranges(&o, w, 2);
        ck_assert_uint_eq(o.recent, 1);
    }
    /* Overlap on the left, on the right, and contained. */
    ck_assert(sl_ooo_add(&o, nxt, 1050, 1120));
    ck_assert(sl_ooo_add(&o, nxt, 1600, 1700));
    ck_assert(sl_ooo_add(&o, nxt, 1200, 1250));
    {
        const uint32_t w[] = {1050, 1300, 1450, 1700};
        expect_ranges(&o, w, 2);
        ck_assert_uint_eq(o.recent, 0);
        ck_assert_uint_eq(sl_ooo_bytes(&o), 250 + 250);
    }
    /* Containing several ranges: all merge into one. */
    ck_assert(sl_ooo_add(&o, nxt, 1800, 1900));
    ck_assert(sl_ooo_add(&o, nxt, 2000, 2100));
    ck_assert(sl_ooo_add(&o, nxt, 1400, 1950));
    {
        const uint32_t w[] = {1050, 1300, 1400, 1950, 2000, 2100};
        expect_ranges(&o, w, 3);
        ck_assert_uint_eq(o.recent, 1);
    }
    ck_assert(sl_ooo_add(&o, nxt, 1001, 3000));
    {
        const uint32_t w[] = {1001, 3000};
        expect_ranges(&o, w, 1);
        ck_assert_uint_eq(o.recent, 0);
        ck_assert_uint_eq(sl_ooo_bytes(&o), 1999);
    }
    /* A duplicate changes nothing but `recent`. */
    ck_assert(sl_ooo_add(&o, nxt, 1500, 1600));
    {
        const uint32_t w[] = {1001, 3000};
        expect_ranges(&o, w, 1);
    }
}
END_TEST

START_TEST(limit)
{
    const uint32_t nxt = 5000;
    sl_ooo o;
    sl_ooo_init(&o);
    for (uint32_t i = 0; i < SL_OOO_MAX; i++)
        ck_assert(sl_ooo_add(&o, nxt, nxt + 100 + 100 * i, nxt + 150 + 100 * i));
    ck_assert_uint_eq(o.n, SL_OOO_MAX);
    ck_assert(sl_ooo_add(&o, nxt, nxt + 300, nxt + 320)); /* inside one: fine */
    ck_assert_uint_eq(o.recent, 2);

    sl_ooo before = o;
    /* New, separate ranges: refused, nothing changed (recent included). */
    ck_assert(!sl_ooo_add(&o, nxt, nxt + 10, nxt + 20));
    ck_assert(!sl_ooo_add(&o, nxt, nxt + 160, nxt + 170));
    ck_assert(!sl_ooo_add(&o, nxt, nxt + 5000, nxt + 5100));
    ck_assert_mem_eq(&o, &before, sizeof o);

    /* Adjacent or bridging ranges still fit. */
    ck_assert(sl_ooo_add(&o, nxt, nxt + 150, nxt + 200)); /* bridges 0 and 1 */
    ck_assert_uint_eq(o.n, SL_OOO_MAX - 1);
    ck_assert_uint_eq(o.r[0].start, nxt + 100);
    ck_assert_uint_eq(o.r[0].end, nxt + 250);
    ck_assert_uint_eq(o.recent, 0);
    ck_assert(sl_ooo_add(&o, nxt, nxt + 10, nxt + 20));
    ck_assert_uint_eq(o.n, SL_OOO_MAX);
}
END_TEST

START_TEST(advance)
{
    sl_ooo o;
    sl_ooo_init(&o);
    ck_assert(sl_ooo_add(&o, 100, 200, 300));
    ck_assert(sl_ooo_add(&o, 100, 400, 500));
    ck_assert(sl_ooo_add(&o, 100, 600, 700));

    /* Not reaching the first range: nothing changes. */
    ck_assert_uint_eq(sl_ooo_advance(&o, 150), 150);
    ck_assert_uint_eq(o.n, 3);
    /* Exactly at the first range's start: it becomes contiguous. */
    ck_assert_uint_eq(sl_ooo_advance(&o, 200), 300);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.r[0].start, 400);
    ck_assert_uint_eq(o.recent, 1); /* [600,700) moved from 2 to 1 */
    /* Into the middle of a range. */
    ck_assert_uint_eq(sl_ooo_advance(&o, 450), 500);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.recent, 0);
    /* Exactly at a range's end: dropped, rcv_nxt unchanged. */
    ck_assert_uint_eq(sl_ooo_advance(&o, 700), 700);
    ck_assert_uint_eq(o.n, 0);
    ck_assert_uint_eq(o.recent, SL_OOO_MAX);

    /* Past several ranges and into another. */
    ck_assert(sl_ooo_add(&o, 700, 800, 900));
    ck_assert(sl_ooo_add(&o, 700, 1000, 1100));
    ck_assert(sl_ooo_add(&o, 700, 1200, 1300));
    ck_assert(sl_ooo_add(&o, 700, 1400, 1500));
    ck_assert_uint_eq(o.recent, 3);
    ck_assert_uint_eq(sl_ooo_advance(&o, 1250), 1300);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.r[0].start, 1400);
    ck_assert_uint_eq(o.recent, 0);
    /* The recent range consumed: no recent any more. */
    ck_assert(sl_ooo_add(&o, 1300, 1350, 1360));
    ck_assert_uint_eq(o.recent, 0);
    ck_assert_uint_eq(sl_ooo_advance(&o, 1350), 1360);
    ck_assert_uint_eq(o.recent, SL_OOO_MAX);
    ck_assert_uint_eq(sl_ooo_advance(&o, 2000), 2000);
    ck_assert_uint_eq(o.n, 0);
    ck_assert_uint_eq(sl_ooo_bytes(&o), 0);
}
END_TEST

START_TEST(sack_order)
{
    const uint32_t nxt = 10;
    sl_ooo o;
    sl_ooo_init(&o);
    uint32_t l[SL_OOO_MAX + 1], r[SL_OOO_MAX + 1];

    ck_assert(sl_ooo_add(&o, nxt, 300, 400));
    ck_assert(sl_ooo_add(&o, nxt, 100, 200));
    ck_assert(sl_ooo_add(&o, nxt, 500, 600));
    ck_assert(sl_ooo_add(&o, nxt, 350, 450)); /* latest: extends [300,400) */

    /* RFC 2018 §4: the block holding the latest segment first. */
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, 4), 3);
    ck_assert_uint_eq(l[0], 300);
    ck_assert_uint_eq(r[0], 450);
    ck_assert_uint_eq(l[1], 100);
    ck_assert_uint_eq(r[1], 200);
    ck_assert_uint_eq(l[2], 500);
    ck_assert_uint_eq(r[2], 600);

    /* Limited by max (a SACK option holds 3 or 4 blocks; 0 is allowed). */
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, 2), 2);
    ck_assert_uint_eq(l[0], 300);
    ck_assert_uint_eq(l[1], 100);
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, 1), 1);
    ck_assert_uint_eq(l[0], 300);
    ck_assert_uint_eq(sl_ooo_sack(&o, NULL, NULL, 0), 0);

    /* The most recent is the last range. */
    ck_assert(sl_ooo_add(&o, nxt, 700, 710));
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, SL_OOO_MAX + 1), 4);
    ck_assert_uint_eq(l[0], 700);
    ck_assert_uint_eq(l[1], 100);
    ck_assert_uint_eq(l[2], 300);
    ck_assert_uint_eq(l[3], 500);

    /* After advance consumes the recent range: plain sequence order. */
    ck_assert(sl_ooo_add(&o, nxt, 20, 30));
    ck_assert_uint_eq(sl_ooo_advance(&o, 20), 30);
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, SL_OOO_MAX + 1), 4);
    ck_assert_uint_eq(l[0], 100);
    ck_assert_uint_eq(l[1], 300);
    ck_assert_uint_eq(l[2], 500);
    ck_assert_uint_eq(l[3], 700);
}
END_TEST

START_TEST(sequence_wrap)
{
    const uint32_t nxt = 0xffffff00u;
    sl_ooo o;
    sl_ooo_init(&o);
    uint32_t l[4], r[4];

    ck_assert(sl_ooo_add(&o, nxt, 0x00000100u, 0x00000200u)); /* after the wrap */
    ck_assert(sl_ooo_add(&o, nxt, 0xffffff80u, 0x00000010u)); /* across it */
    ck_assert(sl_ooo_add(&o, nxt, 0xffffff10u, 0xffffff20u)); /* before it */
    {
        const uint32_t w[] = {0xffffff10u, 0xffffff20u, 0xffffff80u,
                              0x00000010u, 0x00000100u, 0x00000200u};
        expect_ranges(&o, w, 3);
    }
    ck_assert_uint_eq(sl_ooo_bytes(&o), 0x10 + 0x90 + 0x100);
    /* Merge across the wrap: adjacent on both sides. */
    ck_assert(sl_ooo_add(&o, nxt, 0x00000010u, 0x00000100u));
    {
        const uint32_t w[] = {0xffffff10u, 0xffffff20u, 0xffffff80u, 0x00000200u};
        expect_ranges(&o, w, 2);
        ck_assert_uint_eq(o.recent, 1);
    }
    ck_assert_uint_eq(sl_ooo_sack(&o, l, r, 4), 2);
    ck_assert_uint_eq(l[0], 0xffffff80u);
    ck_assert_uint_eq(r[0], 0x00000200u);
    /* A range whose end is exactly 0. */
    ck_assert(sl_ooo_add(&o, nxt, 0xffffff30u, 0u));
    {
        const uint32_t w[] = {0xffffff10u, 0xffffff20u, 0xffffff30u, 0x00000200u};
        expect_ranges(&o, w, 2);
    }
    /* Advance across the wrap. */
    ck_assert_uint_eq(sl_ooo_advance(&o, 0xffffff10u), 0xffffff20u);
    ck_assert_uint_eq(sl_ooo_advance(&o, 0x00000000u), 0x00000200u);
    ck_assert_uint_eq(o.n, 0);

    /* rcv_nxt = 0xffffffff, a range starting at 0. */
    sl_ooo_init(&o);
    ck_assert(sl_ooo_add(&o, 0xffffffffu, 0u, 5u));
    ck_assert(sl_ooo_add(&o, 0xffffffffu, 10u, 20u));
    ck_assert_uint_eq(sl_ooo_advance(&o, 0u), 5u);
    ck_assert_uint_eq(sl_ooo_advance(&o, 5u), 5u);
    ck_assert_uint_eq(o.n, 1);

    /* Near 2^31 from rcv_nxt: the sorting is by distance, not by value. */
    sl_ooo_init(&o);
    ck_assert(sl_ooo_add(&o, 0x7fffff00u, 0x80000100u, 0x80000200u));
    ck_assert(sl_ooo_add(&o, 0x7fffff00u, 0x7fffff80u, 0x7fffffffu));
    ck_assert_uint_eq(o.r[0].start, 0x7fffff80u);
    ck_assert_uint_eq(o.r[1].start, 0x80000100u);
}
END_TEST

/* Random run against a bitmap of the 64 KiB window after rcv_nxt: bit i is
 * sequence number rcv_nxt + i.  The base starts just below 2^32 so the run
 * crosses the wrap many times. */
#define WIN 65536u

static uint8_t bits[WIN];

static void expect(int ok, int op, int line)
{
    if (!ok)
        ck_abort_msg("model mismatch at op %d (line %d)", op, line);
}
#define EXPECT(c) expect((c) != 0, op, __LINE__)

/* Offset of the first byte at or after i equal to v (0 or 1), or WIN. */
static uint32_t scan(uint32_t i, int v)
{
    const uint8_t *q = memchr(bits + i, v, WIN - i);
    return q == NULL ? WIN : (uint32_t)(q - bits);
}

/* Number of runs of set bits. */
static unsigned count_runs(void)
{
    unsigned runs = 0;
    for (uint32_t i = scan(0, 1); i < WIN; i = scan(scan(i, 0), 1))
        runs++;
    return runs;
}

static void check_against_bits(const sl_ooo *o, uint32_t nxt, int op)
{
    unsigned k = 0;
    uint32_t total = 0;
    uint32_t i = 0;
    while ((i = scan(i, 1)) < WIN) {
        uint32_t j = scan(i, 0);
        EXPECT(k < o->n);
        if (k < o->n) {
            EXPECT(o->r[k].start == nxt + i);
            EXPECT(o->r[k].end == nxt + j);
        }
        total += j - i;
        k++;
        i = j;
    }
    EXPECT(k == o->n);
    EXPECT(sl_ooo_bytes(o) == total);
}

START_TEST(random_model)
{
    prng p = {0x5eed0000u + (uint64_t)_i};
    uint32_t nxt = 0xffffffffu - prng_below(&p, 200000);
    sl_ooo o;
    sl_ooo_init(&o);
    memset(bits, 0, sizeof bits);

    for (int op = 0; op < 10000; op++) {
        if (prng_below(&p, 4) != 0) {
            /* Add a segment of 1..1460 bytes (sometimes bigger) in the window. */
            uint32_t len = 1u + prng_below(&p, prng_below(&p, 8) == 0 ? 20000u : 1460u);
            uint32_t off = 1u + prng_below(&p, WIN - 1u);
            if (off + len > WIN)
                len = WIN - off;
            /* Predict: refused iff the result would hold too many runs. */
            static uint8_t saved[WIN];
            memcpy(saved, bits + off, len);
            memset(bits + off, 1, len);
            int fits = count_runs() <= SL_OOO_MAX;
            sl_ooo before = o;
            bool ok = sl_ooo_add(&o, nxt, nxt + off, nxt + off + len);
            EXPECT(ok == fits);
            if (!ok) {
                memcpy(bits + off, saved, len);
                EXPECT(memcmp(&o, &before, sizeof o) == 0);
            } else {
                /* The most recent block comes first and holds the segment. */
                uint32_t l[SL_OOO_MAX], r[SL_OOO_MAX];
                size_t nb = sl_ooo_sack(&o, l, r, SL_OOO_MAX);
                EXPECT(nb == o.n);
                EXPECT(o.recent < o.n);
                EXPECT(l[0] - nxt <= off && off + len <= r[0] - nxt);
                /* The rest in sequence order. */
                for (size_t b = 2; b < nb; b++)
                    EXPECT(l[b - 1] - nxt < l[b] - nxt);
            }
        } else {
            /* In-order data arrives: rcv_nxt moves by 1..WIN-1. */
            uint32_t k = 1u + prng_below(&p, prng_below(&p, 2) ? 3000u : WIN - 1u);
            memmove(bits, bits + k, WIN - k);
            memset(bits + (WIN - k), 0, k);
            nxt += k;
            uint32_t want = nxt;
            if (bits[0]) {
                uint32_t j = scan(0, 0);
                want = nxt + j;
                memmove(bits, bits + j, WIN - j);
                memset(bits + (WIN - j), 0, j);
            }
            uint32_t got = sl_ooo_advance(&o, nxt);
            EXPECT(got == want);
            nxt = got;
        }
        check_against_bits(&o, nxt, op);
    }
}
END_TEST

static Suite *ooo_suite(void)
{
    Suite *s = suite_create("ooo");
    TCase *t = tcase_create("ooo");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, empty);
    tcase_add_test(t, add_merge);
    tcase_add_test(t, limit);
    tcase_add_test(t, advance);
    tcase_add_test(t, sack_order);
    tcase_add_test(t, sequence_wrap);
    tcase_add_loop_test(t, random_model, 0, 3);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ooo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
