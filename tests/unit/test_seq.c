/* Sequence comparisons, ISNs, SYN cookies and ephemeral ports
 * (src/tcp/seq.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/seq.h"

#define SEC UINT64_C(1000000)
#define SLOT (64u * SEC)

/* splitmix64: reproducible "random" inputs. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint32_t rng_u32(rng *r)
{
    return (uint32_t)(rng_next(r) >> 32);
}

static void fill(rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(r);
}

static void key_seq(uint8_t key[16])
{
    for (unsigned i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
}

static sl_tuple tuple_v4(uint32_t l, uint16_t lport, uint32_t r, uint16_t rport)
{
    sl_tuple t;
    memset(&t, 0, sizeof t);
    t.family = 4;
    for (unsigned i = 0; i < 4; i++) {
        t.laddr[i] = (uint8_t)(l >> (24u - 8u * i));
        t.raddr[i] = (uint8_t)(r >> (24u - 8u * i));
    }
    t.lport = lport;
    t.rport = rport;
    return t;
}

static sl_tuple tuple_v6(rng *r)
{
    sl_tuple t;
    memset(&t, 0, sizeof t);
    t.family = 6;
    fill(r, t.laddr, 16);
    fill(r, t.raddr, 16);
    t.lport = (uint16_t)rng_next(r);
    t.rport = (uint16_t)rng_next(r);
    return t;
}

static sl_tuple tuple_rand(rng *r)
{
    if (rng_next(r) & 1u)
        return tuple_v6(r);
    return tuple_v4(rng_u32(r), (uint16_t)rng_next(r), rng_u32(r), (uint16_t)rng_next(r));
}

/* ---- sequence comparisons --------------------------------------------- */

START_TEST(test_seq_wrap)
{
    ck_assert(sl_seq_lt(0xffffffffu, 0));
    ck_assert(sl_seq_gt(0, 0xffffffffu));
    ck_assert(sl_seq_le(0xfffffff0u, 0x10));
    ck_assert(sl_seq_ge(0x10, 0xfffffff0u));
    ck_assert(!sl_seq_lt(5, 5) && sl_seq_le(5, 5) && sl_seq_ge(5, 5) && !sl_seq_gt(5, 5));
    /* The largest forward distance, 2^31 - 1. */
    ck_assert(sl_seq_lt(0x80000000u, 0xffffffffu));
    ck_assert(sl_seq_lt(0, 0x7fffffffu));
    ck_assert(sl_seq_gt(0x7fffffffu, 0));
    rng r = {1};
    for (int i = 0; i < 100000; i++) {
        uint32_t a = rng_u32(&r);
        uint32_t d = rng_u32(&r) % 0x7fffffffu + 1u; /* 1 .. 2^31 - 1 */
        uint32_t b = a + d;                          /* may wrap */
        ck_assert(sl_seq_lt(a, b) && sl_seq_le(a, b));
        ck_assert(sl_seq_gt(b, a) && sl_seq_ge(b, a));
        ck_assert(!sl_seq_lt(b, a) && !sl_seq_le(b, a));
        ck_assert(!sl_seq_gt(a, b) && !sl_seq_ge(a, b));
        ck_assert(sl_seq_le(a, a) && sl_seq_ge(a, a));
    }
}
END_TEST

/* ---- ISN ---------------------------------------------------------------- */

START_TEST(test_isn_deterministic)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {2};
    for (int i = 0; i < 1000; i++) {
        sl_tuple t = tuple_rand(&r);
        sl_tuple u = t;
        sl_time now = rng_next(&r);
        ck_assert_uint_eq(sl_tcp_isn(key, &t, now), sl_tcp_isn(key, &u, now));
    }
}
END_TEST

