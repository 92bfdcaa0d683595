/*
 * The SACK scoreboard (RFC 2018 §3, RFC 6675 §4-5, simplified): ranges the
 * peer reported holding above SND.UNA, so retransmissions skip them.  At
 * most SL_TCP_MAX_SACK ranges are kept; when a new one does not fit, the
 * highest is dropped (it will be reported again).
 */
#include "tcp/tcb.h"

/* The scoreboard lives in the tcb's extension (tcb.h); the readers below
 * see an empty one when there is none. */
static const sl_tcb_ext no_ext;

static const sl_tcb_ext *ext(const sl_tcb *t)
{
    return t->x != NULL ? t->x : &no_ext;
}

static void remove_at(sl_tcb_ext *x, unsigned i)
{
    for (unsigned j = i; j + 1 < x->n_sacked; j++)
        x->sacked[j] = x->sacked[j + 1];
    x->n_sacked--;
}

static void insert(sl_tcb_ext *x, uint32_t left, uint32_t right)
{
    /* Merge with every range it overlaps or touches. */
    unsigned i = 0;
    while (i < x->n_sacked) {
        sl_tcp_sack *r = &x->sacked[i];
        if (sl_seq_le(left, r->right) && sl_seq_le(r->left, right)) {
            if (sl_seq_lt(r->left, left))
                left = r->left;
            if (sl_seq_gt(r->right, right))
                right = r->right;
            remove_at(x, i);
            continue;
        }
        i++;
    }
    /* Sorted position. */
    unsigned pos = 0;
    while (pos < x->n_sacked && sl_seq_lt(x->sacked[pos].left, left))
        pos++;
    if (x->n_sacked == SL_TCP_MAX_SACK) {
        if (pos == SL_TCP_MAX_SACK)
            return; /* above everything held: drop it */
        x->n_sacked--; /* drop the highest */
    }
    for (unsigned j = x->n_sacked; j > pos; j--)
        x->sacked[j] = x->sacked[j - 1];
    x->sacked[pos].left = left;
    x->sacked[pos].right = right;
    x->n_sacked++;
}

static uint64_t sacked_bytes(const sl_tcb_ext *x)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < x->n_sacked; i++)
        n += x->sacked[i].right - x->sacked[i].left;
    return n;
}

bool sl_tcp_sack_update(sl_ctx *c, sl_tcb *t, const sl_tcp_opts *o)
{
    if ((t->flags & TF_SACK) == 0)
        return false;
    uint64_t before = sacked_bytes(ext(t));
    for (unsigned b = 0; b < o->n_sack && b < SL_TCP_MAX_SACK; b++) {
        uint32_t l = o->sack[b].left, r = o->sack[b].right;
        if (!sl_seq_lt(l, r) || !sl_seq_gt(l, t->snd_una) || sl_seq_gt(r, t->snd_max))
            continue;
        sl_tcb_ext *x = sl_tcb_ext_get(c, t);
        if (x == NULL)
            break; /* no memory: the scoreboard is only an optimisation */
        insert(x, l, r);
    }
    return sacked_bytes(ext(t)) > before;
}

void sl_tcp_sack_prune(sl_ctx *c, sl_tcb *t)
{
    sl_tcb_ext *x = t->x;
    if (x == NULL)
        return;
    unsigned i = 0;
    while (i < x->n_sacked) {
        sl_tcp_sack *r = &x->sacked[i];
        if (sl_seq_le(r->right, t->snd_una)) {
            remove_at(x, i);
            continue;
        }
        if (sl_seq_lt(r->left, t->snd_una))
            r->left = t->snd_una;
        i++;
    }
    sl_tcb_ext_trim(c, t);
}

uint32_t sl_tcp_sack_next(sl_tcb *t)
{
    const sl_tcb_ext *x = ext(t);
    uint32_t limit = UINT32_MAX;
    for (unsigned i = 0; i < x->n_sacked; i++) {
        const sl_tcp_sack *r = &x->sacked[i];
        if (sl_seq_le(r->left, t->snd_nxt) && sl_seq_lt(t->snd_nxt, r->right))
            t->snd_nxt = r->right; /* the peer has this: skip it */
        else if (sl_seq_gt(r->left, t->snd_nxt)) {
            limit = r->left - t->snd_nxt;
            break;
        }
    }
    return limit;
}

/* RFC 6675 §4 IsLost(): DupThresh (3) discontiguous SACKed ranges above
 * seq, or more than (DupThresh - 1) * SMSS octets SACKed above it. */
static bool is_lost(const sl_tcb *t, uint32_t seq)
{
    const sl_tcb_ext *x = ext(t);
    uint64_t above = 0;
    unsigned ranges = 0;
    for (unsigned i = 0; i < x->n_sacked; i++) {
        const sl_tcp_sack *r = &x->sacked[i];
        if (sl_seq_gt(r->right, seq)) {
            above += sl_seq_gt(r->left, seq) ? r->right - r->left : r->right - seq;
            ranges++;
        }
    }
    return ranges >= 3 || above > 2u * (uint64_t)sl_tcb_smss(t);
}

/* Octets of [a, b) below HighRxt (retransmitted in this recovery). */
static uint32_t rexmitted(const sl_tcb *t, uint32_t a, uint32_t b)
{
    if (!sl_seq_lt(a, t->high_rxt))
        return 0;
    uint32_t end = sl_seq_lt(b, t->high_rxt) ? b : t->high_rxt;
    return end - a;
}

uint32_t sl_tcp_sack_pipe(const sl_tcb *t)
{
    const sl_tcb_ext *x = ext(t);
    uint64_t pipe = 0;
    uint32_t start = t->snd_una;
    for (unsigned i = 0; i <= x->n_sacked; i++) {
        uint32_t end = i < x->n_sacked ? x->sacked[i].left : t->snd_max;
        if (sl_seq_lt(start, end)) {
            /* A hole: in flight unless lost, plus what was resent. */
            if (i == x->n_sacked || !is_lost(t, start))
                pipe += end - start;
            pipe += rexmitted(t, start, end);
        }
        if (i < x->n_sacked && sl_seq_gt(x->sacked[i].right, start))
            start = x->sacked[i].right;
    }
    return pipe > UINT32_MAX ? UINT32_MAX : (uint32_t)pipe;
}

bool sl_tcp_sack_nextseg(const sl_tcb *t, uint32_t max, uint32_t *seq, uint32_t *len)
{
    const sl_tcb_ext *x = ext(t);
    uint32_t start = t->snd_una;
    for (unsigned i = 0; i < x->n_sacked; i++) {
        uint32_t end = x->sacked[i].left;
        uint32_t from = sl_seq_gt(t->high_rxt, start) ? t->high_rxt : start;
        if (sl_seq_lt(from, end) && is_lost(t, from)) {
            *seq = from;
            *len = end - from < max ? end - from : max;
            return true;
        }
        if (sl_seq_gt(x->sacked[i].right, start))
            start = x->sacked[i].right;
    }
    return false;
}
