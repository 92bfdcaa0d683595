/*
 * TCP control block and the functions the TCP files share (internal).
 *
 * One sl_tcb per connection, from SYN-RECEIVED or SYN-SENT to CLOSED.  It
 * is in the flow table while the connection exists, in the handle table
 * while the user holds it, and on the output list while it has something
 * to send.  One wheel timer per connection, armed for the earliest of its
 * deadlines (retransmission/persist/keep-alive, delayed ACK, TIME-WAIT).
 * Buffers are lazily allocated rings (ring.h).
 */
#ifndef SL_TCP_TCB_H
#define SL_TCP_TCB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ctx.h"
#include "sluice/wire.h"
#include "tcp/ooo.h"
#include "tcp/ring.h"
#include "tcp/seq.h"

/* tcb.flags */
enum {
    TF_ACK_NOW = 1u << 0,     /* send an ACK at the next output          */
    TF_DELACK = 1u << 1,      /* an ACK is owed, delayed-ACK timer set   */
    TF_FIN_QUEUED = 1u << 2,  /* user shut down: FIN after the data      */
    TF_FIN_SENT = 1u << 3,    /* our FIN has a sequence number (snd_max) */
    TF_RCVD_FIN = 1u << 4,    /* the peer's FIN is in rcv_nxt            */
    TF_CLOSED_BY_USER = 1u << 5, /* sl_stream_close: discard new data    */
    TF_NODELAY = 1u << 6,     /* Nagle off                               */
    /* SACK and timestamps are 0 when compiled out (core/features.h): every
     * test of them is then constant false and its code is dropped. */
    TF_SACK = SL_FEATURE_SACK ? 1u << 7 : 0u, /* SACK permitted both ways */
    TF_TS = SL_FEATURE_TIMESTAMPS ? 1u << 8 : 0u, /* timestamps (RFC 7323) */
    TF_WS = 1u << 9,          /* window scaling in use                   */
    TF_ORPHAN = 1u << 10,     /* handle freed: the stack owns the tcb    */
    TF_PASSIVE = 1u << 11,    /* opened by the acceptor                  */
    TF_IN_RECOVERY = 1u << 12,/* NewReno fast recovery (RFC 6582)        */
    TF_RTT_TIMING = 1u << 13, /* rtt_seq is being timed (Karn)           */
    TF_WANT_WRITABLE = 1u << 14, /* a write returned SL_ERR_AGAIN        */
    TF_SEND_RST = 1u << 15,   /* abort: send RST at next output          */
    TF_KEEPALIVE = 1u << 16,  /* keep-alive probes on                    */
    TF_PERSIST = 1u << 17,    /* zero window: persist timer running      */
    TF_IN_TABLE = 1u << 18,   /* in the flow table                       */
    TF_ON_OUTPUT = 1u << 19,  /* on the output list                      */
    TF_COUNT_BACKLOG = 1u << 20, /* counted in the SYN-RECEIVED backlog  */
    TF_PROBE = 1u << 21,      /* send a window probe / keep-alive now    */
    TF_REXMT_ONE = 1u << 22,  /* resend the segment at SND.UNA (fast
                                 retransmit, NewReno partial ACK)        */
    TF_SACK_RECOVERY = SL_FEATURE_SACK ? 1u << 23 : 0u /* loss recovery driven by the SACK
                                 scoreboard (RFC 6675), not NewReno      */
};

/* What a connection needs only while the peer's data arrives out of order
 * or the peer SACKs ours: allocated on demand, freed when both are empty,
 * so an idle connection does not carry it (108 bytes on x86-64). */
typedef struct sl_tcb_ext {
    sl_ooo ooo;               /* out-of-order ranges held in the rcv ring */
    uint8_t n_sacked;         /* scoreboard ranges held                  */
    sl_tcp_sack sacked[SL_TCP_MAX_SACK]; /* what the peer SACKed above
                                 SND.UNA, sorted (RFC 6675 scoreboard)   */
} sl_tcb_ext;

