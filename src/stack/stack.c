/*
 * The public face: creation, sl_input (dispatch of each packet to its
 * protocol, as smoltcp's iface does), sl_poll, events and counters.
 */
#include <string.h>

#include "core/ctx.h"
#include "core/features.h"
#include "core/siphash.h"
#include "icmp/icmp.h"
#include "ip/ip.h"
#include "ip/reasm.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

struct sl_stack {
    sl_ctx c;             /* first: see sl_ctx_of()                      */
    sl_reasm reasm;
    uint8_t *reasm_buf;   /* SL_REASM_OUT_MAX bytes                      */
};

#define S_MS ((sl_time)1000u)
#define S_SEC ((sl_time)1000000u)

void sl_config_init(sl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->any_ip = true;
    cfg->mtu = 1500;
    cfg->ttl = 64;
    cfg->mem_limit = (size_t)64 << 20;
    cfg->max_flows = 4096;
    cfg->udp_rx_queue = 64;
    cfg->udp_rx_bytes = (size_t)256 << 10;
    cfg->udp_idle_timeout = (sl_time)60 * S_SEC;
    cfg->tx_queue = 1024;
    cfg->tx_queue_bytes = (size_t)4 << 20;
    cfg->reasm_datagrams = 64;
    cfg->reasm_bytes = (size_t)1 << 20;
    cfg->reasm_frags = 64;
    cfg->reasm_timeout = (sl_time)30 * S_SEC;
    cfg->max_streams = 4096;
    cfg->tcp_backlog = 256;
    cfg->syn_cookies = SL_FEATURE_SYN_COOKIES;
    cfg->tcp_rcvbuf = 65536;
    cfg->tcp_sndbuf = 65536;
    cfg->tcp_rto_min = 200 * S_MS;
    cfg->tcp_rto_max = (sl_time)60 * S_SEC;
    cfg->tcp_rto_initial = 1 * S_SEC;
    cfg->tcp_max_retries = 12;
    cfg->tcp_syn_retries = 5;
    cfg->tcp_delack = 40 * S_MS;
    cfg->tcp_time_wait = (sl_time)60 * S_SEC;
    cfg->tcp_fin_wait2 = (sl_time)60 * S_SEC;
    cfg->tcp_keepalive_idle = 0;
    cfg->tcp_keepalive_intvl = (sl_time)75 * S_SEC;
    cfg->tcp_keepalive_probes = 9;
    cfg->tcp_ephemeral_lo = 49152;
    cfg->tcp_ephemeral_hi = 65535;
    cfg->icmp_echo = true;
    cfg->icmp_rate = 100;
    cfg->icmp_burst = 50;
}

static bool config_ok(const sl_config *cfg)
{
    if (cfg->secret == NULL || cfg->secret_len < 16 || cfg->tx.send == NULL)
        return false;
    if (cfg->mtu < 576 || cfg->ttl == 0 || cfg->max_flows == 0 || cfg->max_flows > (1u << 24))
        return false;
    if (cfg->n_local_prefixes > SL_MAX_PREFIXES ||
        (cfg->n_local_prefixes > 0 && cfg->local_prefixes == NULL))
        return false;
    for (size_t i = 0; i < cfg->n_local_prefixes; i++) {
        const sl_prefix *p = &cfg->local_prefixes[i];
        if ((p->addr.family != 4 && !SL_IS_V6(p->addr.family)) ||
            p->len > (p->addr.family == 4 ? 32 : 128))
            return false;
    }
    if (cfg->max_streams > (1u << 24) || cfg->tcp_rcvbuf < 1024 || cfg->tcp_sndbuf < 1024 ||
        cfg->tcp_rcvbuf > (1u << 30) || cfg->tcp_sndbuf > (1u << 30) ||
        cfg->tcp_ephemeral_lo == 0 || cfg->tcp_ephemeral_lo > cfg->tcp_ephemeral_hi ||
        cfg->tcp_rto_min == 0 || cfg->tcp_rto_min > cfg->tcp_rto_max ||
        cfg->tcp_rto_max > (sl_time)3600 * S_SEC || cfg->tcp_rto_initial < cfg->tcp_rto_min ||
        cfg->tcp_rto_initial > cfg->tcp_rto_max)
        return false;
    if (cfg->tso_max != 0 &&
        (cfg->tso_max <= cfg->mtu || cfg->tso_max > 65535u || cfg->tx.send_tso == NULL))
        return false;
    if (!SL_FEATURE_SYN_COOKIES && cfg->syn_cookies)
        return false; /* asked for a feature this build left out */
    return cfg->tx_queue > 0 && cfg->reasm_frags > 0 && cfg->udp_rx_queue > 0;
}

