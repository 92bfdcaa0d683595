/* Unit tests for src/wire/ipv6.c (RFC 8200 header + extension chain). */
#include "unit_util.h"

/* ---- builders --------------------------------------------------------- */

/* Fixed header (nh, plen = extlen + paylen) + ext bytes + paylen pattern
 * bytes.  Returns the total length. */
static size_t ip6_build(uint8_t *b, size_t cap, unsigned nh, const uint8_t *ext, size_t extlen,
                        size_t paylen)
{
    bb x = bb_make(b, cap);
    bb_u32(&x, 6u << 28 | 0xabu << 20 | 0x12345u);
    bb_u16(&x, (unsigned)(extlen + paylen));
    bb_u8(&x, nh);
    bb_u8(&x, 64);
    bb_mem(&x, T_SRC6, 16);
    bb_mem(&x, T_DST6, 16);
    bb_mem(&x, ext, extlen);
    bb_pattern(&x, paylen, 9);
    return x.n;
}

/* Hop-by-Hop / Destination Options header around n TLV bytes (n + 2 must
 * be a multiple of 8). */
static void ext_opts(bb *x, unsigned next, const uint8_t *tlv, size_t n)
{
    ck_assert_uint_eq((n + 2) % 8, 0);
    bb_u8(x, next);
    bb_u8(x, (unsigned)((n + 2) / 8 - 1));
    bb_mem(x, tlv, n);
}

/* An 8-byte Destination Options header holding PadN(4). */
static void ext_pad(bb *x, unsigned next)
{
    static const uint8_t padn[6] = {1, 4, 0, 0, 0, 0};
    ext_opts(x, next, padn, 6);
}

static void ext_frag(bb *x, unsigned next, unsigned off, bool more, uint32_t id)
{
    bb_u8(x, next);
    bb_u8(x, 0);
    bb_u16(x, off << 3 | (more ? 1u : 0u));
    bb_u32(x, id);
}

static void ext_routing(bb *x, unsigned next, unsigned hdrlen, unsigned type, unsigned segs)
{
    bb_u8(x, next);
    bb_u8(x, hdrlen);
    bb_u8(x, type);
    bb_u8(x, segs);
    for (size_t i = 4; i < ((size_t)hdrlen + 1) * 8; i++)
        bb_u8(x, 0);
}

static sl_error parse_g(const uint8_t *b, size_t len, sl_ipv6_hdr *h)
{
    return sl_ipv6_parse(at_guard(b, len), len, h);
}

/* Parse: fixed header with first next header nh, the ext bytes, paylen. */
static sl_error parse_ext(unsigned nh, const bb *ext, size_t paylen, sl_ipv6_hdr *h)
{
    static uint8_t b[70000];
    size_t n = ip6_build(b, sizeof b, nh, ext->b, ext->n, paylen);
    return parse_g(b, n, h);
}

/* ---- basic ------------------------------------------------------------ */

START_TEST(parse_basic_fields)
{
    uint8_t b[128];
    size_t n = ip6_build(b, sizeof b, SL_IPPROTO_TCP, NULL, 0, 20);
    memset(b + n, 0xee, 6); /* link padding past 40 + plen */
    sl_ipv6_hdr h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *p = at_guard(b, n + 6);
    ck_assert_int_eq(sl_ipv6_parse(p, n + 6, &h), SL_OK);
    ck_assert_uint_eq(h.tclass, 0xab);
    ck_assert_uint_eq(h.flow, 0x12345);
    ck_assert_uint_eq(h.plen, 20);
    ck_assert_uint_eq(h.next_header, SL_IPPROTO_TCP);
    ck_assert_uint_eq(h.hop_limit, 64);
    ck_assert_mem_eq(h.src, T_SRC6, 16);
    ck_assert_mem_eq(h.dst, T_DST6, 16);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_TCP);
    ck_assert_uint_eq(h.n_ext, 0);
    ck_assert_uint_eq(h.nh_off, 6); /* the fixed header's next-header byte */
    ck_assert_uint_eq(h.ext_len, 0);
    ck_assert(!h.has_hbh && !h.has_routing && !h.has_dstopts);
    ck_assert_uint_eq(h.routing_type, 0);
    ck_assert_uint_eq(h.segments_left, 0);
    ck_assert(!h.router_alert);
    ck_assert_uint_eq(h.opt_action, 0);
    ck_assert_uint_eq(h.opt_ptr, 0);
    ck_assert(!h.has_frag && !h.is_fragment && !h.atomic_frag);
    ck_assert_uint_eq(h.frag_off, 0);
    ck_assert(!h.frag_more);
    ck_assert_uint_eq(h.frag_id, 0);
    ck_assert_uint_eq(h.unfrag_len, 0);
    ck_assert_ptr_eq(h.payload, p + 40);
    ck_assert_uint_eq(h.payload_len, 20);
    /* empty payload */
    n = ip6_build(b, sizeof b, SL_IPPROTO_NONE, NULL, 0, 0);
    ck_assert_int_eq(parse_g(b, n, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, 0);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_NONE);
}
END_TEST

