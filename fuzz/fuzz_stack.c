/*
 * fuzz_stack: the whole input path of one stack.  The input is a script of
 * packets, time steps and API calls run against a stack with small limits;
 * after every step the harness checks what the public API promises.
 *
 * Input layout:
 *   byte 0  flags
 *     bits 0-1  preset: 0 small limits, 1 medium, 2 defaults, 3 tight memory
 *     bit 2     arena allocator (4 MiB static buffer) instead of the heap
 *     bit 3     fault injection: the allocator fails every Nth call
 *     bit 4     tx.get_buffer device with a per-poll budget (may say "full")
 *     bit 5     SL_OFFLOAD_RX_CSUM
 *     bit 6     any_ip off: only 192.0.2.0/24, 10.0.0.1/32, 2001:db8::/32
 *     bit 7     run the script twice and compare every byte sent (determinism)
 *   byte 1
 *     bits 0-1  mtu: 576, 1280, 1500, 9000
 *     bits 2-3  filter: none, refuse odd ports, accept/refuse/drop by hash,
 *               refuse all
 *     bits 4-5  start time: 0, 1 s, one year, 2^62 us
 *     bit 6     icmp_echo off
 *     bit 7     free every handle before sl_stack_free (else leave them)
 *   byte 2
 *     bits 0-2  device budget per poll (7: unlimited)
 *     bits 3-4  fault period: 3, 7, 17, 61
 *   then records, at most MAX_RECORDS: [op][len hi][len lo][len bytes]
 *   (a length past the end is cut to the end).  op & 15:
 *     0 input raw            8 sendto (from/to selectors, payload)
 *     1 input, fixed up      9 free
 *     2 input, fragmented   10 open (bind selector)
 *     3 advance time + poll 11 info / set_user
 *     4 poll                12 inject an ICMP error quoting a sent packet
 *     5 drain events        13 answer a sent UDP datagram (swapped)
 *     6 recv                14 input at an earlier time, fixed up
 *     7 send               15 send a large filler datagram
 *   "fixed up" = IP length fields and every checksum made right.
 *
 * Checked after every step: the allocator's live bytes equal
 * sl_stats_mem().in_use and stay within mem_limit; alloc/free sizes match;
 * counters and parse-error counts never decrease and agree with what the
 * harness saw (ip_rx, ip_tx, ip_tx_bytes, ip_frags_tx, sum of parse errors
 * = ip_drop_parse); every packet sent is <= mtu, parses with checksums
 * verified, and its UDP/ICMP payload (after the harness reassembles the
 * stack's own fragments) parses with verification; ICMP errors fit in 576 /
 * 1280 bytes; sl_poll returns sl_poll_at(), and a deadline > now unless
 * the device said full; a poll before the deadline with nothing else
 * happening sends nothing and returns the same deadline; events name only
 * live handles (a NEW never reuses a freed (idx, gen)), carry the user
 * pointer, follow the API contract (no READABLE/ERROR after CLOSED,
 * WRITABLE only after SL_ERR_AGAIN and always after the queue drained);
 * API results are in their documented sets and match the handle's state;
 * after sl_stack_free the allocator holds 0 bytes.  Oracle for inputs the
 * harness fragments itself: the reassembled IPv6 datagram is judged like
 * the unfragmented packet (options / routing header after the Fragment
 * header still drop it; a datagram that is itself a fragment is not
 * delivered).
 *
 * Environment: FZ_STACK_VERBOSE=1 prints, per input, the counters and
 * events reached.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "fuzz_common.h"
#include "fuzz_alloc.h"

#include "sluice/alloc.h"
#include "sluice/stack.h"

#include <stdbool.h>

#define MAX_RECORDS 256u
#define TIME_CAP ((sl_time)1 << 41) /* ~25 days of advances per input */
#define ARENA_SIZE ((size_t)4 << 20)
#define TXSTORE 8u
#define TXSTORE_LEN 1600u
#define NRECENT 16u

static _Alignas(16) uint8_t g_arena[ARENA_SIZE];

/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

enum { H_NONE = 0, H_LIVE = 1, H_FREED = 2 };

typedef struct hinfo {
    uint32_t gen;
    uint8_t state;
    bool is_flow;
    bool bound_any;      /* bound to family 0                          */
    bool closed_ev;      /* CLOSED delivered                           */
    bool want_w;         /* got SL_ERR_AGAIN, queue not drained since  */
    bool w_due;          /* queue drained: WRITABLE must be delivered  */
    void *user;
    sl_endpoint bind;    /* bound handles                              */
} hinfo;

typedef struct txreasm {
    bool active;
    uint8_t fam, proto;
    uint32_t id;
    uint8_t src[16], dst[16];
    size_t next;
    uint8_t buf[65536 + 64];
} txreasm;

typedef struct fz {
    sl_stack *s;
    sl_config cfg;
    bool tso_call;       /* inside tx_send_tso                          */
    bool csum_ok_inputs; /* alternate inputs use SL_INPUT_CSUM_OK       */
    uint64_t n_tso;
    cnt_alloc al;
    sl_time now;
    sl_time advanced;
    hinfo *h;            /* [1 .. max_flows]                            */
    uint32_t hcap;
    uint32_t hmax; /* the highest idx a datagram handle has had */
    sl_dgram recent[NRECENT];
    unsigned nrecent, recent_pos;
    uintptr_t user_seq;

    uint64_t cnt[SL_CNT__COUNT];
    uint64_t perr[128];
    sl_mem_stats ms;
    uint64_t n_input, n_tx, tx_bytes, n_frag_tx;

    /* tx side */
    unsigned dev_budget, dev_left; /* budget 0: unlimited               */
    bool dev_said_full;
    uint8_t *dev_buf;
    size_t dev_len;
    unsigned poll_tx;    /* packets sent by the current poll            */
    txreasm *rs;
    uint8_t txs[TXSTORE][TXSTORE_LEN];
    size_t txs_len[TXSTORE];
    unsigned txs_pos, txs_n;

    sl_time last_deadline;
    bool dirty;          /* anything but a poll since the last poll     */
    unsigned filter_mode;
    uint64_t digest;
    unsigned ev_seen[16];   /* events by type, for FZ_STACK_VERBOSE   */
} fz;

static void dig(fz *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = f->digest;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    f->digest = h;
}

static void dig64(fz *f, uint64_t v)
{
    dig(f, &v, sizeof v);
}

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */
/* ---------------------------------------------------------------------- */

static const uint8_t k_v4[6][4] = {{192, 0, 2, 1},   {198, 51, 100, 7}, {10, 0, 0, 1},
                                   {192, 0, 2, 200}, {0, 0, 0, 0},      {224, 0, 0, 1}};
