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

typedef struct sl_mem {
    sl_allocator a;
    size_t limit;     /* bytes; 0 = no limit beyond the allocator's own */
    size_t in_use;    /* bytes currently allocated                      */
    size_t peak;      /* high-water mark of in_use                      */
    uint64_t allocs;  /* successful allocations                         */
    uint64_t fails;   /* refused: over limit or allocator returned NULL */
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

#endif
