/*
 * netsim.h — a seeded, deterministic in-process network for two sluice
 * stacks (header-only, used by test_tcp_sim.c).
 *
 *   A  --link ab-->  B
 *   A  <--link ba--  B
 *
 * Each link direction has, per packet: loss, duplication, corruption (one
 * random byte XORed with a random non-zero value: the IP/TCP checksums
 * must catch it), reordering (a random extra delay), a fixed one-way
 * delay, and a bandwidth with a bounded queue (tail drop).  Probabilities
 * are in parts per million (integers: no floating point in the model).
 *
 * Time is injected: ns_run advances the simulated clock to the earliest of
 * the next packet delivery and the sl_poll deadlines of both stacks; it
 * never sleeps, and it is bounded in iterations and in simulated time.
 * All randomness comes from splitmix64 generators seeded per link from the
 * test's seed, so a run is reproducible bit for bit (ns_link.hash is an
 * FNV-1a digest of every packet handed to the link).
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#ifndef SL_NETSIM_H
#define SL_NETSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stack_util.h"

#define NS_PPM 1000000u

enum { NS_TAP_SEND = 0, NS_TAP_LOST, NS_TAP_QDROP, NS_TAP_DELIVER };

typedef struct ns_link_cfg {
    uint32_t loss_ppm;       /* packet dropped                          */
    uint32_t dup_ppm;        /* packet delivered twice                  */
    uint32_t corrupt_ppm;    /* a copy gets one byte flipped            */
    uint32_t reorder_ppm;    /* a copy gets an extra random delay       */
    sl_time reorder_max;     /* ... uniform in [1, reorder_max] µs      */
    sl_time delay;           /* fixed one-way propagation delay, µs     */
    uint64_t bandwidth;      /* bytes per second on the wire; 0 = infinite */
    size_t queue_bytes;      /* bytes waiting for the wire before tail
                                drop; 0 = unlimited                     */
} ns_link_cfg;

typedef struct ns_pkt {
    sl_time at;              /* delivery time                           */
    uint64_t order;          /* tie-break: FIFO among equal times       */
    uint8_t *data;
    size_t len;
} ns_pkt;

typedef struct ns_link {
    ns_link_cfg cfg;
    su_rng rng;
    const sl_time *now;      /* the simulation clock                    */
    uint64_t wire_free_ns;   /* when the serialiser is next idle (ns)   */
    ns_pkt *heap;            /* min-heap on (at, order)                 */
    size_t n, cap;
    uint64_t order;
    size_t in_flight_bytes;
    size_t max_in_flight_bytes;
    /* counters */
    uint64_t sent, sent_bytes;        /* handed to the link by the stack */
    uint64_t delivered, delivered_bytes;
    uint64_t lost, queue_drops, dups, corrupted, reordered;
    uint64_t hash;                    /* FNV-1a of everything sent       */
    bool down;                        /* drop everything (tests)         */
    /* Optional: sees every packet: NS_TAP_SEND when the stack sends it
     * (before the link acts), NS_TAP_LOST / NS_TAP_QDROP when the link
     * drops it, NS_TAP_DELIVER when it is handed to the other stack (as
     * delivered: possibly corrupted). */
    void (*tap)(void *ctx, int kind, const uint8_t *buf, size_t len);
    void *tap_ctx;
    /* Optional: a scripted drop (tests that need one exact loss); true
     * drops the packet (counted as lost). */
    bool (*drop)(void *ctx, const uint8_t *buf, size_t len);
    void *drop_ctx;
} ns_link;

static inline uint64_t ns_rand(su_rng *r)
{
    return su_rng_next(r);
}

/* Uniform in [0, n) (n > 0); the modulo bias is irrelevant here. */
static inline uint64_t ns_below(su_rng *r, uint64_t n)
{
    return ns_rand(r) % n;
}

static inline bool ns_chance(su_rng *r, uint32_t ppm)
{
    return ppm != 0 && ns_below(r, NS_PPM) < ppm;
}

static inline void ns_link_init(ns_link *l, const ns_link_cfg *cfg, uint64_t seed,
                                const sl_time *now)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->rng.s = seed;
    l->now = now;
    l->hash = 0xcbf29ce484222325u;
}

static inline void ns_link_fini(ns_link *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->heap[i].data);
    free(l->heap);
    l->heap = NULL;
    l->n = l->cap = 0;
}

static inline bool ns_pkt_before(const ns_pkt *a, const ns_pkt *b)
{
    return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static inline void ns_heap_push(ns_link *l, ns_pkt p)
{
    if (l->n == l->cap) {
        size_t nc = l->cap == 0 ? 256 : l->cap * 2;
        ns_pkt *nh = (ns_pkt *)realloc(l->heap, nc * sizeof *nh);
        if (nh == NULL)
            abort();
        l->heap = nh;
        l->cap = nc;
    }
    size_t i = l->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ns_pkt_before(&p, &l->heap[parent]))
            break;
        l->heap[i] = l->heap[parent];
        i = parent;
    }
    l->heap[i] = p;
}

