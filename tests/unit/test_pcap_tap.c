/*
 * The pcap tap (src/platform/pcap_tap.c): what it writes is a classic
 * LINKTYPE_RAW pcap that reads back byte for byte — checked here by hand,
 * field by field, from the file format (the interop tests also read its
 * captures with tshark).  src/platform/tun_linux.c needs root and a TUN
 * device: it is exercised by tests/interop (interop_tun, interop_suite).
 */
#define _DEFAULT_SOURCE 1 /* mkstemp, unlink */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/platform.h"

/* The tap writes host byte order, as the pcap magic number allows. */
static uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

START_TEST(writes_readable_pcap)
{
    char path[] = "/tmp/sl_pcap_tap_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    sl_pcap_tap *tap = sl_pcap_open(path);
    ck_assert_ptr_nonnull(tap);
    uint8_t a[20] = {0x45, 0, 0, 20}, b[1500];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 7);
    b[0] = 0x60;
    ck_assert_int_eq(sl_pcap_write(tap, a, sizeof a, 1500000), 0);         /* 1.5 s   */
    ck_assert_int_eq(sl_pcap_write(tap, b, sizeof b, 3000000123ull), 0);   /* 3000 s  */
    ck_assert_uint_eq(sl_pcap_count(tap), 2);
    ck_assert_int_eq(sl_pcap_close(tap), 0);

    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    ck_assert_uint_eq(n, 24 + 16 + sizeof a + 16 + sizeof b);
    ck_assert_uint_eq(le32(buf), 0xa1b2c3d4u);   /* microsecond magic  */
    ck_assert_uint_eq(le32(buf + 16), 65535u);   /* snaplen            */
    ck_assert_uint_eq(le32(buf + 20), 101u);     /* LINKTYPE_RAW       */
    const uint8_t *r = buf + 24;
    ck_assert_uint_eq(le32(r), 1);               /* seconds            */
    ck_assert_uint_eq(le32(r + 4), 500000);      /* microseconds       */
    ck_assert_uint_eq(le32(r + 8), sizeof a);    /* captured           */
    ck_assert_uint_eq(le32(r + 12), sizeof a);   /* on the wire        */
    ck_assert_mem_eq(r + 16, a, sizeof a);
    r += 16 + sizeof a;
    ck_assert_uint_eq(le32(r), 3000);
    ck_assert_uint_eq(le32(r + 4), 123);
    ck_assert_uint_eq(le32(r + 8), sizeof b);
    ck_assert_mem_eq(r + 16, b, sizeof b);
}
END_TEST

START_TEST(open_failure)
{
    ck_assert_ptr_null(sl_pcap_open("/nonexistent-dir/x.pcap"));
    ck_assert_int_eq(sl_pcap_close(NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pcap_tap");
    TCase *tc = tcase_create("tap");
    tcase_add_test(tc, writes_readable_pcap);
    tcase_add_test(tc, open_failure);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