unsigned sl_features(void)
{
    return (SL_FEATURE_IPV6 ? SL_FEAT_IPV6 : 0u) | (SL_FEATURE_REASM ? SL_FEAT_REASM : 0u) |
           (SL_FEATURE_SACK ? SL_FEAT_SACK : 0u) |
           (SL_FEATURE_TIMESTAMPS ? SL_FEAT_TIMESTAMPS : 0u) |
           (SL_FEATURE_SYN_COOKIES ? SL_FEAT_SYN_COOKIES : 0u) |
           (SL_FEATURE_ERROR_TEXT ? SL_FEAT_ERROR_TEXT : 0u);
}

/* Keys for each use, derived from the caller's secret: two SipHashes of
 * the secret under fixed keys give a 128-bit master key; each use's key is
 * two SipHashes of its label under the master key. */
static void hash128(const uint8_t key[16], const void *data, size_t len, uint8_t out[16])
{
    uint8_t k2[16];
    memcpy(k2, key, 16);
    k2[0] ^= 0x5a; /* a second, independent function for the high half */
    uint64_t a = sl_siphash24(key, data, len);
    uint64_t b = sl_siphash24(k2, data, len);
    for (unsigned i = 0; i < 8; i++) {
        out[i] = (uint8_t)(a >> (8 * i));
        out[8 + i] = (uint8_t)(b >> (8 * i));
    }
}

static void derive(const sl_config *cfg, const char *label, uint8_t out[16])
{
    static const uint8_t fixed[16] = {'s', 'l', 'u', 'i', 'c', 'e', '-', 'k',
                                      'e', 'y', '-', 'd', 'e', 'r', 'i', 'v'};
    uint8_t master[16];
    hash128(fixed, cfg->secret, cfg->secret_len, master);
    hash128(master, label, strlen(label), out);
}

sl_stack *sl_stack_new(const sl_config *cfg, const sl_allocator *mem, sl_error *err)
{
    sl_error dummy;
    if (err == NULL)
        err = &dummy;
    if (cfg == NULL || mem == NULL || mem->alloc == NULL || mem->free == NULL || !config_ok(cfg)) {
        *err = SL_ERR_INVAL;
        return NULL;
    }
    sl_mem m;
    sl_mem_init(&m, mem, cfg->mem_limit);
    sl_stack *s = sl_mem_alloc(&m, sizeof *s);
    if (s == NULL) {
        *err = SL_ERR_NOMEM;
        return NULL;
    }
    sl_ctx *c = &s->c;
    c->mem = m;
    c->cfg = *cfg;
    memcpy(c->prefixes, cfg->local_prefixes == NULL ? c->prefixes : cfg->local_prefixes,
           cfg->n_local_prefixes * sizeof(sl_prefix));
    c->cfg.local_prefixes = NULL;
    c->cfg.secret = NULL;
    derive(cfg, "flow", c->key_flow);
    derive(cfg, "ipid", c->key_ipid);
    derive(cfg, "tcp-isn", c->key_isn);
    derive(cfg, "tcp-cookie", c->key_cookie);
    derive(cfg, "tcp-port", c->key_port);
    c->icmp_tokens = (uint64_t)cfg->icmp_burst * 1000000u;
    sl_wheel_init(&c->wheel, 0);
    sl_txq_init(&c->txq, cfg->tx_queue, cfg->tx_queue_bytes);
    sl_reasm_limits lim = {cfg->reasm_datagrams, cfg->reasm_bytes, cfg->reasm_frags,
                           cfg->reasm_timeout};
    if (SL_FEATURE_REASM)
        sl_reasm_init(&s->reasm, &c->mem, &lim);
    *err = sl_flowtab_init(&c->flows, &c->mem, cfg->max_flows + cfg->max_streams, c->key_flow);
    if (*err == SL_OK)
        *err = sl_handles_init(&c->handles, &c->mem, cfg->max_flows + cfg->max_streams);
    if (*err == SL_OK) {
        c->tx_scratch = sl_mem_alloc(&c->mem, sl_tx_max(c));
        if (SL_FEATURE_REASM)
            s->reasm_buf = sl_mem_alloc(&c->mem, SL_REASM_OUT_MAX);
        if (c->tx_scratch == NULL || (SL_FEATURE_REASM && s->reasm_buf == NULL))
            *err = SL_ERR_NOMEM;
    }
    if (*err != SL_OK) {
        sl_stack_free(s);
        return NULL;
    }
    return s;
}

