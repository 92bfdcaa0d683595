/*
 * The stack's memory discipline through the public API: no leaks (a
 * counting allocator), sl_stack_new validation, allocation-failure sweeps
 * at creation and during traffic, the mem_limit under a flood of flows,
 * and determinism (same secret + same input = same bytes out).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_util.h"
#include "unit_util.h"

#define SEC ((sl_time)1000000u)
#define T0 ((sl_time)5 * SEC)

static sl_endpoint ep_n(int fam, unsigned i, uint16_t port)
{
    char buf[64];
    if (fam == 4)
        snprintf(buf, sizeof buf, "198.18.%u.%u", (i >> 8) & 0xffu, 1u + (i & 0xffu) % 254u);
    else
        snprintf(buf, sizeof buf, "2001:2::%x:%x", (i >> 16) & 0xffffu, 1u + (i & 0xffffu));
    return su_ep(buf, port);
}

static sl_endpoint local_ep(int fam, uint16_t port)
{
    return su_ep(fam == 4 ? "198.19.0.1" : "2001:2::1", port);
}

static void feed(sl_stack *s, const sl_endpoint *src, const sl_endpoint *dst, const void *data,
                 size_t n, sl_time now)
{
    static uint8_t pkt[70000];
    size_t len = su_udp(pkt, sizeof pkt, src, dst, data, n, (uint16_t)(n * 31u + src->port));
    ck_assert_uint_gt(len, 0);
    (void)sl_input(s, pkt, len, now);
}

/* The fragments a helper stack emits for one datagram src -> dst of n
 * bytes, into `out` (cleared first). */
static void make_fragments(su_cap *out, const sl_endpoint *src, const sl_endpoint *dst, size_t n,
                           uint16_t mtu)
{
    su_cap_clear(out);
    sl_config cfg;
    su_config(&cfg, out);
    cfg.mtu = mtu;
    sl_stack *h = su_stack_new(&cfg);
    sl_dgram d;
    ck_assert_int_eq(sl_dgram_open(h, NULL, NULL, &d), SL_OK);
    static uint8_t data[65600];
    su_fill(data, n, (uint32_t)n);
    ck_assert_int_eq(sl_dgram_sendto(h, d, src, dst, data, n), SL_OK);
    sl_poll(h, 0);
    sl_stack_free(h);
}

/* ====================================================================== */
/* Leak checks                                                             */
/* ====================================================================== */

