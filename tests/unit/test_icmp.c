/* Unit tests for src/wire/icmp.c (ICMPv4 RFC 792/1191, ICMPv6 RFC 4443,
 * NDP types of RFC 4861, quoted packets). */
#include "unit_util.h"

/* ---- builders --------------------------------------------------------- */

static size_t icmp_hdr(uint8_t *b, size_t cap, unsigned type, unsigned code, uint32_t rest,
                       const uint8_t *body, size_t blen)
{
    bb x = bb_make(b, cap);
    bb_u8(&x, type);
    bb_u8(&x, code);
    bb_u16(&x, 0);
    bb_u32(&x, rest);
    bb_mem(&x, body, blen);
    return x.n;
}

static size_t icmp4_build(uint8_t *b, size_t cap, unsigned type, unsigned code, uint32_t rest,
                          const uint8_t *body, size_t blen)
{
    size_t n = icmp_hdr(b, cap, type, code, rest, body, blen);
    sl_store16(b + 2, sl_csum(b, n));
    return n;
}

static void icmp6_fix(uint8_t *b, size_t n, const sl_pseudo *ph)
{
    sl_store16(b + 2, 0);
    if (ph != NULL) {
        uint32_t s = sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_ICMPV6, (uint32_t)n);
        sl_store16(b + 2, sl_csum_finish(sl_csum_partial(b, n, s)));
    }
}

static size_t icmp6_build(uint8_t *b, size_t cap, unsigned type, unsigned code, uint32_t rest,
                          const uint8_t *body, size_t blen, const sl_pseudo *ph)
{
    size_t n = icmp_hdr(b, cap, type, code, rest, body, blen);
    icmp6_fix(b, n, ph);
    return n;
}

/* A quoted IPv4 header: ihl words (options NOP), total-length field,
 * flags/offset word, protocol, followed by l4[0..l4len-1]. */
static size_t q4_build(uint8_t *q, size_t cap, unsigned ihl, unsigned total, unsigned ff,
                       unsigned proto, const uint8_t *l4, size_t l4len)
{
    bb x = bb_make(q, cap);
    bb_u8(&x, 0x40u | ihl);
    bb_u8(&x, 0);
    bb_u16(&x, total);
    bb_u16(&x, 0x4321);
    bb_u16(&x, ff);
    bb_u8(&x, 1);
    bb_u8(&x, proto);
    bb_u16(&x, 0xbad0); /* never checked */
    bb_mem(&x, T_SRC4, 4);
    bb_mem(&x, T_DST4, 4);
    for (unsigned i = 5; i < ihl; i++)
        bb_u32(&x, 0x01010101u);
    bb_mem(&x, l4, l4len);
    return x.n;
}

/* A quoted IPv6 packet: fixed header (plen, nh) + ext + l4. */
static size_t q6_build(uint8_t *q, size_t cap, unsigned plen, unsigned nh, const uint8_t *ext,
                       size_t elen, const uint8_t *l4, size_t l4len)
{
    bb x = bb_make(q, cap);
    bb_u32(&x, 0x60000000u);
    bb_u16(&x, plen);
    bb_u8(&x, nh);
    bb_u8(&x, 1);
    bb_mem(&x, T_DST6, 16); /* the packet we sent: from us to them */
    bb_mem(&x, T_SRC6, 16);
    bb_mem(&x, ext, elen);
    bb_mem(&x, l4, l4len);
    return x.n;
}

/* 8 transport bytes of a UDP / TCP / echo header. */
static const uint8_t L4_UDP[8] = {0x30, 0x39, 0x00, 0x35, 0x00, 0x1c, 0x12, 0x34};
static const uint8_t L4_TCP[8] = {0xc0, 0x00, 0x01, 0xbb, 0xde, 0xad, 0xbe, 0xef};
static const uint8_t L4_ECHO4[8] = {8, 0, 0xaa, 0xbb, 0x12, 0x34, 0x00, 0x07};
static const uint8_t L4_ECHO6[8] = {128, 0, 0xaa, 0xbb, 0x56, 0x78, 0x00, 0x09};

static sl_error p4(const uint8_t *b, size_t len, unsigned flags, sl_icmp_hdr *h)
{
    return sl_icmp4_parse(at_guard(b, len), len, flags, h);
}

static sl_error p6(const uint8_t *b, size_t len, const sl_pseudo *ph, sl_icmp_hdr *h)
{
    return sl_icmp6_parse(at_guard(b, len), len, ph, h);
}

/* Parse an ICMPv4 error of type/code whose body is q[0..qlen-1]. */
static sl_error err4(unsigned type, unsigned code, uint32_t rest, const uint8_t *q, size_t qlen,
                     sl_icmp_hdr *h)
{
    static uint8_t b[2048];
    size_t n = icmp4_build(b, sizeof b, type, code, rest, q, qlen);
    return p4(b, n, 0, h);
}

static sl_error err6(unsigned type, const uint8_t *q, size_t qlen, sl_icmp_hdr *h)
{
    static uint8_t b[2048];
    sl_pseudo ph = pseudo6();
    size_t n = icmp6_build(b, sizeof b, type, 0, 0, q, qlen, &ph);
    return p6(b, n, &ph, h);
}

/* ---- ICMPv4: kinds ---------------------------------------------------- */

