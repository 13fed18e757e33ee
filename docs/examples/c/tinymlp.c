/*
 * tinymlp.c - a complete maml-zoo plugin in plain C: the result of docs/authoring.md.
 *
 * One model, "tinymlp": a one-hidden-layer tanh network for regression,
 *
 *     a = W1 x + b1,   h = tanh(a),   o = W2 h + b2,   loss = mean squared error,
 *
 * with the exact gradient (backpropagation), the exact Hessian-vector product
 * (Pearlmutter's R-operator: the directional derivative of the backward pass),
 * the vector-Jacobian product (the backward pass from a given output gradient),
 * the parameter layout, and one operation, flops. Config keys: inputs, hidden,
 * outputs (integers). Build: make (cc -shared -fPIC, nothing but the header).
 *
 * Parameters, in this order (row-major): W1 [hidden][inputs], b1 [hidden],
 * W2 [outputs][hidden], b2 [outputs].
 */
#include "maml_plugin.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- the instance */

struct maml_model {
    uint32_t d, h, k;          /* inputs, hidden units, outputs */
    uint64_t p;                /* parameter count */
    double *a, *t;             /* per example: pre-activations and tanh (h each) */
    double *ra, *rt;           /* their directional derivatives (HVP) */
    double *dout, *rdout;      /* dL/do (or the VJP's output gradient) and its directional derivative (k each) */
    double *dh, *rdh;          /* dL/dh and its directional derivative (h each) */
    double *acc;               /* p doubles: gradient or HVP accumulator */
    maml_tensor_info tensors[4];
    char error[256];
};

/* A message for last_error; returns status so failures are one line. */
static maml_status fail(maml_model *m, maml_status status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(m->error, sizeof m->error, format, args);
    va_end(args);
    return status;
}

/* Offsets of the four tensors in the parameter vector. */
static uint64_t off_b1(const maml_model *m) { return (uint64_t)m->h * m->d; }
static uint64_t off_w2(const maml_model *m) { return off_b1(m) + m->h; }
static uint64_t off_b2(const maml_model *m) { return off_w2(m) + (uint64_t)m->k * m->h; }

/* --------------------------------------------------------------- the config */

/* The config is a flat JSON object of integers: a small parser is enough.
 * It refuses anything else with a message naming the problem. */
typedef struct { const char *name; uint32_t *value; uint32_t min, max; } config_key;

static const char *skip_space(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return s;
}

static int parse_config(const char *json, config_key *keys, int n_keys, char *err, size_t err_len) {
    const char *s = skip_space(json ? json : "");
    if (*s == 0) return 0;                                      /* NULL or "": defaults */
    if (*s != '{') { snprintf(err, err_len, "config must be a JSON object, found: %.40s", s); return -1; }
    s = skip_space(s + 1);
    if (*s == '}') return *skip_space(s + 1) == 0 ? 0 : (snprintf(err, err_len, "text after the config object"), -1);
    for (;;) {
        char name[64];
        size_t len = 0;
        if (*s != '"') { snprintf(err, err_len, "config: expected a quoted key at: %.40s", s); return -1; }
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' || len + 1 >= sizeof name) { snprintf(err, err_len, "config: unsupported key near: %.40s", s); return -1; }
            name[len++] = *s;
        }
        if (*s != '"') { snprintf(err, err_len, "config: unterminated key"); return -1; }
        name[len] = 0;
        s = skip_space(s + 1);
        if (*s != ':') { snprintf(err, err_len, "config key \"%s\": expected ':'", name); return -1; }
        s = skip_space(s + 1);
        config_key *key = NULL;
        for (int i = 0; i < n_keys; i++) if (strcmp(keys[i].name, name) == 0) key = &keys[i];
        if (!key) {
            snprintf(err, err_len, "unknown config key \"%s\" (known: inputs, hidden, outputs)", name);
            return -1;
        }
        char *end;
        long long value = strtoll(s, &end, 10);
        if (end == s || *end == '.' || *end == 'e' || *end == 'E') {
            snprintf(err, err_len, "config key \"%s\": expected an integer, found: %.20s", name, s);
            return -1;
        }
        if (value < key->min || value > key->max) {
            snprintf(err, err_len, "config key \"%s\": %lld is out of range [%u, %u]", name, value, key->min, key->max);
            return -1;
        }
        *key->value = (uint32_t)value;
        s = skip_space(end);
        if (*s == ',') { s = skip_space(s + 1); continue; }
        if (*s == '}' && *skip_space(s + 1) == 0) return 0;
        snprintf(err, err_len, "config: expected ',' or '}' at: %.40s", s);
        return -1;
    }
}

