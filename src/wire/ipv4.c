/*
 * IPv4 header (RFC 791 §3.1): parse, validate options, emit.
 */
#include "sluice/wire.h"

#include <string.h>

/* Option types (RFC 791 §3.1; RFC 2113 router alert). */
enum {
    OPT_EOL = 0,
    OPT_NOP = 1,
    OPT_RR = 7,
    OPT_TS = 68,
    OPT_LSRR = 131,
    OPT_SSRR = 137,
    OPT_RA = 148
};

/* Walk the options area: every option but EOL/NOP must have a length byte
 * inside the area, length >= 2 and not past the end.  Options whose format
 * is fixed by their RFC are checked further. */
static sl_error walk_options(const uint8_t *o, size_t n, sl_ipv4_hdr *h)
{
    size_t i = 0;
    while (i < n) {
        uint8_t type = o[i];
        if (type == OPT_EOL)
            break;
        if (type == OPT_NOP) {
            i++;
            continue;
        }
        if (n - i < 2)
            return SL_ERR_IPV4_OPT_LEN;
        uint8_t olen = o[i + 1];
        if (olen < 2 || olen > n - i)
            return SL_ERR_IPV4_OPT_LEN;
        switch (type) {
        case OPT_RR:
        case OPT_LSRR:
        case OPT_SSRR:
            /* RFC 791: pointer is relative to the option start, min 4. */
            if (olen < 3 || o[i + 2] < 4)
                return SL_ERR_IPV4_OPT_FORMAT;
            if (type != OPT_RR)
                h->opt_source_route = true;
            break;
        case OPT_TS:
            /* Pointer min 5 (RFC 791 "Internet Timestamp"). */
            if (olen < 4 || o[i + 2] < 5)
                return SL_ERR_IPV4_OPT_FORMAT;
            break;
        case OPT_RA:
            if (olen != 4)
                return SL_ERR_IPV4_OPT_FORMAT;
            h->opt_router_alert = true;
            break;
        default:
            break; /* unknown: skipped by length */
        }
        i += olen;
    }
    return SL_OK;
}

sl_error sl_ipv4_parse(const uint8_t *p, size_t len, unsigned flags, sl_ipv4_hdr *h)
{
    if (len < SL_IPV4_HDR_MIN)
        return SL_ERR_TRUNCATED;
    if ((p[0] >> 4) != 4)
        return SL_ERR_IP_VERSION;
    h->ihl = p[0] & 0x0f;
    if (h->ihl < 5)
        return SL_ERR_IPV4_IHL;
    size_t hlen = (size_t)h->ihl * 4;
    if (hlen > len)
        return SL_ERR_IPV4_HDR_TRUNC;
    h->tos = p[1];
    h->total_len = sl_load16(p + 2);
    if (h->total_len < hlen || h->total_len > len)
        return SL_ERR_IPV4_TOTAL_LEN;
    if ((flags & SL_PARSE_NO_CSUM) == 0 && sl_csum(p, hlen) != 0)
        return SL_ERR_IPV4_CHECKSUM;
    h->id = sl_load16(p + 4);
    uint16_t ff = sl_load16(p + 6);
    h->rf = (ff & 0x8000u) != 0;
    h->df = (ff & 0x4000u) != 0;
    h->mf = (ff & 0x2000u) != 0;
    h->frag_off = ff & 0x1fffu;
    h->payload_len = h->total_len - hlen;
    /* A fragment may not end past the largest datagram (the "ping of
     * death"): offset*8 + its payload <= 65535. */
    if ((size_t)h->frag_off * 8 + h->payload_len > 65535u)
        return SL_ERR_IPV4_FRAG;
    h->ttl = p[8];
    h->proto = p[9];
    h->checksum = sl_load16(p + 10);
    memcpy(h->src, p + 12, 4);
    memcpy(h->dst, p + 16, 4);
    h->opts = p + SL_IPV4_HDR_MIN;
    h->opts_len = hlen - SL_IPV4_HDR_MIN;
    h->opt_source_route = false;
    h->opt_router_alert = false;
    sl_error e = walk_options(h->opts, h->opts_len, h);
    if (e != SL_OK)
        return e;
    h->payload = p + hlen;
    return SL_OK;
}

size_t sl_ipv4_hdr_len(const sl_ipv4_hdr *h)
{
    if (h->opts_len > SL_IPV4_HDR_MAX - SL_IPV4_HDR_MIN)
        return 0;
    return SL_IPV4_HDR_MIN + (h->opts_len + 3) / 4 * 4;
}

size_t sl_ipv4_emit_len(const sl_ipv4_hdr *h)
{
    size_t hl = sl_ipv4_hdr_len(h);
    return hl == 0 || h->payload_len > 65535u ? 0 : hl + h->payload_len;
}

sl_error sl_ipv4_emit(const sl_ipv4_hdr *h, uint8_t *buf, size_t cap, size_t *written)
{
    size_t hlen = sl_ipv4_hdr_len(h);
    if (hlen == 0 || h->frag_off > 0x1fffu || h->payload_len > 65535u - hlen)
        return SL_ERR_INVAL;
    size_t total = hlen + h->payload_len;
    if (cap < total)
        return SL_ERR_BUFSZ;
    if (h->payload != NULL && h->payload_len > 0)
        memmove(buf + hlen, h->payload, h->payload_len);
    buf[0] = (uint8_t)(0x40u | (hlen / 4));
    buf[1] = h->tos;
    sl_store16(buf + 2, (uint16_t)total);
    sl_store16(buf + 4, h->id);
    uint16_t ff = h->frag_off;
    if (h->rf)
        ff |= 0x8000u;
    if (h->df)
        ff |= 0x4000u;
    if (h->mf)
        ff |= 0x2000u;
    sl_store16(buf + 6, ff);
    buf[8] = h->ttl;
    buf[9] = h->proto;
    sl_store16(buf + 10, 0);
    memcpy(buf + 12, h->src, 4);
    memcpy(buf + 16, h->dst, 4);
    if (h->opts_len > 0)
        memmove(buf + SL_IPV4_HDR_MIN, h->opts, h->opts_len);
    /* Pad with EOL (0) to the 32-bit boundary. */
    memset(buf + SL_IPV4_HDR_MIN + h->opts_len, 0, hlen - SL_IPV4_HDR_MIN - h->opts_len);
    sl_store16(buf + 10, sl_csum(buf, hlen));
    *written = total;
    return SL_OK;
}
