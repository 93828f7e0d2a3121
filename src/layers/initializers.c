/* The initializer registry (Keras 2 definitions; the *_normal variance
 * scalings draw from a normal truncated at 2 stddev, rescaled by
 * 0.87962566103423978 as Keras's VarianceScaling does). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers/common.h"

enum { ZEROS, ONES, CONSTANT, RANDOM_NORMAL, RANDOM_UNIFORM, TRUNCATED_NORMAL, GLOROT_UNIFORM,
       GLOROT_NORMAL, HE_UNIFORM, HE_NORMAL, LECUN_UNIFORM, LECUN_NORMAL, ORTHOGONAL, N_INIT };

static const struct {
    const char *name, *keras;
    double a, b; /* defaults */
} inits[N_INIT] = {
    [ZEROS] = {"zeros", "Zeros", 0, 0},
    [ONES] = {"ones", "Ones", 0, 0},
    [CONSTANT] = {"constant", "Constant", 0, 0},
    [RANDOM_NORMAL] = {"random_normal", "RandomNormal", 0.0, 0.05},
    [RANDOM_UNIFORM] = {"random_uniform", "RandomUniform", -0.05, 0.05},
    [TRUNCATED_NORMAL] = {"truncated_normal", "TruncatedNormal", 0.0, 0.05},
    [GLOROT_UNIFORM] = {"glorot_uniform", "GlorotUniform", 0, 0},
    [GLOROT_NORMAL] = {"glorot_normal", "GlorotNormal", 0, 0},
    [HE_UNIFORM] = {"he_uniform", "HeUniform", 0, 0},
    [HE_NORMAL] = {"he_normal", "HeNormal", 0, 0},
    [LECUN_UNIFORM] = {"lecun_uniform", "LecunUniform", 0, 0},
    [LECUN_NORMAL] = {"lecun_normal", "LecunNormal", 0, 0},
    [ORTHOGONAL] = {"orthogonal", "Orthogonal", 1.0, 0},
};

const char *nn_initializer_name_at(int i, const char **keras_class)
{
    if (i < 0 || i >= N_INIT)
        return NULL;
    if (keras_class)
        *keras_class = inits[i].keras;
    return inits[i].name;
}

nn_initializer nn_initializer_named(const char *name)
{
    nn_initializer r = {GLOROT_UNIFORM, 0, 0};
    for (int i = 0; i < N_INIT; i++)
        if (strcmp(inits[i].name, name) == 0) {
            r.kind = i;
            r.a = inits[i].a;
            r.b = inits[i].b;
        }
    return r;
}

bool nn_initializer_find(const char *name, nn_initializer *out)
{
    for (int i = 0; i < N_INIT; i++)
        if (strcmp(inits[i].name, name) == 0) {
            *out = (nn_initializer){i, inits[i].a, inits[i].b};
            return true;
        }
    return false;
}

nn_status nn_spec_initializer(nn_spec_node *s, const char *key, const char *def_name,
                              nn_initializer *out, nn_error *err)
{
    const char *names[N_INIT + 1];
    for (int i = 0; i < N_INIT; i++)
        names[i] = inits[i].name;
    names[N_INIT] = NULL;
    *out = nn_initializer_named(def_name);
    if (!nn_spec_has(s, key))
        return NN_OK;
    nn_spec_node *g = NULL;
    nn_error probe;
    nn_status st;
    if (nn_spec_group(s, key, true, &g, &probe) != NN_OK) {
        int k;
        if ((st = nn_spec_choice(s, key, true, names, -1, &k, err)))
            return st;
        *out = nn_initializer_named(names[k]);
        return NN_OK;
    }
    int k;
    if ((st = nn_spec_choice(g, "type", true, names, -1, &k, err)))
        return st;
    *out = nn_initializer_named(names[k]);
    switch (k) {
    case CONSTANT:
        st = nn_spec_float(g, "value", false, 0.0, -1e30, 1e30, &out->a, err);
        break;
    case RANDOM_NORMAL:
    case TRUNCATED_NORMAL:
        if (!(st = nn_spec_float(g, "mean", false, 0.0, -1e30, 1e30, &out->a, err)))
            st = nn_spec_float(g, "stddev", false, 0.05, 0.0, 1e30, &out->b, err);
        break;
    case RANDOM_UNIFORM:
        if (!(st = nn_spec_float(g, "minval", false, -0.05, -1e30, 1e30, &out->a, err)))
            st = nn_spec_float(g, "maxval", false, 0.05, -1e30, 1e30, &out->b, err);
        if (!st && out->b < out->a)
            st = nn_spec_fail(g, "maxval", err, NN_ERR_USAGE, "maxval %g is below minval %g",
                              out->b, out->a);
        break;
    case ORTHOGONAL:
        st = nn_spec_float(g, "gain", false, 1.0, 0.0, 1e30, &out->a, err);
        break;
    default:
        st = NN_OK;
    }
    if (st)
        return st;
    return nn_spec_check_unknown(g, err);
}

