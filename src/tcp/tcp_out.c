/*
 * TCP output: segments built at poll time straight into the output buffer
 * (one copy from the send ring), the send policy (RFC 9293 §3.8.6: Nagle,
 * sender and receiver silly-window avoidance), ACKs and resets.
 */
#include <string.h>

#include "ip/ip.h"
#include "tcp/tcb.h"
#include "tcp/tcp.h"

uint16_t sl_tcp_our_mss(const sl_ctx *c, uint8_t family)
{
    size_t m = (size_t)c->cfg.mtu - sl_ip_hdr_len(family) - SL_TCP_HDR_MIN;
    return (uint16_t)(m > 65535u ? 65535u : m);
}

uint8_t sl_tcp_our_wscale(const sl_ctx *c)
{
    uint8_t s = 0;
    while (s < 14 && ((uint32_t)65535u << s) < c->cfg.tcp_rcvbuf)
        s++;
    return s;
}

static uint32_t ts_now(const sl_ctx *c, const sl_tcb *t)
{
    /* A 1 ms clock (RFC 7323 §5.4) offset per connection by its ISS. */
    return (uint32_t)(c->now / 1000u) + t->iss;
}

uint32_t sl_tcp_rcv_window(const sl_ctx *c, const sl_tcb *t)
{
    (void)c;
    uint32_t avail = t->rcv.cap - t->rcv.len;
    uint32_t cur = sl_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    /* Never shrink the window (RFC 9293 §3.8.6); open it only by at least
     * min(buffer/2, MSS) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2). */
    if (avail <= cur)
        return cur;
    uint32_t step = t->rcv.cap / 2 < t->mss ? t->rcv.cap / 2 : t->mss;
    if (avail - cur < step && cur != 0)
        return cur;
    uint32_t max = (uint32_t)65535u << t->rcv_wscale;
    return avail > max ? max : avail;
}

/* Build and send one segment: seq, flags, `len` bytes of the send ring
 * from position `off`.  SYN segments carry the handshake options.  A
 * non-zero `seg` allows a TSO packet: `len` bytes of whole `seg`-byte
 * segments beyond the MTU, up to tso_max (send_segment: seg 0). */
static bool send_segment_tso(sl_ctx *c, sl_tcb *t, uint32_t seq, uint8_t flags, size_t off,
                             size_t len, size_t seg)
{
    const sl_flow_key *k = &t->node.key;
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = k->lport;
    h.dport = k->rport;
    h.seq = seq;
    h.flags = flags;
    if ((flags & SL_TCP_ACK) != 0)
        h.ack = t->rcv_nxt;
    uint32_t win = sl_tcp_rcv_window(c, t);
    if ((flags & SL_TCP_SYN) != 0) {
        /* RFC 7323 §2.2: the window of a SYN is never scaled. */
        h.window = (uint16_t)(win > 65535u ? 65535u : win);
        win = h.window; /* what the peer is told, not what we could take */
        h.o.has_mss = true;
        h.o.mss = sl_tcp_our_mss(c, k->family);
        bool offer = (flags & SL_TCP_ACK) == 0; /* SYN: offer everything */
        if (offer || (t->flags & TF_WS) != 0) {
            h.o.has_wscale = true;
            h.o.wscale = t->rcv_wscale;
        }
        h.o.sack_perm = (SL_FEATURE_SACK && offer) || (t->flags & TF_SACK) != 0;
        h.o.has_ts = (SL_FEATURE_TIMESTAMPS && offer) || (t->flags & TF_TS) != 0;
    } else {
        h.window = (uint16_t)(win >> t->rcv_wscale);
        win = (uint32_t)h.window << t->rcv_wscale; /* the scaled value sent */
        if ((t->flags & TF_SACK) != 0 && sl_tcb_ooo_n(t) > 0) {
            uint32_t l[SL_TCP_MAX_SACK], r[SL_TCP_MAX_SACK];
            size_t max = (t->flags & TF_TS) != 0 ? 3u : 4u;
            size_t n = sl_ooo_sack(&t->x->ooo, l, r, max);
            for (size_t i = 0; i < n; i++) {
                h.o.sack[i].left = l[i];
                h.o.sack[i].right = r[i];
            }
            h.o.n_sack = (uint8_t)n;
        }
    }
    if ((t->flags & TF_TS) != 0 || ((flags & SL_TCP_SYN) != 0 && h.o.has_ts)) {
        h.o.has_ts = true;
        h.o.ts_val = ts_now(c, t);
        h.o.ts_ecr = t->ts_recent;
    }
    sl_error err;
    size_t olen = sl_tcp_opts_len(&h.o, &err);
    if (err != SL_OK)
        return true; /* cannot happen with at most 3-4 SACK blocks */
    size_t hlen = sl_ip_hdr_len(k->family);
    size_t max = seg != 0 ? sl_tx_max(c) : c->cfg.mtu;
    if (hlen + SL_TCP_HDR_MIN + olen + len > max) /* never past the MTU (or tso_max) */
        len = max - hlen - SL_TCP_HDR_MIN - olen;
    size_t l4len = SL_TCP_HDR_MIN + olen + len;
    uint8_t *buf = sl_ip_direct_begin(c, hlen + l4len);
    if (buf == NULL)
        return false;
    uint8_t *l4 = buf + hlen;
    if (len > 0)
        (void)sl_ring_peek(&t->snd, off, l4 + SL_TCP_HDR_MIN + olen, len);
    h.payload = NULL; /* already in place */
    h.payload_len = len;
    sl_pseudo ph = {k->family, k->laddr, k->raddr};
    size_t w = 0;
    (void)sl_tcp_emit(&h, &ph, l4, l4len, &w);
    if (hlen + l4len > c->cfg.mtu)
        sl_ip_direct_send_tso(c, buf, k->family, k->laddr, k->raddr, l4len, (uint16_t)seg);
    else
        sl_ip_direct_send(c, buf, k->family, k->laddr, k->raddr, SL_IPPROTO_TCP, l4len);
    sl_count(c, SL_CNT_TCP_TX);
    if ((flags & SL_TCP_ACK) != 0) {
        t->rcv_adv = t->rcv_nxt + win;
        t->flags &= ~(uint32_t)(TF_ACK_NOW | TF_DELACK);
        t->delack_at = SL_TIME_NEVER;
    }
    return true;
}

