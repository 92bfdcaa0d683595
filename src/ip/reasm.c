/*
 * IPv4 and IPv6 fragment reassembly.
 *
 * Model.  Each datagram being reassembled is one record holding its
 * fragments in a singly linked list sorted by offset.  Every fragment is one
 * allocation: a small node followed by its data; the offset-0 fragment also
 * keeps its header bytes in front of its data, so that node *is* the first
 * fragment as received (RFC 8200 §4.5 takes the unfragmentable part from
 * it; RFC 792 / RFC 4443 §3.3 quote it in Time Exceeded).
 *
 * Overlaps.  RFC 5722 §4: a fragment overlapping any held fragment discards
 * the whole datagram.  RFC 791 still allows IPv4 overlaps, but they only
 * serve evasion attacks (RFC 1858 §4, RFC 3128), so both families get the
 * RFC 5722 rule.  An exact duplicate (same offset, length and bytes, e.g.
 * a retransmission duplicated by the network) is dropped alone.
 *
 * Holes.  Because held fragments never overlap, RFC 815's hole descriptor
 * list reduces to a byte count: the datagram is complete when its end is
 * known (a fragment with MF = 0 / M = 0) and the held data adds up to that
 * end, since disjoint intervals inside [0, end) whose lengths sum to `end`
 * cover it.
 *
 * Accounting.  r->bytes is the sum of every allocation size made here
 * (records + fragment nodes + data + kept headers) and never exceeds
 * lim.max_bytes.
 *
 * Expiry.  Records form a FIFO in order of creation; the timeout is the
 * same for all of them, so the head is always the first to expire
 * (RFC 791 "timer", RFC 8200 §4.5: 60 s after the first fragment).
 */
#include "ip/reasm.h"

#include <string.h>

typedef struct frag {
    struct frag *next; /* sorted by start, disjoint                     */
    uint32_t start;    /* offset of the data in the datagram payload    */
    uint32_t len;      /* data bytes                                    */
    uint32_t hdr_len;  /* header bytes in front of the data (offset 0)  */
    uint8_t bytes[];   /* hdr_len header bytes, then len data bytes     */
} frag;

struct sl_reasm_dgram {
    struct sl_reasm_dgram *older, *newer; /* FIFO links                 */
    sl_time first_seen;
    frag *frags; /* sorted by start                               */
    frag *first; /* the offset-0 fragment, once held              */
    uint32_t nfrags;
    uint32_t have;    /* data bytes held (fragments are disjoint)      */
    uint32_t max_end; /* highest data end held, and the known end      */
    uint32_t end;     /* payload length, valid when has_end            */
    uint32_t limit;   /* largest payload end allowed (see frag_in)     */
    bool has_end;
    /* Key: RFC 791 §3.2 (src, dst, protocol, id); RFC 8200 §4.5
     * (src, dst, fragment identification). */
    uint8_t family; /* 4 or 6                                        */
    uint8_t proto;  /* IPv4 only                                     */
    uint32_t id;
    uint8_t src[16], dst[16];
    /* IPv6, from the offset-0 fragment: where the next-header byte naming
     * the Fragment header sits, and the Fragment header's next header. */
    uint32_t nh_pos;
    uint8_t frag_nh;
};

typedef struct sl_reasm_dgram dgram;

/* One fragment, family-independent. */
typedef struct frag_in {
    uint8_t family;
    uint8_t proto;
    uint32_t id;
    const uint8_t *src, *dst;
    size_t alen; /* 4 or 16                                    */
    uint32_t start, len;
    bool last;          /* MF = 0 / M = 0                             */
    const uint8_t *hdr; /* the packet start                           */
    uint32_t hdr_len;   /* header bytes kept if start == 0            */
    const uint8_t *data;
    /* Largest payload end the output header can describe with this
     * fragment's header: IPv4 total length = ihl*4 + payload <= 65535
     * (RFC 791 §3.1); IPv6 payload length = per-fragment headers +
     * payload <= 65535 (RFC 8200 §4.5). */
    uint32_t limit;
    uint32_t nh_pos; /* IPv6, offset-0 fragment only               */
    uint8_t frag_nh;
} frag_in;

