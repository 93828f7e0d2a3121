/* model.base.application: a Keras Applications network's topology by name
 * (configs/applications/NAME.cfg), for Keras's weights-only files, which
 * hold no network. Searched in $NNCTL_APPLICATIONS, the checkout the binary
 * runs from (build/nnctl) and PREFIX/share/nnctl/applications (make
 * install), like the shipped data sets; a value with a '/' or ending in
 * .cfg is a spec file's path instead. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/session.h"
#include "spec/spec.h"
#include "util/fileio.h"

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The folders that may hold the configs, in search order. */
static int search_dirs(char dirs[][PATH_MAX], int cap)
{
    int n = 0;
    const char *env = getenv("NNCTL_APPLICATIONS");
    if (env && env[0] && n < cap)
        snprintf(dirs[n++], PATH_MAX, "%s", env);
    char up[PATH_MAX]; /* the binary's folder's parent: a checkout or PREFIX */
    if (!nn_exe_dir(up, sizeof up, 1))
        return n;
    static const char *const below[] = {"configs/applications", "share/nnctl/applications"};
    for (size_t k = 0; k < sizeof below / sizeof *below && n < cap; k++)
        snprintf(dirs[n++], PATH_MAX, "%s/%s", up, below[k]);
    return n;
}

/* The names a folder's NAME.cfg files give, for "did you mean". */
static int list_names(const char *dir, char names[][64], int cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > 4 && l - 4 < 64 && !strcmp(e->d_name + l - 4, ".cfg"))
            snprintf(names[n++], 64, "%.*s", (int)(l - 4), e->d_name);
    }
    closedir(d);
    return n;
}

nn_status nn_application_path(nn_spec_node *at, const char *name, char *out, size_t len,
                              nn_error *err)
{
    size_t l = strlen(name);
    if (strchr(name, '/') || (l > 4 && !strcmp(name + l - 4, ".cfg"))) {
        nn_spec_relative_path(nn_spec_node_dir(at), name, out, len);
        if (access(out, R_OK) == 0)
            return NN_OK;
        return nn_spec_fail(at, "application", err, NN_ERR_USAGE, "cannot read '%s'", out);
    }
    if (!l || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != l)
        return nn_spec_fail(at, "application", err, NN_ERR_USAGE,
                            "expected a network's name (lower case, as mobilenet_v2) or a "
                            "spec file's path, got '%s'",
                            name);
    char dirs[4][PATH_MAX], tried[4 * PATH_MAX + 64] = "";
    int nd = search_dirs(dirs, 4), first = -1;
    for (int i = 0; i < nd; i++) {
        if (!is_dir(dirs[i]))
            continue;
        if (first < 0)
            first = i;
        snprintf(out, len, "%s/%s.cfg", dirs[i], name);
        if (access(out, R_OK) == 0)
            return NN_OK;
        size_t o = strlen(tried);
        snprintf(tried + o, sizeof tried - o, "%s%s", o ? ", " : "", dirs[i]);
    }
    if (first < 0)
        return nn_spec_fail(at, "application", err, NN_ERR_USAGE,
                            "no folder of network topologies found (configs/applications of "
                            "the checkout, PREFIX/share/nnctl/applications, or "
                            "$NNCTL_APPLICATIONS); give the spec file's path instead");
    char names[128][64];
    const char *ptrs[128];
    int n = list_names(dirs[first], names, 128);
    for (int i = 0; i < n; i++)
        ptrs[i] = names[i];
    const char *guess = nn_did_you_mean(name, ptrs, n);
    return nn_spec_fail(at, "application", err, NN_ERR_USAGE,
                        "no network '%s' in %s%s%s%s (scripts/make-application-configs writes "
                        "them)",
                        name, tried, guess ? "; did you mean '" : "", guess ? guess : "",
                        guess ? "'?" : "");
}
