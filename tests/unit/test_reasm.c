/*
 * Unit tests for src/ip/reasm.c: IPv4 / IPv6 fragment reassembly.
 *
 * Packets are built whole first (wire emitters, or scapy goldens pasted
 * below), then split by the helpers here, fed in various orders, and the
 * reassembled output compared byte for byte with the original.  Every test
 * ends with a leak check: the reassembler's byte count equals what sl_mem
 * holds, and after sl_reasm_fini nothing is left, either in sl_mem or in
 * the counting allocator underneath.
 */
#include <stdio.h>

#include "ip/reasm.h"
#include "unit_util.h"

/* ---- a counting allocator that can fail every Nth call --------------- */

typedef struct tally {
    size_t outstanding; /* bytes handed out and not returned */
    uint64_t calls;
    uint64_t fail_every; /* 0 = never fail */
    uint64_t fail_at;    /* fail exactly this call (1-based); 0 = none */
    uint64_t failed;
} tally;

static void *t_alloc(void *ctx, size_t size)
{
    tally *t = ctx;
    t->calls++;
    if ((t->fail_every != 0 && t->calls % t->fail_every == 0) || t->calls == t->fail_at) {
        t->failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL)
        t->outstanding += size;
    return p;
}

static void t_free(void *ctx, void *p, size_t size)
{
    tally *t = ctx;
    ck_assert_uint_ge(t->outstanding, size);
    t->outstanding -= size;
    free(p);
}

/* ---- fixture: one reassembler over one sl_mem over one tally --------- */

typedef struct fx {
    tally t;
    sl_mem m;
    sl_reasm r;
    uint8_t *out; /* SL_REASM_OUT_MAX bytes */
    size_t out_len;
} fx;

static fx F;

static sl_reasm_limits default_limits(void)
{
    sl_reasm_limits l = {64, 1u << 20, 64, 60u * 1000000u};
    return l;
}

static void fx_open(const sl_reasm_limits *l)
{
    memset(&F, 0, sizeof F);
    sl_allocator a = {t_alloc, t_free, &F.t};
    sl_mem_init(&F.m, &a, 0);
    sl_reasm_init(&F.r, &F.m, l);
    F.out = malloc(SL_REASM_OUT_MAX);
    ck_assert_ptr_nonnull(F.out);
}

/* The reassembler's account matches sl_mem's. */
static void check_books(void)
{
    ck_assert_uint_eq(F.r.bytes, F.m.in_use);
    ck_assert_uint_eq(F.m.in_use, F.t.outstanding);
    ck_assert_uint_le(F.r.bytes, F.r.lim.max_bytes);
    ck_assert_uint_le(F.r.n_dgrams, F.r.lim.max_datagrams);
    ck_assert_int_eq(F.r.n_dgrams == 0, F.r.oldest == NULL);
    ck_assert_int_eq(F.r.n_dgrams == 0, F.r.newest == NULL);
}

static void fx_close(void)
{
    check_books();
    sl_reasm_fini(&F.r);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(F.r.bytes, 0);
    ck_assert_ptr_null(F.r.oldest);
    ck_assert_uint_eq(F.m.in_use, 0);
    ck_assert_uint_eq(F.t.outstanding, 0);
    free(F.out);
    F.out = NULL;
}

static void setup(void)
{
    sl_reasm_limits l = default_limits();
    fx_open(&l);
}

static void teardown(void)
{
    if (F.out != NULL)
        fx_close();
}

/* ---- packets and fragment sets --------------------------------------- */

typedef struct pk {
    uint8_t *b;
    size_t n;
} pk;

#define MAXF 2048

typedef struct fset {
    pk f[MAXF];
    size_t n;
} fset;

static pk pk_new(size_t n)
{
    pk p = {malloc(n == 0 ? 1 : n), n};
    ck_assert_ptr_nonnull(p.b);
    return p;
}

static pk pk_copy(const uint8_t *b, size_t n)
{
    pk p = pk_new(n);
    memcpy(p.b, b, n);
    return p;
}

static void pk_free(pk *p)
{
    free(p->b);
    p->b = NULL;
    p->n = 0;
}

static void fset_free(fset *s)
{
    for (size_t i = 0; i < s->n; i++)
        pk_free(&s->f[i]);
    s->n = 0;
}

static void fset_add(fset *s, pk p)
{
    ck_assert_uint_lt(s->n, MAXF);
    s->f[s->n++] = p;
}

static pk hex_pk(const char *hex)
{
    size_t n = strlen(hex) / 2;
    pk p = pk_new(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        p.b[i] = (uint8_t)v;
    }
    return p;
}

/* An IPv4/UDP packet with `data_len` bytes of UDP payload and `opts_len`
 * bytes of IPv4 options (a Router Alert padded with NOPs). */
static pk make_v4(size_t data_len, size_t opts_len, uint16_t id, unsigned seed)
{
    uint8_t *data = malloc(data_len + 1);
    ck_assert_ptr_nonnull(data);
    fill_pattern(data, data_len, seed);
    size_t ulen = SL_UDP_HDR_LEN + data_len;
    pk p = pk_new(SL_IPV4_HDR_MAX + ulen);
    sl_udp_hdr u = {1000, 2000, 0, 0, data, data_len};
    sl_pseudo ph = pseudo4();
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&u, &ph, p.b + 20 + opts_len, ulen, &w), SL_OK);
    uint8_t opts[40];
    memset(opts, 1, sizeof opts); /* NOP */
    opts[0] = 148;                /* Router Alert, RFC 2113 */
    opts[1] = 4;
    opts[2] = opts[3] = 0;
    sl_ipv4_hdr h;
    memset(&h, 0, sizeof h);
    h.ttl = 64;
    h.id = id;
    h.proto = SL_IPPROTO_UDP;
    memcpy(h.src, T_SRC4, 4);
    memcpy(h.dst, T_DST4, 4);
    h.opts = opts;
    h.opts_len = opts_len;
    h.payload = NULL; /* already in place */
    h.payload_len = ulen;
    ck_assert_int_eq(sl_ipv4_emit(&h, p.b, p.n, &w), SL_OK);
    p.n = w;
    free(data);
    return p;
}

/* Split an IPv4 packet at the data boundaries cuts[0..ncuts-1] (multiples
 * of 8, increasing, inside the payload).  The first fragment keeps the
 * options; later ones carry a 20-byte header (RFC 791 §3.1: only options
 * with the copy flag go into every fragment; these tests copy none). */
static void split_v4(const pk *orig, const size_t *cuts, size_t ncuts, fset *s)
{
    size_t hl = (size_t)(orig->b[0] & 0x0f) * 4;
    size_t plen = orig->n - hl;
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : plen;
        size_t fhl = start == 0 ? hl : SL_IPV4_HDR_MIN;
        pk f = pk_new(fhl + end - start);
        memcpy(f.b, orig->b, SL_IPV4_HDR_MIN);
        if (fhl > SL_IPV4_HDR_MIN)
            memcpy(f.b + SL_IPV4_HDR_MIN, orig->b + SL_IPV4_HDR_MIN, fhl - SL_IPV4_HDR_MIN);
        f.b[0] = (uint8_t)(0x40u | fhl / 4);
        memcpy(f.b + fhl, orig->b + hl + start, end - start);
        sl_store16(f.b + 2, (uint16_t)f.n);
        unsigned ff = (unsigned)(sl_load16(orig->b + 6) & 0xc000u) | (unsigned)(start / 8);
        if (i < ncuts)
            ff |= 0x2000u;
        sl_store16(f.b + 6, (uint16_t)ff);
        sl_store16(f.b + 10, 0);
        sl_store16(f.b + 10, sl_csum(f.b, fhl));
        fset_add(s, f);
        start = end;
    }
}

/* Cuts every `chunk` bytes. */
static size_t even_cuts(size_t plen, size_t chunk, size_t *cuts, size_t max)
{
    size_t n = 0;
    for (size_t c = chunk; c < plen; c += chunk) {
        ck_assert_uint_lt(n, max);
        cuts[n++] = c;
    }
    return n;
}

