/*
 * IP layer: address classes, packet construction, transmission with
 * fragmentation (IPv4: RFC 791 §3.2 "Fragmentation"; IPv6: RFC 8200 §4.5,
 * fragments carry a Fragment header, identification per RFC 7739 taken
 * from a keyed hash so it is not predictable).
 */
#include "ip/ip.h"

#include <string.h>

#include "core/siphash.h"

static bool all_zero(const uint8_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != 0)
            return false;
    }
    return true;
}

bool sl_ip_is_multicast(uint8_t family, const uint8_t *a)
{
    if (family == 4)
        return (a[0] & 0xf0u) == 0xe0u || (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
    return a[0] == 0xff;
}

bool sl_ip_is_martian_src(uint8_t family, const uint8_t *src)
{
    if (sl_ip_is_multicast(family, src))
        return true;
    if (family == 4)
        return src[0] == 0 || src[0] == 127;
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return all_zero(src, 16) || memcmp(src, loop6, 16) == 0;
}

static bool is_loopback(uint8_t family, const uint8_t *a)
{
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return family == 4 ? a[0] == 127 : memcmp(a, loop6, 16) == 0;
}

bool sl_ip_is_martian_cfg(const sl_ctx *c, uint8_t family, const uint8_t *a)
{
    if (c->cfg.allow_loopback && is_loopback(family, a))
        return false;
    return sl_ip_is_martian_src(family, a);
}

static bool prefix_match(const sl_prefix *p, uint8_t family, const uint8_t *a)
{
    if (p->addr.family != family)
        return false;
    unsigned bits = p->len;
    unsigned full = bits / 8;
    if (memcmp(p->addr.b, a, full) != 0)
        return false;
    unsigned rem = bits % 8;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rem));
    return (p->addr.b[full] & mask) == (a[full] & mask);
}

bool sl_ip_is_local(const sl_ctx *c, uint8_t family, const uint8_t *dst)
{
    /* Never multicast, broadcast, unspecified or loopback: none of them
     * may be the source of an answer (RFC 1122 §3.2.1.3, RFC 4291). */
    if (sl_ip_is_martian_cfg(c, family, dst))
        return false;
    if (c->cfg.any_ip)
        return true;
    for (size_t i = 0; i < c->cfg.n_local_prefixes; i++) {
        if (prefix_match(&c->prefixes[i], family, dst))
            return true;
    }
    return false;
}

static uint32_t next_id(sl_ctx *c)
{
    uint32_t seq = c->ipid_seq++;
    uint8_t in[4];
    sl_store32(in, seq);
    return (uint32_t)sl_siphash24(c->key_ipid, in, sizeof in);
}

/* Write an IP header for l4len bytes of `proto` at buf. */
static void write_header(sl_ctx *c, uint8_t *buf, uint8_t family, const uint8_t *src,
                         const uint8_t *dst, uint8_t proto, size_t l4len)
{
    size_t w = 0;
    if (family == 4) {
        sl_ipv4_hdr h;
        memset(&h, 0, sizeof h);
        h.id = (uint16_t)next_id(c);
        h.ttl = c->cfg.ttl;
        h.proto = proto;
        memcpy(h.src, src, 4);
        memcpy(h.dst, dst, 4);
        h.payload_len = l4len;
        (void)sl_ipv4_emit(&h, buf, SL_IPV4_HDR_MIN + l4len, &w);
    } else if (SL_FEATURE_IPV6) {
        sl_ipv6_hdr h;
        memset(&h, 0, sizeof h);
        h.next_header = proto;
        h.hop_limit = c->cfg.ttl;
        memcpy(h.src, src, 16);
        memcpy(h.dst, dst, 16);
        h.payload_len = l4len;
        (void)sl_ipv6_emit(&h, buf, SL_IPV6_HDR_LEN + l4len, &w);
    }
}

sl_txpkt *sl_ip_alloc(sl_ctx *c, uint8_t family, const uint8_t *src, const uint8_t *dst,
                      uint8_t proto, size_t l4len, uint8_t **l4, sl_error *err)
{
    size_t hlen = family == 4 ? SL_IPV4_HDR_MIN : SL_IPV6_HDR_LEN;
    if (l4len > 65535u - (family == 4 ? hlen : 0)) {
        *err = SL_ERR_MSGSIZE;
        return NULL;
    }
    /* Larger than the whole tx queue: it can never be queued, so "try
     * again" would loop forever. */
    if (hlen + l4len > c->txq.max_bytes) {
        *err = SL_ERR_MSGSIZE;
        sl_count(c, SL_CNT_TX_QUEUE_FULL);
        return NULL;
    }
    sl_txpkt *p = sl_txq_alloc(&c->txq, &c->mem, hlen + l4len, err);
    if (p == NULL) {
        sl_count(c, *err == SL_ERR_NOMEM ? SL_CNT_MEM_FAIL : SL_CNT_TX_QUEUE_FULL);
        return NULL;
    }
    write_header(c, p->data, family, src, dst, proto, l4len);
    *l4 = p->data + hlen;
    return p;
}

void sl_ip_queue(sl_ctx *c, sl_txpkt *p)
{
    sl_txq_commit(&c->txq, p);
}

