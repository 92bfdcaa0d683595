/*
 * fuzz_checksum: the fast checksum against the reference loop and a third,
 * independent sum; chained and combined partial sums over even splits at
 * every alignment; RFC 1624 incremental updates against a recompute; and
 * the pseudo-header helpers against pseudo-headers laid out byte by byte.
 *
 * Input: 12 control bytes then data.
 *   [0]     bits 0-2: start offset of the copy (alignment 0..7)
 *   [1..4]  initial partial sum (any 32-bit value)
 *   [5..8]  split lengths (each byte * 2, so pieces but the last are even)
 *   [9..10] new 16-bit field value for the incremental update
 *   [11]    positions of the checksum field and the changed field
 */
#include "fuzz_common.h"

/* Independent one's-complement sum folded to 16 bits (0 only when every
 * addend is 0). */
static uint32_t plain_fold(const uint8_t *p, size_t n, uint32_t init)
{
    uint64_t s = init;
    for (size_t i = 0; i < n; i += 2) {
        uint32_t w = (uint32_t)p[i] << 8;
        if (i + 1 < n)
            w |= p[i + 1];
        s += w;
    }
    while (s >> 16)
        s = (s & 0xffffu) + (s >> 16);
    return (uint32_t)s;
}

static int all_zero_but(const uint8_t *p, size_t n, size_t skip)
{
    for (size_t i = 0; i < n; i++)
        if ((i < skip || i >= skip + 2) && p[i] != 0)
            return 0;
    return 1;
}

/* Incremental update result vs recompute: equal, except the one case RFC
 * 1624 §3 leaves: the data became all zero, where eqn. 3 gives -0. */
static void check_update(uint16_t incr, const uint8_t *buf, size_t n, size_t c)
{
    uint8_t *z = fz_dup(buf, n);
    z[c] = z[c + 1] = 0;
    uint16_t want = sl_csum_finish(sl_csum_partial_ref(z, n, 0));
    if (incr != want) {
        FZ_CHECK(all_zero_but(z, n, c) && (incr == 0 || incr == 0xffff) &&
                 (want == 0 || want == 0xffff));
    }
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    size_t off = data[0] & 7u;
    uint32_t init = sl_load32(data + 1);
    const uint8_t *splits = data + 5;
    uint16_t newval = sl_load16(data + 9);
    uint8_t pos = data[11];
    const uint8_t *d = data + 12;
    size_t n = size - 12;

    /* Copy at the chosen alignment, ending exactly at the block's end. */
    uint8_t *blk = fz_alloc(off + n + 1);
    uint8_t *p = blk + off;
    if (n)
        memcpy(p, d, n);

    /* 1. One shot, with and without an initial sum. */
    uint32_t fast = sl_csum_partial(p, n, init);
    uint32_t ref = sl_csum_partial_ref(p, n, init);
    uint32_t ind = plain_fold(p, n, init);
    FZ_CHECK(sl_csum_finish(fast) == sl_csum_finish(ref));
    FZ_CHECK(sl_csum_finish(ref) == (uint16_t)~ind);
    FZ_CHECK(sl_csum_finish(sl_csum_partial(p, n, 0)) == (uint16_t)~plain_fold(p, n, 0));
    FZ_CHECK(sl_csum(p, n) == sl_csum_finish(sl_csum_partial_ref(p, n, 0)));
    FZ_CHECK(sl_csum_finish(sl_csum_partial(NULL, 0, init)) == (uint16_t)~plain_fold(NULL, 0, init));

    /* 2. Chained (sum threaded through) and combined (sl_csum_add). */
    uint32_t chain = init, comb = init;
    size_t at = 0;
    for (size_t k = 0; k < 4; k++) {
        size_t l = (size_t)splits[k] * 2;
        size_t room = (n - at) & ~(size_t)1;
        if (l > room)
            l = room;
        chain = sl_csum_partial(p + at, l, chain);
        comb = sl_csum_add(comb, sl_csum_partial(p + at, l, 0));
        at += l;
    }
    chain = sl_csum_partial(p + at, n - at, chain);
    comb = sl_csum_add(comb, sl_csum_partial(p + at, n - at, 0));
    FZ_CHECK(sl_csum_finish(chain) == sl_csum_finish(ref));
    FZ_CHECK(sl_csum_finish(comb) == sl_csum_finish(ref));

    /* 3. Incremental update (RFC 1624 eqn. 3) vs recompute. */
    size_t m = n & ~(size_t)1;
    if (m >= 4) {
        uint8_t *b = fz_dup(p, m);
        size_t words = m / 2;
        size_t c = (size_t)(pos & 0x0f) % words * 2;
        size_t f = (size_t)(pos >> 4) % words * 2;
        if (f == c)
            f = (f + 2) % m;
        b[c] = b[c + 1] = 0;
        uint16_t hc = sl_csum_finish(sl_csum_partial_ref(b, m, 0));
        sl_store16(b + c, hc);
        FZ_CHECK(sl_csum_finish(sl_csum_partial(b, m, 0)) == 0);
        uint16_t old = sl_load16(b + f);
        sl_store16(b + f, newval);
        check_update(sl_csum_update16(hc, old, newval), b, m, c);

        /* 32-bit field at an even offset not overlapping the checksum. */
        if (m >= 6) {
            size_t f4 = (size_t)(pos >> 4) % (words - 1) * 2;
            if (!(f4 + 4 > c && c + 2 > f4)) {
                b[c] = b[c + 1] = 0;
                hc = sl_csum_finish(sl_csum_partial_ref(b, m, 0));
                sl_store16(b + c, hc);
                uint32_t old32 = sl_load32(b + f4);
                uint32_t new32 = (uint32_t)newval << 16 | (uint32_t)(init & 0xffffu);
                sl_store32(b + f4, new32);
                check_update(sl_csum_update32(hc, old32, new32), b, m, c);
            }
        }
        free(b);
    }

    /* 4. Pseudo-header helpers vs byte layouts. */
    if (n >= 11) {
        sl_pseudo ph = {4, p, p + 4};
        uint8_t proto = p[8];
        uint16_t l16 = sl_load16(p + 9);
        uint32_t got = sl_csum_pseudo4(p, p + 4, proto, l16);
        FZ_CHECK(sl_csum_finish(got) == sl_csum_finish(fz_pseudo_sum(&ph, proto, l16)));
        /* ...and chained into a data sum. */
        FZ_CHECK(sl_csum_finish(sl_csum_partial(p, n, got)) ==
                 sl_csum_finish(sl_csum_partial_ref(p, n, fz_pseudo_sum(&ph, proto, l16))));
    }
    if (n >= 37) {
        sl_pseudo ph = {6, p, p + 16};
        uint8_t proto = p[32];
        uint32_t l32 = sl_load32(p + 33);
        uint32_t got = sl_csum_pseudo6(p, p + 16, proto, l32);
        FZ_CHECK(sl_csum_finish(got) == sl_csum_finish(fz_pseudo_sum(&ph, proto, l32)));
    }

    free(blk);
    return 0;
}