START_TEST(err_truncated_version_plen)
{
    uint8_t b[128];
    size_t n = ip6_build(b, sizeof b, SL_IPPROTO_UDP, NULL, 0, 8);
    sl_ipv6_hdr h;
    for (size_t l = 0; l < 40; l++)
        ck_assert_int_eq(parse_g(b, l, &h), SL_ERR_TRUNCATED);
    static const unsigned vers[] = {0, 4, 5, 7, 15};
    for (size_t i = 0; i < sizeof vers / sizeof vers[0]; i++) {
        b[0] = (uint8_t)(vers[i] << 4 | (b[0] & 0x0fu));
        ck_assert_int_eq(parse_g(b, n, &h), SL_ERR_IP_VERSION);
    }
    b[0] = (uint8_t)(0x60u | (b[0] & 0x0fu));
    ck_assert_int_eq(parse_g(b, n, &h), SL_OK);
    for (size_t l = 40; l < n; l++)
        ck_assert_int_eq(parse_g(b, l, &h), SL_ERR_IPV6_PAYLOAD_LEN);
    sl_store16(b + 4, 0xffff);
    ck_assert_int_eq(parse_g(b, n, &h), SL_ERR_IPV6_PAYLOAD_LEN);
    sl_store16(b + 4, 9);
    ck_assert_int_eq(parse_g(b, n, &h), SL_ERR_IPV6_PAYLOAD_LEN);
}
END_TEST

/* ---- extension headers: truncation, chain length, order -------------- */

START_TEST(err_ext_truncated_each_type)
{
    static const unsigned types[] = {SL_IPPROTO_HOPOPTS, SL_IPPROTO_ROUTING, SL_IPPROTO_DSTOPTS,
                                     SL_IPPROTO_FRAGMENT};
    uint8_t e[64];
    sl_ipv6_hdr h;
    for (size_t t = 0; t < 4; t++) {
        /* fewer than 8 bytes left: 0..7 */
        for (size_t have = 0; have < 8; have++) {
            bb x = bb_make(e, sizeof e);
            bb_u8(&x, SL_IPPROTO_NONE);
            bb_u8(&x, 0);
            while (x.n < 8)
                bb_u8(&x, 1);
            x.n = have;
            ck_assert_int_eq(parse_ext(types[t], &x, 0, &h), SL_ERR_IPV6_EXT_TRUNC);
        }
        if (types[t] == SL_IPPROTO_FRAGMENT)
            continue; /* fixed 8 bytes: no length field */
        /* (hdrlen+1)*8 past the payload end */
        for (unsigned hdrlen = 1; hdrlen < 4; hdrlen++) {
            bb x = bb_make(e, sizeof e);
            bb_u8(&x, SL_IPPROTO_NONE);
            bb_u8(&x, hdrlen);
            while (x.n < (size_t)hdrlen * 8 + 7)
                bb_u8(&x, types[t] == SL_IPPROTO_ROUTING ? 0x77 : 0);
            ck_assert_int_eq(parse_ext(types[t], &x, 0, &h), SL_ERR_IPV6_EXT_TRUNC);
            bb_u8(&x, 0); /* exactly enough */
            ck_assert_int_eq(parse_ext(types[t], &x, 0, &h), SL_OK);
        }
    }
    /* bytes beyond the payload length (link padding) do not count */
    uint8_t b[128];
    bb x = bb_make(e, sizeof e);
    ext_pad(&x, SL_IPPROTO_NONE);
    size_t n = ip6_build(b, sizeof b, SL_IPPROTO_DSTOPTS, e, 8, 0);
    sl_store16(b + 4, 4);
    ck_assert_int_eq(parse_g(b, n, &h), SL_ERR_IPV6_EXT_TRUNC);
}
END_TEST

