/*
 * sluice-tun: run a sluice stack on a Linux TUN device, with built-in
 * services on every address (docs/sluice-tun.md).
 *
 *   TCP  7 echo, 9 discard, 19 chargen (RFC 862/863/864), 80 HTTP/1.1
 *   UDP  7 echo
 *   ICMP echo (v4 and v6) answered by the stack itself
 *
 * With --proxy (tun2socks style) every TCP stream and UDP flow not taken by
 * a service named in --services is forwarded to its original destination
 * (or --upstream) through a non-blocking kernel socket in the same epoll
 * loop; see the "Proxy" section below and docs/sluice-tun.md.
 *
 * One epoll loop: read a batch of packets from the TUN fd, sl_input each
 * with a CLOCK_MONOTONIC time in microseconds, handle the events, sl_poll
 * (which writes packets through cfg.tx), then sleep until the next
 * deadline or readiness.  Each stream has its own application state with
 * backpressure: nothing is read from a stream whose output cannot be
 * written, partial writes are resumed on SL_EV_WRITABLE, nothing is lost.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sluice/platform.h>
#include <sluice/sluice.h>

#include "rt_services.h"
#include "services.h"

#define BATCH 64      /* packets read per loop turn          */
#define PKT_CAP 65536 /* one slot: the largest IP packet     */
#define RX_CAP (PKT_CAP + SL_VNET_HDR_LEN) /* ... after a virtio-net header */

/* ---------------------------------------------------------------------- */
/* Application state                                                      */
/* ---------------------------------------------------------------------- */

/* Every object an sl user pointer or an epoll data.ptr points at starts
 * with one of these tags, so events can be dispatched on it. */
enum { TAG_CONN = SVC_TAG, TAG_PCONN, TAG_PUDP, TAG_TUN, TAG_SIG };
static int g_tag_tun = TAG_TUN, g_tag_sig = TAG_SIG;

typedef struct impair {
    unsigned loss_pct, reorder_pct;       /* input: kernel -> sluice (like netem) */
    unsigned tx_loss_pct, tx_reorder_pct; /* output: sluice -> kernel             */
    unsigned dup_pct, tx_dup_pct;         /* duplicate PCT% (input / output)      */
    uint64_t rng;
    uint8_t *held; /* tx packet held back to be sent after the next */
    size_t held_len;
    uint64_t rx_lost, tx_lost, rx_reordered, tx_reordered, rx_duplicated, tx_duplicated;
} impair;

struct pconn;
struct pudp;

typedef struct app {
    sl_stack *s;
    int fd;
    int ep;
    svc svc; /* the built-in services (services.c) */
    /* --proxy */
    bool proxy;
    bool have_upstream;
    struct sockaddr_storage upstream;
    socklen_t upstream_len;
    unsigned long max_conns;
    struct pconn *pconns;
    struct pudp *pudps;
    uint64_t px_open; /* proxied TCP connections + UDP flows holding a socket */
    uint64_t px_tcp_total, px_udp_total, px_refused_limit, px_connect_failed, px_socket_errors,
        px_sl_resets, px_udp_dropped, px_bytes_up, px_bytes_down, px_udp_up, px_udp_down;
    sl_pcap_tap *pcap;
    sl_time now;
    bool dev_blocked;
    impair imp;
    uint64_t tx_eagain, tx_errors, rx_errors, rx_truncated;
    /* --offload (default): the device has a virtio-net header and hands
     * over unsegmented, unchecksummed TCP from the kernel (docs/perf.md). */
    bool vnet;
    uint64_t rx_coalesced, rx_csum_partial;
    uint8_t txbuf[PKT_CAP];
} app;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static sl_time now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_time)ts.tv_sec * 1000000u + (sl_time)ts.tv_nsec / 1000u;
}

/* xorshift64*: only for the optional impairment. */
static unsigned rnd_pct(impair *im)
{
    im->rng ^= im->rng >> 12;
    im->rng ^= im->rng << 25;
    im->rng ^= im->rng >> 27;
    return (unsigned)((im->rng * 0x2545F4914F6CDD1Dull) >> 33) % 100u;
}

/* ---------------------------------------------------------------------- */
/* The device side: cfg.tx and the pcap tap                               */
/* ---------------------------------------------------------------------- */

static uint8_t *tx_get_buffer(void *ctx, size_t len)
{
    app *a = ctx;
    if (a->dev_blocked || len > sizeof a->txbuf)
        return NULL; /* the stack keeps the packet and retries */
    return a->txbuf;
}

/* Write one packet (with virtio-net header vh when the device has one:
 * NULL = a whole packet, checksums done). */
static void dev_write_hdr(app *a, const sl_vnet_hdr *vh, const uint8_t *buf, size_t len)
{
    static const sl_vnet_hdr plain;
    if (a->pcap != NULL)
        sl_pcap_write(a->pcap, buf, len, a->now);
    int rc = a->vnet ? sl_tun_write_vnet(a->fd, vh != NULL ? vh : &plain, buf, len)
                     : sl_tun_write(a->fd, buf, len);
    if (rc == -EAGAIN) {
        a->tx_eagain++; /* dropped: TCP retransmits, UDP is best effort */
        a->dev_blocked = true;
    } else if (rc < 0) {
        a->tx_errors++;
    }
}

static void dev_write(app *a, const uint8_t *buf, size_t len)
{
    dev_write_hdr(a, NULL, buf, len);
}

static void tx_send(void *ctx, uint8_t *buf, size_t len)
{
    app *a = ctx;
    impair *im = &a->imp;
    if (im->tx_loss_pct > 0 && rnd_pct(im) < im->tx_loss_pct) {
        im->tx_lost++;
        return;
    }
    if (im->tx_reorder_pct > 0 && im->held_len == 0 && rnd_pct(im) < im->tx_reorder_pct) {
        memcpy(im->held, buf, len); /* goes out after the next packet */
        im->held_len = len;
        im->tx_reordered++;
        return;
    }
    dev_write(a, buf, len);
    if (im->tx_dup_pct > 0 && rnd_pct(im) < im->tx_dup_pct) {
        dev_write(a, buf, len); /* the network duplicated it */
        im->tx_duplicated++;
    }
    if (im->held_len > 0) {
        dev_write(a, im->held, im->held_len);
        im->held_len = 0;
    }
}

