/*
 * fuzz_ipv4: sl_ipv4_parse on arbitrary bytes; every accepted header is
 * checked field by field against the raw bytes, its options against an
 * independent walk, and re-emitted (exact-size heap buffer) to bytes that
 * equal the input's header + payload (checksum aside) and parse again to
 * the same view.
 *
 * Input: 1 control byte then the packet.
 *   bits 0-1: 0 parse with SL_PARSE_NO_CSUM; 1, 3 fix the header checksum
 *             up, then verify; 2 verify the checksum as found
 *   bits 2-3: emit variant: payload pointer / NULL (bytes already in place)
 *             / pointer into the output buffer (in-place memmove)
 */
#include "fuzz_common.h"

static const sl_error k_errs[] = {
    SL_ERR_TRUNCATED,      SL_ERR_IP_VERSION,    SL_ERR_IPV4_IHL,
    SL_ERR_IPV4_HDR_TRUNC, SL_ERR_IPV4_TOTAL_LEN, SL_ERR_IPV4_CHECKSUM,
    SL_ERR_IPV4_FRAG,      SL_ERR_IPV4_OPT_LEN,  SL_ERR_IPV4_OPT_FORMAT};

static void fix_csum(uint8_t *p, size_t len)
{
    if (len < SL_IPV4_HDR_MIN)
        return;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    if (hlen < SL_IPV4_HDR_MIN || hlen > len)
        return;
    p[10] = p[11] = 0;
    sl_store16(p + 10, sl_csum_finish(sl_csum_partial_ref(p, hlen, 0)));
}

/* Options walk of our own: only TLV framing and the two flags. */
static void check_options(const sl_ipv4_hdr *h)
{
    const uint8_t *o = h->opts;
    size_t n = h->opts_len, i = 0;
    bool sr = false, ra = false;
    while (i < n) {
        uint8_t t = o[i];
        if (t == 0)
            break;
        if (t == 1) {
            i++;
            continue;
        }
        FZ_CHECK(n - i >= 2);
        size_t l = o[i + 1];
        FZ_CHECK(l >= 2 && l <= n - i);
        if (t == 131 || t == 137)
            sr = true;
        if (t == 148)
            ra = true;
        i += l;
    }
    FZ_CHECK(h->opt_source_route == sr);
    FZ_CHECK(h->opt_router_alert == ra);
}

static void check_view(const uint8_t *p, size_t len, unsigned flags, const sl_ipv4_hdr *h)
{
    FZ_CHECK(len >= SL_IPV4_HDR_MIN && (p[0] >> 4) == 4);
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    FZ_CHECK(h->ihl == (p[0] & 0x0f) && h->ihl >= 5 && hlen <= len);
    FZ_CHECK(h->tos == p[1]);
    FZ_CHECK(h->total_len == sl_load16(p + 2));
    FZ_CHECK(h->total_len >= hlen && h->total_len <= len);
    FZ_CHECK(h->id == sl_load16(p + 4));
    uint16_t ff = sl_load16(p + 6);
    FZ_CHECK(h->rf == ((ff & 0x8000u) != 0));
    FZ_CHECK(h->df == ((ff & 0x4000u) != 0));
    FZ_CHECK(h->mf == ((ff & 0x2000u) != 0));
    FZ_CHECK(h->frag_off == (ff & 0x1fffu));
    FZ_CHECK(h->ttl == p[8] && h->proto == p[9]);
    FZ_CHECK(h->checksum == sl_load16(p + 10));
    FZ_CHECK(memcmp(h->src, p + 12, 4) == 0 && memcmp(h->dst, p + 16, 4) == 0);
    FZ_CHECK(fz_in(h->opts, h->opts_len, p, len));
    FZ_CHECK(h->opts_len == hlen - SL_IPV4_HDR_MIN);
    FZ_CHECK(h->opts_len == 0 || h->opts == p + SL_IPV4_HDR_MIN);
    FZ_CHECK(fz_in(h->payload, h->payload_len, p, len));
    FZ_CHECK(h->payload_len == h->total_len - hlen);
    FZ_CHECK(h->payload_len == 0 || h->payload == p + hlen);
    FZ_CHECK((size_t)h->frag_off * 8 + h->payload_len <= 65535u);
    if ((flags & SL_PARSE_NO_CSUM) == 0)
        FZ_CHECK(sl_csum_finish(sl_csum_partial_ref(p, hlen, 0)) == 0);
    check_options(h);
}

