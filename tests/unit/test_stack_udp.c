/*
 * The stack's UDP behaviour through the public API (include/sluice/stack.h):
 * flows and the acceptor, bound handles, sendto, limits, idle timeouts,
 * stale handles, the tx queue, output fragmentation, get_buffer, and two
 * stacks wired back to back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_util.h"
#include "unit_util.h"

#define SEC ((sl_time)1000000u)
#define TICK ((sl_time)1024u)
#define T0 ((sl_time)10 * SEC)

/* ---- a test environment: one stack with a capture device -------------- */

typedef struct env {
    su_cap *cap;
    sl_config cfg;
    sl_stack *s;
    sl_time now;
} env;

static void env_init(env *e)
{
    memset(e, 0, sizeof *e);
    e->cap = su_cap_new((size_t)8 << 20, 8192);
    su_config(&e->cfg, e->cap);
    e->now = T0;
}

static void env_start(env *e)
{
    e->s = su_stack_new(&e->cfg);
}

static void env_fini(env *e)
{
    sl_stack_free(e->s);
    su_cap_free(e->cap);
}

/* Remote and local endpoints of family 4 or 6 (index i varies the host). */
static sl_endpoint remote_ep(int fam, unsigned i, uint16_t port)
{
    char buf[64];
    if (fam == 4)
        snprintf(buf, sizeof buf, "198.18.%u.%u", 1u + (i >> 8) % 200u, 1u + (i & 0xffu) % 250u);
    else
        snprintf(buf, sizeof buf, "2001:2::1:%x", 1u + i);
    return su_ep(buf, port);
}

static sl_endpoint local_ep(int fam, uint16_t port)
{
    return su_ep(fam == 4 ? "198.19.0.53" : "2001:2::53", port);
}

static sl_error inject(env *e, const sl_endpoint *src, const sl_endpoint *dst, const void *data,
                       size_t n)
{
    static uint8_t pkt[70000];
    size_t len = su_udp(pkt, sizeof pkt, src, dst, data, n, (uint16_t)(n + 7));
    ck_assert_uint_gt(len, 0);
    return sl_input(e->s, pkt, len, e->now);
}

static void inject_ok(env *e, const sl_endpoint *src, const sl_endpoint *dst, const void *data,
                      size_t n)
{
    ck_assert_int_eq(inject(e, src, dst, data, n), SL_OK);
}

static sl_event next_ev(env *e)
{
    sl_event ev;
    ck_assert_msg(sl_next_event(e->s, &ev), "expected an event");
    return ev;
}

static void expect_ev(env *e, sl_event_type t, sl_dgram h)
{
    sl_event ev = next_ev(e);
    ck_assert_int_eq(ev.type, t);
    ck_assert_uint_eq(ev.dgram.idx, h.idx);
    ck_assert_uint_eq(ev.dgram.gen, h.gen);
}

static void expect_no_ev(env *e)
{
    sl_event ev;
    bool got = sl_next_event(e->s, &ev);
    ck_assert_msg(!got, "unexpected event type %d on {%u,%u}", (int)ev.type, ev.dgram.idx,
                  ev.dgram.gen);
}

/* A new inbound flow: DGRAM_NEW then READABLE; returns its handle. */
static sl_dgram expect_new_flow(env *e)
{
    sl_event ev = next_ev(e);
    ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
    ck_assert_ptr_null(ev.user);
    sl_dgram h = ev.dgram;
    expect_ev(e, SL_EV_READABLE, h);
    return h;
}

/* A new flow whose first datagram was not queued: DGRAM_NEW only. */
static sl_dgram expect_ev_new_only(env *e)
{
    sl_event ev = next_ev(e);
    ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
    expect_no_ev(e);
    return ev.dgram;
}

static uint64_t cnt(env *e, sl_counter c)
{
    return sl_stats_get(e->s, c);
}

/* Receive one datagram and check it against expected bytes. */
static void recv_check(env *e, sl_dgram h, const uint8_t *exp, size_t n, const sl_endpoint *from,
                       const sl_endpoint *to)
{
    static uint8_t buf[70000];
    sl_endpoint f, t;
    long r = sl_dgram_recv(e->s, h, buf, sizeof buf, &f, &t);
    ck_assert_int_eq(r, (long)n);
    if (n > 0)
        ck_assert_mem_eq(buf, exp, n);
    if (from != NULL)
        ck_assert(su_ep_eq(&f, from));
    if (to != NULL)
        ck_assert(su_ep_eq(&t, to));
}

/* The single packet sent, decoded as UDP. */
static su_udp_pkt sent_udp(env *e, size_t i)
{
    size_t len;
    const uint8_t *p = su_cap_pkt(e->cap, i, &len);
    ck_assert_ptr_nonnull(p);
    su_udp_pkt u;
    ck_assert_int_eq(su_parse_udp(p, len, &u), SL_OK);
    return u;
}

/* Round a deadline up to the wheel tick. */
static sl_time tick_ceil(sl_time t)
{
    return (t + TICK - 1) / TICK * TICK;
}

/* ====================================================================== */
/* New flows, echo, reuse                                                  */
/* ====================================================================== */

START_TEST(new_flow_echo)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    e.cfg.ttl = 77;
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 1, 40000), loc = local_ep(fam, 53);
    uint8_t data[300];
    su_fill(data, sizeof data, 1);
    inject_ok(&e, &rem, &loc, data, sizeof data);

    sl_event ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
    ck_assert_ptr_null(ev.user);
    sl_dgram h = ev.dgram;
    ck_assert_uint_ne(h.idx, 0);
    /* The user pointer set now comes with the next event. */
    int marker = 0;
    ck_assert_int_eq(sl_dgram_set_user(e.s, h, &marker), SL_OK);
    ck_assert_ptr_eq(sl_dgram_user(e.s, h), &marker);
    ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_READABLE);
    ck_assert_ptr_eq(ev.user, &marker);
    ck_assert(su_dgram_eq(ev.dgram, h));
    expect_no_ev(&e);

    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_info_get(e.s, h, &info), SL_OK);
    ck_assert(info.is_flow);
    ck_assert(!info.closed);
    ck_assert_uint_eq(info.queued, 1);
    ck_assert(su_ep_eq(&info.local, &loc));
    ck_assert(su_ep_eq(&info.remote, &rem));
    ck_assert_int_eq(info.error, SL_OK);

    recv_check(&e, h, data, sizeof data, &rem, &loc);
    uint8_t tmp[8];
    ck_assert_int_eq(sl_dgram_recv(e.s, h, tmp, sizeof tmp, NULL, NULL), SL_ERR_AGAIN);

    ck_assert_int_eq(sl_dgram_send(e.s, h, data, sizeof data), SL_OK);
    ck_assert_uint_eq(e.cap->n, 0); /* leaves at the next poll */
    ck_assert_uint_eq(sl_poll_at(e.s), e.now);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 1);
    su_udp_pkt u = sent_udp(&e, 0);
    ck_assert_int_eq(u.ip.family, fam);
    ck_assert(su_ep_eq(&u.src, &loc));
    ck_assert(su_ep_eq(&u.dst, &rem));
    ck_assert_uint_eq(u.ip.ttl, 77);
    ck_assert_uint_eq(u.len, sizeof data);
    ck_assert_mem_eq(u.payload, data, sizeof data);
    if (fam == 4) {
        ck_assert(!u.ip.ip4.mf);
        ck_assert_uint_eq(u.ip.ip4.frag_off, 0);
    } else {
        ck_assert(!u.ip.ip6.has_frag);
    }

    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_RX), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_TX), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_TX), 1);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