START_TEST(v4_echo)
{
    uint8_t b[64];
    static const uint8_t data[5] = {1, 2, 3, 4, 5};
    size_t n = icmp4_build(b, sizeof b, 8, 0, sl_icmp_rest_echo(0x1234, 0x0042), data, 5);
    sl_icmp_hdr h;
    memset(&h, 0x5a, sizeof h);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_icmp4_parse(p, n, 0, &h), SL_OK);
    ck_assert_uint_eq(h.type, 8);
    ck_assert_uint_eq(h.code, 0);
    ck_assert_uint_eq(h.checksum, sl_load16(b + 2));
    ck_assert_uint_eq(h.rest, 0x12340042u);
    ck_assert_int_eq(h.kind, SL_ICMP_ECHO_REQUEST);
    ck_assert_uint_eq(h.echo_id, 0x1234);
    ck_assert_uint_eq(h.echo_seq, 0x42);
    ck_assert_uint_eq(h.mtu, 0);
    ck_assert_uint_eq(h.pointer, 0);
    ck_assert_ptr_eq(h.body, p + 8);
    ck_assert_uint_eq(h.body_len, 5);
    ck_assert(!h.has_quote);
    n = icmp4_build(b, sizeof b, 0, 0, sl_icmp_rest_echo(7, 8), NULL, 0);
    ck_assert_int_eq(p4(b, n, 0, &h), SL_OK);
    ck_assert_int_eq(h.kind, SL_ICMP_ECHO_REPLY);
    ck_assert_uint_eq(h.echo_id, 7);
    ck_assert_uint_eq(h.echo_seq, 8);
    ck_assert_uint_eq(h.body_len, 0);
}
END_TEST

START_TEST(v4_error_kinds)
{
    uint8_t q[64];
    size_t ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_UDP, L4_UDP, 8);
    sl_icmp_hdr h;
    /* port unreachable */
    ck_assert_int_eq(err4(3, 3, 0, q, ql, &h), SL_OK);
    ck_assert_int_eq(h.kind, SL_ICMP_DEST_UNREACH);
    ck_assert(h.has_quote);
    ck_assert_uint_eq(h.mtu, 0);
    ck_assert_uint_eq(h.echo_id, 0);
    /* fragmentation needed: next-hop MTU in the low 16 bits */
    ck_assert_int_eq(err4(3, 4, 0xabcd05dcu, q, ql, &h), SL_OK);
    ck_assert_int_eq(h.kind, SL_ICMP_DEST_UNREACH);
    ck_assert_uint_eq(h.mtu, 1500);
    ck_assert_uint_eq(h.rest, 0xabcd05dcu);
    /* other unreachable codes carry no MTU */
    ck_assert_int_eq(err4(3, 1, 0x000005dcu, q, ql, &h), SL_OK);
    ck_assert_uint_eq(h.mtu, 0);
    ck_assert_int_eq(err4(11, 0, 0, q, ql, &h), SL_OK);
    ck_assert_int_eq(h.kind, SL_ICMP_TIME_EXCEEDED);
    ck_assert(h.has_quote);
    ck_assert_int_eq(err4(12, 0, 0x14abcdefu, q, ql, &h), SL_OK);
    ck_assert_int_eq(h.kind, SL_ICMP_PARAM_PROBLEM);
    ck_assert_uint_eq(h.pointer, 0x14);
    ck_assert(h.has_quote);
}
END_TEST

START_TEST(v4_other_kinds)
{
    static const unsigned types[] = {4, 5, 9, 10, 13, 14, 15, 16, 17, 18, 30, 42, 200, 255};
    uint8_t garbage[3] = {0x60, 0, 0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint8_t b[64];
        size_t n = icmp4_build(b, sizeof b, types[i], 7, 0x01020304u, garbage, 3);
        sl_icmp_hdr h;
        ck_assert_int_eq(p4(b, n, 0, &h), SL_OK);
        ck_assert_int_eq(h.kind, SL_ICMP_OTHER);
        ck_assert_uint_eq(h.type, types[i]);
        ck_assert_uint_eq(h.code, 7);
        ck_assert_uint_eq(h.rest, 0x01020304u);
        ck_assert(!h.has_quote);
        ck_assert_uint_eq(h.body_len, 3);
    }
}
END_TEST

START_TEST(v4_truncated_checksum)
{
    uint8_t b[64];
    size_t n = icmp4_build(b, sizeof b, 8, 0, 0x10002, NULL, 0);
    sl_icmp_hdr h;
    for (size_t l = 0; l < 8; l++) {
        ck_assert_int_eq(p4(b, l, 0, &h), SL_ERR_TRUNCATED);
        ck_assert_int_eq(p4(b, l, SL_PARSE_NO_CSUM, &h), SL_ERR_TRUNCATED);
    }
    for (size_t i = 0; i < n; i++) {
        b[i] ^= 0x80;
        ck_assert_int_eq(p4(b, n, 0, &h), SL_ERR_ICMP_CHECKSUM);
        ck_assert_int_eq(p4(b, n, SL_PARSE_NO_CSUM, &h), SL_OK);
        b[i] ^= 0x80;
    }
    ck_assert_int_eq(p4(b, n, 0, &h), SL_OK);
}
END_TEST

/* ---- ICMPv4: quotes --------------------------------------------------- */

START_TEST(v4_quote_errors)
{
    uint8_t q[128];
    sl_icmp_hdr h;
    static const unsigned types[3] = {3, 11, 12};
    for (size_t t = 0; t < 3; t++) {
        size_t ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_UDP, L4_UDP, 8);
        /* too short for an IPv4 header */
        for (size_t l = 0; l < 20; l++)
            ck_assert_int_eq(err4(types[t], 0, 0, q, l, &h), SL_ERR_ICMP_QUOTE);
        /* 20..27: header but fewer than 8 transport bytes */
        for (size_t l = 20; l < 28; l++)
            ck_assert_int_eq(err4(types[t], 0, 0, q, l, &h), SL_ERR_ICMP_QUOTE);
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_OK);
        /* bad version */
        q[0] = 0x65;
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
        /* IHL < 5 */
        for (unsigned ihl = 0; ihl < 5; ihl++) {
            q[0] = (uint8_t)(0x40u | ihl);
            ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
        }
        /* IHL past the quote: 15 words = 60 > 28 */
        q[0] = 0x4f;
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
        q[0] = 0x45;
        /* total length < header length */
        sl_store16(q + 2, 19);
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
        sl_store16(q + 2, 0);
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
        /* total 27: the quote is the whole original, which had only 7
         * transport bytes: accepted, without ports */
        sl_store16(q + 2, 27);
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_OK);
        ck_assert(!h.quote.has_ports);
        ck_assert_uint_eq(h.quote.l4_len, 7);
        /* the quoted checksum is not checked */
        sl_store16(q + 2, 28);
        q[10] ^= 0xff;
        ck_assert_int_eq(err4(types[t], 0, 0, q, ql, &h), SL_OK);
    }
}
END_TEST

