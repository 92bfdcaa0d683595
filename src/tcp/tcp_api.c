/*
 * The stream API (include/sluice/stack.h): user calls of RFC 9293 §3.10
 * (OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS) on stream handles.
 */
#include <string.h>

#include "ip/ip.h"
#include "tcp/tcb.h"
#include "tcp/tcp.h"

#define MAX_LISTENERS 256u

static sl_tcb *lookup(const sl_ctx *c, sl_stream h)
{
    sl_hdl *x = sl_handle_get(&c->handles, h.idx, h.gen, SL_HDL_STREAM);
    return x == NULL ? NULL : (sl_tcb *)(void *)x;
}

static bool valid_ep(const sl_endpoint *e)
{
    return e != NULL && (e->addr.family == 4 || SL_IS_V6(e->addr.family));
}

sl_error sl_stream_connect(sl_stack *s, const sl_endpoint *local, const sl_endpoint *remote,
                           void *user, sl_stream *out)
{
    sl_ctx *c = sl_ctx_of(s);
    if (!valid_ep(local) || !valid_ep(remote) || local->addr.family != remote->addr.family ||
        remote->port == 0 || sl_ip_is_multicast(remote->addr.family, remote->addr.b))
        return SL_ERR_INVAL;
    uint8_t fam = local->addr.family;
    sl_flow_key k;
    uint16_t port = local->port;
    if (port == 0) {
        /* RFC 6056 §3.3.3: try ports from a keyed offset until free. */
        sl_tuple tu;
        memset(&tu, 0, sizeof tu);
        tu.family = fam;
        memcpy(tu.laddr, local->addr.b, 16);
        memcpy(tu.raddr, remote->addr.b, 16);
        tu.rport = remote->port;
        uint16_t lo = c->cfg.tcp_ephemeral_lo, hi = c->cfg.tcp_ephemeral_hi;
        uint32_t range = (uint32_t)(hi - lo) + 1;
        for (uint32_t i = 0; i < range; i++) {
            uint16_t p = sl_ephemeral_port(c->key_port, &tu, lo, hi, c->port_counter++);
            sl_tcp_make_key(&k, fam, local->addr.b, p, remote->addr.b, remote->port);
            if (sl_flowtab_find(&c->flows, &k) == NULL) {
                port = p;
                break;
            }
        }
        if (port == 0)
            return SL_ERR_LIMIT;
    } else {
        sl_tcp_make_key(&k, fam, local->addr.b, port, remote->addr.b, remote->port);
        if (sl_flowtab_find(&c->flows, &k) != NULL)
            return SL_ERR_LIMIT;
    }
    sl_error err;
    sl_tcb *t = sl_tcb_new(c, user, &err);
    if (t == NULL)
        return err;
    sl_flow_node_set(&c->flows, &t->node, &k);
    sl_flowtab_insert(&c->flows, &t->node);
    t->flags |= TF_IN_TABLE;
    sl_tuple tu;
    sl_tcb_tuple(t, &tu);
    t->iss = sl_tcp_isn(c->key_isn, &tu, c->now);
    t->snd_una = t->snd_nxt = t->snd_max = t->iss;
    t->recover = t->iss;
    t->rcv_wscale = sl_tcp_our_wscale(c);
    t->mss = sl_tcp_our_mss(c, fam);
    t->snd_wnd = 0;
    sl_tcb_set_state(c, t, SL_TCP_SYN_SENT);
    sl_tcb_want_output(c, t);
    out->idx = t->h.idx;
    out->gen = t->h.gen;
    return SL_OK;
}