/* Truncating receive: the full length is returned, the rest is lost. */
START_TEST(recv_truncates)
{
    env e;
    env_init(&e);
    env_start(&e);
    sl_endpoint rem = remote_ep(4, 1, 40000), loc = local_ep(4, 53);
    uint8_t data[100];
    su_fill(data, sizeof data, 2);
    inject_ok(&e, &rem, &loc, data, sizeof data);
    inject_ok(&e, &rem, &loc, data, 0); /* empty datagram */
    sl_dgram h = expect_new_flow(&e);
    uint8_t buf[10];
    ck_assert_int_eq(sl_dgram_recv(e.s, h, buf, sizeof buf, NULL, NULL), 100);
    ck_assert_mem_eq(buf, data, 10);
    ck_assert_int_eq(sl_dgram_recv(e.s, h, buf, sizeof buf, NULL, NULL), 0);
    ck_assert_int_eq(sl_dgram_recv(e.s, h, buf, sizeof buf, NULL, NULL), SL_ERR_AGAIN);
    env_fini(&e);
}
END_TEST

START_TEST(flow_reuse)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 2, 40001), loc = local_ep(fam, 53);
    uint8_t d1[10], d2[20], d3[30];
    su_fill(d1, sizeof d1, 11);
    su_fill(d2, sizeof d2, 12);
    su_fill(d3, sizeof d3, 13);
    inject_ok(&e, &rem, &loc, d1, sizeof d1);
    sl_dgram h = expect_new_flow(&e);
    /* Queue non-empty: no new event at all. */
    inject_ok(&e, &rem, &loc, d2, sizeof d2);
    expect_no_ev(&e);
    recv_check(&e, h, d1, sizeof d1, &rem, &loc);
    recv_check(&e, h, d2, sizeof d2, &rem, &loc);
    /* Empty -> non-empty: READABLE only. */
    inject_ok(&e, &rem, &loc, d3, sizeof d3);
    expect_ev(&e, SL_EV_READABLE, h);
    expect_no_ev(&e);
    recv_check(&e, h, d3, sizeof d3, &rem, &loc);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 1);

    /* Another remote port, another local port, another local address:
     * each a new flow. */
    sl_endpoint rem2 = rem;
    rem2.port = 40002;
    inject_ok(&e, &rem2, &loc, d1, sizeof d1);
    sl_dgram h2 = expect_new_flow(&e);
    ck_assert(!su_dgram_eq(h, h2));
    sl_endpoint loc2 = loc;
    loc2.port = 54;
    inject_ok(&e, &rem, &loc2, d1, sizeof d1);
    sl_dgram h3 = expect_new_flow(&e);
    sl_endpoint loc3 = fam == 4 ? su_ep("198.19.7.7", 53) : su_ep("2001:2::7:7", 53);
    inject_ok(&e, &rem, &loc3, d1, sizeof d1);
    sl_dgram h4 = expect_new_flow(&e);
    ck_assert(!su_dgram_eq(h3, h4));
    recv_check(&e, h4, d1, sizeof d1, &rem, &loc3);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 4);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* The acceptor's filter                                                   */
/* ====================================================================== */

typedef struct filt {
    sl_verdict verdict;
    unsigned calls;
    sl_flow_info last;
} filt;

static sl_verdict filter_fn(void *ctx, const sl_flow_info *fi)
{
    filt *f = ctx;
    f->calls++;
    f->last = *fi;
    return f->verdict;
}

START_TEST(filter_refuse)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    filt f = {SL_REFUSE, 0, {0, {{0, {0}}, 0}, {{0, {0}}, 0}}};
    e.cfg.filter = filter_fn;
    e.cfg.filter_ctx = &f;
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 3, 40003), loc = local_ep(fam, 9999);
    uint8_t data[64];
    su_fill(data, sizeof data, 3);
    uint8_t pkt[256];
    size_t plen = su_udp(pkt, sizeof pkt, &rem, &loc, data, sizeof data, 0x1234);
    ck_assert_int_eq(sl_input(e.s, pkt, plen, e.now), SL_OK);
    ck_assert_uint_eq(f.calls, 1);
    ck_assert_uint_eq(f.last.proto, 17);
    ck_assert(su_ep_eq(&f.last.local, &loc));
    ck_assert(su_ep_eq(&f.last.remote, &rem));
    expect_no_ev(&e);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 1);
    size_t len;
    const uint8_t *p = su_cap_pkt(e.cap, 0, &len);
    su_icmp_pkt m;
    ck_assert_int_eq(su_parse_icmp(p, len, &m), SL_OK);
    ck_assert(su_addr_eq(&m.ip.src, &loc.addr));
    ck_assert(su_addr_eq(&m.ip.dst, &rem.addr));
    if (fam == 4) {
        ck_assert_uint_eq(m.icmp.type, 3);
        ck_assert_uint_eq(m.icmp.code, 3);
    } else {
        ck_assert_uint_eq(m.icmp.type, 1);
        ck_assert_uint_eq(m.icmp.code, 4);
    }
    ck_assert(m.icmp.has_quote);
    ck_assert_uint_eq(m.icmp.quote.proto, 17);
    ck_assert(m.icmp.quote.has_ports);
    ck_assert_uint_eq(m.icmp.quote.sport, rem.port);
    ck_assert_uint_eq(m.icmp.quote.dport, loc.port);
    /* The whole (small) datagram is quoted, byte for byte. */
    ck_assert_uint_eq(m.icmp.body_len, plen);
    ck_assert_mem_eq(m.icmp.body, pkt, plen);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_REFUSED), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_TX), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 0);
    /* Refused again: asked again (no state kept). */
    ck_assert_int_eq(sl_input(e.s, pkt, plen, e.now), SL_OK);
    ck_assert_uint_eq(f.calls, 2);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_REFUSED), 2);
    /* Accept now. */
    f.verdict = SL_ACCEPT;
    ck_assert_int_eq(sl_input(e.s, pkt, plen, e.now), SL_OK);
    sl_dgram h = expect_new_flow(&e);
    recv_check(&e, h, data, sizeof data, &rem, &loc);
    /* The flow exists: the filter is not asked again. */
    ck_assert_int_eq(sl_input(e.s, pkt, plen, e.now), SL_OK);
    ck_assert_uint_eq(f.calls, 3);
    env_fini(&e);
}
END_TEST

START_TEST(filter_drop)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    filt f = {SL_DROP, 0, {0, {{0, {0}}, 0}, {{0, {0}}, 0}}};
    e.cfg.filter = filter_fn;
    e.cfg.filter_ctx = &f;
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 4, 40004), loc = local_ep(fam, 9999);
    uint8_t data[16] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        inject_ok(&e, &rem, &loc, data, sizeof data);
    expect_no_ev(&e);
    ck_assert_uint_eq(sl_poll(e.s, e.now), SL_TIME_NEVER);
    ck_assert_uint_eq(e.cap->n, 0);
    ck_assert_uint_eq(f.calls, 3);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_DROPPED), 3);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_REFUSED), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_TX), 0);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Bound handles and sendto                                                */
/* ====================================================================== */

