/*
 * tun_sink: the bare TUN device, with no stack behind it: the ceilings of
 * the over-TUN benchmarks (bench/tun/run.sh).
 *
 *   tun_sink [--dev sl0] [--mtu 1500] [--min-size 256] [--max-seconds N]
 *       Read mode (kernel -> user ceiling).  Creates the TUN device, reads
 *       every packet (one read() per packet, a blocking fd) and drops it,
 *       counting packets and bytes.  Packets shorter than --min-size are
 *       counted apart (IPv6 router solicitations, MLD, ...) and do not
 *       start the clock.  On SIGTERM/SIGINT or after --max-seconds it
 *       prints one line:
 *         gbps=.. pps=.. cpu_pct=.. pkts=.. bytes=.. secs=.. small=..
 *       where secs runs from the first to the last counted packet and
 *       cpu_pct is this process's CPU over the same span (getrusage).
 *       The traffic comes from the kernel, e.g. tun_client udp (a UDP
 *       flood to an address routed into the device).
 *
 *   tun_sink --write [--dev sl0] [--mtu 1500] [--size BYTES] [--seconds 5]
 *            [--warmup 0.3] [--src 198.18.0.2] [--dst 198.18.0.1] [--port 5001]
 *       Write mode (user -> kernel ceiling).  Creates the device, opens a
 *       UDP socket bound to --dst:--port (so it waits, bounded, until the
 *       script has given the kernel side that address) with a receiver
 *       thread that reads and drops every datagram (recvmmsg, full copies,
 *       as an application would), then writes pre-built, valid IPv4/UDP
 *       packets of --size bytes (default: the MTU, i.e. sized like a TCP
 *       segment of the MTU) from --src to that socket, as fast as write()
 *       returns, for --warmup + --seconds.  One line:
 *         gbps=.. pps=.. cpu_pct=.. delivered_gbps=.. rx_cpu_pct=..
 *         kernel_rcvbuf_drops=.. kernel_in_errors=.. write_errors=.. secs=..
 *       gbps/pps: what the device took (write() succeeded), over the
 *       measured interval; cpu_pct: the writing thread (the kernel's
 *       receive path runs in it: a TUN write injects the packet and the
 *       softirq mostly runs on the way out of the syscall); delivered: the
 *       bytes the receiver thread read; the kernel_* counters are the
 *       namespace's /proc/net/snmp Udp RcvbufErrors and InErrors deltas.
 *
 * Exit 0 on success, 1 when the device cannot be opened or nothing was
 * counted, 2 on a bad option.  The packets are built with sluice's wire
 * emitters (sl_ipv4_emit / sl_udp_emit); nothing else of sluice is used.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/platform.h>
#include <sluice/wire.h>

#include "bench_util.h"

#define PKT_MAX 65536

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rusage_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int open_dev(const char *dev, unsigned mtu)
{
    char actual[SL_TUN_NAME_MAX];
    int fd = sl_tun_open(dev, actual, sizeof actual);
    if (fd < 0) {
        fprintf(stderr, "tun_sink: cannot open TUN %s: %s\n", dev, strerror(-fd));
        return -1;
    }
    int rc = sl_tun_set_mtu(actual, mtu);
    if (rc == 0)
        rc = sl_tun_set_up(actual);
    if (rc < 0) {
        fprintf(stderr, "tun_sink: %s: MTU %u / up: %s\n", actual, mtu, strerror(-rc));
        close(fd);
        return -1;
    }
    /* blocking: one read()/write() per packet, no poll in between */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* ---------------------------------------------------------------------- */
/* read mode                                                              */
/* ---------------------------------------------------------------------- */

static int run_read(int fd, size_t min_size)
{
    static uint8_t buf[PKT_MAX];
    uint64_t pkts = 0, bytes = 0, small = 0, errors = 0;
    double t_first = 0, t_last = 0, cpu_first = 0, cpu_last = 0;
    while (!g_stop) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errors++ == 0)
                fprintf(stderr, "tun_sink: read: %s\n", strerror(errno));
            if (errors > 1000)
                break;
            continue;
        }
        if ((size_t)r < min_size) {
            small++;
            continue;
        }
        if (pkts == 0) {
            t_first = now_s();
            cpu_first = rusage_cpu_s();
        }
        pkts++;
        bytes += (uint64_t)r;
        if ((pkts & 63u) == 0) { /* cheap enough; the last one is fixed below */
            t_last = now_s();
            cpu_last = rusage_cpu_s();
        }
    }
    if (pkts > 1 && t_last <= t_first) {
        t_last = now_s();
        cpu_last = rusage_cpu_s();
    }
    double secs = t_last - t_first;
    if (pkts < 2 || secs <= 0) {
        printf("error=no_traffic pkts=%" PRIu64 " small=%" PRIu64 "\n", pkts, small);
        return 1;
    }
    printf("gbps=%.3f pps=%.0f cpu_pct=%.0f pkts=%" PRIu64 " bytes=%" PRIu64
           " secs=%.3f small=%" PRIu64 " read_errors=%" PRIu64 "\n",
           (double)bytes * 8.0 / secs / 1e9, (double)pkts / secs,
           100.0 * (cpu_last - cpu_first) / secs, pkts, bytes, secs, small, errors);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* write mode                                                             */
