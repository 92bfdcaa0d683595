/*
 * TCP input: RFC 9293 §3.10.7 "SEGMENT ARRIVES", in its order of checks,
 * with RFC 5961 (challenge ACKs for RSTs and SYNs), RFC 7323 (PAWS, window
 * scaling), RFC 2018 (SACK), RFC 4987 (SYN cookies) and RFC 1122 (delayed
 * ACKs, data after close).
 */
#include <string.h>

#include "ip/ip.h"
#include "tcp/tcb.h"
#include "tcp/tcp.h"

#define CHALLENGE_ACKS_PER_SECOND 100u /* RFC 5961 §7 */
#define PAWS_IDLE_US (24ull * 24 * 3600 * 1000000) /* RFC 7323 §5.5: 24 days */

typedef struct seg_ctx {
    uint8_t family;
    const uint8_t *src, *dst;
    sl_tcp_hdr h;
    uint32_t seglen; /* payload + SYN + FIN */
} seg_ctx;

static sl_tcb *tcb_of_node(sl_flow_node *n)
{
    return (sl_tcb *)(void *)((uint8_t *)n - offsetof(sl_tcb, node));
}

void sl_tcp_make_key(sl_flow_key *k, uint8_t family, const uint8_t *laddr, uint16_t lport,
                     const uint8_t *raddr, uint16_t rport)
{
    sl_flow_key_make(k, SL_IPPROTO_TCP, family, laddr, lport, raddr, rport);
}

static void ack_now(sl_ctx *c, sl_tcb *t)
{
    t->flags |= TF_ACK_NOW;
    sl_tcb_want_output(c, t);
}

/* RFC 5961 §3.2, §4.2, §5.2, rate-limited (§7). */
static void challenge_ack(sl_ctx *c, sl_tcb *t)
{
    if (c->now >= c->challenge_second + 1000000u) {
        c->challenge_second = c->now;
        c->challenge_acks = 0;
    }
    if (c->challenge_acks >= CHALLENGE_ACKS_PER_SECOND)
        return;
    c->challenge_acks++;
    sl_count(c, SL_CNT_TCP_CHALLENGE_ACK);
    ack_now(c, t);
}

/* Option negotiation from the peer's SYN (RFC 9293 §3.7.1, RFC 6691,
 * RFC 7323 §2.2-2.3, RFC 2018 §2). */
static void negotiate(const sl_ctx *c, sl_tcb *t, const sl_tcp_opts *o, uint8_t family)
{
    uint32_t ours = sl_tcp_our_mss(c, family);
    uint32_t mss = o->has_mss ? o->mss : (family == 4 ? 536u : 1220u);
    if (mss < 64) /* MSS 0 or absurdly small: clamp (RFC 6691 §2) */
        mss = 64;
    if (mss > ours)
        mss = ours;
    t->mss = (uint16_t)mss;
    if (o->has_wscale) {
        t->flags |= TF_WS;
        t->snd_wscale = o->wscale > 14 ? 14 : o->wscale; /* RFC 7323 §2.3 */
    } else {
        t->snd_wscale = 0;
        t->rcv_wscale = 0;
    }
    if (o->sack_perm)
        t->flags |= TF_SACK;
    if (SL_FEATURE_TIMESTAMPS && o->has_ts) {
        t->flags |= TF_TS;
        t->ts_recent = o->ts_val;
        t->ts_recent_at = c->now;
    }
}

static void fill_tuple(sl_tuple *tu, const seg_ctx *sc)
{
    memset(tu, 0, sizeof *tu);
    tu->family = sc->family;
    size_t n = sl_ip_alen(sc->family);
    memcpy(tu->laddr, sc->dst, n);
    memcpy(tu->raddr, sc->src, n);
    tu->lport = sc->h.dport;
    tu->rport = sc->h.sport;
}

/* A new tcb for the segment's 4-tuple, in the flow table. */
static sl_tcb *new_passive(sl_ctx *c, const seg_ctx *sc, void *user)
{
    sl_error err;
    sl_tcb *t = sl_tcb_new(c, user, &err);
    if (t == NULL) {
        sl_count(c, SL_CNT_TCP_CONN_LIMIT);
        return NULL;
    }
    t->flags |= TF_PASSIVE;
    sl_flow_key k;
    sl_tcp_make_key(&k, sc->family, sc->dst, sc->h.dport, sc->src, sc->h.sport);
    sl_flow_node_set(&c->flows, &t->node, &k);
    sl_flowtab_insert(&c->flows, &t->node);
    t->flags |= TF_IN_TABLE;
    t->rcv_wscale = sl_tcp_our_wscale(c);
    return t;
}

static void established(sl_ctx *c, sl_tcb *t)
{
    if (t->snd_wnd > t->max_snd_wnd)
        t->max_snd_wnd = t->snd_wnd;
    sl_tcb_set_state(c, t, SL_TCP_ESTABLISHED);
    sl_tcp_cc_init(t);
    t->retries = 0;
    if ((t->flags & TF_PASSIVE) != 0) {
        sl_count(c, SL_CNT_TCP_CONN_ACCEPTED);
        sl_tcb_notify(c, t, SL_EV_STREAM_NEW);
        if (t->rcv.len > 0) /* text that came with the SYN */
            sl_tcb_notify(c, t, SL_EV_READABLE);
        if (t->snd.len > 0 || sl_ring_space(&t->snd) > 0)
            sl_tcb_notify(c, t, SL_EV_WRITABLE);
    } else {
        sl_count(c, SL_CNT_TCP_CONN_CONNECTED);
        sl_tcb_notify(c, t, SL_EV_CONNECTED);
    }
    sl_tcp_timer_idle(c, t);
    if ((t->flags & TF_FIN_QUEUED) != 0) { /* shut down while opening */
        sl_tcb_set_state(c, t, SL_TCP_FIN_WAIT_1);
        sl_tcb_want_output(c, t);
    }
}