/* A TCP packet of many segments (cfg.tso_max): the kernel cuts it, or,
 * delivering it locally, takes it whole (virtio-net GSO). */
static void tx_send_tso(void *ctx, uint8_t *buf, size_t len, uint16_t seg)
{
    app *a = ctx;
    bool v4 = (buf[0] >> 4) == 4;
    size_t ihl = v4 ? (size_t)(buf[0] & 0x0f) * 4u : 40u; /* sluice sends no v6 ext headers */
    sl_vnet_hdr h = {0};
    h.gso_type = (uint8_t)(v4 ? SL_VNET_GSO_TCPV4 : SL_VNET_GSO_TCPV6);
    h.hdr_len = (uint16_t)(ihl + (size_t)(buf[ihl + 12] >> 4) * 4u);
    h.gso_size = seg;
    dev_write_hdr(a, &h, buf, len);
}

static void tx_flush_held(app *a)
{
    if (a->imp.held_len > 0) {
        dev_write(a, a->imp.held, a->imp.held_len);
        a->imp.held_len = 0;
    }
}


/* ---------------------------------------------------------------------- */
/* Proxy (--proxy): every other flow goes to its real destination          */
/* ---------------------------------------------------------------------- */

/* tun2socks style.  A stream sluice accepted is forwarded to its original
 * destination (the stream's local endpoint: the address and port the
 * client sent its SYN to), or to --upstream, through a non-blocking kernel
 * socket; a UDP flow gets a connected kernel UDP socket to its original
 * destination.
 *
 * Streams: two bounded buffers of PX_BUF bytes, one per direction.  Up
 * (client -> server): sl_stream_read only into an empty buffer, send() it
 * all to the socket; while the socket answers EAGAIN we wait for EPOLLOUT
 * and read nothing more from the stream (its data waits in sluice's
 * receive window, which closes).  Down (server -> client): recv() only
 * into an empty buffer, sl_stream_write it all; on SL_ERR_AGAIN the socket
 * leaves the epoll set (for input) until SL_EV_WRITABLE.  Nothing is
 * read from the stream until the kernel connect completes.  Half-close
 * both ways: the stream's end (read 0) becomes shutdown(SHUT_WR) once the
 * buffer is out; the socket's EOF becomes sl_stream_shutdown once the
 * buffer is out.  Errors: a failed connect or a socket error aborts the
 * stream (the client sees RST); a stream reset or failure closes the
 * socket with SO_LINGER 0 (the server sees RST).  Each side is released
 * as soon as it is done (socket: SHUT_WR sent and EOF read; stream: end
 * read and FIN queued), the state when both are. */
#define PX_BUF 32768
#define PX_SL_FAILED (-100000) /* px_pump: the stream failed (not a socket errno) */

typedef struct pconn {
    int tag; /* TAG_PCONN */
    struct pconn *prev, *next;
    sl_stream h;
    bool h_live;    /* the stream handle is still ours              */
    bool sl_closed; /* SL_EV_CLOSED seen                            */
    int fd;         /* kernel socket, -1 once closed                 */
    uint32_t ev;    /* events registered with epoll, 0: not in it   */
    bool connecting;
    uint8_t *up, *dn;          /* up: stream -> socket; dn: socket -> stream */
    size_t up_off, up_len;     /* pending: up[up_off..up_len)   */
    size_t dn_off, dn_len;
    bool up_eof, up_shut; /* stream read 0 / shutdown(SHUT_WR) done   */
    bool dn_eof, dn_shut; /* socket read 0 / sl_stream_shutdown done  */
} pconn;

typedef struct pudp {
    int tag; /* TAG_PUDP */
    struct pudp *prev, *next;
    sl_dgram h;
    int fd;
} pudp;

static bool ep_to_sockaddr(const sl_endpoint *e, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (e->addr.family == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(e->port);
        memcpy(&sin->sin_addr, e->addr.b, 4);
        *len = sizeof *sin;
        return true;
    }
    if (e->addr.family == 6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(e->port);
        memcpy(&sin6->sin6_addr, e->addr.b, 16);
        *len = sizeof *sin6;
        return true;
    }
    return false;
}

static bool sock_again(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Register exactly the events the state needs.  A socket with nothing to
 * wait for leaves the set, so that EPOLLHUP / EPOLLERR (always reported)
 * cannot spin the loop while the other side holds us back. */
static bool px_update_epoll(app *a, pconn *p)
{
    uint32_t want = 0;
    if (p->fd >= 0) {
        if (p->connecting) {
            want = EPOLLOUT;
        } else {
            if (p->up_off < p->up_len)
                want |= EPOLLOUT;
            if (!p->dn_eof && p->dn_len == 0)
                want |= EPOLLIN;
        }
    }
    if (want == p->ev)
        return true;
    struct epoll_event e = {.events = want, .data.ptr = p};
    int op = p->ev == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(a->ep, op, p->fd, &e) < 0)
        return false;
    p->ev = want;
    return true;
}

