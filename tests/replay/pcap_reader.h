/*
 * A tiny classic-pcap reader for the replay tests (not a general library):
 * both byte orders, microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d)
 * magic; link types Ethernet (1, with any number of 802.1Q/802.1ad tags),
 * raw IP (101, 228 = IPv4, 229 = IPv6) and Linux cooked capture (113).
 * The whole file is read into memory; records are bounds-checked.
 */
#ifndef SL_TEST_PCAP_READER_H
#define SL_TEST_PCAP_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_pcap {
    uint8_t *buf;
    size_t len;
    size_t off;
    int swapped;   /* file byte order differs from the magic as read LE */
    int nsec;      /* timestamps in nanoseconds                        */
    uint32_t linktype;
    uint32_t snaplen;
} sl_pcap;

typedef struct sl_pcap_rec {
    const uint8_t *data;
    uint32_t caplen;
    uint32_t wirelen;
    uint32_t ts_sec;
    uint32_t ts_frac; /* usec or nsec, see sl_pcap.nsec */
} sl_pcap_rec;

/* 0 on success; -1 with a message in err. */
int sl_pcap_open(sl_pcap *pc, const char *path, char *err, size_t errlen);
/* 1: a record, 0: clean end of file, -1: corrupt (message in err). */
int sl_pcap_next(sl_pcap *pc, sl_pcap_rec *r, char *err, size_t errlen);
void sl_pcap_close(sl_pcap *pc);

/* Offset of the IP header in a frame of `linktype`, or -1 when the frame
 * carries no IPv4/IPv6 (or is too short for its link header). */
long sl_pcap_l3_offset(uint32_t linktype, const uint8_t *d, size_t caplen);

#endif