START_TEST(ext_chain_limit)
{
    uint8_t e[128];
    sl_ipv6_hdr h;
    for (size_t k = 1; k <= 9; k++) {
        bb x = bb_make(e, sizeof e);
        for (size_t i = 0; i < k; i++)
            ext_pad(&x, i + 1 < k ? SL_IPPROTO_DSTOPTS : SL_IPPROTO_UDP);
        sl_error r = parse_ext(SL_IPPROTO_DSTOPTS, &x, 8, &h);
        if (k <= SL_IPV6_MAX_EXT) {
            ck_assert_int_eq(r, SL_OK);
            ck_assert_uint_eq(h.n_ext, k);
            ck_assert_uint_eq(h.ext_len, 8 * k);
            ck_assert_uint_eq(h.nh_off, 40 + 8 * (k - 1));
            ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
            ck_assert_uint_eq(h.payload_len, 8);
            ck_assert(h.has_dstopts);
        } else {
            ck_assert_int_eq(r, SL_ERR_IPV6_EXT_CHAIN);
        }
    }
    /* HBH + routing + atomic fragment + 5 dstopts = 8, then a 9th */
    bb x = bb_make(e, sizeof e);
    ext_pad(&x, SL_IPPROTO_ROUTING);
    ext_routing(&x, SL_IPPROTO_FRAGMENT, 0, 4, 0);
    ext_frag(&x, SL_IPPROTO_DSTOPTS, 0, false, 1);
    for (int i = 0; i < 5; i++)
        ext_pad(&x, i < 4 ? SL_IPPROTO_DSTOPTS : SL_IPPROTO_TCP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 0, &h), SL_OK);
    ck_assert_uint_eq(h.n_ext, 8);
    x.b[x.n - 8] = SL_IPPROTO_ROUTING; /* last dstopts now points at a 9th */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 0, &h), SL_ERR_IPV6_EXT_CHAIN);
}
END_TEST

START_TEST(err_hbh_not_first)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_pad(&x, SL_IPPROTO_HOPOPTS);
    ext_pad(&x, SL_IPPROTO_UDP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_DSTOPTS, &x, 0, &h), SL_ERR_IPV6_HBH_ORDER);
    /* HBH, HBH */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 0, &h), SL_ERR_IPV6_HBH_ORDER);
    /* routing, HBH */
    x = bb_make(e, sizeof e);
    ext_routing(&x, SL_IPPROTO_HOPOPTS, 0, 2, 0);
    ext_pad(&x, SL_IPPROTO_UDP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_ROUTING, &x, 0, &h), SL_ERR_IPV6_HBH_ORDER);
    /* atomic fragment, HBH */
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_HOPOPTS, 0, false, 7);
    ext_pad(&x, SL_IPPROTO_UDP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 0, &h), SL_ERR_IPV6_HBH_ORDER);
    /* HBH first is fine */
    x = bb_make(e, sizeof e);
    ext_pad(&x, SL_IPPROTO_UDP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 0, &h), SL_OK);
    ck_assert(h.has_hbh);
    ck_assert(!h.has_dstopts);
}
END_TEST

/* ---- TLV options ------------------------------------------------------ */

/* One HBH (or dstopts) header holding tlv[0..n-1]. */
static sl_error parse_tlv(unsigned type, const uint8_t *tlv, size_t n, sl_ipv6_hdr *h)
{
    uint8_t e[64];
    bb x = bb_make(e, sizeof e);
    ext_opts(&x, SL_IPPROTO_NONE, tlv, n);
    return parse_ext(type, &x, 0, h);
}

START_TEST(tlv_padding)
{
    sl_ipv6_hdr h;
    static const uint8_t pad1[6] = {0, 0, 0, 0, 0, 0};
    static const uint8_t padn4[6] = {1, 4, 0, 0, 0, 0};
    static const uint8_t mix[6] = {0, 1, 3, 0, 0, 0};
    static const uint8_t padn0[6] = {1, 0, 1, 0, 1, 0};
    static const uint8_t padn12[14] = {1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned types[2] = {SL_IPPROTO_HOPOPTS, SL_IPPROTO_DSTOPTS};
    for (size_t t = 0; t < 2; t++) {
        ck_assert_int_eq(parse_tlv(types[t], pad1, 6, &h), SL_OK);
        ck_assert_int_eq(parse_tlv(types[t], padn4, 6, &h), SL_OK);
        ck_assert_int_eq(parse_tlv(types[t], mix, 6, &h), SL_OK);
        ck_assert_int_eq(parse_tlv(types[t], padn0, 6, &h), SL_OK);
        ck_assert_int_eq(parse_tlv(types[t], padn12, 14, &h), SL_OK);
        ck_assert_uint_eq(h.ext_len, 16);
        ck_assert_uint_eq(h.opt_action, 0);
        ck_assert(!h.router_alert);
    }
}
END_TEST

START_TEST(tlv_err_len)
{
    sl_ipv6_hdr h;
    static const uint8_t padn5[6] = {1, 5, 0, 0, 0, 0};
    static const uint8_t padn_big[6] = {1, 0xff, 0, 0, 0, 0};
    static const uint8_t type_only[6] = {0, 0, 0, 0, 0, 1};
    static const uint8_t unk_only[6] = {1, 2, 0, 0, 0, 0x3e};
    static const uint8_t ra_only[6] = {0, 0, 0, 0, 0, 5};
    static const uint8_t late_over[6] = {0, 1, 0, 0x3e, 2, 0};
    static const unsigned types[2] = {SL_IPPROTO_HOPOPTS, SL_IPPROTO_DSTOPTS};
    for (size_t t = 0; t < 2; t++) {
        ck_assert_int_eq(parse_tlv(types[t], padn5, 6, &h), SL_ERR_IPV6_OPT_LEN);
        ck_assert_int_eq(parse_tlv(types[t], padn_big, 6, &h), SL_ERR_IPV6_OPT_LEN);
        ck_assert_int_eq(parse_tlv(types[t], type_only, 6, &h), SL_ERR_IPV6_OPT_LEN);
        ck_assert_int_eq(parse_tlv(types[t], unk_only, 6, &h), SL_ERR_IPV6_OPT_LEN);
        ck_assert_int_eq(parse_tlv(types[t], ra_only, 6, &h), SL_ERR_IPV6_OPT_LEN);
        ck_assert_int_eq(parse_tlv(types[t], late_over, 6, &h), SL_ERR_IPV6_OPT_LEN);
    }
}
END_TEST

START_TEST(tlv_jumbo)
{
    sl_ipv6_hdr h;
    static const uint8_t jumbo[6] = {0xc2, 4, 0, 1, 0, 0};
    static const uint8_t jumbo_late[14] = {1, 2, 0, 0, 0, 0xc2, 4, 0, 1, 0, 0, 1, 1, 0};
    static const uint8_t jumbo_over[6] = {0xc2, 5, 0, 1, 0, 0};
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, jumbo, 6, &h), SL_ERR_IPV6_JUMBO);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, jumbo_late, 14, &h), SL_ERR_IPV6_JUMBO);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_DSTOPTS, jumbo, 6, &h), SL_ERR_IPV6_JUMBO);
    /* a length past the header is reported as such first */
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, jumbo_over, 6, &h), SL_ERR_IPV6_OPT_LEN);
}
END_TEST