void sl_stack_free(sl_stack *s)
{
    if (s == NULL)
        return;
    sl_ctx *c = &s->c;
    sl_udp_fini(c);
    sl_tcp_fini(c);
    if (SL_FEATURE_REASM)
        sl_reasm_fini(&s->reasm);
    sl_txq_fini(&c->txq, &c->mem);
    if (c->handles.slots != NULL)
        sl_handles_fini(&c->handles, &c->mem);
    if (c->flows.buckets != NULL)
        sl_flowtab_fini(&c->flows, &c->mem);
    sl_mem_free(&c->mem, c->tx_scratch, sl_tx_max(c));
    sl_mem_free(&c->mem, s->reasm_buf, SL_REASM_OUT_MAX);
    sl_mem_cache_flush(&c->mem);
    sl_mem m = c->mem;
    sl_mem_free(&m, s, sizeof *s);
}

/* ---------------------------------------------------------------------- */
/* Input                                                                  */
/* ---------------------------------------------------------------------- */

static sl_error drop_parse(sl_ctx *c, sl_error e)
{
    sl_count(c, SL_CNT_IP_DROP_PARSE);
    sl_count_parse(c, e);
    return e;
}

/* RFC 8200 §4.5, RFC 7112 §5: the first fragment of a datagram must hold
 * the whole header chain, the upper-layer header included.  h is a
 * non-atomic fragment at offset 0: the walk starts at the header after
 * its Fragment header. */
static bool v6_first_frag_complete(const sl_ipv6_hdr *h)
{
    uint8_t nh = h->proto;
    const uint8_t *p = h->payload;
    size_t n = h->payload_len;
    for (unsigned i = 0; i < 16; i++) {
        size_t hl;
        switch (nh) {
        case 0:   /* Hop-by-Hop (misplaced; the reassembled walk rejects it) */
        case 43:  /* Routing */
        case 60:  /* Destination Options */
        case 135: /* Mobility */
        case 139: /* HIP */
        case 140: /* Shim6 */
            if (n < 2)
                return false;
            hl = ((size_t)p[1] + 1u) * 8u;
            break;
        case 51: /* AH, RFC 4302 §2.2: length in 4-byte units, minus 2 */
            if (n < 2)
                return false;
            hl = ((size_t)p[1] + 2u) * 4u;
            break;
        case SL_IPPROTO_TCP:
            return n >= 20 && n >= (size_t)(p[12] >> 4) * 4u;
        case SL_IPPROTO_UDP:
        case SL_IPPROTO_ICMPV6: /* type, code, checksum and 4 more bytes */
            return n >= 8;
        default:
            return true; /* ESP, No Next Header, unknown: nothing to ask */
        }
        if (n < hl)
            return false;
        nh = p[0];
        p += hl;
        n -= hl;
    }
    return true; /* a chain this long is refused after reassembly */
}

/* A packet that needs a feature this build left out (core/features.h). */
static sl_error unsupported(sl_ctx *c)
{
    sl_count(c, SL_CNT_IP_DROP_UNSUPPORTED);
    return SL_ERR_UNSUPPORTED;
}

