#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nn_fsync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

nn_status nn_write_file_atomic(const char *path, const void *data, size_t len, nn_error *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    nn_fsync_parent_dir(path);
    return NN_OK;
}

nn_status nn_mkdirs(const char *path, nn_error *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return nn_fail(err, NN_ERR_RUNTIME, "cannot create directory '%s': %s", buf,
                           strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot create directory '%s': %s", buf,
                       strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s' exists and is not a directory", buf);
    return NN_OK;
}

int nn_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        const char *t = strstr(ent->d_name, ".tmp.");
        if (!t)
            continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue; /* not ours, or its writer is alive */
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

nn_status nn_read_file(const char *path, char **data, size_t *len, nn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot read '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n < cap - 1)
            break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading '%s'", path);
    if (failed) {
        free(buf);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot read '%s'", path);
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return NN_OK;
}

bool nn_rel_path_ok(const char *s)
{
    if (!s || !s[0] || s[0] == '/')
        return false;
    for (const char *p = s;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!e)
            return true;
        p = e + 1;
    }
}

bool nn_exe_path(char *out, size_t n)
{
    if (n < 2)
        return false;
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0 || (size_t)len >= n - 1)
        return false;
    out[len] = '\0';
    return true;
}

bool nn_exe_dir(char *out, size_t n, int up)
{
    if (!nn_exe_path(out, n))
        return false;
    for (int i = 0; i <= up; i++) {
        char *slash = strrchr(out, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
    return true;
}
