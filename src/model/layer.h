/* Layer nodes and the layer-type row. A layer is written once against the
 * engine interface; its registry row (nn_layer_type) is the only place that
 * knows the type: its spec parser, shape inference, forward/backward, its
 * Keras config both ways, its ONNX and C exports and its man-page text, so
 * summary, model files, exports and the documentation cannot disagree.
 * Built-in types and plugin types go through the same rows. */
#ifndef NN_MODEL_LAYER_H
#define NN_MODEL_LAYER_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "spec/spec.h"
#include "util/doc.h"
#include "util/error.h"
#include "util/rng.h"

#define NN_MAX_INPUTS 8
#define NN_MAX_PARAMS 8
#define NN_NAME_MAX 64
#define NN_MAX_IO 8 /* model inputs, and model outputs */
/* Metrics a model's outputs may be given (train.metrics, Keras files). */
#define NN_MAX_METRICS_PER_OUTPUT 8
#define NN_MAX_METRICS 32 /* over all outputs */

/* A regularizer type (model/regularizers.c): l1, l2, l1_l2 built in (the
 * engine computes them), or a plugin's, computed on host floats. */
typedef struct nn_reg_type {
    const char *name;        /* spec type */
    const char *keras_class; /* class_name in model files */
    const char *keras_module;
    const char *doc;
    const nn_doc_key *keys;
    /* A plugin's: its instance from the settings group (NULL when named
     * alone), and the penalty of w (shape dims) with, when grad is not
     * NULL, scale * d(penalty)/dw added to grad. */
    nn_status (*create)(const struct nn_reg_type *t, nn_spec_node *g, void **inst, nn_error *err);
    nn_status (*host_apply)(const struct nn_reg_type *t, void *inst, const float *w, int ndim,
                            const int *dims, double *penalty, float *grad, float scale,
                            nn_error *err);
    const void *plugin;
} nn_reg_type;

typedef struct nn_regularizer {
    float l1, l2;             /* L1/L2 factors (both 0 and no type: none) */
    const nn_reg_type *type;  /* a plugin's regularizer, or NULL */
    void *inst;               /* its instance (lives as long as the program) */
    nn_spec_node *spec;       /* its settings, written to model files */
} nn_regularizer;

/* Any penalty at all? */
static inline bool nn_regularizer_active(const nn_regularizer *r)
{
    return r->type || r->l1 != 0.0f || r->l2 != 0.0f;
}
/* The regularizer rows: built-in first, then plugins' (NULL past the end). */
const nn_reg_type *nn_reg_type_at(int i);
const nn_reg_type *nn_reg_type_find(const char *name);
const nn_reg_type *nn_reg_type_for_keras(const char *keras_class);
nn_status nn_reg_type_register(const nn_reg_type *t, nn_error *err);

typedef struct nn_initializer {
    int kind;            /* index into the initializer table (layers/initializers.c) */
    double a, b;         /* kind-specific: mean/stddev, minval/maxval, value, gain */
} nn_initializer;

typedef struct nn_param {
    char name[64];         /* Keras weight name: "kernel", "forward_lstm/bias" */
    int ndim;
    int shape[NN_MAX_DIMS];
    size_t size;
    nn_tensor w, g;        /* value and gradient */
    nn_tensor slots[3];    /* optimizer state */
    nn_regularizer reg;
    nn_initializer init;
    int fan_in, fan_out;
    size_t ones_lo, ones_hi; /* values [lo, hi) start at 1 (LSTM unit_forget_bias) */
    bool trainable;
    /* Not trained but updated by training's forward pass (moving
     * statistics): data-parallel processes average them before they are
     * read (validation, checkpoints). */
    bool moving;
} nn_param;

typedef struct nn_node nn_node;
typedef struct nn_c_writer nn_c_writer; /* formats/c_code.h */
typedef struct kx_layer kx_layer;       /* formats/keras_import.h */
typedef struct kx_text kx_text;
typedef struct kx_shapes kx_shapes;
typedef struct onnx_layer onnx_layer;   /* formats/onnx_layer.h */

/* Data-parallel training: several processes share each batch, each
 * running its own rows (train/ and dist/ fill this in; NULL in an nn_pass
 * when one process has the whole batch). */
typedef struct nn_replicas nn_replicas;
struct nn_replicas {
    int batch_rows; /* rows of the whole batch: losses are means over it */
    nn_sum_hook sum; /* SyncBatchNormalization's statistics */
    /* The batch runner's hooks (train/batch.c, nn_model_backward): the
     * loss and outputs are known (before backward); node n's parameter
     * gradients are final; backward is over (on return every gradient is
     * summed over the processes). */
    void (*loss_ready)(nn_replicas *r);
    void (*grads_ready)(nn_replicas *r, nn_node *n);
    void (*grads_wait)(nn_replicas *r);
    void *ctx;
};