static sl_error reasm_drop(sl_ctx *c, sl_error e)
{
    if (e == SL_ERR_NOMEM)
        sl_count(c, SL_CNT_MEM_FAIL);
    sl_count(c, SL_CNT_IP_REASM_DROP);
    return e;
}

static void icmp_for_flow(sl_ctx *c, uint8_t family, const sl_icmp_hdr *m)
{
    if (m->quote.proto == SL_IPPROTO_UDP) {
        sl_udp_icmp_error(c, &m->quote, sl_icmp_flow_error(family, m), m->mtu);
        return;
    }
    if (m->quote.proto == SL_IPPROTO_TCP) {
        sl_tcp_icmp_error(c, family, m);
        return;
    }
    sl_count(c, SL_CNT_ICMP_ERR_NO_FLOW);
}

static sl_error input4(sl_stack *s, const uint8_t *pkt, size_t len)
{
    sl_ctx *c = &s->c;
    unsigned flags = sl_rx_csum_trusted(c) ? SL_PARSE_NO_CSUM : 0u;
    sl_ipv4_hdr h;
    sl_error e = sl_ipv4_parse(pkt, len, flags, &h);
    if (e != SL_OK)
        return drop_parse(c, e);
    if (sl_ip_is_martian_cfg(c, 4, h.src)) {
        sl_count(c, SL_CNT_IP_DROP_MARTIAN);
        return SL_OK;
    }
    if (!sl_ip_is_local(c, 4, h.dst)) {
        sl_count(c, SL_CNT_IP_DROP_NOT_LOCAL);
        return SL_OK;
    }
    if (h.opt_source_route) { /* RFC 7126 §4.3, §4.4 */
        sl_count(c, SL_CNT_IP_DROP_SOURCE_ROUTE);
        return SL_OK;
    }
    if (h.mf || h.frag_off != 0) {
        sl_count(c, SL_CNT_IP_FRAGS_RX);
        if (!SL_FEATURE_REASM)
            return unsupported(c);
        size_t out_len = 0;
        e = sl_reasm_input4(&s->reasm, pkt, &h, c->now, s->reasm_buf, SL_REASM_OUT_MAX, &out_len);
        if (e == SL_ERR_AGAIN)
            return SL_OK;
        if (e != SL_OK)
            return reasm_drop(c, e);
        sl_count(c, SL_CNT_IP_REASM_OK);
        pkt = s->reasm_buf;
        len = out_len;
        e = sl_ipv4_parse(pkt, len, SL_PARSE_NO_CSUM, &h);
        if (e != SL_OK)
            return drop_parse(c, e);
    }
    switch (h.proto) {
    case SL_IPPROTO_UDP: {
        sl_udp_result r;
        e = sl_udp_input(c, 4, h.src, h.dst, h.payload, h.payload_len, &r);
        if (e != SL_OK)
            return drop_parse(c, e);
        if (r == SL_UDP_REFUSED) /* RFC 1122 §4.1.3.1: port unreachable */
            sl_icmp4_error(c, pkt, len, &h, 3, 3, 0);
        return SL_OK;
    }
    case SL_IPPROTO_ICMP: {
        sl_icmp_hdr m;
        sl_icmp_result r;
        e = sl_icmp4_input(c, &h, &m, &r);
        if (e != SL_OK)
            return drop_parse(c, e);
        if (r == SL_ICMP_FOR_FLOW)
            icmp_for_flow(c, 4, &m);
        return SL_OK;
    }
    case SL_IPPROTO_TCP:
        e = sl_tcp_input(c, 4, h.src, h.dst, h.payload, h.payload_len);
        return e != SL_OK ? drop_parse(c, e) : SL_OK;
    default:
        /* RFC 1122 §3.2.2.1: protocol unreachable. */
        sl_count(c, SL_CNT_IP_DROP_PROTO);
        sl_icmp4_error(c, pkt, len, &h, 3, 2, 0);
        return SL_OK;
    }
}