static inline ns_pkt ns_heap_pop(ns_link *l)
{
    ns_pkt top = l->heap[0];
    ns_pkt last = l->heap[--l->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n)
            break;
        if (c + 1 < l->n && ns_pkt_before(&l->heap[c + 1], &l->heap[c]))
            c++;
        if (!ns_pkt_before(&l->heap[c], &last))
            break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    if (l->n > 0)
        l->heap[i] = last;
    return top;
}

/* Earliest delivery time, SL_TIME_NEVER when nothing is on the link. */
static inline sl_time ns_link_next(const ns_link *l)
{
    return l->n == 0 ? SL_TIME_NEVER : l->heap[0].at;
}

/* One copy of a packet onto the link (after loss was decided). */
static inline void ns_link_put(ns_link *l, const uint8_t *buf, size_t len)
{
    sl_time now = *l->now;
    uint64_t now_ns = now * 1000u;
    if (l->wire_free_ns < now_ns)
        l->wire_free_ns = now_ns;
    if (l->cfg.bandwidth != 0) {
        /* Bytes still waiting for the serialiser. */
        uint64_t backlog_ns = l->wire_free_ns - now_ns;
        uint64_t backlog = backlog_ns * l->cfg.bandwidth / 1000000000u;
        if (l->cfg.queue_bytes != 0 && backlog + len > l->cfg.queue_bytes) {
            l->queue_drops++;
            if (l->tap != NULL)
                l->tap(l->tap_ctx, NS_TAP_QDROP, buf, len);
            return;
        }
        l->wire_free_ns += ((uint64_t)len * 1000000000u + l->cfg.bandwidth - 1) / l->cfg.bandwidth;
    }
    sl_time at = (l->wire_free_ns + 999u) / 1000u + l->cfg.delay;
    ns_pkt p;
    p.data = (uint8_t *)malloc(len == 0 ? 1 : len);
    if (p.data == NULL)
        abort();
    memcpy(p.data, buf, len);
    p.len = len;
    if (ns_chance(&l->rng, l->cfg.corrupt_ppm) && len > 0) {
        size_t pos = (size_t)ns_below(&l->rng, len);
        p.data[pos] ^= (uint8_t)(1u + ns_below(&l->rng, 255));
        l->corrupted++;
    }
    if (ns_chance(&l->rng, l->cfg.reorder_ppm) && l->cfg.reorder_max > 0) {
        at += 1u + ns_below(&l->rng, l->cfg.reorder_max);
        l->reordered++;
    }
    p.at = at;
    p.order = l->order++;
    l->in_flight_bytes += len;
    if (l->in_flight_bytes > l->max_in_flight_bytes)
        l->max_in_flight_bytes = l->in_flight_bytes;
    ns_heap_push(l, p);
}

/* The stack's transmit callback (cfg.tx.send with ctx = the link). */
static inline void ns_link_send(void *ctx, uint8_t *buf, size_t len)
{
    ns_link *l = (ns_link *)ctx;
    l->sent++;
    l->sent_bytes += len;
    for (size_t i = 0; i < len; i++) {
        l->hash ^= buf[i];
        l->hash *= 0x100000001b3u;
    }
    if (l->tap != NULL)
        l->tap(l->tap_ctx, NS_TAP_SEND, buf, len);
    if (l->down || (l->drop != NULL && l->drop(l->drop_ctx, buf, len)) ||
        ns_chance(&l->rng, l->cfg.loss_ppm)) {
        l->lost++;
        if (l->tap != NULL)
            l->tap(l->tap_ctx, NS_TAP_LOST, buf, len);
        return;
    }
    ns_link_put(l, buf, len);
    if (ns_chance(&l->rng, l->cfg.dup_ppm)) {
        l->dups++;
        ns_link_put(l, buf, len);
    }
}

static inline sl_tx ns_link_tx(ns_link *l)
{
    sl_tx t;
    memset(&t, 0, sizeof t);
    t.send = ns_link_send;
    t.ctx = l;
    return t;
}

/* Hand every packet due at or before now to `to`; returns how many. */
static inline size_t ns_link_deliver(ns_link *l, sl_stack *to, sl_time now)
{
    size_t k = 0;
    while (l->n > 0 && l->heap[0].at <= now) {
        ns_pkt p = ns_heap_pop(l);
        l->in_flight_bytes -= p.len;
        l->delivered++;
        l->delivered_bytes += p.len;
        if (l->tap != NULL)
            l->tap(l->tap_ctx, NS_TAP_DELIVER, p.data, p.len);
        (void)sl_input(to, p.data, p.len, now);
        free(p.data);
        k++;
    }
    return k;
}

/* ---- the simulation: two stacks, two links ---------------------------- */

