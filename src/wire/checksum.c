/*
 * The internet checksum: RFC 1071 (computation), RFC 1624 (incremental
 * update), pseudo-headers of RFC 9293 §3.1 and RFC 8200 §8.1.
 *
 * The fast path sums 64-bit native-order words with end-around carry.  The
 * one's-complement sum is byte-order independent (RFC 1071 §2(B)), so the
 * native sum folded to 16 bits is the big-endian sum with its bytes swapped
 * on a little-endian host; it is swapped back once at the end.
 */
#include "sluice/wire.h"

#include <string.h>

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t add64(uint64_t s, uint64_t v)
{
    s += v;
    return s + (s < v); /* end-around carry */
}

static uint32_t fold64_to_16(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint32_t)s;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

uint32_t sl_csum_add(uint32_t a, uint32_t b)
{
    uint64_t s = (uint64_t)a + b;
    return (uint32_t)((s & 0xffffffffu) + (s >> 32));
}

uint32_t sl_csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    while (len >= 32) {
        s0 = add64(s0, load64(p));
        s1 = add64(s1, load64(p + 8));
        s2 = add64(s2, load64(p + 16));
        s3 = add64(s3, load64(p + 24));
        p += 32;
        len -= 32;
    }
    s0 = add64(s0, s1);
    s2 = add64(s2, s3);
    s0 = add64(s0, s2);
    while (len >= 8) {
        s0 = add64(s0, load64(p));
        p += 8;
        len -= 8;
    }
    /* Tail of 0..7 bytes: place them at their natural offsets in a zeroed
     * word; an odd last byte is thereby padded with zero (RFC 1071). */
    if (len > 0) {
        uint8_t tail[8] = {0};
        memcpy(tail, p, len);
        s0 = add64(s0, load64(tail));
    }
    uint32_t native = fold64_to_16(s0);
    uint32_t be = native;
    if (host_is_little_endian())
        be = ((native & 0xffu) << 8) | (native >> 8);
    return sl_csum_add(sum, be);
}

uint32_t sl_csum_partial_ref(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t s = sum;
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < len)
        s += (uint32_t)p[i] << 8;
    while (s >> 32)
        s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

uint16_t sl_csum_finish(uint32_t sum)
{
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

uint16_t sl_csum(const void *p, size_t len)
{
    return sl_csum_finish(sl_csum_partial(p, len, 0));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
uint16_t sl_csum_update16(uint16_t csum, uint16_t old_val, uint16_t new_val)
{
    uint32_t s = (uint16_t)~csum;
    s += (uint16_t)~old_val;
    s += new_val;
    return sl_csum_finish(s);
}

uint16_t sl_csum_update32(uint16_t csum, uint32_t old_val, uint32_t new_val)
{
    uint32_t s = (uint16_t)~csum;
    s += (uint16_t)~(uint16_t)(old_val >> 16);
    s += (uint16_t)~(uint16_t)old_val;
    s += new_val >> 16;
    s += new_val & 0xffffu;
    return sl_csum_finish(s);
}

uint32_t sl_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t len)
{
    uint32_t s = 0;
    s += sl_load16(src) + (uint32_t)sl_load16(src + 2);
    s += sl_load16(dst) + (uint32_t)sl_load16(dst + 2);
    s += proto;
    s += len;
    return s;
}

uint32_t sl_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, uint32_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i < 16; i += 2) {
        s += sl_load16(src + i);
        s += sl_load16(dst + i);
    }
    s += len >> 16;
    s += len & 0xffffu;
    s += proto;
    return s;
}