/* ------------------------------------------------------- create and destroy */

static void tinymlp_destroy(maml_model *m) {
    if (!m) return;
    free(m->a); free(m->t); free(m->ra); free(m->rt);
    free(m->dout); free(m->rdout); free(m->dh); free(m->rdh); free(m->acc);
    free(m);
}

static maml_status tinymlp_create(const char *config, maml_model **out, char *err, size_t err_len) {
    uint32_t d = 1, h = 40, k = 1;
    config_key keys[] = {{"inputs", &d, 1, 4096}, {"hidden", &h, 1, 4096}, {"outputs", &k, 1, 4096}};
    if (!out) { snprintf(err, err_len, "create: out is NULL"); return MAML_ERR_INVALID_ARGUMENT; }
    *out = NULL;
    if (parse_config(config, keys, 3, err, err_len) != 0) return MAML_ERR_INVALID_ARGUMENT;

    maml_model *m = calloc(1, sizeof *m);
    if (!m) { snprintf(err, err_len, "out of memory"); return MAML_ERR_OUT_OF_MEMORY; }
    m->d = d; m->h = h; m->k = k;
    m->p = (uint64_t)h * d + h + (uint64_t)k * h + k;
    m->a = malloc(h * sizeof(double)); m->t = malloc(h * sizeof(double));
    m->ra = malloc(h * sizeof(double)); m->rt = malloc(h * sizeof(double));
    m->dh = malloc(h * sizeof(double)); m->rdh = malloc(h * sizeof(double));
    m->dout = malloc(k * sizeof(double)); m->rdout = malloc(k * sizeof(double));
    m->acc = malloc(m->p * sizeof(double));
    if (!m->a || !m->t || !m->ra || !m->rt || !m->dh || !m->rdh || !m->dout || !m->rdout || !m->acc) {
        tinymlp_destroy(m);
        snprintf(err, err_len, "out of memory");
        return MAML_ERR_OUT_OF_MEMORY;
    }
    /* The layout: W1 and b1 are the body, W2 and b2 the head (what a head-only learner adapts). */
    const char *names[4] = {"hidden.weight", "hidden.bias", "out.weight", "out.bias"};
    const char *roles[4] = {"body", "body", "head", "head"};
    uint64_t offsets[4] = {0, off_b1(m), off_w2(m), off_b2(m)};
    maml_shape shapes[4] = {{2, {h, d, 0, 0}}, {1, {h, 0, 0, 0}}, {2, {k, h, 0, 0}}, {1, {k, 0, 0, 0}}};
    for (int i = 0; i < 4; i++) {
        m->tensors[i] = (maml_tensor_info){sizeof(maml_tensor_info), names[i], offsets[i], shapes[i], roles[i]};
    }
    *out = m;
    return MAML_OK;
}

/* ----------------------------------------------------------- simple queries */

static uint64_t tinymlp_param_count(const maml_model *m) { return m->p; }
static maml_shape tinymlp_input_shape(const maml_model *m) { return (maml_shape){1, {m->d, 0, 0, 0}}; }
static maml_shape tinymlp_output_shape(const maml_model *m) { return (maml_shape){1, {m->k, 0, 0, 0}}; }
static int32_t tinymlp_loss_kind(const maml_model *m) { (void)m; return MAML_LOSS_MSE; }
static const char *tinymlp_last_error(const maml_model *m) { return m->error; }

/* --------------------------------------------------------- initialisation */

/* splitmix64: a tiny, good, seedable generator; init must be a pure function of the seed. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (-limit, limit). */
static float uniform(uint64_t *state, double limit) {
    double u = (double)(splitmix64(state) >> 11) * 0x1p-53;
    return (float)((2 * u - 1) * limit);
}

static maml_status tinymlp_init_params(maml_model *m, uint64_t seed, float *params) {
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "init_params: params is NULL");
    uint64_t state = seed;
    /* Weights and biases uniform in +-1/sqrt(fan_in). Non-zero hidden biases matter:
     * with b1 = 0 every tanh unit starts as an odd function of x. */
    for (uint64_t i = 0; i < off_w2(m); i++) params[i] = uniform(&state, 1 / sqrt((double)m->d));
    for (uint64_t i = off_w2(m); i < m->p; i++) params[i] = uniform(&state, 1 / sqrt((double)m->h));
    return MAML_OK;
}

