/* Unit tests for src/wire/udp.c (RFC 768; zero checksum, RFC 8200 §8.1). */
#include "unit_util.h"

static uint32_t pseudo_sum(const sl_pseudo *ph, size_t len)
{
    if (ph->family == 4)
        return sl_csum_pseudo4(ph->src, ph->dst, SL_IPPROTO_UDP, (uint16_t)len);
    return sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_UDP, (uint32_t)len);
}

/* Datagram of 8 + paylen bytes (length field = that) with the right
 * checksum over ph, or 0 with ph NULL. */
static size_t udp_build(uint8_t *b, size_t cap, size_t paylen, const sl_pseudo *ph)
{
    bb x = bb_make(b, cap);
    bb_u16(&x, 5353);
    bb_u16(&x, 53);
    bb_u16(&x, (unsigned)(8 + paylen));
    bb_u16(&x, 0);
    bb_pattern(&x, paylen, 21);
    if (ph != NULL) {
        uint16_t c = sl_csum_finish(sl_csum_partial(b, x.n, pseudo_sum(ph, x.n)));
        sl_store16(b + 6, c == 0 ? 0xffffu : c);
    }
    return x.n;
}

static sl_error parse_g(const uint8_t *b, size_t len, const sl_pseudo *ph, sl_udp_hdr *h)
{
    return sl_udp_parse(at_guard(b, len), len, ph, h);
}

START_TEST(parse_basic_fields)
{
    uint8_t b[64];
    sl_pseudo ph = pseudo4();
    size_t n = udp_build(b, sizeof b, 12, &ph);
    sl_udp_hdr h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_udp_parse(p, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.sport, 5353);
    ck_assert_uint_eq(h.dport, 53);
    ck_assert_uint_eq(h.length, 20);
    ck_assert_uint_eq(h.checksum, sl_load16(b + 6));
    ck_assert_ptr_eq(h.payload, p + 8);
    ck_assert_uint_eq(h.payload_len, 12);
    /* header only */
    n = udp_build(b, sizeof b, 0, &ph);
    ck_assert_int_eq(parse_g(b, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, 0);
}
END_TEST

START_TEST(err_truncated_and_len)
{
    uint8_t b[64];
    size_t n = udp_build(b, sizeof b, 4, NULL);
    sl_udp_hdr h;
    for (size_t l = 0; l < 8; l++)
        ck_assert_int_eq(parse_g(b, l, NULL, &h), SL_ERR_TRUNCATED);
    for (unsigned v = 0; v < 8; v++) {
        sl_store16(b + 4, (uint16_t)v);
        ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_ERR_UDP_LEN);
    }
    sl_store16(b + 4, (uint16_t)(n + 1));
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_ERR_UDP_LEN);
    sl_store16(b + 4, 0xffff);
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_ERR_UDP_LEN);
    sl_store16(b + 4, 8);
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, 0);
}
END_TEST

START_TEST(trailing_bytes_ignored)
{
    uint8_t b[64];
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    size_t n = udp_build(b, sizeof b, 5, &p6);
    memset(b + n, 0xee, 9); /* not covered by the length or checksum */
    sl_udp_hdr h;
    ck_assert_int_eq(parse_g(b, n + 9, &p6, &h), SL_OK);
    ck_assert_uint_eq(h.length, 13);
    ck_assert_uint_eq(h.payload_len, 5);
    n = udp_build(b, sizeof b, 5, &p4);
    memset(b + n, 0x11, 9);
    ck_assert_int_eq(parse_g(b, n + 9, &p4, &h), SL_OK);
    ck_assert_uint_eq(h.payload_len, 5);
}
END_TEST

START_TEST(checksum_rules)
{
    uint8_t b[64];
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    sl_udp_hdr h;
    /* zero checksum: none over v4, an error over v6, fine with NULL */
    size_t n = udp_build(b, sizeof b, 6, NULL);
    ck_assert_uint_eq(sl_load16(b + 6), 0);
    ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_OK);
    ck_assert_uint_eq(h.checksum, 0);
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_ERR_UDP_ZERO_CSUM);
    ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_OK);
    /* good / bad over both */
    n = udp_build(b, sizeof b, 6, &p4);
    ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_OK);
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_ERR_UDP_CHECKSUM);
    for (size_t i = 0; i < n; i++) {
        if (i == 4 || i == 5)
            continue;
        b[i] ^= 0x20;
        ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_ERR_UDP_CHECKSUM);
        ck_assert_int_eq(parse_g(b, n, NULL, &h), SL_OK);
        b[i] ^= 0x20;
    }
    n = udp_build(b, sizeof b, 6, &p6);
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_OK);
    ck_assert_int_eq(parse_g(b, n, &p4, &h), SL_ERR_UDP_CHECKSUM);
    b[9] ^= 1;
    ck_assert_int_eq(parse_g(b, n, &p6, &h), SL_ERR_UDP_CHECKSUM);
    /* a bad pseudo family */
    static const uint8_t fams[] = {0, 1, 5, 7, 255};
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo ph = {fams[i], T_SRC4, T_DST4};
        ck_assert_int_eq(parse_g(b, n, &ph, &h), SL_ERR_INVAL);
    }
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

