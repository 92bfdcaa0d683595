/* Accounted memory (src/core/mem.c) and the arena (src/core/arena.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sluice/alloc.h"

/* ---- a scripted allocator: dirty memory, can be told to fail ------------ */

typedef struct script {
    int fail_next; /* refuse this many calls */
    size_t live;   /* bytes it has outstanding */
    unsigned calls;
} script;

static void *script_alloc(void *ctx, size_t size)
{
    script *s = ctx;
    s->calls++;
    if (s->fail_next > 0) {
        s->fail_next--;
        return NULL;
    }
    void *p = aligned_alloc(16, (size + 15u) & ~(size_t)15u);
    ck_assert_ptr_nonnull(p);
    memset(p, 0xA5, size); /* sl_mem must zero this */
    s->live += size;
    return p;
}

static void script_free(void *ctx, void *ptr, size_t size)
{
    script *s = ctx;
    ck_assert_uint_ge(s->live, size);
    s->live -= size;
    free(ptr);
}

static sl_allocator script_allocator(script *s)
{
    sl_allocator a = {script_alloc, script_free, s};
    return a;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---- sl_mem -------------------------------------------------------------- */

START_TEST(test_mem_accounting)
{
    script s = {0};
    sl_allocator a = script_allocator(&s);
    sl_mem m;
    sl_mem_init(&m, &a, 0);
    void *p = sl_mem_alloc(&m, 100);
    void *q = sl_mem_alloc(&m, 28);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(m.in_use, 128);
    ck_assert_uint_eq(m.peak, 128);
    ck_assert_uint_eq(m.allocs, 2);
    ck_assert_uint_eq(m.fails, 0);
    sl_mem_free(&m, p, 100);
    ck_assert_uint_eq(m.in_use, 28);
    ck_assert_uint_eq(m.peak, 128);
    void *r = sl_mem_alloc(&m, 50);
    ck_assert_uint_eq(m.in_use, 78);
    ck_assert_uint_eq(m.peak, 128);
    sl_mem_free(&m, q, 28);
    sl_mem_free(&m, r, 50);
    sl_mem_free(&m, NULL, 12345); /* no-op */
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(s.live, 0);
    ck_assert_uint_eq(m.allocs, 3);
}
END_TEST

START_TEST(test_mem_zeroes)
{
    script s = {0};
    sl_allocator a = script_allocator(&s);
    sl_mem m;
    sl_mem_init(&m, &a, 0);
    for (size_t n = 1; n < 300; n += 37) {
        uint8_t *p = sl_mem_alloc(&m, n);
        ck_assert_ptr_nonnull(p);
        ck_assert(all_zero(p, n));
        memset(p, 0xFF, n);
        sl_mem_free(&m, p, n);
    }
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(s.live, 0);
}
END_TEST

START_TEST(test_mem_limit)
{
    script s = {0};
    sl_allocator a = script_allocator(&s);
    sl_mem m;
    sl_mem_init(&m, &a, 100);
    void *p = sl_mem_alloc(&m, 60);
    ck_assert_ptr_nonnull(p);
    unsigned calls = s.calls;
    ck_assert_ptr_null(sl_mem_alloc(&m, 41)); /* 101 > 100 */
    ck_assert_uint_eq(s.calls, calls);        /* refused before asking */
    ck_assert_uint_eq(m.fails, 1);
    void *q = sl_mem_alloc(&m, 40); /* exactly at the limit */
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(m.in_use, 100);
    ck_assert_ptr_null(sl_mem_alloc(&m, 1));
    ck_assert_uint_eq(m.fails, 2);
    ck_assert_ptr_null(sl_mem_alloc(&m, SIZE_MAX)); /* no overflow */
    ck_assert_uint_eq(m.fails, 3);
    sl_mem_free(&m, p, 60);
    ck_assert_ptr_nonnull(p = sl_mem_alloc(&m, 60));
    sl_mem_free(&m, p, 60);
    sl_mem_free(&m, q, 40);
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(m.allocs, 3);
}
END_TEST

START_TEST(test_mem_allocator_null_counted)
{
    script s = {0};
    sl_allocator a = script_allocator(&s);
    sl_mem m;
    sl_mem_init(&m, &a, 0);
    s.fail_next = 2;
    ck_assert_ptr_null(sl_mem_alloc(&m, 10));
    ck_assert_ptr_null(sl_mem_alloc(&m, 10));
    ck_assert_uint_eq(m.fails, 2);
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(m.allocs, 0);
    void *p = sl_mem_alloc(&m, 10);
    ck_assert_ptr_nonnull(p);
    sl_mem_free(&m, p, 10);
}
END_TEST

START_TEST(test_mem_size_zero)
{
    script s = {0};
    sl_allocator a = script_allocator(&s);
    sl_mem m;
    sl_mem_init(&m, &a, 0);
    ck_assert_ptr_null(sl_mem_alloc(&m, 0));
    ck_assert_uint_eq(s.calls, 0);
    ck_assert_uint_eq(m.allocs, 0);
}
END_TEST

START_TEST(test_heap_allocator)
{
    sl_allocator h = sl_allocator_heap();
    ck_assert(h.alloc != NULL);
    ck_assert(h.free != NULL);
    ck_assert_ptr_null(h.alloc(h.ctx, 0));
    ck_assert_ptr_null(h.alloc(h.ctx, SIZE_MAX));
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        uint8_t *p = h.alloc(h.ctx, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0x5A, n);  /* ASan checks the size */
        h.free(h.ctx, p, 0); /* the heap allocator ignores size */
    }
    ck_assert_uint_eq(sl_arena_used(&h), 0); /* not an arena */

    sl_mem m;
    sl_mem_init(&m, &h, 1000);
    void *p = sl_mem_alloc(&m, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert(all_zero(p, 1000));
    ck_assert_ptr_null(sl_mem_alloc(&m, 1));
    sl_mem_free(&m, p, 1000);
    ck_assert_uint_eq(m.in_use, 0);
}
END_TEST

/* ---- arena --------------------------------------------------------------- */

/* A test buffer: `len` bytes for the arena with canary bytes on both sides,
 * so that a write outside [mem, mem+len) is detected at the end. */
#define CANARY 64u
#define CANARY_BYTE 0xC3

typedef struct tbuf {
    uint8_t *raw;
    uint8_t *mem;
    size_t len;
} tbuf;

static void tbuf_init(tbuf *b, size_t len)
{
    b->raw = aligned_alloc(16, CANARY + ((len + 15u) & ~(size_t)15u) + CANARY);
    ck_assert_ptr_nonnull(b->raw);
    memset(b->raw, CANARY_BYTE, CANARY + ((len + 15u) & ~(size_t)15u) + CANARY);
    b->mem = b->raw + CANARY;
    b->len = len;
}

static void tbuf_fini(tbuf *b)
{
    for (size_t i = 0; i < CANARY; i++) {
        ck_assert_uint_eq(b->raw[i], CANARY_BYTE);
        ck_assert_uint_eq(b->mem[b->len + i], CANARY_BYTE);
    }
    free(b->raw);
}

static bool inside(const tbuf *b, const void *p, size_t n)
{
    uintptr_t lo = (uintptr_t)b->mem;
    uintptr_t u = (uintptr_t)p;
    return u >= lo && u - lo <= b->len && n <= b->len - (u - lo);
}

START_TEST(test_arena_inval)
{
    tbuf b;
    sl_allocator a;
    tbuf_init(&b, 4096);
    ck_assert_int_eq(sl_arena_init(NULL, 4096, &a), SL_ERR_INVAL);
    ck_assert_int_eq(sl_arena_init(b.mem, 4096, NULL), SL_ERR_INVAL);
    ck_assert_int_eq(sl_arena_init(b.mem, SL_ARENA_MIN - 1u, &a), SL_ERR_INVAL);
    ck_assert_int_eq(sl_arena_init(b.mem, 0, &a), SL_ERR_INVAL);
    for (size_t off = 1; off < 16; off++)
        ck_assert_int_eq(sl_arena_init(b.mem + off, 2048, &a), SL_ERR_INVAL);
    ck_assert_int_eq(sl_arena_init(b.mem, SL_ARENA_MIN, &a), SL_OK);
    ck_assert(a.alloc != NULL);
    ck_assert(a.free != NULL);
    ck_assert_uint_eq(sl_arena_used(NULL), 0);
    tbuf_fini(&b);
}
END_TEST

START_TEST(test_arena_alignment_and_used)
{
    tbuf b;
    sl_allocator a;
    tbuf_init(&b, 1u << 20);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    size_t base = sl_arena_used(&a);
    ck_assert_uint_gt(base, 0);   /* the header */
    ck_assert_uint_le(base, 512); /* ... is small */
    ck_assert_uint_eq(base % 16, 0);
    ck_assert_ptr_null(a.alloc(a.ctx, 0));
    ck_assert_uint_eq(sl_arena_used(&a), base);
    size_t expect = base;
    static const size_t sizes[] = {1, 15, 16, 17, 33, 100, 1000, 4096, 5000, 65536, 65537, 70000};
    static const size_t rounded[] = {16,   16,   16,   32,    64,    128,
                                     1024, 4096, 8192, 65536, 69632, 73728};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = a.alloc(a.ctx, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        ck_assert(inside(&b, p, sizes[i]));
        ck_assert_ptr_eq(p, b.mem + expect); /* bump order */
        expect += rounded[i];
        ck_assert_uint_eq(sl_arena_used(&a), expect);
        memset(p, 0x11, sizes[i]);
    }
    tbuf_fini(&b);
}
END_TEST

START_TEST(test_arena_reuse)
{
    tbuf b;
    sl_allocator a;
    tbuf_init(&b, 1u << 20);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    void *p = a.alloc(a.ctx, 100);
    void *guard = a.alloc(a.ctx, 16);
    (void)guard;
    size_t used = sl_arena_used(&a);
    a.free(a.ctx, p, 100);
    /* Same class (65..128 bytes) reuses the block; LIFO. */
    ck_assert_ptr_eq(a.alloc(a.ctx, 120), p);
    ck_assert_uint_eq(sl_arena_used(&a), used);
    void *q = a.alloc(a.ctx, 70);
    ck_assert_ptr_ne(q, p);
    a.free(a.ctx, q, 70);
    a.free(a.ctx, p, 120);
    ck_assert_ptr_eq(a.alloc(a.ctx, 65), p);
    ck_assert_ptr_eq(a.alloc(a.ctx, 128), q);

    /* Large blocks: freed neighbours merge and are reused first-fit. */
    uint8_t *l1 = a.alloc(a.ctx, 100000); /* 102400 */
    uint8_t *l2 = a.alloc(a.ctx, 80000);  /* 81920  */
    void *top = a.alloc(a.ctx, 16);
    ck_assert_ptr_eq(l2, l1 + 102400);
    used = sl_arena_used(&a);
    a.free(a.ctx, l1, 100000);
    a.free(a.ctx, l2, 80000);
    ck_assert_ptr_eq(a.alloc(a.ctx, 102400 + 81920), l1);
    a.free(a.ctx, l1, 102400 + 81920);
    ck_assert_ptr_eq(a.alloc(a.ctx, 70000), l1); /* front of the extent */
    ck_assert_ptr_eq(a.alloc(a.ctx, 100000), l1 + 73728);
    ck_assert_uint_eq(sl_arena_used(&a), used);
    (void)top;

    /* A large block at the top goes back to the bump pointer. */
    uint8_t *l3 = a.alloc(a.ctx, 200000);
    used = sl_arena_used(&a);
    a.free(a.ctx, l3, 200000);
    ck_assert_uint_eq(sl_arena_used(&a), used); /* high-water mark */
    void *s = a.alloc(a.ctx, 16);
    ck_assert_ptr_eq(s, l3); /* bump pointer moved back */
    tbuf_fini(&b);
}
END_TEST

/* Fill the arena with one size until it refuses; free all; it serves the
 * same number again.  Returns the count. */
static size_t fill(sl_allocator *a, size_t size, void **ptrs, size_t cap)
{
    size_t n = 0;
    for (;;) {
        void *p = a->alloc(a->ctx, size);
        if (p == NULL)
            break;
        ck_assert_uint_lt(n, cap);
        ptrs[n++] = p;
    }
    return n;
}

START_TEST(test_arena_exhaustion)
{
    enum { LEN = 64 * 1024, CAP = LEN / 16 };
    static void *ptrs[CAP];
    tbuf b;
    sl_allocator a;
    tbuf_init(&b, LEN);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    size_t hdr = sl_arena_used(&a);
    size_t n = fill(&a, 64, ptrs, CAP);
    ck_assert_uint_eq(n, (LEN - hdr) / 64);
    ck_assert_uint_eq(sl_arena_used(&a), hdr + n * 64);
    /* the tail that no 64-byte block fits in still serves 16-byte ones */
    size_t tail = fill(&a, 16, ptrs + n, CAP - n);
    ck_assert_uint_eq(tail, (LEN - hdr) % 64 / 16);
    ck_assert_uint_eq(sl_arena_used(&a), LEN);
    ck_assert_ptr_null(a.alloc(a.ctx, 1));
    ck_assert_ptr_null(a.alloc(a.ctx, LEN)); /* larger than the arena */
    ck_assert_ptr_null(a.alloc(a.ctx, SIZE_MAX));
    for (size_t i = 0; i < n; i++)
        a.free(a.ctx, ptrs[i], 64);
    ck_assert_uint_eq(fill(&a, 50, ptrs, CAP), n);
    ck_assert_ptr_null(a.alloc(a.ctx, 16));
    tbuf_fini(&b);
}
END_TEST

/* When the bump pointer is exhausted, a small request splits a free block
 * of a larger class, and then pieces of a free large extent. */
START_TEST(test_arena_split_fallbacks)
{
    enum { LEN = 1 << 20, CAP = LEN / 16 };
    static void *ptrs[CAP];
    tbuf b;
    sl_allocator a;
    tbuf_init(&b, LEN);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    uint8_t *mid = a.alloc(a.ctx, 4096);
    uint8_t *big = a.alloc(a.ctx, 128 * 1024);
    size_t n = fill(&a, 16, ptrs, CAP); /* exhaust the bump pointer */
    ck_assert_uint_gt(n, 0);

    a.free(a.ctx, mid, 4096);
    size_t k = fill(&a, 16, ptrs + n, CAP - n);
    ck_assert_uint_eq(k, 4096 / 16); /* every piece of mid, nothing else */
    for (size_t i = n; i < n + k; i++)
        ck_assert((uint8_t *)ptrs[i] >= mid && (uint8_t *)ptrs[i] < mid + 4096);
    n += k;

    a.free(a.ctx, big, 128 * 1024);
    k = fill(&a, 128, ptrs + n, CAP - n);
    ck_assert_uint_eq(k, 128 * 1024 / 128);
    for (size_t i = n; i < n + k; i++)
        ck_assert((uint8_t *)ptrs[i] >= big && (uint8_t *)ptrs[i] < big + 128 * 1024);
    tbuf_fini(&b);
}
END_TEST

/* A deterministic xorshift generator for the random sequences. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

typedef struct live_block {
    uint8_t *p;
    size_t size;
    uint8_t tag;
} live_block;

static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    switch (r % 16) {
    case 0:
        return (size_t)(65537 + (r >> 8) % 150000); /* large */
    case 1:
    case 2:
        return (size_t)(1 + (r >> 8) % 65536); /* up to the largest class */
    default:
        return (size_t)(1 + (r >> 8) % 600); /* control blocks */
    }
}

