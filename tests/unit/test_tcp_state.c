/*
 * The TCP state machine of one stack, segment by segment (RFC 9293
 * §3.10.7 and friends).  The test code is the peer: it builds every
 * segment the stack receives and asserts the exact segments the stack
 * sends (flags, seq, ack, window, options, payload), the events, the
 * counters and the states (sl_stream_info_get and the tcp_trace hook).
 *
 * Test cases: passive, active, data, unacceptable, close, retransmit,
 * window, paws, cookies, icmp, wrap, handles, and "regressions" (each pins
 * a bug, now fixed, described in the test's comment).
 *
 * TCP is tested through its behaviour, not file by file: this suite covers
 * src/tcp/tcp_in.c, tcp_out.c (segments, Nagle, SWS, ACKs, resets),
 * tcp_timer.c (RTO, persist, keep-alive, delayed ACK, TIME-WAIT),
 * tcp_cc.c, tcp_sack.c, tcp_conn.c and tcp_api.c; test_tcp_sim.c drives
 * the same files under loss; ring.c, ooo.c and seq.c have their own
 * suites.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_env.h"

/* ---- more of the harness (this suite only) ------------------------ */

/* Advance from deadline to deadline until the stack sends something or
 * `limit` is reached; returns the time reached (check nout()). */
static sl_time run_to_output(env *e, sl_time limit)
{
    for (;;) {
        sl_time next = sl_poll(e->s, e->now);
        if (nout(e) > 0)
            return e->now;
        if (next > limit) {
            at(e, limit);
            return limit;
        }
        e->now = next > e->now ? next : e->now + 1;
    }
}

/* Advance from deadline to deadline up to `limit`, keeping every segment
 * sent in the capture. */
static void run_until(env *e, sl_time limit)
{
    for (;;) {
        sl_time next = sl_poll(e->s, e->now);
        if (next > limit) {
            at(e, limit);
            return;
        }
        e->now = next > e->now ? next : e->now + 1;
    }
}

static bool ev_has(env *e, sl_event_type t)
{
    sl_event ev;
    bool found = false;
    while (sl_next_event(e->s, &ev))
        if (ev.type == t)
            found = true;
    return found;
}

/* The last transition the trace hook recorded. */
static bool tr_seen(const env *e, sl_tcp_state from, sl_tcp_state to)
{
    for (size_t i = 0; i < e->ntr; i++)
        if (e->tr[i].from == from && e->tr[i].to == to)
            return true;
    return false;
}

/* Active open to the peer; returns our SYN.  e->local.port is updated. */
static tu_seg connect_syn(env *e)
{
    sl_endpoint l = e->local;
    l.port = 0;
    ck_assert_int_eq(sl_stream_connect(e->s, &l, &e->peer, &e->cfg, &e->h), SL_OK);
    ck_assert_int_eq(state(e), SL_TCP_SYN_SENT);
    poll_now(e);
    ck_assert_uint_eq(nout(e), 1);
    tu_seg s = cap_seg(e, 0);
    s.payload = NULL;
    clear(e);
    e->local.port = s.src.port;
    e->iss = s.seq;
    e->pack = s.seq + 1;
    if (s.o.has_ts)
        e->tsecr = s.o.ts_val;
    return s;
}

static void est_active(env *e, const sl_tcp_opts *o)
{
    (void)connect_syn(e);
    e->pseq = e->irs;
    e->ts = o->has_ts;
    tu_seg s = pseg(e, SL_TCP_SYN | SL_TCP_ACK, e->irs, e->iss + 1, NULL, 0);
    s.o = *o;
    if (o->has_ts) {
        s.o.ts_val = e->tsval;
        s.o.ts_ecr = e->tsecr;
    }
    inject(e, &s);
    e->tsval++;
    e->pseq = e->irs + 1;
    tu_seg a = one(e);
    chk(&a, SL_TCP_ACK, e->iss + 1, e->irs + 1, 0);
    ev_expect(e, SL_EV_CONNECTED);
    (void)su_drain_events(e->s);
    ck_assert_int_eq(state(e), SL_TCP_ESTABLISHED);
}

/* Active open, peer MSS 1460, WS 0, SACK, no timestamps.  (Active opens
 * take no RTT sample from the handshake: RTO = tcp_rto_initial.) */
static void est_active_default(env *e)
{
    sl_tcp_opts o = syn_opts(1460, 0, true, false);
    est_active(e, &o);
}

/* ====================================================================== */
/* Passive open                                                           */
/* ====================================================================== */

START_TEST(passive_open)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, 7, true, true);
    tu_seg sa = send_syn(&e, &o);
    /* <SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK> with our MSS and echoed options. */
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    ck_assert(sa.o.has_mss);
    ck_assert_uint_eq(sa.o.mss, our_mss(&e));
    ck_assert(sa.o.has_wscale);
    ck_assert_uint_eq(sa.o.wscale, 1); /* 65536-byte buffer needs shift 1 */
    ck_assert(sa.o.sack_perm);
    ck_assert(sa.o.has_ts);
    ck_assert_uint_eq(sa.o.ts_ecr, 1000); /* the SYN's TSval */
    ck_assert_uint_eq(sa.window, 65535);  /* never scaled in a SYN */
    ck_assert_uint_eq(sa.o.n_sack, 0);
    /* Half-open: traced, no event yet. */
    ck_assert_uint_eq(e.ntr, 1);
    ck_assert_int_eq(e.tr[0].from, SL_TCP_CLOSED);
    ck_assert_int_eq(e.tr[0].to, SL_TCP_SYN_RECEIVED);
    ev_none(&e);
    e.iss = sa.seq;
    e.pack = e.iss + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    none(&e);
    sl_event ev = ev_expect(&e, SL_EV_STREAM_NEW);
    ck_assert(ev.is_stream);
    ck_assert_ptr_null(ev.user);
    e.h = ev.stream;
    ck_assert_uint_eq(e.tr[1].idx, ev.stream.idx);
    ck_assert_uint_eq(e.tr[1].gen, ev.stream.gen);
    ck_assert_int_eq(e.tr[1].to, SL_TCP_ESTABLISHED);
    sl_stream_info i = info(&e);
    ck_assert_int_eq(i.state, SL_TCP_ESTABLISHED);
    ck_assert(su_ep_eq(&i.local, &e.local));
    ck_assert(su_ep_eq(&i.remote, &e.peer));
    ck_assert_uint_eq(i.mss, e.fam == 4 ? 1460 : 1440);
    ck_assert_uint_eq(i.snd_wscale, 7);
    ck_assert_uint_eq(i.rcv_wscale, 1);
    ck_assert(i.sack);
    ck_assert(i.timestamps);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_ACCEPTED), 1);
    env_fini(&e);
}
END_TEST

/* RFC 9293 §3.10.7.2: text in a SYN is kept, acknowledged by the SYN-ACK
 * and readable (READABLE after STREAM_NEW) once established. */
START_TEST(syn_with_data)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    e.pseq = e.irs;
    tu_seg syn = pseg(&e, SL_TCP_SYN, e.irs, 0, req, sizeof req - 1);
    syn.o = syn_opts(1460, 7, true, false);
    inject(&e, &syn);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg sa = out(&e, 0);
    clear(&e);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1 + (uint32_t)(sizeof req - 1), 0);
    ev_none(&e);
    e.iss = sa.seq;
    e.pseq = e.irs + 1 + (uint32_t)(sizeof req - 1);
    e.pack = e.iss + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    sl_event ev = ev_expect(&e, SL_EV_STREAM_NEW);
    e.h = ev.stream;
    ev = ev_expect(&e, SL_EV_READABLE);
    ck_assert_uint_eq(ev.stream.idx, e.h.idx);
    uint8_t buf[64];
    long n = sl_stream_read(e.s, e.h, buf, sizeof buf);
    ck_assert_int_eq(n, (long)(sizeof req - 1));
    ck_assert_mem_eq(buf, req, sizeof req - 1);
    /* A retransmission of the SYN's text is a duplicate: ACK, no data. */
    tu_seg dup = pseg(&e, SL_TCP_ACK, e.irs + 1, e.pack, req, sizeof req - 1);
    inject(&e, &dup);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, buf, sizeof buf), SL_ERR_AGAIN);
    env_fini(&e);
}
END_TEST

START_TEST(passive_open_no_options)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    sl_tcp_opts o = syn_opts(0, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    ck_assert(sa.o.has_mss);
    ck_assert_uint_eq(sa.o.mss, our_mss(&e));
    ck_assert(!sa.o.has_wscale);
    ck_assert(!sa.o.sack_perm);
    ck_assert(!sa.o.has_ts);
    ck_assert_uint_eq(sa.window, 65535);
    e.iss = sa.seq;
    e.pack = e.iss + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    e.h = ev_find(&e, SL_EV_STREAM_NEW).stream;
    sl_stream_info i = info(&e);
    ck_assert_uint_eq(i.mss, e.fam == 4 ? 536 : 1220); /* RFC 9293 §3.7.1 default */
    ck_assert_uint_eq(i.snd_wscale, 0xff);
    ck_assert_uint_eq(i.rcv_wscale, 0xff);
    ck_assert(!i.sack);
    ck_assert(!i.timestamps);
    /* Without window scaling our windows are plain 16-bit values. */
    static const uint8_t d[10] = "0123456789";
    psend(&e, SL_TCP_ACK | SL_TCP_PSH, d, 10);
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(a.window, 65535 - 10); /* the right edge stays put */
    env_fini(&e);
}
END_TEST

START_TEST(syn_mss_clamped)
{
    static const uint16_t mss[] = {0, 1, 63, 65535, 1461};
    for (size_t k = 0; k < sizeof mss / sizeof mss[0]; k++) {
        env e;
        env_init(&e, 4);
        env_start(&e);
        sl_tcp_opts o = syn_opts(1, -1, false, false);
        o.mss = mss[k];
        (void)est_passive(&e, &o);
        uint16_t m = info(&e).mss;
        if (mss[k] >= 1460)
            ck_assert_uint_eq(m, 1460);
        else
            ck_assert_msg(m >= 64 && m <= 536, "peer MSS %u -> send MSS %u", mss[k], m);
        /* Data goes out in segments of at most that MSS, never empty. */
        static uint8_t d[3000];
        ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
        ck_assert_int_eq(wr(&e, d, sizeof d), (long)sizeof d);
        poll_now(&e);
        ck_assert_uint_gt(nout(&e), 0);
        for (size_t j = 0; j < nout(&e); j++) {
            tu_seg s = out(&e, j);
            ck_assert_uint_gt(s.len, 0);
            ck_assert_uint_le(s.len, m);
        }
        env_fini(&e);
    }
}
END_TEST

