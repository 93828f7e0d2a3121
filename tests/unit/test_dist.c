/* Data-parallel training without MPI: the math and the plumbing that
 * tests/integration/dist.sh then runs across processes.
 * - Shards of a batch, each run with losses as means over the whole batch
 *   (nn_replicas.batch_rows), add up to the whole batch's gradients, loss
 *   and activity penalty, dropout included (masks follow the samples).
 * - The gradient buckets (data_parallel.c) over one process: every
 *   gradient moved into the block, tiny buckets that split parameters,
 *   all started and waited for, the same gradients as without them; an
 *   empty share zeroes them.
 * - SyncBatchNormalization's engine path: two threads, each with its part
 *   of a batch and a sum hook that adds the threads' sums, get the whole
 *   batch's statistics, outputs and input gradients; their gamma/beta
 *   gradients add up to the whole batch's.
 * - The launcher's environment read right (Open MPI, MPICH/PMI, srun,
 *   NNCTL_MPI=none), and joining a job without the plugin refused. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "gradcheck.h"

#include "dist/data_parallel.h"
#include "dist/launcher.h"
#include "train/batch.h"

enum { N = 10, IN = 6, OUT = 3 };

static const char *model_text =
    "model = { input = { shape = [6]; }; layers = ("
    "{ type = \"dense\"; units = 8; activation = \"relu\";"
    "  activity_regularizer = { l2 = 0.01; }; },"
    "{ type = \"dropout\"; rate = 0.3; },"
    "{ type = \"dense\"; units = 5; activation = \"tanh\"; },"
    "{ type = \"dense\"; units = 3; activation = \"softmax\"; } ); };";

typedef struct fixture {
    nn_spec *spec;
    nn_model *m;
    nn_objective o;
    float x[N * IN], y[N * OUT];
    uint32_t ids[N];
    nn_tensor yt, idt;
} fixture;

static void fixture_make(fixture *f)
{
    memset(f, 0, sizeof *f);
    gc_model_from_text(model_text, "dist.cfg", N, &f->spec, &f->m);
    nn_error err;
    nn_rng r;
    nn_rng_seed(&r, 11, NN_STREAM_INIT);
    assert_int_equal(nn_model_init_params(f->m, &r, &err), NN_OK);
    f->o = (nn_objective){.n = 1,
                          .h[0] = {.node = f->m->output, .kind = NN_LOSS_SOFTMAX_CE, .fused = true,
                                   .weight = 1.0, .one_hot = true, .cols = OUT,
                                   .target_cols = OUT}};
    for (int i = 0; i < N * IN; i++)
        f->x[i] = (float)nrand();
    for (int r2 = 0; r2 < N; r2++) {
        f->y[r2 * OUT + (int)urand(0, OUT)] = 1.0f;
        f->ids[r2] = (uint32_t)(r2 * 7 + 3) % 97u; /* a shuffled batch's dataset indices */
    }
    f->yt = tnew(N * OUT, NULL);
    f->idt = tnew(N, NULL);
}

static void fixture_free(fixture *f)
{
    E->ops->free(E, &f->yt);
    E->ops->free(E, &f->idt);
    nn_model_free(f->m);
    nn_spec_free(f->spec);
}

/* rows [lo, hi) of the batch as a pass of hi - lo rows */
static double run_rows(fixture *f, int lo, int hi, nn_replicas *rep, nn_batch_loss *parts)
{
    int rows = hi - lo;
    E->ops->upload(E, nn_model_input_tensor(f->m), f->x + lo * IN, (size_t)rows * IN);
    E->ops->upload(E, &f->yt, f->y + lo * OUT, (size_t)rows * OUT);
    E->ops->upload(E, &f->idt, nn_ids_bits(f->ids + lo), (size_t)rows);
    nn_rng drop;
    nn_rng_seed(&drop, 5, NN_STREAM_DROPOUT); /* every shard: the epoch's stream */
    nn_pass p = {.e = E, .rows = rows, .training = true, .rng = &drop, .ids = &f->idt, .rep = rep};
    nn_tensor *yt[1] = {&f->yt};
    return nn_batch_gradients(f->m, &f->o, yt, &p, parts);
}

/* every trainable gradient, concatenated in model order */
static size_t grads(nn_model *m, float *out)
{
    size_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!p->trainable)
                continue;
            if (out)
                E->ops->download(E, out + n, &p->g, p->size);
            n += p->size;
        }
    return n;
}

