/*
 * fuzz_udp: sl_udp_parse on arbitrary bytes under each checksum regime
 * (none, IPv4 where 0 means "no checksum", IPv6 where 0 is an error).
 * Acceptance is predicted exactly from the length field and a reference
 * checksum; accepted datagrams re-emit (exact-size heap buffer) to bytes
 * that parse to the same ports and payload.
 *
 * Input: 1 control byte then the datagram.
 *   bits 0-2: 0, 7 ph NULL; 1 IPv4, checksum fixed up; 2 IPv6, fixed up;
 *             3 IPv4 as found; 4 IPv6 as found; 5 IPv4 checksum zeroed;
 *             6 IPv6 checksum zeroed
 *   bits 3-4: emit variant: payload pointer / NULL / in place
 *   bit 5:    address pair
 *   bit 6:    with ph NULL, emit over a real pseudo-header (family bit 7)
 */
#include "fuzz_common.h"

static const sl_error k_errs[] = {SL_ERR_TRUNCATED, SL_ERR_UDP_LEN, SL_ERR_UDP_CHECKSUM,
                                  SL_ERR_UDP_ZERO_CSUM};

static sl_error emit_adapter(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                             size_t *written)
{
    return sl_udp_emit(h, ph, buf, cap, written);
}

/* What the parser must answer, from first principles. */
static sl_error expect(const uint8_t *p, size_t len, const sl_pseudo *ph)
{
    if (len < SL_UDP_HDR_LEN)
        return SL_ERR_TRUNCATED;
    size_t ulen = sl_load16(p + 4);
    if (ulen < SL_UDP_HDR_LEN || ulen > len)
        return SL_ERR_UDP_LEN;
    if (ph == NULL)
        return SL_OK;
    if (sl_load16(p + 6) == 0)
        return ph->family == 6 ? SL_ERR_UDP_ZERO_CSUM : SL_OK;
    return fz_l4_ok(ph, SL_IPPROTO_UDP, p, ulen) ? SL_OK : SL_ERR_UDP_CHECKSUM;
}

static void check_view(const uint8_t *p, size_t len, const sl_udp_hdr *h)
{
    FZ_CHECK(h->sport == sl_load16(p) && h->dport == sl_load16(p + 2));
    FZ_CHECK(h->length == sl_load16(p + 4));
    FZ_CHECK(h->length >= SL_UDP_HDR_LEN && h->length <= len);
    FZ_CHECK(h->checksum == sl_load16(p + 6));
    FZ_CHECK(fz_in(h->payload, h->payload_len, p, len));
    FZ_CHECK(h->payload_len == (size_t)h->length - SL_UDP_HDR_LEN);
    FZ_CHECK(h->payload_len == 0 || h->payload == p + SL_UDP_HDR_LEN);
}

static uint8_t *emit_variant(const sl_udp_hdr *h, const sl_pseudo *ph, unsigned variant,
                             size_t *n_out)
{
    size_t n = sl_udp_emit_len(h);
    FZ_CHECK(n == SL_UDP_HDR_LEN + h->payload_len);
    uint8_t *out = fz_alloc(n);
    memset(out, 0xee, n);
    sl_udp_hdr e = *h;
    if (variant != 0 && h->payload_len > 0) {
        memcpy(out + SL_UDP_HDR_LEN, h->payload, h->payload_len);
        e.payload = variant == 1 ? NULL : out + SL_UDP_HDR_LEN;
    }
    size_t w = 0;
    FZ_CHECK_ERR(sl_udp_emit(&e, ph, out, n, &w), SL_OK);
    FZ_CHECK(w == n);
    FZ_CHECK(sl_load16(out + 4) == n);
    if (ph == NULL) {
        FZ_CHECK(sl_load16(out + 6) == 0);
    } else {
        FZ_CHECK(sl_load16(out + 6) != 0); /* computed 0 goes out as 0xffff */
        FZ_CHECK(fz_l4_ok(ph, SL_IPPROTO_UDP, out, n));
    }
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
    unsigned mode = ctl & 7u, set = (ctl >> 5) & 1u;
    static const unsigned fam_of[8] = {0, 4, 6, 4, 6, 4, 6, 0};
    sl_pseudo phs;
    const sl_pseudo *ph = fz_pseudo(&phs, fam_of[mode], set);
    if (len >= SL_UDP_HDR_LEN && (mode == 1 || mode == 2 || mode == 5 || mode == 6)) {
        size_t ulen = sl_load16(p + 4);
        p[6] = p[7] = 0;
        if ((mode == 1 || mode == 2) && ulen >= SL_UDP_HDR_LEN && ulen <= len) {
            uint16_t c = fz_l4_csum(ph, SL_IPPROTO_UDP, p, ulen);
            sl_store16(p + 6, c == 0 ? 0xffff : c);
        }
    }

    sl_udp_hdr h;
    memset(&h, 0xa5, sizeof h);
    sl_error e = sl_udp_parse(p, len, ph, &h);
    sl_error want = expect(p, len, ph);
    FZ_CHECK_ERR(e, want);
    if (e != SL_OK) {
        FZ_CHECK_ERR_IN(e, k_errs);
        free(p);
        return 0;
    }
    check_view(p, len, &h);

    sl_pseudo ephs;
    const sl_pseudo *eph = ph;
    if (ph == NULL && (ctl & 0x40u))
        eph = fz_pseudo(&ephs, (ctl & 0x80u) ? 6 : 4, set);
    size_t n;
    uint8_t *out = emit_variant(&h, eph, (ctl >> 3) & 3u, &n);
    FZ_CHECK(memcmp(out, p, 4) == 0);
    FZ_CHECK(n == h.length && memcmp(out + 8, p + 8, n - 8) == 0);
    sl_udp_hdr h2;
    memset(&h2, 0x5a, sizeof h2);
    FZ_CHECK_ERR(sl_udp_parse(out, n, eph, &h2), SL_OK);
    check_view(out, n, &h2);
    FZ_CHECK(h2.sport == h.sport && h2.dport == h.dport && h2.length == h.length);
    FZ_CHECK(fz_same_bytes(h.payload, h.payload_len, h2.payload, h2.payload_len));
    if (eph != NULL && h.checksum != 0 && fz_l4_ok(eph, SL_IPPROTO_UDP, p, h.length))
        FZ_CHECK(h2.checksum == h.checksum);

    size_t n3;
    uint8_t *out3 = emit_variant(&h2, eph, 0, &n3);
    FZ_CHECK(n3 == n && memcmp(out3, out, n) == 0);
    free(out3);

    fz_check_short_buffer(emit_adapter, &h, eph, n);

    free(out);
    free(p);
    return 0;
}
