/*
 * UDP flows and handles (RFC 768; checksum rules in src/wire/udp.c).
 *
 * An inbound datagram is matched, in order, to: the flow with its exact
 * (local, remote) pair; a bound handle on (destination address, port); a
 * bound handle on (any address, port); else the acceptor's filter decides
 * whether a new flow is made.  Every object is both in the flow table and
 * in the handle table; when a flow idles out it leaves the flow table but
 * its handle stays valid until the user frees it.
 */
#include "udp/udp.h"

#include <stddef.h>
#include <string.h>

#include "ip/ip.h"

typedef struct rxdgram {
    struct rxdgram *next;
    size_t len;
    sl_endpoint from, to;
    uint8_t data[];
} rxdgram;

typedef struct udp_obj {
    sl_hdl h;                 /* first: see core/handle.h                 */
    sl_flow_node node;
    bool in_table;
    bool is_flow;             /* inbound flow; false: bound handle        */
    bool closed;
    bool want_writable;       /* a send got SL_ERR_AGAIN                  */
    sl_endpoint local, remote;
    rxdgram *rx_head, *rx_tail;
    uint32_t rx_n;
    size_t rx_bytes;
    uint64_t rx_dropped;
    uint32_t pmtu;
    sl_time last_active;
    sl_timer idle;
    struct udp_obj *all_next, *all_prev; /* every object, for teardown    */
    struct udp_obj *wait_next;           /* waiting for tx queue room     */
} udp_obj;

/* Every UDP object of a stack (for teardown), and those waiting for room
 * in the tx queue; the context keeps the list heads untyped. */
static udp_obj **all_head(sl_ctx *c)
{
    return (udp_obj **)(void *)&c->udp_all;
}
static udp_obj **wait_head(sl_ctx *c)
{
    return (udp_obj **)(void *)&c->udp_waiters;
}

static void make_key(sl_flow_key *k, uint8_t family, const uint8_t *laddr, uint16_t lport,
                     const uint8_t *raddr, uint16_t rport)
{
    sl_flow_key_make(k, SL_IPPROTO_UDP, family, laddr, lport, raddr, rport);
}

static void set_ep(sl_endpoint *e, uint8_t family, const uint8_t *a, uint16_t port)
{
    memset(e, 0, sizeof *e);
    e->addr.family = family;
    memcpy(e->addr.b, a, sl_ip_alen(family));
    e->port = port;
}

static udp_obj *obj_of_node(sl_flow_node *n)
{
    return (udp_obj *)(void *)((uint8_t *)n - offsetof(udp_obj, node));
}

static udp_obj *obj_of_timer(sl_timer *t)
{
    return (udp_obj *)(void *)((uint8_t *)t - offsetof(udp_obj, idle));
}

static udp_obj *new_obj(sl_ctx *c, void *user, sl_error *err)
{
    if (c->n_flows >= c->cfg.max_flows) {
        *err = SL_ERR_LIMIT;
        return NULL;
    }
    udp_obj *o = sl_mem_alloc(&c->mem, sizeof *o);
    if (o == NULL) {
        sl_count(c, SL_CNT_MEM_FAIL);
        *err = SL_ERR_NOMEM;
        return NULL;
    }
    *err = sl_handle_add(&c->handles, &o->h, SL_HDL_DGRAM, user);
    if (*err != SL_OK) {
        sl_mem_free(&c->mem, o, sizeof *o);
        return NULL;
    }
    sl_timer_init(&o->idle, SL_TK_UDP_IDLE);
    o->all_next = *all_head(c);
    if (o->all_next != NULL)
        o->all_next->all_prev = o;
    *all_head(c) = o;
    c->n_flows++;
    return o;
}

static void drop_queue(sl_ctx *c, udp_obj *o)
{
    rxdgram *d = o->rx_head;
    while (d != NULL) {
        rxdgram *next = d->next;
        sl_mem_free(&c->mem, d, sizeof *d + d->len);
        d = next;
    }
    o->rx_head = o->rx_tail = NULL;
    o->rx_n = 0;
    o->rx_bytes = 0;
}

static void leave_table(sl_ctx *c, udp_obj *o)
{
    if (o->in_table) {
        sl_flowtab_remove(&c->flows, &o->node);
        o->in_table = false;
    }
    sl_wheel_cancel(&c->wheel, &o->idle);
}

