/* Flow table (src/core/flowtab.c): lookup, removal, scale, hash flooding. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/flowtab.h"
#include "core/mem.h"

#define PROTO_TCP 6u
#define PROTO_UDP 17u

static const uint8_t key_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                  0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
static const uint8_t key_b[16] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                                  0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01};

static sl_mem mem;

static void setup(void)
{
    sl_allocator h = sl_allocator_heap();
    sl_mem_init(&mem, &h, 0);
}

/* Leak check: every table was finalized. */
static void teardown(void)
{
    ck_assert_uint_eq(mem.in_use, 0);
}

static sl_flow_key key_v4(uint8_t proto, uint32_t laddr, uint16_t lport, uint32_t raddr,
                          uint16_t rport)
{
    sl_flow_key k;
    memset(&k, 0, sizeof k);
    k.proto = proto;
    k.family = 4;
    k.lport = lport;
    k.rport = rport;
    for (unsigned i = 0; i < 4; i++) {
        k.laddr[i] = (uint8_t)(laddr >> (24u - 8u * i));
        k.raddr[i] = (uint8_t)(raddr >> (24u - 8u * i));
    }
    return k;
}

static sl_flow_key key_v6(uint8_t proto, const uint8_t laddr[16], uint16_t lport,
                          const uint8_t raddr[16], uint16_t rport)
{
    sl_flow_key k;
    memset(&k, 0, sizeof k);
    k.proto = proto;
    k.family = 6;
    k.lport = lport;
    k.rport = rport;
    memcpy(k.laddr, laddr, 16);
    memcpy(k.raddr, raddr, 16);
    return k;
}

START_TEST(test_init_sizes)
{
    sl_flowtab t;
    static const uint32_t req[] = {0, 1, 16, 17, 1000, 1024, 1025};
    static const uint32_t buckets[] = {16, 16, 16, 32, 1024, 1024, 2048};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        ck_assert_int_eq(sl_flowtab_init(&t, &mem, req[i], key_a), SL_OK);
        ck_assert_uint_eq(t.mask + 1u, buckets[i]);
        ck_assert_uint_eq(t.count, 0);
        ck_assert_uint_eq(mem.in_use, buckets[i] * sizeof(void *));
        ck_assert_uint_eq(sl_flowtab_max_chain(&t), 0);
        sl_flowtab_fini(&t, &mem);
        ck_assert_uint_eq(mem.in_use, 0);
    }
    sl_flowtab_fini(&t, &mem); /* twice is harmless */
    ck_assert_uint_eq(sl_flowtab_max_chain(&t), 0);
}
END_TEST

START_TEST(test_init_nomem)
{
    sl_flowtab t;
    sl_allocator h = sl_allocator_heap();
    sl_mem small;
    sl_mem_init(&small, &h, 16 * sizeof(void *) - 1u);
    ck_assert_int_eq(sl_flowtab_init(&t, &small, 16, key_a), SL_ERR_NOMEM);
    ck_assert_uint_eq(small.fails, 1);
    ck_assert_ptr_null(t.buckets);
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, UINT32_MAX, key_a), SL_ERR_NOMEM);
    sl_flowtab_fini(&t, &mem);
}
END_TEST