/* Stateless SYN-ACK carrying a SYN cookie (RFC 4987 §3.6). */
static void send_cookie(sl_ctx *c, const seg_ctx *sc)
{
    sl_cookie_opts co;
    memset(&co, 0, sizeof co);
    co.mss = sc->h.o.has_mss ? sc->h.o.mss : (sc->family == 4 ? 536 : 1220);
    co.has_wscale = sc->h.o.has_wscale;
    co.wscale = sc->h.o.wscale > 14 ? 14 : sc->h.o.wscale;
    co.sack_perm = SL_FEATURE_SACK && sc->h.o.sack_perm;
    co.has_ts = SL_FEATURE_TIMESTAMPS && sc->h.o.has_ts;
    sl_tuple tu;
    fill_tuple(&tu, sc);
    uint32_t cookie = sl_cookie_make(c->key_cookie, &tu, sc->h.seq, &co, c->now);
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = sc->h.dport;
    h.dport = sc->h.sport;
    h.seq = cookie;
    h.ack = sc->h.seq + 1;
    h.flags = SL_TCP_SYN | SL_TCP_ACK;
    h.window = (uint16_t)(c->cfg.tcp_rcvbuf > 65535u ? 65535u : c->cfg.tcp_rcvbuf);
    h.o.has_mss = true;
    h.o.mss = sl_tcp_our_mss(c, sc->family);
    if (co.has_wscale) {
        h.o.has_wscale = true;
        h.o.wscale = sl_tcp_our_wscale(c);
    }
    h.o.sack_perm = co.sack_perm;
    if (co.has_ts) {
        h.o.has_ts = true;
        h.o.ts_val = (uint32_t)(c->now / 1000u) + cookie;
        h.o.ts_ecr = sc->h.o.ts_val;
    }
    sl_error err;
    size_t len = sl_tcp_emit_len(&h);
    uint8_t *l4 = NULL;
    sl_txpkt *p = sl_ip_alloc(c, sc->family, sc->dst, sc->src, SL_IPPROTO_TCP, len, &l4, &err);
    if (p == NULL)
        return;
    sl_pseudo ph = {sc->family, sc->dst, sc->src};
    size_t w = 0;
    (void)sl_tcp_emit(&h, &ph, l4, len, &w);
    sl_ip_queue(c, p);
    sl_count(c, SL_CNT_TCP_COOKIE_SENT);
}

static sl_listener *find_listener(sl_ctx *c, const seg_ctx *sc)
{
    sl_flow_key k;
    sl_tcp_make_key(&k, sc->family, sc->dst, sc->h.dport, NULL, 0);
    sl_flow_node *n = sl_flowtab_find(&c->flows, &k);
    if (n == NULL) {
        sl_tcp_make_key(&k, 0, NULL, sc->h.dport, NULL, 0);
        n = sl_flowtab_find(&c->flows, &k);
    }
    return n == NULL ? NULL : (sl_listener *)(void *)((uint8_t *)n - offsetof(sl_listener, node));
}

/* The ACK of a cookie SYN-ACK: make the connection it stands for. */
static sl_tcb *from_cookie(sl_ctx *c, const seg_ctx *sc)
{
    sl_tuple tu;
    fill_tuple(&tu, sc);
    sl_cookie_opts co;
    if (!sl_cookie_check(c->key_cookie, &tu, sc->h.seq - 1, sc->h.ack - 1, c->now, &co)) {
        sl_count(c, SL_CNT_TCP_COOKIE_BAD);
        return NULL;
    }
    sl_listener *l = find_listener(c, sc);
    sl_tcb *t = new_passive(c, sc, l != NULL ? l->user : NULL);
    if (t == NULL)
        return NULL;
    sl_tcp_opts o;
    memset(&o, 0, sizeof o);
    o.has_mss = true;
    o.mss = co.mss;
    o.has_wscale = co.has_wscale;
    o.wscale = co.wscale;
    o.sack_perm = co.sack_perm;
    o.has_ts = co.has_ts && sc->h.o.has_ts;
    o.ts_val = sc->h.o.ts_val;
    negotiate(c, t, &o, sc->family);
    t->irs = sc->h.seq - 1;
    t->rcv_nxt = sc->h.seq;
    t->rcv_adv = t->rcv_nxt;
    t->iss = sc->h.ack - 1;
    t->snd_una = t->snd_nxt = t->snd_max = sc->h.ack;
    t->recover = t->iss;
    t->snd_wnd = (uint32_t)sc->h.window << t->snd_wscale;
    t->snd_wl1 = sc->h.seq;
    t->snd_wl2 = sc->h.ack;
    sl_count(c, SL_CNT_TCP_COOKIE_OK);
    t->state = SL_TCP_SYN_RECEIVED; /* not counted in the backlog */
    established(c, t);
    return t;
}