/* Offset of the Routing header in a chain the parser validated. */
static size_t v6_routing_off(const uint8_t *pkt)
{
    uint8_t nh = pkt[6];
    size_t off = SL_IPV6_HDR_LEN;
    for (unsigned i = 0; i < SL_IPV6_MAX_EXT && nh != SL_IPPROTO_ROUTING; i++) {
        size_t hl = nh == SL_IPPROTO_FRAGMENT ? 8u : ((size_t)pkt[off + 1] + 1) * 8;
        nh = pkt[off];
        off += hl;
    }
    return off;
}

/* RFC 8200 §4.2 / §4.4: options with a discard action and routing headers
 * with segments left.  True when the packet was dropped. */
static bool v6_ext_drop(sl_ctx *c, const uint8_t *pkt, size_t len, const sl_ipv6_hdr *h)
{
    if (h->opt_action != 0) {
        /* 01 discard; 10 and 11 discard and send Parameter Problem code 2
         * (the destination is unicast: it is local). */
        sl_count(c, SL_CNT_IP_DROP_OPTION);
        if (h->opt_action >= 2)
            sl_icmp6_error(c, pkt, len, h, 4, 2, h->opt_ptr);
        return true;
    }
    if (h->has_routing && h->segments_left > 0) {
        /* We are an endpoint that never forwards and recognises no
         * routing type: Parameter Problem code 0 at the Routing Type. */
        sl_count(c, SL_CNT_IP_DROP_ROUTING);
        sl_icmp6_error(c, pkt, len, h, 4, 0, (uint32_t)(v6_routing_off(pkt) + 2));
        return true;
    }
    return false;
}

static sl_error input6(sl_stack *s, const uint8_t *pkt, size_t len)
{
    sl_ctx *c = &s->c;
    sl_ipv6_hdr h;
    sl_error e = sl_ipv6_parse(pkt, len, &h);
    if (e != SL_OK)
        return drop_parse(c, e);
    if (sl_ip_is_martian_cfg(c, 6, h.src)) {
        sl_count(c, SL_CNT_IP_DROP_MARTIAN);
        return SL_OK;
    }
    if (!sl_ip_is_local(c, 6, h.dst)) {
        sl_count(c, SL_CNT_IP_DROP_NOT_LOCAL);
        return SL_OK;
    }
    if (v6_ext_drop(c, pkt, len, &h))
        return SL_OK;
    if (h.is_fragment) {
        sl_count(c, SL_CNT_IP_FRAGS_RX);
        if (!SL_FEATURE_REASM)
            return unsupported(c);
        if (h.frag_off == 0 && !v6_first_frag_complete(&h)) {
            /* Parameter Problem code 3, pointer 0 (RFC 7112 §5). */
            sl_icmp6_error(c, pkt, len, &h, 4, 3, 0);
            return reasm_drop(c, SL_ERR_FRAG_CHAIN);
        }
        size_t out_len = 0;
        e = sl_reasm_input6(&s->reasm, pkt, &h, c->now, s->reasm_buf, SL_REASM_OUT_MAX, &out_len);
        if (e == SL_ERR_AGAIN)
            return SL_OK;
        if (e != SL_OK)
            return reasm_drop(c, e);
        sl_count(c, SL_CNT_IP_REASM_OK);
        pkt = s->reasm_buf;
        len = out_len;
        e = sl_ipv6_parse(pkt, len, &h);
        if (e != SL_OK)
            return drop_parse(c, e);
        /* A Fragment header inside the reassembled data (nested
         * fragmentation): what we hold is still not a whole datagram. */
        if (h.is_fragment)
            return reasm_drop(c, SL_ERR_FRAG_INCONSISTENT);
        /* Headers after the Fragment header are seen only now. */
        if (v6_ext_drop(c, pkt, len, &h))
            return SL_OK;
    }
    switch (h.proto) {
    case SL_IPPROTO_UDP: {
        sl_udp_result r;
        e = sl_udp_input(c, 6, h.src, h.dst, h.payload, h.payload_len, &r);
        if (e != SL_OK)
            return drop_parse(c, e);
        if (r == SL_UDP_REFUSED) /* RFC 4443 §3.1 code 4 */
            sl_icmp6_error(c, pkt, len, &h, 1, 4, 0);
        return SL_OK;
    }
    case SL_IPPROTO_ICMPV6: {
        sl_icmp_hdr m;
        sl_icmp_result r;
        e = sl_icmp6_input(c, &h, &m, &r);
        if (e != SL_OK)
            return drop_parse(c, e);
        if (r == SL_ICMP_FOR_FLOW)
            icmp_for_flow(c, 6, &m);
        return SL_OK;
    }
    case SL_IPPROTO_TCP:
        e = sl_tcp_input(c, 6, h.src, h.dst, h.payload, h.payload_len);
        return e != SL_OK ? drop_parse(c, e) : SL_OK;
    case SL_IPPROTO_NONE:
        return SL_OK; /* RFC 8200 §4.7: nothing follows */
    default:
        /* RFC 8200 §4: unrecognised Next Header, Parameter Problem code 1
         * pointing at the field. */
        sl_count(c, SL_CNT_IP_DROP_PROTO);
        sl_icmp6_error(c, pkt, len, &h, 4, 1, h.nh_off);
        return SL_OK;
    }
}

