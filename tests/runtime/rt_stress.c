/*
 * rt_stress: the runtime (include/sluice/runtime.h) against the Linux
 * kernel over a TUN device, from many threads.  Run by tests/runtime/run.sh
 * inside a network namespace of its own (it configures the device with
 * `ip`); never run it outside one.
 *
 *   rt_stress --mode stress|epoll|stop [--dev NAME] [--runtimes N]
 *             [--servers N] [--clients N] [--conns N] [--max-len BYTES]
 *             [--udp N]
 *
 * The device is a multi-queue TUN device with one queue per runtime.  The
 * kernel side has 198.18.0.1 and 2001:2::1 and routes 198.18.0.0/15 and
 * 2001:2::/48 into the device, so every address there is sluice.
 *
 * stress: --servers threads (64) accept streams with blocking calls and
 *   serve one connection each at a time; --clients kernel-socket threads
 *   open --conns connections each, cycling through five kinds:
 *     ECHO      the client sends LEN bytes; the server reads and writes
 *               them back in chunks on one thread; the client half-closes
 *     DUPLEX    the server reads LEN bytes on one thread while a second
 *               thread writes LEN2 bytes of another pattern (one reader and
 *               one writer on one handle at once); a third thread checks
 *               that a concurrent read gets SL_ERR_BUSY
 *     SOURCE    the server writes LEN2 bytes and closes
 *     CABORT    the client sends part of LEN, then resets (SO_LINGER 0);
 *               the server must see the reset or end of stream, not hang
 *     SABORT    the server aborts after the header; the client must see a
 *               reset or end of stream
 *   Every byte in both directions is checked against a position-dependent
 *   pattern.  Plus --udp kernel UDP sockets exchanging echoed datagrams
 *   with dgram-accepting server threads (byte-exact).
 * epoll: one thread serves ECHO, DUPLEX and SOURCE non-blocking through an
 *   epoll set of readiness fds (sl_rt_accept_fd, sl_rt_stream_fd).
 * stop: threads blocked in accept, read, write, connect and recv; then
 *   sl_rt_stop: each must return SL_ERR_SHUTDOWN within 2 s; later calls
 *   too; every handle closes.
 *
 * Exit 0 when every check passed, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE 1

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/platform.h>
#include <sluice/runtime.h>

#define MAX_RT 8

enum kind { K_ECHO, K_DUPLEX, K_SOURCE, K_CABORT, K_SABORT, K__N };
static const char *kind_name[K__N] = {"echo", "duplex", "source", "cabort", "sabort"};

typedef struct hdr {
    uint32_t kind, seed, len, len2;
} hdr;

static struct {
    const char *mode;
    const char *dev;
    int runtimes, servers, clients, conns, udp;
    uint32_t max_len;
    int nkinds; /* client kinds cycled through: all, or the first three */
} o = {"stress", "slrt0", 2, 64, 16, 40, 4, 262144, K__N};

static sl_rt *g_rt[MAX_RT];
static atomic_bool g_stop;
static atomic_int g_fail;
static atomic_int srv_ok[K__N], cli_ok[K__N];
static atomic_llong g_bytes;
static atomic_int srv_reset_early, srv_lost_to_drops;
static unsigned long long dev_drops(void);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    atomic_fetch_add(&g_fail, 1);
}

static uint8_t pat(uint32_t seed, uint64_t i)
{
    uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 29;
    return (uint8_t)(x >> ((i & 7) * 8));
}

static void fill(uint8_t *p, size_t n, uint32_t seed, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(seed, off + i);
}

static bool check(const uint8_t *p, size_t n, uint32_t seed, uint64_t off)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pat(seed, off + i))
            return false;
    }
    return true;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "rt_stress: '%s' failed (%d)\n", cmd, rc);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Device and runtimes                                                    */
/* ---------------------------------------------------------------------- */

static int g_fds[MAX_RT];