static void free_obj(sl_ctx *c, udp_obj *o)
{
    if (o->want_writable) {
        for (udp_obj **pp = wait_head(c); *pp != NULL; pp = &(*pp)->wait_next) {
            if (*pp == o) {
                *pp = o->wait_next;
                break;
            }
        }
    }
    leave_table(c, o);
    drop_queue(c, o);
    if (o->all_prev != NULL)
        o->all_prev->all_next = o->all_next;
    else
        *all_head(c) = o->all_next;
    if (o->all_next != NULL)
        o->all_next->all_prev = o->all_prev;
    sl_handle_remove(&c->handles, &o->h);
    c->n_flows--;
    sl_mem_free(&c->mem, o, sizeof *o);
}

void sl_udp_fini(sl_ctx *c)
{
    while (*all_head(c) != NULL)
        free_obj(c, *all_head(c));
}

static void enqueue(sl_ctx *c, udp_obj *o, const sl_endpoint *from, const sl_endpoint *to,
                    const uint8_t *data, size_t len)
{
    if (o->rx_n >= c->cfg.udp_rx_queue || len > c->cfg.udp_rx_bytes - o->rx_bytes) {
        o->rx_dropped++;
        sl_count(c, SL_CNT_UDP_DROP_QUEUE_FULL);
        return;
    }
    rxdgram *d = sl_mem_alloc(&c->mem, sizeof *d + len);
    if (d == NULL) {
        o->rx_dropped++;
        sl_count(c, SL_CNT_MEM_FAIL);
        return;
    }
    d->len = len;
    d->from = *from;
    d->to = *to;
    memcpy(d->data, data, len);
    bool was_empty = o->rx_head == NULL;
    if (o->rx_tail != NULL)
        o->rx_tail->next = d;
    else
        o->rx_head = d;
    o->rx_tail = d;
    o->rx_n++;
    o->rx_bytes += len;
    o->last_active = c->now;
    if (was_empty)
        sl_handle_notify(&c->handles, &o->h, SL_EV_READABLE);
}

static sl_verdict ask_filter(sl_ctx *c, const sl_endpoint *local, const sl_endpoint *remote)
{
    if (c->cfg.filter == NULL)
        return SL_ACCEPT;
    sl_flow_info fi;
    fi.proto = SL_IPPROTO_UDP;
    fi.local = *local;
    fi.remote = *remote;
    return c->cfg.filter(c->cfg.filter_ctx, &fi);
}

static void arm_idle(sl_ctx *c, udp_obj *o)
{
    sl_wheel_set(&c->wheel, &o->idle, o->last_active + c->cfg.udp_idle_timeout);
}

sl_error sl_udp_input(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      const uint8_t *l4, size_t len, sl_udp_result *res)
{
    *res = SL_UDP_DONE;
    sl_pseudo ph = {family, src, dst};
    bool verify = !sl_rx_csum_trusted(c);
    sl_udp_hdr u;
    sl_error e = sl_udp_parse(l4, len, verify ? &ph : NULL, &u);
    if (e != SL_OK)
        return e;
    sl_count(c, SL_CNT_UDP_RX);
    sl_endpoint from, to;
    set_ep(&from, family, src, u.sport);
    set_ep(&to, family, dst, u.dport);

    sl_flow_key k;
    make_key(&k, family, dst, u.dport, src, u.sport);
    sl_flow_node *n = sl_flowtab_find(&c->flows, &k);
    if (n == NULL) {
        make_key(&k, family, dst, u.dport, NULL, 0);
        n = sl_flowtab_find(&c->flows, &k);
    }
    if (n == NULL) {
        make_key(&k, 0, NULL, u.dport, NULL, 0);
        n = sl_flowtab_find(&c->flows, &k);
    }
    if (n != NULL) {
        enqueue(c, obj_of_node(n), &from, &to, u.payload, u.payload_len);
        return SL_OK;
    }

    /* The acceptor. */
    switch (ask_filter(c, &to, &from)) {
    case SL_ACCEPT:
        break;
    case SL_REFUSE:
        sl_count(c, SL_CNT_UDP_FLOW_REFUSED);
        *res = SL_UDP_REFUSED;
        return SL_OK;
    case SL_DROP:
        sl_count(c, SL_CNT_UDP_FLOW_DROPPED);
        return SL_OK;
    }
    sl_error err;
    udp_obj *o = new_obj(c, NULL, &err);
    if (o == NULL) {
        sl_count(c, SL_CNT_UDP_FLOW_LIMIT);
        return SL_OK;
    }
    o->is_flow = true;
    o->local = to;
    o->remote = from;
    make_key(&k, family, dst, u.dport, src, u.sport);
    sl_flow_node_set(&c->flows, &o->node, &k);
    sl_flowtab_insert(&c->flows, &o->node);
    o->in_table = true;
    o->last_active = c->now;
    arm_idle(c, o);
    sl_count(c, SL_CNT_UDP_FLOW_NEW);
    sl_handle_notify(&c->handles, &o->h, SL_EV_DGRAM_NEW);
    enqueue(c, o, &from, &to, u.payload, u.payload_len);
    return SL_OK;
}

