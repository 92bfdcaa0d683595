/*
 * Classic attacks on TCP/IP stacks, one test per attack class, each
 * asserting what the RFCs require of the stack: what it sends back (exact
 * flags, sequence and acknowledgment numbers, ICMP type/code/pointer) or
 * that it sends nothing, which counter moves, that a legitimate flow next
 * to the attack is unaffected, that memory returns to where it was, and
 * (sanitizers, guard pages) that nothing crashes or reads out of bounds.
 *
 * This suite is the one place a security reviewer reads.  Some behaviour
 * is also covered elsewhere (test_tcp_state.c, test_stack_ip.c,
 * test_reasm.c); it is tested again here on purpose, from the attacker's
 * side.  The historical bug classes the tests stand for:
 *
 *   AMNESIA:33 (2020)  uIP, picoTCP, FNET, Nut/Net: out-of-bounds reads
 *                      and writes from unchecked lengths (TCP options,
 *                      urgent pointer, IPv6 extension headers, fragment
 *                      reassembly, ICMPv6 shorter than its header);
 *   Ripple20 (2020)    Treck: IPv4 tunnelling/fragment length confusion,
 *                      total length vs frame mismatches, ICMP quoting;
 *   URGENT/11 (2019)   VxWorks IPnet: the TCP urgent pointer trusted as an
 *                      index (CVE-2019-12255/12260/12261/12263), plus
 *                      malformed TCP options;
 *   NUMBER:JACK (2021) embedded stacks with predictable ISNs (RFC 6528).
 *
 * Every packet given to sl_input is first copied so that it ends right
 * before a PROT_NONE page (unit_util.h at_guard): a read past the packet
 * faults.  Every packet the stack sends is decoded with the wire parsers,
 * which verify every checksum.  The stacks run on a counting allocator;
 * each test ends with zero bytes live after sl_stack_free.
 *
 * The tests (each for IPv4 and IPv6 unless the attack is one family's):
 *
 *    1 blind_rst_injection    RFC 5961 §3, §7     10 tcp_options_hostile RFC 9293 §3.1, 7323
 *    2 blind_syn_injection    RFC 5961 §4         11 urgent_pointer      RFC 6093
 *    3 blind_data_injection   RFC 5961 §5         12 tcp_data_offset     RFC 9293 §3.1
 *    4 land                   (dropped, counted)  13 ip_length_fields    RFC 791, 8200
 *    5 teardrop_overlap       RFC 5722            14 icmp_forged_seq     RFC 5927
 *    6 ping_of_death          RFC 791, 8200 §4.5  15 icmp_echo_short     RFC 792, 4443
 *    7 tiny_fragments         RFC 1858/7112       16 paws_ts_wrap        RFC 7323 §5
 *    8 ipv6_rh0               RFC 5095, 8200 §4.4 17 seq_wrap_transfer   RFC 9293 §3.4
 *    9 ipv6_ext_chain         docs/wire.md        18 isn_unpredictable   RFC 6528
 *
 * Three of these found bugs when they were written (blind_data_injection,
 * tiny_fragments, paws_ts_wrap: "Fixed" in their comments); LAND made
 * sluice drop self-addressed segments.
 *
 * Addresses: 198.18.0.0/15 and 2001:2::/48 only.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_env.h"

/* ====================================================================== */
/* Fixture: one stack, one peer (the test)                                */
/* ====================================================================== */

/* tcp_env.h's env, with every stack on the counting allocator (each test
 * ends with zero bytes live) and every packet handed to it ending right
 * before a guard page. */
static void env_init_guarded(env *e, int fam)
{
    env_init(e, fam);
    e->counting = true;
    e->guard = true;
}

/* env_init_guarded and env_start, for a test that keeps the defaults. */
static void env_open(env *e, int fam)
{
    env_init_guarded(e, fam);
    env_start(e);
}

/* env_open with one connection established (est_default); returns the
 * memory in use then, which env_close expects back. */
static size_t env_open_est(env *e, int fam)
{
    env_open(e, fam);
    est_default(e);
    return mem_in_use(e);
}

/* The attack left no memory behind (in use as at mem0); env_fini. */
static void env_close(env *e, size_t mem0)
{
    ck_assert_uint_eq(mem_in_use(e), mem0);
    env_fini(e);
}

static long rd(env *e, uint8_t *buf, size_t cap)
{
    return sl_stream_read(e->s, e->h, buf, cap);
}

/* The legitimate flow still works: the peer's data arrives, in order,
 * and the stack's data is acknowledged. */
static void flow_still_works(env *e)
{
    static const uint8_t d[6] = "legit!";
    uint8_t buf[64];
    while (rd(e, buf, sizeof buf) > 0)
        ;
    (void)su_drain_events(e->s);
    psend(e, SL_TCP_ACK | SL_TCP_PSH, d, sizeof d);
    ev_expect(e, SL_EV_READABLE);
    ck_assert_int_eq(rd(e, buf, sizeof buf), (long)sizeof d);
    ck_assert_mem_eq(buf, d, sizeof d);
    at(e, e->now + e->cfg.tcp_delack + TICK);
    tu_seg a = one(e);
    chk(&a, SL_TCP_ACK, e->pack, e->pseq, 0);
    ck_assert_int_eq(state(e), SL_TCP_ESTABLISHED);
}

/* ====================================================================== */
/* Packet builders beyond tu_build                                        */
/* ====================================================================== */

/* An IP packet carrying a TCP header written byte by byte: data offset
 * `doff` (-1: computed from optlen, which must then be a multiple of 4),
 * options bytes as given, urgent pointer, correct TCP and IP checksums. */
static size_t raw_seg(uint8_t *buf, size_t cap, const sl_endpoint *src, const sl_endpoint *dst,
                      uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, uint16_t urg,
                      const uint8_t *opts, size_t optlen, int doff, const void *data, size_t n)
{
    static uint8_t l4[70000];
    size_t len = 20 + optlen + n;
    ck_assert_uint_le(len, sizeof l4);
    if (doff < 0) {
        ck_assert_uint_eq(optlen % 4, 0);
        doff = (int)(5 + optlen / 4);
    }
    ck_assert_int_le(doff, 15);
    memset(l4, 0, 20);
    sl_store16(l4, src->port);
    sl_store16(l4 + 2, dst->port);
    sl_store32(l4 + 4, seq);
    sl_store32(l4 + 8, ack);
    l4[12] = (uint8_t)((unsigned)doff << 4);
    l4[13] = flags;
    sl_store16(l4 + 14, win);
    sl_store16(l4 + 18, urg);
    if (optlen > 0)
        memcpy(l4 + 20, opts, optlen);
    if (n > 0)
        memcpy(l4 + 20 + optlen, data, n);
    uint32_t sum = src->addr.family == 4
                       ? sl_csum_pseudo4(src->addr.b, dst->addr.b, SL_IPPROTO_TCP, (uint16_t)len)
                       : sl_csum_pseudo6(src->addr.b, dst->addr.b, SL_IPPROTO_TCP, (uint32_t)len);
    sl_store16(l4 + 16, sl_csum_finish(sl_csum_partial(l4, len, sum)));
    size_t w = src->addr.family == 4
                   ? su_ip4(buf, cap, src->addr.b, dst->addr.b, SL_IPPROTO_TCP, l4, len, 0x77, 64)
                   : su_ip6(buf, cap, src->addr.b, dst->addr.b, SL_IPPROTO_TCP, l4, len, 64);
    ck_assert_uint_gt(w, 0);
    return w;
}

/* The TCP bytes (header + payload) of a segment, as tu_build writes them. */
static size_t seg_l4(uint8_t *l4, size_t cap, const tu_seg *s)
{
    static uint8_t pkt[70000];
    size_t len = tu_build(pkt, sizeof pkt, s);
    size_t hl = s->src.addr.family == 4 ? 20u : 40u;
    ck_assert_uint_gt(len, hl);
    ck_assert_uint_le(len - hl, cap);
    memcpy(l4, pkt + hl, len - hl);
    return len - hl;
}

/* Recompute the IPv4 header checksum after editing the header. */
static void ip4_fix_csum(uint8_t *p)
{
    size_t hl = (size_t)(p[0] & 0x0f) * 4;
    sl_store16(p + 10, 0);
    sl_store16(p + 10, sl_csum(p, hl));
}

/* An IPv4 packet with every field chosen (fragments, options). */
static size_t ip4x(uint8_t *buf, size_t cap, const sl_addr *src, const sl_addr *dst, uint8_t proto,
                   uint16_t id, bool mf, uint16_t off8, const uint8_t *opts, size_t optlen,
                   const uint8_t *pl, size_t n)
{
    sl_ipv4_hdr h;
    memset(&h, 0, sizeof h);
    h.id = id;
    h.ttl = 64;
    h.proto = proto;
    h.mf = mf;
    h.frag_off = off8;
    memcpy(h.src, src->b, 4);
    memcpy(h.dst, dst->b, 4);
    h.opts = opts;
    h.opts_len = optlen;
    h.payload = pl;
    h.payload_len = n;
    size_t w = 0;
    ck_assert_int_eq(sl_ipv4_emit(&h, buf, cap, &w), SL_OK);
    return w;
}

/* One IPv6 fragment: [IPv6 header][pre: unfragmentable extension headers,
 * the first named by pre_nh, the last naming 44][Fragment header naming
 * nh][data]. */
static size_t frag6(uint8_t *buf, size_t cap, const sl_addr *src, const sl_addr *dst,
                    const uint8_t *pre, size_t prelen, uint8_t pre_nh, uint8_t nh, uint32_t id,
                    size_t off, bool more, const uint8_t *data, size_t n)
{
    static uint8_t pl[70000];
    ck_assert_uint_le(prelen + 8 + n, sizeof pl);
    if (prelen > 0)
        memcpy(pl, pre, prelen);
    uint8_t *f = pl + prelen;
    f[0] = nh;
    f[1] = 0;
    sl_store16(f + 2, (uint16_t)(off | (more ? 1u : 0u)));
    sl_store32(f + 4, id);
    if (n > 0)
        memcpy(f + 8, data, n);
    size_t w = su_ip6(buf, cap, src->b, dst->b, prelen > 0 ? pre_nh : SL_IPPROTO_FRAGMENT, pl,
                      prelen + 8 + n, 64);
    ck_assert_uint_gt(w, 0);
    return w;
}

/* A fragment of `l4` (offset and length in bytes), IPv4 or IPv6. */
static size_t frag_of(uint8_t *buf, size_t cap, const sl_addr *src, const sl_addr *dst,
                      uint8_t proto, uint32_t id, const uint8_t *l4, size_t off, size_t n,
                      bool more)
{
    if (src->family == 4)
        return ip4x(buf, cap, src, dst, proto, (uint16_t)id, more, (uint16_t)(off / 8), NULL, 0,
                    l4 + off, n);
    return frag6(buf, cap, src, dst, NULL, 0, 0, proto, id, off, more, l4 + off, n);
}

/* UDP header + payload with the checksum over (src, dst). */
static size_t udp_l4(uint8_t *buf, size_t cap, const sl_endpoint *src, const sl_endpoint *dst,
                     const void *data, size_t n)
{
    sl_udp_hdr u;
    memset(&u, 0, sizeof u);
    u.sport = src->port;
    u.dport = dst->port;
    u.payload = (const uint8_t *)data;
    u.payload_len = n;
    sl_pseudo ph = {src->addr.family, src->addr.b, dst->addr.b};
    size_t w = 0;
    ck_assert_int_eq(sl_udp_emit(&u, &ph, buf, cap, &w), SL_OK);
    return w;
}

/* A new UDP flow must have been made for exactly this datagram; the
 * handle is read and freed. */
static void expect_udp(env *e, const void *data, size_t n, const sl_endpoint *from,
                       const sl_endpoint *to)
{
    sl_event ev = ev_expect(e, SL_EV_DGRAM_NEW);
    static uint8_t buf[70000];
    sl_endpoint f, t;
    long got = sl_dgram_recv(e->s, ev.dgram, buf, sizeof buf, &f, &t);
    ck_assert_int_eq(got, (long)n);
    if (n > 0)
        ck_assert_mem_eq(buf, data, n);
    ck_assert(su_ep_eq(&f, from));
    ck_assert(su_ep_eq(&t, to));
    (void)su_drain_events(e->s);
    ck_assert_int_eq(sl_dgram_free(e->s, ev.dgram), SL_OK);
}

/* The packet must be dropped by a parser with error `want`: sl_input
 * returns it, ip_drop_parse and the per-error counter move by one,
 * nothing is sent, no event. */
static void expect_parse_drop(env *e, const uint8_t *p, size_t n, sl_error want)
{
    uint64_t dp = cnt(e, SL_CNT_IP_DROP_PARSE), pe = sl_stats_parse_error(e->s, want);
    sl_error r = in(e, p, n);
    ck_assert_msg(r == want, "got %s, want %s", sl_error_name(r), sl_error_name(want));
    ck_assert_uint_eq(cnt(e, SL_CNT_IP_DROP_PARSE), dp + 1);
    ck_assert_uint_eq(sl_stats_parse_error(e->s, want), pe + 1);
    none(e);
    ev_none(e);
}

/* Packet i of the capture is an ICMP/ICMPv6 message of type/code from
 * `src` to `dst` (checksums verified); returns it parsed. */
static su_icmp_pkt expect_icmp(env *e, size_t i, const sl_addr *src, const sl_addr *dst,
                               uint8_t type, uint8_t code)
{
    size_t len = 0;
    const uint8_t *p = cap_pkt(e, i, &len);
    su_icmp_pkt m;
    sl_error r = su_parse_icmp(p, len, &m);
    ck_assert_msg(r == SL_OK, "packet %zu: not a valid ICMP message: %s", i, sl_error_name(r));
    ck_assert_uint_eq(m.icmp.type, type);
    ck_assert_uint_eq(m.icmp.code, code);
    ck_assert(su_addr_eq(&m.ip.src, src));
    ck_assert(su_addr_eq(&m.ip.dst, dst));
    return m;
}