START_TEST(syn_wscale_clamped)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, 255, false, false);
    e.pwin = 1; /* 1 << 14 = 16384 bytes once scaled */
    (void)est_passive(&e, &o);
    ck_assert_uint_eq(info(&e).snd_wscale, 14);
    static uint8_t d[3000];
    su_fill(d, sizeof d, 1);
    ck_assert_int_eq(wr(&e, d, sizeof d), 3000);
    poll_now(&e);
    /* A window of 1 unscaled would allow one byte; scaled by 14 it allows
     * the first two full segments (the 80-byte rest waits for Nagle). */
    ck_assert_uint_eq(nout(&e), 2);
    tu_seg s0 = out(&e, 0), s1 = out(&e, 1);
    chk(&s0, SL_TCP_ACK, e.iss + 1, e.pseq, 1460);
    chk(&s1, SL_TCP_ACK, e.iss + 1 + 1460, e.pseq, 1460);
    ck_assert_mem_eq(s0.payload, d, 1460);
    env_fini(&e);
}
END_TEST

static sl_verdict filter_fn(void *ctx, const sl_flow_info *fi)
{
    int *mode = (int *)ctx;
    (void)fi;
    return (sl_verdict)*mode;
}

START_TEST(filter_refuse)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    int mode = SL_REFUSE;
    e.cfg.filter = filter_fn;
    e.cfg.filter_ctx = &mode;
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, 7, true, true);
    tu_seg r = send_syn(&e, &o);
    /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, no options. */
    chk(&r, SL_TCP_RST | SL_TCP_ACK, 0, e.irs + 1, 0);
    ck_assert(!r.o.has_mss && !r.o.has_ts);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_REFUSED), 1);
    ck_assert_uint_eq(e.ntr, 0);
    ev_none(&e);
    env_fini(&e);
}
END_TEST

START_TEST(filter_drop)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    int mode = SL_DROP;
    e.cfg.filter = filter_fn;
    e.cfg.filter_ctx = &mode;
    env_start(&e);
    tu_seg s = pseg(&e, SL_TCP_SYN, e.irs, 0, NULL, 0);
    inject(&e, &s);
    none(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_DROPPED), 1);
    ck_assert_uint_eq(e.ntr, 0);
    ev_none(&e);
    env_fini(&e);
}
END_TEST

START_TEST(listener_beats_filter)
{
    env e;
    env_init(&e, 4);
    int mode = SL_REFUSE;
    int tag = 42;
    e.cfg.filter = filter_fn;
    e.cfg.filter_ctx = &mode;
    env_start(&e);
    ck_assert_int_eq(sl_stream_listen(e.s, &e.local, &tag), SL_OK);
    ck_assert_int_eq(sl_stream_listen(e.s, &e.local, &tag), SL_ERR_LIMIT);
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    e.iss = sa.seq;
    e.pack = sa.seq + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    sl_event ev = ev_find(&e, SL_EV_STREAM_NEW);
    ck_assert_ptr_eq(ev.user, &tag);
    ck_assert_ptr_eq(sl_stream_user(e.s, ev.stream), &tag);
    /* Another port: the filter refuses. */
    e.local.port = 81;
    tu_seg r = send_syn(&e, &o);
    chk(&r, SL_TCP_RST | SL_TCP_ACK, 0, e.irs + 1, 0);
    /* A wildcard-address listener on 81 takes it. */
    sl_endpoint any;
    memset(&any, 0, sizeof any);
    any.port = 81;
    ck_assert_int_eq(sl_stream_listen(e.s, &any, &mode), SL_OK);
    e.irs += 1000;
    sa = send_syn(&e, &o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Active open                                                            */
/* ====================================================================== */

START_TEST(active_open)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    tu_seg syn = connect_syn(&e);
    chk(&syn, SL_TCP_SYN, syn.seq, 0, 0);
    ck_assert_uint_ge(syn.src.port, 49152);
    ck_assert(syn.o.has_mss);
    ck_assert_uint_eq(syn.o.mss, our_mss(&e));
    ck_assert(syn.o.has_wscale);
    ck_assert_uint_eq(syn.o.wscale, 1);
    ck_assert(syn.o.sack_perm);
    ck_assert(syn.o.has_ts);
    ck_assert_uint_eq(syn.o.ts_ecr, 0);
    ck_assert_uint_eq(syn.window, 65535);
    ck_assert(tr_seen(&e, SL_TCP_CLOSED, SL_TCP_SYN_SENT));
    ck_assert_uint_eq(e.tr[0].idx, e.h.idx);
    e.pseq = e.irs;
    e.ts = true;
    tu_seg s = pseg(&e, SL_TCP_SYN | SL_TCP_ACK, e.irs, e.iss + 1, NULL, 0);
    s.o = syn_opts(1400, 3, true, true);
    s.o.ts_val = 777;
    s.o.ts_ecr = syn.o.ts_val;
    inject(&e, &s);
    e.pseq++;
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.irs + 1, 0);
    ck_assert(a.o.has_ts);
    ck_assert_uint_eq(a.o.ts_ecr, 777);
    ck_assert_uint_eq(a.window, 32768); /* 65536 >> 1 */
    sl_event ev = ev_expect(&e, SL_EV_CONNECTED);
    ck_assert_ptr_eq(ev.user, &e.cfg);
    sl_stream_info i = info(&e);
    ck_assert_int_eq(i.state, SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(i.mss, 1400);
    ck_assert_uint_eq(i.snd_wscale, 3);
    ck_assert_uint_eq(i.rcv_wscale, 1);
    ck_assert(i.sack && i.timestamps);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_CONNECTED), 1);
    env_fini(&e);
}
END_TEST

START_TEST(active_refused)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    (void)connect_syn(&e);
    /* RST without ACK in SYN-SENT: dropped. */
    tu_seg r = pseg(&e, SL_TCP_RST, 0, 0, NULL, 0);
    inject(&e, &r);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_SYN_SENT);
    /* RST,ACK acknowledging our SYN: refused. */
    r = pseg(&e, SL_TCP_RST | SL_TCP_ACK, 0, e.iss + 1, NULL, 0);
    inject(&e, &r);
    none(&e);
    sl_event ev = ev_expect(&e, SL_EV_ERROR);
    ck_assert_int_eq(ev.error, SL_ERR_REFUSED);
    ev_expect(&e, SL_EV_CLOSED);
    sl_stream_info i = info(&e);
    ck_assert_int_eq(i.state, SL_TCP_CLOSED);
    ck_assert_int_eq(i.error, SL_ERR_REFUSED);
    uint8_t b[8];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), SL_ERR_REFUSED);
    ck_assert_int_eq(wr(&e, b, sizeof b), SL_ERR_REFUSED);
    env_fini(&e);
}
END_TEST

START_TEST(active_bad_ack)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    (void)connect_syn(&e);
    /* SEG.ACK > SND.NXT: <SEQ=SEG.ACK><CTL=RST>, stay in SYN-SENT. */
    tu_seg s = pseg(&e, SL_TCP_SYN | SL_TCP_ACK, e.irs, e.iss + 5, NULL, 0);
    inject(&e, &s);
    tu_seg r = one(&e);
    chk(&r, SL_TCP_RST, e.iss + 5, 0, 0);
    ck_assert_int_eq(state(&e), SL_TCP_SYN_SENT);
    /* SEG.ACK =< ISS. */
    s = pseg(&e, SL_TCP_ACK, e.irs, e.iss, NULL, 0);
    inject(&e, &s);
    r = one(&e);
    chk(&r, SL_TCP_RST, e.iss, 0, 0);
    ck_assert_int_eq(state(&e), SL_TCP_SYN_SENT);
    ev_none(&e);
    /* The right SYN-ACK still completes. */
    s = pseg(&e, SL_TCP_SYN | SL_TCP_ACK, e.irs, e.iss + 1, NULL, 0);
    inject(&e, &s);
    r = one(&e);
    chk(&r, SL_TCP_ACK, e.iss + 1, e.irs + 1, 0);
    ev_expect(&e, SL_EV_CONNECTED);
    env_fini(&e);
}
END_TEST

START_TEST(simultaneous_open)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    (void)connect_syn(&e);
    tu_seg s = pseg(&e, SL_TCP_SYN, e.irs, 0, NULL, 0);
    s.o = syn_opts(1460, -1, false, false);
    inject(&e, &s);
    e.pseq = e.irs + 1;
    tu_seg sa = one(&e);
    /* <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> */
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, e.iss, e.irs + 1, 0);
    ck_assert(sa.o.has_mss);
    ck_assert_int_eq(state(&e), SL_TCP_SYN_RECEIVED);
    ck_assert(tr_seen(&e, SL_TCP_SYN_SENT, SL_TCP_SYN_RECEIVED));
    psend(&e, SL_TCP_ACK, NULL, 0);
    none(&e);
    ev_expect(&e, SL_EV_CONNECTED);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Data                                                                   */
/* ====================================================================== */

