/*
 * Linux TUN device glue (include/sluice/platform.h).  Not part of the core
 * library: this is the only place that talks to the kernel for a device.
 *
 * The device is opened with IFF_TUN | IFF_NO_PI, so each read() returns
 * exactly one IPv4 or IPv6 packet and each write() injects one, with no
 * 4-byte packet-information prefix.  There is no batched syscall for a
 * TUN fd (no recvmmsg on a character device), so the batch helpers loop
 * over read()/write() until the queue is empty or the batch is full.
 */
#define _GNU_SOURCE 1

#include "sluice/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void copy_name(char *dst, const char *src)
{
    memset(dst, 0, IFNAMSIZ);
    if (src != NULL) {
        size_t n = strlen(src);
        if (n >= IFNAMSIZ)
            n = IFNAMSIZ - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
}

int sl_tun_open(const char *name, char *actual, size_t actual_cap)
{
    return sl_tun_open_ex(name, actual, actual_cap, 0);
}

int sl_tun_open_ex(const char *name, char *actual, size_t actual_cap, unsigned flags)
{
    if ((name != NULL && strlen(name) >= IFNAMSIZ) || (flags & ~SL_TUN_VNET_HDR) != 0)
        return -EINVAL;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if ((flags & SL_TUN_VNET_HDR) != 0)
        ifr.ifr_flags |= IFF_VNET_HDR;
    copy_name(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (actual != NULL && actual_cap > 0) {
        size_t n = strnlen(ifr.ifr_name, IFNAMSIZ);
        if (n >= actual_cap)
            n = actual_cap - 1;
        memcpy(actual, ifr.ifr_name, n);
        actual[n] = '\0';
    }
    return fd;
}

int sl_tun_open_mq(const char *name, char *actual, size_t actual_cap, int *fds, int n)
{
    if (fds == NULL || n < 1 || n > 256 || (name != NULL && strlen(name) >= IFNAMSIZ))
        return -EINVAL;
    char dev[IFNAMSIZ];
    copy_name(dev, name);
    for (int i = 0; i < n; i++) {
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
        memcpy(ifr.ifr_name, dev, IFNAMSIZ);
        if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            while (i-- > 0)
                close(fds[i]);
            return -e;
        }
        memcpy(dev, ifr.ifr_name, IFNAMSIZ); /* the kernel's name for the next queues */
        dev[IFNAMSIZ - 1] = '\0';
        fds[i] = fd;
    }
    if (actual != NULL && actual_cap > 0) {
        size_t len = strnlen(dev, IFNAMSIZ);
        if (len >= actual_cap)
            len = actual_cap - 1;
        memcpy(actual, dev, len);
        actual[len] = '\0';
    }
    return 0;
}

/* Interface ioctls go through any socket of the current network namespace. */
static int ctl_socket(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return s < 0 ? -errno : s;
}

int sl_tun_set_mtu(const char *name, unsigned mtu)
{
    if (name == NULL || strlen(name) >= IFNAMSIZ || mtu < 68 || mtu > 65535)
        return -EINVAL;
    int s = ctl_socket();
    if (s < 0)
        return s;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    copy_name(ifr.ifr_name, name);
    ifr.ifr_mtu = (int)mtu;
    int rc = ioctl(s, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
    close(s);
    return rc;
}

int sl_tun_set_up(const char *name)
{
    if (name == NULL || strlen(name) >= IFNAMSIZ)
        return -EINVAL;
    int s = ctl_socket();
    if (s < 0)
        return s;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    copy_name(ifr.ifr_name, name);
    int rc = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
    } else {
        ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            rc = -errno;
    }
    close(s);
    return rc;
}

int sl_tun_read_batch(int fd, sl_pkt *pkts, int n)
{
    int got = 0;
    while (got < n) {
        ssize_t r = read(fd, pkts[got].buf, pkts[got].cap);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return got > 0 ? got : -errno;
        }
        if (r == 0)
            break; /* never for a TUN fd; be safe */
        pkts[got].len = (size_t)r;
        got++;
    }
    return got;
}

int sl_tun_set_offload(int fd, unsigned offloads)
{
    if ((offloads & ~(SL_TUN_OFF_CSUM | SL_TUN_OFF_TSO4 | SL_TUN_OFF_TSO6)) != 0)
        return -EINVAL;
    unsigned long f = 0;
    if ((offloads & SL_TUN_OFF_CSUM) != 0)
        f |= TUN_F_CSUM;
    if ((offloads & SL_TUN_OFF_TSO4) != 0)
        f |= TUN_F_TSO4;
    if ((offloads & SL_TUN_OFF_TSO6) != 0)
        f |= TUN_F_TSO6;
    return ioctl(fd, TUNSETOFFLOAD, f) < 0 ? -errno : 0;
}

/* One packet from n pieces, retried on EINTR: 0, -EAGAIN, -errno. */
static int write_iov(int fd, const struct iovec *iov, int n)
{
    for (int tries = 0; tries < 8; tries++) {
        ssize_t w = writev(fd, iov, n);
        if (w >= 0)
            return 0;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    return -EINTR;
}

void sl_vnet_hdr_get(const uint8_t *p, sl_vnet_hdr *h)
{
    h->flags = p[0];
    h->gso_type = p[1];
    memcpy(&h->hdr_len, p + 2, 2); /* host order (TUN's default on LE) */
    memcpy(&h->gso_size, p + 4, 2);
    memcpy(&h->csum_start, p + 6, 2);
    memcpy(&h->csum_offset, p + 8, 2);
}

int sl_tun_write_vnet(int fd, const sl_vnet_hdr *h, const uint8_t *pkt, size_t len)
{
    uint8_t hb[SL_VNET_HDR_LEN];
    hb[0] = h->flags;
    hb[1] = h->gso_type;
    memcpy(hb + 2, &h->hdr_len, 2);
    memcpy(hb + 4, &h->gso_size, 2);
    memcpy(hb + 6, &h->csum_start, 2);
    memcpy(hb + 8, &h->csum_offset, 2);
    struct iovec iov[2] = {{hb, sizeof hb}, {(void *)(uintptr_t)pkt, len}};
    return write_iov(fd, iov, 2);
}

int sl_tun_write(int fd, const uint8_t *pkt, size_t len)
{
    struct iovec iov = {(void *)(uintptr_t)pkt, len};
    return write_iov(fd, &iov, 1);
}

int sl_tun_write_batch(int fd, const sl_pkt *pkts, int n)
{
    int done = 0;
    while (done < n) {
        int rc = sl_tun_write(fd, pkts[done].buf, pkts[done].len);
        if (rc < 0)
            return done > 0 ? done : rc;
        done++;
    }
    return done;
}