START_TEST(v4_quote_ports_seq_echo)
{
    uint8_t q[128];
    sl_icmp_hdr h;
    uint8_t b[256];
    /* UDP */
    size_t ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_UDP, L4_UDP, 8);
    size_t n = icmp4_build(b, sizeof b, 3, 3, 0, q, ql);
    const uint8_t *p = at_guard(b, n);
    ck_assert_int_eq(sl_icmp4_parse(p, n, 0, &h), SL_OK);
    const sl_icmp_quote *qq = &h.quote;
    ck_assert_uint_eq(qq->family, 4);
    ck_assert_uint_eq(qq->proto, SL_IPPROTO_UDP);
    ck_assert_mem_eq(qq->src, T_SRC4, 4);
    ck_assert_mem_eq(qq->dst, T_DST4, 4);
    ck_assert(!qq->is_fragment);
    ck_assert(qq->has_ports && !qq->has_seq && !qq->has_echo);
    ck_assert_uint_eq(qq->sport, 12345);
    ck_assert_uint_eq(qq->dport, 53);
    ck_assert_ptr_eq(qq->ip, p + 8);
    ck_assert_uint_eq(qq->ip_len, 28);
    ck_assert_ptr_eq(qq->l4, p + 28);
    ck_assert_uint_eq(qq->l4_len, 8);
    /* TCP: ports and sequence number */
    ql = q4_build(q, sizeof q, 5, 1500, 0x4000, SL_IPPROTO_TCP, L4_TCP, 8);
    ck_assert_int_eq(err4(3, 4, 1400, q, ql, &h), SL_OK);
    ck_assert(qq->has_ports && qq->has_seq && !qq->has_echo);
    ck_assert_uint_eq(qq->sport, 0xc000);
    ck_assert_uint_eq(qq->dport, 443);
    ck_assert_uint_eq(qq->seq, 0xdeadbeefu);
    ck_assert_uint_eq(qq->ip_len, 28); /* total 1500, cut short */
    /* ICMP echo request and reply: id and seq */
    ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_ICMP, L4_ECHO4, 8);
    ck_assert_int_eq(err4(11, 0, 0, q, ql, &h), SL_OK);
    ck_assert(qq->has_echo && !qq->has_ports && !qq->has_seq);
    ck_assert_uint_eq(qq->echo_id, 0x1234);
    ck_assert_uint_eq(qq->echo_seq, 7);
    q[20] = 0; /* echo reply */
    ck_assert_int_eq(err4(11, 0, 0, q, ql, &h), SL_OK);
    ck_assert(qq->has_echo);
    q[20] = 13; /* timestamp: no echo fields */
    ck_assert_int_eq(err4(11, 0, 0, q, ql, &h), SL_OK);
    ck_assert(!qq->has_echo);
    /* an echo-looking header under another protocol is not an echo */
    ql = q4_build(q, sizeof q, 5, 28, 0, 47, L4_ECHO4, 8);
    ck_assert_int_eq(err4(3, 2, 0, q, ql, &h), SL_OK);
    ck_assert(!qq->has_echo && !qq->has_ports);
    ck_assert_uint_eq(qq->proto, 47);
    /* ICMPv6 echo type under IPv4 ICMP: not an echo */
    ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_ICMP, L4_ECHO6, 8);
    ck_assert_int_eq(err4(3, 2, 0, q, ql, &h), SL_OK);
    ck_assert(!qq->has_echo);
}
END_TEST

START_TEST(v4_quote_lengths_and_options)
{
    uint8_t q[128];
    sl_icmp_hdr h;
    const sl_icmp_quote *qq = &h.quote;
    /* bytes past the quoted total length are dropped */
    uint8_t l4[20];
    memcpy(l4, L4_UDP, 8);
    memset(l4 + 8, 0xee, 12);
    size_t ql = q4_build(q, sizeof q, 5, 30, 0, SL_IPPROTO_UDP, l4, 20);
    ck_assert_int_eq(err4(3, 3, 0, q, ql, &h), SL_OK);
    ck_assert_uint_eq(qq->ip_len, 30);
    ck_assert_uint_eq(qq->l4_len, 10);
    ck_assert_uint_eq(h.body_len, 40);
    /* the whole original quoted (total == quoted) */
    ql = q4_build(q, sizeof q, 5, 40, 0, SL_IPPROTO_UDP, l4, 20);
    ck_assert_int_eq(err4(3, 3, 0, q, ql, &h), SL_OK);
    ck_assert_uint_eq(qq->ip_len, 40);
    ck_assert_uint_eq(qq->l4_len, 20);
    /* quoted header with options: transport header after them */
    ql = q4_build(q, sizeof q, 7, 36, 0, SL_IPPROTO_TCP, L4_TCP, 8);
    ck_assert_uint_eq(ql, 36);
    ck_assert_int_eq(err4(11, 1, 0, q, ql, &h), SL_OK);
    ck_assert(qq->has_seq);
    ck_assert_uint_eq(qq->seq, 0xdeadbeefu);
    ck_assert_uint_eq(qq->l4_len, 8);
    ck_assert_int_eq(err4(11, 1, 0, q, ql - 1, &h), SL_ERR_ICMP_QUOTE);
    /* quoted IHL 15 exactly fitting */
    ql = q4_build(q, sizeof q, 15, 68, 0, SL_IPPROTO_UDP, L4_UDP, 8);
    ck_assert_int_eq(err4(12, 0, 0x0c000000u, q, ql, &h), SL_OK);
    ck_assert_uint_eq(qq->sport, 12345);
}
END_TEST