START_TEST(bind_exact_and_wildcard)
{
    env e;
    env_init(&e);
    env_start(&e);
    int u_exact = 1, u_wild = 2;
    sl_endpoint b4 = local_ep(4, 53);
    sl_dgram hx, hw;
    ck_assert_int_eq(sl_dgram_open(e.s, &b4, &u_exact, &hx), SL_OK);
    sl_endpoint bw;
    memset(&bw, 0, sizeof bw);
    bw.port = 53;
    ck_assert_int_eq(sl_dgram_open(e.s, &bw, &u_wild, &hw), SL_OK);
    ck_assert(!su_dgram_eq(hx, hw));

    /* Second bind on the same endpoint (exact and wildcard). */
    sl_dgram dup;
    ck_assert_int_eq(sl_dgram_open(e.s, &b4, NULL, &dup), SL_ERR_LIMIT);
    ck_assert_int_eq(sl_dgram_open(e.s, &bw, NULL, &dup), SL_ERR_LIMIT);
    /* Bad binds. */
    sl_endpoint bad = b4;
    bad.port = 0;
    ck_assert_int_eq(sl_dgram_open(e.s, &bad, NULL, &dup), SL_ERR_INVAL);
    bad = b4;
    bad.addr.family = 5;
    ck_assert_int_eq(sl_dgram_open(e.s, &bad, NULL, &dup), SL_ERR_INVAL);

    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_info_get(e.s, hx, &info), SL_OK);
    ck_assert(!info.is_flow);
    ck_assert(su_ep_eq(&info.local, &b4));

    /* To the exact address: the exact handle, no DGRAM_NEW. */
    sl_endpoint r1 = remote_ep(4, 5, 41000);
    uint8_t d[40];
    su_fill(d, sizeof d, 5);
    inject_ok(&e, &r1, &b4, d, sizeof d);
    sl_event ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_READABLE);
    ck_assert(su_dgram_eq(ev.dgram, hx));
    ck_assert_ptr_eq(ev.user, &u_exact);
    expect_no_ev(&e);
    recv_check(&e, hx, d, sizeof d, &r1, &b4);

    /* Another IPv4 address and an IPv6 address, port 53: the wildcard. */
    sl_endpoint o4 = su_ep("198.19.200.1", 53), o6 = local_ep(6, 53);
    sl_endpoint r6 = remote_ep(6, 5, 41000);
    inject_ok(&e, &r1, &o4, d, 10);
    inject_ok(&e, &r6, &o6, d, 20);
    ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_READABLE);
    ck_assert(su_dgram_eq(ev.dgram, hw));
    ck_assert_ptr_eq(ev.user, &u_wild);
    expect_no_ev(&e);
    recv_check(&e, hw, d, 10, &r1, &o4);
    recv_check(&e, hw, d, 20, &r6, &o6);

    /* Another port: the acceptor. */
    sl_endpoint o54 = local_ep(4, 54);
    inject_ok(&e, &r1, &o54, d, 5);
    sl_dgram hf = expect_new_flow(&e);
    recv_check(&e, hf, d, 5, &r1, &o54);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 1);

    /* After freeing the exact handle, the wildcard takes its address; a
     * new exact bind is possible again. */
    ck_assert_int_eq(sl_dgram_free(e.s, hx), SL_OK);
    inject_ok(&e, &r1, &b4, d, 7);
    expect_ev(&e, SL_EV_READABLE, hw);
    recv_check(&e, hw, d, 7, &r1, &b4);
    ck_assert_int_eq(sl_dgram_open(e.s, &b4, NULL, &hx), SL_OK);
    /* A bind to the IPv6 address does not collide with the IPv4 one. */
    sl_dgram h6;
    ck_assert_int_eq(sl_dgram_open(e.s, &o6, NULL, &h6), SL_OK);
    inject_ok(&e, &r6, &o6, d, 3);
    expect_ev(&e, SL_EV_READABLE, h6);
    recv_check(&e, h6, d, 3, &r6, &o6);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

START_TEST(sendto_any_source)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    env_start(&e);
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = fam == 4 ? su_ep("198.19.99.99", 8080) : su_ep("2001:2::99:99", 8080);
    sl_endpoint to = remote_ep(fam, 6, 42000);
    uint8_t d[123];
    su_fill(d, sizeof d, 6);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, d, sizeof d), SL_OK);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 1);
    su_udp_pkt u = sent_udp(&e, 0);
    ck_assert(su_ep_eq(&u.src, &from));
    ck_assert(su_ep_eq(&u.dst, &to));
    ck_assert_uint_eq(u.len, sizeof d);
    ck_assert_mem_eq(u.payload, d, sizeof d);
    ck_assert_uint_eq(u.ip.ttl, e.cfg.ttl);

    /* Unbound handle: no own endpoint, from NULL is a family mismatch. */
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, NULL, &to, d, 1), SL_ERR_INVAL);
    /* Family mismatch. */
    sl_endpoint other = remote_ep(fam == 4 ? 6 : 4, 6, 42000);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &other, d, 1), SL_ERR_INVAL);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, NULL, d, 1), SL_ERR_INVAL);
    sl_endpoint fam0 = to;
    fam0.addr.family = 0;
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &fam0, &fam0, d, 1), SL_ERR_INVAL);
    /* send on a bound (non-flow) handle. */
    ck_assert_int_eq(sl_dgram_send(e.s, h, d, 1), SL_ERR_STATE);

    /* A flow handle: sendto with from NULL uses its local endpoint; a
     * proxy answers from another address. */
    sl_endpoint rem = remote_ep(fam, 7, 42001), loc = local_ep(fam, 53);
    inject_ok(&e, &rem, &loc, d, 5);
    sl_dgram hf = expect_new_flow(&e);
    su_cap_clear(e.cap);
    ck_assert_int_eq(sl_dgram_sendto(e.s, hf, NULL, &rem, d, 9), SL_OK);
    ck_assert_int_eq(sl_dgram_sendto(e.s, hf, &from, &rem, d, 11), SL_OK);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 2);
    u = sent_udp(&e, 0);
    ck_assert(su_ep_eq(&u.src, &loc));
    ck_assert(su_ep_eq(&u.dst, &rem));
    ck_assert_uint_eq(u.len, 9);
    u = sent_udp(&e, 1);
    ck_assert(su_ep_eq(&u.src, &from));
    ck_assert_uint_eq(u.len, 11);

    /* Bound handle with an endpoint: from NULL = its bind endpoint. */
    sl_endpoint b = local_ep(fam, 5000);
    sl_dgram hb;
    ck_assert_int_eq(sl_dgram_open(e.s, &b, NULL, &hb), SL_OK);
    su_cap_clear(e.cap);
    ck_assert_int_eq(sl_dgram_sendto(e.s, hb, NULL, &rem, d, 4), SL_OK);
    ck_assert_int_eq(sl_dgram_send(e.s, hb, d, 4), SL_ERR_STATE);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 1);
    u = sent_udp(&e, 0);
    ck_assert(su_ep_eq(&u.src, &b));
    env_fini(&e);
}
END_TEST

START_TEST(msgsize)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    env_start(&e);
    static uint8_t big[65600];
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = local_ep(fam, 1), to = remote_ep(fam, 1, 2);
    size_t max = fam == 4 ? 65507u : 65527u;
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, big, max + 1), SL_ERR_MSGSIZE);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, big, sizeof big), SL_ERR_MSGSIZE);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, big, max), SL_OK);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Limits                                                                  */
/* ====================================================================== */

