/*
 * sluice-replay: run a capture through a fresh sluice stack, with the
 * capture's timestamps as the stack's time (docs/replay.md).
 *
 *   sluice-replay IN.pcap [-o OUT.pcap] [--json] [--mode inject|play-server]
 *
 * inject       every IP packet goes into the stack as it was captured; the
 *              stack runs sluice-tun's services (services.c).
 * play-server  (the default when the capture has a TCP handshake) the
 *              stack takes the responder's role of every TCP flow with a
 *              handshake and of every UDP flow: only the initiator's
 *              packets go in, TCP ones with their acknowledgement number,
 *              SACK blocks and timestamp echo moved from the recorded
 *              responder's sequence/timestamp space to the stack's own;
 *              the application side sends back, at the time the recorded
 *              responder sent them, exactly the bytes (or datagrams) the
 *              recorded responder sent, and closes or resets when it did.
 *              Every other packet (ICMP, TCP without a handshake) goes in
 *              unchanged.
 *
 * The capture is read with libpcap (pcap and pcapng; Ethernet with
 * 802.1Q/802.1ad tags, raw IP, Linux cooked SLL and SLL2, BSD loopback);
 * frames that do not carry IPv4/IPv6 are counted and skipped.  Output:
 * every packet the stack sent (-o, LINKTYPE_RAW, stamped with the stack's
 * time on the capture's clock) and a summary per flow, with the SHA-256 of
 * the byte stream the stack delivered to the application, plus every
 * counter (--json for machine-readable output).  The same capture and
 * secret give the same output, byte for byte.
 *
 * Two passes: the first reads every frame into memory, reassembles IP
 * fragments (only to see which flow they belong to and what a fragmented
 * responder datagram said), finds the flows and their initiators, and
 * lays out each recorded responder's byte stream; the second replays.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include <sluice/sluice.h>

#include "services.h"
#include "sha256.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define SNAP_MAX 262144u
#define RSTREAM_MAX (256u << 20) /* responder bytes kept per flow       */
#define RSTREAM_HOLE (16u << 20) /* a responder segment further ahead
                                    than this is not laid out             */
#define RSTREAM_TOTAL ((uint64_t)1 << 31) /* all flows together          */
#define FRAG_OPEN 256u           /* datagrams in reassembly at once       */
#define TAG_FLOW 2               /* user pointers: services use SVC_TAG */
#define STEP_GUARD 1000000u

static const uint8_t g_default_secret[16] = {'s', 'l', 'u', 'i', 'c', 'e', '-', 'r',
                                             'e', 'p', 'l', 'a', 'y', '-', 'k', '1'};

/* ---------------------------------------------------------------------- */
/* Data                                                                   */
/* ---------------------------------------------------------------------- */

typedef enum act {
    A_FEED,     /* into the stack as captured                          */
    A_REWRITE,  /* initiator of a played TCP flow: map ACK/SACK/TSecr  */
    A_RESP,     /* recorded responder of a played flow: the app acts   */
    A_SKIP      /* a responder fragment that completes nothing          */
} act;

/* What the first pass saw in one packet at the transport layer (for a
 * fragmented datagram: in the reassembled one, on its completing
 * fragment). */
typedef struct l4view {
    bool ok;
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint8_t flags; /* TCP */
    uint32_t seq, ack;
    bool has_ts;
    uint32_t ts_val;
    const uint8_t *payload;
    size_t payload_len;
} l4view;

typedef struct pkt {
    uint64_t ts;  /* capture time, microseconds */
    uint8_t *ip;
    uint32_t len;
    act a;
    int32_t flow; /* -1: none */
    int32_t frag; /* fragment group, -1: not a fragment */
    bool from_init;
    /* A_RESP (TCP): the recorded responder's stream is known up to here;
     * FIN / RST seen.  (UDP): the datagram to send back. */
    uint64_t rel_end;
    bool fin, rst;
    uint8_t *dgram;
    uint32_t dgram_len;
} pkt;

typedef struct tsmap { /* (time, TSval) pairs, in time order */
    uint64_t *t;
    uint32_t *v;
    size_t n, cap;
} tsmap;

typedef struct flow {
    uint8_t proto, family;
    uint8_t ia[16], ra[16]; /* initiator, responder */
    uint16_t ip_, rp;
    int32_t next_gen; /* a later flow with the same 5-tuple, -1 */
    uint64_t packets;
    bool syn, synack, play;
    uint32_t init_isn, rec_iss;
    uint32_t syn_len; /* text carried by the initiator's SYN */
    uint8_t *rbuf; /* recorded responder stream (TCP), holes as zeros */
    uint64_t rlen, rcap;
    bool rtrunc;
    tsmap rts; /* recorded responder: first time each TSval was sent */
    /* replay */
    bool syn_fed;
    bool have_iss;
    uint32_t stack_iss, snd_max;
    tsmap sts; /* the stack's TSvals, in stack time */
    uint64_t release_to, written;
    bool fin_due, fin_done, rst_due, rst_done;
    /* the stack's handle for this flow (played, or a service) */
    int tag; /* TAG_FLOW (user pointer target) */
    bool have_h, is_stream, peer_fin;
    sl_stream h;
    sl_dgram dh;
    const char *role; /* "played", "service", NULL */
    uint64_t to_app, from_app;
    sha256_ctx sha_in, sha_out;
    uint64_t answers_sent, answers_dropped, gap_bytes;
} flow;

typedef struct fgroup { /* fragments of one datagram */
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t *buf; /* the reassembled payload */
    uint32_t total; /* 0 until the last fragment is seen */
    uint8_t *have;  /* one flag per 8-byte block */
    bool done;
    int32_t flow;
    bool from_init;
} fgroup;

typedef struct rp {
    const char *in_path;
    int linktype;
    bool json, play, fix_csums;
    const char *mode_name;
    pkt *pk;
    size_t npk, cappk;
    flow *fl;
    size_t nfl, capfl;
    int32_t *ftab; /* open addressing: flow index of the latest gen, -1 */
    int32_t *smap, *dmap; /* stream / dgram handle idx -> flow, -1 */
    size_t smap_cap, dmap_cap;
    size_t ftab_cap;
    fgroup *fg;
    size_t nfg, capfg;
    uint64_t t0; /* stack time 0 is capture time t0 - 1 s */
    uint64_t rtotal; /* bytes allocated for responder streams */
    /* stack */
    sl_stack *s;
    svc svc;
    sl_time now;
    pcap_dumper_t *dump;
    pcap_t *dead;
    uint8_t scratch[SNAP_MAX];
    /* counters of the tool itself */
    uint64_t frames, non_ip, truncated, ip_pkts, fed, rewritten, resp_actions, skipped,
        unmapped, input_errors, csum_fixed, resp_truncated, tx_pkts, tx_bytes, frag_groups, frag_incomplete, ts_back;
} rp;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) {
        fprintf(stderr, "sluice-replay: out of memory\n");
        exit(3);
    }
    return q;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *q = calloc(n == 0 ? 1 : n, sz);
    if (q == NULL) {
        fprintf(stderr, "sluice-replay: out of memory\n");
        exit(3);
    }
    return q;
}

#define GROW(arr, n, cap)                                                                      \
    do {                                                                                       \
        if ((n) == (cap)) {                                                                    \
            (cap) = (cap) != 0 ? (cap) * 2 : 64;                                               \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                    \
        }                                                                                      \
    } while (0)

static void tsmap_add(tsmap *m, uint64_t t, uint32_t v)
{
    if (m->n > 0 && m->v[m->n - 1] == v)
        return;
    if (m->n == m->cap) {
        m->cap = m->cap != 0 ? m->cap * 2 : 16;
        m->t = xrealloc(m->t, m->cap * sizeof *m->t);
        m->v = xrealloc(m->v, m->cap * sizeof *m->v);
    }
    m->t[m->n] = t;
    m->v[m->n] = v;
    m->n++;
}

