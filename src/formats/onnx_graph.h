/* Building an ONNX graph (the ModelProto messages of onnx.proto, written
 * with util/protobuf.h): nodes with attributes, initializers (the weights
 * and constant operands), the graph's inputs and outputs, and the file.
 *
 * Tensor names live in the graph's own arena, so a name returned here
 * stays valid until onnx_graph_free. New names are "<scope>/<what>_<k>":
 * the scope is the layer being exported, so a name in an error message or
 * in Netron says which layer made it. Allocation failures are collected
 * and reported once, by onnx_graph_write. */
#ifndef NN_FORMATS_ONNX_GRAPH_H
#define NN_FORMATS_ONNX_GRAPH_H

#include <stdint.h>

#include "util/protobuf.h"
#include "util/error.h"

/* TensorProto.DataType values used here. */
enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

/* The opset the exporter targets and the IR version that goes with it. */
#define NN_ONNX_OPSET 13
#define NN_ONNX_IR_VERSION 7

typedef struct onnx_graph {
    nn_proto nodes, inits, inputs, outputs; /* serialized GraphProto fields */
    char **names;                        /* the name arena */
    int n_names, cap_names;
    int counter;                         /* makes new names unique */
    const char *scope;
    int n_nodes;
    bool oom;
} onnx_graph;

typedef struct onnx_node {
    onnx_graph *g;
    nn_proto pb; /* the NodeProto being built */
} onnx_node;

void onnx_graph_init(onnx_graph *g);
void onnx_graph_free(onnx_graph *g);

/* A copy of s in the arena ("" when out of memory; the graph notes it). */
const char *onnx_keep(onnx_graph *g, const char *s);
/* A fresh tensor name "<scope>/<what>_<k>". */
const char *onnx_fresh(onnx_graph *g, const char *what);

/* A node: begin, inputs ("" for an omitted optional input), outputs,
 * attributes, end (which adds it to the graph). */
void onnx_node_begin(onnx_node *nd, onnx_graph *g, const char *op_type);
void onnx_node_input(onnx_node *nd, const char *tensor);
void onnx_node_output(onnx_node *nd, const char *tensor);
void onnx_attr_int(onnx_node *nd, const char *name, int64_t v);
void onnx_attr_ints(onnx_node *nd, const char *name, const int64_t *v, int n);
void onnx_attr_float(onnx_node *nd, const char *name, float v);
void onnx_attr_floats(onnx_node *nd, const char *name, const float *v, int n);
void onnx_attr_string(onnx_node *nd, const char *name, const char *s);
void onnx_attr_strings(onnx_node *nd, const char *name, const char *const *s, int n);
void onnx_node_end(onnx_node *nd);

/* One-node shortcuts without attributes; each returns its fresh output. */
const char *onnx_op1(onnx_graph *g, const char *op_type, const char *x);
const char *onnx_op2(onnx_graph *g, const char *op_type, const char *a, const char *b);

/* Initializers; each returns its (fresh) name. ndim 0 is a scalar. */
const char *onnx_const_float(onnx_graph *g, const char *what, int ndim, const int64_t *dims,
                             const float *data);
const char *onnx_const_int64(onnx_graph *g, const char *what, int ndim, const int64_t *dims,
                             const int64_t *data);
const char *onnx_scalar(onnx_graph *g, const char *what, float v);
/* A 1-D int64 tensor of n values (shapes, axes, slice bounds). */
const char *onnx_ints(onnx_graph *g, const char *what, int n, const int64_t *v);

/* A graph input or output of float elements; dims[k] < 0 is the symbolic
 * batch dimension "N". */
void onnx_graph_input(onnx_graph *g, const char *name, int ndim, const int64_t *dims);
void onnx_graph_output(onnx_graph *g, const char *name, int ndim, const int64_t *dims);

/* The ModelProto (opset 13, producer nnctl), written atomically to path. */
nn_status onnx_graph_write(onnx_graph *g, const char *graph_name, const char *doc,
                           const char *path, nn_error *err);

#endif