START_TEST(rx_queue_limits)
{
    env e;
    env_init(&e);
    e.cfg.udp_rx_queue = 4;
    e.cfg.udp_rx_bytes = 1000;
    env_start(&e);
    sl_endpoint loc = local_ep(4, 53);
    sl_endpoint ra = remote_ep(4, 10, 1000), rb = remote_ep(4, 11, 1000),
                rc = remote_ep(4, 12, 1000);
    uint8_t d[400];
    su_fill(d, sizeof d, 9);
    /* A: 6 x 100 bytes -> 4 queued, 2 dropped (count limit). */
    for (int i = 0; i < 6; i++)
        inject_ok(&e, &ra, &loc, d, 100);
    sl_dgram ha = expect_new_flow(&e);
    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_info_get(e.s, ha, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 4);
    ck_assert_uint_eq(info.rx_dropped, 2);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_DROP_QUEUE_FULL), 2);

    /* B unaffected. */
    inject_ok(&e, &rb, &loc, d, 50);
    sl_dgram hb = expect_new_flow(&e);
    ck_assert_int_eq(sl_dgram_info_get(e.s, hb, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 1);
    ck_assert_uint_eq(info.rx_dropped, 0);
    recv_check(&e, hb, d, 50, &rb, &loc);

    /* C: 3 x 400 bytes -> 2 queued (800), the third over 1000 bytes. */
    for (int i = 0; i < 3; i++)
        inject_ok(&e, &rc, &loc, d, 400);
    sl_dgram hc = expect_new_flow(&e);
    ck_assert_int_eq(sl_dgram_info_get(e.s, hc, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 2);
    ck_assert_uint_eq(info.rx_dropped, 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_DROP_QUEUE_FULL), 3);
    /* 200 bytes still fit. */
    inject_ok(&e, &rc, &loc, d, 200);
    ck_assert_int_eq(sl_dgram_info_get(e.s, hc, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 3);
    /* A datagram larger than the whole byte limit never fits. */
    sl_endpoint rd = remote_ep(4, 13, 1000);
    static uint8_t big[1500];
    inject_ok(&e, &rd, &loc, big, 1001);
    sl_dgram hd = expect_ev_new_only(&e);
    ck_assert_int_eq(sl_dgram_info_get(e.s, hd, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 0);
    ck_assert_uint_eq(info.rx_dropped, 1);

    /* Reading makes room again: the first 4 are the first sent. */
    for (int i = 0; i < 4; i++)
        recv_check(&e, ha, d, 100, &ra, &loc);
    ck_assert_int_eq(sl_dgram_recv(e.s, ha, big, sizeof big, NULL, NULL), SL_ERR_AGAIN);
    inject_ok(&e, &ra, &loc, d, 100);
    expect_ev(&e, SL_EV_READABLE, ha);
    ck_assert_int_eq(sl_dgram_info_get(e.s, ha, &info), SL_OK);
    ck_assert_uint_eq(info.queued, 1);
    ck_assert_uint_eq(info.rx_dropped, 2);
    env_fini(&e);
}
END_TEST

START_TEST(max_flows_limit)
{
    env e;
    env_init(&e);
    e.cfg.max_flows = 3;
    env_start(&e);
    sl_endpoint loc = local_ep(6, 53);
    uint8_t d[8] = {0};
    sl_dgram h[3];
    for (unsigned i = 0; i < 3; i++) {
        sl_endpoint r = remote_ep(6, 20 + i, 1000);
        inject_ok(&e, &r, &loc, d, sizeof d);
        h[i] = expect_new_flow(&e);
    }
    sl_endpoint r4 = remote_ep(6, 30, 1000);
    inject_ok(&e, &r4, &loc, d, sizeof d);
    expect_no_ev(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_LIMIT), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 3);
    /* Existing flows still work. */
    sl_endpoint r0 = remote_ep(6, 20, 1000);
    inject_ok(&e, &r0, &loc, d, sizeof d);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_LIMIT), 1);
    /* Bound handles count too. */
    sl_dgram hb;
    ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &hb), SL_ERR_LIMIT);
    sl_endpoint b = local_ep(6, 99);
    ck_assert_int_eq(sl_dgram_open(e.s, &b, NULL, &hb), SL_ERR_LIMIT);
    /* Freeing one makes room. */
    ck_assert_int_eq(sl_dgram_free(e.s, h[1]), SL_OK);
    inject_ok(&e, &r4, &loc, d, sizeof d);
    sl_dgram h4 = expect_new_flow(&e);
    ck_assert(!su_dgram_eq(h4, h[1]));
    ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &hb), SL_ERR_LIMIT);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Idle timeout                                                            */
/* ====================================================================== */

START_TEST(idle_timeout)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    const sl_time T = 5 * SEC;
    e.cfg.udp_idle_timeout = T;
    env_start(&e);
    ck_assert_uint_eq(sl_poll(e.s, e.now), SL_TIME_NEVER);
    e.now = T0 + 333; /* not on a tick */
    sl_endpoint rem = remote_ep(fam, 40, 1234), loc = local_ep(fam, 53);
    uint8_t d[32];
    su_fill(d, sizeof d, 40);
    inject_ok(&e, &rem, &loc, d, sizeof d);
    sl_dgram h = expect_new_flow(&e);
    recv_check(&e, h, d, sizeof d, &rem, &loc);
    inject_ok(&e, &rem, &loc, d, 10); /* same time: stays queued */
    expect_ev(&e, SL_EV_READABLE, h);

    sl_time due = e.now + T;
    sl_time dl = sl_poll(e.s, e.now);
    ck_assert_uint_ge(dl, due);
    ck_assert_uint_eq(dl, tick_ceil(due));
    ck_assert_uint_eq(sl_poll_at(e.s), dl);

    /* Just before: nothing. */
    ck_assert_uint_eq(sl_poll(e.s, dl - 1), dl);
    expect_no_ev(&e);
    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_info_get(e.s, h, &info), SL_OK);
    ck_assert(!info.closed);

    /* At the deadline: CLOSED. */
    ck_assert_uint_eq(sl_poll(e.s, dl), SL_TIME_NEVER);
    expect_ev(&e, SL_EV_CLOSED, h);
    expect_no_ev(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_IDLE), 1);
    ck_assert_int_eq(sl_dgram_info_get(e.s, h, &info), SL_OK);
    ck_assert(info.closed);
    ck_assert(info.is_flow);
    ck_assert(su_ep_eq(&info.remote, &rem));
    ck_assert_uint_eq(info.queued, 1);
    /* The queued datagram is still readable, then CLOSED. */
    recv_check(&e, h, d, 10, &rem, &loc);
    uint8_t b[8];
    ck_assert_int_eq(sl_dgram_recv(e.s, h, b, sizeof b, NULL, NULL), SL_ERR_CLOSED);
    ck_assert_int_eq(sl_dgram_send(e.s, h, d, 1), SL_ERR_CLOSED);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, NULL, &rem, d, 1), SL_ERR_CLOSED);

    /* The same 4-tuple makes a new flow. */
    e.now = dl + 10;
    inject_ok(&e, &rem, &loc, d, 20);
    sl_dgram h2 = expect_new_flow(&e);
    ck_assert(!su_dgram_eq(h, h2));
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_NEW), 2);
    recv_check(&e, h2, d, 20, &rem, &loc);
    ck_assert_int_eq(sl_dgram_recv(e.s, h, b, sizeof b, NULL, NULL), SL_ERR_CLOSED);
    /* Old handle still answers until freed; freeing it leaves the new one. */
    ck_assert_int_eq(sl_dgram_free(e.s, h), SL_OK);
    ck_assert_int_eq(sl_dgram_info_get(e.s, h, &info), SL_ERR_STALE);
    ck_assert_int_eq(sl_dgram_info_get(e.s, h2, &info), SL_OK);
    ck_assert(!info.closed);
    ck_assert_int_eq(sl_dgram_send(e.s, h2, d, 3), SL_OK);
    sl_time dl2 = sl_poll(e.s, e.now);
    ck_assert_uint_eq(dl2, tick_ceil(e.now + T));
    ck_assert_uint_eq(e.cap->n, 1);
    inject_ok(&e, &rem, &loc, d, 20);
    expect_ev(&e, SL_EV_READABLE, h2);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

