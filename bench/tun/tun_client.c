/*
 * tun_client: the kernel-side client of the over-TUN benchmarks
 * (bench/tun/run.sh).  It runs in the namespace whose kernel stack talks to
 * the peer under test (sluice-tun, lwip_tun, kernel_peer over a veth, or
 * tun_sink) and measures one figure:
 *
 *   tun_client send --dst A --port 9  [--streams N]   bulk into a discard port
 *   tun_client recv --dst A --port 19 [--streams N]   bulk out of a chargen port
 *   tun_client rate --dst A --port 7  [--conc C] [--src A1,A2,..]
 *                                      connect, send 1 byte, read 1 byte, close
 *   tun_client udp  --dst A --port 9  [--streams N] --size BYTES
 *                                      UDP flood (the kernel -> device ceiling
 *                                      against tun_sink, which counts)
 *
 * Common options: --seconds S (measured interval, default 5), --warmup W
 * (seconds before the interval starts, default 0.3), --cpu-pid PID (a
 * process whose CPU use over the interval is reported, from utime+stime in
 * /proc/PID/stat, all its threads), --connect-timeout S (default 3).
 *
 * How each figure is measured (only what happens inside the interval
 * [t0, t1] counts; the connections are set up before t0):
 *   send  bytes ACKED by the peer: for every stream, bytes written minus
 *         the socket's unacknowledged send queue (ioctl SIOCOUTQ), sampled
 *         at t0 and t1.  Bytes merely queued in the kernel do not count.
 *         retrans = the kernel's retransmitted segments (TCP_INFO
 *         tcpi_total_retrans) over the whole run, a hint of loss on the
 *         device queue or of a peer that drops what it cannot take.
 *   recv  bytes read by this process.
 *   rate  connections that completed the whole exchange (connect, 1 byte
 *         out, 1 byte back, close) inside the interval; C of them run
 *         concurrently, each bound round-robin to one of the --src
 *         addresses (IP_BIND_ADDRESS_NO_PORT: the port is chosen at
 *         connect for the 4-tuple, so several source addresses multiply the
 *         ports available against TIME-WAIT).  errors = refused / reset /
 *         short exchanges; timeouts = exchanges not done in
 *         --connect-timeout seconds (e.g. a lost SYN waits 1 s for its
 *         retransmission).
 *   udp   datagrams of --size bytes of IP packet (payload = size - 28)
 *         handed to the kernel (sendmmsg, MSG_DONTWAIT); what reached the
 *         device reader is counted by tun_sink itself.  When at least two
 *         fit in 64 KiB, they are sent with UDP GSO (UDP_SEGMENT): one
 *         send of up to 64 datagrams, cut into packets at the device, as
 *         the kernel's TCP does with TSO/GSO, so that the sender costs
 *         about what a TCP sender costs per packet and the device reader,
 *         not the sender, is the limit (--no-gso: one send per datagram).
 *
 * Output: one line of key=value fields on stdout (run.sh prefixes the
 * figure's name), e.g. "gbps=2.310 cpu_pct=97 client_cpu_pct=41 ...";
 * cpu_pct=NA without --cpu-pid.  Exit 0 when the figure is valid, 1 when
 * nothing was measured (no connection, no byte), 2 on a bad option.
 *
 * Sockets end with SO_LINGER 0 (RST) in send/recv mode, so nothing keeps
 * sending after the figure (each figure has a fresh namespace and peer
 * anyway); rate mode closes normally (FIN), which is the path measured.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_STREAMS 256
#define MAX_CONC 4096
#define MAX_SRC 64
#define IOBUF (256 * 1024)

typedef enum mode { M_SEND, M_RECV, M_RATE, M_UDP } mode;

typedef struct opts {
    mode m;
    struct in_addr dst;
    uint16_t port;
    unsigned streams;
    unsigned conc;
    double seconds, warmup, conn_timeout;
    long cpu_pid;
    unsigned size;
    bool no_gso;
    struct in_addr src[MAX_SRC];
    unsigned nsrc;
} opts;

static uint8_t g_buf[IOBUF];

/* ---------------------------------------------------------------------- */
/* Time and CPU                                                           */
/* ---------------------------------------------------------------------- */

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* utime+stime of a process (all threads), in seconds; -1 if unreadable. */
static double pid_cpu_s(long pid)
{
    if (pid <= 0)
        return -1.0;
    char path[64], line[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1.0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* comm may contain spaces */
    if (p == NULL)
        return -1.0;
    p++;
    /* fields after ')': 3 state ... 14 utime 15 stime */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    char *end;
    while (*p != '\0' && field < 15) {
        while (*p == ' ')
            p++;
        field++;
        if (field == 14)
            ut = strtoull(p, &end, 10);
        else if (field == 15)
            st = strtoull(p, &end, 10);
        while (*p != '\0' && *p != ' ')
            p++;
    }
    if (field < 15)
        return -1.0;
    long tck = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(tck > 0 ? tck : 100);
}

typedef struct cpu_snap {
    double t, self, peer;
} cpu_snap;

static cpu_snap snap(const opts *o)
{
    cpu_snap s = {now_s(), self_cpu_s(), pid_cpu_s(o->cpu_pid)};
    return s;
}

static void print_cpu(const opts *o, const cpu_snap *a, const cpu_snap *b)
{
    double dt = b->t - a->t;
    if (o->cpu_pid > 0 && a->peer >= 0 && b->peer >= 0)
        printf(" cpu_pct=%.0f", 100.0 * (b->peer - a->peer) / dt);
    else
        printf(" cpu_pct=NA");
    printf(" client_cpu_pct=%.0f secs=%.3f", 100.0 * (b->self - a->self) / dt, dt);
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */
/* ---------------------------------------------------------------------- */

static int tcp_socket_nb(const opts *o, unsigned idx)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (o->nsrc > 0) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = o->src[idx % o->nsrc]};
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    return fd;
}