static bool send_segment(sl_ctx *c, sl_tcb *t, uint32_t seq, uint8_t flags, size_t off, size_t len)
{
    return send_segment_tso(c, t, seq, flags, off, len, 0);
}

/* Bytes of the send ring not yet sent: positions [snd_nxt - snd_una, len).
 * (An offset past len means the FIN is out too.) */
static size_t unsent(const sl_tcb *t)
{
    size_t off = t->snd_nxt - t->snd_una;
    if (t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RECEIVED)
        return 0;
    return off < t->snd.len ? t->snd.len - off : 0;
}

static bool fin_state(const sl_tcb *t)
{
    return t->state == SL_TCP_FIN_WAIT_1 || t->state == SL_TCP_CLOSING ||
           t->state == SL_TCP_LAST_ACK;
}

/* Option bytes a data segment carries now: RFC 6691 counts them inside
 * the MSS, so data per segment is the MSS less these. */
static uint32_t opt_overhead(const sl_tcb *t)
{
    uint32_t o = (t->flags & TF_TS) != 0 ? 12u : 0u;
    if ((t->flags & TF_SACK) != 0 && sl_tcb_ooo_n(t) > 0) {
        uint32_t max = (t->flags & TF_TS) != 0 ? 3u : 4u;
        uint32_t n = sl_tcb_ooo_n(t) < max ? sl_tcb_ooo_n(t) : max;
        o += 4u + 8u * n;
    }
    return o;
}