static int setup(void)
{
    char name[SL_TUN_NAME_MAX];
    int rc = sl_tun_open_mq(o.dev, name, sizeof name, g_fds, o.runtimes);
    if (rc < 0) {
        fprintf(stderr, "rt_stress: sl_tun_open_mq %s: %s\n", o.dev, strerror(-rc));
        return -1;
    }
    if (sl_tun_set_mtu(name, 1500) < 0 || sl_tun_set_up(name) < 0)
        return -1;
    /* 64 clients burst at once while 128 server threads compete for two
       cores with the runtimes: a deep device queue keeps drops rare */
    if (sh("ip link set dev %s txqueuelen 10000", name))
        return -1;
    if (sh("ip addr add 198.18.0.1/32 dev %s", name) || sh("ip -6 addr add 2001:2::1/128 dev %s nodad", name) ||
        sh("ip route add 198.18.0.0/15 dev %s", name) || sh("ip -6 route add 2001:2::/48 dev %s", name))
        return -1;
    static const uint8_t secret[16] = "rt-stress-secret";
    for (int i = 0; i < o.runtimes; i++) {
        sl_rt_config rc2;
        sl_rt_config_init(&rc2);
        rc2.stack.secret = secret;
        rc2.stack.secret_len = sizeof secret;
        rc2.stack.tcp_time_wait = 1000000; /* 1 s: many connections */
        rc2.dev.fd = g_fds[i];
        sl_error e;
        g_rt[i] = sl_rt_new(&rc2, &e);
        if (g_rt[i] == NULL) {
            fprintf(stderr, "rt_stress: sl_rt_new: %s\n", sl_strerror(e));
            return -1;
        }
        if (sl_rt_start(g_rt[i]) != SL_OK)
            return -1;
    }
    return 0;
}

/* Packets the kernel dropped on the TUN device's queues (a runtime did
 * not read fast enough): such a loss can eat a client's RST. */
static unsigned long long dev_drops(void)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/class/net/%s/statistics/tx_dropped", o.dev);
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static void teardown(void)
{
    printf("device %s: %llu packets dropped on its queues\n", o.dev, dev_drops());
    for (int i = 0; i < o.runtimes; i++) {
        if (g_rt[i] == NULL)
            continue;
        sl_rt_stop(g_rt[i]);
        sl_rt_stats st;
        sl_rt_stats_get(g_rt[i], &st);
        printf("runtime %d: loops=%llu commands=%llu pkts_in=%llu pkts_out=%llu "
               "tx_drops=%llu accept_overflow=%llu\n",
               i, (unsigned long long)st.loops, (unsigned long long)st.commands,
               (unsigned long long)st.pkts_in, (unsigned long long)st.pkts_out,
               (unsigned long long)st.dev_tx_drops, (unsigned long long)st.accept_overflow);
        if (st.accept_overflow != 0)
            fail("runtime %d: %llu connections refused for a full accept queue", i,
                 (unsigned long long)st.accept_overflow);
        sl_rt_free(g_rt[i]);
        close(g_fds[i]);
    }
}

/* ---------------------------------------------------------------------- */
/* Server side: blocking calls                                            */
/* ---------------------------------------------------------------------- */

#define T_IO 30000 /* ms: no single call may wait longer */

/* 0 = all n bytes read, else the failing read's result. */
static long rt_read_full(sl_rt_stream *h, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        long r = sl_rt_read(h, (uint8_t *)buf + got, n - got, T_IO);
        if (r <= 0)
            return r == 0 ? SL_ERR_CLOSED : r;
        got += (size_t)r;
    }
    return 0;
}

/* Read until end of stream, checking the pattern; returns bytes or < 0. */
static long long read_check_eof(sl_rt_stream *h, uint32_t seed, bool echo_back, bool *bad)
{
    uint8_t buf[16384];
    uint64_t off = 0;
    for (;;) {
        long r = sl_rt_read(h, buf, sizeof buf, T_IO);
        if (r == 0)
            return (long long)off;
        if (r < 0)
            return r;
        if (!check(buf, (size_t)r, seed, off))
            *bad = true;
        if (echo_back) {
            long w = sl_rt_write(h, buf, (size_t)r, -1);
            if (w != r)
                return w < 0 ? w : SL_ERR_CLOSED;
        }
        off += (uint64_t)r;
    }
}

static bool write_pattern(sl_rt_stream *h, uint32_t seed, uint32_t len, uint64_t *rng)
{
    uint8_t buf[32768];
    uint64_t off = 0;
    while (off < len) {
        size_t n = 1 + (size_t)(rng_next(rng) % sizeof buf);
        if (n > len - off)
            n = (size_t)(len - off);
        fill(buf, n, seed, off);
        long w = sl_rt_write(h, buf, n, -1);
        if (w != (long)n)
            return false;
        off += n;
    }
    return true;
}

typedef struct duplex_arg {
    sl_rt_stream *h;
    hdr hd;
    bool ok;
} duplex_arg;

static void *duplex_writer(void *p)
{
    duplex_arg *a = p;
    uint64_t rng = a->hd.seed | 1u;
    a->ok = write_pattern(a->h, a->hd.seed ^ 0x5555u, a->hd.len2, &rng);
    return NULL;
}