/* A buffer for `len` bytes: the device's, or the stack's scratch. */
static uint8_t *out_buffer(sl_ctx *c, size_t len)
{
    if (c->cfg.tx.get_buffer == NULL)
        return c->tx_scratch;
    uint8_t *b = c->cfg.tx.get_buffer(c->cfg.tx.ctx, len);
    if (b == NULL)
        sl_count(c, SL_CNT_TX_DEVICE_FULL);
    return b;
}

static void sent(sl_ctx *c, uint8_t *buf, size_t len)
{
    c->cfg.tx.send(c->cfg.tx.ctx, buf, len);
    sl_count(c, SL_CNT_IP_TX);
    c->cnt[SL_CNT_IP_TX_BYTES] += len;
}

/* Send the next fragments of an IPv4 packet from p->sent on.  Our own
 * packets carry no options, so every fragment copies the 20-byte header. */
static bool frag4(sl_ctx *c, sl_txpkt *p)
{
    const uint8_t *pkt = p->data;
    size_t hlen = (size_t)(pkt[0] & 0x0f) * 4;
    size_t data_len = p->len - hlen;
    size_t chunk_max = (c->cfg.mtu - hlen) & ~(size_t)7;
    while (p->sent < data_len) {
        size_t chunk = data_len - p->sent;
        bool more = false;
        if (chunk > chunk_max) {
            chunk = chunk_max;
            more = true;
        }
        uint8_t *b = out_buffer(c, hlen + chunk);
        if (b == NULL)
            return false;
        memcpy(b, pkt, hlen);
        memcpy(b + hlen, pkt + hlen + p->sent, chunk);
        sl_store16(b + 2, (uint16_t)(hlen + chunk));
        /* Our packets never set DF when they can exceed the MTU. */
        uint16_t ff = (uint16_t)((more ? 0x2000u : 0u) | (p->sent / 8));
        sl_store16(b + 6, ff);
        sl_store16(b + 10, 0);
        sl_store16(b + 10, sl_csum(b, hlen));
        sent(c, b, hlen + chunk);
        sl_count(c, SL_CNT_IP_FRAGS_TX);
        p->sent += chunk;
    }
    return true;
}

/* IPv6: the unfragmentable part is our 40-byte header; each fragment is
 * header + Fragment header + data (RFC 8200 §4.5). */
static bool frag6(sl_ctx *c, sl_txpkt *p)
{
    const uint8_t *pkt = p->data;
    const size_t hlen = SL_IPV6_HDR_LEN;
    size_t data_len = p->len - hlen;
    size_t chunk_max = (c->cfg.mtu - hlen - 8) & ~(size_t)7;
    if (p->sent == 0)
        p->frag_id = next_id(c);
    while (p->sent < data_len) {
        size_t chunk = data_len - p->sent;
        bool more = false;
        if (chunk > chunk_max) {
            chunk = chunk_max;
            more = true;
        }
        uint8_t *b = out_buffer(c, hlen + 8 + chunk);
        if (b == NULL)
            return false;
        memcpy(b, pkt, hlen);
        sl_store16(b + 4, (uint16_t)(8 + chunk));
        b[6] = SL_IPPROTO_FRAGMENT;
        b[hlen] = pkt[6];
        b[hlen + 1] = 0;
        sl_store16(b + hlen + 2, (uint16_t)(p->sent | (more ? 1u : 0u)));
        sl_store32(b + hlen + 4, p->frag_id);
        memcpy(b + hlen + 8, pkt + hlen + p->sent, chunk);
        sent(c, b, hlen + 8 + chunk);
        sl_count(c, SL_CNT_IP_FRAGS_TX);
        p->sent += chunk;
    }
    return true;
}

uint8_t *sl_ip_direct_begin(sl_ctx *c, size_t len)
{
    return out_buffer(c, len);
}

void sl_ip_direct_send(sl_ctx *c, uint8_t *buf, uint8_t family, const uint8_t *src,
                       const uint8_t *dst, uint8_t proto, size_t l4len)
{
    write_header(c, buf, family, src, dst, proto, l4len);
    sent(c, buf, sl_ip_hdr_len(family) + l4len);
}

void sl_ip_direct_send_tso(sl_ctx *c, uint8_t *buf, uint8_t family, const uint8_t *src,
                           const uint8_t *dst, size_t l4len, uint16_t seg)
{
    write_header(c, buf, family, src, dst, SL_IPPROTO_TCP, l4len);
    size_t len = sl_ip_hdr_len(family) + l4len;
    c->cfg.tx.send_tso(c->cfg.tx.ctx, buf, len, seg);
    sl_count(c, SL_CNT_IP_TX);
    sl_count(c, SL_CNT_TCP_TSO_TX);
    c->cnt[SL_CNT_IP_TX_BYTES] += len;
}

bool sl_ip_flush(sl_ctx *c)
{
    while (c->txq.head != NULL) {
        sl_txpkt *p = c->txq.head;
        if (p->len <= c->cfg.mtu) {
            uint8_t *b;
            if (c->cfg.tx.get_buffer == NULL) {
                b = p->data; /* hand over our own copy: no extra copy */
            } else {
                b = out_buffer(c, p->len);
                if (b == NULL)
                    return false;
                memcpy(b, p->data, p->len);
            }
            sent(c, b, p->len);
        } else {
            bool done = !SL_FEATURE_IPV6 || (p->data[0] >> 4) == 4 ? frag4(c, p) : frag6(c, p);
            if (!done)
                return false;
        }
        sl_txq_pop(&c->txq, &c->mem);
    }
    return true;
}
