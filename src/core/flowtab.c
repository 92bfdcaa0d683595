/*
 * Flow table (core/flowtab.h): separate chaining over a power-of-two
 * bucket array, hashed with SipHash-2-4 under the table's secret key.
 * A node's 32-bit hash is kept in the node so that a lookup compares
 * hashes before it compares 40-byte keys, and so that removal and
 * statistics need no rehashing.
 */
#include "flowtab.h"

#include <string.h>

#include "siphash.h"

/* The key is hashed and compared as raw bytes: it must have no padding. */
_Static_assert(sizeof(sl_flow_key) == 40, "sl_flow_key must be 40 bytes");
_Static_assert(offsetof(sl_flow_key, laddr) == 6, "sl_flow_key has padding");
_Static_assert(offsetof(sl_flow_key, pad) == 38, "sl_flow_key has padding");

#define MIN_BUCKETS 16u
#define MAX_BUCKETS ((uint32_t)1 << 31)

static uint32_t key_hash(const sl_flowtab *t, const sl_flow_key *k)
{
    uint64_t h = sl_siphash24(t->key, k, sizeof *k);
    return (uint32_t)h ^ (uint32_t)(h >> 32);
}

static size_t bucket_bytes(const sl_flowtab *t)
{
    return ((size_t)t->mask + 1u) * sizeof(sl_flow_node *);
}

sl_error sl_flowtab_init(sl_flowtab *t, sl_mem *m, uint32_t max_flows, const uint8_t key[16])
{
    memset(t, 0, sizeof *t);
    if (max_flows > MAX_BUCKETS)
        return SL_ERR_NOMEM;
    uint32_t n = MIN_BUCKETS;
    while (n < max_flows)
        n <<= 1;
    if ((uint64_t)n * sizeof(sl_flow_node *) > SIZE_MAX) /* 32-bit hosts */
        return SL_ERR_NOMEM;
    t->buckets = sl_mem_alloc(m, (size_t)n * sizeof(sl_flow_node *));
    if (t->buckets == NULL)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) /* all-zero bytes need not be NULL */
        t->buckets[i] = NULL;
    t->mask = n - 1u;
    memcpy(t->key, key, sizeof t->key);
    return SL_OK;
}

void sl_flowtab_fini(sl_flowtab *t, sl_mem *m)
{
    if (t->buckets != NULL)
        sl_mem_free(m, t->buckets, bucket_bytes(t));
    memset(t, 0, sizeof *t);
    t->buckets = NULL;
}

void sl_flow_node_set(const sl_flowtab *t, sl_flow_node *n, const sl_flow_key *k)
{
    n->next = NULL;
    n->key = *k;
    n->hash = key_hash(t, k);
}

void sl_flowtab_insert(sl_flowtab *t, sl_flow_node *n)
{
    sl_flow_node **head = &t->buckets[n->hash & t->mask];
    n->next = *head;
    *head = n;
    t->count++;
}

void sl_flowtab_remove(sl_flowtab *t, sl_flow_node *n)
{
    sl_flow_node **pp = &t->buckets[n->hash & t->mask];
    while (*pp != NULL) {
        if (*pp == n) {
            if (t->last == n)
                t->last = NULL;
            *pp = n->next;
            n->next = NULL;
            t->count--;
            return;
        }
        pp = &(*pp)->next;
    }
}

sl_flow_node *sl_flowtab_find(sl_flowtab *t, const sl_flow_key *k)
{
    if (t->last != NULL && memcmp(&t->last->key, k, sizeof *k) == 0)
        return t->last;
    uint32_t h = key_hash(t, k);
    for (sl_flow_node *n = t->buckets[h & t->mask]; n != NULL; n = n->next) {
        if (n->hash == h && memcmp(&n->key, k, sizeof *k) == 0) {
            t->last = n;
            return n;
        }
    }
    return NULL;
}

uint32_t sl_flowtab_max_chain(const sl_flowtab *t)
{
    uint32_t best = 0;
    if (t->buckets == NULL)
        return 0;
    for (uint32_t i = 0; i <= t->mask; i++) {
        uint32_t len = 0;
        for (const sl_flow_node *n = t->buckets[i]; n != NULL; n = n->next)
            len++;
        if (len > best)
            best = len;
    }
    return best;
}

void sl_flow_key_make(sl_flow_key *k, uint8_t proto, uint8_t family, const uint8_t *laddr,
                      uint16_t lport, const uint8_t *raddr, uint16_t rport)
{
    memset(k, 0, sizeof *k);
    k->proto = proto;
    k->family = family;
    k->lport = lport;
    k->rport = rport;
    size_t n = family == 4 ? 4u : family == 6 ? 16u : 0u;
    if (laddr != NULL && n > 0)
        memcpy(k->laddr, laddr, n);
    if (raddr != NULL && n > 0)
        memcpy(k->raddr, raddr, n);
}
