/*
 * Accounted memory (core/mem.h) and the heap allocator (sluice/alloc.h).
 *
 * sl_mem sits between the stack and the injected allocator: it refuses
 * requests that would take in_use past the limit, zeroes what it hands
 * out (except sl_mem_alloc_raw), and counts successes, refusals and the
 * high-water mark.
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

void sl_mem_init(sl_mem *m, const sl_allocator *a, size_t limit)
{
    memset(m, 0, sizeof *m);
    m->a = *a;
    m->limit = limit;
}

void *sl_mem_alloc_raw(sl_mem *m, size_t size)
{
    if (size == 0)
        return NULL;
    /* in_use + size must neither overflow nor pass the limit. */
    if (size > SIZE_MAX - m->in_use || (m->limit != 0 && m->in_use + size > m->limit)) {
        m->fails++;
        return NULL;
    }
    if (m->limit != 0 && m->in_use + size > m->limit - m->cached)
        sl_mem_cache_flush(m); /* cached buffers give way to real demand */
    void *p = m->a.alloc(m->a.ctx, size);
    if (p == NULL) {
        m->fails++;
        return NULL;
    }
    m->in_use += size;
    if (m->in_use + m->cached > m->peak)
        m->peak = m->in_use + m->cached;
    m->allocs++;
    return p;
}

void *sl_mem_alloc(sl_mem *m, size_t size)
{
    void *p = sl_mem_alloc_raw(m, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void sl_mem_free(sl_mem *m, void *p, size_t size)
{
    if (p == NULL)
        return;
    m->a.free(m->a.ctx, p, size);
    /* A size larger than in_use is a caller bug; clamp rather than wrap. */
    m->in_use = size <= m->in_use ? m->in_use - size : 0;
}

void *sl_mem_alloc_buf(sl_mem *m, size_t size)
{
    for (unsigned i = 0; i < SL_MEM_CACHE_SLOTS; i++) {
        if (m->cache[i] == NULL || m->cache_size[i] != size)
            continue;
        if (m->limit != 0 && m->in_use + size > m->limit) {
            m->fails++;
            return NULL;
        }
        void *p = m->cache[i];
        m->cache[i] = NULL;
        m->cached -= size;
        m->in_use += size; /* allocs counts the allocator's calls: not this */
        return p;
    }
    return sl_mem_alloc_raw(m, size);
}

void sl_mem_free_buf(sl_mem *m, void *p, size_t size)
{
    if (p == NULL)
        return;
    size_t room = m->limit != 0 ? m->limit / 4u : SIZE_MAX;
    for (unsigned i = 0; i < SL_MEM_CACHE_SLOTS; i++) {
        if (m->cache[i] != NULL || size > room || m->cached > room - size)
            continue;
        m->cache[i] = p;
        m->cache_size[i] = size;
        m->cached += size;
        m->in_use = size <= m->in_use ? m->in_use - size : 0;
        return;
    }
    sl_mem_free(m, p, size);
}

void sl_mem_cache_flush(sl_mem *m)
{
    for (unsigned i = 0; i < SL_MEM_CACHE_SLOTS; i++) {
        if (m->cache[i] == NULL)
            continue;
        m->a.free(m->a.ctx, m->cache[i], m->cache_size[i]);
        m->cache[i] = NULL;
        m->cached -= m->cache_size[i];
    }
}

/* ---- the heap allocator -------------------------------------------------- */

#define HEAP_ALIGN 16u

static void *heap_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size == 0 || size > SIZE_MAX - (HEAP_ALIGN - 1u))
        return NULL;
    /* C11 aligned_alloc wants a size that is a multiple of the alignment. */
    size_t rounded = (size + (HEAP_ALIGN - 1u)) & ~(size_t)(HEAP_ALIGN - 1u);
    return aligned_alloc(HEAP_ALIGN, rounded);
}

static void heap_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)size;
    free(ptr);
}

sl_allocator sl_allocator_heap(void)
{
    sl_allocator a;
    a.alloc = heap_alloc;
    a.free = heap_free;
    a.ctx = NULL;
    return a;
}
