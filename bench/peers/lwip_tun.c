/*
 * lwip_tun: lwIP (Debian's liblwip-dev, used as a library through its
 * public raw API) on a Linux TUN device, as a benchmark peer for
 * bench/tun/run.sh, on the same harness as sluice-tun: the kernel side has
 * 198.18.0.1 on the device and routes 198.18.0.0/15 into it; lwIP's netif
 * has 198.18.0.2/15 (gateway 198.18.0.1).  IPv4 only.
 *
 *   lwip_tun [--dev sl0] [--mtu 1500] [--addr 198.18.0.2] [--prefix 15]
 *            [--gw 198.18.0.1] [--input lock|mbox] [--max-seconds N] [--stats]
 *
 *   TCP  7 echo     reads only as fast as it can write back (the receive
 *                   window is reopened, tcp_recved, only for bytes handed
 *                   to tcp_write); half-close: closes after the peer's FIN
 *                   once everything is echoed.  With a client that sends
 *                   one byte, reads it and closes, this is the
 *                   connect-accept-close path of the connection-rate test.
 *   TCP  9 discard  reads and drops (tcp_recved at once); closes after FIN.
 *   TCP 19 chargen  RFC 864 pattern (line k: the 72 printable characters
 *                   32..126 starting at k mod 95, then CR LF), written
 *                   whenever there is room in the send buffer (tcp_sent
 *                   callback), until the peer closes.
 *
 * Exit 0 after SIGINT/SIGTERM or --max-seconds, 1 when the device or lwIP
 * cannot be set up, 2 on a bad option.  --stats prints counters at exit.
 *
 * ---------------------------------------------------------------------------
 * Debian's lwIP build (package liblwip-dev / liblwip0 2.1.3+dfsg1-2,
 * Debian 12).  The library is, as far as its files tell, compiled with
 * the lwipopts.h the package installs as /usr/include/lwip/lwipopts.h (it
 * comes from the GNU Hurd's lwIP translator; pkg-config lwip gives
 * -I/usr/include/lwip) and with the unix port of lwIP's contrib
 * (arch/cc.h, arch/sys_arch.h: pthreads; its sys_*, tapif_* symbols are in
 * liblwip.so).  We compile against the same headers, so the structures
 * agree.  What matters
 * for these benchmarks (values set in lwipopts.h, or lwIP 2.1.3's opt.h
 * defaults where it sets nothing):
 *
 *   NO_SYS                     0       an OS is present: a tcpip thread runs
 *                                      the stack and its timers
 *   LWIP_TCPIP_CORE_LOCKING    1       the core is one mutex; other threads
 *                                      may call the raw API while holding it
 *                                      (LOCK_TCPIP_CORE); the package turns
 *                                      on its checks (LWIP_ASSERT_CORE_LOCKED
 *                                      -> sys_check_core_locking)
 *   LWIP_TCPIP_CORE_LOCKING_INPUT 0 (default) tcpip_input() does not take
 *                                      the lock: it posts each packet to the
 *                                      tcpip thread's mailbox
 *   TCPIP_MBOX_SIZE            0       (default) the unix port's mailbox has
 *                                      a fixed size (127 messages, measured
 *                                      with sys_mbox_trypost on this build);
 *                                      when it is full tcpip_input fails
 *                                      with ERR_MEM and the packet is lost
 *   TCP_MSS                    1460    a fixed cap: lwIP announces MSS 1460
 *                                      and sends at most 1460-byte segments
 *                                      whatever the MTU (also at 65520)
 *   TCP_WND                    0xFFFF  with LWIP_WND_SCALE 1 and
 *                                      TCP_RCV_SCALE 1: a 64 KiB receive
 *                                      window (65535 >> 1 announced, scale 1)
 *   TCP_SND_BUF                TCP_WND 64 KiB of send buffer per connection
 *   TCP_SND_QUEUELEN           180     (default: 4*TCP_SND_BUF/TCP_MSS)
 *                                      pbufs queued per connection
 *   TCP_SNDLOWAT               32767   (default) tcp_sent wake-up level
 *   TCP_WND_UPDATE_THRESHOLD   5840    (default: min(TCP_WND/4, 4*TCP_MSS))
 *   TCP_QUEUE_OOSEQ            1       (default) out-of-order queueing,
 *                                      TCP_OOSEQ_MAX_BYTES 0 = unbounded
 *   LWIP_TCP_SACK_OUT          0       (default) no SACK
 *   LWIP_TCP_TIMESTAMPS        0       (default) no timestamps
 *   TCP_TMR_INTERVAL           250     (default) ms: delayed ACKs wait for
 *                                      the 250 ms fast timer at worst
 *   TCP_LISTEN_BACKLOG         0       (default) no accept backlog limit
 *   MEM_LIBC_MALLOC            1       the heap is glibc malloc: MEM_SIZE
 *                                      (1600, default) is unused
 *   MEMP_MEM_MALLOC            1       every pool object is malloc'ed too:
 *                                      PBUF_POOL_SIZE (16), MEMP_NUM_TCP_PCB
 *                                      (5), MEMP_NUM_TCP_SEG (16) ... are
 *                                      defaults but not limits
 *   PBUF_POOL_BUFSIZE          ~1516   (default, from TCP_MSS) pool pbufs;
 *                                      we give lwIP PBUF_RAM pbufs instead
 *   LWIP_NETIF_TX_SINGLE_PBUF  1       TCP copies every write into one pbuf
 *                                      per segment (so tcp_write always
 *                                      copies); LWIP_CHECKSUM_ON_COPY 1
 *                                      computes the checksum while copying
 *   CHECKSUM_GEN_* / CHECK_*   1       (default) software checksums both ways
 *   IP_FORWARD                 1       and LWIP_IPV6_FORWARD 1: packets not
 *                                      for the netif's address are forwarded
 *                                      (never back out of the netif they
 *                                      came in on, so here: dropped)
 *   LWIP_IPV6                  1       unused here; non-IPv4 packets are
 *                                      dropped before lwIP sees them
 *   LWIP_STATS                 0       no lwIP statistics
 *   LWIP_NOASSERT_ON_ERROR     1       LWIP_ERROR checks return instead of
 *                                      asserting; LWIP_ASSERT itself is
 *                                      compiled in (aborts)
 *   MEM_ALIGNMENT              8       (LP64)
 *
 * Debian's library has no TUN netif (contrib's tapif is a TAP/Ethernet
 * one), so the netif is here: output writes the packet to the TUN fd
 * (IFF_TUN | IFF_NO_PI, raw IP), and the main thread reads the fd and hands
 * each packet to lwIP in a PBUF_RAM pbuf.  Two ways to hand it over
 * (--input):
 *   lock (default)  read up to 64 packets, take the core lock once
 *                   (LOCK_TCPIP_CORE) and call ip_input for each: the
 *                   services' callbacks then run in the reading thread;
 *                   the tcpip thread only runs the timers.  The cheapest
 *                   path the package allows, and closest to sluice-tun's
 *                   single-threaded loop.
 *   mbox            the standard NO_SYS=0 path: netif input = tcpip_input,
 *                   every packet is a message to the tcpip thread (one
 *                   thread switch per batch at best).  A full mailbox is
 *                   retried for up to ~1 ms, then the packet is dropped and
 *                   counted (rx_mbox_drops).
 * Writes to the TUN fd do not block (a TUN write never waits for room); a
 * failed write drops the packet (tx_errors), TCP retransmits.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "lwip/opt.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"

#include <sluice/platform.h>

#include "../tun/bench_util.h"

#if NO_SYS || !LWIP_TCPIP_CORE_LOCKING || !LWIP_IPV4 || !LWIP_TCP
#error "lwip_tun expects Debian's lwIP build (NO_SYS=0, LWIP_TCPIP_CORE_LOCKING=1, IPv4, TCP)"
#endif

#define BATCH 64
#define PKT_CAP 65536
#define CG_LINE 74
#define CG_CYCLE (95 * CG_LINE)
#define CG_CHUNK 16384

/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

static struct netif g_nif;
static int g_fd = -1;
static volatile sig_atomic_t g_stop;
static uint8_t g_chargen[CG_CYCLE + CG_CHUNK];
static uint8_t g_txcopy[PKT_CAP]; /* chained pbufs are flattened here (core lock held) */

