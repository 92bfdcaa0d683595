/*
 * TCP through a simulated network (netsim.h): two sluice stacks, a link
 * each way with loss, reordering, duplication, corruption, delay and a
 * bandwidth/queue limit, all on injected time.
 *
 *   transfer     N concurrent connections (client on A, B's listener),
 *                both sides write a deterministic pseudo-random stream and
 *                verify the other's byte for byte, shutdown, read to EOF,
 *                wait for CLOSED, free; at 0%, 1%, 5% and 20% loss.
 *   wrap         ISS chosen (through the start time) so that both
 *                directions' sequence numbers wrap 2^32 during 8 MiB.
 *   zerowin      the receiver stops reading for 10 simulated minutes:
 *                persist probes, bounded memory, no loss, then completion.
 *   determinism  same seed, same bytes on the wire.
 *   regressions  scenarios that failed (kept as found).
 *
 * Environment:
 *   SL_SIM_FULL=1   the full target: 100 transfers of up to 16 MiB each way
 *                   at every loss level (minutes; use a Release build).
 *   SL_SIM_SEED=n   another seed for every scenario.
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netsim.h"
#include "stack_util.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define SEC 1000000u

static uint64_t g_seed = 0x5eed5eed;
static bool g_full = false;

/* ---- the byte streams ------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Byte `off` of stream `seed` is byte (off % 8) of mix64(seed + off/8 * φ). */
static void gen_bytes(uint64_t seed, uint64_t off, uint8_t *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w = mix64(seed + ((off + i) >> 3) * 0x9e3779b97f4a7c15u);
        unsigned b = (unsigned)((off + i) & 7u);
        for (; b < 8 && i < n; b++, i++)
            out[i] = (uint8_t)(w >> (8 * b));
    }
}

/* ---- transfers -------------------------------------------------------- */

typedef struct xf xf;

typedef struct xc {
    xf *x;
    int side;                 /* 0: client on A, 1: server on B          */
    unsigned idx;
    sl_stream h;
    bool have, connected, shut, eof, closed, freed;
    uint64_t tx_len, tx_off, rx_len, rx_off;
    uint64_t tx_seed, rx_seed;
    uint64_t retransmits;
    sl_time eof_at;
} xc;

typedef struct trace_cnt {
    uint64_t opened;          /* transitions out of CLOSED               */
    uint64_t closed;          /* transitions into CLOSED                 */
    uint64_t to[11];          /* transitions into each state             */
} trace_cnt;

struct xf {
    ns_sim sim;
    unsigned n;
    xc *ca, *cb;
    unsigned n_closed;
    uint16_t port_base;       /* client i uses local port port_base + i  */
    bool early_shutdown;      /* shut down in SYN-SENT (regression)      */
    unsigned failures;
    char first_fail[512];
    trace_cnt tr_a, tr_b;
    /* zero-window scenario */
    bool b_paused;
    uint64_t b_pause_after;   /* B stops reading at this many bytes      */
    bool pause_armed;
    uint8_t buf[64 * KiB], exp[64 * KiB];
};

static void xfail(xf *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void xfail(xf *x, const char *fmt, ...)
{
    if (x->failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->first_fail, sizeof x->first_fail, fmt, ap);
        va_end(ap);
        fprintf(stderr, "FAIL at t=%.6f s: %s\n", (double)(x->sim.now - x->sim.start) / 1e6,
                x->first_fail);
    }
}

static void trace_fn(void *ctx, uint32_t idx, uint32_t gen, sl_tcp_state from, sl_tcp_state to)
{
    (void)idx;
    (void)gen;
    trace_cnt *t = (trace_cnt *)ctx;
    if (from == SL_TCP_CLOSED)
        t->opened++;
    if (to == SL_TCP_CLOSED)
        t->closed++;
    if ((unsigned)to < 11)
        t->to[to]++;
}

static sl_stack *side_stack(xc *c)
{
    return c->side == 0 ? c->x->sim.a : c->x->sim.b;
}

static const char *side_name(const xc *c)
{
    return c->side == 0 ? "A" : "B";
}

/* Write, shut down, read as far as possible; true if anything happened. */
static bool service(xc *c)
{
    xf *x = c->x;
    sl_stack *s = side_stack(c);
    bool did = false;
    if (!c->have || c->freed)
        return false;
    while (c->tx_off < c->tx_len) {
        size_t want = c->tx_len - c->tx_off < sizeof x->buf ? (size_t)(c->tx_len - c->tx_off)
                                                             : sizeof x->buf;
        sl_stream_info si;
        if (sl_stream_info_get(s, c->h, &si) == SL_OK && si.send_space < want)
            want = si.send_space;
        if (want == 0)
            want = 1; /* ask anyway: AGAIN arms WRITABLE */
        gen_bytes(c->tx_seed, c->tx_off, x->buf, want);
        long n = sl_stream_write(s, c->h, x->buf, want);
        if (n == SL_ERR_AGAIN)
            break;
        if (n <= 0) {
            xfail(x, "%s[%u] write: %ld (%s)", side_name(c), c->idx, n,
                 sl_error_name((sl_error)n));
            return did;
        }
        c->tx_off += (uint64_t)n;
        did = true;
    }
    /* sl_stream_shutdown in SYN-SENT ends the connection (see the
     * regression test early_shutdown): shut down once connected. */
    if (c->tx_off == c->tx_len && !c->shut && (c->connected || x->early_shutdown)) {
        sl_error e = sl_stream_shutdown(s, c->h);
        if (e != SL_OK)
            xfail(x, "%s[%u] shutdown: %s", side_name(c), c->idx, sl_error_name(e));
        c->shut = true;
        did = true;
    }
    if (c->side == 1 && x->pause_armed && !x->b_paused && c->rx_off >= x->b_pause_after)
        x->b_paused = true;
    while (!c->eof && !(c->side == 1 && x->b_paused)) {
        size_t cap = sizeof x->buf;
        if (c->side == 1 && x->pause_armed && !x->b_paused && x->b_pause_after > c->rx_off &&
            x->b_pause_after - c->rx_off < cap)
            cap = (size_t)(x->b_pause_after - c->rx_off);
        long n = sl_stream_read(s, c->h, x->buf, cap);
        if (n == SL_ERR_AGAIN)
            break;
        if (n < 0) {
            xfail(x, "%s[%u] read at %" PRIu64 "/%" PRIu64 ": %s", side_name(c), c->idx,
                 c->rx_off, c->rx_len, sl_error_name((sl_error)n));
            c->eof = true;
            break;
        }
        did = true;
        if (n == 0) {
            c->eof = true;
            c->eof_at = x->sim.now;
            if (c->rx_off != c->rx_len)
                xfail(x, "%s[%u] EOF after %" PRIu64 " of %" PRIu64 " bytes", side_name(c),
                     c->idx, c->rx_off, c->rx_len);
            break;
        }
        if (c->rx_off + (uint64_t)n > c->rx_len) {
            xfail(x, "%s[%u] %ld bytes past the end (%" PRIu64 ")", side_name(c), c->idx, n,
                 c->rx_len);
            c->eof = true;
            break;
        }
        gen_bytes(c->rx_seed, c->rx_off, x->exp, (size_t)n);
        if (memcmp(x->buf, x->exp, (size_t)n) != 0) {
            size_t k = 0;
            while (x->buf[k] == x->exp[k])
                k++;
            xfail(x, "%s[%u] data mismatch at stream offset %" PRIu64 " (got %02x want %02x)",
                 side_name(c), c->idx, c->rx_off + k, x->buf[k], x->exp[k]);
            c->eof = true;
            break;
        }
        c->rx_off += (uint64_t)n;
        if (c->side == 1 && x->pause_armed && c->rx_off >= x->b_pause_after) {
            x->b_paused = true;
            break;
        }
    }
    return did;
}