/* Random cuts: chunks of 8..8*maxu bytes. */
static size_t random_cuts(rng *g, size_t plen, unsigned maxu, size_t *cuts, size_t max)
{
    size_t n = 0;
    size_t c = 0;
    for (;;) {
        c += 8u * (1u + (unsigned)(rng_next(g) % maxu));
        if (c >= plen)
            break;
        ck_assert_uint_lt(n, max);
        cuts[n++] = c;
    }
    return n;
}

/* An IPv6 packet: fixed header, the unfragmentable extension headers
 * `unfrag` (a chain starting with next header `unfrag_nh`, whose last
 * header's next header is `frag_first`), then the fragmentable part
 * `tail` (starting with header type `frag_first`).  Returns the packet
 * and the position of the byte that names `frag_first` in *nh_pos. */
typedef struct v6spec {
    const uint8_t *unfrag;
    size_t unfrag_len; /* bytes after the 40-byte header */
    uint8_t unfrag_nh;
    size_t nh_pos; /* byte naming the fragmentable part */
} v6spec;

/* Hop-by-Hop (PadN) then Destination Options (PadN), 8 bytes each; the
 * DstOpts names a second Destination Options header in the fragmentable
 * part (RFC 8200 §4.1 order). */
static const uint8_t V6_UNFRAG_EXT[16] = {
    SL_IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0, /* HBH: next = DstOpts */
    SL_IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0, /* DstOpts: next = DstOpts */
};

static pk make_v6(const v6spec *sp, size_t data_len, bool tail_dstopts, unsigned seed)
{
    uint8_t *data = malloc(data_len + 1);
    ck_assert_ptr_nonnull(data);
    fill_pattern(data, data_len, seed);
    size_t ulen = SL_UDP_HDR_LEN + data_len;
    size_t dl = tail_dstopts ? 16u : 0u; /* a 16-byte DstOpts in the tail */
    size_t plen = sp->unfrag_len + dl + ulen;
    pk p = pk_new(SL_IPV6_HDR_LEN + plen);
    uint8_t *q = p.b + SL_IPV6_HDR_LEN;
    if (sp->unfrag_len > 0)
        memcpy(q, sp->unfrag, sp->unfrag_len);
    q += sp->unfrag_len;
    uint8_t first = SL_IPPROTO_UDP;
    if (tail_dstopts) {
        static const uint8_t d[16] = {SL_IPPROTO_UDP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(q, d, sizeof d);
        q += sizeof d;
        first = SL_IPPROTO_DSTOPTS;
    }
    sl_udp_hdr u = {1000, 2000, 0, 0, data, data_len};
    sl_pseudo ph = pseudo6();
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&u, &ph, q, ulen, &w), SL_OK);
    sl_ipv6_hdr h;
    memset(&h, 0, sizeof h);
    h.tclass = 0x12;
    h.flow = 0x54321;
    h.hop_limit = 64;
    h.next_header = sp->unfrag_len > 0 ? sp->unfrag_nh : first;
    memcpy(h.src, T_SRC6, 16);
    memcpy(h.dst, T_DST6, 16);
    h.payload = NULL;
    h.payload_len = plen;
    ck_assert_int_eq(sl_ipv6_emit(&h, p.b, p.n, &w), SL_OK);
    p.b[sp->nh_pos] = first;
    free(data);
    return p;
}

/* Split an IPv6 packet (RFC 8200 §4.5) whose unfragmentable part is
 * 40 + sp->unfrag_len bytes, at the given cuts of the fragmentable part. */
static void split_v6(const pk *orig, const v6spec *sp, uint32_t id, const size_t *cuts,
                     size_t ncuts, fset *s)
{
    size_t ul = SL_IPV6_HDR_LEN + sp->unfrag_len;
    size_t flen = orig->n - ul;
    uint8_t first = orig->b[sp->nh_pos];
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : flen;
        pk f = pk_new(ul + 8 + end - start);
        memcpy(f.b, orig->b, ul);
        f.b[sp->nh_pos] = SL_IPPROTO_FRAGMENT;
        uint8_t *fh = f.b + ul;
        fh[0] = first;
        fh[1] = 0;
        sl_store16(fh + 2, (uint16_t)(start | (i < ncuts ? 1u : 0u)));
        sl_store32(fh + 4, id);
        memcpy(fh + 8, orig->b + ul + start, end - start);
        sl_store16(f.b + 4, (uint16_t)(f.n - SL_IPV6_HDR_LEN));
        fset_add(s, f);
        start = end;
    }
}

static const v6spec V6_PLAIN = {NULL, 0, 0, 6};
static const v6spec V6_EXT = {V6_UNFRAG_EXT, 16, SL_IPPROTO_HOPOPTS, 48};

/* ---- feeding --------------------------------------------------------- */

static sl_error feed_at(const pk *p, sl_time now)
{
    uint8_t v = (uint8_t)(p->b[0] >> 4);
    F.out_len = 0;
    if (v == 4) {
        sl_ipv4_hdr h;
        ck_assert_int_eq(sl_ipv4_parse(p->b, p->n, 0, &h), SL_OK);
        return sl_reasm_input4(&F.r, p->b, &h, now, F.out, SL_REASM_OUT_MAX, &F.out_len);
    }
    sl_ipv6_hdr h;
    ck_assert_int_eq(sl_ipv6_parse(p->b, p->n, &h), SL_OK);
    ck_assert(h.is_fragment);
    return sl_reasm_input6(&F.r, p->b, &h, now, F.out, SL_REASM_OUT_MAX, &F.out_len);
}

static sl_error feed(const pk *p)
{
    return feed_at(p, 1000);
}

static void expect_out(const pk *orig)
{
    ck_assert_uint_eq(F.out_len, orig->n);
    ck_assert_mem_eq(F.out, orig->b, orig->n);
}

/* Feed s->f in the order ord[] (NULL: as stored); every fragment but the
 * last fed gives AGAIN; the last completes with `orig`. */
static void feed_all(const fset *s, const size_t *ord, const pk *orig)
{
    uint64_t done = F.r.st.completed;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = ord != NULL ? ord[i] : i;
        sl_error e = feed(&s->f[k]);
        if (i + 1 < s->n) {
            ck_assert_int_eq(e, SL_ERR_AGAIN);
        } else {
            ck_assert_int_eq(e, SL_OK);
            expect_out(orig);
        }
        check_books();
    }
    ck_assert_uint_eq(F.r.st.completed, done + 1);
}

static void shuffle(rng *g, size_t *ord, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(g) % i);
        size_t t = ord[i - 1];
        ord[i - 1] = ord[j];
        ord[j] = t;
    }
}

static void reverse(size_t *ord, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ord[i] = n - 1 - i;
}

/* ====================================================================== */
/* Reassembly in order, reversed, shuffled                                 */
/* ====================================================================== */

static size_t ORD[MAXF];
static size_t CUTS[MAXF];

START_TEST(v4_orders)
{
    static const size_t opts[] = {0, 4, 8, 40};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        pk orig = make_v4(3000, opts[o], (uint16_t)(0x100 + o), (unsigned)o);
        fset s = {0};
        size_t nc = even_cuts(orig.n - 20 - opts[o], 1480, CUTS, MAXF);
        split_v4(&orig, CUTS, nc, &s);
        ck_assert_uint_eq(s.n, 3);
        feed_all(&s, NULL, &orig);
        reverse(ORD, s.n);
        feed_all(&s, ORD, &orig);
        rng g = {o + 1};
        for (int k = 0; k < 20; k++) {
            shuffle(&g, ORD, s.n);
            feed_all(&s, ORD, &orig);
        }
        fset_free(&s);
        /* Random fragment sizes, random order. */
        for (int k = 0; k < 30; k++) {
            nc = random_cuts(&g, orig.n - 20 - opts[o], 40, CUTS, MAXF);
            split_v4(&orig, CUTS, nc, &s);
            shuffle(&g, ORD, s.n);
            feed_all(&s, ORD, &orig);
            fset_free(&s);
        }
        pk_free(&orig);
    }
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(F.r.st.duplicates + F.r.st.overlaps + F.r.st.limit_drops, 0);
}
END_TEST

