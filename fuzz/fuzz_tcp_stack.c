/*
 * fuzz_tcp_stack: stateful TCP.  One stack under test talks to a scripted
 * peer in the harness.  The peer keeps the sequence space of up to 4
 * connections (its own ISN and next sequence number, the stack's ISS and
 * highest sequence number seen), so input records say "a segment at
 * peer_nxt + d with ack = stack_max + d2" and most segments are near-valid:
 * mutations reach ESTABLISHED, the FIN states, TIME-WAIT, recovery,
 * persist, SYN cookies, keep-alive.
 *
 * Input layout:
 *   byte 0  bits 0-1  buffers: 0 rcv/snd 1-4 KiB (byte 1 bits 4-5), 1 8 KiB,
 *                      2 defaults (64 KiB), 3 rcv 2 KiB / snd 64 KiB
 *           bit 2     tcp_backlog 0 (every passive open via a SYN cookie)
 *           bit 3     keep-alive on (idle 1 s, interval 200 ms, 3 probes)
 *           bits 4-5  mtu 576, 1280, 1500, 1500 (IPv6: at least 1280)
 *           bit 6     IPv6
 *           bit 7     short timers (rto 10 ms..1 s, time-wait/fin-wait-2
 *                     500 ms, 4 retries, 2 SYN retries)
 *   byte 1  the peer's SYN options: bit 0 MSS, 1 WS, 2 SACK-permitted,
 *           3 timestamps; bits 4-7 wscale value (0..15)
 *   byte 2  bit 0 read everything on READABLE; bit 1 free on CLOSED;
 *           bit 2 free every handle before sl_stack_free; bit 3 nodelay on
 *           new handles; bit 4 a listener on port 80 (else the acceptor
 *           takes every SYN); bits 5-6 mem_limit: default, idle + 48 KiB,
 *           idle + 12 KiB, default
 *   then records of 12 bytes [op][p0..p10] (missing bytes read as 0),
 *   except op 12 (raw) which is [op][n][n bytes].  op & 15:
 *     0 peer segment: p0 slot (bits 0-1), seq base (bits 2-3: peer_nxt,
 *       stack's last ACK, peer ISN, peer_nxt + 256*d), bit 4 bad checksum;
 *       p1 TCP flags; p2 seq delta (int8); p3 ack delta (int8); p4-5
 *       window; p6-7 payload length (<= 4000); p8 options (1 MSS, 2 WS,
 *       4 SACK-perm, 8 TS, bits 4-5 SACK blocks, bit 6 ts_val goes back);
 *       p9, p10 option values
 *     1 peer SYN (p1 bit 0: SYN-ACK answering the stack's SYN; bit 1: to
 *       port 8080 instead of 80): p2-5 ISN, p6-7 window, p8 options
 *       (0: byte 1's), p9 MSS selector
 *     2 sl_stream_connect to the slot's peer port (p1 bit 0: fixed local
 *       port instead of an ephemeral one)
 *     3 write p1-2 bytes      4 read (p1 cap selector)
 *     5 shutdown  6 close  7 abort  8 free
 *     9 set_nodelay / set_user / info (p1)
 *    10 advance time (p0 mode: us, ms, s, hours, to the deadline, just
 *       before it, past it) and poll
 *    11 ICMP error quoting the last segment the stack sent on the slot
 *       (p1 type, p2 code, p3 seq in window / moved, p4-5 MTU)
 *    12 raw segment: n bytes as the TCP segment (ports forced to the
 *       slot's 4-tuple; op bit 4: seq/ack relative to peer_nxt /
 *       stack_max; payload bytes replaced by the peer's stream at that
 *       sequence number so data stays consistent; checksum fixed unless
 *       op bit 5)
 *    13 drain events now (p0 flags as byte 2 bits 0-1)
 *    14 listen / unlisten port 80 (p0 bit 0)
 *    15 burst: p1 in-order data segments of MSS size from peer_nxt, the
 *       p2-th one left out (a hole: out-of-order data, SACK); p3 bit 0:
 *       ACK everything seen first
 *
 * Data: the peer's byte at sequence number s on slot k is G(k, s), so
 * retransmissions, overlaps and raw segments all agree; the user's byte at
 * offset o of its writes on slot k is H(k, o).
 *
 * Checked after every step: the counting allocator's live bytes equal
 * sl_stats_mem().in_use and stay within mem_limit (sizes checked on free);
 * counters never decrease, ip_tx / ip_tx_bytes equal what the harness saw;
 * every packet sent parses with checksums verified, is <= mtu, is not
 * fragmented, and its TCP segment parses with the checksum verified; every
 * data byte the stack sends equals H at its offset from the stack's ISS,
 * within what the user wrote; the stack's ACK numbers and SACK blocks never
 * pass the highest sequence number the peer sent (from one of the SYNs the
 * peer sent on that 4-tuple); bytes returned by sl_stream_read equal G from
 * RCV's start, never beyond what the peer sent; for every handle held:
 * sl_stream_info_get succeeds, readable <= tcp_rcvbuf, unacked + unsent <=
 * tcp_sndbuf + 2 (SYN and FIN take a sequence number each), send_space <=
 * tcp_sndbuf, the user pointer is kept; API results are in their documented
 * sets; no event names a freed handle, nothing follows CLOSED, STREAM_NEW
 * only for new handles and CONNECTED only for sl_stream_connect handles;
 * sl_poll returns sl_poll_at() and a deadline > now; after sl_stack_free
 * the allocator holds 0 bytes.
 *
 * Environment: FZ_TCP_VERBOSE=1 prints, per input, events and counters.
 */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"
#include "fuzz_alloc.h"

#include "sluice/alloc.h"
#include "sluice/stack.h"

#include <stdbool.h>

#define MAX_RECORDS 400u
#define NSLOT 4u
#define NH 16u
#define NCAND 16u
#define TIME_CAP ((sl_time)1 << 40)
#define MAXPAY 4000u

/* RFC 9293 §3.4 sequence comparisons (modulo 2^32). */
static inline bool sl_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool sl_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }


/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

static uint8_t gbyte(unsigned slot, uint32_t s)
{
    uint32_t x = s * 0x9e3779b1u ^ (slot + 1u) * 0x85ebca6bu;
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    return (uint8_t)(x >> 24);
}

static uint8_t hbyte(unsigned slot, uint32_t o)
{
    uint32_t x = o * 0x7feb352du ^ (slot + 7u) * 0x846ca68bu;
    x ^= x >> 16;
    x *= 0x27d4eb2du;
    x ^= x >> 15;
    return (uint8_t)x;
}

typedef struct slot {
    uint16_t pport;      /* the peer's port                              */
    uint16_t sport;      /* the stack's port (0: none yet)               */
    /* the peer's side */
    uint32_t p_isn, p_nxt;
    bool p_open;         /* the peer has sent a SYN on this slot         */
    uint32_t cand[NCAND];    /* SYN sequence numbers the peer used       */
    uint32_t cand_max[NCAND];/* highest end sent, as offset from cand    */
    unsigned ncand, cpos;
    bool cand_overflow;  /* a SYN was forgotten: ACK / read checks off  */
    bool iss_overflow;   /* an ISS was forgotten: data check off        */
    uint32_t p_ts;       /* last ts_val the peer sent                    */
    /* the stack's side, as seen */
    bool have_iss;
    uint32_t s_iss, s_max, s_ack, s_ts;
    uint32_t iss[NCAND];
    unsigned niss, ipos;
    uint32_t wrote_max;  /* most bytes any handle on the slot wrote      */
    uint8_t last[128];   /* last packet the stack sent here (head)       */
    size_t last_len;
} slot;

