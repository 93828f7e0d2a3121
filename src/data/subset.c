/* Seeded stratified subsets and class selections of a dataset
 * (data/dataset.h). */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/dataset_internal.h"

typedef struct class_rem {
    uint64_t rem;
    int k;
} class_rem;

static int by_rem_desc(const void *a, const void *b)
{
    const class_rem *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k); /* ties: lower class first */
}

/* Largest-remainder apportionment of count over the class sizes. */
static nn_status apportion(const size_t *size, int nc, size_t n, size_t count, size_t *quota,
                           nn_error *err)
{
    class_rem *r = nn_malloc((size_t)nc * sizeof *r, err);
    if (!r)
        return NN_ERR_RUNTIME;
    size_t given = 0;
    for (int k = 0; k < nc; k++) {
        unsigned __int128 p = (unsigned __int128)count * size[k];
        quota[k] = (size_t)(p / n);
        r[k].rem = (uint64_t)(p % n);
        r[k].k = k;
        given += quota[k];
    }
    qsort(r, (size_t)nc, sizeof *r, by_rem_desc);
    /* count - given < number of classes with a nonzero remainder. */
    for (int i = 0; given < count && i < nc; i++, given++)
        quota[r[i].k]++;
    free(r);
    return NN_OK;
}

typedef struct row_pick {
    const size_t *chosen;
    size_t count;
} row_pick;

static nn_status take_op(const nn_dataset *d, nn_dataset *out, const void *arg, nn_error *err);

/* An owned copy of samples chosen[0..count) of d (the rest of d's
 * settings kept), every part taking the same rows. */
static nn_status take_samples(const nn_dataset *d, const size_t *chosen, size_t count,
                              nn_dataset *out, nn_error *err)
{
    uint8_t *u8 = NULL;
    float *f32 = NULL, *targets = NULL;
    int32_t *labels = NULL;
    size_t ss = d->sample_size;
    if ((d->labels && !(labels = nn_malloc(count * sizeof *labels, err))) ||
        (d->u8 && !(u8 = nn_malloc(count * ss, err))) ||
        (d->f32 && !(f32 = nn_malloc(count * ss * sizeof *f32, err))) ||
        (d->targets && !(targets = nn_malloc(count * d->target_size * sizeof *targets, err)))) {
        free(u8);
        free(f32);
        free(targets);
        free(labels);
        return NN_ERR_RUNTIME;
    }
    for (size_t j = 0; j < count; j++) {
        size_t i = chosen[j];
        if (labels)
            labels[j] = d->labels[i];
        if (u8)
            memcpy(u8 + j * ss, d->u8 + i * ss, ss);
        if (f32)
            memcpy(f32 + j * ss, d->f32 + i * ss, ss * sizeof *f32);
        if (targets)
            memcpy(targets + j * d->target_size, d->targets + i * d->target_size,
                   d->target_size * sizeof *targets);
    }
    *out = *d;
    out->n = count;
    out->u8 = out->owner_u8 = u8;
    out->f32 = out->owner_f32 = f32;
    out->labels = out->owner_labels = labels;
    out->targets = out->owner_targets = targets;
    row_pick pick = {chosen, count};
    nn_status st = nn_dataset__map_parts(d, out, take_op, &pick, err);
    if (st)
        nn_dataset_free(out);
    return st;
}

static nn_status take_op(const nn_dataset *d, nn_dataset *out, const void *arg, nn_error *err)
{
    const row_pick *p = arg;
    return take_samples(d, p->chosen, p->count, out, err);
}

