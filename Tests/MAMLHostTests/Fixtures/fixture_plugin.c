/*
 * fixture_plugin.c - the C plugins MAMLHostTests builds at test time.
 *
 * Without flags this is the GOOD plugin: two models with exact gradients,
 * exact Hessian-vector products and vector-Jacobian products (maml.vjp/1),
 *   linreg  y = W x + b, MSE loss               (config: inputs, outputs)
 *   logreg  logits = W x + b, softmax CE loss   (config: inputs, classes)
 * plus the layout extension (W "weight", b "bias", both role "head": a linear
 * model has no body) and maml.ops/1 ops of every signature type ("flops" first).
 *
 * Each broken variant is the same source with one -D flag (see the list after
 * the includes), so the corpus of bad plugins stays one file. FX_TAG is
 * appended to every id and name so variants do not collide with each other.
 */
#include "maml_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef FX_MISBEHAVE_AFTER
#include <unistd.h>
#endif

/* Variant switches:
 *   FX_NO_ENTRY         exports no maml_plugin_registry
 *   FX_ENTRY_NULL       entry logs why and returns NULL
 *   FX_ABI_MAJOR=n      registry claims ABI major n
 *   FX_ABI_MINOR=n      registry claims ABI minor n; 0 is a plugin of ABI 1.0: it offers no
 *                       maml.vjp/1 (that id did not exist yet)
 *   FX_REQUIRES_MINOR=n registry needs host minor >= n
 *   FX_SHORT_REGISTRY   registry struct_size too small
 *   FX_BUILT_WITH="x"   registry built_with
 *   FX_NULL_LOSS_GRAD   linreg descriptor has loss_grad == NULL (logreg stays good)
 *   FX_EMPTY_NAME       linreg name is ""
 *   FX_BAD_SCHEMA       linreg config_schema is not JSON
 *   FX_SELF_DUP         logreg reuses linreg's id
 *   FX_NAN              loss is NaN when no gradient is asked, else gradient, HVP and VJP hold a NaN; status OK
 *   FX_FAIL             loss_grad fails with a message, forward with an empty message,
 *                       init_params with an unknown status
 *   FX_BAD_LAYOUT       the bias tensor overlaps the weight
 *   FX_BAD_SHAPE        output_shape has rank 0
 *   FX_BAD_LOSS         loss_kind is 7
 *   FX_SHORT_HVP        the hvp table's struct_size does not cover hvp
 *   FX_NO_EXT           no extensions at all
 *   FX_NAN_AFTER=n      gradients are NaN (status OK) from the (n+1)-th loss_grad call with a gradient on
 *   FX_NAN_EVERY=n      every n-th loss_grad call with a gradient has a NaN gradient (status OK)
 *   FX_MISBEHAVE_AFTER=n with FX_MISBEHAVE=segv|abort|exit0|hang: the (n+1)-th loss_grad call
 *                       crashes (SIGSEGV), aborts, calls exit(0) or never returns (the
 *                       supervised-training corpus; process-wide counter)
 *   FX_CRASH_AT_LOAD    a constructor dereferences NULL when the library is loaded (SIGSEGV)
 *   FX_HANG_AT_LOAD     a constructor never returns when the library is loaded
 *   FX_STDOUT_NOISE     prints to stdout (printf without a newline, puts, write(1, ...), text
 *                       that looks like JSON) when loaded, in create, in every loss_grad call
 *                       and when unloaded at exit
 *   FX_CONTROL_TEXT     linreg's name, version, family and summary hold newlines, \r, BEL, DEL,
 *                       ESC sequences, a C1 CSI and a bidi override
 *   FX_LOG_FLOOD        the entry logs a 1 MiB message, one at level 99 and one at level -1
 *   FX_OPS_BAD_SIGNATURE, FX_OPS_DUP, FX_OPS_NULL_FN, FX_OPS_EMPTY_NAME, FX_OPS_NULL_HELP,
 *   FX_OPS_SHORT        the ops table gains one bad op: signature "u64(u65)", a second
 *                       "flops", fn NULL, name "", help NULL, struct_size short of fn
 * The broken corpus of `maml-host check` (each should fail the check named):
 *   FX_GRAD_SIGN        gradient negated                         -> gradient
 *   FX_GRAD_SCALE       gradient 5% too large (FX_GRAD_FACTOR)   -> gradient
 *   FX_GRAD_FACTOR=f    the factor of FX_GRAD_SCALE (default 1.05f; 1.02f: the smallest error
 *                       the gradient check promises to catch)
 *   FX_HVP_WRONG        HVP half what it should be               -> hvp
 *   FX_VJP_WRONG        VJP's bias part twice what it should be (weight part exact) -> vjp
 *   FX_NONDET_INIT      init_params depends on a call counter    -> init-seed
 *   FX_WRITE_PAST_GRAD  loss_grad writes grad[P]                 -> buffers
 *   FX_CRASH_LOSS_GRAD  loss_grad dereferences NULL              -> loss-finite (crash)
 *   FX_ABORT_LOSS_GRAD  loss_grad calls abort()                  -> loss-finite (SIGABRT)
 *   FX_SUM_LOSS         loss, gradient and HVP summed over examples, not averaged -> batch-duplication
 *   FX_FORWARD_OFF      forward's first output 0.5 above loss_grad's -> forward-loss
 *   FX_HANG_CREATE      create never returns                     -> create-defaults (timeout)
 *   FX_NO_MESSAGE       non-OK statuses come without a message   -> last-error
 */