START_TEST(v4_quote_fragments)
{
    uint8_t q[128];
    sl_icmp_hdr h;
    const sl_icmp_quote *qq = &h.quote;
    /* non-first fragment: no transport header needed */
    size_t ql = q4_build(q, sizeof q, 5, 1000, 0x0005, SL_IPPROTO_UDP, NULL, 0);
    ck_assert_int_eq(err4(11, 1, 0, q, ql, &h), SL_OK);
    ck_assert(qq->is_fragment);
    ck_assert(!qq->has_ports && !qq->has_seq);
    ck_assert_uint_eq(qq->l4_len, 0);
    ck_assert_uint_eq(qq->proto, SL_IPPROTO_UDP);
    ql = q4_build(q, sizeof q, 5, 1000, 0x2000 | 0x1fff, SL_IPPROTO_TCP, L4_TCP, 3);
    ck_assert_int_eq(err4(11, 1, 0, q, ql, &h), SL_OK);
    ck_assert(qq->is_fragment && !qq->has_seq);
    ck_assert_uint_eq(qq->l4_len, 3);
    /* first fragment (MF, offset 0) needs its 8 bytes */
    ql = q4_build(q, sizeof q, 5, 1000, 0x2000, SL_IPPROTO_UDP, L4_UDP, 8);
    ck_assert_int_eq(err4(11, 1, 0, q, ql, &h), SL_OK);
    ck_assert(!qq->is_fragment && qq->has_ports);
    ck_assert_int_eq(err4(11, 1, 0, q, ql - 4, &h), SL_ERR_ICMP_QUOTE);
    /* DF and RF do not make a fragment */
    ql = q4_build(q, sizeof q, 5, 1000, 0xc000, SL_IPPROTO_UDP, L4_UDP, 7);
    ck_assert_int_eq(err4(11, 1, 0, q, ql, &h), SL_ERR_ICMP_QUOTE);
}
END_TEST

/* ---- ICMPv6 ----------------------------------------------------------- */

START_TEST(v6_kinds)
{
    sl_pseudo ph = pseudo6();
    uint8_t q[128];
    size_t ql = q6_build(q, sizeof q, 8, SL_IPPROTO_UDP, NULL, 0, L4_UDP, 8);
    uint8_t b[256];
    sl_icmp_hdr h;
    struct {
        unsigned type;
        sl_icmp_kind kind;
        bool err;
    } tab[] = {
        {1, SL_ICMP_DEST_UNREACH, true},   {2, SL_ICMP_PKT_TOO_BIG, true},
        {3, SL_ICMP_TIME_EXCEEDED, true},  {4, SL_ICMP_PARAM_PROBLEM, true},
        {128, SL_ICMP_ECHO_REQUEST, false}, {129, SL_ICMP_ECHO_REPLY, false},
        {133, SL_ICMP_NDP_RS, false},      {134, SL_ICMP_NDP_RA, false},
        {135, SL_ICMP_NDP_NS, false},      {136, SL_ICMP_NDP_NA, false},
        {137, SL_ICMP_NDP_REDIRECT, false}, {0, SL_ICMP_OTHER, false},
        {5, SL_ICMP_OTHER, false},         {100, SL_ICMP_OTHER, false},
        {127, SL_ICMP_OTHER, false},       {130, SL_ICMP_OTHER, false},
        {132, SL_ICMP_OTHER, false},       {138, SL_ICMP_OTHER, false},
        {143, SL_ICMP_OTHER, false},       {255, SL_ICMP_OTHER, false},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        size_t n = icmp6_build(b, sizeof b, tab[i].type, 0, 0x00010028u, q, ql, &ph);
        memset(&h, 0x5a, sizeof h);
        const uint8_t *p = at_guard(b, n);
        ck_assert_int_eq(sl_icmp6_parse(p, n, &ph, &h), SL_OK);
        ck_assert_int_eq(h.kind, tab[i].kind);
        ck_assert_uint_eq(h.type, tab[i].type);
        ck_assert_uint_eq(h.rest, 0x00010028u);
        ck_assert(h.has_quote == tab[i].err);
        ck_assert_ptr_eq(h.body, p + 8);
        ck_assert_uint_eq(h.body_len, ql);
        ck_assert_uint_eq(h.mtu, tab[i].kind == SL_ICMP_PKT_TOO_BIG ? 0x00010028u : 0);
        ck_assert_uint_eq(h.pointer, tab[i].kind == SL_ICMP_PARAM_PROBLEM ? 0x00010028u : 0);
        bool echo = tab[i].kind == SL_ICMP_ECHO_REQUEST || tab[i].kind == SL_ICMP_ECHO_REPLY;
        ck_assert_uint_eq(h.echo_id, echo ? 1 : 0);
        ck_assert_uint_eq(h.echo_seq, echo ? 0x28 : 0);
    }
    /* packet too big: a 32-bit MTU */
    size_t n = icmp6_build(b, sizeof b, 2, 0, 1280, q, ql, &ph);
    ck_assert_int_eq(p6(b, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.mtu, 1280);
    n = icmp6_build(b, sizeof b, 2, 0, 0xffffffffu, q, ql, &ph);
    ck_assert_int_eq(p6(b, n, &ph, &h), SL_OK);
    ck_assert_uint_eq(h.mtu, 0xffffffffu);
}
END_TEST

START_TEST(v6_truncated_checksum)
{
    sl_pseudo ph = pseudo6();
    uint8_t b[64];
    size_t n = icmp6_build(b, sizeof b, 128, 0, 0x10001, NULL, 0, &ph);
    sl_icmp_hdr h;
    for (size_t l = 0; l < 8; l++) {
        ck_assert_int_eq(p6(b, l, &ph, &h), SL_ERR_TRUNCATED);
        ck_assert_int_eq(p6(b, l, NULL, &h), SL_ERR_TRUNCATED);
    }
    ck_assert_int_eq(p6(b, n, &ph, &h), SL_OK);
    for (size_t i = 0; i < n; i++) {
        b[i] ^= 0x04;
        ck_assert_int_eq(p6(b, n, &ph, &h), SL_ERR_ICMP_CHECKSUM);
        ck_assert_int_eq(p6(b, n, NULL, &h), SL_OK);
        b[i] ^= 0x04;
    }
    /* the pseudo-header is covered: swapped addresses fail */
    sl_pseudo sw = {6, T_DST6, T_SRC6};
    uint8_t b2[64];
    static const uint8_t body[1] = {1};
    n = icmp6_build(b2, sizeof b2, 128, 0, 0x10001, body, 1, &ph);
    /* (swapping is symmetric in the sum, so change an address instead) */
    uint8_t other[16];
    memcpy(other, T_SRC6, 16);
    other[0] ^= 1;
    sl_pseudo ob = {6, other, T_DST6};
    ck_assert_int_eq(p6(b2, n, &sw, &h), SL_OK);
    ck_assert_int_eq(p6(b2, n, &ob, &h), SL_ERR_ICMP_CHECKSUM);
    /* the pseudo family must be 6 */
    static const uint8_t fams[] = {0, 4, 5, 255};
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo bad = {fams[i], T_SRC6, T_DST6};
        ck_assert_int_eq(p6(b, n, &bad, &h), SL_ERR_INVAL);
    }
}
END_TEST

