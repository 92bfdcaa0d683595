/*
 * Flow table (internal): keyed-hash chaining table of flows identified by
 * (protocol, family, local address:port, remote address:port).
 *
 * Entries are intrusive (sl_flow_node lives inside the owning TCP or UDP
 * object); the table never allocates after init.  The hash is SipHash-2-4
 * keyed by a key derived from the stack's secret, so an attacker who does
 * not know it cannot aim many flows at one bucket (hash flooding).
 */
#ifndef SL_CORE_FLOWTAB_H
#define SL_CORE_FLOWTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

typedef struct sl_flow_key {
    uint8_t proto;     /* SL_IPPROTO_TCP / SL_IPPROTO_UDP / ICMP ...   */
    uint8_t family;    /* 4 or 6                                       */
    uint16_t lport;    /* host order                                   */
    uint16_t rport;
    uint8_t laddr[16]; /* IPv4 in the first 4 bytes, rest zero         */
    uint8_t raddr[16];
    uint8_t pad[2];    /* always zero: the key is hashed and compared
                          as 40 raw bytes                              */
} sl_flow_key;

typedef struct sl_flow_node {
    struct sl_flow_node *next;
    uint32_t hash;
    sl_flow_key key;
} sl_flow_node;

typedef struct sl_flowtab {
    sl_flow_node **buckets;
    uint32_t mask;     /* bucket count - 1 (power of two)             */
    uint32_t count;
    uint8_t key[16];
    sl_flow_node *last; /* the node the last successful find returned:
                           consecutive packets of one flow skip the keyed
                           hash (SipHash was 5 % of the bulk profile)   */
} sl_flowtab;

/* A zero-filled key: family 4 copies 4 address bytes, 6 copies 16, 0 (a
 * wildcard) none; NULL addresses stay zero. */
void sl_flow_key_make(sl_flow_key *k, uint8_t proto, uint8_t family, const uint8_t *laddr,
                      uint16_t lport, const uint8_t *raddr, uint16_t rport);

/* Buckets: the smallest power of two >= max_flows (at least 16), from `m`.
 * Errors: SL_ERR_NOMEM. */
sl_error sl_flowtab_init(sl_flowtab *t, sl_mem *m, uint32_t max_flows, const uint8_t key[16]);
void sl_flowtab_fini(sl_flowtab *t, sl_mem *m);

/* Fill node->key (copied) and node->hash; does not insert. */
void sl_flow_node_set(const sl_flowtab *t, sl_flow_node *n, const sl_flow_key *k);
/* Insert a node prepared with sl_flow_node_set (the caller has checked that
 * the key is not present). O(1). */
void sl_flowtab_insert(sl_flowtab *t, sl_flow_node *n);
/* Remove a node that is in the table. O(chain). */
void sl_flowtab_remove(sl_flowtab *t, sl_flow_node *n);
/* The node with key *k, or NULL.  Expected O(1); remembers the node it
 * found, which the next find compares first. */
sl_flow_node *sl_flowtab_find(sl_flowtab *t, const sl_flow_key *k);
/* Length of the longest chain (tests and stats). O(buckets). */
uint32_t sl_flowtab_max_chain(const sl_flowtab *t);

#endif