/* ====================================================================== */
/* 1. Blind RST injection                                                 */
/* ====================================================================== */

/* Attack: an off-path attacker sprays RSTs at guessed sequence numbers to
 * kill a connection (Watson 2004, "Slipping in the Window"; CVE-2004-0230).
 * Before RFC 5961 any RST inside the receive window was obeyed, so a
 * 64 KiB window needed only 2^32/2^16 guesses per port.
 * RFC 5961 §3.2: (1) a RST outside the receive window is silently
 * dropped; (2) a RST exactly at RCV.NXT resets the connection; (3) a RST
 * inside the window but not at RCV.NXT draws a challenge ACK
 * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and is dropped.  §7: challenge ACKs
 * are rate-limited (sluice: 100 per second per stack).
 * The window here is exactly 65535 bytes (tcp_rcvbuf 65535, no scaling),
 * so the edges are tested to the byte. */
START_TEST(blind_rst_injection)
{
    env e;
    env_init_guarded(&e, _i == 0 ? 4 : 6);
    e.cfg.tcp_rcvbuf = 65535;
    env_start(&e);
    est_default(&e);
    ck_assert_uint_eq(info(&e).rcv_wscale, 0);
    size_t mem0 = mem_in_use(&e);
    const uint32_t wnd = 65535;

    /* (1) Outside the window, on both sides and at the right edge: silent. */
    const uint32_t outside[] = {e.pseq + wnd, e.pseq + wnd + 1, e.pseq + 200000u,
                                e.pseq - 1,   e.pseq - 100000u, e.pseq + 0x80000000u};
    for (size_t k = 0; k < sizeof outside / sizeof outside[0]; k++) {
        tu_seg s = pseg(&e, SL_TCP_RST, outside[k], 0, NULL, 0);
        inject(&e, &s);
        none(&e);
        s = pseg(&e, SL_TCP_RST | SL_TCP_ACK, outside[k], e.pack, NULL, 0);
        inject(&e, &s);
        none(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_RX), 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ev_none(&e);

    /* (3) Inside the window, not exact (left edge + 1 .. right edge - 1):
     * one challenge ACK each, connection untouched. */
    const uint32_t inside[] = {e.pseq + 1, e.pseq + 10, e.pseq + wnd / 2, e.pseq + wnd - 1};
    uint64_t ch = 0;
    for (size_t k = 0; k < sizeof inside / sizeof inside[0]; k++) {
        for (int withack = 0; withack < 2; withack++) {
            tu_seg s = pseg(&e, withack ? SL_TCP_RST | SL_TCP_ACK : SL_TCP_RST, inside[k], e.pack,
                            NULL, 0);
            inject(&e, &s);
            tu_seg a = one(&e);
            chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
            ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), ++ch);
        }
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_RX), 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_int_eq(info(&e).error, SL_OK);
    ev_none(&e);
    ck_assert_uint_eq(mem_in_use(&e), mem0);

    /* §7: a flood of in-window RSTs gets at most 100 challenge ACKs per
     * second (the attacker cannot use the stack as an ACK reflector). */
    e.now += 2 * SEC;
    ck_assert_uint_eq(rst_flood(&e, 300, 2 * MS), 100); /* 600 ms in all */
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), ch + 100);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(mem_in_use(&e), mem0);

    /* The legitimate flow is unaffected. */
    e.now += 2 * SEC;
    flow_still_works(&e);

    /* (2) Exactly at RCV.NXT: the connection is reset, silently. */
    rst_at_rcv_nxt(&e);
    ck_assert_int_eq(sl_stream_free(e.s, e.h), SL_OK);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 2. Blind SYN injection into an established connection                  */
/* ====================================================================== */

/* Attack: RFC 793 reset a synchronised connection on an in-window SYN, so
 * a blind SYN was as good as a blind RST (same guessing cost).
 * RFC 5961 §4.2: "If the SYN bit is set, irrespective of the sequence
 * number, TCP MUST send an ACK (also referred to as challenge ACK) to the
 * remote peer: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.  After sending the
 * acknowledgment, TCP MUST drop the unacceptable segment and stop
 * processing further."  No new connection, no reset, data carried by the
 * SYN is not delivered. */
START_TEST(blind_syn_injection)
{
    env e;
    size_t mem0 = env_open_est(&e, _i == 0 ? 4 : 6);
    static const uint8_t evil[8] = "INJECTED";

    struct {
        uint8_t flags;
        uint32_t seq;
        bool data;
    } cases[] = {
        {SL_TCP_SYN, e.pseq, false},                    /* at RCV.NXT          */
        {SL_TCP_SYN, e.pseq, true},                     /* ... carrying data   */
        {SL_TCP_SYN, e.pseq + 1000, false},             /* inside the window   */
        {SL_TCP_SYN | SL_TCP_ACK, e.pseq + 7, false},   /* SYN,ACK in window   */
        {SL_TCP_SYN, e.irs, false},                     /* the original SYN    */
        {SL_TCP_SYN, e.pseq + 5000000u, true},          /* far outside         */
        {SL_TCP_SYN | SL_TCP_FIN, e.pseq, false},       /* SYN,FIN             */
        {SL_TCP_SYN | SL_TCP_PSH, e.pseq - 1000, true}, /* below the window    */
    };
    uint64_t acks = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tu_seg s = pseg(&e, cases[k].flags, cases[k].seq, e.pack, cases[k].data ? evil : NULL,
                        cases[k].data ? sizeof evil : 0);
        s.o = syn_opts(1460, 7, true, false);
        inject(&e, &s);
        tu_seg a = one(&e);
        chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
        acks++;
        /* In-window SYNs are challenge ACKs (§4.2); out-of-window ones get
         * the plain ACK for an unacceptable segment — the same bytes. */
        ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK) + cnt(&e, SL_CNT_TCP_DROP_UNACCEPTABLE),
                          acks);
        ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
        ck_assert_uint_eq(info(&e).readable, 0);
        ev_none(&e);
    }
    /* The five acceptable-sequence SYNs were challenged; the three outside
     * the window (the original SYN, far ahead, below) failed the sequence
     * test first. */
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), 5);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_UNACCEPTABLE), 3);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_ACCEPTED), 1); /* no second connection */
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_RX), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_TX), 0);
    ck_assert_int_eq(info(&e).error, SL_OK);
    ck_assert_uint_eq(mem_in_use(&e), mem0); /* no new control block */
    flow_still_works(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 3. Blind data injection                                                */
/* ====================================================================== */

/* The peer's 4-byte data segments (d) at pseq acknowledging each of
 * acks[0..n-1] in turn: each draws exactly <SEQ=una><ACK=pseq><CTL=ACK>
 * and moves counter c by one; the data is not taken. */
static void bad_acks(env *e, uint32_t una, const uint32_t *acks, size_t n, const uint8_t d[4],
                     sl_counter c)
{
    uint64_t before = cnt(e, c);
    for (size_t k = 0; k < n; k++) {
        tu_seg s = pseg(e, SL_TCP_ACK | SL_TCP_PSH, e->pseq, acks[k], d, 4);
        inject(e, &s);
        tu_seg a = one(e);
        chk(&a, SL_TCP_ACK, una, e->pseq, 0);
        ck_assert_uint_eq(cnt(e, c), before + k + 1);
    }
}

/* Attack: an off-path attacker injects data into a stream (a command into
 * a session) by guessing a sequence number inside the receive window; RFC
 * 793 accepted any ACK value up to SND.NXT, so one bit (which half of the
 * sequence space) was all the ACK field cost.
 * RFC 5961 §5.2: data is accepted only if
 *     (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT
 * with MAX.SND.WND "the largest window that the local sender has ever
 * received from its peer"; "All incoming segments whose ACK value doesn't
 * satisfy the above condition MUST be discarded and an ACK sent back."
 * Above SND.NXT that ACK is RFC 9293's (counted as tcp_drop_bad_ack);
 * below SND.UNA - MAX.SND.WND it is a challenge ACK (§7 rate limit).
 * The peer here never offers more than 8192 bytes, so MAX.SND.WND = 8192.
 *
 * Fixed (src/tcp/tcp_in.c process_ack): the lower bound was computed with
 * 65535 << snd_wscale (the largest window the peer *could* offer) instead
 * of MAX.SND.WND: an ACK between SND.UNA - 65535 and SND.UNA - MAX.SND.WND
 * - 1 was accepted and its data delivered (with a peer window scale of 14,
 * a quarter of the ACK space).  The last check below is that case. */
START_TEST(blind_data_injection)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    e.pwin = 8192;
    est_default(&e);
    ck_assert_uint_eq(info(&e).snd_wscale, 0);
    /* Move SND.UNA: 3000 bytes out, all acknowledged. */
    static uint8_t d[3000];
    su_fill(d, sizeof d, 3);
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
    ck_assert_int_eq(wr(&e, d, sizeof d), (long)sizeof d);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 3);
    clear(&e);
    const uint32_t una = e.iss + 1 + 3000; /* SND.UNA = SND.NXT from here */
    pack_to(&e, una);
    none(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    e.pack = una;
    size_t mem0 = mem_in_use(&e);
    const uint32_t max_wnd = 8192;
    static const uint8_t evil[4] = "EVIL";
    uint8_t buf[64];

    /* ACK above SND.NXT: discarded, ACK sent. */
    const uint32_t above[] = {una + 1, una + 65536, una + 0x7fffffffu};
    bad_acks(&e, una, above, 3, evil, SL_CNT_TCP_DROP_BAD_ACK);
    /* ACK far below SND.UNA - MAX.SND.WND: challenge ACK, discarded. */
    uint64_t ch = cnt(&e, SL_CNT_TCP_CHALLENGE_ACK);
    const uint32_t below[] = {una - 100000u, una - 0x7fffffffu, una - 65536};
    bad_acks(&e, una, below, 3, evil, SL_CNT_TCP_CHALLENGE_ACK);
    ck_assert_uint_eq(info(&e).readable, 0);
    ck_assert_int_eq(rd(&e, buf, sizeof buf), SL_ERR_AGAIN);
    ev_none(&e);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(mem_in_use(&e), mem0);

    /* Inside [SND.UNA - MAX.SND.WND, SND.NXT]: old but acceptable ACKs
     * (the peer's reordered segments), data delivered. */
    static const uint8_t ok1[4] = "ok-1", ok2[4] = "ok-2", ok3[4] = "ok-3";
    tu_seg s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, una - max_wnd, ok1, 4);
    inject(&e, &s);
    e.pseq += 4;
    s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, una - 1, ok2, 4);
    inject(&e, &s);
    e.pseq += 4;
    s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, una, ok3, 4);
    inject(&e, &s);
    e.pseq += 4;
    ck_assert_int_eq(rd(&e, buf, sizeof buf), 12);
    ck_assert_mem_eq(buf, "ok-1ok-2ok-3", 12);
    poll_now(&e);
    clear(&e);
    (void)su_drain_events(e.s);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), ch + 3);
    flow_still_works(&e);

    /* One below the edge: SND.UNA - MAX.SND.WND - 1.  RFC 5961 §5.2:
     * discarded, challenge ACK. */
    s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, una - max_wnd - 1, evil, 4);
    inject(&e, &s);
    poll_now(&e);
    ck_assert_msg(info(&e).readable == 0,
                  "data with SEG.ACK = SND.UNA - MAX.SND.WND - 1 delivered (RFC 5961 "
                  "§5.2: MUST be discarded); sluice bounds by 65535 << snd_wscale");
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg a = out(&e, 0);
    chk(&a, SL_TCP_ACK, una, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), ch + 4);
    clear(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 4. LAND                                                                */
/* ====================================================================== */

/* Attack: LAND (1997): a SYN whose source address and port equal its
 * destination address and port.  Stacks answered it with a SYN-ACK to
 * themselves, looped, and either spun on the ACK exchange or locked up
 * (CVE-1999-0016: Windows 95/NT, BSD-derived and embedded stacks).
 * No RFC names LAND.  sluice never talks to itself through its device, so
 * such a segment can only be forged: it is dropped and counted
 * (tcp_drop_land), never answered, whatever its flags (as FreeBSD does);
 * no state, no memory.  The same addresses with different ports are an
 * ordinary connection. */
START_TEST(land)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    size_t mem0 = mem_in_use(&e);
    sl_endpoint self = su_ep(_i == 0 ? "198.18.0.5" : "2001:2::5", 139);
    static const uint8_t flags[] = {SL_TCP_SYN, SL_TCP_SYN | SL_TCP_ACK, SL_TCP_ACK,
                                    SL_TCP_RST, SL_TCP_FIN | SL_TCP_ACK};
    for (int round = 0; round < 1000; round++) {
        tu_seg s = tu_seg_make(&self, &self, 0x1000, 0x2000, flags[round % 5], 8192);
        if (flags[round % 5] == SL_TCP_SYN)
            s.o = syn_opts(1460, -1, false, false);
        inject(&e, &s);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 0);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_LAND), 1000);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_TX), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_TX), 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    ev_none(&e);
    /* Same address, another port: an ordinary passive open. */
    sl_endpoint other = self;
    other.port = 140;
    tu_seg syn = tu_seg_make(&other, &self, 0x1000, 0, SL_TCP_SYN, 8192);
    syn.o = syn_opts(1460, -1, false, false);
    inject(&e, &syn);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    tu_seg sa;
    size_t plen = 0;
    const uint8_t *pk = su_cap_pkt(e.cap, 0, &plen);
    ck_assert_int_eq(tu_parse(pk, plen, &sa), SL_OK);
    chk(&sa, SL_TCP_SYN | SL_TCP_ACK, sa.seq, 0x1001, 0);
    clear(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 5. Teardrop and overlapping fragments                                  */
/* ====================================================================== */

/* Attack: teardrop (1997) and its variants (bonk, boink, newtear,
 * syndrop): a second fragment lying inside, or overlapping the end of, the
 * first made reassembly compute a negative length and copy gigabytes
 * (CVE-1999-0015: Linux 2.0, Windows NT/95).  Overlap handling is also an
 * IDS-evasion tool (RFC 1858 §4, RFC 3128: which copy of the bytes wins).
 * AMNESIA:33's uIP reassembly out-of-bounds write (CVE-2020-17438) and
 * Ripple20's Treck fragment handling are the same family.
 * RFC 5722 §4 (IPv6): "if one or more its constituent fragments is
 * determined to be an overlapping fragment, the entire datagram (and any
 * constituent fragments, including those not yet received) MUST be
 * silently discarded."  sluice applies the same rule to IPv4 (reasm.c).
 * Asserted: each variant drops the whole datagram (exact error code,
 * ip_reasm_drop), silently (no ICMP), frees every held byte at once, and
 * the fragments that arrive afterwards never make a datagram on their own;
 * an exact duplicate is not an overlap; a datagram with another ID from
 * the same source completes normally.
 *
 * Deviation, documented rather than failed: sluice keeps no memory of a
 * discarded datagram, so its fragments that arrive later start a new
 * reassembly (held, bounded, timed out) instead of being discarded on
 * arrival as RFC 5722's "including those not yet received" asks; when the
 * offset-0 fragment is among them, the timeout sends the usual Time
 * Exceeded (rate-limited) about it.  Linux behaves the same way, and
 * test_stack_ip.c reasm_overlap asserts on purpose that a resent complete
 * set is reassembled afresh. */
START_TEST(teardrop_overlap)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    uint8_t fam = (uint8_t)e.fam;
    const sl_addr *src = &e.peer.addr, *dst = &e.local.addr;
    static uint8_t data[200], l4[300], pkt[600];
    su_fill(data, sizeof data, 5);
    size_t n = udp_l4(l4, sizeof l4, &e.peer, &e.local, data, 120); /* 128 bytes */
    ck_assert_uint_eq(n, 128);
    size_t mem0 = mem_in_use(&e);
    size_t len;

    struct {
        size_t off1, len1; /* first fragment (MF) */
        size_t off2, len2; /* the attacking fragment */
        bool more2;
        sl_error want;
    } v[] = {
        /* teardrop: the second lies inside the first and is "last" */
        {0, 32, 24, 4, false, SL_ERR_FRAG_INCONSISTENT},
        /* the second inside the first, more to come */
        {0, 32, 8, 8, true, SL_ERR_FRAG_OVERLAP},
        /* newtear / syndrop: the second overlaps the first's end */
        {0, 32, 16, 24, true, SL_ERR_FRAG_OVERLAP},
        /* bonk/boink: same offset, different bytes */
        {0, 32, 0, 32, true, SL_ERR_FRAG_OVERLAP},
        /* overlap below: a later fragment reaching back into a held one */
        {64, 32, 40, 32, true, SL_ERR_FRAG_OVERLAP},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        uint32_t id = 0x100u + (uint32_t)k;
        uint64_t drops = cnt(&e, SL_CNT_IP_REASM_DROP);
        size_t memk = mem_in_use(&e); /* earlier variants' leftovers are held */
        len =
            frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_UDP, id, l4, v[k].off1, v[k].len1, true);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        ck_assert_uint_gt(mem_in_use(&e), memk);
        /* the attacking fragment carries other bytes than the original */
        static uint8_t alt[300];
        memcpy(alt, l4, n);
        for (size_t i = v[k].off2; i < v[k].off2 + v[k].len2; i++)
            alt[i] ^= 0x5a;
        len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_UDP, id, alt, v[k].off2, v[k].len2,
                      v[k].more2);
        sl_error r = in(&e, pkt, len);
        ck_assert_msg(r == v[k].want, "variant %zu: %s, want %s", k, sl_error_name(r),
                      sl_error_name(v[k].want));
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_DROP), drops + 1);
        ck_assert_uint_eq(mem_in_use(&e), memk); /* everything held is freed */
        none(&e);                                /* silently */
        ev_none(&e);
        /* The rest of the original datagram arrives: held, never complete. */
        for (size_t off = 0; off < n; off += 32) {
            if (off == v[k].off1)
                continue;
            len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_UDP, id, l4, off, 32, off + 32 < n);
            ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        }
        ev_none(&e);
        none(&e);
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 0);
    }
    /* Those leftovers time out and memory comes back.  Only the last
     * variant's leftovers include the offset-0 fragment: one Time
     * Exceeded (fragment reassembly time exceeded) quoting it (see the
     * deviation above); the others go silently. */
    at(&e, e.now + e.cfg.reasm_timeout + SEC);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_RX), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_TIMEOUT), sizeof v / sizeof v[0]);
    ck_assert_uint_eq(nout(&e), 1);
    su_icmp_pkt te = expect_icmp(&e, 0, dst, src, fam == 4 ? 11 : 3, 1);
    su_ip_pkt q;
    ck_assert_int_eq(su_parse_ip(te.icmp.body, te.icmp.body_len, &q), SL_OK);
    if (fam == 4)
        ck_assert_uint_eq(q.ip4.id, 0x100u + sizeof v / sizeof v[0] - 1);
    else
        ck_assert_uint_eq(q.ip6.frag_id, 0x100u + sizeof v / sizeof v[0] - 1);
    ck_assert(q.is_fragment);
    clear(&e);

    /* An exact duplicate is not an overlap: the datagram completes. */
    uint32_t id = 0x999;
    len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_UDP, id, l4, 0, 64, true);
    ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_UDP, id, l4, 64, n - 64, false);
    ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    expect_udp(&e, data, 120, &e.peer, &e.local);
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 1);
    env_close(&e, mem0);
}
END_TEST