static int start_connect(int fd, const opts *o)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->dst};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS)
        return 0;
    return -errno;
}

static void close_rst(int fd)
{
    struct linger l = {1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* Connect n streams (non-blocking, all at once), wait for all within the
 * connect timeout.  Returns how many are up; fds[] of failed ones are -1. */
static unsigned connect_streams(const opts *o, int *fds, unsigned n)
{
    unsigned up = 0, pending = 0;
    bool waiting[MAX_STREAMS] = {false};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        fds[i] = tcp_socket_nb(o, i);
        int rc = fds[i] < 0 ? fds[i] : start_connect(fds[i], o);
        if (rc < 0) {
            fprintf(stderr, "tun_client: connect %u: %s\n", i, strerror(-rc));
            if (fds[i] >= 0)
                close(fds[i]);
            fds[i] = -1;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        waiting[i] = true;
        pending++;
    }
    double deadline = now_s() + o->conn_timeout;
    while (pending > 0) {
        double left = deadline - now_s();
        if (left <= 0)
            break;
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, (int)(left * 1000) + 1);
        for (int j = 0; j < k; j++) {
            unsigned i = evs[j].data.u32;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el);
            epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
            waiting[i] = false;
            pending--;
            if (err != 0) {
                fprintf(stderr, "tun_client: connect %u: %s\n", i, strerror(err));
                close(fds[i]);
                fds[i] = -1;
            } else {
                up++;
            }
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (waiting[i]) {
            fprintf(stderr, "tun_client: connect %u timed out\n", i);
            close(fds[i]);
            fds[i] = -1;
        }
    }
    close(ep);
    return up;
}

/* ---------------------------------------------------------------------- */
/* send / recv                                                            */
/* ---------------------------------------------------------------------- */

static uint64_t acked_now(int fd, uint64_t written)
{
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq < 0)
        outq = 0;
    return written - (uint64_t)outq;
}

static unsigned retrans_of(int fd)
{
    struct tcp_info ti;
    socklen_t l = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
        return 0;
    return ti.tcpi_total_retrans;
}