typedef struct sl_tcb {
    sl_hdl h;                 /* first: see core/handle.h                */
    sl_flow_node node;        /* key: proto, family, local, remote       */
    sl_timer timer;
    struct sl_tcb *out_next;  /* output list                             */
    struct sl_tcb *all_next, *all_prev; /* every tcb, for teardown       */
    uint32_t flags;
    uint8_t state;            /* sl_tcp_state                            */
    uint8_t snd_wscale;       /* shift applied to the peer's windows     */
    uint8_t rcv_wscale;       /* shift applied to our windows            */
    uint8_t dupacks;
    uint8_t retries;          /* consecutive retransmission timeouts     */
    uint8_t probes;           /* keep-alive / persist probes unanswered  */
    uint16_t mss;             /* send MSS (RFC 6691: segment data bytes) */
    uint32_t iss, irs;
    uint32_t snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
    uint32_t max_snd_wnd;     /* largest window the peer offered          */
    uint32_t high_rxt;        /* RFC 6675 HighRxt: retransmitted up to    */
    uint32_t rcv_nxt, rcv_adv; /* rcv_adv: right edge last advertised     */
    uint32_t cwnd, ssthresh, recover;
    uint32_t srtt, rttvar, rto; /* microseconds; srtt 0 = no sample yet  */
    uint32_t rtt_seq;
    uint32_t ts_recent;       /* RFC 7323 §4.3                            */
    sl_time rtt_start;
    sl_time ts_recent_at;
    sl_time rexmt_at;         /* retransmit / persist / keep-alive /
                                 TIME-WAIT / FIN-WAIT-2 deadline          */
    sl_time delack_at;
    sl_time last_rx;
    sl_ring snd, rcv;
    sl_tcb_ext *x;            /* NULL unless out-of-order data or SACKs  */
    uint32_t retransmits;
} sl_tcb;

/* Out-of-order ranges held / SACK ranges on the scoreboard (0 without
 * the extension). */
static inline unsigned sl_tcb_ooo_n(const sl_tcb *t)
{
    return t->x != NULL ? t->x->ooo.n : 0u;
}
static inline unsigned sl_tcb_n_sacked(const sl_tcb *t)
{
    return t->x != NULL ? t->x->n_sacked : 0u;
}
/* The extension, allocated if needed; NULL when memory ran out (counted). */
sl_tcb_ext *sl_tcb_ext_get(sl_ctx *c, sl_tcb *t);
/* Free the extension once it holds nothing. */
void sl_tcb_ext_trim(sl_ctx *c, sl_tcb *t);

/* A specific listener (sl_stream_listen): a wildcard key in the flow
 * table, remote address and port zero. */
typedef struct sl_listener {
    sl_flow_node node;
    void *user;
    struct sl_listener *next; /* all listeners, for teardown */
} sl_listener;

void sl_tcp_make_key(sl_flow_key *k, uint8_t family, const uint8_t *laddr, uint16_t lport,
                     const uint8_t *raddr, uint16_t rport);

/* tcp_api.c: free every listener (teardown). */
void sl_tcp_listeners_fini(sl_ctx *c);

/* ---- tcp_conn.c: lifetime, state, events ---- */
sl_tcb *sl_tcb_new(sl_ctx *c, void *user, sl_error *err);
/* The one place a state changes (trace hook: cfg... see docs/tcp.md). */
void sl_tcb_set_state(sl_ctx *c, sl_tcb *t, sl_tcp_state st);
/* The connection is over (CLOSED): leave the flow table and timers, free
 * buffers; free the tcb itself if orphaned, else report `ev` (CLOSED,
 * RESET or ERROR with t->h.err set) and keep it for the user. */
void sl_tcb_finish(sl_ctx *c, sl_tcb *t, unsigned ev);
void sl_tcb_free(sl_ctx *c, sl_tcb *t);
void sl_tcb_notify(sl_ctx *c, sl_tcb *t, unsigned ev);
/* Put on the output list (idempotent). */
void sl_tcb_want_output(sl_ctx *c, sl_tcb *t);
/* Re-arm the single wheel timer for the earliest deadline. */
void sl_tcb_arm(sl_ctx *c, sl_tcb *t);
void sl_tcb_tuple(const sl_tcb *t, sl_tuple *tu);