START_TEST(test_v4_v6_basic)
{
    sl_flowtab t;
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, 64, key_a), SL_OK);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    /* Keys that differ in exactly one field each. */
    sl_flow_key keys[] = {
        key_v4(PROTO_TCP, 0x0a000001, 80, 0x0a000002, 40000),
        key_v4(PROTO_TCP, 0x0a000001, 80, 0x0a000002, 40001), /* rport */
        key_v4(PROTO_TCP, 0x0a000001, 81, 0x0a000002, 40000), /* lport */
        key_v4(PROTO_TCP, 0x0a000002, 40000, 0x0a000001, 80), /* swapped */
        key_v4(PROTO_UDP, 0x0a000001, 80, 0x0a000002, 40000), /* proto */
        key_v4(PROTO_TCP, 0x0a000003, 80, 0x0a000002, 40000), /* laddr */
        key_v4(PROTO_TCP, 0x0a000001, 80, 0x0b000002, 40000), /* raddr */
        key_v6(PROTO_TCP, a6, 80, b6, 40000),
        key_v6(PROTO_TCP, a6, 80, b6, 40001),
        key_v6(PROTO_TCP, b6, 80, a6, 40000),
        key_v6(PROTO_UDP, a6, 80, b6, 40000),
        key_v6(PROTO_TCP, a6, 443, b6, 40000),
    };
    enum { N = sizeof keys / sizeof keys[0] };
    /* Same bytes as the first v4 key but family 6: a distinct flow. */
    sl_flow_key fam = keys[0];
    fam.family = 6;
    sl_flow_node nodes[N];

    for (size_t i = 0; i < N; i++) {
        ck_assert_ptr_null(sl_flowtab_find(&t, &keys[i]));
        sl_flow_node_set(&t, &nodes[i], &keys[i]);
        ck_assert(memcmp(&nodes[i].key, &keys[i], sizeof keys[i]) == 0);
        sl_flowtab_insert(&t, &nodes[i]);
        ck_assert_uint_eq(t.count, i + 1u);
    }
    for (size_t i = 0; i < N; i++)
        ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), &nodes[i]);
    ck_assert_ptr_null(sl_flowtab_find(&t, &fam));

    /* Remove every other one. */
    for (size_t i = 0; i < N; i += 2)
        sl_flowtab_remove(&t, &nodes[i]);
    ck_assert_uint_eq(t.count, N / 2);
    for (size_t i = 0; i < N; i++) {
        if (i % 2 == 0)
            ck_assert_ptr_null(sl_flowtab_find(&t, &keys[i]));
        else
            ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), &nodes[i]);
    }
    /* Re-insert one: found again. */
    sl_flow_node_set(&t, &nodes[0], &keys[0]);
    sl_flowtab_insert(&t, &nodes[0]);
    ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[0]), &nodes[0]);
    for (size_t i = 0; i < N; i++)
        if (i == 0 || i % 2 == 1)
            sl_flowtab_remove(&t, &nodes[i]);
    ck_assert_uint_eq(t.count, 0);
    sl_flowtab_fini(&t, &mem);
}
END_TEST

/* The last-found cache: a repeated find returns the node without hashing;
 * a removed node is never returned from the cache, even when its memory
 * is reused for another key; a different key is looked up properly. */
START_TEST(test_last_found_cache)
{
    sl_flowtab t;
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, 64, key_a), SL_OK);
    sl_flow_key k1 = key_v4(PROTO_TCP, 0x0a000001, 80, 0x0a000002, 40000);
    sl_flow_key k2 = key_v4(PROTO_TCP, 0x0a000001, 80, 0x0a000002, 40001);
    sl_flow_node n1, n2;
    sl_flow_node_set(&t, &n1, &k1);
    sl_flowtab_insert(&t, &n1);
    sl_flow_node_set(&t, &n2, &k2);
    sl_flowtab_insert(&t, &n2);
    ck_assert_ptr_eq(sl_flowtab_find(&t, &k1), &n1);
    ck_assert_ptr_eq(t.last, &n1);
    ck_assert_ptr_eq(sl_flowtab_find(&t, &k1), &n1); /* from the cache */
    ck_assert_ptr_eq(sl_flowtab_find(&t, &k2), &n2); /* not the cached one */
    ck_assert_ptr_eq(t.last, &n2);
    sl_flowtab_remove(&t, &n2);
    ck_assert_ptr_null(t.last);
    ck_assert_ptr_null(sl_flowtab_find(&t, &k2));
    /* n1's memory reused for k2 after removal: k1 is gone, k2 found. */
    ck_assert_ptr_eq(sl_flowtab_find(&t, &k1), &n1);
    sl_flowtab_remove(&t, &n1);
    sl_flow_node_set(&t, &n1, &k2);
    ck_assert_ptr_null(sl_flowtab_find(&t, &k1));
    ck_assert_ptr_null(sl_flowtab_find(&t, &k2)); /* not inserted yet */
    sl_flowtab_insert(&t, &n1);
    ck_assert_ptr_eq(sl_flowtab_find(&t, &k2), &n1);
    ck_assert_ptr_null(sl_flowtab_find(&t, &k1));
    sl_flowtab_remove(&t, &n1);
    ck_assert_uint_eq(t.count, 0);
    sl_flowtab_fini(&t, &mem);
}
END_TEST

/* Many flows in one bucket (a table of 16 buckets holding 200 flows):
 * removal from the head, middle and tail of a chain. */
