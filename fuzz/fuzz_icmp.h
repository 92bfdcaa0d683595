/*
 * Checks shared by fuzz_icmp4 and fuzz_icmp6: the view against the raw
 * bytes, the quoted packet's view against the quoted bytes, and two views
 * of equal messages against each other.
 */
#ifndef SL_FUZZ_ICMP_H
#define SL_FUZZ_ICMP_H

#include "fuzz_common.h"

typedef struct icmp_family {
    uint8_t family;                 /* 4 or 6 */
    uint8_t icmp_proto;             /* quoted ICMP: 1 or 58 */
    uint8_t echo_req, echo_rep;     /* 8/0 or 128/129 */
    size_t ip_min;                  /* 20 or 40 */
} icmp_family;

static inline sl_icmp_kind fz_icmp_kind(const icmp_family *f, uint8_t type)
{
    if (type == f->echo_req)
        return SL_ICMP_ECHO_REQUEST;
    if (type == f->echo_rep)
        return SL_ICMP_ECHO_REPLY;
    if (f->family == 4) {
        switch (type) {
        case 3: return SL_ICMP_DEST_UNREACH;
        case 11: return SL_ICMP_TIME_EXCEEDED;
        case 12: return SL_ICMP_PARAM_PROBLEM;
        default: return SL_ICMP_OTHER;
        }
    }
    switch (type) {
    case 1: return SL_ICMP_DEST_UNREACH;
    case 2: return SL_ICMP_PKT_TOO_BIG;
    case 3: return SL_ICMP_TIME_EXCEEDED;
    case 4: return SL_ICMP_PARAM_PROBLEM;
    case 133: return SL_ICMP_NDP_RS;
    case 134: return SL_ICMP_NDP_RA;
    case 135: return SL_ICMP_NDP_NS;
    case 136: return SL_ICMP_NDP_NA;
    case 137: return SL_ICMP_NDP_REDIRECT;
    default: return SL_ICMP_OTHER;
    }
}

static inline bool fz_icmp_is_error(sl_icmp_kind k)
{
    return k == SL_ICMP_DEST_UNREACH || k == SL_ICMP_TIME_EXCEEDED ||
           k == SL_ICMP_PARAM_PROBLEM || k == SL_ICMP_PKT_TOO_BIG;
}

static inline void fz_icmp_check_quote(const icmp_family *f, const sl_icmp_hdr *h)
{
    const sl_icmp_quote *q = &h->quote;
    const uint8_t *b = h->body;
    FZ_CHECK(h->body_len >= f->ip_min && (b[0] >> 4) == f->family);
    FZ_CHECK(q->family == f->family);
    FZ_CHECK(fz_in(q->ip, q->ip_len, h->body, h->body_len));
    FZ_CHECK(q->ip == h->body && q->ip_len >= f->ip_min);
    FZ_CHECK(fz_in(q->l4, q->l4_len, q->ip, q->ip_len));
    if (f->family == 4) {
        size_t hl = (size_t)(b[0] & 0x0f) * 4;
        FZ_CHECK(hl >= 20 && hl <= q->ip_len && q->l4 == q->ip + hl);
        FZ_CHECK(q->proto == b[9]);
        FZ_CHECK(memcmp(q->src, b + 12, 4) == 0 && memcmp(q->dst, b + 16, 4) == 0);
        FZ_CHECK(q->is_fragment == ((sl_load16(b + 6) & 0x1fffu) != 0));
    } else {
        FZ_CHECK(memcmp(q->src, b + 8, 16) == 0 && memcmp(q->dst, b + 24, 16) == 0);
        FZ_CHECK(q->l4_len == 0 || q->l4 >= q->ip + 40);
    }
    bool first = !q->is_fragment;
    if (first && q->l4_len < 8) {
        /* Allowed only when the quote holds the whole original packet. */
        size_t orig = f->family == 4 ? sl_load16(b + 2) : 40u + (size_t)sl_load16(b + 4);
        FZ_CHECK(orig <= h->body_len);
    }
    bool full = first && q->l4_len >= 8;
    bool ports = full && (q->proto == SL_IPPROTO_TCP || q->proto == SL_IPPROTO_UDP);
    FZ_CHECK(q->has_ports == ports);
    if (ports)
        FZ_CHECK(q->sport == sl_load16(q->l4) && q->dport == sl_load16(q->l4 + 2));
    FZ_CHECK(q->has_seq == (full && q->proto == SL_IPPROTO_TCP));
    if (q->has_seq)
        FZ_CHECK(q->seq == sl_load32(q->l4 + 4));
    if (q->has_echo) {
        FZ_CHECK(full && q->proto == f->icmp_proto);
        FZ_CHECK(q->l4[0] == f->echo_req || q->l4[0] == f->echo_rep);
        FZ_CHECK(q->echo_id == sl_load16(q->l4 + 4) && q->echo_seq == sl_load16(q->l4 + 6));
    } else {
        FZ_CHECK(!(full && q->proto == f->icmp_proto && q->l4[0] == f->echo_req));
    }
}

