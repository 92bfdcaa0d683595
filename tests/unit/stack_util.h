/*
 * Helpers for the suites that drive a whole stack through its public API
 * (test_stack_udp.c, test_stack_mem.c, test_stack_ip.c, test_arena_nomalloc.c).
 * Header-only, every function static inline; no dependency on libcheck, so
 * a plain main() can use it too.  Functions report problems through return
 * values; the suites assert.
 *
 *   su_cap      capture transmit callback: records a copy of every packet
 *               the stack sends into a bounded pool; optional get_buffer
 *               mode (its own device buffer, can refuse = "device full").
 *   su_alloc    counting allocator: live/peak bytes, alloc/free counts,
 *               size-mismatch detection, fail the Nth allocation (or every
 *               allocation from the Nth on).
 *   su_udp4/6, su_icmp4/6_echo, su_ip4/6
 *               packet builders using the wire emitters (checksums right).
 *   su_parse_udp, su_parse_icmp
 *               decode what the stack sent, verifying every checksum.
 *   su_ep, su_addr, su_config, su_stack_new, su_events ...
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 *
 * API is stable: other suites include this header.
 */
#ifndef SL_STACK_UTIL_H
#define SL_STACK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/stack.h"
#include "sluice/wire.h"

/* ---- addresses -------------------------------------------------------- */

/* Parse text ("198.18.0.1", "2001:2::1"); aborts on bad text (a test bug). */
static inline sl_addr su_addr(const char *text)
{
    sl_addr a;
    memset(&a, 0, sizeof a);
    if (sl_addr_parse(text, &a) != SL_OK)
        abort();
    return a;
}

static inline sl_endpoint su_ep(const char *text, uint16_t port)
{
    sl_endpoint e;
    memset(&e, 0, sizeof e);
    e.addr = su_addr(text);
    e.port = port;
    return e;
}

static inline bool su_addr_eq(const sl_addr *a, const sl_addr *b)
{
    if (a->family != b->family)
        return false;
    return memcmp(a->b, b->b, a->family == 4 ? 4u : 16u) == 0;
}

static inline bool su_ep_eq(const sl_endpoint *a, const sl_endpoint *b)
{
    return a->port == b->port && su_addr_eq(&a->addr, &b->addr);
}

/* ---- capture transmit callback ---------------------------------------- */

typedef struct su_pkt {
    size_t off;   /* into the pool */
    size_t len;
} su_pkt;

typedef struct su_cap {
    uint8_t *pool;          /* packet bytes, back to back               */
    size_t pool_cap, pool_used;
    su_pkt *pkts;
    size_t max_pkts;
    size_t n;               /* packets recorded (since last clear)      */
    uint64_t total;         /* packets sent, ever (incl. not recorded)  */
    uint64_t overflow;      /* packets not recorded: pool/array full    */
    bool owned;             /* pool/pkts came from malloc (su_cap_new)  */

    /* get_buffer mode (su_cap_tx(cap, true)). */
    uint8_t *gbuf;          /* device buffer handed out                 */
    size_t gbuf_cap;
    uint64_t gb_calls;      /* get_buffer calls                         */
    uint64_t gb_refused;    /* ... answered NULL                        */
    uint32_t gb_refuse;     /* answer NULL to the next gb_refuse calls  */
    bool gb_refuse_all;     /* answer NULL until cleared                */
    bool gb_budget_on;      /* with it: hand out gb_budget buffers, then
                               answer NULL (until budget raised / off)  */
    uint32_t gb_budget;
    bool gb_outstanding;    /* a buffer was handed out, not yet sent    */
    uint64_t gb_mismatch;   /* send() on a buffer other than gbuf, or
                               too long, or without get_buffer first    */
    size_t gb_last_len;     /* len asked by the last get_buffer         */
} su_cap;

/* Use caller-provided storage (no heap): pool for packet bytes, pkts for
 * up to max_pkts records, gbuf (may be NULL) for get_buffer mode. */
static inline void su_cap_init(su_cap *c, uint8_t *pool, size_t pool_cap, su_pkt *pkts,
                               size_t max_pkts, uint8_t *gbuf, size_t gbuf_cap)
{
    memset(c, 0, sizeof *c);
    c->pool = pool;
    c->pool_cap = pool_cap;
    c->pkts = pkts;
    c->max_pkts = max_pkts;
    c->gbuf = gbuf;
    c->gbuf_cap = gbuf_cap;
}

/* Heap-backed capture: pool_cap bytes, max_pkts packets, a 64 KiB device
 * buffer.  Free with su_cap_free. */
