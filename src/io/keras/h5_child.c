/* The sandbox's child: the file descriptors, limits and seccomp filter
 * that confine it, then the ordinary reader (h5_read.c) into the arena and
 * the answer to the parent (h5_message.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
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
#include <unistd.h>

#include "io/keras/h5_sandbox_internal.h"

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
    /* libhdf5 writes every page of it: faulting them in one call is
     * cheaper than one by one (an old kernel without MADV_POPULATE_WRITE
     * faults them one by one) */
#ifdef MADV_POPULATE_WRITE
    size_t page = 4096, from = at / page * page;
    if (bytes)
        madvise(a->base + from, at + bytes - from, MADV_POPULATE_WRITE);
#endif
    return (float *)(a->base + at);
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
    nn_h5__msg_error(&b, code, msg);
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

/* The child (h5_sandbox_internal.h); never returns. */
void nn_h5__child_main(const char *path, bool with_optimizer, int pipe_fd, int arena_fd,
                       size_t arena_cap, unsigned cpu_seconds)
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
    nn_h5_alloc alloc = {arena_alloc, &ar, .leave_plain_in_file = true};
    nn_status st = nn_h5__read(path, &m, &alloc, with_optimizer, &err);
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
    nn_h5__msg_encode(&b, &m, &ar, confined);
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