#define MAX_PAYLOAD 65535u

void sl_reasm_init(sl_reasm *r, sl_mem *m, const sl_reasm_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->mem = m;
    r->lim = *lim;
}

static size_t frag_size(uint32_t hdr_len, uint32_t len)
{
    return sizeof(frag) + (size_t)hdr_len + (size_t)len;
}

/* Unlink `d` from the FIFO and free it with all its fragments. */
static void dgram_free(sl_reasm *r, dgram *d)
{
    if (d->older != NULL)
        d->older->newer = d->newer;
    else
        r->oldest = d->newer;
    if (d->newer != NULL)
        d->newer->older = d->older;
    else
        r->newest = d->older;
    frag *f = d->frags;
    while (f != NULL) {
        frag *next = f->next;
        size_t sz = frag_size(f->hdr_len, f->len);
        r->bytes -= sz;
        sl_mem_free(r->mem, f, sz);
        f = next;
    }
    r->bytes -= sizeof(dgram);
    sl_mem_free(r->mem, d, sizeof(dgram));
    r->n_dgrams--;
}

void sl_reasm_fini(sl_reasm *r)
{
    while (r->oldest != NULL)
        dgram_free(r, r->oldest);
}

/* Linear scan, bounded by lim.max_datagrams (a handful to a few hundred in
 * practice).  Newest first: fragments of one datagram tend to arrive
 * together. */
static dgram *find(const sl_reasm *r, const frag_in *f)
{
    for (dgram *d = r->newest; d != NULL; d = d->older) {
        if (d->id == f->id && d->family == f->family && d->proto == f->proto &&
            memcmp(d->src, f->src, f->alen) == 0 && memcmp(d->dst, f->dst, f->alen) == 0)
            return d;
    }
    return NULL;
}

/* r->bytes + need would stay within max_bytes (overflow-safe: r->bytes
 * never exceeds max_bytes). */
static bool bytes_fit(const sl_reasm *r, size_t need)
{
    return r->bytes <= r->lim.max_bytes && need <= r->lim.max_bytes - r->bytes;
}

static frag *frag_new(sl_reasm *r, const frag_in *f)
{
    uint32_t hl = f->start == 0 ? f->hdr_len : 0;
    frag *n = sl_mem_alloc(r->mem, frag_size(hl, f->len));
    if (n == NULL)
        return NULL;
    n->next = NULL;
    n->start = f->start;
    n->len = f->len;
    n->hdr_len = hl;
    if (hl > 0)
        memcpy(n->bytes, f->hdr, hl);
    if (f->len > 0)
        memcpy(n->bytes + hl, f->data, f->len);
    return n;
}

/* Link fragment `n` after `prev` (NULL: at the head) and update the
 * record.  r->bytes was checked by the caller. */
static void frag_link(sl_reasm *r, dgram *d, frag *prev, frag *n, const frag_in *f)
{
    if (prev == NULL) {
        n->next = d->frags;
        d->frags = n;
    } else {
        n->next = prev->next;
        prev->next = n;
    }
    r->bytes += frag_size(n->hdr_len, n->len);
    d->nfrags++;
    d->have += n->len;
    if (n->start + n->len > d->max_end)
        d->max_end = n->start + n->len;
    if (n->start == 0) {
        d->first = n;
        d->limit = f->limit;
        d->nh_pos = f->nh_pos;
        d->frag_nh = f->frag_nh;
    }
}

static void set_end(dgram *d, const frag_in *f)
{
    uint32_t end = f->start + f->len;
    d->has_end = true;
    d->end = end;
    if (end > d->max_end)
        d->max_end = end;
}

/* Write the reassembled packet (RFC 791 §3.2 / RFC 8200 §4.5) and free
 * the record.  Returns the length written (caller checked out_cap). */
