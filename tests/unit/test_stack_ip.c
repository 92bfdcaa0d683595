/*
 * The stack's IP and ICMP layers driven through the public API (sl_input,
 * sl_poll, events, counters): echo, which destinations are ours, martian
 * sources, IPv4 source routes, IPv6 options / routing headers, unknown
 * protocols, parse errors, reassembly (order, overlaps, atomic fragments,
 * timeouts, a flood against the limits), ICMP error generation (rate
 * limit, the RFC 1122 / RFC 4443 "never about" rules) and received ICMP
 * errors delivered to UDP flows.
 *
 * Every packet the stack sends is decoded with the wire parsers, which
 * verify every checksum (ICMPv6 and UDP over the pseudo-header).
 *
 * Test case "regressions" holds tests for bugs found while writing this
 * suite (see the comment on each); they fail until the bug is fixed.
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only (plus the special
 * addresses the martian tests are about).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_util.h"

/* ---------------------------------------------------------------------- */
/* Fixture                                                                */
/* ---------------------------------------------------------------------- */

#define SEC 1000000u
#define T0 ((sl_time)1000000u) /* first input time: 1 s */

static su_cap *CAP;
static sl_stack *S;
static su_alloc ALLOC;

static void setup(void)
{
    CAP = su_cap_new((size_t)8 << 20, 8192);
    S = NULL;
}

static void teardown(void)
{
    sl_stack_free(S);
    S = NULL;
    su_cap_free(CAP);
    CAP = NULL;
}

static void cfg_default(sl_config *cfg)
{
    su_config(cfg, CAP);
}

/* Stack over the counting allocator (for the memory checks). */
static void start(const sl_config *cfg)
{
    sl_allocator a = su_alloc_make(&ALLOC);
    sl_error e = SL_OK;
    S = sl_stack_new(cfg, &a, &e);
    ck_assert_msg(S != NULL, "sl_stack_new: %s", sl_error_name(e));
}

static void start_default(void)
{
    sl_config cfg;
    cfg_default(&cfg);
    start(&cfg);
}

static uint64_t cnt(sl_counter k)
{
    return sl_stats_get(S, k);
}

static sl_error in(const uint8_t *p, size_t len, sl_time now)
{
    return sl_input(S, p, len, now);
}

/* Forget what was captured, poll, return how many packets were sent. */
static size_t out(sl_time now)
{
    su_cap_clear(CAP);
    (void)sl_poll(S, now);
    return CAP->n;
}

static const uint8_t *pkt_at(size_t i, size_t *len)
{
    const uint8_t *p = su_cap_pkt(CAP, i, len);
    ck_assert_ptr_nonnull(p);
    return p;
}

static sl_addr A(const char *t)
{
    return su_addr(t);
}

/* ---------------------------------------------------------------------- */
/* Packet builders                                                        */
/* ---------------------------------------------------------------------- */

/* UDP header + payload with the checksum over (src, dst). */
static size_t udp_l4(uint8_t *buf, size_t cap, uint8_t fam, const uint8_t *src, const uint8_t *dst,
                     uint16_t sport, uint16_t dport, const uint8_t *data, size_t n)
{
    sl_udp_hdr u;
    memset(&u, 0, sizeof u);
    u.sport = sport;
    u.dport = dport;
    u.payload = data;
    u.payload_len = n;
    sl_pseudo ph = {fam, src, dst};
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&u, &ph, buf, cap, &w), SL_OK);
    return w;
}

/* An IPv4 packet with every field chosen. */
static size_t ip4x(uint8_t *buf, size_t cap, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                   uint16_t id, bool mf, uint16_t off8, const uint8_t *opts, size_t optlen,
                   const uint8_t *pl, size_t n)
{
    sl_ipv4_hdr h;
    memset(&h, 0, sizeof h);
    h.id = id;
    h.ttl = 64;
    h.proto = proto;
    h.mf = mf;
    h.frag_off = off8;
    memcpy(h.src, src, 4);
    memcpy(h.dst, dst, 4);
    h.opts = opts;
    h.opts_len = optlen;
    h.payload = pl;
    h.payload_len = n;
    size_t w = 0;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, cap, &w), SL_OK);
    return w;
}

static size_t ip6(uint8_t *buf, size_t cap, const uint8_t *src, const uint8_t *dst, uint8_t nh,
                  const uint8_t *pl, size_t n)
{
    size_t w = su_ip6(buf, cap, src, dst, nh, pl, n, 64);
    ck_assert_uint_gt(w, 0);
    return w;
}

/* ICMP message bytes (type, code, rest, body); v6 checksum over (src, dst). */
static size_t icmp_l4(uint8_t *buf, size_t cap, uint8_t fam, const uint8_t *src,
                      const uint8_t *dst, uint8_t type, uint8_t code, uint32_t rest,
                      const uint8_t *body, size_t n)
{
    sl_icmp_hdr m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.code = code;
    m.rest = rest;
    m.body = body;
    m.body_len = n;
    size_t w = 0;
    if (fam == 4) {
        ck_assert_int_eq(sl_icmp4_emit(&m, buf, cap, &w), SL_OK);
    } else {
        sl_pseudo ph = {6, src, dst};
        ck_assert_int_eq(sl_icmp6_emit(&m, &ph, buf, cap, &w), SL_OK);
    }
    return w;
}

/* A whole IP packet carrying one ICMP message. */
static size_t icmp_pkt(uint8_t *buf, size_t cap, const sl_addr *src, const sl_addr *dst,
                       uint8_t type, uint8_t code, uint32_t rest, const uint8_t *body, size_t n)
{
    uint8_t l4[2048];
    size_t w = icmp_l4(l4, sizeof l4, src->family, src->b, dst->b, type, code, rest, body, n);
    if (src->family == 4)
        return ip4x(buf, cap, src->b, dst->b, SL_IPPROTO_ICMP, 7, false, 0, NULL, 0, l4, w);
    return ip6(buf, cap, src->b, dst->b, SL_IPPROTO_ICMPV6, l4, w);
}

static size_t udp_pkt(uint8_t *buf, size_t cap, const char *src, uint16_t sp, const char *dst,
                      uint16_t dp, const void *data, size_t n)
{
    sl_endpoint a = su_ep(src, sp), b = su_ep(dst, dp);
    size_t w = su_udp(buf, cap, &a, &b, data, n, 0x1234);
    ck_assert_uint_gt(w, 0);
    return w;
}

/* IPv6 Destination Options / Hop-by-Hop header of 8 bytes holding one
 * option of `type` with 2 data bytes after a 2-byte PadN:
 *   nh, 0, PadN(1, 0), type, 2, x, x
 * so the option sits 4 bytes into the header. */
static void opt8(uint8_t *p, uint8_t nh, uint8_t type)
{
    p[0] = nh;
    p[1] = 0;
    p[2] = 1; /* PadN */
    p[3] = 0;
    p[4] = type;
    p[5] = 2;
    p[6] = 0xab;
    p[7] = 0xcd;
}

/* An 8-byte options header with only padding. */
static void pad8(uint8_t *p, uint8_t nh)
{
    p[0] = nh;
    p[1] = 0;
    p[2] = 1; /* PadN of 4 data bytes */
    p[3] = 4;
    memset(p + 4, 0, 4);
}

/* One IPv6 fragment: [40-byte header][pre: unfragmentable extension
 * headers, the last naming 44][Fragment header][data]. */
static size_t frag6_pkt(uint8_t *buf, size_t cap, const uint8_t *src, const uint8_t *dst,
                        const uint8_t *pre, size_t prelen, uint8_t pre_nh, uint8_t nh,
                        uint32_t id, size_t off, bool more, const uint8_t *data, size_t n)
{
    uint8_t pl[70000];
    ck_assert_uint_le(prelen + 8 + n, sizeof pl);
    if (prelen > 0)
        memcpy(pl, pre, prelen);
    uint8_t *f = pl + prelen;
    f[0] = nh;
    f[1] = 0;
    sl_store16(f + 2, (uint16_t)(off | (more ? 1u : 0u)));
    sl_store32(f + 4, id);
    if (n > 0)
        memcpy(f + 8, data, n);
    return ip6(buf, cap, src, dst, prelen > 0 ? pre_nh : SL_IPPROTO_FRAGMENT, pl, prelen + 8 + n);
}

/* Fragment storage. */
typedef struct frags {
    uint8_t *buf[32];
    size_t len[32];
    size_t n;
} frags;

static void frags_free(frags *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->buf[i]);
    f->n = 0;
}

/* k-1 distinct cut points, multiples of 8, inside (0, total). */
static void cuts(su_rng *r, size_t total, size_t k, size_t *cut)
{
    ck_assert_uint_ge(total / 8, k);
    size_t n = 0;
    cut[n++] = 0;
    while (n < k) {
        size_t c = (size_t)(su_rng_next(r) % ((total - 1) / 8)) * 8 + 8;
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup = dup || cut[i] == c;
        if (!dup && c < total)
            cut[n++] = c;
    }
    /* sort */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
            size_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }
    cut[k] = total;
}

/* Split an IPv4 datagram's payload l4[0..n-1] into k fragments. */
static void frag4_split(frags *f, su_rng *r, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        uint16_t id, const uint8_t *l4, size_t n, size_t k)
{
    size_t cut[33];
    cuts(r, n, k, cut);
    f->n = k;
    for (size_t i = 0; i < k; i++) {
        size_t len = cut[i + 1] - cut[i];
        f->buf[i] = malloc(len + 20);
        f->len[i] = ip4x(f->buf[i], len + 20, src, dst, proto, id, i + 1 < k,
                         (uint16_t)(cut[i] / 8), NULL, 0, l4 + cut[i], len);
    }
}

