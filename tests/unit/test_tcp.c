/* Unit tests for src/wire/tcp.c (RFC 9293 header, options, emit). */
#include "unit_util.h"

/* ---- builders --------------------------------------------------------- */

static uint32_t pseudo_sum(const sl_pseudo *ph, size_t len)
{
    if (ph->family == 4)
        return sl_csum_pseudo4(ph->src, ph->dst, SL_IPPROTO_TCP, (uint16_t)len);
    return sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_TCP, (uint32_t)len);
}

/* Store the right checksum for the len-byte segment at b over ph. */
static void tcp_fix(uint8_t *b, size_t len, const sl_pseudo *ph)
{
    sl_store16(b + 16, 0);
    if (ph != NULL)
        sl_store16(b + 16, sl_csum_finish(sl_csum_partial(b, len, pseudo_sum(ph, len))));
}

/* Header + opts (optlen a multiple of 4) + paylen pattern bytes. */
static size_t tcp_build(uint8_t *b, size_t cap, const uint8_t *opts, size_t optlen,
                        size_t paylen, const sl_pseudo *ph)
{
    ck_assert_uint_eq(optlen % 4, 0);
    bb x = bb_make(b, cap);
    bb_u16(&x, 0x1234);
    bb_u16(&x, 80);
    bb_u32(&x, 0x01020304u);
    bb_u32(&x, 0xa0b0c0d0u);
    bb_u8(&x, (unsigned)((5 + optlen / 4) << 4 | 0x1u)); /* AE bit */
    bb_u8(&x, SL_TCP_SYN | SL_TCP_ACK | SL_TCP_URG);
    bb_u16(&x, 0xfaf0);
    bb_u16(&x, 0);
    bb_u16(&x, 7);
    bb_mem(&x, opts, optlen);
    bb_pattern(&x, paylen, 11);
    tcp_fix(b, x.n, ph);
    return x.n;
}

static sl_error parse_g(const uint8_t *b, size_t len, const sl_pseudo *ph, sl_tcp_hdr *h)
{
    return sl_tcp_parse(at_guard(b, len), len, ph, h);
}

static sl_error opts_g(const uint8_t *o, size_t n, sl_tcp_opts *out)
{
    return sl_tcp_opts_parse(at_guard(o, n), n, out);
}

/* Parse a whole segment whose options area is o[0..n-1] (n % 4 == 0), and
 * check that it agrees with sl_tcp_opts_parse on the area alone. */
static sl_error seg_opts(const uint8_t *o, size_t n, sl_tcp_hdr *h)
{
    uint8_t b[128];
    sl_pseudo ph = pseudo4();
    size_t len = tcp_build(b, sizeof b, o, n, 3, &ph);
    sl_error e = parse_g(b, len, &ph, h);
    sl_tcp_opts alone;
    sl_error e2 = opts_g(o, n, &alone);
    ck_assert_int_eq(e, e2);
    if (e == SL_OK)
        ck_assert_mem_eq(&alone, &h->o, sizeof alone);
    return e;
}

/* ---- parse: header ---------------------------------------------------- */

START_TEST(parse_basic_fields)
{
    static const uint8_t opts[4] = {2, 4, 0x05, 0xb4};
    uint8_t b[96];
    sl_pseudo ph = pseudo4();
    size_t n = tcp_build(b, sizeof b, opts, 4, 10, &ph);
    sl_tcp_hdr h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_tcp_parse(p, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.sport, 0x1234);
    ck_assert_uint_eq(h.dport, 80);
    ck_assert_uint_eq(h.seq, 0x01020304u);
    ck_assert_uint_eq(h.ack, 0xa0b0c0d0u);
    ck_assert_uint_eq(h.doff, 6);
    ck_assert_uint_eq(h.reserved, 1);
    ck_assert_uint_eq(h.flags, SL_TCP_SYN | SL_TCP_ACK | SL_TCP_URG);
    ck_assert_uint_eq(h.window, 0xfaf0);
    ck_assert_uint_eq(h.checksum, sl_load16(b + 16));
    ck_assert_uint_eq(h.urgent, 7);
    ck_assert_ptr_eq(h.opts, p + 20);
    ck_assert_uint_eq(h.opts_len, 4);
    ck_assert(h.o.has_mss);
    ck_assert_uint_eq(h.o.mss, 1460);
    ck_assert(!h.o.has_wscale && !h.o.sack_perm && !h.o.has_ts);
    ck_assert_uint_eq(h.o.n_sack, 0);
    ck_assert_uint_eq(h.o.n_unknown, 0);
    ck_assert_ptr_eq(h.payload, p + 24);
    ck_assert_uint_eq(h.payload_len, 10);
    /* all reserved bits and all flags */
    b[12] = 0x6f;
    b[13] = 0xff;
    tcp_fix(b, n, &ph);
    ck_assert_int_eq(parse_g(b, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.reserved, 0x0f);
    ck_assert_uint_eq(h.flags, 0xff);
    /* no options, no payload */
    n = tcp_build(b, sizeof b, NULL, 0, 0, NULL);
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_OK);
    ck_assert_uint_eq(h.opts_len, 0);
    ck_assert_uint_eq(h.payload_len, 0);
}
END_TEST

