/*
 * kinked_plugin.c - a ReLU model for the HVP check of `maml-host check`.
 *
 * One model, "org.test.kinked": every example is T positions of D inputs; a
 * hidden layer of H ReLU units with shared weights runs at every position, its
 * outputs are averaged over the positions, and a linear head maps the average
 * to O outputs (MSE). With n * T * H ReLU units, a finite difference of the
 * gradient along a random direction straddles many kinks at every step (like a
 * conv net's ReLU and max-pool), while a direction that moves only the head
 * (role "head" in the layout) crosses none. Exact gradient and HVP (R-operator).
 *
 * Variants (one -D flag each; FX_TAG suffixes the ids):
 *   FX_HVP_HIDDEN_SCALE  HVP 1.5 times too large in the hidden rows only
 *   FX_HVP_SCALE         HVP 1.5 times too large everywhere
 *   FX_HVP_ASYM          the forward R pass weighs the hidden layer's term 1.5 times: H v is
 *                        right for head directions v, wrong (and asymmetric) for the others
 */
#include "maml_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FX_TAG
#define FX_TAG ""
#endif

enum { T = 512, D = 2, H = 16, O = 2 };
/* Offsets of the tensors in the parameter vector. */
enum { W1 = 0, B1 = W1 + H * D, W2 = B1 + H, B2 = W2 + O * H, P = B2 + O };

#ifdef FX_HVP_ASYM
#define HIDDEN_R_WEIGHT 1.5
#else
#define HIDDEN_R_WEIGHT 1.0
#endif

struct maml_model {
    double a[T * H];          /* pre-activations of one example */
    double f[H];              /* their ReLU, averaged over the positions */
    double y[O];              /* outputs of one example */
    double acc[P];            /* gradient / HVP accumulator */
    char error[256];
    maml_tensor_info tensors[4];
};

static maml_status fail(maml_model *m, maml_status s, const char *msg) {
    snprintf(m->error, sizeof m->error, "%s", msg);
    return s;
}

/* ---------------------------------------------------------------- creation */

/* Accepts NULL, "", "{}" (with blanks): the model takes no keys. */
static int empty_config(const char *json) {
    const char *s = json ? json : "";
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    if (*s == '\0') return 1;
    if (*s++ != '{') return 0;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    if (*s++ != '}') return 0;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    return *s == '\0';
}

static void tensor(maml_tensor_info *t, const char *name, uint64_t offset, uint32_t d0, uint32_t d1, const char *role) {
    memset(t, 0, sizeof *t);
    t->struct_size = sizeof *t;
    t->name = name;
    t->offset = offset;
    t->shape.rank = d1 ? 2 : 1;
    t->shape.dims[0] = d0;
    t->shape.dims[1] = d1;
    t->role = role;
}

static maml_status create(const char *json, maml_model **out, char *err, size_t len) {
    maml_model *m;
    if (!out) {
        if (err && len) snprintf(err, len, "out is NULL");
        return MAML_ERR_INVALID_ARGUMENT;
    }
    if (!empty_config(json)) {
        if (err && len) snprintf(err, len, "config must be {}: kinked takes no keys");
        return MAML_ERR_INVALID_ARGUMENT;
    }
    m = (maml_model *)calloc(1, sizeof *m);
    if (!m) return MAML_ERR_OUT_OF_MEMORY;
    tensor(&m->tensors[0], "hidden.weight", W1, H, D, "body");
    tensor(&m->tensors[1], "hidden.bias", B1, H, 0, "body");
    tensor(&m->tensors[2], "head.weight", W2, O, H, "head");
    tensor(&m->tensors[3], "head.bias", B2, O, 0, "head");
    *out = m;
    return MAML_OK;
}

static void destroy(maml_model *m) { free(m); }

static uint64_t param_count(const maml_model *m) { (void)m; return P; }

static maml_shape shape(uint32_t rank, uint32_t d0, uint32_t d1) {
    maml_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    s.dims[0] = d0;
    s.dims[1] = d1;
    return s;
}

static maml_shape input_shape(const maml_model *m) { (void)m; return shape(2, T, D); }
static maml_shape output_shape(const maml_model *m) { (void)m; return shape(1, O, 0); }

static int32_t loss_kind(const maml_model *m) { (void)m; return MAML_LOSS_MSE; }