static void frag6_split(frags *f, su_rng *r, const uint8_t *src, const uint8_t *dst, uint8_t nh,
                        uint32_t id, const uint8_t *l4, size_t n, size_t k)
{
    size_t cut[33];
    cuts(r, n, k, cut);
    f->n = k;
    for (size_t i = 0; i < k; i++) {
        size_t len = cut[i + 1] - cut[i];
        f->buf[i] = malloc(len + 48);
        f->len[i] = frag6_pkt(f->buf[i], len + 48, src, dst, NULL, 0, 0, nh, id, cut[i],
                              i + 1 < k, l4 + cut[i], len);
    }
}

static void shuffle(su_rng *r, size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(su_rng_next(r) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* ---------------------------------------------------------------------- */
/* Checks on what the stack sent                                          */
/* ---------------------------------------------------------------------- */

/* The wire parser wants 8 transport bytes in a quote; an error about a
 * packet with fewer carries fewer.  Check such a message by hand. */
static sl_error icmp_by_hand(const uint8_t *p, size_t len, su_icmp_pkt *m)
{
    memset(m, 0, sizeof *m);
    sl_error e = su_parse_ip(p, len, &m->ip);
    if (e != SL_OK)
        return e;
    const uint8_t *q = m->ip.l4;
    size_t n = m->ip.l4_len;
    if (n < 8 || m->ip.is_fragment)
        return SL_ERR_TRUNCATED;
    uint32_t sum = 0;
    if (m->ip.family == 6)
        sum = sl_csum_pseudo6(m->ip.src.b, m->ip.dst.b, SL_IPPROTO_ICMPV6, (uint32_t)n);
    if (sl_csum_finish(sl_csum_partial(q, n, sum)) != 0)
        return SL_ERR_ICMP_CHECKSUM;
    m->icmp.type = q[0];
    m->icmp.code = q[1];
    m->icmp.rest = sl_load32(q + 4);
    m->icmp.pointer = m->ip.family == 4 ? m->icmp.rest >> 24 : m->icmp.rest;
    m->icmp.body = q + 8;
    m->icmp.body_len = n - 8;
    return SL_OK;
}

/* Packet i is an ICMP message (checksums verified) of type/code from
 * `src` to `dst`; returns it parsed. */
static su_icmp_pkt expect_icmp(size_t i, const sl_addr *src, const sl_addr *dst, uint8_t type,
                               uint8_t code)
{
    size_t len;
    const uint8_t *p = pkt_at(i, &len);
    su_icmp_pkt m;
    sl_error e = su_parse_icmp(p, len, &m);
    if (e == SL_ERR_ICMP_QUOTE)
        e = icmp_by_hand(p, len, &m);
    ck_assert_msg(e == SL_OK, "packet %zu: not a valid ICMP message: %s", i, sl_error_name(e));
    ck_assert_uint_eq(m.icmp.type, type);
    ck_assert_uint_eq(m.icmp.code, code);
    ck_assert_msg(su_addr_eq(&m.ip.src, src), "ICMP from the wrong address");
    ck_assert_msg(su_addr_eq(&m.ip.dst, dst), "ICMP to the wrong address");
    return m;
}

/* The error quotes orig[0..] from its start (as much as fits). */
static void expect_quote(const su_icmp_pkt *m, const uint8_t *orig, size_t olen, size_t max)
{
    size_t q = olen < max ? olen : max;
    ck_assert_uint_eq(m->icmp.body_len, q);
    ck_assert_mem_eq(m->icmp.body, orig, q);
}

static void expect_silence(sl_time now)
{
    size_t n = out(now);
    ck_assert_msg(n == 0, "expected no output, got %zu packets", n);
}

/* Take the next event; it must be `type`. */
static sl_event expect_event(sl_event_type type)
{
    sl_event ev;
    ck_assert_msg(sl_next_event(S, &ev), "no event, expected %d", (int)type);
    ck_assert_int_eq(ev.type, type);
    return ev;
}

static void expect_no_event(void)
{
    sl_event ev;
    ck_assert_msg(!sl_next_event(S, &ev), "unexpected event %d", (int)ev.type);
}

/* A new flow must have been made for exactly this datagram. */
static void expect_delivery(const uint8_t *data, size_t n, const sl_endpoint *from,
                            const sl_endpoint *to)
{
    sl_event ev = expect_event(SL_EV_DGRAM_NEW);
    static uint8_t buf[70000];
    sl_endpoint f, t;
    long got = sl_dgram_recv(S, ev.dgram, buf, sizeof buf, &f, &t);
    ck_assert_int_eq(got, (long)n);
    ck_assert_mem_eq(buf, data, n);
    ck_assert(su_ep_eq(&f, from));
    ck_assert(su_ep_eq(&t, to));
    (void)su_drain_events(S);
    ck_assert_int_eq(sl_dgram_free(S, ev.dgram), SL_OK);
}

/* ---------------------------------------------------------------------- */
/* Echo                                                                   */
/* ---------------------------------------------------------------------- */

static void ping_check(const char *from, const char *to, uint16_t id, uint16_t seq, size_t n,
                       sl_time now)
{
    sl_addr src = A(from), dst = A(to);
    uint8_t data[1500], pkt[1600];
    su_fill(data, n, (uint32_t)(id ^ seq));
    size_t len = su_icmp_echo(pkt, sizeof pkt, &src, &dst, id, seq, data, n);
    ck_assert_uint_gt(len, 0);
    uint64_t rep = cnt(SL_CNT_ICMP_ECHO_REPLIED);
    ck_assert_int_eq(in(pkt, len, now), SL_OK);
    ck_assert_uint_eq(out(now), 1);
    su_icmp_pkt m = expect_icmp(0, &dst, &src, src.family == 4 ? 0 : 129, 0);
    ck_assert_int_eq(m.icmp.kind, SL_ICMP_ECHO_REPLY);
    ck_assert_uint_eq(m.icmp.echo_id, id);
    ck_assert_uint_eq(m.icmp.echo_seq, seq);
    ck_assert_uint_eq(m.icmp.body_len, n);
    if (n > 0)
        ck_assert_mem_eq(m.icmp.body, data, n);
    ck_assert_uint_eq(m.ip.ttl, 64);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ECHO_REPLIED), rep + 1);
}

START_TEST(ping4_many)
{
    start_default();
    static const char *const dsts[] = {"198.18.0.1", "198.19.255.254", "198.18.77.3",
                                       "198.19.0.0", "198.18.200.17"};
    static const size_t sizes[] = {0, 1, 56, 1000, 1472};
    for (unsigned i = 0; i < 5; i++)
        ping_check("198.18.100.100", dsts[i], (uint16_t)(0x100 + i), (uint16_t)(7 * i + 1),
                   sizes[i], T0 + i);
}
END_TEST

START_TEST(ping6_many)
{
    start_default();
    static const char *const dsts[] = {"2001:2::1", "2001:2:0:ffff::abcd", "2001:2:0:1:2:3:4:5",
                                       "2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"};
    static const size_t sizes[] = {0, 3, 56, 999, 1400};
    for (unsigned i = 0; i < 5; i++)
        ping_check("2001:2:ffff::1", dsts[i], (uint16_t)(0xbeef + i), (uint16_t)(65535 - i),
                   sizes[i], T0 + i);
}
END_TEST

START_TEST(echo_disabled)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.icmp_echo = false;
    start(&cfg);
    uint8_t pkt[200];
    sl_addr s4 = A("198.18.0.9"), d4 = A("198.18.0.1");
    sl_addr s6 = A("2001:2::9"), d6 = A("2001:2::1");
    size_t l = su_icmp_echo(pkt, sizeof pkt, &s4, &d4, 1, 1, "x", 1);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    l = su_icmp_echo(pkt, sizeof pkt, &s6, &d6, 1, 1, "x", 1);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    expect_silence(T0);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ECHO_REPLIED), 0);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RX), 2);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Local prefixes, martians, multicast                                    */
/* ---------------------------------------------------------------------- */

START_TEST(local_prefixes)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.any_ip = false;
    sl_prefix pf[2];
    memset(pf, 0, sizeof pf);
    pf[0].addr = A("198.18.4.0");
    pf[0].len = 22;
    pf[1].addr = A("2001:2:0:8::");
    pf[1].len = 61;
    cfg.local_prefixes = pf;
    cfg.n_local_prefixes = 2;
    start(&cfg);

    static const char *const outside[] = {"198.18.3.255", "198.18.8.0", "198.19.4.1",
                                          "2001:2:0:7:ffff::1", "2001:2:0:10::1", "2001:2:1:8::1"};
    static const char *const inside[] = {"198.18.4.0", "198.18.7.255", "198.18.5.77",
                                         "2001:2:0:8::1", "2001:2:0:f:ffff::9"};
    uint8_t pkt[300];
    uint64_t nl = 0;
    for (unsigned i = 0; i < 6; i++) {
        sl_addr d = A(outside[i]);
        sl_addr s = A(d.family == 4 ? "198.18.99.1" : "2001:2:99::1");
        size_t l = su_icmp_echo(pkt, sizeof pkt, &s, &d, 5, (uint16_t)i, "ping", 4);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_NOT_LOCAL), ++nl);
        /* a UDP datagram outside is not accepted (no flow, no ICMP) */
        l = udp_pkt(pkt, sizeof pkt, d.family == 4 ? "198.18.99.1" : "2001:2:99::1", 1111,
                    outside[i], 53, "q", 1);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_NOT_LOCAL), ++nl);
        expect_silence(T0);
        expect_no_event();
    }
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RX), 0);
    ck_assert_uint_eq(cnt(SL_CNT_UDP_RX), 0);
    for (unsigned i = 0; i < 5; i++) {
        sl_addr d = A(inside[i]);
        ping_check(d.family == 4 ? "198.18.99.1" : "2001:2:99::1", inside[i], 9, (uint16_t)i, 8,
                   T0 + 1);
    }
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_NOT_LOCAL), nl);
}
END_TEST