static const uint8_t k_v6[5][16] = {
    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
    {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53},
    {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
static const uint16_t k_ports[8] = {53, 7, 9, 40000, 0, 5353, 65535, 123};

/* An endpoint from two selector bytes; family 0 when allowed and chosen. */
static void pick_ep(sl_endpoint *e, uint8_t a, uint8_t b, bool allow_any)
{
    memset(e, 0, sizeof *e);
    unsigned fam = a & 3u;
    if (fam == 0 && !allow_any)
        fam = 1;
    if (fam == 1 || fam == 3) {
        e->addr.family = 4;
        memcpy(e->addr.b, k_v4[(a >> 2) % 6u], 4);
    } else if (fam == 2) {
        e->addr.family = 6;
        memcpy(e->addr.b, k_v6[(a >> 2) % 5u], 16);
    }
    e->port = (b & 0x80u) ? (uint16_t)(b * 257u) : k_ports[b & 7u];
}

static size_t alen(uint8_t fam)
{
    return fam == 4 ? 4u : fam == 6 ? 16u : 0u;
}

static bool ep_eq(const sl_endpoint *a, const sl_endpoint *b)
{
    return a->addr.family == b->addr.family && a->port == b->port &&
           memcmp(a->addr.b, b->addr.b, alen(a->addr.family)) == 0;
}

/* ---------------------------------------------------------------------- */
/* Checksum fix-ups                                                       */
/* ---------------------------------------------------------------------- */

static void fix_l4(uint8_t fam, const uint8_t *src, const uint8_t *dst, uint8_t proto, uint8_t *l4,
                   size_t n)
{
    if (n < 8 || n > 65535)
        return;
    if (proto == SL_IPPROTO_UDP) {
        size_t ulen = sl_load16(l4 + 4);
        if (ulen < 8 || ulen > n) {
            ulen = n;
            sl_store16(l4 + 4, (uint16_t)n);
        }
        l4[6] = l4[7] = 0;
        uint32_t s = fam == 4 ? sl_csum_pseudo4(src, dst, SL_IPPROTO_UDP, (uint16_t)ulen)
                              : sl_csum_pseudo6(src, dst, SL_IPPROTO_UDP, (uint32_t)ulen);
        uint16_t c = sl_csum_finish(sl_csum_partial(l4, ulen, s));
        sl_store16(l4 + 6, c == 0 ? 0xffff : c);
    } else if (proto == SL_IPPROTO_TCP && n >= 20) {
        l4[16] = l4[17] = 0;
        uint32_t s = fam == 4 ? sl_csum_pseudo4(src, dst, SL_IPPROTO_TCP, (uint16_t)n)
                              : sl_csum_pseudo6(src, dst, SL_IPPROTO_TCP, (uint32_t)n);
        sl_store16(l4 + 16, sl_csum_finish(sl_csum_partial(l4, n, s)));
    } else if (proto == SL_IPPROTO_ICMP && fam == 4) {
        l4[2] = l4[3] = 0;
        sl_store16(l4 + 2, sl_csum(l4, n));
    } else if (proto == SL_IPPROTO_ICMPV6 && fam == 6) {
        l4[2] = l4[3] = 0;
        uint32_t s = sl_csum_pseudo6(src, dst, SL_IPPROTO_ICMPV6, (uint32_t)n);
        sl_store16(l4 + 2, sl_csum_finish(sl_csum_partial(l4, n, s)));
    }
}

/* Make the length fields and checksums of an IP packet right (in place). */
static void fixup(uint8_t *p, size_t len)
{
    if (len == 0)
        return;
    if ((p[0] >> 4) == 4) {
        if (len < 20 || len > 65535)
            return;
        size_t hl = (size_t)(p[0] & 15u) * 4;
        if (hl < 20 || hl > len)
            return;
        size_t total = sl_load16(p + 2);
        if (total < hl || total > len) {
            total = len;
            sl_store16(p + 2, (uint16_t)len);
        }
        uint16_t ff = sl_load16(p + 6);
        if ((ff & 0x3fffu) == 0)
            fix_l4(4, p + 12, p + 16, p[9], p + hl, total - hl);
        p[10] = p[11] = 0;
        sl_store16(p + 10, sl_csum(p, hl));
    } else if ((p[0] >> 4) == 6) {
        if (len < 40)
            return;
        size_t plen = sl_load16(p + 4);
        if (40 + plen > len) {
            plen = len - 40 > 65535 ? 65535 : len - 40;
            sl_store16(p + 4, (uint16_t)plen);
        }
        sl_ipv6_hdr h;
        if (sl_ipv6_parse(p, 40 + plen, &h) != SL_OK || h.is_fragment)
            return;
        size_t off = (size_t)(h.payload - p);
        fix_l4(6, h.src, h.dst, h.proto, p + off, h.payload_len);
    }
}

/* ---------------------------------------------------------------------- */
/* Transmit checks                                                        */
/* ---------------------------------------------------------------------- */

static void check_l4(fz *f, uint8_t fam, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                     const uint8_t *l4, size_t n)
{
    (void)f;
    sl_pseudo ph = {fam, src, dst};
    if (proto == SL_IPPROTO_UDP) {
        sl_udp_hdr u;
        FZ_CHECK_ERR(sl_udp_parse(l4, n, &ph, &u), SL_OK);
        FZ_CHECK(u.length == n);
        FZ_CHECK(u.checksum != 0);
        return;
    }
    if (proto == SL_IPPROTO_TCP) { /* RSTs and segments once TCP is wired in */
        sl_tcp_hdr t;
        FZ_CHECK_ERR(sl_tcp_parse(l4, n, &ph, &t), SL_OK);
        return;
    }
    sl_icmp_hdr m;
    sl_error e = SL_ERR_INVAL;
    if (proto == SL_IPPROTO_ICMP && fam == 4)
        e = sl_icmp4_parse(l4, n, 0, &m);
    else if (proto == SL_IPPROTO_ICMPV6 && fam == 6)
        e = sl_icmp6_parse(l4, n, &ph, &m);
    else
        fz_fail(__FILE__, __LINE__, "stack sent an unexpected protocol");
    /* RFC 4443 §2.4(c): an ICMPv6 error quotes as much of the invoking
     * packet as fits in 1280 bytes.  When that cut falls inside the
     * packet's extension headers, sluice's parser refuses the quote
     * (ERR_ICMP_QUOTE: no transport header, no flow can be named), so the
     * stack's own message is only checked for being such a cut: exactly
     * 1240 bytes of ICMPv6 quoting a longer original. */
    if (e == SL_ERR_ICMP_QUOTE && proto == SL_IPPROTO_ICMPV6 && n == 1240u && l4[0] < 128 &&
        (l4[8] >> 4) == 6 && 40u + sl_load16(l4 + 12) > n - 8u)
        return;
    if (e != SL_OK) { /* what was sent, for the report */
        fprintf(stderr, "ICMPv%u message sent (%zu bytes):", fam == 4 ? 4u : 6u, n);
        for (size_t i = 0; i < n && i < 160; i++)
            fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n  " : " ", l4[i]);
        fprintf(stderr, "\n");
    }
    FZ_CHECK_ERR(e, SL_OK);
    switch (m.kind) {
    case SL_ICMP_ECHO_REPLY:
        break;
    case SL_ICMP_DEST_UNREACH:
    case SL_ICMP_TIME_EXCEEDED:
    case SL_ICMP_PARAM_PROBLEM:
        /* RFC 1812 §4.3.2.3 / RFC 4443 §2.4(c) */
        FZ_CHECK(n + (fam == 4 ? 20u : 40u) <= (fam == 4 ? 576u : 1280u));
        break;
    case SL_ICMP_OTHER:
    case SL_ICMP_ECHO_REQUEST:
    case SL_ICMP_PKT_TOO_BIG:
    case SL_ICMP_NDP_RS:
    case SL_ICMP_NDP_RA:
    case SL_ICMP_NDP_NS:
    case SL_ICMP_NDP_NA:
    case SL_ICMP_NDP_REDIRECT:
        fz_fail(__FILE__, __LINE__, "stack sent an unexpected ICMP kind");
    }
}

static void rs_frag(fz *f, uint8_t fam, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    uint32_t id, size_t off, bool more, const uint8_t *data, size_t n)
{
    txreasm *r = f->rs;
    size_t al = alen(fam);
    if (off == 0) {
        FZ_CHECK(!r->active); /* the previous packet's fragments all went out */
        FZ_CHECK(more);
        r->active = true;
        r->fam = fam;
        r->proto = proto;
        r->id = id;
        memcpy(r->src, src, al);
        memcpy(r->dst, dst, al);
        r->next = 0;
    } else {
        FZ_CHECK(r->active);
        FZ_CHECK(r->fam == fam && r->proto == proto && r->id == id);
        FZ_CHECK(memcmp(r->src, src, al) == 0 && memcmp(r->dst, dst, al) == 0);
        FZ_CHECK(off == r->next);
    }
    if (more)
        FZ_CHECK(n > 0 && n % 8 == 0);
    FZ_CHECK(r->next + n <= 65535);
    memcpy(r->buf + r->next, data, n);
    r->next += n;
    if (!more) {
        r->active = false;
        check_l4(f, fam, r->src, r->dst, proto, r->buf, r->next);
    }
}

static void check_tx(fz *f, const uint8_t *b, size_t len)
{
    FZ_CHECK(len >= 20);
    FZ_CHECK(len <= f->cfg.mtu || (f->tso_call && len <= f->cfg.tso_max));
    if ((b[0] >> 4) == 4) {
        sl_ipv4_hdr h;
        FZ_CHECK_ERR(sl_ipv4_parse(b, len, 0, &h), SL_OK);
        FZ_CHECK(h.total_len == len && h.ihl == 5 && h.ttl == f->cfg.ttl);
        FZ_CHECK(!h.df && !h.rf);
        if (h.mf || h.frag_off != 0) {
            f->n_frag_tx++;
            rs_frag(f, 4, h.src, h.dst, h.proto, h.id, (size_t)h.frag_off * 8, h.mf, h.payload,
                    h.payload_len);
        } else {
            FZ_CHECK(!f->rs->active);
            check_l4(f, 4, h.src, h.dst, h.proto, h.payload, h.payload_len);
        }
    } else if ((b[0] >> 4) == 6) {
        FZ_CHECK(len >= 40);
        sl_ipv6_hdr h;
        FZ_CHECK_ERR(sl_ipv6_parse(b, len, &h), SL_OK);
        FZ_CHECK(40u + h.plen == len && h.hop_limit == f->cfg.ttl);
        if (h.has_frag) {
            FZ_CHECK(h.is_fragment && h.unfrag_len == 40 && h.n_ext == 1);
            f->n_frag_tx++;
            rs_frag(f, 6, h.src, h.dst, h.proto, h.frag_id, (size_t)h.frag_off * 8, h.frag_more,
                    h.payload, h.payload_len);
        } else {
            FZ_CHECK(!f->rs->active && h.n_ext == 0);
            check_l4(f, 6, h.src, h.dst, h.proto, h.payload, h.payload_len);
        }
    } else {
        fz_fail(__FILE__, __LINE__, "stack sent a packet that is neither IPv4 nor IPv6");
    }
}

static uint8_t *dev_get_buffer(void *ctx, size_t len)
{
    fz *f = ctx;
    FZ_CHECK(f->dev_buf == NULL); /* the previous buffer was sent */
    FZ_CHECK(len > 0 && len <= (f->cfg.tso_max > f->cfg.mtu ? f->cfg.tso_max : f->cfg.mtu));
    if (f->dev_budget != 0) {
        if (f->dev_left == 0) {
            f->dev_said_full = true;
            return NULL;
        }
        f->dev_left--;
    }
    f->dev_buf = fz_alloc(len);
    memset(f->dev_buf, 0xab, len);
    f->dev_len = len;
    return f->dev_buf;
}

static void tx_send(void *ctx, uint8_t *buf, size_t len)
{
    fz *f = ctx;
    FZ_CHECK(buf != NULL);
    if (f->cfg.tx.get_buffer != NULL)
        FZ_CHECK(buf == f->dev_buf && len == f->dev_len);
    check_tx(f, buf, len);
    f->n_tx++;
    f->poll_tx++;
    f->tx_bytes += len;
    dig(f, buf, len);
    size_t k = len < TXSTORE_LEN ? len : TXSTORE_LEN;
    memcpy(f->txs[f->txs_pos], buf, k);
    f->txs_len[f->txs_pos] = k;
    f->txs_pos = (f->txs_pos + 1) % TXSTORE;
    if (f->txs_n < TXSTORE)
        f->txs_n++;
    if (f->cfg.tx.get_buffer != NULL) {
        free(f->dev_buf);
        f->dev_buf = NULL;
    }
}

/* cfg.tso_max: a TCP packet longer than the MTU, whole `seg`-byte
 * segments; otherwise checked and recorded like any other. */
static void tx_send_tso(void *ctx, uint8_t *buf, size_t len, uint16_t seg)
{
    fz *f = ctx;
    FZ_CHECK(f->cfg.tso_max != 0 && len > f->cfg.mtu && len <= f->cfg.tso_max);
    FZ_CHECK(seg > 0 && seg < len);
    bool v4 = (buf[0] >> 4) == 4;
    FZ_CHECK(buf[v4 ? 9 : 6] == SL_IPPROTO_TCP);
    size_t ihl = v4 ? 20u : 40u;
    size_t thl = (size_t)(buf[ihl + 12] >> 4) * 4u;
    FZ_CHECK(len > ihl + thl + seg); /* more than one segment's worth */
    FZ_CHECK(ihl + thl + seg <= f->cfg.mtu); /* each cut segment fits */
    f->n_tso++;
    f->tso_call = true;
    tx_send(ctx, buf, len);
    f->tso_call = false;
}

static sl_verdict filter(void *ctx, const sl_flow_info *fi)
{
    fz *f = ctx;
    FZ_CHECK(fi->proto == SL_IPPROTO_UDP || fi->proto == SL_IPPROTO_TCP);
    FZ_CHECK(fi->local.addr.family == fi->remote.addr.family);
    FZ_CHECK(fi->local.addr.family == 4 || fi->local.addr.family == 6);
    switch (f->filter_mode) {
    case 1:
        return (fi->local.port & 1u) ? SL_REFUSE : SL_ACCEPT;
    case 2:
        return (sl_verdict)((fi->local.port + fi->remote.port) % 3u);
    default:
        return SL_REFUSE;
    }
}

/* ---------------------------------------------------------------------- */
/* Invariants                                                             */
/* ---------------------------------------------------------------------- */

static void check_state(fz *f)
{
    sl_mem_stats m;
    sl_stats_mem(f->s, &m);
    FZ_CHECK(m.in_use + m.cached == f->al.live); /* cached: freed rings kept */
    FZ_CHECK(m.in_use + m.cached <= f->cfg.mem_limit);
    FZ_CHECK(m.limit == f->cfg.mem_limit);
    FZ_CHECK(m.peak >= m.in_use + m.cached && m.peak <= f->cfg.mem_limit);
    FZ_CHECK(m.allocs == f->al.allocs);
    FZ_CHECK(m.fails >= f->al.refused);
    FZ_CHECK(m.allocs >= f->ms.allocs && m.fails >= f->ms.fails && m.peak >= f->ms.peak);
    f->ms = m;

    for (unsigned k = 0; k < SL_CNT__COUNT; k++) {
        uint64_t v = sl_stats_get(f->s, (sl_counter)k);
        if (v < f->cnt[k]) {
            fprintf(stderr, "counter %s went from %llu to %llu\n", sl_counter_name((sl_counter)k),
                    (unsigned long long)f->cnt[k], (unsigned long long)v);
            fz_fail(__FILE__, __LINE__, "counter decreased");
        }
        f->cnt[k] = v;
    }
    uint64_t sum = 0;
    for (int i = 0; i < 128; i++) {
        uint64_t v = sl_stats_parse_error(f->s, (sl_error)(-100 - i));
        FZ_CHECK(v >= f->perr[i]);
        f->perr[i] = v;
        sum += v;
    }
    FZ_CHECK(sum == f->cnt[SL_CNT_IP_DROP_PARSE]);
    FZ_CHECK(f->cnt[SL_CNT_IP_RX] == f->n_input);
    FZ_CHECK(f->cnt[SL_CNT_IP_TX] == f->n_tx);
    FZ_CHECK(f->cnt[SL_CNT_IP_TX_BYTES] == f->tx_bytes);
    FZ_CHECK(f->cnt[SL_CNT_IP_FRAGS_TX] == f->n_frag_tx);
    FZ_CHECK(f->cnt[SL_CNT_TCP_TSO_TX] == f->n_tso);
    FZ_CHECK(f->cnt[SL_CNT_ICMP_ERR_DELIVERED] + f->cnt[SL_CNT_ICMP_ERR_NO_FLOW] <=
             f->cnt[SL_CNT_ICMP_ERR_RX]);
    FZ_CHECK(f->cnt[SL_CNT_IP_REASM_OK] <= f->cnt[SL_CNT_IP_FRAGS_RX]);
}

/* ---------------------------------------------------------------------- */
/* Handles                                                                */
/* ---------------------------------------------------------------------- */

static hinfo *hi(fz *f, sl_dgram d)
{
    if (d.idx == 0 || d.idx > f->hcap)
        return NULL;
    return &f->h[d.idx];
}

/* The state the harness believes (idx, gen) is in. */
static uint8_t hstate(fz *f, sl_dgram d)
{
    hinfo *x = hi(f, d);
    if (x == NULL || x->gen != d.gen)
        return H_NONE;
    return x->state;
}

static void remember(fz *f, sl_dgram d)
{
    for (unsigned i = 0; i < f->nrecent; i++)
        if (f->recent[i].idx == d.idx && f->recent[i].gen == d.gen)
            return;
    f->recent[f->recent_pos] = d;
    f->recent_pos = (f->recent_pos + 1) % NRECENT;
    if (f->nrecent < NRECENT)
        f->nrecent++;
}

static bool pick_handle(fz *f, uint8_t sel, sl_dgram *out)
{
    if (f->nrecent == 0)
        return false;
    *out = f->recent[sel % f->nrecent];
    return true;
}

static void new_live(fz *f, sl_dgram d, bool is_flow, void *user)
{
    hinfo *x = hi(f, d);
    FZ_CHECK(x != NULL);
    FZ_CHECK(d.gen != 0);
    if (x->state == H_LIVE)
        fz_fail(__FILE__, __LINE__, "new handle in a slot the user still holds");
    if (x->state == H_FREED && x->gen == d.gen)
        fz_fail(__FILE__, __LINE__, "new handle reuses a freed (idx, gen)");
    memset(x, 0, sizeof *x);
    x->gen = d.gen;
    x->state = H_LIVE;
    if (d.idx > f->hmax)
        f->hmax = d.idx;
    x->is_flow = is_flow;
    x->user = user;
    remember(f, d);
}

static void check_info(fz *f, sl_dgram d)
{
    sl_dgram_info info;
    sl_error e = sl_dgram_info_get(f->s, d, &info);
    if (hstate(f, d) != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        FZ_CHECK(sl_dgram_user(f->s, d) == NULL);
        return;
    }
    FZ_CHECK_ERR(e, SL_OK);
    hinfo *x = hi(f, d);
    FZ_CHECK(info.is_flow == x->is_flow);
    FZ_CHECK(info.queued <= f->cfg.udp_rx_queue);
    if (x->closed_ev)
        FZ_CHECK(info.closed);
    if (info.closed)
        FZ_CHECK(x->is_flow);
    if (x->is_flow) {
        FZ_CHECK(info.local.addr.family == info.remote.addr.family);
        FZ_CHECK(info.local.addr.family == 4 || info.local.addr.family == 6);
    } else if (!x->bound_any && x->bind.port != 0) {
        FZ_CHECK(ep_eq(&info.local, &x->bind));
    }
    FZ_CHECK(sl_dgram_user(f->s, d) == x->user);
}

static void handle_freed(fz *f, sl_dgram d)
{
    hinfo *x = hi(f, d);
    x->state = H_FREED;
    x->want_w = x->w_due = false;
}

/* ---------------------------------------------------------------------- */
/* API actions                                                            */
/* ---------------------------------------------------------------------- */

static void do_recv(fz *f, sl_dgram d, size_t cap)
{
    sl_dgram_info before;
    bool live = hstate(f, d) == H_LIVE;
    if (live)
        FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &before), SL_OK);
    uint8_t *buf = cap > 0 ? fz_alloc(cap) : NULL;
    sl_endpoint from, to;
    memset(&from, 0x77, sizeof from);
    memset(&to, 0x77, sizeof to);
    long r = sl_dgram_recv(f->s, d, buf, cap, &from, &to);
    f->dirty = true;
    if (!live) {
        FZ_CHECK_ERR(r, SL_ERR_STALE);
        free(buf);
        return;
    }
    hinfo *x = hi(f, d);
    if (r >= 0) {
        FZ_CHECK(before.queued > 0);
        FZ_CHECK(r <= 65535);
        FZ_CHECK(from.addr.family == to.addr.family);
        FZ_CHECK(from.addr.family == 4 || from.addr.family == 6);
        if (x->is_flow) {
            FZ_CHECK(ep_eq(&from, &before.remote) && ep_eq(&to, &before.local));
        } else if (x->bind.port != 0) {
            FZ_CHECK(to.port == x->bind.port);
            if (!x->bound_any)
                FZ_CHECK(ep_eq(&to, &x->bind));
        }
        sl_dgram_info after;
        FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &after), SL_OK);
        FZ_CHECK(after.queued + 1 == before.queued);
        dig64(f, (uint64_t)r);
        size_t n = (size_t)r < cap ? (size_t)r : cap;
        dig(f, buf, n);
    } else {
        FZ_CHECK(before.queued == 0);
        FZ_CHECK_ERR(r, before.closed ? SL_ERR_CLOSED : SL_ERR_AGAIN);
    }
    free(buf);
}