START_TEST(v4_largest)
{
    /* 65535 bytes in total: 20-byte header + 65515 payload, 8-byte chunks
     * would be too many for max_frags; use 1480. */
    pk orig = make_v4(65535 - 20 - 8, 0, 7, 3);
    ck_assert_uint_eq(orig.n, 65535);
    fset s = {0};
    size_t nc = even_cuts(orig.n - 20, 1480, CUTS, MAXF);
    split_v4(&orig, CUTS, nc, &s);
    rng g = {42};
    shuffle(&g, ORD, s.n);
    feed_all(&s, ORD, &orig);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

START_TEST(v6_orders)
{
    const v6spec *specs[] = {&V6_PLAIN, &V6_EXT};
    for (size_t sp = 0; sp < 2; sp++) {
        for (int tail = 0; tail < 2; tail++) {
            pk orig = make_v6(specs[sp], 4000, tail != 0, (unsigned)(sp * 2 + (size_t)tail));
            /* The original parses as one packet ending in UDP. */
            sl_ipv6_hdr h;
            ck_assert_int_eq(sl_ipv6_parse(orig.b, orig.n, &h), SL_OK);
            ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
            size_t flen = orig.n - 40 - specs[sp]->unfrag_len;
            fset s = {0};
            size_t nc = even_cuts(flen, 1232, CUTS, MAXF);
            split_v6(&orig, specs[sp], 0xdeadbeefu, CUTS, nc, &s);
            feed_all(&s, NULL, &orig);
            reverse(ORD, s.n);
            feed_all(&s, ORD, &orig);
            rng g = {sp * 10 + (size_t)tail + 1};
            for (int k = 0; k < 10; k++) {
                shuffle(&g, ORD, s.n);
                feed_all(&s, ORD, &orig);
            }
            fset_free(&s);
            for (int k = 0; k < 30; k++) {
                nc = random_cuts(&g, flen, 50, CUTS, MAXF);
                split_v6(&orig, specs[sp], (uint32_t)k, CUTS, nc, &s);
                shuffle(&g, ORD, s.n);
                feed_all(&s, ORD, &orig);
                fset_free(&s);
            }
            /* The output parses and its UDP checksum verifies. */
            ck_assert_int_eq(sl_ipv6_parse(F.out, F.out_len, &h), SL_OK);
            ck_assert(!h.has_frag);
            ck_assert_uint_eq(h.proto, SL_IPPROTO_UDP);
            sl_udp_hdr u;
            sl_pseudo ph = pseudo6();
            ck_assert_int_eq(sl_udp_parse(h.payload, h.payload_len, &ph, &u), SL_OK);
            pk_free(&orig);
        }
    }
}
END_TEST

START_TEST(v6_largest)
{
    /* Payload length 65535 with 16 bytes of unfragmentable headers. */
    pk orig = make_v6(&V6_EXT, 65535 - 16 - 8, false, 9);
    ck_assert_uint_eq(orig.n, 40 + 65535);
    fset s = {0};
    size_t nc = even_cuts(orig.n - 56, 1440, CUTS, MAXF);
    split_v6(&orig, &V6_EXT, 77, CUTS, nc, &s);
    rng g = {7};
    shuffle(&g, ORD, s.n);
    feed_all(&s, ORD, &orig);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

/* scapy 2.5: IP(src="192.0.2.1", dst="198.51.100.2", id=0x1234)/UDP(1000,
 * 2000)/Raw(bytes((i*7+3)&255 for i in range(120))), fragment(p, 40); and
 * IPv6(...)/IPv6ExtHdrHopByHop()/IPv6ExtHdrFragment(id=0xabcdef01)/UDP/
 * Raw(same), fragment6(q, 104), with the unfragmented IPv6 original. */
static const char *const SCAPY_V4_ORIG =
    "450000941234000040117beec0000201c633640203e807d000806abe030a11181f262d343b424950575e656c"
    "737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0"
    "a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4"
    "dbe2e9f0f7fe050c131a21282f363d44";
static const char *const SCAPY_V4_FRAGS[] = {
    ("4500003c1234200040115c46c0000201c633640203e807d000806abe030a11181f262d343b424950575e656c"
     "737a81888f969da4abb2b9c0c7ced5dc"),
    ("4500003c1234200540115c41c0000201c6336402e3eaf1f8ff060d141b222930373e454c535a61686f767d84"
     "8b9299a0a7aeb5bcc3cad1d8dfe6edf4"),
    ("4500003c1234200a40115c3cc0000201c6336402fb020910171e252c333a41484f565d646b727980878e959c"
     "a3aab1b8bfc6cdd4dbe2e9f0f7fe050c"),
    "4500001c1234000f40117c57c0000201c6336402131a21282f363d44",
};
static const char *const SCAPY_V6_ORIG =
    "600000000088004020010db800000000000000000000000120010db8000000000000000000000002110001040000"
    "000003e807d00080fb80030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1"
    "f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c"
    "333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d44";
static const char *const SCAPY_V6_FRAGS[] = {
    ("600000000040004020010db800000000000000000000000120010db80000000000000000000000022c0001040000"
     "000011000001abcdef0103e807d00080fb80030a11181f262d343b424950575e656c737a81888f969da4abb2b9"
     "c0c7ced5dce3eaf1f8ff060d14"),
    ("600000000040004020010db800000000000000000000000120010db80000000000000000000000022c0001040000"
     "000011000031abcdef011b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb0209"
     "10171e252c333a41484f565d64"),
    ("600000000030004020010db800000000000000000000000120010db80000000000000000000000022c0001040000"
     "000011000060abcdef016b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d44"),
};

START_TEST(scapy_goldens)
{
    pk o4 = hex_pk(SCAPY_V4_ORIG);
    pk o6 = hex_pk(SCAPY_V6_ORIG);
    fset s4 = {0}, s6 = {0};
    for (size_t i = 0; i < 4; i++)
        fset_add(&s4, hex_pk(SCAPY_V4_FRAGS[i]));
    for (size_t i = 0; i < 3; i++)
        fset_add(&s6, hex_pk(SCAPY_V6_FRAGS[i]));
    rng g = {5};
    for (int k = 0; k < 24; k++) {
        shuffle(&g, ORD, s4.n);
        feed_all(&s4, ORD, &o4);
        shuffle(&g, ORD, s6.n);
        feed_all(&s6, ORD, &o6);
    }
    /* Both interleaved: two datagrams in flight at once. */
    ck_assert_int_eq(feed(&s4.f[3]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s6.f[2]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s4.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s6.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s4.f[1]), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 2);
    ck_assert_int_eq(feed(&s6.f[1]), SL_OK);
    expect_out(&o6);
    ck_assert_int_eq(feed(&s4.f[2]), SL_OK);
    expect_out(&o4);
    fset_free(&s4);
    fset_free(&s6);
    pk_free(&o4);
    pk_free(&o6);
}
END_TEST

/* Same id, different keys: separate datagrams (RFC 791 §3.2, RFC 8200
 * §4.5). */
START_TEST(keys_separate)
{
    pk a = make_v4(200, 0, 9, 1);
    pk b = make_v4(200, 0, 9, 2);
    b.b[9] = SL_IPPROTO_TCP; /* another protocol, same id */
    sl_store16(b.b + 10, 0);
    sl_store16(b.b + 10, sl_csum(b.b, 20));
    pk c = make_v4(200, 0, 9, 3);
    c.b[15] ^= 1; /* another source */
    sl_store16(c.b + 10, 0);
    sl_store16(c.b + 10, sl_csum(c.b, 20));
    fset sa = {0}, sb = {0}, sc = {0};
    size_t cut = 96;
    split_v4(&a, &cut, 1, &sa);
    split_v4(&b, &cut, 1, &sb);
    split_v4(&c, &cut, 1, &sc);
    ck_assert_int_eq(feed(&sa.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&sb.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&sc.f[0]), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 3);
    ck_assert_int_eq(feed(&sc.f[1]), SL_OK);
    expect_out(&c);
    ck_assert_int_eq(feed(&sa.f[1]), SL_OK);
    expect_out(&a);
    ck_assert_int_eq(feed(&sb.f[1]), SL_OK);
    expect_out(&b);

    /* IPv6: another destination with the same id. */
    pk d = make_v6(&V6_PLAIN, 300, false, 4);
    pk e = make_v6(&V6_PLAIN, 300, false, 5);
    e.b[39] ^= 0x80;
    fset sd = {0}, se = {0};
    split_v6(&d, &V6_PLAIN, 1, &cut, 1, &sd);
    split_v6(&e, &V6_PLAIN, 1, &cut, 1, &se);
    ck_assert_int_eq(feed(&sd.f[1]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&se.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&se.f[1]), SL_OK);
    expect_out(&e);
    ck_assert_int_eq(feed(&sd.f[0]), SL_OK);
    expect_out(&d);
    fset_free(&sa);
    fset_free(&sb);
    fset_free(&sc);
    fset_free(&sd);
    fset_free(&se);
    pk_free(&a);
    pk_free(&b);
    pk_free(&c);
    pk_free(&d);
    pk_free(&e);
}
END_TEST

/* DF and the reserved flag of the first fragment survive; MF and the
 * offset are cleared and the checksum verifies. */
START_TEST(v4_header_rewrite)
{
    pk orig = make_v4(100, 8, 0x4242, 1);
    sl_store16(orig.b + 6, 0x4000); /* DF */
    sl_store16(orig.b + 10, 0);
    sl_store16(orig.b + 10, sl_csum(orig.b, 28));
    fset s = {0};
    size_t cut = 64;
    split_v4(&orig, &cut, 1, &s);
    /* The second fragment had a different TTL: the first's header wins. */
    s.f[1].b[8] = 3;
    sl_store16(s.f[1].b + 10, 0);
    sl_store16(s.f[1].b + 10, sl_csum(s.f[1].b, 20));
    ck_assert_int_eq(feed(&s.f[1]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[0]), SL_OK);
    expect_out(&orig);
    sl_ipv4_hdr h;
    ck_assert_int_eq(sl_ipv4_parse(F.out, F.out_len, 0, &h), SL_OK);
    ck_assert(h.df && !h.mf && h.frag_off == 0);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

/* A last fragment without data (offset = end, MF 0) completes the
 * datagram; a non-last fragment without data is ignored. */
START_TEST(empty_fragments)
{
    pk orig = make_v4(120, 0, 5, 1);
    fset s = {0};
    size_t cut = 64;
    split_v4(&orig, &cut, 1, &s);
    /* Turn fragment 1 into MF=1 and add an empty last fragment at 128. */
    sl_store16(s.f[1].b + 6, (uint16_t)(0x2000u | 8u));
    sl_store16(s.f[1].b + 10, 0);
    sl_store16(s.f[1].b + 10, sl_csum(s.f[1].b, 20));
    pk empty = pk_copy(s.f[1].b, 20);
    sl_store16(empty.b + 2, 20);
    sl_store16(empty.b + 6, (uint16_t)(128 / 8));
    sl_store16(empty.b + 10, 0);
    sl_store16(empty.b + 10, sl_csum(empty.b, 20));
    pk emore = pk_copy(empty.b, 20);
    sl_store16(emore.b + 6, (uint16_t)(0x2000u | 4u));
    sl_store16(emore.b + 10, 0);
    sl_store16(emore.b + 10, sl_csum(emore.b, 20));

    ck_assert_int_eq(feed(&emore), SL_ERR_AGAIN); /* nothing stored */
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_int_eq(feed(&s.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&emore), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[1]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&empty), SL_OK);
    expect_out(&orig);
    /* Empty last first, then again (a duplicate), then the data. */
    ck_assert_int_eq(feed(&empty), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    uint64_t dups = F.r.st.duplicates;
    ck_assert_int_eq(feed(&empty), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.st.duplicates, dups + 1);
    ck_assert_int_eq(feed(&s.f[1]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[0]), SL_OK);
    expect_out(&orig);
    pk_free(&empty);
    pk_free(&emore);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

/* ====================================================================== */
/* Duplicates and overlaps (RFC 5722)                                      */
/* ====================================================================== */

START_TEST(exact_duplicates)
{
    pk orig = make_v6(&V6_EXT, 2000, true, 11);
    fset s = {0};
    size_t nc = even_cuts(orig.n - 56, 512, CUTS, MAXF);
    split_v6(&orig, &V6_EXT, 99, CUTS, nc, &s);
    ck_assert_uint_eq(s.n, 4);
    uint64_t d0 = F.r.st.duplicates;
    for (size_t i = 0; i + 1 < s.n; i++) {
        ck_assert_int_eq(feed(&s.f[i]), SL_ERR_AGAIN);
        size_t held = F.r.bytes;
        ck_assert_int_eq(feed(&s.f[i]), SL_ERR_AGAIN);
        ck_assert_uint_eq(F.r.bytes, held); /* nothing stored */
    }
    ck_assert_uint_eq(F.r.st.duplicates, d0 + 3);
    ck_assert_int_eq(feed(&s.f[s.n - 1]), SL_OK);
    expect_out(&orig);

    /* A duplicate of the last fragment while a hole remains. */
    ck_assert_int_eq(feed(&s.f[3]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[3]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[2]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[0]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s.f[1]), SL_OK);
    expect_out(&orig);
    ck_assert_uint_eq(F.r.st.duplicates, d0 + 5);
    ck_assert_uint_eq(F.r.st.overlaps, 0);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

/* A fragment of `orig` covering payload [start, end) with MF `more`. */
static pk piece_v4(const pk *orig, size_t start, size_t end, bool more)
{
    size_t hl = (size_t)(orig->b[0] & 0x0f) * 4;
    size_t fhl = start == 0 ? hl : 20;
    pk f = pk_new(fhl + end - start);
    memcpy(f.b, orig->b, fhl);
    f.b[0] = (uint8_t)(0x40u | fhl / 4);
    memcpy(f.b + fhl, orig->b + hl + start, end - start);
    sl_store16(f.b + 2, (uint16_t)f.n);
    sl_store16(f.b + 6, (uint16_t)((more ? 0x2000u : 0u) | (unsigned)(start / 8)));
    sl_store16(f.b + 10, 0);
    sl_store16(f.b + 10, sl_csum(f.b, fhl));
    return f;
}

static pk piece_v6(const pk *orig, const v6spec *sp, uint32_t id, size_t start, size_t end,
                   bool more)
{
    fset s = {0};
    size_t ul = 40 + sp->unfrag_len;
    /* Build a set cut at start and end, take the piece in the middle. */
    size_t cuts[2];
    size_t nc = 0;
    size_t flen = orig->n - ul;
    if (start > 0)
        cuts[nc++] = start;
    if (end < flen)
        cuts[nc++] = end;
    split_v6(orig, sp, id, cuts, nc, &s);
    size_t k = start > 0 ? 1 : 0;
    pk p = s.f[k];
    s.f[k].b = NULL;
    uint8_t *fh = p.b + ul;
    sl_store16(fh + 2, (uint16_t)(start | (more ? 1u : 0u)));
    fset_free(&s);
    return p;
}

/* Fresh complete set after a drop: the same id reassembles fine. */
static void fresh_v4(const pk *orig)
{
    fset s = {0};
    size_t nc = even_cuts(orig->n - 20, 64, CUTS, MAXF);
    split_v4(orig, CUTS, nc, &s);
    feed_all(&s, NULL, orig);
    fset_free(&s);
}

START_TEST(overlaps_v4)
{
    pk orig = make_v4(248, 0, 0x777, 1); /* payload 256 */
    /* Held: [64,128).  Each case adds an overlapping piece. */
    static const struct {
        size_t s, e;
        bool more;
    } cases[] = {
        {32, 72, true},   /* partial, from the left           */
        {120, 160, true}, /* partial, to the right            */
        {56, 136, true},  /* containing                       */
        {72, 112, true},  /* contained                        */
        {64, 96, true},   /* same start, shorter              */
        {64, 136, true},  /* same start, longer               */
        {96, 128, true},  /* same end                         */
        {0, 72, true},    /* first fragment overlapping       */
        {120, 256, false} /* last fragment overlapping        */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pk held = piece_v4(&orig, 64, 128, true);
        pk bad = piece_v4(&orig, cases[i].s, cases[i].e, cases[i].more);
        pk other = piece_v4(&orig, 192, 200, true);
        ck_assert(cases[i].s < 128 && cases[i].e > 64); /* overlaps `held` */
        ck_assert_int_eq(feed(&held), SL_ERR_AGAIN);
        ck_assert_int_eq(feed(&other), SL_ERR_AGAIN);
        uint64_t ov = F.r.st.overlaps;
        ck_assert_int_eq(feed(&bad), SL_ERR_FRAG_OVERLAP);
        ck_assert_uint_eq(F.r.st.overlaps, ov + 1);
        ck_assert_uint_eq(F.r.n_dgrams, 0);
        ck_assert_uint_eq(F.r.bytes, 0);
        check_books();
        fresh_v4(&orig);
        pk_free(&held);
        pk_free(&bad);
        pk_free(&other);
    }
    /* Same offset, same length, different bytes: an overlap, not a
     * duplicate. */
    pk a = piece_v4(&orig, 64, 128, true);
    pk b = piece_v4(&orig, 64, 128, true);
    b.b[30] ^= 0xff;
    ck_assert_int_eq(feed(&a), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&b), SL_ERR_FRAG_OVERLAP);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    /* Same bytes with MF changed to 0 is still the same data: it tells
     * the end. */
    pk c = piece_v4(&orig, 192, 256, true);
    pk c_last = piece_v4(&orig, 192, 256, false);
    pk rest = piece_v4(&orig, 0, 192, true);
    ck_assert_int_eq(feed(&c), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&rest), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&c_last), SL_OK);
    expect_out(&orig);
    pk_free(&a);
    pk_free(&b);
    pk_free(&c);
    pk_free(&c_last);
    pk_free(&rest);
    pk_free(&orig);
}
END_TEST

START_TEST(overlaps_v6)
{
    pk orig = make_v6(&V6_EXT, 400, false, 2);
    size_t flen = orig.n - 56;
    pk held = piece_v6(&orig, &V6_EXT, 5, 64, 128, true);
    pk bad = piece_v6(&orig, &V6_EXT, 5, 0, 72, true);
    ck_assert_int_eq(feed(&held), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&bad), SL_ERR_FRAG_OVERLAP);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    check_books();
    /* The late fragments of the dropped datagram start a new record;
     * a full fresh set with the same id then completes. */
    fset s = {0};
    size_t nc = even_cuts(flen, 128, CUTS, MAXF);
    split_v6(&orig, &V6_EXT, 5, CUTS, nc, &s);
    feed_all(&s, NULL, &orig);
    fset_free(&s);
    pk_free(&held);
    pk_free(&bad);
    pk_free(&orig);
}
END_TEST

/* ====================================================================== */
/* Too big, inconsistent ends                                              */
/* ====================================================================== */

START_TEST(too_big)
{
    /* IPv4 with a 60-byte header: total length = 60 + payload <= 65535,
     * so the payload may end at 65475 at most.  A fragment ending at
     * 65488 passes the parser (offset*8 + len <= 65535). */
    pk orig = make_v4(65535 - 60 - 8, 40, 0x99, 1);
    pk first = piece_v4(&orig, 0, 1480, true);
    pk last = pk_new(20 + 48);
    memcpy(last.b, first.b, 20);
    last.b[0] = 0x45;
    memset(last.b + 20, 0x33, 48);
    sl_store16(last.b + 2, 68);
    sl_store16(last.b + 6, 65440 / 8);
    sl_store16(last.b + 10, 0);
    sl_store16(last.b + 10, sl_csum(last.b, 20));
    ck_assert_int_eq(feed(&first), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&last), SL_ERR_FRAG_TOO_BIG);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(F.r.st.too_big, 1);
    /* The other order: the first fragment lowers the limit. */
    ck_assert_int_eq(feed(&last), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&first), SL_ERR_FRAG_TOO_BIG);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(F.r.st.too_big, 2);
    check_books();
    /* A 20-byte header first fragment: the same end is fine. */
    pk first20 = make_v4(1480 - 8, 0, 0x99, 1);
    sl_store16(first20.b + 6, 0x2000);
    sl_store16(first20.b + 10, 0);
    sl_store16(first20.b + 10, sl_csum(first20.b, 20));
    ck_assert_int_eq(feed(&last), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&first20), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    sl_reasm_fini(&F.r);
    check_books();

    /* A hand-made view past 65535 (no parser would give it): refused. */
    sl_ipv4_hdr h;
    ck_assert_int_eq(sl_ipv4_parse(last.b, last.n, 0, &h), SL_OK);
    h.frag_off = 8191;
    ck_assert_int_eq(sl_reasm_input4(&F.r, last.b, &h, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_FRAG_TOO_BIG);
    ck_assert_uint_eq(F.r.n_dgrams, 0);

    /* IPv6: a last fragment with a bare 40-byte header ending at 65535
     * (the parser accepts it: RFC 8200 §4.5 payload 65535), and a first
     * fragment of the same datagram with 16 bytes of unfragmentable
     * extension headers, which RFC 8200 §4.5 makes the reassembled
     * packet's: payload length 16 + 65535 > 65535. */
    pk o6p = make_v6(&V6_PLAIN, 200, false, 3);
    pk f6p = piece_v6(&o6p, &V6_PLAIN, 8, 0, 64, true);
    pk l6p = pk_new(40 + 8 + 63);
    memcpy(l6p.b, f6p.b, 48);
    memset(l6p.b + 48, 0x44, 63);
    sl_store16(l6p.b + 4, (uint16_t)(l6p.n - 40));
    sl_store16(l6p.b + 40 + 2, (uint16_t)(65472u)); /* offset 65472, M 0 */
    pk o6 = make_v6(&V6_EXT, 200, false, 3);
    pk f6 = piece_v6(&o6, &V6_EXT, 8, 0, 64, true);
    ck_assert_int_eq(feed(&l6p), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f6), SL_ERR_FRAG_TOO_BIG);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_int_eq(feed(&f6), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&l6p), SL_ERR_FRAG_TOO_BIG);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    /* With the bare header first fragment, ending at 65535 is fine. */
    ck_assert_int_eq(feed(&l6p), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f6p), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    ck_assert_uint_eq(F.r.st.too_big, 5);

    pk_free(&o6);
    pk_free(&f6);
    pk_free(&o6p);
    pk_free(&f6p);
    pk_free(&l6p);
    pk_free(&first20);
    pk_free(&first);
    pk_free(&last);
    pk_free(&orig);
}
END_TEST