enum { H_LIVE = 1, H_FREED = 2 };

typedef struct hstream {
    sl_stream h;
    uint8_t state;
    int slot;            /* -1: unknown                                 */
    bool active;         /* sl_stream_connect                           */
    bool closed_ev, fin_ev, connected_ev;
    void *user;
    uint32_t nread;      /* bytes read                                  */
    uint32_t written;    /* bytes written                               */
    uint32_t cval[2 * NCAND]; /* candidate IRS values                   */
    bool cdead[2 * NCAND];
    unsigned nc;
} hstream;

typedef struct fz {
    sl_stack *s;
    sl_config cfg;
    cnt_alloc al;
    sl_time now, advanced;
    uint8_t fam;
    uint8_t laddr[16], paddr[16];
    uint8_t synopts, wsval, evflags;
    slot sl[NSLOT];
    hstream hs[NH];
    unsigned nh;
    uintptr_t user_seq;
    uint64_t cnt[SL_CNT__COUNT];
    uint64_t n_input, n_tx, tx_bytes;
    sl_mem_stats ms;
    unsigned ev_seen[16];
    unsigned max_state;
    bool listening;
    bool trace;
} fz;

static size_t alen(uint8_t fam)
{
    return fam == 4 ? 4u : 16u;
}

static slot *slot_of_ports(fz *f, uint16_t stack_port, uint16_t peer_port)
{
    for (unsigned i = 0; i < NSLOT; i++)
        if (f->sl[i].pport == peer_port && f->sl[i].sport == stack_port)
            return &f->sl[i];
    return NULL;
}

static void add_cand(slot *k, uint32_t isn)
{
    for (unsigned i = 0; i < k->ncand; i++)
        if (k->cand[i] == isn)
            return;
    if (k->ncand == NCAND)
        k->cand_overflow = true;
    k->cand[k->cpos] = isn;
    k->cand_max[k->cpos] = 1;
    k->cpos = (k->cpos + 1) % NCAND;
    if (k->ncand < NCAND)
        k->ncand++;
}

static void add_iss(slot *k, uint32_t iss)
{
    k->have_iss = true;
    k->s_iss = iss;
    k->s_max = iss + 1;
    for (unsigned i = 0; i < k->niss; i++)
        if (k->iss[i] == iss)
            return;
    if (k->niss == NCAND)
        k->iss_overflow = true;
    k->iss[k->ipos] = iss;
    k->ipos = (k->ipos + 1) % NCAND;
    if (k->niss < NCAND)
        k->niss++;
}

/* The peer sent [seq, seq + seglen) (SYN and FIN included). */
static void peer_sent(slot *k, uint32_t seq, uint32_t seglen)
{
    uint32_t end = seq + seglen;
    for (unsigned i = 0; i < k->ncand; i++) {
        uint32_t off = end - k->cand[i];
        if (off < 0x80000000u && off > k->cand_max[i])
            k->cand_max[i] = off;
    }
    if (k->p_open && sl_seq_gt(end, k->p_nxt) && end - k->p_isn < 0x80000000u)
        k->p_nxt = end;
}

/* ---------------------------------------------------------------------- */
/* Checks                                                                 */
/* ---------------------------------------------------------------------- */

static void check_state(fz *f);

static void check_tcp_tx(fz *f, const uint8_t *ip, size_t iplen, const uint8_t *l4, size_t n,
                         const uint8_t *src, const uint8_t *dst)
{
    sl_pseudo ph = {f->fam, src, dst};
    sl_tcp_hdr t;
    FZ_CHECK_ERR(sl_tcp_parse(l4, n, &ph, &t), SL_OK);
    FZ_CHECK(memcmp(src, f->laddr, alen(f->fam)) == 0);
    if (memcmp(dst, f->paddr, alen(f->fam)) != 0)
        return; /* e.g. a RST to an address a raw segment did not use */
    slot *k = slot_of_ports(f, t.sport, t.dport);
    if (k == NULL)
        return;
    unsigned ks = (unsigned)(k - f->sl);
    if (f->trace)
        fprintf(stderr, "   stack->peer slot %u flags %02x seq %u ack %u len %zu win %u\n", ks,
                t.flags, t.seq, t.ack, t.payload_len, t.window);
    size_t keep = iplen < sizeof k->last ? iplen : sizeof k->last;
    memcpy(k->last, ip, keep);
    k->last_len = keep;
    if ((t.flags & SL_TCP_RST) != 0)
        return; /* seq/ack of a RST echo the segment it answers */
    if ((t.flags & SL_TCP_SYN) != 0)
        add_iss(k, t.seq);
    if (t.o.has_ts)
        k->s_ts = t.o.ts_val;
    /* ACK and SACK blocks: never beyond what the peer sent. */
    if ((t.flags & SL_TCP_ACK) != 0) {
        bool ok = false;
        for (unsigned i = 0; i < k->ncand && !ok; i++) {
            uint32_t off = t.ack - k->cand[i];
            if (off < 1 || off > k->cand_max[i])
                continue;
            bool sok = true;
            for (unsigned b = 0; b < t.o.n_sack; b++) {
                uint32_t r = t.o.sack[b].right - k->cand[i];
                uint32_t l = t.o.sack[b].left - k->cand[i];
                if (r > k->cand_max[i] || l > r || l <= off)
                    sok = false;
            }
            ok = sok;
        }
        if (!ok && !k->cand_overflow) {
            fprintf(stderr, "slot %u: stack ack %u (%u sack blocks); peer SYNs:", ks, t.ack,
                    t.o.n_sack);
            for (unsigned i = 0; i < k->ncand; i++)
                fprintf(stderr, " %u(+%u)", k->cand[i], k->cand_max[i]);
            fprintf(stderr, "\n");
            fz_fail(__FILE__, __LINE__, "stack ACKed / SACKed data the peer never sent");
        }
        k->s_ack = t.ack;
    }
    uint32_t seglen = (uint32_t)t.payload_len + ((t.flags & SL_TCP_SYN) ? 1u : 0u) +
                      ((t.flags & SL_TCP_FIN) ? 1u : 0u);
    if (k->have_iss && sl_seq_gt(t.seq + seglen, k->s_max) &&
        t.seq + seglen - k->s_iss < 0x80000000u)
        k->s_max = t.seq + seglen;
    /* Data integrity, stack -> peer. */
    if (t.payload_len > 0) {
        FZ_CHECK((t.flags & SL_TCP_SYN) == 0);
        bool ok = false;
        for (unsigned i = 0; i < k->niss && !ok; i++) {
            uint32_t off = t.seq - k->iss[i] - 1u;
            if (off >= 0x80000000u || (uint64_t)off + t.payload_len > k->wrote_max)
                continue;
            ok = true;
            for (size_t j = 0; j < t.payload_len && ok; j++)
                ok = t.payload[j] == hbyte(ks, off + (uint32_t)j);
        }
        if (!ok && !k->iss_overflow) {
            fprintf(stderr, "slot %u: seq %u len %zu, written %u, iss:", ks, t.seq,
                    t.payload_len, k->wrote_max);
            for (unsigned i = 0; i < k->niss; i++)
                fprintf(stderr, " %u", k->iss[i]);
            fprintf(stderr, "\n");
            fz_fail(__FILE__, __LINE__, "stack sent bytes the user did not write there");
        }
    }
}