START_TEST(martian_sources)
{
    start_default();
    static const char *const bad[] = {"0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255",
                                      "0.1.2.3", "::",        "::1",       "ff02::1"};
    uint8_t pkt[300];
    uint64_t m = 0;
    for (unsigned i = 0; i < 8; i++) {
        sl_addr s = A(bad[i]);
        sl_addr d = A(s.family == 4 ? "198.18.0.1" : "2001:2::1");
        size_t l = su_icmp_echo(pkt, sizeof pkt, &s, &d, 1, 1, "abc", 3);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_MARTIAN), ++m);
        /* refused port: no ICMP either */
        l = udp_pkt(pkt, sizeof pkt, bad[i], 5, s.family == 4 ? "198.18.0.1" : "2001:2::1", 9, "x",
                    1);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_MARTIAN), ++m);
        expect_silence(T0);
        expect_no_event();
    }
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RX), 0);
    ck_assert_uint_eq(cnt(SL_CNT_UDP_RX), 0);
}
END_TEST

/* cfg.allow_loopback (captures taken on lo): loopback sources and
 * destinations work like any other; everything else stays martian. */
START_TEST(loopback_allowed)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.allow_loopback = true;
    start(&cfg);
    ping_check("127.0.0.1", "127.0.0.2", 7, 1, 16, T0);
    ping_check("::1", "::1", 7, 2, 16, T0);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_MARTIAN), 0);
    sl_addr s = A("0.0.0.0"), d = A("127.0.0.1");
    uint8_t pkt[300];
    size_t l = su_icmp_echo(pkt, sizeof pkt, &s, &d, 1, 1, "abc", 3);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_MARTIAN), 1);
    expect_silence(T0);
}
END_TEST

static sl_verdict refuse_all(void *ctx, const sl_flow_info *fi)
{
    (void)ctx;
    (void)fi;
    return SL_REFUSE;
}

START_TEST(multicast_destinations)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.filter = refuse_all;
    start(&cfg);
    static const char *const mc[] = {"224.0.0.1", "239.255.255.250", "255.255.255.255",
                                     "ff02::1", "ff05::1:3", "ff0e::101"};
    uint8_t pkt[300];
    for (unsigned i = 0; i < 6; i++) {
        sl_addr d = A(mc[i]);
        sl_addr s = A(d.family == 4 ? "198.18.0.7" : "2001:2::7");
        size_t l = su_icmp_echo(pkt, sizeof pkt, &s, &d, 1, 1, "abc", 3);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        l = udp_pkt(pkt, sizeof pkt, d.family == 4 ? "198.18.0.7" : "2001:2::7", 5, mc[i], 9, "x",
                    1);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        /* unknown protocol */
        l = d.family == 4 ? ip4x(pkt, sizeof pkt, s.b, d.b, 253, 1, false, 0, NULL, 0, NULL, 0)
                          : ip6(pkt, sizeof pkt, s.b, d.b, 253, NULL, 0);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        expect_silence(T0);
    }
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ECHO_REPLIED), 0);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_TX), 0);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_NOT_LOCAL), 18);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* IPv4 source routes, IPv6 options and routing headers                   */
/* ---------------------------------------------------------------------- */

START_TEST(ipv4_source_route)
{
    start_default();
    sl_addr s = A("198.18.1.1"), d = A("198.18.2.2");
    uint8_t l4[64], pkt[200];
    for (unsigned k = 0; k < 2; k++) {
        /* LSRR (131) / SSRR (137), one hop, pointer 4; then EOL. */
        uint8_t opt[8] = {k == 0 ? 131 : 137, 7, 4, 198, 18, 9, 9, 0};
        /* a ping */
        size_t n = icmp_l4(l4, sizeof l4, 4, s.b, d.b, 8, 0, 0x00010001u, (const uint8_t *)"sr", 2);
        size_t l = ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_ICMP, 3, false, 0, opt, 8, l4, n);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_SOURCE_ROUTE), 2 * k + 1);
        /* a UDP datagram */
        n = udp_l4(l4, sizeof l4, 4, s.b, d.b, 1000, 2000, (const uint8_t *)"x", 1);
        l = ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_UDP, 4, false, 0, opt, 8, l4, n);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_SOURCE_ROUTE), 2 * k + 2);
        expect_silence(T0);
        expect_no_event();
    }
    /* Record Route (7) is not a source route: answered. */
    uint8_t rr[8] = {7, 7, 4, 0, 0, 0, 0, 0};
    size_t n = icmp_l4(l4, sizeof l4, 4, s.b, d.b, 8, 0, 0x00010002u, (const uint8_t *)"rr", 2);
    size_t l = ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_ICMP, 5, false, 0, rr, 8, l4, n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    (void)expect_icmp(0, &d, &s, 0, 0);
}
END_TEST

/* UDP to port 7 behind an 8-byte options header holding one option of
 * `type` (at offset 40 + 4 from the packet start). */
static size_t v6_opt_udp(uint8_t *pkt, size_t cap, uint8_t hdr, uint8_t type, const sl_addr *s,
                         const sl_addr *d)
{
    uint8_t pl[64];
    opt8(pl, SL_IPPROTO_UDP, type);
    size_t n = udp_l4(pl + 8, sizeof pl - 8, 6, s->b, d->b, 4000, 7, (const uint8_t *)"opt", 3);
    return ip6(pkt, cap, s->b, d->b, hdr, pl, 8 + n);
}

START_TEST(ipv6_unknown_options)
{
    start_default();
    sl_addr s = A("2001:2::10"), d = A("2001:2::20");
    uint8_t pkt[200];
    uint64_t drops = 0;
    for (unsigned hdr = 0; hdr < 2; hdr++) {
        uint8_t h = hdr == 0 ? SL_IPPROTO_DSTOPTS : SL_IPPROTO_HOPOPTS;
        /* action 00: skipped, the datagram is delivered */
        size_t l = v6_opt_udp(pkt, sizeof pkt, h, 0x1e, &s, &d);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        sl_endpoint from = {s, 4000}, to = {d, 7};
        expect_delivery((const uint8_t *)"opt", 3, &from, &to);
        expect_silence(T0);
        /* action 01: silent discard */
        l = v6_opt_udp(pkt, sizeof pkt, h, 0x5e, &s, &d);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_OPTION), ++drops);
        expect_silence(T0);
        expect_no_event();
        /* actions 10 and 11: Parameter Problem code 2 at the option */
        for (uint8_t type = 0x9e; type != 0x1e; type = (uint8_t)(type + 0x40)) {
            l = v6_opt_udp(pkt, sizeof pkt, h, type, &s, &d);
            ck_assert_int_eq(in(pkt, l, T0), SL_OK);
            ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_OPTION), ++drops);
            ck_assert_uint_eq(out(T0), 1);
            su_icmp_pkt m = expect_icmp(0, &d, &s, 4, 2);
            ck_assert_uint_eq(m.icmp.pointer, 44);
            ck_assert_uint_eq(pkt[m.icmp.pointer], type);
            expect_quote(&m, pkt, l, 1232);
            expect_no_event();
        }
    }
    /* The option in a second header: Hop-by-Hop (padding), Destination
     * Options with the option 4 bytes in: pointer 48 + 4. */
    uint8_t pl[64];
    pad8(pl, SL_IPPROTO_DSTOPTS);
    opt8(pl + 8, SL_IPPROTO_UDP, 0xbf);
    size_t n = udp_l4(pl + 16, sizeof pl - 16, 6, s.b, d.b, 4000, 7, (const uint8_t *)"o", 1);
    size_t l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_HOPOPTS, pl, 16 + n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    su_icmp_pkt m = expect_icmp(0, &d, &s, 4, 2);
    ck_assert_uint_eq(m.icmp.pointer, 52);
}
END_TEST

