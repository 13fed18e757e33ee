/*
 * extension_plugin.c - fixture plugins for extension tables and the numerical
 * checks' messages, built by MAMLHostTests (ExtensionFixtures.swift) like
 * fixture_plugin.c, one -D flag per variant.
 *
 * Without flags, two good models, each with maml.hvp/1, maml.layout/1,
 * maml.ops/1 (one op, "flops") and maml.vjp/1:
 *   affine  y = W x + b, MSE loss, 3 inputs, 5 outputs; layout "layer1.weight"
 *           [5, 3] and "layer1.bias" [5] (role "head"). Its Hessian is constant
 *           and not zero.
 *   linsum  the same outputs (2 of them) but the loss is LINEAR in the
 *           parameters: the mean over examples and outputs of (W x + b)_j, no
 *           square. Its Hessian is zero and maml.hvp/1 returns zeros. It is
 *           declared MSE (the ABI has no linear loss), so `check` fails its
 *           forward-loss check by design; every other check must pass.
 *
 * Variants (each applies to the tables of both models):
 *   FX_HVP_NULL          maml.hvp/1 offered with hvp == NULL
 *   FX_HVP_SHORT         maml.hvp/1 struct_size 4: too small to hold hvp
 *   FX_TENSOR_COUNT_NULL maml.layout/1 with tensor_count == NULL
 *   FX_TENSOR_AT_NULL    maml.layout/1 with tensor_at == NULL
 *   FX_LAYOUT_SHORT      maml.layout/1 struct_size covers tensor_count only
 *   FX_OP_COUNT_NULL     maml.ops/1 with op_count == NULL
 *   FX_OP_AT_NULL        maml.ops/1 with op_at == NULL
 *   FX_OPS_SHORT_TABLE   maml.ops/1 struct_size covers op_count only
 *   FX_OP_FN_NULL        the op "flops" has fn == NULL
 *   FX_VJP_NULL          maml.vjp/1 offered with vjp == NULL
 *   FX_VJP_SHORT         maml.vjp/1 struct_size 4: too small to hold vjp
 *   FX_VJP_ONE           affine's VJP of layer1.bias[3] is half what it should be -> vjp
 *   FX_GRAD_ONE          affine's gradient of layer1.bias[3] is half what it should be
 *                        (every other element exact)          -> gradient
 *   FX_GRAD_TENSOR       affine's gradient of all of layer1.bias is 0.8 of what it should be
 *                        (layer1.weight exact)                -> gradient
 *   FX_LINSUM_HVP_WRONG  linsum's hvp returns v / 2 instead of 0 -> hvp
 *   FX_NO_LAYOUT         no maml.layout/1 (with FX_GRAD_ONE: the error has no tensor to name)
 * FX_TAG is appended to every id and name.
 */
#include "maml_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FX_TAG
#define FX_TAG ""
#endif

#define FX_INPUTS 3u

struct maml_model {
    int linear;               /* 1: linsum, 0: affine */
    uint32_t k;               /* outputs */
    uint64_t p;               /* k * FX_INPUTS + k: W row-major [k][d], then b[k] */
    char error[256];
    maml_tensor_info tensors[2];
};

static maml_status fail(maml_model *m, maml_status s, const char *msg) {
    snprintf(m->error, sizeof m->error, "%s", msg);
    return s;
}

/* The models take no config: NULL, "" and "{}" (white space allowed) only. */
static int empty_config(const char *json) {
    const char *s = json ? json : "";
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s == '\0') return 1;
    if (*s++ != '{') return 0;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s++ != '}') return 0;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return *s == '\0';
}