static void on_closed(xc *c)
{
    xf *x = c->x;
    sl_stack *s = side_stack(c);
    (void)service(c); /* data still queued after CLOSED stays readable */
    sl_stream_info si;
    if (sl_stream_info_get(s, c->h, &si) != SL_OK) {
        xfail(x, "%s[%u] info after CLOSED", side_name(c), c->idx);
    } else {
        if (si.state != SL_TCP_CLOSED || si.error != SL_OK)
            xfail(x, "%s[%u] CLOSED event in state %s error %s", side_name(c), c->idx,
                 sl_tcp_state_name(si.state), sl_error_name(si.error));
        c->retransmits = si.retransmits;
    }
    if (!c->eof || c->rx_off != c->rx_len || c->tx_off != c->tx_len)
        xfail(x, "%s[%u] closed early: rx %" PRIu64 "/%" PRIu64 " eof %d tx %" PRIu64 "/%" PRIu64,
             side_name(c), c->idx, c->rx_off, c->rx_len, c->eof, c->tx_off, c->tx_len);
    if (sl_stream_free(s, c->h) != SL_OK)
        xfail(x, "%s[%u] free", side_name(c), c->idx);
    c->closed = c->freed = true;
    x->n_closed++;
}

static bool handle_events(xf *x, sl_stack *s, int side)
{
    bool did = false;
    sl_event ev;
    while (sl_next_event(s, &ev)) {
        did = true;
        if (!ev.is_stream) {
            xfail(x, "unexpected datagram event %d", (int)ev.type);
            continue;
        }
        xc *c = (xc *)ev.user;
        if (ev.type == SL_EV_STREAM_NEW) {
            sl_stream_info si;
            if (side != 1 || sl_stream_info_get(s, ev.stream, &si) != SL_OK ||
                si.remote.port < x->port_base || (unsigned)(si.remote.port - x->port_base) >= x->n) {
                xfail(x, "unexpected STREAM_NEW on %s", side ? "B" : "A");
                continue;
            }
            c = &x->cb[(unsigned)(si.remote.port - x->port_base)];
            if (c->have) {
                xfail(x, "second STREAM_NEW for B[%u]", c->idx);
                continue;
            }
            c->have = true;
            c->connected = true;
            c->h = ev.stream;
            (void)sl_stream_set_user(s, ev.stream, c);
            (void)service(c);
            continue;
        }
        if (c == NULL || c->x != x) {
            xfail(x, "event %d without a user pointer", (int)ev.type);
            continue;
        }
        switch (ev.type) {
        case SL_EV_CONNECTED:
            c->connected = true;
            (void)service(c);
            break;
        case SL_EV_READABLE:
        case SL_EV_WRITABLE:
        case SL_EV_PEER_FIN:
            (void)service(c);
            break;
        case SL_EV_ERROR:
        case SL_EV_RESET: {
            sl_stream_info si;
            (void)sl_stream_info_get(s, c->h, &si);
            xfail(x, "%s[%u] %s: %s (rx %" PRIu64 "/%" PRIu64 " tx %" PRIu64 "/%" PRIu64 ")",
                 side_name(c), c->idx, ev.type == SL_EV_RESET ? "RESET" : "ERROR",
                 sl_error_name(si.error), c->rx_off, c->rx_len, c->tx_off, c->tx_len);
            break;
        }
        case SL_EV_CLOSED:
            on_closed(c);
            break;
        case SL_EV_DGRAM_NEW:
        case SL_EV_STREAM_NEW:
            break;
        }
    }
    return did;
}

static bool xf_app(ns_sim *sim, void *ctx)
{
    xf *x = (xf *)ctx;
    (void)sim;
    bool a = handle_events(x, x->sim.a, 0);
    bool b = handle_events(x, x->sim.b, 1);
    return a || b;
}

static bool xf_done(ns_sim *sim, void *ctx)
{
    (void)sim;
    xf *x = (xf *)ctx;
    return x->n_closed == 2 * x->n;
}

/* ---- scenario set-up -------------------------------------------------- */

typedef struct size_dist {
    unsigned n;               /* connections                             */
    uint64_t lo, hi;          /* most: uniform in [lo, hi] bytes         */
    unsigned n_big;           /* the first n_big: uniform in [big_lo, big_hi] */
    uint64_t big_lo, big_hi;
} size_dist;

static uint64_t pick(su_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + (hi > lo ? su_rng_next(r) % (hi - lo + 1) : 0);
}

static void base_config(sl_config *cfg, const uint8_t *secret, trace_cnt *tr)
{
    sl_config_init(cfg);
    cfg->secret = secret;
    cfg->secret_len = 32;
    cfg->tcp_trace = trace_fn;
    cfg->tcp_trace_ctx = tr;
}

static bool tcp_of(const uint8_t *p, size_t len, sl_tcp_hdr *h)
{
    su_ip_pkt ip;
    if (su_parse_ip(p, len, &ip) != SL_OK || ip.proto != SL_IPPROTO_TCP || ip.is_fragment)
        return false;
    return sl_tcp_parse(ip.l4, ip.l4_len, NULL, h) == SL_OK;
}

/* SL_SIM_TRACE=port: print every packet of the connection using that
 * client port (debugging aid; sequence numbers relative to the SYNs). */
static unsigned g_trace_port = 0;

typedef struct trace_tap {
    xf *x;
    int dir; /* 0: A->B, 1: B->A */
} trace_tap;

static trace_tap g_ttap[2];
static uint32_t g_isn[2];