/* Every byte of every field, and every key bit, moves the ISN. */
START_TEST(test_isn_fields)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {3};
    const sl_time now = 123456789u;
    for (int round = 0; round < 20; round++) {
        sl_tuple t = round & 1 ? tuple_v6(&r) : tuple_rand(&r);
        uint32_t base = sl_tcp_isn(key, &t, now);
        unsigned alen = t.family == 4 ? 4u : 16u;
        for (unsigned i = 0; i < alen; i++) {
            sl_tuple u = t;
            u.laddr[i] ^= 0x01;
            ck_assert_uint_ne(sl_tcp_isn(key, &u, now), base);
            u = t;
            u.raddr[i] ^= 0x80;
            ck_assert_uint_ne(sl_tcp_isn(key, &u, now), base);
        }
        for (unsigned b = 0; b < 16; b++) {
            sl_tuple u = t;
            u.lport ^= (uint16_t)(1u << b);
            ck_assert_uint_ne(sl_tcp_isn(key, &u, now), base);
            u = t;
            u.rport ^= (uint16_t)(1u << b);
            ck_assert_uint_ne(sl_tcp_isn(key, &u, now), base);
        }
        /* Swapping the ends is another connection. */
        sl_tuple s = t;
        memcpy(s.laddr, t.raddr, 16);
        memcpy(s.raddr, t.laddr, 16);
        s.lport = t.rport;
        s.rport = t.lport;
        ck_assert_uint_ne(sl_tcp_isn(key, &s, now), base);
        for (unsigned bit = 0; bit < 128; bit++) {
            uint8_t k2[16];
            memcpy(k2, key, 16);
            k2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            ck_assert_uint_ne(sl_tcp_isn(k2, &t, now), base);
        }
    }
    /* Family: the same 4 address bytes as IPv4 and as IPv6. */
    sl_tuple v4 = tuple_v4(0x0a000001, 1000, 0x0a000002, 80);
    sl_tuple v6 = v4;
    v6.family = 6;
    ck_assert_uint_ne(sl_tcp_isn(key, &v4, now), sl_tcp_isn(key, &v6, now));
}
END_TEST

/* An IPv4 tuple is hashed on its 4 address bytes only. */
START_TEST(test_isn_v4_padding_ignored)
{
    uint8_t key[16];
    key_seq(key);
    sl_tuple t = tuple_v4(0xc0a80001, 40000, 0x5db8d822, 443);
    sl_tuple u = t;
    memset(u.laddr + 4, 0xa5, 12);
    memset(u.raddr + 4, 0x5a, 12);
    ck_assert_uint_eq(sl_tcp_isn(key, &t, 777), sl_tcp_isn(key, &u, 777));
}
END_TEST

/* M advances one per 4 microseconds, modulo 2^32, also once now/4 no
 * longer fits in 32 bits (after ~4.8 hours). */
START_TEST(test_isn_clock)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {4};
    sl_tuple t = tuple_rand(&r);
    const sl_time starts[] = {
        0, 3, 1000001, UINT64_C(4) << 32, (UINT64_C(4) << 32) - 8, UINT64_C(0x123456789abcdef0)};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        sl_time s = starts[i] & ~(sl_time)3; /* on a tick */
        uint32_t base = sl_tcp_isn(key, &t, s);
        ck_assert_uint_eq(sl_tcp_isn(key, &t, s + 3), base);
        ck_assert_uint_eq(sl_tcp_isn(key, &t, s + 4), base + 1u);
        ck_assert_uint_eq(sl_tcp_isn(key, &t, s + 4000), base + 1000u);
        ck_assert_uint_eq(sl_tcp_isn(key, &t, s + SEC), base + 250000u);
        /* 2^32 ticks later the ISN is back where it was. */
        ck_assert_uint_eq(sl_tcp_isn(key, &t, s + (UINT64_C(4) << 32)), base);
    }
}
END_TEST