sl_error sl_input_ex(sl_stack *s, const uint8_t *pkt, size_t len, sl_time now, unsigned flags)
{
    if ((flags & ~(unsigned)SL_INPUT_CSUM_OK) != 0) {
        sl_count(&s->c, SL_CNT_IP_RX);
        return drop_parse(&s->c, SL_ERR_INVAL);
    }
    s->c.rx_csum_ok = (flags & SL_INPUT_CSUM_OK) != 0;
    sl_error e = sl_input(s, pkt, len, now);
    s->c.rx_csum_ok = false;
    return e;
}

sl_error sl_input(sl_stack *s, const uint8_t *pkt, size_t len, sl_time now)
{
    sl_ctx *c = &s->c;
    if (now > c->now)
        c->now = now;
    sl_count(c, SL_CNT_IP_RX);
    if (pkt == NULL || len == 0)
        return drop_parse(c, SL_ERR_TRUNCATED);
    switch (pkt[0] >> 4) {
    case 4:
        return input4(s, pkt, len);
    case 6:
        if (!SL_FEATURE_IPV6)
            return unsupported(c);
        return input6(s, pkt, len);
    default:
        return drop_parse(c, SL_ERR_IP_VERSION);
    }
}

/* ---------------------------------------------------------------------- */
/* Poll                                                                   */
/* ---------------------------------------------------------------------- */

static void reasm_timeouts(sl_stack *s)
{
    sl_ctx *c = &s->c;
    size_t n = 0;
    if (!SL_FEATURE_REASM)
        return;
    while (sl_reasm_expire(&s->reasm, c->now, s->reasm_buf, SL_REASM_OUT_MAX, &n) == SL_OK) {
        sl_count(c, SL_CNT_IP_REASM_TIMEOUT);
        if (n == 0)
            continue;
        /* RFC 792 / RFC 8200 §4.5: Time Exceeded, fragment reassembly time
         * exceeded, only when the first fragment arrived. */
        const uint8_t *p = s->reasm_buf;
        if ((p[0] >> 4) == 4) {
            sl_ipv4_hdr h;
            if (sl_ipv4_parse(p, n, SL_PARSE_NO_CSUM, &h) == SL_OK)
                sl_icmp4_error(c, p, n, &h, 11, 1, 0);
        } else if (SL_FEATURE_IPV6) {
            sl_ipv6_hdr h;
            if (sl_ipv6_parse(p, n, &h) == SL_OK)
                sl_icmp6_error(c, p, n, &h, 3, 1, 0);
        }
    }
}

sl_time sl_poll_at(const sl_stack *s)
{
    const sl_ctx *c = &s->c;
    if (c->txq.head != NULL || c->tcp_out_head != NULL)
        return c->now;
    sl_time t = sl_wheel_next(&c->wheel);
    if (!SL_FEATURE_REASM)
        return t;
    sl_time r = sl_reasm_next_expiry(&s->reasm);
    return r < t ? r : t;
}