START_TEST(tlv_router_alert)
{
    sl_ipv6_hdr h;
    static const uint8_t ra[6] = {5, 2, 0, 0, 1, 0};
    static const uint8_t ra0[6] = {5, 0, 1, 2, 0, 0};
    static const uint8_t ra1[6] = {5, 1, 0, 1, 1, 0};
    static const uint8_t ra3[6] = {5, 3, 0, 0, 0, 0};
    static const uint8_t ra4[6] = {5, 4, 0, 0, 0, 0};
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, ra, 6, &h), SL_OK);
    ck_assert(h.router_alert);
    ck_assert_uint_eq(h.opt_action, 0);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, ra0, 6, &h), SL_ERR_IPV6_OPT_LEN);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, ra1, 6, &h), SL_ERR_IPV6_OPT_LEN);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, ra3, 6, &h), SL_ERR_IPV6_OPT_LEN);
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, ra4, 6, &h), SL_ERR_IPV6_OPT_LEN);
    /* router_alert is reset on the next parse */
    static const uint8_t pad[6] = {1, 4, 0, 0, 0, 0};
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, pad, 6, &h), SL_OK);
    ck_assert(!h.router_alert);
}
END_TEST

START_TEST(tlv_unknown_action)
{
    sl_ipv6_hdr h;
    for (unsigned a = 0; a < 4; a++) {
        uint8_t tlv[6] = {(uint8_t)(a << 6 | 0x1e), 4, 0, 0, 0, 0};
        ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, tlv, 6, &h), SL_OK);
        ck_assert_uint_eq(h.opt_action, a);
        ck_assert_uint_eq(h.opt_ptr, a == 0 ? 0 : 42);
        /* the change-en-route bit does not matter */
        tlv[0] |= 0x20;
        ck_assert_int_eq(parse_tlv(SL_IPPROTO_DSTOPTS, tlv, 6, &h), SL_OK);
        ck_assert_uint_eq(h.opt_action, a);
    }
    /* the first non-skip option wins (RFC 8200 §4.2: in order) */
    static const uint8_t mixed[6] = {0x1e, 0, 0x5e, 0, 0xde, 0};
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, mixed, 6, &h), SL_OK);
    ck_assert_uint_eq(h.opt_action, 1);
    ck_assert_uint_eq(h.opt_ptr, 44);
    /* an equal action later does not move the pointer */
    static const uint8_t equal[6] = {0x5e, 0, 0x7e, 0, 1, 0};
    ck_assert_int_eq(parse_tlv(SL_IPPROTO_HOPOPTS, equal, 6, &h), SL_OK);
    ck_assert_uint_eq(h.opt_action, 1);
    ck_assert_uint_eq(h.opt_ptr, 42);
    /* across headers: offset counts from the IPv6 header start */
    uint8_t e[64];
    bb x = bb_make(e, sizeof e);
    static const uint8_t a1[6] = {0x00, 0, 0x5e, 2, 0, 0}; /* Pad1 x2, action 1 at +4 */
    static const uint8_t a2[6] = {1, 0, 0x9e, 0, 0, 0};    /* action 2 at +4 */
    ext_opts(&x, SL_IPPROTO_ROUTING, a1, 6);
    ext_routing(&x, SL_IPPROTO_DSTOPTS, 1, 0, 0);
    ext_opts(&x, SL_IPPROTO_UDP, a2, 6);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 8, &h), SL_OK);
    ck_assert_uint_eq(h.opt_action, 1); /* the Hop-by-Hop one comes first */
    ck_assert_uint_eq(h.opt_ptr, 40 + 4);
    ck_assert(h.has_hbh && h.has_routing && h.has_dstopts);
    ck_assert_uint_eq(h.n_ext, 3);
    ck_assert_uint_eq(h.ext_len, 32);
    ck_assert_uint_eq(h.nh_off, 64);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
    /* an option in an earlier header decides, whatever its action */
    x.b[2] = 0xde;
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 8, &h), SL_OK);
    ck_assert_uint_eq(h.opt_action, 3);
    ck_assert_uint_eq(h.opt_ptr, 42);
    x.b[2] = 0x5e;
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 8, &h), SL_OK);
    ck_assert_uint_eq(h.opt_action, 1);
    ck_assert_uint_eq(h.opt_ptr, 42);
}
END_TEST