void sl_udp_icmp_error(sl_ctx *c, const sl_icmp_quote *q, sl_error err, uint32_t mtu)
{
    /* The quoted datagram went from one of our flows' local endpoint to
     * its remote: it must name an existing flow exactly. */
    sl_flow_key k;
    make_key(&k, q->family, q->src, q->sport, q->dst, q->dport);
    sl_flow_node *n = q->has_ports ? sl_flowtab_find(&c->flows, &k) : NULL;
    if (n == NULL) {
        sl_count(c, SL_CNT_ICMP_ERR_NO_FLOW);
        return;
    }
    udp_obj *o = obj_of_node(n);
    o->h.err = err;
    if (mtu != 0)
        o->pmtu = mtu;
    sl_count(c, SL_CNT_ICMP_ERR_DELIVERED);
    sl_handle_notify(&c->handles, &o->h, SL_EV_ERROR);
}

void sl_udp_timer(sl_ctx *c, sl_timer *t)
{
    udp_obj *o = obj_of_timer(t);
    if (o->closed)
        return;
    sl_time due = o->last_active + c->cfg.udp_idle_timeout;
    if (due > c->now) { /* traffic since the timer was set */
        arm_idle(c, o);
        return;
    }
    leave_table(c, o);
    o->closed = true;
    sl_count(c, SL_CNT_UDP_FLOW_IDLE);
    sl_handle_notify(&c->handles, &o->h, SL_EV_CLOSED);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */
/* ---------------------------------------------------------------------- */

static udp_obj *lookup(const sl_ctx *c, sl_dgram h)
{
    sl_hdl *x = sl_handle_get(&c->handles, h.idx, h.gen, SL_HDL_DGRAM);
    return x == NULL ? NULL : (udp_obj *)(void *)x;
}

static bool valid_addr(const sl_addr *a, bool allow_any)
{
    return a->family == 4 || SL_IS_V6(a->family) || (allow_any && a->family == 0);
}

sl_error sl_dgram_open(sl_stack *s, const sl_endpoint *bind, void *user, sl_dgram *out)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_flow_key k;
    if (bind != NULL) {
        if (!valid_addr(&bind->addr, true) || bind->port == 0)
            return SL_ERR_INVAL;
        make_key(&k, bind->addr.family, bind->addr.b, bind->port, NULL, 0);
        if (sl_flowtab_find(&c->flows, &k) != NULL)
            return SL_ERR_LIMIT;
    }
    sl_error err;
    udp_obj *o = new_obj(c, user, &err);
    if (o == NULL)
        return err;
    o->is_flow = false;
    if (bind != NULL) {
        o->local = *bind;
        sl_flow_node_set(&c->flows, &o->node, &k);
        sl_flowtab_insert(&c->flows, &o->node);
        o->in_table = true;
    }
    out->idx = o->h.idx;
    out->gen = o->h.gen;
    return SL_OK;
}

long sl_dgram_recv(sl_stack *s, sl_dgram h, uint8_t *buf, size_t cap, sl_endpoint *from,
                   sl_endpoint *to)
{
    sl_ctx *c = sl_ctx_of(s);
    udp_obj *o = lookup(c, h);
    if (o == NULL)
        return SL_ERR_STALE;
    rxdgram *d = o->rx_head;
    if (d == NULL)
        return o->closed ? SL_ERR_CLOSED : SL_ERR_AGAIN;
    size_t n = d->len < cap ? d->len : cap;
    if (n > 0)
        memcpy(buf, d->data, n);
    if (from != NULL)
        *from = d->from;
    if (to != NULL)
        *to = d->to;
    long full = (long)d->len;
    o->rx_head = d->next;
    if (o->rx_head == NULL)
        o->rx_tail = NULL;
    o->rx_n--;
    o->rx_bytes -= d->len;
    sl_mem_free(&c->mem, d, sizeof *d + d->len);
    return full;
}

