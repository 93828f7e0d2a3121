/* Replays the fuzz corpora through the fuzz targets' own code (see
 * tests/fuzz/targets.h) in the normal test suite, without libFuzzer: every
 * file under tests/fuzz/regressions/<target>/ (inputs that once crashed,
 * leaked or tripped UBSan) and tests/fuzz/corpus/<target>/ (the seeds).
 * A test passes when nothing crashes; `make test SANITIZE=1` turns memory
 * errors, leaks and undefined behaviour into failures.
 *
 * Inputs known to crash inside a third-party library live in
 * tests/fuzz/known-upstream/ and are deliberately not replayed.
 *
 * Paths are relative to the repository root, where the tests run. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/targets.c"

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs fn on every regular file in dir; returns how many. A missing folder
 * fails the test (the suite must run from the repository root). */
static int replay_dir(const char *dir, nn_fuzz_fn fn)
{
    struct dirent **names;
    int count = scandir(dir, &names, NULL, by_name);
    if (count < 0)
        fail_msg("cannot read %s: %s (run the tests from the repository root)", dir,
                 strerror(errno));
    int done = 0;
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len = 0;
            uint8_t *data = read_all(path, &len);
            if (!data)
                fail_msg("cannot read %s", path);
            print_message("  %s\n", path);
            fn(data, len);
            free(data);
            done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

static void replay(const char *target)
{
    nn_fuzz_fn fn = NULL;
    for (const nn_fuzz_target *t = nn_fuzz_targets; t->name; t++)
        if (strcmp(t->name, target) == 0)
            fn = t->fn;
    assert_non_null(fn);
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    int seeds = replay_dir(dir, fn);
    assert_true(seeds > 0); /* a seed corpus must not go missing */
    snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", target);
    struct stat st;
    if (stat(dir, &st) == 0) /* a target without crashers has no folder */
        replay_dir(dir, fn);
    else if (stat("tests/fuzz/regressions", &st) != 0)
        fail_msg("tests/fuzz/regressions is missing (run the tests from the repository root)");
}

static void test_spec(void **state)
{
    (void)state;
    replay("spec");
}

static void test_idx(void **state)
{
    (void)state;
    replay("idx");
}

static void test_png(void **state)
{
    (void)state;
    replay("png");
}

static void test_model(void **state)
{
    (void)state;
    replay("model");
}

static void test_npy(void **state)
{
    (void)state;
    replay("npy");
}

static void test_csv(void **state)
{
    (void)state;
    replay("csv");
}

static void test_tokens(void **state)
{
    (void)state;
    replay("tokens");
}

static void test_cifar(void **state)
{
    (void)state;
    replay("cifar");
}

static void test_keras_json(void **state)
{
    (void)state;
    replay("keras_json");
}

static void test_rundir(void **state)
{
    (void)state;
    replay("rundir");
}

static void test_sweep(void **state)
{
    (void)state;
    replay("sweep");
}

static void test_resume(void **state)
{
    (void)state;
    replay("resume");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_npy),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_keras_json),
        cmocka_unit_test(test_rundir),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