static inline void fz_icmp_check_view(const icmp_family *f, const uint8_t *p, size_t len,
                                      const sl_icmp_hdr *h)
{
    FZ_CHECK(len >= SL_ICMP_HDR_LEN);
    FZ_CHECK(h->type == p[0] && h->code == p[1]);
    FZ_CHECK(h->checksum == sl_load16(p + 2) && h->rest == sl_load32(p + 4));
    FZ_CHECK(fz_in(h->body, h->body_len, p, len));
    FZ_CHECK(h->body_len == len - SL_ICMP_HDR_LEN);
    FZ_CHECK(h->body_len == 0 || h->body == p + SL_ICMP_HDR_LEN);
    FZ_CHECK(h->kind == fz_icmp_kind(f, h->type));
    if (h->kind == SL_ICMP_ECHO_REQUEST || h->kind == SL_ICMP_ECHO_REPLY)
        FZ_CHECK(h->echo_id == (h->rest >> 16) && h->echo_seq == (h->rest & 0xffffu));
    if (h->kind == SL_ICMP_PKT_TOO_BIG)
        FZ_CHECK(h->mtu == h->rest);
    if (f->family == 4 && h->kind == SL_ICMP_DEST_UNREACH && h->code == 4)
        FZ_CHECK(h->mtu == (h->rest & 0xffffu));
    if (h->kind == SL_ICMP_PARAM_PROBLEM)
        FZ_CHECK(h->pointer == (f->family == 4 ? h->rest >> 24 : h->rest));
    FZ_CHECK(h->has_quote == fz_icmp_is_error(h->kind));
    if (h->has_quote)
        fz_icmp_check_quote(f, h);
}

static inline void fz_icmp_check_same(const sl_icmp_hdr *a, const uint8_t *abase,
                                      const sl_icmp_hdr *b, const uint8_t *bbase)
{
    FZ_CHECK(a->type == b->type && a->code == b->code && a->rest == b->rest);
    FZ_CHECK(a->kind == b->kind && a->echo_id == b->echo_id && a->echo_seq == b->echo_seq);
    FZ_CHECK(a->mtu == b->mtu && a->pointer == b->pointer);
    FZ_CHECK(fz_same_bytes(a->body, a->body_len, b->body, b->body_len));
    FZ_CHECK(a->has_quote == b->has_quote);
    if (!a->has_quote)
        return;
    const sl_icmp_quote *x = &a->quote, *y = &b->quote;
    size_t an = x->family == 4 ? 4 : 16;
    FZ_CHECK(x->family == y->family && x->proto == y->proto);
    FZ_CHECK(memcmp(x->src, y->src, an) == 0 && memcmp(x->dst, y->dst, an) == 0);
    FZ_CHECK(x->is_fragment == y->is_fragment && x->has_ports == y->has_ports);
    FZ_CHECK(!x->has_ports || (x->sport == y->sport && x->dport == y->dport));
    FZ_CHECK(x->has_seq == y->has_seq && (!x->has_seq || x->seq == y->seq));
    FZ_CHECK(x->has_echo == y->has_echo);
    FZ_CHECK(!x->has_echo || (x->echo_id == y->echo_id && x->echo_seq == y->echo_seq));
    FZ_CHECK(x->ip_len == y->ip_len && x->l4_len == y->l4_len);
    FZ_CHECK(fz_off(x->ip, abase) == fz_off(y->ip, bbase));
    FZ_CHECK(fz_off(x->l4, abase) == fz_off(y->l4, bbase));
}

#endif