START_TEST(data_in_order_delack)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    est_default(&e);
    uint8_t d[2000], r[4000];
    su_fill(d, sizeof d, 7);
    psend(&e, SL_TCP_ACK | SL_TCP_PSH, d, 100);
    none(&e); /* delayed */
    ev_expect(&e, SL_EV_READABLE);
    ev_none(&e);
    at(&e, e.now + e.cfg.tcp_delack - 1);
    ck_assert_uint_eq(nout(&e), 0);
    at(&e, e.now + 1 + TICK);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    /* The SYN-ACK advertised 65535 (a SYN's window is not scaled): 100
     * bytes later 65435 remain, and opening by the 1 byte more the 64 KiB
     * buffer allows is silly-window growth (RFC 9293 §3.8.6.2.2). */
    ck_assert_uint_eq(a.window, (65535 - 100) >> 1);
    /* Two more segments: the second is ACKed at once. */
    psend(&e, SL_TCP_ACK, d + 100, 1000);
    none(&e);
    ev_none(&e); /* READABLE only on empty -> non-empty */
    psend(&e, SL_TCP_ACK, d + 1100, 900);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 2000);
    ck_assert_mem_eq(r, d, 2000);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), SL_ERR_AGAIN);
    /* Data from us: one segment, PSH, in order. */
    ck_assert_int_eq(wr(&e, d, 500), 500);
    tu_seg s = one(&e);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 500);
    ck_assert_uint_eq(info(&e).unacked, 500);
    pack_to(&e, e.iss + 501);
    none(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    env_fini(&e);
}
END_TEST

START_TEST(data_ooo_sack)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    uint8_t d[2500], r[3000];
    su_fill(d, sizeof d, 9);
    uint32_t base = e.pseq;
    tu_seg s = pseg(&e, SL_TCP_ACK, base + 1000, e.pack, d + 1000, 500);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base, 0);
    ck_assert_uint_eq(a.o.n_sack, 1);
    ck_assert_uint_eq(a.o.sack[0].left, base + 1000);
    ck_assert_uint_eq(a.o.sack[0].right, base + 1500);
    ev_none(&e); /* nothing readable yet */
    s = pseg(&e, SL_TCP_ACK, base + 2000, e.pack, d + 2000, 500);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base, 0);
    ck_assert_uint_eq(a.o.n_sack, 2);
    ck_assert_uint_eq(a.o.sack[0].left, base + 2000); /* most recent first */
    ck_assert_uint_eq(a.o.sack[0].right, base + 2500);
    ck_assert_uint_eq(a.o.sack[1].left, base + 1000);
    ck_assert_uint_eq(a.o.sack[1].right, base + 1500);
    /* Fill the first hole: cumulative ACK, the other block remains. */
    s = pseg(&e, SL_TCP_ACK, base, e.pack, d, 1000);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 1500, 0);
    ck_assert_uint_eq(a.o.n_sack, 1);
    ck_assert_uint_eq(a.o.sack[0].left, base + 2000);
    ev_expect(&e, SL_EV_READABLE);
    s = pseg(&e, SL_TCP_ACK, base + 1500, e.pack, d + 1500, 500);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 2500, 0);
    ck_assert_uint_eq(a.o.n_sack, 0);
    e.pseq = base + 2500;
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 2500);
    ck_assert_mem_eq(r, d, 2500);
    /* A duplicate (old) segment: ACK at once, nothing new to read. */
    s = pseg(&e, SL_TCP_ACK, base + 500, e.pack, d + 500, 500);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 2500, 0);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), SL_ERR_AGAIN);
    /* Partly old, partly new: the new part is kept. */
    s = pseg(&e, SL_TCP_ACK, base + 2000, e.pack, d, 1000);
    inject(&e, &s);
    e.pseq = base + 3000;
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 3000, 0);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 500);
    ck_assert_mem_eq(r, d + 500, 500);
    env_fini(&e);
}
END_TEST

START_TEST(data_beyond_window)
{
    env e;
    env_init(&e, 4);
    e.cfg.tcp_rcvbuf = 4096;
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = est_passive(&e, &o);
    ck_assert_uint_eq(sa.window, 4096);
    uint8_t d[6000], r[8000];
    su_fill(d, sizeof d, 3);
    uint32_t base = e.pseq;
    psend(&e, SL_TCP_ACK, d, 1460);
    psend(&e, SL_TCP_ACK, d + 1460, 1460);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 2920, 0);
    ck_assert_uint_eq(a.window, 4096 - 2920);
    /* 1460 bytes into a 1176-byte window: trimmed to the window. */
    psend(&e, SL_TCP_ACK, d + 2920, 1460);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 4096, 0);
    ck_assert_uint_eq(a.window, 0);
    /* Wholly beyond a zero window: unacceptable, ACK, dropped. */
    uint64_t un = cnt(&e, SL_CNT_TCP_DROP_UNACCEPTABLE);
    tu_seg s = pseg(&e, SL_TCP_ACK, base + 4096, e.pack, d + 4096, 100);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 4096, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_UNACCEPTABLE), un + 1);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 4096);
    ck_assert_mem_eq(r, d, 4096);
    /* Reading opened the window: a window update goes out. */
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, base + 4096, 0);
    ck_assert_uint_eq(a.window, 4096);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Unacceptable segments, RST, SYN, bad ACKs                              */
/* ====================================================================== */

START_TEST(unacceptable_seq)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    uint8_t d[100] = {0};
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq + 200000, e.pack, d, 100);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    s = pseg(&e, SL_TCP_ACK, e.pseq - 100000, e.pack, d, 100);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_UNACCEPTABLE), 2);
    /* An unacceptable RST is dropped silently. */
    s = pseg(&e, SL_TCP_RST, e.pseq + 200000, 0, NULL, 0);
    inject(&e, &s);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(info(&e).readable, 0);
    env_fini(&e);
}
END_TEST

START_TEST(rst_exact)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    est_default(&e);
    rst_at_rcv_nxt(&e);
    ck_assert(tr_seen(&e, SL_TCP_ESTABLISHED, SL_TCP_CLOSED));
    uint8_t b[4];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), SL_ERR_RESET);
    ck_assert_int_eq(wr(&e, b, 4), SL_ERR_RESET);
    /* The tuple is gone: a segment to it gets a RST. */
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq, e.pack, NULL, 0);
    inject(&e, &s);
    tu_seg r = one(&e);
    chk(&r, SL_TCP_RST, e.pack, 0, 0);
    env_fini(&e);
}
END_TEST

START_TEST(rst_unread_data_kept)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    static const uint8_t d[5] = "hello";
    psend(&e, SL_TCP_ACK, d, 5);
    psend(&e, SL_TCP_RST, NULL, 0);
    poll_now(&e);
    uint8_t b[16];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), 5);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), SL_ERR_RESET);
    env_fini(&e);
}
END_TEST

START_TEST(rst_in_window_challenge)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    tu_seg s = pseg(&e, SL_TCP_RST, e.pseq + 10, 0, NULL, 0);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), 1);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ev_none(&e);
    /* RST,ACK in window, not exact: the same. */
    s = pseg(&e, SL_TCP_RST | SL_TCP_ACK, e.pseq + 1, e.pack, NULL, 0);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    /* The connection still carries data. */
    static const uint8_t d[3] = "abc";
    psend(&e, SL_TCP_ACK, d, 3);
    ev_expect(&e, SL_EV_READABLE);
    env_fini(&e);
}
END_TEST

START_TEST(syn_in_established)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    tu_seg s = pseg(&e, SL_TCP_SYN, e.pseq + 5, 0, NULL, 0);
    s.o = syn_opts(1460, -1, false, false);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), 1);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    /* A retransmitted SYN (old seq): ACKed too, connection survives. */
    s = pseg(&e, SL_TCP_SYN, e.irs, 0, NULL, 0);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

START_TEST(ack_above_snd_max)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    static const uint8_t d[4] = "data";
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq, e.iss + 1000, d, 4);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0); /* data not taken */
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_BAD_ACK), 1);
    ck_assert_uint_eq(info(&e).readable, 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

START_TEST(challenge_rate_limit)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_uint_eq(rst_flood(&e, 150, 1 * MS), 100); /* 150 ms in all */
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), 100);
    e.now += 1 * SEC;
    tu_seg s = pseg(&e, SL_TCP_RST, e.pseq + 1, 0, NULL, 0);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Close                                                                  */
/* ====================================================================== */

START_TEST(close_we_first)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    ck_assert_int_eq(state(&e), SL_TCP_FIN_WAIT_1);
    ck_assert_int_eq(wr(&e, (const uint8_t *)"x", 1), SL_ERR_CLOSED);
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 1, e.pseq, 0);
    pack_to(&e, e.iss + 2);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_FIN_WAIT_2);
    /* Half-close: we still receive. */
    static const uint8_t d[6] = "still";
    psend(&e, SL_TCP_ACK, d, 6);
    ev_expect(&e, SL_EV_READABLE);
    e.pack = e.iss + 2;
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 2, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    ev_expect(&e, SL_EV_PEER_FIN);
    uint8_t b[16];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), 6);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), 0);
    sl_time tw = e.now;
    /* A retransmitted FIN in TIME-WAIT is ACKed again. */
    at(&e, tw + 10 * SEC);
    tu_seg s = pseg(&e, SL_TCP_ACK | SL_TCP_FIN, e.pseq - 1, e.pack, NULL, 0);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 2, e.pseq, 0);
    at(&e, tw + e.cfg.tcp_time_wait - 1);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    ev_none(&e);
    at(&e, tw + e.cfg.tcp_time_wait + 10 * SEC);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    ev_expect(&e, SL_EV_CLOSED);
    ck_assert_uint_eq(nout(&e), 0);
    static const sl_tcp_state path[] = {SL_TCP_CLOSED,     SL_TCP_SYN_RECEIVED, SL_TCP_ESTABLISHED,
                                        SL_TCP_FIN_WAIT_1, SL_TCP_FIN_WAIT_2,   SL_TCP_TIME_WAIT,
                                        SL_TCP_CLOSED};
    ck_assert_uint_eq(e.ntr, 6);
    for (size_t k = 0; k < 6; k++) {
        ck_assert_int_eq(e.tr[k].from, path[k]);
        ck_assert_int_eq(e.tr[k].to, path[k + 1]);
    }
    env_fini(&e);
}
END_TEST

