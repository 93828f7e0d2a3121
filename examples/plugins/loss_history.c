/* LossHistory, the Keras tutorial's own callback, as an nnctl plugin: the
 * loss after every batch (the epoch's running mean, as Keras's batch logs
 * have it) appended to a CSV file in the run directory.
 *
 * Keras:
 *     class LossHistory(keras.callbacks.Callback):
 *         def on_train_begin(self, logs={}):
 *             self.losses = []
 *         def on_batch_end(self, batch, logs={}):
 *             self.losses.append(logs.get('loss'))
 *
 * nnctl:
 *   cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) loss_history.c -o loss_history.so
 *   train: { callbacks = ( { type = "loss_history"; path = "batch_losses.csv"; } ); };
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnctl/plugin.h>

static const nnctl_host *H;

typedef struct {
    char path[4096];
    FILE *f;
} loss_history;

static nnctl_status create(nnctl_settings *s, void **inst, nnctl_error *err)
{
    const char *path;
    if (H->get_string(s, "path", 0, "batch_losses.csv", &path, err))
        return NNCTL_ERROR;
    if (!path[0] || strlen(path) >= 4096)
        return H->settings_fail(s, "path", err, "expected a file name");
    loss_history *h = calloc(1, sizeof *h);
    if (!h)
        return H->fail(err, "out of memory");
    snprintf(h->path, sizeof h->path, "%s", path);
    *inst = h;
    return NNCTL_OK;
}

static void destroy(void *inst)
{
    loss_history *h = inst;
    if (h->f)
        fclose(h->f);
    free(h);
}

static nnctl_status train_begin(void *inst, nnctl_train *t, nnctl_error *err)
{
    loss_history *h = inst;
    char full[8192];
    if (h->path[0] == '/')
        snprintf(full, sizeof full, "%s", h->path);
    else
        snprintf(full, sizeof full, "%s/%s", H->run_dir(t), h->path);
    /* a resumed run goes on appending; a new one starts the file */
    int fresh = H->epoch(t) == 0 && H->batch(t) == 0;
    h->f = fopen(full, fresh ? "w" : "a");
    if (!h->f)
        return H->fail(err, "cannot open %s", full);
    if (fresh)
        fprintf(h->f, "epoch,batch,loss\n");
    return NNCTL_OK;
}

static nnctl_status batch_end(void *inst, nnctl_train *t, const nnctl_logs *logs,
                              nnctl_error *err)
{
    loss_history *h = inst;
    double loss;
    if (!H->log_get(logs, "loss", &loss))
        return H->fail(err, "no loss in the batch logs");
    if (fprintf(h->f, "%lld,%lld,%.9g\n", H->epoch(t), H->batch(t), loss) < 0)
        return H->fail(err, "cannot write %s", h->path);
    return NNCTL_OK;
}

static nnctl_status train_end(void *inst, nnctl_train *t, nnctl_error *err)
{
    (void)t;
    loss_history *h = inst;
    int bad = fclose(h->f) != 0;
    h->f = NULL;
    return bad ? H->fail(err, "cannot write %s", h->path) : NNCTL_OK;
}

static const nnctl_key_doc keys[] = {
    {"path", "string", "\"batch_losses.csv\"", "relative to the run directory"},
    {NULL, NULL, NULL, NULL},
};

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "loss_history", "1.0",
                             "the Keras tutorial's LossHistory: each batch's loss to a CSV file"))
        return NNCTL_ERROR;
    static const nnctl_callback_desc d = {
        .size = sizeof d,
        .name = "loss_history",
        .doc = "appends epoch, batch and the running loss after every batch to a CSV file",
        .keys = keys,
        .create = create,
        .destroy = destroy,
        .train_begin = train_begin,
        .batch_end = batch_end,
        .train_end = train_end,
    };
    return host->add_callback(reg, &d);
}
