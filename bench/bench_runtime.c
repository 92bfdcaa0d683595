/*
 * bench_runtime: the runtime's overhead (include/sluice/runtime.h) against
 * the bare core, the same bulk transfer in the same run.
 *
 *   bench_runtime [--bytes N] [--mtu M] [--buf B] [--repeat R]
 *
 *   bare  two stacks in one thread, each one's tx handing packets straight
 *         to the other's sl_input (as bench_inproc bulk); A writes N bytes
 *         on one stream, B reads them.
 *   rt    two runtimes (two runtime threads) joined by an in-memory link
 *         (sl_rt_link: one copy per packet through a lock-free ring); a
 *         writer thread does blocking sl_rt_write on A, a reader thread
 *         blocking sl_rt_read on B (one more copy each way through the
 *         handle rings, futex wake-ups, commands).  Every byte is checked.
 *
 * Output, one line per run and mode:
 *   bench runtime mode=bare mtu=1500 bytes=... gbps=... cpu_s=...
 *   bench runtime mode=rt   mtu=1500 bytes=... gbps=... cpu_s=... ratio=...
 * ratio = rt gbps / bare gbps of the same repetition; cpu_ratio = rt
 * cpu_s / bare cpu_s (CPU per byte: the overhead, since rt runs on up to
 * four threads and can pipeline A and B on two cores).  cpu_s is the whole
 * process's CPU time over the transfer.
 * Sizes take K, M or G.  Addresses 198.18.0.0/15 only.
 */
#define _GNU_SOURCE 1

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/runtime.h>

static const uint8_t g_secret[16] = "bench-rt-secret!";

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The byte stream: byte i is g_tab[i % PERIOD]; the prime period keeps
 * every chunk boundary misaligned with it, so a lost, duplicated or
 * reordered run of bytes is caught, and checking is one memcmp (the
 * checks must not cost more than what is measured). */
#define PERIOD 65521u
static uint8_t g_tab[PERIOD + 65536];

static void tab_init(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof g_tab; i++) {
        if (i < PERIOD) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            g_tab[i] = (uint8_t)x;
        } else {
            g_tab[i] = g_tab[i - PERIOD];
        }
    }
}

static const uint8_t *pat_at(uint64_t off)
{
    return g_tab + off % PERIOD;
}

static uint64_t parse_size(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10;
    else if (*end == 'M' || *end == 'm')
        v <<= 20;
    else if (*end == 'G' || *end == 'g')
        v <<= 30;
    return v;
}

static sl_endpoint ep(const char *a, uint16_t port)
{
    sl_endpoint e;
    memset(&e, 0, sizeof e);
    sl_addr_parse(a, &e.addr);
    e.port = port;
    return e;
}

static struct {
    uint64_t bytes;
    unsigned mtu;
    uint32_t buf;
    int repeat;
} o = {256u << 20, 1500, 262144, 3};

static void cfg_base(sl_config *c)
{
    sl_config_init(c);
    c->secret = g_secret;
    c->secret_len = sizeof g_secret;
    c->mtu = (uint16_t)o.mtu;
    c->tcp_rcvbuf = o.buf;
    c->tcp_sndbuf = o.buf;
}

/* ---- bare ----------------------------------------------------------------- */

typedef struct pair {
    sl_stack *a, *b;
    sl_time now;
} pair;

static void tx_ab(void *ctx, uint8_t *buf, size_t len)
{
    pair *p = ctx;
    (void)sl_input(p->b, buf, len, p->now);
}

static void tx_ba(void *ctx, uint8_t *buf, size_t len)
{
    pair *p = ctx;
    (void)sl_input(p->a, buf, len, p->now);
}

static sl_time now_us(void)
{
    return (sl_time)(mono_s() * 1e6);
}

static double run_bare(double *cpu)
{
    pair p = {NULL, NULL, now_us()};
    sl_config ca, cb;
    cfg_base(&ca);
    cfg_base(&cb);
    ca.tx.send = tx_ab;
    ca.tx.ctx = &p;
    cb.tx.send = tx_ba;
    cb.tx.ctx = &p;
    sl_allocator heap = sl_allocator_heap();
    p.a = sl_stack_new(&ca, &heap, NULL);
    p.b = sl_stack_new(&cb, &heap, NULL);
    if (p.a == NULL || p.b == NULL)
        exit(1);
    sl_endpoint la = ep("198.18.0.1", 0), rb = ep("198.19.0.1", 9);
    sl_stream ha, hb = {0, 0};
    if (sl_stream_connect(p.a, &la, &rb, NULL, &ha) != SL_OK)
        exit(1);
    uint8_t *dst = malloc(65536);
    uint64_t sent = 0, got = 0;
    bool bad = false, have_b = false;
    double t0 = 0, c0 = 0;
    for (long iter = 0; got < o.bytes; iter++) {
        p.now = now_us();
        sl_event ev;
        while (sl_next_event(p.b, &ev)) {
            if (ev.type == SL_EV_STREAM_NEW) {
                hb = ev.stream;
                have_b = true;
                t0 = mono_s();
                c0 = cpu_s();
            }
        }
        while (sl_next_event(p.a, &ev)) {
        }
        while (sent < o.bytes) {
            size_t n = o.bytes - sent < 65536 ? (size_t)(o.bytes - sent) : 65536;
            long w = sl_stream_write(p.a, ha, pat_at(sent), n);
            if (w <= 0)
                break;
            sent += (uint64_t)w;
        }
        while (have_b) {
            long r = sl_stream_read(p.b, hb, dst, 65536);
            if (r <= 0)
                break;
            bad |= memcmp(dst, pat_at(got), (size_t)r) != 0;
            got += (uint64_t)r;
        }
        (void)sl_poll(p.a, p.now);
        (void)sl_poll(p.b, p.now);
        if (iter > 100000000L)
            exit(1);
    }
    double dt = mono_s() - t0;
    *cpu = cpu_s() - c0;
    if (bad) {
        fprintf(stderr, "bench_runtime: bare: corrupt bytes\n");
        exit(1);
    }
    sl_stack_free(p.a);
    sl_stack_free(p.b);
    free(dst);
    return (double)o.bytes * 8 / dt / 1e9;
}

