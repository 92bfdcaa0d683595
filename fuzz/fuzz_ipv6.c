/*
 * fuzz_ipv6: sl_ipv6_parse on arbitrary bytes.  An accepted packet is
 * checked against the raw fixed header and an independent walk of the
 * extension-header chain, then re-emitted as the fixed header with the
 * original extension bytes + payload as its payload; the result must be
 * byte-identical to the input's first 40 + plen bytes and parse to the
 * same view.
 *
 * Input: 1 control byte then the packet.
 *   bits 0-1: emit variant: payload pointer / NULL (bytes already in
 *             place) / pointer into the output buffer (in-place memmove)
 */
#include "fuzz_common.h"

static const sl_error k_errs[] = {
    SL_ERR_TRUNCATED,      SL_ERR_IP_VERSION,     SL_ERR_IPV6_PAYLOAD_LEN,
    SL_ERR_IPV6_EXT_TRUNC, SL_ERR_IPV6_EXT_CHAIN, SL_ERR_IPV6_HBH_ORDER,
    SL_ERR_IPV6_OPT_LEN,   SL_ERR_IPV6_JUMBO,     SL_ERR_IPV6_FRAG};

typedef struct walk {
    uint8_t proto, n_ext;
    size_t off;
    bool hbh, rt, dst, frag, is_frag, atomic, ra, more;
    uint8_t rt_type, seg_left, max_action;
    uint16_t frag_off;
    uint32_t frag_id;
    size_t unfrag;
} walk;

/* TLV options of one HBH/DST header: framing must hold for an accepted
 * packet; record router alert and the highest unknown-option action. */
static void walk_tlv(const uint8_t *q, size_t hl, walk *w)
{
    size_t i = 2;
    while (i < hl) {
        uint8_t t = q[i];
        if (t == 0) {
            i++;
            continue;
        }
        FZ_CHECK(hl - i >= 2);
        size_t ol = q[i + 1];
        FZ_CHECK(ol <= hl - i - 2);
        FZ_CHECK(t != 0xc2); /* jumbo payload is refused */
        if (t == 5)
            w->ra = true;
        else if (t != 1 && (uint8_t)(t >> 6) != 0 && w->max_action == 0)
            w->max_action = (uint8_t)(t >> 6); /* the first decides (RFC 8200 §4.2) */
        i += 2 + ol;
    }
}

/* Our own walk over p[40 .. end-1] of a packet the parser accepted. */
static void walk_chain(const uint8_t *p, size_t end, walk *w)
{
    memset(w, 0, sizeof *w);
    uint8_t nh = p[6];
    size_t off = SL_IPV6_HDR_LEN;
    while (nh == 0 || nh == 43 || nh == 44 || nh == 60) {
        FZ_CHECK(w->n_ext < SL_IPV6_MAX_EXT);
        FZ_CHECK(nh != 0 || w->n_ext == 0);
        FZ_CHECK(end - off >= 8);
        const uint8_t *q = p + off;
        size_t hl = nh == 44 ? 8 : ((size_t)q[1] + 1) * 8;
        FZ_CHECK(hl <= end - off);
        w->n_ext++;
        if (nh == 0 || nh == 60) {
            walk_tlv(q, hl, w);
            if (nh == 0)
                w->hbh = true;
            else
                w->dst = true;
        } else if (nh == 43) {
            w->rt = true;
            w->rt_type = q[2];
            w->seg_left = q[3];
        } else {
            FZ_CHECK(!w->frag);
            w->frag = true;
            w->unfrag = off;
            w->frag_off = (uint16_t)(sl_load16(q + 2) >> 3);
            w->more = (q[3] & 1u) != 0;
            w->frag_id = sl_load32(q + 4);
            if (w->frag_off != 0 || w->more) {
                w->is_frag = true;
                off += hl;
                nh = q[0];
                break;
            }
            w->atomic = true;
        }
        off += hl;
        nh = q[0];
    }
    w->proto = nh;
    w->off = off;
}

static void check_view(const uint8_t *p, size_t len, const sl_ipv6_hdr *h)
{
    FZ_CHECK(len >= SL_IPV6_HDR_LEN && (p[0] >> 4) == 6);
    uint32_t w0 = sl_load32(p);
    FZ_CHECK(h->tclass == (uint8_t)(w0 >> 20));
    FZ_CHECK(h->flow == (w0 & 0xfffffu));
    FZ_CHECK(h->plen == sl_load16(p + 4));
    FZ_CHECK((size_t)h->plen <= len - SL_IPV6_HDR_LEN);
    FZ_CHECK(h->next_header == p[6] && h->hop_limit == p[7]);
    FZ_CHECK(memcmp(h->src, p + 8, 16) == 0 && memcmp(h->dst, p + 24, 16) == 0);
    size_t end = SL_IPV6_HDR_LEN + h->plen;

    walk w;
    walk_chain(p, end, &w);
    FZ_CHECK(h->proto == w.proto);
    FZ_CHECK(h->n_ext == w.n_ext && h->n_ext <= SL_IPV6_MAX_EXT);
    FZ_CHECK(h->ext_len == w.off - SL_IPV6_HDR_LEN);
    FZ_CHECK(h->has_hbh == w.hbh && h->has_routing == w.rt && h->has_dstopts == w.dst);
    if (w.rt)
        FZ_CHECK(h->routing_type == w.rt_type && h->segments_left == w.seg_left);
    FZ_CHECK(h->router_alert == w.ra);
    FZ_CHECK(h->opt_action == w.max_action);
    if (h->opt_action != 0) {
        /* The pointer names an option of that action inside the chain. */
        FZ_CHECK(h->opt_ptr >= SL_IPV6_HDR_LEN + 2 && h->opt_ptr < w.off);
        FZ_CHECK((p[h->opt_ptr] >> 6) == h->opt_action);
    }
    FZ_CHECK(h->has_frag == w.frag && h->is_fragment == w.is_frag);
    FZ_CHECK(h->atomic_frag == w.atomic);
    if (w.frag) {
        FZ_CHECK(h->frag_off == w.frag_off && h->frag_more == w.more);
        FZ_CHECK(h->frag_id == w.frag_id && h->unfrag_len == w.unfrag);
    }
    if (!h->is_fragment)
        FZ_CHECK(h->proto != 0 && h->proto != 43 && h->proto != 44 && h->proto != 60);
    FZ_CHECK(fz_in(h->payload, h->payload_len, p, len));
    FZ_CHECK(h->payload_len == end - w.off);
    FZ_CHECK(h->payload_len == 0 || h->payload == p + w.off);
    if (h->is_fragment) {
        /* RFC 8200 §4.5 per-packet rules. */
        FZ_CHECK(!h->frag_more || h->payload_len % 8 == 0);
        FZ_CHECK((size_t)h->frag_off * 8 + h->payload_len <= 65535u);
    }
}

