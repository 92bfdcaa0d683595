/*
 * test_rt_link: the runtime without a kernel device: two runtimes joined by
 * an in-memory link (sl_rt_link), driven from many threads.  Needs no
 * root; run under ThreadSanitizer by scripts/test (label "runtime").
 *
 *   1. echo: T client threads connect through runtime A (whose command
 *      queue has only 16 slots, so it runs full) to runtime B,
 *      whose T server threads accept and echo; every byte checked, IPv4
 *      and IPv6, random chunk sizes on both sides.
 *   2. datagrams: a bound handle on B echoes what a bound handle on A
 *      sends with sl_rt_send(to); byte-exact, endpoints checked.
 *   3. rules: a second concurrent reader gets SL_ERR_BUSY, close during a
 *      read is SL_ERR_BUSY, abort wakes the reader with SL_ERR_CLOSED,
 *      timeouts return SL_ERR_AGAIN, connect to a closed port is refused.
 *   4. readiness fds: readable after data arrives, clear-then-drain.
 *   5. stop with calls in flight: every blocked call returns
 *      SL_ERR_SHUTDOWN.
 */
#define _GNU_SOURCE 1

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/runtime.h>

static atomic_int g_fail;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            atomic_fetch_add(&g_fail, 1);                                                          \
        }                                                                                          \
    } while (0)

#define CHECK_FAIL(what)                                                                           \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, what);                            \
        atomic_fetch_add(&g_fail, 1);                                                              \
    } while (0)

