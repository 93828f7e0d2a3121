/* Run-directory locks, default numbering and the list of a run's files
 * (see rundir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "experiments/rundir.h"
#include "experiments/runs.h"
#include "util/fileio.h"

/* ---- locks ------------------------------------------------------------------ */

/* The holder's line, as written by write_holder: "pid N host H since T
 * command C...\n". */
typedef struct holder {
    long pid;
    char host[256], command[320], since[64];
} holder;

static void write_holder(int fd, const char *command)
{
    char host[256] = "?", since[64] = "?", line[1024];
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(line, sizeof line, "pid %ld host %s since %s command %.300s\n",
                     (long)getpid(), host, since, command);
    /* one write of the whole line: a reader sees it whole or not at all
     * (it wants the final newline) */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
        /* the lock holds without its note; a refused process then says
         * it does not know the holder */
    }
}

static bool read_holder(int fd, holder *h)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0 || buf[n - 1] != '\n')
        return false;
    buf[n] = '\0';
    memset(h, 0, sizeof *h);
    return sscanf(buf, "pid %ld host %255s since %63s command %319[^\n]", &h->pid, h->host,
                  h->since, h->command) == 4 &&
           h->pid > 0;
}

static bool same_host(const char *host)
{
    char mine[256] = "";
    gethostname(mine, sizeof mine - 1);
    return strcmp(mine, host) == 0;
}

/* The descriptor a parent passed down for this lock file, or -1. */
static int inherited_lock(int fd)
{
    const char *env = getenv(NN_RUN_LOCK_FD_ENV);
    if (!env || !*env)
        return -1;
    char *end;
    long k = strtol(env, &end, 10);
    struct stat a, b;
    if (*end || k < 0 || k > INT_MAX || k == fd || fstat((int)k, &a) != 0 || fstat(fd, &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -1;
    return (int)k;
}

/* One try: *busy when another process holds the lock (fd then stays
 * open in *l for reading the note, l->held false). */
static nn_status lock_try(const char *dir, const char *command, nn_run_lock *l, bool *busy,
                          nn_error *err)
{
    l->held = false;
    l->fd = -1;
    *busy = false;
    nn_status st = nn_mkdirs(dir, err);
    if (st)
        return st;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, NN_RUN_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot lock '%s': %s", path, strerror(errno));
    int parent = inherited_lock(fd);
    if (parent >= 0) {
        /* the parent's open file: flock succeeds, and the lock (and its
         * note) stays the parent's too */
        int dup = fcntl(parent, F_DUPFD_CLOEXEC, 0);
        if (dup >= 0 && flock(dup, LOCK_EX | LOCK_NB) == 0) {
            close(fd);
            l->fd = dup;
            l->held = true;
            return NN_OK;
        }
        if (dup >= 0)
            close(dup);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        write_holder(fd, command);
        l->fd = fd;
        l->held = true;
        return NN_OK;
    }
    int e = errno;
    if (e == EWOULDBLOCK) {
        l->fd = fd;
        *busy = true;
        return NN_OK;
    }
    close(fd);
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
        fprintf(stderr,
                "nnctl: warning: cannot lock '%s' (%s): nothing stops another process from "
                "writing into it at the same time\n",
                dir, strerror(e));
        return NN_OK;
    }
    return nn_fail(err, NN_ERR_RUNTIME, "cannot lock '%s': %s", path, strerror(e));
}

nn_status nn_run_lock_take(const char *dir, const char *command, nn_run_lock *l, nn_error *err)
{
    /* A refused process reports the holder's note. The note can be missing
     * or stale for a moment (the holder has only just locked, or has just
     * exited): then look again, for up to half a second, and take the lock
     * if it is free by then. */
    holder h;
    bool known = false;
    for (int tries = 0; tries < 25; tries++) {
        bool busy;
        nn_status st = lock_try(dir, command, l, &busy, err);
        if (st || !busy)
            return st;
        known = read_holder(l->fd, &h);
        close(l->fd);
        l->fd = -1;
        if (known && (!same_host(h.host) || kill((pid_t)h.pid, 0) == 0 || errno != ESRCH))
            break;
        known = false;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!known)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s' is in use: another process holds its lock (%s/%s names no "
                       "holder): wait for it to finish, or choose another directory",
                       dir, dir, NN_RUN_LOCK_FILE);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s' is in use by nnctl %s (pid %ld on host %s, since %s): wait for it to "
                   "finish, or choose another directory",
                   dir, h.command, h.pid, h.host, h.since);
}