/* A length the 32-bit pseudo-header cannot express is refused before any
 * byte is read (so a short buffer is enough to reach that branch). */
START_TEST(v6_length_over_32_bits)
{
#if SIZE_MAX > UINT32_MAX
    uint8_t b[16] = {128, 0};
    sl_pseudo ph = pseudo6();
    sl_icmp_hdr h;
    ck_assert_int_eq(sl_icmp6_parse(b, (size_t)UINT32_MAX + 1u, &ph, &h), SL_ERR_INVAL);
#endif
}
END_TEST

START_TEST(v6_quote_basic_errors)
{
    uint8_t q[256];
    sl_icmp_hdr h;
    const sl_icmp_quote *qq = &h.quote;
    for (unsigned type = 1; type <= 4; type++) {
        size_t ql = q6_build(q, sizeof q, 8, SL_IPPROTO_UDP, NULL, 0, L4_UDP, 8);
        for (size_t l = 0; l < 48; l++)
            ck_assert_int_eq(err6(type, q, l, &h), SL_ERR_ICMP_QUOTE);
        ck_assert_int_eq(err6(type, q, ql, &h), SL_OK);
        ck_assert_uint_eq(qq->family, 6);
        ck_assert_uint_eq(qq->proto, SL_IPPROTO_UDP);
        ck_assert_mem_eq(qq->src, T_DST6, 16);
        ck_assert_mem_eq(qq->dst, T_SRC6, 16);
        ck_assert(qq->has_ports && !qq->has_seq && !qq->is_fragment);
        ck_assert_uint_eq(qq->sport, 12345);
        ck_assert_uint_eq(qq->dport, 53);
        ck_assert_uint_eq(qq->ip_len, 48);
        ck_assert_uint_eq(qq->l4_len, 8);
        q[0] = 0x45;
        ck_assert_int_eq(err6(type, q, ql, &h), SL_ERR_ICMP_QUOTE);
        q[0] = 0x00;
        ck_assert_int_eq(err6(type, q, ql, &h), SL_ERR_ICMP_QUOTE);
        q[0] = 0x60;
    }
    /* cut short of its payload length: fine */
    size_t ql = q6_build(q, sizeof q, 1452, SL_IPPROTO_TCP, NULL, 0, L4_TCP, 8);
    ck_assert_int_eq(err6(2, q, ql, &h), SL_OK);
    ck_assert(qq->has_seq);
    ck_assert_uint_eq(qq->seq, 0xdeadbeefu);
    ck_assert_uint_eq(qq->ip_len, 48);
    /* bytes past 40 + plen are dropped: plen 7 leaves 7 transport bytes,
     * and the quote is the whole original: accepted, without ports */
    ql = q6_build(q, sizeof q, 7, SL_IPPROTO_UDP, NULL, 0, L4_UDP, 8);
    ck_assert_int_eq(err6(1, q, ql, &h), SL_OK);
    ck_assert(!qq->has_ports);
    ck_assert_uint_eq(qq->l4_len, 7);
    ql = q6_build(q, sizeof q, 8, SL_IPPROTO_UDP, NULL, 0, L4_ECHO6, 8);
    q[ql++] = 0xee;
    ck_assert_int_eq(err6(1, q, ql, &h), SL_OK);
    ck_assert_uint_eq(qq->ip_len, 48);
    ck_assert_uint_eq(qq->l4_len, 8);
    /* quoted ICMPv6 echo request / reply */
    ql = q6_build(q, sizeof q, 8, SL_IPPROTO_ICMPV6, NULL, 0, L4_ECHO6, 8);
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(qq->has_echo && !qq->has_ports);
    ck_assert_uint_eq(qq->echo_id, 0x5678);
    ck_assert_uint_eq(qq->echo_seq, 9);
    q[40] = 129;
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(qq->has_echo);
    q[40] = 135; /* NS: not an echo */
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(!qq->has_echo);
    q[40] = 8; /* ICMPv4 echo type under ICMPv6: not an echo */
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(!qq->has_echo);
    /* 7 transport bytes */
    ck_assert_int_eq(err6(3, q, ql - 1, &h), SL_ERR_ICMP_QUOTE);
}
END_TEST