static void tx_send(void *ctx, uint8_t *buf, size_t len)
{
    fz *f = ctx;
    FZ_CHECK(buf != NULL && len >= 20);
    FZ_CHECK(len <= f->cfg.mtu);
    f->n_tx++;
    f->tx_bytes += len;
    if ((buf[0] >> 4) == 4) {
        sl_ipv4_hdr h;
        FZ_CHECK_ERR(sl_ipv4_parse(buf, len, 0, &h), SL_OK);
        FZ_CHECK(h.total_len == len && !h.mf && h.frag_off == 0);
        FZ_CHECK(h.proto == SL_IPPROTO_TCP || h.proto == SL_IPPROTO_ICMP);
        if (h.proto == SL_IPPROTO_TCP)
            check_tcp_tx(f, buf, len, h.payload, h.payload_len, h.src, h.dst);
    } else if ((buf[0] >> 4) == 6) {
        sl_ipv6_hdr h;
        FZ_CHECK_ERR(sl_ipv6_parse(buf, len, &h), SL_OK);
        FZ_CHECK(40u + h.plen == len && !h.has_frag);
        FZ_CHECK(h.proto == SL_IPPROTO_TCP || h.proto == SL_IPPROTO_ICMPV6);
        if (h.proto == SL_IPPROTO_TCP)
            check_tcp_tx(f, buf, len, h.payload, h.payload_len, h.src, h.dst);
    } else {
        fz_fail(__FILE__, __LINE__, "stack sent a packet that is neither IPv4 nor IPv6");
    }
}

static hstream *hfind(fz *f, sl_stream h)
{
    for (unsigned i = 0; i < f->nh; i++)
        if (f->hs[i].h.idx == h.idx && f->hs[i].h.gen == h.gen)
            return &f->hs[i];
    return NULL;
}

static void check_handle(fz *f, hstream *x)
{
    sl_stream_info in;
    sl_error e = sl_stream_info_get(f->s, x->h, &in);
    if (x->state != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        FZ_CHECK(sl_stream_user(f->s, x->h) == NULL);
        return;
    }
    FZ_CHECK_ERR(e, SL_OK);
    FZ_CHECK(sl_stream_user(f->s, x->h) == x->user);
    FZ_CHECK(in.readable <= f->cfg.tcp_rcvbuf);
    FZ_CHECK(in.unacked <= f->cfg.tcp_sndbuf + 2u && in.unsent <= f->cfg.tcp_sndbuf);
    /* Regression (regressions/tcp_stack/info-unsent-double-counts-
     * retransmit): after a retransmission timeout the bytes between
     * SND.NXT and SND.MAX were counted both as unacked and as unsent. */
    if ((uint64_t)in.unacked + in.unsent > (uint64_t)f->cfg.tcp_sndbuf + 2u) {
        fprintf(stderr, "state %s unacked %u unsent %u sndbuf %u\n", sl_tcp_state_name(in.state),
                in.unacked, in.unsent, f->cfg.tcp_sndbuf);
        fz_fail(__FILE__, __LINE__, "unacked + unsent > tcp_sndbuf");
    }
    FZ_CHECK(in.send_space <= f->cfg.tcp_sndbuf);
    FZ_CHECK(in.state != SL_TCP_LISTEN && in.state <= SL_TCP_TIME_WAIT);
    if (in.state > f->max_state)
        f->max_state = in.state;
    if (in.state == SL_TCP_CLOSED)
        FZ_CHECK(in.send_space == 0);
    if (x->closed_ev)
        FZ_CHECK(in.state == SL_TCP_CLOSED);
    if (in.state >= SL_TCP_ESTABLISHED) {
        FZ_CHECK(in.mss > 0);
        FZ_CHECK(in.mss <= f->cfg.mtu - (f->fam == 4 ? 40u : 60u));
    }
    FZ_CHECK(in.local.addr.family == f->fam && in.remote.addr.family == f->fam);
}

static void check_state(fz *f)
{
    sl_mem_stats m;
    sl_stats_mem(f->s, &m);
    FZ_CHECK(m.in_use + m.cached == f->al.live); /* cached: freed rings kept */
    FZ_CHECK(m.in_use + m.cached <= f->cfg.mem_limit);
    FZ_CHECK(m.allocs == f->al.allocs);
    FZ_CHECK(m.allocs >= f->ms.allocs && m.peak >= f->ms.peak);
    f->ms = m;
    for (unsigned k = 0; k < SL_CNT__COUNT; k++) {
        uint64_t v = sl_stats_get(f->s, (sl_counter)k);
        if (v < f->cnt[k]) {
            fprintf(stderr, "counter %s went from %llu to %llu\n", sl_counter_name((sl_counter)k),
                    (unsigned long long)f->cnt[k], (unsigned long long)v);
            fz_fail(__FILE__, __LINE__, "counter decreased");
        }
        f->cnt[k] = v;
    }
    FZ_CHECK(f->cnt[SL_CNT_IP_RX] == f->n_input);
    FZ_CHECK(f->cnt[SL_CNT_IP_TX] == f->n_tx);
    FZ_CHECK(f->cnt[SL_CNT_IP_TX_BYTES] == f->tx_bytes);
    for (unsigned i = 0; i < f->nh; i++)
        check_handle(f, &f->hs[i]);
}

/* ---------------------------------------------------------------------- */
/* Handles and API calls                                                  */
/* ---------------------------------------------------------------------- */

static void merge_cands(fz *f, hstream *x)
{
    if (x->slot < 0)
        return;
    slot *k = &f->sl[x->slot];
    for (unsigned i = 0; i < k->ncand; i++) {
        bool have = false;
        for (unsigned j = 0; j < x->nc; j++)
            have |= x->cval[j] == k->cand[i];
        if (!have && x->nc < 2 * NCAND) {
            x->cval[x->nc] = k->cand[i];
            x->cdead[x->nc] = false;
            x->nc++;
        }
    }
}

static uint32_t cand_max_of(fz *f, hstream *x, uint32_t c, bool *found)
{
    slot *k = &f->sl[x->slot];
    for (unsigned i = 0; i < k->ncand; i++)
        if (k->cand[i] == c) {
            *found = true;
            return k->cand_max[i];
        }
    *found = false;
    return 0;
}