sl_time sl_poll(sl_stack *s, sl_time now)
{
    sl_ctx *c = &s->c;
    if (now > c->now)
        c->now = now;
    sl_wheel_advance(&c->wheel, c->now);
    sl_timer *t;
    while ((t = sl_wheel_pop(&c->wheel)) != NULL) {
        switch (t->kind) {
        case SL_TK_UDP_IDLE:
            sl_udp_timer(c, t);
            break;
        case SL_TK_TCP:
            sl_tcp_timer(c, t);
            break;
        default:
            break;
        }
    }
    reasm_timeouts(s);
    if (sl_ip_flush(c)) {
        if (c->udp_waiters != NULL)
            sl_udp_tx_drained(c);
        (void)sl_tcp_flush(c);
    }
    return sl_poll_at(s);
}

/* ---------------------------------------------------------------------- */
/* Events and counters                                                    */
/* ---------------------------------------------------------------------- */

bool sl_next_event(sl_stack *s, sl_event *ev)
{
    unsigned type = 0;
    sl_hdl *h = sl_handle_next_event(&s->c.handles, &type);
    if (h == NULL)
        return false;
    memset(ev, 0, sizeof *ev);
    ev->type = (sl_event_type)type;
    ev->is_stream = h->type == SL_HDL_STREAM;
    if (ev->is_stream) {
        ev->stream.idx = h->idx;
        ev->stream.gen = h->gen;
    } else {
        ev->dgram.idx = h->idx;
        ev->dgram.gen = h->gen;
    }
    ev->user = h->user;
    ev->error = type == SL_EV_ERROR ? h->err : SL_OK;
    return true;
}