static size_t build(sl_reasm *r, dgram *d, uint8_t *out)
{
    const frag *first = d->first;
    size_t base;
    if (d->family == 4) {
        base = first->hdr_len;
        memcpy(out, first->bytes, base);
    } else {
        base = (size_t)first->hdr_len - 8; /* drop the Fragment header */
        memcpy(out, first->bytes, base);
    }
    for (const frag *f = d->frags; f != NULL; f = f->next) {
        if (f->len > 0)
            memcpy(out + base + f->start, f->bytes + f->hdr_len, f->len);
    }
    size_t total = base + d->end;
    if (d->family == 4) {
        /* Total length, MF 0 and offset 0 (keep RF and DF), then the
         * header checksum over the new header (RFC 791 §3.1). */
        sl_store16(out + 2, (uint16_t)total);
        sl_store16(out + 6, (uint16_t)(sl_load16(out + 6) & 0xc000u));
        sl_store16(out + 10, 0);
        sl_store16(out + 10, sl_csum(out, base));
    } else {
        /* The header that named the Fragment header now names what the
         * Fragment header named; the payload length covers the
         * per-fragment headers and the reassembled data. */
        out[d->nh_pos] = d->frag_nh;
        sl_store16(out + 4, (uint16_t)(total - SL_IPV6_HDR_LEN));
    }
    r->st.completed++;
    dgram_free(r, d);
    return total;
}

/* Complete when the end is known and the (disjoint) data adds up to it. */
static sl_error try_complete(sl_reasm *r, dgram *d, uint8_t *out, size_t *out_len)
{
    if (d->has_end && d->first != NULL && d->have == d->end) {
        *out_len = build(r, d, out);
        return SL_OK;
    }
    return SL_ERR_AGAIN;
}