#ifndef FX_TAG
#define FX_TAG ""
#endif
#ifndef FX_BUILT_WITH
#define FX_BUILT_WITH "c"
#endif
#ifndef FX_ABI_MAJOR
#define FX_ABI_MAJOR MAML_ABI_MAJOR
#endif
#ifndef FX_REQUIRES_MINOR
#define FX_REQUIRES_MINOR 0
#endif
#ifndef FX_ABI_MINOR
#define FX_ABI_MINOR MAML_ABI_MINOR
#endif

/* ------------------------------------------------- misbehaving at load time */

#ifdef FX_CRASH_AT_LOAD
__attribute__((constructor)) static void crash_at_load(void) {
    volatile int *volatile nowhere = 0;
    *nowhere = 1;
}
#endif
#ifdef FX_HANG_AT_LOAD
#include <unistd.h>
__attribute__((constructor)) static void hang_at_load(void) {
    for (;;) pause();
}
#endif

#ifdef FX_STDOUT_NOISE
#include <unistd.h>
/* Everything a careless plugin sends to stdout: buffered text without a newline (flushed at
 * exit, after whatever the host printed), a line, raw write(1), and text that looks like the
 * JSON the host's children send their parents. */
static void noise(const char *where) {
    static const char raw[] = "fixture noise: write(1)\n";
    printf("fixture noise: printf in %s, no newline ", where);
    puts("{\"verdict\": \"refused\", \"sha256\": \"\", \"problems\": [\"noise\"]}");
    if (write(1, raw, sizeof raw - 1) < 0) { /* nothing to do */ }
}
__attribute__((constructor)) static void noise_at_load(void) { noise("load"); }
__attribute__((destructor)) static void noise_at_unload(void) { printf("fixture noise: at exit"); }
#define FX_NOISE(where) noise(where)
#else
#define FX_NOISE(where) ((void)0)
#endif

/* ------------------------------------------------------------ the instance */

struct maml_model {
    int32_t loss;             /* MAML_LOSS_MSE or MAML_LOSS_SOFTMAX_CE */
    uint32_t d, k;            /* inputs; outputs or classes */
    uint64_t p;               /* k*d + k: W row-major [k][d], then b[k] */
    double *acc;              /* p doubles: gradient / HVP accumulator */
    double *z, *dz;           /* k doubles each: logits and their directional derivative */
    char error[256];
    char text[128];           /* the str result of the "greet" op */
    int64_t counter;          /* the "bump" / "set" / "get" ops */
    maml_tensor_info tensors[2];
};

static maml_status fail(maml_model *m, maml_status s, const char *msg) {
#ifdef FX_NO_MESSAGE
    (void)msg;
    m->error[0] = '\0';
#else
    snprintf(m->error, sizeof m->error, "%s", msg);
#endif
    return s;
}

/* ---------------------------------------------------- a tiny config parser */