static const char *const counter_names[SL_CNT__COUNT] = {
    [SL_CNT_IP_RX] = "ip_rx",
    [SL_CNT_IP_DROP_PARSE] = "ip_drop_parse",
    [SL_CNT_IP_DROP_NOT_LOCAL] = "ip_drop_not_local",
    [SL_CNT_IP_DROP_MARTIAN] = "ip_drop_martian",
    [SL_CNT_IP_DROP_SOURCE_ROUTE] = "ip_drop_source_route",
    [SL_CNT_IP_DROP_OPTION] = "ip_drop_option",
    [SL_CNT_IP_DROP_ROUTING] = "ip_drop_routing",
    [SL_CNT_IP_DROP_PROTO] = "ip_drop_proto",
    [SL_CNT_IP_DROP_UNSUPPORTED] = "ip_drop_unsupported",
    [SL_CNT_IP_FRAGS_RX] = "ip_frags_rx",
    [SL_CNT_IP_REASM_OK] = "ip_reasm_ok",
    [SL_CNT_IP_REASM_DROP] = "ip_reasm_drop",
    [SL_CNT_IP_REASM_TIMEOUT] = "ip_reasm_timeout",
    [SL_CNT_IP_TX] = "ip_tx",
    [SL_CNT_IP_FRAGS_TX] = "ip_frags_tx",
    [SL_CNT_IP_TX_BYTES] = "ip_tx_bytes",
    [SL_CNT_TX_QUEUE_FULL] = "tx_queue_full",
    [SL_CNT_TX_DEVICE_FULL] = "tx_device_full",
    [SL_CNT_ICMP_RX] = "icmp_rx",
    [SL_CNT_ICMP_ECHO_REPLIED] = "icmp_echo_replied",
    [SL_CNT_ICMP_ERR_RX] = "icmp_err_rx",
    [SL_CNT_ICMP_ERR_DELIVERED] = "icmp_err_delivered",
    [SL_CNT_ICMP_ERR_NO_FLOW] = "icmp_err_no_flow",
    [SL_CNT_ICMP_ERR_TX] = "icmp_err_tx",
    [SL_CNT_ICMP_RATE_LIMITED] = "icmp_rate_limited",
    [SL_CNT_ICMP_IGNORED] = "icmp_ignored",
    [SL_CNT_UDP_RX] = "udp_rx",
    [SL_CNT_UDP_TX] = "udp_tx",
    [SL_CNT_UDP_DROP_QUEUE_FULL] = "udp_drop_queue_full",
    [SL_CNT_UDP_FLOW_NEW] = "udp_flow_new",
    [SL_CNT_UDP_FLOW_REFUSED] = "udp_flow_refused",
    [SL_CNT_UDP_FLOW_DROPPED] = "udp_flow_dropped",
    [SL_CNT_UDP_FLOW_LIMIT] = "udp_flow_limit",
    [SL_CNT_UDP_FLOW_IDLE] = "udp_flow_idle",
    [SL_CNT_TCP_RX] = "tcp_rx",
    [SL_CNT_TCP_TX] = "tcp_tx",
    [SL_CNT_TCP_TSO_TX] = "tcp_tso_tx",
    [SL_CNT_TCP_RST_RX] = "tcp_rst_rx",
    [SL_CNT_TCP_RST_TX] = "tcp_rst_tx",
    [SL_CNT_TCP_DROP_NO_CONN] = "tcp_drop_no_conn",
    [SL_CNT_TCP_DROP_UNACCEPTABLE] = "tcp_drop_unacceptable",
    [SL_CNT_TCP_DROP_PAWS] = "tcp_drop_paws",
    [SL_CNT_TCP_DROP_BAD_ACK] = "tcp_drop_bad_ack",
    [SL_CNT_TCP_CHALLENGE_ACK] = "tcp_challenge_ack",
    [SL_CNT_TCP_CONN_ACCEPTED] = "tcp_conn_accepted",
    [SL_CNT_TCP_CONN_CONNECTED] = "tcp_conn_connected",
    [SL_CNT_TCP_CONN_REFUSED] = "tcp_conn_refused",
    [SL_CNT_TCP_CONN_DROPPED] = "tcp_conn_dropped",
    [SL_CNT_TCP_CONN_LIMIT] = "tcp_conn_limit",
    [SL_CNT_TCP_BACKLOG_FULL] = "tcp_backlog_full",
    [SL_CNT_TCP_COOKIE_SENT] = "tcp_cookie_sent",
    [SL_CNT_TCP_COOKIE_OK] = "tcp_cookie_ok",
    [SL_CNT_TCP_COOKIE_BAD] = "tcp_cookie_bad",
    [SL_CNT_TCP_RETRANSMIT] = "tcp_retransmit",
    [SL_CNT_TCP_FAST_RETRANSMIT] = "tcp_fast_retransmit",
    [SL_CNT_TCP_TIMEOUT] = "tcp_timeout",
    [SL_CNT_TCP_OOO_DROP] = "tcp_ooo_drop",
    [SL_CNT_TCP_DATA_AFTER_CLOSE] = "tcp_data_after_close",
    [SL_CNT_TCP_DROP_LAND] = "tcp_drop_land",
    [SL_CNT_MEM_FAIL] = "mem_fail",
};

uint64_t sl_stats_get(const sl_stack *s, sl_counter k)
{
    if ((unsigned)k >= SL_CNT__COUNT)
        return 0;
    return s->c.cnt[k];
}

const char *sl_counter_name(sl_counter k)
{
    if ((unsigned)k >= SL_CNT__COUNT || counter_names[k] == NULL)
        return "?";
    return counter_names[k];
}

uint64_t sl_stats_parse_error(const sl_stack *s, sl_error e)
{
    int i = -(int)e - SL_PARSE_ERR_BASE;
    if (i < 0 || i >= (int)SL_PARSE_ERR_SLOTS)
        return 0;
    return s->c.parse_err[i];
}

void sl_stats_mem(const sl_stack *s, sl_mem_stats *out)
{
    out->in_use = s->c.mem.in_use;
    out->peak = s->c.mem.peak;
    out->limit = s->c.mem.limit;
    out->allocs = s->c.mem.allocs;
    out->fails = s->c.mem.fails;
    out->cached = s->c.mem.cached;
}
