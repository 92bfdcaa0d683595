/*
 * IPv6 header and extension-header chain (RFC 8200 §3, §4), with the
 * fragment rules of RFC 5722 / RFC 6946 left to the IP layer but the
 * per-packet checks of RFC 8200 §4.5 done here.
 */
#include "internal.h"

#include <string.h>

enum {
    OPT_PAD1 = 0,
    OPT_PADN = 1,
    OPT_ROUTER_ALERT = 5, /* RFC 2711 */
    OPT_JUMBO = 0xc2      /* RFC 2675 */
};

/* Walk the TLV options of a Hop-by-Hop or Destination Options header that
 * occupies q[0 .. hl-1] (hl >= 8, checked by the caller) and starts `base`
 * bytes into the packet. */
static sl_error walk_tlv(const uint8_t *q, size_t hl, size_t base, sl_ipv6_hdr *h)
{
    size_t i = 2;
    while (i < hl) {
        uint8_t type = q[i];
        if (type == OPT_PAD1) {
            i++;
            continue;
        }
        if (hl - i < 2)
            return SL_ERR_IPV6_OPT_LEN;
        size_t olen = q[i + 1];
        if (olen > hl - i - 2)
            return SL_ERR_IPV6_OPT_LEN;
        if (type == OPT_JUMBO)
            return SL_ERR_IPV6_JUMBO;
        if (type == OPT_ROUTER_ALERT) {
            if (olen != 2)
                return SL_ERR_IPV6_OPT_LEN;
            h->router_alert = true;
        } else if (type != OPT_PADN) {
            /* RFC 8200 §4.2: the two high-order bits say what to do with
             * an option we do not recognise. */
            uint8_t action = (uint8_t)(type >> 6);
            if (action != 0 && h->opt_action == 0) {
                h->opt_action = action;
                h->opt_ptr = (uint16_t)(base + i);
            }
        }
        i += 2 + olen;
    }
    return SL_OK;
}

static void clear_chain(sl_ipv6_hdr *h)
{
    h->n_ext = 0;
    h->ext_len = 0;
    h->has_hbh = h->has_routing = h->has_dstopts = false;
    h->routing_type = h->segments_left = 0;
    h->router_alert = false;
    h->opt_action = 0;
    h->opt_ptr = 0;
    h->has_frag = h->is_fragment = h->atomic_frag = false;
    h->frag_off = 0;
    h->frag_more = false;
    h->frag_id = 0;
    h->unfrag_len = 0;
    h->nh_off = 6;
}