START_TEST(test_arena_random_no_overlap)
{
    enum { LEN = 4 << 20, MAXLIVE = 1000, STEPS = 20000 };
    static live_block live[MAXLIVE];
    static uint8_t ref[65537 + 150000]; /* the largest random_size() */
    size_t nlive = 0;
    tbuf b;
    sl_allocator a;
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i;
    unsigned refused = 0;
    tbuf_init(&b, LEN);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    size_t hdr = sl_arena_used(&a);

    for (unsigned step = 0; step < STEPS; step++) {
        bool do_alloc = nlive == 0 || (nlive < MAXLIVE && rng_next(&rng) % 100 < 55);
        if (do_alloc) {
            size_t size = random_size(&rng);
            uint8_t *p = a.alloc(a.ctx, size);
            if (p == NULL) {
                refused++;
                continue;
            }
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
            /* every byte lies in the buffer, past the arena's header */
            ck_assert(inside(&b, p, size));
            ck_assert((uintptr_t)p >= (uintptr_t)(b.mem + hdr));
            uintptr_t plo = (uintptr_t)p, phi = plo + size;
            size_t bad = nlive;
            for (size_t i = 0; i < nlive; i++) {
                uintptr_t lo = (uintptr_t)live[i].p, hi = lo + live[i].size;
                if (!(phi <= lo || plo >= hi))
                    bad = i;
            }
            ck_assert_msg(bad == nlive, "step %u: overlaps a live block", step);
            uint8_t tag = (uint8_t)(step | 1u);
            memset(p, tag, size);
            live[nlive].p = p;
            live[nlive].size = size;
            live[nlive].tag = tag;
            nlive++;
        } else {
            size_t i = (size_t)(rng_next(&rng) % nlive);
            /* contents intact: nobody else wrote into this block */
            memset(ref, live[i].tag, live[i].size);
            ck_assert_msg(memcmp(live[i].p, ref, live[i].size) == 0, "step %u: block overwritten",
                          step);
            a.free(a.ctx, live[i].p, live[i].size);
            live[i] = live[--nlive];
        }
    }
    ck_assert_uint_le(sl_arena_used(&a), LEN);
    ck_assert_uint_gt(refused, 0); /* the run did reach exhaustion */
    while (nlive > 0) {
        nlive--;
        a.free(a.ctx, live[nlive].p, live[nlive].size);
    }
    tbuf_fini(&b);
}
END_TEST