START_TEST(ipv6_routing_header)
{
    start_default();
    sl_addr s = A("2001:2::10"), d = A("2001:2::20");
    uint8_t pl[128], pkt[256];
    for (unsigned segs = 0; segs < 3; segs++) {
        /* Routing header type 4 (SRH-like) / 0 / 253, hdr ext len 2 (24
         * bytes): nh, len, type, segments left, 20 bytes. */
        memset(pl, 0, 24);
        pl[0] = SL_IPPROTO_UDP;
        pl[1] = 2;
        pl[2] = segs == 1 ? 0 : 253;
        pl[3] = (uint8_t)segs;
        size_t n = udp_l4(pl + 24, sizeof pl - 24, 6, s.b, d.b, 4001, 99, (const uint8_t *)"rh", 2);
        size_t l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_ROUTING, pl, 24 + n);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        if (segs == 0) {
            sl_endpoint from = {s, 4001}, to = {d, 99};
            expect_delivery((const uint8_t *)"rh", 2, &from, &to);
            ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_ROUTING), 0);
        } else {
            ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_ROUTING), segs);
            expect_no_event();
        }
        su_cap_clear(CAP);
        (void)sl_poll(S, T0);
        /* no UDP ever goes out; an ICMP (Parameter Problem, see the
         * regressions) may */
        for (size_t i = 0; i < CAP->n; i++) {
            size_t len;
            su_ip_pkt ip;
            const uint8_t *pp = pkt_at(i, &len);
        ck_assert_int_eq(su_parse_ip(pp, len, &ip), SL_OK);
            ck_assert_uint_eq(ip.proto, SL_IPPROTO_ICMPV6);
        }
    }
    ck_assert_uint_eq(cnt(SL_CNT_UDP_RX), 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Unknown protocols, No Next Header                                      */
/* ---------------------------------------------------------------------- */

START_TEST(unknown_protocol)
{
    start_default();
    uint8_t pkt[1600], pl[1500];
    /* IPv4: Protocol Unreachable, quoting the packet (576-byte limit). */
    sl_addr s4 = A("198.18.3.3"), d4 = A("198.19.3.3");
    static const size_t sizes[] = {0, 8, 100, 1400};
    for (unsigned i = 0; i < 4; i++) {
        su_fill(pl, sizes[i], i);
        size_t l = ip4x(pkt, sizeof pkt, s4.b, d4.b, (uint8_t)(250 + i), 9, false, 0, NULL, 0,
                        pl, sizes[i]);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PROTO), i + 1);
        ck_assert_uint_eq(out(T0), 1);
        su_icmp_pkt m = expect_icmp(0, &d4, &s4, 3, 2);
        expect_quote(&m, pkt, l, 548);
        size_t tot;
        (void)pkt_at(0, &tot);
        ck_assert_uint_le(tot, 576);
    }
    /* IPv6: Parameter Problem code 1 at the next-header byte naming it,
     * without and with extension headers before it. */
    sl_addr s6 = A("2001:2::33"), d6 = A("2001:2:3::33");
    for (unsigned ext = 0; ext < 4; ext++) {
        size_t off = 0;
        uint8_t first = 253;
        uint32_t ptr = 6;
        if (ext >= 1) { /* Hop-by-Hop */
            first = SL_IPPROTO_HOPOPTS;
            pad8(pl, 253);
            ptr = 40;
            off = 8;
        }
        if (ext >= 2) { /* + Destination Options */
            pl[0] = SL_IPPROTO_DSTOPTS;
            pad8(pl + off, 253);
            ptr = 48;
            off += 8;
        }
        if (ext == 3) { /* + Routing header, segments left 0 */
            pl[off - 8] = SL_IPPROTO_ROUTING;
            memset(pl + off, 0, 8);
            pl[off] = 253;
            pl[off + 2] = 4;
            ptr = 56;
            off += 8;
        }
        su_fill(pl + off, 1300, ext);
        size_t l = ip6(pkt, sizeof pkt, s6.b, d6.b, first, pl, off + 1300);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(out(T0), 1);
        su_icmp_pkt m = expect_icmp(0, &d6, &s6, 4, 1);
        ck_assert_uint_eq(m.icmp.pointer, ptr);
        ck_assert_uint_eq(pkt[ptr], 253);
        expect_quote(&m, pkt, l, 1232);
        size_t tot;
        (void)pkt_at(0, &tot);
        ck_assert_uint_eq(tot, 1280);
    }
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PROTO), 8);
}
END_TEST

START_TEST(ipv6_no_next_header)
{
    start_default();
    sl_addr s = A("2001:2::1:1"), d = A("2001:2::2:2");
    uint8_t pkt[200], pl[64];
    size_t l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_NONE, NULL, 0);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    /* bytes after No Next Header are ignored too */
    pad8(pl, SL_IPPROTO_NONE);
    su_fill(pl + 8, 20, 3);
    l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_DSTOPTS, pl, 28);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    expect_silence(T0);
    expect_no_event();
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PROTO), 0);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PARSE), 0);
    ck_assert_uint_eq(cnt(SL_CNT_IP_RX), 2);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Parse errors                                                           */
/* ---------------------------------------------------------------------- */

START_TEST(parse_errors)
{
    start_default();
    uint8_t pkt[32][200];
    size_t len[32];
    sl_error want[32];
    size_t n = 0;
    sl_addr s4 = A("198.18.0.5"), d4 = A("198.18.0.6");
    sl_addr s6 = A("2001:2::5"), d6 = A("2001:2::6");

    /* length 0 */
    len[n] = 0;
    want[n++] = SL_ERR_TRUNCATED;
    /* 10 bytes of IPv4 */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    len[n] = 10;
    want[n++] = SL_ERR_TRUNCATED;
    /* version 5 */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    pkt[n][0] = 0x55;
    want[n++] = SL_ERR_IP_VERSION;
    /* IHL 4 */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    pkt[n][0] = 0x44;
    want[n++] = SL_ERR_IPV4_IHL;
    /* IPv4 header checksum */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    pkt[n][10] ^= 0x01;
    want[n++] = SL_ERR_IPV4_CHECKSUM;
    /* IPv4 total length past the buffer */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "xy", 2);
    len[n] -= 1;
    want[n++] = SL_ERR_IPV4_TOTAL_LEN;
    /* UDP checksum (IPv4, IPv6) */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    pkt[n][len[n] - 1] ^= 0x10;
    want[n++] = SL_ERR_UDP_CHECKSUM;
    len[n] = udp_pkt(pkt[n], 200, "2001:2::5", 1, "2001:2::6", 2, "x", 1);
    pkt[n][len[n] - 1] ^= 0x10;
    want[n++] = SL_ERR_UDP_CHECKSUM;
    /* UDP zero checksum over IPv6 */
    len[n] = udp_pkt(pkt[n], 200, "2001:2::5", 1, "2001:2::6", 2, "x", 1);
    pkt[n][46] = 0;
    pkt[n][47] = 0;
    want[n++] = SL_ERR_UDP_ZERO_CSUM;
    /* UDP length past the IP payload */
    len[n] = udp_pkt(pkt[n], 200, "198.18.0.5", 1, "198.18.0.6", 2, "x", 1);
    sl_store16(pkt[n] + 24, 20);
    want[n++] = SL_ERR_UDP_LEN;
    /* ICMP checksums */
    len[n] = su_icmp_echo(pkt[n], 200, &s4, &d4, 1, 2, "abcd", 4);
    pkt[n][len[n] - 1] ^= 0x01;
    want[n++] = SL_ERR_ICMP_CHECKSUM;
    len[n] = su_icmp_echo(pkt[n], 200, &s6, &d6, 1, 2, "abcd", 4);
    pkt[n][len[n] - 1] ^= 0x01;
    want[n++] = SL_ERR_ICMP_CHECKSUM;
    /* IPv6: truncated header, payload length past the buffer, extension
     * header past the end, Hop-by-Hop not first */
    len[n] = udp_pkt(pkt[n], 200, "2001:2::5", 1, "2001:2::6", 2, "x", 1);
    len[n] = 39;
    want[n++] = SL_ERR_TRUNCATED;
    len[n] = udp_pkt(pkt[n], 200, "2001:2::5", 1, "2001:2::6", 2, "x", 1);
    len[n] -= 1;
    want[n++] = SL_ERR_IPV6_PAYLOAD_LEN;
    {
        uint8_t pl[16];
        pad8(pl, SL_IPPROTO_UDP);
        pl[1] = 3; /* 32 bytes claimed, 8 present */
        len[n] = ip6(pkt[n], 200, s6.b, d6.b, SL_IPPROTO_DSTOPTS, pl, 8);
        want[n++] = SL_ERR_IPV6_EXT_TRUNC;
        pad8(pl, SL_IPPROTO_HOPOPTS);
        pad8(pl + 8, SL_IPPROTO_NONE);
        len[n] = ip6(pkt[n], 200, s6.b, d6.b, SL_IPPROTO_DSTOPTS, pl, 16);
        want[n++] = SL_ERR_IPV6_HBH_ORDER;
    }
    /* ICMPv4 error whose quote is not an IPv4 header */
    {
        uint8_t junk[28];
        memset(junk, 0x66, sizeof junk);
        len[n] = icmp_pkt(pkt[n], 200, &s4, &d4, 3, 3, 0, junk, sizeof junk);
        want[n++] = SL_ERR_ICMP_QUOTE;
    }

    for (size_t i = 0; i < n; i++) {
        uint64_t dp = cnt(SL_CNT_IP_DROP_PARSE), pe = sl_stats_parse_error(S, want[i]);
        sl_error e = in(pkt[i], len[i], T0);
        ck_assert_msg(e == want[i], "case %zu: got %s, want %s", i, sl_error_name(e),
                      sl_error_name(want[i]));
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PARSE), dp + 1);
        ck_assert_uint_eq(sl_stats_parse_error(S, want[i]), pe + 1);
    }
    ck_assert_uint_eq(cnt(SL_CNT_IP_RX), n);
    expect_silence(T0);
    expect_no_event();
    /* NULL counts as truncated too */
    ck_assert_int_eq(in(NULL, 0, T0), SL_ERR_TRUNCATED);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_PARSE), n + 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Reassembly                                                             */
/* ---------------------------------------------------------------------- */

static void reasm_roundtrip(uint8_t fam, su_rng *r, unsigned iter)
{
    static uint8_t data[9000], l4[9100];
    size_t k = 2 + (size_t)(su_rng_next(r) % 19); /* 2..20 */
    size_t n = 8 * k + (size_t)(su_rng_next(r) % 8000);
    su_fill(data, n, iter);
    char sa[64], da[64];
    if (fam == 4) {
        snprintf(sa, sizeof sa, "198.18.%u.%u", iter % 200, 1 + iter % 250);
        snprintf(da, sizeof da, "198.19.%u.%u", iter % 100, 2 + iter % 250);
    } else {
        snprintf(sa, sizeof sa, "2001:2:%x::%x", iter, 1 + iter);
        snprintf(da, sizeof da, "2001:2:ffff::%x", 2 + iter);
    }
    sl_endpoint from = su_ep(sa, (uint16_t)(10000 + iter)), to = su_ep(da, (uint16_t)(20 + iter));
    size_t ln = udp_l4(l4, sizeof l4, fam, from.addr.b, to.addr.b, from.port, to.port, data, n);
    frags f;
    if (fam == 4)
        frag4_split(&f, r, from.addr.b, to.addr.b, SL_IPPROTO_UDP, (uint16_t)(0x4000 + iter), l4,
                    ln, k);
    else
        frag6_split(&f, r, from.addr.b, to.addr.b, SL_IPPROTO_UDP, 0x60000000u + iter, l4, ln, k);
    size_t idx[32];
    shuffle(r, idx, k);
    uint64_t ok = cnt(SL_CNT_IP_REASM_OK), fr = cnt(SL_CNT_IP_FRAGS_RX);
    for (size_t i = 0; i < k; i++) {
        ck_assert_int_eq(in(f.buf[idx[i]], f.len[idx[i]], T0 + iter), SL_OK);
        if (i + 1 < k)
            expect_no_event();
    }
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), ok + 1);
    ck_assert_uint_eq(cnt(SL_CNT_IP_FRAGS_RX), fr + k);
    expect_delivery(data, n, &from, &to);
    frags_free(&f);
}