START_TEST(v6_quote_ext_headers)
{
    uint8_t q[256];
    uint8_t e[64];
    sl_icmp_hdr h;
    const sl_icmp_quote *qq = &h.quote;
    /* HBH + dstopts + UDP */
    bb x = bb_make(e, sizeof e);
    bb_u8(&x, SL_IPPROTO_DSTOPTS);
    bb_u8(&x, 0);
    bb_u8(&x, 5);
    bb_u8(&x, 2);
    bb_u16(&x, 0);
    bb_u16(&x, 0x0100);
    bb_u8(&x, SL_IPPROTO_UDP);
    bb_u8(&x, 0);
    bb_u16(&x, 0x0104);
    bb_u32(&x, 0);
    size_t ql = q6_build(q, sizeof q, 16 + 8, SL_IPPROTO_HOPOPTS, e, x.n, L4_UDP, 8);
    ck_assert_int_eq(err6(1, q, ql, &h), SL_OK);
    ck_assert_uint_eq(qq->proto, SL_IPPROTO_UDP);
    ck_assert(qq->has_ports);
    ck_assert_uint_eq(qq->dport, 53);
    ck_assert_uint_eq(qq->l4_len, 8);
    /* cut inside the extension headers */
    ck_assert_int_eq(err6(1, q, 40 + 12, &h), SL_ERR_ICMP_QUOTE);
    ck_assert_int_eq(err6(1, q, 40 + 16 + 7, &h), SL_ERR_ICMP_QUOTE);
    /* an invalid chain (HBH second) */
    e[0] = SL_IPPROTO_HOPOPTS;
    ql = q6_build(q, sizeof q, 16 + 8, SL_IPPROTO_HOPOPTS, e, x.n, L4_UDP, 8);
    ck_assert_int_eq(err6(1, q, ql, &h), SL_ERR_ICMP_QUOTE);
}
END_TEST

START_TEST(v6_quote_fragments)
{
    uint8_t q[256];
    uint8_t e[16];
    sl_icmp_hdr h;
    const sl_icmp_quote *qq = &h.quote;
    /* non-first fragment: no transport header needed */
    bb x = bb_make(e, sizeof e);
    bb_u8(&x, SL_IPPROTO_TCP);
    bb_u8(&x, 0);
    bb_u16(&x, 185u << 3 | 1u);
    bb_u32(&x, 77);
    size_t ql = q6_build(q, sizeof q, 1240, SL_IPPROTO_FRAGMENT, e, 8, NULL, 0);
    ck_assert_int_eq(err6(1, q, ql, &h), SL_OK);
    ck_assert(qq->is_fragment);
    ck_assert(!qq->has_ports && !qq->has_seq);
    ck_assert_uint_eq(qq->proto, SL_IPPROTO_TCP);
    ck_assert_uint_eq(qq->l4_len, 0);
    /* quoted fragments skip the length checks (the quote is cut short):
     * a non-last fragment with 3 data bytes is fine */
    ql = q6_build(q, sizeof q, 11, SL_IPPROTO_FRAGMENT, e, 8, L4_TCP, 3);
    ck_assert_int_eq(err6(1, q, ql, &h), SL_OK);
    ck_assert(qq->is_fragment);
    /* first fragment (offset 0, M): needs 8 transport bytes */
    e[2] = 0;
    e[3] = 1;
    ql = q6_build(q, sizeof q, 16, SL_IPPROTO_FRAGMENT, e, 8, L4_TCP, 8);
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(!qq->is_fragment && qq->has_seq);
    ck_assert_uint_eq(qq->seq, 0xdeadbeefu);
    ck_assert_int_eq(err6(3, q, ql - 4, &h), SL_ERR_ICMP_QUOTE);
    /* atomic fragment: walked through */
    e[3] = 0;
    ql = q6_build(q, sizeof q, 16, SL_IPPROTO_FRAGMENT, e, 8, L4_TCP, 8);
    ck_assert_int_eq(err6(3, q, ql, &h), SL_OK);
    ck_assert(!qq->is_fragment && qq->has_ports);
    /* a second fragment header inside the quote */
    uint8_t e2[16];
    memcpy(e2, e, 8);
    e2[0] = SL_IPPROTO_FRAGMENT;
    memcpy(e2 + 8, e, 8);
    ql = q6_build(q, sizeof q, 24, SL_IPPROTO_FRAGMENT, e2, 16, L4_TCP, 8);
    ck_assert_int_eq(err6(3, q, ql, &h), SL_ERR_ICMP_QUOTE);
}
END_TEST

/* ---- emit ------------------------------------------------------------- */

static sl_icmp_hdr emit_hdr(unsigned type, unsigned code, uint32_t rest, const uint8_t *body,
                            size_t blen)
{
    sl_icmp_hdr h;
    memset(&h, 0, sizeof h);
    h.type = (uint8_t)type;
    h.code = (uint8_t)code;
    h.checksum = 0x7777; /* ignored */
    h.rest = rest;
    h.kind = SL_ICMP_NDP_NA; /* ignored */
    h.body = body;
    h.body_len = blen;
    return h;
}

START_TEST(emit_v4_roundtrip)
{
    uint8_t body[21];
    fill_pattern(body, sizeof body, 3);
    sl_icmp_hdr h = emit_hdr(8, 0, sl_icmp_rest_echo(0xbeef, 1), body, sizeof body);
    ck_assert_uint_eq(sl_icmp_emit_len(&h), 29);
    uint8_t buf[64];
    poison(buf, sizeof buf);
    size_t w = 0;
    ck_assert_int_eq(sl_icmp4_emit(&h, buf, 29, &w), SL_OK);
    ck_assert_uint_eq(w, 29);
    ck_assert(all_poison(buf + 29, sizeof buf - 29));
    ck_assert_uint_eq(sl_csum(buf, w), 0);
    sl_icmp_hdr r;
    const uint8_t *p = at_guard(buf, w);
    ck_assert_int_eq(sl_icmp4_parse(p, w, 0, &r), SL_OK);
    ck_assert_uint_eq(r.type, 8);
    ck_assert_uint_eq(r.code, 0);
    ck_assert_int_eq(r.kind, SL_ICMP_ECHO_REQUEST);
    ck_assert_uint_eq(r.echo_id, 0xbeef);
    ck_assert_uint_eq(r.echo_seq, 1);
    ck_assert_uint_eq(r.body_len, sizeof body);
    ck_assert_mem_eq(r.body, body, sizeof body);
    /* an error message with a quote round-trips */
    uint8_t q[64];
    size_t ql = q4_build(q, sizeof q, 5, 28, 0, SL_IPPROTO_UDP, L4_UDP, 8);
    h = emit_hdr(3, 4, 1280, q, ql);
    ck_assert_int_eq(sl_icmp4_emit(&h, buf, sizeof buf, &w), SL_OK);
    ck_assert_int_eq(p4(buf, w, 0, &r), SL_OK);
    ck_assert_uint_eq(r.mtu, 1280);
    ck_assert(r.has_quote && r.quote.has_ports);
}
END_TEST