START_TEST(err_truncated_offset_hdr_trunc)
{
    uint8_t b[96];
    size_t n = tcp_build(b, sizeof b, NULL, 0, 4, NULL);
    sl_tcp_hdr h;
    for (size_t l = 0; l < 20; l++)
        ck_assert_int_eq(parse_g(b, l, NULL, &h), SL_ERR_TRUNCATED);
    for (unsigned d = 0; d < 5; d++) {
        b[12] = (uint8_t)(d << 4);
        ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_ERR_TCP_OFFSET);
    }
    b[12] = 0x60; /* 24-byte header */
    for (size_t l = 20; l < 24; l++)
        ck_assert_int_eq(parse_g(b, l, NULL, &h), SL_ERR_TCP_HDR_TRUNC);
    memset(b + 20, 1, 40);
    b[12] = 0xf0; /* 60-byte header */
    ck_assert_int_eq(parse_g(b, 59, NULL, &h), SL_ERR_TCP_HDR_TRUNC);
    ck_assert_int_eq(parse_g(b, 60, NULL, &h), SL_OK);
    ck_assert_uint_eq(h.opts_len, 40);
    ck_assert_uint_eq(h.payload_len, 0);
}
END_TEST

START_TEST(checksum_v4_v6)
{
    uint8_t b[96];
    sl_tcp_hdr h;
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    size_t n = tcp_build(b, sizeof b, NULL, 0, 13, &p4);
    ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_OK);
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_ERR_TCP_CHECKSUM);
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_OK);
    n = tcp_build(b, sizeof b, NULL, 0, 13, &p6);
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_OK);
    ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_ERR_TCP_CHECKSUM);
    for (size_t i = 0; i < n; i++) {
        if (i == 12)
            continue; /* data offset: a different error */
        b[i] ^= 0x01;
        ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_ERR_TCP_CHECKSUM);
        b[i] ^= 0x01;
    }
    /* the pseudo-header addresses are covered */
    uint8_t other[16];
    memcpy(other, T_DST6, 16);
    other[15] ^= 0x80;
    sl_pseudo q = {6, T_SRC6, other};
    ck_assert_int_eq(parse_g(b, n, &q, &h), SL_ERR_TCP_CHECKSUM);
    /* and the length: parse one byte less with a correct-looking sum */
    ck_assert_int_eq(parse_g(b, n - 1, &p6, &h), SL_ERR_TCP_CHECKSUM);
}
END_TEST

START_TEST(checksum_pseudo_family_invalid)
{
    uint8_t b[96];
    sl_tcp_hdr h;
    size_t n = tcp_build(b, sizeof b, NULL, 0, 4, NULL);
    static const uint8_t fams[] = {0, 1, 5, 10, 255};
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo ph = {fams[i], T_SRC4, T_DST4};
        ck_assert_int_eq(parse_g(b, n, &ph, &h), SL_ERR_INVAL);
    }
}
END_TEST

/* A v4 pseudo-header cannot express 65536 bytes; v6 can. */
START_TEST(checksum_length_limits)
{
    size_t n = 65536;
    uint8_t *b = calloc(n, 1);
    ck_assert_ptr_nonnull(b);
    b[12] = 0x50;
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    sl_tcp_hdr h;
    ck_assert_int_eq(sl_tcp_parse(b, n, &p4, &h), SL_ERR_INVAL);
    tcp_fix(b, n, &p6);
    ck_assert_int_eq(sl_tcp_parse(b, n, &p6, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, n - 20);
    /* 65535 is fine over v4 */
    memset(b + 16, 0, 2);
    tcp_fix(b, n - 1, &p4);
    ck_assert_int_eq(sl_tcp_parse(b, n - 1, &p4, &h), SL_OK);
    free(b);
}
END_TEST

/* ---- options ---------------------------------------------------------- */

START_TEST(opts_each_known_valid)
{
    sl_tcp_hdr h;
    static const uint8_t mss[4] = {2, 4, 0x12, 0x34};
    ck_assert_int_eq(seg_opts(mss, 4, &h), SL_OK);
    ck_assert(h.o.has_mss);
    ck_assert_uint_eq(h.o.mss, 0x1234);
    static const uint8_t ws[4] = {3, 3, 14, 0};
    ck_assert_int_eq(seg_opts(ws, 4, &h), SL_OK);
    ck_assert(h.o.has_wscale);
    ck_assert_uint_eq(h.o.wscale, 14);
    static const uint8_t ws_raw[4] = {1, 3, 3, 200}; /* raw, not clamped */
    ck_assert_int_eq(seg_opts(ws_raw, 4, &h), SL_OK);
    ck_assert_uint_eq(h.o.wscale, 200);
    static const uint8_t sp[4] = {4, 2, 1, 1};
    ck_assert_int_eq(seg_opts(sp, 4, &h), SL_OK);
    ck_assert(h.o.sack_perm);
    static const uint8_t ts[12] = {1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1};
    ck_assert_int_eq(seg_opts(ts, 12, &h), SL_OK);
    ck_assert(h.o.has_ts);
    ck_assert_uint_eq(h.o.ts_val, 0xdeadbeefu);
    ck_assert_uint_eq(h.o.ts_ecr, 1);
    ck_assert(!h.o.has_mss && !h.o.sack_perm);
}
END_TEST

START_TEST(opts_sack_lengths)
{
    sl_tcp_hdr h;
    for (unsigned nb = 1; nb <= 4; nb++) {
        uint8_t o[48]; /* 40 used; slack keeps gcc -O3 -Wstringop-overflow quiet */
        memset(o, 1, sizeof o);
        o[2] = 5;
        o[3] = (uint8_t)(2 + 8 * nb);
        for (unsigned k = 0; k < nb; k++) {
            sl_store32(o + 4 + 8 * k, 1000u * (k + 1));
            sl_store32(o + 8 + 8 * k, 1000u * (k + 1) + 500u);
        }
        size_t n = (4 + 8 * nb + 3) / 4 * 4;
        ck_assert_int_eq(seg_opts(o, n, &h), SL_OK);
        ck_assert_uint_eq(h.o.n_sack, nb);
        for (unsigned k = 0; k < nb; k++) {
            ck_assert_uint_eq(h.o.sack[k].left, 1000u * (k + 1));
            ck_assert_uint_eq(h.o.sack[k].right, 1000u * (k + 1) + 500u);
        }
    }
    static const unsigned bad[] = {2, 3, 9, 11, 17, 19, 25, 27, 33, 35, 36};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t o[40];
        memset(o, 0, sizeof o);
        o[0] = 5;
        o[1] = (uint8_t)bad[i];
        ck_assert_msg(seg_opts(o, 40, &h) == SL_ERR_TCP_OPT_FIXED, "SACK length %u", bad[i]);
    }
}
END_TEST

