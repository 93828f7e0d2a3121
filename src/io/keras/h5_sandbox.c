/* nn_h5_load: libhdf5 parses model files in a confined child process.
 *
 * Debian's libhdf5 crashes, loops and allocates without bound on some
 * corrupt files (tests/fuzz/known-upstream/model), and model files come
 * from anywhere. So the parent forks; the child drops what it does not need
 * (every file descriptor but its pipe and arena, the right to open files
 * for writing, to write anywhere but its pipe, to map executable memory, to
 * use the network, to fork or exec: a seccomp filter), takes memory and
 * CPU limits, and runs the ordinary reader (h5_read.c). Weights
 * go into an arena: a memfd the parent created and maps once the child
 * has exited, so 100 MB of weights cross without a copy. The
 * rest (names, shapes, offsets into the arena, the JSON strings) comes back
 * as one message over a pipe, which the parent checks field by field before
 * building the nn_h5_model. A crash, a limit or a hang in the child is one
 * error naming the file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/keras/h5_internal.h"

#define MSG_MAGIC 0x3548484eu /* "NHH5" */
#define MSG_MAX ((size_t)256 << 20) /* names and JSON: far above any real model */
#define CHILD_PIPE_FD NN_H5_SANDBOX_PIPE_FD
#define CHILD_ARENA_FD 4
/* libhdf5's own allocations (metadata cache, chunk buffers, strings) on top
 * of what the child had at the fork: generous for any real file, small
 * enough that a corrupt size field stops at it instead of at the machine's
 * memory. The weights themselves go to the arena, capped separately. */
#define HEAP_BUDGET ((size_t)512 << 20)
#define ALIGN 64

#if defined(__SANITIZE_ADDRESS__)
#define NN_SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_SANDBOX_SANITIZED 1
#endif
#endif

/* ---- the arena -------------------------------------------------------- */

typedef struct arena {
    char *base;
    size_t cap, used;
} arena;

static float *arena_alloc(void *ctx, size_t n, nn_error *err)
{
    arena *a = ctx;
    size_t bytes = n * sizeof(float), at = (a->used + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n > SIZE_MAX / sizeof(float) || at > a->cap || bytes > a->cap - at) {
        nn_fail(err, NN_ERR_RUNTIME,
                "the weights need more than %zu MB, 4 times the file's size: a corrupt size",
                a->cap >> 20);
        return NULL;
    }
    a->used = at + bytes;
    return (float *)(a->base + at);
}

void nn_h5__arena_release(void *base, size_t len)
{
    if (base)
        munmap(base, len);
}

/* ---- the message ------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, sizeof v); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, sizeof v); }

/* A string that may be absent: u32 length + 1 (0: absent), then bytes. */
static void put_str(buf *b, const char *s)
{
    if (!s) {
        put_u32(b, 0);
        return;
    }
    size_t len = strlen(s);
    put_u32(b, (uint32_t)len + 1);
    put(b, s, len);
}

static void put_arrays(buf *b, const nn_h5_array *a, int n, const arena *ar)
{
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        put_str(b, a[i].name);
        put_u32(b, (uint32_t)a[i].ndim);
        for (int d = 0; d < a[i].ndim; d++)
            put_u64(b, a[i].dims[d]);
        put_u64(b, (uint64_t)((const char *)a[i].data - ar->base));
    }
}

/* Every string field of the model, in message order: a new field goes
 * here once and crosses both ways. */
#define N_STRS 9
static void str_fields(nn_h5_model *m, char **f[N_STRS])
{
    f[0] = &m->model_config, f[1] = &m->training_config, f[2] = &m->keras_version;
    f[3] = &m->backend, f[4] = &m->nnctl_spec, f[5] = &m->nnctl_spec_dir;
    f[6] = &m->nnctl_class_names, f[7] = &m->nnctl_state, f[8] = &m->nnctl_preprocess;
}