static void check_same(const sl_ipv6_hdr *a, const uint8_t *abase, const sl_ipv6_hdr *b,
                       const uint8_t *bbase)
{
    FZ_CHECK(a->tclass == b->tclass && a->flow == b->flow && a->plen == b->plen);
    FZ_CHECK(a->next_header == b->next_header && a->hop_limit == b->hop_limit);
    FZ_CHECK(memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0);
    FZ_CHECK(a->proto == b->proto && a->n_ext == b->n_ext && a->ext_len == b->ext_len);
    FZ_CHECK(a->has_hbh == b->has_hbh && a->has_routing == b->has_routing);
    FZ_CHECK(a->has_dstopts == b->has_dstopts && a->router_alert == b->router_alert);
    if (a->has_routing)
        FZ_CHECK(a->routing_type == b->routing_type && a->segments_left == b->segments_left);
    FZ_CHECK(a->opt_action == b->opt_action);
    if (a->opt_action != 0)
        FZ_CHECK(a->opt_ptr == b->opt_ptr);
    FZ_CHECK(a->has_frag == b->has_frag && a->is_fragment == b->is_fragment);
    FZ_CHECK(a->atomic_frag == b->atomic_frag);
    if (a->has_frag) {
        FZ_CHECK(a->frag_off == b->frag_off && a->frag_more == b->frag_more);
        FZ_CHECK(a->frag_id == b->frag_id && a->unfrag_len == b->unfrag_len);
    }
    FZ_CHECK(fz_same_bytes(a->payload, a->payload_len, b->payload, b->payload_len));
    FZ_CHECK(a->payload_len == 0 || fz_off(a->payload, abase) == fz_off(b->payload, bbase));
}

static sl_error emit_adapter(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                             size_t *written)
{
    (void)ph;
    return sl_ipv6_emit(h, buf, cap, written);
}

/* Emit h's fixed header with `pl` (pl_len bytes) as its payload. */
static uint8_t *emit_variant(const sl_ipv6_hdr *h, const uint8_t *pl, size_t pl_len,
                             unsigned variant, size_t *n_out)
{
    sl_ipv6_hdr e = *h;
    e.payload = pl;
    e.payload_len = pl_len;
    size_t n = sl_ipv6_emit_len(&e);
    FZ_CHECK(n == SL_IPV6_HDR_LEN + pl_len);
    uint8_t *out = fz_alloc(n);
    memset(out, 0xee, n);
    if (variant != 0 && pl_len > 0) {
        memcpy(out + SL_IPV6_HDR_LEN, pl, pl_len);
        e.payload = variant == 1 ? NULL : out + SL_IPV6_HDR_LEN;
    }
    size_t w = 0;
    FZ_CHECK_ERR(sl_ipv6_emit(&e, out, n, &w), SL_OK);
    FZ_CHECK(w == n);
    *n_out = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    size_t len = size - 1;
    uint8_t *p = fz_dup(data + 1, len);

    sl_ipv6_hdr h;
    memset(&h, 0xa5, sizeof h);
    sl_error e = sl_ipv6_parse(p, len, &h);
    if (e != SL_OK) {
        FZ_CHECK_ERR_IN(e, k_errs);
        free(p);
        return 0;
    }
    check_view(p, len, &h);

    /* Fixed header + (extension headers + payload) as one payload. */
    size_t n;
    uint8_t *out = emit_variant(&h, p + SL_IPV6_HDR_LEN, h.plen, ctl & 3u, &n);
    FZ_CHECK(n == SL_IPV6_HDR_LEN + (size_t)h.plen);
    FZ_CHECK(memcmp(out, p, n) == 0);
    sl_ipv6_hdr h2;
    memset(&h2, 0x5a, sizeof h2);
    FZ_CHECK_ERR(sl_ipv6_parse(out, n, &h2), SL_OK);
    check_view(out, n, &h2);
    check_same(&h, p, &h2, out);

    sl_ipv6_hdr e2 = h;
    e2.payload = p + SL_IPV6_HDR_LEN;
    e2.payload_len = h.plen;
    fz_check_short_buffer(emit_adapter, &e2, NULL, n);

    /* Out-of-range fields are refused without writing. */
    size_t w = 0;
    e2.flow = h.flow | 0x100000u;
    FZ_CHECK_ERR(sl_ipv6_emit(&e2, out, n, &w), SL_ERR_INVAL);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(out[i] == p[i]);

    free(out);
    free(p);
    return 0;
}