/* ---- tcp_out.c ---- */
/* Our MSS to announce: what fits in one MTU-sized packet (RFC 6691). */
uint16_t sl_tcp_our_mss(const sl_ctx *c, uint8_t family);
/* RFC 7323 §2.3: the smallest shift that lets our buffer be advertised. */
uint8_t sl_tcp_our_wscale(const sl_ctx *c);
/* Send what the tcb may send now; false when the device is full. */
bool sl_tcp_output(sl_ctx *c, sl_tcb *t);
/* A RST or ACK not tied to a tcb (RFC 9293 §3.10.7.1), queued. */
void sl_tcp_send_reset(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                       const sl_tcp_hdr *seg);
/* The receive window we may advertise now (unscaled bytes). */
uint32_t sl_tcp_rcv_window(const sl_ctx *c, const sl_tcb *t);

/* ---- tcp_timer.c ---- */
void sl_tcp_timer_fire(sl_ctx *c, sl_tcb *t);
/* RFC 6298 §2: a new RTT sample in microseconds. */
void sl_tcp_rtt_sample(sl_ctx *c, sl_tcb *t, uint32_t rtt);
/* (Re)start the retransmission (or persist) timer from now. */
void sl_tcp_rexmt_restart(sl_ctx *c, sl_tcb *t);
/* Nothing is outstanding: keep-alive deadline, or no timer. */
void sl_tcp_timer_idle(sl_ctx *c, sl_tcb *t);

/* ---- tcp_sack.c: RFC 2018 / RFC 6675 scoreboard ---- */
/* Record the peer's SACK blocks; blocks outside (SND.UNA, SND.MAX] are
 * ignored (RFC 2018 §8 leaves them untrusted). */
bool sl_tcp_sack_update(sl_ctx *c, sl_tcb *t, const sl_tcp_opts *o); /* true: new data SACKed */
/* SND.UNA advanced: forget ranges now below it. */
void sl_tcp_sack_prune(sl_ctx *c, sl_tcb *t);
/* While retransmitting (snd_nxt < snd_max): move snd_nxt past SACKed data
 * and return how many bytes may go before the next SACKed range. */
uint32_t sl_tcp_sack_next(sl_tcb *t);
/* RFC 6675 §4 SetPipe: octets believed in the network. */
uint32_t sl_tcp_sack_pipe(const sl_tcb *t);
/* RFC 6675 §4 NextSeg() rule 1: the first octet of the first lost hole at
 * or above HighRxt, and how many octets (<= max) to resend; false when
 * there is none. */
bool sl_tcp_sack_nextseg(const sl_tcb *t, uint32_t max, uint32_t *seq, uint32_t *len);

/* ---- tcp_cc.c: RFC 5681 / RFC 6582 ---- */
void sl_tcp_cc_init(sl_tcb *t);
/* New data acknowledged: `acked` bytes. */
void sl_tcp_cc_ack(sl_ctx *c, sl_tcb *t, uint32_t acked);
/* A duplicate ACK; returns true when fast retransmit should send now. */
bool sl_tcp_cc_dupack(sl_ctx *c, sl_tcb *t);
/* A retransmission timeout (RFC 5681 §3.1 eqn. 4). */
void sl_tcp_cc_timeout(sl_tcb *t);

/* Sender MSS as RFC 5681 counts it: data bytes of a full segment, the
 * MSS less the timestamp option every segment carries. */
static inline uint32_t sl_tcb_smss(const sl_tcb *t)
{
    return (uint32_t)t->mss - ((t->flags & TF_TS) != 0 ? 12u : 0u);
}

static inline uint32_t sl_tcb_flight(const sl_tcb *t)
{
    return t->snd_max - t->snd_una;
}

#endif