static void test_shards_add_up(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    size_t n = grads(f.m, NULL);
    float *full = falloc(n), *a = falloc(n), *b = falloc(n);
    nn_batch_loss whole, pa, pb;
    run_rows(&f, 0, N, NULL, &whole);
    grads(f.m, full);
    nn_replicas rep = {.batch_rows = N};
    run_rows(&f, 0, 4, &rep, &pa);
    grads(f.m, a);
    run_rows(&f, 4, N, &rep, &pb);
    grads(f.m, b);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] + b[i] - full[i]));
        scale = fmax(scale, fabs((double)full[i]));
    }
    assert_true(scale > 0.0);
    if (worst > 1e-5 * scale)
        fail_msg("shard gradients add up to %g off the whole batch's (largest %g)", worst, scale);
    assert_true(fabs(pa.data + pb.data - whole.data) < 1e-6 * fabs(whole.data));
    assert_true(whole.activity > 0.0);
    assert_true(fabs(pa.activity + pb.activity - whole.activity) < 1e-6 * whole.activity);
    free(full), free(a), free(b);
    fixture_free(&f);
}

static int filled;
static void fill(void *ctx, double *v)
{
    (void)ctx;
    v[0] = 1.5;
    v[1] = -2.0;
    filled++;
}

static void test_buckets_one_process(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    size_t n = grads(f.m, NULL);
    float *ref = falloc(n), *got = falloc(n);
    run_rows(&f, 0, N, NULL, NULL);
    grads(f.m, ref);
    nn_data_parallel *dp;
    nn_error err;
    /* 12 floats a bucket: every layer's kernel is split over several */
    assert_int_equal(nn_dp_create(&dp, NULL, f.m, 48e-6, &err), NN_OK);
    assert_non_null(strstr(nn_dp_describe(dp), "buckets of up to"));
    int buckets = atoi(strstr(nn_dp_describe(dp), "MB) in ") + 7);
    assert_true(buckets >= (int)(n / 12));
    for (int i = 0; i < f.m->n_nodes; i++)
        for (int k = 0; k < f.m->nodes[i]->n_params; k++)
            if (f.m->nodes[i]->params[k].trainable)
                assert_true(f.m->nodes[i]->params[k].g.view);
    double stats[2] = {0, 0};
    filled = 0;
    nn_replicas *rep = nn_dp_batch(dp, N, fill, NULL, stats, 2);
    run_rows(&f, 0, N, rep, NULL);
    assert_int_equal(nn_dp_status(dp, &err), NN_OK);
    assert_int_equal(filled, 1);
    assert_true(stats[0] == 1.5 && stats[1] == -2.0);
    grads(f.m, got);
    assert_memory_equal(ref, got, n * sizeof(float));
    /* an empty share of a batch: zero gradients, zero stats */
    stats[0] = stats[1] = 7.0;
    assert_int_equal(nn_dp_empty_batch(dp, stats, 2, &err), NN_OK);
    grads(f.m, got);
    for (size_t i = 0; i < n; i++)
        assert_true(got[i] == 0.0f);
    nn_dp_free(dp);
    free(ref), free(got);
    fixture_free(&f);
}

/* ---- SyncBatchNormalization over two threads ---- */

enum { ROWS = 12, COLS = 6, SPLIT = 5 };

typedef struct sync2 {
    pthread_barrier_t bar;
    double *part[2];
} sync2;

typedef struct half {
    sync2 *s;
    int t, lo, hi;
    const float *x, *dy, *gamma, *beta;
    float mean[COLS], var[COLS], y[ROWS * COLS], dx[ROWS * COLS], dg[COLS], db[COLS];
} half;

typedef struct hook_ctx {
    sync2 *s;
    int t;
} hook_ctx;

/* both threads add the two parts in the same order: equal sums */
static void sum2(void *ctx, double *v, size_t n)
{
    hook_ctx *h = ctx;
    h->s->part[h->t] = v;
    pthread_barrier_wait(&h->s->bar);
    double *tmp = malloc(n * sizeof *tmp);
    for (size_t i = 0; i < n; i++)
        tmp[i] = h->s->part[0][i] + h->s->part[1][i];
    pthread_barrier_wait(&h->s->bar);
    memcpy(v, tmp, n * sizeof *tmp);
    free(tmp);
}

