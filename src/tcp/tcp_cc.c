/*
 * Congestion control: RFC 5681 (slow start, congestion avoidance, fast
 * retransmit) with the NewReno modification of fast recovery (RFC 6582).
 * Initial window per RFC 5681 §3.1 (RFC 3390 values).
 */
#include "tcp/tcb.h"

static uint32_t initial_window(uint32_t mss)
{
    if (mss > 2190)
        return 2 * mss;
    if (mss > 1095)
        return 3 * mss;
    return 4 * mss;
}

void sl_tcp_cc_init(sl_tcb *t)
{
    t->cwnd = initial_window(sl_tcb_smss(t));
    t->ssthresh = UINT32_MAX; /* "arbitrarily high" (RFC 5681 §3.1) */
    t->dupacks = 0;
}

void sl_tcp_cc_ack(sl_ctx *c, sl_tcb *t, uint32_t acked)
{
    (void)c;
    uint32_t mss = sl_tcb_smss(t);
    t->dupacks = 0;
    if ((t->flags & TF_IN_RECOVERY) != 0) {
        if (sl_seq_ge(t->snd_una, t->recover)) {
            /* Full acknowledgment (RFC 6582 §3.2 step 3): deflate. */
            uint32_t flight = sl_tcb_flight(t);
            uint32_t a = flight > mss ? flight : mss;
            t->cwnd = t->ssthresh < a + mss ? t->ssthresh : a + mss;
            if ((t->flags & TF_SACK_RECOVERY) != 0)
                t->cwnd = t->ssthresh; /* RFC 6675 §5 */
            t->flags &= ~(uint32_t)(TF_IN_RECOVERY | TF_SACK_RECOVERY);
        } else if ((t->flags & TF_SACK_RECOVERY) != 0) {
            /* RFC 6675: the scoreboard and pipe drive what is sent. */
            if (sl_seq_lt(t->high_rxt, t->snd_una))
                t->high_rxt = t->snd_una;
        } else {
            /* Partial acknowledgment (step 4): retransmit the next hole
             * (the caller resends from snd_una), deflate by the amount
             * acknowledged, add back one MSS. */
            t->cwnd = t->cwnd > acked ? t->cwnd - acked : 0;
            t->cwnd += acked >= mss ? mss : acked;
            t->flags |= TF_REXMT_ONE;
        }
        return;
    }
    if (t->cwnd < t->ssthresh) {
        /* Slow start, appropriate byte counting (RFC 3465 §2.2) with
         * L = 2 SMSS: an ACK of two or more full segments (a receiver
         * that ACKs every other segment, or one coalesced TSO packet)
         * grows cwnd by two. */
        t->cwnd += acked < 2u * mss ? acked : 2u * mss;
    } else {
        /* Congestion avoidance: about one MSS per RTT. */
        uint32_t inc = (uint32_t)((uint64_t)mss * mss / (t->cwnd ? t->cwnd : 1));
        t->cwnd += inc > 0 ? inc : 1;
    }
}

bool sl_tcp_cc_dupack(sl_ctx *c, sl_tcb *t)
{
    (void)c;
    uint32_t mss = sl_tcb_smss(t);
    if ((t->flags & TF_IN_RECOVERY) != 0) {
        if ((t->flags & TF_SACK_RECOVERY) == 0)
            t->cwnd += mss; /* RFC 6582 §3.2 step 5: inflate */
        return false;
    }
    if (++t->dupacks < 3)
        return false;
    /* RFC 6582 §3.2 step 2: only if the ACK covers more than recover. */
    if (!sl_seq_gt(t->snd_una, t->recover))
        return false;
    uint32_t flight = sl_tcb_flight(t);
    uint32_t half = flight / 2;
    t->ssthresh = half > 2u * mss ? half : 2u * mss;
    t->recover = t->snd_max;
    t->flags |= TF_IN_RECOVERY;
    if ((t->flags & TF_SACK) != 0 && sl_tcb_n_sacked(t) > 0) {
        /* RFC 6675 §5 step 4: cwnd = ssthresh; the first lost segment is
         * resent now (the caller), then NextSeg() while pipe allows. */
        t->flags |= TF_SACK_RECOVERY;
        t->cwnd = t->ssthresh;
        t->high_rxt = t->snd_una;
    } else {
        t->cwnd = t->ssthresh + 3u * mss;
    }
    return true;
}

void sl_tcp_cc_timeout(sl_tcb *t)
{
    uint32_t mss = sl_tcb_smss(t);
    /* RFC 5681 §3.1 eqn. 4; loss window of one segment. */
    uint32_t flight = sl_tcb_flight(t);
    uint32_t half = flight / 2;
    t->ssthresh = half > 2u * mss ? half : 2u * mss;
    t->cwnd = mss;
    t->dupacks = 0;
    t->recover = t->snd_max;
    t->flags &= ~(uint32_t)(TF_IN_RECOVERY | TF_SACK_RECOVERY);
}
