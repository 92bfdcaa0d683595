/*
 * ICMPv4 (RFC 792, RFC 1191 for "fragmentation needed") and ICMPv6
 * (RFC 4443, NDP types of RFC 4861).  Error messages carry a checked view
 * of the packet they quote, so the IP layer can hand them to the flow they
 * name (RFC 5927 validation happens there).
 */
#include "internal.h"

#include <string.h>

/* Fill the transport part of a quote from l4[0 .. n-1]: needs 8 bytes
 * (RFC 792: "the first 64 bits of the original datagram's data"), unless
 * the quote holds the whole original packet and it was shorter. */
static sl_error quote_l4(sl_icmp_quote *q, const uint8_t *l4, size_t n, bool whole,
                         uint8_t echo_req, uint8_t echo_rep, uint8_t icmp_proto)
{
    q->l4 = l4;
    q->l4_len = n;
    if (q->is_fragment)
        return SL_OK;
    if (n < 8)
        return whole ? SL_OK : SL_ERR_ICMP_QUOTE;
    if (q->proto == SL_IPPROTO_TCP || q->proto == SL_IPPROTO_UDP) {
        q->has_ports = true;
        q->sport = sl_load16(l4);
        q->dport = sl_load16(l4 + 2);
        if (q->proto == SL_IPPROTO_TCP) {
            q->has_seq = true;
            q->seq = sl_load32(l4 + 4);
        }
    } else if (q->proto == icmp_proto && (l4[0] == echo_req || l4[0] == echo_rep)) {
        q->has_echo = true;
        q->echo_id = sl_load16(l4 + 4);
        q->echo_seq = sl_load16(l4 + 6);
    }
    return SL_OK;
}

/* The quoted IPv4 header: version, IHL and its length are checked; the
 * total length may exceed what was quoted; its checksum is not checked. */
static sl_error quote4(const uint8_t *p, size_t len, sl_icmp_quote *q)
{
    if (len < SL_IPV4_HDR_MIN || (p[0] >> 4) != 4)
        return SL_ERR_ICMP_QUOTE;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    size_t total = sl_load16(p + 2);
    if (hlen < SL_IPV4_HDR_MIN || hlen > len || total < hlen)
        return SL_ERR_ICMP_QUOTE;
    bool whole = total <= len;
    if (total < len)
        len = total; /* drop bytes past the original packet */
    q->family = 4;
    q->proto = p[9];
    memcpy(q->src, p + 12, 4);
    memcpy(q->dst, p + 16, 4);
    q->is_fragment = (sl_load16(p + 6) & 0x1fffu) != 0;
    q->ip = p;
    q->ip_len = len;
    return quote_l4(q, p + hlen, len - hlen, whole, 8, 0, SL_IPPROTO_ICMP);
}

static sl_error quote6(const uint8_t *p, size_t len, sl_icmp_quote *q)
{
    if (len < SL_IPV6_HDR_LEN || (p[0] >> 4) != 6)
        return SL_ERR_ICMP_QUOTE;
    size_t end = SL_IPV6_HDR_LEN + (size_t)sl_load16(p + 4);
    bool whole = end <= len;
    if (end > len)
        end = len;
    sl_ipv6_hdr h;
    if (sl_ipv6_walk(p, end, true, &h) != SL_OK)
        return SL_ERR_ICMP_QUOTE;
    q->family = 6;
    q->proto = h.proto;
    memcpy(q->src, h.src, 16);
    memcpy(q->dst, h.dst, 16);
    q->is_fragment = h.is_fragment && h.frag_off != 0;
    q->ip = p;
    q->ip_len = end;
    return quote_l4(q, h.payload, h.payload_len, whole, 128, 129, SL_IPPROTO_ICMPV6);
}

static void common_fields(const uint8_t *p, size_t len, sl_icmp_hdr *h)
{
    h->type = p[0];
    h->code = p[1];
    h->checksum = sl_load16(p + 2);
    h->rest = sl_load32(p + 4);
    h->kind = SL_ICMP_OTHER;
    h->echo_id = h->echo_seq = 0;
    h->mtu = 0;
    h->pointer = 0;
    h->body = p + SL_ICMP_HDR_LEN;
    h->body_len = len - SL_ICMP_HDR_LEN;
    h->has_quote = false;
    memset(&h->quote, 0, sizeof h->quote);
}