/* ---------------------------------------------------------------------- */

typedef struct rx_state {
    int sock;
    atomic_uint_fast64_t bytes, dgrams;
    atomic_bool stop;
    double cpu_s; /* the thread's CPU at exit */
} rx_state;

static void *rx_main(void *arg)
{
    rx_state *rx = arg;
    enum { B = 16 };
    static uint8_t bufs[B][PKT_MAX];
    struct mmsghdr mm[B];
    struct iovec iov[B];
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = PKT_MAX;
        memset(&mm[i], 0, sizeof mm[i]);
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    while (!atomic_load(&rx->stop)) {
        int n = recvmmsg(rx->sock, mm, B, 0, NULL); /* SO_RCVTIMEO bounds it */
        if (n <= 0)
            continue;
        uint64_t b = 0;
        for (int i = 0; i < n; i++)
            b += mm[i].msg_len;
        atomic_fetch_add(&rx->bytes, b);
        atomic_fetch_add(&rx->dgrams, (uint64_t)n);
    }
    rx->cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

/* Udp RcvbufErrors and InErrors of this network namespace. */
static bool udp_snmp(uint64_t *rcvbuf, uint64_t *inerr)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    if (f == NULL)
        return false;
    char names[1024], vals[1024];
    bool ok = false;
    while (fgets(names, sizeof names, f) != NULL) {
        if (strncmp(names, "Udp:", 4) != 0)
            continue;
        if (fgets(vals, sizeof vals, f) == NULL)
            break;
        char *sn = NULL, *sv = NULL;
        char *n = strtok_r(names, " \n", &sn), *v = strtok_r(vals, " \n", &sv);
        while (n != NULL && v != NULL) {
            if (strcmp(n, "RcvbufErrors") == 0) {
                *rcvbuf = strtoull(v, NULL, 10);
                ok = true;
            } else if (strcmp(n, "InErrors") == 0) {
                *inerr = strtoull(v, NULL, 10);
            }
            n = strtok_r(NULL, " \n", &sn);
            v = strtok_r(NULL, " \n", &sv);
        }
        break;
    }
    fclose(f);
    return ok;
}

typedef struct wopts {
    unsigned size;
    double seconds, warmup;
    struct in_addr src, dst;
    uint16_t port;
} wopts;

static int run_write(int fd, const wopts *w)
{
    /* the receiving socket; its bind() succeeds once the kernel side has --dst */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        perror("tun_sink: socket");
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(w->port), .sin_addr = w->dst};
    bool bound = false;
    for (int i = 0; i < 200 && !g_stop; i++) { /* 10 s at most */
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            bound = true;
            break;
        }
        if (errno != EADDRNOTAVAIL) {
            perror("tun_sink: bind");
            return 1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!bound) {
        fprintf(stderr, "tun_sink: %s never appeared on the kernel side\n", inet_ntoa(w->dst));
        printf("error=no_dst_address\n");
        return 1;
    }
    int big = 8 << 20;
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct timeval tv = {0, 100 * 1000};
    (void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    /* the packet: IPv4 + UDP, --size bytes in all, valid checksums */
    static uint8_t pkt[PKT_MAX], udp[PKT_MAX], payload[PKT_MAX];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i % 251u);
    uint8_t src[4], dst[4];
    memcpy(src, &w->src, 4);
    memcpy(dst, &w->dst, 4);
    sl_udp_hdr uh = {.sport = 40000, .dport = w->port, .payload = payload,
                     .payload_len = w->size - 28u};
    sl_pseudo ph = {4, src, dst};
    size_t ulen = 0, plen = 0;
    if (sl_udp_emit(&uh, &ph, udp, sizeof udp, &ulen) != SL_OK) {
        fprintf(stderr, "tun_sink: cannot build the UDP datagram\n");
        return 1;
    }
    sl_ipv4_hdr ih = {.ttl = 64, .proto = SL_IPPROTO_UDP, .df = true, .id = 0,
                      .payload = udp, .payload_len = ulen};
    memcpy(ih.src, src, 4);
    memcpy(ih.dst, dst, 4);
    if (sl_ipv4_emit(&ih, pkt, sizeof pkt, &plen) != SL_OK || plen != w->size) {
        fprintf(stderr, "tun_sink: cannot build the IPv4 packet\n");
        return 1;
    }

    rx_state rx;
    memset(&rx, 0, sizeof rx);
    rx.sock = s;
    atomic_init(&rx.bytes, 0);
    atomic_init(&rx.dgrams, 0);
    atomic_init(&rx.stop, false);
    pthread_t th;
    if (pthread_create(&th, NULL, rx_main, &rx) != 0) {
        fprintf(stderr, "tun_sink: pthread_create failed\n");
        return 1;
    }

    uint64_t written = 0, werr = 0, w0 = 0, rx0 = 0, rcvbuf0 = 0, inerr0 = 0;
    double start = now_s(), t0 = start + w->warmup, t1 = t0 + w->seconds;
    double c0 = 0, rxcpu0 = 0, tm0 = 0;
    bool in_interval = false;
    for (uint64_t iter = 0; !g_stop; iter++) {
        if ((iter & 63u) == 0) {
            double now = now_s();
            if (!in_interval && now >= t0) {
                tm0 = now;
                c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
                rxcpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0; /* the rest: receiver */
                w0 = written;
                rx0 = atomic_load(&rx.bytes);
                udp_snmp(&rcvbuf0, &inerr0);
                in_interval = true;
            }
            if (now >= t1)
                break;
        }
        ssize_t r = write(fd, pkt, plen);
        if (r == (ssize_t)plen) {
            written++;
        } else if (r < 0 && errno != EINTR && errno != EAGAIN) {
            if (werr++ == 0)
                fprintf(stderr, "tun_sink: write: %s\n", strerror(errno));
            if (werr > 100000)
                break;
        }
    }
    double tm1 = now_s();
    double c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    double rxcpu1 = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c1;
    uint64_t rx1 = atomic_load(&rx.bytes), rcvbuf1 = 0, inerr1 = 0;
    udp_snmp(&rcvbuf1, &inerr1);
    atomic_store(&rx.stop, true);
    pthread_join(th, NULL);
    close(s);
    if (!in_interval) {
        printf("error=interrupted\n");
        return 1;
    }
    double dt = tm1 - tm0;
    uint64_t n = written - w0;
    printf("gbps=%.3f pps=%.0f cpu_pct=%.0f delivered_gbps=%.3f rx_cpu_pct=%.0f"
           " kernel_rcvbuf_drops=%" PRIu64 " kernel_in_errors=%" PRIu64
           " write_errors=%" PRIu64 " secs=%.3f\n",
           (double)n * (double)plen * 8.0 / dt / 1e9, (double)n / dt, 100.0 * (c1 - c0) / dt,
           (double)(rx1 - rx0) * 8.0 / dt / 1e9, 100.0 * (rxcpu1 - rxcpu0) / dt,
           rcvbuf1 - rcvbuf0, inerr1 - inerr0, werr, dt);
    return n > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: tun_sink [--dev NAME] [--mtu N] [--min-size N] [--max-seconds N]\n"
            "       tun_sink --write [--dev NAME] [--mtu N] [--size N] [--seconds S]\n"
            "                [--warmup W] [--src A] [--dst A] [--port P]\n");
}