/* ---- fragment header -------------------------------------------------- */

START_TEST(frag_fields)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 100, false, 0xdeadbeefu);
    uint8_t b[128];
    size_t n = ip6_build(b, sizeof b, SL_IPPROTO_FRAGMENT, e, x.n, 5);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_ipv6_parse(p, n, &h), SL_OK);
    ck_assert(h.has_frag && h.is_fragment && !h.atomic_frag);
    ck_assert_uint_eq(h.frag_off, 100);
    ck_assert(!h.frag_more);
    ck_assert_uint_eq(h.frag_id, 0xdeadbeefu);
    ck_assert_uint_eq(h.unfrag_len, 40);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
    ck_assert_ptr_eq(h.payload, p + 48);
    ck_assert_uint_eq(h.payload_len, 5);
    ck_assert_uint_eq(h.n_ext, 1);
    ck_assert_uint_eq(h.ext_len, 8);
    ck_assert_uint_eq(h.nh_off, 40);
    /* reserved bits (byte 1, offset-word bits 1-2) are ignored */
    b[41] = 0xff;
    b[43] |= 0x06;
    ck_assert_int_eq(parse_g(b, n, &h), SL_OK);
    ck_assert_uint_eq(h.frag_off, 100);
    ck_assert(!h.frag_more);

    /* first fragment: offset 0, M set */
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_TCP, 0, true, 5);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 16, &h), SL_OK);
    ck_assert(h.is_fragment && !h.atomic_frag && h.frag_more);
    ck_assert_uint_eq(h.frag_off, 0);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_TCP);
    ck_assert_uint_eq(h.payload_len, 16);

    /* after HBH: unfragmentable part includes it; the walk stops at the
     * fragment header even if what follows is an extension header */
    x = bb_make(e, sizeof e);
    ext_pad(&x, SL_IPPROTO_FRAGMENT);
    ext_frag(&x, SL_IPPROTO_DSTOPTS, 3, true, 9);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_HOPOPTS, &x, 8, &h), SL_OK);
    ck_assert_uint_eq(h.unfrag_len, 48);
    ck_assert_uint_eq(h.nh_off, 48);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_DSTOPTS);
    ck_assert(!h.has_dstopts);
    ck_assert_uint_eq(h.n_ext, 2);
    ck_assert_uint_eq(h.ext_len, 16);
    ck_assert_uint_eq(h.payload_len, 8);
}
END_TEST

START_TEST(frag_err_multiple_of_8)
{
    uint8_t e[16];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 10, true, 1);
    for (size_t data = 0; data <= 24; data++) {
        sl_error want = (data % 8 == 0) ? SL_OK : SL_ERR_IPV6_FRAG;
        ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, data, &h), want);
    }
    /* the last fragment may have any length */
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 10, false, 1);
    for (size_t data = 0; data <= 24; data++)
        ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, data, &h), SL_OK);
}
END_TEST

START_TEST(frag_err_past_65535)
{
    uint8_t e[16];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 8191, false, 1); /* 65528 */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 7, &h), SL_OK);
    ck_assert_uint_eq(h.frag_off, 8191);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 8, &h), SL_ERR_IPV6_FRAG);
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 8190, true, 1); /* 65520 */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 8, &h), SL_OK);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 16, &h), SL_ERR_IPV6_FRAG);
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 1, false, 1); /* 8 + 65527 data */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 65527, &h), SL_OK);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 65528 - 8, &h), SL_OK);
    /* plen caps the data at 65535 - 8 = 65527; offset 2 pushes it over */
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_UDP, 2, false, 1);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 65520, &h), SL_ERR_IPV6_FRAG);
}
END_TEST