static maml_status create_model(int linear, const char *json, maml_model **out, char *err, size_t len) {
    maml_model *m;
    if (!out) {
        if (err && len) snprintf(err, len, "out is NULL");
        return MAML_ERR_INVALID_ARGUMENT;
    }
    if (!empty_config(json)) {
        if (err && len) snprintf(err, len, "this model takes no config keys; config must be {}");
        return MAML_ERR_INVALID_ARGUMENT;
    }
    m = (maml_model *)calloc(1, sizeof *m);
    if (!m) return MAML_ERR_OUT_OF_MEMORY;
    m->linear = linear;
    m->k = linear ? 2 : 5;
    m->p = (uint64_t)m->k * FX_INPUTS + m->k;
    m->tensors[0].struct_size = sizeof(maml_tensor_info);
    m->tensors[0].name = linear ? "weight" : "layer1.weight";
    m->tensors[0].offset = 0;
    m->tensors[0].shape.rank = 2;
    m->tensors[0].shape.dims[0] = m->k;
    m->tensors[0].shape.dims[1] = FX_INPUTS;
    m->tensors[0].role = "head";
    m->tensors[1].struct_size = sizeof(maml_tensor_info);
    m->tensors[1].name = linear ? "bias" : "layer1.bias";
    m->tensors[1].offset = (uint64_t)m->k * FX_INPUTS;
    m->tensors[1].shape.rank = 1;
    m->tensors[1].shape.dims[0] = m->k;
    m->tensors[1].role = "head";
    *out = m;
    return MAML_OK;
}

static maml_status create_affine(const char *json, maml_model **out, char *err, size_t len) {
    return create_model(0, json, out, err, len);
}
static maml_status create_linsum(const char *json, maml_model **out, char *err, size_t len) {
    return create_model(1, json, out, err, len);
}

static void destroy(maml_model *m) { free(m); }

static uint64_t param_count(const maml_model *m) { return m->p; }
static maml_shape input_shape(const maml_model *m) {
    maml_shape s;
    (void)m;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = FX_INPUTS;
    return s;
}
static maml_shape output_shape(const maml_model *m) {
    maml_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = m->k;
    return s;
}
static int32_t loss_kind(const maml_model *m) { (void)m; return MAML_LOSS_MSE; }
static const char *last_error(const maml_model *m) { return m->error; }

static maml_status init_params(maml_model *m, uint64_t seed, float *params) {
    uint64_t i, state = seed * 6364136223846793005ull + 1442695040888963407ull;
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "params is NULL");
    for (i = 0; i < m->p; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        params[i] = (float)((double)(state >> 40) / (double)(1ull << 24) - 0.5);
    }
    m->error[0] = '\0';
    return MAML_OK;
}

/* z = W x + b, in double. */
static void outputs(const maml_model *m, const float *params, const float *x, double *z) {
    uint32_t j, i;
    for (j = 0; j < m->k; j++) {
        double s = params[(uint64_t)m->k * FX_INPUTS + j];
        for (i = 0; i < FX_INPUTS; i++) s += (double)params[(uint64_t)j * FX_INPUTS + i] * x[i];
        z[j] = s;
    }
}

static maml_status check_batch(maml_model *m, const float *params, const maml_batch *b) {
    if (!params || !b || !b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "NULL params or batch");
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "batch has no examples");
    if (!b->y_float) return fail(m, MAML_ERR_INVALID_ARGUMENT, "y_float is NULL");
    return MAML_OK;
}

static maml_status forward(maml_model *m, const float *params, const maml_batch *b, float *out) {
    uint64_t e;
    uint32_t j;
    double z[8];
    if (!params || !b || !b->x || !out || b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "bad arguments");
    for (e = 0; e < b->n; e++) {
        outputs(m, params, b->x + e * FX_INPUTS, z);
        for (j = 0; j < m->k; j++) out[e * m->k + j] = (float)z[j];
    }
    return MAML_OK;
}

/* acc += r x^T, and r into the bias part. */
static void accumulate(const maml_model *m, double *acc, const double *r, const float *x) {
    uint32_t j, i;
    for (j = 0; j < m->k; j++) {
        for (i = 0; i < FX_INPUTS; i++) acc[(uint64_t)j * FX_INPUTS + i] += r[j] * x[i];
        acc[(uint64_t)m->k * FX_INPUTS + j] += r[j];
    }
}

