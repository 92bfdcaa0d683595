/*
 * bench_inproc: in-process benchmarks of sluice through its public API
 * (include/sluice/ headers).  Nothing on a measured path makes a system call or
 * touches a device: two stacks are wired back to back in one thread, or a
 * capture held in memory is fed to one stack.
 *
 *   bench_inproc bulk       [--bytes N] [--mtu M] [--buf B] [--chunk C]
 *                           [--family 4|6] [--verify] [--repeat R]
 *   bench_inproc handshakes [--seconds S] [--count N] [--parallel P]
 *                           [--time-wait-ms T] [--family 4|6] [--repeat R]
 *   bench_inproc footprint  [--conns N] [--xfers N] [--xfer-bytes B]
 *                           [--family 4|6|46] [--repeat R]
 *   bench_inproc input      [--pcap FILE]... [--seconds S] [--passes N]
 *                           [--repeat R]
 *
 * Sizes take a K, M or G suffix (powers of 1024).  Every figure is printed
 * as one line "bench <name> key=value ..." (scripts/bench parses them);
 * anything else goes to stderr.  Exit status 0 when every run completed
 * and its checks passed, 1 on a failed check, 2 on bad usage.
 * bench/README.md describes the methods; the short version:
 *
 * Clocks.  Wall time from CLOCK_MONOTONIC; CPU time from
 * CLOCK_PROCESS_CPUTIME_ID (so time the process spent descheduled on a
 * busy machine is not counted).  "cycles" are CPU seconds times the TSC
 * frequency, measured at start-up against CLOCK_MONOTONIC (x86-64 only):
 * reference cycles, not core clock cycles.  The stacks' clock (sl_time) is
 * CLOCK_MONOTONIC in microseconds, read once per loop iteration as a real
 * event loop would; `input` uses the capture's timestamps instead.
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#define _POSIX_C_SOURCE 200809L

#include <sluice/sluice.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#define BENCH_TSC 1
#else
#define BENCH_TSC 0
#endif

#ifndef BENCH_PCAP_DIR
#define BENCH_PCAP_DIR "pcaps/recorded"
#endif

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define SEC ((sl_time)1000000)

/* ====================================================================== */
/* Clocks                                                                 */
/* ====================================================================== */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sl_time mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_time)ts.tv_sec * SEC + (sl_time)ts.tv_nsec / 1000u;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A cheap tick counter: the TSC on x86-64, nanoseconds elsewhere. */
static inline uint64_t ticks(void)
{
#if BENCH_TSC
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static double g_tick_hz = 1e9; /* ticks per second */

static void calibrate_ticks(void)
{
#if BENCH_TSC
    double t0 = mono_s();
    uint64_t c0 = ticks();
    double t1;
    do
        t1 = mono_s();
    while (t1 - t0 < 0.05);
    uint64_t c1 = ticks();
    g_tick_hz = (double)(c1 - c0) / (t1 - t0);
#endif
}

/* Tell the compiler the bytes at p may have changed (and are read). */
static inline void clobber(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static volatile uint32_t g_sink;

/* ====================================================================== */
/* Options                                                                */
/* ====================================================================== */

#define MAX_PCAPS 8

typedef struct opts {
    uint64_t bytes;        /* bulk: bytes to transfer                    */
    uint32_t mtu;          /* bulk: 0 = 1500, 9000 and 65535             */
    uint32_t buf;          /* bulk: rcvbuf = sndbuf                      */
    size_t chunk;          /* bulk: application read/write size          */
    int family;            /* 4, 6, or 46 (footprint: both); 0: default  */
    bool verify;           /* bulk: check every byte received            */
    double seconds;        /* handshakes, input: run time per figure     */
    uint64_t count;        /* handshakes: stop after this many (0: time) */
    uint32_t parallel;     /* handshakes: connections in flight          */
    uint32_t time_wait_ms; /* handshakes: cfg.tcp_time_wait              */
    uint32_t conns;        /* footprint: idle connections per family     */
    uint32_t xfers;        /* footprint: concurrent transfers            */
    uint32_t xfer_bytes;   /* footprint: bytes per transfer              */
    const char *pcaps[MAX_PCAPS];
    size_t n_pcaps;
    uint32_t passes; /* input: stop after this many passes (0: time) */
    int repeat;
} opts;

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
    fprintf(stderr, "usage: bench_inproc bulk|handshakes|footprint|input [options]\n"
                    "  bulk:       --bytes N (1G) --mtu M (1500, 9000, 65535) --buf B (4M)\n"
                    "              --chunk C (256K) --family 4|6 --verify\n"
                    "  handshakes: --seconds S (1) --count N --parallel P (1)\n"
                    "              --time-wait-ms T (10) --family 4|6\n"
                    "  footprint:  --conns N (100000) --xfers N (10000) --xfer-bytes B (64K)\n"
                    "              --family 4|6|46 (46)\n"
                    "  input:      --pcap FILE (repeatable; tcp4_bulk_down and tcp4_bulk_up)\n"
                    "              --seconds S (1.5) --passes N\n"
                    "  all:        --repeat R (1)\n");
    exit(2);
}

/* A count with an optional K/M/G suffix (powers of 1024). */
static uint64_t parse_size(const char *s)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        usage();
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024u;
    else if (*end == 'm' || *end == 'M')
        mul = 1024u * 1024u;
    else if (*end == 'g' || *end == 'G')
        mul = 1024u * 1024u * 1024u;
    else if (*end != '\0')
        usage();
    if (mul != 1 && end[1] != '\0')
        usage();
    return (uint64_t)v * mul;
}

static double parse_double(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0.0 && v < 3600.0))
        usage();
    return v;
}

static uint32_t parse_u32(const char *s, uint64_t lo, uint64_t hi)
{
    uint64_t v = parse_size(s);
    if (v < lo || v > hi)
        usage();
    return (uint32_t)v;
}

static void parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->bytes = (uint64_t)1 << 30;
    o->buf = 4u << 20;
    o->chunk = 256 * KiB;
    o->parallel = 1;
    o->time_wait_ms = 10;
    o->conns = 100000;
    o->xfers = 10000;
    o->xfer_bytes = 65536;
    o->repeat = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verify") == 0) {
            o->verify = true;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--bytes") == 0) {
            o->bytes = parse_size(v);
            if (o->bytes == 0)
                usage();
        } else if (strcmp(a, "--mtu") == 0) {
            o->mtu = parse_u32(v, 1280, 65535);
        } else if (strcmp(a, "--buf") == 0) {
            o->buf = parse_u32(v, 16384, 1u << 30);
        } else if (strcmp(a, "--chunk") == 0) {
            o->chunk = parse_u32(v, 1024, 64u << 20);
        } else if (strcmp(a, "--family") == 0) {
            o->family = (int)parse_u32(v, 4, 46);
            if (o->family != 4 && o->family != 6 && o->family != 46)
                usage();
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = parse_double(v);
        } else if (strcmp(a, "--count") == 0) {
            o->count = parse_size(v);
        } else if (strcmp(a, "--parallel") == 0) {
            o->parallel = parse_u32(v, 1, 16384);
        } else if (strcmp(a, "--time-wait-ms") == 0) {
            o->time_wait_ms = parse_u32(v, 0, 3600000);
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = parse_u32(v, 1, 1u << 22);
        } else if (strcmp(a, "--xfers") == 0) {
            o->xfers = parse_u32(v, 1, 1u << 20);
        } else if (strcmp(a, "--xfer-bytes") == 0) {
            o->xfer_bytes = parse_u32(v, 1, 1u << 30);
        } else if (strcmp(a, "--pcap") == 0) {
            if (o->n_pcaps == MAX_PCAPS)
                usage();
            o->pcaps[o->n_pcaps++] = v;
        } else if (strcmp(a, "--passes") == 0) {
            o->passes = parse_u32(v, 1, 1u << 30);
        } else if (strcmp(a, "--repeat") == 0) {
            o->repeat = (int)parse_u32(v, 1, 1000);
        } else {
            usage();
        }
    }
}

/* ====================================================================== */
/* Common: configuration, addresses, two stacks back to back              */
/* ====================================================================== */

