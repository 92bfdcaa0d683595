/*
 * fuzz_tcp: sl_tcp_parse / sl_tcp_opts_parse on arbitrary bytes.  An
 * accepted segment is checked against the raw header and an independent
 * option walk; it is re-emitted (options re-encoded canonically, unknown
 * ones dropped) into an exact-size heap buffer, and the result must parse
 * to the same header, options and payload, and re-emit to itself.
 *
 * Input: 1 control byte then the segment.
 *   bits 0-1: 0 no checksum (ph NULL); 1 IPv4 pseudo-header, checksum
 *             fixed up; 2 IPv6, fixed up; 3 checksum verified as found
 *             (family by bit 2)
 *   bit 2:    family for mode 3 / emit family when parsing with NULL
 *   bits 3-4: emit variant: payload pointer / NULL / in place
 *   bit 5:    address pair
 *   bit 6:    with ph NULL, emit with a real pseudo-header anyway
 */
#include "fuzz_common.h"

static const sl_error k_errs[] = {SL_ERR_TRUNCATED,   SL_ERR_TCP_OFFSET,
                                  SL_ERR_TCP_HDR_TRUNC, SL_ERR_TCP_OPT_LEN,
                                  SL_ERR_TCP_OPT_FIXED, SL_ERR_TCP_CHECKSUM};

enum { OPT_OK = 0, OPT_BAD_FIXED = 1, OPT_BAD_LEN = -1 };

/* Our own option walk.  Returns the first problem found in order:
 * OPT_BAD_LEN (length < 2 or past the area), OPT_BAD_FIXED (known option
 * with a wrong length; SACK must be 2 + 8n, n = 1..4), else OPT_OK with
 * *o filled ("last one wins"). */
static int walk_opts(const uint8_t *p, size_t n, sl_tcp_opts *o)
{
    memset(o, 0, sizeof *o);
    size_t i = 0;
    while (i < n) {
        uint8_t k = p[i];
        if (k == 0)
            break;
        if (k == 1) {
            i++;
            continue;
        }
        if (n - i < 2)
            return OPT_BAD_LEN;
        size_t l = p[i + 1];
        if (l < 2 || l > n - i)
            return OPT_BAD_LEN;
        const uint8_t *v = p + i + 2;
        switch (k) {
        case 2:
            if (l != 4)
                return OPT_BAD_FIXED;
            o->has_mss = true;
            o->mss = sl_load16(v);
            break;
        case 3:
            if (l != 3)
                return OPT_BAD_FIXED;
            o->has_wscale = true;
            o->wscale = v[0];
            break;
        case 4:
            if (l != 2)
                return OPT_BAD_FIXED;
            o->sack_perm = true;
            break;
        case 5:
            if (l < 10 || (l - 2) % 8 != 0)
                return OPT_BAD_FIXED;
            o->n_sack = (uint8_t)((l - 2) / 8);
            for (size_t b = 0; b < o->n_sack; b++) {
                o->sack[b].left = sl_load32(v + 8 * b);
                o->sack[b].right = sl_load32(v + 8 * b + 4);
            }
            break;
        case 8:
            if (l != 10)
                return OPT_BAD_FIXED;
            o->has_ts = true;
            o->ts_val = sl_load32(v);
            o->ts_ecr = sl_load32(v + 4);
            break;
        default:
            if (o->n_unknown < 255)
                o->n_unknown++;
            break;
        }
        i += l;
    }
    return OPT_OK;
}

static void check_opts_same(const sl_tcp_opts *a, const sl_tcp_opts *b, bool unknown_too)
{
    FZ_CHECK(a->has_mss == b->has_mss && (!a->has_mss || a->mss == b->mss));
    FZ_CHECK(a->has_wscale == b->has_wscale && (!a->has_wscale || a->wscale == b->wscale));
    FZ_CHECK(a->sack_perm == b->sack_perm);
    FZ_CHECK(a->has_ts == b->has_ts);
    if (a->has_ts)
        FZ_CHECK(a->ts_val == b->ts_val && a->ts_ecr == b->ts_ecr);
    FZ_CHECK(a->n_sack == b->n_sack && a->n_sack <= SL_TCP_MAX_SACK);
    for (size_t i = 0; i < a->n_sack; i++)
        FZ_CHECK(a->sack[i].left == b->sack[i].left && a->sack[i].right == b->sack[i].right);
    if (unknown_too)
        FZ_CHECK(a->n_unknown == b->n_unknown);
}

