/*
 * maml_plugin.h - the maml-zoo plugin ABI, version 1.1.
 *
 * One header, one contract. A plugin is a shared library that exports ONE
 * function, maml_plugin_registry(). maml-host dlopen()s the library, calls that
 * function with its own ABI version and a table of host services, and gets
 * back a registry: a list of model descriptors. Each descriptor creates model
 * instances from a JSON config; an instance is a backbone seen as a flat float
 * parameter vector plus loss / gradient (and optionally Hessian-vector product
 * and vector-Jacobian product) functions. The meta-learner never sees layers,
 * only that vector.
 *
 * Writing a plugin, in five steps (docs/authoring.md has the full tutorial,
 * docs/abi.md is the normative text, docs/examples/ has complete plugins):
 *
 *   1. Define your instance type:  struct maml_model { ...your state... };
 *   2. Write the instance functions of maml_model_desc (create, destroy,
 *      param_count, input_shape, output_shape, loss_kind, init_params,
 *      forward, loss_grad, last_error, get_extension).
 *   3. Fill one static maml_model_desc per model, struct_size = sizeof(it).
 *   4. Fill one static maml_registry listing them.
 *   5. Export the entry:
 *        MAML_EXPORT const maml_registry *
 *        maml_plugin_registry(uint32_t major, uint32_t minor,
 *                             const maml_host_api *host) {
 *            if (major != MAML_ABI_MAJOR) return NULL;
 *            return &my_registry;
 *        }
 *   Build: cc -shared -fPIC -fvisibility=hidden -o libmine.so mine.c
 *   Check: maml-host check ./libmine.so      Use: copy it into models/
 *
 * Rules that hold everywhere:
 *   - Every extensible struct starts with uint32_t struct_size (the writer's
 *     sizeof). Fields are only ever appended; a reader uses only the fields
 *     that struct_size covers.
 *   - The host owns every parameter, gradient, data and output buffer; the
 *     plugin owns its registry, descriptors, instances, extension tables and
 *     strings. Nothing is freed across the boundary except an instance, by
 *     destroy().
 *   - Numbers are float32, arrays are dense and row-major, examples are
 *     contiguous: a batch of n examples of shape [d0, d1, ...] is n*d0*d1*...
 *     floats.
 *   - Nothing unwinds across this boundary: no C++ exceptions, Rust panics or
 *     Swift errors. Failure is a non-OK maml_status plus a message
 *     (last_error, or the err buffer of create).
 *   - Thread rule: an instance is used by one thread at a time; different
 *     instances may be used concurrently from different threads. The entry,
 *     model_at, create, the four constant getters, get_extension and the
 *     maml.layout/1 functions are callable from any thread, concurrently; the
 *     tag of each function (below) says which rule it follows.
 *   - Optional capabilities are extensions fetched by a versioned string id
 *     ("maml.hvp/1"); absent means NULL, never a crash. An id's layout never
 *     changes: a new layout gets a new id ("maml.hvp/2"). The extensions:
 *       maml.hvp/1     exact Hessian-vector products of the loss (ABI 1.0)
 *       maml.layout/1  the parameter vector as named tensors (ABI 1.0)
 *       maml.ops/1     extra operations called by signature (ABI 1.0)
 *       maml.vjp/1     vector-Jacobian products of the outputs: d s / d params
 *                      for a scalar s of forward's outputs (ABI 1.1)
 *
 * Versioning: a new required function or a changed meaning is a MAJOR bump
 * (the host refuses other majors); new optional fields or extensions are a
 * MINOR bump. 1.1 added maml.vjp/1; a plugin built against 1.0 offers no VJP
 * and loads on every 1.x host. C99 and C++ compatible; compiled by the tests with
 * -Wall -Wextra -Werror -pedantic as both.
 *
 * Tags. Every function pointer and function type below carries one tag line:
 * the last line of its comment, or a comment on its declaration line (grep a
 * tag to list its functions; docs/abi.md, section 2). Exactly one thread tag:
 *   [thread-safe]        any thread, concurrently with any other call, calls
 *                        on the same instance included (but not its destroy)
 *   [instance]           the instance rule: any thread, one call at a time per
 *                        instance; different instances concurrently
 * then one ownership tag per kind of pointer that crosses, other than the
 * instance itself (none when only values do):
 *   [borrowed]           pointer arguments belong to the caller and are valid
 *                        for this call only: the callee MUST NOT keep them
 *   [process-lifetime]   the pointers passed or returned (the entry's host and
 *                        registry, a descriptor) are valid for the life of the
 *                        process and may be kept
 *   [instance-lifetime]  the pointer returned is plugin-owned and valid until
 *                        destroy() of the instance
 *   [next-call]          the pointer returned is plugin-owned and valid until
 *                        the next call on the same instance
 *   [new-instance]       on success hands the caller a new instance, which the
 *                        caller ends with destroy()
 *   [ends-instance]      the last call on the instance: frees it and all it
 *                        handed out; no call on it may overlap or follow
 */
