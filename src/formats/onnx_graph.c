/* The ONNX graph builder (see onnx_graph.h). Field numbers are onnx.proto's
 * (IR version 7); each message is built in its own buffer and appended to
 * its parent as a length-delimited field. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_graph.h"
#include "util/fileio.h"

/* onnx.proto field numbers */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
       MODEL_DOC = 6, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11,
       GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_FLOATS = 7, ATTR_INTS = 8,
       ATTR_STRINGS = 9, ATTR_TYPE = 20 };
enum { ATYPE_FLOAT = 1, ATYPE_INT = 2, ATYPE_STRING = 3, ATYPE_FLOATS = 6, ATYPE_INTS = 7,
       ATYPE_STRINGS = 8 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_FLOAT_DATA = 4, TENSOR_INT64_DATA = 7,
       TENSOR_NAME = 8 };
enum { VALUE_NAME = 1, VALUE_TYPE = 2 };
enum { TYPE_TENSOR = 1, TENSOR_TYPE_ELEM = 1, TENSOR_TYPE_SHAPE = 2, SHAPE_DIM = 1,
       DIM_VALUE = 1, DIM_PARAM = 2 };

void onnx_graph_init(onnx_graph *g) { memset(g, 0, sizeof *g); }

void onnx_graph_free(onnx_graph *g)
{
    nn_proto_free(&g->nodes);
    nn_proto_free(&g->inits);
    nn_proto_free(&g->inputs);
    nn_proto_free(&g->outputs);
    for (int i = 0; i < g->n_names; i++)
        free(g->names[i]);
    free(g->names);
    memset(g, 0, sizeof *g);
}

const char *onnx_keep(onnx_graph *g, const char *s)
{
    if (g->n_names == g->cap_names) {
        int cap = g->cap_names ? 2 * g->cap_names : 64;
        char **nn = realloc(g->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            g->oom = true;
            return "";
        }
        g->names = nn;
        g->cap_names = cap;
    }
    char *copy = strdup(s);
    if (!copy) {
        g->oom = true;
        return "";
    }
    g->names[g->n_names++] = copy;
    return copy;
}

const char *onnx_fresh(onnx_graph *g, const char *what)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s/%s_%d", g->scope ? g->scope : "nnctl", what, g->counter++);
    return onnx_keep(g, buf);
}

void onnx_node_begin(onnx_node *nd, onnx_graph *g, const char *op_type)
{
    memset(nd, 0, sizeof *nd);
    nd->g = g;
    char name[256];
    snprintf(name, sizeof name, "%s/%s#%d", g->scope ? g->scope : "nnctl", op_type,
             g->n_nodes++);
    nn_proto_string(&nd->pb, NODE_NAME, name);
    nn_proto_string(&nd->pb, NODE_OP_TYPE, op_type);
}

void onnx_node_input(onnx_node *nd, const char *tensor)
{
    nn_proto_string(&nd->pb, NODE_INPUT, tensor);
}

void onnx_node_output(onnx_node *nd, const char *tensor)
{
    nn_proto_string(&nd->pb, NODE_OUTPUT, tensor);
}

/* An AttributeProto: its name and type; the caller adds the value. */
static void attr_begin(nn_proto *a, const char *name, int type)
{
    memset(a, 0, sizeof *a);
    nn_proto_string(a, ATTR_NAME, name);
    nn_proto_varint(a, ATTR_TYPE, (uint64_t)type);
}

static void attr_end(onnx_node *nd, nn_proto *a)
{
    nn_proto_message(&nd->pb, NODE_ATTRIBUTE, a);
    nn_proto_free(a);
}

void onnx_attr_int(onnx_node *nd, const char *name, int64_t v)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_INT);
    nn_proto_int64(&a, ATTR_I, v);
    attr_end(nd, &a);
}

void onnx_attr_ints(onnx_node *nd, const char *name, const int64_t *v, int n)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_INTS);
    nn_proto_packed_int64(&a, ATTR_INTS, v, (size_t)n);
    attr_end(nd, &a);
}

void onnx_attr_float(onnx_node *nd, const char *name, float v)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_FLOAT);
    nn_proto_float(&a, ATTR_F, v);
    attr_end(nd, &a);
}

void onnx_attr_floats(onnx_node *nd, const char *name, const float *v, int n)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_FLOATS);
    nn_proto_packed_float(&a, ATTR_FLOATS, v, (size_t)n);
    attr_end(nd, &a);
}

void onnx_attr_string(onnx_node *nd, const char *name, const char *s)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_STRING);
    nn_proto_string(&a, ATTR_S, s);
    attr_end(nd, &a);
}

void onnx_attr_strings(onnx_node *nd, const char *name, const char *const *s, int n)
{
    nn_proto a;
    attr_begin(&a, name, ATYPE_STRINGS);
    for (int i = 0; i < n; i++)
        nn_proto_string(&a, ATTR_STRINGS, s[i]);
    attr_end(nd, &a);
}

void onnx_node_end(onnx_node *nd)
{
    nn_proto_message(&nd->g->nodes, GRAPH_NODE, &nd->pb);
    nn_proto_free(&nd->pb);
}

const char *onnx_op1(onnx_graph *g, const char *op_type, const char *x)
{
    const char *y = onnx_fresh(g, op_type);
    onnx_node nd;
    onnx_node_begin(&nd, g, op_type);
    onnx_node_input(&nd, x);
    onnx_node_output(&nd, y);
    onnx_node_end(&nd);
    return y;
}