static void *run_half(void *arg)
{
    half *h = arg;
    nn_engine *e;
    nn_error err;
    if (nn_engine_create("cpu", 1, &e, &err))
        return NULL;
    hook_ctx hc = {h->s, h->t};
    nn_sum_hook hook = {.sum = sum2, .ctx = &hc};
    int rows = h->hi - h->lo, shape[2] = {rows > 0 ? rows : 1, COLS}, one[1] = {COLS};
    nn_tensor x, y, dy, dx, g, b, mu, var, dg, db;
    e->ops->alloc(e, &x, 2, shape, &err), e->ops->alloc(e, &y, 2, shape, &err);
    e->ops->alloc(e, &dy, 2, shape, &err), e->ops->alloc(e, &dx, 2, shape, &err);
    e->ops->alloc(e, &g, 1, one, &err), e->ops->alloc(e, &b, 1, one, &err);
    e->ops->alloc(e, &mu, 1, one, &err), e->ops->alloc(e, &var, 1, one, &err);
    e->ops->alloc(e, &dg, 1, one, &err), e->ops->alloc(e, &db, 1, one, &err);
    e->ops->upload(e, &x, h->x + h->lo * COLS, (size_t)rows * COLS);
    e->ops->upload(e, &dy, h->dy + h->lo * COLS, (size_t)rows * COLS);
    e->ops->upload(e, &g, h->gamma, COLS);
    e->ops->upload(e, &b, h->beta, COLS);
    e->ops->batchnorm_forward(e, true, &x, rows, COLS, &g, &b, &mu, &var, 1e-3f, &y, &hook);
    e->ops->batchnorm_backward(e, &x, &dy, rows, COLS, &g, &mu, &var, 1e-3f, &dx, &dg, &db, &hook);
    e->ops->download(e, h->mean, &mu, COLS);
    e->ops->download(e, h->var, &var, COLS);
    e->ops->download(e, h->y, &y, (size_t)rows * COLS);
    e->ops->download(e, h->dx, &dx, (size_t)rows * COLS);
    e->ops->download(e, h->dg, &dg, COLS);
    e->ops->download(e, h->db, &db, COLS);
    nn_tensor *all[] = {&x, &y, &dy, &dx, &g, &b, &mu, &var, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        e->ops->free(e, all[i]);
    nn_engine_destroy(e);
    return h;
}

static void near(const char *what, const float *a, const float *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > tol * fmax(1.0, fabs((double)b[i])))
            fail_msg("%s[%zu]: %.9g, whole batch %.9g", what, i, (double)a[i], (double)b[i]);
}

static void test_sync_batchnorm_two_threads(void **state)
{
    (void)state;
    float x[ROWS * COLS], dy[ROWS * COLS], gamma[COLS], beta[COLS];
    for (int i = 0; i < ROWS * COLS; i++) {
        x[i] = (float)(3.0 + (i % COLS) + nrand()); /* off zero: the shift matters */
        dy[i] = (float)nrand();
    }
    for (int c = 0; c < COLS; c++) {
        gamma[c] = (float)urand(0.5, 1.5);
        beta[c] = (float)urand(-1, 1);
    }
    /* the whole batch on one engine, without a hook */
    nn_tensor xt = tnew(ROWS * COLS, x), dyt = tnew(ROWS * COLS, dy), yt = tnew(ROWS * COLS, NULL),
              dxt = tnew(ROWS * COLS, NULL), g = tnew(COLS, gamma), b = tnew(COLS, beta),
              mu = tnew(COLS, NULL), var = tnew(COLS, NULL), dg = tnew(COLS, NULL),
              db = tnew(COLS, NULL);
    E->ops->batchnorm_forward(E, true, &xt, ROWS, COLS, &g, &b, &mu, &var, 1e-3f, &yt, NULL);
    E->ops->batchnorm_backward(E, &xt, &dyt, ROWS, COLS, &g, &mu, &var, 1e-3f, &dxt, &dg, &db,
                               NULL);
    float *rmu = dl(&mu, COLS), *rvar = dl(&var, COLS), *ry = dl(&yt, ROWS * COLS),
          *rdx = dl(&dxt, ROWS * COLS), *rdg = dl(&dg, COLS), *rdb = dl(&db, COLS);
    sync2 s;
    pthread_barrier_init(&s.bar, NULL, 2);
    static half h[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        h[t] = (half){.s = &s, .t = t, .lo = t ? SPLIT : 0, .hi = t ? ROWS : SPLIT, .x = x,
                      .dy = dy, .gamma = gamma, .beta = beta};
        pthread_create(&th[t], NULL, run_half, &h[t]);
    }
    for (int t = 0; t < 2; t++) {
        void *r;
        pthread_join(th[t], &r);
        assert_non_null(r);
    }
    pthread_barrier_destroy(&s.bar);
    float dgs[COLS], dbs[COLS];
    for (int t = 0; t < 2; t++) {
        near("mean", h[t].mean, rmu, COLS, 1e-6);
        near("variance", h[t].var, rvar, COLS, 1e-5);
        int rows = h[t].hi - h[t].lo;
        near("output", h[t].y, ry + h[t].lo * COLS, (size_t)rows * COLS, 1e-5);
        near("input gradient", h[t].dx, rdx + h[t].lo * COLS, (size_t)rows * COLS, 1e-5);
    }
    for (int c = 0; c < COLS; c++) {
        dgs[c] = h[0].dg[c] + h[1].dg[c];
        dbs[c] = h[0].db[c] + h[1].db[c];
    }
    near("gamma gradient (summed)", dgs, rdg, COLS, 1e-5);
    near("beta gradient (summed)", dbs, rdb, COLS, 1e-5);
    /* each thread's own parameter gradients are its share, not the sum */
    assert_true(fabs((double)h[0].db[0] - rdb[0]) > 1e-6);
    nn_tensor *all[] = {&xt, &dyt, &yt, &dxt, &g, &b, &mu, &var, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        E->ops->free(E, all[i]);
    free(rmu), free(rvar), free(ry), free(rdx), free(rdg), free(rdb);
}

/* ---- the launcher's environment ---- */

static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE",
                             "PMI_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS",
                             "NNCTL_MPI", "NNCTL_MPI_PLUGIN", NULL};

