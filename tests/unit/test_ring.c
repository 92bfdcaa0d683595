/* Byte ring (src/tcp/ring.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sluice/alloc.h"
#include "tcp/ring.h"

/* ---- fixtures -------------------------------------------------------------- */

/* Seeded PRNG (splitmix64), so every run sees the same "random" data. */
typedef struct prng {
    uint64_t s;
} prng;

static uint64_t prng_next(prng *p)
{
    uint64_t z = (p->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform-enough value in [0, n) (n > 0). */
static uint32_t prng_below(prng *p, uint32_t n)
{
    return (uint32_t)((prng_next(p) >> 32) % n);
}

/* An allocator that counts and can be told to refuse. */
typedef struct counting {
    int fail; /* refuse every call while set */
    unsigned calls;
    size_t live;
} counting;

static void *counting_alloc(void *ctx, size_t size)
{
    counting *c = ctx;
    c->calls++;
    if (c->fail)
        return NULL;
    void *p = aligned_alloc(16, (size + 15u) & ~(size_t)15u);
    ck_assert_ptr_nonnull(p);
    c->live += size;
    return p;
}

static void counting_free(void *ctx, void *ptr, size_t size)
{
    counting *c = ctx;
    ck_assert_uint_ge(c->live, size);
    c->live -= size;
    free(ptr);
}

static counting alloc_state;
static sl_mem mem;

static void setup(void)
{
    memset(&alloc_state, 0, sizeof alloc_state);
    sl_allocator a = {counting_alloc, counting_free, &alloc_state};
    sl_mem_init(&mem, &a, 0);
}

/* Leak check: every test ends with all ring storage given back. */
static void teardown(void)
{
    ck_assert_uint_eq(mem.in_use, 0);
    ck_assert_uint_le(mem.cached, 4096); /* a freed ring is kept for reuse */
    sl_mem_cache_flush(&mem);
    ck_assert_uint_eq(mem.cached, 0);
    ck_assert_uint_eq(alloc_state.live, 0);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7u);
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(lazy_allocation)
{
    sl_ring r;
    sl_ring_init(&r, 64);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(sl_ring_space(&r), 64);

    /* Nothing that stores no byte allocates. */
    uint8_t out[8];
    int nomem = 0;
    ck_assert_uint_eq(sl_ring_peek(&r, 0, out, sizeof out), 0);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 0), 0);
    sl_ring_consume(&r, &mem, 5, 0);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, out, 0, &nomem), 0);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 3, out, 0, &nomem), 0);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 64, out, 4, &nomem), 0);
    sl_ring_extend(&r, 0);
    ck_assert_uint_eq(mem.in_use, 0);
    ck_assert_uint_eq(alloc_state.calls, 0);
    ck_assert_int_eq(nomem, 0);

    /* The first write allocates cap bytes. */
    uint8_t in[10];
    fill_pattern(in, sizeof in, 1);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, sizeof in, &nomem), 10);
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_uint_eq(mem.in_use, 64);
    ck_assert_uint_eq(alloc_state.calls, 1);
    ck_assert_uint_eq(sl_ring_space(&r), 54);

    /* A second write reuses it. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 4, &nomem), 4);
    ck_assert_uint_eq(alloc_state.calls, 1);

    /* Partial consume keeps it; emptying frees it. */
    sl_ring_consume(&r, &mem, 13, 0);
    ck_assert_uint_eq(r.len, 1);
    ck_assert_uint_eq(mem.in_use, 64);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 0), 1);
    ck_assert_uint_eq(out[0], in[3]);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(mem.in_use, 0);
    ck_assert_uint_eq(mem.cached, 64); /* kept for the next ring */
    ck_assert_uint_eq(alloc_state.live, 64);
    ck_assert_int_eq(nomem, 0);

    /* And the next write takes the kept storage back, without calling the
     * allocator. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 3, &nomem), 3);
    ck_assert_uint_eq(mem.in_use, 64);
    ck_assert_uint_eq(mem.cached, 0);
    ck_assert_uint_eq(alloc_state.calls, 1);
    /* Without the cache, it allocates anew. */
    sl_ring_fini(&r, &mem);
    sl_mem_cache_flush(&mem);
    ck_assert_uint_eq(alloc_state.live, 0);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 3, &nomem), 3);
    ck_assert_uint_eq(alloc_state.calls, 2);
    sl_ring_fini(&r, &mem);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.len, 0);
    sl_ring_fini(&r, &mem); /* twice is harmless */
}
END_TEST

