/*
 * TCP connection lifetime: control blocks, the one set_state(), events,
 * the output list and the per-connection timer.
 */
#include <stddef.h>
#include <string.h>

#include "tcp/tcb.h"
#include "tcp/tcp.h"

static sl_tcb **all_head(sl_ctx *c)
{
    return (sl_tcb **)(void *)&c->tcp_all;
}

const char *sl_tcp_state_name(sl_tcp_state st)
{
    switch (st) {
    case SL_TCP_CLOSED: return "CLOSED";
    case SL_TCP_LISTEN: return "LISTEN";
    case SL_TCP_SYN_SENT: return "SYN-SENT";
    case SL_TCP_SYN_RECEIVED: return "SYN-RECEIVED";
    case SL_TCP_ESTABLISHED: return "ESTABLISHED";
    case SL_TCP_FIN_WAIT_1: return "FIN-WAIT-1";
    case SL_TCP_FIN_WAIT_2: return "FIN-WAIT-2";
    case SL_TCP_CLOSE_WAIT: return "CLOSE-WAIT";
    case SL_TCP_CLOSING: return "CLOSING";
    case SL_TCP_LAST_ACK: return "LAST-ACK";
    case SL_TCP_TIME_WAIT: return "TIME-WAIT";
    }
    return "?";
}

sl_tcb *sl_tcb_new(sl_ctx *c, void *user, sl_error *err)
{
    if (c->n_streams >= c->cfg.max_streams) {
        *err = SL_ERR_LIMIT;
        return NULL;
    }
    sl_tcb *t = sl_mem_alloc(&c->mem, sizeof *t);
    if (t == NULL) {
        sl_count(c, SL_CNT_MEM_FAIL);
        *err = SL_ERR_NOMEM;
        return NULL;
    }
    *err = sl_handle_add(&c->handles, &t->h, SL_HDL_STREAM, user);
    if (*err != SL_OK) {
        sl_mem_free(&c->mem, t, sizeof *t);
        return NULL;
    }
    sl_timer_init(&t->timer, SL_TK_TCP);
    sl_ring_init(&t->snd, c->cfg.tcp_sndbuf);
    sl_ring_init(&t->rcv, c->cfg.tcp_rcvbuf);
    t->x = NULL;
    t->state = SL_TCP_CLOSED;
    t->rto = (uint32_t)c->cfg.tcp_rto_initial;
    t->rexmt_at = SL_TIME_NEVER;
    t->delack_at = SL_TIME_NEVER;
    t->last_rx = c->now;
    if (c->cfg.tcp_keepalive_idle != 0)
        t->flags |= TF_KEEPALIVE;
    t->all_next = *all_head(c);
    if (t->all_next != NULL)
        t->all_next->all_prev = t;
    *all_head(c) = t;
    c->n_streams++;
    return t;
}

sl_tcb_ext *sl_tcb_ext_get(sl_ctx *c, sl_tcb *t)
{
    if (t->x == NULL) {
        t->x = sl_mem_alloc(&c->mem, sizeof *t->x);
        if (t->x == NULL) {
            sl_count(c, SL_CNT_MEM_FAIL);
            return NULL;
        }
        sl_ooo_init(&t->x->ooo);
    }
    return t->x;
}

void sl_tcb_ext_trim(sl_ctx *c, sl_tcb *t)
{
    if (t->x != NULL && t->x->ooo.n == 0 && t->x->n_sacked == 0) {
        sl_mem_free(&c->mem, t->x, sizeof *t->x);
        t->x = NULL;
    }
}

void sl_tcb_tuple(const sl_tcb *t, sl_tuple *tu)
{
    memset(tu, 0, sizeof *tu);
    tu->family = t->node.key.family;
    memcpy(tu->laddr, t->node.key.laddr, 16);
    memcpy(tu->raddr, t->node.key.raddr, 16);
    tu->lport = t->node.key.lport;
    tu->rport = t->node.key.rport;
}

void sl_tcb_set_state(sl_ctx *c, sl_tcb *t, sl_tcp_state st)
{
    sl_tcp_state from = (sl_tcp_state)t->state;
    if (from == st)
        return;
    if (from == SL_TCP_SYN_RECEIVED && (t->flags & TF_COUNT_BACKLOG) != 0) {
        t->flags &= ~(uint32_t)TF_COUNT_BACKLOG;
        c->n_backlog--;
    }
    if (st == SL_TCP_SYN_RECEIVED && (t->flags & TF_PASSIVE) != 0) {
        t->flags |= TF_COUNT_BACKLOG;
        c->n_backlog++;
    }
    t->state = (uint8_t)st;
    if (c->cfg.tcp_trace != NULL) {
        bool held = (t->flags & TF_ORPHAN) == 0;
        c->cfg.tcp_trace(c->cfg.tcp_trace_ctx, held ? t->h.idx : 0, held ? t->h.gen : 0, from, st);
    }
}

