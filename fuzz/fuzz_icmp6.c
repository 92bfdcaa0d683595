/*
 * fuzz_icmp6: sl_icmp6_parse on arbitrary bytes, including the quoted IPv6
 * packet (extension headers walked) of error messages.  Accepted messages
 * are checked against the raw bytes, re-emitted into an exact-size heap
 * buffer (same bytes but the checksum) and parsed again to the same view.
 *
 * Input: 1 control byte then the message.
 *   bits 0-1: 0 ph NULL; 1, 3 IPv6 pseudo-header, checksum fixed up;
 *             2 IPv6 pseudo-header, checksum as found
 *   bits 2-3: emit variant: body pointer / NULL / in place
 *   bit 5:    address pair
 *   bit 6:    with ph NULL, emit (and re-parse) over a real pseudo-header
 */
#include "fuzz_icmp.h"

static const sl_error k_errs[] = {SL_ERR_TRUNCATED, SL_ERR_ICMP_CHECKSUM, SL_ERR_ICMP_QUOTE};
static const icmp_family k_fam = {6, SL_IPPROTO_ICMPV6, 128, 129, 40};

static sl_error emit_adapter(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                             size_t *written)
{
    return sl_icmp6_emit(h, ph, buf, cap, written);
}

static uint8_t *emit_variant(const sl_icmp_hdr *h, const sl_pseudo *ph, unsigned variant,
                             size_t *n_out)
{
    size_t n = sl_icmp_emit_len(h);
    FZ_CHECK(n == SL_ICMP_HDR_LEN + h->body_len);
    uint8_t *out = fz_alloc(n);
    memset(out, 0xee, n);
    sl_icmp_hdr e = *h;
    if (variant != 0 && h->body_len > 0) {
        memcpy(out + SL_ICMP_HDR_LEN, h->body, h->body_len);
        e.body = variant == 1 ? NULL : out + SL_ICMP_HDR_LEN;
    }
    size_t w = 0;
    FZ_CHECK_ERR(sl_icmp6_emit(&e, ph, out, n, &w), SL_OK);
    FZ_CHECK(w == n);
    if (ph == NULL)
        FZ_CHECK(sl_load16(out + 2) == 0);
    else
        FZ_CHECK(fz_l4_ok(ph, SL_IPPROTO_ICMPV6, out, n));
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
    unsigned mode = ctl & 3u, set = (ctl >> 5) & 1u;
    sl_pseudo phs;
    const sl_pseudo *ph = fz_pseudo(&phs, mode == 0 ? 0 : 6, set);
    if ((mode & 1u) && len >= 4) {
        p[2] = p[3] = 0;
        sl_store16(p + 2, fz_l4_csum(ph, SL_IPPROTO_ICMPV6, p, len));
    }

    sl_icmp_hdr h;
    memset(&h, 0xa5, sizeof h);
    sl_error e = sl_icmp6_parse(p, len, ph, &h);
    if (e != SL_OK) {
        FZ_CHECK_ERR_IN(e, k_errs);
        FZ_CHECK((e == SL_ERR_TRUNCATED) == (len < SL_ICMP_HDR_LEN));
        if (e == SL_ERR_ICMP_CHECKSUM)
            FZ_CHECK(ph != NULL && !fz_l4_ok(ph, SL_IPPROTO_ICMPV6, p, len));
        if (e == SL_ERR_ICMP_QUOTE)
            FZ_CHECK(fz_icmp_is_error(fz_icmp_kind(&k_fam, p[0])));
        free(p);
        return 0;
    }
    FZ_CHECK(ph == NULL || fz_l4_ok(ph, SL_IPPROTO_ICMPV6, p, len));
    fz_icmp_check_view(&k_fam, p, len, &h);

    sl_pseudo ephs;
    const sl_pseudo *eph = ph;
    if (ph == NULL && (ctl & 0x40u))
        eph = fz_pseudo(&ephs, 6, set);
    size_t n;
    uint8_t *out = emit_variant(&h, eph, (ctl >> 2) & 3u, &n);
    FZ_CHECK(n == len);
    FZ_CHECK(memcmp(out, p, 2) == 0 && memcmp(out + 4, p + 4, n - 4) == 0);
    sl_icmp_hdr h2;
    memset(&h2, 0x5a, sizeof h2);
    FZ_CHECK_ERR(sl_icmp6_parse(out, n, eph, &h2), SL_OK);
    fz_icmp_check_view(&k_fam, out, n, &h2);
    fz_icmp_check_same(&h, p, &h2, out);

    size_t n3;
    uint8_t *out3 = emit_variant(&h2, eph, 0, &n3);
    FZ_CHECK(n3 == n && memcmp(out3, out, n) == 0);
    free(out3);

    fz_check_short_buffer(emit_adapter, &h, eph, n);

    free(out);
    free(p);
    return 0;
}