static hstream *new_handle(fz *f, sl_stream h, int sl, bool active, void *user)
{
    FZ_CHECK(h.idx != 0 || h.gen != 0);
    hstream *old = hfind(f, h);
    if (old != NULL) {
        if (old->state == H_LIVE)
            fz_fail(__FILE__, __LINE__, "new stream handle equals one the user holds");
        fz_fail(__FILE__, __LINE__, "new stream handle reuses a freed (idx, gen)");
    }
    unsigned i = f->nh;
    if (i == NH) {
        /* Forget the oldest freed one to make room (or overwrite slot 0). */
        i = 0;
        for (unsigned j = 0; j < NH; j++)
            if (f->hs[j].state == H_FREED) {
                i = j;
                break;
            }
        if (f->hs[i].state == H_LIVE)
            return NULL; /* all held: not tracked (the caller frees it) */
    } else {
        f->nh++;
    }
    hstream *x = &f->hs[i];
    memset(x, 0, sizeof *x);
    x->h = h;
    x->state = H_LIVE;
    x->slot = sl;
    x->active = active;
    x->user = user;
    merge_cands(f, x);
    if ((f->evflags & 0x08u) != 0)
        FZ_CHECK_ERR(sl_stream_set_nodelay(f->s, h, true), SL_OK);
    return x;
}

static hstream *pick(fz *f, uint8_t sel)
{
    if (f->nh == 0)
        return NULL;
    return &f->hs[sel % f->nh];
}

static bool is_conn_err(long e)
{
    return e == SL_ERR_RESET || e == SL_ERR_TIMEDOUT || e == SL_ERR_REFUSED ||
           e == SL_ERR_UNREACH || e == SL_ERR_MSGSIZE;
}

static void do_read(fz *f, hstream *x, size_t cap)
{
    sl_stream_info in;
    bool live = x->state == H_LIVE;
    if (live)
        FZ_CHECK_ERR(sl_stream_info_get(f->s, x->h, &in), SL_OK);
    uint8_t *buf = cap > 0 ? fz_alloc(cap) : NULL;
    long r = sl_stream_read(f->s, x->h, buf, cap);
    if (!live) {
        FZ_CHECK_ERR(r, SL_ERR_STALE);
        free(buf);
        return;
    }
    if (r > 0) {
        FZ_CHECK((size_t)r <= cap);
        FZ_CHECK((uint32_t)r == (in.readable < cap ? in.readable : cap));
        if (x->slot >= 0) {
            merge_cands(f, x);
            unsigned alive = 0;
            for (unsigned c = 0; c < x->nc; c++) {
                if (x->cdead[c])
                    continue;
                bool found;
                uint32_t mx = cand_max_of(f, x, x->cval[c], &found);
                bool ok = !found || (uint64_t)x->nread + (uint64_t)r + 1u <= mx;
                uint32_t base = x->cval[c] + 1u + x->nread;
                for (long j = 0; j < r && ok; j++)
                    ok = buf[j] == gbyte((unsigned)x->slot, base + (uint32_t)j);
                if (!ok)
                    x->cdead[c] = true;
                else
                    alive++;
            }
            if (alive == 0 && f->sl[x->slot].cand_overflow) {
                for (unsigned c = 0; c < x->nc; c++)
                    x->cdead[c] = false; /* its SYN was forgotten: no verdict */
            } else if (alive == 0) {
                fprintf(stderr, "slot %d: read %ld bytes at offset %u, %u candidate ISNs\n",
                        x->slot, r, x->nread, x->nc);
                fz_fail(__FILE__, __LINE__,
                        "sl_stream_read returned bytes the peer did not send there");
            }
        }
        x->nread += (uint32_t)r;
        sl_stream_info after;
        FZ_CHECK_ERR(sl_stream_info_get(f->s, x->h, &after), SL_OK);
        FZ_CHECK(after.readable + (uint32_t)r == in.readable);
    } else if (r == 0) {
        if (cap > 0) {
            FZ_CHECK(in.readable == 0);
            FZ_CHECK(x->fin_ev || in.state == SL_TCP_CLOSED);
        }
    } else if (r == SL_ERR_AGAIN) {
        FZ_CHECK(in.readable == 0 || cap == 0);
        FZ_CHECK(in.state != SL_TCP_CLOSED);
    } else {
        if (!is_conn_err(r)) {
            fprintf(stderr, "read: %s\n", sl_error_name((int)r));
            fz_fail(__FILE__, __LINE__, "sl_stream_read result outside its documented set");
        }
        if (in.state != SL_TCP_CLOSED || (in.readable != 0 && cap != 0)) {
            fprintf(stderr, "read(cap %zu): %s in %s with %u readable\n", cap,
                    sl_error_name((int)r), sl_tcp_state_name(in.state), in.readable);
            fz_fail(__FILE__, __LINE__, "read failed on an open stream or with data waiting");
        }
    }
    free(buf);
}

static void do_write(fz *f, hstream *x, size_t len)
{
    sl_stream_info in;
    bool live = x->state == H_LIVE;
    if (live)
        FZ_CHECK_ERR(sl_stream_info_get(f->s, x->h, &in), SL_OK);
    uint8_t *buf = len > 0 ? fz_alloc(len) : NULL;
    unsigned ks = x->slot >= 0 ? (unsigned)x->slot : 0u;
    for (size_t j = 0; j < len; j++)
        buf[j] = hbyte(ks, x->written + (uint32_t)j);
    long r = sl_stream_write(f->s, x->h, buf, len);
    free(buf);
    if (!live) {
        FZ_CHECK_ERR(r, SL_ERR_STALE);
        return;
    }
    if (r >= 0) {
        FZ_CHECK((size_t)r <= len);
        FZ_CHECK((uint32_t)r <= in.send_space);
        FZ_CHECK(len == 0 || r > 0);
        x->written += (uint32_t)r;
        if (x->slot >= 0 && x->written > f->sl[x->slot].wrote_max)
            f->sl[x->slot].wrote_max = x->written;
    } else if (r == SL_ERR_AGAIN) {
        FZ_CHECK(in.send_space == 0);
    } else if (r != SL_ERR_CLOSED && r != SL_ERR_NOMEM && !is_conn_err(r)) {
        fprintf(stderr, "write: %s\n", sl_error_name((int)r));
        fz_fail(__FILE__, __LINE__, "sl_stream_write result outside its documented set");
    }
}

static void do_free(fz *f, hstream *x)
{
    /* Regression (regressions/tcp_stack/uaf-process-ack-last-ack-orphan):
     * the ACK of our FIN freed an orphaned LAST-ACK tcb inside
     * process_ack(), which then read t->state. */
    sl_error e = sl_stream_free(f->s, x->h);
    if (x->state != H_LIVE) {
        FZ_CHECK_ERR(e, SL_ERR_STALE);
        return;
    }
    FZ_CHECK_ERR(e, SL_OK);
    x->state = H_FREED;
    check_handle(f, x);
}

/* ---------------------------------------------------------------------- */
/* Time and events                                                        */
/* ---------------------------------------------------------------------- */

static void drain(fz *f, uint8_t flags);

static void do_poll(fz *f)
{
    sl_time d = sl_poll(f->s, f->now);
    FZ_CHECK(d == sl_poll_at(f->s));
    if (d <= f->now) {
        fprintf(stderr, "now %llu deadline %llu\n", (unsigned long long)f->now,
                (unsigned long long)d);
        fz_fail(__FILE__, __LINE__, "sl_poll returned a deadline <= now (device never full)");
    }
}

static void step_end(fz *f)
{
    do_poll(f);
    drain(f, f->evflags);
    do_poll(f);
    check_state(f);
}