typedef struct ns_sim {
    sl_time now;
    sl_time start;
    ns_link ab, ba;
    sl_stack *a, *b;
    su_alloc mem_a, mem_b;
    uint64_t iters;
    uint64_t same_time_loops;   /* consecutive iterations without advancing */
    sl_time wake;               /* the application's own deadline (a timer
                                   of the test), SL_TIME_NEVER for none */
} ns_sim;

/* The driver's view of the application: `app` handles events and does
 * reads/writes on both stacks and returns true when it did something
 * that may need a poll (a write, a read, a shutdown, a free); `done`
 * says the scenario is over. */
typedef bool (*ns_app_fn)(ns_sim *sim, void *ctx);
typedef bool (*ns_done_fn)(ns_sim *sim, void *ctx);

typedef enum ns_result {
    NS_DONE = 0,
    NS_TIME_LIMIT,
    NS_ITER_LIMIT,
    NS_IDLE,      /* nothing scheduled anywhere and not done: a stall */
    NS_SPIN       /* time does not advance: a busy loop */
} ns_result;

static inline const char *ns_result_name(ns_result r)
{
    switch (r) {
    case NS_DONE: return "done";
    case NS_TIME_LIMIT: return "simulated-time limit";
    case NS_ITER_LIMIT: return "iteration limit";
    case NS_IDLE: return "idle (nothing scheduled, not done)";
    case NS_SPIN: return "spin (time does not advance)";
    }
    return "?";
}

/* Create both stacks at time `start`.  cfg_a/cfg_b: their tx is set here
 * (to the links); everything else as given.  Counting allocators. */
static inline void ns_sim_init(ns_sim *s, const sl_config *cfg_a, const sl_config *cfg_b,
                               const ns_link_cfg *ab, const ns_link_cfg *ba, uint64_t seed,
                               sl_time start)
{
    memset(s, 0, sizeof *s);
    s->now = start;
    s->start = start;
    s->wake = SL_TIME_NEVER;
    ns_link_init(&s->ab, ab, seed ^ 0xa5a5a5a5a5a5a5a5u, &s->now);
    ns_link_init(&s->ba, ba, seed ^ 0x5a5a5a5a5a5a5a5au, &s->now);
    sl_config ca = *cfg_a, cb = *cfg_b;
    ca.tx = ns_link_tx(&s->ab);
    cb.tx = ns_link_tx(&s->ba);
    sl_allocator ma = su_alloc_make(&s->mem_a);
    sl_allocator mb = su_alloc_make(&s->mem_b);
    sl_error e = SL_OK;
    s->a = sl_stack_new(&ca, &ma, &e);
    if (s->a == NULL)
        abort();
    s->b = sl_stack_new(&cb, &mb, &e);
    if (s->b == NULL)
        abort();
    (void)sl_poll(s->a, start);
    (void)sl_poll(s->b, start);
}

/* Free stacks and links.  Returns the bytes the allocators still hold
 * (a leak if non-zero). */
static inline size_t ns_sim_fini(ns_sim *s)
{
    sl_stack_free(s->a);
    sl_stack_free(s->b);
    s->a = s->b = NULL;
    ns_link_fini(&s->ab);
    ns_link_fini(&s->ba);
    return s->mem_a.live + s->mem_b.live;
}

static inline sl_time ns_min(sl_time x, sl_time y)
{
    return x < y ? x : y;
}

/* Run until done(), or a limit: simulated time past `max_time` (relative
 * to the start), more than `max_iters` iterations, nothing left to do,
 * or more than 100000 iterations at one instant. */
static inline ns_result ns_run(ns_sim *s, ns_app_fn app, ns_done_fn done, void *ctx,
                               sl_time max_time, uint64_t max_iters)
{
    for (;;) {
        if (++s->iters > max_iters)
            return NS_ITER_LIMIT;
        ns_link_deliver(&s->ab, s->b, s->now);
        ns_link_deliver(&s->ba, s->a, s->now);
        sl_time da, db;
        int rounds = 0;
        (void)app(s, ctx);
        for (;;) {
            da = sl_poll(s->a, s->now);
            db = sl_poll(s->b, s->now);
            /* Events raised by the polls (timers) are handled at once; a
             * write they caused needs another poll at the same instant. */
            if (!app(s, ctx) || ++rounds > 1000)
                break;
        }
        if (done(s, ctx))
            return NS_DONE;
        sl_time next = ns_min(ns_min(da, db), ns_min(ns_link_next(&s->ab), ns_link_next(&s->ba)));
        if (s->wake > s->now)
            next = ns_min(next, s->wake);
        if (next == SL_TIME_NEVER)
            return NS_IDLE;
        if (next <= s->now) {
            if (++s->same_time_loops > 100000)
                return NS_SPIN;
            continue;
        }
        s->same_time_loops = 0;
        if (next - s->start > max_time)
            return NS_TIME_LIMIT;
        s->now = next;
    }
}

#endif