static const uint8_t g_secret[16] = {'s', 'l', 'u', 'i', 'c', 'e', '-', 'b',
                                     'e', 'n', 'c', 'h', '-', 'k', 'e', 'y'};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_inproc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void cfg_base(sl_config *c)
{
    sl_config_init(c);
    c->secret = g_secret;
    c->secret_len = sizeof g_secret;
}

/* Side 0 (stack A): 198.18.x.y / 2001:2::x; side 1 (stack B): 198.19.x.y /
 * 2001:2:0:1::x.  `host` 1..65535. */
static sl_endpoint mk_ep(int family, int side, uint32_t host, uint16_t port)
{
    sl_endpoint e;
    memset(&e, 0, sizeof e);
    e.port = port;
    e.addr.family = (uint8_t)family;
    if (family == 4) {
        e.addr.b[0] = 198;
        e.addr.b[1] = (uint8_t)(18 + side);
        e.addr.b[2] = (uint8_t)(host >> 8);
        e.addr.b[3] = (uint8_t)host;
    } else {
        e.addr.b[0] = 0x20;
        e.addr.b[1] = 0x01;
        e.addr.b[3] = 0x02;
        e.addr.b[7] = (uint8_t)side;
        e.addr.b[14] = (uint8_t)(host >> 8);
        e.addr.b[15] = (uint8_t)host;
    }
    return e;
}

/* Two stacks whose tx callbacks hand each packet straight to the other's
 * sl_input (no queue, no copy by the harness), stamped with p->now. */
typedef struct pair {
    sl_stack *a, *b;
    sl_time now;
    uint64_t pkts[2], bytes[2]; /* [0] A -> B, [1] B -> A */
    uint64_t input_errors;
} pair;

static void tx_ab(void *ctx, uint8_t *buf, size_t len)
{
    pair *p = (pair *)ctx;
    p->pkts[0]++;
    p->bytes[0] += len;
    if (sl_input(p->b, buf, len, p->now) != SL_OK)
        p->input_errors++;
}

static void tx_ba(void *ctx, uint8_t *buf, size_t len)
{
    pair *p = (pair *)ctx;
    p->pkts[1]++;
    p->bytes[1] += len;
    if (sl_input(p->a, buf, len, p->now) != SL_OK)
        p->input_errors++;
}

static void pair_init(pair *p, const sl_config *cfg_a, const sl_config *cfg_b, sl_time now)
{
    memset(p, 0, sizeof *p);
    p->now = now;
    sl_config ca = *cfg_a, cb = *cfg_b;
    ca.tx.get_buffer = NULL;
    ca.tx.send = tx_ab;
    ca.tx.ctx = p;
    cb.tx.get_buffer = NULL;
    cb.tx.send = tx_ba;
    cb.tx.ctx = p;
    sl_allocator heap = sl_allocator_heap();
    sl_error e = SL_OK;
    p->a = sl_stack_new(&ca, &heap, &e);
    if (p->a == NULL)
        die("sl_stack_new (A): %s", sl_error_name(e));
    p->b = sl_stack_new(&cb, &heap, &e);
    if (p->b == NULL)
        die("sl_stack_new (B): %s", sl_error_name(e));
    (void)sl_poll(p->a, now);
    (void)sl_poll(p->b, now);
}

static void pair_free(pair *p)
{
    sl_stack_free(p->a);
    sl_stack_free(p->b);
    p->a = p->b = NULL;
}

/* in_use of an empty stack made with `cfg`. */
static size_t empty_in_use(const sl_config *cfg)
{
    sl_config c = *cfg;
    c.tx.send = tx_ab; /* never called */
    c.tx.ctx = NULL;
    sl_allocator heap = sl_allocator_heap();
    sl_error e = SL_OK;
    sl_stack *s = sl_stack_new(&c, &heap, &e);
    if (s == NULL)
        die("sl_stack_new (empty): %s", sl_error_name(e));
    sl_mem_stats ms;
    sl_stats_mem(s, &ms);
    sl_stack_free(s);
    return ms.in_use;
}

static const char *ev_name(sl_event_type t)
{
    switch (t) {
    case SL_EV_DGRAM_NEW:
        return "DGRAM_NEW";
    case SL_EV_STREAM_NEW:
        return "STREAM_NEW";
    case SL_EV_CONNECTED:
        return "CONNECTED";
    case SL_EV_READABLE:
        return "READABLE";
    case SL_EV_WRITABLE:
        return "WRITABLE";
    case SL_EV_PEER_FIN:
        return "PEER_FIN";
    case SL_EV_ERROR:
        return "ERROR";
    case SL_EV_RESET:
        return "RESET";
    case SL_EV_CLOSED:
        return "CLOSED";
    }
    return "?";
}

#if BENCH_TSC
static double cycles_of(double cpu_seconds)
{
    return cpu_seconds * g_tick_hz;
}
#endif

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed | 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* 64-byte aligned allocation (freed with free()). */
static uint8_t *xmalloc_aligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n == 0 ? 64 : n) != 0)
        die("out of memory (%zu bytes)", n);
    return (uint8_t *)p;
}

/* ====================================================================== */
/* bulk: one connection A -> B, N bytes, and the memory-bandwidth limit    */
/* ====================================================================== */

typedef struct bulk_res {
    double wall, cpu;
    uint64_t segs, acks, iters;
    double stall_s;
    uint64_t retrans;
} bulk_res;

static void bulk_check_event(const sl_event *ev, const char *side)
{
    if (ev->type == SL_EV_ERROR || ev->type == SL_EV_RESET ||
        (ev->type == SL_EV_CLOSED && ev->is_stream))
        die("bulk: unexpected %s on %s (%s)", ev_name(ev->type), side, sl_error_name(ev->error));
}