START_TEST(idle_postponed)
{
    int fam = _i % 2 == 0 ? 4 : 6;
    bool by_send = _i >= 2;
    env e;
    env_init(&e);
    const sl_time T = 8 * SEC;
    e.cfg.udp_idle_timeout = T;
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 41, 1234), loc = local_ep(fam, 53);
    uint8_t d[32] = {1};
    inject_ok(&e, &rem, &loc, d, sizeof d);
    sl_dgram h = expect_new_flow(&e);
    recv_check(&e, h, d, sizeof d, &rem, &loc);
    sl_time dl = sl_poll(e.s, e.now);
    ck_assert_uint_eq(dl, tick_ceil(T0 + T));

    /* Traffic half way. */
    e.now = T0 + T / 2 + 17;
    sl_time t1 = e.now;
    if (by_send) {
        /* The stack learns the time from sl_input/sl_poll only. */
        sl_poll(e.s, e.now);
        ck_assert_int_eq(sl_dgram_send(e.s, h, d, 4), SL_OK);
    } else {
        inject_ok(&e, &rem, &loc, d, 4);
        expect_ev(&e, SL_EV_READABLE, h);
        recv_check(&e, h, d, 4, &rem, &loc);
    }
    sl_time dl1 = sl_poll(e.s, e.now);
    ck_assert_uint_le(dl1, tick_ceil(t1 + T));
    /* Poll at every deadline the stack asks for until the real one: no
     * CLOSED before t1 + T; the stack never asks past it. */
    sl_time t = dl1;
    unsigned rounds = 0;
    while (t < t1 + T) {
        ck_assert_uint_lt(++rounds, 10);
        t = sl_poll(e.s, t);
        expect_no_ev(&e);
        sl_dgram_info info;
        ck_assert_int_eq(sl_dgram_info_get(e.s, h, &info), SL_OK);
        ck_assert(!info.closed);
    }
    ck_assert_uint_eq(t, tick_ceil(t1 + T));
    ck_assert_uint_eq(sl_poll(e.s, t), SL_TIME_NEVER);
    expect_ev(&e, SL_EV_CLOSED, h);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_IDLE), 1);
    env_fini(&e);
}
END_TEST

/* Flows idle at different times close one by one; a jump far past all of
 * them closes all at once. */
START_TEST(idle_many)
{
    env e;
    env_init(&e);
    const sl_time T = 2 * SEC;
    e.cfg.udp_idle_timeout = T;
    env_start(&e);
    sl_endpoint loc = local_ep(4, 53);
    uint8_t d[4] = {0};
    enum { N = 50 };
    sl_dgram h[N];
    for (unsigned i = 0; i < N; i++) {
        e.now = T0 + i * 10000u;
        sl_endpoint r = remote_ep(4, 100 + i, 1000);
        inject_ok(&e, &r, &loc, d, sizeof d);
        h[i] = expect_new_flow(&e);
        sl_poll(e.s, e.now);
    }
    /* First deadline = first flow's. */
    ck_assert_uint_eq(sl_poll_at(e.s), tick_ceil(T0 + T));
    e.now = T0 + T + 25 * 10000u + 1;
    sl_poll(e.s, e.now);
    unsigned closed = 0;
    sl_event ev;
    while (sl_next_event(e.s, &ev)) {
        ck_assert_int_eq(ev.type, SL_EV_CLOSED);
        ck_assert(su_dgram_eq(ev.dgram, h[closed])); /* in deadline order */
        closed++;
    }
    ck_assert_uint_ge(closed, 25);
    ck_assert_uint_le(closed, 26);
    sl_poll(e.s, (sl_time)3600 * SEC);
    while (sl_next_event(e.s, &ev)) {
        ck_assert_int_eq(ev.type, SL_EV_CLOSED);
        closed++;
    }
    ck_assert_uint_eq(closed, N);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_FLOW_IDLE), N);
    ck_assert_uint_eq(sl_poll_at(e.s), SL_TIME_NEVER);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Stale handles                                                           */
/* ====================================================================== */

static void assert_stale(env *e, sl_dgram h)
{
    uint8_t b[8] = {0};
    sl_endpoint ep = local_ep(4, 1);
    sl_dgram_info info;
    ck_assert_int_eq(sl_dgram_recv(e->s, h, b, sizeof b, NULL, NULL), SL_ERR_STALE);
    ck_assert_int_eq(sl_dgram_send(e->s, h, b, sizeof b), SL_ERR_STALE);
    ck_assert_int_eq(sl_dgram_sendto(e->s, h, &ep, &ep, b, sizeof b), SL_ERR_STALE);
    ck_assert_int_eq(sl_dgram_info_get(e->s, h, &info), SL_ERR_STALE);
    ck_assert_int_eq(sl_dgram_set_user(e->s, h, b), SL_ERR_STALE);
    ck_assert_ptr_null(sl_dgram_user(e->s, h));
    ck_assert_int_eq(sl_dgram_free(e->s, h), SL_ERR_STALE);
}

START_TEST(stale_handles)
{
    env e;
    env_init(&e);
    e.cfg.max_flows = 8;
    env_start(&e);
    sl_dgram zero = {0, 0};
    assert_stale(&e, zero);
    sl_dgram wild = {0xffffffffu, 1};
    assert_stale(&e, wild);
    sl_dgram nine = {9, 1};
    assert_stale(&e, nine);

    sl_endpoint loc = local_ep(4, 53), r1 = remote_ep(4, 50, 1000), r2 = remote_ep(4, 51, 1000);
    uint8_t d[16] = {7};
    int u1 = 1;
    inject_ok(&e, &r1, &loc, d, sizeof d);
    sl_dgram h1 = expect_new_flow(&e);
    ck_assert_int_eq(sl_dgram_set_user(e.s, h1, &u1), SL_OK);
    ck_assert_int_eq(sl_dgram_free(e.s, h1), SL_OK);
    assert_stale(&e, h1);
    sl_dgram wrong_gen = h1;
    wrong_gen.gen += 7;
    assert_stale(&e, wrong_gen);

    /* The slot is reused for a new flow: the old value stays stale. */
    inject_ok(&e, &r2, &loc, d, sizeof d);
    sl_dgram h2 = expect_new_flow(&e);
    ck_assert_uint_eq(h2.idx, h1.idx);
    ck_assert_uint_ne(h2.gen, h1.gen);
    assert_stale(&e, h1);
    ck_assert_ptr_null(sl_dgram_user(e.s, h2));
    recv_check(&e, h2, d, sizeof d, &r2, &loc);
    /* The old 4-tuple's flow is gone with the free: a new flow. */
    inject_ok(&e, &r1, &loc, d, sizeof d);
    sl_dgram h3 = expect_new_flow(&e);
    ck_assert(!su_dgram_eq(h3, h1));

    /* Events of a freed handle are never delivered. */
    sl_endpoint r3 = remote_ep(4, 52, 1000), r4 = remote_ep(4, 53, 1000);
    inject_ok(&e, &r3, &loc, d, sizeof d); /* NEW + READABLE pending */
    inject_ok(&e, &r4, &loc, d, sizeof d);
    inject_ok(&e, &r1, &loc, d, sizeof d); /* h3: queue non-empty, no ev */
    /* Find r3's handle without taking events: it is the next NEW. */
    sl_event ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
    sl_dgram h_r3 = ev.dgram;
    ck_assert_int_eq(sl_dgram_free(e.s, h_r3), SL_OK); /* READABLE pending */
    ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
    sl_dgram h_r4 = ev.dgram;
    ck_assert(!su_dgram_eq(h_r4, h_r3));
    ck_assert_int_eq(sl_dgram_free(e.s, h_r4), SL_OK); /* mid-FIFO, bits pending */
    expect_no_ev(&e);
    /* h3 again readable after draining. */
    recv_check(&e, h3, d, sizeof d, &r1, &loc);
    recv_check(&e, h3, d, sizeof d, &r1, &loc);

    /* Pending CLOSED of a freed handle: not delivered. */
    e.cfg.udp_idle_timeout = 0; /* (cfg copied; unused) */
    sl_poll(e.s, e.now + (sl_time)120 * SEC);
    ev = next_ev(&e);
    ck_assert_int_eq(ev.type, SL_EV_CLOSED);
    sl_dgram first_closed = ev.dgram;
    sl_dgram other = su_dgram_eq(first_closed, h2) ? h3 : h2;
    ck_assert_int_eq(sl_dgram_free(e.s, other), SL_OK);
    expect_no_ev(&e);
    ck_assert_int_eq(sl_dgram_free(e.s, first_closed), SL_OK);
    assert_stale(&e, first_closed);

    /* Many free/reuse cycles on one slot never revive an old value. */
    sl_dgram old[64];
    for (unsigned i = 0; i < 64; i++) {
        ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &old[i]), SL_OK);
        ck_assert_int_eq(sl_dgram_free(e.s, old[i]), SL_OK);
        for (unsigned j = 0; j <= i; j++)
            ck_assert_int_eq(sl_dgram_free(e.s, old[j]), SL_ERR_STALE);
    }
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Transmit queue                                                          */
/* ====================================================================== */