const char *onnx_op2(onnx_graph *g, const char *op_type, const char *a, const char *b)
{
    const char *y = onnx_fresh(g, op_type);
    onnx_node nd;
    onnx_node_begin(&nd, g, op_type);
    onnx_node_input(&nd, a);
    onnx_node_input(&nd, b);
    onnx_node_output(&nd, y);
    onnx_node_end(&nd);
    return y;
}

/* A TensorProto's header: dims, type, name. */
static void tensor_begin(nn_proto *t, const char *name, int type, int ndim, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    if (ndim > 0)
        nn_proto_packed_int64(t, TENSOR_DIMS, dims, (size_t)ndim);
    nn_proto_varint(t, TENSOR_DATA_TYPE, (uint64_t)type);
    nn_proto_string(t, TENSOR_NAME, name);
}

static size_t count_of(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    return n;
}

const char *onnx_const_float(onnx_graph *g, const char *what, int ndim, const int64_t *dims,
                             const float *data)
{
    const char *name = onnx_fresh(g, what);
    nn_proto t;
    tensor_begin(&t, name, ONNX_FLOAT, ndim, dims);
    nn_proto_packed_float(&t, TENSOR_FLOAT_DATA, data, count_of(ndim, dims));
    nn_proto_message(&g->inits, GRAPH_INITIALIZER, &t);
    nn_proto_free(&t);
    return name;
}

const char *onnx_const_int64(onnx_graph *g, const char *what, int ndim, const int64_t *dims,
                             const int64_t *data)
{
    const char *name = onnx_fresh(g, what);
    nn_proto t;
    tensor_begin(&t, name, ONNX_INT64, ndim, dims);
    nn_proto_packed_int64(&t, TENSOR_INT64_DATA, data, count_of(ndim, dims));
    nn_proto_message(&g->inits, GRAPH_INITIALIZER, &t);
    nn_proto_free(&t);
    return name;
}

const char *onnx_scalar(onnx_graph *g, const char *what, float v)
{
    return onnx_const_float(g, what, 0, NULL, &v);
}

const char *onnx_ints(onnx_graph *g, const char *what, int n, const int64_t *v)
{
    int64_t dims[1] = {n};
    return onnx_const_int64(g, what, 1, dims, v);
}

/* A ValueInfoProto for a float tensor. */
static void value_info(nn_proto *dst, int field, const char *name, int ndim, const int64_t *dims)
{
    nn_proto shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int i = 0; i < ndim; i++) {
        nn_proto dim = {0};
        if (dims[i] < 0)
            nn_proto_string(&dim, DIM_PARAM, "N");
        else
            nn_proto_int64(&dim, DIM_VALUE, dims[i]);
        nn_proto_message(&shape, SHAPE_DIM, &dim);
        nn_proto_free(&dim);
    }
    nn_proto_varint(&tensor, TENSOR_TYPE_ELEM, ONNX_FLOAT);
    nn_proto_message(&tensor, TENSOR_TYPE_SHAPE, &shape);
    nn_proto_message(&type, TYPE_TENSOR, &tensor);
    nn_proto_string(&vi, VALUE_NAME, name);
    nn_proto_message(&vi, VALUE_TYPE, &type);
    nn_proto_message(dst, field, &vi);
    nn_proto_free(&shape);
    nn_proto_free(&tensor);
    nn_proto_free(&type);
    nn_proto_free(&vi);
}

void onnx_graph_input(onnx_graph *g, const char *name, int ndim, const int64_t *dims)
{
    value_info(&g->inputs, GRAPH_INPUT, name, ndim, dims);
}

void onnx_graph_output(onnx_graph *g, const char *name, int ndim, const int64_t *dims)
{
    value_info(&g->outputs, GRAPH_OUTPUT, name, ndim, dims);
}

nn_status onnx_graph_write(onnx_graph *g, const char *graph_name, const char *doc,
                           const char *path, nn_error *err)
{
    nn_proto graph = {0}, opset = {0}, model = {0};
    nn_proto_string(&graph, GRAPH_NAME, graph_name);
    const nn_proto *parts[] = {&g->nodes, &g->inits, &g->inputs, &g->outputs};
    for (int i = 0; i < 4; i++) {
        /* each part is a run of whole GraphProto fields: appending the
         * bytes appends the fields */
        if (parts[i]->oom)
            graph.oom = true;
        else if (parts[i]->len)
            nn_proto_raw(&graph, parts[i]->data, parts[i]->len);
    }
    nn_proto_string(&opset, OPSET_DOMAIN, "");
    nn_proto_int64(&opset, OPSET_VERSION, NN_ONNX_OPSET);
    nn_proto_int64(&model, MODEL_IR_VERSION, NN_ONNX_IR_VERSION);
    nn_proto_string(&model, MODEL_PRODUCER_NAME, "nnctl");
    nn_proto_string(&model, MODEL_PRODUCER_VERSION, NNCTL_VERSION);
    if (doc)
        nn_proto_string(&model, MODEL_DOC, doc);
    nn_proto_message(&model, MODEL_GRAPH, &graph);
    nn_proto_message(&model, MODEL_OPSET_IMPORT, &opset);
    nn_status st;
    if (model.oom || g->oom)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory building the ONNX model for '%s'", path);
    else if (model.len > INT32_MAX) /* protobuf's limit for one message */
        st = nn_fail(err, NN_ERR_RUNTIME,
                     "'%s': the model's ONNX form would be %zu bytes; above 2 GiB ONNX needs "
                     "external weight files, which nnctl does not write",
                     path, model.len);
    else
        st = nn_write_file_atomic(path, model.data, model.len, err);
    nn_proto_free(&graph);
    nn_proto_free(&opset);
    nn_proto_free(&model);
    return st;
}