static sl_error frag_input(sl_reasm *r, const frag_in *f, sl_time now, uint8_t *out,
                           size_t *out_len)
{
    uint32_t end = f->start + f->len; /* <= 2 * 65535, no overflow */
    dgram *d = find(r, f);

    /* Size (RFC 791 §3.1 total length; RFC 8200 §4.5 payload length). */
    uint32_t limit = d != NULL ? d->limit : MAX_PAYLOAD;
    if (f->start == 0 && f->limit < limit)
        limit = f->limit;
    if (end > limit || (d != NULL && d->max_end > limit)) {
        if (d != NULL)
            dgram_free(r, d);
        r->st.too_big++;
        return SL_ERR_FRAG_TOO_BIG;
    }

    if (d != NULL) {
        /* Ends (RFC 8200 §4.5; RFC 791): one end only, and nothing past it. */
        bool bad;
        if (f->last)
            bad = (d->has_end && d->end != end) || d->max_end > end;
        else
            bad = d->has_end && end > d->end;
        if (bad) {
            dgram_free(r, d);
            r->st.inconsistent++;
            return SL_ERR_FRAG_INCONSISTENT;
        }
    }

    /* A fragment without data and with more to come adds nothing: ignore
     * it rather than let it cost a record or a fragment slot.  (Offset-0
     * first fragments always carry data in practice: RFC 8200 §4.5 wants
     * the upper-layer header in the first fragment.) */
    if (f->len == 0 && !f->last)
        return SL_ERR_AGAIN;

    frag *prev = NULL;
    if (d != NULL && f->len > 0) {
        /* Overlap (RFC 5722 §4): held fragments are sorted and disjoint,
         * so only the neighbours of the insertion point can overlap. */
        frag *next = d->frags;
        while (next != NULL && next->start < f->start) {
            prev = next;
            next = next->next;
        }
        if (next != NULL && next->start == f->start && next->len == f->len &&
            memcmp(next->bytes + next->hdr_len, f->data, f->len) == 0) {
            /* Same bytes; if this copy says "last" it still tells us the
             * end (checked consistent above). */
            r->st.duplicates++;
            if (f->last && !d->has_end) {
                set_end(d, f);
                return try_complete(r, d, out, out_len);
            }
            return SL_ERR_AGAIN;
        }
        if ((prev != NULL && prev->start + prev->len > f->start) ||
            (next != NULL && next->start < end)) {
            dgram_free(r, d);
            r->st.overlaps++;
            return SL_ERR_FRAG_OVERLAP;
        }
    } else if (d != NULL) {
        /* A data-less last fragment: its end was checked above. */
        if (d->has_end) {
            r->st.duplicates++;
            return SL_ERR_AGAIN;
        }
        set_end(d, f);
        return try_complete(r, d, out, out_len);
    }

    /* Limits: refuse this fragment, disturb nothing. */
    size_t need = f->len > 0 ? frag_size(f->start == 0 ? f->hdr_len : 0, f->len) : 0;
    if (d == NULL) {
        if (r->n_dgrams >= r->lim.max_datagrams || r->lim.max_frags == 0 ||
            !bytes_fit(r, sizeof(dgram) + need)) {
            r->st.limit_drops++;
            return SL_ERR_FRAG_LIMIT;
        }
    } else if (d->nfrags >= r->lim.max_frags || !bytes_fit(r, need)) {
        r->st.limit_drops++;
        return SL_ERR_FRAG_LIMIT;
    }

    /* Allocate everything before changing anything. */
    dgram *nd = NULL;
    if (d == NULL) {
        nd = sl_mem_alloc(r->mem, sizeof(dgram));
        if (nd == NULL) {
            r->st.nomem++;
            return SL_ERR_NOMEM;
        }
    }
    frag *n = NULL;
    if (f->len > 0) {
        n = frag_new(r, f);
        if (n == NULL) {
            sl_mem_free(r->mem, nd, sizeof(dgram));
            r->st.nomem++;
            return SL_ERR_NOMEM;
        }
    }

    if (nd != NULL) {
        memset(nd, 0, sizeof *nd);
        nd->first_seen = now;
        nd->limit = MAX_PAYLOAD;
        nd->family = f->family;
        nd->proto = f->proto;
        nd->id = f->id;
        memcpy(nd->src, f->src, f->alen);
        memcpy(nd->dst, f->dst, f->alen);
        nd->older = r->newest;
        if (r->newest != NULL)
            r->newest->newer = nd;
        else
            r->oldest = nd;
        r->newest = nd;
        r->n_dgrams++;
        r->bytes += sizeof(dgram);
        d = nd;
    }
    if (n != NULL)
        frag_link(r, d, prev, n, f);
    if (f->last)
        set_end(d, f);

    return try_complete(r, d, out, out_len);
}

sl_error sl_reasm_input4(sl_reasm *r, const uint8_t *pkt, const sl_ipv4_hdr *h, sl_time now,
                         uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (out == NULL || out_len == NULL || out_cap < SL_REASM_OUT_MAX)
        return SL_ERR_INVAL;
    if (!h->mf && h->frag_off == 0)
        return SL_ERR_INVAL;
    size_t hl = (size_t)h->ihl * 4;
    if (h->ihl < 5 || h->payload != pkt + hl)
        return SL_ERR_INVAL;
    if (h->payload_len > MAX_PAYLOAD || h->frag_off > 0x1fffu) {
        r->st.too_big++;
        return SL_ERR_FRAG_TOO_BIG;
    }
    frag_in f;
    memset(&f, 0, sizeof f);
    f.family = 4;
    f.proto = h->proto;
    f.id = h->id;
    f.src = h->src;
    f.dst = h->dst;
    f.alen = 4;
    f.start = (uint32_t)h->frag_off * 8;
    f.len = (uint32_t)h->payload_len;
    f.last = !h->mf;
    f.hdr = pkt;
    f.hdr_len = (uint32_t)hl;
    f.data = h->payload;
    f.limit = MAX_PAYLOAD - (uint32_t)hl;
    return frag_input(r, &f, now, out, out_len);
}