START_TEST(no_leak_full_state)
{
    su_alloc a;
    sl_allocator al = su_alloc_make(&a);
    su_cap *cap = su_cap_new((size_t)4 << 20, 4096);
    su_cap *frags = su_cap_new((size_t)1 << 20, 1024);
    sl_config cfg;
    su_config(&cfg, cap);
    sl_error err = SL_OK;
    sl_stack *s = sl_stack_new(&cfg, &al, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(err, SL_OK);
    ck_assert_uint_gt(a.live, 0);
    sl_mem_stats ms;
    sl_stats_mem(s, &ms);
    ck_assert_uint_eq(ms.in_use, a.live);
    ck_assert_uint_eq(ms.limit, cfg.mem_limit);

    uint8_t d[1000];
    su_fill(d, sizeof d, 1);
    sl_time now = T0;
    for (int fam = 4; fam <= 6; fam += 2) {
        sl_endpoint loc = local_ep(fam, 53);
        /* Flows with queued datagrams, some never read. */
        for (unsigned i = 0; i < 20; i++) {
            sl_endpoint r = ep_n(fam, i + 1, 1000);
            for (unsigned k = 0; k < 3; k++)
                feed(s, &r, &loc, d, 100 + i * 10 + k, now);
        }
        /* Bound handles (one with data queued). */
        sl_endpoint b = local_ep(fam, 5353);
        sl_dgram hb, hu;
        ck_assert_int_eq(sl_dgram_open(s, &b, NULL, &hb), SL_OK);
        ck_assert_int_eq(sl_dgram_open(s, NULL, NULL, &hu), SL_OK);
        sl_endpoint r = ep_n(fam, 99, 1000);
        feed(s, &r, &b, d, 10, now);
        /* Queued tx packets (not polled), one of them to be fragmented. */
        ck_assert_int_eq(sl_dgram_sendto(s, hu, &b, &r, d, sizeof d), SL_OK);
        static uint8_t big[9000];
        ck_assert_int_eq(sl_dgram_sendto(s, hu, &b, &r, big, sizeof big), SL_OK);
        /* Partial reassembly: the first fragment only, and a middle one of
         * another datagram. */
        sl_endpoint fsrc = ep_n(fam, 200, 7), fdst = local_ep(fam, 9);
        make_fragments(frags, &fsrc, &fdst, 5000, 1280);
        ck_assert_uint_ge(frags->n, 4);
        size_t len;
        const uint8_t *p = su_cap_pkt(frags, 0, &len);
        ck_assert_int_eq(sl_input(s, p, len, now), SL_OK);
        fsrc.port = 8;
        make_fragments(frags, &fsrc, &fdst, 5000, 1280);
        p = su_cap_pkt(frags, 2, &len);
        ck_assert_int_eq(sl_input(s, p, len, now), SL_OK);
        /* A ping answered but not polled. */
        uint8_t pkt[200];
        size_t pl = su_icmp_echo(pkt, sizeof pkt, &r.addr, &loc.addr, 1, 1, d, 50);
        ck_assert_int_eq(sl_input(s, pkt, pl, now), SL_OK);
    }
    ck_assert_uint_eq(sl_stats_get(s, SL_CNT_UDP_FLOW_NEW), 40);
    ck_assert_uint_eq(sl_stats_get(s, SL_CNT_IP_FRAGS_RX), 4);
    ck_assert_uint_eq(sl_stats_get(s, SL_CNT_ICMP_ECHO_REPLIED), 2);
    sl_stats_mem(s, &ms);
    ck_assert_uint_eq(ms.in_use, a.live);
    ck_assert_uint_le(ms.peak, a.peak);
    ck_assert_uint_eq(cap->n, 0);
    sl_stack_free(s);
    ck_assert_uint_eq(a.live, 0);
    ck_assert_uint_eq(a.bad_free, 0);
    ck_assert_uint_eq(a.allocs, a.frees);
    su_cap_free(cap);
    su_cap_free(frags);
}
END_TEST

/* Freed handles, drained queues, idle-closed flows and timed-out
 * reassembly give their memory back while the stack runs. */
START_TEST(memory_returns_while_running)
{
    su_alloc a;
    sl_allocator al = su_alloc_make(&a);
    su_cap *cap = su_cap_new((size_t)4 << 20, 4096);
    su_cap *frags = su_cap_new((size_t)1 << 20, 1024);
    sl_config cfg;
    su_config(&cfg, cap);
    cfg.udp_idle_timeout = 2 * SEC;
    cfg.reasm_timeout = 3 * SEC;
    sl_stack *s = sl_stack_new(&cfg, &al, NULL);
    ck_assert_ptr_nonnull(s);
    size_t base = a.live;
    uint8_t d[500] = {0};
    sl_time now = T0;
    sl_endpoint loc = local_ep(4, 53);
    for (unsigned i = 0; i < 10; i++) {
        sl_endpoint r = ep_n(4, i + 1, 1000);
        feed(s, &r, &loc, d, sizeof d, now);
    }
    sl_endpoint fsrc = ep_n(6, 5, 7), fdst = local_ep(6, 9);
    make_fragments(frags, &fsrc, &fdst, 3000, 1280);
    size_t len;
    const uint8_t *p = su_cap_pkt(frags, 0, &len);
    ck_assert_int_eq(sl_input(s, p, len, now), SL_OK);
    ck_assert_uint_gt(a.live, base);
    /* Read and answer everything, then let flows idle out. */
    sl_event ev;
    sl_dgram hs[10];
    unsigned nh = 0;
    while (sl_next_event(s, &ev)) {
        if (ev.type == SL_EV_DGRAM_NEW)
            hs[nh++] = ev.dgram;
    }
    ck_assert_uint_eq(nh, 10);
    for (unsigned i = 0; i < nh; i++) {
        uint8_t b[600];
        ck_assert_int_eq(sl_dgram_recv(s, hs[i], b, sizeof b, NULL, NULL), 500);
        ck_assert_int_eq(sl_dgram_send(s, hs[i], b, 500), SL_OK);
    }
    sl_poll(s, now);
    ck_assert_uint_eq(cap->n, 10);
    now += 10 * SEC;
    sl_poll(s, now);
    unsigned closed = 0;
    while (sl_next_event(s, &ev)) {
        ck_assert_int_eq(ev.type, SL_EV_CLOSED);
        closed++;
        ck_assert_int_eq(sl_dgram_free(s, ev.dgram), SL_OK);
    }
    ck_assert_uint_eq(closed, 10);
    ck_assert_uint_eq(sl_stats_get(s, SL_CNT_IP_REASM_TIMEOUT), 1);
    sl_poll(s, now);
    ck_assert_uint_eq(a.live, base);
    sl_stack_free(s);
    ck_assert_uint_eq(a.live, 0);
    ck_assert_uint_eq(a.bad_free, 0);
    su_cap_free(cap);
    su_cap_free(frags);
}
END_TEST

/* ====================================================================== */
/* sl_stack_new validation                                                 */
/* ====================================================================== */

static sl_error try_new(const sl_config *cfg, su_alloc *a)
{
    sl_allocator al = su_alloc_make(a);
    sl_error err = SL_OK;
    sl_stack *s = sl_stack_new(cfg, &al, &err);
    if (s != NULL) {
        sl_stack_free(s);
        return SL_OK;
    }
    ck_assert_uint_eq(a->live, 0);
    return err;
}

START_TEST(new_validation)
{
    su_cap *cap = su_cap_new(4096, 4);
    sl_config good;
    su_config(&good, cap);
    su_alloc a;
    ck_assert_int_eq(try_new(&good, &a), SL_OK);
    ck_assert_uint_eq(a.live, 0);

    sl_config c = good;
    c.secret = NULL;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    ck_assert_uint_eq(a.calls, 0);
    c = good;
    c.secret_len = 15;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    ck_assert_uint_eq(a.calls, 0);
    c = good;
    c.secret_len = 16;
    ck_assert_int_eq(try_new(&c, &a), SL_OK);
    c = good;
    c.tx.send = NULL;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c = good;
    c.tx.send = NULL;
    c.tx.get_buffer = su_cap_get_buffer;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c = good;
    c.mtu = 575;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c.mtu = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c.mtu = 576;
    ck_assert_int_eq(try_new(&c, &a), SL_OK);
    c.mtu = 65535;
    ck_assert_int_eq(try_new(&c, &a), SL_OK);

    sl_prefix pfx[17];
    memset(pfx, 0, sizeof pfx);
    pfx[0].addr = su_addr("198.18.0.0");
    pfx[0].len = 15;
    pfx[1].addr = su_addr("2001:2::");
    pfx[1].len = 48;
    c = good;
    c.any_ip = false;
    c.local_prefixes = pfx;
    c.n_local_prefixes = 2;
    ck_assert_int_eq(try_new(&c, &a), SL_OK);
    pfx[1].len = 129;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    pfx[1].len = 48;
    pfx[0].len = 33;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    pfx[0].len = 15;
    pfx[0].addr.family = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    pfx[0].addr.family = 5;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    pfx[0].addr.family = 4;
    c.local_prefixes = NULL;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c.local_prefixes = pfx;
    for (unsigned i = 2; i < 17; i++)
        pfx[i] = pfx[0];
    c.n_local_prefixes = 16;
    ck_assert_int_eq(try_new(&c, &a), SL_OK);
    c.n_local_prefixes = 17;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);

    /* Zero limits that would make the stack useless. */
    c = good;
    c.max_flows = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c = good;
    c.tx_queue = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c = good;
    c.udp_rx_queue = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);
    c = good;
    c.ttl = 0;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_INVAL);

    /* NULL arguments, incomplete allocator. */
    sl_error err = SL_OK;
    sl_allocator al = su_alloc_make(&a);
    ck_assert_ptr_null(sl_stack_new(NULL, &al, &err));
    ck_assert_int_eq(err, SL_ERR_INVAL);
    err = SL_OK;
    ck_assert_ptr_null(sl_stack_new(&good, NULL, &err));
    ck_assert_int_eq(err, SL_ERR_INVAL);
    sl_allocator half = al;
    half.free = NULL;
    err = SL_OK;
    ck_assert_ptr_null(sl_stack_new(&good, &half, &err));
    ck_assert_int_eq(err, SL_ERR_INVAL);
    half = al;
    half.alloc = NULL;
    ck_assert_ptr_null(sl_stack_new(&good, &half, NULL));
    ck_assert_uint_eq(a.calls, 0);
    /* A mem_limit too small for the stack's own tables. */
    c = good;
    c.mem_limit = 1000;
    ck_assert_int_eq(try_new(&c, &a), SL_ERR_NOMEM);
    sl_stack_free(NULL);
    su_cap_free(cap);
}
END_TEST