/* RFC 9293 §3.10.7.2 (LISTEN) with the acceptor in front. */
static void syn_to_nobody(sl_ctx *c, const seg_ctx *sc)
{
    void *user = NULL;
    sl_listener *l = find_listener(c, sc);
    if (l != NULL) {
        user = l->user;
    } else if (c->cfg.filter != NULL) {
        sl_flow_info fi;
        memset(&fi, 0, sizeof fi);
        fi.proto = SL_IPPROTO_TCP;
        fi.local.addr.family = sc->family;
        memcpy(fi.local.addr.b, sc->dst, sl_ip_alen(sc->family));
        fi.local.port = sc->h.dport;
        fi.remote.addr.family = sc->family;
        memcpy(fi.remote.addr.b, sc->src, sl_ip_alen(sc->family));
        fi.remote.port = sc->h.sport;
        switch (c->cfg.filter(c->cfg.filter_ctx, &fi)) {
        case SL_ACCEPT:
            break;
        case SL_REFUSE:
            sl_count(c, SL_CNT_TCP_CONN_REFUSED);
            sl_tcp_send_reset(c, sc->family, sc->src, sc->dst, &sc->h);
            return;
        case SL_DROP:
            sl_count(c, SL_CNT_TCP_CONN_DROPPED);
            return;
        }
    }
    if (c->n_streams >= c->cfg.max_streams) {
        sl_count(c, SL_CNT_TCP_CONN_LIMIT);
        return;
    }
    if (c->n_backlog >= c->cfg.tcp_backlog) {
        if (SL_FEATURE_SYN_COOKIES && c->cfg.syn_cookies)
            send_cookie(c, sc);
        else
            sl_count(c, SL_CNT_TCP_BACKLOG_FULL);
        return;
    }
    sl_tcb *t = new_passive(c, sc, user);
    if (t == NULL)
        return;
    negotiate(c, t, &sc->h.o, sc->family);
    t->irs = sc->h.seq;
    t->rcv_nxt = sc->h.seq + 1;
    t->rcv_adv = t->rcv_nxt;
    sl_tuple tu;
    sl_tcb_tuple(t, &tu);
    t->iss = sl_tcp_isn(c->key_isn, &tu, c->now);
    t->snd_una = t->snd_nxt = t->snd_max = t->iss;
    t->recover = t->iss;
    t->snd_wnd = sc->h.window; /* never scaled in a SYN */
    t->snd_wl1 = sc->h.seq;
    t->snd_wl2 = 0;
    sl_tcb_set_state(c, t, SL_TCP_SYN_RECEIVED);
    /* §3.10.7.2: "any other control or text should be queued for
     * processing later".  Text is kept at once (up to the receive buffer)
     * and acknowledged by the SYN-ACK; the user reads it once the
     * connection is established.  A FIN in a SYN waits for its own
     * retransmission. */
    if (sc->h.payload_len > 0) {
        int nomem = 0;
        size_t n = sl_ring_write(&t->rcv, &c->mem, sc->h.payload, sc->h.payload_len, &nomem);
        t->rcv_nxt += (uint32_t)n;
        t->rcv_adv = t->rcv_nxt;
        if (nomem)
            sl_count(c, SL_CNT_MEM_FAIL);
    }
    sl_tcb_want_output(c, t); /* SYN-ACK */
}

/* RFC 9293 §3.10.7.3: SYN-SENT. */
static void in_syn_sent(sl_ctx *c, sl_tcb *t, const seg_ctx *sc)
{
    const sl_tcp_hdr *h = &sc->h;
    bool ack_ok = false;
    if ((h->flags & SL_TCP_ACK) != 0) {
        if (sl_seq_le(h->ack, t->iss) || sl_seq_gt(h->ack, t->snd_max)) {
            sl_tcp_send_reset(c, sc->family, sc->src, sc->dst, h);
            return;
        }
        ack_ok = true;
    }
    if ((h->flags & SL_TCP_RST) != 0) {
        if (ack_ok) {
            sl_count(c, SL_CNT_TCP_RST_RX);
            t->h.err = SL_ERR_REFUSED;
            sl_tcb_finish(c, t, SL_EV_ERROR);
        }
        return;
    }
    if ((h->flags & SL_TCP_SYN) == 0)
        return;
    t->irs = h->seq;
    t->rcv_nxt = h->seq + 1;
    t->rcv_adv = t->rcv_nxt;
    negotiate(c, t, &h->o, sc->family);
    if (!h->o.has_wscale)
        t->rcv_wscale = 0;
    t->snd_wl1 = h->seq;
    if (ack_ok) {
        if (t->retries == 0)
            sl_tcp_rtt_sample(c, t, (uint32_t)(c->now - t->rtt_start));
        t->snd_una = h->ack;
        t->snd_wnd = h->window; /* RFC 7323 §2.2: a SYN's window is never scaled */
        t->snd_wl2 = h->ack;
        if (sl_seq_lt(t->snd_nxt, t->snd_una))
            t->snd_nxt = t->snd_una;
        established(c, t);
        ack_now(c, t);
        return;
    }
    /* Simultaneous open: SYN-RECEIVED, answer <SYN,ACK> with our ISS. */
    t->snd_wnd = h->window;
    t->snd_nxt = t->iss;
    sl_tcb_set_state(c, t, SL_TCP_SYN_RECEIVED);
    sl_tcb_want_output(c, t);
}

