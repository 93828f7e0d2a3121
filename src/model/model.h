/* The model graph: named layer nodes, each with its input nodes, kept in a
 * topological order; a Sequential model is the chain special case. Shapes
 * are inferred when the graph is built; per-batch tensors are planned once
 * for a batch size and reused by every pass. */
#ifndef NN_MODEL_MODEL_H
#define NN_MODEL_MODEL_H

#include <jansson.h>

#include "model/layer.h"

typedef struct nn_model {
    char name[NN_NAME_MAX];
    int n_nodes;
    nn_node **nodes;        /* topological order */
    /* Keras's functional API: several inputs and outputs, in the order of
     * model.inputs / model.outputs (the data's arrays and the losses follow
     * it). input and output are inputs[0] and outputs[0]. */
    int n_inputs, n_outputs;
    nn_node *inputs[NN_MAX_IO], *outputs[NN_MAX_IO];
    nn_node *input;
    nn_node *output;
    nn_engine *e;           /* set by nn_model_alloc */
    int batch;              /* planned batch size, 0 before nn_model_plan */
    double activity_penalty;/* of the last training forward pass */
    int n_base;             /* nodes[0 .. n_base) came from model.base */
    /* nn_model_alloc_inference: forward passes only, so layers' outputs
     * share buffers (pool) once nothing reads them any more */
    bool inference;
    bool fused; /* nn_model_fuse_inference ran: weights folded, never to be written */
    nn_tensor *pool;
    int n_pool;
    /* while building (nn_model_from_spec_at): the lengths the first
     * input's None (0) axes take, per axis; NULL: they stay 0 */
    const int *fill;
} nn_model;

/* Builds the graph from the spec's `model` group, inferring shapes. */
nn_status nn_model_from_spec(nn_spec_node *model_spec, nn_model **out, nn_error *err);
/* The same with model.base: base is a `model` group (a file's network, cut
 * at its output) whose inputs and layers come first; model_spec's layers
 * follow (none is allowed), the first taking the base's last layer unless
 * it names its inputs; model_spec's name and outputs are the model's. */
nn_status nn_model_from_base_spec(nn_spec_node *base, nn_spec_node *model_spec, nn_model **out,
                                  nn_error *err);
/* nn_model_from_spec with the first input's None (0) axes at the lengths
 * fill gives (fill[i] for axis i): a variable-length model at one length
 * (what training runs; model files still write None). */
nn_status nn_model_from_spec_at(nn_spec_node *model_spec, const int *fill, nn_model **out,
                                nn_error *err);
/* Does input n have a None (0) axis, or was it built at a length for one? */
bool nn_model_input_variable(const nn_node *n);
void nn_model_free(nn_model *m);

/* Allocates parameters (and gradients, and `slots` optimizer slots each)
 * on engine e. */
nn_status nn_model_alloc(nn_model *m, nn_engine *e, int slots, nn_error *err);
/* Weights only, for a model that only runs forward (eval, predict, export:
 * its weights come from a file): no gradients, no optimizer slots, and no
 * layer marked as needing a gradient. */
nn_status nn_model_alloc_inference(nn_model *m, nn_engine *e, nn_error *err);
/* Draws initial values for every parameter from rng. */
nn_status nn_model_init_params(nn_model *m, nn_rng *rng, nn_error *err);
/* Plans per-batch tensors for batches of up to `batch` samples. In an
 * inference model a layer's output lives in a buffer shared with layers
 * whose outputs were last read before it runs (inputs, outputs and
 * keep_out layers have their own), so memory follows the widest point of
 * the network, not its sum. */
nn_status nn_model_plan(nn_model *m, int batch, nn_error *err);
/* The floats an inference-only plan at this batch size holds (shared
 * buffers and the outputs read after the pass), without allocating: what
 * a memory check counts for a model that only runs forward. */
size_t nn_model_inference_floats(const nn_model *m, int batch);
/* An inference model's BatchNormalization layers folded into the
 * convolutions before them, and ReLU/ReLU6 layers into the convolutions'
 * own pass, where nothing else reads what lies between (model/fuse.c).
 * nn_model_plan does it once, before the first forward pass. */
nn_status nn_model_fuse_inference(nn_model *m, nn_error *err);
/* to, built like from, takes from's fusion (after its weights were copied
 * from from's). */
nn_status nn_model_copy_fusion(const nn_model *from, nn_model *to, nn_error *err);
/* An error unless m's weights are its own (not fused): what writers and
 * exporters check first. */
nn_status nn_model_check_unfused(const nn_model *m, nn_error *err);

/* The input batch tensor to upload into (batch x input shape); _at: of
 * input i. */
nn_tensor *nn_model_input_tensor(nn_model *m);
nn_tensor *nn_model_input_tensor_at(nn_model *m, int i);
/* Is n one of the model's outputs / inputs? */
bool nn_model_is_output(const nn_model *m, const nn_node *n);
bool nn_model_is_input(const nn_model *m, const nn_node *n);
/* Every layer's products in precision prec (train.precision, --precision;
 * a Keras file's layers may each have their own). */
void nn_model_set_precision(nn_model *m, nn_precision prec);
void nn_model_forward(nn_model *m, const nn_pass *p);
/* Backpropagates from every output's dout (or dpreact when the loss was
 * fused with the output activation). */
void nn_model_backward(nn_model *m, const nn_pass *p);

nn_node *nn_model_find(const nn_model *m, const char *name);
void nn_model_count_params(const nn_model *m, size_t *trainable, size_t *non_trainable);
/* Weights with |w| > threshold, over every parameter of every node (as the
 * Param # column counts them): per node into per_node (n_nodes entries;
 * may be NULL), and the totals. Reads the weights back from the engine. */
nn_status nn_model_nonzero(const nn_model *m, double threshold, size_t *per_node,
                           size_t *nonzero, size_t *params, nn_error *err);

/* Keras's model_config JSON ({"class_name": "Sequential" | "Functional",...}). */
nn_status nn_model_keras_json(const nn_model *m, json_t **out, nn_error *err);

/* Keras-style summary table. */
void nn_model_summary(const nn_model *m, FILE *f);
/* The weights table of `nnctl summary --weights`: per layer with
 * parameters, its Param #, the nonzero count (nonzero[i] for node i, from
 * nn_model_nonzero with threshold) and its share; then the totals. */
void nn_model_weights_summary(const nn_model *m, const size_t *nonzero, double threshold, FILE *f);
/* "(None, 28, 28, 1)" */
void nn_shape_string(const nn_node *n, char *buf, size_t len);

#endif
