/*
 * kernel_peer: the Linux kernel's own TCP stack as a benchmark peer
 * (bench/tun/run.sh, peer "kernel"): the same services sluice-tun and
 * lwip_tun offer, on ordinary kernel sockets, so the same client measures
 * the kernel against itself over a veth pair.
 *
 *   kernel_peer [--addr 0.0.0.0] [--max-seconds N]
 *
 *   TCP  7 echo     (reads only as fast as it can write back: backpressure)
 *   TCP  9 discard  (reads and drops)
 *   TCP 19 chargen  (RFC 864 pattern: line k is the 72 printable ASCII
 *                    characters 32..126 starting at k mod 95, then CR LF;
 *                    sent until the peer closes)
 *
 * One thread, one epoll set, non-blocking sockets, level-triggered.  Every
 * connection is closed when the peer closes (read 0) or on an error.  Runs
 * until SIGTERM/SIGINT or --max-seconds; prints its counters on stderr at
 * exit.  Exit 0, 1 when a listener cannot be opened, 2 on a bad option.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IOBUF (256 * 1024)
#define CG_LINE 74              /* 72 characters + CR LF */
#define CG_CYCLE (95 * CG_LINE) /* the pattern repeats every 95 lines */

enum kind { K_LISTEN_ECHO, K_LISTEN_DISCARD, K_LISTEN_CHARGEN, K_ECHO, K_DISCARD, K_CHARGEN, K_SIG };

typedef struct conn {
    enum kind kind;
    int fd;
    size_t cg_pos;             /* chargen: offset in the cycle          */
    uint8_t *pend;             /* echo: bytes read, not yet written     */
    size_t pend_off, pend_len;
} conn;

static uint8_t g_buf[IOBUF];
static uint8_t g_chargen[CG_CYCLE + IOBUF];
static uint64_t g_accepted, g_bytes_in, g_bytes_out;

static void chargen_init(void)
{
    for (size_t i = 0; i < sizeof g_chargen; i++) {
        size_t k = (i / CG_LINE) % 95, j = i % CG_LINE;
        g_chargen[i] = j == 72 ? '\r' : j == 73 ? '\n' : (uint8_t)(32 + (k + j) % 95);
    }
}

static void conn_free(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pend);
    free(c);
}

static int listen_on(struct in_addr addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void set_events(int ep, conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* echo: write what is pending; true while the connection lives */
static bool echo_flush(int ep, conn *c)
{
    while (c->pend_len > c->pend_off) {
        ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->pend_off += (size_t)w;
            g_bytes_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EAGAIN) {
            set_events(ep, c, EPOLLOUT); /* stop reading until it drains */
            return true;
        }
        return false;
    }
    c->pend_off = c->pend_len = 0;
    set_events(ep, c, EPOLLIN);
    return true;
}

static bool on_conn(int ep, conn *c, uint32_t events)
{
    if (events & EPOLLERR)
        return false; /* reset or failed: nothing more to do */
    if (c->kind == K_ECHO) {
        if (c->pend_len > c->pend_off)
            return echo_flush(ep, c);
        ssize_t r = recv(c->fd, g_buf, IOBUF, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (r < 0)
            return true;
        g_bytes_in += (uint64_t)r;
        if (c->pend == NULL && (c->pend = malloc(IOBUF)) == NULL)
            return false;
        memcpy(c->pend, g_buf, (size_t)r);
        c->pend_off = 0;
        c->pend_len = (size_t)r;
        return echo_flush(ep, c);
    }
    if (c->kind == K_DISCARD || (events & EPOLLIN)) {
        for (int rep = 0; rep < 8; rep++) {
            ssize_t r = recv(c->fd, g_buf, IOBUF, 0);
            if (r > 0) {
                g_bytes_in += (uint64_t)r;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EINTR))
                return false;
            break;
        }
    }
    if (c->kind == K_CHARGEN && (events & EPOLLOUT)) {
        for (int rep = 0; rep < 8; rep++) {
            ssize_t w = send(c->fd, g_chargen + c->cg_pos, IOBUF, MSG_NOSIGNAL);
            if (w > 0) {
                c->cg_pos = (c->cg_pos + (size_t)w) % CG_CYCLE;
                g_bytes_out += (uint64_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    struct in_addr addr = {htonl(INADDR_ANY)};
    double max_seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc &&
            inet_pton(AF_INET, argv[i + 1], &addr) == 1) {
            i++;
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            max_seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: kernel_peer [--addr IPV4] [--max-seconds N]\n");
            return 2;
        }
    }
    chargen_init();
    signal(SIGPIPE, SIG_IGN);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static conn listeners[3];
    const uint16_t ports[3] = {7, 9, 19};
    for (int i = 0; i < 3; i++) {
        listeners[i].kind = (enum kind)(K_LISTEN_ECHO + i);
        listeners[i].fd = listen_on(addr, ports[i]);
        if (listeners[i].fd < 0) {
            fprintf(stderr, "kernel_peer: cannot listen on port %u: %s\n", ports[i], strerror(errno));
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listeners[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i].fd, &ev);
    }
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    static conn sigc = {.kind = K_SIG};
    sigc.fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sigc};
    epoll_ctl(ep, EPOLL_CTL_ADD, sigc.fd, &sev);

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + max_seconds;
    bool stop = false;
    while (!stop) {
        int timeout = -1;
        if (max_seconds > 0) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double left = end - ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
            if (left <= 0)
                break;
            timeout = (int)(left * 1000) + 1;
        }
        struct epoll_event evs[128];
        int n = epoll_wait(ep, evs, 128, timeout);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->kind == K_SIG) {
                stop = true;
            } else if (c->kind <= K_LISTEN_CHARGEN) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    conn *nc = calloc(1, sizeof *nc);
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    g_accepted++;
                    nc->fd = fd;
                    nc->kind = (enum kind)(c->kind + (K_ECHO - K_LISTEN_ECHO));
                    struct epoll_event ev = {
                        .events = nc->kind == K_CHARGEN ? EPOLLIN | EPOLLOUT : EPOLLIN,
                        .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
            } else if (!on_conn(ep, c, evs[i].events)) {
                conn_free(ep, c);
            }
        }
    }
    fprintf(stderr, "kernel_peer: accepted=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 "\n",
            g_accepted, g_bytes_in, g_bytes_out);
    return 0;
}