static bool seq_acceptable(const sl_tcb *t, uint32_t seq, uint32_t seglen)
{
    uint32_t wnd = sl_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t avail = t->rcv.cap - t->rcv.len;
    if (avail > wnd)
        wnd = avail; /* what we could take even if not yet advertised */
    if (seglen == 0) {
        if (wnd == 0)
            return seq == t->rcv_nxt;
        return sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd);
    }
    if (wnd == 0)
        return false;
    uint32_t last = seq + seglen - 1;
    return (sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd)) ||
           (sl_seq_le(t->rcv_nxt, last) && sl_seq_lt(last, t->rcv_nxt + wnd));
}

static void fin_acked_transitions(sl_ctx *c, sl_tcb *t)
{
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_FIN_WAIT_1:
        sl_tcb_set_state(c, t, SL_TCP_FIN_WAIT_2);
        if ((t->flags & TF_ORPHAN) != 0) {
            t->rexmt_at = c->now + c->cfg.tcp_fin_wait2;
            sl_tcb_arm(c, t);
        }
        break;
    case SL_TCP_CLOSING:
        sl_tcb_set_state(c, t, SL_TCP_TIME_WAIT);
        t->rexmt_at = c->now + c->cfg.tcp_time_wait;
        sl_tcb_arm(c, t);
        break;
    case SL_TCP_LAST_ACK:
        sl_tcb_finish(c, t, SL_EV_CLOSED);
        break;
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
    case SL_TCP_SYN_SENT:
    case SL_TCP_SYN_RECEIVED:
    case SL_TCP_ESTABLISHED:
    case SL_TCP_FIN_WAIT_2:
    case SL_TCP_CLOSE_WAIT:
    case SL_TCP_TIME_WAIT:
        break;
    }
}

/* The ACK field (RFC 9293 §3.10.7.4 fifth check).  Returns false when
 * the segment must be dropped (or the tcb is gone). */
static bool process_ack(sl_ctx *c, sl_tcb *t, const seg_ctx *sc)
{
    const sl_tcp_hdr *h = &sc->h;
    if (t->state == SL_TCP_SYN_RECEIVED) {
        if (sl_seq_le(h->ack, t->snd_una) || sl_seq_gt(h->ack, t->snd_max)) {
            sl_tcp_send_reset(c, sc->family, sc->src, sc->dst, h);
            return false;
        }
        t->snd_una = h->ack;
        if (sl_seq_lt(t->snd_nxt, t->snd_una))
            t->snd_nxt = t->snd_una;
        t->snd_wnd = (uint32_t)h->window << t->snd_wscale;
        t->snd_wl1 = h->seq;
        t->snd_wl2 = h->ack;
        if (t->srtt == 0 && t->retries == 0)
            sl_tcp_rtt_sample(c, t, (uint32_t)(c->now - t->rtt_start));
        established(c, t);
        return true;
    }
    if (sl_seq_gt(h->ack, t->snd_max)) {
        /* ACK of something not yet sent: ACK and drop (RFC 9293). */
        sl_count(c, SL_CNT_TCP_DROP_BAD_ACK);
        ack_now(c, t);
        return false;
    }
    if (sl_seq_lt(h->ack, t->snd_una - t->max_snd_wnd)) {
        /* RFC 5961 §5.2: acceptable only if (SND.UNA - MAX.SND.WND) =<
         * SEG.ACK =< SND.NXT, MAX.SND.WND the largest window the peer
         * has offered. */
        challenge_ack(c, t);
        return false;
    }
    bool fin_acked = false;
    bool new_sack = SL_FEATURE_SACK && h->o.n_sack > 0 && sl_tcp_sack_update(c, t, &h->o);
    if (sl_seq_gt(h->ack, t->snd_una)) {
        uint32_t acked = h->ack - t->snd_una;
        uint32_t data = acked;
        if ((t->flags & TF_FIN_SENT) != 0 && h->ack == t->snd_max) {
            fin_acked = true;
            data--;
        }
        if (data > t->snd.len)
            data = t->snd.len; /* a window probe byte may be counted */
        sl_ring_consume(&t->snd, &c->mem, data, 0);
        t->snd_una = h->ack;
        if (SL_FEATURE_SACK)
            sl_tcp_sack_prune(c, t);
        if (sl_seq_lt(t->snd_nxt, t->snd_una))
            t->snd_nxt = t->snd_una;
        /* RTT: timestamps (RFC 7323 §4.1) or the timed segment (Karn). */
        if ((t->flags & TF_TS) != 0 && h->o.has_ts && h->o.ts_ecr != 0) {
            uint32_t now_ts = (uint32_t)(c->now / 1000u) + t->iss;
            sl_tcp_rtt_sample(c, t, (now_ts - h->o.ts_ecr) * 1000u);
        } else if ((t->flags & TF_RTT_TIMING) != 0 && sl_seq_gt(h->ack, t->rtt_seq)) {
            sl_tcp_rtt_sample(c, t, (uint32_t)(c->now - t->rtt_start));
        }
        if ((t->flags & TF_RTT_TIMING) != 0 && sl_seq_gt(h->ack, t->rtt_seq))
            t->flags &= ~(uint32_t)TF_RTT_TIMING;
        t->retries = 0;
        sl_tcp_cc_ack(c, t, acked);
        if (sl_tcb_flight(t) == 0)
            sl_tcp_timer_idle(c, t);
        else
            sl_tcp_rexmt_restart(c, t);
        if ((t->flags & TF_WANT_WRITABLE) != 0 && sl_ring_space(&t->snd) > 0) {
            t->flags &= ~(uint32_t)TF_WANT_WRITABLE;
            sl_tcb_notify(c, t, SL_EV_WRITABLE);
        }
        sl_tcb_want_output(c, t);
    } else if (h->ack == t->snd_una && sl_tcb_flight(t) > 0 && (t->flags & TF_PERSIST) == 0 &&
               (new_sack || (sc->seglen == 0 &&
                             ((uint32_t)h->window << t->snd_wscale) == t->snd_wnd))) {
        /* Duplicate ACK (RFC 5681 §2); with SACK, any ACK that SACKs new
         * data, even one carrying data of its own (RFC 6675 §2, so loss is
         * detected when both sides send); not while probing a zero window. */
        if (sl_tcp_cc_dupack(c, t)) {
            /* Fast retransmit: the segment at SND.UNA, once. */
            sl_count(c, SL_CNT_TCP_FAST_RETRANSMIT);
            t->retransmits++;
            t->flags |= TF_REXMT_ONE;
            t->flags &= ~(uint32_t)TF_RTT_TIMING;
        }
        sl_tcb_want_output(c, t);
    }
    /* Window update (RFC 9293 §3.10.7.4). */
    if (sl_seq_lt(t->snd_wl1, h->seq) || (t->snd_wl1 == h->seq && sl_seq_le(t->snd_wl2, h->ack))) {
        uint32_t old = t->snd_wnd;
        t->snd_wnd = (uint32_t)h->window << t->snd_wscale;
        if (t->snd_wnd > t->max_snd_wnd)
            t->max_snd_wnd = t->snd_wnd;
        t->snd_wl1 = h->seq;
        t->snd_wl2 = h->ack;
        if (t->snd_wnd > old) {
            if (t->snd_wnd > 0 && (t->flags & TF_PERSIST) != 0) {
                t->flags &= ~(uint32_t)TF_PERSIST;
                t->rexmt_at = SL_TIME_NEVER;
                if (sl_tcb_flight(t) > 0)
                    sl_tcp_rexmt_restart(c, t);
            }
            sl_tcb_want_output(c, t);
        }
    }
    if (fin_acked) {
        bool last_ack = t->state == SL_TCP_LAST_ACK;
        fin_acked_transitions(c, t); /* LAST-ACK: finishes t, frees it if orphaned */
        if (last_ack)
            return false;
    }
    return t->state != SL_TCP_CLOSED;
}

