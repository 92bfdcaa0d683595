/*
 * Initial sequence numbers (RFC 6528 §3), SYN cookies (RFC 4987 §3.6) and
 * ephemeral port selection (RFC 6056 §3.3.3).  Written from the RFCs.
 *
 * All three hash a byte encoding of the connection's tuple with SipHash-2-4
 * under the stack's secret.  The encoding starts with a one-byte purpose
 * tag so the three uses of the one key never feed the same input to the
 * PRF (an ISN never reveals a cookie's or a port's hash), then the family
 * byte, then the addresses at the family's length (4 or 16 bytes, so the
 * family byte alone fixes where every later field starts), then the ports
 * big-endian.  Every message of one purpose therefore has one parse.
 */
#include "tcp/seq.h"

#include <stddef.h>
#include <string.h>

#include "core/siphash.h"

enum {
    TAG_ISN = 0x49,    /* 'I' */
    TAG_COOKIE = 0x43, /* 'C' */
    TAG_PORT = 0x50,   /* 'P' */
};

/* tag + family + 2 x 16 address bytes + 2 ports + cookie extras (8-byte
 * slot, 4-byte peer ISN, 2 bytes of cookie bits). */
#define MSG_MAX (1u + 1u + 16u + 16u + 2u + 2u + 8u + 4u + 2u)

static size_t put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24u - 8u * i));
    return 4;
}

static size_t put_be64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56u - 8u * i));
    return 8;
}

/* Writes tag, family, laddr, raddr, lport, rport; returns the length.  Only
 * the first 4 address bytes of an IPv4 tuple are read.  A family other
 * than 4 is encoded with 16-byte addresses; its family byte still keeps
 * it apart from an IPv4 tuple. */
static size_t put_tuple(uint8_t *p, uint8_t tag, const sl_tuple *t, uint16_t lport)
{
    size_t alen = t->family == 4 ? 4u : 16u;
    size_t n = 0;
    p[n++] = tag;
    p[n++] = t->family;
    memcpy(p + n, t->laddr, alen);
    n += alen;
    memcpy(p + n, t->raddr, alen);
    n += alen;
    n += put_be16(p + n, lport);
    n += put_be16(p + n, t->rport);
    return n;
}

/* ---- ISN ---------------------------------------------------------------
 *
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a timer ticking every 4 microseconds (kept modulo 2^32),
 * F a PRF that cannot be computed from outside; we take the low 32 bits
 * of SipHash-2-4.  For a given tuple successive ISNs keep advancing with
 * the clock, as RFC 9293 §3.4.1 asks, while different tuples sit at
 * unrelated offsets an off-path attacker cannot learn. */
uint32_t sl_tcp_isn(const uint8_t key[16], const sl_tuple *t, sl_time now)
{
    uint8_t msg[MSG_MAX];
    size_t n = put_tuple(msg, TAG_ISN, t, t->lport);
    uint32_t m = (uint32_t)(now / 4u);
    return m + (uint32_t)sl_siphash24(key, msg, n);
}

/* ---- SYN cookies -------------------------------------------------------
 *
 * RFC 4987 §3.6: the listener answers a SYN without keeping state, putting
 * what it must remember into the ISS of its SYN-ACK, and rebuilds the
 * connection when the ACK of that ISS returns.  Layout, most significant
 * bit first:
 *
 *   31..27  slot counter: (now / 64 s) mod 32
 *   26..24  MSS index into mss_table (largest entry <= the peer's MSS)
 *   23..20  window scale shift 0..14; 15 = the SYN had no window scale
 *   19      SACK-permitted was offered
 *   18      timestamps were offered
 *   17..0   the low 18 bits of SipHash-2-4 over (tuple, full 64-bit slot
 *           number, peer ISN, bits 31..18 of the cookie)
 *
 * The hash covers the 14 bits above it, so flipping any bit of a cookie
 * (or forging one) passes with probability 2^-18 per candidate slot.  The
 * hash takes the full slot number, not just the 5-bit counter, so a cookie
 * cannot come back to life when the counter wraps after 32 slots (34 min).
 *
 * A cookie made in slot S is accepted while the current slot is S or S+1:
 * between 64 and 128 s of life depending on where in S it was made.
 * The check derives the one candidate slot from the counter in the cookie
 * (current or previous), so it computes exactly one hash whether or not
 * the counter matches; the only branch-dependent data is the counter,
 * which is public.
 *
 * RFC 4987 §3.6 notes what cookies cost: options beyond these are lost,
 * and the ISS carries only 18 unpredictable bits (RFC 6528's ISN
 * protection is weaker while cookies are in use). */

#define SLOT_USEC UINT64_C(64000000)
#define SLOT_BITS 5u
#define HASH_BITS 18u
#define HASH_MASK ((UINT32_C(1) << HASH_BITS) - 1u)
#define WSCALE_NONE 15u
#define WSCALE_MAX 14u /* RFC 7323 §2.3: larger shifts are used as 14 */

