/* The HDF5 reader's sandbox (src/io/keras/h5_sandbox.c, h5_child.c): its seccomp
 * filter, tried call by call in a child process, and loads through the
 * sandbox of a good file, a file the limits stop and files libhdf5 crashes
 * on (tests/fuzz/known-upstream/model). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/keras/h5_internal.h"

enum {
    OK_READ = 1 << 0,      /* open read-only and read: allowed */
    OK_PIPE = 1 << 1,      /* write to the pipe: allowed */
    NO_CREATE = 1 << 2,    /* open for writing, creating: EPERM */
    NO_SOCKET = 1 << 3,
    NO_EXEC = 1 << 4,
    NO_EXEC_MEM = 1 << 5,  /* mmap / mprotect with PROT_EXEC */
    NO_FORK = 1 << 6,
    NO_STDOUT = 1 << 7,    /* write to fd 1 */
    NO_UNLINK = 1 << 8,
    NO_DUP = 1 << 9,       /* a second handle on the pipe */
    ALL = (1 << 10) - 1
};

static bool denied(long rc) { return rc == -1 && errno == EPERM; }

/* In the child: confine, try each call, report the bits that behaved. */
static void probe(const char *scratch)
{
    int bits = 0;
    if (nn_h5__confine() != 0)
        _exit(errno == ENOSYS ? 77 : 1);
    char c;
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd >= 0 && read(fd, &c, 1) == 1)
        bits |= OK_READ;
    if (fd >= 0)
        close(fd);
    if (denied(open(scratch, O_WRONLY | O_CREAT, 0600)) &&
        denied(open(scratch, O_RDONLY | O_CREAT, 0600)) && denied(open(scratch, O_RDWR)))
        bits |= NO_CREATE;
    if (denied(socket(AF_INET, SOCK_STREAM, 0)) && denied(socket(AF_UNIX, SOCK_DGRAM, 0)))
        bits |= NO_SOCKET;
    char *argv[] = {"/bin/true", NULL};
    if (denied(execve("/bin/true", argv, NULL)))
        bits |= NO_EXEC;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED && errno == EPERM && q != MAP_FAILED &&
        denied(mprotect(q, 4096, PROT_READ | PROT_EXEC)))
        bits |= NO_EXEC_MEM;
    if (denied(syscall(SYS_fork)) && denied(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)))
        bits |= NO_FORK;
    if (denied(write(1, "x", 1)))
        bits |= NO_STDOUT;
    if (denied(unlink(scratch)))
        bits |= NO_UNLINK;
    if (denied(dup(NN_H5_SANDBOX_PIPE_FD)) && denied(fcntl(NN_H5_SANDBOX_PIPE_FD, F_DUPFD, 10)))
        bits |= NO_DUP;
    if (write(NN_H5_SANDBOX_PIPE_FD, &bits, sizeof bits) == (ssize_t)sizeof bits)
        bits |= OK_PIPE; /* the parent sees the report, so this bit is implied */
    _exit(0);
}

static void test_filter_denies_all_but_reading(void **state)
{
    (void)state;
    char scratch[] = "/tmp/nnctl-sandbox-XXXXXX";
    int sfd = mkstemp(scratch);
    assert_true(sfd >= 0);
    close(sfd);
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (dup2(p[1], NN_H5_SANDBOX_PIPE_FD) < 0)
            _exit(1);
        probe(scratch);
    }
    close(p[1]);
    int bits = 0;
    ssize_t got = read(p[0], &bits, sizeof bits);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    struct stat sb;
    assert_int_equal(stat(scratch, &sb), 0); /* still there: unlink was refused */
    unlink(scratch);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip(); /* no seccomp on this kernel */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, (ssize_t)sizeof bits);
    bits |= OK_PIPE;
    if (bits != ALL)
        fail_msg("the filter let through (or refused) what it should not: bits 0x%x of 0x%x",
                 bits, ALL);
}

/* A good file loads through the sandbox with every weight and string. */
static void test_roundtrip_through_sandbox(void **state)
{
    (void)state;
    char dir[] = "/tmp/nnctl-sandbox-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.h5", dir);
    float k[6] = {1, 2, 3, 4, 5, 6}, b[3] = {-1, 0, 1};
    nn_h5_array w[2] = {{.name = "d/kernel:0", .ndim = 2, .dims = {2, 3}, .data = k},
                        {.name = "d/bias:0", .ndim = 1, .dims = {3}, .data = b}};
    nn_h5_layer L[2] = {{.name = "d", .n_weights = 2, .weights = w}, {.name = "flat"}};
    /* every string field set, so each must cross from the child */
    nn_h5_model m = {.model_config = "{\"class_name\": \"Sequential\"}",
                     .training_config = "{\"loss\": \"mse\"}", .keras_version = "2.15.0",
                     .backend = "tensorflow", .nnctl_spec = "model: {};",
                     .nnctl_spec_dir = "/some/where", .nnctl_class_names = "{\"d\": [\"a\"]}",
                     .nnctl_state = "{\"epoch\": 3}", .nnctl_preprocess = "{\"mean\": [0.5]}",
                     .n_layers = 2, .layers = L};
    nn_error err = {0};
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    nn_h5_model back;
    assert_int_equal(nn_h5_load(path, &back, &err), NN_OK);
    assert_non_null(back.arena);
    assert_string_equal(back.model_config, m.model_config);
    assert_string_equal(back.training_config, m.training_config);
    assert_string_equal(back.keras_version, m.keras_version);
    assert_string_equal(back.backend, m.backend);
    assert_string_equal(back.nnctl_spec, m.nnctl_spec);
    assert_string_equal(back.nnctl_spec_dir, m.nnctl_spec_dir);
    assert_string_equal(back.nnctl_class_names, m.nnctl_class_names);
    assert_string_equal(back.nnctl_state, m.nnctl_state);
    assert_string_equal(back.nnctl_preprocess, m.nnctl_preprocess);
    assert_int_equal(back.n_layers, 2);
    assert_string_equal(back.layers[0].weights[1].name, "d/bias:0");
    assert_int_equal(back.layers[0].weights[0].dims[1], 3);
    assert_memory_equal(back.layers[0].weights[0].data, k, sizeof k);
    assert_memory_equal(back.layers[0].weights[1].data, b, sizeof b);
    assert_int_equal(back.layers[1].n_weights, 0);
    back.layers[0].weights[0].data[0] = 7; /* the caller may change what it got */
    nn_h5_model_free(&back);
    unlink(path);
    rmdir(dir);
}

