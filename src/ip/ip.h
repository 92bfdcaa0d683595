/*
 * IP layer (internal): which addresses are ours, building packets to
 * send, and transmitting them (fragmenting to the MTU).
 */
#ifndef SL_IP_IP_H
#define SL_IP_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "sluice/wire.h"

/* Length of an address of `family` (4 -> 4, 6 -> 16). */
static inline size_t sl_ip_alen(uint8_t family)
{
    return family == 4 ? 4u : 16u;
}

/* Is `dst` an address this stack answers for (any_ip, or inside a local
 * prefix)?  Multicast, broadcast, unspecified and loopback never are. */
bool sl_ip_is_local(const sl_ctx *c, uint8_t family, const uint8_t *dst);
/* Multicast (224/4, ff00::/8) or limited broadcast (255.255.255.255). */
bool sl_ip_is_multicast(uint8_t family, const uint8_t *a);
/* A source nobody may send from: unspecified, multicast, broadcast,
 * loopback (RFC 1122 §3.2.1.3; RFC 4291 §2.5.2-3). */
bool sl_ip_is_martian_src(uint8_t family, const uint8_t *src);
/* The same, except that loopback addresses pass with cfg.allow_loopback. */
bool sl_ip_is_martian_cfg(const sl_ctx *c, uint8_t family, const uint8_t *a);

/* Allocate a queued-packet buffer for an IP packet carrying `l4len` bytes
 * of protocol `proto` from src to dst, write the IP header and set *l4 to
 * where the transport bytes go.  The caller fills them, then calls
 * sl_ip_queue.  NULL (counted) on SL_ERR_LIMIT / SL_ERR_NOMEM in *err. */
sl_txpkt *sl_ip_alloc(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      uint8_t proto, size_t l4len, uint8_t **l4, sl_error *err);
void sl_ip_queue(sl_ctx *c, sl_txpkt *p);

/* Direct output, for packets built at poll time (TCP segments): a buffer
 * for a packet of `len` (<= sl_tx_max) bytes — the device's, or the stack's
 * scratch — or NULL when the device is full (counted).  Write the
 * transport bytes at buf + sl_ip_hdr_len(family), then sl_ip_direct_send
 * writes the IP header and transmits. */
uint8_t *sl_ip_direct_begin(sl_ctx *c, size_t len);
void sl_ip_direct_send(sl_ctx *c, uint8_t *buf, uint8_t family, const uint8_t *src,
                       const uint8_t *dst, uint8_t proto, size_t l4len);
/* The same for a TCP packet longer than the MTU (TSO): through
 * tx.send_tso with segments of `seg` payload bytes. */
void sl_ip_direct_send_tso(sl_ctx *c, uint8_t *buf, uint8_t family, const uint8_t *src,
                           const uint8_t *dst, size_t l4len, uint16_t seg);
static inline size_t sl_ip_hdr_len(uint8_t family)
{
    return family == 4 ? SL_IPV4_HDR_MIN : SL_IPV6_HDR_LEN;
}

/* Transmit queued packets through cfg.tx.  Returns false when the device
 * refused a buffer (the rest stays queued). */
bool sl_ip_flush(sl_ctx *c);

#endif