static const uint16_t mss_table[8] = {536, 1200, 1220, 1360, 1440, 1452, 1460, 8960};

static uint32_t mss_index(uint16_t mss)
{
    uint32_t idx = 0;
    for (uint32_t i = 1; i < 8u; i++)
        if (mss_table[i] <= mss)
            idx = i;
    return idx;
}

/* Bits 31..18 of a cookie from its slot and options. */
static uint32_t cookie_head(uint64_t slot, const sl_cookie_opts *o)
{
    uint32_t ws = o->has_wscale ? (o->wscale > WSCALE_MAX ? WSCALE_MAX : o->wscale) : WSCALE_NONE;
    uint32_t head = (uint32_t)(slot & ((1u << SLOT_BITS) - 1u));
    head = (head << 3) | mss_index(o->mss);
    head = (head << 4) | ws;
    head = (head << 1) | (o->sack_perm ? 1u : 0u);
    head = (head << 1) | (o->has_ts ? 1u : 0u);
    return head;
}

static uint32_t cookie_hash(const uint8_t key[16], const sl_tuple *t, uint64_t slot,
                            uint32_t peer_isn, uint32_t head)
{
    uint8_t msg[MSG_MAX];
    size_t n = put_tuple(msg, TAG_COOKIE, t, t->lport);
    n += put_be64(msg + n, slot);
    n += put_be32(msg + n, peer_isn);
    n += put_be16(msg + n, (uint16_t)head);
    return (uint32_t)sl_siphash24(key, msg, n) & HASH_MASK;
}

uint32_t sl_cookie_make(const uint8_t key[16], const sl_tuple *t, uint32_t peer_isn,
                        const sl_cookie_opts *o, sl_time now)
{
    uint64_t slot = now / SLOT_USEC;
    uint32_t head = cookie_head(slot, o);
    return (head << HASH_BITS) | cookie_hash(key, t, slot, peer_isn, head);
}

bool sl_cookie_check(const uint8_t key[16], const sl_tuple *t, uint32_t peer_isn, uint32_t cookie,
                     sl_time now, sl_cookie_opts *o)
{
    const uint32_t counter_mask = (1u << SLOT_BITS) - 1u;
    uint64_t slot = now / SLOT_USEC;
    uint32_t head = cookie >> HASH_BITS;
    uint32_t counter = head >> 9;
    bool is_current = counter == (uint32_t)(slot & counter_mask);
    /* In slot 0 there is no previous slot: a counter of 31 then names a
     * slot before the clock started. */
    bool is_previous = slot > 0 && counter == (uint32_t)((slot - 1u) & counter_mask);
    uint64_t cand = is_current ? slot : slot - (slot > 0 ? 1u : 0u);
    uint32_t diff = cookie_hash(key, t, cand, peer_isn, head) ^ (cookie & HASH_MASK);
    bool ok = (is_current || is_previous) && diff == 0;

    uint32_t ws = (head >> 2) & 0xfu;
    sl_cookie_opts d;
    d.mss = mss_table[(head >> 6) & 7u];
    d.has_wscale = ws != WSCALE_NONE;
    d.wscale = (uint8_t)(d.has_wscale ? ws : 0u);
    d.sack_perm = (head >> 1) & 1u;
    d.has_ts = head & 1u;
    if (ok)
        *o = d;
    return ok;
}

/* ---- Ephemeral ports ---------------------------------------------------
 *
 * RFC 6056 §3.3.3, Algorithm 3 ("Simple Hash-Based Port Selection"):
 *
 *   offset = F(local_IP, remote_IP, remote_port, secret_key)
 *   port   = min + (offset + next_ephemeral) mod (max - min + 1)
 *
 * with next_ephemeral the caller's counter, advanced once per attempt.
 * Different destinations start at unrelated points of the range, so an
 * attacker cannot guess the port used towards someone else, and
 * consecutive counter values walk the whole range, each port once, before
 * a port repeats.  Algorithm 4 (§3.3.4) would also hide from a destination
 * how many connections went elsewhere, but needs a table of per-bucket
 * counters that this interface (one counter) does not carry.
 *
 * The sum is taken on (offset mod n) + (counter mod n) < 2n, so the walk
 * stays a single cycle for every counter value short of the counter's
 * own wrap at 2^32.  An inverted range (lo > hi) is treated as [hi, lo]. */
uint16_t sl_ephemeral_port(const uint8_t key[16], const sl_tuple *t, uint16_t lo, uint16_t hi,
                           uint32_t counter)
{
    uint8_t msg[MSG_MAX];
    if (lo > hi) {
        uint16_t tmp = lo;
        lo = hi;
        hi = tmp;
    }
    /* The local port is what we are choosing: hash it as 0. */
    size_t n = put_tuple(msg, TAG_PORT, t, 0);
    uint32_t num = (uint32_t)hi - lo + 1u; /* 1..65536 */
    uint32_t offset = (uint32_t)sl_siphash24(key, msg, n);
    uint32_t step = (offset % num + counter % num) % num;
    return (uint16_t)(lo + step);
}
