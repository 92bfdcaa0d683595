/* Unit tests for src/wire/ipv4.c (RFC 791 header, options, emit). */
#include "unit_util.h"

/* ---- builders --------------------------------------------------------- */

/* Recompute the header checksum of the packet at b (IHL from b[0]). */
static void ip4_fix(uint8_t *b)
{
    size_t hlen = (size_t)(b[0] & 0x0f) * 4;
    sl_store16(b + 10, 0);
    sl_store16(b + 10, sl_csum(b, hlen));
}

/* An IPv4 packet: 20-byte header + opts (optlen a multiple of 4, <= 40) +
 * paylen pattern bytes, valid checksum.  Returns the total length. */
static size_t ip4_build(uint8_t *b, const uint8_t *opts, size_t optlen, size_t paylen)
{
    ck_assert_uint_eq(optlen % 4, 0);
    size_t hlen = 20 + optlen;
    bb x = bb_make(b, hlen + paylen);
    bb_u8(&x, 0x40u | (unsigned)(hlen / 4));
    bb_u8(&x, 0xb8); /* DSCP EF */
    bb_u16(&x, (unsigned)(hlen + paylen));
    bb_u16(&x, 0x1234);
    bb_u16(&x, 0x4000); /* DF */
    bb_u8(&x, 64);
    bb_u8(&x, SL_IPPROTO_UDP);
    bb_u16(&x, 0);
    bb_mem(&x, T_SRC4, 4);
    bb_mem(&x, T_DST4, 4);
    bb_mem(&x, opts, optlen);
    bb_pattern(&x, paylen, 3);
    ip4_fix(b);
    return x.n;
}

static sl_error parse_g(const uint8_t *b, size_t len, unsigned flags, sl_ipv4_hdr *h)
{
    return sl_ipv4_parse(at_guard(b, len), len, flags, h);
}

/* Parse a packet whose options area is exactly opts[0..optlen-1]. */
static sl_error parse_opts(const uint8_t *opts, size_t optlen, sl_ipv4_hdr *h)
{
    uint8_t b[80];
    size_t n = ip4_build(b, opts, optlen, 4);
    return parse_g(b, n, 0, h);
}

/* ---- parse: valid ----------------------------------------------------- */

START_TEST(parse_basic_fields)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 12);
    ck_assert_uint_eq(n, 32);
    sl_ipv4_hdr h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_ipv4_parse(p, n, 0, &h), SL_OK);
    ck_assert_uint_eq(h.ihl, 5);
    ck_assert_uint_eq(h.tos, 0xb8);
    ck_assert_uint_eq(h.total_len, 32);
    ck_assert_uint_eq(h.id, 0x1234);
    ck_assert(!h.rf);
    ck_assert(h.df);
    ck_assert(!h.mf);
    ck_assert_uint_eq(h.frag_off, 0);
    ck_assert_uint_eq(h.ttl, 64);
    ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
    ck_assert_uint_eq(h.checksum, sl_load16(b + 10));
    ck_assert_mem_eq(h.src, T_SRC4, 4);
    ck_assert_mem_eq(h.dst, T_DST4, 4);
    ck_assert_uint_eq(h.opts_len, 0);
    ck_assert_ptr_eq(h.opts, p + 20);
    ck_assert(!h.opt_source_route);
    ck_assert(!h.opt_router_alert);
    ck_assert_ptr_eq(h.payload, p + 20);
    ck_assert_uint_eq(h.payload_len, 12);
}
END_TEST

START_TEST(parse_link_padding_excluded)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 6);
    memset(b + n, 0, 60 - n); /* Ethernet minimum-frame padding */
    sl_ipv4_hdr h;
    ck_assert_int_eq(parse_g(b, 60, 0, &h), SL_OK);
    ck_assert_uint_eq(h.total_len, 26);
    ck_assert_uint_eq(h.payload_len, 6);
    /* exactly the header: empty payload */
    n = ip4_build(b, NULL, 0, 0);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, 0);
}
END_TEST

START_TEST(parse_flags_and_offset)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 8);
    sl_ipv4_hdr h;
    sl_store16(b + 6, 0x8000u | 0x2000u | 0x0123u); /* RF, MF, offset */
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    ck_assert(h.rf);
    ck_assert(!h.df);
    ck_assert(h.mf);
    ck_assert_uint_eq(h.frag_off, 0x123);
    sl_store16(b + 6, 0x1fffu); /* max offset, tiny payload: 65528 + 8 */
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_FRAG);
}
END_TEST

