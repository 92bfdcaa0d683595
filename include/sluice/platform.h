/*
 * sluice — platform glue (Linux only, library `sluice_platform`).
 *
 * The core library never calls the operating system.  This small separate
 * library holds what a program needs to run a stack on a real device:
 *
 *   - a Linux TUN device (IFF_TUN | IFF_NO_PI: raw IPv4/IPv6 packets, no
 *     link header), non-blocking, with its MTU set and brought up;
 *   - batch read / write helpers for it;
 *   - a pcap writer (LINKTYPE_RAW) for every packet in and out, stamped
 *     with the stack's own time.
 *
 * Functions return 0 (or a count) on success and a negative errno value
 * on failure; nothing here prints.
 */
#ifndef SLUICE_PLATFORM_H
#define SLUICE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/alloc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest interface name including the NUL (IFNAMSIZ on Linux). */
#define SL_TUN_NAME_MAX 16

/* Open /dev/net/tun and create (or attach to, if it exists and is ours)
 * the TUN device `name` ("" or NULL: the kernel picks "tunN").  The fd is
 * non-blocking and close-on-exec.  The device's actual name is written to
 * `actual` (at least SL_TUN_NAME_MAX bytes, may be NULL).  Returns the fd,
 * or -errno (-ENOENT: no /dev/net/tun; -EPERM: no CAP_NET_ADMIN). */
int sl_tun_open(const char *name, char *actual, size_t actual_cap);

/* sl_tun_open with flags.  SL_TUN_VNET_HDR (IFF_VNET_HDR): every packet
 * read or written starts with a virtio-net header (sl_vnet_hdr,
 * SL_VNET_HDR_LEN bytes), which is how the kernel hands over, and takes,
 * packets whose checksum and segmentation it did not do (offloads, set
 * with sl_tun_set_offload). */
#define SL_TUN_VNET_HDR 0x1u
int sl_tun_open_ex(const char *name, char *actual, size_t actual_cap, unsigned flags);

/* What the reader of a SL_TUN_VNET_HDR device accepts (TUNSETOFFLOAD):
 * SL_TUN_OFF_CSUM packets with a partial checksum (the sender's kernel
 * left the TCP/UDP checksum to the device), SL_TUN_OFF_TSO4 / _TSO6 TCP
 * segments of up to 64 KiB that stand for many MSS-sized ones (the kernel
 * skips segmentation and checksumming; the reader must take big segments,
 * as sl_input_ex does).  0 or -errno (-EINVAL: not a vnet-header device,
 * or an offload the kernel does not know). */
#define SL_TUN_OFF_CSUM 0x1u
#define SL_TUN_OFF_TSO4 0x2u
#define SL_TUN_OFF_TSO6 0x4u
int sl_tun_set_offload(int fd, unsigned offloads);

/* The virtio-net header (virtio 1.x legacy layout, host byte order on a
 * little-endian host: the TUN default). */
#define SL_VNET_HDR_LEN 10
#define SL_VNET_F_NEEDS_CSUM 1u  /* checksum at csum_start+csum_offset is
                                    partial: the pseudo-header sum only   */
#define SL_VNET_F_DATA_VALID 2u  /* the checksum was verified            */
#define SL_VNET_GSO_NONE 0u
#define SL_VNET_GSO_TCPV4 1u
#define SL_VNET_GSO_TCPV6 4u
typedef struct sl_vnet_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;     /* IP + TCP header bytes of a GSO packet     */
    uint16_t gso_size;    /* payload bytes per segment                 */
    uint16_t csum_start;  /* NEEDS_CSUM: where the summing starts      */
    uint16_t csum_offset; /* ... and where the result goes, from there */
} sl_vnet_hdr;
/* Decode the SL_VNET_HDR_LEN bytes at p. */
void sl_vnet_hdr_get(const uint8_t *p, sl_vnet_hdr *h);
/* Write header h, then the packet, as one packet (writev).  0, -EAGAIN
 * when the device queue is full, or -errno. */
int sl_tun_write_vnet(int fd, const sl_vnet_hdr *h, const uint8_t *pkt, size_t len);

/* Multi-queue TUN (IFF_MULTI_QUEUE): open n queues (1..256) of the device
 * `name` ("" or NULL: the kernel picks), each a non-blocking close-on-exec
 * fd in fds[0..n-1].  The kernel spreads flows over the queues by a hash
 * of their addresses and ports, so each flow stays on one queue (one
 * sl_rt runtime per queue, include/sluice/runtime.h).  The device must not
 * exist as a single-queue device.  0 or -errno (nothing left open). */
int sl_tun_open_mq(const char *name, char *actual, size_t actual_cap, int *fds, int n);

/* Set the device's MTU (68..65535; ioctl SIOCSIFMTU).  0 or -errno. */
int sl_tun_set_mtu(const char *name, unsigned mtu);

/* Bring the device up (IFF_UP | IFF_RUNNING via SIOCSIFFLAGS).  0 or -errno. */
int sl_tun_set_up(const char *name);

/* One packet slot of a batch. */
typedef struct sl_pkt {
    uint8_t *buf;  /* caller's buffer                      */
    size_t cap;    /* its size (>= MTU)                    */
    size_t len;    /* read: bytes of the packet; write: in */
} sl_pkt;

/* Read up to n packets from the non-blocking fd into pkts[0..n-1].
 * Returns how many were read (0: none waiting), or -errno for a real
 * error (not EAGAIN/EINTR).  A packet larger than its slot is truncated
 * by the kernel; such packets come back with len == cap. */
int sl_tun_read_batch(int fd, sl_pkt *pkts, int n);

/* Write one packet.  0, -EAGAIN when the device queue is full, or -errno. */
int sl_tun_write(int fd, const uint8_t *pkt, size_t len);

/* Write pkts[0..n-1] in order; stops at the first failure.  Returns how
 * many were written, or -errno if the very first one failed. */
int sl_tun_write_batch(int fd, const sl_pkt *pkts, int n);

/* ---------------------------------------------------------------------- */
/* pcap tap                                                               */
/* ---------------------------------------------------------------------- */

typedef struct sl_pcap_tap sl_pcap_tap;

/* Create (truncate) a classic pcap file, LINKTYPE_RAW (101), microsecond
 * timestamps, snaplen 65535.  NULL on failure (errno set). */
sl_pcap_tap *sl_pcap_open(const char *path);

/* Append one packet with timestamp `t` (the stack's time, microseconds).
 * Returns 0, or -errno on a write error (later writes are then ignored). */
int sl_pcap_write(sl_pcap_tap *tap, const uint8_t *pkt, size_t len, sl_time t);

/* Packets written so far. */
uint64_t sl_pcap_count(const sl_pcap_tap *tap);

/* Flush and close; NULL is ignored.  Returns 0 or -errno. */
int sl_pcap_close(sl_pcap_tap *tap);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLATFORM_H */
