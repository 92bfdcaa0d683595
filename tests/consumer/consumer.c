/*
 * A program that uses an *installed* sluice, the way a third party would:
 * only <sluice/sluice.h> and -lsluice (found via pkg-config or
 * find_package(sluice)).  Built and run by tests/consumer/consumer_test.cmake.
 *
 * Parses a hard-coded IPv4/UDP datagram (192.0.2.1:40000 -> 198.51.100.2:53,
 * payload "sluice", both checksums valid), prints what it found, checks a
 * corrupted copy is refused for the right reason and that the error strings
 * are there.  Exit status 0 only if every value is right.
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <string.h>

static const uint8_t packet[] = {
    /* IPv4: IHL 5, total length 34, id 0x1234, DF, TTL 64, UDP, csum 0x3c60 */
    0x45, 0x00, 0x00, 0x22, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3c, 0x60,
    0xc0, 0x00, 0x02, 0x01,                         /* 192.0.2.1    */
    0xc6, 0x33, 0x64, 0x02,                         /* 198.51.100.2 */
    /* UDP: 40000 -> 53, length 14, csum 0x2aea */
    0x9c, 0x40, 0x00, 0x35, 0x00, 0x0e, 0x2a, 0xea,
    0x73, 0x6c, 0x75, 0x69, 0x63, 0x65,             /* "sluice"     */
    /* Ethernet-style padding past total_len: must be left out. */
    0x00, 0x00};

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "consumer: FAIL: %s\n", what);
        failures++;
    }
}

/* Parse packet p (IPv4 then UDP, UDP checksum verified); returns the first
 * error, with the headers in *ip and *udp. */
static int parse(const uint8_t *p, size_t len, sl_ipv4_hdr *ip, sl_udp_hdr *udp)
{
    int rc = sl_ipv4_parse(p, len, 0, ip);
    if (rc != SL_OK)
        return rc;
    const sl_pseudo ph = {4, ip->src, ip->dst};
    return sl_udp_parse(ip->payload, ip->payload_len, &ph, udp);
}

int main(void)
{
    static const uint8_t src[4] = {192, 0, 2, 1};
    static const uint8_t dst[4] = {198, 51, 100, 2};
    sl_ipv4_hdr ip;
    sl_udp_hdr udp;

    int rc = parse(packet, sizeof packet, &ip, &udp);
    check(rc == SL_OK, "parse of the good packet");
    if (rc != SL_OK) {
        fprintf(stderr, "consumer: error %d (%s): %s\n", rc, sl_error_name(rc), sl_strerror(rc));
        return 1;
    }
    printf("sluice %s: %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u, %zu payload bytes\n",
           SL_VERSION_STRING, ip.src[0], ip.src[1], ip.src[2], ip.src[3], udp.sport,
           ip.dst[0], ip.dst[1], ip.dst[2], ip.dst[3], udp.dport, udp.payload_len);

    check(ip.ihl == 5 && ip.total_len == 34 && ip.id == 0x1234, "IPv4 ihl/total_len/id");
    check(ip.df && !ip.mf && ip.frag_off == 0 && ip.ttl == 64, "IPv4 flags/ttl");
    check(ip.proto == SL_IPPROTO_UDP, "IPv4 protocol");
    check(memcmp(ip.src, src, 4) == 0 && memcmp(ip.dst, dst, 4) == 0, "IPv4 addresses");
    check(ip.payload == packet + 20 && ip.payload_len == 14, "IPv4 payload (padding excluded)");
    check(udp.sport == 40000 && udp.dport == 53, "UDP ports");
    check(udp.length == 14 && udp.checksum == 0x2aea, "UDP length/checksum");
    check(udp.payload_len == 6 && memcmp(udp.payload, "sluice", 6) == 0, "UDP payload");

    /* The checksum helpers are exported too. */
    check(sl_csum(packet, 20) == 0, "sl_csum over a valid IPv4 header");

    /* One flipped payload bit: the UDP checksum must catch it. */
    uint8_t bad[sizeof packet];
    memcpy(bad, packet, sizeof packet);
    bad[30] ^= 0x01;
    rc = parse(bad, sizeof bad, &ip, &udp);
    check(rc == SL_ERR_UDP_CHECKSUM, "corrupted payload gives SL_ERR_UDP_CHECKSUM");

    /* Error strings. */
    const char *s = sl_strerror(SL_ERR_UDP_CHECKSUM);
    check(s != NULL && s[0] != '\0', "sl_strerror(SL_ERR_UDP_CHECKSUM) is a message");
    check(s != NULL && strcmp(s, sl_strerror(-99999)) != 0, "known error differs from unknown");
    check(strcmp(sl_strerror(-99999), "unknown error") == 0, "sl_strerror(unknown)");
    check(strcmp(sl_error_name(SL_ERR_UDP_CHECKSUM), "ERR_UDP_CHECKSUM") == 0, "sl_error_name");
    printf("sl_strerror(SL_ERR_UDP_CHECKSUM) = \"%s\"\n", s != NULL ? s : "(null)");

    if (failures != 0) {
        fprintf(stderr, "consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("consumer: ok\n");
    return 0;
}