#ifndef MAML_PLUGIN_H
#define MAML_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define MAML_ABI_MAJOR 1
#define MAML_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define MAML_ENTRY_SYMBOL "maml_plugin_registry"

#if defined(__GNUC__) || defined(__clang__)
#define MAML_EXPORT __attribute__((visibility("default")))
#else
#define MAML_EXPORT
#endif

typedef struct maml_abi_version {
    uint32_t major;
    uint32_t minor;
} maml_abi_version;

/* ------------------------------------------------------------ status codes */

/* Every fallible function returns a maml_status. Non-OK always comes with a
 * message: last_error(instance), or the err buffer of create(). */
typedef int32_t maml_status;
#define MAML_OK                    0
#define MAML_ERR_INVALID_ARGUMENT  1 /* bad config, NULL buffer, n == 0, ...      */
#define MAML_ERR_SHAPE_MISMATCH    2 /* data does not fit the model's shapes      */
#define MAML_ERR_OUT_OF_MEMORY     3
#define MAML_ERR_NUMERICAL         4 /* a non-finite loss, gradient or product    */
#define MAML_ERR_UNSUPPORTED       5 /* valid request this model cannot serve     */
#define MAML_ERR_INTERNAL          6 /* a bug in the plugin                       */

/* Log levels for maml_host_api.log. */
#define MAML_LOG_DEBUG 0
#define MAML_LOG_INFO  1
#define MAML_LOG_WARN  2
#define MAML_LOG_ERROR 3

/* Loss kinds (maml_model_desc.loss_kind). */
#define MAML_LOSS_MSE        1 /* mean over examples of sum over outputs of (out - y)^2,
                                  divided by the number of outputs per example: i.e. the
                                  mean over all n * outputs squared errors. y_float set.  */
#define MAML_LOSS_SOFTMAX_CE 2 /* mean over examples of -log softmax(logits)[label];
                                  n_classes = elements of output_shape. y_class set.     */

/* ------------------------------------------------------------------ shapes */

#define MAML_MAX_RANK 4

/* The shape of ONE example (no batch dimension). Unused dims are 0. */
typedef struct maml_shape {
    uint32_t rank;                 /* 1..MAML_MAX_RANK */
    uint32_t dims[MAML_MAX_RANK];  /* e.g. {1,28,28} for a grey 28x28 image */
} maml_shape;

/* A batch of n examples. Host-owned; valid only during the call it is passed
 * to. x holds n * elements(input_shape) floats. Exactly one target is set:
 * y_float (MSE: n * elements(output_shape) floats) or y_class (softmax CE:
 * n labels in [0, n_classes)). forward() ignores both targets. */
typedef struct maml_batch {
    uint32_t struct_size;          /* sizeof(maml_batch) as the host built it */
    uint64_t n;                    /* number of examples, >= 1 */
    const float *x;
    const float *y_float;
    const int32_t *y_class;
} maml_batch;

/* ----------------------------------------------------------- host services */

/* Given to the entry function. Host-owned, valid for the life of the process.
 * Plugins link nothing from the host: all they need comes through here. */
typedef struct maml_host_api {
    uint32_t struct_size;
    maml_abi_version abi;          /* the host's ABI version */
    /* Thread-safe; msg is copied before return. level: MAML_LOG_*.
     * [thread-safe] [borrowed] */
    void (*log)(void *ctx, int32_t level, const char *msg);
    void *log_ctx;
} maml_host_api;

/* ----------------------------------------------------------------- models */

/* Opaque to the host; each plugin defines struct maml_model as it likes. */
typedef struct maml_model maml_model;