void nn_run_lock_release(nn_run_lock *l)
{
    if (l->held && l->fd >= 0)
        close(l->fd);
    l->held = false;
    l->fd = -1;
}

/* ---- a run's files -------------------------------------------------------- */

/* A path a spec gives relative to the run directory, when it stays inside. */
static bool inside(const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static nn_status add_file(nn_run_files *f, const char *path, const struct stat *sb, int *cap,
                          nn_error *err)
{
    for (int i = 0; i < f->n; i++)
        if (f->f[i].dev == sb->st_dev && f->f[i].ino == sb->st_ino)
            return NN_OK; /* already listed (by another name) */
    if (f->n == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        nn_run_file *g = realloc(f->f, (size_t)nc * sizeof *g);
        if (!g)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        f->f = g;
        *cap = nc;
    }
    if (!(f->f[f->n].path = nn_strdup(path, err)))
        return NN_ERR_RUNTIME;
    f->f[f->n].dev = sb->st_dev;
    f->f[f->n].ino = sb->st_ino;
    f->n++;
    return NN_OK;
}

static nn_status add_dir(nn_run_files *f, const char *path, nn_error *err)
{
    char **g = realloc(f->dirs, (size_t)(f->n_dirs + 1) * sizeof *g);
    if (!g)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    f->dirs = g;
    if (!(f->dirs[f->n_dirs] = nn_strdup(path, err)))
        return NN_ERR_RUNTIME;
    f->n_dirs++;
    return NN_OK;
}

/* The regular files in folder whose names match the glob `pattern`; with
 * deep, in its subfolders too, and the folders listed (deepest first). */
static nn_status add_matching(nn_run_files *f, const char *folder, const char *pattern, bool deep,
                              int depth, int *cap, nn_error *err)
{
    DIR *d = opendir(folder);
    if (!d)
        return NN_OK;
    nn_status st = NN_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", folder, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && deep && depth < 8)
            st = add_matching(f, p, pattern, deep, depth + 1, cap, err);
        else if (S_ISREG(sb.st_mode) && fnmatch(pattern, e->d_name, 0) == 0)
            st = add_file(f, p, &sb, cap, err);
    }
    closedir(d);
    if (!st && deep)
        st = add_dir(f, folder, err); /* after its subfolders: deepest first */
    return st;
}

/* dir/rel: rel's folder part, and its file name as a glob where each
 * {field} of a checkpoint path template (ckpt-{epoch:02d}.h5) matches
 * anything. */
static nn_status add_template(nn_run_files *f, const char *dir, const char *rel, int *cap,
                              nn_error *err)
{
    if (!inside(rel))
        return NN_OK;
    const char *slash = strrchr(rel, '/'), *name = slash ? slash + 1 : rel;
    char folder[PATH_MAX], glob[NAME_MAX * 2 + 2];
    if (slash && memchr(rel, '{', (size_t)(slash - rel)))
        return NN_OK; /* a templated folder: leave it alone */
    if (slash)
        snprintf(folder, sizeof folder, "%s/%.*s", dir, (int)(slash - rel), rel);
    else
        snprintf(folder, sizeof folder, "%s", dir);
    size_t o = 0;
    for (const char *p = name; *p && o + 3 < sizeof glob; p++) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                return NN_OK;
            glob[o++] = '*';
            p = close;
        } else {
            if (strchr("*?[]\\", *p))
                glob[o++] = '\\';
            glob[o++] = *p;
        }
    }
    glob[o] = '\0';
    return add_matching(f, folder, glob, false, 0, cap, err);
}