START_TEST(emit_v6_roundtrip)
{
    uint8_t body[20];
    fill_pattern(body, sizeof body, 60);
    sl_pseudo ph = pseudo6();
    sl_icmp_hdr h = emit_hdr(135, 0, 0, body, sizeof body);
    uint8_t buf[64];
    poison(buf, sizeof buf);
    size_t w = 0;
    ck_assert_int_eq(sl_icmp6_emit(&h, &ph, buf, 28, &w), SL_OK);
    ck_assert_uint_eq(w, 28);
    ck_assert(all_poison(buf + 28, sizeof buf - 28));
    sl_icmp_hdr r;
    ck_assert_int_eq(p6(buf, w, &ph, &r), SL_OK);
    ck_assert_int_eq(r.kind, SL_ICMP_NDP_NS);
    ck_assert_mem_eq(r.body, body, sizeof body);
    /* NULL pseudo: checksum 0 */
    ck_assert_int_eq(sl_icmp6_emit(&h, NULL, buf, sizeof buf, &w), SL_OK);
    ck_assert_uint_eq(sl_load16(buf + 2), 0);
    ck_assert_int_eq(p6(buf, w, NULL, &r), SL_OK);
    ck_assert_int_eq(p6(buf, w, &ph, &r), SL_ERR_ICMP_CHECKSUM);
    /* a v4 pseudo-header is refused, nothing written */
    static const uint8_t fams[] = {0, 4, 7};
    for (size_t i = 0; i < sizeof fams; i++) {
        sl_pseudo bad = {fams[i], T_SRC6, T_DST6};
        poison(buf, sizeof buf);
        ck_assert_int_eq(sl_icmp6_emit(&h, &bad, buf, sizeof buf, &w), SL_ERR_INVAL);
        ck_assert(all_poison(buf, sizeof buf));
    }
}
END_TEST

