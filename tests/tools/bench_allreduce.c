/* bench_allreduce: MPI allreduce bandwidth through nnctl's own MPI layer
 * (src/dist, the plugin nnctl loads), for scripts/bench-dist.
 *
 *   mpirun -np 2 build/tools/bench_allreduce [MAX_MB]
 *
 * For float sums of 4 KB to MAX_MB (default 64) megabytes, blocking and
 * non-blocking (start, then wait), rank 0 prints one line each:
 *   allreduce mode=blocking bytes=N seconds=S algbw_GBps=A busbw_GBps=B
 * algbw = bytes / seconds; busbw = algbw * 2 (n - 1) / n, what each rank's
 * link carries in a ring allreduce (NCCL's convention), comparable across
 * rank counts. Each size: 2 warm-up rounds, then rounds until 0.25 s or
 * 200 rounds (at least 5); seconds (and the bandwidths) from the fastest round, the
 * median beside it (a busy machine's time slices land in the median). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    double max_mb = argc > 1 ? atof(argv[1]) : 64.0;
    nn_dist *d;
    nn_error err = {0};
    if (nn_dist_join(&d, &err)) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        return 1;
    }
    if (!d) {
        fprintf(stderr, "bench_allreduce: run it under mpirun with 2 or more processes\n");
        return 2;
    }
    const int n = nn_dist_size(d);
    size_t max = (size_t)(max_mb * 1e6 / sizeof(float));
    float *buf = calloc(max ? max : 1, sizeof *buf);
    double times[200];
    if (!buf)
        nn_dist_abort(d, 1);
    if (nn_dist_is_root(d))
        printf("allreduce over %d ranks (%s)\n", n, nn_dist_library(d));
    for (int mode = 0; mode < 2; mode++)
        for (size_t count = 1024; count <= max; count *= 4) {
            int rounds = 0;
            double t_all = now();
            for (int r = -2; r < 200; r++) {
                if (r == 0)
                    t_all = now();
                /* the same number of rounds on every rank: the slowest
                 * decides; at least 5 */
                double go = r < 5 || (now() - t_all < 0.25);
                if (nn_dist_max(d, &go, 1, &err))
                    nn_dist_abort(d, 1);
                if (!go)
                    break;
                double t0 = now();
                nn_status st;
                if (mode == 0) {
                    st = nn_dist_sum_floats(d, buf, count, &err);
                } else {
                    int req;
                    st = nn_dist_isum_floats(d, buf, count, &req, &err);
                    if (!st)
                        st = nn_dist_wait(d, req, &err);
                }
                if (st) {
                    fprintf(stderr, "bench_allreduce: %s\n", err.msg);
                    nn_dist_abort(d, 1);
                }
                if (r >= 0)
                    times[rounds++] = now() - t0;
            }
            /* the slowest rank's time is the collective's */
            qsort(times, (size_t)rounds, sizeof times[0], cmp);
            double t[2] = {rounds ? times[0] : 0.0, rounds ? times[rounds / 2] : 0.0};
            if (nn_dist_max(d, t, 2, &err))
                nn_dist_abort(d, 1);
            if (nn_dist_is_root(d)) {
                double bytes = (double)count * sizeof(float), alg = bytes / t[0] / 1e9;
                printf("allreduce mode=%s bytes=%.0f rounds=%d seconds=%.6g median_seconds=%.6g "
                       "algbw_GBps=%.3f busbw_GBps=%.3f\n",
                       mode ? "nonblocking" : "blocking", bytes, rounds, t[0], t[1], alg,
                       alg * 2.0 * (n - 1) / n);
                fflush(stdout);
            }
        }
    free(buf);
    nn_dist_leave(d);
    return 0;
}