START_TEST(test_chain_removal)
{
    enum { N = 200 };
    static sl_flow_node nodes[N];
    static sl_flow_key keys[N];
    sl_flowtab t;
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, 16, key_a), SL_OK);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = key_v4(PROTO_TCP, 0xc0a80001, 443, 0xc6336400u + i, (uint16_t)(1024 + i));
        sl_flow_node_set(&t, &nodes[i], &keys[i]);
        sl_flowtab_insert(&t, &nodes[i]);
    }
    ck_assert_uint_ge(sl_flowtab_max_chain(&t), N / 16);
    for (uint32_t i = 0; i < N; i += 3)
        sl_flowtab_remove(&t, &nodes[i]);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), i % 3 == 0 ? NULL : &nodes[i]);
    for (uint32_t i = 0; i < N; i++)
        if (i % 3 != 0)
            sl_flowtab_remove(&t, &nodes[i]);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_uint_eq(sl_flowtab_max_chain(&t), 0);
    sl_flowtab_fini(&t, &mem);
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* 100,000 random flows, v4 and v6 mixed; distinct by construction (the
 * index is in the remote address). */
START_TEST(test_100k_random)
{
    enum { N = 100000 };
    sl_flow_node *nodes = calloc(N, sizeof *nodes);
    sl_flow_key *keys = calloc(N, sizeof *keys);
    ck_assert_ptr_nonnull(nodes);
    ck_assert_ptr_nonnull(keys);
    uint64_t rng = 12345;
    sl_flowtab t;
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, N, key_a), SL_OK);
    ck_assert_uint_eq(t.mask + 1u, 131072);
    for (uint32_t i = 0; i < N; i++) {
        uint64_t r = rng_next(&rng);
        uint8_t la[16], ra[16];
        for (unsigned j = 0; j < 16; j++) {
            la[j] = (uint8_t)(rng_next(&rng) >> 40);
            ra[j] = (uint8_t)(rng_next(&rng) >> 40);
        }
        ra[12] = (uint8_t)(i >> 24);
        ra[13] = (uint8_t)(i >> 16);
        ra[14] = (uint8_t)(i >> 8);
        ra[15] = (uint8_t)i;
        uint8_t proto = (r & 1) ? PROTO_TCP : PROTO_UDP;
        if (r & 2) {
            keys[i] = key_v6(proto, la, (uint16_t)(r >> 16), ra, (uint16_t)(r >> 32));
        } else {
            uint32_t l4 = (uint32_t)(r >> 8);
            uint32_t r4 =
                (uint32_t)ra[12] << 24 | (uint32_t)ra[13] << 16 | (uint32_t)ra[14] << 8 | ra[15];
            keys[i] = key_v4(proto, l4, (uint16_t)(r >> 16), r4, (uint16_t)(r >> 32));
        }
        sl_flow_node_set(&t, &nodes[i], &keys[i]);
        sl_flowtab_insert(&t, &nodes[i]);
    }
    ck_assert_uint_eq(t.count, N);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), &nodes[i]);
    ck_assert_uint_le(sl_flowtab_max_chain(&t), 12);

    /* Remove a random-ish half; the rest stays findable. */
    for (uint32_t i = 0; i < N; i++)
        if (nodes[i].hash & 0x100)
            sl_flowtab_remove(&t, &nodes[i]);
    uint32_t left = 0;
    for (uint32_t i = 0; i < N; i++) {
        bool gone = (nodes[i].hash & 0x100) != 0;
        ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), gone ? NULL : &nodes[i]);
        left += gone ? 0u : 1u;
    }
    ck_assert_uint_eq(t.count, left);
    ck_assert_uint_gt(left, N / 2 - 2000);
    ck_assert_uint_lt(left, N / 2 + 2000);
    sl_flowtab_fini(&t, &mem);
    free(nodes);
    free(keys);
}
END_TEST

/* The naive hash an unkeyed table might use: XOR of the key's ten 32-bit
 * little-endian words. */
static uint32_t naive_fold(const sl_flow_key *k)
{
    uint8_t b[40];
    memcpy(b, k, sizeof b);
    uint32_t h = 0;
    for (unsigned w = 0; w < 10; w++)
        h ^= (uint32_t)b[4 * w] | (uint32_t)b[4 * w + 1] << 8 | (uint32_t)b[4 * w + 2] << 16 |
             (uint32_t)b[4 * w + 3] << 24;
    return h;
}

/* Attacker-chosen flows: an IPv6 peer varies the interface identifier of
 * its source address as raddr[8..11] = raddr[12..15] = i.  In the raw key
 * those bytes sit at offsets 30..37, so i's bytes appear twice in the same
 * lanes of the 32-bit words and cancel in the XOR fold: every key has the
 * same naive hash. */