START_TEST(reasm_shuffled)
{
    start_default();
    su_rng r = {0x5eed0000u + (uint64_t)_i};
    for (unsigned it = 0; it < 40; it++)
        reasm_roundtrip(it % 2 == 0 ? 4 : 6, &r, it);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_DROP), 0);
    expect_silence(T0 + 100);
}
END_TEST

START_TEST(reasm_fragmented_ping)
{
    /* A fragmented echo request is answered with the whole body (the
     * reply is fragmented to the MTU on the way out). */
    start_default();
    su_rng r = {77};
    sl_addr s4 = A("198.18.50.1"), d4 = A("198.18.50.2");
    static uint8_t body[3000], l4[3100];
    su_fill(body, sizeof body, 1);
    size_t n = icmp_l4(l4, sizeof l4, 4, s4.b, d4.b, 8, 0, 0x22223333u, body, sizeof body);
    frags f;
    frag4_split(&f, &r, s4.b, d4.b, SL_IPPROTO_ICMP, 999, l4, n, 5);
    for (size_t i = f.n; i-- > 0;)
        ck_assert_int_eq(in(f.buf[i], f.len[i], T0), SL_OK);
    frags_free(&f);
    ck_assert_uint_eq(out(T0), 3);
    ck_assert_uint_eq(cnt(SL_CNT_IP_FRAGS_TX), 3);
    /* reassemble our own output */
    static uint8_t whole[3100];
    size_t got = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        su_ip_pkt ip;
        const uint8_t *pp = pkt_at(i, &len);
        ck_assert_int_eq(su_parse_ip(pp, len, &ip), SL_OK);
        ck_assert(ip.is_fragment);
        ck_assert_uint_le(len, 1500);
        memcpy(whole + (size_t)ip.ip4.frag_off * 8, ip.l4, ip.l4_len);
        got += ip.l4_len;
    }
    ck_assert_uint_eq(got, n);
    sl_icmp_hdr m;
    ck_assert_int_eq(sl_icmp4_parse(whole, got, 0, &m), SL_OK);
    ck_assert_uint_eq(m.type, 0);
    ck_assert_uint_eq(m.rest, 0x22223333u);
    ck_assert_uint_eq(m.body_len, sizeof body);
    ck_assert_mem_eq(m.body, body, sizeof body);
}
END_TEST

START_TEST(reasm_overlap)
{
    start_default();
    sl_addr s = _i == 0 ? A("198.18.9.1") : A("2001:2::9:1");
    sl_addr d = _i == 0 ? A("198.18.9.2") : A("2001:2::9:2");
    uint8_t fam = s.family;
    static uint8_t data[2000], l4[2100], pkt[2200];
    su_fill(data, sizeof data, 5);
    size_t n = udp_l4(l4, sizeof l4, fam, s.b, d.b, 100, 200, data, 1000);
    /* [0, 512) then [504, 1008) overlapping by 8, then the rest */
    size_t l;
#define FRAG(off, len, more)                                                                      \
    (fam == 4 ? ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_UDP, 77, more, (uint16_t)((off) / 8),   \
                     NULL, 0, l4 + (off), len)                                                     \
              : frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, 77, off, more,    \
                          l4 + (off), len))
    l = FRAG(0, 512, true);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    l = FRAG(504, 504, false);
    ck_assert_int_eq(in(pkt, l, T0), SL_ERR_FRAG_OVERLAP);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_DROP), 1);
    /* the datagram is gone: the rest alone does not complete it */
    l = FRAG(512, n - 512, false);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), 0);
    expect_no_event();
    /* the first part again completes the new one */
    l = FRAG(0, 512, true);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), 1);
    sl_endpoint from = {s, 100}, to = {d, 200};
    expect_delivery(data, 1000, &from, &to);
    /* an exact duplicate is not an overlap */
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    l = FRAG(512, n - 512, false);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), 2);
    expect_delivery(data, 1000, &from, &to);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_DROP), 1);
    /* overlap inside one datagram by a later, larger fragment */
    l = FRAG(512, n - 512, false);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    l = FRAG(256, n - 256, false);
    ck_assert_int_eq(in(pkt, l, T0), SL_ERR_FRAG_OVERLAP);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_DROP), 2);
    expect_silence(T0);
#undef FRAG
}
END_TEST

START_TEST(atomic_fragment)
{
    /* RFC 6946: offset 0, M 0: processed as if unfragmented. */
    start_default();
    sl_addr s = A("2001:2::a:1"), d = A("2001:2::a:2");
    uint8_t l4[200], pkt[300];
    size_t n = udp_l4(l4, sizeof l4, 6, s.b, d.b, 5353, 6464, (const uint8_t *)"atomic", 6);
    size_t l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, 0xabcdef, 0, false,
                         l4, n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    sl_endpoint from = {s, 5353}, to = {d, 6464};
    expect_delivery((const uint8_t *)"atomic", 6, &from, &to);
    /* the same identification again: not held, delivered again */
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    expect_delivery((const uint8_t *)"atomic", 6, &from, &to);
    ck_assert_uint_eq(cnt(SL_CNT_IP_FRAGS_RX), 0);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), 0);
    /* an atomic fragment carrying a ping is answered */
    n = icmp_l4(l4, sizeof l4, 6, s.b, d.b, 128, 0, 0x00050006u, (const uint8_t *)"af", 2);
    l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_ICMPV6, 1, 0, false, l4, n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    su_icmp_pkt m = expect_icmp(0, &d, &s, 129, 0);
    ck_assert_uint_eq(m.icmp.rest, 0x00050006u);
    ck_assert_uint_eq(sl_poll_at(S), SL_TIME_NEVER); /* nothing held */
}
END_TEST

START_TEST(reasm_timeout)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.reasm_timeout = 7 * (sl_time)SEC;
    cfg.udp_idle_timeout = 3600 * (sl_time)SEC;
    start(&cfg);
    bool v4 = _i == 0;
    sl_addr s = v4 ? A("198.18.20.1") : A("2001:2::20:1");
    sl_addr d = v4 ? A("198.18.20.2") : A("2001:2::20:2");
    static uint8_t data[1000], l4[1100], first[1200], pkt[1200];
    su_fill(data, sizeof data, 9);
    size_t n = udp_l4(l4, sizeof l4, s.family, s.b, d.b, 7000, 8000, data, sizeof data);
    /* datagram A: first fragment only; datagram B: a middle fragment only */
    size_t lf = v4 ? ip4x(first, sizeof first, s.b, d.b, SL_IPPROTO_UDP, 1, true, 0, NULL, 0, l4,
                          400)
                   : frag6_pkt(first, sizeof first, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, 1, 0,
                               true, l4, 400);
    size_t lb = v4 ? ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_UDP, 2, true, 50, NULL, 0,
                          l4 + 400, 200)
                   : frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, 2, 400, true,
                               l4 + 400, 200);
    ck_assert_uint_eq(sl_poll(S, T0), SL_TIME_NEVER);
    ck_assert_int_eq(in(first, lf, T0), SL_OK);
    ck_assert_uint_eq(sl_poll(S, T0), T0 + 7u * SEC);
    ck_assert_uint_eq(sl_poll_at(S), T0 + 7u * SEC);
    ck_assert_int_eq(in(pkt, lb, T0 + 500), SL_OK);
    ck_assert_uint_eq(sl_poll(S, T0 + 500), T0 + 7u * SEC);

    expect_silence(T0 + 7u * SEC - 1);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 0);
    /* A expires: Time Exceeded code 1 quoting its first fragment */
    ck_assert_uint_eq(out(T0 + 7u * SEC), 1);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 1);
    su_icmp_pkt m = expect_icmp(0, &d, &s, v4 ? 11 : 3, 1);
    expect_quote(&m, first, lf, v4 ? 548 : 1232);
    ck_assert_uint_eq(sl_poll_at(S), T0 + 500 + 7u * SEC);
    /* B expires silently: its first fragment never came */
    expect_silence(T0 + 500 + 7u * SEC);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 2);
    ck_assert_uint_eq(sl_poll_at(S), SL_TIME_NEVER);
    /* the rest of A arriving later starts a new datagram (no delivery) */
    lb = v4 ? ip4x(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_UDP, 1, false, 50, NULL, 0, l4 + 400,
                   n - 400)
            : frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, 1, 400, false,
                        l4 + 400, n - 400);
    ck_assert_int_eq(in(pkt, lb, T0 + 8u * SEC), SL_OK);
    expect_no_event();
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), 0);
    /* a timeout Time Exceeded is itself rate-limited, never about ICMP:
     * covered in icmp_never_about */
}
END_TEST