START_TEST(emit_inval_bufsz)
{
    uint8_t buf[64];
    sl_pseudo ph = pseudo6();
    size_t w = 31;
    sl_icmp_hdr h = emit_hdr(128, 0, 0, NULL, 65528);
    poison(buf, sizeof buf);
    ck_assert_int_eq(sl_icmp4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert_int_eq(sl_icmp6_emit(&h, &ph, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert_int_eq(sl_icmp6_emit(&h, NULL, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.body_len = SIZE_MAX;
    ck_assert_int_eq(sl_icmp4_emit(&h, buf, sizeof buf, &w), SL_ERR_INVAL);
    h.body_len = SIZE_MAX - 7;
    ck_assert_int_eq(sl_icmp6_emit(&h, &ph, buf, sizeof buf, &w), SL_ERR_INVAL);
    ck_assert(all_poison(buf, sizeof buf));
    uint8_t body[4] = {1, 2, 3, 4};
    h = emit_hdr(0, 0, 0, body, 4);
    for (size_t cap = 0; cap < 12; cap++) {
        ck_assert_int_eq(sl_icmp4_emit(&h, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert_int_eq(sl_icmp6_emit(&h, &ph, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert_int_eq(sl_icmp6_emit(&h, NULL, buf, cap, &w), SL_ERR_BUFSZ);
        ck_assert(all_poison(buf, sizeof buf));
    }
    ck_assert_uint_eq(w, 31);
    /* the largest message */
    uint8_t *big = malloc(65535 + 8);
    ck_assert_ptr_nonnull(big);
    memset(big, 0x42, 65535);
    poison(big + 65535, 8);
    h = emit_hdr(129, 0, 0, NULL, 65527);
    ck_assert_int_eq(sl_icmp4_emit(&h, big, 65535, &w), SL_OK);
    ck_assert_uint_eq(w, 65535);
    ck_assert_uint_eq(sl_csum(big, w), 0);
    ck_assert_int_eq(sl_icmp6_emit(&h, &ph, big, 65535, &w), SL_OK);
    ck_assert(all_poison(big + 65535, 8));
    sl_icmp_hdr r;
    ck_assert_int_eq(sl_icmp6_parse(big, w, &ph, &r), SL_OK);
    free(big);
}
END_TEST

START_TEST(emit_body_null_and_overlap)
{
    uint8_t buf[64];
    uint8_t want[12];
    fill_pattern(want, sizeof want, 17);
    sl_pseudo ph = pseudo6();
    sl_icmp_hdr r;
    for (int v6 = 0; v6 < 2; v6++) {
        poison(buf, sizeof buf);
        memcpy(buf + 8, want, sizeof want);
        sl_icmp_hdr h = emit_hdr(v6 ? 128 : 8, 0, 0x00010002u, NULL, sizeof want);
        size_t w = 0;
        sl_error e = v6 ? sl_icmp6_emit(&h, &ph, buf, sizeof buf, &w)
                        : sl_icmp4_emit(&h, buf, sizeof buf, &w);
        ck_assert_int_eq(e, SL_OK);
        ck_assert_uint_eq(w, 20);
        ck_assert_mem_eq(buf + 8, want, sizeof want);
        ck_assert(all_poison(buf + 20, sizeof buf - 20));
        e = v6 ? p6(buf, w, &ph, &r) : p4(buf, w, 0, &r);
        ck_assert_int_eq(e, SL_OK); /* checksum covers the bytes in place */
        /* in place, ahead (overlapping the header) and behind */
        static const size_t from[3] = {8, 1, 13};
        for (size_t k = 0; k < 3; k++) {
            memcpy(buf + from[k], want, sizeof want);
            h.body = buf + from[k];
            e = v6 ? sl_icmp6_emit(&h, &ph, buf, sizeof buf, &w)
                   : sl_icmp4_emit(&h, buf, sizeof buf, &w);
            ck_assert_int_eq(e, SL_OK);
            ck_assert_mem_eq(buf + 8, want, sizeof want);
            e = v6 ? p6(buf, w, &ph, &r) : p4(buf, w, 0, &r);
            ck_assert_int_eq(e, SL_OK);
        }
        /* non-NULL body of length 0 */
        h = emit_hdr(0, 0, 0, want, 0);
        poison(buf, sizeof buf);
        e = v6 ? sl_icmp6_emit(&h, &ph, buf, sizeof buf, &w)
               : sl_icmp4_emit(&h, buf, sizeof buf, &w);
        ck_assert_int_eq(e, SL_OK);
        ck_assert_uint_eq(w, 8);
        ck_assert(all_poison(buf + 8, sizeof buf - 8));
    }
}
END_TEST

/* ---- guard-page sweeps ------------------------------------------------ */

static sl_error sweep4(const uint8_t *p, size_t len, void *ctx)
{
    unsigned flags = *(const unsigned *)ctx;
    sl_icmp_hdr h;
    sl_error e = sl_icmp4_parse(p, len, flags, &h);
    if (e == SL_OK && h.has_quote)
        ck_assert_uint_le(h.quote.l4_len + (size_t)(h.quote.l4 - p), len);
    return e;
}

static sl_error sweep6(const uint8_t *p, size_t len, void *ctx)
{
    const sl_pseudo *ph = ctx;
    sl_icmp_hdr h;
    sl_error e = sl_icmp6_parse(p, len, ph, &h);
    if (e == SL_OK && h.has_quote)
        ck_assert_uint_le(h.quote.l4_len + (size_t)(h.quote.l4 - p), len);
    return e;
}

START_TEST(guard_truncation_sweep_v4)
{
    uint8_t q[128], b[256];
    size_t ql = q4_build(q, sizeof q, 6, 1400, 0x2000, SL_IPPROTO_TCP, L4_TCP, 8);
    size_t n = icmp4_build(b, sizeof b, 3, 4, 1400, q, ql);
    unsigned flags = 0;
    guard_sweep(b, n, sweep4, &flags, true);
    /* without the checksum, every cut of the quote is still checked */
    flags = SL_PARSE_NO_CSUM;
    guard_sweep(b, n, sweep4, &flags, true);
    static const uint8_t d[3] = {1, 2, 3};
    n = icmp4_build(b, sizeof b, 0, 0, 1, d, 3);
    flags = 0;
    guard_sweep(b, n, sweep4, &flags, true);
}
END_TEST

START_TEST(guard_truncation_sweep_v6)
{
    uint8_t q[128], e[24], b[256];
    bb x = bb_make(e, sizeof e);
    bb_u8(&x, SL_IPPROTO_FRAGMENT);
    bb_u8(&x, 0);
    bb_u8(&x, 5);
    bb_u8(&x, 2);
    bb_u16(&x, 0);
    bb_u16(&x, 0x0100);
    bb_u8(&x, SL_IPPROTO_UDP);
    bb_u8(&x, 0);
    bb_u16(&x, 1); /* first fragment */
    bb_u32(&x, 5);
    size_t ql = q6_build(q, sizeof q, 1400, SL_IPPROTO_HOPOPTS, e, x.n, L4_UDP, 8);
    sl_pseudo ph = pseudo6();
    size_t n = icmp6_build(b, sizeof b, 2, 0, 1280, q, ql, &ph);
    guard_sweep(b, n, sweep6, &ph, true);
    n = icmp6_build(b, sizeof b, 2, 0, 1280, q, ql, NULL);
    guard_sweep(b, n, sweep6, NULL, true);
    n = icmp6_build(b, sizeof b, 129, 0, 1, NULL, 0, &ph);
    guard_sweep(b, n, sweep6, &ph, true);
}
END_TEST

static Suite *icmp_suite(void)
{
    Suite *s = suite_create("icmp");
    TCase *tc = tcase_create("icmp4");
    tcase_add_test(tc, v4_echo);
    tcase_add_test(tc, v4_error_kinds);
    tcase_add_test(tc, v4_other_kinds);
    tcase_add_test(tc, v4_truncated_checksum);
    tcase_add_test(tc, v4_quote_errors);
    tcase_add_test(tc, v4_quote_ports_seq_echo);
    tcase_add_test(tc, v4_quote_lengths_and_options);
    tcase_add_test(tc, v4_quote_fragments);
    suite_add_tcase(s, tc);

    tc = tcase_create("icmp6");
    tcase_add_test(tc, v6_kinds);
    tcase_add_test(tc, v6_truncated_checksum);
    tcase_add_test(tc, v6_length_over_32_bits);
    tcase_add_test(tc, v6_quote_basic_errors);
    tcase_add_test(tc, v6_quote_ext_headers);
    tcase_add_test(tc, v6_quote_fragments);
    suite_add_tcase(s, tc);

    tc = tcase_create("emit");
    tcase_add_test(tc, emit_v4_roundtrip);
    tcase_add_test(tc, emit_v6_roundtrip);
    tcase_add_test(tc, emit_inval_bufsz);
    tcase_add_test(tc, emit_body_null_and_overlap);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_test(tc, guard_truncation_sweep_v4);
    tcase_add_test(tc, guard_truncation_sweep_v6);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(icmp_suite());
}