/* rx_* are the reading thread's; the rest are changed with the core lock held. */
static uint64_t rx_pkts, rx_bytes, rx_not_ipv4, rx_mbox_drops, rx_alloc_fail, rx_truncated;
static uint64_t tx_pkts, tx_bytes, tx_errors;
static uint64_t n_accepted, n_open, n_close_failed;

enum svc_kind { SVC_ECHO, SVC_DISCARD, SVC_CHARGEN };

typedef struct svc_conn {
    enum svc_kind kind;
    struct pbuf *pend; /* echo: received, not yet written back */
    bool peer_fin;     /* echo: close once pend is written     */
    size_t cg_pos;     /* chargen: offset in the cycle         */
} svc_conn;

/* ---------------------------------------------------------------------- */
/* The TUN netif                                                          */
/* ---------------------------------------------------------------------- */

static err_t tun_write_pbuf(struct pbuf *p)
{
    const void *data = p->payload;
    size_t len = p->tot_len;
    if (p->next != NULL) { /* chained (rare with LWIP_NETIF_TX_SINGLE_PBUF) */
        if (pbuf_copy_partial(p, g_txcopy, p->tot_len, 0) != p->tot_len) {
            tx_errors++;
            return ERR_BUF;
        }
        data = g_txcopy;
    }
    int rc = sl_tun_write(g_fd, data, len);
    if (rc < 0) {
        tx_errors++; /* dropped: TCP retransmits */
        return ERR_OK;
    }
    tx_pkts++;
    tx_bytes += len;
    return ERR_OK;
}