static maml_status loss_grad(maml_model *m, const float *params, const maml_batch *b, float *loss, float *grad) {
    uint64_t e, i;
    uint32_t j;
    double z[8], r[8], acc[40], total = 0, scale;
    maml_status s = check_batch(m, params, b);
    if (s != MAML_OK) return s;
    if (!loss) return fail(m, MAML_ERR_INVALID_ARGUMENT, "loss is NULL");
    scale = 1.0 / ((double)b->n * m->k);
    memset(acc, 0, sizeof acc);
    for (e = 0; e < b->n; e++) {
        const float *x = b->x + e * FX_INPUTS;
        outputs(m, params, x, z);
        for (j = 0; j < m->k; j++) {
            if (m->linear) {
                total += z[j];
                r[j] = scale;
            } else {
                double d = z[j] - b->y_float[e * m->k + j];
                total += d * d;
                r[j] = 2 * d * scale;
            }
        }
        accumulate(m, acc, r, x);
    }
    *loss = (float)(total * scale);
    if (grad) for (i = 0; i < m->p; i++) grad[i] = (float)acc[i];
#ifdef FX_GRAD_TENSOR
    if (grad && !m->linear) for (j = 0; j < m->k; j++) grad[(uint64_t)m->k * FX_INPUTS + j] *= 0.8f;
#endif
#ifdef FX_GRAD_ONE
    if (grad && !m->linear) grad[(uint64_t)m->k * FX_INPUTS + 3] *= 0.5f; /* layer1.bias[3] */
#endif
    return MAML_OK;
}

/* MSE: H v = 2/(n k) sum_e (V x + v_b) x^T. Linear loss: H v = 0. */
static maml_status hvp(maml_model *m, const float *params, const maml_batch *b, const float *v, float *out) {
    uint64_t e, i;
    uint32_t j;
    double dz[8], acc[40], scale;
    maml_status s = check_batch(m, params, b);
    if (s != MAML_OK) return s;
    if (!v || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "v or out is NULL");
    memset(acc, 0, sizeof acc);
    if (!m->linear) {
        scale = 1.0 / ((double)b->n * m->k);
        for (e = 0; e < b->n; e++) {
            const float *x = b->x + e * FX_INPUTS;
            outputs(m, v, x, dz);
            for (j = 0; j < m->k; j++) dz[j] *= 2 * scale;
            accumulate(m, acc, dz, x);
        }
    }
    for (i = 0; i < m->p; i++) out[i] = (float)acc[i];
#ifdef FX_LINSUM_HVP_WRONG
    if (m->linear) for (i = 0; i < m->p; i++) out[i] = v[i] / 2;
#endif
    return MAML_OK;
}

/* Both models output W x + b: grad_out = sum_e u_e x_e^T, and sum_e u_e for the bias. */
static maml_status vjp(maml_model *m, const float *params, const maml_batch *b, const float *u, float *out) {
    uint64_t e, i;
    uint32_t j;
    double r[8], acc[40];
    if (!params || !b || !b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "NULL params or batch");
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "batch has no examples");
    if (!u || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "output_grad or grad_out is NULL");
    memset(acc, 0, sizeof acc);
    for (e = 0; e < b->n; e++) {
        for (j = 0; j < m->k; j++) r[j] = u[e * m->k + j];
        accumulate(m, acc, r, b->x + e * FX_INPUTS);
    }
    for (i = 0; i < m->p; i++) out[i] = (float)acc[i];
#ifdef FX_VJP_ONE
    if (!m->linear) out[(uint64_t)m->k * FX_INPUTS + 3] *= 0.5f; /* layer1.bias[3] */
#endif
    return MAML_OK;
}

/* ------------------------------------------------------------ extensions */

static const maml_ext_vjp vjp_ext = {
#ifdef FX_VJP_SHORT
    sizeof(uint32_t),
#else
    sizeof(maml_ext_vjp),
#endif
#ifdef FX_VJP_NULL
    NULL
#else
    vjp
#endif
};

static const maml_ext_hvp hvp_ext = {
#ifdef FX_HVP_SHORT
    sizeof(uint32_t),
#else
    sizeof(maml_ext_hvp),
#endif
#ifdef FX_HVP_NULL
    NULL
#else
    hvp
#endif
};

