/*
 * TCP header (RFC 9293 §3.1) and options: MSS (RFC 9293 §3.2, RFC 6691),
 * window scale and timestamps (RFC 7323 §2.2, §3.2), SACK-permitted and
 * SACK (RFC 2018 §2, §3).
 */
#include "sluice/wire.h"

#include <string.h>

enum {
    OPT_EOL = 0,
    OPT_NOP = 1,
    OPT_MSS = 2,
    OPT_WS = 3,
    OPT_SACK_PERM = 4,
    OPT_SACK = 5,
    OPT_TS = 8
};

enum { LEN_MSS = 4, LEN_WS = 3, LEN_SACK_PERM = 2, LEN_TS = 10 };

sl_error sl_tcp_opts_parse(const uint8_t *p, size_t n, sl_tcp_opts *o)
{
    memset(o, 0, sizeof *o);
    size_t i = 0;
    while (i < n) {
        uint8_t kind = p[i];
        if (kind == OPT_EOL)
            break;
        if (kind == OPT_NOP) {
            i++;
            continue;
        }
        /* RFC 9293 §3.1: every other option has a length octet counting
         * kind and length; < 2 would never advance, past the end lies. */
        if (n - i < 2)
            return SL_ERR_TCP_OPT_LEN;
        size_t olen = p[i + 1];
        if (olen < 2 || olen > n - i)
            return SL_ERR_TCP_OPT_LEN;
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case OPT_MSS:
            if (olen != LEN_MSS)
                return SL_ERR_TCP_OPT_FIXED;
            o->has_mss = true;
            o->mss = sl_load16(v);
            break;
        case OPT_WS:
            if (olen != LEN_WS)
                return SL_ERR_TCP_OPT_FIXED;
            o->has_wscale = true;
            o->wscale = v[0];
            break;
        case OPT_SACK_PERM:
            if (olen != LEN_SACK_PERM)
                return SL_ERR_TCP_OPT_FIXED;
            o->sack_perm = true;
            break;
        case OPT_SACK: {
            /* RFC 2018 §3: 2 + 8n bytes, n = 1..4 (this function is public:
             * do not rely on the caller's 40-byte area). */
            if (olen < 10 || (olen - 2) % 8 != 0 || (olen - 2) / 8 > SL_TCP_MAX_SACK)
                return SL_ERR_TCP_OPT_FIXED;
            size_t nb = (olen - 2) / 8;
            for (size_t b = 0; b < nb; b++) {
                o->sack[b].left = sl_load32(v + 8 * b);
                o->sack[b].right = sl_load32(v + 8 * b + 4);
            }
            o->n_sack = (uint8_t)nb;
            break;
        }
        case OPT_TS:
            if (olen != LEN_TS)
                return SL_ERR_TCP_OPT_FIXED;
            o->has_ts = true;
            o->ts_val = sl_load32(v);
            o->ts_ecr = sl_load32(v + 4);
            break;
        default:
            if (o->n_unknown < UINT8_MAX)
                o->n_unknown++;
            break;
        }
        i += olen;
    }
    return SL_OK;
}

sl_error sl_tcp_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_tcp_hdr *h)
{
    if (len < SL_TCP_HDR_MIN)
        return SL_ERR_TRUNCATED;
    h->doff = p[12] >> 4;
    if (h->doff < 5)
        return SL_ERR_TCP_OFFSET;
    size_t hlen = (size_t)h->doff * 4;
    if (hlen > len)
        return SL_ERR_TCP_HDR_TRUNC;
    if (ph != NULL) {
        uint32_t s;
        if (ph->family == 4) {
            if (len > 65535u)
                return SL_ERR_INVAL;
            s = sl_csum_pseudo4(ph->src, ph->dst, SL_IPPROTO_TCP, (uint16_t)len);
        } else if (ph->family == 6) {
            s = sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_TCP, (uint32_t)len);
        } else {
            return SL_ERR_INVAL;
        }
        if (sl_csum_finish(sl_csum_partial(p, len, s)) != 0)
            return SL_ERR_TCP_CHECKSUM;
    }
    h->sport = sl_load16(p);
    h->dport = sl_load16(p + 2);
    h->seq = sl_load32(p + 4);
    h->ack = sl_load32(p + 8);
    h->reserved = p[12] & 0x0f;
    h->flags = p[13];
    h->window = sl_load16(p + 14);
    h->checksum = sl_load16(p + 16);
    h->urgent = sl_load16(p + 18);
    h->opts = p + SL_TCP_HDR_MIN;
    h->opts_len = hlen - SL_TCP_HDR_MIN;
    sl_error e = sl_tcp_opts_parse(h->opts, h->opts_len, &h->o);
    if (e != SL_OK)
        return e;
    h->payload = p + hlen;
    h->payload_len = len - hlen;
    return SL_OK;
}

