/*
 * IPv4 and IPv6 fragment reassembly (internal): RFC 791 / RFC 815 (holes),
 * RFC 8200 §4.5, RFC 5722 (overlaps discard the datagram), RFC 6946
 * (atomic fragments never reach this module: the parser walks through
 * them).  Bounded in concurrent datagrams, bytes held, fragments per
 * datagram and time.
 */
#ifndef SL_IP_REASM_H
#define SL_IP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "sluice/alloc.h"
#include "sluice/wire.h"

typedef struct sl_reasm_limits {
    uint32_t max_datagrams; /* datagrams being reassembled at once        */
    size_t max_bytes;       /* fragment bytes held (data + headers kept)  */
    uint32_t max_frags;     /* fragments per datagram                     */
    sl_time timeout;        /* microseconds from the first fragment       */
} sl_reasm_limits;

typedef struct sl_reasm_stats {
    uint64_t completed;     /* datagrams reassembled                      */
    uint64_t timed_out;     /* datagrams given up after `timeout`         */
    uint64_t overlaps;      /* datagrams discarded for overlap            */
    uint64_t duplicates;    /* exact duplicate fragments dropped          */
    uint64_t too_big;       /* datagrams discarded: would exceed 65535    */
    uint64_t inconsistent;  /* datagrams discarded: conflicting ends      */
    uint64_t limit_drops;   /* fragments refused by a limit               */
    uint64_t nomem;         /* fragments refused: allocator said no       */
} sl_reasm_stats;

struct sl_reasm_dgram; /* private to reasm.c */

typedef struct sl_reasm {
    sl_mem *mem;
    sl_reasm_limits lim;
    struct sl_reasm_dgram *oldest, *newest; /* FIFO = expiry order       */
    uint32_t n_dgrams;
    size_t bytes;
    sl_reasm_stats st;
} sl_reasm;

/* Largest packet sl_reasm_input* can produce: header(s) + 65535 payload. */
#define SL_REASM_OUT_MAX (65535u + 60u)

void sl_reasm_init(sl_reasm *r, sl_mem *m, const sl_reasm_limits *lim);
/* Frees every datagram held. */
void sl_reasm_fini(sl_reasm *r);

/*
 * Feed one fragment.  `pkt` is the whole packet as received (what the
 * parser saw) and `h` its parsed view; for IPv4 h->mf or h->frag_off is
 * non-zero, for IPv6 h->is_fragment is set.  Datagrams are matched on
 * (src, dst, proto, id) for IPv4 and (src, dst, id) for IPv6.
 *
 * Returns
 *   SL_OK        the datagram is complete: out[0 .. *out_len-1] holds the
 *                whole packet, ready for the normal input path.  IPv4: the
 *                first fragment's header with MF 0, offset 0, total length
 *                and checksum rewritten.  IPv6: the first fragment's
 *                unfragmentable part with the Fragment header removed, the
 *                next-header field that named it set to the fragment's
 *                next header, and the payload length fixed.  Requires
 *                out_cap >= SL_REASM_OUT_MAX.
 *   SL_ERR_AGAIN stored; more fragments needed.
 *   SL_ERR_FRAG_OVERLAP   overlap (not an exact duplicate): datagram dropped.
 *   SL_ERR_FRAG_TOO_BIG   would exceed 65535 bytes of payload: dropped.
 *   SL_ERR_FRAG_INCONSISTENT two different ends, or data past the end:
 *                dropped.
 *   SL_ERR_FRAG_LIMIT     a limit refused this fragment (datagram kept).
 *   SL_ERR_NOMEM  the allocator refused this fragment (datagram kept).
 *   SL_ERR_INVAL  out_cap too small or h is not a fragment.
 * An exact duplicate of a held fragment is dropped and gives SL_ERR_AGAIN.
 */
sl_error sl_reasm_input4(sl_reasm *r, const uint8_t *pkt, const sl_ipv4_hdr *h, sl_time now,
                         uint8_t *out, size_t out_cap, size_t *out_len);
sl_error sl_reasm_input6(sl_reasm *r, const uint8_t *pkt, const sl_ipv6_hdr *h, sl_time now,
                         uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Give up on datagrams whose first fragment arrived `timeout` or more
 * before `now`, one per call.  When the expired datagram had its offset-0
 * fragment, copies that fragment as received (truncated to out_cap) to
 * `out` and returns SL_OK with *out_len set, so the caller can send ICMP
 * Time Exceeded, code 1 (RFC 792; RFC 8200 §4.5).  An expired datagram
 * without its first fragment is freed with *out_len = 0 and SL_OK.
 * Returns SL_ERR_AGAIN when nothing (more) has expired.
 */
sl_error sl_reasm_expire(sl_reasm *r, sl_time now, uint8_t *out, size_t out_cap,
                         size_t *out_len);

/* When the oldest datagram expires, or SL_TIME_NEVER. */
sl_time sl_reasm_next_expiry(const sl_reasm *r);

#endif