/* ====================================================================== */
/* 6. Ping of death                                                       */
/* ====================================================================== */

/* Attack: ping of death (1996): IPv4 fragments whose offset plus length
 * put the reassembled datagram past 65535 bytes, overflowing a 64 KiB
 * reassembly buffer (CVE-1999-0128, nearly every stack of the time;
 * Ripple20's CVE-2020-11896/11898, Treck length-parameter inconsistencies
 * in IPv4 with fragments, are of the same kind; IPv6 has the same limit on
 * its payload length).
 * RFC 791 §3.1: total length is 16 bits, so no datagram exceeds 65535
 * octets including its header.  RFC 8200 §4.5: a fragment whose "Payload
 * Length of the packet reassembled from that fragment would exceed 65,535
 * octets ... must be discarded".  Asserted: a single fragment ending past
 * 65535 is rejected by the parser (IPV4_FRAG / IPV6_FRAG); fragments that
 * each fit but whose reassembly (header included) would not, in either
 * order, make the datagram dropped with FRAG_TOO_BIG (ip_reasm_drop); no
 * echo reply, no delivery, no memory kept. */
START_TEST(ping_of_death)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    const sl_addr *src = &e.peer.addr, *dst = &e.local.addr;
    static uint8_t l4[70000], pkt[3000];
    size_t mem0 = mem_in_use(&e);
    /* An echo request's first 1480 bytes (the body is never complete). */
    sl_icmp_hdr m;
    memset(&m, 0, sizeof m);
    m.type = e.fam == 4 ? 8 : 128;
    m.rest = sl_icmp_rest_echo(0xdead, 1);
    static uint8_t body[1472];
    su_fill(body, sizeof body, 6);
    m.body = body;
    m.body_len = sizeof body;
    size_t w = 0;
    if (e.fam == 4) {
        ck_assert_int_eq(sl_icmp4_emit(&m, l4, sizeof l4, &w), SL_OK);
    } else {
        sl_pseudo ph = {6, src->b, dst->b};
        ck_assert_int_eq(sl_icmp6_emit(&m, &ph, l4, sizeof l4, &w), SL_OK);
    }
    uint8_t proto = e.fam == 4 ? SL_IPPROTO_ICMP : SL_IPPROTO_ICMPV6;
    size_t len;

    /* (a) One fragment ending past 65535: the parser refuses it. */
    len = frag_of(pkt, sizeof pkt, src, dst, proto, 1, l4, 65528, 100, false);
    if (e.fam == 4) {
        expect_parse_drop(&e, pkt, len, SL_ERR_IPV4_FRAG);
    } else {
        /* frag_of wrote offset 65528 with 100 bytes at l4+65528 (zeros) */
        expect_parse_drop(&e, pkt, len, SL_ERR_IPV6_FRAG);
    }

    /* (b) Each fragment fits, the whole does not.  IPv4: 20-byte header +
     * payload ending at 65528 = 65548.  IPv6: payload ending at 65528 is
     * fine alone, but a first fragment with an 8-byte Destination Options
     * header in its unfragmentable part adds 8 to the reassembled payload
     * length: 65536. */
    static const uint8_t pad8[8] = {SL_IPPROTO_FRAGMENT, 0, 1, 4, 0, 0, 0, 0};
    for (int order = 0; order < 2; order++) {
        uint32_t id = 0x40u + (uint32_t)order;
        size_t first, last;
        static uint8_t fp[3000], lp[200];
        if (e.fam == 4) {
            first = ip4x(fp, sizeof fp, src, dst, proto, (uint16_t)id, true, 0, NULL, 0, l4, 1480);
            last = ip4x(lp, sizeof lp, src, dst, proto, (uint16_t)id, false, 65512 / 8, NULL, 0, l4,
                        16);
        } else {
            first = frag6(fp, sizeof fp, src, dst, pad8, 8, SL_IPPROTO_DSTOPTS, proto, id, 0, true,
                          l4, 1480);
            last = frag6(lp, sizeof lp, src, dst, NULL, 0, 0, proto, id, 65512, false, l4, 16);
        }
        uint64_t drops = cnt(&e, SL_CNT_IP_REASM_DROP);
        const uint8_t *a = order == 0 ? fp : lp, *b = order == 0 ? lp : fp;
        size_t al = order == 0 ? first : last, bl = order == 0 ? last : first;
        ck_assert_int_eq(in(&e, a, al), SL_OK);
        sl_error r = in(&e, b, bl);
        ck_assert_msg(r == SL_ERR_FRAG_TOO_BIG, "order %d: %s", order, sl_error_name(r));
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_DROP), drops + 1);
        ck_assert_uint_eq(mem_in_use(&e), mem0);
        none(&e);
        ev_none(&e);
    }
    /* (c) IPv4 with a 60-byte header: the limit moves to 65475 bytes of
     * payload; a last fragment ending at 65480 is too big once the first
     * (with its options) is known. */
    if (e.fam == 4) {
        static uint8_t nops[40];
        memset(nops, 1, sizeof nops);
        uint8_t fp[1600], lp[200];
        size_t first = ip4x(fp, sizeof fp, src, dst, proto, 0x77, true, 0, nops, 40, l4, 1400);
        size_t last = ip4x(lp, sizeof lp, src, dst, proto, 0x77, false, 65472 / 8, NULL, 0, l4, 8);
        ck_assert_int_eq(in(&e, lp, last), SL_OK); /* 65480 <= 65515 alone */
        ck_assert_int_eq(in(&e, fp, first), SL_ERR_FRAG_TOO_BIG);
        ck_assert_uint_eq(mem_in_use(&e), mem0);
        none(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ECHO_REPLIED), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 0);
    /* A legitimate fragmented ping (3 fragments) is still answered. */
    static uint8_t small[2000];
    m.body_len = 1000;
    if (e.fam == 4) {
        ck_assert_int_eq(sl_icmp4_emit(&m, small, sizeof small, &w), SL_OK);
    } else {
        sl_pseudo ph = {6, src->b, dst->b};
        ck_assert_int_eq(sl_icmp6_emit(&m, &ph, small, sizeof small, &w), SL_OK);
    }
    for (size_t off = 0; off < w; off += 400) {
        size_t nn = w - off < 400 ? w - off : 400;
        len = frag_of(pkt, sizeof pkt, src, dst, proto, 0x5150, small, off, nn, off + nn < w);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    }
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    su_icmp_pkt rep = expect_icmp(&e, 0, dst, src, e.fam == 4 ? 0 : 129, 0);
    ck_assert_uint_eq(rep.icmp.body_len, 1000);
    ck_assert_mem_eq(rep.icmp.body, body, 1000);
    clear(&e);
    env_close(&e, mem0);
}
END_TEST

/* ====================================================================== */
/* 7. Tiny fragments                                                      */
/* ====================================================================== */

typedef struct rec_filter {
    unsigned calls;
    sl_flow_info last;
    sl_verdict verdict;
} rec_filter;

static sl_verdict rec_filter_fn(void *ctx, const sl_flow_info *fi)
{
    rec_filter *r = (rec_filter *)ctx;
    r->calls++;
    r->last = *fi;
    return r->verdict;
}

/* Attack: tiny fragments (RFC 1858 §3, RFC 3128): a first fragment too
 * small to hold the TCP flags, so a filter deciding on the first fragment
 * never sees the SYN; and the overlapping variant (RFC 1858 §4, RFC 3128
 * §2): a harmless first fragment, then a fragment at offset 1 (byte 8)
 * that rewrites the flags once reassembled.  Firewalls and embedded
 * stacks that filtered before reassembly were bypassed.  For IPv6 the same
 * trick is a first fragment without the whole header chain, forbidden by
 * RFC 7112 §5 and RFC 8200 §4.5: "If the first fragment does not include
 * all headers through an Upper-Layer header, then that fragment should be
 * discarded and an ICMP Parameter Problem, Code 3, message should be sent
 * to the source of the fragment, with the Pointer field set to zero."
 *
 * sluice is the end host, and RFC 791 obliges a host to reassemble
 * fragments as small as 8 bytes.  Asserted for IPv4: (a) a SYN whose first
 * fragment holds only the ports and sequence number is reassembled first
 * and only then judged: the acceptor's filter is called once, after the
 * last fragment, with the complete header, and its verdict (accept /
 * refuse) is applied exactly as for an unfragmented SYN; (b) the offset-1
 * rewrite overlaps the held fragment and the whole datagram is dropped
 * (RFC 5722's rule, which sluice applies to IPv4): no SYN-ACK, no RST, the
 * filter never called, in either arrival order.
 *
 * IPv6 (fixed in src/stack/stack.c input6; they used to be reassembled):
 * first fragments that stop inside the TCP header, or before it, are
 * discarded (SL_ERR_FRAG_CHAIN) with a Parameter Problem code 3, pointer
 * 0, as RFC 8200 §4.5 / RFC 7112 §5 ask. */