/* ------------------------------------------------------------ the network */

/* Validates a batch; `target` says whether the MSE target is needed. */
static maml_status check_batch(maml_model *m, const char *call, const float *params, const maml_batch *b, int target) {
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: params is NULL", call);
    if (!b) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch is NULL", call);
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch has n = 0 examples", call);
    if (!b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch x is NULL", call);
    if (target && !b->y_float) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch y_float is NULL (MSE loss)", call);
    return MAML_OK;
}

/* Hidden layer of one example: m->a and m->t. */
static void hidden(maml_model *m, const float *p, const float *x) {
    const float *w1 = p, *b1 = p + off_b1(m);
    for (uint32_t j = 0; j < m->h; j++) {
        double s = b1[j];
        for (uint32_t i = 0; i < m->d; i++) s += (double)w1[j * m->d + i] * x[i];
        m->a[j] = s;
        m->t[j] = tanh(s);
    }
}

/* Output unit c of one example from m->t. */
static double output(const maml_model *m, const float *p, uint32_t c) {
    const float *w2 = p + off_w2(m), *b2 = p + off_b2(m);
    double s = b2[c];
    for (uint32_t j = 0; j < m->h; j++) s += (double)w2[c * m->h + j] * m->t[j];
    return s;
}

static maml_status tinymlp_forward(maml_model *m, const float *params, const maml_batch *b, float *out) {
    maml_status status = check_batch(m, "forward", params, b, 0);
    if (status != MAML_OK) return status;
    if (!out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "forward: out is NULL");
    for (uint64_t e = 0; e < b->n; e++) {
        hidden(m, params, b->x + e * m->d);
        for (uint32_t c = 0; c < m->k; c++) out[e * m->k + c] = (float)output(m, params, c);
    }
    return MAML_OK;
}

/* Backpropagation of one example: adds d/dparams of m->dout . o into m->acc, from the
 * example's hidden layer (m->t, by hidden()) and input x. loss_grad seeds m->dout with
 * dL/do, vjp with the given output gradient. */
static void backward(maml_model *m, const float *params, const float *x) {
    const float *w2 = params + off_w2(m);
    double *gw1 = m->acc, *gb1 = m->acc + off_b1(m), *gw2 = m->acc + off_w2(m), *gb2 = m->acc + off_b2(m);
    for (uint32_t j = 0; j < m->h; j++) {
        double dh = 0;
        for (uint32_t c = 0; c < m->k; c++) {
            gw2[c * m->h + j] += m->dout[c] * m->t[j];
            dh += w2[c * m->h + j] * m->dout[c];
        }
        double da = dh * (1 - m->t[j] * m->t[j]);            /* tanh' = 1 - tanh^2 */
        gb1[j] += da;
        for (uint32_t i = 0; i < m->d; i++) gw1[j * m->d + i] += da * x[i];
    }
    for (uint32_t c = 0; c < m->k; c++) gb2[c] += m->dout[c];
}

/* Mean squared error over all n * k outputs, and its gradient (backpropagation). */
static maml_status tinymlp_loss_grad(maml_model *m, const float *params, const maml_batch *b, float *loss, float *grad) {
    maml_status status = check_batch(m, "loss_grad", params, b, 1);
    if (status != MAML_OK) return status;
    if (!loss) return fail(m, MAML_ERR_INVALID_ARGUMENT, "loss_grad: loss is NULL");
    double scale = 1.0 / ((double)b->n * m->k), total = 0;
    if (grad) memset(m->acc, 0, m->p * sizeof(double));
    for (uint64_t e = 0; e < b->n; e++) {
        const float *x = b->x + e * m->d, *y = b->y_float + e * m->k;
        hidden(m, params, x);
        for (uint32_t c = 0; c < m->k; c++) {
            double r = output(m, params, c) - y[c];
            total += r * r;
            m->dout[c] = 2 * scale * r;                      /* dL/do */
        }
        if (grad) backward(m, params, x);
    }
    *loss = (float)(total * scale);
    if (!isfinite(*loss)) return fail(m, MAML_ERR_NUMERICAL, "loss_grad: the loss is not finite (%g)", total * scale);
    if (grad) {
        for (uint64_t i = 0; i < m->p; i++) {
            grad[i] = (float)m->acc[i];
            if (!isfinite(grad[i])) return fail(m, MAML_ERR_NUMERICAL, "loss_grad: gradient[%llu] is not finite", (unsigned long long)i);
        }
    }
    return MAML_OK;
}

/* The exact Hessian-vector product: R{.} is the derivative along v of every
 * quantity of loss_grad (Pearlmutter 1994); R{gradient} = H v. */
static maml_status tinymlp_hvp(maml_model *m, const float *params, const maml_batch *b, const float *v, float *out) {
    maml_status status = check_batch(m, "hvp", params, b, 1);
    if (status != MAML_OK) return status;
    if (!v || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "hvp: %s is NULL", v ? "out" : "v");
    const float *w2 = params + off_w2(m);
    const float *v1 = v, *vb1 = v + off_b1(m), *v2 = v + off_w2(m), *vb2 = v + off_b2(m);
    double *hw1 = m->acc, *hb1 = m->acc + off_b1(m), *hw2 = m->acc + off_w2(m), *hb2 = m->acc + off_b2(m);
    double scale = 1.0 / ((double)b->n * m->k);
    memset(m->acc, 0, m->p * sizeof(double));
    for (uint64_t e = 0; e < b->n; e++) {
        const float *x = b->x + e * m->d, *y = b->y_float + e * m->k;
        hidden(m, params, x);
        for (uint32_t j = 0; j < m->h; j++) {                /* R{a} = V1 x + c1, R{t} = tanh' R{a} */
            double ra = vb1[j];
            for (uint32_t i = 0; i < m->d; i++) ra += (double)v1[j * m->d + i] * x[i];
            m->ra[j] = ra;
            m->rt[j] = (1 - m->t[j] * m->t[j]) * ra;
        }
        for (uint32_t c = 0; c < m->k; c++) {                /* R{o} = V2 t + W2 R{t} + c2 */
            double ro = vb2[c];
            for (uint32_t j = 0; j < m->h; j++) ro += (double)v2[c * m->h + j] * m->t[j] + (double)w2[c * m->h + j] * m->rt[j];
            m->dout[c] = 2 * scale * (output(m, params, c) - y[c]);
            m->rdout[c] = 2 * scale * ro;
            hb2[c] += m->rdout[c];
        }
        for (uint32_t j = 0; j < m->h; j++) {
            double dh = 0, rdh = 0;
            for (uint32_t c = 0; c < m->k; c++) {
                hw2[c * m->h + j] += m->rdout[c] * m->t[j] + m->dout[c] * m->rt[j];
                dh += w2[c * m->h + j] * m->dout[c];
                rdh += (double)v2[c * m->h + j] * m->dout[c] + w2[c * m->h + j] * m->rdout[c];
            }
            double slope = 1 - m->t[j] * m->t[j];            /* R{da} = R{dh} tanh' - 2 dh t R{t} */
            double rda = rdh * slope - 2 * dh * m->t[j] * m->rt[j];
            hb1[j] += rda;
            for (uint32_t i = 0; i < m->d; i++) hw1[j * m->d + i] += rda * x[i];
        }
    }
    for (uint64_t i = 0; i < m->p; i++) {
        out[i] = (float)m->acc[i];
        if (!isfinite(out[i])) return fail(m, MAML_ERR_NUMERICAL, "hvp: out[%llu] is not finite", (unsigned long long)i);
    }
    return MAML_OK;
}

/* ------------------------------------------------- vector-Jacobian product */

/* grad_out = sum over the examples of J^T output_grad (J = d outputs / d params): the
 * backward pass of loss_grad, seeded with the given d s / d o instead of dL/do. */
static maml_status tinymlp_vjp(maml_model *m, const float *params, const maml_batch *b, const float *output_grad,
                               float *grad_out) {
    maml_status status = check_batch(m, "vjp", params, b, 0);
    if (status != MAML_OK) return status;
    if (!output_grad || !grad_out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "vjp: %s is NULL", output_grad ? "grad_out" : "output_grad");
    memset(m->acc, 0, m->p * sizeof(double));
    for (uint64_t e = 0; e < b->n; e++) {
        const float *x = b->x + e * m->d;
        hidden(m, params, x);
        for (uint32_t c = 0; c < m->k; c++) m->dout[c] = output_grad[e * m->k + c];
        backward(m, params, x);
    }
    for (uint64_t i = 0; i < m->p; i++) {
        grad_out[i] = (float)m->acc[i];
        if (!isfinite(grad_out[i])) return fail(m, MAML_ERR_NUMERICAL, "vjp: grad_out[%llu] is not finite", (unsigned long long)i);
    }
    return MAML_OK;
}

/* ------------------------------------------------------------- extensions */

static const maml_ext_hvp hvp_table = {sizeof(maml_ext_hvp), tinymlp_hvp};
static const maml_ext_vjp vjp_table = {sizeof(maml_ext_vjp), tinymlp_vjp};

static uint32_t tensor_count(const maml_model *m) { (void)m; return 4; }
static const maml_tensor_info *tensor_at(const maml_model *m, uint32_t i) { return i < 4 ? &m->tensors[i] : NULL; }
static const maml_ext_layout layout_table = {sizeof(maml_ext_layout), tensor_count, tensor_at};

/* flops(batch): 2 per multiply-add of forward and backward (weights and, for W2,
 * the gradient into the hidden layer), 1 per bias; tanh and the loss not counted. */
static uint64_t tinymlp_flops(maml_model *m, uint64_t n) {
    uint64_t mac1 = (uint64_t)m->h * m->d, mac2 = (uint64_t)m->k * m->h;
    return n * (2 * 2 * mac1 + 2 * 3 * mac2 + 2 * (m->h + m->k));
}
static const maml_op ops[] = {
    {sizeof(maml_op), "flops", "floating-point operations of one loss_grad on a batch of the given size",
     "u64(u64)", (void (*)(void))tinymlp_flops},
};
static uint32_t op_count(const maml_model *m) { (void)m; return 1; }
static const maml_op *op_at(const maml_model *m, uint32_t i) { (void)m; return i < 1 ? &ops[i] : NULL; }
static const maml_ext_ops ops_table = {sizeof(maml_ext_ops), op_count, op_at};

static const void *tinymlp_get_extension(const maml_model *m, const char *id) {
    (void)m;
    if (!id) return NULL;
    if (strcmp(id, MAML_EXT_HVP) == 0) return &hvp_table;
    if (strcmp(id, MAML_EXT_LAYOUT) == 0) return &layout_table;
    if (strcmp(id, MAML_EXT_OPS) == 0) return &ops_table;
    if (strcmp(id, MAML_EXT_VJP) == 0) return &vjp_table;
    return NULL;
}

/* --------------------------------------------------- descriptor and registry */

static const maml_model_desc tinymlp_desc = {
    .struct_size = sizeof(maml_model_desc),
    .id = "org.example.tinymlp",
    .name = "tinymlp",
    .version = "1.0.0",
    .family = "mlp",
    .summary = "one-hidden-layer tanh MLP for regression, in plain C (docs/examples/c)",
    .config_schema =
        "{\"type\": \"object\", \"properties\": {"
        "\"inputs\": {\"type\": \"integer\", \"default\": 1, \"minimum\": 1, \"maximum\": 4096,"
        " \"description\": \"input features per example\"},"
        "\"hidden\": {\"type\": \"integer\", \"default\": 40, \"minimum\": 1, \"maximum\": 4096,"
        " \"description\": \"tanh units in the hidden layer\"},"
        "\"outputs\": {\"type\": \"integer\", \"default\": 1, \"minimum\": 1, \"maximum\": 4096,"
        " \"description\": \"regression outputs per example\"}},"
        " \"examples\": [{\"hidden\": 8}, {\"inputs\": 3, \"hidden\": 16, \"outputs\": 2}]}",
    .create = tinymlp_create,
    .destroy = tinymlp_destroy,
    .param_count = tinymlp_param_count,
    .input_shape = tinymlp_input_shape,
    .output_shape = tinymlp_output_shape,
    .loss_kind = tinymlp_loss_kind,
    .init_params = tinymlp_init_params,
    .forward = tinymlp_forward,
    .loss_grad = tinymlp_loss_grad,
    .last_error = tinymlp_last_error,
    .get_extension = tinymlp_get_extension,
};

static const maml_model_desc *model_at(uint32_t index) { return index == 0 ? &tinymlp_desc : NULL; }

static const maml_registry registry = {
    .struct_size = sizeof(maml_registry),
    .abi = {MAML_ABI_MAJOR, MAML_ABI_MINOR},
    .requires_minor = 0,
    .plugin_id = "org.example.tinymlp-plugin",
    .plugin_version = "1.0.0",
    .built_with = "c",
    .model_count = 1,
    .model_at = model_at,
};

MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host) {
    (void)minor; (void)host;
    return major == MAML_ABI_MAJOR ? &registry : NULL;
}
