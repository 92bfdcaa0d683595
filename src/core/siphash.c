/*
 * SipHash-2-4, written from the description in Aumasson & Bernstein,
 * "SipHash: a fast short-input PRF" (2012), section 2: the 128-bit key is
 * two little-endian 64-bit words k0, k1; the message is read as
 * little-endian 64-bit words, the last one padded with zeros and carrying
 * len mod 256 in its top byte; two SipRounds per word, four at the end.
 */
#include "siphash.h"

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8u * i);
    return v;
}

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state;

static void sip_round(sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static void sip_compress(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t sl_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t k0 = load_le64(key);
    uint64_t k1 = load_le64(key + 8);
    sip_state s;
    /* Initialization constants: "somepseudorandomlygeneratedbytes". */
    s.v0 = k0 ^ UINT64_C(0x736f6d6570736575);
    s.v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
    s.v2 = k0 ^ UINT64_C(0x6c7967656e657261);
    s.v3 = k1 ^ UINT64_C(0x7465646279746573);

    size_t full = len / 8u;
    for (size_t i = 0; i < full; i++)
        sip_compress(&s, load_le64(p + 8u * i));

    /* Last word: the remaining 0..7 bytes, then len mod 256 in byte 7. */
    uint64_t last = (uint64_t)(len & 0xffu) << 56;
    size_t rem = len % 8u;
    for (size_t i = 0; i < rem; i++) /* never forms p + 0 when p is NULL */
        last |= (uint64_t)p[8u * full + i] << (8u * i);
    sip_compress(&s, last);

    /* Finalization. */
    s.v2 ^= 0xffu;
    sip_round(&s);
    sip_round(&s);
    sip_round(&s);
    sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
