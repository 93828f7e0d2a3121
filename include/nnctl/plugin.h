/* nnctl plugins: your own regularizers, losses, metrics, callbacks and
 * layers, compiled into a shared library that nnctl loads at run time
 * (--plugin FILE, or plugins = ["FILE", ...] in a spec).
 *
 *   cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) my_reg.c -o my_reg.so
 *
 * A plugin exports one function, nnctl_plugin_init, which nnctl calls once
 * with its host table (the only functions a plugin may call: a plugin never
 * links against nnctl) and a registry to register types into:
 *
 *   nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
 *   {
 *       if (NNCTL_DECLARE_PLUGIN(host, reg, "my_reg", "1.0", "what it adds"))
 *           return NNCTL_ERROR;
 *       static const nnctl_regularizer_desc d = {sizeof d, ...};
 *       return host->add_regularizer(reg, &d);
 *   }
 *
 * Rules of the interface (C99):
 *   - Handles are opaque; everything goes through the host table.
 *   - ABI: major.minor. A plugin declares the ABI it was built for first
 *     (NNCTL_DECLARE_PLUGIN); nnctl refuses another major, or a newer minor
 *     than its own. Minors only add: fields at the end of structs, functions
 *     at the end of the host table.
 *   - Every struct passed across starts with its size (sizeof as the side
 *     that filled it was compiled), so either side reads only what the
 *     other knows; the first fields of nnctl_host and nnctl_plugin_info never
 *     change.
 *   - Errors are values: a function that fails returns NNCTL_ERROR after
 *     host->fail(err, ...) (or a getter) filled the message. A plugin never
 *     calls exit() and never prints to say it failed.
 *   - Strings and arrays nnctl hands over live for the call (settings
 *     strings: as long as the settings). Descriptors a plugin registers must
 *     live as long as the program (make them static).
 *   - nnctl calls a plugin from one thread at a time.
 */
#ifndef NNCTL_PLUGIN_H
#define NNCTL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNCTL_PLUGIN_ABI_MAJOR 1
#define NNCTL_PLUGIN_ABI_MINOR 0
/* Most axes of a per-sample shape (the batch axis not counted). */
#define NNCTL_MAX_DIMS 7

typedef enum { NNCTL_OK = 0, NNCTL_ERROR = 1 } nnctl_status;

typedef struct nnctl_registry nnctl_registry; /* what init registers types into */
typedef struct nnctl_settings nnctl_settings; /* a type's settings: its spec group */
typedef struct nnctl_error nnctl_error;       /* where a failing call puts its message */
typedef struct nnctl_shapes nnctl_shapes;     /* a layer's shape inference */
typedef struct nnctl_train nnctl_train;       /* the fit loop, as a callback sees it */
typedef struct nnctl_logs nnctl_logs;         /* logged values: loss, metrics, val_... */

/* One setting of a type, for `nnctl plugins` and error messages; arrays
 * of them end with {NULL}. */
typedef struct nnctl_key_doc {
    const char *name; /* the spec key */
    const char *type; /* "float", "int", "bool", "string", ... */
    const char *def;  /* its default, or "required" */
    const char *doc;  /* what it does */
} nnctl_key_doc;

typedef struct nnctl_plugin_info {
    uint32_t size; /* sizeof(nnctl_plugin_info) */
    uint16_t abi_major, abi_minor;
    const char *name;        /* the plugin's name: letters, digits, '_' */
    const char *version;     /* the plugin's own version, e.g. "1.2" */
    const char *description; /* one line */
} nnctl_plugin_info;

/* ---- what a plugin registers ------------------------------------------- */

/* Every type's settings are its spec group: create reads them (with the
 * host's getters) into an instance the plugin owns; destroy frees it. The
 * group's other keys are refused after create (with "did you mean"). */

/* A regularizer: { type = "orthogonal"; factor = 0.01; } as a layer's
 * kernel_regularizer (or any *_regularizer key). */
