/*
 * Guard-page buffers for parser tests (the picohttpparser technique): the
 * bytes given to a parser end exactly at a PROT_NONE page, so any read past
 * `len` faults at once instead of passing silently.
 */
#ifndef SL_TEST_GUARD_H
#define SL_TEST_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_guard {
    uint8_t *base;   /* mapping: data pages + one PROT_NONE page */
    size_t map_len;
    size_t data_cap; /* bytes usable before the guard page      */
} sl_guard;

/* Map room for at least `cap` bytes followed by a guard page; aborts on
 * failure (tests only). */
void sl_guard_init(sl_guard *g, size_t cap);
void sl_guard_fini(sl_guard *g);

/* Copy src[0..len-1] so that it ends right at the guard page and return a
 * pointer to the copy.  len == 0 returns a pointer to the guard page itself
 * (any read faults).  len must be <= cap. */
const uint8_t *sl_guard_put(sl_guard *g, const uint8_t *src, size_t len);

#endif