/* Segment text (RFC 9293 §3.10.7.4 seventh check). */
static void process_data(sl_ctx *c, sl_tcb *t, const seg_ctx *sc)
{
    const sl_tcp_hdr *h = &sc->h;
    const uint8_t *data = h->payload;
    size_t len = h->payload_len;
    uint32_t seq = h->seq;
    if ((h->flags & SL_TCP_SYN) != 0)
        seq++;
    if (sl_seq_lt(seq, t->rcv_nxt)) { /* trim what we already have */
        uint32_t skip = t->rcv_nxt - seq;
        if (skip >= len) {
            ack_now(c, t); /* a retransmission: tell the peer */
            return;
        }
        data += skip;
        len -= skip;
        seq = t->rcv_nxt;
    }
    if ((t->flags & TF_CLOSED_BY_USER) != 0) {
        /* RFC 1122 §4.2.2.13: data for a closed receiver: reset. */
        sl_count(c, SL_CNT_TCP_DATA_AFTER_CLOSE);
        t->flags |= TF_SEND_RST;
        t->h.err = SL_ERR_RESET;
        sl_tcb_want_output(c, t);
        return;
    }
    bool was_empty = t->rcv.len == 0;
    int nomem = 0;
    if (seq == t->rcv_nxt) {
        size_t n = sl_ring_write(&t->rcv, &c->mem, data, len, &nomem);
        t->rcv_nxt += (uint32_t)n;
        uint32_t next = t->rcv_nxt;
        if (t->x != NULL) { /* out-of-order data may now follow on */
            next = sl_ooo_advance(&t->x->ooo, t->rcv_nxt);
            sl_tcb_ext_trim(c, t);
        }
        bool filled = next != t->rcv_nxt;
        if (filled) {
            sl_ring_extend(&t->rcv, next - t->rcv_nxt);
            t->rcv_nxt = next;
        }
        /* The window we advertised has no room for another segment of
         * this size: the sender is stopped until it hears from us, and
         * delaying the ACK would only stall it (one 64 KiB segment per
         * delayed-ACK timeout with a 64 KiB window). */
        bool wnd_full = sl_seq_lt(t->rcv_adv, t->rcv_nxt + (uint32_t)len);
        /* A segment of two or more of our MSS was coalesced by the device
         * (receive offload, sl_input_ex): it stands for at least two
         * full-sized segments, which RFC 5681 §4.2 ACKs at once. */
        uint32_t full = sl_tcp_our_mss(c, t->node.key.family) - ((t->flags & TF_TS) != 0 ? 12u : 0u);
        bool coalesced = len >= 2 * (size_t)full;
        if (n < len || filled || sl_tcb_ooo_n(t) > 0 || wnd_full || coalesced ||
            (t->flags & TF_DELACK) != 0) {
            ack_now(c, t); /* RFC 5681 §4.2: at least every second segment */
        } else {
            t->flags |= TF_DELACK;
            t->delack_at = c->now + c->cfg.tcp_delack;
            sl_tcb_arm(c, t);
        }
        if (was_empty && t->rcv.len > 0)
            sl_tcb_notify(c, t, SL_EV_READABLE);
    } else {
        /* Out of order: keep it in the ring at its offset if the range
         * table has room (bounded), and ACK at once (RFC 5681 §4.2). */
        uint32_t gap = seq - t->rcv_nxt;
        size_t n = sl_ring_write_at(&t->rcv, &c->mem, gap, data, len, &nomem);
        sl_tcb_ext *x = n > 0 ? sl_tcb_ext_get(c, t) : NULL;
        if (x == NULL || !sl_ooo_add(&x->ooo, t->rcv_nxt, seq, seq + (uint32_t)n))
            sl_count(c, SL_CNT_TCP_OOO_DROP);
        sl_tcb_ext_trim(c, t);
        ack_now(c, t);
    }
    if (nomem)
        sl_count(c, SL_CNT_MEM_FAIL);
}

