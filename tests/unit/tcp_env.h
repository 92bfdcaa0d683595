/*
 * The scripted-peer harness of the TCP suites (test_tcp_state.c,
 * test_attacks.c): one stack, one peer (the test).  The test code builds
 * every segment the stack receives and asserts the exact segments the
 * stack sends.  Header-only, every function static inline; uses libcheck
 * (it asserts), stack_util.h, tcp_util.h and unit_util.h.
 *
 *   env         the fixture: stack, capture, clock, both endpoints, the
 *               peer's sequence state, the trace hook's records.
 *               Flags, set between env_init and env_start:
 *                 counting  the stack runs on the counting allocator and
 *                           env_fini asserts every byte came back;
 *                 guard     every packet handed to the stack is first
 *                           copied to end right before a PROT_NONE page
 *                           (unit_util.h at_guard).
 *   env_init/env_start/env_fini
 *   pseg, inject, psend, pack_to     the peer's segments
 *   out, nout, one, none, chk        the stack's segments
 *   ev_expect, ev_find, ev_none, info, state, cnt, mem_in_use
 *   syn_opts, send_syn, est_passive, est_default    handshakes
 *   rst_flood, rst_at_rcv_nxt, resent_at_mss         shared checks
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#ifndef SL_TCP_ENV_H
#define SL_TCP_ENV_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack_util.h"
#include "tcp_util.h"
#include "unit_util.h"

#define SEC ((sl_time)1000000u)
#define MS ((sl_time)1000u)
#define T0 ((sl_time)10 * SEC)
/* Timers fire up to one wheel tick (1.024 ms) late, never early. */
#define TICK ((sl_time)1024u)
#define MAX_TR 512

typedef struct tr_rec {
    uint32_t idx, gen;
    sl_tcp_state from, to;
} tr_rec;

/* One stack, one peer (the test). */
typedef struct env {
    su_cap *cap;
    sl_config cfg;
    sl_stack *s;
    su_alloc al;
    bool counting; /* stack on the counting allocator */
    bool guard;    /* packets end right before a guard page */
    sl_time now;
    int fam;
    sl_endpoint peer;      /* the test's endpoint */
    sl_endpoint local;     /* the stack's endpoint */
    uint32_t irs;          /* the peer's ISN */
    uint32_t pseq;         /* the peer's next sequence number */
    uint32_t iss;          /* the stack's ISN */
    uint32_t pack;         /* what the peer acknowledges (stack's next) */
    uint16_t pwin;         /* window field the peer sends */
    bool ts;               /* the peer sends timestamps */
    uint32_t tsval, tsecr; /* the peer's clock; last TSval from the stack */
    sl_stream h;
    tr_rec tr[MAX_TR]; /* transitions the tcp_trace hook saw */
    size_t ntr;
    uint8_t last[2048]; /* payload of the last segment one() returned */
} env;

static inline void trace_fn(void *ctx, uint32_t idx, uint32_t gen, sl_tcp_state from,
                            sl_tcp_state to)
{
    env *e = (env *)ctx;
    if (e->ntr < MAX_TR) {
        e->tr[e->ntr].idx = idx;
        e->tr[e->ntr].gen = gen;
        e->tr[e->ntr].from = from;
        e->tr[e->ntr].to = to;
        e->ntr++;
    }
}

static inline void env_init(env *e, int fam)
{
    memset(e, 0, sizeof *e);
    e->cap = su_cap_new((size_t)8 << 20, 8192);
    su_config(&e->cfg, e->cap);
    e->cfg.tcp_trace = trace_fn;
    e->cfg.tcp_trace_ctx = e;
    e->now = T0;
    e->fam = fam;
    e->peer = su_ep(fam == 4 ? "198.18.7.2" : "2001:2::7:2", 40000);
    e->local = su_ep(fam == 4 ? "198.19.0.80" : "2001:2::80", 80);
    e->irs = 0x10000000u;
    e->pwin = 65535;
    e->tsval = 1000;
}

/* The stack, on the counting allocator when e->counting. */
static inline void env_start(env *e)
{
    if (e->counting) {
        sl_allocator m = su_alloc_make(&e->al);
        sl_error err = SL_OK;
        e->s = sl_stack_new(&e->cfg, &m, &err);
        ck_assert_msg(e->s != NULL, "sl_stack_new: %s", sl_error_name(err));
    } else {
        e->s = su_stack_new(&e->cfg);
    }
}

