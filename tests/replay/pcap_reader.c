#define _POSIX_C_SOURCE 200809L

#include "pcap_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const sl_pcap *pc, const uint8_t *p)
{
    uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                  (uint32_t)p[3] << 24;
    uint32_t be = (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
                  (uint32_t)p[0] << 24;
    return pc->swapped ? be : le;
}

int sl_pcap_open(sl_pcap *pc, const char *path, char *err, size_t errlen)
{
    memset(pc, 0, sizeof *pc);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (pc->len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(pc->buf, cap);
            if (nb == NULL)
                abort();
            pc->buf = nb;
        }
        size_t got = fread(pc->buf + pc->len, 1, cap - pc->len, f);
        if (got == 0)
            break;
        pc->len += got;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        snprintf(err, errlen, "read error on %s", path);
        return -1;
    }
    if (pc->len < 24) {
        snprintf(err, errlen, "%s: shorter than a pcap global header", path);
        return -1;
    }
    const uint8_t *h = pc->buf;
    uint32_t magic_le = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                        (uint32_t)h[3] << 24;
    switch (magic_le) {
    case 0xa1b2c3d4u: pc->swapped = 0; pc->nsec = 0; break;
    case 0xd4c3b2a1u: pc->swapped = 1; pc->nsec = 0; break;
    case 0xa1b23c4du: pc->swapped = 0; pc->nsec = 1; break;
    case 0x4d3cb2a1u: pc->swapped = 1; pc->nsec = 1; break;
    default:
        snprintf(err, errlen, "%s: not a classic pcap (magic %08lx)", path,
                 (unsigned long)magic_le);
        return -1;
    }
    pc->snaplen = rd32(pc, h + 16);
    pc->linktype = rd32(pc, h + 20) & 0x0fffffffu; /* upper bits: FCS info */
    pc->off = 24;
    return 0;
}

int sl_pcap_next(sl_pcap *pc, sl_pcap_rec *r, char *err, size_t errlen)
{
    if (pc->off == pc->len)
        return 0;
    if (pc->len - pc->off < 16) {
        snprintf(err, errlen, "truncated record header at offset %zu", pc->off);
        return -1;
    }
    const uint8_t *h = pc->buf + pc->off;
    r->ts_sec = rd32(pc, h);
    r->ts_frac = rd32(pc, h + 4);
    r->caplen = rd32(pc, h + 8);
    r->wirelen = rd32(pc, h + 12);
    if (r->caplen > pc->len - pc->off - 16) {
        snprintf(err, errlen, "record at offset %zu: caplen %lu past end of file", pc->off,
                 (unsigned long)r->caplen);
        return -1;
    }
    if (r->caplen > r->wirelen) {
        snprintf(err, errlen, "record at offset %zu: caplen %lu > wire length %lu", pc->off,
                 (unsigned long)r->caplen, (unsigned long)r->wirelen);
        return -1;
    }
    r->data = h + 16;
    pc->off += 16 + (size_t)r->caplen;
    return 1;
}

void sl_pcap_close(sl_pcap *pc)
{
    free(pc->buf);
    memset(pc, 0, sizeof *pc);
}

static int is_ip_ethertype(unsigned et)
{
    return et == 0x0800 || et == 0x86dd;
}

long sl_pcap_l3_offset(uint32_t linktype, const uint8_t *d, size_t caplen)
{
    switch (linktype) {
    case 1: { /* Ethernet */
        size_t off = 12;
        for (;;) {
            if (caplen < off + 2)
                return -1;
            unsigned et = (unsigned)d[off] << 8 | d[off + 1];
            if (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
                off += 4; /* TPID + TCI, then the inner type */
                continue;
            }
            return is_ip_ethertype(et) ? (long)(off + 2) : -1;
        }
    }
    case 101: /* LINKTYPE_RAW */
    case 228: /* LINKTYPE_IPV4 */
    case 229: /* LINKTYPE_IPV6 */
        return 0;
    case 113: { /* Linux cooked (SLL) */
        if (caplen < 16)
            return -1;
        unsigned proto = (unsigned)d[14] << 8 | d[15];
        return is_ip_ethertype(proto) ? 16 : -1;
    }
    default:
        return -1;
    }
}