START_TEST(opts_err_fixed_lengths)
{
    sl_tcp_hdr h;
    static const uint8_t kinds[] = {2, 3, 4, 8};
    static const unsigned good[] = {4, 3, 2, 10};
    for (size_t k = 0; k < 4; k++) {
        for (unsigned l = 2; l <= 12; l++) {
            if (l == good[k])
                continue;
            uint8_t o[12];
            memset(o, 0, sizeof o);
            o[0] = kinds[k];
            o[1] = (uint8_t)l;
            ck_assert_msg(seg_opts(o, 12, &h) == SL_ERR_TCP_OPT_FIXED, "kind %u len %u",
                          kinds[k], l);
        }
    }
}
END_TEST

START_TEST(opts_err_len)
{
    sl_tcp_hdr h;
    static const uint8_t len0[4] = {0xfe, 0, 1, 1};
    static const uint8_t len1[4] = {0xfe, 1, 1, 1};
    static const uint8_t mss_len1[4] = {2, 1, 1, 1};
    static const uint8_t over[4] = {0xfe, 5, 1, 1};
    static const uint8_t mss_over[4] = {1, 2, 4, 0};
    static const uint8_t ts_over[8] = {1, 1, 8, 10, 0, 0, 0, 0};
    static const uint8_t kind_only[4] = {1, 1, 1, 2};
    static const uint8_t unk_only[4] = {1, 1, 1, 0xfe};
    ck_assert_int_eq(seg_opts(len0, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(len1, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(mss_len1, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(over, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(mss_over, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(ts_over, 8, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(kind_only, 4, &h), SL_ERR_TCP_OPT_LEN);
    ck_assert_int_eq(seg_opts(unk_only, 4, &h), SL_ERR_TCP_OPT_LEN);
    /* odd-length areas through sl_tcp_opts_parse alone */
    sl_tcp_opts o;
    static const uint8_t mss1[1] = {2};
    ck_assert_int_eq(opts_g(mss1, 1, &o), SL_ERR_TCP_OPT_LEN);
    static const uint8_t mss3[3] = {2, 4, 5};
    ck_assert_int_eq(opts_g(mss3, 3, &o), SL_ERR_TCP_OPT_LEN);
}
END_TEST

START_TEST(opts_eol_stops)
{
    sl_tcp_hdr h;
    static const uint8_t eol_first[8] = {0, 2, 1, 0xff, 5, 0, 0, 0};
    ck_assert_int_eq(seg_opts(eol_first, 8, &h), SL_OK);
    ck_assert(!h.o.has_mss);
    ck_assert_uint_eq(h.o.n_unknown, 0);
    static const uint8_t after_mss[12] = {2, 4, 1, 0, 0, 3, 3, 9, 0xfe, 0, 8, 1};
    ck_assert_int_eq(seg_opts(after_mss, 12, &h), SL_OK);
    ck_assert(h.o.has_mss);
    ck_assert_uint_eq(h.o.mss, 256);
    ck_assert(!h.o.has_wscale);
    sl_tcp_opts o;
    ck_assert_int_eq(opts_g(NULL, 0, &o), SL_OK);
    ck_assert(!o.has_mss && !o.has_ts && o.n_sack == 0 && o.n_unknown == 0);
    static const uint8_t nops[3] = {1, 1, 1};
    ck_assert_int_eq(opts_g(nops, 3, &o), SL_OK);
}
END_TEST

START_TEST(opts_unknown_counted_saturating)
{
    sl_tcp_hdr h;
    static const uint8_t unk[12] = {0xfe, 2, 0xfd, 4, 0, 0, 30, 3, 0, 0x22, 2, 1};
    ck_assert_int_eq(seg_opts(unk, 12, &h), SL_OK);
    ck_assert_uint_eq(h.o.n_unknown, 4);
    /* 20 unknowns fill a 40-byte area */
    uint8_t o40[40];
    for (size_t i = 0; i < 40; i += 2) {
        o40[i] = (uint8_t)(100 + i);
        o40[i + 1] = 2;
    }
    ck_assert_int_eq(seg_opts(o40, 40, &h), SL_OK);
    ck_assert_uint_eq(h.o.n_unknown, 20);
    /* saturation needs a longer area than a header can hold */
    static uint8_t many[600];
    for (size_t i = 0; i < sizeof many; i += 2) {
        many[i] = 0x99;
        many[i + 1] = 2;
    }
    sl_tcp_opts o;
    ck_assert_int_eq(opts_g(many, 2 * 254, &o), SL_OK);
    ck_assert_uint_eq(o.n_unknown, 254);
    ck_assert_int_eq(opts_g(many, 2 * 255, &o), SL_OK);
    ck_assert_uint_eq(o.n_unknown, 255);
    ck_assert_int_eq(opts_g(many, 2 * 256, &o), SL_OK);
    ck_assert_uint_eq(o.n_unknown, 255);
    ck_assert_int_eq(opts_g(many, sizeof many, &o), SL_OK);
    ck_assert_uint_eq(o.n_unknown, 255);
}
END_TEST

START_TEST(opts_repeated_last_wins)
{
    sl_tcp_hdr h;
    static const uint8_t mss2[8] = {2, 4, 0x03, 0xe8, 2, 4, 0x05, 0xb4};
    ck_assert_int_eq(seg_opts(mss2, 8, &h), SL_OK);
    ck_assert_uint_eq(h.o.mss, 1460);
    static const uint8_t ws2[8] = {3, 3, 1, 3, 3, 9, 1, 1};
    ck_assert_int_eq(seg_opts(ws2, 8, &h), SL_OK);
    ck_assert_uint_eq(h.o.wscale, 9);
    static const uint8_t ts2[20] = {8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
                                    8, 10, 0, 0, 0, 3, 0, 0, 0, 4};
    ck_assert_int_eq(seg_opts(ts2, 20, &h), SL_OK);
    ck_assert_uint_eq(h.o.ts_val, 3);
    ck_assert_uint_eq(h.o.ts_ecr, 4);
    uint8_t s2[28];
    bb x = bb_make(s2, sizeof s2);
    bb_u8(&x, 5);
    bb_u8(&x, 18);
    bb_u32(&x, 1);
    bb_u32(&x, 2);
    bb_u32(&x, 3);
    bb_u32(&x, 4);
    bb_u8(&x, 5);
    bb_u8(&x, 10);
    bb_u32(&x, 7);
    bb_u32(&x, 8);
    ck_assert_int_eq(seg_opts(s2, 28, &h), SL_OK);
    ck_assert_uint_eq(h.o.n_sack, 1);
    ck_assert_uint_eq(h.o.sack[0].left, 7);
    ck_assert_uint_eq(h.o.sack[0].right, 8);
}
END_TEST

START_TEST(urgent_len)
{
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.payload_len = 10;
    h.urgent = 5;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 0); /* no URG */
    h.flags = SL_TCP_URG | SL_TCP_ACK;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 5);
    h.urgent = 10;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 10);
    h.urgent = 11;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 10);
    h.urgent = 0xffff;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 10);
    h.urgent = 0;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 0);
    h.urgent = 3;
    h.payload_len = 0;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 0);
    h.flags = (uint8_t)~SL_TCP_URG;
    h.payload_len = 100;
    ck_assert_uint_eq(sl_tcp_urgent_len(&h), 0);
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