/* Accepts {"inputs": int, "<out_key>": int} with any subset of the keys. */
static int parse_config(const char *json, const char *out_key, long out_min,
                        uint32_t *d, uint32_t *k, char *err, size_t len) {
    const char *s = json ? json : "";
#define CFG_WS() while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++
#define CFG_FAIL(...) do { if (err && len) snprintf(err, len, __VA_ARGS__); return 0; } while (0)
    CFG_WS();
    if (*s == '\0') return 1;
    if (*s != '{') CFG_FAIL("config must be a JSON object");
    s++;
    CFG_WS();
    if (*s == '}') return 1;
    for (;;) {
        const char *key;
        size_t key_len;
        char *end;
        long value;
        CFG_WS();
        if (*s != '"') CFG_FAIL("config: expected a key in quotes");
        key = ++s;
        while (*s && *s != '"') s++;
        if (!*s) CFG_FAIL("config: unterminated key");
        key_len = (size_t)(s - key);
        s++;
        CFG_WS();
        if (*s != ':') CFG_FAIL("config: expected ':' after key '%.*s'", (int)key_len, key);
        s++;
        CFG_WS();
        value = strtol(s, &end, 10);
        if (end == s || *end == '.' || *end == 'e' || *end == 'E')
            CFG_FAIL("config key '%.*s' must be an integer", (int)key_len, key);
        s = end;
        if (key_len == 6 && strncmp(key, "inputs", 6) == 0) {
            if (value < 1 || value > 64) CFG_FAIL("config key 'inputs' must be in 1...64, got %ld", value);
            *d = (uint32_t)value;
        } else if (key_len == strlen(out_key) && strncmp(key, out_key, key_len) == 0) {
            if (value < out_min || value > 16)
                CFG_FAIL("config key '%s' must be in %ld...16, got %ld", out_key, out_min, value);
            *k = (uint32_t)value;
        } else {
            CFG_FAIL("unknown config key '%.*s' (this model takes inputs, %s)", (int)key_len, key, out_key);
        }
        CFG_WS();
        if (*s == ',') { s++; continue; }
        if (*s == '}') { s++; break; }
        CFG_FAIL("config: expected ',' or '}'");
    }
    CFG_WS();
    if (*s) CFG_FAIL("config: trailing text after the object");
    return 1;
#undef CFG_WS
#undef CFG_FAIL
}

/* ---------------------------------------------------------------- creation */

static maml_status create_model(int32_t loss, const char *json, maml_model **out, char *err, size_t len) {
    const char *out_key = loss == MAML_LOSS_MSE ? "outputs" : "classes";
    uint32_t d = 3, k = loss == MAML_LOSS_MSE ? 2 : 3;
    maml_model *m;
    FX_NOISE("create");
#ifdef FX_HANG_CREATE
    for (;;) { static volatile int spin; spin++; }
#endif
    if (!out) {
        if (err && len) snprintf(err, len, "out is NULL");
        return MAML_ERR_INVALID_ARGUMENT;
    }
    if (!parse_config(json, out_key, loss == MAML_LOSS_MSE ? 1 : 2, &d, &k, err, len))
        return MAML_ERR_INVALID_ARGUMENT;
    m = (maml_model *)calloc(1, sizeof *m);
    if (!m) return MAML_ERR_OUT_OF_MEMORY;
    m->loss = loss;
    m->d = d;
    m->k = k;
    m->p = (uint64_t)k * d + k;
    m->acc = (double *)calloc(m->p, sizeof(double));
    m->z = (double *)calloc(k, sizeof(double));
    m->dz = (double *)calloc(k, sizeof(double));
    if (!m->acc || !m->z || !m->dz) {
        free(m->acc); free(m->z); free(m->dz); free(m);
        if (err && len) snprintf(err, len, "out of memory");
        return MAML_ERR_OUT_OF_MEMORY;
    }
    m->tensors[0].struct_size = sizeof(maml_tensor_info);
    m->tensors[0].name = "weight";
    m->tensors[0].offset = 0;
    m->tensors[0].shape.rank = 2;
    m->tensors[0].shape.dims[0] = k;
    m->tensors[0].shape.dims[1] = d;
    m->tensors[0].role = "head";
    m->tensors[1].struct_size = sizeof(maml_tensor_info);
    m->tensors[1].name = "bias";
#ifdef FX_BAD_LAYOUT
    m->tensors[1].offset = (uint64_t)k * d - 1;
#else
    m->tensors[1].offset = (uint64_t)k * d;
#endif
    m->tensors[1].shape.rank = 1;
    m->tensors[1].shape.dims[0] = k;
    m->tensors[1].role = "head";
    *out = m;
    return MAML_OK;
}

static maml_status create_linreg(const char *json, maml_model **out, char *err, size_t len) {
    return create_model(MAML_LOSS_MSE, json, out, err, len);
}
static maml_status create_logreg(const char *json, maml_model **out, char *err, size_t len) {
    return create_model(MAML_LOSS_SOFTMAX_CE, json, out, err, len);
}

static void destroy(maml_model *m) {
    if (!m) return;
    free(m->acc); free(m->z); free(m->dz); free(m);
}

/* ------------------------------------------------------------- geometry */

static uint64_t param_count(const maml_model *m) { return m->p; }

static maml_shape input_shape(const maml_model *m) {
    maml_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = m->d;
    return s;
}

static maml_shape output_shape(const maml_model *m) {
    maml_shape s;
    memset(&s, 0, sizeof s);
#ifndef FX_BAD_SHAPE
    s.rank = 1;
    s.dims[0] = m->k;
#endif
    (void)m;
    return s;
}