/* ---------------------------------------------------------------------- */
/* Reading: link layers                                                   */
/* ---------------------------------------------------------------------- */

/* The IP packet inside one frame, or NULL for a frame without IPv4/IPv6. */
static const uint8_t *strip_link(int dlt, const uint8_t *f, size_t n, size_t *ip_len)
{
    size_t off;
    switch (dlt) {
    case DLT_EN10MB: {
        off = 12;
        for (unsigned tags = 0;; tags++) {
            if (n < off + 2 || tags > 8)
                return NULL;
            unsigned et = (unsigned)f[off] << 8 | f[off + 1];
            if (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
                off += 4;
                continue;
            }
            if (et != 0x0800 && et != 0x86dd)
                return NULL;
            off += 2;
            break;
        }
        break;
    }
    case DLT_LINUX_SLL:  /* protocol type at 14, header 16 bytes */
    case DLT_LINUX_SLL2: /* protocol type at 0, header 20 bytes   */ {
        size_t pt = dlt == DLT_LINUX_SLL ? 14 : 0;
        off = dlt == DLT_LINUX_SLL ? 16 : 20;
        if (n < off)
            return NULL;
        unsigned et = (unsigned)f[pt] << 8 | f[pt + 1];
        if (et != 0x0800 && et != 0x86dd)
            return NULL;
        break;
    }
    case DLT_NULL:
    case DLT_LOOP:
        off = 4; /* address family, in either byte order: trust the IP version */
        break;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
    case 101: /* LINKTYPE_RAW, when libpcap passes it through */
        off = 0;
        break;
    default:
        return NULL;
    }
    if (n <= off)
        return NULL;
    unsigned v = f[off] >> 4;
    if (v != 4 && v != 6)
        return NULL;
    *ip_len = n - off;
    return f + off;
}

static const char *dlt_text(int dlt)
{
    const char *n = pcap_datalink_val_to_name(dlt);
    return n != NULL ? n : "?";
}

/* ---------------------------------------------------------------------- */
/* First pass: parse, reassemble, classify                                */
/* ---------------------------------------------------------------------- */

/* Network and transport headers of one packet, without checksum checks.
 * For a fragment: fills frag_* and leaves the L4 part to reassembly. */
typedef struct ipview {
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    bool frag, more;
    uint32_t frag_off; /* bytes */
    uint32_t id;
    const uint8_t *l4;
    size_t l4_len;
    size_t l4_off; /* offset of l4 from the IP header */
} ipview;

static bool parse_ip(const uint8_t *p, size_t n, ipview *v)
{
    memset(v, 0, sizeof *v);
    if (n >= 1 && p[0] >> 4 == 4) {
        sl_ipv4_hdr h;
        if (sl_ipv4_parse(p, n, SL_PARSE_NO_CSUM, &h) != SL_OK)
            return false;
        v->family = 4;
        v->proto = h.proto;
        memcpy(v->src, h.src, 4);
        memcpy(v->dst, h.dst, 4);
        v->frag = h.mf || h.frag_off != 0;
        v->more = h.mf;
        v->frag_off = (uint32_t)h.frag_off * 8u;
        v->id = h.id;
        v->l4 = h.payload;
        v->l4_len = h.payload_len;
    } else if (n >= 1 && p[0] >> 4 == 6) {
        sl_ipv6_hdr h;
        if (sl_ipv6_parse(p, n, &h) != SL_OK)
            return false;
        v->family = 6;
        v->proto = h.proto;
        memcpy(v->src, h.src, 16);
        memcpy(v->dst, h.dst, 16);
        v->frag = h.is_fragment;
        v->more = h.frag_more;
        v->frag_off = (uint32_t)h.frag_off * 8u;
        v->id = h.frag_id;
        v->l4 = h.payload;
        v->l4_len = h.payload_len;
    } else {
        return false;
    }
    v->l4_off = (size_t)(v->l4 - p);
    return true;
}

static bool parse_l4(uint8_t family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
                     const uint8_t *p, size_t n, l4view *o)
{
    memset(o, 0, sizeof *o);
    o->family = family;
    o->proto = proto;
    memcpy(o->src, src, 16);
    memcpy(o->dst, dst, 16);
    if (proto == 6) {
        sl_tcp_hdr t;
        if (sl_tcp_parse(p, n, NULL, &t) != SL_OK)
            return false;
        o->sport = t.sport;
        o->dport = t.dport;
        o->flags = t.flags;
        o->seq = t.seq;
        o->ack = t.ack;
        o->has_ts = t.o.has_ts;
        o->ts_val = t.o.ts_val;
        o->payload = t.payload;
        o->payload_len = t.payload_len;
    } else if (proto == 17) {
        sl_udp_hdr u;
        if (sl_udp_parse(p, n, NULL, &u) != SL_OK)
            return false;
        o->sport = u.sport;
        o->dport = u.dport;
        o->payload = u.payload;
        o->payload_len = u.payload_len;
    } else {
        return false;
    }
    o->ok = true;
    return true;
}

/* Fragment groups: found by linear search from the newest (captures are
 * replayed in memory; a group lives only as long as its datagram). */
static void frag_release(fgroup *g)
{
    free(g->buf);
    free(g->have);
    g->buf = g->have = NULL;
    g->done = true;
}

static int32_t frag_group(rp *r, const ipview *v)
{
    size_t lim = r->nfg > FRAG_OPEN ? r->nfg - FRAG_OPEN : 0;
    for (size_t i = r->nfg; i-- > lim;) {
        fgroup *g = &r->fg[i];
        if (!g->done && g->family == v->family && g->proto == v->proto && g->id == v->id &&
            memcmp(g->src, v->src, 16) == 0 && memcmp(g->dst, v->dst, 16) == 0)
            return (int32_t)i;
    }
    if (r->nfg >= FRAG_OPEN && !r->fg[r->nfg - FRAG_OPEN].done) {
        r->frag_incomplete++; /* pushed out: memory stays bounded */
        frag_release(&r->fg[r->nfg - FRAG_OPEN]);
    }
    GROW(r->fg, r->nfg, r->capfg);
    fgroup *g = &r->fg[r->nfg];
    memset(g, 0, sizeof *g);
    g->family = v->family;
    g->proto = v->proto;
    g->id = v->id;
    memcpy(g->src, v->src, 16);
    memcpy(g->dst, v->dst, 16);
    g->buf = xcalloc(65536, 1);
    g->have = xcalloc(8192, 1);
    g->flow = -1;
    r->frag_groups++;
    return (int32_t)r->nfg++;
}

/* Add a fragment; true when the datagram is complete. */
static bool frag_add(fgroup *g, const ipview *v)
{
    uint32_t off = v->frag_off, len = (uint32_t)v->l4_len;
    if (off >= 65536 || len > 65536 - off)
        return false;
    memcpy(g->buf + off, v->l4, len);
    for (uint32_t b = off / 8; b < (off + len + 7) / 8 && b < 8192; b++)
        g->have[b] = 1;
    if (!v->more)
        g->total = off + len;
    if (g->total == 0)
        return false;
    for (uint32_t b = 0; b < (g->total + 7) / 8; b++)
        if (!g->have[b])
            return false;
    return true;
}

/* Flow table: key = protocol + the two endpoints in canonical order. */
static int ep_cmp(const uint8_t *a, uint16_t ap, const uint8_t *b, uint16_t bp)
{
    int c = memcmp(a, b, 16);
    return c != 0 ? c : (int)ap - (int)bp;
}

static uint64_t flow_hash(uint8_t proto, const uint8_t *a, uint16_t ap, const uint8_t *b,
                          uint16_t bp)
{
    if (ep_cmp(a, ap, b, bp) > 0) {
        const uint8_t *t = a;
        a = b;
        b = t;
        uint16_t tp = ap;
        ap = bp;
        bp = tp;
    }
    uint64_t h = 1469598103934665603ull ^ proto;
    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 1099511628211ull;
    h = (h ^ ap) * 1099511628211ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    h = (h ^ bp) * 1099511628211ull;
    return h;
}

