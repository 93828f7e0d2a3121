/* Unit tests for src/io/keras/h5file.c: round trips, atomic save, load errors,
 * files written by other tools (variable-length strings, Keras 3 weight
 * names), layer_names split over 64 KiB. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/keras/h5file.h"

static char tmpdir[256];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

/* No HDF5 object (file, group, dataset, attribute, type...) left open. */
static void assert_no_open_ids(void)
{
    assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

static char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* Number of entries in tmpdir whose name contains ".tmp.". */
static int count_temp_files(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

/* ---------- a sample model ---------- */

static void set_array(nn_h5_array *a, const char *name, int ndim, const size_t *dims, float seed)
{
    a->name = strdup(name);
    a->ndim = ndim;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        a->dims[d] = dims[d];
        n *= dims[d];
    }
    a->data = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        a->data[i] = seed * (float)(i + 1) / 7.0f - (float)i * 0.3f;
}

static void sample_model(nn_h5_model *m)
{
    memset(m, 0, sizeof *m);
    m->model_config = strdup("{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\"}}");
    m->training_config = strdup("{\"loss\": \"mse\"}");
    m->keras_version = strdup("2.15.0");
    m->backend = strdup("tensorflow");
    m->n_layers = 4;
    m->layers = calloc(4, sizeof *m->layers);

    nn_h5_layer *L = &m->layers[0];
    L->name = strdup("conv2d");
    L->n_weights = 2;
    L->weights = calloc(2, sizeof *L->weights);
    set_array(&L->weights[0], "conv2d/kernel:0", 4, (size_t[]){3, 3, 2, 4}, 1.5f);
    set_array(&L->weights[1], "conv2d/bias:0", 1, (size_t[]){4}, -2.0f);
    /* exact bit patterns must survive */
    L->weights[1].data[0] = -0.0f;
    L->weights[1].data[1] = 1e-40f; /* subnormal */
    L->weights[1].data[2] = 3.4028235e38f;
    L->weights[1].data[3] = 0.1f;

    L = &m->layers[1];
    L->name = strdup("flatten"); /* no weights */

    L = &m->layers[2];
    L->name = strdup("dense");
    L->n_weights = 2;
    L->weights = calloc(2, sizeof *L->weights);
    set_array(&L->weights[0], "dense/kernel:0", 2, (size_t[]){5, 3}, 0.25f);
    set_array(&L->weights[1], "dense/bias:0", 1, (size_t[]){3}, 3.0f);

    L = &m->layers[3];
    L->name = strdup("a_scalar_layer"); /* sorts before the others */
    L->n_weights = 1;
    L->weights = calloc(1, sizeof *L->weights);
    set_array(&L->weights[0], "a_scalar_layer/alpha:0", 0, NULL, 0.0f);
    L->weights[0].data[0] = 42.5f;

    m->nnctl_spec = strdup("model: { layers = ( { type = \"dense\"; units = 3; } ); };");
    m->nnctl_state = strdup("{\"epoch\": 3, \"rng\": [1, 2, 3]}");
    m->n_optimizer = 3;
    m->optimizer = calloc(3, sizeof *m->optimizer);
    /* deliberately not in alphabetical order */
    set_array(&m->optimizer[0], "iterations", 0, NULL, 0.0f);
    m->optimizer[0].data[0] = 120.0f;
    set_array(&m->optimizer[1], "m/dense/kernel:0", 2, (size_t[]){5, 3}, 9.0f);
    set_array(&m->optimizer[2], "adam/m/conv2d/bias:0", 1, (size_t[]){4}, -1.0f);
}

static void assert_arrays_equal(const nn_h5_array *a, const nn_h5_array *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->ndim, b->ndim);
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        assert_int_equal(a->dims[d], b->dims[d]);
        n *= a->dims[d];
    }
    assert_memory_equal(a->data, b->data, n * sizeof(float));
}