/* Weights stored as plain float32 come back read by the parent from the
 * file itself (memory of their own); any other (here a float64 bias)
 * through the arena, converted by libhdf5 in the child. Both equal what
 * was written. */
static void test_plain_weights_read_by_parent(void **state)
{
    (void)state;
    char dir[] = "/tmp/nnctl-sandbox-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.h5", dir);
    float k[6] = {1.5f, -2, 3e-8f, 4, 5, 6e7f}, b[3] = {-1, 0.25f, 1};
    nn_h5_array w[2] = {{.name = "d/kernel:0", .ndim = 2, .dims = {2, 3}, .data = k},
                        {.name = "d/bias:0", .ndim = 1, .dims = {3}, .data = b}};
    nn_h5_layer L[1] = {{.name = "d", .n_weights = 2, .weights = w}};
    nn_h5_model m = {.model_config = "{\"class_name\": \"Sequential\"}", .n_layers = 1,
                     .layers = L};
    nn_error err = {0};
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    /* the bias again as float64 */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *bias = "model_weights/d/d/bias:0";
    assert_true(H5Lexists(f, bias, H5P_DEFAULT) > 0);
    assert_true(H5Ldelete(f, bias, H5P_DEFAULT) >= 0);
    hsize_t n3 = 3;
    double b64[3] = {-1, 0.25, 1};
    hid_t sp = H5Screate_simple(1, &n3, NULL);
    hid_t ds = H5Dcreate2(f, bias, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, b64) >= 0);
    H5Dclose(ds), H5Sclose(sp), H5Fclose(f);
    nn_h5_model back;
    assert_int_equal(nn_h5_load(path, &back, &err), NN_OK);
    assert_int_equal(back.n_layers, 1);
    const nn_h5_array *kb = &back.layers[0].weights[0], *bb = &back.layers[0].weights[1];
    assert_false(kb->in_arena); /* the parent's own copy, from the file */
    assert_false(kb->in_file);
    assert_true(bb->in_arena); /* converted in the child */
    assert_memory_equal(kb->data, k, sizeof k);
    assert_memory_equal(bb->data, b, sizeof b);
    nn_h5_model_free(&back);
    unlink(path);
    rmdir(dir);
}

/* Each file libhdf5 1.10 crashes on, loops on or allocates without bound
 * for is one error naming the file; the process goes on. Whether libhdf5
 * crashes on a given corrupt file or notices the damage first depends on
 * what its memory held before (it differs between this test and nnctl),
 * so the crashers need only an error naming the file. */
static void test_known_upstream_files(void **state)
{
    (void)state;
    static const struct {
        const char *file, *says;
    } cases[] = {
        {"libhdf5-H5Aexists-msg-iterate-segv", ""},
        {"libhdf5-H5C_protect-segv", ""},
        {"libhdf5-H5HG_read-heap-overflow", ""},
        {"libhdf5-H5HG_read-memcpy-overlap", ""},
        {"libhdf5-H5HG_read-segv", ""},
#ifdef __SANITIZE_ADDRESS__
        /* ASan's allocator ends the process where malloc would fail */
        {"libhdf5-oom", "without an answer"},
#else
        {"libhdf5-oom", "memory limit"},
#endif
        {"libhdf5-H5HG-hang", "stopped"}, /* by the CPU limit or the clock */
    };
    struct stat sb;
    if (stat("tests/fuzz/known-upstream/model", &sb) != 0)
        fail_msg("tests/fuzz/known-upstream/model is missing (run from the repository root)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fuzz/known-upstream/model/%s", cases[i].file);
        nn_h5_model m;
        nn_error err = {0};
        assert_int_equal(nn_h5_load(path, &m, &err), NN_ERR_RUNTIME);
        char head[300];
        snprintf(head, sizeof head, "'%s': ", path);
        if (strncmp(err.msg, head, strlen(head)) || !strstr(err.msg, cases[i].says))
            fail_msg("%s: expected an error naming the file and saying \"%s\", got: %s",
                     cases[i].file, cases[i].says, err.msg);
        assert_null(m.layers);
    }
}

int main(void)
{
    nn_h5_library_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_denies_all_but_reading),
        cmocka_unit_test(test_roundtrip_through_sandbox),
        cmocka_unit_test(test_plain_weights_read_by_parent),
        cmocka_unit_test(test_known_upstream_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