START_TEST(close_peer_first)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    tu_seg a = one(&e); /* a FIN is ACKed at once */
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSE_WAIT);
    ev_expect(&e, SL_EV_PEER_FIN);
    uint8_t b[8];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, sizeof b), 0);
    /* We can still write. */
    static const uint8_t d[5] = "reply";
    ck_assert_int_eq(wr(&e, d, 5), 5);
    tu_seg s = one(&e);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 5);
    pack_to(&e, e.iss + 6);
    none(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    ck_assert_int_eq(state(&e), SL_TCP_LAST_ACK);
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 6, e.pseq, 0);
    pack_to(&e, e.iss + 7);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    ev_expect(&e, SL_EV_CLOSED);
    ck_assert(tr_seen(&e, SL_TCP_CLOSE_WAIT, SL_TCP_LAST_ACK));
    ck_assert(tr_seen(&e, SL_TCP_LAST_ACK, SL_TCP_CLOSED));
    ck_assert_int_eq(info(&e).error, SL_OK);
    env_fini(&e);
}
END_TEST

START_TEST(close_simultaneous)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 1, e.pseq, 0);
    /* The peer's FIN crosses ours: it does not ACK our FIN. */
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 2, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSING);
    pack_to(&e, e.iss + 2);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    ck_assert(tr_seen(&e, SL_TCP_FIN_WAIT_1, SL_TCP_CLOSING));
    ck_assert(tr_seen(&e, SL_TCP_CLOSING, SL_TCP_TIME_WAIT));
    at(&e, e.now + e.cfg.tcp_time_wait + TICK);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    env_fini(&e);
}
END_TEST

START_TEST(close_fin_acks_fin)
{
    /* FIN-WAIT-1 and a FIN that also ACKs ours: straight to TIME-WAIT. */
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    (void)one(&e);
    e.pack = e.iss + 2;
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 2, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    env_fini(&e);
}
END_TEST

START_TEST(timewait_new_syn)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    (void)one(&e);
    e.pack = e.iss + 2;
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    (void)one(&e);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    (void)su_drain_events(e.s);
    sl_stream old = e.h;
    /* A SYN with a lower sequence number does not reopen. */
    tu_seg s = pseg(&e, SL_TCP_SYN, e.pseq - 100, 0, NULL, 0);
    s.o = syn_opts(1460, -1, false, false);
    inject(&e, &s);
    poll_now(&e);
    clear(&e);
    ck_assert_int_eq(state(&e), SL_TCP_TIME_WAIT);
    /* A higher one does (RFC 9293 §3.10.7.4, RFC 6191). */
    e.irs = e.pseq + 100000;
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    sl_stream_info i;
    ck_assert_int_eq(sl_stream_info_get(e.s, old, &i), SL_OK);
    ck_assert_int_eq(i.state, SL_TCP_CLOSED);
    ev_find(&e, SL_EV_CLOSED);
    e.iss = sa.seq;
    e.pack = sa.seq + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    sl_event ev = ev_find(&e, SL_EV_STREAM_NEW);
    ck_assert(ev.stream.idx != old.idx || ev.stream.gen != old.gen);
    e.h = ev.stream;
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

START_TEST(close_unread_rst)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    static const uint8_t d[7] = "unread";
    ck_assert_int_eq(wr(&e, d, 7), 7);
    (void)one(&e);
    pack_to(&e, e.iss + 8);
    psend(&e, SL_TCP_ACK, d, 7);
    poll_now(&e);
    clear(&e);
    ck_assert_int_eq(sl_stream_close(e.s, e.h), SL_OK);
    tu_seg r = one(&e);
    chk(&r, SL_TCP_RST | SL_TCP_ACK, e.iss + 8, e.pseq, 0);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_TX), 1);
    env_fini(&e);
}
END_TEST

START_TEST(data_after_close_rst)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_close(e.s, e.h), SL_OK);
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 1, e.pseq, 0);
    static const uint8_t d[4] = "late";
    psend(&e, SL_TCP_ACK, d, 4);
    tu_seg r = one(&e);
    ck_assert(r.flags & SL_TCP_RST);
    ck_assert_uint_eq(r.seq, e.iss + 2);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DATA_AFTER_CLOSE), 1);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    env_fini(&e);
}
END_TEST

START_TEST(abort_rst)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    uint8_t d[300];
    su_fill(d, sizeof d, 5);
    ck_assert_int_eq(wr(&e, d, 300), 300);
    (void)one(&e);
    pack_to(&e, e.iss + 101); /* 200 bytes still in flight */
    none(&e);
    ck_assert_int_eq(sl_stream_abort(e.s, e.h), SL_OK);
    tu_seg r = one(&e);
    /* <SEQ=SND.NXT><CTL=RST> */
    ck_assert(r.flags & SL_TCP_RST);
    ck_assert_uint_eq(r.seq, e.iss + 301);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    ck_assert(ev_has(&e, SL_EV_CLOSED));
    ck_assert_int_eq(wr(&e, d, 1), SL_ERR_CLOSED);
    none(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Retransmission                                                         */
/* ====================================================================== */

START_TEST(rto_backoff)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_active_default(&e);
    sl_time rto = info(&e).rto_us; /* rto_initial, or from the handshake */
    ck_assert_uint_ge(rto, e.cfg.tcp_rto_min);
    ck_assert_uint_le(rto, e.cfg.tcp_rto_initial);
    uint8_t d[1460];
    su_fill(d, sizeof d, 11);
    ck_assert_int_eq(wr(&e, d, 1460), 1460);
    sl_time prev = e.now;
    tu_seg s = one(&e);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 1460);
    for (int k = 0; k < 4; k++) {
        sl_time when = run_to_output(&e, prev + rto + TICK);
        ck_assert_msg(nout(&e) == 1, "retransmission %d: %zu segments", k, nout(&e));
        ck_assert_uint_ge(when, prev + rto);
        ck_assert_uint_le(when, prev + rto + TICK);
        s = out(&e, 0);
        chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 1460);
        ck_assert_mem_eq(s.payload, d, 1460);
        clear(&e);
        prev = when;
        rto *= 2;
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RETRANSMIT), 4);
    ck_assert_uint_eq(info(&e).retransmits, 4);
    ck_assert_uint_eq(info(&e).rto_us, rto);
    ck_assert_uint_eq(info(&e).cwnd, 1460); /* loss window */
    pack_to(&e, e.iss + 1461);
    none(&e);
    at(&e, prev + 10 * rto);
    ck_assert_uint_eq(nout(&e), 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

/* A sub-MSS segment is retransmitted too (Nagle holds new data only). */
START_TEST(rto_small_segment)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_active_default(&e);
    static const uint8_t d[5] = "hello";
    ck_assert_int_eq(wr(&e, d, 5), 5);
    sl_time t0 = e.now;
    tu_seg s = one(&e);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 5);
    at(&e, t0 + info(&e).rto_us + TICK);
    ck_assert_msg(nout(&e) == 1, "RTO fired but %zu segments were retransmitted", nout(&e));
    s = out(&e, 0);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 5);
    env_fini(&e);
}
END_TEST

START_TEST(karn)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_active_default(&e);
    sl_stream_info i0 = info(&e);
    uint8_t d[1460] = {0};
    ck_assert_int_eq(wr(&e, d, 1460), 1460);
    sl_time t0 = e.now;
    (void)one(&e);
    at(&e, t0 + i0.rto_us + TICK);
    ck_assert_uint_eq(nout(&e), 1);
    clear(&e);
    e.now = t0 + i0.rto_us + 300 * MS;
    pack_to(&e, e.iss + 1461);
    none(&e);
    /* Ambiguous: no sample from a retransmitted segment. */
    ck_assert_uint_eq(info(&e).srtt_us, i0.srtt_us);
    /* A clean exchange gives one (RFC 6298 §2.2/2.3). */
    ck_assert_int_eq(wr(&e, d, 1460), 1460);
    (void)one(&e);
    e.now += 50 * MS;
    pack_to(&e, e.iss + 2921);
    none(&e);
    uint32_t want = i0.srtt_us == 0 ? 50000u : i0.srtt_us - i0.srtt_us / 8 + 50000u / 8;
    ck_assert_uint_eq(info(&e).srtt_us, want);
    env_fini(&e);
}
END_TEST

START_TEST(max_retries_timeout)
{
    env e;
    env_init(&e, 4);
    e.cfg.tcp_max_retries = 3;
    env_start(&e);
    est_active_default(&e);
    uint8_t d[1460] = {0};
    ck_assert_int_eq(wr(&e, d, 1460), 1460);
    sl_time prev = e.now;
    (void)one(&e);
    /* Retransmissions after 1, 2, 4 RTOs; give up 8 RTOs after the last. */
    sl_time rto = info(&e).rto_us;
    for (int k = 0; k < 3; k++) {
        sl_time when = run_to_output(&e, prev + rto + TICK);
        ck_assert_uint_eq(nout(&e), 1);
        ck_assert_uint_ge(when, prev + rto);
        clear(&e);
        prev = when;
        rto *= 2;
    }
    ev_none(&e);
    at(&e, prev + rto - 1);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ev_none(&e);
    at(&e, prev + rto + TICK);
    ck_assert_uint_eq(nout(&e), 0);
    sl_event ev = ev_expect(&e, SL_EV_ERROR);
    ck_assert_int_eq(ev.error, SL_ERR_TIMEDOUT);
    ev_expect(&e, SL_EV_CLOSED);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_TIMEOUT), 1);
    uint8_t b[4];
    ck_assert_int_eq(sl_stream_read(e.s, e.h, b, 4), SL_ERR_TIMEDOUT);
    env_fini(&e);
}
END_TEST

START_TEST(syn_retries)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    tu_seg syn = connect_syn(&e);
    sl_time prev = e.now, rto = e.cfg.tcp_rto_initial;
    for (size_t k = 0; k < 5; k++) {
        sl_time when = run_to_output(&e, prev + rto + TICK);
        ck_assert_uint_eq(nout(&e), 1);
        ck_assert_uint_ge(when, prev + rto);
        ck_assert_uint_le(when, prev + rto + TICK);
        tu_seg s = out(&e, 0);
        chk(&s, SL_TCP_SYN, syn.seq, 0, 0);
        ck_assert(s.o.has_mss);
        clear(&e);
        prev = when;
        rto *= 2;
    }
    ev_none(&e);
    at(&e, prev + rto - 1);
    ev_none(&e);
    at(&e, prev + rto + TICK);
    ck_assert_uint_eq(nout(&e), 0);
    sl_event ev = ev_expect(&e, SL_EV_ERROR);
    ck_assert_int_eq(ev.error, SL_ERR_TIMEDOUT);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    env_fini(&e);
}
END_TEST