/* Free the stack; on the counting allocator every byte must come back,
 * with the right sizes. */
static inline void env_fini(env *e)
{
    sl_stack_free(e->s);
    e->s = NULL;
    if (e->counting) {
        ck_assert_uint_eq(e->al.live, 0);
        ck_assert_uint_eq(e->al.bad_free, 0);
    }
    su_cap_free(e->cap);
}

static inline void poll_now(env *e)
{
    (void)sl_poll(e->s, e->now);
}

static inline void at(env *e, sl_time t)
{
    e->now = t;
    poll_now(e);
}

/* Hand the stack a packet (with e->guard: ending right before a guard
 * page). */
static inline sl_error in(env *e, const uint8_t *p, size_t n)
{
    if (e->guard && n > 0)
        p = at_guard(p, n);
    return sl_input(e->s, p, n, e->now);
}

static inline size_t nout(const env *e)
{
    return e->cap->n;
}

static inline void clear(env *e)
{
    su_cap_clear(e->cap);
}

static inline uint64_t cnt(env *e, sl_counter c)
{
    return sl_stats_get(e->s, c);
}

static inline size_t mem_in_use(env *e)
{
    sl_mem_stats m;
    sl_stats_mem(e->s, &m);
    return m.in_use;
}

/* ---- the peer's segments ------------------------------------------- */

static inline tu_seg pseg(env *e, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
                          size_t len)
{
    tu_seg s =
        tu_seg_make(&e->peer, &e->local, seq, (flags & SL_TCP_ACK) != 0 ? ack : 0, flags, e->pwin);
    if (e->ts) {
        s.o.has_ts = true;
        s.o.ts_val = e->tsval;
        s.o.ts_ecr = e->tsecr;
    }
    s.payload = (const uint8_t *)data;
    s.len = len;
    return s;
}

static inline sl_error inject_raw(env *e, const tu_seg *s)
{
    static uint8_t pkt[70000];
    size_t len = tu_build(pkt, sizeof pkt, s);
    ck_assert_uint_gt(len, 0);
    return in(e, pkt, len);
}

static inline void inject(env *e, const tu_seg *s)
{
    ck_assert_int_eq(inject_raw(e, s), SL_OK);
}

/* The peer sends at pseq (ACK of pack when flags has ACK) and advances. */
static inline void psend(env *e, uint8_t flags, const void *data, size_t len)
{
    tu_seg s = pseg(e, flags, e->pseq, e->pack, data, len);
    inject(e, &s);
    e->pseq += (uint32_t)len + ((flags & SL_TCP_SYN) != 0 ? 1u : 0u) +
               ((flags & SL_TCP_FIN) != 0 ? 1u : 0u);
    e->tsval++;
}

/* A pure ACK of `ack` from the peer. */
static inline void pack_to(env *e, uint32_t ack)
{
    tu_seg s = pseg(e, SL_TCP_ACK, e->pseq, ack, NULL, 0);
    inject(e, &s);
    e->tsval++;
}

/* ---- the stack's segments ------------------------------------------ */

/* Packet i of the capture, which must be there; its length in *len. */
static inline const uint8_t *cap_pkt(const env *e, size_t i, size_t *len)
{
    const uint8_t *p = su_cap_pkt(e->cap, i, len);
    ck_assert_msg(p != NULL, "no packet %zu (%zu captured)", i, nout(e));
    return p;
}

/* Packet i of the capture, a TCP segment whatever its endpoints (its
 * payload points into the capture). */
static inline tu_seg cap_seg(const env *e, size_t i)
{
    size_t len = 0;
    const uint8_t *p = cap_pkt(e, i, &len);
    tu_seg s;
    sl_error r = tu_parse(p, len, &s);
    ck_assert_msg(r == SL_OK, "packet %zu is not a TCP segment: %s", i, sl_error_name(r));
    return s;
}