/* TensorBoard's event files under dir/log (and the folders holding them). */
static nn_status add_events(nn_run_files *f, const char *dir, const char *log, int *cap,
                            nn_error *err)
{
    if (!inside(log))
        return NN_OK;
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s/%s", dir, log);
    return add_matching(f, folder, "events.out.tfevents.*", true, 0, cap, err);
}

nn_status nn_run_files_list(const char *dir, nn_run_files *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    int cap = 0;
    /* the run's own spec.cfg says where its history, checkpoints and
     * TensorBoard events went when not to the defaults */
    char path[PATH_MAX], *text = NULL;
    size_t len;
    nn_error ignore;
    nn_flat spec = {0};
    snprintf(path, sizeof path, "%s/spec.cfg", dir);
    if (nn_read_file(path, &text, &len, &ignore) == NN_OK &&
        nn_spec_flatten(text, path, &spec, &ignore) != NN_OK)
        memset(&spec, 0, sizeof spec);
    free(text);
    nn_status st = spec.n ? nn_flat_callbacks_by_type(&spec, err) : NN_OK;
    static const char *const defaults[] = {"spec.cfg",    "run.json",    "eval.json",
                                           "model.h5",    "last.h5",     "history.csv",
                                           "ckpt-{epoch}.h5"};
    for (size_t i = 0; !st && i < sizeof defaults / sizeof defaults[0]; i++)
        st = add_template(out, dir, defaults[i], &cap, err);
    /* TensorBoard's default folder, unless the spec names its own */
    bool own_log = false;
    for (int i = 0; !st && i < spec.n; i++) {
        char type[64];
        const char *rest;
        const nn_kv *kv = &spec.kv[i];
        if (kv->numeric || kv->value[0] == '[' ||
            !nn_flat_callback_key(kv->key, type, sizeof type, &rest))
            continue;
        if (!strcmp(rest, "path") && (!strcmp(type, "history") || !strcmp(type, "checkpoint"))) {
            st = add_template(out, dir, kv->value, &cap, err);
        } else if (!strcmp(rest, "log_dir") && !strcmp(type, "tensorboard")) {
            own_log = true;
            st = add_events(out, dir, kv->value, &cap, err);
        }
    }
    if (!st && !own_log)
        st = add_events(out, dir, "tb", &cap, err);
    nn_flat_free(&spec);
    if (st)
        nn_run_files_free(out);
    return st;
}

void nn_run_files_keep(nn_run_files *files, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return;
    for (int i = 0; i < files->n; i++)
        if (files->f[i].dev == sb.st_dev && files->f[i].ino == sb.st_ino) {
            free(files->f[i].path);
            files->f[i] = files->f[--files->n];
            i--;
        }
}

int nn_run_files_remove(const nn_run_files *files)
{
    int removed = 0;
    for (int i = 0; i < files->n; i++) {
        struct stat sb;
        const nn_run_file *f = &files->f[i];
        if (lstat(f->path, &sb) == 0 && sb.st_dev == f->dev && sb.st_ino == f->ino &&
            unlink(f->path) == 0)
            removed++;
    }
    for (int i = 0; i < files->n_dirs; i++)
        rmdir(files->dirs[i]); /* only when empty: a new run's files stay */
    return removed;
}

void nn_run_files_free(nn_run_files *files)
{
    for (int i = 0; i < files->n; i++)
        free(files->f[i].path);
    for (int i = 0; i < files->n_dirs; i++)
        free(files->dirs[i]);
    free(files->f);
    free(files->dirs);
    memset(files, 0, sizeof *files);
}