START_TEST(new_fail_sweep)
{
    su_cap *cap = su_cap_new(4096, 4);
    sl_config cfg;
    su_config(&cfg, cap);
    unsigned n;
    for (n = 1; n < 1000; n++) {
        su_alloc a;
        sl_allocator al = su_alloc_make(&a);
        su_alloc_fail(&a, n, false);
        sl_error err = SL_OK;
        sl_stack *s = sl_stack_new(&cfg, &al, &err);
        if (s != NULL) {
            ck_assert_int_eq(err, SL_OK);
            ck_assert_uint_eq(a.fails, 0); /* every allocation was needed */
            sl_stack_free(s);
            ck_assert_uint_eq(a.live, 0);
            break;
        }
        ck_assert_int_eq(err, SL_ERR_NOMEM);
        ck_assert_uint_eq(a.fails, 1);
        ck_assert_uint_eq(a.live, 0);
        ck_assert_uint_eq(a.bad_free, 0);
        ck_assert_uint_eq(a.allocs, a.frees);
    }
    ck_assert_uint_gt(n, 1);
    ck_assert_uint_lt(n, 1000);
    su_cap_free(cap);
}
END_TEST

/* ====================================================================== */
/* Failing allocations during traffic                                      */
/* ====================================================================== */

/* A scripted run: flows (v4/v6), echo, sendto, bound handles, outbound
 * fragments, inbound fragments, pings, refusals, idle timeouts.  Returns
 * how many datagrams the app received (varies with failures).  Only checks
 * what must hold whatever fails. */