static int32_t loss_kind(const maml_model *m) {
#ifdef FX_BAD_LOSS
    (void)m;
    return 7;
#else
    return m->loss;
#endif
}

static const char *last_error(const maml_model *m) { return m->error; }

/* ------------------------------------------------------------ numerics */

static maml_status init_params(maml_model *m, uint64_t seed, float *params) {
    uint64_t i, state = seed * 6364136223846793005ull + 1442695040888963407ull;
#ifdef FX_NONDET_INIT
    static uint64_t calls;
    state += calls++;
#endif
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "params is NULL");
#ifdef FX_FAIL
    return fail(m, 99, "init_params: deliberate unknown status");
#endif
    for (i = 0; i < m->p; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        params[i] = (float)((double)(state >> 40) / (double)(1ull << 24) - 0.5);
    }
    m->error[0] = '\0';
    return MAML_OK;
}

/* z = W x + b for example e, in double. */
static void logits(const maml_model *m, const float *params, const float *x, double *z) {
    uint32_t j, i;
    for (j = 0; j < m->k; j++) {
        double s = params[(uint64_t)m->k * m->d + j];
        for (i = 0; i < m->d; i++) s += (double)params[(uint64_t)j * m->d + i] * x[i];
        z[j] = s;
    }
}

static maml_status check_batch(maml_model *m, const float *params, const maml_batch *b) {
    uint64_t e;
    if (!params || !b || !b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "NULL params or batch");
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "batch has no examples");
    if (m->loss == MAML_LOSS_MSE && !b->y_float) return fail(m, MAML_ERR_INVALID_ARGUMENT, "y_float is NULL");
    if (m->loss == MAML_LOSS_SOFTMAX_CE) {
        if (!b->y_class) return fail(m, MAML_ERR_INVALID_ARGUMENT, "y_class is NULL");
        for (e = 0; e < b->n; e++)
            if (b->y_class[e] < 0 || (uint32_t)b->y_class[e] >= m->k)
                return fail(m, MAML_ERR_SHAPE_MISMATCH, "label out of range");
    }
    return MAML_OK;
}

/* Softmax of m->z in place into p (k doubles); returns log-sum-exp. */
static double softmax(const maml_model *m, double *p) {
    uint32_t j;
    double mx = m->z[0], sum = 0;
    for (j = 1; j < m->k; j++) if (m->z[j] > mx) mx = m->z[j];
    for (j = 0; j < m->k; j++) { p[j] = exp(m->z[j] - mx); sum += p[j]; }
    for (j = 0; j < m->k; j++) p[j] /= sum;
    return mx + log(sum);
}

static maml_status forward(maml_model *m, const float *params, const maml_batch *b, float *out) {
    uint64_t e;
    uint32_t j;
    if (!params || !b || !b->x || !out || b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "bad arguments");
#ifdef FX_FAIL
    return fail(m, MAML_ERR_INTERNAL, "");
#endif
    for (e = 0; e < b->n; e++) {
        logits(m, params, b->x + e * m->d, m->z);
        for (j = 0; j < m->k; j++) out[e * m->k + j] = (float)m->z[j];
#ifdef FX_FORWARD_OFF
        out[e * m->k] += 0.5f; /* the first output only: softmax ignores a shift of all logits */
#endif
    }
    return MAML_OK;
}

/* Adds r x^T (and r to the bias) into acc: the shared shape of gradient and HVP. */
static void accumulate(maml_model *m, const double *r, const float *x) {
    uint32_t j, i;
    for (j = 0; j < m->k; j++) {
        for (i = 0; i < m->d; i++) m->acc[(uint64_t)j * m->d + i] += r[j] * x[i];
        m->acc[(uint64_t)m->k * m->d + j] += r[j];
    }
}

