/*
 * SHA-256 (FIPS 180-4 §6.2), written for sluice-tun's `POST /sha256`.
 * Incremental: init, update any number of times, final.
 */
#ifndef SL_EXAMPLES_SHA256_H
#define SL_EXAMPLES_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];     /* H(i), FIPS 180-4 §6.2.2          */
    uint64_t bytes;    /* message length so far, in bytes  */
    uint8_t block[64]; /* partial block                    */
    size_t fill;       /* bytes in block                   */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Digest as 64 lowercase hex digits plus NUL. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
