/*
 * rt-echo-epoll: a TCP echo server (every address, every port the stack
 * accepts) on a TUN device, driven from an ordinary epoll loop through the
 * runtime's readiness file descriptors (docs/runtime.md).
 *
 *   rt-echo-epoll [--dev NAME] [--max-seconds N]
 *
 * The runtime thread runs the stack; this (main) thread never blocks in a
 * sluice call: it waits in epoll_wait on the accept fd and one eventfd per
 * stream, clears the fd that fired, and calls the non-blocking variants
 * (timeout 0) until they answer SL_ERR_AGAIN.
 */
#define _GNU_SOURCE 1

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sluice/platform.h>
#include <sluice/runtime.h>

typedef struct conn {
    sl_rt_stream *h;
    int fd;
    uint8_t buf[65536]; /* read, not yet written back */
    size_t len;
    bool eof;
    struct conn *prev, *next; /* every open connection, for the exit */
} conn;

static conn *g_conns;

static void conn_unlink(conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* [epoll-step] */
/* Move bytes until both directions would block; false when finished. */
static bool conn_step(conn *c)
{
    for (;;) {
        bool progress = false;
        if (!c->eof && c->len < sizeof c->buf) {
            long n = sl_rt_read(c->h, c->buf + c->len, sizeof c->buf - c->len, 0);
            if (n > 0) {
                c->len += (size_t)n;
                progress = true;
            } else if (n == 0) {
                c->eof = true; /* the peer is done: echo the rest, then close */
            } else if (n != SL_ERR_AGAIN) {
                return false; /* reset, shutdown, ... */
            }
        }
        if (c->len > 0) {
            long w = sl_rt_write(c->h, c->buf, c->len, 0); /* partial is fine */
            if (w > 0) {
                memmove(c->buf, c->buf + w, c->len - (size_t)w);
                c->len -= (size_t)w;
                progress = true;
            } else if (w != SL_ERR_AGAIN) {
                return false;
            }
        }
        if (c->eof && c->len == 0)
            return false;
        if (!progress)
            return true; /* both would block: wait for the fd */
    }
}
/* [epoll-step] */

int main(int argc, char **argv)
{
    const char *dev = "sl0";
    long max_seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dev") == 0 && i + 1 < argc) {
            dev = argv[++i];
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            max_seconds = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: rt-echo-epoll [--dev NAME] [--max-seconds N]\n");
            return 2;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char name[SL_TUN_NAME_MAX];
    int tfd = sl_tun_open(dev, name, sizeof name);
    if (tfd < 0 || sl_tun_set_up(name) < 0) {
        fprintf(stderr, "rt-echo-epoll: cannot open TUN device %s (root?)\n", dev);
        return 1;
    }
    uint8_t secret[32];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret)
        return 1;
    /* [epoll-setup] */
    sl_rt_config rc;
    sl_rt_config_init(&rc);
    rc.stack.secret = secret;
    rc.stack.secret_len = sizeof secret;
    rc.dev.fd = tfd;
    sl_error err;
    sl_rt *rt = sl_rt_new(&rc, &err);
    if (rt == NULL || sl_rt_start(rt) != SL_OK) {
        fprintf(stderr, "rt-echo-epoll: %s\n", sl_strerror(err));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int afd = sl_rt_accept_fd(rt);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the acceptor */
    epoll_ctl(ep, EPOLL_CTL_ADD, afd, &ev);
    /* [epoll-setup] */
    fprintf(stderr, "rt-echo-epoll: echo on %s (every address and port)\n", name);
    time_t end = max_seconds > 0 ? time(NULL) + max_seconds : 0;
    unsigned long served = 0;
    while (!g_stop && (end == 0 || time(NULL) < end)) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 200);
        /* [epoll-loop] */
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) { /* new connections */
                sl_rt_fd_clear(afd);
                sl_rt_stream *h;
                while (sl_rt_accept(rt, &h, 0) == SL_OK) {
                    c = calloc(1, sizeof *c);
                    c->h = h;
                    c->fd = sl_rt_stream_fd(h); /* starts readable: step once */
                    c->next = g_conns;
                    if (g_conns != NULL)
                        g_conns->prev = c;
                    g_conns = c;
                    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
                }
                continue;
            }
            sl_rt_fd_clear(c->fd); /* clear first, then drain: no lost wake-up */
            if (!conn_step(c)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); /* before close */
                (void)sl_rt_close(c->h, 0); /* the rest leaves in the background */
                conn_unlink(c);
                free(c);
                served++;
            }
        }
        /* [epoll-loop] */
    }
    fprintf(stderr, "rt-echo-epoll: %lu connections served, exiting\n", served);
    sl_rt_stop(rt);
    close(ep);
    while (g_conns != NULL) { /* still open: close (never waits once stopped) */
        conn *c = g_conns;
        conn_unlink(c);
        (void)sl_rt_close(c->h, 0);
        free(c);
    }
    sl_rt_free(rt);
    close(tfd);
    return 0;
}
