/*
 * ICMP and ICMPv6 (internal): echo replies, rate-limited error generation,
 * and validation of received errors (the stack hands the quote to the
 * protocol whose flow it names).
 */
#ifndef SL_ICMP_ICMP_H
#define SL_ICMP_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "sluice/wire.h"

/* What sl_icmp*_input found. */
typedef enum sl_icmp_result {
    SL_ICMP_CONSUMED = 0, /* handled (echo answered) or ignored (counted) */
    SL_ICMP_FOR_FLOW = 1  /* an error message: *msg holds a valid quote   */
} sl_icmp_result;

/* Process an ICMPv4 message (the payload of `ip`).  Parse errors are
 * returned (and counted); SL_OK with *res telling what was found. */
sl_error sl_icmp4_input(sl_ctx *c, const sl_ipv4_hdr *ip, sl_icmp_hdr *msg, sl_icmp_result *res);
sl_error sl_icmp6_input(sl_ctx *c, const sl_ipv6_hdr *ip, sl_icmp_hdr *msg, sl_icmp_result *res);

/* Send an ICMPv4 / ICMPv6 error about packet orig[0..len-1] (as received,
 * with its parsed header), unless RFC 1122 §3.2.2 / RFC 4443 §2.4(e)
 * forbid it (about an ICMP error, a non-first fragment, a multicast or
 * broadcast destination, or a martian source) or the token bucket is empty.  The
 * error comes from the original destination address. */
void sl_icmp4_error(sl_ctx *c, const uint8_t *orig, size_t len, const sl_ipv4_hdr *oh,
                    uint8_t type, uint8_t code, uint32_t rest);
void sl_icmp6_error(sl_ctx *c, const uint8_t *orig, size_t len, const sl_ipv6_hdr *oh,
                    uint8_t type, uint8_t code, uint32_t rest);

/* Map a received error to the error a flow reports. */
sl_error sl_icmp_flow_error(uint8_t family, const sl_icmp_hdr *msg);

#endif