/* Pins the hash input encoding: tag 'I', family, laddr, raddr (4 bytes
 * for IPv4), lport, rport big-endian.  Expected F computed independently
 * with OpenSSL 3: printf '4904c0a800015db8d8229c4001bb' | xxd -r -p |
 *   openssl mac -macopt hexkey:000102030405060708090a0b0c0d0e0f
 *   -macopt size:8 SIPHASH
 * which prints B77C504696F3B4EE: read little-endian, SipHash =
 * 0xeeb4f39646507cb7; the ISN adds its low 32 bits to M = now / 4. */
#define ISN_KAT_F UINT32_C(0x46507cb7)

START_TEST(test_isn_known_answer)
{
    uint8_t key[16];
    key_seq(key);
    sl_tuple t = tuple_v4(0xc0a80001, 40000, 0x5db8d822, 443);
    ck_assert_uint_eq(sl_tcp_isn(key, &t, 0), ISN_KAT_F);
    ck_assert_uint_eq(sl_tcp_isn(key, &t, 4000), ISN_KAT_F + 1000u);
}
END_TEST

/* ---- SYN cookies ---------------------------------------------------------- */

static const uint16_t table[8] = {536, 1200, 1220, 1360, 1440, 1452, 1460, 8960};

static uint16_t expect_mss(uint16_t mss)
{
    uint16_t m = table[0];
    for (unsigned i = 0; i < 8; i++)
        if (table[i] <= mss)
            m = table[i];
    return m;
}

static sl_cookie_opts opts(uint16_t mss, bool has_ws, uint8_t ws, bool sack, bool ts)
{
    sl_cookie_opts o;
    memset(&o, 0, sizeof o);
    o.mss = mss;
    o.has_wscale = has_ws;
    o.wscale = ws;
    o.sack_perm = sack;
    o.has_ts = ts;
    return o;
}

START_TEST(test_cookie_roundtrip)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {5};
    const uint16_t mss_in[] = {0,    1,    535,  536,  537,  1199, 1200, 1219,
                               1220, 1221, 1359, 1360, 1439, 1440, 1451, 1452,
                               1459, 1460, 1461, 8959, 8960, 9000, 65535};
    unsigned n = 0;
    for (size_t mi = 0; mi < sizeof mss_in / sizeof mss_in[0]; mi++) {
        for (unsigned ws = 0; ws <= 16; ws++) { /* 16 = no window scale */
            for (unsigned flags = 0; flags < 4; flags++) {
                sl_tuple t = tuple_rand(&r);
                uint32_t peer = rng_u32(&r);
                sl_time now = rng_next(&r) >> 8;
                bool has_ws = ws < 16;
                sl_cookie_opts in =
                    opts(mss_in[mi], has_ws, (uint8_t)(has_ws ? ws : 0), flags & 1u, flags & 2u);
                uint32_t c = sl_cookie_make(key, &t, peer, &in, now);
                sl_cookie_opts out;
                memset(&out, 0xee, sizeof out);
                ck_assert(sl_cookie_check(key, &t, peer, c, now, &out));
                ck_assert_uint_eq(out.mss, expect_mss(mss_in[mi]));
                ck_assert(out.has_wscale == has_ws);
                /* RFC 7323 §2.3: a shift above 14 is taken as 14. */
                if (has_ws)
                    ck_assert_uint_eq(out.wscale, ws > 14 ? 14 : ws);
                ck_assert(out.sack_perm == ((flags & 1u) != 0));
                ck_assert(out.has_ts == ((flags & 2u) != 0));
                n++;
            }
        }
    }
    ck_assert_uint_gt(n, 1000);
}
END_TEST

/* The decoded MSS is the largest table value <= the peer's (536 below). */
START_TEST(test_cookie_mss_every_value)
{
    uint8_t key[16];
    key_seq(key);
    sl_tuple t = tuple_v4(0x0a000001, 80, 0x0a000002, 50000);
    for (uint32_t mss = 0; mss <= 65535u; mss++) {
        sl_cookie_opts in = opts((uint16_t)mss, true, 7, true, false);
        sl_cookie_opts out;
        uint32_t c = sl_cookie_make(key, &t, 42, &in, 1000 * SEC);
        ck_assert(sl_cookie_check(key, &t, 42, c, 1000 * SEC, &out));
        ck_assert_uint_eq(out.mss, expect_mss((uint16_t)mss));
        ck_assert(out.mss <= mss || mss < 536);
    }
}
END_TEST