/* ---- through the runtime ---------------------------------------------- */

typedef struct rt_side {
    sl_rt *rt;
    sl_rt_stream *h;
    atomic_bool bad;
    double t_end;
} rt_side;

static void *rt_writer(void *arg)
{
    rt_side *s = arg;
    uint64_t sent = 0;
    while (sent < o.bytes) {
        size_t n = o.bytes - sent < 65536 ? (size_t)(o.bytes - sent) : 65536;
        if (sl_rt_write(s->h, pat_at(sent), n, -1) != (long)n) {
            atomic_store(&s->bad, true);
            break;
        }
        sent += n;
    }
    return NULL;
}

static void *rt_reader(void *arg)
{
    rt_side *s = arg;
    uint8_t *dst = malloc(65536);
    uint64_t got = 0;
    bool bad = false;
    while (got < o.bytes) {
        long r = sl_rt_read(s->h, dst, 65536, 30000);
        if (r <= 0) {
            bad = true;
            break;
        }
        bad |= memcmp(dst, pat_at(got), (size_t)r) != 0;
        got += (uint64_t)r;
    }
    s->t_end = mono_s();
    atomic_store(&s->bad, bad);
    free(dst);
    return NULL;
}

static sl_rt *mk_rt(sl_rt_link *l, int side)
{
    sl_rt_config rc;
    sl_rt_config_init(&rc);
    cfg_base(&rc.stack);
    rc.stream_buf = o.buf;
    sl_rt_link_device(l, side, &rc.dev);
    sl_rt *rt = sl_rt_new(&rc, NULL);
    if (rt == NULL || sl_rt_start(rt) != SL_OK)
        exit(1);
    return rt;
}

static double run_rt(double *cpu)
{
    sl_rt_link *l = sl_rt_link_new(8u << 20);
    rt_side a = {mk_rt(l, 0), NULL, false, 0}, b = {mk_rt(l, 1), NULL, false, 0};
    sl_endpoint la = ep("198.18.0.1", 0), rb = ep("198.19.0.1", 9);
    if (sl_rt_connect(a.rt, &la, &rb, &a.h, 10000) != SL_OK ||
        sl_rt_accept(b.rt, &b.h, 10000) != SL_OK)
        exit(1);
    double t0 = mono_s(), c0 = cpu_s();
    pthread_t tw, tr;
    pthread_create(&tw, NULL, rt_writer, &a);
    pthread_create(&tr, NULL, rt_reader, &b);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    double dt = b.t_end - t0;
    *cpu = cpu_s() - c0;
    if (atomic_load(&a.bad) || atomic_load(&b.bad)) {
        fprintf(stderr, "bench_runtime: rt: transfer failed or corrupt\n");
        exit(1);
    }
    (void)sl_rt_close(a.h, 10000);
    (void)sl_rt_close(b.h, 10000);
    sl_rt_free(a.rt);
    sl_rt_free(b.rt);
    sl_rt_link_free(l);
    return (double)o.bytes * 8 / dt / 1e9;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--bytes") == 0 && v != NULL)
            o.bytes = parse_size(v);
        else if (strcmp(argv[i], "--mtu") == 0 && v != NULL)
            o.mtu = (unsigned)parse_size(v);
        else if (strcmp(argv[i], "--buf") == 0 && v != NULL)
            o.buf = (uint32_t)parse_size(v);
        else if (strcmp(argv[i], "--repeat") == 0 && v != NULL)
            o.repeat = atoi(v);
        else {
            fprintf(stderr, "usage: bench_runtime [--bytes N] [--mtu M] [--buf B] [--repeat R]\n");
            return 2;
        }
    }
    if (o.bytes == 0 || o.mtu < 576 || o.mtu > 65535 || o.repeat < 1 || o.buf < 4096 ||
        (o.buf & (o.buf - 1)) != 0) {
        fprintf(stderr, "bench_runtime: bad option (--buf: a power of two >= 4K)\n");
        return 2;
    }
    tab_init();
    for (int r = 0; r < o.repeat; r++) {
        double cb, cr;
        double gb = run_bare(&cb);
        printf("bench runtime mode=bare mtu=%u buf=%u bytes=%llu gbps=%.3f cpu_s=%.3f\n", o.mtu,
               o.buf, (unsigned long long)o.bytes, gb, cb);
        double gr = run_rt(&cr);
        printf("bench runtime mode=rt mtu=%u buf=%u bytes=%llu gbps=%.3f cpu_s=%.3f ratio=%.3f "
               "cpu_ratio=%.3f\n",
               o.mtu, o.buf, (unsigned long long)o.bytes, gr, cr, gr / gb, cr / cb);
        fflush(stdout);
    }
    return 0;
}