static void assert_models_equal(const nn_h5_model *a, const nn_h5_model *b)
{
    assert_string_equal(a->model_config, b->model_config);
    assert_string_equal(a->training_config, b->training_config);
    assert_string_equal(a->keras_version, b->keras_version);
    assert_string_equal(a->backend, b->backend);
    assert_int_equal(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        assert_string_equal(a->layers[i].name, b->layers[i].name);
        assert_int_equal(a->layers[i].n_weights, b->layers[i].n_weights);
        for (int j = 0; j < a->layers[i].n_weights; j++)
            assert_arrays_equal(&a->layers[i].weights[j], &b->layers[i].weights[j]);
    }
    if (a->nnctl_spec)
        assert_string_equal(a->nnctl_spec, b->nnctl_spec);
    else
        assert_null(b->nnctl_spec);
    if (a->nnctl_state)
        assert_string_equal(a->nnctl_state, b->nnctl_state);
    else
        assert_null(b->nnctl_state);
    assert_int_equal(a->n_optimizer, b->n_optimizer);
    for (int i = 0; i < a->n_optimizer; i++)
        assert_arrays_equal(&a->optimizer[i], &b->optimizer[i]);
}

/* ---------- round trips ---------- */

static void test_round_trip(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "model.h5");
    nn_h5_model m, back;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    assert_int_equal(count_temp_files(), 0);
    assert_no_open_ids();

    /* without the optimizer's state: the rest the same */
    assert_int_equal(nn_h5_load(path, &back, &err), NN_OK);
    assert_int_equal(back.n_optimizer, 0);
    assert_null(back.optimizer);
    back.optimizer = m.optimizer, back.n_optimizer = m.n_optimizer;
    assert_models_equal(&m, &back);
    back.optimizer = NULL, back.n_optimizer = 0;
    nn_h5_model_free(&back);
    assert_int_equal(nn_h5_load_checkpoint(path, &back, &err), NN_OK);
    assert_no_open_ids();
    assert_models_equal(&m, &back);
    assert_true(signbit(back.layers[0].weights[1].data[0]));
    assert_int_equal(back.layers[1].n_weights, 0);
    assert_string_equal(back.layers[0].name, "conv2d"); /* model order, not alphabetical */
    assert_string_equal(back.optimizer[0].name, "iterations");
    assert_string_equal(back.optimizer[2].name, "adam/m/conv2d/bias:0");

    /* Saving again over an existing file replaces it. */
    free(m.nnctl_state);
    m.nnctl_state = strdup("{\"epoch\": 4}");
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    nn_h5_model_free(&back);
    assert_int_equal(nn_h5_load(path, &back, &err), NN_OK);
    assert_string_equal(back.nnctl_state, "{\"epoch\": 4}");
    assert_int_equal(count_temp_files(), 0);

    nn_h5_model_free(&back);
    nn_h5_model_free(&m);
    nn_h5_model_free(&m); /* zeroed: freeing twice is harmless */
    assert_null(m.layers);
    unlink(path);
}

/* The datasets and attributes sit where Keras looks for them, with the
 * types Keras (through h5py) writes. */
static void test_layout(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "layout.h5");
    nn_h5_model m;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    nn_h5_model_free(&m);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t a = H5Aopen(f, "model_config", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t);
    H5Aclose(a);

    hid_t ds = H5Dopen2(f, "model_weights/dense/dense/kernel:0", H5P_DEFAULT);
    assert_true(ds >= 0);
    t = H5Dget_type(ds);
    assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t);
    H5Dclose(ds);

    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    a = H5Aopen(g, "layer_names", H5P_DEFAULT);
    t = H5Aget_type(a);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    assert_false(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_size(t), strlen("a_scalar_layer"));
    assert_int_equal(H5Tget_strpad(t), H5T_STR_NULLPAD); /* numpy 'S' */
    assert_int_equal(H5Tget_cset(t), H5T_CSET_ASCII);
    H5Tclose(t);
    H5Aclose(a);
    assert_true(H5Aexists(g, "backend") > 0);
    assert_true(H5Aexists(g, "keras_version") > 0);
    H5Gclose(g);

    /* weightless layer: group with an empty weight_names */
    g = H5Gopen2(f, "model_weights/flatten", H5P_DEFAULT);
    assert_true(g >= 0);
    a = H5Aopen(g, "weight_names", H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t s = H5Aget_space(a);
    assert_int_equal(H5Sget_simple_extent_npoints(s), 0);
    H5Sclose(s);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    assert_no_open_ids();
    unlink(path);
}

/* 3000 layers with long names: layer_names is over 64 KiB and must be split
 * into layer_names0, layer_names1, ... */