static bool flow_is(const flow *f, uint8_t proto, const uint8_t *a, uint16_t ap, const uint8_t *b,
                    uint16_t bp)
{
    if (f->proto != proto)
        return false;
    return (ep_cmp(f->ia, f->ip_, a, ap) == 0 && ep_cmp(f->ra, f->rp, b, bp) == 0) ||
           (ep_cmp(f->ia, f->ip_, b, bp) == 0 && ep_cmp(f->ra, f->rp, a, ap) == 0);
}

/* Slot of the key in r->ftab (holding -1 if absent). */
static size_t flow_slot(rp *r, uint8_t proto, const uint8_t *a, uint16_t ap, const uint8_t *b,
                        uint16_t bp)
{
    size_t mask = r->ftab_cap - 1;
    size_t i = (size_t)flow_hash(proto, a, ap, b, bp) & mask;
    while (r->ftab[i] >= 0) {
        flow *f = &r->fl[r->ftab[i]];
        /* the slot holds the newest generation; compare with the first */
        if (flow_is(f, proto, a, ap, b, bp))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static void ftab_grow(rp *r)
{
    size_t old_cap = r->ftab_cap;
    int32_t *old = r->ftab;
    r->ftab_cap = old_cap != 0 ? old_cap * 2 : 1024;
    r->ftab = xrealloc(NULL, r->ftab_cap * sizeof *r->ftab);
    for (size_t i = 0; i < r->ftab_cap; i++)
        r->ftab[i] = -1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] < 0)
            continue;
        flow *f = &r->fl[old[i]];
        r->ftab[flow_slot(r, f->proto, f->ia, f->ip_, f->ra, f->rp)] = old[i];
    }
    free(old);
}

/* Newest flow of this 5-tuple, or -1. */
static int32_t flow_find(rp *r, uint8_t proto, const uint8_t *a, uint16_t ap, const uint8_t *b,
                         uint16_t bp)
{
    if (r->ftab_cap == 0)
        return -1;
    return r->ftab[flow_slot(r, proto, a, ap, b, bp)];
}

/* A new flow whose initiator is (a, ap); it becomes the newest of its key. */
static int32_t flow_new(rp *r, uint8_t proto, uint8_t family, const uint8_t *a, uint16_t ap,
                        const uint8_t *b, uint16_t bp)
{
    if ((r->nfl + 1) * 2 > r->ftab_cap)
        ftab_grow(r);
    GROW(r->fl, r->nfl, r->capfl);
    int32_t idx = (int32_t)r->nfl++;
    flow *f = &r->fl[idx];
    memset(f, 0, sizeof *f);
    f->proto = proto;
    f->family = family;
    memcpy(f->ia, a, 16);
    memcpy(f->ra, b, 16);
    f->ip_ = ap;
    f->rp = bp;
    f->next_gen = -1;
    f->tag = TAG_FLOW;
    size_t slot = flow_slot(r, proto, a, ap, b, bp);
    if (r->ftab[slot] >= 0) {
        int32_t p = r->ftab[slot];
        while (r->fl[p].next_gen >= 0)
            p = r->fl[p].next_gen;
        r->fl[p].next_gen = idx;
        /* keep the oldest in the slot: flow_find walks to the newest */
    } else {
        r->ftab[slot] = idx;
    }
    return idx;
}

static int32_t flow_newest(rp *r, int32_t i)
{
    while (i >= 0 && r->fl[i].next_gen >= 0)
        i = r->fl[i].next_gen;
    return i;
}

/* Responder TCP bytes [rel, rel+n) of flow f. */
static void rstream_put(rp *r, flow *f, uint64_t rel, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (rel >= RSTREAM_MAX || rel > f->rlen + RSTREAM_HOLE) {
        f->rtrunc = true;
        r->resp_truncated++;
        return;
    }
    if (rel + n > RSTREAM_MAX) {
        n = (size_t)(RSTREAM_MAX - rel);
        f->rtrunc = true;
    }
    if (rel + n > f->rcap) {
        uint64_t cap = f->rcap != 0 ? f->rcap : 4096;
        while (cap < rel + n)
            cap *= 2;
        if (r->rtotal + (cap - f->rcap) > RSTREAM_TOTAL) {
            f->rtrunc = true;
            r->resp_truncated++;
            return;
        }
        r->rtotal += cap - f->rcap;
        f->rbuf = xrealloc(f->rbuf, (size_t)cap);
        memset(f->rbuf + f->rcap, 0, (size_t)(cap - f->rcap));
        f->rcap = cap;
    }
    memcpy(f->rbuf + rel, p, n);
    if (rel + n > f->rlen)
        f->rlen = rel + n;
}

/* Classify one packet's transport view (a whole datagram); returns the
 * flow and whether the packet is the initiator's. */
static int32_t classify(rp *r, pkt *k, const l4view *v)
{
    const uint8_t *s = v->src, *d = v->dst;
    int32_t fi = flow_newest(r, flow_find(r, v->proto, s, v->sport, d, v->dport));
    if (v->proto == 6) {
        bool syn_only = (v->flags & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN;
        if (syn_only) {
            /* A SYN from the initiator: a new flow unless it repeats the
             * current one's SYN. */
            flow *f = fi >= 0 ? &r->fl[fi] : NULL;
            bool same = f != NULL && f->syn && f->init_isn == v->seq &&
                        ep_cmp(f->ia, f->ip_, s, v->sport) == 0;
            if (!same)
                fi = flow_new(r, 6, v->family, s, v->sport, d, v->dport);
            f = &r->fl[fi];
            if (!f->syn) {
                memcpy(f->ia, s, 16);
                f->ip_ = v->sport;
                memcpy(f->ra, d, 16);
                f->rp = v->dport;
            }
            f->syn = true;
            f->init_isn = v->seq;
            f->syn_len = (uint32_t)v->payload_len;
        } else if (fi < 0) {
            /* First seen mid-flow (or a SYN-ACK without its SYN): the
             * sender of a SYN-ACK is the responder; otherwise the sender
             * of the first packet is taken as the initiator. */
            if ((v->flags & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK))
                fi = flow_new(r, 6, v->family, d, v->dport, s, v->sport);
            else
                fi = flow_new(r, 6, v->family, s, v->sport, d, v->dport);
        }
    } else if (fi < 0) {
        fi = flow_new(r, v->proto, v->family, s, v->sport, d, v->dport);
    }
    flow *f = &r->fl[fi];
    f->packets++;
    k->from_init = ep_cmp(f->ia, f->ip_, s, v->sport) == 0;
    if (v->proto == 6 && !k->from_init) {
        if ((v->flags & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK) && f->syn &&
            (v->ack == f->init_isn + 1u || v->ack == f->init_isn + 1u + f->syn_len)) {
            if (!f->synack)
                f->rec_iss = v->seq;
            f->synack = true;
        }
        if (f->synack) {
            uint32_t start = v->seq + ((v->flags & SL_TCP_SYN) != 0 ? 1u : 0u);
            uint32_t rel32 = start - (f->rec_iss + 1u);
            if (rel32 < (1u << 31)) {
                rstream_put(r, f, rel32, v->payload, v->payload_len);
                uint64_t end = (uint64_t)rel32 + v->payload_len;
                k->rel_end = end;
            }
            k->fin = (v->flags & SL_TCP_FIN) != 0;
            k->rst = (v->flags & SL_TCP_RST) != 0;
            if (v->has_ts)
                tsmap_add(&f->rts, k->ts, v->ts_val);
        }
    }
    if (v->proto == 17 && !k->from_init && v->payload_len <= 65535) {
        k->dgram = xrealloc(NULL, v->payload_len);
        memcpy(k->dgram, v->payload, v->payload_len);
        k->dgram_len = (uint32_t)v->payload_len;
    }
    return fi;
}

/* Read the capture into r->pk and classify every packet. */
static int load(rp *r)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(r->in_path, PCAP_TSTAMP_PRECISION_MICRO,
                                                         err);
    if (pc == NULL) {
        fprintf(stderr, "sluice-replay: %s\n", err);
        return -1;
    }
    r->linktype = pcap_datalink(pc);
    struct pcap_pkthdr *ph;
    const uint8_t *data;
    int rc;
    uint64_t last_ts = 0;
    while ((rc = pcap_next_ex(pc, &ph, &data)) == 1) {
        r->frames++;
        if (ph->caplen < ph->len)
            r->truncated++;
        size_t n;
        const uint8_t *ip = strip_link(r->linktype, data, ph->caplen, &n);
        if (ip == NULL) {
            r->non_ip++;
            continue;
        }
        r->ip_pkts++;
        uint64_t ts = (uint64_t)ph->ts.tv_sec * 1000000u + (uint64_t)ph->ts.tv_usec;
        if (ts < last_ts) { /* never let time run backwards */
            r->ts_back++;
            ts = last_ts;
        }
        last_ts = ts;
        GROW(r->pk, r->npk, r->cappk);
        pkt *k = &r->pk[r->npk++];
        memset(k, 0, sizeof *k);
        k->ts = ts;
        k->len = (uint32_t)n;
        k->ip = xrealloc(NULL, n);
        memcpy(k->ip, ip, n);
        k->flow = -1;
        k->frag = -1;
        k->a = A_FEED;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "sluice-replay: %s: %s (after %" PRIu64 " frames)\n", r->in_path,
                pcap_geterr(pc), r->frames);
        pcap_close(pc);
        return -1;
    }
    pcap_close(pc);

    /* Classify in capture order. */
    for (size_t i = 0; i < r->npk; i++) {
        pkt *k = &r->pk[i];
        ipview v;
        if (!parse_ip(k->ip, k->len, &v))
            continue;
        l4view l4;
        if (v.frag) {
            int32_t g = frag_group(r, &v);
            k->frag = g;
            if (!frag_add(&r->fg[g], &v))
                continue;
            fgroup *fg = &r->fg[g];
            if (parse_l4(v.family, v.proto, v.src, v.dst, fg->buf, fg->total, &l4)) {
                fg->flow = classify(r, k, &l4);
                fg->from_init = k->from_init;
                k->flow = fg->flow;
            }
            frag_release(fg);
            continue;
        }
        if (!parse_l4(v.family, v.proto, v.src, v.dst, v.l4, v.l4_len, &l4))
            continue;
        k->flow = classify(r, k, &l4);
    }
    for (size_t i = 0; i < r->nfg; i++) {
        if (!r->fg[i].done)
            r->frag_incomplete++;
        frag_release(&r->fg[i]);
    }
    return 0;
}