static void process_fin(sl_ctx *c, sl_tcb *t, const seg_ctx *sc)
{
    uint32_t end = sc->h.seq + (uint32_t)sc->h.payload_len;
    if ((sc->h.flags & SL_TCP_SYN) != 0)
        end++;
    if (end != t->rcv_nxt || (t->flags & TF_RCVD_FIN) != 0) {
        if ((t->flags & TF_RCVD_FIN) != 0 && t->state == SL_TCP_TIME_WAIT) {
            /* A retransmitted FIN: ACK it and restart 2 MSL. */
            t->rexmt_at = c->now + c->cfg.tcp_time_wait;
            sl_tcb_arm(c, t);
            ack_now(c, t);
        }
        return; /* not in order yet: the peer retransmits it */
    }
    t->rcv_nxt++;
    t->flags |= TF_RCVD_FIN;
    ack_now(c, t);
    sl_tcb_notify(c, t, SL_EV_PEER_FIN);
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_SYN_RECEIVED:
    case SL_TCP_ESTABLISHED:
        sl_tcb_set_state(c, t, SL_TCP_CLOSE_WAIT);
        break;
    case SL_TCP_FIN_WAIT_1:
        /* Our FIN not yet acknowledged: simultaneous close. */
        sl_tcb_set_state(c, t, SL_TCP_CLOSING);
        break;
    case SL_TCP_FIN_WAIT_2:
        sl_tcb_set_state(c, t, SL_TCP_TIME_WAIT);
        t->rexmt_at = c->now + c->cfg.tcp_time_wait;
        t->delack_at = SL_TIME_NEVER;
        sl_tcb_arm(c, t);
        break;
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
    case SL_TCP_SYN_SENT:
    case SL_TCP_CLOSE_WAIT:
    case SL_TCP_CLOSING:
    case SL_TCP_LAST_ACK:
    case SL_TCP_TIME_WAIT:
        break;
    }
}

/* Everything after SYN-SENT.  Returns true when the segment should be
 * processed again as a new connection (a new SYN in TIME-WAIT). */