static void px_close_fd(app *a, pconn *p, bool rst)
{
    if (p->fd < 0)
        return;
    if (rst) { /* close with RST (SO_LINGER 0) */
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    if (p->ev != 0)
        epoll_ctl(a->ep, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    p->ev = 0;
}

static void px_free_stream(app *a, pconn *p, bool abort_it)
{
    if (!p->h_live)
        return;
    if (abort_it)
        sl_stream_abort(a->s, p->h); /* RST to the client */
    sl_stream_free(a->s, p->h);      /* else: graceful, finishes in the background */
    p->h_live = false;
}

static void px_destroy(app *a, pconn *p, bool rst_socket, bool abort_stream)
{
    px_close_fd(a, p, rst_socket);
    px_free_stream(a, p, abort_stream);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        a->pconns = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p->up);
    free(p->dn);
    free(p);
    a->px_open--;
}

/* Move bytes both ways as far as both sides take them.  0, or a negative
 * errno (socket) / PX_SL_FAILED (the stream failed): tear down with RST. */
static int px_pump(app *a, pconn *p)
{
    if (p->fd >= 0 && p->connecting)
        return px_update_epoll(a, p) ? 0 : -ENOMEM;
    for (unsigned guard = 0; guard < 10000; guard++) {
        bool progress = false;
        /* up: stream -> socket */
        if (p->fd >= 0) {
            if (p->up_off < p->up_len) {
                ssize_t w = send(p->fd, p->up + p->up_off, p->up_len - p->up_off, MSG_NOSIGNAL);
                if (w > 0) {
                    p->up_off += (size_t)w;
                    a->px_bytes_up += (uint64_t)w;
                    if (p->up_off == p->up_len)
                        p->up_off = p->up_len = 0;
                    progress = true;
                } else if (w < 0 && !sock_again(errno)) {
                    return -errno;
                }
            } else if (!p->up_eof && p->h_live) {
                long n = sl_stream_read(a->s, p->h, p->up, PX_BUF);
                if (n > 0) {
                    p->up_len = (size_t)n;
                    progress = true;
                } else if (n == 0) {
                    p->up_eof = true;
                    progress = true;
                } else if (n != SL_ERR_AGAIN) {
                    return PX_SL_FAILED;
                }
            } else if (p->up_eof && !p->up_shut) {
                shutdown(p->fd, SHUT_WR); /* the client's FIN, passed on */
                p->up_shut = true;
                progress = true;
            }
        }
        /* down: socket -> stream */
        if (p->dn_off < p->dn_len) {
            if (p->h_live) {
                long w = sl_stream_write(a->s, p->h, p->dn + p->dn_off, p->dn_len - p->dn_off);
                if (w > 0) {
                    p->dn_off += (size_t)w;
                    a->px_bytes_down += (uint64_t)w;
                    if (p->dn_off == p->dn_len)
                        p->dn_off = p->dn_len = 0;
                    progress = true; /* a partial write is retried: AGAIN arms WRITABLE */
                } else if (w != SL_ERR_AGAIN) {
                    return PX_SL_FAILED;
                }
            }
        } else if (!p->dn_eof && p->fd >= 0) {
            ssize_t n = recv(p->fd, p->dn, PX_BUF, 0);
            if (n > 0) {
                p->dn_len = (size_t)n;
                progress = true;
            } else if (n == 0) {
                p->dn_eof = true;
                progress = true;
            } else if (!sock_again(errno)) {
                return -errno;
            }
        } else if (p->dn_eof && !p->dn_shut && p->h_live) {
            sl_stream_shutdown(a->s, p->h); /* the server's FIN, passed on */
            p->dn_shut = true;
            progress = true;
        }
        if (!progress)
            break;
    }
    if (p->fd >= 0 && p->up_shut && p->dn_eof)
        px_close_fd(a, p, false); /* the socket side is done */
    if (p->h_live && p->up_eof && p->dn_shut)
        px_free_stream(a, p, false); /* the stream side is done */
    return px_update_epoll(a, p) ? 0 : -ENOMEM;
}

static void px_after(app *a, pconn *p, int rc)
{
    if (rc < 0) {
        if (rc == PX_SL_FAILED)
            a->px_sl_resets++;
        else
            a->px_socket_errors++;
        px_destroy(a, p, true, true);
        return;
    }
    /* Both sides done, or the socket is done and the stream is over. */
    if (p->fd < 0 && (!p->h_live || p->sl_closed))
        px_destroy(a, p, false, false);
}

/* A new stream to proxy: open the socket, start the connect. */
static void px_new(app *a, sl_stream h)
{
    sl_stream_info info;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    pconn *p = NULL;
    if (a->px_open >= a->max_conns) { /* accepted just under the limit, over it now */
        a->px_refused_limit++;
        goto refuse;
    }
    if (sl_stream_info_get(a->s, h, &info) != SL_OK)
        goto refuse;
    if (a->have_upstream) {
        ss = a->upstream;
        sl = a->upstream_len;
    } else if (!ep_to_sockaddr(&info.local, &ss, &sl)) {
        goto refuse;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL)
        goto refuse;
    p->tag = TAG_PCONN;
    p->h = h;
    p->h_live = true;
    p->up = malloc(PX_BUF);
    p->dn = malloc(PX_BUF);
    p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->up == NULL || p->dn == NULL || p->fd < 0) {
        a->px_socket_errors++;
        goto refuse;
    }
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sl_stream_set_nodelay(a->s, h, true); /* the endpoints do their own Nagle */
    if (connect(p->fd, (struct sockaddr *)&ss, sl) == 0) {
        p->connecting = false;
    } else if (errno == EINPROGRESS) {
        p->connecting = true;
    } else {
        a->px_connect_failed++;
        goto refuse;
    }
    p->next = a->pconns;
    if (a->pconns != NULL)
        a->pconns->prev = p;
    a->pconns = p;
    a->px_open++;
    a->px_tcp_total++;
    sl_stream_set_user(a->s, h, p);
    px_after(a, p, px_pump(a, p));
    return;
refuse:
    if (p != NULL) {
        if (p->fd >= 0)
            close(p->fd);
        free(p->up);
        free(p->dn);
        free(p);
    }
    sl_stream_abort(a->s, h); /* the client sees RST */
    sl_stream_free(a->s, h);
}

/* Readiness of a stream's kernel socket. */
static void px_fd_event(app *a, pconn *p, uint32_t events)
{
    if (p->fd < 0)
        return;
    if (p->connecting || (events & EPOLLERR) != 0) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
            err = errno;
        if (err != 0) {
            if (p->connecting)
                a->px_connect_failed++; /* refused, unreachable, timed out */
            else
                a->px_socket_errors++;
            px_destroy(a, p, true, true);
            return;
        }
        if (p->connecting && (events & (EPOLLOUT | EPOLLHUP)) == 0)
            return;
        p->connecting = false;
    }
    px_after(a, p, px_pump(a, p));
}