/* Decide the actions, once the flows are known. */
static void plan(rp *r)
{
    bool any_handshake = false;
    for (size_t i = 0; i < r->nfl; i++) {
        flow *f = &r->fl[i];
        if (f->proto == 6 && f->syn && f->synack)
            any_handshake = true;
    }
    if (r->mode_name == NULL)
        r->play = any_handshake;
    r->mode_name = r->play ? "play-server" : "inject";
    if (!r->play)
        return;
    for (size_t i = 0; i < r->nfl; i++) {
        flow *f = &r->fl[i];
        f->play = (f->proto == 6 && f->syn && f->synack) || f->proto == 17;
    }
    for (size_t i = 0; i < r->npk; i++) {
        pkt *k = &r->pk[i];
        int32_t fi = k->flow;
        bool from_init = k->from_init;
        if (k->frag >= 0) { /* every fragment follows its datagram */
            fgroup *g = &r->fg[k->frag];
            fi = g->flow;
            from_init = g->from_init;
            if (fi < 0 || !r->fl[fi].play)
                continue;
            if (from_init) {
                k->a = r->fl[fi].proto == 6 ? A_REWRITE : A_FEED;
            } else {
                k->a = k->flow >= 0 ? A_RESP : A_SKIP; /* the completing one acts */
            }
            k->flow = fi;
            continue;
        }
        if (fi < 0 || !r->fl[fi].play)
            continue;
        if (from_init)
            k->a = r->fl[fi].proto == 6 ? A_REWRITE : A_FEED;
        else
            k->a = A_RESP;
    }
}

/* ---------------------------------------------------------------------- */
/* Second pass: the stack                                                 */
/* ---------------------------------------------------------------------- */

static sl_time stack_time(const rp *r, uint64_t ts)
{
    return ts - r->t0 + 1000000u;
}

static void ep_from(sl_endpoint *e, uint8_t family, const uint8_t *a, uint16_t port)
{
    memset(e, 0, sizeof *e);
    e->addr.family = family;
    memcpy(e->addr.b, a, family == 4 ? 4 : 16);
    e->port = port;
}

/* The flow a stack handle with these endpoints belongs to: the oldest
 * generation still without a handle (played ones only once their SYN was
 * fed), else the newest. */
static flow *flow_of_handle(rp *r, uint8_t proto, const sl_endpoint *local,
                            const sl_endpoint *remote)
{
    uint8_t la[16] = {0}, ra[16] = {0};
    memcpy(la, local->addr.b, local->addr.family == 4 ? 4 : 16);
    memcpy(ra, remote->addr.b, remote->addr.family == 4 ? 4 : 16);
    int32_t i = flow_find(r, proto, ra, remote->port, la, local->port);
    int32_t last = -1;
    for (; i >= 0; i = r->fl[i].next_gen) {
        flow *f = &r->fl[i];
        last = i;
        if (!f->have_h && (!f->play || f->proto != 6 || f->syn_fed))
            return f;
    }
    return last >= 0 && !r->fl[last].have_h ? &r->fl[last] : NULL;
}

/* Output: the pcap and what the stack says to played TCP initiators. */
static void on_tx(void *ctx, uint8_t *buf, size_t len)
{
    rp *r = ctx;
    r->tx_pkts++;
    r->tx_bytes += len;
    if (r->dump != NULL) {
        struct pcap_pkthdr h;
        uint64_t t = r->now + r->t0 - 1000000u;
        h.ts.tv_sec = (time_t)(t / 1000000u);
        h.ts.tv_usec = (suseconds_t)(t % 1000000u);
        h.caplen = h.len = (bpf_u_int32)len;
        pcap_dump((u_char *)r->dump, &h, buf);
    }
    if (!r->play)
        return;
    ipview v;
    l4view l;
    if (!parse_ip(buf, len, &v) || v.frag || v.proto != 6 ||
        !parse_l4(v.family, v.proto, v.src, v.dst, v.l4, v.l4_len, &l))
        return;
    int32_t i = flow_find(r, 6, l.src, l.sport, l.dst, l.dport);
    for (; i >= 0; i = r->fl[i].next_gen) { /* the newest fed generation */
        flow *f = &r->fl[i];
        if (!f->play || !f->syn_fed || (f->next_gen >= 0 && r->fl[f->next_gen].syn_fed))
            continue;
        if ((l.flags & SL_TCP_SYN) != 0) {
            f->stack_iss = l.seq;
            f->have_iss = true;
            f->snd_max = l.seq + 1u;
        }
        if (!f->have_iss)
            break;
        uint32_t end = l.seq + (uint32_t)l.payload_len + ((l.flags & SL_TCP_SYN) != 0) +
                       ((l.flags & SL_TCP_FIN) != 0);
        if ((int32_t)(end - f->snd_max) > 0)
            f->snd_max = end;
        sl_tcp_opts o;
        sl_tcp_hdr th;
        if (sl_tcp_parse(v.l4, v.l4_len, NULL, &th) == SL_OK) {
            o = th.o;
            if (o.has_ts)
                tsmap_add(&f->sts, r->now, o.ts_val);
        }
        break;
    }
}

/* Replace the 32-bit big-endian value at tcp[off] and fix the checksum
 * (RFC 1624) over the 16-bit words it touches, whatever its alignment. */
