/*
 * UDP (internal): inbound datagram flows through the acceptor, bound
 * handles, receive queues and sending.  The public sl_dgram_* functions
 * are implemented in udp.c.
 */
#ifndef SL_UDP_UDP_H
#define SL_UDP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "sluice/wire.h"

typedef enum sl_udp_result {
    SL_UDP_DONE = 0,     /* delivered, or dropped and counted            */
    SL_UDP_REFUSED = 1   /* the filter refused: send port unreachable    */
} sl_udp_result;

/* Deliver the UDP datagram l4[0..len-1] from src to dst (addresses of
 * `family`).  Returns a parse error (counted by the caller) or SL_OK with
 * *res set. */
sl_error sl_udp_input(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      const uint8_t *l4, size_t len, sl_udp_result *res);

/* A validated ICMP error whose quote names a UDP datagram we sent. */
void sl_udp_icmp_error(sl_ctx *c, const sl_icmp_quote *q, sl_error err, uint32_t mtu);

/* An SL_TK_UDP_IDLE timer fired. */
void sl_udp_timer(sl_ctx *c, sl_timer *t);

/* The tx queue has room again: raise WRITABLE on the handles whose send
 * got SL_ERR_AGAIN (only those: no scan of all flows). */
void sl_udp_tx_drained(sl_ctx *c);

/* Free every UDP object (stack teardown). */
void sl_udp_fini(sl_ctx *c);

#endif
