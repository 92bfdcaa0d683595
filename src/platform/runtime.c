/*
 * sluice runtime (include/sluice/runtime.h, docs/runtime.md): one thread
 * owns a stack and a device; application threads reach it through
 * lock-free queues and per-handle byte rings.  Nothing here locks; the
 * stack is only ever called from the runtime thread.
 *
 * Pieces, all written for this file:
 *   - rt_q: a bounded multi-producer multi-consumer queue of (op, pointer)
 *     with one sequence number per slot (the slot is free for the producer
 *     of ticket t when seq == t, holds data for the consumer of ticket t
 *     when seq == t + 1).  Used as the command queue (many app threads ->
 *     runtime) and as the accept queues (runtime -> many app threads).
 *   - bring: a single-producer single-consumer byte ring (head written
 *     only by the producer, tail only by the consumer).  Each stream has
 *     two: rx (runtime -> reader thread) and tx (writer thread ->
 *     runtime); the busy flags make "single" true.
 *   - wake-ups: every handle has a 32-bit sequence number that the
 *     runtime bumps after each change; a blocked app thread waits on it
 *     with futex(2) (only if it announced itself in `waiters`), and the
 *     optional readiness eventfd is written as well.
 *   - flags with exchange on both sides (tx_kick, rx_stalled, cmd_wake):
 *     the side that makes a change then exchanges the flag; the reads-from
 *     chain of the exchanges makes either the other side see the change or
 *     this side see the flag, so no wake-up is lost and no command is sent
 *     twice for one change.
 */
#define _GNU_SOURCE 1

#include "sluice/runtime.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sluice/platform.h"

#define RT_BATCH 64
#define RT_PKT_CAP 65536
#define RT_WAIT_SLICE_MS 100 /* the longest single sleep: a stop is seen within it */
#define RT_DGRAM_MAX 65507u

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */
/* ---------------------------------------------------------------------- */

static sl_time mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_time)ts.tv_sec * 1000000u + (sl_time)ts.tv_nsec / 1000u;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    (void)syscall(SYS_futex, (void *)(uintptr_t)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    (void)syscall(SYS_futex, (void *)(uintptr_t)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void efd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is saturated, i.e. readable anyway */
}

void sl_rt_fd_clear(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}

/* A deadline in CLOCK_MONOTONIC milliseconds; timeout -1 = none. */
typedef struct deadline {
    int timeout;
    sl_time end_us;
} deadline;

static deadline deadline_of(int timeout_ms)
{
    deadline d = {timeout_ms, 0};
    if (timeout_ms > 0)
        d.end_us = mono_us() + (sl_time)timeout_ms * 1000u;
    return d;
}

/* How long to sleep now (ms, at most one slice), or -1: the deadline has
 * passed (or timeout 0). */
static long deadline_slice(const deadline *d)
{
    if (d->timeout == 0)
        return -1;
    if (d->timeout < 0)
        return RT_WAIT_SLICE_MS;
    sl_time now = mono_us();
    if (now >= d->end_us)
        return -1;
    sl_time left = (d->end_us - now + 999u) / 1000u;
    return left > RT_WAIT_SLICE_MS ? RT_WAIT_SLICE_MS : (long)left;
}

/* A waitable sequence number: the runtime bumps it after every change. */
typedef struct waitpoint {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
} waitpoint;

static void wp_bump(waitpoint *w)
{
    atomic_fetch_add(&w->seq, 1);
    if (atomic_load(&w->waiters) > 0)
        futex_wake(&w->seq);
}

/* Sleep until the sequence number moves past `seen`, at most `ms`. */
static void wp_wait(waitpoint *w, uint32_t seen, long ms)
{
    atomic_fetch_add(&w->waiters, 1);
    if (atomic_load(&w->seq) == seen)
        futex_wait(&w->seq, seen, ms);
    atomic_fetch_sub(&w->waiters, 1);
}

/* ---------------------------------------------------------------------- */
/* rt_q: bounded MPMC queue of (op, pointer)                              */
/* ---------------------------------------------------------------------- */

typedef struct rt_slot {
    _Atomic size_t seq;
    uint32_t op;
    void *ptr;
} rt_slot;

typedef struct rt_q {
    rt_slot *slots;
    size_t mask;
    alignas(64) _Atomic size_t enq;
    alignas(64) _Atomic size_t deq;
} rt_q;

static bool q_init(rt_q *q, size_t cap)
{
    q->slots = calloc(cap, sizeof *q->slots);
    if (q->slots == NULL)
        return false;
    q->mask = cap - 1;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&q->slots[i].seq, i);
    atomic_init(&q->enq, 0);
    atomic_init(&q->deq, 0);
    return true;
}

static bool q_push(rt_q *q, uint32_t op, void *ptr)
{
    size_t t = atomic_load_explicit(&q->enq, memory_order_relaxed);
    for (;;) {
        rt_slot *s = &q->slots[t & q->mask];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == t) {
            if (atomic_compare_exchange_weak_explicit(&q->enq, &t, t + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                s->op = op;
                s->ptr = ptr;
                atomic_store_explicit(&s->seq, t + 1, memory_order_release);
                return true;
            }
        } else if ((ptrdiff_t)(seq - t) < 0) {
            return false; /* full: the slot still holds ticket t - cap */
        } else {
            t = atomic_load_explicit(&q->enq, memory_order_relaxed);
        }
    }
}