START_TEST(wraparound)
{
    sl_ring r;
    sl_ring_init(&r, 16);
    uint8_t in[16], out[16];
    int nomem = 0;
    fill_pattern(in, sizeof in, 3);

    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 12, &nomem), 12);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, 10, 0), 10);
    ck_assert_mem_eq(out, in, 10);
    ck_assert_uint_eq(r.head, 10);
    /* 2 stored at 10..11; these 10 go to 12..15 and 0..5. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in + 2, 10, &nomem), 10);
    ck_assert_uint_eq(r.len, 12);
    ck_assert_mem_eq(r.buf + 12, in + 2, 4);
    ck_assert_mem_eq(r.buf, in + 6, 6);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 0), 12);
    ck_assert_mem_eq(out, in + 10, 2);
    ck_assert_mem_eq(out + 2, in + 2, 10);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.head, 0);

    /* Wrap exactly at the end: fill, consume, refill to full. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 16, &nomem), 16);
    sl_ring_consume(&r, &mem, 16, 1); /* whole ring consumed, storage kept */
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_uint_lt(r.head, 16);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 16, &nomem), 16);
    ck_assert_uint_eq(sl_ring_peek(&r, 0, out, 16), 16);
    ck_assert_mem_eq(out, in, 16);
    sl_ring_fini(&r, &mem);
    ck_assert_int_eq(nomem, 0);
}
END_TEST

START_TEST(partial_when_full)
{
    sl_ring r;
    sl_ring_init(&r, 8);
    uint8_t in[20], out[20];
    int nomem = 0;
    fill_pattern(in, sizeof in, 9);

    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 5, &nomem), 5);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in + 5, 20, &nomem), 3);
    ck_assert_uint_eq(sl_ring_space(&r), 0);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 1, &nomem), 0); /* full */
    ck_assert_int_eq(nomem, 0);                                   /* not nomem */
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, 3, 0), 3);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in + 8, 20, &nomem), 3);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 0), 8);
    ck_assert_mem_eq(out, in + 3, 8);
    ck_assert_ptr_null(r.buf);

    /* A ring of capacity 0 never allocates and takes nothing. */
    sl_ring z;
    sl_ring_init(&z, 0);
    ck_assert_uint_eq(sl_ring_write(&z, &mem, in, 4, &nomem), 0);
    ck_assert_uint_eq(sl_ring_write_at(&z, &mem, 0, in, 4, &nomem), 0);
    ck_assert_ptr_null(z.buf);
    ck_assert_int_eq(nomem, 0);
    ck_assert_uint_eq(alloc_state.calls, 1);
    sl_ring_fini(&z, &mem);
}
END_TEST

START_TEST(peek_offsets_across_wrap)
{
    sl_ring r;
    sl_ring_init(&r, 10);
    uint8_t in[10], out[12];
    int nomem = 0;
    fill_pattern(in, sizeof in, 20);

    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 7, &nomem), 7);
    sl_ring_consume(&r, &mem, 7, 1);
    ck_assert_uint_eq(r.head, 7);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, in, 10, &nomem), 10); /* 7..9, 0..6 */
    for (size_t off = 0; off < 10; off++) {
        for (size_t n = 0; n <= 11; n++) {
            memset(out, 0xEE, sizeof out);
            size_t want = n < 10 - off ? n : 10 - off;
            ck_assert_uint_eq(sl_ring_peek(&r, off, out, n), want);
            ck_assert_mem_eq(out, in + off, want);
            ck_assert_uint_eq(out[want], 0xEE); /* nothing beyond */
        }
    }
    ck_assert_uint_eq(sl_ring_peek(&r, 10, out, 1), 0);
    ck_assert_uint_eq(sl_ring_peek(&r, SIZE_MAX, out, SIZE_MAX), 0);
    ck_assert_uint_eq(r.len, 10); /* peek consumes nothing */
    sl_ring_fini(&r, &mem);
}
END_TEST