static sl_tcp_hdr emit_hdr(const uint8_t *pl, size_t plen)
{
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = 49152;
    h.dport = 443;
    h.seq = 0xfffffff0u;
    h.ack = 0x12345678u;
    h.doff = 1;    /* ignored */
    h.opts = NULL; /* ignored */
    h.opts_len = 99;
    h.flags = SL_TCP_ACK | SL_TCP_PSH;
    h.reserved = 0xf1; /* only the low 4 bits are emitted */
    h.window = 65535;
    h.checksum = 0xdead; /* ignored */
    h.urgent = 0;
    h.payload = pl;
    h.payload_len = plen;
    return h;
}

/* Emit h into a poisoned buffer with cap exactly emit_len and check the
 * exact length, the poison after it, and the option bytes. */
static size_t emit_check(const sl_tcp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t bufsz,
                         const uint8_t *want_opts, size_t want_olen)
{
    sl_error err = SL_ERR_NOMEM;
    ck_assert_uint_eq(sl_tcp_opts_len(&h->o, &err), want_olen);
    ck_assert_int_eq(err, SL_OK);
    size_t need = sl_tcp_emit_len(h);
    ck_assert_uint_eq(need, 20 + want_olen + h->payload_len);
    ck_assert_uint_le(need, bufsz);
    poison(buf, bufsz);
    size_t w = 0;
    ck_assert_int_eq(sl_tcp_emit(h, ph, buf, need, &w), SL_OK);
    ck_assert_uint_eq(w, need);
    ck_assert(all_poison(buf + need, bufsz - need));
    ck_assert_uint_eq(buf[12] >> 4, (20 + want_olen) / 4);
    if (want_opts != NULL)
        ck_assert_mem_eq(buf + 20, want_opts, want_olen);
    return w;
}