START_TEST(tiny_fragments)
{
    env e;
    env_init_guarded(&e, 4);
    rec_filter rf;
    memset(&rf, 0, sizeof rf);
    rf.verdict = SL_ACCEPT;
    e.cfg.filter = rec_filter_fn;
    e.cfg.filter_ctx = &rf;
    env_start(&e);
    const sl_addr *src = &e.peer.addr, *dst = &e.local.addr;
    static uint8_t l4[200], pkt[400];
    size_t len;

    /* (a) SYN split 8 + 12: ports and sequence number, then the rest. */
    for (int k = 0; k < 2; k++) {
        rf.verdict = k == 0 ? SL_ACCEPT : SL_REFUSE;
        sl_endpoint from = e.peer;
        from.port = (uint16_t)(41000 + k);
        tu_seg syn = tu_seg_make(&from, &e.local, 0x2000u, 0, SL_TCP_SYN, 4096);
        size_t n = seg_l4(l4, sizeof l4, &syn);
        ck_assert_uint_eq(n, 20);
        len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_TCP, 0x300u + (uint32_t)k, l4, 0, 8,
                      true);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        none(&e);
        ck_assert_uint_eq(rf.calls, (unsigned)k); /* not judged on a fragment */
        len = frag_of(pkt, sizeof pkt, src, dst, SL_IPPROTO_TCP, 0x300u + (uint32_t)k, l4, 8, 12,
                      false);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        ck_assert_uint_eq(rf.calls, (unsigned)k + 1);
        ck_assert_uint_eq(rf.last.proto, SL_IPPROTO_TCP);
        ck_assert(su_ep_eq(&rf.last.remote, &from));
        ck_assert(su_ep_eq(&rf.last.local, &e.local));
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 1);
        tu_seg r;
        ck_assert_int_eq(tu_parse(su_cap_pkt(e.cap, 0, NULL), e.cap->pkts[0].len, &r), SL_OK);
        ck_assert(su_ep_eq(&r.dst, &from));
        if (k == 0)
            chk(&r, SL_TCP_SYN | SL_TCP_ACK, r.seq, 0x2001u, 0);
        else
            chk(&r, SL_TCP_RST | SL_TCP_ACK, 0, 0x2001u, 0);
        clear(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 2);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CONN_REFUSED), 1);

    /* (b) Offset-1 rewrite: fragment A = an ACK segment's header + 4 bytes
     * [0, 24); fragment B = bytes [8, 24) of a SYN with the same ports and
     * sequence number (valid checksum if B's bytes won).  Both orders. */
    rf.verdict = SL_ACCEPT;
    sl_endpoint from = e.peer;
    from.port = 41500;
    static uint8_t syn_l4[200];
    tu_seg a = tu_seg_make(&from, &e.local, 0x3000u, 0x1234u, SL_TCP_ACK, 4096);
    a.payload = (const uint8_t *)"abcd";
    a.len = 4;
    tu_seg b = a;
    b.flags = SL_TCP_SYN;
    b.ack = 0;
    ck_assert_uint_eq(seg_l4(l4, sizeof l4, &a), 24);
    ck_assert_uint_eq(seg_l4(syn_l4, sizeof syn_l4, &b), 24);
    unsigned calls = rf.calls;
    size_t held = mem_in_use(&e);
    for (int order = 0; order < 2; order++) {
        static uint8_t fa[200], fb[200];
        uint32_t id = 0x400u + (uint32_t)order;
        size_t la = frag_of(fa, sizeof fa, src, dst, SL_IPPROTO_TCP, id, l4, 0, 24, true);
        size_t lb = frag_of(fb, sizeof fb, src, dst, SL_IPPROTO_TCP, id, syn_l4, 8, 16, false);
        uint64_t drops = cnt(&e, SL_CNT_IP_REASM_DROP);
        ck_assert_int_eq(in(&e, order == 0 ? fa : fb, order == 0 ? la : lb), SL_OK);
        sl_error r = in(&e, order == 0 ? fb : fa, order == 0 ? lb : la);
        ck_assert_msg(r == SL_ERR_FRAG_OVERLAP, "order %d: %s", order, sl_error_name(r));
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_DROP), drops + 1);
        none(&e); /* no SYN-ACK (B won), no RST (A won) */
        ev_none(&e);
        ck_assert_uint_eq(rf.calls, calls);
        ck_assert_uint_eq(mem_in_use(&e), held);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RX), 2);
    env_fini(&e);

    /* IPv6 (RFC 7112 / RFC 8200 §4.5): the first fragment must hold the
     * whole header chain, here up to and including the 20-byte TCP header. */
    env_init_guarded(&e, 6);
    rf.calls = 0;
    rf.verdict = SL_ACCEPT;
    e.cfg.filter = rec_filter_fn;
    e.cfg.filter_ctx = &rf;
    env_start(&e);
    src = &e.peer.addr;
    dst = &e.local.addr;
    char why[512] = "";
    for (int k = 0; k < 2; k++) {
        tu_seg syn = tu_seg_make(&e.peer, &e.local, 0x2000u + (uint32_t)k, 0, SL_TCP_SYN, 4096);
        syn.src.port = (uint16_t)(42000 + k);
        size_t n = seg_l4(l4 + 8, sizeof l4 - 8, &syn);
        ck_assert_uint_eq(n, 20);
        static uint8_t f1[200];
        size_t l1;
        uint32_t id = 0x500u + (uint32_t)k;
        size_t total;
        const uint8_t *frag_data;
        if (k == 0) {
            /* 8 bytes of the TCP header, then the other 12 */
            frag_data = l4 + 8;
            total = 20;
            l1 = frag6(f1, sizeof f1, src, dst, NULL, 0, 0, SL_IPPROTO_TCP, id, 0, true, frag_data,
                       8);
        } else {
            /* a Destination Options header only, then the TCP header */
            l4[0] = SL_IPPROTO_TCP;
            l4[1] = 0;
            l4[2] = 1;
            l4[3] = 4;
            memset(l4 + 4, 0, 4);
            frag_data = l4;
            total = 28;
            l1 = frag6(f1, sizeof f1, src, dst, NULL, 0, 0, SL_IPPROTO_DSTOPTS, id, 0, true,
                       frag_data, 8);
        }
        ck_assert_int_eq(in(&e, f1, l1), SL_ERR_FRAG_CHAIN);
        poll_now(&e);
        bool pp = false;
        if (nout(&e) == 1) {
            su_icmp_pkt m;
            size_t plen = 0;
            const uint8_t *pp_pkt = su_cap_pkt(e.cap, 0, &plen);
            pp = su_parse_icmp(pp_pkt, plen, &m) == SL_OK && m.icmp.type == 4 && m.icmp.code == 3 &&
                 m.icmp.pointer == 0 && su_addr_eq(&m.ip.dst, src);
        }
        clear(&e);
        len = frag6(pkt, sizeof pkt, src, dst, NULL, 0, 0,
                    k == 0 ? SL_IPPROTO_TCP : SL_IPPROTO_DSTOPTS, id, 8, false, frag_data + 8,
                    total - 8);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        poll_now(&e);
        size_t sent = nout(&e);
        clear(&e);
        if (!pp || sent != 0 || rf.calls != 0) {
            char one_case[200];
            snprintf(one_case, sizeof one_case,
                     " [%s: Parameter Problem 4/3 ptr 0 %s; %zu "
                     "packet(s) sent after reassembly, filter called %u time(s)]",
                     k == 0 ? "8 of 20 TCP header bytes" : "Destination Options only",
                     pp ? "sent" : "NOT sent", sent, rf.calls);
            strncat(why, one_case, sizeof why - strlen(why) - 1);
        }
        rf.calls = 0;
    }
    at(&e, e.now + e.cfg.reasm_timeout + SEC);
    clear(&e);
    ck_assert_msg(why[0] == 0,
                  "IPv6 first fragment without the whole header chain accepted "
                  "(RFC 8200 §4.5, RFC 7112 §5):%s",
                  why);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 8. IPv6 Routing Header type 0                                          */
/* ====================================================================== */

/* Attack: RH0 (Biondi & Ebalard, CanSecWest 2007): a Type 0 Routing Header
 * listing the same two addresses many times makes every listed node
 * forward the packet again — traffic amplification between hosts, and
 * source routing around filters.
 * RFC 5095 §3: a node "MUST NOT execute the algorithm ... for RH0" and
 * must treat it as an unrecognised Routing Type: RFC 8200 §4.4 "If
 * Segments Left is non-zero, the node must discard the packet and send an
 * ICMP Parameter Problem, Code 0, message to the packet's Source Address,
 * pointing to the unrecognized Routing Type"; with Segments Left zero the
 * header is ignored and the packet processed.  Asserted: the datagram is
 * not delivered, ip_drop_routing counts it, exactly one packet leaves: the
 * Parameter Problem (4/0) to the source with pointer 42 (40-byte header +
 * 2), nothing ever goes to an address listed in the header; the same after
 * reassembly when RH0 sits in the fragmentable part; Segments Left 0 is
 * delivered; a flood is answered at most icmp_burst times. */
static size_t rh0_udp(uint8_t *pkt, size_t cap, const sl_endpoint *src, const sl_endpoint *dst,
                      uint8_t segs, const char *msg)
{
    uint8_t pl[300];
    /* nh, hdr ext len 4 (40 bytes), type 0, segments left, reserved,
     * then two addresses */
    memset(pl, 0, 40);
    pl[0] = SL_IPPROTO_UDP;
    pl[1] = 4;
    pl[2] = 0;
    pl[3] = segs;
    sl_addr h1 = su_addr("2001:2::dead:1"), h2 = su_addr("2001:2::dead:2");
    memcpy(pl + 8, h1.b, 16);
    memcpy(pl + 24, h2.b, 16);
    size_t n = udp_l4(pl + 40, sizeof pl - 40, src, dst, msg, strlen(msg));
    size_t w = su_ip6(pkt, cap, src->addr.b, dst->addr.b, SL_IPPROTO_ROUTING, pl, 40 + n, 64);
    ck_assert_uint_gt(w, 0);
    return w;
}

START_TEST(ipv6_rh0)
{
    env e;
    env_open(&e, 6);
    sl_endpoint from = e.peer, to = e.local;
    to.port = 53;
    uint8_t pkt[400];
    size_t mem0 = mem_in_use(&e);
    sl_addr h1 = su_addr("2001:2::dead:1"), h2 = su_addr("2001:2::dead:2");

    for (uint8_t segs = 1; segs <= 2; segs++) {
        size_t len = rh0_udp(pkt, sizeof pkt, &from, &to, segs, "rh0");
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_DROP_ROUTING), segs);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 1);
        su_icmp_pkt m = expect_icmp(&e, 0, &to.addr, &from.addr, 4, 0);
        ck_assert_uint_eq(m.icmp.pointer, 42);
        ck_assert(!su_addr_eq(&m.ip.dst, &h1) && !su_addr_eq(&m.ip.dst, &h2));
        ck_assert_uint_eq(m.icmp.body_len, len);
        ck_assert_mem_eq(m.icmp.body, pkt, len);
        clear(&e);
        ev_none(&e);
    }
    /* A SYN behind RH0: no SYN-ACK, no connection. */
    {
        uint8_t pl[300];
        memset(pl, 0, 40);
        pl[0] = SL_IPPROTO_TCP;
        pl[1] = 4;
        pl[3] = 1;
        tu_seg syn = tu_seg_make(&from, &e.local, 1, 0, SL_TCP_SYN, 4096);
        size_t n = seg_l4(pl + 40, sizeof pl - 40, &syn);
        size_t len = su_ip6(pkt, sizeof pkt, from.addr.b, e.local.addr.b, SL_IPPROTO_ROUTING, pl,
                            40 + n, 64);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 1);
        (void)expect_icmp(&e, 0, &e.local.addr, &from.addr, 4, 0);
        clear(&e);
        ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RX), 0);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_RX), 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);

    /* RH0 in the fragmentable part: seen after reassembly, same answer. */
    {
        static uint8_t whole[400], f[400];
        size_t wl = rh0_udp(whole, sizeof whole, &from, &to, 1, "fragmented rh0 payload!");
        const uint8_t *fp = whole + 40; /* routing header + UDP */
        size_t fl = wl - 40;
        size_t l1 = frag6(f, sizeof f, &from.addr, &to.addr, NULL, 0, 0, SL_IPPROTO_ROUTING, 77, 0,
                          true, fp, 48);
        ck_assert_int_eq(in(&e, f, l1), SL_OK);
        size_t l2 = frag6(f, sizeof f, &from.addr, &to.addr, NULL, 0, 0, SL_IPPROTO_ROUTING, 77, 48,
                          false, fp + 48, fl - 48);
        ck_assert_int_eq(in(&e, f, l2), SL_OK);
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 1);
        ck_assert_uint_eq(cnt(&e, SL_CNT_IP_DROP_ROUTING), 4);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 1);
        su_icmp_pkt m = expect_icmp(&e, 0, &to.addr, &from.addr, 4, 0);
        ck_assert_uint_eq(m.icmp.pointer, 42);
        clear(&e);
        ev_none(&e);
        ck_assert_uint_eq(mem_in_use(&e), mem0);
    }

    /* Segments Left 0: the header is ignored, the datagram delivered. */
    size_t len = rh0_udp(pkt, sizeof pkt, &from, &to, 0, "seg0");
    ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    expect_udp(&e, "seg0", 4, &from, &to);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 0);

    /* A flood: one Parameter Problem per token (icmp_burst), no more. */
    uint64_t tx0 = cnt(&e, SL_CNT_ICMP_ERR_TX);
    for (int k = 0; k < 200; k++) {
        len = rh0_udp(pkt, sizeof pkt, &from, &to, 1, "flood");
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    }
    poll_now(&e);
    ck_assert_uint_le(cnt(&e, SL_CNT_ICMP_ERR_TX) - tx0, e.cfg.icmp_burst);
    ck_assert_uint_eq(nout(&e), cnt(&e, SL_CNT_ICMP_ERR_TX) - tx0);
    for (size_t i = 0; i < nout(&e); i++)
        (void)expect_icmp(&e, i, &to.addr, &from.addr, 4, 0);
    ck_assert_uint_ge(cnt(&e, SL_CNT_ICMP_RATE_LIMITED), 150);
    clear(&e);
    ev_none(&e);
    env_close(&e, mem0);
}
END_TEST