static inline su_cap *su_cap_new(size_t pool_cap, size_t max_pkts)
{
    su_cap *c = (su_cap *)malloc(sizeof *c);
    uint8_t *pool = (uint8_t *)malloc(pool_cap);
    su_pkt *pkts = (su_pkt *)malloc(max_pkts * sizeof *pkts);
    uint8_t *gbuf = (uint8_t *)malloc(65536);
    if (c == NULL || pool == NULL || pkts == NULL || gbuf == NULL)
        abort();
    su_cap_init(c, pool, pool_cap, pkts, max_pkts, gbuf, 65536);
    c->owned = true;
    return c;
}

static inline void su_cap_free(su_cap *c)
{
    if (c == NULL || !c->owned)
        return;
    free(c->pool);
    free(c->pkts);
    free(c->gbuf);
    free(c);
}

/* Forget recorded packets (counters other than n are kept). */
static inline void su_cap_clear(su_cap *c)
{
    c->n = 0;
    c->pool_used = 0;
}

static inline const uint8_t *su_cap_pkt(const su_cap *c, size_t i, size_t *len)
{
    if (i >= c->n) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = c->pkts[i].len;
    return c->pool + c->pkts[i].off;
}

static inline void su_cap_record(su_cap *c, const uint8_t *buf, size_t len)
{
    c->total++;
    if (c->n >= c->max_pkts || len > c->pool_cap - c->pool_used) {
        c->overflow++;
        return;
    }
    memcpy(c->pool + c->pool_used, buf, len);
    c->pkts[c->n].off = c->pool_used;
    c->pkts[c->n].len = len;
    c->pool_used += len;
    c->n++;
}

static inline void su_cap_send(void *ctx, uint8_t *buf, size_t len)
{
    su_cap *c = (su_cap *)ctx;
    su_cap_record(c, buf, len);
}

static inline uint8_t *su_cap_get_buffer(void *ctx, size_t len)
{
    su_cap *c = (su_cap *)ctx;
    c->gb_calls++;
    if (c->gb_refuse_all || c->gb_refuse > 0 || c->gbuf == NULL || len > c->gbuf_cap ||
        (c->gb_budget_on && c->gb_budget == 0)) {
        if (c->gb_refuse > 0)
            c->gb_refuse--;
        c->gb_refused++;
        return NULL;
    }
    if (c->gb_budget_on)
        c->gb_budget--;
    c->gb_last_len = len;
    c->gb_outstanding = true;
    /* Poison so a packet not written in full shows up. */
    memset(c->gbuf, 0xA5, len);
    return c->gbuf;
}

static inline void su_cap_send_gb(void *ctx, uint8_t *buf, size_t len)
{
    su_cap *c = (su_cap *)ctx;
    if (buf != c->gbuf || !c->gb_outstanding || len > c->gb_last_len)
        c->gb_mismatch++;
    c->gb_outstanding = false;
    su_cap_record(c, buf, len);
}

/* The sl_tx for a capture: plain send, or get_buffer + send. */
static inline sl_tx su_cap_tx(su_cap *c, bool with_get_buffer)
{
    sl_tx t;
    memset(&t, 0, sizeof t);
    t.ctx = c;
    if (with_get_buffer) {
        t.get_buffer = su_cap_get_buffer;
        t.send = su_cap_send_gb;
    } else {
        t.send = su_cap_send;
    }
    return t;
}

/* ---- counting allocator ----------------------------------------------- */

#define SU_ALLOC_MAGIC 0x511CE0DDu

typedef struct su_alloc {
    size_t live;            /* bytes currently allocated (as asked)     */
    size_t peak;
    uint64_t allocs;        /* successful allocations                   */
    uint64_t frees;
    uint64_t calls;         /* alloc calls, including failed ones       */
    uint64_t fails;         /* allocations refused                      */
    uint64_t fail_at;       /* refuse call number fail_at (1-based); 0 off */
    bool fail_after;        /* ... and every call after it              */
    size_t limit;           /* refuse when live + size > limit; 0 off   */
    uint64_t bad_free;      /* free with wrong size/unknown pointer     */
} su_alloc;

typedef struct su_alloc_hdr {
    uint64_t magic;
    uint64_t size;
} su_alloc_hdr; /* 16 bytes: keeps the user pointer 16-aligned */