START_TEST(synack_retries_silent)
{
    /* A half-open passive connection gives up silently (no event). */
    env e;
    env_init(&e, 4);
    env_start(&e);
    sl_time t0 = e.now;
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    at(&e, t0 + 1 * SEC - 1);
    ck_assert_uint_eq(nout(&e), 0);
    at(&e, t0 + 1 * SEC + TICK);
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg r = out(&e, 0);
    chk(&r, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    clear(&e);
    run_until(&e, t0 + 63 * SEC + 8 * TICK);
    ck_assert_uint_eq(nout(&e), 4); /* after 3, 7, 15, 31 s; give up at 63 */
    clear(&e);
    ev_none(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_TIMEOUT), 1);
    /* The tuple is free again. */
    e.irs += 7777;
    r = send_syn(&e, &o);
    chk(&r, SL_TCP_SYN | SL_TCP_ACK, r.seq, e.irs + 1, 0);
    env_fini(&e);
}
END_TEST

/* Peer MSS 536: initial window 4 segments. */
static void fill_flight(env *e, uint8_t *d, size_t segs)
{
    sl_tcp_opts o = syn_opts(536, 0, true, false);
    (void)est_passive(e, &o);
    su_fill(d, segs * 536, 13);
    ck_assert_int_eq(wr(e, d, segs * 536), (long)(segs * 536));
    poll_now(e);
    ck_assert_uint_eq(nout(e), 4);
    for (size_t k = 0; k < 4; k++) {
        tu_seg s = out(e, k);
        ck_assert_uint_eq(s.seq, e->iss + 1 + 536 * k);
        ck_assert_uint_eq(s.len, 536);
    }
    clear(e);
}

START_TEST(fast_retransmit)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    uint8_t d[536 * 4];
    fill_flight(&e, d, 4);
    for (int k = 0; k < 2; k++) {
        pack_to(&e, e.iss + 1);
        none(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_FAST_RETRANSMIT), 0);
    pack_to(&e, e.iss + 1);
    poll_now(&e);
    ck_assert_uint_ge(nout(&e), 1);
    tu_seg s = out(&e, 0);
    chk(&s, SL_TCP_ACK, e.iss + 1, e.pseq, 536);
    ck_assert_mem_eq(s.payload, d, 536);
    clear(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_FAST_RETRANSMIT), 1);
    ck_assert_uint_eq(info(&e).ssthresh, 2 * 536);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RETRANSMIT), 0);
    env_fini(&e);
}
END_TEST

START_TEST(fast_retransmit_sack)
{
    /* Duplicate ACKs SACKing segments 2..4: only segment 1 goes again. */
    env e;
    env_init(&e, 4);
    env_start(&e);
    uint8_t d[536 * 4];
    fill_flight(&e, d, 4);
    for (uint32_t k = 0; k < 3; k++) {
        tu_seg a = pseg(&e, SL_TCP_ACK, e.pseq, e.iss + 1, NULL, 0);
        a.o.n_sack = 1;
        a.o.sack[0].left = e.iss + 1 + 536;
        a.o.sack[0].right = e.iss + 1 + 536 * (2 + k);
        inject(&e, &a);
        poll_now(&e);
        if (k < 2) {
            ck_assert_uint_eq(nout(&e), 0);
        }
    }
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg s = out(&e, 0);
    s.flags &= (uint8_t)~SL_TCP_PSH; /* PSH on a retransmission: either way */
    chk(&s, SL_TCP_ACK, e.iss + 1, e.pseq, 536);
    ck_assert_mem_eq(s.payload, d, 536);
    clear(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_FAST_RETRANSMIT), 1);
    /* The hole filled: everything acknowledged, nothing more sent. */
    pack_to(&e, e.iss + 1 + 4 * 536);
    none(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    env_fini(&e);
}
END_TEST

START_TEST(newreno_partial_ack)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    uint8_t d[536 * 4];
    fill_flight(&e, d, 4);
    for (int k = 0; k < 3; k++)
        pack_to(&e, e.iss + 1);
    poll_now(&e);
    clear(&e);
    /* Partial ACK (segment 1 only): the next hole goes at once. */
    pack_to(&e, e.iss + 1 + 536);
    poll_now(&e);
    ck_assert_uint_ge(nout(&e), 1);
    tu_seg s = out(&e, 0);
    chk(&s, SL_TCP_ACK, e.iss + 1 + 536, e.pseq, 536);
    ck_assert_mem_eq(s.payload, d + 536, 536);
    clear(&e);
    /* Full ACK: recovery over, cwnd deflated to at most ssthresh + MSS. */
    pack_to(&e, e.iss + 1 + 4 * 536);
    poll_now(&e);
    clear(&e);
    sl_stream_info i = info(&e);
    ck_assert_uint_eq(i.unacked, 0);
    ck_assert_uint_le(i.cwnd, i.ssthresh + 536);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Zero window, persist, keep-alive                                       */
/* ====================================================================== */

START_TEST(zero_window_persist)
{
    env e;
    env_init(&e, 4);
    e.counting = true;
    env_start(&e);
    est_active_default(&e);
    e.pwin = 0;
    pack_to(&e, e.iss + 1);
    none(&e);
    uint8_t d[1000];
    su_fill(d, sizeof d, 17);
    ck_assert_int_eq(wr(&e, d, 1000), 1000);
    none(&e);
    sl_time t0 = e.now, last = t0;
    sl_time prev_gap = 0;
    size_t probes = 0;
    size_t mem_after = 0;
    uint64_t ev_count = 0;
    while (e.now < t0 + 3600 * SEC) {
        (void)run_to_output(&e, t0 + 3600 * SEC);
        ev_count += su_drain_events(e.s);
        if (nout(&e) == 0)
            break;
        ck_assert_uint_eq(nout(&e), 1);
        tu_seg p = out(&e, 0);
        /* One byte at SND.UNA. */
        chk(&p, SL_TCP_ACK, e.iss + 1, e.pseq, 1);
        ck_assert_uint_eq(p.payload[0], d[0]);
        clear(&e);
        sl_time gap = e.now - last;
        if (probes == 0)
            ck_assert_uint_ge(gap, e.cfg.tcp_rto_min);
        ck_assert_uint_ge(gap + TICK, prev_gap);
        ck_assert_uint_le(gap, e.cfg.tcp_rto_max + TICK);
        prev_gap = gap;
        last = e.now;
        probes++;
        /* The peer still has no room: ACK without taking the byte. */
        pack_to(&e, e.iss + 1);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 0);
        if (probes == 10) {
            mem_after = mem_in_use(&e);
        } else if (probes > 10) {
            ck_assert_uint_eq(mem_in_use(&e), mem_after);
        }
    }
    ck_assert_uint_ge(prev_gap, e.cfg.tcp_rto_max);
    ck_assert_uint_ge(probes, 55);
    ck_assert_uint_le(probes, 70);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(ev_count, 0);
    /* The window opens: the data flows. */
    e.pwin = 65535;
    pack_to(&e, e.iss + 1);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg s = out(&e, 0);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 1000);
    ck_assert_mem_eq(s.payload, d, 1000);
    clear(&e);
    pack_to(&e, e.iss + 1001);
    none(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    env_fini(&e);
}
END_TEST

START_TEST(zero_window_probe_accepted)
{
    /* The peer takes the probe byte and opens: the rest follows. */
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_active_default(&e);
    e.pwin = 0;
    pack_to(&e, e.iss + 1);
    uint8_t d[100];
    su_fill(d, sizeof d, 19);
    ck_assert_int_eq(wr(&e, d, 100), 100);
    none(&e);
    at(&e, e.now + info(&e).rto_us + TICK);
    tu_seg p = one(&e);
    chk(&p, SL_TCP_ACK, e.iss + 1, e.pseq, 1);
    e.pwin = 1000;
    pack_to(&e, e.iss + 2);
    tu_seg s = one(&e);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 2, e.pseq, 99);
    ck_assert_mem_eq(s.payload, d + 1, 99);
    pack_to(&e, e.iss + 101);
    none(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    env_fini(&e);
}
END_TEST

START_TEST(keepalive)
{
    env e;
    env_init(&e, 4);
    e.cfg.tcp_keepalive_idle = 10 * SEC;
    e.cfg.tcp_keepalive_intvl = 5 * SEC;
    e.cfg.tcp_keepalive_probes = 3;
    env_start(&e);
    est_default(&e);
    sl_time t0 = e.now;
    at(&e, t0 + 10 * SEC - 1);
    ck_assert_uint_eq(nout(&e), 0);
    at(&e, t0 + 10 * SEC + TICK);
    tu_seg k = one(&e);
    chk(&k, SL_TCP_ACK, e.iss, e.pseq, 0); /* SND.UNA - 1 */
    /* Answered: idle again. */
    pack_to(&e, e.iss + 1);
    sl_time t1 = e.now;
    none(&e);
    at(&e, t1 + 10 * SEC - 1);
    ck_assert_uint_eq(nout(&e), 0);
    /* Unanswered: probes after 10 s idle, then every 5 s; three unanswered
     * probes end it 5 s after the last. */
    sl_time prev = t1, gap = 10 * SEC;
    for (int n = 0; n < 3; n++) {
        sl_time when = run_to_output(&e, prev + gap + TICK);
        ck_assert_uint_eq(nout(&e), 1);
        ck_assert_uint_ge(when, prev + gap);
        k = out(&e, 0);
        chk(&k, SL_TCP_ACK, e.iss, e.pseq, 0);
        clear(&e);
        ev_none(&e);
        prev = when;
        gap = 5 * SEC;
    }
    at(&e, prev + 5 * SEC - 1);
    ev_none(&e);
    at(&e, prev + 5 * SEC + TICK);
    ck_assert_uint_eq(nout(&e), 0);
    sl_event ev = ev_expect(&e, SL_EV_ERROR);
    ck_assert_int_eq(ev.error, SL_ERR_TIMEDOUT);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    env_fini(&e);
}
END_TEST