static unsigned script(sl_stack *s, su_cap *cap, su_cap *frags_v4, su_cap *frags_v6)
{
    sl_time now = T0;
    static uint8_t d[6000];
    su_fill(d, sizeof d, 77);
    unsigned got = 0;
    sl_dgram bound[2];
    bool have_bound[2] = {false, false};
    for (int fi = 0; fi < 2; fi++) {
        int fam = fi == 0 ? 4 : 6;
        sl_endpoint b = local_ep(fam, 5353);
        have_bound[fi] = sl_dgram_open(s, &b, NULL, &bound[fi]) == SL_OK;
    }
    for (unsigned round = 0; round < 3; round++) {
        for (int fi = 0; fi < 2; fi++) {
            int fam = fi == 0 ? 4 : 6;
            sl_endpoint loc = local_ep(fam, 53);
            for (unsigned i = 0; i < 4; i++) {
                sl_endpoint r = ep_n(fam, i + 1, (uint16_t)(1000 + round % 2));
                feed(s, &r, &loc, d, 50 + i * 300, now);
            }
            sl_endpoint r = ep_n(fam, 50, 2000), b = local_ep(fam, 5353);
            feed(s, &r, &b, d, 64, now);
            /* Inbound fragments (full set, reassembled). */
            su_cap *fr = fam == 4 ? frags_v4 : frags_v6;
            for (size_t k = 0; k < fr->n; k++) {
                size_t len;
                const uint8_t *p = su_cap_pkt(fr, k, &len);
                (void)sl_input(s, p, len, now);
            }
            uint8_t pkt[300];
            size_t pl = su_icmp_echo(pkt, sizeof pkt, &r.addr, &loc.addr, 7, (uint16_t)round, d,
                                     100);
            (void)sl_input(s, pkt, pl, now);
        }
        sl_event ev;
        while (sl_next_event(s, &ev)) {
            if (ev.type != SL_EV_READABLE)
                continue;
            static uint8_t b[70000];
            sl_endpoint f, t;
            long n;
            while ((n = sl_dgram_recv(s, ev.dgram, b, sizeof b, &f, &t)) >= 0) {
                got++;
                sl_dgram_info info;
                if (sl_dgram_info_get(s, ev.dgram, &info) == SL_OK && info.is_flow) {
                    (void)sl_dgram_send(s, ev.dgram, b, (size_t)n);
                    (void)sl_dgram_send(s, ev.dgram, d, 4000); /* fragmented */
                } else {
                    (void)sl_dgram_sendto(s, ev.dgram, NULL, &f, b, (size_t)n);
                }
            }
        }
        now += SEC;
        sl_poll(s, now);
        su_cap_clear(cap);
    }
    /* Idle everything out and free the closed flows. */
    now += 120 * SEC;
    sl_poll(s, now);
    sl_event ev;
    while (sl_next_event(s, &ev)) {
        if (ev.type == SL_EV_CLOSED)
            ck_assert_int_eq(sl_dgram_free(s, ev.dgram), SL_OK);
    }
    for (int fi = 0; fi < 2; fi++) {
        if (have_bound[fi])
            ck_assert_int_eq(sl_dgram_free(s, bound[fi]), SL_OK);
    }
    su_cap_clear(cap);
    return got;
}

