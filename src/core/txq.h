/*
 * Transmit queue (internal): whole IP packets built by input processing
 * and API calls, waiting for sl_poll.  Bounded in packets and bytes.
 */
#ifndef SL_CORE_TXQ_H
#define SL_CORE_TXQ_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

typedef struct sl_txpkt {
    struct sl_txpkt *next;
    size_t len;               /* bytes in data                            */
    size_t sent;              /* fragmentation progress (payload offset)  */
    uint32_t frag_id;         /* IPv6 fragment identification             */
    uint8_t data[];
} sl_txpkt;

typedef struct sl_txq {
    sl_txpkt *head, *tail;
    uint32_t n, max_n;
    size_t bytes, max_bytes;
} sl_txq;

void sl_txq_init(sl_txq *q, uint32_t max_n, size_t max_bytes);
/* Free everything queued. */
void sl_txq_fini(sl_txq *q, sl_mem *m);
/* A packet of `len` bytes to fill, not yet queued; NULL with *err
 * SL_ERR_LIMIT (queue full) or SL_ERR_NOMEM. */
sl_txpkt *sl_txq_alloc(sl_txq *q, sl_mem *m, size_t len, sl_error *err);
/* Queue a packet from sl_txq_alloc (len may have shrunk). */
void sl_txq_commit(sl_txq *q, sl_txpkt *p);
/* Free a packet from sl_txq_alloc that will not be queued. */
void sl_txq_discard(sl_mem *m, sl_txpkt *p);
/* Remove and free the head. */
void sl_txq_pop(sl_txq *q, sl_mem *m);

#endif