bool nn_run_dir_holds_run(const char *dir)
{
    nn_run_files f;
    nn_error ignore;
    if (nn_run_files_list(dir, &f, &ignore) != NN_OK)
        return true; /* cannot tell: do not treat it as free */
    bool holds = false;
    for (int i = 0; i < f.n && !holds; i++) {
        const char *b = strrchr(f.f[i].path, '/');
        holds = strcmp(b ? b + 1 : f.f[i].path, "spec.cfg") != 0;
    }
    nn_run_files_free(&f);
    return holds;
}

/* ---- numbering ---------------------------------------------------------------- */

/* base split into its folder and name; the number of `entry` in the
 * series (1 for the name itself, N for name-N), or 0. */
static long series_number(const char *name, const char *entry)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) != 0)
        return 0;
    if (entry[n] == '\0')
        return 1;
    if (entry[n] != '-' || entry[n + 1] < '1' || entry[n + 1] > '9')
        return 0;
    char *end;
    errno = 0;
    long k = strtol(entry + n + 1, &end, 10);
    return *end || errno || k < 2 || k > 1000000 ? 0 : k;
}

static void split_base(const char *base, char *folder, size_t flen, const char **name)
{
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] == '/')
        len--;
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (base[i] == '/')
            slash = base + i;
    if (slash) {
        snprintf(folder, flen, "%.*s", slash == base ? 1 : (int)(slash - base), base);
        *name = slash + 1;
    } else {
        snprintf(folder, flen, ".");
        *name = base;
    }
}

static void series_path(const char *base, long k, char *out, size_t len)
{
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    if (k <= 1)
        snprintf(out, len, "%.*s", (int)n, base);
    else
        snprintf(out, len, "%.*s-%ld", (int)n, base, k);
}

/* The highest number of the series in its folder that satisfies `want`
 * (NULL: any entry), or 0. */
static long series_highest(const char *base, const char *want)
{
    char folder[PATH_MAX], name[NAME_MAX + 1];
    const char *nm;
    split_base(base, folder, sizeof folder, &nm);
    size_t nlen = strlen(nm);
    while (nlen && nm[nlen - 1] == '/')
        nlen--;
    snprintf(name, sizeof name, "%.*s", (int)nlen, nm);
    DIR *d = opendir(folder);
    if (!d)
        return 0;
    long best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long k = series_number(name, e->d_name);
        if (k <= best)
            continue;
        if (want) {
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s/%s", folder, e->d_name, want);
            if (access(p, F_OK) != 0)
                continue;
        }
        best = k;
    }
    closedir(d);
    return best;
}

nn_status nn_run_dir_claim_new(const char *base, char *out, size_t len, const char *command,
                               nn_run_lock *l, nn_error *err)
{
    l->held = false;
    l->fd = -1;
    long k = series_highest(base, NULL);
    if (k < 1)
        k = 1;
    for (int tries = 0; tries < 10000; tries++, k++) {
        series_path(base, k, out, len);
        struct stat sb;
        if (lstat(out, &sb) == 0 && !S_ISDIR(sb.st_mode))
            continue; /* a file by that name: not ours to use */
        bool busy;
        nn_status st = lock_try(out, command, l, &busy, err);
        if (st)
            return st;
        if (busy) {
            close(l->fd); /* another process has it */
            l->fd = -1;
            continue;
        }
        if (!nn_run_dir_holds_run(out))
            return NN_OK;
        nn_run_lock_release(l);
    }
    return nn_fail(err, NN_ERR_RUNTIME, "no free run directory after %s-%ld: give --run-dir",
                   base, k);
}

nn_status nn_run_dir_latest(const char *base, const char *name, char *out, size_t len,
                            nn_error *err)
{
    long k = series_highest(base, name);
    if (k < 1)
        return nn_fail(err, NN_ERR_USAGE,
                       "no run to resume: none of %s, %s-2, ... has a %s (give --run-dir DIR or "
                       "--resume FILE)",
                       base, base, name);
    series_path(base, k, out, len);
    return NN_OK;
}