START_TEST(inconsistent_ends)
{
    pk orig = make_v4(248, 0, 0x321, 1); /* payload 256 */
    /* Two different last fragments. */
    pk l1 = piece_v4(&orig, 192, 256, false);
    pk l2 = piece_v4(&orig, 192, 248, false);
    ck_assert_int_eq(feed(&l1), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&l2), SL_ERR_FRAG_INCONSISTENT);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    /* Data past a known end. */
    pk early_end = piece_v4(&orig, 64, 128, false);
    pk beyond = piece_v4(&orig, 128, 192, true);
    ck_assert_int_eq(feed(&early_end), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&beyond), SL_ERR_FRAG_INCONSISTENT);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    /* An end before data already held. */
    ck_assert_int_eq(feed(&beyond), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&early_end), SL_ERR_FRAG_INCONSISTENT);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    /* A non-last fragment ending exactly at the end, before the (empty)
     * last one, is consistent. */
    ck_assert_uint_eq(F.r.st.inconsistent, 3);
    ck_assert_uint_eq(F.r.st.overlaps, 0);
    check_books();
    fresh_v4(&orig);

    /* IPv6: two ends. */
    pk o6 = make_v6(&V6_PLAIN, 300, false, 1);
    pk a = piece_v6(&o6, &V6_PLAIN, 3, 256, o6.n - 40, false);
    pk b = piece_v6(&o6, &V6_PLAIN, 3, 256, 264, false);
    ck_assert_int_eq(feed(&a), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&b), SL_ERR_FRAG_INCONSISTENT);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    pk_free(&a);
    pk_free(&b);
    pk_free(&o6);
    pk_free(&l1);
    pk_free(&l2);
    pk_free(&early_end);
    pk_free(&beyond);
    pk_free(&orig);
}
END_TEST