START_TEST(write_at_then_extend)
{
    sl_ring r;
    sl_ring_init(&r, 32);
    uint8_t data[40], out[40];
    int nomem = 0;
    fill_pattern(data, sizeof data, 40);

    /* Move head so the out-of-order bytes wrap. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 20, &nomem), 20);
    sl_ring_consume(&r, &mem, 20, 1);
    ck_assert_uint_eq(r.head, 20);

    /* Stream bytes 0..29: 10..19 and 20..29 arrive first. */
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 20, data + 20, 10, &nomem), 10);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 10, data + 10, 10, &nomem), 10);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_uint_eq(sl_ring_peek(&r, 0, out, 1), 0);
    /* Then 0..9 in order, and the held bytes become contiguous. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 10, &nomem), 10);
    sl_ring_extend(&r, 20);
    ck_assert_uint_eq(r.len, 30);
    ck_assert_uint_eq(sl_ring_peek(&r, 0, out, sizeof out), 30);
    ck_assert_mem_eq(out, data, 30);

    /* Bounds: len 30 of 32, so gap + n is cut to 2. */
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 0, data, 40, &nomem), 2);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 1, data, 40, &nomem), 1);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 2, data, 40, &nomem), 0);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, SIZE_MAX, data, SIZE_MAX, &nomem), 0);
    ck_assert_uint_eq(r.len, 30);
    /* extend past cap is clamped. */
    sl_ring_extend(&r, 5);
    ck_assert_uint_eq(r.len, 32);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 0), 32);
    ck_assert_mem_eq(out, data, 30);
    ck_assert_uint_eq(out[30], data[0]);
    ck_assert_uint_eq(out[31], data[0]); /* gap 1 rewrote byte 31 */
    ck_assert_ptr_null(r.buf);

    /* write_at alone allocates; with gap 0 and no extend, len stays 0. */
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 31, data, 5, &nomem), 1);
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_int_eq(nomem, 0);
    sl_ring_fini(&r, &mem);
    ck_assert_uint_eq(mem.in_use, 0);
}
END_TEST

START_TEST(keep_storage)
{
    sl_ring r;
    sl_ring_init(&r, 16);
    uint8_t data[16], out[16];
    int nomem = 0;
    fill_pattern(data, sizeof data, 77);

    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 4, &nomem), 4);
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 2, data + 6, 3, &nomem), 3);
    /* Read the contiguous bytes, keeping the storage: the held bytes stay. */
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, sizeof out, 1), 4);
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_uint_eq(mem.in_use, 16);
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data + 4, 2, &nomem), 2);
    sl_ring_extend(&r, 3);
    ck_assert_uint_eq(sl_ring_peek(&r, 0, out, sizeof out), 5);
    ck_assert_mem_eq(out, data + 4, 5);
    /* consume with keep_storage and then with 0 on an empty ring. */
    sl_ring_consume(&r, &mem, 5, 1);
    ck_assert_ptr_nonnull(r.buf);
    sl_ring_consume(&r, &mem, 0, 0);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(mem.in_use, 0);
    ck_assert_int_eq(nomem, 0);
}
END_TEST

/* sl_mem's buffer cache: bounded to limit / 4 and SL_MEM_CACHE_SLOTS
 * buffers, outside in_use but inside the limit, and given back first when
 * a real allocation needs the room. */