START_TEST(frag_atomic_walked_through)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_TCP, 0, false, 0x01020304u);
    uint8_t b[128];
    size_t n = ip6_build(b, sizeof b, SL_IPPROTO_FRAGMENT, e, x.n, 20);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_ipv6_parse(p, n, &h), SL_OK);
    ck_assert(h.has_frag && h.atomic_frag && !h.is_fragment);
    ck_assert_uint_eq(h.frag_id, 0x01020304u);
    ck_assert_uint_eq(h.unfrag_len, 40);
    ck_assert_uint_eq(h.nh_off, 40);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_TCP);
    ck_assert_ptr_eq(h.payload, p + 48);
    ck_assert_uint_eq(h.payload_len, 20);
    /* odd length is fine for an atomic fragment */
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 13, &h), SL_OK);
    /* and the chain continues after it */
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_DSTOPTS, 0, false, 1);
    ext_pad(&x, SL_IPPROTO_UDP);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 8, &h), SL_OK);
    ck_assert(h.atomic_frag && h.has_dstopts);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
    ck_assert_uint_eq(h.n_ext, 2);
    ck_assert_uint_eq(h.ext_len, 16);
    ck_assert_uint_eq(h.nh_off, 48);
}
END_TEST

START_TEST(frag_err_duplicate)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_FRAGMENT, 0, false, 1);
    ext_frag(&x, SL_IPPROTO_UDP, 0, false, 2);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 8, &h), SL_ERR_IPV6_FRAG);
    x = bb_make(e, sizeof e);
    ext_frag(&x, SL_IPPROTO_DSTOPTS, 0, false, 1);
    ext_pad(&x, SL_IPPROTO_FRAGMENT);
    ext_frag(&x, SL_IPPROTO_UDP, 5, true, 2);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_FRAGMENT, &x, 8, &h), SL_ERR_IPV6_FRAG);
}
END_TEST

/* ---- routing / stop headers ------------------------------------------- */

START_TEST(routing_fields)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    bb x = bb_make(e, sizeof e);
    ext_routing(&x, SL_IPPROTO_UDP, 2, 4, 3);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_ROUTING, &x, 8, &h), SL_OK);
    ck_assert(h.has_routing && !h.has_hbh && !h.has_dstopts);
    ck_assert_uint_eq(h.routing_type, 4);
    ck_assert_uint_eq(h.segments_left, 3);
    ck_assert_uint_eq(h.n_ext, 1);
    ck_assert_uint_eq(h.ext_len, 24);
    ck_assert_uint_eq(h.nh_off, 40);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
    ck_assert_uint_eq(h.payload_len, 8);
    /* type 0 is reported, not rejected (RFC 5095 is the IP layer's) */
    x = bb_make(e, sizeof e);
    ext_routing(&x, SL_IPPROTO_TCP, 0, 0, 255);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_ROUTING, &x, 0, &h), SL_OK);
    ck_assert_uint_eq(h.routing_type, 0);
    ck_assert_uint_eq(h.segments_left, 255);
    /* two routing headers: the last one is reported */
    x = bb_make(e, sizeof e);
    ext_routing(&x, SL_IPPROTO_ROUTING, 0, 2, 1);
    ext_routing(&x, SL_IPPROTO_UDP, 0, 3, 0);
    ck_assert_int_eq(parse_ext(SL_IPPROTO_ROUTING, &x, 0, &h), SL_OK);
    ck_assert_uint_eq(h.routing_type, 3);
    ck_assert_uint_eq(h.n_ext, 2);
}
END_TEST

START_TEST(stop_at_ah_esp_none)
{
    uint8_t e[64];
    sl_ipv6_hdr h;
    static const unsigned stops[] = {SL_IPPROTO_AH, SL_IPPROTO_ESP, SL_IPPROTO_NONE,
                                     SL_IPPROTO_ICMPV6, 253};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        /* directly after the fixed header, with ext-header-looking bytes */
        bb x = bb_make(e, sizeof e);
        for (int k = 0; k < 16; k++)
            bb_u8(&x, 0);
        ck_assert_int_eq(parse_ext(stops[i], &x, 0, &h), SL_OK);
        ck_assert_uint_eq(h.proto, stops[i]);
        ck_assert_uint_eq(h.n_ext, 0);
        ck_assert_uint_eq(h.nh_off, 6);
        ck_assert_uint_eq(h.payload_len, 16);
        /* after a dstopts header */
        x = bb_make(e, sizeof e);
        ext_pad(&x, stops[i]);
        bb_u8(&x, 0);
        bb_u8(&x, 0xff);
        ck_assert_int_eq(parse_ext(SL_IPPROTO_DSTOPTS, &x, 0, &h), SL_OK);
        ck_assert_uint_eq(h.proto, stops[i]);
        ck_assert_uint_eq(h.n_ext, 1);
        ck_assert_uint_eq(h.nh_off, 40);
        ck_assert_uint_eq(h.payload_len, 2);
    }
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