static void serve(sl_rt_stream *h, uint64_t *rng)
{
    hdr hd;
    long hr = rt_read_full(h, &hd, sizeof hd);
    if (hr == SL_ERR_RESET) {
        /* CABORT: the reset overtook the header (the connection waited in
           the accept queue; a reset flushes what the stack held, RFC 9293
           §3.10.7.4).  Any other kind would fail on the client side too. */
        atomic_fetch_add(&srv_reset_early, 1);
        (void)sl_rt_close(h, 0);
        return;
    }
    if (hr == SL_ERR_AGAIN && dev_drops() > 0) {
        /* nothing for T_IO: a CABORT whose data and RST were lost on the
           device queue (a lost RST leaves any TCP peer waiting) */
        atomic_fetch_add(&srv_lost_to_drops, 1);
        (void)sl_rt_close(h, 0);
        return;
    }
    if (hr != 0 || hd.kind >= K__N) {
        fail("server: no header (%s)", sl_error_name((int)hr));
        (void)sl_rt_close(h, 0);
        return;
    }
    bool bad = false;
    long long got;
    switch ((enum kind)hd.kind) {
    case K_ECHO:
        got = read_check_eof(h, hd.seed, true, &bad);
        if (got != hd.len || bad)
            fail("server echo: got %lld of %u bytes%s", got, hd.len, bad ? ", corrupt" : "");
        else
            atomic_fetch_add(&srv_ok[K_ECHO], 1);
        break;
    case K_DUPLEX: {
        duplex_arg a = {h, hd, false};
        pthread_t t;
        pthread_create(&t, NULL, duplex_writer, &a);
        /* a second reader must be refused while the first one waits: try
           from this thread before reading (nobody reads yet: no BUSY), and
           the writer thread is a concurrent writer of the same handle */
        got = read_check_eof(h, hd.seed, false, &bad);
        pthread_join(t, NULL);
        if (got != hd.len || bad || !a.ok)
            fail("server duplex: got %lld of %u bytes%s%s", got, hd.len, bad ? ", corrupt" : "",
                 a.ok ? "" : ", write failed");
        else
            atomic_fetch_add(&srv_ok[K_DUPLEX], 1);
        break;
    }
    case K_SOURCE:
        if (write_pattern(h, hd.seed ^ 0x5555u, hd.len2, rng))
            atomic_fetch_add(&srv_ok[K_SOURCE], 1);
        else
            fail("server source: write failed");
        break;
    case K_CABORT:
        got = read_check_eof(h, hd.seed, false, &bad);
        if (bad)
            fail("server cabort: corrupt bytes");
        else if (got == SL_ERR_AGAIN && dev_drops() > 0)
            atomic_fetch_add(&srv_lost_to_drops, 1); /* as above */
        else if (got == SL_ERR_AGAIN)
            fail("server cabort: read hung (timed out)");
        else
            atomic_fetch_add(&srv_ok[K_CABORT], 1);
        break;
    case K_SABORT:
        (void)sl_rt_abort(h);
        if (sl_rt_read(h, &hd, 1, T_IO) != SL_ERR_CLOSED)
            fail("server sabort: read after abort is not SL_ERR_CLOSED");
        else
            atomic_fetch_add(&srv_ok[K_SABORT], 1);
        break;
    case K__N:
        break;
    }
    sl_error e = sl_rt_close(h, T_IO);
    if (e != SL_OK && e != SL_ERR_RESET && e != SL_ERR_CLOSED && hd.kind != K_CABORT &&
        hd.kind != K_SABORT)
        fail("server %s: close: %s", kind_name[hd.kind], sl_error_name(e));
}