static void note_send(fz *f, sl_dgram d, sl_error e)
{
    static const sl_error ok[] = {SL_OK,         SL_ERR_MSGSIZE, SL_ERR_AGAIN, SL_ERR_CLOSED,
                                  SL_ERR_STATE,  SL_ERR_STALE,   SL_ERR_NOMEM, SL_ERR_INVAL};
    FZ_CHECK_ERR_IN(e, ok);
    dig64(f, (uint64_t)(int64_t)e);
    if (e == SL_ERR_AGAIN)
        hi(f, d)->want_w = true;
}

/* len bytes of payload in an exact-size heap block (NULL when 0). */
static void do_send(fz *f, sl_dgram d, const uint8_t *data, size_t len)
{
    uint8_t st = hstate(f, d);
    sl_dgram_info info;
    if (st == H_LIVE)
        FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &info), SL_OK);
    uint8_t *p = len > 0 ? fz_dup(data, len) : NULL;
    sl_error e = sl_dgram_send(f->s, d, p, len);
    free(p);
    f->dirty = true;
    if (st != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        return;
    }
    if (!info.is_flow)
        FZ_CHECK_ERR(e, SL_ERR_STATE);
    else if (info.closed)
        FZ_CHECK_ERR(e, SL_ERR_CLOSED);
    else if (len > 65535u - 8u - (info.remote.addr.family == 4 ? 20u : 0u))
        FZ_CHECK_ERR(e, SL_ERR_MSGSIZE);
    FZ_CHECK(e != SL_ERR_INVAL);
    note_send(f, d, e);
}

