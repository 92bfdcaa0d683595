/*
 * ICMPv4 (RFC 792, RFC 1122 §3.2.2) and ICMPv6 (RFC 4443).
 */
#include "icmp/icmp.h"

#include <string.h>

#include "ip/ip.h"

/* Quote limits: the error datagram stays within 576 bytes for IPv4
 * (RFC 1812 §4.3.2.3) and 1280 for IPv6 (RFC 4443 §2.4(c)). */
#define QUOTE4_MAX (576u - 20u - 8u)
#define QUOTE6_MAX (1280u - 40u - 8u)
#define TOKEN 1000000u /* one token in micro-tokens */

/* Token bucket (rate per second, burst), refilled from injected time. */
static bool take_token(sl_ctx *c)
{
    uint64_t cap = (uint64_t)c->cfg.icmp_burst * TOKEN;
    sl_time dt = c->now > c->icmp_last ? c->now - c->icmp_last : 0;
    c->icmp_last = c->now > c->icmp_last ? c->now : c->icmp_last;
    /* dt microseconds at `rate` tokens per second = dt * rate micro-tokens;
     * saturate instead of overflowing on long idle gaps. */
    uint64_t add = dt > cap ? cap : dt * c->cfg.icmp_rate;
    c->icmp_tokens = c->icmp_tokens + add > cap ? cap : c->icmp_tokens + add;
    if (c->icmp_tokens < TOKEN) {
        sl_count(c, SL_CNT_ICMP_RATE_LIMITED);
        return false;
    }
    c->icmp_tokens -= TOKEN;
    return true;
}

static void echo_reply(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                       const sl_icmp_hdr *req)
{
    if (!c->cfg.icmp_echo || !sl_ip_is_local(c, family, dst))
        return;
    uint8_t *l4 = NULL;
    sl_error err;
    size_t len = sl_icmp_emit_len(req);
    sl_txpkt *p = sl_ip_alloc(c, family, dst, src, family == 4 ? SL_IPPROTO_ICMP : SL_IPPROTO_ICMPV6,
                              len, &l4, &err);
    if (p == NULL)
        return;
    sl_icmp_hdr rep = *req;
    rep.type = family == 4 ? 0 : 129;
    rep.code = 0;
    size_t w = 0;
    if (family == 4) {
        (void)sl_icmp4_emit(&rep, l4, len, &w);
    } else {
        sl_pseudo ph = {6, dst, src};
        (void)sl_icmp6_emit(&rep, &ph, l4, len, &w);
    }
    sl_ip_queue(c, p);
    sl_count(c, SL_CNT_ICMP_ECHO_REPLIED);
}

/* Act on a parsed message: answer echo requests, hand errors to the
 * caller, count and ignore the rest (NDP included: a TUN device has no
 * link layer to resolve). */
static sl_icmp_result dispatch(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                               const sl_icmp_hdr *msg)
{
    switch (msg->kind) {
    case SL_ICMP_ECHO_REQUEST:
        echo_reply(c, family, src, dst, msg);
        return SL_ICMP_CONSUMED;
    case SL_ICMP_DEST_UNREACH:
    case SL_ICMP_TIME_EXCEEDED:
    case SL_ICMP_PARAM_PROBLEM:
    case SL_ICMP_PKT_TOO_BIG:
        sl_count(c, SL_CNT_ICMP_ERR_RX);
        return SL_ICMP_FOR_FLOW;
    case SL_ICMP_OTHER:
    case SL_ICMP_ECHO_REPLY:
    case SL_ICMP_NDP_RS:
    case SL_ICMP_NDP_RA:
    case SL_ICMP_NDP_NS:
    case SL_ICMP_NDP_NA:
    case SL_ICMP_NDP_REDIRECT:
        break;
    }
    sl_count(c, SL_CNT_ICMP_IGNORED);
    return SL_ICMP_CONSUMED;
}

sl_error sl_icmp4_input(sl_ctx *c, const sl_ipv4_hdr *ip, sl_icmp_hdr *msg, sl_icmp_result *res)
{
    *res = SL_ICMP_CONSUMED;
    sl_count(c, SL_CNT_ICMP_RX);
    unsigned flags = sl_rx_csum_trusted(c) ? SL_PARSE_NO_CSUM : 0u;
    sl_error e = sl_icmp4_parse(ip->payload, ip->payload_len, flags, msg);
    if (e == SL_OK)
        *res = dispatch(c, 4, ip->src, ip->dst, msg);
    return e;
}

sl_error sl_icmp6_input(sl_ctx *c, const sl_ipv6_hdr *ip, sl_icmp_hdr *msg, sl_icmp_result *res)
{
    *res = SL_ICMP_CONSUMED;
    sl_count(c, SL_CNT_ICMP_RX);
    sl_pseudo ph = {6, ip->src, ip->dst};
    bool verify = !sl_rx_csum_trusted(c);
    sl_error e = sl_icmp6_parse(ip->payload, ip->payload_len, verify ? &ph : NULL, msg);
    if (e == SL_OK)
        *res = dispatch(c, 6, ip->src, ip->dst, msg);
    return e;
}

