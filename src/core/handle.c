/* Handle table and event FIFO; see handle.h. */
#include "core/handle.h"

sl_error sl_handles_init(sl_handles *t, sl_mem *m, uint32_t cap)
{
    t->cap = cap;
    t->used = 0;
    t->evq_head = t->evq_tail = NULL;
    t->slots = sl_mem_alloc(m, ((size_t)cap + 1) * sizeof *t->slots);
    if (t->slots == NULL)
        return SL_ERR_NOMEM;
    /* Free list 1 -> 2 -> ... -> cap. */
    for (uint32_t i = 1; i <= cap; i++) {
        t->slots[i].gen = 1;
        t->slots[i].next_free = i < cap ? i + 1 : 0;
    }
    t->free_head = cap > 0 ? 1 : 0;
    return SL_OK;
}

void sl_handles_fini(sl_handles *t, sl_mem *m)
{
    sl_mem_free(m, t->slots, ((size_t)t->cap + 1) * sizeof *t->slots);
    t->slots = NULL;
}

sl_error sl_handle_add(sl_handles *t, sl_hdl *h, uint8_t type, void *user)
{
    uint32_t i = t->free_head;
    if (i == 0)
        return SL_ERR_LIMIT;
    t->free_head = t->slots[i].next_free;
    t->slots[i].obj = h;
    t->used++;
    h->idx = i;
    h->gen = t->slots[i].gen;
    h->type = type;
    h->in_evq = false;
    h->ev = 0;
    h->ev_next = NULL;
    h->user = user;
    h->err = SL_OK;
    return SL_OK;
}

static void evq_unlink(sl_handles *t, sl_hdl *h)
{
    if (!h->in_evq)
        return;
    sl_hdl *prev = NULL;
    for (sl_hdl *x = t->evq_head; x != NULL; prev = x, x = x->ev_next) {
        if (x != h)
            continue;
        if (prev != NULL)
            prev->ev_next = x->ev_next;
        else
            t->evq_head = x->ev_next;
        if (t->evq_tail == x)
            t->evq_tail = prev;
        break;
    }
    h->in_evq = false;
    h->ev_next = NULL;
}

void sl_handle_remove(sl_handles *t, sl_hdl *h)
{
    /* Unlinking from the event FIFO is a scan, but only of handles with
     * pending events, and only when a handle is freed. */
    evq_unlink(t, h);
    h->ev = 0;
    sl_hslot *s = &t->slots[h->idx];
    s->obj = NULL;
    s->gen++;
    if (s->gen == 0)
        s->gen = 1;
    s->next_free = t->free_head;
    t->free_head = h->idx;
    t->used--;
}

sl_hdl *sl_handle_get(const sl_handles *t, uint32_t idx, uint32_t gen, uint8_t type)
{
    if (idx == 0 || idx > t->cap)
        return NULL;
    const sl_hslot *s = &t->slots[idx];
    if (s->obj == NULL || s->gen != gen || s->obj->type != type)
        return NULL;
    return s->obj;
}

void sl_handle_notify(sl_handles *t, sl_hdl *h, unsigned type)
{
    h->ev = (uint16_t)(h->ev | (1u << type));
    if (h->in_evq)
        return;
    h->in_evq = true;
    h->ev_next = NULL;
    if (t->evq_tail != NULL)
        t->evq_tail->ev_next = h;
    else
        t->evq_head = h;
    t->evq_tail = h;
}

sl_hdl *sl_handle_next_event(sl_handles *t, unsigned *type)
{
    sl_hdl *h = t->evq_head;
    if (h == NULL)
        return NULL;
    unsigned bit = (unsigned)__builtin_ctz(h->ev);
    h->ev = (uint16_t)(h->ev & ~(1u << bit));
    if (h->ev == 0) {
        t->evq_head = h->ev_next;
        if (t->evq_head == NULL)
            t->evq_tail = NULL;
        h->in_evq = false;
        h->ev_next = NULL;
    }
    *type = bit;
    return h;
}