/* ---- parse: every error ---------------------------------------------- */

START_TEST(err_truncated)
{
    uint8_t b[64];
    ip4_build(b, NULL, 0, 0);
    sl_ipv4_hdr h;
    for (size_t l = 0; l < 20; l++)
        ck_assert_int_eq(parse_g(b, l, 0, &h), SL_ERR_TRUNCATED);
    ck_assert_int_eq(sl_ipv4_parse(NULL, 0, 0, &h), SL_ERR_TRUNCATED);
}
END_TEST

START_TEST(err_version)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 4);
    sl_ipv4_hdr h;
    static const unsigned bad[] = {0, 1, 5, 6, 15};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b[0] = (uint8_t)(bad[i] << 4 | 5);
        ip4_fix(b);
        ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IP_VERSION);
    }
}
END_TEST

START_TEST(err_ihl)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 4);
    sl_ipv4_hdr h;
    for (unsigned ihl = 0; ihl < 5; ihl++) {
        b[0] = (uint8_t)(0x40u | ihl);
        ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_IHL);
    }
}
END_TEST

START_TEST(err_hdr_trunc)
{
    static const uint8_t opts[4] = {1, 1, 1, 1};
    uint8_t b[80];
    ip4_build(b, opts, 4, 0);
    sl_ipv4_hdr h;
    for (size_t l = 20; l < 24; l++)
        ck_assert_int_eq(parse_g(b, l, 0, &h), SL_ERR_IPV4_HDR_TRUNC);
    b[0] = 0x4f; /* 60-byte header in 59 bytes */
    memset(b + 24, 1, 40);
    ck_assert_int_eq(parse_g(b, 59, 0, &h), SL_ERR_IPV4_HDR_TRUNC);
}
END_TEST

START_TEST(err_total_len)
{
    static const uint8_t opts[4] = {1, 1, 1, 1};
    uint8_t b[80];
    size_t n = ip4_build(b, opts, 4, 8);
    sl_ipv4_hdr h;
    static const unsigned bad[] = {0, 19, 20, 23, 33, 0xffff};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sl_store16(b + 2, (uint16_t)bad[i]);
        ip4_fix(b);
        ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_TOTAL_LEN);
    }
    /* boundaries that are fine: total == hlen, total == len */
    sl_store16(b + 2, 24);
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    sl_store16(b + 2, 32);
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
}
END_TEST

START_TEST(err_checksum)
{
    uint8_t b[64];
    size_t n = ip4_build(b, NULL, 0, 8);
    sl_ipv4_hdr h;
    for (size_t i = 0; i < 20; i++) {
        if (i == 0 || i == 2 || i == 3)
            continue; /* would trip an earlier check */
        b[i] ^= 0x10;
        ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_CHECKSUM);
        /* the flag skips verification */
        ck_assert_int_eq(parse_g(b, n, SL_PARSE_NO_CSUM, &h), SL_OK);
        b[i] ^= 0x10;
    }
    /* the payload is not covered */
    b[25] ^= 0xff;
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    /* checksum covers options too */
    static const uint8_t opts[4] = {1, 1, 1, 1};
    n = ip4_build(b, opts, 4, 0);
    b[22] = 0; /* NOP -> EOL */
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_CHECKSUM);
}
END_TEST

START_TEST(err_frag_ping_of_death)
{
    uint8_t b[64];
    sl_ipv4_hdr h;
    /* 8190*8 = 65520: payload 15 ends at 65535 (ok), 16 at 65536 */
    size_t n = ip4_build(b, NULL, 0, 15);
    sl_store16(b + 6, 8190);
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    ck_assert_uint_eq(h.frag_off, 8190);
    n = ip4_build(b, NULL, 0, 16);
    sl_store16(b + 6, 0x2000u | 8190);
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_ERR_IPV4_FRAG);
    /* offset 8191 with an empty payload is fine (65528) */
    n = ip4_build(b, NULL, 0, 0);
    sl_store16(b + 6, 8191);
    ip4_fix(b);
    ck_assert_int_eq(parse_g(b, n, 0, &h), SL_OK);
    ck_assert_uint_eq(h.frag_off, 8191);
}
END_TEST