static uint32_t tensor_count(const maml_model *m) { (void)m; return 2; }
static const maml_tensor_info *tensor_at(const maml_model *m, uint32_t index) {
    return index < 2 ? &m->tensors[index] : NULL;
}
static const maml_ext_layout layout_ext = {
#ifdef FX_LAYOUT_SHORT
    (uint32_t)offsetof(maml_ext_layout, tensor_at),
#else
    sizeof(maml_ext_layout),
#endif
#ifdef FX_TENSOR_COUNT_NULL
    NULL,
#else
    tensor_count,
#endif
#ifdef FX_TENSOR_AT_NULL
    NULL
#else
    tensor_at
#endif
};

static uint64_t flops(maml_model *m, uint64_t batch) { return 2 * batch * m->k * FX_INPUTS; }
static const maml_op ops_list[] = {
#ifdef FX_OP_FN_NULL
    {sizeof(maml_op), "flops", "forward-pass FLOPs for a batch", "u64(u64)", NULL},
#else
    {sizeof(maml_op), "flops", "forward-pass FLOPs for a batch", "u64(u64)", (void (*)(void))flops},
#endif
};
static uint32_t op_count(const maml_model *m) { (void)m; return 1; }
static const maml_op *op_at(const maml_model *m, uint32_t index) {
    (void)m;
    return index < 1 ? &ops_list[index] : NULL;
}
static const maml_ext_ops ops_ext = {
#ifdef FX_OPS_SHORT_TABLE
    (uint32_t)offsetof(maml_ext_ops, op_at),
#else
    sizeof(maml_ext_ops),
#endif
#ifdef FX_OP_COUNT_NULL
    NULL,
#else
    op_count,
#endif
#ifdef FX_OP_AT_NULL
    NULL
#else
    op_at
#endif
};

static const void *get_extension(const maml_model *m, const char *id) {
    (void)m;
    if (!id) return NULL;
    if (strcmp(id, MAML_EXT_HVP) == 0) return &hvp_ext;
#ifndef FX_NO_LAYOUT
    if (strcmp(id, MAML_EXT_LAYOUT) == 0) return &layout_ext;
#else
    (void)layout_ext;
#endif
    if (strcmp(id, MAML_EXT_OPS) == 0) return &ops_ext;
    if (strcmp(id, MAML_EXT_VJP) == 0) return &vjp_ext;
    return NULL;
}

/* ----------------------------------------------------------- descriptors */

#define NO_CONFIG_SCHEMA "{\"type\": \"object\", \"properties\": {}}"

static const maml_model_desc affine_desc = {
    sizeof(maml_model_desc), "org.test.affine" FX_TAG, "affine" FX_TAG, "1.0.0", "linear",
    "y = W x + b, MSE (extension fixture)", NO_CONFIG_SCHEMA,
    create_affine, destroy, param_count, input_shape, output_shape, loss_kind, init_params, forward,
    loss_grad, last_error, get_extension};

static const maml_model_desc linsum_desc = {
    sizeof(maml_model_desc), "org.test.linsum" FX_TAG, "linsum" FX_TAG, "1.0.0", "linear",
    "loss linear in the parameters: zero Hessian (extension fixture)", NO_CONFIG_SCHEMA,
    create_linsum, destroy, param_count, input_shape, output_shape, loss_kind, init_params, forward,
    loss_grad, last_error, get_extension};

static const maml_model_desc *model_at(uint32_t index) {
    /* Referenced here so a variant that leaves one out of its table still compiles. */
    (void)hvp; (void)vjp; (void)tensor_count; (void)tensor_at; (void)op_count; (void)op_at; (void)flops;
    return index == 0 ? &affine_desc : index == 1 ? &linsum_desc : NULL;
}

static const maml_registry registry = {
    sizeof(maml_registry), {MAML_ABI_MAJOR, MAML_ABI_MINOR}, 0,
    "org.test.extensions" FX_TAG, "0.1.0", "c", 2, model_at};

MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host);
MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host) {
    (void)minor;
    (void)host;
    if (major != MAML_ABI_MAJOR) return NULL;
    return &registry;
}