static sl_udp_hdr emit_hdr(const uint8_t *pl, size_t plen)
{
    sl_udp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = 68;
    h.dport = 67;
    h.length = 3;     /* ignored */
    h.checksum = 0x1; /* ignored */
    h.payload = pl;
    h.payload_len = plen;
    return h;
}

START_TEST(emit_exact_roundtrip)
{
    uint8_t pl[17];
    fill_pattern(pl, sizeof pl, 8);
    sl_pseudo phs[2] = {pseudo4(), pseudo6()};
    for (int i = 0; i < 2; i++) {
        sl_udp_hdr h = emit_hdr(pl, sizeof pl);
        ck_assert_uint_eq(sl_udp_emit_len(&h), 25);
        uint8_t buf[64];
        poison(buf, sizeof buf);
        size_t w = 0;
        ck_assert_int_eq(sl_udp_emit(&h, &phs[i], buf, 25, &w), SL_OK);
        ck_assert_uint_eq(w, 25);
        ck_assert(all_poison(buf + 25, sizeof buf - 25));
        sl_udp_hdr r;
        const uint8_t *p = at_guard(buf, w);
        ck_assert_int_eq(sl_udp_parse(p, w, &phs[i], &r), SL_OK);
        ck_assert_uint_eq(r.sport, 68);
        ck_assert_uint_eq(r.dport, 67);
        ck_assert_uint_eq(r.length, 25);
        ck_assert_uint_ne(r.checksum, 0);
        ck_assert_uint_eq(r.payload_len, sizeof pl);
        ck_assert_mem_eq(r.payload, pl, sizeof pl);
    }
    /* NULL pseudo: checksum 0 ("none"; valid over IPv4 only) */
    sl_udp_hdr h = emit_hdr(pl, sizeof pl);
    uint8_t buf[64];
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&h, NULL, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(sl_load16(buf + 6), 0);
    sl_udp_hdr r;
    ck_assert_int_eq(parse_g(buf, w, &phs[0], &r), SL_OK);
    ck_assert_int_eq(parse_g(buf, w, &phs[1], &r), SL_ERR_UDP_ZERO_CSUM);
}
END_TEST

/* RFC 768: a computed checksum of 0 is sent as 0xFFFF. */
START_TEST(emit_zero_checksum_as_ffff)
{
    sl_pseudo phs[2] = {pseudo4(), pseudo6()};
    for (int i = 0; i < 2; i++) {
        /* with payload word W = 0 the checksum is c = ~S; using W = c
         * makes the sum S + ~S = 0xffff, i.e. a computed checksum 0 */
        uint8_t pl[2] = {0, 0};
        sl_udp_hdr h = emit_hdr(pl, 2);
        uint8_t buf[32];
        size_t w = 0;
        ck_assert_int_eq(sl_udp_emit(&h, &phs[i], buf, sizeof buf, &w), SL_OK);
        uint16_t c = sl_load16(buf + 6);
        sl_store16(pl, c);
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_udp_emit(&h, &phs[i], buf, sizeof buf, &w), SL_OK);
        ck_assert_uint_eq(sl_load16(buf + 6), 0xffff);
        ck_assert(all_poison(buf + 10, sizeof buf - 10));
        sl_udp_hdr r;
        ck_assert_int_eq(parse_g(buf, w, &phs[i], &r), SL_OK);
        ck_assert_uint_eq(r.checksum, 0xffff);
    }
}
END_TEST