static sl_ipv6_hdr emit_hdr(const uint8_t *pl, size_t plen)
{
    sl_ipv6_hdr h;
    memset(&h, 0, sizeof h);
    h.tclass = 0xff;
    h.flow = 0xfffff;
    h.plen = 3; /* ignored */
    h.next_header = SL_IPPROTO_UDP;
    h.hop_limit = 255;
    memcpy(h.src, T_SRC6, 16);
    memcpy(h.dst, T_DST6, 16);
    h.payload = pl;
    h.payload_len = plen;
    return h;
}

START_TEST(emit_exact_roundtrip)
{
    uint8_t pl[11];
    fill_pattern(pl, sizeof pl, 2);
    sl_ipv6_hdr h = emit_hdr(pl, sizeof pl);
    ck_assert_uint_eq(sl_ipv6_emit_len(&h), 51);
    uint8_t buf[96];
    poison(buf, sizeof buf);
    size_t w = 0;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, 51, &w), SL_OK);
    ck_assert_uint_eq(w, 51);
    ck_assert(all_poison(buf + 51, sizeof buf - 51));
    ck_assert_uint_eq(sl_load32(buf), 0x6fffffffu);
    sl_ipv6_hdr r;
    const uint8_t *p = at_guard(buf, w);
    ck_assert_int_eq(sl_ipv6_parse(p, w, &r), SL_OK);
    ck_assert_uint_eq(r.tclass, 0xff);
    ck_assert_uint_eq(r.flow, 0xfffff);
    ck_assert_uint_eq(r.plen, 11);
    ck_assert_uint_eq(r.next_header, SL_IPPROTO_UDP);
    ck_assert_uint_eq(r.hop_limit, 255);
    ck_assert_mem_eq(r.src, T_SRC6, 16);
    ck_assert_mem_eq(r.dst, T_DST6, 16);
    ck_assert_uint_eq(r.payload_len, 11);
    ck_assert_mem_eq(r.payload, pl, 11);
    /* tclass/flow boundaries */
    h = emit_hdr(NULL, 0);
    h.tclass = 0x01;
    h.flow = 0x00001;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 40);
    ck_assert_uint_eq(sl_load32(buf), 0x60100001u);
}
END_TEST

/* A caller's extension headers at the start of the payload are walked. */
START_TEST(emit_with_ext_in_payload)
{
    uint8_t pl[32];
    bb x = bb_make(pl, sizeof pl);
    static const uint8_t ra[6] = {5, 2, 0, 0, 1, 0};
    ext_opts(&x, SL_IPPROTO_DSTOPTS, ra, 6);
    ext_pad(&x, SL_IPPROTO_UDP);
    bb_pattern(&x, 8, 1);
    sl_ipv6_hdr h = emit_hdr(pl, x.n);
    h.next_header = SL_IPPROTO_HOPOPTS;
    uint8_t buf[96];
    size_t w = 0;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    sl_ipv6_hdr r;
    ck_assert_int_eq(parse_g(buf, w, &r), SL_OK);
    ck_assert(r.has_hbh && r.has_dstopts && r.router_alert);
    ck_assert_uint_eq(r.proto, SL_IPPROTO_UDP);
    ck_assert_uint_eq(r.payload_len, 8);
}
END_TEST

START_TEST(emit_inval_bufsz)
{
    uint8_t buf[96];
    size_t w = 99;
    sl_ipv6_hdr h = emit_hdr(NULL, 65536);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    h = emit_hdr(NULL, 4);
    h.flow = 0x100000;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.flow = 0xffffffffu;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    h = emit_hdr(NULL, SIZE_MAX);
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    uint8_t pl[5] = {1, 2, 3, 4, 5};
    h = emit_hdr(pl, 5);
    for (size_t cap = 0; cap < 45; cap++) {
        ck_assert_int_eq(sl_ipv6_emit(&h, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert(all_poison(buf, sizeof buf));
    }
    ck_assert_uint_eq(w, 99);
    /* the largest payload */
    uint8_t *big = malloc(65575 + 8);
    ck_assert_ptr_nonnull(big);
    poison(big, 65575 + 8);
    h = emit_hdr(NULL, 65535);
    ck_assert_int_eq(sl_ipv6_emit(&h, big, 65575, &w), SL_OK);
    ck_assert_uint_eq(w, 65575);
    ck_assert_uint_eq(sl_load16(big + 4), 65535);
    ck_assert(all_poison(big + 40, 65535 + 8));
    free(big);
}
END_TEST

START_TEST(emit_payload_null_and_overlap)
{
    uint8_t buf[96];
    uint8_t want[16];
    fill_pattern(want, sizeof want, 77);
    poison(buf, sizeof buf);
    memcpy(buf + 40, want, 16);
    sl_ipv6_hdr h = emit_hdr(NULL, 16);
    size_t w = 0;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 56);
    ck_assert_mem_eq(buf + 40, want, 16);
    ck_assert(all_poison(buf + 56, sizeof buf - 56));
    h.payload = buf + 40; /* in place */
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 40, want, 16);
    memcpy(buf + 10, want, 16); /* overlapping the header */
    h.payload = buf + 10;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 40, want, 16);
    memcpy(buf + 47, want, 16); /* overlapping, behind */
    h.payload = buf + 47;
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 40, want, 16);
    sl_ipv6_hdr r;
    ck_assert_int_eq(parse_g(buf, w, &r), SL_OK);
    /* non-NULL payload of length 0 */
    h = emit_hdr(want, 0);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_ipv6_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 40);
    ck_assert(all_poison(buf + 40, sizeof buf - 40));
}
END_TEST