typedef struct maml_model_desc {
    uint32_t struct_size;          /* sizeof(maml_model_desc) as the plugin built it */

    /* Identity. Plugin-owned static UTF-8 strings, never NULL. */
    const char *id;                /* stable reverse-DNS id: "org.mamlzoo.mlp"        */
    const char *name;              /* short name users type: "mlp"                    */
    const char *version;           /* semantic version of the model: "1.0.0"          */
    const char *family;            /* "mlp" | "cnn" | "rnn" | anything else            */
    const char *summary;           /* one line for `maml-host list`                   */
    /* JSON Schema (subset, docs/abi.md) of the config object: type "object",
     * "properties" with type, default, enum / minimum / maximum, description;
     * optional "examples": [ {config}, ... ]. "{}" if the model takes none. */
    const char *config_schema;

    /* Creates an instance from a JSON object (NULL or "" means {}: every key
     * at its default). Validates the config: an unknown key, wrong type or
     * out-of-range value fails with MAML_ERR_INVALID_ARGUMENT and a message
     * naming the key, written NUL-terminated into err[0..err_len).
     * On success *out owns a new instance; free it with destroy().
     * [thread-safe] [borrowed] [new-instance] */
    maml_status (*create)(const char *config_json, maml_model **out,
                          char *err, size_t err_len);

    /* Frees an instance and everything it owns. Any thread, not concurrently
     * with another call on the same instance. NULL is a no-op.
     * [instance] [ends-instance] */
    void (*destroy)(maml_model *m);

    /* Constant for the life of the instance; cheap; any thread. */
    uint64_t (*param_count)(const maml_model *m);     /* [thread-safe] */
    maml_shape (*input_shape)(const maml_model *m);   /* [thread-safe] */
    maml_shape (*output_shape)(const maml_model *m);  /* [thread-safe] */
    int32_t (*loss_kind)(const maml_model *m);        /* MAML_LOSS_* [thread-safe] */

    /* Writes param_count floats into params: a fresh initialisation that is a
     * pure function of (config, seed).
     * [instance] [borrowed] */
    maml_status (*init_params)(maml_model *m, uint64_t seed, float *params);

    /* Predictions (MSE) or logits (CE) for batch->n examples into out
     * (n * elements(output_shape) floats).
     * [instance] [borrowed] */
    maml_status (*forward)(maml_model *m, const float *params,
                           const maml_batch *batch, float *out);

    /* Mean loss over the batch into *loss; if grad is not NULL, its gradient
     * with respect to params into grad (param_count floats, overwritten). A
     * non-finite loss or gradient is MAML_ERR_NUMERICAL.
     * [instance] [borrowed] */
    maml_status (*loss_grad)(maml_model *m, const float *params,
                             const maml_batch *batch, float *loss, float *grad);

    /* The message of the last non-OK status on this instance. Instance-owned,
     * valid until the next call on the instance. Never NULL ("" if none).
     * [instance] [next-call] */
    const char *(*last_error)(const maml_model *m);

    /* An extension table by id (MAML_EXT_*), or NULL if this instance does not
     * offer it. The pointer is plugin-owned and valid while the instance
     * lives; its first field is its struct_size. Any thread.
     * [thread-safe] [borrowed] [instance-lifetime] */
    const void *(*get_extension)(const maml_model *m, const char *id);
} maml_model_desc;

/* --------------------------------------------------------------- registry */

/* Returned by the entry function. Plugin-owned, valid for the life of the
 * process, identical on every call. */
typedef struct maml_registry {
    uint32_t struct_size;          /* sizeof(maml_registry) as the plugin built it */
    maml_abi_version abi;          /* {MAML_ABI_MAJOR, MAML_ABI_MINOR} it was built with */
    /* The oldest host minor version this plugin works with (normally 0). A
     * host with the same major but an older minor refuses the plugin. */
    uint32_t requires_minor;
    const char *plugin_id;         /* reverse-DNS: "org.mamlzoo.mlp-plugin"          */
    const char *plugin_version;    /* semantic version of the plugin                */
    /* The toolchain that built it: "c", "c++", "rust-1.95", "swift-6.3.1".
     * Swift is not ABI-stable on Linux: the host refuses a Swift plugin
     * built by another Swift version than its own, and says so. */
    const char *built_with;
    uint32_t model_count;
    /* Descriptor by index in [0, model_count); NULL otherwise. The order
     * means nothing: models are known by id. Any thread.
     * [thread-safe] [process-lifetime] */
    const maml_model_desc *(*model_at)(uint32_t index);
} maml_registry;

/* The entry function every plugin exports (MAML_EXPORT, C linkage).
 * Returns the registry, or NULL if it cannot serve a host of this version (it
 * may say why through host->log). Idempotent and thread-safe. host is valid
 * for the life of the process and may be kept.
 * [thread-safe] [process-lifetime] */
typedef const maml_registry *(*maml_entry_fn)(uint32_t host_abi_major,
                                              uint32_t host_abi_minor,
                                              const maml_host_api *host);

/* ------------------------------------------------------------- extensions */

/* "maml.hvp/1": exact Hessian-vector products. Without it the host falls back
 * to a central finite difference of two gradients, and says so. */