long sl_stream_read(sl_stack *s, sl_stream h, uint8_t *buf, size_t cap)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (t->rcv.len > 0 && cap > 0) {
        uint32_t before = sl_tcp_rcv_window(c, t);
        size_t n = sl_ring_read(&t->rcv, &c->mem, buf, cap, sl_tcb_ooo_n(t) > 0);
        /* Tell the peer when the window opened enough (RFC 9293
         * §3.8.6.2.2): the receive-side SWS rule decides. */
        if (t->state != SL_TCP_CLOSED && sl_tcp_rcv_window(c, t) > before &&
            (t->flags & TF_RCVD_FIN) == 0) {
            t->flags |= TF_ACK_NOW;
            sl_tcb_want_output(c, t);
        }
        return (long)n;
    }
    if ((t->flags & TF_RCVD_FIN) != 0 && t->rcv.len == 0)
        return 0;
    if (t->state == SL_TCP_CLOSED)
        return t->h.err != SL_OK ? t->h.err : 0;
    return SL_ERR_AGAIN;
}

long sl_stream_write(sl_stack *s, sl_stream h, const uint8_t *data, size_t len)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (t->state == SL_TCP_CLOSED)
        return t->h.err != SL_OK ? t->h.err : SL_ERR_CLOSED;
    if ((t->flags & (TF_FIN_QUEUED | TF_SEND_RST)) != 0)
        return SL_ERR_CLOSED;
    if (len == 0)
        return 0;
    int nomem = 0;
    size_t n = sl_ring_write(&t->snd, &c->mem, data, len, &nomem);
    if (n == 0) {
        if (nomem) {
            sl_count(c, SL_CNT_MEM_FAIL);
            return SL_ERR_NOMEM;
        }
        t->flags |= TF_WANT_WRITABLE;
        return SL_ERR_AGAIN;
    }
    sl_tcb_want_output(c, t);
    return (long)n;
}

/* RFC 9293 §3.10.4 CLOSE, the sending half. */
static void queue_fin(sl_ctx *c, sl_tcb *t)
{
    if ((t->flags & TF_FIN_QUEUED) != 0)
        return;
    t->flags |= TF_FIN_QUEUED;
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_SYN_SENT:
        /* RFC 9293 §3.10.4: nothing sent yet, delete the connection; but
         * data already written goes first: FIN-WAIT-1 once established. */
        if (t->snd.len == 0)
            sl_tcb_finish(c, t, SL_EV_CLOSED);
        return;
    case SL_TCP_SYN_RECEIVED:
        return; /* FIN-WAIT-1 once established (§3.10.4) */
    case SL_TCP_ESTABLISHED:
        sl_tcb_set_state(c, t, SL_TCP_FIN_WAIT_1);
        break;
    case SL_TCP_CLOSE_WAIT:
        sl_tcb_set_state(c, t, SL_TCP_LAST_ACK);
        break;
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
    case SL_TCP_FIN_WAIT_1:
    case SL_TCP_FIN_WAIT_2:
    case SL_TCP_CLOSING:
    case SL_TCP_LAST_ACK:
    case SL_TCP_TIME_WAIT:
        return;
    }
    sl_tcb_want_output(c, t);
}

sl_error sl_stream_shutdown(sl_stack *s, sl_stream h)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (t->state == SL_TCP_CLOSED)
        return t->h.err != SL_OK ? t->h.err : SL_ERR_CLOSED;
    queue_fin(c, t);
    return SL_OK;
}

sl_error sl_stream_close(sl_stack *s, sl_stream h)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (t->state == SL_TCP_CLOSED)
        return SL_OK;
    t->flags |= TF_CLOSED_BY_USER;
    if (t->rcv.len > 0) {
        /* Unread data at close: RST (RFC 1122 §4.2.2.13). */
        t->flags |= TF_SEND_RST;
        sl_tcb_want_output(c, t);
        return SL_OK;
    }
    queue_fin(c, t);
    return SL_OK;
}

sl_error sl_stream_abort(sl_stack *s, sl_stream h)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_SYN_RECEIVED:
    case SL_TCP_ESTABLISHED:
    case SL_TCP_FIN_WAIT_1:
    case SL_TCP_FIN_WAIT_2:
    case SL_TCP_CLOSE_WAIT:
        /* RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>. */
        t->flags |= TF_SEND_RST;
        sl_tcb_want_output(c, t);
        break;
    case SL_TCP_SYN_SENT:
    case SL_TCP_CLOSING:
    case SL_TCP_LAST_ACK:
    case SL_TCP_TIME_WAIT:
        sl_tcb_finish(c, t, SL_EV_CLOSED);
        break;
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
        break;
    }
    return SL_OK;
}

