/*
 * Handles and events (internal, protocol-agnostic).
 *
 * Every user-visible object (UDP flow or bound handle, later TCP stream)
 * embeds an sl_hdl as its first member.  The table maps (idx, gen) values
 * to objects; freeing bumps the slot's generation so an old value is
 * detected as stale.  Pending events are bits on the object, and objects
 * with pending bits sit once on a FIFO: the queue is bounded by the number
 * of handles, whatever the traffic.
 */
#ifndef SL_CORE_HANDLE_H
#define SL_CORE_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"

enum { SL_HDL_DGRAM = 1, SL_HDL_STREAM = 2 };

typedef struct sl_hdl {
    uint32_t idx, gen;
    uint8_t type;
    bool in_evq;
    uint16_t ev;              /* pending event bits: 1u << sl_event_type */
    sl_error err;             /* sticky error reported with SL_EV_ERROR  */
    struct sl_hdl *ev_next;   /* (the order packs this header in 32 bytes) */
    void *user;
} sl_hdl;

typedef struct sl_hslot {
    sl_hdl *obj;              /* NULL when free                          */
    uint32_t gen;             /* current generation, never 0             */
    uint32_t next_free;       /* free-list link (index), 0 = end         */
} sl_hslot;

typedef struct sl_handles {
    sl_hslot *slots;          /* slots[0] unused: idx 0 is never valid   */
    uint32_t cap;             /* usable slots                            */
    uint32_t used;
    uint32_t free_head;
    sl_hdl *evq_head, *evq_tail;
} sl_handles;

/* Room for `cap` live handles.  Errors: SL_ERR_NOMEM. */
sl_error sl_handles_init(sl_handles *t, sl_mem *m, uint32_t cap);
void sl_handles_fini(sl_handles *t, sl_mem *m);

/* Give `h` an (idx, gen) and a slot.  Errors: SL_ERR_LIMIT (table full). */
sl_error sl_handle_add(sl_handles *t, sl_hdl *h, uint8_t type, void *user);
/* Release the slot (the value becomes stale) and drop pending events. */
void sl_handle_remove(sl_handles *t, sl_hdl *h);
/* The live object for a value, or NULL (stale, wrong type, out of range). */
sl_hdl *sl_handle_get(const sl_handles *t, uint32_t idx, uint32_t gen, uint8_t type);

/* Raise event `type` (1..15) on h. */
void sl_handle_notify(sl_handles *t, sl_hdl *h, unsigned type);
/* Pop one pending event, lowest type first within a handle; handles in the
 * order they first raised an event.  Returns NULL when none. */
sl_hdl *sl_handle_next_event(sl_handles *t, unsigned *type);

#endif
