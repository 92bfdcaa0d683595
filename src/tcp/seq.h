/*
 * TCP sequence-number helpers, initial sequence numbers (RFC 6528),
 * SYN cookies (RFC 4987 §3.6) and ephemeral ports (RFC 6056) (internal).
 */
#ifndef SL_TCP_SEQ_H
#define SL_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/alloc.h"

/* Modulo-2^32 comparisons (RFC 9293 §3.4). */
static inline bool sl_seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static inline bool sl_seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}
static inline bool sl_seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}
static inline bool sl_seq_ge(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* The 4-tuple a TCP connection is named by, as the hashes see it. */
typedef struct sl_tuple {
    uint8_t family;      /* 4 or 6                                  */
    uint8_t laddr[16];   /* IPv4 in the first 4 bytes, rest zero    */
    uint8_t raddr[16];
    uint16_t lport, rport;
} sl_tuple;

/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, key),
 * M a 4-microsecond clock from `now`, F SipHash-2-4 keyed by `key`. */
uint32_t sl_tcp_isn(const uint8_t key[16], const sl_tuple *t, sl_time now);

/* SYN cookies.  What a cookie remembers of the SYN: */
typedef struct sl_cookie_opts {
    uint16_t mss;        /* decoded: one of the table's values        */
    uint8_t wscale;      /* 0..14, meaningful if has_wscale           */
    bool has_wscale;
    bool sack_perm;
    bool has_ts;
} sl_cookie_opts;

/* The ISS to put in the SYN-ACK: encodes the peer's MSS (rounded down to a
 * table of 8 values), window scale, SACK-permitted and timestamps, a
 * 64-second time slot from `now`, and a keyed hash of the 4-tuple, the
 * slot and the peer's ISN. */
uint32_t sl_cookie_make(const uint8_t key[16], const sl_tuple *t, uint32_t peer_isn,
                        const sl_cookie_opts *o, sl_time now);

/* Check the ACK of a cookie SYN-ACK: `cookie` = SEG.ACK - 1, peer_isn =
 * SEG.SEQ - 1.  Accepts cookies from the current and the previous time
 * slot (up to 128 s old); fills *o.  False for anything else. */
bool sl_cookie_check(const uint8_t key[16], const sl_tuple *t, uint32_t peer_isn, uint32_t cookie,
                     sl_time now, sl_cookie_opts *o);

/* RFC 6056 §3.3.3 (Algorithm 3): the first ephemeral port to try for a
 * connection to `t` (lport ignored), in [lo, hi]; the caller tries
 * port, port+1, ... (wrapping within [lo, hi]) with `*counter` advanced
 * per attempt (keep it in the stack).  Returns the port for attempt i. */
uint16_t sl_ephemeral_port(const uint8_t key[16], const sl_tuple *t, uint16_t lo, uint16_t hi,
                           uint32_t counter);

#endif