START_TEST(invalid_args)
{
    pk orig = make_v4(100, 0, 1, 1);
    sl_ipv4_hdr h;
    ck_assert_int_eq(sl_ipv4_parse(orig.b, orig.n, 0, &h), SL_OK);
    /* Not a fragment. */
    ck_assert_int_eq(sl_reasm_input4(&F.r, orig.b, &h, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    pk f = piece_v4(&orig, 0, 64, true);
    ck_assert_int_eq(sl_ipv4_parse(f.b, f.n, 0, &h), SL_OK);
    ck_assert_int_eq(sl_reasm_input4(&F.r, f.b, &h, 0, F.out, SL_REASM_OUT_MAX - 1, &F.out_len),
                     SL_ERR_INVAL);
    ck_assert_int_eq(sl_reasm_input4(&F.r, f.b, &h, 0, NULL, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    pk o6 = make_v6(&V6_PLAIN, 100, false, 1);
    sl_ipv6_hdr h6;
    ck_assert_int_eq(sl_ipv6_parse(o6.b, o6.n, &h6), SL_OK);
    ck_assert_int_eq(sl_reasm_input6(&F.r, o6.b, &h6, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(F.m.allocs, 0);
    pk_free(&o6);
    pk_free(&f);
    pk_free(&orig);
}
END_TEST

/* Views that no parser would produce are refused without side effects. */
START_TEST(bad_views)
{
    pk orig = make_v4(100, 0, 1, 1);
    pk f = piece_v4(&orig, 0, 64, true);
    sl_ipv4_hdr h, hv;
    ck_assert_int_eq(sl_ipv4_parse(f.b, f.n, 0, &h), SL_OK);
    hv = h;
    hv.payload = f.b + 24; /* not where ihl says */
    ck_assert_int_eq(sl_reasm_input4(&F.r, f.b, &hv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    hv = h;
    hv.ihl = 4;
    hv.payload = f.b + 16;
    ck_assert_int_eq(sl_reasm_input4(&F.r, f.b, &hv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    hv = h;
    hv.payload_len = 70000;
    ck_assert_int_eq(sl_reasm_input4(&F.r, f.b, &hv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_FRAG_TOO_BIG);

    pk o6 = make_v6(&V6_EXT, 100, false, 1);
    pk g6 = piece_v6(&o6, &V6_EXT, 1, 0, 64, true);
    sl_ipv6_hdr k, kv;
    ck_assert_int_eq(sl_ipv6_parse(g6.b, g6.n, &k), SL_OK);
    ck_assert_uint_eq(k.unfrag_len, 56);
    kv = k;
    kv.payload = g6.b + 56;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &kv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    kv = k;
    kv.unfrag_len = 32;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &kv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    kv = k;
    kv.payload_len = 70000;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &kv, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_FRAG_TOO_BIG);
    /* The unfragmentable chain no longer leads to the Fragment header. */
    g6.b[48] = SL_IPPROTO_TCP;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &k, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    g6.b[48] = SL_IPPROTO_FRAGMENT;
    g6.b[6] = SL_IPPROTO_TCP;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &k, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    g6.b[6] = SL_IPPROTO_HOPOPTS;
    g6.b[41] = 3; /* HBH claims 32 bytes: overruns the unfragmentable part */
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &k, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_INVAL);
    g6.b[41] = 0;
    ck_assert_int_eq(sl_reasm_input6(&F.r, g6.b, &k, 0, F.out, SL_REASM_OUT_MAX, &F.out_len),
                     SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    ck_assert_uint_eq(F.m.allocs, 2);
    pk_free(&g6);
    pk_free(&o6);
    pk_free(&f);
    pk_free(&orig);
}
END_TEST

/* ====================================================================== */
/* Limits                                                                  */
/* ====================================================================== */

START_TEST(limit_datagrams)
{
    sl_reasm_limits l = default_limits();
    l.max_datagrams = 4;
    fx_close();
    fx_open(&l);
    pk o[5];
    fset s[5];
    for (size_t i = 0; i < 5; i++) {
        o[i] = make_v4(200, 0, (uint16_t)(100 + i), (unsigned)i);
        memset(&s[i], 0, sizeof s[i]);
        size_t cut = 104;
        split_v4(&o[i], &cut, 1, &s[i]);
    }
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(feed(&s[i].f[0]), SL_ERR_AGAIN);
    size_t held = F.r.bytes;
    ck_assert_int_eq(feed(&s[4].f[0]), SL_ERR_FRAG_LIMIT);
    ck_assert_int_eq(feed(&s[4].f[1]), SL_ERR_FRAG_LIMIT);
    ck_assert_uint_eq(F.r.st.limit_drops, 2);
    ck_assert_uint_eq(F.r.bytes, held);
    ck_assert_uint_eq(F.r.n_dgrams, 4);
    /* Held datagrams still take fragments and complete. */
    ck_assert_int_eq(feed(&s[2].f[1]), SL_OK);
    expect_out(&o[2]);
    /* Now there is room. */
    ck_assert_int_eq(feed(&s[4].f[1]), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&s[4].f[0]), SL_OK);
    expect_out(&o[4]);
    for (size_t i = 0; i < 5; i++) {
        fset_free(&s[i]);
        pk_free(&o[i]);
    }
}
END_TEST

START_TEST(limit_frags)
{
    sl_reasm_limits l = default_limits();
    l.max_frags = 3;
    fx_close();
    fx_open(&l);
    pk orig = make_v4(248, 0, 5, 1); /* payload 256: 4 fragments of 64 */
    fset s = {0};
    size_t nc = even_cuts(256, 64, CUTS, MAXF);
    split_v4(&orig, CUTS, nc, &s);
    ck_assert_uint_eq(s.n, 4);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(feed(&s.f[i]), SL_ERR_AGAIN);
    size_t held = F.r.bytes;
    ck_assert_int_eq(feed(&s.f[3]), SL_ERR_FRAG_LIMIT);
    ck_assert_uint_eq(F.r.bytes, held);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    ck_assert_uint_eq(F.r.st.limit_drops, 1);
    /* A duplicate is still recognised as such, not a limit drop. */
    ck_assert_int_eq(feed(&s.f[1]), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.st.duplicates, 1);
    fset_free(&s);
    /* Three fragments are fine. */
    nc = even_cuts(256, 96, CUTS, MAXF);
    orig.b[5] ^= 1; /* another id */
    sl_store16(orig.b + 10, 0);
    sl_store16(orig.b + 10, sl_csum(orig.b, 20));
    split_v4(&orig, CUTS, nc, &s);
    feed_all(&s, NULL, &orig);
    fset_free(&s);
    pk_free(&orig);
}
END_TEST

START_TEST(limit_bytes)
{
    /* Learn what one datagram with one 64-byte fragment costs. */
    pk orig = make_v4(248, 0, 5, 1);
    pk f0 = piece_v4(&orig, 0, 64, true);
    pk f1 = piece_v4(&orig, 64, 128, true);
    pk f2 = piece_v4(&orig, 128, 192, true);
    pk f3 = piece_v4(&orig, 192, 256, false);
    ck_assert_int_eq(feed(&f1), SL_ERR_AGAIN);
    size_t one = F.r.bytes;
    ck_assert_int_eq(feed(&f2), SL_ERR_AGAIN);
    size_t per_frag = F.r.bytes - one;
    ck_assert_uint_ge(per_frag, 64);
    ck_assert_uint_gt(one, per_frag); /* the record costs something */
    sl_reasm_fini(&F.r);

    /* Room for the record + two fragments of 64 and not a third. */
    sl_reasm_limits l = default_limits();
    l.max_bytes = one + per_frag + per_frag - 1;
    fx_close();
    fx_open(&l);
    ck_assert_int_eq(feed(&f1), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f2), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f3), SL_ERR_FRAG_LIMIT);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    ck_assert_uint_eq(F.r.st.limit_drops, 1);
    /* A new datagram does not fit either. */
    pk other = make_v4(100, 0, 6, 1);
    pk o0 = piece_v4(&other, 0, 8, true);
    ck_assert_int_eq(feed(&o0), SL_ERR_FRAG_LIMIT);
    ck_assert_uint_eq(F.r.st.limit_drops, 2);
    ck_assert_uint_eq(F.r.n_dgrams, 1);
    check_books();
    sl_reasm_fini(&F.r);

    /* Exactly enough for the whole datagram (the first fragment keeps its
     * 20-byte header too). */
    l.max_bytes = one + 3 * per_frag + 20;
    fx_close();
    fx_open(&l);
    ck_assert_int_eq(feed(&f3), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f2), SL_ERR_AGAIN);
    ck_assert_int_eq(feed(&f1), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.bytes + per_frag + 20, l.max_bytes);
    ck_assert_int_eq(feed(&f0), SL_OK);
    expect_out(&orig);
    ck_assert_uint_eq(F.m.peak, l.max_bytes);

    /* Zero limits refuse everything. */
    l.max_bytes = 0;
    fx_close();
    fx_open(&l);
    ck_assert_int_eq(feed(&f3), SL_ERR_FRAG_LIMIT);
    l = default_limits();
    l.max_datagrams = 0;
    fx_close();
    fx_open(&l);
    ck_assert_int_eq(feed(&f3), SL_ERR_FRAG_LIMIT);
    l = default_limits();
    l.max_frags = 0;
    fx_close();
    fx_open(&l);
    ck_assert_int_eq(feed(&f3), SL_ERR_FRAG_LIMIT);
    ck_assert_uint_eq(F.m.allocs, 0);

    pk_free(&o0);
    pk_free(&other);
    pk_free(&f0);
    pk_free(&f1);
    pk_free(&f2);
    pk_free(&f3);
    pk_free(&orig);
}
END_TEST

/* ====================================================================== */
/* Expiry                                                                  */
/* ====================================================================== */

START_TEST(expiry)
{
    const sl_time T = 60u * 1000000u;
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), SL_TIME_NEVER);
    size_t n = 99;
    ck_assert_int_eq(sl_reasm_expire(&F.r, 1u << 30, F.out, SL_REASM_OUT_MAX, &n), SL_ERR_AGAIN);

    pk a = make_v4(300, 8, 1, 1);
    pk b = make_v6(&V6_EXT, 300, true, 2);
    pk c = make_v4(300, 0, 3, 3);
    pk a0 = piece_v4(&a, 0, 64, true);
    pk a1 = piece_v4(&a, 64, 128, true);
    pk b0 = piece_v6(&b, &V6_EXT, 2, 0, 128, true);
    pk b1 = piece_v6(&b, &V6_EXT, 2, 128, 256, true);
    pk c1 = piece_v4(&c, 64, 128, true);

    ck_assert_int_eq(feed_at(&a1, 1000), SL_ERR_AGAIN);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), 1000 + T);
    ck_assert_int_eq(feed_at(&b1, 2000), SL_ERR_AGAIN);
    ck_assert_int_eq(feed_at(&c1, 3000), SL_ERR_AGAIN);
    /* Later fragments do not push the deadline (RFC 8200 §4.5: from the
     * first-arriving fragment). */
    ck_assert_int_eq(feed_at(&a0, 500000), SL_ERR_AGAIN);
    ck_assert_int_eq(feed_at(&b0, 600000), SL_ERR_AGAIN);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), 1000 + T);

    ck_assert_int_eq(sl_reasm_expire(&F.r, 1000 + T - 1, F.out, SL_REASM_OUT_MAX, &n),
                     SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.n_dgrams, 3);
    /* a expires: its offset-0 fragment comes back as received. */
    ck_assert_int_eq(sl_reasm_expire(&F.r, 1000 + T, F.out, SL_REASM_OUT_MAX, &n), SL_OK);
    ck_assert_uint_eq(n, a0.n);
    ck_assert_mem_eq(F.out, a0.b, a0.n);
    ck_assert_uint_eq(F.r.st.timed_out, 1);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), 2000 + T);
    ck_assert_int_eq(sl_reasm_expire(&F.r, 1000 + T, F.out, SL_REASM_OUT_MAX, &n), SL_ERR_AGAIN);
    /* b and c both due: one per call, oldest first; b's first fragment
     * truncated to out_cap. */
    ck_assert_int_eq(sl_reasm_expire(&F.r, 10 * T, F.out, 50, &n), SL_OK);
    ck_assert_uint_eq(n, 50);
    ck_assert_mem_eq(F.out, b0.b, 50);
    /* c never had its first fragment: nothing to quote. */
    n = 99;
    ck_assert_int_eq(sl_reasm_expire(&F.r, 10 * T, F.out, SL_REASM_OUT_MAX, &n), SL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(F.r.n_dgrams, 0);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), SL_TIME_NEVER);
    ck_assert_int_eq(sl_reasm_expire(&F.r, 10 * T, F.out, SL_REASM_OUT_MAX, &n), SL_ERR_AGAIN);
    ck_assert_uint_eq(F.r.st.timed_out, 3);
    check_books();

    /* A completed datagram leaves the FIFO: the next expiry moves on. */
    ck_assert_int_eq(feed_at(&a1, 100), SL_ERR_AGAIN);
    ck_assert_int_eq(feed_at(&c1, 200), SL_ERR_AGAIN);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), 100 + T);
    pk a_rest = piece_v4(&a, 128, a.n - 28, false);
    ck_assert_int_eq(feed_at(&a_rest, 300), SL_ERR_AGAIN);
    ck_assert_int_eq(feed_at(&a0, 400), SL_OK);
    expect_out(&a);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), 200 + T);
    /* Deadline saturates rather than wrapping. */
    sl_reasm_fini(&F.r);
    F.r.lim.timeout = SL_TIME_NEVER - 10;
    ck_assert_int_eq(feed_at(&c1, 200), SL_ERR_AGAIN);
    ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), SL_TIME_NEVER);
    ck_assert_int_eq(sl_reasm_expire(&F.r, SL_TIME_NEVER - 1, F.out, 0, &n), SL_ERR_AGAIN);
    /* A clock that went backwards expires nothing. */
    F.r.lim.timeout = 0;
    ck_assert_int_eq(sl_reasm_expire(&F.r, 100, NULL, 0, &n), SL_ERR_AGAIN);
    ck_assert_int_eq(sl_reasm_expire(&F.r, 200, NULL, 0, &n), SL_OK);
    ck_assert_uint_eq(n, 0);

    pk_free(&a_rest);
    pk_free(&a);
    pk_free(&b);
    pk_free(&c);
    pk_free(&a0);
    pk_free(&a1);
    pk_free(&b0);
    pk_free(&b1);
    pk_free(&c1);
}
END_TEST

