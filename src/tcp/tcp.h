/*
 * TCP (internal): what the stack calls.  The public sl_stream_* functions
 * are in tcp_api.c.
 */
#ifndef SL_TCP_TCP_H
#define SL_TCP_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "sluice/wire.h"

/* A TCP segment l4[0..len-1] from src to dst.  Returns a parse error
 * (counted by the caller) or SL_OK (every other outcome is counted). */
sl_error sl_tcp_input(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      const uint8_t *l4, size_t len);

/* A validated ICMP error quoting a TCP segment we sent (RFC 5927). */
void sl_tcp_icmp_error(sl_ctx *c, uint8_t family, const sl_icmp_hdr *msg);

/* An SL_TK_TCP timer fired. */
void sl_tcp_timer(sl_ctx *c, sl_timer *t);

/* Send for every connection on the output list; false when the device is
 * full (the rest stays listed). */
bool sl_tcp_flush(sl_ctx *c);

/* Free every connection and listener (stack teardown). */
void sl_tcp_fini(sl_ctx *c);

#endif