static void patch32(uint8_t *tcp, size_t off, uint32_t nv)
{
    size_t a = off & ~(size_t)1, end = (off + 4 + 1) & ~(size_t)1;
    uint8_t old[6];
    memcpy(old, tcp + a, end - a);
    tcp[off] = (uint8_t)(nv >> 24);
    tcp[off + 1] = (uint8_t)(nv >> 16);
    tcp[off + 2] = (uint8_t)(nv >> 8);
    tcp[off + 3] = (uint8_t)nv;
    uint16_t c = (uint16_t)(tcp[16] << 8 | tcp[17]);
    for (size_t w = a; w < end; w += 2) {
        uint16_t ov = (uint16_t)(old[w - a] << 8 | old[w - a + 1]);
        uint16_t nw = (uint16_t)(tcp[w] << 8 | tcp[w + 1]);
        c = sl_csum_update16(c, ov, nw);
    }
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The recorded responder's sequence number -> the stack's, never beyond
 * what the stack has sent (an ACK of unsent data would be dropped with
 * the data it carries, RFC 9293 §3.10.7.4). */
static uint32_t map_seq(const flow *f, uint32_t v)
{
    uint32_t m = v - f->rec_iss + f->stack_iss;
    if ((int32_t)(m - f->snd_max) > 0)
        m = f->snd_max;
    return m;
}

/* The responder's TSval echoed in TSecr -> the stack's TSval last sent at
 * or before the moment the recorded responder first sent it. */
static uint32_t map_tsecr(const rp *r, const flow *f, uint32_t ecr)
{
    if (ecr == 0 || f->sts.n == 0)
        return ecr;
    /* rts is in time order and its TSvals rise (modulo 2^32): the first
     * entry not below ecr, by binary search (this runs per packet). */
    size_t a = 0, b = f->rts.n;
    while (a < b) {
        size_t mid = (a + b) / 2;
        if ((int32_t)(f->rts.v[mid] - ecr) < 0)
            a = mid + 1;
        else
            b = mid;
    }
    if (a == f->rts.n || f->rts.v[a] != ecr)
        return f->sts.v[f->sts.n - 1];
    sl_time when = stack_time(r, f->rts.t[a]);
    size_t lo = 0, hi = f->sts.n; /* last entry with t <= when */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (f->sts.t[mid] <= when)
            lo = mid;
        else
            hi = mid;
    }
    return f->sts.v[lo];
}

/* An initiator packet of a played TCP flow, into r->scratch, mapped. */
static const uint8_t *rewrite(rp *r, const pkt *k, size_t *len)
{
    flow *f = &r->fl[k->flow];
    *len = k->len;
    ipview v;
    if (k->len > sizeof r->scratch || !parse_ip(k->ip, k->len, &v) || v.frag_off != 0)
        return k->ip; /* later fragments carry no header to map */
    memcpy(r->scratch, k->ip, k->len);
    uint8_t *t = r->scratch + v.l4_off;
    size_t tl = v.l4_len;
    if (tl < 20)
        return k->ip;
    uint8_t flags = t[13];
    if ((flags & SL_TCP_SYN) != 0 && (flags & SL_TCP_ACK) == 0)
        return k->ip; /* the SYN: nothing of the responder in it */
    if (!f->have_iss) {
        r->unmapped++;
        return k->ip;
    }
    if ((flags & SL_TCP_ACK) != 0)
        patch32(t, 8, map_seq(f, rd32(t + 8)));
    size_t doff = (size_t)(t[12] >> 4) * 4u;
    if (doff > tl)
        doff = tl;
    for (size_t o = 20; o < doff;) {
        uint8_t kind = t[o];
        if (kind == 0)
            break;
        if (kind == 1) {
            o++;
            continue;
        }
        if (o + 1 >= doff || t[o + 1] < 2 || o + t[o + 1] > doff)
            break;
        size_t ol = t[o + 1];
        if (kind == 5 && ol >= 10) {
            for (size_t b = o + 2; b + 8 <= o + ol; b += 8) {
                patch32(t, b, map_seq(f, rd32(t + b)));
                patch32(t, b + 4, map_seq(f, rd32(t + b + 4)));
            }
        } else if (kind == 8 && ol == 10) {
            patch32(t, o + 6, map_tsecr(r, f, rd32(t + o + 6)));
        }
        o += ol;
    }
    r->rewritten++;
    return r->scratch;
}

/* --fix-checksums: recompute the IPv4 header checksum and the TCP, UDP or
 * ICMP checksum of an unfragmented packet in place (captures taken on the
 * sending host carry checksum-offload garbage). */
static void fix_csums(rp *r, uint8_t *p, size_t len)
{
    ipview v;
    if (!parse_ip(p, len, &v) || v.frag)
        return;
    if (v.family == 4) {
        size_t ihl = (size_t)(p[0] & 0x0f) * 4u;
        p[10] = p[11] = 0;
        uint16_t c = sl_csum(p, ihl);
        p[10] = (uint8_t)(c >> 8);
        p[11] = (uint8_t)c;
    }
    size_t off;
    switch (v.proto) {
    case 6:
        off = 16;
        break;
    case 17:
        off = 6;
        break;
    case 1:
    case 58:
        off = 2;
        break;
    default:
        return;
    }
    uint8_t *l4 = p + v.l4_off;
    size_t n = v.l4_len;
    if (n < off + 2 || (v.proto == 17 && n < 8))
        return;
    l4[off] = l4[off + 1] = 0;
    uint32_t sum = 0;
    if (v.proto != 1)
        sum = v.family == 4 ? sl_csum_pseudo4(v.src, v.dst, v.proto, (uint16_t)n)
                            : sl_csum_pseudo6(v.src, v.dst, v.proto, (uint32_t)n);
    uint16_t c = sl_csum_finish(sl_csum_partial(l4, n, sum));
    if (v.proto == 17 && c == 0)
        c = 0xffff; /* RFC 768: zero means "no checksum" */
    l4[off] = (uint8_t)(c >> 8);
    l4[off + 1] = (uint8_t)c;
    r->csum_fixed++;
}

/* ---- the application side ---------------------------------------------- */

static void flow_read(rp *r, flow *f)
{
    static uint8_t buf[65536];
    for (unsigned guard = 0; guard < STEP_GUARD; guard++) {
        if (f->is_stream) {
            long n = sl_stream_read(r->s, f->h, buf, sizeof buf);
            if (n == 0)
                f->peer_fin = true;
            if (n <= 0)
                return;
            sha256_update(&f->sha_in, buf, (size_t)n);
            f->to_app += (uint64_t)n;
        } else {
            long n = sl_dgram_recv(r->s, f->dh, buf, sizeof buf, NULL, NULL);
            if (n < 0)
                return;
            size_t got = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
            sha256_update(&f->sha_in, buf, got);
            f->to_app += got;
        }
    }
}

/* Write what the recorded responder had sent by now; then FIN or RST. */
static void flow_pump(rp *r, flow *f)
{
    if (!f->have_h || !f->is_stream || f->rst_done)
        return;
    if (f->rst_due) {
        sl_stream_abort(r->s, f->h);
        f->rst_done = true;
        return;
    }
    uint64_t lim = f->release_to < f->rlen ? f->release_to : f->rlen;
    for (unsigned guard = 0; f->written < lim && guard < STEP_GUARD; guard++) {
        uint64_t n = lim - f->written;
        if (n > 65536)
            n = 65536;
        long w = sl_stream_write(r->s, f->h, f->rbuf + f->written, (size_t)n);
        if (w <= 0)
            return; /* SL_ERR_AGAIN: WRITABLE resumes; an error ends it */
        sha256_update(&f->sha_out, f->rbuf + f->written, (size_t)w);
        f->written += (uint64_t)w;
        f->from_app += (uint64_t)w;
    }
    if (f->fin_due && !f->fin_done && f->written >= lim) {
        sl_stream_shutdown(r->s, f->h);
        f->fin_done = true;
    }
}