size_t sl_tcp_urgent_len(const sl_tcp_hdr *h)
{
    if ((h->flags & SL_TCP_URG) == 0)
        return 0;
    return h->urgent < h->payload_len ? h->urgent : h->payload_len;
}

/* Write the options of `o` to out (room for 64 bytes), NOP-aligned in the
 * layout common stacks use, or packed; pad with EOL/zero to a multiple of
 * 4.  Returns the padded length. */
static size_t build_opts(const sl_tcp_opts *o, bool packed, uint8_t *out)
{
    size_t n = 0;
    if (o->has_mss) {
        out[n++] = OPT_MSS;
        out[n++] = LEN_MSS;
        sl_store16(out + n, o->mss);
        n += 2;
    }
    if (o->sack_perm) {
        if (!packed && !o->has_ts) {
            out[n++] = OPT_NOP;
            out[n++] = OPT_NOP;
        }
        out[n++] = OPT_SACK_PERM;
        out[n++] = LEN_SACK_PERM;
    }
    if (o->has_ts) {
        if (!packed && !o->sack_perm) {
            out[n++] = OPT_NOP;
            out[n++] = OPT_NOP;
        }
        out[n++] = OPT_TS;
        out[n++] = LEN_TS;
        sl_store32(out + n, o->ts_val);
        sl_store32(out + n + 4, o->ts_ecr);
        n += 8;
    }
    if (o->has_wscale) {
        if (!packed)
            out[n++] = OPT_NOP;
        out[n++] = OPT_WS;
        out[n++] = LEN_WS;
        out[n++] = o->wscale;
    }
    if (o->n_sack > 0) {
        if (!packed) {
            out[n++] = OPT_NOP;
            out[n++] = OPT_NOP;
        }
        out[n++] = OPT_SACK;
        out[n++] = (uint8_t)(2 + 8 * o->n_sack);
        for (size_t b = 0; b < o->n_sack; b++) {
            sl_store32(out + n, o->sack[b].left);
            sl_store32(out + n + 4, o->sack[b].right);
            n += 8;
        }
    }
    while (n % 4 != 0)
        out[n++] = OPT_EOL;
    return n;
}

/* Emitted options into out[64]: aligned when that fits, else packed. */
static size_t layout_opts(const sl_tcp_opts *o, uint8_t *out, sl_error *err)
{
    *err = SL_OK;
    if (o->n_sack > SL_TCP_MAX_SACK) {
        *err = SL_ERR_INVAL;
        return 0;
    }
    size_t n = build_opts(o, false, out);
    if (n > SL_TCP_OPT_MAX)
        n = build_opts(o, true, out);
    if (n > SL_TCP_OPT_MAX) {
        *err = SL_ERR_TCP_OPT_SPACE;
        return 0;
    }
    return n;
}

size_t sl_tcp_opts_len(const sl_tcp_opts *o, sl_error *err)
{
    uint8_t scratch[64];
    return layout_opts(o, scratch, err);
}

size_t sl_tcp_emit_len(const sl_tcp_hdr *h)
{
    sl_error err;
    size_t n = sl_tcp_opts_len(&h->o, &err);
    if (err != SL_OK || h->payload_len > 65535u)
        return 0;
    return SL_TCP_HDR_MIN + n + h->payload_len;
}

sl_error sl_tcp_emit(const sl_tcp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                     size_t *written)
{
    uint8_t opts[64];
    sl_error err;
    size_t olen = layout_opts(&h->o, opts, &err);
    if (err != SL_OK)
        return err;
    size_t hlen = SL_TCP_HDR_MIN + olen;
    if (h->payload_len > 65535u - hlen || (ph != NULL && ph->family != 4 && ph->family != 6))
        return SL_ERR_INVAL;
    size_t total = hlen + h->payload_len;
    if (cap < total)
        return SL_ERR_BUFSZ;
    if (h->payload != NULL && h->payload_len > 0)
        memmove(buf + hlen, h->payload, h->payload_len);
    sl_store16(buf, h->sport);
    sl_store16(buf + 2, h->dport);
    sl_store32(buf + 4, h->seq);
    sl_store32(buf + 8, h->ack);
    buf[12] = (uint8_t)((hlen / 4) << 4 | (h->reserved & 0x0fu));
    buf[13] = h->flags;
    sl_store16(buf + 14, h->window);
    sl_store16(buf + 16, 0);
    sl_store16(buf + 18, h->urgent);
    memcpy(buf + SL_TCP_HDR_MIN, opts, olen);
    if (ph != NULL) {
        uint32_t s = ph->family == 4
                         ? sl_csum_pseudo4(ph->src, ph->dst, SL_IPPROTO_TCP, (uint16_t)total)
                         : sl_csum_pseudo6(ph->src, ph->dst, SL_IPPROTO_TCP, (uint32_t)total);
        sl_store16(buf + 16, sl_csum_finish(sl_csum_partial(buf, total, s)));
    }
    *written = total;
    return SL_OK;
}