/* ====================================================================== */
/* Flood                                                                   */
/* ====================================================================== */

/* 100,000 one-fragment datagrams with random ids, one every 100 us, with
 * a 1 s timeout: the table stays full, memory stays within max_bytes and
 * the limit drops are exactly the ones a simple model predicts. */
START_TEST(flood)
{
    /* _i == 0: max_bytes binds (200 datagrams); _i == 1: max_datagrams. */
    const uint32_t maxd = _i == 0 ? 256 : 150;
    const sl_time T = 1000000;
    sl_reasm_limits l = {maxd, 0, 8, T};
    /* Learn the per-datagram cost (record + 1 fragment of 64 bytes). */
    pk orig = make_v6(&V6_PLAIN, 1000, false, 1);
    pk tmpl = piece_v6(&orig, &V6_PLAIN, 0, 64, 128, true);
    ck_assert_int_eq(feed(&tmpl), SL_ERR_AGAIN);
    size_t cost = F.r.bytes;
    fx_close();
    l.max_bytes = _i == 0 ? cost * 200 + cost / 2 : cost * 1000;
    fx_open(&l);

    /* Model: FIFO of arrival times of held datagrams. */
    static sl_time held[300];
    size_t head = 0, count = 0;
    uint64_t want_limit = 0, got_limit = 0, stored = 0;
    rng g = {2024};
    size_t peak = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        sl_time now = 1000000 + (sl_time)i * 100;
        /* Expire what is due (the caller's sl_poll). */
        size_t n = 0;
        while (sl_reasm_expire(&F.r, now, F.out, SL_REASM_OUT_MAX, &n) == SL_OK) {
            ck_assert_uint_gt(count, 0);
            ck_assert_uint_ge(now - held[head], T);
            head = (head + 1) % 300;
            count--;
        }
        ck_assert_uint_eq(count, F.r.n_dgrams);
        if (count > 0)
            ck_assert_uint_eq(sl_reasm_next_expiry(&F.r), held[head] + T);
        /* A random id (32-bit: a collision among <= 256 held is ~1e-5). */
        uint32_t id = rng_u32(&g);
        sl_store32(tmpl.b + 44, id);
        bool fits = count < maxd && (count + 1) * cost <= l.max_bytes;
        sl_error e = feed_at(&tmpl, now);
        if (!fits)
            want_limit++;
        if (e == SL_ERR_FRAG_LIMIT) {
            got_limit++;
        } else {
            ck_assert_int_eq(e, SL_ERR_AGAIN);
            ck_assert(fits);
            held[(head + count) % 300] = now;
            count++;
            stored++;
        }
        ck_assert_uint_le(F.m.in_use, l.max_bytes);
        if (F.m.in_use > peak)
            peak = F.m.in_use;
    }
    ck_assert_uint_eq(got_limit, want_limit);
    ck_assert_uint_eq(F.r.st.limit_drops, got_limit);
    ck_assert_uint_gt(got_limit, 10000);
    ck_assert_uint_gt(stored, 1000); /* ~ one table-full per timeout */
    ck_assert_uint_eq(F.r.st.timed_out + F.r.n_dgrams, stored);
    ck_assert_uint_le(peak, l.max_bytes);
    ck_assert_uint_le(F.m.peak, l.max_bytes);
    pk_free(&tmpl);
    pk_free(&orig);
}
END_TEST

