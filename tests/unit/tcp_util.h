/*
 * TCP helpers for the whole-stack suites (header-only, no libcheck): build
 * IP+TCP segments with correct checksums, decode what the stack sent, and
 * build ICMP errors quoting a packet the stack sent.  Uses stack_util.h.
 *
 *   tu_seg      a segment description (endpoints, seq, ack, flags, window,
 *               options, payload) — the "peer" side of a test.
 *   tu_build    tu_seg -> IP packet bytes (v4 or v6 by the endpoints).
 *   tu_parse    IP packet bytes -> tu_seg, verifying the IP and TCP
 *               checksums; SL_ERR_INVAL when it is not an unfragmented
 *               TCP segment.
 *   tu_icmp_err an ICMPv4/ICMPv6 error from `router` to the original
 *               packet's source quoting its first `qlen` bytes.
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#ifndef SL_TCP_UTIL_H
#define SL_TCP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack_util.h"

typedef struct tu_seg {
    sl_endpoint src, dst;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    sl_tcp_opts o;
    const uint8_t *payload;
    size_t len;
} tu_seg;

/* A segment src -> dst with no options and no payload. */
static inline tu_seg tu_seg_make(const sl_endpoint *src, const sl_endpoint *dst, uint32_t seq,
                                 uint32_t ack, uint8_t flags, uint16_t window)
{
    tu_seg s;
    memset(&s, 0, sizeof s);
    s.src = *src;
    s.dst = *dst;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.window = window;
    return s;
}

/* Build the IP packet carrying `s` (IPv4 ID = low bits of seq, TTL 64).
 * Returns its length, 0 on error. */
static inline size_t tu_build(uint8_t *buf, size_t cap, const tu_seg *s)
{
    if (s->src.addr.family != s->dst.addr.family)
        return 0;
    size_t iphl = s->src.addr.family == 4 ? 20u : 40u;
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = s->src.port;
    h.dport = s->dst.port;
    h.seq = s->seq;
    h.ack = s->ack;
    h.flags = s->flags;
    h.window = s->window;
    h.o = s->o;
    h.payload = s->payload;
    h.payload_len = s->len;
    size_t l4 = sl_tcp_emit_len(&h);
    if (l4 == 0 || cap < iphl || l4 > cap - iphl)
        return 0;
    sl_pseudo ph = {s->src.addr.family, s->src.addr.b, s->dst.addr.b};
    size_t w = 0;
    if (sl_tcp_emit(&h, &ph, buf + iphl, cap - iphl, &w) != SL_OK)
        return 0;
    if (s->src.addr.family == 4)
        return su_ip4(buf, cap, s->src.addr.b, s->dst.addr.b, SL_IPPROTO_TCP, NULL, w,
                      (uint16_t)s->seq, 64);
    return su_ip6(buf, cap, s->src.addr.b, s->dst.addr.b, SL_IPPROTO_TCP, NULL, w, 64);
}

/* Decode an IP+TCP packet, verifying every checksum. */
static inline sl_error tu_parse(const uint8_t *p, size_t len, tu_seg *out)
{
    memset(out, 0, sizeof *out);
    su_ip_pkt ip;
    sl_error e = su_parse_ip(p, len, &ip);
    if (e != SL_OK)
        return e;
    if (ip.proto != SL_IPPROTO_TCP || ip.is_fragment)
        return SL_ERR_INVAL;
    sl_pseudo ph = {ip.family, ip.src.b, ip.dst.b};
    sl_tcp_hdr h;
    e = sl_tcp_parse(ip.l4, ip.l4_len, &ph, &h);
    if (e != SL_OK)
        return e;
    out->src.addr = ip.src;
    out->src.port = h.sport;
    out->dst.addr = ip.dst;
    out->dst.port = h.dport;
    out->seq = h.seq;
    out->ack = h.ack;
    out->flags = h.flags;
    out->window = h.window;
    out->o = h.o;
    out->payload = h.payload;
    out->len = h.payload_len;
    return SL_OK;
}

/* ICMP error (v4: type/code/rest as given, e.g. 3/4 with rest = mtu;
 * v6: type/code/rest, e.g. 2/0 with rest = mtu, or 1/4) from `router`
 * to the source of `orig`, quoting orig[0 .. qlen-1].  Returns the packet
 * length, 0 on error. */
static inline size_t tu_icmp_err(uint8_t *buf, size_t cap, const sl_addr *router,
                                 const uint8_t *orig, size_t olen, size_t qlen, uint8_t type,
                                 uint8_t code, uint32_t rest)
{
    su_ip_pkt ip;
    if (su_parse_ip(orig, olen, &ip) != SL_OK)
        return 0;
    if (qlen > olen)
        qlen = olen;
    sl_icmp_hdr m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.code = code;
    m.rest = rest;
    m.body = orig;
    m.body_len = qlen;
    size_t iphl = ip.family == 4 ? 20u : 40u;
    size_t w = 0;
    if (cap < iphl)
        return 0;
    if (ip.family == 4) {
        if (sl_icmp4_emit(&m, buf + iphl, cap - iphl, &w) != SL_OK)
            return 0;
        return su_ip4(buf, cap, router->b, ip.src.b, SL_IPPROTO_ICMP, NULL, w, 77, 64);
    }
    sl_pseudo ph = {6, router->b, ip.src.b};
    if (sl_icmp6_emit(&m, &ph, buf + iphl, cap - iphl, &w) != SL_OK)
        return 0;
    return su_ip6(buf, cap, router->b, ip.src.b, SL_IPPROTO_ICMPV6, NULL, w, 64);
}

/* "SA", "FA", "R", "RA", "PA" ... for messages. */
static inline const char *tu_flags_str(uint8_t f, char *buf)
{
    static const char names[] = "FSRPAUEC";
    size_t n = 0;
    for (unsigned i = 0; i < 8; i++)
        if ((f & (1u << i)) != 0)
            buf[n++] = names[i];
    if (n == 0)
        buf[n++] = '-';
    buf[n] = 0;
    return buf;
}

#endif
