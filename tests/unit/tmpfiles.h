/* A temporary folder per test group, for the tests that write files:
 * cmocka group setup/teardown make and remove it; tpath names a file in it.
 * Include after <cmocka.h> (with _GNU_SOURCE defined first, for nftw). */
#ifndef NN_TESTS_TMPFILES_H
#define NN_TESTS_TMPFILES_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[256];

static inline int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nnctl_test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int teardown_tmp(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name; the last 8 results stay valid */
static inline const char *tpath(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

#define assert_msg_contains(err, s)                                                         \
    do {                                                                                     \
        if (!strstr((err).msg, (s)))                                                         \
            fail_msg("error message \"%s\" lacks \"%s\"", (err).msg, (s));                  \
    } while (0)

#endif