static void test_split_layer_names(void **state)
{
    (void)state;
    enum { N = 3000 };
    char path[512];
    path_in(path, sizeof path, "big.h5");
    nn_h5_model m = {0}, back;
    nn_error err = {0};
    m.model_config = strdup("{}");
    m.n_layers = N;
    m.layers = calloc(N, sizeof *m.layers);
    for (int i = 0; i < N; i++) {
        char name[128];
        snprintf(name, sizeof name, "a_rather_long_layer_name_for_testing_splits_%05d", i);
        m.layers[i].name = strdup(name);
        if (i % 500 == 0) {
            char wn[160];
            snprintf(wn, sizeof wn, "%s/bias:0", name);
            m.layers[i].n_weights = 1;
            m.layers[i].weights = calloc(1, sizeof(nn_h5_array));
            set_array(&m.layers[i].weights[0], wn, 1, (size_t[]){2}, (float)i);
        }
    }
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    assert_int_equal(H5Aexists(g, "layer_names"), 0);
    assert_true(H5Aexists(g, "layer_names0") > 0);
    assert_true(H5Aexists(g, "layer_names1") > 0);
    assert_true(H5Aexists(g, "layer_names2") > 0); /* 3000*50 bytes > 2*64512 */
    assert_int_equal(H5Aexists(g, "layer_names3"), 0);
    H5Gclose(g);
    H5Fclose(f);

    assert_int_equal(nn_h5_load(path, &back, &err), NN_OK);
    /* keras_version/backend defaulted on save */
    assert_non_null(back.keras_version);
    assert_non_null(back.backend);
    assert_null(back.training_config);
    assert_int_equal(back.n_layers, N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(back.layers[i].name, m.layers[i].name);
        assert_int_equal(back.layers[i].n_weights, m.layers[i].n_weights);
    }
    assert_float_equal(back.layers[1500].weights[0].data[1], m.layers[1500].weights[0].data[1],
                       0.0);
    nn_h5_model_free(&back);
    nn_h5_model_free(&m);
    assert_no_open_ids();
    unlink(path);
}

/* ---------- atomic save ---------- */

static void test_save_missing_dir(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "no/such/dir/model.h5");
    nn_h5_model m;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file or directory"));

    /* parent "directory" is a regular file */
    char file[400];
    path_in(file, sizeof file, "plainfile");
    write_bytes(file, "x", 1);
    snprintf(path, sizeof path, "%s/model.h5", file);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "Not a directory"));
    unlink(file);
    nn_h5_model_free(&m);
    assert_int_equal(count_temp_files(), 0);
    assert_no_open_ids();
}

/* A save that fails half-way (after the temp file exists) leaves the old
 * file byte-identical and removes the temp file. */