START_TEST(traffic_fail_sweep)
{
    bool after = _i == 1;
    su_cap *cap = su_cap_new((size_t)8 << 20, 8192);
    su_cap *f4 = su_cap_new((size_t)1 << 20, 1024);
    su_cap *f6 = su_cap_new((size_t)1 << 20, 1024);
    sl_endpoint s4 = ep_n(4, 300, 9000), d4 = local_ep(4, 9001);
    sl_endpoint s6 = ep_n(6, 300, 9000), d6 = local_ep(6, 9001);
    make_fragments(f4, &s4, &d4, 3000, 576);
    make_fragments(f6, &s6, &d6, 3000, 1280);
    sl_config cfg;
    su_config(&cfg, cap);

    /* Reference run: how many allocations the script makes. */
    su_alloc a;
    sl_allocator al = su_alloc_make(&a);
    sl_stack *s = sl_stack_new(&cfg, &al, NULL);
    ck_assert_ptr_nonnull(s);
    uint64_t at_start = a.calls;
    unsigned ref_got = script(s, cap, f4, f6);
    uint64_t total = a.calls - at_start;
    ck_assert_uint_gt(total, 50);
    ck_assert_uint_eq(sl_stats_get(s, SL_CNT_MEM_FAIL), 0);
    sl_stack_free(s);
    ck_assert_uint_eq(a.live, 0);

    uint64_t step = total > 400 ? total / 400 : 1;
    fprintf(stderr, "traffic_fail_sweep: %llu allocations, step %llu, got %u\n", (unsigned long long)total, (unsigned long long)step, ref_got);
    for (uint64_t n = 1; n <= total + 1; n += step) {
        al = su_alloc_make(&a);
        s = sl_stack_new(&cfg, &al, NULL);
        ck_assert_ptr_nonnull(s);
        su_alloc_fail(&a, n, after);
        unsigned got = script(s, cap, f4, f6);
        if (a.fails > 0) {
            ck_assert_msg(sl_stats_get(s, SL_CNT_MEM_FAIL) >= 1,
                          "allocation %llu failed uncounted", (unsigned long long)n);
            sl_mem_stats ms;
            sl_stats_mem(s, &ms);
            ck_assert_uint_eq(ms.fails, a.fails);
            ck_assert_uint_le(got, ref_got);
        } else {
            ck_assert_uint_eq(got, ref_got);
        }
        sl_stack_free(s);
        ck_assert_msg(a.live == 0, "fail at %llu: %zu bytes leaked", (unsigned long long)n,
                      a.live);
        ck_assert_uint_eq(a.bad_free, 0);
    }
    su_cap_free(cap);
    su_cap_free(f4);
    su_cap_free(f6);
}
END_TEST

/* ====================================================================== */
/* mem_limit under a flood                                                 */
/* ====================================================================== */

