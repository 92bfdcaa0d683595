/* Unit tests for src/wire/error.c: sl_strerror and sl_error_name. */
#include <limits.h>
#include <stdio.h>

#include "sluice/stack.h"
#include "unit_util.h"

typedef struct named {
    int code;
    const char *name;
} named;

/* Every enumerator of include/sluice/error.h with its expected name
 * (sl_error_list.h is generated from the header by CMake). */
#define SL_ERROR_ENTRY(code, name) {code, name},
static const named all_errors[] = {
#include "sl_error_list.h"
};
#undef SL_ERROR_ENTRY

#define N_ERRORS (sizeof all_errors / sizeof all_errors[0])

START_TEST(names_match_enumerators)
{
    /* sanity of the generated list: it starts at SL_OK and holds the
     * wire-parser codes this project documents */
    ck_assert_uint_ge(N_ERRORS, 31);
    ck_assert_int_eq(all_errors[0].code, SL_OK);
    for (size_t i = 0; i < N_ERRORS; i++) {
        const char *n = sl_error_name(all_errors[i].code);
        ck_assert_ptr_nonnull(n);
        ck_assert_str_eq(n, all_errors[i].name);
    }
}
END_TEST

START_TEST(names_distinct)
{
    for (size_t i = 0; i < N_ERRORS; i++) {
        for (size_t j = i + 1; j < N_ERRORS; j++)
            ck_assert_str_ne(sl_error_name(all_errors[i].code),
                             sl_error_name(all_errors[j].code));
    }
}
END_TEST

START_TEST(texts_nonempty_distinct_known)
{
    for (size_t i = 0; i < N_ERRORS; i++) {
        const char *t = sl_strerror(all_errors[i].code);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_gt(strlen(t), 0);
        ck_assert_str_ne(t, "unknown error");
        for (size_t j = i + 1; j < N_ERRORS; j++)
            ck_assert_str_ne(t, sl_strerror(all_errors[j].code));
    }
    /* Without SL_FEAT_ERROR_TEXT (CMake SL_WITH_ERROR_TEXT=OFF) the
     * descriptions are left out and sl_strerror gives the names. */
    if ((sl_features() & SL_FEAT_ERROR_TEXT) != 0) {
        ck_assert_str_eq(sl_strerror(SL_OK), "success");
    } else {
        for (size_t i = 0; i < N_ERRORS; i++)
            ck_assert_str_eq(sl_strerror(all_errors[i].code), all_errors[i].name);
    }
}
END_TEST

START_TEST(codes_distinct_and_signed)
{
    for (size_t i = 0; i < N_ERRORS; i++) {
        if (all_errors[i].code != SL_OK)
            ck_assert_int_lt(all_errors[i].code, 0);
        for (size_t j = i + 1; j < N_ERRORS; j++)
            ck_assert_int_ne(all_errors[i].code, all_errors[j].code);
    }
}
END_TEST

START_TEST(unknown_values)
{
    static const int unknown[] = {1,    2,    -99,  -101, -109,    -118,    -129,    -137,
                                  -149, -156, -169, -173, -189,    -192,    -209,    -1000,
                                  100,  150,  191,  1000, INT_MIN, INT_MAX, -INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_str_eq(sl_strerror(unknown[i]), "unknown error");
        ck_assert_str_eq(sl_error_name(unknown[i]), "?");
    }
}
END_TEST

/* Sweep a range: every value is either a listed enumerator or unknown. */
START_TEST(range_sweep)
{
    int known = 0;
    for (int v = -1000; v <= 1000; v++) {
        const char *n = sl_error_name(v);
        const char *t = sl_strerror(v);
        ck_assert_ptr_nonnull(n);
        ck_assert_ptr_nonnull(t);
        bool listed = false;
        for (size_t i = 0; i < N_ERRORS; i++)
            listed = listed || all_errors[i].code == v;
        if (listed) {
            known++;
            ck_assert_str_ne(n, "?");
        } else {
            ck_assert_str_eq(n, "?");
            ck_assert_str_eq(t, "unknown error");
        }
    }
    ck_assert_int_eq(known, (int)N_ERRORS);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, names_match_enumerators);
    tcase_add_test(tc, names_distinct);
    tcase_add_test(tc, texts_nonempty_distinct_known);
    tcase_add_test(tc, codes_distinct_and_signed);
    tcase_add_test(tc, unknown_values);
    tcase_add_test(tc, range_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(error_suite());
}