static void encode(buf *b, nn_h5_model *m, const arena *ar, bool confined)
{
    char **f[N_STRS];
    str_fields(m, f);
    put_u32(b, MSG_MAGIC);
    put_u32(b, NN_OK);
    put_u32(b, confined);
    for (int i = 0; i < N_STRS; i++)
        put_str(b, *f[i]);
    put_u32(b, m->weights_only);
    put_u32(b, (uint32_t)m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        put_str(b, m->layers[i].name);
        put_arrays(b, m->layers[i].weights, m->layers[i].n_weights, ar);
    }
    put_arrays(b, m->optimizer, m->n_optimizer, ar);
    put_u64(b, ar->used);
    put_u32(b, MSG_MAGIC);
}

typedef struct reader {
    const char *p;
    size_t n, at;
    bool bad;
} reader;

static bool get(reader *r, void *out, size_t len)
{
    if (r->bad || len > r->n - r->at) {
        r->bad = true;
        memset(out, 0, len);
        return false;
    }
    memcpy(out, r->p + r->at, len);
    r->at += len;
    return true;
}

static uint32_t get_u32(reader *r)
{
    uint32_t v;
    get(r, &v, sizeof v);
    return v;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v;
    get(r, &v, sizeof v);
    return v;
}

/* A string (NULL when absent or on a bad message: r->bad says which). No
 * NUL may hide inside it. */
static char *get_str(reader *r)
{
    uint32_t len1 = get_u32(r);
    if (r->bad || len1 == 0)
        return NULL;
    size_t len = len1 - 1;
    if (len > r->n - r->at || memchr(r->p + r->at, '\0', len)) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p + r->at, len);
    s[len] = '\0';
    r->at += len;
    return s;
}

/* Arrays whose data must lie inside the arena's first `used` bytes. */
static bool get_arrays(reader *r, char *base, size_t used, nn_h5_array **out, int *nout)
{
    uint32_t n = get_u32(r);
    *out = NULL;
    *nout = 0;
    if (r->bad || n > (r->n - r->at) / 16) { /* each record takes more than 16 bytes */
        r->bad = true;
        return false;
    }
    if (n == 0)
        return true;
    nn_h5_array *a = calloc(n, sizeof *a);
    if (!a) {
        r->bad = true;
        return false;
    }
    *out = a;
    *nout = (int)n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        a[i].name = get_str(r);
        uint32_t nd = get_u32(r);
        if (!a[i].name || nd > NN_H5_MAX_DIMS) {
            r->bad = true;
            break;
        }
        a[i].ndim = (int)nd;
        size_t count = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v = get_u64(r);
            if (v > H5_MAX_ELEMS || (v && count > H5_MAX_ELEMS / v))
                r->bad = true;
            a[i].dims[d] = (size_t)v;
            count *= (size_t)v;
        }
        uint64_t off = get_u64(r);
        if (r->bad || off % sizeof(float) || off > used || count > (used - off) / sizeof(float)) {
            r->bad = true;
            break;
        }
        a[i].data = (float *)(base + off);
        a[i].in_arena = true;
    }
    return !r->bad;
}

/* ---- the child -------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The child's error: status and message, then the end. */
static void send_error(int fd, nn_status code, const char *msg)
{
    buf b = {0};
    put_u32(&b, MSG_MAGIC);
    put_u32(&b, (uint32_t)(code ? code : NN_ERR_RUNTIME));
    put_str(&b, msg);
    put_u32(&b, MSG_MAGIC);
    if (!b.oom)
        write_all(fd, b.p, b.n);
    free(b.p);
}

/* VmData of this process in bytes (0 when unknown). */
static size_t vm_data(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG(i) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define DENY RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define ALLOW RET(SECCOMP_RET_ALLOW)

typedef struct prog {
    struct sock_filter f[160];
    int n;
} prog;

static void emit(prog *p, struct sock_filter s)
{
    if (p->n < (int)(sizeof p->f / sizeof p->f[0]))
        p->f[p->n] = s;
    p->n++;
}

static void allow_nr(prog *p, long nr)
{
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1));
    emit(p, (struct sock_filter)ALLOW);
}