START_TEST(mem_limit_flood)
{
    su_cap *cap = su_cap_new((size_t)1 << 20, 1024);
    sl_config cfg;
    su_config(&cfg, cap);
    cfg.max_flows = 100000;
    /* Measure the fixed part, then allow 512 KiB on top. */
    su_alloc a;
    sl_allocator al = su_alloc_make(&a);
    sl_stack *s = sl_stack_new(&cfg, &al, NULL);
    ck_assert_ptr_nonnull(s);
    size_t base = a.live;
    sl_stack_free(s);
    cfg.mem_limit = base + ((size_t)512 << 10);

    al = su_alloc_make(&a);
    s = sl_stack_new(&cfg, &al, NULL);
    ck_assert_ptr_nonnull(s);
    su_rng prng = {12345};
    uint8_t d[200];
    su_fill(d, sizeof d, 5);
    static uint8_t pkt[512];
    for (unsigned i = 0; i < 50000; i++) {
        uint64_t r = su_rng_next(&prng);
        sl_endpoint src, dst;
        memset(&src, 0, sizeof src);
        src.addr.family = 4;
        src.addr.b[0] = 198;
        src.addr.b[1] = (uint8_t)(18u + (r & 1u));
        src.addr.b[2] = (uint8_t)(r >> 8);
        src.addr.b[3] = (uint8_t)(1u + (r >> 16) % 254u);
        src.port = (uint16_t)(1024u + (r >> 24) % 60000u);
        dst = local_ep(4, 53);
        size_t n = (size_t)(r >> 40) % sizeof d;
        size_t len = su_udp(pkt, sizeof pkt, &src, &dst, d, n, (uint16_t)i);
        (void)sl_input(s, pkt, len, T0 + i);
        if (i % 1000 == 0) {
            sl_mem_stats ms;
            sl_stats_mem(s, &ms);
            ck_assert_uint_le(ms.in_use, cfg.mem_limit);
        }
    }
    sl_mem_stats ms;
    sl_stats_mem(s, &ms);
    ck_assert_uint_le(ms.peak, cfg.mem_limit);
    ck_assert_uint_le(a.peak, cfg.mem_limit);
    ck_assert_uint_eq(ms.limit, cfg.mem_limit);
    ck_assert_uint_gt(ms.fails, 0);
    uint64_t made = sl_stats_get(s, SL_CNT_UDP_FLOW_NEW);
    ck_assert_uint_gt(made, 100);
    ck_assert_uint_lt(made, 50000);
    ck_assert_uint_gt(sl_stats_get(s, SL_CNT_MEM_FAIL), 0);
    ck_assert_uint_gt(sl_stats_get(s, SL_CNT_UDP_FLOW_LIMIT), 0);
    /* Events stay bounded by handles: drain them. */
    size_t nev = su_drain_events(s);
    ck_assert_uint_le(nev, 2 * made);
    /* Pings still answered only when memory allows; the stack is usable. */
    sl_stack_free(s);
    ck_assert_uint_eq(a.live, 0);
    ck_assert_uint_eq(a.bad_free, 0);
    su_cap_free(cap);
}
END_TEST

/* ====================================================================== */
/* Determinism                                                             */
/* ====================================================================== */

/* Drive a stack through a fixed sequence and record its output. */
static void det_run(sl_stack *s, su_cap *frags)
{
    sl_time now = T0;
    static uint8_t d[5000];
    su_fill(d, sizeof d, 3);
    sl_dgram hu;
    ck_assert_int_eq(sl_dgram_open(s, NULL, NULL, &hu), SL_OK);
    for (unsigned step = 0; step < 40; step++) {
        int fam = step % 3 == 2 ? 6 : 4;
        sl_endpoint loc = local_ep(fam, (uint16_t)(53 + step % 2));
        sl_endpoint r = ep_n(fam, step % 7 + 1, (uint16_t)(1000 + step % 5));
        feed(s, &r, &loc, d, 20 + step * 37 % 2000, now);
        uint8_t pkt[300];
        size_t pl = su_icmp_echo(pkt, sizeof pkt, &r.addr, &loc.addr, 1, (uint16_t)step, d, 56);
        ck_assert_int_eq(sl_input(s, pkt, pl, now), SL_OK);
        if (step % 10 == 0) {
            for (size_t k = 0; k < frags->n; k++) {
                size_t len;
                const uint8_t *p = su_cap_pkt(frags, k, &len);
                ck_assert_int_eq(sl_input(s, p, len, now), SL_OK);
            }
        }
        sl_event ev;
        while (sl_next_event(s, &ev)) {
            if (ev.type != SL_EV_READABLE)
                continue;
            static uint8_t b[70000];
            long n;
            while ((n = sl_dgram_recv(s, ev.dgram, b, sizeof b, NULL, NULL)) >= 0) {
                ck_assert_int_eq(sl_dgram_send(s, ev.dgram, b, (size_t)n), SL_OK);
                ck_assert_int_eq(sl_dgram_send(s, ev.dgram, d, 3000), SL_OK);
            }
        }
        sl_endpoint from = local_ep(4, 999);
        sl_endpoint to = ep_n(4, 77, 999);
        ck_assert_int_eq(sl_dgram_sendto(s, hu, &from, &to, d, 100 + step), SL_OK);
        now += 250000;
        sl_poll(s, now);
    }
    now += 600 * SEC;
    sl_poll(s, now);
}