static void do_sendto(fz *f, sl_dgram d, const sl_endpoint *from, const sl_endpoint *to,
                      const uint8_t *data, size_t len)
{
    uint8_t st = hstate(f, d);
    sl_dgram_info info;
    if (st == H_LIVE)
        FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &info), SL_OK);
    uint8_t *p = len > 0 ? fz_dup(data, len) : NULL;
    sl_error e = sl_dgram_sendto(f->s, d, from, to, p, len);
    free(p);
    f->dirty = true;
    if (st != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        return;
    }
    if (info.closed) {
        FZ_CHECK_ERR(e, SL_ERR_CLOSED);
        return;
    }
    const sl_endpoint *src = from != NULL ? from : &info.local;
    bool bad = to == NULL || (to->addr.family != 4 && to->addr.family != 6) ||
               src->addr.family != to->addr.family;
    if (bad) {
        FZ_CHECK_ERR(e, SL_ERR_INVAL);
        return;
    }
    if (len > 65535u - 8u - (to->addr.family == 4 ? 20u : 0u))
        FZ_CHECK_ERR(e, SL_ERR_MSGSIZE);
    FZ_CHECK(e != SL_ERR_INVAL && e != SL_ERR_STATE);
    note_send(f, d, e);
}

static void do_free(fz *f, sl_dgram d)
{
    uint8_t st = hstate(f, d);
    sl_error e = sl_dgram_free(f->s, d);
    f->dirty = true;
    if (st != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        return;
    }
    FZ_CHECK_ERR(e, SL_OK);
    handle_freed(f, d);
    check_info(f, d);
}