int main(int argc, char **argv)
{
    const char *dev = "sl0";
    unsigned mtu = 1500, size = 0;
    double max_seconds = 0, min_size = 256;
    bool write_mode = false;
    wopts w = {.seconds = 5.0, .warmup = 0.3, .port = 5001};
    inet_pton(AF_INET, "198.18.0.2", &w.src);
    inet_pton(AF_INET, "198.18.0.1", &w.dst);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--write") == 0) {
            write_mode = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const char *v = argv[++i];
        double d;
        if (strcmp(a, "--dev") == 0 && strlen(v) < SL_TUN_NAME_MAX)
            dev = v;
        else if (strcmp(a, "--mtu") == 0 && num(v, 576, 65535, &d))
            mtu = (unsigned)d;
        else if (strcmp(a, "--size") == 0 && num(v, 29, 65535, &d))
            size = (unsigned)d;
        else if (strcmp(a, "--min-size") == 0 && num(v, 0, 65535, &d))
            min_size = d;
        else if (strcmp(a, "--max-seconds") == 0 && num(v, 0.1, 86400, &d))
            max_seconds = d;
        else if (strcmp(a, "--seconds") == 0 && num(v, 0.01, 3600, &d))
            w.seconds = d;
        else if (strcmp(a, "--warmup") == 0 && num(v, 0, 60, &d))
            w.warmup = d;
        else if (strcmp(a, "--port") == 0 && num(v, 1, 65535, &d))
            w.port = (uint16_t)d;
        else if (strcmp(a, "--src") == 0 && inet_pton(AF_INET, v, &w.src) == 1)
            ;
        else if (strcmp(a, "--dst") == 0 && inet_pton(AF_INET, v, &w.dst) == 1)
            ;
        else {
            fprintf(stderr, "tun_sink: bad option %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    w.size = size != 0 ? size : mtu;
    if (w.size > mtu) {
        fprintf(stderr, "tun_sink: --size %u is above the MTU %u\n", w.size, mtu);
        return 2;
    }

    /* no SA_RESTART: a blocking read() returns EINTR and the loop sees g_stop */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int fd = open_dev(dev, mtu);
    if (fd < 0)
        return 1;
    if (max_seconds > 0) {
        struct itimerval it = {{0, 0}, {(time_t)max_seconds,
                                        (suseconds_t)((max_seconds - (double)(time_t)max_seconds) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    int rc = write_mode ? run_write(fd, &w) : run_read(fd, (size_t)min_size);
    close(fd);
    return rc;
}
