/*
 * Hierarchical timer wheel; see timer.h for the contract.
 *
 * Invariant: a timer at level L > 0 has an expiry that agrees with `now`
 * on every bit above level L's 6-bit group and is larger in that group; a
 * timer at level 0 agrees above bit 6 and is >= now.  Hence every level-0
 * timer expires before every level-1 timer, and so on: the earliest timer
 * is in the first occupied slot of the lowest occupied level.  When `now`
 * moves forward (never past the earliest timer), the slots whose group now
 * equals now's are cascaded to lower levels, top level first.
 */
#include "timer.h"

#include <string.h>

static unsigned first_set_from(uint64_t bits, unsigned from)
{
    if (from >= 64)
        return 64;
    uint64_t m = bits & (~(uint64_t)0 << from);
    return m == 0 ? 64u : (unsigned)__builtin_ctzll(m);
}

void sl_wheel_init(sl_wheel *w, uint64_t now_us)
{
    memset(w, 0, sizeof *w);
    w->now = now_us >> SL_TICK_SHIFT;
}

void sl_timer_init(sl_timer *t, uint8_t kind)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
}

static void unlink_pending(sl_wheel *w, sl_timer *t)
{
    sl_timer **head = &w->slots[t->level][t->slot];
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    if (*head == NULL)
        w->occupied[t->level] &= ~((uint64_t)1 << t->slot);
    t->next = t->prev = NULL;
    w->count--;
}

static void unlink_expired(sl_wheel *w, sl_timer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        w->expired = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        w->expired_tail = t->prev;
    t->next = t->prev = NULL;
}

static void push_expired(sl_wheel *w, sl_timer *t)
{
    t->state = SL_TIMER_EXPIRED;
    t->next = NULL;
    t->prev = w->expired_tail;
    if (w->expired_tail != NULL)
        w->expired_tail->next = t;
    else
        w->expired = t;
    w->expired_tail = t;
}

/* Place a timer whose expiry is >= w->now. */
static void place(sl_wheel *w, sl_timer *t)
{
    uint64_t diff = t->expiry ^ w->now;
    unsigned level = 0;
    while (level + 1 < SL_WHEEL_LEVELS && (diff >> (SL_WHEEL_BITS * (level + 1))) != 0)
        level++;
    unsigned slot = (unsigned)(t->expiry >> (SL_WHEEL_BITS * level)) & (SL_WHEEL_SLOTS - 1);
    t->level = (uint8_t)level;
    t->slot = (uint8_t)slot;
    t->state = SL_TIMER_PENDING;
    t->prev = NULL;
    t->next = w->slots[level][slot];
    if (t->next != NULL)
        t->next->prev = t;
    w->slots[level][slot] = t;
    w->occupied[level] |= (uint64_t)1 << slot;
    w->count++;
}

void sl_wheel_cancel(sl_wheel *w, sl_timer *t)
{
    if (t->state == SL_TIMER_PENDING)
        unlink_pending(w, t);
    else if (t->state == SL_TIMER_EXPIRED)
        unlink_expired(w, t);
    t->state = SL_TIMER_IDLE;
}

void sl_wheel_set(sl_wheel *w, sl_timer *t, uint64_t when_us)
{
    sl_wheel_cancel(w, t);
    /* Round up: never fire early. */
    uint64_t ticks = when_us >> SL_TICK_SHIFT;
    if ((when_us & (SL_TICK_US - 1)) != 0)
        ticks++;
    if (ticks <= w->now) {
        push_expired(w, t);
        return;
    }
    t->expiry = ticks;
    place(w, t);
}

/* The earliest pending expiry in ticks, or SL_TIMER_NEVER. */
static uint64_t earliest(const sl_wheel *w)
{
    for (unsigned level = 0; level < SL_WHEEL_LEVELS; level++) {
        if (w->occupied[level] == 0)
            continue;
        unsigned slot = first_set_from(w->occupied[level], 0);
        uint64_t best = SL_TIMER_NEVER;
        for (const sl_timer *t = w->slots[level][slot]; t != NULL; t = t->next) {
            if (t->expiry < best)
                best = t->expiry;
        }
        return best;
    }
    return SL_TIMER_NEVER;
}

uint64_t sl_wheel_next(const sl_wheel *w)
{
    if (w->expired != NULL)
        return w->now << SL_TICK_SHIFT;
    uint64_t e = earliest(w);
    return e == SL_TIMER_NEVER ? SL_TIMER_NEVER : e << SL_TICK_SHIFT;
}

/* Move `now` forward to `to` (<= every pending expiry), cascading the
 * slots that now share now's group, top level first. */
static void move_to(sl_wheel *w, uint64_t to)
{
    w->now = to;
    for (unsigned level = SL_WHEEL_LEVELS - 1; level > 0; level--) {
        unsigned slot = (unsigned)(to >> (SL_WHEEL_BITS * level)) & (SL_WHEEL_SLOTS - 1);
        sl_timer *t = w->slots[level][slot];
        if (t == NULL)
            continue;
        w->slots[level][slot] = NULL;
        w->occupied[level] &= ~((uint64_t)1 << slot);
        while (t != NULL) {
            sl_timer *next = t->next;
            w->count--;
            place(w, t);
            t = next;
        }
    }
}

size_t sl_wheel_advance(sl_wheel *w, uint64_t now_us)
{
    uint64_t target = now_us >> SL_TICK_SHIFT;
    size_t fired = 0;
    while (target > w->now || (w->occupied[0] != 0 && earliest(w) <= w->now)) {
        uint64_t e = earliest(w);
        if (e == SL_TIMER_NEVER || e > target) {
            if (target > w->now)
                move_to(w, target);
            break;
        }
        if (e > w->now)
            move_to(w, e);
        /* Every timer of the level-0 slot of `e` is due. */
        unsigned slot = (unsigned)e & (SL_WHEEL_SLOTS - 1);
        sl_timer *t = w->slots[0][slot];
        w->slots[0][slot] = NULL;
        w->occupied[0] &= ~((uint64_t)1 << slot);
        while (t != NULL) {
            sl_timer *next = t->next;
            w->count--;
            push_expired(w, t);
            fired++;
            t = next;
        }
    }
    return fired;
}

sl_timer *sl_wheel_pop(sl_wheel *w)
{
    sl_timer *t = w->expired;
    if (t == NULL)
        return NULL;
    unlink_expired(w, t);
    t->state = SL_TIMER_IDLE;
    return t;
}