static void check_view(const uint8_t *p, size_t len, const sl_pseudo *ph, const sl_tcp_hdr *h)
{
    FZ_CHECK(len >= SL_TCP_HDR_MIN);
    FZ_CHECK(h->sport == sl_load16(p) && h->dport == sl_load16(p + 2));
    FZ_CHECK(h->seq == sl_load32(p + 4) && h->ack == sl_load32(p + 8));
    FZ_CHECK(h->doff == (p[12] >> 4) && h->doff >= 5);
    size_t hlen = (size_t)h->doff * 4;
    FZ_CHECK(hlen <= len);
    FZ_CHECK(h->reserved == (p[12] & 0x0f));
    FZ_CHECK(h->flags == p[13]);
    FZ_CHECK(h->window == sl_load16(p + 14));
    FZ_CHECK(h->checksum == sl_load16(p + 16));
    FZ_CHECK(h->urgent == sl_load16(p + 18));
    FZ_CHECK(fz_in(h->opts, h->opts_len, p, len));
    FZ_CHECK(h->opts_len == hlen - SL_TCP_HDR_MIN);
    FZ_CHECK(h->opts_len == 0 || h->opts == p + SL_TCP_HDR_MIN);
    FZ_CHECK(fz_in(h->payload, h->payload_len, p, len));
    FZ_CHECK(h->payload_len == len - hlen);
    FZ_CHECK(h->payload_len == 0 || h->payload == p + hlen);
    if (ph != NULL)
        FZ_CHECK(fz_l4_ok(ph, SL_IPPROTO_TCP, p, len));

    sl_tcp_opts want;
    FZ_CHECK(walk_opts(p + SL_TCP_HDR_MIN, hlen - SL_TCP_HDR_MIN, &want) == OPT_OK);
    check_opts_same(&want, &h->o, true);

    sl_tcp_opts alone;
    memset(&alone, 0xa5, sizeof alone);
    FZ_CHECK_ERR(sl_tcp_opts_parse(p + SL_TCP_HDR_MIN, hlen - SL_TCP_HDR_MIN, &alone), SL_OK);
    check_opts_same(&h->o, &alone, true);

    size_t urg = (h->flags & SL_TCP_URG) == 0 ? 0
                 : h->urgent < h->payload_len ? h->urgent
                                              : h->payload_len;
    FZ_CHECK(sl_tcp_urgent_len(h) == urg);
}

static sl_error emit_adapter(const void *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                             size_t *written)
{
    return sl_tcp_emit(h, ph, buf, cap, written);
}