START_TEST(buffer_cache_bounds)
{
    sl_allocator a = {counting_alloc, counting_free, &alloc_state};
    sl_mem m;
    sl_mem_init(&m, &a, 512); /* cache room: 128 bytes */
    void *p1 = sl_mem_alloc_buf(&m, 64);
    void *p2 = sl_mem_alloc_buf(&m, 64);
    void *p3 = sl_mem_alloc_buf(&m, 64);
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert_ptr_nonnull(p3);
    sl_mem_free_buf(&m, p1, 64);
    sl_mem_free_buf(&m, p2, 64);
    sl_mem_free_buf(&m, p3, 64); /* past limit / 4: really freed */
    ck_assert_uint_eq(m.cached, 128);
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(alloc_state.live, 128);
    ck_assert_uint_eq(m.peak, 192);
    /* A different size does not take a cached buffer. */
    void *q = sl_mem_alloc_buf(&m, 32);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(m.cached, 128);
    /* The same size does, without the allocator. */
    unsigned calls = alloc_state.calls;
    void *r = sl_mem_alloc_buf(&m, 64);
    ck_assert(r == p1 || r == p2);
    ck_assert_uint_eq(alloc_state.calls, calls);
    ck_assert_uint_eq(m.cached, 64);
    /* An allocation that fits only without the cache flushes it. */
    void *big = sl_mem_alloc_raw(&m, 512 - 96 - 16);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(m.cached, 0);
    ck_assert_uint_eq(m.in_use, 512 - 16);
    ck_assert_uint_eq(alloc_state.live, 512 - 16);
    /* Over the limit: refused even though nothing is cached. */
    ck_assert_ptr_null(sl_mem_alloc_buf(&m, 64));
    ck_assert_uint_eq(m.fails, 1);
    sl_mem_free(&m, big, 512 - 96 - 16);
    sl_mem_free_buf(&m, q, 32);
    sl_mem_free_buf(&m, r, 64);
    ck_assert_uint_eq(m.in_use, 0);
    ck_assert_uint_eq(m.cached, 96);
    sl_mem_cache_flush(&m);
    ck_assert_uint_eq(m.cached, 0);
    ck_assert_uint_eq(alloc_state.live, 0);
}
END_TEST

START_TEST(allocation_failure)
{
    sl_ring r;
    sl_ring_init(&r, 128);
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    int nomem = 0;

    alloc_state.fail = 1;
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 8, &nomem), 0);
    ck_assert_int_eq(nomem, 1);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.len, 0);
    nomem = 0;
    ck_assert_uint_eq(sl_ring_write_at(&r, &mem, 4, data, 8, &nomem), 0);
    ck_assert_int_eq(nomem, 1);
    ck_assert_uint_eq(mem.fails, 2);
    ck_assert_uint_eq(mem.in_use, 0);
    /* Full-ring and zero-length calls do not report nomem. */
    nomem = 0;
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 0, &nomem), 0);
    ck_assert_int_eq(nomem, 0);
    /* nomem may be NULL. */
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 8, NULL), 0);

    /* The allocator recovers: the next write succeeds. */
    alloc_state.fail = 0;
    ck_assert_uint_eq(sl_ring_write(&r, &mem, data, 8, &nomem), 8);
    ck_assert_int_eq(nomem, 0);
    ck_assert_uint_eq(sl_ring_read(&r, &mem, out, 8, 0), 8);
    ck_assert_mem_eq(out, data, 8);

    /* The sl_mem limit refuses the same way. */
    sl_allocator a = {counting_alloc, counting_free, &alloc_state};
    sl_mem small;
    sl_mem_init(&small, &a, 100);
    ck_assert_uint_eq(sl_ring_write(&r, &small, data, 8, &nomem), 0);
    ck_assert_int_eq(nomem, 1);
    ck_assert_uint_eq(small.fails, 1);
    ck_assert_uint_eq(small.in_use, 0);
}
END_TEST

/* A long random run against a plain byte-array model: model[i] is stream
 * byte i (from the oldest stored), known[i] says a byte beyond len has
 * been stored by write_at.  After every operation each storage position is
 * compared. */
#define MODEL_MAX 300u

typedef struct model {
    uint32_t cap, len;
    uint8_t data[MODEL_MAX];
    uint8_t known[MODEL_MAX];
    int has_storage;
} model;

static void model_consume(model *md, uint32_t k, int keep)
{
    memmove(md->data, md->data + k, md->cap - k);
    memmove(md->known, md->known + k, md->cap - k);
    memset(md->known + (md->cap - k), 0, k);
    md->len -= k;
    if (md->len == 0 && !keep) {
        md->has_storage = 0;
        memset(md->known, 0, sizeof md->known);
    }
}

/* libcheck assertions write to a pipe each time they pass, too slow for
 * 100k operations: the model run aborts through expect() instead. */
static void expect(int ok, int op, int line)
{
    if (!ok)
        ck_abort_msg("model mismatch at op %d (line %d)", op, line);
}
#define EXPECT(c) expect((c) != 0, op, __LINE__)

