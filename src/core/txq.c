/* Transmit queue; see txq.h. */
#include "core/txq.h"

#include <stddef.h>

/* The length a packet was allocated with sits in front of it, since its
 * `len` may shrink between alloc and commit. */
typedef struct txhdr {
    size_t alloc_len;
} txhdr;

static size_t block_size(size_t len)
{
    return sizeof(txhdr) + sizeof(sl_txpkt) + len;
}

static txhdr *hdr_of(sl_txpkt *p)
{
    return (txhdr *)(void *)((uint8_t *)p - sizeof(txhdr));
}

void sl_txq_init(sl_txq *q, uint32_t max_n, size_t max_bytes)
{
    q->head = q->tail = NULL;
    q->n = 0;
    q->bytes = 0;
    q->max_n = max_n;
    q->max_bytes = max_bytes;
}

sl_txpkt *sl_txq_alloc(sl_txq *q, sl_mem *m, size_t len, sl_error *err)
{
    if (q->n >= q->max_n || len > q->max_bytes - q->bytes) {
        *err = SL_ERR_LIMIT;
        return NULL;
    }
    txhdr *h = sl_mem_alloc(m, block_size(len));
    if (h == NULL) {
        *err = SL_ERR_NOMEM;
        return NULL;
    }
    h->alloc_len = len;
    sl_txpkt *p = (sl_txpkt *)(void *)(h + 1);
    p->next = NULL;
    p->len = len;
    p->sent = 0;
    *err = SL_OK;
    return p;
}

void sl_txq_commit(sl_txq *q, sl_txpkt *p)
{
    p->next = NULL;
    if (q->tail != NULL)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->n++;
    q->bytes += hdr_of(p)->alloc_len;
}

void sl_txq_discard(sl_mem *m, sl_txpkt *p)
{
    txhdr *h = hdr_of(p);
    sl_mem_free(m, h, block_size(h->alloc_len));
}

void sl_txq_pop(sl_txq *q, sl_mem *m)
{
    sl_txpkt *p = q->head;
    if (p == NULL)
        return;
    q->head = p->next;
    if (q->head == NULL)
        q->tail = NULL;
    txhdr *h = hdr_of(p);
    q->n--;
    q->bytes -= h->alloc_len;
    sl_mem_free(m, h, block_size(h->alloc_len));
}

void sl_txq_fini(sl_txq *q, sl_mem *m)
{
    while (q->head != NULL)
        sl_txq_pop(q, m);
}