static void bulk_run(const opts *o, int family, uint32_t mtu, const uint8_t *src, uint8_t *dst,
                     bulk_res *r)
{
    memset(r, 0, sizeof *r);
    sl_config c;
    cfg_base(&c);
    c.mtu = (uint16_t)mtu;
    c.tcp_rcvbuf = o->buf;
    c.tcp_sndbuf = o->buf;
    c.mem_limit = 64 * MiB + 4 * (size_t)o->buf;
    pair p;
    pair_init(&p, &c, &c, mono_us());

    sl_endpoint la = mk_ep(family, 0, 1, 0), rb = mk_ep(family, 1, 1, 5001);
    sl_stream ha, hb = {0, 0};
    sl_error e = sl_stream_connect(p.a, &la, &rb, NULL, &ha);
    if (e != SL_OK)
        die("bulk: connect: %s", sl_error_name(e));
    (void)sl_stream_set_nodelay(p.a, ha, true);

    /* Handshake (not timed). */
    bool connected = false, accepted = false;
    sl_event ev;
    for (int i = 0; i < 1000 && !(connected && accepted); i++) {
        p.now = mono_us();
        (void)sl_poll(p.a, p.now);
        while (sl_next_event(p.b, &ev)) {
            if (ev.type == SL_EV_STREAM_NEW) {
                hb = ev.stream;
                accepted = true;
            }
        }
        (void)sl_poll(p.b, p.now);
        while (sl_next_event(p.a, &ev)) {
            if (ev.type == SL_EV_CONNECTED)
                connected = true;
            bulk_check_event(&ev, "A");
        }
    }
    if (!(connected && accepted))
        die("bulk: the handshake did not complete");

    const size_t chunk = o->chunk;
    const uint64_t total = o->bytes;
    uint64_t tx = 0, rx = 0, iters = 0;
    bool shut = false, eof = false;
    const uint64_t pk0 = p.pkts[0], pk1 = p.pkts[1];
    double stall_s = 0.0, stall_since = 0.0;
    const double w0 = mono_s(), c0 = cpu_s();
    while (!eof) {
        p.now = mono_us();
        const uint64_t tx0 = tx, rx0 = rx, pkts0 = p.pkts[0] + p.pkts[1];
        /* Application on A: write what the send buffer takes. */
        while (tx < total) {
            size_t off = (size_t)(tx % chunk);
            size_t n = chunk - off;
            if (n > total - tx)
                n = (size_t)(total - tx);
            long w = sl_stream_write(p.a, ha, src + off, n);
            if (w == SL_ERR_AGAIN)
                break;
            if (w <= 0)
                die("bulk: write: %s", sl_error_name((int)w));
            tx += (uint64_t)w;
        }
        if (tx == total && !shut) {
            e = sl_stream_shutdown(p.a, ha);
            if (e != SL_OK)
                die("bulk: shutdown: %s", sl_error_name(e));
            shut = true;
        }
        (void)sl_poll(p.a, p.now); /* segments go straight into B */
        while (sl_next_event(p.a, &ev))
            bulk_check_event(&ev, "A");
        while (sl_next_event(p.b, &ev))
            bulk_check_event(&ev, "B");
        /* Application on B: read everything. */
        for (;;) {
            long n = sl_stream_read(p.b, hb, dst, chunk);
            if (n == SL_ERR_AGAIN)
                break;
            if (n < 0)
                die("bulk: read: %s", sl_error_name((int)n));
            if (n == 0) {
                eof = true;
                break;
            }
            if (o->verify) {
                /* Byte i of the stream is src[i % chunk]. */
                size_t done = 0;
                while (done < (size_t)n) {
                    size_t off = (size_t)((rx + done) % chunk);
                    size_t k = chunk - off;
                    if (k > (size_t)n - done)
                        k = (size_t)n - done;
                    if (memcmp(dst + done, src + off, k) != 0)
                        die("bulk: data mismatch near byte %" PRIu64, rx + done);
                    done += k;
                }
            }
            rx += (uint64_t)n;
        }
        (void)sl_poll(p.b, p.now); /* ACKs go straight into A */
        iters++;
        if (tx == tx0 && rx == rx0 && p.pkts[0] + p.pkts[1] == pkts0 && !eof) {
            /* Nothing moved: waiting for a timer (counted as stall time). */
            double t = mono_s();
            if (stall_since == 0.0)
                stall_since = t;
            else if (t - stall_since > 30.0)
                die("bulk: no progress for 30 s at %" PRIu64 " of %" PRIu64 " bytes", rx, total);
        } else if (stall_since != 0.0) {
            stall_s += mono_s() - stall_since;
            stall_since = 0.0;
        }
    }
    r->wall = mono_s() - w0;
    r->cpu = cpu_s() - c0;
    if (rx != total)
        die("bulk: received %" PRIu64 " of %" PRIu64 " bytes", rx, total);
    if (p.input_errors != 0)
        die("bulk: %" PRIu64 " packets refused by sl_input", p.input_errors);
    r->segs = p.pkts[0] - pk0;
    r->acks = p.pkts[1] - pk1;
    r->iters = iters;
    r->stall_s = stall_s;
    r->retrans =
        sl_stats_get(p.a, SL_CNT_TCP_RETRANSMIT) + sl_stats_get(p.a, SL_CNT_TCP_FAST_RETRANSMIT);
    (void)sl_stream_free(p.a, ha);
    (void)sl_stream_free(p.b, hb);
    pair_free(&p);
}

/* The memory-bandwidth limit for the same bytes (docs: the "a
 * memcpy of the same data twice plus a checksum pass"): application buffer
 * -> a ring the size of the socket buffer -> application buffer, with
 * sl_csum_partial over the ring copy, in the application's chunk size. */
static void limit_run(uint64_t total, size_t chunk, const uint8_t *src, uint8_t *ring,
                      size_t ring_cap, uint8_t *dst, double *wall, double *cpu)
{
    uint32_t sum = 0;
    size_t pos = 0;
    const double w0 = mono_s(), c0 = cpu_s();
    for (uint64_t off = 0; off < total;) {
        size_t soff = (size_t)(off % chunk);
        size_t n = chunk - soff;
        if (n > total - off)
            n = (size_t)(total - off);
        if (n > ring_cap - pos)
            n = ring_cap - pos;
        memcpy(ring + pos, src + soff, n);
        clobber(ring);
        sum = sl_csum_partial(ring + pos, n, sum);
        memcpy(dst, ring + pos, n);
        clobber(dst);
        pos += n;
        if (pos == ring_cap)
            pos = 0;
        off += n;
    }
    *wall = mono_s() - w0;
    *cpu = cpu_s() - c0;
    g_sink += sum;
}

static int cmd_bulk(const opts *o)
{
    static const uint32_t all_mtus[] = {1500, 9000, 65535};
    const int family = o->family == 6 ? 6 : 4;
    if (o->family == 46)
        usage();
    uint8_t *src = xmalloc_aligned(o->chunk);
    uint8_t *dst = xmalloc_aligned(o->chunk);
    uint8_t *ring = xmalloc_aligned(o->buf);
    fill_pattern(src, o->chunk, 0x9e3779b9u);
    memset(dst, 0, o->chunk);
    memset(ring, 0, o->buf);
    for (int rep = 0; rep < o->repeat; rep++) {
        for (size_t m = 0; m < 3; m++) {
            uint32_t mtu = o->mtu != 0 ? o->mtu : all_mtus[m];
            if (o->mtu != 0 && m > 0)
                break;
            bulk_res r;
            bulk_run(o, family, mtu, src, dst, &r);
            double lw, lc;
            limit_run(o->bytes, o->chunk, src, ring, o->buf, dst, &lw, &lc);
            const double bytes = (double)o->bytes;
            const double gbps = bytes * 8.0 / r.wall / 1e9;
            const double lgbps = bytes * 8.0 / lw / 1e9;
            printf("bench bulk family=%d mtu=%u bytes=%" PRIu64 " buf=%u chunk=%zu gbps=%.3f "
                   "limit_gbps=%.3f ratio=%.4f ns_per_byte=%.4f limit_ns_per_byte=%.4f "
                   "cpu_ratio=%.4f",
                   family, mtu, o->bytes, o->buf, o->chunk, gbps, lgbps, gbps / lgbps,
                   r.cpu * 1e9 / bytes, lc * 1e9 / bytes, lc / r.cpu);
#if BENCH_TSC
            printf(" cycles_per_byte=%.4f limit_cycles_per_byte=%.4f tsc_ghz=%.3f",
                   cycles_of(r.cpu) / bytes, cycles_of(lc) / bytes, g_tick_hz / 1e9);
#endif
            printf(" wall_s=%.4f cpu_s=%.4f segs=%" PRIu64 " acks=%" PRIu64 " iters=%" PRIu64
                   " stall_ms=%.1f retrans=%" PRIu64 "\n",
                   r.wall, r.cpu, r.segs, r.acks, r.iters, r.stall_s * 1e3, r.retrans);
            fflush(stdout);
        }
    }
    free(src);
    free(dst);
    free(ring);
    return 0;
}

/* ====================================================================== */
/* handshakes: open, echo one byte, close                                 */
/* ====================================================================== */

typedef struct hs_trace {
    uint64_t opened, closed; /* transitions out of / into CLOSED     */
    uint64_t tw_now, tw_peak, tw_total;
} hs_trace;

static void hs_trace_fn(void *ctx, uint32_t idx, uint32_t gen, sl_tcp_state from, sl_tcp_state to)
{
    (void)idx;
    (void)gen;
    hs_trace *t = (hs_trace *)ctx;
    if (from == SL_TCP_CLOSED)
        t->opened++;
    if (to == SL_TCP_CLOSED)
        t->closed++;
    if (to == SL_TCP_TIME_WAIT) {
        t->tw_total++;
        if (++t->tw_now > t->tw_peak)
            t->tw_peak = t->tw_now;
    }
    if (from == SL_TCP_TIME_WAIT && t->tw_now > 0)
        t->tw_now--;
}

static void hs_check_event(const sl_event *ev, const char *side)
{
    if (ev->type == SL_EV_ERROR || ev->type == SL_EV_RESET)
        die("handshakes: unexpected %s on %s (%s)", ev_name(ev->type), side,
            sl_error_name(ev->error));
}

/*
 * A connects to B (B's acceptor takes it: no listener), writes one byte
 * on CONNECTED; B reads it, writes it back and frees its handle (a
 * graceful close: FIN after the byte); A reads the byte and the end of
 * stream and frees its handle (FIN).  B closed first, so B holds the
 * TIME-WAIT, for cfg.tcp_time_wait (--time-wait-ms, default 10 ms) on the
 * monotonic clock: expiring them is part of the measured work.
 */
