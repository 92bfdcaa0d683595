/*
 * TCP timers: retransmission (RFC 6298, Karn's rule, exponential backoff),
 * persist (RFC 9293 §3.8.6.1), keep-alive (RFC 1122 §4.2.3.6), delayed
 * ACK (RFC 1122 §4.2.3.2), TIME-WAIT (RFC 9293 §3.10.8) and the FIN-WAIT-2
 * limit of a connection the user has freed.  One wheel timer per
 * connection fires for the earliest deadline.
 */
#include "tcp/tcb.h"
#include "tcp/tcp.h"

static sl_tcb *tcb_of_timer(sl_timer *tm)
{
    return (sl_tcb *)(void *)((uint8_t *)tm - offsetof(sl_tcb, timer));
}

/* Idle time before keep-alive probes; a stream that turned keep-alive on
 * with the config's left at 0 uses RFC 1122's default of 2 hours. */
static sl_time keepalive_idle(const sl_ctx *c)
{
    return c->cfg.tcp_keepalive_idle != 0 ? c->cfg.tcp_keepalive_idle
                                          : (sl_time)2 * 3600 * 1000000;
}

void sl_tcp_rexmt_restart(sl_ctx *c, sl_tcb *t)
{
    t->rexmt_at = c->now + t->rto;
    sl_tcb_arm(c, t);
}

void sl_tcp_timer_idle(sl_ctx *c, sl_tcb *t)
{
    t->flags &= ~(uint32_t)TF_PERSIST;
    if ((t->flags & TF_KEEPALIVE) != 0 && t->state == SL_TCP_ESTABLISHED)
        t->rexmt_at = t->last_rx + keepalive_idle(c);
    else if (t->state != SL_TCP_TIME_WAIT && t->state != SL_TCP_FIN_WAIT_2)
        t->rexmt_at = SL_TIME_NEVER;
    sl_tcb_arm(c, t);
}

void sl_tcp_rtt_sample(sl_ctx *c, sl_tcb *t, uint32_t r)
{
    /* RFC 6298 §2.2, §2.3 (alpha 1/8, beta 1/4, K 4, G = 1 ms). */
    if (t->srtt == 0) {
        t->srtt = r > 0 ? r : 1;
        t->rttvar = r / 2;
    } else {
        uint32_t d = t->srtt > r ? t->srtt - r : r - t->srtt;
        t->rttvar = t->rttvar - t->rttvar / 4 + d / 4;
        t->srtt = t->srtt - t->srtt / 8 + r / 8;
    }
    uint64_t k = (uint64_t)4 * t->rttvar;
    uint64_t rto = (uint64_t)t->srtt + (k > 1000u ? k : 1000u);
    if (rto < c->cfg.tcp_rto_min)
        rto = c->cfg.tcp_rto_min;
    if (rto > c->cfg.tcp_rto_max)
        rto = c->cfg.tcp_rto_max;
    t->rto = (uint32_t)rto;
}

static void give_up(sl_ctx *c, sl_tcb *t)
{
    sl_count(c, SL_CNT_TCP_TIMEOUT);
    t->h.err = SL_ERR_TIMEDOUT;
    sl_tcb_finish(c, t, SL_EV_ERROR);
}

/* The retransmission timer proper: go back to snd_una and send again. */
static void rexmt(sl_ctx *c, sl_tcb *t)
{
    bool syn = t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RECEIVED;
    uint32_t limit = syn ? c->cfg.tcp_syn_retries : c->cfg.tcp_max_retries;
    if (t->retries >= limit) {
        give_up(c, t);
        return;
    }
    t->retries++;
    /* RFC 6298 §5.5: back off; §5.7 (after a SYN timeout the RTO stays at
     * least 3 s once data flows) is approximated by the backoff itself. */
    uint64_t rto = (uint64_t)t->rto * 2;
    t->rto = (uint32_t)(rto > c->cfg.tcp_rto_max ? c->cfg.tcp_rto_max : rto);
    sl_tcp_cc_timeout(t);
    t->snd_nxt = syn ? t->iss : t->snd_una;
    t->flags &= ~(uint32_t)TF_RTT_TIMING;    /* Karn */
    t->retransmits++;
    sl_count(c, SL_CNT_TCP_RETRANSMIT);
    sl_tcp_rexmt_restart(c, t);
    sl_tcb_want_output(c, t);
}

void sl_tcp_timer_fire(sl_ctx *c, sl_tcb *t)
{
    if (t->delack_at <= c->now) {
        t->delack_at = SL_TIME_NEVER;
        t->flags |= TF_ACK_NOW;
        sl_tcb_want_output(c, t);
    }
    if (t->rexmt_at > c->now) {
        sl_tcb_arm(c, t);
        return;
    }
    t->rexmt_at = SL_TIME_NEVER;
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_TIME_WAIT:
    case SL_TCP_FIN_WAIT_2:
        sl_tcb_finish(c, t, SL_EV_CLOSED);
        return;
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
        return;
    case SL_TCP_SYN_SENT:
    case SL_TCP_SYN_RECEIVED:
        rexmt(c, t);
        return;
    case SL_TCP_ESTABLISHED:
    case SL_TCP_CLOSE_WAIT:
    case SL_TCP_FIN_WAIT_1:
    case SL_TCP_CLOSING:
    case SL_TCP_LAST_ACK:
        break;
    }
    if ((t->flags & TF_PERSIST) != 0) {
        /* Zero-window probe; back off like the RTO but never give up
         * while the peer answers (RFC 1122 §4.2.2.17). */
        t->flags |= TF_PROBE;
        uint64_t rto = (uint64_t)t->rto * 2;
        t->rto = (uint32_t)(rto > c->cfg.tcp_rto_max ? c->cfg.tcp_rto_max : rto);
        sl_tcp_rexmt_restart(c, t);
        sl_tcb_want_output(c, t);
        return;
    }
    if (sl_tcb_flight(t) > 0) {
        rexmt(c, t);
        return;
    }
    if ((t->flags & TF_KEEPALIVE) != 0 && t->state == SL_TCP_ESTABLISHED) {
        if (c->now < t->last_rx + keepalive_idle(c)) {
            sl_tcp_timer_idle(c, t);
            return;
        }
        if (t->probes >= c->cfg.tcp_keepalive_probes) {
            give_up(c, t);
            return;
        }
        t->probes++;
        t->flags |= TF_PROBE;
        t->rexmt_at = c->now + c->cfg.tcp_keepalive_intvl;
        sl_tcb_arm(c, t);
        sl_tcb_want_output(c, t);
    }
}

void sl_tcp_timer(sl_ctx *c, sl_timer *tm)
{
    sl_tcp_timer_fire(c, tcb_of_timer(tm));
}
