/*
 * Timer wheel (src/core/timer.c) against a model: an array of deadlines
 * scanned linearly.  A long seeded random sequence of sets, cancels and
 * advances, with advances from microseconds to hours, must fire exactly
 * the timers the model says are due, never early, and sl_wheel_next must
 * equal the model's earliest deadline after every advance.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/timer.h"

#define N_TIMERS 512

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* When a timer set for `d` at wheel time `now_us` fires in the model. */
static uint64_t model_fire(uint64_t d, uint64_t now_us)
{
    uint64_t tick = (d >> SL_TICK_SHIFT) + ((d & (SL_TICK_US - 1)) != 0);
    uint64_t now_tick = now_us >> SL_TICK_SHIFT;
    if (tick < now_tick)
        tick = now_tick;
    return tick << SL_TICK_SHIFT;
}

static void run_model(uint64_t seed, long steps)
{
    static sl_timer t[N_TIMERS];
    static uint64_t fire_at[N_TIMERS];
    static int pending[N_TIMERS];
    sl_wheel w;
    uint64_t now = 1000000007ull;
    rng_state = seed;
    sl_wheel_init(&w, now);
    for (int i = 0; i < N_TIMERS; i++) {
        sl_timer_init(&t[i], (uint8_t)i);
        pending[i] = 0;
    }
    long fired = 0;
    for (long step = 0; step < steps; step++) {
        unsigned op = (unsigned)(rnd() % 10);
        int i = (int)(rnd() % N_TIMERS);
        if (op < 5) {
            uint64_t d;
            switch (rnd() % 5) {
            case 0: d = now + rnd() % 5000; break;                       /* ms    */
            case 1: d = now + rnd() % 10000000; break;                   /* s     */
            case 2: d = now + rnd() % (4000ull * 3600 * 1000000); break; /* hours */
            case 3: d = now - rnd() % 3000; break;                       /* past  */
            default: d = now + (rnd() % 64) * SL_TICK_US; break;         /* edges */
            }
            sl_wheel_set(&w, &t[i], d);
            fire_at[i] = model_fire(d, now);
            pending[i] = 1;
        } else if (op < 7) {
            sl_wheel_cancel(&w, &t[i]);
            pending[i] = 0;
        } else {
            uint64_t adv;
            switch (rnd() % 6) {
            case 0: adv = 0; break;
            case 1:
            case 2: adv = rnd() % 3000; break;
            case 3: adv = rnd() % 100000000; break;
            case 4: adv = rnd() % (3ull * 3600 * 1000000); break;        /* hours */
            default: adv = rnd() % (200ull * 24 * 3600 * 1000000); break; /* months */
            }
            now += adv;
            sl_wheel_advance(&w, now);
            sl_timer *x;
            while ((x = sl_wheel_pop(&w)) != NULL) {
                long k = x - t;
                ck_assert_msg(pending[k], "timer %ld fired but not pending (step %ld)", k, step);
                ck_assert_msg(fire_at[k] <= now, "timer %ld fired early (step %ld)", k, step);
                ck_assert_int_eq(x->kind, (uint8_t)k);
                ck_assert_int_eq(x->state, SL_TIMER_IDLE);
                pending[k] = 0;
                fired++;
            }
            uint64_t min = SL_TIMER_NEVER;
            size_t count = 0;
            for (int k = 0; k < N_TIMERS; k++) {
                if (!pending[k])
                    continue;
                count++;
                ck_assert_msg(fire_at[k] > now, "timer %d missed (step %ld)", k, step);
                if (fire_at[k] < min)
                    min = fire_at[k];
            }
            ck_assert_uint_eq(sl_wheel_next(&w), min);
            ck_assert_uint_eq(w.count, count);
        }
    }
    ck_assert_int_gt(fired, steps / 20);
}

START_TEST(model_seed_a)
{
    run_model(0x9e3779b97f4a7c15ull, 60000);
}
END_TEST

START_TEST(model_seed_b)
{
    run_model(12345, 60000);
}
END_TEST

START_TEST(basic_order_and_rounding)
{
    sl_wheel w;
    sl_timer a, b, c;
    sl_wheel_init(&w, 0);
    sl_timer_init(&a, 1);
    sl_timer_init(&b, 2);
    sl_timer_init(&c, 3);
    ck_assert_uint_eq(sl_wheel_next(&w), SL_TIMER_NEVER);
    sl_wheel_set(&w, &a, 5000); /* rounds up to tick 5 = 5120 us */
    sl_wheel_set(&w, &b, 3 * SL_TICK_US);
    sl_wheel_set(&w, &c, 3600000000ull); /* an hour */
    ck_assert_uint_eq(sl_wheel_next(&w), 3 * SL_TICK_US);
    ck_assert_uint_eq(sl_wheel_advance(&w, 3 * SL_TICK_US - 1), 0);
    ck_assert_uint_eq(sl_wheel_advance(&w, 3 * SL_TICK_US), 1);
    ck_assert_ptr_eq(sl_wheel_pop(&w), &b);
    ck_assert_ptr_null(sl_wheel_pop(&w));
    ck_assert_uint_eq(sl_wheel_advance(&w, 5000), 0); /* not early */
    ck_assert_uint_eq(sl_wheel_next(&w), 5 * SL_TICK_US);
    /* Re-arming moves; cancelling an expired timer removes it. */
    ck_assert_uint_eq(sl_wheel_advance(&w, 6000), 1);
    ck_assert_int_eq(a.state, SL_TIMER_EXPIRED);
    ck_assert_uint_eq(sl_wheel_next(&w), 5 * SL_TICK_US); /* expired counts as due */
    sl_wheel_cancel(&w, &a);
    ck_assert_ptr_null(sl_wheel_pop(&w));
    ck_assert_uint_eq(sl_wheel_next(&w), model_fire(3600000000ull, 0));
    /* Time going backwards is ignored. */
    ck_assert_uint_eq(sl_wheel_advance(&w, 10), 0);
    /* A jump of days fires the hour timer exactly once. */
    ck_assert_uint_eq(sl_wheel_advance(&w, 5ull * 24 * 3600 * 1000000), 1);
    ck_assert_ptr_eq(sl_wheel_pop(&w), &c);
    ck_assert_uint_eq(w.count, 0);
    ck_assert_uint_eq(sl_wheel_next(&w), SL_TIMER_NEVER);
    /* A timer set in the past is due at once. */
    sl_wheel_set(&w, &b, 1);
    ck_assert_ptr_eq(sl_wheel_pop(&w), &b);
    /* Cancel of an idle timer is harmless. */
    sl_wheel_cancel(&w, &b);
    ck_assert_int_eq(b.state, SL_TIMER_IDLE);
}
END_TEST

START_TEST(far_future)
{
    sl_wheel w;
    sl_timer a;
    sl_wheel_init(&w, 7);
    sl_timer_init(&a, 0);
    /* The last whole tick a 64-bit microsecond clock reaches. */
    sl_wheel_set(&w, &a, ((UINT64_MAX >> SL_TICK_SHIFT) - 1) << SL_TICK_SHIFT);
    ck_assert_uint_eq(sl_wheel_advance(&w, UINT64_MAX >> 1), 0);
    ck_assert_uint_eq(sl_wheel_advance(&w, UINT64_MAX), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("wheel");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, basic_order_and_rounding);
    tcase_add_test(tc, far_future);
    tcase_add_test(tc, model_seed_a);
    tcase_add_test(tc, model_seed_b);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