static void px_stream_event(app *a, pconn *p, const sl_event *ev)
{
    switch (ev->type) {
    case SL_EV_READABLE:
    case SL_EV_WRITABLE:
    case SL_EV_PEER_FIN:
        px_after(a, p, px_pump(a, p));
        break;
    case SL_EV_RESET:
    case SL_EV_ERROR:
        a->px_sl_resets++;
        px_destroy(a, p, true, false); /* RST to the server */
        break;
    case SL_EV_CLOSED:
        /* Over; data still waiting in it can be read (then 0). */
        p->sl_closed = true;
        px_after(a, p, px_pump(a, p));
        break;
    case SL_EV_DGRAM_NEW:
    case SL_EV_STREAM_NEW:
    case SL_EV_CONNECTED:
        break;
    }
}

/* ---- UDP ------------------------------------------------------------------- */

static void pudp_destroy(app *a, pudp *u)
{
    if (u->fd >= 0)
        close(u->fd); /* leaves the epoll set */
    sl_dgram_free(a->s, u->h);
    if (u->prev != NULL)
        u->prev->next = u->next;
    else
        a->pudps = u->next;
    if (u->next != NULL)
        u->next->prev = u->prev;
    free(u);
    a->px_open--;
}

/* Datagrams from the client -> the kernel socket (best effort). */
static void pudp_up(app *a, pudp *u)
{
    static uint8_t buf[65536];
    for (unsigned guard = 0; guard < 256; guard++) {
        long n = sl_dgram_recv(a->s, u->h, buf, sizeof buf, NULL, NULL);
        if (n < 0)
            return;
        if (send(u->fd, buf, (size_t)n, MSG_NOSIGNAL) == n)
            a->px_udp_up++;
        else
            a->px_udp_dropped++; /* full, or an earlier ICMP error reported here */
    }
}

/* Datagrams from the server -> the client, from the original destination. */
static void pudp_down(app *a, pudp *u)
{
    static uint8_t buf[65536];
    for (unsigned guard = 0; guard < 256; guard++) {
        ssize_t n = recv(u->fd, buf, sizeof buf, MSG_TRUNC);
        if (n < 0) {
            if (sock_again(errno))
                return;
            continue; /* ECONNREFUSED & co: an ICMP error for an earlier send */
        }
        if ((size_t)n > sizeof buf || sl_dgram_send(a->s, u->h, buf, (size_t)n) != SL_OK)
            a->px_udp_dropped++;
        else
            a->px_udp_down++;
    }
}

static void pudp_new(app *a, sl_dgram h)
{
    sl_dgram_info info;
    struct sockaddr_storage ss;
    socklen_t sl;
    pudp *u = NULL;
    if (a->px_open >= a->max_conns) {
        a->px_refused_limit++;
        goto drop;
    }
    if (sl_dgram_info_get(a->s, h, &info) != SL_OK || !ep_to_sockaddr(&info.local, &ss, &sl))
        goto drop;
    u = calloc(1, sizeof *u);
    if (u == NULL)
        goto drop;
    u->tag = TAG_PUDP;
    u->h = h;
    u->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = u};
    if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&ss, sl) < 0 ||
        epoll_ctl(a->ep, EPOLL_CTL_ADD, u->fd, &e) < 0) {
        a->px_socket_errors++;
        goto drop;
    }
    u->next = a->pudps;
    if (a->pudps != NULL)
        a->pudps->prev = u;
    a->pudps = u;
    a->px_open++;
    a->px_udp_total++;
    sl_dgram_set_user(a->s, h, u);
    pudp_up(a, u);
    return;
drop:
    if (u != NULL) {
        if (u->fd >= 0)
            close(u->fd);
        free(u);
    }
    sl_dgram_free(a->s, h);
}

static void pudp_event(app *a, pudp *u, const sl_event *ev)
{
    switch (ev->type) {
    case SL_EV_READABLE:
        pudp_up(a, u);
        break;
    case SL_EV_CLOSED: /* idle timeout */
        pudp_destroy(a, u);
        break;
    case SL_EV_ERROR: /* an ICMP error from the client side: nothing to do */
    case SL_EV_DGRAM_NEW:
    case SL_EV_STREAM_NEW:
    case SL_EV_CONNECTED:
    case SL_EV_WRITABLE:
    case SL_EV_PEER_FIN:
    case SL_EV_RESET:
        break;
    }
}

static void px_shutdown_all(app *a)
{
    while (a->pconns != NULL)
        px_destroy(a, a->pconns, true, true);
    while (a->pudps != NULL)
        pudp_destroy(a, a->pudps);
}

/* ---------------------------------------------------------------------- */
/* Events, filter                                                         */
/* ---------------------------------------------------------------------- */

static int user_tag(void *user)
{
    return user == NULL ? 0 : *(int *)user;
}

static unsigned handle_events(app *a)
{
    unsigned count = 0;
    sl_event ev;
    while (count < 100000 && sl_next_event(a->s, &ev)) {
        count++;
        int tag = user_tag(ev.user);
        if (!ev.is_stream) {
            if (tag == TAG_PUDP) {
                pudp_event(a, ev.user, &ev);
                continue;
            }
            sl_dgram_info di;
            if (ev.type == SL_EV_DGRAM_NEW && a->proxy &&
                sl_dgram_info_get(a->s, ev.dgram, &di) == SL_OK &&
                !svc_local(&a->svc, 17, di.local.port))
                pudp_new(a, ev.dgram);
            else
                svc_dgram_event(&a->svc, &ev);
            continue;
        }
        if (tag == TAG_PCONN) {
            px_stream_event(a, ev.user, &ev);
            continue;
        }
        if (ev.type == SL_EV_STREAM_NEW && ev.user == NULL) {
            sl_stream_info si;
            if (a->proxy && sl_stream_info_get(a->s, ev.stream, &si) == SL_OK &&
                !svc_local(&a->svc, 6, si.local.port))
                px_new(a, ev.stream);
            else
                svc_stream_new(&a->svc, ev.stream);
        } else if (tag == TAG_CONN) {
            svc_stream_event(&a->svc, &ev);
        } else if (ev.type == SL_EV_ERROR || ev.type == SL_EV_RESET ||
                   ev.type == SL_EV_CLOSED) {
            sl_stream_free(a->s, ev.stream); /* never taken by a service */
        }
    }
    return count;
}

