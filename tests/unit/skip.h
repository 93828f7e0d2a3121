/* Skipping a cmocka test the way scripts/run-tests counts it (tests/README.md,
 * "the summary protocol"): one line "skip TEST: REASON" on stdout, then
 * cmocka's skip(). The runner fails a binary whose skipped tests outnumber
 * its reason lines. NN_SKIP_GPU marks a skip that only a machine with (or
 * without) a CUDA device can avoid: STRICT=1 lets those through.
 * Include after <cmocka.h>. */
#ifndef NN_TESTS_SKIP_H
#define NN_TESTS_SKIP_H

#include <stdio.h>

#define NN_SKIP_AS(kind, ...)                                                                \
    do {                                                                                     \
        printf("%s %s: ", kind, __func__);                                                   \
        printf(__VA_ARGS__);                                                                 \
        printf("\n");                                                                        \
        fflush(stdout);                                                                      \
        skip();                                                                              \
    } while (0)
#define NN_SKIP(...) NN_SKIP_AS("skip", __VA_ARGS__)
#define NN_SKIP_GPU(...) NN_SKIP_AS("skip-gpu", __VA_ARGS__)

#endif