static void drain(fz *f, uint8_t flags)
{
    sl_event ev;
    unsigned n = 0;
    for (;;) {
        memset(&ev, 0x55, sizeof ev);
        if (!sl_next_event(f->s, &ev))
            break;
        if (++n > 100000u)
            fz_fail(__FILE__, __LINE__, "endless events");
        f->ev_seen[(unsigned)ev.type & 15u]++;
        FZ_CHECK(ev.is_stream);
        hstream *x = hfind(f, ev.stream);
        if (ev.type == SL_EV_STREAM_NEW) {
            sl_stream_info in;
            FZ_CHECK_ERR(sl_stream_info_get(f->s, ev.stream, &in), SL_OK);
            slot *k = slot_of_ports(f, in.local.port, in.remote.port);
            x = new_handle(f, ev.stream, k != NULL ? (int)(k - f->sl) : -1, false, ev.user);
            if (x == NULL) {
                FZ_CHECK_ERR(sl_stream_free(f->s, ev.stream), SL_OK);
                continue;
            }
            check_handle(f, x);
            continue;
        }
        if (x == NULL) {
            fprintf(stderr, "event %d for {%u,%u}\n", (int)ev.type, ev.stream.idx, ev.stream.gen);
            fz_fail(__FILE__, __LINE__, "event for a handle never given to the user");
        }
        if (x->state != H_LIVE) {
            fprintf(stderr, "event %d for {%u,%u}\n", (int)ev.type, ev.stream.idx, ev.stream.gen);
            fz_fail(__FILE__, __LINE__, "event for a freed handle");
        }
        if (x->closed_ev) {
            fprintf(stderr, "event %d after CLOSED\n", (int)ev.type);
            fz_fail(__FILE__, __LINE__, "event after CLOSED");
        }
        FZ_CHECK(ev.user == x->user);
        switch (ev.type) {
        case SL_EV_CONNECTED:
            FZ_CHECK(x->active && !x->connected_ev);
            x->connected_ev = true;
            break;
        case SL_EV_READABLE:
            if (flags & 0x01u)
                for (int i = 0; i < 64 && x->state == H_LIVE; i++) {
                    sl_stream_info in;
                    FZ_CHECK_ERR(sl_stream_info_get(f->s, x->h, &in), SL_OK);
                    if (in.readable == 0)
                        break;
                    do_read(f, x, 1500);
                }
            break;
        case SL_EV_WRITABLE:
            break;
        case SL_EV_PEER_FIN:
            x->fin_ev = true;
            break;
        case SL_EV_ERROR: {
            static const sl_error ok[] = {SL_ERR_UNREACH, SL_ERR_REFUSED, SL_ERR_MSGSIZE,
                                          SL_ERR_TIMEDOUT};
            FZ_CHECK_ERR_IN(ev.error, ok);
            break;
        }
        case SL_EV_RESET:
            break;
        case SL_EV_CLOSED:
            x->closed_ev = true;
            check_handle(f, x);
            if (flags & 0x02u)
                do_free(f, x);
            break;
        case SL_EV_STREAM_NEW:
        case SL_EV_DGRAM_NEW:
        default:
            fprintf(stderr, "event type %d\n", (int)ev.type);
            fz_fail(__FILE__, __LINE__, "unexpected event type");
        }
    }
}

static void advance(fz *f, uint8_t mode, uint16_t v)
{
    sl_time dl = sl_poll_at(f->s);
    sl_time dt = 0;
    switch (mode & 7u) {
    case 0: dt = v; break;
    case 1: dt = (sl_time)v * 1000u; break;
    case 2: dt = (sl_time)v * 1000000u; break;
    case 3: dt = ((sl_time)(v & 0xffu) + 1u) * UINT64_C(3600000000); break;
    default:
        if (dl != SL_TIME_NEVER && dl > f->now) {
            dt = dl - f->now;
            if ((mode & 7u) == 5)
                dt--;
            else if ((mode & 7u) == 6)
                dt += v;
        }
        break;
    }
    if (dt > TIME_CAP - f->advanced)
        dt = TIME_CAP - f->advanced;
    f->advanced += dt;
    f->now += dt;
}

/* ---------------------------------------------------------------------- */
/* The peer                                                               */
/* ---------------------------------------------------------------------- */

static void feed(fz *f, uint8_t *pkt, size_t len)
{
    f->n_input++;
    sl_error e = sl_input(f->s, pkt, len, f->now);
    int ei = (int)e;
    bool ok = e == SL_OK || e == SL_ERR_LIMIT || e == SL_ERR_NOMEM || (ei <= -100 && ei >= -199);
    if (!ok) {
        fprintf(stderr, "sl_input returned %s (%d)\n", sl_error_name(ei), ei);
        fz_fail(__FILE__, __LINE__, "sl_input result outside its documented set");
    }
}

/* Wrap a TCP segment (l4, n bytes, checksum field to be filled) in IP from
 * the peer to the stack and feed it. */
static void send_l4(fz *f, uint8_t proto, uint8_t *l4, size_t n, bool bad_csum)
{
    size_t hl = f->fam == 4 ? 20u : 40u;
    uint8_t *p = fz_alloc(hl + n);
    memset(p, 0, hl);
    if (f->fam == 4) {
        p[0] = 0x45;
        sl_store16(p + 2, (uint16_t)(hl + n));
        p[8] = 64;
        p[9] = proto;
        memcpy(p + 12, f->paddr, 4);
        memcpy(p + 16, f->laddr, 4);
        sl_store16(p + 10, sl_csum(p, 20));
    } else {
        p[0] = 0x60;
        sl_store16(p + 4, (uint16_t)n);
        p[6] = proto;
        p[7] = 64;
        memcpy(p + 8, f->paddr, 16);
        memcpy(p + 24, f->laddr, 16);
    }
    memcpy(p + hl, l4, n);
    uint8_t *q = p + hl;
    if (proto == SL_IPPROTO_TCP) {
        q[16] = q[17] = 0;
        uint32_t s = f->fam == 4 ? sl_csum_pseudo4(f->paddr, f->laddr, proto, (uint16_t)n)
                                 : sl_csum_pseudo6(f->paddr, f->laddr, proto, (uint32_t)n);
        sl_store16(q + 16, sl_csum_finish(sl_csum_partial(q, n, s)));
        if (bad_csum)
            q[17] ^= 0x5a;
    } else if (proto == SL_IPPROTO_ICMP) {
        q[2] = q[3] = 0;
        sl_store16(q + 2, sl_csum(q, n));
    } else {
        q[2] = q[3] = 0;
        uint32_t s = sl_csum_pseudo6(f->paddr, f->laddr, proto, (uint32_t)n);
        sl_store16(q + 2, sl_csum_finish(sl_csum_partial(q, n, s)));
    }
    feed(f, p, hl + n);
    free(p);
}

