/*
 * The arena allocator (sluice/alloc.h): a caller-supplied buffer as the
 * only memory the stack gets.  No malloc here.
 *
 * Layout: [ arena header | blocks handed out ... | bump -> unused ... end ]
 * The header (struct arena) sits at offset 0 of the caller's buffer;
 * blocks are carved from the bump pointer, which only moves forward except
 * when a freed large block ends exactly at it.
 *
 * Small requests (1 .. 64 KiB) are rounded up to a power-of-two class
 * (16, 32, ..., 65536: 13 classes) and freed blocks go on that class's
 * LIFO free list, linked through the first word of the free block.  Small
 * blocks never merge.  A small request is served, in order, from
 *   1. its class's free list,
 *   2. the bump pointer,
 *   3. the free list of the nearest larger class, splitting the block in
 *      halves down to the class (upper halves go on the lists below),
 *   4. the large free list (a 4 KiB or class-sized piece, split likewise).
 * Each step is O(1) or O(classes) except 4, which walks the large list.
 *
 * Large requests (> 64 KiB) are rounded up to a multiple of 4 KiB and
 * served first-fit from an address-ordered list of free large extents
 * (each extent's first 16 bytes hold {next, size}), else from the bump
 * pointer.  Freed large blocks merge with adjacent free extents, and an
 * extent that ends at the bump pointer is given back to it.  The large
 * list holds at most (buffer size / 4 KiB) extents, so it is bounded; it
 * is expected to be short because the stack's large allocations (tables,
 * rings) are few and long-lived.
 *
 * Because the allocator is told the size on free, no block carries a
 * header: the only bookkeeping is the arena header (sizeof(struct arena)
 * rounded to 16 bytes) plus internal fragmentation from rounding.
 */
#include "sluice/alloc.h"

#include <stdbool.h>
#include <string.h>

#define ALIGN 16u
#define CLASS_MIN_SHIFT 4u  /* 16 B   */
#define CLASS_MAX_SHIFT 16u /* 64 KiB */
#define NCLASSES (CLASS_MAX_SHIFT - CLASS_MIN_SHIFT + 1u)
#define SMALL_MAX ((size_t)1 << CLASS_MAX_SHIFT)
#define LARGE_GRAIN ((size_t)4096)
#define ARENA_MAGIC UINT64_C(0x736c7569636541e1)

typedef struct free_small {
    struct free_small *next;
} free_small;

typedef struct free_large {
    struct free_large *next; /* next extent at a higher address */
    size_t size;             /* bytes, a multiple of LARGE_GRAIN */
} free_large;

typedef struct arena {
    uint64_t magic;
    uint8_t *base;      /* the caller's buffer (== this header)           */
    size_t start;       /* offset of the first block: header, rounded     */
    size_t end;         /* one past the last usable byte (len & ~15)      */
    size_t bump;        /* offset of the first never-handed-out byte      */
    size_t high;        /* high-water mark of bump                        */
    uint64_t bad_frees; /* frees of pointers not from this arena      */
    free_small *small[NCLASSES];
    free_large *large; /* address-ordered */
} arena;

static size_t round_up(size_t x, size_t to)
{
    return (x + (to - 1u)) & ~(to - 1u);
}

static size_t class_size(unsigned c)
{
    return (size_t)1 << (CLASS_MIN_SHIFT + c);
}

/* Smallest class whose size is >= size (size <= SMALL_MAX). */
static unsigned class_of(size_t size)
{
    unsigned c = 0;
    while (class_size(c) < size)
        c++;
    return c;
}

static void *bump_take(arena *a, size_t size)
{
    if (a->end - a->bump < size)
        return NULL;
    uint8_t *p = a->base + a->bump;
    a->bump += size;
    if (a->bump > a->high)
        a->high = a->bump;
    return p;
}

static void push_small(arena *a, unsigned c, void *p)
{
    free_small *f = p;
    f->next = a->small[c];
    a->small[c] = f;
}

static void *pop_small(arena *a, unsigned c)
{
    free_small *f = a->small[c];
    if (f != NULL)
        a->small[c] = f->next;
    return f;
}

/* blk is a free block of class `from`; keep its lowest class-`to` piece
 * and put the upper halves on the lists of classes from-1 .. to. */
static void *split_down(arena *a, uint8_t *blk, unsigned from, unsigned to)
{
    for (unsigned k = from; k > to; k--)
        push_small(a, k - 1u, blk + class_size(k - 1u));
    return blk;
}

/* First fit: take `size` bytes from the front of the first free large
 * extent that is big enough. */