sl_error sl_stream_free(sl_stack *s, sl_stream h)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    sl_handle_remove(&c->handles, &t->h);
    t->flags |= TF_ORPHAN;
    if (t->state == SL_TCP_CLOSED) {
        sl_tcb_free(c, t);
        return SL_OK;
    }
    if ((t->flags & TF_SEND_RST) != 0)
        return SL_OK;
    t->flags |= TF_CLOSED_BY_USER;
    if (t->rcv.len > 0) {
        t->flags |= TF_SEND_RST;
        sl_tcb_want_output(c, t);
        return SL_OK;
    }
    if (t->state == SL_TCP_FIN_WAIT_2) {
        /* Already half-closed: bound the wait for the peer's FIN now that
         * nobody will read (RFC 9293 leaves FIN-WAIT-2 unbounded). */
        t->rexmt_at = c->now + c->cfg.tcp_fin_wait2;
        sl_tcb_arm(c, t);
        return SL_OK;
    }
    queue_fin(c, t); /* may free t (SYN-SENT) */
    return SL_OK;
}

sl_error sl_stream_info_get(const sl_stack *s, sl_stream h, sl_stream_info *info)
{
    const sl_ctx *c = sl_ctx_ofc(s);
    const sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    memset(info, 0, sizeof *info);
    const sl_flow_key *k = &t->node.key;
    info->local.addr.family = k->family;
    memcpy(info->local.addr.b, k->laddr, 16);
    info->local.port = k->lport;
    info->remote.addr.family = k->family;
    memcpy(info->remote.addr.b, k->raddr, 16);
    info->remote.port = k->rport;
    info->state = (sl_tcp_state)t->state;
    info->error = t->state == SL_TCP_CLOSED ? t->h.err : SL_OK;
    info->readable = t->rcv.len;
    info->unacked = sl_tcb_flight(t);
    /* Bytes sent at least once: SND.MAX - SND.UNA less an unacked SYN (a
     * counted FIN makes sent > len, so unsent is 0). */
    uint32_t sent = sl_tcb_flight(t);
    if (sent > 0 && (t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RECEIVED))
        sent--;
    info->unsent = sent < t->snd.len ? (uint32_t)(t->snd.len - sent) : 0;
    info->send_space = t->state == SL_TCP_CLOSED ? 0 : sl_ring_space(&t->snd);
    info->mss = t->mss;
    info->snd_wscale = (t->flags & TF_WS) != 0 ? t->snd_wscale : 0xff;
    info->rcv_wscale = (t->flags & TF_WS) != 0 ? t->rcv_wscale : 0xff;
    info->sack = (t->flags & TF_SACK) != 0;
    info->timestamps = (t->flags & TF_TS) != 0;
    info->srtt_us = t->srtt;
    info->rto_us = t->rto;
    info->cwnd = t->cwnd;
    info->ssthresh = t->ssthresh;
    info->retransmits = t->retransmits;
    return SL_OK;
}

sl_error sl_stream_set_user(sl_stack *s, sl_stream h, void *user)
{
    sl_tcb *t = lookup(sl_ctx_of(s), h);
    if (t == NULL)
        return SL_ERR_STALE;
    t->h.user = user;
    return SL_OK;
}

void *sl_stream_user(const sl_stack *s, sl_stream h)
{
    const sl_tcb *t = lookup(sl_ctx_ofc(s), h);
    return t == NULL ? NULL : t->h.user;
}

sl_error sl_stream_set_nodelay(sl_stack *s, sl_stream h, bool nodelay)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (nodelay) {
        t->flags |= TF_NODELAY;
        sl_tcb_want_output(c, t);
    } else {
        t->flags &= ~(uint32_t)TF_NODELAY;
    }
    return SL_OK;
}