START_TEST(emit_basic_roundtrip_v4_v6)
{
    uint8_t pl[9];
    fill_pattern(pl, sizeof pl, 4);
    sl_pseudo phs[2] = {pseudo4(), pseudo6()};
    for (int i = 0; i < 2; i++) {
        sl_tcp_hdr h = emit_hdr(pl, sizeof pl);
        uint8_t buf[96];
        size_t w = emit_check(&h, &phs[i], buf, sizeof buf, NULL, 0);
        sl_tcp_hdr r;
        const uint8_t *p = at_guard(buf, w);
        ck_assert_int_eq(sl_tcp_parse(p, w, &phs[i], &r), SL_OK);
        ck_assert_uint_eq(r.sport, h.sport);
        ck_assert_uint_eq(r.dport, h.dport);
        ck_assert_uint_eq(r.seq, h.seq);
        ck_assert_uint_eq(r.ack, h.ack);
        ck_assert_uint_eq(r.doff, 5);
        ck_assert_uint_eq(r.flags, h.flags);
        ck_assert_uint_eq(r.reserved, 1);
        ck_assert_uint_eq(r.window, h.window);
        ck_assert_uint_eq(r.urgent, 0);
        ck_assert_uint_eq(r.payload_len, sizeof pl);
        ck_assert_mem_eq(r.payload, pl, sizeof pl);
        ck_assert_int_eq(sl_tcp_parse(p, w, &phs[1 - i], &r), SL_ERR_TCP_CHECKSUM);
    }
    /* NULL pseudo: checksum left 0 */
    sl_tcp_hdr h = emit_hdr(pl, sizeof pl);
    uint8_t buf[96];
    emit_check(&h, NULL, buf, sizeof buf, NULL, 0);
    ck_assert_uint_eq(sl_load16(buf + 16), 0);
}
END_TEST

START_TEST(emit_layout_aligned)
{
    uint8_t buf[128];
    sl_tcp_hdr h = emit_hdr(NULL, 0);
    /* the classic SYN: MSS, SACK-permitted, timestamps, NOP, window scale */
    h.o.has_mss = true;
    h.o.mss = 1460;
    h.o.sack_perm = true;
    h.o.has_ts = true;
    h.o.ts_val = 0x11223344u;
    h.o.ts_ecr = 0;
    h.o.has_wscale = true;
    h.o.wscale = 7;
    static const uint8_t syn[20] = {2,    4,    0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22,
                                    0x33, 0x44, 0,    0,    0, 0, 1, 3,  3,    7};
    sl_pseudo ph = pseudo4();
    size_t w = emit_check(&h, &ph, buf, sizeof buf, syn, 20);
    sl_tcp_hdr r;
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    ck_assert(r.o.has_mss && r.o.sack_perm && r.o.has_ts && r.o.has_wscale);
    ck_assert_uint_eq(r.o.mss, 1460);
    ck_assert_uint_eq(r.o.ts_val, 0x11223344u);
    ck_assert_uint_eq(r.o.wscale, 7);

    /* each option alone */
    sl_tcp_opts z;
    memset(&z, 0, sizeof z);
    h.o = z;
    h.o.has_mss = true;
    h.o.mss = 536;
    static const uint8_t mss[4] = {2, 4, 2, 0x18};
    emit_check(&h, NULL, buf, sizeof buf, mss, 4);
    h.o = z;
    h.o.sack_perm = true;
    static const uint8_t sp[4] = {1, 1, 4, 2};
    emit_check(&h, NULL, buf, sizeof buf, sp, 4);
    h.o = z;
    h.o.has_ts = true;
    h.o.ts_val = 1;
    h.o.ts_ecr = 2;
    static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    emit_check(&h, NULL, buf, sizeof buf, ts, 12);
    h.o = z;
    h.o.has_wscale = true;
    h.o.wscale = 14;
    static const uint8_t ws[4] = {1, 3, 3, 14};
    emit_check(&h, NULL, buf, sizeof buf, ws, 4);
    h.o = z;
    h.o.n_sack = 1;
    h.o.sack[0].left = 0x01020304u;
    h.o.sack[0].right = 0x05060708u;
    static const uint8_t sk[12] = {1, 1, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8};
    emit_check(&h, NULL, buf, sizeof buf, sk, 12);
    /* established: timestamps + 2 SACK blocks = 12 + 20 */
    h.o.has_ts = true;
    h.o.n_sack = 2;
    h.o.sack[1].left = 9;
    h.o.sack[1].right = 10;
    w = emit_check(&h, &ph, buf, sizeof buf, NULL, 32);
    ck_assert_uint_eq(buf[20], 1);
    ck_assert_uint_eq(buf[32], 1);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    ck_assert_uint_eq(r.o.n_sack, 2);
    ck_assert_uint_eq(r.o.sack[1].right, 10);
    /* MSS + 4 SACK blocks, WS + 4 SACK blocks: exactly 40 aligned */
    h.o = z;
    h.o.n_sack = 4;
    h.o.has_mss = true;
    emit_check(&h, NULL, buf, sizeof buf, NULL, 40);
    ck_assert_uint_eq(buf[24], 1); /* NOP-aligned */
    h.o.has_mss = false;
    h.o.has_wscale = true;
    emit_check(&h, NULL, buf, sizeof buf, NULL, 40);
    ck_assert_uint_eq(buf[20], 1);
    /* no options */
    h.o = z;
    emit_check(&h, NULL, buf, sizeof buf, NULL, 0);
}
END_TEST