/* Find the byte that names the Fragment header: the IPv6 header's next
 * header when the unfragmentable part is the bare header, else the first
 * byte of the last extension header before it.  The parser validated the
 * chain; this walk re-checks its bounds anyway (RFC 8200 §4). */
static bool v6_nh_pos(const uint8_t *pkt, size_t unfrag_len, uint32_t *pos)
{
    size_t p = 6;
    size_t off = SL_IPV6_HDR_LEN;
    unsigned n = 0;
    while (off < unfrag_len) {
        uint8_t nh = pkt[p];
        if (n >= SL_IPV6_MAX_EXT || unfrag_len - off < 8 ||
            (nh != SL_IPPROTO_HOPOPTS && nh != SL_IPPROTO_ROUTING && nh != SL_IPPROTO_DSTOPTS))
            return false;
        n++;
        p = off;
        off += ((size_t)pkt[off + 1] + 1) * 8;
    }
    if (off != unfrag_len || pkt[p] != SL_IPPROTO_FRAGMENT)
        return false;
    *pos = (uint32_t)p;
    return true;
}

sl_error sl_reasm_input6(sl_reasm *r, const uint8_t *pkt, const sl_ipv6_hdr *h, sl_time now,
                         uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (out == NULL || out_len == NULL || out_cap < SL_REASM_OUT_MAX)
        return SL_ERR_INVAL;
    if (!h->is_fragment || h->unfrag_len < SL_IPV6_HDR_LEN ||
        h->unfrag_len > MAX_PAYLOAD + SL_IPV6_HDR_LEN || h->payload != pkt + h->unfrag_len + 8)
        return SL_ERR_INVAL;
    if (h->payload_len > MAX_PAYLOAD || h->frag_off > 0x1fffu) {
        r->st.too_big++;
        return SL_ERR_FRAG_TOO_BIG;
    }
    frag_in f;
    memset(&f, 0, sizeof f);
    f.family = 6;
    f.id = h->frag_id;
    f.src = h->src;
    f.dst = h->dst;
    f.alen = 16;
    f.start = (uint32_t)h->frag_off * 8;
    f.len = (uint32_t)h->payload_len;
    f.last = !h->frag_more;
    f.hdr = pkt;
    f.hdr_len = (uint32_t)h->unfrag_len + 8; /* kept with the Fragment header */
    f.data = h->payload;
    f.limit = MAX_PAYLOAD - (uint32_t)(h->unfrag_len - SL_IPV6_HDR_LEN);
    f.frag_nh = h->proto;
    if (f.start == 0 && !v6_nh_pos(pkt, h->unfrag_len, &f.nh_pos))
        return SL_ERR_INVAL;
    return frag_input(r, &f, now, out, out_len);
}

/* now - first_seen >= timeout, without wrapping. */
static bool expired(const sl_reasm *r, const dgram *d, sl_time now)
{
    return now >= d->first_seen && now - d->first_seen >= r->lim.timeout;
}

sl_error sl_reasm_expire(sl_reasm *r, sl_time now, uint8_t *out, size_t out_cap, size_t *out_len)
{
    dgram *d = r->oldest;
    if (d == NULL || !expired(r, d, now))
        return SL_ERR_AGAIN;
    size_t n = 0;
    if (d->first != NULL && out != NULL) {
        n = (size_t)d->first->hdr_len + d->first->len;
        if (n > out_cap)
            n = out_cap;
        memcpy(out, d->first->bytes, n);
    }
    if (out_len != NULL)
        *out_len = n;
    r->st.timed_out++;
    dgram_free(r, d);
    return SL_OK;
}

sl_time sl_reasm_next_expiry(const sl_reasm *r)
{
    const dgram *d = r->oldest;
    if (d == NULL)
        return SL_TIME_NEVER;
    if (r->lim.timeout >= SL_TIME_NEVER - d->first_seen)
        return SL_TIME_NEVER;
    return d->first_seen + r->lim.timeout;
}