static void trace_tap_fn(void *ctx, int kind, const uint8_t *buf, size_t len)
{
    trace_tap *tt = (trace_tap *)ctx;
    sl_tcp_hdr th;
    if (!tcp_of(buf, len, &th)) {
        if (kind == NS_TAP_DELIVER)
            printf("  %12.6f %s deliver (corrupt/unparsable, %zu B)\n",
                   (double)(tt->x->sim.now - tt->x->sim.start) / 1e6, tt->dir ? "B>A" : "A>B",
                   len);
        return;
    }
    unsigned cport = tt->dir == 0 ? th.sport : th.dport;
    if (cport != g_trace_port)
        return;
    if ((th.flags & SL_TCP_SYN) != 0 && kind == NS_TAP_SEND)
        g_isn[tt->dir] = th.seq;
    static const char *const kn[] = {"send", "LOST", "QDROP", "deliver"};
    char fl[8];
    int k = 0;
    if (th.flags & SL_TCP_SYN) fl[k++] = 'S';
    if (th.flags & SL_TCP_FIN) fl[k++] = 'F';
    if (th.flags & SL_TCP_RST) fl[k++] = 'R';
    if (th.flags & SL_TCP_PSH) fl[k++] = 'P';
    if (th.flags & SL_TCP_ACK) fl[k++] = '.';
    fl[k] = 0;
    printf("  %12.6f %s %-7s %-4s seq %u len %zu ack %u win %u", 
           (double)(tt->x->sim.now - tt->x->sim.start) / 1e6, tt->dir ? "B>A" : "A>B", kn[kind],
           fl, th.seq - g_isn[tt->dir], th.payload_len, th.ack - g_isn[!tt->dir], th.window);
    for (unsigned i = 0; i < th.o.n_sack; i++)
        printf(" sack %u-%u", th.o.sack[i].left - g_isn[!tt->dir],
               th.o.sack[i].right - g_isn[!tt->dir]);
    if (th.o.has_ts)
        printf(" ts %u/%u", th.o.ts_val, th.o.ts_ecr);
    if (kind == NS_TAP_SEND) {
        /* the sender's view: RTO, SRTT, cwnd, flight */
        unsigned i = cport - tt->x->port_base;
        xc *c = tt->dir == 0 ? &tt->x->ca[i] : &tt->x->cb[i];
        sl_stream_info si;
        if (i < tt->x->n && c->have && !c->freed &&
            sl_stream_info_get(tt->dir == 0 ? tt->x->sim.a : tt->x->sim.b, c->h, &si) == SL_OK)
            printf(" | rto %u srtt %u cwnd %u unacked %u", si.rto_us, si.srtt_us, si.cwnd,
                   si.unacked);
    }
    printf("\n");
}

static void install_tracer(xf *x)
{
    if (g_trace_port == 0)
        return;
    for (int d = 0; d < 2; d++) {
        g_ttap[d].x = x;
        g_ttap[d].dir = d;
    }
    x->sim.ab.tap = x->sim.ba.tap = trace_tap_fn;
    x->sim.ab.tap_ctx = &g_ttap[0];
    x->sim.ba.tap_ctx = &g_ttap[1];
}

static xf *xf_new(const size_dist *d, const ns_link_cfg *lc, uint64_t seed, sl_time start,
                  const sl_config *tmpl)
{
    xf *x = (xf *)calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    sl_config ca, cb;
    base_config(&ca, su_secret_a, &x->tr_a);
    base_config(&cb, su_secret_b, &x->tr_b);
    if (tmpl != NULL) {
        ca.tcp_sndbuf = cb.tcp_sndbuf = tmpl->tcp_sndbuf;
        ca.tcp_rcvbuf = cb.tcp_rcvbuf = tmpl->tcp_rcvbuf;
    }
    if (g_full) {
        /* Full target: at 20% loss (+5% corruption) each way a round trip
         * succeeds ~58% of the time; over ~10^5 timeouts, 13 failures in
         * a row (the default limit, 12 retries) happen by chance. */
        ca.tcp_max_retries = cb.tcp_max_retries = 40;
    }
    ns_sim_init(&x->sim, &ca, &cb, lc, lc, seed, start);
    x->n = d->n;
    x->port_base = 20000;
    x->ca = (xc *)calloc(d->n, sizeof *x->ca);
    x->cb = (xc *)calloc(d->n, sizeof *x->cb);
    ck_assert(x->ca != NULL && x->cb != NULL);
    su_rng r = {seed * 31u + 7u};
    for (unsigned i = 0; i < d->n; i++) {
        bool big = i < d->n_big;
        uint64_t ab = big ? pick(&r, d->big_lo, d->big_hi) : pick(&r, d->lo, d->hi);
        uint64_t ba = big ? pick(&r, d->big_lo, d->big_hi) : pick(&r, d->lo, d->hi);
        uint64_t sab = su_rng_next(&r), sba = su_rng_next(&r);
        xc *a = &x->ca[i], *b = &x->cb[i];
        a->x = b->x = x;
        a->idx = b->idx = i;
        a->side = 0;
        b->side = 1;
        a->tx_len = b->rx_len = ab;
        a->tx_seed = b->rx_seed = sab;
        a->rx_len = b->tx_len = ba;
        a->rx_seed = b->tx_seed = sba;
    }
    sl_endpoint l4 = su_ep("198.18.0.2", 80), l6 = su_ep("2001:2::2", 80);
    ck_assert_int_eq(sl_stream_listen(x->sim.b, &l4, x), SL_OK);
    ck_assert_int_eq(sl_stream_listen(x->sim.b, &l6, x), SL_OK);
    install_tracer(x);
    return x;
}

/* Open connection i from A (IPv6 for odd i) and start writing at once
 * (data before the handshake is queued). */
static void xf_connect(xf *x, unsigned i)
{
    bool v6 = (i & 1u) != 0;
    sl_endpoint lo = su_ep(v6 ? "2001:2::1" : "198.18.0.1", (uint16_t)(x->port_base + i));
    sl_endpoint re = su_ep(v6 ? "2001:2::2" : "198.18.0.2", 80);
    xc *c = &x->ca[i];
    ck_assert_int_eq(sl_stream_connect(x->sim.a, &lo, &re, c, &c->h), SL_OK);
    c->have = true;
    (void)service(c);
}

static void xf_free(xf *x)
{
    size_t leak = ns_sim_fini(&x->sim);
    ck_assert_msg(leak == 0, "%zu bytes still allocated after sl_stack_free", leak);
    free(x->ca);
    free(x->cb);
    free(x);
}

typedef struct level {
    const char *name;
    ns_link_cfg link;
    size_dist ci, full;
} level;

/* Link: 1 Gbit/s, 5 ms one way.  The 0% level has a queue no set of
 * windows can fill (no drops at all); the lossy ones a 1 MiB queue. */
