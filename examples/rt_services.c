/*
 * Thread-per-connection services over sluice runtimes (rt_services.h):
 * what `sluice-tun --threads N` runs, and the blocking example of
 * docs/runtime.md.  N runtimes, one per queue of a multi-queue TUN device;
 * per runtime one acceptor thread per kind (streams, datagram flows) that
 * starts a detached thread for every connection or flow, which serves it
 * with blocking calls exactly as it would a kernel socket.
 *
 *   TCP 7 echo, 9 discard, 19 chargen (RFC 862/863/864); UDP 7 echo.
 */
#define _GNU_SOURCE 1

#include "rt_services.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sluice/platform.h>

#define RT_MAX 64

static atomic_int g_live;             /* connection threads running */
static atomic_ullong g_conns, g_flows; /* served so far              */

/* chargen (RFC 864) lines: 72 printable characters from (line mod 95), CR LF */
#define CG_LINE 74u
#define CG_CYCLE (95u * CG_LINE)
static uint8_t g_chargen[CG_CYCLE + 16384];

static void chargen_init(void)
{
    for (size_t i = 0; i < sizeof g_chargen; i++) {
        size_t line = (i / CG_LINE) % 95u, col = i % CG_LINE;
        g_chargen[i] = col == 72 ? '\r' : col == 73 ? '\n' : (uint8_t)(32u + (line + col) % 95u);
    }
}

/* ---- one thread per connection: plain blocking calls -------------------- */

/* [thread-per-connection] */
static void *serve_stream(void *arg)
{
    sl_rt_stream *h = arg;
    sl_endpoint local;
    sl_rt_stream_endpoints(h, &local, NULL);
    uint8_t buf[16384];
    if (local.port == 7) { /* echo: read what comes, write it all back */
        for (;;) {
            long n = sl_rt_read(h, buf, sizeof buf, -1);
            if (n <= 0 || sl_rt_write(h, buf, (size_t)n, -1) != n)
                break; /* 0: end of stream; < 0: reset, shutdown, ... */
        }
    } else if (local.port == 9) { /* discard */
        while (sl_rt_read(h, buf, sizeof buf, -1) > 0) {
        }
    } else { /* 19: chargen until the peer goes away */
        size_t pos = 0;
        while (sl_rt_write(h, g_chargen + pos, 16384, -1) == 16384)
            pos = (pos + 16384) % CG_CYCLE;
    }
    (void)sl_rt_close(h, 10000);
    atomic_fetch_sub(&g_live, 1);
    return NULL;
}
/* [thread-per-connection] */

static void *serve_flow(void *arg)
{
    sl_rt_dgram *d = arg;
    uint8_t buf[65536];
    for (;;) {
        long n = sl_rt_recv(d, buf, sizeof buf, NULL, NULL, -1);
        if (n < 0 || sl_rt_send(d, buf, (size_t)n, NULL, -1) != n)
            break; /* SL_ERR_CLOSED: the flow idled out; SL_ERR_SHUTDOWN */
    }
    (void)sl_rt_dgram_close(d);
    atomic_fetch_sub(&g_live, 1);
    return NULL;
}

static bool spawn(void *(*fn)(void *), void *arg)
{
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_t t;
    atomic_fetch_add(&g_live, 1);
    bool ok = pthread_create(&t, &at, fn, arg) == 0;
    if (!ok)
        atomic_fetch_sub(&g_live, 1);
    pthread_attr_destroy(&at);
    return ok;
}

/* [acceptor] */
static void *accept_streams(void *arg)
{
    sl_rt *rt = arg;
    sl_rt_stream *h;
    while (sl_rt_accept(rt, &h, -1) == SL_OK) { /* SL_ERR_SHUTDOWN ends it */
        atomic_fetch_add(&g_conns, 1);
        if (!spawn(serve_stream, h)) {
            (void)sl_rt_abort(h);
            (void)sl_rt_close(h, 0);
        }
    }
    return NULL;
}
/* [acceptor] */

static void *accept_flows(void *arg)
{
    sl_rt *rt = arg;
    sl_rt_dgram *d;
    while (sl_rt_dgram_accept(rt, &d, -1) == SL_OK) {
        atomic_fetch_add(&g_flows, 1);
        if (!spawn(serve_flow, d))
            (void)sl_rt_dgram_close(d);
    }
    return NULL;
}