/* Segment i of the capture, from the stack's endpoint to the peer. */
static inline tu_seg out(env *e, size_t i)
{
    tu_seg s = cap_seg(e, i);
    ck_assert(su_ep_eq(&s.src, &e->local));
    ck_assert(su_ep_eq(&s.dst, &e->peer));
    if (s.o.has_ts)
        e->tsecr = s.o.ts_val;
    return s;
}

static inline void chk(const tu_seg *s, uint8_t flags, uint32_t seq, uint32_t ack, size_t len)
{
    char a[16], b[16];
    ck_assert_msg(s->flags == flags, "flags %s, expected %s", tu_flags_str(s->flags, a),
                  tu_flags_str(flags, b));
    ck_assert_msg(s->seq == seq, "seq %u, expected %u (diff %d)", s->seq, seq,
                  (int)(int32_t)(s->seq - seq));
    if ((flags & SL_TCP_ACK) != 0)
        ck_assert_msg(s->ack == ack, "ack %u, expected %u (diff %d)", s->ack, ack,
                      (int)(int32_t)(s->ack - ack));
    ck_assert_uint_eq(s->len, len);
}

/* Poll; exactly one segment must come out; returns it (capture cleared). */
static inline tu_seg one(env *e)
{
    poll_now(e);
    ck_assert_msg(nout(e) == 1, "expected one segment, got %zu", nout(e));
    tu_seg s = out(e, 0);
    ck_assert_uint_le(s.len, sizeof e->last);
    if (s.len > 0)
        memcpy(e->last, s.payload, s.len);
    s.payload = e->last; /* the capture is cleared */
    clear(e);
    return s;
}

/* Poll; nothing at all may come out (the message names the first packet:
 * a TCP segment's flags, seq, ack and length, else its IP protocol). */
static inline void none(env *e)
{
    poll_now(e);
    if (nout(e) != 0) {
        size_t len = 0;
        const uint8_t *p = su_cap_pkt(e->cap, 0, &len);
        tu_seg s;
        char f[16];
        if (tu_parse(p, len, &s) == SL_OK)
            ck_abort_msg("expected silence, got %zu segment(s), first %s seq %u ack %u len %zu",
                         nout(e), tu_flags_str(s.flags, f), s.seq, s.ack, s.len);
        su_ip_pkt ip;
        sl_error r = su_parse_ip(p, len, &ip);
        ck_abort_msg("expected silence, got %zu packet(s), first %zu bytes, proto %u (%s)", nout(e),
                     len, r == SL_OK ? ip.proto : 0u, sl_error_name(r));
    }
}

/* ---- events, state -------------------------------------------------- */

static inline sl_event ev_expect(env *e, sl_event_type t)
{
    sl_event ev;
    ck_assert_msg(sl_next_event(e->s, &ev), "no event, expected %d", (int)t);
    ck_assert_msg(ev.type == t, "event %d, expected %d", (int)ev.type, (int)t);
    return ev;
}

/* Events until one of type t (others skipped); fails if none. */
static inline sl_event ev_find(env *e, sl_event_type t)
{
    sl_event ev;
    while (sl_next_event(e->s, &ev))
        if (ev.type == t)
            return ev;
    ck_abort_msg("no event %d", (int)t);
    return ev;
}

static inline void ev_none(env *e)
{
    sl_event ev;
    if (sl_next_event(e->s, &ev))
        ck_abort_msg("unexpected event %d", (int)ev.type);
}

static inline sl_stream_info info(env *e)
{
    sl_stream_info i;
    ck_assert_int_eq(sl_stream_info_get(e->s, e->h, &i), SL_OK);
    return i;
}

static inline sl_tcp_state state(env *e)
{
    return info(e).state;
}

static inline long wr(env *e, const uint8_t *d, size_t n)
{
    return sl_stream_write(e->s, e->h, d, n);
}

/* ---- handshakes ------------------------------------------------------ */

static inline sl_tcp_opts syn_opts(uint16_t mss, int ws, bool sack, bool ts)
{
    sl_tcp_opts o;
    memset(&o, 0, sizeof o);
    if (mss != 0) {
        o.has_mss = true;
        o.mss = mss;
    }
    if (ws >= 0) {
        o.has_wscale = true;
        o.wscale = (uint8_t)ws;
    }
    o.sack_perm = sack;
    o.has_ts = ts;
    return o;
}