static void attach(flow *f, const char *role)
{
    f->have_h = true;
    f->role = role;
    sha256_init(&f->sha_in);
    sha256_init(&f->sha_out);
}

/* Which flow a stack handle belongs to: one table per handle kind,
 * indexed by the handle's idx (checked against its gen), so the service
 * hooks find their flow in O(1) on every read and write. */
static void hmap_set(rp *r, bool stream, uint32_t idx, int32_t fi)
{
    int32_t **m = stream ? &r->smap : &r->dmap;
    size_t *cap = stream ? &r->smap_cap : &r->dmap_cap;
    if (idx >= *cap) {
        size_t n = *cap != 0 ? *cap : 256;
        while (n <= idx)
            n *= 2;
        *m = xrealloc(*m, n * sizeof **m);
        for (size_t i = *cap; i < n; i++)
            (*m)[i] = -1;
        *cap = n;
    }
    (*m)[idx] = fi;
}

static flow *svc_flow_of_stream(rp *r, sl_stream h)
{
    if (h.idx >= r->smap_cap || r->smap[h.idx] < 0)
        return NULL;
    flow *f = &r->fl[r->smap[h.idx]];
    return f->have_h && f->is_stream && f->h.gen == h.gen ? f : NULL;
}

static flow *svc_flow_of_dgram(rp *r, sl_dgram h)
{
    if (h.idx >= r->dmap_cap || r->dmap[h.idx] < 0)
        return NULL;
    flow *f = &r->fl[r->dmap[h.idx]];
    return f->have_h && !f->is_stream && f->dh.gen == h.gen ? f : NULL;
}

static void hook_read(void *ctx, sl_stream h, const uint8_t *p, size_t n)
{
    flow *f = svc_flow_of_stream(ctx, h);
    if (f != NULL) {
        sha256_update(&f->sha_in, p, n);
        f->to_app += n;
    }
}

static void hook_write(void *ctx, sl_stream h, const uint8_t *p, size_t n)
{
    flow *f = svc_flow_of_stream(ctx, h);
    if (f != NULL) {
        sha256_update(&f->sha_out, p, n);
        f->from_app += n;
    }
}

static void hook_dgram(void *ctx, sl_dgram h, const uint8_t *p, size_t n, bool in)
{
    flow *f = svc_flow_of_dgram(ctx, h);
    if (f == NULL)
        return;
    sha256_update(in ? &f->sha_in : &f->sha_out, p, n);
    if (in)
        f->to_app += n;
    else
        f->from_app += n;
}

static bool hook_release(void *ctx, sl_stream h)
{
    return svc_flow_of_stream(ctx, h) != NULL; /* kept for the summary */
}

static void on_stream_new(rp *r, sl_stream h)
{
    sl_stream_info si;
    if (sl_stream_info_get(r->s, h, &si) != SL_OK)
        return;
    flow *f = flow_of_handle(r, 6, &si.local, &si.remote);
    if (f != NULL && f->play) {
        attach(f, "played");
        f->is_stream = true;
        f->h = h;
        hmap_set(r, true, h.idx, (int32_t)(f - r->fl));
        sl_stream_set_user(r->s, h, &f->tag);
        flow_read(r, f);
        flow_pump(r, f);
        return;
    }
    if (f != NULL) {
        attach(f, "service");
        f->is_stream = true;
        f->h = h;
        hmap_set(r, true, h.idx, (int32_t)(f - r->fl));
    }
    svc_stream_new(&r->svc, h);
}

static void on_dgram_new(rp *r, const sl_event *ev)
{
    sl_dgram_info di;
    if (sl_dgram_info_get(r->s, ev->dgram, &di) != SL_OK)
        return;
    flow *f = flow_of_handle(r, 17, &di.local, &di.remote);
    if (f != NULL) {
        attach(f, f->play ? "played" : "service");
        f->is_stream = false;
        f->dh = ev->dgram;
        hmap_set(r, false, ev->dgram.idx, (int32_t)(f - r->fl));
    }
    if (f != NULL && f->play) {
        sl_dgram_set_user(r->s, ev->dgram, &f->tag);
        flow_read(r, f);
        return;
    }
    svc_dgram_event(&r->svc, ev);
}

static unsigned handle_events(rp *r)
{
    sl_event ev;
    unsigned count = 0;
    for (; count < STEP_GUARD && sl_next_event(r->s, &ev); count++) {
        int tag = ev.user != NULL ? *(int *)ev.user : 0;
        if (tag == TAG_FLOW) {
            flow *f = (flow *)((char *)ev.user - offsetof(flow, tag));
            /* errors and CLOSED: the handle is kept for the summary */
            if (ev.type == SL_EV_READABLE || ev.type == SL_EV_PEER_FIN)
                flow_read(r, f);
            else if (ev.type == SL_EV_WRITABLE)
                flow_pump(r, f);
            continue;
        }
        if (ev.is_stream) {
            if (ev.type == SL_EV_STREAM_NEW && ev.user == NULL)
                on_stream_new(r, ev.stream);
            else if (tag == SVC_TAG)
                svc_stream_event(&r->svc, &ev);
            continue;
        }
        if (ev.type == SL_EV_DGRAM_NEW && ev.user == NULL)
            on_dgram_new(r, &ev);
        else
            svc_dgram_event(&r->svc, &ev);
    }
    return count;
}

/* Events, then transmit, until the stack has nothing more to do now. */
static void settle(rp *r)
{
    for (unsigned guard = 0; guard < 64; guard++) {
        unsigned n = handle_events(r);
        sl_poll(r->s, r->now);
        if (n == 0 && sl_poll_at(r->s) > r->now)
            break;
    }
}

/* Run the stack's timers up to time t (each at its own deadline). */
static void advance(rp *r, sl_time t)
{
    for (unsigned guard = 0; guard < STEP_GUARD; guard++) {
        sl_time d = sl_poll_at(r->s);
        if (d > t)
            break;
        if (d > r->now)
            r->now = d;
        settle(r);
    }
    if (t > r->now)
        r->now = t;
}

static void respond(rp *r, const pkt *k)
{
    flow *f = &r->fl[k->flow];
    r->resp_actions++;
    if (f->proto == 17) {
        if (k->dgram == NULL)
            return;
        if (f->have_h && sl_dgram_send(r->s, f->dh, k->dgram, k->dgram_len) == SL_OK) {
            sha256_update(&f->sha_out, k->dgram, k->dgram_len);
            f->from_app += k->dgram_len;
            f->answers_sent++;
        } else {
            f->answers_dropped++;
        }
        return;
    }
    if (k->rel_end > f->release_to)
        f->release_to = k->rel_end;
    if (k->fin)
        f->fin_due = true;
    if (k->rst)
        f->rst_due = true;
    flow_pump(r, f);
}

static sl_verdict filter(void *ctx, const sl_flow_info *fi)
{
    rp *r = ctx;
    if (r->play) {
        uint8_t la[16] = {0}, ra[16] = {0};
        memcpy(la, fi->local.addr.b, fi->local.addr.family == 4 ? 4 : 16);
        memcpy(ra, fi->remote.addr.b, fi->remote.addr.family == 4 ? 4 : 16);
        int32_t i = flow_find(r, fi->proto, ra, fi->remote.port, la, fi->local.port);
        for (; i >= 0; i = r->fl[i].next_gen)
            if (r->fl[i].play && ep_cmp(r->fl[i].ia, r->fl[i].ip_, ra, fi->remote.port) == 0)
                return SL_ACCEPT;
    }
    return svc_local(&r->svc, fi->proto, fi->local.port) ? SL_ACCEPT : SL_REFUSE;
}

