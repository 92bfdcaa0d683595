/*
 * UDP header (RFC 768); zero-checksum rules of RFC 768 (IPv4: none) and
 * RFC 8200 §8.1 (IPv6: must be discarded).
 */
#include "sluice/wire.h"

#include <string.h>

static sl_error pseudo_sum(const sl_pseudo *ph, size_t len, uint32_t *s)
{
    if (ph->family == 4)
        *s = sl_csum_pseudo4(ph->src, ph->dst, SL_IPPROTO_UDP, (uint16_t)len);
    else if (ph->family == 6)
        *s = sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_UDP, (uint32_t)len);
    else
        return SL_ERR_INVAL;
    return SL_OK;
}

sl_error sl_udp_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_udp_hdr *h)
{
    if (len < SL_UDP_HDR_LEN)
        return SL_ERR_TRUNCATED;
    h->sport = sl_load16(p);
    h->dport = sl_load16(p + 2);
    h->length = sl_load16(p + 4);
    h->checksum = sl_load16(p + 6);
    if (h->length < SL_UDP_HDR_LEN || h->length > len)
        return SL_ERR_UDP_LEN;
    if (ph != NULL) {
        uint32_t s = 0;
        sl_error e = pseudo_sum(ph, h->length, &s);
        if (e != SL_OK)
            return e;
        if (h->checksum == 0) {
            if (ph->family == 6)
                return SL_ERR_UDP_ZERO_CSUM;
        } else if (sl_csum_finish(sl_csum_partial(p, h->length, s)) != 0) {
            return SL_ERR_UDP_CHECKSUM;
        }
    }
    h->payload = p + SL_UDP_HDR_LEN;
    h->payload_len = (size_t)h->length - SL_UDP_HDR_LEN;
    return SL_OK;
}

size_t sl_udp_emit_len(const sl_udp_hdr *h)
{
    return SL_UDP_HDR_LEN + h->payload_len;
}

sl_error sl_udp_emit(const sl_udp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                     size_t *written)
{
    if (h->payload_len > 65535u - SL_UDP_HDR_LEN)
        return SL_ERR_INVAL;
    size_t total = SL_UDP_HDR_LEN + h->payload_len;
    uint32_t s = 0;
    if (ph != NULL) {
        sl_error e = pseudo_sum(ph, total, &s);
        if (e != SL_OK)
            return e;
    }
    if (cap < total)
        return SL_ERR_BUFSZ;
    if (h->payload != NULL && h->payload_len > 0)
        memmove(buf + SL_UDP_HDR_LEN, h->payload, h->payload_len);
    sl_store16(buf, h->sport);
    sl_store16(buf + 2, h->dport);
    sl_store16(buf + 4, (uint16_t)total);
    sl_store16(buf + 6, 0);
    if (ph != NULL) {
        uint16_t c = sl_csum_finish(sl_csum_partial(buf, total, s));
        /* RFC 768: a computed zero is transmitted as all ones. */
        sl_store16(buf + 6, c == 0 ? 0xffffu : c);
    }
    *written = total;
    return SL_OK;
}