START_TEST(test_collision_flood)
{
    enum { N = 20000 };
    sl_flow_node *nodes = calloc(N, sizeof *nodes);
    sl_flow_key *keys = calloc(N, sizeof *keys);
    ck_assert_ptr_nonnull(nodes);
    ck_assert_ptr_nonnull(keys);
    const uint8_t local[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x80};
    uint8_t remote[16] = {0x20, 0x01, 0x0d, 0xb8, 0xba, 0xd0};
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v = i * 2654435761u; /* spread i over all four bytes */
        for (unsigned j = 0; j < 4; j++) {
            remote[8 + j] = (uint8_t)(v >> (8 * j));
            remote[12 + j] = (uint8_t)(v >> (8 * j));
        }
        keys[i] = key_v6(PROTO_TCP, local, 443, remote, 5555);
    }
    /* The naive hash collides on all of them (and they are distinct). */
    uint32_t h0 = naive_fold(&keys[0]);
    for (uint32_t i = 1; i < N; i++) {
        ck_assert_uint_eq(naive_fold(&keys[i]), h0);
        ck_assert(memcmp(&keys[i], &keys[i - 1], sizeof keys[i]) != 0);
    }
    /* An unkeyed table would put all N in one chain: N*(N-1)/2 key
     * comparisons to insert them with a duplicate check.  The keyed table
     * spreads them. */
    sl_flowtab t;
    ck_assert_int_eq(sl_flowtab_init(&t, &mem, 32768, key_a), SL_OK);
    ck_assert_uint_eq(t.mask + 1u, 32768);
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_ptr_null(sl_flowtab_find(&t, &keys[i]));
        sl_flow_node_set(&t, &nodes[i], &keys[i]);
        sl_flowtab_insert(&t, &nodes[i]);
    }
    uint32_t chain = sl_flowtab_max_chain(&t);
    if (getenv("SL_TEST_VERBOSE") != NULL)
        fprintf(stderr, "collision flood: max chain %u of %u flows\n", chain, (unsigned)N);
    ck_assert_uint_le(chain, 12);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_ptr_eq(sl_flowtab_find(&t, &keys[i]), &nodes[i]);
    sl_flowtab_fini(&t, &mem);
    free(nodes);
    free(keys);
}
END_TEST

/* Two tables with different secrets place the same flow in different
 * buckets almost always (1/32768 by chance). */
START_TEST(test_key_changes_placement)
{
    enum { N = 10000 };
    sl_flowtab ta, tb;
    ck_assert_int_eq(sl_flowtab_init(&ta, &mem, 32768, key_a), SL_OK);
    ck_assert_int_eq(sl_flowtab_init(&tb, &mem, 32768, key_b), SL_OK);
    uint32_t same_bucket = 0, same_hash = 0;
    for (uint32_t i = 0; i < N; i++) {
        sl_flow_key k = key_v4(PROTO_TCP, 0x0a000001, 80, 0x0a010000u + i, (uint16_t)(i * 7u));
        sl_flow_node na, nb;
        sl_flow_node_set(&ta, &na, &k);
        sl_flow_node_set(&tb, &nb, &k);
        same_bucket += (na.hash & ta.mask) == (nb.hash & tb.mask) ? 1u : 0u;
        same_hash += na.hash == nb.hash ? 1u : 0u;
    }
    ck_assert_uint_le(same_bucket, N / 100);
    ck_assert_uint_le(same_hash, 1);
    /* Same secret: same placement (determinism). */
    sl_flowtab tc;
    ck_assert_int_eq(sl_flowtab_init(&tc, &mem, 32768, key_a), SL_OK);
    sl_flow_key k = key_v4(PROTO_UDP, 0x7f000001, 53, 0x7f000002, 5353);
    sl_flow_node n1, n2;
    sl_flow_node_set(&ta, &n1, &k);
    sl_flow_node_set(&tc, &n2, &k);
    ck_assert_uint_eq(n1.hash, n2.hash);
    sl_flowtab_fini(&ta, &mem);
    sl_flowtab_fini(&tb, &mem);
    sl_flowtab_fini(&tc, &mem);
}
END_TEST

static Suite *flowtab_suite(void)
{
    Suite *s = suite_create("flowtab");
    TCase *tc = tcase_create("flowtab");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_init_sizes);
    tcase_add_test(tc, test_init_nomem);
    tcase_add_test(tc, test_v4_v6_basic);
    tcase_add_test(tc, test_chain_removal);
    tcase_add_test(tc, test_last_found_cache);
    tcase_add_test(tc, test_100k_random);
    tcase_add_test(tc, test_collision_flood);
    tcase_add_test(tc, test_key_changes_placement);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(flowtab_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