/* Build and send a segment from the peer on slot k. */
static void peer_segment(fz *f, unsigned ks, uint32_t seq, uint32_t ack, uint8_t flags,
                         uint16_t window, size_t plen, const sl_tcp_opts *o, bool bad_csum)
{
    slot *k = &f->sl[ks];
    sl_tcp_hdr h;
    memset(&h, 0, sizeof h);
    h.sport = k->pport;
    h.dport = k->sport;
    h.seq = seq;
    h.ack = ack;
    h.flags = flags;
    h.window = window;
    if (o != NULL)
        h.o = *o;
    if (f->trace)
        fprintf(stderr, "   peer->stack slot %u flags %02x seq %u ack %u len %zu win %u%s\n", ks,
                flags, seq, ack, plen, window, bad_csum ? " (bad csum)" : "");
    sl_error err;
    if (sl_tcp_opts_len(&h.o, &err) == 0 && err != SL_OK)
        memset(&h.o, 0, sizeof h.o);
    uint8_t *pay = plen > 0 ? fz_alloc(plen) : NULL;
    uint32_t dseq = seq + ((flags & SL_TCP_SYN) ? 1u : 0u);
    for (size_t j = 0; j < plen; j++)
        pay[j] = gbyte(ks, dseq + (uint32_t)j);
    h.payload = pay;
    h.payload_len = plen;
    size_t n = sl_tcp_emit_len(&h);
    uint8_t *l4 = fz_alloc(n);
    size_t w = 0;
    FZ_CHECK_ERR(sl_tcp_emit(&h, NULL, l4, n, &w), SL_OK);
    if ((flags & SL_TCP_SYN) != 0 && (flags & SL_TCP_RST) == 0)
        add_cand(k, seq);
    if (!bad_csum && (flags & SL_TCP_RST) == 0)
        peer_sent(k, seq, (uint32_t)plen + ((flags & SL_TCP_SYN) ? 1u : 0u) +
                              ((flags & SL_TCP_FIN) ? 1u : 0u));
    if (o != NULL && o->has_ts)
        k->p_ts = o->ts_val;
    send_l4(f, SL_IPPROTO_TCP, l4, n, bad_csum);
    free(l4);
    free(pay);
}

static void syn_opts(fz *f, uint8_t sel, uint8_t mss_sel, sl_tcp_opts *o, uint32_t ts_base)
{
    static const uint16_t msss[8] = {536, 1460, 1220, 0, 64, 8960, 65535, 100};
    memset(o, 0, sizeof *o);
    if (sel & 1u) {
        o->has_mss = true;
        o->mss = msss[mss_sel & 7u];
    }
    if (sel & 2u) {
        o->has_wscale = true;
        o->wscale = f->wsval;
    }
    o->sack_perm = (sel & 4u) != 0;
    if (sel & 8u) {
        o->has_ts = true;
        o->ts_val = ts_base;
        o->ts_ecr = 0;
    }
}

static void op_open(fz *f, const uint8_t *p)
{
    unsigned ks = p[0] % NSLOT;
    slot *k = &f->sl[ks];
    bool synack = (p[1] & 1u) != 0;
    if (!synack)
        k->sport = (p[1] & 2u) ? 8080 : 80;
    if (k->sport == 0)
        return;
    uint32_t isn = sl_load32(p + 2);
    k->p_isn = isn;
    k->p_nxt = isn + 1;
    k->p_open = true;
    if (!synack)
        k->have_iss = false;
    uint8_t sel = p[8] != 0 ? p[8] : f->synopts;
    sl_tcp_opts o;
    uint32_t ts = (uint32_t)(f->now / 1000u) * 3u + 77777u;
    syn_opts(f, sel, p[9], &o, ts);
    if (synack && o.has_ts)
        o.ts_ecr = k->s_ts;
    uint8_t flags = SL_TCP_SYN | (synack ? SL_TCP_ACK : 0);
    peer_segment(f, ks, isn, synack ? k->s_iss + 1u : 0u, flags, sl_load16(p + 6), 0, &o,
                 false);
}

static void op_segment(fz *f, const uint8_t *p)
{
    unsigned ks = p[0] % NSLOT;
    slot *k = &f->sl[ks];
    if (k->sport == 0)
        return;
    int8_t d = (int8_t)p[2], d2 = (int8_t)p[3];
    uint32_t base;
    switch ((p[0] >> 2) & 3u) {
    case 0: base = k->p_nxt; break;
    case 1: base = k->s_ack; break;
    case 2: base = k->p_isn; break;
    default: base = k->p_nxt + (uint32_t)((int32_t)d * 255); break;
    }
    uint32_t seq = base + (uint32_t)(int32_t)d;
    uint32_t ack = k->s_max + (uint32_t)(int32_t)d2;
    size_t plen = sl_load16(p + 6);
    if (plen > MAXPAY)
        plen %= MAXPAY + 1u;
    sl_tcp_opts o;
    memset(&o, 0, sizeof o);
    uint8_t os = p[8];
    if (os & 1u) {
        o.has_mss = true;
        o.mss = (uint16_t)(p[9] * 16u);
    }
    if (os & 2u) {
        o.has_wscale = true;
        o.wscale = p[10] & 15u;
    }
    o.sack_perm = (os & 4u) != 0;
    if (os & 8u) {
        o.has_ts = true;
        uint32_t tv = (uint32_t)(f->now / 1000u) * 3u + 77777u;
        if (os & 0x40u)
            tv = k->p_ts - (uint32_t)p[9] * 1000u;
        else if (sl_seq_lt(tv, k->p_ts))
            tv = k->p_ts;
        o.ts_val = tv;
        o.ts_ecr = k->s_ts - (uint32_t)(p[10] & 7u);
    }
    unsigned nsack = (os >> 4) & 3u;
    for (unsigned b = 0; b < nsack; b++) {
        /* Blocks above the ACK: [ack + 100*(b+1)*x, + y*64) */
        uint32_t l = ack + (uint32_t)(p[9] + 1u) * 100u * (b + 1u);
        uint32_t r = l + (uint32_t)((p[10] >> (2 * b)) & 3u) * 512u + 1u;
        o.sack[b].left = l;
        o.sack[b].right = r;
    }
    o.n_sack = (uint8_t)nsack;
    peer_segment(f, ks, seq, ack, p[1], sl_load16(p + 4), plen, &o, (p[0] & 0x10u) != 0);
}

static void op_burst(fz *f, const uint8_t *p)
{
    unsigned ks = p[0] % NSLOT;
    slot *k = &f->sl[ks];
    if (k->sport == 0)
        return;
    unsigned cnt = p[1] % 17u;
    unsigned hole = p[2];
    sl_tcp_opts o;
    memset(&o, 0, sizeof o);
    if (f->synopts & 8u) {
        o.has_ts = true;
        uint32_t tv = (uint32_t)(f->now / 1000u) * 3u + 77777u;
        o.ts_val = sl_seq_lt(tv, k->p_ts) ? k->p_ts : tv;
        o.ts_ecr = k->s_ts;
    }
    size_t mss = (p[3] & 2u) ? 536u : (f->cfg.mtu - (f->fam == 4 ? 40u : 60u) - 12u);
    uint16_t win = (uint16_t)(0xffffu >> (p[3] >> 4));
    if (p[3] & 1u) {
        peer_segment(f, ks, k->p_nxt, k->s_max, SL_TCP_ACK, win, 0, &o, false);
        do_poll(f);
    }
    uint32_t seq = k->p_nxt;
    for (unsigned i = 0; i < cnt; i++) {
        if (i != hole)
            peer_segment(f, ks, seq, k->s_max, SL_TCP_ACK | SL_TCP_PSH, win, mss, &o, false);
        seq += (uint32_t)mss;
    }
    if (hole < cnt)
        k->p_nxt = seq; /* a real sender's frontier moves past the hole */
}