static void clear_env(void)
{
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
}

static void test_launcher(void **state)
{
    (void)state;
    clear_env();
    nn_launch l = nn_launch_detect();
    assert_int_equal(l.size, 1);
    assert_false(nn_launch_parallel(&l));
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    l = nn_launch_detect();
    assert_int_equal(l.size, 4);
    assert_int_equal(l.rank, 2);
    assert_string_equal(l.impl, "openmpi");
    setenv("NNCTL_MPI", "none", 1); /* a trial a rank started */
    assert_int_equal(nn_launch_detect().size, 1);
    clear_env();
    setenv("PMI_SIZE", "3", 1);
    setenv("PMI_RANK", "1", 1);
    l = nn_launch_detect();
    assert_int_equal(l.size, 3);
    assert_int_equal(l.rank, 1);
    assert_string_equal(l.impl, "mpich");
    clear_env();
    setenv("PMIX_RANK", "5", 1);
    setenv("SLURM_STEP_NUM_TASKS", "8", 1);
    l = nn_launch_detect();
    assert_int_equal(l.size, 8);
    assert_int_equal(l.rank, 5);
    assert_string_equal(l.impl, "openmpi");
    unsetenv("PMIX_RANK");
    setenv("SLURM_PROCID", "0", 1); /* srun without --mpi */
    l = nn_launch_detect();
    assert_int_equal(l.size, 8);
    assert_null(l.impl);
    nn_dist *d = (nn_dist *)1;
    nn_error err = {0};
    assert_int_equal(nn_dist_join(&d, &err), NN_ERR_USAGE);
    assert_null(d);
    assert_non_null(strstr(err.msg, "srun --mpi=pmix"));
    clear_env();
    /* a launcher, but no plugin */
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("NNCTL_MPI_PLUGIN", "/nonexistent/nnctl-mpi-openmpi.so", 1);
    assert_int_equal(nn_dist_join(&d, &err), NN_ERR_USAGE);
    assert_non_null(strstr(err.msg, "built without MPI support"));
    assert_non_null(strstr(err.msg, "process 0 of 2"));
    clear_env();
    /* a plain process: nothing joined, every collective a no-op */
    assert_int_equal(nn_dist_join(&d, &err), NN_OK);
    assert_null(d);
    double v[2] = {1.0, 2.0};
    assert_int_equal(nn_dist_sum(d, v, 2, &err), NN_OK);
    assert_true(v[0] == 1.0 && v[1] == 2.0);
    assert_int_equal(nn_dist_rank(d), 0);
    assert_int_equal(nn_dist_size(d), 1);
    err.msg[0] = '\0';
    assert_int_equal(nn_dist_agree(d, NN_OK, &err), NN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_add_up),
        cmocka_unit_test(test_buckets_one_process),
        cmocka_unit_test(test_sync_batchnorm_two_threads),
        cmocka_unit_test(test_launcher),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