START_TEST(emit_inval_bufsz)
{
    uint8_t buf[64];
    size_t w = 11;
    sl_udp_hdr h = emit_hdr(NULL, 65528);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_udp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.payload_len = SIZE_MAX;
    ck_assert_int_eq(sl_udp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.payload_len = SIZE_MAX - 7;
    ck_assert_int_eq(sl_udp_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    static const uint8_t fams[] = {0, 5, 44};
    h = emit_hdr(NULL, 4);
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo ph = {fams[i], T_SRC6, T_DST6};
        ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_ERR_INVAL);
    }
    ck_assert(all_poison(buf, sizeof buf));
    uint8_t pl[3] = {9, 8, 7};
    h = emit_hdr(pl, 3);
    sl_pseudo ph = pseudo6();
    for (size_t cap = 0; cap < 11; cap++) {
        ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert_int_eq(sl_udp_emit(&h, NULL, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert(all_poison(buf, sizeof buf));
    }
    ck_assert_uint_eq(w, 11);
    /* the largest datagram */
    uint8_t *big = malloc(65535 + 8);
    ck_assert_ptr_nonnull(big);
    memset(big, 0x3c, 65535);
    poison(big + 65535, 8);
    h = emit_hdr(NULL, 65527);
    ck_assert_int_eq(sl_udp_emit(&h, &ph, big, 65535, &w), SL_OK);
    ck_assert_uint_eq(w, 65535);
    ck_assert(all_poison(big + 65535, 8));
    sl_udp_hdr r;
    ck_assert_int_eq(sl_udp_parse(big, 65535, &ph, &r), SL_OK);
    ck_assert_uint_eq(r.length, 65535);
    free(big);
}
END_TEST

START_TEST(emit_payload_null_and_overlap)
{
    uint8_t buf[64];
    uint8_t want[10];
    fill_pattern(want, sizeof want, 50);
    sl_pseudo ph = pseudo4();
    sl_udp_hdr r;
    poison(buf, sizeof buf);
    memcpy(buf + 8, want, sizeof want);
    sl_udp_hdr h = emit_hdr(NULL, sizeof want);
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 18);
    ck_assert_mem_eq(buf + 8, want, sizeof want);
    ck_assert(all_poison(buf + 18, sizeof buf - 18));
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    buf[12] ^= 4; /* covered by the checksum */
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_ERR_UDP_CHECKSUM);
    buf[12] ^= 4;
    h.payload = buf + 8;
    ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 8, want, sizeof want);
    memcpy(buf + 2, want, sizeof want);
    h.payload = buf + 2;
    ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 8, want, sizeof want);
    memcpy(buf + 12, want, sizeof want);
    h.payload = buf + 12;
    ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_mem_eq(buf + 8, want, sizeof want);
    ck_assert_int_eq(parse_g(buf, w, &ph, &r), SL_OK);
    h = emit_hdr(want, 0);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_udp_emit(&h, &ph, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(w, 8);
    ck_assert(all_poison(buf + 8, sizeof buf - 8));
}
END_TEST

static sl_error sweep_parse(const uint8_t *p, size_t len, void *ctx)
{
    const sl_pseudo *ph = ctx;
    sl_udp_hdr h;
    sl_error e = sl_udp_parse(p, len, ph, &h);
    if (e == SL_OK)
        ck_assert_uint_le(h.payload_len + 8, len);
    return e;
}

START_TEST(guard_truncation_sweep)
{
    uint8_t b[64];
    sl_pseudo p4 = pseudo4(), p6 = pseudo6();
    size_t n = udp_build(b, sizeof b, 23, &p4);
    guard_sweep(b, n, sweep_parse, &p4, true);
    guard_sweep(b, n, sweep_parse, NULL, true);
    n = udp_build(b, sizeof b, 23, &p6);
    guard_sweep(b, n, sweep_parse, &p6, true);
}
END_TEST

static Suite *udp_suite(void)
{
    Suite *s = suite_create("udp");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_basic_fields);
    tcase_add_test(tc, err_truncated_and_len);
    tcase_add_test(tc, trailing_bytes_ignored);
    tcase_add_test(tc, checksum_rules);
    suite_add_tcase(s, tc);
    tc = tcase_create("emit");
    tcase_add_test(tc, emit_exact_roundtrip);
    tcase_add_test(tc, emit_zero_checksum_as_ffff);
    tcase_add_test(tc, emit_inval_bufsz);
    tcase_add_test(tc, emit_payload_null_and_overlap);
    suite_add_tcase(s, tc);
    tc = tcase_create("guard");
    tcase_add_test(tc, guard_truncation_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(udp_suite());
}
