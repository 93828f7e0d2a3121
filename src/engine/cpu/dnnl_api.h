/* oneDNN, loaded when first needed (a convolution, a bf16 product), not
 * when nnctl starts: its 40 MB and its C++ runtime cost every command that
 * never convolves (predict on a Dense model, summary, export) milliseconds
 * of start-up. Files that call oneDNN include this header instead of
 * dnnl.h; their calls go through the pointers nn_dnnl_load fills. */
#ifndef NN_ENGINE_CPU_DNNL_API_H
#define NN_ENGINE_CPU_DNNL_API_H

#ifdef NN_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

#define NN_DNNL_FUNCS(X)                                                                        \
    X(dnnl_version) X(dnnl_get_effective_cpu_isa) X(dnnl_engine_create) X(dnnl_engine_destroy) \
    X(dnnl_stream_create) X(dnnl_stream_destroy) X(dnnl_stream_wait)                          \
    X(dnnl_memory_desc_init_by_tag) X(dnnl_memory_desc_init_by_strides)                       \
    X(dnnl_memory_desc_equal) X(dnnl_memory_desc_get_size) X(dnnl_memory_create) X(dnnl_memory_destroy)                    \
    X(dnnl_memory_set_data_handle) X(dnnl_primitive_desc_create)                              \
    X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query)                               \
    X(dnnl_primitive_desc_query_md) X(dnnl_primitive_create) X(dnnl_primitive_destroy)        \
    X(dnnl_primitive_execute) X(dnnl_reorder_primitive_desc_create)                           \
    X(dnnl_dilated_convolution_forward_desc_init)                                             \
    X(dnnl_dilated_convolution_backward_data_desc_init)                                       \
    X(dnnl_dilated_convolution_backward_weights_desc_init) X(dnnl_matmul_desc_init)           \
    X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy)                              \
    X(dnnl_primitive_attr_set_output_scales) X(dnnl_primitive_attr_set_post_ops)              \
    X(dnnl_post_ops_create) X(dnnl_post_ops_destroy) X(dnnl_post_ops_append_sum)              \
    X(dnnl_post_ops_append_eltwise)

#define NN_DNNL_POINTER(f) __typeof__(f) *f;
typedef struct nn_dnnl_api {
    NN_DNNL_FUNCS(NN_DNNL_POINTER)
} nn_dnnl_api;
#undef NN_DNNL_POINTER
extern nn_dnnl_api nn_dnnl;

/* Loads libdnnl.so.2 once (thread-safe); false when it is not installed
 * or lacks a function (then every convolution takes the im2col path). */
bool nn_dnnl_load(void);

#ifndef NN_DNNL_LOADER /* dnnl_api.c names the real functions */
#define dnnl_version (nn_dnnl.dnnl_version)
#define dnnl_get_effective_cpu_isa (nn_dnnl.dnnl_get_effective_cpu_isa)
#define dnnl_engine_create (nn_dnnl.dnnl_engine_create)
#define dnnl_engine_destroy (nn_dnnl.dnnl_engine_destroy)
#define dnnl_stream_create (nn_dnnl.dnnl_stream_create)
#define dnnl_stream_destroy (nn_dnnl.dnnl_stream_destroy)
#define dnnl_stream_wait (nn_dnnl.dnnl_stream_wait)
#define dnnl_memory_desc_init_by_tag (nn_dnnl.dnnl_memory_desc_init_by_tag)
#define dnnl_memory_desc_init_by_strides (nn_dnnl.dnnl_memory_desc_init_by_strides)
#define dnnl_memory_desc_equal (nn_dnnl.dnnl_memory_desc_equal)
#define dnnl_memory_desc_get_size (nn_dnnl.dnnl_memory_desc_get_size)
#define dnnl_memory_create (nn_dnnl.dnnl_memory_create)
#define dnnl_memory_destroy (nn_dnnl.dnnl_memory_destroy)
#define dnnl_memory_set_data_handle (nn_dnnl.dnnl_memory_set_data_handle)
#define dnnl_primitive_desc_create (nn_dnnl.dnnl_primitive_desc_create)
#define dnnl_primitive_desc_destroy (nn_dnnl.dnnl_primitive_desc_destroy)
#define dnnl_primitive_desc_query (nn_dnnl.dnnl_primitive_desc_query)
#define dnnl_primitive_desc_query_md (nn_dnnl.dnnl_primitive_desc_query_md)
#define dnnl_primitive_create (nn_dnnl.dnnl_primitive_create)
#define dnnl_primitive_destroy (nn_dnnl.dnnl_primitive_destroy)
#define dnnl_primitive_execute (nn_dnnl.dnnl_primitive_execute)
#define dnnl_reorder_primitive_desc_create (nn_dnnl.dnnl_reorder_primitive_desc_create)
#define dnnl_dilated_convolution_forward_desc_init \
    (nn_dnnl.dnnl_dilated_convolution_forward_desc_init)
#define dnnl_dilated_convolution_backward_data_desc_init \
    (nn_dnnl.dnnl_dilated_convolution_backward_data_desc_init)
#define dnnl_dilated_convolution_backward_weights_desc_init \
    (nn_dnnl.dnnl_dilated_convolution_backward_weights_desc_init)
#define dnnl_matmul_desc_init (nn_dnnl.dnnl_matmul_desc_init)
#define dnnl_primitive_attr_create (nn_dnnl.dnnl_primitive_attr_create)
#define dnnl_primitive_attr_destroy (nn_dnnl.dnnl_primitive_attr_destroy)
#define dnnl_primitive_attr_set_output_scales (nn_dnnl.dnnl_primitive_attr_set_output_scales)
#define dnnl_primitive_attr_set_post_ops (nn_dnnl.dnnl_primitive_attr_set_post_ops)
#define dnnl_post_ops_create (nn_dnnl.dnnl_post_ops_create)
#define dnnl_post_ops_destroy (nn_dnnl.dnnl_post_ops_destroy)
#define dnnl_post_ops_append_sum (nn_dnnl.dnnl_post_ops_append_sum)
#define dnnl_post_ops_append_eltwise (nn_dnnl.dnnl_post_ops_append_eltwise)
#endif

#endif /* NN_HAVE_DNNL */
#endif