static bool q_pop(rt_q *q, uint32_t *op, void **ptr)
{
    size_t t = atomic_load_explicit(&q->deq, memory_order_relaxed);
    for (;;) {
        rt_slot *s = &q->slots[t & q->mask];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == t + 1) {
            if (atomic_compare_exchange_weak_explicit(&q->deq, &t, t + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *op = s->op;
                *ptr = s->ptr;
                atomic_store_explicit(&s->seq, t + q->mask + 1, memory_order_release);
                return true;
            }
        } else if ((ptrdiff_t)(seq - (t + 1)) < 0) {
            return false; /* empty */
        } else {
            t = atomic_load_explicit(&q->deq, memory_order_relaxed);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* bring: SPSC byte ring                                                  */
/* ---------------------------------------------------------------------- */

typedef struct bring {
    uint8_t *buf;
    size_t cap; /* power of two */
    alignas(64) _Atomic size_t head; /* bytes ever written (producer) */
    alignas(64) _Atomic size_t tail; /* bytes ever read (consumer)    */
} bring;

static bool br_init(bring *b, size_t cap)
{
    b->buf = malloc(cap);
    b->cap = cap;
    atomic_init(&b->head, 0);
    atomic_init(&b->tail, 0);
    return b->buf != NULL;
}

/* Either side: bytes held now (exact for the caller's own side). */
static size_t br_used(bring *b)
{
    size_t t = atomic_load_explicit(&b->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&b->head, memory_order_acquire);
    return h - t;
}

/* Producer: contiguous free span at the head. */
static size_t br_wspan(bring *b, uint8_t **p)
{
    size_t h = atomic_load_explicit(&b->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&b->tail, memory_order_acquire);
    size_t free = b->cap - (h - t);
    size_t off = h & (b->cap - 1);
    size_t run = b->cap - off;
    *p = b->buf + off;
    return free < run ? free : run;
}

static void br_wcommit(bring *b, size_t n)
{
    atomic_store_explicit(&b->head, atomic_load_explicit(&b->head, memory_order_relaxed) + n,
                          memory_order_release);
}

static size_t br_free(bring *b)
{
    size_t h = atomic_load_explicit(&b->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&b->tail, memory_order_acquire);
    return b->cap - (h - t);
}

/* Producer: copy at logical offset `at` past the head (not published). */
static void br_put(bring *b, size_t at, const uint8_t *src, size_t n)
{
    if (n == 0)
        return;
    size_t h = atomic_load_explicit(&b->head, memory_order_relaxed) + at;
    size_t off = h & (b->cap - 1);
    size_t first = b->cap - off < n ? b->cap - off : n;
    memcpy(b->buf + off, src, first);
    memcpy(b->buf, src + first, n - first);
}

/* Consumer: contiguous data span at the tail. */
static size_t br_rspan(bring *b, uint8_t **p)
{
    size_t t = atomic_load_explicit(&b->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&b->head, memory_order_acquire);
    size_t used = h - t;
    size_t off = t & (b->cap - 1);
    size_t run = b->cap - off;
    *p = b->buf + off;
    return used < run ? used : run;
}

/* Consumer: copy n bytes at logical offset `at` past the tail. */
static void br_get(bring *b, size_t at, uint8_t *dst, size_t n)
{
    if (n == 0)
        return;
    size_t t = atomic_load_explicit(&b->tail, memory_order_relaxed) + at;
    size_t off = t & (b->cap - 1);
    size_t first = b->cap - off < n ? b->cap - off : n;
    memcpy(dst, b->buf + off, first);
    memcpy(dst + first, b->buf, n - first);
}

/* Consumer: release n bytes (seq_cst: see rx_stalled). */
static void br_rcommit(bring *b, size_t n)
{
    atomic_store(&b->tail, atomic_load_explicit(&b->tail, memory_order_relaxed) + n);
}

/* ---------------------------------------------------------------------- */
/* Handles and the runtime                                                */
/* ---------------------------------------------------------------------- */

enum cmd {
    CMD_CONNECT = 1, /* stream: sl_stream_connect(req_local, req_remote)     */
    CMD_DOPEN,       /* dgram: sl_dgram_open(bind)                           */
    CMD_PUSH,        /* tx ring has bytes                                    */
    CMD_PULL,        /* rx ring has room again                               */
    CMD_SHUTDOWN,    /* stream: FIN after the tx ring                        */
    CMD_ABORT,       /* stream: RST                                          */
    CMD_CLOSE        /* flush, free the core handle, drop the runtime's ref  */
};

typedef struct rt_h {
    sl_rt *rt;
    bool is_stream;
    bool has_bind; /* dgram open: bind given */
    _Atomic int refs;
    waitpoint wp;
    _Atomic int efd;
    _Atomic int err;          /* sticky error set by the runtime, 0 if none  */
    _Atomic bool connected;   /* stream established (local is final)        */
    _Atomic bool rx_eof;      /* stream: FIN in the rx ring; dgram: closed  */
    _Atomic bool wr_closed;   /* app: shutdown / abort / close              */
    _Atomic bool aborted;
    _Atomic bool rx_busy, tx_busy;
    _Atomic bool rx_stalled;  /* runtime left data in the stack: ring full  */
    _Atomic bool tx_kick;     /* a CMD_PUSH is queued                       */
    _Atomic bool done;        /* CMD_CLOSE / CMD_DOPEN / CMD_CONNECT done    */
    _Atomic int done_err;
    bring rx, tx;
    sl_endpoint req_local, req_remote; /* app: connect / bind request       */
    sl_endpoint local, remote;         /* final, published by `connected`   */
    /* runtime thread only */
    sl_stream cs;
    sl_dgram cd;
    bool core;      /* cs/cd is live */
    bool want_fin, fin_done, closing;
    struct rt_h *prev, *next;
} rt_h;

struct sl_rt {
    sl_rt_config rc;
    uint8_t secret[64];
    sl_stack *s;
    pthread_t thread;
    bool started, joined;
    _Atomic bool stopping;
    int cmd_efd;
    _Atomic bool cmd_wake;
    rt_q cmds;
    rt_q acc_streams, acc_dgrams;
    waitpoint acc_wp;
    _Atomic int acc_efd;
    _Atomic uint64_t st_loops, st_cmds, st_in, st_out, st_txdrop, st_accovf;
    /* runtime thread only */
    rt_h *list; /* handles with a live core handle (the runtime holds a ref) */
    sl_time now;
    uint8_t *pkt;      /* RT_BATCH slots of RT_PKT_CAP */
    uint8_t *dgbuf;    /* one datagram */
};

#define H(p) ((rt_h *)(void *)(p))
#define S_OF(h) ((sl_rt_stream *)(void *)(h))
#define D_OF(h) ((sl_rt_dgram *)(void *)(h))

static void cnt(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static rt_h *h_new(sl_rt *rt, bool is_stream, int refs)
{
    rt_h *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    size_t cap = is_stream ? rt->rc.stream_buf : rt->rc.dgram_buf;
    if (!br_init(&h->rx, cap) || !br_init(&h->tx, cap)) {
        free(h->rx.buf);
        free(h->tx.buf);
        free(h);
        return NULL;
    }
    h->rt = rt;
    h->is_stream = is_stream;
    atomic_init(&h->refs, refs);
    atomic_init(&h->efd, -1);
    return h;
}

static void h_destroy(rt_h *h)
{
    int fd = atomic_load(&h->efd);
    if (fd >= 0)
        close(fd);
    free(h->rx.buf);
    free(h->tx.buf);
    free(h);
}

static void h_release(rt_h *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        h_destroy(h);
}

/* Drop a reference that is known not to be the last (the caller holds
 * another). */
static void h_unref(rt_h *h)
{
    atomic_fetch_sub(&h->refs, 1);
}

/* Runtime: tell every waiter of h that something changed. */
static void h_notify(rt_h *h)
{
    wp_bump(&h->wp);
    int fd = atomic_load(&h->efd);
    if (fd >= 0)
        efd_signal(fd);
}

static void set_err(rt_h *h, int e)
{
    int zero = 0;
    atomic_compare_exchange_strong(&h->err, &zero, e);
}

static void list_add(sl_rt *rt, rt_h *h)
{
    h->prev = NULL;
    h->next = rt->list;
    if (rt->list != NULL)
        rt->list->prev = h;
    rt->list = h;
}

static void list_del(sl_rt *rt, rt_h *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        rt->list = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

/* App: queue a command about h (holding a reference for it) and wake the
 * runtime.  False when the runtime is stopping. */
static bool post(sl_rt *rt, uint32_t op, rt_h *h)
{
    atomic_fetch_add(&h->refs, 1);
    for (unsigned spins = 0;; spins++) {
        if (atomic_load(&rt->stopping)) {
            h_unref(h); /* the caller still holds its own */
            return false;
        }
        if (q_push(&rt->cmds, op, h))
            break;
        /* full: the runtime is behind; let it run */
        if (!atomic_exchange(&rt->cmd_wake, true))
            efd_signal(rt->cmd_efd);
        if (spins < 64)
            sched_yield();
        else
            usleep(100);
    }
    if (!atomic_exchange(&rt->cmd_wake, true))
        efd_signal(rt->cmd_efd);
    return true;
}

/* ---------------------------------------------------------------------- */
/* Runtime thread: moving bytes between the rings and the stack           */
/* ---------------------------------------------------------------------- */

static void h_drop_core(sl_rt *rt, rt_h *h)
{
    if (!h->core)
        return;
    if (h->is_stream)
        (void)sl_stream_free(rt->s, h->cs);
    else
        (void)sl_dgram_free(rt->s, h->cd);
    h->core = false;
    list_del(rt, h);
    h_release(h); /* the runtime's reference */
}

static void finish_close(sl_rt *rt, rt_h *h, int result)
{
    atomic_store(&h->done_err, result);
    atomic_store(&h->done, true);
    h_notify(h);
    h_drop_core(rt, h);
}

static void stream_pump(sl_rt *rt, rt_h *h)
{
    if (!h->core)
        return;
    bool changed = false;
    uint8_t *p;
    /* tx ring -> stack */
    for (;;) {
        size_t n = br_rspan(&h->tx, &p);
        if (n == 0 || atomic_load(&h->aborted))
            break;
        long w = sl_stream_write(rt->s, h->cs, p, n);
        if (w > 0) {
            br_rcommit(&h->tx, (size_t)w);
            changed = true;
            continue;
        }
        if (w == SL_ERR_AGAIN || w == 0)
            break; /* SL_EV_WRITABLE follows */
        set_err(h, (int)w);
        br_rcommit(&h->tx, br_used(&h->tx)); /* nobody will take these */
        changed = true;
        break;
    }
    if (h->want_fin && !h->fin_done && br_used(&h->tx) == 0) {
        (void)sl_stream_shutdown(rt->s, h->cs);
        h->fin_done = true;
    }
    /* stack -> rx ring */
    while (!atomic_load(&h->rx_eof) && atomic_load(&h->err) == 0) {
        size_t n = br_wspan(&h->rx, &p);
        if (n == 0) {
            atomic_exchange(&h->rx_stalled, true);
            if (br_free(&h->rx) > 0 && atomic_exchange(&h->rx_stalled, false))
                continue;
            break; /* the reader sends CMD_PULL after making room */
        }
        long r = sl_stream_read(rt->s, h->cs, p, n);
        if (r > 0) {
            br_wcommit(&h->rx, (size_t)r);
            changed = true;
        } else if (r == 0) {
            atomic_store(&h->rx_eof, true);
            changed = true;
        } else if (r == SL_ERR_AGAIN) {
            break;
        } else {
            set_err(h, (int)r);
            changed = true;
        }
    }
    if (h->closing && (br_used(&h->tx) == 0 || atomic_load(&h->err) != 0 ||
                       atomic_load(&h->aborted))) {
        int e = atomic_load(&h->err);
        finish_close(rt, h, br_used(&h->tx) == 0 ? SL_OK : (e != 0 ? e : SL_ERR_CLOSED));
        return;
    }
    if (changed)
        h_notify(h);
}

/* Datagram records in the rings: this header, then len bytes. */
typedef struct dg_hdr {
    uint32_t len;
    uint32_t has_to;
    sl_endpoint a; /* rx: from (remote); tx: to */
    sl_endpoint b; /* rx: to (local) */
} dg_hdr;

static void dgram_pump(sl_rt *rt, rt_h *h)
{
    if (!h->core)
        return;
    bool changed = false;
    /* tx ring -> stack, one record at a time */
    while (br_used(&h->tx) >= sizeof(dg_hdr)) {
        dg_hdr hd;
        br_get(&h->tx, 0, (uint8_t *)&hd, sizeof hd);
        br_get(&h->tx, sizeof hd, rt->dgbuf, hd.len);
        sl_error e = hd.has_to
                         ? sl_dgram_sendto(rt->s, h->cd, NULL, &hd.a, rt->dgbuf, hd.len)
                         : sl_dgram_send(rt->s, h->cd, rt->dgbuf, hd.len);
        if (e == SL_ERR_AGAIN)
            break; /* SL_EV_WRITABLE follows */
        if (e == SL_ERR_CLOSED || e == SL_ERR_STALE) {
            atomic_store(&h->rx_eof, true);
            br_rcommit(&h->tx, br_used(&h->tx));
            changed = true;
            break;
        }
        /* sent, or a per-datagram error (too big, ...): it is consumed */
        br_rcommit(&h->tx, sizeof hd + hd.len);
        changed = true;
    }
    /* stack -> rx ring while a largest datagram fits */
    while (!atomic_load(&h->rx_eof)) {
        if (br_free(&h->rx) < sizeof(dg_hdr) + RT_PKT_CAP) {
            atomic_exchange(&h->rx_stalled, true);
            if (br_free(&h->rx) >= sizeof(dg_hdr) + RT_PKT_CAP &&
                atomic_exchange(&h->rx_stalled, false))
                continue;
            break;
        }
        dg_hdr hd;
        memset(&hd, 0, sizeof hd);
        long r = sl_dgram_recv(rt->s, h->cd, rt->dgbuf, RT_PKT_CAP, &hd.a, &hd.b);
        if (r >= 0) {
            hd.len = (uint32_t)(r > RT_PKT_CAP ? RT_PKT_CAP : r);
            br_put(&h->rx, 0, (const uint8_t *)&hd, sizeof hd);
            br_put(&h->rx, sizeof hd, rt->dgbuf, hd.len);
            br_wcommit(&h->rx, sizeof hd + hd.len);
            changed = true;
        } else if (r == SL_ERR_AGAIN) {
            break;
        } else {
            atomic_store(&h->rx_eof, true); /* SL_ERR_CLOSED: the flow ended */
            changed = true;
        }
    }
    if (h->closing) {
        finish_close(rt, h, SL_OK);
        return;
    }
    if (changed)
        h_notify(h);
}

static void pump(sl_rt *rt, rt_h *h)
{
    if (h->is_stream)
        stream_pump(rt, h);
    else
        dgram_pump(rt, h);
}

static void acc_notify(sl_rt *rt)
{
    wp_bump(&rt->acc_wp);
    int fd = atomic_load(&rt->acc_efd);
    if (fd >= 0)
        efd_signal(fd);
}

/* The flow or connection is over.  A stream whose reader has not reached
 * the end and has nothing left to pull must not wait forever: it gets the
 * stack's sticky error (or SL_ERR_CLOSED). */
static void on_closed(sl_rt *rt, rt_h *h)
{
    if (!h->core)
        return;
    if (!h->is_stream) {
        atomic_store(&h->rx_eof, true);
        h_notify(h);
        return;
    }
    sl_stream_info info;
    if (atomic_load(&h->rx_eof) || atomic_load(&h->err) != 0 ||
        sl_stream_info_get(rt->s, h->cs, &info) != SL_OK || info.readable > 0)
        return;
    set_err(h, info.error != SL_OK ? (int)info.error : SL_ERR_CLOSED);
    h_notify(h);
}

static void on_new_stream(sl_rt *rt, sl_stream cs)
{
    rt_h *h = h_new(rt, true, 2); /* the app's (once accepted) + the runtime's */
    sl_stream_info info;
    if (h == NULL || sl_stream_info_get(rt->s, cs, &info) != SL_OK) {
        if (h != NULL)
            h_destroy(h);
        (void)sl_stream_abort(rt->s, cs);
        (void)sl_stream_free(rt->s, cs);
        cnt(&rt->st_accovf, 1);
        return;
    }
    h->cs = cs;
    h->core = true;
    h->local = h->req_local = info.local;
    h->remote = h->req_remote = info.remote;
    atomic_store(&h->connected, true);
    (void)sl_stream_set_user(rt->s, cs, h);
    if (!q_push(&rt->acc_streams, 0, h)) {
        (void)sl_stream_abort(rt->s, cs);
        (void)sl_stream_free(rt->s, cs);
        h_destroy(h); /* never shared */
        cnt(&rt->st_accovf, 1);
        return;
    }
    list_add(rt, h);
    stream_pump(rt, h);
    /* reset (or closed) before it got here: its events may be gone */
    if (info.state == SL_TCP_CLOSED ||
        (sl_stream_info_get(rt->s, cs, &info) == SL_OK && info.state == SL_TCP_CLOSED))
        on_closed(rt, h);
    acc_notify(rt);
}

static void on_new_dgram(sl_rt *rt, sl_dgram cd)
{
    rt_h *h = h_new(rt, false, 2);
    sl_dgram_info info;
    if (h == NULL || sl_dgram_info_get(rt->s, cd, &info) != SL_OK ||
        !q_push(&rt->acc_dgrams, 0, h)) {
        if (h != NULL)
            h_destroy(h); /* never shared */
        (void)sl_dgram_free(rt->s, cd);
        cnt(&rt->st_accovf, 1);
        return;
    }
    h->cd = cd;
    h->core = true;
    h->local = h->req_local = info.local;
    h->remote = h->req_remote = info.remote;
    atomic_store(&h->connected, true);
    (void)sl_dgram_set_user(rt->s, cd, h);
    list_add(rt, h);
    dgram_pump(rt, h);
    acc_notify(rt);
}

static void handle_events(sl_rt *rt)
{
    sl_event ev;
    while (sl_next_event(rt->s, &ev)) {
        if (ev.type == SL_EV_STREAM_NEW) {
            if (sl_stream_user(rt->s, ev.stream) == NULL)
                on_new_stream(rt, ev.stream);
            continue;
        }
        if (ev.type == SL_EV_DGRAM_NEW) {
            if (sl_dgram_user(rt->s, ev.dgram) == NULL)
                on_new_dgram(rt, ev.dgram);
            continue;
        }
        /* Ask the stack for the handle's user pointer rather than trust
           ev.user: a handle whose *_NEW was refused above (no rt_h) has
           none, and its later events are skipped here */
        rt_h *h = ev.is_stream ? sl_stream_user(rt->s, ev.stream) : sl_dgram_user(rt->s, ev.dgram);
        if (h == NULL)
            continue;
        switch (ev.type) {
        case SL_EV_CONNECTED: {
            sl_stream_info info;
            if (sl_stream_info_get(rt->s, h->cs, &info) == SL_OK) {
                h->local = info.local;
                h->remote = info.remote;
            }
            atomic_store(&h->connected, true);
            h_notify(h);
            break;
        }
        case SL_EV_ERROR:
            if (h->is_stream) {
                pump(rt, h); /* whatever the stack still gives comes first */
                set_err(h, ev.error != SL_OK ? (int)ev.error : SL_ERR_CLOSED);
            }
            h_notify(h);
            break;
        case SL_EV_RESET:
            pump(rt, h);
            set_err(h, SL_ERR_RESET);
            h_notify(h);
            break;
        case SL_EV_STREAM_NEW:
        case SL_EV_DGRAM_NEW:
        case SL_EV_READABLE:
        case SL_EV_WRITABLE:
        case SL_EV_PEER_FIN:
        case SL_EV_CLOSED:
            break;
        }
        pump(rt, h);
        if (ev.type == SL_EV_CLOSED)
            on_closed(rt, h);
    }
}

static void run_command(sl_rt *rt, uint32_t op, rt_h *h)
{
    cnt(&rt->st_cmds, 1);
    switch (op) {
    case CMD_CONNECT: {
        sl_error e = sl_stream_connect(rt->s, &h->req_local, &h->req_remote, h, &h->cs);
        if (e != SL_OK) {
            set_err(h, e);
            h_notify(h);
            break;
        }
        h->core = true;
        atomic_fetch_add(&h->refs, 1);
        list_add(rt, h);
        stream_pump(rt, h); /* bytes written before the handshake */
        break;
    }
    case CMD_DOPEN: {
        sl_error e = sl_dgram_open(rt->s, h->has_bind ? &h->req_local : NULL, h, &h->cd);
        if (e == SL_OK) {
            sl_dgram_info info;
            if (sl_dgram_info_get(rt->s, h->cd, &info) == SL_OK)
                h->local = info.local;
            h->core = true;
            atomic_fetch_add(&h->refs, 1);
            list_add(rt, h);
            atomic_store(&h->connected, true);
        }
        atomic_store(&h->done_err, e);
        atomic_store(&h->done, true);
        h_notify(h);
        break;
    }
    case CMD_PUSH:
        atomic_exchange(&h->tx_kick, false);
        pump(rt, h);
        break;
    case CMD_PULL:
        pump(rt, h);
        break;
    case CMD_SHUTDOWN:
        h->want_fin = true;
        pump(rt, h);
        break;
    case CMD_ABORT:
        if (h->core) {
            (void)sl_stream_abort(rt->s, h->cs);
            br_rcommit(&h->tx, br_used(&h->tx));
        }
        set_err(h, SL_ERR_CLOSED);
        h_notify(h);
        break;
    case CMD_CLOSE:
        if (!h->core) {
            /* never connected (failed), or already finished */
            atomic_store(&h->done_err, SL_OK);
            atomic_store(&h->done, true);
            h_notify(h);
            break;
        }
        h->closing = true;
        h->want_fin = true;
        pump(rt, h);
        break;
    default:
        break;
    }
    h_release(h); /* the command's reference */
}

/* True if it stopped at its bound with commands left (look again at once:
 * their producers will not wake the runtime a second time). */
static bool drain_commands(sl_rt *rt)
{
    (void)atomic_exchange(&rt->cmd_wake, false);
    uint32_t op;
    void *p;
    /* bounded per turn, so packets and timers keep flowing */
    for (size_t i = 0; i <= rt->cmds.mask; i++) {
        if (!q_pop(&rt->cmds, &op, &p))
            return false;
        run_command(rt, op, p);
    }
    return true;
}

static void rt_tx(void *ctx, uint8_t *buf, size_t len)
{
    sl_rt *rt = ctx;
    cnt(&rt->st_out, 1);
    if (rt->rc.dev.fd >= 0) {
        if (sl_tun_write(rt->rc.dev.fd, buf, len) < 0)
            cnt(&rt->st_txdrop, 1);
    } else {
        rt->rc.dev.send(rt->rc.dev.ctx, buf, len);
    }
}

/* Read up to one batch of packets into the stack; true if the device may
 * have more (a full batch). */
static bool device_input(sl_rt *rt, bool *dead)
{
    int got = 0;
    if (rt->rc.dev.fd >= 0) {
        sl_pkt pk[RT_BATCH];
        for (int i = 0; i < RT_BATCH; i++) {
            pk[i].buf = rt->pkt + (size_t)i * RT_PKT_CAP;
            pk[i].cap = RT_PKT_CAP;
            pk[i].len = 0;
        }
        got = sl_tun_read_batch(rt->rc.dev.fd, pk, RT_BATCH);
        if (got < 0) {
            *dead = true;
            return false;
        }
        for (int i = 0; i < got; i++)
            (void)sl_input(rt->s, pk[i].buf, pk[i].len, rt->now);
    } else {
        for (; got < RT_BATCH; got++) {
            int n = rt->rc.dev.recv(rt->rc.dev.ctx, rt->pkt, RT_PKT_CAP);
            if (n < 0) {
                *dead = true;
                return false;
            }
            if (n == 0)
                break;
            (void)sl_input(rt->s, rt->pkt, (size_t)n, rt->now);
        }
    }
    cnt(&rt->st_in, (uint64_t)got);
    return got == RT_BATCH;
}

static void *rt_main(void *arg)
{
    sl_rt *rt = arg;
    struct pollfd pfd[2];
    pfd[0].fd = rt->cmd_efd;
    pfd[0].events = POLLIN;
    pfd[1].fd = rt->rc.dev.fd >= 0 ? rt->rc.dev.fd : rt->rc.dev.wake_fd;
    pfd[1].events = POLLIN;
    bool more = true, dead = false;
    rt->now = mono_us();
    while (!atomic_load(&rt->stopping) && !dead) {
        cnt(&rt->st_loops, 1);
        int tmo = -1;
        sl_time next = sl_poll_at(rt->s);
        if (more || next <= rt->now) {
            tmo = 0;
        } else if (next != SL_TIME_NEVER) {
            sl_time ms = (next - rt->now + 999u) / 1000u;
            tmo = ms > 1000u ? 1000 : (int)ms;
        }
        if (tmo != 0 && atomic_load(&rt->cmd_wake))
            tmo = 0;
        int pr = poll(pfd, 2, tmo);
        rt->now = mono_us();
        if (pr > 0 && (pfd[0].revents & POLLIN))
            sl_rt_fd_clear(rt->cmd_efd);
        more = device_input(rt, &dead);
        handle_events(rt);
        if (drain_commands(rt))
            more = true;
        handle_events(rt);
        (void)sl_poll(rt->s, rt->now);
        handle_events(rt);
    }
    /* Stopping: every waiter returns SL_ERR_SHUTDOWN (they check the flag
     * after each wake-up); queued commands only drop their references. */
    atomic_store(&rt->stopping, true);
    uint32_t op;
    void *p;
    while (q_pop(&rt->cmds, &op, &p)) {
        h_notify(p);
        h_release(p);
    }
    while (rt->list != NULL) {
        rt_h *h = rt->list;
        list_del(rt, h);
        h->core = false; /* freed with the stack */
        h_notify(h);
        h_release(h);
    }
    acc_notify(rt);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */
/* ---------------------------------------------------------------------- */

void sl_rt_config_init(sl_rt_config *rc)
{
    memset(rc, 0, sizeof *rc);
    sl_config_init(&rc->stack);
    rc->dev.fd = -1;
    rc->dev.wake_fd = -1;
    rc->cmd_queue = 4096;
    rc->accept_queue = 1024;
    rc->stream_buf = 65536;
    rc->dgram_buf = 262144;
}

static bool pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

sl_rt *sl_rt_new(const sl_rt_config *rc, sl_error *err)
{
    sl_error dummy;
    if (err == NULL)
        err = &dummy;
    *err = SL_ERR_INVAL;
    if (rc == NULL || !pow2(rc->cmd_queue) || rc->cmd_queue < 16 ||
        !pow2(rc->stream_buf) || rc->stream_buf < 4096 || rc->stream_buf > (64u << 20) ||
        !pow2(rc->dgram_buf) || rc->dgram_buf < 131072 || rc->accept_queue == 0 ||
        rc->accept_queue > (1u << 20) || rc->stack.secret_len > 64)
        return NULL;
    if (rc->dev.fd < 0 && (rc->dev.recv == NULL || rc->dev.send == NULL || rc->dev.wake_fd < 0))
        return NULL;
    sl_rt *rt = calloc(1, sizeof *rt);
    if (rt == NULL) {
        *err = SL_ERR_NOMEM;
        return NULL;
    }
    rt->rc = *rc;
    if (rc->stack.secret != NULL) {
        memcpy(rt->secret, rc->stack.secret, rc->stack.secret_len);
        rt->rc.stack.secret = rt->secret;
    }
    rt->rc.stack.tx.get_buffer = NULL;
    rt->rc.stack.tx.send = rt_tx;
    rt->rc.stack.tx.ctx = rt;
    atomic_init(&rt->acc_efd, -1);
    rt->cmd_efd = -1;
    size_t accq = 1;
    while (accq < rc->accept_queue)
        accq <<= 1;
    *err = SL_ERR_NOMEM;
    rt->pkt = malloc((size_t)RT_BATCH * RT_PKT_CAP);
    rt->dgbuf = malloc(RT_PKT_CAP);
    if (rt->pkt == NULL || rt->dgbuf == NULL || !q_init(&rt->cmds, rc->cmd_queue) ||
        !q_init(&rt->acc_streams, accq) || !q_init(&rt->acc_dgrams, accq))
        goto fail;
    rt->cmd_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rt->cmd_efd < 0)
        goto fail;
    sl_allocator heap = sl_allocator_heap();
    rt->s = sl_stack_new(&rt->rc.stack, &heap, err);
    if (rt->s == NULL)
        goto fail;
    *err = SL_OK;
    return rt;
fail:
    if (rt->cmd_efd >= 0)
        close(rt->cmd_efd);
    free(rt->cmds.slots);
    free(rt->acc_streams.slots);
    free(rt->acc_dgrams.slots);
    free(rt->pkt);
    free(rt->dgbuf);
    free(rt);
    return NULL;
}

sl_error sl_rt_start(sl_rt *rt)
{
    if (rt->started)
        return SL_ERR_STATE;
    if (pthread_create(&rt->thread, NULL, rt_main, rt) != 0)
        return SL_ERR_NOMEM;
    rt->started = true;
    return SL_OK;
}

void sl_rt_stop(sl_rt *rt)
{
    atomic_store(&rt->stopping, true);
    efd_signal(rt->cmd_efd);
    /* wake every blocked caller now; they see `stopping` */
    acc_notify(rt);
    if (rt->started && !rt->joined) {
        pthread_join(rt->thread, NULL);
        rt->joined = true;
    }
}

void sl_rt_free(sl_rt *rt)
{
    if (rt == NULL)
        return;
    sl_rt_stop(rt);
    uint32_t op;
    void *p;
    /* commands queued after the thread's last look (or with no thread) */
    while (q_pop(&rt->cmds, &op, &p))
        h_release(p);
    /* accepted by nobody: the app's reference (the runtime's is gone) */
    while (q_pop(&rt->acc_streams, &op, &p))
        h_release(p);
    while (q_pop(&rt->acc_dgrams, &op, &p))
        h_release(p);
    sl_stack_free(rt->s);
    int fd = atomic_load(&rt->acc_efd);
    if (fd >= 0)
        close(fd);
    close(rt->cmd_efd);
    free(rt->cmds.slots);
    free(rt->acc_streams.slots);
    free(rt->acc_dgrams.slots);
    free(rt->pkt);
    free(rt->dgbuf);
    free(rt);
}

sl_stack *sl_rt_stack(sl_rt *rt)
{
    return rt->s;
}

void sl_rt_stats_get(const sl_rt *rt, sl_rt_stats *out)
{
    sl_rt *r = (sl_rt *)(uintptr_t)rt; /* atomics: loads only */
    out->loops = atomic_load_explicit(&r->st_loops, memory_order_relaxed);
    out->commands = atomic_load_explicit(&r->st_cmds, memory_order_relaxed);
    out->pkts_in = atomic_load_explicit(&r->st_in, memory_order_relaxed);
    out->pkts_out = atomic_load_explicit(&r->st_out, memory_order_relaxed);
    out->dev_tx_drops = atomic_load_explicit(&r->st_txdrop, memory_order_relaxed);
    out->accept_overflow = atomic_load_explicit(&r->st_accovf, memory_order_relaxed);
}

/* Create an eventfd on first use; a losing racer closes its own. */
static int lazy_efd(_Atomic int *slot)
{
    int fd = atomic_load(slot);
    if (fd >= 0)
        return fd;
    int nfd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable: look once */
    if (nfd < 0)
        return -1;
    int expect = -1;
    if (!atomic_compare_exchange_strong(slot, &expect, nfd)) {
        close(nfd);
        return expect;
    }
    return nfd;
}

/* ---------------------------------------------------------------------- */
/* Accept and connect                                                     */
/* ---------------------------------------------------------------------- */

int sl_rt_accept_fd(sl_rt *rt)
{
    return lazy_efd(&rt->acc_efd);
}

static sl_error accept_from(sl_rt *rt, rt_q *q, void **out, int timeout_ms)
{
    *out = NULL;
    deadline d = deadline_of(timeout_ms);
    for (;;) {
        uint32_t seen = atomic_load(&rt->acc_wp.seq);
        if (atomic_load(&rt->stopping))
            return SL_ERR_SHUTDOWN;
        uint32_t op;
        if (q_pop(q, &op, out))
            return SL_OK;
        long ms = deadline_slice(&d);
        if (ms < 0)
            return SL_ERR_AGAIN;
        wp_wait(&rt->acc_wp, seen, ms);
    }
}

sl_error sl_rt_accept(sl_rt *rt, sl_rt_stream **out, int timeout_ms)
{
    void *p;
    sl_error e = accept_from(rt, &rt->acc_streams, &p, timeout_ms);
    *out = p;
    return e;
}

sl_error sl_rt_dgram_accept(sl_rt *rt, sl_rt_dgram **out, int timeout_ms)
{
    void *p;
    sl_error e = accept_from(rt, &rt->acc_dgrams, &p, timeout_ms);
    *out = p;
    return e;
}

/* Wait on h until cond(h) holds: SL_OK, SL_ERR_AGAIN, SL_ERR_SHUTDOWN. */

/* Sleep on h's waitpoint until it moves past `seen` or this slice of the
 * deadline ends: SL_ERR_SHUTDOWN once the runtime stops, SL_ERR_AGAIN when
 * the deadline has passed, else SL_OK (look again). */
static sl_error pause_on(rt_h *h, const deadline *d, uint32_t seen)
{
    if (atomic_load(&h->rt->stopping))
        return SL_ERR_SHUTDOWN;
    long ms = deadline_slice(d);
    if (ms < 0)
        return SL_ERR_AGAIN;
    wp_wait(&h->wp, seen, ms);
    return SL_OK;
}
static sl_error h_wait_until(rt_h *h, bool (*cond)(rt_h *), deadline *d)
{
    for (;;) {
        uint32_t seen = atomic_load(&h->wp.seq);
        if (cond(h))
            return SL_OK;
        sl_error w = pause_on(h, d, seen);
        if (w != SL_OK)
            return w;
    }
}

static bool connect_done(rt_h *h)
{
    return atomic_load(&h->connected) || atomic_load(&h->err) != 0;
}

static bool cmd_done(rt_h *h)
{
    return atomic_load(&h->done);
}

sl_error sl_rt_connect(sl_rt *rt, const sl_endpoint *local, const sl_endpoint *remote,
                       sl_rt_stream **out, int timeout_ms)
{
    *out = NULL;
    if (local == NULL || remote == NULL)
        return SL_ERR_INVAL;
    if (atomic_load(&rt->stopping))
        return SL_ERR_SHUTDOWN;
    rt_h *h = h_new(rt, true, 1);
    if (h == NULL)
        return SL_ERR_NOMEM;
    h->req_local = h->local = *local;
    h->req_remote = h->remote = *remote;
    if (!post(rt, CMD_CONNECT, h)) {
        h_release(h);
        return SL_ERR_SHUTDOWN;
    }
    if (timeout_ms == 0) {
        *out = S_OF(h);
        return SL_ERR_AGAIN;
    }
    deadline d = deadline_of(timeout_ms);
    sl_error e = h_wait_until(h, connect_done, &d);
    if (e == SL_OK && !atomic_load(&h->connected))
        e = (sl_error)atomic_load(&h->err);
    if (e == SL_OK) {
        *out = S_OF(h);
        return SL_OK;
    }
    (void)sl_rt_abort(S_OF(h));
    (void)sl_rt_close(S_OF(h), 0);
    return e;
}

/* ---------------------------------------------------------------------- */
/* Streams                                                                */
/* ---------------------------------------------------------------------- */

static bool busy_take(_Atomic bool *b)
{
    return !atomic_exchange(b, true);
}

static void busy_drop(_Atomic bool *b)
{
    atomic_store(b, false);
}

/* App, after consuming from rx: the runtime may have left data in the
 * stack for want of room. */
static void after_consume(rt_h *h)
{
    if (atomic_exchange(&h->rx_stalled, false))
        (void)post(h->rt, CMD_PULL, h);
}

/* App, after producing into tx. */
static void after_produce(rt_h *h)
{
    if (!atomic_exchange(&h->tx_kick, true))
        (void)post(h->rt, CMD_PUSH, h);
}

long sl_rt_read(sl_rt_stream *hs, void *buf, size_t cap, int timeout_ms)
{
    rt_h *h = H(hs);
    if (!h->is_stream || (buf == NULL && cap > 0))
        return SL_ERR_INVAL;
    if (!busy_take(&h->rx_busy))
        return SL_ERR_BUSY;
    deadline d = deadline_of(timeout_ms);
    long ret;
    for (;;) {
        uint32_t seen = atomic_load(&h->wp.seq);
        bool eof = atomic_load(&h->rx_eof);
        int err = atomic_load(&h->err);
        size_t got = 0;
        uint8_t *p;
        while (got < cap) {
            size_t n = br_rspan(&h->rx, &p);
            if (n == 0)
                break;
            if (n > cap - got)
                n = cap - got;
            memcpy((uint8_t *)buf + got, p, n);
            br_rcommit(&h->rx, n);
            got += n;
        }
        if (got > 0) {
            after_consume(h);
            ret = (long)got;
            break;
        }
        if (cap == 0) {
            ret = 0;
            break;
        }
        if (eof) {
            ret = 0;
            break;
        }
        if (err != 0) {
            ret = err;
            break;
        }
        sl_error w = pause_on(h, &d, seen);
        if (w != SL_OK) {
            ret = w;
            break;
        }
    }
    busy_drop(&h->rx_busy);
    return ret;
}

long sl_rt_write(sl_rt_stream *hs, const void *data, size_t len, int timeout_ms)
{
    rt_h *h = H(hs);
    if (!h->is_stream || (data == NULL && len > 0) || len > LONG_MAX)
        return SL_ERR_INVAL;
    if (!busy_take(&h->tx_busy))
        return SL_ERR_BUSY;
    deadline d = deadline_of(timeout_ms);
    size_t done = 0;
    long ret;
    for (;;) {
        uint32_t seen = atomic_load(&h->wp.seq);
        int err = atomic_load(&h->err);
        if (atomic_load(&h->rt->stopping))
            err = SL_ERR_SHUTDOWN;
        else if (atomic_load(&h->wr_closed))
            err = SL_ERR_CLOSED;
        if (err != 0) {
            ret = (done > 0 && timeout_ms >= 0) ? (long)done : err;
            break;
        }
        size_t room = br_free(&h->tx);
        size_t n = len - done < room ? len - done : room;
        if (n > 0) {
            br_put(&h->tx, 0, (const uint8_t *)data + done, n);
            br_wcommit(&h->tx, n);
            done += n;
            after_produce(h);
        }
        if (done == len) {
            ret = (long)len;
            break;
        }
        long ms = deadline_slice(&d);
        if (ms < 0) {
            ret = done > 0 ? (long)done : SL_ERR_AGAIN;
            break;
        }
        wp_wait(&h->wp, seen, ms);
    }
    busy_drop(&h->tx_busy);
    return ret;
}

sl_error sl_rt_shutdown(sl_rt_stream *hs)
{
    rt_h *h = H(hs);
    if (!h->is_stream)
        return SL_ERR_INVAL;
    if (atomic_exchange(&h->wr_closed, true))
        return SL_OK; /* already */
    return post(h->rt, CMD_SHUTDOWN, h) ? SL_OK : SL_ERR_SHUTDOWN;
}

sl_error sl_rt_abort(sl_rt_stream *hs)
{
    rt_h *h = H(hs);
    if (!h->is_stream)
        return SL_ERR_INVAL;
    atomic_store(&h->wr_closed, true);
    if (atomic_exchange(&h->aborted, true))
        return SL_OK;
    return post(h->rt, CMD_ABORT, h) ? SL_OK : SL_ERR_SHUTDOWN;
}

sl_error sl_rt_close(sl_rt_stream *hs, int timeout_ms)
{
    rt_h *h = H(hs);
    if (!h->is_stream)
        return SL_ERR_INVAL;
    if (!busy_take(&h->rx_busy))
        return SL_ERR_BUSY;
    if (!busy_take(&h->tx_busy)) {
        busy_drop(&h->rx_busy);
        return SL_ERR_BUSY;
    }
    atomic_store(&h->wr_closed, true);
    sl_error e = SL_ERR_SHUTDOWN;
    if (post(h->rt, CMD_CLOSE, h)) {
        deadline d = deadline_of(timeout_ms);
        e = h_wait_until(h, cmd_done, &d);
        if (e == SL_OK)
            e = (sl_error)atomic_load(&h->done_err);
    }
    h_release(h); /* the app's reference; the flags die with it */
    return e;
}

int sl_rt_stream_fd(sl_rt_stream *hs)
{
    return lazy_efd(&H(hs)->efd);
}

static unsigned h_poll(const rt_h *hc)
{
    rt_h *h = (rt_h *)(uintptr_t)hc; /* atomics: loads only */
    unsigned m = 0;
    if (atomic_load(&h->rt->stopping) || atomic_load(&h->aborted))
        return SL_RT_POLL_ERR | SL_RT_POLL_IN | SL_RT_POLL_OUT;
    bool eof = atomic_load(&h->rx_eof);
    int err = atomic_load(&h->err);
    size_t need = h->is_stream ? 1 : sizeof(dg_hdr);
    if (br_used(&h->rx) >= need || eof || err != 0)
        m |= SL_RT_POLL_IN;
    if (eof && br_used(&h->rx) == 0)
        m |= SL_RT_POLL_HUP;
    if (err != 0)
        m |= SL_RT_POLL_ERR;
    size_t room = h->is_stream ? 1 : sizeof(dg_hdr) + RT_DGRAM_MAX;
    if ((h->is_stream ? atomic_load(&h->connected) : true) &&
        (h->tx.cap - br_used(&h->tx) >= room || err != 0 || atomic_load(&h->wr_closed)))
        m |= SL_RT_POLL_OUT;
    return m;
}

unsigned sl_rt_stream_poll(const sl_rt_stream *h)
{
    return h_poll((const rt_h *)(const void *)h);
}

void sl_rt_stream_endpoints(const sl_rt_stream *hs, sl_endpoint *local, sl_endpoint *remote)
{
    const rt_h *h = (const rt_h *)(const void *)hs;
    rt_h *hm = (rt_h *)(uintptr_t)h;
    bool c = atomic_load(&hm->connected);
    if (local != NULL)
        *local = c ? h->local : h->req_local;
    if (remote != NULL)
        *remote = c ? h->remote : h->req_remote;
}

/* ---------------------------------------------------------------------- */
/* Datagrams                                                              */
/* ---------------------------------------------------------------------- */

sl_error sl_rt_dgram_open(sl_rt *rt, const sl_endpoint *bind, sl_rt_dgram **out)
{
    *out = NULL;
    if (atomic_load(&rt->stopping))
        return SL_ERR_SHUTDOWN;
    rt_h *h = h_new(rt, false, 1);
    if (h == NULL)
        return SL_ERR_NOMEM;
    if (bind != NULL) {
        h->has_bind = true;
        h->req_local = h->local = *bind;
    }
    if (!post(rt, CMD_DOPEN, h)) {
        h_release(h);
        return SL_ERR_SHUTDOWN;
    }
    deadline d = deadline_of(-1);
    sl_error e = h_wait_until(h, cmd_done, &d);
    if (e == SL_OK)
        e = (sl_error)atomic_load(&h->done_err);
    if (e != SL_OK) {
        h_release(h);
        return e;
    }
    atomic_store(&h->done, false);
    *out = D_OF(h);
    return SL_OK;
}

long sl_rt_recv(sl_rt_dgram *hd, void *buf, size_t cap, sl_endpoint *from, sl_endpoint *to,
                int timeout_ms)
{
    rt_h *h = H(hd);
    if (h->is_stream || (buf == NULL && cap > 0))
        return SL_ERR_INVAL;
    if (!busy_take(&h->rx_busy))
        return SL_ERR_BUSY;
    deadline d = deadline_of(timeout_ms);
    long ret;
    for (;;) {
        uint32_t seen = atomic_load(&h->wp.seq);
        bool eof = atomic_load(&h->rx_eof);
        if (br_used(&h->rx) >= sizeof(dg_hdr)) {
            dg_hdr hdr;
            br_get(&h->rx, 0, (uint8_t *)&hdr, sizeof hdr);
            size_t n = hdr.len < cap ? hdr.len : cap;
            br_get(&h->rx, sizeof hdr, buf, n);
            br_rcommit(&h->rx, sizeof hdr + hdr.len);
            if (from != NULL)
                *from = hdr.a;
            if (to != NULL)
                *to = hdr.b;
            after_consume(h);
            ret = (long)hdr.len;
            break;
        }
        if (eof) {
            ret = SL_ERR_CLOSED;
            break;
        }
        sl_error w = pause_on(h, &d, seen);
        if (w != SL_OK) {
            ret = w;
            break;
        }
    }
    busy_drop(&h->rx_busy);
    return ret;
}

long sl_rt_send(sl_rt_dgram *hd, const void *data, size_t len, const sl_endpoint *to,
                int timeout_ms)
{
    rt_h *h = H(hd);
    if (h->is_stream || (data == NULL && len > 0))
        return SL_ERR_INVAL;
    if (len > RT_DGRAM_MAX || sizeof(dg_hdr) + len > h->tx.cap)
        return SL_ERR_MSGSIZE;
    if (!busy_take(&h->tx_busy))
        return SL_ERR_BUSY;
    dg_hdr hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.len = (uint32_t)len;
    if (to != NULL) {
        hdr.has_to = 1;
        hdr.a = *to;
    }
    deadline d = deadline_of(timeout_ms);
    long ret;
    for (;;) {
        uint32_t seen = atomic_load(&h->wp.seq);
        if (atomic_load(&h->rt->stopping)) {
            ret = SL_ERR_SHUTDOWN;
            break;
        }
        if (atomic_load(&h->rx_eof) || atomic_load(&h->wr_closed)) {
            ret = SL_ERR_CLOSED;
            break;
        }
        if (br_free(&h->tx) >= sizeof hdr + len) {
            br_put(&h->tx, 0, (const uint8_t *)&hdr, sizeof hdr);
            br_put(&h->tx, sizeof hdr, data, len);
            br_wcommit(&h->tx, sizeof hdr + len);
            after_produce(h);
            ret = (long)len;
            break;
        }
        long ms = deadline_slice(&d);
        if (ms < 0) {
            ret = SL_ERR_AGAIN;
            break;
        }
        wp_wait(&h->wp, seen, ms);
    }
    busy_drop(&h->tx_busy);
    return ret;
}

sl_error sl_rt_dgram_close(sl_rt_dgram *hd)
{
    rt_h *h = H(hd);
    if (h->is_stream)
        return SL_ERR_INVAL;
    if (!busy_take(&h->rx_busy))
        return SL_ERR_BUSY;
    if (!busy_take(&h->tx_busy)) {
        busy_drop(&h->rx_busy);
        return SL_ERR_BUSY;
    }
    atomic_store(&h->wr_closed, true);
    sl_error e = post(h->rt, CMD_CLOSE, h) ? SL_OK : SL_ERR_SHUTDOWN;
    h_release(h);
    return e;
}

int sl_rt_dgram_fd(sl_rt_dgram *hd)
{
    return lazy_efd(&H(hd)->efd);
}

unsigned sl_rt_dgram_poll(const sl_rt_dgram *hd)
{
    return h_poll((const rt_h *)(const void *)hd);
}

void sl_rt_dgram_endpoints(const sl_rt_dgram *hd, sl_endpoint *local, sl_endpoint *remote)
{
    sl_rt_stream_endpoints((const sl_rt_stream *)(const void *)hd, local, remote);
}

/* ---------------------------------------------------------------------- */
/* In-memory link                                                         */
/* ---------------------------------------------------------------------- */

typedef struct link_dir {
    bring ring;          /* records: u32 length, then the packet           */
    int efd;             /* the consumer's wake_fd                         */
    _Atomic bool asleep; /* the consumer found the ring empty              */
} link_dir;

struct sl_rt_link {
    link_dir dir[2]; /* dir[i]: side i sends, side 1-i receives */
    _Atomic uint64_t drops;
};

static void link_send(void *ctx, const uint8_t *pkt, size_t len)
{
    sl_rt_link *l = (sl_rt_link *)((uintptr_t)ctx & ~(uintptr_t)1);
    link_dir *d = &l->dir[(uintptr_t)ctx & 1];
    uint32_t n = (uint32_t)len;
    if (br_free(&d->ring) < sizeof n + len) {
        cnt(&l->drops, 1);
        return;
    }
    br_put(&d->ring, 0, (const uint8_t *)&n, sizeof n);
    br_put(&d->ring, sizeof n, pkt, len);
    br_wcommit(&d->ring, sizeof n + len);
    if (atomic_exchange(&d->asleep, false))
        efd_signal(d->efd);
}

static int link_recv(void *ctx, uint8_t *buf, size_t cap)
{
    sl_rt_link *l = (sl_rt_link *)((uintptr_t)ctx & ~(uintptr_t)1);
    link_dir *d = &l->dir[1 - ((uintptr_t)ctx & 1)];
    if (br_used(&d->ring) < sizeof(uint32_t)) {
        sl_rt_fd_clear(d->efd);
        (void)atomic_exchange(&d->asleep, true);
        if (br_used(&d->ring) < sizeof(uint32_t))
            return 0;
        (void)atomic_exchange(&d->asleep, false);
    }
    uint32_t n;
    br_get(&d->ring, 0, (uint8_t *)&n, sizeof n);
    size_t take = n < cap ? n : cap;
    br_get(&d->ring, sizeof n, buf, take);
    br_rcommit(&d->ring, sizeof n + n);
    return (int)take;
}

sl_rt_link *sl_rt_link_new(size_t bytes)
{
    if (!pow2(bytes) || bytes < 131072)
        return NULL;
    sl_rt_link *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        l->dir[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        atomic_init(&l->dir[i].asleep, true);
        if (!br_init(&l->dir[i].ring, bytes) || l->dir[i].efd < 0) {
            sl_rt_link_free(l);
            return NULL;
        }
    }
    return l;
}

void sl_rt_link_device(sl_rt_link *l, int side, sl_rt_device *out)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->recv = link_recv;
    out->send = link_send;
    out->wake_fd = l->dir[1 - (side & 1)].efd;
    out->ctx = (void *)((uintptr_t)l | (uintptr_t)(side & 1)); /* calloc'd: aligned */
}

uint64_t sl_rt_link_drops(const sl_rt_link *l)
{
    sl_rt_link *m = (sl_rt_link *)(uintptr_t)l;
    return atomic_load(&m->drops);
}

void sl_rt_link_free(sl_rt_link *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        if (l->dir[i].efd > 0)
            close(l->dir[i].efd);
        free(l->dir[i].ring.buf);
    }
    free(l);
}