#define MAML_EXT_HVP "maml.hvp/1"
typedef struct maml_ext_hvp {
    uint32_t struct_size;
    /* out = (d^2 loss / d params^2) v for the mean loss over the batch, where
     * the loss is the one loss_grad computes. v and out have param_count
     * floats and must not alias. Same thread rule as loss_grad.
     * [instance] [borrowed] */
    maml_status (*hvp)(maml_model *m, const float *params,
                       const maml_batch *batch, const float *v, float *out);
} maml_ext_hvp;

/* "maml.layout/1": the parameter vector as named tensors, which `maml-host
 * info` prints and `maml-host check` draws test directions from (the HVP
 * check of ReLU/max-pool models moves only "head" tensors: mark "head" only
 * tensors after the last nonlinearity). "head" marks the output layer, the
 * part a head-only algorithm would adapt; other roles are labels. Tensors are
 * disjoint; together they cover [0, param_count). */
#define MAML_EXT_LAYOUT "maml.layout/1"
typedef struct maml_tensor_info {
    uint32_t struct_size;
    const char *name;              /* "layer0.weight"; instance-owned */
    uint64_t offset;               /* first float in the parameter vector */
    maml_shape shape;              /* elements(shape) floats from offset */
    const char *role;              /* "body" | "head" | any other label */
} maml_tensor_info;
typedef struct maml_ext_layout {
    uint32_t struct_size;
    /* Any thread (the layout functions only read). */
    uint32_t (*tensor_count)(const maml_model *m);    /* [thread-safe] */
    /* Tensor by index in [0, tensor_count); NULL otherwise. Instance-owned,
     * valid until destroy().
     * [thread-safe] [instance-lifetime] */
    const maml_tensor_info *(*tensor_at)(const maml_model *m, uint32_t index);
} maml_ext_layout;

/* "maml.ops/1": extra operations the host calls by signature through libffi
 * (`maml-host ops MODEL`, `maml-host call MODEL OP ARGS...`).
 * signature: "RET(ARG,ARG,...)" over the alphabet void, i32, i64, u64, f32,
 * f64, ptr, str (const char *); e.g. "u64(u64)". The function's real first
 * parameter is always the instance (maml_model *), not written in the
 * signature: flops(m, batch) is "u64(u64)". ptr is void *, str is const char *
 * (an argument is host-owned for the call only; a returned str is plugin-owned
 * and valid until the next call on the instance). Names are unique, without
 * spaces; grammar and the host's checks: docs/abi.md, section 8. */
#define MAML_EXT_OPS "maml.ops/1"
typedef struct maml_op {
    uint32_t struct_size;
    const char *name;              /* "flops" */
    const char *help;              /* one line */
    const char *signature;         /* "u64(u64)" */
    /* The op: cast to its real type (above) before calling.
     * [instance] [borrowed] [next-call] */
    void (*fn)(void);
} maml_op;
typedef struct maml_ext_ops {
    uint32_t struct_size;
    /* The ops table follows the instance rule, like the ops themselves. */
    uint32_t (*op_count)(const maml_model *m);        /* [instance] */
    /* Op by index in [0, op_count); NULL otherwise. Ops, their strings and fn
     * are plugin-owned and valid while the instance lives.
     * [instance] [instance-lifetime] */
    const maml_op *(*op_at)(const maml_model *m, uint32_t index);
} maml_ext_ops;

/* "maml.vjp/1" (ABI 1.1): vector-Jacobian products of the model's outputs, for
 * hosts that put their own loss on forward's outputs (e.g. Prototypical
 * Networks on embeddings) and need its gradient with respect to params. */
#define MAML_EXT_VJP "maml.vjp/1"
typedef struct maml_ext_vjp {
    uint32_t struct_size;
    /* grad_out = sum over the batch's examples of J^T output_grad, where J is
     * the Jacobian of the outputs forward() returns for this batch (logits or
     * predictions, before any loss) with respect to params: d s / d params for
     * any scalar s whose d s / d outputs is output_grad. output_grad holds
     * batch->n * elements(output_shape) floats laid out like forward's out;
     * grad_out has param_count floats, all overwritten; the two must not
     * alias. Targets in the batch are ignored (they may be NULL). The exact
     * derivative of the same forward pass (batch statistics included), not a
     * finite difference. A non-finite product is MAML_ERR_NUMERICAL. Same
     * thread rule as loss_grad.
     * [instance] [borrowed] */
    maml_status (*vjp)(maml_model *m, const float *params, const maml_batch *batch,
                       const float *output_grad, float *grad_out);
} maml_ext_vjp;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MAML_PLUGIN_H */