START_TEST(test_cookie_lifetime)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {6};
    sl_cookie_opts in = opts(1460, true, 7, true, true), out;
    for (int i = 0; i < 200; i++) {
        sl_tuple t = tuple_rand(&r);
        uint32_t peer = rng_u32(&r);
        uint64_t s = rng_next(&r) % 100000u + (i == 0 ? 31u : 1u);
        sl_time made = s * SLOT + rng_next(&r) % SLOT;
        uint32_t c = sl_cookie_make(key, &t, peer, &in, made);
        /* Slot S: accepted from the start to the end of it. */
        ck_assert(sl_cookie_check(key, &t, peer, c, made, &out));
        ck_assert(sl_cookie_check(key, &t, peer, c, s * SLOT, &out));
        ck_assert(sl_cookie_check(key, &t, peer, c, s * SLOT + SLOT - 1, &out));
        /* Slot S+1: still accepted (so 64 to 128 s of life). */
        ck_assert(sl_cookie_check(key, &t, peer, c, (s + 1) * SLOT, &out));
        ck_assert(sl_cookie_check(key, &t, peer, c, (s + 1) * SLOT + SLOT - 1, &out));
        ck_assert(sl_cookie_check(key, &t, peer, c, made + SLOT, &out));
        /* Slot S+2 and beyond: rejected. */
        ck_assert(!sl_cookie_check(key, &t, peer, c, (s + 2) * SLOT, &out));
        ck_assert(!sl_cookie_check(key, &t, peer, c, made + 2 * SLOT, &out));
        ck_assert(!sl_cookie_check(key, &t, peer, c, (s + 3) * SLOT, &out));
        /* When the 5-bit counter comes round again, the full slot number
         * in the hash still rejects it. */
        ck_assert(!sl_cookie_check(key, &t, peer, c, (s + 32) * SLOT, &out));
        ck_assert(!sl_cookie_check(key, &t, peer, c, (s + 33) * SLOT, &out));
        /* From the future (slot S-1): rejected. */
        ck_assert(!sl_cookie_check(key, &t, peer, c, s * SLOT - 1, &out));
    }
    /* Slot 0 has no previous slot. */
    sl_tuple t = tuple_v4(0x01020304, 80, 0x05060708, 1234);
    uint32_t c0 = sl_cookie_make(key, &t, 9, &in, 0);
    ck_assert(sl_cookie_check(key, &t, 9, c0, 0, &out));
    ck_assert(sl_cookie_check(key, &t, 9, c0, SLOT + 5, &out));
    ck_assert(!sl_cookie_check(key, &t, 9, c0, 2 * SLOT, &out));
    uint32_t c31 = sl_cookie_make(key, &t, 9, &in, 31 * SLOT);
    ck_assert(sl_cookie_check(key, &t, 9, c31, 32 * SLOT, &out));
    ck_assert(!sl_cookie_check(key, &t, 9, c31, 0, &out));
}
END_TEST