/* Built-in services first (on their ports, for every address); with
 * --proxy everything else is forwarded while fewer than --max-conns
 * proxied flows are open, refused beyond; without it, refused. */
static sl_verdict filter(void *ctx, const sl_flow_info *f)
{
    app *a = ctx;
    if (svc_local(&a->svc, f->proto, f->local.port))
        return SL_ACCEPT;
    if (a->proxy && (f->proto == 6 || f->proto == 17)) {
        if (a->px_open < a->max_conns)
            return SL_ACCEPT;
        a->px_refused_limit++;
    }
    return SL_REFUSE;
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */
/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: sluice-tun [options]\n"
          "  --dev NAME          TUN device to create or attach (default sl0)\n"
          "  --mtu N             device and stack MTU, 576..65535 (default 1500)\n"
          "  --services LIST     comma list of echo,discard,chargen,http,udp-echo,\n"
          "                      all, none (default: all; with --proxy: none)\n"
          "  --pcap FILE         write every packet in and out (LINKTYPE_RAW)\n"
          "  --stats             print every non-zero counter on exit\n"
          "  --no-offload        plain TUN device: no virtio-net header, so the kernel\n"
          "                      segments and checksums every TCP packet it sends us\n"
          "  --max-seconds N     exit after N seconds (for tests)\n"
          "  --loss PCT          testing: drop PCT% of the packets read from the device\n"
          "  --reorder PCT       testing: swap PCT% of the packets read with the next\n"
          "  --tx-loss PCT       testing: drop PCT% of the packets sluice sends\n"
          "  --tx-reorder PCT    testing: send PCT% of sluice's packets after the next\n"
          "  --dup PCT           testing: feed PCT% of the packets read twice\n"
          "  --tx-dup PCT        testing: write PCT% of sluice's packets twice\n"
          "  --proxy             forward every other TCP stream and UDP flow to its real\n"
          "                      destination through kernel sockets (tun2socks style);\n"
          "                      services named by --services still answer on their ports\n"
          "  --upstream HOST:PORT  with --proxy (implied): send every proxied TCP stream\n"
          "                      to HOST:PORT ([v6]:PORT) instead of its destination\n"
          "  --max-conns N       proxied streams + UDP flows open at once (default 1024);\n"
          "                      more are refused (RST / ICMP port unreachable)\n"
          "  --threads N         run the services through N runtimes (include/sluice/\n"
          "                      runtime.h), one per queue of a multi-queue TUN device,\n"
          "                      a thread per connection: echo, discard, chargen and\n"
          "                      udp-echo only (not with http, --proxy, --pcap or the\n"
          "                      testing options); default: one thread, no runtime\n"
          "  -h, --help          this text\n",
          f);
}


static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* HOST:PORT or [IPv6]:PORT, resolved once (a name through getaddrinfo). */
static bool parse_upstream(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *e = strchr(text, ']');
        if (e == NULL || e[1] != ':' || (size_t)(e - text - 1) >= sizeof host)
            return false;
        memcpy(host, text + 1, (size_t)(e - text - 1));
        host[e - text - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(text, ':');
        if (c == NULL || (size_t)(c - text) >= sizeof host || strchr(text, ':') != c)
            return false;
        memcpy(host, text, (size_t)(c - text));
        host[c - text] = '\0';
        port = c + 1;
    }
    unsigned long pn;
    if (host[0] == '\0' || !parse_uint(port, 1, 65535, &pn))
        return false;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return false;
    bool ok = res->ai_addrlen <= sizeof *ss;
    if (ok) {
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = (socklen_t)res->ai_addrlen;
    }
    freeaddrinfo(res);
    return ok;
}

static void print_stats(const app *a)
{
    printf("sluice-tun counters (non-zero):\n");
    for (int i = 0; i < (int)SL_CNT__COUNT; i++) {
        uint64_t v = sl_stats_get(a->s, (sl_counter)i);
        if (v != 0)
            printf("  %-28s %" PRIu64 "\n", sl_counter_name((sl_counter)i), v);
    }
    sl_mem_stats m;
    sl_stats_mem(a->s, &m);
    printf("  %-28s %zu\n", "mem_peak_bytes", m.peak);
    const struct {
        const char *name;
        uint64_t v;
    } app_c[] = {
        {"app_streams_total", a->svc.conns_total},  {"app_streams_open", a->svc.conns_open},
        {"app_tx_eagain_drop", a->tx_eagain},   {"app_tx_errors", a->tx_errors},
        {"app_rx_errors", a->rx_errors},        {"app_rx_truncated", a->rx_truncated},
        {"app_rx_coalesced", a->rx_coalesced},  {"app_rx_csum_partial", a->rx_csum_partial},
        {"app_udp_echo_dropped", a->svc.udp_echo_dropped},
        {"impair_rx_lost", a->imp.rx_lost},     {"impair_tx_lost", a->imp.tx_lost},
        {"impair_rx_reordered", a->imp.rx_reordered},
        {"impair_rx_duplicated", a->imp.rx_duplicated},
        {"impair_tx_duplicated", a->imp.tx_duplicated},
        {"impair_tx_reordered", a->imp.tx_reordered},
        {"pcap_packets", sl_pcap_count(a->pcap)},
        {"proxy_streams_total", a->px_tcp_total},
        {"proxy_udp_flows_total", a->px_udp_total},
        {"proxy_open", a->px_open},
        {"proxy_refused_limit", a->px_refused_limit},
        {"proxy_connect_failed", a->px_connect_failed},
        {"proxy_socket_errors", a->px_socket_errors},
        {"proxy_stream_failed", a->px_sl_resets},
        {"proxy_bytes_up", a->px_bytes_up},
        {"proxy_bytes_down", a->px_bytes_down},
        {"proxy_udp_up", a->px_udp_up},
        {"proxy_udp_down", a->px_udp_down},
        {"proxy_udp_dropped", a->px_udp_dropped},
    };
    for (size_t i = 0; i < sizeof app_c / sizeof app_c[0]; i++)
        if (app_c[i].v != 0)
            printf("  %-28s %" PRIu64 "\n", app_c[i].name, app_c[i].v);
    fflush(stdout);
}