/* ====================================================================== */
/* Failing allocator                                                       */
/* ====================================================================== */

/* Several datagrams, v4 and v6, fragments interleaved in a random order;
 * the allocator fails every Nth call.  A NOMEM leaves the books and the
 * datagram count as they were; retrying the same fragment works; all
 * datagrams complete byte for byte. */
START_TEST(failing_allocator)
{
    enum { ND = 6 };
    pk orig[ND];
    fset s[ND];
    for (size_t i = 0; i < ND; i++) {
        memset(&s[i], 0, sizeof s[i]);
        if (i % 2 == 0) {
            orig[i] = make_v4(600 + 40 * i, 4 * i, (uint16_t)(50 + i), (unsigned)i);
            size_t hl = (size_t)(orig[i].b[0] & 0x0f) * 4;
            size_t nc = even_cuts(orig[i].n - hl, 128, CUTS, MAXF);
            split_v4(&orig[i], CUTS, nc, &s[i]);
        } else {
            const v6spec *sp = i % 4 == 1 ? &V6_EXT : &V6_PLAIN;
            orig[i] = make_v6(sp, 600 + 40 * i, i == 3, (unsigned)i);
            size_t nc = even_cuts(orig[i].n - 40 - sp->unfrag_len, 128, CUTS, MAXF);
            split_v6(&orig[i], sp, (uint32_t)(70 + i), CUTS, nc, &s[i]);
        }
    }
    /* Order: (datagram, fragment) pairs shuffled. */
    static size_t pd[512], pf[512];
    size_t np = 0;
    for (size_t i = 0; i < ND; i++) {
        for (size_t k = 0; k < s[i].n; k++) {
            pd[np] = i;
            pf[np] = k;
            np++;
        }
    }
    static size_t ord[512];
    /* Runs 0..39: fail every 3rd .. 42nd call (with every 2nd, a new
     * datagram, which takes two allocations, could never be created).
     * Runs 40..: fail exactly call 1, 2, 3, ... until a run has no
     * failure left to inject. */
    for (uint64_t run = 0;; run++) {
        uint64_t every = run < 40 ? run + 3 : 0;
        uint64_t at = run < 40 ? 0 : run - 39;
        ck_assert_uint_lt(at, 10000);
        fx_close();
        sl_reasm_limits l = default_limits();
        fx_open(&l);
        F.t.fail_every = every;
        F.t.fail_at = at;
        rng g = {run < 40 ? every : 1};
        shuffle(&g, ord, np);
        size_t done = 0;
        uint64_t nomem = 0;
        for (size_t j = 0; j < np; j++) {
            const pk *p = &s[pd[ord[j]]].f[pf[ord[j]]];
            sl_error e;
            for (int tries = 0;; tries++) {
                ck_assert_int_lt(tries, 4);
                size_t bytes = F.r.bytes;
                uint32_t nd = F.r.n_dgrams;
                e = feed(p);
                if (e != SL_ERR_NOMEM)
                    break;
                nomem++;
                ck_assert_uint_eq(F.r.bytes, bytes);
                ck_assert_uint_eq(F.r.n_dgrams, nd);
                check_books();
            }
            if (e == SL_OK) {
                expect_out(&orig[pd[ord[j]]]);
                done++;
            } else {
                ck_assert_int_eq(e, SL_ERR_AGAIN);
            }
            check_books();
        }
        ck_assert_uint_eq(done, ND);
        ck_assert_uint_eq(F.r.st.nomem, nomem);
        ck_assert_uint_eq(F.t.failed, nomem);
        if (run < 8)
            ck_assert_uint_gt(nomem, 0);
        bool past_end = at != 0 && nomem == 0; /* call `at` never came */
        F.t.fail_every = 0;
        F.t.fail_at = 0;
        /* Leave some datagrams half-done for fini to free. */
        ck_assert_int_eq(feed(&s[0].f[0]), SL_ERR_AGAIN);
        ck_assert_int_eq(feed(&s[1].f[1]), SL_ERR_AGAIN);
        if (past_end) {
            ck_assert_uint_gt(at, 20); /* the sweep did cover something */
            break;
        }
    }
    for (size_t i = 0; i < ND; i++) {
        fset_free(&s[i]);
        pk_free(&orig[i]);
    }
}
END_TEST