static void run(rp *r)
{
    r->t0 = r->npk > 0 ? r->pk[0].ts : 0;
    r->now = stack_time(r, r->t0);
    for (size_t i = 0; i < r->npk; i++) {
        pkt *k = &r->pk[i];
        advance(r, stack_time(r, k->ts));
        switch (k->a) {
        case A_FEED:
        case A_REWRITE: {
            size_t len = k->len;
            const uint8_t *p = k->a == A_REWRITE ? rewrite(r, k, &len) : k->ip;
            if (r->fix_csums && len <= sizeof r->scratch) {
                if (p != r->scratch)
                    memcpy(r->scratch, p, len);
                fix_csums(r, r->scratch, len);
                p = r->scratch;
            }
            if (k->a == A_REWRITE)
                r->fl[k->flow].syn_fed = true;
            if (sl_input(r->s, p, len, r->now) != SL_OK)
                r->input_errors++;
            r->fed++;
            break;
        }
        case A_RESP:
            respond(r, k);
            break;
        case A_SKIP:
            r->skipped++;
            break;
        }
        settle(r);
    }
}

/* ---------------------------------------------------------------------- */
/* Summary                                                                */
/* ---------------------------------------------------------------------- */

static void ep_text(char *out, size_t cap, uint8_t family, const uint8_t *a, uint16_t port)
{
    sl_endpoint e;
    ep_from(&e, family, a, port);
    char buf[64];
    sl_addr_format(&e.addr, buf, sizeof buf);
    if (family == 6)
        snprintf(out, cap, "[%s]:%u", buf, port);
    else
        snprintf(out, cap, "%s:%u", buf, port);
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

typedef struct fsum {
    const char *state;
    char sha_in[65], sha_out[65];
} fsum;

static void flow_final(rp *r, flow *f, fsum *s)
{
    s->state = "-";
    s->sha_in[0] = s->sha_out[0] = '\0';
    if (!f->have_h)
        return;
    uint8_t d[32];
    sha256_final(&f->sha_in, d);
    sha256_hex(d, s->sha_in);
    sha256_final(&f->sha_out, d);
    sha256_hex(d, s->sha_out);
    if (f->is_stream) {
        sl_stream_info si;
        s->state = sl_stream_info_get(r->s, f->h, &si) == SL_OK ? sl_tcp_state_name(si.state)
                                                                 : "CLOSED";
    } else {
        sl_dgram_info di;
        s->state = sl_dgram_info_get(r->s, f->dh, &di) == SL_OK && !di.closed ? "OPEN" : "CLOSED";
    }
}

static void report(rp *r, FILE *o)
{
    struct {
        const char *name;
        uint64_t v;
    } own[] = {
        {"frames", r->frames},
        {"frames_non_ip", r->non_ip},
        {"frames_truncated", r->truncated},
        {"ip_packets", r->ip_pkts},
        {"timestamps_backwards", r->ts_back},
        {"fed", r->fed},
        {"rewritten", r->rewritten},
        {"unmapped", r->unmapped},
        {"responder_actions", r->resp_actions},
        {"responder_fragments_skipped", r->skipped},
        {"input_errors", r->input_errors},
        {"checksums_fixed", r->csum_fixed},
        {"fragment_groups", r->frag_groups},
        {"fragment_groups_incomplete", r->frag_incomplete},
        {"responder_segments_dropped", r->resp_truncated},
        {"tx_packets", r->tx_pkts},
        {"tx_bytes", r->tx_bytes},
    };
    size_t n_own = sizeof own / sizeof own[0];
    sl_mem_stats ms;
    sl_stats_mem(r->s, &ms);
    if (r->json) {
        fprintf(o, "{\n  \"capture\": ");
        const char *base = strrchr(r->in_path, '/');
        json_str(o, base != NULL ? base + 1 : r->in_path);
        fprintf(o, ",\n  \"link_type\": ");
        json_str(o, dlt_text(r->linktype));
        fprintf(o, ",\n  \"mode\": \"%s\",\n  \"flows\": [", r->mode_name);
        for (size_t i = 0; i < r->nfl; i++) {
            flow *f = &r->fl[i];
            fsum s;
            flow_final(r, f, &s);
            char a[80], b[80];
            ep_text(a, sizeof a, f->family, f->ia, f->ip_);
            ep_text(b, sizeof b, f->family, f->ra, f->rp);
            fprintf(o, "%s\n    {\"proto\": \"%s\", \"initiator\": \"%s\", \"responder\": \"%s\", ",
                    i == 0 ? "" : ",", f->proto == 6 ? "tcp" : "udp", a, b);
            fprintf(o, "\"packets\": %" PRIu64 ", ", f->packets);
            if (f->proto == 6)
                fprintf(o, "\"handshake\": %s, ", f->syn && f->synack ? "true" : "false");
            fprintf(o, "\"role\": ");
            if (f->role != NULL)
                json_str(o, f->role);
            else
                fputs("null", o);
            if (f->have_h) {
                fprintf(o,
                        ", \"state\": \"%s\", \"to_app_bytes\": %" PRIu64
                        ", \"to_app_sha256\": \"%s\", \"from_app_bytes\": %" PRIu64
                        ", \"from_app_sha256\": \"%s\"",
                        s.state, f->to_app, s.sha_in, f->from_app, s.sha_out);
            }
            if (f->play && f->proto == 6)
                fprintf(o, ", \"responder_bytes\": %" PRIu64 "%s", f->rlen,
                        f->rtrunc ? ", \"responder_truncated\": true" : "");
            if (f->play && f->proto == 17)
                fprintf(o, ", \"answers_sent\": %" PRIu64 ", \"answers_dropped\": %" PRIu64,
                        f->answers_sent, f->answers_dropped);
            fputc('}', o);
        }
        fprintf(o, "\n  ],\n  \"replay\": {");
        for (size_t i = 0; i < n_own; i++)
            fprintf(o, "%s\"%s\": %" PRIu64, i == 0 ? "" : ", ", own[i].name, own[i].v);
        fprintf(o, "},\n  \"counters\": {");
        for (int c = 0; c < SL_CNT__COUNT; c++)
            fprintf(o, "%s\n    \"%s\": %" PRIu64, c == 0 ? "" : ",",
                    sl_counter_name((sl_counter)c), sl_stats_get(r->s, (sl_counter)c));
        fprintf(o,
                "\n  },\n  \"memory\": {\"peak\": %zu, \"in_use\": %zu, \"cached\": %zu, "
                "\"allocs\": %" PRIu64 ", \"fails\": %" PRIu64 "}\n}\n",
                ms.peak, ms.in_use, ms.cached, ms.allocs, ms.fails);
        return;
    }
    fprintf(o, "%s: %s, %s mode, %" PRIu64 " frames (%" PRIu64 " IP), %zu flows\n", r->in_path,
            dlt_text(r->linktype), r->mode_name, r->frames, r->ip_pkts, r->nfl);
    for (size_t i = 0; i < r->nfl; i++) {
        flow *f = &r->fl[i];
        fsum s;
        flow_final(r, f, &s);
        char a[80], b[80];
        ep_text(a, sizeof a, f->family, f->ia, f->ip_);
        ep_text(b, sizeof b, f->family, f->ra, f->rp);
        fprintf(o, "  %s %s -> %s  %s", f->proto == 6 ? "tcp" : "udp", a, b,
                f->role != NULL ? f->role : "not accepted");
        if (f->have_h)
            fprintf(o, "  %s  in %" PRIu64 " B sha256 %.16s...  out %" PRIu64 " B", s.state,
                    f->to_app, s.sha_in, f->from_app);
        fputc('\n', o);
    }
    fprintf(o, "replay:");
    for (size_t i = 0; i < n_own; i++)
        if (own[i].v != 0)
            fprintf(o, " %s=%" PRIu64, own[i].name, own[i].v);
    fprintf(o, "\nstack:");
    for (int c = 0; c < SL_CNT__COUNT; c++) {
        uint64_t v = sl_stats_get(r->s, (sl_counter)c);
        if (v != 0)
            fprintf(o, " %s=%" PRIu64, sl_counter_name((sl_counter)c), v);
    }
    fprintf(o, "\nmemory: peak %zu bytes\n", ms.peak);
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */
/* ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: sluice-replay [options] IN.pcap\n"
          "  -o, --output FILE    write every packet the stack sent (pcap, LINKTYPE_RAW)\n"
          "  --json               print the summary as JSON\n"
          "  --mode MODE          inject or play-server (default: play-server when the\n"
          "                       capture has a TCP handshake, else inject)\n"
          "  --secret HEX         the stack's secret, 16..64 bytes in hex (default: a\n"
          "                       fixed one, so replays are reproducible)\n"
          "  --any-ip             accept packets to every address (default)\n"
          "  --loopback           accept 127.0.0.0/8 and ::1 (captures taken on lo)\n"
          "  --fix-checksums      recompute IP/TCP/UDP/ICMP checksums before feeding\n"
          "                       (captures with checksum offload)\n"
          "  --local PREFIX       only these destinations are local (repeatable, max 16)\n"
          "  --services LIST      services in the stack (echo,discard,chargen,http,\n"
          "                       udp-echo,all,none; default all)\n"
          "  --mtu N              the stack's MTU, 576..65535 (default 65535)\n"
          "  --tail MS            keep running the stack's timers MS milliseconds after\n"
          "                       the last packet (default 1000)\n"
          "  -h, --help           this text\n"
          "Exit status: 0, 1 when the capture cannot be read, 2 for bad usage.\n",
          f);
}

static int parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static bool parse_prefix(const char *text, sl_prefix *p)
{
    char buf[80];
    if (strlen(text) >= sizeof buf)
        return false;
    strcpy(buf, text);
    char *slash = strchr(buf, '/');
    unsigned long len = 0;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        len = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1)
            return false;
    }
    if (sl_addr_parse(buf, &p->addr) != SL_OK)
        return false;
    unsigned max = p->addr.family == 4 ? 32 : 128;
    if (slash == NULL)
        len = max;
    if (len > max)
        return false;
    p->len = (uint8_t)len;
    return true;
}

int main(int argc, char **argv)
{
    static rp R;
    rp *r = &R;
    const char *out_path = NULL;
    uint8_t secret[64];
    int secret_len = 0;
    sl_prefix prefixes[16];
    size_t n_prefixes = 0;
    unsigned services = SVC_ALL;
    unsigned long mtu = 65535, tail_ms = 1000;
    bool loopback = false;
    enum {
        O_JSON = 256,
        O_MODE,
        O_SECRET,
        O_ANY,
        O_LOCAL,
        O_SERVICES,
        O_MTU,
        O_TAIL,
        O_LOOP,
        O_FIX
    };
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},   {"json", no_argument, NULL, O_JSON},
        {"mode", required_argument, NULL, O_MODE},  {"secret", required_argument, NULL, O_SECRET},
        {"any-ip", no_argument, NULL, O_ANY},       {"local", required_argument, NULL, O_LOCAL},
        {"services", required_argument, NULL, O_SERVICES},
        {"mtu", required_argument, NULL, O_MTU},    {"tail", required_argument, NULL, O_TAIL},
        {"loopback", no_argument, NULL, O_LOOP},    {"fix-checksums", no_argument, NULL, O_FIX},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case O_JSON:
            r->json = true;
            break;
        case O_MODE:
            if (strcmp(optarg, "inject") == 0) {
                r->play = false;
            } else if (strcmp(optarg, "play-server") == 0) {
                r->play = true;
            } else {
                fprintf(stderr, "sluice-replay: --mode: inject or play-server\n");
                return 2;
            }
            r->mode_name = optarg;
            break;
        case O_SECRET:
            secret_len = parse_hex(optarg, secret, sizeof secret);
            if (secret_len < 16) {
                fprintf(stderr, "sluice-replay: --secret: 32..128 hex digits\n");
                return 2;
            }
            break;
        case O_ANY:
            n_prefixes = 0;
            break;
        case O_LOOP:
            loopback = true;
            break;
        case O_FIX:
            r->fix_csums = true;
            break;
        case O_LOCAL:
            if (n_prefixes == 16 || !parse_prefix(optarg, &prefixes[n_prefixes])) {
                fprintf(stderr, "sluice-replay: --local: ADDRESS[/LEN], at most 16\n");
                return 2;
            }
            n_prefixes++;
            break;
        case O_SERVICES:
            if (!svc_parse_list(optarg, &services)) {
                fprintf(stderr, "sluice-replay: --services: comma list of "
                                "echo,discard,chargen,http,udp-echo,all,none\n");
                return 2;
            }
            break;
        case O_MTU:
            mtu = strtoul(optarg, &end, 10);
            if (*end != '\0' || mtu < 576 || mtu > 65535) {
                fprintf(stderr, "sluice-replay: --mtu: 576..65535\n");
                return 2;
            }
            break;
        case O_TAIL:
            tail_ms = strtoul(optarg, &end, 10);
            if (*end != '\0' || tail_ms > 86400000ul) {
                fprintf(stderr, "sluice-replay: --tail: 0..86400000 ms\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    r->in_path = argv[optind];
    if (load(r) != 0)
        return 1;
    plan(r);

    sl_config cfg;
    sl_config_init(&cfg);
    if (secret_len > 0) {
        cfg.secret = secret;
        cfg.secret_len = (size_t)secret_len;
    } else {
        cfg.secret = g_default_secret;
        cfg.secret_len = sizeof g_default_secret;
    }
    cfg.any_ip = n_prefixes == 0;
    cfg.local_prefixes = prefixes;
    cfg.n_local_prefixes = n_prefixes;
    cfg.mtu = (uint16_t)mtu;
    cfg.allow_loopback = loopback;
    /* The recorded initiator never resends what the stack could not take:
     * a window as large as anything it may have had in flight. */
    cfg.tcp_rcvbuf = 4u << 20;
    cfg.mem_limit = (size_t)1 << 30;
    cfg.max_streams = 1u << 16;
    cfg.max_flows = 1u << 16;
    cfg.tx.send = on_tx;
    cfg.tx.ctx = r;
    cfg.filter = filter;
    cfg.filter_ctx = r;
    sl_allocator heap = sl_allocator_heap();
    sl_error err;
    r->s = sl_stack_new(&cfg, &heap, &err);
    if (r->s == NULL) {
        fprintf(stderr, "sluice-replay: sl_stack_new: %s\n", sl_strerror(err));
        return 2;
    }
    svc_init(&r->svc, r->s, services);
    r->svc.hooks.ctx = r;
    r->svc.hooks.on_read = hook_read;
    r->svc.hooks.on_write = hook_write;
    r->svc.hooks.on_dgram = hook_dgram;
    r->svc.hooks.on_release = hook_release;
    if (out_path != NULL) {
        r->dead = pcap_open_dead(DLT_RAW, 65535);
        r->dump = r->dead != NULL ? pcap_dump_open(r->dead, out_path) : NULL;
        if (r->dump == NULL) {
            fprintf(stderr, "sluice-replay: %s: %s\n", out_path,
                    r->dead != NULL ? pcap_geterr(r->dead) : "pcap_open_dead failed");
            return 2;
        }
    }

    run(r);
    if (r->npk > 0)
        advance(r, stack_time(r, r->pk[r->npk - 1].ts) + (sl_time)tail_ms * 1000u);
    settle(r);
    report(r, stdout);

    if (r->dump != NULL) {
        pcap_dump_close(r->dump);
        pcap_close(r->dead);
    }
    svc_free_all(&r->svc);
    sl_stack_free(r->s);
    for (size_t i = 0; i < r->npk; i++) {
        free(r->pk[i].ip);
        free(r->pk[i].dgram);
    }
    for (size_t i = 0; i < r->nfl; i++) {
        free(r->fl[i].rbuf);
        free(r->fl[i].rts.t);
        free(r->fl[i].rts.v);
        free(r->fl[i].sts.t);
        free(r->fl[i].sts.v);
    }
    free(r->pk);
    free(r->fl);
    free(r->fg);
    free(r->ftab);
    free(r->smap);
    free(r->dmap);
    return 0;
}
