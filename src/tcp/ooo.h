/*
 * Out-of-order ranges for TCP receive (internal).
 *
 * Segments that arrive beyond RCV.NXT are stored in the receive ring at
 * their offset (sl_ring_write_at); this structure remembers which
 * sequence ranges are held, bounded to SL_OOO_MAX ranges, and gives the
 * SACK blocks to send (RFC 2018 §4: the block with the most recently
 * received segment first).  All sequence arithmetic is modulo 2^32.
 */
#ifndef SL_TCP_OOO_H
#define SL_TCP_OOO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_OOO_MAX 8u

typedef struct sl_ooo {
    uint8_t n;                  /* ranges held                          */
    struct {
        uint32_t start, end;    /* [start, end) in sequence space       */
    } r[SL_OOO_MAX];            /* sorted by start relative to rcv_nxt  */
    uint8_t recent;             /* index of the range last added to     */
} sl_ooo;

void sl_ooo_init(sl_ooo *o);

/* Record [start, end) received, where rcv_nxt < start (modulo 2^32) and the
 * range lies within the window (the caller trims it).  Merges with
 * overlapping or adjacent ranges.  Returns false, changing nothing, when a
 * new range would exceed SL_OOO_MAX (the caller drops the segment). */
bool sl_ooo_add(sl_ooo *o, uint32_t rcv_nxt, uint32_t start, uint32_t end);

/* RCV.NXT advanced to rcv_nxt: drop ranges that end at or before it; if a
 * range now starts at or before rcv_nxt, remove it and return its end (the
 * new RCV.NXT: those bytes are contiguous now), else return rcv_nxt. */
uint32_t sl_ooo_advance(sl_ooo *o, uint32_t rcv_nxt);

/* Up to max SACK blocks (left, right pairs), most recent first then the
 * others in order; returns the count. */
size_t sl_ooo_sack(const sl_ooo *o, uint32_t *left, uint32_t *right, size_t max);

/* Bytes held beyond rcv_nxt (for accounting). */
uint32_t sl_ooo_bytes(const sl_ooo *o);

#endif