/* ---- options ---------------------------------------------------------- */

START_TEST(opts_nop_eol_unknown)
{
    sl_ipv4_hdr h;
    static const uint8_t nops[4] = {1, 1, 1, 1};
    ck_assert_int_eq(parse_opts(nops, 4, &h), SL_OK);
    ck_assert_uint_eq(h.ihl, 6);
    ck_assert_uint_eq(h.opts_len, 4);
    ck_assert_uint_eq(h.payload_len, 4);
    /* bytes after EOL are ignored, even if they would be invalid */
    static const uint8_t eol[8] = {1, 0, 0x99, 0, 7, 1, 0xff, 0xff};
    ck_assert_int_eq(parse_opts(eol, 8, &h), SL_OK);
    static const uint8_t eol2[4] = {0, 148, 9, 9};
    ck_assert_int_eq(parse_opts(eol2, 4, &h), SL_OK);
    ck_assert(!h.opt_router_alert);
    /* unknown options are skipped by length */
    static const uint8_t unk[8] = {0x99, 4, 0xaa, 0xbb, 0x1e, 2, 1, 0};
    ck_assert_int_eq(parse_opts(unk, 8, &h), SL_OK);
    /* an unknown option filling the whole 40-byte area */
    uint8_t big[40];
    memset(big, 0xee, sizeof big);
    big[0] = 0x9a;
    big[1] = 40;
    ck_assert_int_eq(parse_opts(big, 40, &h), SL_OK);
    ck_assert_uint_eq(h.ihl, 15);
    ck_assert_uint_eq(h.opts_len, 40);
}
END_TEST