/* Feed one batch read from the device to the stack (with the optional
 * loss / reorder impairment applied first). */
static void input_batch(app *a, sl_pkt *pkts, int n)
{
    impair *im = &a->imp;
    for (int i = 0; i < n; i++) {
        if (pkts[i].len == pkts[i].cap)
            a->rx_truncated++;
        if (im->loss_pct > 0 && rnd_pct(im) < im->loss_pct) {
            im->rx_lost++;
            pkts[i].len = 0;
        }
    }
    if (im->reorder_pct > 0)
        for (int i = 0; i + 1 < n; i++)
            if (pkts[i].len > 0 && pkts[i + 1].len > 0 && rnd_pct(im) < im->reorder_pct) {
                sl_pkt t = pkts[i];
                pkts[i] = pkts[i + 1];
                pkts[i + 1] = t;
                im->rx_reordered++;
                i++;
            }
    for (int i = 0; i < n; i++) {
        if (pkts[i].len == 0)
            continue;
        const uint8_t *pkt = pkts[i].buf;
        size_t len = pkts[i].len;
        unsigned flags = 0;
        if (a->vnet) {
            /* The kernel's own packets: a partial checksum (its sender
             * left it to the "device") or one it verified; GSO: one TCP
             * segment standing for many (taken whole by sl_input_ex). */
            if (len < SL_VNET_HDR_LEN) {
                a->rx_errors++;
                continue;
            }
            sl_vnet_hdr vh;
            sl_vnet_hdr_get(pkt, &vh);
            pkt += SL_VNET_HDR_LEN;
            len -= SL_VNET_HDR_LEN;
            if ((vh.flags & (SL_VNET_F_NEEDS_CSUM | SL_VNET_F_DATA_VALID)) != 0)
                flags |= SL_INPUT_CSUM_OK;
            if ((vh.flags & SL_VNET_F_NEEDS_CSUM) != 0)
                a->rx_csum_partial++;
            if (vh.gso_type != SL_VNET_GSO_NONE)
                a->rx_coalesced++;
        }
        if (a->pcap != NULL)
            sl_pcap_write(a->pcap, pkt, len, a->now);
        sl_input_ex(a->s, pkt, len, a->now, flags);
        if (im->dup_pct > 0 && rnd_pct(im) < im->dup_pct) {
            sl_input_ex(a->s, pkt, len, a->now, flags); /* duplicated */
            im->rx_duplicated++;
        }
    }
}