static bool in_synchronised(sl_ctx *c, sl_tcb *t, const seg_ctx *sc)
{
    const sl_tcp_hdr *h = &sc->h;
    /* PAWS (RFC 7323 §5.3).  After 24 idle days TS.Recent is invalid
     * (§5.5): the segment is accepted and its TSval becomes TS.Recent. */
    bool ts_stale = false;
    if ((t->flags & TF_TS) != 0 && h->o.has_ts && (h->flags & SL_TCP_RST) == 0 &&
        sl_seq_lt(h->o.ts_val, t->ts_recent)) {
        if (c->now - t->ts_recent_at < PAWS_IDLE_US) {
            sl_count(c, SL_CNT_TCP_DROP_PAWS);
            ack_now(c, t);
            return false;
        }
        ts_stale = true;
    }
    /* A new SYN in TIME-WAIT may reopen (RFC 9293 §3.10.7.4, RFC 6191):
     * its sequence number is above what we had, or its timestamp newer. */
    if (t->state == SL_TCP_TIME_WAIT && (h->flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST)) ==
                                            SL_TCP_SYN) {
        bool newer = (t->flags & TF_TS) != 0 && h->o.has_ts
                         ? sl_seq_gt(h->o.ts_val, t->ts_recent)
                         : sl_seq_gt(h->seq, t->rcv_nxt);
        if (newer) {
            sl_tcb_finish(c, t, SL_EV_CLOSED);
            return true;
        }
    }
    /* A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; send it
     * again now rather than at our retransmission timeout. */
    if (t->state == SL_TCP_SYN_RECEIVED &&
        (h->flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST)) == SL_TCP_SYN && h->seq == t->irs) {
        t->snd_nxt = t->iss;
        sl_tcb_want_output(c, t);
        return false;
    }
    /* A retransmission of the FIN we hold, in TIME-WAIT: ACK it and
     * restart the 2 MSL wait (RFC 9293 §3.10.7.4, eighth check). */
    if (t->state == SL_TCP_TIME_WAIT && (h->flags & (SL_TCP_FIN | SL_TCP_RST)) == SL_TCP_FIN &&
        h->seq + (uint32_t)h->payload_len + 1u == t->rcv_nxt) {
        t->rexmt_at = c->now + c->cfg.tcp_time_wait;
        sl_tcb_arm(c, t);
        ack_now(c, t);
        return false;
    }
    /* First: sequence number. */
    if (!seq_acceptable(t, h->seq, sc->seglen)) {
        if ((h->flags & SL_TCP_RST) != 0)
            return false;
        sl_count(c, SL_CNT_TCP_DROP_UNACCEPTABLE);
        ack_now(c, t);
        /* "If the RCV.WND is zero, no segments will be acceptable, but
         * special allowance should be made to accept valid ACKs" (RFC 9293
         * §3.10.7.4): otherwise two peers with full receive buffers drop
         * each other's ACKs for ever.  The ACK field alone is processed. */
        if (sl_tcp_rcv_window(c, t) == 0 && (h->flags & (SL_TCP_ACK | SL_TCP_SYN)) == SL_TCP_ACK &&
            sl_seq_gt(h->ack, t->snd_una) && sl_seq_le(h->ack, t->snd_max) &&
            t->state != SL_TCP_SYN_RECEIVED) {
            seg_ctx ack_only = *sc;
            ack_only.h.payload_len = 0;
            ack_only.h.flags = (uint8_t)(ack_only.h.flags & ~(SL_TCP_FIN | SL_TCP_PSH));
            ack_only.seglen = 0;
            (void)process_ack(c, t, &ack_only); /* may free t: nothing after */
        }
        return false;
    }
    /* Second: RST (RFC 5961 §3.2: exact match only, else challenge). */
    if ((h->flags & SL_TCP_RST) != 0) {
        if (h->seq != t->rcv_nxt) {
            challenge_ack(c, t);
            return false;
        }
        sl_count(c, SL_CNT_TCP_RST_RX);
        switch ((sl_tcp_state)t->state) {
        case SL_TCP_SYN_RECEIVED:
            t->h.err = SL_ERR_REFUSED;
            sl_tcb_finish(c, t, SL_EV_ERROR);
            return false;
        case SL_TCP_ESTABLISHED:
        case SL_TCP_FIN_WAIT_1:
        case SL_TCP_FIN_WAIT_2:
        case SL_TCP_CLOSE_WAIT:
            t->h.err = SL_ERR_RESET;
            sl_tcb_finish(c, t, SL_EV_RESET);
            return false;
        case SL_TCP_CLOSING:
        case SL_TCP_LAST_ACK:
        case SL_TCP_TIME_WAIT:
        case SL_TCP_CLOSED:
        case SL_TCP_LISTEN:
        case SL_TCP_SYN_SENT:
            sl_tcb_finish(c, t, SL_EV_CLOSED);
            return false;
        }
        return false;
    }
    /* Fourth: SYN in a synchronised state: challenge ACK (RFC 5961 §4.2). */
    if ((h->flags & SL_TCP_SYN) != 0) {
        challenge_ack(c, t);
        return false;
    }
    /* Fifth: ACK. */
    if ((h->flags & SL_TCP_ACK) == 0)
        return false;
    if (!process_ack(c, t, sc))
        return false;
    /* Timestamp update (RFC 7323 §4.3): the segment covers RCV.NXT... use
     * "last ACK sent" = rcv_adv's base; RCV.NXT is a close stand-in. */
    if ((t->flags & TF_TS) != 0 && h->o.has_ts && sl_seq_le(h->seq, t->rcv_nxt) &&
        (sl_seq_ge(h->o.ts_val, t->ts_recent) || ts_stale)) {
        t->ts_recent = h->o.ts_val;
        t->ts_recent_at = c->now;
    }
    /* Seventh: segment text. */
    if (h->payload_len > 0) {
        switch ((sl_tcp_state)t->state) {
        case SL_TCP_ESTABLISHED:
        case SL_TCP_FIN_WAIT_1:
        case SL_TCP_FIN_WAIT_2:
            if ((t->flags & TF_RCVD_FIN) == 0)
                process_data(c, t, sc);
            break;
        case SL_TCP_CLOSE_WAIT:
        case SL_TCP_CLOSING:
        case SL_TCP_LAST_ACK:
        case SL_TCP_TIME_WAIT:
        case SL_TCP_CLOSED:
        case SL_TCP_LISTEN:
        case SL_TCP_SYN_SENT:
        case SL_TCP_SYN_RECEIVED:
            break;
        }
    }
    /* Eighth: FIN. */
    if ((h->flags & SL_TCP_FIN) != 0 && (t->flags & TF_SEND_RST) == 0)
        process_fin(c, t, sc);
    return false;
}