START_TEST(opts_err_len)
{
    sl_ipv4_hdr h;
    static const uint8_t len0[4] = {0x99, 0, 1, 1};
    static const uint8_t len1[4] = {0x99, 1, 1, 1};
    static const uint8_t over[4] = {0x99, 5, 1, 1};
    static const uint8_t over2[8] = {1, 1, 0x99, 7, 1, 1, 1, 1};
    static const uint8_t type_only[4] = {1, 1, 1, 0x99};
    static const uint8_t rr_type_only[4] = {1, 1, 1, 7};
    static const uint8_t rr_len0[4] = {7, 0, 4, 0};
    static const uint8_t ts_len1[4] = {68, 1, 5, 0};
    static const uint8_t ra_over[4] = {148, 6, 0, 0};
    ck_assert_int_eq(parse_opts(len0, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(len1, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(over, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(over2, 8, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(type_only, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(rr_type_only, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(rr_len0, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(ts_len1, 4, &h), SL_ERR_IPV4_OPT_LEN);
    ck_assert_int_eq(parse_opts(ra_over, 4, &h), SL_ERR_IPV4_OPT_LEN);
}
END_TEST

START_TEST(opts_route_pointer_and_length)
{
    sl_ipv4_hdr h;
    static const uint8_t types[3] = {7, 131, 137};
    for (size_t t = 0; t < 3; t++) {
        uint8_t ok[8] = {types[t], 7, 4, 10, 0, 0, 1, 0};
        ck_assert_int_eq(parse_opts(ok, 8, &h), SL_OK);
        ck_assert(h.opt_source_route == (types[t] != 7));
        ck_assert(!h.opt_router_alert);
        /* minimal: length 3, pointer 4 (empty route) */
        uint8_t min[4] = {types[t], 3, 4, 0};
        ck_assert_int_eq(parse_opts(min, 4, &h), SL_OK);
        /* a full route: pointer past the end is legal (route full) */
        uint8_t full[8] = {types[t], 7, 8, 1, 2, 3, 4, 0};
        ck_assert_int_eq(parse_opts(full, 8, &h), SL_OK);
        /* pointer < 4 */
        for (uint8_t ptr = 0; ptr < 4; ptr++) {
            uint8_t bad[8] = {types[t], 7, ptr, 10, 0, 0, 1, 0};
            ck_assert_int_eq(parse_opts(bad, 8, &h), SL_ERR_IPV4_OPT_FORMAT);
        }
        /* length < 3 */
        uint8_t short2[4] = {types[t], 2, 1, 1};
        ck_assert_int_eq(parse_opts(short2, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    }
}
END_TEST

START_TEST(opts_timestamp)
{
    sl_ipv4_hdr h;
    static const uint8_t ok[4] = {68, 4, 5, 0};
    static const uint8_t ok12[12] = {68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ptr4[4] = {68, 4, 4, 0};
    static const uint8_t ptr0[4] = {68, 4, 0, 0};
    static const uint8_t len3[4] = {68, 3, 5, 0};
    static const uint8_t len2[4] = {68, 2, 1, 1};
    ck_assert_int_eq(parse_opts(ok, 4, &h), SL_OK);
    ck_assert_int_eq(parse_opts(ok12, 12, &h), SL_OK);
    ck_assert_int_eq(parse_opts(ptr4, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(ptr0, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(len3, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(len2, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
}
END_TEST

START_TEST(opts_router_alert)
{
    sl_ipv4_hdr h;
    static const uint8_t ok[4] = {148, 4, 0, 0};
    static const uint8_t len2[4] = {148, 2, 1, 1};
    static const uint8_t len3[4] = {148, 3, 0, 1};
    static const uint8_t len5[8] = {148, 5, 0, 0, 0, 1, 1, 1};
    static const uint8_t len8[8] = {148, 8, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(parse_opts(ok, 4, &h), SL_OK);
    ck_assert(h.opt_router_alert);
    ck_assert(!h.opt_source_route);
    ck_assert_int_eq(parse_opts(len2, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(len3, 4, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(len5, 8, &h), SL_ERR_IPV4_OPT_FORMAT);
    ck_assert_int_eq(parse_opts(len8, 8, &h), SL_ERR_IPV4_OPT_FORMAT);
}
END_TEST

/* Flags are reset per parse; several options combine. */
START_TEST(opts_combined_and_reset)
{
    sl_ipv4_hdr h;
    static const uint8_t both[12] = {148, 4, 0, 0, 131, 7, 4, 1, 2, 3, 4, 0};
    ck_assert_int_eq(parse_opts(both, 12, &h), SL_OK);
    ck_assert(h.opt_router_alert);
    ck_assert(h.opt_source_route);
    static const uint8_t none[4] = {1, 1, 1, 0};
    ck_assert_int_eq(parse_opts(none, 4, &h), SL_OK);
    ck_assert(!h.opt_router_alert);
    ck_assert(!h.opt_source_route);
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

static sl_ipv4_hdr emit_hdr(const uint8_t *opts, size_t optlen, const uint8_t *pl, size_t plen)
{
    sl_ipv4_hdr h;
    memset(&h, 0, sizeof h);
    h.ihl = 3;         /* ignored */
    h.total_len = 7;   /* ignored */
    h.checksum = 0xbeef; /* ignored */
    h.tos = 0x12;
    h.id = 0xabcd;
    h.df = true;
    h.ttl = 17;
    h.proto = SL_IPPROTO_TCP;
    memcpy(h.src, T_SRC4, 4);
    memcpy(h.dst, T_DST4, 4);
    h.opts = opts;
    h.opts_len = optlen;
    h.payload = pl;
    h.payload_len = plen;
    return h;
}

START_TEST(emit_basic_exact_and_roundtrip)
{
    uint8_t pl[10];
    fill_pattern(pl, sizeof pl, 1);
    sl_ipv4_hdr h = emit_hdr(NULL, 0, pl, sizeof pl);
    ck_assert_uint_eq(sl_ipv4_hdr_len(&h), 20);
    ck_assert_uint_eq(sl_ipv4_emit_len(&h), 30);
    uint8_t buf[64];
    poison(buf, sizeof buf);
    size_t w = 0;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, 30, &w), SL_OK);
    ck_assert_uint_eq(w, 30);
    ck_assert(all_poison(buf + 30, sizeof buf - 30));
    ck_assert_uint_eq(buf[0], 0x45);
    ck_assert_uint_eq(sl_load16(buf + 2), 30);
    ck_assert_uint_eq(sl_load16(buf + 6), 0x4000);
    ck_assert_uint_eq(sl_csum(buf, 20), 0);
    ck_assert_mem_eq(buf + 20, pl, sizeof pl);

    sl_ipv4_hdr r;
    const uint8_t *p = at_guard(buf, w);
    ck_assert_int_eq(sl_ipv4_parse(p, w, 0, &r), SL_OK);
    ck_assert_uint_eq(r.ihl, 5);
    ck_assert_uint_eq(r.tos, h.tos);
    ck_assert_uint_eq(r.total_len, 30);
    ck_assert_uint_eq(r.id, h.id);
    ck_assert(r.df && !r.mf && !r.rf);
    ck_assert_uint_eq(r.frag_off, 0);
    ck_assert_uint_eq(r.ttl, h.ttl);
    ck_assert_uint_eq(r.proto, h.proto);
    ck_assert_mem_eq(r.src, h.src, 4);
    ck_assert_mem_eq(r.dst, h.dst, 4);
    ck_assert_uint_eq(r.payload_len, sizeof pl);
    ck_assert_mem_eq(r.payload, pl, sizeof pl);
}
END_TEST

START_TEST(emit_flags_roundtrip)
{
    uint8_t buf[64];
    for (unsigned f = 0; f < 8; f++) {
        sl_ipv4_hdr h = emit_hdr(NULL, 0, NULL, 0);
        h.rf = (f & 1) != 0;
        h.df = (f & 2) != 0;
        h.mf = (f & 4) != 0;
        h.frag_off = (uint16_t)(f * 1000u + 1u);
        size_t w = 0;
        ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
        sl_ipv4_hdr r;
        ck_assert_int_eq(parse_g(buf, w, 0, &r), SL_OK);
        ck_assert(r.rf == h.rf && r.df == h.df && r.mf == h.mf);
        ck_assert_uint_eq(r.frag_off, h.frag_off);
    }
    /* the maximum offset encodes */
    sl_ipv4_hdr h = emit_hdr(NULL, 0, NULL, 0);
    h.frag_off = 8191;
    size_t w = 0;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(sl_load16(buf + 6) & 0x1fffu, 8191);
}
END_TEST

START_TEST(emit_options_padded_with_eol)
{
    uint8_t opts[40];
    for (size_t n = 1; n <= 40; n++) {
        memset(opts, 1, n); /* NOPs */
        opts[0] = 148;      /* RA when room */
        if (n >= 4) {
            opts[1] = 4;
            opts[2] = opts[3] = 0;
        } else {
            opts[0] = 1;
        }
        sl_ipv4_hdr h = emit_hdr(opts, n, NULL, 0);
        size_t hl = 20 + (n + 3) / 4 * 4;
        ck_assert_uint_eq(sl_ipv4_hdr_len(&h), hl);
        ck_assert_uint_eq(sl_ipv4_emit_len(&h), hl);
        uint8_t buf[80];
        poison(buf, sizeof buf);
        size_t w = 0;
        ck_assert_int_eq(sl_ipv4_emit(&h, buf, hl, &w), SL_OK);
        ck_assert_uint_eq(w, hl);
        ck_assert_uint_eq(buf[0], 0x40u | hl / 4);
        ck_assert_mem_eq(buf + 20, opts, n);
        for (size_t i = 20 + n; i < hl; i++)
            ck_assert_uint_eq(buf[i], 0); /* EOL */
        ck_assert(all_poison(buf + hl, sizeof buf - hl));
        sl_ipv4_hdr r;
        ck_assert_int_eq(parse_g(buf, w, 0, &r), SL_OK);
        ck_assert_uint_eq(r.opts_len, hl - 20);
        ck_assert(r.opt_router_alert == (n >= 4));
    }
}
END_TEST

START_TEST(emit_inval)
{
    uint8_t opts[41];
    memset(opts, 1, sizeof opts);
    uint8_t buf[128];
    size_t w = 12345;
    sl_ipv4_hdr h = emit_hdr(opts, 41, NULL, 0);
    ck_assert_uint_eq(sl_ipv4_hdr_len(&h), 0);
    ck_assert_uint_eq(sl_ipv4_emit_len(&h), 0);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    ck_assert_uint_eq(w, 12345);

    h = emit_hdr(NULL, 0, NULL, 0);
    h.frag_off = 8192;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));

    h = emit_hdr(NULL, 0, NULL, 65516); /* 65536 total */
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    h = emit_hdr(opts, 4, NULL, 65512);
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
}
END_TEST

START_TEST(emit_max_total)
{
    uint8_t *buf = malloc(65536 + 16);
    ck_assert_ptr_nonnull(buf);
    poison(buf, 65536 + 16);
    sl_ipv4_hdr h = emit_hdr(NULL, 0, NULL, 65515);
    size_t w = 0;
    ck_assert_uint_eq(sl_ipv4_emit_len(&h), 65535);
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, 65535, &w), SL_OK);
    ck_assert_uint_eq(w, 65535);
    ck_assert_uint_eq(sl_load16(buf + 2), 65535);
    ck_assert(all_poison(buf + 20, 65535 - 20)); /* NULL payload: untouched */
    ck_assert(all_poison(buf + 65535, 16));
    sl_ipv4_hdr r;
    ck_assert_int_eq(parse_g(buf, w, 0, &r), SL_OK);
    ck_assert_uint_eq(r.payload_len, 65515);
    free(buf);
}
END_TEST

START_TEST(emit_bufsz)
{
    static const uint8_t opts[3] = {1, 1, 1};
    uint8_t pl[9];
    fill_pattern(pl, sizeof pl, 5);
    sl_ipv4_hdr h = emit_hdr(opts, 3, pl, sizeof pl);
    size_t need = sl_ipv4_emit_len(&h);
    ck_assert_uint_eq(need, 33);
    uint8_t buf[64];
    size_t w = 777;
    for (size_t cap = 0; cap < need; cap++) {
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_ipv4_emit(&h, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert(all_poison(buf, sizeof buf));
        ck_assert_uint_eq(w, 777);
    }
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, need, &w), SL_OK);
    ck_assert_uint_eq(w, need);
}
END_TEST

START_TEST(emit_payload_null_and_overlap)
{
    uint8_t buf[64];
    uint8_t want[12];
    fill_pattern(want, sizeof want, 40);
    /* NULL: the bytes already at buf + 20 are kept */
    poison(buf, sizeof buf);
    memcpy(buf + 20, want, sizeof want);
    sl_ipv4_hdr h = emit_hdr(NULL, 0, NULL, sizeof want);
    size_t w = 0;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 32);
    ck_assert_mem_eq(buf + 20, want, sizeof want);
    ck_assert(all_poison(buf + 32, sizeof buf - 32));
    /* payload already in place */
    h.payload = buf + 20;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 20, want, sizeof want);
    /* payload overlapping the header area (moves forward) */
    poison(buf, sizeof buf);
    memcpy(buf + 3, want, sizeof want);
    h.payload = buf + 3;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 20, want, sizeof want);
    ck_assert_uint_eq(sl_csum(buf, 20), 0);
    /* payload just after its destination (moves backward, overlapping) */
    poison(buf, sizeof buf);
    memcpy(buf + 25, want, sizeof want);
    h.payload = buf + 25;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 20, want, sizeof want);
    /* options overlapping their destination too */
    poison(buf, sizeof buf);
    static const uint8_t o[4] = {148, 4, 0, 0};
    memcpy(buf + 22, o, 4);
    h = emit_hdr(buf + 22, 4, NULL, 0);
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 20, o, 4);
    /* empty payload with a non-NULL pointer */
    h = emit_hdr(NULL, 0, want, 0);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 20);
    ck_assert(all_poison(buf + 20, sizeof buf - 20));
}
END_TEST

/* ---- guard-page sweeps ------------------------------------------------ */

static sl_error sweep_parse(const uint8_t *p, size_t len, void *ctx)
{
    unsigned flags = *(const unsigned *)ctx;
    sl_ipv4_hdr h;
    sl_error e = sl_ipv4_parse(p, len, flags, &h);
    if (e == SL_OK) {
        ck_assert_uint_le(h.payload_len + (size_t)(h.payload - p), len);
        ck_assert_uint_le(h.opts_len + (size_t)(h.opts - p), len);
    }
    return e;
}

START_TEST(guard_truncation_sweep)
{
    static const uint8_t opts[16] = {7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0, 68, 4, 5, 1, 0};
    uint8_t b[80];
    size_t n = ip4_build(b, opts, sizeof opts, 12);
    unsigned flags = 0;
    guard_sweep(b, n, sweep_parse, &flags, true);
    flags = SL_PARSE_NO_CSUM;
    guard_sweep(b, n, sweep_parse, &flags, true);
    n = ip4_build(b, NULL, 0, 1);
    flags = 0;
    guard_sweep(b, n, sweep_parse, &flags, true);
}
END_TEST

/* Options that end exactly at the guard page, with every header length:
 * an option parser that reads one byte too far faults. */
START_TEST(guard_options_at_end)
{
    static const uint8_t tails[][4] = {
        {1, 1, 1, 7},   {1, 1, 1, 68},   {1, 1, 1, 148}, {1, 1, 1, 0x99}, {1, 1, 7, 2},
        {1, 1, 68, 2},  {1, 1, 148, 2},  {1, 1, 131, 2}, {1, 7, 3, 4},    {68, 4, 5, 0},
        {148, 4, 0, 0}, {0x99, 4, 0, 0}, {1, 1, 1, 1},   {1, 1, 1, 0},
    };
    static const sl_error want[] = {
        SL_ERR_IPV4_OPT_LEN,    SL_ERR_IPV4_OPT_LEN,    SL_ERR_IPV4_OPT_LEN,
        SL_ERR_IPV4_OPT_LEN,    SL_ERR_IPV4_OPT_FORMAT, SL_ERR_IPV4_OPT_FORMAT,
        SL_ERR_IPV4_OPT_FORMAT, SL_ERR_IPV4_OPT_FORMAT, SL_OK,
        SL_OK,                  SL_OK,                  SL_OK,
        SL_OK,                  SL_OK,
    };
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        for (size_t optlen = 4; optlen <= 40; optlen += 4) {
            uint8_t opts[40];
            memset(opts, 1, optlen);
            memcpy(opts + optlen - 4, tails[t], 4);
            uint8_t b[64];
            size_t n = ip4_build(b, opts, optlen, 0); /* header only */
            sl_ipv4_hdr h;
            ck_assert_msg(parse_g(b, n, 0, &h) == want[t], "tail %zu optlen %zu", t, optlen);
        }
    }
}
END_TEST

/* ---- known bugs (see the report; remove the marker once fixed) -------- */

/* Regression (fixed): sl_ipv4_emit checks `hlen + h->payload_len > 65535` in size_t, which
 * wraps for a huge payload_len: SIZE_MAX - 19 + 20 == 0 passes both the
 * INVAL and the BUFSZ check, and the 20-byte header is written into a
 * buffer of capacity 0 (written = 0).  Expected SL_ERR_INVAL, nothing
 * written.  (With a non-NULL payload the memmove of ~SIZE_MAX bytes would
 * crash.)  Same for sl_ipv4_emit_len, which returns the wrapped sum. */
START_TEST(bug_emit_payload_len_wraps)
{
    uint8_t buf[64];
    poison(buf, sizeof buf);
    sl_ipv4_hdr h = emit_hdr(NULL, 0, NULL, SIZE_MAX - 19);
    size_t w = 4242;
    sl_error e = sl_ipv4_emit(&h, buf, 0, &w);
    ck_assert_int_eq(e, SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    ck_assert_uint_eq(w, 4242);
}
END_TEST

static Suite *ipv4_suite(void)
{
    Suite *s = suite_create("ipv4");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_basic_fields);
    tcase_add_test(tc, parse_link_padding_excluded);
    tcase_add_test(tc, parse_flags_and_offset);
    tcase_add_test(tc, err_truncated);
    tcase_add_test(tc, err_version);
    tcase_add_test(tc, err_ihl);
    tcase_add_test(tc, err_hdr_trunc);
    tcase_add_test(tc, err_total_len);
    tcase_add_test(tc, err_checksum);
    tcase_add_test(tc, err_frag_ping_of_death);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, opts_nop_eol_unknown);
    tcase_add_test(tc, opts_err_len);
    tcase_add_test(tc, opts_route_pointer_and_length);
    tcase_add_test(tc, opts_timestamp);
    tcase_add_test(tc, opts_router_alert);
    tcase_add_test(tc, opts_combined_and_reset);
    suite_add_tcase(s, tc);

    tc = tcase_create("emit");
    tcase_add_test(tc, emit_basic_exact_and_roundtrip);
    tcase_add_test(tc, emit_flags_roundtrip);
    tcase_add_test(tc, emit_options_padded_with_eol);
    tcase_add_test(tc, emit_inval);
    tcase_add_test(tc, emit_max_total);
    tcase_add_test(tc, emit_bufsz);
    tcase_add_test(tc, emit_payload_null_and_overlap);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_test(tc, guard_truncation_sweep);
    tcase_add_test(tc, guard_options_at_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_test(tc, bug_emit_payload_len_wraps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(ipv4_suite());
}