static int run_bulk(const opts *o)
{
    int fds[MAX_STREAMS];
    uint64_t moved[MAX_STREAMS] = {0}; /* written (send) or read (recv) */
    unsigned up = connect_streams(o, fds, o->streams);
    if (up == 0) {
        printf("error=no_connection\n");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (unsigned i = 0; i < o->streams; i++) {
        if (fds[i] < 0)
            continue;
        struct epoll_event ev = {.events = o->m == M_SEND ? EPOLLOUT : EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    memset(g_buf, 'x', sizeof g_buf);
    unsigned errors = 0, alive = up;
    double start = now_s();
    double t0 = start + o->warmup, t1 = t0 + o->seconds;
    bool in_interval = false;
    uint64_t mark0 = 0;
    cpu_snap c0 = {0, 0, 0};
    while (alive > 0) {
        double now = now_s();
        if (!in_interval && now >= t0) {
            c0 = snap(o);
            for (unsigned i = 0; i < o->streams; i++)
                if (fds[i] >= 0)
                    mark0 += o->m == M_SEND ? acked_now(fds[i], moved[i]) : moved[i];
            in_interval = true;
        }
        if (now >= t1)
            break;
        double until = (in_interval ? t1 : t0) - now;
        struct epoll_event evs[MAX_STREAMS];
        int k = epoll_wait(ep, evs, MAX_STREAMS, (int)(until * 1000) + 1);
        for (int j = 0; j < k; j++) {
            unsigned i = evs[j].data.u32;
            if (fds[i] < 0)
                continue;
            /* a few operations per readiness, then round-robin */
            for (int rep = 0; rep < 4; rep++) {
                ssize_t r = o->m == M_SEND ? send(fds[i], g_buf, sizeof g_buf, MSG_NOSIGNAL)
                                           : recv(fds[i], g_buf, sizeof g_buf, 0);
                if (r > 0) {
                    moved[i] += (uint64_t)r;
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                fprintf(stderr, "tun_client: stream %u: %s\n", i, r == 0 ? "peer closed" : strerror(errno));
                errors++;
                alive--;
                epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
                close(fds[i]);
                fds[i] = -1;
                break;
            }
        }
    }
    if (!in_interval) {
        printf("error=all_streams_failed errors=%u\n", errors);
        return 1;
    }
    cpu_snap c1 = snap(o);
    uint64_t mark1 = 0;
    unsigned retrans = 0;
    for (unsigned i = 0; i < o->streams; i++) {
        if (fds[i] < 0)
            continue;
        if (o->m == M_SEND) {
            mark1 += acked_now(fds[i], moved[i]);
            retrans += retrans_of(fds[i]);
        } else {
            mark1 += moved[i];
        }
    }
    /* Streams that failed inside the interval take their bytes with them:
     * the figure then undercounts, and errors says so. */
    uint64_t bytes = mark1 >= mark0 ? mark1 - mark0 : 0;
    double dt = c1.t - c0.t;
    printf("gbps=%.3f", (double)bytes * 8.0 / dt / 1e9);
    print_cpu(o, &c0, &c1);
    printf(" bytes=%" PRIu64 " streams_up=%u errors=%u", bytes, up, errors);
    if (o->m == M_SEND)
        printf(" retrans=%u", retrans);
    printf("\n");
    for (unsigned i = 0; i < o->streams; i++)
        if (fds[i] >= 0)
            close_rst(fds[i]);
    close(ep);
    return bytes > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------- */
/* rate                                                                   */
/* ---------------------------------------------------------------------- */

typedef enum slot_state { S_IDLE, S_CONNECTING, S_WAIT_REPLY } slot_state;

typedef struct slot {
    int fd;
    slot_state st;
    double started;
} slot;

static slot g_slots[MAX_CONC];

typedef struct rate_ctr {
    uint64_t done, errors, timeouts, addr_busy;
    double lat_sum;
} rate_ctr;

static void slot_start(const opts *o, int ep, unsigned i, unsigned *next_src, rate_ctr *c)
{
    slot *s = &g_slots[i];
    int fd = tcp_socket_nb(o, (*next_src)++);
    if (fd < 0) {
        c->errors++;
        if (fd == -EADDRINUSE || fd == -EADDRNOTAVAIL)
            c->addr_busy++;
        s->st = S_IDLE;
        return;
    }
    int rc = start_connect(fd, o);
    if (rc < 0) {
        c->errors++;
        if (rc == -EADDRINUSE || rc == -EADDRNOTAVAIL)
            c->addr_busy++;
        close(fd);
        s->st = S_IDLE;
        return;
    }
    s->fd = fd;
    s->st = S_CONNECTING;
    s->started = now_s();
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void slot_end(int ep, unsigned i, bool abort)
{
    slot *s = &g_slots[i];
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    if (abort)
        close_rst(s->fd);
    else
        close(s->fd);
    s->fd = -1;
    s->st = S_IDLE;
}

static int run_rate(const opts *o)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    unsigned next_src = 0;
    rate_ctr c = {0, 0, 0, 0, 0.0}, c_at0 = c;
    for (unsigned i = 0; i < o->conc; i++) {
        g_slots[i].fd = -1;
        g_slots[i].st = S_IDLE;
    }
    double start = now_s();
    double t0 = start + o->warmup, t1 = t0 + o->seconds;
    bool in_interval = false;
    cpu_snap c0 = {0, 0, 0};
    double last_sweep = start;
    struct epoll_event evs[256];
    for (;;) {
        double now = now_s();
        if (!in_interval && now >= t0) {
            c0 = snap(o);
            c_at0 = c;
            in_interval = true;
        }
        if (now >= t1)
            break;
        for (unsigned i = 0; i < o->conc; i++)
            if (g_slots[i].st == S_IDLE)
                slot_start(o, ep, i, &next_src, &c);
        if (now - last_sweep > 0.05) { /* per-exchange timeouts */
            last_sweep = now;
            for (unsigned i = 0; i < o->conc; i++)
                if (g_slots[i].st != S_IDLE && now - g_slots[i].started > o->conn_timeout) {
                    c.timeouts++;
                    slot_end(ep, i, true);
                }
        }
        double until = (in_interval ? t1 : t0) - now;
        if (until > 0.05)
            until = 0.05;
        int k = epoll_wait(ep, evs, 256, (int)(until * 1000) + 1);
        for (int j = 0; j < k; j++) {
            unsigned i = evs[j].data.u32;
            slot *s = &g_slots[i];
            if (s->st == S_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                char b = 'x';
                if (err != 0 || send(s->fd, &b, 1, MSG_NOSIGNAL) != 1) {
                    c.errors++;
                    slot_end(ep, i, true);
                    continue;
                }
                s->st = S_WAIT_REPLY;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            } else if (s->st == S_WAIT_REPLY) {
                char b;
                ssize_t r = recv(s->fd, &b, 1, 0);
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (r != 1 || b != 'x') {
                    c.errors++;
                    slot_end(ep, i, true);
                    continue;
                }
                c.done++;
                c.lat_sum += now_s() - s->started;
                slot_end(ep, i, false);
            }
        }
    }
    if (!in_interval) {
        printf("error=never_started\n");
        return 1;
    }
    cpu_snap c1 = snap(o);
    uint64_t done = c.done - c_at0.done;
    double lat = c.done > c_at0.done ? (c.lat_sum - c_at0.lat_sum) / (double)done : 0.0;
    printf("conn_per_s=%.0f", (double)done / (c1.t - c0.t));
    print_cpu(o, &c0, &c1);
    printf(" conns=%" PRIu64 " lat_us_avg=%.0f errors=%" PRIu64 " timeouts=%" PRIu64
           " addr_busy=%" PRIu64 "\n",
           done, lat * 1e6, c.errors - c_at0.errors, c.timeouts - c_at0.timeouts,
           c.addr_busy - c_at0.addr_busy);
    for (unsigned i = 0; i < o->conc; i++)
        if (g_slots[i].st != S_IDLE)
            slot_end(ep, i, true);
    close(ep);
    return done > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------- */
/* udp                                                                    */
/* ---------------------------------------------------------------------- */

static int run_udp(const opts *o)
{
    if (o->size < 28 + 1 || o->size > 65535) {
        fprintf(stderr, "tun_client: --size must be 29..65535 (IP packet bytes)\n");
        return 2;
    }
    size_t payload = o->size - 28;
    /* UDP GSO: nseg datagrams per send (the kernel allows 64 and 64 KiB) */
    size_t nseg = o->no_gso ? 1 : 65000 / payload;
    if (nseg > 64)
        nseg = 64;
    if (nseg < 2)
        nseg = 1;
    int fds[MAX_STREAMS];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->port), .sin_addr = o->dst};
    for (unsigned i = 0; i < o->streams; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {
            printf("error=udp_socket:%s\n", strerror(errno));
            return 1;
        }
        int big = 4 << 20;
        (void)setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        /* the device may be smaller than --size: never fragment, fail instead */
        int pmtu = IP_PMTUDISC_PROBE;
        (void)setsockopt(fds[i], IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
        if (nseg > 1) {
            int gso = (int)payload;
            if (setsockopt(fds[i], IPPROTO_UDP, UDP_SEGMENT, &gso, sizeof gso) < 0) {
                fprintf(stderr, "tun_client: UDP_SEGMENT: %s (sending one datagram per send)\n",
                        strerror(errno));
                nseg = 1;
            }
        }
    }
    enum { B = 32 };
    struct mmsghdr mm[B];
    struct iovec iov[B];
    for (int b = 0; b < B; b++) {
        iov[b].iov_base = g_buf;
        iov[b].iov_len = payload * nseg;
        memset(&mm[b], 0, sizeof mm[b]);
        mm[b].msg_hdr.msg_iov = &iov[b];
        mm[b].msg_hdr.msg_iovlen = 1;
    }
    int batch = nseg > 1 ? 4 : B;
    uint64_t sent = 0, failed = 0, sent0 = 0;
    double start = now_s(), t0 = start + o->warmup, t1 = t0 + o->seconds;
    bool in_interval = false;
    cpu_snap c0 = {0, 0, 0};
    unsigned i = 0;
    for (uint64_t iter = 0;; iter++) {
        if ((iter & 15u) == 0) {
            double now = now_s();
            if (!in_interval && now >= t0) {
                c0 = snap(o);
                sent0 = sent;
                in_interval = true;
            }
            if (now >= t1)
                break;
        }
        int r = sendmmsg(fds[i], mm, (unsigned)batch, MSG_DONTWAIT);
        if (r > 0)
            sent += (uint64_t)r * nseg;
        else if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
            if (failed++ == 0)
                fprintf(stderr, "tun_client: sendmmsg: %s\n", strerror(errno));
            if (failed > 1000000) {
                printf("error=sendmmsg:%s\n", strerror(errno));
                return 1;
            }
        }
        i = (i + 1) % o->streams;
    }
    cpu_snap c1 = snap(o);
    double dt = c1.t - c0.t;
    uint64_t n = sent - sent0;
    printf("sent_gbps=%.3f sent_pps=%.0f", (double)n * (double)o->size * 8.0 / dt / 1e9,
           (double)n / dt);
    print_cpu(o, &c0, &c1);
    printf(" sent=%" PRIu64 " failed=%" PRIu64 " gso_segs=%zu\n", n, failed, nseg);
    for (unsigned k = 0; k < o->streams; k++)
        close(fds[k]);
    return n > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: tun_client send|recv|rate|udp --dst IPV4 --port P [--streams N] [--conc C]\n"
            "       [--src A1,A2,...] [--size BYTES] [--seconds S] [--warmup W]\n"
            "       [--cpu-pid PID] [--connect-timeout S] [--no-gso]\n");
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    o.streams = 1;
    o.conc = 1;
    o.seconds = 5.0;
    o.warmup = 0.3;
    o.conn_timeout = 3.0;
    o.size = 1500;
    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "send") == 0)
        o.m = M_SEND;
    else if (strcmp(argv[1], "recv") == 0)
        o.m = M_RECV;
    else if (strcmp(argv[1], "rate") == 0)
        o.m = M_RATE;
    else if (strcmp(argv[1], "udp") == 0)
        o.m = M_UDP;
    else {
        usage();
        return 2;
    }
    bool have_dst = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-gso") == 0) {
            o.no_gso = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (v == NULL) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--dst") == 0) {
            if (inet_pton(AF_INET, v, &o.dst) != 1) {
                fprintf(stderr, "tun_client: bad --dst %s (IPv4 only)\n", v);
                return 2;
            }
            have_dst = true;
        } else if (strcmp(a, "--port") == 0 && num(v, 1, 65535, &d)) {
            o.port = (uint16_t)d;
        } else if (strcmp(a, "--streams") == 0 && num(v, 1, MAX_STREAMS, &d)) {
            o.streams = (unsigned)d;
        } else if (strcmp(a, "--conc") == 0 && num(v, 1, MAX_CONC, &d)) {
            o.conc = (unsigned)d;
        } else if (strcmp(a, "--size") == 0 && num(v, 29, 65535, &d)) {
            o.size = (unsigned)d;
        } else if (strcmp(a, "--seconds") == 0 && num(v, 0.01, 3600, &d)) {
            o.seconds = d;
        } else if (strcmp(a, "--warmup") == 0 && num(v, 0, 60, &d)) {
            o.warmup = d;
        } else if (strcmp(a, "--connect-timeout") == 0 && num(v, 0.01, 60, &d)) {
            o.conn_timeout = d;
        } else if (strcmp(a, "--cpu-pid") == 0 && num(v, 1, 1e9, &d)) {
            o.cpu_pid = (long)d;
        } else if (strcmp(a, "--src") == 0) {
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s", v);
            char *save = NULL;
            for (char *t = strtok_r(tmp, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                if (o.nsrc == MAX_SRC || inet_pton(AF_INET, t, &o.src[o.nsrc]) != 1) {
                    fprintf(stderr, "tun_client: bad --src %s\n", t);
                    return 2;
                }
                o.nsrc++;
            }
        } else {
            fprintf(stderr, "tun_client: bad option %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    if (!have_dst || o.port == 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    switch (o.m) {
    case M_SEND:
    case M_RECV:
        return run_bulk(&o);
    case M_RATE:
        return run_rate(&o);
    case M_UDP:
        return run_udp(&o);
    }
    return 2;
}