/* A limit on sl_mem itself (below the reassembler's own) also gives NOMEM
 * and leaves the state alone. */
START_TEST(mem_limit_nomem)
{
    pk orig = make_v4(248, 0, 5, 1);
    pk f1 = piece_v4(&orig, 64, 128, true);
    pk f2 = piece_v4(&orig, 128, 192, true);
    ck_assert_int_eq(feed(&f1), SL_ERR_AGAIN);
    F.m.limit = F.m.in_use + 10;
    size_t b = F.r.bytes;
    ck_assert_int_eq(feed(&f2), SL_ERR_NOMEM);
    ck_assert_uint_eq(F.r.bytes, b);
    ck_assert_uint_eq(F.r.st.nomem, 1);
    F.m.limit = 0;
    ck_assert_int_eq(feed(&f2), SL_ERR_AGAIN);
    pk_free(&f1);
    pk_free(&f2);
    pk_free(&orig);
}
END_TEST

static Suite *reasm_suite(void)
{
    Suite *s = suite_create("reasm");
    TCase *t = tcase_create("reassembly");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, v4_orders);
    tcase_add_test(t, v4_largest);
    tcase_add_test(t, v6_orders);
    tcase_add_test(t, v6_largest);
    tcase_add_test(t, scapy_goldens);
    tcase_add_test(t, keys_separate);
    tcase_add_test(t, v4_header_rewrite);
    tcase_add_test(t, empty_fragments);
    tcase_add_test(t, exact_duplicates);
    tcase_add_test(t, overlaps_v4);
    tcase_add_test(t, overlaps_v6);
    tcase_add_test(t, too_big);
    tcase_add_test(t, inconsistent_ends);
    tcase_add_test(t, invalid_args);
    tcase_add_test(t, bad_views);
    tcase_add_test(t, limit_datagrams);
    tcase_add_test(t, limit_frags);
    tcase_add_test(t, limit_bytes);
    tcase_add_test(t, expiry);
    tcase_add_loop_test(t, flood, 0, 2);
    tcase_add_test(t, failing_allocator);
    tcase_add_test(t, mem_limit_nomem);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(reasm_suite());
}