static void test_failed_save_keeps_old_file(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "keep.h5");
    nn_h5_model m;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    size_t n0, n1;
    char *before = read_bytes(path, &n0);

    /* duplicate layer name: fails while writing the temp file */
    free(m.layers[2].name);
    m.layers[2].name = strdup("conv2d");
    assert_int_equal(nn_h5_save(path, &m, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "conv2d"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(count_temp_files(), 0);
    char *after = read_bytes(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(after);

    /* invalid weight name fails late too */
    free(m.layers[2].name);
    m.layers[2].name = strdup("dense");
    free(m.optimizer[1].name);
    m.optimizer[1].name = strdup("/absolute");
    assert_int_equal(nn_h5_save(path, &m, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "/absolute"));
    assert_int_equal(count_temp_files(), 0);
    after = read_bytes(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(after);

    /* missing model_config */
    char *mc = m.model_config;
    m.model_config = NULL;
    assert_int_equal(nn_h5_save(path, &m, &err), NN_ERR_RUNTIME);
    m.model_config = mc;

    free(before);
    nn_h5_model_free(&m);
    assert_no_open_ids();
    unlink(path);
}

/* ---------- load errors ---------- */

static void expect_load_error(const char *path, const char *needle)
{
    nn_h5_model m;
    nn_error err = {0};
    memset(&m, 0x5a, sizeof m); /* load must not trust the input struct */
    assert_int_equal(nn_h5_load(path, &m, &err), NN_ERR_RUNTIME);
    if (!strstr(err.msg, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err.msg, needle);
    assert_non_null(strstr(err.msg, path));
    /* left consistent: zeroed, freeing is safe */
    assert_null(m.model_config);
    assert_null(m.layers);
    assert_int_equal(m.n_layers, 0);
    nn_h5_model_free(&m);
    assert_no_open_ids();
}

static void test_load_missing_file(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "does-not-exist.h5");
    expect_load_error(path, "No such file or directory");
}

static void test_load_text_file(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "text.h5");
    const char *txt = "this is not an HDF5 file\n";
    write_bytes(path, txt, strlen(txt));
    expect_load_error(path, "not an HDF5 file");
    write_bytes(path, "", 0);
    expect_load_error(path, "not an HDF5 file");
    unlink(path);
}

static void test_load_truncated(void **state)
{
    (void)state;
    char good[512], path[512];
    path_in(good, sizeof good, "good.h5");
    path_in(path, sizeof path, "truncated.h5");
    nn_h5_model m;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(good, &m, &err), NN_OK);
    nn_h5_model_free(&m);
    size_t n;
    char *bytes = read_bytes(good, &n);
    write_bytes(path, bytes, n / 2);
    expect_load_error(path, "cannot open as HDF5 (truncated or corrupt?)");
    free(bytes);
    unlink(good);
    unlink(path);
}

static void test_load_without_model_config(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "arrays.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dims[1] = {4};
    float v[4] = {1, 2, 3, 4};
    hid_t s = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(s);
    H5Fclose(f);
    expect_load_error(path,
                      "HDF5 file without a model_config attribute: not a Keras model file");
    unlink(path);
}

/* Saves the sample model, then damages it with the HDF5 API. */
static void damaged_copy(const char *path, void (*damage)(hid_t f))
{
    nn_h5_model m;
    nn_error err = {0};
    sample_model(&m);
    assert_int_equal(nn_h5_save(path, &m, &err), NN_OK);
    nn_h5_model_free(&m);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    damage(f);
    H5Fclose(f);
}

static void drop_dense_group(hid_t f)
{
    assert_true(H5Ldelete(f, "model_weights/dense", H5P_DEFAULT) >= 0);
}

static void drop_kernel(hid_t f)
{
    assert_true(H5Ldelete(f, "model_weights/dense/dense/kernel:0", H5P_DEFAULT) >= 0);
}

static void kernel_as_strings(hid_t f)
{
    assert_true(H5Ldelete(f, "model_weights/dense/dense/kernel:0", H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    hsize_t d = 2;
    hid_t s = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(f, "model_weights/dense/dense/kernel:0", t, s, H5P_DEFAULT,
                          H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefgh");
    H5Dclose(ds);
    H5Sclose(s);
    H5Tclose(t);
}

/* 2^44 elements: chunked, so HDF5 never allocates it, but we must refuse. */
static void kernel_absurd(hid_t f)
{
    assert_true(H5Ldelete(f, "model_weights/dense/dense/kernel:0", H5P_DEFAULT) >= 0);
    hsize_t d[3] = {(hsize_t)1 << 20, (hsize_t)1 << 20, 16}, c[3] = {16, 16, 16};
    hid_t s = H5Screate_simple(3, d, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, c);
    hid_t ds = H5Dcreate2(f, "model_weights/dense/dense/kernel:0", H5T_IEEE_F32LE, s,
                          H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(s);
}

static void weight_names_as_ints(hid_t f)
{
    hid_t g = H5Gopen2(f, "model_weights/dense", H5P_DEFAULT);
    assert_true(H5Adelete(g, "weight_names") >= 0);
    hsize_t d = 2;
    int v[2] = {1, 2};
    hid_t s = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(g, "weight_names", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, v);
    H5Aclose(a);
    H5Sclose(s);
    H5Gclose(g);
}

static void test_load_damaged(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "damaged.h5");
    damaged_copy(path, drop_dense_group);
    expect_load_error(path, "layer 'dense' is listed in layer_names but has no group");
    damaged_copy(path, drop_kernel);
    expect_load_error(path, "weight 'dense/kernel:0' is listed but has no dataset");
    damaged_copy(path, kernel_as_strings);
    expect_load_error(path, "not a numeric dataset");
    damaged_copy(path, kernel_absurd);
    expect_load_error(path, "absurdly large");
    damaged_copy(path, weight_names_as_ints);
    expect_load_error(path, "attribute 'weight_names' on '/model_weights/dense' is not a list "
                            "of strings");
    unlink(path);
}

/* ---------- files written by other tools ---------- */

static void vlen_str_attr(hid_t obj, const char *name, const char *value, H5T_cset_t cset)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, cset);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, &value) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void fixed_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, value) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void vlen_list_attr(hid_t obj, const char *name, const char **values, size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hsize_t d = n;
    hid_t s = n ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_NULL);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    if (n)
        assert_true(H5Awrite(a, t, values) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void dataset_f64(hid_t g, const char *name, int ndim, const hsize_t *dims,
                        const double *v)
{
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    hid_t ds = H5Dcreate2(g, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(s);
}

/* Keras 3 legacy writer: weight_names "kernel", "bias" directly under the
 * layer group; strings as variable length; model_config fixed-length;
 * float64 data; layer_names split; no nnctl group. */
static void test_load_foreign_file(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "keras3.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    fixed_str_attr(f, "model_config", "{\"class_name\": \"Sequential\"}");
    vlen_str_attr(f, "keras_version", "3.3.3", H5T_CSET_ASCII);
    vlen_str_attr(f, "backend", "jax", H5T_CSET_UTF8);
    hid_t mw = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *ln0[] = {"dense_1"}, *ln1[] = {"dropout", "flatten"};
    vlen_list_attr(mw, "layer_names0", ln0, 1);
    vlen_list_attr(mw, "layer_names1", ln1, 2);
    hid_t g = H5Gcreate2(mw, "dense_1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *wn[] = {"kernel", "bias"};
    vlen_list_attr(g, "weight_names", wn, 2);
    dataset_f64(g, "kernel", 2, (hsize_t[]){2, 2}, (double[]){0.5, -1.25, 2, 1e-3});
    dataset_f64(g, "bias", 1, (hsize_t[]){2}, (double[]){7, 8});
    H5Gclose(g);
    g = H5Gcreate2(mw, "dropout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    vlen_list_attr(g, "weight_names", NULL, 0); /* H5S_NULL empty list */
    H5Gclose(g);
    /* what h5py writes for Keras's `weight_names = []`: empty float64 array */
    g = H5Gcreate2(mw, "flatten", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t zero = 0;
    hid_t zs = H5Screate_simple(1, &zero, NULL);
    hid_t za = H5Acreate2(g, "weight_names", H5T_IEEE_F64LE, zs, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(za >= 0);
    H5Aclose(za);
    H5Sclose(zs);
    H5Gclose(g);
    H5Gclose(mw);
    H5Fclose(f);

    nn_h5_model m;
    nn_error err = {0};
    assert_int_equal(nn_h5_load(path, &m, &err), NN_OK);
    assert_string_equal(m.model_config, "{\"class_name\": \"Sequential\"}");
    assert_string_equal(m.keras_version, "3.3.3");
    assert_string_equal(m.backend, "jax");
    assert_null(m.training_config);
    assert_null(m.nnctl_spec);
    assert_int_equal(m.n_optimizer, 0);
    assert_int_equal(m.n_layers, 3);
    assert_string_equal(m.layers[0].name, "dense_1");
    assert_string_equal(m.layers[1].name, "dropout");
    assert_int_equal(m.layers[1].n_weights, 0);
    assert_string_equal(m.layers[2].name, "flatten");
    assert_int_equal(m.layers[2].n_weights, 0);
    assert_int_equal(m.layers[0].n_weights, 2);
    assert_string_equal(m.layers[0].weights[0].name, "kernel");
    assert_int_equal(m.layers[0].weights[0].ndim, 2);
    assert_float_equal(m.layers[0].weights[0].data[1], -1.25, 0.0);
    assert_float_equal(m.layers[0].weights[0].data[3], 1e-3f, 0.0);
    assert_float_equal(m.layers[0].weights[1].data[1], 8.0, 0.0);
    nn_h5_model_free(&m);
    assert_no_open_ids();
    unlink(path);
}

static void test_free_partial(void **state)
{
    (void)state;
    nn_h5_model m = {0};
    nn_h5_model_free(&m);
    nn_h5_model_free(NULL);
    m.model_config = strdup("{}");
    m.n_layers = 3;
    m.layers = calloc(3, sizeof *m.layers); /* names not filled yet */
    m.layers[0].name = strdup("x");
    m.n_optimizer = 2;
    m.optimizer = calloc(2, sizeof *m.optimizer);
    m.optimizer[0].name = strdup("o");
    nn_h5_model_free(&m);
    assert_null(m.model_config);
    assert_int_equal(m.n_layers, 0);
}

/* ---------- setup ---------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_h5file.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir); /* fails if a test left files behind */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_split_layer_names),
        cmocka_unit_test(test_save_missing_dir),
        cmocka_unit_test(test_failed_save_keeps_old_file),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_text_file),
        cmocka_unit_test(test_load_truncated),
        cmocka_unit_test(test_load_without_model_config),
        cmocka_unit_test(test_load_damaged),
        cmocka_unit_test(test_load_foreign_file),
        cmocka_unit_test(test_free_partial),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    H5close();
    return rc;
}