static int cmd_handshakes(const opts *o)
{
    const int family = o->family == 6 ? 6 : 4;
    if (o->family == 46)
        usage();
    const double seconds = o->seconds > 0.0 ? o->seconds : 1.0;
    for (int rep = 0; rep < o->repeat; rep++) {
        hs_trace tra, trb;
        memset(&tra, 0, sizeof tra);
        memset(&trb, 0, sizeof trb);
        sl_config ca, cb;
        cfg_base(&ca);
        ca.max_streams = 65536;
        ca.mem_limit = 512 * MiB;
        ca.tcp_time_wait = (sl_time)o->time_wait_ms * 1000u;
        ca.tcp_backlog = o->parallel > 256 ? o->parallel : 256;
        cb = ca;
        ca.tcp_trace = hs_trace_fn;
        ca.tcp_trace_ctx = &tra;
        cb.tcp_trace = hs_trace_fn;
        cb.tcp_trace_ctx = &trb;
        pair p;
        pair_init(&p, &ca, &cb, mono_us());
        const sl_endpoint la = mk_ep(family, 0, 1, 0), rb = mk_ep(family, 1, 1, 7);
        const uint8_t one = 'x';
        uint64_t started = 0, done = 0, echoed = 0;
        uint32_t active = 0;
        bool stopping = false;
        sl_event ev;
        const double w0 = mono_s(), c0 = cpu_s();
        const sl_time t_end = mono_us() + (sl_time)(seconds * 1e6);
        for (;;) {
            p.now = mono_us();
            if (!stopping &&
                ((o->count != 0 && started >= o->count) || (o->count == 0 && p.now >= t_end)))
                stopping = true;
            while (!stopping && active < o->parallel && (o->count == 0 || started < o->count)) {
                sl_stream h;
                sl_error e = sl_stream_connect(p.a, &la, &rb, NULL, &h);
                if (e != SL_OK)
                    die("handshakes: connect #%" PRIu64 ": %s", started, sl_error_name(e));
                (void)sl_stream_set_nodelay(p.a, h, true);
                active++;
                started++;
            }
            (void)sl_poll(p.a, p.now);
            while (sl_next_event(p.b, &ev)) {
                hs_check_event(&ev, "B");
                if (ev.type != SL_EV_STREAM_NEW && ev.type != SL_EV_READABLE)
                    continue;
                if (ev.type == SL_EV_STREAM_NEW)
                    (void)sl_stream_set_nodelay(p.b, ev.stream, true);
                uint8_t b[16];
                long n = sl_stream_read(p.b, ev.stream, b, sizeof b);
                if (n == SL_ERR_AGAIN || n == SL_ERR_STALE)
                    continue;
                if (n > 0) {
                    long w = sl_stream_write(p.b, ev.stream, b, (size_t)n);
                    if (w != n)
                        die("handshakes: echo write: %ld", w);
                } else if (n < 0) {
                    die("handshakes: B read: %s", sl_error_name((int)n));
                }
                (void)sl_stream_free(p.b, ev.stream);
            }
            (void)sl_poll(p.b, p.now);
            while (sl_next_event(p.a, &ev)) {
                hs_check_event(&ev, "A");
                if (ev.type == SL_EV_CONNECTED) {
                    long w = sl_stream_write(p.a, ev.stream, &one, 1);
                    if (w != 1)
                        die("handshakes: write: %ld", w);
                    continue;
                }
                if (ev.type != SL_EV_READABLE && ev.type != SL_EV_PEER_FIN)
                    continue;
                for (;;) {
                    uint8_t b[16];
                    long n = sl_stream_read(p.a, ev.stream, b, sizeof b);
                    if (n == SL_ERR_AGAIN || n == SL_ERR_STALE)
                        break;
                    if (n < 0)
                        die("handshakes: A read: %s", sl_error_name((int)n));
                    if (n > 0) {
                        if (n != 1 || b[0] != one)
                            die("handshakes: bad echo");
                        echoed++;
                        continue;
                    }
                    (void)sl_stream_free(p.a, ev.stream); /* EOF: close */
                    active--;
                    done++;
                    break;
                }
            }
            if (stopping && active == 0 && tra.closed == started)
                break;
            if (mono_us() > t_end + 30 * SEC)
                die("handshakes: stuck: %u connections still open", active);
        }
        const double wall = mono_s() - w0, cpu = cpu_s() - c0;
        if (echoed != done || done != started || p.input_errors != 0)
            die("handshakes: %" PRIu64 " started, %" PRIu64 " done, %" PRIu64 " echoed, %" PRIu64
                " input errors",
                started, done, echoed, p.input_errors);
        const double d = (double)done;
        printf("bench handshakes family=%d parallel=%u conns=%" PRIu64 " per_sec=%.0f "
               "us_per_conn=%.3f cpu_us_per_conn=%.3f",
               family, o->parallel, done, d / wall, wall * 1e6 / d, cpu * 1e6 / d);
#if BENCH_TSC
        printf(" cycles_per_conn=%.0f", cycles_of(cpu) / d);
#endif
        printf(" pkts_per_conn=%.2f tw_ms=%u tw_peak=%" PRIu64 " tw_total=%" PRIu64
               " wall_s=%.4f\n",
               (double)(p.pkts[0] + p.pkts[1]) / d, o->time_wait_ms, trb.tw_peak,
               trb.tw_total + tra.tw_total, wall);
        fflush(stdout);
        pair_free(&p);
    }
    return 0;
}

/* ====================================================================== */
/* footprint: idle connections, concurrent transfers                      */
/* ====================================================================== */

/* Local endpoint of A's i-th connection: explicit ports 10000..59999 and
 * one address per 50,000 connections (all to the same B endpoint). */
static sl_endpoint fp_local(int family, uint32_t i)
{
    return mk_ep(family, 0, 1 + i / 50000u, (uint16_t)(10000u + i % 50000u));
}

typedef struct fp_conn {
    sl_stream h;
    uint32_t written;
    bool shut;
} fp_conn;

/* Open n connections A -> B in batches (below tcp_backlog, so no SYN
 * cookies), with user pointer &conns[i] on A when conns != NULL.
 * Returns B's handles (malloc'd). */
static sl_stream *fp_open(pair *p, int family, uint32_t n, fp_conn *conns)
{
    const uint32_t batch = 250;
    const sl_endpoint rb = mk_ep(family, 1, 1, 80);
    sl_stream *hb = (sl_stream *)xmalloc((size_t)n * sizeof *hb);
    uint32_t got_b = 0, got_a = 0;
    sl_event ev;
    for (uint32_t i0 = 0; i0 < n; i0 += batch) {
        uint32_t m = n - i0 < batch ? n - i0 : batch;
        for (uint32_t k = 0; k < m; k++) {
            sl_endpoint la = fp_local(family, i0 + k);
            sl_stream h;
            sl_error e = sl_stream_connect(p->a, &la, &rb, conns ? &conns[i0 + k] : NULL, &h);
            if (e != SL_OK)
                die("footprint: connect #%u: %s", i0 + k, sl_error_name(e));
            if (conns != NULL)
                conns[i0 + k].h = h;
        }
        for (int round = 0; round < 3; round++) {
            (void)sl_poll(p->a, p->now);
            while (sl_next_event(p->b, &ev)) {
                if (ev.type == SL_EV_STREAM_NEW) {
                    if (got_b == n)
                        die("footprint: too many connections on B");
                    hb[got_b++] = ev.stream;
                } else if (ev.type != SL_EV_WRITABLE) {
                    die("footprint: B event %s", ev_name(ev.type));
                }
            }
            (void)sl_poll(p->b, p->now);
            while (sl_next_event(p->a, &ev)) {
                if (ev.type == SL_EV_CONNECTED)
                    got_a++;
                else if (ev.type != SL_EV_WRITABLE)
                    die("footprint: A event %s", ev_name(ev.type));
            }
        }
        if (got_a != i0 + m || got_b != i0 + m)
            die("footprint: after batch at %u: %u connected, %u accepted", i0, got_a, got_b);
    }
    return hb;
}