START_TEST(reasm_flood)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.reasm_datagrams = 20000; /* the byte limit binds */
    cfg.reasm_bytes = (size_t)256 << 10;
    cfg.reasm_timeout = 10 * (sl_time)SEC;
    start(&cfg);
    sl_mem_stats ms;
    sl_stats_mem(S, &ms);
    size_t base = ms.in_use;
    static uint8_t pl[600], pkt[800];
    su_fill(pl, sizeof pl, 4);
    size_t refused = 0;
    for (unsigned i = 0; i < 10000; i++) {
        size_t l;
        if (i % 2 == 0) {
            uint8_t s[4] = {198, 18, (uint8_t)(i >> 8), (uint8_t)i};
            uint8_t d[4] = {198, 19, 0, 1};
            l = ip4x(pkt, sizeof pkt, s, d, SL_IPPROTO_UDP, (uint16_t)i, true,
                     (uint16_t)(i % 3 == 0 ? 0 : 100), NULL, 0, pl, 512);
        } else {
            sl_addr s = A("2001:2:1::1"), d = A("2001:2:2::2");
            l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_UDP, i,
                          i % 3 == 0 ? 0 : 800, true, pl, 512);
        }
        sl_error e = in(pkt, l, T0 + i);
        ck_assert_msg(e == SL_OK || e == SL_ERR_FRAG_LIMIT, "flood %u: %s", i, sl_error_name(e));
        refused += e == SL_ERR_FRAG_LIMIT;
    }
    sl_stats_mem(S, &ms);
    ck_assert_uint_gt(refused, 9000);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_DROP), refused);
    ck_assert_uint_le(ms.in_use - base, cfg.reasm_bytes);
    ck_assert_uint_le(ms.peak - base, cfg.reasm_bytes + 4096);
    ck_assert_uint_le(ALLOC.peak, ms.peak);
    ck_assert_uint_eq(ALLOC.live, ms.in_use);

    /* A legit datagram during the flood cannot get in ... */
    su_rng r = {1};
    sl_endpoint from = su_ep("198.18.77.1", 1234), to = su_ep("198.18.77.2", 4321);
    static uint8_t data[3000], l4[3100];
    su_fill(data, sizeof data, 8);
    size_t n = udp_l4(l4, sizeof l4, 4, from.addr.b, to.addr.b, 1234, 4321, data, sizeof data);
    uint8_t big[1100];
    size_t bl = ip4x(big, sizeof big, from.addr.b, to.addr.b, SL_IPPROTO_UDP, 4242, true, 0, NULL,
                     0, l4, 1000);
    ck_assert_int_eq(in(big, bl, T0 + 10000), SL_ERR_FRAG_LIMIT);
    frags f;
    /* ... but once the flood has timed out everything works again. */
    sl_time t = T0 + 10000 + 10u * SEC;
    ck_assert_uint_le(sl_poll(S, T0 + 20000), T0 + 10u * SEC);
    (void)out(t);
    ck_assert_uint_eq(sl_poll_at(S), SL_TIME_NEVER);
    sl_stats_mem(S, &ms);
    ck_assert_uint_eq(ms.in_use, base);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 10000 - refused);
    for (unsigned it = 0; it < 6; it++) {
        frag4_split(&f, &r, from.addr.b, to.addr.b, SL_IPPROTO_UDP, (uint16_t)(4242 + it), l4, n,
                    3 + it);
        size_t idx[32];
        shuffle(&r, idx, f.n);
        for (size_t i = 0; i < f.n; i++)
            ck_assert_int_eq(in(f.buf[idx[i]], f.len[idx[i]], t + it), SL_OK);
        frags_free(&f);
        expect_delivery(data, sizeof data, &from, &to);
    }
    sl_endpoint from6 = su_ep("2001:2::77:1", 1234), to6 = su_ep("2001:2::77:2", 4321);
    n = udp_l4(l4, sizeof l4, 6, from6.addr.b, to6.addr.b, 1234, 4321, data, sizeof data);
    frag6_split(&f, &r, from6.addr.b, to6.addr.b, SL_IPPROTO_UDP, 31337, l4, n, 7);
    for (size_t i = 0; i < f.n; i++)
        ck_assert_int_eq(in(f.buf[i], f.len[i], t + 10), SL_OK);
    frags_free(&f);
    expect_delivery(data, sizeof data, &from6, &to6);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* ICMP error generation                                                  */
/* ---------------------------------------------------------------------- */

static size_t count_type(uint8_t fam, uint8_t type, uint8_t code)
{
    size_t k = 0;
    for (size_t i = 0; i < CAP->n; i++) {
        size_t len;
        su_icmp_pkt m;
        const uint8_t *pp = pkt_at(i, &len);
        ck_assert_int_eq(su_parse_icmp(pp, len, &m), SL_OK);
        if (m.ip.family == fam && m.icmp.type == type && m.icmp.code == code)
            k++;
    }
    return k;
}

START_TEST(port_unreachable)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.filter = refuse_all;
    start(&cfg);
    uint8_t pkt[2000], data[1500];
    su_fill(data, sizeof data, 2);
    /* v4: quote limited to 548 bytes (576 total) */
    size_t l = udp_pkt(pkt, sizeof pkt, "198.18.30.1", 555, "198.18.30.2", 666, data, 1000);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    sl_addr s = A("198.18.30.1"), d = A("198.18.30.2");
    su_icmp_pkt m = expect_icmp(0, &d, &s, 3, 3);
    expect_quote(&m, pkt, l, 548);
    ck_assert(m.icmp.quote.has_ports);
    ck_assert_uint_eq(m.icmp.quote.sport, 555);
    /* v6: quote limited to 1232 bytes (1280 total) */
    l = udp_pkt(pkt, sizeof pkt, "2001:2::30:1", 555, "2001:2::30:2", 666, data, 1400);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    s = A("2001:2::30:1");
    d = A("2001:2::30:2");
    m = expect_icmp(0, &d, &s, 1, 4);
    expect_quote(&m, pkt, l, 1232);
    ck_assert_uint_eq(cnt(SL_CNT_UDP_FLOW_REFUSED), 2);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_TX), 2);
}
END_TEST

START_TEST(icmp_rate_limit)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.filter = refuse_all;
    cfg.icmp_rate = 10;
    cfg.icmp_burst = 5;
    start(&cfg);
    uint8_t pkt[200];
    /* 100 refused datagrams in the same instant: the burst, exactly 5 */
    for (unsigned i = 0; i < 100; i++) {
        size_t l = udp_pkt(pkt, sizeof pkt, i % 2 ? "198.18.40.1" : "2001:2::40:1",
                           (uint16_t)(1000 + i), i % 2 ? "198.18.40.2" : "2001:2::40:2", 99, "r",
                           1);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    }
    ck_assert_uint_eq(out(T0), 5);
    ck_assert_uint_eq(count_type(4, 3, 3) + count_type(6, 1, 4), 5);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RATE_LIMITED), 95);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_TX), 5);
    /* 100 more spread over the next second: 10 tokens accrue */
    size_t sent = 0;
    for (unsigned i = 1; i <= 100; i++) {
        sl_time t = T0 + (sl_time)i * 10000u;
        size_t l = udp_pkt(pkt, sizeof pkt, "198.18.40.1", (uint16_t)(3000 + i), "198.18.40.2", 99,
                           "r", 1);
        ck_assert_int_eq(in(pkt, l, t), SL_OK);
        sent += out(t);
    }
    ck_assert_uint_ge(sent, 9);
    ck_assert_uint_le(sent, 11);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RATE_LIMITED), 95 + 100 - sent);
    /* idle for 10 s: the bucket holds at most the burst */
    sl_time t = T0 + 12u * SEC;
    for (unsigned i = 0; i < 100; i++) {
        size_t l = udp_pkt(pkt, sizeof pkt, "198.18.40.1", (uint16_t)(5000 + i), "198.18.40.2", 99,
                           "r", 1);
        ck_assert_int_eq(in(pkt, l, t), SL_OK);
    }
    ck_assert_uint_eq(out(t), 5);
    /* echo replies are not rate-limited */
    for (unsigned i = 0; i < 20; i++)
        ping_check("198.18.40.1", "198.18.40.2", 1, (uint16_t)i, 10, t);
}
END_TEST

START_TEST(icmp_never_about)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.filter = refuse_all;
    cfg.reasm_timeout = 2 * (sl_time)SEC;
    start(&cfg);
    uint8_t pkt[2000], l4[1600], pl[1600];
    memset(pl, 0x42, sizeof pl);
    sl_addr s4 = A("198.18.60.1"), d4 = A("198.18.60.2");
    sl_addr s6 = A("2001:2::60:1"), d6 = A("2001:2::60:2");

    /* 1. an ICMPv4 error (dest unreachable) arriving as a first fragment
     * that times out: no Time Exceeded about it; same for a ping (which
     * does get one, control). */
    uint8_t quote[28];
    size_t ql = udp_pkt(quote, sizeof quote, "198.18.60.2", 1, "198.18.61.1", 2, NULL, 0);
    memset(l4, 0, sizeof l4);
    size_t n = icmp_l4(l4, sizeof l4, 4, s4.b, d4.b, 3, 1, 0, quote, ql);
    size_t l = ip4x(pkt, sizeof pkt, s4.b, d4.b, SL_IPPROTO_ICMP, 11, true, 0, NULL, 0, l4, 32);
    (void)n;
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    n = icmp_l4(l4, sizeof l4, 4, s4.b, d4.b, 8, 0, 1, pl, 100);
    l = ip4x(pkt, sizeof pkt, s4.b, d4.b, SL_IPPROTO_ICMP, 12, true, 0, NULL, 0, l4, 64);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(out(T0 + 2u * SEC), 1);
    su_icmp_pkt m = expect_icmp(0, &d4, &s4, 11, 1);
    ck_assert_uint_eq(sl_load16(m.icmp.body + 4), 12); /* about the ping */
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 2);

    /* 2. IPv6: an ICMPv6 error behind an unknown option with action 10:
     * dropped, no Parameter Problem about an error message.  An echo
     * request in the same place does get one (control). */
    opt8(pl, SL_IPPROTO_ICMPV6, 0x9e);
    {
        /* the quote must be a valid IPv6 header: give it one */
        uint8_t q6[48];
        size_t q6l = udp_pkt(q6, sizeof q6, "2001:2::60:2", 1, "2001:2::61:1", 2, NULL, 0);
        n = icmp_l4(pl + 8, sizeof pl - 8, 6, s6.b, d6.b, 1, 4, 0, q6, q6l);
        l = ip6(pkt, sizeof pkt, s6.b, d6.b, SL_IPPROTO_DSTOPTS, pl, 8 + n);
    }
    ck_assert_int_eq(in(pkt, l, T0 + 3u * SEC), SL_OK);
    expect_silence(T0 + 3u * SEC);
    n = icmp_l4(pl + 8, sizeof pl - 8, 6, s6.b, d6.b, 128, 0, 1, NULL, 0);
    l = ip6(pkt, sizeof pkt, s6.b, d6.b, SL_IPPROTO_DSTOPTS, pl, 8 + n);
    ck_assert_int_eq(in(pkt, l, T0 + 3u * SEC), SL_OK);
    ck_assert_uint_eq(out(T0 + 3u * SEC), 1);
    (void)expect_icmp(0, &d6, &s6, 4, 2);

    /* 3. A non-first IPv6 fragment whose Hop-by-Hop header has an action
     * 10 option: dropped without Parameter Problem; the first fragment
     * gets one. */
    uint8_t hbh[8];
    opt8(hbh, SL_IPPROTO_FRAGMENT, 0x9e);
    su_fill(l4, 800, 3);
    l = frag6_pkt(pkt, sizeof pkt, s6.b, d6.b, hbh, 8, SL_IPPROTO_HOPOPTS, SL_IPPROTO_UDP, 5, 400,
                  true, l4, 400);
    uint64_t od = cnt(SL_CNT_IP_DROP_OPTION);
    ck_assert_int_eq(in(pkt, l, T0 + 3u * SEC), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_OPTION), od + 1);
    expect_silence(T0 + 3u * SEC);
    l = frag6_pkt(pkt, sizeof pkt, s6.b, d6.b, hbh, 8, SL_IPPROTO_HOPOPTS, SL_IPPROTO_UDP, 5, 0,
                  true, l4, 400);
    ck_assert_int_eq(in(pkt, l, T0 + 3u * SEC), SL_OK);
    ck_assert_uint_eq(out(T0 + 3u * SEC), 1);
    m = expect_icmp(0, &d6, &s6, 4, 2);
    ck_assert_uint_eq(m.icmp.pointer, 44);
    ck_assert_uint_eq(cnt(SL_CNT_IP_FRAGS_RX), 2); /* the two IPv4 ones */

    /* 4. Multicast / broadcast destinations: covered by
     * multicast_destinations.  5. A refused datagram quoting an ICMP
     * error cannot exist (not UDP). */
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Received ICMP errors                                                   */
/* ---------------------------------------------------------------------- */