START_TEST(keepalive_off_by_default)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_uint_eq(sl_poll(e.s, e.now), SL_TIME_NEVER);
    at(&e, e.now + 3 * 3600 * SEC);
    ck_assert_uint_eq(nout(&e), 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

/* Per-stream options: keep-alive turned on for one stream (the config's
 * idle time 0 means RFC 1122's 2 hours), and buffer sizes. */
START_TEST(stream_keepalive_option)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_set_keepalive(e.s, e.h, true), SL_OK);
    sl_time t0 = e.now;
    at(&e, t0 + 2 * 3600 * SEC - SEC);
    ck_assert_uint_eq(nout(&e), 0);
    at(&e, t0 + 2 * 3600 * SEC + TICK);
    tu_seg k = one(&e);
    chk(&k, SL_TCP_ACK, e.iss, e.pseq, 0); /* SND.UNA - 1 */
    ck_assert_int_eq(sl_stream_set_keepalive(e.s, e.h, false), SL_OK);
    sl_stream bad = {0, 0};
    ck_assert_int_eq(sl_stream_set_keepalive(e.s, bad, true), SL_ERR_STALE);
    env_fini(&e);
}
END_TEST

START_TEST(stream_buffer_option)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_set_buffers(e.s, e.h, 100, 0), SL_ERR_INVAL);
    ck_assert_int_eq(sl_stream_set_buffers(e.s, e.h, 0, (1u << 30) + 1), SL_ERR_INVAL);
    ck_assert_int_eq(sl_stream_set_buffers(e.s, e.h, 8192, 4096), SL_OK);
    sl_stream_info i;
    ck_assert_int_eq(sl_stream_info_get(e.s, e.h, &i), SL_OK);
    ck_assert_uint_eq(i.send_space, 4096);
    /* Only 4096 bytes fit now; then the send buffer holds data. */
    static uint8_t big[10000];
    ck_assert_int_eq(sl_stream_write(e.s, e.h, big, sizeof big), 4096);
    ck_assert_int_eq(sl_stream_set_buffers(e.s, e.h, 0, 8192), SL_ERR_STATE);
    sl_stream bad = {0, 0};
    ck_assert_int_eq(sl_stream_set_buffers(e.s, bad, 0, 8192), SL_ERR_STALE);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* PAWS and timestamps                                                    */
/* ====================================================================== */

START_TEST(paws)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, 0, true, true);
    est_active(&e, &o);
    static const uint8_t d[8] = "abcdefgh";
    e.tsval = 5000;
    psend(&e, SL_TCP_ACK, d, 4);
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert(a.o.has_ts);
    ck_assert_uint_eq(a.o.ts_ecr, 5000); /* TSecr = the last TSval */
    /* An older TSval: dropped (PAWS), ACKed. */
    e.tsval = 4000;
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq, e.pack, d + 4, 4);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(a.o.ts_ecr, 5000);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_PAWS), 1);
    ck_assert_uint_eq(info(&e).readable, 4);
    /* Newer again: taken. */
    e.tsval = 6000;
    psend(&e, SL_TCP_ACK, d + 4, 4);
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(a.o.ts_ecr, 6000);
    ck_assert_uint_eq(info(&e).readable, 8);
    /* Our TSval is a clock: it grows with time. */
    uint32_t v0 = a.o.ts_val;
    e.now += 2 * SEC;
    ck_assert_int_eq(wr(&e, d, 1), 1);
    tu_seg w = one(&e);
    ck_assert(w.o.has_ts);
    ck_assert_uint_eq(w.o.ts_ecr, 6000);
    ck_assert_uint_eq(w.o.ts_val - v0, 2000);
    /* RTT from the echo: 30 ms (RFC 7323 §4.1, RFC 6298 §2). */
    uint32_t srtt0 = info(&e).srtt_us;
    e.now += 30 * MS;
    pack_to(&e, e.iss + 2);
    none(&e);
    uint32_t want = srtt0 == 0 ? 30000u : srtt0 - srtt0 / 8 + 30000u / 8;
    ck_assert_uint_eq(info(&e).srtt_us, want);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* SYN cookies                                                            */
/* ====================================================================== */

START_TEST(cookie_ok)
{
    env e;
    env_init(&e, _i == 0 ? 4 : 6);
    e.cfg.tcp_backlog = 0;
    env_start(&e);
    sl_tcp_opts o = syn_opts(1300, 9, true, true);
    tu_seg sa = send_syn(&e, &o);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, e.irs + 1, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_SENT), 1);
    ck_assert_uint_eq(e.ntr, 0); /* no state kept */
    ck_assert(sa.o.has_mss);
    ck_assert_uint_eq(sa.o.mss, our_mss(&e));
    ck_assert(sa.o.has_wscale);
    ck_assert(sa.o.sack_perm);
    ck_assert(sa.o.has_ts);
    ck_assert_uint_eq(sa.o.ts_ecr, 1000);
    ck_assert_uint_eq(sa.window, 65535);
    none(&e); /* no retransmission state either */
    at(&e, e.now + 5 * SEC);
    ck_assert_uint_eq(nout(&e), 0);
    e.iss = sa.seq;
    e.pack = sa.seq + 1;
    static const uint8_t d[5] = "hello";
    psend(&e, SL_TCP_ACK | SL_TCP_PSH, d, 5);
    sl_event ev = ev_find(&e, SL_EV_STREAM_NEW);
    e.h = ev.stream;
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_OK), 1);
    sl_stream_info i = info(&e);
    ck_assert_int_eq(i.state, SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(i.mss, 1220); /* the table's largest <= 1300 */
    ck_assert_uint_eq(i.snd_wscale, 9);
    ck_assert(i.sack);
    ck_assert(i.timestamps);
    ck_assert_uint_eq(i.readable, 5);
    /* The connection works: our data, their ACK. */
    ck_assert_int_eq(wr(&e, d, 5), 5);
    poll_now(&e);
    size_t n = nout(&e);
    ck_assert_uint_ge(n, 1);
    tu_seg s = out(&e, n - 1);
    chk(&s, SL_TCP_ACK | SL_TCP_PSH, e.iss + 1, e.pseq, 5);
    ck_assert(s.o.has_ts);
    clear(&e);
    env_fini(&e);
}
END_TEST

START_TEST(cookie_bad)
{
    env e;
    env_init(&e, 4);
    e.cfg.tcp_backlog = 0;
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    tu_seg s = pseg(&e, SL_TCP_ACK, e.irs + 1, sa.seq + 2, NULL, 0);
    inject(&e, &s);
    tu_seg r = one(&e);
    chk(&r, SL_TCP_RST, sa.seq + 2, 0, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_BAD), 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_OK), 0);
    /* The right ACK from another peer sequence number: bad too. */
    s = pseg(&e, SL_TCP_ACK, e.irs + 2, sa.seq + 1, NULL, 0);
    inject(&e, &s);
    r = one(&e);
    chk(&r, SL_TCP_RST, sa.seq + 1, 0, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_BAD), 2);
    /* Too late (> 128 s): bad. */
    at(&e, e.now + 200 * SEC);
    s = pseg(&e, SL_TCP_ACK, e.irs + 1, sa.seq + 1, NULL, 0);
    inject(&e, &s);
    r = one(&e);
    chk(&r, SL_TCP_RST, sa.seq + 1, 0, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_BAD), 3);
    ev_none(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* ICMP errors (RFC 5927)                                                 */
/* ====================================================================== */

static void icmp_in(env *e, const uint8_t *orig, size_t olen, size_t qlen, uint8_t type,
                    uint8_t code, uint32_t rest)
{
    uint8_t pkt[2000];
    sl_addr router = su_addr(e->fam == 4 ? "198.18.99.1" : "2001:2::99:1");
    size_t n = tu_icmp_err(pkt, sizeof pkt, &router, orig, olen, qlen, type, code, rest);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(sl_input(e->s, pkt, n, e->now), SL_OK);
}

START_TEST(icmp_syn_sent)
{
    int fam = _i < 2 ? 4 : 6;
    bool port = (_i & 1) == 0;
    env e;
    env_init(&e, fam);
    env_start(&e);
    sl_endpoint l = e.local;
    l.port = 0;
    ck_assert_int_eq(sl_stream_connect(e.s, &l, &e.peer, NULL, &e.h), SL_OK);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    uint8_t syn[200];
    size_t slen = 0;
    memcpy(syn, su_cap_pkt(e.cap, 0, &slen), e.cap->pkts[0].len);
    clear(&e);
    size_t q = fam == 4 ? 28u : 48u;
    /* Quoting a sequence number we never sent: ignored. */
    uint8_t bad[200];
    memcpy(bad, syn, slen);
    size_t off = fam == 4 ? 20u : 40u;
    sl_store32(bad + off + 4, sl_load32(syn + off + 4) + 100);
    uint64_t nf = cnt(&e, SL_CNT_ICMP_ERR_NO_FLOW);
    icmp_in(&e, bad, slen, q, fam == 4 ? 3 : 1, fam == 4 ? 3 : 4, 0);
    none(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_NO_FLOW), nf + 1);
    ck_assert_int_eq(state(&e), SL_TCP_SYN_SENT);
    ev_none(&e);
    /* Quoting our SYN: the open fails. */
    if (port)
        icmp_in(&e, syn, slen, q, fam == 4 ? 3 : 1, fam == 4 ? 3 : 4, 0);
    else
        icmp_in(&e, syn, slen, q, fam == 4 ? 3 : 1, fam == 4 ? 1 : 3, 0);
    none(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_DELIVERED), 1);
    sl_event ev = ev_expect(&e, SL_EV_ERROR);
    ck_assert_int_eq(ev.error, port ? SL_ERR_REFUSED : SL_ERR_UNREACH);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);
    env_fini(&e);
}
END_TEST