/* ====================================================================== */
/* 9. IPv6 extension-header chains beyond the limit                        */
/* ====================================================================== */

/* Attack: long extension-header chains: CPU exhaustion and stack
 * overflows in recursive walkers, and filter evasion by pushing the
 * upper-layer header deep into the packet or into a later fragment
 * (AMNESIA:33, picoTCP: CVE-2020-17442 Hop-by-Hop length wrap-around,
 * CVE-2020-17444 an extension-header length wrapping to zero and looping
 * for ever, CVE-2020-17445 Destination Options length; RFC 7112).
 * RFC 8200 §4.1 lets a receiver meet headers "in any order and occurring
 * any number of times", and sets no limit; sluice walks at most
 * SL_IPV6_MAX_EXT = 8 headers (docs/wire.md): a ninth is
 * SL_ERR_IPV6_EXT_CHAIN, dropped silently and counted.  Asserted: 8
 * headers deliver; 9 and 200 (a 1600-byte chain) are dropped with that
 * error and no output; after reassembly the limit applies to the whole
 * chain (headers before and after the Fragment header: 2 + 7 = 9 drops,
 * 2 + 6 = 8 delivers); memory returns. */
static size_t dst_chain(uint8_t *p, unsigned k, uint8_t last_nh)
{
    for (unsigned i = 0; i < k; i++) {
        uint8_t *q = p + 8 * i;
        q[0] = i + 1 < k ? SL_IPPROTO_DSTOPTS : last_nh;
        q[1] = 0;
        q[2] = 1; /* PadN, 4 bytes */
        q[3] = 4;
        memset(q + 4, 0, 4);
    }
    return 8 * (size_t)k;
}

START_TEST(ipv6_ext_chain)
{
    env e;
    env_open(&e, 6);
    sl_endpoint from = e.peer, to = e.local;
    to.port = 9;
    static uint8_t pl[4000], pkt[4100];
    size_t mem0 = mem_in_use(&e);
    static const unsigned ks[] = {1, 7, 8, 9, 10, 200};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        unsigned k = ks[i];
        size_t c = dst_chain(pl, k, SL_IPPROTO_UDP);
        size_t n = udp_l4(pl + c, sizeof pl - c, &from, &to, "chain", 5);
        size_t len =
            su_ip6(pkt, sizeof pkt, from.addr.b, to.addr.b, SL_IPPROTO_DSTOPTS, pl, c + n, 64);
        ck_assert_uint_gt(len, 0);
        if (k <= SL_IPV6_MAX_EXT) {
            ck_assert_int_eq(in(&e, pkt, len), SL_OK);
            expect_udp(&e, "chain", 5, &from, &to);
            none(&e);
        } else {
            expect_parse_drop(&e, pkt, len, SL_ERR_IPV6_EXT_CHAIN);
        }
    }
    /* Through reassembly: 2 Destination Options headers, the Fragment
     * header (not kept), then 7 (or 6) more, UDP, all in the first
     * fragment (so RFC 7112 is satisfied). */
    for (unsigned after = 6; after <= 7; after++) {
        static uint8_t pre[16], frag[600];
        (void)dst_chain(pre, 2, SL_IPPROTO_FRAGMENT);
        size_t c = dst_chain(frag, after, SL_IPPROTO_UDP);
        static uint8_t data[200];
        su_fill(data, sizeof data, after);
        size_t n = udp_l4(frag + c, sizeof frag - c, &from, &to, data, sizeof data);
        size_t total = c + n;
        uint32_t id = 0x600u + after;
        size_t first = (c + 8 + 7) / 8 * 8; /* chain + UDP header, rounded up */
        size_t l = frag6(pkt, sizeof pkt, &from.addr, &to.addr, pre, 16, SL_IPPROTO_DSTOPTS,
                         SL_IPPROTO_DSTOPTS, id, 0, true, frag, first);
        ck_assert_int_eq(in(&e, pkt, l), SL_OK);
        l = frag6(pkt, sizeof pkt, &from.addr, &to.addr, pre, 16, SL_IPPROTO_DSTOPTS,
                  SL_IPPROTO_DSTOPTS, id, first, false, frag + first, total - first);
        if (2 + after <= SL_IPV6_MAX_EXT) {
            ck_assert_int_eq(in(&e, pkt, l), SL_OK);
            expect_udp(&e, data, sizeof data, &from, &to);
            none(&e);
        } else {
            expect_parse_drop(&e, pkt, l, SL_ERR_IPV6_EXT_CHAIN);
        }
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_IP_REASM_OK), 2);
    env_close(&e, mem0);
}
END_TEST

/* ====================================================================== */
/* 10. Malformed and hostile TCP options                                  */
/* ====================================================================== */

/* Attack: TCP option parsing is where AMNESIA:33 (uIP, picoTCP) and
 * URGENT/11 (IPnet CVE-2019-12258, DoS through malformed TCP options)
 * found out-of-bounds reads, infinite loops (an option of length 0 or 1
 * never advances) and state corruption (window scale shifts beyond 31,
 * MSS 0 dividing or looping, SACK blocks far outside the window driving
 * the scoreboard).
 * RFC 9293 §3.1 MUST-7: "be prepared to handle an illegal option length
 * (e.g., zero)"; sluice drops such a segment (SL_ERR_TCP_OPT_LEN, counted,
 * no reset: a reset would give blind attackers a kill switch).  RFC 9293
 * §3.7.1 / RFC 6691: an MSS of 0 is clamped (sluice: 64 bytes), segments
 * are never empty.  RFC 7323 §2.3: "If a Window Scale option is received
 * with a shift.cnt value larger than 14, the TCP SHOULD log the error but
 * MUST use 14 instead of the specified value."  RFC 2018 / RFC 6675:
 * SACK blocks outside (SND.UNA, SND.MAX] are ignored (docs/tcp.md).
 * Asserted: every malformed option area (length 0, length 1, length past
 * the header, a kind byte as the last header byte with no length byte,
 * on a data segment, a RST and a SYN) is dropped with its parse error and
 * changes nothing; MSS 0 gives 64-byte segments; shift 15 and 255 become
 * 14; bogus SACK blocks leave the scoreboard empty (the retransmission
 * starts at SND.UNA with a full segment, no fast retransmit); no memory
 * growth; the connection carries data afterwards. */
START_TEST(tcp_options_hostile)
{
    env e;
    size_t mem0 = env_open_est(&e, _i == 0 ? 4 : 6);
    static uint8_t pkt[2000];
    static const uint8_t data[8] = "payload!";
    static const struct {
        uint8_t o[8];
        size_t n;
        sl_error want;
    } bad[] = {
        {{8, 0, 1, 1}, 4, SL_ERR_TCP_OPT_LEN},                 /* TS, length 0       */
        {{8, 1, 1, 1}, 4, SL_ERR_TCP_OPT_LEN},                 /* TS, length 1       */
        {{0xfe, 0, 1, 1}, 4, SL_ERR_TCP_OPT_LEN},              /* unknown, length 0  */
        {{1, 1, 0xfe, 1}, 4, SL_ERR_TCP_OPT_LEN},              /* unknown, length 1  */
        {{1, 1, 8, 10}, 4, SL_ERR_TCP_OPT_LEN},                /* TS past the header */
        {{2, 4, 5, 0xb4, 5, 40, 0, 0}, 8, SL_ERR_TCP_OPT_LEN}, /* SACK past end  */
        {{1, 1, 1, 8}, 4, SL_ERR_TCP_OPT_LEN},                 /* kind as last byte  */
        {{1, 1, 1, 0xfe}, 4, SL_ERR_TCP_OPT_LEN},              /* unknown, last byte */
        {{1, 1, 1, 2}, 4, SL_ERR_TCP_OPT_LEN},                 /* MSS, last byte     */
        {{3, 4, 7, 0}, 4, SL_ERR_TCP_OPT_FIXED},               /* WS, length 4       */
        {{2, 3, 5, 1}, 4, SL_ERR_TCP_OPT_FIXED},               /* MSS, length 3      */
        {{5, 6, 0, 0, 0, 0, 1, 1}, 8, SL_ERR_TCP_OPT_FIXED},   /* SACK of 4 bytes  */
    };
    uint64_t rx = cnt(&e, SL_CNT_TCP_RX);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        static const uint8_t fl[3] = {SL_TCP_ACK | SL_TCP_PSH, SL_TCP_RST, SL_TCP_RST | SL_TCP_ACK};
        for (size_t f = 0; f < 3; f++) {
            size_t len =
                raw_seg(pkt, sizeof pkt, &e.peer, &e.local, e.pseq, e.pack, fl[f], e.pwin, 0,
                        bad[k].o, bad[k].n, -1, data, fl[f] == SL_TCP_RST ? 0 : sizeof data);
            expect_parse_drop(&e, pkt, len, bad[k].want);
        }
        /* A SYN to a new port with it: no SYN-ACK, no state. */
        sl_endpoint other = e.peer;
        other.port = (uint16_t)(50000 + k);
        size_t len = raw_seg(pkt, sizeof pkt, &other, &e.local, 77, 0, SL_TCP_SYN, 4096, 0,
                             bad[k].o, bad[k].n, -1, NULL, 0);
        expect_parse_drop(&e, pkt, len, bad[k].want);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RX), rx);
    ck_assert_uint_eq(info(&e).readable, 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    /* Unknown options with a valid length are skipped; EOL ends the area
     * (garbage after it is not parsed). */
    static const uint8_t okopts[12] = {0xfe, 4, 0xaa, 0xbb, 0, 0xff, 0, 0xff, 1, 1, 1, 1};
    size_t len =
        raw_seg(pkt, sizeof pkt, &e.peer, &e.local, e.pseq, e.pack, SL_TCP_ACK | SL_TCP_PSH, e.pwin,
                0, okopts, sizeof okopts, -1, data, sizeof data);
    ck_assert_int_eq(in(&e, pkt, len), SL_OK);
    e.pseq += sizeof data;
    uint8_t buf[64];
    ck_assert_int_eq(rd(&e, buf, sizeof buf), (long)sizeof data);
    ck_assert_mem_eq(buf, data, sizeof data);

    /* SACK blocks outside (SND.UNA, SND.MAX]: ignored. */
    const uint32_t mss = info(&e).mss;
    ck_assert_uint_eq(mss, our_mss(&e));
    static uint8_t d[3 * 1460];
    su_fill(d, sizeof d, 10);
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
    ck_assert_int_eq(wr(&e, d, 3 * mss), 3 * (long)mss);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 3);
    clear(&e);
    uint32_t una = e.iss + 1, max = e.iss + 1 + 3 * mss;
    tu_seg s = pseg(&e, SL_TCP_ACK, e.pseq, una + mss, NULL, 0);
    s.o.n_sack = 4;
    s.o.sack[0].left = una - 5000; /* below SND.UNA */
    s.o.sack[0].right = una - 1000;
    s.o.sack[1].left = max + 1; /* above SND.MAX */
    s.o.sack[1].right = max + 100000;
    s.o.sack[2].left = una + 2 * mss + 10; /* inverted */
    s.o.sack[2].right = una + mss + 10;
    s.o.sack[3].left = una + 2 * mss; /* right edge past SND.MAX */
    s.o.sack[3].right = max + 1;
    inject(&e, &s);
    /* the same blocks twice more, as duplicate ACKs would carry them */
    s.ack = una + mss;
    s.window = (uint16_t)(e.pwin - 1);
    inject(&e, &s);
    s.window = (uint16_t)(e.pwin - 2);
    inject(&e, &s);
    poll_now(&e);
    clear(&e);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_FAST_RETRANSMIT), 0);
    ck_assert_uint_eq(info(&e).unacked, 2 * mss);
    /* The retransmission timeout resends from SND.UNA, a full segment:
     * nothing was marked SACKed. */
    sl_time limit = e.now + 5 * SEC;
    while (nout(&e) == 0 && e.now < limit) {
        sl_time next = sl_poll(e.s, e.now);
        if (nout(&e) > 0)
            break;
        e.now = next > e.now ? next : e.now + 1;
    }
    ck_assert_uint_ge(nout(&e), 1);
    tu_seg r = out(&e, 0);
    chk(&r, SL_TCP_ACK, una + mss, e.pseq, mss);
    ck_assert_mem_eq(r.payload, d + mss, mss);
    clear(&e);
    e.pwin = 65535;
    pack_to(&e, max);
    e.pack = max;
    poll_now(&e);
    clear(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    flow_still_works(&e);
    env_close(&e, mem0);

    /* MSS 0 and window scale above 14 in the SYN. */
    static const struct {
        uint16_t mss;
        int ws;
    } syn[] = {{0, 15}, {1, 255}, {65535, 14}};
    for (size_t k = 0; k < 3; k++) {
        env_open(&e, _i == 0 ? 4 : 6);
        sl_tcp_opts o = syn_opts(1, syn[k].ws, false, false);
        o.mss = syn[k].mss;
        e.pwin = 1; /* scaled by 14: 16384 bytes */
        (void)est_passive(&e, &o);
        sl_stream_info i = info(&e);
        ck_assert_uint_eq(i.snd_wscale, 14);
        uint16_t want_mss = syn[k].mss < 64 ? 64 : our_mss(&e);
        ck_assert_uint_eq(i.mss, want_mss);
        ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
        ck_assert_int_eq(wr(&e, d, 1000), 1000);
        poll_now(&e);
        ck_assert_uint_gt(nout(&e), 0);
        uint32_t next = e.iss + 1;
        for (size_t j = 0; j < nout(&e); j++) {
            tu_seg t = out(&e, j);
            ck_assert_uint_gt(t.len, 0);
            ck_assert_uint_le(t.len, want_mss);
            ck_assert_uint_eq(t.seq, next);
            next += (uint32_t)t.len;
        }
        clear(&e);
        env_fini(&e);
    }
}
END_TEST

