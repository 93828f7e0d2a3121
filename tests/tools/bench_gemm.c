/* The GEMMs of one mnist_mlp epoch alone, through the engine's gemm (the
 * same calls, shapes and thread split nnctl's training makes), so the bench
 * can say how much of an epoch is framework overhead.
 * usage: bench_gemm [threads] [samples] [layer sizes...]   (784 512 512 10) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    long samples = argc > 2 ? atol(argv[2]) : 60000;
    int L[16] = {784, 512, 512, 10}, nl = 4, B = 128;
    if (argc > 3) {
        nl = 0;
        for (int i = 3; i < argc && nl < 16; i++)
            L[nl++] = atoi(argv[i]);
    }
    nn_engine *e;
    nn_error err;
    if (nn_engine_create("cpu", threads, &e, &err)) {
        fprintf(stderr, "bench_gemm: %s\n", err.msg);
        return 1;
    }
    nn_tensor X[16], dX[16], W[16], dW[16];
    for (int i = 0; i < nl; i++) {
        int s[2] = {B, L[i]};
        if (e->ops->alloc(e, &X[i], 2, s, &err) || e->ops->alloc(e, &dX[i], 2, s, &err))
            return 1;
        e->ops->fill(e, &X[i], 0.01f, X[i].size);
        e->ops->fill(e, &dX[i], 0.01f, dX[i].size);
    }
    for (int i = 0; i + 1 < nl; i++) {
        int s[2] = {L[i], L[i + 1]};
        if (e->ops->alloc(e, &W[i], 2, s, &err) || e->ops->alloc(e, &dW[i], 2, s, &err))
            return 1;
        e->ops->fill(e, &W[i], 0.01f, W[i].size);
    }
    long steps = (samples + B - 1) / B;
    double t0 = now();
    for (long st = 0; st < steps; st++) {
        for (int l = 0; l + 1 < nl; l++)
            e->ops->gemm(e, false, false, B, L[l + 1], L[l], 1.0f, &X[l], &W[l], 0.0f, &X[l + 1]);
        for (int l = nl - 2; l >= 0; l--) {
            e->ops->gemm(e, true, false, L[l], L[l + 1], B, 1.0f, &X[l], &dX[l + 1], 0.0f, &dW[l]);
            if (l > 0)
                e->ops->gemm(e, false, true, B, L[l], L[l + 1], 1.0f, &dX[l + 1], &W[l], 0.0f,
                             &dX[l]);
        }
    }
    double secs = now() - t0;
    printf("gemm_seconds_per_epoch=%.3f steps=%ld threads=%d\n", secs, steps, e->threads);
    nn_engine_destroy(e);
    return 0;
}