static double truncated_normal(nn_rng *rng)
{
    for (;;) {
        double x = nn_rng_normal(rng);
        if (x > -2.0 && x < 2.0)
            return x;
    }
}

/* Orthogonal: Gram-Schmidt on a normal matrix of (rows x cols) with
 * rows = n / cols, orthonormalizing along the longer side. */
static void orthogonal_fill(float *w, size_t n, int cols, double gain, nn_rng *rng)
{
    int rows = (int)(n / (size_t)cols);
    int r = rows < cols ? rows : cols, c = rows < cols ? cols : rows;
    /* r vectors of length c, orthonormal */
    double *q = malloc(sizeof(double) * (size_t)r * c);
    if (!q) {
        for (size_t i = 0; i < n; i++)
            w[i] = 0.0f;
        return;
    }
    for (size_t i = 0; i < (size_t)r * c; i++)
        q[i] = nn_rng_normal(rng);
    for (int i = 0; i < r; i++) {
        double *v = q + (size_t)i * c;
        for (int j = 0; j < i; j++) {
            double *u = q + (size_t)j * c, d = 0.0;
            for (int k = 0; k < c; k++)
                d += v[k] * u[k];
            for (int k = 0; k < c; k++)
                v[k] -= d * u[k];
        }
        double norm = 0.0;
        for (int k = 0; k < c; k++)
            norm += v[k] * v[k];
        norm = sqrt(norm) > 1e-12 ? sqrt(norm) : 1.0;
        for (int k = 0; k < c; k++)
            v[k] /= norm;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            w[(size_t)i * cols + j] =
                (float)(gain * (rows < cols ? q[(size_t)i * c + j] : q[(size_t)j * c + i]));
    free(q);
}

void nn_initializer_fill(const nn_initializer *init, int fan_in, int fan_out, int cols,
                         nn_rng *rng, float *w, size_t n)
{
    const double trunc = 0.87962566103423978;
    double limit = 0.0, stddev = 0.0;
    switch (init->kind) {
    case ZEROS:
    case ONES:
    case CONSTANT: {
        float v = init->kind == ZEROS ? 0.0f : init->kind == ONES ? 1.0f : (float)init->a;
        for (size_t i = 0; i < n; i++)
            w[i] = v;
        return;
    }
    case RANDOM_NORMAL:
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(init->a + init->b * nn_rng_normal(rng));
        return;
    case TRUNCATED_NORMAL:
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(init->a + init->b * truncated_normal(rng));
        return;
    case RANDOM_UNIFORM:
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(init->a + (init->b - init->a) * nn_rng_uniform_d(rng));
        return;
    case ORTHOGONAL:
        orthogonal_fill(w, n, cols > 0 ? cols : 1, init->a, rng);
        return;
    case GLOROT_UNIFORM: limit = sqrt(6.0 / (fan_in + fan_out)); break;
    case HE_UNIFORM: limit = sqrt(6.0 / fan_in); break;
    case LECUN_UNIFORM: limit = sqrt(3.0 / fan_in); break;
    case GLOROT_NORMAL: stddev = sqrt(2.0 / (fan_in + fan_out)) / trunc; break;
    case HE_NORMAL: stddev = sqrt(2.0 / fan_in) / trunc; break;
    case LECUN_NORMAL: stddev = sqrt(1.0 / fan_in) / trunc; break;
    default: break;
    }
    if (limit > 0.0)
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(limit * (2.0 * nn_rng_uniform_d(rng) - 1.0));
    else
        for (size_t i = 0; i < n; i++)
            w[i] = (float)(stddev * truncated_normal(rng));
}

json_t *nn_initializer_keras_json(const nn_initializer *init)
{
    json_t *cfg = json_object();
    switch (init->kind) {
    case CONSTANT: json_object_set_new(cfg, "value", json_real(init->a)); break;
    case RANDOM_NORMAL:
    case TRUNCATED_NORMAL:
        json_object_set_new(cfg, "mean", json_real(init->a));
        json_object_set_new(cfg, "stddev", json_real(init->b));
        json_object_set_new(cfg, "seed", json_null());
        break;
    case RANDOM_UNIFORM:
        json_object_set_new(cfg, "minval", json_real(init->a));
        json_object_set_new(cfg, "maxval", json_real(init->b));
        json_object_set_new(cfg, "seed", json_null());
        break;
    case ORTHOGONAL:
        json_object_set_new(cfg, "gain", json_real(init->a));
        json_object_set_new(cfg, "seed", json_null());
        break;
    case ZEROS:
    case ONES: break;
    default: json_object_set_new(cfg, "seed", json_null()); break;
    }
    return json_pack("{s:s, s:o}", "class_name", inits[init->kind].keras, "config", cfg);
}