static maml_status loss_grad(maml_model *m, const float *params, const maml_batch *b, float *loss, float *grad) {
    uint64_t e, i;
    uint32_t j;
    double total = 0, scale;
    maml_status s;
    FX_NOISE("loss_grad");
    s = check_batch(m, params, b);
    if (s != MAML_OK) return s;
    if (!loss) return fail(m, MAML_ERR_INVALID_ARGUMENT, "loss is NULL");
#ifdef FX_FAIL
    return fail(m, MAML_ERR_SHAPE_MISMATCH, "fixture: x does not fit (deliberate failure)");
#endif
#ifdef FX_CRASH_LOSS_GRAD
    *(volatile float *)(uintptr_t)(b->n >> 62) = 1.0f; /* NULL: n is small */
#endif
#ifdef FX_ABORT_LOSS_GRAD
    abort(); /* what a failed assert() or an uncaught C++ exception does */
#endif
#ifdef FX_MISBEHAVE_AFTER
    {
        static unsigned long calls = 0; /* process-wide, unsynchronised: approximate on threads */
        if (++calls > FX_MISBEHAVE_AFTER) {
            if (!strcmp(FX_MISBEHAVE, "segv")) *(volatile float *)(uintptr_t)(b->n >> 62) = 1.0f;
            if (!strcmp(FX_MISBEHAVE, "abort")) abort();
            if (!strcmp(FX_MISBEHAVE, "exit0")) exit(0);
            if (!strcmp(FX_MISBEHAVE, "hang")) for (;;) pause();
        }
    }
#endif
    scale = m->loss == MAML_LOSS_MSE ? 1.0 / ((double)b->n * m->k) : 1.0 / (double)b->n;
#ifdef FX_SUM_LOSS
    scale *= (double)b->n; /* the bug: a sum over examples, consistently in loss, gradient and HVP */
#endif
    memset(m->acc, 0, m->p * sizeof(double));
    for (e = 0; e < b->n; e++) {
        const float *x = b->x + e * m->d;
        logits(m, params, x, m->z);
        if (m->loss == MAML_LOSS_MSE) {
            for (j = 0; j < m->k; j++) {
                double r = m->z[j] - b->y_float[e * m->k + j];
                total += r * r;
                m->dz[j] = 2 * r * scale;
            }
        } else {
            int32_t y = b->y_class[e];
            total += softmax(m, m->dz) - m->z[y];
            for (j = 0; j < m->k; j++) m->dz[j] = (m->dz[j] - (j == (uint32_t)y)) * scale;
        }
        if (grad) accumulate(m, m->dz, x);
    }
    *loss = (float)(total * scale);
    if (grad) for (i = 0; i < m->p; i++) grad[i] = (float)m->acc[i];
#ifdef FX_GRAD_SIGN
    if (grad) for (i = 0; i < m->p; i++) grad[i] = -grad[i];
#endif
#ifdef FX_GRAD_SCALE
#ifndef FX_GRAD_FACTOR
#define FX_GRAD_FACTOR 1.05f
#endif
    if (grad) for (i = 0; i < m->p; i++) grad[i] *= FX_GRAD_FACTOR;
#endif
#ifdef FX_WRITE_PAST_GRAD
    if (grad) grad[m->p] = 0.0f; /* one float past the end */
#endif
    if (!isfinite(*loss)) return fail(m, MAML_ERR_NUMERICAL, "non-finite loss");
#ifdef FX_NAN
    if (grad) grad[0] = NAN; else *loss = NAN; /* the bug: non-finite with MAML_OK */
#endif
#if defined(FX_NAN_AFTER) || defined(FX_NAN_EVERY)
    if (grad) {
        static unsigned long calls = 0; /* process-wide and unsynchronised: tests using it run --threads 1 */
        calls++;
#ifdef FX_NAN_AFTER
        if (calls > FX_NAN_AFTER) grad[0] = NAN;
#else
        if (calls % FX_NAN_EVERY == 0) grad[0] = NAN;
#endif
    }
#endif
    return MAML_OK;
}

/* out = H v. MSE: H v = 2/(n k) sum_e (V x + v_b) x^T. CE: r = p*(dz) - p (p.dz). */
static maml_status hvp(maml_model *m, const float *params, const maml_batch *b, const float *v, float *out) {
    uint64_t e, i;
    uint32_t j;
    double scale, pd;
    double p[16];
    maml_status s = check_batch(m, params, b);
    if (s != MAML_OK) return s;
    if (!v || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "v or out is NULL");
    scale = m->loss == MAML_LOSS_MSE ? 1.0 / ((double)b->n * m->k) : 1.0 / (double)b->n;
#ifdef FX_SUM_LOSS
    scale *= (double)b->n; /* the bug: a sum over examples, consistently in loss, gradient and HVP */
#endif
    memset(m->acc, 0, m->p * sizeof(double));
    for (e = 0; e < b->n; e++) {
        const float *x = b->x + e * m->d;
        logits(m, v, x, m->dz); /* V x + v_b: the directional derivative of the logits */
        if (m->loss == MAML_LOSS_MSE) {
            for (j = 0; j < m->k; j++) m->dz[j] *= 2 * scale;
        } else {
            logits(m, params, x, m->z);
            softmax(m, p);
            pd = 0;
            for (j = 0; j < m->k; j++) pd += p[j] * m->dz[j];
            for (j = 0; j < m->k; j++) m->dz[j] = (p[j] * m->dz[j] - p[j] * pd) * scale;
        }
        accumulate(m, m->dz, x);
    }
    for (i = 0; i < m->p; i++) out[i] = (float)m->acc[i];
#ifdef FX_HVP_WRONG
    for (i = 0; i < m->p; i++) out[i] *= 0.5f;
#endif
#ifdef FX_NAN
    out[0] = NAN;
#endif
    return MAML_OK;
}