/* nr is allowed when argument `arg` has none of the bits of mask. */
static void allow_without_bits(prog *p, long nr, int arg, uint32_t mask)
{
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 4));
    emit(p, (struct sock_filter)LD_ARG(arg));
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, mask, 1, 0));
    emit(p, (struct sock_filter)ALLOW);
    emit(p, (struct sock_filter)DENY);
    emit(p, (struct sock_filter)LD_NR);
}

/* nr is allowed when argument `arg` is a or b. */
static void allow_arg_in(prog *p, long nr, int arg, uint32_t a, uint32_t b)
{
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 5));
    emit(p, (struct sock_filter)LD_ARG(arg));
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, a, 2, 0));
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, b, 1, 0));
    emit(p, (struct sock_filter)DENY);
    emit(p, (struct sock_filter)ALLOW);
}

#if defined(__x86_64__)
#define NN_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* What libhdf5 needs to read a file, and nothing that reaches outside:
 * files open read-only, memory never executable, writes only to the pipe
 * (and, in sanitizer builds, to stderr, which is /dev/null: a sanitizer
 * that cannot write its report loops). Anything else fails with EPERM;
 * another architecture's calls kill. */
int nn_h5__confine(void)
{
#ifndef NN_AUDIT_ARCH
    return -1;
#else
    prog p = {.n = 0};
    emit(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch)));
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NN_AUDIT_ARCH, 1, 0));
    emit(&p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
    emit(&p, (struct sock_filter)LD_NR);
#ifdef __x86_64__
    /* x32 calls have bit 30 set */
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
    emit(&p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
#endif
    static const long plain[] = {
        SYS_read, SYS_pread64, SYS_readv, SYS_preadv, SYS_lseek, SYS_close, SYS_fstat,
        SYS_newfstatat, SYS_statx, SYS_munmap, SYS_mremap, SYS_brk, SYS_madvise, SYS_exit,
        SYS_exit_group, SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_futex, SYS_getpid, SYS_gettid,
        SYS_clock_gettime, SYS_gettimeofday, SYS_flock, SYS_getcwd, SYS_readlinkat,
        SYS_faccessat, SYS_getrusage, SYS_sched_yield, SYS_getuid, SYS_geteuid, SYS_getrandom,
#ifdef SYS_stat
        SYS_stat, SYS_lstat, SYS_readlink, SYS_access, SYS_time,
#endif
#ifdef NN_SANDBOX_SANITIZED
        SYS_sigaltstack, SYS_rt_sigaction, SYS_sched_getaffinity, SYS_prctl,
#endif
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        allow_nr(&p, plain[i]);
    const uint32_t writes = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
    allow_without_bits(&p, SYS_openat, 2, writes);
#ifdef SYS_open
    allow_without_bits(&p, SYS_open, 1, writes);
#endif
    allow_without_bits(&p, SYS_mmap, 2, PROT_EXEC);
    allow_without_bits(&p, SYS_mprotect, 2, PROT_EXEC);
    /* fcntl: locks and flags, not F_DUPFD (1030 is F_DUPFD_CLOEXEC) */
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, 0, 5));
    emit(&p, (struct sock_filter)LD_ARG(1));
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD, 2, 0));
    emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD_CLOEXEC, 1, 0));
    emit(&p, (struct sock_filter)ALLOW);
    emit(&p, (struct sock_filter)DENY);
    emit(&p, (struct sock_filter)LD_NR);
#ifdef NN_SANDBOX_SANITIZED
    allow_arg_in(&p, SYS_write, 0, CHILD_PIPE_FD, 2);
#else
    allow_arg_in(&p, SYS_write, 0, CHILD_PIPE_FD, CHILD_PIPE_FD);
#endif
    emit(&p, (struct sock_filter)DENY);
    if (p.n > (int)(sizeof p.f / sizeof p.f[0]))
        return -1;
    struct sock_fprog fp = {.len = (unsigned short)p.n, .filter = p.f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp);
#endif
}

static void set_limit(int what, rlim_t soft, rlim_t hard)
{
    struct rlimit r = {soft, hard};
    setrlimit(what, &r);
}