START_TEST(tx_queue_limit)
{
    env e;
    env_init(&e);
    e.cfg.tx_queue = 4;
    env_start(&e);
    sl_endpoint loc = local_ep(4, 53), r1 = remote_ep(4, 60, 1000), r2 = remote_ep(4, 61, 1000);
    uint8_t d[100];
    su_fill(d, sizeof d, 60);
    inject_ok(&e, &r1, &loc, d, 1);
    sl_dgram h1 = expect_new_flow(&e);
    inject_ok(&e, &r2, &loc, d, 1);
    sl_dgram h2 = expect_new_flow(&e);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(sl_dgram_send(e.s, h1, d, (size_t)(10 + i)), SL_OK);
    ck_assert_int_eq(sl_dgram_send(e.s, h1, d, 20), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_dgram_send(e.s, h1, d, 20), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_dgram_send(e.s, h2, d, 20), SL_ERR_AGAIN);
    ck_assert_uint_ge(cnt(&e, SL_CNT_TX_QUEUE_FULL), 3);
    expect_no_ev(&e);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 4);
    for (size_t i = 0; i < 4; i++) {
        su_udp_pkt u = sent_udp(&e, i);
        ck_assert_uint_eq(u.len, 10 + i);
    }
    /* One WRITABLE per waiting handle. */
    sl_event ev;
    bool w1 = false, w2 = false;
    while (sl_next_event(e.s, &ev)) {
        ck_assert_int_eq(ev.type, SL_EV_WRITABLE);
        if (su_dgram_eq(ev.dgram, h1)) {
            ck_assert(!w1);
            w1 = true;
        } else {
            ck_assert(su_dgram_eq(ev.dgram, h2));
            ck_assert(!w2);
            w2 = true;
        }
    }
    ck_assert(w1 && w2);
    ck_assert_int_eq(sl_dgram_send(e.s, h1, d, 20), SL_OK);
    sl_poll(e.s, e.now);
    expect_no_ev(&e); /* no AGAIN: no WRITABLE */

    /* A waiting handle freed before the drain gets nothing, others do. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(sl_dgram_send(e.s, h2, d, 30), SL_OK);
    ck_assert_int_eq(sl_dgram_send(e.s, h1, d, 30), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_dgram_send(e.s, h2, d, 30), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_dgram_free(e.s, h1), SL_OK);
    sl_poll(e.s, e.now);
    expect_ev(&e, SL_EV_WRITABLE, h2);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

START_TEST(tx_queue_bytes_limit)
{
    env e;
    env_init(&e);
    e.cfg.tx_queue_bytes = 3000;
    env_start(&e);
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(e.s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = local_ep(6, 1), to = remote_ep(6, 1, 2);
    uint8_t d[1000] = {0};
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, d, 1000), SL_OK);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, d, 1000), SL_OK);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, d, 1000), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_dgram_sendto(e.s, h, &from, &to, d, 100), SL_OK);
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 3);
    expect_ev(&e, SL_EV_WRITABLE, h);
    expect_no_ev(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Output fragmentation, reassembled by a second stack                     */
/* ====================================================================== */

/* Check the fragments in cap: sizes, flags, offsets, one identification.
 * Returns the number of fragments. */
static size_t check_fragments(const su_cap *cap, size_t first, size_t n_pkts, uint16_t mtu,
                              size_t udp_len)
{
    size_t expect_off = 0;
    uint32_t id = 0;
    for (size_t i = first; i < first + n_pkts; i++) {
        size_t len;
        const uint8_t *p = su_cap_pkt(cap, i, &len);
        ck_assert_uint_le(len, mtu);
        su_ip_pkt ip;
        ck_assert_int_eq(su_parse_ip(p, len, &ip), SL_OK);
        ck_assert(ip.is_fragment);
        ck_assert_uint_eq(ip.proto, SL_IPPROTO_UDP);
        bool last = i + 1 == first + n_pkts;
        size_t off;
        bool more;
        uint32_t this_id;
        if (ip.family == 4) {
            off = (size_t)ip.ip4.frag_off * 8;
            more = ip.ip4.mf;
            this_id = ip.ip4.id;
            ck_assert(!ip.ip4.df);
        } else {
            ck_assert(ip.ip6.has_frag);
            ck_assert_uint_eq(ip.ip6.unfrag_len, 40);
            off = (size_t)ip.ip6.frag_off * 8;
            more = ip.ip6.frag_more;
            this_id = ip.ip6.frag_id;
        }
        if (i == first)
            id = this_id;
        ck_assert_uint_eq(this_id, id);
        ck_assert_uint_eq(off, expect_off);
        ck_assert(more == !last);
        if (!last) {
            ck_assert_uint_eq(ip.l4_len % 8, 0);
            /* Fragments are as large as the MTU allows. */
            ck_assert_uint_gt(len + 8, mtu);
        }
        expect_off += ip.l4_len;
    }
    ck_assert_uint_eq(expect_off, udp_len);
    return n_pkts;
}