static sl_error send_from(sl_ctx *c, udp_obj *o, const sl_endpoint *from, const sl_endpoint *to,
                          const uint8_t *data, size_t len)
{
    uint8_t fam = to->addr.family;
    if (len > 65535u - SL_UDP_HDR_LEN - (fam == 4 ? SL_IPV4_HDR_MIN : 0u))
        return SL_ERR_MSGSIZE;
    uint8_t *l4 = NULL;
    sl_error err;
    sl_txpkt *p = sl_ip_alloc(c, fam, from->addr.b, to->addr.b, SL_IPPROTO_UDP,
                              SL_UDP_HDR_LEN + len, &l4, &err);
    if (p == NULL) {
        if (err == SL_ERR_LIMIT) {
            if (!o->want_writable) {
                o->want_writable = true;
                o->wait_next = *wait_head(c);
                *wait_head(c) = o;
            }
            return SL_ERR_AGAIN;
        }
        return err;
    }
    sl_udp_hdr u;
    memset(&u, 0, sizeof u);
    u.sport = from->port;
    u.dport = to->port;
    u.payload = data;
    u.payload_len = len;
    sl_pseudo ph = {fam, from->addr.b, to->addr.b};
    size_t w = 0;
    (void)sl_udp_emit(&u, &ph, l4, SL_UDP_HDR_LEN + len, &w);
    sl_ip_queue(c, p);
    sl_count(c, SL_CNT_UDP_TX);
    o->last_active = c->now;
    return SL_OK;
}

sl_error sl_dgram_send(sl_stack *s, sl_dgram h, const uint8_t *data, size_t len)
{
    sl_ctx *c = sl_ctx_of(s);
    udp_obj *o = lookup(c, h);
    if (o == NULL)
        return SL_ERR_STALE;
    if (!o->is_flow)
        return SL_ERR_STATE;
    if (o->closed)
        return SL_ERR_CLOSED;
    return send_from(c, o, &o->local, &o->remote, data, len);
}

sl_error sl_dgram_sendto(sl_stack *s, sl_dgram h, const sl_endpoint *from, const sl_endpoint *to,
                         const uint8_t *data, size_t len)
{
    sl_ctx *c = sl_ctx_of(s);
    udp_obj *o = lookup(c, h);
    if (o == NULL)
        return SL_ERR_STALE;
    if (o->closed)
        return SL_ERR_CLOSED;
    if (from == NULL)
        from = &o->local;
    if (to == NULL || !valid_addr(&to->addr, false) || from->addr.family != to->addr.family)
        return SL_ERR_INVAL;
    return send_from(c, o, from, to, data, len);
}

sl_error sl_dgram_info_get(const sl_stack *s, sl_dgram h, sl_dgram_info *info)
{
    const sl_ctx *c = sl_ctx_ofc(s);
    const udp_obj *o = lookup(c, h);
    if (o == NULL)
        return SL_ERR_STALE;
    memset(info, 0, sizeof *info);
    info->local = o->local;
    info->remote = o->remote;
    info->is_flow = o->is_flow;
    info->closed = o->closed;
    info->error = o->h.err;
    info->path_mtu = o->pmtu;
    info->queued = o->rx_n;
    info->rx_dropped = o->rx_dropped;
    return SL_OK;
}

sl_error sl_dgram_set_user(sl_stack *s, sl_dgram h, void *user)
{
    udp_obj *o = lookup(sl_ctx_of(s), h);
    if (o == NULL)
        return SL_ERR_STALE;
    o->h.user = user;
    return SL_OK;
}

void *sl_dgram_user(const sl_stack *s, sl_dgram h)
{
    const udp_obj *o = lookup(sl_ctx_ofc(s), h);
    return o == NULL ? NULL : o->h.user;
}

sl_error sl_dgram_free(sl_stack *s, sl_dgram h)
{
    sl_ctx *c = sl_ctx_of(s);
    udp_obj *o = lookup(c, h);
    if (o == NULL)
        return SL_ERR_STALE;
    free_obj(c, o);
    return SL_OK;
}

void sl_udp_tx_drained(sl_ctx *c)
{
    udp_obj *o = *wait_head(c);
    *wait_head(c) = NULL;
    while (o != NULL) {
        udp_obj *next = o->wait_next;
        o->want_writable = false;
        o->wait_next = NULL;
        sl_handle_notify(&c->handles, &o->h, SL_EV_WRITABLE);
        o = next;
    }
}