static err_t tun_output4(struct netif *nif, struct pbuf *p, const ip4_addr_t *dst)
{
    (void)nif;
    (void)dst; /* point-to-point: everything goes to the device */
    return tun_write_pbuf(p);
}

#if LWIP_IPV6
static err_t tun_output6(struct netif *nif, struct pbuf *p, const ip6_addr_t *dst)
{
    (void)nif;
    (void)dst;
    return tun_write_pbuf(p);
}
#endif

static unsigned g_mtu = 1500;

static err_t tun_netif_init(struct netif *nif)
{
    nif->name[0] = 's';
    nif->name[1] = 'l';
    nif->mtu = (u16_t)g_mtu;
    nif->output = tun_output4;
#if LWIP_IPV6
    nif->output_ip6 = tun_output6;
#endif
    nif->flags = 0; /* no ARP, no broadcast: a point-to-point IP device */
    return ERR_OK;
}

/* ---------------------------------------------------------------------- */
/* Services (raw API; every callback runs with the core lock held)        */
/* ---------------------------------------------------------------------- */

static void svc_free(struct tcp_pcb *pcb, svc_conn *c)
{
    if (pcb != NULL) {
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_sent(pcb, NULL);
        tcp_err(pcb, NULL);
    }
    if (c != NULL) {
        if (c->pend != NULL)
            pbuf_free(c->pend);
        free(c);
        n_open--;
    }
}

/* Close gracefully; abort if lwIP cannot.  Returns what a callback that
 * called it must return. */
static err_t svc_close(struct tcp_pcb *pcb, svc_conn *c)
{
    svc_free(pcb, c);
    if (tcp_close(pcb) != ERR_OK) {
        n_close_failed++;
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    return ERR_OK;
}

static void svc_err(void *arg, err_t err)
{
    (void)err; /* the pcb is already gone */
    svc_free(NULL, arg);
}

/* echo: write back as much of pend as the send buffer takes; reopen the
 * receive window only by what was written. */
static void echo_pump(struct tcp_pcb *pcb, svc_conn *c)
{
    bool wrote = false;
    while (c->pend != NULL) {
        u16_t room = tcp_sndbuf(pcb);
        u16_t n = c->pend->len < room ? c->pend->len : room;
        if (n == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 1)
            break;
        if (tcp_write(pcb, c->pend->payload, n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        tcp_recved(pcb, n);
        c->pend = pbuf_free_header(c->pend, n);
        wrote = true;
    }
    if (wrote)
        tcp_output(pcb);
}

static err_t svc_sent(void *arg, struct tcp_pcb *pcb, u16_t len);

static void chargen_pump(struct tcp_pcb *pcb, svc_conn *c)
{
    bool wrote = false;
    for (;;) {
        u16_t room = tcp_sndbuf(pcb);
        u16_t n = room < CG_CHUNK ? room : (u16_t)CG_CHUNK;
        if (n == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 1)
            break;
        if (tcp_write(pcb, g_chargen + c->cg_pos, n, TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE) != ERR_OK)
            break;
        c->cg_pos = (c->cg_pos + n) % CG_CYCLE;
        wrote = true;
    }
    if (wrote)
        tcp_output(pcb);
}

static err_t svc_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    svc_conn *c = arg;
    if (c == NULL) { /* already closed by us */
        if (p != NULL) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    if (err != ERR_OK) {
        if (p != NULL)
            pbuf_free(p);
        return svc_close(pcb, c);
    }
    if (p == NULL) { /* the peer's FIN */
        if (c->kind == SVC_ECHO && c->pend != NULL) {
            c->peer_fin = true; /* close when the echo is out */
            return ERR_OK;
        }
        return svc_close(pcb, c);
    }
    if (c->kind == SVC_ECHO) {
        if (c->pend == NULL)
            c->pend = p;
        else
            pbuf_cat(c->pend, p);
        echo_pump(pcb, c);
    } else {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
    }
    return ERR_OK;
}

static err_t svc_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)len;
    svc_conn *c = arg;
    if (c == NULL)
        return ERR_OK;
    if (c->kind == SVC_ECHO) {
        echo_pump(pcb, c);
        if (c->peer_fin && c->pend == NULL)
            return svc_close(pcb, c);
    } else if (c->kind == SVC_CHARGEN) {
        chargen_pump(pcb, c);
    }
    return ERR_OK;
}

static err_t svc_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || pcb == NULL)
        return ERR_VAL;
    svc_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    c->kind = (enum svc_kind)(uintptr_t)arg;
    n_accepted++;
    n_open++;
    tcp_arg(pcb, c);
    tcp_recv(pcb, svc_recv);
    tcp_sent(pcb, svc_sent);
    tcp_err(pcb, svc_err);
    if (c->kind == SVC_CHARGEN)
        chargen_pump(pcb, c);
    return ERR_OK;
}