static inline void *su_alloc_fn(void *ctx, size_t size)
{
    su_alloc *a = (su_alloc *)ctx;
    a->calls++;
    if (a->fail_at != 0 && (a->calls == a->fail_at || (a->fail_after && a->calls > a->fail_at))) {
        a->fails++;
        return NULL;
    }
    if (a->limit != 0 && (size > a->limit || a->live > a->limit - size)) {
        a->fails++;
        return NULL;
    }
    if (size > SIZE_MAX - 2 * sizeof(su_alloc_hdr)) {
        a->fails++;
        return NULL;
    }
    su_alloc_hdr *h = (su_alloc_hdr *)malloc(sizeof(su_alloc_hdr) + (size == 0 ? 1 : size));
    if (h == NULL) {
        a->fails++;
        return NULL;
    }
    h->magic = SU_ALLOC_MAGIC;
    h->size = size;
    a->live += size;
    if (a->live > a->peak)
        a->peak = a->live;
    a->allocs++;
    return h + 1;
}

static inline void su_free_fn(void *ctx, void *ptr, size_t size)
{
    su_alloc *a = (su_alloc *)ctx;
    if (ptr == NULL)
        return;
    su_alloc_hdr *h = (su_alloc_hdr *)ptr - 1;
    if (h->magic != SU_ALLOC_MAGIC || h->size != size) {
        a->bad_free++;
        return; /* leak it rather than corrupt the heap */
    }
    h->magic = 0;
    a->live -= size;
    a->frees++;
    free(h);
}

static inline sl_allocator su_alloc_make(su_alloc *a)
{
    memset(a, 0, sizeof *a);
    sl_allocator m;
    m.alloc = su_alloc_fn;
    m.free = su_free_fn;
    m.ctx = a;
    return m;
}

/* Refuse the n-th allocation call from now (1 = the next one); with
 * `after`, that one and every later one.  n = 0 turns failing off. */
static inline void su_alloc_fail(su_alloc *a, uint64_t n, bool after)
{
    a->fail_at = n == 0 ? 0 : a->calls + n;
    a->fail_after = after;
}

/* ---- configuration ---------------------------------------------------- */

