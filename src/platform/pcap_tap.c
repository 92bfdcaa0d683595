/*
 * A minimal pcap writer (include/sluice/platform.h): the classic libpcap
 * file format, written in host byte order (readers detect it from the
 * magic number), link type LINKTYPE_RAW (101: each record is one IPv4 or
 * IPv6 packet, the version nibble says which), microsecond timestamps
 * taken from the stack's time.
 */
#define _GNU_SOURCE 1

#include "sluice/platform.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_SNAPLEN 65535u
#define LINKTYPE_RAW 101u

struct sl_pcap_tap {
    FILE *f;
    uint64_t count;
    int err; /* first write error, sticky */
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* host order, as the magic says */
}

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

sl_pcap_tap *sl_pcap_open(const char *path)
{
    if (path == NULL) {
        errno = EINVAL;
        return NULL;
    }
    sl_pcap_tap *tap = calloc(1, sizeof *tap);
    if (tap == NULL)
        return NULL;
    tap->f = fopen(path, "wb");
    if (tap->f == NULL) {
        int e = errno;
        free(tap);
        errno = e;
        return NULL;
    }
    uint8_t h[24];
    put32(h, PCAP_MAGIC_USEC);
    put16(h + 4, 2);  /* version 2.4 */
    put16(h + 6, 4);
    put32(h + 8, 0);  /* thiszone */
    put32(h + 12, 0); /* sigfigs */
    put32(h + 16, PCAP_SNAPLEN);
    put32(h + 20, LINKTYPE_RAW);
    if (fwrite(h, sizeof h, 1, tap->f) != 1) {
        int e = errno;
        (void)fclose(tap->f);
        free(tap);
        errno = e;
        return NULL;
    }
    return tap;
}

int sl_pcap_write(sl_pcap_tap *tap, const uint8_t *pkt, size_t len, sl_time t)
{
    if (tap == NULL)
        return -EINVAL;
    if (tap->err != 0)
        return -tap->err;
    size_t cap = len > PCAP_SNAPLEN ? PCAP_SNAPLEN : len;
    uint8_t r[16];
    put32(r, (uint32_t)(t / 1000000u));
    put32(r + 4, (uint32_t)(t % 1000000u));
    put32(r + 8, (uint32_t)cap);
    put32(r + 12, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
    bool ok = fwrite(r, sizeof r, 1, tap->f) == 1;
    /* cppcheck-suppress knownConditionTrueFalse ; cap is len (<= 65535), 0 for an empty packet */
    if (ok && cap != 0)
        ok = fwrite(pkt, 1, cap, tap->f) == cap;
    if (!ok) {
        tap->err = errno != 0 ? errno : EIO;
        return -tap->err;
    }
    tap->count++;
    return 0;
}

uint64_t sl_pcap_count(const sl_pcap_tap *tap)
{
    return tap == NULL ? 0 : tap->count;
}

int sl_pcap_close(sl_pcap_tap *tap)
{
    if (tap == NULL)
        return 0;
    int rc = tap->err != 0 ? -tap->err : 0;
    if (fclose(tap->f) != 0 && rc == 0)
        rc = -errno;
    free(tap);
    return rc;
}
