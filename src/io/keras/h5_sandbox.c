/* nn_h5_load: libhdf5 parses model files in a confined child process.
 *
 * Debian's libhdf5 crashes, loops and allocates without bound on some
 * corrupt files (tests/fuzz/known-upstream/model), and model files come
 * from anywhere. So the parent forks; the child drops what it does not need
 * (every file descriptor but its pipe and arena, the right to open files
 * for writing, to write anywhere but its pipe, to map executable memory, to
 * use the network, to fork or exec: a seccomp filter), takes memory and
 * CPU limits, and runs the ordinary reader (h5_read.c). Weights
 * stored as plain float32 (what Keras and nnctl write) stay in the file:
 * the child sends where, and the parent reads those bytes itself, which
 * costs what libhdf5 in-process would. Any other weights (float16,
 * compressed, chunked) go into an arena: a memfd the parent created and
 * maps once the child has exited, so they cross without a copy. The
 * rest (names, shapes, offsets into the arena, the JSON strings) comes back
 * as one message over a pipe, which the parent checks field by field before
 * building the nn_h5_model. A crash, a limit or a hang in the child is one
 * error naming the file. The child is h5_child.c, the message between
 * them h5_message.c; this file is the parent. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/keras/h5_sandbox_internal.h"

void nn_h5__arena_release(void *base, size_t len)
{
    if (base)
        munmap(base, len);
}

/* ---- the parent ------------------------------------------------------- */

static bool sandbox_on = true;

void nn_h5_sandbox_enable(bool on) { sandbox_on = on; }

/* Reads the child's message until EOF, at most MSG_MAX bytes, within
 * timeout_ms in all. 0 on EOF, 1 too long, 2 timeout, -1 error. */
static int read_message(int fd, buf *b, long timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char chunk[65536];
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= timeout_ms)
            return 2;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)(timeout_ms - spent));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 2;
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (b->n + (size_t)n > MSG_MAX)
            return 1;
        nn_h5__msg_put(b, chunk, (size_t)n);
        if (b->oom)
            return -1;
    }
}


static nn_status child_died(const char *path, int status, unsigned cpu_seconds, bool timed_out,
                            nn_error *err)
{
    if (timed_out)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': reading the file did not finish in %u s (libhdf5 loops on some "
                       "corrupt files): stopped; the file is corrupt or not a model file",
                       path, 10 * cpu_seconds);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': reading the file took more than its limit of %u s of CPU "
                           "time (libhdf5 loops on some corrupt files): stopped; the file is "
                           "corrupt or not a model file",
                           path, cpu_seconds);
        if (sig == SIGSYS)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': reading the file made a system call the reader may not make: "
                           "stopped; the file is corrupt or hostile",
                           path);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': libhdf5 crashed reading the file (%s), in the reader's own "
                       "process: the file is corrupt or not a model file",
                       path, strsignal(sig));
    }
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': the HDF5 reader stopped without an answer (exit status %d): the file "
                   "is corrupt or not a model file",
                   path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Reads the arrays the child left in the file (stored as plain float32:
 * h5_read.c's plain_in_file) into memory of their own: at most cap bytes
 * in all, each inside the file as it is now. */
static nn_status read_in_file(const char *path, nn_h5_array *a, int n, int fd, size_t file_size,
                              size_t *total, size_t cap, nn_error *err)
{
    for (int i = 0; i < n; i++) {
        if (!a[i].in_file)
            continue;
        size_t count = 1;
        for (int d = 0; d < a[i].ndim; d++)
            count *= a[i].dims[d]; /* each below 2^32 in all: checked in the message */
        size_t bytes = count * sizeof(float);
        if (a[i].file_offset > file_size || bytes > file_size - a[i].file_offset ||
            bytes > cap - *total)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': weight '%s' lies past the file's end (%zu bytes): the file "
                           "changed while it was read, or is corrupt",
                           path, a[i].name, file_size);
        *total += bytes;
        if (!(a[i].data = nn_malloc(bytes ? bytes : 1, err)))
            return NN_ERR_RUNTIME;
        a[i].in_arena = a[i].in_file = false;
        for (size_t done = 0; done < bytes;) {
            ssize_t r = pread(fd, (char *)a[i].data + done, bytes - done,
                              (off_t)(a[i].file_offset + done));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return nn_fail(err, NN_ERR_RUNTIME, "'%s': reading weight '%s': %s", path,
                               a[i].name, r < 0 ? strerror(errno) : "the file ended early");
            done += (size_t)r;
        }
    }
    return NN_OK;
}

