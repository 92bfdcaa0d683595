/*
 * Replay every pcap through the sluice parsers and compare each packet
 * with the expectations gen_pcap_expect.py derived from scapy (plus the
 * hand-written expect_errors.txt).  Every *.pcap in the directory must
 * have expectations for every packet.
 *
 * Usage: test_pcap_replay PCAP_DIR EXPECT_FILE [PCAP_DIR EXPECT_FILE ...]
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "describe.h"
#include "fixture_file.h"
#include "guard.h"
#include "pcap_reader.h"
#include "sluice/wire.h"

typedef struct pcap_set {
    const char *dir;
    sl_fx_file exp;
} pcap_set;

typedef struct file_ref {
    size_t set;
    size_t line; /* index of the FILE line in set's exp */
} file_ref;

static pcap_set g_sets[8];
static size_t g_nsets;
static file_ref *g_files;
static size_t g_nfiles;
static sl_guard g_guard;

static void add_msg(char **msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_msg(char **msg, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    size_t old = *msg ? strlen(*msg) : 0;
    char *m = realloc(*msg, old + strlen(tmp) + 2);
    if (m == NULL)
        abort();
    if (old == 0)
        m[0] = '\0';
    strcat(m, "\n");
    strcat(m, tmp);
    *msg = m;
}

static void append_msg(char **msg, char *more)
{
    if (more == NULL)
        return;
    add_msg(msg, "%s", more);
    free(more);
}

/* Every pcap on disk has a FILE line, and every FILE line a pcap. */
START_TEST(test_all_pcaps_covered)
{
    for (size_t s = 0; s < g_nsets; s++) {
        DIR *dir = opendir(g_sets[s].dir);
        ck_assert_msg(dir != NULL, "cannot open %s", g_sets[s].dir);
        struct dirent *de;
        size_t on_disk = 0;
        while ((de = readdir(dir)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".pcap") != 0)
                continue;
            on_disk++;
            int found = 0;
            for (size_t i = 0; i < g_sets[s].exp.n; i++) {
                sl_fx_line *ln = &g_sets[s].exp.lines[i];
                if (strcmp(ln->field[0], "FILE") == 0 && strcmp(ln->field[1], de->d_name) == 0)
                    found = 1;
            }
            ck_assert_msg(found, "%s/%s has no expectations (regenerate?)", g_sets[s].dir,
                          de->d_name);
        }
        closedir(dir);
        size_t listed = 0;
        for (size_t i = 0; i < g_sets[s].exp.n; i++)
            if (strcmp(g_sets[s].exp.lines[i].field[0], "FILE") == 0)
                listed++;
        ck_assert_msg(listed == on_disk, "%s: %zu pcaps on disk, %zu with expectations",
                      g_sets[s].dir, on_disk, listed);
        ck_assert_uint_gt(on_disk, 0);
    }
}
END_TEST

static size_t claimed(const uint8_t *p, size_t n)
{
    if (n >= 40 && p[0] >> 4 == 6)
        return 40u + sl_load16(p + 4);
    if (n >= 20 && p[0] >> 4 == 4)
        return sl_load16(p + 2);
    return n;
}

static void check_packet(const char *fname, size_t idx, const sl_fx_line *pl,
                         const sl_pcap_rec *r, long l3off, char **msg)
{
    char what[256];
    snprintf(what, sizeof what, "%s #%zu", fname, idx);
    const char *expect = pl->field[3], *mode = pl->field[4], *keys = pl->field[5];
    sl_desc d;
    sl_desc_init(&d);
    /* Link-level keys come from the C pcap reader. */
    sl_desc_add(&d, "pcap.caplen", "%lu", (unsigned long)r->caplen);
    sl_desc_add(&d, "pcap.wirelen", "%lu", (unsigned long)r->wirelen);
    if (l3off >= 0)
        sl_desc_add(&d, "pcap.l3off", "%ld", l3off);
    char *cmp = NULL;

    if (l3off < 0) {
        add_msg(msg, "  [%s] no IP header found by the pcap reader", what);
        sl_desc_free(&d);
        return;
    }
    const uint8_t *l3 = r->data + l3off;
    size_t n = r->caplen - (size_t)l3off;
    const uint8_t *p = sl_guard_put(&g_guard, l3, n);

    /* describe appends after the link keys: keep them by decoding into a
     * second buffer and concatenating. */
    sl_desc ip;
    sl_desc_init(&ip);
    unsigned flags = strcmp(mode, "nocsum") == 0 ? (SL_DESC_NO_IP_CSUM | SL_DESC_NO_L4_CSUM) : 0u;
    sl_error e = sl_describe_ip(p, n, flags, &ip);
    const char *got = sl_error_name(e);

    if (strcmp(mode, "full") == 0 || strcmp(mode, "nocsum") == 0) {
        if (e != SL_OK) {
            add_msg(msg, "  [%s] expected OK, got %s (decoded: %s)", what, got, ip.s ? ip.s : "");
            keys = ""; /* the key-by-key diff would only repeat the error */
        }
        /* every truncation of a decodable packet must be rejected */
        size_t want = claimed(l3, n);
        for (size_t k = 0; k < n && e == SL_OK; k++) {
            sl_desc t;
            sl_desc_init(&t);
            const uint8_t *q = sl_guard_put(&g_guard, l3, k);
            sl_error te = sl_describe_ip(q, k, flags, &t);
            if ((k < want) != (te != SL_OK))
                add_msg(msg, "  [%s] cut to %zu of %zu (claimed %zu): %s", what, k, n, want,
                        sl_error_name(te));
            sl_desc_free(&t);
        }
    } else if (strcmp(mode, "err") == 0 || strcmp(mode, "errcs") == 0 ||
               strcmp(mode, "trunc") == 0) {
        if (strcmp(got, expect) != 0)
            add_msg(msg, "  [%s] expected %s, got %s", what, expect, got);
        sl_desc_clear(&ip);
        if (strcmp(mode, "errcs") == 0) {
            p = sl_guard_put(&g_guard, l3, n);
            e = sl_describe_ip(p, n, SL_DESC_NO_IP_CSUM | SL_DESC_NO_L4_CSUM, &ip);
            if (e != SL_OK)
                add_msg(msg, "  [%s] with checksums off expected OK, got %s", what,
                        sl_error_name(e));
        } else if (strcmp(mode, "trunc") == 0 && n >= 20 && l3[0] >> 4 == 4) {
            size_t hl = (size_t)(l3[0] & 15) * 4;
            if (hl >= 20 && n > hl && strstr(keys, "tcp.") != NULL) {
                p = sl_guard_put(&g_guard, l3 + hl, n - hl);
                e = sl_describe_l4(l3[9], p, n - hl, NULL, &ip);
                if (e != SL_OK)
                    add_msg(msg, "  [%s] captured transport header: %s", what, sl_error_name(e));
            }
        }
    } else {
        add_msg(msg, "  [%s] unknown mode %s", what, mode);
    }
    if (ip.len > 0) {
        /* append decoded keys */
        const char *s = ip.s;
        while (*s) {
            const char *sp = strchr(s, ' ');
            size_t tl = sp ? (size_t)(sp - s) : strlen(s);
            const char *eq = memchr(s, '=', tl);
            char key[64];
            size_t kl = (size_t)(eq - s);
            if (kl < sizeof key) {
                memcpy(key, s, kl);
                key[kl] = '\0';
                sl_desc_add(&d, key, "%.*s", (int)(tl - kl - 1), eq + 1);
            }
            s += tl;
            if (*s == ' ')
                s++;
        }
    }
    sl_fx_compare(what, keys, d.s, d.len, &cmp);
    append_msg(msg, cmp);
    sl_desc_free(&ip);
    sl_desc_free(&d);
}