sl_error sl_stream_set_keepalive(sl_stack *s, sl_stream h, bool on)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_tcb *t = lookup(c, h);
    if (t == NULL)
        return SL_ERR_STALE;
    if (on)
        t->flags |= TF_KEEPALIVE;
    else
        t->flags &= ~(uint32_t)TF_KEEPALIVE;
    if (sl_tcb_flight(t) == 0 && (t->flags & TF_PERSIST) == 0)
        sl_tcp_timer_idle(c, t);
    return SL_OK;
}

sl_error sl_stream_set_buffers(sl_stack *s, sl_stream h, uint32_t rcvbuf, uint32_t sndbuf)
{
    sl_tcb *t = lookup(sl_ctx_of(s), h);
    if (t == NULL)
        return SL_ERR_STALE;
    if ((rcvbuf != 0 && (rcvbuf < 1024 || rcvbuf > (1u << 30))) ||
        (sndbuf != 0 && (sndbuf < 1024 || sndbuf > (1u << 30))))
        return SL_ERR_INVAL;
    if ((rcvbuf != 0 && (t->rcv.buf != NULL || sl_tcb_ooo_n(t) > 0)) ||
        (sndbuf != 0 && t->snd.buf != NULL))
        return SL_ERR_STATE;
    if (rcvbuf != 0)
        t->rcv.cap = rcvbuf;
    if (sndbuf != 0)
        t->snd.cap = sndbuf;
    return SL_OK;
}

static sl_listener **listeners(sl_ctx *c)
{
    return (sl_listener **)(void *)&c->tcp_listeners;
}

static bool listen_key(const sl_endpoint *local, sl_flow_key *k)
{
    if (local == NULL || local->port == 0 ||
        (local->addr.family != 0 && local->addr.family != 4 && !SL_IS_V6(local->addr.family)))
        return false;
    sl_tcp_make_key(k, local->addr.family, local->addr.family != 0 ? local->addr.b : NULL,
                    local->port, NULL, 0);
    return true;
}

sl_error sl_stream_listen(sl_stack *s, const sl_endpoint *local, void *user)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_flow_key k;
    if (!listen_key(local, &k))
        return SL_ERR_INVAL;
    if (sl_flowtab_find(&c->flows, &k) != NULL || c->n_listeners >= MAX_LISTENERS)
        return SL_ERR_LIMIT;
    sl_listener *l = sl_mem_alloc(&c->mem, sizeof *l);
    if (l == NULL)
        return SL_ERR_NOMEM;
    l->user = user;
    sl_flow_node_set(&c->flows, &l->node, &k);
    sl_flowtab_insert(&c->flows, &l->node);
    l->next = *listeners(c);
    *listeners(c) = l;
    c->n_listeners++;
    return SL_OK;
}

sl_error sl_stream_unlisten(sl_stack *s, const sl_endpoint *local)
{
    sl_ctx *c = sl_ctx_of(s);
    sl_flow_key k;
    if (!listen_key(local, &k))
        return SL_ERR_INVAL;
    for (sl_listener **pp = listeners(c); *pp != NULL; pp = &(*pp)->next) {
        sl_listener *l = *pp;
        if (memcmp(&l->node.key, &k, sizeof k) != 0)
            continue;
        *pp = l->next;
        sl_flowtab_remove(&c->flows, &l->node);
        sl_mem_free(&c->mem, l, sizeof *l);
        c->n_listeners--;
        return SL_OK;
    }
    return SL_ERR_INVAL;
}

void sl_tcp_listeners_fini(sl_ctx *c)
{
    while (*listeners(c) != NULL) {
        sl_listener *l = *listeners(c);
        *listeners(c) = l->next;
        sl_flowtab_remove(&c->flows, &l->node);
        sl_mem_free(&c->mem, l, sizeof *l);
    }
    c->n_listeners = 0;
}