/* ====================================================================== */
/* 11. Urgent pointer                                                     */
/* ====================================================================== */

/* Attack: URGENT/11 (CVE-2019-12255/12260/12261/12263): IPnet trusted the
 * urgent pointer as an index into the receive buffer; a pointer beyond
 * the data, or URG with pointer 0 (which IPnet turned into -1, a huge
 * length), overflowed it.  AMNESIA:33's uIP urgent-data handling had the
 * same shape.
 * RFC 6093 §5 advises new applications not to use urgent data; segments
 * carrying it must still be accepted.  sluice never uses the pointer
 * (docs/tcp.md, "RFC 6093. The urgent pointer is parsed and never used:
 * urgent data is delivered inline"), which also means RFC 9293's urgent
 * notification to the application (MUST-31, MUST-32) is not offered: a
 * documented deviation, not tested as a bug.
 * Asserted: URG with the pointer past the data, at 0, inside the data, at
 * 65535, on a pure ACK, and a non-zero pointer without URG, all leave the
 * stream exactly the bytes sent, in order, counted once; sluice never
 * sets URG or a non-zero urgent pointer itself. */
START_TEST(urgent_pointer)
{
    env e;
    size_t mem0 = env_open_est(&e, _i == 0 ? 4 : 6);
    static uint8_t pkt[2000];
    static const struct {
        const char *d;
        uint8_t flags;
        uint16_t urg;
    } segs[] = {
        {"AAAA", SL_TCP_ACK | SL_TCP_URG, 1000},           /* past the data       */
        {"BBBB", SL_TCP_ACK | SL_TCP_URG, 0},              /* pointer 0           */
        {"CCCC", SL_TCP_ACK | SL_TCP_URG | SL_TCP_PSH, 2}, /* inside           */
        {"", SL_TCP_ACK | SL_TCP_URG, 65535},              /* pure ACK, URG       */
        {"DDDD", SL_TCP_ACK | SL_TCP_URG, 65535},          /* maximal             */
        {"EEEE", SL_TCP_ACK, 0xffff},                      /* pointer without URG */
        {"F", SL_TCP_ACK | SL_TCP_URG, 1},                 /* exactly the data    */
    };
    for (size_t k = 0; k < sizeof segs / sizeof segs[0]; k++) {
        size_t n = strlen(segs[k].d);
        size_t len = raw_seg(pkt, sizeof pkt, &e.peer, &e.local, e.pseq, e.pack, segs[k].flags,
                             e.pwin, segs[k].urg, NULL, 0, -1, segs[k].d, n);
        ck_assert_int_eq(in(&e, pkt, len), SL_OK);
        e.pseq += (uint32_t)n;
        poll_now(&e);
        for (size_t j = 0; j < nout(&e); j++) {
            size_t l = 0;
            const uint8_t *p = su_cap_pkt(e.cap, j, &l);
            su_ip_pkt ip;
            ck_assert_int_eq(su_parse_ip(p, l, &ip), SL_OK);
            sl_tcp_hdr h;
            ck_assert_int_eq(sl_tcp_parse(ip.l4, ip.l4_len, NULL, &h), SL_OK);
            ck_assert_uint_eq(h.flags & SL_TCP_URG, 0);
            ck_assert_uint_eq(h.urgent, 0);
        }
        clear(&e);
    }
    static const char want[] = "AAAABBBBCCCCDDDDEEEEF";
    ck_assert_uint_eq(info(&e).readable, sizeof want - 1);
    uint8_t buf[64];
    ck_assert_int_eq(rd(&e, buf, sizeof buf), (long)(sizeof want - 1));
    ck_assert_mem_eq(buf, want, sizeof want - 1);
    ck_assert_int_eq(rd(&e, buf, sizeof buf), SL_ERR_AGAIN);
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    clear(&e);
    /* The receive ring is released once read: no memory kept. */
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    flow_still_works(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 12. TCP data offset                                                    */
/* ====================================================================== */

/* Attack: a data offset below 5 (header shorter than its fixed part) or
 * pointing past the end of the segment: stacks that computed "options
 * length = doff*4 - 20" or "payload = len - doff*4" without checking read
 * before or past the buffer or got a huge unsigned length (AMNESIA:33:
 * picoTCP CVE-2020-24341, TCP lengths not validated, out-of-bounds
 * read).
 * RFC 9293 §3.1: Data Offset is "the number of 32-bit words in the TCP
 * header"; the fixed header is 5 words, so below 5 or past the segment is
 * malformed.  Asserted: doff 0..4 is SL_ERR_TCP_OFFSET, doff*4 past the
 * segment is SL_ERR_TCP_HDR_TRUNC, for a data segment, a RST, a SYN and a
 * segment to no connection: dropped, counted, no RST or ACK sent, the
 * connection unaffected. */
START_TEST(tcp_data_offset)
{
    env e;
    size_t mem0 = env_open_est(&e, _i == 0 ? 4 : 6);
    static uint8_t pkt[2000];
    static const uint8_t data[8] = "12345678";
    sl_endpoint stranger = e.peer;
    stranger.port = 1;
    uint64_t rx = cnt(&e, SL_CNT_TCP_RX);
    for (unsigned doff = 0; doff < 16; doff++) {
        for (int kind = 0; kind < 4; kind++) {
            /* 0: data on the connection; 1: RST at RCV.NXT; 2: SYN to a
             * new port; 3: ACK to no connection (would draw a RST) */
            const sl_endpoint *src = kind >= 2 ? &stranger : &e.peer;
            uint8_t flags = kind == 0   ? (uint8_t)(SL_TCP_ACK | SL_TCP_PSH)
                            : kind == 1 ? (uint8_t)SL_TCP_RST
                            : kind == 2 ? (uint8_t)SL_TCP_SYN
                                        : (uint8_t)SL_TCP_ACK;
            size_t n = kind == 0 ? sizeof data : 0;
            size_t seglen = 20 + n;
            sl_error want;
            if (doff < 5)
                want = SL_ERR_TCP_OFFSET;
            else if ((size_t)doff * 4 > seglen)
                want = SL_ERR_TCP_HDR_TRUNC;
            else
                continue; /* doff 5, and 6..7 over the 8 data bytes: valid */
            size_t len = raw_seg(pkt, sizeof pkt, src, &e.local, e.pseq, e.pack, flags, e.pwin, 0,
                                 NULL, 0, (int)doff, data, n);
            expect_parse_drop(&e, pkt, len, want);
        }
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RX), rx);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_TX), 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_RST_RX), 0);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(info(&e).readable, 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    flow_still_works(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 13. IP length fields against the frame                                 */
/* ====================================================================== */

/* Attack: a length field that disagrees with the frame.  IPv4 total
 * length below the header length, or above the bytes received; IPv6
 * payload length above the frame, or below it with trailing bytes, or
 * cutting into the transport header.  AMNESIA:33's picoTCP
 * CVE-2020-17441 (IPv6 payload length not validated), Ripple20's
 * CVE-2020-11896/11898 (Treck: length inconsistencies in IPv4) and
 * countless "trust the header" over-reads belong here.
 * RFC 791 §3.1: Total Length is "the length of the datagram, measured in
 * octets, including internet header and data"; RFC 8200 §3: Payload
 * Length is "the rest of the packet following this IPv6 header".  A frame
 * may be longer than its datagram (Ethernet pads to 46 bytes, RFC 894):
 * the extra bytes are not data.
 * Asserted: total length < IHL*4 or > the frame, and payload length > the
 * frame, are parse errors (counted, silent); bytes past the stated length
 * are ignored, not delivered (UDP and TCP); a length that cuts into the
 * UDP or TCP header fails that protocol's own checks; the legitimate
 * flow is unaffected. */
START_TEST(ip_length_fields)
{
    env e;
    size_t mem0 = env_open_est(&e, _i == 0 ? 4 : 6);
    static uint8_t pkt[2000];
    sl_endpoint usrc = e.peer, udst = e.local;
    usrc.port = 5353;
    udst.port = 53;
    static const char msg[] = "a datagram";
    const size_t mlen = sizeof msg - 1;
    size_t len = su_udp(pkt, sizeof pkt, &usrc, &udst, msg, mlen, 0x1111);
    ck_assert_uint_gt(len, 0);
    static uint8_t orig[2000];
    memcpy(orig, pkt, len);
    const size_t olen = len;

    if (e.fam == 4) {
        /* total length 0, 19 (< IHL*4 = 20) */
        static const uint16_t small[] = {0, 1, 19};
        for (size_t k = 0; k < 3; k++) {
            memcpy(pkt, orig, olen);
            sl_store16(pkt + 2, small[k]);
            ip4_fix_csum(pkt);
            expect_parse_drop(&e, pkt, olen, SL_ERR_IPV4_TOTAL_LEN);
        }
        /* total length > the frame: by one, and 65535 */
        static const uint16_t big[] = {0, 65535};
        for (size_t k = 0; k < 2; k++) {
            memcpy(pkt, orig, olen);
            sl_store16(pkt + 2, big[k] != 0 ? big[k] : (uint16_t)(olen + 1));
            ip4_fix_csum(pkt);
            expect_parse_drop(&e, pkt, olen, SL_ERR_IPV4_TOTAL_LEN);
        }
        /* the frame shorter than the header's IHL (15 words) */
        memcpy(pkt, orig, olen);
        pkt[0] = 0x4f;
        ip4_fix_csum(pkt);
        expect_parse_drop(&e, pkt, olen, SL_ERR_IPV4_HDR_TRUNC);
        /* total length cutting into the UDP header / data */
        memcpy(pkt, orig, olen);
        sl_store16(pkt + 2, 24);
        ip4_fix_csum(pkt);
        expect_parse_drop(&e, pkt, olen, SL_ERR_TRUNCATED);
        memcpy(pkt, orig, olen);
        sl_store16(pkt + 2, (uint16_t)(olen - 2));
        ip4_fix_csum(pkt);
        expect_parse_drop(&e, pkt, olen, SL_ERR_UDP_LEN);
    } else {
        /* payload length > the frame: by one, and 65535 */
        static const uint16_t big[] = {0, 65535};
        for (size_t k = 0; k < 2; k++) {
            memcpy(pkt, orig, olen);
            sl_store16(pkt + 4, big[k] != 0 ? big[k] : (uint16_t)(olen - 40 + 1));
            expect_parse_drop(&e, pkt, olen, SL_ERR_IPV6_PAYLOAD_LEN);
        }
        /* payload length 0 (next header UDP), 4, and cutting the data */
        static const uint16_t cut[] = {0, 4};
        for (size_t k = 0; k < 2; k++) {
            memcpy(pkt, orig, olen);
            sl_store16(pkt + 4, cut[k]);
            expect_parse_drop(&e, pkt, olen, SL_ERR_TRUNCATED);
        }
        memcpy(pkt, orig, olen);
        sl_store16(pkt + 4, (uint16_t)(olen - 40 - 2));
        expect_parse_drop(&e, pkt, olen, SL_ERR_UDP_LEN);
        /* a frame shorter than the fixed header */
        expect_parse_drop(&e, orig, 39, SL_ERR_TRUNCATED);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_UDP_RX), 0);

    /* Trailing bytes past the stated length: ignored, the datagram is
     * delivered exactly. */
    memcpy(pkt, orig, olen);
    memset(pkt + olen, 0xEE, 37);
    ck_assert_int_eq(in(&e, pkt, olen + 37), SL_OK);
    expect_udp(&e, msg, mlen, &usrc, &udst);

    /* The same for TCP on the connection: 4 data bytes, 9 trailing bytes
     * that must not reach the stream; then a length that cuts the data
     * (the checksum no longer matches) and one that cuts the header. */
    static const uint8_t d[4] = "data";
    tu_seg s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, e.pack, d, 4);
    len = tu_build(pkt, sizeof pkt, &s);
    static uint8_t tcp_orig[2000];
    memcpy(tcp_orig, pkt, len);
    const size_t tlen = len;
    memset(pkt + len, 'X', 9);
    ck_assert_int_eq(in(&e, pkt, len + 9), SL_OK);
    e.pseq += 4;
    uint8_t buf[64];
    ck_assert_int_eq(rd(&e, buf, sizeof buf), 4);
    ck_assert_mem_eq(buf, d, 4);
    ev_expect(&e, SL_EV_READABLE);
    const size_t iphl = e.fam == 4 ? 20 : 40;
    for (int k = 0; k < 2; k++) {
        memcpy(pkt, tcp_orig, tlen);
        size_t keep = k == 0 ? tlen - 2 : iphl + 12; /* cut data / cut header */
        if (e.fam == 4) {
            sl_store16(pkt + 2, (uint16_t)keep);
            ip4_fix_csum(pkt);
        } else {
            sl_store16(pkt + 4, (uint16_t)(keep - 40));
        }
        expect_parse_drop(&e, pkt, tlen, k == 0 ? SL_ERR_TCP_CHECKSUM : SL_ERR_TRUNCATED);
    }
    ck_assert_uint_eq(info(&e).readable, 0);
    poll_now(&e);
    clear(&e);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    flow_still_works(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 14. ICMP errors quoting forged sequence numbers                        */
/* ====================================================================== */

/* Attack: blind ICMP attacks on TCP (RFC 5927, Gont; CVE-2004-0790 blind
 * connection reset, CVE-2004-1060 PMTUD throughput reduction):
 * a forged "fragmentation needed" / "packet too big" shrinks the MSS to
 * the minimum (throughput collapse), a forged hard error resets a
 * connection; the attacker only needs the 4-tuple, since the quoted TCP
 * header is not authenticated.
 * RFC 5927 §4.1: "TCP SHOULD check that the TCP sequence number contained
 * in the payload of the ICMP error message is within the range SND.UNA =<
 * SEG.SEQ < SND.NXT", and §7 (PMTUD) applies it to too-big messages.
 * Asserted: with data in flight, errors quoting SND.UNA - 1, SND.NXT,
 * SND.UNA + 2^31 — too-big with a small MTU, and unreachable — change
 * nothing: MSS, retransmission state, sticky error, events; they are
 * counted as icmp_err_no_flow.  With nothing in flight every quoted
 * sequence number is outside the (empty) range.  A genuine too-big
 * quoting SND.UNA still lowers the MSS (clamped at the minimum MTU: 576 /
 * 1280) and the data is resent at the new size, byte for byte. */
static void icmp_quoting(env *e, uint32_t seq, uint8_t type, uint8_t code, uint32_t rest)
{
    static const uint8_t junk[1000];
    tu_seg q = tu_seg_make(&e->local, &e->peer, seq, e->pseq, SL_TCP_ACK, 8192);
    q.payload = junk;
    q.len = sizeof junk;
    static uint8_t orig[1200], pkt[1400];
    size_t olen = tu_build(orig, sizeof orig, &q);
    sl_addr router = su_addr(e->fam == 4 ? "198.18.99.1" : "2001:2::99:1");
    size_t n = tu_icmp_err(pkt, sizeof pkt, &router, orig, olen, e->fam == 4 ? 28u : 48u, type,
                           code, rest);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(in(e, pkt, n), SL_OK);
}

START_TEST(icmp_forged_seq)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    sl_tcp_opts o = syn_opts(1460, 0, false, false);
    (void)est_passive(&e, &o);
    const uint16_t mss = our_mss(&e);
    ck_assert_uint_eq(info(&e).mss, mss);
    const uint8_t tb_type = e.fam == 4 ? 3 : 2, tb_code = e.fam == 4 ? 4 : 0;
    const uint8_t un_type = e.fam == 4 ? 3 : 1, un_code = e.fam == 4 ? 1 : 3;
    const uint32_t small_mtu = e.fam == 4 ? 576 : 1280;

    /* Nothing in flight: [SND.UNA, SND.NXT) is empty. */
    uint64_t nf = cnt(&e, SL_CNT_ICMP_ERR_NO_FLOW);
    icmp_quoting(&e, e.iss + 1, tb_type, tb_code, small_mtu);
    icmp_quoting(&e, e.iss, un_type, un_code, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_NO_FLOW), nf + 2);
    ck_assert_uint_eq(info(&e).mss, mss);
    none(&e);

    /* Two full segments in flight. */
    static uint8_t d[2 * 1460];
    su_fill(d, sizeof d, 14);
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
    ck_assert_int_eq(wr(&e, d, 2u * mss), 2 * (long)mss);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 2);
    clear(&e);
    const uint32_t una = e.iss + 1, nxt = e.iss + 1 + 2u * mss;
    size_t mem0 = mem_in_use(&e);
    sl_stream_info before = info(&e);

    const uint32_t forged[] = {una - 1, nxt, nxt + 1, una + 0x80000000u, una - 100000u};
    for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
        icmp_quoting(&e, forged[k], tb_type, tb_code, small_mtu);
        icmp_quoting(&e, forged[k], tb_type, tb_code, 68); /* below any minimum */
        icmp_quoting(&e, forged[k], un_type, un_code, 0);
        icmp_quoting(&e, forged[k], e.fam == 4 ? 3 : 1, e.fam == 4 ? 3 : 4, 0); /* port */
        none(&e);
        ev_none(&e);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_NO_FLOW), nf + 2 + 20);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_DELIVERED), 0);
    sl_stream_info after = info(&e);
    ck_assert_uint_eq(after.mss, before.mss);
    ck_assert_int_eq(after.error, SL_OK);
    ck_assert_int_eq(after.state, SL_TCP_ESTABLISHED);
    ck_assert_uint_eq(after.unacked, before.unacked);
    ck_assert_uint_eq(after.cwnd, before.cwnd);
    ck_assert_uint_eq(after.retransmits, 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);

    /* A genuine too-big (quoting SND.UNA) with an MTU below the minimum:
     * MSS = minimum MTU - 40 / 60, data resent at that size. */
    icmp_quoting(&e, una, tb_type, tb_code, 68);
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ERR_DELIVERED), 1);
    const uint16_t want = (uint16_t)(small_mtu - (e.fam == 4 ? 40u : 60u));
    ck_assert_uint_eq(info(&e).mss, want);
    resent_at_mss(&e, una, d, want, small_mtu);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 15. ICMP / ICMPv6 echo request shorter than its header                 */