static const level g_levels[] = {
    {"0%",
     {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB},
     {100, 16 * KiB, 256 * KiB, 6, 1 * MiB, 4 * MiB},
     {100, 1 * MiB, 16 * MiB, 10, 16 * MiB, 16 * MiB}},
    {"1%",
     {10000, 5000, 5000, 10000, 3000, 5000, 125000000u, 1 * MiB},
     {100, 16 * KiB, 256 * KiB, 4, 1 * MiB, 4 * MiB},
     {100, 1 * MiB, 16 * MiB, 10, 16 * MiB, 16 * MiB}},
    {"5%",
     {50000, 20000, 20000, 50000, 5000, 5000, 125000000u, 1 * MiB},
     {100, 16 * KiB, 128 * KiB, 2, 1 * MiB, 1 * MiB},
     {100, 1 * MiB, 16 * MiB, 10, 16 * MiB, 16 * MiB}},
    {"20%",
     {200000, 50000, 50000, 100000, 5000, 5000, 125000000u, 1 * MiB},
     {100, 4 * KiB, 64 * KiB, 0, 0, 0},
     {100, 1 * MiB, 16 * MiB, 10, 16 * MiB, 16 * MiB}},
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_link(const char *name, const ns_link *l)
{
    printf("    link %s: sent %" PRIu64 " pkts (%" PRIu64 " B), delivered %" PRIu64
           ", lost %" PRIu64 ", queue drops %" PRIu64 ", dup %" PRIu64 ", corrupted %" PRIu64
           ", reordered %" PRIu64 ", max in flight %zu B\n",
           name, l->sent, l->sent_bytes, l->delivered, l->lost, l->queue_drops, l->dups,
           l->corrupted, l->reordered, l->max_in_flight_bytes);
}

static void print_stack(const char *name, const sl_stack *s)
{
    sl_mem_stats m;
    sl_stats_mem(s, &m);
    printf("    stack %s: tcp tx %" PRIu64 " rx %" PRIu64 ", rto retransmits %" PRIu64
           ", fast retransmits %" PRIu64 ", ooo drops %" PRIu64 ", parse drops %" PRIu64
           ", unacceptable %" PRIu64 ", paws %" PRIu64 ", rst tx %" PRIu64 " rx %" PRIu64
           ", challenge acks %" PRIu64 ", mem peak %zu\n",
           name, sl_stats_get(s, SL_CNT_TCP_TX), sl_stats_get(s, SL_CNT_TCP_RX),
           sl_stats_get(s, SL_CNT_TCP_RETRANSMIT), sl_stats_get(s, SL_CNT_TCP_FAST_RETRANSMIT),
           sl_stats_get(s, SL_CNT_TCP_OOO_DROP), sl_stats_get(s, SL_CNT_IP_DROP_PARSE),
           sl_stats_get(s, SL_CNT_TCP_DROP_UNACCEPTABLE), sl_stats_get(s, SL_CNT_TCP_DROP_PAWS),
           sl_stats_get(s, SL_CNT_TCP_RST_TX), sl_stats_get(s, SL_CNT_TCP_RST_RX),
           sl_stats_get(s, SL_CNT_TCP_CHALLENGE_ACK), m.peak);
}

/* Print what every unfinished connection is doing (stall diagnosis). */
static void dump_unfinished(xf *x)
{
    unsigned shown = 0;
    for (unsigned i = 0; i < x->n && shown < 8; i++) {
        for (int sd = 0; sd < 2; sd++) {
            xc *c = sd == 0 ? &x->ca[i] : &x->cb[i];
            if (c->closed)
                continue;
            sl_stream_info si;
            memset(&si, 0, sizeof si);
            if (c->have)
                (void)sl_stream_info_get(side_stack(c), c->h, &si);
            printf("    unfinished %s[%u]: %s err %s tx %" PRIu64 "/%" PRIu64 " rx %" PRIu64
                   "/%" PRIu64 " eof %d shut %d | unsent %u unacked %u readable %u space %u "
                   "cwnd %u ssthresh %u rto %u retrans %" PRIu64 "\n",
                   side_name(c), i, c->have ? sl_tcp_state_name(si.state) : "-",
                   sl_error_name(si.error), c->tx_off, c->tx_len, c->rx_off, c->rx_len, c->eof,
                   c->shut, si.unsent, si.unacked, si.readable, si.send_space, si.cwnd,
                   si.ssthresh, si.rto_us, si.retransmits);
            shown++;
        }
    }
}

typedef struct xf_result {
    ns_result r;
    double sim_s, wall_s;
    uint64_t bytes;
} xf_result;

/* Run a transfer scenario to completion and check everything that must
 * hold whatever the link did. */
static xf_result run_transfer(const char *name, const size_dist *d, const ns_link_cfg *lc,
                              uint64_t seed, sl_time start, const sl_config *tmpl)
{
    double w0 = wall_now();
    xf *x = xf_new(d, lc, seed, start, tmpl);
    for (unsigned i = 0; i < d->n; i++)
        xf_connect(x, i);
    /* The full target at 20% loss needs days of simulated time. */
    sl_time max_time = (g_full ? 1000000u : 4000u) * (sl_time)SEC;
    ns_result r = ns_run(&x->sim, xf_app, xf_done, x, max_time, 4000000000u);
    xf_result res;
    res.r = r;
    res.sim_s = (double)(x->sim.now - x->sim.start) / 1e6;
    res.wall_s = wall_now() - w0;
    res.bytes = 0;
    for (unsigned i = 0; i < d->n; i++)
        res.bytes += x->ca[i].tx_len + x->cb[i].tx_len;
    uint64_t rx_a = 0, rx_b = 0, max_re = 0;
    sl_time last_eof = x->sim.start;
    unsigned slowest = 0;
    for (unsigned i = 0; i < d->n; i++) {
        if (x->ca[i].eof_at > last_eof) {
            last_eof = x->ca[i].eof_at;
            slowest = i;
        }
        if (x->cb[i].eof_at > last_eof) {
            last_eof = x->cb[i].eof_at;
            slowest = i;
        }
        rx_a += x->ca[i].rx_off;
        rx_b += x->cb[i].rx_off;
        if (x->ca[i].retransmits > max_re)
            max_re = x->ca[i].retransmits;
        if (x->cb[i].retransmits > max_re)
            max_re = x->cb[i].retransmits;
    }
    double data_s = (double)(last_eof - x->sim.start) / 1e6;
    uint64_t rto_re = sl_stats_get(x->sim.a, SL_CNT_TCP_RETRANSMIT) +
                      sl_stats_get(x->sim.b, SL_CNT_TCP_RETRANSMIT);
    uint64_t fast_re = sl_stats_get(x->sim.a, SL_CNT_TCP_FAST_RETRANSMIT) +
                       sl_stats_get(x->sim.b, SL_CNT_TCP_FAST_RETRANSMIT);
    printf("[%s] %s: %u connections, %.1f MiB total; data done at %.3f s simulated (all CLOSED "
           "at %.3f s), wall %.2f s; goodput %.1f Mbit/s; retransmits: %" PRIu64
           " by timeout, %" PRIu64 " fast; max per connection %" PRIu64 "; iterations %" PRIu64
           "\n",
           name, ns_result_name(r), d->n, (double)res.bytes / (double)MiB, data_s, res.sim_s,
           res.wall_s, data_s > 0 ? (double)(rx_a + rx_b) * 8 / data_s / 1e6 : 0.0, rto_re,
           fast_re, max_re, x->sim.iters);
    printf("    slowest: connection %u (client port %u), %" PRIu64 "+%" PRIu64
           " bytes, retransmits A %" PRIu64 " B %" PRIu64 "\n",
           slowest, x->port_base + slowest, x->ca[slowest].tx_len, x->cb[slowest].tx_len,
           x->ca[slowest].retransmits, x->cb[slowest].retransmits);
    print_link("A->B", &x->sim.ab);
    print_link("B->A", &x->sim.ba);
    print_stack("A", x->sim.a);
    print_stack("B", x->sim.b);
    if (r != NS_DONE)
        dump_unfinished(x);
    fflush(stdout);

    ck_assert_msg(x->failures == 0, "%s: %u failures, first: %s", name, x->failures,
                  x->first_fail);
    ck_assert_msg(r == NS_DONE, "%s: %s with %u of %u streams closed", name, ns_result_name(r),
                  x->n_closed, 2 * d->n);
    /* Every connection went back to CLOSED on both sides. */
    ck_assert_uint_eq(x->tr_a.opened, d->n);
    ck_assert_uint_eq(x->tr_b.opened, d->n);
    ck_assert_uint_eq(x->tr_a.closed, d->n);
    ck_assert_uint_eq(x->tr_b.closed, d->n);
    ck_assert_uint_eq(sl_stats_get(x->sim.a, SL_CNT_TCP_TIMEOUT), 0);
    ck_assert_uint_eq(sl_stats_get(x->sim.b, SL_CNT_TCP_TIMEOUT), 0);
    if (lc->corrupt_ppm > 0 && x->sim.ab.corrupted + x->sim.ba.corrupted > 20)
        ck_assert_uint_gt(sl_stats_get(x->sim.a, SL_CNT_IP_DROP_PARSE) +
                              sl_stats_get(x->sim.b, SL_CNT_IP_DROP_PARSE),
                          0);
    if (lc->loss_ppm == 0 && lc->dup_ppm == 0 && lc->reorder_ppm == 0 && lc->corrupt_ppm == 0) {
        /* A perfect link (and a queue that cannot overflow): nothing is
         * ever retransmitted. */
        ck_assert_uint_eq(x->sim.ab.queue_drops + x->sim.ba.queue_drops, 0);
        ck_assert_uint_eq(sl_stats_get(x->sim.a, SL_CNT_TCP_RETRANSMIT), 0);
        ck_assert_uint_eq(sl_stats_get(x->sim.b, SL_CNT_TCP_RETRANSMIT), 0);
        ck_assert_uint_eq(sl_stats_get(x->sim.a, SL_CNT_TCP_FAST_RETRANSMIT), 0);
        ck_assert_uint_eq(sl_stats_get(x->sim.b, SL_CNT_TCP_FAST_RETRANSMIT), 0);
    }
    xf_free(x);
    return res;
}

START_TEST(test_transfer)
{
    const char *only = getenv("SL_SIM_LEVEL"); /* debugging: one level */
    if (only != NULL && atoi(only) != _i)
        return;
    const level *lv = &g_levels[_i];
    const size_dist *d = g_full ? &lv->full : &lv->ci;
    char name[64];
    snprintf(name, sizeof name, "transfer %s loss%s", lv->name, g_full ? " FULL" : "");
    (void)run_transfer(name, d, &lv->link, g_seed + (uint64_t)_i, 1000u * (sl_time)SEC, NULL);
}
END_TEST

/* ---- determinism ------------------------------------------------------ */

START_TEST(test_determinism)
{
    size_dist d = {8, 8 * KiB, 64 * KiB, 0, 0, 0};
    ns_link_cfg lc = {50000, 20000, 20000, 50000, 5000, 5000, 125000000u, 256 * KiB};
    uint64_t h[2][2];
    for (int k = 0; k < 2; k++) {
        xf *x = xf_new(&d, &lc, g_seed ^ 0xde7, 5 * (sl_time)SEC, NULL);
        for (unsigned i = 0; i < d.n; i++)
            xf_connect(x, i);
        ns_result r = ns_run(&x->sim, xf_app, xf_done, x, 4000u * (sl_time)SEC, 10000000u);
        ck_assert_msg(r == NS_DONE && x->failures == 0, "%s / %s", ns_result_name(r),
                      x->first_fail);
        h[k][0] = x->sim.ab.hash;
        h[k][1] = x->sim.ba.hash;
        xf_free(x);
    }
    ck_assert_uint_eq(h[0][0], h[1][0]);
    ck_assert_uint_eq(h[0][1], h[1][1]);
}
END_TEST

/* ---- sequence-number wrap --------------------------------------------- */

typedef struct isn_probe {
    uint16_t port;
    uint32_t cseq, sseq;
    bool have_c, have_s;
} isn_probe;


/* The ISS of client (A, port p, IPv4) and server (B) for connections
 * opened at time t, measured with the real stacks. */
static void probe_isns(isn_probe *pr, size_t n, sl_time t)
{
    for (size_t base = 0; base < n; base += 200) {
        size_t m = n - base < 200 ? n - base : 200;
        su_cap *ca = su_cap_new(1u << 20, 1024), *cb = su_cap_new(1u << 20, 1024);
        sl_config cfa, cfb;
        su_config(&cfa, ca);
        su_config(&cfb, cb);
        cfb.secret = su_secret_b;
        sl_stack *a = su_stack_new(&cfa), *b = su_stack_new(&cfb);
        sl_endpoint l = su_ep("198.18.0.2", 80);
        ck_assert_int_eq(sl_stream_listen(b, &l, NULL), SL_OK);
        (void)sl_poll(a, t);
        (void)sl_poll(b, t);
        for (size_t i = 0; i < m; i++) {
            sl_endpoint lo = su_ep("198.18.0.1", pr[base + i].port);
            sl_stream h;
            ck_assert_int_eq(sl_stream_connect(a, &lo, &l, NULL, &h), SL_OK);
        }
        (void)sl_poll(a, t);
        for (size_t k = 0; k < ca->n; k++) {
            size_t len;
            const uint8_t *p = su_cap_pkt(ca, k, &len);
            sl_tcp_hdr th;
            if (!tcp_of(p, len, &th) || th.flags != SL_TCP_SYN)
                continue;
            for (size_t i = 0; i < m; i++)
                if (pr[base + i].port == th.sport) {
                    pr[base + i].cseq = th.seq;
                    pr[base + i].have_c = true;
                }
        }
        su_cap_feed(ca, b, t);
        (void)sl_poll(b, t);
        for (size_t k = 0; k < cb->n; k++) {
            size_t len;
            const uint8_t *p = su_cap_pkt(cb, k, &len);
            sl_tcp_hdr th;
            if (!tcp_of(p, len, &th) || th.flags != (SL_TCP_SYN | SL_TCP_ACK))
                continue;
            for (size_t i = 0; i < m; i++)
                if (pr[base + i].port == th.dport) {
                    pr[base + i].sseq = th.seq;
                    pr[base + i].have_s = true;
                }
        }
        sl_stack_free(a);
        sl_stack_free(b);
        su_cap_free(ca);
        su_cap_free(cb);
    }
}

typedef struct wrap_tap {
    bool seen_hi, wrapped;
    uint64_t data_segs;
} wrap_tap;

/* Data segments on one link: did their sequence numbers pass 2^32? */
static void wrap_tap_fn(void *ctx, int kind, const uint8_t *buf, size_t len)
{
    wrap_tap *t = (wrap_tap *)ctx;
    if (kind != NS_TAP_SEND)
        return;
    sl_tcp_hdr th;
    if (!tcp_of(buf, len, &th) || th.payload_len == 0)
        return;
    t->data_segs++;
    if (th.seq >= 0xff000000u)
        t->seen_hi = true;
    if (t->seen_hi && th.seq < 0x01000000u)
        t->wrapped = true;
}

START_TEST(test_wrap)
{
    /* 1. ISSs of many client ports at t0; both advance with the clock at
     * 1/4 µs, so their difference is fixed per port.  Pick a port whose
     * server ISS lies a little behind the client's. */
    const sl_time t0 = 4000u * (sl_time)SEC;
    size_t n = 4000;
    isn_probe *pr = (isn_probe *)calloc(n, sizeof *pr);
    ck_assert_ptr_nonnull(pr);
    for (size_t i = 0; i < n; i++)
        pr[i].port = (uint16_t)(20000u + i);
    probe_isns(pr, n, t0);
    const uint32_t target = (uint32_t)(0u - 1u * MiB); /* client ISS: 1 MiB below 2^32 */
    size_t found = n;
    for (size_t i = 0; i < n; i++) {
        if (!pr[i].have_c || !pr[i].have_s)
            continue;
        /* server ISS when the client's is `target`: must wrap inside
         * the 8 MiB but not in the first few KiB */
        uint32_t s = target + (pr[i].sseq - pr[i].cseq);
        uint32_t to_wrap = 0u - s;
        if (to_wrap > 512 * KiB && to_wrap < 6 * MiB) {
            found = i;
            break;
        }
    }
    ck_assert_msg(found < n, "no port with both ISSs near the wrap");
    uint16_t port = pr[found].port;
    /* 2. The start time that puts the client ISS at `target`. */
    uint32_t ticks = target - pr[found].cseq;
    sl_time start = t0 + (sl_time)ticks * 4u;
    isn_probe chk = {port, 0, 0, false, false};
    probe_isns(&chk, 1, start);
    ck_assert(chk.have_c && chk.have_s);
    printf("[wrap] port %u start %.3f s: client ISS %08x (%u below 2^32), server ISS %08x "
           "(%u below 2^32)\n",
           port, (double)start / 1e6, chk.cseq, 0u - chk.cseq, chk.sseq, 0u - chk.sseq);
    ck_assert_uint_eq(chk.cseq, target);
    free(pr);

    /* 3. 8 MiB each way across the wrap, 1% loss with reordering,
     * duplication and corruption, 256 KiB buffers (window scaling). */
    size_dist d = {1, 8 * MiB, 8 * MiB, 0, 0, 0};
    ns_link_cfg lc = {10000, 5000, 5000, 10000, 3000, 5000, 125000000u, 1 * MiB};
    sl_config tmpl;
    sl_config_init(&tmpl);
    tmpl.tcp_sndbuf = tmpl.tcp_rcvbuf = 256 * KiB;
    xf *x = xf_new(&d, &lc, g_seed ^ 0x3a9, start, &tmpl);
    x->port_base = port;
    wrap_tap tap[2];
    memset(tap, 0, sizeof tap);
    x->sim.ab.tap = x->sim.ba.tap = wrap_tap_fn;
    x->sim.ab.tap_ctx = &tap[0];
    x->sim.ba.tap_ctx = &tap[1];
    xf_connect(x, 0);
    ns_result r = ns_run(&x->sim, xf_app, xf_done, x, 4000u * (sl_time)SEC, 100000000u);
    printf("[wrap] %s, simulated %.3f s, wrapped A->B %d B->A %d\n", ns_result_name(r),
           (double)(x->sim.now - x->sim.start) / 1e6, tap[0].wrapped, tap[1].wrapped);
    print_link("A->B", &x->sim.ab);
    print_link("B->A", &x->sim.ba);
    print_stack("A", x->sim.a);
    print_stack("B", x->sim.b);
    if (r != NS_DONE)
        dump_unfinished(x);
    fflush(stdout);
    ck_assert_msg(x->failures == 0, "wrap: %s", x->first_fail);
    ck_assert_msg(r == NS_DONE, "wrap: %s", ns_result_name(r));
    ck_assert(tap[0].wrapped && tap[1].wrapped);
    xf_free(x);
}
END_TEST

/* ---- zero window ------------------------------------------------------ */

static bool paused_done(ns_sim *sim, void *ctx)
{
    (void)sim;
    return ((xf *)ctx)->b_paused;
}

static bool wake_done(ns_sim *sim, void *ctx)
{
    (void)ctx;
    return sim->now >= sim->wake;
}

static void run_zerowin(const ns_link_cfg *lc, const char *name)
{
    size_dist d = {1, 4 * MiB, 4 * MiB, 0, 0, 0};
    xf *x = xf_new(&d, lc, g_seed ^ 0x2e80, 100u * (sl_time)SEC, NULL);
    x->cb[0].tx_len = x->ca[0].rx_len = 64 * KiB;
    x->pause_armed = true;
    x->b_pause_after = 256 * KiB;
    sl_mem_stats m0;
    sl_stats_mem(x->sim.a, &m0);
    xf_connect(x, 0);
    ns_result r = ns_run(&x->sim, xf_app, paused_done, x, 60u * (sl_time)SEC, 10000000u);
    ck_assert_msg(r == NS_DONE && x->failures == 0, "%s", x->first_fail);
    /* Let the window close, then watch for 10 minutes. */
    sl_time t_pause = x->sim.now;
    x->sim.wake = t_pause + 5u * SEC;
    r = ns_run(&x->sim, xf_app, wake_done, x, 4000u * (sl_time)SEC, 10000000u);
    ck_assert_int_eq(r, NS_DONE);
    uint64_t sent0 = x->sim.ab.sent, tx0 = sl_stats_get(x->sim.a, SL_CNT_TCP_TX);
    uint64_t rto0 = sl_stats_get(x->sim.a, SL_CNT_TCP_RETRANSMIT);
    sl_time t_stall = x->sim.now;
    x->sim.wake = t_stall + 600u * SEC;
    r = ns_run(&x->sim, xf_app, wake_done, x, 4000u * (sl_time)SEC, 10000000u);
    ck_assert_int_eq(r, NS_DONE);
    uint64_t probes = x->sim.ab.sent - sent0;
    sl_stream_info ia, ib;
    ck_assert_int_eq(sl_stream_info_get(x->sim.a, x->ca[0].h, &ia), SL_OK);
    ck_assert_int_eq(sl_stream_info_get(x->sim.b, x->cb[0].h, &ib), SL_OK);
    sl_mem_stats ma, mb;
    sl_stats_mem(x->sim.a, &ma);
    sl_stats_mem(x->sim.b, &mb);
    printf("[%s] stall of 600 s: A sent %" PRIu64 " packets (%" PRIu64
           " segments, %" PRIu64 " rto retransmits); A %s unacked %u unsent %u space %u rto %u; "
           "B %s readable %u; mem A peak %zu (base %zu) B peak %zu\n",
           name, probes, sl_stats_get(x->sim.a, SL_CNT_TCP_TX) - tx0,
           sl_stats_get(x->sim.a, SL_CNT_TCP_RETRANSMIT) - rto0, sl_tcp_state_name(ia.state),
           ia.unacked, ia.unsent, ia.send_space, ia.rto_us, sl_tcp_state_name(ib.state),
           ib.readable, ma.peak, m0.in_use, mb.peak);
    fflush(stdout);
    ck_assert_int_eq(ia.state, SL_TCP_CLOSE_WAIT);    /* B finished and sent its FIN */
    ck_assert_int_eq(ib.state, SL_TCP_FIN_WAIT_2); /* B sent its 64 KiB and FIN */
    ck_assert_uint_eq(ia.send_space, 0);           /* A's buffer is full     */
    ck_assert_uint_le(ia.unacked, 1);              /* only a probe byte      */
    /* persist: probing all along, backed off (RTO max 60 s: >= 10 in 10 min),
     * but not flooding */
    ck_assert_uint_ge(probes, 8);
    ck_assert_uint_le(probes, 200);
    /* memory: two 64 KiB rings and change on top of the empty stack */
    ck_assert_uint_le(ma.peak, m0.in_use + 512 * KiB);
    ck_assert_uint_le(mb.peak, m0.in_use + 512 * KiB);
    ck_assert_uint_eq(x->failures, 0);
    /* Resume reading: everything arrives, both close. */
    x->pause_armed = false;
    x->b_paused = false;
    (void)service(&x->cb[0]);
    r = ns_run(&x->sim, xf_app, xf_done, x, 4000u * (sl_time)SEC, 10000000u);
    printf("[%s] after resume: %s at %.3f s\n", name, ns_result_name(r),
           (double)(x->sim.now - x->sim.start) / 1e6);
    if (r != NS_DONE)
        dump_unfinished(x);
    fflush(stdout);
    ck_assert_msg(x->failures == 0, "%s", x->first_fail);
    ck_assert_int_eq(r, NS_DONE);
    ck_assert_uint_eq(x->cb[0].rx_off, 4 * MiB);
    xf_free(x);
}

START_TEST(test_zerowin)
{
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    run_zerowin(&lc, "zerowin 0%");
}
END_TEST

START_TEST(test_zerowin_lossy)
{
    ns_link_cfg lc = {50000, 20000, 20000, 50000, 5000, 5000, 125000000u, 1 * MiB};
    run_zerowin(&lc, "zerowin 5%");
}
END_TEST

/* ---- regressions: scenarios that failed, kept as found ---------------- */

/* Drop, on one link, packets sent in [from, to) (relative to the start)
 * that match: pure ACKs only, or everything. */
typedef struct drop_win {
    ns_sim *sim;
    sl_time from, to;
    bool pure_acks_only;
} drop_win;

static bool drop_win_fn(void *ctx, const uint8_t *buf, size_t len)
{
    drop_win *d = (drop_win *)ctx;
    sl_time t = d->sim->now - d->sim->start;
    if (t < d->from || t >= d->to)
        return false;
    if (!d->pure_acks_only)
        return true;
    sl_tcp_hdr th;
    return tcp_of(buf, len, &th) && th.payload_len == 0 && th.flags == SL_TCP_ACK;
}

static void run_small(xf *x, const char *name, sl_time max_time)
{
    ns_result r = ns_run(&x->sim, xf_app, xf_done, x, max_time, 10000000u);
    printf("[%s] %s at %.3f s; A: rto retransmits %" PRIu64 ", fast %" PRIu64
           ", timeouts %" PRIu64 "; B: rto retransmits %" PRIu64 ", timeouts %" PRIu64 "\n",
           name, ns_result_name(r), (double)(x->sim.now - x->sim.start) / 1e6,
           sl_stats_get(x->sim.a, SL_CNT_TCP_RETRANSMIT),
           sl_stats_get(x->sim.a, SL_CNT_TCP_FAST_RETRANSMIT),
           sl_stats_get(x->sim.a, SL_CNT_TCP_TIMEOUT), sl_stats_get(x->sim.b, SL_CNT_TCP_RETRANSMIT),
           sl_stats_get(x->sim.b, SL_CNT_TCP_TIMEOUT));
    if (r != NS_DONE)
        dump_unfinished(x);
    fflush(stdout);
    ck_assert_msg(x->failures == 0, "%s: %s", name, x->first_fail);
    ck_assert_msg(r == NS_DONE, "%s: %s", name, ns_result_name(r));
}

/* Bug 1: sl_stream_shutdown in SYN-SENT (data already queued, as the API
 * allows) ends the connection at once: queue_fin() calls sl_tcb_finish()
 * for SYN-SENT, the data is dropped and reads return 0 (EOF). */
START_TEST(test_reg_shutdown_in_syn_sent)
{
    size_dist d = {1, 1000, 1000, 0, 0, 0};
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    xf *x = xf_new(&d, &lc, g_seed ^ 0x51, 10u * (sl_time)SEC, NULL);
    x->early_shutdown = true;
    xf_connect(x, 0); /* writes 1000 bytes and shuts down, in SYN-SENT */
    run_small(x, "reg shutdown in SYN-SENT", 3000u * (sl_time)SEC);
    xf_free(x);
}
END_TEST

/* Bug 2: a retransmission timeout clears TF_FIN_SENT; when the ACK of the
 * original FIN then arrives (ack == snd_max), process_ack() does not see
 * the FIN acknowledged, and send_data() sends a second FIN one sequence
 * number past the first.  The peer never acknowledges it: FIN-WAIT-1
 * until the retransmission limit (SL_ERR_TIMEDOUT), then RST.
 * Script: 3000 bytes A->B + FIN (sent at 10 ms); every packet of B is
 * lost from 12 ms to 1.5 s, so A's RTO (1 s: no RTT sample yet on the
 * active side) fires and the ACK of everything arrives after the
 * retransmission (with B's retransmitted FIN). */
START_TEST(test_reg_fin_after_rto)
{
    size_dist d = {1, 3000, 3000, 0, 0, 0};
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    xf *x = xf_new(&d, &lc, g_seed ^ 0xf1, 10u * (sl_time)SEC, NULL);
    x->cb[0].tx_len = x->ca[0].rx_len = 0;
    drop_win dw = {&x->sim, 12000, 1500000, false};
    x->sim.ba.drop = drop_win_fn;
    x->sim.ba.drop_ctx = &dw;
    xf_connect(x, 0);
    run_small(x, "reg FIN after RTO", 3000u * (sl_time)SEC);
    xf_free(x);
}
END_TEST

/* Bug 3: a pure ACK carries SEG.SEQ = SND.NXT, which a retransmission
 * rewinds to SND.UNA.  When the peer already holds data past that point
 * (our earlier ACKs were lost), the ACK is below its RCV.NXT: RFC 9293
 * §3.10.7.4 makes it unacceptable and the peer drops it (answering with
 * its own ACK, likewise rewound).  With data both ways and both sides
 * retransmitting, every ACK is dropped: the connections stall until
 * SL_ERR_TIMEDOUT.  Script: 30 KB each way; pure ACKs are lost in both
 * directions from 20 ms to 1 s. */
START_TEST(test_reg_ack_below_rcv_nxt)
{
    size_dist d = {1, 30000, 30000, 0, 0, 0};
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    xf *x = xf_new(&d, &lc, g_seed ^ 0xac, 10u * (sl_time)SEC, NULL);
    drop_win da = {&x->sim, 20000, 1000000, true}, db = {&x->sim, 20000, 1000000, true};
    x->sim.ab.drop = x->sim.ba.drop = drop_win_fn;
    x->sim.ab.drop_ctx = &da;
    x->sim.ba.drop_ctx = &db;
    xf_connect(x, 0);
    run_small(x, "reg ACK below RCV.NXT", 3000u * (sl_time)SEC);
    xf_free(x);
}
END_TEST

/* Bug 3 again, longer: 200 KB each way, pure ACKs lost both ways from
 * 20 ms to 3 s (the first script stopped failing once fast retransmit
 * sent one segment; the pure ACK still carries a rewound SND.NXT). */
START_TEST(test_reg_ack_below_rcv_nxt_long)
{
    size_dist d = {1, 200000, 200000, 0, 0, 0};
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    xf *x = xf_new(&d, &lc, g_seed ^ 0xad, 10u * (sl_time)SEC, NULL);
    drop_win da = {&x->sim, 20000, 3000000, true}, db = {&x->sim, 20000, 3000000, true};
    x->sim.ab.drop = x->sim.ba.drop = drop_win_fn;
    x->sim.ab.drop_ctx = &da;
    x->sim.ba.drop_ctx = &db;
    xf_connect(x, 0);
    run_small(x, "reg ACK below RCV.NXT (long)", 3000u * (sl_time)SEC);
    xf_free(x);
}
END_TEST

/* Bug 4: the passive side takes its first RTT sample when the ACK of its
 * SYN-ACK arrives, as now - rtt_start, but rtt_start is never set for
 * the SYN-ACK (it is 0): the sample is the absolute clock (here 1000 s).
 * SRTT and RTTVAR start huge, the RTO sits at tcp_rto_max (60 s) and a
 * loss on the passive side waits a minute for many RTTs. */
START_TEST(test_reg_passive_first_rtt)
{
    size_dist d = {1, 1000, 1000, 0, 0, 0};
    ns_link_cfg lc = {0, 0, 0, 0, 0, 5000, 125000000u, 32 * MiB};
    xf *x = xf_new(&d, &lc, g_seed ^ 0x77, 1000u * (sl_time)SEC, NULL);
    xf_connect(x, 0);
    ns_result r = ns_run(&x->sim, xf_app, paused_done, x, 20000, 1000000u);
    (void)r; /* runs 20 ms: the handshake (10 ms RTT) is over */
    ck_assert(x->cb[0].have);
    sl_stream_info si;
    ck_assert_int_eq(sl_stream_info_get(x->sim.b, x->cb[0].h, &si), SL_OK);
    printf("[reg passive first RTT] B: srtt %u us, rto %u us (link RTT 10 ms)\n", si.srtt_us,
           si.rto_us);
    ck_assert_uint_lt(si.srtt_us, 100000);
    ck_assert_uint_le(si.rto_us, 1000000);
    run_small(x, "reg passive first RTT", 3000u * (sl_time)SEC);
    xf_free(x);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *suite(void)
{
    Suite *s = suite_create("tcp_sim");
    TCase *tc = tcase_create("transfer");
    tcase_set_timeout(tc, 3600);
    tcase_add_loop_test(tc, test_transfer, 0, (int)(sizeof g_levels / sizeof g_levels[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("determinism");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_determinism);
    suite_add_tcase(s, tc);
    tc = tcase_create("wrap");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_wrap);
    suite_add_tcase(s, tc);
    tc = tcase_create("zerowin");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_zerowin);
    tcase_add_test(tc, test_zerowin_lossy);
    suite_add_tcase(s, tc);
    tc = tcase_create("regressions");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_reg_shutdown_in_syn_sent);
    tcase_add_test(tc, test_reg_fin_after_rto);
    tcase_add_test(tc, test_reg_ack_below_rcv_nxt);
    tcase_add_test(tc, test_reg_ack_below_rcv_nxt_long);
    tcase_add_test(tc, test_reg_passive_first_rtt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *f = getenv("SL_SIM_FULL");
    g_full = f != NULL && strcmp(f, "1") == 0;
    const char *tp = getenv("SL_SIM_TRACE");
    if (tp != NULL)
        g_trace_port = (unsigned)strtoul(tp, NULL, 0);
    const char *sd = getenv("SL_SIM_SEED");
    if (sd != NULL)
        g_seed = strtoull(sd, NULL, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