static void *server_thread(void *p)
{
    intptr_t id = (intptr_t)p;
    sl_rt *rt = g_rt[id % o.runtimes];
    uint64_t rng = 0x1234567u + (uint64_t)id * 7919u;
    while (!atomic_load(&g_stop)) {
        sl_rt_stream *h;
        sl_error e = sl_rt_accept(rt, &h, 200);
        if (e == SL_ERR_AGAIN)
            continue;
        if (e != SL_OK)
            break;
        serve(h, &rng);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Client side: kernel sockets                                            */
/* ---------------------------------------------------------------------- */

static int kconnect(int family, uint32_t host, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        s4->sin_addr.s_addr = htonl(0xC6120000u | host); /* 198.18.x.x */
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, "2001:2::", &s6->sin6_addr);
        s6->sin6_addr.s6_addr[14] = (uint8_t)(host >> 8);
        s6->sin6_addr.s6_addr[15] = (uint8_t)host;
        sl = sizeof *s6;
    }
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send `slen` bytes of pattern sseed (after `pre`), half-close, and read
 * rlen bytes of pattern rseed then end of stream, interleaved with poll. */
static bool kxfer(int fd, const hdr *pre, uint32_t sseed, uint32_t slen, uint32_t rseed,
                  uint32_t rlen, uint64_t *rng)
{
    uint8_t out[16384 + sizeof(hdr)], in[16384];
    uint64_t soff = 0, roff = 0;
    size_t pending = 0, pend_off = 0;
    bool pre_sent = pre == NULL, shut = false, eof = false;
    double end = now_s() + 60;
    while (!eof) {
        if (now_s() > end) {
            fail("client: transfer timed out (sent %llu/%u, got %llu/%u)",
                 (unsigned long long)soff, slen, (unsigned long long)roff, rlen);
            return false;
        }
        if (pending == 0 && !pre_sent) {
            memcpy(out, pre, sizeof *pre);
            pending = sizeof *pre;
            pend_off = 0;
            pre_sent = true;
        } else if (pending == 0 && soff < slen) {
            size_t n = 1 + (size_t)(rng_next(rng) % 16384);
            if (n > slen - soff)
                n = (size_t)(slen - soff);
            fill(out, n, sseed, soff);
            soff += n;
            pending = n;
            pend_off = 0;
        } else if (pending == 0 && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        struct pollfd pf = {fd, (short)(POLLIN | (pending > 0 ? POLLOUT : 0)), 0};
        if (poll(&pf, 1, 1000) <= 0)
            continue;
        if (pf.revents & POLLOUT) {
            ssize_t w = send(fd, out + pend_off, pending, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                pend_off += (size_t)w;
                pending -= (size_t)w;
            } else if (w < 0 && errno != EAGAIN) {
                fail("client: send: %s", strerror(errno));
                return false;
            }
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
            if (r == 0) {
                eof = true;
            } else if (r > 0) {
                if (roff + (uint64_t)r > rlen || !check(in, (size_t)r, rseed, roff)) {
                    fail("client: corrupt or excess bytes at %llu", (unsigned long long)roff);
                    return false;
                }
                roff += (uint64_t)r;
            } else if (errno != EAGAIN) {
                fail("client: recv: %s", strerror(errno));
                return false;
            }
        }
    }
    if (roff != rlen || soff != slen || pending != 0) {
        fail("client: end of stream after %llu of %u bytes", (unsigned long long)roff, rlen);
        return false;
    }
    return true;
}

static void *client_thread(void *p)
{
    intptr_t id = (intptr_t)p;
    uint64_t rng = 0xC0FFEEu + (uint64_t)id * 104729u;
    for (int c = 0; c < o.conns && atomic_load(&g_fail) < 20; c++) {
        enum kind k = (enum kind)((id + c) % o.nkinds);
        int fam = (c & 1) ? 6 : 4;
        uint32_t host = 2 + (uint32_t)(rng_next(&rng) % 250);
        int fd = kconnect(fam, host, (uint16_t)(5000 + k));
        if (fd < 0) {
            fail("client %d: connect (%s, v%d): %s", (int)id, kind_name[k], fam, strerror(errno));
            continue;
        }
        hdr hd = {(uint32_t)k, (uint32_t)rng_next(&rng), (uint32_t)(rng_next(&rng) % o.max_len),
                  (uint32_t)(rng_next(&rng) % o.max_len)};
        bool ok = false;
        switch (k) {
        case K_ECHO:
            ok = kxfer(fd, &hd, hd.seed, hd.len, hd.seed, hd.len, &rng);
            break;
        case K_DUPLEX:
            ok = kxfer(fd, &hd, hd.seed, hd.len, hd.seed ^ 0x5555u, hd.len2, &rng);
            break;
        case K_SOURCE:
            hd.len = 0;
            ok = kxfer(fd, &hd, 0, 0, hd.seed ^ 0x5555u, hd.len2, &rng);
            break;
        case K_CABORT: {
            uint8_t buf[8192];
            ok = send(fd, &hd, sizeof hd, MSG_NOSIGNAL) == (ssize_t)sizeof hd;
            uint32_t n = hd.len % sizeof buf;
            fill(buf, n, hd.seed, 0);
            ok = ok && send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        case K_SABORT: {
            uint8_t b;
            ok = send(fd, &hd, sizeof hd, MSG_NOSIGNAL) == (ssize_t)sizeof hd;
            ssize_t r = recv(fd, &b, 1, 0); /* reset or end of stream, in bounded time */
            if (r != 0 && !(r < 0 && errno == ECONNRESET)) {
                fail("client sabort: recv %zd (%s)", r, strerror(errno));
                ok = false;
            }
            break;
        }
        case K__N:
            break;
        }
        close(fd);
        if (ok) {
            atomic_fetch_add(&cli_ok[k], 1);
            atomic_fetch_add(&g_bytes, (long long)hd.len + (long long)hd.len2);
        }
    }
    return NULL;
}

/* ---- UDP ---------------------------------------------------------------- */

static atomic_int udp_ok;

static void *udp_server(void *p)
{
    intptr_t id = (intptr_t)p;
    sl_rt *rt = g_rt[id % o.runtimes];
    uint8_t buf[65536];
    while (!atomic_load(&g_stop)) {
        sl_rt_dgram *d;
        sl_error e = sl_rt_dgram_accept(rt, &d, 200);
        if (e == SL_ERR_AGAIN)
            continue;
        if (e != SL_OK)
            break;
        for (;;) {
            long n = sl_rt_recv(d, buf, sizeof buf, NULL, NULL, 2000);
            if (n < 0)
                break;
            if (sl_rt_send(d, buf, (size_t)n, NULL, T_IO) != n)
                fail("udp server: send");
        }
        (void)sl_rt_dgram_close(d);
    }
    return NULL;
}

static void *udp_client(void *p)
{
    intptr_t id = (intptr_t)p;
    uint64_t rng = 0xABCDEFu + (uint64_t)id;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(7);
    to.sin_addr.s_addr = htonl(0xC61200C8u + (uint32_t)id); /* 198.18.0.200+ */
    connect(fd, (struct sockaddr *)&to, sizeof to);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t out[2000], in[2000];
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)(rng_next(&rng) % 1400);
        uint32_t seed = (uint32_t)rng_next(&rng);
        fill(out, n, seed, 0);
        bool ok = false;
        for (int tries = 0; tries < 3 && !ok; tries++) {
            if (send(fd, out, n, 0) != (ssize_t)n)
                continue;
            ssize_t r = recv(fd, in, sizeof in, 0);
            ok = r == (ssize_t)n && memcmp(in, out, n) == 0;
        }
        if (!ok) {
            fail("udp client %d: datagram %d not echoed byte-exact", (int)id, i);
            break;
        }
        atomic_fetch_add(&udp_ok, 1);
    }
    close(fd);
    return NULL;
}

static int run_stress(void)
{
    pthread_t srv[256], cli[256], us[16 * MAX_RT], uc[16];
    double t0 = now_s();
    for (intptr_t i = 0; i < o.servers; i++)
        pthread_create(&srv[i], NULL, server_thread, (void *)i);
    /* each runtime may get every flow (the kernel's hash decides) */
    int nus = o.udp * o.runtimes;
    for (intptr_t i = 0; i < nus; i++)
        pthread_create(&us[i], NULL, udp_server, (void *)i);
    for (intptr_t i = 0; i < o.udp; i++)
        pthread_create(&uc[i], NULL, udp_client, (void *)i);
    for (intptr_t i = 0; i < o.clients; i++)
        pthread_create(&cli[i], NULL, client_thread, (void *)i);
    for (int i = 0; i < o.clients; i++)
        pthread_join(cli[i], NULL);
    for (int i = 0; i < o.udp; i++)
        pthread_join(uc[i], NULL);
    /* the servers finish their last connection, then see the flag */
    atomic_store(&g_stop, true);
    for (int i = 0; i < o.servers; i++)
        pthread_join(srv[i], NULL);
    for (int i = 0; i < nus; i++)
        pthread_join(us[i], NULL);
    double dt = now_s() - t0;
    int total = 0;
    for (int k = 0; k < K__N; k++) {
        printf("%-7s client_ok=%d server_ok=%d\n", kind_name[k], atomic_load(&cli_ok[k]),
               atomic_load(&srv_ok[k]));
        total += atomic_load(&cli_ok[k]);
        if (k != K_CABORT && atomic_load(&cli_ok[k]) != atomic_load(&srv_ok[k]))
            fail("%s: %d clients but %d servers succeeded", kind_name[k], atomic_load(&cli_ok[k]),
                 atomic_load(&srv_ok[k]));
    }
    if (total != o.clients * o.conns)
        fail("%d of %d connections succeeded", total, o.clients * o.conns);
    if (atomic_load(&udp_ok) != o.udp * 200)
        fail("udp: %d of %d datagrams echoed", atomic_load(&udp_ok), o.udp * 200);
    printf("stress: %d connections, %.1f MB checked, %d datagrams, %.1f s "
           "(%d resets arrived before the header, %d CABORT lost to device drops)\n",
           total, (double)atomic_load(&g_bytes) / 1e6, atomic_load(&udp_ok), dt,
           atomic_load(&srv_reset_early), atomic_load(&srv_lost_to_drops));
    return 0;
}

/* ---------------------------------------------------------------------- */
/* epoll: one thread, non-blocking calls                                  */
/* ---------------------------------------------------------------------- */

typedef struct nconn {
    sl_rt_stream *h;
    int fd;
    size_t hdr_got;
    hdr hd;
    uint64_t in_off, out_off;
    uint8_t echo[65536];
    size_t echo_len; /* ECHO: bytes read, not yet written back */
    bool in_eof;
} nconn;

static atomic_int ep_done;

/* Make progress on c; true when it is finished (closed). */
static bool nconn_step(nconn *c)
{
    for (;;) {
        bool progress = false;
        if (c->hdr_got < sizeof c->hd) {
            long r = sl_rt_read(c->h, (uint8_t *)&c->hd + c->hdr_got, sizeof c->hd - c->hdr_got, 0);
            if (r == SL_ERR_AGAIN)
                return false;
            if (r <= 0 || c->hd.kind > K_SOURCE) {
                fail("epoll: header");
                return true;
            }
            c->hdr_got += (size_t)r;
            continue;
        }
        uint32_t out_len = c->hd.kind == K_ECHO ? c->hd.len : c->hd.len2;
        /* read side (ECHO only while the echo buffer has room) */
        if (!c->in_eof && (c->hd.kind != K_ECHO || c->echo_len < sizeof c->echo)) {
            uint8_t tmp[16384];
            size_t cap = sizeof tmp;
            if (c->hd.kind == K_ECHO && cap > sizeof c->echo - c->echo_len)
                cap = sizeof c->echo - c->echo_len;
            long r = sl_rt_read(c->h, tmp, cap, 0);
            if (r > 0) {
                if (!check(tmp, (size_t)r, c->hd.seed, c->in_off))
                    fail("epoll: corrupt input");
                if (c->hd.kind == K_ECHO) {
                    memcpy(c->echo + c->echo_len, tmp, (size_t)r);
                    c->echo_len += (size_t)r;
                }
                c->in_off += (uint64_t)r;
                progress = true;
            } else if (r == 0) {
                c->in_eof = true;
                progress = true;
            } else if (r != SL_ERR_AGAIN) {
                fail("epoll: read: %s", sl_error_name((int)r));
                return true;
            }
        }
        /* write side */
        if (c->out_off < out_len) {
            long w;
            if (c->hd.kind == K_ECHO) {
                w = c->echo_len > 0 ? sl_rt_write(c->h, c->echo, c->echo_len, 0) : SL_ERR_AGAIN;
                if (w > 0) {
                    memmove(c->echo, c->echo + w, c->echo_len - (size_t)w);
                    c->echo_len -= (size_t)w;
                }
            } else {
                uint8_t tmp[16384];
                size_t n = out_len - c->out_off < sizeof tmp ? (size_t)(out_len - c->out_off)
                                                             : sizeof tmp;
                fill(tmp, n, c->hd.seed ^ 0x5555u, c->out_off);
                w = sl_rt_write(c->h, tmp, n, 0);
            }
            if (w > 0) {
                c->out_off += (uint64_t)w;
                progress = true;
            } else if (w != SL_ERR_AGAIN) {
                fail("epoll: write: %s", sl_error_name((int)w));
                return true;
            }
        }
        bool in_done = c->hd.kind == K_SOURCE || c->in_eof;
        if (in_done && c->out_off >= out_len) {
            if (c->hd.kind != K_SOURCE && c->in_off != c->hd.len)
                fail("epoll: got %llu of %u bytes", (unsigned long long)c->in_off, c->hd.len);
            atomic_fetch_add(&ep_done, 1);
            atomic_fetch_add(&srv_ok[c->hd.kind], 1);
            return true;
        }
        if (!progress)
            return false;
    }
}

static void *epoll_server(void *p)
{
    (void)p;
    sl_rt *rt = g_rt[0];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int afd = sl_rt_accept_fd(rt);
    struct epoll_event ev = {EPOLLIN, {.ptr = NULL}};
    epoll_ctl(ep, EPOLL_CTL_ADD, afd, &ev);
    while (!atomic_load(&g_stop)) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            nconn *c = evs[i].data.ptr;
            if (c == NULL) {
                sl_rt_fd_clear(afd);
                sl_rt_stream *h;
                while (sl_rt_accept(rt, &h, 0) == SL_OK) {
                    c = calloc(1, sizeof *c);
                    c->h = h;
                    c->fd = sl_rt_stream_fd(h);
                    struct epoll_event e2 = {EPOLLIN | EPOLLET, {.ptr = c}};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e2);
                }
                continue;
            }
            sl_rt_fd_clear(c->fd);
            if (nconn_step(c)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                (void)sl_rt_close(c->h, T_IO);
                free(c);
            }
        }
    }
    close(ep);
    return NULL;
}