START_TEST(test_cookie_wrong_inputs)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {7};
    for (int i = 0; i < 200; i++) {
        sl_tuple t = tuple_rand(&r);
        uint32_t peer = rng_u32(&r);
        sl_time now = rng_next(&r) >> 10;
        sl_cookie_opts in = opts((uint16_t)rng_next(&r), true, 3, false, true), out;
        uint32_t c = sl_cookie_make(key, &t, peer, &in, now);
        ck_assert(sl_cookie_check(key, &t, peer, c, now, &out));

        sl_tuple u = t;
        u.lport++;
        ck_assert(!sl_cookie_check(key, &u, peer, c, now, &out));
        u = t;
        u.rport ^= 0x100;
        ck_assert(!sl_cookie_check(key, &u, peer, c, now, &out));
        u = t;
        u.laddr[3] ^= 1;
        ck_assert(!sl_cookie_check(key, &u, peer, c, now, &out));
        u = t;
        u.raddr[0] ^= 0x80;
        ck_assert(!sl_cookie_check(key, &u, peer, c, now, &out));
        u = t;
        u.family = t.family == 4 ? 6 : 4;
        ck_assert(!sl_cookie_check(key, &u, peer, c, now, &out));

        ck_assert(!sl_cookie_check(key, &t, peer + 1u, c, now, &out));
        ck_assert(!sl_cookie_check(key, &t, peer - 1u, c, now, &out));
        ck_assert(!sl_cookie_check(key, &t, peer ^ 0x80000000u, c, now, &out));

        uint8_t k2[16];
        memcpy(k2, key, 16);
        k2[i % 16] ^= 0x10;
        ck_assert(!sl_cookie_check(k2, &t, peer, c, now, &out));
    }
}
END_TEST

/* All 32 single-bit flips are rejected: the 18 hash bits directly, the 14
 * slot and option bits because the hash covers them. */
START_TEST(test_cookie_bit_flips)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {8};
    for (int i = 0; i < 300; i++) {
        sl_tuple t = tuple_rand(&r);
        uint32_t peer = rng_u32(&r);
        sl_time now = rng_next(&r) >> 10;
        bool has_ws = (i & 1) != 0;
        sl_cookie_opts in = opts((uint16_t)rng_next(&r), has_ws, (uint8_t)(i % 15), i & 2, i & 4),
                       out;
        uint32_t c = sl_cookie_make(key, &t, peer, &in, now);
        /* Checked in the same and in the next slot, so a flip of a counter
         * bit that lands on the other accepted slot is exercised too. */
        for (unsigned b = 0; b < 32; b++) {
            uint32_t f = c ^ (UINT32_C(1) << b);
            ck_assert_msg(!sl_cookie_check(key, &t, peer, f, now, &out), "bit %u", b);
            ck_assert_msg(!sl_cookie_check(key, &t, peer, f, now + SLOT, &out), "bit %u", b);
        }
    }
}
END_TEST

/* A rejected check leaves *o as it was. */
START_TEST(test_cookie_out_untouched)
{
    uint8_t key[16];
    key_seq(key);
    sl_tuple t = tuple_v4(0x0a000001, 80, 0x0a000002, 50000);
    sl_cookie_opts in = opts(1460, true, 7, true, true), out, before;
    uint32_t c = sl_cookie_make(key, &t, 1, &in, 0);
    memset(&out, 0x5c, sizeof out);
    before = out;
    ck_assert(!sl_cookie_check(key, &t, 2, c, 0, &out));
    ck_assert(memcmp(&out, &before, sizeof out) == 0);
}
END_TEST

/* Forgery: random cookies for one tuple and peer ISN.  A cookie passes
 * only if its counter names the current or previous slot (2/32) and its 18
 * hash bits match (2^-18): ~0.06 expected of 2.5 * 10^5.  With the counter
 * forced to a valid slot, ~1 expected.  Either way well under 10. */
START_TEST(test_cookie_forgery)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {9};
    sl_tuple t = tuple_v4(0xc6336401, 443, 0xcb007101, 61000);
    const sl_time now = 5000 * SEC + 17;
    const uint32_t cur = (uint32_t)((now / SLOT) % 32u);
    sl_cookie_opts out;
    unsigned any = 0, forced = 0;
    for (int i = 0; i < 250000; i++) {
        uint32_t c = rng_u32(&r);
        if (sl_cookie_check(key, &t, 12345, c, now, &out))
            any++;
        uint32_t counter = (i & 1) ? cur : (cur + 31u) % 32u;
        c = (c & 0x07ffffffu) | (counter << 27);
        if (sl_cookie_check(key, &t, 12345, c, now, &out))
            forced++;
    }
    ck_assert_uint_lt(any, 10);
    ck_assert_uint_lt(forced, 10);
}
END_TEST

