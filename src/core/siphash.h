/*
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
 * 2012), written from the paper.  Used for the flow table, initial
 * sequence numbers (RFC 6528) and ephemeral ports (RFC 6056).
 */
#ifndef SL_CORE_SIPHASH_H
#define SL_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t sl_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