static const uint8_t su_secret_a[32] = {
    0x73, 0x6c, 0x75, 0x69, 0x63, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x73, 0x65, 0x63, 0x72,
    0x65, 0x74, 0x2d, 0x41, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
static const uint8_t su_secret_b[32] = {
    0x73, 0x6c, 0x75, 0x69, 0x63, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x73, 0x65, 0x63, 0x72,
    0x65, 0x74, 0x2d, 0x42, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc};

/* Defaults + secret A + capture tx (plain send) into `c` (may be NULL:
 * then the caller must set cfg->tx). */
static inline void su_config(sl_config *cfg, su_cap *c)
{
    sl_config_init(cfg);
    cfg->secret = su_secret_a;
    cfg->secret_len = sizeof su_secret_a;
    if (c != NULL)
        cfg->tx = su_cap_tx(c, false);
}

/* Heap allocator stack; aborts on failure (use sl_stack_new directly to
 * test failures). */
static inline sl_stack *su_stack_new(const sl_config *cfg)
{
    sl_allocator heap = sl_allocator_heap();
    sl_error e = SL_OK;
    sl_stack *s = sl_stack_new(cfg, &heap, &e);
    if (s == NULL)
        abort();
    return s;
}

/* ---- packet builders -------------------------------------------------- */

/* IPv4 packet with the given payload (emitted after the header). Returns
 * its length, 0 on error.  DF clear, no options. */
static inline size_t su_ip4(uint8_t *buf, size_t cap, const uint8_t src[4], const uint8_t dst[4],
                            uint8_t proto, const uint8_t *payload, size_t plen, uint16_t id,
                            uint8_t ttl)
{
    sl_ipv4_hdr h;
    memset(&h, 0, sizeof h);
    h.id = id;
    h.ttl = ttl;
    h.proto = proto;
    memcpy(h.src, src, 4);
    memcpy(h.dst, dst, 4);
    h.payload = payload;
    h.payload_len = plen;
    size_t w = 0;
    if (sl_ipv4_emit(&h, buf, cap, &w) != SL_OK)
        return 0;
    return w;
}

/* IPv6 packet; `payload` may start with extension headers when
 * next_header names them.  Returns its length, 0 on error. */
static inline size_t su_ip6(uint8_t *buf, size_t cap, const uint8_t src[16], const uint8_t dst[16],
                            uint8_t next_header, const uint8_t *payload, size_t plen,
                            uint8_t hop_limit)
{
    sl_ipv6_hdr h;
    memset(&h, 0, sizeof h);
    h.next_header = next_header;
    h.hop_limit = hop_limit;
    memcpy(h.src, src, 16);
    memcpy(h.dst, dst, 16);
    h.payload = payload;
    h.payload_len = plen;
    size_t w = 0;
    if (sl_ipv6_emit(&h, buf, cap, &w) != SL_OK)
        return 0;
    return w;
}

/* UDP datagram src -> dst (same family, 4 or 6) in an IP packet, correct
 * checksums.  payload may be NULL when n is 0.  IPv4 ID `id` (ignored for
 * IPv6), TTL/hop limit 64.  Returns the packet length, 0 on error. */
static inline size_t su_udp(uint8_t *buf, size_t cap, const sl_endpoint *src,
                            const sl_endpoint *dst, const void *payload, size_t n, uint16_t id)
{
    if (src->addr.family != dst->addr.family)
        return 0;
    size_t iphl = src->addr.family == 4 ? 20u : 40u;
    if (cap < iphl + 8u || n > cap - iphl - 8u)
        return 0;
    sl_udp_hdr u;
    memset(&u, 0, sizeof u);
    u.sport = src->port;
    u.dport = dst->port;
    u.payload = (const uint8_t *)payload;
    u.payload_len = n;
    sl_pseudo ph = {src->addr.family, src->addr.b, dst->addr.b};
    size_t w = 0;
    if (sl_udp_emit(&u, &ph, buf + iphl, cap - iphl, &w) != SL_OK)
        return 0;
    if (src->addr.family == 4)
        return su_ip4(buf, cap, src->addr.b, dst->addr.b, SL_IPPROTO_UDP, NULL, w, id, 64);
    if (src->addr.family == 6)
        return su_ip6(buf, cap, src->addr.b, dst->addr.b, SL_IPPROTO_UDP, NULL, w, 64);
    return 0;
}

/* ICMP echo request (v4 type 8 / v6 type 128) src -> dst with data. */
static inline size_t su_icmp_echo(uint8_t *buf, size_t cap, const sl_addr *src, const sl_addr *dst,
                                  uint16_t id, uint16_t seq, const void *data, size_t n)
{
    if (src->family != dst->family)
        return 0;
    size_t iphl = src->family == 4 ? 20u : 40u;
    if (cap < iphl + 8u || n > cap - iphl - 8u)
        return 0;
    sl_icmp_hdr m;
    memset(&m, 0, sizeof m);
    m.rest = sl_icmp_rest_echo(id, seq);
    m.body = (const uint8_t *)data;
    m.body_len = n;
    size_t w = 0;
    if (src->family == 4) {
        m.type = 8;
        if (sl_icmp4_emit(&m, buf + iphl, cap - iphl, &w) != SL_OK)
            return 0;
        return su_ip4(buf, cap, src->b, dst->b, SL_IPPROTO_ICMP, NULL, w, (uint16_t)(id ^ seq),
                      64);
    }
    m.type = 128;
    sl_pseudo ph = {6, src->b, dst->b};
    if (sl_icmp6_emit(&m, &ph, buf + iphl, cap - iphl, &w) != SL_OK)
        return 0;
    return su_ip6(buf, cap, src->b, dst->b, SL_IPPROTO_ICMPV6, NULL, w, 64);
}

/* ---- decoders --------------------------------------------------------- */

typedef struct su_ip_pkt {
    uint8_t family;       /* 4 or 6                                     */
    sl_addr src, dst;
    uint8_t ttl;          /* TTL / hop limit                            */
    uint8_t proto;        /* upper-layer protocol                       */
    bool is_fragment;     /* v4 MF/offset, or v6 non-atomic fragment    */
    sl_ipv4_hdr ip4;      /* valid when family 4                        */
    sl_ipv6_hdr ip6;      /* valid when family 6                        */
    const uint8_t *l4;    /* upper-layer bytes (fragment data if fragment) */
    size_t l4_len;
} su_ip_pkt;

/* Parse the IP header (checksum verified for IPv4). */
static inline sl_error su_parse_ip(const uint8_t *p, size_t len, su_ip_pkt *o)
{
    memset(o, 0, sizeof *o);
    if (len == 0)
        return SL_ERR_TRUNCATED;
    sl_error e;
    if ((p[0] >> 4) == 4) {
        e = sl_ipv4_parse(p, len, 0, &o->ip4);
        if (e != SL_OK)
            return e;
        o->family = 4;
        o->src.family = o->dst.family = 4;
        memcpy(o->src.b, o->ip4.src, 4);
        memcpy(o->dst.b, o->ip4.dst, 4);
        o->ttl = o->ip4.ttl;
        o->proto = o->ip4.proto;
        o->is_fragment = o->ip4.mf || o->ip4.frag_off != 0;
        o->l4 = o->ip4.payload;
        o->l4_len = o->ip4.payload_len;
        return SL_OK;
    }
    e = sl_ipv6_parse(p, len, &o->ip6);
    if (e != SL_OK)
        return e;
    o->family = 6;
    o->src.family = o->dst.family = 6;
    memcpy(o->src.b, o->ip6.src, 16);
    memcpy(o->dst.b, o->ip6.dst, 16);
    o->ttl = o->ip6.hop_limit;
    o->proto = o->ip6.proto;
    o->is_fragment = o->ip6.is_fragment;
    o->l4 = o->ip6.payload;
    o->l4_len = o->ip6.payload_len;
    return SL_OK;
}

typedef struct su_udp_pkt {
    su_ip_pkt ip;
    sl_udp_hdr udp;
    sl_endpoint src, dst;
    const uint8_t *payload;
    size_t len;
} su_udp_pkt;

/* Parse an unfragmented IP+UDP packet, verifying every checksum (a zero
 * UDP checksum over IPv4 is reported as SL_ERR_UDP_CHECKSUM: the stack
 * always sends one).  SL_ERR_INVAL when it is not UDP or is a fragment. */
static inline sl_error su_parse_udp(const uint8_t *p, size_t len, su_udp_pkt *o)
{
    memset(o, 0, sizeof *o);
    sl_error e = su_parse_ip(p, len, &o->ip);
    if (e != SL_OK)
        return e;
    if (o->ip.proto != SL_IPPROTO_UDP || o->ip.is_fragment)
        return SL_ERR_INVAL;
    sl_pseudo ph = {o->ip.family, o->ip.src.b, o->ip.dst.b};
    e = sl_udp_parse(o->ip.l4, o->ip.l4_len, &ph, &o->udp);
    if (e != SL_OK)
        return e;
    if (o->udp.checksum == 0)
        return SL_ERR_UDP_CHECKSUM;
    o->src.addr = o->ip.src;
    o->src.port = o->udp.sport;
    o->dst.addr = o->ip.dst;
    o->dst.port = o->udp.dport;
    o->payload = o->udp.payload;
    o->len = o->udp.payload_len;
    return SL_OK;
}

typedef struct su_icmp_pkt {
    su_ip_pkt ip;
    sl_icmp_hdr icmp;
} su_icmp_pkt;

/* Parse an IP+ICMP/ICMPv6 packet, verifying checksums. */
static inline sl_error su_parse_icmp(const uint8_t *p, size_t len, su_icmp_pkt *o)
{
    memset(o, 0, sizeof *o);
    sl_error e = su_parse_ip(p, len, &o->ip);
    if (e != SL_OK)
        return e;
    if (o->ip.is_fragment)
        return SL_ERR_INVAL;
    if (o->ip.family == 4) {
        if (o->ip.proto != SL_IPPROTO_ICMP)
            return SL_ERR_INVAL;
        return sl_icmp4_parse(o->ip.l4, o->ip.l4_len, 0, &o->icmp);
    }
    if (o->ip.proto != SL_IPPROTO_ICMPV6)
        return SL_ERR_INVAL;
    sl_pseudo ph = {6, o->ip.src.b, o->ip.dst.b};
    return sl_icmp6_parse(o->ip.l4, o->ip.l4_len, &ph, &o->icmp);
}

/* ---- events ----------------------------------------------------------- */

/* Take up to max pending events into out[]; returns how many (the rest,
 * if any, stay pending). */
static inline size_t su_events(sl_stack *s, sl_event *out, size_t max)
{
    size_t n = 0;
    while (n < max && sl_next_event(s, &out[n]))
        n++;
    return n;
}

/* Drain every pending event; returns how many there were. */
static inline size_t su_drain_events(sl_stack *s)
{
    sl_event ev;
    size_t n = 0;
    while (sl_next_event(s, &ev))
        n++;
    return n;
}

static inline bool su_dgram_eq(sl_dgram a, sl_dgram b)
{
    return a.idx == b.idx && a.gen == b.gen;
}

/* ---- back-to-back wiring ---------------------------------------------- */

/* Feed every packet recorded in `from` into `to` at `now`, then clear
 * `from`.  Returns the number of packets fed. */
static inline size_t su_cap_feed(su_cap *from, sl_stack *to, sl_time now)
{
    size_t n = from->n;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *p = su_cap_pkt(from, i, &len);
        (void)sl_input(to, p, len, now);
    }
    su_cap_clear(from);
    return n;
}

/* ---- payload patterns ------------------------------------------------- */

/* A reproducible byte pattern depending on seed and position. */
static inline void su_fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 24);
    }
}

/* splitmix64 PRNG. */
typedef struct su_rng {
    uint64_t s;
} su_rng;

static inline uint64_t su_rng_next(su_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

#endif