static const char *last_error(const maml_model *m) { return m->error; }

/* ------------------------------------------------------------ numerics */

static maml_status init_params(maml_model *m, uint64_t seed, float *params) {
    uint64_t i, state = seed * 6364136223846793005ull + 1442695040888963407ull;
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "init_params: params is NULL");
    for (i = 0; i < P; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        params[i] = (float)(2.0 * (double)(state >> 40) / (double)(1ull << 24) - 1.0); /* U(-1, 1) */
    }
    m->error[0] = '\0';
    return MAML_OK;
}

static maml_status check_batch(maml_model *m, const float *params, const maml_batch *b, int target) {
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "params is NULL");
    if (!b || !b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "batch or batch->x is NULL");
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "batch has n = 0 examples");
    if (target && !b->y_float) return fail(m, MAML_ERR_INVALID_ARGUMENT, "y_float is NULL (MSE needs targets)");
    return MAML_OK;
}

/* a, f and y of one example x [T][D]. */
static void forward_example(maml_model *m, const float *p, const float *x) {
    int t, k, j, o;
    for (k = 0; k < H; k++) m->f[k] = 0;
    for (t = 0; t < T; t++)
        for (k = 0; k < H; k++) {
            double a = p[B1 + k];
            for (j = 0; j < D; j++) a += (double)p[W1 + k * D + j] * x[t * D + j];
            m->a[t * H + k] = a;
            if (a > 0) m->f[k] += a / T;
        }
    for (o = 0; o < O; o++) {
        double y = p[B2 + o];
        for (k = 0; k < H; k++) y += (double)p[W2 + o * H + k] * m->f[k];
        m->y[o] = y;
    }
}

/* Adds dz_k / T * [a_tk > 0] * (x_t, 1) into the hidden rows of acc: the backward pass
 * through the ReLU units, shared by the gradient and the HVP. */
static void hidden_rows(maml_model *m, const double *dz, const float *x) {
    int t, k, j;
    for (t = 0; t < T; t++)
        for (k = 0; k < H; k++) {
            if (m->a[t * H + k] <= 0) continue;
            for (j = 0; j < D; j++) m->acc[W1 + k * D + j] += dz[k] / T * x[t * D + j];
            m->acc[B1 + k] += dz[k] / T;
        }
}

static maml_status forward(maml_model *m, const float *params, const maml_batch *b, float *out) {
    uint64_t e;
    int o;
    maml_status s = check_batch(m, params, b, 0);
    if (s != MAML_OK) return s;
    if (!out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "forward: out is NULL");
    for (e = 0; e < b->n; e++) {
        forward_example(m, params, b->x + e * T * D);
        for (o = 0; o < O; o++) out[e * O + o] = (float)m->y[o];
    }
    return MAML_OK;
}

static maml_status loss_grad(maml_model *m, const float *params, const maml_batch *b, float *loss, float *grad) {
    uint64_t e;
    int k, o, i;
    double total = 0, scale, dy[O], df[H];
    maml_status s = check_batch(m, params, b, 1);
    if (s != MAML_OK) return s;
    if (!loss) return fail(m, MAML_ERR_INVALID_ARGUMENT, "loss is NULL");
    scale = 1.0 / ((double)b->n * O);
    memset(m->acc, 0, sizeof m->acc);
    for (e = 0; e < b->n; e++) {
        const float *x = b->x + e * T * D;
        forward_example(m, params, x);
        for (o = 0; o < O; o++) {
            double r = m->y[o] - b->y_float[e * O + o];
            total += r * r;
            dy[o] = 2 * r * scale;
        }
        if (!grad) continue;
        for (k = 0; k < H; k++) {
            df[k] = 0;
            for (o = 0; o < O; o++) {
                m->acc[W2 + o * H + k] += dy[o] * m->f[k];
                df[k] += (double)params[W2 + o * H + k] * dy[o];
            }
        }
        for (o = 0; o < O; o++) m->acc[B2 + o] += dy[o];
        hidden_rows(m, df, x);
    }
    *loss = (float)(total * scale);
    if (grad) for (i = 0; i < P; i++) grad[i] = (float)m->acc[i];
    if (!isfinite(*loss)) return fail(m, MAML_ERR_NUMERICAL, "non-finite loss");
    return MAML_OK;
}

