/*
 * Out-of-order ranges for TCP receive (tcp/ooo.h).
 *
 * The ranges are kept disjoint and non-adjacent (touching ranges are
 * merged), sorted by their distance from RCV.NXT.  Positions are compared
 * as unsigned offsets from rcv_nxt in sl_ooo_add (every held range lies in
 * the window after it) and with the modulo-2^32 comparisons of RFC 9293
 * §3.4 in sl_ooo_advance, so both are correct across the 2^32 wrap.
 *
 * `recent` is the index of the range the last sl_ooo_add went into; it is
 * SL_OOO_MAX when that range is gone (consumed by sl_ooo_advance) or
 * nothing was added yet.
 */
#include "ooo.h"

#include "seq.h"

void sl_ooo_init(sl_ooo *o)
{
    o->n = 0;
    o->recent = SL_OOO_MAX;
    for (unsigned i = 0; i < SL_OOO_MAX; i++) {
        o->r[i].start = 0;
        o->r[i].end = 0;
    }
}

bool sl_ooo_add(sl_ooo *o, uint32_t rcv_nxt, uint32_t start, uint32_t end)
{
    uint32_t s = start - rcv_nxt;
    uint32_t e = end - rcv_nxt;
    if (e < s)
        return false; /* end before start: nothing sensible to record */
    if (e == s)
        return true; /* empty: nothing to record */

    unsigned n = o->n;
    /* i: first range that ends at or after s (overlaps, touches or lies
     * beyond the new one). */
    unsigned i = 0;
    while (i < n && o->r[i].end - rcv_nxt < s)
        i++;
    /* j: first range from i on that starts after e; i..j-1 merge. */
    unsigned j = i;
    while (j < n && o->r[j].start - rcv_nxt <= e)
        j++;

    if (i == j) {
        if (n >= SL_OOO_MAX)
            return false;
        for (unsigned k = n; k > i; k--)
            o->r[k] = o->r[k - 1];
        o->r[i].start = start;
        o->r[i].end = end;
        o->n = (uint8_t)(n + 1u);
    } else {
        uint32_t ms = o->r[i].start;
        uint32_t me = o->r[j - 1].end;
        o->r[i].start = s < ms - rcv_nxt ? start : ms;
        o->r[i].end = e > me - rcv_nxt ? end : me;
        unsigned gone = j - i - 1u;
        for (unsigned k = i + 1u; k + gone < n; k++)
            o->r[k] = o->r[k + gone];
        o->n = (uint8_t)(n - gone);
    }
    o->recent = (uint8_t)i;
    return true;
}

uint32_t sl_ooo_advance(sl_ooo *o, uint32_t rcv_nxt)
{
    unsigned n = o->n;
    /* Ranges that end at or before rcv_nxt hold nothing new. */
    unsigned drop = 0;
    while (drop < n && sl_seq_le(o->r[drop].end, rcv_nxt))
        drop++;
    uint32_t next = rcv_nxt;
    /* At most one range can now straddle rcv_nxt (the ranges are disjoint
     * and sorted); its bytes up to its end are contiguous with the data. */
    if (drop < n && sl_seq_le(o->r[drop].start, rcv_nxt)) {
        next = o->r[drop].end;
        drop++;
    }
    if (drop == 0)
        return next;
    for (unsigned k = 0; k + drop < n; k++)
        o->r[k] = o->r[k + drop];
    o->n = (uint8_t)(n - drop);
    if (o->recent < n)
        o->recent = o->recent >= drop ? (uint8_t)(o->recent - drop) : (uint8_t)SL_OOO_MAX;
    return next;
}

size_t sl_ooo_sack(const sl_ooo *o, uint32_t *left, uint32_t *right, size_t max)
{
    size_t count = 0;
    unsigned n = o->n;
    /* RFC 2018 §4: the first block holds the most recently received
     * segment; the rest follow in sequence order. */
    unsigned first = o->recent < n ? o->recent : SL_OOO_MAX;
    if (first != SL_OOO_MAX && count < max) {
        left[count] = o->r[first].start;
        right[count] = o->r[first].end;
        count++;
    }
    for (unsigned i = 0; i < n && count < max; i++) {
        if (i == first)
            continue;
        left[count] = o->r[i].start;
        right[count] = o->r[i].end;
        count++;
    }
    return count;
}

uint32_t sl_ooo_bytes(const sl_ooo *o)
{
    uint32_t total = 0;
    for (unsigned i = 0; i < o->n; i++)
        total += o->r[i].end - o->r[i].start;
    return total;
}