/* What forward/backward need besides the node. */
typedef struct nn_pass {
    nn_engine *e;
    int rows;         /* samples in this batch (<= planned batch) */
    bool training;
    /* Dropout: each call takes the next key from rng, and a sample's mask
     * is drawn from (key, its id in ids): the fit loop gives one stream per
     * (seed, epoch) and the samples' dataset indices, so masks do not
     * depend on batch position, process or thread count. ids NULL: the
     * row index. */
    nn_rng *rng;
    const nn_tensor *ids;
    nn_replicas *rep; /* NULL: this process has the whole batch */
    /* the loss's gradient arrives multiplied by this (loss scaling, which
     * gradients added in the backward pass follow); 0 means 1 */
    float loss_scale;
} nn_pass;

/* The rows a pass's losses are means over: the whole batch's. */
static inline int nn_pass_batch_rows(const nn_pass *p)
{
    return p->rep && p->rep->batch_rows > 0 ? p->rep->batch_rows : p->rows;
}

typedef struct nn_layer_type {
    const char *name;        /* spec "type", e.g. "dense" */
    const char *keras_class; /* Keras class_name written, e.g. "Dense" */
    /* Other Keras class names read as this type (Keras 1 names, short
     * aliases), NULL-terminated; may be NULL. */
    const char *const *keras_aliases;
    const char *keras_module;   /* the Keras config's "module" (NULL: keras.layers) */
    const char *doc;            /* one sentence for the man page */
    const nn_doc_key *keys;     /* its own keys for the man page, ending with {NULL} */
    /* Reads layer-specific keys from the spec group (the caller has read
     * type/name/inputs and checks unknown keys afterwards). */
    nn_status (*parse)(nn_node *n, nn_spec_node *spec, nn_error *err);
    /* Sets n->ndim/shape from the inputs' shapes and declares parameters
     * (names, shapes, fans, initializers). Errors name the layer. */
    nn_status (*infer)(nn_node *n, nn_error *err);
    /* Allocates per-batch state beyond out/dout (optional). */
    nn_status (*plan)(nn_node *n, nn_engine *e, int batch, nn_error *err);
    void (*forward)(nn_node *n, const nn_pass *p);
    void (*backward)(nn_node *n, const nn_pass *p);
    /* Fills the layer-specific fields of a Keras "config" object. */
    nn_status (*keras_config)(const nn_node *n, json_t *config, nn_error *err);
    /* A Keras layer config (class keras_class or an alias) as this type's
     * spec keys: writes "type = ...; <keys>" into t and the output's rank
     * into s->rank (formats/keras_import.h). */
    nn_status (*keras_import)(const kx_layer *L, kx_text *t, kx_shapes *s);
    void (*release)(nn_node *n, nn_engine *e); /* frees what plan made (optional) */
    /* Frees n->cfg when parse allocated more than the one block (optional:
     * free(n->cfg) otherwise). Called after a failed parse too. */
    void (*free_cfg)(nn_node *n);
    /* Writes the layer's inference pass as C for `nnctl export --format c`
     * (formats/c_code.h; optional: a layer without it cannot be exported). */
    nn_status (*export_c)(const nn_node *n, nn_c_writer *w, nn_error *err);
    /* Adds ONNX nodes computing the inference pass (formats/onnx_layer.h;
     * optional: a layer without it cannot be exported to ONNX). */
    nn_status (*export_onnx)(onnx_layer *L, nn_error *err);
    /* Output aliases input 0's output (Flatten, Reshape, inference Dropout). */
    bool aliases_input;
    /* Inference fusion (model/fuse.c), all optional. inference_affine: at
     * inference the layer is y = x * scale[c] + shift[c] over the last axis
     * (BatchNormalization); fills both, one value per channel. */
    nn_status (*inference_affine)(const nn_node *n, nn_engine *e, float *scale, float *shift,
                                  nn_error *err);
    /* fold_affine: makes the layer's output y * scale[c] + shift[c] by
     * changing its weights and bias (a convolution with a linear
     * activation; n->folded_bias when it has no bias of its own). */
    nn_status (*fold_affine)(nn_node *n, nn_engine *e, const float *scale, const float *shift,
                             nn_error *err);
    /* as_activation: the layer is act(x), elementwise (Activation, the
     * ReLU forms that are relu or relu6); false when it is not. */
    bool (*as_activation)(const nn_node *n, nn_act *act, float *alpha);
    /* takes_act: its forward can end with act (ReLU or ReLU6) when n->act
     * is set to it, so a following activation layer can be absorbed
     * (convolutions, a two-input Add). */
    bool (*takes_act)(const nn_node *n, nn_act act);
    /* as_padding: the layer only surrounds its (height, width, channels)
     * input with zeros, pad = top, bottom, left, right (ZeroPadding2D). */
    bool (*as_padding)(const nn_node *n, int pad[4]);
    /* takes_input_pad: a 2-D window whose geometry (nn_window_geom) can
     * read through such a layer before it, its zeros as more padding
     * (convolutions; not pooling, where padding is never a maximum and
     * never counted in an average). */
    bool takes_input_pad;
    /* Computes act(preact) with n->act and keeps preact/dpreact, skipping
     * the activation's backward when the loss wrote dpreact: a
     * cross-entropy loss fuses with its softmax or sigmoid (Dense,
     * Activation). */
    bool fuses_loss;
    /* Keras's supports_masking for a layer that keeps its input's steps:
     * the output carries input 0's mask (Dense or Dropout on sequences). */
    bool passes_mask;
    /* For a layer that makes a mask from its input (mask_buf): the first
     * step and one past the last that its forward keeps, of one sample's
     * input x (lo >= hi: none); data.bucket_by_length sorts by them. */
    void (*mask_span)(const nn_node *n, const float *x, size_t *lo, size_t *hi);
    const void *plugin; /* the plugin's own row (plugin types), else NULL */
} nn_layer_type;