static void op_raw(fz *f, uint8_t op, const uint8_t *b, size_t n)
{
    if (n < 20)
        return;
    unsigned ks = b[0] % NSLOT; /* the source port byte chooses the slot */
    slot *k = &f->sl[ks];
    if (k->sport == 0)
        return;
    uint8_t *l4 = fz_dup(b, n);
    sl_store16(l4, k->pport);
    sl_store16(l4 + 2, k->sport);
    if (op & 0x10u) {
        sl_store32(l4 + 4, sl_load32(l4 + 4) + k->p_nxt);
        sl_store32(l4 + 8, sl_load32(l4 + 8) + k->s_max);
    }
    uint32_t seq = sl_load32(l4 + 4);
    uint8_t flags = l4[13];
    size_t doff = (size_t)(l4[12] >> 4) * 4u;
    if (doff >= 20 && doff <= n) {
        uint32_t dseq = seq + ((flags & SL_TCP_SYN) ? 1u : 0u);
        for (size_t j = doff; j < n; j++)
            l4[j] = gbyte(ks, dseq + (uint32_t)(j - doff));
        bool bad = (op & 0x20u) != 0;
        if ((flags & SL_TCP_SYN) != 0 && (flags & SL_TCP_RST) == 0)
            add_cand(k, seq);
        if (!bad && (flags & SL_TCP_RST) == 0)
            peer_sent(k, seq, (uint32_t)(n - doff) + ((flags & SL_TCP_SYN) ? 1u : 0u) +
                                  ((flags & SL_TCP_FIN) ? 1u : 0u));
    }
    send_l4(f, SL_IPPROTO_TCP, l4, n, (op & 0x20u) != 0);
    free(l4);
}

static void op_icmp(fz *f, const uint8_t *p)
{
    slot *k = &f->sl[p[0] % NSLOT];
    if (k->last_len == 0)
        return;
    size_t hl = f->fam == 4 ? 20u : 40u;
    size_t q = k->last_len < hl + 28u ? k->last_len : hl + 28u;
    if (q < hl + 8u)
        return;
    uint8_t m[8 + 128];
    memset(m, 0, sizeof m);
    memcpy(m + 8, k->last, q);
    uint8_t *tcp = m + 8 + hl;
    switch (p[3] & 3u) {
    case 1: sl_store32(tcp + 4, sl_load32(tcp + 4) + 0x40000000u); break;
    case 2: sl_store32(tcp + 4, sl_load32(tcp + 4) - (uint32_t)p[6]); break;
    case 3: sl_store32(tcp + 4, sl_load32(tcp + 4) + (uint32_t)p[6]); break;
    default: break;
    }
    uint16_t mtu = sl_load16(p + 4);
    if (f->fam == 4) {
        static const uint8_t types[4] = {3, 11, 12, 3};
        m[0] = types[p[1] & 3u];
        m[1] = (p[1] & 3u) == 3u ? 4 : p[2] & 15u;
        if (m[0] == 3 && m[1] == 4)
            sl_store16(m + 6, mtu);
        send_l4(f, SL_IPPROTO_ICMP, m, 8 + q, false);
    } else {
        static const uint8_t types[4] = {1, 2, 3, 4};
        m[0] = types[p[1] & 3u];
        m[1] = p[2] & 7u;
        if (m[0] == 2)
            sl_store32(m + 4, mtu);
        send_l4(f, SL_IPPROTO_ICMPV6, m, 8 + q, false);
    }
}

static void op_connect(fz *f, const uint8_t *p)
{
    unsigned ks = p[0] % NSLOT;
    slot *k = &f->sl[ks];
    sl_endpoint l, r;
    memset(&l, 0, sizeof l);
    memset(&r, 0, sizeof r);
    l.addr.family = r.addr.family = f->fam;
    memcpy(l.addr.b, f->laddr, alen(f->fam));
    memcpy(r.addr.b, f->paddr, alen(f->fam));
    l.port = (p[1] & 1u) ? (uint16_t)(5000u + ks) : 0u;
    r.port = k->pport;
    void *user = (void *)(uintptr_t)(0x10000u + 16u * ++f->user_seq);
    sl_stream h = {0, 0};
    sl_error e = sl_stream_connect(f->s, &l, &r, user, &h);
    static const sl_error ok[] = {SL_OK, SL_ERR_LIMIT, SL_ERR_NOMEM};
    FZ_CHECK_ERR_IN(e, ok);
    if (e != SL_OK)
        return;
    sl_stream_info in;
    FZ_CHECK_ERR(sl_stream_info_get(f->s, h, &in), SL_OK);
    FZ_CHECK(in.state == SL_TCP_SYN_SENT);
    if (l.port != 0)
        FZ_CHECK(in.local.port == l.port);
    k->sport = in.local.port;
    /* The candidate rings are kept: a connection on the slot's previous
     * 4-tuple may still be talking (its packets then match no slot). */
    k->have_iss = false;
    k->p_open = false;
    hstream *x = new_handle(f, h, (int)ks, true, user);
    if (x == NULL)
        FZ_CHECK_ERR(sl_stream_free(f->s, h), SL_OK);
}

/* ---------------------------------------------------------------------- */
/* Driver                                                                 */
/* ---------------------------------------------------------------------- */

static void setup_cfg(fz *f, sl_config *c, uint8_t c0, uint8_t c1, uint8_t c2)
{
    static const uint8_t secret[16] = "sluice-tcpfuzz!";
    static const uint16_t mtus[4] = {576, 1280, 1500, 1500};
    static const uint32_t small[4] = {1024, 2048, 3072, 4096};
    sl_config_init(c);
    c->secret = secret;
    c->secret_len = sizeof secret;
    c->tx.send = tx_send;
    c->tx.ctx = f;
    f->fam = (c0 & 0x40u) ? 6 : 4;
    c->mtu = mtus[(c0 >> 4) & 3u];
    if (f->fam == 6 && c->mtu < 1280)
        c->mtu = 1280;
    switch (c0 & 3u) {
    case 0: c->tcp_rcvbuf = c->tcp_sndbuf = small[(c1 >> 4) & 3u]; break;
    case 1: c->tcp_rcvbuf = c->tcp_sndbuf = 8192; break;
    case 2: break;
    default: c->tcp_rcvbuf = 2048; break;
    }
    if (c0 & 0x04u)
        c->tcp_backlog = 0;
    if (c0 & 0x08u) {
        c->tcp_keepalive_idle = 1000000;
        c->tcp_keepalive_intvl = 200000;
        c->tcp_keepalive_probes = 3;
    }
    if (c0 & 0x80u) {
        c->tcp_rto_min = 10000;
        c->tcp_rto_initial = 50000;
        c->tcp_rto_max = 1000000;
        c->tcp_time_wait = 500000;
        c->tcp_fin_wait2 = 500000;
        c->tcp_max_retries = 4;
        c->tcp_syn_retries = 2;
    }
    c->max_streams = 16;
    f->synopts = c1 & 15u;
    f->wsval = (uint8_t)(c1 >> 4);
    f->evflags = c2;
    if (f->fam == 4) {
        static const uint8_t l4[4] = {10, 0, 0, 1}, p4[4] = {10, 0, 0, 2};
        memcpy(f->laddr, l4, 4);
        memcpy(f->paddr, p4, 4);
    } else {
        static const uint8_t l6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const uint8_t p6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        memcpy(f->laddr, l6, 16);
        memcpy(f->paddr, p6, 16);
    }
    for (unsigned i = 0; i < NSLOT; i++)
        f->sl[i].pport = (uint16_t)(40000u + 11u * i);
}