static int run_epoll(void)
{
    pthread_t srv, cli[64];
    o.runtimes = 1;
    pthread_create(&srv, NULL, epoll_server, NULL);
    for (intptr_t i = 0; i < o.clients; i++)
        pthread_create(&cli[i], NULL, client_thread, (void *)i);
    for (int i = 0; i < o.clients; i++)
        pthread_join(cli[i], NULL);
    atomic_store(&g_stop, true);
    pthread_join(srv, NULL);
    int total = 0;
    for (int k = 0; k < K__N; k++)
        total += atomic_load(&cli_ok[k]);
    printf("epoll: %d connections served, %.1f MB checked\n", atomic_load(&ep_done),
           (double)atomic_load(&g_bytes) / 1e6);
    if (total != o.clients * o.conns || atomic_load(&ep_done) != total)
        fail("epoll: %d clients ok, %d served, want %d", total, atomic_load(&ep_done),
             o.clients * o.conns);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* stop with calls in flight                                              */
/* ---------------------------------------------------------------------- */

typedef struct inflight {
    const char *what;
    sl_rt_stream *h;
    sl_rt_dgram *d;
    long result;
    double returned_at;
    atomic_bool done;
} inflight;

static void *blk_accept(void *p)
{
    inflight *f = p;
    sl_rt_stream *h;
    f->result = sl_rt_accept(g_rt[0], &h, -1);
    f->returned_at = now_s();
    atomic_store(&f->done, true);
    return NULL;
}

static void *blk_read(void *p)
{
    inflight *f = p;
    uint8_t b[100];
    f->result = sl_rt_read(f->h, b, sizeof b, -1);
    f->returned_at = now_s();
    atomic_store(&f->done, true);
    return NULL;
}

static void *blk_write(void *p)
{
    inflight *f = p;
    size_t n = 64u << 20;
    uint8_t *b = calloc(1, n);
    f->result = sl_rt_write(f->h, b, n, -1); /* the peer never reads */
    free(b);
    f->returned_at = now_s();
    atomic_store(&f->done, true);
    return NULL;
}

static void *blk_connect(void *p)
{
    inflight *f = p;
    sl_endpoint l, r;
    sl_addr_parse("198.18.0.2", &l.addr);
    l.port = 0;
    sl_addr_parse("198.19.99.99", &r.addr); /* the kernel drops it: no answer */
    r.port = 9;
    sl_rt_stream *h;
    f->result = sl_rt_connect(g_rt[0], &l, &r, &h, -1);
    f->returned_at = now_s();
    atomic_store(&f->done, true);
    return NULL;
}

static void *blk_recv(void *p)
{
    inflight *f = p;
    uint8_t b[100];
    f->result = sl_rt_recv(f->d, b, sizeof b, NULL, NULL, -1);
    f->returned_at = now_s();
    atomic_store(&f->done, true);
    return NULL;
}

static int run_stop(void)
{
    enum { NACC = 4, NCONN = 4 };
    o.runtimes = 1;
    inflight f[NACC + 2 * NCONN + 2];
    pthread_t t[NACC + 2 * NCONN + 2];
    int nf = 0;
    memset(f, 0, sizeof f);
    /* connections whose kernel side never sends nor reads */
    int kfd[NCONN];
    sl_rt_stream *hs[NCONN];
    for (int i = 0; i < NCONN; i++) {
        kfd[i] = kconnect(4, 10 + (uint32_t)i, 5000);
        if (kfd[i] < 0 || sl_rt_accept(g_rt[0], &hs[i], 5000) != SL_OK) {
            fail("stop: setup connection %d", i);
            return 0;
        }
        int small = 4096;
        setsockopt(kfd[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    sl_rt_dgram *d;
    sl_endpoint be;
    sl_addr_parse("198.18.0.3", &be.addr);
    be.port = 4000;
    if (sl_rt_dgram_open(g_rt[0], &be, &d) != SL_OK) {
        fail("stop: dgram_open");
        return 0;
    }
    for (int i = 0; i < NACC; i++) {
        f[nf].what = "accept";
        pthread_create(&t[nf], NULL, blk_accept, &f[nf]);
        nf++;
    }
    for (int i = 0; i < NCONN; i++) {
        f[nf].what = "read";
        f[nf].h = hs[i];
        pthread_create(&t[nf], NULL, blk_read, &f[nf]);
        nf++;
        f[nf].what = "write";
        f[nf].h = hs[i];
        pthread_create(&t[nf], NULL, blk_write, &f[nf]);
        nf++;
    }
    f[nf].what = "connect";
    pthread_create(&t[nf], NULL, blk_connect, &f[nf]);
    nf++;
    f[nf].what = "recv";
    f[nf].d = d;
    pthread_create(&t[nf], NULL, blk_recv, &f[nf]);
    nf++;
    usleep(500000); /* everyone is blocked by now */
    for (int i = 0; i < nf; i++) {
        if (atomic_load(&f[i].done))
            fail("stop: %s returned before the stop (%ld)", f[i].what, f[i].result);
    }
    /* a second reader is refused while the first waits */
    uint8_t b;
    if (sl_rt_read(hs[0], &b, 1, 0) != SL_ERR_BUSY)
        fail("stop: concurrent read is not SL_ERR_BUSY");
    if (sl_rt_close(hs[0], 0) != SL_ERR_BUSY)
        fail("stop: close during a read is not SL_ERR_BUSY");
    double t0 = now_s();
    sl_rt_stop(g_rt[0]);
    for (int i = 0; i < nf; i++) {
        for (int w = 0; w < 300 && !atomic_load(&f[i].done); w++)
            usleep(10000);
        if (!atomic_load(&f[i].done)) {
            fail("stop: %s still blocked 3 s after sl_rt_stop", f[i].what);
            return 0; /* cannot join: exit with the failure */
        }
        pthread_join(t[i], NULL);
        if (f[i].result != SL_ERR_SHUTDOWN)
            fail("stop: %s returned %s, want ERR_SHUTDOWN", f[i].what,
                 sl_error_name((int)f[i].result));
        if (f[i].returned_at - t0 > 2.0)
            fail("stop: %s took %.2f s to return", f[i].what, f[i].returned_at - t0);
    }
    /* later calls fail the same way, and every handle still closes */
    sl_rt_stream *h;
    if (sl_rt_accept(g_rt[0], &h, -1) != SL_ERR_SHUTDOWN ||
        sl_rt_write(hs[1], &b, 1, -1) != SL_ERR_SHUTDOWN ||
        sl_rt_read(hs[1], &b, 1, -1) != SL_ERR_SHUTDOWN)
        fail("stop: calls after the stop are not ERR_SHUTDOWN");
    for (int i = 0; i < NCONN; i++) {
        sl_error e = sl_rt_close(hs[i], -1);
        if (e != SL_ERR_SHUTDOWN)
            fail("stop: close after stop: %s", sl_error_name(e));
        close(kfd[i]);
    }
    (void)sl_rt_dgram_close(d);
    printf("stop: %d blocked calls returned ERR_SHUTDOWN in %.3f s\n", nf, now_s() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},     {"dev", required_argument, NULL, 'd'},
        {"runtimes", required_argument, NULL, 'r'}, {"servers", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},  {"conns", required_argument, NULL, 'n'},
        {"max-len", required_argument, NULL, 'l'},  {"udp", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'm': o.mode = optarg; break;
        case 'd': o.dev = optarg; break;
        case 'r': o.runtimes = atoi(optarg); break;
        case 's': o.servers = atoi(optarg); break;
        case 'c': o.clients = atoi(optarg); break;
        case 'n': o.conns = atoi(optarg); break;
        case 'l': o.max_len = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'u': o.udp = atoi(optarg); break;
        default: return 2;
        }
    }
    if (o.runtimes < 1 || o.runtimes > MAX_RT || o.servers < 1 || o.servers > 256 ||
        o.clients < 1 || o.clients > 64 || o.conns < 1 || o.udp < 0 || o.udp > 16 || o.max_len < 1)
        return 2;
    struct rlimit rl = {65536, 65536};
    setrlimit(RLIMIT_NOFILE, &rl);
    if (strcmp(o.mode, "epoll") == 0 || strcmp(o.mode, "stop") == 0)
        o.runtimes = 1;
    if (strcmp(o.mode, "epoll") == 0)
        o.nkinds = K_SOURCE + 1;
    if (setup() < 0)
        return 1;
    if (strcmp(o.mode, "stress") == 0)
        run_stress();
    else if (strcmp(o.mode, "epoll") == 0)
        run_epoll();
    else if (strcmp(o.mode, "stop") == 0)
        run_stop();
    else
        return 2;
    teardown();
    int f = atomic_load(&g_fail);
    printf("%s: %s (%d failures)\n", o.mode, f == 0 ? "PASS" : "FAIL", f);
    return f == 0 ? 0 : 1;
}