static void do_open(fz *f, const sl_endpoint *bind)
{
    sl_dgram d = {0, 0};
    void *user = (void *)(uintptr_t)(0x10000u + 16u * ++f->user_seq);
    sl_error e = sl_dgram_open(f->s, bind, user, &d);
    f->dirty = true;
    static const sl_error ok[] = {SL_OK, SL_ERR_INVAL, SL_ERR_LIMIT, SL_ERR_NOMEM};
    FZ_CHECK_ERR_IN(e, ok);
    bool inval = bind != NULL && ((bind->addr.family != 0 && bind->addr.family != 4 &&
                                   bind->addr.family != 6) ||
                                  bind->port == 0);
    if (inval)
        FZ_CHECK_ERR(e, SL_ERR_INVAL);
    dig64(f, (uint64_t)(int64_t)e);
    if (e != SL_OK)
        return;
    new_live(f, d, false, user);
    hinfo *x = hi(f, d);
    if (bind != NULL) {
        x->bind = *bind;
        x->bound_any = bind->addr.family == 0;
    }
    check_info(f, d);
}

/* ---------------------------------------------------------------------- */
/* Events                                                                 */
/* ---------------------------------------------------------------------- */

static void drain(fz *f, uint8_t flags)
{
    uint64_t limit = 5u * (uint64_t)f->hcap + 8u;
    uint64_t n = 0;
    sl_event ev;
    f->dirty = true;
    for (;;) {
        memset(&ev, 0x55, sizeof ev);
        if (!sl_next_event(f->s, &ev))
            break;
        if (++n > limit)
            fz_fail(__FILE__, __LINE__, "event queue longer than 5 per handle");
        f->ev_seen[(unsigned)ev.type & 15u]++;
        if (ev.is_stream) {
            /* TCP (passive opens only: the harness opens no streams); the
             * stack owns them until sl_stack_free. */
            dig64(f, (uint64_t)ev.type << 48 | (uint64_t)ev.stream.idx << 24 | ev.stream.gen);
            check_state(f);
            continue;
        }
        sl_dgram d = ev.dgram;
        dig64(f, (uint64_t)ev.type << 48 | (uint64_t)d.idx << 24 | d.gen);
        hinfo *x = hi(f, d);
        if (x == NULL)
            fz_fail(__FILE__, __LINE__, "event for an out-of-range handle index");
        if (ev.type == SL_EV_DGRAM_NEW) {
            FZ_CHECK(ev.user == NULL);
            new_live(f, d, true, NULL);
            check_info(f, d);
        } else {
            if (hstate(f, d) != H_LIVE) {
                fprintf(stderr, "event %d for {%u,%u}: slot gen %u state %d\n", (int)ev.type,
                        d.idx, d.gen, x->gen, x->state);
                fz_fail(__FILE__, __LINE__, "event for a freed or unknown handle");
            }
            FZ_CHECK(ev.user == x->user);
        }
        switch (ev.type) {
        case SL_EV_DGRAM_NEW:
            if (flags & 0x10u)
                do_free(f, d);
            break;
        case SL_EV_READABLE:
            FZ_CHECK(!x->closed_ev);
            if (flags & 0x01u) {
                for (unsigned i = 0; i <= f->cfg.udp_rx_queue && hstate(f, d) == H_LIVE; i++) {
                    sl_dgram_info info;
                    FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &info), SL_OK);
                    if (info.queued == 0)
                        break;
                    uint8_t buf[2048];
                    sl_endpoint from, to;
                    long r = sl_dgram_recv(f->s, d, buf, sizeof buf, &from, &to);
                    FZ_CHECK(r >= 0);
                    dig64(f, (uint64_t)r);
                    if (flags & 0x04u) { /* echo it back */
                        size_t len = (size_t)r < sizeof buf ? (size_t)r : sizeof buf;
                        if (x->is_flow)
                            do_send(f, d, buf, len);
                        else
                            do_sendto(f, d, &to, &from, buf, len);
                    }
                }
            }
            break;
        case SL_EV_WRITABLE:
            if (!x->w_due)
                fz_fail(__FILE__, __LINE__, "WRITABLE without SL_ERR_AGAIN and a drained queue");
            x->w_due = false;
            break;
        case SL_EV_ERROR: {
            static const sl_error ok[] = {SL_ERR_UNREACH, SL_ERR_REFUSED, SL_ERR_MSGSIZE,
                                          SL_ERR_TIMEDOUT};
            FZ_CHECK_ERR_IN(ev.error, ok);
            FZ_CHECK(!x->closed_ev);
            sl_dgram_info info;
            FZ_CHECK_ERR(sl_dgram_info_get(f->s, d, &info), SL_OK);
            FZ_CHECK_ERR(info.error, ev.error);
            if (flags & 0x08u)
                do_free(f, d);
            break;
        }
        case SL_EV_CLOSED:
            FZ_CHECK(x->is_flow);
            FZ_CHECK(!x->closed_ev);
            x->closed_ev = true;
            check_info(f, d);
            if (flags & 0x02u)
                do_free(f, d);
            break;
        case SL_EV_STREAM_NEW:
        case SL_EV_CONNECTED:
        case SL_EV_PEER_FIN:
        case SL_EV_RESET:
        default:
            fprintf(stderr, "event type %d\n", (int)ev.type);
            fz_fail(__FILE__, __LINE__, "datagram handle got a stream or unknown event");
        }
        check_state(f);
    }
    for (uint32_t i = 1; i <= f->hmax; i++) {
        if (f->h[i].state == H_LIVE && f->h[i].w_due) {
            fprintf(stderr, "handle {%u,%u}\n", i, f->h[i].gen);
            fz_fail(__FILE__, __LINE__, "queue drained after SL_ERR_AGAIN but no WRITABLE");
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

static void do_poll(fz *f, sl_time t)
{
    bool idle_check = !f->dirty && f->last_deadline > f->now && t < f->last_deadline;
    sl_time prev = f->last_deadline;
    if (t > f->now)
        f->now = t;
    f->dev_left = f->dev_budget;
    f->dev_said_full = false;
    f->poll_tx = 0;
    sl_time d = sl_poll(f->s, t);
    FZ_CHECK(f->dev_buf == NULL);
    FZ_CHECK(d == sl_poll_at(f->s));
    if (d <= f->now) {
        if (!f->dev_said_full) {
            fprintf(stderr, "now %llu deadline %llu\n", (unsigned long long)f->now,
                    (unsigned long long)d);
            fz_fail(__FILE__, __LINE__, "sl_poll returned a deadline <= now with nothing pending");
        }
        FZ_CHECK(d == f->now);
    } else {
        /* Queue drained: every handle that got SL_ERR_AGAIN is owed a WRITABLE. */
        for (uint32_t i = 1; i <= f->hmax; i++) {
            if (f->h[i].state == H_LIVE && f->h[i].want_w) {
                f->h[i].want_w = false;
                f->h[i].w_due = true;
            }
        }
    }
    if (idle_check) {
        FZ_CHECK(f->poll_tx == 0);
        FZ_CHECK(d == prev);
    }
    f->last_deadline = d;
    f->dirty = false;
    dig64(f, d);
}

static void advance(fz *f, const uint8_t *b, size_t n)
{
    unsigned mode = n > 0 ? b[0] & 7u : 1u;
    sl_time v = n >= 3 ? sl_load16(b + 1) : n == 2 ? b[1] : 1u;
    sl_time dl = sl_poll_at(f->s);
    sl_time dt = 0;
    switch (mode) {
    case 0:
        dt = v;
        break;
    case 1:
        dt = v * 1000u;
        break;
    case 2:
        dt = v * 1000000u;
        break;
    case 3:
        dt = ((v & 0xffu) + 1u) * UINT64_C(3600000000);
        break;
    case 4:
    case 5:
    case 6:
        if (dl != SL_TIME_NEVER && dl > f->now) {
            dt = dl - f->now;
            if (mode == 5)
                dt--;
            else if (mode == 6)
                dt += v;
        }
        break;
    default:
        break;
    }
    if (dt > TIME_CAP - f->advanced)
        dt = TIME_CAP - f->advanced;
    f->advanced += dt;
    do_poll(f, f->now + dt);
}

/* ---------------------------------------------------------------------- */
/* Input                                                                  */
/* ---------------------------------------------------------------------- */

static void feed(fz *f, const uint8_t *pkt, size_t len, sl_time t)
{
    uint8_t *p = len > 0 ? fz_dup(pkt, len) : NULL;
    f->n_input++;
    f->dirty = true;
    /* Half of the packets as a device with checksum offload hands them
     * over (sl_input_ex SL_INPUT_CSUM_OK), when the config byte says so. */
    unsigned in_flags = f->csum_ok_inputs && (f->n_input & 1u) != 0 ? SL_INPUT_CSUM_OK : 0u;
    sl_error e = sl_input_ex(f->s, p, len, t, in_flags);
    free(p);
    if (t > f->now)
        f->now = t;
    int ei = (int)e;
    bool ok = e == SL_OK || e == SL_ERR_LIMIT || e == SL_ERR_NOMEM ||
              (ei <= -100 && ei >= -199) || (ei <= -210 && ei >= -214);
    if (!ok) {
        fprintf(stderr, "sl_input returned %s (%d)\n", sl_error_name(ei), ei);
        fz_fail(__FILE__, __LINE__, "sl_input result outside its documented set");
    }
    dig64(f, (uint64_t)(int64_t)e);
    check_state(f);
}

static void feed_fixed(fz *f, const uint8_t *pkt, size_t len, sl_time t)
{
    if (len == 0 || len > 65535) {
        feed(f, pkt, len, t);
        return;
    }
    uint8_t *p = fz_dup(pkt, len);
    fixup(p, len);
    feed(f, p, len, t);
    free(p);
}

/* Fragment a (fixed-up) packet ourselves and feed the pieces:
 * b[0] unit (8-byte multiples), b[1] order (0 in order, 1 reverse, else a
 * shuffle seed), b[2] flags (1 duplicate one, 2 drop one, 4 overlap one,
 * 8 a middle one says "last", 16 DF on v4), b[3] id, then the packet. */
static void feed_frags(fz *f, const uint8_t *b, size_t n)
{
    if (n < 4 + 20)
        return;
    uint8_t unit_sel = b[0], order = b[1], fl = b[2], idb = b[3];
    size_t len = n - 4;
    if (len > 65535)
        return;
    uint8_t *p = fz_dup(b + 4, len);
    fixup(p, len);
    unsigned ver = p[0] >> 4;
    size_t hl;
    if (ver == 4) {
        hl = (size_t)(p[0] & 15u) * 4;
        if (hl < 20 || hl > len) {
            free(p);
            return;
        }
        size_t total = sl_load16(p + 2);
        if (total >= hl && total <= len)
            len = total;
    } else if (ver == 6 && len >= 40) {
        hl = 40;
        size_t total = 40u + sl_load16(p + 4);
        if (total <= len)
            len = total;
    } else {
        free(p);
        return;
    }
    size_t plen = len - hl;
    size_t unit = ((size_t)(unit_sel & 31u) + 1u) * 8u;
    while (plen / unit > 64)
        unit *= 2;
    size_t nfr = plen == 0 ? 1 : (plen + unit - 1) / unit;
    unsigned idx[70];
    for (unsigned i = 0; i < nfr; i++)
        idx[i] = order == 1 ? (unsigned)(nfr - 1 - i) : i;
    if (order > 1) {
        uint32_t r = order * 2654435761u;
        for (size_t i = nfr; i > 1; i--) {
            r = r * 1103515245u + 12345u;
            size_t j = (r >> 8) % i;
            unsigned t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
    }
    size_t nsend = nfr;
    if ((fl & 1u) && nfr < 70)
        idx[nsend++] = idx[(size_t)idb % nfr];
    size_t drop = (fl & 2u) ? (size_t)idb % nfr : SIZE_MAX;
    uint8_t *fr = fz_alloc(hl + 8 + unit + 8);
    uint32_t id6 = 0x1000u * idb + order;
    uint64_t ok0 = f->cnt[SL_CNT_IP_REASM_OK];
    uint64_t drop0 = f->cnt[SL_CNT_IP_DROP_OPTION] + f->cnt[SL_CNT_IP_DROP_ROUTING];
    uint64_t up0 = f->cnt[SL_CNT_UDP_RX] + f->cnt[SL_CNT_ICMP_RX] + f->cnt[SL_CNT_TCP_RX];
    for (size_t k = 0; k < nsend; k++) {
        size_t i = idx[k];
        if (i == drop && k < nfr)
            continue;
        size_t off = i * unit;
        size_t chunk = plen - off < unit ? plen - off : unit;
        bool more = i + 1 < nfr;
        if ((fl & 8u) && i == nfr / 2 && nfr > 2)
            more = false;
        if ((fl & 4u) && i == (size_t)idb % nfr && off >= 8)
            off -= 8;
        size_t flen;
        if (ver == 4) {
            memcpy(fr, p, hl);
            memcpy(fr + hl, p + hl + i * unit, chunk);
            flen = hl + chunk;
            sl_store16(fr + 2, (uint16_t)flen);
            uint16_t ff = (uint16_t)((more ? 0x2000u : 0u) | ((fl & 16u) ? 0x4000u : 0u) |
                                     ((off / 8) & 0x1fffu));
            sl_store16(fr + 6, ff);
            fr[10] = fr[11] = 0;
            sl_store16(fr + 10, sl_csum(fr, hl));
        } else {
            memcpy(fr, p, 40);
            fr[6] = SL_IPPROTO_FRAGMENT;
            fr[40] = p[6];
            fr[41] = 0;
            sl_store16(fr + 42, (uint16_t)(((off / 8) << 3) | (more ? 1u : 0u)));
            sl_store32(fr + 44, id6);
            memcpy(fr + 48, p + 40 + i * unit, chunk);
            flen = 48 + chunk;
            sl_store16(fr + 4, (uint16_t)(flen - 40));
        }
        feed(f, fr, flen, f->now);
    }
    /* Oracle: a datagram that reassembles is judged like the same packet
     * unfragmented.  Extension headers after the Fragment header are
     * processed after reassembly (RFC 8200 §4.5), so an unknown option
     * with a discard action or a routing header with segments left must
     * still drop it (docs/architecture.md "Input path"). */
    if (ver == 6 && f->cnt[SL_CNT_IP_REASM_OK] > ok0 && (fl & 0x0fu) == 0) {
        sl_ipv6_hdr h;
        sl_error pe = sl_ipv6_parse(p, len, &h);
        if (pe == SL_OK && (h.opt_action != 0 || (h.has_routing && h.segments_left > 0))) {
            uint64_t drop1 = f->cnt[SL_CNT_IP_DROP_OPTION] + f->cnt[SL_CNT_IP_DROP_ROUTING];
            if (drop1 == drop0)
                fz_fail(__FILE__, __LINE__,
                        "reassembled IPv6 datagram skipped the option / routing-header checks");
        }
        /* The datagram itself is a (non-atomic) fragment: what reassembly
         * produced is not a complete datagram and must not be delivered. */
        if (pe == SL_OK && h.is_fragment) {
            uint64_t up1 = f->cnt[SL_CNT_UDP_RX] + f->cnt[SL_CNT_ICMP_RX] + f->cnt[SL_CNT_TCP_RX];
            if (up1 != up0)
                fz_fail(__FILE__, __LINE__,
                        "reassembled IPv6 datagram holding a Fragment header was delivered");
        }
    }
    free(fr);
    free(p);
}

/* An ICMP error quoting stored tx packet b[0], as the peer would send it:
 * b[1] type selector, b[2] code, b[3..6] rest, b[7] quote length. */
static void inject_icmp(fz *f, const uint8_t *b, size_t n)
{
    if (f->txs_n == 0 || n < 1)
        return;
    uint8_t c[8] = {0};
    memcpy(c, b, n < 8 ? n : 8);
    unsigned k = (f->txs_pos + TXSTORE - 1u - (c[0] % f->txs_n)) % TXSTORE;
    const uint8_t *q = f->txs[k];
    size_t ql = f->txs_len[k];
    static const size_t qsel[8] = {8, 28, 48, 64, 548, 1232, 1500, 40};
    size_t want = c[7] < 0xf0 ? qsel[c[7] & 7u] : (size_t)(c[7] - 0xf0u) * 4u;
    if (want < ql)
        ql = want;
    uint8_t pkt[40 + 8 + TXSTORE_LEN];
    size_t len;
    uint32_t rest = sl_load32(c + 3);
    if ((q[0] >> 4) == 4) {
        static const uint8_t types[6] = {3, 11, 12, 3, 4, 5};
        unsigned ts = c[1] % 6u;
        uint8_t type = types[ts], code = c[2];
        if (ts == 3) {
            code = 4; /* fragmentation needed: mtu in the low 16 bits */
            rest = (rest & 0xffffu) | 0u;
        }
        memset(pkt, 0, 28);
        pkt[0] = 0x45;
        pkt[8] = 64;
        pkt[9] = SL_IPPROTO_ICMP;
        memcpy(pkt + 12, q + 16, 4);
        memcpy(pkt + 16, q + 12, 4);
        pkt[20] = type;
        pkt[21] = code;
        sl_store32(pkt + 24, rest);
        memcpy(pkt + 28, q, ql);
        len = 28 + ql;
    } else {
        static const uint8_t types[5] = {1, 2, 3, 4, 1};
        memset(pkt, 0, 48);
        pkt[0] = 0x60;
        pkt[6] = SL_IPPROTO_ICMPV6;
        pkt[7] = 64;
        memcpy(pkt + 8, q + 24, 16);
        memcpy(pkt + 24, q + 8, 16);
        pkt[40] = types[c[1] % 5u];
        pkt[41] = c[2];
        sl_store32(pkt + 44, rest);
        memcpy(pkt + 48, q, ql);
        len = 48 + ql;
    }
    fixup(pkt, len);
    feed(f, pkt, len, f->now);
}

/* A peer's answer to stored tx UDP datagram b[0]: addresses and ports
 * swapped, payload b[1..]. */
static void answer(fz *f, const uint8_t *b, size_t n)
{
    if (f->txs_n == 0 || n < 1)
        return;
    unsigned k = (f->txs_pos + TXSTORE - 1u - (b[0] % f->txs_n)) % TXSTORE;
    const uint8_t *q = f->txs[k];
    size_t ql = f->txs_len[k];
    size_t pl = n - 1;
    if (pl > 1400)
        pl = 1400;
    uint8_t pkt[48 + 1400];
    size_t len;
    if ((q[0] >> 4) == 4) {
        if (ql < 28 || q[9] != SL_IPPROTO_UDP || (sl_load16(q + 6) & 0x3fffu) != 0)
            return;
        memcpy(pkt, q, 20);
        memcpy(pkt + 12, q + 16, 4);
        memcpy(pkt + 16, q + 12, 4);
        sl_store16(pkt + 20, sl_load16(q + 22));
        sl_store16(pkt + 22, sl_load16(q + 20));
        sl_store16(pkt + 24, (uint16_t)(8 + pl));
        len = 28 + pl;
        memcpy(pkt + 28, b + 1, pl);
    } else {
        if (ql < 48 || q[6] != SL_IPPROTO_UDP)
            return;
        memcpy(pkt, q, 40);
        memcpy(pkt + 8, q + 24, 16);
        memcpy(pkt + 24, q + 8, 16);
        sl_store16(pkt + 40, sl_load16(q + 42));
        sl_store16(pkt + 42, sl_load16(q + 40));
        sl_store16(pkt + 44, (uint16_t)(8 + pl));
        len = 48 + pl;
        memcpy(pkt + 48, b + 1, pl);
    }
    sl_store16(pkt + 2, 0); /* v4: fixup sets the total length; v6: plen */
    if ((pkt[0] >> 4) == 6)
        sl_store16(pkt + 4, 0xffff);
    fixup(pkt, len);
    feed(f, pkt, len, f->now);
}

/* ---------------------------------------------------------------------- */
/* One run                                                                */
/* ---------------------------------------------------------------------- */

static const uint8_t k_secret[16] = {'f', 'u', 'z', 'z', '-', 's', 't', 'a',
                                     'c', 'k', '-', 's', 'e', 'c', 'r', 't'};

static void preset(sl_config *c, unsigned which)
{
    sl_config_init(c);
    switch (which) {
    case 0: /* small: every limit within reach */
    case 3: /* the same; run() sets mem_limit just above the base footprint */
        c->mem_limit = (size_t)2 << 20;
        c->max_flows = 8;
        c->udp_rx_queue = 4;
        c->udp_rx_bytes = 8192;
        c->udp_idle_timeout = 5000000u;
        c->tx_queue = 8;
        c->tx_queue_bytes = (size_t)32 << 10;
        c->reasm_datagrams = 4;
        c->reasm_bytes = (size_t)16 << 10;
        c->reasm_frags = 16;
        c->reasm_timeout = 3000000u;
        c->icmp_rate = 2;
        c->icmp_burst = 3;
        break;
    case 1: /* medium */
        c->mem_limit = (size_t)8 << 20;
        c->max_flows = 64;
        c->udp_rx_queue = 16;
        c->udp_rx_bytes = (size_t)64 << 10;
        c->udp_idle_timeout = 30000000u;
        c->tx_queue = 64;
        c->tx_queue_bytes = (size_t)256 << 10;
        c->reasm_datagrams = 16;
        c->reasm_bytes = (size_t)128 << 10;
        c->reasm_frags = 64;
        c->reasm_timeout = 10000000u;
        c->icmp_rate = 10;
        c->icmp_burst = 10;
        break;
    default: /* library defaults */
        break;
    }
}

static uint64_t run(const uint8_t *data, size_t size)
{
    static const uint16_t mtus[4] = {576, 1280, 1500, 9000};
    static const sl_time starts[4] = {0, 1000000u, UINT64_C(31536000000000),
                                      (sl_time)1 << 62};
    static const uint32_t periods[4] = {3, 7, 17, 61};
    static const sl_prefix prefixes[3] = {
        {{4, {192, 0, 2, 0}}, 24},
        {{4, {10, 0, 0, 1}}, 32},
        {{6, {0x20, 0x01, 0x0d, 0xb8}}, 32}};
    uint8_t f0 = data[0], f1 = data[1], f2 = data[2];

    fz *f = calloc(1, sizeof *f);
    FZ_CHECK(f != NULL);
    f->rs = calloc(1, sizeof *f->rs);
    FZ_CHECK(f->rs != NULL);
    f->digest = UINT64_C(0xcbf29ce484222325);

    sl_config *c = &f->cfg;
    preset(c, f0 & 3u);
    c->secret = k_secret;
    c->secret_len = sizeof k_secret;
    c->mtu = mtus[f1 & 3u];
    c->offload = (f0 & 0x20u) ? SL_OFFLOAD_RX_CSUM : 0u;
    if (f0 & 0x40u) {
        c->any_ip = false;
        c->local_prefixes = prefixes;
        c->n_local_prefixes = 3;
    }
    c->icmp_echo = (f1 & 0x40u) == 0;
    f->filter_mode = (f1 >> 2) & 3u;
    if (f->filter_mode != 0) {
        c->filter = filter;
        c->filter_ctx = f;
    }
    c->tx.send = tx_send;
    c->tx.ctx = f;
    if ((f2 & 0x80u) != 0 && c->mtu < 65535) {
        c->tso_max = 65535;
        c->tx.send_tso = tx_send_tso;
    }
    f->csum_ok_inputs = (f2 & 0x40u) != 0;
    if (f0 & 0x10u) {
        c->tx.get_buffer = dev_get_buffer;
        f->dev_budget = (f2 & 7u) == 7u ? 0u : (f2 & 7u) + 1u;
    }
    f->now = starts[(f1 >> 4) & 3u];

    if (f0 & 0x04u) {
        sl_allocator ar;
        FZ_CHECK_ERR(sl_arena_init(g_arena, sizeof g_arena, &ar), SL_OK);
        f->al.inner = ar;
    } else {
        f->al.inner.alloc = heap_inner_alloc;
        f->al.inner.free = heap_inner_free;
    }
    if (f0 & 0x08u)
        f->al.fail_period = periods[(f2 >> 3) & 3u];
    sl_allocator a = {ca_alloc, ca_free, &f->al};

    sl_error err = SL_OK;
    if ((f0 & 3u) == 3u) {
        /* Tight: what an idle stack holds, plus 24 KiB. */
        cnt_alloc probe = f->al;
        probe.fail_period = 0;
        sl_allocator pa = {ca_alloc, ca_free, &probe};
        sl_stack *t = sl_stack_new(c, &pa, &err);
        FZ_CHECK(t != NULL);
        sl_mem_stats m;
        sl_stats_mem(t, &m);
        sl_stack_free(t);
        FZ_CHECK(probe.live == 0);
        c->mem_limit = m.in_use + ((size_t)24 << 10);
    }
    f->s = sl_stack_new(c, &a, &err);
    if (f->s == NULL) {
        FZ_CHECK_ERR(err, SL_ERR_NOMEM);
        FZ_CHECK(f->al.live == 0 && f->al.blocks == 0);
        uint64_t dg = f->digest;
        free(f->rs);
        free(f);
        return dg;
    }
    f->hcap = c->max_flows + c->max_streams; /* one handle table for both kinds */
    f->h = calloc((size_t)f->hcap + 1, sizeof *f->h);
    FZ_CHECK(f->h != NULL);
    f->last_deadline = sl_poll_at(f->s);
    f->dirty = true;
    check_state(f);

    size_t pos = 3;
    for (unsigned rec = 0; rec < MAX_RECORDS && pos < size; rec++) {
        uint8_t op = data[pos];
        size_t n = 0;
        if (pos + 3 <= size)
            n = sl_load16(data + pos + 1);
        pos = pos + 3 <= size ? pos + 3 : size;
        if (n > size - pos)
            n = size - pos;
        const uint8_t *b = data + pos;
        pos += n;
        sl_dgram d;
        sl_endpoint e1, e2;
        unsigned opc = op & 15u;
#ifdef FZ_FOCUS
        /* Protocol-focused builds (fuzz_stack_udp, _icmp, _frag; see
         * fuzz/CMakeLists.txt): the 16 opcodes fold onto the operations of
         * one protocol and what it needs, so mutations spend their time
         * there. */
        static const uint8_t focus[16] = {FZ_FOCUS};
        opc = focus[opc];
#endif
        switch (opc) {
        case 0:
            feed(f, b, n, f->now);
            break;
        case 1:
            feed_fixed(f, b, n, f->now);
            break;
        case 2:
            feed_frags(f, b, n);
            break;
        case 3:
            advance(f, b, n);
            break;
        case 4:
            do_poll(f, f->now);
            break;
        case 5:
            drain(f, n > 0 ? b[0] : 0x03u);
            break;
        case 6: {
            static const size_t caps[8] = {0, 1, 7, 16, 512, 1472, 65535, 65536};
            if (pick_handle(f, n > 0 ? b[0] : 0, &d))
                do_recv(f, d, caps[n > 1 ? b[1] & 7u : 5u]);
            break;
        }
        case 7:
            if (n > 0 && pick_handle(f, b[0], &d))
                do_send(f, d, b + 1, n - 1);
            break;
        case 8:
            /* b[0] handle, b[1] flags (1: from NULL, 2: to NULL), b[2..3]
             * from, b[4..5] to, payload after. */
            if (n >= 6 && pick_handle(f, b[0], &d)) {
                pick_ep(&e1, b[2], b[3], true);
                pick_ep(&e2, b[4], b[5], (b[1] & 4u) != 0);
                do_sendto(f, d, (b[1] & 1u) ? NULL : &e1, (b[1] & 2u) ? NULL : &e2, b + 6, n - 6);
            }
            break;
        case 9:
            if (pick_handle(f, n > 0 ? b[0] : 0, &d))
                do_free(f, d);
            break;
        case 10:
            if (n >= 2 && (b[0] & 0x80u) == 0) {
                pick_ep(&e1, b[0], b[1], true);
                if (n >= 3 && b[2] == 0xff)
                    e1.addr.family = 9; /* invalid on purpose */
                do_open(f, &e1);
            } else {
                do_open(f, NULL);
            }
            break;
        case 11:
            if (pick_handle(f, n > 0 ? b[0] : 0, &d)) {
                if (n > 1 && (b[1] & 1u) && hstate(f, d) == H_LIVE) {
                    void *u = (void *)(uintptr_t)(0x20000u + 16u * ++f->user_seq);
                    FZ_CHECK_ERR(sl_dgram_set_user(f->s, d, u), SL_OK);
                    hi(f, d)->user = u;
                } else if (n > 1 && (b[1] & 1u)) {
                    FZ_CHECK_ERR(sl_dgram_set_user(f->s, d, NULL), SL_ERR_STALE);
                }
                check_info(f, d);
            }
            break;
        case 12:
            inject_icmp(f, b, n);
            break;
        case 13:
            answer(f, b, n);
            break;
        case 14: {
            sl_time back = n > 0 ? (sl_time)b[0] * 1000u : 1000u;
            sl_time t = f->now > back ? f->now - back : 0;
            if (n > 0)
                feed_fixed(f, b + 1, n - 1, t);
            break;
        }
        case 15:
            /* b[0] handle, b[1..2] length, b[3] fill; v4 flows get MSGSIZE
             * past 65507, v6 past 65527. */
            if (n >= 4 && pick_handle(f, b[0], &d)) {
                size_t len = sl_load16(b + 1);
                uint8_t *buf = fz_alloc(len + 1);
                memset(buf, b[3], len + 1);
                do_send(f, d, buf, len);
                free(buf);
            }
            break;
        default:
            break;
        }
        check_state(f);
    }

    /* Finish: flush, drain, then tear down (maybe with handles held). */
    do_poll(f, f->now);
    drain(f, 0);
    check_state(f);
    dig64(f, f->n_tx);
    for (unsigned k = 0; k < SL_CNT__COUNT; k++)
        dig64(f, f->cnt[k]);
    if (getenv("FZ_STACK_VERBOSE") != NULL) { /* what a script reached */
        fprintf(stderr, "fuzz_stack: now %llu, %zu bytes live, peak %zu:",
                (unsigned long long)f->now, f->ms.in_use, f->ms.peak);
        for (unsigned k = 1; k < 16; k++)
            if (f->ev_seen[k] != 0)
                fprintf(stderr, " ev%u=%u", k, f->ev_seen[k]);
        for (unsigned k = 0; k < SL_CNT__COUNT; k++)
            if (f->cnt[k] != 0)
                fprintf(stderr, " %s=%llu", sl_counter_name((sl_counter)k),
                        (unsigned long long)f->cnt[k]);
        fprintf(stderr, "\n");
    }
    if (f1 & 0x80u) {
        for (uint32_t i = 1; i <= f->hmax; i++) {
            if (f->h[i].state == H_LIVE) {
                sl_dgram d = {i, f->h[i].gen};
                do_free(f, d);
            }
        }
        check_state(f);
    }
    sl_stack_free(f->s);
    if (f->al.live != 0 || f->al.blocks != 0) {
        fprintf(stderr, "%zu bytes in %zu blocks left after sl_stack_free\n", f->al.live,
                f->al.blocks);
        fz_fail(__FILE__, __LINE__, "leak: allocator not empty after sl_stack_free");
    }
    FZ_CHECK(f->dev_buf == NULL);
    uint64_t dg = f->digest;
    free(f->h);
    free(f->rs);
    free(f);
    return dg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint64_t a = run(data, size);
    if (data[0] & 0x80u) {
        uint64_t b = run(data, size);
        if (a != b)
            fz_fail(__FILE__, __LINE__, "same secret and inputs gave different outputs");
    }
    return 0;
}