/* ---- guard-page sweeps ------------------------------------------------ */

static sl_error sweep_parse(const uint8_t *p, size_t len, void *ctx)
{
    (void)ctx;
    sl_ipv6_hdr h;
    sl_error e = sl_ipv6_parse(p, len, &h);
    if (e == SL_OK)
        ck_assert_uint_le(h.payload_len + (size_t)(h.payload - p), len);
    return e;
}

/* A chain with every kind of header. */
static size_t build_full_chain(uint8_t *b, size_t cap, bool real_frag)
{
    uint8_t e[96];
    bb x = bb_make(e, sizeof e);
    static const uint8_t hbh[14] = {5, 2, 0, 0, 0x5e, 1, 0, 0, 1, 3, 0, 0, 0, 0};
    ext_opts(&x, SL_IPPROTO_ROUTING, hbh, 14);
    ext_routing(&x, SL_IPPROTO_DSTOPTS, 2, 4, 1);
    static const uint8_t dst[6] = {0x9e, 1, 0, 0, 0, 0};
    ext_opts(&x, SL_IPPROTO_FRAGMENT, dst, 6);
    ext_frag(&x, SL_IPPROTO_TCP, real_frag ? 7 : 0, false, 42);
    return ip6_build(b, cap, SL_IPPROTO_HOPOPTS, e, x.n, 20);
}

START_TEST(guard_truncation_sweep)
{
    uint8_t b[160];
    size_t n = build_full_chain(b, sizeof b, false);
    guard_sweep(b, n, sweep_parse, NULL, true);
    n = build_full_chain(b, sizeof b, true);
    guard_sweep(b, n, sweep_parse, NULL, true);
}
END_TEST

/* Truncations that also shrink the payload length field, so the walk
 * itself meets the end at every byte of the chain. */
START_TEST(guard_consistent_truncation)
{
    uint8_t b[160];
    for (int real = 0; real < 2; real++) {
        size_t n = build_full_chain(b, sizeof b, real != 0);
        size_t ok = 0;
        for (size_t l = 40; l <= n; l++) {
            uint8_t c[160];
            memcpy(c, b, l);
            sl_store16(c + 4, (uint16_t)(l - 40));
            if (sweep_parse(at_guard(c, l), l, NULL) == SL_OK)
                ok++;
        }
        ck_assert_uint_gt(ok, 0); /* the whole chain and payload prefixes */
    }
}
END_TEST

static Suite *ipv6_suite(void)
{
    Suite *s = suite_create("ipv6");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_basic_fields);
    tcase_add_test(tc, err_truncated_version_plen);
    tcase_add_test(tc, err_ext_truncated_each_type);
    tcase_add_test(tc, ext_chain_limit);
    tcase_add_test(tc, err_hbh_not_first);
    tcase_add_test(tc, routing_fields);
    tcase_add_test(tc, stop_at_ah_esp_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("tlv");
    tcase_add_test(tc, tlv_padding);
    tcase_add_test(tc, tlv_err_len);
    tcase_add_test(tc, tlv_jumbo);
    tcase_add_test(tc, tlv_router_alert);
    tcase_add_test(tc, tlv_unknown_action);
    suite_add_tcase(s, tc);

    tc = tcase_create("fragment");
    tcase_add_test(tc, frag_fields);
    tcase_add_test(tc, frag_err_multiple_of_8);
    tcase_add_test(tc, frag_err_past_65535);
    tcase_add_test(tc, frag_atomic_walked_through);
    tcase_add_test(tc, frag_err_duplicate);
    suite_add_tcase(s, tc);

    tc = tcase_create("emit");
    tcase_add_test(tc, emit_exact_roundtrip);
    tcase_add_test(tc, emit_with_ext_in_payload);
    tcase_add_test(tc, emit_inval_bufsz);
    tcase_add_test(tc, emit_payload_null_and_overlap);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_test(tc, guard_truncation_sweep);
    tcase_add_test(tc, guard_consistent_truncation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(ipv6_suite());
}