/* ====================================================================== */

/* Attack: an ICMP message shorter than the 8-byte header its type implies:
 * stacks that read the identifier/sequence (or built the reply) without a
 * length check read past the packet (AMNESIA:33: picoTCP CVE-2020-17443,
 * ICMPv6 echo request size not validated, integer wrap and memory
 * corruption while building the reply; Ripple20's CVE-2020-11898, Treck
 * ICMPv4 length inconsistency).
 * RFC 4443 §2.1 / RFC 792: the ICMP header is type, code, checksum and
 * 4 bytes of message body (the echo identifier and sequence number,
 * RFC 4443 §4.1).  Asserted: ICMPv6 and ICMPv4 messages of 0..7 bytes,
 * echo requests included, are SL_ERR_TRUNCATED (icmp_rx counted, the
 * packet ends at a guard page), draw no reply; 8 bytes is a valid empty
 * echo and is answered. */
START_TEST(icmp_echo_short)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    const sl_addr *src = &e.peer.addr, *dst = &e.local.addr;
    size_t mem0 = mem_in_use(&e);
    uint8_t full[200], pkt[200];
    size_t fl = su_icmp_echo(full, sizeof full, src, dst, 0x1234, 7, NULL, 0);
    ck_assert_uint_gt(fl, 0);
    const size_t iphl = e.fam == 4 ? 20 : 40;
    ck_assert_uint_eq(fl, iphl + 8);
    for (size_t n = 0; n < 8; n++) {
        /* The echo request's first n bytes as the whole ICMP message (with
         * the checksum the first 4 bytes would need for n >= 4 it would
         * still be short). */
        size_t len;
        if (e.fam == 4) {
            len = ip4x(pkt, sizeof pkt, src, dst, SL_IPPROTO_ICMP, 9, false, 0, NULL, 0,
                       full + iphl, n);
        } else {
            len = su_ip6(pkt, sizeof pkt, src->b, dst->b, SL_IPPROTO_ICMPV6, full + iphl, n, 64);
        }
        uint64_t rx = cnt(&e, SL_CNT_ICMP_RX);
        expect_parse_drop(&e, pkt, len, SL_ERR_TRUNCATED);
        ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_RX), rx + 1);
    }
    ck_assert_uint_eq(cnt(&e, SL_CNT_ICMP_ECHO_REPLIED), 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    /* 8 bytes: a complete echo request without data, answered. */
    ck_assert_int_eq(in(&e, full, fl), SL_OK);
    poll_now(&e);
    ck_assert_uint_eq(nout(&e), 1);
    su_icmp_pkt m = expect_icmp(&e, 0, dst, src, e.fam == 4 ? 0 : 129, 0);
    ck_assert_uint_eq(m.icmp.echo_id, 0x1234);
    ck_assert_uint_eq(m.icmp.echo_seq, 7);
    ck_assert_uint_eq(m.icmp.body_len, 0);
    clear(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 16. Timestamps: PAWS and TSval wrap                                    */
/* ====================================================================== */

/* Attack: with fast links the 32-bit sequence space wraps within a
 * segment's lifetime, so an old duplicate (or a replayed/forged segment
 * with an old timestamp) can land inside the window; PAWS rejects it by
 * its timestamp.  The timestamp itself wraps at 2^32, and a stack that
 * compares TSvals as plain integers rejects every segment after its
 * peer's clock wraps (a denial of service), or accepts stale ones.
 * RFC 7323 §5.3 R1: "If there is a Timestamps option in the arriving
 * segment, SEG.TSval < TS.Recent, TS.Recent is valid ..., and the RST bit
 * is not set, then treat the arriving segment as not acceptable: Send an
 * acknowledgment in reply ... and drop the segment."  Comparisons are
 * modulo 2^32 (§5.2 "...< using 32-bit modular arithmetic" / §5.3).
 * §5.5: TS.Recent older than 24 days is invalid, the segment is accepted
 * and TS.Recent takes its TSval.  Asserted: TSval moving across the wrap
 * (0xfffffff0 -> 0x10) is newer and accepted; a TSval just before it
 * afterwards (0xfffffff8), or 2^31 + 1 ahead, is old: one ACK (TSecr
 * 0x10), tcp_drop_paws, no data; RSTs are exempt (an in-window one draws
 * the RFC 5961 challenge ACK, an exact one resets); after 25 days idle a
 * TSval that compares as older is accepted.
 *
 * Fixed (the last check): after that 24-day exception TS.Recent takes the
 * new TSval (it used to keep the stale value). */
START_TEST(paws_ts_wrap)
{
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    e.tsval = 0xffffff00u;
    sl_tcp_opts o = syn_opts(1460, 0, true, true);
    tu_seg sa = est_passive(&e, &o);
    ck_assert(sa.o.has_ts);
    ck_assert_uint_eq(sa.o.ts_ecr, 0xffffff00u);
    ck_assert(info(&e).timestamps);
    uint8_t buf[64];

    e.tsval = 0xfffffff0u;
    psend(&e, SL_TCP_ACK, "aaaa", 4);
    e.tsval = 0x00000010u; /* wrapped: newer */
    psend(&e, SL_TCP_ACK, "bbbb", 4);
    ck_assert_uint_eq(info(&e).readable, 8);
    tu_seg a = one(&e); /* every second segment is ACKed at once */
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert(a.o.has_ts);
    ck_assert_uint_eq(a.o.ts_ecr, 0x10u);

    /* An old TSval (0xfffffff8 < 0x10 modulo 2^32) at the right sequence
     * number: PAWS drops it and ACKs. */
    uint64_t paws = cnt(&e, SL_CNT_TCP_DROP_PAWS);
    e.tsval = 0xfffffff8u;
    tu_seg s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, e.pack, "cccc", 4);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(a.o.ts_ecr, 0x10u);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_PAWS), paws + 1);
    ck_assert_uint_eq(info(&e).readable, 8);
    /* Half the space ahead is "older" too (0x10 + 2^31 + 1). */
    e.tsval = 0x80000011u;
    s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, e.pack, "cccc", 4);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_PAWS), paws + 2);
    ck_assert_int_eq(rd(&e, buf, sizeof buf), 8);
    ck_assert_mem_eq(buf, "aaaabbbb", 8);

    /* R1 exempts RST: an in-window RST with an old TSval is not dropped by
     * PAWS but reaches the RFC 5961 check (challenge ACK, not tcp_drop_paws). */
    uint64_t ch = cnt(&e, SL_CNT_TCP_CHALLENGE_ACK);
    e.tsval = 0xfffffff8u;
    s = pseg(&e, SL_TCP_RST, e.pseq + 100, 0, NULL, 0);
    inject(&e, &s);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_CHALLENGE_ACK), ch + 1);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_PAWS), paws + 2);

    /* 25 days idle (§5.5): the peer's 1 ms clock has moved 2.16e9 ticks,
     * past half the space, so its TSval now compares as older than
     * TS.Recent.  TS.Recent is invalid after 24 days: the segment is
     * accepted "and rule R3 updates TS.Recent with the TSval from the new
     * segment" (§5.5; Appendix D: "save SEG.TSval in variable
     * TS.Recent"). */
    at(&e, e.now + (sl_time)25 * 24 * 3600 * SEC);
    clear(&e);
    ck_assert_int_eq(state(&e), SL_TCP_ESTABLISHED);
    const uint32_t later = 0x10u + 2160000000u; /* 0x80befc10 */
    e.tsval = later;
    psend(&e, SL_TCP_ACK | SL_TCP_PSH, "dddd", 4);
    ck_assert_uint_eq(cnt(&e, SL_CNT_TCP_DROP_PAWS), paws + 2);
    ck_assert_int_eq(rd(&e, buf, sizeof buf), 4);
    ck_assert_mem_eq(buf, "dddd", 4);
    at(&e, e.now + e.cfg.tcp_delack + TICK);
    a = one(&e);
    chk(&a, SL_TCP_ACK, e.iss + 1, e.pseq, 0);
    uint32_t echoed = a.o.ts_ecr;
    /* A segment older than that new TS.Recent must now fail PAWS again. */
    e.tsval = later - 1000;
    s = pseg(&e, SL_TCP_ACK | SL_TCP_PSH, e.pseq, e.pack, "eeee", 4);
    inject(&e, &s);
    poll_now(&e);
    clear(&e);
    uint64_t paws_after = cnt(&e, SL_CNT_TCP_DROP_PAWS) - (paws + 2);
    uint32_t readable = info(&e).readable;

    /* An exact RST with an old TSval resets (R1: "the RST bit is not set"). */
    e.tsval = 0x10000000u;
    tu_seg rst = pseg(&e, SL_TCP_RST, e.pseq + (readable == 4 ? 4u : 0u), 0, NULL, 0);
    inject(&e, &rst);
    none(&e);
    ev_find(&e, SL_EV_RESET);
    ck_assert_int_eq(state(&e), SL_TCP_CLOSED);

    /* Was a bug (src/tcp/tcp_in.c in_synchronised): after the 24-day exception
     * TS.Recent is not updated (the R3 update runs only when SEG.TSval >=
     * TS.Recent), so the stack keeps echoing the 25-day-old TSval (the
     * peer's RTT measurement from TSecr sees 25 days) and, since
     * ts_recent_at is not refreshed either, PAWS stays off: the older
     * segment above is accepted. */
    ck_assert_msg(echoed == later && paws_after == 1 && readable == 0,
                  "after a 24-day idle period TS.Recent is not updated (RFC 7323 §5.5, "
                  "Appendix D): TSecr echoed 0x%08x instead of 0x%08x; a later segment with an "
                  "older TSval was %s",
                  echoed, later, paws_after == 1 ? "dropped" : "accepted (PAWS off)");
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 17. Sequence numbers wrapping 2^32 mid-transfer                        */
/* ====================================================================== */