typedef struct nnctl_regularizer_desc {
    uint32_t size;
    const char *name;        /* spec type */
    const char *keras_class; /* class_name in model files (NULL: name) */
    const char *doc;
    const nnctl_key_doc *keys;
    nnctl_status (*create)(nnctl_settings *s, void **inst, nnctl_error *err);
    void (*destroy)(void *inst);
    /* The penalty of parameter w, of shape dims[0..ndim) (Keras layout:
     * a Dense kernel is (inputs, units)), into *penalty; when grad is not
     * NULL, adds scale * d(penalty)/dw to grad (same shape as w). */
    nnctl_status (*apply)(void *inst, const float *w, int ndim, const int *dims, double *penalty,
                          float *grad, float scale, nnctl_error *err);
} nnctl_regularizer_desc;

/* A loss: train.loss = "my_loss", or { type = "my_loss"; ... }. y_pred
 * and y_true are rows x cols (the targets as the data gives them: one-hot
 * rows when data.one_hot, else the values). */
typedef struct nnctl_loss_desc {
    uint32_t size;
    const char *name;
    const char *keras_class;
    const char *doc;
    const nnctl_key_doc *keys;
    nnctl_status (*create)(nnctl_settings *s, void **inst, nnctl_error *err);
    void (*destroy)(void *inst);
    /* The batch's mean loss into *loss; when grad is not NULL, its
     * gradient with respect to y_pred (rows x cols, overwritten). */
    nnctl_status (*compute)(void *inst, const float *y_pred, const float *y_true, int rows,
                            int cols, double *loss, float *grad, nnctl_error *err);
} nnctl_loss_desc;

/* A metric, stateful across batches like Keras's: nnctl keeps
 * state_count doubles per metric (zeroed at each epoch's start and each
 * evaluation's, stored in checkpoints so a resumed epoch goes on), update
 * adds a batch to them, result gives the value. */
typedef struct nnctl_metric_desc {
    uint32_t size;
    const char *name;
    const char *keras_class;
    const char *doc;
    const nnctl_key_doc *keys;
    nnctl_status (*create)(nnctl_settings *s, void **inst, nnctl_error *err);
    void (*destroy)(void *inst);
    int state_count;         /* at most 64 */
    int maximize;            /* 1: bigger is better (monitors in mode "auto") */
    nnctl_status (*update)(void *inst, double *state, const float *y_pred, const float *y_true,
                           int rows, int cols, nnctl_error *err);
    double (*result)(void *inst, const double *state);
} nnctl_metric_desc;

/* A callback: train.callbacks = ( { type = "loss_history"; ... } ).
 * Every hook is optional. logs: batch_end gets the epoch's running means
 * (Keras's batch logs), epoch_end the epoch's values with val_*. */
typedef struct nnctl_callback_desc {
    uint32_t size;
    const char *name;
    const char *doc;
    const nnctl_key_doc *keys;
    nnctl_status (*create)(nnctl_settings *s, void **inst, nnctl_error *err);
    void (*destroy)(void *inst);
    nnctl_status (*train_begin)(void *inst, nnctl_train *t, nnctl_error *err);
    nnctl_status (*epoch_begin)(void *inst, nnctl_train *t, nnctl_error *err);
    nnctl_status (*batch_begin)(void *inst, nnctl_train *t, nnctl_error *err);
    nnctl_status (*batch_end)(void *inst, nnctl_train *t, const nnctl_logs *logs,
                              nnctl_error *err);
    nnctl_status (*epoch_end)(void *inst, nnctl_train *t, const nnctl_logs *logs,
                              nnctl_error *err);
    nnctl_status (*train_end)(void *inst, nnctl_train *t, nnctl_error *err);
} nnctl_callback_desc;