sl_error sl_tcp_input(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      const uint8_t *l4, size_t len)
{
    seg_ctx sc;
    sc.family = family;
    sc.src = src;
    sc.dst = dst;
    sl_pseudo ph = {family, src, dst};
    bool verify = !sl_rx_csum_trusted(c);
    sl_error e = sl_tcp_parse(l4, len, verify ? &ph : NULL, &sc.h);
    if (e != SL_OK)
        return e;
    sl_count(c, SL_CNT_TCP_RX);
    /* LAND: a segment from our own address and port to itself can only be
     * forged (the stack never talks to itself through the device); an
     * answer would come straight back.  Dropped, as FreeBSD does. */
    if (sc.h.sport == sc.h.dport && memcmp(src, dst, sl_ip_alen(family)) == 0) {
        sl_count(c, SL_CNT_TCP_DROP_LAND);
        return SL_OK;
    }
    sc.seglen = (uint32_t)sc.h.payload_len + ((sc.h.flags & SL_TCP_SYN) != 0 ? 1u : 0u) +
                ((sc.h.flags & SL_TCP_FIN) != 0 ? 1u : 0u);

    /* At most two rounds: the second after a TIME-WAIT tcb made way. */
    for (int round = 0; round < 2; round++) {
        sl_flow_key k;
        sl_tcp_make_key(&k, family, dst, sc.h.dport, src, sc.h.sport);
        sl_flow_node *n = sl_flowtab_find(&c->flows, &k);
        if (n == NULL) {
            uint8_t f = sc.h.flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST);
            if ((f & SL_TCP_RST) != 0)
                return SL_OK; /* §3.10.7.1: a RST to nobody is dropped */
            if (f == SL_TCP_SYN) {
                syn_to_nobody(c, &sc);
                return SL_OK;
            }
            if (f == SL_TCP_ACK && SL_FEATURE_SYN_COOKIES && c->cfg.syn_cookies) {
                sl_tcb *t = from_cookie(c, &sc);
                if (t != NULL) {
                    if (sc.h.payload_len > 0 || (sc.h.flags & SL_TCP_FIN) != 0) {
                        process_data(c, t, &sc);
                        if ((sc.h.flags & SL_TCP_FIN) != 0)
                            process_fin(c, t, &sc);
                    }
                    return SL_OK;
                }
            }
            sl_count(c, SL_CNT_TCP_DROP_NO_CONN);
            sl_tcp_send_reset(c, family, src, dst, &sc.h);
            return SL_OK;
        }
        sl_tcb *t = tcb_of_node(n);
        t->last_rx = c->now;
        t->probes = 0;
        if (t->state == SL_TCP_SYN_SENT) {
            in_syn_sent(c, t, &sc);
            return SL_OK;
        }
        if (!in_synchronised(c, t, &sc))
            return SL_OK;
    }
    return SL_OK;
}

/* RFC 5927: an ICMP error is believed only if it quotes a sequence number
 * inside what we have in flight; hard errors end a connection that is
 * still opening, everything else is reported softly. */
void sl_tcp_icmp_error(sl_ctx *c, uint8_t family, const sl_icmp_hdr *msg)
{
    const sl_icmp_quote *q = &msg->quote;
    sl_flow_key k;
    sl_tcp_make_key(&k, q->family, q->src, q->sport, q->dst, q->dport);
    sl_flow_node *n = q->has_ports ? sl_flowtab_find(&c->flows, &k) : NULL;
    if (n == NULL) {
        sl_count(c, SL_CNT_ICMP_ERR_NO_FLOW);
        return;
    }
    sl_tcb *t = tcb_of_node(n);
    if (!q->has_seq || sl_seq_lt(q->seq, t->snd_una) || sl_seq_ge(q->seq, t->snd_max)) {
        sl_count(c, SL_CNT_ICMP_ERR_NO_FLOW);
        return;
    }
    sl_count(c, SL_CNT_ICMP_ERR_DELIVERED);
    bool too_big = msg->kind == SL_ICMP_PKT_TOO_BIG ||
                   (family == 4 && msg->kind == SL_ICMP_DEST_UNREACH && msg->code == 4);
    if (too_big) {
        /* Lower the MSS to the reported path MTU (RFC 1191, RFC 8201). */
        uint32_t min_mtu = family == 4 ? 576u : 1280u;
        uint32_t mtu = msg->mtu < min_mtu ? min_mtu : msg->mtu;
        uint32_t mss = mtu - (uint32_t)sl_ip_hdr_len(family) - SL_TCP_HDR_MIN;
        if (mss < t->mss) {
            t->mss = (uint16_t)mss;
            t->snd_nxt = t->snd_una; /* resend at the new size */
            sl_tcb_want_output(c, t);
        }
        return;
    }
    bool hard = msg->kind == SL_ICMP_DEST_UNREACH || msg->kind == SL_ICMP_PARAM_PROBLEM;
    if (hard && (t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RECEIVED)) {
        t->h.err = msg->kind == SL_ICMP_DEST_UNREACH &&
                           ((family == 4 && msg->code == 3) || (family == 6 && msg->code == 4))
                       ? SL_ERR_REFUSED
                       : SL_ERR_UNREACH;
        sl_tcb_finish(c, t, SL_EV_ERROR);
        return;
    }
    /* Soft error: remembered, reported if the connection later times out
     * (RFC 1122 §4.2.3.9). */
    if (t->h.err == SL_OK)
        t->h.err = SL_ERR_UNREACH;
}