/* ---- ephemeral ports ------------------------------------------------------ */

START_TEST(test_port_in_range_deterministic)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {10};
    for (int i = 0; i < 20000; i++) {
        sl_tuple t = tuple_rand(&r);
        uint16_t lo = (uint16_t)rng_next(&r), hi = (uint16_t)rng_next(&r);
        if (lo > hi) {
            uint16_t x = lo;
            lo = hi;
            hi = x;
        }
        if (i % 4 == 0) {
            lo = 49152;
            hi = 65535;
        }
        uint32_t ctr = rng_u32(&r);
        uint16_t p = sl_ephemeral_port(key, &t, lo, hi, ctr);
        ck_assert_uint_ge(p, lo);
        ck_assert_uint_le(p, hi);
        sl_tuple u = t;
        ck_assert_uint_eq(sl_ephemeral_port(key, &u, lo, hi, ctr), p);
        /* The local port is what is being chosen: ignored. */
        u.lport = (uint16_t)(t.lport + 1u);
        ck_assert_uint_eq(sl_ephemeral_port(key, &u, lo, hi, ctr), p);
        /* Inverted range: treated as [hi, lo]. */
        ck_assert_uint_eq(sl_ephemeral_port(key, &t, hi, lo, ctr), p);
    }
    /* One-port and full ranges. */
    sl_tuple t = tuple_v4(1, 2, 3, 4);
    for (uint32_t ctr = 0; ctr < 100; ctr++) {
        ck_assert_uint_eq(sl_ephemeral_port(key, &t, 5000, 5000, ctr), 5000);
        (void)sl_ephemeral_port(key, &t, 0, 65535, ctr);
    }
}
END_TEST

/* Different destinations start at unrelated places of the range. */
START_TEST(test_port_spread)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {11};
    static uint8_t seen[65536];
    memset(seen, 0, sizeof seen);
    sl_tuple base = tuple_v4(0x0a000001, 0, 0x08080808, 53);
    uint16_t p0 = sl_ephemeral_port(key, &base, 49152, 65535, 0);
    unsigned same_as_base = 0, distinct = 0;
    for (int i = 0; i < 1000; i++) {
        sl_tuple t = base;
        switch (i % 3) {
        case 0:
            t.rport = (uint16_t)(1000 + i);
            break;
        case 1:
            t.raddr[3] = (uint8_t)i;
            t.raddr[2] = (uint8_t)(i >> 8);
            t.raddr[1] = 0x99;
            break;
        default:
            t = tuple_rand(&r);
            break;
        }
        uint16_t p = sl_ephemeral_port(key, &t, 49152, 65535, 0);
        if (p == p0)
            same_as_base++;
        if (!seen[p]++)
            distinct++;
    }
    /* 16384 ports: ~0.06 expected equal to p0, ~970 distinct of 1000. */
    ck_assert_uint_le(same_as_base, 3);
    ck_assert_uint_gt(distinct, 900);
    /* And the key moves them too. */
    uint8_t k2[16];
    memcpy(k2, key, 16);
    k2[15] ^= 1;
    unsigned moved = 0;
    for (uint32_t ctr = 0; ctr < 100; ctr++)
        moved += sl_ephemeral_port(k2, &base, 49152, 65535, ctr) !=
                 sl_ephemeral_port(key, &base, 49152, 65535, ctr);
    ck_assert_uint_eq(moved, 100);
}
END_TEST

/* Algorithm 3's walk: attempt i+1 is the port after attempt i (wrapping
 * within [lo, hi]), so hi-lo+1 consecutive counter values give every port
 * of the range exactly once, from any starting counter. */