/* Attack/robustness: code that compares sequence numbers as plain
 * integers, or computes lengths as right - left without modular care,
 * corrupts or drops data when a connection crosses 2^32 (a peer can
 * force it by choosing its ISN; the classic result is stuck connections
 * or out-of-bounds copies into the receive buffer).
 * RFC 9293 §3.4: "all arithmetic dealing with sequence numbers must be
 * performed modulo 2**32".  Asserted, both directions in one connection:
 * the peer's data starts 2048 bytes before the wrap, the stack's ISN is
 * made to sit 4096 bytes before it (its ISN is a function of the secret,
 * the tuple and the clock, RFC 6528, so a stack started at the right time
 * lands there), 20000 bytes cross the wrap each way, in order, byte for
 * byte, with every segment at the expected sequence number. */
START_TEST(seq_wrap_transfer)
{
    /* Learn F(tuple) from one stack: ISS = now/4 + F. */
    env e;
    env_open(&e, _i == 0 ? 4 : 6);
    sl_tcp_opts o = syn_opts(1460, 7, true, false);
    tu_seg sa = send_syn(&e, &o);
    uint32_t f = sa.seq - (uint32_t)(e.now / 4u);
    env_fini(&e);

    const uint32_t target = 0xfffff000u;
    env_init_guarded(&e, _i == 0 ? 4 : 6);
    e.now = ((sl_time)1 << 34) + (sl_time)4 * (uint32_t)(target - f);
    e.irs = 0xfffff800u;
    env_start(&e);
    (void)est_passive(&e, &o);
    ck_assert_uint_eq(e.iss, target);
    size_t mem0 = mem_in_use(&e);

    static uint8_t in_d[20000], out_d[20000], got[20000];
    su_fill(in_d, sizeof in_d, 170);
    su_fill(out_d, sizeof out_d, 171);
    /* Peer -> stack: 20 segments of 1000 bytes; 0xfffff801 + 2048 wraps. */
    for (size_t off = 0; off < sizeof in_d; off += 1000) {
        psend(&e, SL_TCP_ACK, in_d + off, 1000);
        poll_now(&e);
        clear(&e);
    }
    ck_assert_uint_eq((uint32_t)(e.pseq - (e.irs + 1)), 20000);
    ck_assert(e.pseq < e.irs); /* wrapped */
    size_t have = 0;
    long r;
    while ((r = rd(&e, got + have, sizeof got - have)) > 0)
        have += (size_t)r;
    ck_assert_uint_eq(have, sizeof in_d);
    ck_assert_mem_eq(got, in_d, sizeof in_d);

    /* Stack -> peer. */
    ck_assert_int_eq(sl_stream_set_nodelay(e.s, e.h, true), SL_OK);
    ck_assert_int_eq(wr(&e, out_d, sizeof out_d), (long)sizeof out_d);
    uint32_t next = e.iss + 1;
    size_t recvd = 0;
    bool wrapped = false;
    for (int round = 0; round < 200 && recvd < sizeof out_d; round++) {
        poll_now(&e);
        ck_assert_uint_gt(nout(&e), 0);
        for (size_t j = 0; j < nout(&e); j++) {
            tu_seg s = out(&e, j);
            if (s.len == 0)
                continue;
            ck_assert_msg(s.seq == next, "seq %u, expected %u", s.seq, next);
            ck_assert_uint_le(recvd + s.len, sizeof out_d);
            ck_assert_mem_eq(s.payload, out_d + recvd, s.len);
            if (next + (uint32_t)s.len < next)
                wrapped = true;
            next += (uint32_t)s.len;
            recvd += s.len;
        }
        clear(&e);
        e.pack = next;
        pack_to(&e, next);
        e.now += 10 * MS;
    }
    ck_assert_uint_eq(recvd, sizeof out_d);
    ck_assert(wrapped);
    poll_now(&e);
    clear(&e);
    ck_assert_uint_eq(info(&e).unacked, 0);
    ck_assert_uint_eq(info(&e).retransmits, 0);
    ck_assert_uint_eq(mem_in_use(&e), mem0);
    flow_still_works(&e);
    env_fini(&e);
}
END_TEST

/* ====================================================================== */
/* 18. Initial sequence numbers                                           */
/* ====================================================================== */

/* Attack: predictable ISNs (Morris 1985, Mitnick 1994; NUMBER:JACK 2021
 * found ISNs from counters, plain clocks or weak PRNGs in uIP, FNET,
 * Nut/Net, picoTCP, CycloneTCP...) let an off-path attacker complete a
 * handshake with a spoofed source and inject data, or hit any connection's
 * window at the first try.
 * RFC 6528 §3: "ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey)" with M a 4 µs timer and F a keyed PRF.  Asserted, at one
 * instant (so M is the same): SYN-ACKs to 64 successive peer ports and to
 * 64 successive peer addresses have 64 distinct ISNs whose successive
 * differences are neither constant nor small (at most one in 64 below
 * 2^20 in absolute value, expected 0.03); the stack's own active opens
 * (successive ephemeral ports, RFC 6056) likewise; two stacks with
 * different secrets give different ISNs for the same tuple at the same
 * time; the same secret at the same time gives the same ISN and the same
 * SYN-ACK bytes (determinism); and 4000 µs later the same tuple's ISN is
 * exactly 1000 higher (the M clock of RFC 6528 / RFC 9293 §3.4.1). */
static void isn_spread(const uint32_t *isn, size_t n, const char *what)
{
    size_t small = 0, same_diff = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_msg(isn[i] != isn[j], "%s: ISN %zu == ISN %zu", what, i, j);
    for (size_t i = 1; i < n; i++) {
        int32_t d = (int32_t)(isn[i] - isn[i - 1]);
        if (d > -(1 << 20) && d < (1 << 20))
            small++;
        if (i > 1 && isn[i] - isn[i - 1] == isn[i - 1] - isn[i - 2])
            same_diff++;
    }
    ck_assert_msg(small <= 1, "%s: %zu of %zu differences below 2^20", what, small, n - 1);
    ck_assert_msg(same_diff == 0, "%s: %zu equal successive differences", what, same_diff);
    /* Every bit position takes both values. */
    uint32_t ones = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) {
        ones |= isn[i];
        zeros |= ~isn[i];
    }
    ck_assert_msg(ones == 0xffffffffu && zeros == 0xffffffffu, "%s: stuck bits", what);
}

/* The ISN of the SYN-ACK answering a SYN from `from` (capture cleared);
 * copies the SYN-ACK's bytes to raw when given. */
static uint32_t synack_isn(env *e, const sl_endpoint *from, uint8_t *raw, size_t *rawlen)
{
    tu_seg syn = tu_seg_make(from, &e->local, 0x5000u, 0, SL_TCP_SYN, 8192);
    syn.o = syn_opts(1460, 7, true, true);
    syn.o.ts_val = 1;
    inject(e, &syn);
    poll_now(e);
    ck_assert_uint_eq(nout(e), 1);
    tu_seg r = cap_seg(e, 0);
    ck_assert(su_ep_eq(&r.dst, from));
    chk(&r, SL_TCP_SYN | SL_TCP_ACK, r.seq, 0x5001u, 0);
    if (raw != NULL) {
        size_t len = 0;
        const uint8_t *p = su_cap_pkt(e->cap, 0, &len);
        memcpy(raw, p, len);
        *rawlen = len;
    }
    clear(e);
    return r.seq;
}

START_TEST(isn_unpredictable)
{
    int fam = _i == 0 ? 4 : 6;
    env e;
    uint32_t isn[64];
    char a[64];

    /* Successive peer ports, one instant. */
    env_open(&e, fam);
    for (size_t i = 0; i < 64; i++) {
        sl_endpoint from = e.peer;
        from.port = (uint16_t)(40000 + i);
        isn[i] = synack_isn(&e, &from, NULL, NULL);
    }
    isn_spread(isn, 64, "successive peer ports");
    /* Successive peer addresses. */
    for (size_t i = 0; i < 64; i++) {
        snprintf(a, sizeof a, fam == 4 ? "198.18.8.%zu" : "2001:2::8:%zx", i + 1);
        sl_endpoint from = su_ep(a, 40000);
        isn[i] = synack_isn(&e, &from, NULL, NULL);
    }
    isn_spread(isn, 64, "successive peer addresses");
    /* Active opens: successive ephemeral ports. */
    for (size_t i = 0; i < 64; i++) {
        sl_endpoint l = e.local;
        l.port = 0;
        sl_stream h;
        ck_assert_int_eq(sl_stream_connect(e.s, &l, &e.peer, NULL, &h), SL_OK);
        poll_now(&e);
        ck_assert_uint_eq(nout(&e), 1);
        tu_seg s;
        ck_assert_int_eq(tu_parse(su_cap_pkt(e.cap, 0, NULL), e.cap->pkts[0].len, &s), SL_OK);
        ck_assert_uint_eq(s.flags, SL_TCP_SYN);
        isn[i] = s.seq;
        clear(&e);
    }
    isn_spread(isn, 64, "active opens");
    env_fini(&e);

    /* One tuple: secret A vs secret B at the same instant; secret A twice
     * (byte-identical SYN-ACK); secret A 4000 µs later. */
    static uint8_t raw1[200], raw2[200];
    size_t l1 = 0, l2 = 0;
    env_open(&e, fam);
    uint32_t a1 = synack_isn(&e, &e.peer, raw1, &l1);
    env_fini(&e);
    env_open(&e, fam);
    uint32_t a2 = synack_isn(&e, &e.peer, raw2, &l2);
    env_fini(&e);
    ck_assert_uint_eq(a1, a2);
    ck_assert_uint_eq(l1, l2);
    ck_assert_mem_eq(raw1, raw2, l1);
    env_init_guarded(&e, fam);
    e.cfg.secret = su_secret_b;
    e.cfg.secret_len = sizeof su_secret_b;
    env_start(&e);
    uint32_t b1 = synack_isn(&e, &e.peer, NULL, NULL);
    env_fini(&e);
    ck_assert_uint_ne(a1, b1);
    int32_t d = (int32_t)(a1 - b1);
    ck_assert_msg(d <= -(1 << 20) || d >= (1 << 20), "secrets A and B: ISNs %u apart", a1 - b1);
    env_init_guarded(&e, fam);
    e.now += 4000;
    env_start(&e);
    uint32_t a3 = synack_isn(&e, &e.peer, NULL, NULL);
    env_fini(&e);
    ck_assert_uint_eq(a3 - a1, 1000);
}
END_TEST

/* ====================================================================== */

/* A test and how many times it runs: 1, or 2 for IPv4 (_i 0) and IPv6
 * (_i 1). */
typedef struct att_test {
    const TTest *t;
    int runs;
} att_test;

/* Test case `name` of s (60 s timeout): the n tests of t, in order. */
static void add_tcase(Suite *s, const char *name, const att_test *t, size_t n)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    for (size_t k = 0; k < n; k++)
        tcase_add_loop_test(tc, t[k].t, 0, t[k].runs);
    suite_add_tcase(s, tc);
}

#define ADD_TCASE(s, name, tests)                                                                  \
    add_tcase((s), (name), (tests), sizeof(tests) / sizeof((tests)[0]))

static Suite *attacks_suite(void)
{
    Suite *s = suite_create("attacks");
    const att_test tcp_blind[] = {
        {blind_rst_injection, 2},
        {blind_syn_injection, 2},
        {blind_data_injection, 2},
        {land, 2},
    };
    const att_test fragments[] = {
        {teardrop_overlap, 2},
        {ping_of_death, 2},
        {tiny_fragments, 1},
    };
    const att_test ipv6_headers[] = {
        {ipv6_rh0, 1},
        {ipv6_ext_chain, 1},
    };
    const att_test malformed[] = {
        {tcp_options_hostile, 2}, {urgent_pointer, 2},  {tcp_data_offset, 2},
        {ip_length_fields, 2},    {icmp_forged_seq, 2}, {icmp_echo_short, 2},
    };
    const att_test sequence_space[] = {
        {paws_ts_wrap, 2},
        {seq_wrap_transfer, 2},
        {isn_unpredictable, 2},
    };
    ADD_TCASE(s, "tcp_blind", tcp_blind);
    ADD_TCASE(s, "fragments", fragments);
    ADD_TCASE(s, "ipv6_headers", ipv6_headers);
    ADD_TCASE(s, "malformed", malformed);
    ADD_TCASE(s, "sequence_space", sequence_space);
    return s;
}

int main(void)
{
    return run_suite(attacks_suite());
}