static bool caps_equal(const su_cap *x, const su_cap *y)
{
    if (x->n != y->n)
        return false;
    for (size_t i = 0; i < x->n; i++) {
        size_t lx, ly;
        const uint8_t *px = su_cap_pkt(x, i, &lx);
        const uint8_t *py = su_cap_pkt(y, i, &ly);
        if (lx != ly || memcmp(px, py, lx) != 0)
            return false;
    }
    return true;
}

START_TEST(determinism)
{
    su_cap *frags = su_cap_new((size_t)1 << 20, 1024);
    sl_endpoint fs = ep_n(4, 400, 4000), fd = local_ep(4, 4001);
    make_fragments(frags, &fs, &fd, 4000, 1500);
    su_cap *c1 = su_cap_new((size_t)16 << 20, 8192);
    su_cap *c2 = su_cap_new((size_t)16 << 20, 8192);
    su_cap *c3 = su_cap_new((size_t)16 << 20, 8192);
    sl_config cfg1, cfg2, cfg3;
    su_config(&cfg1, c1);
    su_config(&cfg2, c2);
    su_config(&cfg3, c3);
    /* The same secret in another buffer: only the bytes matter. */
    uint8_t copy[32];
    memcpy(copy, su_secret_a, sizeof copy);
    cfg2.secret = copy;
    cfg3.secret = su_secret_b;
    sl_stack *s1 = su_stack_new(&cfg1);
    sl_stack *s2 = su_stack_new(&cfg2);
    memset(copy, 0, sizeof copy); /* the secret was copied */
    sl_stack *s3 = su_stack_new(&cfg3);
    det_run(s1, frags);
    det_run(s2, frags);
    det_run(s3, frags);
    ck_assert_uint_gt(c1->n, 100);
    ck_assert_uint_eq(c1->overflow, 0);
    ck_assert(caps_equal(c1, c2));
    /* Another secret: same packets, except the IP IDs (and so the IPv4
     * header checksums and the IPv6 fragment identifications). */
    ck_assert_uint_eq(c1->n, c3->n);
    unsigned v4 = 0, id_same = 0, frag6 = 0, frag6_same = 0;
    for (size_t i = 0; i < c1->n; i++) {
        size_t l1, l3;
        const uint8_t *p1 = su_cap_pkt(c1, i, &l1);
        const uint8_t *p3 = su_cap_pkt(c3, i, &l3);
        ck_assert_uint_eq(l1, l3);
        su_ip_pkt i1, i3;
        ck_assert_int_eq(su_parse_ip(p1, l1, &i1), SL_OK);
        ck_assert_int_eq(su_parse_ip(p3, l3, &i3), SL_OK);
        ck_assert_int_eq(i1.family, i3.family);
        if (i1.family == 4) {
            v4++;
            if (i1.ip4.id == i3.ip4.id)
                id_same++;
            /* Everything but ID and checksum identical. */
            ck_assert_mem_eq(p1, p3, 4);
            ck_assert_mem_eq(p1 + 6, p3 + 6, 4);
            ck_assert_mem_eq(p1 + 12, p3 + 12, l1 - 12);
        } else if (i1.ip6.has_frag) {
            frag6++;
            if (i1.ip6.frag_id == i3.ip6.frag_id)
                frag6_same++;
        } else {
            ck_assert_mem_eq(p1, p3, l1);
        }
    }
    ck_assert_uint_gt(v4, 50);
    ck_assert_uint_le(id_same, v4 / 20 + 1);
    ck_assert_uint_gt(frag6, 0);
    ck_assert_uint_eq(frag6_same, 0);
    sl_stack_free(s1);
    sl_stack_free(s2);
    sl_stack_free(s3);
    su_cap_free(c1);
    su_cap_free(c2);
    su_cap_free(c3);
    su_cap_free(frags);
}
END_TEST

/* ====================================================================== */
/* Regressions                                                             */
/* ====================================================================== */

static Suite *stack_mem_suite(void)
{
    Suite *s = suite_create("stack_mem");
    TCase *tc = tcase_create("leaks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, no_leak_full_state);
    tcase_add_test(tc, memory_returns_while_running);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, new_validation);
    tcase_add_test(tc, new_fail_sweep);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, traffic_fail_sweep, 0, 2);
    tcase_add_test(tc, mem_limit_flood);
    suite_add_tcase(s, tc);

    tc = tcase_create("determinism");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, determinism);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(stack_mem_suite());
}