static void check_model(const sl_ring *r, const model *md, int op)
{
    EXPECT((r->len) == (md->len));
    EXPECT((r->cap) == (md->cap));
    if (!md->has_storage) {
        EXPECT(r->buf == NULL);
        EXPECT((mem.in_use) == (0));
        return;
    }
    EXPECT(r->buf != NULL);
    EXPECT((mem.in_use) == (md->cap));
    EXPECT((r->head) < (r->cap));
    /* One assertion for the whole scan: libcheck's assertions are not free. */
    uint32_t bad = UINT32_MAX;
    for (uint32_t i = 0; i < md->cap && bad == UINT32_MAX; i++) {
        uint8_t b = r->buf[(r->head + i) % r->cap];
        if ((i < md->len || md->known[i]) && b != md->data[i])
            bad = i;
    }
    EXPECT(bad == UINT32_MAX);
}

START_TEST(random_model)
{
    prng p = {(uint64_t)_i * 1000003u + 17u};
    static const uint32_t caps[] = {1, 2, 7, 64, 255, MODEL_MAX};
    uint8_t src[2 * MODEL_MAX], dst[2 * MODEL_MAX];
    sl_ring r;
    model md;
    memset(&md, 0, sizeof md);
    md.cap = caps[_i % (int)(sizeof caps / sizeof caps[0])];
    sl_ring_init(&r, md.cap);

    for (int op = 0; op < 100000; op++) {
        uint32_t space = md.cap - md.len;
        uint32_t n = prng_below(&p, md.cap + md.cap / 2u + 1u);
        int nomem = 0;
        for (uint32_t i = 0; i < n; i++)
            src[i] = (uint8_t)prng_next(&p);
        switch (prng_below(&p, 7)) {
        case 0: { /* write */
            uint32_t want = n < space ? n : space;
            EXPECT((sl_ring_write(&r, &mem, src, n, &nomem)) == (want));
            memcpy(md.data + md.len, src, want);
            memset(md.known + md.len, 0, want);
            md.len += want;
            if (want > 0)
                md.has_storage = 1;
            break;
        }
        case 1:
        case 2: { /* write_at */
            uint32_t gap = prng_below(&p, md.cap + 2u);
            uint32_t want = gap >= space ? 0 : (n < space - gap ? n : space - gap);
            EXPECT((sl_ring_write_at(&r, &mem, gap, src, n, &nomem)) == (want));
            memcpy(md.data + md.len + gap * (want > 0), src, want);
            if (want > 0) {
                memset(md.known + md.len + gap, 1, want);
                md.has_storage = 1;
            }
            break;
        }
        case 3: { /* extend over what write_at stored */
            uint32_t k = 0;
            while (md.len + k < md.cap && md.known[md.len + k])
                k++;
            if (k > 0)
                k = 1u + prng_below(&p, k);
            sl_ring_extend(&r, k);
            memset(md.known + md.len, 0, k);
            md.len += k;
            break;
        }
        case 4: { /* peek */
            uint32_t off = prng_below(&p, md.cap + 2u);
            uint32_t want = off >= md.len ? 0 : (n < md.len - off ? n : md.len - off);
            EXPECT((sl_ring_peek(&r, off, dst, n)) == (want));
            EXPECT(memcmp(dst, md.data + (want > 0 ? off : 0), want) == 0);
            break;
        }
        case 5: { /* consume */
            int keep = (int)prng_below(&p, 2);
            uint32_t k = n < md.len ? n : md.len;
            sl_ring_consume(&r, &mem, n, keep);
            model_consume(&md, k, keep);
            break;
        }
        case 6: { /* read */
            int keep = (int)prng_below(&p, 2);
            uint32_t k = n < md.len ? n : md.len;
            EXPECT((sl_ring_read(&r, &mem, dst, n, keep)) == (k));
            EXPECT(memcmp(dst, md.data, k) == 0);
            model_consume(&md, k, keep);
            break;
        }
        default:
            ck_abort();
        }
        if (nomem != 0)
            ck_abort_msg("nomem at op %d", op);
        check_model(&r, &md, op);
    }
    sl_ring_fini(&r, &mem);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *t = tcase_create("ring");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, lazy_allocation);
    tcase_add_test(t, wraparound);
    tcase_add_test(t, partial_when_full);
    tcase_add_test(t, peek_offsets_across_wrap);
    tcase_add_test(t, write_at_then_extend);
    tcase_add_test(t, keep_storage);
    tcase_add_test(t, allocation_failure);
    tcase_add_test(t, buffer_cache_bounds);
    tcase_add_loop_test(t, random_model, 0, 6);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