/* The data/FIN part of output for synchronised states. */
static bool send_data(sl_ctx *c, sl_tcb *t, bool *sent_any)
{
    for (;;) {
        /* Retransmitting: skip what the peer SACKed (RFC 6675 §5). */
        uint32_t hole = UINT32_MAX;
        if (sl_seq_lt(t->snd_nxt, t->snd_max) && sl_tcb_n_sacked(t) > 0)
            hole = sl_tcp_sack_next(t);
        size_t off = t->snd_nxt - t->snd_una;
        size_t all = unsent(t);
        size_t avail = all < hole ? all : hole;
        uint32_t cw = t->cwnd;
        if ((t->flags & TF_IN_RECOVERY) == 0 && t->dupacks > 0 && t->dupacks < 3)
            cw += t->dupacks * sl_tcb_smss(t); /* Limited Transmit, RFC 3042 */
        uint32_t wnd = t->snd_wnd < cw ? t->snd_wnd : cw;
        size_t usable = wnd > off ? wnd - off : 0;
        size_t len = avail < usable ? avail : usable;
        uint32_t ovh = opt_overhead(t);
        size_t seg_max = t->mss > ovh + 8u ? t->mss - ovh : 8u;
        /* New data may leave as one TSO packet of whole segments (the
         * device cuts it); retransmissions stay single segments. */
        size_t burst = seg_max;
        if (c->cfg.tso_max != 0 && t->snd_nxt == t->snd_max) {
            size_t room = c->cfg.tso_max - sl_ip_hdr_len(t->node.key.family) - SL_TCP_HDR_MIN - ovh;
            if (room / seg_max > 1)
                burst = room / seg_max * seg_max;
        }
        if (len > burst)
            len = burst;
        /* A TSO packet the window or cwnd cuts short ends on a whole
         * segment: its small tail is held exactly as a lone small segment
         * would be (Nagle, RFC 1122 §4.2.3.4; SWS, RFC 9293 §3.8.6.2.1). */
        if (len > seg_max && len < avail)
            len -= len % seg_max;
        /* The FIN goes with the last byte of the stream, never before, and
         * again whenever that last byte is resent (TF_FIN_SENT stays: the
         * FIN keeps its sequence number, SND.UNA + len). */
        bool fin = fin_state(t) && off + len == t->snd.len;
        if (len == 0 && !fin)
            return true;
        /* Nagle (RFC 1122 §4.2.3.4): hold a small segment of new data
         * while data is in flight, unless it is the last before our FIN.
         * Retransmissions (snd_nxt < snd_max) are never held. */
        if (len > 0 && len < seg_max && sl_tcb_flight(t) > 0 && (t->flags & TF_NODELAY) == 0 &&
            !fin && t->snd_nxt == t->snd_max)
            return true;
        /* Sender silly-window avoidance (RFC 9293 §3.8.6.2.1): with data
         * in flight, do not send a small segment that the window (not the
         * data) limits, unless it is at least half the largest window. */
        if (len > 0 && len < seg_max && usable < avail && off > 0 &&
            len < t->max_snd_wnd / 2)
            return true;
        uint8_t flags = SL_TCP_ACK;
        if (len > 0 && len == avail)
            flags |= SL_TCP_PSH;
        if (fin)
            flags |= SL_TCP_FIN;
        if (!send_segment_tso(c, t, t->snd_nxt, flags, off, len, len > seg_max ? seg_max : 0))
            return false;
        *sent_any = true;
        if ((t->flags & TF_RTT_TIMING) == 0 && t->snd_nxt == t->snd_max) {
            t->flags |= TF_RTT_TIMING;
            t->rtt_seq = t->snd_nxt;
            t->rtt_start = c->now;
        }
        t->snd_nxt += (uint32_t)len + (fin ? 1u : 0u);
        if (fin)
            t->flags |= TF_FIN_SENT;
        if (sl_seq_gt(t->snd_nxt, t->snd_max))
            t->snd_max = t->snd_nxt;
        if (t->rexmt_at == SL_TIME_NEVER || (t->flags & TF_PERSIST) != 0) {
            t->flags &= ~(uint32_t)TF_PERSIST;
            sl_tcp_rexmt_restart(c, t);
        }
        if (fin)
            return true;
    }
}

/* Resend the first unacknowledged segment (RFC 5681 §3.2 fast
 * retransmit; RFC 6582 §3.2 step 4), FIN included when it is all that is
 * left; SND.NXT does not move. */
static bool resend_first(sl_ctx *c, sl_tcb *t)
{
    if (sl_tcb_flight(t) == 0)
        return true;
    uint32_t ovh = opt_overhead(t);
    size_t len = t->mss > ovh + 8u ? t->mss - ovh : 8u;
    size_t flight = sl_tcb_flight(t);
    bool fin_out = (t->flags & TF_FIN_SENT) != 0 && flight == t->snd.len + 1u;
    size_t data = fin_out ? flight - 1 : (flight < t->snd.len ? flight : t->snd.len);
    if (len > data)
        len = data;
    bool fin = fin_out && len == data;
    uint8_t flags = SL_TCP_ACK | (fin ? SL_TCP_FIN : 0);
    if (len == 0 && !fin)
        return true;
    if (!send_segment(c, t, t->snd_una, flags, 0, len))
        return false;
    if ((t->flags & TF_SACK_RECOVERY) != 0 && sl_seq_lt(t->high_rxt, t->snd_una + (uint32_t)len))
        t->high_rxt = t->snd_una + (uint32_t)len;
    return true;
}

/* RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send NextSeg():
 * a lost hole first, else new data the peer's window allows. */
static bool sack_recovery(sl_ctx *c, sl_tcb *t, bool *sent_any)
{
    uint32_t ovh = opt_overhead(t);
    uint32_t seg_max = t->mss > ovh + 8u ? t->mss - ovh : 8u;
    for (unsigned guard = 0; guard < 64; guard++) {
        uint32_t pipe = sl_tcp_sack_pipe(t);
        if (t->cwnd < pipe + sl_tcb_smss(t))
            return true;
        uint32_t seq, len;
        if (sl_tcp_sack_nextseg(t, seg_max, &seq, &len)) {
            uint32_t off = seq - t->snd_una;
            if (off + len > t->snd.len)
                len = off < t->snd.len ? t->snd.len - off : 0;
            if (len == 0)
                return true;
            if (!send_segment(c, t, seq, SL_TCP_ACK, off, len))
                return false;
            t->high_rxt = seq + len;
            t->retransmits++;
            *sent_any = true;
            continue;
        }
        /* New data (rule 2), within the peer's window. */
        size_t off = t->snd_max - t->snd_una;
        if (t->snd_nxt != t->snd_max || off >= t->snd.len || off >= t->snd_wnd)
            return true;
        size_t n = t->snd.len - off;
        if (n > seg_max)
            n = seg_max;
        if (n > t->snd_wnd - off)
            n = t->snd_wnd - off;
        bool fin = fin_state(t) && off + n == t->snd.len;
        uint8_t flags = SL_TCP_ACK | (fin ? SL_TCP_FIN : 0);
        if (!send_segment(c, t, t->snd_max, flags, off, n))
            return false;
        *sent_any = true;
        t->snd_max += (uint32_t)n + (fin ? 1u : 0u);
        t->snd_nxt = t->snd_max;
        if (fin) {
            t->flags |= TF_FIN_SENT;
            return true;
        }
    }
    return true;
}

bool sl_tcp_output(sl_ctx *c, sl_tcb *t)
{
    bool sent_any = false;
    if ((t->flags & TF_SEND_RST) != 0) {
        /* <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5); the highest sequence
         * sent, not one rewound for retransmission, but never past the
         * right edge of the peer's window: after a zero-window probe the
         * peer (RCV.WND = 0) accepts a RST only at SEQ = RCV.NXT
         * (RFC 9293 §3.10.7.4), which is SND.UNA + SND.WND. */
        uint32_t rst_seq = t->snd_max, wnd_end = t->snd_una + t->snd_wnd;
        if (sl_seq_gt(rst_seq, wnd_end))
            rst_seq = wnd_end;
        if (!send_segment(c, t, rst_seq, SL_TCP_RST | SL_TCP_ACK, 0, 0))
            return false;
        sl_count(c, SL_CNT_TCP_RST_TX);
        t->flags &= ~(uint32_t)TF_SEND_RST;
        sl_tcb_finish(c, t, SL_EV_CLOSED);
        return true;
    }
    if ((t->flags & TF_PROBE) != 0) {
        t->flags &= ~(uint32_t)TF_PROBE;
        if ((t->flags & TF_PERSIST) != 0 && t->snd.len > 0) {
            /* Zero-window probe: one byte at SND.UNA (RFC 9293 §3.8.6.1),
             * counted in flight once sent so its ACK is acceptable. */
            if (!send_segment(c, t, t->snd_una, SL_TCP_ACK, 0, 1))
                return false;
            if (sl_seq_lt(t->snd_max, t->snd_una + 1))
                t->snd_max = t->snd_una + 1;
        } else {
            /* Keep-alive probe: SEG.SEQ = SND.NXT - 1 (RFC 1122 §4.2.3.6). */
            if (!send_segment(c, t, t->snd_una - 1, SL_TCP_ACK, 0, 0))
                return false;
        }
        sent_any = true;
    }
    if ((t->flags & TF_REXMT_ONE) != 0) {
        t->flags &= ~(uint32_t)TF_REXMT_ONE;
        if (!resend_first(c, t))
            return false;
        sent_any = true;
    }
    switch ((sl_tcp_state)t->state) {
    case SL_TCP_SYN_SENT:
    case SL_TCP_SYN_RECEIVED:
        if (t->snd_nxt == t->iss) {
            uint8_t f = t->state == SL_TCP_SYN_SENT ? SL_TCP_SYN : SL_TCP_SYN | SL_TCP_ACK;
            if (!send_segment(c, t, t->iss, f, 0, 0))
                return false;
            t->snd_nxt = t->iss + 1;
            t->snd_max = t->snd_nxt;
            if (t->retries == 0)
                t->rtt_start = c->now; /* handshake RTT sample (Karn: not on a retry) */
            if (t->rexmt_at == SL_TIME_NEVER)
                sl_tcp_rexmt_restart(c, t);
            sent_any = true;
        }
        break;
    case SL_TCP_ESTABLISHED:
    case SL_TCP_CLOSE_WAIT:
    case SL_TCP_FIN_WAIT_1:
    case SL_TCP_CLOSING:
    case SL_TCP_LAST_ACK:
        if ((t->flags & TF_SACK_RECOVERY) != 0) {
            if (!sack_recovery(c, t, &sent_any))
                return false;
        } else if (!send_data(c, t, &sent_any)) {
            return false;
        }
        /* Zero window with data waiting and nothing in flight: persist
         * (RFC 9293 §3.8.6.1). */
        if (unsent(t) > 0 && t->snd_wnd == 0 && sl_tcb_flight(t) == 0 &&
            (t->flags & TF_PERSIST) == 0) {
            t->flags |= TF_PERSIST;
            sl_tcp_rexmt_restart(c, t);
        }
        break;
    case SL_TCP_FIN_WAIT_2:
    case SL_TCP_TIME_WAIT:
    case SL_TCP_CLOSED:
    case SL_TCP_LISTEN:
        break;
    }
    if (!sent_any && (t->flags & TF_ACK_NOW) != 0 && t->state != SL_TCP_CLOSED &&
        t->state != SL_TCP_SYN_SENT) {
        /* A pure ACK carries SND.MAX, not a SND.NXT rewound for
         * retransmission: below the peer's RCV.NXT it would be
         * unacceptable there (RFC 9293 §3.10.7.4) and dropped.  Not while
         * a window-probe byte is counted in SND.MAX. */
        uint32_t seq = (t->flags & TF_PERSIST) == 0 && sl_seq_gt(t->snd_max, t->snd_nxt)
                           ? t->snd_max
                           : t->snd_nxt;
        if (!send_segment(c, t, seq, SL_TCP_ACK, 0, 0))
            return false;
    }
    t->flags &= ~(uint32_t)TF_ACK_NOW;
    sl_tcb_arm(c, t);
    return true;
}