static inline uint16_t our_mss(const env *e)
{
    return (uint16_t)(e->cfg.mtu - (e->fam == 4 ? 40 : 60));
}

/* The peer's SYN with options o; returns the SYN-ACK (capture cleared). */
static inline tu_seg send_syn(env *e, const sl_tcp_opts *o)
{
    e->pseq = e->irs;
    e->ts = o->has_ts;
    tu_seg s = pseg(e, SL_TCP_SYN, e->irs, 0, NULL, 0);
    s.o = *o;
    if (o->has_ts) {
        s.o.ts_val = e->tsval;
        s.o.ts_ecr = 0;
    }
    inject(e, &s);
    e->tsval++;
    e->pseq = e->irs + 1;
    poll_now(e);
    ck_assert_msg(nout(e) == 1, "SYN: %zu segments", nout(e));
    tu_seg r = out(e, 0);
    clear(e);
    return r;
}

/* Passive open through the acceptor; e->h is the new stream. */
static inline tu_seg est_passive(env *e, const sl_tcp_opts *o)
{
    tu_seg sa = send_syn(e, o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e->irs + 1, 0);
    e->iss = sa.seq;
    e->pack = e->iss + 1;
    psend(e, SL_TCP_ACK, NULL, 0);
    none(e);
    sl_event ev = ev_expect(e, SL_EV_STREAM_NEW);
    ck_assert(ev.is_stream);
    e->h = ev.stream;
    (void)su_drain_events(e->s);
    ck_assert_int_eq(state(e), SL_TCP_ESTABLISHED);
    return sa;
}

/* Default passive connection: MSS 1460, WS 0, SACK, no timestamps. */
static inline void est_default(env *e)
{
    sl_tcp_opts o = syn_opts(1460, 0, true, false);
    (void)est_passive(e, &o);
}

/* ---- resets, path MTU ------------------------------------------------ */

/* The peer floods n RSTs inside the window (SEQ = pseq + 1 .. pseq + n),
 * one every `gap`; returns how many packets the stack sent back (its
 * rate-limited challenge ACKs), the capture cleared. */
static inline size_t rst_flood(env *e, uint32_t n, sl_time gap)
{
    size_t acks = 0;
    for (uint32_t k = 0; k < n; k++) {
        tu_seg s = pseg(e, SL_TCP_RST, e->pseq + 1 + k, 0, NULL, 0);
        inject(e, &s);
        poll_now(e);
        acks += nout(e);
        clear(e);
        e->now += gap;
    }
    return acks;
}

/* The peer's RST exactly at RCV.NXT (RFC 5961 §3.2): the connection is
 * reset, silently: RESET then CLOSED events, state CLOSED with error
 * SL_ERR_RESET, one RST counted. */
static inline void rst_at_rcv_nxt(env *e)
{
    psend(e, SL_TCP_RST, NULL, 0);
    none(e);
    ev_expect(e, SL_EV_RESET);
    ev_expect(e, SL_EV_CLOSED);
    ck_assert_int_eq(state(e), SL_TCP_CLOSED);
    ck_assert_int_eq(info(e).error, SL_ERR_RESET);
    ck_assert_uint_eq(cnt(e, SL_CNT_TCP_RST_RX), 1);
}

/* The stack's answer to a Packet Too Big / fragmentation needed that
 * lowered its MSS to `mss`: at once, a segment of exactly `mss` bytes of d
 * from `seq`, every packet it sends fitting `mtu` (capture cleared), the
 * connection still ESTABLISHED. */
static inline void resent_at_mss(env *e, uint32_t seq, const uint8_t *d, uint16_t mss, size_t mtu)
{
    poll_now(e);
    ck_assert_uint_ge(nout(e), 1);
    tu_seg s = out(e, 0);
    chk(&s, SL_TCP_ACK, seq, e->pseq, mss);
    ck_assert_mem_eq(s.payload, d, mss);
    for (size_t k = 0; k < nout(e); k++) {
        size_t len = 0;
        (void)su_cap_pkt(e->cap, k, &len);
        ck_assert_uint_le(len, mtu);
    }
    clear(e);
    ck_assert_int_eq(state(e), SL_TCP_ESTABLISHED);
}

#endif /* SL_TCP_ENV_H */
