/* Where a data file named in a spec is: nn_data_resolve's search through
 * $NNCTL_DATA, the spec's folder, the current directory, the checkout's
 * datasets/ and ~/.local/share/nnctl/datasets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_spec.h"
#include "util/fileio.h"

/* The checkout's datasets/ folder (MNIST ships there) when this binary
 * runs from a checkout's build folder (build/nnctl, or the nnctl link
 * beside it): "" otherwise. */
static void checkout_datasets(char *out, size_t len)
{
    out[0] = '\0';
    for (int up = 0; up < 2; up++) { /* the binary's folder, then its parent */
        char exe[PATH_MAX];
        if (!nn_exe_dir(exe, sizeof exe, up))
            return;
        char probe[PATH_MAX + 16];
        struct stat sb;
        snprintf(probe, sizeof probe, "%s/datasets", exe[0] ? exe : "/");
        if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            snprintf(out, len, "%s", probe);
            return;
        }
    }
}

/* Appends "place (why)" to the list of places tried. */
static void tried_add(char *tried, size_t cap, const char *place, const char *why)
{
    size_t o = strlen(tried);
    if (o < cap)
        snprintf(tried + o, cap - o, "%s%s (%s)", o ? ", " : "", place, why);
}

/* dir/path into out when that exists; the try is recorded either way. */
static bool try_at(const char *dir, const char *path, const char *why, char *out, size_t len,
                   char *tried, size_t cap)
{
    char p[PATH_MAX * 2];
    if (dir && dir[0] && strcmp(dir, "."))
        snprintf(p, sizeof p, "%s/%s", dir, path);
    else
        snprintf(p, sizeof p, "%s", path);
    tried_add(tried, cap, p, why);
    if (access(p, F_OK) != 0)
        return false;
    snprintf(out, len, "%s", p);
    return true;
}

nn_status nn_data_resolve(const char *path, const char *spec_dir, char *out, size_t len,
                          nn_error *err)
{
    if (path[0] == '/') {
        snprintf(out, len, "%s", path);
        return NN_OK;
    }
    char tried[4096] = "";
    bool explicit_rel = !strcmp(path, ".") || !strcmp(path, "..") || !strncmp(path, "./", 2) ||
                        !strncmp(path, "../", 3);
    bool spec_here = !spec_dir || !spec_dir[0] || !strcmp(spec_dir, ".");
    if (explicit_rel) {
        /* ./ and ../ start at the spec's folder, as a path written in a
         * file reads; then the current directory */
        if (try_at(spec_dir, path, "the spec's folder", out, len, tried, sizeof tried) ||
            (!spec_here &&
             try_at(NULL, path, "the current directory", out, len, tried, sizeof tried)))
            return NN_OK;
        return nn_fail(err, NN_ERR_RUNTIME, "data file '%s' not found; tried %s", path, tried);
    }
    /* a bare name (mnist/train-images-idx3-ubyte.gz): the data search path */
    const char *env = getenv("NNCTL_DATA");
    if (env && *env) {
        char list[PATH_MAX * 4];
        snprintf(list, sizeof list, "%s", env);
        char *save = NULL;
        for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
            if (*d && try_at(d, path, "$NNCTL_DATA", out, len, tried, sizeof tried))
                return NN_OK;
    }
    if (!spec_here && try_at(spec_dir, path, "the spec's folder", out, len, tried, sizeof tried))
        return NN_OK;
    if (try_at(NULL, path, "the current directory", out, len, tried, sizeof tried))
        return NN_OK;
    char dir[PATH_MAX];
    checkout_datasets(dir, sizeof dir);
    if (dir[0] && try_at(dir, path, "the checkout's datasets/", out, len, tried, sizeof tried))
        return NN_OK;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/nnctl/datasets", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/share/nnctl/datasets", home);
    else
        dir[0] = '\0';
    if (dir[0] && try_at(dir, path, "scripts/fetch-data's folder", out, len, tried, sizeof tried))
        return NN_OK;
    return nn_fail(err, NN_ERR_RUNTIME,
                   "data file '%s' not found; tried %s (run scripts/fetch-data, or set "
                   "NNCTL_DATA to the folder that holds it)",
                   path, tried);
}