/* grad_out = sum_e u_e x_e^T (and sum_e u_e for the bias): the outputs W x + b are linear in
 * the parameters. Targets are not needed. */
static maml_status vjp(maml_model *m, const float *params, const maml_batch *b, const float *u, float *out) {
    uint64_t e, i;
    uint32_t j;
    if (!params || !b || !b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "vjp: NULL params or batch");
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "vjp: batch has no examples");
    if (!u || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "vjp: output_grad or grad_out is NULL");
    memset(m->acc, 0, m->p * sizeof(double));
    for (e = 0; e < b->n; e++) {
        for (j = 0; j < m->k; j++) m->dz[j] = u[e * m->k + j];
        accumulate(m, m->dz, b->x + e * m->d);
    }
    for (i = 0; i < m->p; i++) out[i] = (float)m->acc[i];
#ifdef FX_VJP_WRONG
    for (j = 0; j < m->k; j++) out[(uint64_t)m->k * m->d + j] *= 2.0f; /* the bias part only */
#endif
#ifdef FX_NAN
    out[0] = NAN;
#endif
    return MAML_OK;
}

/* ------------------------------------------------------------ extensions */

static const maml_ext_vjp vjp_ext = {sizeof(maml_ext_vjp), vjp};

static const maml_ext_hvp hvp_ext = {
#ifdef FX_SHORT_HVP
    sizeof(uint32_t),
#else
    sizeof(maml_ext_hvp),
#endif
    hvp};

static uint32_t tensor_count(const maml_model *m) { (void)m; return 2; }
static const maml_tensor_info *tensor_at(const maml_model *m, uint32_t index) {
    return index < 2 ? &m->tensors[index] : NULL;
}
static const maml_ext_layout layout_ext = {sizeof(maml_ext_layout), tensor_count, tensor_at};

/* maml.ops/1: one op per supported type as argument and result, plus calls that need
 * the stack (more integer or float arguments than registers). Every result is exact,
 * so the tests can compare with ==. Integer arithmetic is done unsigned (no overflow UB). */
static uint64_t flops(maml_model *m, uint64_t batch) { return 2 * batch * m->k * m->d; }
static int32_t op_add_i32(maml_model *m, int32_t a, int32_t b) {
    (void)m; return (int32_t)((uint32_t)a + (uint32_t)b);
}
static int32_t op_neg_i32(maml_model *m, int32_t a) { (void)m; return (int32_t)(0u - (uint32_t)a); }
static int64_t op_sub_i64(maml_model *m, int64_t a, int64_t b) {
    (void)m; return (int64_t)((uint64_t)a - (uint64_t)b);
}
static uint64_t op_mul_u64(maml_model *m, uint64_t a, uint64_t b) { (void)m; return a * b; }
static float op_half_f32(maml_model *m, float x) { (void)m; return x / 2; }
static double op_fma_f64(maml_model *m, double a, double b, double c) { (void)m; return a * b + c; }
/* Mixed integer and float registers: i + j + u + f + d + strlen(s). */
static double op_mixed(maml_model *m, int32_t i, int64_t j, uint64_t u, float f, double d, const char *s) {
    (void)m; return (double)i + (double)j + (double)u + (double)f + d + (double)(s ? strlen(s) : 0);
}
/* Eight i64 after the instance: three go on the stack. Weighted so order matters. */
static int64_t op_weigh8(maml_model *m, int64_t a, int64_t b, int64_t c, int64_t d,
                         int64_t e, int64_t f, int64_t g, int64_t h) {
    (void)m; return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h;
}
/* Ten f64: two go on the stack. */
static double op_weigh10(maml_model *m, double a, double b, double c, double d, double e,
                         double f, double g, double h, double i, double j) {
    (void)m; return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j;
}
/* Strings: the result lives in the instance until the next call on it (the ABI rule). */
static const char *op_greet(maml_model *m, const char *who) {
    snprintf(m->text, sizeof m->text, "hello, %s", who ? who : "(null)");
    return m->text;
}
static const char *op_maybe(maml_model *m, int32_t yes) { (void)m; return yes ? "yes" : NULL; }
static uint64_t op_length(maml_model *m, const char *s) { (void)m; return s ? (uint64_t)strlen(s) : UINT64_MAX; }
/* Pointers: the instance itself, and a NULL test. */
static void *op_self(maml_model *m) { return m; }
static int32_t op_is_null(maml_model *m, void *p) { (void)m; return p == NULL; }
/* void: a counter on the instance. */
static void op_bump(maml_model *m) { m->counter++; }
static void op_set(maml_model *m, int64_t v) { m->counter = v; }
static int64_t op_get(maml_model *m) { return m->counter; }

