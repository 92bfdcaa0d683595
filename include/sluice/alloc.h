/*
 * sluice — memory: injected allocators and the arena.
 *
 * The stack allocates only through an sl_allocator given at creation.  It
 * never calls malloc itself unless the caller asks for the heap allocator
 * (sl_allocator_heap).  Every allocation is accounted against the
 * configured limit; running out is a counted condition, never a crash.
 */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Time in microseconds on a monotonic clock of the caller's choosing. */
typedef uint64_t sl_time;
#define SL_TIME_NEVER UINT64_MAX

/* An allocator.  `alloc` returns `size` bytes aligned to 16, or NULL;
 * `free` gets back a pointer `alloc` returned together with the same size
 * (so size-class allocators need no headers).  Required: alloc and free.
 * ctx is passed through.  Neither is called re-entrantly by the stack. */
typedef struct sl_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx;
} sl_allocator;

/* An allocator over the C library heap (malloc/free). */
sl_allocator sl_allocator_heap(void);

/* Arena mode: make `mem[0..len-1]` (caller-owned, aligned to 16, at least
 * SL_ARENA_MIN bytes) the only memory an allocator hands out.  The arena's
 * own bookkeeping lives inside `mem`.  Freed blocks are kept on per-size-
 * class free lists and reused; the arena never grows.  `*out` is the
 * allocator to give the stack.  Errors: SL_ERR_INVAL (NULL, misaligned or
 * too small).  The arena lives as long as `mem`; nothing to free. */
#define SL_ARENA_MIN 1024u
sl_error sl_arena_init(void *mem, size_t len, sl_allocator *out);

/* Bytes of `mem` an arena has handed out so far (high-water mark of its
 * bump pointer, including bookkeeping), for sizing tests. */
size_t sl_arena_used(const sl_allocator *arena);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_ALLOC_H */