static void fp_idle(uint32_t n, int family)
{
    sl_config c;
    cfg_base(&c);
    c.max_streams = n;
    c.mem_limit = (size_t)n * 2048u + 256 * MiB;
    const size_t empty_same = empty_in_use(&c);
    sl_config c0 = c;
    c0.max_streams = 0;
    const size_t empty_min = empty_in_use(&c0);

    pair p;
    pair_init(&p, &c, &c, 1000 * SEC);
    const double w0 = mono_s();
    sl_stream *hb = fp_open(&p, family, n, NULL);
    const double open_s = mono_s() - w0;
    sl_mem_stats ma, mb;
    sl_stats_mem(p.a, &ma);
    sl_stats_mem(p.b, &mb);
    /* Ten idle minutes: nothing may be sent, nothing may change. */
    const uint64_t pk = p.pkts[0] + p.pkts[1];
    for (int k = 1; k <= 10; k++) {
        p.now += 60 * SEC;
        (void)sl_poll(p.a, p.now);
        (void)sl_poll(p.b, p.now);
    }
    sl_mem_stats ma2, mb2;
    sl_stats_mem(p.a, &ma2);
    sl_stats_mem(p.b, &mb2);
    if (p.pkts[0] + p.pkts[1] != pk || ma2.in_use != ma.in_use || mb2.in_use != mb.in_use)
        die("footprint: idle connections sent packets or changed memory");
    if (ma.fails != 0 || mb.fails != 0 || p.input_errors != 0)
        die("footprint: allocation failures or input errors");
    const double dn = (double)n;
    for (int side = 0; side < 2; side++) {
        const sl_mem_stats *m = side == 0 ? &mb : &ma;
        printf("bench footprint kind=idle family=%d conns=%u side=%s bytes_per_conn=%.1f "
               "bytes_per_conn_tables=%.1f in_use=%zu empty=%zu empty_no_streams=%zu "
               "open_s=%.3f\n",
               family, n, side == 0 ? "passive" : "active", (double)(m->in_use - empty_same) / dn,
               (double)(m->in_use - empty_min) / dn, m->in_use, empty_same, empty_min, open_s);
    }
    fflush(stdout);
    free(hb);
    pair_free(&p);
}

static void fp_xfer_write(pair *p, fp_conn *cn, const uint8_t *pat, size_t pat_len,
                          uint32_t xfer_bytes)
{
    while (cn->written < xfer_bytes) {
        size_t want = xfer_bytes - cn->written;
        if (want > pat_len)
            want = pat_len;
        long w = sl_stream_write(p->a, cn->h, pat, want);
        if (w == SL_ERR_AGAIN)
            return;
        if (w <= 0)
            die("footprint: write: %s", sl_error_name((int)w));
        cn->written += (uint32_t)w;
    }
    if (!cn->shut) {
        /* All written: free the handle, which closes gracefully (FIN after
         * the data) and finishes in the background. */
        cn->shut = true;
        (void)sl_stream_free(p->a, cn->h);
    }
}

/*
 * n concurrent transfers of xfer_bytes A -> B with the default 64 KiB
 * buffers: all n connections are opened, then every one is written at
 * once (as a proxy relaying n flows would), B reads everything as it
 * arrives.  The figure is each stack's peak in_use over the whole run
 * less an empty stack with the same config (its tables), per transfer.
 */
static void fp_xfer(uint32_t n, uint32_t xfer_bytes, int family)
{
    sl_config c;
    cfg_base(&c);
    c.max_streams = n;
    c.mem_limit = (size_t)n * (c.tcp_sndbuf + c.tcp_rcvbuf + 4096u) + 256 * MiB;
    const size_t empty_same = empty_in_use(&c);
    pair p;
    pair_init(&p, &c, &c, mono_us());
    fp_conn *conns = (fp_conn *)xmalloc((size_t)n * sizeof *conns);
    memset(conns, 0, (size_t)n * sizeof *conns);
    static uint8_t pat[64 * 1024];
    fill_pattern(pat, sizeof pat, 7);
    static uint8_t sink[64 * 1024];

    const double w0 = mono_s();
    p.now = mono_us();
    sl_stream *hb = fp_open(&p, family, n, conns);
    free(hb); /* B's handles come back with their events */
    for (uint32_t i = 0; i < n; i++)
        fp_xfer_write(&p, &conns[i], pat, sizeof pat, xfer_bytes);
    uint64_t rx = 0, eofs = 0;
    const uint64_t total = (uint64_t)n * xfer_bytes;
    sl_event ev;
    const double t_limit = mono_s() + 120.0;
    while (eofs < n) {
        p.now = mono_us();
        (void)sl_poll(p.a, p.now);
        while (sl_next_event(p.b, &ev)) {
            if (ev.type == SL_EV_ERROR || ev.type == SL_EV_RESET)
                die("footprint: B event %s", ev_name(ev.type));
            if (ev.type != SL_EV_READABLE && ev.type != SL_EV_PEER_FIN)
                continue;
            for (;;) {
                long r = sl_stream_read(p.b, ev.stream, sink, sizeof sink);
                if (r == SL_ERR_AGAIN || r == SL_ERR_STALE)
                    break;
                if (r < 0)
                    die("footprint: read: %s", sl_error_name((int)r));
                if (r == 0) {
                    eofs++;
                    (void)sl_stream_free(p.b, ev.stream);
                    break;
                }
                rx += (uint64_t)r;
            }
        }
        (void)sl_poll(p.b, p.now);
        while (sl_next_event(p.a, &ev)) {
            if (ev.type == SL_EV_ERROR || ev.type == SL_EV_RESET)
                die("footprint: A event %s", ev_name(ev.type));
            if (ev.type == SL_EV_WRITABLE && ev.user != NULL)
                fp_xfer_write(&p, (fp_conn *)ev.user, pat, sizeof pat, xfer_bytes);
        }
        if (mono_s() > t_limit)
            die("footprint: transfers stuck: %" PRIu64 " of %u finished", eofs, n);
    }
    const double wall = mono_s() - w0;
    if (rx != total)
        die("footprint: received %" PRIu64 " of %" PRIu64 " bytes", rx, total);
    sl_mem_stats ma, mb;
    sl_stats_mem(p.a, &ma);
    sl_stats_mem(p.b, &mb);
    if (ma.fails != 0 || mb.fails != 0 || p.input_errors != 0)
        die("footprint: allocation failures or input errors");
    const double dn = (double)n;
    for (int side = 0; side < 2; side++) {
        const sl_mem_stats *m = side == 0 ? &ma : &mb;
        printf("bench footprint kind=xfer family=%d xfers=%u xfer_bytes=%u side=%s peak=%zu "
               "bytes_per_xfer=%.1f empty=%zu wall_s=%.3f\n",
               family, n, xfer_bytes, side == 0 ? "sender" : "receiver", m->peak,
               (double)(m->peak - empty_same) / dn, empty_same, wall);
    }
    fflush(stdout);
    free(conns);
    pair_free(&p);
}

static int cmd_footprint(const opts *o)
{
    const int fam = o->family == 0 ? 46 : o->family;
    for (int rep = 0; rep < o->repeat; rep++) {
        if (fam == 4 || fam == 46)
            fp_idle(o->conns, 4);
        if (fam == 6 || fam == 46)
            fp_idle(o->conns, 6);
        fp_xfer(o->xfers, o->xfer_bytes, fam == 6 ? 6 : 4);
    }
    return 0;
}

/* ====================================================================== */
/* input: replaying a capture held in memory                              */
/* ====================================================================== */

/* A tiny pcap reader: classic pcap (either byte order, µs or ns
 * timestamps), LINKTYPE_RAW (101; also 228/229 raw IPv4/IPv6) or Ethernet
 * (1, with 802.1Q/802.1ad tags).  Non-IP frames are skipped. */

typedef struct cap_pkt {
    const uint8_t *data;
    uint32_t len;
    sl_time ts;
} cap_pkt;

enum { DIR_RAW = 0, DIR_INI, DIR_RESP };

typedef struct cap_info {
    int dir;        /* DIR_*                                         */
    int flow;       /* index into flows, -1                          */
    size_t tcp_off; /* offset of the TCP header, 0 if none           */
    uint32_t seq;
    uint8_t flags;
    uint32_t payload_len;
} cap_info;

#define MAX_FLOWS 64