sl_error sl_ipv6_walk(const uint8_t *p, size_t end, bool quoted, sl_ipv6_hdr *h)
{
    uint32_t w0 = sl_load32(p);
    h->tclass = (uint8_t)(w0 >> 20);
    h->flow = w0 & 0xfffffu;
    h->plen = sl_load16(p + 4);
    h->next_header = p[6];
    h->hop_limit = p[7];
    memcpy(h->src, p + 8, 16);
    memcpy(h->dst, p + 24, 16);
    clear_chain(h);

    size_t off = SL_IPV6_HDR_LEN;
    uint8_t nh = h->next_header;
    for (;;) {
        bool is_ext = nh == SL_IPPROTO_HOPOPTS || nh == SL_IPPROTO_ROUTING ||
                      nh == SL_IPPROTO_DSTOPTS || nh == SL_IPPROTO_FRAGMENT;
        if (!is_ext)
            break;
        if (h->n_ext >= SL_IPV6_MAX_EXT)
            return SL_ERR_IPV6_EXT_CHAIN;
        /* RFC 8200 §4.1: Hop-by-Hop only directly after the IPv6 header. */
        if (nh == SL_IPPROTO_HOPOPTS && h->n_ext != 0)
            return SL_ERR_IPV6_HBH_ORDER;
        if (end - off < 8)
            return SL_ERR_IPV6_EXT_TRUNC;
        const uint8_t *q = p + off;
        size_t hl = 8;
        if (nh != SL_IPPROTO_FRAGMENT) {
            hl = ((size_t)q[1] + 1) * 8;
            if (hl > end - off)
                return SL_ERR_IPV6_EXT_TRUNC;
        }
        uint8_t next = q[0];
        h->n_ext++;
        if (nh == SL_IPPROTO_HOPOPTS || nh == SL_IPPROTO_DSTOPTS) {
            sl_error e = walk_tlv(q, hl, off, h);
            if (e != SL_OK)
                return e;
            if (nh == SL_IPPROTO_HOPOPTS)
                h->has_hbh = true;
            else
                h->has_dstopts = true;
        } else if (nh == SL_IPPROTO_ROUTING) {
            h->has_routing = true;
            h->routing_type = q[2];
            h->segments_left = q[3];
        } else {
            /* Fragment header (RFC 8200 §4.5). */
            if (h->has_frag)
                return SL_ERR_IPV6_FRAG;
            h->has_frag = true;
            h->unfrag_len = off;
            uint16_t fo = sl_load16(q + 2);
            h->frag_off = (uint16_t)(fo >> 3);
            h->frag_more = (fo & 1u) != 0;
            h->frag_id = sl_load32(q + 4);
            if (h->frag_off == 0 && !h->frag_more) {
                h->atomic_frag = true; /* RFC 6946: process as whole */
            } else {
                size_t data = end - off - 8;
                /* §4.5: a non-last fragment's length is a multiple of 8;
                 * the reassembled payload (the extension headers before
                 * the Fragment header, then the fragmentable part) may
                 * not exceed 65535 bytes. */
                size_t reasm_plen = (off - SL_IPV6_HDR_LEN) + (size_t)h->frag_off * 8 + data;
                if (!quoted && ((h->frag_more && (data % 8) != 0) || reasm_plen > 65535u))
                    return SL_ERR_IPV6_FRAG;
                h->is_fragment = true;
                h->nh_off = (uint16_t)off;
                off += hl;
                h->ext_len += hl;
                nh = next;
                break;
            }
        }
        h->nh_off = (uint16_t)off;
        off += hl;
        h->ext_len += hl;
        nh = next;
    }
    h->proto = nh;
    h->payload = p + off;
    h->payload_len = end - off;
    return SL_OK;
}

sl_error sl_ipv6_parse(const uint8_t *p, size_t len, sl_ipv6_hdr *h)
{
    if (len < SL_IPV6_HDR_LEN)
        return SL_ERR_TRUNCATED;
    if ((p[0] >> 4) != 6)
        return SL_ERR_IP_VERSION;
    size_t plen = sl_load16(p + 4);
    if (plen > len - SL_IPV6_HDR_LEN)
        return SL_ERR_IPV6_PAYLOAD_LEN;
    return sl_ipv6_walk(p, SL_IPV6_HDR_LEN + plen, false, h);
}

size_t sl_ipv6_emit_len(const sl_ipv6_hdr *h)
{
    return SL_IPV6_HDR_LEN + h->payload_len;
}

sl_error sl_ipv6_emit(const sl_ipv6_hdr *h, uint8_t *buf, size_t cap, size_t *written)
{
    if (h->payload_len > 65535u || h->flow > 0xfffffu)
        return SL_ERR_INVAL;
    size_t total = SL_IPV6_HDR_LEN + h->payload_len;
    if (cap < total)
        return SL_ERR_BUFSZ;
    if (h->payload != NULL && h->payload_len > 0)
        memmove(buf + SL_IPV6_HDR_LEN, h->payload, h->payload_len);
    sl_store32(buf, 6u << 28 | (uint32_t)h->tclass << 20 | h->flow);
    sl_store16(buf + 4, (uint16_t)h->payload_len);
    buf[6] = h->next_header;
    buf[7] = h->hop_limit;
    memcpy(buf + 8, h->src, 16);
    memcpy(buf + 24, h->dst, 16);
    *written = total;
    return SL_OK;
}