/* Never returns. */
static void child_main(const char *path, int pipe_fd, int arena_fd, size_t arena_cap,
                       size_t prealloc, unsigned cpu_seconds)
{
    nn_error err = {0};
    /* only the pipe and the arena stay open, at known numbers (moved out of
     * the way first: either may sit at the other's number) */
    int p = fcntl(pipe_fd, F_DUPFD, CHILD_ARENA_FD + 1);
    int a = fcntl(arena_fd, F_DUPFD, CHILD_ARENA_FD + 1);
    if (p < 0 || a < 0 || dup2(p, CHILD_PIPE_FD) < 0 || dup2(a, CHILD_ARENA_FD) < 0)
        _exit(111);
    if (syscall(SYS_close_range, CHILD_ARENA_FD + 1, ~0u, 0) != 0)
        for (int fd = CHILD_ARENA_FD + 1; fd < 65536; fd++)
            close(fd);
    /* nothing to print: stdin, stdout and stderr lead nowhere (a
     * sanitizer's report on libhdf5's own bugs included: the parent says
     * that the reader failed) */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        close(null);
    }
    arena ar = {.cap = arena_cap};
    if (ftruncate(CHILD_ARENA_FD, (off_t)arena_cap) != 0 ||
        (ar.base = mmap(NULL, arena_cap, PROT_READ | PROT_WRITE, MAP_SHARED, CHILD_ARENA_FD,
                        0)) == MAP_FAILED) {
        char msg[4400];
        snprintf(msg, sizeof msg, "'%s': cannot set up the HDF5 reader's memory: %s", path,
                 strerror(errno));
        send_error(CHILD_PIPE_FD, NN_ERR_RUNTIME, msg);
        _exit(0);
    }
    /* the weights of a float32 file take about the file's size: faulting
     * that much in one call is cheaper than page by page as libhdf5 writes
     * (an old kernel without MADV_POPULATE_WRITE faults them one by one) */
#ifdef MADV_POPULATE_WRITE
    madvise(ar.base, prealloc < arena_cap ? prealloc : arena_cap, MADV_POPULATE_WRITE);
#endif
    size_t data = vm_data();
    /* no file-size limit: seccomp already keeps every file closed to
     * writing, and valgrind, which cannot run seccomp, writes its log from
     * the child */
    set_limit(RLIMIT_CORE, 0, 0);
    set_limit(RLIMIT_NOFILE, 16, 16);
    set_limit(RLIMIT_CPU, cpu_seconds, cpu_seconds + 2);
    if (data)
        set_limit(RLIMIT_DATA, data + HEAP_BUDGET, data + HEAP_BUDGET);
    /* the parent's handlers (a test framework's SIGSEGV catcher, nnctl's
     * Ctrl-C flag) are not the child's: a crash here ends the child */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* no seccomp at all (ENOSYS: an old kernel, or valgrind, which cannot
     * run it): the limits alone apply, and the parent says so */
    bool confined = true;
    if (nn_h5__confine() != 0 && !(confined = false, errno == ENOSYS)) {
        char msg[4400];
        snprintf(msg, sizeof msg, "'%s': cannot confine the HDF5 reader (seccomp: %s)", path,
                 strerror(errno));
        send_error(CHILD_PIPE_FD, NN_ERR_RUNTIME, msg);
        _exit(0);
    }
    nn_h5_model m;
    nn_h5_alloc alloc = {arena_alloc, &ar};
    nn_status st = nn_h5__read(path, &m, &alloc, &err);
    if (st) {
        /* a corrupt size field makes libhdf5 allocate without bound: the
         * limit stopped it */
        size_t len = strlen(err.msg);
        if (strstr(err.msg, "memory allocation failed") || strstr(err.msg, "out of memory"))
            snprintf(err.msg + len, sizeof err.msg - len,
                     " (stopped by the HDF5 reader's memory limit, %zu MB: a corrupt size in the "
                     "file)",
                     HEAP_BUDGET >> 20);
        send_error(CHILD_PIPE_FD, st, err.msg);
        _exit(0);
    }
    buf b = {0};
    encode(&b, &m, &ar, confined);
    if (b.oom)
        send_error(CHILD_PIPE_FD, NN_ERR_RUNTIME, "out of memory sending what was read");
    else
        write_all(CHILD_PIPE_FD, b.p, b.n);
    /* freed although the process ends, so that leak checkers (valgrind
     * follows the child) see nothing lost */
    free(b.p);
    m.arena = ar.base;
    m.arena_len = ar.cap;
    nn_h5_model_free(&m);
    _exit(0);
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
        put(b, chunk, (size_t)n);
        if (b->oom)
            return -1;
    }
}