START_TEST(icmp_too_big)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    env_init(&e, fam);
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, 0, false, false);
    (void)est_passive(&e, &o);
    uint16_t mss = info(&e).mss;
    ck_assert_uint_eq(mss, our_mss(&e));
    static uint8_t d[3 * 1460];
    su_fill(d, sizeof d, 23);
    ck_assert_int_eq(wr(&e, d, 3u * mss), 3 * (long)mss);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 3);
    uint8_t first[1600];
    size_t flen = 0;
    const uint8_t *p = su_cap_pkt(e.cap, 0, &flen);
    memcpy(first, p, flen);
    ck_assert_uint_eq(flen, (size_t)e.cfg.mtu);
    clear(&e);
    /* v4 "fragmentation needed" (3/4, MTU in the low 16 bits); v6 Packet
     * Too Big (2/0) at the IPv6 minimum. */
    uint32_t mtu = fam == 4 ? 1000u : 1280u;
    icmp_in(&e, first, flen, fam == 4 ? 28u : 1232u, fam == 4 ? 3 : 2, fam == 4 ? 4 : 0, mtu);
    uint16_t want = (uint16_t)(mtu - (fam == 4 ? 40u : 60u));
    ck_assert_uint_eq(info(&e).mss, want);
    resent_at_mss(&e, e.iss + 1, d, want, mtu);
    ev_none(&e);
    env_fini(&e);
}
END_TEST

START_TEST(icmp_established_soft)
{
    /* Host unreachable in ESTABLISHED: soft, the connection goes on. */
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    uint8_t d[100] = {0};
    ck_assert_int_eq(wr(&e, d, 100), 100);
    poll_now(&e);
    uint8_t seg[200];
    size_t len = 0;
    memcpy(seg, su_cap_pkt(e.cap, 0, &len), e.cap->pkts[0].len);
    clear(&e);
    icmp_in(&e, seg, len, 28, 3, 1, 0);
    none(&e);
    ev_none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    pack_to(&e, e.iss + 101);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Sequence-number wrap                                                   */
/* ====================================================================== */

START_TEST(seq_wrap)
{
    env e;
    env_init(&e, 4);
    e.irs = 0xffffff00u;
    env_start(&e);
    est_default(&e);
    ck_assert_uint_eq(e.pseq, 0xffffff01u);
    uint8_t d[3000], r[4000];
    su_fill(d, sizeof d, 29);
    /* Out of order across the wrap first, then the hole. */
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq + 1000, e.pack, d + 1000, 1000);
    inject(&e, &s);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, 0xffffff01u, 0);
    ck_assert_uint_eq(a.o.n_sack, 1);
    ck_assert_uint_eq(a.o.sack[0].left, 0xffffff01u + 1000u);
    psend(&e, SL_TCP_ACK, d, 1000);
    e.pseq += 1000;
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, 0xffffff01u + 2000u, 0);
    psend(&e, SL_TCP_ACK, d + 2000, 1000);
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, 0xffffff01u + 3001u, 0);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 3000);
    ck_assert_mem_eq(r, d, 3000);
    ck_assert_int_eq(sl_stream_read(e.s, e.h, r, sizeof r), 0);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSE_WAIT);
    /* An old segment from before the wrap is still recognised as old. */
    s = pseg(&e, SL_TCP_ACK, 0xffffff01u, e.pack, d, 100);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(info(&e).readable, 0);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* Handles and memory                                                     */
/* ====================================================================== */

START_TEST(stale_handles)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    psend(&e, SL_TCP_RST, NULL, 0);
    poll_now(&e);
    (void)su_drain_events(e.s);
    sl_stream h = e.h;
    ck_assert_int_eq(sl_stream_free(e.s, h), SL_OK);
    uint8_t b[4];
    sl_stream_info i;
    ck_assert_int_eq(sl_stream_read(e.s, h, b, 4), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_write(e.s, h, b, 4), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_shutdown(e.s, h), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_close(e.s, h), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_abort(e.s, h), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_info_get(e.s, h, &i), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, h, true), SL_ERR_STALE);
    ck_assert_int_eq(sl_stream_set_user(e.s, h, &e), SL_ERR_STALE);
    ck_assert_ptr_null(sl_stream_user(e.s, h));
    ck_assert_int_eq(sl_stream_free(e.s, h), SL_ERR_STALE);
    sl_stream zero = {0, 0};
    ck_assert_int_eq(sl_stream_info_get(e.s, zero, &i), SL_ERR_STALE);
    /* The slot is reused by a new connection: the old handle stays stale. */
    e.irs += 100000;
    est_default(&e);
    ck_assert(e.h.idx != h.idx || e.h.gen != h.gen);
    ck_assert_int_eq(sl_stream_info_get(e.s, h, &i), SL_ERR_STALE);
    env_fini(&e);
}
END_TEST

START_TEST(free_open_fin_wait2)
{
    env e;
    env_init(&e, 4);
    e.counting = true;
    env_start(&e);
    size_t base = mem_in_use(&e);
    est_default(&e);
    static const uint8_t d[10] = "0123456789";
    ck_assert_int_eq(wr(&e, d, 10), 10);
    (void)one(&e);
    size_t ntr = e.ntr;
    ck_assert_int_eq(sl_stream_free(e.s, e.h), SL_OK);
    sl_stream_info i;
    ck_assert_int_eq(sl_stream_info_get(e.s, e.h, &i), SL_ERR_STALE);
    /* Finishes in the background: FIN after the data. */
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 11, e.pseq, 0);
    ck_assert_uint_eq(e.tr[ntr].idx, 0); /* traced as (0, 0) */
    ck_assert_uint_eq(e.tr[ntr].gen, 0);
    ck_assert_int_eq(e.tr[ntr].to, SL_TCP_FIN_WAIT_1);
    pack_to(&e, e.iss + 12);
    none(&e);
    ck_assert(tr_seen(&e, SL_TCP_FIN_WAIT_1, SL_TCP_FIN_WAIT_2));
    sl_time t = e.now;
    at(&e, t + e.cfg.tcp_fin_wait2 - 1);
    ck_assert_uint_gt(mem_in_use(&e), base);
    at(&e, t + e.cfg.tcp_fin_wait2 + TICK);
    ck_assert(tr_seen(&e, SL_TCP_FIN_WAIT_2, SL_TCP_CLOSED));
    ck_assert_uint_eq(mem_in_use(&e), base);
    ev_none(&e);
    /* Any later segment for the tuple gets a RST. */
    pack_to(&e, e.iss + 12);
    tu_seg r = one(&e);
    chk(&r, SL_TCP_RST, e.iss + 12, 0, 0);
    env_fini(&e);
}
END_TEST

START_TEST(free_open_time_wait)
{
    env e;
    env_init(&e, 6);
    e.counting = true;
    env_start(&e);
    size_t base = mem_in_use(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_free(e.s, e.h), SL_OK);
    tu_seg f = one(&e);
    chk(&f, SL_TCP_ACK | SL_TCP_FIN, e.iss + 1, e.pseq, 0);
    e.pack = e.iss + 2;
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    tu_seg a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 2, e.pseq, 0);
    ck_assert(tr_seen(&e, SL_TCP_FIN_WAIT_1, SL_TCP_TIME_WAIT) ||
              tr_seen(&e, SL_TCP_FIN_WAIT_2, SL_TCP_TIME_WAIT));
    at(&e, e.now + e.cfg.tcp_time_wait + TICK);
    ck_assert(tr_seen(&e, SL_TCP_TIME_WAIT, SL_TCP_CLOSED));
    ck_assert_uint_eq(mem_in_use(&e), base);
    ev_none(&e);
    env_fini(&e);
}
END_TEST

START_TEST(free_many_then_stack_free)
{
    /* Open connections in every state when the stack is freed: no leak. */
    env e;
    env_init(&e, 4);
    e.counting = true;
    env_start(&e);
    for (unsigned k = 0; k < 6; k++) {
        (void)su_drain_events(e.s);
        e.peer.port = (uint16_t)(41000 + k);
        e.irs = 0x20000000u + k * 100000u;
        est_default(&e);
        uint8_t d[6000] = {0};
        psend(&e, SL_TCP_ACK, d, 1000 * k);
        ck_assert_int_eq(wr(&e, d, 3000), 3000);
        poll_now(&e);
        clear(&e);
        if (k == 1)
            (void)sl_stream_shutdown(e.s, e.h);
        if (k == 2)
            psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
        if (k == 3)
            (void)sl_stream_free(e.s, e.h);
        if (k == 4)
            (void)sl_stream_abort(e.s, e.h);
        poll_now(&e);
        clear(&e);
    }
    sl_endpoint l = e.local;
    l.port = 0;
    sl_stream h;
    ck_assert_int_eq(sl_stream_connect(e.s, &l, &e.peer, NULL, &h), SL_OK);
    ck_assert_int_eq(sl_stream_listen(e.s, &e.local, NULL), SL_OK);
    poll_now(&e);
    env_fini(&e); /* asserts live == 0 */
}
END_TEST

/* ====================================================================== */
/* Regressions: each test pins a bug (see its comment); they fail until   */
/* the bug is fixed.                                                      */
/* ====================================================================== */


/* BUG 2 (tcp_in.c in_syn_sent): the window of a <SYN,ACK> is shifted by
 * the peer's window scale; RFC 7323 §2.2 says a SYN's window is never
 * scaled.  A peer advertising 1000 bytes (WS 7) is sent 4380 bytes. */
START_TEST(regress_synack_window_scaled)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    e.pwin = 1000;
    sl_tcp_opts o = syn_opts(1460, 7, false, false);
    est_active(&e, &o);
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
    static uint8_t d[4000];
    ck_assert_int_eq(wr(&e, d, sizeof d), 4000);
    poll_now(&e);
    size_t sent = 0;
    for (size_t k = 0; k < nout(&e); k++)
        sent += out(&e, k).len;
    ck_assert_msg(sent <= 1000, "peer's SYN-ACK window was 1000, %zu bytes sent", sent);
    env_fini(&e);
}
END_TEST

