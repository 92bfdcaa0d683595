/*
 * The counting allocator of the whole-stack fuzz targets (fuzz_stack,
 * fuzz_tcp_stack): wraps an inner allocator, keeps a 16-byte header with
 * the size to catch wrong-size and double frees, fills new blocks with a
 * pattern (the stack must not rely on fresh bytes), counts live bytes for
 * the leak and limit checks, and can refuse every Nth call.
 */
#ifndef SL_FUZZ_ALLOC_H
#define SL_FUZZ_ALLOC_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sluice/alloc.h"

#define HDR 16u
#define MAGIC UINT64_C(0x5a1c3f00d5eed0c5)

typedef struct cnt_alloc {
    sl_allocator inner;
    size_t live;          /* bytes the stack asked for and holds        */
    size_t blocks;
    uint64_t allocs;      /* successful                                 */
    uint64_t calls;
    uint64_t refused;     /* injected or inner failures                 */
    uint32_t fail_period; /* 0: never inject                            */
} cnt_alloc;

static void *heap_inner_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = NULL;
    if (posix_memalign(&p, 16, size) != 0)
        return NULL;
    return p;
}

static void heap_inner_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

static void *ca_alloc(void *ctx, size_t size)
{
    cnt_alloc *a = ctx;
    FZ_CHECK(size > 0);
    a->calls++;
    if (a->fail_period != 0 && a->calls % a->fail_period == 0) {
        a->refused++;
        return NULL;
    }
    if (size > SIZE_MAX - HDR) {
        a->refused++;
        return NULL;
    }
    uint8_t *p = a->inner.alloc(a->inner.ctx, size + HDR);
    if (p == NULL) {
        a->refused++;
        return NULL;
    }
    FZ_CHECK(((uintptr_t)p & 15u) == 0);
    uint64_t hdr[2] = {(uint64_t)size, MAGIC ^ (uint64_t)size};
    memcpy(p, hdr, sizeof hdr);
    memset(p + HDR, 0xcd, size); /* the stack must not rely on fresh bytes */
    a->live += size;
    a->blocks++;
    a->allocs++;
    return p + HDR;
}

static void ca_free(void *ctx, void *ptr, size_t size)
{
    cnt_alloc *a = ctx;
    FZ_CHECK(ptr != NULL);
    FZ_CHECK(((uintptr_t)ptr & 15u) == 0);
    uint8_t *p = (uint8_t *)ptr - HDR;
    uint64_t hdr[2];
    memcpy(hdr, p, sizeof hdr);
    if (hdr[1] != (MAGIC ^ hdr[0]))
        fz_fail(__FILE__, __LINE__, "free of a block not allocated (or freed twice)");
    if (hdr[0] != (uint64_t)size) {
        fprintf(stderr, "alloc size %llu, free size %zu\n", (unsigned long long)hdr[0], size);
        fz_fail(__FILE__, __LINE__, "free size differs from alloc size");
    }
    hdr[1] = 0;
    memcpy(p, hdr, sizeof hdr);
    FZ_CHECK(a->live >= size && a->blocks > 0);
    a->live -= size;
    a->blocks--;
    a->inner.free(a->inner.ctx, p, size + HDR);
}

/* A counting allocator over the C heap. */
static inline cnt_alloc fz_alloc_heap(void)
{
    cnt_alloc a;
    memset(&a, 0, sizeof a);
    a.inner.alloc = heap_inner_alloc;
    a.inner.free = heap_inner_free;
    return a;
}

#endif