START_TEST(emit_layout_packed_fallback)
{
    uint8_t buf[128];
    sl_pseudo ph = pseudo6();
    sl_tcp_hdr h = emit_hdr(NULL, 0);
    /* TS + WS + 3 SACK: aligned 12 + 4 + 28 = 44 > 40; packed 39 -> 40 */
    h.o.has_ts = true;
    h.o.ts_val = 0xa1a2a3a4u;
    h.o.ts_ecr = 0xb1b2b3b4u;
    h.o.has_wscale = true;
    h.o.wscale = 5;
    h.o.n_sack = 3;
    for (unsigned k = 0; k < 3; k++) {
        h.o.sack[k].left = 0x10u * (k + 1);
        h.o.sack[k].right = 0x10u * (k + 1) + 8;
    }
    uint8_t want[40];
    bb x = bb_make(want, sizeof want);
    bb_u8(&x, 8);
    bb_u8(&x, 10);
    bb_u32(&x, 0xa1a2a3a4u);
    bb_u32(&x, 0xb1b2b3b4u);
    bb_u8(&x, 3);
    bb_u8(&x, 3);
    bb_u8(&x, 5);
    bb_u8(&x, 5);
    bb_u8(&x, 26);
    for (unsigned k = 0; k < 3; k++) {
        bb_u32(&x, 0x10u * (k + 1));
        bb_u32(&x, 0x10u * (k + 1) + 8);
    }
    bb_u8(&x, 0); /* EOL pad */
    ck_assert_uint_eq(x.n, 40);
    size_t w = emit_check(&h, &ph, buf, sizeof buf, want, 40);
    sl_tcp_hdr r;
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    ck_assert(r.o.has_ts && r.o.has_wscale);
    ck_assert_uint_eq(r.o.ts_val, 0xa1a2a3a4u);
    ck_assert_uint_eq(r.o.ts_ecr, 0xb1b2b3b4u);
    ck_assert_uint_eq(r.o.wscale, 5);
    ck_assert_uint_eq(r.o.n_sack, 3);
    for (unsigned k = 0; k < 3; k++) {
        ck_assert_uint_eq(r.o.sack[k].left, 0x10u * (k + 1));
        ck_assert_uint_eq(r.o.sack[k].right, 0x10u * (k + 1) + 8);
    }
    /* MSS + TS + 3 SACK: aligned 44, packed exactly 40 (no padding) */
    h.o.has_wscale = false;
    h.o.has_mss = true;
    h.o.mss = 1220;
    w = emit_check(&h, &ph, buf, sizeof buf, NULL, 40);
    ck_assert_uint_eq(buf[20], 2);
    ck_assert_uint_eq(buf[24], 8);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    ck_assert(r.o.has_mss && r.o.has_ts && !r.o.has_wscale);
    ck_assert_uint_eq(r.o.n_sack, 3);
}
END_TEST

START_TEST(emit_opt_space)
{
    uint8_t buf[128];
    sl_tcp_hdr h = emit_hdr(NULL, 0);
    sl_tcp_opts all;
    memset(&all, 0, sizeof all);
    all.has_mss = all.has_wscale = all.sack_perm = all.has_ts = true;
    all.n_sack = 4;
    sl_tcp_opts cases[5];
    cases[0] = all; /* packed 53 */
    cases[1] = all;
    cases[1].n_sack = 3; /* packed 45 -> 48 */
    memset(&cases[2], 0, sizeof all);
    cases[2].has_ts = true;
    cases[2].n_sack = 4; /* packed 44 */
    memset(&cases[3], 0, sizeof all);
    cases[3].has_mss = cases[3].has_wscale = true;
    cases[3].n_sack = 4; /* packed 41 -> 44 */
    memset(&cases[4], 0, sizeof all);
    cases[4].sack_perm = cases[4].has_ts = cases[4].has_wscale = true;
    cases[4].n_sack = 3; /* packed 41 -> 44 */
    for (size_t i = 0; i < 5; i++) {
        h.o = cases[i];
        sl_error err = SL_OK;
        ck_assert_uint_eq(sl_tcp_opts_len(&h.o, &err), 0);
        ck_assert_int_eq(err, SL_ERR_TCP_OPT_SPACE);
        ck_assert_uint_eq(sl_tcp_emit_len(&h), 0);
        poison(buf, sizeof buf);
        size_t w = 5;
        sl_pseudo ph = pseudo4();
        ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_ERR_TCP_OPT_SPACE);
        ck_assert(all_poison(buf, sizeof buf));
        ck_assert_uint_eq(w, 5);
    }
}
END_TEST