START_TEST(fragment_output)
{
    static const size_t sizes4[] = {1473, 4000, 65507};
    static const size_t sizes6[] = {1453, 4000, 65527};
    int fam = _i % 2 == 0 ? 4 : 6;
    uint16_t mtu = _i < 2 ? 1500 : 1280;
    env a, b;
    env_init(&a);
    a.cfg.mtu = mtu;
    env_start(&a);
    env_init(&b);
    env_start(&b);
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(a.s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = local_ep(fam, 7000), to = remote_ep(fam, 70, 7001);
    static uint8_t d[65600], got[65600];
    for (size_t k = 0; k < 3; k++) {
        size_t n = fam == 4 ? sizes4[k] : sizes6[k];
        su_fill(d, n, (uint32_t)(n + k));
        su_cap_clear(a.cap);
        ck_assert_int_eq(sl_dgram_sendto(a.s, h, &from, &to, d, n), SL_OK);
        sl_poll(a.s, a.now);
        size_t hl = fam == 4 ? 20u : 48u;
        size_t per = ((size_t)mtu - hl) & ~(size_t)7;
        size_t expect = (n + 8 + per - 1) / per;
        ck_assert_uint_eq(a.cap->n, expect);
        check_fragments(a.cap, 0, a.cap->n, mtu, n + 8);
        /* Reverse the order for the second stack: reassembly copes. */
        for (size_t i = a.cap->n; i-- > 0;) {
            size_t len;
            const uint8_t *p = su_cap_pkt(a.cap, i, &len);
            ck_assert_int_eq(sl_input(b.s, p, len, b.now), SL_OK);
        }
        sl_event ev;
        ck_assert(sl_next_event(b.s, &ev));
        if (k == 0) {
            ck_assert_int_eq(ev.type, SL_EV_DGRAM_NEW);
            ck_assert(sl_next_event(b.s, &ev));
        }
        ck_assert_int_eq(ev.type, SL_EV_READABLE);
        sl_endpoint f, t;
        long r = sl_dgram_recv(b.s, ev.dgram, got, sizeof got, &f, &t);
        ck_assert_int_eq(r, (long)n);
        ck_assert_mem_eq(got, d, n);
        ck_assert(su_ep_eq(&f, &from));
        ck_assert(su_ep_eq(&t, &to));
        ck_assert_uint_eq(sl_stats_get(b.s, SL_CNT_IP_REASM_OK), k + 1);
    }
    ck_assert_uint_eq(sl_stats_get(a.s, SL_CNT_IP_TX), sl_stats_get(a.s, SL_CNT_IP_FRAGS_TX));
    env_fini(&a);
    env_fini(&b);
}
END_TEST

/* IPv6 Fragment identifications of successive datagrams differ. */
START_TEST(fragment_ids_differ)
{
    int fam = _i == 0 ? 4 : 6;
    env a;
    env_init(&a);
    env_start(&a);
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(a.s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = local_ep(fam, 7000), to = remote_ep(fam, 70, 7001);
    static uint8_t d[3000];
    uint32_t ids[8];
    for (unsigned k = 0; k < 8; k++) {
        su_cap_clear(a.cap);
        ck_assert_int_eq(sl_dgram_sendto(a.s, h, &from, &to, d, sizeof d), SL_OK);
        sl_poll(a.s, a.now);
        ck_assert_uint_eq(a.cap->n, 3);
        size_t len;
        const uint8_t *p = su_cap_pkt(a.cap, 0, &len);
        su_ip_pkt ip;
        ck_assert_int_eq(su_parse_ip(p, len, &ip), SL_OK);
        ids[k] = fam == 4 ? ip.ip4.id : ip.ip6.frag_id;
        for (unsigned j = 0; j < k; j++)
            ck_assert_uint_ne(ids[j], ids[k]);
    }
    env_fini(&a);
}
END_TEST

/* ====================================================================== */
/* get_buffer                                                              */
/* ====================================================================== */

START_TEST(get_buffer_path)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e);
    e.cfg.tx = su_cap_tx(e.cap, true);
    env_start(&e);
    sl_endpoint rem = remote_ep(fam, 80, 1000), loc = local_ep(fam, 53);
    uint8_t d[500];
    su_fill(d, sizeof d, 80);
    inject_ok(&e, &rem, &loc, d, sizeof d);
    sl_dgram h = expect_new_flow(&e);
    ck_assert_int_eq(sl_dgram_send(e.s, h, d, 100), SL_OK);
    ck_assert_uint_gt(sl_poll(e.s, e.now), e.now); /* the idle timer */
    ck_assert_uint_eq(e.cap->n, 1);
    ck_assert_uint_eq(e.cap->gb_calls, 1);
    ck_assert_uint_eq(e.cap->gb_mismatch, 0);
    su_udp_pkt u = sent_udp(&e, 0);
    ck_assert_uint_eq(u.len, 100);
    ck_assert_mem_eq(u.payload, d, 100);

    /* Device full: packets stay queued, poll says "now". */
    su_cap_clear(e.cap);
    e.cap->gb_refuse_all = true;
    ck_assert_int_eq(sl_dgram_send(e.s, h, d, 200), SL_OK);
    ck_assert_int_eq(sl_dgram_send(e.s, h, d, 300), SL_OK);
    ck_assert_uint_le(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_eq(e.cap->n, 0);
    uint64_t full1 = cnt(&e, SL_CNT_TX_DEVICE_FULL);
    ck_assert_uint_ge(full1, 1);
    e.now += 1000;
    ck_assert_uint_le(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_gt(cnt(&e, SL_CNT_TX_DEVICE_FULL), full1);
    ck_assert_uint_eq(sl_poll_at(e.s), e.now);
    /* Room for one. */
    e.cap->gb_refuse_all = false;
    e.cap->gb_budget_on = true;
    e.cap->gb_budget = 1;
    ck_assert_uint_le(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_eq(e.cap->n, 1);
    ck_assert_uint_eq(sent_udp(&e, 0).len, 200);
    /* Room for all, in order. */
    e.cap->gb_budget_on = false;
    ck_assert_uint_gt(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_eq(e.cap->n, 2);
    u = sent_udp(&e, 1);
    ck_assert_uint_eq(u.len, 300);
    ck_assert_mem_eq(u.payload, d, 300);
    ck_assert_uint_eq(e.cap->gb_mismatch, 0);

    /* A fragmented datagram interrupted half way resumes where it stopped
     * and the fragments reassemble. */
    static uint8_t big[6000];
    su_fill(big, sizeof big, 81);
    su_cap_clear(e.cap);
    e.cap->gb_budget_on = true;
    e.cap->gb_budget = 2;
    ck_assert_int_eq(sl_dgram_send(e.s, h, big, sizeof big), SL_OK);
    ck_assert_uint_le(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_eq(e.cap->n, 2);
    e.cap->gb_budget = 1;
    ck_assert_uint_le(sl_poll(e.s, e.now), e.now);
    ck_assert_uint_eq(e.cap->n, 3);
    e.cap->gb_budget_on = false;
    sl_poll(e.s, e.now);
    ck_assert_uint_eq(e.cap->n, 5);
    check_fragments(e.cap, 0, 5, 1500, sizeof big + 8);
    ck_assert_uint_eq(e.cap->gb_mismatch, 0);
    env b;
    env_init(&b);
    env_start(&b);
    su_cap_feed(e.cap, b.s, b.now);
    sl_dgram hb = expect_new_flow(&b);
    recv_check(&b, hb, big, sizeof big, &loc, &rem);
    env_fini(&b);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Two stacks back to back                                                 */
/* ====================================================================== */

START_TEST(back_to_back)
{
    int fam = _i == 0 ? 4 : 6;
    env a, b;
    env_init(&a);
    env_init(&b);
    b.cfg.secret = su_secret_b;
    env_start(&a);
    env_start(&b);
    sl_endpoint ea = fam == 4 ? su_ep("198.18.0.1", 1000) : su_ep("2001:2::a", 1000);
    sl_endpoint eb = fam == 4 ? su_ep("198.19.0.2", 2000) : su_ep("2001:2::b", 2000);
    sl_dgram ha;
    int ua = 0;
    ck_assert_int_eq(sl_dgram_open(a.s, &ea, &ua, &ha), SL_OK);

    enum { N = 1000, WINDOW = 24 };
    static uint8_t buf[70000], exp[4000];
    su_rng prng = {(uint64_t)fam * 1000u + 7u};
    size_t sizes[N];
    for (unsigned i = 0; i < N; i++) {
        uint64_t r = su_rng_next(&prng);
        /* mostly small, some around the MTU, some several fragments */
        sizes[i] = r % 8 == 0 ? (size_t)(r >> 8) % 4000u : (size_t)(r >> 8) % 1600u;
    }
    unsigned sent = 0, b_got = 0, a_got = 0;
    sl_dgram hb = {0, 0};
    unsigned guard = 0;
    while (a_got < N) {
        ck_assert_uint_lt(++guard, 20 * N);
        while (sent < N && sent - a_got < WINDOW) {
            su_fill(exp, sizes[sent], sent);
            ck_assert_int_eq(sl_dgram_sendto(a.s, ha, NULL, &eb, exp, sizes[sent]), SL_OK);
            sent++;
        }
        a.now += 100;
        b.now += 100;
        sl_poll(a.s, a.now);
        su_cap_feed(a.cap, b.s, b.now);
        sl_event ev;
        while (sl_next_event(b.s, &ev)) {
            if (ev.type == SL_EV_DGRAM_NEW) {
                ck_assert_uint_eq(hb.idx, 0);
                hb = ev.dgram;
                continue;
            }
            ck_assert_int_eq(ev.type, SL_EV_READABLE);
            ck_assert(su_dgram_eq(ev.dgram, hb));
            long r;
            sl_endpoint f, t;
            while ((r = sl_dgram_recv(b.s, hb, buf, sizeof buf, &f, &t)) >= 0) {
                ck_assert_uint_lt(b_got, N);
                ck_assert_int_eq(r, (long)sizes[b_got]);
                su_fill(exp, sizes[b_got], b_got);
                ck_assert_mem_eq(buf, exp, (size_t)r);
                ck_assert(su_ep_eq(&f, &ea));
                ck_assert(su_ep_eq(&t, &eb));
                b_got++;
                ck_assert_int_eq(sl_dgram_send(b.s, hb, buf, (size_t)r), SL_OK);
            }
            ck_assert_int_eq(r, SL_ERR_AGAIN);
        }
        sl_poll(b.s, b.now);
        su_cap_feed(b.cap, a.s, a.now);
        while (sl_next_event(a.s, &ev)) {
            ck_assert_int_eq(ev.type, SL_EV_READABLE);
            ck_assert(su_dgram_eq(ev.dgram, ha));
            ck_assert_ptr_eq(ev.user, &ua);
            long r;
            sl_endpoint f, t;
            while ((r = sl_dgram_recv(a.s, ha, buf, sizeof buf, &f, &t)) >= 0) {
                ck_assert_uint_lt(a_got, N);
                ck_assert_int_eq(r, (long)sizes[a_got]);
                su_fill(exp, sizes[a_got], a_got);
                ck_assert_mem_eq(buf, exp, (size_t)r);
                ck_assert(su_ep_eq(&f, &eb));
                ck_assert(su_ep_eq(&t, &ea));
                a_got++;
            }
        }
    }
    ck_assert_uint_eq(b_got, N);
    ck_assert_uint_eq(sl_stats_get(b.s, SL_CNT_UDP_FLOW_NEW), 1);
    ck_assert_uint_eq(sl_stats_get(a.s, SL_CNT_UDP_FLOW_NEW), 0);
    ck_assert_uint_eq(sl_stats_get(a.s, SL_CNT_UDP_DROP_QUEUE_FULL), 0);
    ck_assert_uint_eq(sl_stats_get(b.s, SL_CNT_UDP_DROP_QUEUE_FULL), 0);
    ck_assert_uint_eq(sl_stats_get(a.s, SL_CNT_IP_REASM_DROP), 0);
    ck_assert_uint_eq(sl_stats_get(b.s, SL_CNT_IP_REASM_DROP), 0);
    ck_assert_uint_eq(sl_stats_get(a.s, SL_CNT_IP_DROP_PARSE), 0);
    ck_assert_uint_eq(sl_stats_get(b.s, SL_CNT_IP_DROP_PARSE), 0);
    ck_assert_uint_gt(sl_stats_get(a.s, SL_CNT_IP_FRAGS_TX), 0);
    env_fini(&a);
    env_fini(&b);
}
END_TEST

/* ====================================================================== */
/* Regressions                                                             */
/* ====================================================================== */

/* A datagram larger than cfg.tx_queue_bytes can never be queued, yet
 * sl_dgram_send answers SL_ERR_AGAIN on an empty queue and the next poll
 * raises WRITABLE: an application following the API retries forever.  It
 * must fail with a permanent error (SL_ERR_MSGSIZE), or sl_stack_new must
 * refuse a tx_queue_bytes below the largest packet (65535 + headers). */
START_TEST(regress_tx_bytes_never_fits)
{
    su_cap *cap = su_cap_new(1 << 20, 64);
    sl_config cfg;
    su_config(&cfg, cap);
    cfg.tx_queue_bytes = 2000;
    sl_allocator heap = sl_allocator_heap();
    sl_error err = SL_OK;
    sl_stack *s = sl_stack_new(&cfg, &heap, &err);
    if (s == NULL) {
        ck_assert_int_eq(err, SL_ERR_INVAL); /* acceptable fix */
        su_cap_free(cap);
        return;
    }
    sl_dgram h;
    ck_assert_int_eq(sl_dgram_open(s, NULL, NULL, &h), SL_OK);
    sl_endpoint from = su_ep("198.19.0.1", 1), to = su_ep("198.18.0.9", 2);
    static uint8_t d[3000];
    unsigned again = 0;
    for (int round = 0; round < 3; round++) {
        sl_error e = sl_dgram_sendto(s, h, &from, &to, d, sizeof d);
        if (e == SL_ERR_AGAIN) {
            again++;
            sl_poll(s, T0);
            sl_event ev;
            while (sl_next_event(s, &ev))
                ; /* WRITABLE: "try again" */
        }
    }
    ck_assert_msg(again == 0,
                  "a datagram that can never fit the tx queue got SL_ERR_AGAIN %u times", again);
    sl_stack_free(s);
    su_cap_free(cap);
}
END_TEST

static Suite *stack_udp_suite(void)
{
    Suite *s = suite_create("stack_udp");
    TCase *tc = tcase_create("flows");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, new_flow_echo, 0, 2);
    tcase_add_test(tc, recv_truncates);
    tcase_add_loop_test(tc, flow_reuse, 0, 2);
    tcase_add_loop_test(tc, filter_refuse, 0, 2);
    tcase_add_loop_test(tc, filter_drop, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("bound");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bind_exact_and_wildcard);
    tcase_add_loop_test(tc, sendto_any_source, 0, 2);
    tcase_add_loop_test(tc, msgsize, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rx_queue_limits);
    tcase_add_test(tc, max_flows_limit);
    tcase_add_test(tc, tx_queue_limit);
    tcase_add_test(tc, tx_queue_bytes_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("idle");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, idle_timeout, 0, 2);
    tcase_add_loop_test(tc, idle_postponed, 0, 4);
    tcase_add_test(tc, idle_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("handles");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stale_handles);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, fragment_output, 0, 4);
    tcase_add_loop_test(tc, fragment_ids_differ, 0, 2);
    tcase_add_loop_test(tc, get_buffer_path, 0, 2);
    tcase_add_loop_test(tc, back_to_back, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, regress_tx_bytes_never_fits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(stack_udp_suite());
}