static uint8_t pat(uint32_t seed, uint64_t i)
{
    uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 29;
    return (uint8_t)(x >> ((i & 7) * 8));
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static sl_rt *rt_a, *rt_b;
static sl_rt_link *g_link;

static sl_endpoint ep(const char *a, uint16_t port)
{
    sl_endpoint e;
    memset(&e, 0, sizeof e);
    sl_addr_parse(a, &e.addr);
    e.port = port;
    return e;
}

static sl_rt *mk_rt(int side)
{
    static const uint8_t secret[16] = "rt-link-secret!!";
    sl_rt_config rc;
    sl_rt_config_init(&rc);
    rc.stack.secret = secret;
    rc.stack.secret_len = sizeof secret;
    rc.stack.tcp_time_wait = 100000;
    rc.stream_buf = 16384; /* small: the rings fill and drain often */
    if (side == 0)
        rc.cmd_queue = 16; /* A: the command queue runs full (posters wait) */
    sl_rt_link_device(g_link, side, &rc.dev);
    sl_error e;
    sl_rt *rt = sl_rt_new(&rc, &e);
    if (rt == NULL) {
        fprintf(stderr, "sl_rt_new: %s\n", sl_strerror(e));
        exit(1);
    }
    CHECK(sl_rt_start(rt) == SL_OK);
    CHECK(sl_rt_start(rt) == SL_ERR_STATE);
    return rt;
}

/* ---- 1. echo -------------------------------------------------------------- */

#define NT 8
#define XFER (300u * 1024u)

static atomic_int echo_ok;

static void *echo_server(void *p)
{
    (void)p;
    sl_rt_stream *h;
    if (sl_rt_accept(rt_b, &h, 10000) != SL_OK) {
        CHECK_FAIL("accept");
        return NULL;
    }
    uint8_t buf[5000];
    uint64_t rng = (uint64_t)(uintptr_t)&h | 1u;
    for (;;) {
        size_t want = 1 + (size_t)(rng_next(&rng) % sizeof buf);
        long r = sl_rt_read(h, buf, want, 10000);
        if (r <= 0) {
            CHECK(r == 0);
            break;
        }
        CHECK(sl_rt_write(h, buf, (size_t)r, -1) == r);
    }
    CHECK(sl_rt_close(h, 10000) == SL_OK);
    return NULL;
}

typedef struct cl_arg {
    int idx;
    sl_rt_stream *h;
    atomic_bool wrote;
} cl_arg;

static void *echo_client_writer(void *p)
{
    cl_arg *a = p;
    uint8_t buf[7000];
    uint64_t rng = 77u + (uint64_t)a->idx;
    uint64_t off = 0;
    while (off < XFER) {
        size_t n = 1 + (size_t)(rng_next(&rng) % sizeof buf);
        if (n > XFER - off)
            n = (size_t)(XFER - off);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat((uint32_t)a->idx, off + i);
        CHECK(sl_rt_write(a->h, buf, n, -1) == (long)n);
        off += n;
    }
    CHECK(sl_rt_shutdown(a->h) == SL_OK);
    long w = sl_rt_write(a->h, buf, 1, 0);
    CHECK(w == SL_ERR_CLOSED);
    return NULL;
}

static void *echo_client(void *p)
{
    cl_arg *a = p;
    bool v6 = a->idx & 1;
    sl_endpoint l = v6 ? ep("2001:2::1", 0) : ep("198.18.0.1", 0);
    sl_endpoint r = v6 ? ep("2001:2::2", 7) : ep("198.18.0.2", 7);
    if (sl_rt_connect(rt_a, &l, &r, &a->h, 10000) != SL_OK) {
        CHECK_FAIL("connect");
        return NULL;
    }
    sl_endpoint gl, gr;
    sl_rt_stream_endpoints(a->h, &gl, &gr);
    CHECK(gl.port != 0 && gr.port == 7);
    pthread_t w; /* one writer thread and this reader on the same handle */
    pthread_create(&w, NULL, echo_client_writer, a);
    uint8_t buf[9000];
    uint64_t off = 0;
    bool good = true;
    for (;;) {
        long n = sl_rt_read(a->h, buf, sizeof buf, 10000);
        if (n <= 0) {
            CHECK(n == 0);
            break;
        }
        for (long i = 0; i < n; i++)
            good = good && buf[i] == pat((uint32_t)a->idx, off + (uint64_t)i);
        off += (uint64_t)n;
    }
    pthread_join(w, NULL);
    CHECK(good && off == XFER);
    CHECK(sl_rt_close(a->h, 10000) == SL_OK);
    if (good && off == XFER)
        atomic_fetch_add(&echo_ok, 1);
    return NULL;
}

static void test_echo(void)
{
    pthread_t s[NT], c[NT];
    cl_arg a[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&s[i], NULL, echo_server, NULL);
    for (int i = 0; i < NT; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].idx = i;
        pthread_create(&c[i], NULL, echo_client, &a[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(c[i], NULL);
        pthread_join(s[i], NULL);
    }
    CHECK(atomic_load(&echo_ok) == NT);
    printf("echo: %d of %d streams byte-exact (%u bytes each way)\n", atomic_load(&echo_ok), NT,
           XFER);
}

/* ---- 2. datagrams --------------------------------------------------------- */

static void *dgram_echo(void *p)
{
    sl_rt_dgram *d = p;
    uint8_t buf[2000];
    for (int i = 0; i < 100; i++) {
        sl_endpoint from, to;
        long n = sl_rt_recv(d, buf, sizeof buf, &from, &to, 10000);
        if (n < 0) {
            CHECK_FAIL("dgram recv");
            return NULL;
        }
        CHECK(to.port == 53);
        CHECK(sl_rt_send(d, buf, (size_t)n, &from, -1) == n);
    }
    return NULL;
}

static void test_dgram(void)
{
    sl_endpoint bb = ep("198.18.0.2", 53), ba = ep("198.18.0.1", 5353);
    sl_rt_dgram *db, *da, *dup;
    CHECK(sl_rt_dgram_open(rt_b, &bb, &db) == SL_OK);
    CHECK(sl_rt_dgram_open(rt_b, &bb, &dup) == SL_ERR_LIMIT); /* same endpoint twice */
    CHECK(sl_rt_dgram_open(rt_a, &ba, &da) == SL_OK);
    pthread_t t;
    pthread_create(&t, NULL, dgram_echo, db);
    uint8_t out[1500], in[2000];
    uint64_t rng = 5;
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        size_t n = 1 + (size_t)(rng_next(&rng) % sizeof out);
        for (size_t j = 0; j < n; j++)
            out[j] = pat((uint32_t)i, j);
        CHECK(sl_rt_send(da, out, n, &bb, -1) == (long)n);
        sl_endpoint from;
        long r = sl_rt_recv(da, in, sizeof in, &from, NULL, 10000);
        if (r == (long)n && memcmp(in, out, n) == 0 && from.port == 53)
            ok++;
    }
    pthread_join(t, NULL);
    CHECK(ok == 100);
    CHECK(sl_rt_send(da, out, 70000, &bb, 0) == SL_ERR_MSGSIZE);
    CHECK(sl_rt_recv(da, in, sizeof in, NULL, NULL, 0) == SL_ERR_AGAIN);
    CHECK(sl_rt_dgram_close(da) == SL_OK);
    CHECK(sl_rt_dgram_close(db) == SL_OK);
    printf("dgram: %d of 100 datagrams echoed byte-exact\n", ok);
}

/* ---- 3. rules ------------------------------------------------------------- */

typedef struct rd_arg {
    sl_rt_stream *h;
    long result;
    atomic_bool done;
} rd_arg;

static void *blocked_reader(void *p)
{
    rd_arg *a = p;
    uint8_t b[10];
    a->result = sl_rt_read(a->h, b, sizeof b, -1);
    atomic_store(&a->done, true);
    return NULL;
}

static void test_rules(void)
{
    sl_endpoint l = ep("198.18.0.1", 0), r = ep("198.18.0.2", 9);
    sl_rt_stream *h, *hb;
    /* non-blocking connect: SL_ERR_AGAIN with the handle, fd says when */
    CHECK(sl_rt_connect(rt_a, &l, &r, &h, 0) == SL_ERR_AGAIN);
    int fd = sl_rt_stream_fd(h);
    CHECK(fd >= 0);
    for (int i = 0; i < 100 && !(sl_rt_stream_poll(h) & SL_RT_POLL_OUT); i++) {
        struct pollfd pf = {fd, POLLIN, 0};
        CHECK(poll(&pf, 1, 1000) == 1);
        sl_rt_fd_clear(fd);
    }
    CHECK(sl_rt_stream_poll(h) & SL_RT_POLL_OUT);
    CHECK(sl_rt_accept(rt_b, &hb, 10000) == SL_OK);
    /* a timed read with nothing to read */
    uint8_t b[4];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(sl_rt_read(h, b, sizeof b, 50) == SL_ERR_AGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(dt >= 0.045 && dt < 2.0);
    CHECK(!(sl_rt_stream_poll(h) & SL_RT_POLL_IN));
    /* readiness: data from B makes A's fd readable */
    sl_rt_fd_clear(fd);
    CHECK(sl_rt_write(hb, "ping", 4, -1) == 4);
    struct pollfd pf = {fd, POLLIN, 0};
    CHECK(poll(&pf, 1, 5000) == 1);
    for (int i = 0; i < 100 && !(sl_rt_stream_poll(h) & SL_RT_POLL_IN); i++)
        usleep(10000);
    CHECK(sl_rt_stream_poll(h) & SL_RT_POLL_IN);
    CHECK(sl_rt_read(h, b, sizeof b, 0) == 4 && memcmp(b, "ping", 4) == 0);
    /* one reader at a time; close refuses while it reads; abort wakes it */
    rd_arg a = {h, 0, false};
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader, &a);
    usleep(100000);
    CHECK(!atomic_load(&a.done));
    CHECK(sl_rt_read(h, b, sizeof b, 0) == SL_ERR_BUSY);
    CHECK(sl_rt_close(h, 0) == SL_ERR_BUSY);
    CHECK(sl_rt_abort(h) == SL_OK);
    pthread_join(t, NULL);
    CHECK(a.result == SL_ERR_CLOSED);
    CHECK(sl_rt_stream_poll(h) & SL_RT_POLL_ERR);
    CHECK(sl_rt_close(h, 1000) == SL_OK);
    /* B sees the reset */
    CHECK(sl_rt_read(hb, b, sizeof b, 5000) == SL_ERR_RESET);
    CHECK(sl_rt_close(hb, 1000) == SL_OK);
    /* blocking accept with a timeout and nothing coming */
    CHECK(sl_rt_accept(rt_a, &h, 20) == SL_ERR_AGAIN);
    printf("rules: busy, abort, timeouts, readiness fd: done\n");
}

/* ---- 5. stop with calls in flight -------------------------------------- */

static void test_stop(void)
{
    sl_endpoint l = ep("198.18.0.1", 0), r = ep("198.18.0.2", 9);
    sl_rt_stream *h, *hb;
    CHECK(sl_rt_connect(rt_a, &l, &r, &h, 10000) == SL_OK);
    CHECK(sl_rt_accept(rt_b, &hb, 10000) == SL_OK);
    rd_arg a = {h, 0, false}, bb = {hb, 0, false};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, blocked_reader, &a);
    pthread_create(&t2, NULL, blocked_reader, &bb);
    usleep(100000);
    sl_rt_stop(rt_a);
    pthread_join(t1, NULL);
    CHECK(a.result == SL_ERR_SHUTDOWN);
    CHECK(sl_rt_write(h, "x", 1, -1) == SL_ERR_SHUTDOWN);
    CHECK(sl_rt_close(h, -1) == SL_ERR_SHUTDOWN);
    sl_rt_stop(rt_b);
    pthread_join(t2, NULL);
    CHECK(bb.result == SL_ERR_SHUTDOWN);
    CHECK(sl_rt_close(hb, -1) == SL_ERR_SHUTDOWN);
    sl_rt_stream *x;
    CHECK(sl_rt_connect(rt_a, &l, &r, &x, -1) == SL_ERR_SHUTDOWN && x == NULL);
    printf("stop: blocked reads returned ERR_SHUTDOWN\n");
}

int main(void)
{
    g_link = sl_rt_link_new(1u << 22);
    CHECK(g_link != NULL);
    CHECK(sl_rt_link_new(1000) == NULL);
    rt_a = mk_rt(0);
    rt_b = mk_rt(1);
    test_echo();
    test_dgram();
    test_rules();
    test_stop();
    sl_rt_stats st;
    sl_rt_stats_get(rt_a, &st);
    printf("runtime A: pkts_in=%llu pkts_out=%llu commands=%llu link_drops=%llu\n",
           (unsigned long long)st.pkts_in, (unsigned long long)st.pkts_out,
           (unsigned long long)st.commands, (unsigned long long)sl_rt_link_drops(g_link));
    sl_rt_free(rt_a);
    sl_rt_free(rt_b);
    sl_rt_link_free(g_link);
    int f = atomic_load(&g_fail);
    printf("%s (%d failures)\n", f == 0 ? "PASS" : "FAIL", f);
    return f == 0 ? 0 : 1;
}