static uint8_t *emit_variant(const sl_tcp_hdr *h, const sl_pseudo *ph, unsigned variant,
                             size_t *n_out)
{
    sl_error err = SL_OK;
    size_t olen = sl_tcp_opts_len(&h->o, &err);
    /* Options that came out of <= 40 bytes always fit again (packed). */
    FZ_CHECK_ERR(err, SL_OK);
    FZ_CHECK(olen % 4 == 0 && olen <= SL_TCP_OPT_MAX);
    size_t hlen = SL_TCP_HDR_MIN + olen;
    size_t n = sl_tcp_emit_len(h);
    FZ_CHECK(n == hlen + h->payload_len);
    uint8_t *out = fz_alloc(n);
    memset(out, 0xee, n);
    sl_tcp_hdr e = *h;
    if (variant != 0 && h->payload_len > 0) {
        memcpy(out + hlen, h->payload, h->payload_len);
        e.payload = variant == 1 ? NULL : out + hlen;
    }
    size_t w = 0;
    FZ_CHECK_ERR(sl_tcp_emit(&e, ph, out, n, &w), SL_OK);
    FZ_CHECK(w == n);
    FZ_CHECK((size_t)(out[12] >> 4) * 4 == hlen);
    if (ph == NULL)
        FZ_CHECK(sl_load16(out + 16) == 0);
    else
        FZ_CHECK(fz_l4_ok(ph, SL_IPPROTO_TCP, out, n));
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
    unsigned fam = mode == 1 ? 4 : mode == 2 ? 6 : mode == 3 ? ((ctl & 4u) ? 6 : 4) : 0;
    sl_pseudo phs;
    const sl_pseudo *ph = fz_pseudo(&phs, fam, set);
    if ((mode == 1 || mode == 2) && len >= SL_TCP_HDR_MIN) {
        p[16] = p[17] = 0;
        sl_store16(p + 16, fz_l4_csum(ph, SL_IPPROTO_TCP, p, len));
    }

    sl_tcp_hdr h;
    memset(&h, 0xa5, sizeof h);
    sl_error e = sl_tcp_parse(p, len, ph, &h);
    if (e != SL_OK) {
        FZ_CHECK_ERR_IN(e, k_errs);
        if (e == SL_ERR_TCP_OPT_LEN || e == SL_ERR_TCP_OPT_FIXED) {
            FZ_CHECK(len >= SL_TCP_HDR_MIN);
            size_t hlen = (size_t)(p[12] >> 4) * 4;
            FZ_CHECK(hlen >= SL_TCP_HDR_MIN && hlen <= len);
            sl_tcp_opts o;
            int want = walk_opts(p + SL_TCP_HDR_MIN, hlen - SL_TCP_HDR_MIN, &o);
            FZ_CHECK(want == (e == SL_ERR_TCP_OPT_LEN ? OPT_BAD_LEN : OPT_BAD_FIXED));
        }
        if (e == SL_ERR_TCP_CHECKSUM)
            FZ_CHECK(ph != NULL && !fz_l4_ok(ph, SL_IPPROTO_TCP, p, len));
        free(p);
        return 0;
    }
    check_view(p, len, ph, &h);

    /* Emit with the same pseudo-header (or, from NULL, maybe a real one). */
    sl_pseudo ephs;
    const sl_pseudo *eph = ph;
    if (ph == NULL && (ctl & 0x40u))
        eph = fz_pseudo(&ephs, (ctl & 4u) ? 6 : 4, set);
    size_t n;
    uint8_t *out = emit_variant(&h, eph, (ctl >> 3) & 3u, &n);
    FZ_CHECK(memcmp(out, p, 12) == 0); /* ports, seq, ack */
    sl_tcp_hdr h2;
    memset(&h2, 0x5a, sizeof h2);
    FZ_CHECK_ERR(sl_tcp_parse(out, n, eph, &h2), SL_OK);
    check_view(out, n, eph, &h2);
    FZ_CHECK(h2.sport == h.sport && h2.dport == h.dport && h2.seq == h.seq && h2.ack == h.ack);
    FZ_CHECK(h2.flags == h.flags && h2.reserved == h.reserved);
    FZ_CHECK(h2.window == h.window && h2.urgent == h.urgent);
    check_opts_same(&h.o, &h2.o, false);
    FZ_CHECK(h2.o.n_unknown == 0);
    FZ_CHECK(fz_same_bytes(h.payload, h.payload_len, h2.payload, h2.payload_len));

    /* Canonical: re-emitting the re-parsed segment gives the same bytes. */
    size_t n3;
    uint8_t *out3 = emit_variant(&h2, eph, 0, &n3);
    FZ_CHECK(n3 == n && memcmp(out3, out, n) == 0);
    free(out3);

    fz_check_short_buffer(emit_adapter, &h, eph, n);

    /* Five SACK blocks do not exist: refused without writing. */
    sl_tcp_hdr bad = h;
    bad.o.n_sack = SL_TCP_MAX_SACK + 1;
    size_t w = 0;
    memcpy(out, p, n < len ? n : len);
    uint8_t *snap = fz_dup(out, n);
    e = sl_tcp_emit(&bad, eph, out, n, &w);
    FZ_CHECK(e == SL_ERR_INVAL || e == SL_ERR_TCP_OPT_SPACE);
    FZ_CHECK(memcmp(snap, out, n) == 0);
    free(snap);

    free(out);
    free(p);
    return 0;
}