static void send_error(sl_ctx *c, uint8_t family, const uint8_t *from, const uint8_t *to,
                       const uint8_t *orig, size_t qlen, uint8_t type, uint8_t code, uint32_t rest)
{
    if (!take_token(c))
        return;
    sl_icmp_hdr m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.code = code;
    m.rest = rest;
    m.body = orig;
    m.body_len = qlen;
    uint8_t *l4 = NULL;
    sl_error err;
    size_t len = sl_icmp_emit_len(&m);
    sl_txpkt *p = sl_ip_alloc(c, family, from, to, family == 4 ? SL_IPPROTO_ICMP : SL_IPPROTO_ICMPV6,
                              len, &l4, &err);
    if (p == NULL)
        return;
    size_t w = 0;
    if (family == 4) {
        (void)sl_icmp4_emit(&m, l4, len, &w);
    } else {
        sl_pseudo ph = {6, from, to};
        (void)sl_icmp6_emit(&m, &ph, l4, len, &w);
    }
    sl_ip_queue(c, p);
    sl_count(c, SL_CNT_ICMP_ERR_TX);
}

void sl_icmp4_error(sl_ctx *c, const uint8_t *orig, size_t len, const sl_ipv4_hdr *oh,
                    uint8_t type, uint8_t code, uint32_t rest)
{
    /* RFC 1122 §3.2.2: never about an ICMP error, a non-first fragment, a
     * broadcast/multicast destination, or a source that is not unicast. */
    if (oh->frag_off != 0 || sl_ip_is_multicast(4, oh->dst) || sl_ip_is_martian_src(4, oh->src))
        return;
    if (oh->proto == SL_IPPROTO_ICMP && oh->payload_len > 0) {
        uint8_t t = oh->payload[0];
        if (t != 0 && t != 8 && t != 13 && t != 14 && t != 15 && t != 16 && t != 17 && t != 18)
            return;
    }
    size_t q = len < oh->total_len ? len : oh->total_len;
    if (q > QUOTE4_MAX)
        q = QUOTE4_MAX;
    send_error(c, 4, oh->dst, oh->src, orig, q, type, code, rest);
}

void sl_icmp6_error(sl_ctx *c, const uint8_t *orig, size_t len, const sl_ipv6_hdr *oh,
                    uint8_t type, uint8_t code, uint32_t rest)
{
    /* RFC 4443 §2.4(e).  Its exceptions for multicast destinations (Packet
     * Too Big, Parameter Problem code 2) need a unicast source address of
     * our own, which an any-address stack does not have: never answer a
     * multicast destination. */
    if ((oh->is_fragment && oh->frag_off != 0) || sl_ip_is_martian_src(6, oh->src) ||
        sl_ip_is_multicast(6, oh->dst))
        return;
    /* (A first fragment carries the ICMPv6 type too: a reassembly timeout
     * quotes one.) */
    if (oh->proto == SL_IPPROTO_ICMPV6 && oh->payload_len > 0 && oh->payload[0] < 128)
        return;
    size_t total = SL_IPV6_HDR_LEN + (size_t)oh->plen;
    size_t q = len < total ? len : total;
    if (q > QUOTE6_MAX)
        q = QUOTE6_MAX;
    send_error(c, 6, oh->dst, oh->src, orig, q, type, code, rest);
}

sl_error sl_icmp_flow_error(uint8_t family, const sl_icmp_hdr *msg)
{
    switch (msg->kind) {
    case SL_ICMP_PKT_TOO_BIG:
        return SL_ERR_MSGSIZE;
    case SL_ICMP_TIME_EXCEEDED:
        return SL_ERR_TIMEDOUT;
    case SL_ICMP_DEST_UNREACH:
        if (family == 4 && msg->code == 4)
            return SL_ERR_MSGSIZE; /* fragmentation needed */
        if ((family == 4 && msg->code == 3) || (family == 6 && msg->code == 4))
            return SL_ERR_REFUSED; /* port unreachable */
        return SL_ERR_UNREACH;
    case SL_ICMP_PARAM_PROBLEM:
    case SL_ICMP_OTHER:
    case SL_ICMP_ECHO_REQUEST:
    case SL_ICMP_ECHO_REPLY:
    case SL_ICMP_NDP_RS:
    case SL_ICMP_NDP_RA:
    case SL_ICMP_NDP_NS:
    case SL_ICMP_NDP_NA:
    case SL_ICMP_NDP_REDIRECT:
        break;
    }
    return SL_ERR_UNREACH;
}