bool sl_tcp_flush(sl_ctx *c)
{
    while (c->tcp_out_head != NULL) {
        sl_tcb *t = c->tcp_out_head;
        c->tcp_out_head = t->out_next;
        if (c->tcp_out_head == NULL)
            c->tcp_out_tail = NULL;
        t->out_next = NULL;
        t->flags &= ~(uint32_t)TF_ON_OUTPUT;
        if (!sl_tcp_output(c, t)) {
            sl_tcb_want_output(c, t); /* device full: try again later */
            return false;
        }
    }
    return true;
}

void sl_tcp_send_reset(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                       const sl_tcp_hdr *seg)
{
    /* RFC 9293 §3.10.7.1: never answer a RST; otherwise
     *   ACK set:   <SEQ=SEG.ACK><CTL=RST>
     *   ACK clear: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
    if ((seg->flags & SL_TCP_RST) != 0)
        return;
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = seg->dport;
    h.dport = seg->sport;
    if ((seg->flags & SL_TCP_ACK) != 0) {
        h.seq = seg->ack;
        h.flags = SL_TCP_RST;
    } else {
        uint32_t seglen = (uint32_t)seg->payload_len;
        seglen += (seg->flags & SL_TCP_SYN) != 0 ? 1u : 0u;
        seglen += (seg->flags & SL_TCP_FIN) != 0 ? 1u : 0u;
        h.ack = seg->seq + seglen;
        h.flags = SL_TCP_RST | SL_TCP_ACK;
    }
    uint8_t *l4 = NULL;
    sl_error err;
    sl_txpkt *p = sl_ip_alloc(c, family, dst, src, SL_IPPROTO_TCP, SL_TCP_HDR_MIN, &l4, &err);
    if (p == NULL)
        return;
    sl_pseudo ph = {family, dst, src};
    size_t w = 0;
    (void)sl_tcp_emit(&h, &ph, l4, SL_TCP_HDR_MIN, &w);
    sl_ip_queue(c, p);
    sl_count(c, SL_CNT_TCP_RST_TX);
}