START_TEST(emit_inval)
{
    uint8_t buf[128];
    size_t w = 5;
    sl_tcp_hdr h = emit_hdr(NULL, 0);
    for (unsigned n = 5; n < 256; n += 50) {
        h.o.n_sack = (uint8_t)n;
        sl_error err = SL_OK;
        ck_assert_uint_eq(sl_tcp_opts_len(&h.o, &err), 0);
        ck_assert_int_eq(err, SL_ERR_INVAL);
        ck_assert_uint_eq(sl_tcp_emit_len(&h), 0);
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_tcp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
        ck_assert(all_poison(buf, sizeof buf));
    }
    h = emit_hdr(NULL, 4);
    static const uint8_t fams[] = {0, 5, 46};
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo ph = {fams[i], T_SRC4, T_DST4};
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_ERR_INVAL);
        ck_assert(all_poison(buf, sizeof buf));
    }
    h = emit_hdr(NULL, 65516); /* 65536 */
    ck_assert_int_eq(sl_tcp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.payload_len = 65512;
    h.o.has_mss = true; /* 24 + 65512 */
    ck_assert_int_eq(sl_tcp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    ck_assert_uint_eq(w, 5);
}
END_TEST

START_TEST(emit_max_total)
{
    size_t n = 65535;
    uint8_t *buf = malloc(n + 8);
    ck_assert_ptr_nonnull(buf);
    poison(buf, n + 8);
    sl_tcp_hdr h = emit_hdr(NULL, n - 24);
    h.o.has_mss = true;
    h.o.mss = 9000;
    sl_pseudo ph = pseudo4();
    size_t w = 0;
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, n, &w), SL_OK);
    ck_assert_uint_eq(w, n);
    ck_assert(all_poison(buf + n, 8));
    sl_tcp_hdr r;
    ck_assert_int_eq(sl_tcp_parse(buf, n, &ph, &r), SL_OK);
    ck_assert_uint_eq(r.payload_len, n - 24);
    free(buf);
}
END_TEST

START_TEST(emit_bufsz)
{
    uint8_t buf[128];
    uint8_t pl[7] = {1, 2, 3, 4, 5, 6, 7};
    sl_tcp_hdr h = emit_hdr(pl, sizeof pl);
    h.o.has_ts = true;
    size_t need = sl_tcp_emit_len(&h);
    ck_assert_uint_eq(need, 20 + 12 + 7);
    sl_pseudo ph = pseudo4();
    size_t w = 3;
    for (size_t cap = 0; cap < need; cap++) {
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert(all_poison(buf, sizeof buf));
    }
    ck_assert_uint_eq(w, 3);
}
END_TEST

START_TEST(emit_payload_null_and_overlap)
{
    uint8_t buf[128];
    uint8_t want[13];
    fill_pattern(want, sizeof want, 99);
    sl_pseudo ph = pseudo4();
    sl_tcp_hdr r;
    /* NULL: bytes in place kept and checksummed */
    poison(buf, sizeof buf);
    memcpy(buf + 24, want, sizeof want);
    sl_tcp_hdr h = emit_hdr(NULL, sizeof want);
    h.o.has_mss = true;
    h.o.mss = 1400;
    size_t w = 0;
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 24 + sizeof want);
    ck_assert_mem_eq(buf + 24, want, sizeof want);
    ck_assert(all_poison(buf + w, sizeof buf - w));
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    /* the checksum really covers them */
    buf[30] ^= 0x40;
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_ERR_TCP_CHECKSUM);
    buf[30] ^= 0x40;
    /* in place */
    h.payload = buf + 24;
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 24, want, sizeof want);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    /* overlapping the header (ahead) and behind */
    memcpy(buf + 5, want, sizeof want);
    h.payload = buf + 5;
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 24, want, sizeof want);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    memcpy(buf + 30, want, sizeof want);
    h.payload = buf + 30;
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 24, want, sizeof want);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    ck_assert_mem_eq(r.payload, want, sizeof want);
    /* non-NULL pointer with zero length */
    h = emit_hdr(want, 0);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_tcp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 20);
    ck_assert(all_poison(buf + 20, sizeof buf - 20));
}
END_TEST

/* ---- guard-page sweeps ------------------------------------------------ */

static sl_error sweep_parse(const uint8_t *p, size_t len, void *ctx)
{
    const sl_pseudo *ph = ctx;
    sl_tcp_hdr h;
    sl_error e = sl_tcp_parse(p, len, ph, &h);
    if (e == SL_OK) {
        ck_assert_uint_le(h.payload_len + (size_t)(h.payload - p), len);
        ck_assert_uint_eq(h.payload_len + h.opts_len + 20, len);
    }
    return e;
}

