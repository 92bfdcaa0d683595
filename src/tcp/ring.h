/*
 * Byte ring for TCP send and receive buffers (internal).
 *
 * The storage is allocated lazily, on the first write, and released when
 * the ring becomes empty, so an idle connection holds no buffer memory
 * (design §6).  Capacity is fixed per ring (from the config).
 *
 * Positions: `off` arguments count from the oldest unread/unacked byte.
 */
#ifndef SL_TCP_RING_H
#define SL_TCP_RING_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

typedef struct sl_ring {
    uint8_t *buf;     /* NULL while nothing is stored                    */
    uint32_t cap;     /* bytes of storage once allocated                 */
    uint32_t head;    /* index of byte 0                                 */
    uint32_t len;     /* bytes stored contiguously from byte 0           */
} sl_ring;

void sl_ring_init(sl_ring *r, uint32_t cap);
/* Release the storage (whatever it holds). */
void sl_ring_fini(sl_ring *r, sl_mem *m);

/* Room for more bytes after `len`. */
static inline uint32_t sl_ring_space(const sl_ring *r)
{
    return r->cap - r->len;
}

/* Append up to n bytes; returns how many were taken (0 when full, or when
 * the storage could not be allocated: then *nomem is set). */
size_t sl_ring_write(sl_ring *r, sl_mem *m, const uint8_t *src, size_t n, int *nomem);

/* Store n bytes at position len + gap (beyond the contiguous data: TCP
 * out-of-order segments) without changing len.  Bytes that would not fit
 * in cap are cut off; returns how many were stored. */
size_t sl_ring_write_at(sl_ring *r, sl_mem *m, size_t gap, const uint8_t *src, size_t n,
                        int *nomem);
/* Make n more bytes (already stored by write_at at gap 0..n-1) part of the
 * contiguous data. */
void sl_ring_extend(sl_ring *r, size_t n);

/* Copy up to n bytes starting at position off (< len) to dst, without
 * consuming; returns how many were copied. */
size_t sl_ring_peek(const sl_ring *r, size_t off, uint8_t *dst, size_t n);

/* Drop the first n (<= len) bytes; frees the storage when len reaches 0
 * (and nothing was stored beyond it: pass keep_storage = 1 to keep it,
 * e.g. while out-of-order data sits past len). */
void sl_ring_consume(sl_ring *r, sl_mem *m, size_t n, int keep_storage);

/* Read (copy + consume) up to n bytes. */
size_t sl_ring_read(sl_ring *r, sl_mem *m, uint8_t *dst, size_t n, int keep_storage);

#endif
