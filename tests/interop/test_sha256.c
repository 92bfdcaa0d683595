/*
 * examples/sha256.c against the FIPS 180-4 / NIST example vectors
 * (SHA256.pdf, "Cryptographic Standards and Guidelines: Examples"):
 * "abc", the empty message, the 448-bit two-block message, one million
 * 'a' (fed in uneven pieces to exercise the incremental path), and the
 * /bytes/N pattern of sluice-tun for one block boundary case.
 */
#include <stdio.h>
#include <string.h>

#include "sha256.h"

static int fails;

static void check(const char *name, const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        printf("FAIL %s\n  got  %s\n  want %s\n", name, got, want);
        fails++;
    } else {
        printf("ok   %s\n", name);
    }
}

static void digest_of(const void *data, size_t len, char hex[65])
{
    sha256_ctx c;
    uint8_t d[32];
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, d);
    sha256_hex(d, hex);
}

int main(void)
{
    char hex[65];
    digest_of("abc", 3, hex);
    check("\"abc\"", hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest_of("", 0, hex);
    check("empty", hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest_of(m448, strlen(m448), hex);
    check("448-bit message", hex,
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    digest_of(m896, strlen(m896), hex);
    check("896-bit message", hex,
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* One million 'a', in pieces of 1, 7, 63, 64, 65, ... bytes. */
    static uint8_t a[1000000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    sha256_init(&c);
    static const size_t steps[] = {1, 7, 63, 64, 65, 127, 1000, 4096};
    size_t off = 0;
    for (unsigned i = 0; off < sizeof a; i++) {
        size_t n = steps[i % 8];
        if (n > sizeof a - off)
            n = sizeof a - off;
        sha256_update(&c, a + off, n);
        off += n;
    }
    uint8_t d[32];
    sha256_final(&c, d);
    sha256_hex(d, hex);
    check("million 'a' (incremental)", hex,
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* Messages of 55, 56, 63, 64 bytes: the padding edge cases, checked
     * against one-shot vs byte-at-a-time hashing of the same input. */
    for (size_t len = 55; len <= 65; len++) {
        char one[65], bytewise[65];
        digest_of(a, len, one);
        sha256_init(&c);
        for (size_t i = 0; i < len; i++)
            sha256_update(&c, a + i, 1);
        sha256_final(&c, d);
        sha256_hex(d, bytewise);
        char name[64];
        snprintf(name, sizeof name, "%zu bytes, one-shot = byte-wise", len);
        check(name, bytewise, one);
    }
    if (fails != 0)
        printf("%d failure(s)\n", fails);
    return fails != 0;
}