#define FX_OP(name, help, sig, fn) {sizeof(maml_op), name, help, sig, (void (*)(void))fn}
static const maml_op ops_list[] = {
    FX_OP("flops", "forward-pass FLOPs for a batch", "u64(u64)", flops),
    FX_OP("add_i32", "a + b (wrapping)", "i32(i32,i32)", op_add_i32),
    FX_OP("neg_i32", "-a (wrapping)", "i32( i32 )", op_neg_i32),
    FX_OP("sub_i64", "a - b (wrapping)", "i64(i64, i64)", op_sub_i64),
    FX_OP("mul_u64", "a * b (wrapping)", "u64(u64,u64)", op_mul_u64),
    FX_OP("half_f32", "x / 2", "f32(f32)", op_half_f32),
    FX_OP("fma_f64", "a * b + c", "f64(f64,f64,f64)", op_fma_f64),
    FX_OP("mixed", "i + j + u + f + d + strlen(s)", "f64(i32,i64,u64,f32,f64,str)", op_mixed),
    FX_OP("weigh8", "sum of k * arg k over 8 i64", "i64(i64,i64,i64,i64,i64,i64,i64,i64)", op_weigh8),
    FX_OP("weigh10", "sum of k * arg k over 10 f64", "f64(f64,f64,f64,f64,f64,f64,f64,f64,f64,f64)", op_weigh10),
    FX_OP("greet", "\"hello, \" + who", "str(str)", op_greet),
    FX_OP("maybe", "\"yes\", or NULL for 0", "str(i32)", op_maybe),
    FX_OP("length", "strlen(s)", "u64(str)", op_length),
    FX_OP("self", "the instance pointer", "ptr()", op_self),
    FX_OP("is_null", "1 if p is NULL", "i32(ptr)", op_is_null),
    FX_OP("bump", "counter += 1", "void()", op_bump),
    FX_OP("set", "counter = v", "void(i64)", op_set),
    FX_OP("get", "the counter", " i64 ( ) ", op_get),
    /* The broken tables (one -D each) append one bad op. */
#if defined(FX_OPS_BAD_SIGNATURE)
    FX_OP("bad", "unknown type", "u64(u65)", flops),
#elif defined(FX_OPS_DUP)
    FX_OP("flops", "a second flops", "u64(u64)", flops),
#elif defined(FX_OPS_NULL_FN)
    {sizeof(maml_op), "nofn", "fn is NULL", "void()", NULL},
#elif defined(FX_OPS_EMPTY_NAME)
    FX_OP("", "no name", "void()", op_bump),
#elif defined(FX_OPS_NULL_HELP)
    {sizeof(maml_op), "nohelp", NULL, "void()", (void (*)(void))op_bump},
#elif defined(FX_OPS_SHORT)
    {(uint32_t)offsetof(maml_op, fn), "short", "struct_size too small", "void()", (void (*)(void))op_bump},
#endif
};
#define FX_OP_COUNT ((uint32_t)(sizeof ops_list / sizeof ops_list[0]))
static uint32_t op_count(const maml_model *m) { (void)m; return FX_OP_COUNT; }
static const maml_op *op_at(const maml_model *m, uint32_t index) {
    (void)m;
    return index < FX_OP_COUNT ? &ops_list[index] : NULL;
}
static const maml_ext_ops ops_ext = {sizeof(maml_ext_ops), op_count, op_at};

static const void *get_extension(const maml_model *m, const char *id) {
    (void)m;
    if (!id) return NULL;
#ifndef FX_NO_EXT
    if (strcmp(id, MAML_EXT_HVP) == 0) return &hvp_ext;
    if (strcmp(id, MAML_EXT_LAYOUT) == 0) return &layout_ext;
    if (strcmp(id, MAML_EXT_OPS) == 0) return &ops_ext;
#if FX_ABI_MINOR >= 1
    if (strcmp(id, MAML_EXT_VJP) == 0) return &vjp_ext;
#endif
#else
    (void)hvp_ext; (void)layout_ext; (void)ops_ext;
#endif
    (void)vjp_ext;
    return NULL;
}

/* ----------------------------------------------------------- descriptors */