struct nn_node {
    char name[NN_NAME_MAX];
    const nn_layer_type *type;
    int index;                 /* position in the model's topological order */
    int n_in;
    nn_node *in[NN_MAX_INPUTS];
    int n_consumers;
    int ndim;                  /* per-sample output shape (no batch axis) */
    int shape[NN_MAX_DIMS];
    size_t size;
    int n_params;
    nn_param params[NN_MAX_PARAMS];
    bool trainable;
    bool needs_grad;           /* some trainable parameter lies upstream */
    nn_precision precision;    /* of the layer's products now (nn_precision_apply) */
    nn_precision policy;       /* the policy it was given (what model files store) */
    bool has_dtype;            /* the spec gave the layer its own dtype policy: */
    nn_precision dtype;        /* that policy (Keras's per-layer dtype) */

    /* Per-batch tensors, [batch, shape...], planned once. In a model that
     * only runs forward, out may share memory with layers that ran before
     * (nn_model_plan): keep_out keeps it whole after the pass (what
     * predict --layer reads; model outputs always are). */
    nn_tensor out, dout;
    bool keep_out;
    nn_tensor grad_scratch;    /* when several consumers add into dout */
    int grad_writes;           /* consumers that wrote dout in this pass */

    /* Activation applied at the end of this node (Dense, Activation). */
    nn_act act;
    float act_alpha;
    nn_tensor *preact, *dpreact; /* the activation's input and its gradient */
    bool loss_wrote_preact;    /* fused loss wrote dpreact: skip act backward */
    nn_regularizer activity_reg;

    /* Keras masking: per sample and step, 1 for a real step and 0 for a
     * masked one, (batch, mask_steps), that comes with this output; NULL:
     * none. An Embedding with mask_zero makes it (mask_buf, at plan time);
     * a passes_mask layer keeps its input's (set before infer); a layer
     * using it (a recurrent layer, GlobalAveragePooling1D) reads its
     * input's and sets its own in infer. */
    const nn_tensor *mask;
    int mask_steps;
    nn_tensor mask_buf;
    /* An input whose spec shape has None (0) axes that this model was built
     * at a length for (bit i: axis i): model files still write None. */
    unsigned var_axes;

    /* Inference fusion (model/fuse.c): the layer's work was absorbed by the
     * one before it, or (a ZeroPadding2D) by the convolution after it, so
     * forward skips it and its output is a view of the buffer before it;
     * folded_bias, the bias a convolution without one was given. */
    bool fused_away;
    nn_tensor folded_bias;

    char inner_name[NN_NAME_MAX]; /* a wrapper's inner layer (Bidirectional, TimeDistributed) */
    void *cfg;                 /* layer-specific settings (from parse) */
    void *state;               /* layer-specific per-batch state (from plan) */
    nn_spec_node *spec;        /* where the layer was declared (for errors) */
};

/* Where a layer should write the gradient for input i: input's dout when it
 * is the first writer this pass, else the input's scratch (then call
 * nn_grad_commit). NULL when the input needs no gradient. */
nn_tensor *nn_grad_target(nn_node *n, int i);
void nn_grad_commit(nn_node *n, int i, nn_tensor *written, const nn_pass *p);

/* Declares parameter k of node n. */
nn_param *nn_node_add_param(nn_node *n, const char *name, int ndim, const int *shape,
                            int fan_in, int fan_out, nn_initializer init, nn_regularizer reg);

/* A usable layer (or input) name: 1 to NN_NAME_MAX - 1 characters, '/'
 * only between non-empty parts other than "." and ".." (Keras names such
 * as conv1/conv become nested groups in model files). */
bool nn_layer_name_ok(const char *name);
#define NN_LAYER_NAME_RULE                                                                   \
    "a non-empty name of at most 63 characters ('/' only between parts, as in conv1/conv)"

/* Frees n->cfg (the type's free_cfg, else free). */
void nn_node_free_cfg(nn_node *n);

/* Shared helpers for layer files. */
nn_status nn_node_fail(const nn_node *n, nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