typedef struct rflow {
    /* from the capture */
    uint8_t family;
    uint8_t ini[16], resp[16];
    uint16_t ini_port, resp_port;
    bool played; /* SYN from the initiator and SYN-ACK seen  */
    uint32_t ini_isn, resp_isn, resp_tsval;
    bool resp_ts;
    uint64_t expect; /* initiator bytes (what the app should read) */
    /* per pass */
    bool mapped; /* our SYN-ACK seen: ISN and TSval known     */
    uint32_t our_isn, our_tsval, snd_max;
    bool have_h, shut_wanted, shut_done, abort_wanted;
    sl_stream h;
    uint64_t target, written, delivered;
} rflow;

typedef struct capture {
    char name[128];
    uint8_t *file;
    cap_pkt *pkts;
    cap_info *info;
    size_t n;
    rflow flows[MAX_FLOWS];
    size_t n_flows;
    uint64_t fed_pkts, fed_bytes, expect;
} capture;

static uint32_t rd32(const uint8_t *p, bool swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    if (swap)
        v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    return v;
}

static bool seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* Locate the TCP header of an IP packet: offset and parsed header, false
 * if it is not an unfragmented TCP segment. */
static bool find_tcp(const uint8_t *pkt, size_t len, uint8_t *family, const uint8_t **src,
                     const uint8_t **dst, size_t *off)
{
    if (len < 1)
        return false;
    if (pkt[0] >> 4 == 4) {
        if (len < 20 || pkt[9] != SL_IPPROTO_TCP)
            return false;
        if ((sl_load16(pkt + 6) & 0x3fffu) != 0) /* a fragment */
            return false;
        size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
        size_t tot = sl_load16(pkt + 2);
        if (ihl < 20 || tot > len || tot < ihl + 20)
            return false;
        *family = 4;
        *src = pkt + 12;
        *dst = pkt + 16;
        *off = ihl;
        return true;
    }
    sl_ipv6_hdr h;
    if (pkt[0] >> 4 != 6 || sl_ipv6_parse(pkt, len, &h) != SL_OK || h.proto != SL_IPPROTO_TCP ||
        h.is_fragment || h.payload_len < 20)
        return false;
    *family = 6;
    *src = pkt + 8;
    *dst = pkt + 24;
    *off = (size_t)(h.payload - pkt);
    return true;
}

static size_t tcp_seg_len(const uint8_t *pkt, size_t len, size_t off)
{
    if (pkt[0] >> 4 == 4)
        return (size_t)sl_load16(pkt + 2) - off;
    size_t end = 40u + sl_load16(pkt + 4);
    return (end <= len ? end : len) - off;
}

static rflow *flow_find(capture *c, uint8_t family, const uint8_t *a, uint16_t ap, const uint8_t *b,
                        uint16_t bp, bool *a_is_ini)
{
    size_t alen = family == 4 ? 4 : 16;
    for (size_t i = 0; i < c->n_flows; i++) {
        rflow *f = &c->flows[i];
        if (f->family != family)
            continue;
        if (memcmp(f->ini, a, alen) == 0 && f->ini_port == ap && memcmp(f->resp, b, alen) == 0 &&
            f->resp_port == bp) {
            *a_is_ini = true;
            return f;
        }
        if (memcmp(f->ini, b, alen) == 0 && f->ini_port == bp && memcmp(f->resp, a, alen) == 0 &&
            f->resp_port == ap) {
            *a_is_ini = false;
            return f;
        }
    }
    return NULL;
}

/* TSval of a TCP header's options, false if none. */
static bool tcp_tsval(const uint8_t *tcp, size_t seg_len, uint32_t *tsval)
{
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > seg_len)
        return false;
    sl_tcp_opts o;
    if (sl_tcp_opts_parse(tcp + 20, doff - 20, &o) != SL_OK || !o.has_ts)
        return false;
    *tsval = o.ts_val;
    return true;
}

static void cap_analyse(capture *c)
{
    c->info = (cap_info *)xmalloc(c->n * sizeof *c->info);
    uint64_t ini_end[MAX_FLOWS] = {0};
    for (size_t i = 0; i < c->n; i++) {
        cap_info *ci = &c->info[i];
        memset(ci, 0, sizeof *ci);
        ci->flow = -1;
        const uint8_t *pkt = c->pkts[i].data, *src, *dst;
        size_t len = c->pkts[i].len, off;
        uint8_t fam;
        if (!find_tcp(pkt, len, &fam, &src, &dst, &off))
            continue;
        size_t seg = tcp_seg_len(pkt, len, off);
        const uint8_t *t = pkt + off;
        size_t doff = (size_t)(t[12] >> 4) * 4;
        if (doff < 20 || doff > seg)
            continue;
        uint16_t sp = sl_load16(t), dp = sl_load16(t + 2);
        ci->tcp_off = off;
        ci->seq = sl_load32(t + 4);
        ci->flags = t[13];
        ci->payload_len = (uint32_t)(seg - doff);
        bool src_ini = false;
        rflow *f = flow_find(c, fam, src, sp, dst, dp, &src_ini);
        if (f == NULL && (ci->flags & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN &&
            c->n_flows < MAX_FLOWS) {
            f = &c->flows[c->n_flows++];
            memset(f, 0, sizeof *f);
            f->family = fam;
            memcpy(f->ini, src, fam == 4 ? 4 : 16);
            memcpy(f->resp, dst, fam == 4 ? 4 : 16);
            f->ini_port = sp;
            f->resp_port = dp;
            f->ini_isn = ci->seq;
            src_ini = true;
        }
        if (f == NULL)
            continue;
        size_t fi = (size_t)(f - c->flows);
        ci->flow = (int)fi;
        ci->dir = src_ini ? DIR_INI : DIR_RESP;
        if (!src_ini && (ci->flags & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK) &&
            !f->played) {
            f->played = true;
            f->resp_isn = ci->seq;
            f->resp_ts = tcp_tsval(t, seg, &f->resp_tsval);
        }
        if (src_ini && ci->payload_len > 0) {
            /* Data starts after the SYN's sequence number (a SYN may carry
             * data too). */
            uint32_t first = ci->seq + ((ci->flags & SL_TCP_SYN) ? 1u : 0u);
            uint64_t end = (uint32_t)(first + ci->payload_len - f->ini_isn - 1u);
            if (end > ini_end[fi])
                ini_end[fi] = end;
        }
    }
    for (size_t i = 0; i < c->n_flows; i++) {
        c->flows[i].expect = c->flows[i].played ? ini_end[i] : 0;
        c->expect += c->flows[i].expect;
    }
    /* Packets of flows that are not played (no handshake) go in as they are. */
    for (size_t i = 0; i < c->n; i++) {
        cap_info *ci = &c->info[i];
        if (ci->flow >= 0 && !c->flows[ci->flow].played)
            ci->dir = DIR_RAW;
        if (ci->dir != DIR_RESP) {
            c->fed_pkts++;
            c->fed_bytes += c->pkts[i].len;
        }
    }
}

static void cap_load(capture *c, const char *path)
{
    memset(c, 0, sizeof *c);
    const char *base = strrchr(path, '/');
    snprintf(c->name, sizeof c->name, "%s", base != NULL ? base + 1 : path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("input: cannot open %s", path);
    size_t cap = 1 << 20, len = 0;
    c->file = (uint8_t *)xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            uint8_t *nb = (uint8_t *)realloc(c->file, cap);
            if (nb == NULL)
                die("out of memory");
            c->file = nb;
        }
        size_t k = fread(c->file + len, 1, cap - len, f);
        if (k == 0)
            break;
        len += k;
    }
    fclose(f);
    if (len < 24)
        die("input: %s: not a pcap file", path);
    uint32_t magic;
    memcpy(&magic, c->file, 4);
    bool swap, nsec;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) {
        swap = false;
        nsec = magic == 0xa1b23c4du;
    } else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) {
        swap = true;
        nsec = magic == 0x4d3cb2a1u;
    } else {
        die("input: %s: not a classic pcap file (pcapng is not supported)", path);
    }
    uint32_t linktype = rd32(c->file + 20, swap) & 0x0fffffffu;
    if (linktype != 1 && linktype != 101 && linktype != 228 && linktype != 229)
        die("input: %s: link type %u (only Ethernet and raw IP)", path, linktype);
    size_t max = (len - 24) / 16 + 1;
    c->pkts = (cap_pkt *)xmalloc(max * sizeof *c->pkts);
    size_t pos = 24;
    while (pos + 16 <= len) {
        uint32_t sec = rd32(c->file + pos, swap), frac = rd32(c->file + pos + 4, swap);
        uint32_t incl = rd32(c->file + pos + 8, swap);
        pos += 16;
        if (incl > len - pos)
            die("input: %s: record runs past the end of the file", path);
        const uint8_t *d = c->file + pos;
        size_t n = incl;
        pos += incl;
        if (linktype == 1) {
            if (n < 14)
                continue;
            size_t o = 12;
            uint16_t et = sl_load16(d + o);
            while ((et == 0x8100u || et == 0x88a8u) && o + 6 <= n) {
                o += 4;
                et = sl_load16(d + o);
            }
            if (et != 0x0800u && et != 0x86ddu)
                continue;
            d += o + 2;
            n -= o + 2;
        }
        if (n == 0)
            continue;
        cap_pkt *p = &c->pkts[c->n++];
        p->data = d;
        p->len = (uint32_t)n;
        p->ts = (sl_time)sec * SEC + (nsec ? frac / 1000u : frac);
    }
    if (c->n == 0)
        die("input: %s: no IP packets", path);
    /* Timestamps that go backwards are held at the previous one. */
    for (size_t i = 1; i < c->n; i++)
        if (c->pkts[i].ts < c->pkts[i - 1].ts)
            c->pkts[i].ts = c->pkts[i - 1].ts;
    cap_analyse(c);
}