static nn_status decode(const char *path, const buf *b, int arena_fd, nn_h5_model *m,
                        nn_error *err)
{
    reader r = {b->p, b->n, 0, false};
    if (get_u32(&r) != MSG_MAGIC)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': the HDF5 reader sent a malformed answer",
                       path);
    uint32_t code = get_u32(&r);
    if (code != NN_OK) {
        char *msg = get_str(&r);
        if (r.bad || !msg || get_u32(&r) != MSG_MAGIC || r.at != r.n ||
            (code != NN_ERR_RUNTIME && code != NN_ERR_USAGE)) {
            free(msg);
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': the HDF5 reader sent a malformed answer", path);
        }
        nn_fail(err, (nn_status)code, "%s", msg);
        free(msg);
        return (nn_status)code;
    }
    if (!get_u32(&r) && !r.bad) {
        static bool told;
        if (!told)
            fprintf(stderr, "nnctl: note: this system has no seccomp (valgrind cannot run it): "
                            "model files are read with memory and CPU limits but no system "
                            "call filter\n");
        told = true;
    }
    char **f[N_STRS];
    str_fields(m, f);
    for (int i = 0; i < N_STRS; i++)
        *f[i] = get_str(&r);
    m->weights_only = get_u32(&r) != 0;
    uint32_t n_layers = get_u32(&r);
    /* the arena's size is the last field (the arrays are checked against
     * it): look ahead for it */
    if (r.bad || b->n < 12)
        goto bad;
    uint64_t used;
    memcpy(&used, b->p + b->n - 12, sizeof used);
    struct stat sb;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (fstat(arena_fd, &sb) != 0 || (uint64_t)sb.st_size < page ||
        used > (uint64_t)sb.st_size - page)
        goto bad;
    /* at least a page, so that an empty arena has an address too. Shared:
     * the child is gone, so the memfd is this process's alone, and a
     * private writable mapping would copy every page as it populates */
    m->arena_len = ((size_t)used + page) / page * page;
    void *base = mmap(NULL, m->arena_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      arena_fd, 0);
    if (base == MAP_FAILED)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot map the weights read: %s", path,
                       strerror(errno));
    m->arena = base;
    if (n_layers > (r.n - r.at) / 8)
        goto bad;
    if (n_layers) {
        if (!(m->layers = calloc(n_layers, sizeof *m->layers)))
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        m->n_layers = (int)n_layers;
    }
    for (uint32_t i = 0; i < n_layers; i++) {
        m->layers[i].name = get_str(&r);
        if (!m->layers[i].name ||
            !get_arrays(&r, m->arena, (size_t)used, &m->layers[i].weights,
                        &m->layers[i].n_weights))
            goto bad;
    }
    if (!get_arrays(&r, m->arena, (size_t)used, &m->optimizer, &m->n_optimizer))
        goto bad;
    if (get_u64(&r) != used || get_u32(&r) != MSG_MAGIC || r.bad || r.at != r.n)
        goto bad;
    if (!m->model_config && !m->weights_only)
        goto bad;
    return NN_OK;
bad:
    return nn_fail(err, NN_ERR_RUNTIME, "'%s': the HDF5 reader sent a malformed answer", path);
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

nn_status nn_h5_load(const char *path, nn_h5_model *m, nn_error *err)
{
    if (!m)
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: no model");
    memset(m, 0, sizeof *m);
    if (!sandbox_on)
        return nn_h5_load_in_process(path, m, err);
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
        child_main(path, pfd[1], afd, cap, size, cpu);
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
    else
        st = decode(path, &b, afd, m, err);
    free(b.p);
    close(afd);
    if (st)
        nn_h5_model_free(m);
    return st;
}