typedef struct flow_fx {
    sl_dgram h;
    sl_addr local, remote, router;
    uint8_t sent[256]; /* our reply as sent */
    size_t sent_len;
} flow_fx;

/* An inbound datagram remote:5000 -> local:53 makes a flow; we answer. */
static void make_flow(flow_fx *f, uint8_t fam)
{
    const char *l = fam == 4 ? "198.18.70.53" : "2001:2::70:53";
    const char *r = fam == 4 ? "198.19.70.1" : "2001:2:1::70:1";
    f->local = A(l);
    f->remote = A(r);
    f->router = A(fam == 4 ? "198.18.255.1" : "2001:2:ff::1");
    uint8_t pkt[200];
    size_t n = udp_pkt(pkt, sizeof pkt, r, 5000, l, 53, "query", 5);
    ck_assert_int_eq(in(pkt, n, T0), SL_OK);
    sl_event ev = expect_event(SL_EV_DGRAM_NEW);
    f->h = ev.dgram;
    (void)su_drain_events(S);
    uint8_t buf[64];
    ck_assert_int_eq(sl_dgram_recv(S, f->h, buf, sizeof buf, NULL, NULL), 5);
    ck_assert_int_eq(sl_dgram_send(S, f->h, (const uint8_t *)"answer", 6), SL_OK);
    ck_assert_uint_eq(out(T0), 1);
    const uint8_t *p = pkt_at(0, &f->sent_len);
    ck_assert_uint_le(f->sent_len, sizeof f->sent);
    memcpy(f->sent, p, f->sent_len);
    expect_no_event();
}

static void expect_flow_error(const flow_fx *f, sl_error err, uint32_t pmtu)
{
    sl_event ev = expect_event(SL_EV_ERROR);
    ck_assert(su_dgram_eq(ev.dgram, f->h));
    ck_assert_int_eq(ev.error, err);
    expect_no_event();
    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_info_get(S, f->h, &info), SL_OK);
    ck_assert_int_eq(info.error, err);
    ck_assert_uint_eq(info.path_mtu, pmtu);
}

START_TEST(icmp_errors_to_flow4)
{
    start_default();
    flow_fx f;
    make_flow(&f, 4);
    uint8_t pkt[600];
    /* port unreachable from the remote host */
    size_t l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 3, 3, 0, f.sent, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 1), SL_OK);
    expect_flow_error(&f, SL_ERR_REFUSED, 0);
    /* fragmentation needed, MTU 1280, from a router */
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 3, 4, 1280, f.sent, 28);
    ck_assert_int_eq(in(pkt, l, T0 + 2), SL_OK);
    expect_flow_error(&f, SL_ERR_MSGSIZE, 1280);
    /* time exceeded */
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 11, 0, 0, f.sent, 28);
    ck_assert_int_eq(in(pkt, l, T0 + 3), SL_OK);
    expect_flow_error(&f, SL_ERR_TIMEDOUT, 1280);
    /* host unreachable */
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 3, 1, 0, f.sent, 28);
    ck_assert_int_eq(in(pkt, l, T0 + 4), SL_OK);
    expect_flow_error(&f, SL_ERR_UNREACH, 1280);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_RX), 4);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_DELIVERED), 4);
    /* a quote naming no flow: other remote port, other local address */
    uint8_t q[64];
    memcpy(q, f.sent, f.sent_len);
    sl_store16(q + 22, 5001); /* destination port */
    l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 3, 3, 0, q, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 5), SL_OK);
    memcpy(q, f.sent, f.sent_len);
    q[15] ^= 1; /* source address (checksum not checked in a quote) */
    l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 3, 3, 0, q, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 5), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_NO_FLOW), 2);
    expect_no_event();
    expect_silence(T0 + 5);
}
END_TEST

START_TEST(icmp_errors_to_flow6)
{
    start_default();
    flow_fx f;
    make_flow(&f, 6);
    uint8_t pkt[600];
    size_t l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 1, 4, 0, f.sent, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 1), SL_OK);
    expect_flow_error(&f, SL_ERR_REFUSED, 0);
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 2, 0, 1280, f.sent, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 2), SL_OK);
    expect_flow_error(&f, SL_ERR_MSGSIZE, 1280);
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 3, 0, 0, f.sent, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 3), SL_OK);
    expect_flow_error(&f, SL_ERR_TIMEDOUT, 1280);
    /* a quote with a Destination Options header before UDP */
    uint8_t q[256];
    memcpy(q, f.sent, 40);
    q[6] = SL_IPPROTO_DSTOPTS;
    pad8(q + 40, SL_IPPROTO_UDP);
    memcpy(q + 48, f.sent + 40, f.sent_len - 40);
    sl_store16(q + 4, (uint16_t)(f.sent_len - 40 + 8));
    l = icmp_pkt(pkt, sizeof pkt, &f.router, &f.local, 1, 3, 0, q, f.sent_len + 8);
    ck_assert_int_eq(in(pkt, l, T0 + 4), SL_OK);
    expect_flow_error(&f, SL_ERR_UNREACH, 1280);
    l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 1, 4, 0, q, f.sent_len + 8);
    ck_assert_int_eq(in(pkt, l, T0 + 4), SL_OK);
    expect_flow_error(&f, SL_ERR_REFUSED, 1280);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_DELIVERED), 5);
    /* no such flow */
    memcpy(q, f.sent, f.sent_len);
    sl_store16(q + 40, 54); /* source port */
    l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 1, 4, 0, q, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 5), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_NO_FLOW), 1);
    /* quoting an echo request: no flow either */
    uint8_t e[100];
    size_t el = su_icmp_echo(e, sizeof e, &f.local, &f.remote, 1, 1, "x", 1);
    l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, 1, 4, 0, e, el);
    ck_assert_int_eq(in(pkt, l, T0 + 5), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_NO_FLOW), 2);
    expect_no_event();
    expect_silence(T0 + 5);
}
END_TEST

START_TEST(icmp_error_after_free)
{
    /* An error for a flow whose handle was freed: no flow, no event. */
    start_default();
    flow_fx f;
    make_flow(&f, _i == 0 ? 4 : 6);
    ck_assert_int_eq(sl_dgram_free(S, f.h), SL_OK);
    uint8_t pkt[600];
    size_t l = icmp_pkt(pkt, sizeof pkt, &f.remote, &f.local, _i == 0 ? 3 : 1, _i == 0 ? 3 : 4, 0,
                        f.sent, f.sent_len);
    ck_assert_int_eq(in(pkt, l, T0 + 1), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_ERR_NO_FLOW), 1);
    expect_no_event();
}
END_TEST

START_TEST(ndp_ignored)
{
    start_default();
    sl_addr s = A("2001:2::80:1"), d = A("2001:2::80:2");
    uint8_t pkt[200], body[24];
    memset(body, 0, sizeof body);
    memcpy(body, d.b, 16);
    for (uint8_t type = 133; type <= 137; type++) {
        size_t l = icmp_pkt(pkt, sizeof pkt, &s, &d, type, 0, 0, body, type == 137 ? 24 : 16);
        pkt[7] = 255; /* hop limit */
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    }
    /* MLD (130..132) and an unknown informational type */
    for (uint8_t type = 130; type <= 132; type++) {
        size_t l = icmp_pkt(pkt, sizeof pkt, &s, &d, type, 0, 0, body, 20);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    }
    size_t l = icmp_pkt(pkt, sizeof pkt, &s, &d, 200, 0, 0, body, 4);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    /* echo replies are ignored too */
    l = icmp_pkt(pkt, sizeof pkt, &s, &d, 129, 0, 0x10001, body, 4);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_IGNORED), 10);
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_RX), 10);
    /* ICMPv4: echo reply, timestamp, unknown */
    sl_addr s4 = A("198.18.80.1"), d4 = A("198.18.80.2");
    static const uint8_t t4[] = {0, 13, 42};
    for (unsigned i = 0; i < 3; i++) {
        l = icmp_pkt(pkt, sizeof pkt, &s4, &d4, t4[i], 0, 0, body, 12);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    }
    ck_assert_uint_eq(cnt(SL_CNT_ICMP_IGNORED), 13);
    expect_silence(T0);
    expect_no_event();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Regressions: bugs found while writing this suite                       */