/* A parameter a layer declares during infer (Keras's add_weight). */
typedef struct nnctl_param_decl {
    uint32_t size;
    const char *name;        /* Keras weight name: "kernel", "beta" */
    int ndim;
    int dims[NNCTL_MAX_DIMS];
    /* how it starts: "zeros", "ones", "constant" (init_value),
     * "glorot_uniform", "he_normal", ... (nnctl's initializers, with fans
     * fan_in and fan_out, 0: taken from dims as Keras does); NULL: zeros */
    const char *initializer;
    double init_value;
    int fan_in, fan_out;
    int trainable;           /* 0: kept as it is by training (still saved) */
} nnctl_param_decl;

/* One forward or backward pass over a batch, on float arrays in the
 * engine's memory: the host's (CPU engine, and any engine for a layer
 * without GPU functions, whose tensors nnctl copies), or the GPU's
 * (forward_gpu/backward_gpu: device pointers, stream is the cudaStream_t).
 * Inputs and output are (rows, per-sample shape...), row-major. */
typedef struct nnctl_pass {
    uint32_t size;
    int rows;                     /* samples in this batch */
    int training;                 /* 1 while training (dropout-like layers differ) */
    int n_inputs;
    const float *const *x;        /* inputs */
    const size_t *x_size;         /* values per sample of each input */
    float *y;                     /* output (forward writes it) */
    size_t y_size;                /* values per sample of the output */
    int n_params;
    const float *const *params;   /* in declaration order */
    const size_t *param_size;
    /* backward only: */
    const float *dy;              /* gradient of the output */
    float *const *dx;             /* gradient of each input, overwritten; NULL: not needed */
    float *const *dparams;        /* gradient of each parameter, overwritten; NULL: frozen */
    void *stream;                 /* GPU functions: the CUDA stream */
} nnctl_pass;

/* A layer: { type = "swish_beta"; ... } in model.layers. */
typedef struct nnctl_layer_desc {
    uint32_t size;
    const char *name;        /* spec type */
    const char *keras_class; /* class_name in model files; Keras files naming it load as this */
    const char *doc;
    const nnctl_key_doc *keys;
    nnctl_status (*create)(nnctl_settings *s, void **inst, nnctl_error *err);
    void (*destroy)(void *inst);
    /* From the inputs' shapes (host->input_shape), sets the output's
     * (host->set_output_shape) and declares parameters (host->add_param). */
    nnctl_status (*infer)(void *inst, nnctl_shapes *sh, nnctl_error *err);
    nnctl_status (*forward)(void *inst, const nnctl_pass *p, nnctl_error *err);
    nnctl_status (*backward)(void *inst, const nnctl_pass *p, nnctl_error *err);
    /* Optional: the same on GPU memory. Without them the GPU engine copies
     * the layer's tensors to the host and back around forward/backward. */
    nnctl_status (*forward_gpu)(void *inst, const nnctl_pass *p, nnctl_error *err);
    nnctl_status (*backward_gpu)(void *inst, const nnctl_pass *p, nnctl_error *err);
} nnctl_layer_desc;

/* ---- the host table ------------------------------------------------------ */