static sl_error sweep_opts(const uint8_t *p, size_t len, void *ctx)
{
    (void)ctx;
    sl_tcp_opts o;
    return sl_tcp_opts_parse(p, len, &o);
}

START_TEST(guard_truncation_sweep)
{
    static const uint8_t opts[40] = {2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6,
                                     7, 8, 1, 3, 3, 7, 1, 1, 5, 18, 0, 0, 0, 1,
                                     0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    uint8_t b[128];
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    size_t n = tcp_build(b, sizeof b, opts, sizeof opts, 17, &p4);
    guard_sweep(b, n, sweep_parse, &p4, true);
    n = tcp_build(b, sizeof b, opts, sizeof opts, 17, &p6);
    guard_sweep(b, n, sweep_parse, &p6, true);
    /* without a checksum a shorter payload is fine: no fault either way */
    guard_sweep(b, n, sweep_parse, NULL, false);
    /* the options area alone, every truncation at the guard: no fault */
    static const uint8_t each[] = {2, 4, 5, 0xb4, 3, 3, 7, 4, 2, 8, 10, 1, 2, 3, 4, 5,
                                   6, 7, 8, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0x99, 3, 0};
    guard_sweep(each, sizeof each, sweep_opts, NULL, false);
}
END_TEST

/* ---- known bugs (see the report; remove the marker once fixed) -------- */

/* Regression (fixed): sl_tcp_opts_parse (public, "parse an options area alone") accepts
 * a SACK option of length 2 + 8n for any n, relying on "olen <= 40" which
 * only sl_tcp_parse guarantees.  With an area longer than 40 bytes, a SACK
 * option of length 42 (5 blocks) writes o->sack[4], past the 4-entry
 * array (into n_unknown and beyond the struct); length 250 writes 31
 * blocks.  Expected SL_ERR_TCP_OPT_FIXED (docs/wire.md: "SACK not 2+8n
 * with n = 1..4") and nothing written past the struct. */
START_TEST(bug_opts_parse_sack_more_than_4_blocks)
{
    uint8_t area[48];
    memset(area, 0, sizeof area);
    area[0] = 5;
    area[1] = 42;
    for (size_t i = 2; i < 42; i++)
        area[i] = 0x77;
    struct {
        sl_tcp_opts o;
        uint8_t canary[256];
    } s;
    memset(&s, 0xc3, sizeof s);
    sl_error e = opts_g(area, sizeof area, &s.o);
    for (size_t i = 0; i < sizeof s.canary; i++)
        ck_assert_msg(s.canary[i] == 0xc3, "write past sl_tcp_opts at +%zu", i);
    ck_assert_int_eq(e, SL_ERR_TCP_OPT_FIXED);
}
END_TEST

/* Regression (fixed): sl_tcp_emit computes total = hlen + payload_len in size_t and only
 * then compares with 65535: payload_len = SIZE_MAX - 19 wraps total to 0,
 * passing the INVAL and BUFSZ checks; the 20-byte header is written into
 * a buffer of capacity 0 and SL_OK returned with written = 0.  Expected
 * SL_ERR_INVAL and nothing written (sl_tcp_emit_len wraps likewise). */
START_TEST(bug_emit_payload_len_wraps)
{
    uint8_t buf[64];
    poison(buf, sizeof buf);
    sl_tcp_hdr h = emit_hdr(NULL, SIZE_MAX - 19);
    size_t w = 4242;
    sl_error e = sl_tcp_emit(&h, NULL, buf, 0, &w);
    ck_assert_int_eq(e, SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    ck_assert_uint_eq(w, 4242);
}
END_TEST

static Suite *tcp_suite(void)
{
    Suite *s = suite_create("tcp");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_basic_fields);
    tcase_add_test(tc, err_truncated_offset_hdr_trunc);
    tcase_add_test(tc, checksum_v4_v6);
    tcase_add_test(tc, checksum_pseudo_family_invalid);
    tcase_add_test(tc, checksum_length_limits);
    tcase_add_test(tc, urgent_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, opts_each_known_valid);
    tcase_add_test(tc, opts_sack_lengths);
    tcase_add_test(tc, opts_err_fixed_lengths);
    tcase_add_test(tc, opts_err_len);
    tcase_add_test(tc, opts_eol_stops);
    tcase_add_test(tc, opts_unknown_counted_saturating);
    tcase_add_test(tc, opts_repeated_last_wins);
    suite_add_tcase(s, tc);

    tc = tcase_create("emit");
    tcase_add_test(tc, emit_basic_roundtrip_v4_v6);
    tcase_add_test(tc, emit_layout_aligned);
    tcase_add_test(tc, emit_layout_packed_fallback);
    tcase_add_test(tc, emit_opt_space);
    tcase_add_test(tc, emit_inval);
    tcase_add_test(tc, emit_max_total);
    tcase_add_test(tc, emit_bufsz);
    tcase_add_test(tc, emit_payload_null_and_overlap);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_test(tc, guard_truncation_sweep);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_test(tc, bug_opts_parse_sack_more_than_4_blocks);
    tcase_add_test(tc, bug_emit_payload_len_wraps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tcp_suite());
}