void sl_tcb_notify(sl_ctx *c, sl_tcb *t, unsigned ev)
{
    if ((t->flags & TF_ORPHAN) != 0)
        return;
    /* A passive connection is shown to the user only once established. */
    if ((t->flags & TF_PASSIVE) != 0 && t->state == SL_TCP_SYN_RECEIVED)
        return;
    sl_handle_notify(&c->handles, &t->h, ev);
}

void sl_tcb_want_output(sl_ctx *c, sl_tcb *t)
{
    if ((t->flags & TF_ON_OUTPUT) != 0)
        return;
    t->flags |= TF_ON_OUTPUT;
    t->out_next = NULL;
    sl_tcb *tail = c->tcp_out_tail;
    if (tail != NULL)
        tail->out_next = t;
    else
        c->tcp_out_head = t;
    c->tcp_out_tail = t;
}

static void out_unlink(sl_ctx *c, sl_tcb *t)
{
    if ((t->flags & TF_ON_OUTPUT) == 0)
        return;
    sl_tcb *prev = NULL;
    for (sl_tcb *x = c->tcp_out_head; x != NULL; prev = x, x = x->out_next) {
        if (x != t)
            continue;
        if (prev != NULL)
            prev->out_next = x->out_next;
        else
            c->tcp_out_head = x->out_next;
        if (c->tcp_out_tail == x)
            c->tcp_out_tail = prev;
        break;
    }
    t->flags &= ~(uint32_t)TF_ON_OUTPUT;
    t->out_next = NULL;
}

void sl_tcb_arm(sl_ctx *c, sl_tcb *t)
{
    sl_time at = t->rexmt_at < t->delack_at ? t->rexmt_at : t->delack_at;
    if (at == SL_TIME_NEVER)
        sl_wheel_cancel(&c->wheel, &t->timer);
    else
        sl_wheel_set(&c->wheel, &t->timer, at);
}

void sl_tcb_free(sl_ctx *c, sl_tcb *t)
{
    if ((t->flags & TF_IN_TABLE) != 0) {
        sl_flowtab_remove(&c->flows, &t->node);
        t->flags &= ~(uint32_t)TF_IN_TABLE;
    }
    out_unlink(c, t);
    sl_wheel_cancel(&c->wheel, &t->timer);
    sl_ring_fini(&t->snd, &c->mem);
    sl_ring_fini(&t->rcv, &c->mem);
    sl_mem_free(&c->mem, t->x, sizeof *t->x);
    t->x = NULL;
    if (t->flags & TF_COUNT_BACKLOG)
        c->n_backlog--;
    if ((t->flags & TF_ORPHAN) == 0)
        sl_handle_remove(&c->handles, &t->h);
    if (t->all_prev != NULL)
        t->all_prev->all_next = t->all_next;
    else
        *all_head(c) = t->all_next;
    if (t->all_next != NULL)
        t->all_next->all_prev = t->all_prev;
    c->n_streams--;
    sl_mem_free(&c->mem, t, sizeof *t);
}

void sl_tcb_finish(sl_ctx *c, sl_tcb *t, unsigned ev)
{
    bool hidden = (t->flags & TF_PASSIVE) != 0 && t->state == SL_TCP_SYN_RECEIVED;
    sl_tcb_set_state(c, t, SL_TCP_CLOSED);
    if ((t->flags & TF_ORPHAN) != 0 || hidden) {
        sl_tcb_free(c, t);
        return;
    }
    if ((t->flags & TF_IN_TABLE) != 0) {
        sl_flowtab_remove(&c->flows, &t->node);
        t->flags &= ~(uint32_t)TF_IN_TABLE;
    }
    out_unlink(c, t);
    t->rexmt_at = t->delack_at = SL_TIME_NEVER;
    sl_wheel_cancel(&c->wheel, &t->timer);
    sl_ring_fini(&t->snd, &c->mem);
    sl_mem_free(&c->mem, t->x, sizeof *t->x); /* no more out-of-order data or SACKs */
    t->x = NULL;
    /* Keep received data the user has not read yet (in order only). */
    if (t->rcv.len == 0)
        sl_ring_fini(&t->rcv, &c->mem);
    sl_handle_notify(&c->handles, &t->h, ev);
    if (ev != SL_EV_CLOSED)
        sl_handle_notify(&c->handles, &t->h, SL_EV_CLOSED);
}

void sl_tcp_fini(sl_ctx *c)
{
    while (*all_head(c) != NULL) {
        sl_tcb *t = *all_head(c);
        if ((t->flags & TF_ORPHAN) == 0) {
            sl_handle_remove(&c->handles, &t->h);
            t->flags |= TF_ORPHAN;
        }
        sl_tcb_free(c, t);
    }
    sl_tcp_listeners_fini(c);
}