static void cap_free(capture *c)
{
    free(c->file);
    free(c->pkts);
    free(c->info);
}

typedef struct replay {
    capture *c;
    sl_stack *s;
    uint64_t t_input; /* ticks inside sl_input                       */
    uint64_t input_errors, unmapped, tx_pkts;
    uint8_t scratch[65536 + 64];
    uint8_t sink[65536];
} replay;

/* The stack's transmit callback: learn our ISN and TSval from the SYN-ACK
 * of each played flow and track the highest sequence number sent, so the
 * initiator's acknowledgements can be mapped into our sequence space. */
static void replay_tx(void *ctx, uint8_t *buf, size_t len)
{
    replay *r = (replay *)ctx;
    r->tx_pkts++;
    const uint8_t *src, *dst;
    size_t off;
    uint8_t fam;
    if (!find_tcp(buf, len, &fam, &src, &dst, &off))
        return;
    const uint8_t *t = buf + off;
    size_t seg = tcp_seg_len(buf, len, off);
    bool src_ini = false;
    rflow *f = flow_find(r->c, fam, src, sl_load16(t), dst, sl_load16(t + 2), &src_ini);
    if (f == NULL || src_ini || !f->played)
        return;
    uint8_t flags = t[13];
    uint32_t seq = sl_load32(t + 4);
    size_t doff = (size_t)(t[12] >> 4) * 4;
    if ((flags & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK) && !f->mapped) {
        f->mapped = true;
        f->our_isn = seq;
        f->snd_max = seq + 1;
        uint32_t tsv = 0;
        f->our_tsval = tcp_tsval(t, seg, &tsv) ? tsv : 0;
        return;
    }
    if (!f->mapped || (flags & SL_TCP_RST))
        return;
    uint32_t end = seq + (uint32_t)(seg - doff) + ((flags & SL_TCP_FIN) ? 1u : 0u);
    if (seq_gt(end, f->snd_max))
        f->snd_max = end;
}

/* Map a 32-bit field of the TCP segment; the checksum is updated
 * incrementally (RFC 1624) when the field is 16-bit aligned, else *recsum
 * asks for a full recomputation. */
static void map32(uint8_t *tcp, size_t at, uint32_t v, bool *recsum)
{
    uint32_t old = sl_load32(tcp + at);
    if (old == v)
        return;
    sl_store32(tcp + at, v);
    if (at % 2 == 0)
        sl_store16(tcp + 16, sl_csum_update32(sl_load16(tcp + 16), old, v));
    else
        *recsum = true;
}

static uint32_t map_ack(const rflow *f, uint32_t ack)
{
    uint32_t v = ack - f->resp_isn + f->our_isn;
    return seq_gt(v, f->snd_max) ? f->snd_max : v;
}

/* Rewrite an initiator packet (copied into r->scratch) into our sequence
 * and timestamp space, as sluice-replay's play-server mode does: ACK,
 * SACK blocks, TSecr. */