static nn_status read_left_in_file(const char *path, nn_h5_model *m, size_t cap, nn_error *err)
{
    /* O_NONBLOCK: the path swapped for a FIFO since the child read it must
     * not hang the open; it is refused below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = "no longer a regular file";
    if (why) {
        nn_status st = nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, why);
        if (fd >= 0)
            close(fd);
        return st;
    }
    size_t total = 0;
    nn_status st = NN_OK;
    for (int i = 0; i < m->n_layers && !st; i++)
        st = read_in_file(path, m->layers[i].weights, m->layers[i].n_weights, fd,
                          (size_t)sb.st_size, &total, cap, err);
    if (!st)
        st = read_in_file(path, m->optimizer, m->n_optimizer, fd, (size_t)sb.st_size, &total,
                          cap, err);
    close(fd);
    return st;
}

static nn_status load(const char *path, bool with_optimizer, nn_h5_model *m, nn_error *err)
{
    if (!m)
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: no model");
    memset(m, 0, sizeof *m);
    if (!sandbox_on)
        return nn_h5__read(path, m, NULL, with_optimizer, err);
    if (!path || !path[0])
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: empty path");
    /* the cheap checks here, with their plain messages */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': is a directory, not a model file", path);
    if (!S_ISREG(sb.st_mode))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': not a regular file, so not a model file",
                       path);
    if (access(path, R_OK) != 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, strerror(errno));
    size_t size = (size_t)sb.st_size;
    /* float16 weights double in float32; 64 MB over that for small files */
    size_t cap = (size > ((size_t)1 << 40) ? ((size_t)1 << 40) : size) * 4 + ((size_t)64 << 20);
    /* a few seconds, plus 1 s per 16 MB: a real file needs far less */
    unsigned cpu = 3 + (unsigned)(size >> 24);

    int pfd[2] = {-1, -1};
    int afd = (int)syscall(SYS_memfd_create, "nnctl-h5-arena", MFD_CLOEXEC);
    if (afd < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        int e = errno;
        if (afd >= 0)
            close(afd);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot start the HDF5 reader: %s", path,
                       strerror(e));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(afd), close(pfd[0]), close(pfd[1]);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot start the HDF5 reader: %s", path,
                       strerror(e));
    }
    if (pid == 0) {
        close(pfd[0]);
        nn_h5__child_main(path, with_optimizer, pfd[1], afd, cap, cpu);
    }
    close(pfd[1]);
    buf b = {0};
    /* the wall-clock limit: a busy machine gives the child a fraction of a
     * core, and the CPU limit stops a loop first where it does not */
    int rr = read_message(pfd[0], &b, 10000L * cpu);
    close(pfd[0]);
    if (rr != 0)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    nn_status st;
    if (rr == 1)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': the HDF5 reader's answer is over %zu MB", path,
                     MSG_MAX >> 20);
    else if (rr == 2 || (rr == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)))
        st = child_died(path, status, cpu, rr == 2, err);
    else if (rr < 0)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot read the HDF5 reader's answer: %s",
                     path, strerror(errno));
    else if (!(st = nn_h5__msg_decode(path, &b, afd, m, err)))
        st = read_left_in_file(path, m, cap, err);
    free(b.p);
    close(afd);
    if (st)
        nn_h5_model_free(m);
    return st;
}

nn_status nn_h5_load(const char *path, nn_h5_model *m, nn_error *err)
{
    return load(path, false, m, err);
}

nn_status nn_h5_load_checkpoint(const char *path, nn_h5_model *m, nn_error *err)
{
    return load(path, true, m, err);
}
