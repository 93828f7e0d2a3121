/* What reading a model file in the HDF5 sandbox costs (scripts/bench-h5-sandbox).
 *
 *   h5_load_cost --make FILE MB   writes a Keras 2 model file of about MB
 *                                 megabytes: Input(n) -> Dense(n), n^2 floats
 *   h5_load_cost FILE [RUNS]      loads FILE RUNS times (default 9) each way,
 *                                 alternating, and prints the median times:
 *                                 in-process, sandboxed, and the difference
 *
 * The sandboxed load is what predict, eval, summary and init_from do; the
 * in-process one is the same parser without the child process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "io/keras/h5file.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* CPU time of this process and its waited-for children, in ms: on a busy
 * machine wall time mostly measures the queue for a core. */
static double cpu_ms(void)
{
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    return (a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) *
               1e3 +
           (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) /
               1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int make(const char *path, double mb)
{
    size_t n = 1;
    while ((double)(n + 1) * (n + 1) * 4 <= mb * 1e6)
        n++;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"big\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, %zu], "
             "\"dtype\": \"float32\", \"name\": \"x\"}}, "
             "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense\", \"units\": %zu, "
             "\"activation\": \"linear\", \"use_bias\": true}}]}}",
             n, n);
    nn_h5_array w[2] = {{.name = "dense/kernel:0", .ndim = 2, .dims = {n, n}},
                        {.name = "dense/bias:0", .ndim = 1, .dims = {n}}};
    w[0].data = calloc(n * n, sizeof(float));
    w[1].data = calloc(n, sizeof(float));
    if (!w[0].data || !w[1].data)
        return fprintf(stderr, "out of memory\n"), 1;
    for (size_t i = 0; i < n * n; i++)
        w[0].data[i] = (float)((i * 2654435761u) % 1000) * 1e-6f;
    nn_h5_layer L = {.name = "dense", .n_weights = 2, .weights = w};
    nn_h5_model m = {.model_config = cfg, .keras_version = "2.15.0", .backend = "tensorflow",
                     .n_layers = 1, .layers = &L};
    nn_error err = {0};
    if (nn_h5_save(path, &m, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    printf("%s: Dense %zu -> %zu, %.1f MB of weights\n", path, n, n, n * (n + 1) * 4 / 1e6);
    free(w[0].data);
    free(w[1].data);
    return 0;
}

int main(int argc, char **argv)
{
    nn_h5_library_init();
    if (argc == 4 && !strcmp(argv[1], "--make"))
        return make(argv[2], atof(argv[3]));
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: h5_load_cost FILE [RUNS] | h5_load_cost --make FILE MB\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 9;
    if (runs < 1 || runs > 1000)
        runs = 9;
    double *t[2], *c[2];
    for (int i = 0; i < 2; i++) {
        t[i] = calloc((size_t)runs, sizeof(double));
        c[i] = calloc((size_t)runs, sizeof(double));
        if (!t[i] || !c[i])
            return 1;
    }
    for (int r = 0; r < runs; r++)
        for (int way = 0; way < 2; way++) {
            nn_h5_model m;
            nn_error err = {0};
            double t0 = now_ms(), c0 = cpu_ms();
            nn_status st = way ? nn_h5_load_checkpoint(argv[1], &m, &err)
                               : nn_h5_load_in_process(argv[1], &m, &err);
            /* touch every weight, as loading them into a model does */
            double sum = 0;
            for (int i = 0; !st && i < m.n_layers; i++)
                for (int k = 0; k < m.layers[i].n_weights; k++) {
                    const nn_h5_array *a = &m.layers[i].weights[k];
                    size_t n = 1;
                    for (int d = 0; d < a->ndim; d++)
                        n *= a->dims[d];
                    for (size_t j = 0; j < n; j += 1024)
                        sum += a->data[j];
                }
            nn_h5_model_free(&m);
            t[way][r] = now_ms() - t0;
            c[way][r] = cpu_ms() - c0;
            if (st)
                return fprintf(stderr, "%s\n", err.msg), 1;
            if (sum != sum)
                return 1;
        }
    for (int i = 0; i < 2; i++) {
        qsort(t[i], (size_t)runs, sizeof(double), cmp);
        qsort(c[i], (size_t)runs, sizeof(double), cmp);
    }
    double a = t[0][runs / 2], b = t[1][runs / 2], ca = c[0][runs / 2], cb = c[1][runs / 2];
    printf("wall: in-process %.1f ms, sandboxed %.1f ms, added %.1f ms\n", a, b, b - a);
    printf("cpu:  in-process %.1f ms, sandboxed %.1f ms, added %.1f ms (medians of %d)\n", ca,
           cb, cb - ca, runs);
    for (int i = 0; i < 2; i++) {
        free(t[i]);
        free(c[i]);
    }
    return 0;
}