static bool svc_listen(u16_t port, enum svc_kind kind)
{
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
    if (pcb == NULL || tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
        fprintf(stderr, "lwip_tun: cannot bind port %u\n", port);
        return false;
    }
    struct tcp_pcb *l = tcp_listen(pcb);
    if (l == NULL) {
        fprintf(stderr, "lwip_tun: cannot listen on port %u\n", port);
        return false;
    }
    tcp_arg(l, (void *)(uintptr_t)kind);
    tcp_accept(l, svc_accept);
    return true;
}

/* ---------------------------------------------------------------------- */
/* Main: set up, then read the device                                     */
/* ---------------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void init_done(void *arg)
{
    sys_sem_signal((sys_sem_t *)arg);
}

static void usage(void)
{
    fprintf(stderr, "usage: lwip_tun [--dev NAME] [--mtu N] [--addr A] [--prefix N] [--gw A]\n"
                    "                [--input lock|mbox] [--max-seconds N] [--stats]\n");
}

int main(int argc, char **argv)
{
    const char *dev = "sl0";
    struct in_addr addr, gw;
    inet_pton(AF_INET, "198.18.0.2", &addr);
    inet_pton(AF_INET, "198.18.0.1", &gw);
    unsigned prefix = 15;
    double max_seconds = 0;
    bool use_lock = true, stats = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--stats") == 0) {
            stats = true;
            continue;
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
            g_mtu = (unsigned)d;
        else if (strcmp(a, "--prefix") == 0 && num(v, 1, 32, &d))
            prefix = (unsigned)d;
        else if (strcmp(a, "--max-seconds") == 0 && num(v, 0.1, 86400, &d))
            max_seconds = d;
        else if (strcmp(a, "--addr") == 0 && inet_pton(AF_INET, v, &addr) == 1)
            ;
        else if (strcmp(a, "--gw") == 0 && inet_pton(AF_INET, v, &gw) == 1)
            ;
        else if (strcmp(a, "--input") == 0 && (strcmp(v, "lock") == 0 || strcmp(v, "mbox") == 0))
            use_lock = strcmp(v, "lock") == 0;
        else {
            fprintf(stderr, "lwip_tun: bad option %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    for (size_t i = 0; i < sizeof g_chargen; i++) {
        size_t k = (i / CG_LINE) % 95, j = i % CG_LINE;
        g_chargen[i] = j == 72 ? '\r' : j == 73 ? '\n' : (uint8_t)(32 + (k + j) % 95);
    }

    char actual[SL_TUN_NAME_MAX];
    g_fd = sl_tun_open(dev, actual, sizeof actual);
    if (g_fd < 0) {
        fprintf(stderr, "lwip_tun: cannot open TUN %s: %s\n", dev, strerror(-g_fd));
        return 1;
    }
    int rc = sl_tun_set_mtu(actual, g_mtu);
    if (rc == 0)
        rc = sl_tun_set_up(actual);
    if (rc < 0) {
        fprintf(stderr, "lwip_tun: %s: MTU %u / up: %s\n", actual, g_mtu, strerror(-rc));
        return 1;
    }

    sys_sem_t done;
    if (sys_sem_new(&done, 0) != ERR_OK) {
        fprintf(stderr, "lwip_tun: sys_sem_new failed\n");
        return 1;
    }
    tcpip_init(init_done, &done);
    sys_sem_wait(&done);
    sys_sem_free(&done);

    ip4_addr_t ip, mask, gwa;
    ip4_addr_set_u32(&ip, addr.s_addr);
    ip4_addr_set_u32(&gwa, gw.s_addr);
    ip4_addr_set_u32(&mask, prefix == 32 ? 0xffffffffu : htonl(~(0xffffffffu >> prefix)));
    bool ok = true;
    LOCK_TCPIP_CORE();
    if (netif_add(&g_nif, &ip, &mask, &gwa, NULL, tun_netif_init, use_lock ? ip_input : tcpip_input) ==
        NULL) {
        ok = false;
    } else {
        netif_set_default(&g_nif);
        netif_set_link_up(&g_nif);
        netif_set_up(&g_nif);
        ok = svc_listen(7, SVC_ECHO) && svc_listen(9, SVC_DISCARD) && svc_listen(19, SVC_CHARGEN);
    }
    UNLOCK_TCPIP_CORE();
    if (!ok) {
        fprintf(stderr, "lwip_tun: lwIP setup failed\n");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "lwip_tun: lwIP %s on %s, %s/%u, MTU %u, input=%s\n", LWIP_VERSION_STRING,
            actual, inet_ntoa(addr), prefix, g_mtu, use_lock ? "lock" : "mbox");

    static uint8_t bufs[BATCH][PKT_CAP];
    sl_pkt pkts[BATCH];
    for (int i = 0; i < BATCH; i++) {
        pkts[i].buf = bufs[i];
        pkts[i].cap = PKT_CAP;
        pkts[i].len = 0;
    }
    struct pbuf *ps[BATCH];
    double end = now_s() + max_seconds;
    while (!g_stop) {
        if (max_seconds > 0 && now_s() >= end)
            break;
        struct pollfd pfd = {.fd = g_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 200);
        if (pr <= 0)
            continue;
        int n = sl_tun_read_batch(g_fd, pkts, BATCH);
        if (n <= 0)
            continue;
        int np = 0;
        for (int i = 0; i < n; i++) {
            rx_pkts++;
            rx_bytes += pkts[i].len;
            if (pkts[i].len == pkts[i].cap) {
                rx_truncated++;
                continue;
            }
            if (pkts[i].len < 20 || (pkts[i].buf[0] >> 4) != 4) {
                rx_not_ipv4++;
                continue;
            }
            struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)pkts[i].len, PBUF_RAM);
            if (p == NULL) {
                rx_alloc_fail++;
                continue;
            }
            memcpy(p->payload, pkts[i].buf, pkts[i].len);
            ps[np++] = p;
        }
        if (use_lock) {
            LOCK_TCPIP_CORE();
            for (int i = 0; i < np; i++)
                if (g_nif.input(ps[i], &g_nif) != ERR_OK)
                    pbuf_free(ps[i]);
            UNLOCK_TCPIP_CORE();
        } else {
            for (int i = 0; i < np; i++) {
                err_t e = ERR_MEM;
                for (int tries = 0; tries < 100; tries++) { /* ~1 ms: let the tcpip thread drain */
                    e = g_nif.input(ps[i], &g_nif);
                    if (e == ERR_OK)
                        break;
                    if (tries < 10) {
                        sched_yield();
                    } else {
                        struct timespec ts = {0, 10 * 1000};
                        nanosleep(&ts, NULL);
                    }
                }
                if (e != ERR_OK) {
                    rx_mbox_drops++;
                    pbuf_free(ps[i]);
                }
            }
        }
    }
    if (stats) {
        LOCK_TCPIP_CORE();
        fprintf(stderr,
                "lwip_tun stats:\n  rx_pkts %" PRIu64 "\n  rx_bytes %" PRIu64 "\n  rx_not_ipv4 %" PRIu64
                "\n  rx_truncated %" PRIu64 "\n  rx_alloc_fail %" PRIu64 "\n  rx_mbox_drops %" PRIu64
                "\n  tx_pkts %" PRIu64 "\n  tx_bytes %" PRIu64 "\n  tx_errors %" PRIu64
                "\n  conns_accepted %" PRIu64 "\n  conns_open %" PRIu64 "\n  close_failed %" PRIu64 "\n",
                rx_pkts, rx_bytes, rx_not_ipv4, rx_truncated, rx_alloc_fail, rx_mbox_drops, tx_pkts,
                tx_bytes, tx_errors, n_accepted, n_open, n_close_failed);
        UNLOCK_TCPIP_CORE();
    }
    /* lwIP has no clean shutdown of the tcpip thread: just leave. */
    return 0;
}