/* Only the services' ports; everything else is refused (RST / ICMP). */
static sl_verdict filter(void *ctx, const sl_flow_info *f)
{
    unsigned svc = *(const unsigned *)ctx;
    if (f->proto == 6)
        return ((f->local.port == 7 && (svc & RTS_ECHO)) ||
                (f->local.port == 9 && (svc & RTS_DISCARD)) ||
                (f->local.port == 19 && (svc & RTS_CHARGEN)))
                   ? SL_ACCEPT
                   : SL_REFUSE;
    return (f->local.port == 7 && (svc & RTS_UDP_ECHO)) ? SL_ACCEPT : SL_REFUSE;
}

int rt_services_run(const rt_services_opts *o, volatile sig_atomic_t *stop)
{
    if (o->threads < 1 || o->threads > RT_MAX)
        return 2;
    chargen_init();
    static unsigned svc;
    svc = o->services;
    int fds[RT_MAX];
    char name[SL_TUN_NAME_MAX];
    int rc = sl_tun_open_mq(o->dev, name, sizeof name, fds, o->threads);
    if (rc < 0) {
        fprintf(stderr, "sluice-tun: cannot open %d queues of TUN device %s: %s%s\n", o->threads,
                o->dev, strerror(-rc), rc == -EPERM ? " (needs root / CAP_NET_ADMIN)" : "");
        return 1;
    }
    rc = sl_tun_set_mtu(name, o->mtu);
    if (rc == 0)
        rc = sl_tun_set_up(name);
    if (rc < 0) {
        fprintf(stderr, "sluice-tun: cannot configure %s: %s\n", name, strerror(-rc));
        return 1;
    }
    uint8_t secret[32];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret)
        return 1;
    sl_rt *rts[RT_MAX];
    pthread_t acc[RT_MAX][2];
    for (int i = 0; i < o->threads; i++) {
        sl_rt_config rc2;
        sl_rt_config_init(&rc2);
        rc2.stack.secret = secret;
        rc2.stack.secret_len = sizeof secret;
        rc2.stack.mtu = (uint16_t)o->mtu;
        if (rc2.stack.tcp_sndbuf < 16u * o->mtu) /* as the single-thread path */
            rc2.stack.tcp_sndbuf = 16u * o->mtu;
        if (rc2.stack.tcp_rcvbuf < 16u * o->mtu)
            rc2.stack.tcp_rcvbuf = 16u * o->mtu;
        rc2.stack.filter = filter;
        rc2.stack.filter_ctx = &svc;
        uint32_t ring = 65536;
        while (ring < rc2.stack.tcp_sndbuf)
            ring <<= 1;
        rc2.stream_buf = ring;
        rc2.dev.fd = fds[i];
        sl_error e;
        rts[i] = sl_rt_new(&rc2, &e);
        if (rts[i] == NULL || sl_rt_start(rts[i]) != SL_OK) {
            fprintf(stderr, "sluice-tun: runtime %d: %s\n", i, sl_strerror(e));
            return 1;
        }
        pthread_create(&acc[i][0], NULL, accept_streams, rts[i]);
        pthread_create(&acc[i][1], NULL, accept_flows, rts[i]);
    }
    fprintf(stderr, "sluice-tun: %s up, %d runtimes (one per queue), thread per connection\n",
            name, o->threads);
    time_t end = o->max_seconds > 0 ? time(NULL) + (time_t)o->max_seconds : 0;
    while (!*stop && (end == 0 || time(NULL) < end))
        usleep(50000);
    /* stop: every blocked call returns SL_ERR_SHUTDOWN, the threads close
       their handles and end */
    for (int i = 0; i < o->threads; i++)
        sl_rt_stop(rts[i]);
    for (int i = 0; i < o->threads; i++) {
        pthread_join(acc[i][0], NULL);
        pthread_join(acc[i][1], NULL);
    }
    for (int w = 0; w < 500 && atomic_load(&g_live) > 0; w++)
        usleep(10000);
    if (atomic_load(&g_live) > 0) {
        fprintf(stderr, "sluice-tun: %d connection threads did not end\n", atomic_load(&g_live));
        return 1;
    }
    for (int i = 0; i < o->threads; i++) {
        if (o->stats) {
            sl_rt_stats st;
            sl_rt_stats_get(rts[i], &st);
            fprintf(stderr,
                    "runtime %d: pkts_in=%llu pkts_out=%llu commands=%llu loops=%llu "
                    "dev_tx_drops=%llu\n",
                    i, (unsigned long long)st.pkts_in, (unsigned long long)st.pkts_out,
                    (unsigned long long)st.commands, (unsigned long long)st.loops,
                    (unsigned long long)st.dev_tx_drops);
        }
        sl_rt_free(rts[i]);
        close(fds[i]);
    }
    if (o->stats)
        fprintf(stderr, "streams=%llu flows=%llu\n", (unsigned long long)atomic_load(&g_conns),
                (unsigned long long)atomic_load(&g_flows));
    return 0;
}