static void run(const uint8_t *data, size_t size)
{
    fz *f = calloc(1, sizeof *f);
    FZ_CHECK(f != NULL);
    setup_cfg(f, &f->cfg, data[0], data[1], data[2]);
    f->now = 1000000;
    f->al = fz_alloc_heap();
    sl_allocator a = {ca_alloc, ca_free, &f->al};
    unsigned memsel = (data[2] >> 5) & 3u;
    if (memsel == 1 || memsel == 2) {
        cnt_alloc probe = fz_alloc_heap();
        sl_allocator pa = {ca_alloc, ca_free, &probe};
        sl_error e2;
        sl_stack *t = sl_stack_new(&f->cfg, &pa, &e2);
        FZ_CHECK(t != NULL);
        sl_mem_stats m;
        sl_stats_mem(t, &m);
        sl_stack_free(t);
        FZ_CHECK(probe.live == 0);
        f->cfg.mem_limit = m.in_use + (memsel == 1 ? (size_t)48 << 10 : (size_t)12 << 10);
    }
    sl_error err;
    f->s = sl_stack_new(&f->cfg, &a, &err);
    FZ_CHECK(f->s != NULL);
    if (f->evflags & 0x10u) {
        sl_endpoint l;
        memset(&l, 0, sizeof l);
        l.port = 80;
        FZ_CHECK_ERR(sl_stream_listen(f->s, &l, (void *)(uintptr_t)0x4440), SL_OK);
        f->listening = true;
    }
    check_state(f);

    size_t pos = 3;
    const char *vb = getenv("FZ_TCP_VERBOSE");
    bool trace = vb != NULL && vb[0] == '2';
    f->trace = trace;
    for (unsigned rec = 0; rec < MAX_RECORDS && pos < size; rec++) {
        uint8_t op = data[pos++];
        if (trace) {
            fprintf(stderr, "-- rec %u op %u:", rec, op & 15u);
            for (size_t j = pos; j < size && j < pos + 11; j++)
                fprintf(stderr, " %02x", data[j]);
            fprintf(stderr, "\n");
        }
        if ((op & 15u) == 12u) {
            size_t n = pos < size ? data[pos++] : 0;
            if (n > size - pos)
                n = size - pos;
            op_raw(f, op, data + pos, n);
            pos += n;
            step_end(f);
            continue;
        }
        uint8_t p[11];
        memset(p, 0, sizeof p);
        size_t n = size - pos < sizeof p ? size - pos : sizeof p;
        memcpy(p, data + pos, n);
        pos += n;
        hstream *x;
        switch (op & 15u) {
        case 0: op_segment(f, p); break;
        case 1: op_open(f, p); break;
        case 2: op_connect(f, p); break;
        case 3:
            if ((x = pick(f, p[0])) != NULL)
                do_write(f, x, sl_load16(p + 1) % 20000u);
            break;
        case 4: {
            static const size_t caps[8] = {0, 1, 7, 100, 536, 1500, 4096, 70000};
            if ((x = pick(f, p[0])) != NULL)
                do_read(f, x, caps[p[1] & 7u]);
            break;
        }
        case 5:
            if ((x = pick(f, p[0])) != NULL) {
                sl_error e = sl_stream_shutdown(f->s, x->h);
                if (x->state != H_LIVE)
                    FZ_CHECK_ERR(e, SL_ERR_STALE);
                else if (e != SL_OK && e != SL_ERR_CLOSED && !is_conn_err(e))
                    fz_fail(__FILE__, __LINE__, "shutdown result outside its documented set");
            }
            break;
        case 6:
            if ((x = pick(f, p[0])) != NULL)
                FZ_CHECK_ERR(sl_stream_close(f->s, x->h),
                             x->state == H_LIVE ? SL_OK : SL_ERR_STALE);
            break;
        case 7:
            if ((x = pick(f, p[0])) != NULL)
                FZ_CHECK_ERR(sl_stream_abort(f->s, x->h),
                             x->state == H_LIVE ? SL_OK : SL_ERR_STALE);
            break;
        case 8:
            if ((x = pick(f, p[0])) != NULL)
                do_free(f, x);
            break;
        case 9:
            if ((x = pick(f, p[0])) != NULL) {
                sl_error e;
                if (p[1] & 1u) {
                    void *u = (void *)(uintptr_t)(0x20000u + 16u * ++f->user_seq);
                    e = sl_stream_set_user(f->s, x->h, u);
                    if (e == SL_OK)
                        x->user = u;
                } else {
                    e = sl_stream_set_nodelay(f->s, x->h, (p[1] & 2u) != 0);
                }
                FZ_CHECK_ERR(e, x->state == H_LIVE ? SL_OK : SL_ERR_STALE);
            }
            break;
        case 10: advance(f, p[0], sl_load16(p + 1)); break;
        case 11: op_icmp(f, p); break;
        case 13: drain(f, p[0]); break;
        case 14: {
            sl_endpoint l;
            memset(&l, 0, sizeof l);
            l.port = 80;
            if (p[0] & 1u) {
                sl_error e = sl_stream_listen(f->s, &l, (void *)(uintptr_t)0x4440);
                FZ_CHECK_ERR(e, f->listening ? SL_ERR_LIMIT : SL_OK);
                f->listening = true;
            } else {
                sl_error e = sl_stream_unlisten(f->s, &l);
                FZ_CHECK_ERR(e, f->listening ? SL_OK : SL_ERR_INVAL);
                f->listening = false;
            }
            break;
        }
        case 15: op_burst(f, p); break;
        default: break;
        }
        step_end(f);
    }

    if (getenv("FZ_TCP_VERBOSE") != NULL) {
        fprintf(stderr, "fuzz_tcp_stack: now %llu, max state %s, %zu bytes live:",
                (unsigned long long)f->now, sl_tcp_state_name((sl_tcp_state)f->max_state),
                f->ms.in_use);
        for (unsigned k = 1; k < 16; k++)
            if (f->ev_seen[k] != 0)
                fprintf(stderr, " ev%u=%u", k, f->ev_seen[k]);
        for (unsigned k = 0; k < SL_CNT__COUNT; k++)
            if (f->cnt[k] != 0)
                fprintf(stderr, " %s=%llu", sl_counter_name((sl_counter)k),
                        (unsigned long long)f->cnt[k]);
        fprintf(stderr, "\n");
    }
    if (f->evflags & 0x04u) {
        for (unsigned i = 0; i < f->nh; i++)
            if (f->hs[i].state == H_LIVE)
                do_free(f, &f->hs[i]); /* (not in CLOSE-WAIT/LAST-ACK: see do_free) */
        step_end(f);
    }
    sl_stack_free(f->s);
    if (f->al.live != 0 || f->al.blocks != 0) {
        fprintf(stderr, "%zu bytes in %zu blocks left after sl_stack_free\n", f->al.live,
                f->al.blocks);
        fz_fail(__FILE__, __LINE__, "leak: allocator not empty after sl_stack_free");
    }
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    run(data, size);
    return 0;
}