START_TEST(test_replay_file)
{
    const file_ref *fr = &g_files[_i];
    pcap_set *set = &g_sets[fr->set];
    const sl_fx_line *fl = &set->exp.lines[fr->line];
    const char *fname = fl->field[1];
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", set->dir, fname);
    sl_pcap pc;
    ck_assert_msg(sl_pcap_open(&pc, path, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(pc.linktype == strtoul(fl->field[2], NULL, 10),
                  "%s: link type %lu, scapy says %s", fname, (unsigned long)pc.linktype,
                  fl->field[2]);
    size_t want_n = strtoul(fl->field[3], NULL, 10);
    char *msg = NULL;
    size_t idx = 0, next_line = fr->line + 1;
    sl_pcap_rec r;
    int rc;
    while ((rc = sl_pcap_next(&pc, &r, err, sizeof err)) == 1) {
        const sl_fx_line *pl = NULL;
        if (next_line < set->exp.n && strcmp(set->exp.lines[next_line].field[0], "PKT") == 0 &&
            strcmp(set->exp.lines[next_line].field[1], fname) == 0 &&
            strtoul(set->exp.lines[next_line].field[2], NULL, 10) == idx)
            pl = &set->exp.lines[next_line++];
        if (pl == NULL)
            add_msg(&msg, "  [%s #%zu] no expectation for this packet", fname, idx);
        else
            check_packet(fname, idx, pl, &r, sl_pcap_l3_offset(pc.linktype, r.data, r.caplen),
                         &msg);
        idx++;
    }
    ck_assert_msg(rc == 0, "%s: %s", fname, err);
    sl_pcap_close(&pc);
    ck_assert_msg(idx == want_n, "%s: C reader found %zu packets, scapy %zu", fname, idx, want_n);
    ck_assert_msg(msg == NULL, "%s:%s", fname, msg ? msg : "");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3 || argc % 2 != 1 || (size_t)(argc - 1) / 2 > sizeof g_sets / sizeof g_sets[0]) {
        fprintf(stderr, "usage: %s PCAP_DIR EXPECT_FILE [PCAP_DIR EXPECT_FILE ...]\n", argv[0]);
        return 2;
    }
    size_t npk = 0;
    for (int a = 1; a + 1 < argc; a += 2) {
        pcap_set *s = &g_sets[g_nsets++];
        s->dir = argv[a];
        sl_fx_load(argv[a + 1], &s->exp);
        for (size_t i = 0; i < s->exp.n; i++) {
            if (strcmp(s->exp.lines[i].field[0], "FILE") == 0) {
                file_ref *nf = realloc(g_files, (g_nfiles + 1) * sizeof *nf);
                if (nf == NULL)
                    return 2;
                g_files = nf;
                g_files[g_nfiles].set = g_nsets - 1;
                g_files[g_nfiles].line = i;
                g_nfiles++;
            } else if (strcmp(s->exp.lines[i].field[0], "PKT") == 0) {
                npk++;
            }
        }
    }
    printf("%zu pcaps, %zu packets with expectations\n", g_nfiles, npk);
    sl_guard_init(&g_guard, 262144);

    Suite *su = suite_create("pcap_replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_all_pcaps_covered);
    tcase_add_loop_test(tc, test_replay_file, 0, (int)g_nfiles);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    sl_guard_fini(&g_guard);
    return failed == 0 ? 0 : 1;
}
