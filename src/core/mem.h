/*
 * Accounted memory (internal): every allocation of a stack goes through
 * one sl_mem, which enforces the configured byte limit and keeps counters.
 */
#ifndef SL_CORE_MEM_H
#define SL_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/alloc.h"

/* Freed buffers a stack keeps for reuse: at most this many, and at most
 * a quarter of the memory limit (16 was measured: with 8 streams of 1 MiB
 * rings, 4 slots missed and page faults halved sluice-tun's throughput). */
#define SL_MEM_CACHE_SLOTS 16

typedef struct sl_mem {
    sl_allocator a;
    size_t limit;     /* bytes; 0 = no limit beyond the allocator's own */
    size_t in_use;    /* bytes currently allocated                      */
    size_t peak;      /* high-water mark of in_use + cached (what the
                         allocator has handed out)                     */
    uint64_t allocs;  /* successful calls of the allocator              */
    uint64_t fails;   /* refused: over limit or allocator returned NULL */
    /* Recently freed buffers kept for the next buffer of the same size
     * (sl_mem_free_buf): a bulk transfer drains and refills its rings on
     * every round trip, and handing a multi-megabyte ring back to the
     * allocator each time cost a page fault per 4 KiB when it came back
     * (measured: 45 % of the in-process bulk profile at MTU 65535).
     * Cached bytes are not in in_use but count against the limit; they are
     * returned to the allocator first whenever an allocation would pass it. */
    void *cache[SL_MEM_CACHE_SLOTS];
    size_t cache_size[SL_MEM_CACHE_SLOTS];
    size_t cached;    /* bytes held in cache[]                          */
} sl_mem;

void sl_mem_init(sl_mem *m, const sl_allocator *a, size_t limit);
/* `size` bytes, zeroed, or NULL (counted in fails). size 0 gives NULL. */
void *sl_mem_alloc(sl_mem *m, size_t size);
/* The same without zeroing: for byte buffers that are only ever read
 * where they were written (the TCP rings), so that a 4 MiB receive buffer
 * is not cleared each time it is allocated again. */
void *sl_mem_alloc_raw(sl_mem *m, size_t size);
/* Give back `p` (may be NULL) of the size it was allocated with. */
void sl_mem_free(sl_mem *m, void *p, size_t size);

/* Large byte buffers (the TCP rings): like sl_mem_alloc_raw /
 * sl_mem_free, but a freed buffer may be kept (see cache above) and handed
 * out again for the next request of the same size. */
void *sl_mem_alloc_buf(sl_mem *m, size_t size);
void sl_mem_free_buf(sl_mem *m, void *p, size_t size);
/* Return every cached buffer to the allocator. */
void sl_mem_cache_flush(sl_mem *m);

#endif