START_TEST(test_arena_bad_free_ignored)
{
    tbuf b;
    sl_allocator a;
    _Alignas(16) uint8_t outside[64];
    tbuf_init(&b, 8192);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    uint8_t *p = a.alloc(a.ctx, 32);
    a.free(a.ctx, outside, 32);  /* not ours */
    a.free(a.ctx, p + 8, 16);    /* misaligned */
    a.free(a.ctx, b.mem, 32);    /* the header */
    a.free(a.ctx, p + 4096, 32); /* never handed out */
    a.free(a.ctx, NULL, 32);
    uint8_t *q = a.alloc(a.ctx, 32);
    ck_assert_ptr_eq(q, p + 32); /* nothing bogus went on a free list */
    a.free(a.ctx, p, 32);
    ck_assert_ptr_eq(a.alloc(a.ctx, 32), p);
    tbuf_fini(&b);
}
END_TEST

/* sl_mem over an arena: accounting and limit as with any allocator. */
START_TEST(test_mem_over_arena)
{
    tbuf b;
    sl_allocator a;
    sl_mem m;
    tbuf_init(&b, 16384);
    ck_assert_int_eq(sl_arena_init(b.mem, b.len, &a), SL_OK);
    memset(b.mem + sl_arena_used(&a), 0xEE, b.len - sl_arena_used(&a));
    sl_mem_init(&m, &a, 0);
    uint8_t *p = sl_mem_alloc(&m, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert(all_zero(p, 1000));
    ck_assert_ptr_null(sl_mem_alloc(&m, 16384)); /* arena refuses */
    ck_assert_uint_eq(m.fails, 1);
    sl_mem_free(&m, p, 1000);
    ck_assert_uint_eq(m.in_use, 0);
    tbuf_fini(&b);
}
END_TEST

static Suite *mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tm = tcase_create("sl_mem");
    tcase_add_test(tm, test_mem_accounting);
    tcase_add_test(tm, test_mem_zeroes);
    tcase_add_test(tm, test_mem_limit);
    tcase_add_test(tm, test_mem_allocator_null_counted);
    tcase_add_test(tm, test_mem_size_zero);
    tcase_add_test(tm, test_heap_allocator);
    tcase_add_test(tm, test_mem_over_arena);
    suite_add_tcase(s, tm);

    TCase *ta = tcase_create("arena");
    tcase_set_timeout(ta, 30);
    tcase_add_test(ta, test_arena_inval);
    tcase_add_test(ta, test_arena_alignment_and_used);
    tcase_add_test(ta, test_arena_reuse);
    tcase_add_test(ta, test_arena_exhaustion);
    tcase_add_test(ta, test_arena_split_fallbacks);
    tcase_add_loop_test(ta, test_arena_random_no_overlap, 0, 3);
    tcase_add_test(ta, test_arena_bad_free_ignored);
    suite_add_tcase(s, ta);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