static void replay_rewrite(replay *r, const rflow *f, const cap_info *ci, size_t len)
{
    uint8_t *pkt = r->scratch;
    uint8_t *t = pkt + ci->tcp_off;
    size_t seg = tcp_seg_len(pkt, len, ci->tcp_off);
    bool recsum = false;
    if (ci->flags & SL_TCP_ACK)
        map32(t, 8, map_ack(f, sl_load32(t + 8)), &recsum);
    size_t doff = (size_t)(t[12] >> 4) * 4;
    size_t i = 20;
    while (i < doff) {
        uint8_t kind = t[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
            break;
        size_t olen = t[i + 1];
        if (kind == 5) {
            for (size_t b = i + 2; b + 8 <= i + olen; b += 8) {
                map32(t, b, map_ack(f, sl_load32(t + b)), &recsum);
                map32(t, b + 4, map_ack(f, sl_load32(t + b + 4)), &recsum);
            }
        } else if (kind == 8 && olen == 10 && f->resp_ts && f->our_tsval != 0) {
            uint32_t ecr = sl_load32(t + i + 6);
            if (ecr != 0)
                map32(t, i + 6, ecr - f->resp_tsval + f->our_tsval, &recsum);
        }
        i += olen;
    }
    if (recsum) {
        uint32_t ph = pkt[0] >> 4 == 4
                          ? sl_csum_pseudo4(pkt + 12, pkt + 16, SL_IPPROTO_TCP, (uint16_t)seg)
                          : sl_csum_pseudo6(pkt + 8, pkt + 24, SL_IPPROTO_TCP, (uint32_t)seg);
        sl_store16(t + 16, 0);
        sl_store16(t + 16, sl_csum_finish(sl_csum_partial(t, seg, ph)));
    }
}

static void replay_events(replay *r)
{
    sl_event ev;
    capture *c = r->c;
    while (sl_next_event(r->s, &ev)) {
        if (!ev.is_stream)
            continue;
        if (ev.type == SL_EV_STREAM_NEW) {
            sl_stream_info si;
            if (sl_stream_info_get(r->s, ev.stream, &si) != SL_OK)
                continue;
            const uint8_t *ra = si.remote.addr.b, *la = si.local.addr.b;
            bool ini = false;
            rflow *f =
                flow_find(c, si.remote.addr.family, ra, si.remote.port, la, si.local.port, &ini);
            if (f != NULL && ini && !f->have_h) {
                f->have_h = true;
                f->h = ev.stream;
                (void)sl_stream_set_nodelay(r->s, ev.stream, true);
                (void)sl_stream_set_user(r->s, ev.stream, f);
            } else {
                (void)sl_stream_free(r->s, ev.stream);
            }
            continue;
        }
        rflow *f = (rflow *)ev.user;
        if (f == NULL)
            continue;
        for (;;) {
            long n = sl_stream_read(r->s, ev.stream, r->sink, sizeof r->sink);
            if (n <= 0)
                break;
            f->delivered += (uint64_t)n;
        }
        if (ev.type == SL_EV_CLOSED || ev.type == SL_EV_RESET || ev.type == SL_EV_ERROR) {
            (void)sl_stream_free(r->s, ev.stream);
            f->have_h = false;
        }
    }
}

/* The application side of played flows: write what the recorded responder
 * had sent by now (a pattern of the same length), shut down or abort when
 * it did. */
static void replay_app(replay *r)
{
    static const uint8_t pattern[4096] = {0};
    capture *c = r->c;
    for (size_t i = 0; i < c->n_flows; i++) {
        rflow *f = &c->flows[i];
        if (!f->have_h)
            continue;
        if (f->abort_wanted) {
            (void)sl_stream_abort(r->s, f->h);
            f->abort_wanted = false;
            continue;
        }
        while (f->written < f->target) {
            uint64_t want = f->target - f->written;
            long w = sl_stream_write(r->s, f->h, pattern,
                                     want < sizeof pattern ? (size_t)want : sizeof pattern);
            if (w <= 0)
                break;
            f->written += (uint64_t)w;
        }
        if (f->shut_wanted && !f->shut_done && f->written >= f->target) {
            (void)sl_stream_shutdown(r->s, f->h);
            f->shut_done = true;
        }
    }
}

typedef struct pass_res {
    uint64_t t_input; /* ticks inside sl_input */
    double wall;      /* the whole pass: inputs, polls, application */
    uint64_t delivered, input_errors, unmapped, tx_pkts;
} pass_res;

/*
 * One pass over the capture through a fresh stack (any_ip, MTU 65535,
 * default 64 KiB buffers as the recorded sluice-tun had, the capture's
 * timestamps as its clock).  Played flows
 * (those with a complete handshake) are replayed as sluice-replay's
 * play-server mode does: only the initiator's packets go in, mapped into
 * our sequence space; the responder's become application writes.  Every
 * other packet goes in unchanged.
 */
static void replay_pass(replay *r, pass_res *pr)
{
    capture *c = r->c;
    for (size_t i = 0; i < c->n_flows; i++) {
        rflow *f = &c->flows[i];
        f->mapped = f->have_h = f->shut_wanted = f->shut_done = f->abort_wanted = false;
        f->target = f->written = f->delivered = 0;
        f->our_isn = f->our_tsval = f->snd_max = 0;
    }
    r->t_input = r->input_errors = r->unmapped = r->tx_pkts = 0;
    sl_config cfg;
    cfg_base(&cfg);
    cfg.mtu = 65535;
    cfg.mem_limit = 256 * MiB; /* buffers: the defaults, as recorded */
    cfg.tx.send = replay_tx;
    cfg.tx.ctx = r;
    sl_allocator heap = sl_allocator_heap();
    sl_error e = SL_OK;
    r->s = sl_stack_new(&cfg, &heap, &e);
    if (r->s == NULL)
        die("input: sl_stack_new: %s", sl_error_name(e));

    const double w0 = mono_s();
    sl_time now = c->pkts[0].ts;
    (void)sl_poll(r->s, now);
    size_t i = 0;
    while (i < c->n) {
        const sl_time t = c->pkts[i].ts;
        /* Timers due before this group of packets. */
        for (int k = 0; k < 1000; k++) {
            sl_time d = sl_poll_at(r->s);
            if (d >= t || d <= now)
                break;
            now = d;
            (void)sl_poll(r->s, now);
            replay_events(r);
            replay_app(r);
        }
        now = t;
        /* Every packet with this timestamp (one event-loop pass of the
         * recording), then the application, then one poll. */
        for (; i < c->n && c->pkts[i].ts == t; i++) {
            const cap_pkt *p = &c->pkts[i];
            const cap_info *ci = &c->info[i];
            const uint8_t *data = p->data;
            if (ci->dir == DIR_RESP) {
                rflow *f = &c->flows[ci->flow];
                if (ci->flags & SL_TCP_RST) {
                    f->abort_wanted = true;
                } else if (!(ci->flags & SL_TCP_SYN)) {
                    uint64_t end = (uint32_t)(ci->seq + ci->payload_len - f->resp_isn - 1u);
                    if (ci->payload_len > 0 && end > f->target)
                        f->target = end;
                    if (ci->flags & SL_TCP_FIN)
                        f->shut_wanted = true;
                }
                continue;
            }
            if (ci->dir == DIR_INI) {
                const rflow *f = &c->flows[ci->flow];
                memcpy(r->scratch, p->data, p->len);
                if (f->mapped)
                    replay_rewrite(r, f, ci, p->len);
                else if (ci->flags & SL_TCP_ACK)
                    r->unmapped++;
                data = r->scratch;
            }
            const uint64_t t0 = ticks();
            sl_error ie = sl_input(r->s, data, p->len, now);
            r->t_input += ticks() - t0;
            if (ie != SL_OK)
                r->input_errors++;
            if (ci->dir == DIR_INI && (ci->flags & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN) {
                /* Let the SYN-ACK out now: later packets of this group
                 * may already acknowledge it. */
                (void)sl_poll(r->s, now);
                replay_events(r);
            }
        }
        replay_events(r);
        replay_app(r);
        (void)sl_poll(r->s, now);
        replay_events(r);
    }
    pr->wall = mono_s() - w0;
    pr->t_input = r->t_input;
    pr->delivered = 0;
    for (size_t k = 0; k < c->n_flows; k++)
        pr->delivered += c->flows[k].delivered;
    pr->input_errors = r->input_errors;
    pr->unmapped = r->unmapped;
    pr->tx_pkts = r->tx_pkts;
    sl_stack_free(r->s);
    r->s = NULL;
}

static int cmd_input(const opts *o)
{
    static const char *const defaults[] = {BENCH_PCAP_DIR "/tcp4_bulk_down.pcap",
                                           BENCH_PCAP_DIR "/tcp4_bulk_up.pcap"};
    const char *const *paths = o->n_pcaps > 0 ? o->pcaps : defaults;
    size_t n_paths = o->n_pcaps > 0 ? o->n_pcaps : 2;
    const double seconds = o->seconds > 0.0 ? o->seconds : 1.5;
    replay *r = (replay *)xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    int status = 0;
    for (size_t k = 0; k < n_paths; k++) {
        capture *c = (capture *)xmalloc(sizeof *c);
        cap_load(c, paths[k]);
        r->c = c;
        for (int rep = 0; rep < o->repeat; rep++) {
            uint64_t t_in = 0, passes = 0;
            double wall = 0.0;
            pass_res first;
            memset(&first, 0, sizeof first);
            do {
                pass_res pr;
                replay_pass(r, &pr);
                if (passes == 0)
                    first = pr;
                else if (pr.delivered != first.delivered || pr.tx_pkts != first.tx_pkts)
                    die("input: %s: pass %" PRIu64 " differs from the first", c->name, passes);
                t_in += pr.t_input;
                wall += pr.wall;
                passes++;
            } while (o->passes != 0 ? passes < o->passes : wall < seconds);
            const double in_s = (double)t_in / g_tick_hz;
            const double pk = (double)c->fed_pkts * (double)passes;
            const double by = (double)c->fed_bytes * (double)passes;
            printf("bench input pcap=%s packets=%" PRIu64 " bytes=%" PRIu64 " passes=%" PRIu64
                   " pps=%.0f gbps=%.3f ns_per_pkt=%.1f",
                   c->name, c->fed_pkts, c->fed_bytes, passes, pk / in_s, by * 8.0 / in_s / 1e9,
                   in_s * 1e9 / pk);
#if BENCH_TSC
            printf(" cycles_per_pkt=%.0f", (double)t_in / pk);
#endif
            printf(" loop_pps=%.0f loop_gbps=%.3f delivered=%" PRIu64 " expected=%" PRIu64
                   " tx_pkts=%" PRIu64 " input_errors=%" PRIu64 " unmapped=%" PRIu64 "\n",
                   pk / wall, by * 8.0 / wall / 1e9, first.delivered, c->expect, first.tx_pkts,
                   first.input_errors, first.unmapped);
            fflush(stdout);
            if (first.delivered != c->expect) {
                fprintf(stderr,
                        "bench_inproc: input: %s: delivered %" PRIu64
                        " bytes, the capture's initiators sent %" PRIu64 "\n",
                        c->name, first.delivered, c->expect);
                status = 1;
            }
        }
        cap_free(c);
        free(c);
    }
    free(r);
    return status;
}

/* ====================================================================== */

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    opts o;
    parse_opts(argc, argv, &o);
    calibrate_ticks();
    if (strcmp(argv[1], "bulk") == 0)
        return cmd_bulk(&o);
    if (strcmp(argv[1], "handshakes") == 0)
        return cmd_handshakes(&o);
    if (strcmp(argv[1], "footprint") == 0)
        return cmd_footprint(&o);
    if (strcmp(argv[1], "input") == 0)
        return cmd_input(&o);
    usage();
}