/* ---------------------------------------------------------------------- */

/* BUG 1 (src/stack/stack.c input6): the unknown-option and routing-header
 * checks run only on the packet as received.  A Destination Options header
 * after the Fragment header (where RFC 8200 §4.1 puts options for the
 * final destination) is only seen after reassembly, where input6 goes
 * straight to the protocol switch: an unknown option with action 01 (or
 * 10/11) does not discard the datagram, it is delivered. */
START_TEST(reg_reasm_dstopts_unknown_option)
{
    start_default();
    sl_addr s = A("2001:2::90:1"), d = A("2001:2::90:2");
    static uint8_t frag[2000], pkt[2100];
    for (unsigned k = 0; k < 2; k++) {
        uint8_t type = k == 0 ? 0x5e : 0x9e; /* action 01 / 10 */
        opt8(frag, SL_IPPROTO_UDP, type);
        uint8_t data[1000];
        su_fill(data, sizeof data, k);
        size_t n = udp_l4(frag + 8, sizeof frag - 8, 6, s.b, d.b, 4444, 5555, data, sizeof data);
        size_t total = 8 + n;
        size_t l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_DSTOPTS, 100 + k,
                             0, true, frag, 512);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_DSTOPTS, 100 + k, 512,
                      false, frag + 512, total - 512);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_OK), k + 1);
        sl_event ev;
        ck_assert_msg(!sl_next_event(S, &ev),
                      "datagram with an unknown action-%u option delivered after reassembly",
                      (unsigned)(type >> 6));
        ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_OPTION), k + 1);
        ck_assert_uint_eq(cnt(SL_CNT_UDP_RX), 0);
    }
}
END_TEST

/* BUG 2 (src/icmp/icmp.c sl_icmp6_error): "never about an ICMPv6 error"
 * is only checked when the packet is not a fragment.  A reassembly
 * timeout quotes the offset-0 fragment, which does carry the ICMPv6
 * type: a fragmented ICMPv6 error that never completes gets a Time
 * Exceeded about it (RFC 4443 §2.4(e.1)).  IPv4 gets this right. */
START_TEST(reg_time_exceeded_about_icmp6_error)
{
    sl_config cfg;
    cfg_default(&cfg);
    cfg.reasm_timeout = 2 * (sl_time)SEC;
    start(&cfg);
    sl_addr s = A("2001:2::91:1"), d = A("2001:2::91:2");
    uint8_t q6[48], l4[200], pkt[300];
    size_t ql = udp_pkt(q6, sizeof q6, "2001:2::91:2", 1, "2001:2::92:1", 2, NULL, 0);
    size_t n = icmp_l4(l4, sizeof l4, 6, s.b, d.b, 1, 4, 0, q6, ql);
    ck_assert_uint_ge(n, 48);
    size_t l = frag6_pkt(pkt, sizeof pkt, s.b, d.b, NULL, 0, 0, SL_IPPROTO_ICMPV6, 9, 0, true, l4,
                         40);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    size_t sent = out(T0 + 2u * SEC);
    ck_assert_uint_eq(cnt(SL_CNT_IP_REASM_TIMEOUT), 1);
    ck_assert_msg(sent == 0, "Time Exceeded sent about an ICMPv6 error message");
}
END_TEST

/* BUG 3 (src/ip/ip.c sl_ip_is_local): with any_ip (the default) the
 * unspecified and loopback addresses are "local" destinations, so a
 * packet to 0.0.0.0, 127.0.0.1, :: or ::1 is answered from that address
 * (an echo reply / port unreachable with source 0.0.0.0 or ::).  RFC 1122
 * §3.2.1.3 (a), (g); RFC 4291 §2.5.2, §2.5.3: never a destination on the
 * wire, never a source. */
START_TEST(reg_martian_destination_answered)
{
    start_default();
    static const char *const bad[] = {"0.0.0.0", "127.0.0.1", "::", "::1"};
    uint8_t pkt[200];
    char msg[200] = "";
    for (unsigned i = 0; i < 4; i++) {
        sl_addr d = A(bad[i]);
        sl_addr s = A(d.family == 4 ? "198.18.93.1" : "2001:2::93:1");
        size_t l = su_icmp_echo(pkt, sizeof pkt, &s, &d, 1, 1, "x", 1);
        ck_assert_int_eq(in(pkt, l, T0), SL_OK);
        if (out(T0) != 0) {
            strcat(msg, " ");
            strcat(msg, bad[i]);
        }
    }
    ck_assert_msg(msg[0] == 0, "pings answered from the pinged address:%s", msg);
}
END_TEST

/* BUG 4 (src/stack/stack.c input6): RFC 8200 §4.4: a Routing header of an
 * unrecognised type with Segments Left non-zero "must" be answered with
 * Parameter Problem code 0 pointing at the Routing Type field.  sluice
 * implements no routing type, so every such packet qualifies; it drops
 * them silently. */
START_TEST(reg_routing_header_param_problem)
{
    start_default();
    sl_addr s = A("2001:2::94:1"), d = A("2001:2::94:2");
    uint8_t pl[128], pkt[256];
    memset(pl, 0, 24);
    pl[0] = SL_IPPROTO_UDP;
    pl[1] = 2;
    pl[2] = 253; /* experimental type: certainly unrecognised */
    pl[3] = 1;
    size_t n = udp_l4(pl + 24, sizeof pl - 24, 6, s.b, d.b, 1, 2, (const uint8_t *)"x", 1);
    size_t l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_ROUTING, pl, 24 + n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_ROUTING), 1);
    ck_assert_msg(out(T0) == 1, "no Parameter Problem for an unrecognised routing type");
    su_icmp_pkt m = expect_icmp(0, &d, &s, 4, 0);
    ck_assert_uint_eq(m.icmp.pointer, 42);
}
END_TEST

/* BUG 5 (src/wire/ipv6.c walk_tlv + input6): RFC 8200 §4.2 processes
 * options in the order they appear and acts on the first unrecognised
 * one.  The parser records the option with the highest action instead,
 * so an action-01 option (discard silently) followed by an action-10 one
 * sends a Parameter Problem the RFC does not send (and points at the
 * second option).  Low impact. */
START_TEST(reg_option_order)
{
    start_default();
    sl_addr s = A("2001:2::95:1"), d = A("2001:2::95:2");
    uint8_t pl[64], pkt[200];
    /* nh, len 0, opt 0x5e len 0, opt 0x9e len 0, PadN(0) */
    pl[0] = SL_IPPROTO_UDP;
    pl[1] = 0;
    pl[2] = 0x5e;
    pl[3] = 0;
    pl[4] = 0x9e;
    pl[5] = 0;
    pl[6] = 1;
    pl[7] = 0;
    size_t n = udp_l4(pl + 8, sizeof pl - 8, 6, s.b, d.b, 1, 2, (const uint8_t *)"x", 1);
    size_t l = ip6(pkt, sizeof pkt, s.b, d.b, SL_IPPROTO_DSTOPTS, pl, 8 + n);
    ck_assert_int_eq(in(pkt, l, T0), SL_OK);
    ck_assert_uint_eq(cnt(SL_CNT_IP_DROP_OPTION), 1);
    size_t sent = out(T0);
    ck_assert_msg(sent == 0, "Parameter Problem sent although the first unknown option says "
                             "discard silently");
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *suite(void)
{
    Suite *s = suite_create("stack_ip");
    TCase *tc = tcase_create("echo_addresses");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ping4_many);
    tcase_add_test(tc, ping6_many);
    tcase_add_test(tc, echo_disabled);
    tcase_add_test(tc, local_prefixes);
    tcase_add_test(tc, martian_sources);
    tcase_add_test(tc, loopback_allowed);
    tcase_add_test(tc, multicast_destinations);
    suite_add_tcase(s, tc);

    tc = tcase_create("ip_options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ipv4_source_route);
    tcase_add_test(tc, ipv6_unknown_options);
    tcase_add_test(tc, ipv6_routing_header);
    tcase_add_test(tc, unknown_protocol);
    tcase_add_test(tc, ipv6_no_next_header);
    tcase_add_test(tc, parse_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("reassembly");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, reasm_shuffled, 0, 3);
    tcase_add_test(tc, reasm_fragmented_ping);
    tcase_add_loop_test(tc, reasm_overlap, 0, 2);
    tcase_add_test(tc, atomic_fragment);
    tcase_add_loop_test(tc, reasm_timeout, 0, 2);
    tcase_add_test(tc, reasm_flood);
    suite_add_tcase(s, tc);

    tc = tcase_create("icmp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, port_unreachable);
    tcase_add_test(tc, icmp_rate_limit);
    tcase_add_test(tc, icmp_never_about);
    tcase_add_test(tc, icmp_errors_to_flow4);
    tcase_add_test(tc, icmp_errors_to_flow6);
    tcase_add_loop_test(tc, icmp_error_after_free, 0, 2);
    tcase_add_test(tc, ndp_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reg_reasm_dstopts_unknown_option);
    tcase_add_test(tc, reg_time_exceeded_about_icmp6_error);
    tcase_add_test(tc, reg_martian_destination_answered);
    tcase_add_test(tc, reg_routing_header_param_problem);
    tcase_add_test(tc, reg_option_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