#define LINREG_SCHEMA \
    "{\"type\": \"object\", \"properties\": {" \
    "\"inputs\": {\"type\": \"integer\", \"default\": 3, \"minimum\": 1, \"maximum\": 64}," \
    "\"outputs\": {\"type\": \"integer\", \"default\": 2, \"minimum\": 1, \"maximum\": 16}}}"
/* "classes" minimum 1 is deliberately looser than create() (which needs 2), so the
 * tests see a config that passes the host's schema check but fails create itself. */
#define LOGREG_SCHEMA \
    "{\"type\": \"object\", \"properties\": {" \
    "\"inputs\": {\"type\": \"integer\", \"default\": 3, \"minimum\": 1, \"maximum\": 64}," \
    "\"classes\": {\"type\": \"integer\", \"default\": 3, \"minimum\": 1, \"maximum\": 16}}}"

static const maml_model_desc linreg_desc = {
    sizeof(maml_model_desc),
    "org.test.linreg" FX_TAG,
#if defined(FX_EMPTY_NAME)
    "",
#elif defined(FX_CONTROL_TEXT)
    /* A forged table row, red text, carriage return, BEL, DEL and a C1 CSI (U+009B). */
    "linreg" FX_TAG "\nFAKE-ROW  org.fake  9.9\x1b[31m\r\a\x7f\xc2\x9b",
#else
    "linreg" FX_TAG,
#endif
#ifdef FX_CONTROL_TEXT
    /* An OSC that retitles the terminal; a colour reset; a newline, tab and RLO (U+202E). */
    "1.0.0\x1b]0;pwned\x07", "linear\x1b[0m", "line one\nline two\r\t\xe2\x80\xae",
#else
    "1.0.0", "linear", "linear regression (test fixture)",
#endif
#ifdef FX_BAD_SCHEMA
    "{\"type\": \"object\", ",
#else
    LINREG_SCHEMA,
#endif
    create_linreg, destroy, param_count, input_shape, output_shape, loss_kind, init_params, forward,
#ifdef FX_NULL_LOSS_GRAD
    NULL,
#else
    loss_grad,
#endif
    last_error, get_extension};

static const maml_model_desc logreg_desc = {
    sizeof(maml_model_desc),
#ifdef FX_SELF_DUP
    "org.test.linreg" FX_TAG,
#else
    "org.test.logreg" FX_TAG,
#endif
    "logreg" FX_TAG, "1.0.0", "linear", "softmax regression (test fixture)", LOGREG_SCHEMA,
    create_logreg, destroy, param_count, input_shape, output_shape, loss_kind, init_params, forward,
    loss_grad, last_error, get_extension};

static const maml_model_desc *model_at(uint32_t index) {
    return index == 0 ? &linreg_desc : index == 1 ? &logreg_desc : NULL;
}

static const maml_registry registry = {
#ifdef FX_SHORT_REGISTRY
    (uint32_t)offsetof(maml_registry, model_at),
#else
    sizeof(maml_registry),
#endif
    {FX_ABI_MAJOR, FX_ABI_MINOR}, FX_REQUIRES_MINOR,
    "org.test.fixture" FX_TAG, "0.1.0", FX_BUILT_WITH, 2, model_at};

/* ----------------------------------------------------------------- entry */

#ifdef FX_NO_ENTRY
MAML_EXPORT const maml_registry *not_the_entry(uint32_t major, uint32_t minor, const maml_host_api *host);
MAML_EXPORT const maml_registry *not_the_entry(uint32_t major, uint32_t minor, const maml_host_api *host)
#else
MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host);
MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t minor, const maml_host_api *host)
#endif
{
    (void)minor;
#ifdef FX_ENTRY_NULL
    (void)major;
    (void)&registry;
    if (host && host->log) host->log(host->log_ctx, MAML_LOG_ERROR, "fixture refuses this host (deliberate)");
    return NULL;
#else
    if (host && host->log) host->log(host->log_ctx, MAML_LOG_DEBUG, "fixture registry served");
#ifdef FX_LOG_FLOOD
    if (host && host->log) {
        size_t n = (size_t)1 << 20;
        char *big = (char *)malloc(n + 1);
        if (big) {
            memset(big, 'x', n);
            memcpy(big, "flood\n\x1b[2J", 10);   /* and a newline and a clear-screen to escape */
            big[n] = '\0';
            host->log(host->log_ctx, MAML_LOG_INFO, big);
            free(big);
        }
        host->log(host->log_ctx, 99, "a message at level 99");
        host->log(host->log_ctx, -1, "a message at level -1");
    }
#endif
    if (major != MAML_ABI_MAJOR) return NULL;
    return &registry;
#endif
}