/* Same meaningful fields (pointers compared by content). */
static void check_same(const sl_ipv4_hdr *a, const sl_ipv4_hdr *b)
{
    FZ_CHECK(a->ihl == b->ihl && a->tos == b->tos && a->total_len == b->total_len);
    FZ_CHECK(a->id == b->id && a->rf == b->rf && a->df == b->df && a->mf == b->mf);
    FZ_CHECK(a->frag_off == b->frag_off && a->ttl == b->ttl && a->proto == b->proto);
    FZ_CHECK(memcmp(a->src, b->src, 4) == 0 && memcmp(a->dst, b->dst, 4) == 0);
    FZ_CHECK(fz_same_bytes(a->opts, a->opts_len, b->opts, b->opts_len));
    FZ_CHECK(a->opt_source_route == b->opt_source_route);
    FZ_CHECK(a->opt_router_alert == b->opt_router_alert);
    FZ_CHECK(fz_same_bytes(a->payload, a->payload_len, b->payload, b->payload_len));
}

static sl_error emit_adapter(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                             size_t *written)
{
    (void)ph;
    return sl_ipv4_emit(h, buf, cap, written);
}

static uint8_t *emit_variant(const sl_ipv4_hdr *h, unsigned variant, size_t *n_out)
{
    size_t hlen = sl_ipv4_hdr_len(h);
    size_t n = sl_ipv4_emit_len(h);
    FZ_CHECK(hlen == (size_t)h->ihl * 4);
    FZ_CHECK(n == hlen + h->payload_len);
    uint8_t *out = fz_alloc(n);
    memset(out, 0xee, n);
    sl_ipv4_hdr e = *h;
    if (variant != 0 && h->payload_len > 0) {
        memcpy(out + hlen, h->payload, h->payload_len);
        e.payload = variant == 1 ? NULL : out + hlen;
    }
    size_t w = 0;
    FZ_CHECK_ERR(sl_ipv4_emit(&e, out, n, &w), SL_OK);
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
    unsigned mode = ctl & 3u;
    unsigned flags = mode == 0 ? SL_PARSE_NO_CSUM : 0;
    if (mode & 1u)
        fix_csum(p, len);

    sl_ipv4_hdr h;
    memset(&h, 0xa5, sizeof h);
    sl_error e = sl_ipv4_parse(p, len, flags, &h);
    if (e != SL_OK) {
        FZ_CHECK_ERR_IN(e, k_errs);
        if (flags == 0 && e != SL_ERR_IPV4_CHECKSUM) {
            /* Skipping the checksum check cannot make another error go. */
            sl_ipv4_hdr h2;
            FZ_CHECK(sl_ipv4_parse(p, len, SL_PARSE_NO_CSUM, &h2) != SL_OK);
        }
        free(p);
        return 0;
    }
    check_view(p, len, flags, &h);

    if (flags == SL_PARSE_NO_CSUM) {
        /* With a right checksum the verifying parse accepts it too. */
        uint8_t *q = fz_dup(p, len);
        fix_csum(q, len);
        sl_ipv4_hdr hq;
        FZ_CHECK_ERR(sl_ipv4_parse(q, len, 0, &hq), SL_OK);
        check_view(q, len, 0, &hq);
        check_same(&h, &hq);
        free(q);
    }

    /* Re-emit: same bytes as the input (checksum aside), parses the same. */
    size_t n;
    uint8_t *out = emit_variant(&h, (ctl >> 2) & 3u, &n);
    FZ_CHECK(n == h.total_len);
    FZ_CHECK(memcmp(out, p, 10) == 0 && memcmp(out + 12, p + 12, n - 12) == 0);
    sl_ipv4_hdr h2;
    memset(&h2, 0x5a, sizeof h2);
    FZ_CHECK_ERR(sl_ipv4_parse(out, n, 0, &h2), SL_OK);
    check_view(out, n, 0, &h2);
    check_same(&h, &h2);

    /* Emitting the re-parsed view gives the same bytes. */
    size_t n3;
    uint8_t *out3 = emit_variant(&h2, 0, &n3);
    FZ_CHECK(n3 == n && memcmp(out3, out, n) == 0);
    free(out3);

    fz_check_short_buffer(emit_adapter, &h, NULL, n);

    /* Out-of-range fields are refused without writing. */
    sl_ipv4_hdr bad = h;
    bad.frag_off = (uint16_t)(0x2000u | h.frag_off);
    size_t w = 0;
    FZ_CHECK_ERR(sl_ipv4_emit(&bad, out, n, &w), SL_ERR_INVAL);
    bad = h;
    bad.opts_len = 41;
    FZ_CHECK(sl_ipv4_hdr_len(&bad) == 0 && sl_ipv4_emit_len(&bad) == 0);
    FZ_CHECK_ERR(sl_ipv4_emit(&bad, out, n, &w), SL_ERR_INVAL);

    free(out);
    free(p);
    return 0;
}