/* out = H v by the R-operator: R a = V1 x + c1, R f = mean_t [a > 0] R a,
 * R y = V2 f + W2 R f + c2, then the backward pass differentiated along v. */
static maml_status hvp(maml_model *m, const float *params, const maml_batch *b, const float *v, float *out) {
    uint64_t e;
    int t, k, j, o, i;
    double scale, dy[O], rdy[O], rf[H], rdf[H];
    maml_status s = check_batch(m, params, b, 1);
    if (s != MAML_OK) return s;
    if (!v || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, v ? "hvp: out is NULL" : "hvp: v is NULL");
    scale = 1.0 / ((double)b->n * O);
    memset(m->acc, 0, sizeof m->acc);
    for (e = 0; e < b->n; e++) {
        const float *x = b->x + e * T * D;
        forward_example(m, params, x);
        for (k = 0; k < H; k++) rf[k] = 0;
        for (t = 0; t < T; t++)
            for (k = 0; k < H; k++) {
                double ra = v[B1 + k];
                if (m->a[t * H + k] <= 0) continue;
                for (j = 0; j < D; j++) ra += (double)v[W1 + k * D + j] * x[t * D + j];
                rf[k] += ra / T;
            }
        for (o = 0; o < O; o++) {
            double ry = v[B2 + o];
            for (k = 0; k < H; k++)
                ry += (double)v[W2 + o * H + k] * m->f[k] + HIDDEN_R_WEIGHT * params[W2 + o * H + k] * rf[k];
            dy[o] = 2 * (m->y[o] - b->y_float[e * O + o]) * scale;
            rdy[o] = 2 * ry * scale;
        }
        for (k = 0; k < H; k++) {
            rdf[k] = 0;
            for (o = 0; o < O; o++) {
                m->acc[W2 + o * H + k] += rdy[o] * m->f[k] + dy[o] * rf[k];
                rdf[k] += (double)v[W2 + o * H + k] * dy[o] + (double)params[W2 + o * H + k] * rdy[o];
            }
        }
        for (o = 0; o < O; o++) m->acc[B2 + o] += rdy[o];
        hidden_rows(m, rdf, x);
    }
    for (i = 0; i < P; i++) out[i] = (float)m->acc[i];
#ifdef FX_HVP_HIDDEN_SCALE
    for (i = W1; i < W2; i++) out[i] *= 1.5f;
#endif
#ifdef FX_HVP_SCALE
    for (i = 0; i < P; i++) out[i] *= 1.5f;
#endif
    return MAML_OK;
}

/* ------------------------------------------------------------ extensions */

static const maml_ext_hvp hvp_ext = {sizeof(maml_ext_hvp), hvp};

static uint32_t tensor_count(const maml_model *m) { (void)m; return 4; }
static const maml_tensor_info *tensor_at(const maml_model *m, uint32_t index) {
    return index < 4 ? &m->tensors[index] : NULL;
}
static const maml_ext_layout layout_ext = {sizeof(maml_ext_layout), tensor_count, tensor_at};

static const void *get_extension(const maml_model *m, const char *id) {
    (void)m;
    if (!id) return NULL;
    if (strcmp(id, MAML_EXT_HVP) == 0) return &hvp_ext;
    if (strcmp(id, MAML_EXT_LAYOUT) == 0) return &layout_ext;
    return NULL;
}

/* ----------------------------------------------------------- descriptor */

static const maml_model_desc kinked_desc = {
    sizeof(maml_model_desc), "org.test.kinked" FX_TAG, "kinked" FX_TAG, "1.0.0", "mlp",
    "ReLU units at 512 positions, averaged, then a linear head (test fixture)",
    "{\"type\": \"object\", \"properties\": {}}",
    create, destroy, param_count, input_shape, output_shape, loss_kind, init_params, forward,
    loss_grad, last_error, get_extension};

static const maml_model_desc *model_at(uint32_t index) { return index == 0 ? &kinked_desc : NULL; }

static const maml_registry registry = {
    sizeof(maml_registry), {MAML_ABI_MAJOR, MAML_ABI_MINOR}, 0,
    "org.test.kinked-plugin" FX_TAG, "0.1.0", "c", 1, model_at};

MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host);
MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host) {
    (void)minor;
    (void)host;
    return major == MAML_ABI_MAJOR ? &registry : NULL;
}