typedef struct nnctl_host {
    /* these four never change */
    uint32_t size; /* sizeof(nnctl_host) as nnctl was built */
    uint16_t abi_major, abi_minor;
    nnctl_status (*declare)(nnctl_registry *reg, const nnctl_plugin_info *info);

    const char *nnctl_version;
    /* Fills err's message (printf format) and returns NNCTL_ERROR. */
    nnctl_status (*fail)(nnctl_error *err, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

    /* registering (from nnctl_plugin_init only) */
    nnctl_status (*add_regularizer)(nnctl_registry *reg, const nnctl_regularizer_desc *d);
    nnctl_status (*add_loss)(nnctl_registry *reg, const nnctl_loss_desc *d);
    nnctl_status (*add_metric)(nnctl_registry *reg, const nnctl_metric_desc *d);
    nnctl_status (*add_callback)(nnctl_registry *reg, const nnctl_callback_desc *d);
    nnctl_status (*add_layer)(nnctl_registry *reg, const nnctl_layer_desc *d);
    /* Why nnctl_plugin_init fails (printf format); returns NNCTL_ERROR. */
    nnctl_status (*init_fail)(nnctl_registry *reg, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

    /* settings: typed getters with nnctl's own error messages (file:line,
     * the key, what was expected); absent and not required gives def */
    int (*has)(nnctl_settings *s, const char *key);
    nnctl_status (*get_int)(nnctl_settings *s, const char *key, int required, long long def,
                            long long min, long long max, long long *out, nnctl_error *err);
    nnctl_status (*get_float)(nnctl_settings *s, const char *key, int required, double def,
                              double min, double max, double *out, nnctl_error *err);
    nnctl_status (*get_bool)(nnctl_settings *s, const char *key, int required, int def,
                             int *out, nnctl_error *err);
    nnctl_status (*get_string)(nnctl_settings *s, const char *key, int required,
                               const char *def, const char **out, nnctl_error *err);
    /* An array of numbers (or one number): at most max_n into out. */
    nnctl_status (*get_floats)(nnctl_settings *s, const char *key, int required, int max_n,
                               double *out, int *n_out, nnctl_error *err);
    /* An error about key (NULL: the group) at its file:line. */
    nnctl_status (*settings_fail)(nnctl_settings *s, const char *key, nnctl_error *err,
                                  const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 4, 5)))
#endif
        ;

    /* layers: shape inference */
    int (*input_count)(const nnctl_shapes *sh);
    /* Input i's per-sample shape into dims[NNCTL_MAX_DIMS]; returns its rank. */
    int (*input_shape)(const nnctl_shapes *sh, int i, int *dims);
    nnctl_status (*set_output_shape)(nnctl_shapes *sh, int ndim, const int *dims,
                                     nnctl_error *err);
    nnctl_status (*add_param)(nnctl_shapes *sh, const nnctl_param_decl *p, nnctl_error *err);

    /* callbacks: the run */
    long long (*epoch)(const nnctl_train *t);  /* from 0 */
    long long (*epochs)(const nnctl_train *t); /* planned */
    long long (*batch)(const nnctl_train *t);  /* from 0, within the epoch */
    long long (*batches)(const nnctl_train *t); /* per epoch */
    const char *(*run_dir)(const nnctl_train *t);
    double (*get_lr)(const nnctl_train *t);
    void (*set_lr)(nnctl_train *t, double lr);
    /* Ends training after this epoch (Keras's model.stop_training = True). */
    void (*stop_training)(nnctl_train *t);
    /* the model's parameters, read-only: count, name ("layer/weight"),
     * shape, and a copy of the values */
    int (*param_count)(const nnctl_train *t);
    const char *(*param_name)(const nnctl_train *t, int i);
    int (*param_shape)(const nnctl_train *t, int i, int *dims);
    size_t (*param_size)(const nnctl_train *t, int i);
    nnctl_status (*param_read)(const nnctl_train *t, int i, float *out, nnctl_error *err);
    /* logs */
    int (*log_count)(const nnctl_logs *l);
    const char *(*log_name)(const nnctl_logs *l, int i);
    double (*log_value)(const nnctl_logs *l, int i);
    /* The value of name into *v; 0 when it is not logged. */
    int (*log_get)(const nnctl_logs *l, const char *name, double *v);
} nnctl_host;

/* The entry point every plugin defines. */
nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg);

/* Declares the plugin (first thing in nnctl_plugin_init): its name,
 * version and description, and the ABI this header describes. */
#define NNCTL_DECLARE_PLUGIN(host, reg, name, version, description)                              \
    ((host)->declare((reg), &(const nnctl_plugin_info){sizeof(nnctl_plugin_info),              \
                                                       NNCTL_PLUGIN_ABI_MAJOR,                 \
                                                       NNCTL_PLUGIN_ABI_MINOR, (name),         \
                                                       (version), (description)}))

#ifdef __cplusplus
}
#endif

#endif