sl_error sl_icmp4_parse(const uint8_t *p, size_t len, unsigned flags, sl_icmp_hdr *h)
{
    if (len < SL_ICMP_HDR_LEN)
        return SL_ERR_TRUNCATED;
    if ((flags & SL_PARSE_NO_CSUM) == 0 && sl_csum(p, len) != 0)
        return SL_ERR_ICMP_CHECKSUM;
    common_fields(p, len, h);
    bool is_error = false;
    switch (h->type) {
    case 0:
    case 8:
        h->kind = h->type == 8 ? SL_ICMP_ECHO_REQUEST : SL_ICMP_ECHO_REPLY;
        h->echo_id = (uint16_t)(h->rest >> 16);
        h->echo_seq = (uint16_t)h->rest;
        break;
    case 3:
        h->kind = SL_ICMP_DEST_UNREACH;
        if (h->code == 4) /* RFC 1191 §4: next-hop MTU in the low 16 bits */
            h->mtu = h->rest & 0xffffu;
        is_error = true;
        break;
    case 11:
        h->kind = SL_ICMP_TIME_EXCEEDED;
        is_error = true;
        break;
    case 12:
        h->kind = SL_ICMP_PARAM_PROBLEM;
        h->pointer = h->rest >> 24;
        is_error = true;
        break;
    default:
        break;
    }
    if (is_error) {
        sl_error e = quote4(h->body, h->body_len, &h->quote);
        if (e != SL_OK)
            return e;
        h->has_quote = true;
    }
    return SL_OK;
}

sl_error sl_icmp6_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_icmp_hdr *h)
{
    if (len < SL_ICMP_HDR_LEN)
        return SL_ERR_TRUNCATED;
    if (ph != NULL) {
        if (ph->family != 6 || len > UINT32_MAX)
            return SL_ERR_INVAL;
        uint32_t s = sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_ICMPV6, (uint32_t)len);
        if (sl_csum_finish(sl_csum_partial(p, len, s)) != 0)
            return SL_ERR_ICMP_CHECKSUM;
    }
    common_fields(p, len, h);
    bool is_error = false;
    switch (h->type) {
    case 1:
        h->kind = SL_ICMP_DEST_UNREACH;
        is_error = true;
        break;
    case 2:
        h->kind = SL_ICMP_PKT_TOO_BIG;
        h->mtu = h->rest;
        is_error = true;
        break;
    case 3:
        h->kind = SL_ICMP_TIME_EXCEEDED;
        is_error = true;
        break;
    case 4:
        h->kind = SL_ICMP_PARAM_PROBLEM;
        h->pointer = h->rest;
        is_error = true;
        break;
    case 128:
    case 129:
        h->kind = h->type == 128 ? SL_ICMP_ECHO_REQUEST : SL_ICMP_ECHO_REPLY;
        h->echo_id = (uint16_t)(h->rest >> 16);
        h->echo_seq = (uint16_t)h->rest;
        break;
    case 133:
        h->kind = SL_ICMP_NDP_RS;
        break;
    case 134:
        h->kind = SL_ICMP_NDP_RA;
        break;
    case 135:
        h->kind = SL_ICMP_NDP_NS;
        break;
    case 136:
        h->kind = SL_ICMP_NDP_NA;
        break;
    case 137:
        h->kind = SL_ICMP_NDP_REDIRECT;
        break;
    default:
        break;
    }
    if (is_error) {
        sl_error e = quote6(h->body, h->body_len, &h->quote);
        if (e != SL_OK)
            return e;
        h->has_quote = true;
    }
    return SL_OK;
}

size_t sl_icmp_emit_len(const sl_icmp_hdr *h)
{
    return SL_ICMP_HDR_LEN + h->body_len;
}

static sl_error emit_common(const sl_icmp_hdr *h, uint8_t *buf, size_t cap, size_t *total)
{
    if (h->body_len > 65535u - SL_ICMP_HDR_LEN)
        return SL_ERR_INVAL;
    *total = SL_ICMP_HDR_LEN + h->body_len;
    if (cap < *total)
        return SL_ERR_BUFSZ;
    if (h->body != NULL && h->body_len > 0)
        memmove(buf + SL_ICMP_HDR_LEN, h->body, h->body_len);
    buf[0] = h->type;
    buf[1] = h->code;
    sl_store16(buf + 2, 0);
    sl_store32(buf + 4, h->rest);
    return SL_OK;
}

sl_error sl_icmp4_emit(const sl_icmp_hdr *h, uint8_t *buf, size_t cap, size_t *written)
{
    size_t total = 0;
    sl_error e = emit_common(h, buf, cap, &total);
    if (e != SL_OK)
        return e;
    sl_store16(buf + 2, sl_csum(buf, total));
    *written = total;
    return SL_OK;
}

sl_error sl_icmp6_emit(const sl_icmp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                       size_t *written)
{
    if (ph != NULL && ph->family != 6)
        return SL_ERR_INVAL;
    size_t total = 0;
    sl_error e = emit_common(h, buf, cap, &total);
    if (e != SL_OK)
        return e;
    if (ph != NULL) {
        uint32_t s = sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_ICMPV6, (uint32_t)total);
        sl_store16(buf + 2, sl_csum_finish(sl_csum_partial(buf, total, s)));
    }
    *written = total;
    return SL_OK;
}