/* BUG 3 (tcp_in.c process_ack + tcp_cc.c): fast retransmit and NewReno
 * partial ACKs set snd_nxt = snd_una and let send_data resend everything
 * cwnd allows (go-back-N) instead of the one missing segment (RFC 5681
 * §3.2 step 2, RFC 6582 §3.2 step 4). */
START_TEST(regress_fast_retransmit_one_segment)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    uint8_t d[536 * 4];
    fill_flight(&e, d, 4);
    for (int k = 0; k < 3; k++)
        pack_to(&e, e.iss + 1);
    poll_now(&e);
    ck_assert_msg(nout(&e) == 1, "fast retransmit sent %zu segments, expected 1", nout(&e));
    env_fini(&e);
}
END_TEST

/* BUG 4 (tcp_api.c sl_stream_free): a handle freed when the connection is
 * already in FIN-WAIT-2 (after sl_stream_shutdown) gets no FIN-WAIT-2
 * timer: queue_fin() returns early (FIN already queued) and the
 * tcp_fin_wait2 deadline is only armed on the FIN-WAIT-1 -> FIN-WAIT-2
 * transition of an orphan.  If the peer never closes, the tcb (and its
 * memory) lives forever. */
START_TEST(regress_free_in_fin_wait2)
{
    env e;
    env_init(&e, 4);
    e.counting = true;
    env_start(&e);
    size_t base = mem_in_use(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    (void)one(&e);
    pack_to(&e, e.iss + 2);
    none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_FIN_WAIT_2);
    ck_assert_int_eq(sl_stream_free(e.s, e.h), SL_OK);
    at(&e, e.now + e.cfg.tcp_fin_wait2 + 3600 * SEC);
    ck_assert_msg(mem_in_use(&e) == base, "orphan in FIN-WAIT-2 never freed: %zu bytes held",
                  mem_in_use(&e) - base);
    env_fini(&e);
}
END_TEST

/* BUG 5 (tcp_in.c from_cookie): a connection completed from a SYN cookie
 * ignores the specific listener: new_passive(c, sc, NULL) loses the
 * listener's user pointer (the SYN path passes l->user). */
START_TEST(regress_cookie_listener_user)
{
    env e;
    env_init(&e, 4);
    e.cfg.tcp_backlog = 0;
    env_start(&e);
    int tag = 7;
    ck_assert_int_eq(sl_stream_listen(e.s, &e.local, &tag), SL_OK);
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_COOKIE_SENT), 1);
    e.iss = sa.seq;
    e.pack = sa.seq + 1;
    psend(&e, SL_TCP_ACK, NULL, 0);
    sl_event ev = ev_find(&e, SL_EV_STREAM_NEW);
    ck_assert_ptr_eq(ev.user, &tag);
    env_fini(&e);
}
END_TEST

/* BUG 6 (tcp_in.c in_synchronised/process_fin): a retransmitted FIN in
 * TIME-WAIT fails the sequence check (SEG.SEQ = RCV.NXT - 1) and is
 * answered by the unacceptable-segment ACK; the branch in process_fin that
 * restarts the 2 MSL timer (RFC 9293 §3.10.7.4 eighth step, TIME-WAIT) is
 * unreachable, so TIME-WAIT is never extended. */
START_TEST(regress_timewait_restart)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    ck_assert_int_eq(sl_stream_shutdown(e.s, e.h), SL_OK);
    (void)one(&e);
    e.pack = e.iss + 2;
    psend(&e, SL_TCP_ACK | SL_TCP_FIN, NULL, 0);
    (void)one(&e);
    sl_time tw = e.now;
    at(&e, tw + 30 * SEC);
    tu_seg s = pseg(&e, SL_TCP_ACK | SL_TCP_FIN, e.pseq - 1, e.pack, NULL, 0);
    inject(&e, &s);
    (void)one(&e);
    at(&e, tw + e.cfg.tcp_time_wait + 1 * SEC);
    ck_assert_msg(state(&e) == SL_TCP_TIME_WAIT, "TIME-WAIT not restarted by the FIN");
    env_fini(&e);
}
END_TEST

/* BUG 7 (tcp_in.c process_ack): the ACK of a zero-window probe (ack =
 * SND.UNA, window still 0) counts as a duplicate ACK because the probe
 * byte is "in flight": after three probes the stack enters fast recovery,
 * counts a tcp_fast_retransmit and halves ssthresh, though nothing was
 * lost. */
START_TEST(regress_persist_no_fast_retransmit)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    est_default(&e);
    e.pwin = 0;
    pack_to(&e, e.iss + 1);
    uint8_t d[100] = {0};
    ck_assert_int_eq(wr(&e, d, 100), 100);
    none(&e);
    for (int k = 0; k < 6; k++) {
        sl_time next = sl_poll(e.s, e.now);
        at(&e, next);
        clear(&e);
        pack_to(&e, e.iss + 1);
        poll_now(&e);
        clear(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_FAST_RETRANSMIT), 0);
    ck_assert_uint_eq(info(&e).ssthresh, UINT32_MAX);
    env_fini(&e);
}
END_TEST

/* BUG 8 (tcp_in.c process_ack, SYN-RECEIVED): the handshake RTT sample
 * is c->now - t->rtt_start, but rtt_start is never set when the SYN-ACK is
 * sent (only send_data sets it), so it is 0 and the "RTT" is the time
 * since the clock's epoch (10 s here; with a wall clock, that truncated to
 * 32 bits).  Every passive connection starts with a bogus SRTT and RTO
 * (30 s here instead of 200 ms), so its first loss waits that long. */
START_TEST(regress_passive_rtt_sample)
{
    env e;
    env_init(&e, 4);
    env_start(&e);
    sl_tcp_opts o = syn_opts(1460, -1, false, false);
    tu_seg sa = send_syn(&e, &o);
    e.iss = sa.seq;
    e.pack = sa.seq + 1;
    e.now += 20 * MS;
    psend(&e, SL_TCP_ACK, NULL, 0);
    e.h = ev_find(&e, SL_EV_STREAM_NEW).stream;
    sl_stream_info i = info(&e);
    ck_assert_msg(i.srtt_us == 20000, "handshake RTT 20 ms, srtt_us %u", i.srtt_us);
    ck_assert_uint_eq(i.rto_us, 200000);
    env_fini(&e);
}
END_TEST

static Suite *tcp_state_suite(void)
{
    Suite *s = suite_create("tcp_state");
    TCase *tc = tcase_create("passive");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, passive_open, 0, 2);
    tcase_add_loop_test(tc, passive_open_no_options, 0, 2);
    tcase_add_loop_test(tc, syn_with_data, 0, 2);
    tcase_add_test(tc, syn_mss_clamped);
    tcase_add_test(tc, syn_wscale_clamped);
    tcase_add_loop_test(tc, filter_refuse, 0, 2);
    tcase_add_loop_test(tc, filter_drop, 0, 2);
    tcase_add_test(tc, listener_beats_filter);
    suite_add_tcase(s, tc);

    tc = tcase_create("active");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, active_open, 0, 2);
    tcase_add_test(tc, active_refused);
    tcase_add_test(tc, active_bad_ack);
    tcase_add_test(tc, simultaneous_open);
    suite_add_tcase(s, tc);

    tc = tcase_create("data");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, data_in_order_delack, 0, 2);
    tcase_add_test(tc, data_ooo_sack);
    tcase_add_test(tc, data_beyond_window);
    suite_add_tcase(s, tc);

    tc = tcase_create("unacceptable");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unacceptable_seq);
    tcase_add_loop_test(tc, rst_exact, 0, 2);
    tcase_add_test(tc, rst_unread_data_kept);
    tcase_add_test(tc, rst_in_window_challenge);
    tcase_add_test(tc, syn_in_established);
    tcase_add_test(tc, ack_above_snd_max);
    tcase_add_test(tc, challenge_rate_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("close");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, close_we_first, 0, 2);
    tcase_add_test(tc, close_peer_first);
    tcase_add_test(tc, close_simultaneous);
    tcase_add_test(tc, close_fin_acks_fin);
    tcase_add_test(tc, timewait_new_syn);
    tcase_add_test(tc, close_unread_rst);
    tcase_add_test(tc, data_after_close_rst);
    tcase_add_test(tc, abort_rst);
    suite_add_tcase(s, tc);

    tc = tcase_create("retransmit");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rto_backoff);
    tcase_add_test(tc, rto_small_segment);
    tcase_add_test(tc, karn);
    tcase_add_test(tc, max_retries_timeout);
    tcase_add_test(tc, syn_retries);
    tcase_add_test(tc, synack_retries_silent);
    tcase_add_test(tc, fast_retransmit);
    tcase_add_test(tc, fast_retransmit_sack);
    tcase_add_test(tc, newreno_partial_ack);
    suite_add_tcase(s, tc);

    tc = tcase_create("window");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, zero_window_persist);
    tcase_add_test(tc, zero_window_probe_accepted);
    tcase_add_test(tc, keepalive);
    tcase_add_test(tc, keepalive_off_by_default);
    tcase_add_test(tc, stream_keepalive_option);
    tcase_add_test(tc, stream_buffer_option);
    suite_add_tcase(s, tc);

    tc = tcase_create("paws");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, paws, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("cookies");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, cookie_ok, 0, 2);
    tcase_add_test(tc, cookie_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("icmp");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, icmp_syn_sent, 0, 4);
    tcase_add_loop_test(tc, icmp_too_big, 0, 2);
    tcase_add_test(tc, icmp_established_soft);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrap");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, seq_wrap);
    suite_add_tcase(s, tc);

    tc = tcase_create("handles");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stale_handles);
    tcase_add_test(tc, free_open_fin_wait2);
    tcase_add_test(tc, free_open_time_wait);
    tcase_add_test(tc, free_many_then_stack_free);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, regress_synack_window_scaled);
    tcase_add_test(tc, regress_fast_retransmit_one_segment);
    tcase_add_test(tc, regress_free_in_fin_wait2);
    tcase_add_test(tc, regress_cookie_listener_user);
    tcase_add_test(tc, regress_timewait_restart);
    tcase_add_test(tc, regress_persist_no_fast_retransmit);
    tcase_add_test(tc, regress_passive_rtt_sample);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tcp_state_suite());
}