static void *large_carve(arena *a, size_t size)
{
    free_large **pp = &a->large;
    while (*pp != NULL) {
        free_large *n = *pp;
        if (n->size == size) {
            *pp = n->next;
            return n;
        }
        if (n->size > size) {
            free_large *rest = (free_large *)(void *)((uint8_t *)n + size);
            rest->next = n->next;
            rest->size = n->size - size;
            *pp = rest;
            return n;
        }
        pp = &n->next;
    }
    return NULL;
}

static void *small_alloc(arena *a, unsigned c)
{
    void *p = pop_small(a, c);
    if (p != NULL)
        return p;
    p = bump_take(a, class_size(c));
    if (p != NULL)
        return p;
    for (unsigned k = c + 1u; k < NCLASSES; k++) {
        p = pop_small(a, k);
        if (p != NULL)
            return split_down(a, p, k, c);
    }
    size_t piece = class_size(c) > LARGE_GRAIN ? class_size(c) : LARGE_GRAIN;
    p = large_carve(a, piece);
    if (p != NULL)
        return split_down(a, p, class_of(piece), c);
    return NULL;
}

static void *large_alloc(arena *a, size_t size)
{
    void *p = large_carve(a, size);
    if (p != NULL)
        return p;
    return bump_take(a, size);
}

static void large_free(arena *a, uint8_t *p, size_t size)
{
    /* Find the links before and after p in the address-ordered list. */
    free_large **prev_link = NULL; /* link that points to prev */
    free_large **link = &a->large; /* link where p goes         */
    while (*link != NULL && (uint8_t *)*link < p) {
        prev_link = link;
        link = &(*link)->next;
    }
    free_large *next = *link;
    free_large *n = (free_large *)(void *)p;
    n->size = size;
    n->next = next;
    if (next != NULL && p + size == (uint8_t *)next) { /* merge with next */
        n->size += next->size;
        n->next = next->next;
    }
    *link = n;
    if (prev_link != NULL) {
        free_large *prev = *prev_link;
        if ((uint8_t *)prev + prev->size == p) { /* merge into prev */
            prev->size += n->size;
            prev->next = n->next;
            n = prev;
            link = prev_link;
        }
    }
    /* An extent that ends at the bump pointer is the highest one (last on
     * the list): give it back to the bump pointer. */
    if ((uint8_t *)n + n->size == a->base + a->bump) {
        *link = NULL;
        a->bump = (size_t)((uint8_t *)n - a->base);
    }
}

static void *arena_alloc(void *ctx, size_t size)
{
    arena *a = ctx;
    if (size == 0 || size > a->end - a->start)
        return NULL;
    if (size <= SMALL_MAX)
        return small_alloc(a, class_of(size));
    return large_alloc(a, round_up(size, LARGE_GRAIN));
}

/* Is [p, p+size) a block this arena could have handed out? */
static bool owns(const arena *a, const uint8_t *p, size_t size)
{
    uintptr_t lo = (uintptr_t)(a->base + a->start);
    uintptr_t top = (uintptr_t)(a->base + a->bump);
    uintptr_t u = (uintptr_t)p;
    return u >= lo && u < top && (u - lo) % ALIGN == 0 && size <= top - u;
}

static void arena_free(void *ctx, void *ptr, size_t size)
{
    arena *a = ctx;
    uint8_t *p = ptr;
    if (p == NULL || size == 0)
        return;
    size_t rounded = size <= SMALL_MAX
                         ? class_size(class_of(size))
                         : (size <= a->end - a->start ? round_up(size, LARGE_GRAIN) : 0);
    if (rounded == 0 || !owns(a, p, rounded)) {
        a->bad_frees++;
        return;
    }
    if (size <= SMALL_MAX)
        push_small(a, class_of(size), p);
    else
        large_free(a, p, rounded);
}

sl_error sl_arena_init(void *mem, size_t len, sl_allocator *out)
{
    if (mem == NULL || out == NULL || len < SL_ARENA_MIN || (uintptr_t)mem % ALIGN != 0)
        return SL_ERR_INVAL;
    arena *a = mem;
    memset(a, 0, sizeof *a);
    a->magic = ARENA_MAGIC;
    a->base = mem;
    a->start = round_up(sizeof *a, ALIGN);
    a->end = len & ~(size_t)(ALIGN - 1u);
    a->bump = a->start;
    a->high = a->start;
    out->alloc = arena_alloc;
    out->free = arena_free;
    out->ctx = a;
    return SL_OK;
}

size_t sl_arena_used(const sl_allocator *al)
{
    if (al == NULL || al->alloc != arena_alloc || al->ctx == NULL)
        return 0;
    const arena *a = al->ctx;
    return a->magic == ARENA_MAGIC ? a->high : 0;
}