nn_status nn_dataset_subset_stratified(const nn_dataset *d, size_t count, nn_rng *rng,
                                       nn_dataset *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    bool stratified = d->labels != NULL;
    if (!stratified && !d->targets)
        return nn_fail(err, NN_ERR_USAGE, "a subset needs class labels or targets");
    if (stratified && d->n_classes < 1)
        return nn_fail(err, NN_ERR_USAGE, "a stratified subset needs class labels");
    if (count > d->n)
        return nn_fail(err, NN_ERR_USAGE, "subset of %zu samples asked from a dataset of %zu",
                       count, d->n);
    if (stratified && count < (size_t)d->n_classes)
        return nn_fail(err, NN_ERR_USAGE,
                       "subset of %zu samples is smaller than the %d classes", count,
                       d->n_classes);
    if (count == 0)
        return nn_fail(err, NN_ERR_USAGE, "a subset needs at least 1 sample");

    int nc = stratified ? d->n_classes : 1;
    nn_status st = NN_ERR_RUNTIME;
    size_t *size = nn_calloc((size_t)nc * 3, sizeof *size, err);
    size_t *chosen = nn_malloc(count * sizeof *chosen, err);
    if (!size || !chosen)
        goto done;
    size_t *quota = size + nc, *left = size + 2 * nc;
    if (!stratified) {
        /* regression targets: a uniform pick (Knuth's algorithm S), in order */
        size_t m = 0;
        for (size_t i = 0; i < d->n && m < count; i++)
            if (nn_rng_below(rng, d->n - i) < count - m)
                chosen[m++] = i;
        goto copy;
    }
    for (size_t i = 0; i < d->n; i++) {
        int32_t l = d->labels[i];
        if (l < 0 || l >= nc) {
            nn_fail(err, NN_ERR_RUNTIME, "sample %zu has label %d, outside [0, %d)", i, (int)l,
                    nc);
            goto done;
        }
        size[l]++;
    }
    if (apportion(size, nc, d->n, count, quota, err) != NN_OK)
        goto done;

    /* Selection sampling (Knuth's algorithm S) per class: one pass in the
     * original order keeps that order and picks each k-subset equally likely. */
    memcpy(left, size, (size_t)nc * sizeof *size);
    size_t m = 0;
    for (size_t i = 0; i < d->n; i++) {
        int32_t l = d->labels[i];
        size_t need = quota[l];
        bool take = need == left[l] || (need > 0 && nn_rng_below(rng, left[l]) < need);
        left[l]--;
        if (take) {
            quota[l]--;
            chosen[m++] = i;
        }
    }

copy:
    st = take_samples(d, chosen, count, out, err);
done:
    free(size);
    free(chosen);
    return st;
}

nn_status nn_dataset_select_classes(const nn_dataset *d, const int *classes, int n_classes,
                                    nn_dataset *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!d->labels)
        return nn_fail(err, NN_ERR_USAGE, "selecting classes needs class labels");
    if (n_classes < 2)
        return nn_fail(err, NN_ERR_USAGE, "select at least 2 classes (got %d)", n_classes);
    int *map = nn_malloc((size_t)(d->n_classes > 0 ? d->n_classes : 1) * sizeof *map, err);
    size_t *chosen = nn_malloc((d->n ? d->n : 1) * sizeof *chosen, err);
    nn_status st = NN_ERR_RUNTIME;
    if (!map || !chosen)
        goto done;
    for (int c = 0; c < d->n_classes; c++)
        map[c] = -1;
    for (int k = 0; k < n_classes; k++) {
        if (classes[k] < 0 || classes[k] >= d->n_classes) {
            st = nn_fail(err, NN_ERR_USAGE, "class %d is not in the data (labels 0..%d)",
                         classes[k], d->n_classes - 1);
            goto done;
        }
        if (map[classes[k]] >= 0) {
            st = nn_fail(err, NN_ERR_USAGE, "class %d is listed twice", classes[k]);
            goto done;
        }
        map[classes[k]] = k;
    }
    size_t count = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->labels[i] >= 0 && d->labels[i] < d->n_classes && map[d->labels[i]] >= 0)
            chosen[count++] = i;
    if (count == 0) {
        st = nn_fail(err, NN_ERR_USAGE, "no sample has one of the selected classes");
        goto done;
    }
    if ((st = take_samples(d, chosen, count, out, err)))
        goto done;
    /* labels become positions in the list: classes = [5, 7] makes 5 -> 0, 7 -> 1 */
    int32_t *labels = out->owner_labels;
    for (size_t j = 0; j < count; j++)
        labels[j] = map[labels[j]];
    out->n_classes = n_classes;
done:
    free(map);
    free(chosen);
    return st;
}

/* Fixed-width inner blocks: GCC's SLP vectorizer turns them into SIMD
 * converts and divides even at -O2. Division (not a reciprocal multiply)
 * so values equal Keras's x.astype('float32') / scale exactly. */
