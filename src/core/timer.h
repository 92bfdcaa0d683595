/*
 * Hierarchical timer wheel (internal to the stack).
 *
 * Time is in ticks of SL_TICK_US microseconds (2^10 = 1.024 ms).  A timer
 * set for time d fires at the first advance to a time >= ceil(d / tick) *
 * tick: never early, at most one tick late.  Insert and cancel are O(1);
 * the next deadline comes from per-level occupancy bitmaps and, at most,
 * a scan of one slot; advancing jumps straight from one due slot to the
 * next, so a jump of hours costs only the timers it fires.
 *
 * The wheel calls nothing: advancing moves due timers to an expired list
 * that the owner drains with sl_wheel_pop(), dispatching on `kind`.
 * Timers are intrusive: they live inside the objects they belong to.
 */
#ifndef SL_CORE_TIMER_H
#define SL_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TICK_SHIFT 10u
#define SL_TICK_US (1u << SL_TICK_SHIFT)
#define SL_WHEEL_BITS 6u
#define SL_WHEEL_SLOTS (1u << SL_WHEEL_BITS)
#define SL_WHEEL_LEVELS 11u /* 66 bits: every 64-bit tick value */
#define SL_TIMER_NEVER UINT64_MAX

typedef struct sl_timer {
    struct sl_timer *next, *prev;
    uint64_t expiry;  /* in ticks                                    */
    uint8_t state;    /* SL_TIMER_IDLE / _PENDING / _EXPIRED         */
    uint8_t level, slot;
    uint8_t kind;     /* owner's tag, untouched by the wheel         */
} sl_timer;

enum { SL_TIMER_IDLE = 0, SL_TIMER_PENDING = 1, SL_TIMER_EXPIRED = 2 };

typedef struct sl_wheel {
    uint64_t now;                                  /* ticks            */
    uint64_t occupied[SL_WHEEL_LEVELS];            /* slot bitmaps     */
    sl_timer *slots[SL_WHEEL_LEVELS][SL_WHEEL_SLOTS];
    sl_timer *expired;                             /* due, FIFO order  */
    sl_timer *expired_tail;
    size_t count;                                  /* pending timers   */
} sl_wheel;

/* Start the wheel at time `now_us`. */
void sl_wheel_init(sl_wheel *w, uint64_t now_us);

/* A timer not on any list. */
void sl_timer_init(sl_timer *t, uint8_t kind);

/* (Re)arm `t` for absolute time `when_us` (a time in the past fires at the
 * next advance).  A pending or expired timer is moved. */
void sl_wheel_set(sl_wheel *w, sl_timer *t, uint64_t when_us);

/* Disarm `t` wherever it is; idle timers are left alone. */
void sl_wheel_cancel(sl_wheel *w, sl_timer *t);

/* Move every timer due at `now_us` to the expired list; returns how many.
 * Time never goes backwards: an earlier now_us is treated as the current
 * time. */
size_t sl_wheel_advance(sl_wheel *w, uint64_t now_us);

/* Take the next expired timer (it becomes idle), or NULL. */
sl_timer *sl_wheel_pop(sl_wheel *w);

/* The time in microseconds at which the earliest pending timer fires, or
 * SL_TIMER_NEVER.  Expired-but-not-popped timers count as due now. */
uint64_t sl_wheel_next(const sl_wheel *w);

#endif