START_TEST(test_port_walk_covers_range)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {12};
    static uint8_t hits[65536];
    const struct {
        uint16_t lo, hi;
    } ranges[] = {{49152, 65535}, {1024, 65535}, {0, 65535},    {32768, 60999},
                  {100, 109},     {7, 8},        {65535, 65535}};
    for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
        uint16_t lo = ranges[ri].lo, hi = ranges[ri].hi;
        uint32_t num = (uint32_t)hi - lo + 1u;
        for (int rep = 0; rep < 3; rep++) {
            sl_tuple t = tuple_rand(&r);
            /* Start anywhere, including where counter + num crosses 2^31
             * or comes close to (but not past) 2^32. */
            uint32_t c0 = rep == 0   ? rng_u32(&r) % (UINT32_MAX - num)
                          : rep == 1 ? 0x80000000u - num / 2u
                                     : UINT32_MAX - num;
            memset(hits, 0, sizeof hits);
            uint16_t prev = sl_ephemeral_port(key, &t, lo, hi, c0);
            hits[prev]++;
            for (uint32_t i = 1; i < num; i++) {
                uint16_t p = sl_ephemeral_port(key, &t, lo, hi, c0 + i);
                ck_assert_uint_eq(p, prev == hi ? lo : prev + 1u);
                ck_assert_uint_eq(hits[p], 0);
                hits[p]++;
                prev = p;
            }
            for (uint32_t p = lo; p <= hi; p++)
                ck_assert_uint_eq(hits[p], 1);
            /* The next attempt starts the cycle again. */
            ck_assert_uint_eq(sl_ephemeral_port(key, &t, lo, hi, c0 + num),
                              sl_ephemeral_port(key, &t, lo, hi, c0));
        }
    }
}
END_TEST

/* The whole 32-bit counter: port(c) = lo + (offset + c) mod n, with the
 * sum taken over the integers (not modulo 2^32), i.e. port(c) is port(0)
 * moved c mod n places along the range. */
START_TEST(test_port_counter_any)
{
    uint8_t key[16];
    key_seq(key);
    rng r = {13};
    const uint16_t los[] = {49152, 1024, 0, 100, 32768};
    const uint16_t his[] = {65535, 65535, 65535, 109, 60999};
    for (size_t ri = 0; ri < sizeof los / sizeof los[0]; ri++) {
        uint32_t num = (uint32_t)his[ri] - los[ri] + 1u;
        for (int rep = 0; rep < 20; rep++) {
            sl_tuple t = tuple_rand(&r);
            uint32_t start = sl_ephemeral_port(key, &t, los[ri], his[ri], 0) - (uint32_t)los[ri];
            for (int i = 0; i < 500; i++) {
                uint32_t c = rng_u32(&r);
                uint32_t want = los[ri] + (start + c % num) % num;
                ck_assert_uint_eq(sl_ephemeral_port(key, &t, los[ri], his[ri], c), want);
            }
        }
    }
}
END_TEST

static Suite *seq_suite(void)
{
    Suite *s = suite_create("seq");
    TCase *tc = tcase_create("seq");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_seq_wrap);
    tcase_add_test(tc, test_isn_deterministic);
    tcase_add_test(tc, test_isn_fields);
    tcase_add_test(tc, test_isn_v4_padding_ignored);
    tcase_add_test(tc, test_isn_clock);
    tcase_add_test(tc, test_isn_known_answer);
    tcase_add_test(tc, test_cookie_roundtrip);
    tcase_add_test(tc, test_cookie_mss_every_value);
    tcase_add_test(tc, test_cookie_lifetime);
    tcase_add_test(tc, test_cookie_wrong_inputs);
    tcase_add_test(tc, test_cookie_bit_flips);
    tcase_add_test(tc, test_cookie_out_untouched);
    tcase_add_test(tc, test_cookie_forgery);
    tcase_add_test(tc, test_port_in_range_deterministic);
    tcase_add_test(tc, test_port_spread);
    tcase_add_test(tc, test_port_walk_covers_range);
    tcase_add_test(tc, test_port_counter_any);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seq_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