int main(int argc, char **argv)
{
    const char *dev = "sl0", *pcap_path = NULL;
    unsigned long mtu = 1500, max_seconds = 0, loss = 0, reorder = 0, tx_loss = 0, tx_reorder = 0;
    unsigned long dup = 0, tx_dup = 0;
    unsigned services = SVC_ALL;
    bool stats = false, services_given = false, proxy = false, offload = true;
    const char *upstream = NULL;
    unsigned long max_conns = 1024, threads = 0;
    bool testing_opts = false;
    enum { O_DEV = 256, O_MTU, O_SERVICES, O_PCAP, O_STATS, O_MAXSEC, O_LOSS, O_REORDER, O_TX_LOSS,
           O_TX_REORDER, O_PROXY, O_UPSTREAM, O_MAX_CONNS, O_DUP, O_TX_DUP, O_NO_OFFLOAD,
           O_THREADS };
    static const struct option opts[] = {
        {"dev", required_argument, NULL, O_DEV},
        {"mtu", required_argument, NULL, O_MTU},
        {"services", required_argument, NULL, O_SERVICES},
        {"pcap", required_argument, NULL, O_PCAP},
        {"stats", no_argument, NULL, O_STATS},
        {"max-seconds", required_argument, NULL, O_MAXSEC},
        {"loss", required_argument, NULL, O_LOSS},
        {"reorder", required_argument, NULL, O_REORDER},
        {"tx-loss", required_argument, NULL, O_TX_LOSS},
        {"tx-reorder", required_argument, NULL, O_TX_REORDER},
        {"dup", required_argument, NULL, O_DUP},
        {"tx-dup", required_argument, NULL, O_TX_DUP},
        {"proxy", no_argument, NULL, O_PROXY},
        {"upstream", required_argument, NULL, O_UPSTREAM},
        {"max-conns", required_argument, NULL, O_MAX_CONNS},
        {"no-offload", no_argument, NULL, O_NO_OFFLOAD},
        {"threads", required_argument, NULL, O_THREADS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (o) {
        case O_DEV:
            dev = optarg;
            if (strlen(dev) == 0 || strlen(dev) >= SL_TUN_NAME_MAX) {
                fprintf(stderr, "sluice-tun: --dev: 1..%d characters\n", SL_TUN_NAME_MAX - 1);
                return 2;
            }
            break;
        case O_MTU:
            if (!parse_uint(optarg, 576, 65535, &mtu)) {
                fprintf(stderr, "sluice-tun: --mtu: 576..65535\n");
                return 2;
            }
            break;
        case O_SERVICES:
            if (!svc_parse_list(optarg, &services)) {
                fprintf(stderr, "sluice-tun: --services: comma list of "
                                "echo,discard,chargen,http,udp-echo,all,none\n");
                return 2;
            }
            services_given = true;
            break;
        case O_PCAP:
            pcap_path = optarg;
            break;
        case O_STATS:
            stats = true;
            break;
        case O_NO_OFFLOAD:
            offload = false;
            break;
        case O_MAXSEC:
            if (!parse_uint(optarg, 1, 86400 * 365, &max_seconds)) {
                fprintf(stderr, "sluice-tun: --max-seconds: a positive number\n");
                return 2;
            }
            break;
        case O_LOSS:
        case O_REORDER:
        case O_TX_LOSS:
        case O_TX_REORDER:
        case O_DUP:
        case O_TX_DUP: {
            unsigned long *dst = o == O_LOSS         ? &loss
                                 : o == O_REORDER    ? &reorder
                                 : o == O_TX_LOSS    ? &tx_loss
                                 : o == O_TX_REORDER ? &tx_reorder
                                 : o == O_DUP        ? &dup
                                                     : &tx_dup;
            testing_opts = true;
            if (!parse_uint(optarg, 0, 99, dst)) {
                fprintf(stderr, "sluice-tun: --[tx-]loss/--[tx-]reorder/--[tx-]dup: 0..99\n");
                return 2;
            }
            break;
        }
        case O_PROXY:
            proxy = true;
            break;
        case O_UPSTREAM:
            upstream = optarg;
            proxy = true;
            break;
        case O_MAX_CONNS:
            if (!parse_uint(optarg, 1, 1000000, &max_conns)) {
                fprintf(stderr, "sluice-tun: --max-conns: 1..1000000\n");
                return 2;
            }
            break;
        case O_THREADS:
            if (!parse_uint(optarg, 1, 64, &threads)) {
                fprintf(stderr, "sluice-tun: --threads: 1..64\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-tun: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (threads > 0) { /* the runtime path (examples/rt_services.c) */
        if (proxy || pcap_path != NULL || testing_opts ||
            (services_given && (services & SVC_HTTP))) {
            fprintf(stderr, "sluice-tun: --threads serves echo, discard, chargen and udp-echo;"
                            " not with http, --proxy, --pcap or the testing options\n");
            return 2;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rt_services_opts ro = {dev, (unsigned)mtu, (int)threads,
                               (services & SVC_ECHO ? RTS_ECHO : 0u) |
                                   (services & SVC_DISCARD ? RTS_DISCARD : 0u) |
                                   (services & SVC_CHARGEN ? RTS_CHARGEN : 0u) |
                                   (services & SVC_UDP_ECHO ? RTS_UDP_ECHO : 0u),
                               max_seconds, stats};
        int rrc = rt_services_run(&ro, &g_stop);
        fprintf(stderr, "sluice-tun: %s, exiting\n", g_stop ? "signal" : "time limit reached");
        return rrc;
    }
    if (proxy && !services_given)
        services = 0; /* --proxy: everything is forwarded unless --services says */
    app *a = calloc(1, sizeof *a);
    if (a == NULL)
        return 1;
    svc_init(&a->svc, NULL, services);
    a->proxy = proxy;
    a->max_conns = max_conns;
    if (upstream != NULL && !parse_upstream(upstream, &a->upstream, &a->upstream_len)) {
        fprintf(stderr, "sluice-tun: --upstream %s: expected HOST:PORT or [IPv6]:PORT\n",
                upstream);
        return 2;
    }
    a->have_upstream = upstream != NULL;
    if (proxy) { /* one socket per proxied flow: raise the soft fd limit */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    a->imp.loss_pct = (unsigned)loss;
    a->imp.reorder_pct = (unsigned)reorder;
    a->imp.tx_loss_pct = (unsigned)tx_loss;
    a->imp.tx_reorder_pct = (unsigned)tx_reorder;
    a->imp.dup_pct = (unsigned)dup;
    a->imp.tx_dup_pct = (unsigned)tx_dup;
    a->imp.rng = 0x9e3779b97f4a7c15ull;
    a->imp.held = malloc(PKT_CAP);
    sl_pkt pkts[BATCH];
    uint8_t *rxmem = malloc((size_t)BATCH * RX_CAP);
    if (a->imp.held == NULL || rxmem == NULL)
        return 1;
    for (int i = 0; i < BATCH; i++)
        pkts[i] = (sl_pkt){.buf = rxmem + (size_t)i * RX_CAP, .cap = RX_CAP, .len = 0};

    /* Signals: blocked and read through a signalfd in the epoll set. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);

    char name[SL_TUN_NAME_MAX];
    a->fd = -1;
    if (offload) {
        /* Receive offload: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 with a
         * virtio-net header; a kernel without it gets the plain device. */
        a->fd = sl_tun_open_ex(dev, name, sizeof name, SL_TUN_VNET_HDR);
        if (a->fd >= 0 && sl_tun_set_offload(a->fd, SL_TUN_OFF_CSUM | SL_TUN_OFF_TSO4 |
                                                        SL_TUN_OFF_TSO6) < 0) {
            fprintf(stderr, "sluice-tun: no TUN offloads here; running without\n");
            close(a->fd);
            a->fd = -1;
        }
        a->vnet = a->fd >= 0;
    }
    if (a->fd < 0)
        a->fd = sl_tun_open(dev, name, sizeof name);
    if (a->fd < 0) {
        fprintf(stderr, "sluice-tun: cannot open TUN device %s: %s%s\n", dev, strerror(-a->fd),
                a->fd == -EPERM ? " (needs root / CAP_NET_ADMIN)" : "");
        return 1;
    }
    int rc = sl_tun_set_mtu(name, (unsigned)mtu);
    if (rc == 0)
        rc = sl_tun_set_up(name);
    if (rc < 0) {
        fprintf(stderr, "sluice-tun: cannot configure %s: %s\n", name, strerror(-rc));
        return 1;
    }
    if (pcap_path != NULL) {
        a->pcap = sl_pcap_open(pcap_path);
        if (a->pcap == NULL) {
            fprintf(stderr, "sluice-tun: --pcap %s: %s\n", pcap_path, strerror(errno));
            return 1;
        }
    }

    uint8_t secret[32];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret) {
        fprintf(stderr, "sluice-tun: getrandom: %s\n", strerror(errno));
        return 1;
    }
    sl_config cfg;
    sl_config_init(&cfg);
    cfg.secret = secret;
    cfg.secret_len = sizeof secret;
    cfg.mtu = (uint16_t)mtu;
    /* Buffers of at least 16 segments: with the default 64 KiB and a
     * 64 KiB MTU a stream holds a single segment, and the kernel delays
     * its ACK of a lone segment (about 40 ms each: docs/perf.md).  With
     * offloads the kernel's segments are up to 64 KiB at any MTU. */
    unsigned long seg_bytes = a->vnet ? 65535ul : mtu;
    if (cfg.tcp_sndbuf < 16u * seg_bytes) {
        cfg.tcp_sndbuf = (uint32_t)(16u * seg_bytes);
        cfg.tcp_rcvbuf = (uint32_t)(16u * seg_bytes);
    }
    cfg.tx.get_buffer = tx_get_buffer;
    cfg.tx.send = tx_send;
    /* With the virtio-net header, TCP leaves in packets of up to 64 KiB
     * that the kernel takes whole (no impairment then: it works on
     * single packets). */
    if (a->vnet && mtu < 65535 && tx_loss == 0 && tx_reorder == 0 && tx_dup == 0) {
        cfg.tso_max = 65535;
        cfg.tx.send_tso = tx_send_tso;
    }
    cfg.tx.ctx = a;
    cfg.filter = filter;
    cfg.filter_ctx = a;
    sl_allocator heap = sl_allocator_heap();
    sl_error err;
    a->s = sl_stack_new(&cfg, &heap, &err);
    if (a->s == NULL) {
        fprintf(stderr, "sluice-tun: sl_stack_new: %s\n", sl_strerror(err));
        return 1;
    }
    a->svc.s = a->s;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    a->ep = ep;
    struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &g_tag_tun};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, a->fd, &ee) < 0) {
        fprintf(stderr, "sluice-tun: epoll: %s\n", strerror(errno));
        return 1;
    }
    if (sfd >= 0) {
        struct epoll_event se = {.events = EPOLLIN, .data.ptr = &g_tag_sig};
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &se);
    }
    fprintf(stderr, "sluice-tun: running on %s, mtu %lu, services%s%s%s%s%s\n", name, mtu,
            (services & SVC_ECHO) ? " echo" : "", (services & SVC_DISCARD) ? " discard" : "",
            (services & SVC_CHARGEN) ? " chargen" : "", (services & SVC_HTTP) ? " http" : "",
            (services & SVC_UDP_ECHO) ? " udp-echo" : "");
    if (proxy)
        fprintf(stderr, "sluice-tun: proxy: every other TCP stream to %s, UDP flows to their "
                        "destination; at most %lu at once\n",
                a->have_upstream ? upstream : "its destination", max_conns);

    sl_time start = now_us();
    sl_time end = max_seconds > 0 ? start + (sl_time)max_seconds * 1000000u : SL_TIME_NEVER;
    bool want_out = false;
    int exit_code = 0;
    while (!g_stop) {
        a->now = now_us();
        if (a->now >= end)
            break;
        int n = sl_tun_read_batch(a->fd, pkts, BATCH);
        if (n < 0) {
            a->rx_errors++;
            n = 0;
        }
        input_batch(a, pkts, n);
        handle_events(a);
        sl_time next = sl_poll(a->s, a->now);
        for (int round = 0; round < 4 && handle_events(a) > 0; round++)
            next = sl_poll(a->s, a->now);
        tx_flush_held(a);
        if (n == BATCH && !a->proxy)
            continue; /* more is likely waiting: read again at once */

        /* Sleep until the next deadline, input, a signal, or device room. */
        if (a->dev_blocked != want_out) {
            want_out = a->dev_blocked;
            ee.events = EPOLLIN | (want_out ? (uint32_t)EPOLLOUT : 0u);
            epoll_ctl(ep, EPOLL_CTL_MOD, a->fd, &ee);
        }
        sl_time wake = next;
        if (a->dev_blocked && wake <= a->now)
            wake = a->now + 10000; /* wait for EPOLLOUT, at most 10 ms */
        if (end < wake)
            wake = end;
        if (n == BATCH)
            wake = 0; /* --proxy: look at the sockets, then read again at once */
        int timeout_ms;
        sl_time t = now_us();
        if (wake == SL_TIME_NEVER)
            timeout_ms = 1000;
        else if (wake <= t)
            timeout_ms = 0;
        else
            timeout_ms = (int)((wake - t + 999) / 1000 > 1000 ? 1000 : (wake - t + 999) / 1000);
        struct epoll_event evs[64];
        int ne = epoll_wait(ep, evs, 64, timeout_ms);
        if (ne < 0 && errno != EINTR) {
            fprintf(stderr, "sluice-tun: epoll_wait: %s\n", strerror(errno));
            exit_code = 1;
            break;
        }
        a->now = now_us();
        for (int i = 0; i < ne; i++) {
            void *p = evs[i].data.ptr;
            if (p == &g_tag_sig) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    g_stop = 1;
            } else if (p == &g_tag_tun) {
                if ((evs[i].events & EPOLLOUT) != 0)
                    a->dev_blocked = false;
            } else if (user_tag(p) == TAG_PCONN) {
                /* only this connection can go away here: the others in evs stay valid */
                px_fd_event(a, p, evs[i].events);
            } else if (user_tag(p) == TAG_PUDP) {
                pudp_down(a, p);
            }
        }
    }

    fprintf(stderr, "sluice-tun: %s, exiting\n", g_stop ? "signal" : "time limit reached");
    if (stats)
        print_stats(a);
    svc_free_all(&a->svc);
    px_shutdown_all(a);
    a->now = now_us();
    sl_poll(a->s, a->now); /* the RSTs / FINs just queued reach the peers */
    tx_flush_held(a);
    sl_stack_free(a->s);
    if (sl_pcap_close(a->pcap) < 0)
        fprintf(stderr, "sluice-tun: pcap write failed\n");
    close(a->fd);
    close(ep);
    if (sfd >= 0)
        close(sfd);
    free(rxmem);
    free(a->imp.held);
    free(a);
    return exit_code;
}
