/*
 * Byte ring for TCP send and receive buffers (tcp/ring.h).
 *
 * Byte `off` (counted from the oldest stored byte) lives at index
 * head + off, wrapped once at cap.  Every off handled here is < cap, and
 * cap fits in 32 bits, so the wrap is computed without ever forming a sum
 * that could pass 2^32: see at().
 */
#include "ring.h"

#include <string.h>

/* Storage index of byte `off`; requires head < cap and off < cap. */
static uint32_t at(const sl_ring *r, uint32_t off)
{
    uint32_t to_end = r->cap - r->head;
    return off < to_end ? r->head + off : off - to_end;
}

/* Copy n bytes into positions off..off+n-1 (off + n <= cap). */
static void copy_in(sl_ring *r, uint32_t off, const uint8_t *src, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t i = at(r, off);
    uint32_t first = r->cap - i;
    if (n <= first) {
        memcpy(r->buf + i, src, n);
    } else {
        memcpy(r->buf + i, src, first);
        memcpy(r->buf, src + first, n - first);
    }
}

/* Copy n bytes out of positions off..off+n-1 (off + n <= cap). */
static void copy_out(const sl_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t i = at(r, off);
    uint32_t first = r->cap - i;
    if (n <= first) {
        memcpy(dst, r->buf + i, n);
    } else {
        memcpy(dst, r->buf + i, first);
        memcpy(dst + first, r->buf, n - first);
    }
}

/* Allocate the storage if there is none; false (and *nomem set) on failure. */
static int ensure_storage(sl_ring *r, sl_mem *m, int *nomem)
{
    if (r->buf != NULL)
        return 1;
    r->buf = sl_mem_alloc_buf(m, r->cap); /* only written bytes are read */
    if (r->buf == NULL) {
        if (nomem != NULL)
            *nomem = 1;
        return 0;
    }
    r->head = 0;
    return 1;
}

static void release(sl_ring *r, sl_mem *m)
{
    sl_mem_free_buf(m, r->buf, r->cap);
    r->buf = NULL;
    r->head = 0;
    r->len = 0;
}

void sl_ring_init(sl_ring *r, uint32_t cap)
{
    r->buf = NULL;
    r->cap = cap;
    r->head = 0;
    r->len = 0;
}

void sl_ring_fini(sl_ring *r, sl_mem *m)
{
    release(r, m);
}

size_t sl_ring_write(sl_ring *r, sl_mem *m, const uint8_t *src, size_t n, int *nomem)
{
    uint32_t space = r->cap - r->len;
    uint32_t take = n < space ? (uint32_t)n : space;
    if (take == 0)
        return 0;
    if (!ensure_storage(r, m, nomem))
        return 0;
    copy_in(r, r->len, src, take);
    r->len += take;
    return take;
}

size_t sl_ring_write_at(sl_ring *r, sl_mem *m, size_t gap, const uint8_t *src, size_t n, int *nomem)
{
    uint32_t space = r->cap - r->len;
    if (gap >= space)
        return 0;
    uint32_t room = space - (uint32_t)gap;
    uint32_t take = n < room ? (uint32_t)n : room;
    if (take == 0)
        return 0;
    if (!ensure_storage(r, m, nomem))
        return 0;
    copy_in(r, r->len + (uint32_t)gap, src, take);
    return take;
}

void sl_ring_extend(sl_ring *r, size_t n)
{
    /* Contract violations (nothing stored, or past cap) are clamped so
     * len never claims bytes the storage cannot hold. */
    if (r->buf == NULL)
        return;
    uint32_t space = r->cap - r->len;
    r->len += n < space ? (uint32_t)n : space;
}

size_t sl_ring_peek(const sl_ring *r, size_t off, uint8_t *dst, size_t n)
{
    if (off >= r->len)
        return 0;
    uint32_t avail = r->len - (uint32_t)off;
    uint32_t take = n < avail ? (uint32_t)n : avail;
    copy_out(r, (uint32_t)off, dst, take);
    return take;
}

void sl_ring_consume(sl_ring *r, sl_mem *m, size_t n, int keep_storage)
{
    uint32_t k = n < r->len ? (uint32_t)n : r->len;
    if (k != 0) {
        /* k <= len <= cap; at() needs an offset < cap, so k == cap (the
         * whole ring consumed) maps back to head itself. */
        r->head = k < r->cap ? at(r, k) : r->head;
        r->len -= k;
    }
    if (r->len == 0 && !keep_storage)
        release(r, m);
}

size_t sl_ring_read(sl_ring *r, sl_mem *m, uint8_t *dst, size_t n, int keep_storage)
{
    size_t got = sl_ring_peek(r, 0, dst, n);
    sl_ring_consume(r, m, got, keep_storage);
    return got;
}
